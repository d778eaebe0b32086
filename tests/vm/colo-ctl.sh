#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# colo-ctl against the real COLO generic netlink family: the module-not-loaded
# message, session (PROXY_INIT, GET, BEGIN/DONE/checkpoint, FAILOVER, RESET,
# errors with the kernel's extack text), status/--json/--conns from another
# process, a second registration of the same id (EEXIST), unknown VMs, manual
# checkpoint/failover through the owner's control socket, register + SIGTERM
# tears the VM down, the monitor's echo lines, and (if xt_PMYCOLO is built) a
# real CHECKPOINT_NEEDED notice caused by a held PVM packet.
# Everything happens in network namespaces of our own (VMs are per netns).
# timeout: 180
source "$COLO_SRC/tests/lib.sh"

CTL=$COLO_SRC/qemu-glue/colo-ctl
SCRIPT=$COLO_SRC/scripts/colo-proxy-script.sh
VM=21
VM2=22
NOVM=99

tmp=$(mktemp -d /tmp/colo-ctl.XXXXXX)
ns=colo-ctl-$$
pvm_ns=colo-ctl-pvm-$$
cl_ns=colo-ctl-cl-$$
bg_pids=()
SESS_PID=

nsx() { ip netns exec "$ns" env COLO_RUN_DIR="$tmp/run" "$@"; }

cleanup() {
	local p
	[ -n "${SESS_PID:-}" ] && kill "$SESS_PID" 2>/dev/null
	for p in "${bg_pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns del "$ns" 2>/dev/null
	ip netns del "$pvm_ns" 2>/dev/null
	ip netns del "$cl_ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

[ -x "$CTL" ] || skip "qemu-glue/colo-ctl not built (make -C qemu-glue)"
for m in nf_conntrack_colo nfnetlink_colo; do
	[ -f "$COLO_SRC/$m.ko" ] || skip "$m.ko not built"
done

# ---------------------------------------------------------------------------
log "conventions: version, usage errors (exit 2)"
check "-V prints the version" sh -c "'$CTL' -V | grep -qx 'colo-ctl [^ ][^ ]*'"
check "--version prints the same" sh -c "[ \"\$('$CTL' -V)\" = \"\$('$CTL' --version)\" ]"
for args in "" "frobnicate" "status --bogus" "status 0" "status 1 2" "register 5" \
	    "register 5 tertiary" "register 5 primary --hold-timeout x" "checkpoint" \
	    "failover 1 --timeout 0" "monitor extra"; do
	rc=0
	# shellcheck disable=SC2086 # word list on purpose
	"$CTL" $args >"$tmp/out" 2>"$tmp/err" || rc=$?
	check "usage error exits 2: colo-ctl $args" [ "$rc" = 2 ]
done

log "module not loaded"
if grep -q '^nfnetlink_colo ' /proc/modules; then
	log "nfnetlink_colo already loaded: not-loaded message not checked"
else
	rc=0
	"$CTL" status "$VM" >"$tmp/out" 2>"$tmp/err" || rc=$?
	check "status without the module exits 3" [ "$rc" = 3 ]
	check "says the module is not loaded" \
		grep -q '^colo-ctl: module nfnetlink_colo not loaded' "$tmp/err"
fi

modprobe -q nf_conntrack || skip "nf_conntrack not loadable"
for m in nf_conntrack_colo nfnetlink_colo; do
	grep -q "^$m " /proc/modules && continue
	insmod "$COLO_SRC/$m.ko" || skip "insmod $m.ko failed"
done

ip netns add "$ns" || skip "cannot create a network namespace"
mkdir -p "$tmp/run"

# ---------------------------------------------------------------------------
log "monitor"
# Not through nsx (a function): $! must be colo-ctl itself for kill.
ip netns exec "$ns" "$CTL" monitor >"$tmp/mon" 2>"$tmp/mon.err" &
bg_pids+=($!)
check "monitor joined the group" busywait 5000 grep -q '^# monitoring' "$tmp/mon"

# ---------------------------------------------------------------------------
log "session"
coproc SESS { nsx "$CTL" session "$VM" primary --hold-timeout 300 --queue-limit 64 2>"$tmp/sess.err"; }
SESS_IN=${SESS[1]}
SESS_OUT=${SESS[0]}

reply=
status_line=
# sess_read PATTERN: read session lines until one matches (glob), 10 s max.
sess_read() {
	local line
	while IFS= read -r -t 10 line <&"$SESS_OUT"; do
		echo "$line" >>"$tmp/sess.log"
		case $line in
		status\ *) status_line=$line ;;
		esac
		# shellcheck disable=SC2053
		if [[ $line == $1 ]]; then
			reply=$line
			return 0
		fi
	done
	reply="(no answer)"
	return 1
}
# sess_do CMD: send a command, read until "ok CMD" or "error CMD: ...".
sess_do() {
	local line
	reply=
	printf '%s\n' "$1" >&"$SESS_IN"
	while IFS= read -r -t 10 line <&"$SESS_OUT"; do
		echo "$line" >>"$tmp/sess.log"
		case $line in
		status\ *) status_line=$line ;;
		"ok $1"|"error $1:"*) reply=$line; break ;;
		esac
	done
	[ -n "$reply" ] || reply="(no answer)"
}
# like STRING GLOB
like() {
	# shellcheck disable=SC2053
	[[ $1 == $2 ]]
}
field() {	# field NAME LINE
	local w
	for w in $2; do
		[ "${w%%=*}" = "$1" ] && { echo "${w#*=}"; return 0; }
	done
	return 1
}

if sess_read "registered *"; then
	ok "session registered: $reply"
else
	fail "session did not register: $(cat "$tmp/sess.err")"
	colo_exit
fi

sess_do status
check "status answered" [ "$reply" = "ok status" ]
check "status line: primary running" \
	[ "$(field mode "$status_line")/$(field state "$status_line")" = primary/running ]
epoch0=$(field epoch "$status_line")

sess_do begin
check "begin: ok" [ "$reply" = "ok begin" ]
sess_do status
check "state checkpoint after begin" [ "$(field state "$status_line")" = checkpoint ]
sess_do begin
check "second begin: error with the kernel's message" \
	like "$reply" "error begin: a checkpoint is already in progress*"
sess_do "done"
check "done: ok" [ "$reply" = "ok done" ]
sess_do "done"
check "done without begin: error with the kernel's message" \
	like "$reply" "error done: no checkpoint pending*"
sess_do checkpoint
check "checkpoint (begin+done): ok" [ "$reply" = "ok checkpoint" ]
sess_do status
check "two checkpoints counted" [ "$(field checkpoints "$status_line")" = 2 ]
check "epoch advanced by 2" [ "$(field epoch "$status_line")" = $((epoch0 + 2)) ]
sess_do reset
check "reset: ok" [ "$reply" = "ok reset" ]
sess_do frobnicate
check "unknown command answered" \
	like "$reply" "error frobnicate: unknown command*"

log "status from another process"
rc=0
nsx "$CTL" status "$VM" >"$tmp/out" 2>"$tmp/err" || rc=$?
check "status VMID exits 0" [ "$rc" = 0 ]
check "status shows mode and state" grep -q "^vm $VM: primary, state running" "$tmp/out"
check "status shows the queue limit" grep -q "queue limit: 64 packets" "$tmp/out"
check "status shows the hold timeout" grep -q "hold timeout: 300 ms" "$tmp/out"
nsx "$CTL" status "$VM" --json >"$tmp/json" 2>&1
check "status --json is JSON" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = d["vms"][0]
assert len(d["vms"]) == 1 and v["vm_id"] == int(sys.argv[2]) and v["mode"] == "primary"
assert v["stats"]["checkpoints"] == 2' "$tmp/json" "$VM"
nsx "$CTL" status --json >"$tmp/json-all" 2>&1
check "status --json with and without an id: one shape" python3 -c '
import json, sys
one, every = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert sorted(one) == sorted(every) == ["family_id", "monitor_group", "vms"], (one, every)
assert one["family_id"] == every["family_id"] > 0
mine = [v for v in every["vms"] if v["vm_id"] == int(sys.argv[3])]
assert len(mine) == 1 and sorted(mine[0]) == sorted(one["vms"][0])' "$tmp/json" "$tmp/json-all" "$VM"
check "status --conns exits 0" nsx "$CTL" status "$VM" --conns
nsx "$CTL" status >"$tmp/out" 2>&1
check "status without id lists the VM with a control socket" \
	grep -q "^vm $VM: primary" "$tmp/out"

log "second registration, unknown VMs"
rc=0
nsx "$CTL" register "$VM" primary >"$tmp/out" 2>"$tmp/err" || rc=$?
check "second registration exits 1" [ "$rc" = 1 ]
check "second registration: EEXIST message" \
	grep -q "^colo-ctl: vm $VM: register as primary: VM id is bound to another socket" "$tmp/err"
rc=0
nsx "$CTL" status "$NOVM" >"$tmp/out" 2>"$tmp/err" || rc=$?
check "status of an unknown VM exits 1" [ "$rc" = 1 ]
check "unknown VM message" grep -q "^colo-ctl: vm $NOVM: unknown VM id" "$tmp/err"
rc=0
nsx "$CTL" checkpoint "$NOVM" >"$tmp/out" 2>"$tmp/err" || rc=$?
check "manual checkpoint without an owner exits 1" [ "$rc" = 1 ]
check "says there is no daemon socket" grep -q "no COLO daemon is listening" "$tmp/err"
check "says the VM is not registered" grep -q "vm $NOVM is not registered" "$tmp/err"
rc=0
"$CTL" status "$VM" >"$tmp/out" 2>"$tmp/err" || rc=$?
check "VMs are per netns: unknown in the init netns" [ "$rc" = 1 ]

log "manual commands through the owner's control socket"
check "control socket exists" [ -S "$tmp/run/vm$VM.sock" ]
rc=0
nsx "$CTL" checkpoint "$VM" >"$tmp/out" 2>"$tmp/err" || rc=$?
check "colo-ctl checkpoint VMID exits 0" [ "$rc" = 0 ]
check "session reports the control checkpoint" sess_read "control checkpoint ok"

# ---------------------------------------------------------------------------
# A real CHECKPOINT_NEEDED: the PVM's packet is held, no SVM answers, the hold
# timeout (300 ms) asks for a checkpoint.
notice_test() {
	local f
	for f in "$COLO_SRC/xt_PMYCOLO.ko" "$COLO_SRC/libxt/libxt_PMYCOLO.so"; do
		[ -f "$f" ] || { log "notice test skipped: $f not built"; return 0; }
	done
	if ! ip netns add "$pvm_ns" || ! ip netns add "$cl_ns"; then fail "netns"; return 0; fi
	ip -n "$ns" link add br0 type bridge
	ip -n "$ns" link add tap0 type veth peer name eth0 netns "$pvm_ns"
	ip -n "$ns" link add cl0 type veth peer name eth0 netns "$cl_ns"
	ip -n "$ns" link add fwd0 type dummy
	ip -n "$ns" link set tap0 master br0
	ip -n "$ns" link set cl0 master br0
	for f in br0 tap0 cl0 fwd0; do ip -n "$ns" link set "$f" up; done
	ip -n "$pvm_ns" addr add 10.77.0.2/24 dev eth0
	ip -n "$pvm_ns" link set eth0 up
	ip -n "$cl_ns" addr add 10.77.0.3/24 dev eth0
	ip -n "$cl_ns" link set eth0 up
	# The script loads xt_PMYCOLO and its stock dependencies.
	# Plain `iptables` may be a dangling alternatives link in the guest.
	b=$(colo_iptables_backends | head -n1)
	export IPTABLES=iptables-$b IP6TABLES=ip6tables-$b
	ip netns exec "$ns" env COLO_MODULE_DIR="$COLO_SRC" \
		"$SCRIPT" primary install fwd0 tap0 "$VM" 2>"$tmp/script.err" ||
		{ fail "proxy script install: $(cat "$tmp/script.err")"; return 0; }
	ip netns exec "$pvm_ns" ping -c 1 -W 2 10.77.0.3 >/dev/null 2>&1 || true
	check "notice checkpoint-needed reason=hold-timeout" \
		sess_read "notice checkpoint-needed vm=$VM reason=hold-timeout*"
	check "monitor saw the notice" \
		busywait 3000 grep -q " checkpoint-needed vm=$VM reason=" "$tmp/mon"
	sess_do checkpoint
	check "checkpoint after the notice: ok" [ "$reply" = "ok checkpoint" ]
	sess_do status
	check "held packet released by the checkpoint" \
		[ "$(field released_checkpoint "$status_line")" -ge 1 ]
	ip netns exec "$ns" "$SCRIPT" primary uninstall fwd0 tap0 "$VM" ||
		fail "proxy script uninstall"
}
notice_test

log "failover"
rc=0
nsx "$CTL" failover "$VM" >"$tmp/out" 2>"$tmp/err" || rc=$?
check "colo-ctl failover VMID exits 0" [ "$rc" = 0 ]
check "session reports the control failover" sess_read "control failover ok"
sess_do status
check "state failover" [ "$(field state "$status_line")" = failover ]
sess_do begin
check "begin after failover: error" like "$reply" "error begin: VM has failed over*"

sess_do quit
check "quit: ok" [ "$reply" = "ok quit" ]
wait "$SESS_PID" 2>/dev/null
rc=$?
check "session exits 0 after quit" [ "$rc" = 0 ]
SESS_PID=
check "control socket removed" [ ! -e "$tmp/run/vm$VM.sock" ]
check "VM torn down when the session's socket closed" \
	busywait 3000 bash -c "! ip netns exec $ns $CTL status $VM >/dev/null 2>&1"

# ---------------------------------------------------------------------------
log "register + SIGTERM"
ip netns exec "$ns" "$CTL" register "$VM2" secondary >"$tmp/reg" 2>"$tmp/reg.err" &
reg_pid=$!
bg_pids+=("$reg_pid")
check "register prints the registration" \
	busywait 5000 grep -q "^registered vm=$VM2 mode=secondary port=" "$tmp/reg"
check "registered VM visible to status" nsx "$CTL" status "$VM2"
kill -TERM "$reg_pid"
rc=0
wait "$reg_pid" || rc=$?
check "register exits 0 on SIGTERM" [ "$rc" = 0 ]
check "VM torn down after SIGTERM" \
	busywait 3000 bash -c "! ip netns exec $ns $CTL status $VM2 >/dev/null 2>&1"

log "monitor lines"
sleep 0.5
ts='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+ '
for re in "proxy-init vm=$VM mode=primary port=[0-9]+$" \
	  "checkpoint-begin vm=$VM epoch=[0-9]+ mode=primary port=[0-9]+$" \
	  "checkpoint-done vm=$VM epoch=[0-9]+ " \
	  "reset vm=$VM " \
	  "failover vm=$VM " \
	  "proxy-init vm=$VM2 mode=secondary port=[0-9]+$"; do
	check "monitor: $re" grep -Eq "$ts$re" "$tmp/mon"
done
check "monitor: no malformed-message warnings" bash -c "! grep -q malformed $tmp/mon.err"

echo "# session log:"; sed 's/^/#   /' "$tmp/sess.log"
echo "# monitor log:"; sed 's/^/#   /' "$tmp/mon"
colo_exit
