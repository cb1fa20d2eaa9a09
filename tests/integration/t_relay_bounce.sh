#!/bin/bash
# t_relay_bounce.sh - failures and bounces: the primary (mxpeer.py with one
# valid user) answers 5xx for one of two recipients: one is delivered, one
# DSN reaches the sender's own MX (a second smtp-sink on 127.0.0.4) and is
# parsed with dsncheck.py.  Then queue_lifetime expiry with the primary down
# gives a DSN with the expiry reason.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
bmxd_world_dns <<EOD
local-zone: "client.test." static
local-data: "client.test. 3600 IN SOA ns.client.test. h.client.test. 1 3600 900 604800 300"
local-data: "client.test. 3600 IN MX 10 mx.client.test."
local-data: "mx.client.test. 300 IN A 127.0.0.4"
EOD
# this test is about store and forward while the primary is up (primary_up's
# default, proxy, would pass the mail through live: t_proxy covers that), and
# about the DSNs themselves (bounce_policy's default sends none to a sender
# that no milter authenticated: the end of this test covers that)
bmxd_relay_config <<EOD
primary_up = queue
bounce_policy = always
queue_lifetime = 5
EOD

# The sender's MX captures DSNs.
world_sink_start 127.0.0.4 "$BMX_PORT"
DSN_DIR=$SINK_DIR
# The primary: a real-behaving MX that knows only alice.
world_bg "$WORLD_PY" "$WORLD_LIB/mxpeer.py" --listen 127.0.0.2:"$BMX_PORT" \
	--domain example.test --user alice --pipelining --name mx1.example.test
PEER_PID=$BG_PID
PEER_LOG=$BG_LOG
world_wait_port 127.0.0.2 "$BMX_PORT" || t_fail "mxpeer did not start" "$(cat "$PEER_LOG")"
bmxd_start || { t_fail "daemon start"; t_done; }

# Check the newest DSN in DSN_DIR: $1 = expected recipient, $2 = status regex, $3 = text.
check_dsn()
{
	local f j
	f=$(ls -t "$DSN_DIR"/* 2>/dev/null | head -1)
	[ -n "$f" ] || { t_fail "$3: no DSN captured"; return; }
	# smtp-sink dumps the envelope as X-Mail-Args / X-Rcpt-Args headers first.
	grep -Eqi '^X-Mail-Args: *(FROM:)?<>' "$f" && t_ok "$3: DSN sent from <>" ||
		t_fail "$3: DSN envelope sender is not <>" "$(head -5 "$f")"
	grep -Eqi '^X-Rcpt-Args: *(TO:)?<s@client.test>' "$f" && t_ok "$3: DSN to the sender" ||
		t_fail "$3: DSN not addressed to s@client.test" "$(head -5 "$f")"
	if ! j=$(sed -n '/^X-Rcpt-Args/,$p' "$f" | tail -n +2 |
		"$WORLD_PY" "$WORLD_LIB/dsncheck.py" 2>"$W/dsncheck.err"); then
		t_fail "$3: dsncheck rejects the DSN" "$(cat "$W/dsncheck.err"; head -60 "$f")"
		return
	fi
	t_diag "$3: $j"
	printf '%s' "$j" | "$WORLD_PY" -c '
import json, re, sys
d = json.load(sys.stdin)
rs = d["recipients"]
assert len(rs) == 1, "recipient groups: %d" % len(rs)
r = rs[0]
assert r["action"] == "failed", r["action"]
assert re.match(sys.argv[2], r["status"]), r["status"]
assert sys.argv[1] in (r["final_recipient"] or ""), r["final_recipient"]
if sys.argv[3] == "remote":
    assert r["remote_mta"] and "mx1.example.test" in r["remote_mta"], r["remote_mta"]
    assert r["diagnostic_code"] and "550" in r["diagnostic_code"], r["diagnostic_code"]
assert d["has_original_headers"], "no original headers"
' "$1" "$2" "$4" 2>"$W/assert.err" && t_ok "$3: DSN fields are right" ||
		t_fail "$3: DSN fields" "$(cat "$W/assert.err")"
}

printf '%s\n' "Subject: two rcpts" "" "hello" >"$W/body"
world_swaks 127.0.0.3 "$BMX_PORT" --from s@client.test \
	--to alice@example.test,bob@example.test --data "$W/body" >"$W/swaks1.log" 2>&1 &&
	t_ok "message for alice and bob accepted" || t_fail "swaks" "$(tail "$W/swaks1.log")"
world_wait_until 15 world_sink_has 1 "$DSN_DIR"
sleep 1
t_is "exactly one DSN" "$(world_sink_count "$DSN_DIR")" 1
grep -q 'status=sent' "$BMXD_LOG" && t_ok "alice: status=sent" || t_fail "alice not sent"
grep -Eq 'to=<bob@example.test>.*status=bounced' "$BMXD_LOG" && t_ok "bob: status=bounced" ||
	t_fail "bob not bounced" "$(grep -i bob "$BMXD_LOG" | tail -5)"
grep -Eq 'accepted|message' "$PEER_LOG" && t_diag "peer: $(grep -ci 'accept' "$PEER_LOG") accept lines"
check_dsn bob@example.test '^5\.[0-9]+\.[0-9]+$' "5xx" remote
t_is "queue empty after the 5xx case" "$(bmxd_queue_files | wc -l)" 0

# Lifetime expiry: the primary goes away, queue_lifetime = 5 s.
world_kill "$PEER_PID"
rm -f "$DSN_DIR"/*
world_swaks 127.0.0.3 "$BMX_PORT" --from s@client.test --to alice@example.test \
	--data "$W/body" >"$W/swaks2.log" 2>&1 && t_ok "message accepted with the primary down" ||
	t_fail "swaks" "$(tail "$W/swaks2.log")"
t0=$SECONDS
world_wait_until 60 world_sink_has 1 "$DSN_DIR"
t_diag "expiry DSN after $((SECONDS - t0)) s (lifetime 5 s; sweep interval applies)"
t_is "one expiry DSN" "$(world_sink_count "$DSN_DIR")" 1
check_dsn alice@example.test '^4\.4\.[0-9]+$|^5\.4\.[0-9]+$' "expiry" none
f=$(ls -t "$DSN_DIR"/* 2>/dev/null | head -1)
grep -Eiq 'expire|lifetime|too long|queue' "$f" && t_ok "expiry DSN states the reason" ||
	t_fail "no expiry reason in the DSN" "$(head -40 "$f")"
sleep 1
t_is "queue empty after expiry" "$(bmxd_queue_files | wc -l)" 0

# bounce_policy: the default (authenticated) and never send no DSN to a
# sender that was not authenticated at arrival (no milter here: nobody is)
world_bg "$WORLD_PY" "$WORLD_LIB/mxpeer.py" --listen 127.0.0.2:"$BMX_PORT" \
	--domain example.test --user alice --pipelining --name mx1.example.test
PEER_PID=$BG_PID
world_wait_port 127.0.0.2 "$BMX_PORT" || t_fail "mxpeer did not start again"
for policy in authenticated never; do
	bmxd_stop
	HP=$(world_free_port)
	sed -i -e '/^bounce_policy = /d' -e '/^status_listen = /d' "$W/bmx.conf"
	[ "$policy" = never ] && echo "bounce_policy = never" >>"$W/bmx.conf"
	echo "status_listen = 127.0.0.3:$HP" >>"$W/bmx.conf"
	: >"$BMXD_LOG"
	bmxd_start || { t_fail "daemon restart ($policy)"; continue; }
	rm -f "$DSN_DIR"/*
	world_swaks 127.0.0.3 "$BMX_PORT" --from s@client.test --to bob@example.test \
		--data "$W/body" >"$W/swaks3.log" 2>&1 && t_ok "$policy: message for bob accepted" ||
		t_fail "swaks" "$(tail "$W/swaks3.log")"
	sup() { grep -Eq 'to=<bob@example.test>, status=bounced \(DSN suppressed' "$BMXD_LOG"; }
	world_wait_until 15 sup
	want='sender not authenticated'
	[ "$policy" = never ] && want='bounce_policy = never'
	t_like "$policy: bob's 5xx is logged as bounced, DSN suppressed" "$(cat "$BMXD_LOG")" \
		"to=<bob@example\\.test>, status=bounced \\(DSN suppressed: $want\\)"
	sleep 2
	t_is "$policy: no DSN reached the sender's MX" "$(world_sink_count "$DSN_DIR")" 0
	m=$(curl -sS --max-time 5 "http://127.0.0.3:$HP/metrics" 2>/dev/null |
		awk '$1 == "backupmx_dsn_suppressed_total" { print $2 }')
	t_is "$policy: backupmx_dsn_suppressed_total counts it" "$m" 1
	h=$(curl -sS --max-time 5 "http://127.0.0.3:$HP/history.json" 2>/dev/null)
	t_like "$policy: the history shows bob's DSN suppressed" "$h" \
		'"recipient": *"bob@example.test", *"status": *"suppressed"'
	t_is "$policy: queue empty" "$(bmxd_queue_files | wc -l)" 0
done
world_kill "$PEER_PID"
t_done
