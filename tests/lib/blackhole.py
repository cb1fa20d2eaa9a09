#!/usr/bin/python3
"""blackhole.py - a TCP listener that accepts connections and never answers.

Usage: blackhole.py [--no-read] ADDR PORT

Accepts every connection on ADDR:PORT and never writes a byte nor closes the
connection first: a client waiting for an SMTP greeting waits forever.  Bytes
the client sends are read and thrown away (with --no-read they are left to
fill the socket buffers).  A connection is closed only after the client
closed it.  Runs until killed.
"""
import selectors
import socket
import sys

LISTEN_BACKLOG = 128
READ_SIZE = 65536


def main():
    """Listen and hold connections open forever."""
    args = sys.argv[1:]
    read = True
    if args and args[0] == "--no-read":
        read = False
        args = args[1:]
    if len(args) != 2:
        sys.stderr.write("usage: blackhole.py [--no-read] ADDR PORT\n")
        return 2
    addr, port = args[0], int(args[1])
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((addr, port))
    lsock.listen(LISTEN_BACKLOG)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ)
    held = []
    while True:
        for key, _ in sel.select():
            if key.fileobj is lsock:
                conn, _peer = lsock.accept()
                held.append(conn)
                if read:
                    sel.register(conn, selectors.EVENT_READ)
                continue
            conn = key.fileobj
            try:
                data = conn.recv(READ_SIZE)
            except OSError:
                data = b""
            if not data:
                sel.unregister(conn)
                held.remove(conn)
                conn.close()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
