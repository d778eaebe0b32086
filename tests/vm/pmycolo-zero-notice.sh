#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Issue 8, guest-opened flows: identical guests cost no checkpoint. The same
# client runs in the PVM and the SVM, starting at the same instant (same
# source port, same ICMP identifier, as identical guests would), talking to
# servers in the client namespace: UDP queries (one socket; a fresh socket
# each), ICMP and ICMPv6 echo, TCP (IPv4: echo; IPv6: a download). Once plain,
# once with the SVM's output delayed (netem on the secondary's end of the
# forward link). Every scenario: no checkpoint-needed notice, no hold timeout,
# no dropped SVM packet, all answers byte exact (tests/vm/zero_notice.bash).
# A long hold timeout: a stall shows as a stall. The PVM delayed:
# pmycolo-zero-notice-pvm; client-opened flows: pmycolo-zero-notice-client.
# timeout: 600
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"
source "$COLO_SRC/tests/vm/zero_notice.bash"

VM=41
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
command -v tc >/dev/null || skip "tc missing"
modprobe -q sch_netem || skip "no sch_netem"
colo_load_modules || skip "cannot load the colo modules"
zn_guest_setup $VM
zn_guest_round plain
zn_guest_round svm
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
log "secondary: $(topo_sn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
colo_exit
