#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The VM itself: right kernel, writable tmpfs, stock modules load, both
# iptables backends and network namespaces work.
# timeout: 60
source "$COLO_SRC/tests/lib.sh"

check "kernel is $COLO_KVER" [ "$(uname -r)" = "$COLO_KVER" ]
check "/tmp is writable" touch /tmp/.w
check "modprobe br_netfilter" modprobe br_netfilter
check "modprobe nf_conntrack" modprobe nf_conntrack
for b in legacy nft; do
	check "iptables-$b mangle works" "iptables-$b" -t mangle -L -n
	check "ip6tables-$b mangle works" "ip6tables-$b" -t mangle -L -n
done
check "plain iptables (Debian alternatives) works" iptables -V
ns=rigboot-$$
check "netns add" ip netns add "$ns"
check "veth in netns" ip -n "$ns" link add dev va type veth peer name vb
check "netns loopback ping" ip netns exec "$ns" sh -c 'ip link set lo up && ping -c1 -W2 127.0.0.1 >/dev/null'
ip netns del "$ns"
for m in nf_conntrack_colo nfnetlink_colo xt_PMYCOLO xt_SECCOLO; do
	if [ -f "$COLO_SRC/$m.ko" ]; then
		check "$m.ko vermagic matches" sh -c "modinfo -F vermagic '$COLO_SRC/$m.ko' | grep -q '^$COLO_KVER '"
	fi
done
colo_exit
