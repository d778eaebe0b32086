#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# PMYCOLO with identical guests: 10 MB download and an echo over IPv4, the same
# over IPv6; the client gets every byte exactly, no checkpoint is requested,
# the guests' ISNs differ (SECCOLO moves the SVM's numbers) and the primary
# really compared the streams.
# timeout: 420
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=21
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
topo_colo_up $VM --hold-timeout 5000 || { echo "FAIL: topology"; exit 1; }
topo_servers same same || { echo "FAIL: servers"; exit 1; }

tmp=$TOPO_DIR

# The echo in the background; if it stalls, show where before it times out.
echo_diag() {
	local pid i
	topo_cl /usr/bin/python3 "$COLO_SRC/tests/vm/pmycolo-util.py" echo "$1" 5001 1000000 --timeout 120 &
	pid=$!
	for i in $(seq 40); do
		kill -0 $pid 2>/dev/null || break
		sleep 1
	done
	if kill -0 $pid 2>/dev/null; then
		log "echo stalled:"
		topo_pn colo-ctl status $VM --conns 2>&1 | sed 's/^/#   /'
		for n in "$TOPO_CL" "$TOPO_PVM" "$TOPO_SVM"; do
			log "$n:"; topo_ns "$n" ss -tni 2>&1 | grep -A1 ':5001' | sed 's/^/#   /'
		done
		log "links:"; topo_sn ip -s link show fwd0 | sed 's/^/#   /'
		topo_pn ip -s link show fwd0 | sed 's/^/#   /'
		topo_pn tc -s filter show dev vport-pvm egress | sed 's/^/#   /'
	fi
	wait $pid
}
topo_isn_capture "$TOPO_PVM" "$tmp/isn-pvm"
topo_isn_capture "$TOPO_SVM" "$tmp/isn-svm"
sleep 1

check "IPv4: 10 MB download byte exact" topo_cl /usr/bin/python3 "$COLO_SRC/tests/vm/pmycolo-util.py" get $TOPO_VM4 5001 10000000 --timeout 120
check "IPv4: 1 MB echo byte exact" echo_diag $TOPO_VM4
check "IPv6: 10 MB download byte exact" topo_cl /usr/bin/python3 "$COLO_SRC/tests/vm/pmycolo-util.py" get $TOPO_VM6 5001 10000000 --timeout 120
check "IPv6: 1 MB echo byte exact" echo_diag $TOPO_VM6

pvm_isn=$(topo_isn_of "$tmp/isn-pvm")
svm_isn=$(topo_isn_of "$tmp/isn-svm")
log "ISN pvm=$pvm_isn svm=$svm_isn"
check "the guests chose different ISNs" test -n "$pvm_isn" -a -n "$svm_isn" -a "$pvm_isn" != "$svm_isn"

sleep 1
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
log "secondary: $(topo_sn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
check "no checkpoint requested" test "$(topo_notices "$TOPO_PN")" = 0
matched=$(topo_stat "$TOPO_PN" $VM matched_bytes)
check "the streams were compared (matched_bytes=$matched)" test "${matched:-0}" -ge 20000000
check "PVM packets released after a match" test "$(topo_stat "$TOPO_PN" $VM released_match)" -gt 0
check "nothing held any more" test "$(topo_stat "$TOPO_PN" $VM held)" = 0
check "nothing dropped" test "$(topo_stat "$TOPO_PN" $VM dropped)" = 0
colo_exit
