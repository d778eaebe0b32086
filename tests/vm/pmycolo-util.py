#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Servers and clients for the PMYCOLO VM tests (tests/vm/pmycolo-*.sh).

  serve-tcp ADDR PORT [--variant V]   per connection: read one line COMMAND,
        "get N"  -> N bytes of the deterministic stream, then close
        "echo"   -> echo everything until EOF
        "hello"  -> a short greeting (V changes its text: divergence)
  serve-udp ADDR PORT [--variant V]   echo datagrams (V changes them)
  get ADDR PORT N                     fetch N bytes, check them exactly
  hello ADDR PORT OUT [--timeout S]   send "hello", write what comes back to OUT
  echo ADDR PORT N                    send N bytes of the stream, check the echo
  many ADDR PORT CONNS N              CONNS parallel `get N`, all exact
  udp ADDR PORT COUNT [--variant V]   COUNT datagrams, each answer must equal
                                      what a server of variant V sends
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


def connect(addr, port, timeout):
    s = socket.create_connection((addr, port), timeout=timeout)
    return s


def fetch(addr, port, n, timeout):
    s = connect(addr, port, timeout)
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
    t = time.time()
    err = fetch(a.addr, a.port, a.n, a.timeout)
    if err:
        print("ERR get: %s" % err)
        return 1
    print("OK get %d bytes in %.1fs" % (a.n, time.time() - t))
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
    s = connect(a.addr, a.port, a.timeout)
    s.sendall(b"echo\n")
    data = stream(12345, a.n)
    res = {}

    def reader():
        buf = bytearray()
        while True:
            d = s.recv(262144)
            if not d:
                break
            buf += d
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
        print("ERR echo: got %s bytes, expected %d" % (None if buf is None else len(buf), len(data)))
        return 1
    print("OK echo %d bytes" % len(data))
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


def cmd_udp(a):
    s = socket.socket(family(a.addr), socket.SOCK_DGRAM)
    s.settimeout(a.timeout)
    s.connect((a.addr, a.port))
    for i in range(a.count):
        msg = stream(i * 1000, 100 + i * 37 % 1200)
        s.send(msg)
        try:
            d = s.recv(65535)
        except socket.timeout:
            print("ERR udp: no answer to datagram %d" % i)
            return 1
        if d != udp_answer(msg, a.variant):
            print("ERR udp: datagram %d: wrong answer" % i)
            return 1
    print("OK udp %d datagrams" % a.count)
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
    a = p.parse_args()
    try:
        return {
            "serve-tcp": serve_tcp, "serve-udp": serve_udp, "get": cmd_get,
            "hello": cmd_hello, "echo": cmd_echo, "many": cmd_many, "udp": cmd_udp,
            "synack": cmd_synack, "udpburst": cmd_udpburst,
            "serve-craft": serve_craft, "rstclient": cmd_rstclient,
            "slow": cmd_slow, "tfo-serve": tfo_serve,
            "tfo-connect": cmd_tfo_connect, "capture": cmd_capture,
        }[a.cmd](a) or 0
    except (OSError, ValueError) as e:
        print("ERR %s: %s" % (a.cmd, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
