#!/usr/bin/python3
"""spoolgen.py - write N valid queue files straight into a backupmxd spool.

Usage: spoolgen.py --spool DIR --count N [--size OCTETS] [--rcpt ADDR]
                   [--domains K] [--owner USER] [--age SECONDS]

Writes DIR/queue/<qid> for N messages in the queue file format of
src/spool/spool_fmt.c (BMXQ 1, checksummed), much faster than SMTP: the
restart benchmark (bench/restart_bench.sh) and t_relay_recover_bg fill a
spool with it.  Each message is from s@client.test to --rcpt (default
r@example.test; with --domains K, message i goes to
local@dJ.domain, J = i mod K: K destinations) with a body of about --size octets (default 1024) whose
first line is a Received: header carrying " id <qid>", as backupmxd writes
it, so tests/lib/slowmx.py --stats counts each one once.  Queue IDs are
unique and sort in creation order (arrival --age seconds ago, default
3600, one microsecond apart); the PID field is 0000, which no daemon uses.
Files are mode 0600, owned by --owner when given (the daemon's user).
The spool's subdirectories are created when missing.
"""
import argparse
import os
import pwd
import secrets
import time
import zlib

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b62(v, width):
    """v in base 62, fixed width."""
    out = []
    for _ in range(width):
        out.append(B62[v % 62])
        v //= 62
    return "".join(reversed(out))


def field(s):
    """A string field: "=" and the value with octets outside 0x21-0x7e as %XX."""
    return "=" + "".join(c if 0x21 <= ord(c) <= 0x7e and c != "%" else "%%%02X" % ord(c)
                         for c in s)


def image(qid, arrival, rcpt, size, i):
    """The whole queue file for one message."""
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(arrival))
    head = ("Received: from client.test (client.test [127.0.0.1])\r\n"
            "\tby mx2.example.test (backupmx) with ESMTP id %s\r\n"
            "\tfor <%s>; %s\r\n"
            "From: <s@client.test>\r\nTo: <%s>\r\nSubject: spoolgen %d\r\n"
            "Message-ID: <%s@spoolgen.test>\r\n\r\n" % (qid, rcpt, date, rcpt, i, qid))
    line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuv\r\n"
    fill = max(0, size - len(head))
    body = (head + line * (fill // len(line) + 1))[: max(size, len(head))]
    if not body.endswith("\r\n"):
        body = body[:-2] + "\r\n"
    body = body.encode()
    env = ["BMXQ 1", "I " + qid, "T %d" % arrival, "S " + field("s@client.test"), "N 0",
           "E -", "F 0 0", "H " + field("client.test"), "C " + field("127.0.0.1"), "D -",
           "R 0 %s -" % field(rcpt)]
    env = "".join(x + "\n" for x in env).encode()
    crc = zlib.crc32(body, zlib.crc32(env))
    nrec = 12   # magic .. R, and M
    return (env + b"M %020d\n" % len(body) + body +
            b"Z %d %d %08x\n" % (nrec, len(body), crc))


def main():
    """Parse the arguments and write the files."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--spool", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--rcpt", default="r@example.test")
    ap.add_argument("--domains", type=int, default=0)
    ap.add_argument("--owner")
    ap.add_argument("--age", type=int, default=3600)
    a = ap.parse_args()
    uid = gid = -1
    if a.owner:
        pw = pwd.getpwnam(a.owner)
        uid, gid = pw.pw_uid, pw.pw_gid
    os.makedirs(a.spool, mode=0o700, exist_ok=True)
    for sub in ("tmp", "queue", "state", "corrupt"):
        os.makedirs(os.path.join(a.spool, sub), mode=0o700, exist_ok=True)
        if uid >= 0:
            os.chown(os.path.join(a.spool, sub), uid, gid)
    if uid >= 0:
        os.chown(a.spool, uid, gid)
    qdir = os.open(os.path.join(a.spool, "queue"), os.O_RDONLY | os.O_DIRECTORY)
    arrival = int(time.time()) - a.age
    us0 = arrival * 1000000
    p9 = 62 ** 9
    for i in range(a.count):
        qid = b62((us0 + i) % p9, 9) + "000" + "0000" + b62(secrets.randbits(23), 4)
        rcpt = a.rcpt
        if a.domains > 0:
            local, _, dom = a.rcpt.rpartition("@")
            rcpt = "%s@d%d.%s" % (local, i % a.domains, dom)
        data = image(qid, arrival + i // 1000000, rcpt, a.size, i)
        fd = os.open(qid, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=qdir)
        os.write(fd, data)
        if uid >= 0:
            os.fchown(fd, uid, gid)
        os.close(fd)
    os.fsync(qdir)
    os.close(qdir)
    print("spoolgen: %d queue files in %s/queue" % (a.count, a.spool))


if __name__ == "__main__":
    main()
