#!/bin/bash
# drain_latency.sh - drain to primaries that take their time, or cap their
# connections: backupmxd against Postfix after `postqueue -f`, same run.
#
#   bench/drain_latency.sh [BUILD_DIR] [MESSAGES] [CASE...]
#       (default: build 1000 0 20 50 200 cap5)
#
# A CASE is a number of milliseconds the primary waits before its reply to
# the end of DATA, or capN: 50 ms per message and "421" at the greeting when
# N connections are already open.  The primary is tests/lib/slowmx.py, which
# also counts the peak of concurrent connections, refusals and duplicates.
# Case 0 uses Postfix's smtp-sink instead (counting, -c): the Python primary
# tops out near 1,000 msgs/s and would be the bottleneck of both backups; its
# peak connections are then sampled with ss every 50 ms.
#
# For each case, one after the other, each with a fresh backup and primary:
#   1. backupmxd (BUILD_DIR/backupmxd) with max_concurrency = 20 (Postfix's
#      default_destination_concurrency_limit), probe_interval = 2,
#      retry_min = 2, connect_timeout = 2, log_level = info;
#   2. Postfix as a backup MX (bench/lib/postfix_backupmx.sh, delivering by
#      MX, default concurrency settings: initial 5, limit 20), with
#      `postqueue -c DIR -f` right after the primary comes up.
# The backlog: smtp-source -s 10 -m MESSAGES -l 4096 -f s@client.test
# -t r@example.test 127.0.0.3:PORT, queued while the primary is down.  T0 is
# when the primary is up; first = first message at the primary; rate =
# MESSAGES / (drained - first); a drain still going after BMX_BENCH_CAP
# seconds (default 120) is reported as not drained, with what arrived.  Runs in its own network and mount
# namespaces (re-executes itself under `unshare -n -m`; needs root).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
MSGS=${2:-1000}
shift 2 2>/dev/null || shift $#
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(0 20 50 200 cap5)
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n -m env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "$MSGS" "${CASES[@]}"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD
. "$ROOT/tests/lib/world.sh"
. "$ROOT/tests/lib/bmxd.sh"
. "$ROOT/bench/lib/postfix_backupmx.sh"
. "$ROOT/bench/lib/drain.sh"
world_init
trap 'pfbmx_stop; world_cleanup' EXIT
[ -x "$BUILD/backupmxd" ] || { echo "no $BUILD/backupmxd: run make first" >&2; exit 1; }
FAIL=0
CAP_S=${BMX_BENCH_CAP:-120}   # seconds a drain may take before it is reported as not drained
drain_world_dns || exit 1
drain_machine_line
echo "# backlog:  smtp-source -s 10 -m $MSGS -l 4096 -f s@client.test -t r@example.test" \
	"127.0.0.3:PORT"

# Start the primary for case $1 on 127.0.0.2:$2; sets PRIM_PID, PRIM_STATS, PRIM_OUT.
primary_start()
{
	local c=$1 port=$2 delay cap=0
	PRIM_STATS=$W/prim.$RANDOM.json
	PRIM_OUT=$W/prim.$RANDOM.out
	if [ "$c" = 0 ]; then
		smtp-sink -u postfix -c "127.0.0.2:$port" 256 >"$PRIM_OUT" 2>&1 &
		PRIM_PID=$!
	else
		delay=$c
		case $c in cap*) cap=${c#cap}; delay=50 ;; esac
		"$WORLD_PY" "$ROOT/tests/lib/slowmx.py" --listen "127.0.0.2:$port" \
			--delay-ms "$delay" --cap "$cap" --stats "$PRIM_STATS" >"$PRIM_OUT" 2>&1 &
		PRIM_PID=$!
	fi
	world_track "$PRIM_PID"
	world_wait_port 127.0.0.2 "$port" 10
}

# Print field $1 of the slowmx stats (0 when absent).
prim_stat()
{
	"$WORLD_PY" -c 'import json,sys
try: print(json.load(open(sys.argv[1]))[sys.argv[2]])
except Exception: print(0)' "$PRIM_STATS" "$1"
}

# Messages the primary has accepted so far.
prim_count()
{
	if [ -f "$PRIM_STATS" ]; then
		prim_stat messages
		return
	fi
	local n
	n=$(tail -c 300 "$PRIM_OUT" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1)
	echo "${n#mesg=}" | grep -E '^[0-9]+$' || echo 0
}

# Watch the primary on port $2 from T0 ($1) until it has $MSGS messages or
# CAP_S passes; sets FIRST, DRAIN (seconds after T0, "" if not reached),
# GOT, PEAK, REFUSED, LATE.
watch_primary()
{
	local t0=$1 port=$2 now n open
	FIRST="" DRAIN="" PEAK=0
	while :; do
		now=$(date +%s.%N)
		n=$(prim_count)
		if [ ! -f "$PRIM_STATS" ]; then
			open=$(ss -Htn state established "( sport = :$port )" 2>/dev/null | wc -l)
			[ "$open" -gt "$PEAK" ] && PEAK=$open
		fi
		[ -z "$FIRST" ] && [ "$n" -ge 1 ] &&
			FIRST=$(awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
		if [ "$n" -ge "$MSGS" ]; then
			DRAIN=$(awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
			break
		fi
		awk -v a="$now" -v b="$t0" -v c="$CAP_S" 'BEGIN { exit !(a - b > c) }' && break
		sleep 0.05
	done
	sleep 0.5
	GOT=$(prim_count)
	REFUSED="-" LATE="-"
	if [ -f "$PRIM_STATS" ]; then
		PEAK=$(prim_stat peak)
		REFUSED="$(prim_stat refused)/$(($(prim_stat connections) + $(prim_stat refused)))"
		LATE="$(prim_stat refused_late)/$(prim_stat attempts_late)"
		[ "$(prim_stat duplicates)" = 0 ] || { echo "# DUPLICATES: $(cat "$PRIM_STATS")"; FAIL=1; }
	fi
	[ "$GOT" -ge "$MSGS" ] || FAIL=1
}

# Print one row for case $1, backup $2; sets RATE.
report()
{
	RATE=""
	[ -n "$FIRST" ] && [ -n "$DRAIN" ] &&
		RATE=$(awk -v n="$MSGS" -v a="$DRAIN" -v b="$FIRST" 'BEGIN { printf "%.0f", n / (a - b) }')
	local drained="not in $CAP_S s"
	[ -n "$DRAIN" ] && drained="$DRAIN s"
	printf '| %-6s | %-22s | %5s s | %8s | %6s | %6s | %4s | %9s | %7s |\n' "$1" "$2" \
		"${FIRST:--}" "$drained" "$GOT" "${RATE:--}" "$PEAK" "$REFUSED" "$LATE"
}

# One backupmxd run for case $1; sets BMX_RATE.
run_bmx()
{
	rm -rf "$W/spool" "$W/bmx.conf"
	BMX_PORT=$(world_free_port)
	bmxd_relay_config <<EOD
max_connections_per_ip = 100
max_concurrency = 20
EOD
	sed -i 's/^log_level = debug/log_level = info/' "$W/bmx.conf"
	bmxd_start || { echo "backupmxd did not start" >&2; FAIL=1; return; }
	drain_queue "$BMX_PORT" >/dev/null
	sleep 3
	primary_start "$1" "$BMX_PORT"
	watch_primary "$(date +%s.%N)" "$BMX_PORT"
	report "$1" "backupmxd"
	BMX_RATE=$RATE
	bmxd_stop
	world_kill "$PRIM_PID"
}

# One Postfix run for case $1 (postqueue -f when the primary is up); sets PF_RATE.
run_pf()
{
	drain_pf_start "pf.$1" || { echo "postfix did not start" >&2; FAIL=1; return; }
	drain_queue 25 >/dev/null
	drain_pf_wait_deferred >/dev/null
	primary_start "$1" 25
	local t0
	t0=$(date +%s.%N)
	postqueue -c "$PFBMX_DIR/conf" -f
	watch_primary "$t0" 25
	report "$1" "Postfix + postqueue -f"
	PF_RATE=$RATE
	pfbmx_stop
	world_kill "$PRIM_PID"
}

echo
echo "| case | backup | first | drained | arrived | msgs/s | peak conns | refused | refused after 1 s |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
SUMMARY=""
for c in "${CASES[@]}"; do
	run_bmx "$c"
	run_pf "$c"
	SUMMARY+=$(awk -v c="$c" -v b="$BMX_RATE" -v p="$PF_RATE" 'BEGIN {
		if (b == "" || p == "" || p == 0) { printf "%s: no ratio (a run did not drain)\n", c; exit }
		printf "%s: backupmxd / Postfix = %.2fx\n", c, b / p }')$'\n'
done
echo
printf '%s' "$SUMMARY"
exit $FAIL
