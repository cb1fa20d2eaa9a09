#!/bin/bash
# t_deb.sh - the Debian package's life cycle: "scripts/deb" (what "make deb"
# runs) builds backupmx_VERSION_ARCH.deb from a copy of the tree, lintian
# finds no error (and every warning is explained in debian/README.source),
# then install, install again over itself, remove and purge run in a
# throwaway root: an overlay mounted over / (upper and work dirs in $W) in a
# private mount namespace, entered with chroot.  Nothing is installed on the
# machine itself; the test checks that afterwards.
. "${BMX_ROOT:?run through tests/run}/tests/lib/world.sh" || exit 1
world_init

for c in dpkg-buildpackage dh lintian dpkg-parsechangelog unshare chroot; do
	world_have "$c" || t_skip_all "no $c (scripts/deps: dpkg-dev debhelper lintian)"
done
[ "$(id -u)" = 0 ] || t_skip_all "needs root (overlay mount, chroot)"
host_status() { dpkg-query -W -f='${Status}' backupmx 2>/dev/null; }
case $(host_status) in
*" installed" | *config-files) t_skip_all "backupmx is installed on this machine" ;;
esac
HOST_ETC=$([ -e /etc/backupmx ] && echo present || echo absent)
HOST_USER=$(getent passwd backupmx)

OVL=$W/ovl
mkdir -p "$OVL/u" "$OVL/w" "$OVL/m"
# in_root SCRIPT: run the sh SCRIPT chrooted in an overlay of / whose
# changes go to $OVL/u (kept from one call to the next); / is never written.
in_root()
{
	unshare -m sh -ec '
		d=$1
		mount --make-rprivate /
		mount -t overlay bmxdeb -o "lowerdir=/,upperdir=$d/u,workdir=$d/w" "$d/m"
		[ -x "$d/m/usr/bin/dpkg" ] && mountpoint -q "$d/m"
		mount --bind /proc "$d/m/proc"
		mount --rbind /dev "$d/m/dev"
		exec chroot "$d/m" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			DEBIAN_FRONTEND=noninteractive sh -c "$2"
	' in_root "$OVL" "$1"
}
in_root true >"$W/probe.log" 2>&1 || t_skip_all "no overlay over / here: $(head -1 "$W/probe.log")"
# The throwaway root gets its own copy of /var/lib/dpkg, taken while holding
# the host's dpkg locks (as apt would): an apt-get running on the machine
# meanwhile can neither show through half-done nor be disturbed.
OUT=$(/usr/bin/python3 - "$OVL" <<'PY' 2>&1
import fcntl, os, subprocess, sys, time
fds = []
for name in ("lock-frontend", "lock"):
    fd = os.open("/var/lib/dpkg/" + name, os.O_RDWR | os.O_CREAT, 0o640)
    deadline = time.time() + 120
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.time() > deadline:
                sys.exit("the host's dpkg stayed locked for 120 s")
            time.sleep(0.5)
    fds.append(fd)
sys.exit(subprocess.call(["unshare", "-m", "sh", "-ec", """
    mount --make-rprivate /
    mount -t overlay bmxdeb -o "lowerdir=/,upperdir=$1/u,workdir=$1/w" "$1/m"
    cp -a "$1/m/var/lib/dpkg" "$1/m/var/lib/dpkg.t_deb"
    rm -rf "$1/m/var/lib/dpkg"
    mv "$1/m/var/lib/dpkg.t_deb" "$1/m/var/lib/dpkg"
""", "snapshot", sys.argv[1]]))
PY
)
[ $? = 0 ] || t_skip_all "no copy of the dpkg database: $OUT"

# --- version and build ---------------------------------------------------------
VH=$(sed -n 's/^#define BMX_VERSION "\(.*\)"$/\1/p' "$BMX_ROOT/src/common/version.h")
VC=$(dpkg-parsechangelog -l "$BMX_ROOT/debian/changelog" -S Version)
t_is "debian/changelog's version is BMX_VERSION" "$VC" "$VH"
t_like "make deb runs scripts/deb" "$(make -n -C "$BMX_ROOT" --no-print-directory deb 2>&1)" \
	'^scripts/deb$'

SECONDS=0
BMX_DEB_WORK=$W/deb "$BMX_ROOT/scripts/deb" "$W/out" >"$W/build.log" 2>&1
RC=$?
t_is "scripts/deb exits 0 (${SECONDS} s)" "$RC" 0 || t_diag "$(tail -20 "$W/build.log")"
DEB=$W/out/backupmx_${VH}_$(dpkg --print-architecture).deb
[ -f "$DEB" ] || { t_fail "the package $(basename "$DEB") was built"; t_done; }
t_ok "the package $(basename "$DEB") was built"
t_unlike "no tests ran in the package build" "$(cat "$W/build.log")" '(passed|failed)$'
t_like "the build uses dpkg-buildflags hardening" "$(cat "$W/build.log")" \
	'-fstack-protector-strong .*-std=c11'

L=$(lintian "$W"/deb/*.changes 2>&1 | grep -v 'running with root privileges')
t_unlike "lintian: no errors" "$L" '^E:' || t_diag "$L"
unexplained=""
for tag in $(sed -n 's/^W: [^ ]*: \([^ ]*\).*/\1/p' <<<"$L" | sort -u); do
	grep -qF "$tag" "$BMX_ROOT/debian/README.source" || unexplained="$unexplained $tag"
done
t_is "lintian: every warning is explained in debian/README.source" "$unexplained" ""

C=$(dpkg-deb -c "$DEB" | awk '{ print substr($1, 1, 10), $6 }')
for f in ./usr/sbin/backupmxd ./usr/bin/backupmx ./etc/backupmx/backupmx.conf \
	./lib/systemd/system/backupmxd.service ./usr/share/man/man1/backupmx.1.gz \
	./usr/share/man/man5/backupmx.conf.5.gz ./usr/share/man/man8/backupmxd.8.gz; do
	t_like "the package contains $f" "$C" "^-.* ${f//./\\.}\$"
done
t_like "the package has the spool directory" "$C" '^d.* \./var/spool/backupmx/$'
# into the throwaway root through a pipe: $W may be on a file system (a
# tmpfs /tmp) that the overlay of / does not show
in_root 'cat >/var/cache/t_deb.deb' <"$DEB"
DEB=/var/cache/t_deb.deb

# --- install -------------------------------------------------------------------------
OUT=$(in_root "dpkg -i $DEB" 2>&1)
t_is "dpkg -i exits 0" "$?" 0 || t_diag "$OUT"
t_is "installed" "$(in_root "dpkg-query -W -f='\${Status}' backupmx")" "install ok installed"
t_like "backupmxd -V runs" "$(in_root 'backupmxd -V' 2>&1)" "$VH"
t_like "backupmx --version runs" "$(in_root 'backupmx --version' 2>&1)" "$VH"
t_like "the backupmx user exists, no login shell" "$(in_root 'getent passwd backupmx')" \
	'^backupmx:x:[0-9]+:[0-9]+:.*:/var/spool/backupmx:/usr/sbin/nologin$'
t_is "/var/spool/backupmx is 0700 backupmx:backupmx" \
	"$(in_root 'stat -c "%a %U %G" /var/spool/backupmx')" "700 backupmx backupmx"
t_like "the spool's owner and mode are a dpkg-statoverride" \
	"$(in_root 'dpkg-statoverride --list /var/spool/backupmx')" '^backupmx backupmx 0?700 /var/spool/backupmx$'
t_like "the config is a conffile" "$(in_root "dpkg-query -W -f='\${Conffiles}' backupmx")" \
	'^ /etc/backupmx/backupmx\.conf [0-9a-f]{32}$'
t_like "the config sets user = backupmx" "$(in_root 'cat /etc/backupmx/backupmx.conf')" \
	'^user = backupmx$'
OUT=$(in_root 'sed "s/^#relay_domains =\$/relay_domains = example.com/" /etc/backupmx/backupmx.conf >/tmp/t_deb.conf &&
	backupmxd -n -c /tmp/t_deb.conf' 2>&1)
t_is "backupmxd -n accepts the packaged config with relay_domains set" "$?" 0 || t_diag "$OUT"
OUT=$(in_root 'backupmxd -n -c /etc/backupmx/backupmx.conf' 2>&1)
RC=$?
t_like "backupmxd -n refuses it as shipped (relay_domains unset)" "$RC:$OUT" '^[1-9].*relay_domains'
t_like "the unit runs /usr/sbin/backupmxd" \
	"$(in_root 'cat /lib/systemd/system/backupmxd.service')" '^ExecStart=/usr/sbin/backupmxd '
t_is "the unit is not enabled" \
	"$(in_root 'ls /etc/systemd/system/multi-user.target.wants/backupmxd.service 2>/dev/null')" ""

# --- upgrade over itself: an edited conffile is kept -------------------------------------
in_root 'echo "# local edit" >>/etc/backupmx/backupmx.conf'
OUT=$(in_root "dpkg -i $DEB" 2>&1)
t_is "dpkg -i again exits 0" "$?" 0 || t_diag "$OUT"
t_like "the edited config is kept" "$(in_root 'tail -1 /etc/backupmx/backupmx.conf')" '^# local edit$'
t_is "the spool is still 0700 backupmx" \
	"$(in_root 'stat -c "%a %U" /var/spool/backupmx')" "700 backupmx"

# --- remove, purge ---------------------------------------------------------------------
OUT=$(in_root 'dpkg -r backupmx' 2>&1)
t_is "dpkg -r exits 0" "$?" 0 || t_diag "$OUT"
t_is "removed: binaries gone" "$(in_root 'ls /usr/sbin/backupmxd /usr/bin/backupmx 2>/dev/null')" ""
t_is "removed: config kept" "$(in_root 'test -f /etc/backupmx/backupmx.conf && echo kept')" kept
OUT=$(in_root 'dpkg -P backupmx' 2>&1)
t_is "dpkg -P exits 0" "$?" 0 || t_diag "$OUT"
t_is "purged: not installed" \
	"$(in_root "dpkg-query -W -f='\${Status}' backupmx 2>/dev/null || echo none")" none
t_is "purged: /etc/backupmx is gone" "$(in_root 'ls -d /etc/backupmx 2>/dev/null')" ""
t_is "purged: /var/spool/backupmx is gone" "$(in_root 'ls -d /var/spool/backupmx 2>/dev/null')" ""
t_is "purged: the statoverride is gone" "$(in_root 'dpkg-statoverride --list /var/spool/backupmx || true')" ""
t_like "purged: the backupmx user is kept" "$(in_root 'getent passwd backupmx')" '^backupmx:'

# --- the machine itself ----------------------------------------------------------------
t_unlike "the host has no backupmx package" "$(host_status)" 'installed|config-files'
t_is "the host's /etc/backupmx is as before" \
	"$([ -e /etc/backupmx ] && echo present || echo absent)" "$HOST_ETC"
t_is "the host's passwd is as before" "$(getent passwd backupmx)" "$HOST_USER"
t_done
