#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Flows the guest opens, identical guests: UDP queries and TCP connections
# from a fixed source port to servers next to the client, and ICMP echo,
# pass without a notice or hold timeout
# (the first datagram's conntrack is unconfirmed while it is held: the SVM's
# copy must still find it), and so do queries the SVM sends first (they wait
# as orphans for the PVM's). The SVM's neighbour discovery is not an orphan;
# ARP/ND answers of both guests cost nothing; after a checkpoint new flows
# compare without a notice.
# timeout: 240
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=31
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
topo_colo_up $VM --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }

cat > "$TOPO_DIR/q.py" <<'PY'
import socket, sys, time
addr, port, sport, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
start = int(sys.argv[5]) / 1e6	# CLOCK_REALTIME us: both guests start together
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
s.settimeout(20)
time.sleep(max(0, start - time.time()))
t0 = time.time()
for i in range(n):
    q = b"query %d from %d" % (i, sport)
    s.sendto(q, (addr, port))
    d, _ = s.recvfrom(2048)
    if d != b"answer " + q:
        print("ERR wrong answer", d); sys.exit(1)
print("OK %d queries in %.3fs" % (n, time.time() - t0))
PY
cat > "$TOPO_DIR/srv.py" <<'PY'
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    d, peer = s.recvfrom(2048)
    s.sendto(b"answer " + d, peer)
PY
cat > "$TOPO_DIR/tsrv.py" <<'PY'
import socket, sys, threading
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(16)
def serve(c):
    n = int(c.recv(64).split()[1])
    c.sendall(bytes(i % 251 for i in range(n)))
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
cat > "$TOPO_DIR/tcl.py" <<'PY'
import socket, sys, time
addr, port, sport, n, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]) / 1e6
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
s.settimeout(20)
time.sleep(max(0, start - time.time()))
t0 = time.time()
s.connect((addr, port))
s.sendall(b"get %d\n" % n)
got = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    got += d
if got != bytes(i % 251 for i in range(n)):
    print("ERR %d bytes, not the stream" % len(got)); sys.exit(1)
print("OK %d bytes in %.3fs" % (n, time.time() - t0))
PY
topo_bg "$TOPO_CL" /usr/bin/python3 "$TOPO_DIR/srv.py" :: 5353
topo_bg "$TOPO_CL" /usr/bin/python3 "$TOPO_DIR/tsrv.py" 5380
busywait 20000 eval "topo_cl ss -lunH | grep -q ':5353 ' && topo_cl ss -ltnH | grep -q ':5380 '" ||
	{ echo "FAIL: servers"; exit 1; }

# both guests run the same client: $1 label, then q.py arguments; they start
# together 2 s from now, or SVM_DELAY / PVM_DELAY ms later
guests() {
	local label=$1; shift
	local prog=$TOPO_DIR/q.py
	if [ "$1" = tcp ]; then prog=$TOPO_DIR/tcl.py; shift; fi
	local t0=$(( ${EPOCHREALTIME/./} + 2000000 ))
	topo_svm /usr/bin/python3 "$prog" "$@" $((t0 + ${SVM_DELAY:-0} * 1000)) > "$TOPO_DIR/svm-$label" 2>&1 &
	local spid=$!
	topo_pvm /usr/bin/python3 "$prog" "$@" $((t0 + ${PVM_DELAY:-0} * 1000)) > "$TOPO_DIR/pvm-$label" 2>&1
	local rc=$?
	wait $spid
	log "$label: pvm: $(cat "$TOPO_DIR/pvm-$label"); svm: $(cat "$TOPO_DIR/svm-$label")"
	return $rc
}
counters() {
	grep checkpoint-needed "$TOPO_DIR/ctl-$TOPO_PN.log" | sed 's/^/# notice: /'
	log "counters: notices $(topo_notices "$TOPO_PN") hold_timeouts $(topo_stat "$TOPO_PN" $VM hold_timeouts) svm_dropped $(topo_stat "$TOPO_PN" $VM svm_dropped) svm_stale $(topo_stat "$TOPO_PN" $VM svm_stale) released_match $(topo_stat "$TOPO_PN" $VM released_match)"
}

check "guest-opened UDP, IPv4, 5 queries" guests u4 $TOPO_CL4 5353 40001 5
counters
check "guest-opened UDP, IPv6, 5 queries" guests u6 $TOPO_CL6 5353 40002 5
counters
PVM_DELAY=300 check "guest-opened UDP, the SVM first" guests u4s $TOPO_CL4 5353 40003 5
counters
SVM_DELAY=300 check "guest-opened UDP, the PVM first" guests u4p $TOPO_CL4 5353 40004 5
counters
check "guest-opened TCP, IPv4, 20 KB" guests t4 tcp $TOPO_CL4 5380 41001 20000
counters
PVM_DELAY=300 check "guest-opened TCP, the SVM first" guests t4s tcp $TOPO_CL4 5380 41002 20000
counters
check "guest-opened TCP, IPv6" guests t6 tcp $TOPO_CL6 5380 41003 20000
counters
# ICMP echo from both guests with one identifier (as identical guests would),
# 8 bytes of payload: no send timestamp in it (each guest's clock would differ)
pings() {
	topo_svm ping -q -e 4242 -s 8 -c 3 -i 0.3 -W 10 "$@" > /dev/null 2>&1 &
	local spid=$! rc
	topo_pvm ping -q -e 4242 -s 8 -c 3 -i 0.3 -W 10 "$@" > "$TOPO_DIR/ping" 2>&1
	rc=$?
	wait $spid
	log "ping $*: $(grep received "$TOPO_DIR/ping")"
	return $rc
}
check "ICMP echo from the guest" pings $TOPO_CL4
check "ICMPv6 echo from the guest" pings $TOPO_CL6
counters
# A checkpoint in the middle (identical guests: nothing to correct); new
# flows after it compare as before, with no further notice.
check "checkpoint begin" topo_ctl "$TOPO_PN" begin
check "checkpoint done" topo_ctl "$TOPO_PN" done
check "guest-opened UDP after the checkpoint" guests u4c $TOPO_CL4 5353 40005 5
check "guest-opened TCP after the checkpoint" guests t4c tcp $TOPO_CL4 5380 41004 20000
counters
# ARP and ND answers: the client asks, both guests answer; the PVM's pass,
# the SVM's are consumed (nothing to compare them with)
topo_cl ip neigh del $TOPO_VM4 dev cl0
topo_cl ip -6 neigh del $TOPO_VM6 dev cl0
check "the client resolves the VM's IPv4 address (ARP)" eval "topo_cl ping -q -c 1 -W 10 $TOPO_VM4 >/dev/null"
check "the client resolves the VM's IPv6 address (ND)" eval "topo_cl ping -6 -q -c 1 -W 10 $TOPO_VM6 >/dev/null"
check "it learnt the VM's MAC" eval "topo_cl ip neigh show $TOPO_VM4 | grep -qi $TOPO_VMMAC"
counters
check "no notice" test "$(topo_notices "$TOPO_PN")" = 0
check "no hold timeout" test "$(topo_stat "$TOPO_PN" $VM hold_timeouts)" = 0
check "no SVM packet dropped" test "$(topo_stat "$TOPO_PN" $VM svm_dropped)" = 0
colo_exit
