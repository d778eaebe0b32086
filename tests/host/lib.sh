# SPDX-License-Identifier: GPL-2.0
# Helpers for the host tests (tests/host/*.sh): source "$(dirname
# "${BASH_SOURCE[0]}")/lib.sh". The test guest (tests/guest) under KVM:
# prerequisites, build, QEMU's arguments, the probe boot; result lines,
# bounded waits and the cleanup of everything started.
#
# The sourcing test sets KEEP (non-empty: keep $T even when passing) and adds
# every background pid to pids; T is its scratch directory (host_tmpdir).
# exit 0 = pass, 4 = skip (reason on stdout), else fail.

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QEMU=${QEMU:-qemu-system-x86_64}
rc=0
T=
KEEP=
pids=()

log() { echo "# $*"; }
ok() { echo "ok - $*"; }
fail() { echo "not ok - $*"; rc=1; }
skip() { echo "SKIP reason: $*"; exit 4; }

cleanup() {
	local p f
	# wrappers (timeout) pass TERM on; QEMU itself is killed by its pidfile
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for f in "$T"/*.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f" 2>/dev/null)" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ $rc -ne 0 ] || [ -n "$KEEP" ]; then
			log "logs kept in $T"
		else
			rm -rf "$T"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

wait_for() { # wait_for TIMEOUT_S command...: poll every 0.1 s
	local t=$(( $1 * 10 )); shift
	while [ $t -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		t=$((t - 1))
	done
	return 1
}

# host_need_kvm WHY [COMMAND...]: skip unless QEMU, socat, the COMMANDs and a
# usable /dev/kvm are there (WHY: why the test needs KVM)
host_need_kvm() {
	local why=$1 c
	shift
	for c in "$QEMU" socat "$@"; do
		command -v "$c" >/dev/null || skip "$c not installed"
	done
	[ -e /dev/kvm ] || skip "/dev/kvm missing ($why)"
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm not accessible to $(id -un)"
}

# host_guest: build the 32-bit test guest (skip if it cannot be) -> GUEST
host_guest() {
	make -s -C "$SRC/tests/guest" >/dev/null 2>&1 ||
		skip "cannot build the 32-bit test guest (gcc -m32: gcc-multilib missing?)"
	GUEST=$SRC/tests/guest/colo-guest.elf
}

# host_colod: build colod (a failure fails the test) -> COLOD
host_colod() {
	make -s -C "$SRC/qemu-glue" colod >/dev/null || { fail "build colod"; exit 1; }
	COLOD=$SRC/qemu-glue/colod
}

# host_qemu_setup NAME: the scratch directory T (/tmp/NAME.*) and QARGS, the
# QEMU arguments that boot the test guest under KVM
host_qemu_setup() {
	T=$(mktemp -d "/tmp/$1.XXXXXX")
	# -cpu host fails on an MSR here
	QARGS=(-enable-kvm -cpu qemu64,-pni -m 32 -nodefaults -display none
	       -no-user-config -kernel "$GUEST")
	# qboot starts the guest in ~0.3 s where SeaBIOS takes seconds on a
	# loaded host
	local qboot=/usr/share/qemu/qboot.rom
	[ -r "$qboot" ] && QARGS+=(-bios "$qboot")
	return 0
}

# host_kvm_probe: does KVM run the guest at all here? (skip if not);
# its COM1 stays in $T/probe.serial
host_kvm_probe() {
	local probe
	timeout -k 2 30 "$QEMU" "${QARGS[@]}" -serial "file:$T/probe.serial" \
		</dev/null >"$T/probe.log" 2>&1 &
	probe=$!; pids+=($probe)
	wait_for 25 grep -aqs "count=" "$T/probe.serial"
	kill "$probe" 2>/dev/null; wait "$probe" 2>/dev/null
	grep -aq 'count=' "$T/probe.serial" 2>/dev/null ||
		skip "KVM does not run the test guest: $(head -c 300 "$T/probe.log" | tr '\n' ' ')"
}

# free_port [N]: a loopback port P with P..P+N-1 free for TCP and UDP
free_port() {
	local n=${1:-1} p k filter
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 30000))
		filter="sport = :$p"
		for ((k = 1; k < n; k++)); do
			filter+=" or sport = :$((p + k))"
		done
		ss -ltnuH "$filter" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}
