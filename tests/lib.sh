#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Helpers for the VM tests (tests/vm/*.sh). Source it; it sets -u and pipefail.

set -u -o pipefail

ksft_pass=0
ksft_fail=1
ksft_skip=4

: "${COLO_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${COLO_KVER:=$(uname -r)}"
export COLO_SRC COLO_KVER
export XTABLES_LIBDIR="$COLO_SRC/libxt:/usr/lib/x86_64-linux-gnu/xtables"
export PATH="$COLO_SRC/qemu-glue:$PATH"

colo_rc=0

log() { echo "# $*"; }

# ok/not ok sub-checks; any failure makes the test fail at colo_exit.
ok() { echo "ok - $*"; }
fail() { echo "not ok - $*"; colo_rc=1; }

# check "description" command...: runs the command, records ok/not ok.
check() {
	local what=$1; shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

# check_fails "description" command...: the command must fail.
check_fails() {
	local what=$1; shift
	if "$@"; then fail "$what (unexpectedly succeeded)"; else ok "$what"; fi
}

skip() { echo "SKIP reason: $*"; exit $ksft_skip; }

# colo_exit: the test's result. A COLO topology's output-commit oracle
# (topo.sh) runs first, so that its verdict counts.
colo_exit() {
	if declare -F topo_oracle >/dev/null; then topo_oracle; fi
	exit $colo_rc
}

# busywait TIMEOUT_MS command...: retry until the command succeeds.
busywait() {
	local timeout_ms=$1; shift
	local start now
	start=$(date +%s%3N)
	while true; do
		"$@" && return 0
		now=$(date +%s%3N)
		[ $((now - start)) -ge "$timeout_ms" ] && return 1
		sleep 0.1
	done
}

# Load our modules in dependency order (idempotent).
colo_load_modules() {
	local m
	modprobe -q nf_conntrack || return 1
	modprobe -q x_tables || true
	for m in nf_conntrack_colo nfnetlink_colo xt_PMYCOLO xt_SECCOLO; do
		grep -q "^$m " /proc/modules && continue
		[ -f "$COLO_SRC/$m.ko" ] || { echo "missing $COLO_SRC/$m.ko" >&2; return 1; }
		insmod "$COLO_SRC/$m.ko" || return 1
	done
}

colo_unload_modules() {
	local m rc=0
	for m in xt_SECCOLO xt_PMYCOLO nfnetlink_colo nf_conntrack_colo; do
		grep -q "^$m " /proc/modules || continue
		rmmod "$m" || rc=1
	done
	return $rc
}

# Kernel log since the test started (for tests that grep it).
colo_dmesg_mark() { dmesg | wc -l > /tmp/.dmesg_mark.$$; }
colo_dmesg_since() { dmesg | tail -n +$(( $(cat /tmp/.dmesg_mark.$$ 2>/dev/null || echo 0) + 1 )); }

# Both iptables backends, for tests that loop over them.
colo_iptables_backends() {
	local b
	for b in legacy nft; do
		command -v "iptables-$b" >/dev/null && echo "$b"
	done
}
