#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# SYN payload (issue 7, point 3): both guests connect out to a server next to
# the client with TCP Fast Open (net.ipv4.tcp_fastopen=0x5 in the guests:
# data in the SYN without a cookie; 0x202 on the server: accepted without
# one), with different data in their SYNs. Covers: a SYN carrying payload is
# held on the guest's not yet confirmed connection, nothing of it reaches the
# server before a checkpoint, the server then gets the PVM's data exactly,
# and the stream resyncs after the SYN's payload (ISN + 1 + len), not at
# ISN + 1 where it would stall. The SVM's copy of the SYN finds the
# unconfirmed conntrack (pmycolo_ahead.c) and differs: a mismatch, or the
# hold timeout if it is late; either way nothing leaves before the checkpoint.
# timeout: 300
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=31
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
topo_colo_up $VM --hold-timeout 3000 || { echo "FAIL: topology"; exit 1; }
for n in "$TOPO_PVM" "$TOPO_SVM"; do
	topo_ns "$n" sysctl -qw net.ipv4.tcp_fastopen=5 || skip "no TCP Fast Open"
done
topo_cl sysctl -qw net.ipv4.tcp_fastopen=514 || skip "no TCP Fast Open"
log=$TOPO_DIR/tfo.log
: > "$log"
topo_bg "$TOPO_CL" /usr/bin/python3 "$UTIL" tfo-serve $TOPO_CL4 5003 "$log"
busywait 60000 eval "topo_cl ss -ltnH | grep -q ':5003 '" || { echo "FAIL: server"; exit 1; }
topo_bg "$TOPO_PVM" /usr/bin/python3 "$UTIL" synack eth0 --syn > "$TOPO_DIR/isn" 2>&1
busywait 60000 grep -q ready "$TOPO_DIR/isn"

pvm_data="syn data of the primary"
svm_data="syn DATA of the SVM ..."
hex() { printf %s "$1" | od -An -tx1 | tr -d ' \n'; }

topo_pvm /usr/bin/python3 "$UTIL" tfo-connect $TOPO_CL4 5003 "$pvm_data" --timeout 60 > "$TOPO_DIR/pvm.res" &
p1=$!
topo_svm /usr/bin/python3 "$UTIL" tfo-connect $TOPO_CL4 5003 "$svm_data" --timeout 60 > "$TOPO_DIR/svm.res" &
p2=$!
check "the PVM sent its SYN" busywait 30000 grep -q '^seq' "$TOPO_DIR/isn"
sleep 0.5
check "the SYN's data did not reach the server before a checkpoint" test ! -s "$log"
check "the primary holds the PVM's SYN" test "$(topo_stat "$TOPO_PN" $VM held)" -gt 0
check "a checkpoint is requested" busywait 20000 eval "[ \$(topo_notices '$TOPO_PN') -gt 0 ]"
log "$(grep checkpoint-needed "$TOPO_DIR/ctl-$TOPO_PN.log" | head -n1)"
check "nothing reached the server before the checkpoint" test ! -s "$log"
check "checkpoint begin" topo_ctl "$TOPO_PN" begin
check "checkpoint done" topo_ctl "$TOPO_PN" done
conn=$(topo_pn colo-ctl status $VM --conns 2>&1 | grep ':5003 ' | head -n1)
log "after the checkpoint: $conn"
isn=$(topo_isn_of "$TOPO_DIR/isn")
want=$(( (isn + 1 + ${#pvm_data}) % 4294967296 ))
check "the stream resynced after the SYN's payload (isn $isn, want $want)" \
	eval "printf %s '$conn' | grep -q 'matched_seq $want '"
check "the server got the PVM's SYN data" busywait 20000 grep -q "data $(hex "$pvm_data")" "$log"
check "no SVM byte reached the server" eval "! grep -q '$(hex "$svm_data")' '$log'"
wait $p1
log "pvm: $(cat "$TOPO_DIR/pvm.res")"
kill $p2 2>/dev/null
wait $p2 2>/dev/null
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
colo_exit
