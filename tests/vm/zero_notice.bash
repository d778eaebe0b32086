# SPDX-License-Identifier: GPL-2.0
# zero_notice.bash - shared by tests/vm/pmycolo-zero-notice*.sh (sourced after
# tests/lib.sh and tests/topo.sh; not a test itself).
#
# Identical guests must never cost a checkpoint (issue 8): every scenario runs
# between zn_begin and zn_end NAME, which reads the primary's counters before
# and after and asserts that the scenario added no checkpoint-needed notice,
# no hold timeout and no dropped SVM packet. The counters (deltas) are printed
# as `# NAME: ...` lines either way, with the reasons the kernel logged for SVM
# packets it dropped (dynamic debug of xt_PMYCOLO). A scenario that left PVM
# output held is cured by a checkpoint, so that the next one starts clean.
#
# zn_delay plain|svm|pvm: nothing, netem on the SVM's output (the secondary's
# end of the forward link: SVM frames reach the primary late, the PVM's copy
# waits for them) or on the PVM's output (the PVM's eth0 in its namespace: the
# SVM's copy comes first and must be kept until the PVM's arrives).

UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
: "${ZN_DELAY_MS:=30}"
ZN_COUNTERS="notifies hold_timeouts svm_dropped svm_stale mismatches released_match released_checkpoint matched_bytes queue_full dropped held"
declare -A ZN_BEFORE ZN_NOW ZN_SBEFORE ZN_SNOW
ZN_T0=0
ZN_FAILED=0
ZN_NOTICES0=0
ZN_DYNDBG=0

zn_check() {
	local what=$1; shift
	if "$@"; then ok "$what"; else fail "$what"; ZN_FAILED=1; fi
}

zn_py() { /usr/bin/python3 "$UTIL" "$@"; }

# zn_counters ARRAY: every counter of `colo-ctl status` of the primary.
zn_counters() {
	local -n arr=$1
	local name val
	arr=()
	while read -r name val; do
		[[ $val =~ ^[0-9]+$ ]] && arr[$name]=$val
	done < <(topo_ns "${2:-$TOPO_PN}" colo-ctl status "$VM" 2>/dev/null | sed -n '/counters:/,/connections:/p')
}

# The kernel's reasons for dropping SVM packets (pmy_svm_drop) and the other
# debug lines of xt_PMYCOLO: every one, not rate limited.
zn_dyndbg() {
	local ctl=/sys/kernel/debug/dynamic_debug/control
	[ -e $ctl ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null
	if [ -w $ctl ] && echo 'module xt_PMYCOLO +p' > $ctl 2>/dev/null; then
		sysctl -qw net.core.message_cost=0
		ZN_DYNDBG=1
	else
		log "dynamic debug not available: no drop reasons"
	fi
}

# zn_settle: let the guests' own IPv6 start-up traffic (MLD reports, router
# solicitations: the SVM's copies are dropped on the primary, which is
# correct) die down, so that the scenarios' counters are their own.
zn_settle() {
	local n
	# (the router solicitations go on with a backoff, RFC 7559, and hit
	# scenarios at random: addrconf_rs_timer stops without accept_ra)
	for n in "$TOPO_PVM" "$TOPO_SVM"; do
		topo_ns "$n" sysctl -qw net.ipv6.conf.eth0.router_solicitations=0 \
			net.ipv6.conf.eth0.accept_ra=0 >/dev/null || log "$n: cannot stop router solicitations"
	done
	# The secondary host's own interfaces on the forward link's bridge
	# (br1, fwd0, vport-svm: random link-local addresses) send router
	# solicitations of their own, over the forward link: the primary
	# consumes, drops and counts them as SVM output. Not the guests'
	# traffic: no RAs accepted there, no solicitations (addrconf_rs_timer).
	for n in br1 fwd0 vport-svm; do
		topo_sn sysctl -qw net.ipv6.conf.$n.accept_ra=0 net.ipv6.conf.$n.router_solicitations=0 >/dev/null ||
			log "$TOPO_SN: $n: router solicitations go on"
	done
	local last=-1 same=0 i cur
	for i in $(seq 40); do
		cur=$(topo_stat "$TOPO_PN" "$VM" svm_dropped)
		if [ "$cur" = "$last" ]; then
			same=$((same + 1))
			[ $same -ge 6 ] && break
		else
			same=0
		fi
		last=$cur
		sleep 0.5
	done
	zn_capture
	zn_counters ZN_NOW
	log "after setup: notices $(topo_notices "$TOPO_PN") svm_dropped ${ZN_NOW[svm_dropped]:-?} svm_packets ${ZN_NOW[svm_packets]:-?} pvm_packets ${ZN_NOW[pvm_packets]:-?}"
	zn_reasons | sed 's/^/#   setup: /'
}

zn_reasons() {
	local k
	[ $ZN_DYNDBG = 1 ] || return 0
	k=$(colo_dmesg_since)
	sed -n 's/.*\(SVM packet dropped: .*\)$/\1/p' <<< "$k" | sort | uniq -c
	grep -E 'vm [0-9]+: ' <<< "$k" | grep -v 'SVM packet dropped' | sed 's/^\[[^]]*\] //' | sort | uniq -c | head -n 5
}

# Evidence for a failing scenario: text captures in the primary host (SVM
# output arriving on fwd0, PVM output entering the bridge) and in the SVM (its
# eth0, both ways: does it get the answers, what does it send).
zn_capture() {
	local n
	for n in svm pvm svmeth; do : > "$TOPO_DIR/zn-cap-$n"; done
	topo_bg "$TOPO_PN" tcpdump -l -n -tt -i fwd0 -Q in > "$TOPO_DIR/zn-cap-svm" 2>/dev/null
	topo_bg "$TOPO_PN" tcpdump -l -n -tt -i vport-pvm -Q in > "$TOPO_DIR/zn-cap-pvm" 2>/dev/null
	topo_bg "$TOPO_SVM" tcpdump -l -n -tt -i eth0 > "$TOPO_DIR/zn-cap-svmeth" 2>/dev/null
	sleep 1
}

# zn_show NAME: what the captures saw since zn_begin (a few lines each).
zn_show() {
	local name=$1 n what
	for n in pvm svm svmeth; do
		case $n in
		pvm) what="PVM output (primary, vport-pvm in)" ;;
		svm) what="SVM output (primary, fwd0 in)" ;;
		svmeth) what="SVM eth0 (both ways)" ;;
		esac
		[ -f "$TOPO_DIR/zn-cap-$n" ] || continue
		log "$name: $what:"
		awk -v t="$ZN_T0" '$1 >= t' "$TOPO_DIR/zn-cap-$n" | grep -v 'ICMP6, multicast listener\|router solicitation' |
			head -n "${ZN_SHOW_LINES:-10}" | cut -c1-200 | sed "s/^/#     /"
	done
	# SVM frames without a PVM twin (timestamps, seq, window and options
	# ignored; counted as a multiset): the candidates for what was dropped
	log "$name: SVM output without a PVM counterpart (at most 8):"
	awk -v t="$ZN_T0" '
		function norm(l) {
			sub(/^[0-9.]+ /, "", l); gsub(/seq [0-9:]+, /, "", l)
			gsub(/win [0-9]+, /, "", l); gsub(/options \[[^]]*\], /, "", l)
			return l
		}
		$1 < t { next }
		FILENAME ~ /pvm$/ { n[norm($0)]++; next }
		{ k = norm($0); if (n[k] > 0) n[k]--; else print }
	' "$TOPO_DIR/zn-cap-pvm" "$TOPO_DIR/zn-cap-svm" | head -n 8 | cut -c1-200 | sed "s/^/#     /"
}

zn_begin() {
	ZN_T0=$EPOCHREALTIME
	ZN_FAILED=0
	zn_counters ZN_BEFORE
	zn_counters ZN_SBEFORE "$TOPO_SN"
	ZN_NOTICES0=$(topo_notices "$TOPO_PN")
	colo_dmesg_mark
}

# zn_delay plain|svm|pvm [MS]
zn_delay() {
	local ms=${2:-$ZN_DELAY_MS}
	topo_sn tc qdisc del dev fwd0 root 2>/dev/null
	topo_pvm tc qdisc del dev eth0 root 2>/dev/null
	case $1 in
	svm) topo_sn tc qdisc add dev fwd0 root netem delay ${ms}ms limit 10000 ;;
	pvm) topo_pvm tc qdisc add dev eth0 root netem delay ${ms}ms limit 10000 ;;
	esac
}

# zn_end NAME: the scenario's counters; assert zero notices, hold timeouts,
# SVM drops; cure what stayed held with a checkpoint.
zn_end() {
	local name=$1 c line notices d
	sleep 0.5
	zn_counters ZN_NOW
	notices=$(( $(topo_notices "$TOPO_PN") - ZN_NOTICES0 ))
	line="notices=$notices"
	for c in $ZN_COUNTERS; do
		if [ "$c" = held ]; then
			line+=" held=${ZN_NOW[$c]:-?}"
		else
			d=$(( ${ZN_NOW[$c]:-0} - ${ZN_BEFORE[$c]:-0} ))
			line+=" $c=$d"
		fi
	done
	zn_counters ZN_SNOW "$TOPO_SN"
	line+=" | secondary: seq_adjusted=$(( ${ZN_SNOW[seq_adjusted]:-0} - ${ZN_SBEFORE[seq_adjusted]:-0} ))"
	line+=" svm_packets=$(( ${ZN_SNOW[svm_packets]:-0} - ${ZN_SBEFORE[svm_packets]:-0} ))"
	log "$name: $line (t=${SECONDS}s)"
	zn_reasons | sed "s/^/#   $name: /"
	if [ "$notices" != 0 ]; then
		grep 'checkpoint-needed' "$TOPO_DIR/ctl-$TOPO_PN.log" | tail -n "$notices" | head -n 3 |
			sed "s/^/#   $name: /"
	fi
	zn_check "$name: no checkpoint-needed notice" test "$notices" = 0
	zn_check "$name: no hold timeout" test $(( ${ZN_NOW[hold_timeouts]:-0} - ${ZN_BEFORE[hold_timeouts]:-0} )) = 0
	zn_check "$name: no SVM packet dropped" test $(( ${ZN_NOW[svm_dropped]:-0} - ${ZN_BEFORE[svm_dropped]:-0} )) = 0
	[ $ZN_FAILED = 0 ] || zn_show "$name"
	if [ "$notices" != 0 ] || [ "${ZN_NOW[held]:-0}" != 0 ]; then
		topo_pn colo-ctl status "$VM" --conns 2>&1 | sed -n '/connections:/,$p' | head -n 8 |
			sed "s/^/#   $name: /"
		log "$name: a checkpoint releases what is held before the next scenario"
		topo_ctl "$TOPO_PN" begin && topo_ctl "$TOPO_PN" done ||
			fail "$name: the curing checkpoint failed"
		busywait 5000 test "$(topo_stat "$TOPO_PN" "$VM" held)" = 0
	fi
}

# zn_guests NAME TIMEOUT_S ARGS...: the same client command (pmycolo-util.py
# ARGS) in the PVM and the SVM at the same time, as identical guests run it;
# both must succeed (the PVM's is checked against the server's answers the
# client namespace released, the SVM's against the mirrored ones).
zn_guests() {
	local name=$1 to=$2 pp ps rp rs go=$TOPO_DIR/zn-go
	shift 2
	# both start their first send at the same instant (--go: when both are
	# ready), as guests in step do; the delays decide which copy comes first
	rm -f "$go"
	topo_pvm timeout "$to" /usr/bin/python3 "$UTIL" "$@" --go "$go" > "$TOPO_DIR/zn-pvm" 2>&1 &
	pp=$!
	topo_svm timeout "$to" /usr/bin/python3 "$UTIL" "$@" --go "$go" > "$TOPO_DIR/zn-svm" 2>&1 &
	ps=$!
	busywait 30000 eval "grep -q ready '$TOPO_DIR/zn-pvm' && grep -q ready '$TOPO_DIR/zn-svm'"
	: > "$go"
	wait $pp; rp=$?
	wait $ps; rs=$?
	case $name in
	*tcp*) # a SYN-ACK whose TSecr predates the guest's own SYN is reset
		# by Linux in SYN-SENT (tcp_rcv_synsent_state_process: PAWS)
		log "$name: TcpExt PAWSActive (total): pvm $(zn_paws "$TOPO_PVM") svm $(zn_paws "$TOPO_SVM")" ;;
	esac
	log "$name: pvm: $(grep -v '^ready$' "$TOPO_DIR/zn-pvm" | tr '\n' ' ')"
	log "$name: svm: $(grep -v '^ready$' "$TOPO_DIR/zn-svm" | tr '\n' ' ')"
	zn_check "$name: the PVM's client got every answer byte exact" test $rp = 0
	zn_check "$name: the SVM's client got every answer byte exact" test $rs = 0
}

zn_paws() {
	topo_ns "$1" cat /proc/net/netstat | awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["PAWSActive"] }'
}

# zn_client NAME TIMEOUT_S ARGS...: pmycolo-util.py ARGS in the client.
zn_client() {
	local name=$1 to=$2 r
	shift 2
	topo_cl timeout "$to" /usr/bin/python3 "$UTIL" "$@" > "$TOPO_DIR/zn-cl" 2>&1
	r=$?
	log "$name: client: $(tr '\n' ' ' < "$TOPO_DIR/zn-cl")"
	zn_check "$name: the client got every byte exact" test $r = 0
}

# zn_guest_round DELAY: the guest-opened scenarios with zn_delay DELAY: UDP
# queries (IPv4 one socket, IPv6 a fresh socket each), ICMP and ICMPv6 echo,
# TCP (IPv4: the guest sends 3000 bytes, the server echoes; IPv6: the guest
# downloads 2200 bytes). Source ports and ICMP ids differ per round.
zn_guest_round() {
	local d=$1 sp id
	case $d in plain) sp=40100 id=1 ;; svm) sp=40200 id=2 ;; *) sp=40300 id=3 ;; esac
	zn_delay "$d"
	log "delay: $d"

	zn_begin
	zn_guests "guest-udp4-$d" 40 udp $TOPO_CL4 5102 5 --sport $sp --timeout 2
	zn_end "guest-udp4-$d"

	zn_begin
	zn_guests "guest-udp6-fresh-$d" 40 udp $TOPO_CL6 5102 3 --fresh --sport $((sp + 10)) --timeout 2
	zn_end "guest-udp6-fresh-$d"

	zn_begin
	zn_guests "guest-icmp4-$d" 40 icmp $TOPO_CL4 3 --ident $((0x4200 + id)) --timeout 2
	zn_end "guest-icmp4-$d"

	zn_begin
	zn_guests "guest-icmp6-$d" 40 icmp $TOPO_CL6 3 --ident $((0x4300 + id)) --timeout 2
	zn_end "guest-icmp6-$d"

	zn_begin
	zn_guests "guest-tcp4-$d" 40 echo $TOPO_CL4 5101 3000 --sport $((sp + 20)) --timeout 5
	zn_end "guest-tcp4-$d"

	zn_begin
	zn_guests "guest-tcp6-$d" 40 get $TOPO_CL6 5101 2200 --sport $((sp + 30)) --timeout 5
	zn_end "guest-tcp6-$d"
	zn_delay plain
}

# zn_guest_setup VMID: topology, servers in the client namespace (TCP 5101,
# UDP 5102), dynamic debug, captures.
zn_guest_setup() {
	zn_dyndbg
	colo_dmesg_mark
	topo_colo_up "$1" --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }
	topo_bg "$TOPO_CL" /usr/bin/python3 "$UTIL" serve-tcp :: 5101
	topo_bg "$TOPO_CL" /usr/bin/python3 "$UTIL" serve-udp :: 5102
	busywait 60000 eval "topo_cl ss -ltnH | grep -q ':5101 ' && topo_cl ss -lunH | grep -q ':5102 '" ||
		{ echo "FAIL: servers"; exit 1; }
	zn_settle
}
