/*
 * relay_int.h - internals shared by the files of the delivery engine.
 *
 *   relay.c         destinations, jobs, scheduling, holds, ETRN
 *   relay_msg.c     messages in memory, their envelopes read on demand, the sweep
 *   relay_conn.c    delivery connections and probes (SMTP client driving)
 *   relay_ramp.c    the concurrency ramp: how many connections a destination gets
 *   relay_xforward.c  XFORWARD/XCLIENT: the original client, told to the primary
 *   relay_proxy.c   the live pass-through while the primary is up (primary_up)
 *   relay_target.c  next-hop choice: routes, MX lookup, self truncation
 *   relay_bounce.c  DSNs (failures and delay warnings) into the spool
 *   relay_status.c  JSON documents and metrics
 *   relay_text.c    the human reports: status, queue, one message
 *   relay_list.c    the queue listing, produced in steps (a cursor that survives changes)
 *   relay_html.c    the HTML status page
 */
#ifndef BMX_RELAY_INT_H
#define BMX_RELAY_INT_H

#include <time.h>

#include "dns/mx.h"
#include "relay/relay.h"
#include "smtp/client.h"

#define RELAY_MSG_BUCKETS   65536   /* first size of the message hash; doubled as it fills */
#define RELAY_ERR_BUCKETS   1024    /* interned message errors (relay_msg.c) */
#define RELAY_RESOLVE_MAX   256     /* MX lookups in flight: each holds a dns_mx_set
				       (about 75 KB) until it ends; more wait in line */
enum { RELAY_RESOLVE_NONE = 0, RELAY_RESOLVE_RUNNING, RELAY_RESOLVE_QUEUED };
#define RELAY_DEST_BUCKETS  65536   /* destinations hash: 100,000 domains stay ~2 a chain */
#define RELAY_ERR_MAX       512

struct relay_dest;

/*
 * Ownership: who may write what.
 *   - relay_dest.state, .since and .last_error change only in relay.c,
 *     through relay_dest_up(), relay_dest_down(), relay_dest_loop() and
 *     relay_dest_unloop(): they log, alert and set `since` together.
 *   - relay_dest.limit and the ramp_* fields: only relay_ramp.c.
 *   - the ready/wait lists, nready, nwait: only relay.c (relay_job_requeue,
 *     relay_job_take, relay_job_free).
 *   - conns, nconn, nidle: only relay_conn.c; connections are opened only by
 *     relay_dest_kick() (relay.c) through relay_conn_open().
 *   - targets, ntargets, targets_expire, resolving: only relay_target.c.
 *   - nproxy and r->proxies: only relay_proxy.c.
 *   - a relay_msg is freed only by relay_msg_remove_if_done() (which also
 *     removes its queue file) or relay_free(); its jobs by relay_job_free().
 *   - relay_msg.env and .env_refs: only relay_msg.c (relay_msg_env_get/put);
 *     .last_error through relay_msg_set_error(); njobs/jbytes/joldest of a
 *     destination through relay_job_count().
 * Everything else reads.
 */

/* The pending recipients of one message for one destination. */
struct relay_job {
	struct relay_job *next, *prev;    /* in dest ready or wait list */
	struct relay_job *mnext;          /* in msg->jobs */
	struct relay_msg *msg;
	struct relay_dest *dest;
	time_t not_before;
	union {                           /* recipient indexes into the envelope's rcpt: */
		size_t one;               /*   one recipient (heap == 0) */
		size_t *many;             /*   allocated (heap == 1) */
	} rcpt;
	unsigned n;                       /* how many */
	unsigned char heap;
	unsigned char list;               /* 0 none, 1 ready, 2 wait */
};

/* Job j's recipient indexes (j->n of them). */
static inline size_t *relay_job_rcpts(struct relay_job *j)
{
	return j->heap ? j->rcpt.many : &j->rcpt.one;
}

/* One queued message: only what scheduling needs stays in memory (issue 17:
 * about 210 bytes with its first job).  The envelope (sender, recipients,
 * client facts) stays on disk and is read when a delivery, a DSN or a
 * listing needs it: relay_msg_env_get() / relay_msg_env_put() (relay_msg.c). */
struct relay_msg {
	struct relay_msg *hnext;          /* hash chain by queue ID */
	struct relay_msg *next, *prev;    /* all messages, arrival order */
	struct spool_env *env;            /* loaded envelope, or NULL (env_refs == 0) */
	struct relay_job *jobs;           /* this message's jobs (via mnext) */
	const char *last_error;           /* interned (relay_msg_set_error), never NULL */
	char qid[SPOOL_QID_LEN + 1];
	unsigned char warned;             /* delay warning sent */
	unsigned char unrecorded;         /* a state record failed (ENOSPC): retry it;
					     env stays loaded (it holds the states) */
	unsigned char deleted;            /* removed by the admin; jobs drain */
	time_t arrival;
	unsigned long long size;          /* body octets */
	time_t next_try;                  /* per-message backoff end, 0 = none */
	time_t last_try;
	unsigned long long seq;           /* order of arrival in r->head (relay_list.c) */
	unsigned attempts;                /* message-level failures so far */
	unsigned npending;                /* recipients pending or deferred */
	unsigned njobs;                   /* jobs (msg x destination) alive */
	unsigned nactive;                 /* jobs on a connection now */
	unsigned env_refs;                /* holders of env (active jobs, readers) */
	unsigned char final_status;       /* RELAY_FINAL_*: the RFC 3463 code if it expires */
	unsigned char job0_used;          /* job0 is one of jobs */
	struct relay_job job0;            /* the first job, in place (one allocation) */
};

/* relay_msg.final_status: why a message that expires failed for good. */
enum { RELAY_FINAL_EXPIRED = 0,           /* 5.4.7 delivery time expired */
       RELAY_FINAL_SMTPUTF8,              /* 5.6.7 (RFC 6531) */
       RELAY_FINAL_8BITMIME };            /* 5.6.3 (RFC 3463) */

struct relay_target {
	struct sockaddr_storage sa;       /* with port */
	socklen_t salen;
	char host[DNS_NAME_MAX];
};

enum relay_dstate { DEST_UNKNOWN = 0, DEST_UP, DEST_DOWN, DEST_LOOP };

struct relay_conn;

/* One destination: a recipient domain. */
struct relay_dest {
	struct relay_dest *hnext, *next;
	struct relay *r;
	char domain[DNS_NAME_MAX];
	enum relay_dstate state;
	time_t since;
	char last_error[RELAY_ERR_MAX];
	int held;
	/* jobs */
	struct relay_job *ready_head, *ready_tail, *wait_head;
	size_t nready, nwait;
	size_t njobs;                     /* every job, listed or on a connection (relay_msg.c) */
	unsigned long long jbytes;        /* their messages' octets */
	time_t joldest;                   /* the oldest arrival among them, unless: */
	int joldest_stale;                /* the oldest left: relay_dest_totals() looks again */
	time_t wait_deadline;             /* when wait_timer fires */
	/* next hops */
	int resolving;                    /* RELAY_RESOLVE_*: the MX lookup's state */
	struct relay_dest *rq_next;       /* in r->rq (RELAY_RESOLVE_QUEUED) */
	long dns_id;
	time_t targets_expire;
	size_t ntargets;
	struct relay_target *targets;     /* ntargets used of targets_cap (at most
					     RELAY_TARGETS_MAX), grown as needed */
	size_t targets_cap;
	/* connections */
	struct relay_conn *conns;
	unsigned nconn, nidle;
	unsigned nproxy;                  /* live pass-through connections (relay_proxy.c) */
	/* the concurrency ramp (relay_ramp.c owns these) */
	unsigned limit;                   /* connections allowed now (capped by max_concurrency) */
	unsigned ramp_credit;             /* deliveries toward the next additive raise */
	int ramp_linear;                  /* overload seen: additive increase, not slow start */
	time_t ramp_hold_until;           /* no raise before this */
	unsigned long long ramp_overloads;/* times the limit was lowered */
	/* probing and waiting */
	struct io_timer *probe_timer, *wait_timer;
	struct smtp_client *probe;
	int probe_after_resolve;          /* the next hops are re-resolved for a probe */
	size_t probe_target;
	uint64_t probe_start_ms;
	/* learned facts */
	int have_facts;
	struct smtp_caps caps;
	char banner[256];
	char tls[128];
	char last_relay[320];
	unsigned long long sent;
};

/* One recipient outcome, for `history` and the status page. */
struct relay_hist {
	char qid[SPOOL_QID_LEN + 1];
	char rcpt[SMTP_PATH_MAX + 8];
	char status[12];                  /* sent, deferred, bounced, expired, rejected, suppressed,
					     received (arrival through the milters) */
	char relay[512];                  /* received: the milters' verdicts (MILTER_SUMMARY_MAX) */
	char reply[400];                  /* received: our Authentication-Results */
	time_t when;
	double delay;
};

struct relay {
	struct io_loop *loop;
	relay_event_cb event;
	void *event_arg;
	struct relay_hist hist[RELAY_HISTORY_MAX];
	size_t nhist;                     /* total ever recorded; slot = n % MAX */
	const struct config *cfg;
	struct spool *spool;
	struct dns_ctx *dns;
	struct io_tls *client_tls;
	struct relay_msg **msgs;          /* hash by queue ID, msg_buckets long */
	size_t msg_buckets;
	struct relay_msg *head, *tail;
	size_t nmsgs;
	unsigned long long qbytes;        /* octets of all queued messages */
	struct relay_errstr *errs[RELAY_ERR_BUCKETS];   /* interned last errors */
	unsigned long long msg_seq;       /* last relay_msg.seq given */
	struct relay_dest *dests[RELAY_DEST_BUCKETS];
	struct relay_dest *rq_head, *rq_tail;   /* waiting for an MX lookup slot */
	unsigned nresolving;              /* MX lookups in flight (<= RELAY_RESOLVE_MAX) */
	size_t nrq;                       /* destinations in r->rq */
	struct relay_dest *dest_list;
	size_t ndests;
	size_t nstate[4];                 /* destinations by enum relay_dstate (relay.c) */
	size_t nholds;
	char *holds[RELAY_HOLD_MAX];
	struct io_timer *sweep_timer;
	struct spool_remover *remover;    /* unlinks delivered messages off the loop */
	struct relay_stats stats;
	struct relay_verify *verify;      /* NULL unless recipient_verify */
	int recovering;                   /* the spool is still being read (relay_set_recovering) */
	long recovered;                   /* messages read from it so far */
	struct smtp_proxy_txn *proxies;   /* live pass-through transactions (relay_proxy.c) */
	/* who we are */
	const char *self_names[2];
	size_t nself_addrs;
	struct sockaddr_storage self_addrs[RELAY_SELF_ADDRS_MAX];
};

/* relay.c */
unsigned relay_hash(const char *s, size_t buckets);
struct relay_dest *relay_dest_get(struct relay *r, const char *domain);
struct relay_dest *relay_dest_find(struct relay *r, const char *domain);
const char *relay_addr_domain(const char *addr, char *buf, size_t len);
void relay_dest_kick(struct relay_dest *d);
void relay_dest_up(struct relay_dest *d);
void relay_dest_down(struct relay_dest *d, const char *err);
void relay_dest_loop(struct relay_dest *d);
void relay_dest_unloop(struct relay_dest *d);
struct relay_job *relay_job_take(struct relay_dest *d);
void relay_job_requeue(struct relay_job *j, time_t not_before);
void relay_job_free(struct relay_job *j);

/* relay_msg.c: the messages in memory */
int relay_msgs_init(struct relay *r);
void relay_msgs_free(struct relay *r);
struct relay_msg *relay_msg_find(struct relay *r, const char *qid);
/* Count job j in (add 1) or out of (add 0) its destination's totals. */
void relay_job_count(struct relay_job *j, int add);
void relay_msg_remove_if_done(struct relay *r, struct relay_msg *m);
void relay_msg_record(struct relay *r, struct relay_msg *m);
void relay_msg_drop(struct relay *r, struct relay_msg *m);
/* m's envelope with its recipient states, read from the spool unless a
 * holder already did; NULL when it cannot be read (logged, errno set).
 * Every successful get is paired with one put. */
struct spool_env *relay_msg_env_get(struct relay *r, struct relay_msg *m);
void relay_msg_env_put(struct relay_msg *m);
/* For the reports: the envelope, or *none showing that it is unreadable;
 * paired with relay_msg_env_unshow(). */
const struct spool_env *relay_msg_env_show(struct relay *r, struct relay_msg *m,
					   struct spool_env *none);
void relay_msg_env_unshow(struct relay_msg *m, const struct spool_env *env);
/* Set m's last error (interned: messages that failed alike share it). */
void relay_msg_set_error(struct relay *r, struct relay_msg *m, const char *err);
/* A recipient of m ended (sent or bounced): one fewer pending. */
void relay_msg_rcpt_done(struct relay_msg *m);
/* The sweep timer: expiry and delay warnings, every relay_sweep_ms(). */
void relay_sweep(void *arg);
uint64_t relay_sweep_ms(const struct relay *r);
time_t relay_backoff(const struct relay *r, unsigned attempts);
const char *relay_dest_state_name(const struct relay_dest *d);
/* relay_status.c, relay_text.c: one message of the queue listing (relay_list.c) */
void relay_json_msg(FILE *f, const struct relay_msg *m, const struct spool_env *env);
unsigned long long relay_queue_bytes(const struct relay *r);
void relay_text_queue_head(FILE *f);
void relay_text_queue_msg(struct relay *r, const struct relay_msg *m,
			  const struct spool_env *env, FILE *f);
void relay_history_add(struct relay *r, const char *qid, const char *rcpt, const char *status,
		       const char *relay, const char *reply, double delay);

/* relay_conn.c */
struct smtp_client *relay_client_start(struct relay_dest *d, size_t i,
				       const struct smtp_client_timeouts *to,
				       smtp_client_event_cb cb, void *arg);
void relay_mail_params(const struct spool_env *env, const struct smtp_caps *caps,
		       unsigned long long len, char *buf, size_t blen);
void relay_rcpt_params(const struct spool_rcpt *rc, const struct smtp_caps *caps, char *buf,
		       size_t blen);
int relay_client_src(const struct relay *r, int family, struct sockaddr_storage *ss,
		     socklen_t *len);
int relay_conn_open(struct relay_dest *d);
void relay_conn_close_all(struct relay_dest *d);
/* The oldest arrival among the jobs on d's connections, 0 if none. */
time_t relay_conn_oldest(const struct relay_dest *d);
void relay_probe_start(struct relay_dest *d);
void relay_probe_stop(struct relay_dest *d);

/* relay_status.c: queue totals of one destination */
struct relay_dstat {
	size_t msgs;
	unsigned long long bytes;
	time_t oldest;
	int shown;                        /* relay_metrics(): has per-domain series */
};
void relay_dest_totals(struct relay_dest *d, struct relay_dstat *st);
#define RELAY_SHOW_HEADERS_MAX 16384   /* octets of headers `queue show` reads */
void relay_msg_headers(struct relay *r, const char *qid, char *buf, size_t len);

/* relay_xforward.c: XFORWARD of message env's original client, if offered */
void relay_xforward_send(struct smtp_client *cl, const struct smtp_caps *caps,
			 const struct spool_env *env);
/* The original client of a live transaction.  name NULL: its lookup is
 * still running; "" or "unknown": it has none. */
struct relay_xfacts {
	const char *name, *addr, *helo, *proto;
	const char *ident;   /* our queue ID; must outlive the client session */
	int port;
};
/* XCLIENT if caps offer it, else XFORWARD if offered, else nothing. */
void relay_xclient_send(struct smtp_client *cl, const struct smtp_caps *caps,
			const struct relay_xfacts *f);
/* Whether env's client may be told with XCLIENT: known, not this host. */
int relay_xclient_facts_ok(const struct relay *r, const struct spool_env *env);
/* Whether caps offer XCLIENT with ADDR. */
int relay_xclient_offered(const struct smtp_caps *caps);
/* Queue XCLIENT with message env's client if offered; cb gets the reply (a
 * 220 once the new EHLO is answered).  0, or -1 when nothing was queued. */
int relay_xclient_deliver(struct smtp_client *cl, const struct smtp_caps *caps,
			  const struct spool_env *env, smtp_client_reply_cb cb, void *arg);
#define RELAY_XC_KEY_MAX 640   /* "addr\nname\nhelo" of a session's client (each < 256) */
/* Whose session a delivery connection is: the backup's (XC_SELF), the
 * client key's after its XCLIENT (XC_CLIENT), or unknown after a refused
 * XCLIENT (XC_SPENT: no further message). */
struct relay_xc_session {
	enum { XC_SELF = 0, XC_CLIENT, XC_SPENT } state;
	char key[RELAY_XC_KEY_MAX];
};
/* What a message needs from a delivery session (relay_xclient_want). */
enum relay_xc_want {
	XW_SAME,       /* the session is its client already: nothing to send */
	XW_XCLIENT,    /* XCLIENT makes it so */
	XW_XFORWARD,   /* the session is the backup's: XFORWARD informs */
	XW_NEW,        /* another connection */
};
enum relay_xc_want relay_xclient_want(const struct relay *r, const struct smtp_caps *caps,
				      const struct relay_xc_session *s,
				      const struct spool_env *env);
/* XCLIENT for env was answered 220: the session is its client's now. */
void relay_xclient_became(struct relay_xc_session *s, const struct spool_env *env);

/* relay_proxy.c */
void relay_proxy_targets_ready(struct relay_dest *d);
void relay_proxy_free_all(struct relay *r);
const char *relay_dest_mode(const struct relay_dest *d);

/* relay_ramp.c */
unsigned relay_ramp_limit(const struct relay_dest *d);
void relay_ramp_reset(struct relay_dest *d);
void relay_ramp_success(struct relay_dest *d);
void relay_ramp_overload(struct relay_dest *d, unsigned open, const char *why);

/* relay_target.c */
void relay_targets_resolve(struct relay_dest *d);
void relay_self_init(struct relay *r);
int relay_addr_is_target(const struct relay_dest *d, const struct sockaddr *sa);

/* relay_verify.c */
void relay_verify_init(struct relay *r);
void relay_verify_free(struct relay *r);
void relay_verify_targets_ready(struct relay_dest *d);
void relay_verify_learn(struct relay *r, const char *addr, int code);
void relay_verify_live(struct relay *r, const char *addr, int code);
int relay_verify_refused(struct relay *r, const char *addr);

/* relay_bounce.c: queue a DSN for recipients idx[0..n) of m: a failure
 * (bounce, delayed = 0) or a delay warning (delayed = 1).  replies[i] is
 * the diagnostic (may be NULL), remote the relay host (may be NULL), status
 * the RFC 3463 code for all of them (NULL: taken from each reply). */
void relay_dsn_queue(struct relay *r, struct relay_msg *m, const size_t *idx, size_t n,
		     const char *const *replies, const char *remote, const char *status,
		     int delayed);

#endif
