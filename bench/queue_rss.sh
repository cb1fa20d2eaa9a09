#!/bin/bash
# queue_rss.sh - memory per queued message (issue 17: "RSS per queued
# message at 10,000, 100,000 and 1,000,000 queued (1 KiB messages)").
#
#   bench/queue_rss.sh [BUILD_DIR] [MESSAGES...]   (default: build 10000 100000)
#   OLD_BUILD=DIR bench/queue_rss.sh ...           also the build in DIR, on the
#                                                  same spool (before/after)
#
# In its own network namespace (it re-executes itself under `unshare -n`, so
# it needs root), for each MESSAGES count in a fresh world:
#   1. unbound serves example.test MX 10 mx1 (127.0.0.2, where nothing
#      listens: the primary is down), MX 20 mx2 (127.0.0.3, backupmxd);
#   2. each build first starts on an empty spool: its VmRSS once it serves
#      is the base;
#   3. bench/lib/spoolgen.py writes MESSAGES queue files of 1 KiB to
#      r@example.test into the spool;
#   4. each build starts on that spool; once "spool: recovery done" is
#      logged and a probe has failed, VmRSS and VmHWM are read from
#      /proc/PID/status; then SIGKILL (the spool stays for the next build).
# Prints per build: base, RSS, peak, and (RSS - base) / MESSAGES in bytes.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)
[ -n "${OLD_BUILD:-}" ] && OLD_BUILD=$(realpath -m "$OLD_BUILD")
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n env BMX_BENCH_NS=1 OLD_BUILD="${OLD_BUILD:-}" \
		bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$BUILD" "${SIZES[@]}"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD

# A field (kB) of /proc/$1/status.
kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Has the log more than $1 "recovery done" lines, or is process $2 gone?
recovered() { [ "$(grep -c 'spool: recovery done' "$W/backupmxd.log")" -gt "$1" ] ||
	! kill -0 "$2" 2>/dev/null; }

# Start build $1 on the spool, wait for recovery; prints "RSS_kB HWM_kB".
measure()
{
	local done0 pid
	rm -f "$BMX_SPOOL/control.sock"
	done0=$(grep -c 'spool: recovery done' "$W/backupmxd.log" 2>/dev/null || echo 0)
	"$1/backupmxd" -c "$W/bmx.conf" >>"$W/backupmxd.log" 2>&1 &
	pid=$!
	world_wait_port 127.0.0.3 "$BMX_PORT" 30 || { echo "- -"; return; }
	world_wait_until 900 recovered "$done0" "$pid"
	sleep 3   # a probe of the dead primary, the first deferrals
	echo "$(kb "$pid" VmRSS) $(kb "$pid" VmHWM)"
	kill -KILL "$pid" 2>/dev/null
	world_wait_until 30 eval "! kill -0 $pid 2>/dev/null"
}

# One count ($1 messages): fresh world, spool; prints result lines.
run_one()
{
	local n=$1
	(
	. "$ROOT/tests/lib/world.sh"
	. "$ROOT/tests/lib/bmxd.sh"
	world_init
	BMX_PORT=$(world_free_port)
	bmxd_world_dns </dev/null
	bmxd_relay_config <<<"primary_up = queue"
	sed -i 's/^log_level = debug/log_level = info/' "$W/bmx.conf"
	local builds=() names=() base=() i owner=() t0
	[ -n "${OLD_BUILD:-}" ] && { builds+=("$OLD_BUILD"); names+=(old); }
	builds+=("$BUILD"); names+=(new)
	for i in "${!builds[@]}"; do
		set -- $(measure "${builds[$i]}")
		base[$i]=$1
	done
	[ "$(id -u)" = 0 ] && owner=(--owner nobody)
	t0=$SECONDS
	"$WORLD_PY" "$ROOT/bench/lib/spoolgen.py" --spool "$BMX_SPOOL" --count "$n" \
		"${owner[@]}" >/dev/null || { echo "spoolgen failed"; exit 1; }
	echo "# $n queue files written in $((SECONDS - t0)) s"
	for i in "${!builds[@]}"; do
		set -- $(measure "${builds[$i]}")
		awk -v w="${names[$i]}" -v n="$n" -v b="${base[$i]}" -v r="$1" -v h="$2" \
			'BEGIN { printf "%-4s queued %8d  base %7.1f MiB  rss %8.1f MiB  peak %8.1f MiB  per message %6.0f B\n",
				w, n, b / 1024, r / 1024, h / 1024, (r - b) * 1024 / n }'
	done
	grep -c 'recovery done' "$W/backupmxd.log" | sed 's/^/#   recoveries: /'
	world_cleanup
	)
}

for n in "${SIZES[@]}"; do
	run_one "$n"
done
