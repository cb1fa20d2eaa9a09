#!/bin/bash
# queue_bench.sh - listing and monitoring a big queue (issue 17).
#
#   bench/queue_bench.sh [BUILD_DIR] [MESSAGES]     (default: build 100000)
#   BASE_BUILD=DIR bench/queue_bench.sh ...          also the same full listing
#                                                    with the backupmx(d) in DIR
#   DOMAINS=N bench/queue_bench.sh ...               also N destinations: N/1000
#                                                    messages of 1000 recipients,
#                                                    u@dI.sub.example.test
#
# In its own network namespace (it re-executes itself under `unshare -n`, so
# it needs root):
#   1. backupmxd (log_level info, no DNS) holds example.test (routed to a dead
#      port): nothing is delivered.
#   2. smtp-source -s 20 -m MESSAGES -l 512 queues MESSAGES messages to
#      r@example.test, then 10 to r@x.sub.example.test (the tail of the queue,
#      the worst case for --domain).
#   3. Each command runs RUNS (5) times; the median wall time is printed, and
#      for the full listings the CLI's peak RSS (GNU time %M) and the
#      daemon's VmRSS before and after.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
N=${2:-100000}
RUNS=${RUNS:-5}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "$N"
fi
if [ -n "${DOMAINS:-}" ] && { [ "$DOMAINS" -lt 1000 ] || [ $((DOMAINS % 1000)) != 0 ]; }; then
	echo "DOMAINS: a multiple of 1000" >&2
	exit 3
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD
. "$ROOT/tests/lib/world.sh"
. "$ROOT/tests/lib/bmxd.sh"
world_init

HP=$(world_free_port)
DEAD=$(world_free_port)
bmxd_config <<EOD
status_listen = 127.0.0.3:$HP
route example.test = 127.0.0.2:$DEAD
route x.sub.example.test = 127.0.0.2:$DEAD
max_connections_per_ip = 100
EOD
sed -i 's/^log_level = debug/log_level = info/' "$W/bmx.conf"
bmxd_start || { echo "backupmxd did not start"; exit 1; }
CTL=(--control "$BMX_SPOOL/control.sock")
"$BMX" hold example.test "${CTL[@]}" >/dev/null
"$BMX" hold x.sub.example.test "${CTL[@]}" >/dev/null

t0=$SECONDS
smtp-source -s 20 -m "$N" -l 512 -f s@client.test -t r@example.test \
	127.0.0.3:"$BMX_PORT" >"$W/source.log" 2>&1 || { echo "smtp-source failed"; exit 1; }
smtp-source -s 1 -m 10 -l 512 -f s@client.test -t r@x.sub.example.test \
	127.0.0.3:"$BMX_PORT" >>"$W/source.log" 2>&1
if [ -n "${DOMAINS:-}" ]; then
	"$WORLD_PY" - 127.0.0.3 "$BMX_PORT" "$DOMAINS" <<'PY' || { echo "submission failed"; exit 1; }
import smtplib, sys
host, port, nd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = smtplib.SMTP(host, port)
for k in range(0, nd, 1000):
    s.sendmail("s@client.test", ["u@d%d.sub.example.test" % i for i in range(k, min(nd, k + 1000))],
               "Subject: many\r\n\r\nx\r\n")
s.quit()
PY
	sleep 5
fi
queued=$("$BMX" status --json "${CTL[@]}" | "$WORLD_PY" -c \
	'import json,sys; print(json.load(sys.stdin)["queued_messages"])')
ndest=$(curl -s "http://127.0.0.3:$HP/metrics" | awk '/^backupmx_destinations\{/ {n += $2} END {print n}')
echo "# queue_bench: $BUILD, $(nproc) cores; $queued messages queued in $((SECONDS - t0)) s;" \
	"$ndest destinations"

# Median wall time in ms of RUNS runs of the command "$@" (stdout to /dev/null).
ms() {
	local i t s e
	for i in $(seq 1 "$RUNS"); do
		s=$(date +%s%N)
		"$@" >/dev/null 2>"$W/err" || { echo "FAILED: $* $(cat "$W/err")" >&2; }
		e=$(date +%s%N)
		echo $(((e - s) / 1000))
	done | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}
# VmRSS of the daemon in MiB.
drss() { awk '/^VmRSS/ {printf "%.0f", $2/1024}' "/proc/$BMXD_PID/status"; }
# Peak RSS (MiB) of the CLI for the command "$@".
crss() {
	/usr/bin/time -f %M -o "$W/rss" "$@" >/dev/null 2>&1
	awk '{printf "%.1f", $1/1024}' "$W/rss"
}

row() { printf '%-52s %10s ms  %s\n' "$1" "$2" "${3:-}"; }
B=("$BMX")
row "queue --limit 100" "$(ms "${B[@]}" queue --limit 100 "${CTL[@]}")"
row "queue --limit 100 --json" "$(ms "${B[@]}" queue --limit 100 --json "${CTL[@]}")"
row "queue --domain x.sub.example.test (last 10)" \
	"$(ms "${B[@]}" queue --domain x.sub.example.test "${CTL[@]}")"
r0=$(drss)
row "queue (all, text)" "$(ms "${B[@]}" queue "${CTL[@]}")" \
	"CLI peak RSS $(crss "${B[@]}" queue "${CTL[@]}") MiB; $("$BMX" queue "${CTL[@]}" | wc -c) octets"
row "queue --json (all)" "$(ms "${B[@]}" queue --json "${CTL[@]}")" \
	"CLI peak RSS $(crss "${B[@]}" queue --json "${CTL[@]}") MiB; $("$BMX" queue --json "${CTL[@]}" | wc -l) lines"
echo "# daemon VmRSS before the full listings $r0 MiB, after $(drss) MiB"
row "GET /metrics" "$(ms curl -s "http://127.0.0.3:$HP/metrics")" \
	"$(curl -s "http://127.0.0.3:$HP/metrics" | grep -vc '^#') samples"
row "GET / (status page)" "$(ms curl -s "http://127.0.0.3:$HP/")" \
	"$(curl -s "http://127.0.0.3:$HP/" | wc -c) octets"
row "status --json" "$(ms "${B[@]}" status --json "${CTL[@]}")"
echo "# daemon VmRSS $(drss) MiB"

if [ -n "${BASE_BUILD:-}" ]; then
	bmxd_stop
	BASE=$(realpath -m "$BASE_BUILD")
	"$BASE/backupmxd" -c "$W/bmx.conf" >>"$W/base.log" 2>&1 &
	BMXD_PID=$!
	world_track "$BMXD_PID"
	world_wait_port 127.0.0.3 "$BMX_PORT" 120
	world_wait_until 120 test -S "$BMX_SPOOL/control.sock"
	echo "# the same spool under $BASE (one document, built whole)"
	B=("$BASE/backupmx")
	r0=$(drss)
	row "base: queue (all, text)" "$(ms "${B[@]}" queue "${CTL[@]}")" \
		"CLI peak RSS $(crss "${B[@]}" queue "${CTL[@]}") MiB"
	row "base: queue --json (all)" "$(ms "${B[@]}" queue --json "${CTL[@]}")" \
		"CLI peak RSS $(crss "${B[@]}" queue --json "${CTL[@]}") MiB"
	echo "# base daemon VmRSS before the full listings $r0 MiB, after $(drss) MiB"
fi
bmxd_stop
