#!/bin/bash
# t_status_metrics.sh - backupmxd's status_listen web server: /metrics
# against a known queue (3 messages held for example.test), /status.json,
# /history.json, 404 and 405; per-domain series only for destinations with
# mail queued or not up, plus the totals (issue 17).
#
# World: no DNS; example.test is routed to a port where nothing listens, and
# is held, so the three messages stay queued; up.sub.example.test goes to an
# smtp-sink (delivered: up, nothing queued), gone.sub.example.test to the
# dead port (down; its one message deleted).
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have curl || t_skip_all "curl is not installed"
world_have swaks || t_skip_all "swaks is not installed"
PY=$WORLD_PY

HP=$(world_free_port)
DEAD=$(world_free_port)
SINKP=$(world_free_port)
bmxd_config <<CONF
status_listen = 127.0.0.3:$HP
route example.test = 127.0.0.2:$DEAD
route up.sub.example.test = 127.0.0.2:$SINKP
route gone.sub.example.test = 127.0.0.2:$DEAD
CONF
bmxd_start || { t_fail "daemon start"; t_done; }
world_wait_port 127.0.0.3 "$HP" 5 || t_fail "status server listens on $HP"
URL=http://127.0.0.3:$HP
CTL=(--control "$BMX_SPOOL/control.sock")
world_wait_until 10 test -S "$BMX_SPOOL/control.sock"

"$BMX" hold "${CTL[@]}" example.test >"$W/hold.log" 2>&1
t_is "hold example.test" "$?" 0
for i in 1 2 3; do
	world_swaks 127.0.0.3 "$BMX_PORT" --to "user$i@example.test" \
		--header "Subject: metrics $i" --body "message $i" >"$W/swaks.$i.log" 2>&1
	t_is "message $i queued" "$?" 0
done
# one rejected recipient (relay denied) counts in backupmx_smtp_rejects_total
world_swaks 127.0.0.3 "$BMX_PORT" --to "x@elsewhere.test" >"$W/swaks.r.log" 2>&1
sleep 2

curl -sS -D "$W/metrics.h" -o "$W/metrics" "$URL/metrics"
t_is "GET /metrics succeeds" "$?" 0
t_like "/metrics is text/plain 0.0.4" "$(cat "$W/metrics.h")" \
	'Content-Type: text/plain; version=0.0.4'
"$BMX" queue --json "${CTL[@]}" >"$W/queue.json" 2>&1

# check the exposition: every metric of the issue with its type and the values
out=$("$PY" - "$W/metrics" "$W/queue.json" <<'PY' 2>&1
import json, re, sys
text = open(sys.argv[1]).read()
queue = [json.loads(l) for l in open(sys.argv[2])]   # JSON lines: one message each
types, vals = {}, {}
for line in text.splitlines():
    m = re.match(r'# TYPE (\S+) (\S+)$', line)
    if m:
        types[m[1]] = m[2]
        continue
    if line.startswith('#') or not line.strip():
        continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$', line)
    assert m, "bad sample line: %r" % line
    vals[m[1] + (m[2] or '')] = float(m[3])
want = {
    'backupmx_queue_messages': 'gauge', 'backupmx_queue_bytes': 'gauge',
    'backupmx_queue_oldest_age_seconds': 'gauge', 'backupmx_destination_up': 'gauge',
    'backupmx_deliveries_total': 'counter', 'backupmx_smtp_connections_total': 'counter',
    'backupmx_smtp_rejects_total': 'counter', 'backupmx_probe_seconds': 'gauge',
}
bad = [n for n, t in want.items() if types.get(n) != t]
if bad:
    print("wrong or missing TYPE:", bad)
d = '{domain="example.test"}'
size = sum(m['size'] for m in queue)
checks = [
    ('backupmx_queue_messages' + d, lambda v: v == 3),
    ('backupmx_queue_bytes' + d, lambda v: v == size and v > 0),
    ('backupmx_queue_oldest_age_seconds' + d, lambda v: v >= 1),
    ('backupmx_destination_up' + d, lambda v: v == 0),
    ('backupmx_deliveries_total{status="sent"}', lambda v: v == 0),
    ('backupmx_smtp_connections_total', lambda v: v == 4),
    ('backupmx_smtp_rejects_total{reason="relay"}', lambda v: v == 1),
    ('backupmx_probe_seconds', lambda v: v >= 0),
]
for name, ok in checks:
    if name not in vals:
        print("missing", name)
    elif not ok(vals[name]):
        print("unexpected", name, vals[name])
print("ok")
PY
)
t_is "/metrics has every metric with the right type and values" "$out" "ok"

# --- series follow trouble, not customers -------------------------------------
world_sink_start 127.0.0.2 "$SINKP"
bmxd_submit 'Subject: up\r\n\r\nx\r\n' a@up.sub.example.test >/dev/null || t_fail "submit to up"
GQ=$(bmxd_submit 'Subject: gone\r\n\r\nx\r\n' a@gone.sub.example.test) || t_fail "submit to gone"
world_wait_until 15 world_sink_has 1 || t_fail "delivered to the sink"
world_wait_until 15 bash -c "'$BMX' status --json --control '$BMX_SPOOL/control.sock' |
	grep -q '\"domain\":\"gone.sub.example.test\",\"state\":\"down\"'" ||
	t_fail "gone.sub.example.test is down"
"$BMX" queue delete "$GQ" "${CTL[@]}" >/dev/null 2>&1
t_is "delete the message for the down destination" "$?" 0
world_wait_until 10 bash -c "'$BMX' status --json --control '$BMX_SPOOL/control.sock' |
	grep -q '\"domain\":\"up.sub.example.test\",\"state\":\"up\"'" ||
	t_fail "up.sub.example.test is up"
curl -sS -o "$W/metrics2" "$URL/metrics"
out=$("$PY" - "$W/metrics2" "$W/queue.json" <<'PY' 2>&1
import json, re, sys
text = open(sys.argv[1]).read()
size = sum(json.loads(l)["size"] for l in open(sys.argv[2]))
vals, types = {}, {}
for line in text.splitlines():
    m = re.match(r'# TYPE (\S+) (\S+)$', line)
    if m:
        types[m[1]] = m[2]
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$', line)
    if m:
        vals[m[1] + (m[2] or '')] = float(m[3])
bad = []
if any('up.sub.example.test' in k for k in vals):
    bad.append("series for up.sub.example.test (up, nothing queued)")
g = '{domain="gone.sub.example.test"}'
if vals.get('backupmx_destination_up' + g) != 0 or vals.get('backupmx_queue_messages' + g) != 0:
    bad.append("gone.sub.example.test (down, nothing queued): %r" %
               [(k, v) for k, v in vals.items() if 'gone' in k])
want = {'backupmx_queue_messages_all': 3, 'backupmx_queue_bytes_all': size,
        'backupmx_destinations{state="up"}': 1, 'backupmx_destinations{state="down"}': 1,
        'backupmx_destinations{state="held"}': 1, 'backupmx_destinations{state="loop"}': 0}
for k, v in want.items():
    if vals.get(k) != v:
        bad.append("%s = %r, want %r" % (k, vals.get(k), v))
if not vals.get('backupmx_queue_oldest_age_seconds_all', 0) >= 1:
    bad.append("oldest_age_seconds_all")
for n in ('backupmx_queue_messages_all', 'backupmx_queue_bytes_all',
          'backupmx_queue_oldest_age_seconds_all', 'backupmx_destinations'):
    if types.get(n) != 'gauge':
        bad.append("TYPE " + n)
print("; ".join(bad) or "ok")
PY
)
t_is "/metrics: per-domain series only for mail queued or a destination not up, plus totals" \
	"$out" "ok"

curl -sS -D "$W/status.h" -o "$W/status.json" "$URL/status.json"
t_like "/status.json is application/json" "$(cat "$W/status.h")" \
	'Content-Type: application/json'
out=$("$PY" - "$W/status.json" <<'PY' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
dest = [x for x in d["destinations"] if x["domain"] == "example.test"]
assert dest, d
x = dest[0]
print(x["held"], x["up"], x["queued"], d["queued_messages"])
PY
)
t_is "/status.json: example.test held, not up, 3 queued" "$out" "True False 3 3"
"$BMX" status --json "${CTL[@]}" >"$W/cli.json" 2>&1
out=$("$PY" -c 'import json,sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
a.pop("time"); b.pop("time")
for x in a["destinations"] + b["destinations"]: x.pop("oldest_age")
print(a == b)' "$W/status.json" "$W/cli.json" 2>&1)
t_is "/status.json is the document of backupmx status --json" "$out" "True"
out=$(curl -sS "$URL/history.json" | "$PY" -c 'import json,sys; print(type(json.load(sys.stdin)["history"]).__name__)' 2>&1)
t_is "/history.json is a JSON history" "$out" "list"

code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")
t_is "unknown path: 404" "$code" 404
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "$URL/metrics")
t_is "POST: 405" "$code" 405
curl -sS -D "$W/page.h" -o "$W/page.html" "$URL/"
t_like "/ is text/html" "$(cat "$W/page.h")" 'Content-Type: text/html'
t_like "/ refreshes itself" "$(cat "$W/page.html")" 'http-equiv="refresh" content="5"'
t_like "/ carries the CSP" "$(cat "$W/page.html")" "default-src 'none'; style-src 'unsafe-inline'"
t_unlike "/ loads no external asset" "$(cat "$W/page.html")" '(src=|href=|<script|<link)'

bmxd_stop
t_is "daemon stops cleanly" "${BMXD_RC:-x}" 0
t_done
