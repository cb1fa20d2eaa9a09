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
 * loop through io_conn, so it never blocks mail.  A POST that fails (no
 * connection, no 2xx status within ALERT_TIMEOUT_MS) is retried ALERT_TRIES
 * times in all, ALERT_BACKOFF_MS, doubled each time, apart; at most
 * ALERT_PENDING_MAX are in flight, newer alerts are dropped (and logged).
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
	char *req;
	size_t len;
	unsigned tries;
	struct io_conn *c;
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
	if (p->c)
		io_conn_free(p->c);
	io_timer_free(p->retry);
	free(p->req);
	free(p);
}

static void alert_post_try(struct alert_post *p);

/* A try failed: schedule the next or give up. */
static void alert_post_failed(struct alert_post *p, const char *why)
{
	if (p->c) {
		io_conn_free(p->c);
		p->c = NULL;
	}
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

/* Look at the reply: the status line decides; 1 done, 0 need more. */
static int alert_post_reply(struct alert_post *p, int eof)
{
	size_t len = 0;
	const uint8_t *b = io_conn_peek(p->c, ALERT_REPLY_MAX, &len);
	const char *nl = b ? memchr(b, '\n', len) : NULL;
	if (!nl && !eof && len < ALERT_REPLY_MAX)
		return 0;
	int code = 0;
	if (b && len >= 12 && memcmp(b, "HTTP/1.", 7) == 0 && b[8] == ' ' &&
	    b[9] >= '1' && b[9] <= '5' && b[10] >= '0' && b[10] <= '9' &&
	    b[11] >= '0' && b[11] <= '9')
		code = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	if (code >= 200 && code < 300) {
		log_info("alert: delivered to http://%s%s (HTTP %d)", p->a->url.hostport, p->a->url.path,
			 code);
		p->a->sent++;
		alert_post_free(p);
	} else {
		char why[32];
		snprintf(why, sizeof(why), code ? "HTTP %d" : "no HTTP status line", code);
		alert_post_failed(p, why);
	}
	return 1;
}

/* Connection events of one try. */
static void alert_conn_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct alert_post *p = arg;
	(void)c;
	switch (ev) {
	case IO_EV_CONNECTED:
		if (io_conn_write(p->c, p->req, p->len) < 0)
			alert_post_failed(p, "write failed");
		break;
	case IO_EV_READ:
		alert_post_reply(p, 0);
		break;
	case IO_EV_EOF:
		alert_post_reply(p, 1);
		break;
	case IO_EV_TIMEOUT:
		alert_post_failed(p, "timeout");
		break;
	case IO_EV_ERROR:
		alert_post_failed(p, io_conn_error(p->c) ? io_conn_error(p->c) : "error");
		break;
	default:
		break;
	}
}

/* Start one try. */
static void alert_post_try(struct alert_post *p)
{
	p->tries++;
	p->c = io_conn_connect(p->a->loop, (const struct sockaddr *)&p->a->url.sa, p->a->url.salen, NULL,
			       0, alert_conn_cb, p);
	if (!p->c) {
		alert_post_failed(p, "cannot connect");
		return;
	}
	io_conn_set_timeout(p->c, ALERT_TIMEOUT_MS);
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
	char *body = NULL, *req = NULL;
	size_t blen = 0, rlen = 0;
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
	f = open_memstream(&req, &rlen);
	if (!f)
		goto oom;
	fprintf(f, "POST %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: backupmxd\r\n"
		   "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		   "Connection: close\r\n\r\n", a->url.path, a->url.hostport, blen);
	fwrite(body, 1, blen, f);
	if (fclose(f) != 0)
		goto oom;
	if (!(p = calloc(1, sizeof(*p))) || !(p->retry = io_timer_new(a->loop, alert_retry_cb, p)))
		goto oom;
	p->a = a;
	p->req = req;
	p->len = rlen;
	p->next = a->posts;
	a->posts = p;
	a->nposts++;
	free(body);
	alert_post_try(p);
	return;
oom:
	log_err("alert: out of memory, %s alert lost", event);
	if (p)
		io_timer_free(p->retry);
	free(p);
	free(body);
	free(req);
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
