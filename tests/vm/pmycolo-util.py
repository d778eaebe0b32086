#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Servers and clients for the PMYCOLO VM tests (tests/vm/pmycolo-*.sh).

  serve-tcp ADDR PORT [--variant V]   per connection: read one line COMMAND,
        "get N"  -> N bytes of the deterministic stream, then close
        "echo"   -> echo everything until EOF
        "put N"  -> read N bytes, check them against the stream, answer
                    "ok N" (or "bad COUNT"), then close
                    (V silent: reads nothing, answers nothing)
        "hello"  -> a short greeting (V changes its text: divergence)
  serve-udp ADDR PORT [--variant V]   echo datagrams (V changes them)
  get ADDR PORT N                     fetch N bytes, check them exactly
  hello ADDR PORT OUT [--timeout S]   send "hello", write what comes back to OUT
  echo ADDR PORT N                    send N bytes of the stream, check the echo
  put ADDR PORT N                     upload N bytes of the stream, expect "ok N"
  many ADDR PORT CONNS N              CONNS parallel `get N`, all exact
  udp ADDR PORT COUNT [--variant V]   COUNT datagrams, each answer must equal
        [--fresh]                     what a server of variant V sends (--fresh:
                                      a new socket for each)
  icmp ADDR COUNT [--ident ID]        COUNT echo requests, fixed id and payload
  (get, echo, udp: --sport P binds source port P (P + i for the i-th socket),
   as identical guests do; get --repeat R: R downloads, the time of each;
   every command: --at T starts at time T, seconds since the epoch; --go F
   prints "ready" and starts when file F exists)
  synack IFACE [--syn]                print the seq of the first SYN-ACK
                                      (SYN) sent
  serve-craft ADDR PORT --variant V   per connection: read one line COMMAND,
        "rst"      -> the guest resets the connection with a RST crafted from
                      its socket's numbers (TCP_REPAIR): V same: RST|ACK at
                      snd_nxt; seq: seq + 1; noack: RST without ACK
        "retrans"  -> the greeting, then V bad: a "retransmit" of its range
                      with other bytes (raw); V same: nothing more
        "oob"      -> the greeting, V oob: its last byte sent MSG_OOB (URG)
        "finmore"  -> the greeting and FIN; V more: more bytes before the FIN
        "slow N"   -> N chunks of 1000 bytes of the stream, one per 150 ms;
                      V other: chunk 1 differs
  rstclient ADDR PORT OUT             send "rst", write "reset" to OUT when
                                      the connection is reset
  slow ADDR PORT N                    "slow N" and check the bytes exactly
  tfo-serve ADDR PORT LOG             TCP Fast Open server: per connection
                                      append "data HEX" to LOG, answer "ok"
  tfo-connect ADDR PORT DATA          connect with DATA in the SYN (TFO)
  capture IFACE MARKER OUT            write "seen" to OUT when a received
                                      TCP segment's payload contains MARKER
Prints one line "OK ..." or "ERR ..." and exits 0 / 1.
"""
import argparse
import hashlib
import os
import socket
import sys
import threading
import time

PERIOD = 65521  # prime: the pattern never lines up with segment sizes
_PATTERN = None


def pattern():
    global _PATTERN
    if _PATTERN is None:
        out = bytearray()
        seed = b"colo"
        while len(out) < PERIOD:
            seed = hashlib.sha256(seed).digest()
            out += seed
        _PATTERN = bytes(out[:PERIOD]) * 2
    return _PATTERN


def stream(off, n):
    """n bytes of the deterministic stream starting at offset off."""
    p = pattern()
    out = bytearray()
    while n:
        o = off % PERIOD
        k = min(n, PERIOD)
        out += p[o:o + k]
        off += k
        n -= k
    return bytes(out)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def send_stream(conn, n, gen=stream):
    """Send gen(off, k) for the n bytes from offset 0 (default: the stream)."""
    off = 0
    while off < n:
        k = min(65536, n - off)
        conn.sendall(gen(off, k))
        off += k


def close_conn(conn):
    """Shut both directions down (ignoring a peer gone) and close."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def serve_forever(addr, port, handler, *args, backlog=64):
    """Listen on addr:port; each connection to handler(conn, *args) in a thread."""
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(backlog)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handler, args=(c,) + args, daemon=True).start()


def greeting(variant):
    return ("%s says hello, the answer is 42\n" % ("guest" if variant == "same" else "GUEST")).encode()


def handle_tcp(conn, variant):
    try:
        f = conn.makefile("rb", buffering=0)
        line = f.readline().decode().strip()
        if line.startswith("get "):
            send_stream(conn, int(line.split()[1]))
        elif line.startswith("put "):
            # an upload: read n bytes of the stream, answer one line (the
            # same in identical guests), then close
            n, off, good = int(line.split()[1]), 0, True
            if variant == "silent":
                # reads nothing: its window closes, its ACK stops
                time.sleep(60)
                return
            while off < n:
                d = conn.recv(min(262144, n - off))
                if not d:
                    break
                good = good and d == stream(off, len(d))
                off += len(d)
            conn.sendall(b"ok %d\n" % off if good and off == n else b"bad %d\n" % off)
        elif line == "echo":
            while True:
                d = conn.recv(65536)
                if not d:
                    break
                conn.sendall(d)
        elif line == "hello":
            if variant == "silent":
                time.sleep(60)
                return
            conn.sendall(greeting(variant))
            time.sleep(0.2)
    except OSError:
        pass
    finally:
        close_conn(conn)


def serve_tcp(a):
    serve_forever(a.addr, a.port, handle_tcp, a.variant, backlog=512)


def udp_answer(data, variant):
    return data if variant == "same" else data[::-1]


def serve_udp(a):
    s = socket.socket(family(a.addr), socket.SOCK_DGRAM)
    s.bind((a.addr, a.port))
    while True:
        d, peer = s.recvfrom(65535)
        if a.variant != "silent":
            s.sendto(udp_answer(d, a.variant), peer)


def connect(addr, port, timeout, sport=0):
    if sport:
        # identical guests: both bind the same source port
        s = socket.socket(family(addr), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(timeout)
        s.bind(("::" if ":" in addr else "0.0.0.0", sport))
        s.connect((addr, port))
        return s
    s = socket.create_connection((addr, port), timeout=timeout)
    return s


def fetch(addr, port, n, timeout, sport=0):
    s = connect(addr, port, timeout, sport)
    s.sendall(b"get %d\n" % n)
    h = hashlib.sha256()
    got = 0
    bad = None
    while True:
        d = s.recv(262144)
        if not d:
            break
        if bad is None and d != stream(got, len(d)):
            exp = stream(got, len(d))
            bad = got + next(i for i in range(len(d)) if d[i] != exp[i])
        h.update(d)
        got += len(d)
    s.close()
    if got != n:
        return "short read: %d of %d bytes" % (got, n)
    if bad is not None:
        return "byte %d differs" % bad
    return None


def cmd_get(a):
    times = []
    for i in range(a.repeat):
        t = time.time()
        try:
            err = fetch(a.addr, a.port, a.n, a.timeout, a.sport + i if a.sport else 0)
        except OSError as e:
            err = str(e)
        times.append(time.time() - t)
        if err:
            print("ERR get: %s (repetition %d, after %.2fs; before: %s)" %
                  (err, i, times[-1], " ".join("%.2f" % x for x in times[:-1])))
            return 1
    if a.repeat == 1:
        print("OK get %d bytes in %.1fs" % (a.n, times[0]))
    else:
        print("OK get %d x %d bytes, max %.2fs: %s" % (a.repeat, a.n, max(times),
              " ".join("%.2f" % x for x in times)))
    return 0


def cmd_put(a):
    """Upload n bytes of the stream; the guest checks them and says so."""
    t = time.time()
    s = connect(a.addr, a.port, a.timeout, a.sport)
    s.sendall(b"put %d\n" % a.n)
    send_stream(s, a.n)
    s.shutdown(socket.SHUT_WR)
    ans = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        ans += d
    s.close()
    if ans != b"ok %d\n" % a.n:
        print("ERR put: the guest answered %r" % ans)
        return 1
    print("OK put %d bytes in %.1fs" % (a.n, time.time() - t))
    return 0


def cmd_hello(a):
    s = connect(a.addr, a.port, a.timeout)
    s.sendall(b"hello\n")
    with open(a.out, "wb", buffering=0) as out:
        while True:
            try:
                d = s.recv(4096)
            except socket.timeout:
                print("ERR hello: timeout")
                return 1
            if not d:
                break
            out.write(d)
    print("OK hello")
    return 0


def cmd_echo(a):
    t0 = time.time()
    s = connect(a.addr, a.port, a.timeout, a.sport)
    s.sendall(b"echo\n")
    data = stream(12345, a.n)
    res = {}

    def reader():
        buf = bytearray()
        try:
            while True:
                d = s.recv(262144)
                if not d:
                    break
                buf += d
        except OSError as e:
            res["err"] = str(e)
        res["buf"] = bytes(buf)

    th = threading.Thread(target=reader)
    th.start()
    off = 0
    while off < len(data):
        k = min(4096 + off % 3000, len(data) - off)
        s.sendall(data[off:off + k])
        off += k
    s.shutdown(socket.SHUT_WR)
    th.join(a.timeout)
    buf = res.get("buf")
    if buf != data:
        print("ERR echo: got %s bytes, expected %d%s" % (None if buf is None else len(buf), len(data),
              " (%s)" % res["err"] if "err" in res else ""))
        return 1
    print("OK echo %d bytes in %.2fs" % (len(data), time.time() - t0))
    return 0


def cmd_many(a):
    errs = []
    lock = threading.Lock()

    def one(i):
        try:
            e = fetch(a.addr, a.port, a.n, a.timeout)
        except OSError as ex:
            e = str(ex)
        if e:
            with lock:
                errs.append("conn %d: %s" % (i, e))

    ths = [threading.Thread(target=one, args=(i,)) for i in range(a.conns)]
    t = time.time()
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    if errs:
        print("ERR many: %d of %d failed: %s" % (len(errs), a.conns, "; ".join(errs[:5])))
        return 1
    print("OK many %d x %d bytes in %.1fs" % (a.conns, a.n, time.time() - t))
    return 0


def udp_socket(a, i):
    s = socket.socket(family(a.addr), socket.SOCK_DGRAM)
    s.settimeout(a.timeout)
    if a.sport:
        # identical guests: both bind the same source port
        s.bind(("::" if ":" in a.addr else "0.0.0.0", a.sport + (i if a.fresh else 0)))
    s.connect((a.addr, a.port))
    return s


def cmd_udp(a):
    t0 = time.time()
    rtts = []
    s = None
    for i in range(a.count):
        if s is None or a.fresh:
            if s is not None:
                s.close()
            s = udp_socket(a, i)
        msg = stream(i * 1000, 100 + i * 37 % 1200)
        t = time.time()
        s.send(msg)
        try:
            d = s.recv(65535)
        except socket.timeout:
            print("ERR udp: no answer to datagram %d (rtts before: %s)" %
                  (i, " ".join("%.2f" % x for x in rtts)))
            return 1
        rtts.append(time.time() - t)
        if d != udp_answer(msg, a.variant):
            print("ERR udp: datagram %d: wrong answer" % i)
            return 1
    print("OK udp %d datagrams in %.2fs, rtt max %.2fs: %s" %
          (a.count, time.time() - t0, max(rtts), " ".join("%.2f" % x for x in rtts)))
    return 0


def cmd_icmp(a):
    """COUNT echo requests with a fixed identifier and payload (ping puts
    its clock in the payload: the PVM's and the SVM's would differ)."""
    import struct
    v6 = ":" in a.addr
    if v6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(a.timeout)
    rtts = []
    t0 = time.time()
    for seq in range(1, a.count + 1):
        data = stream(seq * 100, 56)
        hdr = struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, a.ident, seq)
        if not v6:
            c = csum16(hdr + data)
            hdr = hdr[:2] + struct.pack("!H", c) + hdr[4:]
        t = time.time()
        s.sendto(hdr + data, (a.addr, 0))
        while True:
            try:
                d, _ = s.recvfrom(65535)
            except socket.timeout:
                print("ERR icmp: no answer to echo %d (rtts before: %s)" %
                      (seq, " ".join("%.2f" % x for x in rtts)))
                return 1
            if not v6:
                d = d[(d[0] & 15) * 4:]
            if len(d) < 8 or d[0] != (129 if v6 else 0):
                continue
            ident, rseq = struct.unpack_from("!HH", d, 4)
            if ident != a.ident or rseq != seq:
                continue
            if d[8:] != data:
                print("ERR icmp: echo %d: wrong payload" % seq)
                return 1
            break
        rtts.append(time.time() - t)
        if seq < a.count:
            time.sleep(a.interval)
    print("OK icmp %d echoes in %.2fs, rtt max %.2fs: %s" %
          (a.count, time.time() - t0, max(rtts), " ".join("%.2f" % x for x in rtts)))
    return 0


def cmd_udpburst(a):
    s = socket.socket(family(a.addr), socket.SOCK_DGRAM)
    s.settimeout(a.timeout)
    s.connect((a.addr, a.port))
    msgs = [stream(i * 777, 64 + i) for i in range(a.count)]
    for m in msgs:
        s.send(m)
    want = set(msgs)
    while want:
        try:
            d = s.recv(65535)
        except socket.timeout:
            print("ERR udpburst: %d of %d answers missing" % (len(want), a.count))
            return 1
        want.discard(d)
    print("OK udpburst %d answers" % a.count)
    return 0


def cmd_synack(a):
    import struct
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((a.iface, 0))
    print("ready", flush=True)
    while True:
        d, addr = s.recvfrom(65535)
        if addr[2] != socket.PACKET_OUTGOING:
            continue
        et = struct.unpack_from(">H", d, 12)[0]
        if et == 0x0800 and d[23] == 6:
            th = 14 + (d[14] & 15) * 4
        elif et == 0x86dd and d[20] == 6:
            th = 54
        else:
            continue
        if d[th + 13] & 0x12 == (0x02 if a.syn else 0x12):
            print("seq %d" % struct.unpack_from(">I", d, th + 4)[0], flush=True)
            return 0


TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ = 19, 20, 21
TCP_RECV_QUEUE, TCP_SEND_QUEUE = 1, 2
TCP_REPAIR_OFF_NO_WP = -1


def tcp_numbers(conn):
    """(snd_nxt, rcv_nxt) of an established socket, read in repair mode;
    the socket is left in repair mode (it sends nothing on its own)."""
    import struct
    conn.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    conn.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
    snd = struct.unpack("I", conn.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
    conn.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)
    rcv = struct.unpack("I", conn.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
    return snd, rcv


def csum16(data):
    import struct
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def raw_send(conn, seq, ack, flags, payload=b""):
    """Send one IPv4 TCP segment on conn's 4-tuple from a raw socket."""
    import struct
    src, sport = conn.getsockname()[:2]
    dst, dport = conn.getpeername()[:2]
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff,
                      ack & 0xffffffff, 5 << 4, flags, 502, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(hdr) + len(payload))
    c = csum16(pseudo + hdr + payload)
    hdr = hdr[:16] + struct.pack("!H", c) + hdr[18:]
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    r.sendto(hdr + payload, (dst, 0))
    r.close()


def handle_craft(conn, variant):
    FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16
    try:
        f = conn.makefile("rb", buffering=0)
        line = f.readline().decode().strip()
        if line == "rst":
            time.sleep(0.5)
            snd, rcv = tcp_numbers(conn)
            if variant == "seq":
                raw_send(conn, snd + 1, rcv, RST | ACK)
            elif variant == "noack":
                raw_send(conn, snd, 0, RST)
            else:
                raw_send(conn, snd, rcv, RST | ACK)
            time.sleep(60)
            return
        if line == "retrans":
            g = greeting("same")
            conn.sendall(g)
            time.sleep(1.5)
            if variant == "bad":
                snd, rcv = tcp_numbers(conn)
                conn.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP)
                raw_send(conn, snd - len(g), rcv, PSH | ACK, greeting("other"))
            time.sleep(60)
            return
        if line == "oob":
            g = greeting("same")
            if variant == "oob":
                conn.sendall(g[:-1])
                time.sleep(0.1)
                conn.send(g[-1:], socket.MSG_OOB)
            else:
                conn.sendall(g)
            time.sleep(0.5)
        elif line == "finmore":
            g = greeting("same")
            conn.sendall(g + (b"and more\n" if variant == "more" else b""))
            time.sleep(0.3)    # the greeting and the FIN in two segments
        elif line.startswith("slow "):
            for i in range(int(line.split()[1])):
                d = stream(i * 1000, 1000)
                if variant == "other" and i == 1:
                    d = d[::-1]
                conn.sendall(d)
                time.sleep(0.15)
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def serve_craft(a):
    serve_forever(a.addr, a.port, handle_craft, a.variant)


def cmd_rstclient(a):
    s = connect(a.addr, a.port, a.timeout)
    s.sendall(b"rst\n")
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        with open(a.out, "w") as out:
            out.write("reset\n")
        print("OK rstclient: reset")
        return 0
    except socket.timeout:
        print("ERR rstclient: timeout")
        return 1
    print("ERR rstclient: closed without a reset")
    return 1


def cmd_slow(a):
    s = connect(a.addr, a.port, a.timeout)
    s.sendall(b"slow %d\n" % a.n)
    buf = bytearray()
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    want = b"".join(stream(i * 1000, 1000) for i in range(a.n))
    if bytes(buf) != want:
        bad = next((i for i in range(min(len(buf), len(want))) if buf[i] != want[i]),
                   min(len(buf), len(want)))
        print("ERR slow: %d of %d bytes, first difference at %d" % (len(buf), len(want), bad))
        return 1
    print("OK slow %d bytes" % len(buf))
    return 0


TCP_FASTOPEN = 23
MSG_FASTOPEN = 0x20000000


def tfo_serve(a):
    s = socket.socket(family(a.addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, 16)
    s.bind((a.addr, a.port))
    s.listen(16)
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        c.settimeout(30)
        try:
            d = c.recv(4096)
            with open(a.log, "a") as out:
                out.write("data %s\n" % d.hex())
            c.sendall(b"ok\n")
            while c.recv(4096):
                pass
        except OSError:
            pass
        c.close()


def cmd_tfo_connect(a):
    s = socket.socket(family(a.addr), socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    s.sendto(a.data.encode(), MSG_FASTOPEN, (a.addr, a.port))
    d = s.recv(4096)
    s.close()
    print("OK tfo-connect: %r" % d)
    return 0


def cmd_capture(a):
    import struct
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((a.iface, 0))
    marker = a.marker.encode()
    print("ready", flush=True)
    while True:
        d, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        if struct.unpack_from(">H", d, 12)[0] != 0x0800 or d[23] != 6:
            continue
        th = 14 + (d[14] & 15) * 4
        if marker in d[th + (d[th + 12] >> 4) * 4:]:
            with open(a.out, "a") as out:
                out.write("seen\n")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("serve-tcp", "serve-udp"):
        q = sub.add_parser(name)
        q.add_argument("addr")
        q.add_argument("port", type=int)
        q.add_argument("--variant", default="same")
    q = sub.add_parser("get")
    q.add_argument("addr"); q.add_argument("port", type=int); q.add_argument("n", type=int)
    q.add_argument("--repeat", type=int, default=1)
    q = sub.add_parser("put")
    q.add_argument("addr"); q.add_argument("port", type=int); q.add_argument("n", type=int)
    q = sub.add_parser("hello")
    q.add_argument("addr"); q.add_argument("port", type=int); q.add_argument("out")
    q = sub.add_parser("echo")
    q.add_argument("addr"); q.add_argument("port", type=int); q.add_argument("n", type=int)
    q = sub.add_parser("many")
    q.add_argument("addr"); q.add_argument("port", type=int)
    q.add_argument("conns", type=int); q.add_argument("n", type=int)
    q = sub.add_parser("udp")
    q.add_argument("addr"); q.add_argument("port", type=int); q.add_argument("count", type=int)
    q.add_argument("--variant", default="same")
    q.add_argument("--fresh", action="store_true", help="a new socket per datagram")
    q = sub.add_parser("icmp")
    q.add_argument("addr"); q.add_argument("count", type=int)
    q.add_argument("--ident", type=int, default=0x4242)
    q.add_argument("--interval", type=float, default=0.2)
    q = sub.add_parser("udpburst")
    q.add_argument("addr"); q.add_argument("port", type=int); q.add_argument("count", type=int)
    q = sub.add_parser("synack")
    q.add_argument("iface")
    q.add_argument("--syn", action="store_true", help="a SYN, not a SYN-ACK")
    q = sub.add_parser("serve-craft")
    q.add_argument("addr"); q.add_argument("port", type=int)
    q.add_argument("--variant", default="same")
    q = sub.add_parser("rstclient")
    q.add_argument("addr"); q.add_argument("port", type=int); q.add_argument("out")
    q = sub.add_parser("slow")
    q.add_argument("addr"); q.add_argument("port", type=int); q.add_argument("n", type=int)
    q = sub.add_parser("tfo-serve")
    q.add_argument("addr"); q.add_argument("port", type=int); q.add_argument("log")
    q = sub.add_parser("tfo-connect")
    q.add_argument("addr"); q.add_argument("port", type=int); q.add_argument("data")
    q = sub.add_parser("capture")
    q.add_argument("iface"); q.add_argument("marker"); q.add_argument("out")
    for q in sub.choices.values():
        q.add_argument("--timeout", type=float, default=60)
        q.add_argument("--sport", type=int, default=0,
                       help="bind this source port (identical guests)")
        q.add_argument("--at", type=float, default=0,
                       help="start at this time (seconds since the epoch)")
        q.add_argument("--go", default="",
                       help='print "ready", start when this file exists')
    a = p.parse_args()
    if a.go:
        # identical guests: start when both are ready (python starts slowly
        # under TCG), within a few ms of each other
        print("ready", flush=True)
        while not os.path.exists(a.go):
            time.sleep(0.002)
    if a.at:
        # identical guests start their first send at the same instant
        time.sleep(max(0.0, a.at - time.time()))
    try:
        return {
            "serve-tcp": serve_tcp, "serve-udp": serve_udp, "get": cmd_get, "put": cmd_put,
            "hello": cmd_hello, "echo": cmd_echo, "many": cmd_many, "udp": cmd_udp,
            "synack": cmd_synack, "icmp": cmd_icmp, "udpburst": cmd_udpburst,
            "serve-craft": serve_craft, "rstclient": cmd_rstclient,
            "slow": cmd_slow, "tfo-serve": tfo_serve,
            "tfo-connect": cmd_tfo_connect, "capture": cmd_capture,
        }[a.cmd](a) or 0
    except (OSError, ValueError) as e:
        print("ERR %s: %s" % (a.cmd, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
