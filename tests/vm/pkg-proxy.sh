#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The Debian packages at work: pmycolo-diverge (hold, checkpoint notice,
# release of the PVM's exact bytes) run with the packaged modules, plugins and
# programs only. tests/run-all builds the .debs (make deb), unpacks both into
# tests/out/pkg/root and has dkms build and install the packaged module
# sources there for each kernel; this test points COLO_SRC at a tree made of
# nothing but those files (modules from root/lib/modules/KVER/updates/dkms,
# plugins from root/usr/lib/*/xtables, colo-ctl from root/usr/sbin) and
# checks that those are the ones loaded and run. The timeout is the wrapped
# test's (240 s) plus room for the checks and a loaded machine.
# timeout: 400
source "$COLO_SRC/tests/lib.sh"

root=$COLO_SRC/tests/out/pkg/root
mods=$root/lib/modules/$COLO_KVER/updates/dkms
xtdir=$(ls -d "$root"/usr/lib/*/xtables 2>/dev/null | head -n1)
ko_of() { ls "$mods/$1.ko" "$mods/$1.ko.xz" "$mods/$1.ko.zst" 2>/dev/null | head -n1; }
[ -n "$(ko_of xt_PMYCOLO)" ] || skip "no packaged modules for $COLO_KVER in $mods (make check T=pkg-proxy builds them)"
[ -n "$xtdir" ] && [ -x "$root/usr/sbin/colo-ctl" ] || skip "no packaged tools in $root"

tree=/tmp/pkg-src
rm -rf "$tree"
mkdir -p "$tree"
# dkms installs them compressed where the kernel's own are (6.12: .ko.xz);
# lib.sh insmods $COLO_SRC/NAME.ko.
for m in nf_conntrack_colo nfnetlink_colo xt_PMYCOLO xt_SECCOLO; do
	f=$(ko_of $m)
	case $f in
	*.xz) xz -dc "$f" > "$tree/$m.ko" ;;
	*.zst) zstd -qdc "$f" > "$tree/$m.ko" ;;
	*) ln -s "$f" "$tree/$m.ko" ;;
	esac
done
ln -s "$xtdir" "$tree/libxt"
ln -s "$root/usr/sbin" "$tree/qemu-glue"
ln -s "$COLO_SRC/tests" "$tree/tests"

check "packaged modules were built by dkms for $COLO_KVER" \
	test "$(modinfo -F vermagic "$(ko_of xt_PMYCOLO)" | cut -d' ' -f1)" = "$COLO_KVER"
# Load them the way the test would (lib.sh), then prove those are loaded.
COLO_SRC=$tree colo_load_modules || { fail "packaged modules load"; colo_exit; }
for m in nf_conntrack_colo nfnetlink_colo xt_PMYCOLO xt_SECCOLO; do
	check "$m loaded from the package (srcversion)" \
		test "$(cat /sys/module/$m/srcversion)" = "$(modinfo -F srcversion "$(ko_of $m)")"
done
check "colo-ctl is the packaged one" \
	test "$(PATH=$tree/qemu-glue:$PATH command -v colo-ctl)" = "$tree/qemu-glue/colo-ctl"
check "the packaged colo-ctl knows its version" \
	sh -c "'$tree/qemu-glue/colo-ctl' --version | grep -q '^colo-ctl '"

log "pmycolo-diverge with COLO_SRC=$tree"
COLO_SRC=$tree bash "$tree/tests/vm/pmycolo-diverge.sh"
rc=$?
check "pmycolo-diverge with the packaged modules and tools (exit $rc)" [ $rc = 0 ]
colo_exit
