#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Flows the guest opens, identical guests: UDP queries from a fixed source
# port to a server next to the client pass without a notice or hold timeout
# (the first datagram's conntrack is unconfirmed while it is held: the SVM's
# copy must still find it), and so do queries the SVM sends first (they wait
# as orphans for the PVM's). The SVM's neighbour discovery is not an orphan.
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
topo_bg "$TOPO_CL" /usr/bin/python3 "$TOPO_DIR/srv.py" :: 5353
busywait 20000 eval "topo_cl ss -lunH | grep -q ':5353 '" || { echo "FAIL: server"; exit 1; }

# both guests run the same client: $1 label, then q.py arguments; they start
# together 2 s from now, or SVM_DELAY / PVM_DELAY ms later
guests() {
	local label=$1; shift
	local t0=$(( ${EPOCHREALTIME/./} + 2000000 ))
	topo_svm /usr/bin/python3 "$TOPO_DIR/q.py" "$@" $((t0 + ${SVM_DELAY:-0} * 1000)) > "$TOPO_DIR/svm-$label" 2>&1 &
	local spid=$!
	topo_pvm /usr/bin/python3 "$TOPO_DIR/q.py" "$@" $((t0 + ${PVM_DELAY:-0} * 1000)) > "$TOPO_DIR/pvm-$label" 2>&1
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
check "no notice" test "$(topo_notices "$TOPO_PN")" = 0
check "no hold timeout" test "$(topo_stat "$TOPO_PN" $VM hold_timeouts)" = 0
check "no SVM packet dropped" test "$(topo_stat "$TOPO_PN" $VM svm_dropped)" = 0
colo_exit
