#!/bin/bash
# reload_bench.sh - what a reload costs (issue 17): the wall time of
# `backupmx reload` (the daemon reads the config and every table again and
# switches) with 0, 10,000 and 100,000 relay domains in a table file (ten
# recipients each), and the daemon's VmRSS after RELOADS reloads, to show
# that old configurations are freed.  During a reload the loop serves nothing.
#
#   bench/reload_bench.sh [BUILD_DIR] [RELOADS]     (default: build 20)
#
# Needs root (unshare -n, user nobody).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
RELOADS=${2:-20}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "$RELOADS"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD
. "$ROOT/tests/lib/world.sh"
world_init
trap 'world_cleanup' EXIT
BMXD=$BUILD/backupmxd
BMX=$BUILD/backupmx
[ -x "$BMXD" ] || { echo "no $BMXD: run make first" >&2; exit 1; }
chmod 755 "$W"
PORT=$(world_free_port)

# The daemon's VmRSS in KiB.
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

printf '%-9s %12s %12s %14s %14s\n' domains "first_s" "median_s" "rss_before_kB" "rss_after_kB"
for n in 0 10000 100000; do
	d=$W/run.$n
	mkdir -p "$d/spool"
	: > "$d/domains"
	: > "$d/rcpts"
	for ((i = 0; i < n; i++)); do echo "d$i.example"; done > "$d/domains"
	awk '{ for (j = 0; j < 10; j++) print "u" j "@" $1 }' "$d/domains" > "$d/rcpts"
	chmod -R a+rX "$d"
	cat > "$d/bmx.conf" <<EOF
hostname = mx2.example.test
listen = 127.0.0.3:$PORT
spool = $d/spool
relay_domains = example.test, file:$d/domains
recipients = $d/rcpts
resolver = 127.0.0.1@9
control_socket = $d/spool/control.sock
user = nobody
EOF
	"$BMXD" -c "$d/bmx.conf" >"$d/log" 2>&1 &
	pid=$!
	world_track "$pid"
	world_wait_port 127.0.0.3 "$PORT" 60 || { cat "$d/log"; exit 1; }
	world_wait_until 60 test -S "$d/spool/control.sock"
	r0=$(rss "$pid")
	times=()
	for ((k = 0; k < RELOADS; k++)); do
		t0=$(date +%s.%N)
		"$BMX" reload --control "$d/spool/control.sock" >/dev/null || exit 1
		t1=$(date +%s.%N)
		times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
	done
	r1=$(rss "$pid")
	med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	printf '%-9s %12s %12s %14s %14s\n' "$n" "${times[0]}" "$med" "$r0" "$r1"
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null
	PORT=$(world_free_port)
done
