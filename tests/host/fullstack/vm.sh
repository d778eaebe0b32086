#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The test VM's half of tests/host/fullstack.sh (not part of the VM suite):
# the host runs the PVM and SVM (the test guest under KVM, QEMU 7.2 COLO
# between them) and wires their NICs into this VM, where the primary and
# secondary hosts, the proxy and a client are namespaces (tests/topo.sh with
# the real NICs as the guests' ports). colod runs here for each side and
# reaches its QEMU's QMP over QEMU's user networking (guestfwd to the
# QEMU's QMP socket on the host, a new connection each time).
#
# $COLO_FS_DIR/params (written by the host side): FS_VMID, FS_PORT (the
# SVM's migration port on the host), FS_PMAC/FS_SMAC/FS_CMAC (this VM's
# NICs: to the PVM, to the SVM, the control link).
# timeout: 420
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

[ -n "${COLO_FS_DIR:-}" ] && [ -r "$COLO_FS_DIR/params" ] ||
	skip "run by tests/host/fullstack.sh (COLO_FS_DIR not set)"
# shellcheck source=/dev/null
source "$COLO_FS_DIR/params"
client="/usr/bin/python3 $COLO_SRC/tests/host/fullstack/client.py"
util="/usr/bin/python3 $COLO_SRC/tests/vm/pmycolo-util.py"
genl="/usr/bin/python3 $COLO_SRC/tests/vm/genl.py"
ipt=iptables-nft
ip6t=ip6tables-nft
run=/run/colo-fs
mkdir -p $run
pids=()

cleanup() {
	local p
	topo_teardown
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
}
trap cleanup EXIT

nic_of() { # MAC: the name of this VM's NIC with that address
	local d
	for d in /sys/class/net/*; do
		[ "$(cat "$d/address")" = "$1" ] && { basename "$d"; return 0; }
	done
	return 1
}
stat_of() { ip netns exec "$TOPO_PN" $genl get --id "$FS_VMID" --field "$1"; }
fatal() { fail "$*"; colo_exit; }

modprobe virtio_net
busywait 10000 nic_of "$FS_CMAC" >/dev/null || fatal "no control NIC ($FS_CMAC)"
cnic=$(nic_of "$FS_CMAC"); pnic=$(nic_of "$FS_PMAC"); snic=$(nic_of "$FS_SMAC")
[ -n "$pnic" ] && [ -n "$snic" ] || fatal "no NICs to the guests ($FS_PMAC, $FS_SMAC)"

# The control link: 10.0.2.100/101 are the QMP sockets of the PVM/SVM,
# 10.0.2.102 prints the host's clock: QMP's event times are the host's and
# the epoch cut compares them with this kernel's packet times, so this VM's
# clock is kept a little ahead of the host's (clock.py says why).
ip addr add 10.0.2.15/24 dev "$cnic" && ip link set "$cnic" up
clock="/usr/bin/python3 $COLO_SRC/tests/host/fullstack/clock.py 10.0.2.102 4444 20"
$clock 0 > $run/clock0.log 2>&1 || fatal "cannot read the host's clock: $(cat $run/clock0.log)"
log "$(cat $run/clock0.log), set 20 ms ahead"
$clock 1 > $run/clock.log 2>&1 & pids+=($!)
socat UNIX-LISTEN:$run/p.qmp,fork TCP:10.0.2.100:4444 & pids+=($!)
socat UNIX-LISTEN:$run/s.qmp,fork TCP:10.0.2.101:4444 & pids+=($!)

colo_load_modules || fatal "cannot load the modules"
TOPO_PVM_NIC=$pnic TOPO_SVM_NIC=$snic TOPO_MIRROR=0 topo_setup || fatal "topology"
TOPO_ORACLE_VM=$FS_VMID
ok "topology: PVM on $pnic, SVM on $snic, QMP over $cnic"

# secondary first: colod registers the VM and waits for the incoming COLO
ip netns exec "$TOPO_SN" colod --vm "$FS_VMID" --side secondary --qmp $run/s.qmp \
	--start --failover manual --ctl $run/s.sock -v 2> "$TOPO_DIR/s.colod.log" & pids+=($!)
busywait 30000 test -S $run/s.sock || fatal "secondary colod did not come up: $(tail -n 5 "$TOPO_DIR/s.colod.log")"
check "proxy script: secondary install" ip netns exec "$TOPO_SN" env IPTABLES=$ipt IP6TABLES=$ip6t \
	"$COLO_SRC/scripts/colo-proxy-script.sh" secondary install fwd0 vport-svm "$FS_VMID"

ip netns exec "$TOPO_PN" colod --vm "$FS_VMID" --side primary --qmp $run/p.qmp \
	--start --peer "tcp:127.0.0.1:$FS_PORT" --checkpoint-delay 600000 --min-interval 50 \
	--hold-timeout "${FS_HOLD_TIMEOUT:-1000}" \
	--ctl $run/p.sock -v 2> "$TOPO_DIR/p.colod.log" & pids+=($!)
busywait 30000 test -S $run/p.sock || fatal "primary colod did not come up: $(tail -n 5 "$TOPO_DIR/p.colod.log")"
check "proxy script: primary install" ip netns exec "$TOPO_PN" env IPTABLES=$ipt IP6TABLES=$ip6t \
	"$COLO_SRC/scripts/colo-proxy-script.sh" primary install fwd0 vport-pvm "$FS_VMID"
if busywait 90000 grep -q 'entered COLO' "$TOPO_DIR/p.colod.log"; then
	ok "primary entered COLO"
else
	fatal "primary did not enter COLO: $(tail -n 8 "$TOPO_DIR/p.colod.log" | tr '\n' '|')"
fi
topo_ns "$TOPO_CL" ping -c 1 -W 20 $TOPO_VM4 >/dev/null
ckpt_requests() { grep -c 'checkpoint [0-9]* reason=needed' "$TOPO_DIR/p.colod.log"; }

# 1. identical output: nothing compared differs, no notice, no checkpoint
n0=$(stat_of notifies); c0=$(ckpt_requests)
check "10 MB download from the guest, byte-exact" topo_cl $util get $TOPO_VM4 5000 10485760 --timeout 120
check "1000 UDP echoes, each exact" topo_cl $util udp $TOPO_VM4 7 1000 --timeout 30
n1=$(stat_of notifies); c1=$(ckpt_requests)
log "identical output: notices $n0 -> $n1, requested checkpoints $c0 -> $c1, matched_bytes $(stat_of matched_bytes)"
check "identical output: no notice" [ "$n1" = "$n0" ]
check "identical output: no checkpoint asked for" [ "$c1" = "$c0" ]

# 2. divergent output: "clock" differs, one notice, one real checkpoint; the
# same connection's later output matches with no further checkpoint
out=$(topo_cl $client clockget $TOPO_VM4 5000 300000)
check "divergent answer released, then 300000 bytes exact on the same connection ($out)" \
	[ "${out%% *}" = OK ]
n2=$(stat_of notifies); c2=$(ckpt_requests)
log "divergence: notices $n1 -> $n2, requested checkpoints $c1 -> $c2"
check "divergence: one notice" [ "$n2" = $((n1 + 1)) ]
check "divergence: one checkpoint asked for, done" [ "$c2" = $((c1 + 1)) ]
out=$(topo_cl $client udp $TOPO_VM4 5000 state)
check "after the checkpoint both guests answer state alike ($out)" [ "${out%% *}" = OK ]
n3=$(stat_of notifies)
check "after the checkpoint: no notice for the guest state" [ "$n3" = "$n2" ]

log "$(tail -n 1 $run/clock.log) ($(wc -l < $run/clock.log) readings)"
for f in p s; do
	grep -v 'checkpoint [0-9]* reason=' "$TOPO_DIR/$f.colod.log" | head -n 40 | sed "s/^/# $f: /"
	grep 'checkpoint [0-9]* reason=' "$TOPO_DIR/$f.colod.log" | head -n 5 | sed "s/^/# $f: /"
done
log "stats: $(ip netns exec "$TOPO_PN" colo-ctl status "$FS_VMID" 2>/dev/null | tr -s ' \n' ' ' | cut -c1-600)"
colo_exit
