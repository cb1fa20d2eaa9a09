#!/bin/bash
# table_load.sh - how long backupmxd takes to load big tables, and the
# memory they cost (issue 17 target: 100,000 domains and 1,000,000
# recipients in <= 2 s and <= 150 MiB more RSS).
#
#   bench/table_load.sh [BUILD_DIR] [RUNS]      (default: build 3)
#
# For 1,000, 10,000 and 100,000 domains (relay_domains = file:domains, one
# domain a line) with ten recipients each (recipients = file:rcpts), and
# once more with 100,000 routes and TLS policies besides (route_maps,
# tls_policy_maps), it measures:
#   - `backupmxd -n`: wall time and peak RSS (GNU time), the best of RUNS;
#     -n reads every table once, as the daemon does at start (and checks
#     the rest: user, bind, ...);
#   - a started daemon (in its own network namespace, on 127.0.0.3): the
#     time until its port accepts, and VmRSS / VmHWM once it serves.
# Every figure is also given as the difference to a baseline config with
# one inline domain and no recipients.  Last, bench/table_lookup.c (built
# here against BUILD_DIR/libbackupmx.a) times the loads apart and one
# lookup of each kind.  Needs root (unshare -n, user nobody).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
RUNS=${2:-3}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "$RUNS"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD
. "$ROOT/tests/lib/world.sh"
world_init
trap 'world_cleanup' EXIT
BMXD=$BUILD/backupmxd
[ -x "$BMXD" ] || { echo "no $BMXD: run make first" >&2; exit 1; }
chmod 755 "$W"
PORT=$(world_free_port)

# conf NAME EXTRA-LINES: write $W/NAME.conf.
conf()
{
	mkdir -p "$W/spool"
	{
		echo "hostname = mx2.example.test"
		echo "listen = 127.0.0.3:$PORT"
		echo "spool = $W/spool"
		echo "resolver = 127.0.0.1@9"
		echo "user = nobody"
		printf '%s\n' "$2"
	} > "$W/$1.conf"
}

# tables N: $W/dN (N domains), $W/rN (10 N recipients), $W/routesN, $W/tlsN.
tables()
{
	local n=$1
	[ -f "$W/d$n" ] && return
	awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "d%d.hosted.example\n", i }' > "$W/d$n"
	awk -v n="$n" 'BEGIN { for (i = 0; i < 10 * n; i++)
		printf "user%d@d%d.hosted.example\n", i, i % n }' > "$W/r$n"
	awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
		printf "d%d.hosted.example [192.0.%d.%d]:25, mx%d.hosted.example\n", i, i / 250 % 250, i % 250, i }' \
		> "$W/routes$n"
	awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "d%d.hosted.example verify\n", i }' \
		> "$W/tls$n"
	chmod 644 "$W/d$n" "$W/r$n" "$W/routes$n" "$W/tls$n"
}

# check NAME: "seconds KiB" of the best backupmxd -n run (smallest time, its RSS).
check()
{
	local i best="" t
	for i in $(seq "$RUNS"); do
		/usr/bin/time -f '%e %M' -o "$W/time" "$BMXD" -n -c "$W/$1.conf" >/dev/null 2>"$W/err" ||
			{ cat "$W/err" >&2; exit 1; }
		t=$(cat "$W/time")
		if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { split(a, x, " "); split(b, y, " ");
			exit !(x[1] < y[1]) }'; then best=$t; fi
	done
	echo "$best"
}

# start NAME: "seconds VmRSS VmHWM" of a daemon (KiB), stopped again.
start()
{
	local t0 t1 pid rss hwm
	t0=$(date +%s.%N)
	"$BMXD" -c "$W/$1.conf" >"$W/$1.log" 2>&1 &
	pid=$!
	world_track "$pid"
	until (exec 3<>"/dev/tcp/127.0.0.3/$PORT") 2>/dev/null; do
		world_alive "$pid" || { cat "$W/$1.log" >&2; exit 1; }
		sleep 0.01
	done
	t1=$(date +%s.%N)
	sleep 0.3
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null
	awk -v a="$t0" -v b="$t1" -v r="$rss" -v h="$hwm" 'BEGIN { printf "%.2f %d %d\n", b - a, r, h }'
}

echo "# machine: $(nproc) CPUs, $(uname -sr), $(awk '/MemTotal/ { print $2 " KiB RAM" }' /proc/meminfo), load average $(cut -d" " -f1-3 /proc/loadavg)"
conf base "relay_domains = example.test"
read -r _ BM < <(check base)
read -r _ BSR _ < <(start base)
printf '%-34s %8s %9s %9s | %8s %9s %9s\n' "tables" "-n s" "-n MiB" "+MiB" "start s" \
	"RSS MiB" "+MiB"
row()
{
	local label=$1 name=$2 t m st sr
	read -r t m < <(check "$name")
	read -r st sr _ < <(start "$name")
	awk -v l="$label" -v t="$t" -v m="$m" -v bm="$BM" -v st="$st" -v sr="$sr" -v bsr="$BSR" \
		'BEGIN { printf "%-34s %8.2f %9.1f %9.1f | %8.2f %9.1f %9.1f\n", l, t, m / 1024,
			(m - bm) / 1024, st, sr / 1024, (sr - bsr) / 1024 }'
	LAST_T=$t LAST_M=$((m - BM)) LAST_R=$((sr - BSR))
}
row "baseline (1 inline domain)" base
for n in 1000 10000 100000; do
	tables "$n"
	conf "t$n" "relay_domains = file:d$n
recipients = file:r$n"
	row "$n domains, $((10 * n)) recipients" "t$n"
done
FAIL=0
awk -v t="$LAST_T" -v m="$LAST_M" -v r="$LAST_R" 'BEGIN {
	ok = t <= 2 && m <= 150 * 1024 && r <= 150 * 1024
	printf "target (100,000 domains, 1,000,000 recipients: <= 2 s, <= 150 MiB more): %s\n",
		ok ? "met" : "MISSED"; exit !ok }' || FAIL=1
conf "rules" "relay_domains = file:d100000
recipients = file:r100000
route_maps = file:routes100000
tls_policy_maps = file:tls100000"
row "same + 100000 routes, tls policies" rules

# in-process: load times apart, and the cost of one lookup (bench/table_lookup.c)
PKGS="libevent libevent_openssl openssl libunbound libidn2 libpsl"
# shellcheck disable=SC2046,SC2086
cc -O2 -D_GNU_SOURCE -I"$ROOT/src" -o "$W/table_lookup" "$ROOT/bench/table_lookup.c" \
	"$BUILD/libbackupmx.a" $(pkg-config --libs $PKGS) -lm || exit 1
echo "# in-process, 100000 domains, 1000000 recipients, 100000 routes (bench/table_lookup.c;"
echo "# a lookup's time includes formatting its name with snprintf)"
"$W/table_lookup" "$W/rules.conf" 100000 || FAIL=1
exit $FAIL
