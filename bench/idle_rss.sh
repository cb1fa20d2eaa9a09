#!/bin/bash
# idle_rss.sh - memory of backupmxd holding 1,000 idle SMTP connections
# (issue 3 target: under 32 MiB in total), and, for comparison, the memory
# Postfix spends per smtpd session.
#
#   bench/idle_rss.sh [BUILD_DIR] [CONNECTIONS] [POSTFIX_SESSIONS]
#                                            (default: build 1000 100; 0 = skip Postfix)
#
# Runs in its own network namespace (re-executes itself under `unshare -n`,
# needs root), with the test world of tests/lib/world.sh.  backupmxd
# (release build, log_level info, unbound on 127.0.0.1 answering PTR
# queries, max_connections 1100) listens on 127.0.0.3; bench/lib/holdconns.py
# opens CONNECTIONS connections from 127.0.1.1-250, reads each 220 banner
# and holds them.  Before and after, the script reads VmRSS, RssAnon and
# VmHWM from /proc/PID/status and Pss from /proc/PID/smaps_rollup.
# Postfix (bench/lib/postfix_backupmx.sh) gets POSTFIX_SESSIONS connections
# (its default process limit is 100); the script sums the Pss and the
# private memory of the smtpd processes of that instance.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
NCONN=${2:-1000}
NPF=${3:-100}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "$NCONN" "$NPF"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD
. "$ROOT/tests/lib/world.sh"
. "$ROOT/tests/lib/bmxd.sh"
. "$ROOT/bench/lib/postfix_backupmx.sh"
world_init
trap 'pfbmx_stop; world_cleanup' EXIT
ulimit -n 8192
[ -x "$BUILD/backupmxd" ] || { echo "no $BUILD/backupmxd: run make first" >&2; exit 1; }
PY=/usr/bin/python3
ADDR=127.0.0.3
FAIL=0

# Print "VmRSS RssAnon VmHWM Pss" of PID in KiB.
mem_of()
{
	local pid=$1
	awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } /^VmHWM:/ { h = $2 }
		END { printf "%d %d %d ", r, a, h }' "/proc/$pid/status"
	awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup"
}

# Open N idle connections to PORT (in the background); wait for "ready".
hold_start()
{
	local port=$1 n=$2 i
	world_bg "$PY" "$ROOT/bench/lib/holdconns.py" "$ADDR" "$port" "$n" --spread
	HOLD_PID=$BG_PID
	HOLD_LOG=$BG_LOG
	for i in $(seq 600); do
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

# example.test MX 10 mx1 (127.0.0.2), MX 20 mx2 (127.0.0.3), plus reverse zone
bmxd_world_dns <<'EOF'
local-zone: "127.in-addr.arpa." static
local-data: "127.in-addr.arpa. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
EOF
BP=$(world_free_port)
SPOOL=$W/bmxspool
chmod 755 "$W"
cat > "$W/bmx.conf" <<EOF
hostname = mx2.example.test
listen = $ADDR:$BP
spool = $SPOOL
relay_domains = example.test
resolver = $RESOLVER
control_socket = $SPOOL/control.sock
log_level = info
max_connections = 1100
max_connections_per_ip = 1100
user = nobody
EOF
"$BUILD/backupmxd" -c "$W/bmx.conf" >"$W/backupmxd.log" 2>&1 &
BMXD_PID=$!
world_track "$BMXD_PID"
world_wait_port "$ADDR" "$BP" 10 || { echo "backupmxd did not start" >&2; exit 1; }
sleep 0.5
read -r R0 A0 H0 P0 < <(mem_of "$BMXD_PID")
hold_start "$BP" "$NCONN" || exit 1
sleep 1
read -r R1 A1 H1 P1 < <(mem_of "$BMXD_PID")
SESS=$(ls "/proc/$BMXD_PID/fd" | wc -l)
echo "backupmxd, idle:                VmRSS $R0 KiB, RssAnon $A0 KiB, Pss $P0 KiB"
echo "backupmxd, $NCONN connections: VmRSS $R1 KiB, RssAnon $A1 KiB, Pss $P1 KiB," \
	"VmHWM $H1 KiB ($SESS open fds)"
awk -v r="$R1" -v a0="$A0" -v a1="$A1" -v n="$NCONN" 'BEGIN {
	printf "backupmxd total:                %.1f MiB VmRSS (target < 32 MiB: %s)\n",
		r / 1024, (r < 32 * 1024) ? "met" : "MISSED"
	printf "backupmxd per connection:       %.1f KiB (RssAnon growth / connections)\n",
		(a1 - a0) / n
}'
[ "$R1" -lt $((32 * 1024)) ] || FAIL=1
world_kill "$HOLD_PID"
kill -TERM "$BMXD_PID"; wait "$BMXD_PID" 2>/dev/null

if [ "$NPF" -gt 0 ]; then
	P=$(world_free_port)
	pfbmx_start "$ADDR" "$P" example.test || exit 1
	MPID=$(sed -n '1s/ //gp' "$PFBMX_QUEUE/pid/master.pid")
	hold_start "$P" "$NPF" || exit 1
	sleep 1
	# smtpd children of this instance's master: Pss and private (clean + dirty) memory
	read -r NS PSS PRIV < <(for c in $(pgrep -P "$MPID" -x smtpd); do
		awk '/^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { v += $2 }
			END { print p, v }' "/proc/$c/smaps_rollup" 2>/dev/null
	done | awk '{ n++; p += $1; v += $2 } END { print n + 0, p + 0, v + 0 }')
	echo "postfix, $NPF connections:      $NS smtpd processes, Pss $PSS KiB, private $PRIV KiB"
	awk -v n="$NS" -v p="$PSS" -v v="$PRIV" 'BEGIN {
		if (n > 0) printf "postfix per session:            %.0f KiB Pss, %.0f KiB private\n", p / n, v / n
	}'
	world_kill "$HOLD_PID"
	pfbmx_stop
fi
exit $FAIL
