#!/bin/bash
# t_interop_postfix.sh - backupmxd between two real Postfix instances:
#   a Postfix sending MTA (127.0.0.5) relays to backupmxd (127.0.0.3), and
#   backupmxd delivers over STARTTLS (tls_policy = encrypt) to a Postfix
#   primary (127.0.0.2) that stores the mail in a maildir.
# Proven from Postfix's own log and maildir, not from ours.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
. "$BMX_ROOT/tests/lib/postfix.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
PATH=$PATH:/usr/sbin
command -v postfix >/dev/null || t_skip_all "postfix is not installed (another MTA present?)"
[ "$(id -u)" = 0 ] || t_skip_all "needs root"
# Postfix's inet_interfaces wants each address on an interface
for a in 127.0.0.2 127.0.0.3 127.0.0.5; do ip addr add "$a/8" dev lo 2>/dev/null; done

bmxd_world_dns </dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 2 \
	-subj "/CN=pf-127.0.0.2.example.test" >/dev/null 2>&1 || t_skip_all "openssl failed"
chmod 644 "$W/key.pem"

PRI=$W/pf-primary
pf_config "$PRI" 127.0.0.2 "$BMX_PORT" primary <<CF
smtpd_tls_cert_file = $W/cert.pem
smtpd_tls_key_file = $W/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_authorized_xforward_hosts = 127.0.0.0/8
CF
pf_start "$PRI" || t_skip_all "Postfix primary cannot start: $(tail -3 "$PRI/start.log")"
SND=$W/pf-sender
PF_RELAYHOST="[127.0.0.3]:$BMX_PORT" pf_config "$SND" 127.0.0.5 0 sender </dev/null
pf_start "$SND" || t_fail "Postfix sender cannot start" "$(tail -3 "$SND/start.log")"

# this test is about store and forward while the primary is up (primary_up's
# default, proxy, would pass the mail through live: t_proxy covers that)
bmxd_relay_config <<CF
primary_up = queue
tls_policy = encrypt
CF
if ! bmxd_start; then
	t_fail "daemon start"
	pf_stop "$SND"
	pf_stop "$PRI"
	t_done
fi

# Postfix (sender) -> backupmxd -> Postfix (primary, STARTTLS)
for i in 1 2 3; do pf_send "$SND" "alice@client.test" "bob@example.test" "interop $i"; done
# Print how many of the 3 messages the primary's maildir holds.
maildir_got() { grep -rl "^Subject: interop [123]" "$PRI/mail/example.test/new" 2>/dev/null | wc -l; }
all_got() { [ "$(maildir_got)" -ge 3 ]; }
world_wait_until 30 all_got
got=$(maildir_got)
t_is "3 messages from the Postfix sender reached the Postfix primary's maildir" "$got" 3 ||
	t_diag "$(tail -20 "$BMXD_LOG")" "$(pf_log "$SND" | tail -5)" "$(pf_log "$PRI" | tail -5)"
t_like "backupmxd received them from Postfix at 127.0.0.5" "$(cat "$BMXD_LOG")" \
	'client=[^ ]*\[127\.0\.0\.5\]'
t_like "the Postfix sender logged status=sent via backupmxd" "$(pf_log "$SND")" \
	"relay=127\.0\.0\.3\[127\.0\.0\.3\]:$BMX_PORT.*status=sent"
t_like "the Postfix primary saw STARTTLS from backupmxd" "$(pf_log "$PRI")" \
	'TLS connection established from'
t_like "backupmxd logged status=sent to the primary" "$(cat "$BMXD_LOG")" \
	'to=<bob@example.test>, relay=mx1.example.test\[127\.0\.0\.2\].*status=sent'
msg=$(grep -rl "^Subject: interop 1" "$PRI/mail/example.test/new" 2>/dev/null | head -1)
body=$(cat "$msg" 2>/dev/null)
t_like "the stored message carries backupmxd's Received header" "$body" \
	'by mx2\.example\.test \(backupmx\) with ESMTP id'
t_like "Postfix's Received header says it came over TLS" "$body" '\(using TLSv1\.[23]'
# XFORWARD: the primary offers it to us, and logs the original client (the
# Postfix sender at 127.0.0.5) and our queue ID, not the backup
qid1=$(sed -n 's/.*info: \([0-9A-Za-z]*\): to=<bob@example.test>.*status=sent.*/\1/p' "$BMXD_LOG" |
	head -1)
t_like "XFORWARD: the Postfix primary logged the original client" "$(pf_log "$PRI")" \
	"orig_queue_id=$qid1, orig_client=unknown\[127\.0\.0\.5\]"
# DSN parameters (RFC 3461) received by backupmxd are passed on to a primary
# that offers DSN: Postfix logs the ORCPT as orig_to and, for NOTIFY=SUCCESS,
# creates a delivery status notification.
out=$(world_smtpraw 127.0.0.3 "$BMX_PORT" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250 DSN
send b"MAIL FROM:<carol@client.test> RET=HDRS ENVID=interop+2Ddsn\r\n"
expect 250
send b"RCPT TO:<dave@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;original@example.test\r\n"
expect 250
send b"DATA\r\n"
expect 354
send b"Subject: interop dsn\r\n\r\ndsn parameters\r\n.\r\n"
expect 250 queued as
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "a message with DSN parameters accepted" "$rc" 0 || t_diag "$out"
dave_sent() { pf_log "$PRI" | grep -q 'to=<dave@example.test>.*status=sent'; }
world_wait_until 20 dave_sent
t_like "Postfix honoured NOTIFY=SUCCESS (success DSN)" "$(pf_log "$PRI")" \
	'sender delivery status notification'
# The success DSN is stuck in the primary's queue (client.test has no MX
# there): read it with postcat.  It carries our ORCPT and ENVID.
dsnq=$(pf_log "$PRI" | sed -n 's/.*sender delivery status notification: \([0-9A-F]*\).*/\1/p' |
	tail -1)
dsn=$(postcat -c "$PRI/etc" -bq "$dsnq" 2>/dev/null)
t_like "Postfix's DSN names the ORCPT passed on by backupmxd" "$dsn" \
	'Original-Recipient: rfc822; ?original@example.test'
t_like "... and the ENVID" "$dsn" 'Original-Envelope-Id: interop-dsn'

# ---- the same chain with primary_up's default, proxy: passed through live ----
bmxd_stop
sed -i '/^primary_up = queue$/d' "$W/bmx.conf"
tls0=$(pf_log "$PRI" | grep -c 'TLS connection established from')
if bmxd_start; then
	for i in 1 2; do pf_send "$SND" "alice@client.test" "bob@example.test" "proxied $i"; done
	# Print how many of the 2 proxied messages the primary's maildir holds.
	proxied_got() { grep -rl "^Subject: proxied [12]" "$PRI/mail/example.test/new" 2>/dev/null |
		wc -l; }
	proxied_all() { [ "$(proxied_got)" -ge 2 ]; }
	world_wait_until 30 proxied_all
	t_is "proxy: both messages reached the Postfix primary" "$(proxied_got)" 2 ||
		t_diag "$(tail -20 "$BMXD_LOG")"
	t_like "proxy: the Postfix sender got the primary's verdict through backupmxd" \
		"$(pf_log "$SND")" "status=sent \\(250 2\\.0\\.0 Ok: relayed as [0-9A-Za-z]+; primary mx1\\.example\\.test\\[127\\.0\\.0\\.2\\]:$BMX_PORT said: (2\\.0\\.0 )?Ok: queued as"
	t_like "proxy: backupmxd logged status=sent for the live transaction" "$(cat "$BMXD_LOG")" \
		"proxy: [0-9A-Za-z]+: to=<bob@example\\.test>, relay=mx1\\.example\\.test\\[127\\.0\\.0\\.2\\]:$BMX_PORT, dsn=2\\.0\\.0, status=sent"
	tls1=$(pf_log "$PRI" | grep -c 'TLS connection established from')
	[ "$tls1" -ge $((tls0 + 2)) ] && t_ok "proxy: each live session used STARTTLS (tls_policy = encrypt)" ||
		t_fail "proxy: each live session used STARTTLS" "TLS sessions before $tls0, after $tls1"
	t_like "proxy: XFORWARD told the primary the Postfix sender's address" "$(pf_log "$PRI")" \
		'orig_client=unknown\[127\.0\.0\.5\]'
	msg=$(grep -rl "^Subject: proxied 1" "$PRI/mail/example.test/new" 2>/dev/null | head -1)
	t_like "proxy: the message carries backupmxd's Received header" "$(cat "$msg" 2>/dev/null)" \
		'by mx2\.example\.test \(backupmx\) with ESMTP id'
	bmxd_queue_empty && t_ok "proxy: nothing in backupmxd's spool" ||
		t_fail "proxy: nothing in backupmxd's spool" "$(bmxd_queue_files)"
else
	t_fail "daemon restart in proxy mode"
fi
bmxd_stop
pf_stop "$SND"
pf_stop "$PRI"
t_done
