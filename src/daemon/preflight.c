/*
 * preflight.c - every check of a configuration that can be made without
 * serving, shared by `backupmxd -n` and the daemon's start, so that -n
 * accepts exactly what the daemon accepts.
 *
 * In order: root needs `user` (and a daemon started as someone else must be
 * that user); the user exists and is not root; the recipients table loads,
 * read as the run-time user as the daemon does after dropping privileges;
 * the TLS certificate and key load and match; the alert URL parses (the
 * URL check of the config reader, io_url_parse); with `bind` set (-n), every
 * listen and status_listen address can be bound now (a brief bind and
 * close; "in use" is not an error, it may be a running backupmxd); and, for
 * both, bind_address and bind_address6 are addresses of this host.  The
 * spool's mode is only reported: the daemon sets 0700 when it starts.
 * bounce_policy = authenticated without milters is a warning (no sender
 * can then be authenticated), on stdout for -n, in the log at start.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/rcptmap.h"

#define PREFLIGHT_GROUPS_MAX 256   /* supplementary groups saved around a user switch */

/* Load the recipients table as pw (root switching its effective ids for it,
 * as the daemon reads it after dropping privileges) into *out; 0 or -1. */
static int preflight_rcpts(const struct config *cfg, const struct passwd *pw,
			   struct rcptmap **out, FILE *notes, char *err, size_t errlen)
{
	gid_t groups[PREFLIGHT_GROUPS_MAX];
	int ngroups = -1, switched = 0;
	char why[512];

	*out = NULL;
	if (!cfg->recipients)
		return 0;
	if (pw && geteuid() == 0) {
		ngroups = getgroups(PREFLIGHT_GROUPS_MAX, groups);
		gid_t g = pw->pw_gid;
		if (ngroups < 0 || setgroups(1, &g) < 0 || setegid(g) < 0 || seteuid(pw->pw_uid) < 0) {
			snprintf(err, errlen, "recipients: cannot check as user %s: %s", pw->pw_name,
				 strerror(errno));
			return -1;
		}
		switched = 1;
	}
	struct rcptmap *m = rcptmap_load(cfg->recipients, why, sizeof(why));
	if (switched && (seteuid(0) < 0 || setegid(0) < 0 || setgroups((size_t)ngroups, groups) < 0)) {
		rcptmap_free(m);
		snprintf(err, errlen, "recipients: cannot switch back to root: %s", strerror(errno));
		return -1;
	}
	if (!m) {
		snprintf(err, errlen, "recipients: %s%s%s%s", why, pw ? " (read as user " : "",
			 pw ? pw->pw_name : "", pw ? ")" : "");
		return -1;
	}
	if (notes)
		fprintf(notes, "# checked: recipients %s: %zu entries, readable by %s\n",
			cfg->recipients, rcptmap_count(m), pw ? pw->pw_name : "this user");
	*out = m;
	return 0;
}

/* The user to run as exists and is not root; *out is it (NULL without `user`). */
static int preflight_user(const struct config *cfg, const struct passwd **out, FILE *notes,
			  char *err, size_t errlen)
{
	*out = NULL;
	if (!cfg->user)
		return 0;
	const struct passwd *pw = getpwnam(cfg->user);
	if (!pw) {
		snprintf(err, errlen, "user %s: no such user (create it, for example with "
			 "`useradd --system --home-dir /var/spool/backupmx --shell /usr/sbin/nologin "
			 "%s`)", cfg->user, cfg->user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "user %s has uid 0: refusing to run as root", cfg->user);
		return -1;
	}
	*out = pw;
	if (notes)
		fprintf(notes, "# checked: user %s exists (uid %u)\n", cfg->user,
			(unsigned)pw->pw_uid);
	return 0;
}

/* Every listen and status_listen address can be bound now; 0 or -1. */
static int preflight_bind(const struct config *cfg, FILE *notes, char *err, size_t errlen)
{
	char why[256];
	for (size_t i = 0; i <= cfg->listen.n; i++) {
		const char *a = i < cfg->listen.n ? cfg->listen.v[i] : cfg->status_listen;
		const char *key = i < cfg->listen.n ? "listen" : "status_listen";
		if (!a)
			continue;
		int r = io_listen_probe(a, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "%s %s: cannot bind: %s", key, a, why);
			return -1;
		}
		if (notes)
			fprintf(notes, "# checked: %s %s %s\n", key, a,
				r ? "is in use now (by a running backupmxd?): not test-bound" :
				    "can be bound");
	}
	return 0;
}

/* bind_address and bind_address6 are addresses of this host (a bind to
 * port 0 and close); 0 or -1. */
static int preflight_src(const struct config *cfg, FILE *notes, char *err, size_t errlen)
{
	const char *keys[2] = {"bind_address", "bind_address6"};
	const char *vals[2] = {cfg->bind_address, cfg->bind_address6};
	char ap[IO_ADDRPORT_MAX + 8], why[256];

	for (int i = 0; i < 2; i++) {
		if (!vals[i])
			continue;
		snprintf(ap, sizeof(ap), i ? "[%s]:0" : "%s:0", vals[i]);
		if (io_listen_probe(ap, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s %s: not an address of this host: %s", keys[i],
				 vals[i], why);
			return -1;
		}
		if (notes)
			fprintf(notes, "# checked: %s %s is an address of this host\n", keys[i],
				vals[i]);
	}
	return 0;
}

/* Everything that can be checked without serving; 0 or -1 with err set.
 * The recipients table it loaded goes to *rcpts (NULL: freed). */
int daemon_preflight(const struct config *cfg, int bind, FILE *notes, struct rcptmap **rcpts,
		     char *err, size_t errlen)
{
	const struct passwd *pw;
	struct rcptmap *m = NULL;
	struct stat st;

	if (rcpts)
		*rcpts = NULL;
	if (daemon_check_root(cfg, err, errlen) < 0 ||
	    preflight_user(cfg, &pw, notes, err, errlen) < 0 ||
	    preflight_rcpts(cfg, pw, &m, notes, err, errlen) < 0)
		return -1;
	if (cfg->tls_cert) {
		struct io_tls *t = io_tls_server_new(cfg->tls_cert, cfg->tls_key);
		if (!t) {
			snprintf(err, errlen, "tls: cannot load %s / %s", cfg->tls_cert, cfg->tls_key);
			rcptmap_free(m);
			return -1;
		}
		io_tls_free(t);
		if (notes)
			fprintf(notes, "# checked: tls_cert and tls_key load\n");
	}
	if (cfg->alert_webhook && notes)
		fprintf(notes, "# checked: alert_webhook is a plain http:// URL with a numeric "
			"address\n");
	if ((bind && preflight_bind(cfg, notes, err, errlen) < 0) ||
	    preflight_src(cfg, notes, err, errlen) < 0) {
		rcptmap_free(m);
		return -1;
	}
	if (cfg->bounce_policy == CONFIG_BOUNCE_AUTH && cfg->milters.n == 0) {
		static const char w[] = "bounce_policy = authenticated but no milters: no sender "
					"can be authenticated, so stored mail that the primary "
					"refuses or that expires gets no DSN (set milters, or "
					"bounce_policy = always)";
		if (notes)
			fprintf(notes, "# warning: %s\n", w);
		else
			log_warn("%s", w);
	}
	if (notes && stat(cfg->spool, &st) == 0 && (st.st_mode & 077))
		fprintf(notes, "# note: spool %s has mode %04o; backupmxd sets 0700 when it "
			"starts\n", cfg->spool, (unsigned)(st.st_mode & 07777));
	if (rcpts)
		*rcpts = m;
	else
		rcptmap_free(m);
	return 0;
}
