/*
 * reload.c - the daemon's configuration as a counted object, and what a
 * reload (SIGHUP, `backupmx reload`) compares.
 *
 * A struct daemon_conf holds one loaded configuration (the file and every
 * table it names) and the objects built from it that sessions use: the
 * recipient table, the STARTTLS context, the DNSBL sites and the milter set
 * (its struct smtp_server_conf).  It starts with one reference, the
 * daemon's "current" one; every SMTP session takes another at connect
 * (daemon_conf_hold) and gives it back when it ends (daemon_conf_drop), so
 * a session finishes under the configuration it started with.  The last
 * drop frees the configuration and everything built from it.
 *
 * A reload loads a whole new daemon_conf first (daemon_conf_load, then
 * daemon_conf_build) and only then switches: any error leaves the old one
 * in force, untouched.  daemon_conf_diff() says which keys changed, by
 * comparing the effective settings (config_dump) line by line and the
 * contents of the table files (file: entries, recipients) by hash, and
 * which of them only a restart applies (DAEMON_RESTART_KEYS).
 *
 * Runs on the loop thread only.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rcptmap.h"
#include "filter/dnsbl.h"
#include "filter/milter.h"

#define DAEMON_DIFF_KEYS 128   /* distinct changed keys named in a summary */

/* Keys a reload cannot apply: the listeners and the status page are bound as
 * root before privileges are dropped (listen, status_listen), the user, the
 * spool and the control socket are fixed at start, the resolver context is
 * shared by every query in flight, the alert webhook watches the queue from
 * start, the self addresses are learnt once (proxy_interfaces), and syslog
 * is opened once.  See docs/DESIGN.md, "Reload". */
static const char *const daemon_restart_keys[] = {
	"listen", "user", "spool", "control_socket", "resolver", "status_listen",
	"alert_webhook", "alert_queue_age", "proxy_interfaces", "syslog",
};

/* The keys whose table files are hashed, in the order of conf->hash[]. */
static const char *const daemon_table_keys[DAEMON_CONF_TABLES] = {
	"relay_domains", "etrn_networks", "route_maps", "tls_policy_maps", "recipients",
};

/* FNV-1a of a file's contents into *h (an unreadable file adds its errno). */
static void daemon_hash_file(const char *path, uint64_t *h)
{
	unsigned char buf[65536];
	size_t n;
	FILE *f = fopen(path, "re");
	for (const char *p = path; *p; p++)
		*h = (*h ^ (unsigned char)*p) * 1099511628211ULL;
	if (!f) {
		*h = (*h ^ (uint64_t)errno) * 1099511628211ULL;
		return;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		for (size_t i = 0; i < n; i++)
			*h = (*h ^ buf[i]) * 1099511628211ULL;
	fclose(f);
}

/* Hash the file: entries of a list key. */
static uint64_t daemon_hash_list(const struct config_list *l)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < l->n; i++)
		if (strncmp(l->v[i], "file:", 5) == 0)
			daemon_hash_file(l->v[i] + 5, &h);
	return h;
}

/* Hash every table file the configuration names. */
static void daemon_conf_hash(struct daemon_conf *c)
{
	const struct config *cfg = &c->cfg;
	c->hash[0] = daemon_hash_list(&cfg->relay_domains);
	c->hash[1] = daemon_hash_list(&cfg->etrn_networks);
	c->hash[2] = daemon_hash_list(&cfg->route_maps);
	c->hash[3] = daemon_hash_list(&cfg->tls_policy_maps);
	c->hash[4] = 14695981039346656037ULL;
	if (cfg->recipients)
		daemon_hash_file(cfg->recipients, &c->hash[4]);
}

/* Read and check path and its tables into a new conf (one reference). */
struct daemon_conf *daemon_conf_load(const char *path, char *err, size_t errlen)
{
	struct daemon_conf *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	c->refs = 1;
	c->sc.cfg = &c->cfg;
	c->sc.ref = c;
	if (config_load(&c->cfg, path, err, errlen) < 0 ||
	    config_tables_load(&c->cfg, err, errlen) < 0 ||
	    config_validate(&c->cfg, err, errlen) < 0) {
		config_free(&c->cfg);
		free(c);
		return NULL;
	}
	daemon_conf_hash(c);
	return c;
}

/* The DNSBL sites and the milter set of c (none configured: NULL). */
void daemon_conf_filters(struct daemon_conf *c, struct io_loop *loop, struct dns_ctx *dns)
{
	c->sc.dnsbl = dnsbl_new(loop, dns, &c->cfg);
	c->sc.milters = milter_set_new(loop, &c->cfg);
}

/* Build what sessions use from c: the recipient table, STARTTLS, the
 * filters; 0, or -1 with err set (c is then still freed by daemon_conf_drop). */
int daemon_conf_build(struct daemon_conf *c, struct io_loop *loop, struct dns_ctx *dns,
		      char *err, size_t errlen)
{
	char why[512];
	const struct config *cfg = &c->cfg;
	if (cfg->recipients && !(c->sc.rcpts = rcptmap_load(cfg->recipients, why, sizeof(why)))) {
		snprintf(err, errlen, "recipients: %s", why);
		return -1;
	}
	if (cfg->tls_cert && !(c->sc.tls = io_tls_server_new(cfg->tls_cert, cfg->tls_key))) {
		snprintf(err, errlen, "%s: tls: cannot load %s / %s", cfg->path, cfg->tls_cert,
			 cfg->tls_key);
		return -1;
	}
	daemon_conf_filters(c, loop, dns);
	return 0;
}

/* Take one more reference. */
void daemon_conf_hold(struct daemon_conf *c)
{
	c->refs++;
}

/* Give one back; the last frees the conf and everything built from it. */
void daemon_conf_drop(struct daemon_conf *c)
{
	if (!c || --c->refs > 0)
		return;
	milter_set_free(c->sc.milters);
	dnsbl_free(c->sc.dnsbl);
	io_tls_free(c->sc.tls);
	rcptmap_free(c->sc.rcpts);
	config_free(&c->cfg);
	free(c);
}

/* Is key one that only a restart applies? */
static int daemon_key_is_restart(const char *key)
{
	for (size_t i = 0; i < sizeof(daemon_restart_keys) / sizeof(daemon_restart_keys[0]); i++)
		if (strcmp(daemon_restart_keys[i], key) == 0)
			return 1;
	return 0;
}

/* strcmp for qsort over char *. */
static int daemon_line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The effective settings of cfg as sorted lines (*buf owns them); NULL on
 * failure. */
static char **daemon_dump_lines(const struct config *cfg, char **buf, size_t *n)
{
	size_t len = 0, cap = 16;
	FILE *f = open_memstream(buf, &len);
	*n = 0;
	if (!f)
		return NULL;
	config_dump(cfg, f);
	if (fclose(f) != 0)
		return NULL;
	char **v = malloc(cap * sizeof(*v));
	if (!v)
		return NULL;
	for (char *p = *buf, *nl; *p; p = nl + 1) {
		if (!(nl = strchr(p, '\n')))
			break;
		*nl = 0;
		if (*n == cap) {
			char **nv = realloc(v, (cap *= 2) * sizeof(*v));
			if (!nv) {
				free(v);
				return NULL;
			}
			v = nv;
		}
		v[(*n)++] = p;
	}
	qsort(v, *n, sizeof(*v), daemon_line_cmp);
	return v;
}

/* The key of a dump line, cut off in place ("route D = ..." is "route"). */
static const char *daemon_line_key(char *line)
{
	line[strcspn(line, " =")] = 0;
	return line;
}

/* Add key to keys[] once. */
static void daemon_key_add(const char **keys, size_t *nk, const char *key)
{
	for (size_t i = 0; i < *nk; i++)
		if (strcmp(keys[i], key) == 0)
			return;
	if (*nk < DAEMON_DIFF_KEYS)
		keys[(*nk)++] = key;
}

/* Append "a, b" of the keys that are (restart = 1) or are not restart-only. */
static void daemon_keys_str(const char **keys, size_t nk, int restart, char *out, size_t len)
{
	size_t o = 0;
	out[0] = 0;
	for (size_t i = 0; i < nk && o < len; i++) {
		if (daemon_key_is_restart(keys[i]) != restart)
			continue;
		int w = snprintf(out + o, len - o, "%s%s", o ? ", " : "", keys[i]);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

/* Compare two confs: the keys a reload applies into changed, those only a
 * restart applies into restart ("" when none); 0 or -1 (out of memory). */
int daemon_conf_diff(const struct daemon_conf *old, const struct daemon_conf *neu, char *changed,
		     size_t clen, char *restart, size_t rlen)
{
	char *ba = NULL, *bb = NULL;
	size_t na, nb, i = 0, j = 0, nk = 0;
	const char *keys[DAEMON_DIFF_KEYS] = {0};
	char **a = daemon_dump_lines(&old->cfg, &ba, &na);
	char **b = daemon_dump_lines(&neu->cfg, &bb, &nb);
	int rc = a && b ? 0 : -1;
	while (rc == 0 && (i < na || j < nb)) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			daemon_key_add(keys, &nk, daemon_line_key(a[i++]));
		} else {
			daemon_key_add(keys, &nk, daemon_line_key(b[j++]));
		}
	}
	for (size_t t = 0; t < DAEMON_CONF_TABLES; t++)
		if (old->hash[t] != neu->hash[t])
			daemon_key_add(keys, &nk, daemon_table_keys[t]);
	daemon_keys_str(keys, nk, 0, changed, clen);
	daemon_keys_str(keys, nk, 1, restart, rlen);
	free(a);
	free(b);
	free(ba);
	free(bb);
	return rc;
}
