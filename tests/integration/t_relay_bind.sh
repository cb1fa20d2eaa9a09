#!/bin/bash
# t_relay_bind.sh - bind_address: every outgoing connection (the probe of a
# down primary and the deliveries after it) leaves from the configured source
# address, so a multi-homed backup presents the address the primary
# authorises; an address that is not on this host is refused by -n and by
# the daemon alike.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have smtp-source || t_skip_all "smtp-source (postfix) not installed"
bmxd_world_dns </dev/null
bmxd_relay_config <<<"bind_address = 127.0.0.9"

# not an address of this host: -n and the daemon refuse it, with the reason
sed 's/^bind_address = .*/bind_address = 192.0.2.9/' "$W/bmx.conf" >"$W/bad.conf"
out=$("$BMXD" -n -c "$W/bad.conf" 2>&1)
t_is "-n refuses a bind_address that is not on this host" "$?" 1
t_like "... and says why" "$out" 'bind_address 192.0.2.9: not an address of this host'
out=$(timeout 10 "$BMXD" -c "$W/bad.conf" 2>&1)
t_is "the daemon refuses it too" "$?" 1
t_like "... before it listens" "$out" 'bind_address 192.0.2.9'
sed 's/^bind_address = .*/bind_address = ::1/' "$W/bmx.conf" >"$W/bad6.conf"
t_like "bind_address takes IPv4 only" "$("$BMXD" -n -c "$W/bad6.conf" 2>&1)" \
	"bind_address: '::1' is not an IPv4 address"
out=$("$BMXD" -n -c "$W/bmx.conf" 2>&1)
t_like "-n says the bind address was checked" "$out" \
	'# checked: bind_address 127.0.0.9 is an address of this host'
t_like "-n prints the setting" "$out" '^bind_address = 127.0.0.9$'

bmxd_start || { t_fail "daemon start"; t_done; }
N=20
bmxd_send_n $N && t_ok "queued $N with the primary down" ||
	t_fail "smtp-source failed" "$(tail -3 "$W/source.log")"
# True once the probe has found the primary down.
down() { grep -q 'destination example.test is down' "$BMXD_LOG"; }
world_wait_until 10 down || t_fail "the primary was not marked down"
S=$W/slow.json
world_bg "$WORLD_PY" "$WORLD_LIB/slowmx.py" --listen 127.0.0.2:"$BMX_PORT" --stats "$S"
world_wait_port 127.0.0.2 "$BMX_PORT" 10
# True once the primary counts $N messages.
arrived() { grep -q "\"messages\": $N," "$S" 2>/dev/null; }
world_wait_until 30 arrived && t_ok "the queue drained" || t_fail "not drained: $(cat "$S")"
sleep 0.3
t_diag "primary: $(cat "$S")"
t_like "every connection (probe and deliveries) came from 127.0.0.9" "$(cat "$S")" \
	'"peers": \["127.0.0.9"\]'
t_done
