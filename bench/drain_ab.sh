#!/bin/bash
# drain_ab.sh - A/B of the drain at 0 ms between two builds, same run.
#
#   bench/drain_ab.sh BUILD_A BUILD_B [MESSAGES] [ROUNDS]   (default 10000 2)
#
# For each round, A then B, each in a fresh world (own network namespace:
# it re-executes itself under `unshare -n`, so it needs root): unbound serves
# example.test (MX 10 mx1 127.0.0.2, MX 20 mx2 127.0.0.3); backupmxd of the
# build listens on 127.0.0.3 (bench defaults: probe_interval 2, max_concurrency
# default, log_level info); MESSAGES of 4 KiB are queued with the primary down
# (smtp-source -s 10 -l 4096); then a counting smtp-sink
# (smtp-sink -u postfix -c 127.0.0.2:PORT 256) comes up.  Prints, per run,
# MESSAGES / (time of the last message - time of the first) at the sink.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 BUILD_A BUILD_B [MESSAGES] [ROUNDS]" >&2; exit 2; }
A=$(realpath -m "$1") B=$(realpath -m "$2") N=${3:-10000} R=${4:-2}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$A" "$B" "$N" "$R"
fi

# One drain with build $1; prints "BUILD: N msgs/s".
run_one()
{
	(
	export BMX_ROOT=$ROOT BMX_BUILD=$1
	. "$ROOT/tests/lib/world.sh"
	. "$ROOT/tests/lib/bmxd.sh"
	world_init
	bmxd_world_dns </dev/null
	bmxd_relay_config <<<"max_connections_per_ip = 100"
	sed -i 's/^log_level = debug/log_level = info/' "$W/bmx.conf"
	bmxd_start || { echo "$1: backupmxd did not start"; exit 1; }
	smtp-source -s 10 -m "$N" -l 4096 -f s@client.test -t r@example.test \
		127.0.0.3:"$BMX_PORT" >"$W/source.log" 2>&1 || { echo "$1: smtp-source failed"; exit 1; }
	sleep 3
	local out=$W/sink.out t1="" n now end=$((SECONDS + 600))
	smtp-sink -u postfix -c 127.0.0.2:"$BMX_PORT" 256 >"$out" 2>&1 &
	world_track $!
	while [ $SECONDS -lt $end ]; do
		n=$(tail -c 300 "$out" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1)
		n=${n#mesg=}
		now=$(date +%s.%N)
		[ -z "$t1" ] && [ "${n:-0}" -ge 1 ] && t1=$now
		[ "${n:-0}" -ge "$N" ] && break
		sleep 0.05
	done
	awk -v b="$1" -v n="$N" -v a="$now" -v f="$t1" 'BEGIN { printf "%s: %.0f msgs/s\n", b, n / (a - f) }'
	)
}

echo "# drain_ab: $N messages, $R round(s), $(nproc) CPUs"
for ((i = 1; i <= R; i++)); do
	run_one "$A"
	run_one "$B"
done
