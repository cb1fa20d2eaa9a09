#!/bin/bash
# accept_bench.sh - messages per second backupmxd accepts (fsync on), beside
# Postfix set up as a backup MX and beside smtp-sink with no disk at all.
#
#   bench/accept_bench.sh [BUILD_DIR] [MESSAGES] [SESSIONS]   (default: build 20000 20)
#
# Runs in its own network and mount namespaces (it re-executes itself under
# `unshare -n -m`, so it needs root), with the test world of
# tests/lib/world.sh.  The load is always the same smtp-source command, one
# message of 4096 bytes per connection (smtp-source's default), one
# recipient each:
#
#   smtp-source -s SESSIONS -m MESSAGES -l 4096 -f s@client.test -t r@example.test ADDR:PORT
#
# against, one after another in the same run:
#   1. smtp-sink, no disk (the ceiling): smtp-sink -u postfix 127.0.0.3:PORT 256
#   2. Postfix as a backup MX (bench/lib/postfix_backupmx.sh): its own
#      instance, relay_domains = example.test, delivery deferred, so mail queues
#   3. backupmxd (BUILD_DIR/backupmxd), example.test on hold (backupmx hold),
#      log_level info, unbound on 127.0.0.1 answering the PTR lookups.
# Postfix's queue and backupmxd's spool are on the same file system:
#   BMX_BENCH_FS=loop (default): a fresh 4 GiB ext4 loop-mounted for this run
#     and formatted like the file system that holds the temp dir (on this
#     machine: ext4 without a journal, as its root), so that earlier runs'
#     deleted files (ext4 without a journal skips inodes freed in the last
#     60-360 s at every create, which made back-to-back runs vary 1.8x) and other
#     processes' dirty data do not leak into the numbers;
#   BMX_BENCH_FS=loop-journal: the same with mkfs.ext4 defaults (a journal);
#   BMX_BENCH_FS=root: the temp dir itself.
# Each rate is MESSAGES / wall time of smtp-source; the script checks that
# every message was queued.  Prints the rates, the ratios and the targets
# (issue 3: backupmxd >= 5x Postfix and >= 0.5x smtp-sink); exit 1 if a run
# failed (not if a target is missed).
# Each run starts after `sync` and 6 s of rest (settle()), and also prints how
# busy the CPUs were during it (from /proc/stat).
# BMX_BENCH_KEEPLOG=FILE keeps a copy of backupmxd's log.
# BMX_BENCH_PROFILE="CMD ARGS" attaches "CMD ARGS -p PID" to backupmxd for its
# run (perf record -g -o FILE, strace -c -f -o FILE) and stops it with SIGINT.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
MSGS=${2:-20000}
SESS=${3:-20}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n -m env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "$MSGS" "$SESS"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD
. "$ROOT/tests/lib/world.sh"
. "$ROOT/tests/lib/bmxd.sh"
. "$ROOT/bench/lib/postfix_backupmx.sh"
world_init
FS=${BMX_BENCH_FS:-loop}
D=$W
trap 'pfbmx_stop; [ "$FS" != root ] && umount "$D" 2>/dev/null; world_cleanup' EXIT
case $FS in
loop | loop-journal | root) ;;
*) echo "BMX_BENCH_FS must be loop, loop-journal or root" >&2; exit 1 ;;
esac
if [ "$FS" != root ]; then
	# a fresh ext4 for Postfix's queue and the spool
	MKFS_OPT=
	if [ "$FS" = loop ]; then
		# like the temp dir's own file system: without a journal if it has none
		SRC=$(findmnt -no SOURCE -T "$W" 2>/dev/null)
		if [ "$(findmnt -no FSTYPE -T "$W" 2>/dev/null)" = ext4 ] && [ -b "$SRC" ] &&
			! dumpe2fs -h "$SRC" 2>/dev/null | grep -q has_journal; then
			MKFS_OPT="-O ^has_journal"
		fi
	fi
	D=$W/fs
	mkdir -p "$D"
	truncate -s 4G "$W/fs.img"
	# shellcheck disable=SC2086
	mkfs.ext4 -q -F $MKFS_OPT "$W/fs.img" || { echo "mkfs.ext4 failed" >&2; exit 1; }
	mount -o loop "$W/fs.img" "$D" || { echo "mount -o loop failed" >&2; exit 1; }
	chmod 755 "$D"
fi

[ -x "$BUILD/backupmxd" ] || { echo "no $BUILD/backupmxd: run make first" >&2; exit 1; }
# Before each run: write back what earlier runs left dirty and rest 6 s, so
# that no run pays for the one before it.  (On BMX_BENCH_FS=root this is not
# enough: ext4 without a journal skips, at every create, the inodes freed in
# the last 60 s, or 360 s once their inode table block is dirty again, so an
# earlier benchmark's deleted queues slow the creates; that is why the
# default is a fresh image.)
settle()
{
	sync
	sleep 6
}
ADDR=127.0.0.3
FAIL=0

# Time one smtp-source run against ADDR:PORT; prints the rate in msgs/s.
run_source()
{
	local port=$1 t0 t1 c0 c1
	c0=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
	t0=$(date +%s.%N)
	if ! smtp-source -s "$SESS" -m "$MSGS" -l 4096 -f s@client.test -t r@example.test \
		"$ADDR:$port" >"$W/source.$port.log" 2>&1; then
		echo "smtp-source against port $port failed:" >&2
		tail -5 "$W/source.$port.log" >&2
		FAIL=1
	fi
	t1=$(date +%s.%N)
	c1=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
	awk -v m="$MSGS" -v a="$t0" -v b="$t1" -v c0="$c0" -v c1="$c1" 'BEGIN {
		split(c0, x, " "); split(c1, y, " ")
		busy = y[1] - x[1]; idle = y[2] - x[2]
		printf "%.0f %.2f %.0f\n", m / (b - a), b - a, 100 * busy / (busy + idle)
	}'
}

CPU=$(awk '/model name/ { sub(/.*: /, ""); print; exit }' /proc/cpuinfo)
echo "# machine: $(nproc) CPUs, $(uname -sr), $CPU"
JOURNAL=$(dumpe2fs -h "$(findmnt -no SOURCE -T "$D")" 2>/dev/null | grep -q has_journal &&
	echo "with a journal" || echo "no journal")
echo "# spool and Postfix queue: $(df -T "$D" | awk 'NR==2 { print $2 " on " $1 }'), $JOURNAL ($FS)"
echo "# load:    smtp-source -s $SESS -m $MSGS -l 4096 -f s@client.test -t r@example.test" \
	"$ADDR:PORT"

# 1. smtp-sink, no disk
P=$(world_free_port)
world_bg smtp-sink -u postfix "$ADDR:$P" 256
SINKP=$BG_PID
world_wait_port "$ADDR" "$P" || { echo "smtp-sink did not start" >&2; exit 1; }
settle
read -r SINK_RATE SINK_T SINK_BUSY < <(run_source "$P")
world_kill "$SINKP"
echo "smtp-sink (no disk):  $SINK_RATE msgs/s  (${SINK_T}s, CPUs ${SINK_BUSY}% busy)"

# 2. Postfix as a backup MX
P=$(world_free_port)
PFBMX_BASE=$D pfbmx_start "$ADDR" "$P" example.test || exit 1
settle
read -r PF_RATE PF_T PF_BUSY < <(run_source "$P")
sleep 1
PF_N=$(pfbmx_queued)
pfbmx_stop
echo "postfix backup MX:    $PF_RATE msgs/s  (${PF_T}s, CPUs ${PF_BUSY}% busy, $PF_N queued)"
[ "$PF_N" -ge "$MSGS" ] || { echo "postfix queued only $PF_N of $MSGS" >&2; FAIL=1; }

# 3. backupmxd
# example.test MX 10 mx1 (127.0.0.2), MX 20 mx2 (127.0.0.3), plus reverse zone
bmxd_world_dns <<'EOF'
local-zone: "127.in-addr.arpa." static
local-data: "127.in-addr.arpa. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "1.0.0.127.in-addr.arpa. 3600 IN PTR client.test."
EOF
BP=$(world_free_port)
SPOOL=$D/bmxspool
chmod 755 "$W"
cat > "$W/bmx.conf" <<EOF
hostname = mx2.example.test
listen = $ADDR:$BP
spool = $SPOOL
relay_domains = example.test
resolver = $RESOLVER
control_socket = $SPOOL/control.sock
log_level = info
max_connections_per_ip = 1000
user = nobody
EOF
"$BUILD/backupmxd" -c "$W/bmx.conf" >"$W/backupmxd.log" 2>&1 &
BMXD_PID=$!
world_track "$BMXD_PID"
if ! world_wait_port "$ADDR" "$BP" 10; then
	echo "backupmxd did not start" >&2
	tail "$W/backupmxd.log" >&2
	exit 1
fi
for i in $(seq 50); do [ -S "$SPOOL/control.sock" ] && break; sleep 0.1; done
"$BUILD/backupmx" hold example.test --control "$SPOOL/control.sock" >/dev/null ||
	{ echo "backupmx hold failed" >&2; exit 1; }
if [ -n "${BMX_BENCH_PROFILE:-}" ]; then
	# e.g. BMX_BENCH_PROFILE="perf record -g -o /tmp/perf.data" or "strace -c -f -o /tmp/st"
	$BMX_BENCH_PROFILE -p "$BMXD_PID" >"$W/profile.log" 2>&1 &
	PROF_PID=$!
	sleep 1
fi
settle
read -r BMX_RATE BMX_T BMX_BUSY < <(run_source "$BP")
if [ -n "${PROF_PID:-}" ]; then
	kill -INT "$PROF_PID"; wait "$PROF_PID" 2>/dev/null
fi
BMX_N=$(find "$SPOOL/queue" -type f | wc -l)
BMX_CPU=$(awk -v hz="$(getconf CLK_TCK)" \
	'{ printf "%.2fs user, %.2fs system", $14 / hz, $15 / hz }' \
	"/proc/$BMXD_PID/stat")
kill -TERM "$BMXD_PID"; wait "$BMXD_PID" 2>/dev/null; [ -n "${BMX_BENCH_KEEPLOG:-}" ] && cp "$W/backupmxd.log" "$BMX_BENCH_KEEPLOG"
echo "backupmxd:            $BMX_RATE msgs/s  (${BMX_T}s, CPUs ${BMX_BUSY}% busy, $BMX_N queued; CPU $BMX_CPU)"
[ "$BMX_N" -ge "$MSGS" ] || { echo "backupmxd queued only $BMX_N of $MSGS" >&2; FAIL=1; }

awk -v b="$BMX_RATE" -v p="$PF_RATE" -v s="$SINK_RATE" 'BEGIN {
	printf "backupmxd / postfix:  %.2fx  (target >= 5x: %s)\n", b / p, (b / p >= 5) ? "met" : "MISSED"
	printf "backupmxd / sink:     %.2fx  (target >= 0.5x: %s)\n", b / s,
		(b / s >= 0.5) ? "met" : "MISSED"
}'
exit $FAIL
