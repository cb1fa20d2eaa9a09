#!/bin/bash
# t_milter.sh - the milter client (issue 14) with the primary down, so that
# mail is stored: a small milter of our own (tests/lib/fakemilter.py, one
# per mode) sees the envelope, the headers (without a forged
# Authentication-Results of ours) and the body in chunks; its verdict comes
# at the final dot, before the 250: accept (stored), reply code (refused,
# nothing stored), discard (250, nothing stored), two milters in order, and
# milter_default_action for a milter that is down, answers garbage or
# hangs past milter_content_timeout.  Both answer styles: a reply to every
# command, and rspamd's "only at the end of the message" (--noreply).
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have swaks || t_skip_all "swaks is not installed"
bmxd_world_dns <<EOD
local-zone: "client.test." static
local-data: "client.test. 3600 IN SOA ns.client.test. h.client.test. 1 3600 900 604800 300"
local-data: "client.test. 3600 IN MX 10 mx.client.test."
local-data: "mx.client.test. 300 IN A 127.0.0.4"
EOD

# Start a fake milter in MODE (extra args after it); sets M_PORT, M_LOG.
milter_start()
{
	local mode=$1
	shift
	M_PORT=$(world_free_port)
	M_LOG=$W/milter.$mode.$M_PORT.log
	: >"$M_LOG"
	world_bg "$WORLD_PY" "$WORLD_LIB/fakemilter.py" --listen "127.0.0.1:$M_PORT" --log "$M_LOG" \
		--mode "$mode" "$@"
	world_wait_until 5 grep -q listening "$BG_LOG" || t_fail "fakemilter $mode did not start"
}
# (Re)start backupmxd with these milters and extra keys (stdin).
start_bmxd()
{
	bmxd_stop 2>/dev/null
	cat "$W/backupmxd.log" >>"$W/backupmxd.all.log" 2>/dev/null
	: >"$W/backupmxd.log"
	bmxd_relay_config
	bmxd_start
}
# Send one message with SUBJECT (and an optional body file); prints swaks' output.
send() { world_swaks 127.0.0.3 "$BMX_PORT" --from s@client.test --to a@example.test \
	--header "Subject: $1" ${2:+--body "$(cat "$2")"} 2>&1; }
# The reply to the final dot in swaks output.
dot_reply() { awk '/^ *-> \.$/ { getline; print; exit }' <<<"$1"; }
queued() { bmxd_queue_files | wc -l; }

# ---- accept, with an answer to every command ---------------------------------------
milter_start accept
A_PORT=$M_PORT A_LOG=$M_LOG
start_bmxd <<CF || { t_fail "daemon start"; t_done; }
milters = inet:127.0.0.1:$A_PORT
CF
q0=$(queued)
{ printf 'Authentication-Results: mx2.example.test; spf=pass smtp.mailfrom=s@client.test\r\n'
  printf 'X-Other: yes\r\n\r\n'
  head -c 150000 /dev/zero | tr '\0' 'a' | fold -w 76; } >"$W/big.eml"
out=$(world_swaks 127.0.0.3 "$BMX_PORT" --from s@client.test --to a@example.test \
	--data "$W/big.eml" 2>&1)
t_like "accept: the message is stored after the milter's verdict" "$(dot_reply "$out")" \
	'^<- +250 2\.0\.0 Ok: queued as'
t_is "... one more queue file" "$(queued)" $((q0 + 1))
ml=$(cat "$A_LOG")
t_like "the milter got OPTNEG, the connect macros and CONNECT" "$ml" '^D C .*j mx2\.example\.test'
t_like "... CONNECT with the client's address" "$ml" '^C .*127\.0\.0\.1'
t_like "... HELO" "$ml" '^H client\.test'
t_like "... MAIL with the sender" "$ml" '^M <s@client\.test>'
t_like "... RCPT" "$ml" '^R <a@example\.test>'
t_like "... the other header" "$ml" '^L X-Other\|yes'
t_unlike "... but not our forged Authentication-Results (removed before)" "$ml" '^L Authentication-Results'
t_like "... the end of the headers" "$ml" '^N'
n=$(grep -c '^B ' "$A_LOG")
[ "$n" -ge 3 ] && t_ok "... the body in chunks of at most 65535 ($n chunks)" ||
	t_fail "... the body in chunks" "$(grep '^B ' "$A_LOG")"
t_like "... all of it, then the end of the message" "$ml" '^E body=15[0-9]{4}'
qf=$(ls -t "$BMX_SPOOL"/queue/* 2>/dev/null | head -1)
hdrs=$(tr -d '\000' <"$qf" 2>/dev/null | sed -n '/^Received: from/,/^\r\?$/p')
t_like "the milter's inserted header is in the stored message" "$hdrs" '^X-Fake: checked'
t_is "... right after our Received: header (index 1)" \
	"$(printf '%s\n' "$hdrs" | grep -v '^[[:space:]]' | sed -n 2p | tr -d '\r')" "X-Fake: checked"
t_like "... and the log says so" "$(cat "$BMXD_LOG")" '1 header change\(s\) from the milters applied'

# ---- gtube and discard, rspamd style (answers only at the end) ----------------------
milter_start gtube --noreply
G_PORT=$M_PORT
milter_start discard --noreply
D_PORT=$M_PORT
start_bmxd <<CF || { t_fail "daemon restart"; t_done; }
milters = inet:127.0.0.1:$G_PORT
CF
printf 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n' >"$W/gtube.txt"
q0=$(queued)
out=$(send "gtube" "$W/gtube.txt")
t_like "gtube: refused at the final dot with the milter's reply" "$(dot_reply "$out")" \
	'^<\*\* +554 5\.7\.1 Fake says no'
t_is "... nothing stored" "$(queued)" "$q0"
out=$(send "ham")
t_like "ham through the same milter: stored" "$(dot_reply "$out")" '^<- +250 2\.0\.0 Ok: queued as'
start_bmxd <<CF || { t_fail "daemon restart"; t_done; }
milters = inet:127.0.0.1:$D_PORT
CF
q0=$(queued)
out=$(send "discard me")
t_like "discard: 250, and nothing stored" "$(dot_reply "$out")" '^<- +250 2\.0\.0 Ok: discarded'
t_is "... nothing stored" "$(queued)" "$q0"
t_like "... logged as status=discarded" "$(cat "$BMXD_LOG")" 'status=discarded'

# ---- two milters in order: the second refuses --------------------------------------
milter_start reject
R_PORT=$M_PORT
start_bmxd <<CF || { t_fail "daemon restart"; t_done; }
milters = inet:127.0.0.1:$A_PORT, inet:127.0.0.1:$R_PORT
CF
q0=$(queued)
out=$(send "two milters")
t_like "two milters: the second's refusal wins over the first's accept" "$(dot_reply "$out")" \
	'^<\*\* +554 5\.7\.1 Fake says no'
t_is "... nothing stored" "$(queued)" "$q0"

# ---- milter_default_action: down, garbage, hang ------------------------------------
DEAD=$(world_free_port)
for action in tempfail accept reject; do
	start_bmxd <<CF || { t_fail "daemon restart"; continue; }
milters = inet:127.0.0.1:$DEAD
milter_default_action = $action
CF
	q0=$(queued)
	out=$(send "down $action")
	case $action in
	tempfail) want='^<\*\* +451 4\.7\.1'; n=$q0 ;;
	accept) want='^<- +250 2\.0\.0 Ok: queued as'; n=$((q0 + 1)) ;;
	reject) want='^<\*\* +550 5\.7\.1'; n=$q0 ;;
	esac
	t_like "a milter that is down, milter_default_action = $action" "$(dot_reply "$out")" "$want"
	t_is "... stored only with accept ($action)" "$(queued)" "$n"
done
milter_start garbage --noreply
start_bmxd <<CF || { t_fail "daemon restart"; t_done; }
milters = inet:127.0.0.1:$M_PORT
CF
out=$(send "garbage")
t_like "a milter that answers garbage: tempfail (the default)" "$(dot_reply "$out")" \
	'^<\*\* +451 4\.7\.1'
milter_start hang --noreply
start_bmxd <<CF || { t_fail "daemon restart"; t_done; }
milters = inet:127.0.0.1:$M_PORT
milter_content_timeout = 2
CF
t0=$SECONDS
out=$(send "hang")
t_like "a milter that never answers the end of the message: tempfail" "$(dot_reply "$out")" \
	'^<\*\* +451 4\.7\.1'
[ $((SECONDS - t0)) -le 8 ] && t_ok "... after milter_content_timeout ($((SECONDS - t0)) s)" ||
	t_fail "... after milter_content_timeout" "$((SECONDS - t0)) s"
t_like "... and the log says why" "$(cat "$BMXD_LOG")" 'no answer in time'

# ---- bounce_policy = authenticated, end to end --------------------------------------
# the milter authenticates the sender (an Authentication-Results of ours with
# spf=pass, like rspamd); the primary then refuses a@example.test: the sender
# gets a DSN.  Without it (the accept mode), the DSN is suppressed.
world_sink_start 127.0.0.4 "$BMX_PORT"
DSN_DIR=$SINK_DIR
milter_start auth --noreply
AU_PORT=$M_PORT
start_bmxd <<CF || { t_fail "daemon restart"; t_done; }
milters = inet:127.0.0.1:$AU_PORT
CF
out=$(send "auth")
t_like "auth: stored" "$(dot_reply "$out")" '^<- +250 2\.0\.0 Ok: queued as'
qf=$(ls -t "$BMX_SPOOL"/queue/* 2>/dev/null | head -1)
q=$(tr -d '\000' <"$qf" 2>/dev/null)
t_like "auth: the milter's Authentication-Results is stored" "$q" \
	'^Authentication-Results: mx2\.example\.test;'
t_like "auth: the queue file records the sender as authenticated" "$q" '^A 1'
t_like "auth: logged" "$(cat "$BMXD_LOG")" 'applied; sender authenticated'
world_bg "$WORLD_PY" "$WORLD_LIB/mxpeer.py" --listen 127.0.0.2:"$BMX_PORT" \
	--domain example.test --user alice --pipelining --name mx1.example.test
PEER_PID=$BG_PID
world_wait_port 127.0.0.2 "$BMX_PORT" || t_fail "mxpeer did not start"
start_bmxd <<CF || { t_fail "daemon restart"; t_done; }
milters = inet:127.0.0.1:$AU_PORT
primary_up = queue
CF
"$BMX" --control "$BMX_SPOOL/control.sock" flush >/dev/null 2>&1
world_wait_until 20 world_sink_has 1 "$DSN_DIR"
t_is "auth: the primary refused a@example.test; the authenticated sender got a DSN" \
	"$(world_sink_count "$DSN_DIR")" 1
rm -f "$DSN_DIR"/*
start_bmxd <<CF || { t_fail "daemon restart"; t_done; }
milters = inet:127.0.0.1:$A_PORT
primary_up = queue
CF
out=$(send "not auth")
t_like "not authenticated: stored" "$(dot_reply "$out")" '^<- +250 2\.0\.0 Ok: queued as'
sup() { grep -q 'DSN suppressed: sender not authenticated' "$BMXD_LOG"; }
world_wait_until 20 sup
t_like "not authenticated: the refusal's DSN is suppressed" "$(cat "$BMXD_LOG")" \
	'status=bounced \(DSN suppressed: sender not authenticated\)'
sleep 1
t_is "... and no DSN reached the sender's MX" "$(world_sink_count "$DSN_DIR")" 0
world_kill "$PEER_PID"
bmxd_stop
t_done
