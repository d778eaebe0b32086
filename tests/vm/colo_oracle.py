#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Output-commit oracle for the COLO topology tests (issue 7, deliver 6).

  colo_oracle.py check --dir DIR --vm ID [--name NAME] [--stats FILE]
        DIR holds what tests/topo.sh captured in the primary host namespace:
          pvm.pcap   frames entering the bridge from vport-pvm (PVM output)
          svm.pcap   frames arriving on fwd0 (SVM output, already in the
                     PVM's sequence space: SECCOLO rewrote it)
          cl.pcap    frames the bridge sent out on vport-cl (what the client got)
          monitor.log  `colo-ctl monitor` (TZ=UTC): the kernel's echoes of
                     checkpoint-begin / checkpoint-done / failover, stamped when
                     the monitor read them
          ctl.log    "NS_TIME send CMD" / "NS_TIME reply ok|error CMD" lines
                     written by topo_ctl around each session command
          *.err      tcpdump's stderr (its drop counts)
        FILE: `colo-ctl status ID --json` of the primary, taken at the end.
        Prints a summary, the first violations, and exits 1 on any violation
        (or on counters inconsistent with what the oracle saw), else 0.
  colo_oracle.py selftest
        Synthetic pcaps and timelines: every rule must accept what it should
        and flag what it should (exit 0 when the oracle behaves).

The rule checked for every byte (TCP, by connection and sequence number in the
PVM's sequence space) and every datagram (UDP, ICMP, ICMPv6 except neighbour
discovery) that the client received from the VM's address at time tc:
  - some PVM copy of it (same connection, sequence number, byte value; same
    datagram) entered the bridge at tp <= tc, and for that copy
  (a) match: the SVM sent the same byte at the same sequence number of the
      same connection (the same datagram) at ts <= tc, in the same epoch as
      tp (no CHECKPOINT_BEGIN lies certainly between tp and ts), or
  (b) checkpoint: tp is before a BEGIN whose DONE happened before tc, or
  (c) failover: tc is after a FAILOVER command.
A client FIN or RST is checked like a datagram (same flag at the same
sequence number). Pure ACKs, SYNs without payload, ARP and neighbour
discovery are counted as not checked.

Time attribution: packet times are the kernel's receive/transmit stamps of the
capture sockets (CLOCK_REALTIME, ns). A command's instant is only known to lie
in a window [lo, hi]: lo is when topo_ctl wrote the command (else the
monitor's time minus SLACK), hi is the earlier of the monitor's echo and the
session's answer. The oracle is lenient inside the windows and only flags what
is certainly wrong: an SVM byte separates from a PVM byte only if a whole BEGIN
window lies between them; a checkpoint covers PVM output sent before the
BEGIN's hi, from the DONE's lo on; a failover permits from its lo on.
"""
import bisect
import json
import os
import re
import struct
import sys
import time
import calendar

SLACK_NS = 2_000_000_000  # lower bound of an event that no topo_ctl command explains
MAX_DETAIL = 8

# ---------------------------------------------------------------------------
# pcap reading / writing (classic libpcap format, micro or nano stamps)


def read_pcap(path):
    """Yield (time_ns, frame bytes, original length)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        e, nano = "<", False
    elif magic == b"\x4d\x3c\xb2\xa1":
        e, nano = "<", True
    elif magic == b"\xa1\xb2\xc3\xd4":
        e, nano = ">", False
    elif magic == b"\xa1\xb2\x3c\x4d":
        e, nano = ">", True
    else:
        raise ValueError("%s: not a pcap file" % path)
    linktype = struct.unpack_from(e + "I", data, 20)[0]
    if linktype != 1:
        raise ValueError("%s: link type %d, want Ethernet" % (path, linktype))
    hdr = struct.Struct(e + "IIII")
    off = 24
    n = len(data)
    while off + 16 <= n:
        sec, frac, incl, orig = hdr.unpack_from(data, off)
        off += 16
        if off + incl > n:
            break  # truncated last record (capture killed mid-write)
        t = sec * 1_000_000_000 + (frac if nano else frac * 1000)
        yield t, data[off:off + incl], orig
        off += incl


def write_pcap(path, frames):
    """frames: iterable of (time_ns, frame bytes). Nanosecond pcap."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        for t, fr in frames:
            f.write(struct.pack("<IIII", t // 1_000_000_000, t % 1_000_000_000, len(fr), len(fr)))
            f.write(fr)


# ---------------------------------------------------------------------------
# frame parsing

ND_TYPES = {133, 134, 135, 136, 137}


class Pkt:
    __slots__ = ("t", "fam", "src", "dst", "proto", "sport", "dport", "seq",
                 "flags", "payload", "l4", "kind", "trunc")


def parse_frame(t, fr, orig):
    """A Pkt, or None for frames that are not IP. kind: tcp, udp, icmp, nd,
    frag, other."""
    if len(fr) < 14:
        return None
    et = struct.unpack_from(">H", fr, 12)[0]
    off = 14
    while et in (0x8100, 0x88A8) and len(fr) >= off + 4:
        et = struct.unpack_from(">H", fr, off + 2)[0]
        off += 4
    p = Pkt()
    p.t = t
    p.trunc = len(fr) < orig
    p.seq = p.flags = p.sport = p.dport = 0
    p.payload = b""
    p.l4 = b""
    if et == 0x0800:
        if len(fr) < off + 20:
            return None
        vihl = fr[off]
        ihl = (vihl & 15) * 4
        tot = struct.unpack_from(">H", fr, off + 2)[0]
        fragw = struct.unpack_from(">H", fr, off + 6)[0]
        proto = fr[off + 9]
        p.fam = 4
        p.src = fr[off + 12:off + 16]
        p.dst = fr[off + 16:off + 20]
        end = off + tot if tot else len(fr)
        l4 = fr[off + ihl:min(end, len(fr))]
        if fragw & 0x3FFF:  # MF or offset
            p.kind = "frag"
            p.proto = proto
            return p
    elif et == 0x86DD:
        if len(fr) < off + 40:
            return None
        plen = struct.unpack_from(">H", fr, off + 4)[0]
        proto = fr[off + 6]
        p.fam = 6
        p.src = fr[off + 8:off + 24]
        p.dst = fr[off + 24:off + 40]
        end = off + 40 + plen if plen else len(fr)
        o = off + 40
        while proto in (0, 43, 60, 44) and o + 8 <= len(fr):
            if proto == 44:
                p.kind = "frag"
                p.proto = 44
                return p
            proto, hl = fr[o], (fr[o + 1] + 1) * 8
            o += hl
        l4 = fr[o:min(end, len(fr))]
    else:
        return None
    p.proto = proto
    p.l4 = l4
    if proto == 6 and len(l4) >= 20:
        p.sport, p.dport, p.seq = struct.unpack_from(">HHI", l4, 0)
        doff = (l4[12] >> 4) * 4
        p.flags = l4[13]
        p.payload = l4[doff:]
        p.kind = "tcp"
    elif proto == 17 and len(l4) >= 8:
        p.sport, p.dport = struct.unpack_from(">HH", l4, 0)
        p.payload = l4[8:]
        p.kind = "udp"
    elif proto == 1 and len(l4) >= 4:
        p.kind = "icmp"
    elif proto == 58 and len(l4) >= 4:
        p.kind = "nd" if l4[0] in ND_TYPES else "icmp"
    else:
        p.kind = "other"
    return p


def addr_str(fam, a):
    import socket
    return socket.inet_ntop(socket.AF_INET if fam == 4 else socket.AF_INET6, a)


# ---------------------------------------------------------------------------
# interval sets: sorted lists of disjoint [s, e)


def iv_norm(ivs):
    ivs = sorted(i for i in ivs if i[0] < i[1])
    out = []
    for s, e in ivs:
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def iv_sub(a, b):
    """a minus b (both normalised)."""
    out = []
    j = 0
    for s, e in a:
        cur = s
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < e:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            k += 1
        if cur < e:
            out.append((cur, e))
    return out


def iv_len(a):
    return sum(e - s for s, e in a)


_ZRUN = re.compile(rb"\x00+")


def equal_runs(x, y, base):
    """Runs where bytes x and y (same length) are equal, as intervals
    offset by base."""
    if x == y:
        return [(base, base + len(x))] if x else []
    n = len(x)
    z = (int.from_bytes(x, "big") ^ int.from_bytes(y, "big")).to_bytes(n, "big")
    return [(base + m.start(), base + m.end()) for m in _ZRUN.finditer(z)]


# ---------------------------------------------------------------------------
# timeline


class Event:
    __slots__ = ("kind", "lo", "hi", "src")

    def __init__(self, kind, lo, hi, src):
        self.kind, self.lo, self.hi, self.src = kind, lo, hi, src

    def __repr__(self):
        return "%s[%s..%s]" % (self.kind, fmt_t(self.lo), fmt_t(self.hi))


MON_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6}) (\S+)(.*)$")
KIND = {"checkpoint-begin": "begin", "checkpoint-done": "done", "failover": "failover",
        "reset": "reset", "proxy-init": "init"}
CMD_OF = {"begin": ("begin", "checkpoint"), "done": ("done", "checkpoint"),
          "failover": ("failover",), "reset": ("reset",)}


def load_timeline(mon_path, ctl_path, vm):
    """Events (sorted by hi) of VM vm, and notes on the timeline's quality."""
    notes = []
    sends = []    # (t, cmd)
    replies = []  # (t, cmd, ok)
    if ctl_path and os.path.exists(ctl_path):
        for line in open(ctl_path, errors="replace"):
            w = line.split()
            if len(w) >= 3 and w[1] == "send":
                sends.append((int(w[0]), w[2]))
            elif len(w) >= 4 and w[1] == "reply":
                replies.append((int(w[0]), w[3], w[2] == "ok"))
    evs = []
    mon_ok = False
    if mon_path and os.path.exists(mon_path):
        for line in open(mon_path, errors="replace"):
            line = line.rstrip("\n")
            if line.startswith("# monitoring"):
                mon_ok = True
                continue
            m = MON_RE.match(line)
            if not m:
                continue
            t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) * 1_000_000_000 \
                + int(m.group(2)) * 1000
            what = m.group(3)
            if what == "overrun":
                notes.append("monitor overrun at %s: events may be missing" % fmt_t(t))
                continue
            kind = KIND.get(what)
            if kind is None:
                continue
            mv = re.search(r"\bvm=(\d+)", m.group(4))
            if mv and int(mv.group(1)) != vm:
                continue
            evs.append([kind, t])
    if not mon_ok:
        notes.append("no monitor timeline: events from the session's answers only")
        for t, cmd, ok in replies:
            if not ok:
                continue
            if cmd == "checkpoint":
                evs.append(["begin", t])
                evs.append(["done", t])
            elif cmd in ("begin", "done", "failover", "reset"):
                evs.append([cmd, t])
    out = []
    last_hi = 0
    used = set()
    for kind, t in sorted(evs, key=lambda x: x[1]):
        if kind == "init":
            continue
        # lo: the last command that can have caused it, sent before the
        # monitor (or the session) saw the event
        lo = None
        for i in range(len(sends) - 1, -1, -1):
            st, cmd = sends[i]
            if st <= t and cmd in CMD_OF.get(kind, ()):
                lo = st
                break
        if lo is None or lo < t - 30 * SLACK_NS:
            lo = max(t - SLACK_NS, last_hi)
        # hi: the monitor's read, or the session's answer to that command if
        # it came first. An answer bounds one event, and only one that its
        # command can have caused (answered after that command was sent):
        # otherwise a first checkpoint's late answer became a second
        # checkpoint's upper bound and moved it back in time.
        hi = t
        for rt, cmd, ok in replies:
            if ok and cmd in CMD_OF.get(kind, ()) and lo <= rt <= t \
                    and (rt, cmd) not in used:
                hi = rt
                used.add((rt, cmd))
                break
        out.append(Event(kind, lo, hi, "monitor" if mon_ok else "session"))
        last_hi = hi
    return out, notes


def fmt_t(t):
    if t is None:
        return "-"
    return "%s.%09d" % (time.strftime("%H:%M:%S", time.gmtime(t // 1_000_000_000)), t % 1_000_000_000)


class Timeline:
    def __init__(self, events):
        self.events = events
        self.begins = [e for e in events if e.kind == "begin"]
        self.b_lo = [e.lo for e in self.begins]
        # checkpoint coverage: (done.lo, covered-until) for each DONE, the BEGIN
        # it completes being the last BEGIN before it
        cov = []
        last_begin = None
        for e in events:
            if e.kind == "begin":
                last_begin = e
            elif e.kind == "done" and last_begin is not None:
                cov.append((e.lo, last_begin.hi))
        cov.sort()
        self.cov_t = [c[0] for c in cov]
        self.cov_max = []
        m = None
        for c in cov:
            m = c[1] if m is None else max(m, c[1])
            self.cov_max.append(m)
        fo = [e.lo for e in events if e.kind == "failover"]
        self.failover_lo = min(fo) if fo else None
        self.n_done = sum(1 for e in events if e.kind == "done")

    def separated(self, t1, t2):
        """True when a BEGIN lies certainly between t1 and t2."""
        a, b = (t1, t2) if t1 <= t2 else (t2, t1)
        i = bisect.bisect_right(self.b_lo, a)
        return i < len(self.begins) and self.begins[i].hi < b

    def maybe_separated(self, t1, t2):
        """True when a BEGIN window overlaps [t1, t2]."""
        a, b = (t1, t2) if t1 <= t2 else (t2, t1)
        return any(e.lo < b and e.hi > a for e in self.begins)

    def covered(self, tp, tc):
        """PVM output of time tp covered by a checkpoint completed by tc."""
        i = bisect.bisect_right(self.cov_t, tc)
        return i > 0 and tp < self.cov_max[i - 1]

    def failed_over(self, tc):
        return self.failover_lo is not None and tc >= self.failover_lo

    def epoch_of(self, t):
        """Number of BEGINs certainly before t (for messages)."""
        return sum(1 for b in self.begins if b.hi < t)


# ---------------------------------------------------------------------------
# the captures, per connection


class Conn:
    def __init__(self):
        self.base = None
        self.segs = {"pvm": [], "svm": [], "cl": []}   # (t, start, data)
        self.marks = {"pvm": [], "svm": [], "cl": []}  # (t, "FIN"/"RST", off)
        self.idx = {}

    def index(self, side):
        segs = sorted(self.segs[side], key=lambda s: s[1])
        starts = [s[1] for s in segs]
        maxlen = max((len(s[2]) for s in segs), default=0)
        self.idx[side] = (segs, starts, maxlen)

    def overlapping(self, side, a, b):
        segs, starts, maxlen = self.idx[side]
        i = bisect.bisect_left(starts, a - maxlen)
        while i < len(segs) and segs[i][1] < b:
            s = segs[i]
            if s[1] + len(s[2]) > a:
                yield s
            i += 1


def rel(seq, base):
    d = (seq - base) & 0xFFFFFFFF
    return d - (1 << 32) if d >= (1 << 31) else d


class Capture:
    """Everything the three capture points saw, sorted into connections and
    datagrams. Only packets from the VM's addresses count."""

    def __init__(self, vm_addrs):
        self.vm_addrs = vm_addrs
        self.conns = {}
        self.dgrams = {"pvm": {}, "svm": {}, "cl": {}}  # key -> sorted times
        self.cl_dgrams = []                             # (t, key, desc)
        self.not_checked = {}
        self.truncated = 0
        self.frames = {"pvm": 0, "svm": 0, "cl": 0}

    def nc(self, what):
        self.not_checked[what] = self.not_checked.get(what, 0) + 1

    def add(self, side, p):
        self.frames[side] += 1
        if p.src not in self.vm_addrs:
            if side == "cl":
                self.nc("not from the VM's address")
            return
        if p.trunc:
            self.truncated += 1
        if p.kind == "tcp":
            key = (p.fam, p.src, p.sport, p.dst, p.dport)
            c = self.conns.get(key)
            if c is None:
                c = self.conns[key] = Conn()
            syn = p.flags & 0x02
            if side == "svm" and syn:
                # the SVM's SYN-ACK carries its own ISN (SECCOLO adjusts what
                # follows it): compare its payload only, never its number
                if p.payload:
                    c.segs[side].append((p.t, None, p.payload))
                return
            if c.base is None:
                # stream offsets: 0 is the first payload byte
                c.base = (p.seq + 1) & 0xFFFFFFFF if syn else p.seq
            start = rel(p.seq, c.base) + (1 if syn else 0)
            if p.payload:
                c.segs[side].append((p.t, start, p.payload))
            elif side == "cl" and not (p.flags & 0x05):
                self.nc("SYN without payload" if syn else "pure ACK")
            if p.flags & 0x01:
                c.marks[side].append((p.t, "FIN", start + len(p.payload)))
            if p.flags & 0x04:
                c.marks[side].append((p.t, "RST", start))
            return
        if p.kind in ("udp", "icmp"):
            key = (p.kind, p.fam, p.src, p.dst, p.l4)
            self.dgrams[side].setdefault(key, []).append(p.t)
            if side == "cl":
                if p.kind == "udp":
                    desc = "udp %s:%d->%s:%d %d bytes" % (addr_str(p.fam, p.src), p.sport,
                                                          addr_str(p.fam, p.dst), p.dport, len(p.payload))
                else:
                    desc = "icmp%s %s->%s type %d code %d %d bytes" % (
                        "" if p.fam == 4 else "v6", addr_str(p.fam, p.src),
                        addr_str(p.fam, p.dst), p.l4[0], p.l4[1], len(p.l4))
                self.cl_dgrams.append((p.t, key, desc))
            return
        if side == "cl":
            self.nc({"nd": "neighbour discovery", "frag": "IP fragment"}.get(p.kind, "other protocol"))

    def finish(self):
        for key, c in self.conns.items():
            if c.base is None:
                c.base = 0
            # SVM SYN-ACK payload: place it at offset 0 (the PVM's numbers)
            c.segs["svm"] = [(t, 0 if s is None else s, d) for t, s, d in c.segs["svm"]]
            for side in ("pvm", "svm"):
                c.index(side)
                c.marks[side].sort()
        for side in self.dgrams:
            for v in self.dgrams[side].values():
                v.sort()


# ---------------------------------------------------------------------------
# the check


class Result:
    def __init__(self):
        self.tcp = dict(checked=0, match=0, checkpoint=0, failover=0, violating=0)
        self.dg = dict(checked=0, match=0, checkpoint=0, failover=0, violating=0)
        self.mark = dict(checked=0, match=0, checkpoint=0, failover=0, violating=0)
        self.violations = []   # (t, text)
        self.ambiguous = 0     # matches that only hold inside an event window

    def violate(self, t, text):
        self.violations.append((t, text))


def conn_str(key):
    fam, src, sport, dst, dport = key
    if fam == 6:
        return "tcp [%s]:%d->[%s]:%d" % (addr_str(fam, src), sport, addr_str(fam, dst), dport)
    return "tcp %s:%d->%s:%d" % (addr_str(fam, src), sport, addr_str(fam, dst), dport)


def first_conflicts(c, tl):
    """Per epoch (BEGINs certainly before the PVM copy), the lowest stream
    offset at which an SVM byte certainly of the same epoch differs from the
    PVM's byte. The kernel compares streams: past a difference nothing of that
    epoch can be released by a match, only by the checkpoint."""
    first = {}
    found = []  # (time the differing PVM copy was sent, epoch, offset)
    for tp, ps, pdata in c.segs["pvm"]:
        pe = ps + len(pdata)
        ep = tl.epoch_of(tp)
        lim = first.get(ep)
        for ts, ss, sdata in c.overlapping("svm", ps, pe):
            if tl.maybe_separated(tp, ts):
                continue
            x, y = max(ps, ss), min(pe, ss + len(sdata))
            if lim is not None and x >= lim:
                continue
            if pdata[x - ps:y - ps] == sdata[x - ss:y - ss]:
                continue
            eq = equal_runs(pdata[x - ps:y - ps], sdata[x - ss:y - ss], x)
            diff = iv_sub([(x, y)], eq)
            if diff and (lim is None or diff[0][0] < lim):
                lim = diff[0][0]
                found.append((tp, ep, lim))
        if lim is not None:
            first[ep] = lim
    c.conflict_times = sorted(found)
    return first


def conflict_before(c, ep, tc):
    """The lowest differing offset of epoch @ep among PVM copies sent by @tc
    (the time of the copy being verified): a copy that differs later (a
    retransmit with other bytes, which the kernel holds) cannot make an earlier
    copy unverified; the kernel compares every copy against the SVM's bytes."""
    lim = None
    for tp, e, off in getattr(c, "conflict_times", []):
        if tp > tc:
            break
        if e == ep and (lim is None or off < lim):
            lim = off
    return lim


def conn_history(c, s, e, tl, n=6):
    """What each side sent of [s, e) and its FIN/RST marks (evidence)."""
    out = []
    for side in ("pvm", "svm", "cl"):
        segs = sorted((t, ss, d) for t, ss, d in c.segs[side] if ss < e and ss + len(d) > s)
        items = ["[%d,%d)@%s/e%d:%s" % (ss, ss + len(d), fmt_t(t), tl.epoch_of(t), d[:4].hex())
                 for t, ss, d in segs[:n]]
        items += ["%s@%d %s/e%d" % (w, o, fmt_t(t), tl.epoch_of(t)) for t, w, o in sorted(c.marks[side])[:3]]
        out.append("%s %s" % (side, " ".join(items) or "-"))
    return "; history: " + " | ".join(out)


def check_tcp(cap, tl, res):
    for key, c in cap.conns.items():
        bad = []  # (tc, s, e, why, tp)
        conflict = first_conflicts(c, tl)
        c.conflict = conflict
        for tc, a, data in sorted(c.segs["cl"]):
            b = a + len(data)
            produced, matched, ckpt, fo = [], [], [], []
            pvm_t = None
            for tp, ps, pdata in c.overlapping("pvm", a, b):
                if tp > tc:
                    continue
                s, e = max(a, ps), min(b, ps + len(pdata))
                runs = equal_runs(data[s - a:e - a], pdata[s - ps:e - ps], s)
                if not runs:
                    continue
                produced += runs
                pvm_t = tp if pvm_t is None else max(pvm_t, tp)
                lim = conflict_before(c, tl.epoch_of(tp), tp)
                for rs, re_ in runs:
                    if lim is not None:
                        re_ = min(re_, lim)
                        if rs >= re_:
                            continue
                    for ts, ss, sdata in c.overlapping("svm", rs, re_):
                        if ts > tc or tl.separated(tp, ts):
                            continue
                        x, y = max(rs, ss), min(re_, ss + len(sdata))
                        if x < y:
                            m = equal_runs(data[x - a:y - a], sdata[x - ss:y - ss], x)
                            matched += m
                if tl.covered(tp, tc):
                    ckpt += runs
                if tl.failed_over(tc):
                    fo += runs
            need = [(a, b)]
            produced = iv_norm(produced)
            matched = iv_norm(matched)
            ckpt = iv_sub(iv_norm(ckpt), matched)
            fo = iv_sub(iv_sub(iv_norm(fo), matched), ckpt)
            not_prod = iv_sub(need, produced)
            unver = iv_sub(iv_sub(iv_sub(produced, matched), ckpt), fo)
            res.tcp["checked"] += b - a
            res.tcp["match"] += iv_len(matched)
            res.tcp["checkpoint"] += iv_len(ckpt)
            res.tcp["failover"] += iv_len(fo)
            res.tcp["violating"] += iv_len(not_prod) + iv_len(unver)
            for s, e in not_prod:
                bad.append((tc, s, e, "never sent by the PVM", None))
            for s, e in unver:
                bad.append((tc, s, e, "sent by the PVM, neither matched by the SVM in its epoch nor covered by a completed checkpoint", pvm_t))
        # merge adjacent ranges of the same kind for the report
        merged = []
        for tc, s, e, why, tp in sorted(bad, key=lambda x: (x[3], x[1])):
            if merged and merged[-1][3] == why and merged[-1][2] >= s:
                m = merged[-1]
                merged[-1] = (min(m[0], tc), m[1], max(m[2], e), why, m[4], max(m[5], tc))
            else:
                merged.append((tc, s, e, why, tp, tc))
        for tc, s, e, why, tp, tc2 in merged:
            svm_near = [(ts, ss, ss + len(d)) for ts, ss, d in c.overlapping("svm", s, e)]
            extra = ""
            if svm_near:
                ts, ss, se = min(svm_near)
                extra = "; SVM sent an overlapping [%d,%d) at %s (epoch %d)" % (
                    ss, se, fmt_t(ts), tl.epoch_of(ts))
            else:
                extra = "; the SVM never sent these sequence numbers"
            if c.conflict:
                extra += "; the streams differ from offset %s" % ", ".join(
                    "%d in epoch %d" % (o, e) for e, o in sorted(c.conflict.items()))
            res.violate(tc, "%s bytes [%d,%d) (%d bytes, stream offsets, seq %u = 0) received %s..%s: %s%s%s%s" % (
                conn_str(key), s, e, e - s, c.base, fmt_t(tc), fmt_t(tc2), why,
                "" if tp is None else " (PVM sent them at %s, epoch %d)" % (fmt_t(tp), tl.epoch_of(tp)),
                extra, conn_history(c, s, e, tl)))


def verify_item(pvm_ts, svm_ts, tc, tl):
    """Reason an item (datagram, FIN, RST) received at tc is allowed, or a
    violation text."""
    pv = [tp for tp in pvm_ts if tp <= tc]
    if not pv:
        return None, "never sent by the PVM"
    for tp in pv:
        for ts in svm_ts:
            if ts <= tc and not tl.separated(tp, ts):
                return "match", None
    for tp in pv:
        if tl.covered(tp, tc):
            return "checkpoint", None
    if tl.failed_over(tc):
        return "failover", None
    return None, "sent by the PVM at %s (epoch %d), the SVM sent %s, no completed checkpoint covers it" % (
        fmt_t(pv[-1]), tl.epoch_of(pv[-1]),
        "it only at %s" % ", ".join(fmt_t(t) for t in svm_ts[:3]) if svm_ts else "nothing equal")


def check_items(cap, tl, res):
    for tc, key, desc in sorted(cap.cl_dgrams):
        res.dg["checked"] += 1
        why, err = verify_item(cap.dgrams["pvm"].get(key, []), cap.dgrams["svm"].get(key, []), tc, tl)
        if why:
            res.dg[why] += 1
        else:
            res.dg["violating"] += 1
            res.violate(tc, "%s received %s: %s" % (desc, fmt_t(tc), err))
    for key, c in cap.conns.items():
        for tc, what, off in sorted(c.marks["cl"]):
            res.mark["checked"] += 1
            pv = [t for t, w, o in c.marks["pvm"] if w == what and o == off]
            sv = [t for t, w, o in c.marks["svm"] if w == what and o == off]
            why, err = verify_item(pv, sv, tc, tl)
            if why:
                res.mark[why] += 1
            else:
                res.mark["violating"] += 1
                other = ["%s at relative seq %d (%s)" % (w, o, fmt_t(t))
                         for t, w, o in c.marks["svm"] if w == what][:3]
                res.violate(tc, "%s %s at relative seq %d received %s: %s%s" % (
                    conn_str(key), what, off, fmt_t(tc), err,
                    "; the SVM's: " + ", ".join(other) if other else ""))


def check_counters(stats, tl, res, why_none=""):
    """Kernel counters against what the oracle saw. List of problems."""
    probs = []
    if stats is None:
        return probs, "kernel counters not available%s" % (": " + why_none if why_none else "")
    g = lambda k: stats.get(k)
    rc, rm, rf, passed = g("released_checkpoint"), g("released_match"), g("released_failover"), g("passed")
    if rc is not None:
        if tl.n_done == 0 and rc != 0:
            probs.append("released_checkpoint=%d but the timeline has no CHECKPOINT_DONE" % rc)
        if tl.n_done == 0 and res.tcp["checkpoint"] + res.dg["checkpoint"] + res.mark["checkpoint"]:
            probs.append("bytes verified by checkpoint without a CHECKPOINT_DONE")
        if res.tcp["checkpoint"] + res.dg["checkpoint"] > 0 and rc == 0:
            probs.append("the client got %d bytes and %d datagrams only a checkpoint could release, "
                         "but released_checkpoint=0" % (res.tcp["checkpoint"], res.dg["checkpoint"]))
    if rm is not None and res.tcp["match"] + res.dg["match"] > 0 and rm == 0:
        probs.append("bytes verified by match but released_match=0")
    fo_seen = tl.failover_lo is not None
    if not fo_seen:
        for k in ("released_failover", "passed"):
            if g(k):
                probs.append("%s=%d but the timeline has no FAILOVER" % (k, g(k)))
    elif res.tcp["failover"] + res.dg["failover"] > 0 and rf is not None and passed is not None \
            and rf + passed == 0:
        probs.append("the client got output only a failover could release, but released_failover "
                     "and passed are 0")
    return probs, "released_match=%s released_checkpoint=%s released_failover=%s passed=%s" % (rm, rc, rf, passed)


def tcpdump_drops(d):
    drops = {}
    for side in ("pvm", "svm", "cl"):
        p = os.path.join(d, side + ".err")
        if os.path.exists(p):
            m = re.search(r"(\d+) packets? dropped by kernel", open(p, errors="replace").read())
            drops[side] = int(m.group(1)) if m else None
    return drops


END_MARK_TYPE = b"\x88\xb5"  # tests/topo.sh topo_capture_barrier's marker frames
END_MARK_TEXT = b"colo-capture-end-"

VM_ADDRS = {bytes([10, 77, 0, 2]), bytes.fromhex("fd770000000000000000000000000002")}


def run_check(d, vm, name, stats, out=sys.stdout):
    t_start = time.time()
    tl_events, notes = load_timeline(os.path.join(d, "monitor.log"), os.path.join(d, "ctl.log"), vm)
    tl = Timeline(tl_events)
    cap = Capture(VM_ADDRS)
    marked = {}
    for side in ("pvm", "svm", "cl"):
        path = os.path.join(d, side + ".pcap")
        if not os.path.exists(path):
            print("not ok - oracle %s: capture %s missing" % (name, path), file=out)
            return 1
        marked[side] = False
        for t, fr, orig in read_pcap(path):
            if fr[12:14] == END_MARK_TYPE and END_MARK_TEXT in fr[14:]:
                marked[side] = True  # topo_capture_barrier: all before it is here
                continue
            p = parse_frame(t, fr, orig)
            if p is not None:
                cap.add(side, p)
    cap.finish()
    res = Result()
    check_tcp(cap, tl, res)
    check_items(cap, tl, res)
    why_none = ""
    if stats is None:
        err = os.path.join(d, "stats.err")
        if os.path.exists(err):
            why_none = open(err, errors="replace").read().strip().replace("\n", "; ")
        why_none = why_none or "not read (no primary session of this VM)"
    probs, kc = check_counters(stats, tl, res, why_none)
    drops = tcpdump_drops(d)

    pr = lambda s: print("# oracle %s: %s" % (name, s), file=out)
    pr("timeline: %s" % (" ".join(repr(e) for e in tl.events) or "no checkpoint, no failover"))
    for n in notes:
        pr(n)
    unmarked = [k for k, v in marked.items() if not v]
    pr("frames captured: pvm %d, svm %d, client %d; tcpdump drops %s%s; end marker %s" % (
        cap.frames["pvm"], cap.frames["svm"], cap.frames["cl"],
        " ".join("%s=%s" % kv for kv in drops.items()),
        "; %d frames truncated" % cap.truncated if cap.truncated else "",
        "missing in %s (the capture may miss its last frames)" % ", ".join(unmarked) if unmarked else "in every capture"))
    for what, r in (("tcp bytes", res.tcp), ("datagrams", res.dg), ("fin/rst", res.mark)):
        pr("%s checked %d: match %d, checkpoint %d, failover %d, violating %d" % (
            what, r["checked"], r["match"], r["checkpoint"], r["failover"], r["violating"]))
    pr("not checked: %s" % (", ".join("%d %s" % (v, k) for k, v in sorted(cap.not_checked.items())) or "nothing"))
    pr("kernel: %s" % kc)
    pr("checked in %.1f s" % (time.time() - t_start))
    nviol = len(res.violations)
    # the first few of each kind (tcp bytes, datagrams, fin/rst), by time
    shown, per_kind = [], {}
    for t, text in sorted(res.violations):
        k = "tcp" if " bytes [" in text else ("mark" if (" FIN at " in text or " RST at " in text) else "dgram")
        if per_kind.get(k, 0) < MAX_DETAIL // 2:
            per_kind[k] = per_kind.get(k, 0) + 1
            shown.append(text)
    for text in shown:
        pr("VIOLATION " + text)
    if nviol > len(shown):
        pr("... %d more violations" % (nviol - len(shown)))
    for p in probs:
        pr("COUNTERS " + p)
    lost = sum(v for v in drops.values() if v)
    summary = "%d tcp bytes (match %d, checkpoint %d, failover %d), %d datagrams, %d fin/rst; %d violations" % (
        res.tcp["checked"], res.tcp["match"], res.tcp["checkpoint"], res.tcp["failover"],
        res.dg["checked"], res.mark["checked"], nviol)
    if nviol or probs:
        why = []
        if nviol:
            why.append("%d violations" % nviol)
        if probs:
            why.append("%d counter inconsistencies" % len(probs))
        if lost:
            why.append("the capture lost %d frames, so this may be the capture's fault" % lost)
        if unmarked:
            why.append("no end marker in %s, so this may be the capture's fault" % ", ".join(unmarked))
        print("not ok - oracle %s: output commit broken: %s (%s)" % (name, ", ".join(why), summary), file=out)
        return 1
    print("ok - oracle %s: %s" % (name, summary), file=out)
    return 0


# ---------------------------------------------------------------------------
# self-test on synthetic captures

CLMAC = bytes.fromhex("02c010000001")
VMMAC = bytes.fromhex("02c010000002")
CL4, VM4 = bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2])
CL6, VM6 = bytes.fromhex("fd770000000000000000000000000001"), bytes.fromhex("fd770000000000000000000000000002")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mk_ip(fam, src, dst, proto, l4):
    if fam == 4:
        h = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src, dst)
        h = h[:10] + struct.pack(">H", csum(h)) + h[12:]
        return VMMAC + CLMAC + b"\x08\x00" + h + l4
    h = struct.pack(">IHBB16s16s", 0x60000000, len(l4), proto, 64, src, dst)
    return VMMAC + CLMAC + b"\x86\xdd" + h + l4


def mk_tcp(seq, data=b"", flags=0x18, fam=4, sport=5001, dport=40000):
    l4 = struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, 1, 5 << 4, flags, 500, 0, 0) + data
    return mk_ip(fam, VM4 if fam == 4 else VM6, CL4 if fam == 4 else CL6, 6, l4)


def mk_udp(data, fam=4):
    l4 = struct.pack(">HHHH", 5002, 40001, 8 + len(data), 0) + data
    return mk_ip(fam, VM4 if fam == 4 else VM6, CL4 if fam == 4 else CL6, 17, l4)


def mk_icmp6(typ, data=b""):
    return mk_ip(6, VM6, CL6, 58, bytes([typ, 0, 0, 0]) + data)


T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def scenario(tmp, pvm, svm, cl, events=(), stats=None):
    """events: (kind, lo_ms, hi_ms[, reply_ms]); frames: (ms, frame)."""
    os.makedirs(tmp, exist_ok=True)
    for name, fr in (("pvm", pvm), ("svm", svm), ("cl", cl)):
        write_pcap(os.path.join(tmp, name + ".pcap"), [(T0 + int(ms * MS), f) for ms, f in fr])
    with open(os.path.join(tmp, "monitor.log"), "w") as f:
        f.write("# monitoring family COLO id 30 group 9\n")
        for kind, lo, hi, *_ in events:
            t = T0 + int(hi * MS)
            name = {"begin": "checkpoint-begin", "done": "checkpoint-done"}.get(kind, kind)
            f.write("%s.%06d %s vm=7 epoch=1 mode=primary port=1\n" % (
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1_000_000_000)),
                (t % 1_000_000_000) // 1000, name))
    with open(os.path.join(tmp, "ctl.log"), "w") as f:
        for kind, lo, hi, *reply in events:
            f.write("%d send %s\n" % (T0 + int(lo * MS), kind))
            f.write("%d reply ok %s\n" % (T0 + int((reply[0] if reply else hi + 1) * MS), kind))
    import io
    buf = io.StringIO()
    rc = run_check(tmp, 7, "selftest", stats, out=buf)
    return rc, buf.getvalue()


def selftest():
    import tempfile
    base = tempfile.mkdtemp(prefix="oracle-selftest.")
    ISN = 0xFFFFF000  # wraps inside the stream
    blob = bytes((i * 7 + 3) % 251 for i in range(20000))
    other = bytes((b ^ 0x5A) for b in blob)
    syn = mk_tcp(ISN, flags=0x12)
    segs = lambda data, size, off=0: [(ISN + 1 + off + i, data[i:i + size]) for i in range(0, len(data), size)]
    cases = []

    def case(name, want_rc, want_text, **kw):
        cases.append((name, want_rc, want_text, kw))

    # 1. identical streams, different segmentation on each side, seq wrap
    pvm = [(1, syn)] + [(10 + i, mk_tcp(s, d)) for i, (s, d) in enumerate(segs(blob, 1448))]
    svm = [(1, mk_tcp(0x1234, flags=0x12))] + [(12 + i, mk_tcp(s, d)) for i, (s, d) in enumerate(segs(blob, 3000))]
    cl = [(2, syn)] + [(50 + i, mk_tcp(s, d)) for i, (s, d) in enumerate(segs(blob, 1448))]
    case("identical streams pass, all by match", 0, "tcp bytes checked 20000: match 20000, checkpoint 0",
         pvm=pvm, svm=svm, cl=cl, stats={"released_match": 14, "released_checkpoint": 0})
    # 1b. past the first difference, equal bytes are not a match (stream compare)
    half = blob[:5000] + bytes([blob[5000] ^ 1]) + blob[5001:]
    case("equal bytes after a difference are not matched: flagged", 1, "match 5000, checkpoint 0, failover 0, violating 15000",
         pvm=pvm, svm=[(12 + i, mk_tcp(s, d)) for i, (s, d) in enumerate(segs(half, 3000))], cl=cl)
    # 2. the client got bytes the SVM never matched, no checkpoint
    svm_div = [(1, mk_tcp(0x1234, flags=0x12))] + [(12 + i, mk_tcp(s, d)) for i, (s, d) in
                                                   enumerate(segs(blob[:8000] + other[8000:], 3000))]
    case("diverging SVM, released anyway: flagged", 1, "VIOLATION tcp 10.77.0.2:5001->10.77.0.1:40000 bytes [8000,20000)",
         pvm=pvm, svm=svm_div, cl=cl)
    # 3. the same, released by a checkpoint whose BEGIN came after the PVM sent
    #    and whose DONE came before the client got it
    cl_late = [(2, syn)] + [(200 + i, mk_tcp(s, d)) for i, (s, d) in enumerate(segs(blob, 1448))]
    case("diverging SVM, released after a completed checkpoint: passes", 0,
         "tcp bytes checked 20000: match 8000, checkpoint 12000",
         pvm=pvm, svm=svm_div, cl=cl_late, events=[("begin", 100, 110), ("done", 150, 160)],
         stats={"released_match": 6, "released_checkpoint": 8})
    # 4. released before the DONE
    case("released between BEGIN and DONE: flagged", 1, "violating 12000",
         pvm=pvm, svm=svm_div, cl=cl_late, events=[("begin", 100, 110), ("done", 300, 310)])
    # 5. PVM output sent after BEGIN, released by its DONE
    pvm_late = [(1, syn)] + [(120 + i, mk_tcp(s, d)) for i, (s, d) in enumerate(segs(blob, 1448))]
    cl_later = [(2, syn)] + [(400 + i, mk_tcp(s, d)) for i, (s, d) in enumerate(segs(blob, 1448))]
    case("output of the new epoch released by the old epoch's DONE: flagged", 1, "violating 20000",
         pvm=pvm_late, svm=svm_div, cl=cl_later, events=[("begin", 100, 110), ("done", 300, 310)])
    # 5b. two checkpoints; the first one's answer came late (after the
    #     monitor saw it): it bounds the first, never the second, so output
    #     sent between them and released by the second is covered
    pvm_mid = [(1, syn)] + [(800 + i, mk_tcp(s, d)) for i, (s, d) in enumerate(segs(blob, 1448))]
    cl_end = [(2, syn)] + [(1300 + i, mk_tcp(s, d)) for i, (s, d) in enumerate(segs(blob, 1448))]
    case("a late answer bounds its own checkpoint only: passes", 0, "match 0, checkpoint 20000, failover 0, violating 0",
         pvm=pvm_mid, svm=svm_div, cl=cl_end,
         events=[("begin", 100, 105, 600), ("done", 650, 655, 700), ("begin", 1000, 1005), ("done", 1200, 1205)],
         stats={"released_match": 6, "released_checkpoint": 8})
    # 6. SVM bytes of the closed epoch match PVM bytes of the new one
    svm_old = [(12 + i, mk_tcp(s, d)) for i, (s, d) in enumerate(segs(blob, 3000))]
    case("SVM bytes of a closed epoch verify nothing in the next one: flagged", 1, "violating 20000",
         pvm=pvm_late, svm=svm_old, cl=cl_later, events=[("begin", 100, 110)])
    # 6b. an SVM byte inside the BEGIN window is not a certain violation
    svm_win = [(105, mk_tcp(s, d)) for s, d in segs(blob, 3000)]
    case("SVM bytes inside the BEGIN's window: lenient", 0, "match 20000",
         pvm=pvm_late, svm=svm_win, cl=cl_later, events=[("begin", 100, 110)])
    # 7. SVM byte that arrives after the client already had it
    svm_after = [(1000 + i, mk_tcp(s, d)) for i, (s, d) in enumerate(segs(blob, 3000))]
    case("SVM byte after the client got it: flagged", 1, "violating 20000",
         pvm=pvm, svm=svm_after, cl=cl)
    # 8. bytes the PVM never sent (SVM output leaked to the client)
    cl_svm = [(2, syn)] + [(50 + i, mk_tcp(s, d)) for i, (s, d) in enumerate(segs(other, 1448))]
    case("SVM-only bytes at the client: flagged", 1, "never sent by the PVM",
         pvm=pvm, svm=[(12, mk_tcp(s, d)) for s, d in segs(other, 3000)], cl=cl_svm)
    # 9. failover
    case("released after FAILOVER: passes", 0, "failover 12000",
         pvm=pvm, svm=svm_div, cl=cl_late, events=[("failover", 100, 110)],
         stats={"released_match": 6, "released_checkpoint": 0, "released_failover": 3, "passed": 0})
    case("released before FAILOVER: flagged", 1, "violating 12000",
         pvm=pvm, svm=svm_div, cl=cl_late, events=[("failover", 250, 260)])
    # 10. datagrams
    u, v = mk_udp(b"answer"), mk_udp(b"ANSWER")
    case("matching datagram passes", 0, "datagrams checked 1: match 1",
         pvm=[(1, u)], svm=[(2, u)], cl=[(3, u)])
    case("unmatched datagram released: flagged", 1, "VIOLATION udp 10.77.0.2:5002->10.77.0.1:40001",
         pvm=[(1, u)], svm=[(2, v)], cl=[(3, u)])
    case("unmatched datagram after a checkpoint passes", 0, "datagrams checked 1: match 0, checkpoint 1",
         pvm=[(1, u)], svm=[(2, v)], cl=[(30, u)], events=[("begin", 10, 11), ("done", 20, 21)])
    e6 = mk_ip(6, VM6, CL6, 58, bytes([129, 0, 0, 0]) + b"pingdata")
    case("ICMPv6 echo reply unmatched: flagged", 1, "VIOLATION icmpv6",
         pvm=[(1, e6)], svm=[], cl=[(3, e6)])
    case("neighbour discovery is not checked", 0, "1 neighbour discovery",
         pvm=[(1, mk_icmp6(136, b"\0" * 20))], svm=[], cl=[(3, mk_icmp6(136, b"\0" * 20))])
    # 11. FIN / RST
    rst = mk_tcp(ISN + 1 + 20000, flags=0x14)
    case("RST the SVM never sent: flagged", 1, "RST at relative seq 20000",
         pvm=pvm + [(90, rst)], svm=svm, cl=cl + [(95, rst)])
    fin = mk_tcp(ISN + 1 + 20000, flags=0x11)
    case("FIN matched by the SVM's passes", 0, "fin/rst checked 1: match 1",
         pvm=pvm + [(90, fin)], svm=svm + [(91, fin)], cl=cl + [(95, fin)])
    # 12. IPv6; a retransmission: only PVM copies sent by then count
    seg6 = mk_tcp(ISN + 1, blob[:1000], fam=6)
    case("IPv6: the PVM's only copy is of a later epoch than the SVM's: flagged", 1, "violating 1000",
         pvm=[(300, seg6)], svm=[(15, seg6)], cl=[(310, seg6)], events=[("begin", 100, 110)])
    case("IPv6: a retransmission of a verified byte passes", 0, "checked 2000: match 2000",
         pvm=[(10, seg6), (300, seg6)], svm=[(15, seg6)], cl=[(20, seg6), (310, seg6)],
         events=[("begin", 100, 110)])
    case("IPv6: a copy received before the PVM sent it: flagged", 1, "never sent by the PVM",
         pvm=[(300, seg6)], svm=[(15, seg6)], cl=[(20, seg6)])
    # 13. counters that contradict the timeline
    case("released_checkpoint without a DONE: flagged", 1, "COUNTERS released_checkpoint=3",
         pvm=pvm, svm=svm, cl=cl, stats={"released_match": 14, "released_checkpoint": 3})
    case("checkpoint-only bytes but released_checkpoint=0: flagged", 1, "but released_checkpoint=0",
         pvm=pvm, svm=svm_div, cl=cl_late, events=[("begin", 100, 110), ("done", 150, 160)],
         stats={"released_match": 6, "released_checkpoint": 0})

    failed = 0
    for i, (name, want_rc, want_text, kw) in enumerate(cases):
        rc, text = scenario(os.path.join(base, "c%d" % i), **kw)
        if os.environ.get("ORACLE_SELFTEST_VERBOSE"):
            print(text)
        good = rc == want_rc and want_text in text
        print("%s: oracle-selftest/%s" % ("PASS" if good else "FAIL", name))
        if not good:
            failed += 1
            print("  want rc %d and %r; got rc %d:" % (want_rc, want_text, rc))
            print("  " + text.replace("\n", "\n  "))
    import shutil
    shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


def main():
    import argparse
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("check")
    q.add_argument("--dir", required=True)
    q.add_argument("--vm", type=int, required=True)
    q.add_argument("--name", default="")
    q.add_argument("--stats")
    sub.add_parser("selftest")
    a = p.parse_args()
    if a.cmd == "selftest":
        return selftest()
    stats = None
    if a.stats and os.path.exists(a.stats):
        try:
            j = json.load(open(a.stats))
            vms = j.get("vms", [j]) if isinstance(j, dict) else j
            for v in vms:
                if v.get("vm_id") == a.vm:
                    stats = v.get("stats", v)
        except (ValueError, AttributeError):
            stats = None
    return run_check(a.dir, a.vm, a.name or os.path.basename(a.dir), stats)


if __name__ == "__main__":
    sys.exit(main())
