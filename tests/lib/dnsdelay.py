#!/usr/bin/python3
"""dnsdelay.py - a UDP DNS forwarder that answers PTR queries late.

Usage: dnsdelay.py --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT [--ptr-delay-ms N]
                   [--drop-suffix DOMAIN]...

Every query is forwarded to the upstream server (the test's unbound) and
its answer returned; PTR queries (type 12) are held until N ms (default
1500) after the first query for the same name, so a resolver's
retransmissions after that are answered at once.  For a test of what a daemon does while a client's reverse lookup is
still out.  Queries for names under a --drop-suffix domain are never
answered (a DNS list that times out).  Prints "dnsdelay: listening on ..." once bound; runs until killed.
"""
import argparse
import asyncio
import struct


def qtype(packet):
    """The QTYPE of the first question, or -1."""
    i = 12
    while i < len(packet):
        n = packet[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0:
            return -1
        i += 1 + n
    if i + 2 > len(packet):
        return -1
    return struct.unpack("!H", packet[i:i + 2])[0]


def qname(packet):
    """The first question's name, lower-case, without the trailing dot ("" if bad)."""
    i, labels = 12, []
    while i < len(packet):
        n = packet[i]
        if n == 0:
            return ".".join(labels)
        if n & 0xC0 or i + 1 + n > len(packet):
            return ""
        labels.append(bytes(packet[i + 1:i + 1 + n]).decode("ascii", "replace").lower())
        i += 1 + n
    return ""


class Forwarder(asyncio.DatagramProtocol):
    def __init__(self, upstream, delay, drop=()):
        self.upstream = upstream
        self.delay = delay
        self.drop = tuple(d.lower().strip(".") for d in drop)
        self.transport = None
        self.first = {}   # question bytes -> when first asked

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        asyncio.get_running_loop().create_task(self.answer(data, addr))

    async def answer(self, data, addr):
        loop = asyncio.get_running_loop()
        name = qname(data)
        if any(name == d or name.endswith("." + d) for d in self.drop):
            return
        if qtype(data) == 12:
            q = bytes(data[12:]).lower()
            t0 = self.first.setdefault(q, loop.time())
            wait = t0 + self.delay / 1000.0 - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        fut = loop.create_future()

        class Once(asyncio.DatagramProtocol):
            def datagram_received(self, reply, _addr):
                if not fut.done():
                    fut.set_result(reply)

        tr, _ = await loop.create_datagram_endpoint(Once, remote_addr=self.upstream)
        try:
            tr.sendto(data)
            reply = await asyncio.wait_for(fut, 5)
            self.transport.sendto(reply, addr)
        except asyncio.TimeoutError:
            pass
        finally:
            tr.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--ptr-delay-ms", type=int, default=1500)
    ap.add_argument("--drop-suffix", action="append", default=[])
    a = ap.parse_args()
    lh, lp = a.listen.rsplit(":", 1)
    uh, up = a.upstream.rsplit(":", 1)
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: Forwarder((uh, int(up)), a.ptr_delay_ms,
                                                           a.drop_suffix),
                                        local_addr=(lh, int(lp)))
    print("dnsdelay: listening on %s" % a.listen, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
