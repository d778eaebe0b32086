#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Raw generic netlink client for the COLO family (no libmnl, no colo-ctl).

Library for the VM tests and a small CLI:

  genl.py test-api                 run the API checks (ok/not ok lines)
  genl.py CMD [--id N] [--mode M] [--hold-timeout MS] [--queue-limit N]
          [--flags F] [--expect ERRNO]
                                   one request, prints "rc=<errno> msg=<extack>"
                                   (CMD: init begin done failover reset get)
                                   exit 0 if the result is the expected one
                                   (default 0), else 1
  genl.py hold --id N --mode M [--timeout S]
                                   PROXY_INIT, print "bound <portid>", then keep
                                   the socket open S seconds (or until killed)
  genl.py monitor --count N [--timeout S]
                                   print N notifications of the monitor group

Constants mirror include/uapi/linux/colo_genl.h.
"""
import errno
import os
import select
import socket
import struct
import sys

NETLINK_GENERIC = 16
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1
NLMSGERR_ATTR_OFFS = 2
NLMSGERR_ATTR_MISS_TYPE = 5

GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_MCAST_GROUPS = 7
CTRL_ATTR_MCAST_GRP_NAME = 1
CTRL_ATTR_MCAST_GRP_ID = 2

NLA_F_NESTED = 0x8000

# colo_genl.h
COLO_GENL_NAME = "COLO"
COLO_VM_ID_MAX = 0xffffff
MODE_NONE, MODE_PRIMARY, MODE_SECONDARY = 0, 1, 2
STATE_NONE, STATE_RUNNING, STATE_CHECKPOINT, STATE_FAILOVER = 0, 1, 2, 3
(CMD_UNSPEC, CMD_PROXY_INIT, CMD_CHECKPOINT_BEGIN, CMD_CHECKPOINT_DONE,
 CMD_FAILOVER, CMD_RESET, CMD_GET, CMD_CHECKPOINT_NEEDED) = range(8)
(A_UNSPEC, A_PAD, A_VM_ID, A_MODE, A_STATE, A_EPOCH, A_REASON, A_SEQ,
 A_HOLD_TIMEOUT, A_QUEUE_LIMIT, A_FLAGS, A_PORTID, A_STATS, A_CONN) = range(14)
A_STOP_TIME = 14
A_MEM_LIMIT = 15
A_CONN_LIMIT = 16
A_MAX = A_CONN_LIMIT
DEFAULT_CONN_LIMIT = 65536
MIN_MEM_LIMIT_KB, DEFAULT_MEM_LIMIT_KB = 1024, 131072
F_CONNS = 1
STAT_NAMES = ["unspec", "pad", "pvm_packets", "svm_packets", "matched_bytes",
              "released_match", "released_checkpoint", "held", "dropped",
              "svm_dropped", "mismatches", "notifies", "checkpoints",
              "hold_timeouts", "queue_full", "conns", "seq_adjusted", "passed",
              "released_failover", "dropped_unverifiable", "svm_stale",
              "mem_full", "mem_bytes", "conns_full"]
CONN_NAMES = ["unspec", "family", "proto", "src", "dst", "sport", "dport",
              "held", "svm_queued", "matched_seq", "offset"]

CMDS = {"init": CMD_PROXY_INIT, "begin": CMD_CHECKPOINT_BEGIN,
        "done": CMD_CHECKPOINT_DONE, "failover": CMD_FAILOVER,
        "reset": CMD_RESET, "get": CMD_GET}


def nla(atype, payload):
    hdr = struct.pack("=HH", 4 + len(payload), atype)
    pad = b"\0" * ((4 - len(payload) % 4) % 4)
    return hdr + payload + pad


def u8(t, v):
    return nla(t, struct.pack("=B", v))


def u16(t, v):
    return nla(t, struct.pack("=H", v))


def u32(t, v):
    return nla(t, struct.pack("=I", v))


def u64(t, v):
    return nla(t, struct.pack("=Q", v))


def parse_attrs(buf):
    out = {}
    off = 0
    while off + 4 <= len(buf):
        ln, t = struct.unpack_from("=HH", buf, off)
        if ln < 4:
            break
        payload = buf[off + 4:off + ln]
        out.setdefault(t & 0x3fff, []).append(payload)
        off += (ln + 3) & ~3
    return out


class Reply:
    def __init__(self, err=0, msg="", miss=None, attrs=None, cmd=None):
        self.err = err            # positive errno, 0 = success
        self.msg = msg            # extack message
        self.miss = miss          # missing attribute type from the extack
        self.attrs = attrs or {}  # for data replies
        self.cmd = cmd

    def __repr__(self):
        return "rc=%d(%s) msg=%r" % (self.err, errno.errorcode.get(self.err, "0"),
                                     self.msg)


class Genl:
    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW,
                                  NETLINK_GENERIC)
        self.sock.bind((0, 0))
        self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        self.portid = self.sock.getsockname()[0]
        self.seq = 0
        self.family, self.groups = self.resolve(COLO_GENL_NAME)

    def close(self):
        self.sock.close()

    def _send(self, msg_type, cmd, payload, version=1, reserved=0, flags=None):
        self.seq += 1
        body = struct.pack("=BBH", cmd, version, reserved) + payload
        if flags is None:
            flags = NLM_F_REQUEST | NLM_F_ACK
        hdr = struct.pack("=IHHII", 16 + len(body), msg_type, flags, self.seq, 0)
        self.sock.sendto(hdr + body, (0, 0))
        return self.seq

    def _recv_until_ack(self, seq, timeout=5.0):
        """Collect data messages for seq until its NLMSG_ERROR (ack)."""
        data = []
        while True:
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                raise TimeoutError("no netlink answer")
            buf = self.sock.recv(1 << 20)
            off = 0
            while off + 16 <= len(buf):
                ln, mtype, flags, mseq, pid = struct.unpack_from("=IHHII", buf, off)
                m = buf[off:off + ln]
                off += (ln + 3) & ~3
                if mseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    err = struct.unpack_from("=i", m, 16)[0]
                    rep = Reply(err=-err)
                    if flags & NLM_F_ACK_TLVS:
                        # with CAP_ACK the original message is not echoed
                        tl = parse_attrs(m[16 + 4 + 16:])
                        if NLMSGERR_ATTR_MSG in tl:
                            rep.msg = tl[NLMSGERR_ATTR_MSG][0].rstrip(b"\0").decode()
                        if NLMSGERR_ATTR_MISS_TYPE in tl:
                            rep.miss = struct.unpack("=I", tl[NLMSGERR_ATTR_MISS_TYPE][0][:4])[0]
                    if data:
                        rep.cmd, rep.attrs = data[0]
                    return rep
                if mtype == NLMSG_DONE:
                    continue
                cmd = m[16]
                data.append((cmd, parse_attrs(m[20:])))

    def resolve(self, name):
        seq = self._send(GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                         nla(CTRL_ATTR_FAMILY_NAME, name.encode() + b"\0"))
        rep = self._recv_until_ack(seq)
        if rep.err:
            raise OSError(rep.err, "family %s: %s" % (name, os.strerror(rep.err)))
        fid = struct.unpack("=H", rep.attrs[CTRL_ATTR_FAMILY_ID][0][:2])[0]
        groups = {}
        for g in rep.attrs.get(CTRL_ATTR_MCAST_GROUPS, []):
            for grp in parse_attrs(g).values():
                ga = parse_attrs(grp[0])
                gname = ga[CTRL_ATTR_MCAST_GRP_NAME][0].rstrip(b"\0").decode()
                groups[gname] = struct.unpack("=I", ga[CTRL_ATTR_MCAST_GRP_ID][0])[0]
        return fid, groups

    def raw(self, cmd, payload=b"", **kw):
        seq = self._send(self.family, cmd, payload, **kw)
        return self._recv_until_ack(seq)

    def req(self, cmd, vm_id=None, mode=None, hold_timeout=None,
            queue_limit=None, flags=None, mem_limit=None, conn_limit=None):
        p = b""
        if vm_id is not None:
            p += u32(A_VM_ID, vm_id)
        if mode is not None:
            p += u8(A_MODE, mode)
        if hold_timeout is not None:
            p += u32(A_HOLD_TIMEOUT, hold_timeout)
        if queue_limit is not None:
            p += u32(A_QUEUE_LIMIT, queue_limit)
        if flags is not None:
            p += u32(A_FLAGS, flags)
        if mem_limit is not None:
            p += u32(A_MEM_LIMIT, mem_limit)
        if conn_limit is not None:
            p += u32(A_CONN_LIMIT, conn_limit)
        return self.raw(cmd, p)

    def subscribe(self, group="monitor"):
        self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
                             self.groups[group])

    def notifications(self, count, timeout=5.0):
        """Up to count multicast/unicast messages (seq 0) of our family."""
        out = []
        while len(out) < count:
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                break
            buf = self.sock.recv(1 << 16)
            off = 0
            while off + 16 <= len(buf):
                ln, mtype, flags, mseq, pid = struct.unpack_from("=IHHII", buf, off)
                m = buf[off:off + ln]
                off += (ln + 3) & ~3
                if mtype == self.family:
                    out.append((m[16], parse_attrs(m[20:])))
        return out


def get_u(attrs, t):
    v = attrs[t][0]
    return {1: "=B", 2: "=H", 4: "=I", 8: "=Q"}[len(v)] and \
        struct.unpack({1: "=B", 2: "=H", 4: "=I", 8: "=Q"}[len(v)], v)[0]


def decode_get(attrs):
    d = {}
    for t, name in ((A_VM_ID, "id"), (A_MODE, "mode"), (A_STATE, "state"),
                    (A_EPOCH, "epoch"), (A_PORTID, "portid"),
                    (A_HOLD_TIMEOUT, "hold_timeout"),
                    (A_QUEUE_LIMIT, "queue_limit"), (A_MEM_LIMIT, "mem_limit"),
                    (A_CONN_LIMIT, "conn_limit")):
        if t in attrs:
            d[name] = get_u(attrs, t)
    d["stats"] = {}
    if A_STATS in attrs:
        for t, v in parse_attrs(attrs[A_STATS][0]).items():
            if t < len(STAT_NAMES) and t > 1:
                d["stats"][STAT_NAMES[t]] = struct.unpack("=Q", v[0])[0]
    d["conns"] = []
    for c in attrs.get(A_CONN, []):
        ca = parse_attrs(c)
        conn = {}
        for t, v in ca.items():
            name = CONN_NAMES[t] if t < len(CONN_NAMES) else str(t)
            if t in (3, 4):
                fam = socket.AF_INET6 if len(v[0]) == 16 else socket.AF_INET
                conn[name] = socket.inet_ntop(fam, v[0])
            elif t in (5, 6):
                conn[name] = struct.unpack("!H", v[0][:2])[0]
            else:
                conn[name] = get_u(ca, t)
        d["conns"].append(conn)
    return d


# --------------------------------------------------------------------------
# API checks

failures = 0


def ok(cond, what):
    global failures
    if cond:
        print("ok - " + what)
    else:
        print("not ok - " + what)
        failures += 1
    sys.stdout.flush()
    return cond


def expect(rep, err, what, msg=None):
    good = rep.err == err and (msg is None or msg in rep.msg)
    return ok(good, "%s: %r (want %s%s)" % (
        what, rep, errno.errorcode.get(err, "0"),
        "" if msg is None else " %r" % msg))


def test_api(base_id=4000):
    a = Genl()
    b = Genl()
    mon = Genl()
    mon.subscribe()
    vid = base_id

    # --- good path ---------------------------------------------------------
    expect(a.req(CMD_PROXY_INIT, vid, MODE_PRIMARY, 500, 100), 0, "PROXY_INIT primary")
    ev = mon.notifications(1)
    ok(ev and ev[0][0] == CMD_PROXY_INIT and get_u(ev[0][1], A_VM_ID) == vid and
       get_u(ev[0][1], A_PORTID) == a.portid and get_u(ev[0][1], A_MODE) == MODE_PRIMARY,
       "monitor echo of PROXY_INIT (id, port, mode)")
    r = a.req(CMD_GET, vid)
    d = decode_get(r.attrs) if not r.err else {}
    ok(not r.err and d.get("state") == STATE_RUNNING and d.get("epoch") == 1 and
       d.get("portid") == a.portid and d.get("hold_timeout") == 500 and
       d.get("queue_limit") == 100 and d.get("mode") == MODE_PRIMARY and
       "checkpoints" in d["stats"] and "conns" in d["stats"],
       "GET after init: %r" % d)
    expect(a.req(CMD_PROXY_INIT, vid, MODE_PRIMARY, 700), 0, "PROXY_INIT again from the same socket")
    d = decode_get(a.req(CMD_GET, vid).attrs)
    ok(d.get("hold_timeout") == 700 and d.get("queue_limit") == 8192 and
       d.get("mem_limit") == DEFAULT_MEM_LIMIT_KB and d.get("conn_limit") == DEFAULT_CONN_LIMIT,
       "re-init updates parameters, defaults restored (%r)" % d)
    expect(a.req(CMD_PROXY_INIT, vid, MODE_PRIMARY, 700, mem_limit=MIN_MEM_LIMIT_KB - 1),
           errno.ERANGE, "memory budget below the minimum refused")
    expect(a.req(CMD_PROXY_INIT, vid, MODE_PRIMARY, 700, conn_limit=0),
           errno.ERANGE, "connection limit 0 refused")
    expect(a.req(CMD_PROXY_INIT, vid, MODE_PRIMARY, 700, mem_limit=4096, conn_limit=9), 0,
           "memory budget 4096 KiB, 9 connections")
    d = decode_get(a.req(CMD_GET, vid).attrs)
    ok(d.get("mem_limit") == 4096 and d.get("conn_limit") == 9 and
       d["stats"].get("mem_bytes") == 0 and "mem_full" in d["stats"] and
       "conns_full" in d["stats"], "GET shows the limits and the gauge (%r)" % d)
    mon.notifications(2, timeout=1)
    mon.notifications(1, timeout=1)

    import time
    vm_a = u32(A_VM_ID, vid)
    expect(a.raw(CMD_CHECKPOINT_BEGIN, vm_a + u64(A_STOP_TIME, time.time_ns() + 10 ** 10)),
           errno.EINVAL, "BEGIN with a stop time 10 s ahead refused", "stop time")
    expect(a.raw(CMD_CHECKPOINT_BEGIN, vm_a + u64(A_STOP_TIME, 0)),
           errno.EINVAL, "BEGIN with a zero stop time refused", "stop time")
    expect(a.raw(CMD_CHECKPOINT_DONE, vm_a + u64(A_STOP_TIME, time.time_ns())),
           errno.EINVAL, "stop time on DONE refused", "only valid")
    d = decode_get(a.req(CMD_GET, vid).attrs)
    ok(d.get("state") == STATE_RUNNING and d.get("epoch") == 1,
       "refused stop times change nothing (%r)" % d)
    expect(a.req(CMD_CHECKPOINT_BEGIN, vid), 0, "CHECKPOINT_BEGIN")
    ev = mon.notifications(1)
    ok(ev and ev[0][0] == CMD_CHECKPOINT_BEGIN and get_u(ev[0][1], A_EPOCH) == 1,
       "monitor echo of BEGIN carries the cut epoch 1")
    d = decode_get(b.req(CMD_GET, vid).attrs)
    ok(d.get("state") == STATE_CHECKPOINT and d.get("epoch") == 2,
       "GET from another socket during checkpoint: state CHECKPOINT, epoch 2")
    expect(a.req(CMD_CHECKPOINT_BEGIN, vid), errno.EINVAL, "second BEGIN refused", "already")
    expect(a.req(CMD_CHECKPOINT_DONE, vid), 0, "CHECKPOINT_DONE")
    ev = mon.notifications(1)
    ok(ev and ev[0][0] == CMD_CHECKPOINT_DONE and get_u(ev[0][1], A_EPOCH) == 1,
       "monitor echo of DONE carries the released epoch 1")
    d = decode_get(a.req(CMD_GET, vid, flags=F_CONNS).attrs)
    ok(d.get("state") == STATE_RUNNING and d["stats"].get("checkpoints") == 1 and
       d["conns"] == [], "GET with COLO_F_CONNS after DONE: running, 1 checkpoint, no conns")
    expect(a.req(CMD_CHECKPOINT_DONE, vid), errno.EINVAL, "DONE without BEGIN refused",
           "no checkpoint pending")
    expect(a.req(CMD_RESET, vid), 0, "RESET")
    d = decode_get(a.req(CMD_GET, vid).attrs)
    ok(d.get("state") == STATE_RUNNING and d["stats"].get("checkpoints") == 1,
       "RESET keeps counters")
    expect(a.raw(CMD_CHECKPOINT_BEGIN, vm_a + u64(A_STOP_TIME, time.time_ns() - 10 ** 6)),
           0, "CHECKPOINT_BEGIN with the guest's stop time")
    expect(a.req(CMD_CHECKPOINT_DONE, vid), 0, "its CHECKPOINT_DONE")
    d = decode_get(a.req(CMD_GET, vid).attrs)
    ok(d.get("state") == STATE_RUNNING and d["stats"].get("checkpoints") == 2 and
       "svm_stale" in d["stats"] and "dropped_unverifiable" in d["stats"],
       "after a checkpoint with a stop time: running, 2 checkpoints (%r)" % d)
    mon.notifications(10, timeout=0.5)
    expect(a.req(CMD_FAILOVER, vid), 0, "FAILOVER")
    d = decode_get(a.req(CMD_GET, vid).attrs)
    ok(d.get("state") == STATE_FAILOVER, "state FAILOVER")
    expect(a.req(CMD_FAILOVER, vid), 0, "FAILOVER again is a no-op")
    expect(a.req(CMD_CHECKPOINT_BEGIN, vid), errno.EINVAL, "BEGIN after failover refused")
    mon.notifications(10, timeout=0.5)

    # a secondary VM on the same socket
    expect(a.req(CMD_PROXY_INIT, vid + 1, MODE_SECONDARY), 0, "PROXY_INIT secondary")
    expect(a.req(CMD_CHECKPOINT_BEGIN, vid + 1, MODE_PRIMARY), errno.EINVAL,
           "command with a mode that does not match the VM", "mode")
    expect(a.req(CMD_CHECKPOINT_BEGIN, vid + 1, MODE_SECONDARY), 0,
           "command with the matching mode")
    expect(a.req(CMD_CHECKPOINT_DONE, vid + 1), 0, "secondary DONE")
    expect(a.req(CMD_PROXY_INIT, vid + 1, MODE_PRIMARY), errno.EINVAL,
           "re-init with another mode refused", "another mode")

    # --- another socket ----------------------------------------------------
    for c in (CMD_CHECKPOINT_BEGIN, CMD_CHECKPOINT_DONE, CMD_FAILOVER, CMD_RESET):
        expect(b.req(c, vid + 1), errno.EPERM, "cmd %d from another socket" % c,
               "another netlink socket")
    expect(b.req(CMD_PROXY_INIT, vid + 1, MODE_SECONDARY), errno.EEXIST,
           "PROXY_INIT of a bound id from another socket", "another socket")
    expect(b.req(CMD_GET, vid + 1), 0, "GET from another socket allowed")

    # --- bad input ---------------------------------------------------------
    expect(a.req(CMD_CHECKPOINT_BEGIN, 999999), errno.ENOENT, "unknown VM id", "unknown VM id")
    expect(a.req(CMD_GET, 999999), errno.ENOENT, "GET unknown VM id", "unknown VM id")
    r = a.req(CMD_CHECKPOINT_BEGIN)
    expect(r, errno.EINVAL, "missing VM id", "missing VM id")
    ok(r.miss == A_VM_ID, "extack names the missing attribute (%r)" % r.miss)
    r = a.req(CMD_PROXY_INIT, vid + 2)
    expect(r, errno.EINVAL, "PROXY_INIT without mode", "missing mode")
    ok(r.miss == A_MODE, "extack names COLO_A_MODE as missing")
    # range violations: the policy answers ERANGE (stock strict validation)
    expect(a.req(CMD_PROXY_INIT, vid + 2, 0), errno.ERANGE, "mode 0 out of range", "range")
    expect(a.req(CMD_PROXY_INIT, vid + 2, 3), errno.ERANGE, "mode 3 out of range", "range")
    expect(a.req(CMD_PROXY_INIT, 0, MODE_PRIMARY), errno.ERANGE, "VM id 0 out of range")
    expect(a.req(CMD_PROXY_INIT, COLO_VM_ID_MAX + 1, MODE_PRIMARY), errno.ERANGE,
           "VM id above COLO_VM_ID_MAX")
    expect(a.req(CMD_CHECKPOINT_BEGIN, vid + 2, 7), errno.ERANGE, "mode 7 in a command")
    expect(a.req(CMD_PROXY_INIT, COLO_VM_ID_MAX, MODE_PRIMARY), 0,
           "VM id COLO_VM_ID_MAX accepted")
    expect(a.raw(CMD_GET, u16(A_VM_ID, vid)), errno.EINVAL, "VM id as u16 (wrong type)")
    expect(a.raw(CMD_GET, u64(A_VM_ID, vid)), errno.EINVAL, "VM id as u64 (oversized)")
    expect(a.raw(CMD_GET, nla(A_VM_ID, b"\1\0\0\0" * 64)), errno.EINVAL, "VM id 256 bytes")
    expect(a.raw(CMD_GET, nla(A_VM_ID, b"")), errno.EINVAL, "VM id empty")
    expect(a.raw(CMD_PROXY_INIT, u32(A_VM_ID, vid + 2) + u32(A_MODE, 1)), errno.EINVAL,
           "mode as u32 (oversized)")
    expect(a.raw(CMD_GET, u32(A_VM_ID, vid) + u32(A_MAX + 1, 1)), errno.EINVAL,
           "attribute above COLO_A_MAX")
    expect(a.raw(CMD_GET, u32(A_VM_ID, vid) + u8(A_STATE, 1)), errno.EINVAL,
           "reply-only attribute in a request")
    expect(a.raw(CMD_GET, u32(A_VM_ID, vid) + u32(A_FLAGS, 0x80)), errno.EINVAL,
           "unknown flag bit")
    expect(a.raw(CMD_GET, u32(A_VM_ID, vid) + b"\x03\x00"), errno.EINVAL,
           "truncated attribute header")
    expect(a.raw(CMD_GET, u32(A_VM_ID, vid), reserved=1), errno.EINVAL,
           "non-zero reserved genl header field")
    r = a.raw(CMD_CHECKPOINT_NEEDED, u32(A_VM_ID, vid))
    ok(r.err in (errno.EOPNOTSUPP, errno.EINVAL), "notification command refused as request (%r)" % r)
    r = a.raw(200, u32(A_VM_ID, vid))
    ok(r.err in (errno.EOPNOTSUPP, errno.EINVAL), "unknown command refused (%r)" % r)
    expect(a.req(CMD_PROXY_INIT, vid + 3, MODE_PRIMARY, 0xffffffff, 0), 0,
           "PROXY_INIT with extreme optional values")
    big = b"".join(u32(A_VM_ID, vid) for _ in range(2000))
    r = a.raw(CMD_GET, big)
    ok(r.err in (0, errno.EINVAL), "2000 repeated attributes handled (%r)" % r)

    # --- URELEASE ----------------------------------------------------------
    c = Genl()
    expect(c.req(CMD_PROXY_INIT, vid + 10, MODE_PRIMARY), 0, "PROXY_INIT on a socket to close")
    expect(c.req(CMD_PROXY_INIT, vid + 11, MODE_SECONDARY), 0, "second VM on that socket")
    c.close()
    expect(b.req(CMD_GET, vid + 10), errno.ENOENT, "VM gone after its socket closed", "unknown VM id")
    expect(b.req(CMD_GET, vid + 11), errno.ENOENT, "second VM gone too")
    expect(b.req(CMD_PROXY_INIT, vid + 10, MODE_SECONDARY), 0, "id reusable by another socket")
    expect(a.req(CMD_GET, vid), 0, "unrelated VM untouched")

    a.close()
    for i in (vid, vid + 1, vid + 3, COLO_VM_ID_MAX):
        expect(b.req(CMD_GET, i), errno.ENOENT, "VM %d gone with socket a" % i)
    b.close()
    mon.close()
    return failures == 0


def main(argv):
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("cmd")
    p.add_argument("--id", type=int)
    p.add_argument("--mode", type=int)
    p.add_argument("--hold-timeout", type=int)
    p.add_argument("--queue-limit", type=int)
    p.add_argument("--flags", type=int)
    p.add_argument("--expect", default="0")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--base-id", type=int, default=4000)
    p.add_argument("--field", help="get: print only this field or counter")
    a = p.parse_args(argv)

    if a.cmd == "test-api":
        return 0 if test_api(a.base_id) else 1
    try:
        g = Genl()
    except OSError as e:
        print("rc=%d(%s) msg=%r" % (e.errno, errno.errorcode.get(e.errno, "?"), str(e)))
        want = a.expect if not a.expect.isdigit() else int(a.expect)
        return 0 if want in (e.errno, errno.errorcode.get(e.errno)) else 1
    if a.cmd == "hold":
        r = g.req(CMD_PROXY_INIT, a.id, a.mode, a.hold_timeout, a.queue_limit)
        if r.err:
            print(r)
            return 1
        print("bound %d" % g.portid)
        sys.stdout.flush()
        import time
        time.sleep(a.timeout)
        return 0
    if a.cmd == "monitor":
        g.subscribe()
        print("subscribed")
        sys.stdout.flush()
        for cmd, attrs in g.notifications(a.count, a.timeout):
            d = {STAT_NAMES[0]: 0}
            d = {"cmd": cmd}
            for t in (A_VM_ID, A_REASON, A_EPOCH, A_PORTID, A_SEQ, A_MODE):
                if t in attrs:
                    d[t] = get_u(attrs, t)
            print(d)
            sys.stdout.flush()
        return 0
    r = g.req(CMDS[a.cmd], a.id, a.mode, a.hold_timeout, a.queue_limit, a.flags)
    if a.field:
        if r.err:
            return 1
        d = decode_get(r.attrs)
        print(d["stats"].get(a.field, d.get(a.field)))
        return 0
    print(r)
    if a.cmd == "get" and not r.err:
        print(decode_get(r.attrs))
    want = int(a.expect) if a.expect.isdigit() else getattr(errno, a.expect)
    return 0 if r.err == want else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
