#!/bin/bash
# t_smtpd_limits.sh - every peer-controlled size and time on backupmxd has a
# limit and a defined reply: line lengths, errors, connections, timeouts,
# slowloris, EOF in DATA, a flood of pipelined commands.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
bmxd_config <<'CONF'
command_timeout = 2
data_timeout = 3
max_errors = 5
max_connections = 6
max_connections_per_ip = 3
CONF
bmxd_start || { t_fail "daemon start"; t_done; }
P=$BMX_PORT

long=$(head -c 600 /dev/zero | tr '\0' 'a')
out=$(world_smtpraw 127.0.0.3 "$P" <<SCR
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"NOOP $long\r\n"
expect 500 5.5.2
send b"NOOP\r\n"
expect 250
send b"MAIL FROM:<a@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 354
send b"Subject: long\r\n\r\n"
send_repeat 1200 b"x"
send b"\r\n.\r\n"
expect 554 5.6.0
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "512-octet command limit and 998-octet text line limit" "$rc" 0 || t_diag "$out"

out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"A\r\nB\r\nC\r\nD\r\nE\r\nF\r\n"
expect_count 5 500
expect 421 4.7.0
expect_close
SCR
); rc=$?
t_is "too many errors: 421 and close" "$rc" 0 || t_diag "$out"

t0=$(date +%s.%N)
out=$(world_smtpraw --timeout 8 127.0.0.3 "$P" <<'SCR'
expect 220
expect 421 4.4.2
expect_close
SCR
); rc=$?
t1=$(date +%s.%N)
t_is "idle connection times out with 421 4.4.2" "$rc" 0 || t_diag "$out"
t_like "command_timeout honoured (~2 s)" "$(echo "$t1 - $t0" | bc)" '^[1-3]\.'

# slowloris: bytes trickle in faster than any idle timeout; the per-state
# deadline (not an idle timer) must still end the session on time
t0=$(date +%s.%N)
out=$(world_smtpraw --timeout 8 127.0.0.3 "$P" <<'SCR'
expect 220
send_bytewise b"EHLO s" 0.3
expect 421 4.4.2
SCR
); rc=$?
el=$(echo "$(date +%s.%N) - $t0" | bc)
t_is "slowloris on a command line gets 421" "$rc" 0 || t_diag "$out"
t_like "slowloris cut by the command deadline, not an idle timer ($el s)" "$el" '^(1\.[5-9]|2\.)'

t0=$(date +%s.%N)
out=$(world_smtpraw --timeout 10 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 250
expect 354
send_bytewise b"Subject:" 0.3
expect 421 4.4.2
SCR
); rc=$?
el=$(echo "$(date +%s.%N) - $t0" | bc)
t_is "slowloris in DATA gets 421" "$rc" 0 || t_diag "$out"
t_like "DATA cut by data_timeout (~3 s, $el s)" "$el" '^(2\.[5-9]|3\.)'

# EOF in the middle of DATA leaves nothing behind
before=$(bmxd_queue_files | wc -l)
world_smtpraw 127.0.0.3 "$P" >/dev/null <<'SCR'
expect 220
send b"EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 250
expect 354
send b"Subject: cut\r\n\r\npartial"
close
SCR
sleep 0.5
t_is "EOF mid-DATA: nothing queued" "$(bmxd_queue_files | wc -l)" "$before"
t_is "EOF mid-DATA: no temp file left" "$(ls "$BMX_SPOOL/tmp" | wc -l)" 0

# per-IP and total connection limits
pids=()
for i in 1 2 3; do
    printf 'expect 220\nsleep 6\n' | world_smtpraw 127.0.0.3 "$P" >/dev/null 2>&1 &
    pids+=($!)
done
sleep 0.5
out=$(printf 'expect 421 4.7.0\nexpect_close\n' | world_smtpraw 127.0.0.3 "$P"); rc=$?
t_is "4th connection from one IP gets 421 4.7.0" "$rc" 0 || t_diag "$out"
out=$(printf 'expect 220\nsend b"QUIT\\r\\n"\nexpect 221\n' | world_smtpraw --source 127.0.0.9 127.0.0.3 "$P"); rc=$?
t_is "another IP is still served" "$rc" 0 || t_diag "$out"
for i in 10 11 12; do
    printf 'expect 220\nsleep 5\n' | world_smtpraw --source 127.0.0.$i 127.0.0.3 "$P" >/dev/null 2>&1 &
    pids+=($!)
done
sleep 0.5
out=$(printf 'expect 421 4.7.0\n' | world_smtpraw --source 127.0.0.20 127.0.0.3 "$P"); rc=$?
t_is "connection past max_connections gets 421 4.7.0" "$rc" 0 || t_diag "$out"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
sleep 1
sleep 0.5

# 10,000 pipelined commands in one write: all answered, in order
out=$(world_smtpraw --timeout 20 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250
send_repeat 10000 b"NOOP\r\n"
expect_count 10000 250
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "10,000 pipelined NOOPs answered" "$rc" 0 || t_diag "$(printf '%s\n' "$out" | tail -5)"
kill -0 "$BMXD_PID" 2>/dev/null
t_is "daemon alive" "$?" 0
t_done
