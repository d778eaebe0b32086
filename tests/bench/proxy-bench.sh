#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The proxy benchmark (make bench), run inside the test VM: the same client,
# servers and topology measured through a plain bridge and then through
# PMYCOLO with identical PVM and SVM, in one VM run, printed as ratios.
# Throughput: an upload from the client to the guest (the guest's ACK stream
# passes the proxy; the guest checks the bytes and answers one line), and a
# download from the guest of a deterministic byte stream (every byte
# compared). Not iperf3: its closing JSON results differ between the two
# guests, and after a checkpoint that only the primary can take here (the SVM
# namespace keeps its own state) the SVM's iperf3 server stays in the old
# test: the next run stalls (its data is never acknowledged by the SVM).
# Latency: 64-byte request/response round trips, to the guest (the client
# asks) and from the guest (both guests ask a server next to the client at the
# same instant, from the same port, as identical guests would; plain: the PVM
# alone). Identical guests need no checkpoint; the benchmark still answers
# CHECKPOINT_NEEDED (as colod would, on the primary) and reports the count.
# timeout: 420
source "$COLO_SRC/tests/lib.sh"
# No output-commit oracle: the plain phase is unprotected by design (and the
# captures would cost the figures); the VM suite checks the proxied paths.
TOPO_ORACLE=0
source "$COLO_SRC/tests/topo.sh"

VM=9
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
SIZE=${BENCH_SIZE:-48000000}
DL=${BENCH_DOWNLOAD:-32000000}
RTTS=${BENCH_RTTS:-400}
trap 'topo_answer_stop; topo_teardown' EXIT

colo_load_modules || { echo "cannot load the modules"; exit 1; }
topo_setup || exit 1
topo_static_neigh
topo_bg "$TOPO_PVM" python3 "$UTIL" serve-tcp :: 5001
topo_bg "$TOPO_SVM" python3 "$UTIL" serve-tcp :: 5001
topo_bg "$TOPO_PVM" python3 "$COLO_SRC/tests/bench/latency.py" serve 5003
topo_bg "$TOPO_SVM" python3 "$COLO_SRC/tests/bench/latency.py" serve 5003
topo_bg "$TOPO_CL" python3 "$COLO_SRC/tests/bench/latency.py" serve 5004
for p in 5001 5003; do
	busywait 20000 eval "topo_pvm ss -ltnH | grep -q ':$p ' && topo_svm ss -ltnH | grep -q ':$p '" || exit 1
done
busywait 20000 eval "topo_cl ss -ltnH | grep -q ':5004 '" || exit 1

declare -A R
measure() { # label
	local t0 t1 l
	t0=$(date +%s%N)
	topo_cl python3 "$UTIL" put $TOPO_VM4 5001 "$SIZE" --timeout 300 > /dev/null &&
		t1=$(date +%s%N) && R[$1.mbps]=$(( SIZE * 8 * 1000 / (t1 - t0) ))
	t0=$(date +%s%N)
	topo_cl python3 "$UTIL" get $TOPO_VM4 5001 "$DL" --timeout 300 > /dev/null &&
		t1=$(date +%s%N) && R[$1.dl]=$(( DL * 8 * 1000 / (t1 - t0) ))
	l=$(topo_cl python3 "$COLO_SRC/tests/bench/latency.py" $TOPO_VM4 5003 "$RTTS")
	read -r _ _ R[$1.med] _ R[$1.p99] <<< "$l"
	# guest-initiated: $2 = 1 when the SVM asks too
	local sport=$((42000 + ${#R[@]})) at=$(( ${EPOCHREALTIME/./} + 3000000 )) spid=
	if [ "$2" = 1 ]; then
		topo_svm python3 "$COLO_SRC/tests/bench/latency.py" $TOPO_CL4 5004 "$RTTS" $sport $at > /dev/null 2>&1 &
		spid=$!
	fi
	l=$(topo_pvm python3 "$COLO_SRC/tests/bench/latency.py" $TOPO_CL4 5004 "$RTTS" $sport $at)
	[ -n "$spid" ] && wait "$spid"
	read -r _ _ R[$1.gmed] _ R[$1.gp99] <<< "$l"
	echo "  $1: upload to guest ${R[$1.mbps]:-?} Mbit/s, download from guest ${R[$1.dl]:-?} Mbit/s (every byte compared when proxied), RTT median ${R[$1.med]:-?} us, p99 ${R[$1.p99]:-?} us; guest-initiated RTT median ${R[$1.gmed]:-?} us, p99 ${R[$1.gp99]:-?} us"
}

echo "proxy benchmark: Linux $(uname -r), $(nproc) vCPU, upload $SIZE bytes, download $DL bytes, $RTTS round trips"
# Plain bridge: no mirror, no rules.
topo_pn tc filter del dev vport-pvm egress
measure plain 0

# Through PMYCOLO (and SECCOLO on the secondary) with identical guests.
topo_pn tc filter add dev vport-pvm egress matchall action mirred egress mirror dev fwd0
topo_ctl_start "$TOPO_PN" $VM primary --hold-timeout 2000 || exit 1
topo_ctl_start "$TOPO_SN" $VM secondary || exit 1
topo_rules_primary $VM || exit 1
topo_rules_secondary $VM || exit 1
topo_answer_notices
measure proxy 1
topo_answer_stop

echo "  proxy counters: $(topo_pn colo-ctl status $VM 2>/dev/null | awk '$1 ~ /^(matched_bytes|released_match|released_checkpoint|held|dropped|dropped_unverifiable|notifies|checkpoints|mismatches|hold_timeouts|svm_dropped|svm_stale|mem_full|conns_full)$/ { printf "%s=%s ", $1, $2 }')"
ratio() { python3 -c "import sys; a,b=sys.argv[1:]; print('%.2f' % (float(a)/float(b)) if a and b and float(b) else '?')" "$1" "$2"; }
echo "ratios (proxy / plain, measured side by side in this run):"
echo "  upload to guest       $(ratio "${R[proxy.mbps]:-}" "${R[plain.mbps]:-}")"
echo "  download from guest   $(ratio "${R[proxy.dl]:-}" "${R[plain.dl]:-}")"
echo "  RTT median            $(ratio "${R[proxy.med]:-}" "${R[plain.med]:-}")"
echo "  RTT p99               $(ratio "${R[proxy.p99]:-}" "${R[plain.p99]:-}")"
echo "  guest RTT median      $(ratio "${R[proxy.gmed]:-}" "${R[plain.gmed]:-}")"
echo "  guest RTT p99         $(ratio "${R[proxy.gp99]:-}" "${R[plain.gp99]:-}")"
