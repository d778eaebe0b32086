#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The COLO generic netlink family: commands, monitor echoes, strict input
# validation, socket binding (EPERM), CAP_NET_ADMIN, netns separation and
# teardown when the bound socket closes (NETLINK_URELEASE). Speaks raw
# generic netlink (tests/vm/genl.py), independent of colo-ctl.
# timeout: 240
source "$COLO_SRC/tests/lib.sh"

genl="python3 $COLO_SRC/tests/vm/genl.py"
ns=genlapi-$$
holder=

cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	true
}
trap cleanup EXIT

command -v python3 >/dev/null || skip "python3 missing"
modprobe nf_conntrack || skip "no nf_conntrack"
for m in nf_conntrack_colo nfnetlink_colo; do
	grep -q "^$m " /proc/modules && continue
	insmod "$COLO_SRC/$m.ko" || { fail "insmod $m"; colo_exit; }
done
colo_dmesg_mark

# 1. the API checks, in python (prints ok/not ok lines itself)
check "API checks (genl.py test-api)" $genl test-api

# 2. no CAP_NET_ADMIN: every command refused, GET included
$genl hold --id 77 --mode 1 --timeout 60 > /tmp/genl-hold.$$ &
holder=$!
check "a VM bound by a helper process" busywait 5000 grep -q '^bound' /tmp/genl-hold.$$
nocap() {
	if command -v capsh >/dev/null; then
		capsh --drop=cap_net_admin -- -c "$*"
	else
		setpriv --inh-caps=-net_admin --bounding-set=-net_admin -- sh -c "$*"
	fi
}
for c in get begin done failover reset; do
	check "$c without CAP_NET_ADMIN: EPERM" nocap "$genl $c --id 77 --expect EPERM"
done
check "init without CAP_NET_ADMIN: EPERM" nocap "$genl init --id 78 --mode 1 --expect EPERM"
check "GET with CAP_NET_ADMIN still works" $genl get --id 77
check "another socket cannot BEGIN the bound VM: EPERM" $genl begin --id 77 --expect EPERM

# 3. netns separation
ip netns add "$ns"
check "VM of init_net invisible from another netns" ip netns exec "$ns" $genl get --id 77 --expect ENOENT
check "same id usable in the other netns" ip netns exec "$ns" $genl init --id 77 --mode 2
# (its socket closed at exit: gone again)
check "... and torn down when that socket closed" ip netns exec "$ns" $genl get --id 77 --expect ENOENT

# 4. URELEASE by killing the holder
kill "$holder"; wait "$holder" 2>/dev/null; holder=
check "VM torn down when its process died" busywait 3000 $genl get --id 77 --expect ENOENT

# 5. module unload with VMs registered
$genl hold --id 90 --mode 1 --timeout 60 > /tmp/genl-hold.$$ &
holder=$!
check "VM bound before rmmod" busywait 5000 grep -q '^bound' /tmp/genl-hold.$$
check "rmmod nfnetlink_colo with a VM registered" rmmod nfnetlink_colo
check "family gone after rmmod" $genl get --id 90 --expect ENOENT
kill "$holder"; wait "$holder" 2>/dev/null; holder=
check "rmmod nf_conntrack_colo" rmmod nf_conntrack_colo
check "insmod again" sh -c "insmod $COLO_SRC/nf_conntrack_colo.ko && insmod $COLO_SRC/nfnetlink_colo.ko"
check "works after reload" $genl init --id 5 --mode 1
colo_unload_modules
colo_exit
