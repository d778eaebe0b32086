#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# SVM frames count only for the VM of the forward NIC they arrive on (issue
# 10, point Isolation; issue 7's fail-closed side). On main 37e0ec2
# pmy_svm_rcv fed any primary-mode connection that conntrack found, and its
# fallback let VM A's forward NIC create a conn on VM B's conntrack, after
# which B's PVM packets were dropped. Two VMs, A and B, on one primary host;
# frames for B's connections are forged on A's forward link:
# 1. on a connection B tracks: B's counters (svm_packets, notifies,
#    mismatches, held, dropped) do not move; A's svm_dropped counts them
#    (B's svm_dropped is not compared: B's own SVM sends neighbour and
#    multicast frames that are dropped there at any time);
# 2. on a new connection of B, before B's PVM answers: B's answer still
#    reaches the client, compared with B's SVM (B: no notice, nothing dropped).
# timeout: 300
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

A=81
B=82
H=$COLO_SRC/tests/vm/colo_holes.py
PVM2=$TOPO_PFX-pvm2
SVM2=$TOPO_PFX-svm2
VM2_4=10.77.0.3
VM2_MAC=02:c0:10:00:00:03
declare -A ISO_PID ISO_FD

iso_ctl_start() { # KEY NS VMID MODE [options]
	local key=$1 ns=$2 id=$3 mode=$4 fifo log fd
	shift 4
	fifo=$TOPO_DIR/iso-$key.in
	log=$TOPO_DIR/iso-$key.log
	mkfifo "$fifo" || return 1
	: > "$log"
	exec {fd}<>"$fifo"
	ISO_FD[$key]=$fd
	ip netns exec "$ns" colo-ctl session "$id" "$mode" --no-control "$@" \
		<"$fifo" >"$log" 2>&1 &
	ISO_PID[$key]=$!
	busywait 10000 grep -q '^registered' "$log" || { cat "$log"; return 1; }
}
iso_notices() { grep -c "checkpoint-needed.*${2:-}" "$TOPO_DIR/iso-$1.log"; }
cleanup() {
	local k
	for k in "${!ISO_PID[@]}"; do
		kill "${ISO_PID[$k]}" 2>/dev/null
		wait "${ISO_PID[$k]}" 2>/dev/null
	done
	topo_teardown
	ip netns del "$PVM2" 2>/dev/null
	ip netns del "$SVM2" 2>/dev/null
}
trap cleanup EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"

topo_setup || { echo "FAIL: topology"; exit 1; }
# the UDP conntracks must outlive a slow run (30 s by default)
topo_pn sysctl -qw net.netfilter.nf_conntrack_udp_timeout=600 \
	net.netfilter.nf_conntrack_udp_timeout_stream=600 || { echo "FAIL: sysctl"; exit 1; }
# VM B: guests pvm2/svm2 on br0 / br2, forward link fwd1
for n in "$PVM2" "$SVM2"; do
	ip netns add "$n" && ip -n "$n" link set lo up || { echo "FAIL: netns"; exit 1; }
done
ip -n "$PVM2" link add eth0 address $VM2_MAC type veth peer name vport-pvm2 netns "$TOPO_PN" &&
ip -n "$SVM2" link add eth0 address $VM2_MAC type veth peer name vport-svm2 netns "$TOPO_SN" &&
ip -n "$TOPO_PN" link add fwd1 type veth peer name fwd1 netns "$TOPO_SN" &&
ip -n "$TOPO_SN" link add br2 type bridge stp_state 0 forward_delay 0 &&
ip -n "$TOPO_PN" link set vport-pvm2 master br0 up &&
ip -n "$TOPO_PN" link set fwd1 up &&
ip -n "$TOPO_SN" link set fwd1 master br2 up &&
ip -n "$TOPO_SN" link set vport-svm2 master br2 up &&
ip -n "$TOPO_SN" link set br2 up || { echo "FAIL: topology of B"; exit 1; }
for n in "$PVM2" "$SVM2"; do
	ip -n "$n" addr add $VM2_4/24 dev eth0
	ip -n "$n" link set eth0 up
	ip -n "$n" neigh replace $TOPO_CL4 lladdr $TOPO_CLMAC dev eth0 nud permanent
done
ip -n "$TOPO_CL" neigh replace $VM2_4 lladdr $VM2_MAC dev cl0 nud permanent
topo_pn tc qdisc add dev vport-pvm2 clsact &&
topo_pn tc filter add dev vport-pvm2 egress matchall action mirred egress mirror dev fwd1 ||
	{ echo "FAIL: mirror of B"; exit 1; }
topo_static_neigh

iso_ctl_start pa "$TOPO_PN" $A primary --hold-timeout 3000 &&
iso_ctl_start pb "$TOPO_PN" $B primary --hold-timeout 3000 &&
iso_ctl_start sa "$TOPO_SN" $A secondary &&
iso_ctl_start sb "$TOPO_SN" $B secondary || { echo "FAIL: sessions"; exit 1; }
for fam in ipt ip6t; do
	topo_$fam "$TOPO_PN" -t mangle -A PREROUTING -m physdev --physdev-in vport-pvm \
		-j PMYCOLO --index $A --forward-dev fwd0 &&
	topo_$fam "$TOPO_PN" -t mangle -A PREROUTING -m physdev --physdev-in vport-pvm2 \
		-j PMYCOLO --index $B --forward-dev fwd1 &&
	topo_$fam "$TOPO_SN" -t mangle -A PREROUTING -m physdev --physdev-in vport-svm \
		-j SECCOLO --index $A &&
	topo_$fam "$TOPO_SN" -t mangle -A PREROUTING -m physdev --physdev-in vport-svm2 \
		-j SECCOLO --index $B || { echo "FAIL: rules"; exit 1; }
done
topo_bg "$PVM2" /usr/bin/python3 "$H" serve-udp 5004 --variant delay
topo_bg "$SVM2" /usr/bin/python3 "$H" serve-udp 5004 --variant delay
topo_bg "$TOPO_PVM" /usr/bin/python3 "$H" serve-udp 5004
topo_bg "$TOPO_SVM" /usr/bin/python3 "$H" serve-udp 5004
busywait 60000 eval "ip netns exec '$PVM2' ss -lunH | grep -q ':5004 ' && ip netns exec '$SVM2' ss -lunH | grep -q ':5004 '" ||
	{ echo "FAIL: servers"; exit 1; }
check "A: a datagram exchange (A learns its guest's address)" \
	topo_cl /usr/bin/python3 "$H" udp1 $TOPO_VM4 5004 43001 hello-a --timeout 20

# forge N PORT PAYLOAD: "SVM output" of B's guest on A's forward link
forge() {
	topo_sn /usr/bin/python3 "$H" forge-udp fwd0 $VM2_MAC $TOPO_CLMAC $VM2_4 $TOPO_CL4 \
		5004 "$2" "$3" --count "$1" >/dev/null
}
bstat() { topo_stat "$TOPO_PN" $B "$1"; }
astat() { topo_stat "$TOPO_PN" $A "$1"; }

# --- 1. a connection B tracks -------------------------------------------------
check "B: a datagram exchange, compared" \
	topo_cl /usr/bin/python3 "$H" udp1 $VM2_4 5004 42001 hello-b --timeout 20
sleep 1
before="$(bstat svm_packets) $(bstat notifies) $(bstat mismatches) $(bstat held) $(bstat dropped)"
ad0=$(astat svm_dropped)
forge 5 42001 FORGED-FOR-B
sleep 5	# past B's hold timeout: an SVM-only datagram would ask for a checkpoint
after="$(bstat svm_packets) $(bstat notifies) $(bstat mismatches) $(bstat held) $(bstat dropped)"
log "B (svm_packets notifies mismatches held dropped): before $before, after $after"
check "1: B's counters untouched by frames forged on A's link" test "$before" = "$after"
check "1: A's svm_dropped counts them" test "$(astat svm_dropped)" -ge $((ad0 + 5))
check "1: no notice for B" test "$(iso_notices pb)" = 0
check "1: the conntrack was still there (else nothing was tested)" \
	eval "topo_pn conntrack -L -p udp --orig-port-src 42001 2>/dev/null | grep -q 'dport=5004'"

# --- 2. a new connection of B, forged before B's PVM answers ------------------
out=$TOPO_DIR/udp2
topo_cl /usr/bin/python3 "$H" udp1 $VM2_4 5004 42002 second-b --timeout 20 > "$out" &
p2=$!
TOPO_PIDS+=($p2)
sleep 0.3
forge 3 42002 FORGED-CLAIM
wait $p2
log "2: client: $(cat "$out")"
check "2: B's answer reached the client" grep -qx "OK second-b" "$out"
sleep 4
log "B: $(topo_pn colo-ctl status $B 2>&1 | tr -s ' \n' ' ')"
log "A: $(topo_pn colo-ctl status $A 2>&1 | tr -s ' \n' ' ')"
check "2: B dropped nothing, got no notice, saw exactly its SVM's two answers" \
	test "$(bstat dropped) $(iso_notices pb) $(bstat svm_packets)" = "0 0 2"
check "2: B compared it (matched bytes of both exchanges)" \
	test "$(bstat matched_bytes)" -ge 15
# A's own guest forged: A may tentatively queue the forged datagrams on the
# conntrack nobody tracked yet (the SVM-answers-first path) until B's PVM
# takes it back; whether A's hold timer saw them first (an svm-only notice
# for A, its own guest's doing) depends on timing. Never a mismatch.
check "A: no mismatch notice" test "$(iso_notices pa reason=mismatch)" = 0
colo_exit
