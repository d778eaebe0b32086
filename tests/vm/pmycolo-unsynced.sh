#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `matched` moves only by comparison or a completed checkpoint (issue 7,
# point 4): a connection met mid-stream must not sync at its first segment.
# The guests send 1000-byte chunks every 150 ms; the SVM's chunk 1 differs.
# The mismatch is answered with RESET instead of a checkpoint: the held
# packets are dropped and the connection is met again mid-stream. On main its
# first segment then synced the stream (no notice for it; whatever the PVM
# sent below that point later counted as compared); now it asks for a
# checkpoint (reason unsynced) and is held: the client does not complete
# before one. After it (and the ones the namespace rig's unrestored SVM
# needs) the client has the PVM's bytes exactly.
# timeout: 300
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=33
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
N=30
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
topo_colo_up $VM --hold-timeout 1500 || { echo "FAIL: topology"; exit 1; }
topo_bg "$TOPO_PVM" /usr/bin/python3 "$UTIL" serve-craft $TOPO_VM4 5021 --variant same
topo_bg "$TOPO_SVM" /usr/bin/python3 "$UTIL" serve-craft $TOPO_VM4 5021 --variant other
busywait 60000 eval "topo_pvm ss -ltnH | grep -q ':5021 ' && topo_svm ss -ltnH | grep -q ':5021 '" ||
	{ echo "FAIL: servers"; exit 1; }

res=$TOPO_DIR/slow.res
topo_cl /usr/bin/python3 "$UTIL" slow $TOPO_VM4 5021 $N --timeout 120 > "$res" &
pid=$!
check "chunk 1 differs: a checkpoint is requested" \
	busywait 20000 eval "[ \$(topo_notices '$TOPO_PN' mismatch) -gt 0 ]"
check "reset instead of a checkpoint" topo_ctl "$TOPO_PN" reset
check "met mid-stream: a checkpoint is requested (unsynced)" \
	busywait 20000 eval "[ \$(topo_notices '$TOPO_PN' unsynced) -gt 0 ]"
log "$(grep checkpoint-needed "$TOPO_DIR/ctl-$TOPO_PN.log" | tail -n1)"
check "the client is still waiting (nothing after chunk 0 left uncompared)" kill -0 $pid
released=$(topo_stat "$TOPO_PN" $VM released_checkpoint)
check "nothing released by a checkpoint yet" test "${released:-0}" = 0

# Answer every notice with a checkpoint until the client is done.
seen=0
for i in $(seq 600); do
	kill -0 $pid 2>/dev/null || break
	n=$(topo_notices "$TOPO_PN")
	if [ "$n" -gt "$seen" ]; then
		seen=$n
		topo_ctl "$TOPO_PN" begin && topo_ctl "$TOPO_PN" done
	fi
	sleep 0.2
done
wait $pid
log "client: $(cat "$res")"
check "the client got the PVM's bytes exactly" grep -q '^OK' "$res"
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
colo_exit
