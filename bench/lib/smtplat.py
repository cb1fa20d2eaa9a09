#!/usr/bin/python3
"""smtplat.py - per-message latency of an SMTP server, one message per connection.

Usage: smtplat.py [options] HOST PORT COUNT

Sends COUNT messages one after another, each over a fresh TCP connection:
connect, 220, EHLO, MAIL, RCPT, DATA, the message, the final dot; then QUIT.
No PIPELINING: every command waits for its reply, as in a plain sender.
Prints one line per message: the seconds (microsecond resolution) from the
start of connect() to the complete reply to the final dot, the time a
sender waits for the server to take responsibility.  The QUIT and the close
are not timed.  Any reply other than the expected one (220, 250, 250, 250,
354, 250) is printed to stderr with the message number, and the exit code
is then 1 (the messages before it are still printed).

Options:
  --size N     payload octets after the headers (default 4096, as smtp-source -l 4096)
  --from ADDR  envelope sender (default s@client.test)
  --to ADDR    envelope recipient (default r@example.test)
  --helo NAME  EHLO name (default client.test)
  --timeout S  per-reply timeout in seconds (default 600, above a proxy's 570 s)
  --source IP  bind this source address before connecting
"""
import argparse
import socket
import sys
import time


class Fail(Exception):
    pass


def read_reply(f):
    """Read one (possibly multi-line) reply; return (code, text)."""
    lines = []
    while True:
        line = f.readline(4096)
        if not line:
            raise Fail("connection closed" + (": " + " | ".join(lines) if lines else ""))
        s = line.decode("latin-1").rstrip("\r\n")
        lines.append(s)
        if len(s) < 4 or s[3] != "-":
            break
    return lines[-1][:3], " | ".join(lines)


def expect(f, want, what):
    code, text = read_reply(f)
    if code != want:
        raise Fail("%s: want %s, got: %s" % (what, want, text))
    return text


def body(size, n):
    hdr = ("From: <s@client.test>\r\nTo: <r@example.test>\r\n"
           "Subject: latency probe %d\r\nMessage-ID: <lat-%d-%d@client.test>\r\n\r\n"
           % (n, n, int(time.time() * 1e6)))
    line = "x" * 76 + "\r\n"
    full, rest = divmod(size, len(line))
    pay = line * full + ("y" * max(rest - 2, 0) + "\r\n" if rest else "")
    return (hdr + pay + ".\r\n").encode("ascii")


def one(a, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(a.timeout)
    if a.source:
        s.bind((a.source, 0))
    try:
        t0 = time.perf_counter()
        s.connect((a.host, a.port))
        f = s.makefile("rb")
        expect(f, "220", "greeting")
        s.sendall(b"EHLO %s\r\n" % a.helo.encode())
        expect(f, "250", "EHLO")
        s.sendall(b"MAIL FROM:<%s>\r\n" % a.sender.encode())
        expect(f, "250", "MAIL")
        s.sendall(b"RCPT TO:<%s>\r\n" % a.rcpt.encode())
        expect(f, "250", "RCPT")
        s.sendall(b"DATA\r\n")
        expect(f, "354", "DATA")
        s.sendall(body(a.size, n))
        expect(f, "250", "end of DATA")
        t1 = time.perf_counter()
        s.sendall(b"QUIT\r\n")
        try:
            read_reply(f)
        except (Fail, OSError):
            pass
        return t1 - t0
    finally:
        s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("count", type=int)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--from", dest="sender", default="s@client.test")
    p.add_argument("--to", dest="rcpt", default="r@example.test")
    p.add_argument("--helo", default="client.test")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--source", default="")
    a = p.parse_args()
    out = sys.stdout
    for n in range(1, a.count + 1):
        try:
            dt = one(a, n)
        except (Fail, OSError) as e:
            out.flush()
            print("smtplat: message %d of %d: %s" % (n, a.count, e), file=sys.stderr)
            return 1
        out.write("%.6f\n" % dt)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
