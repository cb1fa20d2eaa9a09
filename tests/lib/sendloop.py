#!/usr/bin/python3
"""sendloop.py - send messages continuously and record every acknowledged queue ID.

Usage: sendloop.py HOST PORT ACKFILE [SECONDS] [RCPT]

Connects to HOST:PORT, sends small messages one after another (reconnecting
after any failure, so a daemon that is killed and restarted is simply
retried), and appends the queue ID of every "250 ... queued as ID" reply to
ACKFILE, one per line, flushed at once.  Stops after SECONDS (default 60) or
on SIGTERM.  Used by the crash tests: every ID in ACKFILE must survive.
"""
import re
import signal
import smtplib
import sys
import time

def main():
    host, port, ackfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    rcpt = sys.argv[5] if len(sys.argv) > 5 else "u@example.test"
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    end = time.time() + seconds
    n = 0
    with open(ackfile, "a", encoding="ascii") as out:
        while not stop[0] and time.time() < end:
            try:
                s = smtplib.SMTP(host, port, timeout=5)
                s.ehlo("sendloop.test")
                while not stop[0] and time.time() < end:
                    n += 1
                    s.mail("loop@client.test")
                    s.rcpt(rcpt)
                    body = "Subject: crash test %d\r\nX-Seq: %d\r\n\r\n%s" % (n, n, ("x" * 70 + "\r\n") * 30)
                    code, msg = s.data(body.encode())
                    m = re.search(rb"queued as ([0-9A-Za-z]+)", msg)
                    if code == 250 and m:
                        out.write(m.group(1).decode() + "\n")
                        out.flush()
                s.quit()
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)
    return 0

if __name__ == "__main__":
    sys.exit(main())
