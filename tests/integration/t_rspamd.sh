#!/bin/bash
# t_rspamd.sh - backupmxd's milter client against a real rspamd (its proxy
# worker in milter mode, tests/lib/rspamd.sh), with the primary down so that
# mail is stored (issue 14): GTUBE is refused at the final dot with rspamd's
# reply and nothing is stored; ham from an SPF-passing client is stored with
# rspamd's Authentication-Results under our authserv-id (the hostname,
# passed in the j and {daemon_name} macros) and marked authenticated in the
# queue file, while a forged Authentication-Results of ours is gone; an SPF
# fail is stored unmarked.  rspamd killed in the middle of a message: the
# default action (tempfail) answers 451 and nothing is kept; with rspamd
# down the same; started again, it filters the next message, whose
# verdicts are in the history.  `backupmx drill --hold` reports the verdicts
# and the Authentication-Results the drill message got.
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
# ctl REQUEST: one request to the control socket, the answer on stdout.
ctl()
{
	"$WORLD_PY" -c 'import socket,sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode() + b"\n")
d = b""
while True:
    b = s.recv(65536)
    if not b: break
    d += b
print(d.decode())' "$BMX_SPOOL/control.sock" "$1" 2>&1
}
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

# rspamd crashes in the middle of a message: the header section and part of
# the body went to it, it is killed, the rest follows.  The default action
# (tempfail) holds and nothing is kept, not even a half-written file.
rm -f "$W/mid" "$W/go"
{
	printf 'timeout 30\nexpect 220\nsend b"EHLO crash.test\\r\\n"\nexpect 250\n'
	printf 'send b"MAIL FROM:<a@pass.test>\\r\\n"\nexpect 250\n'
	printf 'send b"RCPT TO:<r@example.test>\\r\\n"\nexpect 250\n'
	printf 'send b"DATA\\r\\n"\nexpect 354\n'
	printf 'send b"From: a@pass.test\\r\\nSubject: crash\\r\\n\\r\\n"\n'
	printf 'send_repeat 2000 b"first half of the body, line after line\\r\\n"\n'
	printf 'mark %s\nwait_file %s 20\n' "$W/mid" "$W/go"
	printf 'send_repeat 2000 b"second half of the body, line after line\\r\\n"\n'
	printf 'send b".\\r\\n"\nread\nsend b"QUIT\\r\\n"\nread\n'
} >"$W/crash.smtp"
q0=$(queued)
"$WORLD_PY" "$BMX_ROOT/tests/lib/smtpraw.py" --source 127.0.0.77 127.0.0.3 "$BMX_PORT" \
	"$W/crash.smtp" >"$W/crash.out" 2>&1 &
craw=$!
world_wait_until 20 test -e "$W/mid"
sleep 0.5   # the part sent reaches rspamd
rspamd_kill
touch "$W/go"
wait "$craw"
t_like "rspamd killed mid-message: milter_default_action = tempfail answers 451 4.7.1" \
	"$(grep -A1 "^C: b'.\\\\r\\\\n'" "$W/crash.out" | tail -1)" '^S: 451 4\.7\.1'
t_is "rspamd killed mid-message: nothing stored" "$(queued)" "$q0"
t_is "rspamd killed mid-message: no half-written file left" \
	"$(find "$BMX_SPOOL/tmp" -type f 2>/dev/null | wc -l)" 0
t_like "rspamd killed mid-message: a clear log line names the milter and the default action" \
	"$(cat "$BMXD_LOG")" "milter inet:127\.0\.0\.1:$RSPAMD_MILTER_PORT: [A-Za-z0-9]+: .*\(milter_default_action = tempfail\)"

out=$(send 127.0.0.77 "rspamd down" "Hello again.")
t_like "rspamd down: milter_default_action = tempfail answers 451 4.7.1" "$(dot_reply "$out")" \
	'^<\*\* +451 4\.7\.1'
t_is "rspamd down: nothing stored" "$(queued)" "$q0"

if rspamd_start "$W/rspamd"; then
	out=$(send 127.0.0.77 "rspamd back" "Hello once more.")
	t_like "rspamd restarted: the next message is filtered and stored" "$(dot_reply "$out")" \
		'^<- +250 2\.0\.0 Ok: queued as'
	q=$(newest)
	t_like "rspamd restarted: with rspamd's Authentication-Results" "$q" \
		'^Authentication-Results: mx2\.example\.test;'
	qid=$(dot_reply "$out" | sed -n 's/.*queued as \([A-Za-z0-9]*\).*/\1/p')
	t_like "rspamd restarted: the verdicts are in the history" "$(ctl "history $qid")" \
		"\"status\":\"received\",\"filter\":\"inet:127\\.0\\.0\\.1:$RSPAMD_MILTER_PORT accept\",\"authres\":\"mx2\\.example\\.test;"

	# drill: the primary comes up; --hold keeps the drill message at the
	# backup (so it is stored, through rspamd) until it is released
	world_sink_start 127.0.0.2 "$BMX_PORT"
	OUT=$("$BMX" drill --resolver "$RESOLVER" --port "$BMX_PORT" --allow-private --timeout 5 \
		--hold --control "$BMX_SPOOL/control.sock" --within 20 example.test 2>&1)
	t_is "drill through rspamd: exit 0" "$?" 0 || t_diag "$OUT"
	t_like "drill: reports that the message passed the backup's milters" "$OUT" \
		"filtering: passed the backup's milters: inet:127\.0\.0\.1:$RSPAMD_MILTER_PORT accept"
	t_like "drill: reports the Authentication-Results it got" "$OUT" \
		'Authentication-Results: mx2\.example\.test;.*spf='
	OUT=$("$BMX" drill --resolver "$RESOLVER" --port "$BMX_PORT" --allow-private --timeout 5 \
		--hold --control "$BMX_SPOOL/control.sock" --within 20 --json example.test 2>&1)
	t_is "drill --json: the filter object" "$("$WORLD_PY" -c 'import json,sys
f = json.load(sys.stdin)["backups"][0]["filter"]
print(f["judged_by"], f["milters"].split()[-1], f["authentication_results"].split(";")[0])' <<<"$OUT" 2>&1)" \
		"milters accept mx2.example.test"
	rspamd_stop
else
	t_fail "rspamd starts again" "$(tail -30 "$RSPAMD_LOG")"
fi
bmxd_stop
t_done
