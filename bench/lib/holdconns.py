#!/usr/bin/python3
"""holdconns.py - open N idle SMTP connections, read each banner, hold them.

    holdconns.py ADDR PORT N [--spread | --distinct]

Connects N times to ADDR:PORT (with --spread, from source addresses
127.0.1.1 .. 127.0.1.250 in turn; with --distinct, each from its own
address 127.1.X.Y, Y = 1..250), reads the 220 banner of each, prints
"ready N BANNERS" on stdout once all are open, then sleeps holding every
socket until killed.  Exits 1 if a connection or a
banner fails (a non-220 banner counts as a failure).
"""
import socket
import sys
import time


def main():
    addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    spread = "--spread" in sys.argv[4:]
    distinct = "--distinct" in sys.argv[4:]
    socks = []
    good = 0
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if spread:
            s.bind(("127.0.1.%d" % (1 + i % 250), 0))
        elif distinct:
            s.bind(("127.1.%d.%d" % (i // 250, 1 + i % 250), 0))
        s.settimeout(30)
        try:
            s.connect((addr, port))
            banner = s.recv(512)
        except OSError as e:
            print("connection %d: %s" % (i, e), file=sys.stderr)
            return 1
        if not banner.startswith(b"220"):
            print("connection %d: banner %r" % (i, banner[:80]), file=sys.stderr)
            return 1
        good += 1
        socks.append(s)
    print("ready %d %d" % (n, good), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
