#!/bin/bash
# proxy_bench.sh - what proxy mode (primary_up = proxy, issue 13) costs a
# sender: ham sent straight to a real Postfix primary, and the same ham sent
# through backupmxd, which passes every transaction through to that Postfix
# live, in the same run.
#
#   bench/proxy_bench.sh [BUILD_DIR] [MESSAGES] [SESSIONS] [ROUNDS] [LATENCY_MESSAGES]
#       (default: build 2000 20 3 500)
#
# Runs in its own network namespace (it re-executes itself under `unshare -n`,
# so it needs root), with the test world of tests/lib/world.sh, on loopback:
#   - unbound on 127.0.0.1 serves example.test MX 10 mx1 (127.0.0.2, the
#     primary) and MX 20 mx2 (127.0.0.3, backupmxd), and PTRs for 127/8
#     (127.0.0.1, where the load comes from, is client.test);
#   - the primary is a private Postfix instance on 127.0.0.2:PORT
#     (bench/lib/proxy.sh: tests/lib/postfix.sh's primary with
#     virtual_transport = discard), with
#     smtpd_authorized_xclient_hosts = 127.0.0.3;
#   - backupmxd (BUILD_DIR/backupmxd) on 127.0.0.3:PORT, relay_domains =
#     example.test, resolver = that unbound, relay_port = PORT (the MX
#     lookup, not a route, finds the primary), bind_address = 127.0.0.3 (the
#     address the primary authorises), primary_up = proxy,
#     max_concurrency = 50 (proxy sessions count against it, and the load
#     opens 20 at once; the default 10 would answer half of them 451 4.7.1),
#     max_connections_per_ip = 1000, log_level = info.
# Both halves go to the same Postfix, one after the other:
#   throughput: smtp-source -s SESSIONS -m MESSAGES -l 4096 -f s@client.test
#       -t r@example.test ADDR:PORT (one message per connection), against
#       127.0.0.2 (direct) and 127.0.0.3 (through backupmxd), ROUNDS times,
#       the order swapped every round; rate = MESSAGES / smtp-source's wall
#       time; the verdict uses the medians (target: proxy >= 0.8x direct);
#   latency: bench/lib/smtplat.py ADDR PORT LATENCY_MESSAGES, one message at a
#       time over a fresh connection each, no pipelining; a message's time runs
#       from connect() to the reply to its final dot; median and p99 of each
#       half, and the difference (the latency proxy mode adds).
# Before each measured run: 100 messages of warm-up the first time (Postfix
# forks its smtpd processes), then the primary must have delivered all it
# took, `sync`, and BMX_BENCH_SETTLE seconds (default 3) of rest.
#
# Prints each run (rate, wall time, how busy the CPUs were; for the proxy runs
# also backupmxd's own CPU time a message), the medians, the ratio, and the
# latencies; then backupmxd's backupmx_proxy_transactions_total metric (read
# over the control socket; a warning if it is missing) and whether the primary
# saw the original client (with XCLIENT, Postfix's "client=" must never name
# 127.0.0.3).
# Checks: every message of every run reached the primary (qmgr "removed" in
# its log), and every message sent through backupmxd was proxied: its log
# must gain one "proxy: QID: ... status=sent" line per message, and its
# spool must stay empty.  smtp-source stops at the first refusal (a 451 over
# max_concurrency, say): that run fails and says why.  If backupmxd does not
# start (a build without primary_up refuses the key) or stores the warm-up
# instead of proxying it, the proxy half is skipped with the reason, the
# direct half still runs, and the exit code is 1.  Exit 1 on any failed check, 0 otherwise (a missed
# target is reported, not failed).
# Environment:
#   BMX_BENCH_AUTH=xclient (default) | xforward | none: what the primary
#     authorises 127.0.0.3 for (smtpd_authorized_xclient_hosts,
#     smtpd_authorized_xforward_hosts, neither);
#   BMX_BENCH_PRIMARY_UP=proxy (default): the value of primary_up; empty
#     leaves the key out (to see the proxy check fail on a build without it);
#   BMX_BENCH_SETTLE=3: seconds of rest before each measured run;
#   BMX_BENCH_KEEPLOG=FILE: keep a copy of backupmxd's log.
#   BMX_BENCH_PIN=1: backupmxd on CPU 1, everything else on CPU 0 (as if the
#     backup and the primary were separate hosts); default: all share both.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
MSGS=${2:-2000}
SESS=${3:-20}
ROUNDS=${4:-3}
LAT=${5:-500}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "$MSGS" "$SESS" "$ROUNDS" "$LAT"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD
. "$ROOT/tests/lib/world.sh"
. "$ROOT/tests/lib/bmxd.sh"
. "$ROOT/tests/lib/postfix.sh"
. "$ROOT/bench/lib/drain.sh"	# drain_machine_line
. "$ROOT/bench/lib/proxy.sh"
world_init
trap 'pfpri_stop; world_cleanup' EXIT
for c in smtp-source postfix unbound; do
	world_have "$c" || { echo "$c is not installed (scripts/deps installs the test peers)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
# BMX_BENCH_PIN=1: the backup and the primary on separate CPUs, as on separate
# hosts: this shell and all it starts (Postfix, smtp-source, unbound) on CPU
# 0, backupmxd moved to CPU 1 once it runs.  Unpinned, all three share both
# CPUs, and every CPU cycle backupmxd spends is one the primary loses.
PIN=${BMX_BENCH_PIN:-0}
if [ "$PIN" = 1 ]; then
	world_have taskset || { echo "BMX_BENCH_PIN=1 needs taskset" >&2; exit 1; }
	taskset -p -c 0 $$ >/dev/null
fi
FAIL=0
AUTH=${BMX_BENCH_AUTH:-xclient}
PRIMARY_UP=${BMX_BENCH_PRIMARY_UP-proxy}
SETTLE=${BMX_BENCH_SETTLE:-3}
WARM=100
PRI=127.0.0.2 BAK=127.0.0.3
case $AUTH in
xclient | xforward) PF_AUTH="$AUTH $BAK" ;;
none) PF_AUTH=none ;;
*) echo "BMX_BENCH_AUTH must be xclient, xforward or none" >&2; exit 1 ;;
esac
# Postfix's inet_interfaces wants each address on an interface; added as /8,
# the kernel still picks 127.0.0.1 as the source of a connection to either,
# so the load comes from 127.0.0.1 and backupmxd's own connections, bound to
# 127.0.0.3, are told apart from it at the primary.
for a in $PRI $BAK; do ip addr add "$a/8" dev lo 2>/dev/null; done

drain_machine_line
echo "# loadavg:  $(cut -d" " -f1-3 /proc/loadavg) at the start (other work on the machine skews every rate)"
echo "# load:     smtp-source -s $SESS -m $MSGS -l 4096 -f s@client.test -t r@example.test" \
	"ADDR:PORT; latency: bench/lib/smtplat.py ADDR PORT $LAT"

# example.test MX 10 mx1 (primary), MX 20 mx2 (backupmxd), and reverse names
bmxd_world_dns <<'EOF'
local-zone: "127.in-addr.arpa." static
local-data: "127.in-addr.arpa. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "1.0.0.127.in-addr.arpa. 3600 IN PTR client.test."
local-data: "2.0.0.127.in-addr.arpa. 3600 IN PTR mx1.example.test."
local-data: "3.0.0.127.in-addr.arpa. 3600 IN PTR mx2.example.test."
EOF
P=$BMX_PORT
pfpri_start "$PRI" "$P" "$PF_AUTH" || exit 1
echo "# primary:  Postfix $(postconf -d -h mail_version) on $PRI:$P, virtual_transport = discard," \
	"authorises $BAK for: $AUTH"

# --- backupmxd in proxy mode ------------------------------------------------
bmxd_relay_config <<EOF
max_connections = 1000
max_connections_per_ip = 1000
max_concurrency = 50
bind_address = $BAK
${PRIMARY_UP:+primary_up = $PRIMARY_UP}
EOF
sed -i 's/^log_level = debug/log_level = info/' "$W/bmx.conf"
echo "# backupmxd: $BUILD/backupmxd on $BAK:$P," \
	"$(grep -E '^(primary_up|bind_address|max_concurrency) ' "$W/bmx.conf" | paste -sd, | sed 's/,/, /g')"
PROXY_ERR=""
if bmxd_start >/dev/null 2>&1; then
	[ "$PIN" = 1 ] && taskset -a -p -c 1 "$BMXD_PID" >/dev/null &&
		echo "# pinned:   backupmxd on CPU 1; Postfix, smtp-source and unbound on CPU 0"
else
	PROXY_ERR="backupmxd did not start: $(grep -v '^$' "$BMXD_LOG" | tail -3 | paste -sd'|')"
	[ -n "${BMXD_PID:-}" ] && world_kill "$BMXD_PID"
	BMXD_PID=""
fi

# Count backupmxd's log lines: proxied and sent / any proxy line / queued.
proxy_sent() { grep -c 'proxy: [0-9A-Za-z]*: .*status=sent' "$BMXD_LOG" 2>/dev/null || true; }
proxy_lines() { grep -c 'proxy: ' "$BMXD_LOG" 2>/dev/null || true; }
bmx_queued() { grep -c ': from=<.*, nrcpt=' "$BMXD_LOG" 2>/dev/null || true; }
# backupmxd's metric lines (no comments) that match the basic regex $1,
# read from the control socket.
bmx_metrics()
{
	"$WORLD_PY" - "$BMX_SPOOL/control.sock" <<'PY' 2>/dev/null | grep -v '^#' | grep -e "$1"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"metrics\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode("utf-8", "replace"))
PY
}
spool_files() { find "$BMX_SPOOL/queue" -type f 2>/dev/null | wc -l; }
# backupmxd's CPU time so far, in clock ticks (user + system).
bmxd_cpu() { awk '{ print $14 + $15 }' "/proc/${BMXD_PID:-0}/stat" 2>/dev/null || echo 0; }

# Everything the primary should have received so far (warm-ups included).
EXPECT=0
# Run smtp-source against ADDR:PORT with $1 messages and add them to EXPECT;
# 0 if it succeeded.  When it failed (it stops at the first refusal), EXPECT
# becomes what the primary has after 3 s.
source_run()
{
	local n=$1 addr=$2 log=$W/source.$2.$RANDOM.log
	if ! smtp-source -s "$SESS" -m "$n" -l 4096 -f s@client.test -t r@example.test \
		"$addr:$P" >"$log" 2>&1; then
		echo "# smtp-source against $addr:$P failed: $(tail -3 "$log" | paste -sd'|')" >&2
		sleep 3
		EXPECT=$(pfpri_removed)
		return 1
	fi
	EXPECT=$((EXPECT + n))
	grep -q . "$log" && echo "# smtp-source said: $(head -3 "$log" | paste -sd'|')" >&2
	return 0
}

# Wait until the primary has delivered all it took, then sync and rest.
settle()
{
	pfpri_wait_removed "$EXPECT" 120 ||
		{ echo "# the primary delivered only $(pfpri_removed) of $EXPECT" >&2; FAIL=1; }
	sync
	sleep "$SETTLE"
}

# Check that the last $1 messages sent to backupmxd were proxied (the proxy
# line count was $2 before them); sets PROXY_ERR when not.
proxy_check()
{
	local n=$1 before=$2 got
	got=$(($(proxy_sent) - before))
	[ "$got" -ge "$n" ] && [ "$(spool_files)" = 0 ] && return 0
	PROXY_ERR="backupmxd did not proxy: $got of $n messages logged 'proxy: ... status=sent'"
	PROXY_ERR+=" ($(proxy_lines) 'proxy:' lines in all, $(bmx_queued) messages queued,"
	PROXY_ERR+=" $(spool_files) in its spool now)"
	[ "$(proxy_lines)" = 0 ] && [ "$(bmx_queued)" -gt 0 ] &&
		PROXY_ERR+=": it stored and forwarded instead (is primary_up = proxy implemented?)"
	return 1
}

# One timed smtp-source run of $MSGS against ADDR; sets RATE, SECS, BUSY (% of
# the CPUs), BMX_US (backupmxd's CPU time a message, in µs, during the run),
# RATE "-" when smtp-source failed.
timed_run()
{
	local addr=$1 t0 t1 c0 c1 k0 ok=0
	settle
	k0=$(bmxd_cpu)
	c0=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
	t0=$(date +%s.%N)
	source_run "$MSGS" "$addr" || ok=1
	t1=$(date +%s.%N)
	c1=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
	BMX_US=$(awk -v a="$k0" -v b="$(bmxd_cpu)" -v hz="$(getconf CLK_TCK)" -v n="$MSGS" \
		'BEGIN { printf "%.0f", (b - a) / hz * 1e6 / n }')
	read -r RATE SECS BUSY < <(awk -v m="$MSGS" -v a="$t0" -v b="$t1" -v c0="$c0" -v c1="$c1" 'BEGIN {
		split(c0, x, " "); split(c1, y, " ")
		busy = y[1] - x[1]; idle = y[2] - x[2]
		printf "%.0f %.2f %.0f\n", m / (b - a), b - a, 100 * busy / (busy + idle)
	}')
	[ $ok = 0 ] || { FAIL=1; RATE=-; }
}

# --- warm-up ------------------------------------------------------------------
source_run $WARM $PRI || FAIL=1
if [ -z "$PROXY_ERR" ]; then
	before=$(proxy_sent)
	source_run $WARM $BAK || FAIL=1
	sleep 0.5	# the last log lines
	proxy_check $WARM "$before"
fi
[ -n "$PROXY_ERR" ] && { echo "# PROXY HALF SKIPPED: $PROXY_ERR"; FAIL=1; }

# --- throughput -----------------------------------------------------------------
DIRECT='' PROXY=''
run_direct()
{
	timed_run $PRI
	echo "round $r  direct to Postfix:       $RATE msgs/s  (${SECS}s, CPUs ${BUSY}% busy)"
	[ "$RATE" = - ] || DIRECT+=" $RATE"
}
run_proxy()
{
	[ -z "$PROXY_ERR" ] || return 0
	local before
	before=$(proxy_sent)
	timed_run $BAK
	sleep 0.5
	if [ "$RATE" = - ]; then
		echo "round $r  through backupmxd proxy: FAILED: smtp-source was refused (see above)"
	elif proxy_check "$MSGS" "$before"; then
		echo "round $r  through backupmxd proxy: $RATE msgs/s  (${SECS}s, CPUs ${BUSY}% busy;" \
			"backupmxd ${BMX_US} µs CPU a message)"
		[ "$RATE" = - ] || PROXY+=" $RATE"
	else
		echo "round $r  through backupmxd proxy: NOT PROXIED: $PROXY_ERR"
		FAIL=1
	fi
}
echo
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then run_direct; run_proxy; else run_proxy; run_direct; fi
done

# --- latency ------------------------------------------------------------------------
# Send $LAT messages one at a time to ADDR; the latencies (seconds) go to FILE.
lat_run()
{
	local addr=$1 out=$2
	settle
	if ! "$WORLD_PY" "$ROOT/bench/lib/smtplat.py" "$addr" "$P" "$LAT" >"$out" 2>"$out.err"; then
		echo "# smtplat against $addr failed after $(wc -l <"$out") messages: $(cat "$out.err")"
		FAIL=1
	fi
	EXPECT=$((EXPECT + $(wc -l <"$out")))
}
lat_run $PRI "$W/lat.direct"
if [ -z "$PROXY_ERR" ]; then
	before=$(proxy_sent)
	lat_run $BAK "$W/lat.proxy"
	sleep 0.5
	proxy_check "$(wc -l <"$W/lat.proxy")" "$before" || { echo "# latency: $PROXY_ERR"; FAIL=1; }
fi

# --- what arrived -------------------------------------------------------------
pfpri_wait_removed "$EXPECT" 120 || FAIL=1
echo
echo "the primary delivered $(pfpri_removed) of $EXPECT messages sent (warm-ups included)"
if [ -z "$PROXY_ERR" ]; then
	echo "backupmxd: $(proxy_sent) 'proxy: ... status=sent' log lines," \
		"$(bmx_queued) messages logged as queued, $(spool_files) in its spool"
	m=$(bmx_metrics 'backupmx_proxy_transactions_total\|backupmx_messages_received_total')
	if grep -q '^backupmx_proxy_transactions_total' <<<"$m"; then
		sed 's/^/backupmxd metric: /' <<<"$m"
	else
		echo "# WARNING: backupmxd has no backupmx_proxy_transactions_total metric"
	fi
	# without XCLIENT, Postfix names the backup (bound to 127.0.0.3) as the client
	n=$(pfpri_clients "$BAK")
	case $AUTH in
	xclient)
		if [ "$n" = 0 ]; then
			echo "XCLIENT: the primary saw the original client (127.0.0.1) in every proxied session"
		else
			echo "# WARNING: XCLIENT authorised, but the primary named the backup ($BAK) as" \
				"the client in $n transactions"
		fi ;;
	*) echo "$AUTH: the primary named the backup ($BAK) as the client in $n transactions" ;;
	esac
fi
[ -n "${BMX_BENCH_KEEPLOG:-}" ] && [ -f "${BMXD_LOG:-}" ] && cp "$BMXD_LOG" "$BMX_BENCH_KEEPLOG"

# --- summary --------------------------------------------------------------------------
# The median of the numbers given.
median()
{
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print ""; exit }
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# Print "median p99" of a latency file, in ms.
lat_ms()
{
	awk -v a="$(pct 50 "$1")" -v b="$(pct 99 "$1")" 'BEGIN { printf "%.2f %.2f", a * 1000, b * 1000 }'
}
echo
# shellcheck disable=SC2086
D_RATE=$(median $DIRECT) P_RATE=$(median $PROXY)
echo "throughput, median of $ROUNDS: direct ${D_RATE:--} msgs/s, through backupmxd ${P_RATE:--} msgs/s"
if [ -n "$D_RATE" ] && [ -n "$P_RATE" ]; then
	awk -v p="$P_RATE" -v d="$D_RATE" 'BEGIN {
		printf "proxy / direct: %.2fx  (target >= 0.8x: %s)\n", p / d, (p / d >= 0.8) ? "met" : "MISSED" }'
else
	echo "proxy / direct: not available (the proxy half did not run)"
fi
if [ -s "$W/lat.direct" ]; then
	read -r DM D99 < <(lat_ms "$W/lat.direct")
	echo "latency per message, $(wc -l <"$W/lat.direct") sequential:" \
		"direct median $DM ms, p99 $D99 ms"
	if [ -s "${W}/lat.proxy" ] && [ -z "$PROXY_ERR" ]; then
		read -r PM P99 < <(lat_ms "$W/lat.proxy")
		echo "latency per message, $(wc -l <"$W/lat.proxy") sequential:" \
			"proxy  median $PM ms, p99 $P99 ms"
		awk -v a="$PM" -v b="$DM" -v c="$P99" -v d="$D99" 'BEGIN {
			printf "added by proxy mode: median %+.2f ms, p99 %+.2f ms\n", a - b, c - d }'
	else
		echo "latency, proxy: not available (the proxy half did not run)"
	fi
fi
[ -n "$PROXY_ERR" ] && echo "FAILED: $PROXY_ERR"
exit $FAIL
