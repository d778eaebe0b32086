#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""The client of tests/host/fullstack.sh, against the test guest's services
(tests/guest/svc.c, port 5000):

  clockget ADDR PORT N   TCP: "clock" (the two guests answer differently),
                         then "get N" on the same connection: the N bytes of
                         the pattern must follow exactly, then FIN
  udp ADDR PORT TEXT     one datagram TEXT, print the answer

Prints one line "OK ..." or "ERR ..." and exits 0 / 1.
"""
import importlib.util
import os
import socket
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "pmycolo_util", os.path.join(os.path.dirname(__file__), "..", "..", "vm", "pmycolo-util.py"))
util = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(util)


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            raise OSError("EOF before the end of the line (%r)" % buf)
        buf += d
    return buf.decode(errors="replace").strip()


def clockget(addr, port, n):
    t0 = time.time()
    s = socket.create_connection((addr, port), timeout=60)
    s.sendall(b"clock\n")
    line = read_line(s)
    t1 = time.time()
    if not line.startswith("clock "):
        print("ERR clockget: answer %r" % line)
        return 1
    s.sendall(b"get %d\n" % n)
    want = util.stream(0, n)
    got = bytearray()
    while len(got) < n:
        d = s.recv(65536)
        if not d:
            break
        got += d
    extra = s.recv(1) if len(got) == n else b""
    s.close()
    if bytes(got) != want or extra:
        bad = next((i for i in range(min(len(got), n)) if got[i] != want[i]), min(len(got), n))
        print("ERR clockget: %d of %d bytes, first difference at %d, extra %r" %
              (len(got), n, bad, extra))
        return 1
    print("OK clockget %r after %.2fs, then %d bytes exact in %.2fs" %
          (line, t1 - t0, n, time.time() - t1))
    return 0


def udp(addr, port, text):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(60)
    t0 = time.time()
    s.sendto(text.encode(), (addr, port))
    try:
        d = s.recv(2048)
    except socket.timeout:
        print("ERR udp: no answer to %r in 60 s" % text)
        return 1
    print("OK udp %.2fs %s" % (time.time() - t0, d.decode(errors="replace").strip()))
    return 0


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "clockget":
        return clockget(a[1], int(a[2]), int(a[3]))
    if len(a) == 4 and a[0] == "udp":
        return udp(a[1], int(a[2]), a[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
