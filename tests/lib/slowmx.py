#!/usr/bin/python3
"""slowmx.py - a primary MX that takes its time, for the concurrency ramp.

Usage: slowmx.py --listen ADDR:PORT [--delay-ms N] [--cap N] [--stats FILE]

An accepting SMTP server (EHLO with PIPELINING, 8BITMIME, SIZE) that:
  --delay-ms N  waits N ms before its reply to the end of DATA, as a real
                primary does while it filters and stores (default 0);
  --cap N       answers "421 4.7.0 Too many connections" at the greeting and
                closes when N connections are already open (default: no cap).
                Refused connections do not count as open.

It keeps, and writes to --stats FILE (JSON, rewritten atomically at most
every 100 ms while anything changes, and at exit):
  peak          the most connections open at once (refused ones excluded)
  peak_first    the most open within the first 0.2 s after the first connect
  open          connections open now
  connections   connections accepted (greeted 220)
  refused       connections turned away with 421 by --cap
  attempts_late, refused_late   connections tried, and refused, more than 1 s
                after the first connection (once a client has settled)
  messages      messages accepted (250 after DATA)
  unique        distinct messages, keyed by the " id QID" of their first
                Received: header (the backup's), else by their whole text
  duplicates    messages whose key was seen before
  first, last   seconds since the epoch of the first and last accepted message
  peers         the client addresses seen, sorted

Runs in the foreground until killed (SIGTERM writes the stats one last time);
prints "slowmx: listening on ADDR:PORT" once bound.
"""
import argparse
import asyncio
import hashlib
import json
import os
import re
import signal
import sys
import time

RECEIVED_ID = re.compile(rb"^Received:.*?\bid ([A-Za-z0-9]+)", re.I | re.S)


class Stats:
    """Counters shared by every connection, written to a JSON file."""

    def __init__(self, path):
        self.path = path
        self.peak = self.peak_first = self.open = 0
        self.connections = self.refused = self.messages = self.duplicates = 0
        self.attempts_late = self.refused_late = 0
        self.first = self.last = None
        self.t_first_conn = None
        self.keys = set()
        self.peers = set()
        self.dirty = True

    def attempt(self, refused):
        """Count a connection attempt (before opened() or as refused)."""
        now = time.monotonic()
        if self.t_first_conn is None:
            self.t_first_conn = now
        late = now - self.t_first_conn > 1.0
        self.attempts_late += late
        if refused:
            self.refused += 1
            self.refused_late += late
            self.dirty = True

    def opened(self):
        now = time.monotonic()
        self.open += 1
        self.connections += 1
        self.peak = max(self.peak, self.open)
        if now - self.t_first_conn <= 0.2:
            self.peak_first = max(self.peak_first, self.open)
        self.dirty = True

    def closed(self):
        self.open -= 1
        self.dirty = True

    def message(self, body):
        m = RECEIVED_ID.match(body)
        key = m.group(1) if m else hashlib.sha1(body).digest()
        if key in self.keys:
            self.duplicates += 1
        self.keys.add(key)
        self.messages += 1
        self.last = time.time()
        if self.first is None:
            self.first = self.last
        self.dirty = True

    def write(self):
        if not self.path or not self.dirty:
            return
        self.dirty = False
        doc = {"peak": self.peak, "peak_first": self.peak_first, "open": self.open,
               "connections": self.connections, "refused": self.refused,
               "attempts_late": self.attempts_late, "refused_late": self.refused_late,
               "messages": self.messages, "unique": len(self.keys),
               "duplicates": self.duplicates, "first": self.first, "last": self.last,
               "peers": sorted(self.peers)}
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, self.path)


class LineReader:
    """Lines and DATA bodies from a stream, with one buffer of our own (the
    body is found by searching for CRLF.CRLF, not line by line: fast enough
    to keep up with a backup that drains thousands of messages a second)."""

    def __init__(self, reader):
        self.reader = reader
        self.buf = bytearray()

    async def fill(self):
        chunk = await self.reader.read(65536)
        if not chunk:
            raise ConnectionError("eof")
        self.buf += chunk

    async def line(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                out = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return out
            await self.fill()

    async def body(self):
        """The message up to the lone dot, the dot line removed."""
        start = 0
        while True:
            if self.buf.startswith(b".\r\n"):
                del self.buf[:3]
                return b""
            i = self.buf.find(b"\r\n.\r\n", start)
            if i >= 0:
                out = bytes(self.buf[:i + 2])
                del self.buf[:i + 5]
                return out
            start = max(0, len(self.buf) - 4)
            await self.fill()

    def pending(self):
        return len(self.buf) > 0


async def session(reader, writer, args, stats):
    """One SMTP session."""
    refuse = bool(args.cap and stats.open >= args.cap)
    peer = writer.get_extra_info("peername")
    if peer:
        stats.peers.add(peer[0])
    stats.attempt(refuse)
    if refuse:
        writer.write(b"421 4.7.0 slowmx Too many connections, try again later\r\n")
        try:
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()
        return
    stats.opened()
    lr = LineReader(reader)
    try:
        writer.write(b"220 slowmx ESMTP\r\n")
        while True:
            line = await lr.line()
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-slowmx\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                             b"250 SIZE 52428800\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                writer.write(b"250 2.0.0 Ok\r\n")
            elif verb == b"DATA":
                writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                await writer.drain()
                body = await lr.body()
                if args.delay_ms:
                    await asyncio.sleep(args.delay_ms / 1000.0)
                stats.message(body)
                writer.write(b"250 2.0.0 Ok: queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"502 5.5.2 Error: command not recognized\r\n")
            if not lr.pending():  # nothing pipelined behind: flush now
                await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        stats.closed()
        writer.close()


async def flusher(stats):
    """Write the stats file every 100 ms while something changed."""
    while True:
        await asyncio.sleep(0.1)
        stats.write()


async def main():
    ap = argparse.ArgumentParser(description="a slow or connection-capped primary MX")
    ap.add_argument("--listen", required=True, help="ADDR:PORT")
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--cap", type=int, default=0)
    ap.add_argument("--stats", default="")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    stats = Stats(args.stats)
    server = await asyncio.start_server(lambda r, w: session(r, w, args, stats), host,
                                        int(port), backlog=512, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("slowmx: listening on %s" % args.listen, flush=True)
    task = asyncio.create_task(flusher(stats))
    await stop.wait()
    task.cancel()
    server.close()
    stats.dirty = True
    stats.write()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
