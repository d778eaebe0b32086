#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Issue 8, client-opened flows: identical guests cost no checkpoint. A TCP
# download and UDP queries (one socket over IPv4, a fresh socket each over
# IPv6) from the client to servers on both guests, each once plain, once with
# the SVM's output delayed and once with the PVM's output delayed; then the
# start of a download (200000 bytes) 20 times, each well under the hold
# timeout. Every scenario: no checkpoint-needed notice, no hold timeout, no
# dropped SVM packet, every byte exact (see zero_notice.bash).
# Guest-opened flows: pmycolo-zero-notice, pmycolo-zero-notice-pvm.
# timeout: 420
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"
source "$COLO_SRC/tests/vm/zero_notice.bash"

VM=42
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
command -v tc >/dev/null || skip "tc missing"
modprobe -q sch_netem || skip "no sch_netem"
colo_load_modules || skip "cannot load the colo modules"
zn_dyndbg
colo_dmesg_mark
topo_colo_up $VM --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }
topo_servers same same || { echo "FAIL: servers"; exit 1; }
zn_settle

for d in plain svm pvm; do
	zn_delay $d
	log "delay: $d"

	zn_begin
	zn_client "client-tcp4-$d" 30 get $TOPO_VM4 5001 100000 --timeout 10
	zn_end "client-tcp4-$d"

	zn_begin
	zn_client "client-tcp6-$d" 30 get $TOPO_VM6 5001 100000 --timeout 10
	zn_end "client-tcp6-$d"

	zn_begin
	zn_client "client-udp4-$d" 30 udp $TOPO_VM4 5002 10 --timeout 5
	zn_end "client-udp4-$d"

	zn_begin
	zn_client "client-udp6-fresh-$d" 30 udp $TOPO_VM6 5002 5 --fresh --timeout 5
	zn_end "client-udp6-fresh-$d"
done
zn_delay plain

# The start of a download, 20 times: each must finish far below the hold
# timeout (30 s): a first data segment that waits for its SVM copy in vain
# shows as a 5 s recv timeout.
zn_begin
zn_client "download-start-x20" 150 get $TOPO_VM4 5001 200000 --repeat 20 --timeout 5
zn_end "download-start-x20"

log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
log "secondary: $(topo_sn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
colo_exit
