#!/bin/bash
# t_relay_xclient.sh - queued deliveries tell the primary each message's
# original client with XCLIENT (issue 14), against a fake primary that
# answers XCLIENT the way Postfix 3.7 does (diemx.py: a new 220, then no
# XCLIENT offered and a second one refused with 550 5.7.0):
#   A. two messages of one client share a connection with one XCLIENT (ADDR,
#      NAME=[UNAVAILABLE], HELO) and an EHLO with the client's HELO, and no
#      XFORWARD; a third client gets a connection of its own;
#   B. XCLIENT refused with 550: each message goes with XFORWARD instead, the
#      connection ends after it, and backupmxd logs the refusal;
#   C. XCLIENT answered 450: the message is deferred, not sent as the
#      backup; once the primary accepts XCLIENT again, it goes as its client.
#
# World (one network namespace from tests/run):
#   127.0.0.1:DNS_PORT  unbound: example.test MX 10 mx1 (127.0.0.2), MX 20
#                       mx2 (127.0.0.3)
#   127.0.0.2:BMX_PORT  diemx.py --offer xclient,xforward (restarted per part)
#   127.0.0.3:BMX_PORT  backupmxd, primary_up = queue, max_concurrency = 1
#   127.0.0.77, .78     the clients (swaks), no PTR: NAME=[UNAVAILABLE]
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have swaks || t_skip_all "swaks is not installed"
CTL=(--control "$W/spool/control.sock")
EV_DIR=$W/diemx
EV=$EV_DIR/events.log

bmxd_world_dns </dev/null
bmxd_relay_config <<CF
primary_up = queue
max_concurrency = 1
bind_address = 127.0.0.3
CF
bmxd_start || t_done

# primary_start [diemx args]: (re)start the fake primary with a fresh event log.
PRIMARY_PID=""
primary_start()
{
	[ -n "$PRIMARY_PID" ] && world_kill "$PRIMARY_PID"
	rm -rf "$EV_DIR"
	world_bg "$WORLD_PY" "$WORLD_LIB/diemx.py" --listen 127.0.0.2:"$BMX_PORT" --dir "$EV_DIR" \
		--offer xclient,xforward --name mx1.example.test "$@"
	PRIMARY_PID=$BG_PID
	world_wait_port 127.0.0.2 "$BMX_PORT" 10 || t_fail "the fake primary starts"
}
# send SRC HELO SUBJECT: one message from client SRC through backupmxd.
send()
{
	world_swaks 127.0.0.3 "$BMX_PORT" --local-interface "$1" --helo "$2" \
		--to r@example.test --header "Subject: $3" >"$W/swaks.log" 2>&1 ||
		t_fail "swaks from $1 is accepted" "$(tail -5 "$W/swaks.log")"
}
hold() { "$BMX" hold "${CTL[@]}" example.test >>"$W/ctl.log" 2>&1; }
release() { "$BMX" release "${CTL[@]}" example.test >>"$W/ctl.log" 2>&1; }
flush() { "$BMX" flush "${CTL[@]}" >>"$W/ctl.log" 2>&1; }
# shellcheck disable=SC2317 # world_wait_until calls it
messages_seen() { [ "$(grep -c ' message ' "$EV" 2>/dev/null)" -ge "$1" ]; }
# cmds N: the commands of session N of the fake primary, one a line.
cmds() { sed -n "s/^$1 cmd //p" "$EV"; }
# The session numbers that carried a message.
msg_sessions() { awk '$2 == "message" { print $1 }' "$EV" | sort -un | tr '\n' ' '; }

# ---- A: XCLIENT per client, one connection per client -----------------------------
primary_start
hold || t_fail "hold example.test" "$(cat "$W/ctl.log")"
send 127.0.0.77 client.test "A1"
send 127.0.0.77 client.test "A2"
send 127.0.0.78 other.test "A3"
t_is "A: three messages queued while held" "$(bmxd_queue_files | wc -l)" 3
release
world_wait_until 20 messages_seen 3
world_wait_until 10 bmxd_queue_empty
t_is "A: all three delivered" "$(grep -c ' message ' "$EV")" 3
s=$(msg_sessions)
t_is "A: on two connections" "$(wc -w <<<"$s")" 2
read -r s1 s2 <<<"$s"
c1=$(cmds "${s1:-0}")
c2=$(cmds "${s2:-0}")
t_diag "session $s1:" "$c1" "session $s2:" "$c2"
t_like "A: the first: XCLIENT with the client's ADDR, NAME and HELO" "$c1" \
	'^XCLIENT ADDR=127\.0\.0\.77 NAME=\[UNAVAILABLE\] HELO=client\.test$'
t_like "A: ... then EHLO with the client's HELO" "$(grep -A1 '^XCLIENT' <<<"$c1")" \
	'^EHLO client\.test$'
t_is "A: ... one XCLIENT for both messages of 127.0.0.77" "$(grep -c '^XCLIENT' <<<"$c1")" 1
t_is "A: ... two transactions" "$(grep -c '^MAIL FROM' <<<"$c1")" 2
t_unlike "A: ... no XFORWARD after XCLIENT" "$c1" '^XFORWARD'
t_like "A: the second connection is 127.0.0.78's" "$c2" \
	'^XCLIENT ADDR=127\.0\.0\.78 NAME=\[UNAVAILABLE\] HELO=other\.test$'
t_like "A: ... EHLO other.test" "$c2" '^EHLO other\.test$'
t_unlike "A: no XCLIENT was refused" "$(cat "$W/backupmxd.log")" 'XCLIENT refused'

# ---- B: XCLIENT refused (550): XFORWARD, one connection per message ------------------
primary_start --xclient-reply "550 5.7.0 Error: insufficient authorization"
hold
send 127.0.0.77 client.test "B1"
send 127.0.0.77 client.test "B2"
release
world_wait_until 20 messages_seen 2
world_wait_until 10 bmxd_queue_empty
t_is "B: both delivered" "$(grep -c ' message ' "$EV")" 2
s=$(msg_sessions)
t_is "B: each on its own connection (a refused XCLIENT ends it)" "$(wc -w <<<"$s")" 2
c1=$(cmds "$(cut -d' ' -f1 <<<"$s")")
t_diag "first session:" "$c1"
t_like "B: XCLIENT, refused, then XFORWARD with the client" "$(tr '\n' '|' <<<"$c1")" \
	'XCLIENT ADDR=127\.0\.0\.77 [^|]*\|XFORWARD NAME=\[UNAVAILABLE\] ADDR=127\.0\.0\.77\|XFORWARD HELO=client\.test IDENT=[0-9A-Za-z]+ SOURCE=REMOTE\|MAIL FROM'
t_like "B: backupmxd logged the refusal" "$(cat "$W/backupmxd.log")" \
	'XCLIENT refused by mx1\.example\.test\[127\.0\.0\.2\]:[0-9]+ \(550 5\.7\.0 Error: insufficient authorization\): delivered with XFORWARD'

# ---- C: XCLIENT answered 450: deferred, later sent as the client ----------------------
primary_start --xclient-reply "450 4.7.1 Try again later"
send 127.0.0.77 client.test "C1"
# shellcheck disable=SC2317 # world_wait_until calls it
deferred_logged() { grep -q 'said to XCLIENT: 450 4\.7\.1' "$W/backupmxd.log"; }
world_wait_until 15 deferred_logged
t_like "C: 450 to XCLIENT defers the message" "$(cat "$W/backupmxd.log")" \
	'deferred: mx1\.example\.test\[127\.0\.0\.2\]:[0-9]+ said to XCLIENT: 450 4\.7\.1 Try again later'
t_is "C: ... it stays queued" "$(bmxd_queue_files | wc -l)" 1
t_is "C: ... no transaction reached the primary" "$(grep -c ' cmd MAIL' "$EV")" 0
primary_start
flush
world_wait_until 20 messages_seen 1
world_wait_until 10 bmxd_queue_empty
t_is "C: accepted later" "$(grep -c ' message ' "$EV")" 1
t_like "C: ... as its client (XCLIENT ADDR=127.0.0.77)" "$(cmds "$(msg_sessions | cut -d' ' -f1)")" \
	'^XCLIENT ADDR=127\.0\.0\.77 '
bmxd_stop
t_is "backupmxd exits cleanly" "$BMXD_RC" 0
t_done
