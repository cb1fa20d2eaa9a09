#!/bin/bash
# t_smtpd_tls.sh - STARTTLS on backupmxd: offer, handshake with swaks,
# Received header, state reset after TLS, and the CVE-2011-0411 injection.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have openssl || t_skip_all "openssl missing"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 2 \
    -subj "/CN=mx2.example.test" -addext "subjectAltName=DNS:mx2.example.test" >/dev/null 2>&1
bmxd_config <<CONF
tls_cert = $W/cert.pem
tls_key = $W/key.pem
CONF
bmxd_start || { t_fail "daemon start"; t_done; }
P=$BMX_PORT

out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250 STARTTLS
send b"STARTTLS\r\n"
expect 220 2.0.0
starttls
send b"MAIL FROM:<a@c.test>\r\n"
expect 503
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<a@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 354
send b"Subject: tls\r\n\r\nhi\r\n.\r\n"
expect 250 queued as
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "STARTTLS handshake, EHLO required again, message queued" "$rc" 0 || t_diag "$out"
qid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' | head -1)
body=$(tr -d '\000' < "$BMX_SPOOL/queue/$qid" 2>/dev/null)
t_like "Received says ESMTPS" "$body" "with ESMTPS id $qid"
t_like "Received names the TLS version and cipher" "$body" 'using TLSv1\.[23] with cipher'

# EHLO after TLS no longer offers STARTTLS
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"STARTTLS\r\n"
expect 220
starttls
send b"EHLO c.test\r\n"
expect 250
send b"STARTTLS\r\n"
expect 502
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "no second STARTTLS inside TLS" "$rc" 0 || t_diag "$out"

# CVE-2011-0411: a command pipelined after STARTTLS must not be answered inside TLS
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"STARTTLS\r\nRSET\r\n"
expect 220 2.0.0
starttls
send b"EHLO after.test\r\n"
expect 250 mx2.example.test
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_like "injected RSET is not answered inside TLS" "$out" '^S: 250[- ]mx2.example.test' 
t_unlike "no 'Ok' reply to the injected RSET" "$out" '^S: 250 2.0.0 Ok'

if world_have swaks && perl -MIO::Socket::SSL -e1 2>/dev/null; then
    out=$(world_swaks 127.0.0.3 "$P" --to tls@example.test --tls 2>&1); rc=$?
    t_is "swaks --tls delivers" "$rc" 0 || t_diag "$out"
    t_like "swaks saw TLS" "$out" 'TLS started'
else
    t_skip "swaks --tls" "swaks or IO::Socket::SSL missing"
fi

# without tls_cert, STARTTLS is neither offered nor accepted
bmxd_stop
bmxd_config </dev/null
bmxd_start || t_fail "restart without TLS"
out=$(world_smtpraw 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
read
send b"STARTTLS\r\n"
expect 502
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "STARTTLS refused without a certificate" "$rc" 0 || t_diag "$out"
t_unlike "STARTTLS not offered without a certificate" "$out" 'STARTTLS$'
t_done
