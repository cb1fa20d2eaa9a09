#!/bin/bash
# t_fault_enospc_delivery.sh - the spool disk fills up while delivery state
# is being recorded.  Messages have two recipients in two domains: one whose
# primary (smtp-sink on 127.0.0.2) comes up while the disk is full, one whose
# primary (127.0.0.4) stays down, so delivering the first recipient must
# append a per-recipient state record, on a full disk.  Then space returns and
# backupmxd restarts.  Nothing may be lost or found corrupt, the daemon must
# stay alive, and the delivered recipient may be sent again at most once
# after the restart (at-least-once: the extra copies are counted).
# Runs in its own mount namespace so the small tmpfs vanishes with the test.
if [ -z "${T_MNTNS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	T_MNTNS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
[ "${T_MNTNS:-}" = 1 ] || t_skip_all "needs root for a private tmpfs"
N=5
SPORT=$(world_free_port)
bmxd_config <<CONF
relay_domains = other.test
route example.test = [127.0.0.2]:$SPORT
route other.test = [127.0.0.4]:$SPORT
retry_min = 1
retry_max = 2
probe_interval = 1
connect_timeout = 2
CONF
mkdir -p "$BMX_SPOOL"
mount -t tmpfs -o size=1m,mode=0700 tmpfs "$BMX_SPOOL" || t_skip_all "cannot mount tmpfs"
bmxd_start || { t_fail "daemon start"; t_done; }

# Submit message $1 to u@example.test and v@other.test; prints its queue ID.
submit() { bmxd_submit "Subject: enospc $1\r\n\r\nbody of $1\r\n" u@example.test v@other.test; }

# Queue IDs in the dumps of sink dir $1, one per delivery.
seen()
{
	find "$1" -maxdepth 1 -type f -exec grep -h -m1 -o '(backupmx) with [A-Za-z]* id [A-Za-z0-9]*' {} + \
		2>/dev/null | awk '{print $NF}' | sort
}

# True once sink dir $1 has seen $2 distinct queue IDs.
seen_all() { [ "$(seen "$1" | sort -u | wc -l)" -ge "$2" ]; }

# Both primaries down: every message is accepted and deferred.
: >"$W/qids"
for ((i = 1; i <= N; i++)); do
	q=$(submit "m$i") && [ -n "$q" ] && echo "$q" >>"$W/qids" || t_fail "submit m$i" "$(cat "$W/submit.out")"
done
sort -o "$W/qids" "$W/qids"
t_is "$N two-domain messages queued" "$(bmxd_queue_files | grep -c .)" $N
sleep 1.5

# Fill the disk completely.
dd if=/dev/zero of="$BMX_SPOOL/filler" bs=4096 2>/dev/null
t_diag "spool free after filling: $(df --output=avail -B1 "$BMX_SPOOL" | tail -1) octets"
st_before=$(cat "$BMX_SPOOL"/state/* 2>/dev/null | wc -c)
log_mark=$(wc -l <"$BMXD_LOG")

# example.test's primary comes up: delivery on a full disk.
world_sink_start 127.0.0.2 "$SPORT"
SINK_A=$SINK_DIR
world_wait_until 15 seen_all "$SINK_A" $N
sleep 3
seen "$SINK_A" >"$W/seen1"
t_is "every message delivered to example.test while the disk is full" \
	"$(sort -u "$W/seen1" | comm -23 "$W/qids" - | wc -l)" 0
dup_full=$(( $(wc -l <"$W/seen1") - $(sort -u "$W/seen1" | wc -l) ))
t_is "no re-delivery while running on a full disk" "$dup_full" 0
world_alive "$BMXD_PID"
t_is "daemon alive on a full disk" "$?" 0
st_after=$(cat "$BMX_SPOOL"/state/* 2>/dev/null | wc -c)
t_diag "state/ octets before/after delivery on the full disk: $st_before/$st_after"
t_diag "daemon log lines about the full disk: $(tail -n +$((log_mark + 1)) "$BMXD_LOG" |
	grep -ci 'space\|ENOSPC\|state')"
tail -n +$((log_mark + 1)) "$BMXD_LOG" | grep -i 'space\|ENOSPC\|state' | head -3 |
	while IFS= read -r l; do t_diag "  $l"; done
t_is "messages still queued for other.test" "$(bmxd_queue_files | grep -c .)" $N

# Space returns; restart.
rm -f "$BMX_SPOOL/filler"
bmxd_stop
t_is "graceful stop" "${BMXD_RC:-x}" 0
bmxd_start || t_fail "restart"
sleep 4
t_is "nothing found corrupt at restart" "$(ls "$BMX_SPOOL/corrupt" 2>/dev/null | wc -l)" 0
t_is "no temp file left" "$(ls "$BMX_SPOOL/tmp" 2>/dev/null | wc -l)" 0
t_is "all $N messages still queued (other.test pending)" "$(bmxd_queue_files | grep -c .)" $N
seen "$SINK_A" >"$W/seen2"
again=$(( $(wc -l <"$W/seen2") - $(wc -l <"$W/seen1") ))
t_diag "example.test copies sent again after the restart: $again of $N"
max=$(uniq -c "$W/seen2" | awk 'BEGIN{m=0} $1>m{m=$1} END{print m}')
[ "$max" -le 2 ]
t_is "a delivered recipient is sent again at most once after the restart (max copies $max)" "$?" 0

# other.test's primary comes up: everything drains, nothing is lost.
world_sink_start 127.0.0.4 "$SPORT"
SINK_B=$SINK_DIR
world_wait_until 15 bmxd_queue_empty
sleep 0.5
t_is "queue empty once both primaries are up" "$(bmxd_queue_files | grep -c .)" 0
t_is "no example.test message lost" "$(seen "$SINK_A" | sort -u | comm -23 "$W/qids" - | wc -l)" 0
t_is "no other.test message lost" "$(seen "$SINK_B" | sort -u | comm -23 "$W/qids" - | wc -l)" 0
t_is "other.test received each message once" "$(seen "$SINK_B" | wc -l)" $N
dups=$(( $(seen "$SINK_A" | wc -l) - N ))
t_ok "example.test duplicates in total: $dups (reported, at-least-once allows them)"
# the state writes that failed on the full disk are retried (sweep, and at
# the graceful stop), so with space back before the stop nothing is resent
t_is "failed state writes were retried: no duplicate after the restart" "$dups" 0
t_is "nothing found corrupt" "$(ls "$BMX_SPOOL/corrupt" 2>/dev/null | wc -l)" 0
t_unlike "no sanitizer report" "$(cat "$BMXD_LOG")" 'ERROR: AddressSanitizer|runtime error:'
bmxd_stop
umount "$BMX_SPOOL" 2>/dev/null
t_done
