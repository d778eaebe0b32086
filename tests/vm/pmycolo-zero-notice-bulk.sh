#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Issue 8, bulk: identical guests cost no checkpoint on a long download and a
# long upload (every byte the guest sends is compared; on the upload that is
# its ACK stream and its answer), and again after a checkpoint that a
# divergent connection forced (its greeting differs; the checkpoint is the
# primary's only, the SVM keeps its own state, as namespaces must). No
# notice, hold timeout or SVM drop; the oracle checks every byte.
# timeout: 600
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"
source "$COLO_SRC/tests/vm/zero_notice.bash"

VM=43
DL=${ZN_BULK:-32000000}
trap 'topo_answer_stop; topo_teardown' EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
zn_dyndbg
colo_dmesg_mark
topo_colo_up $VM --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }
topo_servers same same || { echo "FAIL: servers"; exit 1; }
# the divergent pair: the same greeting, upper case in the SVM
topo_tcp_pair 5011 same upper || { echo "FAIL: servers"; exit 1; }
zn_settle

bulk() { # NAME
	zn_begin
	zn_client "$1-download" 300 get $TOPO_VM4 5001 "$DL" --timeout 30
	zn_end "$1-download"
	zn_begin
	zn_client "$1-upload" 300 put $TOPO_VM4 5001 "$DL" --timeout 30
	zn_end "$1-upload"
}

bulk bulk

# A divergent greeting: one notice, answered by a checkpoint on the primary
# as colod would; the client gets the PVM's greeting after it.
topo_answer_notices
n0=$(topo_notices "$TOPO_PN")
topo_cl timeout 60 /usr/bin/python3 "$UTIL" hello $TOPO_VM4 5011 "$TOPO_DIR/hello.out" --timeout 30 > "$TOPO_DIR/hello.log" 2>&1
r=$?
zn_check "the divergent greeting reached the client" test $r = 0
zn_check "the client got the PVM's greeting" grep -q '^guest says hello' "$TOPO_DIR/hello.out"
busywait 20000 test "$(topo_stat "$TOPO_PN" "$VM" held)" = 0
topo_answer_stop
n=$(( $(topo_notices "$TOPO_PN") - n0 ))
log "divergent greeting: notices $n, checkpoints $(topo_stat "$TOPO_PN" "$VM" checkpoints)"
zn_check "the divergence cost a notice" test "$n" -ge 1
zn_check "nothing stayed held" test "$(topo_stat "$TOPO_PN" "$VM" held)" = 0

bulk after-checkpoint

log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
log "secondary: $(topo_sn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
colo_exit
