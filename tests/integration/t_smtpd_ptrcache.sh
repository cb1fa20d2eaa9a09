#!/bin/bash
# t_smtpd_ptrcache.sh - the client's reverse name in the Received header, and
# the one-minute cache of reverse names (src/smtp/ptrcache.c): once a PTR
# answer is known, the next connection from that address gets the name at
# once, even with the DNS server gone; another address does not.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"

bmxd_world_dns <<'EOF'
local-zone: "127.in-addr.arpa." static
local-data: "127.in-addr.arpa. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "1.0.0.127.in-addr.arpa. 300 IN PTR ptr-one.client.test."
local-data: "9.0.0.127.in-addr.arpa. 300 IN PTR ptr-nine.client.test."
EOF
bmxd_config </dev/null
bmxd_start || { t_fail "daemon start"; t_done; }
P=$BMX_PORT

# Send one message from SRC; WAIT seconds after the banner (for the lookup).
# Prints the Received header's "from" part of the stored file.
send_from()
{
	local src=$1 wait=$2 out qid
	out=$(world_smtpraw --source "$src" 127.0.0.3 "$P" <<SCR
expect 220
sleep $wait
send b"EHLO client.test\r\n"
expect 250
send b"MAIL FROM:<s@client.test>\r\nRCPT TO:<r@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 354
send b"Subject: ptr\r\n\r\nbody\r\n.\r\n"
expect 250 2.0.0 Ok: queued as
send b"QUIT\r\n"
expect 221
SCR
) || { t_diag "$out"; return 1; }
	qid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' | head -1)
	tr -d '\000' < "$BMX_SPOOL/queue/$qid" | grep -m1 '^Received: from'
}

r=$(send_from 127.0.0.1 1)
t_like "Received carries the PTR name" "$r" '^Received: from client\.test \(ptr-one\.client\.test \[127\.0\.0\.1\]\)'
t_is "the first connection looked the name up" \
	"$(grep -c '127\.0\.0\.1: reverse name "ptr-one\.client\.test" (ok)' "$BMXD_LOG")" 1

world_dns_stop
r=$(send_from 127.0.0.1 0)
t_like "DNS gone: the cached name is used at once" "$r" '\(ptr-one\.client\.test \[127\.0\.0\.1\]\)'
t_is "the second connection took it from the cache, no query" \
	"$(grep -c '127\.0\.0\.1: reverse name "ptr-one\.client\.test" (cached)' "$BMXD_LOG")" 1
t_is "still only one lookup for 127.0.0.1" \
	"$(grep -c '127\.0\.0\.1: reverse name "ptr-one\.client\.test" (ok)' "$BMXD_LOG")" 1
r=$(send_from 127.0.0.9 1)
t_like "DNS gone: an address never looked up reads unknown" "$r" '\(unknown \[127\.0\.0\.9\]\)'
t_done
