#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Long-lived TCP echo session for the COLO failover/isolation VM tests.

  serve ADDR PORT          echo server: every connection gets back exactly the
                           bytes it sends (no header line, so the PVM's and the
                           SVM's answers are byte-identical whatever the timing)
  session ADDR PORT        connect, print "ready LOCALPORT", then run commands
                           read line by line from stdin, one answer line each:
      x N                  exchange N messages (sizes 1..2999, content from a
                           counter kept across commands): send one, read its
                           echo back exactly, next  -> "OK x N" / "ERR x ..."
      close                half-close, expect a clean EOF -> "OK close"
                           (a reset or a timeout is an error), then exit
The connection stays open between commands, so a test can move the network
under it. Exits 0 if every command succeeded.
"""
import argparse
import hashlib
import socket
import sys
import threading


def message(i):
    size = 1 + (i * 797) % 2999
    out = bytearray()
    seed = b"colo-failover-%d" % i
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:size])


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def echo(conn):
    try:
        while True:
            d = conn.recv(65536)
            if not d:
                break
            conn.sendall(d)
    except OSError:
        pass
    finally:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()


def cmd_serve(a):
    s = socket.socket(family(a.addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.addr, a.port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise ConnectionError("EOF after %d of %d bytes" % (len(buf), n))
        buf += d
    return bytes(buf)


def cmd_session(a):
    s = socket.create_connection((a.addr, a.port), timeout=a.timeout)
    s.settimeout(a.timeout)
    print("ready %d" % s.getsockname()[1], flush=True)
    counter = 0
    rc = 0
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "x":
                n = int(words[1])
                total = 0
                for _ in range(n):
                    m = message(counter)
                    s.sendall(m)
                    got = recv_exact(s, len(m))
                    if got != m:
                        raise ValueError("message %d differs" % counter)
                    counter += 1
                    total += len(m)
                print("OK x %d (%d bytes, %d messages so far)" % (n, total, counter),
                      flush=True)
            elif words[0] == "close":
                s.shutdown(socket.SHUT_WR)
                d = s.recv(1)
                if d:
                    raise ValueError("unexpected data after close")
                s.close()
                print("OK close", flush=True)
                return rc
            else:
                print("ERR unknown command %s" % words[0], flush=True)
                rc = 1
        except (OSError, ValueError) as e:
            print("ERR %s: %s" % (words[0], e), flush=True)
            return 1
    return rc


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("serve", "session"):
        q = sub.add_parser(name)
        q.add_argument("addr")
        q.add_argument("port", type=int)
        q.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    try:
        return {"serve": cmd_serve, "session": cmd_session}[a.cmd](a) or 0
    except OSError as e:
        print("ERR %s: %s" % (a.cmd, e), flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
