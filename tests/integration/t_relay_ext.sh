#!/bin/bash
# t_relay_ext.sh - a message that needs SMTPUTF8 is never sent to a primary
# that lacks the extension (no downgrade): it is deferred and logged, and at
# queue_lifetime it bounces with 5.6.7 (RFC 6531).  The primary is
# smtp-sink -e (no ESMTP at all, so no SMTPUTF8); an ASCII message to the
# same primary is delivered meanwhile.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have smtp-sink || t_skip_all "smtp-sink missing"
bmxd_world_dns <<EOD
local-zone: "client.test." static
local-data: "client.test. 3600 IN SOA ns.client.test. h.client.test. 1 3600 900 604800 300"
local-data: "client.test. 3600 IN MX 10 mx.client.test."
local-data: "mx.client.test. 300 IN A 127.0.0.4"
EOD
# this test is about store and forward while the primary is up (primary_up's
# default, proxy, would pass the mail through live: t_proxy covers that) and
# about the DSN itself (bounce_policy's default sends none to a sender no
# milter authenticated: t_relay_bounce covers that)
bmxd_relay_config <<EOD
primary_up = queue
bounce_policy = always
queue_lifetime = 6
EOD
world_sink_start 127.0.0.4 "$BMX_PORT"      # the sender's MX: captures the DSN
DSN_DIR=$SINK_DIR
world_sink_start 127.0.0.2 "$BMX_PORT" -e   # the primary, without ESMTP
PRI_DIR=$SINK_DIR
bmxd_start || { t_fail "daemon start"; t_done; }

out=$(world_smtpraw 127.0.0.3 "$BMX_PORT" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<s@client.test> SMTPUTF8\r\nRCPT TO:<j\xc3\xb6rg@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 354
send b"Subject: utf8\r\n\r\nneeds SMTPUTF8\r\n.\r\n"
expect 250 queued as
send b"MAIL FROM:<s@client.test>\r\nRCPT TO:<plain@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 354
send b"Subject: ascii\r\n\r\nplain\r\n.\r\n"
expect 250 queued as
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "both messages accepted" "$rc" 0 || t_diag "$out"
world_wait_until 20 world_sink_has 1 "$DSN_DIR"
t_is "the ASCII message reached the primary" "$(world_sink_count "$PRI_DIR")" 1
t_unlike "the SMTPUTF8 message never reached the primary" "$(cat "$PRI_DIR"/* 2>/dev/null)" \
	'needs SMTPUTF8'
t_like "deferral logged with the reason" "$(cat "$BMXD_LOG")" \
	'deferred: the MX host does not support SMTPUTF8'
t_is "one DSN at the sender's MX" "$(world_sink_count "$DSN_DIR")" 1
f=$(ls -t "$DSN_DIR"/* 2>/dev/null | head -1)
j=$(sed -n '/^X-Rcpt-Args/,$p' "$f" 2>/dev/null | tail -n +2 |
	"$WORLD_PY" "$WORLD_LIB/dsncheck.py" 2>/dev/null)
t_like "the DSN says failed with 5.6.7" "$j" '"status": "5\.6\.7"'
t_like "the DSN names the expiry and the reason" "$j" 'does not support SMTPUTF8'
t_is "queue empty afterwards" "$(bmxd_queue_files | wc -l)" 0
t_done
