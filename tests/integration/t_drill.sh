#!/bin/bash
# t_drill.sh - backupmx drill against the local world: a healthy backup
# passes (and its message is followed to the primary through the control
# socket), a backup that refuses the domain fails (exit 2), a backup whose
# primary is a black hole fails after --within (exit 2), --hold passes, the
# message is also followed through the status server (--status-url, with
# https:// and --hold refused), and --via-mx falls back from a dead primary
# to the backup.
#
# World: unbound serves example.test (MX 10 mx1 = 127.0.0.2, MX 20 mx2 =
# 127.0.0.3), other.test (same hosts, not a relay domain of the backup) and
# hole.test (MX 10 mx5 = 127.0.0.5, a black hole; MX 20 mx2).  The primary is
# smtp-sink on 127.0.0.2, the backup a real backupmxd on 127.0.0.3, all on
# one free port.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] && [ -x "$BMX" ] || t_skip_all "backupmx/backupmxd not built"
BMX_PORT=$(world_free_port)
P=$BMX_PORT
HP=$(world_free_port)
world_dns_start <<EOD
local-zone: "example.test." static
local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "example.test. 3600 IN MX 10 mx1.example.test."
local-data: "example.test. 3600 IN MX 20 mx2.example.test."
local-data: "mx1.example.test. 300 IN A 127.0.0.2"
local-data: "mx2.example.test. 300 IN A 127.0.0.3"
local-zone: "other.test." static
local-data: "other.test. 3600 IN SOA ns.other.test. h.other.test. 1 3600 900 604800 300"
local-data: "other.test. 3600 IN MX 10 mx1.example.test."
local-data: "other.test. 3600 IN MX 20 mx2.example.test."
local-zone: "hole.test." static
local-data: "hole.test. 3600 IN SOA ns.hole.test. h.hole.test. 1 3600 900 604800 300"
local-data: "hole.test. 3600 IN MX 10 mx5.hole.test."
local-data: "hole.test. 3600 IN MX 20 mx2.example.test."
local-data: "mx5.hole.test. 300 IN A 127.0.0.5"
EOD
bmxd_config <<EOD
relay_port = $P
probe_interval = 2
retry_min = 2
connect_timeout = 2
status_listen = 127.0.0.3:$HP
EOD
sed -i 's/^relay_domains = .*/relay_domains = example.test, hole.test/' "$W/bmx.conf"
world_sink_start 127.0.0.2 "$P"
world_blackhole_start 127.0.0.5 "$P"
bmxd_start || { t_fail "daemon start"; t_done; }
CTL=$BMX_SPOOL/control.sock

# drill ARGS: run backupmx drill in our world; sets OUT, RC, ERR.
drill() {
	OUT=$("$BMX" drill --resolver "$RESOLVER" --port "$P" --allow-private --timeout 5 \
		"$@" 2>"$W/err")
	RC=$?
	ERR=$(cat "$W/err")
}
# jget EXPR: a Python expression over the JSON document d in $OUT.
jget() {
	"$WORLD_PY" -c 'import json,sys
d = json.loads(sys.stdin.read())
print(eval(sys.argv[1]))' "$1" <<<"$OUT" 2>&1
}

# 1. healthy, no control socket: the backup accepts
drill example.test
t_is "healthy backup: exit 0" "$RC" 0 || t_diag "$OUT" "$ERR"
t_like "names the primary and the backup" "$OUT" \
	"primary mx1.example.test \\(10\\) backup mx2.example.test \\(20\\)"
t_like "reports the queue ID" "$OUT" "accepted in [0-9]+ ms, queue ID [A-Za-z0-9]+"

# 2. healthy, followed to the primary through the control socket
n0=$(world_sink_count)
drill example.test --control "$CTL" --within 20 --json --tag t1
t_is "followed drill: exit 0" "$RC" 0 || t_diag "$OUT" "$ERR"
t_is "JSON: state OK" "$(jget 'd["state"]')" OK
t_is "JSON: one backup" "$(jget 'len(d["backups"])')" 1
t_is "JSON: delivered (sent)" "$(jget 'd["backups"][0]["delivery"]["status"]')" sent
t_like "JSON: the primary's 250 reply" "$(jget 'd["backups"][0]["delivery"]["reply"]')" "250|Ok"
t_like "JSON: end-to-end time" "$(jget 'd["backups"][0]["delivery"]["end_to_end_s"]')" \
	'^[0-9.]+$'
sleep 0.5
n1=$(world_sink_count)
t_is "the primary got the tagged message" "$((n1 - n0))" 1
t_like "tag header at the primary" "$(cat "$SINK_DIR"/* | grep -c 'X-Backupmx-Drill: t1')" \
	'^[1-9]'

# 3. nagios output
drill example.test --nagios --control "$CTL" --within 20
t_is "nagios: exit 0" "$RC" 0
t_like "nagios line" "$OUT" '^OK: .* \| sent=1 accepted=1 end_to_end=[0-9.]+s;;20 time='

# 4. a backup that refuses the domain
drill other.test
t_is "backup refusing the domain: exit 2" "$RC" 2 || t_diag "$OUT" "$ERR"
t_like "refusal reported with the reply" "$OUT" "REFUSED at rcpt: 554"

# 5. the primary is a black hole: accepted, never delivered
drill hole.test --control "$CTL" --within 5
t_is "black-hole primary: exit 2 after --within" "$RC" 2 || t_diag "$OUT" "$ERR"
t_like "black-hole primary: not delivered" "$OUT" "not delivered to the primary within 5 s"

# 6. --hold: queued while held, then delivered after release
drill example.test --hold --control "$CTL" --within 20 --json
t_is "--hold: exit 0" "$RC" 0 || t_diag "$OUT" "$ERR"
t_is "--hold: queued while held" "$(jget 'd["backups"][0]["delivery"]["queued_while_held"]')" \
	True
t_is "--hold: then sent" "$(jget 'd["backups"][0]["delivery"]["status"]')" sent
hold=$("$BMX" status --json --control "$CTL" 2>/dev/null | grep -o '"held":[a-z]*' | sort -u)
t_unlike "--hold: the domain is released again" "$hold" "true"

# 6b. followed through the status server instead of the control socket
world_wait_port 127.0.0.3 "$HP" 5 || t_fail "status server listens on $HP"
n0=$(world_sink_count)
drill example.test --status-url "http://127.0.0.3:$HP/" --within 20 --json --tag s1
t_is "--status-url: exit 0" "$RC" 0 || t_diag "$OUT" "$ERR"
t_is "--status-url: delivered (sent)" "$(jget 'd["backups"][0]["delivery"]["status"]')" sent
t_like "--status-url: the primary's 250 reply" \
	"$(jget 'd["backups"][0]["delivery"]["reply"]')" "250|Ok"
t_like "--status-url: end-to-end time" \
	"$(jget 'd["backups"][0]["delivery"]["end_to_end_s"]')" '^[0-9.]+$'
sleep 0.5
t_is "--status-url: the primary got the message" "$(($(world_sink_count) - n0))" 1
drill example.test --status-url "http://127.0.0.3:$HP" --within 20
t_is "--status-url (text, no slash): exit 0" "$RC" 0 || t_diag "$OUT" "$ERR"
t_like "--status-url (text): delivery line" "$OUT" \
	"delivery to the primary: sent after [0-9.]+ s, relay .*, reply: "
drill example.test --status-url "https://127.0.0.3:$HP/"
t_is "--status-url https://: exit 3" "$RC" 3
t_like "--status-url https://: says why" "$ERR" "https is not supported"
drill example.test --status-url "http://mx2.example.test:$HP/"
t_is "--status-url with a host name: exit 3" "$RC" 3
drill example.test --status-url "http://127.0.0.3:$HP/" --hold
t_is "--hold with --status-url alone: exit 3" "$RC" 3
t_like "--hold with --status-url alone: says why" "$ERR" "needs the control socket"
DEADP=$(world_free_port)
drill example.test --status-url "http://127.0.0.3:$DEADP/" --within 5
t_is "--status-url, nothing listening: exit 3" "$RC" 3 || t_diag "$OUT" "$ERR"
t_like "--status-url, nothing listening: reported" "$OUT" "status URL http://127.0.0.3:$DEADP"

# 7. --via-mx: primary up -> primary; primary down -> backup
drill example.test --via-mx --count 3 --json --tag v1
t_is "--via-mx, primary up: exit 0" "$RC" 0
t_is "--via-mx, primary up: all to mx1" \
	"$(jget '",".join(m["host"] for m in d["messages"])')" \
	"mx1.example.test,mx1.example.test,mx1.example.test"
world_kill "$SINK_PID"
drill example.test --via-mx --count 2 --json --tag v2
t_is "--via-mx, primary down: exit 0" "$RC" 0 || t_diag "$OUT" "$ERR"
t_is "--via-mx, primary down: all to mx2" "$(jget '",".join(m["host"] for m in d["messages"])')" \
	"mx2.example.test,mx2.example.test"

# 8. argument errors: exit 3
drill example.test --hold
t_is "--hold without a control socket: exit 3" "$RC" 3
drill example.test --count 0 --via-mx
t_is "bad --count: exit 3" "$RC" 3
drill example.test --from 'bad address'
t_is "bad --from: exit 3" "$RC" 3
drill nxdomain.example.test
t_is "NXDOMAIN: exit 2" "$RC" 2
t_done
