#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Retransmits and URG (issue 7, points 3 and 4).
#  - A PVM "retransmit" with other bytes for a range it sent (and that was
#    compared and released) before: the client's pure ACKs are dropped in
#    its namespace (DSACKs included), so the client's cumulative ACK
#    (conntrack) stays below the range (bytes below it need no comparison:
#    the client discards them); the PVM then sends a raw segment over its
#    greeting's range with other bytes. It must be compared with the SVM's retained bytes
#    (history): mismatch, held, never on the client's wire. On main anything
#    before `matched` left uncompared. The guests' real retransmits of the
#    greeting (same bytes) still go.
#  - URG: the PVM sends its greeting's last byte with MSG_OOB, the SVM sends
#    the same bytes without: equal bytes, but the client application reads
#    something else. URG is never released by comparison: a checkpoint is
#    requested, the urgent segment leaves after it. On main it left at once.
# timeout: 300
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=34
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
topo_colo_up $VM --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }
topo_bg "$TOPO_PVM" /usr/bin/python3 "$UTIL" serve-craft $TOPO_VM4 5031 --variant bad
topo_bg "$TOPO_SVM" /usr/bin/python3 "$UTIL" serve-craft $TOPO_VM4 5031 --variant same
topo_bg "$TOPO_PVM" /usr/bin/python3 "$UTIL" serve-craft $TOPO_VM4 5032 --variant oob
topo_bg "$TOPO_SVM" /usr/bin/python3 "$UTIL" serve-craft $TOPO_VM4 5032 --variant same
busywait 60000 eval "topo_pvm ss -ltnH | grep -q ':5032 ' && topo_svm ss -ltnH | grep -q ':5032 '" ||
	{ echo "FAIL: servers"; exit 1; }

# client COMMAND PORT OUT: send one line, write what comes back, then "EOF"
client() {
	topo_cl /usr/bin/python3 - $TOPO_VM4 "$2" "$3" "$1" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
s.sendall(sys.argv[4].encode() + b"\n")
with open(sys.argv[3], "wb", buffering=0) as f:
    try:
        while True:
            d = s.recv(4096)
            if not d:
                f.write(b"EOF\n")
                break
            f.write(d)
    except OSError:
        pass
PY
}

# 1. retransmit with other bytes
topo_ipt "$TOPO_CL" -A OUTPUT -p tcp --dport 5031 --tcp-flags SYN,FIN,RST,PSH,ACK ACK \
	-m length --length 40:80 -j DROP || { echo "FAIL: client rule"; exit 1; }
cap=$TOPO_DIR/cap
: > "$cap"
topo_bg "$TOPO_CL" /usr/bin/python3 "$UTIL" capture cl0 GUEST "$cap" > "$TOPO_DIR/cap.log" 2>&1
busywait 60000 grep -q ready "$TOPO_DIR/cap.log"
out=$TOPO_DIR/retrans
client retrans 5031 "$out" &
pid=$!
check "retransmit: the greeting reached the client" busywait 20000 grep -q "says hello" "$out"
check "retransmit: other bytes: a checkpoint is requested" \
	busywait 20000 eval "[ \$(topo_notices '$TOPO_PN' mismatch) -gt 0 ]"
log "$(grep checkpoint-needed "$TOPO_DIR/ctl-$TOPO_PN.log" | tail -n1)"
sleep 1
check "retransmit: its bytes never reached the client's wire" test ! -s "$cap"
check "retransmit: the primary holds it" test "$(topo_stat "$TOPO_PN" $VM held)" -gt 0
check "retransmit: checkpoint begin" topo_ctl "$TOPO_PN" begin
check "retransmit: checkpoint done" topo_ctl "$TOPO_PN" done
kill $pid 2>/dev/null
wait $pid 2>/dev/null

# 2. URG
n0=$(topo_notices "$TOPO_PN")
out=$TOPO_DIR/oob
client oob 5032 "$out" &
pid=$!
check "URG: a checkpoint is requested" \
	busywait 20000 eval "[ \$(topo_notices '$TOPO_PN') -gt $n0 ]"
sleep 1
check "URG: no end of stream before the checkpoint" eval "! grep -q EOF '$out'"
check "URG: checkpoint begin" topo_ctl "$TOPO_PN" begin
check "URG: checkpoint done" topo_ctl "$TOPO_PN" done
check "URG: end of stream after the checkpoint" busywait 20000 grep -q EOF "$out"
wait $pid
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
colo_exit
