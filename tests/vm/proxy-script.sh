#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# scripts/colo-proxy-script.sh on a namespace topology, with iptables-legacy
# and iptables-nft: install puts exactly its tagged rules (and, primary, the tc
# mirror) in place, installing twice equals once, uninstall restores the
# iptables-save / ip6tables-save / tc output byte for byte and leaves other
# rules (even ones tagged for another index) alone, uninstall of nothing
# succeeds, the mirror copies frames sent towards the PVM to the forward NIC,
# a failed install rolls back; argument and environment errors give the
# documented exit codes.
#
#   pn: br0 { tap0 <-> pvm:eth0 }, fwd0 <-> sn:fwd1 (unbridged on pn)
#   sn: br1 { tap1 <-> (peer tap1p), fwd1 }
# timeout: 600
source "$COLO_SRC/tests/lib.sh"

SCRIPT=$COLO_SRC/scripts/colo-proxy-script.sh
CTL=$COLO_SRC/qemu-glue/colo-ctl
PVM=31
SVM=32
NOVM=33

tmp=$(mktemp -d /tmp/proxy-script.XXXXXX)
pn=colo-ps-pn-$$
sn=colo-ps-sn-$$
pvm=colo-ps-pvm-$$
bg_pids=()

cleanup() {
	local p
	for p in "${bg_pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for p in "$pn" "$sn" "$pvm"; do
		ip netns del "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

[ -x "$CTL" ] || skip "qemu-glue/colo-ctl not built"
for m in nf_conntrack_colo nfnetlink_colo; do
	[ -f "$COLO_SRC/$m.ko" ] || skip "$m.ko not built"
done
have_primary=1
have_secondary=1
if [ ! -f "$COLO_SRC/xt_PMYCOLO.ko" ] || [ ! -f "$COLO_SRC/libxt/libxt_PMYCOLO.so" ]; then
	have_primary=0
	log "xt_PMYCOLO not built: primary cases skipped"
fi
if [ ! -f "$COLO_SRC/xt_SECCOLO.ko" ] || [ ! -f "$COLO_SRC/libxt/libxt_SECCOLO.so" ]; then
	have_secondary=0
	log "xt_SECCOLO not built: secondary cases skipped"
fi
[ $have_primary = 1 ] || [ $have_secondary = 1 ] ||
	skip "neither xt_PMYCOLO nor xt_SECCOLO is built"
[ -n "$(colo_iptables_backends)" ] || skip "no iptables-legacy/iptables-nft"

# The script loads what it needs; from the build tree via COLO_MODULE_DIR.
export COLO_MODULE_DIR=$COLO_SRC

# ---------------------------------------------------------------------------
log "argument errors (no namespace needed)"
expect_rc() {	# expect_rc RC description args...
	local want=$1 what=$2 rc=0
	shift 2
	"$SCRIPT" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [ "$rc" = "$want" ] && { [ "$want" = 0 ] || [ -s "$tmp/err" ]; }; then
		ok "$what: exit $rc"
	else
		fail "$what: exit $rc, expected $want ($(head -c 200 "$tmp/err"))"
	fi
}
expect_rc 1 "no arguments"
expect_rc 1 "four arguments" primary install fwd0 tap0
expect_rc 1 "six arguments" primary install fwd0 tap0 1 x
expect_rc 2 "bad side" master install fwd0 tap0 1
expect_rc 3 "bad action" primary add fwd0 tap0 1
expect_rc 4 "index 0" primary install fwd0 tap0 0
expect_rc 4 "index too big" primary install fwd0 tap0 16777216
expect_rc 4 "index not a number" primary install fwd0 tap0 1x
expect_rc 4 "index with leading zero" primary install fwd0 tap0 01
expect_rc 4 "interface name too long" primary install fwd0 tap0123456789abc 1
expect_rc 4 "interface name with a slash" primary install fw/d0 tap0 1
expect_rc 4 "same interface twice" secondary install tap0 tap0 1
check "--help exits 0" "$SCRIPT" --help

# ---------------------------------------------------------------------------
log "topology"
for n in "$pn" "$sn" "$pvm"; do
	ip netns add "$n" || skip "cannot create network namespaces"
done
ip -n "$pn" link add br0 type bridge
ip -n "$pn" link add tap0 type veth peer name eth0 netns "$pvm"
ip -n "$pn" link set tap0 master br0
ip -n "$pn" link add fwd0 type veth peer name fwd1 netns "$sn"
ip -n "$sn" link add br1 type bridge
ip -n "$sn" link add tap1 type veth peer name tap1p
ip -n "$sn" link set tap1 master br1
ip -n "$sn" link set fwd1 master br1
for d in br0 tap0 fwd0; do ip -n "$pn" link set "$d" up; done
for d in br1 tap1 tap1p fwd1; do ip -n "$sn" link set "$d" up; done
ip -n "$pvm" link set eth0 up
ip -n "$pvm" addr add 10.78.0.2/24 dev eth0
ip -n "$pn" addr add 10.78.0.1/24 dev br0

# Modules (the script would load them too; needed here for registration).
modprobe -q nf_conntrack || skip "nf_conntrack not loadable"
for m in nf_conntrack_colo nfnetlink_colo; do
	grep -q "^$m " /proc/modules || insmod "$COLO_SRC/$m.ko" ||
		skip "insmod $m.ko failed"
done

# The targets refuse rules for unregistered VMs: hold registrations.
register() {	# register NS VMID MODE
	ip netns exec "$1" "$CTL" register "$2" "$3" --no-control \
		>"$tmp/reg.$2" 2>&1 &
	bg_pids+=($!)
	busywait 5000 grep -q "^registered vm=$2" "$tmp/reg.$2" ||
		skip "cannot register vm $2: $(cat "$tmp/reg.$2")"
}
[ $have_primary = 1 ] && register "$pn" "$PVM" primary
[ $have_secondary = 1 ] && register "$sn" "$SVM" secondary

# State that must come back identical after uninstall.
snapshot() {	# snapshot NS BACKEND DEV FILE
	{
		ip netns exec "$1" "iptables-$2-save" | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
		ip netns exec "$1" "ip6tables-$2-save" | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
		ip netns exec "$1" tc qdisc show dev "$3"
		ip netns exec "$1" tc filter show dev "$3" ingress 2>/dev/null
		ip netns exec "$1" tc filter show dev "$3" egress 2>/dev/null
	} >"$4" 2>&1
}

count_tagged() {	# count_tagged NS CMD INDEX
	ip netns exec "$1" "$2" -t mangle -S PREROUTING | grep -c -- "--comment \"\?colo-proxy:$3\"\? "
}

run_script() {	# run_script NS args...: the script in a netns; output to $tmp/err
	local n=$1
	shift
	ip netns exec "$n" env IPTABLES="$IPT" IP6TABLES="$IP6T" "$SCRIPT" "$@" \
		>"$tmp/out" 2>"$tmp/err"
}

rx_packets() {	# rx_packets NS DEV
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets"
}

# ---------------------------------------------------------------------------
for b in $(colo_iptables_backends); do
	IPT=iptables-$b
	IP6T=ip6tables-$b

	# Foreign rules that must survive: one untagged, one tagged for another
	# index whose number starts with ours.
	for n in "$pn" "$sn"; do
		for c in "$IPT" "$IP6T"; do
			ip netns exec "$n" "$c" -t mangle -A PREROUTING -m comment \
				--comment "colo-proxy:${PVM}0" -j ACCEPT
			ip netns exec "$n" "$c" -t mangle -A PREROUTING -j RETURN
		done
	done

	if [ $have_primary = 1 ]; then
		log "primary, $b"
		snapshot "$pn" "$b" tap0 "$tmp/before"
		check "$b primary install" run_script "$pn" primary install fwd0 tap0 "$PVM"
		[ -s "$tmp/err" ] && log "stderr: $(cat "$tmp/err")"
		check "$b: one iptables PMYCOLO rule" [ "$(count_tagged "$pn" "$IPT" "$PVM")" = 1 ]
		check "$b: one ip6tables PMYCOLO rule" [ "$(count_tagged "$pn" "$IP6T" "$PVM")" = 1 ]
		ip netns exec "$pn" "$IPT" -t mangle -S PREROUTING >"$tmp/rules"
		check "$b: rule text" grep -q -- "-A PREROUTING -m physdev --physdev-in tap0 -m comment --comment \"\?colo-proxy:$PVM\"\? -j PMYCOLO --index $PVM --forward-dev fwd0" "$tmp/rules"
		check "$b: our rule is first" bash -c "grep '^-A' $tmp/rules | head -1 | grep -q PMYCOLO"
		ip netns exec "$pn" tc filter show dev tap0 egress >"$tmp/tc"
		check "$b: tc egress mirror to fwd0" grep -q "mirred (Egress Mirror to device fwd0)" "$tmp/tc"
		check "$b: tc filter handle = index" grep -q "handle 0x$(printf %x "$PVM")" "$tmp/tc"
		check "$b: no ingress filter" [ -z "$(ip netns exec "$pn" tc filter show dev tap0 ingress)" ]

		check "$b primary install again" run_script "$pn" primary install fwd0 tap0 "$PVM"
		check "$b: still one iptables rule" [ "$(count_tagged "$pn" "$IPT" "$PVM")" = 1 ]
		check "$b: still one ip6tables rule" [ "$(count_tagged "$pn" "$IP6T" "$PVM")" = 1 ]
		check "$b: still one tc filter" \
			[ "$(ip netns exec "$pn" tc filter show dev tap0 egress | grep -c '^filter .*handle')" = 1 ]

		# Frames sent towards the PVM (tap0 egress) are mirrored to fwd0.
		rx0=$(rx_packets "$sn" fwd1)
		ip netns exec "$pn" ping -c 3 -i 0.2 -W 1 10.78.0.2 >/dev/null 2>&1 || true
		rx1=$(rx_packets "$sn" fwd1)
		check "$b: mirror: frames to the PVM reach the secondary ($rx0 -> $rx1)" \
			[ "$rx1" -ge $((rx0 + 3)) ]

		check "$b primary uninstall" run_script "$pn" primary uninstall fwd0 tap0 "$PVM"
		snapshot "$pn" "$b" tap0 "$tmp/after"
		if cmp -s "$tmp/before" "$tmp/after"; then
			ok "$b: primary state identical after uninstall"
		else
			fail "$b: primary state differs after uninstall"
			diff "$tmp/before" "$tmp/after" | sed 's/^/#   /'
		fi
		check "$b primary uninstall again" run_script "$pn" primary uninstall fwd0 tap0 "$PVM"
		check "$b: uninstall of an absent tap succeeds" \
			run_script "$pn" primary uninstall fwd0 nosuch0 "$PVM"

		# A rule the kernel refuses (VM not registered): exit 6, rolled back.
		rc=0
		run_script "$pn" primary install fwd0 tap0 "$NOVM" || rc=$?
		check "$b: unregistered VM: exit 6" [ "$rc" = 6 ]
		snapshot "$pn" "$b" tap0 "$tmp/after"
		check "$b: failed install rolled back" cmp -s "$tmp/before" "$tmp/after"
	fi

	if [ $have_secondary = 1 ]; then
		log "secondary, $b"
		snapshot "$sn" "$b" tap1 "$tmp/before"
		check "$b secondary install" run_script "$sn" secondary install fwd1 tap1 "$SVM"
		[ -s "$tmp/err" ] && log "stderr: $(cat "$tmp/err")"
		check "$b: one iptables SECCOLO rule" [ "$(count_tagged "$sn" "$IPT" "$SVM")" = 1 ]
		check "$b: one ip6tables SECCOLO rule" [ "$(count_tagged "$sn" "$IP6T" "$SVM")" = 1 ]
		ip netns exec "$sn" "$IP6T" -t mangle -S PREROUTING >"$tmp/rules"
		check "$b: rule text" grep -q -- "-A PREROUTING -m physdev --physdev-in tap1 -m comment --comment \"\?colo-proxy:$SVM\"\? -j SECCOLO --index $SVM" "$tmp/rules"
		check "$b secondary install again" run_script "$sn" secondary install fwd1 tap1 "$SVM"
		check "$b: still one rule" [ "$(count_tagged "$sn" "$IPT" "$SVM")" = 1 ]
		check "$b: no tc on the secondary" \
			[ -z "$(ip netns exec "$sn" tc filter show dev tap1 egress)" ]
		check "$b secondary uninstall" run_script "$sn" secondary uninstall fwd1 tap1 "$SVM"
		snapshot "$sn" "$b" tap1 "$tmp/after"
		if cmp -s "$tmp/before" "$tmp/after"; then
			ok "$b: secondary state identical after uninstall"
		else
			fail "$b: secondary state differs after uninstall"
			diff "$tmp/before" "$tmp/after" | sed 's/^/#   /'
		fi
		check "$b secondary uninstall again" run_script "$sn" secondary uninstall fwd1 tap1 "$SVM"
	fi

	for n in "$pn" "$sn"; do
		for c in "$IPT" "$IP6T"; do
			ip netns exec "$n" "$c" -t mangle -F PREROUTING
		done
	done
done

# ---------------------------------------------------------------------------
log "environment errors"
# Plain `iptables` may be a dangling alternatives link in the guest.
b=$(colo_iptables_backends | head -n1)
IPT=iptables-$b
IP6T=ip6tables-$b
env_rc() {	# env_rc RC MESSAGE-PART description NS args...
	local want=$1 msg=$2 what=$3 rc=0
	shift 3
	run_script "$@" || rc=$?
	if [ "$rc" = "$want" ] && grep -qF -- "$msg" "$tmp/err"; then
		ok "$what: exit $rc ($(head -n1 "$tmp/err"))"
	else
		fail "$what: exit $rc, expected $want ($(head -c 200 "$tmp/err"))"
	fi
}
if [ $have_primary = 1 ]; then
	env_rc 5 "tap 'nosuch0' does not exist" "missing tap" "$pn" primary install fwd0 nosuch0 "$PVM"
	env_rc 5 "forward NIC 'nosuch0' does not exist" "missing forward NIC" "$pn" primary install nosuch0 tap0 "$PVM"
	ip -n "$pn" link add br9 type bridge
	ip -n "$pn" link add tap9 type veth peer name tap9p
	env_rc 5 "is not a bridge port" "tap not on a bridge" "$pn" primary install fwd0 tap9 "$PVM"
	ip -n "$pn" link set tap9 master br0
	env_rc 5 "needs a dedicated, unbridged forward NIC" "primary forward NIC bridged" "$pn" primary install tap9 tap0 "$PVM"
	ip netns exec "$pn" sysctl -qw net.bridge.bridge-nf-call-iptables=0
	env_rc 5 "net.bridge.bridge-nf-call-iptables is 0" "bridge-nf-call-iptables=0" "$pn" primary install fwd0 tap0 "$PVM"
	ip netns exec "$pn" sysctl -qw net.bridge.bridge-nf-call-iptables=1
	ip netns exec "$pn" sysctl -qw net.bridge.bridge-nf-call-ip6tables=0
	env_rc 5 "net.bridge.bridge-nf-call-ip6tables is 0" "bridge-nf-call-ip6tables=0" "$pn" primary install fwd0 tap0 "$PVM"
	ip netns exec "$pn" sysctl -qw net.bridge.bridge-nf-call-ip6tables=1
	IPT=/nonexistent/iptables
	env_rc 5 "'/nonexistent/iptables' not found" "missing iptables" "$pn" primary install fwd0 tap0 "$PVM"
	IPT=iptables-$b
	rc=0
	ip netns exec "$pn" env TC=/nonexistent/tc IPTABLES="$IPT" IP6TABLES="$IP6T" "$SCRIPT" primary install \
		fwd0 tap0 "$PVM" >/dev/null 2>"$tmp/err" || rc=$?
	check "missing tc: exit 5" [ "$rc" = 5 ]
	check "missing tc: message ($(head -n1 "$tmp/err"))" \
		grep -q "/nonexistent/tc' not found" "$tmp/err"
fi
if [ $have_secondary = 1 ]; then
	ip -n "$sn" link add br8 type bridge
	ip -n "$sn" link add tap8 type veth peer name tap8p
	ip -n "$sn" link set tap8 master br8
	env_rc 5 "must be ports of the same bridge" "secondary tap and forward NIC on different bridges" \
		"$sn" secondary install fwd1 tap8 "$SVM"
fi

colo_exit
