#!/bin/bash
# drain_bench.sh - how fast backupmxd hands a backlog to a recovered primary.
#
#   bench/drain_bench.sh [BUILD_DIR] [MESSAGES...]   (default: build 1000 20000)
#
# For each MESSAGES count, in a fresh world (own network namespace: it
# re-executes itself under `unshare -n`, so it needs root):
#   1. unbound serves example.test MX 10 mx1 (127.0.0.2), MX 20 mx2 (127.0.0.3);
#      backupmxd listens on 127.0.0.3:PORT with relay_port = PORT,
#      probe_interval = 2, log_level = info; the primary 127.0.0.2:PORT is down
#      (connection refused).
#   2. smtp-source -s 10 -m MESSAGES -l 4096 -f s@client.test -t r@example.test
#      queues the backlog; the script waits until the probe has marked the
#      destination down.
#   3. smtp-sink (-d dump dir) comes up on 127.0.0.2:PORT at T0.  First
#      delivery = first dump file; drained = the spool queue directory is
#      empty (and the sink has MESSAGES files).
# Prints per run: first delivery (s after T0), drain time, msgs/s, us/msg.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 20000)
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "${SIZES[@]}"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD

# One run with $1 messages; prints one result line.
run_one()
{
	local n=$1
	(
	. "$ROOT/tests/lib/world.sh"
	. "$ROOT/tests/lib/bmxd.sh"
	world_init
	BMX_PORT=$(world_free_port)
	world_dns_start <<EOD
local-zone: "example.test." static
local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "example.test. 3600 IN MX 10 mx1.example.test."
local-data: "example.test. 3600 IN MX 20 mx2.example.test."
local-data: "mx1.example.test. 300 IN A 127.0.0.2"
local-data: "mx2.example.test. 300 IN A 127.0.0.3"
EOD
	bmxd_relay_config <<EOD
max_connections_per_ip = 100
${BMX_BENCH_EXTRA:-}
EOD
	sed -i 's/^log_level = debug/log_level = info/' "$W/bmx.conf"
	bmxd_start || { echo "backupmxd did not start"; exit 1; }
	local q0=$SECONDS
	smtp-source -s 10 -m "$n" -l 4096 -f s@client.test -t r@example.test \
		127.0.0.3:"$BMX_PORT" >"$W/source.log" 2>&1 ||
		{ echo "smtp-source failed: $(tail -3 "$W/source.log")"; exit 1; }
	local qt=$((SECONDS - q0)) queued
	queued=$(ls "$BMX_SPOOL/queue" | wc -l)
	sleep 3
	world_sink_start 127.0.0.2 "$BMX_PORT"
	local t0 t1="" t2 now
	t0=$(date +%s.%N)
	while :; do
		now=$(date +%s.%N)
		if [ -z "$t1" ] && [ -n "$(ls -A "$SINK_DIR" | head -1)" ]; then t1=$now; fi
		if [ -n "$t1" ] && [ -z "$(ls -A "$BMX_SPOOL/queue" | head -1)" ]; then
			t2=$now; break
		fi
		if [ "$(echo "$now - $t0 > 600" | bc)" = 1 ]; then
			echo "timeout: $(ls "$BMX_SPOOL/queue" | wc -l) left"; exit 1
		fi
		sleep 0.05
	done
	sleep 1
	local got first drain
	got=$(world_sink_count)
	first=$(echo "scale=2; ($t1 - $t0) / 1" | bc)
	drain=$(echo "scale=2; ($t2 - $t0) / 1" | bc)
	printf 'messages %6d  queued %6d in %3d s  first delivery %5.2f s  drained %7.2f s' \
		"$n" "$queued" "$qt" "$first" "$drain"
	printf '  %6.0f msgs/s  %5.0f us/msg  sink got %d\n' \
		"$(echo "$n / ($drain - $first)" | bc -l)" \
		"$(echo "($drain - $first) * 1000000 / $n" | bc -l)" "$got"
	)
}

echo "# drain_bench: backupmxd $BUILD/backupmxd, $(nproc) cores, probe_interval 2 s"
for n in "${SIZES[@]}"; do
	run_one "$n"
done
