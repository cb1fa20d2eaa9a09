#!/bin/bash
# t_demo.sh - "make demo" non-interactively: tests/demo/demo.sh must end with
# "VERDICT: PASS", exit 0, show every step of the timeline, use the real
# Postfix primary (when Postfix is installed), and leave no process or temp
# dir behind.  The demo runs in its own nested network namespace.  Then
# once more as `make demo KEEP=1`: the world stays up after the verdict, the
# printed command reaches its status page, and the printed kill ends it
# without leftovers.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
world_init
[ "$(id -u)" = 0 ] || t_skip_all "the demo needs root"
[ -x "$BMX_BUILD/backupmx" ] && [ -x "$BMX_BUILD/backupmxd" ] || t_skip_all "not built"
world_have unbound || t_skip_all "unbound is not installed"

before=$(ls -d /tmp/backupmx-demo.* 2>/dev/null | sort)
OUT=$(BMX_DEMO_NS= timeout 240 bash "$BMX_ROOT/tests/demo/demo.sh" "$BMX_BUILD" </dev/null 2>&1)
RC=$?
printf '%s\n' "$OUT" >"$W/demo.out"
t_is "demo exits 0" "$RC" 0 || t_diag "$(tail -40 <<<"$OUT")"
t_like "demo ends with VERDICT: PASS" "$(tail -1 <<<"$OUT")" '^VERDICT: PASS'
t_like "says how to keep the world running" "$(head -3 <<<"$OUT")" 'make demo KEEP=1'
for s in "1. the primary is up" "2. the primary is stopped" "3. backupmx status" \
	"4. the primary is started again" "5. every message is at the primary"; do
	t_like "timeline step: $s" "$OUT" "=== $s"
done
t_like "the sender fell back to the backup" "$OUT" "fell back to the backup mx2"
t_like "status showed the primary down" "$OUT" "example\\.test +down"
t_like "every message exactly once" "$OUT" "messages at the primary, each exactly once"
if world_have postfix; then
	t_like "the primary was a real Postfix" "$OUT" \
		"primary: Postfix [0-9.]+ on 127\\.0\\.0\\.2:25"
fi
after=$(ls -d /tmp/backupmx-demo.* 2>/dev/null | sort)
t_is "no temp dir left behind" "$after" "$before"
left=$(ps -eo args | grep -c '[b]ackupmx-demo\.')
t_is "no process left behind" "$left" 0

# --- make demo KEEP=1: the world stays up, reachable as printed, until killed ---
KOUT=$W/keep.out
BMX_DEMO_NS= DEMO_RUN_ON=1 setsid bash "$BMX_ROOT/tests/demo/demo.sh" "$BMX_BUILD" \
	</dev/null >"$KOUT" 2>&1 &
KPID=$!
world_track "$KPID"
world_wait_until 240 grep -q 'Stop it with' "$KOUT"
t_like "KEEP=1: the verdict, then the world keeps running" "$(cat "$KOUT")" \
	'VERDICT: PASS.*'
t_like "KEEP=1: prints how to reach the status page" "$(cat "$KOUT")" \
	'status page: +nsenter --net=/proc/[0-9]+/ns/net curl -s http://127\.0\.0\.3:8025/'
cmd=$(sed -n 's/^  status page: *//p' "$KOUT")
page=$(timeout 10 $cmd 2>&1)
t_like "KEEP=1: the printed command reaches the status page" "$page" '<html|example\.test'
stop=$(sed -n 's/^Stop it with Ctrl-C here, or: //p' "$KOUT")
t_like "KEEP=1: says how to stop it" "$stop" '^kill [0-9]+$'
$stop
world_wait_until 20 bash -c "! kill -0 $KPID 2>/dev/null"
t_is "KEEP=1: the printed kill stops it" "$(kill -0 "$KPID" 2>/dev/null && echo running)" ""
after=$(ls -d /tmp/backupmx-demo.* 2>/dev/null | sort)
t_is "KEEP=1: no temp dir left behind" "$after" "$before"
t_is "KEEP=1: no process left behind" "$(ps -eo args | grep -c '[b]ackupmx-demo\.')" 0
t_done
