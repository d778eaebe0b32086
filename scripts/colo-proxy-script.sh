#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# colo-proxy-script.sh - install or remove the colo-proxy rules of one VM tap
#
# Usage: colo-proxy-script.sh <primary|secondary> <install|uninstall> \
#                             <forward-nic> <tap> <index>
#
# Run as root by the COLO daemon (or by hand) after the VM was registered
# with the kernel (COLO_CMD_PROXY_INIT, e.g. `colo-ctl register`): the
# PMYCOLO/SECCOLO targets refuse rules for an unregistered VM id.
#
# Topology:
#   primary:   the PVM's <tap> is a port of the production bridge; <forward-nic>
#              is a dedicated, unbridged link to the secondary host.
#   secondary: the SVM's <tap> and <forward-nic> are the only ports of one
#              bridge (created by the admin or the daemon, not by this script).
#
# What it installs (every object tagged, so uninstall removes exactly these):
#   primary:
#     - a clsact qdisc on <tap> (reused if present) and an egress matchall
#       filter, pref COLO_TC_PREF, handle <index>, "action mirred egress mirror
#       dev <forward-nic>": a copy of every frame delivered to the PVM (the
#       client's input) goes to the secondary;
#     - iptables and ip6tables: -t mangle -I PREROUTING -m physdev
#       --physdev-in <tap> -m comment --comment colo-proxy:<index>
#       -j PMYCOLO --index <index> --forward-dev <forward-nic>
#       (inserted first: a terminating rule above it would let unverified PVM
#       output out).
#   secondary:
#     - iptables and ip6tables: -t mangle -I PREROUTING -m physdev
#       --physdev-in <tap> -m comment --comment colo-proxy:<index>
#       -j SECCOLO --index <index>
#       Only the SVM's own output goes through the target; the mirrored client
#       traffic arriving on <forward-nic> is seen by xt_SECCOLO's hook without
#       a rule.
#
# ARP / neighbour discovery: no arptables or ebtables rule is needed. On the
# secondary the SVM's bridge holds only <tap> and <forward-nic>, so the SVM's
# ARP replies and IPv6 neighbour advertisements (same MAC/IP as the PVM) can
# only leave over the forward link, and on the primary the PMYCOLO rx handler
# on <forward-nic> consumes every frame arriving there (IPv4, IPv6 and ARP);
# nothing from the SVM reaches the clients. Never bridge the primary's
# <forward-nic> and never give the SVM's bridge an uplink.
#
# Idempotent: install twice = install once; uninstall of what is absent
# succeeds. Uninstall removes every iptables/ip6tables rule in mangle
# PREROUTING tagged colo-proxy:<index>, whatever its other arguments, and the
# tc filter with handle <index>; the clsact qdisc is removed if no filter is
# left on it. Use the same iptables backend for install and uninstall.
#
# Environment:
#   IPTABLES, IP6TABLES  commands to use (default iptables, ip6tables; e.g.
#                        iptables-legacy / iptables-nft; extra words allowed)
#   TC, IP               tc and ip commands (default tc, ip)
#   COLO_MODULE_DIR      directory with nf_conntrack_colo.ko etc., used with
#                        insmod when modprobe cannot find a module
#   COLO_TC_PREF         tc filter preference (default 49152)
#
# Exit codes:
#   0  success
#   1  usage: wrong number of arguments
#   2  bad side (not primary|secondary)
#   3  bad action (not install|uninstall)
#   4  bad index (not 1..16777215) or invalid interface name
#   5  environment problem: missing tool or module, missing interface, wrong
#      topology, br_netfilter sysctls not 1
#   6  a rule or filter could not be installed or removed
set -eu

readonly PROG=${0##*/}
readonly VM_ID_MAX=16777215

usage() {
	cat <<EOF
Usage: $PROG <primary|secondary> <install|uninstall> <forward-nic> <tap> <index>

  primary    mirror the client's frames to the PVM (<tap> egress) to
             <forward-nic>; hold and compare the PVM's output (PMYCOLO)
  secondary  adjust the SVM's TCP sequence numbers (SECCOLO); <tap> and
             <forward-nic> must be ports of one bridge
  <index>    the VM id registered with the kernel, 1..$VM_ID_MAX

Rules are tagged "colo-proxy:<index>"; uninstall removes exactly those.
Environment: IPTABLES, IP6TABLES, TC, IP, COLO_MODULE_DIR, COLO_TC_PREF.
Exit codes: 1 usage, 2 side, 3 action, 4 index/interface name,
            5 environment, 6 rule installation/removal.
EOF
}

die() {
	local rc=$1
	shift
	echo "$PROG: $*" >&2
	exit "$rc"
}

warn() {
	echo "$PROG: warning: $*" >&2
}

# ---------------------------------------------------------------------------
# Arguments

if [ $# -eq 1 ] && { [ "$1" = -h ] || [ "$1" = --help ]; }; then
	usage
	exit 0
fi
if [ $# -ne 5 ]; then
	usage >&2
	die 1 "expected 5 arguments, got $#"
fi

side=$1
action=$2
fwd=$3
tap=$4
index=$5

case $side in
primary|secondary) ;;
*) die 2 "invalid side '$side' (expected primary or secondary)" ;;
esac

case $action in
install|uninstall) ;;
*) die 3 "invalid action '$action' (expected install or uninstall)" ;;
esac

# Decimal, no sign, no leading zero, 1..VM_ID_MAX.
if ! [[ $index =~ ^[1-9][0-9]{0,7}$ ]] || [ "$index" -gt $VM_ID_MAX ]; then
	die 4 "invalid index '$index' (expected 1..$VM_ID_MAX)"
fi

# The kernel's dev_valid_name(): 1..15 bytes, not . or .., no / : or blanks.
valid_ifname() {
	[[ $1 =~ ^[^/:[:space:]]{1,15}$ ]] && [ "$1" != . ] && [ "$1" != .. ]
}
valid_ifname "$fwd" || die 4 "invalid forward NIC name '$fwd'"
valid_ifname "$tap" || die 4 "invalid tap name '$tap'"
[ "$fwd" != "$tap" ] || die 4 "the forward NIC and the tap must differ ('$tap')"

readonly tag="colo-proxy:$index"
tc_pref=${COLO_TC_PREF:-49152}
if ! [[ $tc_pref =~ ^[1-9][0-9]{0,4}$ ]] || [ "$tc_pref" -gt 65535 ]; then
	die 5 "invalid COLO_TC_PREF '$tc_pref' (expected 1..65535)"
fi
readonly tc_pref

# ---------------------------------------------------------------------------
# Tools

# Daemons often run us with a PATH lacking the sbin directories.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
export PATH

read -r -a IPT4 <<<"${IPTABLES:-iptables}"
read -r -a IPT6 <<<"${IP6TABLES:-ip6tables}"
read -r -a TCCMD <<<"${TC:-tc}"
read -r -a IPCMD <<<"${IP:-ip}"

need_tool() {
	command -v "$1" >/dev/null 2>&1 ||
		die 5 "'$1' not found${2:+ ($2)}"
}
[ ${#IPT4[@]} -gt 0 ] || die 5 "IPTABLES is empty"
[ ${#IPT6[@]} -gt 0 ] || die 5 "IP6TABLES is empty"
need_tool "${IPT4[0]}" "apt-get install iptables, or set IPTABLES"
need_tool "${IPT6[0]}" "apt-get install iptables, or set IP6TABLES"
if [ "$side" = primary ]; then
	need_tool "${TCCMD[0]}" "apt-get install iproute2, or set TC"
fi
need_tool "${IPCMD[0]}" "apt-get install iproute2, or set IP"

# Run a command, keeping its stderr for the error message.
errout=
run() {
	local rc=0
	errout=$("$@" 2>&1 >/dev/null) || rc=$?
	return $rc
}

# ---------------------------------------------------------------------------
# Modules and bridge netfilter

module_loaded() {
	[ -d "/sys/module/$1" ]
}

load_module() {
	local m=$1 ko
	module_loaded "$m" && return 0
	modprobe -q "$m" 2>/dev/null && return 0
	if [ -n "${COLO_MODULE_DIR:-}" ]; then
		ko=$COLO_MODULE_DIR/$m.ko
		[ -f "$ko" ] || die 5 "module $m: modprobe failed and $ko does not exist"
		run insmod "$ko" ||
			die 5 "module $m: insmod $ko failed: $errout"
		return 0
	fi
	die 5 "module $m not available (modprobe $m failed; set COLO_MODULE_DIR to load it from a build tree)"
}

load_modules() {
	local m
	command -v modprobe >/dev/null 2>&1 || need_tool insmod "apt-get install kmod"
	# Stock dependencies first: insmod does not resolve them.
	for m in nf_conntrack nf_defrag_ipv4 nf_defrag_ipv6 x_tables \
		 br_netfilter xt_physdev xt_comment; do
		load_module "$m"
	done
	for m in nf_conntrack_colo nfnetlink_colo; do
		load_module "$m"
	done
	if [ "$side" = primary ]; then
		load_module xt_PMYCOLO
		for m in sch_ingress cls_matchall act_mirred; do
			load_module "$m"
		done
	else
		load_module xt_SECCOLO
	fi
}

check_br_netfilter() {
	local f v
	for f in bridge-nf-call-iptables bridge-nf-call-ip6tables; do
		v=$(cat "/proc/sys/net/bridge/$f" 2>/dev/null) ||
			die 5 "/proc/sys/net/bridge/$f missing (br_netfilter not loaded in this network namespace?)"
		[ "$v" = 1 ] ||
			die 5 "net.bridge.$f is $v: bridged traffic would bypass the COLO rules (sysctl -w net.bridge.$f=1)"
	done
}

# ---------------------------------------------------------------------------
# Interfaces

# Through ip(8), not /sys: correct in whatever network namespace we run.
if_exists() {
	"${IPCMD[@]}" link show dev "$1" >/dev/null 2>&1
}

# The bridge an interface is a port of, or nothing.
if_bridge() {
	local line m
	line=$("${IPCMD[@]}" -o link show dev "$1" 2>/dev/null) || return 0
	[[ $line =~ \ master\ ([^ ]+) ]] || return 0
	m=${BASH_REMATCH[1]}
	"${IPCMD[@]}" -d -o link show dev "$m" 2>/dev/null | grep -q ' bridge ' &&
		echo "$m"
	return 0
}

if_warn_down() {
	local line
	local flags
	line=$("${IPCMD[@]}" -o link show dev "$1" 2>/dev/null) || return 0
	flags=${line#*<}
	flags=${flags%%>*}
	[[ ,$flags, == *,UP,* ]] || warn "$1 is down"
	return 0
}

check_topology() {
	local tbr fbr line p ports
	if_exists "$tap" || die 5 "tap '$tap' does not exist"
	if_exists "$fwd" || die 5 "forward NIC '$fwd' does not exist"
	tbr=$(if_bridge "$tap")
	fbr=$(if_bridge "$fwd")
	[ -n "$tbr" ] ||
		die 5 "'$tap' is not a bridge port (-m physdev needs the tap on a bridge)"
	if [ "$side" = primary ]; then
		[ -z "$fbr" ] ||
			die 5 "forward NIC '$fwd' is a port of bridge '$fbr': the primary needs a dedicated, unbridged forward NIC"
	else
		[ "$tbr" = "$fbr" ] ||
			die 5 "'$tap' (bridge $tbr) and '$fwd' (bridge ${fbr:-none}) must be ports of the same bridge on the secondary"
		# No process substitution: /dev/fd may be missing (minimal systems).
		ports=$("${IPCMD[@]}" -o link show master "$tbr" 2>/dev/null) || ports=
		while IFS= read -r line; do
			[[ $line =~ ^[0-9]+:\ ([^:@ ]+) ]] || continue
			p=${BASH_REMATCH[1]}
			[ "$p" = "$tap" ] || [ "$p" = "$fwd" ] ||
				warn "bridge $tbr has another port '$p': the SVM's output must only leave over '$fwd'"
		done <<<"$ports"
	fi
	if_warn_down "$tap"
	if_warn_down "$fwd"
}

# ---------------------------------------------------------------------------
# iptables / ip6tables

# The rule body after "-I PREROUTING" / "-C PREROUTING".
rule_spec() {
	if [ "$side" = primary ]; then
		echo "-m physdev --physdev-in $tap -m comment --comment $tag -j PMYCOLO --index $index --forward-dev $fwd"
	else
		echo "-m physdev --physdev-in $tap -m comment --comment $tag -j SECCOLO --index $index"
	fi
}

# Number (1-based) of the first rule in mangle PREROUTING carrying our tag.
tagged_rule_num() {
	local -n ipt=$1
	local listing line n=0
	listing=$("${ipt[@]}" -w -t mangle -S PREROUTING 2>/dev/null) || return 2
	while IFS= read -r line; do
		case $line in
		"-A PREROUTING "*) n=$((n + 1)) ;;
		*) continue ;;
		esac
		if [[ $line =~ --comment\ \"?$tag\"?( |$) ]]; then
			echo "$n"
			return 0
		fi
	done <<<"$listing"
	return 1
}

ipt_uninstall() {
	local name=$1 num rc i
	local -n cmd=$1
	for ((i = 0; i < 1000; i++)); do
		rc=0
		num=$(tagged_rule_num "$name") || rc=$?
		case $rc in
		0) ;;
		1) return 0 ;;
		*) echo "cannot list mangle PREROUTING with ${cmd[*]}"; return 1 ;;
		esac
		if ! run "${cmd[@]}" -w -t mangle -D PREROUTING "$num"; then
			echo "${cmd[*]} -t mangle -D PREROUTING $num: $errout"
			return 1
		fi
	done
	echo "too many rules tagged $tag"
	return 1
}

ipt_install() {
	local -n cmd=$1
	local spec
	read -r -a spec <<<"$(rule_spec)"
	if run "${cmd[@]}" -w -t mangle -C PREROUTING "${spec[@]}"; then
		return 0
	fi
	if ! run "${cmd[@]}" -w -t mangle -I PREROUTING 1 "${spec[@]}"; then
		echo "${cmd[*]} -t mangle -I PREROUTING 1 ${spec[*]}: $errout"
		return 1
	fi
}

# ---------------------------------------------------------------------------
# tc (primary)

tc_filter_present() {
	"${TCCMD[@]}" filter get dev "$tap" egress protocol all pref "$tc_pref" \
		handle "$index" matchall >/dev/null 2>&1
}

tc_install() {
	if ! "${TCCMD[@]}" qdisc show dev "$tap" 2>/dev/null | grep -q '^qdisc clsact '; then
		if ! run "${TCCMD[@]}" qdisc add dev "$tap" clsact; then
			echo "tc qdisc add dev $tap clsact: $errout"
			return 1
		fi
	fi
	tc_filter_present && return 0
	if ! run "${TCCMD[@]}" filter add dev "$tap" egress protocol all \
		pref "$tc_pref" handle "$index" matchall \
		action mirred egress mirror dev "$fwd"; then
		echo "tc filter add dev $tap egress ... mirror dev $fwd: $errout"
		return 1
	fi
}

tc_uninstall() {
	if_exists "$tap" || return 0
	if tc_filter_present; then
		if ! run "${TCCMD[@]}" filter del dev "$tap" egress protocol all \
			pref "$tc_pref" handle "$index" matchall; then
			echo "tc filter del dev $tap egress pref $tc_pref handle $index: $errout"
			return 1
		fi
	fi
	# Drop the clsact qdisc once nothing is attached to it any more.
	if "${TCCMD[@]}" qdisc show dev "$tap" 2>/dev/null | grep -q '^qdisc clsact ' &&
	   [ -z "$("${TCCMD[@]}" filter show dev "$tap" ingress 2>/dev/null)" ] &&
	   [ -z "$("${TCCMD[@]}" filter show dev "$tap" egress 2>/dev/null)" ]; then
		run "${TCCMD[@]}" qdisc del dev "$tap" clsact ||
			warn "tc qdisc del dev $tap clsact: $errout"
	fi
	return 0
}

# ---------------------------------------------------------------------------

do_uninstall() {
	local msg failed=0
	msg=$(ipt_uninstall IPT4) || { echo "$PROG: $msg" >&2; failed=1; }
	msg=$(ipt_uninstall IPT6) || { echo "$PROG: $msg" >&2; failed=1; }
	if [ "$side" = primary ]; then
		msg=$(tc_uninstall) || { echo "$PROG: $msg" >&2; failed=1; }
	fi
	return $failed
}

do_install() {
	local msg
	load_modules
	check_br_netfilter
	check_topology
	if [ "$side" = primary ]; then
		msg=$(tc_install) || { rollback "$msg"; }
	fi
	msg=$(ipt_install IPT4) || { rollback "$msg"; }
	msg=$(ipt_install IPT6) || { rollback "$msg"; }
	return 0
}

# A half-installed VM is worse than none: remove everything tagged, then fail.
rollback() {
	echo "$PROG: $1" >&2
	do_uninstall || echo "$PROG: rollback incomplete: remove the rules tagged $tag by hand" >&2
	exit 6
}

case $action in
install)
	do_install
	;;
uninstall)
	do_uninstall || exit 6
	;;
esac
exit 0
