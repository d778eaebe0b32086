#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""gen-pattern.py OUTDIR: the test guest's stream pattern, made at build time.

The guest's CPU may be emulated instruction by instruction (KVM here is
software: ~2 us an instruction), so it neither hashes nor checksums the
pattern itself:

  pattern.bin        the pattern twice (2 * 65521 bytes), so a segment of it
                     is contiguous for the NIC to send from
  pattern-csum.bin   65522 little-endian uint32: W[i] = sum of byte j < i
                     weighted 256 for even j, 1 for odd j; the Internet
                     checksum of bytes [a, b) is fold(W[b] - W[a]), byte-
                     swapped when a is odd (RFC 1071 byte order independence)

The pattern is tests/vm/pmycolo-util.py's: a SHA-256 chain seeded with
b"colo", cut at the period 65521.
"""
import hashlib
import os
import struct
import sys

PERIOD = 65521


def pattern():
    out = bytearray()
    seed = b"colo"
    while len(out) < PERIOD:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:PERIOD])


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    p = pattern()
    with open(os.path.join(d, "pattern.bin"), "wb") as f:
        f.write(p * 2)
    w, s = [], 0
    for j in range(PERIOD + 1):
        w.append(s & 0xffffffff)
        if j < PERIOD:
            s += p[j] * (256 if j % 2 == 0 else 1)
    with open(os.path.join(d, "pattern-csum.bin"), "wb") as f:
        f.write(struct.pack("<%dI" % len(w), *w))


if __name__ == "__main__":
    main()
