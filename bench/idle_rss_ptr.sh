#!/bin/bash
# idle_rss_ptr.sh - memory of backupmxd holding 1,000 idle SMTP connections
# from 1,000 distinct client addresses whose reverse lookups are never
# answered (issue 17 target: under 32 MiB VmRSS), beside the answered cases.
#
#   bench/idle_rss_ptr.sh [BUILD_DIR] [CONNECTIONS] [CASES]
#                          (default: build 1000 "answered250 answered dropped")
#
# Runs in its own network namespace (re-executes itself under `unshare -n`,
# needs root), with the test world of tests/lib/world.sh.  Each case starts
# a fresh backupmxd (release build, log_level info, max_connections 1100)
# on 127.0.0.3; bench/lib/holdconns.py opens CONNECTIONS connections, reads
# each 220 banner and holds them.  Cases:
#   answered250  from 127.0.1.1-250 (--spread), PTR answered (NXDOMAIN) by unbound
#   answered     each from its own address 127.1.X.Y (--distinct), PTR answered
#   dropped      each from its own address, every in-addr.arpa query dropped by
#                tests/lib/dnsdelay.py (--drop-suffix in-addr.arpa): never answered
# The script prints VmRSS, RssAnon and VmHWM from /proc/PID/status when the
# daemon is idle, 1 s after the last banner, and again 12 s later (after the
# daemon's 10 s DNS timeout), plus the "reverse lookup skipped" warnings
# (DNS_PTR_INFLIGHT_MAX reached; at most one a minute).
# Exit 1 if a case ends at or above 32 MiB VmRSS.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
NCONN=${2:-1000}
CASES=${3:-answered250 answered dropped}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "$NCONN" "$CASES"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD
. "$ROOT/tests/lib/world.sh"
. "$ROOT/tests/lib/bmxd.sh"
world_init
ulimit -n 8192
[ -x "$BUILD/backupmxd" ] || { echo "no $BUILD/backupmxd: run make first" >&2; exit 1; }
PY=/usr/bin/python3
ADDR=127.0.0.3
FAIL=0

# Print "VmRSS RssAnon VmHWM" of PID in KiB.
mem_of()
{
	awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } /^VmHWM:/ { h = $2 }
		END { printf "%d %d %d\n", r, a, h }' "/proc/$1/status"
}

# Open N idle connections to PORT with holdconns.py option OPT; wait for "ready".
hold_start()
{
	local port=$1 n=$2 opt=$3 i
	world_bg "$PY" "$ROOT/bench/lib/holdconns.py" "$ADDR" "$port" "$n" "$opt"
	HOLD_PID=$BG_PID
	HOLD_LOG=$BG_LOG
	for i in $(seq 1200); do
		grep -q '^ready' "$HOLD_LOG" 2>/dev/null && return 0
		world_alive "$HOLD_PID" || break
		sleep 0.1
	done
	echo "holdconns.py did not get $n banners:" >&2
	tail -3 "$HOLD_LOG" >&2
	return 1
}

RAM=$(awk '/MemTotal/ { print $2 " KiB RAM" }' /proc/meminfo)
echo "# machine: $(nproc) CPUs, $(uname -sr), $RAM"
bmxd_world_dns <<'EOF'
local-zone: "127.in-addr.arpa." static
local-data: "127.in-addr.arpa. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
EOF
DIRECT=$RESOLVER
DD=$(world_free_port)
world_bg "$PY" "$ROOT/tests/lib/dnsdelay.py" --listen "127.0.0.1:$DD" \
	--upstream "127.0.0.1:$DNS_PORT" --ptr-delay-ms 0 --drop-suffix in-addr.arpa
world_wait_until 5 grep -q listening "$BG_LOG" || { echo "dnsdelay did not start" >&2; exit 1; }
chmod 755 "$W"

for CASE in $CASES; do
	case $CASE in
	answered250) RES=$DIRECT; OPT=--spread ;;
	answered) RES=$DIRECT; OPT=--distinct ;;
	dropped) RES=127.0.0.1@$DD; OPT=--distinct ;;
	*) echo "unknown case $CASE" >&2; exit 2 ;;
	esac
	BP=$(world_free_port)
	SPOOL=$W/spool.$CASE
	LOG=$W/backupmxd.$CASE.log
	cat > "$W/bmx.$CASE.conf" <<EOF
hostname = mx2.example.test
listen = $ADDR:$BP
spool = $SPOOL
relay_domains = example.test
resolver = $RES
control_socket = $SPOOL/control.sock
log_level = info
max_connections = 1100
max_connections_per_ip = 1100
user = nobody
EOF
	"$BUILD/backupmxd" -c "$W/bmx.$CASE.conf" >"$LOG" 2>&1 &
	BMXD_PID=$!
	world_track "$BMXD_PID"
	world_wait_port "$ADDR" "$BP" 10 || { echo "backupmxd did not start" >&2; exit 1; }
	sleep 0.5
	read -r R0 A0 H0 < <(mem_of "$BMXD_PID")
	T0=$(date +%s.%N)
	hold_start "$BP" "$NCONN" "$OPT" || exit 1
	T1=$(date +%s.%N)
	sleep 1
	read -r R1 A1 H1 < <(mem_of "$BMXD_PID")
	sleep 12
	read -r R2 A2 H2 < <(mem_of "$BMXD_PID")
	echo "== $CASE: $NCONN connections ($OPT), resolver $RES"
	awk -v t0="$T0" -v t1="$T1" -v n="$NCONN" \
		'BEGIN { printf "  %d banners in %.2f s\n", n, t1 - t0 }'
	echo "  idle:            VmRSS $R0 KiB, RssAnon $A0 KiB"
	echo "  held, +1 s:      VmRSS $R1 KiB, RssAnon $A1 KiB"
	echo "  held, +13 s:     VmRSS $R2 KiB, RssAnon $A2 KiB, VmHWM $H2 KiB"
	echo "  log: $(grep -c 'reverse lookup skipped' "$LOG") \"reverse lookup skipped\"" \
		"warnings; $(grep -c 'connect from' "$LOG") connects"
	grep 'reverse lookup skipped' "$LOG" | head -2 | sed 's/^/    /'
	awk -v r="$H2" 'BEGIN { printf "  peak %.1f MiB VmHWM (target < 32 MiB: %s)\n",
		r / 1024, (r < 32 * 1024) ? "met" : "MISSED" }'
	[ "$H2" -lt $((32 * 1024)) ] || FAIL=1
	world_kill "$HOLD_PID"
	kill -TERM "$BMXD_PID"; wait "$BMXD_PID" 2>/dev/null
done
exit $FAIL
