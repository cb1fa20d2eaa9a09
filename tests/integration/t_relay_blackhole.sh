#!/bin/bash
# t_relay_blackhole.sh - the primary is a black hole: first a port whose SYNs
# are dropped (nftables: connects time out after connect_timeout), then a
# listener that accepts and never speaks (tests/lib/blackhole.py).  The
# timeouts must be honoured (status shows the destination down with a
# timeout, the daemon stays responsive), nothing is lost, and once a real
# smtp-sink replaces the black hole every message is delivered.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
bmxd_world_dns </dev/null
bmxd_relay_config </dev/null
bmxd_start || { t_fail "daemon start"; t_done; }

# Wait up to $2 s for the sink to hold $1 messages; print the seconds taken.
wait_sink()
{
	local t0=$SECONDS
	world_wait_until "$2" world_sink_has "$1"
	echo $((SECONDS - t0))
}

# --- 1: SYNs dropped ---
if world_have nft && nft add table inet bmxbh 2>/dev/null; then
	nft add chain inet bmxbh input '{ type filter hook input priority -10; policy accept; }'
	nft add rule inet bmxbh input iif lo ip daddr 127.0.0.2 tcp dport "$BMX_PORT" drop
	bmxd_send_n 10 || t_fail "send" "$(cat "$W/source.log")"
	sleep 6
	st=$(bmxd_status_dest example.test)
	t_diag "status with SYNs dropped: $st"
	t_like "status: down" "$st" '"state": *"down"'
	t_like "status: the error is a timeout" "$st" '[Tt]ime'
	t_is "10 queued" "$(bmxd_queue_files | wc -l)" 10
	nft delete table inet bmxbh
	world_sink_start 127.0.0.2 "$BMX_PORT"
	el=$(wait_sink 10 30)
	t_diag "delivered $el s after the drop rule was removed"
	t_is "dropped-SYN phase: all 10 delivered" "$(world_sink_count)" 10
	[ "$el" -le 7 ] && t_ok "within probe_interval + 5 s" || t_fail "took $el s"
	world_kill "$SINK_PID"
	rm -f "$SINK_DIR"/*
	sleep 1
else
	t_skip "SYN-drop black hole" "nftables not usable"
fi

# --- 2: accepts and never speaks ---
world_blackhole_start 127.0.0.2 "$BMX_PORT"
bmxd_send_n 10 || t_fail "send" "$(cat "$W/source.log")"
sleep 8
st=$(bmxd_status_dest example.test)
t_diag "status with a silent listener: $st"
[ -n "$st" ] && t_ok "control socket answers while connections hang" ||
	t_fail "status did not answer"
# Known limit: the banner wait is RFC 5321's 5 minutes, so a silent listener
# holds connections (and the "up" state learnt before) until it times out.
t_diag "silent listener: state $(printf '%s' "$st" | grep -o '"state": *"[a-z]*"')," \
	"connections $(printf '%s' "$st" | grep -o '"connections": *[0-9]*')"
t_is "10 queued" "$(bmxd_queue_files | wc -l)" 10
world_kill "$BH_PID"
world_sink_start 127.0.0.2 "$BMX_PORT"
el=$(wait_sink 10 30)
t_diag "delivered $el s after the sink replaced the silent listener"
t_is "silent-listener phase: all 10 delivered" "$(world_sink_count)" 10
[ "$el" -le 7 ] && t_ok "within probe_interval + 5 s" || t_fail "took $el s"
sleep 1
t_is "queue empty" "$(bmxd_queue_files | wc -l)" 0
t_done
