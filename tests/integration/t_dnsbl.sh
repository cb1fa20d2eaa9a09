#!/bin/bash
# t_dnsbl.sh - DNSBL/DNSWL scoring at connect (issue 14), with the primary
# down so that mail is stored and forwarded (the backup judges alone):
# postscreen's dnsbl_sites syntax (filters, weights, an allow list with a
# negative weight), dnsbl_threshold, every dnsbl_action, lists that refuse
# (127.255.255.x) or time out (never acted on, logged once a minute), IPv6
# clients (nibble form), and a primary's own address, never scored.  The
# lists are zones of the test unbound; a forwarder in front of it drops the
# queries of one list (a list that times out).
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
world_have swaks || t_skip_all "swaks is not installed"
for a in 66 68 69 70 77; do ip addr add "127.0.0.$a/8" dev lo 2>/dev/null; done
V6=1
ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128' || V6=0

# ::1 in nibble form under bl.test
NIB=$(printf '1.%s' "$(printf '0.%.0s' $(seq 1 31))")
bmxd_world_dns <<EOF
local-zone: "bl.test." static
local-data: "66.0.0.127.bl.test. 300 IN A 127.0.0.2"
local-data: "69.0.0.127.bl.test. 300 IN A 127.0.0.2"
local-data: "2.0.0.127.bl.test. 300 IN A 127.0.0.2"
local-data: "${NIB}bl.test. 300 IN A 127.0.0.2"
local-zone: "filt.test." static
local-data: "66.0.0.127.filt.test. 300 IN A 127.0.0.3"
local-data: "68.0.0.127.filt.test. 300 IN A 127.0.0.4"
local-data: "70.0.0.127.filt.test. 300 IN A 127.0.0.4"
local-zone: "wl.test." static
local-data: "69.0.0.127.wl.test. 300 IN A 127.0.0.2"
local-zone: "refuse.test." redirect
local-data: "refuse.test. 300 IN A 127.255.255.254"
local-zone: "slow.test." static
local-data: "70.0.0.127.slow.test. 300 IN A 127.0.0.2"
EOF
DD=$(world_free_port)
world_bg "$WORLD_PY" "$WORLD_LIB/dnsdelay.py" --listen "127.0.0.1:$DD" \
	--upstream "127.0.0.1:$DNS_PORT" --ptr-delay-ms 0 --drop-suffix slow.test
world_wait_until 5 grep -q listening "$BG_LOG" || t_fail "dnsdelay did not start"
RESOLVER=127.0.0.1@$DD

# (Re)start backupmxd with dnsbl_action $1; false if it does not come up.
start_bmxd()
{
	bmxd_stop 2>/dev/null
	: >"$W/backupmxd.log"
	bmxd_relay_config <<CF
dnsbl_sites = bl.test*2, filt.test=127.0.0.[2;4], wl.test*-3, refuse.test, slow.test*5
dnsbl_threshold = 2
dnsbl_action = $1
dnsbl_timeout = 2
CF
	[ "$V6" = 1 ] && sed -i "s/^listen = .*/listen = 127.0.0.3:$BMX_PORT, [::1]:$BMX_PORT/" "$W/bmx.conf"
	bmxd_start
}
# swaks from SRC to the backup: send SRC [args]; prints swaks' output.
send() { local s=$1; shift; world_swaks 127.0.0.3 "$BMX_PORT" --local-interface "$s" "$@" 2>&1; }
# The reply to the first RCPT in swaks output.
rcpt_reply() { awk '/^ *-> RCPT TO:/ { getline; print; exit }' <<<"$1"; }

out=$("$BMXD" -n -c /dev/stdin 2>&1 <<CF
hostname = mx2.example.test
relay_domains = example.test
spool = $W/nospool
dnsbl_sites = bl.example.org=127.0.0.[2;4
CF
)
t_like "-n refuses a malformed dnsbl_sites entry, naming it" "$out" \
	"dnsbl_sites: 'bl\\.example\\.org=127\\.0\\.0\\.\\[2;4'"

# bounce_policy = authenticated (the default) needs a milter to authenticate
# anyone: -n warns without one, and not with one or with another policy
ncfg() { printf 'hostname = mx2.example.test\nrelay_domains = example.test\nspool = %s\n%s\n%s\n' \
	"$W/nospool" "$([ "$(id -u)" = 0 ] && echo "user = nobody")" "$1" |
	"$BMXD" -n -c /dev/stdin 2>&1; }
t_like "-n warns: bounce_policy = authenticated without milters authenticates no one" \
	"$(ncfg '')" '^# warning: bounce_policy = authenticated but no milters: no sender can be authenticated'
out=$(ncfg 'milters = inet:127.0.0.1:11332')
t_like "-n accepts a config with a milter" "$out" '^milters = inet:127\.0\.0\.1:11332$'
t_unlike "-n: no such warning with a milter" "$out" 'bounce_policy = authenticated but no milters'
out=$(ncfg 'bounce_policy = always')
t_like "-n accepts bounce_policy = always" "$out" '^bounce_policy = always$'
t_unlike "-n: no such warning with bounce_policy = always" "$out" \
	'bounce_policy = authenticated but no milters'

start_bmxd reject || { t_fail "daemon start"; t_done; }
# 127.0.0.66: bl.test (+2) -> 2: refused, naming the list
out=$(send 127.0.0.66 --to a@example.test)
t_like "a client listed by bl.test (score 2 = threshold) is refused at RCPT" \
	"$(rcpt_reply "$out")" \
	'^<\*\* +554 5\.7\.1 Service unavailable; client \[127\.0\.0\.66\] listed by bl\.test$'
t_like "... and logged with its score" "$(cat "$BMXD_LOG")" \
	'127\.0\.0\.66: reject: RCPT <a@example\.test>: score 2, listed by bl\.test'
bmxd_queue_empty && t_ok "... nothing stored" || t_fail "... nothing stored" "$(bmxd_queue_files)"
# 127.0.0.77: clean (refuse.test answers 127.255.255.254: never counted)
out=$(send 127.0.0.77 --to b@example.test)
t_like "a clean client is accepted (stored: the primary is down)" "$out" \
	'^<- +250 .*queued as [0-9A-Za-z]+'
# 127.0.0.68: filt.test answers 127.0.0.4 (in [2;4]): weight 1 < 2
out=$(send 127.0.0.68 --to c@example.test)
t_like "a filter match of weight 1 stays under the threshold" "$(rcpt_reply "$out")" '^<- +250 '
# 127.0.0.66 on filt.test answers 127.0.0.3, outside [2;4]: counted 0 (score was 2 from bl.test only)
t_unlike "an answer outside a list's filter is not counted" "$(cat "$BMXD_LOG")" \
	'127\.0\.0\.66: score [3-9]'
# 127.0.0.69: bl.test +2, wl.test -3 -> -1
out=$(send 127.0.0.69 --to d@example.test)
t_like "an allow list (negative weight) outweighs a block list" "$(rcpt_reply "$out")" '^<- +250 '
t_like "... the score is logged as -1" "$(cat "$BMXD_LOG")" 'dnsbl: 127\.0\.0\.69: score -1'
# the refusing list: logged once a minute, not per client
n=$(grep -c 'dnsbl: refuse\.test: no usable answer' "$BMXD_LOG")
t_is "a list that refuses queries (127.255.255.x) is logged once a minute, not per client" "$n" 1
# 127.0.0.70: slow.test (weight 5) never answers; filt.test +1: not listed, after the deadline
t0=$(date +%s.%N)
out=$(send 127.0.0.70 --to e@example.test)
dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
t_like "a list that times out counts as not listed" "$(rcpt_reply "$out")" '^<- +250 '
awk -v d="$dt" 'BEGIN { exit !(d < 5) }' && t_ok "... the RCPT waited no longer than dnsbl_timeout (${dt}s)" ||
	t_fail "... the RCPT waited no longer than dnsbl_timeout" "${dt}s"
n=$(grep -c 'dnsbl: slow\.test: no usable answer for .* (timeout)' "$BMXD_LOG")
t_is "... the timeout is logged once a minute, not per client" "$n" 1
# IPv6: ::1 is in bl.test in nibble form
if [ "$V6" = 1 ]; then
	# swaks here has no IPv6 (no IO::Socket::INET6): smtpraw speaks it
	out=$(world_smtpraw ::1 "$BMX_PORT" 2>&1 <<'SCR'
expect 220
send b"EHLO client.test\r\n"
expect 250
send b"MAIL FROM:<sender@client.test>\r\n"
expect 250
send b"RCPT TO:<f@example.test>\r\n"
expect 554 5\.7\.1 Service unavailable; client \[::1\] listed by bl\.test
send b"QUIT\r\n"
expect 221
SCR
)
	t_is "an IPv6 client is looked up in nibble form and refused, naming the list" "$?" 0 ||
		t_diag "$out"
else
	t_skip "an IPv6 client is looked up in nibble form" "no ::1 on lo"
fi
# the primary's own address (127.0.0.2, mx1, listed in bl.test) is never scored
out=$(send 127.0.0.2 --to g@example.test)
t_like "the primary's own address is not scored (it is listed, yet accepted)" \
	"$(rcpt_reply "$out")" '^<- +250 '
t_like "... and the log says why" "$(cat "$BMXD_LOG")" "127\\.0\\.0\\.2: a primary's address: not scored"

start_bmxd tempfail || { t_fail "daemon restart"; t_done; }
out=$(send 127.0.0.66 --to a@example.test)
t_like "dnsbl_action = tempfail: 450 4.7.1 naming the list" "$(rcpt_reply "$out")" \
	'^<\*\* +450 4\.7\.1 Service unavailable; client \[127\.0\.0\.66\] listed by bl\.test$'

start_bmxd log || { t_fail "daemon restart"; t_done; }
q0=$(bmxd_queue_files | wc -l)
out=$(send 127.0.0.66 --to a@example.test)
t_like "dnsbl_action = log: accepted" "$out" '^<- +250 .*queued as'
t_like "... and logged" "$(cat "$BMXD_LOG")" \
	'127\.0\.0\.66: dnsbl: RCPT <a@example\.test>: score 2, listed by bl\.test: accepted'
t_is "... one more message queued" "$(bmxd_queue_files | wc -l)" $((q0 + 1))
bmxd_stop
t_done
