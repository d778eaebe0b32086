#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Tools for the output-commit hole tests (tests/vm/pmycolo-failclosed.sh,
pmycolo-epoch.sh, pmycolo-failover-order.sh, colo-isolation-svm.sh).

  serve-tcp PORT [--variant same|other|delay]   per connection, one line:
        "echo" -> echo until EOF; "sink" -> read until EOF, send nothing;
        "hello" -> a greeting ("delay": the same greeting after DELAY s)
  serve-udp PORT [--variant same|delay|silent]  echo datagrams ("delay":
        after DELAY s)
  trickle ADDR PORT OUT [--count N --interval S]  "echo" connection; a 100-byte
        chunk every S seconds; OUT holds the number of echoed bytes received
  sinkclient ADDR PORT DIR  "sink" connection; DIR/connected, waits for DIR/go,
        sends 1000 bytes, then writes its unacknowledged byte count to DIR/outq
  udp1 ADDR PORT SPORT PAYLOAD   one datagram from SPORT, prints the answer
  udpseq ADDR PORT SPORT COUNT INTERVAL OUT  numbered datagrams; the server
        echoes them; OUT gets one received number per line
  forge-udp IFACE SMAC DMAC SRC DST SPORT DPORT PAYLOAD [--count N]
        IPv4/UDP frames sent raw on IFACE
  rawtcp SRC DST DPORT SPORT MARK [--seq --ack --flags]  one TCP segment
        carrying MARK (default: ACK|PSH, sequence numbers far out of window:
        INVALID for conntrack on an established connection)
  rawlisten MARK SECONDS        count TCP segments carrying MARK received
  session VMID MODE [--hold-timeout MS]   own a VM over the COLO family;
        stdin: begin [STOP_NS|now+MS|zero] | done | failover | reset;
        prints registered / ok CMD / error CMD ... / checkpoint-needed ...
"""
import argparse
import fcntl
import os
import select
import socket
import struct
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# "delay" servers answer this late: long enough for a test to send BEGIN in
# between on a slow, loaded machine
DELAY = 8.0


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def greeting(variant):
    return ("%s says hello, the answer is 42\n" %
            ("GUEST" if variant == "other" else "guest")).encode()


def handle_tcp(c, variant):
    try:
        f = c.makefile("rb", buffering=0)
        line = f.readline().decode().strip()
        if line == "echo":
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d if variant != "other" else d.upper())
        elif line == "sink":
            while c.recv(65536):
                pass
        elif line == "hello":
            if variant == "delay":
                time.sleep(DELAY)
            c.sendall(greeting(variant))
            time.sleep(0.5)
    except OSError:
        pass
    finally:
        c.close()


def serve_tcp(a):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", a.port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle_tcp, args=(c, a.variant), daemon=True).start()


def serve_udp(a):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::", a.port))
    while True:
        d, peer = s.recvfrom(65535)
        if a.variant == "silent":
            continue
        if a.variant == "delay":
            threading.Timer(DELAY, s.sendto, args=(d, peer)).start()
        else:
            s.sendto(d, peer)


def cmd_trickle(a):
    s = socket.create_connection((a.addr, a.port), timeout=a.timeout)
    s.sendall(b"echo\n")
    got = [0]

    def reader():
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    return
                got[0] += len(d)
                with open(a.out + ".tmp", "w") as f:
                    f.write("%d\n" % got[0])
                os.rename(a.out + ".tmp", a.out)
        except OSError:
            return
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    for i in range(a.count):
        s.sendall(bytes([65 + i % 26]) * 100)
        time.sleep(a.interval)
    print("OK trickle sent %d, got %d" % (a.count * 100, got[0]))
    return 0


def cmd_sinkclient(a):
    s = socket.create_connection((a.addr, a.port), timeout=a.timeout)
    s.sendall(b"sink\n")
    open(os.path.join(a.dir, "connected"), "w").close()
    end = time.time() + a.timeout
    while not os.path.exists(os.path.join(a.dir, "go")):
        if time.time() > end:
            return 1
        time.sleep(0.05)
    s.sendall(b"x" * 1000)
    while time.time() < end:
        n = struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\0" * 4))[0]
        with open(os.path.join(a.dir, "outq.tmp"), "w") as f:
            f.write("%d\n" % n)
        os.rename(os.path.join(a.dir, "outq.tmp"), os.path.join(a.dir, "outq"))
        time.sleep(0.1)
    return 0


def cmd_udp1(a):
    s = socket.socket(family(a.addr), socket.SOCK_DGRAM)
    s.bind(("", a.sport))
    s.settimeout(a.timeout)
    s.sendto(a.payload.encode(), (a.addr, a.port))
    try:
        d, _ = s.recvfrom(65535)
    except socket.timeout:
        print("ERR udp1: no answer")
        return 1
    print("OK %s" % d.decode(errors="replace"))
    return 0 if d == a.payload.encode() else 1


def cmd_udpseq(a):
    s = socket.socket(family(a.addr), socket.SOCK_DGRAM)
    s.bind(("", a.sport))
    s.settimeout(0.5)
    s.connect((a.addr, a.port))
    out = open(a.out, "w", buffering=1)
    stop = [False]

    def reader():
        while not stop[0]:
            try:
                d = s.recv(100)
            except (socket.timeout, OSError):
                continue
            out.write("%d\n" % int(d.split(b" ")[1]))
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    for i in range(a.count):
        try:
            s.send(b"seq %d" % i)
        except OSError:
            pass
        time.sleep(a.interval)
    time.sleep(3)
    stop[0] = True
    t.join()
    return 0


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def cmd_forge_udp(a):
    mac = lambda m: bytes(int(x, 16) for x in m.split(":"))
    src, dst = socket.inet_aton(a.src), socket.inet_aton(a.dst)
    data = a.payload.encode()
    ulen = 8 + len(data)
    ph = src + dst + struct.pack("!BBH", 0, 17, ulen)
    uh = struct.pack("!HHHH", a.sport, a.dport, ulen, 0)
    uc = csum(ph + uh + data) or 0xffff
    uh = struct.pack("!HHHH", a.sport, a.dport, ulen, uc)
    ih = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0x4242, 0x4000, 64, 17,
                     0, src, dst)
    ih = ih[:10] + struct.pack("!H", csum(ih)) + ih[12:]
    frame = mac(a.dmac) + mac(a.smac) + b"\x08\x00" + ih + uh + data
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    for _ in range(a.count):
        s.send(frame)
        time.sleep(0.05)
    print("OK forged %d" % a.count)
    return 0


def cmd_rawtcp(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    data = a.mark.encode()
    th = struct.pack("!HHIIBBHHH", a.sport, a.dport, a.seq, a.ack, 5 << 4,
                     a.flags, 65535, 0, 0)
    ph = socket.inet_aton(a.src) + socket.inet_aton(a.dst) + \
        struct.pack("!BBH", 0, 6, len(th) + len(data))
    c = csum(ph + th + data)
    th = th[:16] + struct.pack("!H", c) + th[18:]
    s.sendto(th + data, (a.dst, 0))
    print("OK sent")
    return 0


def cmd_rawlisten(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    s.settimeout(0.2)
    print("ready", flush=True)
    n = 0
    end = time.time() + a.seconds
    while time.time() < end:
        try:
            d = s.recv(65535)
        except socket.timeout:
            continue
        if a.mark.encode() in d:
            n += 1
    print("count %d" % n)
    return 0


REASONS = ["none", "mismatch", "hold-timeout", "svm-only", "queue-limit",
           "conn-gone", "unsynced"]


def cmd_session(a):
    import genl
    A_STOP_TIME = 14
    g = genl.Genl()
    r = g.req(genl.CMD_PROXY_INIT, a.vmid,
              genl.MODE_PRIMARY if a.mode == "primary" else genl.MODE_SECONDARY,
              a.hold_timeout)
    if r.err:
        print("error init %r" % r, flush=True)
        return 1
    print("registered %d" % g.portid, flush=True)

    def show(buf, want_seq=None):
        """Print notices in buf; return the ack errno of want_seq, or None."""
        res = None
        off = 0
        while off + 16 <= len(buf):
            ln, mtype, flags, mseq, pid = struct.unpack_from("=IHHII", buf, off)
            m = buf[off:off + ln]
            off += (ln + 3) & ~3
            if mtype == genl.NLMSG_ERROR and want_seq is not None and mseq == want_seq:
                err = -struct.unpack_from("=i", m, 16)[0]
                msg = ""
                if flags & genl.NLM_F_ACK_TLVS:
                    tl = genl.parse_attrs(m[16 + 4 + 16:])
                    if genl.NLMSGERR_ATTR_MSG in tl:
                        msg = tl[genl.NLMSGERR_ATTR_MSG][0].rstrip(b"\0").decode()
                res = (err, msg)
            elif mtype == g.family and m[16] == genl.CMD_CHECKPOINT_NEEDED:
                at = genl.parse_attrs(m[20:])
                rs = genl.get_u(at, genl.A_REASON)
                print("checkpoint-needed vm=%d reason=%s epoch=%d" %
                      (genl.get_u(at, genl.A_VM_ID),
                       REASONS[rs] if rs < len(REASONS) else str(rs),
                       genl.get_u(at, genl.A_EPOCH)), flush=True)
        return res

    while True:
        r, _, _ = select.select([sys.stdin, g.sock], [], [])
        if g.sock in r:
            show(g.sock.recv(1 << 16))
        if sys.stdin not in r:
            continue
        line = sys.stdin.readline()
        if not line:
            return 0
        w = line.split()
        if not w:
            continue
        p = genl.u32(genl.A_VM_ID, a.vmid)
        if w[0] == "begin" and len(w) > 1:
            if w[1] == "zero":
                stop = 0
            elif w[1].startswith("now+"):
                stop = time.time_ns() + int(w[1][4:]) * 1000000
            else:
                stop = int(w[1])
            p += genl.u64(A_STOP_TIME, stop)
        cmd = {"begin": genl.CMD_CHECKPOINT_BEGIN, "done": genl.CMD_CHECKPOINT_DONE,
               "failover": genl.CMD_FAILOVER, "reset": genl.CMD_RESET}.get(w[0])
        if cmd is None:
            print("error %s unknown" % w[0], flush=True)
            continue
        seq = g._send(g.family, cmd, p)
        res = None
        while res is None:
            res = show(g.sock.recv(1 << 16), seq)
        if res[0]:
            print("error %s rc=%d msg=%r" % (w[0], res[0], res[1]), flush=True)
        else:
            print("ok %s" % w[0], flush=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("serve-tcp"); q.add_argument("port", type=int)
    q.add_argument("--variant", default="same")
    q = sub.add_parser("serve-udp"); q.add_argument("port", type=int)
    q.add_argument("--variant", default="same")
    q = sub.add_parser("trickle")
    q.add_argument("addr"); q.add_argument("port", type=int); q.add_argument("out")
    q.add_argument("--count", type=int, default=100)
    q.add_argument("--interval", type=float, default=0.5)
    q = sub.add_parser("sinkclient")
    q.add_argument("addr"); q.add_argument("port", type=int); q.add_argument("dir")
    q = sub.add_parser("udp1")
    q.add_argument("addr"); q.add_argument("port", type=int)
    q.add_argument("sport", type=int); q.add_argument("payload")
    q = sub.add_parser("udpseq")
    q.add_argument("addr"); q.add_argument("port", type=int)
    q.add_argument("sport", type=int); q.add_argument("count", type=int)
    q.add_argument("interval", type=float); q.add_argument("out")
    q = sub.add_parser("forge-udp")
    for n in ("iface", "smac", "dmac", "src", "dst"):
        q.add_argument(n)
    q.add_argument("sport", type=int); q.add_argument("dport", type=int)
    q.add_argument("payload"); q.add_argument("--count", type=int, default=1)
    q = sub.add_parser("rawtcp")
    q.add_argument("src"); q.add_argument("dst"); q.add_argument("dport", type=int)
    q.add_argument("sport", type=int); q.add_argument("mark")
    q.add_argument("--seq", type=int, default=0x12345678)
    q.add_argument("--ack", type=int, default=0x23456789)
    q.add_argument("--flags", type=int, default=0x18)
    q = sub.add_parser("rawlisten")
    q.add_argument("mark"); q.add_argument("seconds", type=float)
    q = sub.add_parser("session")
    q.add_argument("vmid", type=int); q.add_argument("mode")
    q.add_argument("--hold-timeout", type=int)
    for q in sub.choices.values():
        q.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    fn = {"serve-tcp": serve_tcp, "serve-udp": serve_udp, "trickle": cmd_trickle,
          "sinkclient": cmd_sinkclient, "udp1": cmd_udp1, "udpseq": cmd_udpseq,
          "forge-udp": cmd_forge_udp, "rawtcp": cmd_rawtcp,
          "rawlisten": cmd_rawlisten, "session": cmd_session}[a.cmd]
    try:
        return fn(a) or 0
    except (OSError, ValueError) as e:
        print("ERR %s: %s" % (a.cmd, e), flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
