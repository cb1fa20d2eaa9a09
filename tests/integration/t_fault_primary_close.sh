#!/bin/bash
# t_fault_primary_close.sh - the primary closes the connection at the three
# awkward moments of a delivery:
#   middata  in the middle of the message text (after the 354, part sent)
#   nodot    after the whole message and its dot, before any reply
#   after250 right after its "250" for the message, before QUIT
# In the first two the message must stay queued and later go to a good
# primary (smtp-sink), with no bounce.  In the third the 250 was received, so
# the message counts as delivered: it leaves the queue and is never sent
# again (the good primary must not see it).
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
EPORT=$(world_free_port)

# A primary that closes at a chosen moment; one line per event in DIR/events.log.
cat >"$W/closemx.py" <<'PY'
import os, socket, sys, threading
mode, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
def ev(t):
    with lock, open(os.path.join(d, "events.log"), "a") as f:
        f.write(t + "\n")
def serve(s):
    f = s.makefile("rb")
    try:
        s.sendall(b"220 mx1.example.test ESMTP close\r\n")
        while True:
            ln = f.readline()
            if not ln:
                return
            v = ln[:4].upper()
            if v == b"EHLO":
                s.sendall(b"250-mx1.example.test\r\n250 8BITMIME\r\n")
            elif v in (b"MAIL", b"RCPT", b"RSET", b"NOOP", b"HELO"):
                s.sendall(b"250 2.0.0 ok\r\n")
            elif v == b"QUIT":
                s.sendall(b"221 2.0.0 bye\r\n")
                return
            elif v == b"DATA":
                s.sendall(b"354 go ahead\r\n")
                if mode == "middata":
                    f.readline()
                    ev("strike middata")
                    return
                while True:
                    ln = f.readline()
                    if not ln:
                        return
                    if ln == b".\r\n":
                        break
                ev("message")
                if mode == "nodot":
                    ev("strike nodot")
                    return
                s.sendall(b"250 2.0.0 accepted\r\n")
                if mode == "after250":
                    ev("strike after250")
                    return
            else:
                s.sendall(b"502 5.5.2 no\r\n")
    except OSError as e:
        ev("error %s" % e)
    finally:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.2", port))
ls.listen(16)
while True:
    c, _ = ls.accept()
    ev("connect")
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY

bmxd_config <<CONF
route example.test = [127.0.0.2]:$EPORT
retry_min = 1
retry_max = 2
probe_interval = 1
connect_timeout = 3
CONF
bmxd_start || { t_fail "daemon start"; t_done; }

# Submit one message to backupmxd (tag $1); prints its queue ID, 0 when queued.
submit()
{
	bmxd_submit "Subject: close $1\r\n\r\nline one of $1\r\nline two\r\n$(printf 'x%.0s' $(seq 1 70))\r\n"
}

# How many times the sink received queue ID $1.
sink_has()
{
	find "$SINK_DIR" -maxdepth 1 -type f -exec grep -l -m1 "(backupmx) with [A-Za-z]* id $1\b" {} + \
		2>/dev/null | wc -l
}

for mode in middata nodot after250; do
	EV_DIR=$W/close.$mode
	mkdir -p "$EV_DIR"
	world_bg "$WORLD_PY" "$W/closemx.py" "$mode" "$EPORT" "$EV_DIR"
	EV_PID=$BG_PID
	world_wait_port 127.0.0.2 "$EPORT" 10 || t_fail "$mode: fake primary up"
	qid=$(submit "$mode") && [ -n "$qid" ] || t_fail "$mode: message accepted ($qid)"
	world_wait_event "strike $mode" 20
	t_is "$mode: the primary closed the connection" "$?" 0
	sleep 2.5
	world_alive "$BMXD_PID"
	t_is "$mode: daemon alive" "$?" 0 || break
	strikes=$(grep -c "strike $mode" "$EV_DIR/events.log")
	case $mode in
	middata | nodot)
		t_is "$mode: the message is still queued" "$(bmxd_queue_files)" "$qid"
		t_diag "$mode: $strikes attempts struck in 2.5 s"
		;;
	after250)
		t_is "$mode: a 250 counts as delivered: queue empty" "$(bmxd_queue_files | wc -l)" 0
		t_is "$mode: the primary got it exactly once" "$(grep -c '^message' "$EV_DIR/events.log")" 1
		;;
	esac
	world_kill "$EV_PID"
	# now a good primary on the same address
	world_sink_start 127.0.0.2 "$EPORT"
	world_wait_until 20 bmxd_queue_empty
	t_is "$mode: queue drains to a good primary" "$?" 0
	sleep 0.5
	case $mode in
	middata | nodot)
		t_is "$mode: the good primary got the message once" "$(sink_has "$qid")" 1 ;;
	after250)
		t_is "$mode: not delivered a second time" "$(sink_has "$qid")" 0 ;;
	esac
	t_is "$mode: no bounce sent to the good primary" \
		"$(grep -l 'X-Mail-Args: *FROM:<>' "$SINK_DIR"/* 2>/dev/null | wc -l)" 0
	world_kill "$SINK_PID"
done
# line by line: a regex over the whole log would let ".*" run across lines
t_is "no DSN generated (log)" \
	"$(grep -Ec 'dsn queued|bounce queued|DSN .*queued' "$BMXD_LOG")" 0
bmxd_stop
t_unlike "no sanitizer report" "$(cat "$BMXD_LOG")" 'ERROR: (Address|Leak)Sanitizer|runtime error:'
t_done
