#!/bin/bash
# t_two_nodes.sh - two backupmxd nodes at the same MX preference (issue 17,
# "several nodes"): mail accepted by either node goes only to the primary,
# never to the other node (RFC 5321 5.1: a relay drops every MX whose
# preference is not better than its own); with the primary down, mail sent
# to either node survives, even a crash of one node; both queues drain
# when the primary returns, each message exactly once.
#
# World: unbound serves example.test MX 10 mx1 (127.0.0.2, smtp-sink, down
# at first), MX 20 mx2a (127.0.0.3, node A), MX 20 mx2b (127.0.0.4, node B).
# Both nodes listen on the same free port at their own address and send
# from it (bind_address), so a node that delivered to the other would show
# as "connect from 127.0.0.3/4" in the other's log.  Clients send from
# 127.0.0.1 (smtp-source).
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have smtp-source || t_skip_all "smtp-source is not installed (postfix)"
ip addr add 127.0.0.4/8 dev lo 2>/dev/null
BMX_PORT=$(world_free_port)
world_dns_start <<'EOD'
local-zone: "example.test." static
local-data: "example.test. 3600 IN SOA ns.example.test. h.example.test. 1 3600 900 604800 300"
local-data: "example.test. 3600 IN MX 10 mx1.example.test."
local-data: "example.test. 3600 IN MX 20 mx2a.example.test."
local-data: "example.test. 3600 IN MX 20 mx2b.example.test."
local-data: "mx1.example.test. 300 IN A 127.0.0.2"
local-data: "mx2a.example.test. 300 IN A 127.0.0.3"
local-data: "mx2b.example.test. 300 IN A 127.0.0.4"
EOD
chmod 755 "$W"
declare -A PID
# conf NODE ADDR: write node NODE's config (spool $W/NODE).
conf()
{
	local n=$1 a=$2
	mkdir -p "$W/$n"
	cat >"$W/$n.conf" <<EOF
hostname = mx2$n.example.test
listen = $a:$BMX_PORT
bind_address = $a
spool = $W/$n/spool
control_socket = $W/$n/spool/control.sock
relay_domains = example.test
resolver = $RESOLVER
relay_port = $BMX_PORT
probe_interval = 2
retry_min = 2
connect_timeout = 2
log_level = debug
$([ "$(id -u)" = 0 ] && echo "user = nobody")
EOF
}
# start NODE ADDR: start node NODE and wait for its port and control socket.
start()
{
	"$BMXD" -c "$W/$1.conf" >>"$W/$1.log" 2>&1 &
	PID[$1]=$!
	world_track "${PID[$1]}"
	world_wait_port "$2" "$BMX_PORT" 10 &&
		world_wait_until 10 test -S "$W/$1/spool/control.sock"
}
# stop NODE: SIGTERM, wait; fails the test on a sanitizer report.
stop()
{
	local rc
	kill -TERM "${PID[$1]}" 2>/dev/null
	wait "${PID[$1]}" 2>/dev/null
	rc=$?
	t_is "node $1 stops cleanly" "$rc" 0 || t_diag "$(tail -30 "$W/$1.log")"
}
queued() { find "$W/$1/spool/queue" -type f 2>/dev/null | wc -l; }
# send N ADDR TAG: N messages through the node at ADDR.
send()
{
	smtp-source -s 5 -m "$1" -f "s@client.test" -t "r@example.test" -S "two nodes $3" \
		"$2:$BMX_PORT" >"$W/source.$3.log" 2>&1
}

conf a 127.0.0.3
conf b 127.0.0.4
start a 127.0.0.3 || { t_fail "node a starts" "$(tail -20 "$W/a.log")"; t_done; }
start b 127.0.0.4 || { t_fail "node b starts" "$(tail -20 "$W/b.log")"; t_done; }
t_ok "two nodes at MX 20 run (127.0.0.3 and 127.0.0.4)"

# 1. primary down: each node keeps what it accepted
send 6 127.0.0.3 a && t_ok "node a accepted 6 messages with the primary down" ||
	t_fail "smtp-source to node a" "$(cat "$W/source.a.log")"
send 4 127.0.0.4 b && t_ok "node b accepted 4 messages with the primary down" ||
	t_fail "smtp-source to node b" "$(cat "$W/source.b.log")"
sleep 7   # three probe intervals: time for a wrong hop to happen
t_is "node a holds its 6 messages" "$(queued a)" 6
t_is "node b holds its 4 messages" "$(queued b)" 4
t_unlike "node a never connected to node b" "$(cat "$W/b.log")" 'connect from 127\.0\.0\.3'
t_unlike "node b never connected to node a" "$(cat "$W/a.log")" 'connect from 127\.0\.0\.4'
t_like "node a tries only the primary" "$(cat "$W/a.log")" 'mx1\.example\.test|127\.0\.0\.2'
t_unlike "node a never names the other node as a next hop" "$(cat "$W/a.log")" \
	'relay=mx2b|mx2b\.example\.test\[|127\.0\.0\.4\]:'
t_unlike "node b never names the other node as a next hop" "$(cat "$W/b.log")" \
	'relay=mx2a|mx2a\.example\.test\[|127\.0\.0\.3\]:'

# 2. node a crashes during the outage and comes back: its mail survives
kill -KILL "${PID[a]}"
wait "${PID[a]}" 2>/dev/null
start a 127.0.0.3 || t_fail "node a restarts" "$(tail -20 "$W/a.log")"
t_is "node a's 6 messages survived a SIGKILL" "$(queued a)" 6

# 3. the primary returns: both queues drain to it, each message once
world_sink_start 127.0.0.2 "$BMX_PORT"
world_wait_until 20 world_sink_has 10
sleep 2   # a duplicate would arrive now
t_is "the primary got all 10 messages, each once" "$(world_sink_count)" 10
world_wait_until 10 bash -c "[ \$(find '$W/a/spool/queue' '$W/b/spool/queue' -type f | wc -l) = 0 ]"
t_is "node a's queue drained" "$(queued a)" 0
t_is "node b's queue drained" "$(queued b)" 0
t_like "node a delivered to the primary" "$(cat "$W/a.log")" \
	'relay=mx1\.example\.test\[127\.0\.0\.2\]:[0-9]+, .*status=sent'
t_like "node b delivered to the primary" "$(cat "$W/b.log")" \
	'relay=mx1\.example\.test\[127\.0\.0\.2\]:[0-9]+, .*status=sent'
t_unlike "still no connection from node a to node b" "$(cat "$W/b.log")" 'connect from 127\.0\.0\.3'
t_unlike "still no connection from node b to node a" "$(cat "$W/a.log")" 'connect from 127\.0\.0\.4'
stop a
stop b
t_done
