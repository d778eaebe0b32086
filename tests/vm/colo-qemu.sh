#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# colo-qemu (the launcher) and colod against the real kernel modules, with a
# real qemu-system-x86_64 (-machine none: no guest, no CPU; a tap netdev
# needs no device and is accepted with a "has no peer" warning).
#
# Primary, in a namespace pn:  br0 { ctap0 (QEMU's tap, made a port by the
# ifup script=) }, fwd0 <-> fwd0p (forward NIC, unbridged).
#   colo-qemu --side primary --vm 41 --hold-timeout 300 -- qemu-system-x86_64
#     -machine none -netdev tap,...,colo_nicname=fwd0,colo_script=SCRIPT
#     -netdev hubport (tap) + hubport + socket,udp (a UDP socket on lo whose
#     datagrams QEMU writes to the tap as frames: "PVM output" without a guest)
# checks: the colo_ words were stripped (QEMU runs, its command line has none),
# colod registered vm 41 in the kernel (colo-ctl status: primary) and answers
# on its control socket (status; checkpoint refused: COLO not running), the
# script's install ran after the registration (PMYCOLO rules tagged
# colo-proxy:41 in iptables-save and ip6tables-save, tc mirror ctap0 -> fwd0),
# a frame out of the tap is held by PMYCOLO, the hold timeout's
# CHECKPOINT_NEEDED reaches colod, which releases it (no secondary yet);
# SIGTERM to colo-qemu: QEMU stops, uninstall ran (iptables-save identical to
# before), the VM is gone from the kernel, sockets removed.
# colod killed while QEMU runs: colo-qemu starts it again (--wait-colo), it
# registers the VM again and answers; QEMU is not touched.
# Secondary, in sn: br1 { stap0, fwd1 }: SECCOLO rules installed and removed;
# with --colod-restarts 0 a killed colod is not restarted: the guest is
# stopped (QMP query-status: paused), QEMU keeps running.
# timeout: 240
source "$COLO_SRC/tests/lib.sh"

SCRIPT=$COLO_SRC/scripts/colo-proxy-script.sh
LAUNCHER=$COLO_SRC/qemu-glue/colo-qemu
CTL=$COLO_SRC/qemu-glue/colo-ctl
PY=/usr/bin/python3
QEMU=qemu-system-x86_64
PVM=41
SVM=42
UDP_IN=7000		# QEMU's socket netdev listens here (in pn, on lo)

tmp=$(mktemp -d /tmp/colo-qemu.XXXXXX)
chmod 755 "$tmp"
pn=colo-cq-pn-$$
sn=colo-cq-sn-$$
bg_pids=()

cleanup() {
	local p
	for p in "${bg_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${bg_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	ip netns del "$pn" 2>/dev/null
	ip netns del "$sn" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

for f in "$LAUNCHER" "$COLO_SRC/qemu-glue/colod" "$CTL"; do
	[ -x "$f" ] || skip "$f not built (make -C qemu-glue)"
done
for m in nf_conntrack_colo nfnetlink_colo xt_PMYCOLO xt_SECCOLO; do
	[ -f "$COLO_SRC/$m.ko" ] || skip "$m.ko not built"
done
for f in libxt_PMYCOLO libxt_SECCOLO; do
	[ -f "$COLO_SRC/libxt/$f.so" ] || skip "libxt/$f.so not built"
done
command -v "$QEMU" >/dev/null || skip "$QEMU not installed"
[ -x "$PY" ] || skip "$PY missing"
modprobe -q tun || true
if [ ! -c /dev/net/tun ]; then
	mkdir -p /dev/net && mknod /dev/net/tun c 10 200 2>/dev/null
fi
[ -c /dev/net/tun ] || skip "/dev/net/tun missing (tun module)"
b=$(colo_iptables_backends | head -n1)
[ -n "$b" ] || skip "no iptables-legacy/iptables-nft"
log "iptables backend $b"

colo_load_modules || skip "cannot load our modules"
modprobe -q br_netfilter || skip "br_netfilter not loadable"

# Everything colo-qemu, colod and the script need, for one namespace.
nsenv() {	# nsenv NS cmd...
	local n=$1
	shift
	ip netns exec "$n" env COLO_RUN_DIR="$tmp/run.$n" COLO_MODULE_DIR="$COLO_SRC" \
		IPTABLES="iptables-$b" IP6TABLES="ip6tables-$b" "$@"
}

# The ifup script QEMU runs for the tap (script=): the tap into the bridge.
mk_ifup() {	# mk_ifup BRIDGE
	cat >"$tmp/ifup.$1" <<EOF
#!/bin/sh
ip link set "\$1" master $1 && ip link set "\$1" up
EOF
	chmod 755 "$tmp/ifup.$1"
}

snapshot() {	# snapshot NS FILE: rules that must come back identical
	{
		ip netns exec "$1" "iptables-$b-save" | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
		ip netns exec "$1" "ip6tables-$b-save" | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
		ip netns exec "$1" tc qdisc show
	} >"$2" 2>&1
}

tagged() {	# tagged NS SAVECMD INDEX TARGET: a tagged rule with that target
	ip netns exec "$1" "$2" -t mangle 2>/dev/null |
		grep -- "--comment \"\?colo-proxy:$3\"\? " | grep -q -- "-j $4 --index $3"
}

# ctl_line SOCKET LINE: one request on a colod control socket
ctl_line() {
	"$PY" - "$1" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    d = s.recv(4096)
    if not d:
        break
    buf += d
sys.stdout.write(buf.decode())
EOF
}

field() {	# field NAME LINE
	local w
	for w in $2; do
		[ "${w%%=*}" = "$1" ] && { echo "${w#*=}"; return 0; }
	done
	return 1
}

qemu_child() {	# qemu_child LAUNCHER_PID: QEMU's pid
	local p
	for p in $(pgrep -P "$1"); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "^$QEMU " && { echo "$p"; return 0; }
	done
	return 1
}

vm_gone() {	# vm_gone NS VMID
	! nsenv "$1" "$CTL" status "$2" >/dev/null 2>&1
}

stop_launcher() {	# stop_launcher PID LOG: SIGTERM, wait (bounded); sets lrc
	local t
	kill -TERM "$1"
	for t in $(seq 1 300); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2>/dev/null; then
		fail "colo-qemu still running 30 s after SIGTERM"
		kill -KILL "$1"
	fi
	lrc=0
	wait "$1" || lrc=$?
}

# ---------------------------------------------------------------------------
log "primary topology"
ip netns add "$pn" || skip "cannot create a network namespace"
ip netns add "$sn" || skip "cannot create a network namespace"
ip -n "$pn" link set lo up
ip -n "$pn" link add br0 type bridge
ip -n "$pn" link add fwd0 type veth peer name fwd0p
for d in br0 fwd0 fwd0p; do ip -n "$pn" link set "$d" up; done
for f in bridge-nf-call-iptables bridge-nf-call-ip6tables; do
	ip netns exec "$pn" sysctl -qw "net.bridge.$f=1" ||
		skip "cannot set net.bridge.$f in a namespace"
	ip netns exec "$sn" sysctl -qw "net.bridge.$f=1"
done
mk_ifup br0
mkdir -p "$tmp/run.$pn" "$tmp/run.$sn"
# Counters and tables the script creates only on install are created now, so
# that "before" and "after" compare what the script touched, not table setup.
ip netns exec "$pn" "iptables-$b" -t mangle -S >/dev/null
ip netns exec "$pn" "ip6tables-$b" -t mangle -S >/dev/null
snapshot "$pn" "$tmp/p.before"

log "primary: colo-qemu"
ip netns exec "$pn" env COLO_RUN_DIR="$tmp/run.$pn" COLO_MODULE_DIR="$COLO_SRC" \
	IPTABLES="iptables-$b" IP6TABLES="ip6tables-$b" "$LAUNCHER" --side primary --vm "$PVM" --hold-timeout 300 -v -- \
	"$QEMU" -machine none -nodefaults -display none -no-user-config \
	-netdev "tap,id=n0,ifname=ctap0,script=$tmp/ifup.br0,downscript=no,colo_nicname=fwd0,colo_script=$SCRIPT" \
	-netdev hubport,id=h0,hubid=0,netdev=n0 \
	-netdev "socket,id=s0,udp=127.0.0.1:7001,localaddr=127.0.0.1:$UDP_IN" \
	-netdev hubport,id=h1,hubid=0,netdev=s0 \
	>"$tmp/p.log" 2>&1 &
ppid_l=$!
bg_pids+=("$ppid_l")

if check "primary: install ran (PMYCOLO rule tagged colo-proxy:$PVM in iptables-$b-save)" \
	busywait 60000 tagged "$pn" "iptables-$b-save" "$PVM" PMYCOLO; then
	:
else
	echo "# launcher log:"; sed 's/^/#   /' "$tmp/p.log"
	colo_exit
fi
check "primary: QEMU runs (launcher alive)" kill -0 "$ppid_l"
qpid=$(qemu_child "$ppid_l")
cpid=$(pgrep -P "$ppid_l" -x colod)
check "primary: colod is a child of colo-qemu" [ -n "$cpid" ]
check "primary: QEMU is a child of colo-qemu" [ -n "$qpid" ]
if [ -n "$qpid" ]; then
	tr '\0' ' ' <"/proc/$qpid/cmdline" >"$tmp/p.cmdline"
	check "primary: colo_nicname/colo_script stripped from QEMU's command line" \
		bash -c "! grep -q colo_ $tmp/p.cmdline"
	check "primary: QEMU got a QMP socket" grep -q -- "-qmp unix:$tmp/run.$pn/vm$PVM.qmp" "$tmp/p.cmdline"
fi
check "primary: QEMU did not reject an option" bash -c "! grep -qi 'invalid parameter\|unexpected' $tmp/p.log"
check "primary: PMYCOLO rule in ip6tables-$b-save" busywait 10000 tagged "$pn" "ip6tables-$b-save" "$PVM" PMYCOLO
check "primary: rule names the forward NIC" \
	bash -c "ip netns exec $pn iptables-$b-save -t mangle | grep 'colo-proxy:$PVM' | grep -q -- '--forward-dev fwd0'"
check "primary: rule matches the tap" \
	bash -c "ip netns exec $pn iptables-$b-save -t mangle | grep 'colo-proxy:$PVM' | grep -q -- '--physdev-in ctap0'"
ip netns exec "$pn" tc filter show dev ctap0 egress >"$tmp/p.tc" 2>&1
check "primary: tc mirror ctap0 egress -> fwd0" grep -qi "mirror.*fwd0" "$tmp/p.tc"
check "primary: the script ran after colod registered (log order)" \
	awk "/vm $PVM registered as primary/ { c = NR } /install fwd0 ctap0/ { i = NR } END { exit !(c && i && c < i) }" "$tmp/p.log"

log "primary: kernel registration and colod's control socket"
nsenv "$pn" "$CTL" status "$PVM" >"$tmp/p.status" 2>&1
check "colo-ctl status $PVM: primary" grep -q "^vm $PVM: primary" "$tmp/p.status"
nsenv "$pn" "$CTL" status >"$tmp/p.status-all" 2>&1
check "colo-ctl status lists vm $PVM (control socket found)" grep -q "^vm $PVM: primary" "$tmp/p.status-all"
reply=$(ctl_line "$tmp/run.$pn/vm$PVM.sock" status 2>&1)
log "status: $reply"
check "colod status: ok, primary, waiting (starting), proxy on" \
	[ "$(field vm "$reply")/$(field side "$reply")/$(field state "$reply")/$(field proxy "$reply")" = "$PVM/primary/starting/on" ]
check "colod status starts with ok" [ "${reply%% *}" = ok ]
rc=0
nsenv "$pn" "$CTL" checkpoint "$PVM" --timeout 10 >"$tmp/p.cp" 2>&1 || rc=$?
check "colo-ctl checkpoint without COLO: refused (exit 1)" [ "$rc" = 1 ]
check "colo-ctl checkpoint without COLO: says not in COLO" grep -q "not in COLO" "$tmp/p.cp"

log "primary: PVM output held, hold timeout, CHECKPOINT_NEEDED to colod"
notifies0=$(nsenv "$pn" "$CTL" status "$PVM" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["vms"][0]["stats"]["notifies"])' 2>/dev/null || echo 0)
cat >"$tmp/frame.py" <<'EOF'
import socket, struct, sys
# One Ethernet/IPv4/UDP frame as a datagram to QEMU's socket netdev: QEMU
# writes it to the tap, so the kernel sees it come from the PVM.
payload = b"colo-qemu test"
udp = struct.pack("!HHHH", 4000, 5000, 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 socket.inet_aton("10.79.0.2"), socket.inet_aton("10.79.0.3"))
s = sum(struct.unpack("!10H", ip))
s = (s >> 16) + (s & 0xffff)
s += s >> 16
ip = ip[:10] + struct.pack("!H", ~s & 0xffff) + ip[12:]
frame = bytes.fromhex("525400abcdef" "525400123456" "0800") + ip + udp
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(frame, ("127.0.0.1", int(sys.argv[1])))
EOF
rx0=$(ip netns exec "$pn" cat /sys/class/net/ctap0/statistics/rx_packets)
ip netns exec "$pn" "$PY" "$tmp/frame.py" "$UDP_IN"
check "the frame came out of the tap" \
	busywait 5000 bash -c "[ \$(ip netns exec $pn cat /sys/class/net/ctap0/statistics/rx_packets) -gt $rx0 ]"
check "colod got CHECKPOINT_NEEDED (hold-timeout) and released the held output" \
	busywait 10000 grep -q "CHECKPOINT_NEEDED (needed:hold-timeout) before COLO started: released" "$tmp/p.log"
nsenv "$pn" "$CTL" status "$PVM" --json >"$tmp/p.json" 2>&1
check "kernel: notice sent, packet seen, released by the checkpoint, nothing held" "$PY" -c '
import json, sys
st = json.load(open(sys.argv[1]))["vms"][0]["stats"]
assert st["notifies"] > int(sys.argv[2]), st
assert st["pvm_packets"] >= 1 and st["released_checkpoint"] >= 1 and st["held"] == 0, st' \
	"$tmp/p.json" "$notifies0"
reply=$(ctl_line "$tmp/run.$pn/vm$PVM.sock" status 2>&1)
check "colod status: released_before_colo >= 1" [ "$(field released_before_colo "$reply")" -ge 1 ]
check "colod status: failover policy manual by default" [ "$(field failover "$reply")" = manual ]

log "primary: colod killed while QEMU runs: colo-qemu starts it again"
portid() {	# portid NS VMID: the registration's owner port
	nsenv "$1" "$CTL" status "$2" --json 2>/dev/null |
		"$PY" -c 'import json,sys; print(json.load(sys.stdin)["vms"][0]["portid"])' 2>/dev/null
}
new_colod() {	# a colod child of the launcher other than $cpid
	local c
	c=$(pgrep -P "$ppid_l" -x colod) && [ -n "$c" ] && [ "$c" != "$cpid" ]
}
reregistered() {	# reregistered NS VMID OLDPORT
	local p
	p=$(portid "$1" "$2") && [ -n "$p" ] && [ "$p" != "$3" ]
}
ctl_ok() {	# ctl_ok SOCKET: status answers ok
	local r
	r=$(ctl_line "$1" status 2>/dev/null) && [ "${r%% *}" = ok ]
}
port0=$(portid "$pn" "$PVM")
kill -KILL "$cpid"
check "colo-qemu noticed colod's end while QEMU runs" \
	busywait 10000 grep -q "colod killed by signal 9.*while QEMU runs" "$tmp/p.log"
check "colo-qemu restarted colod" busywait 10000 grep -q "restarting colod (1 of 3" "$tmp/p.log"
check "a new colod runs as colo-qemu's child" busywait 10000 new_colod
cpid=$(pgrep -P "$ppid_l" -x colod)
check "the new colod registered vm $PVM again (another port)" \
	busywait 10000 reregistered "$pn" "$PVM" "$port0"
check "the new colod answers on the control socket" \
	busywait 10000 ctl_ok "$tmp/run.$pn/vm$PVM.sock"
check "QEMU kept running (same process)" kill -0 "$qpid"
check "the restart waits for COLO (--wait-colo)" \
	bash -c "tr '\\0' ' ' </proc/$cpid/cmdline | grep -q -- --wait-colo"

log "primary: SIGTERM"
stop_launcher "$ppid_l"
check "colo-qemu exits 0 after SIGTERM (QEMU's status)" [ "$lrc" = 0 ]
check "uninstall ran" grep -q "primary uninstall fwd0 ctap0 $PVM" "$tmp/p.log"
[ -n "${cpid:-}" ] && check "colod exited" bash -c "! kill -0 $cpid 2>/dev/null"
[ -n "${qpid:-}" ] && check "QEMU exited" bash -c "! kill -0 $qpid 2>/dev/null"
snapshot "$pn" "$tmp/p.after"
if diff -u "$tmp/p.before" "$tmp/p.after" >"$tmp/p.diff"; then
	ok "primary: iptables-save/ip6tables-save/tc identical to before"
else
	fail "primary: rules differ after uninstall"
	sed 's/^/#   /' "$tmp/p.diff"
fi
check "primary: VM $PVM gone from the kernel" busywait 3000 vm_gone "$pn" "$PVM"
check "primary: control and QMP sockets removed" \
	bash -c "[ ! -e $tmp/run.$pn/vm$PVM.sock ] && [ ! -e $tmp/run.$pn/vm$PVM.qmp ]"
echo "# primary launcher log:"; sed 's/^/#   /' "$tmp/p.log"

log "kernel: BEGIN with COLO_A_STOP_TIME as libcolo-nl sends it (colod's cut)"
nba=$COLO_SRC/tests/unit/glue-qmp/nl-begin-at
if [ ! -x "$nba" ]; then
	nba=$tmp/nl-begin-at
	cc -std=gnu11 -I"$COLO_SRC/include/uapi" -I"$COLO_SRC/qemu-glue" -o "$nba" \
		"$COLO_SRC/tests/unit/glue-qmp/nl-begin-at.c" "$COLO_SRC/qemu-glue/colo-nl.c" \
		-lmnl 2>"$tmp/nba.log" || nba=
fi
if [ -n "$nba" ]; then
	ip netns exec "$pn" "$nba" 43 >"$tmp/nba.out" 2>&1
	nba_rc=$?
	sed 's/^/# /' "$tmp/nba.out"
	check "BEGIN with a stop time: accepted, one at a time, then DONE" [ "$nba_rc" = 0 ]
else
	log "nl-begin-at not built and no compiler: $(head -c 200 "$tmp/nba.log")"
fi

# ---------------------------------------------------------------------------
log "secondary topology"
ip -n "$sn" link add br1 type bridge
ip -n "$sn" link add fwd1 type veth peer name fwd1p
ip -n "$sn" link set fwd1 master br1
for d in br1 fwd1 fwd1p; do ip -n "$sn" link set "$d" up; done
mk_ifup br1
ip netns exec "$sn" "iptables-$b" -t mangle -S >/dev/null
ip netns exec "$sn" "ip6tables-$b" -t mangle -S >/dev/null
snapshot "$sn" "$tmp/s.before"

log "secondary: colo-qemu"
ip netns exec "$sn" env COLO_RUN_DIR="$tmp/run.$sn" COLO_MODULE_DIR="$COLO_SRC" \
	IPTABLES="iptables-$b" IP6TABLES="ip6tables-$b" "$LAUNCHER" --side secondary --vm "$SVM" --colod-restarts 0 -v -- \
	"$QEMU" -machine none -nodefaults -display none -no-user-config \
	-netdev "tap,id=n0,ifname=stap0,script=$tmp/ifup.br1,downscript=no,colo_nicname=fwd1,colo_script=$SCRIPT" \
	>"$tmp/s.log" 2>&1 &
spid_l=$!
bg_pids+=("$spid_l")
if ! check "secondary: install ran (SECCOLO rule tagged colo-proxy:$SVM in iptables-$b-save)" \
	busywait 60000 tagged "$sn" "iptables-$b-save" "$SVM" SECCOLO; then
	echo "# launcher log:"; sed 's/^/#   /' "$tmp/s.log"
	colo_exit
fi
check "secondary: SECCOLO rule in ip6tables-$b-save" busywait 10000 tagged "$sn" "ip6tables-$b-save" "$SVM" SECCOLO
check "secondary: rule matches the tap" \
	bash -c "ip netns exec $sn iptables-$b-save -t mangle | grep 'colo-proxy:$SVM' | grep -q -- '--physdev-in stap0'"
nsenv "$sn" "$CTL" status "$SVM" >"$tmp/s.status" 2>&1
check "colo-ctl status $SVM: secondary" grep -q "^vm $SVM: secondary" "$tmp/s.status"
reply=$(ctl_line "$tmp/run.$sn/vm$SVM.sock" status 2>&1)
log "status: $reply"
check "colod status: secondary, waiting (starting)" \
	[ "$(field side "$reply")/$(field state "$reply")" = "secondary/starting" ]

log "secondary: --colod-restarts 0: colod killed, the guest is stopped"
qmp_status() {	# qmp_status SOCKET: QEMU's run state
	"$PY" - "$1" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for c in ("qmp_capabilities", "query-status"):
    f.write(json.dumps({"execute": c}) + "\n")
    f.flush()
    while True:
        m = json.loads(f.readline())
        if "return" in m or "error" in m:
            break
print(m.get("return", {}).get("status", "?"))
EOF
}
scpid=$(pgrep -P "$spid_l" -x colod)
check "secondary: colod is a child of colo-qemu" [ -n "$scpid" ]
kill -KILL "$scpid"
check "secondary: colo-qemu stops the guest" \
	busywait 10000 grep -q "stopping the guest" "$tmp/s.log"
check "secondary: QEMU is still there" kill -0 "$spid_l"
sleep 1
check "secondary: QEMU's guest is paused" [ "$(qmp_status "$tmp/run.$sn/vm$SVM.qmp")" = paused ]
check "secondary: colod was not restarted" bash -c "! pgrep -P $spid_l -x colod"
stop_launcher "$spid_l"
check "secondary: colo-qemu exits 0 after SIGTERM" [ "$lrc" = 0 ]
check "secondary: uninstall ran" grep -q "secondary uninstall fwd1 stap0 $SVM" "$tmp/s.log"
snapshot "$sn" "$tmp/s.after"
if diff -u "$tmp/s.before" "$tmp/s.after" >"$tmp/s.diff"; then
	ok "secondary: iptables-save/ip6tables-save/tc identical to before"
else
	fail "secondary: rules differ after uninstall"
	sed 's/^/#   /' "$tmp/s.diff"
fi
check "secondary: VM $SVM gone from the kernel" busywait 3000 vm_gone "$sn" "$SVM"
echo "# secondary launcher log:"; sed 's/^/#   /' "$tmp/s.log"
colo_exit
