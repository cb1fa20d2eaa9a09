#!/bin/bash
# t_relay_mxcap.sh - MX lookups in flight are capped (RELAY_RESOLVE_MAX, 256:
# each holds a 75 KB answer set until it ends); destinations beyond the cap
# wait in line, first come first served, and are not forgotten (issue 17,
# bounded memory).  300 messages for 300 customer domains (d0..d299 under
# hosted.test, answered by one unbound redirect zone) are written into the
# spool; backupmxd starts while unbound is stopped (SIGSTOP: queries go
# unanswered), so recovery asks for 300 MX sets that all stay in flight.
# Status must show 256 running and 44 waiting, the log the lookups that
# wait; after SIGCONT every message must reach the primary exactly once.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have smtp-sink || t_skip_all "smtp-sink missing"
N=300
bmxd_world_dns <<EOD
local-zone: "hosted.test." redirect
local-data: "hosted.test. 3600 IN MX 10 mx1.example.test."
local-data: "hosted.test. 3600 IN MX 20 mx2.example.test."
EOD
bmxd_relay_config <<EOD
relay_domains = .hosted.test example.test
primary_up = queue
max_concurrency = 2
EOD
owner=()
[ "$(id -u)" = 0 ] && owner=(--owner nobody)
"$WORLD_PY" "$BMX_ROOT/bench/lib/spoolgen.py" --spool "$BMX_SPOOL" --count $N \
	--rcpt r@hosted.test --domains $N "${owner[@]}" >/dev/null
t_is "$N queue files for $N domains" "$(bmxd_queue_files | wc -l)" $N
world_sink_start 127.0.0.2 "$BMX_PORT"
kill -STOP "$DNS_PID"
bmxd_start || { kill -CONT "$DNS_PID"; t_fail "daemon start"; t_done; }
# The lookup counters in status --json: "RUNNING WAITING".
lookups() {
	timeout 5 "$BMX" status --json --control "$BMX_SPOOL/control.sock" 2>/dev/null |
		sed -n 's/.*"mx_lookups_running":\([0-9]*\),"mx_lookups_waiting":\([0-9]*\).*/\1 \2/p'
}
full() { [ "$(lookups)" = "256 44" ]; }
world_wait_until 30 full
t_is "DNS silent: 256 lookups in flight, 44 waiting" "$(lookups)" "256 44"
t_like "the log names lookups waiting for a slot" "$(cat "$BMXD_LOG")" \
	'MX lookup of d[0-9]*\.hosted\.test waits for a slot \(256 in flight'
kill -CONT "$DNS_PID"
maxrun=0
# Poll status while the lookups run: the most in flight seen.
poll() {
	local j
	j=$(timeout 5 "$BMX" status --json --control "$BMX_SPOOL/control.sock" 2>/dev/null)
	j=$(sed -n 's/.*"mx_lookups_running":\([0-9]*\).*/\1/p' <<<"$j")
	[ -n "$j" ] && [ "$j" -gt "$maxrun" ] && maxrun=$j
	world_sink_has $N
}
world_wait_until 120 poll
t_is "DNS back: all $N messages reached the primary" "$(world_sink_count)" $N
t_is "each exactly once" "$(cat "$SINK_DIR"/* | grep -o 'Message-ID: <[^>]*>' | sort -u | wc -l)" $N
t_ok "status never showed more than 256 in flight (max seen $maxrun)" test "$maxrun" -le 256
j=$(timeout 5 "$BMX" status --json --control "$BMX_SPOOL/control.sock" 2>/dev/null)
t_like "status: no lookup left waiting" "$j" '"mx_lookups_waiting":0'
world_wait_until 20 bmxd_queue_empty
t_ok "the queue is empty" bmxd_queue_empty
bmxd_stop
t_done
