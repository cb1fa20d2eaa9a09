#!/bin/bash
# t_attack_relay.sh - open-relay attempts against a real backupmxd: Debian's
# nmap smtp-open-relay script (all 16 cases), the same 16 cases as raw SMTP,
# and DSBL-style variants aimed at [127.0.0.1], [127.0.0.3], localhost and
# postmaster@[127.0.0.3].  Every one must be refused.
#
# nmap's smtp-open-relay.domain is the *foreign* domain it tries to relay
# to, so it is elsewhere.test here: example.test is one of our relay_domains
# and mail to it is legitimately accepted (that is what a backup MX is for).
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
bmxd_config <<'CONF'
max_errors = 50
CONF
bmxd_start || { t_fail "daemon start"; t_done; }
P=$BMX_PORT
FOREIGN=elsewhere.test
IP=127.0.0.3
SRV=mx2.example.test   # what nmap reads from our banner

# --- nmap's script ---
if world_have nmap; then
	out=$(timeout 120 nmap -Pn -n -p "$P" --script +smtp-open-relay \
		--script-args "smtp-open-relay.domain=$FOREIGN,smtp-open-relay.ip=$IP" $IP 2>&1)
	t_like "nmap smtp-open-relay ran against the port" "$out" "$P/tcp +open"
	t_unlike "nmap: not an open relay" "$out" 'Server is an open relay'
	t_like "nmap: reports the server as not a relay" "$out" \
		"smtp-open-relay: Server doesn't seem to be an open relay|All tests failed"
else
	t_skip "nmap smtp-open-relay" "nmap not installed"
fi

# One attempt: MAIL FROM:<$1> RCPT TO:<$2> must be refused (5xx at MAIL or RCPT).
refused()
{
	local from=${1//\"/\\\"} to=${2//\"/\\\"} out
	out=$(world_smtpraw 127.0.0.3 "$P" <<SCR
expect 220
send b"EHLO relaytest.test\r\n"
expect 250
send b"MAIL FROM:<$from>\r\n"
read
send b"RCPT TO:<$to>\r\n"
read
send b"QUIT\r\n"
expect 221
SCR
)
	# the RCPT reply is the 3rd "S:" reply line group; a 2xx to RCPT is a relay
	if printf '%s\n' "$out" | grep -E '^S: 25[0-9] 2\.1\.5' >/dev/null; then
		t_fail "refused: MAIL FROM:<$1> RCPT TO:<$2>" "$out"
	elif ! printf '%s\n' "$out" | grep -E '^S: 5[0-9][0-9]' >/dev/null; then
		t_fail "refused with 5xx: MAIL FROM:<$1> RCPT TO:<$2>" "$out"
	else
		t_ok "refused: MAIL FROM:<$1> RCPT TO:<$2>"
	fi
}

# --- the 16 cases of smtp-open-relay.nse, raw ---
f=antispam
t=relaytest
D=$FOREIGN
refused "" "$t@$D"
refused "$f@$D" "$t@$D"
refused "$f@$SRV" "$t@$D"
refused "$f@[$IP]" "$t@$D"
refused "$f@[$IP]" "$t%$D@[$IP]"
refused "$f@[$IP]" "$t%$D@$SRV"
refused "$f@[$IP]" "\"$t@$D\""
refused "$f@[$IP]" "\"$t%$D\""
refused "$f@[$IP]" "$t@$D@[$IP]"
refused "$f@[$IP]" "\"$t@$D\"@[$IP]"
refused "$f@[$IP]" "$t@$D@$SRV"
refused "$f@[$IP]" "@[$IP]:$t@$D"
refused "$f@[$IP]" "@$SRV:$t@$D"
refused "$f@[$IP]" "$D!$t"
refused "$f@[$IP]" "$D!$t@[$IP]"
refused "$f@[$IP]" "$D!$t@$SRV"

# --- DSBL-style variants against address literals and localhost ---
for H in "[127.0.0.1]" "[127.0.0.3]" "localhost" "localhost." "[IPv6:::1]"; do
	refused "dsbl@$H" "u@$H"
	refused "dsbl@$H" "postmaster@$H"
	refused "" "u@$D@$H"
	refused "dsbl@$H" "\"u@$D\"@$H"
	refused "dsbl@$H" "u%$D@$H"
	refused "dsbl@$H" "\"u%$D\"@$H"
	refused "dsbl@$H" "$D!u@$H"
	refused "dsbl@$H" "@$H:u@$D"
	refused "dsbl@$H" "@$H,@$H:u@$D"
done
refused "" "postmaster@[127.0.0.3]"
refused "dsbl@[127.0.0.3]" "u@[127.000.000.003]"
refused "dsbl@[127.0.0.3]" "u@[2130706435]"
refused "dsbl@[127.0.0.3]" "u@$D."
refused "dsbl@[127.0.0.3]" "U@ELSEWHERE.TEST"

# nothing reached the queue
t_is "no message was queued by any attempt" "$(bmxd_queue_files | wc -l)" 0
world_alive "$BMXD_PID"
t_is "daemon alive after the battery" "$?" 0
bmxd_stop
t_unlike "no sanitizer report" "$(cat "$BMXD_LOG")" 'ERROR: (Address|Leak)Sanitizer|runtime error:'
t_done
