#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# PMYCOLO never takes the nf_queue handler: with the modules loaded and a VM
# being protected, an NFQUEUE rule elsewhere (the client's OUTPUT chain, with
# a userspace consumer on nfnetlink_queue) keeps working, before and after
# PMYCOLO traffic, and unloading our modules leaves it working.
# timeout: 240
source "$COLO_SRC/tests/lib.sh"
source "$COLO_SRC/tests/topo.sh"

VM=26
UTIL=$COLO_SRC/tests/vm/pmycolo-util.py
QNUM=7
trap topo_teardown EXIT
command -v colo-ctl >/dev/null || skip "colo-ctl not built (make -C qemu-glue)"
colo_load_modules || skip "cannot load the colo modules"
modprobe nfnetlink_queue || skip "no nfnetlink_queue"
topo_colo_up $VM --hold-timeout 30000 || { echo "FAIL: topology"; exit 1; }
topo_servers same same || { echo "FAIL: servers"; exit 1; }

# A minimal nfnetlink_queue consumer: bind queue QNUM, accept every packet,
# print a line per packet.
cat > "$TOPO_DIR/nfq.py" <<'PY'
import socket, struct, sys
q = int(sys.argv[1])
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.bind((0, 0))
def msg(mtype, attrs, res_id, family=0):
    body = struct.pack("BBH", family, 0, socket.htons(res_id))
    for t, v in attrs:
        l = 4 + len(v)
        body += struct.pack("HH", l, t) + v + b"\0" * ((4 - l % 4) % 4)
    return struct.pack("IHHII", 16 + len(body), (3 << 8) | mtype, 1 | 4, 0, 0) + body
# NFQNL_MSG_CONFIG: NFQA_CFG_CMD bind, NFQA_CFG_PARAMS copy meta
s.send(msg(2, [(1, struct.pack("BxH", 1, 0))], q))
s.send(msg(2, [(2, struct.pack(">IB", 0, 1))], q))
print("bound", flush=True)
while True:
    d = s.recv(65536)
    off = 0
    while off + 16 <= len(d):
        ln, typ = struct.unpack_from("IH", d, off)
        if ln < 16:
            break
        if typ == (3 << 8):  # NFQNL_MSG_PACKET
            a = off + 20
            while a < off + ln:
                al, at = struct.unpack_from("HH", d, a)
                if at & 0x7fff == 1:  # NFQA_PACKET_HDR
                    pid = struct.unpack_from(">I", d, a + 4)[0]
                    s.send(msg(1, [(2, struct.pack(">II", 1, pid))], q))
                    print("packet", pid, flush=True)
                a += (al + 3) & ~3
        off += (ln + 3) & ~3
PY
topo_bg "$TOPO_CL" /usr/bin/python3 "$TOPO_DIR/nfq.py" $QNUM > "$TOPO_DIR/nfq.log" 2>&1
busywait 10000 grep -q bound "$TOPO_DIR/nfq.log" || { cat "$TOPO_DIR/nfq.log"; echo "FAIL: consumer"; exit 1; }
topo_ipt "$TOPO_CL" -A OUTPUT -p udp --dport 5002 -j NFQUEUE --queue-num $QNUM ||
	{ echo "FAIL: NFQUEUE rule"; exit 1; }

check "UDP through NFQUEUE and PMYCOLO" topo_cl /usr/bin/python3 "$UTIL" udp $TOPO_VM4 5002 10 --timeout 20
check "the consumer saw the packets" test "$(grep -c '^packet' "$TOPO_DIR/nfq.log")" -ge 10
check "TCP through PMYCOLO meanwhile" topo_cl /usr/bin/python3 "$UTIL" get $TOPO_VM4 5001 2000000 --timeout 60
check "PMYCOLO compared the traffic" test "$(topo_stat "$TOPO_PN" $VM released_match)" -gt 0
check "nfnetlink_queue still owns the queue handler" grep -q '^nfnetlink_queue ' /proc/modules

# our modules go away; NFQUEUE keeps working (unprotected from here on: the
# output-commit oracle checks what came before)
topo_oracle
topo_ctl_stop "$TOPO_PN"
topo_ctl_stop "$TOPO_SN"
topo_rules_flush
for m in xt_SECCOLO xt_PMYCOLO nfnetlink_colo nf_conntrack_colo; do
	busywait 10000 rmmod $m 2>/dev/null
done
check "our modules unloaded" eval "! grep -q '^xt_PMYCOLO ' /proc/modules"
n0=$(grep -c '^packet' "$TOPO_DIR/nfq.log")
topo_pvm ip neigh replace $TOPO_CL4 lladdr $TOPO_CLMAC dev eth0 nud permanent
check "UDP through NFQUEUE after unloading" topo_cl /usr/bin/python3 "$UTIL" udp $TOPO_VM4 5002 5 --timeout 20
check "the consumer still sees the packets" test "$(grep -c '^packet' "$TOPO_DIR/nfq.log")" -ge $((n0 + 5))
colo_exit
