# libcdns.sh - point the libc resolver (/etc/resolv.conf) of ONE test at the
# test's own unbound, for peers that cannot be told another DNS server, such
# as Postfix's smtpd (reject_rbl_client uses res_query: /etc/resolv.conf,
# port 53 only).
#
# How: the test re-runs itself in a private mount namespace (unshare -m,
# private propagation), inside the network namespace that tests/run made,
# and bind-mounts a resolv.conf that says "nameserver 127.0.0.1" over
# /etc/resolv.conf there.  unbound listens on 127.0.0.1:53 (port 53 is free
# in a fresh network namespace).  The host's /etc/resolv.conf is never
# written; the mount lives and dies with the namespace; nothing in the
# private namespace can reach the host's real resolver (only lo exists).
# The peers must not be chrooted (pf_config's master.cf has chroot = n for
# every service), else they would read a copy of resolv.conf in the chroot.
#
#   . "$BMX_ROOT/tests/lib/libcdns.sh"
#   libcdns_reexec "$@"     first thing in a test, BEFORE world_init: re-exec
#                           the script in a private mount namespace (once;
#                           BMX_LIBCDNS_FROM names the namespace it left)
#   DNS_PORT=53             before world_dns_start / bmxd_world_dns
#   libcdns_point           after world_init: the bind mount; refuses (returns
#                           1, says why) unless both the mount and the network
#                           namespace are private; libcdns_undo at the end
#                           (the EXIT path), also harmless when not mounted

LIBCDNS_MOUNTED=""

# Re-execute the calling script in a private mount namespace, unless already there.
libcdns_reexec()
{
	[ -n "${BMX_LIBCDNS_FROM:-}" ] && return 0
	# the mount namespace we leave (/proc/1/ns is unreadable from the new one)
	BMX_LIBCDNS_FROM=$(readlink "/proc/$BASHPID/ns/mnt") || return 1
	export BMX_LIBCDNS_FROM
	exec unshare -m --propagation private "$BASH" "$0" "$@"
}

# True if this shell runs in the private mount namespace libcdns_reexec made.
_libcdns_private_mnt()
{
	local mine
	mine=$(readlink "/proc/$BASHPID/ns/mnt" 2>/dev/null) || return 1
	[ -n "${BMX_LIBCDNS_FROM:-}" ] && [ -n "$mine" ] && [ "$mine" != "$BMX_LIBCDNS_FROM" ]
}

# True if the network namespace has no interface but lo (tests/run's unshare -n).
_libcdns_private_net()
{
	local links
	links=$(ip -o link show 2>/dev/null) || return 1
	[ -n "$links" ] && ! grep -vq '^[0-9]*: lo:' <<<"$links"
}

# Bind-mount $W/resolv.conf (nameserver 127.0.0.1) over /etc/resolv.conf.
libcdns_point()
{
	[ -n "${W:-}" ] || { echo "libcdns_point: world_init first" >&2; return 1; }
	if ! _libcdns_private_mnt; then
		echo "libcdns: not in a private mount namespace (call libcdns_reexec first)" >&2
		return 1
	fi
	if ! _libcdns_private_net; then
		echo "libcdns: not in a private network namespace (run through tests/run)" >&2
		return 1
	fi
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:2\n' >"$W/resolv.conf"
	chmod 644 "$W/resolv.conf"
	mount --bind "$W/resolv.conf" /etc/resolv.conf || return 1
	LIBCDNS_MOUNTED=1
	return 0
}

# Remove the bind mount (the namespace would drop it anyway).
libcdns_undo()
{
	[ -n "$LIBCDNS_MOUNTED" ] || return 0
	umount /etc/resolv.conf 2>/dev/null
	LIBCDNS_MOUNTED=""
	return 0
}
