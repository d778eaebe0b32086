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

# free_port [N]: a loopback port P with P..P+N-1 free for TCP and UDP. Taken
# below the kernel's ephemeral range (ip_local_port_range), where no outgoing
# connection takes it between this check and the bind (QEMU's -incoming
# once failed so), and checked against every socket, not only listeners.
free_port() {
	local n=${1:-1} p k filter lo
	read -r lo _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	[ "$lo" -gt 12000 ] || lo=32768
	for _ in $(seq 1 50); do
		p=$((10000 + RANDOM % (lo - 10000 - n)))
		filter="sport = :$p"
		for ((k = 1; k < n; k++)); do
			filter+=" or sport = :$((p + k))"
		done
		ss -tanuH "$filter" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}

# host_colo_pair LABEL TIMEOUT_S PORT: the test guest twice under KVM (QARGS,
# both with the e1000 of MAC $MAC on the unix datagram sockets of $T/s and
# $T/p: qemu.sock there, the other end peer.sock); the secondary waits for
# the migration on 127.0.0.1:PORT. QMP $T/s.qmp, $T/p.qmp; COM1 $T/s.serial,
# $T/p.serial. Sets HOST_PVM_PID (the primary's wrapper: a test may SIGKILL
# that QEMU). Returns once the primary's NIC is up (1 if it is not in 30 s).
host_colo_pair() {
	local label=$1 to=$2 port=$3 side
	local -a nic
	for side in s p; do
		mkdir -p "$T/$side"
		nic=(-netdev "dgram,id=n0,local.type=unix,local.path=$T/$side/qemu.sock,remote.type=unix,remote.path=$T/$side/peer.sock"
		     -device "e1000,netdev=n0,romfile=,mac=$MAC")
		if [ $side = s ]; then
			timeout -k 5 "$to" "$QEMU" "${QARGS[@]}" -name "$label-svm" "${nic[@]}" \
				-serial "file:$T/s.serial" -qmp "unix:$T/s.qmp,server=on,wait=off" \
				-incoming "tcp:127.0.0.1:$port" -pidfile "$T/s.pid" </dev/null >"$T/s.qemu.log" 2>&1 &
			pids+=($!)
		else
			# in a subshell: bash would report the SIGKILL
			(timeout -k 5 "$to" "$QEMU" "${QARGS[@]}" -name "$label-pvm" "${nic[@]}" \
				-serial "file:$T/p.serial" -qmp "unix:$T/p.qmp,server=on,wait=off" \
				-pidfile "$T/p.pid" </dev/null >"$T/p.qemu.log" 2>&1; exit $?) 2>/dev/null &
			HOST_PVM_PID=$!
			pids+=($!)
		fi
	done
	wait_for 30 grep -aqs 'net nic=e1000' "$T/p.serial"
}

# host_colo_end NAME: after a host_colo_pair test, the guests' own check of
# their dirty pages (a BAD line on COM1), then the verdict line; exits.
host_colo_end() {
	if grep -aq BAD "$T/s.serial" "$T/p.serial"; then
		fail "a guest found a lost dirty page"
	else
		ok "dirty pages consistent on both guests"
	fi
	[ $rc -eq 0 ] && echo "PASS: $1" || echo "FAIL: $1"
	exit $rc
}
