#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""guest-net-colo-peer.py T: a TCP download that survives a COLO failover.

T/p and T/s hold the unix datagram sockets of the primary's and the
secondary's e1000 (qemu.sock, peer.sock each, as in guest-net-peer.py);
T/p.sock and T/s.sock are the colod control sockets, T/p.pid the primary
QEMU's pid file. Without a proxy nothing holds the primary's output back,
so the peer itself keeps to the output-commit rule: it acknowledges only
what it received before the checkpoint it requests, then kills the
primary, fails the secondary over and goes on with the secondary, which
must resume the same connection (same ISN, from the checkpoint) and finish
it byte-exact. UDP state must give the primary's nonce on both sides.
"""
import importlib.util
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


P = load("peer", os.path.join(HERE, "guest-net-peer.py"))
U = load("u", os.path.join(HERE, "..", "vm", "pmycolo-util.py"))
SYN, ACK, FIN, RST, PSH = P.SYN, P.ACK, P.FIN, P.RST, P.PSH
N = int(os.environ.get("COLO_NET_BYTES", "400000"))
ok = P.ok


def ctl(sock, line):
    r = subprocess.run(["socat", "-t", "25", "-", "UNIX-CONNECT:" + sock],
                       input=(line + "\n").encode(), capture_output=True,
                       timeout=30)
    return r.stdout.decode().strip()


def udp_state(p, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        p.send(p.ip(17, P.udp(40100, 5000, b"state\n")))

        def match(f):
            u = P.parse_ip(f, 17)
            if u and u[8:].startswith(b"state nonce="):
                return u[8:].decode().strip()
        r = p.wait(match, 1)
        if r:
            return r
    return None


def main():
    t = sys.argv[1]
    mac = bytes.fromhex(os.environ.get("GUEST_MAC", "525400c01001").replace(":", ""))
    pp, sp = P.Peer(os.path.join(t, "p")), P.Peer(os.path.join(t, "s"))
    pp.gmac = sp.gmac = mac
    open(os.path.join(t, "peer.ready"), "w").close()

    st = udp_state(pp, 20)
    if not ok(st is not None, "primary answers UDP state: %s" % st):
        return 1
    nonce = st.split()[1]

    # the download, acknowledged up to the checkpoint
    sport, iss = 42001, 0x20000000
    mss = P.struct.pack("!BBH", 2, 4, 1460)
    pp.send(pp.ip(6, P.tcp(sport, 5000, iss, 0, SYN, opts=mss)))
    r = pp.wait(lambda f: P.parse_tcp(f, sport), 5)
    if not ok(r is not None and r["flags"] & SYN, "primary accepts the connection"):
        return 1
    isn = r["seq"]
    gseq = isn + 1
    seq = iss + 1
    req = b"get %d\n" % N
    pp.send(pp.ip(6, P.tcp(sport, 5000, seq, gseq, ACK | PSH, req)))
    seq += len(req)
    got = b""
    end = time.time() + 30
    while len(got) < N // 4 and time.time() < end:
        s = pp.wait(lambda f: P.parse_tcp(f, sport), 2)
        if s is None or "seq" not in s:
            continue
        if s["seq"] == gseq + len(got) and s["data"]:
            got += s["data"]
        pp.send(pp.ip(6, P.tcp(sport, 5000, seq, gseq + len(got), ACK)))
    print("# %d bytes from the primary before the checkpoint" % len(got),
          flush=True)
    a = ctl(os.path.join(t, "p.sock"), "checkpoint")
    ok(a == "ok", "checkpoint requested through colod: %s" % a)
    # nothing the primary sends from here on is acknowledged (output commit)
    pid = int(open(os.path.join(t, "p.pid")).read().strip())
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    t0 = time.time()
    a = ctl(os.path.join(t, "s.sock"), "failover")
    ok(a == "ok", "secondary failed over: %s" % a)

    # the secondary goes on with the same connection
    first = None
    sp.send(sp.ip(6, P.tcp(sport, 5000, seq, gseq + len(got), ACK)))
    fin = False
    end = time.time() + 60
    while not fin and time.time() < end:
        s = sp.wait(lambda f: P.parse_tcp(f, sport), 1)
        if s is None or "seq" not in s:
            sp.send(sp.ip(6, P.tcp(sport, 5000, seq, gseq + len(got), ACK)))
            continue
        if s["flags"] & RST:
            break
        if first is None:
            first = time.time() - t0
        off = s["seq"] - gseq
        if 0 <= off <= len(got) < off + len(s["data"]):
            got += s["data"][len(got) - off:]
        if s["flags"] & FIN and s["seq"] + len(s["data"]) == gseq + len(got):
            fin = True
        sp.send(sp.ip(6, P.tcp(sport, 5000, seq, gseq + len(got) + fin,
                               ACK | (FIN if fin else 0))))
    ok(got == U.stream(0, N) and fin,
       "download of %d bytes finished by the secondary byte-exact, FIN "
       "(%d bytes, first segment %.2f s after the failover request)" %
       (N, len(got), first if first is not None else -1))
    st2 = udp_state(sp)
    ok(st2 is not None and st2.split()[1] == nonce,
       "secondary answers UDP state with the primary's %s: %s" % (nonce, st2))
    # and a new connection
    sport2 = 42002
    sp.send(sp.ip(6, P.tcp(sport2, 5000, iss, 0, SYN, opts=mss)))
    r = sp.wait(lambda f: P.parse_tcp(f, sport2), 5)
    ok(r is not None and r.get("flags", 0) & SYN and r["ack"] == iss + 1,
       "secondary accepts a new connection")
    return 1 if P.failed else 0


if __name__ == "__main__":
    sys.exit(main())
