#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Failover keeps open TCP connections alive (issue item 7f), IPv4 and IPv6.
#
# 1. Secondary takes over: the client holds one echo session per family open
#    through the primary (PVM output compared with the SVM's), then the primary
#    host is cut (client port, forward link and PVM port gone), the secondary
#    gets FAILOVER and the client's port moves to the secondary's bridge (same
#    client IP/MAC; the SVM has the PVM's IP/MAC). The SAME connections go on
#    byte-exact: SECCOLO keeps moving the SVM's sequence numbers into the
#    PVM's space. No RST is ever seen on the client's wire, the client's stack
#    counts no reset, and a new connection after failover works unadjusted.
# 2. Primary takes over: the SVM dies, a PVM answer waits (output commit) until
#    the hold timeout asks for a checkpoint, FAILOVER on the primary releases
#    it and everything passes straight from then on; the same connections go
#    on byte-exact, no RST.
# In both, the connections also survive the survivor's VM teardown (its owner
# exits after failover).
# timeout: 420
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

FC=$COLO_SRC/tests/vm/failover_client.py
PORT=5003
declare -A FS_FD FS_N
DUMP_PID=

fo_dump_stop() {
	[ -n "$DUMP_PID" ] || return 0
	kill "$DUMP_PID" 2>/dev/null
	wait "$DUMP_PID" 2>/dev/null
	DUMP_PID=
}

fo_cleanup() {
	fo_dump_stop
	topo_teardown
}
trap fo_cleanup EXIT

command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
command -v tcpdump >/dev/null || skip "tcpdump missing"
colo_load_modules || skip "cannot load the colo modules"

# Echo servers on both guests.
fo_servers() {
	topo_bg "$TOPO_PVM" /usr/bin/python3 "$FC" serve :: $PORT
	topo_bg "$TOPO_SVM" /usr/bin/python3 "$FC" serve :: $PORT
	busywait 60000 eval "topo_pvm ss -ltnH | grep -q ':$PORT ' && topo_svm ss -ltnH | grep -q ':$PORT '"
}

# Everything TCP on the client's wire, read back at the end.
fo_dump_start() {
	ip netns exec "$TOPO_CL" tcpdump -i cl0 -nn -U -w "$TOPO_DIR/cl.pcap" tcp \
		2> "$TOPO_DIR/tcpdump.err" &
	DUMP_PID=$!
	busywait 30000 grep -q listening "$TOPO_DIR/tcpdump.err"
}

fo_dump_lines() { tcpdump -nn -r "$TOPO_DIR/cl.pcap" 2>/dev/null; }

# fs_start TAG ADDR: a client echo session in the client namespace.
fs_start() {
	local tag=$1 addr=$2 fifo=$TOPO_DIR/fs-$1.in log=$TOPO_DIR/fs-$1.log fd
	mkfifo "$fifo" || return 1
	exec {fd}<>"$fifo"
	FS_FD[$tag]=$fd
	: > "$log"
	# not topo_bg: a background command in a function gets /dev/null as stdin
	ip netns exec "$TOPO_CL" /usr/bin/python3 "$FC" session "$addr" $PORT \
		--timeout 60 <"$fifo" >"$log" 2>&1 &
	TOPO_PIDS+=($!)
	busywait 30000 grep -q '^ready' "$log" || { cat "$log"; return 1; }
}
fs_answers() { grep -c -E '^(OK|ERR)' "$TOPO_DIR/fs-$1.log"; }
fs_send() { FS_N[$1]=$(fs_answers "$1"); echo "$2" >&"${FS_FD[$1]}"; }
fs_answered() { [ "$(fs_answers "$1")" -gt "${FS_N[$1]}" ]; }
# fs_wait TAG [TIMEOUT_MS]: the answer to the last command must be OK.
fs_wait() {
	busywait "${2:-90000}" fs_answered "$1" || { log "$1: no answer"; return 1; }
	log "$1: $(tail -n1 "$TOPO_DIR/fs-$1.log")"
	tail -n1 "$TOPO_DIR/fs-$1.log" | grep -q '^OK'
}
fs_cmd() { fs_send "$1" "$2" && fs_wait "$1"; }

# Tcp counter NAME of the client's namespace (/proc/net/snmp).
cl_tcp_stat() {
	topo_cl awk -v k="$1" '$1 == "Tcp:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == k) c = i; h = 1 } else print $c }' /proc/net/snmp
}

vm_state() { ip netns exec "$1" colo-ctl status "$2" 2>/dev/null | sed -n 's/.*state \([a-z]*\),.*/\1/p'; }

# The client's wire saw traffic, but never a reset; its stack counted none.
fo_no_reset() {
	local tag=$1 n r
	fo_dump_stop
	n=$(fo_dump_lines | wc -l)
	r=$(fo_dump_lines | grep -c 'Flags \[R')
	log "$tag: $n TCP packets on the client's wire, $r with RST"
	check "$tag: no RST on the client's wire" test "$n" -gt 0 -a "$r" = 0
	check "$tag: the client's stack counted no reset" \
		test "$(cl_tcp_stat EstabResets)" = 0 -a "$(cl_tcp_stat OutRsts)" = 0
}

# --- 1. the primary dies, the secondary takes over ------------------------------

VM=31
topo_colo_up $VM --hold-timeout 5000 || { echo "FAIL: topology"; exit 1; }
fo_servers || { echo "FAIL: servers"; exit 1; }
fo_dump_start || { echo "FAIL: tcpdump"; exit 1; }
fs_start v4 $TOPO_VM4 || { echo "FAIL: IPv4 session"; exit 1; }
fs_start v6 $TOPO_VM6 || { echo "FAIL: IPv6 session"; exit 1; }

check "secondary failover: IPv4: 20 messages through the primary" fs_cmd v4 "x 20"
check "secondary failover: IPv6: 20 messages through the primary" fs_cmd v6 "x 20"
sleep 1
check "secondary failover: the primary compared the streams" \
	test "$(topo_stat "$TOPO_PN" $VM matched_bytes)" -gt 0
check "secondary failover: no checkpoint was needed" test "$(topo_notices "$TOPO_PN")" = 0
log "secondary: $(topo_sn colo-ctl status $VM --conns 2>&1 | tr -s ' \n' ' ')"
check "secondary failover: SECCOLO gave both connections an offset" \
	test "$(topo_stat "$TOPO_SN" $VM seq_adjusted)" -ge 2
check "secondary failover: the offsets are not zero (the guests' ISNs differ)" \
	eval "[ \$(topo_sn colo-ctl status $VM --conns | grep -c ':$PORT .*offset [1-9]') -ge 2 ]"

# The primary host dies: client port, forward link (both ends) and PVM go.
topo_pn ip link set vport-cl nomaster
topo_pn ip link set vport-cl down
topo_pn ip link del fwd0
topo_pn ip link del vport-pvm
check "secondary failover: FAILOVER accepted" topo_ctl "$TOPO_SN" failover
check "secondary failover: the secondary is in failover" test "$(vm_state "$TOPO_SN" $VM)" = failover
# The client's path moves to the secondary host (same client IP and MAC).
topo_pn ip link set vport-cl netns "$TOPO_SN"
topo_sn ip link set vport-cl master br1
topo_sn ip link set vport-cl up

check "secondary failover: IPv4: the same connection goes on (40 more messages)" fs_cmd v4 "x 40"
check "secondary failover: IPv6: the same connection goes on (40 more messages)" fs_cmd v6 "x 40"
fs_start n4 $TOPO_VM4 && fs_cmd n4 "x 10" && fs_cmd n4 close
check "secondary failover: a new connection after failover works" test $? = 0
log "secondary: $(topo_sn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
check "secondary failover: SVM packets passed in failover" \
	test "$(topo_stat "$TOPO_SN" $VM passed)" -gt 0
# QEMU's side may go away after failover: the offsets live in the conntracks.
topo_ctl_stop "$TOPO_SN"
check "secondary failover: the VM is torn down on the secondary" eval "! topo_sn colo-ctl status $VM >/dev/null 2>&1"
check "secondary failover: IPv4: the connection survives the teardown" fs_cmd v4 "x 10"
check "secondary failover: IPv6: the connection survives the teardown" fs_cmd v6 "x 10"
check "secondary failover: IPv4: clean close" fs_cmd v4 close
check "secondary failover: IPv6: clean close" fs_cmd v6 close
fo_no_reset "secondary failover"

fo_cleanup

# --- 2. the secondary dies, the primary takes over ------------------------------

VM=32
topo_colo_up $VM --hold-timeout 1000 || { echo "FAIL: topology (2)"; exit 1; }
fo_servers || { echo "FAIL: servers (2)"; exit 1; }
fo_dump_start || { echo "FAIL: tcpdump (2)"; exit 1; }
fs_start p4 $TOPO_VM4 || { echo "FAIL: IPv4 session (2)"; exit 1; }
fs_start p6 $TOPO_VM6 || { echo "FAIL: IPv6 session (2)"; exit 1; }

check "primary failover: IPv4: 20 messages compared" fs_cmd p4 "x 20"
check "primary failover: IPv6: 20 messages compared" fs_cmd p6 "x 20"
sleep 1
check "primary failover: no checkpoint was needed" test "$(topo_notices "$TOPO_PN")" = 0

# The SVM dies: nothing comes back over the forward link any more.
topo_sn ip link del vport-svm
fs_send p4 "x 1"
check "primary failover: the hold timeout asks for a checkpoint" \
	busywait 20000 eval "[ \$(topo_notices '$TOPO_PN' hold-timeout) -ge 1 ]"
log "primary: $(grep checkpoint-needed "$TOPO_DIR/ctl-$TOPO_PN.log" | tail -n1)"
check "primary failover: the PVM's answer is held (output commit)" eval "! fs_answered p4"
check "primary failover: the primary holds it" test "$(topo_stat "$TOPO_PN" $VM held)" -gt 0
check "primary failover: FAILOVER accepted" topo_ctl "$TOPO_PN" failover
check "primary failover: the primary is in failover" test "$(vm_state "$TOPO_PN" $VM)" = failover
check "primary failover: FAILOVER released the held answer" fs_wait p4 30000
check "primary failover: IPv4: the same connection goes on (40 more messages)" fs_cmd p4 "x 40"
check "primary failover: IPv6: the same connection goes on (40 more messages)" fs_cmd p6 "x 40"
fs_start q6 $TOPO_VM6 && fs_cmd q6 "x 10" && fs_cmd q6 close
check "primary failover: a new connection after failover works" test $? = 0
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
check "primary failover: packets passed straight" test "$(topo_stat "$TOPO_PN" $VM passed)" -gt 0
check "primary failover: nothing held any more" test "$(topo_stat "$TOPO_PN" $VM held)" = 0
check "primary failover: nothing dropped" test "$(topo_stat "$TOPO_PN" $VM dropped)" = 0
check "primary failover: only the one notice" test "$(topo_notices "$TOPO_PN")" = 1
# The owner goes away after failover. PMYCOLO fails closed (a rule whose VM
# is gone drops everything), so the rules go first, as the proxy script's
# uninstall does; then traffic flows.
topo_ipt "$TOPO_PN" -t mangle -F PREROUTING
topo_ip6t "$TOPO_PN" -t mangle -F PREROUTING
topo_ctl_stop "$TOPO_PN"
check "primary failover: the VM is torn down on the primary" eval "! topo_pn colo-ctl status $VM >/dev/null 2>&1"
check "primary failover: IPv4: the connection survives the teardown" fs_cmd p4 "x 10"
check "primary failover: IPv6: the connection survives the teardown" fs_cmd p6 "x 10"
check "primary failover: IPv4: clean close" fs_cmd p4 close
check "primary failover: IPv6: clean close" fs_cmd p6 close
fo_no_reset "primary failover"
colo_exit
