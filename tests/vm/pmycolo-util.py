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
  synack IFACE                        print the seq of the first SYN-ACK sent
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


def greeting(variant):
    return ("%s says hello, the answer is 42\n" % ("guest" if variant == "same" else "GUEST")).encode()


def handle_tcp(conn, variant):
    try:
        f = conn.makefile("rb", buffering=0)
        line = f.readline().decode().strip()
        if line.startswith("get "):
            n = int(line.split()[1])
            off = 0
            while off < n:
                k = min(65536, n - off)
                conn.sendall(stream(off, k))
                off += k
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
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()


def serve_tcp(a):
    s = socket.socket(family(a.addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.addr, a.port))
    s.listen(512)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle_tcp, args=(c, a.variant), daemon=True).start()


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
        if d[th + 13] & 0x12 == 0x12:
            print("seq %d" % struct.unpack_from(">I", d, th + 4)[0], flush=True)
            return 0


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
    for q in sub.choices.values():
        q.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    try:
        return {
            "serve-tcp": serve_tcp, "serve-udp": serve_udp, "get": cmd_get,
            "hello": cmd_hello, "echo": cmd_echo, "many": cmd_many, "udp": cmd_udp,
            "synack": cmd_synack, "udpburst": cmd_udpburst,
        }[a.cmd](a) or 0
    except (OSError, ValueError) as e:
        print("ERR %s: %s" % (a.cmd, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
