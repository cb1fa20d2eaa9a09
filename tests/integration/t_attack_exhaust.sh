#!/bin/bash
# t_attack_exhaust.sh - resource exhaustion against a real backupmxd: a
# connection flood past max_connections (other clients are served again
# afterwards), 10,000 RCPTs in one pipelined transaction (the
# max_recipients limit holds: 452), 200,000 header lines in one DATA, and a
# huge DATA stream (1 GB; EXHAUST_DATA_MB to change) refused with 552 after
# max_message_size.  The daemon's RSS (VmRSS) is recorded before and after
# and must not grow by more than 20 MiB.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
MAXCONN=40
MAXRCPT=100
DATA_MB=${EXHAUST_DATA_MB:-1024}
RSS_MAX_KB=$((20 * 1024))
bmxd_config <<CONF
max_connections = $MAXCONN
max_connections_per_ip = $MAXCONN
max_recipients = $MAXRCPT
max_message_size = 10M
command_timeout = 20
data_timeout = 20
CONF
# ASan keeps freed memory in a quarantine (256 MB by default) that would
# count in VmRSS; keep it small so the RSS bound measures the daemon.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
bmxd_start || { t_fail "daemon start"; t_done; }
P=$BMX_PORT

# VmRSS of the daemon in kB.
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$BMXD_PID/status" 2>/dev/null; }

cat >"$W/exh.py" <<'PY'
"""Attack helpers: flood, rcpts, headers, bigdata.  Prints key=value lines."""
import socket, sys, threading, time

HOST, PORT = "127.0.0.3", int(sys.argv[2])

def conn(src="127.0.0.1"):
    s = socket.create_connection((HOST, PORT), timeout=30, source_address=(src, 0))
    return s

class Reader:
    """Reads replies (final lines) from a socket."""
    def __init__(self, s):
        self.s, self.buf = s, b""
    def reply(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i < 0:
                d = self.s.recv(65536)
                if not d:
                    return None
                self.buf += d
                continue
            line, self.buf = self.buf[:i], self.buf[i + 2:]
            if line[3:4] != b"-":
                return line

def session_start(s):
    r = Reader(s)
    r.reply()
    s.sendall(b"EHLO flood.test\r\n")
    r.reply()
    return r

def flood(n):
    socks, codes = [], {}
    for i in range(n):
        try:
            s = conn("127.0.0.%d" % (10 + i % 200))
            s.settimeout(10)
            line = Reader(s).reply()
            c = line[:3].decode() if line else "close"
        except OSError as e:
            c = "err"
        codes[c] = codes.get(c, 0) + 1
        socks.append(s)
    print("flood=" + ",".join("%s:%d" % kv for kv in sorted(codes.items())))
    for s in socks:
        s.close()
    time.sleep(1)
    s = conn("127.0.0.5")
    r = session_start(s)
    s.sendall(b"MAIL FROM:<a@c.test>\r\n")
    print("after_flood_mail=" + r.reply()[:3].decode())
    s.close()

def rcpts(n):
    s = conn()
    r = session_start(s)
    s.sendall(b"MAIL FROM:<a@c.test>\r\n")
    r.reply()
    cmds = b"".join(b"RCPT TO:<u%d@example.test>\r\n" % i for i in range(n))
    t = threading.Thread(target=s.sendall, args=(cmds,), daemon=True)
    t.start()
    codes, got = {}, 0
    first_non250 = None
    while got < n:
        line = r.reply()
        if line is None:
            break
        c = line[:3].decode()
        codes[c] = codes.get(c, 0) + 1
        if c != "250" and first_non250 is None:
            first_non250 = got
        got += 1
        if c == "421":
            break
    print("rcpt_replies=%d" % got)
    print("rcpt_codes=" + ",".join("%s:%d" % kv for kv in sorted(codes.items())))
    print("rcpt_first_refused=%s" % first_non250)
    s.close()

def headers(n):
    s = conn()
    r = session_start(s)
    s.sendall(b"MAIL FROM:<a@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    r.reply(); r.reply(); r.reply()
    block = b"".join(b"X-H%d: v\r\n" % i for i in range(1000))
    t0 = time.time()
    for _ in range(n // 1000):
        s.sendall(block)
    s.sendall(b"\r\nbody\r\n.\r\n")
    line = r.reply()
    print("headers_reply=%s" % (line[:3].decode() if line else "close"))
    print("headers_seconds=%.1f" % (time.time() - t0))
    s.close()

def bigdata(mb):
    s = conn()
    r = session_start(s)
    s.sendall(b"MAIL FROM:<a@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    r.reply(); r.reply(); r.reply()
    line = b"y" * 1022 + b"\r\n"
    chunk = line * 1024          # 1 MiB
    t0 = time.time()
    sent = 0
    try:
        s.sendall(b"Subject: big\r\n\r\n")
        for _ in range(mb):
            s.sendall(chunk)
            sent += 1
        s.sendall(b".\r\n")
        rep = r.reply()
        rep = rep[:3].decode() if rep else "close"
    except OSError as e:
        rep = "closed-while-sending"
        try:
            rep2 = r.reply()
            if rep2:
                rep = rep2[:3].decode()
        except OSError:
            pass
    dt = time.time() - t0
    print("big_reply=%s" % rep)
    print("big_sent_mb=%d" % sent)
    print("big_seconds=%.1f" % dt)
    s.close()

globals()[sys.argv[1]](int(sys.argv[3]))
PY
ex() { timeout 600 "$WORLD_PY" "$W/exh.py" "$1" "$P" "$2"; }
val() { sed -n "s/^$1=//p" <<<"$2"; }

rss0=$(rss)
t_diag "RSS at start: ${rss0} kB"

# --- connection flood ---
out=$(ex flood $((MAXCONN * 3)))
t_diag "$out"
codes=$(val flood "$out")
t_like "flood: connections past max_connections refused with 421" "$codes" '421:[0-9]+'
t_like "flood: up to max_connections greeted with 220" "$codes" "220:$MAXCONN(,|$)"
t_is "flood: another client is served afterwards" "$(val after_flood_mail "$out")" 250

# --- 10,000 RCPTs ---
out=$(ex rcpts 10000)
t_diag "$out"
t_like "rcpts: exactly max_recipients ($MAXRCPT) accepted" "$(val rcpt_codes "$out")" \
	"(^|,)250:$MAXRCPT(,|$)"
t_is "rcpts: the first refusal is recipient $MAXRCPT" "$(val rcpt_first_refused "$out")" "$MAXRCPT"
t_like "rcpts: the rest get 452 (or 421 once errors pile up)" "$(val rcpt_codes "$out")" \
	'^(250:[0-9]+,)?(421:1,)?452:[0-9]+$|^250:[0-9]+,421:1$'
others=$(val rcpt_codes "$out" | tr ',' '\n' | cut -d: -f1 |
	grep -Ev '^(250|421|452)$' | tr '\n' ' ')
t_is "rcpts: nothing but 250/421/452" "$others" ""
rss1=$(rss)
t_diag "RSS after 10,000 RCPTs: ${rss1} kB"

# --- endless header lines ---
out=$(ex headers 200000)
t_diag "$out"
t_like "headers: 200,000 header lines get a definite reply" "$(val headers_reply "$out")" \
	'^(250|552|554|5[0-9][0-9]|4[0-9][0-9])$'
hdr_ok=0
[ "$(val headers_reply "$out")" = 250 ] && hdr_ok=1
rss2=$(rss)
t_diag "RSS after 200,000 header lines: ${rss2} kB"
[ $((rss2 - rss0)) -lt $RSS_MAX_KB ]
t_is "headers: RSS growth $((rss2 - rss0)) kB < $RSS_MAX_KB kB" "$?" 0

# --- a huge DATA stream ---
out=$(ex bigdata "$DATA_MB")
t_diag "$out"
t_is "bigdata: ${DATA_MB} MB DATA refused with 552" "$(val big_reply "$out")" 552
rss3=$(rss)
t_diag "RSS after ${DATA_MB} MB DATA: ${rss3} kB"
[ $((rss3 - rss0)) -lt $RSS_MAX_KB ]
t_is "bigdata: RSS growth $((rss3 - rss0)) kB < $RSS_MAX_KB kB" "$?" 0
t_is "bigdata: nothing left in the queue from the refused message" \
	"$(bmxd_queue_files | wc -l)" "$hdr_ok"

world_alive "$BMXD_PID"
t_is "daemon alive after the battery" "$?" 0
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 250
expect 354
send b"Subject: after\r\n\r\nok\r\n.\r\n"
expect 250
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "a normal client is still served after the battery" "$rc" 0 || t_diag "$out"
bmxd_stop
t_unlike "no sanitizer report" "$(cat "$BMXD_LOG")" 'ERROR: (Address|Leak)Sanitizer|runtime error:'
t_diag "RSS (kB): start $rss0, rcpts $rss1, headers $rss2, data $rss3"
t_done
