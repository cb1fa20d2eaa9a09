#!/bin/bash
# t_smtpd_enospc.sh - a full spool disk: 452 4.3.1, no partial or corrupt
# file anywhere, and normal service again once space returns.
# Runs in its own mount namespace so the small tmpfs vanishes with the test.
if [ -z "${T_MNTNS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
    T_MNTNS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
. "$BMX_ROOT/tests/lib/bmxd.sh"
world_init
[ -x "$BMXD" ] || t_skip_all "backupmxd not built"
[ "${T_MNTNS:-}" = 1 ] || t_skip_all "needs root for a private tmpfs"
bmxd_config </dev/null
mkdir -p "$BMX_SPOOL"
mount -t tmpfs -o size=1m,mode=0700 tmpfs "$BMX_SPOOL" || t_skip_all "cannot mount tmpfs"
bmxd_start || { t_fail "daemon start"; t_done; }
P=$BMX_PORT

# leave about 100 KiB free
avail=$(df --output=avail -B1 "$BMX_SPOOL" | tail -1)
dd if=/dev/zero of="$BMX_SPOOL/filler" bs=1024 count=$(( avail / 1024 - 100 )) 2>/dev/null

script()
{
    cat <<SCR
expect 220
send b"EHLO c.test\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n"
expect 250
expect 250
expect 250
expect 354
send b"Subject: big\r\n\r\n"
send_repeat $1 b"0123456789012345678901234567890123456789012345678901234567890123456789012345678\r\n"
send b".\r\n"
expect $2
send b"QUIT\r\n"
expect 221
SCR
}
out=$(script 3000 "452 4.3.1" | world_smtpraw 127.0.0.3 "$P"); rc=$?
t_is "message larger than the free space gets 452 4.3.1" "$rc" 0 || t_diag "$out"
t_is "no partial file in queue/" "$(ls "$BMX_SPOOL/queue" | wc -l)" 0
t_is "no temp file left" "$(ls "$BMX_SPOOL/tmp" | wc -l)" 0
out=$(script 10 "250" | world_smtpraw 127.0.0.3 "$P"); rc=$?
t_is "a small message still fits" "$rc" 0 || t_diag "$out"
rm -f "$BMX_SPOOL/filler"
out=$(script 3000 "250" | world_smtpraw 127.0.0.3 "$P"); rc=$?
t_is "space back: the large message is accepted" "$rc" 0 || t_diag "$out"

# The disk fills at varying points of the write: leave 4..120 KiB free and
# send ~80-240 KiB messages, so ENOSPC hits the envelope, the body or the END
# record.  Each answer must be 250 or 452, and never leave a partial file.
accepted=0 bad=0
for free in 4 12 20 36 52 68 84 100 120; do
	avail=$(df --output=avail -B1 "$BMX_SPOOL" | tail -1)
	fill=$(( avail / 1024 - free ))
	[ "$fill" -gt 0 ] && dd if=/dev/zero of="$BMX_SPOOL/filler" bs=1024 count="$fill" 2>/dev/null
	for lines in $(( free * 13 )) 1000 3000; do
		out=$(script "$lines" "" | sed 's/^expect $/read/' | world_smtpraw 127.0.0.3 "$P")
		case $(printf '%s\n' "$out" | grep -E '^S: (250 2\.0\.0|452 4\.3\.1|[0-9]{3} )' | tail -2 | head -1) in
		"S: 250 2.0.0"*) accepted=$((accepted + 1)) ;;
		"S: 452 4.3.1"*) ;;
		*) bad=$((bad + 1)); t_diag "unexpected: $(printf '%s\n' "$out" | tail -4)" ;;
		esac
	done
	rm -f "$BMX_SPOOL/filler"
done
t_is "disk full at 27 points: every answer 250 or 452 ($accepted accepted)" "$bad" 0
t_is "no temp file left after the sweep" "$(ls "$BMX_SPOOL/tmp" | wc -l)" 0
bmxd_stop
bmxd_start || t_fail "restart"
sleep 0.5
t_is "nothing found corrupt at restart" "$(ls "$BMX_SPOOL/corrupt" 2>/dev/null | wc -l)" 0
t_is "every accepted message still queued" "$(ls "$BMX_SPOOL/queue" | wc -l)" $((2 + accepted))
bmxd_stop
umount "$BMX_SPOOL" 2>/dev/null
t_done
