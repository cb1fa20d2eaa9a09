#!/bin/bash
# t_smtpd_smuggle.sh - SMTP smuggling, bare CR/LF, STARTTLS-less injection
# shapes and relay tricks against a real backupmxd, byte-exact.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
bmxd_config </dev/null
bmxd_start || { t_fail "daemon start"; t_done; }
P=$BMX_PORT

# Each variant is a fake end-of-data followed by a smuggled transaction.
variants=(
    '\n.\n' '\n.\r\n' '\r.\r' '\r.\r\n' '\r\n.\n' '\r\n.\r' '\n\n.\r\n' '\r\n\x00.\r\n' '\r\n.\x00\r\n'
)
for v in "${variants[@]}"; do
    out=$(world_smtpraw --timeout 5 127.0.0.3 "$P" <<SCR
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<good@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 354
send b"Subject: smuggle\r\n\r\nbody$v" b"MAIL FROM:<evil@c.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n"
read
send b"QUIT\r\n"
read
SCR
)
    n354=$(printf '%s\n' "$out" | grep -c '^S: 354')
    n250=$(printf '%s\n' "$out" | grep -c '^S: 250 2.1.0')
    t_is "smuggling variant $v: no second transaction" "$n354:$n250" "1:1" || t_diag "$out"
done
# The smuggled sender must never reach the spool as an envelope sender.
hits=0
for f in "$BMX_SPOOL"/queue/*; do
    [ -f "$f" ] || continue
    if tr -d '\000' < "$f" | grep -q 'evil@c.test' && ! tr -d '\000' < "$f" | grep -q 'good@c.test'; then
        hits=$((hits + 1))
    fi
done
t_is "no queue file has the smuggled sender" "$hits" 0

# bare LF in a command closes the session with 521
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\n"
expect 521 5.5.2
expect_close
SCR
); rc=$?
t_is "bare LF in a command: 521 and close" "$rc" 0 || t_diag "$out"
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\rMAIL FROM:<a@b>\r\n"
expect 521 5.5.2
expect_close
SCR
); rc=$?
t_is "bare CR in a command: 521 and close" "$rc" 0 || t_diag "$out"

# a proper message still works, and a lone "." line inside text is stuffed
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<a@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 354
send b"Subject: ok\r\n\r\n..\r\n.\r\n"
expect 250 queued as
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "a clean message after the attacks is accepted" "$rc" 0 || t_diag "$out"

# relay tricks: each is refused with 5xx at RCPT
tricks=(
    '<u%elsewhere.test@example.test>' '<elsewhere.test!u@example.test>' '<@example.test:u@elsewhere.test>'
    '<"u@elsewhere.test"@example.test>' '<"u%elsewhere.test"@example.test>' '<u@elsewhere.test@example.test>'
    '<u@[127.0.0.1]>' '<u@example.test.>' '<u@>' '<u>' '<@>' '<u@elsewhere.test>' '<u@localhost>'
    '<"u"@[127.0.0.3]>' '<u@example.test.elsewhere.test>' '<u@xexample.test>'
    "<';sh -c id;'@example.test>" '<u@@example.test>' '<u@.example.test>' 'u@example.test'
)
for tr in "${tricks[@]}"; do
    q=${tr//\"/\\\"}
    out=$(world_smtpraw 127.0.0.3 "$P" <<SCR
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<a@c.test>\r\n"
expect 250
send b"RCPT TO:$q\r\n"
expect 5
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
    t_is "relay trick RCPT TO:$tr refused" "$rc" 0 || t_diag "$out"
done
# a source route ending in our domain is stripped, not followed
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<a@c.test>\r\n"
expect 250
send b"RCPT TO:<@elsewhere.test:u@example.test>\r\n"
expect 250
send b"RCPT TO:<U@EXAMPLE.TEST>\r\n"
expect 250
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "source route to our domain stripped; domain case ignored" "$rc" 0 || t_diag "$out"
kill -0 "$BMXD_PID" 2>/dev/null
t_is "daemon alive after the battery" "$?" 0
t_done
