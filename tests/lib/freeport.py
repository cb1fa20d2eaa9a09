#!/usr/bin/python3
"""freeport.py - print free TCP (and UDP) ports on the loopback addresses.

Usage: freeport.py [COUNT] [--exclude FILE]

Asks the kernel for an ephemeral port by binding 127.0.0.1:0, then checks the
same port is also free for TCP and UDP on 127.0.0.1, 127.0.0.2 and 127.0.0.3
(tests put a DNS server, a primary and a backup on those).  Ports listed in
the exclude file (one per line, ports already handed out to this test) are
never returned; returned ports are appended to it.  Prints one port a line.
Exit status 0, or 1 when no free port was found.
"""
import socket
import sys

ADDRS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
MAX_TRIES = 200


def kernel_port():
    """Return a port number the kernel considers free on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port):
    """True if PORT can be bound for TCP and UDP on every test address."""
    for addr in ADDRS:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind((addr, port))
            except OSError:
                return False
            finally:
                s.close()
    return True


def main():
    """Parse arguments and print the ports."""
    args = sys.argv[1:]
    exclude_file = None
    count = 1
    while args:
        a = args.pop(0)
        if a == "--exclude" and args:
            exclude_file = args.pop(0)
        elif a.isdigit():
            count = int(a)
        else:
            sys.stderr.write("usage: freeport.py [COUNT] [--exclude FILE]\n")
            return 2
    used = set()
    if exclude_file:
        try:
            with open(exclude_file) as f:
                used = {int(x) for x in f.read().split() if x.isdigit()}
        except FileNotFoundError:
            pass
    out = []
    tries = 0
    while len(out) < count and tries < MAX_TRIES:
        tries += 1
        p = kernel_port()
        if p in used or p in out or not port_free(p):
            continue
        out.append(p)
    if len(out) < count:
        sys.stderr.write("freeport.py: no free port found\n")
        return 1
    if exclude_file:
        with open(exclude_file, "a") as f:
            f.write("".join("%d\n" % p for p in out))
    print("\n".join(str(p) for p in out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
