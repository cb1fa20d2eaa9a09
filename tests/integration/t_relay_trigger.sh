#!/bin/bash
# t_relay_trigger.sh - what schedules delivery, and what must not: mail for a
# domain whose only MX is ourselves is deferred and shown as "loop" (no
# bounce, no delivery attempt loop); ETRN from the primary's address makes
# delivery immediate (probe_interval = 60, so nothing else explains it) and
# ETRN from elsewhere gets 459; hold/release, and the hold survives a restart.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
bmxd_world_dns <<EOD
local-data: "loop.sub.example.test. 3600 IN MX 10 mx2.example.test."
local-zone: "client.test." static
local-data: "client.test. 3600 IN SOA ns.client.test. h.client.test. 1 3600 900 604800 300"
local-data: "client.test. 3600 IN MX 10 mx.client.test."
local-data: "mx.client.test. 300 IN A 127.0.0.4"
EOD
bmxd_config <<EOD
relay_port = $BMX_PORT
probe_interval = 60
retry_min = 2
connect_timeout = 2
EOD
world_sink_start 127.0.0.4 "$BMX_PORT"
DSN_DIR=$SINK_DIR
bmxd_start || { t_fail "daemon start"; t_done; }
CTL=(--control "$BMX_SPOOL/control.sock")

# --- we are the best MX ---
bmxd_send_n 2 r@loop.sub.example.test || t_fail "send to loop domain" "$(cat "$W/source.log")"
sleep 4
st=$(bmxd_status_dest loop.sub.example.test)
t_diag "loop status: $st"
t_like "status shows state loop" "$st" '"state": *"loop"'
grep -q 'loops back to myself' "$BMXD_LOG" && t_ok "log says mail loops back to myself" ||
	t_fail "no loop log line"
t_is "loop mail stays queued" "$(bmxd_queue_files | wc -l)" 2
t_is "no bounce for loop mail" "$(world_sink_count "$DSN_DIR")" 0
n_loop=$(grep -c 'loops back to myself' "$BMXD_LOG")
sleep 4
n_loop2=$(grep -c 'loops back to myself' "$BMXD_LOG")
t_diag "loop log lines: $n_loop, 4 s later $n_loop2"
[ $((n_loop2 - n_loop)) -le 4 ] && t_ok "no tight delivery-attempt loop" ||
	t_fail "loop logged $((n_loop2 - n_loop)) times in 4 s"
grep -q 'to=<r@loop.sub.example.test>.*status=bounced' "$BMXD_LOG" &&
	t_fail "loop mail was bounced" || t_ok "loop mail not bounced"
"$BMX" queue delete "$(bmxd_queue_files | head -1)" "${CTL[@]}" >/dev/null 2>&1
"$BMX" queue delete "$(bmxd_queue_files | head -1)" "${CTL[@]}" >/dev/null 2>&1
t_is "queue delete removed the loop mail" "$(bmxd_queue_files | wc -l)" 0

# --- ETRN ---
bmxd_send_n 5 r@example.test || t_fail "send" "$(cat "$W/source.log")"
sleep 3
st=$(bmxd_status_dest example.test)
t_like "example.test down before ETRN" "$st" '"state": *"down"'
world_sink_start 127.0.0.2 "$BMX_PORT"
sleep 2
t_is "nothing delivered without a trigger (probe_interval 60)" "$(world_sink_count)" 0
out=$(world_smtpraw --source 127.0.0.9 127.0.0.3 "$BMX_PORT" <<'EOS' 2>&1
expect 220
send "EHLO other.test\r\n"
expect 250
send "ETRN example.test\r\n"
expect 459
send "QUIT\r\n"
expect 221
EOS
) && t_ok "ETRN from 127.0.0.9 gets 459" || t_fail "ETRN from elsewhere" "$out"
sleep 1
t_is "still nothing delivered after a refused ETRN" "$(world_sink_count)" 0
t0=$(date +%s.%N)
out=$(world_smtpraw --source 127.0.0.2 127.0.0.3 "$BMX_PORT" <<'EOS' 2>&1
expect 220
send "EHLO mx1.example.test\r\n"
expect 250
send "ETRN example.test\r\n"
expect 25
send "QUIT\r\n"
expect 221
EOS
) && t_ok "ETRN from the primary accepted" || t_fail "ETRN from primary" "$out"
t_diag "$(printf '%s\n' "$out" | grep 'ETRN' -A1 | tail -1)"
world_wait_until 10 world_sink_has 5
el=$(echo "$(date +%s.%N) - $t0" | bc)
t_diag "ETRN to all 5 delivered: ${el}s"
t_is "ETRN delivered all 5" "$(world_sink_count)" 5
[ "$(echo "$el < 5" | bc)" = 1 ] && t_ok "ETRN delivery was immediate (${el}s)" ||
	t_fail "ETRN delivery took ${el}s"

# --- hold / release, across a restart ---
"$BMX" hold example.test "${CTL[@]}" >"$W/hold.out" 2>&1 && t_ok "backupmx hold" ||
	t_fail "hold" "$(cat "$W/hold.out")"
bmxd_send_n 3 r@example.test || t_fail "send" "$(cat "$W/source.log")"
sleep 3
t_is "held mail not delivered with the primary up" "$(world_sink_count)" 5
t_is "held mail queued" "$(bmxd_queue_files | wc -l)" 3
t_like "status shows held" "$(bmxd_status_dest example.test)" '"held": *true'
bmxd_stop
bmxd_start || t_fail "restart"
"$BMX" flush example.test "${CTL[@]}" >/dev/null 2>&1
sleep 3
t_is "hold survives a restart (and a flush)" "$(world_sink_count)" 5
t_like "status still held after restart" "$(bmxd_status_dest example.test)" '"held": *true'
"$BMX" release example.test "${CTL[@]}" >"$W/rel.out" 2>&1 && t_ok "backupmx release" ||
	t_fail "release" "$(cat "$W/rel.out")"
world_wait_until 10 world_sink_has 8
t_is "released mail delivered" "$(world_sink_count)" 8
sleep 1
t_is "queue empty" "$(bmxd_queue_files | wc -l)" 0
t_done
