#!/bin/bash
# t_relay_verify.sh - recipient_verify = yes: with the primary (mxpeer.py,
# one valid user) up, a known user is accepted and an unknown one refused
# with 550 5.1.1; with the primary down, a cached-good address is still
# accepted and an uncached one gets 450 4.4.1.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
bmxd_world_dns </dev/null
bmxd_relay_config <<EOD
recipient_verify = yes
EOD
world_bg "$WORLD_PY" "$WORLD_LIB/mxpeer.py" --listen 127.0.0.2:"$BMX_PORT" \
	--domain example.test --user alice --pipelining --name mx1.example.test
PEER_PID=$BG_PID
world_wait_port 127.0.0.2 "$BMX_PORT" || t_fail "mxpeer did not start" "$(cat "$BG_LOG")"
bmxd_start || { t_fail "daemon start"; t_done; }

# RCPT one address and expect CODE [REGEX]; $1 = label.
rcpt_is()
{
	local out
	out=$(world_smtpraw 127.0.0.3 "$BMX_PORT" <<EOS 2>&1
timeout 20
expect 220
send "EHLO client.test\r\n"
expect 250
send "MAIL FROM:<s@client.test>\r\n"
expect 250
send "RCPT TO:<$2>\r\n"
expect $3 $4
send "QUIT\r\n"
expect 221
EOS
) && t_ok "$1" || t_fail "$1" "$out"
}

rcpt_is "known user accepted (primary up)" alice@example.test 250
rcpt_is "unknown user refused 550 5.1.1" nosuch@example.test 550 '5\.1\.1'
rcpt_is "known user accepted again (cached)" alice@example.test 250
world_kill "$PEER_PID"
sleep 3
rcpt_is "primary down: cached-good address accepted" alice@example.test 250
rcpt_is "primary down: uncached address gets 450 4.4.1" carol@example.test 450 '4\.4\.1'
rcpt_is "primary down: cached-bad address still refused" nosuch@example.test 550 '5\.1\.1'
ls "$BMX_SPOOL" >"$W/spool.ls"
t_diag "spool contents: $(tr '\n' ' ' <"$W/spool.ls")"
# The cache survives a restart: cached-good still accepted with the primary down.
bmxd_stop
bmxd_start || t_fail "restart"
rcpt_is "after restart, primary down: cached-good still accepted" alice@example.test 250
rcpt_is "after restart, primary down: uncached still 450" dave@example.test 450 '4\.4\.1'
t_done
