#!/usr/bin/python3
# mxpeer.py - a configurable fake MX for the integration tests (aiosmtpd).
#
# Unlike smtp-sink, it behaves like a real, correctly configured MX: it
# accepts RCPT only for its own domains, refuses foreign domains (no open
# relay, 554 5.7.1) and, unless --accept-any-user, unknown local parts
# (550 5.1.1).  postmaster@ is always valid.  STARTTLS, SIZE, PIPELINING and
# the banner name are configurable.  Messages are accepted and discarded
# (counted in the log).
#
#   mxpeer.py --listen 127.0.0.2:2525 --domain example.test --user alice
#             [--accept-any-user] [--tls-cert C --tls-key K] [--size N | --no-size]
#             [--pipelining] [--name mx1.example.test] [--broken-tls] [--verbose]
#
# --broken-tls advertises STARTTLS, answers it with 220 and then sends
# plaintext garbage instead of a TLS handshake (a broken TLS set-up).
#
# Runs in the foreground until killed; prints "mxpeer: listening on ..."
# once the socket is bound.
import argparse
import asyncio
import logging
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP


class Handler:
    """RCPT policy of a correctly configured MX."""

    def __init__(self, args):
        self.domains = {d.lower().rstrip(".") for d in args.domain}
        self.users = {u.lower() for u in args.user} | {"postmaster"}
        self.any_user = args.accept_any_user
        self.pipelining = args.pipelining
        self.messages = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local, _, domain = address.rpartition("@")
        if domain.lower().rstrip(".") not in self.domains:
            return "554 5.7.1 <%s>: Relay access denied" % address
        if not self.any_user and local.lower() not in self.users:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        print("mxpeer: message %d from <%s> to %s" % (self.messages, envelope.mail_from,
                                                     ",".join(envelope.rcpt_tos)), flush=True)
        return "250 2.0.0 Ok: queued"


class BrokenTLS(SMTP):
    """Says yes to STARTTLS, then never speaks TLS."""

    async def smtp_STARTTLS(self, arg):
        await self.push("220 2.0.0 Ready to start TLS")
        self.transport.write(b"this is not a TLS handshake\r\n" * 4)
        self.transport.close()


def main():
    ap = argparse.ArgumentParser(description="configurable fake MX")
    ap.add_argument("--listen", required=True, help="ADDR:PORT")
    ap.add_argument("--domain", action="append", default=[], help="accepted domain")
    ap.add_argument("--user", action="append", default=[], help="valid local part")
    ap.add_argument("--accept-any-user", action="store_true")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--size", type=int, default=10240000)
    ap.add_argument("--no-size", action="store_true")
    ap.add_argument("--pipelining", action="store_true")
    ap.add_argument("--name", default="mx.example.test", help="banner/EHLO host name")
    ap.add_argument("--broken-tls", action="store_true", help="fail every TLS handshake")
    ap.add_argument("--verbose", action="store_true", help="log every SMTP exchange")
    args = ap.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        stream=sys.stdout, format="mxpeer: %(name)s: %(message)s")

    addr, _, port = args.listen.rpartition(":")
    addr = addr.strip("[]")
    ctx = None
    if args.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
    elif args.broken_tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)   # only advertised
    handler = Handler(args)
    size = 0 if args.no_size else args.size

    cls = BrokenTLS if args.broken_tls else SMTP

    def factory():
        return cls(handler, hostname=args.name, ident="ESMTP mxpeer", tls_context=ctx,
                    data_size_limit=size, require_starttls=False, timeout=60)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(factory, host=addr, port=int(port),
                                                        reuse_address=True))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    print("mxpeer: listening on %s:%s" % (addr, port), flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
