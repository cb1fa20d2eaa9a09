#!/bin/bash
# t_prometheus_rules.sh - the Prometheus alerting rules shipped in
# etc/prometheus/backupmx-alerts.yml load (promtool check rules), each alert
# fires on made-up series and stays quiet where it must (promtool test rules
# tests/prometheus/backupmx-alerts.test.yml), and every backupmx_ metric
# they use is one the daemon exports (docs/monitoring.md, the sources).
# promtool is in Debian's prometheus package (scripts/deps); without it the
# test skips.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
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
t_done
