#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# PMYCOLO under load: 200 concurrent TCP connections (IPv4) each fetch 50 KB
# through the primary; every byte arrives exactly, nothing stays held, no
# checkpoint is needed.
# timeout: 400
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=24
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
topo_colo_up $VM --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }
topo_servers same same || { echo "FAIL: servers"; exit 1; }

# many ADDR CONNS: the client's run; a stalled connection's frames are logged
many() {
	topo_cl /usr/bin/python3 "$UTIL" many "$1" 5001 "$2" 50000 --timeout 200 ||
		{ topo_dump_least_served 5001 $VM; return 1; }
}
check "200 concurrent connections, byte exact" many $TOPO_VM4 200
check "50 concurrent IPv6 connections, byte exact" many $TOPO_VM6 50
sleep 1
log "primary: $(topo_pn colo-ctl status $VM 2>&1 | tr -s ' \n' ' ')"
check "no checkpoint requested" test "$(topo_notices "$TOPO_PN")" = 0
check "nothing held" test "$(topo_stat "$TOPO_PN" $VM held)" = 0
check "nothing dropped" test "$(topo_stat "$TOPO_PN" $VM dropped)" = 0
check "all compared (matched_bytes)" test "$(topo_stat "$TOPO_PN" $VM matched_bytes)" -ge 12500000
colo_exit
