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

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VMID=${COLO_NET_VMID:-8}
MAC=52:54:00:c0:10:01
KEEP=${COLO_NET_KEEP:-}

host_need_kvm "COLO in QEMU 7.2 deadlocks under TCG" python3
host_guest
host_colod
host_qemu_setup guest-net-colo
QARGS+=(-append "ip=192.168.77.2 gw=none pages=64")
host_kvm_probe

port=$(free_port) || { fail "no free loopback port"; exit 1; }

host_colo_pair colo-net 170 "$port" || { fail "primary guest's NIC did not come up"; exit 1; }
pvm=$HOST_PVM_PID
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
host_colo_end guest-net-colo
