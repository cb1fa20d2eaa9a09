#!/bin/bash
# t_notify.sh - systemd readiness (issue 18): backupmxd started with
# NOTIFY_SOCKET pointing at a datagram socket of ours (tests/lib/notify_rx.py,
# a stand-in for systemd) and WATCHDOG_USEC=1 s, over a spool of 3,000
# messages for a primary that is down.  Checked: STATUS= progress with
# EXTEND_TIMEOUT_USEC= while the spool is recovered, then READY=1 once, with
# SMTP already answering and the whole spool read (queue 3000); the STATUS=
# line gives queue size, destinations down and oldest age, and counts mail
# queued later; SIGHUP and `backupmx reload` (also a refused one) are framed
# by RELOADING=1 + MONOTONIC_USEC=<now> and READY=1; WATCHDOG=1 arrives about
# every 0.5 s (none when WATCHDOG_PID names another process); SIGTERM sends
# STOPPING=1 and the daemon exits 0.  Without NOTIFY_SOCKET the daemon starts,
# serves and stops as before, and says nothing about systemd.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have unbound || t_skip_all "unbound is not installed"
N=3000
bmxd_world_dns </dev/null
bmxd_relay_config <<<"primary_up = queue"
chmod 644 "$W/bmx.conf"
owner=()
[ "$(id -u)" = 0 ] && owner=(--owner nobody)
"$WORLD_PY" "$BMX_ROOT/bench/lib/spoolgen.py" --spool "$BMX_SPOOL" --count "$N" --age 300 \
	"${owner[@]}" >"$W/gen.log" 2>&1 || t_fail "spoolgen" "$(cat "$W/gen.log")"
CTL=(--control "$BMX_SPOOL/control.sock")
SOCK=$W/notify.sock
NLOG=$W/notify.log
BMXD_LOG=$W/backupmxd.log
: >"$NLOG"

world_bg "$WORLD_PY" "$WORLD_LIB/notify_rx.py" --smtp "127.0.0.3:$BMX_PORT" "$SOCK" "$NLOG"
world_wait_until 5 test -S "$SOCK" || t_fail "notify_rx did not bind $SOCK" "$(cat "$BG_LOG")"

# The datagrams received so far (fields joined by " | "), without timestamps.
msgs() { cut -f2- "$NLOG"; }
# How many datagrams match the extended regex $1.
nmsg() { msgs | grep -Ec -- "$1"; }
# True once more than $2 datagrams match $1.
more_than() { [ "$(nmsg "$1")" -gt "$2" ]; }
# The STATUS= value of the last datagram that matches $1.
status_of() { msgs | grep -E -- "$1" | tail -1 | tr '|' '\n' | sed -n 's/^ *STATUS=//p' | sed 's/ *$//'; }
STATUS_RE='^queue [0-9]+ message\(s\), [0-9]+ destination\(s\) down, oldest ([0-9]+[smhd]|-)$'

# --- start: recovery progress, then READY=1 -------------------------------------
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=1000000 "$BMXD" -c "$W/bmx.conf" >>"$BMXD_LOG" 2>&1 &
BMXD_PID=$!
world_track "$BMXD_PID"
world_wait_until 60 more_than '(^| )READY=1( |$)' 0 || t_fail "no READY=1 within 60 s" "$(msgs | head)"
ready_line=$(grep -n 'READY=1' "$NLOG" | head -1 | cut -d: -f1)
t_like "STATUS= progress while the spool is recovered" \
	"$(head -n "$ready_line" "$NLOG" | cut -f2- | grep 'STATUS=recovering' | head -1)" \
	'STATUS=recovering the spool: [0-9]+ message\(s\) read so far \| EXTEND_TIMEOUT_USEC=30000000$'
t_is "READY=1 comes after every recovery message" \
	"$(tail -n +"$ready_line" "$NLOG" | grep -c 'recovering the spool')" 0
t_like "SMTP answers 220 when READY=1 arrives" "$(grep SMTP-AT-READY "$NLOG")" 'SMTP-AT-READY 220 '
t_like "the log says recovery was done" "$(cat "$BMXD_LOG")" 'spool: recovery done: 3000 message'
st=$(status_of 'READY=1')
t_like "READY=1 carries STATUS= with queue, destinations down, oldest age" "$st" "$STATUS_RE"
t_like "... and the whole spool is counted at READY=1" "$st" '^queue 3000 message\(s\), '
t_like "... oldest message about 5 minutes old" "$st" 'oldest [5-9]m$'
t_is "READY=1 was sent once" "$(nmsg '(^| )READY=1( |$)')" 1

# --- the watchdog ---------------------------------------------------------------
w0=$(nmsg '^WATCHDOG=1$')
sleep 2
w1=$(nmsg '^WATCHDOG=1$')
n=$((w1 - w0))
[ "$n" -ge 3 ] && [ "$n" -le 6 ] && t_ok "WATCHDOG=1 every half of WATCHDOG_USEC ($n in 2 s)" ||
	t_fail "WATCHDOG=1 every half of WATCHDOG_USEC" "$n pings in 2 s, expected about 4"
t_like "the log names the watchdog interval" "$(cat "$BMXD_LOG")" 'systemd watchdog: 1000 ms, a ping every 500 ms'

# --- queued mail is counted; a destination down is counted ----------------------
for i in 1 2; do
	bmxd_submit "Subject: notify $i\r\n\r\nhello\r\n" >/dev/null || t_fail "submit $i" "$(cat "$W/submit.out")"
done
dest_down() { bmxd_status_dest example.test | grep -q '"state": *"down"'; }
world_wait_until 20 dest_down || t_fail "example.test never went down" "$(bmxd_status_dest example.test)"

# --- SIGHUP: RELOADING=1 + MONOTONIC_USEC, then READY=1 ------------------------
r0=$(nmsg '^RELOADING=1')
kill -HUP "$BMXD_PID"
world_wait_until 10 more_than '(^| )READY=1( |$)' 1 || t_fail "no READY=1 after SIGHUP"
rel=$(grep -P '\tRELOADING=1' "$NLOG" | tail -1)
t_is "SIGHUP: one RELOADING=1" "$(($(nmsg '^RELOADING=1') - r0))" 1
t_like "... with MONOTONIC_USEC=<digits>" "$(cut -f2- <<<"$rel")" '^RELOADING=1 \| .*MONOTONIC_USEC=[0-9]+$'
# the daemon's CLOCK_MONOTONIC is ours: the stamp is within 5 s of the arrival
mono=$(sed -n 's/.*MONOTONIC_USEC=\([0-9]*\).*/\1/p' <<<"$rel")
rx=$(cut -f1 <<<"$rel")
d=$((rx - mono))
[ "$d" -ge 0 ] && [ "$d" -lt 5000000 ] && t_ok "... MONOTONIC_USEC is CLOCK_MONOTONIC now (${d} us before arrival)" ||
	t_fail "... MONOTONIC_USEC is CLOCK_MONOTONIC now" "stamp $mono, received at $rx"
t_like "... then READY=1 after it" "$(tail -n +"$(grep -nP '\tRELOADING=1' "$NLOG" | tail -1 | cut -d: -f1)" "$NLOG" | cut -f2- | grep 'READY=1' | head -1)" '^READY=1 \| STATUS='
st=$(status_of 'READY=1')
t_like "STATUS= counts the 2 new messages" "$st" '^queue 3002 message\(s\), '
t_like "STATUS= counts example.test as down" "$st" ', 1 destination\(s\) down, '

# --- backupmx reload: the same frame -------------------------------------------
out=$("$BMX" reload "${CTL[@]}" 2>&1); rc=$?
t_is "backupmx reload exits 0" "$rc" 0 || t_diag "$out"
world_wait_until 5 more_than '(^| )READY=1( |$)' 2 || t_fail "no READY=1 after backupmx reload"
t_is "backupmx reload: one more RELOADING=1" "$(($(nmsg '^RELOADING=1') - r0))" 2
t_like "... and the last two messages are RELOADING=1, READY=1" \
	"$(msgs | grep -Ev '^(WATCHDOG=1|STATUS=)' | tail -2 | cut -c1-11 | tr '\n' ' ')" '^RELOADING=1 READY=1 \| S'

# --- a refused reload still ends with READY=1 ----------------------------------
cp "$W/bmx.conf" "$W/bmx.conf.good"
echo "max_recipients = banana" >>"$W/bmx.conf"
out=$("$BMX" reload "${CTL[@]}" 2>&1); rc=$?
t_is "a bad config: backupmx reload exits 1" "$rc" 1
world_wait_until 5 more_than '(^| )READY=1( |$)' 3 || t_fail "no READY=1 after a refused reload"
t_is "... RELOADING=1 and READY=1 all the same" "$(($(nmsg '^RELOADING=1') - r0)) $(nmsg '(^| )READY=1( |$)')" "3 4"
cp "$W/bmx.conf.good" "$W/bmx.conf"

# --- the periodic STATUS= refresh (every 10 s) ----------------------------------
world_wait_until 15 more_than '^STATUS=queue ' 0 &&
	t_like "STATUS= is refreshed on its own" "$(status_of '^STATUS=queue ')" "$STATUS_RE" ||
	t_fail "no STATUS= refresh within 15 s" "$(msgs | grep -v WATCHDOG | tail -5)"

# --- SIGTERM: STOPPING=1 --------------------------------------------------------
bmxd_stop
t_is "SIGTERM: the daemon exits 0" "$BMXD_RC" 0
t_is "... after one STOPPING=1" "$(nmsg '^STOPPING=1')" 1
t_unlike "no notify failure was logged" "$(cat "$BMXD_LOG")" 'systemd (notify|watchdog): '"[A-Z]"

# --- WATCHDOG_PID of another process: no pings ------------------------------------
: >"$NLOG"
rm -f "$BMX_SPOOL/control.sock"
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=1000000 WATCHDOG_PID=1 "$BMXD" -c "$W/bmx.conf" >>"$BMXD_LOG" 2>&1 &
BMXD_PID=$!
world_track "$BMXD_PID"
world_wait_until 60 more_than '(^| )READY=1( |$)' 0 || t_fail "no READY=1 (second start)"
sleep 1.2
t_is "WATCHDOG_PID of another process: no WATCHDOG=1" "$(nmsg '^WATCHDOG=1$')" 0
bmxd_stop
t_is "... and it stops with exit status 0" "$BMXD_RC" 0

# --- without NOTIFY_SOCKET nothing changes --------------------------------------
: >"$NLOG"
L0=$(wc -l <"$BMXD_LOG")
rm -f "$BMX_SPOOL/control.sock"
env -u NOTIFY_SOCKET WATCHDOG_USEC=1000000 bash -c 'exec "$0" -c "$1"' "$BMXD" "$W/bmx.conf" >>"$BMXD_LOG" 2>&1 &
BMXD_PID=$!
world_track "$BMXD_PID"
world_wait_port 127.0.0.3 "$BMX_PORT" 10 || t_fail "no listener without NOTIFY_SOCKET"
world_wait_until 30 bmxd_recovered 2
bmxd_submit 'Subject: plain\r\n\r\nhello\r\n' >/dev/null
t_is "without NOTIFY_SOCKET: mail is accepted" "$?" 0
sleep 1.2
bmxd_stop
t_is "... it stops with exit status 0" "$BMXD_RC" 0
t_is "... and no datagram was sent" "$(wc -l <"$NLOG")" 0
new_log=$(tail -n +"$((L0 + 1))" "$BMXD_LOG")
t_unlike "... and the log says nothing of systemd" "$new_log" 'systemd'
t_unlike "... nor any error" "$new_log" ']: error: |ERROR'
t_done
