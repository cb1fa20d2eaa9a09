#!/bin/bash
# t_valgrind.sh - backupmxd (the plain, non-sanitized build) under valgrind
# memcheck through a short scenario: 20 messages received (plain, STARTTLS
# with a test certificate, a bare-LF smuggling attempt), relay refusals,
# delivery to smtp-sink, control socket queries, then SIGTERM.  Valgrind must
# report no errors and no definitely lost blocks ("still reachable" from
# libunbound's thread and OpenSSL is ignored).
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
world_have valgrind || t_skip_all "valgrind is not installed"
PLAIN="$BMX_ROOT/build/backupmxd"
[ -x "$PLAIN" ] || t_skip_all "non-sanitized build/backupmxd not built (run make)"
[ -x "$BMX_ROOT/build/backupmx" ] && BMX="$BMX_ROOT/build/backupmx"
VGLOG=$W/valgrind.log
# bmxd_start runs "$BMXD"; make it valgrind (exec keeps the PID).
cat >"$W/vg.sh" <<SH
#!/bin/sh
exec valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
	--track-fds=no --log-file="$VGLOG" "$PLAIN" "\$@"
SH
chmod 755 "$W/vg.sh"
BMXD=$W/vg.sh
SPORT=$(world_free_port)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 2 \
	-subj "/CN=mx2.example.test" -addext "subjectAltName=DNS:mx2.example.test" 2>/dev/null
chmod 644 "$W/key.pem" "$W/cert.pem"
bmxd_config <<CONF
route example.test = [127.0.0.2]:$SPORT
tls_cert = $W/cert.pem
tls_key = $W/key.pem
retry_min = 1
retry_max = 2
probe_interval = 1
connect_timeout = 2
CONF
world_sink_start 127.0.0.2 "$SPORT"
WORLD_START_TIMEOUT=30
t0=$SECONDS
bmxd_start || { t_fail "daemon start under valgrind" "$(tail -20 "$VGLOG")"; t_done; }
t_diag "started under valgrind in $((SECONDS - t0)) s"
P=$BMX_PORT

# 16 plain messages.
smtp-source -s 4 -m 16 -f s@client.test -t r@example.test 127.0.0.3:"$P" >"$W/source.log" 2>&1
t_is "smtp-source: 16 messages" "$?" 0 || t_diag "$(cat "$W/source.log")"

# Relay refused, twice (and an unknown command and RSET on the way).
out=$(world_smtpraw --timeout 20 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<a@c.test>\r\n"
expect 250
send b"RCPT TO:<x@elsewhere.test>\r\n"
expect 554
send b"RCPT TO:<u@[127.0.0.1]>\r\n"
expect 5
send b"FOO\r\n"
expect 5
send b"RSET\r\n"
expect 250
send b"QUIT\r\n"
expect 221
SCR
)
t_is "relay refused" "$?" 0 || t_diag "$out"

# A bare-LF smuggling attempt: 521 and close, neither message accepted.
out=$(world_smtpraw --timeout 20 127.0.0.3 "$P" <<'SCR'
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<good@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 354
send b"Subject: smuggle\r\n\r\nbody\n.\n" b"MAIL FROM:<evil@c.test>\r\nRCPT TO:<v@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n"
read
send b"QUIT\r\n"
read
SCR
)
t_is "smuggle: one transaction only" "$(printf '%s\n' "$out" | grep -c '^S: 250 2.1.0')" 1 ||
	t_diag "$out"
t_like "smuggle: bare LF refused" "$out" 'S: 5[0-9][0-9] '
N=19   # 16 plain + 3 TLS

# Three messages over STARTTLS.
for i in 1 2 3; do
	out=$(world_smtpraw --timeout 20 127.0.0.3 "$P" <<SCR
expect 220
send b"EHLO c.test\r\n"
expect 250 STARTTLS
send b"STARTTLS\r\n"
expect 220
starttls
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<t@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 354
send b"Subject: tls $i\r\n\r\nover TLS\r\n.\r\n"
expect 250
send b"QUIT\r\n"
expect 221
SCR
)
	t_is "STARTTLS message $i" "$?" 0 || t_diag "$out"
done

# Delivery of all $N to the sink.
delivered() { world_sink_has $N && bmxd_queue_empty; }
world_wait_until 30 delivered
t_is "$N messages delivered to the primary" "$(world_sink_count)" $N
t_is "queue empty" "$(bmxd_queue_files | grep -c .)" 0

# Control socket queries.
CTL=(--control "$BMX_SPOOL/control.sock")
"$BMX" status "${CTL[@]}" >"$W/status.out" 2>&1
t_is "control: status" "$?" 0 || t_diag "$(cat "$W/status.out")"
"$BMX" queue "${CTL[@]}" >"$W/queue.out" 2>&1
t_is "control: queue" "$?" 0 || t_diag "$(cat "$W/queue.out")"
"$BMX" hold example.test "${CTL[@]}" >/dev/null 2>&1 && "$BMX" release example.test "${CTL[@]}" \
	>/dev/null 2>&1
t_is "control: hold and release" "$?" 0
"$WORLD_PY" - "$BMX_SPOOL/control.sock" >/dev/null 2>&1 <<'PY'
import socket, sys
for req in (b"text status\n", b"text queue\n", b"metrics\n", b"show NOSUCHID\n", b"bogus\n"):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.sendall(req)
    while s.recv(65536):
        pass
    s.close()
PY
t_is "control: raw requests (text status/queue, metrics, errors)" "$?" 0

# SIGTERM: valgrind writes its summary and exits.
t1=$SECONDS
bmxd_stop
t_diag "stopped in $((SECONDS - t1)) s, exit status ${BMXD_RC:-?}, total $((SECONDS - t0)) s"
[ "${BMXD_RC:-99}" != 99 ]
t_is "valgrind exit status is not 99 (status ${BMXD_RC:-?})" "$?" 0
summary=$(grep -h 'ERROR SUMMARY' "$VGLOG" | tail -1)
t_diag "valgrind: $summary"
grep -h 'definitely lost\|indirectly lost\|still reachable' "$VGLOG" | sed 's/^==[0-9]*== *//' |
	while IFS= read -r l; do t_diag "  $l"; done
t_like "valgrind: ERROR SUMMARY: 0 errors" "$summary" 'ERROR SUMMARY: 0 errors'
bad=$(grep -h 'definitely lost: [1-9]\|are definitely lost' "$VGLOG" | head -5)
t_is "valgrind: nothing definitely lost" "$bad" ""
if [ -n "$bad" ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$VGLOG"; then
	t_diag "$(grep -v '^==[0-9]*== *$' "$VGLOG" | head -80)"
fi
t_done
