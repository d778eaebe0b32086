#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# guest-net: the test guest's network stack (tests/guest, e1000 NIC) under
# KVM, without COLO.
#
# 1. Raw frames: QEMU's e1000 on a unix datagram netdev whose other end is
#    guest-net-peer.py, which speaks Ethernet frames itself: the guest's
#    ARP for its gateway (resolve), ARP reply, ICMP echo, UDP echo and state,
#    RST for a closed port, TCP handshake with MSS, an out-of-order segment
#    not acknowledged beyond what was received, bad IP/ICMP/UDP/TCP
#    checksums ignored, retransmission on the timer, FIN both ways, 'get'
#    within the MSS and ISNs from the TSC; IPv6 neighbour discovery, ICMPv6
#    echo (a bad checksum ignored), UDP and TCP over IPv6.
# 2. Through QEMU user networking (loopback hostfwd only): UDP echo and
#    state, the state service's nonce against the guest's COM1, a 1 MB
#    download byte-exact against tests/vm/pmycolo-util.py's pattern, two
#    downloads in parallel, a reply ending in FIN, and the figures: boot time,
#    throughput.
#
# exit 0 = pass, 4 = skip (reason on stdout), else fail. Every wait is
# bounded and everything started is killed on exit.
# timeout: 120

set -u -o pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MB=${GUEST_NET_MB:-1}
MAC=52:54:00:c0:10:01
KEEP=${GUEST_NET_KEEP:-}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# expected SHA-256 of the first N bytes of the pattern
pattern_sha() {
	python3 - "$1" "$SRC/tests/vm/pmycolo-util.py" <<'PY'
import hashlib, importlib.util, sys
spec = importlib.util.spec_from_file_location("u", sys.argv[2])
u = importlib.util.module_from_spec(spec); spec.loader.exec_module(u)
print(hashlib.sha256(u.stream(0, int(sys.argv[1]))).hexdigest())
PY
}

# --- prerequisites -------------------------------------------------------
host_need_kvm "the guest is for COLO, which needs KVM" python3
host_guest
host_qemu_setup guest-net
host_kvm_probe
if grep -a 'colo-guest net' "$T/probe.serial" | grep -avq 'net none'; then
	fail "without a NIC the guest printed network status"
else
	ok "KVM runs the test guest; without a NIC it says 'net none'"
fi
log "probe done at ${SECONDS} s"

# --- 1. raw frames against the python peer ----------------------------------
mkdir "$T/peer"
timeout -k 2 60 python3 "$SRC/tests/host/guest-net-peer.py" "$T/peer" \
	>"$T/peer.out" 2>&1 &
peer=$!; pids+=($peer)
wait_for 10 test -e "$T/peer/peer.ready" || { fail "peer did not start"; exit 1; }
timeout -k 2 60 "$QEMU" "${QARGS[@]}" -name guest-net-peer \
	-serial "file:$T/peer.serial" -pidfile "$T/peer.pid" \
	-netdev "dgram,id=n0,local.type=unix,local.path=$T/peer/qemu.sock,remote.type=unix,remote.path=$T/peer/peer.sock" \
	-device "e1000,netdev=n0,romfile=,mac=$MAC" \
	-append "ip=192.168.77.2 gw=192.168.77.1 ip6=fd00:c010::2" </dev/null >"$T/peer.qemu.log" 2>&1 &
pids+=($!)
wait "$peer"; prc=$?
sed 's/^/  /' "$T/peer.out"
log "raw-frame phase done at ${SECONDS} s"
[ "$prc" = 0 ] && ok "raw-frame peer: all checks passed" ||
	fail "raw-frame peer: exit $prc"
if grep -aq "net gw 192.168.77.1 is-at 02:00:00:c0:ff:ee" "$T/peer.serial"; then
	ok "guest printed its gateway's MAC (ARP resolve)"
else
	fail "guest did not resolve its gateway: $(grep -a 'net gw' "$T/peer.serial")"
fi
grep -aq "net nic=e1000 mac=$MAC ip=192.168.77.2 " "$T/peer.serial" &&
	ok "network status on COM1 (MAC from the NIC, IP from the command line)" ||
	fail "no network status line on COM1"
peer_qemu=${pids[-1]}
kill -TERM "$(cat "$T/peer.pid" 2>/dev/null)" 2>/dev/null
wait "$peer_qemu" 2>/dev/null

# --- 2. QEMU user networking, loopback forwards ------------------------------
port=$(free_port 2) || { fail "no free loopback port"; exit 1; }
t0=$(now_ms)
timeout -k 2 90 "$QEMU" "${QARGS[@]}" -name guest-net-user \
	-serial "file:$T/user.serial" -pidfile "$T/user.pid" \
	-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:5000,hostfwd=udp:127.0.0.1:$port-:5000,hostfwd=udp:127.0.0.1:$((port + 1))-:7" \
	-device "e1000,netdev=n0,romfile=,mac=$MAC" </dev/null >"$T/user.qemu.log" 2>&1 &
pids+=($!)
wait_for 30 grep -aqs 'net nic=e1000' "$T/user.serial" || { fail "guest did not bring its NIC up"; exit 1; }
t1=$(now_ms)
nonce=$(grep -a 'start nonce=' "$T/user.serial" | head -n 1 | sed 's/.*nonce=\([0-9a-f]*\).*/\1/')
st=
for _ in $(seq 1 20); do
	st=$(printf 'state\n' | timeout 3 socat -t 5 -T 1 - "TCP:127.0.0.1:$port" 2>/dev/null) && [ -n "$st" ] && break
	sleep 0.3
done
t2=$(now_ms)
log "boot: QEMU start to NIC up $((t1 - t0)) ms, to the first TCP answer $((t2 - t0)) ms"
case $st in
"state nonce=$nonce boot="*" served="*) ok "TCP state answers the boot nonce of COM1 ($st)" ;;
*) fail "TCP state: '$st' (COM1 nonce $nonce)" ;;
esac
a=$(printf 'ping colo\n' | timeout 5 socat -t 1.5 -T 1.5 - "UDP:127.0.0.1:$((port + 1))" 2>/dev/null)
[ "$a" = "ping colo" ] && ok "UDP echo through user networking" || fail "UDP echo: '$a'"
a=$(printf 'state\n' | timeout 5 socat -t 1.5 -T 1.5 - "UDP:127.0.0.1:$port" 2>/dev/null)
case $a in
"state nonce=$nonce "*) ok "UDP state: $a" ;;
*) fail "UDP state: '$a'" ;;
esac
a=$(printf 'clock\n' | timeout 5 socat -t 5 -T 2 - "TCP:127.0.0.1:$port" 2>/dev/null)
case $a in
"clock nonce=$nonce tick="????????" tsc="????????????????) ok "TCP clock: $a" ;;
*) fail "TCP clock: '$a'" ;;
esac

n=$((MB * 1048576))
want=$(pattern_sha "$n")
t0=$(now_ms)
got=$(printf 'get %d\n' "$n" | timeout 60 socat -t 30 -T 20 - "TCP:127.0.0.1:$port" 2>"$T/dl.err" |
	tee "$T/dl.bin" | sha256sum | cut -d' ' -f1)
t1=$(now_ms)
sz=$(stat -c %s "$T/dl.bin")
ms=$((t1 - t0)); [ $ms -gt 0 ] || ms=1
if [ "$got" = "$want" ]; then
	ok "TCP download of $n bytes byte-exact, closed by the guest ($ms ms, $((n * 1000 / ms / 1024)) KiB/s)"
	rm -f "$T/dl.bin"
else
	fail "TCP download: $sz bytes, sha256 $got, want $want"
fi

half=$((n / 2))
want2=$(pattern_sha "$half")
t0=$(now_ms)
for i in 1 2; do
	(printf 'get %d\n' "$half" | timeout 60 socat -t 30 -T 20 - "TCP:127.0.0.1:$port" 2>/dev/null |
		sha256sum | cut -d' ' -f1 > "$T/par$i.sha") &
	pids+=($!)
done
wait_for 70 sh -c "[ -s '$T/par1.sha' ] && [ -s '$T/par2.sha' ]"
t1=$(now_ms)
ms=$((t1 - t0)); [ $ms -gt 0 ] || ms=1
if [ "$(cat "$T/par1.sha")" = "$want2" ] && [ "$(cat "$T/par2.sha")" = "$want2" ]; then
	ok "two parallel downloads of $half bytes each byte-exact ($ms ms, $((n * 1000 / ms / 1024)) KiB/s together)"
else
	fail "parallel downloads: $(cat "$T/par1.sha" "$T/par2.sha" | tr '\n' ' ') want $want2"
fi
a=$(printf 'stats\n' | timeout 5 socat -t 5 -T 2 - "TCP:127.0.0.1:$port" 2>/dev/null)
log "guest $a"
if grep -aq BAD "$T/user.serial" "$T/peer.serial"; then
	fail "a guest found a lost dirty page"
else
	ok "dirty pages consistent while serving"
fi
grep -aq "nonce=$nonce count=" "$T/user.serial" && ok "guest kept printing its count lines" ||
	fail "no count lines while serving"

log "done in ${SECONDS} s"
[ $rc -eq 0 ] && echo "PASS: guest-net" || echo "FAIL: guest-net"
exit $rc
