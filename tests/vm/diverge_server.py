#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""A TCP server for the SVM whose `get N` answer diverges for good.

  diverge_server.py ADDR PORT --at OFFSET
        per connection: read one line; "get N" -> N bytes of the deterministic
        stream of pmycolo-util.py, except that from byte OFFSET on every byte
        is inverted (the SVM's state went another way); then close.
Used by tests/vm/pmycolo-failclosed.sh (the PVM runs pmycolo-util.py
serve-tcp, so both agree on the first OFFSET bytes).
"""
import argparse
import importlib.util
import os
import socket
import threading

_spec = importlib.util.spec_from_file_location(
    "pmycolo_util", os.path.join(os.path.dirname(os.path.abspath(__file__)), "pmycolo-util.py"))
util = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(util)

_INV = bytes(255 - i for i in range(256))


def chunk(off, n, at):
    d = util.stream(off, n)
    if off + n <= at:
        return d
    k = max(0, at - off)
    return d[:k] + d[k:].translate(_INV)


def handle(conn, at):
    try:
        f = conn.makefile("rb", buffering=0)
        line = f.readline().decode().strip()
        if line.startswith("get "):
            n = int(line.split()[1])
            off = 0
            while off < n:
                k = min(65536, n - off)
                conn.sendall(chunk(off, k, at))
                off += k
    except OSError:
        pass
    finally:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--at", type=int, required=True)
    a = p.parse_args()
    s = socket.socket(socket.AF_INET6 if ":" in a.addr else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.addr, a.port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c, a.at), daemon=True).start()


if __name__ == "__main__":
    main()
