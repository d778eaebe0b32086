#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Isolation between protected VMs (issue item 7i).
#
# 1. Two VMs on one primary host: VM A (ids $A) and VM B ($B) have their own
#    guests, ports on the same bridge br0 and forward links (fwd0 / fwd1 into
#    br1 / br2 on the secondary host). B's SVM answers differently: only B's
#    owner gets a notice while A's download flows compared and untouched, and
#    A's counters and epoch do not move when B checkpoints.
# 2. Two primary hosts (network namespaces) with the SAME VM id $A: the second
#    one registers it too; its hold-timeout notice, checkpoint, failover, reset
#    and teardown change nothing in the first one (state, epoch, counters,
#    notices), and GET in each namespace shows its own counters.
# timeout: 300
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

A=41
B=42
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
ISO_PVM2=$TOPO_PFX-pvm2
ISO_SVM2=$TOPO_PFX-svm2
ISO_PN2=$TOPO_PFX-pn2
ISO_CL2=$TOPO_PFX-cl2
ISO_PVM3=$TOPO_PFX-pvm3
ISO_VM2_4=10.77.0.3
ISO_VM2_MAC=02:c0:10:00:00:03
declare -A ISO_PID ISO_FD

# iso_ctl_start KEY NS VMID MODE [options]: a colo-ctl session (several per
# namespace, unlike topo_ctl_start); log in $TOPO_DIR/iso-KEY.log.
iso_ctl_start() {
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

# iso_ctl KEY CMD: one session command, its answer must be "ok CMD".
iso_ctl() {
	local log=$TOPO_DIR/iso-$1.log before
	before=$(grep -c -E "^(ok|error) $2" "$log")
	[ "$1" = pa ] && [ -d "$TOPO_DIR/oracle" ] && echo "$(topo_now_ns) send $2" >> "$TOPO_DIR/oracle/ctl.log"
	echo "$2" >&"${ISO_FD[$1]}"
	busywait 10000 eval "[ \$(grep -c -E '^(ok|error) $2' '$log') -gt $before ]" || return 1
	grep -E "^(ok|error) $2" "$log" | tail -n1 | grep -q '^ok'
}

iso_ctl_stop() {
	local pid=${ISO_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "ISO_PID[$1]"
}

iso_notices() { grep -c "checkpoint-needed.*${2:-}" "$TOPO_DIR/iso-$1.log"; }

# iso_get NS VMID FIELD: "state" or "epoch" from `colo-ctl status`.
iso_get() {
	ip netns exec "$1" colo-ctl status "$2" 2>/dev/null |
		sed -n "s/^vm [0-9]*: [a-z]*, state \([a-z]*\), epoch \([0-9]*\)\$/\1 \2/p" |
		if [ "$3" = state ]; then cut -d' ' -f1; else cut -d' ' -f2; fi
}

iso_cleanup() {
	local k n
	for k in "${!ISO_PID[@]}"; do
		iso_ctl_stop "$k"
	done
	for n in "$ISO_PN2"; do
		ip netns exec "$n" iptables-$TOPO_IPT -t mangle -F 2>/dev/null
	done
	topo_teardown
	for n in "$ISO_PVM2" "$ISO_SVM2" "$ISO_CL2" "$ISO_PVM3" "$ISO_PN2"; do
		ip netns del "$n" 2>/dev/null
	done
}
trap iso_cleanup EXIT

command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"

# VM B next to VM A: guests pvm2/svm2, primary port vport-pvm2 on br0 mirrored
# to its own forward link fwd1, secondary bridge br2.
iso_vm_b() {
	local n
	for n in "$ISO_PVM2" "$ISO_SVM2"; do
		ip netns add "$n" || return 1
		ip -n "$n" link set lo up
	done
	ip -n "$ISO_PVM2" link add eth0 address $ISO_VM2_MAC type veth peer name vport-pvm2 netns "$TOPO_PN" || return 1
	ip -n "$ISO_SVM2" link add eth0 address $ISO_VM2_MAC type veth peer name vport-svm2 netns "$TOPO_SN" || return 1
	ip -n "$TOPO_PN" link add fwd1 type veth peer name fwd1 netns "$TOPO_SN" || return 1
	ip -n "$TOPO_SN" link add br2 type bridge stp_state 0 forward_delay 0 || return 1
	ip -n "$TOPO_PN" link set vport-pvm2 master br0 up
	ip -n "$TOPO_PN" link set fwd1 up
	ip -n "$TOPO_SN" link set fwd1 master br2 up
	ip -n "$TOPO_SN" link set vport-svm2 master br2 up
	ip -n "$TOPO_SN" link set br2 up
	for n in "$ISO_PVM2" "$ISO_SVM2"; do
		ip -n "$n" addr add $ISO_VM2_4/24 dev eth0
		ip -n "$n" link set eth0 up
		ip -n "$n" neigh replace $TOPO_CL4 lladdr $TOPO_CLMAC dev eth0 nud permanent
	done
	ip -n "$TOPO_CL" neigh replace $ISO_VM2_4 lladdr $ISO_VM2_MAC dev cl0 nud permanent
	topo_pn tc qdisc add dev vport-pvm2 clsact || return 1
	topo_pn tc filter add dev vport-pvm2 egress matchall \
		action mirred egress mirror dev fwd1 || return 1
}

# A second primary host (own netns) with a client and a PVM, the forward NIC
# a dummy: no secondary behind it.
iso_pn2() {
	local n
	for n in "$ISO_PN2" "$ISO_CL2" "$ISO_PVM3"; do
		ip netns add "$n" || return 1
		ip -n "$n" link set lo up
	done
	ip -n "$ISO_CL2" link add cl0 address $TOPO_CLMAC type veth peer name vport-cl netns "$ISO_PN2" || return 1
	ip -n "$ISO_PVM3" link add eth0 address $TOPO_VMMAC type veth peer name vport-pvm netns "$ISO_PN2" || return 1
	ip -n "$ISO_PN2" link add fwd0 type dummy || return 1
	ip -n "$ISO_PN2" link add br0 type bridge stp_state 0 forward_delay 0 || return 1
	ip netns exec "$ISO_PN2" sysctl -qw net.bridge.bridge-nf-call-iptables=1 || return 1
	ip -n "$ISO_PN2" link set vport-cl master br0 up
	ip -n "$ISO_PN2" link set vport-pvm master br0 up
	ip -n "$ISO_PN2" link set fwd0 up
	ip -n "$ISO_PN2" link set br0 up
	ip -n "$ISO_CL2" addr add $TOPO_CL4/24 dev cl0
	ip -n "$ISO_CL2" link set cl0 up
	ip -n "$ISO_CL2" neigh replace $TOPO_VM4 lladdr $TOPO_VMMAC dev cl0 nud permanent
	ip -n "$ISO_PVM3" addr add $TOPO_VM4/24 dev eth0
	ip -n "$ISO_PVM3" link set eth0 up
	ip -n "$ISO_PVM3" neigh replace $TOPO_CL4 lladdr $TOPO_CLMAC dev eth0 nud permanent
}

topo_setup || { echo "FAIL: topology"; exit 1; }
TOPO_ORACLE_VM=$A	# the oracle checks VM A (the topology's own ports)
iso_vm_b || { echo "FAIL: topology of VM B"; exit 1; }
topo_static_neigh
iso_ctl_start pa "$TOPO_PN" $A primary --hold-timeout 5000 &&
iso_ctl_start pb "$TOPO_PN" $B primary --hold-timeout 30000 &&
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
topo_bg "$TOPO_PVM" /usr/bin/python3 "$UTIL" serve-tcp :: 5001 --variant same
topo_bg "$TOPO_SVM" /usr/bin/python3 "$UTIL" serve-tcp :: 5001 --variant same
topo_bg "$ISO_PVM2" /usr/bin/python3 "$UTIL" serve-tcp :: 5001 --variant same
topo_bg "$ISO_SVM2" /usr/bin/python3 "$UTIL" serve-tcp :: 5001 --variant other
for n in "$TOPO_PVM" "$TOPO_SVM" "$ISO_PVM2" "$ISO_SVM2"; do
	busywait 60000 eval "ip netns exec '$n' ss -ltnH | grep -q ':5001 '" ||
		{ echo "FAIL: server in $n"; exit 1; }
done

# --- 1. two VMs, one primary host: B diverges, A does not -----------------------

expected="guest says hello, the answer is 42"
out=$TOPO_DIR/hello-b
: > "$out"
topo_cl /usr/bin/python3 "$UTIL" hello $ISO_VM2_4 5001 "$out" --timeout 120 > "$out.res" &
hello_pid=$!
TOPO_PIDS+=($hello_pid)
check "VM B: a checkpoint is requested (mismatch)" \
	busywait 30000 eval "[ \$(iso_notices pb 'vm=$B reason=mismatch') -ge 1 ]"
# B holds its answer; A's download goes through meanwhile, compared.
check "VM A: a 2 MB download (IPv6) is byte exact while B waits for its checkpoint" \
	topo_cl /usr/bin/python3 "$UTIL" get $TOPO_VM6 5001 2000000 --timeout 120
check "VM A: a 200 KB echo (IPv4) is byte exact while B waits" \
	topo_cl /usr/bin/python3 "$UTIL" echo $TOPO_VM4 5001 200000 --timeout 120
check "VM B: still held, nothing reached the client" test ! -s "$out"
check "VM B: the primary holds B's answer" test "$(topo_stat "$TOPO_PN" $B held)" -gt 0
check "VM B: checkpoint begin" iso_ctl pb begin
check "VM B: checkpoint done" iso_ctl pb done
wait $hello_pid
log "VM B: client: $(cat "$out.res")"
check "VM B: the client got the PVM's answer after the checkpoint" test "$(cat "$out")" = "$expected"
sleep 1
log "A: $(topo_pn colo-ctl status $A 2>&1 | tr -s ' \n' ' ')"
log "B: $(topo_pn colo-ctl status $B 2>&1 | tr -s ' \n' ' ')"
check "only B's owner got a notice (exactly one)" \
	test "$(iso_notices pb)" = 1 -a "$(iso_notices pa)" = 0 -a "$(iso_notices sa)" = 0 -a "$(iso_notices sb)" = 0
check "VM B: mismatch, notice and checkpoint counted" \
	test "$(topo_stat "$TOPO_PN" $B mismatches)" -ge 1 -a "$(topo_stat "$TOPO_PN" $B notifies)" = 1 \
	-a "$(topo_stat "$TOPO_PN" $B checkpoints)" = 1 -a "$(iso_get "$TOPO_PN" $B epoch)" = 2
check "VM A: compared (matched_bytes >= 2.2 MB), released on match" \
	test "$(topo_stat "$TOPO_PN" $A matched_bytes)" -ge 2200000 -a "$(topo_stat "$TOPO_PN" $A released_match)" -gt 0
bad=
for c in mismatches notifies checkpoints held dropped released_checkpoint hold_timeouts; do
	v=$(topo_stat "$TOPO_PN" $A $c)
	[ "$v" = 0 ] || bad="$bad $c=$v"
done
check "VM A: mismatches notifies checkpoints held dropped released_checkpoint hold_timeouts all 0${bad:+ (not:$bad)}" \
	test -z "$bad"
check "VM A: still running in epoch 1" test "$(iso_get "$TOPO_PN" $A state) $(iso_get "$TOPO_PN" $A epoch)" = "running 1"
# The rig's "checkpoint" copies no guest state, so B's guests stay apart (its
# PVM's FIN waits for an SVM FIN that went before): reset B. A must not notice.
conns_a=$(topo_stat "$TOPO_PN" $A conns)
check "VM B: reset" iso_ctl pb reset
check "VM B: nothing held after its reset" test "$(topo_stat "$TOPO_PN" $B held)" = 0
check "VM A: untouched by B's reset (running, epoch 1, conns $conns_a, nothing dropped)" \
	test "$(iso_get "$TOPO_PN" $A state) $(iso_get "$TOPO_PN" $A epoch) $(topo_stat "$TOPO_PN" $A conns) $(topo_stat "$TOPO_PN" $A dropped)" = "running 1 $conns_a 0"
epoch_b=$(iso_get "$TOPO_PN" $B epoch)

# --- 2. the same VM id in a second primary host (netns) -------------------------

iso_pn2 || { echo "FAIL: second primary host"; exit 1; }
check "netns: VM $A registers in a second primary host too" \
	iso_ctl_start pa2 "$ISO_PN2" $A primary --hold-timeout 500
check "netns: a PMYCOLO rule for VM $A in the second host" \
	ip netns exec "$ISO_PN2" iptables-$TOPO_IPT -t mangle -A PREROUTING -m physdev \
		--physdev-in vport-pvm -j PMYCOLO --index $A --forward-dev fwd0
port_a=$(topo_pn colo-ctl status $A | sed -n 's/^ *owner port: //p')
port_a2=$(ip netns exec "$ISO_PN2" colo-ctl status $A | sed -n 's/^ *owner port: //p')
log "VM $A owner ports: first host $port_a, second host $port_a2"
stat2() { topo_stat "$ISO_PN2" $A "$1"; }

# No secondary behind the second host: its PVM's answer waits for a checkpoint.
ip netns exec "$ISO_CL2" ping -c1 -W 60 $TOPO_VM4 > "$TOPO_DIR/ping2" 2>&1 &
ping_pid=$!
TOPO_PIDS+=($ping_pid)
check "netns: the second host asks for a checkpoint (hold timeout)" \
	busywait 20000 eval "[ \$(iso_notices pa2 'vm=$A reason=hold-timeout') -ge 1 ]"
check "netns: the first host's VM $A got no notice and holds nothing" \
	test "$(iso_notices pa)" = 0 -a "$(topo_stat "$TOPO_PN" $A held)" = 0
check "netns: checkpoint begin in the second host" iso_ctl pa2 begin
check "netns: the first host's VM $A stays running in epoch 1" \
	test "$(iso_get "$TOPO_PN" $A state) $(iso_get "$TOPO_PN" $A epoch)" = "running 1"
check "netns: checkpoint done in the second host" iso_ctl pa2 done
wait $ping_pid
check "netns: the checkpoint released the second host's answer" test $? = 0
check "netns: second host: checkpoints 1, epoch 2" \
	test "$(stat2 checkpoints) $(iso_get "$ISO_PN2" $A epoch)" = "1 2"
check "netns: first host: checkpoints 0, epoch 1" \
	test "$(topo_stat "$TOPO_PN" $A checkpoints) $(iso_get "$TOPO_PN" $A epoch)" = "0 1"

check "netns: failover in the second host" iso_ctl pa2 failover
check "netns: the second host passes straight" ip netns exec "$ISO_CL2" ping -c2 -W 10 $TOPO_VM4
check "netns: the first host's VM $A stays running" test "$(iso_get "$TOPO_PN" $A state)" = running
m0=$(topo_stat "$TOPO_PN" $A matched_bytes)
check "netns: first host: a 500 KB download still compared" \
	topo_cl /usr/bin/python3 "$UTIL" get $TOPO_VM4 5001 500000 --timeout 120
check "netns: first host: matched_bytes grew, nothing passed" \
	test "$(topo_stat "$TOPO_PN" $A matched_bytes)" -ge $((m0 + 500000)) -a "$(topo_stat "$TOPO_PN" $A passed)" = 0
log "A (second host): $(ip netns exec "$ISO_PN2" colo-ctl status $A 2>&1 | tr -s ' \n' ' ')"
log "second host's notices: $(grep checkpoint-needed "$TOPO_DIR/iso-pa2.log" | tr '\n' ';')"
# (not "exactly one notice": PMYCOLO's hold timer may ask again in epoch 2 for
# the packet the pending checkpoint already covers, see the report of 7i)
check "netns: counters apart: second host passed > 0 and matched nothing, first host passed nothing" \
	test "$(stat2 passed)" -gt 0 -a "$(stat2 matched_bytes)" = 0 -a "$(topo_stat "$TOPO_PN" $A passed)" = 0
check "netns: notices apart: the second host's owner got its own, the first host's none" \
	test "$(iso_notices pa2 "vm=$A reason=hold-timeout")" -ge 1 -a "$(iso_notices pa)" = 0
check "netns: reset in the second host" iso_ctl pa2 reset
check "netns: second host running again, first host untouched (running, epoch 1, no notice)" \
	test "$(iso_get "$ISO_PN2" $A state)/$(iso_get "$TOPO_PN" $A state) $(iso_get "$TOPO_PN" $A epoch) $(iso_notices pa)" = "running/running 1 0"

# The second host's VM goes away (its owner exits): the first one's stays.
iso_ctl_stop pa2
check "netns: VM $A is gone from the second host" \
	busywait 5000 eval "! ip netns exec '$ISO_PN2' colo-ctl status $A >/dev/null 2>&1"
check "netns: the first host still has VM $A with its owner" \
	test "$(topo_pn colo-ctl status $A | sed -n 's/^ *owner port: //p')" = "$port_a"
m0=$(topo_stat "$TOPO_PN" $A matched_bytes)
check "netns: first host: a download after the teardown is still compared" \
	eval "topo_cl /usr/bin/python3 '$UTIL' get $TOPO_VM4 5001 300000 --timeout 120 &&
	      [ \$(topo_stat '$TOPO_PN' $A matched_bytes) -ge $((m0 + 300000)) ]"
log "A (first host): $(topo_pn colo-ctl status $A 2>&1 | tr -s ' \n' ' ')"
check "VM B untouched by all of part 2 (epoch $epoch_b, one notice, state running)" \
	test "$(iso_get "$TOPO_PN" $B epoch) $(iso_notices pb) $(iso_get "$TOPO_PN" $B state)" = "$epoch_b 1 running"
colo_exit
