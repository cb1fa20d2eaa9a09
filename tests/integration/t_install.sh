#!/bin/bash
# t_install.sh - "make install" and "make uninstall" into a DESTDIR: the
# file list, the modes, the unit's substituted sbin path, a kept
# configuration, and an uninstall that leaves the configuration alone.
#
# make runs in a copy of the Makefile, man/ and etc/ under $W, with
# BUILD=$BMX_BUILD and no sources next to it: nothing can be rebuilt (a
# concurrent edit of src/ cannot break this test), and the binaries of the
# build under test are what gets installed.
. "$BMX_ROOT/tests/lib/world.sh"
world_init

world_have make || t_skip_all "no make"
[ -x "$BMX_BUILD/backupmx" ] && [ -x "$BMX_BUILD/backupmxd" ] ||
	t_skip_all "no binaries in $BMX_BUILD"
SRC=$W/src
ROOT=$W/root
mkdir -p "$SRC" "$ROOT"
cp "$BMX_ROOT/Makefile" "$SRC/"
cp -r "$BMX_ROOT/man" "$BMX_ROOT/etc" "$BMX_ROOT/plugins" "$SRC/"

# mk TARGET: make TARGET into $ROOT with PREFIX=/usr; sets RC, OUT.
mk() {
	OUT=$(make -C "$SRC" --no-print-directory BUILD="$BMX_BUILD" DESTDIR="$ROOT" \
		PREFIX=/usr "$@" 2>&1)
	RC=$?
}

# The installed files with their modes, relative to $ROOT, sorted.
listing() { (cd "$ROOT" && find . -type f -printf '%m %P\n' | sort); }

mk install
t_is "make install exits 0" "$RC" 0 || t_diag "$OUT"
t_unlike "make install compiled nothing" "$OUT" '(^| )(cc|gcc|clang|ar) '

WANT="644 etc/backupmx/backupmx.conf
644 lib/systemd/system/backupmxd.service
644 usr/share/bash-completion/completions/backupmx
644 usr/share/doc/backupmx/examples/monitoring/icinga2-backupmx.conf
644 usr/share/doc/backupmx/examples/monitoring/nagios-backupmx.cfg
644 usr/share/doc/backupmx/examples/prometheus/backupmx-alerts.yml
644 usr/share/man/man1/backupmx.1
644 usr/share/man/man5/backupmx.conf.5
644 usr/share/man/man8/backupmxd.8
644 usr/share/man/man8/check_backupmx.8
755 usr/bin/backupmx
755 usr/lib/nagios/plugins/check_backupmx
755 usr/sbin/backupmxd"
t_is "installed files and modes" "$(listing)" "$WANT"
t_is "spool directory is 0700" "$(stat -c %a "$ROOT/var/spool/backupmx" 2>&1)" 700
cmp -s "$BMX_BUILD/backupmxd" "$ROOT/usr/sbin/backupmxd" &&
	cmp -s "$BMX_BUILD/backupmx" "$ROOT/usr/bin/backupmx"
t_is "binaries are the built ones" "$?" 0
cmp -s "$BMX_ROOT/etc/backupmx.conf" "$ROOT/etc/backupmx/backupmx.conf"
t_is "config is etc/backupmx.conf" "$?" 0
for p in man1/backupmx.1 man5/backupmx.conf.5 man8/backupmxd.8; do
	cmp -s "$BMX_ROOT/man/${p#*/}" "$ROOT/usr/share/man/$p"
	t_is "man page $p installed as is" "$?" 0
done
cmp -s "$BMX_ROOT/etc/bash-completion/backupmx" "$ROOT/usr/share/bash-completion/completions/backupmx"
t_is "bash completion installed as is, where bash-completion looks" "$?" 0

UNIT=$ROOT/lib/systemd/system/backupmxd.service
U=$(cat "$UNIT")
t_like "unit: ExecStart uses PREFIX/sbin" "$U" \
	'^ExecStart=/usr/sbin/backupmxd -c /etc/backupmx/backupmx.conf$'
t_unlike "unit: no @SBINDIR@ left" "$U" '@[A-Z]+@'
t_like "unit: ExecReload sends HUP, outside the sandbox (kill needs CAP_KILL)" "$U" '^ExecReload=\+/bin/kill -HUP \$MAINPID$'
for d in 'Type=notify' 'NotifyAccess=main' 'WatchdogSec=30s' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
	'ReadWritePaths=/var/spool/backupmx' 'ProtectHome=yes' 'PrivateTmp=yes' \
	'PrivateDevices=yes' 'SystemCallFilter=@system-service' \
	'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
	'CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_CHOWN'; do
	t_like "unit: $d" "$U" "^$d\$"
done
if world_have systemd-analyze; then
	# Point ExecStart at the installed binary so verify can stat it.
	sed "s|^ExecStart=/usr/sbin/|ExecStart=$ROOT/usr/sbin/|" "$UNIT" >"$W/backupmxd.service"
	V=$(systemd-analyze verify --man=no "$W/backupmxd.service" 2>&1)
	VRC=$?
	if [ "$VRC" -eq 0 ] && [ -z "$V" ]; then
		t_ok "systemd-analyze verify is clean"
	elif grep -qiE 'Failed to (initialize|connect|create|setup|set up)|System has not been booted' <<<"$V"; then
		t_skip "systemd-analyze verify" "cannot run here: $(head -1 <<<"$V")"
	else
		t_fail "systemd-analyze verify is clean" "$V"
	fi
else
	t_skip "systemd-analyze verify" "no systemd-analyze"
fi
t_like "plugin: backupmx path is PREFIX/bin" "$(grep '^BACKUPMX_DEFAULT=' \
	"$ROOT/usr/lib/nagios/plugins/check_backupmx")" '^BACKUPMX_DEFAULT=/usr/bin/backupmx$'
t_like "installed backupmxd runs (-h)" "$("$ROOT/usr/sbin/backupmxd" -h 2>&1)" '^usage: backupmxd'

# A second install keeps an edited configuration.
echo "# local edit" >>"$ROOT/etc/backupmx/backupmx.conf"
mk install
t_is "second make install exits 0" "$RC" 0 || t_diag "$OUT"
t_like "second install keeps the edited config" "$(tail -1 "$ROOT/etc/backupmx/backupmx.conf")" \
	'^# local edit$'

mk uninstall
t_is "make uninstall exits 0" "$RC" 0 || t_diag "$OUT"
t_is "uninstall leaves only the config" "$(listing)" "644 etc/backupmx/backupmx.conf"
[ -d "$ROOT/var/spool/backupmx" ]
t_is "uninstall keeps the spool" "$?" 0

# PREFIX defaults to /usr/local.
rm -rf "$ROOT" && mkdir -p "$ROOT"
OUT=$(make -C "$SRC" --no-print-directory BUILD="$BMX_BUILD" DESTDIR="$ROOT" install 2>&1)
t_is "install with the default PREFIX exits 0" "$?" 0 || t_diag "$OUT"
[ -x "$ROOT/usr/local/bin/backupmx" ] && [ -x "$ROOT/usr/local/sbin/backupmxd" ] &&
	[ -f "$ROOT/usr/local/share/man/man8/backupmxd.8" ]
t_is "default PREFIX is /usr/local" "$?" 0
t_like "unit: default ExecStart is /usr/local/sbin" "$(cat "$UNIT")" \
	'^ExecStart=/usr/local/sbin/backupmxd '
# the daemon's user: a real install (no DESTDIR) as root creates it; here only
# what make would run is looked at (make -n), nothing touches /etc/passwd
DRY=$(make -n -C "$SRC" --no-print-directory BUILD="$BMX_BUILD" DESTDIR= PREFIX=/usr install 2>&1)
t_like "make install creates the backupmx user when missing (as root, no DESTDIR)" "$DRY" \
	'useradd --system --home-dir /var/spool/backupmx .*backupmx'
t_like "the README documents the user" "$(cat "$BMX_ROOT/README.md")" \
	'useradd --system --home-dir /var/spool/backupmx --shell /usr/sbin/nologin backupmx'
t_done
