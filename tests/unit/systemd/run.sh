#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# colod@.service: systemd-analyze verify and security (offline), the options
# the unit and the example configuration pass exist in colod, the shell
# snippets parse. Prints PASS:/FAIL:/SKIP: lines.
set -u -o pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
unit=$top/systemd/colod@.service
nfail=0
pass() { echo "PASS: systemd/$1"; }
fail() { echo "FAIL: systemd/$1 ($2)"; nfail=$((nfail + 1)); }
skip() { echo "SKIP: systemd/$1 ($2)"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The unit as installed, with the programs of this tree.
sed "s|/usr/sbin/|$top/qemu-glue/|g" "$unit" > "$tmp/colod@vm7.service"
if ! command -v systemd-analyze >/dev/null 2>&1; then
	skip verify "systemd-analyze missing"
else
	if systemd-analyze verify --man=no "$tmp/colod@vm7.service" >"$tmp/out" 2>&1 && [ ! -s "$tmp/out" ]; then
		pass verify
	else
		fail verify "$(head -n1 "$tmp/out")"
	fi
	systemd-analyze security --offline=yes "$tmp/colod@vm7.service" >"$tmp/sec" 2>&1
	level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$tmp/sec")
	if [ -z "$level" ]; then
		fail security "no exposure level: $(tail -n1 "$tmp/sec")"
	elif awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
		pass "security (exposure $level)"
	else
		fail security "exposure $level > 2.0"
	fi
fi

# Every option the unit and the example configuration give colod exists.
help=$("$top/qemu-glue/colod" --help 2>&1)
set -a
# shellcheck disable=SC1090,SC1091
. "$top/systemd/colod.conf" && . "$top/systemd/vm.conf.example"
set +a
opts=$(sed -n 's/^ExecStart=[^ ]* //p' "$unit" | sed "s/\${COLO_VM}/$COLO_VM/;s/\${COLO_SIDE}/$COLO_SIDE/;s|\${COLO_QMP}|$COLO_QMP|;s/\$COLOD_OPTS/$COLOD_OPTS/")
bad=
for o in $opts; do
	case $o in --*) grep -qe "^ *$o\\b" -e ", $o\\b" -e "^Usage:.* $o " <<<"$help" || bad+=" $o" ;; esac
done
if [ -z "$bad" ]; then pass "colod-options ($opts)"; else fail colod-options "colod lacks$bad"; fi
[ "$COLO_SCRIPT" = /etc/qemu/colo-proxy-script.sh ] && pass script-path || fail script-path "$COLO_SCRIPT"

# The ExecStartPost/ExecStopPost snippets are valid sh.
n=0
while IFS= read -r line; do
	snippet=${line#*sh -c \'}
	snippet=${snippet%\'}
	if sh -n -c "$snippet" 2>"$tmp/err"; then n=$((n + 1)); else fail snippet "$(head -n1 "$tmp/err")"; fi
done < <(grep -E "^Exec(Start|Stop)Post=\+/bin/sh -c '" "$unit")
[ $n = 2 ] && pass "snippets ($n parse)" || fail snippets "$n of 2 parse"

# The snippet waits for the registration, then runs the script with the
# instance's words, in the script's argument order (SIDE ACTION FWD TAP INDEX).
grep -q '"$COLO_SCRIPT" "$COLO_SIDE" install "$COLO_FWD" "$COLO_TAP" "$COLO_VM"' "$unit" &&
grep -q '"$COLO_SCRIPT" "$COLO_SIDE" uninstall "$COLO_FWD" "$COLO_TAP" "$COLO_VM"' "$unit" &&
	pass script-arguments || fail script-arguments "install/uninstall words"
usage=$(sed -n '6,7p' "$top/scripts/colo-proxy-script.sh" | tr -d '#\\\n' | tr -s ' ')
if [ "$usage" = " Usage: colo-proxy-script.sh <primary|secondary> <install|uninstall> <forward-nic> <tap> <index>" ]; then
	pass script-usage
else
	fail script-usage "colo-proxy-script.sh usage changed: $usage"
fi

[ $nfail -eq 0 ]
