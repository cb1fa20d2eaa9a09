#!/bin/bash
# t_attack_primary.sh - a malicious primary (tests/lib/evilmx.py) against
# backupmxd's delivery side: truncated, inconsistent, 1 MB, endless and
# NUL-laden replies at several stages, a primary that never greets or never
# answers EHLO (silent: the connect timeout must end it), and STARTTLS
# injection outbound.
# After each: the daemon is alive, ASan is silent, it did not stall, the
# message is still queued (not lost, not bounced).  Also: nothing backupmxd
# sends to a primary contains a bare CR or LF.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
EVIL="$WORLD_PY $BMX_ROOT/tests/lib/evilmx.py"
EPORT=$(world_free_port)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 2 \
	-subj "/CN=mx1.example.test" -addext "subjectAltName=DNS:mx1.example.test" 2>/dev/null
chmod 644 "$W/key.pem" "$W/cert.pem"
bmxd_config <<CONF
route example.test = [127.0.0.2]:$EPORT
retry_min = 1
retry_max = 2
probe_interval = 1
connect_timeout = 3
CONF
bmxd_start || { t_fail "daemon start"; t_done; }

# Start evilmx in MODE at STAGE with its log dir $W/evil.N; sets EV_DIR, EV_PID.
EVN=0
evil_start()
{
	EVN=$((EVN + 1))
	EV_DIR=$W/evil.$EVN
	mkdir -p "$EV_DIR"
	world_bg $EVIL --listen "127.0.0.2:$EPORT" --mode "$1" --at "$2" --dir "$EV_DIR" \
		--tls-cert "$W/cert.pem" --tls-key "$W/key.pem"
	EV_PID=$BG_PID
	world_wait_port 127.0.0.2 "$EPORT" 10
}

# Submit one message to backupmxd (body from $1); 0 when it was queued.
submit() { bmxd_submit "Subject: evil $1\r\n\r\n$1 body\r\n..a dot line\r\n\r\n" >/dev/null; }

# The daemon answers a control request within 5 s (no stall of its loop).
responsive()
{
	timeout 5 "$BMX" -c "$W/bmx.conf" status >/dev/null 2>&1 ||
		timeout 5 "$WORLD_PY" -c "
import socket,sys
s=socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(b'status\n'); d=s.recv(100); sys.exit(0 if d else 1)" "$BMX_SPOOL/control.sock"
}

# --- control case: a well-behaved primary gets the message, CRLF-clean ---
evil_start ok greet
submit control || t_fail "control message accepted"
world_wait_event '^[0-9]+ message' 20
t_is "control: delivered to a well-behaved primary" "$?" 0
sleep 1
t_is "control: queue empty after delivery" "$(bmxd_queue_files | wc -l)" 0
out=$($EVIL --check "$EV_DIR"); rc=$?
t_is "control: no bare CR or LF sent to the primary ($out)" "$rc" 0
world_kill "$EV_PID"

# --- the attacks: each must leave the message queued ---
queued=0
cases=(
	"truncated greet" "truncated ehlo" "truncated rcpt" "truncated dot"
	"inconsistent greet" "inconsistent rcpt" "inconsistent dot"
	"huge greet" "huge ehlo" "longline greet" "longline rcpt"
	"endless greet" "endless ehlo"
	"nul greet" "nul rcpt" "nul dot"
	"silent greet" "silent ehlo"
)
for c in "${cases[@]}"; do
	set -- $c
	evil_start "$1" "$2"
	t0=$(date +%s)
	submit "$1-$2" && queued=$((queued + 1))
	world_wait_event "strike $1 $2" 20
	t_is "$c: the primary struck" "$?" 0
	if [ "$1" = silent ]; then
		# connect_timeout = 3: backupmxd must hang up, not wait forever
		world_wait_event '^[0-9]+ close' 10
		t_is "$c: backupmxd hung up on the silent primary" "$?" 0
	fi
	sleep 2
	world_alive "$BMXD_PID"
	t_is "$c: daemon alive" "$?" 0 || break
	responsive
	t_is "$c: daemon responsive" "$?" 0
	t_is "$c: the message is still queued (not lost, not bounced)" \
		"$(bmxd_queue_files | wc -l)" "$queued"
	t_unlike "$c: no sanitizer report" "$(cat "$BMXD_LOG")" 'ERROR: AddressSanitizer|runtime error:'
	out=$($EVIL --check "$EV_DIR"); rc=$?
	t_is "$c: no bare CR or LF sent ($out)" "$rc" 0
	t_ok "$c: handled in $(($(date +%s) - t0)) s"
	world_kill "$EV_PID"
done

# --- STARTTLS injection outbound: extra plaintext after "220 Ready" ---
evil_start inject greet
submit inject && queued=$((queued + 1))
world_wait_event 'strike inject' 20
t_is "inject: STARTTLS answered with injected bytes" "$?" 0
world_wait_event 'tls-first|tls-failed|close' 20
sleep 2
ev=$(cat "$EV_DIR/events.log")
t_unlike "inject: backupmxd never acted on the injected replies" "$ev" 'INJECTION-ACTED'
t_unlike "inject: nothing pipelined after STARTTLS" "$ev" 'client-pipelined-after-starttls'
out=$($EVIL --check "$EV_DIR"); rc=$?
t_is "inject: no bare CR/LF, no injection acted on ($out)" "$rc" 0
world_alive "$BMXD_PID"
t_is "inject: daemon alive" "$?" 0
t_unlike "inject: no sanitizer report" "$(cat "$BMXD_LOG")" 'ERROR: AddressSanitizer|runtime error:'
INJ_DIR=$EV_DIR
world_kill "$EV_PID"

# --- finally a good primary again: everything queued goes out, no bounce ---
# (the inject primary behaves once TLS is up, so it may already have had them)
evil_start ok greet
world_wait_until 20 bmxd_queue_empty
t_is "recovery: the queue drains to a good primary" "$(bmxd_queue_files | wc -l)" 0
n=$(cat "$INJ_DIR/events.log" "$EV_DIR/events.log" 2>/dev/null | grep -c ' message$')
[ "$n" -ge "$queued" ]
t_is "recovery: every queued message ($queued) delivered (got $n)" "$?" 0
t_unlike "recovery: no DSN was delivered" "$(cat "$INJ_DIR"/conn-*.raw "$EV_DIR"/conn-*.raw \
	2>/dev/null)" 'MAIL FROM:<>'
out=$($EVIL --check "$EV_DIR"); rc=$?
t_is "recovery: no bare CR or LF sent ($out)" "$rc" 0
bmxd_stop
t_unlike "no sanitizer report at exit" "$(cat "$BMXD_LOG")" \
	'ERROR: (Address|Leak)Sanitizer|runtime error:'
t_done
