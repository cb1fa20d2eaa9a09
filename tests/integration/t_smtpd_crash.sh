#!/bin/bash
# t_smtpd_crash.sh - kill -9 backupmxd 20 times at random moments while a
# client sends continuously; every message the client saw 250 for must be in
# the spool, complete, after the final restart.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
bmxd_config </dev/null
bmxd_start || { t_fail "daemon start"; t_done; }

"$WORLD_PY" "$BMX_ROOT/tests/lib/sendloop.py" 127.0.0.3 "$BMX_PORT" "$W/acked" 120 &
CLIENT=$!
world_track "$CLIENT"
kills=0
for i in $(seq 1 20); do
    sleep "0.$(( (RANDOM % 7) + 2 ))"
    bmxd_kill9
    kills=$((kills + 1))
    bmxd_start >/dev/null || { t_fail "restart $i"; break; }
done
sleep 1
kill -TERM "$CLIENT" 2>/dev/null; wait "$CLIENT" 2>/dev/null
bmxd_kill9
bmxd_start || t_fail "final restart"
sleep 1
t_is "daemon killed 20 times" "$kills" 20
acked=$(sort -u "$W/acked" | wc -l)
t_diag "messages acknowledged with 250: $acked"
[ "$acked" -gt 20 ] && t_ok "client kept sending across crashes ($acked acked)" || t_fail "too few messages acked: $acked"
missing=0
for q in $(sort -u "$W/acked"); do
    [ -f "$BMX_SPOOL/queue/$q" ] || { missing=$((missing + 1)); t_diag "lost: $q"; }
done
t_is "every acknowledged message is in the spool" "$missing" 0
corrupt_acked=0
for q in $(ls "$BMX_SPOOL/corrupt" 2>/dev/null); do
    grep -qx "$q" "$W/acked" && corrupt_acked=$((corrupt_acked + 1))
done
t_is "no acknowledged message was found damaged" "$corrupt_acked" 0
t_is "no temp files after recovery" "$(ls "$BMX_SPOOL/tmp" | wc -l)" 0
t_done
