#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""latency.py serve PORT            echo server (every connection, IPv4+IPv6)
   latency.py ADDR PORT N [SPORT AT_US]
                                    N round trips of 64 bytes over one TCP
                                    connection; prints median and p99 in us.
                                    SPORT: from that source port; AT_US: connect
                                    at that CLOCK_REALTIME instant (both guests
                                    run it for a guest-initiated figure)"""
import socket
import sys
import threading
import time


def serve(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def echo(c):
    with c:
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)


def client(addr, port, n, sport=0, at_us=0):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
    s.settimeout(30)
    if at_us:
        time.sleep(max(0, at_us / 1e6 - time.time()))
    s.connect((addr, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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


if sys.argv[1] == "serve":
    serve(int(sys.argv[2]))
else:
    client(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
           *(int(a) for a in sys.argv[4:6]))
