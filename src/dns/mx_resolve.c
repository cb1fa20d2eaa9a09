/*
 * mx_resolve.c - MX resolution of a mail domain (RFC 5321 5.1, RFC 7505).
 *
 * dns_mx_resolve() asks for the MX set; then the A and AAAA records of
 * every host, all at once.  No MX records (NODATA) gives the implicit MX: the
 * domain itself at preference 0, when it has addresses.  A single "0 ." is
 * the null MX: the domain takes no mail.  NXDOMAIN is permanent; SERVFAIL,
 * timeouts and bogus answers of the MX query are temporary.  Failures of
 * single hosts are recorded per host and leave the whole result DNS_OK.
 * The hosts are then sorted with mx_sort(), addresses in DNS order: A, AAAA.
 */
#include "dns/dns_int.h"
#include "dns/mx.h"

#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One address query of one host. */
struct mx_sub {
	struct dns_mx_job *job;
	size_t host;
	int v6;
	long qid;                   /* > 0 while outstanding */
	enum dns_sec sec;
	int done;
};

/* One MX resolution in progress. */
struct dns_mx_job {
	struct dns_mx_job *next, *prev;
	struct dns_ctx *ctx;
	long id;
	unsigned flags;
	dns_mx_cb cb;
	void *arg;
	long mx_qid;                /* > 0 while the MX query is outstanding */
	size_t pending;             /* address queries outstanding */
	size_t nv4[DNS_MX_HOSTS_MAX];   /* A addresses at the front of host[i].addr */
	struct mx_sub sub[DNS_MX_HOSTS_MAX][2];
	struct dns_mx_set set;
};

/* Unlink a job from its context. */
static void mx_job_unlink(struct dns_mx_job *job)
{
	struct dns_ctx *ctx = job->ctx;

	if (job->prev != NULL)
		job->prev->next = job->next;
	else if (ctx->jobs == job)
		ctx->jobs = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	job->next = job->prev = NULL;
}

/* Cancel every query of a job, unlink and free it. */
static void mx_job_cancel(struct dns_mx_job *job)
{
	if (job->mx_qid > 0)
		dns_cancel(job->ctx, job->mx_qid);
	for (size_t i = 0; i < DNS_MX_HOSTS_MAX; i++)
		for (int f = 0; f < 2; f++)
			if (job->sub[i][f].qid > 0)
				dns_cancel(job->ctx, job->sub[i][f].qid);
	mx_job_unlink(job);
	free(job);
}

/* Does the name look like an IP address (all digits and dots, or has a ':')? */
static int mx_is_literal(const char *name)
{
	int digit = 0;

	if (strchr(name, ':') != NULL)
		return 1;
	for (const char *p = name; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digit = 1;
		else if (*p != '.')
			return 0;
	}
	return digit;
}

/* The DNSSEC status of a host from its address queries. */
static enum dns_sec mx_host_sec(const struct dns_mx_job *job, size_t i)
{
	int any = 0, all_secure = 1;

	for (int f = 0; f < 2; f++) {
		const struct mx_sub *s = &job->sub[i][f];
		if (!s->done)
			continue;
		any = 1;
		if (s->sec == DNS_SEC_BOGUS)
			return DNS_SEC_BOGUS;
		if (s->sec != DNS_SEC_SECURE)
			all_secure = 0;
	}
	return any && all_secure ? DNS_SEC_SECURE : DNS_SEC_INSECURE;
}

/* Everything is in: settle the implicit case, sort, call back, free. */
static void mx_job_finish(struct dns_mx_job *job)
{
	struct dns_mx_set *set = &job->set;

	for (size_t i = 0; i < set->nhosts; i++)
		set->host[i].sec = mx_host_sec(job, i);
	if (set->status == DNS_OK && set->implicit && set->nhosts == 1 &&
	    set->host[0].naddr == 0) {
		struct dns_mx_host *h = &set->host[0];
		int tmp = h->a_status == DNS_TEMPFAIL || h->a_status == DNS_BOGUS ||
			  h->aaaa_status == DNS_TEMPFAIL || h->aaaa_status == DNS_BOGUS;
		if (tmp) {
			set->status = DNS_TEMPFAIL;
			snprintf(set->why, sizeof(set->why),
				 "no MX records, and the address lookup failed");
		} else {
			set->status = DNS_NODATA;
			set->nhosts = 0;
			snprintf(set->why, sizeof(set->why), "no MX and no A/AAAA records");
		}
	}
	if (set->status == DNS_OK)
		mx_sort(set, NULL);
	mx_job_unlink(job);
	job->cb(set, job->arg);
	free(job);
}

/* Add the addresses of one A or AAAA answer to a host: A first, then AAAA. */
static void mx_add_addrs(struct dns_mx_job *job, size_t i, int v6, const struct dns_answer *ans)
{
	struct dns_mx_host *h = &job->set.host[i];
	size_t n = ans->n > DNS_ANSWERS_MAX ? DNS_ANSWERS_MAX : ans->n;

	if (!v6) {
		size_t k = n > DNS_ADDRS_MAX ? DNS_ADDRS_MAX : n;
		size_t keep6 = h->naddr - job->nv4[i];    /* AAAA already there */
		if (keep6 > DNS_ADDRS_MAX - k)
			keep6 = DNS_ADDRS_MAX - k;
		memmove(&h->addr[k], &h->addr[job->nv4[i]], keep6 * sizeof(h->addr[0]));
		memcpy(&h->addr[0], &ans->addr[0], k * sizeof(h->addr[0]));
		job->nv4[i] = k;
		h->naddr = k + keep6;
	} else {
		for (size_t j = 0; j < n && h->naddr < DNS_ADDRS_MAX; j++)
			h->addr[h->naddr++] = ans->addr[j];
	}
}

/* An A or AAAA answer for one host. */
static void mx_on_addr(const struct dns_answer *ans, void *arg)
{
	struct mx_sub *s = arg;
	struct dns_mx_job *job = s->job;
	struct dns_mx_host *h = &job->set.host[s->host];

	s->qid = 0;
	s->done = 1;
	s->sec = ans->sec;
	if (s->v6) {
		h->aaaa_status = ans->status;
		h->aaaa_ttl = ans->ttl;
	} else {
		h->a_status = ans->status;
		h->a_ttl = ans->ttl;
	}
	if (ans->cname)
		h->is_cname = 1;
	if (ans->status == DNS_OK)
		mx_add_addrs(job, s->host, s->v6, ans);
	if (--job->pending == 0)
		mx_job_finish(job);
}

/* Start the A and AAAA queries of every host; finish at once if none went out. */
static void mx_start_hosts(struct dns_mx_job *job)
{
	struct dns_mx_set *set = &job->set;

	for (size_t i = 0; i < set->nhosts; i++) {
		struct dns_mx_host *h = &set->host[i];
		h->is_literal = mx_is_literal(h->name);
		h->a_status = h->aaaa_status = DNS_NODATA;   /* stays so when skipped */
		for (int f = 0; f < 2; f++) {
			struct mx_sub *s = &job->sub[i][f];
			s->job = job;
			s->host = i;
			s->v6 = f;
			if ((f == 0 && (job->flags & DNS_MX_NO_V4)) ||
			    (f == 1 && (job->flags & DNS_MX_NO_V6)))
				continue;
			long qid = dns_query(job->ctx, h->name, f ? DNS_T_AAAA : DNS_T_A,
					     mx_on_addr, s);
			if (qid < 0) {
				if (f)
					h->aaaa_status = DNS_TEMPFAIL;
				else
					h->a_status = DNS_TEMPFAIL;
				continue;
			}
			s->qid = qid;
			job->pending++;
		}
	}
	if (job->pending == 0)
		mx_job_finish(job);
}

/* Keep the usable MX records of an answer, most preferred first, at most DNS_MX_HOSTS_MAX. */
static void mx_take_records(struct dns_mx_job *job, const struct dns_answer *ans)
{
	struct dns_mx_set *set = &job->set;
	size_t n = ans->n > DNS_ANSWERS_MAX ? DNS_ANSWERS_MAX : ans->n;
	size_t nroot = 0;
	int used[DNS_ANSWERS_MAX] = {0};

	for (size_t i = 0; i < n; i++)
		if (ans->mx[i].host[0] == '\0')
			nroot++;
	if (n > 0 && nroot == n) {
		set->null_mx = 1;
		snprintf(set->why, sizeof(set->why), "null MX: the domain accepts no mail");
		return;
	}
	/* selection by preference keeps DNS order among equals */
	while (set->nhosts < DNS_MX_HOSTS_MAX) {
		size_t best = n;
		for (size_t i = 0; i < n; i++) {
			if (used[i] || ans->mx[i].host[0] == '\0')
				continue;
			if (best == n || ans->mx[i].pref < ans->mx[best].pref)
				best = i;
		}
		if (best == n)
			break;
		used[best] = 1;
		struct dns_mx_host *h = &set->host[set->nhosts++];
		h->pref = ans->mx[best].pref;
		memcpy(h->name, ans->mx[best].host, sizeof(h->name));
	}
	if (n - nroot > set->nhosts)
		log_info("dns: %s has %zu MX hosts, keeping the %d most preferred", set->domain,
			 n - nroot, DNS_MX_HOSTS_MAX);
}

/* The MX answer of the domain. */
static void mx_on_mx(const struct dns_answer *ans, void *arg)
{
	struct dns_mx_job *job = arg;
	struct dns_mx_set *set = &job->set;

	job->mx_qid = 0;
	set->mx_ttl = ans->ttl;
	set->mx_sec = ans->sec;
	switch (ans->status) {
	case DNS_OK:
		mx_take_records(job, ans);
		if (set->null_mx) {
			mx_job_finish(job);
			return;
		}
		break;
	case DNS_NODATA:
		set->implicit = 1;
		set->nhosts = 1;
		set->host[0].pref = 0;
		set->host[0].implicit = 1;
		memcpy(set->host[0].name, set->domain, sizeof(set->host[0].name));
		break;
	default:
		set->status = ans->status;
		snprintf(set->why, sizeof(set->why), "%s", ans->why);
		mx_job_finish(job);
		return;
	}
	mx_start_hosts(job);
}

/* Resolve the MX set of domain with addresses. */
long dns_mx_resolve(struct dns_ctx *ctx, const char *domain, unsigned flags, dns_mx_cb cb,
		    void *arg)
{
	struct dns_mx_job *job;
	char err[128];

	if (ctx == NULL || bmx_guard_dead(&ctx->guard) || domain == NULL || cb == NULL)
		return -1;
	job = calloc(1, sizeof(*job));
	if (job == NULL)
		return -1;
	if (dns_name_normalize(domain, job->set.domain, sizeof(job->set.domain), err,
			       sizeof(err)) < 0) {
		log_debug("dns: MX lookup refused for bad domain: %s", err);
		free(job);
		return -1;
	}
	job->ctx = ctx;
	job->flags = flags;
	job->cb = cb;
	job->arg = arg;
	job->set.status = DNS_OK;
	job->mx_qid = dns_query(ctx, job->set.domain, DNS_T_MX, mx_on_mx, job);
	if (job->mx_qid < 0) {
		free(job);
		return -1;
	}
	job->id = dns_next_id(ctx);
	job->next = ctx->jobs;
	if (job->next != NULL)
		job->next->prev = job;
	ctx->jobs = job;
	return job->id;
}

/* Cancel one MX resolution: its callback will not run. */
void dns_mx_cancel(struct dns_ctx *ctx, long id)
{
	if (ctx == NULL || id <= 0)
		return;
	for (struct dns_mx_job *job = ctx->jobs; job != NULL; job = job->next) {
		if (job->id == id) {
			mx_job_cancel(job);
			return;
		}
	}
}

/* Cancel and free every MX job, no callbacks. */
void dns_mx_free_all(struct dns_ctx *ctx)
{
	while (ctx->jobs != NULL)
		mx_job_cancel(ctx->jobs);
}
