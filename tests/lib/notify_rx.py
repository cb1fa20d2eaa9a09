#!/usr/bin/python3
"""notify_rx.py - a stand-in for systemd's notification socket (sd_notify).

    notify_rx.py [--smtp ADDR:PORT] SOCKET OUTFILE

Binds an AF_UNIX datagram socket at SOCKET (mode 0666, so a daemon that
dropped privileges can still send) and appends every datagram to OUTFILE as
one line: the receiver's CLOCK_MONOTONIC in microseconds, a tab, and the
datagram's fields (its "\\n"-separated assignments) joined by " | ".  With
--smtp, the first datagram that carries READY=1 is followed at once by an
SMTP connection to ADDR:PORT (loopback only) and a line "SMTP-AT-READY
<first reply line>" (or "SMTP-AT-READY error ..."), to show the daemon was
serving when it said it was ready.  Runs until killed.
"""
import argparse
import ipaddress
import os
import socket
import sys
import time

DGRAM_MAX = 4096  # largest notification read; sd_notify messages are small


def smtp_greeting(hostport):
    """The first line the SMTP server at HOST:PORT says, or an error text."""
    host, port = hostport.rsplit(":", 1)
    if not ipaddress.ip_address(host).is_loopback:
        return "error: loopback addresses only"
    try:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.settimeout(5)
            data = b""
            while b"\n" not in data and len(data) < 1024:
                chunk = s.recv(1024)
                if not chunk:
                    break
                data += chunk
            s.sendall(b"QUIT\r\n")
            return data.split(b"\r\n")[0].decode("ascii", "replace")
    except OSError as e:
        return "error %s" % e


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smtp")
    ap.add_argument("socket")
    ap.add_argument("out")
    a = ap.parse_args()
    try:
        os.unlink(a.socket)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(a.socket)
    os.chmod(a.socket, 0o666)
    ready_seen = False
    with open(a.out, "a", buffering=1) as out:
        while True:
            data = s.recv(DGRAM_MAX)
            now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            fields = data.decode("utf-8", "replace").strip("\n").split("\n")
            out.write("%d\t%s\n" % (now, " | ".join(fields)))
            if a.smtp and not ready_seen and "READY=1" in fields:
                ready_seen = True
                out.write("%d\tSMTP-AT-READY %s\n" % (now, smtp_greeting(a.smtp)))


if __name__ == "__main__":
    sys.exit(main())
