#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qemu-colo-kvm: real QEMU 7.2 COLO under KVM, driven by colod (--no-proxy).
#
# Two qemu-system-x86_64 run the freestanding test guest (tests/guest): the
# secondary with -incoming on a loopback port, the primary started first so
# that its guest counts for a while alone. colod --start on both sides starts
# COLO; N checkpoints are requested through the primary daemon's control
# socket and each must complete (STOP..RESUME seen, count and pause reported).
# Then the primary QEMU is killed, the secondary is failed over through its
# daemon, and the secondary guest must go on printing the primary's nonce
# with a count that continues the primary's: the state (and the pages the
# guest dirties, which it verifies) came over by the checkpoints we drove.
# A second pair then loses its secondary: the primary's daemon must notice it
# at the next checkpoint, and (manual failover policy, the default: no split
# brain) not fail over by itself, but on request; the primary guest runs on.
#
# exit 0 = pass, 4 = skip (reason on stdout), else fail. Never hangs: every
# wait is bounded and everything started is killed on exit.
# timeout: 240

set -u -o pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=${COLO_KVM_CHECKPOINTS:-10}
VMID=${COLO_KVM_VMID:-7}
KEEP=${COLO_KVM_KEEP:-}

# ctl SOCKET LINE: one request line to a colod control socket, prints the answer
ctl() {
	printf '%s\n' "$2" | timeout 30 socat -t 25 - "UNIX-CONNECT:$1" 2>&1
}

kv() { # kv KEY "LINE": value of KEY=... in a status line
	local w
	for w in $2; do
		case $w in "$1"=*) echo "${w#*=}"; return 0;; esac
	done
	return 1
}

last_count() { # last_count FILE NONCE
	grep -as "nonce=$2 count=" "$1" | tail -n 1 | sed 's/.*count=\([0-9]*\).*/\1/'
}

# --- prerequisites -------------------------------------------------------
host_need_kvm "COLO in QEMU 7.2 deadlocks under TCG"
host_guest
host_colod
host_qemu_setup qemu-colo-kvm
host_kvm_probe
ok "KVM runs the test guest"

port=$(free_port 2) || { fail "no free loopback port"; exit 1; }

# --- start both sides ----------------------------------------------------
# COM2 of the primary is a FIFO only the test writes: a character sent there
# reaches the secondary guest through a checkpoint or not at all.
mkfifo "$T/pin" || { fail "mkfifo"; exit 1; }
timeout -k 5 200 "$QEMU" "${QARGS[@]}" -name colo-svm \
	-serial "file:$T/s.serial" -qmp "unix:$T/s.qmp,server=on,wait=off" \
	-serial null -incoming "tcp:127.0.0.1:$port" -pidfile "$T/s.pid" </dev/null >"$T/s.qemu.log" 2>&1 &
svm=$!; pids+=($svm)
timeout -k 5 200 "$QEMU" "${QARGS[@]}" -name colo-pvm \
	-serial "file:$T/p.serial" -qmp "unix:$T/p.qmp,server=on,wait=off" \
	-serial "pipe:$T/pin" -pidfile "$T/p.pid" </dev/null >"$T/p.qemu.log" 2>&1 &
pvm=$!; pids+=($pvm)

wait_for 30 grep -aqs 'start nonce=' "$T/p.serial" || { fail "primary guest did not boot"; exit 1; }
nonce=$(grep -a 'start nonce=' "$T/p.serial" | head -n 1 | sed 's/.*nonce=\([0-9a-f]*\).*/\1/')
log "primary guest nonce $nonce"

timeout -k 5 190 "$COLOD" --vm "$VMID" --side secondary --qmp "$T/s.qmp" \
	--start --no-proxy --failover manual --ctl "$T/s.sock" \
	2>"$T/s.colod.log" &
scolod=$!; pids+=($scolod)
wait_for 10 test -S "$T/s.sock" || { fail "secondary colod did not come up"; cat "$T/s.colod.log"; exit 1; }

# let the primary's guest count alone for a while
sleep 1.5
pre_count=$(last_count "$T/p.serial" "$nonce")
log "primary count before COLO: ${pre_count:-none}"
if grep -aq "nonce=$nonce" "$T/s.serial" 2>/dev/null; then
	fail "secondary printed the primary's nonce before any migration"
fi

timeout -k 5 190 "$COLOD" --vm "$VMID" --side primary --qmp "$T/p.qmp" \
	--start --peer "tcp:127.0.0.1:$port" --checkpoint-delay 20000 \
	--min-interval 50 --no-proxy --ctl "$T/p.sock" \
	2>"$T/p.colod.log" &
pcolod=$!; pids+=($pcolod)

if wait_for 30 grep -q 'entered COLO' "$T/p.colod.log"; then
	ok "primary entered COLO"
else
	fail "primary did not enter COLO"; cat "$T/p.colod.log"; exit 1
fi
wait_for 10 grep -q 'entered COLO' "$T/s.colod.log" && ok "secondary entered COLO" ||
	fail "secondary did not report COLO"

# --- N checkpoints through the daemon --------------------------------------
st=$(ctl "$T/p.sock" status)
base=$(kv checkpoints "$st")
log "status before: $st"
done_ok=0
pauses=()
cp_count=
for i in $(seq 1 "$N"); do
	sleep 0.2
	if [ "$i" = "$N" ]; then
		# a mark only the primary's guest has, then the last checkpoint
		timeout 5 sh -c "printf M > '$T/pin'" || fail "cannot write the primary's COM2"
		wait_for 20 grep -aq "nonce=$nonce count=[0-9]* mark=M" "$T/p.serial" ||
			fail "primary guest did not take the mark"
		if grep -aq 'mark=M' "$T/s.serial"; then
			fail "secondary had the mark before the checkpoint"
		else
			ok "secondary does not have the primary's mark before checkpoint $i"
		fi
	fi
	cp_count=$(last_count "$T/p.serial" "$nonce")
	t0=$(date +%s%N)
	ans=$(ctl "$T/p.sock" checkpoint)
	t1=$(date +%s%N)
	st=$(ctl "$T/p.sock" status)
	cnt=$(kv checkpoints "$st"); reason=$(kv last_reason "$st")
	pause=$(kv last_pause_ms "$st")
	if [ "$ans" = ok ] && [ "$cnt" = $((base + i)) ] && [ "$reason" = request ]; then
		done_ok=$((done_ok + 1))
		pauses+=("$pause")
		log "checkpoint $i: count=$cnt pause=${pause} ms (request answered in $(( (t1 - t0) / 1000000 )) ms)"
	else
		fail "checkpoint $i: answer '$ans', status '$st'"
	fi
done
[ "$done_ok" -eq "$N" ] && ok "$N requested checkpoints completed" ||
	fail "only $done_ok of $N requested checkpoints completed"
log "status after: $st"
if wait_for 20 grep -aq "nonce=$nonce count=[0-9]* mark=M" "$T/s.serial"; then
	ok "secondary guest got the primary-only mark through requested checkpoint $N"
else
	fail "secondary guest never showed the primary's mark"
fi
grep -q "checkpoint $((base + N)) reason=request pause=" "$T/p.colod.log" &&
	ok "colod logged each checkpoint" || fail "colod checkpoint log lines missing"

sst=$(ctl "$T/s.sock" status)
log "secondary status: $sst"
scnt=$(kv checkpoints "$sst")
[ "${scnt:-0}" -ge "$N" ] && ok "secondary loaded $scnt checkpoints" ||
	fail "secondary saw ${scnt:-0} checkpoint loads, want >= $N"
[ "$(ctl "$T/s.sock" checkpoint)" != ok ] && ok "secondary refuses checkpoint requests" ||
	fail "secondary accepted a checkpoint request"

# --- kill the primary, fail the secondary over ----------------------------
p_last=$(last_count "$T/p.serial" "$nonce")
log "primary count at the last checkpoint ~$cp_count, when killed $p_last"
kill -9 "$(cat "$T/p.pid")"
wait "$pvm" 2>/dev/null
if wait_for 10 grep -q 'QEMU gone' "$T/p.colod.log"; then
	ok "primary colod reports QEMU loss"
else
	fail "primary colod did not notice QEMU loss"
fi
if wait_for 10 sh -c "! kill -0 $pcolod 2>/dev/null"; then
	wait "$pcolod"; prc=$?
else
	prc="none (still running)"
fi
[ "$prc" = 3 ] && ok "primary colod exited 3 (QEMU lost)" || fail "primary colod exit $prc, want 3"

wait_for 10 grep -q 'COLO_EXIT' "$T/s.colod.log" && ok "secondary saw COLO_EXIT" ||
	fail "secondary did not see COLO_EXIT"
off=$(stat -c %s "$T/s.serial")
ans=$(ctl "$T/s.sock" failover)
[ "$ans" = ok ] && ok "secondary failover through colod" || fail "secondary failover: '$ans'"
sst=$(ctl "$T/s.sock" status)
[ "$(kv state "$sst")" = failed-over ] && ok "secondary state failed-over" ||
	fail "secondary state after failover: $sst"
# at least 5 more lines (a loaded host slows the guest's clock loop down)
wait_for 20 sh -c "[ \$(tail -c +$((off + 1)) '$T/s.serial' | grep -ac 'nonce=$nonce count=') -ge 5 ]"
tail -c +"$((off + 1))" "$T/s.serial" > "$T/s.after"
after=$(grep -ac "nonce=$nonce count=" "$T/s.after")
first=$(grep -a "nonce=$nonce count=" "$T/s.after" | head -n 1 | sed 's/.*count=\([0-9]*\).*/\1/')
last=$(last_count "$T/s.after" "$nonce")
mark_after=$(grep -ac "nonce=$nonce count=[0-9]* mark=M" "$T/s.after")
log "secondary after failover: $after lines, count $first..$last (primary had ~$cp_count at the last checkpoint, $p_last when killed; ${pre_count:-0} before COLO)"
if [ "$after" -ge 5 ] && [ -n "$first" ] && [ -n "$cp_count" ] &&
   [ "$first" -ge "$cp_count" ] && [ "$last" -gt "$first" ] &&
   [ "$mark_after" = "$after" ]; then
	ok "secondary guest continues the primary's count, nonce and mark"
else
	fail "secondary guest does not continue the primary's state"
	tail -n 5 "$T/s.serial"
fi
if grep -aq BAD "$T/s.serial" "$T/p.serial"; then
	fail "a guest found a lost dirty page"; grep -a BAD "$T/s.serial" "$T/p.serial" | head
else
	ok "dirty pages consistent on both guests"
fi
if grep -a "count=" "$T/s.serial" | grep -av "nonce=$nonce" | grep -q .; then
	log "note: secondary printed lines of its own before the migration: $(grep -a count= "$T/s.serial" | grep -avc "nonce=$nonce")"
fi

# --- stop, summaries --------------------------------------------------------
kill -TERM "$scolod"
wait "$scolod"; src=$?
[ "$src" = 0 ] && ok "secondary colod exits 0 on SIGTERM" || fail "secondary colod exit $src"
grep -h 'summary' "$T/p.colod.log" "$T/s.colod.log" | sed 's/^/# /'
if [ ${#pauses[@]} -gt 0 ]; then
	printf '%s\n' "${pauses[@]}" | sort -n | awk '{a[NR]=$1; s+=$1} END {
		printf "# measured: %d requested checkpoints, pause ms min %.3f median %.3f max %.3f avg %.3f\n",
			NR, a[1], a[int((NR+1)/2)], a[NR], s/NR }'
fi
kill -9 "$(cat "$T/s.pid" 2>/dev/null)" 2>/dev/null
wait "$svm" 2>/dev/null

# --- second pair: the secondary dies; the primary (manual policy, the
# default) reports it and fails over when asked ----------------------------
log "phase 2: losing the secondary"
port2=$((port + 1))
# The secondary runs under colo-qemu (the launcher): with a tap carrying the
# historical colo_nicname=/colo_script= words when taps can be made (a down
# tap without addresses, gone with QEMU), else without a NIC.
nic_p=() nic_s=()
if [ -w /dev/net/tun ] && ! ip link show "colo${VMID}.0" >/dev/null 2>&1 &&
   ! ip link show "colop${VMID}" >/dev/null 2>&1; then
	cat > "$T/colo-script.sh" <<'EOS'
#!/bin/sh
# test colo_script: records its arguments and whether the tap exists
echo "$* tap=$([ -e "/sys/class/net/$4" ] && echo yes || echo no)" >> "${0%/*}/script.log"
EOS
	chmod +x "$T/colo-script.sh"
	nic_p=(-netdev "tap,id=n0,ifname=colop${VMID},script=no,downscript=no"
	       -device e1000,netdev=n0,romfile=,mac=52:54:00:c0:10:01)
	nic_s=(-netdev "tap,id=n0,script=no,downscript=no,colo_nicname=lo,colo_script=$T/colo-script.sh"
	       -device e1000,netdev=n0,romfile=,mac=52:54:00:c0:10:01)
fi
make -s -C "$SRC/qemu-glue" colo-qemu >/dev/null || fail "build colo-qemu"
timeout -k 5 120 "$SRC/qemu-glue/colo-qemu" --side secondary --vm "$VMID" \
	--qmp "$T/s2.qmp" --colod "$COLOD" --start --no-proxy --failover manual \
	--ctl "$T/s2.sock" -- "$QEMU" "${QARGS[@]}" -name colo-svm2 "${nic_s[@]}" \
	-serial "file:$T/s2.serial" -serial null \
	-incoming "tcp:127.0.0.1:$port2" -pidfile "$T/s2.pid" \
	</dev/null >"$T/s2.qemu.log" 2>"$T/s2.colod.log" &
svm2=$!; pids+=($svm2)
mkfifo "$T/pin2"
timeout -k 5 120 "$QEMU" "${QARGS[@]}" -name colo-pvm2 "${nic_p[@]}" \
	-serial "file:$T/p2.serial" -qmp "unix:$T/p2.qmp,server=on,wait=off" \
	-serial "pipe:$T/pin2" -pidfile "$T/p2.pid" </dev/null >"$T/p2.qemu.log" 2>&1 &
pids+=($!)
wait_for 15 test -S "$T/s2.sock" && ok "phase 2: colo-qemu started QEMU and colod" ||
	fail "phase 2: colo-qemu: secondary colod did not come up"
if [ ${#nic_s[@]} -gt 0 ]; then
	if wait_for 15 grep -q "^secondary install lo colo${VMID}.0 ${VMID} tap=yes$" "$T/script.log"; then
		ok "phase 2: colo-qemu ran the colo_script install once the tap existed"
	else
		fail "phase 2: colo_script install: $(cat "$T/script.log" 2>&1)"
	fi
else
	log "phase 2: no /dev/net/tun: colo-qemu runs without a tap"
fi
timeout -k 5 110 "$COLOD" --vm "$VMID" --side primary --qmp "$T/p2.qmp" \
	--start --peer "tcp:127.0.0.1:$port2" --checkpoint-delay 20000 \
	--min-interval 50 --no-proxy --ctl "$T/p2.sock" \
	2>"$T/p2.colod.log" &
p2colod=$!; pids+=($p2colod)
if wait_for 30 grep -q 'entered COLO' "$T/p2.colod.log" &&
   [ "$(ctl "$T/p2.sock" checkpoint)" = ok ]; then
	ok "phase 2: COLO running, a checkpoint completed"
	kill -9 "$(cat "$T/s2.pid")"
	sleep 0.5
	# the primary notices at its next checkpoint (QEMU's stream breaks there)
	ans=$(ctl "$T/p2.sock" checkpoint)
	log "phase 2: checkpoint after the secondary died: '$ans'"
	[ "$ans" != ok ] && ok "phase 2: checkpoint fails without a secondary" ||
		fail "phase 2: checkpoint succeeded without a secondary"
	# manual policy (the default): report the lost peer, hold, wait
	if wait_for 15 grep -q 'peer lost' "$T/p2.colod.log"; then
		ok "phase 2: primary reports the peer lost"
	else
		fail "phase 2: primary did not report the peer lost"
	fi
	sleep 2
	st2=$(ctl "$T/p2.sock" status)
	if [ "$(kv state "$st2")" = peer-lost ] && ! grep -q 'failover done' "$T/p2.colod.log"; then
		ok "phase 2: primary does not fail over by itself (manual policy)"
	else
		fail "phase 2: primary with the manual policy: '$st2'"
	fi
	ans=$(ctl "$T/p2.sock" failover)
	[ "$ans" = ok ] && ok "phase 2: primary failover on request (x-colo-lost-heartbeat)" ||
		fail "phase 2: primary failover request: '$ans'"
	st2=$(ctl "$T/p2.sock" status)
	[ "$(kv state "$st2")" = failed-over ] && ok "phase 2: primary state failed-over" ||
		fail "phase 2: primary status '$st2'"
	c1=$(grep -ac count= "$T/p2.serial")
	wait_for 15 sh -c "[ \$(grep -ac count= '$T/p2.serial') -ge $((c1 + 3)) ]" &&
		ok "phase 2: primary guest keeps running" ||
		fail "phase 2: primary guest stopped after failover"
	grep -E 'COLO_EXIT|failover|failed' "$T/p2.colod.log" | sed 's/^/# /'
	if wait_for 15 sh -c "! kill -0 $svm2 2>/dev/null"; then
		wait "$svm2" 2>/dev/null; lrc=$?
		[ "$lrc" = 137 ] && ok "phase 2: colo-qemu exits 128+9 for a SIGKILLed QEMU" ||
			fail "phase 2: colo-qemu exit $lrc, want 137"
	else
		fail "phase 2: colo-qemu still running after its QEMU died"
	fi
	if [ ${#nic_s[@]} -gt 0 ]; then
		grep -q "^secondary uninstall lo colo${VMID}.0 ${VMID} " "$T/script.log" &&
			ok "phase 2: colo-qemu ran the colo_script uninstall" ||
			fail "phase 2: no uninstall: $(cat "$T/script.log")"
	fi
	grep -q 'QEMU gone' "$T/s2.colod.log" && ok "phase 2: secondary colod reported its QEMU gone" ||
		fail "phase 2: secondary colod did not report QEMU loss"
else
	fail "phase 2: COLO did not start"
fi

[ $rc -eq 0 ] && echo "PASS: qemu-colo-kvm" || echo "FAIL: qemu-colo-kvm"
exit $rc
