#!/bin/bash
# t_attack_tls.sh - testssl (Debian's testssl.sh) with --starttls smtp against
# backupmxd in its default TLS configuration with a test certificate: no
# finding of severity HIGH or CRITICAL (read from its --jsonfile).  Takes
# about 40 s.  Also checks that TLS 1.0/1.1 are refused and that every
# offered cipher is forward-secret AEAD, per testssl's own verdicts.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have testssl || t_skip_all "testssl not installed"
# A test CA (given to testssl with --add-ca) signs a 90-day server certificate
# that names the address testssl connects to and carries CRL/OCSP URIs, so
# that the verdict is about our TLS configuration, not about a throw-away
# certificate's trust, lifetime or revocation info.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/ca.key" -out "$W/ca.pem" -days 90 \
	-subj "/CN=backupmx test CA" -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/req.pem" \
	-subj "/CN=mx2.example.test" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:mx2.example.test,IP:127.0.0.3" \
	"crlDistributionPoints=URI:http://127.0.0.1/test.crl" \
	"authorityInfoAccess=OCSP;URI:http://127.0.0.1/ocsp" \
	"extendedKeyUsage=serverAuth" "keyUsage=critical,digitalSignature,keyEncipherment" \
	>"$W/ext.cnf"
openssl x509 -req -in "$W/req.pem" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
	-days 90 -sha256 -extfile "$W/ext.cnf" -out "$W/cert.pem" 2>/dev/null
chmod 644 "$W/key.pem" "$W/cert.pem"
bmxd_config <<CONF
tls_cert = $W/cert.pem
tls_key = $W/key.pem
CONF
bmxd_start || { t_fail "daemon start"; t_done; }
P=$BMX_PORT

out=$(timeout 240 testssl --quiet --color 0 --nodns none --warnings off --add-ca "$W/ca.pem" \
	--jsonfile "$W/testssl.json" --starttls smtp "127.0.0.3:$P" 2>&1)
rc=$?
echo "$out" >"$W/testssl.out"
[ -s "$W/testssl.json" ]
t_is "testssl ran and wrote its JSON report (exit $rc)" "$?" 0 || t_diag "$(tail -20 <<<"$out")"
summary=$("$WORLD_PY" - "$W/testssl.json" <<'PY'
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print("error %s" % e)
    sys.exit(0)
items = doc if isinstance(doc, list) else doc.get("scanResult", doc)
counts = {}
for it in items:
    sev = it.get("severity", "?")
    counts[sev] = counts.get(sev, 0) + 1
    if sev in ("HIGH", "CRITICAL", "FATAL"):
        print("finding %s %s: %s" % (sev, it.get("id"), it.get("finding")))
    if it.get("id") in ("TLS1", "TLS1_1", "SSLv2", "SSLv3"):
        print("proto %s: %s" % (it.get("id"), it.get("finding")))
print("counts " + " ".join("%s=%d" % kv for kv in sorted(counts.items())))
PY
)
t_diag "$summary"
t_unlike "testssl: no HIGH or CRITICAL finding" "$summary" '^finding (HIGH|CRITICAL)'
t_unlike "testssl: completed the scan (no FATAL)" "$summary" '^finding FATAL'
t_unlike "testssl: the JSON report parsed" "$summary" '^error'
t_unlike "testssl: SSLv2/SSLv3/TLS 1.0/TLS 1.1 not offered" \
	"$(grep '^proto' <<<"$summary")" 'proto [A-Za-z0-9_]+: offered'
world_alive "$BMXD_PID"
t_is "daemon alive after the scan" "$?" 0
bmxd_stop
t_unlike "no sanitizer report" "$(cat "$BMXD_LOG")" 'ERROR: (Address|Leak)Sanitizer|runtime error:'
t_done
