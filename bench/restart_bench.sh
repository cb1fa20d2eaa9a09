#!/bin/bash
# restart_bench.sh - how soon backupmxd serves, and delivers, after a restart
# with a large queue (issue 17: "restart-to-listen and restart-to-first-
# delivery at 1,000,000").
#
#   bench/restart_bench.sh [BUILD_DIR] [MESSAGES...]      (default: build 100000)
#   OLD_BUILD=DIR bench/restart_bench.sh ...   also time the build in DIR on
#                                              the same spool (before/after)
#
# For each MESSAGES count, in a fresh world (own network namespace: it
# re-executes itself under `unshare -n`, so it needs root):
#   1. bench/lib/spoolgen.py writes MESSAGES queue files of 1 KiB to
#      r@example.test straight into the spool (no SMTP);
#   2. unbound serves example.test MX 10 mx1 (127.0.0.2), MX 20 mx2
#      (127.0.0.3); smtp-sink (-d dump dir) is the primary on 127.0.0.2;
#      backupmxd (log_level = info, primary_up = queue) listens on 127.0.0.3;
#   3. for each build (OLD_BUILD first, if given): start backupmxd at T0 and
#      at once try to connect every 2 ms; "listen" = the 220 greeting is
#      read, "first" = the first message lands in the sink; then SIGKILL.
#      The new build then runs once more until "spool: recovery done" is
#      logged (with the primary up, so deliveries go on meanwhile); during
#      that recovery bench/lib/smtplat.py sends 100 messages of 1 KiB, one
#      per connection, one after another: the time from connect to the
#      reply to the final dot (median, p99, max); and 100 more once it is
#      done, for comparison (deliveries still going on).
# The spool shrinks by the messages delivered before the kill; each run
# prints how many the spool held when it started.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100000)
[ -n "${OLD_BUILD:-}" ] && OLD_BUILD=$(realpath -m "$OLD_BUILD")
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n env BMX_BENCH_NS=1 OLD_BUILD="${OLD_BUILD:-}" \
		bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$BUILD" "${SIZES[@]}"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD

# Start $1/backupmxd now; print "listen_s first_s" (first: the sink's first
# file), or "- -" on a timeout.  Leaves the daemon's PID in $W/pid.
time_start()
{
	"$WORLD_PY" - "$1/backupmxd" "$W/bmx.conf" "$W/backupmxd.log" "$BMX_PORT" "$SINK_DIR" \
		"$W/pid" <<'PY'
import os, socket, subprocess, sys, time
bmxd, conf, log, port, sink, pidf = sys.argv[1:]
t0 = time.monotonic()
p = subprocess.Popen([bmxd, "-c", conf], stdout=open(log, "ab"), stderr=subprocess.STDOUT)
open(pidf, "w").write(str(p.pid))
listen = first = None
while listen is None and time.monotonic() - t0 < 600:
    try:
        s = socket.create_connection(("127.0.0.3", int(port)), timeout=600)
        if s.recv(512).startswith(b"220"):
            listen = time.monotonic() - t0
        s.close()
    except OSError:
        time.sleep(0.002)
while first is None and time.monotonic() - t0 < 600:
    if any(e.is_file() for e in os.scandir(sink)):
        first = time.monotonic() - t0
    else:
        time.sleep(0.005)
f = lambda v: "-" if v is None else "%.3f" % v
print(f(listen), f(first))
PY
}

# Is process $1 gone?
gone() { ! kill -0 "$1" 2>/dev/null; }

# Has the log more than $1 "recovery done" lines, or is process $2 gone?
recovered() { [ "$(grep -c 'spool: recovery done' "$W/backupmxd.log")" -gt "$1" ] || gone "$2"; }

# 100 messages of 1 KiB over SMTP, one per connection; prints their count and
# latency (connect to the reply to the dot): median, p99, max.
smtp_lat()
{
	"$WORLD_PY" "$ROOT/bench/lib/smtplat.py" --size 1024 127.0.0.3 "$BMX_PORT" 100 \
		2>"$W/lat.err" | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf \
		"%d sent, median %.1f ms, p99 %.1f ms, max %.1f ms", NR, v[int(NR / 2) + 1] * 1000,
		v[int(NR * 0.99 + 0.999)] * 1000, v[NR] * 1000 }'
}

# One build ($2: old|new) on the spool in $W/spool; prints one result line.
run_build()
{
	local build=$1 what=$2 held res pid
	held=$(ls "$BMX_SPOOL/queue" | wc -l)
	rm -f "$SINK_DIR"/* "$BMX_SPOOL/control.sock"
	res=$(time_start "$build")
	pid=$(cat "$W/pid")
	kill -KILL "$pid" 2>/dev/null
	world_wait_until 30 gone "$pid"
	printf '%-4s queued %8d  listen %7s s  first delivery %7s s\n' "$what" "$held" $res
}

# One count ($1 messages): fresh world, spool, peers; prints result lines.
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
	local owner=() t0
	[ "$(id -u)" = 0 ] && owner=(--owner nobody)
	t0=$SECONDS
	"$WORLD_PY" "$ROOT/bench/lib/spoolgen.py" --spool "$BMX_SPOOL" --count "$n" \
		"${owner[@]}" >/dev/null || { echo "spoolgen failed"; exit 1; }
	echo "# $n queue files written in $((SECONDS - t0)) s"
	world_sink_start 127.0.0.2 "$BMX_PORT"
	if [ -n "${OLD_BUILD:-}" ]; then
		run_build "$OLD_BUILD" old
		grep 'message(s) queued' "$W/backupmxd.log" | tail -1 | sed 's/^/#   /'
	fi
	run_build "$BUILD" new
	# the whole recovery, with deliveries going on, until "recovery done"
	rm -f "$SINK_DIR"/* "$BMX_SPOOL/control.sock"
	local done0 pid held
	held=$(ls "$BMX_SPOOL/queue" | wc -l)
	done0=$(grep -c 'spool: recovery done' "$W/backupmxd.log")
	"$BUILD/backupmxd" -c "$W/bmx.conf" >>"$W/backupmxd.log" 2>&1 &
	pid=$!
	# SMTP while recovering: 100 messages one at a time, each on a new
	# connection (bench/lib/smtplat.py: connect to the reply to the dot)
	world_wait_port 127.0.0.3 "$BMX_PORT" 10
	local lat lat2 ndone
	lat=$(smtp_lat)
	ndone=$(grep -c 'spool: recovery done' "$W/backupmxd.log")
	world_wait_until 900 recovered "$done0" "$pid"
	lat2=$(smtp_lat)
	echo "#   new, $held queued: $(grep 'spool: recovery done' "$W/backupmxd.log" | tail -1 |
		sed 's/.*spool: //')," \
		"$(world_sink_count) delivered meanwhile, RSS $(awk '/VmHWM/ {print $2 " kB"}' \
		"/proc/$pid/status")"
	echo "#   SMTP during recovery: $lat$([ "$ndone" -gt "$done0" ] && echo ' (recovery ended first!)')"
	echo "#   SMTP after recovery:  $lat2"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
	)
}

echo "# restart_bench: $(nproc) CPUs, $(uname -r), build $BUILD${OLD_BUILD:+, old $OLD_BUILD}"
for n in "${SIZES[@]}"; do
	run_one "$n"
done
