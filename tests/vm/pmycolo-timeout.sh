#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# PMYCOLO's bounds and failover with a silent SVM (it never answers):
# the hold timeout asks for a checkpoint (reason hold-timeout) and the answer
# leaves only after CHECKPOINT_DONE; a burst above the queue limit asks for
# one (one notice per epoch: the first reason of the epoch is the one sent)
# while everything stays held; FAILOVER releases all
# held packets and passes traffic straight from then on.
# timeout: 240
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=27
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
topo_colo_up $VM --hold-timeout 700 --queue-limit 4 || { echo "FAIL: topology"; exit 1; }
topo_servers same silent || { echo "FAIL: servers"; exit 1; }

out=$TOPO_DIR/hello
topo_cl /usr/bin/python3 "$UTIL" hello $TOPO_VM4 5001 "$out" --timeout 60 > "$out.res" &
pid=$!
check "hold timeout requests a checkpoint" \
	busywait 20000 eval "[ \$(topo_notices '$TOPO_PN' hold-timeout) -ge 1 ]"
log "$(grep checkpoint-needed "$TOPO_DIR/ctl-$TOPO_PN.log" | tail -n1)"
check "hold timeouts counted" test "$(topo_stat "$TOPO_PN" $VM hold_timeouts)" -ge 1
check "the answer is still held" test ! -s "$out"
check "checkpoint begin" topo_ctl "$TOPO_PN" begin
check "checkpoint done" topo_ctl "$TOPO_PN" done
wait $pid
check "the client got the PVM's answer after the checkpoint" \
	grep -q '^guest says hello' "$out"

# What the connection sends after the answer waits for the silent SVM as
# well: let it time out in this epoch and clear it with one more checkpoint,
# so that the next epoch starts with nothing held.
busywait 10000 eval "[ \$(topo_notices '$TOPO_PN') -ge 2 ]"
check "checkpoint begin" topo_ctl "$TOPO_PN" begin
check "checkpoint done" topo_ctl "$TOPO_PN" done
sleep 1
log "held before the burst: $(topo_stat "$TOPO_PN" $VM held)"
q0=$(topo_stat "$TOPO_PN" $VM queue_full)
n0=$(topo_notices "$TOPO_PN")
topo_cl /usr/bin/python3 "$UTIL" udpburst $TOPO_VM4 5002 10 --timeout 60 > "$TOPO_DIR/burst" &
pid=$!
# One notice per epoch: whichever reason comes first in this epoch is sent.
check "queue limit reached" \
	busywait 20000 eval "[ \$(topo_stat '$TOPO_PN' $VM queue_full) -gt ${q0:-0} ]"
check "a checkpoint is requested in this epoch" \
	busywait 20000 eval "[ \$(topo_notices '$TOPO_PN') -gt $n0 ]"
check "above the limit packets stay held" \
	busywait 20000 eval "[ \$(topo_stat '$TOPO_PN' $VM held) -gt 4 ]"
check "failover" topo_ctl "$TOPO_PN" failover
wait $pid
log "$(cat "$TOPO_DIR/burst")"
check "failover released every held datagram" grep -q '^OK' "$TOPO_DIR/burst"
check "after failover traffic passes straight" \
	topo_cl /usr/bin/python3 "$UTIL" get $TOPO_VM4 5001 1000000 --timeout 60
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
grep -E 'checkpoint-needed' "$TOPO_DIR/ctl-$TOPO_PN.log" | sed 's/^/# /'
check "nothing held after failover" test "$(topo_stat "$TOPO_PN" $VM held)" = 0
check "passthrough counted" test "$(topo_stat "$TOPO_PN" $VM passed)" -ge 10
colo_exit
