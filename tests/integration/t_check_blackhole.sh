#!/bin/bash
# t_check_blackhole.sh - backupmx check honours its timeout: a primary that
# accepts TCP and never speaks, a 4-MX domain with one such black hole
# (finishes within timeout + 1 s), a black hole where even the connect
# times out (nftables drops the SYN), and a domain whose only MX is a black
# hole (CRITICAL).
#
# World: unbound serves the cases under example.test; the black hole is on
# 127.0.0.2; fake MXes (tests/lib/mxpeer.py) on 127.0.1.3, 127.0.2.4 and
# 127.0.3.5; all on one free port.
. "$BMX_ROOT/tests/lib/world.sh"
world_init

. "$BMX_ROOT/tests/lib/checkworld.sh"

# timed ARGS: chk with the wall time in MS.
timed() { local t0; t0=$(date +%s%N); chk "$@"; MS=$((($(date +%s%N) - t0) / 1000000)); }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	-keyout "$W/key.pem" -out "$W/cert.pem" -subj "/CN=mx.example.test" 2>/dev/null ||
	t_skip_all "openssl cannot make a test certificate"

PEER_DOMAINS="bh.example.test four.example.test drop.example.test"
world_dns_start <<'EOF'
local-zone: "example.test." static
local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "mxbh.example.test. 300 IN A 127.0.0.2"
local-data: "mxa.example.test. 300 IN A 127.0.1.3"
local-data: "mxb.example.test. 300 IN A 127.0.2.4"
local-data: "mxc.example.test. 300 IN A 127.0.3.5"
local-data: "mxdrop.example.test. 300 IN A 127.0.4.7"
local-data: "bh.example.test. 3600 IN MX 10 mxbh.example.test."
local-data: "bh.example.test. 3600 IN MX 20 mxa.example.test."
local-data: "four.example.test. 3600 IN MX 10 mxa.example.test."
local-data: "four.example.test. 3600 IN MX 20 mxb.example.test."
local-data: "four.example.test. 3600 IN MX 30 mxc.example.test."
local-data: "four.example.test. 3600 IN MX 40 mxbh.example.test."
local-data: "drop.example.test. 3600 IN MX 10 mxdrop.example.test."
local-data: "drop.example.test. 3600 IN MX 20 mxa.example.test."
local-data: "only.example.test. 3600 IN MX 10 mxbh.example.test."
EOF

world_blackhole_start 127.0.0.2 "$P"
for a in 127.0.1.3 127.0.2.4 127.0.3.5; do
	mxpeer "$a" mx.example.test --tls-cert "$W/cert.pem" --tls-key "$W/key.pem"
done

# --- the primary a black hole: the timeout is honoured ---
timed --json --allow-private --timeout 2 bh.example.test
t_is "black-hole primary: exit 1 (the backup accepts mail)" "$RC" 1
t_valid "black-hole primary: schema"
t_has "black-hole primary: primary_down" primary_down warning
t_is "black-hole primary: probe timed out waiting for the banner" \
	"$(jget 's(0)["status"], "banner" in s(0)["error"]')" \
	"('timeout', True)"
t_is "black-hole primary: the connect itself worked" \
	"$(jget 's(0)["connect_ms"] is not None')" True
t_is "black-hole primary: backup fully probed" \
	"$(jget 's(1)["rcpt_foreign"]["code"]')" 554
if [ "$MS" -ge 1900 ] && [ "$MS" -le 3000 ]; then
	t_ok "black-hole primary: took the timeout, not more ($MS ms for --timeout 2)"
else
	t_fail "black-hole primary: took the timeout, not more" "$MS ms for --timeout 2"
fi

# --- 4 MX, one black hole: everything concurrent, done within timeout + 1 s ---
timed --json --allow-private --timeout 3 four.example.test
t_is "4 MX with a black hole: exit 1" "$RC" 1
t_valid "4 MX with a black hole: schema"
t_has "4 MX with a black hole: the black hole is down" mx_down warning mxbh.example.test
t_is "4 MX with a black hole: three accept mail" \
	"$(jget '[m["accepts_mail"] for m in d["mx"]]')" "[True, True, True, False]"
if [ "$MS" -le 4000 ]; then
	t_ok "4 MX with a black hole: within timeout + 1 s ($MS ms for --timeout 3)"
else
	t_fail "4 MX with a black hole: within timeout + 1 s" "$MS ms for --timeout 3"
fi
timed --nagios --allow-private --timeout 3 four.example.test
t_like "4 MX with a black hole: nagios perfdata for every MX" "$OUT" \
	'\| mx_count=4 mxa_example_test_connect=[0-9.]+s mxb_example_test_connect=[0-9.]+s '\
'mxc_example_test_connect=[0-9.]+s mxbh_example_test_connect=[0-9.]+s$'

# --- a black hole that drops the SYN: the connect times out ---
if world_have nft && nft add table inet bmxcheck 2>/dev/null; then
	nft add chain inet bmxcheck input \
		'{ type filter hook input priority -10; policy accept; }' &&
		nft add rule inet bmxcheck input iif lo ip daddr 127.0.4.7 tcp dport "$P" drop
	timed --json --allow-private --timeout 2 drop.example.test
	t_is "SYN dropped: exit 1" "$RC" 1
	t_is "SYN dropped: connect timed out" \
		"$(jget 's(0)["status"], s(0)["connect_ms"], "connecting" in s(0)["error"]')" \
		"('timeout', None, True)"
	if [ "$MS" -ge 1900 ] && [ "$MS" -le 3000 ]; then
		t_ok "SYN dropped: took the timeout ($MS ms)"
	else
		t_fail "SYN dropped: took the timeout" "$MS ms for --timeout 2"
	fi
	nft delete table inet bmxcheck
else
	t_skip "SYN dropped: connect timeout" "nftables not usable here"
fi

# --- the only MX a black hole: nothing accepts mail ---
timed --json --allow-private --timeout 2 only.example.test
t_is "only MX a black hole: exit 2" "$RC" 2
t_has "only MX a black hole: no_mx_accepts" no_mx_accepts critical
t_hasnt "only MX a black hole: not primary_down" primary_down

t_done
