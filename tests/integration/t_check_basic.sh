#!/bin/bash
# t_check_basic.sh - backupmx check: a healthy domain, every output format,
# the primary refusing connections, private-address warnings, and the
# argument errors (exit 3).
#
# World: unbound serves example.test; the primary mx1 (127.0.0.2) and the
# backup mx2 (127.0.1.3, another /24 so they do not share fate) are
# tests/lib/mxpeer.py fake MXes with STARTTLS that refuse unknown users and
# foreign domains, both on the same free port.  mx4 (127.0.0.4) has nothing
# listening: connection refused.
. "$BMX_ROOT/tests/lib/world.sh"
world_init

. "$BMX_ROOT/tests/lib/checkworld.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
	-keyout "$W/key.pem" -out "$W/cert.pem" -subj "/CN=mx1.example.test" \
	-addext "subjectAltName=DNS:mx1.example.test,DNS:mx2.example.test" 2>/dev/null ||
	t_skip_all "openssl cannot make a test certificate"

PEER_DOMAINS="example.test refused.example.test xn--bcher-kva.example.test"
world_dns_start <<'EOF'
local-zone: "example.test." static
local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "example.test. 3600 IN MX 10 mx1.example.test."
local-data: "example.test. 3600 IN MX 20 mx2.example.test."
local-data: "mx1.example.test. 300 IN A 127.0.0.2"
local-data: "mx2.example.test. 300 IN A 127.0.1.3"
local-data: "mx4.example.test. 300 IN A 127.0.0.4"
local-data: "refused.example.test. 3600 IN MX 10 mx4.example.test."
local-data: "refused.example.test. 3600 IN MX 20 mx2.example.test."
local-data: "xn--bcher-kva.example.test. 3600 IN MX 10 mx1.example.test."
local-data-ptr: "127.0.0.2 mx1.example.test"
local-data-ptr: "127.0.1.3 mx2.example.test"
EOF

mxpeer 127.0.0.2 mx1.example.test --tls-cert "$W/cert.pem" --tls-key "$W/key.pem" --pipelining
mxpeer 127.0.1.3 mx2.example.test --tls-cert "$W/cert.pem" --tls-key "$W/key.pem"

# --- two MX, the primary up and the backup up ---
chk --json --allow-private --timeout 5 example.test
t_is "healthy domain: exit 0" "$RC" 0
t_valid "healthy domain: --json validates against the schema"
t_is "healthy: status OK" "$(jget 'd["status"]')" OK
t_is "healthy: no warning or worse" \
	"$(jget 'len([f for f in d["findings"] if f["severity"] != "info"])')" 0
t_is "healthy: MX order and roles" \
	"$(jget '" ".join(m["host"]+"/"+m["role"]+"/"+str(m["preference"]) for m in d["mx"])')" \
	"mx1.example.test/primary/10 mx2.example.test/backup/20"
t_is "healthy: both accept mail" "$(jget '[m["accepts_mail"] for m in d["mx"]]')" "[True, True]"
t_is "healthy: MX TTL and A TTL" "$(jget 'd["dns"]["mx_ttl"], d["mx"][0]["a"]["ttl"]')" \
	"(3600, 300)"
t_is "healthy: PTR forward-confirmed" \
	"$(jget 'a(0)["ptr"]["names"], a(0)["ptr"]["forward_confirmed"]')" \
	"(['mx1.example.test'], True)"
t_is "healthy: banner name matches" "$(jget 's(0)["banner"]["name_matches"]')" True
t_is "healthy: STARTTLS negotiated" \
	"$(jget 's(0)["starttls"]["ok"], s(0)["starttls"]["certificate"]["name_matches"]')" \
	"(True, True)"
t_is "healthy: self-signed certificate reported" \
	"$(jget 's(0)["starttls"]["certificate"]["verified"]')" False
t_like "healthy: EHLO extensions" "$(jget 's(0)["extensions"]')" "'SIZE'.*'PIPELINING'"
t_is "healthy: SIZE" "$(jget 's(0)["size_limit"]')" 10240000
t_is "healthy: probe replies (MAIL, postmaster, nonexistent, foreign)" \
	"$(jget '[s(0)[k]["code"] for k in ("mail_from", "rcpt_postmaster",
	                                      "rcpt_nonexistent", "rcpt_foreign")]')" \
	"[250, 250, 550, 554]"
t_like "healthy: timing facts" "$(jget 's(0)["connect_ms"], s(0)["total_ms"]')" \
	'^\([0-9.]+, [0-9.]+\)$'
t_has "healthy: loopback noted as info with --allow-private" private_address info
t_hasnt "healthy: no open relay" open_relay
t_unlike "no message was delivered" "$(cat "$W"/bg.*.log)" 'mxpeer: message'

chk --allow-private --timeout 5 example.test
t_is "human report: exit 0" "$RC" 0
t_like "human report: verdict line" "$OUT" '^Verdict: OK - example\.test: 2 MX, 2 accept mail'
t_unlike "human report: no colour when not a terminal" "$OUT" $'\033'
t_like "human report: grouped per MX in preference order" \
	"$(grep -E '^ +(10|20)  mx' <<<"$OUT" | tr '\n' '|')" \
	'10  mx1\.example\.test  primary.*\|.*20  mx2\.example\.test  backup'
t_like "human report: TTL advice" "$OUT" 'about 300 s'

if world_have script; then
	OUT=$(TERM=xterm script -qec "'$BMX' check --resolver '$RESOLVER' --port '$P' \
		--allow-private --timeout 5 example.test" /dev/null)
	t_like "human report: colour on a terminal" "$OUT" $'\033\\[1;32mOK'
else
	t_skip "human report: colour on a terminal" "no script(1)"
fi

chk --nagios --allow-private --timeout 5 example.test
t_is "nagios: exit 0" "$RC" 0
t_like "nagios: one line with perfdata" "$OUT" \
	'^OK: example\.test: 2 MX, 2 accept mail, no problem found \| mx_count=2 '\
'mx1_example_test_connect=[0-9]+\.[0-9]+s mx2_example_test_connect=[0-9]+\.[0-9]+s$'
t_is "nagios: exactly one line" "$(wc -l <<<"$OUT")" 1

chk --json --no-smtp --allow-private example.test
t_is "--no-smtp: exit 0" "$RC" 0
t_valid "--no-smtp: schema"
t_is "--no-smtp: no SMTP object" "$(jget '[a["smtp"] for m in d["mx"] for a in m["addresses"]]')" \
	"[None, None]"
t_is "--no-smtp: option echoed" "$(jget 'd["options"]["smtp"]')" False

chk --json --timeout 5 example.test
t_is "without --allow-private: exit 1" "$RC" 1
t_has "without --allow-private: loopback is a warning" private_address warning mx1.example.test

chk --json -4 --allow-private --timeout 5 example.test
t_is "-4: exit 0" "$RC" 0
t_is "-4: family echoed, AAAA not asked" "$(jget 'd["options"]["family"]')" ipv4

# --- the primary refusing connections ---
chk --json --allow-private --timeout 5 refused.example.test
t_is "primary refused: exit 1 (a backup accepts mail)" "$RC" 1
t_valid "primary refused: schema"
t_has "primary refused: primary_down" primary_down warning
t_has "primary refused: mx_down for mx4" mx_down warning mx4.example.test
t_is "primary refused: status refused" "$(jget 's(0)["status"], d["mx"][0]["accepts_mail"]')" \
	"('refused', False)"
t_is "primary refused: backup accepts" "$(jget 'd["mx"][1]["accepts_mail"]')" True
chk --nagios --allow-private --timeout 5 refused.example.test
t_like "primary refused: nagios WARNING and U for the dead MX" "$OUT" \
	'^WARNING: refused\.example\.test: .*\| mx_count=2 '\
'mx4_example_test_connect=U mx2_example_test_connect=[0-9.]+s$'

# --- roles from the command line ---
chk --json --allow-private --timeout 5 --primary mx2.example.test example.test
t_is "--primary mx2: roles swapped" "$(jget '[m["role"] for m in d["mx"]]')" \
	"['backup', 'primary']"
t_has "--primary mx2: the backup is preferred" backup_preferred warning
chk --json --allow-private --timeout 5 --backup mx9.example.test example.test
t_has "--backup unknown host: reported" role_host_not_mx warning

# --- IDN and bad arguments ---
chk --json --allow-private --timeout 5 "bücher.example.test"
t_is "IDN: converted to an A-label" "$(jget 'd["domain"]')" "xn--bcher-kva.example.test"
t_has "IDN: single MX found" single_mx warning
L63=$(printf 'a%.0s' $(seq 64))
chk "$L63.example.test"
t_is "overlong label: exit 3" "$RC" 3
t_like "overlong label: clear error" "$ERR" 'bad domain.*63'
LONG=$(for i in $(seq 1 30); do printf 'abcdefghi.'; done)test
chk "$LONG"
t_is "name over 253 octets: exit 3" "$RC" 3
t_like "name over 253 octets: clear error" "$ERR" 'bad domain.*253'
chk 'exa mple.test'
t_is "bad characters: exit 3" "$RC" 3
t_like "bad characters: clear error" "$ERR" 'bad domain'
chk --nagios 'bad_domain!.test'
t_is "bad domain with --nagios: exit 3" "$RC" 3
t_like "bad domain with --nagios: UNKNOWN line" "$OUT" '^UNKNOWN: bad domain'
chk
t_is "no domain: exit 3" "$RC" 3
chk --json --nagios example.test
t_is "--json with --nagios: exit 3" "$RC" 3
chk --timeout 0 example.test
t_is "--timeout 0: exit 3" "$RC" 3
chk --port 70000 example.test
t_is "--port 70000: exit 3" "$RC" 3
chk --frobnicate example.test
t_is "unknown option: exit 3" "$RC" 3
OUT=$("$BMX" check --help); RC=$?
t_is "--help: exit 0" "$RC" 0
t_like "--help: documents --nagios" "$OUT" '--nagios'
OUT=$("$BMX" 2>&1); RC=$?
t_is "no subcommand: exit 3" "$RC" 3
t_like "no subcommand: lists check" "$OUT" 'check'

# --- a resolver that does not answer: UNKNOWN ---
DEAD=$(world_free_port)
t0=$(date +%s%N)
OUT=$("$BMX" check --resolver "127.0.0.1@$DEAD" --port "$P" --timeout 2 --json example.test \
	2>"$W/err")
RC=$?
ms=$((($(date +%s%N) - t0) / 1000000))
t_is "dead resolver: exit 3 (UNKNOWN)" "$RC" 3
t_has "dead resolver: dns_failure" dns_failure unknown
t_like "dead resolver: within the timeout + 1 s (${ms} ms)" "$ms" '^([0-9]{1,3}|[0-2][0-9]{3})$'

t_done
