#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# PMYCOLO with a diverging SVM: the SVM's server answers differently. Exactly
# one checkpoint notice (reason mismatch) is sent, nothing reaches the client
# until the checkpoint, nothing the SVM sent ever reaches it, and after
# CHECKPOINT_BEGIN/DONE the client gets the PVM's bytes exactly. IPv4, then
# IPv6.
# timeout: 240
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=22
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
# A long hold timeout: the only reason for a notice must be the difference.
topo_colo_up $VM --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }
topo_servers same other || { echo "FAIL: servers"; exit 1; }
expected="guest says hello, the answer is 42"

diverge() { # ADDR TAG
	local addr=$1 tag=$2 out=$TOPO_DIR/hello-$2 n0 pid
	n0=$(topo_notices "$TOPO_PN")
	: > "$out"
	topo_cl /usr/bin/python3 "$UTIL" hello "$addr" 5001 "$out" --timeout 60 > "$out.res" &
	pid=$!
	check "$tag: a checkpoint is requested" \
		busywait 20000 eval "[ \$(topo_notices '$TOPO_PN' mismatch) -gt $n0 ]"
	sleep 2	# anything more (a second notice, leaked bytes) would show now
	log "$tag: $(grep checkpoint-needed "$TOPO_DIR/ctl-$TOPO_PN.log" | tail -n1)"
	check "$tag: exactly one notice" test "$(topo_notices "$TOPO_PN")" = $((n0 + 1))
	check "$tag: nothing reached the client before the checkpoint" test ! -s "$out"
	check "$tag: the primary holds the PVM's answer" test "$(topo_stat "$TOPO_PN" $VM held)" -gt 0
	check "$tag: checkpoint begin" topo_ctl "$TOPO_PN" begin
	check "$tag: checkpoint done" topo_ctl "$TOPO_PN" done
	wait $pid
	log "$tag: client: $(cat "$out.res")"
	check "$tag: the client got the PVM's answer exactly" \
		test "$(cat "$out")" = "$expected"
	check "$tag: no SVM byte reached the client" eval "! grep -q GUEST '$out'"
}

diverge $TOPO_VM4 IPv4
diverge $TOPO_VM6 IPv6

log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
check "released by the checkpoints" test "$(topo_stat "$TOPO_PN" $VM released_checkpoint)" -gt 0
check "differences counted" test "$(topo_stat "$TOPO_PN" $VM mismatches)" -ge 2
check "SVM leftovers dropped" test "$(topo_stat "$TOPO_PN" $VM svm_dropped)" -gt 0
colo_exit
