#!/bin/bash
# demo.sh - "make demo": a self-contained backup-MX failover on loopback.
#
#   tests/demo/demo.sh [BUILD_DIR]          (as root; BUILD_DIR defaults to build)
#
# Runs inside its own network namespace (it re-executes itself under
# `unshare -n`), so no packet can leave the machine.  In there:
#   - unbound serves example.test: MX 10 mx1.example.test (127.0.0.2),
#     MX 20 mx2.example.test (127.0.0.3);
#   - a real Postfix instance (own config, queue and data directories under a
#     temp dir) is the primary, listening only on 127.0.0.2:25 and delivering
#     example.test into one maildir (smtp-sink stands in only if Postfix
#     cannot run, and the demo says so);
#   - backupmxd is the backup on 127.0.0.3:25 (status page 127.0.0.3:8025);
#   - "backupmx drill --via-mx" sends the way an RFC 5321 sender does: MX
#     lookup, primary first, fall back to the backup.
# Timeline: 1 primary up, mail goes straight to it; 2 primary stopped, the
# sender falls back, backupmxd queues; 3 status shows the primary down and the
# queue growing; 4 primary started again, backupmxd drains; 5 every message
# is counted at the primary, exactly once.  Ends with "VERDICT: PASS" (exit
# 0) or "VERDICT: FAIL" (exit 1).  Every process and the temp dir are removed
# on exit, also on Ctrl-C.
#
# Environment: DEMO_N1 (messages in step 1, default 3), DEMO_N2 (per batch in
# step 2, two batches, default 3), DEMO_KEEP=1 keeps the temp dir,
# DEMO_RUN_ON=1 (make demo KEEP=1) leaves the world running after the verdict
# and prints how to reach it (status page, CLI) and how to stop it.
set -u
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
PATH=$PATH:/usr/sbin:/sbin

if [ "$(id -u)" != 0 ]; then
	echo "demo: must run as root (it starts Postfix and binds port 25 in a private" \
	     "network namespace)" >&2
	exit 1
fi
if [ -z "${BMX_DEMO_NS:-}" ]; then
	export BMX_DEMO_NS=1
	exec unshare -n bash "$0" "$BUILD"
fi
ip link set lo up || { echo "demo: cannot bring up lo" >&2; exit 1; }
# Postfix's inet_interfaces wants the exact address on an interface.
ip addr add 127.0.0.2/8 dev lo 2>/dev/null
ip addr add 127.0.0.3/8 dev lo 2>/dev/null

BMX=$BUILD/backupmx
BMXD=$BUILD/backupmxd
N1=${DEMO_N1:-3}
N2=${DEMO_N2:-3}
RUN=demo$(date +%H%M%S)$$
T0=$(date +%s.%N)
FAILS=0
PIDS=()
D=""
PF=""
PF_UP=0
USE_SINK=0

# Seconds since the start, for the timeline.
ts() { printf '%6.1fs' "$(echo "$(date +%s.%N) - $T0" | bc)"; }
# Seconds since the monotonic-ish mark $1 (date +%s.%N), two decimals.
since() { printf '%.2f' "$(echo "$(date +%s.%N) - $1" | bc)"; }
# Print a narrated line.
say() { printf '[%s] %s\n' "$(ts)" "$*"; }
# A step heading.
step() { printf '\n[%s] === %s ===\n' "$(ts)" "$*"; }
# Record a failed expectation.
bad() { say "FAIL: $*"; FAILS=$((FAILS + 1)); }
# Record a met expectation.
good() { say "ok: $*"; }

# Stop everything and remove the temp dir (EXIT trap).
cleanup()
{
	trap - EXIT INT TERM
	if [ "$PF_UP" = 1 ] && [ -n "$D" ]; then
		postfix -c "$PF/etc" stop >/dev/null 2>&1
	fi
	if [ -n "$D" ] && [ -f "$PF/queue/pid/master.pid" ]; then
		local mp
		mp=$(tr -dc 0-9 <"$PF/queue/pid/master.pid")
		[ -n "$mp" ] && kill -KILL "$mp" 2>/dev/null
	fi
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "$D" ] && [ -z "${DEMO_KEEP:-}" ]; then
		rm -rf "$D"
	elif [ -n "$D" ]; then
		echo "demo: kept $D"
	fi
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

# Wait up to $3 seconds until something listens on $1:$2.
wait_port()
{
	local i=0 n=$(($3 * 10))
	while [ $i -lt $n ]; do
		ss -Hltn "src $1:$2" 2>/dev/null | grep -q . && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

for x in "$BMX" "$BMXD"; do
	[ -x "$x" ] || { echo "demo: $x is not built (run make)" >&2; exit 1; }
done
for x in unbound bc ss; do
	command -v "$x" >/dev/null || { echo "demo: $x is missing (scripts/deps)" >&2; exit 1; }
done

D=$(mktemp -d /tmp/backupmx-demo.XXXXXX)
chmod 755 "$D"
echo "backupmx failover demo (run $RUN) in $D"
if [ -n "${DEMO_RUN_ON:-}" ]; then
	echo "The world keeps running after the verdict (KEEP=1): status page and commands then."
else
	echo "(make demo KEEP=1 leaves the world running afterwards, to look at it)"
fi

# ---- DNS ---------------------------------------------------------------------
cat >"$D/unbound.conf" <<EOF
server:
    interface: 127.0.0.1@53
    port: 53
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$D"
    pidfile: ""
    use-syslog: no
    logfile: ""
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    do-not-query-localhost: yes
    local-zone: "example.test." static
    local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
    local-data: "example.test. 3600 IN MX 10 mx1.example.test."
    local-data: "example.test. 3600 IN MX 20 mx2.example.test."
    local-data: "mx1.example.test. 300 IN A 127.0.0.2"
    local-data: "mx2.example.test. 300 IN A 127.0.0.3"
remote-control:
    control-enable: no
EOF
unbound -d -c "$D/unbound.conf" >"$D/unbound.log" 2>&1 &
PIDS+=($!)
wait_port 127.0.0.1 53 10 || { cat "$D/unbound.log"; echo "demo: unbound did not start"; exit 1; }
RESOLVER=127.0.0.1@53
say "unbound serves example.test: MX 10 mx1.example.test (127.0.0.2)," \
    "MX 20 mx2.example.test (127.0.0.3)"

# ---- the primary: a real Postfix ----------------------------------------------
# The instance's main.cf/master.cf come from tests/lib/postfix.sh (shared with
# the interoperation tests): virtual delivery of example.test into maildirs.
world_wait_port() { wait_port "$1" "$2" "${3:-10}"; }
# shellcheck source=tests/lib/postfix.sh
. "$(dirname "$0")/../lib/postfix.sh"
PF=$D/pf
PF_HOSTNAME=mx1.example.test pf_config "$PF" 127.0.0.2 25 primary </dev/null
MAILDIR=$PF/mail/example.test

# Start the primary (Postfix, or the smtp-sink stand-in); 0 or 1.
primary_start()
{
	if [ "$USE_SINK" = 1 ]; then
		smtp-sink -u postfix -c -d "$D/sink/%Y%m%d%H%M%S." 127.0.0.2:25 256 \
			>>"$D/sink.log" 2>&1 &
		SINK_PID=$!
		PIDS+=("$SINK_PID")
	else
		# Postfix writes its startup errors to a terminal only: give it one.
		if command -v script >/dev/null; then
			script -qec "postfix -c $PF/etc start" /dev/null \
				>>"$D/postfix-start.log" 2>&1 </dev/null || return 1
		else
			postfix -c "$PF/etc" start >>"$D/postfix-start.log" 2>&1 || return 1
		fi
		PF_UP=1
	fi
	wait_port 127.0.0.2 25 15
}

# Stop the primary.
primary_stop()
{
	if [ "$USE_SINK" = 1 ]; then
		kill -TERM "$SINK_PID" 2>/dev/null
		wait "$SINK_PID" 2>/dev/null
	else
		postfix -c "$PF/etc" stop >>"$D/postfix-start.log" 2>&1
		PF_UP=0
		local i=0
		while ss -Hltn "src 127.0.0.2:25" | grep -q . && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
}

# Messages at the primary carrying tag $1 (exact header match).
primary_count()
{
	local dirs
	if [ "$USE_SINK" = 1 ]; then dirs=("$D/sink"); else dirs=("$MAILDIR/new" "$MAILDIR/cur"); fi
	grep -rlx "X-Backupmx-Drill: $1" "${dirs[@]}" 2>/dev/null | wc -l
}

if ! command -v postfix >/dev/null || ! primary_start; then
	say "Postfix could not run here (see $D/postfix-start.log): using smtp-sink as the" \
	    "primary instead"
	[ -f "$D/postfix-start.log" ] && sed 's/^/    /' "$D/postfix-start.log" | tail -5
	postfix -c "$PF/etc" stop >/dev/null 2>&1
	PF_UP=0
	USE_SINK=1
	mkdir -p "$D/sink"
	chown postfix: "$D/sink"
	primary_start || { echo "demo: no primary could start"; exit 1; }
	say "primary: smtp-sink on 127.0.0.2:25 (stand-in)"
else
	say "primary: Postfix $(postconf -c "$PF/etc" -h mail_version 2>/dev/null) on" \
	    "127.0.0.2:25 (config $PF/etc, maildir $MAILDIR)"
fi

# ---- the backup: backupmxd --------------------------------------------------------
cat >"$D/bmx.conf" <<EOF
hostname = mx2.example.test
listen = 127.0.0.3:25
spool = $D/spool
relay_domains = example.test
resolver = $RESOLVER
control_socket = $D/spool/control.sock
user = nobody
probe_interval = 2
retry_min = 2
connect_timeout = 2
status_listen = 127.0.0.3:8025
log_level = info
EOF
"$BMXD" -c "$D/bmx.conf" >"$D/backupmxd.log" 2>&1 &
PIDS+=($!)
if ! wait_port 127.0.0.3 25 10; then
	tail "$D/backupmxd.log"
	echo "demo: backupmxd did not start"
	exit 1
fi
say "backup: backupmxd on 127.0.0.3:25 (probe_interval 2 s, config $D/bmx.conf)"
CTL=(--control "$D/spool/control.sock")

# send TAG N: N messages through the sender; prints "host" per message.
send()
{
	local out rc
	out=$("$BMX" drill example.test --via-mx --count "$2" --tag "$1" --resolver "$RESOLVER" \
		--allow-private --timeout 5 --to "user@example.test" --from "sender@client.test" \
		2>>"$D/drill.err")
	rc=$?
	printf '%s\n' "$out" | grep '^message' | sed 's/^/    /'
	SENT_MX1=$(printf '%s\n' "$out" | grep -c '^message .*: mx1\.example\.test .* accepted')
	SENT_MX2=$(printf '%s\n' "$out" | grep -c '^message .*: mx2\.example\.test .* accepted')
	return $rc
}

# Number of messages queued at backupmxd (from status --json).
queued()
{
	"$BMX" status --json "${CTL[@]}" 2>/dev/null |
		grep -o '"queued_messages":[0-9]*' | head -1 | cut -d: -f2
}

# The primary's destination as seen by backupmxd: "up" or "down".
primary_state()
{
	local s
	s=$("$BMX" status --json "${CTL[@]}" 2>/dev/null)
	case $s in
	*'"domain":"example.test"'*'"up":true'*) echo up ;;
	*'"domain":"example.test"'*) echo down ;;
	*) echo unknown ;;
	esac
}

# ---- 1 -------------------------------------------------------------------------
step "1. the primary is up: mail goes straight to it"
t1=$(date +%s.%N)
send "$RUN-a" "$N1" || bad "the sender could not deliver every message"
if [ "$SENT_MX1" = "$N1" ]; then
	good "$N1 of $N1 messages taken by the primary mx1.example.test"
else
	bad "$SENT_MX1 of $N1 messages taken by the primary"
fi
say "step 1 took $(since "$t1") s"

# ---- 2 -------------------------------------------------------------------------
step "2. the primary is stopped: the sender falls back, backupmxd queues"
primary_stop
say "primary stopped (127.0.0.2:25 refuses connections now)"
send "$RUN-b" "$N2" || bad "the sender could not deliver every message"
if [ "$SENT_MX2" = "$N2" ]; then
	good "$N2 of $N2 messages fell back to the backup mx2.example.test"
else
	bad "$SENT_MX2 of $N2 messages fell back to the backup"
fi

# ---- 3 -------------------------------------------------------------------------
step "3. backupmx status: the primary is down, the queue grows"
i=0
while [ "$(primary_state)" != down ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
q1=$(queued)
say "queue after the first batch: ${q1:-?} message(s); primary: $(primary_state)"
send "$RUN-c" "$N2" || bad "the sender could not deliver every message"
[ "$SENT_MX2" = "$N2" ] || bad "$SENT_MX2 of $N2 messages of the second batch went to the backup"
q2=$(queued)
say "queue after the second batch: ${q2:-?} message(s)"
"$BMX" status "${CTL[@]}" 2>&1 | sed 's/^/    /'
if [ "$(primary_state)" = down ]; then good "status shows the primary down"
else bad "status does not show the primary down"; fi
if [ -n "$q1" ] && [ -n "$q2" ] && [ "$q2" -gt "$q1" ] && [ "$q2" -ge "$N2" ]; then
	good "the queue grew: $q1 -> $q2"
else
	bad "the queue did not grow as expected (${q1:-?} -> ${q2:-?})"
fi

# ---- 4 -------------------------------------------------------------------------
step "4. the primary is started again: backupmxd notices and drains"
primary_start || bad "the primary did not start again"
t4=$(date +%s.%N)
say "primary started"
i=0
up_at="" empty_at=""
while [ $i -lt 300 ]; do
	[ -z "$up_at" ] && [ "$(primary_state)" = up ] &&
		up_at=$(since "$t4")
	if [ "$(queued)" = 0 ]; then
		empty_at=$(since "$t4")
		break
	fi
	sleep 0.1
	i=$((i + 1))
done
[ -n "$up_at" ] && say "backupmxd saw the primary up after ${up_at} s"
if [ -n "$empty_at" ]; then
	good "backupmxd drained its queue ${empty_at} s after the primary came back"
else
	bad "the queue still holds $(queued) message(s) after 30 s"
fi

# ---- 5 -------------------------------------------------------------------------
step "5. every message is at the primary, exactly once"
# Postfix delivers asynchronously after its 250: give it a moment.
want=$((N1 + 2 * N2))
i=0
while [ $i -lt 100 ]; do
	total=0
	for b in a b c; do
		n=$([ $b = a ] && echo "$N1" || echo "$N2")
		for k in $(seq 1 "$n"); do
			[ "$(primary_count "$RUN-$b-$k")" = 1 ] && total=$((total + 1))
		done
	done
	[ "$total" = "$want" ] && break
	sleep 0.1
	i=$((i + 1))
done
for b in a b c; do
	n=$([ $b = a ] && echo "$N1" || echo "$N2")
	for k in $(seq 1 "$n"); do
		c=$(primary_count "$RUN-$b-$k")
		[ "$c" = 1 ] || bad "message $RUN-$b-$k is at the primary $c time(s)"
	done
done
all=$(grep -rl "^X-Backupmx-Drill: $RUN-" "$MAILDIR" "$D/sink" 2>/dev/null | wc -l)
if [ "$total" = "$want" ] && [ "$all" = "$want" ]; then
	good "$want of $want messages at the primary, each exactly once"
else
	bad "$total of $want messages found exactly once ($all tagged files in all)"
fi
[ "$USE_SINK" = 1 ] && say "note: the primary was smtp-sink, not Postfix"

# KEEP=1: leave everything running until Ctrl-C or a kill, and say how to reach it.
keep_running()
{
	local ns="nsenter --net=/proc/$$/ns/net"
	echo
	echo "The demo world is still running (KEEP=1), in network namespace /proc/$$/ns/net:"
	echo "  status page:  $ns curl -s http://127.0.0.3:8025/"
	echo "  metrics:      $ns curl -s http://127.0.0.3:8025/metrics"
	echo "  the CLI:      $BMX status ${CTL[*]}"
	echo "                $BMX queue ${CTL[*]}"
	echo "  send mail:    $ns swaks --server 127.0.0.3:25 --to a@example.test"
	echo "Stop it with Ctrl-C here, or: kill $$"
	sleep infinity &
	PIDS+=("$!")
	wait "$!"
}

echo
if [ "$FAILS" = 0 ]; then
	echo "VERDICT: PASS - failover and recovery verified, $want/$want messages delivered" \
	     "exactly once ($(ts | tr -d ' '))"
	[ -n "${DEMO_RUN_ON:-}" ] && keep_running
	exit 0
fi
echo "VERDICT: FAIL - $FAILS problem(s); logs were in $D"
[ -n "${DEMO_RUN_ON:-}" ] && keep_running
exit 1
