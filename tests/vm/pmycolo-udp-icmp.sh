#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# PMYCOLO per-datagram comparison: identical UDP answers (IPv4, IPv6), ICMP
# and ICMPv6 echo pass without a checkpoint; a UDP answer that differs on the
# SVM is held, one notice is sent, and after the checkpoint the client gets
# the PVM's datagram (never the SVM's). Rules through iptables-legacy here (the
# other tests use the nft backend).
# timeout: 240
source "$COLO_SRC/tests/lib.sh"
TOPO_IPT=legacy
source "$COLO_SRC/tests/topo.sh"

VM=23
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
topo_colo_up $VM --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }

topo_bg "$TOPO_PVM" /usr/bin/python3 "$UTIL" serve-udp :: 5002
topo_bg "$TOPO_SVM" /usr/bin/python3 "$UTIL" serve-udp :: 5002
topo_bg "$TOPO_SVM" /usr/bin/python3 "$UTIL" serve-udp :: 5003 --variant other
topo_bg "$TOPO_PVM" /usr/bin/python3 "$UTIL" serve-udp :: 5003
busywait 60000 eval "topo_pvm ss -lunH | grep -q ':5003 ' && topo_svm ss -lunH | grep -q ':5003 '" ||
	{ echo "FAIL: servers"; exit 1; }

check "UDP over IPv4, identical answers" topo_cl /usr/bin/python3 "$UTIL" udp $TOPO_VM4 5002 20 --timeout 20
check "UDP over IPv6, identical answers" topo_cl /usr/bin/python3 "$UTIL" udp $TOPO_VM6 5002 20 --timeout 20
check "ICMP echo" eval "topo_cl ping -q -c 5 -i 0.3 -W 10 $TOPO_VM4 >/dev/null"
check "ICMPv6 echo" eval "topo_cl ping -6 -q -c 5 -i 0.3 -W 10 $TOPO_VM6 >/dev/null"
check "large ICMP echo" eval "topo_cl ping -q -c 2 -s 1400 -W 10 $TOPO_VM4 >/dev/null"
sleep 1
check "no checkpoint for identical datagrams" test "$(topo_notices "$TOPO_PN")" = 0
check "datagrams compared" test "$(topo_stat "$TOPO_PN" $VM released_match)" -ge 52

for fam in 4 6; do
	if [ $fam = 4 ]; then addr=$TOPO_VM4; else addr=$TOPO_VM6; fi
	n0=$(topo_notices "$TOPO_PN")
	topo_cl /usr/bin/python3 "$UTIL" udp $addr 5003 1 --timeout 60 > "$TOPO_DIR/udp$fam" &
	pid=$!
	check "IPv$fam: differing UDP answer requests a checkpoint" \
		busywait 20000 eval "[ \$(topo_notices '$TOPO_PN' mismatch) -gt $n0 ]"
	sleep 1
	check "IPv$fam: one notice" test "$(topo_notices "$TOPO_PN")" = $((n0 + 1))
	check "IPv$fam: no answer before the checkpoint" kill -0 $pid
	check "IPv$fam: checkpoint begin" topo_ctl "$TOPO_PN" begin
	check "IPv$fam: checkpoint done" topo_ctl "$TOPO_PN" done
	wait $pid
	log "IPv$fam: $(cat "$TOPO_DIR/udp$fam")"
	check "IPv$fam: the client got the PVM's datagram" grep -q '^OK' "$TOPO_DIR/udp$fam"
done
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
colo_exit
