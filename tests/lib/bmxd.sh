# bmxd.sh - start and stop a real backupmxd inside the test world.
#
#   . "$BMX_ROOT/tests/lib/bmxd.sh"         (after world.sh and world_init)
#   bmxd_config <<EOF ... EOF   extra "key = value" lines (stdin; use </dev/null for none)
#   bmxd_start                 start backupmxd -c $W/bmx.conf, wait for its port and the
#                              end of spool recovery; sets BMXD_PID, BMXD_LOG
#   bmxd_recovered N           true once the log has more than N "recovery done" lines
#                              (or the daemon is gone)
#   bmxd_stop                  SIGTERM and wait (graceful)
#   bmxd_kill9                 SIGKILL now
#   bmxd_queue_files           list queue IDs in the spool
#   bmxd_queue_empty           true if no message is queued
#   bmxd_status_dest DOMAIN    the destination's object from `status --json` (or nothing)
#   bmxd_submit TEXT [RCPT...] one message over SMTP (raw, from a@c.test) to RCPTs
#                              (u@example.test); prints its queue ID, 0 when queued
#   bmxd_send_n N [RCPT]       N messages with smtp-source to RCPT (r@example.test)
#
# Defaults: backupmxd listens on 127.0.0.3:$BMX_PORT (a free port), is
# hostname mx2.example.test, relays example.test and .sub.example.test, has
# its spool in $W/spool, and resolves through $RESOLVER when the test started
# unbound (otherwise through a dead local port, so no packet leaves).
# Running as root, it drops to user nobody, so $W is made traversable.

BMXD="$BMX_BUILD/backupmxd"
BMX="$BMX_BUILD/backupmx"

# Write the daemon configuration (extra lines from stdin are appended).
bmxd_config()
{
    : "${BMX_PORT:=$(world_free_port)}"
    BMX_SPOOL="$W/spool"
    chmod 755 "$W"
    local user_line=""
    [ "$(id -u)" = 0 ] && user_line="user = nobody"
    {
        echo "hostname = mx2.example.test"
        echo "listen = 127.0.0.3:$BMX_PORT"
        echo "spool = $BMX_SPOOL"
        echo "relay_domains = example.test, .sub.example.test"
        echo "resolver = ${RESOLVER:-127.0.0.1@9}"
        echo "control_socket = $BMX_SPOOL/control.sock"
        echo "log_level = debug"
        # without a DNS world there is no primary to pass mail to live: the
        # receiving-side tests store and forward (primary_up's default is proxy)
        [ -z "${RESOLVER:-}" ] && echo "primary_up = queue"
        [ -n "$user_line" ] && echo "$user_line"
        cat
    } > "$W/bmx.conf"
}

# Start the daemon and wait for its port.
bmxd_start()
{
    [ -f "$W/bmx.conf" ] || bmxd_config </dev/null
    BMXD_LOG="$W/backupmxd.log"
    local done0
    done0=$(grep -c 'spool: recovery done' "$BMXD_LOG" 2>/dev/null)
    "$BMXD" -c "$W/bmx.conf" >>"$BMXD_LOG" 2>&1 &
    BMXD_PID=$!
    world_track "$BMXD_PID"
    if ! world_wait_port 127.0.0.3 "$BMX_PORT" 10; then
        t_diag "backupmxd did not come up:"
        tail -20 "$BMXD_LOG" | t_diag "$(cat)"
        return 1
    fi
    # the control socket appears at once; the spool is recovered in the
    # background: wait for the end of recovery, so the queue is complete
    world_wait_until 10 test -S "$BMX_SPOOL/control.sock"
    world_wait_until 30 bmxd_recovered "${done0:-0}"
    return 0
}

# Has the daemon logged more than N "spool: recovery done" lines (or exited)?
bmxd_recovered()
{
    [ "$(grep -c 'spool: recovery done' "$BMXD_LOG" 2>/dev/null)" -gt "$1" ] ||
        ! kill -0 "$BMXD_PID" 2>/dev/null
}

# Stop gracefully (SIGTERM) and wait up to 15 s.
bmxd_stop()
{
    [ -n "${BMXD_PID:-}" ] || return 0
    kill -TERM "$BMXD_PID" 2>/dev/null
    world_wait_until 15 bash -c "! kill -0 $BMXD_PID 2>/dev/null"
    wait "$BMXD_PID" 2>/dev/null
    BMXD_RC=$?
    BMXD_PID=""
    # a sanitizer report (a leak found at exit, UB on the way) fails the test
    # that stopped the daemon, whatever its own checks said
    if [ "$BMXD_RC" != 0 ] && [ -n "${BMXD_LOG:-}" ] &&
        grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$BMXD_LOG" 2>/dev/null; then
        t_fail "backupmxd stopped without a sanitizer report (exit status $BMXD_RC)" \
            "$(grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$BMXD_LOG" | head -30)"
    fi
}

# Kill -9 now.
bmxd_kill9()
{
    [ -n "${BMXD_PID:-}" ] || return 0
    kill -KILL "$BMXD_PID" 2>/dev/null
    wait "$BMXD_PID" 2>/dev/null
    BMXD_PID=""
}

# Queue IDs of committed messages.
bmxd_queue_files()
{
    ls "$BMX_SPOOL/queue" 2>/dev/null | sort
}

# True if no committed message is queued.
bmxd_queue_empty() { [ -z "$(bmxd_queue_files)" ]; }

# Submit one message to backupmxd over SMTP (tests/lib/smtpraw.py): EHLO c.test,
# MAIL FROM:<a@c.test>, one RCPT TO a RCPT (default u@example.test).  TEXT is
# the message, header, empty line and body, in smtpraw literal syntax (lines
# end in \r\n; no final dot).  The session goes to $W/submit.out; prints the
# queue ID.  0 when the message was queued.
bmxd_submit()
{
    local text=$1 rcpts="" r n=0
    shift
    [ $# -gt 0 ] || set -- u@example.test
    for r in "$@"; do
        rcpts+="RCPT TO:<$r>\\r\\n"
        n=$((n + 1))
    done
    world_smtpraw 127.0.0.3 "$BMX_PORT" <<SCR >"$W/submit.out" || return 1
expect 220
send b"EHLO c.test\r\n"
expect 250
send b"MAIL FROM:<a@c.test>\r\n${rcpts}DATA\r\n"
expect_count $((n + 1)) 250
expect 354
send b"$text"
send b".\r\n"
expect 250
send b"QUIT\r\n"
expect 221
SCR
    sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' "$W/submit.out" | head -1
}

# Send N messages to RCPT (default r@example.test) through backupmxd with
# Postfix's smtp-source, 5 sessions at a time; its output goes to $W/source.log.
bmxd_send_n()
{
    smtp-source -s 5 -m "$1" -f s@client.test -t "${2:-r@example.test}" \
        127.0.0.3:"$BMX_PORT" >"$W/source.log" 2>&1
}

# Print the destination object for DOMAIN from status --json (or nothing).
bmxd_status_dest()
{
    timeout 5 "$BMX" status --json --control "$BMX_SPOOL/control.sock" 2>/dev/null |
        "$WORLD_PY" -c '
import json, sys
d = json.load(sys.stdin)
dests = d.get("destinations", d) if isinstance(d, dict) else d
for x in dests:
    if x.get("domain") == sys.argv[1]:
        print(json.dumps(x)); break
' "$1"
}

# The standard two-MX world for delivery tests: unbound serves example.test
# with MX 10 mx1.example.test (127.0.0.2, the primary) and MX 20
# mx2.example.test (127.0.0.3, us), plus any extra unbound lines from stdin
# (use </dev/null for none).  Sets BMX_PORT (shared by primary and backup).
bmxd_world_dns()
{
    : "${BMX_PORT:=$(world_free_port)}"
    # process substitution, not a pipe: world_dns_start must run in this shell
    world_dns_start < <(
        echo 'local-zone: "example.test." static'
        echo 'local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"'
        echo 'local-data: "example.test. 3600 IN MX 10 mx1.example.test."'
        echo 'local-data: "example.test. 3600 IN MX 20 mx2.example.test."'
        echo 'local-data: "mx1.example.test. 300 IN A 127.0.0.2"'
        echo 'local-data: "mx2.example.test. 300 IN A 127.0.0.3"'
        cat
    )
}

# bmxd_config for delivery tests: relay to $BMX_PORT, probe every 2 s, retry
# after 2 s, 2 s connect timeout; extra keys from stdin (</dev/null for none).
bmxd_relay_config()
{
    bmxd_config < <(
        echo "relay_port = $BMX_PORT"
        echo "probe_interval = 2"
        echo "retry_min = 2"
        echo "connect_timeout = 2"
        cat
    )
}
