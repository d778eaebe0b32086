#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# PMYCOLO fails closed (issue 7, kernel hole 1). On main 37e0ec2 pmy_tg
# returned XT_CONTINUE (the packet passed unverified) for an untracked or
# INVALID packet, for a rule whose VM is not registered and for a VM whose
# mode is not attached; a re-registered VM compared connections from the
# middle. Covered here:
# 1. INVALID: the PVM sends segments with invalid flags (none; SYN+FIN) on an
#    established connection (conntrack calls them INVALID): they must not
#    reach the client; dropped_unverifiable counts them.
# 2. Allow-list: the PVM's IPv6 neighbour solicitation (untracked) still
#    reaches the client.
# 3. Owner gone: the process owning the primary's registration is killed in
#    the middle of a connection: nothing more of the PVM's output reaches the
#    client (main: everything passed); the module-wide counter
#    /sys/module/xt_PMYCOLO/parameters/dropped_no_vm counts the drops.
# 4. Owner restarted (new PROXY_INIT): the connection the kernel now meets
#    mid-stream is held whole and a checkpoint is requested (reason
#    unsynced); only the checkpoint releases it, then it flows again.
# timeout: 300
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=71
H=$COLO_SRC/tests/vm/colo_holes.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
topo_colo_up $VM --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }
topo_bg "$TOPO_PVM" /usr/bin/python3 "$H" serve-tcp 5003
topo_bg "$TOPO_SVM" /usr/bin/python3 "$H" serve-tcp 5003
busywait 60000 eval "topo_pvm ss -ltnH | grep -q ':5003 ' && topo_svm ss -ltnH | grep -q ':5003 '" ||
	{ echo "FAIL: servers"; exit 1; }
param=/sys/module/xt_PMYCOLO/parameters/dropped_no_vm
check "the module-wide counter exists ($param)" test -r $param

# --- 2. the allow-list: neighbour discovery ----------------------------------
ns_in() { topo_cl awk '$1 == "Icmp6InNeighborSolicits" { print $2 }' /proc/net/snmp6; }
n0=$(ns_in)
topo_pvm ip neigh del $TOPO_CL6 dev eth0
topo_pvm ping -6 -c1 -W1 $TOPO_CL6 >/dev/null 2>&1
topo_pvm ip neigh replace $TOPO_CL6 lladdr $TOPO_CLMAC dev eth0 nud permanent
check "allow-list: the PVM's neighbour solicitation reached the client" test "$(ns_in)" -gt "$n0"

# --- 3. the owner dies mid-connection (the connection is started here, 1. uses it) ----------------------------------------
out=$TOPO_DIR/trickle
echo 0 > "$out"
topo_bg "$TOPO_CL" /usr/bin/python3 "$H" trickle $TOPO_VM4 5003 "$out" --count 400 --interval 0.25 --timeout 200
check "owner alive: the echo flows" busywait 60000 eval "[ \$(cat '$out') -ge 1000 ]"
# --- 1. INVALID: an out-of-window segment on the established connection ---
cport=$(topo_pvm ss -tnH state established '( sport = :5003 )' | awk '{ print $4 }' | sed 's/.*://' | head -n1)
log "client port of the connection: $cport"
topo_cl /usr/bin/python3 "$H" rawlisten INVALIDMARK 6 > "$TOPO_DIR/raw" &
rl=$!
busywait 10000 grep -q ready "$TOPO_DIR/raw"
u0=$(topo_stat "$TOPO_PN" $VM dropped_unverifiable)
# no flags, and SYN+FIN: conntrack's TCP checks call both INVALID
topo_pvm /usr/bin/python3 "$H" rawtcp $TOPO_VM4 $TOPO_CL4 "$cport" 5003 INVALIDMARK --flags 0 >/dev/null
sleep 1
topo_pvm /usr/bin/python3 "$H" rawtcp $TOPO_VM4 $TOPO_CL4 "$cport" 5003 INVALIDMARK --flags 3 >/dev/null
wait $rl
log "client saw: $(cat "$TOPO_DIR/raw" | tail -n1)"
check "INVALID: the segment did not reach the client" grep -qx "count 0" "$TOPO_DIR/raw"
check "INVALID: counted in dropped_unverifiable" \
	test "$(topo_stat "$TOPO_PN" $VM dropped_unverifiable)" -ge $((${u0:-0} + 2))

d0=$(cat $param)
topo_ctl_stop "$TOPO_PN"
check "owner killed: VM $VM torn down" \
	busywait 10000 eval "! topo_pn colo-ctl status $VM >/dev/null 2>&1"
sleep 1
n1=$(cat "$out")
sleep 4
n2=$(cat "$out")
log "client had $n1 bytes after the teardown, $n2 four seconds later"
check "owner gone: nothing more reached the client" test "$n2" = "$n1"
check "owner gone: drops counted in dropped_no_vm" test "$(cat $param)" -gt "$d0"

# --- 4. a restarted owner must not compare from the middle -------------------
topo_ctl_start "$TOPO_PN" $VM primary --hold-timeout 30000 || { echo "FAIL: re-register"; exit 1; }
check "restarted owner: a checkpoint is requested (unsynced)" \
	busywait 30000 eval "[ \$(topo_notices '$TOPO_PN' 'reason=unsynced') -ge 1 ]"
log "$(grep checkpoint-needed "$TOPO_DIR/ctl-$TOPO_PN.log" | head -n3 | tr '\n' ';')"
n3=$(cat "$out")
sleep 2
check "restarted owner: nothing released before the checkpoint" test "$(cat "$out")" = "$n3"
check "restarted owner: output held" test "$(topo_stat "$TOPO_PN" $VM held)" -gt 0
check "checkpoint begin" topo_ctl "$TOPO_PN" begin
check "checkpoint done" topo_ctl "$TOPO_PN" done
check "after the checkpoint the connection flows again" \
	busywait 30000 eval "[ \$(cat '$out') -gt $n3 ]"
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
colo_exit
