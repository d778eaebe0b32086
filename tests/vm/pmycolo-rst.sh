#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# RST and FIN compared end to end (issue 7, point 3). Both guests reset a
# connection with a RST crafted from their own socket's numbers (TCP_REPAIR,
# raw socket), so the SVM's RST can differ from the PVM's in one field only:
#  - same RST (flags, seq in the PVM's space after SECCOLO, ACK): it reaches
#    the client at once, no checkpoint;
#  - the SVM's RST one sequence number further, or without ACK: the PVM's RST
#    stays held, a mismatch notice is sent, the client is reset only after
#    the checkpoint. (On main any SVM RST released the PVM's.)
#  - FIN: the PVM closes after the greeting, the SVM sends more bytes first:
#    the client gets the greeting but no end of stream before the
#    checkpoint (the engine's FIN-against-byte rule, end to end; main passes
#    this one too).
# timeout: 300
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=32
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
# A long hold timeout: the only reason for a notice must be the difference.
topo_colo_up $VM --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }

servers() { # PVM_VARIANT SVM_VARIANT PORT
	topo_bg "$TOPO_PVM" /usr/bin/python3 "$UTIL" serve-craft $TOPO_VM4 "$3" --variant "$1"
	topo_bg "$TOPO_SVM" /usr/bin/python3 "$UTIL" serve-craft $TOPO_VM4 "$3" --variant "$2"
	busywait 60000 eval "topo_pvm ss -ltnH | grep -q ':$3 ' && topo_svm ss -ltnH | grep -q ':$3 '"
}

checkpoint() {
	check "$1: checkpoint begin" topo_ctl "$TOPO_PN" begin
	check "$1: checkpoint done" topo_ctl "$TOPO_PN" done
}

# rst TAG SVM_VARIANT PORT
rst() {
	local tag=$1 out=$TOPO_DIR/rst-$1 n0 pid
	servers same "$2" "$3" || { fail "$tag: servers"; return; }
	n0=$(topo_notices "$TOPO_PN")
	: > "$out"
	topo_cl /usr/bin/python3 "$UTIL" rstclient $TOPO_VM4 "$3" "$out" --timeout 60 > "$out.res" &
	pid=$!
	if [ "$2" = same ]; then
		check "$tag: the client is reset" busywait 20000 test -s "$out"
		check "$tag: no checkpoint requested" test "$(topo_notices "$TOPO_PN")" = "$n0"
		wait $pid
		return
	fi
	check "$tag: a checkpoint is requested" \
		busywait 20000 eval "[ \$(topo_notices '$TOPO_PN' mismatch) -gt $n0 ]"
	log "$tag: $(grep checkpoint-needed "$TOPO_DIR/ctl-$TOPO_PN.log" | tail -n1)"
	sleep 1
	check "$tag: the client was not reset before the checkpoint" test ! -s "$out"
	check "$tag: the primary holds the PVM's RST" test "$(topo_stat "$TOPO_PN" $VM held)" -gt 0
	checkpoint "$tag"
	check "$tag: the client is reset after the checkpoint" busywait 20000 test -s "$out"
	wait $pid
}

rst "same RST" same 5011
rst "SVM RST at seq + 1" seq 5012
rst "SVM RST without ACK" noack 5013

# FIN against a byte
servers same more 5014 || fail "FIN: servers"
n0=$(topo_notices "$TOPO_PN")
out=$TOPO_DIR/fin
: > "$out"
topo_cl /usr/bin/python3 - $TOPO_VM4 5014 "$out" > "$out.res" <<'PY' &
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
s.sendall(b"finmore\n")
with open(sys.argv[3], "wb", buffering=0) as f:
    while True:
        d = s.recv(4096)
        if not d:
            f.write(b"EOF\n")
            break
        f.write(d)
PY
pid=$!
check "FIN: a checkpoint is requested" \
	busywait 20000 eval "[ \$(topo_notices '$TOPO_PN' mismatch) -gt $n0 ]"
sleep 1
log "FIN: client so far: $(tr '\n' '|' < "$out")"
check "FIN: the client got the greeting" grep -q "says hello" "$out"
check "FIN: no end of stream before the checkpoint" eval "! grep -q EOF '$out'"
checkpoint FIN
check "FIN: end of stream after the checkpoint" busywait 20000 grep -q EOF "$out"
check "FIN: none of the SVM's extra bytes" eval "! grep -q 'and more' '$out'"
wait $pid

log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
colo_exit
