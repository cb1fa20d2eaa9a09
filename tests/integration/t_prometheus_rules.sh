#!/bin/bash
# t_prometheus_rules.sh - the Prometheus alerting rules shipped in
# etc/prometheus/backupmx-alerts.yml load (promtool check rules), each alert
# fires on made-up series and stays quiet where it must (promtool test rules
# tests/prometheus/backupmx-alerts.test.yml), and every backupmx_ metric
# they use is one the daemon exports (docs/monitoring.md, the sources, and
# a live /metrics); on a live daemon's scrapes, replayed to promtool, a held
# domain raises no BackupMXDestinationDown and a down one does.
# promtool is in Debian's prometheus package (scripts/deps); without it the
# test skips.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
RULES=$BMX_ROOT/etc/prometheus/backupmx-alerts.yml
UNIT=$BMX_ROOT/tests/prometheus/backupmx-alerts.test.yml
[ -f "$RULES" ] || { t_fail "$RULES exists"; t_done; }

# every metric in the rules is exported by the daemon and documented
unknown=""
for m in $(grep -o 'backupmx_[a-z_]*' "$RULES" | sort -u); do
	grep -rqF "\"# TYPE $m " "$BMX_ROOT"/src/relay/*.c "$BMX_ROOT"/src/daemon/*.c &&
		grep -qF "| \`$m\` |" "$BMX_ROOT/docs/monitoring.md" || unknown="$unknown $m"
done
t_is "the rules use only metrics backupmxd exports (and docs/monitoring.md's table lists)" "$unknown" ""
t_like "docs/monitoring.md points to the rules file" "$(cat "$BMX_ROOT/docs/monitoring.md")" \
	'etc/prometheus/backupmx-alerts\.yml'

world_have promtool || t_skip_all "promtool is not installed (Debian package prometheus)"
out=$(promtool check rules "$RULES" 2>&1)
t_is "promtool check rules passes" "$?" 0 || t_diag "$out"
t_like "... and finds the four alerts" "$out" 'SUCCESS: 4 rules found'
out=$(cd "$W" && promtool test rules "$UNIT" 2>&1)
t_is "promtool test rules: every alert fires, and only where it should" "$?" 0 || t_diag "$out"
# the unit tests cover every alert of the rules file
missing=""
for a in $(sed -n 's/^ *- alert: *//p' "$RULES"); do
	grep -q "alertname: $a\$" "$UNIT" || missing="$missing $a"
done
t_is "the unit tests check every alert" "$missing" ""

# --- a live daemon's /metrics --------------------------------------------------
[ -x "$BMXD" ] && [ -x "$BMX" ] || t_skip_all "backupmxd not built"
world_have curl || t_skip_all "no curl"
HP=$(world_free_port)
bmxd_config <<<"status_listen = 127.0.0.3:$HP"
bmxd_start || { t_fail "backupmxd starts"; t_done; }
CTL=(--control "$BMX_SPOOL/control.sock")
"$BMX" "${CTL[@]}" hold example.test >/dev/null
QID=$(bmxd_submit 'Subject: rules\r\n\r\nbody\r\n')
t_like "a message queued for a held domain" "$QID" '^[0-9A-Za-z]+$'
curl -sS -o "$W/held.prom" "http://127.0.0.3:$HP/metrics"
t_is "GET /metrics" "$?" 0
missing=""
for m in $(grep -o 'backupmx_[a-z_]*' "$RULES" | sort -u); do
	grep -q "^${m}[{ ]" "$W/held.prom" || missing="$missing $m"
done
t_is "every metric of the rules is in the scrape" "$missing" ""
t_like "held: example.test is not up" "$(cat "$W/held.prom")" \
	'^backupmx_destination_up\{domain="example.test"\} 0'
t_like "... and counted as held" "$(cat "$W/held.prom")" '^backupmx_destinations\{state="held"\} 1'
# released, the domain's primary cannot be found (no DNS here): down
"$BMX" "${CTL[@]}" release example.test >/dev/null
world_wait_until 15 bash -c "curl -s http://127.0.0.3:$HP/metrics | grep -q '^backupmx_destinations{state=\"down\"} 1'"
curl -sS -o "$W/down.prom" "http://127.0.0.3:$HP/metrics"
t_like "released, example.test goes down" "$(cat "$W/down.prom")" \
	'^backupmx_destination_up\{domain="example.test"\} 0'
bmxd_stop

# series FILE: each sample of a scrape as a promtool input series, the same
# value for 30 minutes, with the job and instance labels of a scrape
series()
{
	sed -n 's/^\(backupmx_[a-z_]*\)\({\([^}]*\)}\)\{0,1\} \([-0-9.e+]*\)$/\1 \3 \4/p' "$1" |
		while read -r name labels value; do
		[ -n "$value" ] || { value=$labels; labels=""; }
		printf "      - series: '%s{%s%sjob=\"backupmx\",instance=\"live\"}'\n        values: '%sx30'\n" \
			"$name" "$labels" "${labels:+,}" "$value"
	done
}
{
	echo "rule_files: ['$RULES']"
	echo "evaluation_interval: 1m"
	echo "tests:"
	echo "  - interval: 1m"
	echo "    input_series:"
	series "$W/held.prom"
	echo "    alert_rule_test:"
	echo "      - {eval_time: 20m, alertname: BackupMXDestinationDown, exp_alerts: []}"
	echo "      - {eval_time: 20m, alertname: BackupMXQueueOld, exp_alerts: []}"
	echo "  - interval: 1m"
	echo "    input_series:"
	series "$W/down.prom"
	echo "    alert_rule_test:"
	echo "      - eval_time: 20m"
	echo "        alertname: BackupMXDestinationDown"
	echo "        exp_alerts:"
	echo "          - exp_labels: {severity: warning, job: backupmx, instance: live, domain: example.test}"
	echo "            exp_annotations:"
	echo "              summary: 'backupmx: example.test down for 15 minutes'"
	echo "              description: 'The primary MX of example.test has not accepted mail for 15 minutes; live queues its mail (backupmx status, backupmx queue --domain example.test).'"
} >"$W/live.test.yml"
out=$(promtool test rules "$W/live.test.yml" 2>&1)
t_is "live scrapes: a held domain is not down, a down one fires after 15 minutes" "$?" 0 ||
	t_diag "$out" "$(head -40 "$W/live.test.yml")"
t_done
