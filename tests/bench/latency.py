#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""latency.py ADDR PORT N: N request/response round trips of 64 bytes over one
TCP connection to a pmycolo-util.py `echo` server; prints median and p99 in us."""
import socket
import sys
import time

addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.create_connection((addr, port), timeout=30) if fam == socket.AF_INET else \
    socket.create_connection((addr, port, 0, 0), timeout=30)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(b"echo\n")
msg = bytes(range(64))
rtt = []
for i in range(n):
    t = time.perf_counter()
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        d = s.recv(64 - len(got))
        if not d:
            sys.exit("ERR connection closed after %d round trips" % i)
        got += d
    if got != msg:
        sys.exit("ERR echo differs")
    rtt.append(time.perf_counter() - t)
s.close()
rtt.sort()
print("OK median_us %d p99_us %d" % (rtt[len(rtt) // 2] * 1e6, rtt[int(len(rtt) * 0.99)] * 1e6))
