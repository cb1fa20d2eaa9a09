/*
 * relay_proxy.c - the live pass-through: while a destination's primary is
 * up (or not yet known to be down), a transaction for it goes to the
 * primary as it arrives, and the sender gets the primary's own verdict
 * (primary_up = proxy; docs/FILTERING.md).
 *
 * It implements the proxy hooks of the inbound server (smtp/server.h).  The
 * next hop is the delivery's (relay_target.c: MX order, self and worse MX
 * excluded, `route`), with the delivery's TLS policy and source address
 * (relay_client_start).  One smtp_client per transaction: XCLIENT (else
 * XFORWARD) with the original client, MAIL with the client's parameters,
 * each RCPT as it comes, then DATA streamed from the session's reader.
 *
 * Failure rules (docs/DESIGN.md, "Live pass-through"):
 *   - the primary cannot be reached or fails before any recipient was
 *     accepted: the next target is tried (up to RELAY_PROXY_HOPS_MAX), then
 *     the destination is marked down and the recipient is decided locally
 *     (store and forward: RELAY_PX_FALLBACK);
 *   - it fails once a recipient was accepted: SMTP_PROXY_LOST (451 4.4.2),
 *     nothing is kept (RELAY_PX_FAILED);
 *   - held, down and looping destinations, and primary_up = queue, are
 *     never proxied; a second destination in one transaction gets 452 4.5.3;
 *     nconn + nproxy reaching max_concurrency gives 451 4.7.1.
 * Every deadline is below the sender's (RFC 5321 4.5.3.2), so the sender
 * always hears from us first.
 *
 * Ownership: the relay owns every transaction (r->proxies).  The session
 * holds one from PENDING until it calls relay_hook_proxy_free(); after that
 * t->s is NULL and nothing calls the session.  A finished transaction stays
 * until its QUIT is answered; an aborted one is freed at once.  Each call
 * into the session (smtp_session_proxy_reply) is the last use of t in that
 * frame, since the session may free it from inside.
 */
#include "relay/relay_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "smtp/client.h"

/* gcc -fanalyzer loses track of the accepted recipients' copies, which
 * t->acc owns until px_free() frees them with t. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif

#define RELAY_PROXY_HOPS_MAX   2        /* targets tried before falling back */
#define RELAY_PROXY_DNS_WAIT   5000     /* ms a RCPT waits for the next hops' lookup */
#define RELAY_PROXY_T_CMD      120000   /* MAIL, RCPT, XCLIENT (the sender waits 5 min) */
#define RELAY_PROXY_T_DATA     90000    /* DATA's 354 (the sender waits 2 min) */
#define RELAY_PROXY_T_BLOCK    150000   /* body progress (the sender's block: 3 min) */
#define RELAY_PROXY_T_FINAL    570000   /* the final reply (the sender waits 10 min) */
#define RELAY_PROXY_WHO_MAX    (DNS_NAME_MAX + 96)

const char *const relay_px_result_names[RELAY_PX_RESULTS] = {
	"sent", "rejected", "deferred", "failed", "fallback",
};

enum px_state {
	PX_HOPS = 0,   /* waiting for the next hops */
	PX_CONNECT,    /* session to the primary starting */
	PX_OPEN,       /* session accepted: MAIL/RCPT */
	PX_DATA,       /* DATA sent, waiting for 354 */
	PX_BODY,       /* streaming the body */
	PX_END,        /* final dot sent */
	PX_DONE,       /* final reply in; QUIT */
};

struct smtp_proxy_txn {
	struct smtp_proxy_txn *next, *prev;
	struct relay *r;
	struct relay_dest *d;
	struct smtp_session *s;          /* NULL once the session let go */
	struct smtp_client *cl;
	struct io_timer *kick;           /* starts the transaction from the loop */
	enum px_state st;
	int resolving;                   /* the next hops' lookup was started */
	size_t hop;
	int mail_sent;
	unsigned naccepted, nrefused;
	int counted;                     /* the result is in the metrics */
	int last_code;                   /* the last refusal's code */
	char mail_refusal[SMTP_RELAYED_MAX + 1];
	char who[RELAY_PROXY_WHO_MAX];   /* "primary host[ip]:port" */
	char relay[RELAY_PROXY_WHO_MAX]; /* "host[ip]:port" */
	double t0;
	/* copied from the session at the first RCPT */
	char qid[SPOOL_QID_LEN + 1];
	struct spool_env env;            /* sender and MAIL facts (no recipients) */
	unsigned long long size;
	char name[DNS_NAME_MAX], addr[64], helo[256], proto[8];
	int name_pending, port;
	/* the RCPT in flight, and the accepted ones (for logs and history) */
	char rcpt[SMTP_PATH_MAX + 8];
	unsigned first_notify;           /* the first RCPT's parameters (sent after MAIL) */
	char first_orcpt[SMTP_ORCPT_MAX + 1];
	char **acc;
	size_t nacc;
};

/* primary_up as it applies to a destination now: held, down and looping
 * destinations always queue. */
static enum config_primary_up relay_dest_primary_up(const struct relay_dest *d)
{
	if (d->held || d->state == DEST_DOWN || d->state == DEST_LOOP)
		return CONFIG_PUP_QUEUE;
	return d->r->cfg->primary_up;
}

/* What mode a destination is in now, by name (status). */
const char *relay_dest_mode(const struct relay_dest *d)
{
	return d->held ? "held" : config_primary_up_name(relay_dest_primary_up(d));
}

/* Count a finished transaction. */
static void px_count(struct smtp_proxy_txn *t, enum relay_px_result res)
{
	if (!t->counted)
		t->r->stats.proxy[res]++;
	t->counted = 1;
}

/* Remove t from the relay and free it (its client too). */
static void px_free(struct smtp_proxy_txn *t)
{
	struct relay *r = t->r;
	if (t->prev)
		t->prev->next = t->next;
	else
		r->proxies = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->d->nproxy--;
	if (!t->counted && t->nrefused && !t->naccepted)
		px_count(t, t->last_code / 100 == 4 ? RELAY_PX_DEFERRED : RELAY_PX_REJECTED);
	io_timer_free(t->kick);
	smtp_client_free(t->cl);
	spool_env_clear(&t->env);
	for (size_t i = 0; i < t->nacc; i++)
		free(t->acc[i]);
	free(t->acc);
	free(t);
}

/* Log one recipient's outcome and add it to the history. */
static void px_log(struct smtp_proxy_txn *t, const char *rcpt, const struct smtp_reply *rp,
		   const char *line)
{
	const char *status = rp->code / 100 == 2 ? "sent" : rp->code / 100 == 4 ? "deferred"
										: "rejected";
	char dsn[16];
	snprintf(dsn, sizeof(dsn), "%s", rp->enh[0] ? rp->enh : rp->code / 100 == 2 ? "2.0.0" :
		 rp->code / 100 == 4 ? "4.0.0" : "5.0.0");
	log_info("proxy: %s: to=<%s>, relay=%s, dsn=%s, status=%s (%s)", t->qid, rcpt, t->relay,
		 dsn, status, line);
	relay_history_add(t->r, t->qid, rcpt, status, t->relay, line,
			  (io_now_ms() - t->t0) / 1000.0);
}

/* Answer the session (the last use of t in the calling frame). */
static void px_answer(struct smtp_proxy_txn *t, const char *reply, int txn_over)
{
	struct smtp_session *s = t->s;
	if (s)
		smtp_session_proxy_reply(s, reply, txn_over);
}

/* The primary failed: fall back, or lose the transaction (451 4.4.2). */
static void px_failed(struct smtp_proxy_txn *t, const char *err, int down)
{
	if (down)
		relay_dest_down(t->d, err);
	if (!t->s) {
		px_free(t);
		return;
	}
	if (t->naccepted == 0 && t->st <= PX_OPEN) {
		log_info("proxy: %s: %s unusable (%s): storing this transaction instead", t->qid,
			 t->relay[0] ? t->relay : t->d->domain, err);
		px_count(t, RELAY_PX_FALLBACK);
		px_answer(t, NULL, 1);   /* the session decides locally and frees t */
		return;
	}
	struct smtp_reply lost = {.code = 451, .enh = "4.4.2"};
	char line[SMTP_RELAYED_MAX + 1];
	snprintf(line, sizeof(line), "451 4.4.2 the primary failed after accepting the "
		 "recipients (%s): nothing kept, the sender retries", err);
	for (size_t i = 0; i < t->nacc; i++)
		px_log(t, t->acc[i], &lost, line);
	px_count(t, RELAY_PX_FAILED);
	px_answer(t, "451 4.4.2 Error: the primary failed during the transaction; nothing was "
		  "kept, try again", 1);
}

static void px_event(struct smtp_client *cl, enum smtp_client_event ev, void *arg);

/* Start the session to the current hop. */
static void px_connect(struct smtp_proxy_txn *t)
{
	struct relay_dest *d = t->d;
	struct smtp_client_timeouts to = {
		.mail = RELAY_PROXY_T_CMD, .rcpt = RELAY_PROXY_T_CMD, .misc = RELAY_PROXY_T_CMD,
		.data_init = RELAY_PROXY_T_DATA, .data_block = RELAY_PROXY_T_BLOCK,
		.data_term = RELAY_PROXY_T_FINAL,
	};
	const struct relay_target *g = &d->targets[t->hop];
	char ip[64];
	snprintf(t->relay, sizeof(t->relay), "%s[%s]:%d", g->host,
		 io_addr_str((const struct sockaddr *)&g->sa, ip, sizeof(ip)),
		 io_addr_port((const struct sockaddr *)&g->sa));
	snprintf(t->who, sizeof(t->who), "primary %s", t->relay);
	t->st = PX_CONNECT;
	t->cl = relay_client_start(d, t->hop, &to, px_event, t);
	if (!t->cl)
		px_failed(t, "cannot start an SMTP client", 0);
}

/* Next hops of a destination are known: start the waiting transactions. */
void relay_proxy_targets_ready(struct relay_dest *d)
{
	for (struct smtp_proxy_txn *t = d->r->proxies, *nx; t; t = nx) {
		nx = t->next;
		if (t->d != d || t->st != PX_HOPS)
			continue;
		if (d->held || d->state == DEST_DOWN || d->state == DEST_LOOP || d->ntargets == 0)
			px_failed(t, d->last_error[0] ? d->last_error : "no next hop", 0);
		else
			px_connect(t);
	}
}

/* The primary answered MAIL. */
static void px_mail_cb(struct smtp_client *cl, const struct smtp_reply *rp, void *arg)
{
	struct smtp_proxy_txn *t = arg;
	if (rp && rp->code / 100 != 2)
		smtp_reply_relayed(rp, t->who, t->mail_refusal, sizeof(t->mail_refusal));
}

/* The primary answered a RCPT. */
static void px_rcpt_cb(struct smtp_client *cl, const struct smtp_reply *rp, void *arg)
{
	struct smtp_proxy_txn *t = arg;
	char line[SMTP_RELAYED_MAX + 1];
	if (!rp)
		return;   /* the session failed: px_event() handles it */
	if (t->mail_refusal[0]) {
		struct smtp_reply mr = *rp;
		log_info("proxy: %s: to=<%s>, relay=%s, status=rejected (MAIL: %s)", t->qid,
			 t->rcpt, t->relay, t->mail_refusal);
		mr.code = atoi(t->mail_refusal);
		px_count(t, mr.code / 100 == 4 ? RELAY_PX_DEFERRED : RELAY_PX_REJECTED);
		snprintf(line, sizeof(line), "%s", t->mail_refusal);
		px_answer(t, line, 1);
		return;
	}
	smtp_reply_relayed(rp, t->who, line, sizeof(line));
	relay_verify_live(t->r, t->rcpt, rp->code);
	if (rp->code / 100 == 2) {
		char **acc = realloc(t->acc, (t->nacc + 1) * sizeof(*acc));
		if (acc) {
			t->acc = acc;
			if ((acc[t->nacc] = strdup(t->rcpt)))
				t->nacc++;
		}
		t->naccepted++;
	} else {
		t->nrefused++;
		t->last_code = rp->code;
		px_log(t, t->rcpt, rp, line);
	}
	px_answer(t, line, 0);
}

/* Queue a RCPT for the session's current recipient; 0 or -1. */
static int px_send_rcpt(struct smtp_proxy_txn *t, unsigned notify, const char *orcpt)
{
	char params[SMTP_ORCPT_MAX + 64];
	struct spool_rcpt rc = {.notify = notify, .orcpt = (char *)orcpt};
	relay_rcpt_params(&rc, &smtp_client_info(t->cl)->caps, params, sizeof(params));
	return smtp_client_rcpt(t->cl, t->rcpt, params[0] ? params : NULL, px_rcpt_cb, t);
}

/* The session with the primary is up: tell it the client, MAIL, RCPT. */
static void px_ready(struct smtp_proxy_txn *t)
{
	const struct smtp_caps *caps = &smtp_client_info(t->cl)->caps;
	struct relay_xfacts f = {
		.name = t->name_pending ? NULL : t->name, .addr = t->addr, .helo = t->helo,
		.proto = t->proto, .ident = t->qid, .port = t->port,
	};
	char params[256 + SMTP_ENVID_MAX];
	t->st = PX_OPEN;
	if (t->d->state != DEST_UP)
		relay_dest_up(t->d);
	if (t->env.smtputf8 && !(caps->flags & SMTP_CAP_SMTPUTF8)) {
		/* RFC 6531 3.4: never downgrade; refuse now rather than bounce later */
		char line[SMTP_RELAYED_MAX + 1];
		snprintf(line, sizeof(line), "553 5.6.7 <%s>: %s does not support SMTPUTF8, which "
			 "this message needs", t->rcpt, t->who);
		log_info("proxy: %s: to=<%s>, relay=%s, dsn=5.6.7, status=rejected (no SMTPUTF8)",
			 t->qid, t->rcpt, t->relay);
		px_count(t, RELAY_PX_REJECTED);
		smtp_client_quit(t->cl, NULL, NULL);
		t->st = PX_DONE;
		px_answer(t, line, 1);
		return;
	}
	relay_xclient_send(t->cl, caps, &f);
	/* the parameters follow the capabilities after XCLIENT's EHLO, which are
	 * those of this EHLO for every primary we know */
	relay_mail_params(&t->env, caps, t->size, params, sizeof(params));
	if (smtp_client_mail(t->cl, t->env.sender, params[0] ? params : NULL, px_mail_cb, t) < 0) {
		px_failed(t, "cannot send MAIL", 0);
		return;
	}
	t->mail_sent = 1;
	if (px_send_rcpt(t, t->first_notify, t->first_orcpt[0] ? t->first_orcpt : NULL) < 0)
		px_failed(t, "cannot send RCPT", 0);
}

/* The final reply (or the refusal of DATA). */
static void px_data_cb(struct smtp_client *cl, const struct smtp_reply *rp, void *arg)
{
	struct smtp_proxy_txn *t = arg;
	char line[SMTP_RELAYED_MAX + 1], out[SMTP_RELAYED_MAX + 1];
	if (!rp)
		return;   /* px_event() */
	smtp_reply_relayed(rp, t->who, line, sizeof(line));
	for (size_t i = 0; i < t->nacc; i++)
		px_log(t, t->acc[i], rp, line);
	px_count(t, rp->code / 100 == 2 ? RELAY_PX_SENT : rp->code / 100 == 4 ? RELAY_PX_DEFERRED
									     : RELAY_PX_REJECTED);
	if (rp->code / 100 == 2) {
		/* "250 2.0.0 Ok: relayed as QID; primary HOST said: TEXT" */
		const char *said = strstr(line, t->who);
		t->d->sent++;
		snprintf(out, sizeof(out), "250 2.0.0 Ok: relayed as %s; %s", t->qid,
			 said ? said : line);
	} else {
		snprintf(out, sizeof(out), "%s", line);
	}
	t->st = PX_DONE;
	smtp_client_quit(t->cl, NULL, NULL);
	px_answer(t, out, 1);
}

/* The body may take more: the 354 (first time), or room again. */
static void px_more_cb(struct smtp_client *cl, void *arg)
{
	struct smtp_proxy_txn *t = arg;
	if (t->st == PX_DATA) {
		t->st = PX_BODY;
		px_answer(t, "354", 0);
		return;
	}
	if (t->s)
		smtp_session_proxy_resume(t->s);
}

/* Kick timer: resolve the next hops or connect, from the loop. */
static void px_kick_cb(void *arg)
{
	struct smtp_proxy_txn *t = arg;
	struct relay_dest *d = t->d;
	if (t->st != PX_HOPS)
		return;
	if (t->resolving) {
		/* a slow or broken DNS must not hold the sender: store instead */
		px_failed(t, "the next hops' DNS lookup is too slow", 0);
		return;
	}
	if (d->ntargets > 0 && time(NULL) < d->targets_expire) {
		px_connect(t);
		return;
	}
	t->resolving = 1;
	io_timer_add(t->kick, RELAY_PROXY_DNS_WAIT);
	relay_targets_resolve(d);   /* relay_proxy_targets_ready() follows */
}

/* Session events of the connection to the primary. */
static void px_event(struct smtp_client *cl, enum smtp_client_event ev, void *arg)
{
	struct smtp_proxy_txn *t = arg;
	const struct smtp_client_info *in = smtp_client_info(cl);
	if (ev == SMTP_CLIENT_EV_READY) {
		px_ready(t);
		return;
	}
	if (ev == SMTP_CLIENT_EV_DONE || t->st == PX_DONE || !t->s) {
		px_free(t);
		return;
	}
	int unreachable = t->st == PX_CONNECT;
	if (unreachable && t->hop + 1 < t->d->ntargets && t->hop + 1 < RELAY_PROXY_HOPS_MAX) {
		log_info("proxy: %s: %s: %s; trying the next host", t->qid, t->relay, in->errtext);
		smtp_client_free(t->cl);
		t->hop++;
		px_connect(t);
		return;
	}
	int down = unreachable || in->err == SMTP_CLIENT_E_CLOSED ||
		   in->err == SMTP_CLIENT_E_TIMEOUT || in->err == SMTP_CLIENT_E_REFUSED ||
		   in->err == SMTP_CLIENT_E_CONNECT;
	char err[RELAY_ERR_MAX];
	snprintf(err, sizeof(err), "%s: %s", t->relay, in->errtext);
	t->cl = NULL;   /* px_free() must not free the client inside its callback twice */
	smtp_client_free(cl);
	px_failed(t, err, down);
}

/* The server's proxy hook: decide a recipient. */
enum smtp_route relay_hook_proxy_rcpt(const struct smtp_proxy_rcpt *q,
				      struct smtp_proxy_txn **txn, void *rp)
{
	struct relay *r = rp;
	struct relay_dest *d = relay_dest_get(r, q->domain);
	struct smtp_proxy_txn *t = *txn;
	if (!d)
		return t ? SMTP_ROUTE_SPLIT : SMTP_ROUTE_LOCAL;
	if (t) {
		if (t->d != d)
			return SMTP_ROUTE_SPLIT;
		snprintf(t->rcpt, sizeof(t->rcpt), "%s", q->addr);
		if (t->st != PX_OPEN || !t->cl || px_send_rcpt(t, q->notify, q->orcpt) < 0)
			return SMTP_ROUTE_BUSY;   /* the failure itself arrives from the loop */
		return SMTP_ROUTE_PENDING;
	}
	enum config_primary_up mode = relay_dest_primary_up(d);
	if (mode == CONFIG_PUP_QUEUE)
		return SMTP_ROUTE_LOCAL;
	if (q->local)
		return mode == CONFIG_PUP_DEFER ? SMTP_ROUTE_DEFER : SMTP_ROUTE_SPLIT;
	if (relay_verify_refused(r, q->addr))
		return SMTP_ROUTE_LOCAL;   /* the cache refuses it at once */
	if (mode == CONFIG_PUP_DEFER) {
		if (d->state == DEST_UNKNOWN)
			relay_probe_start(d);   /* learn the state: a down primary gets mail */
		return SMTP_ROUTE_DEFER;
	}
	if (d->nconn + d->nproxy >= r->cfg->max_concurrency)
		return SMTP_ROUTE_BUSY;
	if (!(t = calloc(1, sizeof(*t))))
		return SMTP_ROUTE_LOCAL;
	t->r = r;
	t->d = d;
	t->s = q->session;
	t->t0 = io_now_ms();
	snprintf(t->qid, sizeof(t->qid), "%s", q->env->qid);
	snprintf(t->rcpt, sizeof(t->rcpt), "%s", q->addr);
	t->env.sender = strdup(q->env->sender ? q->env->sender : "");
	t->env.envid = q->env->envid ? strdup(q->env->envid) : NULL;
	t->env.ret = q->env->ret;
	t->env.body_8bit = q->env->body_8bit;
	t->env.smtputf8 = q->env->smtputf8;
	t->size = q->declared_size;
	t->name_pending = !q->client_name;
	snprintf(t->name, sizeof(t->name), "%s", q->client_name ? q->client_name : "");
	snprintf(t->addr, sizeof(t->addr), "%s", q->env->client_addr ? q->env->client_addr : "");
	snprintf(t->helo, sizeof(t->helo), "%s", q->env->helo ? q->env->helo : "");
	snprintf(t->proto, sizeof(t->proto), "%s", q->proto);
	t->port = q->client_port;
	t->first_notify = q->notify;
	snprintf(t->first_orcpt, sizeof(t->first_orcpt), "%s", q->orcpt ? q->orcpt : "");
	if (!t->env.sender || (q->env->envid && !t->env.envid) ||
	    !(t->kick = io_timer_new(r->loop, px_kick_cb, t))) {
		spool_env_clear(&t->env);
		free(t);
		return SMTP_ROUTE_LOCAL;
	}
	t->next = r->proxies;
	if (t->next)
		t->next->prev = t;
	r->proxies = t;
	d->nproxy++;
	t->st = PX_HOPS;
	io_timer_add(t->kick, 0);
	*txn = t;
	return SMTP_ROUTE_PENDING;
}

/* DATA of a relayed transaction; -1 when the primary is gone. */
int relay_hook_proxy_data(struct smtp_proxy_txn *t)
{
	if (t->st != PX_OPEN || !t->cl ||
	    smtp_client_data_stream(t->cl, px_data_cb, px_more_cb, t) < 0)
		return -1;
	t->st = PX_DATA;
	return 0;
}

/* Body bytes: 0, 1 (no room: wait for smtp_session_proxy_resume), -1. */
int relay_hook_proxy_body(struct smtp_proxy_txn *t, const void *p, size_t n)
{
	if (t->st != PX_BODY || smtp_client_body_write(t->cl, p, n) < 0)
		return -1;
	return smtp_client_body_room(t->cl) ? 0 : 1;
}

/* The body is complete: the final dot. */
int relay_hook_proxy_end(struct smtp_proxy_txn *t)
{
	if (t->st != PX_BODY || smtp_client_body_end(t->cl) < 0)
		return -1;
	t->st = PX_END;
	return 0;
}

/* The session lets go of a transaction. */
void relay_hook_proxy_free(struct smtp_proxy_txn *t)
{
	t->s = NULL;
	if (t->cl && (t->st == PX_OPEN || t->st == PX_END || t->st == PX_DONE)) {
		/* a clean end: QUIT after what is in flight; px_event() frees */
		if (t->st == PX_OPEN)
			smtp_client_quit(t->cl, NULL, NULL);
		return;
	}
	px_free(t);   /* before the session, or inside DATA: close without the dot */
}

/* Free every transaction (the relay is going away; sessions are gone). */
void relay_proxy_free_all(struct relay *r)
{
	while (r->proxies)
		px_free(r->proxies);
}
