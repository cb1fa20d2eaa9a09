#!/bin/bash
# check_bench.sh - wall time of "backupmx check" on a 4-MX domain with one
# black-hole MX at --timeout 3, beside what monitoring users run today:
# monitoring-plugins' check_smtp -S once per MX, one after another.
#
#   bench/check_bench.sh [BUILD_DIR] [RUNS]     (default: build, 5 runs)
#
# Runs in its own network namespace (it re-executes itself under
# `unshare -n`, so it needs root), with the test world of tests/lib/world.sh:
# unbound serving bench.example.test (MX 10/20/30/40), three STARTTLS fake
# MXes (tests/lib/mxpeer.py) and a black hole that accepts TCP and never
# speaks, all on one port.  Prints the exact commands and a Markdown table
# of min/median/max wall times.  A second domain, bench2.example.test, has
# two black holes among its 4 MX, to show how sequential probes add up.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
RUNS=${2:-5}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "$RUNS"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD
. "$ROOT/tests/lib/world.sh"
world_init

BMX=$BUILD/backupmx
CHECK_SMTP=/usr/lib/nagios/plugins/check_smtp
PY=/usr/bin/python3
[ -x "$BMX" ] || { echo "no $BMX: run make first" >&2; exit 1; }
if [ ! -x "$CHECK_SMTP" ]; then
	echo "no $CHECK_SMTP: apt-get install monitoring-plugins-basic" >&2
	exit 1
fi
P=$(world_free_port)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	-keyout "$W/key.pem" -out "$W/cert.pem" -subj "/CN=mx.bench.example.test" 2>/dev/null
world_dns_start <<'EOF'
local-zone: "example.test." static
local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "bench.example.test. 3600 IN MX 10 mx1.example.test."
local-data: "bench.example.test. 3600 IN MX 20 mx2.example.test."
local-data: "bench.example.test. 3600 IN MX 30 mx3.example.test."
local-data: "bench.example.test. 3600 IN MX 40 mx4.example.test."
local-data: "mx1.example.test. 300 IN A 127.0.1.2"
local-data: "mx2.example.test. 300 IN A 127.0.2.2"
local-data: "mx3.example.test. 300 IN A 127.0.3.2"
local-data: "mx4.example.test. 300 IN A 127.0.4.2"
local-data: "mx5.example.test. 300 IN A 127.0.5.2"
local-data: "bench2.example.test. 3600 IN MX 10 mx1.example.test."
local-data: "bench2.example.test. 3600 IN MX 20 mx5.example.test."
local-data: "bench2.example.test. 3600 IN MX 30 mx3.example.test."
local-data: "bench2.example.test. 3600 IN MX 40 mx4.example.test."
EOF
for a in 127.0.1.2 127.0.2.2 127.0.4.2; do
	world_bg "$PY" "$ROOT/tests/lib/mxpeer.py" --listen "$a:$P" --domain bench.example.test \
		--domain bench2.example.test \
		--name "mx.bench.example.test" --tls-cert "$W/cert.pem" --tls-key "$W/key.pem"
	world_wait_port "$a" "$P" || { echo "mxpeer on $a did not start" >&2; exit 1; }
done
world_blackhole_start 127.0.3.2 "$P"   # mx3, preference 30: the black hole
world_blackhole_start 127.0.5.2 "$P"   # mx5: bench2's second black hole

# now_ms: monotonic-enough wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# stats MS...: "min median max" of the arguments.
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
	printf "%d %d %d", v[1], v[int((NR + 1) / 2)], v[NR] }'; }

# bench DOMAIN "ADDRS" LABEL: time both ways RUNS times, print a table row pair.
bench() {
	local dom=$1 addrs=$2 label=$3 i t0 rc nrc a b1 b2 b3 n1 n2 n3
	local bmx=() nag=()
	local cmd_bmx="$BMX check --resolver $RESOLVER --port $P --timeout 3 --allow-private $dom"
	echo "# $label"
	echo "#   backupmx check:   $cmd_bmx"
	echo "#   check_smtp x4:    for a in $addrs; do $CHECK_SMTP -H \$a -p $P -S -t 3; done"
	: >"$W/nag.out"
	for ((i = 1; i <= RUNS; i++)); do
		t0=$(now_ms)
		$cmd_bmx >"$W/bmx.out" 2>&1
		rc=$?
		bmx+=($(($(now_ms) - t0)))
		t0=$(now_ms)
		nrc=""
		for a in $addrs; do
			"$CHECK_SMTP" -H "$a" -p "$P" -S -t 3 >>"$W/nag.out" 2>&1
			nrc="$nrc$?"
		done
		nag+=($(($(now_ms) - t0)))
		echo "#   run $i: backupmx ${bmx[-1]} ms (exit $rc)," \
			"check_smtp x4 ${nag[-1]} ms (exits $nrc)"
	done
	echo "#   backupmx: $(grep '^Verdict' "$W/bmx.out")"
	echo "#   check_smtp (last run):"
	tail -n 4 "$W/nag.out" | sed 's/^/#     /'
	read -r b1 b2 b3 <<<"$(stats "${bmx[@]}")"
	read -r n1 n2 n3 <<<"$(stats "${nag[@]}")"
	local c1='`backupmx check` (DNS, PTR, STARTTLS, RCPT probes; all MX at once)'
	local c2='`check_smtp -S` per MX, one after another (connect, EHLO, STARTTLS)'
	ROWS="$ROWS| $label | $c1 | $RUNS | $b1 | $b2 | $b3 |
| $label | $c2 | $RUNS | $n1 | $n2 | $n3 |
"
}

ROWS=""
bench bench.example.test "127.0.1.2 127.0.2.2 127.0.3.2 127.0.4.2" "4 MX, 1 black hole"
bench bench2.example.test "127.0.1.2 127.0.5.2 127.0.3.2 127.0.4.2" "4 MX, 2 black holes"
echo
echo "| domain | command | runs | min ms | median ms | max ms |"
echo "|---|---|---|---|---|---|"
printf '%s' "$ROWS"
