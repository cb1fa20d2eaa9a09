#!/bin/bash
# t_relay_recover_bg.sh - recovery in the background (issue 17): 20,000
# messages lie in the spool (written by bench/lib/spoolgen.py) and the
# primary is up (tests/lib/slowmx.py).  After the start backupmxd must
# answer 220 and accept a new message, and deliver its first message, while
# the spool is still being read (before "spool: recovery done" is logged);
# in the end every one of the 20,001 is delivered exactly once (slowmx
# counts them by the queue ID of our Received: header).  First a SIGTERM
# during recovery must stop it cleanly, every message still queued.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
N=${RECOVER_BG_N:-20000}
bmxd_world_dns </dev/null
bmxd_relay_config <<<"primary_up = queue"
owner=()
[ "$(id -u)" = 0 ] && owner=(--owner nobody)
"$WORLD_PY" "$BMX_ROOT/bench/lib/spoolgen.py" --spool "$BMX_SPOOL" --count "$N" \
	"${owner[@]}" >"$W/gen.log" 2>&1 || t_fail "spoolgen" "$(cat "$W/gen.log")"
t_is "$N queue files written" "$(ls "$BMX_SPOOL/queue" | wc -l)" "$N"

# Print field $2 of the slowmx stats file $1 (0 while it does not exist).
stat_of()
{
	"$WORLD_PY" -c 'import json,sys
try: print(json.load(open(sys.argv[1]))[sys.argv[2]])
except Exception: print(0)' "$1" "$2"
}

# Number of "recovery done" lines in the daemon's log.
recovered() { grep -c 'spool: recovery done' "$BMXD_LOG"; }

# a stop during recovery is clean and leaves the rest for the next start
BMXD_LOG=$W/backupmxd.log
"$BMXD" -c "$W/bmx.conf" >>"$BMXD_LOG" 2>&1 &
BMXD_PID=$!
world_track "$BMXD_PID"
WORLD_WAIT_STEP=0.02 world_wait_port 127.0.0.3 "$BMX_PORT" 10 || t_fail "no listener"
# the port is bound before the signal handlers are installed: wait for a 220
printf 'expect 220\nsend b"QUIT\\r\\n"\nexpect 221\n' |
	world_smtpraw 127.0.0.3 "$BMX_PORT" >"$W/greet.out" 2>&1 || t_fail "no 220" "$(cat "$W/greet.out")"
bmxd_stop
t_is "stopped during recovery: exit status 0" "$BMXD_RC" 0
t_is "...before recovery was done" "$(recovered)" 0
t_is "...and every message is still queued" "$(ls "$BMX_SPOOL/queue" | wc -l)" "$N"

S=$W/slow.json
world_bg "$WORLD_PY" "$WORLD_LIB/slowmx.py" --listen 127.0.0.2:"$BMX_PORT" --stats "$S"
SLOW_PID=$BG_PID
world_wait_port 127.0.0.2 "$BMX_PORT" 10 || t_fail "slowmx did not start"

# start by hand: bmxd_start would wait for the end of recovery
rm -f "$BMX_SPOOL/control.sock"
t0=$(date +%s.%N)
"$BMXD" -c "$W/bmx.conf" >>"$BMXD_LOG" 2>&1 &
BMXD_PID=$!
world_track "$BMXD_PID"
WORLD_WAIT_STEP=0.02 world_wait_port 127.0.0.3 "$BMX_PORT" 10 || t_fail "no listener"
qid=$(bmxd_submit 'Subject: during recovery\r\n\r\nhello\r\n')
t1=$(date +%s.%N)
done_at_accept=$(recovered)
t_like "a message is accepted during recovery ($qid)" "$qid" '^[0-9A-Za-z]{20}$'
t_is "...before recovery is done" "$done_at_accept" 0
t_diag "start to 250 for a new message: $(echo "$t1 - $t0" | bc) s"
# status says so while it lasts (the control socket comes up at once)
world_wait_until 5 test -S "$BMX_SPOOL/control.sock"
st=$(timeout 5 "$BMX" status --control "$BMX_SPOOL/control.sock" 2>&1)
stj=$(timeout 5 "$BMX" status --json --control "$BMX_SPOOL/control.sock" 2>&1)
if [ "$(recovered)" = 0 ]; then
	t_like "status during recovery says so" "$st" \
		'^recovering the spool: [0-9]+ message\(s\) read so far'
	t_like "status --json during recovery: recovering true" "$stj" '"recovering": *true'
else
	t_skip "status during recovery (recovery ended first)"
	t_skip "status --json during recovery (recovery ended first)"
fi
# True once slowmx has a message.
delivered_one() { [ "$(stat_of "$S" messages)" -ge 1 ]; }
WORLD_WAIT_STEP=0.05 world_wait_until 60 delivered_one || t_fail "nothing delivered"
t2=$(date +%s.%N)
done_at_first=$(recovered)
t_is "the first delivery comes before recovery is done" "$done_at_first" 0
t_diag "start to first delivery: $(echo "$t2 - $t0" | bc) s"
# True once recovery is over.
recovery_over() { [ "$(recovered)" -ge 1 ]; }
world_wait_until 120 recovery_over || t_fail "recovery did not end"
t_like "recovery done is logged with the count" "$(grep 'spool: recovery done' "$BMXD_LOG")" \
	"recovery done: [0-9]+ message\\(s\\) in [0-9.]+ s"
t_diag "$(grep -E 'spool: (recovery done|recovering)' "$BMXD_LOG" | tail -3)"
t_like "status --json after recovery: recovering false, the count" \
	"$(timeout 5 "$BMX" status --json --control "$BMX_SPOOL/control.sock" 2>&1)" \
	'"recovering": *false, *"recovered_messages": *[1-9]'
t_unlike "status after recovery: no recovering line" \
	"$(timeout 5 "$BMX" status --control "$BMX_SPOOL/control.sock" 2>&1)" '^recovering the spool'

# True once slowmx has every message and the spool is empty.
drained() { [ "$(stat_of "$S" messages)" -ge $((N + 1)) ] && bmxd_queue_empty; }
world_wait_until 300 drained || t_fail "not drained" \
	"$(cat "$S"), $(bmxd_queue_files | wc -l) still queued"
sleep 1
t_diag "slowmx: $(cat "$S")"
t_is "every message delivered" "$(stat_of "$S" unique)" $((N + 1))
t_is "none twice" "$(stat_of "$S" duplicates)" 0
t_is "the queue is empty" "$(bmxd_queue_files | wc -l)" 0
t_is "nothing moved to corrupt/" "$(ls "$BMX_SPOOL/corrupt" | wc -l)" 0
bmxd_stop
world_kill "$SLOW_PID"
t_done
