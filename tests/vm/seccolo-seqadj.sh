#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# SECCOLO: SVM sequence numbers translated into the PVM's space through stock
# conntrack SEQADJ (client- and guest-opened connections, IPv4), offsets reset
# at CHECKPOINT_DONE, nothing new learnt after FAILOVER, VM teardown on socket
# close; then rule removal and module unload leave no conntrack behind.
#
#   peer (10.1.0.1) --vp/sp-- sn (router) --sv/vs-- svm (10.2.0.2)
#
# The peer speaks raw TCP with acks in "PVM space" (tests/vm/seccolo_peer.py).
# timeout: 180
source "$COLO_SRC/tests/lib.sh"

cleanup() {
	for n in peer sn svm; do ip netns del "$n" 2>/dev/null; done
	true
}
trap cleanup EXIT

export PATH=$PATH:/usr/sbin:/sbin
command -v python3 >/dev/null || skip "python3 missing"
modprobe nf_conntrack || skip "no nf_conntrack"
modprobe x_tables
for m in nf_conntrack_colo nfnetlink_colo xt_SECCOLO; do
	grep -q "^$m " /proc/modules && continue
	insmod "$COLO_SRC/$m.ko" || { fail "insmod $m"; colo_exit; }
done
colo_dmesg_mark

for b in $(colo_iptables_backends); do
	log "backend $b"
	cleanup
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
	# offload/checksum: the peer writes its own checksums
	ip netns exec peer ethtool -K vp tx off >/dev/null 2>&1
	ip netns exec svm ethtool -K sv tx off >/dev/null 2>&1
	# the peer's kernel must not reset the raw connections
	ip netns exec peer "iptables-$b" -A OUTPUT -p tcp --tcp-flags RST RST -j DROP
	check "ping across the router" ip netns exec peer ping -c1 -W3 10.2.0.2

	check "seqadj checks ($b)" env IPT="iptables-$b" python3 "$COLO_SRC/tests/vm/seccolo_peer.py"
	check "rule still listed after the VM is gone" ip netns exec sn "iptables-$b" -t mangle -S PREROUTING
	check "rule deleted" ip netns exec sn "iptables-$b" -t mangle -F PREROUTING
	check_fails "rule for an unregistered VM refused" ip netns exec sn "iptables-$b" -t mangle -A PREROUTING -j SECCOLO --index 7
	check_fails "SECCOLO outside mangle/PREROUTING refused" ip netns exec sn "iptables-$b" -t filter -A FORWARD -j SECCOLO --index 7
	cleanup
done
check "refusal reasons logged" sh -c "dmesg | grep -q 'VM 7 is not registered'"
check "rmmod xt_SECCOLO" rmmod xt_SECCOLO
check "rmmod nfnetlink_colo" rmmod nfnetlink_colo
check "rmmod nf_conntrack_colo" rmmod nf_conntrack_colo
check "conntrack table empties once the namespaces are gone" busywait 10000 sh -c '[ "$(cat /proc/sys/net/netfilter/nf_conntrack_count)" = 0 ]'
check "nf_conntrack unloads (no reference left)" busywait 10000 sh -c 'modprobe -r nf_conntrack_netlink 2>/dev/null; modprobe -r xt_conntrack nft_ct nf_nat nf_conntrack 2>/dev/null; ! grep -q "^nf_conntrack " /proc/modules'
colo_exit
