/*
 * relay.h - the delivery side: hand every queued message to the more
 * preferred MX hosts (the primary) as soon as they are reachable.
 *
 * Model: every recipient domain is a destination with one state (unknown,
 * up, down since T with the last error, "loops back to myself", held).
 * While a destination is down only its probe touches it (connect, EHLO,
 * QUIT every probe_interval); the moment a probe succeeds the whole queue of
 * that destination is scheduled, with a concurrency that ramps from 2 to
 * max_concurrency on the primary's feedback (relay_ramp.c).  Per-message backoff (retry_min
 * .. retry_max) applies only to message-level trouble: a 4xx for its own
 * recipients, or a transaction that broke twice.  ETRN, `backupmx flush`
 * and an inbound connection from a primary address schedule a destination
 * at once.  Ended recipients (5xx, queue_lifetime) get an RFC 3464 DSN.
 */
#ifndef BMX_RELAY_H
#define BMX_RELAY_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "common/config.h"
#include "dns/dns.h"
#include "io/io.h"
#include "smtp/server.h"
#include "spool/spool.h"

#define RELAY_INITIAL_CONCURRENCY 2      /* connections to a destination that just came up */
#define RELAY_RAMP_HOLD_S         30     /* a lowered concurrency limit stays this long */
#define RELAY_SELF_ADDRS_MAX      64     /* local addresses we recognise as ourselves */
#define RELAY_HOLD_MAX            1024   /* held domains */
#define RELAY_TARGETS_MAX         64     /* host addresses tried per destination */
#define RELAY_SWEEP_MS            30000  /* lifetime / delay-warning sweep */

struct relay;

/* A destination changed state (alerts): up=1 came up, up=0 went down. */
typedef void (*relay_event_cb)(const char *domain, int up, const char *error, void *arg);

struct relay_opts {
	struct io_loop *loop;
	const struct config *cfg;
	struct spool *spool;
	struct dns_ctx *dns;
	struct io_tls *client_tls;   /* for outbound STARTTLS (not owned) */
	relay_event_cb event;        /* may be NULL */
	void *event_arg;
};

#define RELAY_HISTORY_MAX 1000   /* recent recipient outcomes kept for status and drills */

/* Create the delivery engine (loads the persisted holds). */
struct relay *relay_new(const struct relay_opts *o);
void relay_free(struct relay *r);
/* Use cfg for all new work (a reload); the caller keeps the old one alive
 * until this returns, and cfg until the next call or relay_free. */
void relay_set_config(struct relay *r, const struct config *cfg);

/* Whether the spool is still being read at start-up, and how many messages
 * were read so far (status shows it). */
void relay_set_recovering(struct relay *r, int recovering, long recovered);
/* A message is in the spool (just queued, or recovered at start-up). */
void relay_add(struct relay *r, const struct spool_env *env);
/* Try now: one domain, or every destination when domain is NULL.
 * Returns the number of messages scheduled. */
long relay_flush(struct relay *r, const char *domain);
/* Pause (hold=1) or resume delivery to a domain; persisted.  0 or -1. */
int relay_hold(struct relay *r, const char *domain, int hold);
/* Delete a message from the queue.  0, or -1 if unknown. */
int relay_delete(struct relay *r, const char *qid);

/* SMTP server hooks (smtp/server.h). */
void relay_hook_etrn(const char *arg, const struct sockaddr *peer, char *reply, size_t len,
		     void *rp);
void relay_hook_connected(const struct sockaddr *peer, void *rp);
int relay_hook_trusted(const struct sockaddr *peer, void *rp);
void relay_hook_queued(const struct spool_env *env, void *rp);
enum smtp_rcpt_verdict relay_hook_rcpt(const struct smtp_rcpt_query *q, void *rp);
void relay_hook_rcpt_cancel(struct smtp_session *s, void *rp);
/* The live pass-through (relay_proxy.c): smtp_server_hooks.proxy_*. */
enum smtp_route relay_hook_proxy_rcpt(const struct smtp_proxy_rcpt *q,
				      struct smtp_proxy_txn **txn, void *rp);
int relay_hook_proxy_data(struct smtp_proxy_txn *t);
int relay_hook_proxy_body(struct smtp_proxy_txn *t, const void *p, size_t n);
int relay_hook_proxy_end(struct smtp_proxy_txn *t);
void relay_hook_proxy_free(struct smtp_proxy_txn *t);

/* Results of live pass-through transactions (metrics label values). */
enum relay_px_result { RELAY_PX_SENT = 0, RELAY_PX_REJECTED, RELAY_PX_DEFERRED, RELAY_PX_FAILED,
		       RELAY_PX_FALLBACK, RELAY_PX_RESULTS };
extern const char *const relay_px_result_names[RELAY_PX_RESULTS];

/* Counters for metrics. */
struct relay_stats {
	unsigned long long sent, deferred, bounced, expired, dsn_sent, dsn_dropped, dsn_suppressed;
	unsigned long long probes, probe_ok;
	unsigned long long proxy[RELAY_PX_RESULTS];   /* live transactions by result */
	double last_probe_seconds;
};
void relay_get_stats(const struct relay *r, struct relay_stats *out);

/* JSON documents for the control socket and the status page. */
void relay_json_status(struct relay *r, FILE *out);
/* 0, or -1 if the message is unknown. */
int relay_json_show(struct relay *r, const char *qid, FILE *out);
/* Recent recipient outcomes (newest last), optionally of one queue ID. */
void relay_json_history(struct relay *r, const char *qid, FILE *out);
/* Arrival time of the oldest queued message, 0 if the queue is empty. */
time_t relay_oldest_arrival(const struct relay *r);
/* The queue in a few numbers, kept as counters (O(1), for systemd's STATUS=). */
struct relay_summary {
	size_t queued;                    /* messages */
	unsigned long long bytes;
	size_t dests;                     /* destinations known */
	size_t down, loop;                /* of them: down, looping back to us */
	time_t oldest;                    /* relay_oldest_arrival() */
	int recovering;                   /* the spool is still being read */
};
void relay_summary(const struct relay *r, struct relay_summary *out);
/* Human-readable forms of status and queue. */
void relay_text_status(struct relay *r, FILE *out);
/* One message for a person; -1 if there is no such message. */
int relay_text_show(struct relay *r, const char *qid, FILE *out);
/* Is domain held (backupmx hold)?  1 or 0. */
int relay_held(const struct relay *r, const char *domain);
/* Prometheus text exposition of the queue and destinations. */
void relay_metrics(struct relay *r, FILE *out);

/* The queue listing (`backupmx queue`), produced step by step so that a
 * million messages never sit in one buffer (relay_list.c).  The cursor
 * survives messages leaving the queue between steps; the caller frees it
 * before the relay.  domain ("" or NULL: all) keeps the messages with a
 * recipient in it still to deliver; limit 0 means no limit; json gives one
 * object per message per line and a final {"end":...} line. */
struct relay_list;
struct relay_list *relay_list_new(struct relay *r, const char *domain, unsigned long limit,
				  int json);
/* Write the next part (about RELAY_LIST_CHUNK octets) to out: 1 when more
 * follows, 0 when the listing is complete. */
int relay_list_step(struct relay_list *l, FILE *out);
void relay_list_free(struct relay_list *l);

/* The HTML status page (self-contained, every field escaped): relay_html.c.
 * filter ("" or NULL: none): show only destinations whose domain contains it
 * (case-insensitive). */
void relay_html(struct relay *r, const char *filter, FILE *out);

#endif
