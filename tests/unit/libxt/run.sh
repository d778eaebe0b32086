#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host-side tests of libxt_PMYCOLO.so / libxt_SECCOLO.so. No COLO kernel module
# is needed:
#  - xtharness loads each plugin through libxtables (as iptables does) and
#    checks the option parsing, the exact print/save text and that the saved
#    text parses back to the same bytes;
#  - the real iptables/ip6tables (legacy and nft) print --help, report option
#    errors, show the rule through ->print() (-v) and parse the saved text
#    (iptables-restore --test). Those run in a private network namespace
#    (unshare -n) so the host's tables are never touched; where that is not
#    possible they are skipped.
#
# Env: XTHARNESS (the harness binary), LIBXT_DIR (directory of the plugins).

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LIBXT_DIR:=$here/../../../libxt}"
: "${XTHARNESS:=$here/xtharness}"
sys_xtlibdir=$(pkg-config --variable=xtlibdir xtables 2>/dev/null)
: "${sys_xtlibdir:=/usr/lib/x86_64-linux-gnu/xtables}"
export XTABLES_LIBDIR="$LIBXT_DIR:$sys_xtlibdir"
export LC_ALL=C

npass=0
nfail=0
nskip=0

pass() { echo "PASS: libxt/$1"; npass=$((npass + 1)); }
fail() { echo "FAIL: libxt/$1 ($2)"; nfail=$((nfail + 1)); }
skip() { echo "SKIP: libxt/$1 ($2)"; nskip=$((nskip + 1)); }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for f in "$LIBXT_DIR/libxt_PMYCOLO.so" "$LIBXT_DIR/libxt_SECCOLO.so" "$XTHARNESS"; do
	if [ ! -e "$f" ]; then
		fail build "$f missing"
		echo "# libxt: $npass passed, $nfail failed, $nskip skipped"
		exit 1
	fi
done

# ---------------------------------------------------------------------------
# 1. libxtables harness: formats, round trip, errors

# harness FAMILY TARGET ARGS...: run it, stdout in $tmp/out, stderr in $tmp/err
harness() {
	"$XTHARNESS" "$@" >"$tmp/out" 2>"$tmp/err"
}

field() { sed -n "s/^$1://p" "$tmp/out"; }

# expect_ok NAME FAMILY TARGET "ARGS" PRINT SAVE
expect_ok() {
	local name=$1 fam=$2 tg=$3 args=$4 want_print=$5 want_save=$6
	local got_print got_save data data2 save2

	# shellcheck disable=SC2086 # ARGS is a word list on purpose
	if ! harness "$fam" "$tg" $args; then
		fail "$name" "rejected: $(head -n1 "$tmp/err")"
		return
	fi
	got_print=$(field print)
	got_save=$(field save)
	data=$(field data)
	if [ "$got_print" != "$want_print" ]; then
		fail "$name" "print is '$got_print', want '$want_print'"
		return
	fi
	if [ "$got_save" != "$want_save" ]; then
		fail "$name" "save is '$got_save', want '$want_save'"
		return
	fi
	# The saved words must parse back to the very same bytes and text.
	# shellcheck disable=SC2086
	if ! harness "$fam" "$tg" $got_save; then
		fail "$name" "saved form rejected: $(head -n1 "$tmp/err")"
		return
	fi
	data2=$(field data)
	save2=$(field save)
	if [ "$data2" != "$data" ] || [ "$save2" != "$got_save" ]; then
		fail "$name" "round trip differs: $data/$data2 '$got_save'/'$save2'"
		return
	fi
	pass "$name"
}

# expect_err NAME FAMILY TARGET MESSAGE ARGS...
expect_err() {
	local name=$1 fam=$2 tg=$3 msg=$4
	shift 4
	harness "$fam" "$tg" "$@"
	local rc=$?
	if [ $rc -ne 2 ]; then
		fail "$name" "exit status $rc, want 2"
	elif ! grep -qF -- "$msg" "$tmp/err"; then
		fail "$name" "message '$(head -n1 "$tmp/err")' lacks '$msg'"
	else
		pass "$name"
	fi
}

for fam in -4 -6; do
	v=ipv${fam#-}
	expect_ok "harness-$v-pmycolo" $fam PMYCOLO "--index 5 --forward-dev eth1" \
		" PMYCOLO index 5 forward-dev eth1" " --index 5 --forward-dev eth1"
	expect_ok "harness-$v-pmycolo-order" $fam PMYCOLO "--forward-dev br0.100 --index 16777215" \
		" PMYCOLO index 16777215 forward-dev br0.100" " --index 16777215 --forward-dev br0.100"
	expect_ok "harness-$v-seccolo" $fam SECCOLO "--index 1" \
		" SECCOLO index 1" " --index 1"
	expect_ok "harness-$v-seccolo-hex" $fam SECCOLO "--index 0x10" \
		" SECCOLO index 16" " --index 16"
done

expect_ok harness-pmycolo-maxlen-dev -4 PMYCOLO "--index 7 --forward-dev abcdefghijklmno" \
	" PMYCOLO index 7 forward-dev abcdefghijklmno" " --index 7 --forward-dev abcdefghijklmno"

# A quote in an interface name is legal for the kernel; save must quote it.
if harness -4 PMYCOLO --index 3 --forward-dev 'a"b'; then
	if [ "$(field save)" = ' --index 3 --forward-dev "a\"b"' ]; then
		pass harness-pmycolo-quoted-dev
	else
		fail harness-pmycolo-quoted-dev "save is '$(field save)'"
	fi
else
	fail harness-pmycolo-quoted-dev "rejected: $(head -n1 "$tmp/err")"
fi

# The kernel pointer must stay out of the compared/saved part.
harness -4 PMYCOLO --index 1 --forward-dev x
d=$(field data)
if [ ${#d} -eq 48 ]; then pass harness-pmycolo-userspacesize
else fail harness-pmycolo-userspacesize "userspacesize $(( ${#d} / 2 )), want 24"; fi
harness -4 SECCOLO --index 1
d=$(field data)
if [ ${#d} -eq 16 ]; then pass harness-seccolo-userspacesize
else fail harness-seccolo-userspacesize "userspacesize $(( ${#d} / 2 )), want 8"; fi

# Error cases, NAME MESSAGE ARGS. Shared by the harness and the real iptables.
err_cases=(
	"pmycolo-no-options|PMYCOLO|PMYCOLO: option \"--index\" must be specified|"
	"pmycolo-no-index|PMYCOLO|PMYCOLO: option \"--index\" must be specified|--forward-dev eth1"
	"pmycolo-no-forward-dev|PMYCOLO|PMYCOLO: option \"--forward-dev\" must be specified|--index 5"
	"pmycolo-index-0|PMYCOLO|PMYCOLO: bad value for option \"--index\", or out of range (1-16777215)|--index 0 --forward-dev eth1"
	"pmycolo-index-too-big|PMYCOLO|PMYCOLO: bad value for option \"--index\", or out of range (1-16777215)|--index 16777216 --forward-dev eth1"
	"pmycolo-index-negative|PMYCOLO|PMYCOLO: bad value for option \"--index\", or out of range (1-16777215)|--index -1 --forward-dev eth1"
	"pmycolo-index-garbage|PMYCOLO|PMYCOLO: bad value for option \"--index\", or out of range (1-16777215)|--index 5x --forward-dev eth1"
	"pmycolo-index-twice|PMYCOLO|PMYCOLO: option \"--index\" can only be used once|--index 5 --index 6 --forward-dev eth1"
	"pmycolo-dev-twice|PMYCOLO|PMYCOLO: option \"--forward-dev\" can only be used once|--index 5 --forward-dev a --forward-dev b"
	"pmycolo-dev-slash|PMYCOLO|PMYCOLO: bad --forward-dev \"a/b\": interface name must not contain '/'|--index 5 --forward-dev a/b"
	"pmycolo-dev-colon|PMYCOLO|PMYCOLO: bad --forward-dev \"eth0:1\": interface name must not contain ':'|--index 5 --forward-dev eth0:1"
	"pmycolo-dev-too-long|PMYCOLO|PMYCOLO: bad --forward-dev \"abcdefghijklmnop\": interface name is too long (at most 15 characters)|--index 5 --forward-dev abcdefghijklmnop"
	"pmycolo-dev-dot|PMYCOLO|PMYCOLO: bad --forward-dev \".\": \".\" and \"..\" are not interface names|--index 5 --forward-dev ."
	"pmycolo-dev-dotdot|PMYCOLO|PMYCOLO: bad --forward-dev \"..\": \".\" and \"..\" are not interface names|--index 5 --forward-dev .."
	"pmycolo-invert|PMYCOLO|PMYCOLO: option \"--index\" cannot be inverted|! --index 5 --forward-dev eth1"
	"pmycolo-unknown-option|PMYCOLO|unknown option \"--bogus\"|--index 5 --forward-dev eth1 --bogus"
	"seccolo-no-index|SECCOLO|SECCOLO: option \"--index\" must be specified|"
	"seccolo-index-0|SECCOLO|SECCOLO: bad value for option \"--index\", or out of range (1-16777215)|--index 0"
	"seccolo-forward-dev|SECCOLO|unknown option \"--forward-dev\"|--index 5 --forward-dev eth1"
)
# Cases whose argument cannot be written as a plain word list.
special_err_cases() {
	local runner=$1
	$runner pmycolo-dev-empty PMYCOLO \
		'PMYCOLO: bad --forward-dev "": interface name is empty' --index 5 --forward-dev ''
	$runner pmycolo-dev-space PMYCOLO \
		'PMYCOLO: bad --forward-dev "a b": interface name must not contain whitespace' \
		--index 5 --forward-dev 'a b'
	$runner pmycolo-dev-tab PMYCOLO \
		"PMYCOLO: bad --forward-dev \"a$(printf '\t')b\": interface name must not contain whitespace" \
		--index 5 --forward-dev "a$(printf '\t')b"
}

run_err_cases() {
	local runner=$1 c name tg msg args
	for c in "${err_cases[@]}"; do
		IFS='|' read -r name tg msg args <<<"$c"
		# shellcheck disable=SC2086
		$runner "$name" "$tg" "$msg" $args
	done
	special_err_cases "$runner"
}

harness_err() { local name=$1; shift; expect_err "harness-$name" -4 "$@"; }
run_err_cases harness_err

# ---------------------------------------------------------------------------
# 2. The real iptables binaries

backends=()
for b in legacy nft; do
	command -v "iptables-$b" >/dev/null 2>&1 && backends+=("$b")
done
if [ ${#backends[@]} -eq 0 ]; then
	skip iptables "neither iptables-legacy nor iptables-nft installed"
fi

# --help needs no kernel at all.
for b in "${backends[@]}"; do
	for ipt in iptables ip6tables; do
		cmd=$ipt-$b
		command -v "$cmd" >/dev/null 2>&1 || { skip "$cmd-help" "$cmd not installed"; continue; }
		"$cmd" -j PMYCOLO --help >"$tmp/out" 2>"$tmp/err"
		rc=$?
		if [ $rc -ne 0 ]; then
			fail "$cmd-help-pmycolo" "exit status $rc: $(tail -n1 "$tmp/err")"
		elif ! grep -q '^PMYCOLO target options:$' "$tmp/out" ||
		     ! grep -q '^  --index N  .*(1-16777215)$' "$tmp/out" ||
		     ! grep -q '^  --forward-dev DEV  ' "$tmp/out" ||
		     ! grep -q 'COLO_CMD_PROXY_INIT' "$tmp/out"; then
			fail "$cmd-help-pmycolo" "help text incomplete"
		else
			pass "$cmd-help-pmycolo"
		fi
		"$cmd" -j SECCOLO --help >"$tmp/out" 2>"$tmp/err"
		rc=$?
		if [ $rc -ne 0 ]; then
			fail "$cmd-help-seccolo" "exit status $rc: $(tail -n1 "$tmp/err")"
		elif ! grep -q '^SECCOLO target options:$' "$tmp/out" ||
		     ! grep -q '^  --index N  .*(1-16777215)$' "$tmp/out" ||
		     grep -q -- '--forward-dev' "$tmp/out"; then
			fail "$cmd-help-seccolo" "help text wrong"
		else
			pass "$cmd-help-seccolo"
		fi
	done
done

# Everything below gives iptables a rule: only inside a private netns (as
# root, or as a non-root user through a user namespace where that is allowed).
if unshare -n true 2>/dev/null; then
	unshare_args=(-n)
elif unshare -rn true 2>/dev/null; then
	unshare_args=(-r -n)
else
	unshare_args=()
fi

# in_ns CMD...: run in a fresh network namespace of its own.
in_ns() { unshare "${unshare_args[@]}" "$@"; }

[ ${#unshare_args[@]} -gt 0 ] || {
	skip iptables-netns "cannot create a network namespace (unshare -n): rule parsing with the real iptables not tested"
	backends=()
}
for b in "${backends[@]}"; do
	for ipt in iptables ip6tables; do
		cmd=$ipt-$b
		command -v "$cmd" >/dev/null 2>&1 || continue
		if ! in_ns "$cmd" -t mangle -S >/dev/null 2>"$tmp/err"; then
			skip "$cmd" "no usable $b mangle table here: $(tail -n1 "$tmp/err")"
			continue
		fi

		# Option errors, reported before the kernel is asked.
		real_err() {
			local name=$1 tg=$2 msg=$3 rc
			shift 3
			in_ns "$cmd" -t mangle -A PREROUTING -j "$tg" "$@" >"$tmp/out" 2>"$tmp/err"
			rc=$?
			if [ $rc -ne 2 ]; then
				fail "$cmd-$name" "exit status $rc, want 2: $(grep -v '^Warning' "$tmp/err" | head -n1)"
			elif ! grep -qF -- "$msg" "$tmp/err"; then
				fail "$cmd-$name" "message '$(grep -v '^Warning' "$tmp/err" | head -n1)' lacks '$msg'"
			else
				pass "$cmd-$name"
			fi
		}
		run_err_cases real_err

		# A good rule is parsed; with -v iptables shows it through ->print()
		# before the kernel refuses it (no xt_PMYCOLO on the host) or takes it.
		for t in "PMYCOLO --index 5 --forward-dev eth1|PMYCOLO index 5 forward-dev eth1" \
			 "SECCOLO --index 9|SECCOLO index 9"; do
			rule=${t%%|*}
			want=${t#*|}
			name=$cmd-print-${rule%% *}
			# shellcheck disable=SC2086
			in_ns "$cmd" -v -t mangle -A PREROUTING -i tap0 -j $rule >"$tmp/out" 2>"$tmp/err"
			if grep -q -- "[[:space:]]$want\$" "$tmp/out"; then
				pass "$name"
			else
				fail "$name" "no '$want' in: $(head -n1 "$tmp/out") $(grep -v '^Warning' "$tmp/err" | head -n1)"
			fi
		done

		# The saved form (from the harness) is accepted by iptables-restore.
		fam=-4
		[ "$ipt" = ip6tables ] && fam=-6
		# The literal quote in the last one is the point: a"b as device.
		# shellcheck disable=SC2089,SC2090
		for rule in "PMYCOLO --index 5 --forward-dev eth1" "SECCOLO --index 9" \
			    "PMYCOLO --index 77 --forward-dev a\"b"; do
			# shellcheck disable=SC2086,SC2090
			harness $fam ${rule%% *} ${rule#* } || { fail "$cmd-restore" "harness"; continue; }
			want_print=$(field print)
			save=$(field save)
			name=$cmd-restore-${rule%% *}
			case $rule in *'"'*) name=$name-quoted ;; esac
			printf '*mangle\n-A PREROUTING -j %s%s\nCOMMIT\n' "${rule%% *}" "$save" >"$tmp/rules"
			in_ns "$cmd-restore" --test -v <"$tmp/rules" >"$tmp/out" 2>"$tmp/err"
			rc=$?
			if [ $rc -ne 0 ]; then
				fail "$name" "exit status $rc: $(grep -v '^Warning' "$tmp/err" | head -n1)"
			elif [ "$b" = legacy ] && ! grep -qF -- " $want_print" "$tmp/out"; then
				# legacy restore -v shows the parsed rule: it must print
				# exactly like the rule the save text came from.
				fail "$name" "reparsed rule prints differently: $(grep -F "${rule%% *}" "$tmp/out" | tail -n1)"
			else
				pass "$name"
			fi
		done
	done
done

# ---------------------------------------------------------------------------
# 3. iptables-translate: the xtables compat form with the options as a comment,
#    which nft refuses to load (a translated ruleset never silently lacks the
#    proxy).

xl_tail=": no nftables equivalent, add this rule with iptables-nft"
xlate_case() { # NAME WANT COMMAND...
	local name=$1 want=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ $rc -ne 0 ]; then
		fail "$name" "exit status $rc: $(head -n1 "$tmp/err")"
	elif [ "$(cat "$tmp/out")" != "$want" ]; then
		fail "$name" "got '$(cat "$tmp/out")', want '$want'"
	else
		pass "$name"
	fi
}
if command -v iptables-translate >/dev/null 2>&1 && command -v ip6tables-translate >/dev/null 2>&1; then
	xlate_case xlate-ipv4-pmycolo \
		"nft 'add rule ip mangle PREROUTING iifname \"tap0\" counter xt target PMYCOLO # --index 5 --forward-dev eth1$xl_tail'" \
		iptables-translate -t mangle -A PREROUTING -i tap0 -j PMYCOLO --index 5 --forward-dev eth1
	xlate_case xlate-ipv6-pmycolo \
		"nft 'add rule ip6 mangle PREROUTING iifname \"tap0\" counter xt target PMYCOLO # --index 16777215 --forward-dev br0.100$xl_tail'" \
		ip6tables-translate -t mangle -A PREROUTING -i tap0 -j PMYCOLO --index 16777215 --forward-dev br0.100
	xlate_case xlate-ipv4-seccolo \
		"nft 'add rule ip mangle PREROUTING iifname \"tap0\" counter xt target SECCOLO # --index 9$xl_tail'" \
		iptables-translate -t mangle -A PREROUTING -i tap0 -j SECCOLO --index 9
	xlate_case xlate-ipv6-seccolo \
		"nft 'add rule ip6 mangle PREROUTING counter xt target SECCOLO # --index 1$xl_tail'" \
		ip6tables-translate -t mangle -A PREROUTING -j SECCOLO --index 1
	# quotes in a device name must not break the shell quoting of the output
	xlate_case xlate-pmycolo-quoted-dev \
		"nft 'add rule ip mangle PREROUTING counter xt target PMYCOLO # --index 3 --forward-dev a??b$xl_tail'" \
		iptables-translate -t mangle -A PREROUTING -j PMYCOLO --index 3 --forward-dev "a'\"b"
	printf '*mangle\n-A PREROUTING -i tap0 -j PMYCOLO --index 7 --forward-dev eth1\n-A PREROUTING -i tap1 -j SECCOLO --index 7\nCOMMIT\n' >"$tmp/rules"
	if iptables-restore-translate -f "$tmp/rules" >"$tmp/nft" 2>"$tmp/err" &&
	   grep -qx "add rule ip mangle PREROUTING iifname \"tap0\" counter xt target PMYCOLO # --index 7 --forward-dev eth1$xl_tail" "$tmp/nft" &&
	   grep -qx "add rule ip mangle PREROUTING iifname \"tap1\" counter xt target SECCOLO # --index 7$xl_tail" "$tmp/nft"; then
		pass xlate-restore
	else
		fail xlate-restore "$(head -n1 "$tmp/err") $(grep PREROUTING "$tmp/nft" | head -n1)"
	fi
	# nft must refuse the translation, naming iptables-nft.
	if ! command -v nft >/dev/null 2>&1 || [ ${#unshare_args[@]} -eq 0 ]; then
		skip xlate-nft-refuses "nft or a private network namespace missing"
	else
		sed 's/^add table ip mangle$/add table ip mangle\nadd chain ip mangle PREROUTING { type filter hook prerouting priority mangle; }/' \
			"$tmp/nft" >"$tmp/nft2"
		if in_ns nft -c -f "$tmp/nft2" >"$tmp/out" 2>&1; then
			fail xlate-nft-refuses "nft accepted the translated rules"
		elif grep -q 'unsupported xtables compat expression, use iptables-nft' "$tmp/out"; then
			pass xlate-nft-refuses
		else
			fail xlate-nft-refuses "nft: $(head -n1 "$tmp/out")"
		fi
	fi
else
	skip xlate "iptables-translate not installed"
fi

# ---------------------------------------------------------------------------
# 4. Man page

if command -v groff >/dev/null 2>&1 && [ -f "$LIBXT_DIR/colo-iptables.8" ]; then
	if groff -man -ww -z "$LIBXT_DIR/colo-iptables.8" 2>"$tmp/err" && [ ! -s "$tmp/err" ]; then
		pass manpage
	else
		fail manpage "groff: $(head -n1 "$tmp/err")"
	fi
else
	skip manpage "groff or colo-iptables.8 missing"
fi

echo "# libxt: $npass passed, $nfail failed, $nskip skipped"
[ $nfail -eq 0 ]
