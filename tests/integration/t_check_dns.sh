#!/bin/bash
# t_check_dns.sh - backupmx check against DNS shapes: an MX pointing at a
# CNAME, a null MX, no MX but an A record, NXDOMAIN, SERVFAIL (a forwarder
# failure and a refused zone), equal preferences, primary and backup on one
# IP, primary and backup in one /24, a long MX TTL, an MX host without an
# address, and reverse DNS that is missing or not forward-confirmed.
#
# World: unbound serves every case under example.test; fake MXes
# (tests/lib/mxpeer.py, STARTTLS) listen on 127.0.0.2 (mx1), 127.0.1.3 (mx2)
# and 127.0.0.3 (mx3), all on one free port.
. "$BMX_ROOT/tests/lib/world.sh"
world_init

. "$BMX_ROOT/tests/lib/checkworld.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	-keyout "$W/key.pem" -out "$W/cert.pem" -subj "/CN=mx1.example.test" \
	-addext "subjectAltName=DNS:mx1.example.test,DNS:mx2.example.test,DNS:mx3.example.test" \
	2>/dev/null || t_skip_all "openssl cannot make a test certificate"

PEER_DOMAINS="cname.example.test implicit.example.test equal.example.test oneip.example.test
sub24.example.test longttl.example.test noaddr.example.test"
world_dns_start <<'EOF'
local-zone: "example.test." static
local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "mx1.example.test. 300 IN A 127.0.0.2"
local-data: "mx1b.example.test. 300 IN A 127.0.0.2"
local-data: "mx2.example.test. 300 IN A 127.0.1.3"
local-data: "mx3.example.test. 300 IN A 127.0.0.3"
local-data: "mx5.example.test. 300 IN A 127.0.0.5"
local-data: "mx6.example.test. 300 IN A 127.0.0.6"
local-data: "wrong.example.test. 300 IN A 127.0.0.9"
local-data: "alias.example.test. 300 IN CNAME mx2.example.test."
local-data-ptr: "127.0.0.2 mx1.example.test"
local-data-ptr: "127.0.1.3 mx2.example.test"
local-data-ptr: "127.0.0.3 mx3.example.test"
local-data-ptr: "127.0.0.5 wrong.example.test"
local-data: "cname.example.test. 3600 IN MX 10 mx1.example.test."
local-data: "cname.example.test. 3600 IN MX 20 alias.example.test."
local-data: "nullmx.example.test. 1800 IN MX 0 ."
local-data: "implicit.example.test. 300 IN A 127.0.0.2"
local-data: "equal.example.test. 3600 IN MX 10 mx1.example.test."
local-data: "equal.example.test. 3600 IN MX 10 mx2.example.test."
local-data: "oneip.example.test. 3600 IN MX 10 mx1.example.test."
local-data: "oneip.example.test. 3600 IN MX 20 mx1b.example.test."
local-data: "sub24.example.test. 3600 IN MX 10 mx1.example.test."
local-data: "sub24.example.test. 3600 IN MX 20 mx3.example.test."
local-data: "longttl.example.test. 172800 IN MX 10 mx1.example.test."
local-data: "longttl.example.test. 172800 IN MX 20 mx2.example.test."
local-data: "noaddr.example.test. 3600 IN MX 10 mx1.example.test."
local-data: "noaddr.example.test. 3600 IN MX 20 ghost.example.test."
local-data: "rdns.example.test. 3600 IN MX 10 mx5.example.test."
local-data: "rdns.example.test. 3600 IN MX 20 mx6.example.test."
local-zone: "refused.test." refuse
EOF

for a in 127.0.0.2 127.0.1.3 127.0.0.3; do
	mxpeer "$a" "mx.example.test" --tls-cert "$W/cert.pem" --tls-key "$W/key.pem"
done

# --- an MX pointing at a CNAME ---
chk --json --allow-private --timeout 5 cname.example.test
t_is "MX is a CNAME: exit 1" "$RC" 1
t_valid "MX is a CNAME: schema"
t_has "MX is a CNAME: mx_cname on the alias" mx_cname warning alias.example.test
t_is "MX is a CNAME: flagged, followed and probed" \
	"$(jget '[(m["host"], m["cname"], m["accepts_mail"]) for m in d["mx"]][1]')" \
	"('alias.example.test', True, True)"

# --- a null MX ---
chk --json --allow-private --timeout 5 nullmx.example.test
t_is "null MX: exit 2" "$RC" 2
t_valid "null MX: schema"
t_has "null MX: critical" null_mx critical
t_is "null MX: no hosts" "$(jget 'd["dns"]["null_mx"], len(d["mx"])')" "(True, 0)"
chk --nagios --allow-private --timeout 5 nullmx.example.test
t_like "null MX: nagios CRITICAL" "$OUT" \
	'^CRITICAL: nullmx\.example\.test: .*null MX.*\| mx_count=0$'

# --- no MX but an A record ---
chk --json --allow-private --timeout 5 implicit.example.test
t_is "implicit MX: exit 1" "$RC" 1
t_valid "implicit MX: schema"
t_has "implicit MX: warning" implicit_mx warning
t_is "implicit MX: the domain itself, probed" \
	"$(jget '(d["dns"]["implicit_mx"], d["mx"][0]["host"], d["mx"][0]["implicit"],
	          d["mx"][0]["accepts_mail"])')" \
	"(True, 'implicit.example.test', True, True)"
t_hasnt "implicit MX: not reported as a single MX too" single_mx

# --- NXDOMAIN ---
chk --json --allow-private --timeout 5 nothere.example.test
t_is "NXDOMAIN: exit 2" "$RC" 2
t_valid "NXDOMAIN: schema"
t_has "NXDOMAIN: critical" nxdomain critical
t_is "NXDOMAIN: dns status" "$(jget 'd["dns"]["status"]')" nxdomain

# --- SERVFAIL ---
chk --json --allow-private --timeout 5 example.servfail
t_is "SERVFAIL (forwarder fails): exit 3" "$RC" 3
t_valid "SERVFAIL: schema"
t_has "SERVFAIL: dns_failure unknown" dns_failure unknown
t_is "SERVFAIL: dns status tempfail" "$(jget 'd["dns"]["status"]')" tempfail
chk --json --allow-private --timeout 5 www.refused.test
t_is "SERVFAIL (refused zone): exit 3" "$RC" 3
t_has "refused zone: dns_failure" dns_failure unknown
chk --nagios --timeout 5 www.refused.test
t_like "SERVFAIL: nagios UNKNOWN" "$OUT" '^UNKNOWN: www\.refused\.test: .*\| mx_count=0$'

# --- equal preferences ---
chk --json --allow-private --timeout 5 equal.example.test
t_is "equal preferences: exit 1" "$RC" 1
t_valid "equal preferences: schema"
t_has "equal preferences: load sharing, not backup" equal_preference warning
t_like "equal preferences: message says so" "$(codes)" 'load sharing, not backup'
t_is "equal preferences: both primaries" "$(jget '[m["role"] for m in d["mx"]]')" \
	"['primary', 'primary']"

# --- primary and backup on one IP ---
chk --json --allow-private --timeout 5 oneip.example.test
t_is "one IP: exit 1" "$RC" 1
t_valid "one IP: schema"
t_has "one IP: shared_ip" shared_ip warning
t_like "one IP: names the address" "$(codes)" 'share the address 127\.0\.0\.2'

# --- primary and backup in one /24 (127.0.0.2 and 127.0.0.3) ---
chk --json --allow-private --timeout 5 sub24.example.test
t_is "one /24: exit 1" "$RC" 1
t_has "one /24: shared_subnet" shared_subnet warning mx3.example.test
t_hasnt "one /24: not the same IP" shared_ip

# --- a long MX TTL ---
chk --json --allow-private --timeout 5 longttl.example.test
if [ "$(jget 'd["dns"]["mx_ttl"]')" = 86400 ]; then
	# libunbound's default cache-max-ttl (1 day) clips the TTL before we see it
	t_skip "long TTL: mx_ttl_long" "the resolver clips TTLs at cache-max-ttl 86400 (src/dns)"
else
	t_is "long TTL: exit 1" "$RC" 1
	t_has "long TTL: mx_ttl_long" mx_ttl_long warning
	t_like "long TTL: advises about 300 s" "$(codes)" '172800 s.*about 300 s'
	t_is "long TTL: reported" "$(jget 'd["dns"]["mx_ttl"]')" 172800
fi

# --- an MX host without an address ---
chk --json --allow-private --timeout 5 noaddr.example.test
t_is "MX without address: exit 1" "$RC" 1
t_has "MX without address: mx_no_address" mx_no_address warning ghost.example.test
t_is "MX without address: NXDOMAIN for its A" "$(jget 'd["mx"][1]["a"]["status"]')" nxdomain

# --- reverse DNS: a PTR that does not point back, and none at all ---
chk --json --allow-private --no-smtp --timeout 5 rdns.example.test
t_valid "reverse DNS: schema"
t_is "reverse DNS: PTR names" \
	"$(jget '[m["addresses"][0]["ptr"]["names"] for m in d["mx"]]')" \
	"[['wrong.example.test'], []]"
t_is "reverse DNS: forward confirmation" \
	"$(jget '[m["addresses"][0]["ptr"]["forward_confirmed"] for m in d["mx"]]')" "[False, None]"
t_has "reverse DNS: ptr_not_confirmed (info for loopback)" ptr_not_confirmed info mx5.example.test
t_has "reverse DNS: no_ptr (info for loopback)" no_ptr info mx6.example.test

t_done
