#!/usr/bin/python3
"""fakemilter.py - a small milter (Sendmail milter protocol v6) for tests.

Usage: fakemilter.py --listen 127.0.0.1:PORT --log FILE [--mode MODE] [--noreply]

It answers OPTNEG with version 6, actions 0x1ff and, with --noreply,
rspamd's flags 0xFF080 (no answer but to the end of the message);
otherwise flags 0 (an answer to every command: 'c').  Every command it
gets is logged to FILE, one line each: "CMD detail".  At the end of the
message ('E') it answers by --mode:
  accept    'i' (an X-Fake header at index 1) then 'a'
  auth      like rspamd for an SPF pass: 'm' Authentication-Results index 1
            to "" (delete), 'i' index 1 Authentication-Results "AUTHSERV;
            spf=pass ... smtp.mailfrom=SENDER" (bare LF folding), then 'a'
  gtube     'y' 554 5.7.1 if the body holds the GTUBE string, else as accept
  reject    'y' 554 5.7.1 Fake says no
  tempfail  't'
  discard   'd'
  garbage   four bytes that are no packet
  hang      nothing at all (the MTA's timeout must fire)
Prints "fakemilter: listening on ..." once bound; runs until killed.
"""
import argparse
import asyncio
import struct

GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def packet(cmd, data=b""):
    """One milter packet."""
    return struct.pack("!I", len(data) + 1) + cmd + data


class Milter:
    def __init__(self, mode, noreply, log):
        self.mode = mode
        self.noreply = noreply
        self.log = log

    def note(self, line):
        with open(self.log, "a") as f:
            f.write(line + "\n")

    async def serve(self, reader, writer):
        body = b""
        try:
            while True:
                hdr = await reader.readexactly(4)
                (n,) = struct.unpack("!I", hdr)
                pkt = await reader.readexactly(n)
                cmd, data = pkt[:1], pkt[1:]
                if cmd == b"O":
                    self.note("O %d bytes" % len(data))
                    flags = 0xFF080 if self.noreply else 0
                    writer.write(packet(b"O", struct.pack("!III", 6, 0x1FF, flags)))
                elif cmd == b"M":
                    self.sender = data.split(b"\0")[0].strip(b"<>")
                    self.note("M %s" % data.replace(b"\0", b"|").decode("ascii", "replace"))
                    if not self.noreply:
                        writer.write(packet(b"c"))
                elif cmd == b"D":
                    self.note("D %s" % data[:1].decode() +
                              " " + " ".join(x.decode("ascii", "replace")
                                             for x in data[1:].split(b"\0") if x))
                elif cmd == b"B":
                    body += data
                    self.note("B %d" % len(data))
                    if not self.noreply:
                        writer.write(packet(b"c"))
                elif cmd == b"E":
                    self.note("E body=%d" % len(body))
                    if self.mode == "hang":
                        await asyncio.sleep(3600)
                    self.answer_eom(writer, body)
                    body = b""
                elif cmd in (b"Q", b"K"):
                    self.note(cmd.decode())
                    break
                elif cmd == b"A":
                    self.note("A")
                    body = b""
                else:
                    shown = data.replace(b"\0", b"|").decode("ascii", "replace")
                    self.note("%s %s" % (cmd.decode("ascii", "replace"), shown))
                    if not self.noreply:
                        writer.write(packet(b"c"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def answer_eom(self, writer, body):
        mode = self.mode
        if mode == "gtube":
            mode = "reject" if GTUBE in body else "accept"
        if mode == "auth":
            ar = (self.authserv.encode() + b";\n\tspf=pass (fake: client designated)"
                  b" smtp.mailfrom=" + getattr(self, "sender", b""))
            writer.write(packet(b"m", struct.pack("!I", 1) + b"Authentication-Results\0\0"))
            writer.write(packet(b"i", struct.pack("!I", 1) + b"Authentication-Results\0" +
                                ar + b"\0"))
            writer.write(packet(b"a"))
        elif mode == "accept":
            writer.write(packet(b"i", struct.pack("!I", 1) + b"X-Fake\0checked\0"))
            writer.write(packet(b"a"))
        elif mode == "reject":
            writer.write(packet(b"y", b"554 5.7.1 Fake says no\0"))
        elif mode == "tempfail":
            writer.write(packet(b"t"))
        elif mode == "discard":
            writer.write(packet(b"d"))
        elif mode == "garbage":
            writer.write(b"\xff\xff\xff\xff")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--mode", default="accept")
    ap.add_argument("--noreply", action="store_true")
    ap.add_argument("--authserv", default="mx2.example.test")
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    m = Milter(a.mode, a.noreply, a.log)
    m.authserv = a.authserv
    srv = await asyncio.start_server(m.serve, host, int(port))
    print("fakemilter: listening on %s" % a.listen, flush=True)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
