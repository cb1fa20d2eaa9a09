/*
 * dns.c - asynchronous DNS queries on the io loop with libunbound.
 *
 * One dns_ctx owns one libunbound context.  Queries go out with
 * ub_resolve_async(); libunbound's background worker answers through a pipe
 * whose read end (ub_fd) is watched on the io loop, and ub_process() then
 * hands us the parsed ub_result.  Every query has its own io timer: when it
 * fires first the query is cancelled and reported as DNS_TEMPFAIL "timeout".
 * Callbacks never run inside dns_query(); dns_free() from inside a callback
 * is deferred until the callback has returned.
 *
 * In threaded mode ub_cancel() frees nothing: libunbound keeps working on
 * the query (for minutes when the server never answers) and only drops the
 * result.  So a query that timed out or was cancelled is not cancelled in
 * libunbound but abandoned: it stays on the list, without callback, answer
 * or timer, until libunbound's result comes and frees it.  That keeps an
 * exact count of what libunbound holds; reverse (PTR) lookups are refused
 * beyond DNS_PTR_INFLIGHT_MAX of them (see dns.h).
 *
 * The background worker is a thread (ub_ctx_async(ctx, 1)), not a forked
 * process: a forked worker would inherit every descriptor open at the first
 * query (listeners, SMTP sessions, spool files) and keep them open.
 *
 * Configuration is done before anything can finalise the context, and every
 * setter's return is checked: a forward-mode context that cannot set its
 * forwarder is an error, never a silent fall-back to recursion.
 */
#include "dns/dns_int.h"
#include "dns/rdata.h"

#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>
#include <unistd.h>

#define DNS_TIMEOUT_DEFAULT_MS 10000
#define DNS_TRUST_ANCHOR       "/usr/share/dns/root.key"
#define DNS_RCODE_NOERROR      0
#define DNS_RCODE_SERVFAIL     2
#define DNS_RCODE_NXDOMAIN     3
#define DNS_RCODE_REFUSED      5

/* libunbound's memory ceilings, set explicitly and read back (the library's
 * own defaults today; see docs/DESIGN.md "Memory under many clients"):
 * message, RRset, DNSSEC key and negative caches in bytes, and the number of
 * server addresses kept in the infrastructure (RTT) cache. */
#define DNS_MSG_CACHE   "1048576"
#define DNS_RRSET_CACHE "1048576"
#define DNS_KEY_CACHE   "1048576"
#define DNS_NEG_CACHE   "102400"
#define DNS_INFRA_HOSTS "1000"
/* UDP sockets libunbound may have open for queries at once (its library
 * default is 16).  More queries than ports wait in a queue, and queries a
 * server never answers then hold every port and delay all other lookups past
 * their timeout; with 128 ports the DNS_PTR_INFLIGHT_MAX reverse lookups can
 * take at most half of them. */
#define DNS_OUTGOING_RANGE "128"

/* One outstanding plain query. */
struct dns_q {
	struct dns_q *next, *prev;
	struct dns_ctx *ctx;
	long id;
	int ub_id;                  /* libunbound's async id */
	int ub_live;                /* submitted and not answered yet */
	int abandoned;              /* timed out or cancelled: no callback, freed on
				       libunbound's result */
	int ready;                  /* answer filled, delivery pending on the timer */
	int rrtype;
	struct io_timer *timer;     /* timeout, or 0 ms deferred delivery */
	dns_cb cb;
	void *arg;
	char qname[DNS_NAME_MAX];
	/* allocated when the answer (or the timeout) comes: a struct dns_answer
	 * is ~47 KiB, and a query that is never answered must stay small */
	struct dns_answer *ans;
};

/* Next id for a query or MX job. */
long dns_next_id(struct dns_ctx *ctx)
{
	if (ctx->next_id <= 0 || ctx->next_id == __LONG_MAX__)
		ctx->next_id = 1;
	return ctx->next_id++;
}

/* Copy a libunbound presentation name: lower-case, no trailing dot. */
static void dns_copy_name(char *out, size_t outlen, const char *in)
{
	size_t n = 0;

	if (in != NULL)
		for (; in[n] != '\0' && n + 1 < outlen; n++)
			out[n] = (in[n] >= 'A' && in[n] <= 'Z') ? (char)(in[n] - 'A' + 'a') : in[n];
	if (n > 0 && out[n - 1] == '.')
		n--;
	out[n] = '\0';
}

/* Set libunbound's options (dns_options) and read every one back. */
static int dns_set_options(struct ub_ctx *ub, char *err, size_t errlen)
{
	static const struct {
		const char *name, *value;
	} dns_options[] = {
		/* addresses in the order the server gave them, not rotated */
		{"rrset-roundrobin:", "no"},
		/* report real TTLs: the default (1 day) would clip long MX TTLs,
		 * which `check` must see to warn about them */
		{"cache-max-ttl:", "2147483647"},
		/* fixed memory ceilings */
		{"msg-cache-size:", DNS_MSG_CACHE},
		{"rrset-cache-size:", DNS_RRSET_CACHE},
		{"key-cache-size:", DNS_KEY_CACHE},
		{"neg-cache-size:", DNS_NEG_CACHE},
		{"infra-cache-numhosts:", DNS_INFRA_HOSTS},
		{"outgoing-range:", DNS_OUTGOING_RANGE},
	};
	int r;

	for (size_t i = 0; i < sizeof(dns_options) / sizeof(dns_options[0]); i++) {
		const char *name = dns_options[i].name, *want = dns_options[i].value;
		char *got = NULL;
		if ((r = ub_ctx_set_option(ub, name, want)) != 0) {
			snprintf(err, errlen, "resolver: cannot set %s %s: %s", name, want,
				 ub_strerror(r));
			return -1;
		}
		/* a setter can fail silently (TESTING.md): read it back */
		r = ub_ctx_get_option(ub, name, &got);
		if (r != 0 || got == NULL || strcmp(got, want) != 0) {
			snprintf(err, errlen, "resolver: %s did not take: %s instead of %s", name,
				 r != 0 ? ub_strerror(r) : got ? got : "nothing", want);
			free(got);
			return -1;
		}
		free(got);
	}
	return 0;
}

/* Set the context up for one resolver mode; every setter is checked. */
static int dns_configure(struct ub_ctx *ub, const char *resolver, unsigned flags, char *err,
			 size_t errlen)
{
	static const char *const dns_transparent[] = {
		"test. transparent",                /* always: first */
		"127.in-addr.arpa. transparent",    /* forward mode only */
		"2.0.192.in-addr.arpa. transparent",
	};
	int r, anchor = 0, forward = 0;

	if (resolver == NULL || resolver[0] == '\0' || strcmp(resolver, "system") == 0) {
		if ((r = ub_ctx_resolvconf(ub, NULL)) != 0) {
			snprintf(err, errlen, "resolver: cannot read /etc/resolv.conf: %s",
				 ub_strerror(r));
			return -1;
		}
		anchor = (flags & DNS_F_VALIDATE) != 0;
	} else if (strcmp(resolver, "recursive") == 0) {
		anchor = 1;
	} else {
		/* forward mode: the forwarder first, and it must take */
		if ((r = ub_ctx_set_fwd(ub, resolver)) != 0) {
			snprintf(err, errlen, "resolver: bad forwarder \"%s\": %s", resolver,
				 ub_strerror(r));
			return -1;
		}
		anchor = (flags & DNS_F_VALIDATE) != 0;
		forward = 1;
	}
	/* the threaded worker: see the file comment */
	if ((r = ub_ctx_async(ub, 1)) != 0) {
		snprintf(err, errlen, "resolver: cannot select threaded mode: %s", ub_strerror(r));
		return -1;
	}
	/* libunbound answers the RFC 6761 test. zone itself unless told not to;
	 * a forwarder (the test world) also gets the loopback and TEST-NET-1
	 * reverse zones that libunbound would otherwise answer with NXDOMAIN */
	for (size_t i = 0; i < sizeof(dns_transparent) / sizeof(dns_transparent[0]); i++) {
		if (i > 0 && !forward)
			break;
		if ((r = ub_ctx_set_option(ub, "local-zone:", dns_transparent[i])) != 0) {
			snprintf(err, errlen, "resolver: cannot set local-zone %s: %s",
				 dns_transparent[i], ub_strerror(r));
			return -1;
		}
	}
	if (dns_set_options(ub, err, errlen) < 0)
		return -1;
	if (anchor && access(DNS_TRUST_ANCHOR, R_OK) != 0) {
		snprintf(err, errlen, "resolver: cannot read trust anchor %s: %s", DNS_TRUST_ANCHOR,
			 strerror(errno));
		return -1;
	}
	if (anchor && (r = ub_ctx_add_ta_file(ub, DNS_TRUST_ANCHOR)) != 0) {
		snprintf(err, errlen, "resolver: cannot load trust anchor %s: %s", DNS_TRUST_ANCHOR,
			 ub_strerror(r));
		return -1;
	}
	return 0;
}

static void dns_destroy(struct dns_ctx *ctx);

/* Leave a callback section; finish a dns_free() asked for meanwhile. */
static void dns_leave(struct dns_ctx *ctx)
{
	if (bmx_guard_leave(&ctx->guard))
		dns_destroy(ctx);
}

/* ub_fd() is readable: let libunbound run the callbacks of finished queries. */
static void dns_watch_cb(int fd, void *arg)
{
	struct dns_ctx *ctx = arg;

	(void)fd;
	bmx_guard_enter(&ctx->guard);
	int r = ub_process(ctx->ub);
	if (r != 0 && !ctx->pipe_broken && !bmx_guard_dead(&ctx->guard)) {
		ctx->pipe_broken = 1;
		log_err("dns: resolver worker failed: %s", ub_strerror(r));
		/* stop spinning on a dead pipe; outstanding queries will time out */
		io_watch_free(ctx->watch);
		ctx->watch = NULL;
	}
	dns_leave(ctx);
}

/* Create a resolver on the loop. */
struct dns_ctx *dns_new(struct io_loop *loop, const char *resolver, unsigned flags, char *err,
			size_t errlen)
{
	char dummy[8];
	struct dns_ctx *ctx;

	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (loop == NULL) {
		snprintf(err, errlen, "resolver: no event loop");
		return NULL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		snprintf(err, errlen, "resolver: out of memory");
		return NULL;
	}
	ctx->loop = loop;
	ctx->timeout_ms = DNS_TIMEOUT_DEFAULT_MS;
	ctx->next_id = 1;
	ctx->spare = malloc(sizeof(*ctx->spare));
	ctx->ub = ctx->spare != NULL ? ub_ctx_create() : NULL;
	if (ctx->ub == NULL) {
		snprintf(err, errlen, "resolver: cannot create libunbound context");
		free(ctx->spare);
		free(ctx);
		return NULL;
	}
	if (dns_configure(ctx->ub, resolver, flags, err, errlen) < 0)
		goto fail;
	ctx->watch = io_watch_new(loop, ub_fd(ctx->ub), dns_watch_cb, ctx);
	if (ctx->watch == NULL) {
		snprintf(err, errlen, "resolver: cannot watch the libunbound pipe");
		goto fail;
	}
	return ctx;
fail:
	ub_ctx_delete(ctx->ub);
	free(ctx->spare);
	free(ctx);
	return NULL;
}

/* Unlink a query from its context and stop its timer. */
static void dns_q_unlink(struct dns_q *q)
{
	struct dns_ctx *ctx = q->ctx;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else if (ctx->queries == q)
		ctx->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->next = q->prev = NULL;
	io_timer_free(q->timer);
	q->timer = NULL;
}

/* Unlink a query and free it (its libunbound query must be finished or cancelled). */
static void dns_q_free(struct dns_q *q)
{
	dns_q_unlink(q);
	free(q->ans);
	free(q);
}

/* The query's answer, allocated on first use (NULL when out of memory). */
static struct dns_answer *dns_q_answer(struct dns_q *q)
{
	if (q->ans == NULL && (q->ans = calloc(1, sizeof(*q->ans))) != NULL)
		memcpy(q->ans->qname, q->qname, sizeof(q->ans->qname));
	return q->ans;
}

/* libunbound no longer holds the query: count it out. */
static void dns_q_ub_done(struct dns_q *q)
{
	if (!q->ub_live)
		return;
	q->ub_live = 0;
	if (q->rrtype == DNS_T_PTR && q->ctx->ptr_inflight > 0)
		q->ctx->ptr_inflight--;
}

/* Cancel a query in libunbound (if still there) and free it: only when the
 * context goes (ub_ctx_delete() then frees libunbound's side). */
static void dns_q_cancel(struct dns_q *q)
{
	if (q->ub_live)
		ub_cancel(q->ctx->ub, q->ub_id);
	dns_q_ub_done(q);
	dns_q_free(q);
}

/* Give up on a query: no callback, answer or timer any more; it is freed when
 * libunbound's result comes, or now if libunbound has finished with it.  The
 * query must be on the context's list. */
static void dns_q_abandon(struct dns_q *q)
{
	if (!q->ub_live) {
		dns_q_free(q);
		return;
	}
	io_timer_free(q->timer);
	q->timer = NULL;
	free(q->ans);
	q->ans = NULL;
	q->cb = NULL;
	q->arg = NULL;
	q->id = 0;   /* dns_cancel() no longer finds it */
	q->abandoned = 1;
}

/* Put a query back at the head of its context's list. */
static void dns_q_link(struct dns_q *q)
{
	struct dns_ctx *ctx = q->ctx;

	q->prev = NULL;
	q->next = ctx->queries;
	if (q->next != NULL)
		q->next->prev = q;
	ctx->queries = q;
}

/* Really free the context. */
static void dns_destroy(struct dns_ctx *ctx)
{
	while (ctx->queries != NULL)
		dns_q_cancel(ctx->queries);
	io_watch_free(ctx->watch);
	ub_ctx_delete(ctx->ub);
	free(ctx->spare);
	free(ctx);
}

/* Cancel every outstanding query (no callbacks) and free. */
void dns_free(struct dns_ctx *ctx)
{
	if (ctx == NULL || bmx_guard_dead(&ctx->guard))
		return;
	dns_mx_free_all(ctx);
	while (ctx->queries != NULL)
		dns_q_cancel(ctx->queries);
	if (bmx_guard_kill(&ctx->guard))
		dns_destroy(ctx);   /* else the last dns_leave() does */
}

/* Per-query timeout in milliseconds. */
void dns_set_timeout(struct dns_ctx *ctx, uint64_t ms)
{
	if (ctx != NULL)
		ctx->timeout_ms = ms > 0 ? ms : DNS_TIMEOUT_DEFAULT_MS;
}

/* Hand the answer to the caller and free (or, when libunbound still works on
 * it, abandon) the query; a query whose answer could not be allocated gets
 * the context's spare as a temporary failure. */
static void dns_deliver(struct dns_q *q)
{
	struct dns_ctx *ctx = q->ctx;
	struct dns_answer *ans = q->ans;

	if (ans == NULL) {
		ans = ctx->spare;   /* callbacks never nest: one spare is enough */
		memset(ans, 0, sizeof(*ans));
		memcpy(ans->qname, q->qname, sizeof(ans->qname));
		ans->status = DNS_TEMPFAIL;
		ans->rcode = DNS_RCODE_SERVFAIL;
		snprintf(ans->why, sizeof(ans->why), "resolver error: %s", ub_strerror(UB_NOMEM));
	}
	/* unlink first: dns_cancel() on this id from inside the callback is a no-op */
	dns_q_unlink(q);
	bmx_guard_enter(&ctx->guard);
	q->cb(ans, q->arg);
	if (q->ub_live && !bmx_guard_dead(&ctx->guard)) {
		dns_q_link(q);   /* timed out: libunbound still has it */
		dns_q_abandon(q);
	} else {
		free(q->ans);
		free(q);
	}
	dns_leave(ctx);
}

/* Read the rdata of one record into slot ans->n according to the query type. */
static int dns_parse_rr(struct dns_answer *ans, int rrtype, const uint8_t *rd, size_t len)
{
	size_t i = ans->n;

	switch (rrtype) {
	case DNS_T_A:
		return dns_rdata_a(rd, len, &ans->addr[i]);
	case DNS_T_AAAA:
		return dns_rdata_aaaa(rd, len, &ans->addr[i]);
	case DNS_T_MX:
		return dns_rdata_mx(rd, len, &ans->mx[i]);
	case DNS_T_PTR:
		return dns_rdata_ptr(rd, len, ans->name[i], sizeof(ans->name[i]));
	case DNS_T_TLSA:
		return dns_rdata_tlsa(rd, len, &ans->tlsa[i]);
	default:
		return -1;
	}
}

/* Is this a type whose rdata we read? */
static int dns_type_parsed(int rrtype)
{
	return rrtype == DNS_T_A || rrtype == DNS_T_AAAA || rrtype == DNS_T_MX ||
	       rrtype == DNS_T_PTR || rrtype == DNS_T_TLSA;
}

/* Fill q->ans from a libunbound result (which may be NULL when err != 0). */
static void dns_fill(struct dns_q *q, int err, const struct ub_result *res)
{
	struct dns_answer *ans = dns_q_answer(q);

	if (ans == NULL)
		return;   /* delivered as "out of memory" */
	if (err != 0 || res == NULL) {
		ans->status = DNS_TEMPFAIL;
		ans->rcode = DNS_RCODE_SERVFAIL;
		snprintf(ans->why, sizeof(ans->why), "resolver error: %s",
			 ub_strerror(err ? err : UB_NOMEM));
		return;
	}
	ans->rcode = res->rcode;
	ans->ttl = res->ttl > 0 ? (uint32_t)res->ttl : 0;
	if (res->canonname != NULL)
		dns_copy_name(ans->canonname, sizeof(ans->canonname), res->canonname);
	ans->cname = ans->canonname[0] != '\0' && strcmp(ans->canonname, ans->qname) != 0;
	if (!ans->cname)
		memcpy(ans->canonname, ans->qname, sizeof(ans->canonname));
	if (res->bogus) {
		ans->sec = DNS_SEC_BOGUS;
		ans->status = DNS_BOGUS;
		snprintf(ans->why, sizeof(ans->why), "DNSSEC validation failed: %s",
			 res->why_bogus ? res->why_bogus : "bogus");
		return;
	}
	ans->sec = res->secure ? DNS_SEC_SECURE : DNS_SEC_INSECURE;
	if (res->rcode == DNS_RCODE_NXDOMAIN || res->nxdomain) {
		ans->status = DNS_NXDOMAIN;
		snprintf(ans->why, sizeof(ans->why), "NXDOMAIN: the name does not exist");
		return;
	}
	if (res->rcode != DNS_RCODE_NOERROR) {
		ans->status = DNS_TEMPFAIL;
		if (res->rcode == DNS_RCODE_SERVFAIL)
			snprintf(ans->why, sizeof(ans->why), "SERVFAIL");
		else if (res->rcode == DNS_RCODE_REFUSED)
			snprintf(ans->why, sizeof(ans->why), "REFUSED");
		else
			snprintf(ans->why, sizeof(ans->why), "DNS error rcode %d", res->rcode);
		return;
	}
	if (!res->havedata || res->data == NULL) {
		ans->status = DNS_NODATA;
		snprintf(ans->why, sizeof(ans->why), "no records of that type");
		return;
	}
	ans->status = DNS_OK;
	if (!dns_type_parsed(q->rrtype))
		return;
	for (size_t i = 0; res->data[i] != NULL; i++) {
		int len = res->len ? res->len[i] : -1;
		if (len < 0 || ans->n >= DNS_ANSWERS_MAX ||
		    dns_parse_rr(ans, q->rrtype, (const uint8_t *)res->data[i], (size_t)len) < 0) {
			ans->nbad++;
			continue;
		}
		ans->n++;
	}
	if (ans->n == 0) {
		ans->status = DNS_TEMPFAIL;
		snprintf(ans->why, sizeof(ans->why),
			 "no usable record in the answer (%zu malformed)", ans->nbad);
	}
}

/* libunbound's completion callback (runs inside ub_process()). */
static void dns_ub_cb(void *mydata, int err, struct ub_result *res)
{
	struct dns_q *q = mydata;

	dns_q_ub_done(q);
	if (q->abandoned) {
		ub_resolve_free(res);
		dns_q_free(q);
		return;
	}
	dns_fill(q, err, res);
	ub_resolve_free(res);
	if (q->ctx->submitting) {
		/* never call back from inside dns_query(): defer to the loop */
		q->ready = 1;
		io_timer_add(q->timer, 0);
		return;
	}
	dns_deliver(q);
}

/* The query's timer: deferred delivery, or the timeout. */
static void dns_timer_cb(void *arg)
{
	struct dns_q *q = arg;

	if (!q->ready) {
		/* not cancelled in libunbound: dns_deliver() abandons it */
		struct dns_answer *ans = dns_q_answer(q);
		if (ans != NULL) {
			ans->status = DNS_TEMPFAIL;
			ans->rcode = DNS_RCODE_SERVFAIL;
			snprintf(ans->why, sizeof(ans->why), "timeout");
		}
	}
	dns_deliver(q);
}

/* Is name acceptable to hand to libunbound (printable, no escapes, not too long)? */
static int dns_qname_ok(const char *name)
{
	size_t n = strnlen(name, DNS_NAME_MAX);

	if (n == 0 || n >= DNS_NAME_MAX - 1)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '"' || c == ';')
			return 0;
	}
	return 1;
}

/* Start a query. */
long dns_query(struct dns_ctx *ctx, const char *name, int rrtype, dns_cb cb, void *arg)
{
	struct dns_q *q;
	int r;

	if (ctx == NULL || bmx_guard_dead(&ctx->guard) || name == NULL || cb == NULL ||
	    rrtype <= 0 || rrtype > 65535 || !dns_qname_ok(name))
		return -1;
	if (rrtype == DNS_T_PTR && ctx->ptr_inflight >= DNS_PTR_INFLIGHT_MAX) {
		errno = EAGAIN;
		return -1;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -1;
	q->ctx = ctx;
	q->rrtype = rrtype;
	q->cb = cb;
	q->arg = arg;
	dns_copy_name(q->qname, sizeof(q->qname), name);
	q->timer = io_timer_new(ctx->loop, dns_timer_cb, q);
	if (q->timer == NULL) {
		free(q);
		return -1;
	}
	q->id = dns_next_id(ctx);
	q->next = ctx->queries;
	if (q->next != NULL)
		q->next->prev = q;
	ctx->queries = q;
	q->ub_live = 1;
	if (rrtype == DNS_T_PTR)
		ctx->ptr_inflight++;
	ctx->submitting = 1;
	r = ub_resolve_async(ctx->ub, name, rrtype, 1 /* IN */, q, dns_ub_cb, &q->ub_id);
	ctx->submitting = 0;
	if (r != 0) {
		log_warn("dns: cannot start query for %s: %s", q->qname, ub_strerror(r));
		dns_q_ub_done(q);
		dns_q_free(q);
		return -1;
	}
	if (!q->ready)
		io_timer_add(q->timer, ctx->timeout_ms);
	return q->id;
}

/* Cancel one query: its callback will not run. */
void dns_cancel(struct dns_ctx *ctx, long id)
{
	if (ctx == NULL || id <= 0)
		return;
	for (struct dns_q *q = ctx->queries; q != NULL; q = q->next) {
		if (q->id == id) {
			dns_q_abandon(q);
			return;
		}
	}
}

/* Reverse lookups libunbound still works on, abandoned ones included. */
unsigned dns_ptr_inflight(const struct dns_ctx *ctx)
{
	return ctx != NULL ? ctx->ptr_inflight : 0;
}
