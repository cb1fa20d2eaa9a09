#!/usr/bin/python3
"""evilmx.py - a malicious primary MX, for testing backupmxd's SMTP client.

Usage: evilmx.py --listen ADDR:PORT --mode MODE [--at STAGE] --dir DIR
                 [--tls-cert C --tls-key K]
       evilmx.py --check DIR

Behaves like a plain, accepting SMTP server until STAGE, and there answers
in the way MODE says:

  ok            behave (accept every message); the control case
  truncated     a multi-line reply cut short ("250-a" "250-b", no last
                line), then close
  inconsistent  a multi-line reply whose lines disagree ("250-" "550-" "451 ")
  huge          a 1 MB reply (1000-octet "250-" lines), then a last line
  longline      one 1 MB reply line, then CRLF
  endless       "250-x" lines forever, until the client goes away
  nul           replies with NULs inside ("250-a\\0b" "250 ok\\0")
  inject        STARTTLS injection: advertise STARTTLS and answer it with
                "220 Ready to start TLS\\r\\n" plus extra plaintext in the same
                segment ("250-PIPELINING\\r\\n250 AUTH\\r\\n"); then do TLS (needs
                --tls-cert/--tls-key) and behave
  silent        accept the command and never answer it (stall)

STAGE (default greet) is where the mode strikes: greet (the banner), ehlo,
mail, rcpt, data (the 354) or dot (the reply after the message).  In inject
mode the stage is always the STARTTLS reply.

Every byte a client sends is appended to DIR/conn-N.raw (the decrypted ones
after STARTTLS too), and one line per event to DIR/events.log:
"N connect", "N cmd <repr>", "N strike MODE STAGE", "N tls", "N tls-first
<repr>", "N message", "N close".  After TLS in inject mode, the first command
must be EHLO/HELO: a client that acted on the injected bytes sends something
else, logged as "N tls-first" and "N INJECTION-ACTED".

--check DIR prints "connections=N messages=N bare_cr=N bare_lf=N injected=N"
over everything logged (a bare CR is a CR not followed by LF, a bare LF an LF
not preceded by CR) and exits 1 if any of the last three is non-zero.

Runs in the foreground until killed; prints "evilmx: listening on ..." once
bound.
"""
import argparse
import os
import re
import socket
import ssl
import sys
import threading

MB = 1024 * 1024
LINE_MAX = 64 * 1024          # longest command line we buffer
DATA_MAX = 64 * MB            # longest message we buffer
RECV = 65536
STAGES = ("greet", "ehlo", "mail", "rcpt", "data", "dot")


class Conn:
    """One client connection and its log files."""

    def __init__(self, args, sock, n, lock):
        self.args = args
        self.sock = sock
        self.n = n
        self.lock = lock
        self.buf = b""
        self.raw = open(os.path.join(args.dir, "conn-%d.raw" % n), "ab")

    def event(self, text):
        """Append one line to events.log."""
        with self.lock:
            with open(os.path.join(self.args.dir, "events.log"), "a") as f:
                f.write("%d %s\n" % (self.n, text))

    def send(self, data):
        """Write all of data (may raise OSError when the client has gone)."""
        self.sock.sendall(data)

    def recv_more(self):
        """Read more bytes into the buffer; False at EOF."""
        data = self.sock.recv(RECV)
        if not data:
            return False
        self.raw.write(data)
        self.raw.flush()
        self.buf += data
        return True

    def line(self):
        """Return the next line (up to and including LF), or None at EOF."""
        while b"\n" not in self.buf:
            if len(self.buf) > LINE_MAX or not self.recv_more():
                return None
        i = self.buf.index(b"\n") + 1
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def data(self):
        """Read a message up to CRLF.CRLF; None at EOF."""
        while True:
            k = self.buf.find(b"\r\n.\r\n")
            if self.buf.startswith(b".\r\n"):
                k = -2
            if k != -1:
                end = k + 5
                msg, self.buf = self.buf[:end], self.buf[end:]
                return msg
            if len(self.buf) > DATA_MAX or not self.recv_more():
                return None

    def strike(self, stage, normal):
        """Answer at stage: misbehave if it is the chosen one; False = stop."""
        mode = self.args.mode
        if mode in ("ok", "inject") or stage != self.args.at:
            self.send(normal)
            return True
        self.event("strike %s %s" % (mode, stage))
        code = normal[:3]
        if mode == "truncated":
            self.send(code + b"-first line\r\n" + code + b"-second line")
            return False
        if mode == "inconsistent":
            self.send(code + b"-looks fine\r\n550-but then\r\n451 and then again\r\n")
            return True
        if mode == "huge":
            line = code + b"-" + b"x" * 995 + b"\r\n"
            self.send(line * (MB // len(line)) + code + b" end\r\n")
            return True
        if mode == "longline":
            self.send(code + b" " + b"y" * MB + b"\r\n")
            return True
        if mode == "endless":
            chunk = (code + b"-x\r\n") * 4096
            while True:
                self.send(chunk)
        if mode == "nul":
            self.send(code + b"-a\0b\r\n" + code + b" ok\0\r\n")
            return True
        if mode == "silent":
            while self.recv_more():
                pass
            return False
        raise ValueError(mode)

    def starttls(self):
        """Inject plaintext after the 220, then do TLS; False = stop."""
        self.event("strike inject starttls")
        self.send(b"220 Ready to start TLS\r\n250-PIPELINING\r\n250 AUTH\r\n")
        if self.buf:
            self.event("client-pipelined-after-starttls %r" % self.buf[:200])
            self.buf = b""
        if not self.args.tls_cert:
            return False
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.args.tls_cert, self.args.tls_key)
        try:
            self.sock.settimeout(30)
            self.sock = ctx.wrap_socket(self.sock, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self.event("tls-failed %s" % e)
            return False
        self.event("tls")
        first = self.line()
        if first is None:
            return False
        self.event("tls-first %r" % first[:200])
        if not re.match(rb"(?i)(EHLO|HELO) ", first):
            self.event("INJECTION-ACTED")
            return False
        self.send(b"250-mx1.example.test\r\n250 8BITMIME\r\n")
        return True

    def run(self):
        """The SMTP dialogue."""
        self.event("connect")
        if not self.strike("greet", b"220 mx1.example.test ESMTP evil\r\n"):
            return
        while True:
            cmd = self.line()
            if cmd is None:
                return
            self.event("cmd %r" % cmd[:200])
            verb = cmd[:4].upper()
            if verb == b"EHLO":
                ext = b"250-mx1.example.test\r\n250-8BITMIME\r\n"
                if self.args.mode == "inject":
                    ext += b"250-STARTTLS\r\n"
                if not self.strike("ehlo", ext + b"250 SIZE 100000000\r\n"):
                    return
            elif verb == b"HELO":
                if not self.strike("ehlo", b"250 mx1.example.test\r\n"):
                    return
            elif verb == b"STAR" and self.args.mode == "inject":
                if not self.starttls():
                    return
            elif verb == b"MAIL":
                if not self.strike("mail", b"250 2.1.0 ok\r\n"):
                    return
            elif verb == b"RCPT":
                if not self.strike("rcpt", b"250 2.1.5 ok\r\n"):
                    return
            elif verb == b"DATA":
                if not self.strike("data", b"354 go ahead\r\n"):
                    return
                if self.data() is None:
                    return
                if self.args.mode == "ok" or self.args.at != "dot":
                    self.event("message")
                if not self.strike("dot", b"250 2.0.0 accepted\r\n"):
                    return
            elif verb == b"QUIT":
                self.send(b"221 2.0.0 bye\r\n")
                return
            elif verb in (b"RSET", b"NOOP"):
                self.send(b"250 2.0.0 ok\r\n")
            else:
                self.send(b"502 5.5.2 not implemented\r\n")

    def serve(self):
        """Run the dialogue, logging its end whatever happens."""
        try:
            self.sock.settimeout(120)
            self.run()
        except (OSError, ssl.SSLError, ValueError) as e:
            self.event("error %s" % e)
        finally:
            self.event("close")
            self.raw.close()
            try:
                self.sock.close()
            except OSError:
                pass


def check(d):
    """Summarise the logs of DIR; exit status 1 on any finding."""
    conns = msgs = bare_cr = bare_lf = injected = 0
    for name in sorted(os.listdir(d)):
        if not name.startswith("conn-"):
            continue
        conns += 1
        with open(os.path.join(d, name), "rb") as f:
            b = f.read()
        bare_lf += len(re.findall(rb"(?<!\r)\n", b))
        bare_cr += len(re.findall(rb"\r(?!\n)", b))
    try:
        with open(os.path.join(d, "events.log")) as f:
            for ln in f:
                msgs += ln.split(" ", 1)[1].startswith("message")
                injected += "INJECTION-ACTED" in ln
    except FileNotFoundError:
        pass
    print("connections=%d messages=%d bare_cr=%d bare_lf=%d injected=%d"
          % (conns, msgs, bare_cr, bare_lf, injected))
    return 1 if bare_cr or bare_lf or injected else 0


def main():
    ap = argparse.ArgumentParser(description="a malicious primary MX")
    ap.add_argument("--listen")
    ap.add_argument("--mode", default="ok",
                    choices=("ok", "truncated", "inconsistent", "huge", "longline",
                             "endless", "nul", "inject", "silent"))
    ap.add_argument("--at", default="greet", choices=STAGES)
    ap.add_argument("--dir")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--check")
    args = ap.parse_args()
    if args.check:
        sys.exit(check(args.check))
    if not args.listen or not args.dir:
        ap.error("--listen and --dir are required")
    os.makedirs(args.dir, exist_ok=True)
    host, port = args.listen.rsplit(":", 1)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host.strip("[]"), int(port)))
    ls.listen(64)
    print("evilmx: listening on %s mode %s at %s" % (args.listen, args.mode, args.at),
          flush=True)
    lock = threading.Lock()
    n = 0
    while True:
        s, _ = ls.accept()
        n += 1
        c = Conn(args, s, n, lock)
        threading.Thread(target=c.serve, daemon=True).start()


if __name__ == "__main__":
    main()
