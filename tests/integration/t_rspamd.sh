#!/bin/bash
# t_rspamd.sh - backupmxd's milter client against a real rspamd (its proxy
# worker in milter mode, tests/lib/rspamd.sh), with the primary down so that
# mail is stored (issue 14): GTUBE is refused at the final dot with rspamd's
# reply and nothing is stored; ham from an SPF-passing client is stored with
# rspamd's Authentication-Results under our authserv-id (the hostname,
# passed in the j and {daemon_name} macros) and marked authenticated in the
# queue file, while a forged Authentication-Results of ours is gone; an SPF
# fail is stored unmarked; with rspamd stopped, milter_default_action
# (tempfail) answers 451.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
. "$BMX_ROOT/tests/lib/rspamd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
[ "$(id -u)" = 0 ] || t_skip_all "needs root"
world_have rspamd || t_skip_all "rspamd is not installed (scripts/deps)"
world_have swaks || t_skip_all "swaks is not installed"
for a in 77 99; do ip addr add "127.0.0.$a/8" dev lo 2>/dev/null; done
GTUBE='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'

bmxd_world_dns <<'DNS'
local-zone: "pass.test." static
local-data: "pass.test. 3600 IN SOA ns.pass.test. h.pass.test. 1 3600 900 604800 300"
local-data: 'pass.test. 300 IN TXT "v=spf1 ip4:127.0.0.77 -all"'
DNS
if ! rspamd_start "$W/rspamd"; then
	t_fail "rspamd starts" "$(tail -30 "$RSPAMD_LOG")"
	t_done
fi
bmxd_relay_config <<CF
milters = inet:127.0.0.1:$RSPAMD_MILTER_PORT
CF
bmxd_start || { t_fail "daemon start"; t_done; }

# send SRC SUBJECT BODY [swaks args]: from a@pass.test through backupmxd.
send()
{
	local src=$1 subj=$2 body=$3
	shift 3
	world_swaks 127.0.0.3 "$BMX_PORT" --local-interface "$src" --from a@pass.test \
		--to r@example.test --header "Subject: $subj" --body "$body" "$@" 2>&1
}
dot_reply() { awk '/^ *-> \.$/ { getline; print; exit }' <<<"$1"; }
queued() { bmxd_queue_files | wc -l; }
newest() { tr -d '\000' <"$(ls -t "$BMX_SPOOL"/queue/* 2>/dev/null | head -1)" 2>/dev/null; }

q0=$(queued)
out=$(send 127.0.0.77 "gtube" "$GTUBE")
t_like "GTUBE: refused at the final dot with rspamd's reply" "$(dot_reply "$out")" \
	'^<\*\* +554 5\.7\.1 Gtube pattern'
t_is "GTUBE: nothing stored" "$(queued)" "$q0"

out=$(send 127.0.0.77 "ham" "Hello, an ordinary message." \
	--add-header "Authentication-Results: mx2.example.test; spf=pass smtp.mailfrom=forged@pass.test")
t_like "ham from an SPF-passing client: stored" "$(dot_reply "$out")" \
	'^<- +250 2\.0\.0 Ok: queued as'
t_is "ham: one message stored" "$(queued)" $((q0 + 1))
q=$(newest)
t_like "ham: rspamd's Authentication-Results under our authserv-id is in the stored message" \
	"$q" '^Authentication-Results: mx2\.example\.test;'
t_like "ham: ... with spf=pass for the sender" "$q" 'spf=pass .*smtp\.mailfrom=a@pass\.test'
t_unlike "ham: the forged one is gone" "$q" 'forged@pass\.test'
t_like "ham: the queue file marks the sender authenticated (bounce_policy)" "$q" '^A 1'
t_like "ham: logged" "$(cat "$BMXD_LOG")" 'applied; sender authenticated'

out=$(send 127.0.0.99 "spf fail" "Hello from a client the SPF record does not name.")
t_like "SPF fail (no reject policy in rspamd's defaults): stored" "$(dot_reply "$out")" \
	'^<- +250 2\.0\.0 Ok: queued as'
q=$(newest)
t_like "SPF fail: rspamd's verdict is recorded" "$q" 'spf=fail'
t_unlike "SPF fail: the sender is not marked authenticated" "$q" '^A 1'

rspamd_stop
out=$(send 127.0.0.77 "rspamd down" "Hello again.")
t_like "rspamd stopped: milter_default_action = tempfail answers 451 4.7.1" "$(dot_reply "$out")" \
	'^<\*\* +451 4\.7\.1'
bmxd_stop
t_done
