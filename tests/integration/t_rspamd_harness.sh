#!/bin/bash
# t_rspamd_harness.sh - the real-peer harness for the milter client of issue
# 14: a private rspamd (tests/lib/rspamd.sh), its proxy worker in milter mode,
# checked directly (rspamc over HTTP) and through a real Postfix with
# smtpd_milters.  backupmxd is not involved: this validates the peers that
# the milter client will be tested against.
#
# World (one network namespace from tests/run):
#   127.0.0.1:DNS_PORT  unbound: pass.test (TXT "v=spf1 ip4:127.0.0.77 -all")
#   127.0.0.1:RSPAMD_MILTER_PORT / RSPAMD_HTTP_PORT   rspamd (proxy + normal)
#   127.0.0.2           a Postfix primary, myhostname mx1.example.test,
#                       smtpd_milters = inet:127.0.0.1:RSPAMD_MILTER_PORT,
#                       milter_default_action = tempfail, milter_protocol = 6,
#                       virtual maildirs for example.test
#   127.0.0.77          the SMTP client (swaks), SPF-authorised for pass.test
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/postfix.sh"
. "$BMX_ROOT/tests/lib/rspamd.sh"
world_init
# Stop the Postfix master (a daemon: the world's trap does not know it).
_rh_on_exit()
{
	local rc=$?
	set +e
	[ "$BASHPID" = "$_WORLD_MAIN_PID" ] && pf_stop_all
	(exit "$rc")
	_world_on_exit
}
trap _rh_on_exit EXIT
[ "$(id -u)" = 0 ] || t_skip_all "needs root"
world_have rspamd || t_skip_all "rspamd is not installed (scripts/deps)"
world_have rspamc || t_skip_all "rspamc is not installed (rspamd)"
command -v postfix >/dev/null || t_skip_all "postfix is not installed (another MTA present?)"
world_have swaks || t_skip_all "swaks is not installed"
ip addr add 127.0.0.2/8 dev lo 2>/dev/null
CLIENT=127.0.0.77
GTUBE='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'

# A TXT value in local-data needs single quotes outside (TESTING.md).
world_dns_start <<'DNS'
local-zone: "pass.test." static
local-data: "pass.test. 3600 IN SOA ns.pass.test. h.pass.test. 1 3600 900 604800 300"
local-data: 'pass.test. 300 IN TXT "v=spf1 ip4:127.0.0.77 -all"'
DNS
t_like "unbound serves the SPF record of pass.test as one string" \
	"$(world_dig pass.test TXT +short)" '^"v=spf1 ip4:127\.0\.0\.77 -all"$'

# --- 1. rspamd starts in the namespace and listens ------------------------------
t0=$(date +%s%N)
if ! rspamd_start "$W/rspamd"; then
	t_fail "rspamd starts and its milter port listens" "$(tail -30 "$RSPAMD_LOG")"
	t_done
fi
t_ok "rspamd listens on 127.0.0.1:$RSPAMD_MILTER_PORT (milter) and :$RSPAMD_HTTP_PORT (HTTP) after $((($(date +%s%N) - t0) / 1000000)) ms"
listen=$(ss -Hltnp | grep '"rspamd"' | awk '{ print $4 }' | sort | tr '\n' ' ')
t_is "rspamd listens on our two ports only (no stock 11332-11335)" "$listen" \
	"$(printf '%s\n' "127.0.0.1:$RSPAMD_MILTER_PORT" "127.0.0.1:$RSPAMD_HTTP_PORT" |
		sort | tr '\n' ' ')"
t_diag "rspamd processes (pid rss_kB cmd):" \
	"$(ps -o pid=,rss=,args= --ppid "$RSPAMD_PID"; ps -o pid=,rss=,args= -p "$RSPAMD_PID")"

# --- 2. rspamc over HTTP: GTUBE is rejected, ham passes SPF ----------------------
printf 'From: <a@pass.test>\r\nTo: <r@example.test>\r\nSubject: gtube\r\nMessage-ID: <gtube@pass.test>\r\nDate: %s\r\n\r\n%s\r\n' \
	"$(date -R)" "$GTUBE" >"$W/gtube.eml"
printf 'From: <a@pass.test>\r\nTo: <r@example.test>\r\nSubject: ham\r\nMessage-ID: <ham@pass.test>\r\nDate: %s\r\n\r\nHello, this is an ordinary message.\r\n' \
	"$(date -R)" >"$W/ham.eml"
out=$(rspamd_check "$W/gtube.eml" -i "$CLIENT" -F a@pass.test -r r@example.test 2>&1)
t_like "rspamc: GTUBE -> Action: reject" "$out" '^Action: reject'
t_like "rspamc: ... by the GTUBE symbol" "$out" 'GTUBE'
t_diag "rspamc GTUBE:" "$(grep -E '^(Action|Spam|Score|Symbol)' <<<"$out")"
out=$(rspamd_check "$W/ham.eml" -i "$CLIENT" -F a@pass.test -r r@example.test \
	--helo client.pass.test 2>&1)
t_like "rspamc: ham from $CLIENT -> Action: no action" "$out" '^Action: no action'
t_like "rspamc: ... with R_SPF_ALLOW (SPF checked for a loopback client)" "$out" \
	'^Symbol: R_SPF_ALLOW'
t_diag "rspamc ham:" "$(grep -E '^(Action|Spam|Score|Symbol)' <<<"$out")"
out=$(rspamd_check "$W/ham.eml" -i 127.0.0.99 -F a@pass.test 2>&1)
t_like "rspamc: SPF fail for a client the record does not name" "$out" '^Symbol: R_SPF_FAIL'

# --- 3. Postfix with smtpd_milters = rspamd ----------------------------------------
PF_PORT=$(world_free_port)
PRI=$W/pf
# main.cf: the milter.  rh_macros_*: connect macros for three more smtpd
# listeners (below); in master.cf, a value that starts with "{" would be
# taken for -o { name = value }, so they are named here.
PF_HOSTNAME=mx1.example.test pf_config "$PRI" 127.0.0.2 "$PF_PORT" primary <<CF
smtpd_milters = inet:127.0.0.1:$RSPAMD_MILTER_PORT
milter_default_action = tempfail
milter_protocol = 6
rh_macros_j = j
rh_macros_dn = {daemon_name}
rh_macros_none = v
CF
# Three more smtpd listeners, each passing rspamd other connect macros
# (Postfix's default: j {daemon_name} {daemon_addr} v _): which one names
# the authserv-id?  Separate listeners, not reloads, so no old smtpd process
# can answer with the previous settings.
declare -A MPORT
for m in j dn none; do
	MPORT[$m]=$(world_free_port)
	# shellcheck disable=SC2016 # $rh_macros_* is for Postfix to expand
	printf '127.0.0.2:%s inet n - n - - smtpd -o milter_connect_macros=$rh_macros_%s%s\n' \
		"${MPORT[$m]}" "$m" "$([ $m = dn ] && echo ' -o milter_macro_daemon_name=dn.example.test')" \
		>>"$PRI/etc/master.cf"
done
pf_start "$PRI" || t_skip_all "Postfix cannot start: $(tail -3 "$PRI/start.log")"

# swaks from $CLIENT to the Postfix primary (port $SEND_PORT, else $PF_PORT):
# send TAG [swaks args]; prints its output (also kept in $W/swaks.TAG.log).
send()
{
	local tag=$1
	shift
	swaks --server 127.0.0.2 --port "${SEND_PORT:-$PF_PORT}" --local-interface "$CLIENT" --timeout 30 \
		--helo client.pass.test --from a@pass.test --to r@example.test "$@" 2>&1 |
		tee "$W/swaks.$tag.log"
}
# The server's reply lines to the end of data (after swaks' " ." line).
dot_reply() { sed -n '/^ -> \.$/,$p' <<<"$1" | sed -En 's/^<(-|\*\*) +//p' | head -1; }

out=$(send gtube --header 'Subject: gtube via postfix' --body "$GTUBE")
rep=$(dot_reply "$out")
t_like "Postfix + rspamd milter: GTUBE refused at the final dot with rspamd's 554 5.7.1" \
	"$rep" '^554 5\.7\.1 Gtube pattern$'
t_diag "reply to the final dot (GTUBE): $rep"
t_like "Postfix logged the milter reject" "$(pf_log "$PRI")" \
	'milter-reject: END-OF-MESSAGE from .*: 5\.7\.1 Gtube pattern'

ham_start=$(date +%s%N)
out=$(send ham --header 'Subject: ham via postfix' \
	--header 'Authentication-Results: mx1.example.test; spf=pass smtp.mailfrom=forged@pass.test' \
	--header 'Authentication-Results: other.example; spf=fail smtp.mailfrom=forged@pass.test' \
	--header 'X-Spam: Yes' \
	--body 'Hello, this is an ordinary message.')
ham_ms=$((($(date +%s%N) - ham_start) / 1000000))
rep=$(dot_reply "$out")
t_like "Postfix + rspamd milter: ham from $CLIENT accepted" "$rep" '^250 2\.0\.0 Ok: queued as'
t_diag "reply to the final dot (ham): $rep" "whole SMTP session with the milter: $ham_ms ms"
# Print the file name of the stored ham message, if any.
ham_file() { grep -rl '^Subject: ham via postfix' "$PRI/mail/example.test/new" 2>/dev/null | head -1; }
# True once the ham message is in the maildir.
ham_stored() { [ -n "$(ham_file)" ]; }
world_wait_until 15 ham_stored
msg=$(ham_file)
if [ -z "$msg" ]; then
	t_fail "the ham message is stored in the maildir" "$(pf_log "$PRI" | tail -10)"
else
	t_ok "the ham message is stored in the maildir"
	# the A-R header, unfolded to one line
	ar=$(sed -n '/^$/q; p' "$msg" | tr -d '\r' |
		awk '/^[^ \t]/ { p = tolower($0) ~ /^authentication-results:/ } p' )
	t_diag "stored Authentication-Results (as folded):" "$(sed 's/\t/<TAB>/g' <<<"$ar")"
	ar1=$(tr '\n' ' ' <<<"$ar" | tr -s ' \t' ' ')
	t_like "it carries Authentication-Results with Postfix's myhostname as authserv-id" \
		"$ar1" '^Authentication-Results: mx1\.example\.test; '
	t_like "... and spf=pass for smtp.mailfrom=a@pass.test" "$ar1" \
		'; spf=pass \(mx1\.example\.test: domain of a@pass\.test designates 127\.0\.0\.77 as permitted sender\) smtp\.mailfrom=a@pass\.test'
	# rspamd orders the results differently from run to run (dkim; dmarc;
	# spf or dkim; spf; dmarc): look for each on its own
	t_like "... and dkim=none (DKIM runs for loopback clients too)" "$ar1" \
		'; dkim=none(;|$| )'
	t_like "... and dmarc=none (so does DMARC)" "$ar1" '; dmarc=none(;|$| )'
	t_diag "stored header block:" "$(sed -n '/^\r\?$/q; p' "$msg" | tr -d '\r' | sed 's/\t/<TAB>/g')"
	# rspamd deletes every incoming Authentication-Results, whatever its
	# authserv-id, and any X-Spam (milter_headers' remove-spam-flag)
	t_is "exactly one Authentication-Results (both incoming ones were removed)" \
		"$(grep -ci '^Authentication-Results:' <<<"$ar")" 1
	t_unlike "... not a forged one" "$ar1" 'forged@'
	t_unlike "the incoming X-Spam header was removed" "$(sed -n '/^$/q; p' "$msg")" '^X-Spam:'
fi
# The authserv-id comes from the milter macros: {daemon_name} (Postfix's
# milter_macro_daemon_name), else j (myhostname), else rspamd's host name.
# Print the authserv-id of the stored message with subject SUBJ.
ar_id()
{
	local f
	f=$(grep -rl "^Subject: $1\$" "$PRI/mail/example.test/new" 2>/dev/null | head -1)
	[ -n "$f" ] && sed -n 's/^Authentication-Results: \([^;]*\);.*/\1/p' "$f" | head -1
}
for v in "j|j|mx1.example.test" "dn|{daemon_name}|dn.example.test" "none|v|$(hostname)"; do
	IFS='|' read -r m macros want <<<"$v"
	SEND_PORT=${MPORT[$m]} send "macros-$m" --header "Subject: macros $m" --body 'Hello.' \
		>/dev/null
	world_wait_until 10 bash -c "grep -rqs '^Subject: macros $m\$' '$PRI/mail/example.test/new'"
	t_is "with milter_connect_macros = $macros only, the authserv-id is $want" \
		"$(ar_id "macros $m")" "$want"
done

times=$(rspamd_scan_times)
t_diag "rspamd scan times (log 'time:'; 3 rspamc (HTTP worker), then 5 milter (proxy worker)):" \
	"$times"

# --- 4. rspamd stopped: milter_default_action = tempfail -> 451 -------------------
rspamd_stop
if _rspamd_closed; then t_ok "rspamd stopped (milter port closed)"; else
	t_fail "rspamd stopped (milter port closed)"; fi
out=$(send nomilter --header 'Subject: no milter' --body 'Hello again.')
rep=$(sed -En 's/^<(-|\*\*) +([45][0-9][0-9][ -])/\2/p' <<<"$out" | head -1)
t_like "with rspamd down, Postfix answers MAIL FROM with 451 (milter_default_action = tempfail)" \
	"$(sed -n '/^ -> MAIL FROM/{n;p;}' <<<"$out")" '^<\*\* 451 4\.7\.1 Service unavailable - try again later$'
t_diag "first 4xx/5xx reply with rspamd down: $rep" \
	"swaks: $(grep -E '^ -> (MAIL|RCPT|DATA)' <<<"$out" | tr '\n' ' ')"
t_like "Postfix logged the unreachable milter" "$(pf_log "$PRI")" \
	"warning: connect to Milter service inet:127\.0\.0\.1:$RSPAMD_MILTER_PORT: Connection refused"
t_like "... and the tempfail at CONNECT (shown to the client at MAIL: smtpd_delay_reject)" \
	"$(pf_log "$PRI")" 'NOQUEUE: milter-reject: CONNECT from unknown\[127\.0\.0\.77\]: 451 4\.7\.1 Service unavailable - try again later'
pf_stop "$PRI"
t_done
