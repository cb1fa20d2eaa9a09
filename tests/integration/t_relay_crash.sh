#!/bin/bash
# t_relay_crash.sh - at-least-once delivery: 1,000 messages are queued while
# example.test is held, released to a live smtp-sink, and backupmxd is killed
# with SIGKILL mid-delivery, then restarted.  Every queued message must reach
# the sink at least once (matched by the queue ID in our Received header);
# duplicates are counted and reported, not failed.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
bmxd_world_dns </dev/null
bmxd_relay_config </dev/null
N=1000
world_sink_start 127.0.0.2 "$BMX_PORT"
bmxd_start || { t_fail "daemon start"; t_done; }
CTL=(--control "$BMX_SPOOL/control.sock")
# Wait until the control socket exists (it appears after spool recovery).
world_wait_until 10 test -S "$BMX_SPOOL/control.sock" || t_fail "control socket did not appear"
"$BMX" hold example.test "${CTL[@]}" >/dev/null || t_fail "hold"
smtp-source -s 10 -m $N -f s@client.test -t r@example.test 127.0.0.3:"$BMX_PORT" \
	>"$W/source.log" 2>&1 || t_fail "smtp-source" "$(cat "$W/source.log")"
bmxd_queue_files >"$W/qids"
t_is "$N messages queued while held" "$(wc -l <"$W/qids")" $N

"$BMX" release example.test "${CTL[@]}" >/dev/null || t_fail "release"
# Kill once some, but not all, have been delivered.
WORLD_WAIT_STEP=0.02 world_wait_until 30 world_sink_has 100
bmxd_kill9
before=$(world_sink_count)
t_diag "killed with SIGKILL after $before deliveries; $(bmxd_queue_files | wc -l) left queued"
[ "$before" -lt $N ] && t_ok "killed mid-delivery ($before of $N delivered)" ||
	t_skip "killed mid-delivery" "all were delivered before the kill"
rm -f "$BMX_SPOOL/control.sock"
bmxd_start || t_fail "restart"
t0=$SECONDS
world_wait_until 60 bmxd_queue_empty
sleep 1
t_diag "queue drained $((SECONDS - t0)) s after the restart"
t_is "queue empty after restart" "$(bmxd_queue_files | wc -l)" 0

# Queue IDs seen at the sink (from "by mx2.example.test (backupmx) with ... id QID").
find "$SINK_DIR" -maxdepth 1 -type f -exec grep -h -m1 -o '(backupmx) with [A-Za-z]* id [A-Za-z0-9]*' {} + |
	awk '{print $NF}' | sort >"$W/seen"
total=$(wc -l <"$W/seen")
uniq=$(sort -u "$W/seen" | wc -l)
lost=$(sort -u "$W/seen" | comm -23 <(sort "$W/qids") - | wc -l)
dups=$((total - uniq))
t_diag "sink received $total messages, $uniq distinct, duplicates: $dups, lost: $lost"
t_is "every message reached the sink at least once (lost)" "$lost" 0
t_is "sink saw all $N distinct queue IDs" "$uniq" $N
t_ok "duplicates after kill -9: $dups (reported, at-least-once allows them)"
t_done
