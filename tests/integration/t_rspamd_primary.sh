#!/bin/bash
# t_rspamd_primary.sh - filtering while the primary is down (issue 14), end
# to end with a real Postfix primary that runs the same rspamd as the backup:
# ham stored at the backup with rspamd's Authentication-Results reaches the
# primary's maildir exactly once when it returns, GTUBE is refused and never
# stored; the delivery tells the primary the original client with XCLIENT,
# so the primary's rspamd judges SPF against that client (spf=pass), each
# message as its own client (two from one client share a connection, a third
# client gets a new one: Postfix allows one XCLIENT per connection); a
# primary that authorises only XFORWARD gets XFORWARD, logs the client, and
# its rspamd judges the backup (spf=fail); `backupmx check --filter-probe`
# finds no filter bypass when the backup runs rspamd (primary_up = queue, the
# backup's own rspamd judges) or proxies (default, the primary's rspamd
# judges); rspamd stopped at the backup while the primary is down: 451
# 4.7.1, nothing stored.
#
# World (one network namespace from tests/run):
#   127.0.0.1:DNS_PORT  unbound: example.test MX 10 mx1.example.test =
#                       127.0.0.2, MX 20 mx2.example.test = 127.0.0.3;
#                       pass.test TXT "v=spf1 ip4:127.0.0.77 -all";
#                       nospf.test (no SPF record)
#   127.0.0.1:RSPAMD_MILTER_PORT  one rspamd (tests/lib/rspamd.sh), proxy
#                       worker in milter mode, no HTTP worker: the milter of
#                       both the backup and the primary
#   127.0.0.2:BMX_PORT  a Postfix primary, myhostname mx1.example.test,
#                       smtpd_milters = the rspamd, milter_default_action =
#                       tempfail, virtual maildir for example.test, XCLIENT
#                       and XFORWARD authorised for 127.0.0.3 (later XFORWARD
#                       only); DOWN at first
#   127.0.0.3:BMX_PORT  backupmxd (hostname mx2.example.test, bind_address
#                       127.0.0.3, milters = the rspamd, probe every 2 s;
#                       in part 1 max_concurrency = 1: one delivery
#                       connection at a time)
#   127.0.0.77          the SMTP client (swaks), SPF-authorised for pass.test
#   127.0.0.78          another client (HELO other.client.test), b@nospf.test
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
. "$BMX_ROOT/tests/lib/postfix.sh"
. "$BMX_ROOT/tests/lib/rspamd.sh"
world_init
# Stop the Postfix master (a daemon: the world's trap does not know it).
# shellcheck disable=SC2317 # the EXIT trap calls it
_rp_on_exit()
{
	local rc=$?
	set +e
	[ "$BASHPID" = "$_WORLD_MAIN_PID" ] && pf_stop_all
	(exit "$rc")
	_world_on_exit
}
trap _rp_on_exit EXIT
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
[ "$(id -u)" = 0 ] || t_skip_all "needs root"
world_have rspamd || t_skip_all "rspamd is not installed (scripts/deps)"
command -v postfix >/dev/null || t_skip_all "postfix is not installed (another MTA present?)"
world_have swaks || t_skip_all "swaks is not installed"
for a in 2 3 77 78; do ip addr add "127.0.0.$a/8" dev lo 2>/dev/null; done
CLIENT=127.0.0.77
GTUBE='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
CTL=(--control "$W/spool/control.sock")

# A TXT value in local-data needs single quotes outside (TESTING.md).
bmxd_world_dns <<'DNS'
local-zone: "pass.test." static
local-data: "pass.test. 3600 IN SOA ns.pass.test. h.pass.test. 1 3600 900 604800 300"
local-data: 'pass.test. 300 IN TXT "v=spf1 ip4:127.0.0.77 -all"'
local-zone: "nospf.test." static
local-data: "nospf.test. 3600 IN SOA ns.nospf.test. h.nospf.test. 1 3600 900 604800 300"
DNS
if ! RSPAMD_HTTP=0 rspamd_start "$W/rspamd"; then
	t_fail "rspamd starts" "$(tail -30 "$RSPAMD_LOG")"
	t_done
fi

# The primary, configured now, started in part 1 once mail is stored.
PRI=$W/pf
# mynetworks is empty: check probes from 127.0.0.1, which must not find an
# open relay; the backup must not be in it either (docs/FILTERING.md).
PF_HOSTNAME=mx1.example.test pf_config "$PRI" 127.0.0.2 "$BMX_PORT" primary <<CF
mynetworks =
smtpd_milters = inet:127.0.0.1:$RSPAMD_MILTER_PORT
milter_default_action = tempfail
milter_protocol = 6
smtpd_authorized_xclient_hosts = 127.0.0.3
smtpd_authorized_xforward_hosts = 127.0.0.3
CF

# bmx_config [extra keys on stdin]: backupmxd with rspamd as its milter.
bmx_config()
{
	bmxd_relay_config < <(
		echo "bind_address = 127.0.0.3"
		echo "milters = inet:127.0.0.1:$RSPAMD_MILTER_PORT"
		cat
	)
}
# bmx_restart NAME: (re)start backupmxd with a fresh log (the old one kept
# as backupmxd.NAME.log); false after a t_fail if it does not come up.
bmx_restart()
{
	bmxd_stop
	[ -f "$W/backupmxd.log" ] && mv -f "$W/backupmxd.log" "$W/backupmxd.$1.log"
	bmxd_start && return 0
	t_fail "backupmxd starts ($1)" "$(tail -5 "$W/backupmxd.log")"
	return 1
}
# send SUBJECT BODY [swaks args]: from a@pass.test at $CLIENT through backupmxd.
send()
{
	local subj=$1 body=$2
	shift 2
	world_swaks 127.0.0.3 "$BMX_PORT" --local-interface "$CLIENT" --from a@pass.test \
		--to r@example.test --header "Subject: $subj" --body "$body" "$@" 2>&1
}
# The server's reply to the final dot in swaks output.
dot_reply() { awk '/^ *-> \.$/ { getline; print; exit }' <<<"$1"; }
queued() { bmxd_queue_files | wc -l; }
# The stored text of the newest queue file.
newest() { tr -d '\000' <"$(ls -t "$BMX_SPOOL"/queue/* 2>/dev/null | head -1)" 2>/dev/null; }
# How many messages with Subject: SUBJ the primary's maildir holds (new/ only).
pf_got() { cat "$PRI"/mail/*/new/* 2>/dev/null | grep -cxF -- "Subject: $1"; }
# shellcheck disable=SC2317 # world_wait_until calls it
pf_has() { [ "$(pf_got "$1")" -ge 1 ]; }
# The file of the first delivered message with Subject: SUBJ.
pf_file() { grep -rlxF -- "Subject: $1" "$PRI"/mail/*/new 2>/dev/null | head -1; }
# The header block of FILE, each folded header on one line.
headers()
{
	sed -n '/^\r\?$/q; p' "$1" | tr -d '\r' |
		awk 'NR > 1 && /^[ \t]/ { sub(/^[ \t]+/, " "); h = h $0; next }
			{ if (NR > 1) print h; h = $0 } END { print h }'
}

bmx_config <<<"max_concurrency = 1"
bmx_restart down || t_done

# ---- 1. the primary is down: ham is stored with rspamd's headers ---------------------
q0=$(queued)
out=$(send "gtube while down" "$GTUBE")
t_like "primary down: GTUBE refused at the final dot with rspamd's 554 5.7.1" \
	"$(dot_reply "$out")" '^<\*\* +554 5\.7\.1 Gtube pattern'
t_is "primary down: GTUBE not stored" "$(queued)" "$q0"

out=$(send "ham while down" "Hello, an ordinary message while the primary is down.")
t_like "primary down: ham from an SPF-passing client: 250 queued as" "$(dot_reply "$out")" \
	'^<- +250 2\.0\.0 Ok: queued as'
t_is "primary down: ham: one message stored" "$(queued)" $((q0 + 1))
q=$(newest)
t_like "ham stored with rspamd's Authentication-Results under our hostname mx2.example.test" \
	"$q" '^Authentication-Results: mx2\.example\.test;'
t_like "... spf=pass for a@pass.test" "$q" 'spf=pass .*smtp\.mailfrom=a@pass\.test'
t_like "... the queue file marks the sender authenticated" "$q" '^A 1'
t_diag "stored header block at the backup:" "$(sed -n '/^Received:/,/^\r\?$/p' <<<"$q" |
	tr -d '\r' | sed 's/\t/<TAB>/g')"
out=$(send "ham 2 while down" "Hello again, from the same client.")
t_like "primary down: a second ham from the same client: 250 queued as" "$(dot_reply "$out")" \
	'^<- +250 2\.0\.0 Ok: queued as'
out=$(send "ham 3 while down" "Hello, from another client." --local-interface 127.0.0.78 \
	--from b@nospf.test --helo other.client.test)
t_like "primary down: ham from another client (127.0.0.78): 250 queued as" \
	"$(dot_reply "$out")" '^<- +250 2\.0\.0 Ok: queued as'
t_is "primary down: three hams stored" "$(queued)" $((q0 + 3))

# ---- the primary returns: the stored ham is delivered once --------------------------
if ! pf_start "$PRI"; then
	t_fail "the Postfix primary starts" "$(tail -3 "$PRI/start.log")"
	t_done
fi
"$BMX" flush "${CTL[@]}" >>"$W/flush.log" 2>&1
world_wait_until 20 pf_has "ham while down"
world_wait_until 20 pf_has "ham 3 while down"
world_wait_until 10 bmxd_queue_empty
t_is "primary back: the backup's spool is empty" "$(queued)" 0
t_is "primary back: the ham is in Postfix's maildir exactly once" "$(pf_got "ham while down")" 1
t_is "primary back: ham 2 too" "$(pf_got "ham 2 while down")" 1
t_is "primary back: ham 3 too" "$(pf_got "ham 3 while down")" 1
t_is "primary back: the GTUBE never reached it" "$(pf_got "gtube while down")" 0
f=$(pf_file "ham while down")
if [ -n "$f" ]; then
	h=$(headers "$f")
	t_diag "headers of the ham as the primary stored it (one line each):" "$h"
	# What is true with Postfix + rspamd on the primary: rspamd deletes every
	# incoming Authentication-Results (ours too) and adds its own; the
	# delivery's XCLIENT (and the EHLO after it with the client's HELO) made
	# Postfix and its milter see the original client, so SPF is judged
	# against 127.0.0.77, as if the client had reached the primary itself.
	t_is "primary: the delivered ham has one Authentication-Results" \
		"$(grep -ci '^Authentication-Results:' <<<"$h")" 1
	t_like "... the primary's own (authserv-id mx1.example.test)" "$h" \
		'^Authentication-Results: mx1\.example\.test;'
	t_unlike "... the backup's (mx2.example.test) was removed by rspamd on the primary" "$h" \
		'^Authentication-Results: mx2\.example\.test'
	t_like "... its SPF verdict is about the original client (spf=pass for 127.0.0.77)" "$h" \
		'spf=pass \(mx1\.example\.test: domain of a@pass\.test designates 127\.0\.0\.77 '
	t_like "... Postfix's Received line names the client and its HELO, not the backup" "$h" \
		'^Received: from client\.test \(unknown \[127\.0\.0\.77\]\) by mx1\.example\.test \(Postfix\)'
	t_like "... backupmxd's Received line names the original client 127.0.0.77" "$h" \
		'^Received: from client\.test \(unknown \[127\.0\.0\.77\]\) by mx2\.example\.test \(backupmx\)'
fi
f=$(pf_file "ham 3 while down")
[ -n "$f" ] && t_like "primary: ham 3 arrived as its own client 127.0.0.78 (HELO other.client.test)" \
	"$(headers "$f")" \
	'^Received: from other\.client\.test \(unknown \[127\.0\.0\.78\]\) by mx1\.example\.test \(Postfix\)'
# postlogd writes asynchronously: wait for the last disconnect line
# shellcheck disable=SC2317 # world_wait_until calls it
pf_logged() { pf_log "$PRI" | grep -Eq -- "$1"; }
world_wait_until 5 pf_logged 'disconnect from unknown\[127\.0\.0\.78\]'
l=$(pf_log "$PRI")
t_like "primary: Postfix logged the original client as the client (XCLIENT)" "$l" \
	': client=unknown\[127\.0\.0\.77\]$'
t_unlike "... never the backup's address" "$l" 'client=unknown\[127\.0\.0\.3\]'
t_like "... both messages of 127.0.0.77 on one connection (one XCLIENT)" "$l" \
	'disconnect from unknown\[127\.0\.0\.77\] ehlo=2 xclient=0/1 mail=2 rcpt=2 data=2 quit=1'
t_like "... 127.0.0.78 on a connection of its own" "$l" \
	'disconnect from unknown\[127\.0\.0\.78\] ehlo=2 xclient=0/1 mail=1 rcpt=1 data=1 quit=1'
t_unlike "... no XCLIENT refused (550 insufficient authorization)" "$l" 'insufficient authorization'
t_unlike "backupmxd logged no refused XCLIENT" "$(cat "$W/backupmxd.log")" 'XCLIENT refused'

# ---- 1b. a primary authorising only XFORWARD: it gets XFORWARD ------------------------
pf_stop "$PRI" || t_fail "the Postfix primary stops (for the XFORWARD variant)"
pf_set "$PRI" 'smtpd_authorized_xclient_hosts =' 'smtpd_authorized_xforward_hosts = 127.0.0.3'
out=$(send "ham for xforward" "Hello, stored for an XFORWARD-only primary.")
t_like "primary down again: ham: 250 queued as" "$(dot_reply "$out")" \
	'^<- +250 2\.0\.0 Ok: queued as'
if pf_start "$PRI"; then
	t_unlike "HARNESS: the primary no longer offers XCLIENT to 127.0.0.3" \
		"$(pf_ehlo "$PRI" 127.0.0.3)" 'XCLIENT'
	"$BMX" flush "${CTL[@]}" >>"$W/flush.log" 2>&1
	world_wait_until 20 pf_has "ham for xforward"
	world_wait_until 10 bmxd_queue_empty
	t_is "XFORWARD primary: the ham is in Postfix's maildir exactly once" \
		"$(pf_got "ham for xforward")" 1
	world_wait_until 5 pf_logged 'orig_client=unknown\[127\.0\.0\.77\]'
	t_like "XFORWARD primary: Postfix logged the original client from XFORWARD (orig_client=)" \
		"$(pf_log "$PRI")" \
		'client=unknown\[127\.0\.0\.3\], orig_queue_id=[0-9A-Za-z]+, orig_client=unknown\[127\.0\.0\.77\]'
	f=$(pf_file "ham for xforward")
	# XFORWARD informs Postfix's logs only, not smtpd_milters: rspamd there
	# judges the backup (docs/FILTERING.md)
	[ -n "$f" ] && t_like "XFORWARD primary: its rspamd judged SPF against the backup (spf=fail for 127.0.0.3)" \
		"$(headers "$f")" \
		'spf=fail \(mx1\.example\.test: domain of a@pass\.test does not designate 127\.0\.0\.3 '
else
	t_fail "the Postfix primary starts (XFORWARD only)" "$(tail -3 "$PRI/start.log")"
fi

# ---- 2. check --filter-probe with both up: no filter bypass -----------------------------
bmx_config </dev/null
bmx_restart part1 || t_done
# fp_summary JSON: "HOST ROLE CODE TEXT" for the GTUBE probe of every MX address.
fp_summary()
{
	"$WORLD_PY" -c 'import json, sys
d = json.load(sys.stdin)
for m in d["mx"]:
    for a in m["addresses"]:
        f = ((a.get("smtp") or {}).get("filter_probe") or {})
        print(m["host"], m["role"], f.get("code"), f.get("text"))' <<<"$1" 2>&1
}
# check_probe MODE BACKUP_REGEX HOW: backupmx check --filter-probe --json
# with backupmxd in primary_up MODE; the backup's GTUBE line must match.
check_probe()
{
	local mode=$1 out rc s
	out=$("$BMX" check example.test --filter-probe --json --resolver "$RESOLVER" \
		--port "$BMX_PORT" --allow-private --timeout 10 2>"$W/check.$mode.err")
	rc=$?
	s=$(fp_summary "$out")
	t_diag "check --filter-probe ($mode): exit $rc; GTUBE probe per MX:" "$s" \
		"findings: $("$WORLD_PY" -c 'import json, sys
print(" ".join(f["code"] for f in json.load(sys.stdin)["findings"]))' <<<"$out" 2>&1)"
	t_unlike "check --filter-probe ($mode): no filter_bypass finding" "$out" '"filter_bypass"'
	if [ "$rc" = 0 ] || [ "$rc" = 1 ]; then
		t_ok "check --filter-probe ($mode): exit $rc, not 2 (critical)"
	else
		t_fail "check --filter-probe ($mode): exit $rc, not 2 (critical)" "$out"
	fi
	t_like "check --filter-probe ($mode): the primary refused the GTUBE with 554 5.7.1" "$s" \
		'^mx1\.example\.test primary 554 5\.7\.1 Gtube pattern'
	t_like "check --filter-probe ($mode): the backup refused it too, $3" "$s" "$2"
	t_is "check --filter-probe ($mode): nothing stored at the backup" "$(queued)" 0
}
check_probe proxy \
	"^mx2\\.example\\.test backup 554 5\\.7\\.1 primary mx1\\.example\\.test\\[127\\.0\\.0\\.2\\]:$BMX_PORT said: Gtube pattern\$" \
	"passing the primary's refusal on"
bmx_config <<<"primary_up = queue"
if bmx_restart queue; then
	check_probe queue '^mx2\.example\.test backup 554 5\.7\.1 Gtube pattern$' \
		"by its own rspamd"
fi

# ---- 3. rspamd stopped at the backup while the primary is down ----------------------
pf_stop "$PRI" || t_fail "the Postfix primary stops"
rspamd_stop
out=$(send "ham without rspamd" "Hello, with rspamd down.")
t_like "rspamd and the primary down: milter_default_action = tempfail answers 451 4.7.1" \
	"$(dot_reply "$out")" '^<\*\* +451 4\.7\.1'
t_is "rspamd and the primary down: nothing stored" "$(queued)" 0
# Not a check (yet): the refused milter connection keeps its socket for
# IO_FLUSH_TIMEOUT_MS (10 s) trying to flush the OPTNEG, so a sanitizer build
# stopped sooner exits 134 (LeakSanitizer: io_conn from milter_txn_start).
bmxd_stop
t_diag "backupmxd exit status: $BMXD_RC"
t_done
