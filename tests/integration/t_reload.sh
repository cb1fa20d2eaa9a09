#!/bin/bash
# t_reload.sh - reloading the configuration without a restart (issue 17):
# SIGHUP and `backupmx reload` every 100 ms, alternating between two configs
# that both accept example.test, while smtp-source sends N messages: all N
# delivered exactly once, no 4xx/5xx.  Then: a config with an error is
# refused with file:line (exit 1) and the old one stays in force; a session
# in flight keeps the config it started under; a relay domain added by a
# reload is accepted at once; a removed domain's queued mail is still
# delivered; tls_cert and max_message_size added by a reload reach new
# sessions at once (STARTTLS, SIZE) but not one already open; dnsbl_sites
# and milters (rebuilt on every reload) take effect and go away with a
# reload; changing listen reports "needs a restart" (exit 0).
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have smtp-source || t_skip_all "smtp-source is not installed (postfix)"
N=${RELOAD_N:-3000}

bmxd_world_dns <<EOD
local-zone: "a-only.test." static
local-data: "a-only.test. 3600 IN SOA ns.a-only.test. h.a-only.test. 1 3600 900 604800 300"
local-data: "a-only.test. 3600 IN MX 10 mx.a-only.test."
local-data: "mx.a-only.test. 300 IN A 127.0.0.5"
local-zone: "bl.test." static
local-data: "bl.test. 3600 IN SOA ns.bl.test. h.bl.test. 1 3600 900 604800 300"
local-data: "1.0.0.127.bl.test. 300 IN A 127.0.0.2"
EOD
bmxd_relay_config <<EOD
primary_up = queue
EOD
CONF=$W/bmx.conf
CTL=(--control "$W/spool/control.sock")
# A: the domains of bmxd_config plus a-only.test (in a table file) and
# max_recipients 1000; B: b-only.test instead, max_recipients 999
printf 'a-only.test\n' > "$W/domains.a"
printf 'b-only.test\n' > "$W/domains.b"
chmod 644 "$W/domains.a" "$W/domains.b"
sed "s|^relay_domains = .*|&, file:$W/domains.a|" "$CONF" > "$W/conf.a"
echo "max_recipients = 1000" >> "$W/conf.a"
sed "s|^relay_domains = .*|&, file:$W/domains.b|" "$CONF" > "$W/conf.b"
echo "max_recipients = 999" >> "$W/conf.b"
chmod 644 "$W/conf.a" "$W/conf.b"

# Put config X (a or b, or a file) in place atomically.
use_conf()
{
    local src=$W/conf.$1
    [ -f "$src" ] || src=$1
    cp "$src" "$CONF.tmp" && chmod 644 "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
}

# One message to RCPT over SMTP; 0 when queued.
submit_to()
{
    bmxd_submit 'Subject: reload\r\n\r\nbody\r\n' "$1" >/dev/null
}

use_conf a
world_sink_start 127.0.0.2 "$BMX_PORT"
PRIMARY_DIR=$SINK_DIR
bmxd_start || { t_fail "daemon start"; t_done; }

# --- reloads every 100 ms while mail flows ---
reload_loop()
{
    local i=0
    while [ ! -e "$W/stop" ]; do
        if [ $((i % 2)) = 0 ]; then use_conf b; else use_conf a; fi
        if [ $((i / 2 % 2)) = 0 ]; then
            kill -HUP "$BMXD_PID"
        else
            "$BMX" reload "${CTL[@]}" >>"$W/reload_loop.out" 2>&1 ||
                echo "reload $i failed: $?" >>"$W/reload_loop.err"
        fi
        i=$((i + 1))
        sleep 0.1
    done
    echo "$i" > "$W/reloads"
}
reload_loop &
LOOP_PID=$!
world_track "$LOOP_PID"
t0=$(date +%s.%N)
smtp-source -s 5 -m "$N" -f s@client.test -t r@example.test 127.0.0.3:"$BMX_PORT" \
    >"$W/source.log" 2>&1
src_rc=$?
touch "$W/stop"
wait "$LOOP_PID"
t1=$(date +%s.%N)
nrel=$(cat "$W/reloads" 2>/dev/null || echo 0)
t_diag "$N messages in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s with $nrel reloads"
t_is "smtp-source finished cleanly under reloads" "$src_rc" 0 || t_diag "$(tail -5 "$W/source.log")"
t_unlike "no 4xx/5xx in smtp-source's output" "$(cat "$W/source.log")" '(^|[^0-9])[45][0-9][0-9]([^0-9]|$)'
[ "$nrel" -ge 10 ] && t_ok "at least 10 reloads during the run ($nrel)" ||
    t_fail "only $nrel reloads during the run"
t_is "every backupmx reload of the loop succeeded" "$(cat "$W/reload_loop.err" 2>/dev/null)" ""
world_wait_until 60 world_sink_has "$N" "$PRIMARY_DIR"
world_wait_until 30 bmxd_queue_empty
sleep 1
t_is "all $N delivered exactly once" "$(world_sink_count "$PRIMARY_DIR")" "$N"
t_is "queue empty after delivery" "$(bmxd_queue_files | wc -l)" 0
n_ok=$(grep -c 'reload: \(no change\|changed\)' "$BMXD_LOG")
t_diag "reloads applied (log): $n_ok"
[ "$n_ok" -ge "$nrel" ] && t_ok "every reload of the loop was applied" ||
    t_fail "$n_ok reloads applied of $nrel"

# --- summaries: what changed, or no change ---
use_conf a
"$BMX" reload "${CTL[@]}" >/dev/null 2>&1
out=$("$BMX" reload "${CTL[@]}" 2>&1); rc=$?
t_is "reload without a change exits 0" "$rc" 0
t_is "... and says no change" "$out" "reloaded: no change"
use_conf b
out=$("$BMX" reload "${CTL[@]}" 2>&1); rc=$?
t_is "reload to B exits 0" "$rc" 0
t_like "... and names what changed" "$out" '^reloaded: changed: .*relay_domains.*max_recipients|^reloaded: changed: .*max_recipients.*relay_domains'

# --- a relay domain added by a reload is accepted at once, a removed one refused ---
submit_to u@b-only.test; t_is "b-only.test accepted right after the reload" "$?" 0
submit_to u@a-only.test; rc=$?
t_is "a-only.test refused under B" "$rc" 1
t_like "... with 554 relay access denied" "$(cat "$W/submit.out")" '554 5.7.1'

# --- a bad config is refused with file:line; the old one stays whole ---
use_conf a
"$BMX" reload "${CTL[@]}" >/dev/null 2>&1 || t_fail "reload to A"
{ cat "$W/conf.a"; echo "max_recipients = banana"; } > "$W/conf.bad"
bad_line=$(wc -l < "$W/conf.bad")
use_conf "$W/conf.bad"
out=$("$BMX" reload "${CTL[@]}" 2>&1); rc=$?
t_is "a bad config: backupmx reload exits 1" "$rc" 1
t_like "... and names file:line" "$out" "bmx.conf:$bad_line:"
t_like "... in the log too" "$(cat "$BMXD_LOG")" "reload: .*bmx.conf:$bad_line:.*stays in force"
submit_to u@a-only.test; t_is "the old config is in force: a-only.test still accepted" "$?" 0
# a table with an error is refused too (the whole reload)
printf 'b-only.test\nnot a domain!\n' > "$W/domains.bad"
chmod 644 "$W/domains.bad"
sed "s|domains.a|domains.bad|" "$W/conf.a" > "$W/conf.badtable"
use_conf "$W/conf.badtable"
kill -HUP "$BMXD_PID"
world_wait_until 5 grep -q "reload: .*domains.bad:2" "$BMXD_LOG" &&
    t_ok "SIGHUP with a bad table: error with file:line in the log" ||
    t_fail "no domains.bad:2 error" "$(grep 'reload:' "$BMXD_LOG" | tail -3)"
submit_to u@b-only.test; t_is "... and nothing of it applied (b-only.test refused)" "$?" 1
submit_to u@a-only.test; t_is "... a-only.test still accepted" "$?" 0
use_conf a
"$BMX" reload "${CTL[@]}" >/dev/null 2>&1 || t_fail "reload back to A"

# --- a session in flight keeps the config it started under ---
( world_smtpraw --timeout 20 127.0.0.3 "$BMX_PORT" <<'SCR' >"$W/inflight.out" 2>&1
expect 220
send b"EHLO c.test\r\n"
expect 250
sleep 2
send b"MAIL FROM:<a@c.test>\r\nRCPT TO:<u@a-only.test>\r\n"
expect 250
expect 250
send b"QUIT\r\n"
expect 221
SCR
  echo $? > "$W/inflight.rc" ) &
IF_PID=$!
world_track "$IF_PID"
sleep 0.5
use_conf b
"$BMX" reload "${CTL[@]}" >/dev/null 2>&1 || t_fail "reload to B (in flight)"
submit_to u@a-only.test; t_is "a new session under B: a-only.test refused" "$?" 1
wait "$IF_PID"
t_is "the session begun under A still accepts a-only.test" "$(cat "$W/inflight.rc")" 0 ||
    t_diag "$(cat "$W/inflight.out")"

# --- a removed domain keeps its queued mail, which is still delivered ---
use_conf a
"$BMX" reload "${CTL[@]}" >/dev/null 2>&1 || t_fail "reload to A (queued)"
before=$(bmxd_queue_files | wc -l)
submit_to u@a-only.test   # its MX, 127.0.0.5, does not answer yet: it stays queued
sleep 1
t_is "a-only.test mail queued (its MX is down)" "$(bmxd_queue_files | wc -l)" $((before + 1))
use_conf b
"$BMX" reload "${CTL[@]}" >/dev/null 2>&1 || t_fail "reload to B (queued)"
world_sink_start 127.0.0.5 "$BMX_PORT"
A_DIR=$SINK_DIR
"$BMX" flush a-only.test "${CTL[@]}" >/dev/null 2>&1
# three messages for a-only.test are queued by now (two accepted while bad
# configs were refused, and this one)
world_wait_until 20 world_sink_has 3 "$A_DIR"
t_is "a-only.test's queued mail delivered after its removal" "$(world_sink_count "$A_DIR")" 3 ||
    t_diag "$(grep -i 'a-only' "$BMXD_LOG" | tail -5)"

# --- STARTTLS and SIZE change live, for new sessions only ---
if world_have openssl; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" \
        -days 2 -subj "/CN=mx2.example.test" >/dev/null 2>&1
    chmod 644 "$W/key.pem" "$W/cert.pem"
    { cat "$W/conf.a"; echo "tls_cert = $W/cert.pem"; echo "tls_key = $W/key.pem"
      echo "max_message_size = 123456"; } > "$W/conf.tls"
    use_conf a
    "$BMX" reload "${CTL[@]}" >/dev/null 2>&1 || t_fail "reload to A (tls)"
    ( world_smtpraw --timeout 20 127.0.0.3 "$BMX_PORT" <<'SCR' >"$W/oldtls.out" 2>&1
expect 220
send b"EHLO c.test\r\n"
expect 250 SIZE 10240000
sleep 2
send b"EHLO c.test\r\n"
expect 250 SIZE 10240000
send b"STARTTLS\r\n"
expect 502
send b"QUIT\r\n"
expect 221
SCR
      echo $? > "$W/oldtls.rc" ) &
    OT_PID=$!
    world_track "$OT_PID"
    sleep 0.5
    use_conf "$W/conf.tls"
    out=$("$BMX" reload "${CTL[@]}" 2>&1); rc=$?
    t_is "reload adding tls_cert and max_message_size exits 0" "$rc" 0 || t_diag "$out"
    t_like "... and names them" "$out" 'max_message_size.*tls_cert|tls_cert.*max_message_size'
    out=$(world_smtpraw 127.0.0.3 "$BMX_PORT" <<'SCR' 2>&1
expect 220
send b"EHLO c.test\r\n"
expect 250 SIZE 123456
send b"STARTTLS\r\n"
expect 220
SCR
    ); rc=$?
    t_is "a new session gets the new SIZE and STARTTLS at once" "$rc" 0 || t_diag "$out"
    wait "$OT_PID"
    t_is "the session begun before keeps the old SIZE and no STARTTLS" \
        "$(cat "$W/oldtls.rc")" 0 || t_diag "$(cat "$W/oldtls.out")"
else
    t_skip "STARTTLS by reload" "openssl missing"
fi

# --- DNSBL and milter settings are rebuilt by a reload ---
use_conf a
"$BMX" reload "${CTL[@]}" >/dev/null 2>&1 || t_fail "reload to A (dnsbl)"
{ cat "$W/conf.a"; echo "dnsbl_sites = bl.test"; echo "dnsbl_threshold = 1"; } > "$W/conf.bl"
use_conf "$W/conf.bl"
out=$("$BMX" reload "${CTL[@]}" 2>&1); rc=$?
t_is "reload adding dnsbl_sites exits 0" "$rc" 0 || t_diag "$out"
t_like "... and names it" "$out" 'changed: .*dnsbl_sites'
submit_to u@a-only.test; t_is "a client on the list added by the reload is refused" "$?" 1 ||
    t_diag "$(grep -i 'dnsbl\|bl\.test\|scored\|connect' "$BMXD_LOG" | tail -8)"
t_like "... with the DNSBL reply" "$(cat "$W/submit.out")" '554 5\.7\.1 .*listed by bl\.test'
dead=$(world_free_port)
{ cat "$W/conf.a"; echo "milters = inet:127.0.0.1:$dead"; echo "milter_default_action = tempfail"
  echo "milter_connect_timeout = 2"; } > "$W/conf.milter"
use_conf "$W/conf.milter"
out=$("$BMX" reload "${CTL[@]}" 2>&1); rc=$?
t_is "reload to a dead milter (and no DNSBL) exits 0" "$rc" 0 || t_diag "$out"
t_like "... and names both changes" "$out" 'changed: .*(dnsbl_sites.*milters|milters.*dnsbl_sites)'
submit_to u@a-only.test; t_is "the milter added by the reload is asked: tempfail" "$?" 1
t_like "... 451 4.7.1 from milter_default_action" "$(cat "$W/submit.out")" '451 4\.7\.1'
use_conf a
"$BMX" reload "${CTL[@]}" >/dev/null 2>&1 || t_fail "reload back to A (no filters)"
submit_to u@a-only.test; t_is "both removed by a reload: the client is accepted again" "$?" 0

# --- listen is restart-only: reported, the rest applied ---
other=$(world_free_port)
sed "s|^listen = .*|listen = 127.0.0.3:$other|" "$W/conf.a" > "$W/conf.listen"
use_conf "$W/conf.listen"
out=$("$BMX" reload "${CTL[@]}" 2>&1); rc=$?
t_is "changing listen: reload exits 0" "$rc" 0
t_like "... and reports needs a restart" "$out" 'needs a restart: listen'
t_like "... in the log too" "$(cat "$BMXD_LOG")" 'reload: listen needs a restart'
submit_to u@a-only.test; t_is "... the rest applied (a-only.test accepted again)" "$?" 0
world_wait_port 127.0.0.3 "$other" 1 2>/dev/null && t_fail "the new listen address was bound" ||
    t_ok "still listening on the old address only"

bmxd_stop
t_is "graceful stop after the reloads exits 0" "${BMXD_RC:-x}" 0
t_done
