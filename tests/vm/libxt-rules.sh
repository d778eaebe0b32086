#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# PMYCOLO/SECCOLO rules through the real iptables/ip6tables, legacy and nft:
# add rules for registered VMs, check the -S/-L/save text, flush, restore the
# saved text and compare byte for byte; refuse bad rules with a message.
# Everything happens in a network namespace of our own (VMs are per netns).
# timeout: 180
source "$COLO_SRC/tests/lib.sh"

PVM=11		# registered primary
SVM=12		# registered secondary
NOVM=13		# never registered
FWD=fwd0

tmp=$(mktemp -d /tmp/libxt-rules.XXXXXX)
ns=
reg_pids=()

nsx() { ip netns exec "$ns" "$@"; }

# teardown: drop the current namespace's rules, registrations and the namespace.
teardown() {
	local b p
	if [ -n "$ns" ] && ip netns list 2>/dev/null | grep -qw "$ns"; then
		for b in legacy nft; do
			command -v "iptables-$b" >/dev/null || continue
			nsx "iptables-$b" -t mangle -F 2>/dev/null
			nsx "ip6tables-$b" -t mangle -F 2>/dev/null
			nsx "iptables-$b" -t filter -F 2>/dev/null
			nsx "ip6tables-$b" -t filter -F 2>/dev/null
		done
	fi
	for p in "${reg_pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	reg_pids=()
	[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
	ns=
}

cleanup() {
	teardown
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# Preconditions

for p in PMYCOLO SECCOLO; do
	[ -f "$COLO_SRC/libxt/libxt_$p.so" ] ||
		skip "libxt/libxt_$p.so not built (make -C libxt)"
done
command -v colo-ctl >/dev/null || skip "colo-ctl not built (qemu-glue/colo-ctl)"
colo-ctl --help 2>&1 | grep -qw register ||
	skip "colo-ctl has no 'register' command"
for m in nf_conntrack_colo nfnetlink_colo xt_PMYCOLO xt_SECCOLO; do
	[ -f "$COLO_SRC/$m.ko" ] || skip "$m.ko not built"
done
mapfile -t backends < <(colo_iptables_backends)
[ ${#backends[@]} -gt 0 ] || skip "neither iptables-legacy nor iptables-nft installed"

if ! colo_load_modules; then
	fail "load modules"
	colo_exit
fi
ok "modules loaded"

# ---------------------------------------------------------------------------
# Helpers

# setup_ns BACKEND: a fresh namespace with the forward device and VM $PVM
# registered as primary, $SVM as secondary (by colo-ctl in the background).
setup_ns() {
	ns=colo-libxt-$1-$$
	if ! ip netns add "$ns"; then
		fail "$1: netns add"
		ns=
		return 1
	fi
	nsx ip link set lo up
	# The forward device exists, whatever the kernel wants of it.
	if ! nsx ip link add "$FWD" type dummy || ! nsx ip link set "$FWD" up; then
		fail "$1: create $FWD"
		return 1
	fi
	register "$1" $PVM primary && register "$1" $SVM secondary
}

# register BACKEND VMID MODE: hold a registration until teardown.
register() {
	local b=$1 id=$2 mode=$3
	ip netns exec "$ns" colo-ctl register "$id" "$mode" >"$tmp/reg-$b-$id.log" 2>&1 &
	reg_pids+=($!)
	if busywait 5000 nsx colo-ctl status "$id" >/dev/null 2>&1; then
		ok "$b: VM $id registered as $mode"
		return 0
	fi
	fail "$b: VM $id registered as $mode: $(tail -n3 "$tmp/reg-$b-$id.log")"
	return 1
}

# expect_text NAME FILE: FILE must equal the text on stdin.
expect_text() {
	local name=$1 file=$2
	if diff -u - "$file" >"$tmp/diff"; then
		ok "$name"
	else
		fail "$name"
		sed 's/^/#   /' "$tmp/diff"
	fi
}

# save_norm: iptables-save output on stdin without the comment lines (they
# carry a timestamp) and the chain counters.
save_norm() {
	grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]$//'
}

# refused NAME PATTERN CMD...: the rule must be refused, stderr matching PATTERN
# (extended regexp, empty for any), and the kernel log since the attempt must
# match KPATTERN if set (for refusals that come from the kernel, whose own
# message only goes to the kernel log).
KPATTERN=
refused() {
	local name=$1 pattern=$2 rc
	shift 2
	colo_dmesg_mark
	nsx "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc -eq 0 ]; then
		fail "$name (accepted)"
		return
	fi
	sed 's/^/#   stderr: /' "$tmp/err"
	if [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$tmp/err"; then
		fail "$name (message does not match '$pattern')"
		return
	fi
	if [ -n "$KPATTERN" ]; then
		colo_dmesg_since | sed 's/^/#   kernel: /'
		if ! colo_dmesg_since | grep -Eq -- "$KPATTERN"; then
			fail "$name (no kernel message matching '$KPATTERN')"
			return
		fi
	fi
	ok "$name (rc $rc)"
}

# ---------------------------------------------------------------------------
# Per backend, each in a namespace of its own

for b in "${backends[@]}"; do
	ipt=iptables-$b
	ip6t=ip6tables-$b
	log "backend $b"
	if ! setup_ns "$b"; then
		teardown
		continue
	fi

	check "$b: PMYCOLO IPv4 rule added" nsx $ipt -t mangle -A PREROUTING -i tap0 \
		-j PMYCOLO --index $PVM --forward-dev $FWD
	check "$b: PMYCOLO IPv6 rule added" nsx $ip6t -t mangle -A PREROUTING -i tap0 \
		-j PMYCOLO --index $PVM --forward-dev $FWD
	check "$b: SECCOLO IPv4 rule added" nsx $ipt -t mangle -A PREROUTING -i tap1 \
		-j SECCOLO --index $SVM
	check "$b: SECCOLO IPv6 rule added" nsx $ip6t -t mangle -A PREROUTING -i tap1 \
		-j SECCOLO --index $SVM

	for cmd in $ipt $ip6t; do
		nsx $cmd -t mangle -S PREROUTING >"$tmp/S" 2>"$tmp/err"
		expect_text "$cmd -S" "$tmp/S" <<-EOF
		-P PREROUTING ACCEPT
		-A PREROUTING -i tap0 -j PMYCOLO --index $PVM --forward-dev $FWD
		-A PREROUTING -i tap1 -j SECCOLO --index $SVM
		EOF

		nsx $cmd -t mangle -L PREROUTING -n >"$tmp/L" 2>"$tmp/err"
		check "$cmd -L shows PMYCOLO" \
			grep -Eq "^PMYCOLO .* PMYCOLO index $PVM forward-dev $FWD\$" "$tmp/L"
		check "$cmd -L shows SECCOLO" \
			grep -Eq "^SECCOLO .* SECCOLO index $SVM\$" "$tmp/L"

		# save, flush, restore the saved text, save: identical (but for
		# the timestamp comments and the counters)
		nsx $cmd-save -t mangle >"$tmp/save1-raw"
		save_norm <"$tmp/save1-raw" >"$tmp/save1"
		check "$cmd-save has the PMYCOLO rule" grep -qxF -e \
			"-A PREROUTING -i tap0 -j PMYCOLO --index $PVM --forward-dev $FWD" "$tmp/save1"
		check "$cmd-save has the SECCOLO rule" grep -qxF -e \
			"-A PREROUTING -i tap1 -j SECCOLO --index $SVM" "$tmp/save1"
		nsx $cmd -t mangle -F PREROUTING
		nsx $cmd -t mangle -S PREROUTING >"$tmp/S" 2>"$tmp/err"
		expect_text "$cmd flushed" "$tmp/S" <<<"-P PREROUTING ACCEPT"
		if nsx "$cmd-restore" <"$tmp/save1-raw" 2>"$tmp/err"; then
			ok "$cmd-restore of the saved text"
		else
			fail "$cmd-restore of the saved text: $(head -n1 "$tmp/err")"
		fi
		nsx $cmd-save -t mangle | save_norm >"$tmp/save2"
		if cmp -s "$tmp/save1" "$tmp/save2"; then
			ok "$cmd save/restore/save byte-identical"
		else
			fail "$cmd save/restore/save byte-identical"
			diff -u "$tmp/save1" "$tmp/save2" | sed 's/^/#   /'
		fi
	done

	# Bad rules. Refused by the plugin (message checked exactly) ...
	KPATTERN=
	refused "$b: PMYCOLO without --index" 'PMYCOLO: option "--index" must be specified' \
		$ipt -t mangle -A PREROUTING -j PMYCOLO --forward-dev $FWD
	refused "$b: PMYCOLO without --forward-dev" 'PMYCOLO: option "--forward-dev" must be specified' \
		$ipt -t mangle -A PREROUTING -j PMYCOLO --index $PVM
	refused "$b: SECCOLO without --index" 'SECCOLO: option "--index" must be specified' \
		$ip6t -t mangle -A PREROUTING -j SECCOLO
	refused "$b: PMYCOLO --index 0" 'PMYCOLO: bad value for option "--index", or out of range \(1-16777215\)' \
		$ipt -t mangle -A PREROUTING -j PMYCOLO --index 0 --forward-dev $FWD
	refused "$b: PMYCOLO bad --forward-dev" "PMYCOLO: bad --forward-dev \"a/b\": interface name must not contain '/'" \
		$ipt -t mangle -A PREROUTING -j PMYCOLO --index $PVM --forward-dev a/b

	# ... and by the kernel, whose reason goes to the kernel log: our modules
	# name the VM id, x_tables names the table/hook.
	KPATTERN="xt_PMYCOLO: .*\\<$NOVM\\>"
	refused "$b: PMYCOLO for an unregistered VM" '' \
		$ipt -t mangle -A PREROUTING -j PMYCOLO --index $NOVM --forward-dev $FWD
	KPATTERN="xt_SECCOLO: .*\\<$NOVM\\>"
	refused "$b: SECCOLO for an unregistered VM" '' \
		$ip6t -t mangle -A PREROUTING -j SECCOLO --index $NOVM
	KPATTERN="xt_PMYCOLO: .*\\<$SVM\\>"
	refused "$b: PMYCOLO naming a secondary VM" '' \
		$ipt -t mangle -A PREROUTING -j PMYCOLO --index $SVM --forward-dev $FWD
	KPATTERN="xt_SECCOLO: .*\\<$PVM\\>"
	refused "$b: SECCOLO naming a primary VM" '' \
		$ipt -t mangle -A PREROUTING -j SECCOLO --index $PVM
	KPATTERN="PMYCOLO.*only valid in mangle table"
	refused "$b: PMYCOLO in the filter table" '' \
		$ipt -t filter -A INPUT -j PMYCOLO --index $PVM --forward-dev $FWD
	KPATTERN="PMYCOLO.*only usable from PREROUTING"
	refused "$b: PMYCOLO in mangle INPUT" '' \
		$ipt -t mangle -A INPUT -j PMYCOLO --index $PVM --forward-dev $FWD
	KPATTERN="SECCOLO.*only usable from PREROUTING"
	refused "$b: SECCOLO in mangle POSTROUTING" '' \
		$ip6t -t mangle -A POSTROUTING -j SECCOLO --index $SVM
	KPATTERN=

	# Nothing of the refused rules is left behind.
	for cmd in $ipt $ip6t; do
		for t in mangle filter; do
			n=2
			[ $t = filter ] && n=0
			check "$cmd $t: only the good rules" \
				[ "$(nsx $cmd -t $t -S 2>/dev/null | grep -cE 'PMYCOLO|SECCOLO')" -eq $n ]
		done
	done

	# Registration gone: new rules are refused, the old ones stay listable
	# and deletable.
	kill "${reg_pids[0]}" 2>/dev/null
	wait "${reg_pids[0]}" 2>/dev/null
	if busywait 5000 sh -c "! ip netns exec $ns colo-ctl status $PVM >/dev/null 2>&1"; then
		ok "$b: VM $PVM gone after its colo-ctl exited"
	else
		fail "$b: VM $PVM gone after its colo-ctl exited"
	fi
	KPATTERN="xt_PMYCOLO: .*\\<$PVM\\>"
	refused "$b: PMYCOLO for a VM that went away" '' \
		$ipt -t mangle -A PREROUTING -i tap2 -j PMYCOLO --index $PVM --forward-dev $FWD
	KPATTERN=
	nsx $ipt -t mangle -S PREROUTING >"$tmp/S" 2>"$tmp/err"
	expect_text "$ipt -S after the VM went away" "$tmp/S" <<-EOF
	-P PREROUTING ACCEPT
	-A PREROUTING -i tap0 -j PMYCOLO --index $PVM --forward-dev $FWD
	-A PREROUTING -i tap1 -j SECCOLO --index $SVM
	EOF
	check "$b: rule of a gone VM deleted" nsx $ipt -t mangle -D PREROUTING \
		-i tap0 -j PMYCOLO --index $PVM --forward-dev $FWD

	teardown
done

colo_exit
