#!/usr/bin/python3
"""smtpraw.py - a raw SMTP client that sends exact bytes from a script.

Usage: smtpraw.py [--timeout SEC] [--source ADDR] [--tls] [--sni NAME]
                  HOST PORT [SCRIPT|-]

Connects to HOST:PORT and runs a script (from the SCRIPT file, or stdin),
one command a line, for byte-exact tests of an SMTP server (smuggling,
pipelining, STARTTLS injection).  Blank lines and lines starting with '#' are
ignored.  LITERAL is a Python bytes or str literal (str is encoded latin-1),
adjacent literals concatenate: b"MAIL FROM:<a@b>\\r\\n" "RCPT TO:<c@d>\\r\\n".

  send LITERAL              write the bytes in one send()
  send_repeat N LITERAL     write LITERAL repeated N times in one send()
  send_bytewise LITERAL [D] write one byte at a time, D seconds apart (0.01)
  expect CODE [REGEX]       read one reply; its code must start with CODE
                            (e.g. 250, 5, 45) and REGEX, when given, must
                            match somewhere in the reply text
  expect_count N CODE       read N replies, each must start with CODE
  read                      read one reply, whatever its code
  expect_close              the server must close the connection before the
                            timeout without sending anything more
  expect_silence SEC        nothing at all (neither data nor close) may
                            arrive during SEC seconds
  sleep SEC                 pause
  mark PATH                 create the (empty) file PATH: tell the test a
                            step was reached
  wait_file PATH [SEC]      wait until PATH exists (default 10 s; unmet after)
  timeout SEC               set the timeout of later reads (default 10)
  starttls                  start TLS on the connection (no certificate
                            verification); fails if unread bytes are pending,
                            since those would be plaintext injected before TLS
  shutdown                  half-close: shut down the write side
  close                     close the connection

Every byte sent is printed as "C: " + repr, every server line as "S: " + text
(lines not ending in CRLF are flagged).  Exit status: 0 when every
expectation was met, 1 on an unmet expectation, 2 on a usage or script error,
3 when the connection could not be made.
"""
import ast
import os
import re
import socket
import ssl
import sys
import time

MAX_REPLY_BYTES = 1024 * 1024
MAX_SHOWN = 300
READ_SIZE = 65536


class Unmet(Exception):
    """An expectation of the script was not met."""


class ScriptError(Exception):
    """The script itself is malformed."""


def literal(text):
    """Parse a Python bytes/str literal (or adjacent ones) into bytes."""
    try:
        val = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError) as e:
        raise ScriptError("bad literal %r: %s" % (text, e))
    if isinstance(val, str):
        return val.encode("latin-1")
    if isinstance(val, bytes):
        return val
    raise ScriptError("not a bytes or str literal: %r" % text)


def shown(data):
    """Return a printable, bounded repr of bytes."""
    r = repr(data)
    if len(r) > MAX_SHOWN:
        r = r[:MAX_SHOWN] + "...(%d bytes)" % len(data)
    return r


class Conn:
    """A client connection with a read buffer and reply parser."""

    def __init__(self, sock, timeout):
        """Wrap a connected socket."""
        self.sock = sock
        self.buf = b""
        self.eof = False
        self.timeout = timeout

    def fill(self, deadline):
        """Read more bytes into the buffer; False on timeout, sets eof."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(READ_SIZE)
        except socket.timeout:
            return False
        except ssl.SSLError as e:
            print("smtpraw: TLS error: %s" % e)
            data = b""
        except ConnectionError:
            data = b""
        if not data:
            self.eof = True
            return True
        self.buf += data
        return True

    def line(self, deadline):
        """Return one line (with its ending) or raise Unmet."""
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_REPLY_BYTES:
                raise Unmet("line longer than %d bytes" % MAX_REPLY_BYTES)
            if self.eof:
                if self.buf:
                    rest, self.buf = self.buf, b""
                    print("S: %s [no line ending, then close]" % shown(rest))
                raise Unmet("connection closed by server")
            if not self.fill(deadline):
                raise Unmet("timeout waiting for a reply (%.1fs)" % self.timeout)
        i = self.buf.index(b"\n") + 1
        ln, self.buf = self.buf[:i], self.buf[i:]
        return ln

    def reply(self):
        """Read one (possibly multi-line) reply; return (code, text)."""
        deadline = time.monotonic() + self.timeout
        lines = []
        total = 0
        while True:
            ln = self.line(deadline)
            total += len(ln)
            body = ln[:-2] if ln.endswith(b"\r\n") else ln[:-1]
            txt = body.decode("latin-1")
            flag = "" if ln.endswith(b"\r\n") else " [bare LF]"
            if any(c < 32 and c != 9 for c in body):
                txt = shown(body)
                flag += " [control chars]"
            print("S: %s%s" % (txt, flag))
            lines.append(body.decode("latin-1"))
            if total > MAX_REPLY_BYTES:
                raise Unmet("reply longer than %d bytes" % MAX_REPLY_BYTES)
            m = re.match(r"^([0-9]{3})([ -]|$)", lines[-1])
            if not m:
                return "???", "\n".join(lines)
            if m.group(2) != "-":
                return m.group(1), "\n".join(lines)

    def send(self, data):
        """Write all bytes."""
        print("C: %s" % shown(data))
        self.sock.sendall(data)


def do_expect(conn, code, regex):
    """Read a reply and check its code prefix and optional regex."""
    got, text = conn.reply()
    if not got.startswith(code):
        raise Unmet("expected %s, got %s" % (code, got))
    if regex is not None and not re.search(regex, text):
        raise Unmet("reply does not match /%s/" % regex)


def do_close_or_silence(conn, seconds, want_close):
    """Check that the server closes (want_close) or stays silent."""
    deadline = time.monotonic() + seconds
    while True:
        if conn.buf:
            data, conn.buf = conn.buf, b""
            print("S: %s [unexpected]" % shown(data))
            raise Unmet("server sent data, expected %s" %
                        ("close" if want_close else "silence"))
        if conn.eof:
            if want_close:
                print("S: [closed]")
                return
            raise Unmet("server closed the connection, expected silence")
        if not conn.fill(deadline):
            if want_close:
                raise Unmet("server did not close within %.1fs" % seconds)
            return


def do_starttls(conn, sni):
    """Switch the connection to TLS."""
    if conn.buf:
        print("S: %s [pending plaintext]" % shown(conn.buf))
        raise Unmet("%d plaintext bytes pending before TLS" % len(conn.buf))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn.sock.settimeout(conn.timeout)
    try:
        conn.sock = ctx.wrap_socket(conn.sock, server_hostname=sni)
    except (ssl.SSLError, OSError) as e:
        raise Unmet("TLS handshake failed: %s" % e)
    print("TLS: %s %s" % (conn.sock.version(), conn.sock.cipher()[0]))


def run_line(conn, words, rest, sni):
    """Execute one script command."""
    cmd = words[0]
    if cmd == "send":
        conn.send(literal(rest))
    elif cmd == "send_repeat":
        n, lit = rest.split(None, 1)
        conn.send(literal(lit) * int(n))
    elif cmd == "send_bytewise":
        m = re.match(r"^(.*?)(?:\s+([0-9.]+))?$", rest)
        data = literal(m.group(1))
        delay = float(m.group(2)) if m.group(2) else 0.01
        print("C: %s [bytewise]" % shown(data))
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            conn.sock.sendall(data[i:i + 1])
            time.sleep(delay)
    elif cmd == "expect":
        parts = rest.split(None, 1)
        if not parts or not re.match(r"^[0-9]{1,3}$", parts[0]):
            raise ScriptError("expect needs a code")
        do_expect(conn, parts[0], parts[1] if len(parts) > 1 else None)
    elif cmd == "expect_count":
        n, code = rest.split()
        for _ in range(int(n)):
            do_expect(conn, code, None)
    elif cmd == "read":
        conn.reply()
    elif cmd == "expect_close":
        do_close_or_silence(conn, conn.timeout, True)
    elif cmd == "expect_silence":
        do_close_or_silence(conn, float(rest), False)
    elif cmd == "sleep":
        time.sleep(float(rest))
    elif cmd == "mark":
        open(rest.strip(), "w").close()
    elif cmd == "wait_file":
        path, _, sec = rest.strip().partition(" ")
        end = time.monotonic() + float(sec or 10)
        while not os.path.exists(path):
            if time.monotonic() > end:
                raise Unmet("wait_file: %s did not appear" % path)
            time.sleep(0.05)
    elif cmd == "timeout":
        conn.timeout = float(rest)
    elif cmd == "starttls":
        do_starttls(conn, sni)
    elif cmd == "shutdown":
        print("C: [shutdown write]")
        conn.sock.shutdown(socket.SHUT_WR)
    elif cmd == "close":
        print("C: [close]")
        conn.sock.close()
    else:
        raise ScriptError("unknown command %r" % cmd)


def main():
    """Parse arguments, connect, run the script."""
    sys.stdout.reconfigure(line_buffering=True)
    args = sys.argv[1:]
    timeout, source, tls, sni = 10.0, None, False, None
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--tls":
            tls = True
        elif opt in ("--timeout", "--source", "--sni") and args:
            val = args.pop(0)
            if opt == "--timeout":
                timeout = float(val)
            elif opt == "--source":
                source = val
            else:
                sni = val
        else:
            args = []
            break
    if len(args) not in (2, 3):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    host, port = args[0], int(args[1])
    if len(args) == 3 and args[2] != "-":
        with open(args[2]) as f:
            script = f.read().splitlines()
    else:
        script = sys.stdin.read().splitlines()
    try:
        sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
    except OSError as e:
        print("smtpraw: connect %s:%d: %s" % (host, port, e))
        return 3
    conn = Conn(sock, timeout)
    if tls:
        try:
            do_starttls(conn, sni)
        except Unmet as e:
            print("smtpraw: FAILED: %s" % e)
            return 1
    for num, raw in enumerate(script, 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        words = text.split(None, 1)
        rest = words[1] if len(words) > 1 else ""
        try:
            run_line(conn, words, rest, sni)
        except Unmet as e:
            print("smtpraw: FAILED at line %d (%s): %s" % (num, text[:80], e))
            return 1
        except (ScriptError, ValueError) as e:
            print("smtpraw: script error at line %d: %s" % (num, e))
            return 2
        except OSError as e:
            print("smtpraw: FAILED at line %d (%s): %s" % (num, text[:80], e))
            return 1
    print("smtpraw: OK")
    try:
        conn.sock.close()
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
