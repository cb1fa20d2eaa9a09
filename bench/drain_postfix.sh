#!/bin/bash
# drain_postfix.sh - backupmxd against Postfix as a backup MX when the primary comes back.
#
#   bench/drain_postfix.sh [BUILD_DIR] [MESSAGES]   (default: build 20000; 2000 for a quick run)
#
# Environment: BMX_BENCH_PF_CAP=600  seconds to wait for the first delivery of
#              Postfix with default settings (0 skips that run; a drain after a
#              late first delivery also gets at most this long).
#
# Runs in its own network and mount namespaces (it re-executes itself under
# `unshare -n -m`, so it needs root), with the test world of
# tests/lib/world.sh, on loopback only:
#   - unbound on 127.0.0.1:53 serves example.test MX 10 mx1 (127.0.0.2, the
#     primary) and MX 20 mx2 (127.0.0.3, the backup), plus PTRs for 127/8;
#     a private /etc/resolv.conf ("nameserver 127.0.0.1") is bind-mounted in
#     the mount namespace, so Postfix's own DNS lookups reach this unbound.
#   - the primary is smtp-sink on 127.0.0.2:PORT, down (nothing listening,
#     connection refused) while the backlog is queued.
# Three runs, one after another, each with a fresh backup, port and sink:
#   1. backupmxd (BUILD_DIR/backupmxd), as in bench/drain_bench.sh:
#      relay_port = PORT, probe_interval = 2, retry_min = 2,
#      connect_timeout = 2, max_concurrency default (10), log_level = info.
#   2. Postfix as a backup MX (bench/lib/postfix_backupmx.sh, then
#      defer_transports emptied so it really tries the primary), routing by
#      MX with its own DNS lookups (smtp_dns_support_level default,
#      proxy_interfaces = 127.0.0.3 so it knows it is mx2 and truncates the
#      MX list to mx1), default retry and concurrency settings;
#      `postqueue -c DIR -f` right after the primary comes up.  Postfix's
#      runs use port 25 for its smtpd and for the sink: Postfix only does its
#      "best MX is me" check for port 25 (smtp_connect.c), and on another port
#      it would relay the backlog to itself (mx2) in a loop.
#   3. The same Postfix set-up with default settings and no flush: its own
#      backoff decides (minimal_backoff_time 300 s, queue_run_delay 300 s).
# Each backlog: smtp-source -s 10 -m MESSAGES -l 4096 -f s@client.test
# -t r@example.test 127.0.0.3:PORT; the script waits until the backup has
# deferred it (Postfix: every message in deferred/; backupmxd: 3 s, so the
# probe has marked the primary down).  Then the sink comes up at T0:
#   smtp-sink -u postfix -c -d DIR/%Y%m%d%H%M%S. 127.0.0.2:PORT 256
# first = seconds from T0 to the sink's first dump file; drained = seconds
# from T0 until the sink holds MESSAGES dump files; rate = MESSAGES /
# (drained - first).  Prints a table and the targets of issue 4; exit 1 if a
# run failed (not if a target is missed).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
MSGS=${2:-20000}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n -m env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "$MSGS"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD
CAP=${BMX_BENCH_PF_CAP:-600}
. "$ROOT/tests/lib/world.sh"
. "$ROOT/tests/lib/bmxd.sh"
. "$ROOT/bench/lib/postfix_backupmx.sh"
. "$ROOT/bench/lib/drain.sh"
world_init
trap 'pfbmx_stop; world_cleanup' EXIT
[ -x "$BUILD/backupmxd" ] || { echo "no $BUILD/backupmxd: run make first" >&2; exit 1; }
FAIL=0

drain_world_dns || exit 1
drain_machine_line
echo "# backlog:  smtp-source -s 10 -m $MSGS -l 4096 -f s@client.test -t r@example.test" \
	"127.0.0.3:PORT"

# Print the number of files in directory $1.
# The primary: smtp-sink WITHOUT dumping messages to files (-d would make
# smtp-sink's own file creation the bottleneck for both backups), counting
# deliveries with -c ("... mesg=N\r" on its stdout).  Sets SINK_PID, SINK_OUT.
SINK_RUN=0
sink_start()
{
	SINK_RUN=$((SINK_RUN + 1))
	SINK_OUT=$W/sink.$SINK_RUN.out
	SINK_DIR=$W/sink.$SINK_RUN.unused
	smtp-sink -u postfix -c "$1:$2" 256 >"$SINK_OUT" 2>&1 &
	SINK_PID=$!
	world_track "$SINK_PID"
	world_wait_port "$1" "$2" 10
}
# Messages the counting sink has received so far.
sink_count()
{
	local n
	n=$(tail -c 300 "$SINK_OUT" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1)
	echo "${n#mesg=}" | grep -E '^[0-9]+$' || echo 0
}
nfiles() { sink_count; }

# Watch $SINK_DIR from T0 ($1): first file within $2 s, all $MSGS within $3 s
# more; sets FIRST and DRAIN (seconds after T0, or "" on timeout) and GOT.
watch_sink()
{
	local t0=$1 cap1=$2 cap2=$3 now t1="" tdone
	FIRST="" DRAIN=""
	while :; do
		now=$(date +%s.%N)
		if [ "$(sink_count)" -ge 1 ]; then
			t1=$now; break
		fi
		awk -v a="$now" -v b="$t0" -v c="$cap1" 'BEGIN { exit !(a - b > c) }' && break
		sleep 0.05
	done
	if [ -n "$t1" ]; then
		FIRST=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
		tdone=$(awk -v a="$t1" -v c="$cap2" 'BEGIN { printf "%.3f", a + c }')
		while :; do
			now=$(date +%s.%N)
			if [ "$(nfiles "$SINK_DIR")" -ge "$MSGS" ]; then
				DRAIN=$(awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
				break
			fi
			awk -v a="$now" -v b="$tdone" 'BEGIN { exit !(a > b) }' && break
			sleep 0.2
		done
	fi
	sleep 1
	GOT=$(nfiles "$SINK_DIR")
}

# Print one result row: NAME QUEUED QUEUE_SECONDS; uses FIRST DRAIN GOT, sets RATE.
report()
{
	local name=$1 queued=$2 qt=$3 f d
	RATE=""
	f=${FIRST:-"> $4"}
	d=${DRAIN:-"not drained"}
	if [ -n "$FIRST" ] && [ -n "$DRAIN" ]; then
		RATE=$(awk -v n="$MSGS" -v a="$DRAIN" -v b="$FIRST" 'BEGIN { printf "%.0f", n / (a - b) }')
	fi
	printf '| %-28s | %6s in %4s s | %10s s | %11s s | %6s msgs/s | %6s |\n' \
		"$name" "$queued" "$qt" "$f" "$d" "${RATE:--}" "$GOT"
}

echo "| backup | queued | first delivery | drained | rate | sink got |"
echo "|---|---:|---:|---:|---:|---:|"

# --- 1. backupmxd ---------------------------------------------------------
BMX_PORT=$(world_free_port)
bmxd_relay_config <<EOD
max_connections_per_ip = 100
EOD
sed -i 's/^log_level = debug/log_level = info/' "$W/bmx.conf"
bmxd_start || { echo "backupmxd did not start" >&2; exit 1; }
QT=$(drain_queue "$BMX_PORT")
Q=$(ls "$BMX_SPOOL/queue" | wc -l)
sleep 3
sink_start 127.0.0.2 "$BMX_PORT"
T0=$(date +%s.%N)
watch_sink "$T0" 600 600
report "backupmxd" "$Q" "$QT" 600
BMX_FIRST=$FIRST BMX_RATE=$RATE
[ "$GOT" -ge "$MSGS" ] || FAIL=1
bmxd_stop
world_kill "$SINK_PID"

# --- 2. Postfix, postqueue -f when the primary comes up ------------------
P=25
drain_pf_start pf.flush || { echo "postfix did not start" >&2; exit 1; }
QT=$(drain_queue "$P")
Q=$(drain_pf_wait_deferred)
grep -m1 'status=deferred' "$PFBMX_DIR/maillog" | sed 's/^/# postfix (flush run) deferred: /'
sink_start 127.0.0.2 "$P"
T0=$(date +%s.%N)
echo "# primary up at $(date +%T), postqueue -f"
postqueue -c "$PFBMX_DIR/conf" -f
watch_sink "$T0" 600 600
report "Postfix + postqueue -f" "$Q" "$QT" 600
PF_RATE=$RATE
[ "$GOT" -ge "$MSGS" ] || FAIL=1
pfbmx_stop
world_kill "$SINK_PID"
rm -rf "$SINK_DIR"	# run 3 uses the same address and port, hence the same dump dir

# --- 3. Postfix, default settings, no flush -------------------------------
if [ "$CAP" -gt 0 ]; then
	P=25
	drain_pf_start pf.default || { echo "postfix did not start" >&2; exit 1; }
	QT=$(drain_queue "$P")
	Q=$(drain_pf_wait_deferred)
	grep -m1 'status=deferred' "$PFBMX_DIR/maillog" |
		sed 's/^/# postfix (default run) deferred: /'
	sink_start 127.0.0.2 "$P"
	T0=$(date +%s.%N)
	echo "# primary up at $(date +%T), no flush"
	watch_sink "$T0" "$CAP" "$CAP"
	report "Postfix default settings" "$Q" "$QT" "$CAP"
	pfbmx_stop
	world_kill "$SINK_PID"
fi

echo
awk -v f="$BMX_FIRST" -v b="$BMX_RATE" -v p="$PF_RATE" 'BEGIN {
	printf "backupmxd first delivery: %s s (target <= probe_interval + 1 = 3 s: %s)\n", f,
		(f != "" && f <= 3) ? "met" : "MISSED"
	if (b != "" && p != "" && p > 0)
		printf "drain rate backupmxd / Postfix after postqueue -f: %.2fx (target >= 3x: %s)\n",
			b / p, (b / p >= 3) ? "met" : "MISSED"
	else
		print "drain rate ratio: not available (a run did not drain)"
}'
exit $FAIL
