#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# guest-net-colo: the test guest's network state across a real QEMU 7.2 COLO
# checkpoint and failover under KVM, driven by colod (--no-proxy).
#
# Both QEMUs get the same e1000 (same MAC, same command line), each on a
# unix datagram netdev whose other end is guest-net-colo-peer.py. The peer
# downloads from the primary, keeping to output commit itself (it
# acknowledges only what came before the checkpoint it requests), kills
# the primary, fails the secondary over, and the secondary must finish the
# same TCP connection byte-exact from the checkpoint's state, answer UDP
# state with the primary's nonce and accept new connections. No proxy and
# no client namespace: that is the full-stack run's part.
#
# exit 0 = pass, 4 = skip (reason on stdout), else fail.
# timeout: 200

set -u -o pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QEMU=${QEMU:-qemu-system-x86_64}
VMID=${COLO_NET_VMID:-8}
MAC=52:54:00:c0:10:01
rc=0
T=
pids=()

log() { echo "# $*"; }
ok() { echo "ok - $*"; }
fail() { echo "not ok - $*"; rc=1; }
skip() { echo "SKIP reason: $*"; exit 4; }

cleanup() {
	local p f
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
		if [ $rc -ne 0 ] || [ -n "${COLO_NET_KEEP:-}" ]; then
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

command -v "$QEMU" >/dev/null || skip "$QEMU not installed"
command -v socat >/dev/null || skip "socat not installed"
command -v python3 >/dev/null || skip "python3 not installed"
[ -e /dev/kvm ] || skip "/dev/kvm missing (COLO in QEMU 7.2 deadlocks under TCG)"
[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm not accessible to $(id -un)"
make -s -C "$SRC/tests/guest" >/dev/null 2>&1 ||
	skip "cannot build the 32-bit test guest (gcc -m32: gcc-multilib missing?)"
GUEST=$SRC/tests/guest/colo-guest.elf
make -s -C "$SRC/qemu-glue" colod >/dev/null || { fail "build colod"; exit 1; }
COLOD=$SRC/qemu-glue/colod

T=$(mktemp -d /tmp/guest-net-colo.XXXXXX)
mkdir "$T/p" "$T/s"
QARGS=(-enable-kvm -cpu qemu64,-pni -m 32 -nodefaults -display none
       -no-user-config -kernel "$GUEST" -append "ip=192.168.77.2 gw=none pages=64")
QBOOT=/usr/share/qemu/qboot.rom
[ -r "$QBOOT" ] && QARGS+=(-bios "$QBOOT")
nic() { # nic DIR: the e1000 on DIR's datagram sockets
	echo "-netdev dgram,id=n0,local.type=unix,local.path=$1/qemu.sock,remote.type=unix,remote.path=$1/peer.sock"
	echo "-device e1000,netdev=n0,romfile=,mac=$MAC"
}

timeout -k 2 30 "$QEMU" "${QARGS[@]}" -serial "file:$T/probe.serial" \
	</dev/null >"$T/probe.log" 2>&1 &
probe=$!; pids+=($probe)
wait_for 25 grep -aqs "count=" "$T/probe.serial"
kill "$probe" 2>/dev/null; wait "$probe" 2>/dev/null
grep -aq 'count=' "$T/probe.serial" 2>/dev/null ||
	skip "KVM does not run the test guest: $(head -c 300 "$T/probe.log" | tr '\n' ' ')"

port=
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % 30000))
	ss -ltnH "sport = :$p" 2>/dev/null | grep -q . || { port=$p; break; }
done
[ -n "$port" ] || { fail "no free loopback port"; exit 1; }

mapfile -t snic < <(nic "$T/s")
mapfile -t pnic < <(nic "$T/p")
# shellcheck disable=SC2086
timeout -k 5 170 "$QEMU" "${QARGS[@]}" -name colo-net-svm ${snic[0]} ${snic[1]} \
	-serial "file:$T/s.serial" -qmp "unix:$T/s.qmp,server=on,wait=off" \
	-incoming "tcp:127.0.0.1:$port" -pidfile "$T/s.pid" </dev/null >"$T/s.qemu.log" 2>&1 &
pids+=($!)
# in a subshell: the peer SIGKILLs this QEMU, and bash would report that
# shellcheck disable=SC2086
(timeout -k 5 170 "$QEMU" "${QARGS[@]}" -name colo-net-pvm ${pnic[0]} ${pnic[1]} \
	-serial "file:$T/p.serial" -qmp "unix:$T/p.qmp,server=on,wait=off" \
	-pidfile "$T/p.pid" </dev/null >"$T/p.qemu.log" 2>&1; exit $?) 2>/dev/null &
pvm=$!; pids+=($pvm)
wait_for 30 grep -aqs 'net nic=e1000' "$T/p.serial" || { fail "primary guest's NIC did not come up"; exit 1; }
nonce=$(grep -a 'start nonce=' "$T/p.serial" | head -n 1 | sed 's/.*nonce=\([0-9a-f]*\).*/\1/')
log "primary guest nonce $nonce"

timeout -k 5 160 "$COLOD" --vm "$VMID" --side secondary --qmp "$T/s.qmp" \
	--start --no-proxy --failover manual --ctl "$T/s.sock" 2>"$T/s.colod.log" &
pids+=($!)
wait_for 10 test -S "$T/s.sock" || { fail "secondary colod did not come up"; exit 1; }
timeout -k 5 160 "$COLOD" --vm "$VMID" --side primary --qmp "$T/p.qmp" \
	--start --peer "tcp:127.0.0.1:$port" --checkpoint-delay 20000 \
	--min-interval 50 --no-proxy --ctl "$T/p.sock" 2>"$T/p.colod.log" &
pids+=($!)
if wait_for 40 grep -qs 'entered COLO' "$T/p.colod.log"; then
	ok "primary entered COLO"
else
	fail "primary did not enter COLO"; cat "$T/p.colod.log"; exit 1
fi

timeout -k 2 120 python3 "$SRC/tests/host/guest-net-colo-peer.py" "$T" >"$T/peer.out" 2>&1 &
peer=$!; pids+=($peer)
wait "$peer"; prc=$?
wait "$pvm" 2>/dev/null		# the peer killed it
sed 's/^/  /' "$T/peer.out"
[ "$prc" = 0 ] && ok "TCP connection, state and new connections carried over by COLO" ||
	fail "COLO network peer: exit $prc"
grep -h 'checkpoint .* pause=' "$T/p.colod.log" | tail -n 3 | sed 's/^/# /'
if grep -aq BAD "$T/s.serial" "$T/p.serial"; then
	fail "a guest found a lost dirty page"
else
	ok "dirty pages consistent on both guests"
fi
[ $rc -eq 0 ] && echo "PASS: guest-net-colo" || echo "FAIL: guest-net-colo"
exit $rc
