#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# FAILOVER keeps each connection's output in order (issue 7, kernel hole 4).
# On main 37e0ec2 the VM's state became FAILOVER before the held packets were
# released, so new packets passed at once while older ones still waited for
# the sweep to reach their connection. Here 300 connections hold a datagram
# each (the SVM is silent), then one more connection streams numbered
# datagrams, all held; FAILOVER comes in the middle of the stream. The client
# must receive every number, in order; released_failover counts the held
# packets that the failover released.
# timeout: 300
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=73
H=$COLO_SRC/tests/vm/colo_holes.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
topo_colo_up $VM --hold-timeout 120000 || { echo "FAIL: topology"; exit 1; }
# The PVM's output and the FAILOVER command (run in the owner's context) on
# one cpu: the order PMYCOLO hands packets on is then the order the client
# sees (per-cpu backlogs further down would reorder packets handed on by
# different cpus, as for any traffic).
topo_bg "$TOPO_PVM" taskset -c 0 /usr/bin/python3 "$H" serve-udp 5004
taskset -p -c 0 "${TOPO_CTL_PID[$TOPO_PN]}" >/dev/null || { echo "FAIL: taskset"; exit 1; }
topo_bg "$TOPO_SVM" /usr/bin/python3 "$H" serve-udp 5004 --variant silent
busywait 60000 eval "topo_pvm ss -lunH | grep -q ':5004 ' && topo_svm ss -lunH | grep -q ':5004 '" ||
	{ echo "FAIL: servers"; exit 1; }

topo_cl /usr/bin/python3 -c '
import socket, time
ss = []
for p in range(44000, 44300):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("", p))
    s.sendto(b"idle", ("'$TOPO_VM4'", 5004))
    ss.append(s)
time.sleep(1)
'
check "300 connections hold an answer each" \
	busywait 60000 eval "[ \$(topo_stat '$TOPO_PN' $VM held) -ge 300 ]"
out=$TOPO_DIR/seq
: > "$out"
topo_cl /usr/bin/python3 "$H" udpseq $TOPO_VM4 5004 45000 300 0.01 "$out" &
pid=$!
TOPO_PIDS+=($pid)
check "the stream is held too" \
	busywait 30000 eval "[ \$(topo_stat '$TOPO_PN' $VM held) -ge 340 ]"
check "failover in the middle of the stream" topo_ctl "$TOPO_PN" failover
wait $pid
log "received $(wc -l < "$out") numbers; first out of order: $(awk 'NR > 1 && $1 <= last { print NR": "$1" after "last; exit } { last = $1 }' "$out")"
check "every number arrived" test "$(sort -un "$out" | wc -l)" = 300
check "in order" awk 'NR > 1 && $1 <= last { exit 1 } { last = $1 }' "$out"
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
check "released_failover counts the held packets" \
	test "$(topo_stat "$TOPO_PN" $VM released_failover)" -ge 340
check "nothing held after the failover" test "$(topo_stat "$TOPO_PN" $VM held)" = 0
colo_exit
