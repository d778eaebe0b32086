#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# SECCOLO when the mirror loses the client's handshake ACK: the secondary's
# conntrack then sees the client's request (ACK + data, acking in the PVM's
# sequence space) before the offset is known. Far out of window, it passes
# (ignored, or liberal: the peer's direction) but conntrack does not count its
# data, so the SVM's ACK of the request is "over the upper bound": were the
# SVM's direction window-checked, every SVM packet of the connection would be
# INVALID for conntrack, leave without its sequence translated and never
# match on the primary: the connection stalls for good. (The pmycolo-many
# flake, where the handshake ACK and the request race on two CPUs.) Every
# connection must finish byte-exact, with nothing held, no INVALID packet on
# the secondary and no checkpoint requested.
# timeout: 240
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=25
CONNS=20
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
command -v nft >/dev/null || skip "nft missing"
colo_load_modules || skip "cannot load the colo modules"
topo_colo_up $VM --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }
topo_servers same same || { echo "FAIL: servers"; exit 1; }

# The mirror delays the client's SYN by 10 ms and everything else by 20: the
# SVM's ISN is then about 156,000 after the PVM's (Linux ISNs count 64 ns
# steps; both guests share one kernel's secret here), further than
# conntrack's lower bound for an ACK (66,000), and the request comes after
# the SVM's SYN-ACK.
topo_pn tc qdisc add dev fwd0 root handle 1: prio bands 3 priomap 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 &&
topo_pn tc qdisc add dev fwd0 parent 1:1 handle 10: netem delay 10ms &&
topo_pn tc qdisc add dev fwd0 parent 1:3 handle 30: netem delay 20ms &&
topo_pn tc filter add dev fwd0 parent 1: protocol ip prio 1 u32 \
	match ip protocol 6 0xff match u8 0x02 0x02 at 33 flowid 1:1 ||
	{ echo "FAIL: tc"; exit 1; }

# The first pure ACK of each client connection towards the SVM (the
# handshake's) is dropped on the secondary before conntrack sees it.
topo_sn nft -f - <<EOT || { echo "FAIL: nft"; exit 1; }
table bridge colotest {
	set seen {
		type ipv4_addr . inet_service
		flags dynamic
		size 4096
	}
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		iifname "fwd0" ip protocol tcp tcp dport 5001 tcp flags == ack ip length 52 ip saddr . tcp sport != @seen add @seen { ip saddr . tcp sport } counter drop
	}
}
EOT

invalid_sum() {
	topo_sn conntrack -S 2>/dev/null | sed -n 's/.* invalid=\([0-9]*\).*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }'
}
dropped() {
	topo_sn nft list chain bridge colotest pre | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
}
many() {
	topo_cl /usr/bin/python3 "$UTIL" many $TOPO_VM4 5001 $CONNS 50000 --timeout 40 ||
		{ topo_dump_least_served 5001 $VM; return 1; }
}

# what conntrack finds invalid on the secondary goes to the kernel log
modprobe nf_log_syslog
all_netns=$(sysctl -n net.netfilter.nf_log_all_netns)
trap 'sysctl -qw net.netfilter.nf_log_all_netns=$all_netns; topo_teardown' EXIT
sysctl -qw net.netfilter.nf_log_all_netns=1
topo_sn sysctl -qw net.netfilter.nf_log.2=nf_log_ipv4
topo_sn sysctl -qw net.netfilter.nf_conntrack_log_invalid=6
colo_dmesg_mark
inv0=$(invalid_sum)
check "$CONNS connections whose handshake ACK the mirror lost, byte exact" many
check "the mirror lost every handshake ACK ($(dropped) of $CONNS)" test "$(dropped)" -ge $CONNS
check "no SVM packet INVALID for the secondary's conntrack ($inv0 -> $(invalid_sum))" test "$(invalid_sum)" = "$inv0"
colo_dmesg_since | grep -a nf_ct_proto | head -n 5 | sed 's/^/#   /'
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
check "no hold timeout" test "$(topo_stat "$TOPO_PN" $VM hold_timeouts)" = 0
check "no mismatch" test "$(topo_stat "$TOPO_PN" $VM mismatches)" = 0
check "nothing held" test "$(topo_stat "$TOPO_PN" $VM held)" = 0
check "no checkpoint requested" test "$(topo_notices "$TOPO_PN")" = 0
check "secondary learnt every offset" test "$(topo_stat "$TOPO_SN" $VM seq_adjusted)" -ge $CONNS

# An SVM packet conntrack leaves without a conntrack (here FIN+SYN: a flag
# combination conntrack calls INVALID) on a translated connection would
# leave untranslated: the secondary drops it (svm_dropped). One on a
# connection nobody translates passes as before.
H=$COLO_SRC/tests/vm/colo_holes.py
pf=$TOPO_DIR/held-conn
topo_cl /usr/bin/python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 5001))
s.sendall(b"ge")	# no newline: the server waits; the offset is learnt
print(s.getsockname()[1], flush=True)
time.sleep(30)' $TOPO_VM4 > "$pf" &
TOPO_PIDS+=($!)
busywait 20000 test -s "$pf"
cport=$(head -n1 "$pf")
sleep 1
offset_of() { # PORT: the secondary's offset of the connection, signed
	local o
	o=$(topo_sn colo-ctl status $VM --conns 2>/dev/null | grep -E ":$1(->| )" |
		sed -n 's/.* offset \([0-9]*\)$/\1/p' | head -n1)
	[ -n "$o" ] && echo $(( o >= 2147483648 ? o - 4294967296 : o ))
}
off=$(offset_of "$cport")
log "held connection: client port $cport, offset $off"
check "the connection's offset is past conntrack's ACK window (|$off| > 66000)" \
	test "${off#-}" -gt 66000
sd0=$(topo_stat "$TOPO_SN" $VM svm_dropped)
topo_svm /usr/bin/python3 "$H" rawtcp $TOPO_VM4 $TOPO_CL4 "$cport" 5001 UNTRANSLATED-MARK --flags 3 >/dev/null
topo_svm /usr/bin/python3 "$H" rawtcp $TOPO_VM4 $TOPO_CL4 $((cport ^ 1)) 5001 UNTRACKED-MARK --flags 3 >/dev/null
sleep 1
seen() { tcpdump -r "$TOPO_DIR/oracle/svm.pcap" -A 2>/dev/null | grep -c "$1"; }
check "INVALID SVM packet on a translated connection dropped on the secondary ($sd0 -> $(topo_stat "$TOPO_SN" $VM svm_dropped))" \
	test "$(topo_stat "$TOPO_SN" $VM svm_dropped)" = $((sd0 + 1))
check "... it never reached the primary" test "$(seen UNTRANSLATED-MARK)" = 0
check "one on a connection nobody translates reached the primary" test "$(seen UNTRACKED-MARK)" -ge 1
colo_exit
