#!/bin/bash
# t_check_smtp.sh - backupmx check's SMTP findings: a backup without
# STARTTLS while the primary has it, a backup accepting a nonexistent
# recipient (backscatter), an open relay, a SIZE mismatch, a broken STARTTLS
# (plaintext retry), a server that refuses EHLO, and a 421 in mid-session.
#
# World: unbound serves the cases under example.test.  The primary mx1
# (127.0.0.2) is a correct fake MX (tests/lib/mxpeer.py, STARTTLS,
# PIPELINING); each case has its own backup on 127.0.N.3 (N >= 1, so the
# primary and backup never share a /24): mxpeer variants, and Postfix's
# smtp-sink, which accepts every recipient and so is an open relay.
. "$BMX_ROOT/tests/lib/world.sh"
world_init

. "$BMX_ROOT/tests/lib/checkworld.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	-keyout "$W/key.pem" -out "$W/cert.pem" -subj "/CN=mx.example.test" 2>/dev/null ||
	t_skip_all "openssl cannot make a test certificate"
TLS=(--tls-cert "$W/cert.pem" --tls-key "$W/key.pem")

PEER_DOMAINS="notls.example.test backscatter.example.test relay.example.test size.example.test
brokentls.example.test helo.example.test cut.example.test"
{
	echo 'local-zone: "example.test." static'
	echo 'local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 '\
'604800 300"'
	echo 'local-data: "mx1.example.test. 300 IN A 127.0.0.2"'
	n=1
	for c in notls backscatter relay size brokentls helo cut; do
		echo "local-data: \"$c.example.test. 3600 IN MX 10 mx1.example.test.\""
		echo "local-data: \"$c.example.test. 3600 IN MX 20 mx-$c.example.test.\""
		echo "local-data: \"mx-$c.example.test. 300 IN A 127.0.$n.3\""
		n=$((n + 1))
	done
} >"$W/zone"
world_dns_start <"$W/zone"

mxpeer 127.0.0.2 mx1.example.test "${TLS[@]}" --pipelining
mxpeer 127.0.1.3 mx-notls.example.test
mxpeer 127.0.2.3 mx-backscatter.example.test "${TLS[@]}" --accept-any-user
world_sink_start 127.0.3.3 "$P"
mxpeer 127.0.4.3 mx-size.example.test "${TLS[@]}" --size 1000000
mxpeer 127.0.5.3 mx-brokentls.example.test --broken-tls
world_sink_start 127.0.6.3 "$P" -f ehlo
world_sink_start 127.0.7.3 "$P" -Q rcpt

# --- a backup without STARTTLS while the primary has it ---
chk --json --allow-private --timeout 5 notls.example.test
t_is "backup without STARTTLS: exit 1" "$RC" 1
t_valid "backup without STARTTLS: schema"
t_has "backup without STARTTLS: downgrade path" parity_starttls warning mx-notls.example.test
t_has "backup without STARTTLS: no_starttls" no_starttls warning mx-notls.example.test
t_is "backup without STARTTLS: offered by the primary only" \
	"$(jget '[s(i)["starttls"]["offered"] for i in (0, 1)]')" \
	"[True, False]"

# --- a backup accepting a nonexistent recipient ---
chk --json --allow-private --timeout 5 backscatter.example.test
t_is "backup accepts unknown users: exit 1" "$RC" 1
t_valid "backup accepts unknown users: schema"
t_has "backup accepts unknown users: backscatter risk" backscatter_risk warning \
	mx-backscatter.example.test
t_is "backup accepts unknown users: primary rejects, backup accepts" \
	"$(jget '[s(i)["rcpt_nonexistent"]["accepted"] for i in (0, 1)]')" \
	"[False, True]"
t_like "backup accepts unknown users: random local part" \
	"$(jget 's(1)["rcpt_nonexistent"]["address"]')" \
	'^bmx-nonexistent-[0-9a-f]{12}@backscatter\.example\.test$'
t_hasnt "backup accepts unknown users: not an open relay" open_relay

# --- an open relay (smtp-sink accepts every recipient) ---
chk --json --allow-private --timeout 5 relay.example.test
t_is "open relay: exit 2" "$RC" 2
t_valid "open relay: schema"
t_has "open relay: critical" open_relay critical mx-relay.example.test
t_is "open relay: the foreign recipient was accepted" \
	"$(jget 's(1)["rcpt_foreign"]["address"], s(1)["rcpt_foreign"]["accepted"]')" \
	"('relaytest@example.net', True)"
t_is "open relay: smtp-sink stored no message (no DATA)" \
	"$(world_sink_count "$W/sink.127.0.3.3.$P")" 0
chk --nagios --allow-private --timeout 5 relay.example.test
t_like "open relay: nagios CRITICAL" "$OUT" \
	'^CRITICAL: relay\.example\.test: .*open relay.*\| mx_count=2 '
chk --allow-private --timeout 5 relay.example.test
t_like "open relay: human verdict" "$OUT" '^Verdict: CRITICAL - '

# --- SIZE differs ---
chk --json --allow-private --timeout 5 size.example.test
t_is "SIZE mismatch: exit 1" "$RC" 1
t_has "SIZE mismatch: parity_size" parity_size warning mx-size.example.test
t_is "SIZE mismatch: both limits reported" \
	"$(jget '[s(i)["size_limit"] for i in (0, 1)]')" "[10240000, 1000000]"

# --- STARTTLS offered but broken: reported, then probed in plaintext ---
chk --json --allow-private --timeout 5 brokentls.example.test
t_is "broken STARTTLS: exit 1" "$RC" 1
t_valid "broken STARTTLS: schema"
t_has "broken STARTTLS: tls_failed" tls_failed warning mx-brokentls.example.test
t_is "broken STARTTLS: plaintext retry completed the probes" \
	"$(jget '(s(1)["status"], s(1)["starttls"]["plaintext_retry"],
	          s(1)["rcpt_postmaster"]["code"])')" \
	"('ok', True, 250)"

# --- a server that refuses EHLO: HELO ---
chk --json --allow-private --timeout 5 helo.example.test
t_has "EHLO refused: no_esmtp" no_esmtp warning mx-helo.example.test
t_is "EHLO refused: HELO worked" "$(jget 's(1)["esmtp"], d["mx"][1]["accepts_mail"]')" \
	"(False, True)"

# --- 421 in mid-session ---
chk --json --allow-private --timeout 5 cut.example.test
t_valid "421 mid-session: schema"
t_has "421 mid-session: probe_incomplete" probe_incomplete warning mx-cut.example.test
t_like "421 mid-session: error kept" "$(jget 's(1)["error"]')" '421'

t_done
