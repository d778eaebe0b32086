#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Probes in Kbuild versus their use (see Makefile). Prints PASS:/FAIL: lines.
set -u -o pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$top" || exit 1
nfail=0
pass() { echo "PASS: kbuild/$1"; }
fail() { echo "FAIL: kbuild/$1 ($2)"; nfail=$((nfail + 1)); }

probed=$(sed -n 's/.*colo_probe,[^,]*,[^,]*,\(COLO_HAVE_[A-Z0-9_]*\)).*/\1/p' Kbuild | sort -u)
# kernel sources: every .c/.h outside tests/, userspace and the uapi headers
mapfile -t ksrc < <(git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null |
	grep -v -e '^tests/' -e '^libxt/' -e '^qemu-glue/' -e '^include/uapi/' -e '\.mod\.c$')
used=$(cat "${ksrc[@]}" | grep -o 'COLO_HAVE_[A-Z0-9][A-Z0-9_]*' | sort -u)

for p in $probed; do
	if grep -qx "$p" <<<"$used"; then pass "probe-used-$p"
	else fail "probe-used-$p" "Kbuild probes it, no kernel source tests it"; fi
done
for u in $used; do
	if grep -qx "$u" <<<"$probed"; then pass "use-probed-$u"
	else fail "use-probed-$u" "tested in the code, never defined by Kbuild"; fi
done
[ -n "$probed" ] || fail probes "no probe found in Kbuild"

# Each probe must be true for one tested kernel and false for another, or it
# would not be needed: evaluate the probe's grep against both header trees.
kernels=()
for s in default 6.12; do
	d=$(scripts/colo-kernels kdir "$s" 2>/dev/null) && kernels+=("$d")
done
if [ ${#kernels[@]} -lt 2 ]; then
	echo "SKIP: kbuild/probe-differs (needs the headers of both tested kernels)"
else
	while IFS=, read -r hdr re name; do
		vals=
		for d in "${kernels[@]}"; do
			# Debian splits the headers: -common holds include/, the
			# arch tree links to it (srctree vs objtree).
			src=$(sed -n 's|^include \(/.*\)/Makefile$|\1|p' "$d/Makefile" | head -n1)
			[ -n "$src" ] || src=$d
			if grep -qsE "$re" "$src/$hdr" "$d/$hdr"; then vals+=1; else vals+=0; fi
		done
		case $vals in
		*0*1*|*1*0*) pass "probe-differs-$name ($vals over ${#kernels[@]} kernels)" ;;
		*) fail "probe-differs-$name" "same result ($vals) on every tested kernel: drop it" ;;
		esac
	done < <(sed -n 's/.*colo_probe,\([^,]*\),\([^,]*\),\(COLO_HAVE_[A-Z0-9_]*\)).*/\1,\2,\3/p' Kbuild)
fi
[ $nfail -eq 0 ]
