/*
 * relay_verify.c - recipient verification against the primary (callouts),
 * with a cache that survives restarts.
 *
 * With `recipient_verify = yes`, a RCPT that the `recipients` table does not
 * list is checked with the primary while it is up: MAIL FROM:<>, RCPT
 * TO:<addr>, QUIT.  2xx is cached as good for verify_positive_ttl, 5xx as
 * unknown for verify_negative_ttl (and answered 550 5.1.1).  While the
 * primary is down (or does not answer the callout), cached-good addresses are
 * accepted and everything else gets 450 4.4.1, or is accepted with
 * `recipient_verify_down = accept`.  Every 5xx the primary returns during a
 * delivery also goes into the negative cache.
 *
 * The cache is a hash table mirrored in SPOOL/verify.cache, an append-only
 * text file ("P|N EXPIRES ADDRESS" per line) that is compacted when it holds
 * twice as many lines as live entries.  It is a cache: no fsync.
 */
#include "relay/relay_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* gcc -fanalyzer loses track of the cache, which is owned by r->verify for
 * the life of the relay and freed in relay_verify_free(), and reports its
 * entries and its log FILE as leaked when the functions that store them
 * return. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#pragma GCC diagnostic ignored "-Wanalyzer-file-leak"
#endif

#define VERIFY_BUCKETS       4096
#define VERIFY_TIMEOUT_MS    15000   /* a callout must finish within this */
#define VERIFY_CACHE_MAX     1000000 /* entries kept */
#define VERIFY_LINE_MAX      (SMTP_PATH_MAX + 64)

struct verify_entry {
	struct verify_entry *next;
	int good;
	time_t expires;
	char addr[];
};

struct verify_query {
	struct verify_query *next;
	struct relay_dest *dest;
	struct smtp_session *session;   /* NULL once the session is gone */
	struct smtp_client *cl;
	int rcpt_code;
	char addr[SMTP_PATH_MAX + 8];
};

struct relay_verify {
	struct verify_entry *tab[VERIFY_BUCKETS];
	size_t n, lines;
	FILE *log;
	struct verify_query *queries;
};

/* Hash an address. */
static unsigned verify_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % VERIFY_BUCKETS;
}

/* Find a live cache entry. */
static struct verify_entry *verify_find(struct relay_verify *v, const char *addr)
{
	time_t now = time(NULL);
	for (struct verify_entry *e = v->tab[verify_hash(addr)]; e; e = e->next)
		if (strcmp(e->addr, addr) == 0)
			return e->expires > now ? e : NULL;
	return NULL;
}

/* Insert or update an entry in memory. */
static void verify_put_mem(struct relay_verify *v, const char *addr, int good, time_t expires)
{
	unsigned h = verify_hash(addr);
	for (struct verify_entry *e = v->tab[h]; e; e = e->next) {
		if (strcmp(e->addr, addr) == 0) {
			e->good = good;
			e->expires = expires;
			return;
		}
	}
	if (v->n >= VERIFY_CACHE_MAX)
		return;
	size_t len = strlen(addr);
	struct verify_entry *e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return;
	memcpy(e->addr, addr, len + 1);
	e->good = good;
	e->expires = expires;
	e->next = v->tab[h];
	v->tab[h] = e;
	v->n++;
}

/* Rewrite the cache file with the live entries only. */
static void verify_compact(struct relay *r, struct relay_verify *v)
{
	char path[4096], tmp[4200];
	time_t now = time(NULL);
	snprintf(path, sizeof(path), "%s/verify.cache", spool_dir(r->spool));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return;
	v->lines = 0;
	for (size_t b = 0; b < VERIFY_BUCKETS; b++) {
		for (struct verify_entry *e = v->tab[b]; e; e = e->next) {
			if (e->expires <= now)
				continue;
			fprintf(f, "%c %lld %s\n", e->good ? 'P' : 'N', (long long)e->expires, e->addr);
			v->lines++;
		}
	}
	if (fclose(f) == 0 && rename(tmp, path) == 0) {
		if (v->log)
			fclose(v->log);
		v->log = fopen(path, "ae");
	}
}

/* Remember a verdict (memory and file). */
static void verify_put(struct relay *r, const char *addr, int good)
{
	struct relay_verify *v = r->verify;
	if (!v)
		return;
	time_t exp = time(NULL) + (time_t)(good ? r->cfg->verify_positive_ttl
					       : r->cfg->verify_negative_ttl);
	verify_put_mem(v, addr, good, exp);
	if (v->log) {
		fprintf(v->log, "%c %lld %s\n", good ? 'P' : 'N', (long long)exp, addr);
		fflush(v->log);
		v->lines++;
	}
	if (v->lines > 2 * v->n + 1024)
		verify_compact(r, v);
}

/* Load SPOOL/verify.cache and open it for appending. */
void relay_verify_init(struct relay *r)
{
	char path[4096], line[VERIFY_LINE_MAX];
	struct relay_verify *v = calloc(1, sizeof(*v));
	if (!v)
		return;
	r->verify = v;
	snprintf(path, sizeof(path), "%s/verify.cache", spool_dir(r->spool));
	FILE *f = fopen(path, "re");
	if (f) {
		time_t now = time(NULL);
		while (fgets(line, sizeof(line), f)) {
			char kind, addr[VERIFY_LINE_MAX];
			long long exp;
			if (sscanf(line, "%c %lld %300s", &kind, &exp, addr) != 3 ||
			    (kind != 'P' && kind != 'N') || exp <= now)
				continue;
			verify_put_mem(v, addr, kind == 'P', (time_t)exp);
			v->lines++;
		}
		fclose(f);
	}
	v->log = fopen(path, "ae");
	log_info("recipient verification: %zu cached verdict(s)", v->n);
}

/* Free the cache and abandon callouts. */
void relay_verify_free(struct relay *r)
{
	struct relay_verify *v = r->verify;
	if (!v)
		return;
	while (v->queries) {
		struct verify_query *q = v->queries;
		v->queries = q->next;
		smtp_client_free(q->cl);
		free(q);
	}
	for (size_t b = 0; b < VERIFY_BUCKETS; b++) {
		while (v->tab[b]) {
			struct verify_entry *e = v->tab[b];
			v->tab[b] = e->next;
			free(e);
		}
	}
	if (v->log)
		fclose(v->log);
	free(v);
	r->verify = NULL;
}

/* The verdict while the primary cannot be asked. */
static enum smtp_rcpt_verdict verify_down_verdict(const struct relay *r)
{
	return r->cfg->recipient_verify_down == CONFIG_VDOWN_ACCEPT ? SMTP_RCPT_ACCEPT
								    : SMTP_RCPT_TEMPFAIL;
}

/* Finish a query: answer its session (if still there) and free it. */
static void verify_query_done(struct relay *r, struct verify_query *q, enum smtp_rcpt_verdict v,
			      const char *text)
{
	struct relay_verify *rv = r->verify;
	for (struct verify_query **pp = &rv->queries; *pp; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	}
	struct smtp_session *s = q->session;
	smtp_client_free(q->cl);
	free(q);
	if (s)
		smtp_session_rcpt_done(s, v, text);
}

/* Reply to the callout RCPT. */
static void verify_rcpt_cb(struct smtp_client *cl, const struct smtp_reply *rp, void *arg)
{
	struct verify_query *q = arg;
	q->rcpt_code = rp ? rp->code : 0;
}

/* Callout session events. */
static void verify_event(struct smtp_client *cl, enum smtp_client_event ev, void *arg)
{
	struct verify_query *q = arg;
	struct relay *r = q->dest->r;

	if (ev == SMTP_CLIENT_EV_READY) {
		smtp_client_mail(cl, "", NULL, NULL, NULL);
		smtp_client_rcpt(cl, q->addr, NULL, verify_rcpt_cb, q);
		smtp_client_quit(cl, NULL, NULL);
		return;
	}
	int code = q->rcpt_code;
	if (code / 100 == 2) {
		verify_put(r, q->addr, 1);
		log_info("verify <%s>: accepted by the primary", q->addr);
		verify_query_done(r, q, SMTP_RCPT_ACCEPT, NULL);
	} else if (code / 100 == 5) {
		verify_put(r, q->addr, 0);
		log_info("verify <%s>: refused by the primary (%d)", q->addr, code);
		verify_query_done(r, q, SMTP_RCPT_REJECT, "User unknown (verified with the primary)");
	} else {
		log_info("verify <%s>: primary did not answer (%s)", q->addr,
			 code ? "4xx" : smtp_client_info(cl)->errtext);
		verify_query_done(r, q, verify_down_verdict(r), NULL);
	}
}

/* Start the callout of a query whose destination has next hops. */
static void verify_callout(struct relay *r, struct verify_query *q)
{
	struct relay_dest *d = q->dest;
	struct smtp_client_opts o = {0};
	struct sockaddr_storage src;
	socklen_t srclen;
	if (relay_client_src(r, d->targets[0].sa.ss_family, &src, &srclen) == 0) {
		o.src = (const struct sockaddr *)&src;
		o.srclen = srclen;
	}
	o.helo_name = r->cfg->hostname;
	o.tls_mode = SMTP_CLIENT_TLS_NONE;
	smtp_client_timeouts_all(&o.timeouts, VERIFY_TIMEOUT_MS);
	q->cl = smtp_client_new(r->loop, (const struct sockaddr *)&d->targets[0].sa,
				d->targets[0].salen, &o, verify_event, q);
	if (!q->cl)
		verify_query_done(r, q, verify_down_verdict(r), NULL);
}

/* Next hops of a destination became known: start waiting callouts. */
void relay_verify_targets_ready(struct relay_dest *d)
{
	struct relay_verify *v = d->r->verify;
	if (!v)
		return;
	for (struct verify_query *q = v->queries, *nx; q; q = nx) {
		nx = q->next;
		if (q->dest != d || q->cl)
			continue;
		if (d->state == DEST_DOWN || d->state == DEST_LOOP || d->ntargets == 0)
			verify_query_done(d->r, q, verify_down_verdict(d->r), NULL);
		else
			verify_callout(d->r, q);
	}
}

/* The server's recipient hook. */
enum smtp_rcpt_verdict relay_hook_rcpt(const struct smtp_rcpt_query *sq, void *rp)
{
	struct relay *r = rp;
	struct relay_verify *v = r->verify;
	if (!v)
		return SMTP_RCPT_ACCEPT;
	struct verify_entry *e = verify_find(v, sq->addr);
	if (e)
		return e->good ? SMTP_RCPT_ACCEPT : SMTP_RCPT_REJECT;
	struct relay_dest *d = relay_dest_get(r, sq->domain);
	if (!d)
		return verify_down_verdict(r);
	if (d->held || d->state == DEST_DOWN || d->state == DEST_LOOP)
		return verify_down_verdict(r);
	struct verify_query *q = calloc(1, sizeof(*q));
	if (!q)
		return verify_down_verdict(r);
	q->dest = d;
	q->session = sq->session;
	snprintf(q->addr, sizeof(q->addr), "%s", sq->addr);
	q->next = v->queries;
	v->queries = q;
	if (d->ntargets == 0 || time(NULL) >= d->targets_expire)
		relay_targets_resolve(d);   /* relay_verify_targets_ready() follows */
	else
		verify_callout(r, q);
	return SMTP_RCPT_PENDING;
}

/* The session of a pending query went away. */
void relay_hook_rcpt_cancel(struct smtp_session *s, void *rp)
{
	struct relay *r = rp;
	if (!r->verify)
		return;
	for (struct verify_query *q = r->verify->queries; q; q = q->next)
		if (q->session == s)
			q->session = NULL;
}

/* A delivery got a 5xx for this recipient: remember it as unknown. */
void relay_verify_learn(struct relay *r, const char *addr, int code)
{
	if (r->verify && (code == 550 || code == 551 || code == 553))
		verify_put(r, addr, 0);
}

/* The primary answered a relayed RCPT live: 2xx is a known recipient, a
 * user-unknown 5xx an unknown one (proxy mode feeds the cache). */
void relay_verify_live(struct relay *r, const char *addr, int code)
{
	if (r->verify && code / 100 == 2)
		verify_put(r, addr, 1);
	else
		relay_verify_learn(r, addr, code);
}

/* Is addr cached as refused by the primary?  1 or 0. */
int relay_verify_refused(struct relay *r, const char *addr)
{
	struct verify_entry *e = r->verify ? verify_find(r->verify, addr) : NULL;
	return e && !e->good;
}
