#!/usr/bin/python3
# xcsend.py - queue a backlog at a backup MX from many client addresses
# (bench/drain_xclient.sh).
#
#   xcsend.py HOST PORT MESSAGES CLIENTS
#
# Message i (4 KiB body) comes from client address 127.1.X.Y, the
# (i mod CLIENTS)-th counting from 127.1.0.1, with HELO c<k>.client.test,
# MAIL FROM:<s@client.test>, RCPT TO:<r@example.test>: one SMTP session per
# message, so consecutive messages come from different clients unless
# CLIENTS is 1.  Exit 1 on the first refusal.
import smtplib
import sys

host, port, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
body = "".join("%075d\r\n" % j for j in range(52))  # ~4 KiB
for i in range(n):
    c = i % k + 1
    src = "127.1.%d.%d" % (c // 250, c % 250 + 1)
    msg = ("From: s@client.test\r\nTo: r@example.test\r\nSubject: backlog %d\r\n\r\n%s"
           % (i, body))
    s = smtplib.SMTP(host, port, local_hostname="c%d.client.test" % c,
                     source_address=(src, 0), timeout=30)
    s.sendmail("s@client.test", ["r@example.test"], msg)
    s.quit()
