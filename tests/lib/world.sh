# world.sh - the integration-test world: DNS, primaries, black holes, TAP output.
#
# Sourced (bash) by every tests/integration/t_*.sh, which tests/run starts
# inside `unshare -n` with only `lo` up.  It starts real peers on loopback:
# unbound as the authoritative DNS of the test zones, Postfix's smtp-sink as
# a primary MX, and a black hole that accepts TCP and never speaks.  Every
# process started through world_* gets its own process group and is killed
# (TERM, then KILL after 2 s) by the EXIT/INT/TERM trap that world_init
# installs, which also removes the temp dir $W.
#
#   . "$BMX_ROOT/tests/lib/world.sh"
#   world_init                           temp dir $W, cleanup trap
#   world_free_port                      print a free TCP+UDP port on 127.0.0.1-3
#   world_dns_start <<EOF ... EOF        unbound with these "server:" lines;
#                                        sets DNS_PORT, DNS_PID, RESOLVER; calling
#                                        it again replaces the server, same port
#   world_dns_stop                       stop unbound (DNS_PORT is kept)
#   world_dig NAME [TYPE] [dig args]     dig against our unbound, never the system's
#   world_sink_start ADDR PORT [opts]    smtp-sink primary; SINK_PID, SINK_DIR, SINK_LOG
#   world_sink_count [DIR]               number of messages dumped in DIR ($SINK_DIR)
#   world_sink_has N [DIR]               true if DIR ($SINK_DIR) holds N or more messages
#   world_blackhole_start ADDR PORT [--no-read]  silent TCP listener; BH_PID
#   world_bg CMD [ARGS]                  any command in the background; BG_PID, BG_LOG
#   world_track PID                      also kill PID (and its group) at cleanup
#   world_wait_port ADDR PORT [SECONDS]  wait until something listens (no connect)
#   world_wait_until SECONDS CMD [ARGS]  run CMD every 0.1 s until it succeeds (0) or
#                                        SECONDS pass (1); WORLD_WAIT_STEP=0.02 polls faster
#   world_wait_event REGEX SECONDS [FILE]  world_wait_until a line of FILE matches REGEX
#                                        (grep -E); FILE: a fake peer's $EV_DIR/events.log
#   world_kill PID                       kill a started process now
#   world_have CMD                       true if CMD exists
#   world_alive PID                      true if PID runs (zombies do not)
#   world_swaks ADDR PORT [swaks args]   swaks without DNS, test-domain defaults
#   world_smtpraw [opts] ADDR PORT <script   tests/lib/smtpraw.py (byte-exact SMTP)
#   world_cleanup                        what the trap does; safe to call early
#   t_ok, t_fail, t_skip, t_is, t_like, t_unlike, t_diag, t_skip_all, t_done
#
# The functions work with `set -euo pipefail` in the calling script.
# Set WORLD_KEEP=1 to keep $W after the test.  On failure (a t_fail, or a
# non-zero exit such as a timeout), when tests/run set T_ARTIFACTS, the logs
# and configs of $W are copied there (build/test-logs/t_NAME.d/).

WORLD_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${BMX_ROOT:=$(cd "$WORLD_LIB/../.." && pwd)}"
: "${BMX_BUILD:=$BMX_ROOT/build}"
export BMX_ROOT BMX_BUILD
WORLD_PY=/usr/bin/python3
[ -x "$WORLD_PY" ] || WORLD_PY=python3
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac
export PATH

W=""
_T_FAILS=0
_WORLD_PIDS=()
_WORLD_NBG=0
_WORLD_MAIN_PID=$BASHPID
_WORLD_RC=0
# Seconds a peer may take to come up; processes get this long after TERM.
WORLD_START_TIMEOUT=${WORLD_START_TIMEOUT:-10}
WORLD_KILL_GRACE=2

# --- TAP-style results ------------------------------------------------------

# Flatten a description to one line.
_t_line() { printf '%s' "$*" | tr '\r\n' '  '; }

# Record a passed check.
t_ok() { printf 'ok - %s\n' "$(_t_line "$1")"; }

# Record a failed check, with optional detail lines printed as comments.
t_fail()
{
	printf 'not ok - %s\n' "$(_t_line "$1")"
	_T_FAILS=$((_T_FAILS + 1))
	if [ $# -ge 2 ] && [ -n "$2" ]; then
		printf '%s\n' "$2" | sed 's/^/#   /'
	fi
	return 0
}

# Record a skipped check with its reason.
t_skip() { printf 'ok - %s # SKIP %s\n' "$(_t_line "$1")" "$(_t_line "${2:-}")"; }

# Print comment lines.
t_diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# Pass if GOT equals WANT.
t_is()
{
	if [ "$2" = "$3" ]; then
		t_ok "$1"
	else
		t_fail "$1" "got:  '$2'"$'\n'"want: '$3'"
		return 1   # so "t_is ... || t_diag ..." can add detail
	fi
}

# True if TEXT matches the extended REGEX on some line, or as a whole string.
_t_match()
{
	grep -Eq -- "$2" <<<"$1" && return 0
	[[ $1 =~ $2 ]]
}

# Pass if TEXT matches REGEX (grep -E on any line, or bash =~ on the whole).
t_like()
{
	if _t_match "$2" "$3"; then
		t_ok "$1"
	else
		t_fail "$1" "text does not match /$3/:"$'\n'"$(tail -n 30 <<<"$2")"
	fi
}

# Pass if TEXT does not match REGEX.
t_unlike()
{
	if _t_match "$2" "$3"; then
		t_fail "$1" "text matches /$3/:"$'\n'"$(grep -E -m 10 -- "$3" <<<"$2")"
	else
		t_ok "$1"
	fi
}

# Finish the test: exit 1 if any check failed, else 0 (the trap cleans up).
t_done()
{
	[ "$_T_FAILS" -eq 0 ] && exit 0
	exit 1
}

# Skip the whole script with a reason and exit.
t_skip_all()
{
	t_skip "$(basename "$0" .sh)" "$1"
	t_done
}

# A world set-up step failed: report it and end the test.
_world_bail()
{
	t_fail "world: $1" "${2:-}"
	exit 1
}

# --- processes ----------------------------------------------------------------

# True if CMD is an available command.
world_have() { command -v "$1" >/dev/null 2>&1; }

# True if process PID exists and is not a zombie.
world_alive()
{
	local line
	read -r line 2>/dev/null <"/proc/$1/stat" || return 1
	line=${line##*) }
	[ "${line%% *}" != Z ]
}

# True if PID, or any process of the group PID, is alive (zombies are dead).
_world_alive()
{
	ps -e -o pid=,pgid=,stat= 2>/dev/null |
		awk -v p="$1" '($1 == p || $2 == p) && $3 !~ /^Z/ { f = 1 } END { exit !f }'
}

# Send signal SIG to PID and to its process group.
_world_signal_pid()
{
	kill -s "$1" -- "-$2" 2>/dev/null || true
	kill -s "$1" "$2" 2>/dev/null || true
	return 0
}

# Kill PIDs: TERM, wait up to the grace time, KILL what is left, reap.
_world_kill_pids()
{
	local -
	set +e
	local p left i
	[ $# -eq 0 ] && return 0
	for p in "$@"; do _world_signal_pid TERM "$p"; done
	for ((i = 0; i < WORLD_KILL_GRACE * 20; i++)); do
		left=0
		for p in "$@"; do _world_alive "$p" && left=1 && break; done
		[ "$left" -eq 0 ] && break
		sleep 0.05
	done
	for p in "$@"; do
		_world_alive "$p" && _world_signal_pid KILL "$p"
	done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
	return 0
}

# Wait (up to 1 s) until background PID has become its own process group
# leader (setsid done), so that killing the group reaches it.
_world_wait_setsid()
{
	local line i
	for ((i = 0; i < 100; i++)); do
		read -r line 2>/dev/null <"/proc/$1/stat" || return 0
		line=${line##*) }
		read -r _ _ line _ <<<"$line"
		[ "$line" = "$1" ] && return 0
		sleep 0.01
	done
	return 0
}

# Remember PID so that cleanup kills it (and its process group).
world_track() { _WORLD_PIDS+=("$1"); }

# Start "$@" in the background in a new session (own process group), output to
# LOG; record it and print nothing.  Sets _WORLD_LAST.
_world_spawn()
{
	[ -n "$W" ] || _world_bail "world_init must be called before starting peers"
	local log=$1
	shift
	setsid "$@" >"$log" 2>&1 </dev/null &
	_WORLD_LAST=$!
	world_track "$_WORLD_LAST"
	_world_wait_setsid "$_WORLD_LAST"
}

# Kill a started process (and its process group) now.
world_kill()
{
	local -
	set +e
	local p keep=()
	_world_kill_pids "$1"
	for p in "${_WORLD_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	_WORLD_PIDS=("${keep[@]}")
	return 0
}

# Start CMD in the background in its own process group; sets BG_PID, BG_LOG.
world_bg()
{
	_WORLD_NBG=$((_WORLD_NBG + 1))
	BG_LOG=$W/bg.$_WORLD_NBG.log
	_world_spawn "$BG_LOG" "$@"
	BG_PID=$_WORLD_LAST
	export BG_PID BG_LOG
}

# Kill everything we started and remove $W; idempotent.
world_cleanup()
{
	local -
	set +e
	local pids=("${_WORLD_PIDS[@]}") j
	for j in $(jobs -p); do pids+=("$j"); done
	_world_kill_pids "${pids[@]}"
	_WORLD_PIDS=()
	if [ -n "$W" ] && [ -d "$W" ]; then
		if { [ "$_T_FAILS" -gt 0 ] || [ "$_WORLD_RC" != 0 ]; } &&
			[ -n "${T_ARTIFACTS:-}" ]; then
			mkdir -p "$T_ARTIFACTS" &&
				find "$W" -maxdepth 1 -type f \
					\( -name '*.log' -o -name '*.conf' \) -size -20M \
					-exec cp {} "$T_ARTIFACTS/" \; 2>/dev/null
		fi
		if [ "${WORLD_KEEP:-0}" = 1 ]; then
			t_diag "world: kept $W"
		else
			rm -rf "$W"
		fi
	fi
	W=""
	return 0
}

# EXIT trap: clean up and keep the exit status.
_world_on_exit()
{
	local rc=$?
	set +e
	# a forked child that has not exec'd yet inherits the trap: not its job
	[ "$BASHPID" = "$_WORLD_MAIN_PID" ] || exit "$rc"
	_WORLD_RC=$rc
	world_cleanup
	exit "$rc"
}

# INT/TERM trap: say so, then exit (which runs the EXIT trap).
_world_on_signal()
{
	[ "$BASHPID" = "$_WORLD_MAIN_PID" ] || exit "$2"
	t_diag "world: caught SIG$1, cleaning up"
	exit "$2"
}

# Create the temp dir $W and install the cleanup traps.
world_init()
{
	W=$(mktemp -d "${TMPDIR:-/tmp}/bmxworld.XXXXXX") || _world_bail "mktemp failed"
	chmod 711 "$W"
	export W
	_WORLD_MAIN_PID=$BASHPID
	: >"$W/.ports"
	trap _world_on_exit EXIT
	trap '_world_on_signal INT 130' INT
	trap '_world_on_signal TERM 143' TERM
	trap '_world_on_signal HUP 129' HUP
	if world_have ip && [ "$(ip -o link 2>/dev/null | grep -vc ': lo:')" != 0 ]; then
		t_diag "world: WARNING: not in a private network namespace (run via tests/run)"
	fi
	return 0
}

# --- ports ------------------------------------------------------------------------

# Print a free TCP port (also free for UDP, on 127.0.0.1-3), never one handed out before.
world_free_port()
{
	if [ -n "$W" ]; then
		"$WORLD_PY" "$WORLD_LIB/freeport.py" --exclude "$W/.ports"
	else
		"$WORLD_PY" "$WORLD_LIB/freeport.py"
	fi
}

# True if a TCP listener covers ADDR:PORT right now (checked with ss, no connect).
_world_listening()
{
	local a=$1 p=$2
	if world_have ss; then
		ss -Hltn 2>/dev/null | awk -v a="$a" -v p="$p" '
			{ l = $4; sub(/%[^:\]]*/, "", l) }
			l == a ":" p || l == "[" a "]:" p || l == "0.0.0.0:" p || l == "*:" p ||
			l == "[::]:" p || l == "[::ffff:" a "]:" p { f = 1 }
			END { exit !f }'
	else
		timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$a" "$p" 2>/dev/null
	fi
}

# Wait until something listens on ADDR:PORT; 0 when it does, 1 after SECONDS (10).
world_wait_port()
{
	local -
	set +e
	local i n=$(((${3:-$WORLD_START_TIMEOUT}) * 20))
	for ((i = 0; i < n; i++)); do
		_world_listening "$1" "$2" && return 0
		sleep 0.05
	done
	return 1
}

# Run CMD [ARGS] every 0.1 s (or $WORLD_WAIT_STEP s) until it succeeds (return 0)
# or SECONDS pass (return 1).
world_wait_until()
{
	local -
	set +e
	local end=$((SECONDS + $1))
	shift
	while :; do
		"$@" && return 0
		[ $SECONDS -ge $end ] && return 1
		sleep "${WORLD_WAIT_STEP:-0.1}"
	done
}

# Wait up to SECONDS until a line of FILE (default $EV_DIR/events.log, the event
# log of a fake peer) matches the extended REGEX; 0 when one does, else 1.
world_wait_event()
{
	world_wait_until "$2" grep -Eqs -- "$1" "${3:-${EV_DIR:-}/events.log}"
}

# --- DNS: unbound -------------------------------------------------------------------

# Stop our unbound (DNS_PORT stays, so a restart keeps resolver settings valid).
world_dns_stop()
{
	if [ -n "${DNS_PID:-}" ]; then
		world_kill "$DNS_PID"
		DNS_PID=""
	fi
}

# Query our unbound: world_dig NAME [TYPE] [more dig arguments].
world_dig()
{
	local name=$1
	shift
	dig @127.0.0.1 -p "$DNS_PORT" +time=2 +tries=1 +nosearch "$name" "$@"
}

# Start unbound on 127.0.0.1:DNS_PORT with the "server:" lines read from stdin.
world_dns_start()
{
	local -
	set +e
	local conf=$W/unbound.conf log=$W/unbound.log lines i
	[ -n "$W" ] || _world_bail "world_init must be called before world_dns_start"
	world_have unbound || t_skip_all "unbound is not installed"
	lines=$(cat)
	world_dns_stop
	if [ -z "${DNS_PORT:-}" ]; then
		DNS_PORT=$(world_free_port) || _world_bail "no free port for DNS"
	fi
	{
		printf 'server:\n'
		printf '    interface: 127.0.0.1@%s\n' "$DNS_PORT"
		printf '    port: %s\n' "$DNS_PORT"
		printf '    do-daemonize: no\n'
		printf '    username: ""\n'
		printf '    chroot: ""\n'
		printf '    directory: "%s"\n' "$W"
		printf '    pidfile: ""\n'
		printf '    use-syslog: no\n'
		printf '    logfile: ""\n'
		printf '    verbosity: 1\n'
		printf '    num-threads: 1\n'
		printf '    do-ip6: no\n'
		printf '    access-control: 127.0.0.0/8 allow\n'
		printf '    module-config: "iterator"\n'
		printf '    # everything outside the local zones goes to a forwarder\n'
		printf '    # that is never queried: SERVFAIL, no packet leaves\n'
		printf '    do-not-query-localhost: yes\n'
		printf '%s\n' "$lines" | sed 's/^[[:space:]]*/    /'
		printf 'forward-zone:\n'
		printf '    name: "."\n'
		printf '    forward-addr: 127.0.0.1@9\n'
		printf 'remote-control:\n'
		printf '    control-enable: no\n'
	} >"$conf"
	unbound-checkconf "$conf" >"$W/unbound-checkconf.log" 2>&1 ||
		_world_bail "unbound-checkconf rejected the DNS config" \
			"$(cat "$W/unbound-checkconf.log" "$conf")"
	_world_spawn "$log" unbound -d -c "$conf"
	DNS_PID=$_WORLD_LAST
	RESOLVER=127.0.0.1@$DNS_PORT
	export DNS_PORT RESOLVER
	for ((i = 0; i < WORLD_START_TIMEOUT * 10; i++)); do
		_world_alive "$DNS_PID" || _world_bail "unbound exited at start" "$(cat "$log")"
		dig @127.0.0.1 -p "$DNS_PORT" +time=1 +tries=1 localhost. A >/dev/null 2>&1 &&
			return 0
		sleep 0.1
	done
	_world_bail "unbound did not answer within ${WORLD_START_TIMEOUT}s" "$(cat "$log")"
}

# --- SMTP peers -----------------------------------------------------------------------

# Start smtp-sink on ADDR:PORT (extra options before the address); SINK_PID, SINK_DIR.
world_sink_start()
{
	local -
	set +e
	local addr=$1 port=$2 hp
	shift 2
	world_have smtp-sink || t_skip_all "smtp-sink is not installed (postfix)"
	SINK_DIR=$W/sink.$addr.$port
	SINK_LOG=$SINK_DIR.log
	mkdir -p "$SINK_DIR"
	local user=()
	if [ "$(id -u)" = 0 ]; then
		chown postfix: "$SINK_DIR" 2>/dev/null ||
			_world_bail "no postfix user for smtp-sink"
		user=(-u postfix)
	fi
	case $addr in *:*) hp="[$addr]:$port" ;; *) hp="$addr:$port" ;; esac
	_world_spawn "$SINK_LOG" smtp-sink "${user[@]}" -c -d "$SINK_DIR/%Y%m%d%H%M%S." "$@" \
		"$hp" 256
	SINK_PID=$_WORLD_LAST
	world_wait_port "$addr" "$port" ||
		_world_bail "smtp-sink did not listen on $hp" "$(cat "$SINK_LOG")"
	export SINK_DIR SINK_PID
}

# Print how many messages smtp-sink dumped into DIR (default $SINK_DIR).
world_sink_count()
{
	find "${1:-$SINK_DIR}" -maxdepth 1 -type f 2>/dev/null | wc -l
}

# True if DIR (default $SINK_DIR) holds at least N messages.
world_sink_has() { [ "$(world_sink_count ${2:+"$2"})" -ge "$1" ]; }

# Start the black hole on ADDR:PORT [--no-read]: accepts TCP, never speaks; sets BH_PID.
world_blackhole_start()
{
	local -
	set +e
	local addr=$1 port=$2 log=$W/blackhole.$1.$2.log
	shift 2
	_world_spawn "$log" "$WORLD_PY" "$WORLD_LIB/blackhole.py" "$@" "$addr" "$port"
	BH_PID=$_WORLD_LAST
	world_wait_port "$addr" "$port" ||
		_world_bail "blackhole did not listen on $addr:$port" "$(cat "$log")"
	export BH_PID
}

# swaks to ADDR:PORT without DNS, with test defaults (later arguments override them).
world_swaks()
{
	local addr=$1 port=$2
	shift 2
	swaks --server "$addr" --port "$port" --timeout 15 --helo client.test \
		--from sender@client.test --to rcpt@example.test "$@"
}

# Run tests/lib/smtpraw.py: [--timeout S] [--source ADDR] [--tls] ADDR PORT [SCRIPT] (or stdin).
world_smtpraw() { "$WORLD_PY" "$WORLD_LIB/smtpraw.py" "$@"; }
