#!/bin/bash
# t_check_plugin.sh - the monitoring plugin plugins/check_backupmx run as
# Nagios runs it (empty environment, stdout only, exit code): one status
# line, perfdata in the monitoring-plugins syntax, -w/-c ranges turning OK
# into WARNING/CRITICAL, -t giving UNKNOWN when the run is cut short (and a
# dead MX reported as CRITICAL by backupmx itself when -t leaves it time),
# --help/--version exit 0, usage errors exit 3, no argument reaching a
# shell, drill mode with the message followed through the control socket,
# and the Icinga 2 / Nagios definitions in etc/monitoring (grep level).
#
# World: unbound; example.test MX 10 mx1 (127.0.0.2) and MX 20 mx2
# (127.0.1.3), tests/lib/mxpeer.py fake MXes; hole.test's only MX is a black
# hole (127.0.0.5); drill.test MX 10 = smtp-sink (127.0.0.6), MX 20 = a real
# backupmxd (127.0.0.3).  Everything on one free port.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
world_init
. "$BMX_ROOT/tests/lib/checkworld.sh"
BMX_PORT=$P
. "$BMX_ROOT/tests/lib/bmxd.sh"
PLUGIN=$BMX_ROOT/plugins/check_backupmx
MON=$BMX_ROOT/etc/monitoring

PEER_DOMAINS="example.test"
world_dns_start <<'EOF'
local-zone: "example.test." static
local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "example.test. 3600 IN MX 10 mx1.example.test."
local-data: "example.test. 3600 IN MX 20 mx2.example.test."
local-data: "mx1.example.test. 300 IN A 127.0.0.2"
local-data: "mx2.example.test. 300 IN A 127.0.1.3"
local-data-ptr: "127.0.0.2 mx1.example.test"
local-data-ptr: "127.0.1.3 mx2.example.test"
local-zone: "hole.test." static
local-data: "hole.test. 3600 IN SOA ns.hole.test. h.hole.test. 1 3600 900 604800 300"
local-data: "hole.test. 3600 IN MX 10 mx5.hole.test."
local-data: "mx5.hole.test. 300 IN A 127.0.0.5"
local-zone: "drill.test." static
local-data: "drill.test. 3600 IN SOA ns.drill.test. h.drill.test. 1 3600 900 604800 300"
local-data: "drill.test. 3600 IN MX 10 mx1.drill.test."
local-data: "drill.test. 3600 IN MX 20 mx2.drill.test."
local-data: "mx1.drill.test. 300 IN A 127.0.0.6"
local-data: "mx2.drill.test. 300 IN A 127.0.0.3"
EOF
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	-keyout "$W/key.pem" -out "$W/cert.pem" -subj "/CN=mx1.example.test" \
	-addext "subjectAltName=DNS:mx1.example.test,DNS:mx2.example.test" 2>/dev/null ||
	t_skip_all "openssl cannot make a test certificate"
mxpeer 127.0.0.2 mx1.example.test --tls-cert "$W/cert.pem" --tls-key "$W/key.pem"
mxpeer 127.0.1.3 mx2.example.test --tls-cert "$W/cert.pem" --tls-key "$W/key.pem"
world_blackhole_start 127.0.0.5 "$P"

# plug ARGS: run the plugin as Nagios would (no environment but PATH and the
# backupmx to use; stdout only); sets OUT, RC and MS (wall time).
plug() {
	local t0=$(date +%s%N)
	OUT=$(env -i PATH=/usr/bin:/bin BACKUPMX="$BMX" "$PLUGIN" "$@" 2>"$W/plug.err")
	RC=$?
	MS=$((($(date +%s%N) - t0) / 1000000))
}
# world options after "--" for check and drill
WOPT=(--resolver "$RESOLVER" --port "$P" --allow-private)

# The guidelines' perfdata: 'label'=value[UOM];[warn];[crit];[min];[max],
# space separated; value a number or U; UOM s ms us % B KB MB TB c;
# warn/crit ranges ([@][~|N][:][N]).
NUM='-?[0-9]+(\.[0-9]+)?'
RANGE="@?((~|$NUM)?:)?($NUM)?"
ITEM="('[^'=]+'|[^' =]+)=(U|$NUM)(s|ms|us|%|B|KB|MB|TB|c)?(;$RANGE(;$RANGE(;($NUM)?(;($NUM)?)?)?)?)?"
STATUS_RE="^BACKUPMX( DRILL)? (OK|WARNING|CRITICAL|UNKNOWN): [^|]+( \\| ($ITEM)( $ITEM)*)?\$"
# t_plugin_line DESC STATE: one line, matching the status-line syntax, with STATE
t_plugin_line() {
	local first
	first=$(head -n 1 <<<"$OUT")
	if [[ $first =~ $STATUS_RE ]] && [[ $first == *" $2: "* ]] && [ "$(wc -l <<<"$OUT")" = 1 ]; then
		t_ok "$1"
	else
		t_fail "$1" "$OUT"
	fi
}
# perf LABEL: the perfdata item LABEL=... of $OUT's first line
perf() { head -n 1 <<<"$OUT" | sed 's/.* | //' | tr ' ' '\n' | grep "^$1="; }

# --- check: healthy ---
plug -H example.test -- "${WOPT[@]}"
t_is "check, healthy: exit 0" "$RC" 0 || t_diag "$(cat "$W/plug.err")"
t_plugin_line "check, healthy: one OK line, guideline perfdata" OK
t_like "check: the summary of backupmx" "$OUT" '^BACKUPMX OK: example\.test: 2 MX, 2 accept mail'
t_like "check: per-MX connect time in s, min 0" "$(perf mx1_example_test_connect)" \
	'^mx1_example_test_connect=[0-9.]+s;;;0$'
t_like "check: run time" "$(perf time)" '^time=[0-9.]+s;;;0$'
t_like "check: mx_count" "$(perf mx_count)" '^mx_count=2;;;0$'

# --- thresholds ---
plug -H example.test -w 100 -c 200 -- "${WOPT[@]}"
t_is "-w 100 -c 200: still OK" "$RC" 0
t_like "-w/-c written into the perfdata" "$(perf mx2_example_test_connect)" \
	'^mx2_example_test_connect=[0-9.]+s;100;200;0$'
plug -H example.test -w 0.000001 -- "${WOPT[@]}"
t_is "-w 0.000001: WARNING (exit 1)" "$RC" 1
t_plugin_line "-w: one WARNING line" WARNING
t_like "-w: says which value" "$OUT" 'connect [0-9.e-]+ s outside 0\.000001'
plug -H example.test -w 0.000001 -c 0.000002 -- "${WOPT[@]}"
t_is "-c 0.000002: CRITICAL (exit 2)" "$RC" 2
t_plugin_line "-c: one CRITICAL line" CRITICAL
plug -H example.test -w @0:100 -- "${WOPT[@]}"
t_is "-w @0:100 (inside): WARNING" "$RC" 1
plug -H example.test -c 100: -- "${WOPT[@]}"
t_is "-c 100: (below 100): CRITICAL" "$RC" 2
plug -H example.test -c '~:100' -- "${WOPT[@]}"
t_is "-c ~:100: OK" "$RC" 0

# --- timeouts: -t kills the run (UNKNOWN); with time left, backupmx reports ---
plug -H hole.test -t 1 -- "${WOPT[@]}"
t_is "-t 1, black-hole MX: UNKNOWN (exit 3)" "$RC" 3
t_plugin_line "-t 1: one UNKNOWN line" UNKNOWN
t_like "-t 1: says it timed out" "$OUT" 'timed out after 1 s'
t_like "-t 1: done within 3 s (${MS} ms)" "$MS" '^([0-9]{1,3}|[0-2][0-9]{3})$'
plug -H hole.test -t 5 -- "${WOPT[@]}"
t_is "-t 5, black-hole MX: backupmx says CRITICAL (exit 2)" "$RC" 2
t_plugin_line "-t 5: one CRITICAL line" CRITICAL
t_like "-t 5: the silent MX has its perfdata" "$(perf mx5_hole_test_connect)" \
	'^mx5_hole_test_connect=(U|[0-9.]+s);;;0$'
t_like "-t 5: within 5 s (${MS} ms)" "$MS" '^([0-9]{1,3}|[0-4][0-9]{3})$'

# --- usage, help, version ---
plug --help
t_is "--help: exit 0" "$RC" 0
t_like "--help: usage and every option" "$OUT" 'Usage: check_backupmx -H DOMAIN'
for o in -H -m -t -w -c -V; do
	t_like "--help documents $o" "$OUT" "^  $o, --"
done
plug --version
t_is "--version: exit 0" "$RC" 0
t_is "--version: from backupmx --version" "$OUT" "check_backupmx ($("$BMX" --version))"
plug
t_is "no -H: UNKNOWN (exit 3)" "$RC" 3
t_like "no -H: UNKNOWN line first" "$OUT" '^BACKUPMX UNKNOWN: -H DOMAIN is required'
for bad in "-m frob" "-t 0" "-t x" "-w abc" "-c 1:2:3" "--frob"; do
	# shellcheck disable=SC2086
	plug -H example.test $bad
	t_is "usage error '$bad': exit 3" "$RC" 3
done
plug -H -x
t_is "-H -x (an option as the domain): exit 3" "$RC" 3
plug -H 'bad_domain!.test' -- "${WOPT[@]}"
t_is "bad domain: exit 3 from backupmx" "$RC" 3
t_plugin_line "bad domain: one UNKNOWN line" UNKNOWN
PLUGIN_BAD=$W/nobmx
OUT=$(env -i PATH=/usr/bin:/bin BACKUPMX="$PLUGIN_BAD" "$PLUGIN" -H example.test); RC=$?
t_is "backupmx missing: exit 3" "$RC" 3

# --- no argument reaches a shell ---
plug -H "x.test;touch $W/pwned1" -- "${WOPT[@]}"
plug -H "\$(touch $W/pwned2).test" -- "${WOPT[@]}"
plug -H example.test -- "${WOPT[@]}" --helo "\`touch $W/pwned3\`"
plug -H example.test -w "1;touch $W/pwned4"
t_is "shell metacharacters run nothing" "$(ls "$W" | grep -c pwned)" 0

# --- drill through a real backupmxd ---
if [ -x "$BMXD" ]; then
	bmxd_config <<-EOD
	relay_port = $P
	probe_interval = 2
	retry_min = 2
	connect_timeout = 2
	EOD
	sed -i 's/^relay_domains = .*/relay_domains = drill.test/' "$W/bmx.conf"
	world_sink_start 127.0.0.6 "$P"
	if bmxd_start; then
		CTL=$BMX_SPOOL/control.sock
		plug -m drill -H drill.test -t 40 -- "${WOPT[@]}" --control "$CTL" --within 20
		t_is "drill, followed: exit 0" "$RC" 0 || t_diag "$OUT" "$(cat "$W/plug.err")"
		t_plugin_line "drill: one OK line, guideline perfdata" OK
		t_like "drill: end_to_end with --within as critical" "$(perf end_to_end)" \
			'^end_to_end=[0-9.]+s;;20;0$'
		plug -m drill -H drill.test -t 40 -c 0.01: -- "${WOPT[@]}" --control "$CTL" --within 20
		t_is "drill -c 0.01: (end-to-end under 10 ms): CRITICAL" "$RC" 2
		t_like "drill -c replaces the critical of end_to_end" "$(perf end_to_end)" \
			'^end_to_end=[0-9.]+s;;0\.01:;0$'
		plug -m drill -H drill.test -w 0.000001 -- "${WOPT[@]}"
		t_is "drill, not followed: -w applies to time: WARNING" "$RC" 1
		t_like "drill, not followed: time has the threshold" "$(perf time)" \
			'^time=[0-9.]+s;0\.000001;;0$'
	else
		t_fail "backupmxd starts" "$(tail -5 "$BMXD_LOG")"
	fi
else
	t_skip "drill" "no $BMXD"
fi

# --- POSIX sh, and shellcheck ---
if world_have dash; then
	OUT=$(env -i PATH=/usr/bin:/bin BACKUPMX="$BMX" dash "$PLUGIN" -H example.test -- \
		"${WOPT[@]}" 2>&1); RC=$?
	t_is "runs under dash: exit 0" "$RC" 0 || t_diag "$OUT"
else
	t_skip "runs under dash" "no dash"
fi
if world_have shellcheck; then
	SC=$(shellcheck -s sh "$PLUGIN" 2>&1)
	t_is "shellcheck -s sh is clean" "$SC" ""
else
	t_skip "shellcheck" "no shellcheck"
fi

# --- the Icinga 2 and Nagios definitions (grep level; no icinga2 here) ---
IC=$MON/icinga2-backupmx.conf
NG=$MON/nagios-backupmx.cfg
t_like "icinga2: CheckCommand backupmx" "$(cat "$IC")" '^object CheckCommand "backupmx" \{$'
t_like "icinga2: runs PluginDir/check_backupmx" "$(cat "$IC")" \
	'command = \[ PluginDir \+ "/check_backupmx" \]'
t_is "icinga2: braces balance" "$(tr -cd '{' <"$IC" | wc -c)" "$(tr -cd '}' <"$IC" | wc -c)"
t_is "icinga2: brackets balance" "$(tr -cd '[' <"$IC" | wc -c)" "$(tr -cd ']' <"$IC" | wc -c)"
t_is "icinga2: quotes pair up on every line" \
	"$(grep -v '^ *\*\|^/\*' "$IC" | awk -F'"' 'NF % 2 == 0' )" ""
HELP=$("$PLUGIN" --help)
missing=""
for k in $(grep -oE '^\s+"-[A-Za-z-]*" = \{' "$IC" | grep -oE -- '-[A-Za-z-]*'); do
	[ "$k" = "--" ] && continue
	grep -qE -- "^  $k, " <<<"$HELP" || missing="$missing $k"
done
t_is "icinga2: every argument is a plugin option" "$missing" ""
undoc=""
for v in $(grep -oE '\$backupmx_[a-z]+\$' "$IC" | sort -u | tr -d '$'); do
	grep -qE "vars\.$v " "$IC" || undoc="$undoc $v"
done
t_is "icinga2: every \$backupmx_*\$ macro documented in the header" "$undoc" ""
t_is "nagios: define blocks close" "$(grep -c '^define [a-z]* {$' "$NG")" "$(grep -c '^}$' "$NG")"
t_is "nagios: each command has a name and a line" \
	"$(grep -c $'^\tcommand_name\t' "$NG")/$(grep -c $'^\tcommand_line\t' "$NG")" \
	"$(grep -c '^define command {$' "$NG")/$(grep -c '^define command {$' "$NG")"
t_unlike "nagios: command lines use \$USER1\$/check_backupmx" \
	"$(grep $'^\tcommand_line' "$NG" | grep -v $'\t\\$USER1\\$/check_backupmx ')" '.'
# The Nagios command lines, with $ARGn$ filled in, run the plugin with
# these arguments (a fake backupmx records them: no DNS is asked).
cat >"$W/fakebmx" <<EOF
#!/bin/sh
[ "\$1" = --version ] && { echo "backupmx 0"; exit 0; }
printf '%s\n' "\$@" >"$W/fake.args"
echo "OK: fake | mx_count=1"
EOF
chmod +x "$W/fakebmx"
declare -A A2=([check_backupmx]=1 [check_backupmx_extra]="--port 2525" [check_backupmx_drill]=120)
declare -A A3=([check_backupmx]=3 [check_backupmx_drill]="--control /run/x.sock --within 60")
declare -A WANTARGS=([check_backupmx]="check --nagios --timeout 8 -- example.test"
	[check_backupmx_extra]="check --nagios --timeout 8 --port 2525 -- example.test"
	[check_backupmx_drill]="drill --nagios --timeout 118 --control /run/x.sock --within 60 -- drill.test")
n=0
while read -r name; do
	IFS= read -r line || break
	cl=${line#*\$USER1\$/check_backupmx }
	d=example.test
	[ "$name" = check_backupmx_drill ] && d=drill.test
	cl=${cl//\$ARG1\$/$d}
	cl=${cl//\$ARG2\$/${A2[$name]}}
	cl=${cl//\$ARG3\$/${A3[$name]:-}}
	eval "set -- $cl"
	rm -f "$W/fake.args"
	OUT=$(env -i PATH=/usr/bin:/bin BACKUPMX="$W/fakebmx" "$PLUGIN" "$@" 2>&1)
	t_is "nagios $name: runs the plugin (exit 0)" "$?" 0 || t_diag "$OUT"
	t_is "nagios $name: backupmx arguments" "$(tr '\n' ' ' <"$W/fake.args" 2>/dev/null)" \
		"${WANTARGS[$name]} "
	n=$((n + 1))
done < <(awk -F'\t+' '$2 == "command_name" { print $3 } $2 == "command_line" { print $3 }' "$NG")
t_is "nagios: three commands tried" "$n" 3
t_done
