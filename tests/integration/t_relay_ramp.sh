#!/bin/bash
# t_relay_ramp.sh - the concurrency ramp against primaries that behave like
# real ones (tests/lib/slowmx.py).  Mail queues while the primary is down;
# then it comes back:
#   1. taking 300 ms per message: the connections ramp from 2 to at least 8 of
#      max_concurrency = 10, never above 10, at most 3 in the first 0.2 s
#      (the probe and the first two), and every message arrives exactly once;
#   2. answering 421 above 3 connections at once: the daemon settles at 3
#      (status shows the ramp at 3), the destination is never marked down,
#      and every message arrives exactly once.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have smtp-source || t_skip_all "smtp-source (postfix) not installed"
bmxd_world_dns </dev/null
bmxd_relay_config <<EOD
max_concurrency = 10
max_connections_per_ip = 100
EOD
bmxd_start || { t_fail "daemon start"; t_done; }

# Print field $2 of the slowmx stats file $1 (0 while it does not exist).
stat_of()
{
	"$WORLD_PY" -c 'import json,sys
try: print(json.load(open(sys.argv[1]))[sys.argv[2]])
except Exception: print(0)' "$1" "$2"
}

# True once the stats file $1 counts $2 messages and the spool is empty.
drained() { [ "$(stat_of "$1" messages)" -ge "$2" ] && [ -z "$(bmxd_queue_files)" ]; }

# True once example.test is down in status.
dest_down() { bmxd_status_dest example.test | grep -q '"state": *"down"'; }

# Start slowmx on the primary's address with options $@; sets SLOW_PID.
slow_start()
{
	world_bg "$WORLD_PY" "$WORLD_LIB/slowmx.py" --listen 127.0.0.2:"$BMX_PORT" "$@"
	SLOW_PID=$BG_PID
	world_wait_port 127.0.0.2 "$BMX_PORT" 10
}

# Start slowmx (stats file $1, options $4...), wait until it has $2 messages
# and the spool is empty; report as "$3".
drain_to()
{
	local stats=$1 n=$2 what=$3
	shift 3
	slow_start "$@" --stats "$stats" || t_fail "slowmx did not start"
	if world_wait_until 60 drained "$stats" "$n"; then
		t_ok "the queue drained to $what"
	else
		t_fail "not drained: $(cat "$stats" 2>/dev/null), $(bmxd_queue_files | wc -l) queued"
	fi
	sleep 0.3
	t_diag "$what: $(cat "$stats")"
}

# --- 1. a primary that takes 300 ms per message -----------------------------
N=150
bmxd_send_n $N && t_ok "queued $N with the primary down" ||
	t_fail "smtp-source failed" "$(tail -3 "$W/source.log")"
world_wait_until 10 dest_down && t_ok "destination marked down" || t_fail "not marked down"
S1=$W/slow1.json
drain_to "$S1" $N "the slow primary" --delay-ms 300
peak=$(stat_of "$S1" peak)
[ "$peak" -ge 8 ] && t_ok "peak connections $peak >= 8 of max_concurrency 10" ||
	t_fail "peak connections $peak < 8"
[ "$peak" -le 10 ] && t_ok "peak connections $peak <= max_concurrency 10" ||
	t_fail "peak connections $peak > 10"
pf=$(stat_of "$S1" peak_first)
[ "$pf" -le 3 ] && t_ok "first 0.2 s: $pf connections (<= 3)" ||
	t_fail "first 0.2 s: $pf connections (> 3)"
t_is "every message arrived" "$(stat_of "$S1" unique)" $N
t_is "no message arrived twice" "$(stat_of "$S1" duplicates)" 0
t_is "no message deferred" "$(grep -c 'status=deferred' "$BMXD_LOG")" 0
world_kill "$SLOW_PID"

# --- 2. a primary that answers 421 above 3 connections -----------------------
N2=120
bmxd_send_n $N2 && t_ok "queued $N2 more with the primary down" ||
	t_fail "smtp-source failed" "$(tail -3 "$W/source.log")"
world_wait_until 10 dest_down || t_fail "not marked down after the primary stopped"
lines0=$(wc -l <"$BMXD_LOG")
S2=$W/slow2.json
drain_to "$S2" $N2 "the capped primary" --delay-ms 100 --cap 3
t_is "every message arrived at the capped primary" "$(stat_of "$S2" unique)" $N2
t_is "no message arrived twice at the capped primary" "$(stat_of "$S2" duplicates)" 0
st=$(bmxd_status_dest example.test)
t_diag "status: $st"
t_like "the ramp settled at 3" "$st" '"concurrency_limit": *3[,}]'
t_like "the destination stayed up" "$st" '"state": *"up"'
new_log=$(tail -n +"$((lines0 + 1))" "$BMXD_LOG")
t_like "the log says why the limit dropped" "$new_log" 'concurrency for example.test lowered to 3'
t_unlike "a 421 over the cap never marks the destination down" "$new_log" \
	'destination example.test is down'
refused=$(stat_of "$S2" refused)
t_diag "refused connections: $refused of $(($(stat_of "$S2" connections) + refused))"
[ "$refused" -le 8 ] && t_ok "refusals stop once settled ($refused)" ||
	t_fail "$refused connections refused"
"$BMX" status --control "$BMX_SPOOL/control.sock" >"$W/status.txt" 2>&1
t_like "status shows the ramp" "$(cat "$W/status.txt")" 'connections: [0-9]+ \(ramp 3 of max 10\)'
world_kill "$SLOW_PID"
t_done
