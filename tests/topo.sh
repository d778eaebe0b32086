#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# topo.sh - the design's COLO topology inside the test VM, built with network
# namespaces (source it after tests/lib.sh; call topo_setup, trap topo_teardown).
#
#            client ns ($TOPO_CL): cl0 10.77.0.1 fd77::1
#                 |
#  primary host ($TOPO_PN): br0 -- vport-cl, vport-pvm ---- pvm ns eth0
#                 |   tc clsact egress on vport-pvm: mirror to fwd0
#                fwd0 ========= forward link (veth) ========= fwd0
#  secondary host ($TOPO_SN): br1 -- fwd0, vport-svm ------- svm ns eth0
#
# PVM and SVM have the same IP (10.77.0.2, fd77::2) and MAC. Frames towards the
# PVM are mirrored over the forward link and bridged to the SVM; the SVM's
# output is bridged back over the link, where PMYCOLO's forward-NIC handler
# consumes it. Only PVM output reaches the client.
#
# Rules: topo_rules_primary / topo_rules_secondary (iptables + ip6tables, the
# backend from $TOPO_IPT, default nft). Control: topo_ctl_start NS VMID MODE
# [colo-ctl options] runs `colo-ctl session` with commands from a fifo;
# topo_ctl NS CMD sends one and waits for its answer; topo_notices NS counts
# checkpoint-needed notices.
#
# Output-commit oracle (tests/vm/colo_oracle.py): topo_setup starts captures in
# the primary host (PVM output entering the bridge from vport-pvm, SVM output
# arriving on fwd0, what the bridge sends the client on vport-cl) and a
# `colo-ctl monitor` there (the timeline of CHECKPOINT_BEGIN/DONE/FAILOVER);
# topo_ctl records when it sent each command. topo_oracle (run by colo_exit
# and by topo_teardown, whichever comes first, once per topology) stops them,
# reads the primary's counters and checks that every byte and datagram the
# client got from the VM was produced by the PVM and matched by the SVM in its
# epoch, covered by a completed checkpoint, or released after a failover. A
# violation is a `not ok` line and fails the test. TOPO_ORACLE=0 turns it off.

: "${TOPO_PFX:=colo$$}"
TOPO_CL=$TOPO_PFX-cl
TOPO_PN=$TOPO_PFX-pn
TOPO_PVM=$TOPO_PFX-pvm
TOPO_SN=$TOPO_PFX-sn
TOPO_SVM=$TOPO_PFX-svm
TOPO_CL4=10.77.0.1
TOPO_VM4=10.77.0.2
TOPO_CL6=fd77::1
TOPO_VM6=fd77::2
TOPO_VMMAC=02:c0:10:00:00:02
TOPO_CLMAC=02:c0:10:00:00:01
: "${TOPO_IPT:=nft}"
TOPO_DIR=
declare -A TOPO_CTL_PID TOPO_CTL_FD
: "${TOPO_ORACLE:=1}"
TOPO_CAP_PIDS=()	# tcpdumps and the monitor of the oracle
TOPO_ORACLE_VM=		# the VM the primary's session registered
TOPO_ORACLE_RUN=0	# the oracle ran for this topology

topo_cl() { ip netns exec "$TOPO_CL" "$@"; }
topo_pn() { ip netns exec "$TOPO_PN" "$@"; }
topo_pvm() { ip netns exec "$TOPO_PVM" "$@"; }
topo_sn() { ip netns exec "$TOPO_SN" "$@"; }
topo_svm() { ip netns exec "$TOPO_SVM" "$@"; }
topo_ns() { local n=$1; shift; ip netns exec "$n" "$@"; }

topo_py() { /usr/bin/python3 "$COLO_SRC/tests/vm/pmycolo-util.py" "$@"; }

# Background job inside a namespace; its pid goes to TOPO_PIDS.
TOPO_PIDS=()
topo_bg() { local n=$1; shift; ip netns exec "$n" "$@" & TOPO_PIDS+=($!); }

# topo_nic_port DEV NS NAME: the test VM's NIC DEV becomes bridge port NAME in NS.
topo_nic_port() {
	ip link set "$1" netns "$2" || return 1
	ip -n "$2" link set "$1" name "$3"
}

topo_setup() {
	local n
	TOPO_DIR=$(mktemp -d /tmp/topo.XXXXXX)
	modprobe br_netfilter || return 1
	modprobe sch_ingress 2>/dev/null
	modprobe act_mirred || return 1
	modprobe cls_matchall || return 1
	for n in "$TOPO_CL" "$TOPO_PN" "$TOPO_PVM" "$TOPO_SN" "$TOPO_SVM"; do
		ip netns add "$n" || return 1
		ip -n "$n" link set lo up
	done

	# client <-> primary bridge
	ip -n "$TOPO_CL" link add cl0 address $TOPO_CLMAC type veth peer name vport-cl netns "$TOPO_PN" || return 1
	# PVM <-> primary bridge, SVM <-> secondary bridge: same MAC. Real
	# guests (TOPO_PVM_NIC/TOPO_SVM_NIC: the test VM's NICs wired to their
	# QEMUs) take the place of the guest namespaces' veths.
	if [ -n "${TOPO_PVM_NIC:-}" ]; then
		topo_nic_port "$TOPO_PVM_NIC" "$TOPO_PN" vport-pvm || return 1
	else
		ip -n "$TOPO_PVM" link add eth0 address $TOPO_VMMAC type veth peer name vport-pvm netns "$TOPO_PN" || return 1
	fi
	if [ -n "${TOPO_SVM_NIC:-}" ]; then
		topo_nic_port "$TOPO_SVM_NIC" "$TOPO_SN" vport-svm || return 1
	else
		ip -n "$TOPO_SVM" link add eth0 address $TOPO_VMMAC type veth peer name vport-svm netns "$TOPO_SN" || return 1
	fi
	# forward link
	ip -n "$TOPO_PN" link add fwd0 type veth peer name fwd0 netns "$TOPO_SN" || return 1

	ip -n "$TOPO_PN" link add br0 type bridge stp_state 0 forward_delay 0 || return 1
	ip -n "$TOPO_SN" link add br1 type bridge stp_state 0 forward_delay 0 || return 1
	ip -n "$TOPO_PN" link set vport-cl master br0
	ip -n "$TOPO_PN" link set vport-pvm master br0
	ip -n "$TOPO_SN" link set fwd0 master br1
	ip -n "$TOPO_SN" link set vport-svm master br1
	for n in "$TOPO_PN" "$TOPO_SN"; do
		ip netns exec "$n" sysctl -qw net.bridge.bridge-nf-call-iptables=1 || return 1
		ip netns exec "$n" sysctl -qw net.bridge.bridge-nf-call-ip6tables=1 || return 1
		ip netns exec "$n" sysctl -qw net.bridge.bridge-nf-call-arptables=0
	done
	ip -n "$TOPO_PN" link set br0 up
	ip -n "$TOPO_SN" link set br1 up
	for n in vport-cl vport-pvm fwd0; do ip -n "$TOPO_PN" link set "$n" up; done
	for n in fwd0 vport-svm; do ip -n "$TOPO_SN" link set "$n" up; done

	ip -n "$TOPO_CL" addr add $TOPO_CL4/24 dev cl0
	ip -n "$TOPO_CL" addr add $TOPO_CL6/64 dev cl0 nodad
	ip -n "$TOPO_CL" link set cl0 up
	for n in "$TOPO_PVM" "$TOPO_SVM"; do
		ip -n "$n" link show eth0 >/dev/null 2>&1 || continue
		ip -n "$n" addr add $TOPO_VM4/24 dev eth0
		ip -n "$n" addr add $TOPO_VM6/64 dev eth0 nodad
		ip -n "$n" link set eth0 up
	done

	# Frames towards the PVM are mirrored to the secondary (TOPO_MIRROR=0:
	# the caller installs it, e.g. with the proxy script).
	if [ "${TOPO_MIRROR:-1}" = 1 ]; then
		topo_pn tc qdisc add dev vport-pvm clsact || return 1
		topo_pn tc filter add dev vport-pvm egress matchall \
			action mirred egress mirror dev fwd0 || return 1
	fi
	TOPO_ORACLE_RUN=0
	TOPO_ORACLE_VM=
	if [ "$TOPO_ORACLE" = 1 ]; then
		topo_capture_start || return 1
	fi
	return 0
}

# Time now in ns of CLOCK_REALTIME (the clock of the captures), no fork.
topo_now_ns() { local t=${EPOCHREALTIME/./}; echo "${t}000"; }

# The oracle's captures: three tcpdumps and a monitor in the primary host.
# Besides IP they take the end markers of topo_capture_barrier (a local
# experimental EtherType, 0x88b5; the oracle skips frames that are not IP).
TOPO_CAP_MARK_TYPE=88b5
TOPO_CAP_FILTER="ip or ip6 or ether proto 0x$TOPO_CAP_MARK_TYPE"
topo_capture_start() {
	local d=$TOPO_DIR/oracle i
	mkdir -p "$d" || return 1
	command -v tcpdump >/dev/null || { echo "oracle: tcpdump missing (tests/install-deps.sh)" >&2; return 1; }
	: > "$d/ctl.log"
	TOPO_CAP_PIDS=()
	# -j host: the kernel's stamps (CLOCK_REALTIME) on every capture.
	# --immediate-mode: libpcap then uses TPACKET_V2, every frame readable
	# at once; with TPACKET_V3 (its default) frames sit in a ring block
	# that the kernel hands over only when it is full or its timer (about
	# 1-2 s, tcpdump's 1000 ms timeout) expires, and tcpdump stopped
	# before that never writes them: the last part of a capture went
	# missing. -U: each frame is in the file as soon as it is written.
	# -B: in TPACKET_V2 a ring slot holds one frame of up to 64 KiB (GSO),
	# 32 MiB ask for 511 of them (libpcap rounds each slot up to a 128 KiB
	# block: 64 MiB per capture).
	local opts=(-n -s 0 -B 32768 -j host --time-stamp-precision=nano --immediate-mode -U)
	ip netns exec "$TOPO_PN" tcpdump "${opts[@]}" \
		-i vport-pvm -Q in -w "$d/pvm.pcap" "$TOPO_CAP_FILTER" 2> "$d/pvm.err" &
	TOPO_CAP_PIDS+=($!)
	ip netns exec "$TOPO_PN" tcpdump "${opts[@]}" \
		-i fwd0 -Q in -w "$d/svm.pcap" "$TOPO_CAP_FILTER" 2> "$d/svm.err" &
	TOPO_CAP_PIDS+=($!)
	ip netns exec "$TOPO_PN" tcpdump "${opts[@]}" \
		-i vport-cl -Q out -w "$d/cl.pcap" "$TOPO_CAP_FILTER" 2> "$d/cl.err" &
	TOPO_CAP_PIDS+=($!)
	# the timeline needs the control plane loaded before the first command
	# (tests that register by their own means load the modules later)
	colo_load_modules >/dev/null 2>&1
	if grep -q '^nfnetlink_colo ' /proc/modules; then
		TZ=UTC ip netns exec "$TOPO_PN" colo-ctl monitor > "$d/monitor.log" 2> "$d/monitor.err" &
		TOPO_CAP_PIDS+=($!)
		busywait 20000 grep -q '^# monitoring' "$d/monitor.log" ||
			{ echo "oracle: colo-ctl monitor did not start" >&2; cat "$d/monitor.err" >&2; return 1; }
	fi
	for i in pvm svm cl; do
		busywait 20000 grep -q 'listening on' "$d/$i.err" ||
			{ echo "oracle: tcpdump ($i) did not start:" >&2; cat "$d/$i.err" >&2; return 1; }
	done
}

# topo_cap_mark NS DEV DST_MAC SRC_MAC TEXT: one marker frame out of DEV
# (socat: a python start costs seconds in the test VM). socat sends what
# one read gives as one frame: the frame comes from a file, not a pipe
# that may hand it over in pieces.
topo_cap_mark() {
	local hex=${3//:/}${4//:/}$TOPO_CAP_MARK_TYPE f=$TOPO_DIR/oracle/mark.bin
	printf "$(echo "$hex" | sed 's/../\\x&/g')%-46s" "$5" > "$f" &&
		ip netns exec "$1" socat -u "OPEN:$f" "INTERFACE:$2" 2>/dev/null
}

# topo_capture_barrier: make sure each capture holds every frame that passed
# its capture point so far. A marker frame (EtherType 0x88b5, a nonce) is
# sent past each point - from the PVM's eth0 towards the client (enters the
# bridge on vport-pvm, leaves on vport-cl) and from the secondary's end of
# the forward link (arrives on the primary's fwd0) - and each file is waited
# for until it holds it: a capture socket takes a device's frames in order,
# and tcpdump -U writes each one at once. A point whose device is gone, or a
# marker that does not show up within 20 s, is logged (the capture may be
# incomplete there).
topo_capture_barrier() {
	local d=$TOPO_DIR/oracle nonce=colo-capture-end-$$-$RANDOM f
	local want=() t0=${EPOCHREALTIME/./}
	topo_cap_mark "$TOPO_PVM" eth0 $TOPO_CLMAC $TOPO_VMMAC "$nonce" && want+=(pvm cl)
	topo_cap_mark "$TOPO_SN" fwd0 ff:ff:ff:ff:ff:ff 02:c0:10:ff:ff:fe "$nonce" && want+=(svm)
	for f in pvm svm cl; do
		case " ${want[*]} " in
		*" $f "*) ;;
		*) log "oracle: no end marker for the $f capture (its device is gone): it may miss its last frames" ;;
		esac
	done
	# one deadline for all (a loaded TCG guest is slow to fork and to
	# schedule tcpdump)
	while [ ${#want[@]} -gt 0 ]; do
		for f in "${!want[@]}"; do
			grep -qa "$nonce" "$d/${want[$f]}.pcap" && unset "want[$f]"
		done
		[ ${#want[@]} -gt 0 ] || break
		if [ $(( ${EPOCHREALTIME/./} - t0 )) -ge 20000000 ]; then
			log "oracle: the end marker did not reach the ${want[*]} capture(s) in 20 s: they may miss their last frames"
			break
		fi
		sleep 0.1
	done
	log "oracle: capture end markers took $(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms"
}

topo_capture_stop() {
	local p
	for p in "${TOPO_CAP_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${TOPO_CAP_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	TOPO_CAP_PIDS=()
}

# The primary's counters for the oracle (the last ones read while it existed).
topo_oracle_stats() {
	local d=$TOPO_DIR/oracle
	[ -n "$TOPO_DIR" ] && [ -n "$TOPO_ORACLE_VM" ] && [ "$TOPO_ORACLE_RUN" = 0 ] && [ -d "$d" ] || return 0
	topo_pn colo-ctl status "$TOPO_ORACLE_VM" --json > "$d/stats.new" 2> "$d/stats.err" &&
		mv "$d/stats.new" "$d/stats.json"
	rm -f "$d/stats.new"
}

# topo_dump_least_served PORT [VM]: for a test that saw a connection stall,
# log the frames of the client connection to the VM's PORT that got the
# fewest payload bytes, from each of the oracle's captures, the conntracks of
# both hosts for it and, given VM, the secondary's counters (seq_adjusted:
# did SECCOLO learn its offset?). The captures go with teardown.
topo_dump_least_served() {
	local d=$TOPO_DIR/oracle port f
	[ -f "$d/cl.pcap" ] || return 0
	port=$(tcpdump -r "$d/cl.pcap" -nn "tcp src port $1" 2>/dev/null |
		awk '{ p = $5; sub(/:$/, "", p); sub(/.*\./, "", p); n = 0
		       for (i = 1; i < NF; i++) if ($i == "length") n = $(i + 1)
		       s[p] += n }
		     END { for (p in s) print s[p], p }' | sort -n | head -n1)
	log "least served client connection (bytes port): $port"
	port=${port#* }
	[ -n "$port" ] || return 0
	for f in pvm svm cl; do
		log "$f capture, port $port:"
		tcpdump -r "$d/$f.pcap" -nn -tt "tcp port $port" 2>/dev/null | head -n 60 | sed 's/^/#   /'
	done
	log "conntrack, primary host: $(topo_pn conntrack -L -p tcp --sport "$port" 2>/dev/null)"
	log "conntrack, secondary host: $(topo_sn conntrack -L -p tcp --sport "$port" 2>/dev/null)"
	log "conntrack counters, secondary host: $(topo_sn conntrack -S 2>/dev/null | tr -s ' \n' ' ')"
	[ -z "$2" ] || log "secondary: $(topo_sn colo-ctl status "$2" 2>&1 | tr -s ' \n' ' ')"
}

# topo_oracle: stop the captures, check them (once per topology). Adds an
# ok/not ok line; returns 1 on a violation.
topo_oracle() {
	local d=$TOPO_DIR/oracle rc name
	[ -n "$TOPO_DIR" ] && [ "$TOPO_ORACLE_RUN" = 0 ] && [ -d "$d" ] || return 0
	name=$(basename "$0" .sh)
	topo_oracle_stats
	TOPO_ORACLE_RUN=1
	# let the last frames reach the capture sockets, then make sure they
	# are in the files
	sleep 0.5
	topo_capture_barrier
	topo_capture_stop
	/usr/bin/python3 "$COLO_SRC/tests/vm/colo_oracle.py" check --dir "$d" \
		--vm "${TOPO_ORACLE_VM:-0}" --name "$name" --stats "$d/stats.json" > "$d/result" 2>&1
	rc=$?
	grep -v '^\(ok\|not ok\) ' "$d/result"
	if [ $rc = 0 ]; then
		grep '^ok ' "$d/result" | sed 's/^ok - //' | while read -r l; do ok "$l"; done
	else
		if grep -q '^not ok ' "$d/result"; then
			fail "$(grep '^not ok ' "$d/result" | head -n1 | sed 's/^not ok - //')"
		else
			fail "oracle $name: the oracle itself failed (rc $rc)"
		fi
		colo_rc=1
	fi
	return $rc
}

# Both guests answer neighbour lookups identically, but the SVM's requests
# never reach the client: give both guests the client's address statically so
# they stay in step (a real SVM inherits the PVM's neighbour cache).
topo_static_neigh() {
	local n
	for n in "$TOPO_PVM" "$TOPO_SVM"; do
		ip -n "$n" neigh replace $TOPO_CL4 lladdr $TOPO_CLMAC dev eth0 nud permanent
		ip -n "$n" neigh replace $TOPO_CL6 lladdr $TOPO_CLMAC dev eth0 nud permanent
	done
	ip -n "$TOPO_CL" neigh replace $TOPO_VM4 lladdr $TOPO_VMMAC dev cl0 nud permanent
	ip -n "$TOPO_CL" neigh replace $TOPO_VM6 lladdr $TOPO_VMMAC dev cl0 nud permanent
}

topo_ipt() { local n=$1; shift; ip netns exec "$n" "iptables-$TOPO_IPT" "$@"; }
topo_ip6t() { local n=$1; shift; ip netns exec "$n" "ip6tables-$TOPO_IPT" "$@"; }

# topo_rules_primary VMID
topo_rules_primary() {
	topo_ipt "$TOPO_PN" -t mangle -A PREROUTING -m physdev --physdev-in vport-pvm \
		-j PMYCOLO --index "$1" --forward-dev fwd0 || return 1
	topo_ip6t "$TOPO_PN" -t mangle -A PREROUTING -m physdev --physdev-in vport-pvm \
		-j PMYCOLO --index "$1" --forward-dev fwd0 || return 1
}

topo_rules_secondary() {
	topo_ipt "$TOPO_SN" -t mangle -A PREROUTING -m physdev --physdev-in vport-svm \
		-j SECCOLO --index "$1" || return 1
	topo_ip6t "$TOPO_SN" -t mangle -A PREROUTING -m physdev --physdev-in vport-svm \
		-j SECCOLO --index "$1" || return 1
}

# Removing the rules ends the protection on purpose: the oracle checks what
# came before.
topo_rules_flush() {
	local n
	topo_oracle
	for n in "$TOPO_PN" "$TOPO_SN"; do
		topo_ipt "$n" -t mangle -F 2>/dev/null
		topo_ip6t "$n" -t mangle -F 2>/dev/null
	done
}

# topo_ctl_start NS VMID MODE [options]: a colo-ctl session owning the VM.
topo_ctl_start() {
	local ns=$1 id=$2 mode=$3 fifo log fd
	shift 3
	fifo=$TOPO_DIR/ctl-$ns.in
	log=$TOPO_DIR/ctl-$ns.log
	rm -f "$fifo"
	mkfifo "$fifo" || return 1
	: > "$log"
	exec {fd}<>"$fifo"
	TOPO_CTL_FD[$ns]=$fd
	ip netns exec "$ns" colo-ctl session "$id" "$mode" --no-control "$@" \
		<"$fifo" >"$log" 2>&1 &
	TOPO_CTL_PID[$ns]=$!
	[ "$ns" = "$TOPO_PN" ] && [ "$mode" = primary ] && TOPO_ORACLE_VM=$id
	busywait 10000 grep -q '^registered' "$log" || {
		echo "colo-ctl session in $ns did not register:" >&2
		cat "$log" >&2
		return 1
	}
}

topo_ctl_log() { cat "$TOPO_DIR/ctl-$1.log"; }

# topo_ctl NS CMD: send a session command, wait for "ok CMD" / "error CMD".
topo_ctl() {
	local ns=$1 cmd=$2 log=$TOPO_DIR/ctl-$1.log before
	local olog=$TOPO_DIR/oracle/ctl.log res
	before=$(grep -c -E "^(ok|error) $cmd" "$log")
	# the primary's commands bound the instants of the primary's events
	[ "$ns" = "$TOPO_PN" ] && [ -d "$TOPO_DIR/oracle" ] && echo "$(topo_now_ns) send $cmd $ns" >> "$olog"
	echo "$cmd" >&"${TOPO_CTL_FD[$ns]}"
	busywait 10000 eval "[ \$(grep -c -E '^(ok|error) $cmd' '$log') -gt $before ]" || return 1
	res=$(grep -E "^(ok|error) $cmd" "$log" | tail -n1 | cut -d' ' -f1)
	[ "$ns" = "$TOPO_PN" ] && [ -d "$TOPO_DIR/oracle" ] && echo "$(topo_now_ns) reply $res $cmd $ns" >> "$olog"
	[ "$res" = ok ]
}

topo_ctl_stop() {
	local ns=$1 pid=${TOPO_CTL_PID[$1]:-}
	[ -n "$pid" ] || return 0
	# the VM's counters go with its owner: keep them for the oracle
	[ "$ns" = "$TOPO_PN" ] && topo_oracle_stats
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "TOPO_CTL_PID[$ns]"
}

# topo_answer_notices: the daemon's part, in the background: answer each new
# checkpoint-needed notice with a checkpoint (BEGIN, DONE) on the primary, as
# colod would. Not on the secondary: there a checkpoint resets the sequence
# offsets because the SVM then holds the PVM's state, which namespaces cannot
# copy. Sets TOPO_ANSWER_PID; topo_answer_stop ends it.
topo_answer_notices() {
	(
		seen=$(topo_notices "$TOPO_PN")
		while sleep 0.2; do
			n=$(topo_notices "$TOPO_PN")
			[ "$n" -gt "$seen" ] || continue
			seen=$n
			topo_ctl "$TOPO_PN" begin
			topo_ctl "$TOPO_PN" done
		done
	) &
	TOPO_ANSWER_PID=$!
}
topo_answer_stop() {
	[ -n "${TOPO_ANSWER_PID:-}" ] || return 0
	kill "$TOPO_ANSWER_PID" 2>/dev/null
	wait "$TOPO_ANSWER_PID" 2>/dev/null
	TOPO_ANSWER_PID=
}

# Checkpoint-needed notices seen by the session of NS (optionally of a reason).
topo_notices() {
	grep -c "checkpoint-needed.*${2:-}" "$TOPO_DIR/ctl-$1.log"
}

# topo_stat NS VMID NAME: one counter from `colo-ctl status`.
topo_stat() {
	ip netns exec "$1" colo-ctl status "$2" 2>/dev/null |
		sed -n "s/^ *$3  *\([0-9][0-9]*\)\$/\1/p" | head -n1
}

topo_teardown() {
	local p n
	topo_oracle
	topo_capture_stop
	for p in "${TOPO_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${TOPO_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	TOPO_PIDS=()
	topo_rules_flush
	for n in "${!TOPO_CTL_PID[@]}"; do
		topo_ctl_stop "$n"
	done
	for n in "$TOPO_CL" "$TOPO_PVM" "$TOPO_SVM" "$TOPO_PN" "$TOPO_SN"; do
		ip netns del "$n" 2>/dev/null
	done
	[ -n "$TOPO_DIR" ] && rm -rf "$TOPO_DIR"
	TOPO_DIR=
}

# topo_colo_up VMID [colo-ctl session options]: topology, both VMs registered
# (primary in the primary host, secondary in the secondary host), rules,
# static neighbours. Needs our modules loaded.
topo_colo_up() {
	local id=$1
	shift
	topo_setup || return 1
	topo_ctl_start "$TOPO_PN" "$id" primary "$@" || return 1
	topo_ctl_start "$TOPO_SN" "$id" secondary || return 1
	topo_rules_primary "$id" || return 1
	topo_rules_secondary "$id" || return 1
	topo_static_neigh
}

# topo_servers PVM_VARIANT SVM_VARIANT: TCP (port 5001) and UDP (5002)
# servers on both guests, IPv4 and IPv6.
topo_servers() {
	topo_bg "$TOPO_PVM" /usr/bin/python3 "$COLO_SRC/tests/vm/pmycolo-util.py" serve-tcp :: 5001 --variant "$1"
	topo_bg "$TOPO_SVM" /usr/bin/python3 "$COLO_SRC/tests/vm/pmycolo-util.py" serve-tcp :: 5001 --variant "$2"
	topo_bg "$TOPO_PVM" /usr/bin/python3 "$COLO_SRC/tests/vm/pmycolo-util.py" serve-udp :: 5002 --variant "$1"
	topo_bg "$TOPO_SVM" /usr/bin/python3 "$COLO_SRC/tests/vm/pmycolo-util.py" serve-udp :: 5002 --variant "$2"
	busywait 60000 eval "topo_pvm ss -ltnH | grep -q ':5001 ' && topo_svm ss -ltnH | grep -q ':5001 '" &&
	busywait 60000 eval "topo_pvm ss -lunH | grep -q ':5002 ' && topo_svm ss -lunH | grep -q ':5002 '"
}

# topo_tcp_pair PORT PVM_VARIANT SVM_VARIANT: one more TCP server pair, up.
topo_tcp_pair() {
	topo_bg "$TOPO_PVM" /usr/bin/python3 "$COLO_SRC/tests/vm/pmycolo-util.py" serve-tcp :: "$1" --variant "$2"
	topo_bg "$TOPO_SVM" /usr/bin/python3 "$COLO_SRC/tests/vm/pmycolo-util.py" serve-tcp :: "$1" --variant "$3"
	busywait 20000 eval "topo_pvm ss -ltnH | grep -q ':$1 ' && topo_svm ss -ltnH | grep -q ':$1 '"
}

# topo_isn_capture NS FILE: first SYN-ACK's sequence number sent in NS.
topo_isn_capture() {
	topo_bg "$1" /usr/bin/python3 "$COLO_SRC/tests/vm/pmycolo-util.py" synack eth0 > "$2" 2>&1
	busywait 60000 grep -q ready "$2"
}
topo_isn_of() { sed -n 's/^seq \([0-9]*\)$/\1/p' "$1" | head -n1; }
