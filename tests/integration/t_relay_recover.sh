#!/bin/bash
# t_relay_recover.sh - the primary is down (connection refused) while mail is
# accepted; once it is up every message must be delivered within
# probe_interval + 5 s, and `status` must have shown the destination down
# with its error.  Then the primary answers 4xx on RCPT, later 2xx: delivered.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
bmxd_world_dns </dev/null
# this test is about store and forward while the primary is up (primary_up's
# default, proxy, would pass the mail through live: t_proxy covers that)
bmxd_relay_config <<<"primary_up = queue"
bmxd_start || { t_fail "daemon start"; t_done; }

N=20
bmxd_send_n $N && t_ok "backupmxd accepted $N messages with the primary down" ||
	t_fail "smtp-source failed" "$(cat "$W/source.log")"
sleep 3
t_is "queue holds $N messages" "$(bmxd_queue_files | wc -l)" $N
st=$(bmxd_status_dest example.test)
t_diag "status while down: $st"
t_like "status shows example.test down" "$st" '"state": *"down"'
t_like "status carries the connect error" "$st" '(refused|Connection)'

world_sink_start 127.0.0.2 "$BMX_PORT"
t0=$(date +%s.%N)
world_wait_until $((2 + 5 + 5)) world_sink_has $N
t1=$(date +%s.%N)
el=$(echo "$t1 - $t0" | bc)
t_diag "all $N delivered ${el}s after the primary came up (limit 7 s)"
t_is "sink received all $N" "$(world_sink_count)" $N
[ "$(echo "$el <= 7" | bc)" = 1 ] && t_ok "delivered within probe_interval + 5 s (${el}s)" ||
	t_fail "delivery took ${el}s"
sleep 1
t_is "queue empty after delivery" "$(bmxd_queue_files | wc -l)" 0
st=$(bmxd_status_dest example.test)
t_like "status shows example.test up" "$st" '"state": *"up"'

# 4xx then 2xx: smtp-sink -r RCPT tempfails every RCPT; replace it by a good one.
world_kill "$SINK_PID"
rm -f "$SINK_DIR"/*
world_sink_start 127.0.0.2 "$BMX_PORT" -r RCPT
bmxd_send_n 3
sleep 4
t_is "nothing delivered while the primary answers 4xx" "$(world_sink_count)" 0
t_is "3 messages still queued after 4xx" "$(bmxd_queue_files | wc -l)" 3
grep -q 'status=deferred' "$BMXD_LOG" && t_ok "log has status=deferred" ||
	t_fail "no status=deferred log line"
world_kill "$SINK_PID"
rm -f "$SINK_DIR"/*
world_sink_start 127.0.0.2 "$BMX_PORT"
t0=$SECONDS
world_wait_until 40 world_sink_has 3
t_is "4xx then 2xx: all 3 delivered" "$(world_sink_count)" 3
t_diag "delivered after the 4xx phase within $((SECONDS - t0)) s"
sleep 1
t_is "queue empty at the end" "$(bmxd_queue_files | wc -l)" 0
grep -q 'status=sent' "$BMXD_LOG" && t_ok "log has status=sent" || t_fail "no status=sent"
t_done
