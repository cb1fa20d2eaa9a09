/*
 * dnsbl.c - DNSBL and DNSWL scoring of SMTP clients: the lists of
 * dnsbl_sites, queried in parallel for each client, with one deadline
 * (dnsbl_timeout), summed into a score (see dnsbl.h).
 *
 * A struct dnsbl holds the parsed lists and, per list, when its last
 * failure was logged.  A struct dnsbl_query is one client's check: one
 * dns_query() per list, a deadline timer and a kick timer that reports a
 * check with nothing to ask from the loop.  The answers only add up; an
 * answer that matches no filter, a failure and a timeout all add nothing,
 * so a broken list can never make a client listed.  Loop thread only.
 */
#include "filter/dnsbl.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "filter/dnsbl_site.h"

struct dnsbl {
	struct io_loop *loop;
	struct dns_ctx *dns;
	const struct config *cfg;
	size_t nsites;
	struct dnsbl_site sites[DNSBL_SITES_MAX];
	time_t errlog[DNSBL_SITES_MAX];       /* last failure logged, per list */
};

/* One list's query of a check. */
struct dnsbl_ask {
	struct dnsbl_query *q;
	size_t site;
	long id;                              /* dns_query id, 0 when answered */
};

struct dnsbl_query {
	struct dnsbl *d;
	dnsbl_cb cb;
	void *arg;
	char ip[64];
	struct io_timer *deadline, *kick;
	size_t pending;
	int done;
	int best_weight;
	struct dnsbl_result res;
	struct dnsbl_ask ask[DNSBL_SITES_MAX];
};

/* Build the lists from the configuration. */
struct dnsbl *dnsbl_new(struct io_loop *loop, struct dns_ctx *dns, const struct config *cfg)
{
	char why[128];
	if (!cfg->dnsbl_sites.n || !dns)
		return NULL;
	struct dnsbl *d = calloc(1, sizeof(*d));
	if (!d) {
		log_err("dnsbl: out of memory: no DNS list is used");
		return NULL;
	}
	d->loop = loop;
	d->dns = dns;
	d->cfg = cfg;
	for (size_t i = 0; i < cfg->dnsbl_sites.n && d->nsites < DNSBL_SITES_MAX; i++) {
		const char *t = cfg->dnsbl_sites.v[i];
		if (dnsbl_site_parse(t, strlen(t), &d->sites[d->nsites], why, sizeof(why)) == 0)
			d->nsites++;
		else
			log_err("dnsbl: %s: %s (skipped)", t, why);   /* the config checked it */
	}
	log_info("dnsbl: %zu list(s), threshold %u, action %s", d->nsites, cfg->dnsbl_threshold,
		 cfg->dnsbl_action == CONFIG_DNSBL_REJECT ? "reject" :
		 cfg->dnsbl_action == CONFIG_DNSBL_TEMPFAIL ? "tempfail" : "log");
	return d;
}

/* Free the lists (every check must be freed before). */
void dnsbl_free(struct dnsbl *d)
{
	free(d);
}

/* Does the score reach dnsbl_threshold? */
int dnsbl_listed(const struct dnsbl *d, const struct dnsbl_result *r)
{
	return d && r->score >= (int)d->cfg->dnsbl_threshold;
}

/* Log a list's failure, at most once a minute per list. */
static void dnsbl_errlog(struct dnsbl *d, size_t site, const char *ip, const char *why)
{
	time_t now = time(NULL);
	if (d->errlog[site] && now - d->errlog[site] < DNSBL_ERRLOG_S)
		return;
	d->errlog[site] = now;
	log_warn("dnsbl: %s: no usable answer for %s (%s): counted as not listed",
		 d->sites[site].domain, ip, why);
}

/* Report the result once (from the loop). */
static void dnsbl_finish(struct dnsbl_query *q)
{
	if (q->done)
		return;
	q->done = 1;
	io_timer_del(q->deadline);
	if (q->res.listed_by[0] || q->res.score)
		log_info("dnsbl: %s: score %d (%s)", q->ip, q->res.score,
			 q->res.listed_by[0] ? q->res.listed_by : "allow-listed");
	q->cb(q, &q->res, q->arg);   /* may free q */
}

/* One list answered. */
static void dnsbl_answer(const struct dns_answer *ans, void *arg)
{
	struct dnsbl_ask *a = arg;
	struct dnsbl_query *q = a->q;
	struct dnsbl *d = q->d;
	const struct dnsbl_site *s = &d->sites[a->site];
	int matched = 0, refused = 0;

	a->id = 0;
	q->pending--;
	for (size_t i = 0; ans->status == DNS_OK && i < ans->n; i++) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ans->addr[i];
		uint8_t o[4];
		if (in->sin_family != AF_INET)
			continue;
		memcpy(o, &in->sin_addr, 4);
		if (dnsbl_answer_is_error(o))
			refused = 1;
		else if (dnsbl_site_match(s, o))
			matched = 1;
	}
	if (matched) {
		q->res.score += s->weight;
		if (s->weight > 0 && (!q->res.listed_by[0] || s->weight > q->best_weight)) {
			q->best_weight = s->weight;
			snprintf(q->res.listed_by, sizeof(q->res.listed_by), "%s", s->domain);
		}
	} else if (refused) {
		dnsbl_errlog(d, a->site, q->ip, "the list refused the query (127.255.255.x)");
	} else if (ans->status == DNS_TEMPFAIL || ans->status == DNS_BOGUS) {
		dnsbl_errlog(d, a->site, q->ip, ans->why[0] ? ans->why : dns_status_str(ans->status));
	}
	if (q->pending == 0)
		dnsbl_finish(q);
}

/* The deadline: what is in counts, the rest is not listed. */
static void dnsbl_deadline(void *arg)
{
	struct dnsbl_query *q = arg;
	q->res.timed_out = q->pending > 0;
	for (size_t i = 0; i < q->d->nsites; i++) {
		if (q->ask[i].id) {
			dns_cancel(q->d->dns, q->ask[i].id);
			q->ask[i].id = 0;
			dnsbl_errlog(q->d, i, q->ip, "timeout");
		}
	}
	q->pending = 0;
	dnsbl_finish(q);
}

/* Kick: a check with nothing left to ask reports from the loop. */
static void dnsbl_kick(void *arg)
{
	struct dnsbl_query *q = arg;
	if (q->pending == 0)
		dnsbl_finish(q);
}

/* Start a client's check. */
struct dnsbl_query *dnsbl_query_start(struct dnsbl *d, const struct sockaddr *sa, dnsbl_cb cb,
				      void *arg)
{
	char name[DNS_NAME_MAX + 80];
	if (!d || !sa || !cb)
		return NULL;
	struct dnsbl_query *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->d = d;
	q->cb = cb;
	q->arg = arg;
	io_addr_str(sa, q->ip, sizeof(q->ip));
	q->deadline = io_timer_new(d->loop, dnsbl_deadline, q);
	q->kick = io_timer_new(d->loop, dnsbl_kick, q);
	if (!q->deadline || !q->kick) {
		dnsbl_query_free(q);
		return NULL;
	}
	for (size_t i = 0; i < d->nsites; i++) {
		struct dnsbl_ask *a = &q->ask[i];
		a->q = q;
		a->site = i;
		if (dnsbl_query_name(sa, d->sites[i].domain, name, sizeof(name)) < 0)
			continue;
		long id = dns_query(d->dns, name, DNS_T_A, dnsbl_answer, a);
		if (id <= 0) {
			dnsbl_errlog(d, i, q->ip, "cannot start the query");
			continue;
		}
		a->id = id;
		q->pending++;
	}
	io_timer_add(q->deadline, (uint64_t)(d->cfg->dnsbl_timeout ? d->cfg->dnsbl_timeout : 1) *
				  1000);
	io_timer_add(q->kick, 0);
	return q;
}

/* Cancel and free a check. */
void dnsbl_query_free(struct dnsbl_query *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->d->nsites; i++)
		if (q->ask[i].id)
			dns_cancel(q->d->dns, q->ask[i].id);
	io_timer_free(q->deadline);
	io_timer_free(q->kick);
	free(q);
}
