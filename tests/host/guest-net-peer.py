#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""guest-net-peer.py DIR: a raw-Ethernet peer for the test guest's stack.

QEMU runs the guest with
  -netdev dgram,id=n0,local.type=unix,local.path=DIR/qemu.sock,
          remote.type=unix,remote.path=DIR/peer.sock
so every datagram on DIR/peer.sock is one Ethernet frame. The guest must
have been given ip=GUEST gw=PEER on its command line (the defaults below).
The peer answers the guest's ARP for its gateway, then probes ARP, ICMP
echo, UDP, and TCP (handshake, MSS, out-of-order and bad-checksum
segments, retransmission, FIN, RST), printing TAP-ish lines; exit 0 when
every check passed.
"""
import os
import socket
import struct
import sys
import time

GUEST_IP = os.environ.get("GUEST_IP", "192.168.77.2")
PEER_IP = os.environ.get("PEER_IP", "192.168.77.1")
PEER_MAC = bytes.fromhex("020000c0ffee")
GUEST_IP6 = os.environ.get("GUEST_IP6", "fd00:c010::2")
PEER_IP6 = os.environ.get("PEER_IP6", "fd00:c010::1")
SVC = 5000
failed = 0


def ok(cond, what):
    global failed
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        failed += 1
    return cond


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ip4(s):
    return socket.inet_aton(s)


class Peer:
    def __init__(self, d):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = os.path.join(d, "peer.sock")
        if os.path.exists(path):
            os.unlink(path)
        self.sock.bind(path)
        self.qemu = os.path.join(d, "qemu.sock")
        self.gmac = None
        self.log = []

    def send(self, frame):
        self.sock.sendto(frame, self.qemu)

    def recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            return self.sock.recv(4096)
        except (socket.timeout, BlockingIOError):
            return None

    def wait(self, match, timeout):
        """First frame for which match(frame) is true, answering the
        guest's ARP requests meanwhile."""
        end = time.time() + timeout
        while time.time() < end:
            f = self.recv(end - time.time())
            if f is None:
                break
            self.log.append(f)
            self.arp_answer(f)
            r = match(f)
            if r:
                return r
        return None

    def eth(self, etype, payload):
        return (self.gmac or b"\xff" * 6) + PEER_MAC + \
            struct.pack("!H", etype) + payload

    def arp_answer(self, f):
        if len(f) < 42 or f[12:14] != b"\x08\x06":
            return
        op, = struct.unpack("!H", f[20:22])
        if op == 1 and f[38:42] == ip4(PEER_IP):
            self.gmac = f[22:28]
            a = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + PEER_MAC + \
                ip4(PEER_IP) + f[22:28] + f[28:32]
            self.send(f[6:12] + PEER_MAC + b"\x08\x06" + a)

    def ip(self, proto, payload, ident=1, bad=False):
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident,
                        0x4000, 64, proto, 0, ip4(PEER_IP), ip4(GUEST_IP))
        h = h[:10] + struct.pack("!H", csum(h) ^ (0x0f0f if bad else 0)) + \
            h[12:]
        return self.eth(0x0800, h + payload)


def parse_ip(f, proto):
    if len(f) < 34 or f[12:14] != b"\x08\x00" or f[23] != proto:
        return None
    hl = (f[14] & 15) * 4
    tot, = struct.unpack("!H", f[16:18])
    if csum(f[14:14 + hl]) != 0:
        return None
    return f[14 + hl:14 + tot]


def pseudo(proto, seg, src=GUEST_IP, dst=PEER_IP):
    return ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, len(seg))


def udp(sport, dport, data, bad=False):
    u = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    c = csum(pseudo(17, u, PEER_IP, GUEST_IP) + u) or 0xffff
    if bad:
        c ^= 0x5555
    return u[:6] + struct.pack("!H", c) + u[8:]


def tcp(sport, dport, seq, ack, flags, data=b"", win=65535, opts=b"",
        bad=False):
    hl = 20 + len(opts)
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, hl // 4 << 4,
                    flags, win, 0, 0) + opts + data
    c = csum(pseudo(6, t, PEER_IP, GUEST_IP) + t)
    if bad:
        c ^= 0x5555
    return t[:16] + struct.pack("!H", c) + t[18:]


def parse_tcp(f, sport):
    t = parse_ip(f, 6)
    if t is None or len(t) < 20:
        return None
    s, d, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", t[:16])
    if d != sport:
        return None
    if csum(pseudo(6, t) + t) != 0:
        return {"badcsum": True}
    hl = (off >> 4) * 4
    return {"seq": seq, "ack": ack, "flags": flags, "win": win,
            "opts": t[20:hl], "data": t[hl:], "sport": s}


SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
HERE = os.path.dirname(os.path.abspath(__file__))


def stream(n):
    """the first n bytes of tests/vm/pmycolo-util.py's pattern"""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "u", os.path.join(HERE, "..", "vm", "pmycolo-util.py"))
    u = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(u)
    return u.stream(0, n)


def main():
    p = Peer(sys.argv[1])
    ready = os.path.join(sys.argv[1], "peer.ready")
    open(ready, "w").close()

    # 1. the guest resolves its gateway (us) at boot
    got = p.wait(lambda f: f[12:14] == b"\x08\x06" and
                 f[38:42] == ip4(PEER_IP), 30)
    ok(got is not None and p.gmac is not None,
       "guest resolves its gateway by ARP (request seen and answered)")
    if p.gmac is None:
        return 1
    p.wait(lambda f: None, 0.5)
    print("# ARP requests from the guest: %d" % sum(
        1 for f in p.log if f[12:14] == b"\x08\x06"), flush=True)

    # 2. ARP request for the guest
    a = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + PEER_MAC + ip4(PEER_IP) + \
        b"\0" * 6 + ip4(GUEST_IP)
    p.send(b"\xff" * 6 + PEER_MAC + b"\x08\x06" + a)
    r = p.wait(lambda f: f if f[12:14] == b"\x08\x06" and
               f[20:22] == b"\x00\x02" and f[28:32] == ip4(GUEST_IP)
               else None, 5)
    ok(r is not None and r[22:28] == p.gmac and r[0:6] == PEER_MAC,
       "ARP request answered with the guest's MAC")

    # 3. ICMP echo, then one with a bad checksum
    def echo(ident, seq, data, bad=False):
        m = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
        c = csum(m) ^ (0x1111 if bad else 0)
        p.send(p.ip(1, m[:2] + struct.pack("!H", c) + m[4:]))

        def match(f):
            i = parse_ip(f, 1)
            if i and i[0] == 0 and i[4:8] == struct.pack("!HH", ident, seq):
                return i
        return p.wait(match, 3 if not bad else 1.5)
    data = bytes(range(56))
    t0 = time.time()
    r = echo(0x4242, 1, data)
    ok(r is not None and csum(r) == 0 and r[8:] == data,
       "ICMP echo answered, payload and checksum right (%.1f ms)" %
       ((time.time() - t0) * 1000))
    ok(echo(0x4242, 2, data, bad=True) is None,
       "ICMP echo with a bad checksum is ignored")
    m = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 3) + data
    m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
    p.send(p.ip(1, m, bad=True))
    ok(p.wait(lambda f: (lambda i: i if i and i[0] == 0 else None)(
        parse_ip(f, 1)), 1.5) is None,
       "ICMP echo in an IPv4 header with a bad checksum is ignored")

    # 4. UDP echo and state, bad checksum ignored
    def udp_req(dport, data, bad=False, wait=3):
        p.send(p.ip(17, udp(40000, dport, data, bad)))

        def match(f):
            u = parse_ip(f, 17)
            if u and struct.unpack("!HH", u[:4]) == (dport, 40000):
                return u
        return p.wait(match, wait)
    r = udp_req(7, b"hello colo\n")
    ok(r is not None and r[8:] == b"hello colo\n" and
       csum(pseudo(17, r) + r) == 0, "UDP echo on port 7")
    ok(udp_req(7, b"bad sum", bad=True, wait=1.5) is None,
       "UDP datagram with a bad checksum is ignored")
    r = udp_req(SVC, b"state\n")
    ok(r is not None and r[8:].startswith(b"state nonce="),
       "UDP state: %r" % (r[8:] if r else None))

    # 5. TCP: RST for a port nobody listens on
    def tcp_wait(sport, timeout=3, cond=lambda s: True):
        return p.wait(lambda f: (lambda s: s if s and cond(s) else None)(
            parse_tcp(f, sport)), timeout)
    p.send(p.ip(6, tcp(41000, 5999, 1000, 0, SYN)))
    r = tcp_wait(41000)
    ok(r is not None and r["flags"] & RST and r["ack"] == 1001,
       "TCP SYN to a closed port answered by RST")

    # 6. handshake with MSS
    sport, iss = 41001, 0x10000000
    mss = struct.pack("!BBH", 2, 4, 1000)
    p.send(p.ip(6, tcp(sport, SVC, iss, 0, SYN, opts=mss)))
    r = tcp_wait(sport)
    ok(r is not None and r["flags"] & (SYN | ACK) == SYN | ACK and
       r["ack"] == iss + 1 and r["opts"][:2] == b"\x02\x04",
       "SYN-ACK with an MSS option (%r)" % (r["opts"].hex() if r else None))
    if not r:
        return 1
    gseq = r["seq"] + 1
    seq = iss + 1
    p.send(p.ip(6, tcp(sport, SVC, seq, gseq, ACK)))

    # 7. out of order: not acknowledged beyond what was received
    p.send(p.ip(6, tcp(sport, SVC, seq + 10, gseq, ACK | PSH, b"XXXX\n")))
    r = tcp_wait(sport)
    ok(r is not None and r["ack"] == seq and not r["data"],
       "out-of-order segment: ACK stays at what was received (%s)" %
       (r["ack"] - iss if r else None))
    # 8. bad checksum: ignored, not acknowledged
    p.send(p.ip(6, tcp(sport, SVC, seq, gseq, ACK | PSH, b"state\n",
                       bad=True)))
    r = tcp_wait(sport, 1.5)
    ok(r is None, "segment with a bad TCP checksum is ignored")
    # 9. in order: acknowledged and answered
    p.send(p.ip(6, tcp(sport, SVC, seq, gseq, ACK | PSH, b"state\n")))
    r = tcp_wait(sport, 3, lambda s: s.get("data"))
    ok(r is not None and r["ack"] == seq + 6 and
       r["data"].startswith(b"state nonce=") and r["seq"] == gseq,
       "in-order request acknowledged and answered: %r" %
       (r["data"] if r else None))
    if not r:
        return 1
    seq += 6
    gseq += len(r["data"])
    # 10. retransmission: the answer not acknowledged comes again
    t0 = time.time()
    p.send(p.ip(6, tcp(sport, SVC, seq, gseq, ACK | PSH, b"clock\n")))
    r1 = tcp_wait(sport, 3, lambda s: s.get("data"))
    r2 = tcp_wait(sport, 3, lambda s: s.get("data"))
    ok(r1 is not None and r2 is not None and r1["seq"] == r2["seq"] and
       r1["data"] == r2["data"],
       "unacknowledged data retransmitted by the timer (after %.0f ms)" %
       ((time.time() - t0) * 1000))
    if not r1:
        return 1
    seq += 6
    gseq = r1["seq"] + len(r1["data"])
    # 11. close: our FIN, the guest's FIN, our ACK
    p.send(p.ip(6, tcp(sport, SVC, seq, gseq, ACK | FIN)))
    r = tcp_wait(sport, 3, lambda s: s["flags"] & FIN)
    ok(r is not None and r["ack"] == seq + 1 and r["seq"] == gseq,
       "FIN answered by the guest's FIN")
    p.send(p.ip(6, tcp(sport, SVC, seq + 1, gseq + 1, ACK)))
    # 12. 'get' closes from the guest side, with MSS 1000 respected
    sport = 41002
    p.send(p.ip(6, tcp(sport, SVC, iss, 0, SYN, opts=mss)))
    r = tcp_wait(sport)
    if not ok(r is not None, "second connection accepted"):
        return 1
    gseq = r["seq"] + 1
    isn1 = r["seq"]
    p.send(p.ip(6, tcp(sport, SVC, iss + 1, gseq, ACK | PSH, b"get 2500\n")))
    got, fin, mx = b"", False, 0
    end = time.time() + 10
    while time.time() < end and not fin:
        s = tcp_wait(sport, 2)
        if s is None:
            break
        if s["seq"] == gseq + len(got) and s["data"]:
            got += s["data"]
            mx = max(mx, len(s["data"]))
        if s["flags"] & FIN and s["seq"] == gseq + len(got):
            fin = True
        p.send(p.ip(6, tcp(sport, SVC, iss + 10, gseq + len(got) + fin,
                           ACK | (FIN if fin else 0))))
    ok(got == stream(2500) and fin and mx <= 1000,
       "get 2500: pattern bytes exact, segments <= MSS 1000 (largest %d), "
       "then FIN" % mx)
    ok(isn1 != iss and r["seq"] != 0, "ISNs from the TSC (%08x)" % isn1)
    ipv6(p)
    return 1 if failed else 0


def ipv6(p):
    """ND, ICMPv6 echo and UDP over IPv6 to the global address."""
    g = socket.inet_pton(socket.AF_INET6, GUEST_IP6)
    me = socket.inet_pton(socket.AF_INET6, PEER_IP6)
    snm = socket.inet_pton(socket.AF_INET6, "ff02::1:ff00:0")[:13] + g[13:]

    def ip6(nh, payload, dst, dmac, hops=64, bad=False):
        ph = me + dst + struct.pack("!IxxxB", len(payload), nh)
        c = csum(ph + payload[:cso[nh]] + b"\0\0" + payload[cso[nh] + 2:])
        if bad:
            c ^= 0x3333
        payload = payload[:cso[nh]] + struct.pack("!H", c) + \
            payload[cso[nh] + 2:]
        h = struct.pack("!IHBB", 0x60000000, len(payload), nh, hops) + me + dst
        p.send(dmac + PEER_MAC + b"\x86\xdd" + h + payload)
    cso = {58: 2, 17: 6, 6: 16}

    def reply6(nh, typ=None, timeout=3):
        def match(f):
            if len(f) < 54 or f[12:14] != b"\x86\xdd" or f[20] != nh:
                return None
            plen, = struct.unpack("!H", f[18:20])
            pl = f[54:54 + plen]
            ph = f[22:38] + f[38:54] + struct.pack("!IxxxB", plen, nh)
            if csum(ph + pl) != 0 or f[38:54] != me:
                return None
            if typ is not None and pl[0] != typ:
                return None
            return (f, pl)
        return p.wait(match, timeout)
    mcast = b"\x33\x33" + snm[12:]
    ns = struct.pack("!BBHI", 135, 0, 0, 0) + g + b"\x01\x01" + PEER_MAC
    ip6(58, ns, snm, mcast, hops=255)
    r = reply6(58, 136)
    ok(r is not None and r[1][8:24] == g and r[1][24:26] == b"\x02\x01" and
       r[1][26:32] == p.gmac and r[1][4] & 0x40,
       "IPv6 neighbour solicitation answered (solicited NA, target MAC)")
    data = b"colo6" * 10
    ip6(58, struct.pack("!BBHHH", 128, 0, 0, 7, 1) + data, g, p.gmac)
    r = reply6(58, 129)
    ok(r is not None and r[1][8:] == data and r[1][4:8] == b"\0\x07\0\x01",
       "ICMPv6 echo answered")
    ip6(58, struct.pack("!BBHHH", 128, 0, 0, 7, 2) + data, g, p.gmac,
        bad=True)
    ok(reply6(58, 129, 1.5) is None, "ICMPv6 echo with a bad checksum ignored")
    u = struct.pack("!HHHH", 40006, 5000, 8 + 6, 0) + b"state\n"
    ip6(17, u, g, p.gmac)
    r = reply6(17)
    ok(r is not None and r[1][8:].startswith(b"state nonce="),
       "UDP over IPv6: %r" % (r[1][8:] if r else None))

    # TCP over IPv6: handshake (MSS 1440), a download, FIN both ways
    def tcp6(sport, seq, ack, flags, data=b"", opts=b""):
        hl = 20 + len(opts)
        t = struct.pack("!HHIIBBHHH", sport, 5000, seq, ack, hl // 4 << 4,
                        flags, 65535, 0, 0) + opts + data
        ip6(6, t, g, p.gmac)

    def seg6(sport, timeout=3):
        def match(f):
            if len(f) < 74 or f[12:14] != b"\x86\xdd" or f[20] != 6:
                return None
            plen, = struct.unpack("!H", f[18:20])
            t = f[54:54 + plen]
            ph = f[22:54] + struct.pack("!IxxxB", plen, 6)
            s_, d, sq, ak, off, fl = struct.unpack("!HHIIBB", t[:14])
            if d != sport or csum(ph + t) != 0:
                return None
            return {"seq": sq, "ack": ak, "flags": fl,
                    "opts": t[20:(off >> 4) * 4], "data": t[(off >> 4) * 4:]}
        return p.wait(match, timeout)
    sport, iss = 43000, 0x30000000
    tcp6(sport, iss, 0, SYN, opts=struct.pack("!BBH", 2, 4, 1440))
    r = seg6(sport)
    ok(r is not None and r["flags"] & (SYN | ACK) == SYN | ACK and
       r["ack"] == iss + 1 and r["opts"][:4] == b"\x02\x04\x05\xa0",
       "TCP over IPv6: SYN-ACK with MSS 1440")
    if not r:
        return
    gseq = r["seq"] + 1
    tcp6(sport, iss + 1, gseq, ACK | PSH, b"get 5000\n")
    got, fin = b"", False
    end = time.time() + 10
    while time.time() < end and not fin:
        s = seg6(sport, 2)
        if s is None:
            break
        if s["seq"] == gseq + len(got) and s["data"]:
            got += s["data"]
        if s["flags"] & FIN and s["seq"] == gseq + len(got):
            fin = True
        tcp6(sport, iss + 10, gseq + len(got) + fin, ACK | (FIN if fin else 0))
    ok(got == stream(5000) and fin,
       "TCP over IPv6: get 5000 byte-exact, then FIN (%d bytes)" % len(got))


if __name__ == "__main__":
    sys.exit(main())
