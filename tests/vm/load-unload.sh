#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Module load/unload: insmod/rmmod cycles; unloading with VMs registered and
# connections tracked (in a netns, with a SECCOLO rule and live TCP
# connections); no conntrack reference left behind: the namespaces' conntrack
# entries go away and nf_conntrack itself unloads afterwards; slab usage of
# conntrack returns to its level before the test.
# timeout: 240
source "$COLO_SRC/tests/lib.sh"

genl="python3 $COLO_SRC/tests/vm/genl.py"
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for n in peer sn svm; do ip netns del "$n" 2>/dev/null; done
	true
}
trap cleanup EXIT

mods="nf_conntrack_colo nfnetlink_colo xt_SECCOLO"
[ -f "$COLO_SRC/xt_PMYCOLO.ko" ] && mods="$mods xt_PMYCOLO"
load() { local m; for m in $mods; do insmod "$COLO_SRC/$m.ko" || return 1; done; }
unload() { local m r=""; for m in $mods; do r="$m $r"; done; for m in $r; do rmmod "$m" || return 1; done; }
ct_objs() { awk '$1 == "nf_conntrack" { print $2 }' /proc/slabinfo 2>/dev/null || echo 0; }

export PATH=$PATH:/usr/sbin:/sbin
command -v python3 >/dev/null || skip "python3 missing"
command -v socat >/dev/null || skip "socat missing"
ipt=iptables-nft
command -v $ipt >/dev/null || ipt=iptables-legacy
modprobe nf_conntrack || skip "no nf_conntrack"
modprobe x_tables; modprobe iptable_mangle 2>/dev/null
slab0=$(ct_objs)

# 1. plain cycles
for i in 1 2 3; do
	check "load cycle $i" load
	check "unload cycle $i" unload
done
# 2. unload in the wrong order is refused, nothing breaks
check "load" load
check_fails "rmmod nf_conntrack_colo while users are loaded" rmmod nf_conntrack_colo
# the rest is about our core and SECCOLO; PMYCOLO has its own tests
grep -q '^xt_PMYCOLO ' /proc/modules && rmmod xt_PMYCOLO
mods="nf_conntrack_colo nfnetlink_colo xt_SECCOLO"

# 3. VMs, rules and connections in a namespace
setup_ns() {
	for n in peer sn svm; do ip netns add $n; ip -n $n link set lo up; done
	ip link add vp netns peer type veth peer name sp netns sn
	ip link add vs netns sn type veth peer name sv netns svm
	ip -n peer addr add 10.1.0.1/24 dev vp
	ip -n sn addr add 10.1.0.254/24 dev sp
	ip -n sn addr add 10.2.0.254/24 dev vs
	ip -n svm addr add 10.2.0.2/24 dev sv
	for l in "peer vp" "sn sp" "sn vs" "svm sv"; do set -- $l; ip -n $1 link set $2 up; done
	ip -n peer route add default via 10.1.0.254
	ip -n svm route add default via 10.2.0.254
	ip netns exec sn sysctl -qw net.ipv4.ip_forward=1
}
nconns() { # VM MIN: VM (in netns sn) tracks at least MIN connections
	local n
	n=$(ip netns exec sn $genl get --id "$1" --field conns) || return 1
	[ "$n" -ge "$2" ]
}
run_conns() {
	ip netns exec svm socat TCP-LISTEN:5001,fork,reuseaddr SYSTEM:'sleep 60' &
	pids+=($!)
	sleep 1
	for i in 1 2 3; do
		ip netns exec peer socat -u SYSTEM:'sleep 60' TCP:10.2.0.2:5001 &
		pids+=($!)
	done
}

setup_ns
ip netns exec sn $genl hold --id 7 --mode 2 --timeout 120 > /tmp/lu-hold.$$ &
pids+=($!)
check "VM 7 registered in netns sn" busywait 15000 grep -q '^bound' /tmp/lu-hold.$$
check "SECCOLO rule" ip netns exec sn $ipt -t mangle -A PREROUTING -i vs -j SECCOLO --index 7
run_conns
check "connections tracked" busywait 8000 nconns 7 3
log "GET: $(ip netns exec sn $genl get --id 7 --flags 1 | tail -n1 | cut -c1-300)"
check_fails "rmmod xt_SECCOLO refused while a rule uses it" rmmod xt_SECCOLO
check "rule removed" ip netns exec sn $ipt -t mangle -F PREROUTING
check "rmmod xt_SECCOLO with the VM registered and connections tracked" rmmod xt_SECCOLO
check "VM still registered, its connections forgotten" [ "$(ip netns exec sn $genl get --id 7 --field conns)" = 0 ]
check "insmod xt_SECCOLO again (attaches to the registered VM)" insmod "$COLO_SRC/xt_SECCOLO.ko"
check "SECCOLO rule again" ip netns exec sn $ipt -t mangle -A PREROUTING -i vs -j SECCOLO --index 7
for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null; done
pids=("${pids[0]}")
run_conns
check "connections tracked again" busywait 8000 nconns 7 3
check "rule removed" ip netns exec sn $ipt -t mangle -F PREROUTING
check "rmmod xt_SECCOLO" rmmod xt_SECCOLO
check "insmod xt_SECCOLO" insmod "$COLO_SRC/xt_SECCOLO.ko"
check "SECCOLO rule" ip netns exec sn $ipt -t mangle -A PREROUTING -i vs -j SECCOLO --index 7
for p in "${pids[@]:1}"; do kill "$p" 2>/dev/null; done
pids=("${pids[0]}")
run_conns
check "connections tracked (3rd round)" busywait 8000 nconns 7 3
# the control module goes first, with the VM registered and conns tracked
check "rmmod nfnetlink_colo with a VM registered" rmmod nfnetlink_colo
check "rule removed" ip netns exec sn $ipt -t mangle -F PREROUTING
check "rmmod xt_SECCOLO" rmmod xt_SECCOLO
check "rmmod nf_conntrack_colo" rmmod nf_conntrack_colo
cleanup
pids=()

# 4. netns exit with a VM and tracked connections, modules loaded
check "load" load
setup_ns
ip netns exec sn $genl hold --id 8 --mode 2 --timeout 120 > /tmp/lu-hold.$$ &
pids+=($!)
check "VM 8 registered" busywait 15000 grep -q '^bound' /tmp/lu-hold.$$
check "SECCOLO rule" ip netns exec sn $ipt -t mangle -A PREROUTING -i vs -j SECCOLO --index 8
run_conns
sleep 2
cleanup
pids=()
check "namespaces deleted with rules, VM and connections" sleep 3
check "unload after netns exit" unload

check "no conntrack entries left" busywait 15000 sh -c '[ "$(cat /proc/sys/net/netfilter/nf_conntrack_count)" = 0 ]'
check "nf_conntrack unloads (no reference left)" busywait 15000 sh -c 'modprobe -r nf_conntrack_netlink xt_conntrack iptable_nat nf_nat 2>/dev/null; modprobe -r nf_conntrack 2>/dev/null; ! grep -q "^nf_conntrack " /proc/modules'
log "nf_conntrack slab objects before $slab0, now $(ct_objs)"
colo_exit
