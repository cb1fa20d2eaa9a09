#!/bin/bash
# t_world.sh - prove the integration-test world itself works.
#
# Checks, on loopback inside the private network namespace: unbound serves
# MX/A records with their own TTLs, a null MX, NXDOMAIN and REFUSED, and can be
# restarted with new data on the same port; smtp-sink stores what swaks sends
# and honours extra options; the black hole accepts TCP and stays silent;
# smtpraw.py meets and fails expectations; and cleanup leaves no process.
. "$BMX_ROOT/tests/lib/world.sh"
world_init
S='[[:space:]]+'

# --- the namespace ---
links=$(ip -o link | awk -F': ' '{ print $2 }' | tr '\n' ' ')
t_is "only lo exists in the namespace" "$links" "lo "

# --- ports ---
P1=$(world_free_port)
P2=$(world_free_port)
t_like "world_free_port prints a port" "$P1" '^[0-9]+$'
[ "$P1" != "$P2" ] && t_ok "world_free_port never hands out a port twice" ||
	t_fail "world_free_port never hands out a port twice" "$P1 $P2"
if world_wait_port 127.0.0.1 "$P1" 1; then
	t_fail "world_wait_port fails when nothing listens"
else
	t_ok "world_wait_port fails when nothing listens"
fi

# --- DNS ---
world_dns_start <<'EOF'
local-zone: "example.test." static
local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "example.test. 3600 IN MX 10 mx1.example.test."
local-data: "example.test. 3600 IN MX 20 mx2.example.test."
local-data: "mx1.example.test. 300 IN A 127.0.0.2"
local-data: "mx2.example.test. 300 IN A 127.0.0.3"
local-zone: "nullmx.test." static
local-data: "nullmx.test. 1800 IN SOA ns.nullmx.test. h.nullmx.test. 1 3600 900 604800 300"
local-data: "nullmx.test. 1800 IN MX 0 ."
local-zone: "refused.test." refuse
EOF
t_like "RESOLVER is set" "$RESOLVER" '^127\.0\.0\.1@[0-9]+$'
out=$(world_dig example.test MX +noall +answer)
t_like "MX served with TTL 3600" "$out" \
	"^example\.test\.${S}3600${S}IN${S}MX${S}10 mx1\.example\.test\.\$"
t_like "second MX served" "$out" "MX${S}20 mx2\.example\.test\.\$"
out=$(world_dig mx1.example.test A +noall +answer)
t_like "A served with TTL 300" "$out" "^mx1\.example\.test\.${S}300${S}IN${S}A${S}127\.0\.0\.2\$"
out=$(world_dig nullmx.test MX +noall +answer)
t_like "null MX served" "$out" "^nullmx\.test\.${S}1800${S}IN${S}MX${S}0 \.\$"
out=$(world_dig nothere.example.test A)
t_like "NXDOMAIN for a missing name" "$out" 'status: NXDOMAIN'
t_like "NXDOMAIN carries the zone SOA" "$out" "example\.test\.${S}300${S}IN${S}SOA"
out=$(world_dig www.refused.test A)
t_like "REFUSED for a refuse zone" "$out" 'status: REFUSED'
out=$(world_dig www.example.com A)
t_like "names outside the test zones fail at once (no packet leaves)" "$out" \
	'status: SERVFAIL'

old_port=$DNS_PORT
old_dns=$DNS_PID
world_dns_start <<'EOF'
local-zone: "example.test." static
local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 2 3600 900 604800 300"
local-data: "example.test. 60 IN MX 5 other.example.test."
EOF
t_is "a second world_dns_start keeps DNS_PORT" "$DNS_PORT" "$old_port"
out=$(world_dig example.test MX +short)
t_is "a second world_dns_start serves the new data" "$out" "5 other.example.test."
world_alive "$old_dns" && t_fail "the first unbound was stopped" ||
	t_ok "the first unbound was stopped"

# --- smtp-sink as the primary ---
world_sink_start 127.0.0.2 "$P1"
sink1=$SINK_PID
sinkdir1=$SINK_DIR
token=world-$RANDOM$RANDOM
out=$(world_swaks 127.0.0.2 "$P1" --to r1@example.test --header "X-Token: $token" \
	--body "body $token" 2>&1)
t_like "swaks gets 250 after DATA from smtp-sink" "$out" '^<- +250 2\.0\.0 Ok'
t_is "smtp-sink dumped one message" "$(world_sink_count)" 1
dump=$(cat "$sinkdir1"/* 2>/dev/null)
t_like "the dump holds the body" "$dump" "^body $token"
t_like "the dump holds the envelope recipient" "$dump" '^X-Rcpt-Args: <r1@example\.test>'
t_like "the dump holds the envelope sender" "$dump" '^X-Mail-Args: <sender@client\.test>'

world_sink_start 127.0.0.3 "$P1" -r RCPT
sink2=$SINK_PID
out=$(world_swaks 127.0.0.3 "$P1" 2>&1)
t_like "extra smtp-sink options apply (-r RCPT gives 4xx)" "$out" '^<~?\*\* +4[0-9][0-9] '
[ "$SINK_DIR" != "$sinkdir1" ] && t_ok "each sink gets its own SINK_DIR" ||
	t_fail "each sink gets its own SINK_DIR"

# --- smtpraw.py ---
out=$(world_smtpraw 127.0.0.2 "$P1" <<'EOF' 2>&1
expect 220
send b"EHLO client.test\r\n"
expect 250 PIPELINING
# pipelined envelope and data in one write
send b"MAIL FROM:<a@client.test>\r\n" b"RCPT TO:<raw@example.test>\r\n" b"DATA\r\n"
expect_count 2 250
expect 354
send b"Subject: raw\r\n\r\nraw body\r\n.\r\n"
expect 250
send b"QUIT\r\n"
expect 221
expect_close
EOF
)
rc=$?
t_is "smtpraw runs a pipelined transaction" "$rc" 0
t_like "smtpraw prints the server replies" "$out" '^S: 354 '
t_is "the raw message reached the sink" "$(world_sink_count "$sinkdir1")" 2
out=$(printf 'expect 220\nsend b"NOOP\\r\\n"\nexpect 500\n' | world_smtpraw 127.0.0.2 "$P1" 2>&1)
t_is "smtpraw exits 1 on an unmet expectation" "$?" 1
t_like "smtpraw says which line failed" "$out" 'FAILED at line 3'
out=$(printf 'expect 220\n' | world_smtpraw --timeout 1 127.0.0.2 "$P2" 2>&1)
t_is "smtpraw exits 3 when nobody listens" "$?" 3

# --- the black hole ---
world_blackhole_start 127.0.0.4 "$P2"
bh=$BH_PID
out=$(printf 'expect_silence 2\nsend b"EHLO x\\r\\n"\nexpect_silence 0.5\n' |
	world_smtpraw 127.0.0.4 "$P2" 2>&1)
t_is "the black hole accepts TCP and sends no banner within 2 s" "$?" 0

# --- world_bg and world_kill ---
world_bg sleep 300
bg=$BG_PID
world_kill "$bg"
world_alive "$bg" && t_fail "world_kill stops a process" || t_ok "world_kill stops a process"

# --- cleanup ---
world_bg bash -c 'sleep 300 & wait'
bgtree=$BG_PID
sleep 0.2
child=$(pgrep -P "$bgtree" sleep | head -n 1)
dns=$DNS_PID
wdir=$W
world_cleanup
left=""
for p in "$dns" "$sink1" "$sink2" "$bh" "$bgtree" $child; do
	[ -n "$p" ] && world_alive "$p" && left="$left $p:$(tr '\0' ' ' <"/proc/$p/cmdline")"
done
t_is "after cleanup no process of ours remains" "$left" ""
[ -n "$child" ] && t_ok "a background process's children are found" ||
	t_fail "a background process's children are found"
[ -e "$wdir" ] && t_fail "cleanup removes \$W" || t_ok "cleanup removes \$W"
t_done
