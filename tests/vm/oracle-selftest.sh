#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The output-commit oracle (tests/topo.sh + tests/vm/colo_oracle.py) on a live
# topology must flag a leak: an ACCEPT rule placed above PMYCOLO lets the PVM's
# answer through although the SVM's answer differs (a misconfiguration, not a
# kernel bug). The client gets the PVM's answer at once; the oracle must say
# `not ok` with a violation naming those bytes. This test passes when it does.
# (The positive control, the same exchange held and released by a checkpoint,
# is pmycolo-diverge: its oracle must pass with every byte verified by the
# checkpoint.)
# timeout: 420
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=28
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
command -v tcpdump >/dev/null || skip "tcpdump missing"
colo_load_modules || skip "cannot load the colo modules"
expected="guest says hello, the answer is 42"

topo_colo_up $VM --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }
topo_servers same other || { echo "FAIL: servers"; exit 1; }
topo_ipt "$TOPO_PN" -t mangle -I PREROUTING 1 -m physdev --physdev-in vport-pvm \
	-p tcp --sport 5001 -j ACCEPT || { echo "FAIL: leak rule"; exit 1; }
out=$TOPO_DIR/hello1
check "leak: the client gets the PVM's answer without a checkpoint" \
	topo_cl /usr/bin/python3 "$UTIL" hello $TOPO_VM4 5001 "$out" --timeout 30
check "leak: it is the PVM's answer" test "$(cat "$out")" = "$expected"
check "leak: no checkpoint happened" test "$(topo_stat "$TOPO_PN" $VM checkpoints)" = 0
rc_before=$colo_rc
topo_oracle > "$TOPO_DIR/oracle1.out"
orc=$?
sed 's/^/#   /' "$TOPO_DIR/oracle1.out"
colo_rc=$rc_before	# the oracle's failure is this test's expectation
check "leak: the oracle fails" test $orc != 0
check "leak: the oracle says not ok" grep -q '^not ok - oracle' "$TOPO_DIR/oracle1.out"
check "leak: the violation names the answer's bytes" \
	grep -q 'VIOLATION tcp 10.77.0.2:5001->10.77.0.1:[0-9]* bytes \[0,35)' "$TOPO_DIR/oracle1.out"
colo_exit
