#!/bin/bash
# t_relay_fair.sh - a fair drain across customers (issue 17): one domain with
# a big queue must not delay the first delivery to a domain with a small
# one.  Both primaries are down while 3,000 messages queue for big.test and
# 10 for small.test; then both come back at the same moment, big.test's
# primary slow (50 ms a message, as a real one that filters and stores).
# small.test's first delivery must come within probe_interval + 1 s, while
# big.test is still draining, and small.test must drain completely long
# before big.test does.
#
# World: big.test MX 10 mxbig (127.0.0.5), small.test MX 10 mxsmall
# (127.0.0.6), both MX 20 mx2 (127.0.0.3, backupmxd); the primaries are
# tests/lib/slowmx.py with --stats (the time of their first message).
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have smtp-source || t_skip_all "smtp-source (postfix) not installed"
for a in 5 6; do ip addr add "127.0.0.$a/8" dev lo 2>/dev/null; done
BIG=3000
SMALL=10
PROBE=2
BMX_PORT=$(world_free_port)
world_dns_start <<'EOD'
local-zone: "big.test." static
local-data: "big.test. 3600 IN SOA ns.big.test. h.big.test. 1 3600 900 604800 300"
local-data: "big.test. 3600 IN MX 10 mxbig.big.test."
local-data: "big.test. 3600 IN MX 20 mx2.example.test."
local-data: "mxbig.big.test. 300 IN A 127.0.0.5"
local-zone: "small.test." static
local-data: "small.test. 3600 IN SOA ns.small.test. h.small.test. 1 3600 900 604800 300"
local-data: "small.test. 3600 IN MX 10 mxsmall.small.test."
local-data: "small.test. 3600 IN MX 20 mx2.example.test."
local-data: "mxsmall.small.test. 300 IN A 127.0.0.6"
local-zone: "example.test." static
local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "mx2.example.test. 300 IN A 127.0.0.3"
EOD
bmxd_config <<EOD
relay_domains = big.test, small.test
relay_port = $BMX_PORT
probe_interval = $PROBE
retry_min = 2
connect_timeout = 2
primary_up = queue
max_connections_per_ip = 100
EOD
bmxd_start || { t_fail "daemon start"; t_done; }

# Print field $2 of the slowmx stats file $1 (0 while it does not exist).
stat_of()
{
	"$WORLD_PY" -c 'import json,sys
try: print(json.load(open(sys.argv[1]))[sys.argv[2]])
except Exception: print(0)' "$1" "$2"
}
has() { [ "$(stat_of "$1" messages)" -ge "$2" ]; }

smtp-source -s 20 -m $BIG -f s@client.test -t r@big.test 127.0.0.3:"$BMX_PORT" \
	>"$W/source.big.log" 2>&1 || t_fail "smtp-source big.test" "$(tail -3 "$W/source.big.log")"
smtp-source -s 5 -m $SMALL -f s@client.test -t r@small.test 127.0.0.3:"$BMX_PORT" \
	>"$W/source.small.log" 2>&1 || t_fail "smtp-source small.test" "$(tail -3 "$W/source.small.log")"
world_wait_until 20 bash -c "[ \$(find '$BMX_SPOOL/queue' -type f | wc -l) -ge $((BIG + SMALL)) ]"
t_is "both primaries down: $((BIG + SMALL)) messages queued" \
	"$(find "$BMX_SPOOL/queue" -type f | wc -l)" $((BIG + SMALL))
sleep $((PROBE + 1))   # both destinations are known down and being probed

# both primaries come back at the same moment; big.test's is slow
t0=$(date +%s.%N)
world_bg "$WORLD_PY" "$WORLD_LIB/slowmx.py" --listen 127.0.0.5:"$BMX_PORT" --delay-ms 50 \
	--stats "$W/big.json"
world_bg "$WORLD_PY" "$WORLD_LIB/slowmx.py" --listen 127.0.0.6:"$BMX_PORT" \
	--stats "$W/small.json"
world_wait_until 15 has "$W/small.json" 1
first=$(stat_of "$W/small.json" first)
t1=$(awk -v a="$t0" -v b="$first" 'BEGIN { printf "%.2f", b - a }')
t_diag "small.test's first delivery ${t1} s after both primaries came back (probe_interval $PROBE s)"
awk -v d="$t1" -v p=$PROBE 'BEGIN { exit !(d > 0 && d <= p + 1) }'
t_is "small.test's first delivery within probe_interval + 1 s despite $BIG queued for big.test" "$?" 0
world_wait_until 15 has "$W/small.json" $SMALL
nb=$(stat_of "$W/big.json" messages)
t_is "small.test drained completely" "$(stat_of "$W/small.json" messages)" $SMALL
t_diag "big.test had $nb of $BIG when small.test was done"
[ "$nb" -lt "$BIG" ]
t_is "... while big.test was still draining (the test had contention)" "$?" 0
world_wait_until 120 has "$W/big.json" $BIG
t_is "big.test drained too, each message once" \
	"$(stat_of "$W/big.json" unique) $(stat_of "$W/big.json" duplicates)" "$BIG 0"
bmxd_stop
t_done
