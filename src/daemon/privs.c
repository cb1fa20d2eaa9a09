/*
 * privs.c - privilege handling of backupmxd: preparing the spool for the
 * unprivileged user and dropping root after the listeners are bound.
 *
 * The order is setgroups, setgid, setuid; afterwards we verify that root
 * cannot be regained.  Started as root without `user`, the daemon refuses to
 * run (daemon_check_root).
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Refuse to run as root without a user to drop to. */
int daemon_check_root(const struct config *cfg, char *err, size_t errlen)
{
	if (geteuid() == 0 && (!cfg->user || !*cfg->user)) {
		snprintf(err, errlen, "started as root without `user`: refusing to run as root");
		return -1;
	}
	if (cfg->user && geteuid() != 0) {
		struct passwd *pw = getpwnam(cfg->user);
		if (!pw || pw->pw_uid != geteuid()) {
			snprintf(err, errlen, "`user = %s` needs the daemon to be started as root "
				 "(or as that user)", cfg->user);
			return -1;
		}
	}
	return 0;
}

/* Create the spool directory, or make an existing one 0700, and give it to
 * the daemon's user. */
int daemon_prepare_spool(const struct config *cfg, char *err, size_t errlen)
{
	struct stat st;
	if (mkdir(cfg->spool, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "spool %s: %s", cfg->spool, strerror(errno));
		return -1;
	}
	if (lstat(cfg->spool, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "spool %s: not a directory", cfg->spool);
		return -1;
	}
	/* queue file names are nobody else's business: 0700 whatever it was */
	if ((st.st_mode & 077) && chmod(cfg->spool, 0700) < 0) {
		snprintf(err, errlen, "spool %s has mode %04o and cannot be made 0700: %s",
			 cfg->spool, (unsigned)(st.st_mode & 07777), strerror(errno));
		return -1;
	}
	if (geteuid() != 0 || !cfg->user)
		return 0;
	struct passwd *pw = getpwnam(cfg->user);
	if (!pw) {
		snprintf(err, errlen, "user %s: no such user", cfg->user);
		return -1;
	}
	if (st.st_uid != pw->pw_uid && chown(cfg->spool, pw->pw_uid, pw->pw_gid) < 0) {
		snprintf(err, errlen, "spool %s: chown: %s", cfg->spool, strerror(errno));
		return -1;
	}
	return 0;
}

/* Drop root for good: setgroups, setgid, setuid, then verify. */
int daemon_drop_privs(const struct config *cfg, char *err, size_t errlen)
{
	if (geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam(cfg->user);
	if (!pw) {
		snprintf(err, errlen, "user %s: no such user", cfg->user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "user %s has uid 0: refusing to run as root", cfg->user);
		return -1;
	}
	gid_t gid = pw->pw_gid;
	uid_t uid = pw->pw_uid;
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		snprintf(err, errlen, "dropping privileges to %s: %s", cfg->user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0 || getuid() != uid || getegid() != gid) {
		snprintf(err, errlen, "privileges could be regained after dropping: refusing to run");
		return -1;
	}
	return 0;
}
