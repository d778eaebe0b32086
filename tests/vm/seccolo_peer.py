#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""SECCOLO sequence translation check, driven from one process.

Namespaces (made by seccolo-seqadj.sh): peer (10.1.0.1) -- sn (router,
10.1.0.254 / 10.2.0.254) -- svm (10.2.0.2). The SECCOLO rule in sn matches
packets from the SVM side. The peer speaks raw TCP and plays the client (or
the server) of a PVM whose ISN differs from the SVM's: its acks are in "PVM
space". The checks: the SVM's segments reach the peer in PVM space, the
peer's acks reach the SVM in SVM space (the SVM's real TCP stack accepts the
data and answers), GET reports the offset, CHECKPOINT_DONE resets it,
FAILOVER stops learning new connections, socket close tears the VM down.
"""
import ctypes
import os
import random
import select
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genl  # noqa: E402

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)

PEER, SVM = "10.1.0.1", "10.2.0.2"
VM_ID = int(os.environ.get("SECCOLO_VM", "7"))
IPT = os.environ.get("IPT", "iptables")


def setns(name):
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns " + name)
    os.close(fd)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


FIN, SYN, RST, PSH, ACK = 1, 2, 4, 8, 16


class RawPeer:
    def __init__(self, sport, dport):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self.sport, self.dport = sport, dport

    def send(self, seq, ack, flags, payload=b""):
        hdr = struct.pack("!HHIIBBHHH", self.sport, self.dport, seq & 0xffffffff,
                          ack & 0xffffffff, 5 << 4, flags, 65535, 0, 0)
        pseudo = socket.inet_aton(PEER) + socket.inet_aton(SVM) + \
            struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(hdr) + len(payload))
        c = csum(pseudo + hdr + payload)
        hdr = hdr[:16] + struct.pack("!H", c) + hdr[18:]
        self.s.sendto(hdr + payload, (SVM, 0))

    def recv(self, want, timeout=5.0):
        """Next segment from the SVM for our ports with want(flags, len)."""
        end = time.time() + timeout
        while time.time() < end:
            r, _, _ = select.select([self.s], [], [], max(0, end - time.time()))
            if not r:
                break
            pkt = self.s.recv(65535)
            ihl = (pkt[0] & 0xf) * 4
            if socket.inet_ntoa(pkt[12:16]) != SVM:
                continue
            t = pkt[ihl:]
            sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", t[:14])
            if sport != self.dport or dport != self.sport:
                continue
            payload = t[(off >> 4) * 4:]
            if want(flags, len(payload)):
                return seq, ack, flags, payload
        raise TimeoutError("no segment from the SVM")


failures = 0


def ok(cond, what):
    global failures
    print(("ok - " if cond else "not ok - ") + what)
    sys.stdout.flush()
    if not cond:
        failures += 1
    return cond


def vm_get(g):
    r = g.req(genl.CMD_GET, VM_ID, flags=genl.F_CONNS)
    return genl.decode_get(r.attrs) if not r.err else None


def conn_offset(d, port):
    for c in d["conns"]:
        if port in (c.get("sport"), c.get("dport")):
            return c.get("offset")
    return None


def client_opened(g, sport, port, shift):
    """Peer = client of a PVM whose ISN is the SVM's + shift."""
    got = {}

    def server():
        cs, _ = srv.accept()
        cs.settimeout(5)
        got["req"] = cs.recv(100)
        cs.sendall(b"world\n")
        got["sock"] = cs

    setns("svm")
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((SVM, port))
    srv.listen(1)
    srv.settimeout(10)
    th = threading.Thread(target=server)
    th.start()
    setns("peer")
    p = RawPeer(sport, port)
    c = random.randrange(1 << 32)
    p.send(c, 0, SYN)
    s, a, f, _ = p.recv(lambda f, n: f & SYN and f & ACK)
    ok(a == (c + 1) & 0xffffffff, "client-opened: SVM SYN-ACK acks our SYN")
    pvm = (s + shift) & 0xffffffff
    p.send(c + 1, pvm + 1, ACK)                         # completes the handshake
    p.send(c + 1, pvm + 1, ACK | PSH, b"hello\n")
    seq, ack, f, data = p.recv(lambda f, n: n > 0)
    ok(data == b"world\n", "client-opened: the SVM accepted data acked in PVM space")
    ok(seq == (pvm + 1) & 0xffffffff,
       "client-opened: SVM data arrives in PVM space (seq %#x, want %#x, svm isn %#x)"
       % (seq, (pvm + 1) & 0xffffffff, s))
    ok(ack == (c + 7) & 0xffffffff, "client-opened: SVM acks our data")
    p.send(c + 7, pvm + 7, ACK)
    th.join(10)
    ok(got.get("req") == b"hello\n", "client-opened: SVM application got the request")
    d = vm_get(g)
    off = conn_offset(d, port) if d else None
    ok(off == shift & 0xffffffff, "GET reports the offset (%r, want %#x)" % (off, shift & 0xffffffff))
    return p, c + 7, pvm + 7, s + 7, got, srv


def guest_opened(sport, shift):
    """Peer = server answering a PVM whose ISN is the SVM's + shift."""
    setns("peer")
    p = RawPeer(sport, 0)
    lst = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    setns("svm")
    cl = socket.socket()
    cl.setblocking(False)
    try:
        cl.connect((PEER, sport))
    except BlockingIOError:
        pass
    setns("peer")
    # the SVM's SYN
    end = time.time() + 5
    syn = None
    while time.time() < end and not syn:
        r, _, _ = select.select([lst], [], [], 1)
        if not r:
            continue
        pkt = lst.recv(65535)
        ihl = (pkt[0] & 0xf) * 4
        sp, dp, seq, ack, off, flags = struct.unpack("!HHIIBB", pkt[ihl:ihl + 14])
        if dp == sport and flags & SYN and not flags & ACK:
            syn = (sp, seq)
    if not ok(syn is not None, "guest-opened: SVM SYN seen"):
        return
    p.dport = syn[0]
    s = syn[1]
    pvm = (s + shift) & 0xffffffff
    q = random.randrange(1 << 32)
    p.send(q, pvm + 1, SYN | ACK)        # the server answers the PVM's SYN
    seq, ack, f, _ = p.recv(lambda f, n: f & ACK and not f & SYN)
    ok(ack == (q + 1) & 0xffffffff, "guest-opened: the SVM completed the handshake")
    ok(seq == (pvm + 1) & 0xffffffff,
       "guest-opened: SVM ACK in PVM space (seq %#x, want %#x)" % (seq, (pvm + 1) & 0xffffffff))
    setns("svm")
    try:
        cl.send(b"ping\n")
    except OSError as e:
        ok(False, "guest-opened: SVM socket connected (%s)" % e)
        return
    setns("peer")
    seq, ack, f, data = p.recv(lambda f, n: n > 0)
    ok(data == b"ping\n" and seq == (pvm + 1) & 0xffffffff,
       "guest-opened: SVM data in PVM space")
    cl.close()


def main():
    random.seed()
    setns("sn")
    g = genl.Genl()
    r = g.req(genl.CMD_PROXY_INIT, VM_ID, genl.MODE_SECONDARY)
    ok(not r.err, "PROXY_INIT secondary %d (%r)" % (VM_ID, r))
    rule = ["ip", "netns", "exec", "sn", IPT, "-t", "mangle", "-A", "PREROUTING",
            "-i", "vs", "-j", "SECCOLO", "--index", str(VM_ID)]
    ok(subprocess.call(rule) == 0, "SECCOLO rule added (%s)" % IPT)

    shift = random.randrange(1 << 20, 1 << 31) * random.choice((1, -1))
    p, peer_nxt, pvm_nxt, svm_nxt, got, srv = client_opened(g, 40001, 5001, shift)
    guest_opened(40002, -shift)
    d = vm_get(g)
    ok(d and d["stats"].get("seq_adjusted", 0) >= 2 and d["stats"].get("conns", 0) >= 2,
       "counters: seq_adjusted %r, conns %r" % (d and d["stats"].get("seq_adjusted"),
                                                 d and d["stats"].get("conns")))

    # checkpoint: the SVM would now run the PVM's state; translation stops
    ok(not g.req(genl.CMD_CHECKPOINT_BEGIN, VM_ID).err, "CHECKPOINT_BEGIN")
    ok(not g.req(genl.CMD_CHECKPOINT_DONE, VM_ID).err, "CHECKPOINT_DONE")
    d = vm_get(g)
    ok(d and conn_offset(d, 5001) == 0, "offset 0 after the checkpoint")
    setns("svm")
    got["sock"].sendall(b"again\n")
    setns("peer")
    seq, ack, f, data = p.recv(lambda f, n: n > 0)
    ok(data == b"again\n" and seq == svm_nxt & 0xffffffff,
       "after the checkpoint SVM output passes untranslated (seq %#x, want %#x)"
       % (seq, svm_nxt & 0xffffffff))

    # failover: no new connection is learnt
    ok(not g.req(genl.CMD_FAILOVER, VM_ID).err, "FAILOVER")
    before = vm_get(g)["stats"].get("conns")
    try:
        client_opened_nolearn(5002)
    except Exception as e:  # noqa: BLE001
        ok(False, "connection after failover: %s" % e)
    d = vm_get(g)
    ok(d["stats"].get("conns") == before, "no connection learnt after failover")

    got["sock"].close()
    srv.close()
    setns("sn")
    g.close()
    time.sleep(0.2)
    g2 = genl.Genl()
    ok(g2.req(genl.CMD_GET, VM_ID).err == 2, "VM torn down when its socket closed")
    g2.close()
    return failures == 0


def client_opened_nolearn(port):
    setns("svm")
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((SVM, port))
    srv.listen(1)
    setns("peer")
    p = RawPeer(40003, port)
    c = random.randrange(1 << 32)
    p.send(c, 0, SYN)
    s, a, f, _ = p.recv(lambda f, n: f & SYN and f & ACK)
    ok(True, "SVM answers a new connection after failover")
    srv.close()


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
