#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Keep this VM's CLOCK_REALTIME a little ahead of the host's.

  clock.py ADDR PORT LEAD_MS INTERVAL_S   (INTERVAL_S 0: set it once, exit)

ADDR:PORT prints the host's clock (`date +%s.%N`, a QEMU guestfwd). The
kernel cuts epochs by QEMU's STOP time, which is the host's clock, against
packet arrival times, which are this VM's: a VM clock behind the host's
would put output the guest sent after it resumed into the epoch the
checkpoint releases. Ahead only makes the cut conservative (a packet is
taken for later than it was: held one checkpoint more), so the clock is
kept LEAD_MS ahead (stepped forward only, once running); a TCG guest's
clock drifts (slow by ~0.2% here).
Each line printed: the offset found (VM minus host, before the step) and
the round trip of the reading.
"""
import socket
import sys
import time


def host_time(addr, port):
    t0 = time.time()
    s = socket.create_connection((addr, port), timeout=5)
    data = b""
    while True:
        d = s.recv(64)
        if not d:
            break
        data += d
    s.close()
    t1 = time.time()
    return float(data.decode().strip()), t0, t1


def main():
    addr, port, lead, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) / 1000, float(sys.argv[4])
    worst = 0.0
    while True:
        try:
            h, t0, t1 = host_time(addr, port)
        except (OSError, ValueError) as e:
            print("clock: reading the host's clock failed: %s" % e, flush=True)
            if not interval:
                return 1
            time.sleep(interval)
            continue
        off = (t0 + t1) / 2 - h
        rtt = t1 - t0
        if interval and abs(off) > worst:
            worst = abs(off)
        print("clock: offset %+.1f ms (round trip %.1f ms, worst %.1f ms)" %
              (off * 1000, rtt * 1000, worst * 1000), flush=True)
        # Once running, forward only: the captures of the oracle and the
        # kernel's packet times share this clock, and a step back between
        # two events could invert their order (seen: the client seemingly
        # got a segment before the SVM's copy of it arrived). The VM's
        # clock runs slow, so it only ever needs pushing forward.
        if (abs(off - lead) > 0.002) if not interval else (off < lead - 0.002):
            time.clock_settime(time.CLOCK_REALTIME, time.time() - off + lead)
        if not interval:
            return 0
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
