#!/bin/bash
# t_admin.sh - the admin's first hour (issue 15): `backupmxd -n` refuses what
# the daemon refuses (missing recipients file, unknown user, https or named
# webhook, a listen address not on this host) and says what it checked; the
# command line as people type it (global -c/--control, --version, -V,
# --help, the ADDR:PORT resolver hint); lines for a person by default and
# JSON with --json; errors on stderr with exit 1; why mail waits (queue,
# status, held, flush of a held domain, drill's last error); refusals (hold
# of a domain not relayed, release of one not held); a message's size the
# same across a restart; one client-name snapshot for the Received: header,
# the queue and the log even when the PTR answer comes after MAIL; a 0755
# spool made 0700; the README's example paths against the defaults.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] && [ -x "$BMX" ] || t_skip_all "backupmx/backupmxd not built"

bmxd_world_dns <<'EOF'
local-zone: "127.in-addr.arpa." static
local-data: "127.in-addr.arpa. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "1.0.0.127.in-addr.arpa. 300 IN PTR late-ptr.client.test."
EOF
P=$BMX_PORT
ROOT=0
[ "$(id -u)" = 0 ] && ROOT=1

# Write a config file $1 for -n checks: the test defaults plus lines from stdin.
nconf()
{
	{
		echo "hostname = mx2.example.test"
		echo "listen = 127.0.0.3:$(world_free_port)"
		echo "spool = $W/nspool"
		echo "relay_domains = example.test"
		echo "resolver = $RESOLVER"
		[ $ROOT = 1 ] && echo "user = nobody"
		cat
	} >"$1"
}

# backupmxd -n on config $1: sets NOUT (stdout+stderr) and NRC.
ncheck() { NOUT=$("$BMXD" -n -c "$1" 2>&1); NRC=$?; }

# --- backupmxd -n: the four cases the daemon refused after -n said yes --------
nconf "$W/n_rcpt.conf" <<<"recipients = $W/no-such-file"
ncheck "$W/n_rcpt.conf"
t_is "-n: a missing recipients file exits 1" "$NRC" 1
t_like "-n: ... and says so" "$NOUT" 'recipients: .*no-such-file.*No such file'
if [ $ROOT = 1 ]; then
	nconf "$W/n_user.conf" </dev/null
	sed -i 's/^user = nobody/user = no-such-user-bmx/' "$W/n_user.conf"
	ncheck "$W/n_user.conf"
	t_is "-n: an unknown user exits 1" "$NRC" 1
	t_like "-n: ... and says how to create it" "$NOUT" 'no-such-user-bmx: no such user.*useradd'
	# the recipients table is read as the run-time user, as the daemon reads it
	printf 'a@example.test\n' >"$W/rcpts.private"
	chmod 600 "$W/rcpts.private"
	nconf "$W/n_perm.conf" <<<"recipients = $W/rcpts.private"
	ncheck "$W/n_perm.conf"
	t_is "-n: a recipients file that user nobody cannot read exits 1" "$NRC" 1
	t_like "-n: ... read as user nobody" "$NOUT" 'Permission denied.*read as user nobody'
else
	t_skip "-n: unknown user" "not root"
fi
nconf "$W/n_https.conf" <<<"alert_webhook = https://127.0.0.1:9000/hook"
ncheck "$W/n_https.conf"
t_is "-n: an https webhook exits 1" "$NRC" 1
t_like "-n: ... https is not supported" "$NOUT" 'https is not supported'
nconf "$W/n_name.conf" <<<"alert_webhook = http://hooks.example.test/x"
ncheck "$W/n_name.conf"
t_is "-n: a webhook with a host name exits 1" "$NRC" 1
t_like "-n: ... numeric IP" "$NOUT" 'numeric IP'
nconf "$W/n_listen.conf" </dev/null
sed -i 's/^listen = .*/listen = 192.0.2.77:2525/' "$W/n_listen.conf"
ncheck "$W/n_listen.conf"
t_is "-n: a listen address not on this host exits 1" "$NRC" 1
t_like "-n: ... cannot bind" "$NOUT" 'listen 192.0.2.77:2525: cannot bind: Cannot assign'
# the daemon itself refuses the missing recipients file before it listens
"$BMXD" -c "$W/n_rcpt.conf" >"$W/d_rcpt.log" 2>&1
t_is "the daemon refuses the same config (exit 1)" "$?" 1
t_unlike "... before it says it is listening" "$(cat "$W/d_rcpt.log")" 'listening on'
t_is "... and logs the listen failure once, not twice" \
	"$("$BMXD" -c "$W/n_listen.conf" 2>&1 | grep -c '192.0.2.77')" 1
# a good config: what was checked, then the settings
printf 'a@example.test\n' >"$W/rcpts"
chmod 644 "$W/rcpts"
nconf "$W/n_good.conf" <<<"recipients = $W/rcpts"
ncheck "$W/n_good.conf"
t_is "-n: a good config exits 0" "$NRC" 0 || t_diag "$NOUT"
t_like "-n: says the recipients were checked" "$NOUT" '^# checked: recipients .*1 entries'
t_like "-n: says the listen address can be bound" "$NOUT" '^# checked: listen 127.0.0.3:[0-9]+ can be bound'
t_like "-n: then the settings" "$NOUT" '^max_concurrency = 10'

# --- the daemon, the primary down --------------------------------------------
# reverse lookups answered 1 s late: the client's MAIL comes before the name
DD=$(world_free_port)
world_bg "$WORLD_PY" "$WORLD_LIB/dnsdelay.py" --listen "127.0.0.1:$DD" \
	--upstream "127.0.0.1:$DNS_PORT" --ptr-delay-ms 1000
world_wait_until 5 grep -q listening "$BG_LOG" || t_fail "dnsdelay did not start"
RESOLVER=127.0.0.1@$DD
mkdir -m 0755 "$W/spool"
bmxd_relay_config </dev/null
bmxd_start || { t_fail "daemon start"; t_done; }
CTL=(--control "$BMX_SPOOL/control.sock")
t_is "a 0755 spool is made 0700 at start" "$(stat -c %a "$BMX_SPOOL")" 700

# --- one client-name snapshot (Received:, queue, log) -------------------------
world_smtpraw --source 127.0.0.1 127.0.0.3 "$P" >"$W/raw.out" 2>&1 <<'SCR'
expect 220
send b"EHLO client.test\r\n"
expect 250
send b"MAIL FROM:<s@client.test>\r\n"
expect 250
sleep 2.5
send b"RCPT TO:<r@example.test>\r\nDATA\r\n"
expect 250
expect 354
send b"Subject: late ptr\r\n\r\nbody\r\n.\r\n"
expect 250 2.0.0 Ok: queued as
send b"QUIT\r\n"
expect 221
SCR
t_is "the late-PTR session went through" "$?" 0 || t_diag "$(cat "$W/raw.out")"
QID=$(bmxd_queue_files | head -1)
RCV=$(grep -a -m1 '^Received: from' "$BMX_SPOOL/queue/$QID")
QNAME=$("$BMX" queue show --json "$QID" "${CTL[@]}" |
	"$WORLD_PY" -c 'import json,sys; print(json.load(sys.stdin)["client_name"])')
LNAME=$(sed -n "s/.*$QID: from=.*client=\([^[]*\)\[.*/\1/p" "$BMXD_LOG" | head -1)
t_diag "Received: $RCV; queue: $QNAME; log: $LNAME"
t_like "Received: names the client" "$RCV" '\(late-ptr\.client\.test \[127\.0\.0\.1\]\)'
t_is "queue show --json: the same name as Received:" "$QNAME" "late-ptr.client.test"
t_is "the log: the same name as Received:" "$LNAME" "late-ptr.client.test"

# --- one size definition, the same across a restart --------------------------
sleep 3   # the probe marks the primary down
size1=$("$BMX" queue --json "${CTL[@]}" | "$WORLD_PY" -c '
import json, sys; print(json.loads(sys.stdin.readline())["size"])')
bytes1=$(bmxd_status_dest example.test | "$WORLD_PY" -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')
fsize=$(stat -c %s "$BMX_SPOOL/queue/$QID")
bmxd_stop
bmxd_start || t_fail "restart"
size2=$("$BMX" queue --json "${CTL[@]}" | "$WORLD_PY" -c '
import json, sys; print(json.loads(sys.stdin.readline())["size"])')
sleep 3
bytes2=$(bmxd_status_dest example.test | "$WORLD_PY" -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')
t_diag "size before $size1, after $size2; status bytes $bytes1 / $bytes2; queue file $fsize"
t_is "a message's size is the same after a restart" "$size2" "$size1"
t_is "status BYTES are the same after a restart" "$bytes2" "$bytes1"
[ "$size1" -gt 0 ] && [ "$size1" -lt "$fsize" ] && t_ok "the size counts the stored message" ||
	t_fail "size $size1 vs queue file $fsize"

# --- the command line as people type it --------------------------------------
out=$("$BMX" -c "$W/bmx.conf" queue 2>&1); rc=$?
t_is "backupmx -c FILE queue exits 0" "$rc" 0 || t_diag "$out"
t_like "... and lists the queue" "$out" "$QID"
out=$("$BMX" --control "$BMX_SPOOL/control.sock" status 2>&1)
t_is "backupmx --control PATH status exits 0" "$?" 0
t_like "... and shows example.test" "$out" 'example.test +down'
t_like "backupmx --help mentions -c" "$("$BMX" --help)" '-c, --config FILE'
t_like "backupmx --version" "$("$BMX" --version)" '^backupmx [0-9]+\.[0-9]+'
t_like "backupmxd -V" "$("$BMXD" -V)" '^backupmxd [0-9]+\.[0-9]+'
out=$("$BMXD" --help 2>&1); rc=$?
t_is "backupmxd --help exits 0" "$rc" 0
t_like "backupmxd --help describes -n" "$out" '-n, --check'
out=$("$BMX" check --resolver "127.0.0.1:$DNS_PORT" --no-smtp example.test 2>&1)
t_like "check --resolver ADDR:PORT says to use ADDR@PORT" "$out" "use ADDR@PORT.*127.0.0.1@$DNS_PORT"

# --- why mail waits -------------------------------------------------------------
out=$("$BMX" queue "${CTL[@]}")
t_like "queue: each recipient says why it waits" "$out" \
	'waiting: example.test down for [0-9]+s: .*Connection refused; next attempt when a probe'
t_unlike "queue: no bare (pending)" "$out" '\(pending\)'
t_like "status: the ramp as what it is" "$("$BMX" status "${CTL[@]}")" \
	'connections: 0 \(ramp 2 of max 10\)'
out=$("$BMX" queue show "$QID" "${CTL[@]}" 2>&1)
t_like "queue show: a person's report" "$out" "^Queue ID:  $QID"
t_like "queue show: the headers on their own lines" "$out" $'\nReceived: from client.test'
t_unlike "queue show: no JSON, no \\\\r\\\\n escapes" "$out" '\\r\\n|^\{'
t_like "queue show --json: the document" "$("$BMX" queue show --json "$QID" "${CTL[@]}")" '^\{"message":'
"$BMX" queue show 8E9AAAAAAAAAAAAAAAAA "${CTL[@]}" >"$W/o" 2>"$W/e"
t_is "queue show NOSUCHID exits 1" "$?" 1
t_is "... with nothing on stdout" "$(cat "$W/o")" ""
t_like "... and the error on stderr" "$(cat "$W/e")" 'no such message'

# --- hold, flush, release: human lines, refusals --------------------------------
"$BMX" hold example.tset "${CTL[@]}" >"$W/o" 2>"$W/e"
t_is "hold of a typo exits 1" "$?" 1
t_like "... saying it is not relayed" "$(cat "$W/e")" 'example.tset: not in relay_domains'
out=$("$BMX" hold --force other.test "${CTL[@]}" 2>&1)
t_is "hold --force of an unrelayed domain exits 0" "$?" 0
"$BMX" release other.test "${CTL[@]}" >/dev/null 2>&1
out=$("$BMX" hold example.test "${CTL[@]}" 2>&1)
t_like "hold prints a line for a person" "$out" '^example.test: held; nothing is delivered until'
t_like "hold --json prints the document" "$("$BMX" hold --json example.test "${CTL[@]}")" \
	'^\{"held":"example.test"\}'
st=$("$BMX" status "${CTL[@]}")
t_like "status: a held destination says held" "$st" 'held: delivery paused'
t_unlike "status: ... not its stale last error" "$st" 'last error'
t_like "queue: held recipients say held" "$("$BMX" queue "${CTL[@]}")" 'held: delivery to example.test is paused'
"$BMX" flush example.test "${CTL[@]}" >"$W/o" 2>"$W/e"
t_is "flush of a held domain exits 1" "$?" 1
t_like "... and says it is held" "$(cat "$W/e")" 'example.test: held: nothing scheduled'
out=$("$BMX" release example.test "${CTL[@]}" 2>&1)
t_like "release prints a line for a person" "$out" '^example.test: released'
"$BMX" release example.test "${CTL[@]}" >"$W/o" 2>"$W/e"
t_is "release of a domain that is not held exits 1" "$?" 1
t_like "... and says so" "$(cat "$W/e")" 'example.test: not held'
out=$("$BMX" flush example.test "${CTL[@]}" 2>&1)
t_like "flush prints a count" "$out" '^example.test: [0-9]+ message\(s\) scheduled'
t_like "flush --json prints the document" "$("$BMX" flush --json "${CTL[@]}")" '"scheduled":'

# --- drill names the last delivery error when it times out ----------------------
out=$("$BMX" drill --resolver "$RESOLVER" --port "$P" --allow-private --timeout 5 \
	--within 3 "${CTL[@]}" example.test 2>&1)
t_like "drill timing out names the last delivery error" "$out" \
	'not delivered to the primary within 3 s \(last delivery error: .*Connection refused\)'

# --- the log: no control noise at info, "down for" ------------------------------
sed -i 's/^log_level = debug/log_level = info/' "$W/bmx.conf"
bmxd_stop
bmxd_start || t_fail "restart at log_level info"
n0=$(wc -l <"$BMXD_LOG")
"$BMX" status "${CTL[@]}" >/dev/null
t_unlike "control requests are not logged at info" "$(tail -n +"$((n0 + 1))" "$BMXD_LOG")" 'control:'
world_sink_start 127.0.0.2 "$P"
world_wait_until 15 grep -q 'is up again' "$BMXD_LOG"
t_like "the log says down for, not down since" "$(grep 'is up again' "$BMXD_LOG")" '\(down for [0-9]+s'

# --- the README's examples use the defaults ---------------------------------------
RD=$BMX_ROOT/README.md
t_unlike "README's control socket paths are the default <spool>/control" "$(cat "$RD")" \
	'/var/spool/backupmx/control\.sock'
t_like "README states probe_interval's default" "$(cat "$RD")" 'every\s+10 seconds \(`probe_interval`\)'
t_like "config-keys.md: probe_interval defaults to 10" "$(cat "$BMX_ROOT/docs/config-keys.md")" \
	'\| `probe_interval` \| `10` \|'
t_done
