#!/bin/bash
# drain_xclient.sh - what telling a Postfix primary the original client with
# XCLIENT (issue 14) costs the drain of a backlog, against XFORWARD.
#
#   bench/drain_xclient.sh [BUILD_DIR] [MESSAGES] [CLIENTS]
#                          (default: build 1000 200)
#
# In its own network namespace (it re-executes itself under `unshare -n`, so
# it needs root), with the test world of tests/lib/world.sh, loopback only:
#   - unbound (test DNS): example.test MX 10 mx1 (127.0.0.2), MX 20 mx2
#     (127.0.0.3); 127.in-addr.arpa static (no PTRs: every client is
#     "unknown", sent as NAME=[UNAVAILABLE]).
#   - the primary: a real Postfix (tests/lib/postfix.sh) on 127.0.0.2:PORT,
#     virtual_transport = discard, no milters, up all the time;
#   - backupmxd on 127.0.0.3:PORT, primary_up = queue, max_concurrency 10
#     (default), log_level = info.
# Per run: a fresh backupmxd holds example.test (`backupmx hold`), then
# bench/lib/xcsend.py queues MESSAGES messages (4 KiB) from CLIENTS client
# addresses 127.1.0.1... (one SMTP session per message, HELO c<i>.client.test;
# CLIENTS 1 = all from one client); at T0 `backupmx release`; drained = the
# spool's queue directory is empty.  Runs, one after the other:
#   1. xforward:      the primary authorises XFORWARD only for 127.0.0.3;
#   2. xclient-1:     XCLIENT (and XFORWARD) authorised, one client;
#   3. xclient-many:  XCLIENT authorised, CLIENTS clients (messages of one
#                     client are not adjacent: i mod CLIENTS, so nearly every
#                     message needs its own connection).
# BMX_BENCH_TLS=1: the primary offers STARTTLS (a fresh self-signed RSA 2048
# certificate), so every session of backupmxd (tls_policy = may) pays a TLS
# handshake.
# Prints per run: drained (s), msgs/s, and the primary's sessions (Postfix's
# "disconnect from" lines), XCLIENT commands and TLS sessions.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build}")
MSGS=${2:-1000}
CLIENTS=${3:-200}
if [ -z "${BMX_BENCH_NS:-}" ]; then
	exec unshare -n env BMX_BENCH_NS=1 bash -c 'ip link set lo up && exec "$0" "$@"' \
		"$0" "$BUILD" "$MSGS" "$CLIENTS"
fi
export BMX_ROOT=$ROOT BMX_BUILD=$BUILD
[ -x "$BUILD/backupmxd" ] || { echo "no $BUILD/backupmxd: run make first" >&2; exit 1; }

# One run: run_one NAME XCLIENT(0|1) CLIENTS; prints one result line.
run_one()
{
	local name=$1 xc=$2 nclients=$3
	(
	. "$ROOT/tests/lib/world.sh"
	. "$ROOT/tests/lib/bmxd.sh"
	. "$ROOT/tests/lib/postfix.sh"
	world_init
	trap 'pf_stop_all; world_cleanup' EXIT
	for a in 2 3; do ip addr add "127.0.0.$a/8" dev lo 2>/dev/null; done
	bmxd_world_dns <<'EOD'
local-zone: "127.in-addr.arpa." static
local-data: "127.in-addr.arpa. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
EOD
	PRI=$W/pf
	local xch="" tls=""
	[ "$xc" = 1 ] && xch=127.0.0.3
	if [ "${BMX_BENCH_TLS:-0}" = 1 ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" \
			-days 2 -subj "/CN=mx1.example.test" >/dev/null 2>&1 || exit 1
		chmod 644 "$W/key.pem"
		tls=$(printf 'smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\nsmtpd_tls_security_level = may\nsmtpd_tls_loglevel = 1' \
			"$W/cert.pem" "$W/key.pem")
	fi
	PF_HOSTNAME=mx1.example.test pf_config "$PRI" 127.0.0.2 "$BMX_PORT" primary <<EOD
mynetworks =
virtual_transport = discard
smtpd_authorized_xclient_hosts = $xch
smtpd_authorized_xforward_hosts = 127.0.0.3
$tls
EOD
	pf_start "$PRI" || { echo "$name: the Postfix primary did not start"; exit 1; }
	bmxd_relay_config <<EOD
primary_up = queue
max_connections_per_ip = 100
bind_address = 127.0.0.3
EOD
	sed -i 's/^log_level = debug/log_level = info/' "$W/bmx.conf"
	bmxd_start || { echo "$name: backupmxd did not start"; exit 1; }
	local ctl=(--control "$BMX_SPOOL/control.sock")
	"$BMX" hold "${ctl[@]}" example.test >/dev/null 2>&1 ||
		"$BMX" hold --force "${ctl[@]}" example.test >/dev/null 2>&1 ||
		{ echo "$name: hold failed"; exit 1; }
	local q0=$SECONDS
	"$WORLD_PY" "$ROOT/bench/lib/xcsend.py" 127.0.0.3 "$BMX_PORT" "$MSGS" "$nclients" \
		>"$W/send.log" 2>&1 || { echo "$name: xcsend failed: $(tail -3 "$W/send.log")"; exit 1; }
	local qt=$((SECONDS - q0)) queued
	queued=$(find "$BMX_SPOOL/queue" -type f | wc -l)
	local t0 t2 now
	t0=$(date +%s.%N)
	"$BMX" release "${ctl[@]}" example.test >/dev/null 2>&1 || { echo "$name: release failed"; exit 1; }
	while :; do
		now=$(date +%s.%N)
		if [ -z "$(find "$BMX_SPOOL/queue" -type f | head -1)" ]; then
			t2=$now; break
		fi
		if [ "$(echo "$now - $t0 > 600" | bc)" = 1 ]; then
			echo "$name: timeout: $(find "$BMX_SPOOL/queue" -type f | wc -l) left"; exit 1
		fi
		sleep 0.05
	done
	sleep 2   # postlogd writes asynchronously
	local drain sessions xcl refused tlsn
	drain=$(echo "scale=2; ($t2 - $t0) / 1" | bc)
	sessions=$(pf_log "$PRI" | grep -c 'smtpd.*disconnect from')
	xcl=$(pf_log "$PRI" | grep 'smtpd.*disconnect from' | grep -o 'xclient=[0-9]*/[0-9]*' |
		awk -F/ '{ n += $2 } END { print n + 0 }')
	refused=$(grep -c 'XCLIENT refused' "$W/backupmxd.log")
	tlsn=$(pf_log "$PRI" | grep -c 'smtpd.*TLS connection established')
	printf '%-13s messages %5d clients %4d  queued %5d in %3d s  drained %7.2f s  %6.0f msgs/s' \
		"$name" "$MSGS" "$nclients" "$queued" "$qt" "$drain" "$(echo "$MSGS / $drain" | bc -l)"
	printf '  primary sessions %5d  XCLIENT %5d  refused %d  TLS %d\n' "$sessions" "$xcl" \
		"$refused" "$tlsn"
	)
}

echo "# drain_xclient: backupmxd $BUILD/backupmxd, $(nproc) cores, Postfix $(postconf -d -h mail_version) primary (discard), TLS ${BMX_BENCH_TLS:-0}"
run_one xforward 0 "$CLIENTS"
run_one xclient-1 1 1
run_one xclient-many 1 "$CLIENTS"
