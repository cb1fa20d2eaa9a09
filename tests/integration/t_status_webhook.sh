#!/bin/bash
# t_status_webhook.sh - backupmxd's alert webhook: a loopback receiver
# (tests/lib/webhook_rx.py) gets "down" when the primary is unreachable,
# "queue_age" when the oldest message passes alert_queue_age, then "up" when
# the primary comes back; a failed POST (HTTP 500) is retried; https:// and
# host names are refused at start-up.
#
# World: unbound serves example.test MX 10 mx1.example.test (127.0.0.2); the
# daemon delivers to port SP (relay_port), where smtp-sink is started only
# after the first alerts.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have swaks || t_skip_all "swaks is not installed"
PY=$WORLD_PY

WH=$(world_free_port)
SP=$(world_free_port)
EV=$W/events.jsonl
: >"$EV"
world_bg "$PY" "$WORLD_LIB/webhook_rx.py" --fail 1 --path /hook 127.0.0.1 "$WH" "$EV"
world_wait_port 127.0.0.1 "$WH" 5 || { t_fail "webhook receiver" "$(cat "$BG_LOG")"; t_done; }

world_dns_start <<'DNS'
    local-zone: "example.test." static
    local-data: "example.test. 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 900 604800 300"
    local-data: "example.test. 300 IN MX 10 mx1.example.test."
    local-data: "mx1.example.test. 300 IN A 127.0.0.2"
DNS
bmxd_config <<CONF
relay_port = $SP
probe_interval = 1
alert_webhook = http://127.0.0.1:$WH/hook
alert_queue_age = 2
CONF

# refused URLs: the daemon says why and exits 1
for url in https://127.0.0.1:$WH/hook http://localhost:$WH/hook; do
	sed "s|^alert_webhook = .*|alert_webhook = $url|" "$W/bmx.conf" >"$W/bad.conf"
	out=$(timeout 10 "$BMXD" -c "$W/bad.conf" 2>&1); rc=$?
	t_is "alert_webhook = $url: exit 1" "$rc" 1
	t_like "alert_webhook = $url: says why" "$out" 'alert_webhook.*(https is not supported|numeric IP)'
done

bmxd_start || { t_fail "daemon start"; t_done; }
world_swaks 127.0.0.3 "$BMX_PORT" --to user@example.test >"$W/swaks.log" 2>&1
t_is "message queued" "$?" 0

# the receiver records each event as a line of $EV
world_wait_event '"event": "down"' 10 "$EV"
t_is "\"down\" received (after one retry)" "$?" 0
t_like "the failed POST was retried" "$(cat "$BMXD_LOG")" 'alert: POST .* failed \(HTTP 500\), retry'
world_wait_event '"event": "queue_age"' 10 "$EV"
t_is "\"queue_age\" received" "$?" 0

world_sink_start 127.0.0.2 "$SP"
world_wait_event '"event": "up"' 15 "$EV"
t_is "\"up\" received after the primary came back" "$?" 0
world_wait_until 10 world_sink_has 1
t_is "the message reached the primary" "$(world_sink_count)" 1

out=$("$PY" - "$EV" <<'PY' 2>&1
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
names = [e["event"] for e in ev]
print("order:", " ".join(n for n in names if n in ("down", "up")))
d = ev[names.index("down")]
u = ev[names.index("up")]
q = ev[names.index("queue_age")]
ok = (d["domain"] == "example.test" and d["error"] and d["host"] == "mx2.example.test"
      and isinstance(d["time"], (int, float)) and u["domain"] == "example.test"
      and u["error"] is None and q["oldest_age"] >= 2 and q["domain"] is None)
print("fields:", "ok" if ok else ev)
print("queue_age alerts:", names.count("queue_age"))
PY
)
t_diag "$out"
t_like "events in order: down then up" "$out" '^order: down up$'
t_like "event documents carry domain, error, host, time" "$out" '^fields: ok$'
t_like "queue_age sent once per crossing" "$out" '^queue_age alerts: 1$'

bmxd_stop
t_is "daemon stops cleanly" "${BMXD_RC:-x}" 0
t_done
