#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Issue 8, guest-opened flows with the PVM's output delayed (netem on its
# eth0): the SVM's copy of every datagram and segment comes first and must be
# kept until the PVM's arrives. The scenarios of pmycolo-zero-notice (UDP,
# ICMP, ICMPv6, TCP over IPv4 and IPv6, both guests starting at the same
# instant); every one: no checkpoint-needed notice, no hold timeout, no
# dropped SVM packet, all answers byte exact (tests/vm/zero_notice.bash).
# timeout: 420
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"
source "$COLO_SRC/tests/vm/zero_notice.bash"

VM=43
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
command -v tc >/dev/null || skip "tc missing"
modprobe -q sch_netem || skip "no sch_netem"
colo_load_modules || skip "cannot load the colo modules"
zn_guest_setup $VM
zn_guest_round pvm
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
log "secondary: $(topo_sn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
colo_exit
