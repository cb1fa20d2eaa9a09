#!/bin/bash
# t_attack_dns.sh - DNS trouble on the delivery side: the resolver is a dead
# port, or answers REFUSED/SERVFAIL for the destination's zone.  Messages are
# deferred, never bounced: the queue still holds every one, no DSN is
# queued, nothing says "bounced", and the daemon stays up.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
WAIT=${DNS_WAIT:-25}   # a dead forwarder gives SERVFAIL after ~17 s on the first query
# what the daemon logs when a destination cannot be resolved (or a message is deferred)
DEFER_RE='deferred|destination (x\.sub\.)?example\.test is down'

# Submit N messages for uI@example.test (or uI@DOMAIN with $2), I from 0.
submit_n()
{
	local i rc=0
	for ((i = 0; i < $1; i++)); do
		bmxd_submit "Subject: dns $i\r\n\r\nbody\r\n" "u$i@${2:-example.test}" >/dev/null || rc=1
	done
	return $rc
}

# Check the state after DNS trouble named $1 with $2 messages submitted.
check_deferred()
{
	world_wait_until "$WAIT" grep -Eq "$DEFER_RE" "$BMXD_LOG"
	sleep 3   # a few retries (retry_min = 1)
	t_like "$1: delivery was attempted and deferred" "$(cat "$BMXD_LOG")" "$DEFER_RE"
	world_alive "$BMXD_PID"
	t_is "$1: daemon alive" "$?" 0
	t_is "$1: every message still queued, no DSN queued" "$(bmxd_queue_files | wc -l)" "$2"
	t_unlike "$1: nothing bounced" "$(cat "$BMXD_LOG")" 'bounced|notification:|no DSN for'
	local senders
	senders=$(for f in "$BMX_SPOOL"/queue/*; do tr -d '\000' <"$f" | grep -c 'a@c.test'; done |
		grep -c '^0$')
	t_is "$1: no queued message has the null sender (no DSN)" "$senders" 0
	t_unlike "$1: no sanitizer report" "$(cat "$BMXD_LOG")" 'ERROR: AddressSanitizer|runtime error:'
}

# --- 1: the resolver is a dead port ---
RESOLVER="127.0.0.1@$(world_free_port)"   # nothing listens there
bmxd_config <<CONF
retry_min = 1
retry_max = 2
probe_interval = 1
CONF
bmxd_start || { t_fail "daemon start (dead resolver)"; t_done; }
submit_n 3 || t_fail "dead resolver: messages accepted"
check_deferred "dead resolver" 3
bmxd_stop
t_unlike "dead resolver: no sanitizer report at exit" "$(cat "$BMXD_LOG")" \
	'ERROR: (Address|Leak)Sanitizer|runtime error:'

# --- 2: the zone is refused (REFUSED) by an otherwise working resolver ---
world_dns_start <<'DNS'
    local-zone: "example.test." refuse
    local-zone: "c.test." refuse
DNS
rm -rf "$BMX_SPOOL" "$W/bmx.conf" "$BMXD_LOG"
BMX_PORT=""
bmxd_config <<CONF
retry_min = 1
retry_max = 2
probe_interval = 1
CONF
bmxd_start || { t_fail "daemon start (refused zone)"; t_done; }
submit_n 3 || t_fail "refused zone: messages accepted"
submit_n 1 x.sub.example.test || t_fail "refused zone: subdomain message accepted"
check_deferred "refused zone" 4
bmxd_stop
t_unlike "refused zone: no sanitizer report at exit" "$(cat "$BMXD_LOG")" \
	'ERROR: (Address|Leak)Sanitizer|runtime error:'
t_done
