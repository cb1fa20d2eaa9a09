#!/bin/bash
# t_relay_ondemand.sh - the delivery engine keeps only scheduling facts in
# memory and reads each envelope from its queue file when it needs it
# (issue 17, src/relay/relay_msg.c).  With the primary down:
#   - `backupmx queue` (text and --json), `queue show`, the status page and
#     --domain show sender, recipients and states read from disk;
#   - a message to two domains (one up, one down) keeps its delivered
#     recipient's state across the envelope being dropped and read again:
#     after the second primary returns only the other recipient is sent;
#   - a queue file removed behind the daemon's back is logged and dropped
#     when its delivery starts; the others are delivered, each once;
#   - a queue file that cannot be parsed is shown as unreadable, and when
#     its delivery starts it is moved to corrupt/ (never deleted), as
#     recovery does at start-up; it does not stop the rest.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have smtp-sink || t_skip_all "smtp-sink missing"
bmxd_world_dns <<EOD
local-zone: "other.test." static
local-data: "other.test. 3600 IN SOA ns.other.test. h.other.test. 1 3600 900 604800 300"
local-data: "other.test. 3600 IN MX 10 mx1.other.test."
local-data: "other.test. 3600 IN MX 20 mx2.example.test."
local-data: "mx1.other.test. 300 IN A 127.0.0.5"
EOD
bmxd_relay_config <<EOD
relay_domains = example.test other.test
primary_up = queue
EOD
world_sink_start 127.0.0.5 "$BMX_PORT"      # other.test's primary: up
OTHER_DIR=$SINK_DIR
bmxd_start || { t_fail "daemon start"; t_done; }
CTL=(--control "$BMX_SPOOL/control.sock")

q1=$(bmxd_submit 'Subject: one\r\n\r\nfirst\r\n' one@example.test)
q2=$(bmxd_submit 'Subject: two\r\n\r\nsecond\r\n' two@example.test)
q3=$(bmxd_submit 'Subject: three\r\n\r\nthird\r\n' three@example.test)
q4=$(bmxd_submit 'Subject: both\r\n\r\nto both domains\r\n' both@example.test both@other.test)
t_ok "four messages queued" test -n "$q1" -a -n "$q2" -a -n "$q3" -a -n "$q4"
world_wait_until 20 world_sink_has 1 "$OTHER_DIR"
t_is "the other.test recipient was delivered at once" "$(world_sink_count "$OTHER_DIR")" 1

out=$(timeout 10 "$BMX" queue "${CTL[@]}" 2>&1)
t_like "queue shows a sender read from disk" "$out" "$q1.*<?a@c\.test"
t_like "queue shows a recipient read from disk" "$out" "one@example\.test"
t_like "the two-domain message lists both recipients" "$out" "both@example\.test"
t_like "its delivered recipient shows as sent" "$out" "both@other\.test[[:space:]]*\(sent\)"
json=$(timeout 10 "$BMX" queue --json "${CTL[@]}" 2>&1)
t_is "queue --json: four message lines" \
	"$(grep -c '"sender":"a@c.test"' <<<"$json")" 4
t_like "queue --json has the recipient states" "$json" \
	'"address":"both@other.test","state":"sent"'
show=$(timeout 10 "$BMX" queue show "$q2" "${CTL[@]}" 2>&1)
t_like "queue show: sender" "$show" 'Sender: +<a@c\.test>'
t_like "queue show: client" "$show" 'Client: .*\[127\.0\.0\.1\], HELO c\.test'
t_like "queue show: headers from the file" "$show" 'Subject: two'
dom=$(timeout 10 "$BMX" queue --domain other.test "${CTL[@]}" 2>&1)
t_unlike "--domain other.test: nothing left for it" "$dom" "$q4"
dom=$(timeout 10 "$BMX" queue --domain example.test --json "${CTL[@]}" 2>&1)
t_is "--domain example.test: all four" "$(grep -c '"id"' <<<"$dom")" 4

# behind the daemon's back: one file removed, one damaged
rm -f "$BMX_SPOOL/queue/$q2"
printf 'garbage\n' >"$BMX_SPOOL/queue/$q3"
out=$(timeout 10 "$BMX" queue "${CTL[@]}" 2>&1)
t_like "an unreadable queue file is listed, sender shown as ?" "$out" "$q3.* \?"
t_like "the daemon logs the unreadable file" "$(cat "$BMXD_LOG")" \
	"$q3: cannot read the queue file"

world_sink_start 127.0.0.2 "$BMX_PORT"      # example.test's primary returns
PRI_DIR=$SINK_DIR
world_wait_until 20 world_sink_has 2 "$PRI_DIR"
sleep 2
t_is "the readable messages reached the primary, each once" \
	"$(world_sink_count "$PRI_DIR")" 2
t_is "the two-domain message went once to other.test (nothing again)" \
	"$(world_sink_count "$OTHER_DIR")" 1
t_like "the example.test copy of it arrived" "$(cat "$PRI_DIR"/* 2>/dev/null)" 'to both domains'
t_like "the removed file: logged when its delivery started" "$(cat "$BMXD_LOG")" \
	"$q2: cannot read the queue file"
t_ok "the removed message is gone from the queue" \
	bash -c "! timeout 10 '$BMX' queue ${CTL[*]} | grep -q '$q2'"
t_ok "the damaged file is kept, in corrupt/" test -f "$BMX_SPOOL/corrupt/$q3"
t_like "its move is logged" "$(cat "$BMXD_LOG")" "queue/$q3 is damaged .*moved to corrupt/"
t_ok "it is no longer listed" \
	bash -c "! timeout 10 '$BMX' queue ${CTL[*]} | grep -q '$q3'"
t_ok "the delivered ones are removed" \
	bash -c "[ ! -e '$BMX_SPOOL/queue/$q1' ] && [ ! -e '$BMX_SPOOL/queue/$q4' ]"
bmxd_stop
t_done
