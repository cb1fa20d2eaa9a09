#!/bin/bash
# t_tables.sh - tables of any size (issue 17): a backupmxd whose
# relay_domains is "file:domains" (a relative path, 10,000 domains, some
# of them .domain entries) accepts RCPT for a listed domain and for the
# subdomains of a .domain entry and refuses an unlisted one; route_maps and
# tls_policy_maps files load; backupmxd -n prints the file: entries, not the
# 10,000 lines; an error in a table file is reported as path:line.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"

# d0..d9999.hosted.test; every hundredth as ".dN.hosted.test" (subdomains only)
awk 'BEGIN {
	print "# hosted domains, one a line"
	for (i = 0; i < 10000; i++) {
		if (i % 100 == 0) printf ".d%d.hosted.test   # subdomains only\n", i
		else printf "d%d.hosted.test\n", i
		if (i % 1000 == 0) print ""
	}
}' > "$W/domains"
printf 'd1.hosted.test [127.0.0.2]:2526, [127.0.0.4]\n# comment\nd2.hosted.test mx.d2.hosted.test\n' \
	> "$W/routes"
printf 'd1.hosted.test encrypt\n' > "$W/tls"
chmod 644 "$W/domains" "$W/routes" "$W/tls"
bmxd_config <<CONF
route_maps = file:routes
tls_policy_maps = file:$W/tls
CONF
sed -i 's/^relay_domains = .*/relay_domains = file:domains/' "$W/bmx.conf"

out=$("$BMXD" -n -c "$W/bmx.conf" 2>&1); rc=$?
t_is "backupmxd -n with 10,000 table domains exits 0" "$rc" 0 || t_diag "$out"
t_like "-n prints the relay_domains file, resolved" "$out" "^relay_domains = file:$W/domains\$"
t_like "-n prints the route_maps file" "$out" "^route_maps = file:$W/routes\$"
t_like "-n prints the tls_policy_maps file" "$out" "^tls_policy_maps = file:$W/tls\$"
t_unlike "-n prints no table entry" "$out" 'hosted\.test'
t_like "-n counts what the tables hold" "$out" \
	'^# checked: relay_domains: 10000 domains, 2 per-domain rules$'
t_is "-n output stays short" "$([ "$(printf '%s\n' "$out" | wc -l)" -lt 200 ] && echo short)" short

# an error in a table file: path:line: message, and no start
printf 'ok.test\n\nbad..test\n' > "$W/bad"
sed 's/^relay_domains = .*/relay_domains = ok.test, file:bad/' "$W/bmx.conf" > "$W/bad.conf"
out=$("$BMXD" -n -c "$W/bad.conf" 2>&1); rc=$?
t_is "a bad table line: exit 1" "$rc" 1
t_like "reported as path:line" "$out" "^$W/bad:3: relay_domains: 'bad\.\.test' is not a domain"
sed 's/^route_maps = .*/route_maps = file:routes, file:routes2/' "$W/bmx.conf" > "$W/dup.conf"
printf 'd2.hosted.test mx9.test\n' > "$W/routes2"
out=$("$BMXD" -n -c "$W/dup.conf" 2>&1); rc=$?
t_is "a route in two files: exit 1" "$rc" 1
t_like "the duplicate names both places" "$out" \
	"^$W/routes2:1: duplicate key 'route d2.hosted.test' \(first set at $W/routes:3\)"

bmxd_start || { t_fail "daemon start"; t_done; }
t_like "the daemon counts the table's domains" "$(cat "$BMXD_LOG")" 'relay_domains: 10000'
out=$(world_smtpraw 127.0.0.3 "$BMX_PORT" <<'SCR'
expect 220 mx2.example.test ESMTP
send b"EHLO client.test\r\n"
expect 250
send b"MAIL FROM:<s@client.test>\r\n"
expect 250 2.1.0
send b"RCPT TO:<u@d5.hosted.test>\r\n"
expect 250
send b"RCPT TO:<u@D9999.Hosted.Test>\r\n"
expect 250
send b"RCPT TO:<u@mx.d100.hosted.test>\r\n"
expect 250
send b"RCPT TO:<u@a.b.d9900.hosted.test>\r\n"
expect 250
send b"RCPT TO:<u@d100.hosted.test>\r\n"
expect 554 5.7.1
send b"RCPT TO:<u@x.d5.hosted.test>\r\n"
expect 554 5.7.1
send b"RCPT TO:<u@d10000.hosted.test>\r\n"
expect 554 5.7.1
send b"RCPT TO:<u@example.test>\r\n"
expect 554 5.7.1
send b"QUIT\r\n"
expect 221
SCR
); rc=$?
t_is "listed and .sub domains accepted, unlisted refused" "$rc" 0 || t_diag "$out"
world_swaks 127.0.0.3 "$BMX_PORT" --to u@d4242.hosted.test --quit-after RCPT >"$W/swaks1" 2>&1
t_is "swaks: RCPT to a listed domain accepted" "$?" 0 || t_diag "$(tail -5 "$W/swaks1")"
world_swaks 127.0.0.3 "$BMX_PORT" --to u@unlisted.test --quit-after RCPT >"$W/swaks2" 2>&1
t_like "swaks: RCPT to an unlisted domain refused" "$(cat "$W/swaks2")" '554 5\.7\.1'
bmxd_stop
t_done
