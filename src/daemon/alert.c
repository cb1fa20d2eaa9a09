/*
 * alert.c - backupmxd's alert webhook (alert_webhook, alert_queue_age).
 *
 * A JSON document is POSTed to the one configured URL when a destination
 * goes down, when a destination that was reported down comes back up, and
 * when the oldest queued message gets older than alert_queue_age (once per
 * crossing; re-armed when the age falls below the limit again):
 *
 *   {"event":"down","host":"mx2.example.net","domain":"example.com",
 *    "error":"connect ...: Connection refused","time":1700000000}
 *
 * Delivery is plain HTTP/1.0 (Connection: close) on the daemon's own event
 * loop through io_httpc (one request per try), so it never blocks mail.  A
 * POST that fails (no connection, no 2xx status within ALERT_TIMEOUT_MS) is
 * retried ALERT_TRIES times in all, ALERT_BACKOFF_MS, doubled each time,
 * apart; at most ALERT_PENDING_MAX are in flight, newer alerts are dropped
 * (and logged).
 * The URL must be http:// with a numeric IP host (no name is resolved, so
 * nothing but the configured address is ever contacted); https:// is
 * refused when the config is read (io_url_parse, the same check as
 * `backupmxd -n`): point the URL at a local relay for TLS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/json.h"
#include "common/log.h"
#include "daemon/daemon.h"

#define ALERT_TRIES          3       /* POST attempts per alert */
#define ALERT_BACKOFF_MS     1000    /* pause before the 2nd try, doubled after */
#define ALERT_TIMEOUT_MS     10000   /* connect + reply time limit per try */
#define ALERT_PENDING_MAX    32      /* alerts in flight or waiting to retry */
#define ALERT_REPLY_MAX      512     /* bytes of the reply read for the status line */
#define ALERT_DOWN_MAX       1024    /* destinations remembered as reported down */
#define ALERT_AGE_CHECK_MS   1000    /* how often the queue age is checked */

/* One alert being delivered. */
struct alert_post {
	struct alert *a;
	struct alert_post *next;
	char *body;                       /* the JSON document */
	size_t len;
	unsigned tries;
	struct io_httpc *c;               /* the try in flight */
	struct io_timer *retry;
};

struct alert {
	struct io_loop *loop;
	char *hostname;
	struct io_url url;                /* where alerts go (io_url_parse) */
	struct alert_post *posts;
	size_t nposts;
	char *down[ALERT_DOWN_MAX];
	size_t ndown;
	/* queue age */
	struct relay *relay;
	unsigned max_age;
	int age_alerted;
	struct io_timer *age_timer;
	unsigned long long sent, failed, dropped;
};

/* Create the alerter for url; NULL with err set on a bad URL. */
struct alert *alert_new(struct io_loop *loop, const char *url, const char *hostname, char *err,
			size_t errlen)
{
	struct alert *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->loop = loop;
	char why[256];
	if (io_url_parse(url, &a->url, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "alert_webhook %s: %s", url, why);
		alert_free(a);
		return NULL;
	}
	if (!(a->hostname = strdup(hostname ? hostname : ""))) {
		snprintf(err, errlen, "out of memory");
		alert_free(a);
		return NULL;
	}
	return a;
}

/* Unlink and free one post. */
static void alert_post_free(struct alert_post *p)
{
	struct alert *a = p->a;
	for (struct alert_post **pp = &a->posts; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			a->nposts--;
			break;
		}
	}
	io_httpc_free(p->c);
	io_timer_free(p->retry);
	free(p->body);
	free(p);
}

static void alert_post_try(struct alert_post *p);

/* A try failed: schedule the next or give up. */
static void alert_post_failed(struct alert_post *p, const char *why)
{
	io_httpc_free(p->c);
	p->c = NULL;
	if (p->tries >= ALERT_TRIES) {
		log_warn("alert: POST to http://%s%s failed %u times, giving up: %s",
			 p->a->url.hostport, p->a->url.path, p->tries, why);
		p->a->failed++;
		alert_post_free(p);
		return;
	}
	uint64_t ms = (uint64_t)ALERT_BACKOFF_MS << (p->tries - 1);
	log_info("alert: POST to http://%s%s failed (%s), retry in %llus", p->a->url.hostport,
		 p->a->url.path, why, (unsigned long long)(ms / 1000));
	io_timer_add(p->retry, ms);
}

/* The try ended: a 2xx status line is success, anything else a failure. */
static void alert_reply_cb(const struct io_httpc_res *res, void *arg)
{
	struct alert_post *p = arg;

	if (res->err) {
		alert_post_failed(p, res->err);
	} else if (res->status >= 200 && res->status < 300) {
		log_info("alert: delivered to http://%s%s (HTTP %d)", p->a->url.hostport, p->a->url.path,
			 res->status);
		p->a->sent++;
		alert_post_free(p);
	} else {
		char why[32];
		snprintf(why, sizeof(why), res->status ? "HTTP %d" : "no HTTP status line",
			 res->status);
		alert_post_failed(p, why);
	}
}

/* Start one try. */
static void alert_post_try(struct alert_post *p)
{
	const struct io_httpc_req req = {
		.method = "POST",
		.user_agent = "backupmxd",
		.content_type = "application/json",
		.body = p->body,
		.body_len = p->len,
		.max = ALERT_REPLY_MAX,
		.timeout_ms = ALERT_TIMEOUT_MS,
	};

	p->tries++;
	p->c = io_httpc_new(p->a->loop, &p->a->url, &req, alert_reply_cb, p);
	if (!p->c)
		alert_post_failed(p, "cannot connect");
}

/* Retry timer. */
static void alert_retry_cb(void *arg)
{
	alert_post_try(arg);
}

/* Queue one alert document; never blocks. */
static void alert_post(struct alert *a, const char *event, const char *domain,
		       const char *error, long age)
{
	char *body = NULL;
	size_t blen = 0;
	struct alert_post *p = NULL;

	log_info("alert: %s%s%s", event, domain ? " " : "", domain ? domain : "");
	if (a->nposts >= ALERT_PENDING_MAX) {
		a->dropped++;
		log_warn("alert: %zu alerts pending, dropping this %s alert", a->nposts, event);
		return;
	}
	FILE *f = open_memstream(&body, &blen);
	if (!f)
		goto oom;
	int first = 1;
	fputc('{', f);
	json_kv_str(f, &first, "event", event);
	json_kv_str(f, &first, "host", a->hostname);
	json_kv_str(f, &first, "domain", domain);
	json_kv_str(f, &first, "error", error);
	if (age >= 0)
		json_kv_num(f, &first, "oldest_age", (double)age);
	json_kv_num(f, &first, "time", (double)time(NULL));
	fputs("}\n", f);
	if (fclose(f) != 0)
		goto oom;
	if (!(p = calloc(1, sizeof(*p))) || !(p->retry = io_timer_new(a->loop, alert_retry_cb, p)))
		goto oom;
	p->a = a;
	p->body = body;
	p->len = blen;
	p->next = a->posts;
	a->posts = p;
	a->nposts++;
	alert_post_try(p);
	return;
oom:
	log_err("alert: out of memory, %s alert lost", event);
	if (p)
		io_timer_free(p->retry);
	free(p);
	free(body);
}

/* A destination changed state: "down" always, "up" only after a "down". */
void alert_dest(struct alert *a, const char *domain, int up, const char *error)
{
	if (!a || !domain)
		return;
	size_t i;
	for (i = 0; i < a->ndown; i++)
		if (strcmp(a->down[i], domain) == 0)
			break;
	if (up) {
		if (i == a->ndown)
			return;
		free(a->down[i]);
		a->down[i] = a->down[--a->ndown];
		alert_post(a, "up", domain, NULL, -1);
		return;
	}
	if (i == a->ndown && a->ndown < ALERT_DOWN_MAX) {
		char *s = strdup(domain);
		if (s)
			a->down[a->ndown++] = s;
	}
	alert_post(a, "down", domain, error, -1);
}

/* Queue-age timer: alert once per crossing of max_age. */
static void alert_age_cb(void *arg)
{
	struct alert *a = arg;
	time_t oldest = relay_oldest_arrival(a->relay);
	long age = oldest ? (long)(time(NULL) - oldest) : 0;
	if (oldest && age >= (long)a->max_age) {
		if (!a->age_alerted) {
			char msg[96];
			snprintf(msg, sizeof(msg), "oldest queued message is %lds old (limit %us)",
				 age, a->max_age);
			alert_post(a, "queue_age", NULL, msg, age);
		}
		a->age_alerted = 1;
	} else {
		a->age_alerted = 0;
	}
	io_timer_add(a->age_timer, ALERT_AGE_CHECK_MS);
}

/* Watch the age of the oldest queued message (max_age seconds, 0 = off). */
int alert_watch_queue(struct alert *a, struct relay *r, unsigned max_age)
{
	if (!a || !max_age)
		return 0;
	a->relay = r;
	a->max_age = max_age;
	if (!a->age_timer && !(a->age_timer = io_timer_new(a->loop, alert_age_cb, a)))
		return -1;
	io_timer_add(a->age_timer, ALERT_AGE_CHECK_MS);
	return 0;
}

/* Drop pending alerts and free. */
void alert_free(struct alert *a)
{
	if (!a)
		return;
	while (a->posts)
		alert_post_free(a->posts);
	for (size_t i = 0; i < a->ndown; i++)
		free(a->down[i]);
	io_timer_free(a->age_timer);
	free(a->hostname);
	free(a);
}
