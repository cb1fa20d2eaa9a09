#!/bin/bash
# t_smtpd_basic.sh - backupmxd receiving side: relay control, recipients,
# SIZE, commands, pipelining, Received header, config check, recovery.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"

printf 'known@example.test\n@deeper.sub.example.test\nCase@example.test\n' > "$W/recipients"
chmod 644 "$W/recipients"
bmxd_config <<CONF
recipients = $W/recipients
max_message_size = 20000
max_recipients = 5
CONF

# -n prints the effective settings
out=$("$BMXD" -n -c "$W/bmx.conf" 2>&1); rc=$?
t_is "backupmxd -n exits 0" "$rc" 0
t_like "backupmxd -n shows max_message_size" "$out" '^max_message_size = 20000'
printf 'hostname = x\nbogus_key = 1\n' > "$W/bad.conf"
out=$("$BMXD" -n -c "$W/bad.conf" 2>&1); rc=$?
t_is "unknown key: exit 1" "$rc" 1
t_like "unknown key reported as file:line" "$out" "bad.conf:2: "
if [ "$(id -u)" = 0 ]; then
    grep -v '^user' "$W/bmx.conf" > "$W/root.conf"
    out=$(timeout 10 "$BMXD" -c "$W/root.conf" 2>&1); rc=$?
    t_is "root without user refuses to run" "$rc" 1
    t_like "root refusal says why" "$out" "root"
fi

bmxd_start || { t_fail "daemon start"; t_done; }
P=$BMX_PORT

out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220 mx2.example.test ESMTP
send b"EHLO client.test\r\n"
expect 250 PIPELINING
send b"MAIL FROM:<s@client.test>\r\n"
expect 250 2.1.0
send b"RCPT TO:<someone@elsewhere.test>\r\n"
expect 554 5.7.1.*Relay access denied
send b"RCPT TO:<nobody@example.test>\r\n"
expect 550 5.1.1
send b"RCPT TO:<known@example.test>\r\n"
expect 250 2.1.5
send b"RCPT TO:<KNOWN@EXAMPLE.TEST>\r\n"
expect 250
send b"RCPT TO:<anyone@sub.example.test>\r\n"
expect 554 5.7.1
send b"RCPT TO:<x@deeper.sub.example.test>\r\n"
expect 250
send b"RCPT TO:<case@example.test>\r\n"
expect 550
send b"DATA\r\n"
expect 354
send b"Subject: hello\r\nAuthentication-Results: mx2.example.test; spf=pass\r\n smtp.mailfrom=s@client.test\r\nAuthentication-Results: mx.other.test; spf=fail\r\n\r\nbody line\r\n..dot line\r\nAuthentication-Results: mx2.example.test; in the body\r\n.\r\n"
expect 250 2.0.0 Ok: queued as
send b"VRFY known\r\n"
expect 252
send b"HELP\r\n"
expect 214
send b"FOO\r\n"
expect 500 5.5.2
send b"NOOP\r\n"
expect 250
send b"RSET\r\n"
expect 250
send b"QUIT\r\n"
expect 221
expect_close
SCR
); rc=$?
t_is "relay refused, recipients checked, message queued" "$rc" 0 || t_diag "$out"
qid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' | head -1)
t_like "queue ID reported" "$qid" '^[0-9A-Za-z]{8,}$'
t_is "queue file exists" "$(bmxd_queue_files | grep -c "^$qid$")" 1
f="$BMX_SPOOL/queue/$qid"
body=$(cat "$f" 2>/dev/null | tr -d '\000')
t_like "Received header prepended" "$body" 'Received: from client.test \((unknown|localhost) \[127\.0\.0\.1\]\)'
t_like "Received names our host and the queue ID" "$body" "by mx2.example.test \(backupmx\) with ESMTP id $qid"
t_like "dot-unstuffed body stored" "$body" '^\.dot line'
t_unlike "relay recipient never stored" "$body" 'elsewhere.test'
t_unlike "a forged Authentication-Results with our authserv-id is removed (RFC 8601 5)" "$body" \
	'^Authentication-Results: mx2\.example\.test; spf=pass'
t_unlike "... with its folded line" "$body" '^ smtp\.mailfrom=s@client\.test'
t_like "... another host's Authentication-Results stays" "$body" \
	'^Authentication-Results: mx\.other\.test; spf=fail'
t_like "... and the body is untouched" "$body" '^Authentication-Results: mx2\.example\.test; in the body'

# SIZE: declared and actual
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250 SIZE 20000
send b"MAIL FROM:<s@c.test> SIZE=20001\r\n"
expect 552 5.3.4
send b"MAIL FROM:<s@c.test> SIZE=100\r\n"
expect 250
send b"RCPT TO:<known@example.test>\r\n"
expect 250
send b"DATA\r\n"
expect 354
send_repeat 300 b"0123456789012345678901234567890123456789012345678901234567890123456789012345678\r\n"
send b".\r\n"
expect 552
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "SIZE limit at MAIL and after DATA" "$rc" 0 || t_diag "$out"

# pipelining: everything in one write, answers in order
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<>\r\nRCPT TO:<known@example.test>\r\nRCPT TO:<bad@elsewhere.test>\r\nDATA\r\nSubject: p\r\n\r\nx\r\n.\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<known@example.test>\r\nDATA\r\nSubject: q\r\n\r\ny\r\n.\r\nQUIT\r\n"
expect 250 2.1.0
expect 250 2.1.5
expect 554
expect 354
expect 250 queued as
expect 250 2.1.0
expect 250 2.1.5
expect 354
expect 250 queued as
expect 221
SCR
); rc=$?
t_is "pipelined transactions answered in order" "$rc" 0 || t_diag "$out"

# the same, but the client half-closes right after its last command: the EOF
# arrives while the first message is being committed, and must wait until
# every command before it is answered
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<>\r\nRCPT TO:<known@example.test>\r\nDATA\r\nSubject: h1\r\n\r\nx\r\n.\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<known@example.test>\r\nDATA\r\nSubject: h2\r\n\r\ny\r\n.\r\nQUIT\r\n"
shutdown
expect 250 2.1.0
expect 250 2.1.5
expect 354
expect 250 queued as
expect 250 2.1.0
expect 250 2.1.5
expect 354
expect 250 queued as
expect 221
expect_close
SCR
); rc=$?
t_is "half-closed after pipelined commands: every reply, then close" "$rc" 0 || t_diag "$out"

# max_recipients
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<s@c.test>\r\n"
expect 250
send b"RCPT TO:<a1@deeper.sub.example.test>\r\nRCPT TO:<a2@deeper.sub.example.test>\r\nRCPT TO:<a3@deeper.sub.example.test>\r\nRCPT TO:<a4@deeper.sub.example.test>\r\nRCPT TO:<a5@deeper.sub.example.test>\r\nRCPT TO:<a6@deeper.sub.example.test>\r\n"
expect_count 5 250
expect 452 4.5.3
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "max_recipients gives 452 4.5.3" "$rc" 0 || t_diag "$out"

# a message with too many Received headers (mail loop)
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<s@c.test>\r\nRCPT TO:<known@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 354
send_repeat 100 b"Received: from a by b; Sat, 1 Jan 2000 00:00:00 +0000\r\n"
send b"\r\nloop\r\n.\r\n"
expect 554 5.4.6
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "over 100 Received headers refused with 554 5.4.6" "$rc" 0 || t_diag "$out"

# SMTPUTF8 (RFC 6531): UTF-8 addresses only with the SMTPUTF8 parameter
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250 SMTPUTF8
send b"MAIL FROM:<j\xc3\xb6rg@client.test>\r\n"
expect 553 5.6.7
send b"MAIL FROM:<j\xc3\xb6rg@client.test> SMTPUTF8\r\n"
expect 250
send b"RCPT TO:<known@example.test>\r\n"
expect 250
send b"DATA\r\n"
expect 354
send b"Subject: gr\xc3\xbc\xc3\x9fe\r\n\r\nUTF-8 body \xc3\xa4\r\n.\r\n"
expect 250 queued as
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "SMTPUTF8: UTF-8 sender refused without the parameter, accepted with it" "$rc" 0 ||
    t_diag "$out"
qid8=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' | head -1)
t_like "SMTPUTF8: Received says UTF8SMTP" "$(tr -d '\000' < "$BMX_SPOOL/queue/$qid8" 2>/dev/null)" \
    "with UTF8SMTP id $qid8"

# SIGHUP reloads the recipient table
printf 'known@example.test\nnewbie@example.test\n' > "$W/recipients"
kill -HUP "$BMXD_PID"
sleep 0.5
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<newbie@example.test>\r\nRCPT TO:<x@deeper.sub.example.test>\r\n"
expect 250
expect 250
expect 250 2.1.5
expect 550 5.1.1
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "SIGHUP reloaded the recipient table (new entry in, removed wildcard out)" "$rc" 0 ||
    t_diag "$out"
t_like "SIGHUP logged" "$(cat "$BMXD_LOG")" 'recipients: 2 entries'

# recovery: a damaged queue file is moved to corrupt/ at start-up
nq=$(bmxd_queue_files | wc -l)
bmxd_stop
t_is "graceful stop exits 0" "${BMXD_RC:-x}" 0
head -c 40 "$f" > "$BMX_SPOOL/queue/0000000000000000000A"
bmxd_start || t_fail "restart"
sleep 0.5
t_is "queued messages survive restart" "$(bmxd_queue_files | wc -l)" "$nq"
t_is "damaged file moved to corrupt/" "$(ls "$BMX_SPOOL/corrupt" 2>/dev/null | grep -c 0000000000000000000A)" 1
t_like "recovery logged" "$(cat "$BMXD_LOG")" 'corrupt'
t_done
