#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Issue 10, bounded memory. (1) A VM's held PVM and queued SVM packets are
# charged to its memory budget (skb truesize plus the proxy's entry,
# COLO_A_MEM_LIMIT, colo-ctl --mem-limit). A guest floods UDP that its SVM
# never sends: the charge never passes the budget, what does not fit is
# dropped and counted (mem_full) with a checkpoint request, nothing leaks to
# the client before the checkpoint, and after it the charge returns to 0 and
# identical traffic passes again. A budget below the minimum is refused.
# (2) The connection limit (COLO_A_CONN_LIMIT, --conn-limit): a client opens
# twice as many connections as the VM may track; no more than the limit are
# tracked or established, the rest are refused (conns_full), and once the
# connections are gone new ones work.
# timeout: 240
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=44
LIMIT_KB=1024
CONNS=20
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"

check "colo-ctl refuses a budget below 1024 KiB" eval '! colo-ctl register 99 primary --mem-limit 1000 2>/dev/null'
topo_colo_up $VM --hold-timeout 60000 --queue-limit 100000 --mem-limit $LIMIT_KB \
	--conn-limit $CONNS ||
	{ echo "FAIL: topology"; exit 1; }
topo_servers same same || { echo "FAIL: servers"; exit 1; }
check "the limits are shown" eval "topo_pn colo-ctl status $VM | grep -q 'memory limit: $LIMIT_KB KiB, connection limit: $CONNS'"
check "and in JSON" eval "topo_pn colo-ctl status $VM --json | grep -q '\"mem_limit_kb\":$LIMIT_KB'"
check "nothing charged yet" test "$(topo_stat "$TOPO_PN" $VM mem_bytes)" = 0

# the client counts what reaches it
cnt=$TOPO_DIR/sink.count
echo 0 > "$cnt"
topo_bg "$TOPO_CL" /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: none lost here
s.bind(("", 5301))
n = 0
while True:
    s.recv(4096)
    n += 1
    open(sys.argv[1], "w").write("%d\n" % n)
' "$cnt"
sleep 1

# 3000 datagrams of 1400 bytes from the PVM only (the SVM sends nothing):
# several times the budget
topo_pvm /usr/bin/python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("", 40777))
for i in range(3000):
    try:
        s.sendto(bytes([i % 251]) * 1400, ("'$TOPO_CL4'", 5301))
    except OSError:
        time.sleep(0.001)
' &
flood=$!
peak=0
while kill -0 $flood 2>/dev/null; do
	m=$(topo_stat "$TOPO_PN" $VM mem_bytes)
	[ "${m:-0}" -gt "$peak" ] && peak=$m
	sleep 0.1
done
wait $flood
sleep 0.5
m=$(topo_stat "$TOPO_PN" $VM mem_bytes)
[ "${m:-0}" -gt "$peak" ] && peak=$m
held=$(topo_stat "$TOPO_PN" $VM held)
full=$(topo_stat "$TOPO_PN" $VM mem_full)
log "flood: peak charge $peak bytes of $((LIMIT_KB * 1024)), now $m, held $held packets, mem_full $full, notices $(topo_notices "$TOPO_PN")"
check "the charge never passed the budget" test "$peak" -le $((LIMIT_KB * 1024))
check "the budget filled up" test "$m" -gt $((LIMIT_KB * 1024 / 2))
check "what did not fit was dropped and counted" test "${full:-0}" -gt 0
check "some packets are held" test "${held:-0}" -gt 0
check "a checkpoint was requested (queue-limit)" eval "[ \$(topo_notices '$TOPO_PN' queue-limit) -ge 1 ]"
check "nothing reached the client before the checkpoint" test "$(cat "$cnt")" = 0

check "checkpoint begin" topo_ctl "$TOPO_PN" begin
check "checkpoint done" topo_ctl "$TOPO_PN" done
check "the held datagrams reached the client after it" busywait 10000 eval "[ \$(cat '$cnt') -eq $held ]"
check "the charge returned to 0" busywait 10000 eval "[ \$(topo_stat '$TOPO_PN' $VM mem_bytes) = 0 ]"

# identical guests again: nothing is left charged, traffic passes
n0=$(topo_notices "$TOPO_PN")
check "a download passes afterwards" topo_cl timeout 60 /usr/bin/python3 "$UTIL" get $TOPO_VM4 5001 2000000 --timeout 20
check "without a notice" test "$(topo_notices "$TOPO_PN")" = "$n0"
check "and leaves nothing charged" busywait 10000 eval "[ \$(topo_stat '$TOPO_PN' $VM mem_bytes) = 0 ]"

# (2) connections: forget the ones above (conntrack), then 2 x CONNS at once
topo_pn conntrack -F >/dev/null 2>&1
check "no connection tracked after a conntrack flush" \
	busywait 10000 eval "[ \$(topo_stat '$TOPO_PN' $VM conns) = 0 ]"
est=$(topo_cl /usr/bin/python3 -c '
import socket, sys, time, errno
socks = []
for i in range(2 * int(sys.argv[2])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((sys.argv[1], 5001))
    socks.append(s)
time.sleep(4)
n = 0
for s in socks:
    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
        try:
            s.getpeername()
            n += 1
        except OSError:
            pass
print(n)
open(sys.argv[3], "w").write("open\n")
time.sleep(3)
' $TOPO_VM4 $CONNS "$TOPO_DIR/conns.open")
tracked=$(topo_stat "$TOPO_PN" $VM conns)
cfull=$(topo_stat "$TOPO_PN" $VM conns_full)
log "connections: $est of $((2 * CONNS)) established, tracked $tracked, conns_full $cfull"
check "no more connections tracked than the limit" test "${tracked:-99}" -le $CONNS
check "no more established than the limit" test "${est:-99}" -le $CONNS
check "the limit was reached" test "${est:-0}" -ge $((CONNS * 3 / 4))
check "connections beyond it refused and counted" test "${cfull:-0}" -gt 0
topo_pn conntrack -F >/dev/null 2>&1
check "tracked connections return to 0" \
	busywait 10000 eval "[ \$(topo_stat '$TOPO_PN' $VM conns) = 0 ]"
check "a new connection works afterwards" topo_cl timeout 60 /usr/bin/python3 "$UTIL" get $TOPO_VM4 5001 100000 --timeout 20
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
colo_exit
