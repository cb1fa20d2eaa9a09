#!/bin/bash
# t_fault_sweep.sh - a random kill -9 sweep across accept AND delivery: for
# 50 rounds a client sends continuously to backupmxd while the primary
# (smtp-sink) is up and being delivered to, and backupmxd is killed with
# SIGKILL at a random moment (0.1-0.6 s) and restarted.  Afterwards, with the
# primary up, the queue must drain and every message acknowledged with 250
# must have reached the sink at least once (matched by the queue ID in our
# Received header).  Duplicates are counted and reported, not failed.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
ROUNDS=${FAULT_ROUNDS:-50}
bmxd_world_dns </dev/null
# this test is about store and forward while the primary is up (primary_up's
# default, proxy, would pass the mail through live: t_proxy covers that)
bmxd_relay_config <<<"primary_up = queue"
world_sink_start 127.0.0.2 "$BMX_PORT"
bmxd_start || { t_fail "daemon start"; t_done; }

"$WORLD_PY" "$BMX_ROOT/tests/lib/sendloop.py" 127.0.0.3 "$BMX_PORT" "$W/acked" 120 &
CLIENT=$!
world_track "$CLIENT"
kills=0
restarts_failed=0
t0=$SECONDS
for ((i = 1; i <= ROUNDS; i++)); do
	sleep "0.$(( (RANDOM % 6) + 1 ))$(( RANDOM % 10 ))"
	bmxd_kill9
	kills=$((kills + 1))
	rm -f "$BMX_SPOOL/control.sock"
	bmxd_start >/dev/null || { restarts_failed=$((restarts_failed + 1)); break; }
done
sleep 0.5
kill -TERM "$CLIENT" 2>/dev/null
wait "$CLIENT" 2>/dev/null
t_diag "$kills kills in $((SECONDS - t0)) s; sink has $(world_sink_count) messages so far"
t_is "daemon killed $ROUNDS times" "$kills" "$ROUNDS"
t_is "every restart came up" "$restarts_failed" 0
world_alive "${BMXD_PID:-0}" || { bmxd_start || t_fail "final start"; }

sort -u "$W/acked" >"$W/qids"
acked=$(wc -l <"$W/qids")
t_diag "messages acknowledged with 250: $acked"
[ "$acked" -gt "$ROUNDS" ] && t_ok "client kept sending across crashes ($acked acked)" ||
	t_fail "too few messages acked: $acked"

# The primary is up: wait for the queue to drain.
t1=$SECONDS
world_wait_until 40 bmxd_queue_empty
sleep 1
t_diag "queue drained $((SECONDS - t1)) s after the sweep"
left=$(bmxd_queue_files | wc -l)
t_is "queue empty with the primary up" "$left" 0 ||
	t_diag "still queued: $(bmxd_queue_files | head -5 | tr '\n' ' ')"
t_is "nothing moved to corrupt/" "$(ls "$BMX_SPOOL/corrupt" 2>/dev/null | wc -l)" 0
world_alive "$BMXD_PID" && t_ok "daemon alive at the end" || t_fail "daemon died"

# Queue IDs seen at the sink (from "by mx2.example.test (backupmx) with ... id QID").
find "$SINK_DIR" -maxdepth 1 -type f -exec grep -h -m1 -o '(backupmx) with [A-Za-z]* id [A-Za-z0-9]*' {} + |
	awk '{print $NF}' | sort >"$W/seen"
total=$(wc -l <"$W/seen")
uniq=$(sort -u "$W/seen" | wc -l)
sort -u "$W/seen" | comm -23 "$W/qids" - >"$W/lost"
lost=$(wc -l <"$W/lost")
dups=$((total - uniq))
t_diag "sink received $total messages, $uniq distinct, duplicates: $dups, lost: $lost"
[ "$lost" -gt 0 ] && t_diag "lost: $(head -10 "$W/lost" | tr '\n' ' ')"
t_is "every acknowledged message reached the primary at least once (lost)" "$lost" 0
t_ok "duplicates after $kills kill -9: $dups (reported, at-least-once allows them)"
bmxd_stop
t_done
