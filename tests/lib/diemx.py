#!/usr/bin/python3
"""diemx.py - a primary MX that dies in the middle of a message.

Usage: diemx.py --listen ADDR:PORT --dir DIR [--die-after N]
                [--offer xclient,xforward] [--name NAME] [--xclient-reply TEXT]

An accepting SMTP server (EHLO with PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES
and whatever --offer names) that, once it has received N octets of message
text after its 354 (--die-after, default 0 = never), closes the connection
without a word: a primary that crashes or loses power mid-DATA.  With
--die-after 0 it accepts every message ("250 2.0.0 Ok: queued as dN").

XCLIENT is answered as Postfix does, with a new "220" greeting (the client
must EHLO again), and then, as Postfix does once the client address has
changed, no longer offered in that session: a second one gets "550 5.7.0
Error: insufficient authorization".  --xclient-reply TEXT answers every
XCLIENT with the reply line TEXT instead (e.g. "550 5.7.0 ..." or
"450 4.7.1 ..."), changing nothing.  XFORWARD gets "250 2.0.0 Ok".  Both are
accepted whatever their attributes, and logged.

One line per event goes to DIR/events.log (flushed at once):
  "N connect PEER", "N cmd <command line>", "N data", "N died after K",
  "N message K" (K octets of text, dot-unstuffed, without the final dot),
  "N close".
Runs in the foreground until killed; prints "diemx: listening on ..." once
bound.
"""
import argparse
import os
import socket
import sys
import threading

LINE_MAX = 64 * 1024


class Log:
    """The shared events.log."""

    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def event(self, n, text):
        with self.lock:
            self.f.write("%d %s\n" % (n, text))
            self.f.flush()


def serve(args, log, sock, n, peer):
    """Run one SMTP session."""
    log.event(n, "connect %s" % peer[0])
    buf = b""

    def send(text):
        sock.sendall(text.encode("latin-1"))

    def line():
        nonlocal buf
        while b"\n" not in buf:
            if len(buf) > LINE_MAX:
                return None
            got = sock.recv(65536)
            if not got:
                return None
            buf += got
        i = buf.index(b"\n")
        out, buf = buf[:i + 1], buf[i + 1:]
        return out

    offer = [o.strip().upper() for o in args.offer.split(",") if o.strip()]
    ext = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 10240000"]
    if "XCLIENT" in offer:
        ext.append("XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN")
    if "XFORWARD" in offer:
        ext.append("XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT")
    qn = 0
    xclient_used = False
    try:
        send("220 %s ESMTP diemx\r\n" % args.name)
        while True:
            raw = line()
            if raw is None:
                break
            cmd = raw.rstrip(b"\r\n").decode("latin-1")
            log.event(n, "cmd %s" % cmd)
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                lines = [args.name] + ([e for e in ext if not (xclient_used and
                                                        e.startswith("XCLIENT"))]
                                       if verb == "EHLO" else [])
                send("".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", t)
                             for i, t in enumerate(lines)))
            elif verb == "XCLIENT":
                if xclient_used:
                    send("550 5.7.0 Error: insufficient authorization\r\n")
                elif args.xclient_reply:
                    send("%s\r\n" % args.xclient_reply)
                else:
                    xclient_used = True
                    send("220 %s ESMTP diemx\r\n" % args.name)
            elif verb == "XFORWARD":
                send("250 2.0.0 Ok\r\n")
            elif verb == "MAIL":
                send("250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                send("250 2.1.5 Ok\r\n")
            elif verb == "DATA":
                send("354 End data with <CR><LF>.<CR><LF>\r\n")
                log.event(n, "data")
                got = 0
                text = b""
                while True:
                    raw = line()
                    if raw is None:
                        log.event(n, "close")
                        return
                    got += len(raw)
                    if args.die_after and got >= args.die_after:
                        log.event(n, "died after %d" % got)
                        # no FIN handshake courtesy: reset the connection
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        b"\x01\x00\x00\x00\x00\x00\x00\x00")
                        sock.close()
                        return
                    if raw in (b".\r\n", b".\n"):
                        break
                    text += raw[1:] if raw.startswith(b".") else raw
                qn += 1
                log.event(n, "message %d" % len(text))
                send("250 2.0.0 Ok: queued as d%d%d\r\n" % (n, qn))
            elif verb == "RSET":
                send("250 2.0.0 Ok\r\n")
            elif verb == "NOOP":
                send("250 2.0.0 Ok\r\n")
            elif verb == "QUIT":
                send("221 2.0.0 Bye\r\n")
                break
            else:
                send("502 5.5.2 Error: command not recognized\r\n")
    except OSError:
        pass
    log.event(n, "close")
    try:
        sock.close()
    except OSError:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--die-after", type=int, default=0)
    ap.add_argument("--offer", default="")
    ap.add_argument("--name", default="diemx.test")
    ap.add_argument("--xclient-reply", default="")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    os.makedirs(args.dir, exist_ok=True)
    log = Log(os.path.join(args.dir, "events.log"))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(64)
    print("diemx: listening on %s:%s" % (host, port), flush=True)
    n = 0
    while True:
        sock, peer = ls.accept()
        n += 1
        threading.Thread(target=serve, args=(args, log, sock, n, peer),
                         daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
