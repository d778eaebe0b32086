#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Liveness of the ACK gate: the client is never shown more of the PVM's ACK
# than the SVM sent, so an SVM that stops acknowledging (here its server
# reads nothing of an upload: its window closes) stalls the client's upload
# with nothing held at all. The hold timeout must treat that gap like a held
# packet: a checkpoint (reason hold-timeout) gives the SVM the PVM's ACK and
# the upload goes on. Measured (TCG): 11-16 s with the fix; without it the
# gap was never aged and the upload crept on at the client's retransmission
# timeouts (80 s), hence the 45 s limit.
# timeout: 300
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=45
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
N=${ACK_STALL_BYTES:-1000000}
trap 'topo_answer_stop; topo_teardown' EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
colo_dmesg_mark
topo_colo_up $VM --hold-timeout 500 || { echo "FAIL: topology"; exit 1; }
topo_servers same same || { echo "FAIL: servers"; exit 1; }
# the stalling pair: the SVM's server never reads the upload
topo_tcp_pair 5011 same silent || { echo "FAIL: servers"; exit 1; }

# the stalling SVM; checkpoints as colod would answer the notices
topo_answer_notices
h0=$(topo_stat "$TOPO_PN" $VM hold_timeouts)
hn0=$(topo_notices "$TOPO_PN" hold-timeout)
t0=$(date +%s)
topo_cl timeout 45 /usr/bin/python3 "$UTIL" put $TOPO_VM4 5011 "$N" --timeout 40 > "$TOPO_DIR/put.out" 2>&1
r=$?
log "$(cat "$TOPO_DIR/put.out") in $(( $(date +%s) - t0 )) s"
check "the upload past a stalled SVM finished within 45 s" test $r = 0
check "it asked for checkpoints (hold-timeout)" \
	test "$(topo_notices "$TOPO_PN" hold-timeout)" -gt "$hn0"
check "hold timeouts counted" test "$(topo_stat "$TOPO_PN" $VM hold_timeouts)" -gt "${h0:-0}"
log "notices: $(topo_notices "$TOPO_PN"), checkpoints: $(topo_stat "$TOPO_PN" $VM checkpoints)"
# what the PVM sends after the answer (its FIN) waits for the SVM, which is
# silent: the daemon's checkpoints release it too
check "nothing stayed held" \
	busywait 30000 eval "[ \"\$(topo_stat '$TOPO_PN' $VM held)\" = 0 ]"
topo_answer_stop
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
colo_exit
