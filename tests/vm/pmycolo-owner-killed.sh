#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fail closed when the registering process dies (issue 7, "Fail closed").
#
# Failed on main before the kernel's fail-closed fix (it passes since):
# when the process that registered the primary (here `colo-ctl session`) is
# killed, the kernel tears the VM down and the PMYCOLO rule then lets every PVM
# packet through (XT_CONTINUE for an unknown VM id), so the client receives
# output the SVM never produced. The output-commit oracle (tests/topo.sh,
# tests/vm/colo_oracle.py) must flag those bytes.
#
# A 6 MB download whose SVM diverges for good from byte 2,000,000 on: the
# primary holds the PVM's output from there and asks for a checkpoint, which
# never comes: the primary's session is killed instead. Afterwards no byte past
# the divergence may reach the client (held or dropped: either way the
# download stalls), and the oracle must see no violation.
# timeout: 240
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=27
AT=2000000
SIZE=6000000
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
# A long hold timeout: the only notice must be the difference.
topo_colo_up $VM --hold-timeout 60000 || { echo "FAIL: topology"; exit 1; }
topo_bg "$TOPO_PVM" /usr/bin/python3 "$UTIL" serve-tcp :: 5001
topo_bg "$TOPO_SVM" /usr/bin/python3 "$COLO_SRC/tests/vm/diverge_server.py" :: 5001 --at $AT
busywait 60000 eval "topo_pvm ss -ltnH | grep -q ':5001 ' && topo_svm ss -ltnH | grep -q ':5001 '" ||
	{ echo "FAIL: servers"; exit 1; }

res=$TOPO_DIR/get.res
topo_cl /usr/bin/python3 "$UTIL" get $TOPO_VM4 5001 $SIZE --timeout 25 > "$res" 2>&1 &
client=$!
check "the SVM's difference requests a checkpoint" \
	busywait 60000 eval "[ \$(topo_notices '$TOPO_PN' mismatch) -gt 0 ]"
log "$(grep checkpoint-needed "$TOPO_DIR/ctl-$TOPO_PN.log" | head -n1)"
check "the primary holds the PVM's diverging output" test "$(topo_stat "$TOPO_PN" $VM held)" -gt 0
log "primary before the kill: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"

# The owner of the registration dies without a checkpoint.
topo_ctl_stop "$TOPO_PN"
log "primary session killed; VM after it: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"

# Either the download completes (fail open) or stalls until its timeout.
wait $client
log "client: $(cat "$res")"
check "the client did not get the download past the divergence" eval "! grep -q '^OK get' '$res'"
colo_exit
