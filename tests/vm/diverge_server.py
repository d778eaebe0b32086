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
            util.send_stream(conn, int(line.split()[1]),
                             lambda off, n: chunk(off, n, at))
    except OSError:
        pass
    finally:
        util.close_conn(conn)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--at", type=int, required=True)
    a = p.parse_args()
    util.serve_forever(a.addr, a.port, handle, a.at)


if __name__ == "__main__":
    main()
