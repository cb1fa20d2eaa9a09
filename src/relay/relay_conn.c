/*
 * relay_conn.c - delivery connections and probes.
 *
 * A connection walks the destination's targets in order until one greets
 * us; if none does, the destination is down.  Once ready it takes jobs from
 * the destination's ready list, one SMTP transaction per job (all of the
 * message's recipients for that destination), pipelined when offered, and
 * keeps going until no job is left (several messages per connection).
 * Per-recipient replies are applied one by one: 2xx sent, 5xx bounced (DSN),
 * 4xx deferred with backoff.  Deliveries and failed connections feed the
 * concurrency ramp (relay_ramp.c).  Which recipients are done is made durable in
 * the spool before the message is attempted again (at-least-once).
 *
 * The original client of each message is told to the primary before MAIL
 * (relay_xforward.c): XCLIENT when offered, so its restrictions and milters
 * judge that client, else XFORWARD (its logs only).  XCLIENT makes the
 * session that client's for good (Postfix: no second XCLIENT), so a
 * connection goes on only with jobs relay_xclient_want() allows; else it
 * ends (QUIT) and the destination's kick opens a fresh one for the job.
 * XCLIENT refused (5xx): that message goes with XFORWARD, then the connection
 * ends; a 4xx defers it.
 *
 * A probe is connect, EHLO, QUIT; its success brings the destination up.
 */
#include "relay/relay_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

struct relay_conn {
	struct relay_conn *next;
	struct relay_dest *dest;
	struct smtp_client *cl;
	size_t target;
	int ready;
	struct relay_job *job;
	int body_fd;
	time_t job_start;
	int mail_code;
	char mail_text[SMTP_REPLY_TEXT_MAX];
	size_t nrcpt_replies;
	int *rcpt_code;
	char **rcpt_text;
	char relay_desc[DNS_NAME_MAX + 80];
	off_t body_off;              /* the current job's body in body_fd */
	size_t body_len;
	struct relay_xc_session xc;  /* whose session it is (XCLIENT) */
};

static void relay_conn_event(struct smtp_client *cl, enum smtp_client_event ev, void *arg);

/* The TLS mode for a destination. */
static enum smtp_client_tls relay_tls_mode(const struct relay_dest *d)
{
	const struct config_domain_rule *rule = config_domain_rule(d->r->cfg, d->domain);
	enum config_tls_policy p = rule && rule->has_tls_policy ? rule->tls_policy
							       : d->r->cfg->tls_policy;
	if (!d->r->client_tls)
		return SMTP_CLIENT_TLS_NONE;
	switch (p) {
	case CONFIG_TLS_ENCRYPT: return SMTP_CLIENT_TLS_ENCRYPT;
	case CONFIG_TLS_VERIFY: return SMTP_CLIENT_TLS_VERIFY;
	default: return SMTP_CLIENT_TLS_MAY;
	}
}

/* The source address for a connection to family (bind_address or
 * bind_address6, port 0) into ss; 0, or -1 when the kernel chooses. */
int relay_client_src(const struct relay *r, int family, struct sockaddr_storage *ss,
		     socklen_t *len)
{
	const char *a = family == AF_INET6 ? r->cfg->bind_address6 : r->cfg->bind_address;
	return a && io_parse_addrport(a, 0, ss, len) == 0 ? 0 : -1;
}

/* Start an SMTP client to target i of d; to: the transaction's deadlines
 * (NULL: RFC 5321's). */
struct smtp_client *relay_client_start(struct relay_dest *d, size_t i,
				       const struct smtp_client_timeouts *to,
				       smtp_client_event_cb cb, void *arg)
{
	const struct relay_target *t = &d->targets[i];
	struct smtp_client_opts o = {0};
	struct sockaddr_storage src;
	socklen_t srclen;
	if (relay_client_src(d->r, t->sa.ss_family, &src, &srclen) == 0) {
		o.src = (const struct sockaddr *)&src;
		o.srclen = srclen;
	}
	o.helo_name = d->r->cfg->hostname;
	o.tls_mode = relay_tls_mode(d);
	o.tls = d->r->client_tls;
	o.tls_host = t->host;
	if (to)
		o.timeouts = *to;
	else
		smtp_client_timeouts_rfc(&o.timeouts);
	/* a primary that accepts TCP but never greets must not hold a connection
	 * (or a probe) for RFC 5321's 5 minutes: the greeting and EHLO get the
	 * connect timeout too; the transaction keeps the RFC values */
	o.timeouts.connect = (uint64_t)d->r->cfg->connect_timeout * 1000;
	o.timeouts.banner = o.timeouts.connect;
	o.timeouts.helo = o.timeouts.connect;
	return smtp_client_new(d->r->loop, (const struct sockaddr *)&t->sa, t->salen, &o, cb, arg);
}

/* "host[ip]:port" of the target a connection uses. */
static void relay_conn_desc(struct relay_conn *c)
{
	const struct relay_target *t = &c->dest->targets[c->target];
	char ip[64];
	snprintf(c->relay_desc, sizeof(c->relay_desc), "%s[%s]:%d", t->host,
		 io_addr_str((const struct sockaddr *)&t->sa, ip, sizeof(ip)),
		 io_addr_port((const struct sockaddr *)&t->sa));
}

/* Remember the primary's EHLO facts for status. */
static void relay_learn(struct relay_dest *d, const struct smtp_client_info *in)
{
	d->have_facts = 1;
	d->caps = in->caps;
	snprintf(d->banner, sizeof(d->banner), "%d %s", in->banner.code, in->banner.text);
	for (char *p = d->banner; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (in->tls.active)
		snprintf(d->tls, sizeof(d->tls), "%s %s", in->tls.version, in->tls.cipher);
	else
		d->tls[0] = 0;
}

/* Free the per-job reply arrays. */
static void relay_conn_job_clear(struct relay_conn *c)
{
	if (c->rcpt_text) {
		for (size_t i = 0; c->job && i < c->job->n; i++)
			free(c->rcpt_text[i]);
	}
	free(c->rcpt_text);
	free(c->rcpt_code);
	c->rcpt_text = NULL;
	c->rcpt_code = NULL;
	if (c->body_fd >= 0)
		close(c->body_fd);
	c->body_fd = -1;
	c->mail_code = 0;
	c->nrcpt_replies = 0;
}

/* Put the current job back after a failure; count it for the message. */
static void relay_conn_job_fail(struct relay_conn *c, const char *err, int message_level)
{
	struct relay_job *j = c->job;
	struct relay_dest *d = c->dest;
	if (!j)
		return;
	struct relay_msg *m = j->msg;
	relay_conn_job_clear(c);
	c->job = NULL;
	d->nidle++;
	m->nactive--;
	relay_msg_env_put(m);
	relay_msg_set_error(d->r, m, err);
	m->last_try = time(NULL);
	time_t nb = 0;
	if (message_level && ++m->attempts >= 2)
		nb = time(NULL) + relay_backoff(d->r, m->attempts - 1);
	m->next_try = nb;
	d->r->stats.deferred += j->n;
	if (m->deleted) {
		relay_job_free(j);
		relay_msg_remove_if_done(d->r, m);
		return;
	}
	relay_job_requeue(j, nb);
}

/* Unlink and free a connection. */
static void relay_conn_free(struct relay_conn *c)
{
	struct relay_dest *d = c->dest;
	for (struct relay_conn **pp = &d->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	d->nconn--;
	if (!c->job)
		d->nidle--;
	smtp_client_free(c->cl);
	free(c);
}

/* The oldest arrival among the jobs on d's connections, 0 if none. */
time_t relay_conn_oldest(const struct relay_dest *d)
{
	time_t oldest = 0;
	for (const struct relay_conn *c = d->conns; c; c = c->next)
		if (c->job && (!oldest || c->job->msg->arrival < oldest))
			oldest = c->job->msg->arrival;
	return oldest;
}

/* Log one recipient outcome the way Postfix does. */
static void relay_log_rcpt(struct relay_conn *c, size_t k, const char *status, int code,
			   const char *text)
{
	struct relay_msg *m = c->job->msg;
	char enh[16] = "";
	if (text && strlen(text) > 6 && text[1] == '.')
		snprintf(enh, sizeof(enh), "%.*s", (int)strcspn(text, " "), text);
	relay_history_add(c->dest->r, m->qid, m->env->rcpt[relay_job_rcpts(c->job)[k]].addr, status,
			  c->relay_desc, text, (double)(time(NULL) - m->arrival));
	log_info("%s: to=<%s>, relay=%s, delay=%ld, tries=%u, dsn=%s, status=%s (%d %s)",
		 m->qid, m->env->rcpt[relay_job_rcpts(c->job)[k]].addr, c->relay_desc,
		 (long)(time(NULL) - m->arrival), m->attempts + 1,
		 enh[0] ? enh : (code / 100 == 2 ? "2.0.0" : code / 100 == 4 ? "4.0.0" : "5.0.0"),
		 status, code, text ? text : "");
}

/* One bounced recipient's reply, "CODE text". */
typedef char relay_reply_text[SMTP_REPLY_TEXT_MAX + 16];

/* The outcome of one transaction, recipient by recipient. */
struct relay_outcome {
	size_t *done;          /* recipient indexes that ended (sent or bounced) */
	size_t *bounced;       /* those that bounced, with their replies: */
	relay_reply_text *btext;   /* allocated at the first bounce only */
	const char **breply;   /* btext[i] as the DSN builder takes them (NULL: no memory) */
	size_t n, ndone, nbounced, ndeferred, nsent;
};

/* Allocate the arrays for n recipients; 0 or -1. */
static int relay_outcome_init(struct relay_outcome *o, size_t n)
{
	memset(o, 0, sizeof(*o));
	o->done = calloc(n, sizeof(size_t));
	o->bounced = calloc(n, sizeof(size_t));
	o->breply = calloc(n, sizeof(*o->breply));
	o->n = n;
	return o->done && o->bounced && o->breply ? 0 : -1;
}

/* Free the outcome's arrays. */
static void relay_outcome_clear(struct relay_outcome *o)
{
	free(o->breply);
	free(o->btext);
	free(o->bounced);
	free(o->done);
}

/* The reply that decided recipient k's fate (MAIL, its RCPT, or DATA). */
static int relay_conn_rcpt_reply(const struct relay_conn *c, size_t k,
				 const struct smtp_reply *data, char *buf, size_t len)
{
	int code;
	if (c->mail_code / 100 != 2) {
		code = c->mail_code;
		snprintf(buf, len, "%s", c->mail_text);
	} else if (c->rcpt_code[k] / 100 != 2) {
		code = c->rcpt_code[k];
		snprintf(buf, len, "%s", c->rcpt_text[k] ? c->rcpt_text[k] : "");
	} else {
		code = data ? data->code : 451;
		snprintf(buf, len, "%s", data ? data->text : "no reply to DATA");
	}
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return code;
}

/* Apply each recipient's reply: 2xx sent, 5xx bounced, 4xx kept in the job. */
static void relay_conn_apply(struct relay_conn *c, const struct smtp_reply *data,
			     struct relay_outcome *o)
{
	struct relay_job *j = c->job;
	struct relay_dest *d = c->dest;
	struct relay *r = d->r;
	struct relay_msg *m = j->msg;
	size_t n = j->n;

	for (size_t k = 0; k < n; k++) {
		char buf[SMTP_REPLY_TEXT_MAX + 8], full[SMTP_REPLY_TEXT_MAX + 16];
		int code = relay_conn_rcpt_reply(c, k, data, buf, sizeof(buf));
		size_t i = relay_job_rcpts(j)[k];
		struct spool_rcpt *rc = &m->env->rcpt[i];
		snprintf(full, sizeof(full), "%d %s", code, buf);
		if (code / 100 == 2) {
			relay_log_rcpt(c, k, "sent", code, buf);
			rc->state = SPOOL_R_SENT;
			relay_msg_rcpt_done(m);
			o->done[o->ndone++] = i;
			o->nsent++;
			r->stats.sent++;
			d->sent++;
		} else if (code / 100 == 5) {
			relay_log_rcpt(c, k, "bounced", code, buf);
			relay_verify_learn(r, rc->addr, code);
			rc->state = SPOOL_R_BOUNCED;
			relay_msg_rcpt_done(m);
			o->done[o->ndone++] = i;
			if (!o->btext)   /* not on every delivery: replies are 4 KiB each */
				o->btext = malloc(o->n * sizeof(*o->btext));
			if (o->btext) {
				memcpy(o->btext[o->nbounced], full, sizeof(full));
				o->breply[o->nbounced] = o->btext[o->nbounced];
			}
			o->bounced[o->nbounced++] = i;
			r->stats.bounced++;
		} else {
			relay_log_rcpt(c, k, "deferred", code, buf);
			relay_job_rcpts(j)[o->ndeferred++] = i;   /* keep it in the job */
			char err[RELAY_ERR_MAX];
			snprintf(err, sizeof(err), "%s said: %s", c->relay_desc, full);
			relay_msg_set_error(r, m, err);
			r->stats.deferred++;
		}
	}
}

/* Make the ended recipients durable before any further attempt (a message
 * with nothing left is simply removed instead). */
static void relay_conn_record(struct relay *r, struct relay_msg *m, const struct relay_outcome *o)
{
	if (!o->ndeferred && m->njobs <= 1)
		return;
	for (size_t k = 0; k < o->ndone; k++)
		if (spool_set_rcpt_state(r->spool, m->qid, o->done[k],
					 m->env->rcpt[o->done[k]].state, NULL) < 0)
			m->unrecorded = 1;   /* retried by the sweep: relay_msg_record() */
}

/* The connection is idle again: requeue the deferred rest of the job with
 * backoff, or end the job (and the message, if that was all). */
static void relay_conn_job_settle(struct relay_conn *c, size_t ndeferred)
{
	struct relay_job *j = c->job;
	struct relay_dest *d = c->dest;
	struct relay *r = d->r;
	struct relay_msg *m = j->msg;

	relay_conn_job_clear(c);
	c->job = NULL;
	d->nidle++;
	m->nactive--;
	relay_msg_env_put(m);
	m->last_try = time(NULL);
	if (ndeferred && !m->deleted) {
		j->n = ndeferred;
		m->attempts++;
		m->next_try = time(NULL) + relay_backoff(r, m->attempts);
		relay_job_requeue(j, m->next_try);
		return;
	}
	if (ndeferred) {
		m->attempts++;
		m->next_try = time(NULL) + relay_backoff(r, m->attempts);
	}
	relay_job_free(j);
	relay_msg_remove_if_done(r, m);
}

/* The transaction of the current job is over: apply each recipient's fate,
 * queue the bounces, record what ended, settle the job, feed the ramp. */
static void relay_conn_job_done(struct relay_conn *c, const struct smtp_reply *data)
{
	struct relay_dest *d = c->dest;
	struct relay *r = d->r;
	struct relay_msg *m = c->job->msg;
	struct relay_outcome o;

	if (relay_outcome_init(&o, c->job->n) < 0) {
		relay_outcome_clear(&o);
		relay_conn_job_fail(c, "out of memory", 0);
		return;
	}
	relay_conn_apply(c, data, &o);
	if (o.nbounced)
		relay_dsn_queue(r, m, o.bounced, o.nbounced, o.breply,
				d->targets[c->target].host, NULL, 0);
	relay_conn_record(r, m, &o);
	relay_conn_job_settle(c, o.ndeferred);
	if (o.nbounced || o.ndeferred)
		smtp_client_rset(c->cl, NULL, NULL);
	if (o.nsent)
		relay_ramp_success(d);   /* c is idle again: a raise opens only what jobs need */
	relay_outcome_clear(&o);
}

static void relay_conn_next(struct relay_conn *c);

/* Reply to MAIL. */
static void relay_conn_mail_cb(struct smtp_client *cl, const struct smtp_reply *rp, void *arg)
{
	struct relay_conn *c = arg;
	if (!rp || !c->job)
		return;
	c->mail_code = rp->code;
	snprintf(c->mail_text, sizeof(c->mail_text), "%s", rp->text);
}

/* Reply to one RCPT (replies arrive in order). */
static void relay_conn_rcpt_cb(struct smtp_client *cl, const struct smtp_reply *rp, void *arg)
{
	struct relay_conn *c = arg;
	if (!rp || !c->job || c->nrcpt_replies >= c->job->n)
		return;
	c->rcpt_code[c->nrcpt_replies] = rp->code;
	c->rcpt_text[c->nrcpt_replies] = strdup(rp->text);
	c->nrcpt_replies++;
}

/* Final reply after DATA (or DATA refused). */
static void relay_conn_data_cb(struct smtp_client *cl, const struct smtp_reply *rp, void *arg)
{
	struct relay_conn *c = arg;
	if (!rp || !c->job)
		return;   /* the session died: relay_conn_event handles the job */
	relay_conn_job_done(c, rp);
	relay_conn_next(c);
}

/* Build the MAIL FROM parameters for an envelope of len octets (0: no
 * SIZE) and a server. */
void relay_mail_params(const struct spool_env *env, const struct smtp_caps *caps,
		       unsigned long long len, char *buf, size_t blen)
{
	size_t o = 0;
	buf[0] = 0;
	if ((caps->flags & SMTP_CAP_SIZE) && len)
		o += (size_t)snprintf(buf + o, blen - o, "SIZE=%llu", len);
	if (env->body_8bit && (caps->flags & SMTP_CAP_8BITMIME) && o < blen)
		o += (size_t)snprintf(buf + o, blen - o, "%sBODY=8BITMIME", o ? " " : "");
	if (env->smtputf8 && (caps->flags & SMTP_CAP_SMTPUTF8) && o < blen)
		o += (size_t)snprintf(buf + o, blen - o, "%sSMTPUTF8", o ? " " : "");
	if ((caps->flags & SMTP_CAP_DSN) && o < blen) {
		if (env->ret)
			o += (size_t)snprintf(buf + o, blen - o, "%sRET=%s", o ? " " : "",
					      env->ret == 1 ? "FULL" : "HDRS");
		if (env->envid && o < blen)
			o += (size_t)snprintf(buf + o, blen - o, "%sENVID=%s", o ? " " : "",
					      env->envid);
	}
}

/* RCPT parameters (DSN) for one recipient. */
void relay_rcpt_params(const struct spool_rcpt *rc, const struct smtp_caps *caps,
			      char *buf, size_t blen)
{
	size_t o = 0;
	buf[0] = 0;
	if (!(caps->flags & SMTP_CAP_DSN))
		return;
	if (rc->notify) {
		if (rc->notify & SMTP_NOTIFY_NEVER) {
			o += (size_t)snprintf(buf, blen, "NOTIFY=NEVER");
		} else {
			o += (size_t)snprintf(buf, blen, "NOTIFY=%s%s%s",
				(rc->notify & SMTP_NOTIFY_SUCCESS) ? "SUCCESS," : "",
				(rc->notify & SMTP_NOTIFY_FAILURE) ? "FAILURE," : "",
				(rc->notify & SMTP_NOTIFY_DELAY) ? "DELAY," : "");
			if (o && buf[o - 1] == ',')
				buf[--o] = 0;
		}
	}
	if (rc->orcpt && o < blen)
		snprintf(buf + o, blen - o, "%sORCPT=%s", o ? " " : "", rc->orcpt);
}

/* What message env needs from c's session. */
static enum relay_xc_want relay_conn_want(const struct relay_conn *c,
					  const struct spool_env *env)
{
	return relay_xclient_want(c->dest->r, &smtp_client_info(c->cl)->caps, &c->xc, env);
}

/* Whether c can carry the next ready job (the first one not deleted).  Its
 * envelope is read only when the answer depends on its client (XCLIENT);
 * then *held is that message, whose envelope the caller puts after
 * relay_job_take() (which so does not read it twice). */
static int relay_conn_fits(const struct relay_conn *c, struct relay_msg **held)
{
	const struct relay_job *h = c->dest->ready_head;
	*held = NULL;
	while (h && h->msg->deleted)
		h = h->next;
	if (!h)
		return 1;
	if (c->xc.state == XC_SPENT)
		return 0;
	if (c->xc.state == XC_SELF && !relay_xclient_offered(&smtp_client_info(c->cl)->caps))
		return 1;   /* XFORWARD or nothing, whoever the client */
	struct relay_msg *m = h->msg;
	const struct spool_env *env = relay_msg_env_get(c->dest->r, m);
	if (!env)
		return 1;   /* relay_job_take() deals with it */
	*held = m;
	return relay_conn_want(c, env) != XW_NEW;
}

/* Queue the current job's transaction: [XFORWARD,] MAIL, each RCPT, DATA
 * (with the capabilities the session has now). */
static void relay_conn_send(struct relay_conn *c, int xforward)
{
	struct relay_job *j = c->job;
	struct relay_msg *m = j->msg;
	const struct smtp_caps *caps = &smtp_client_info(c->cl)->caps;
	char params[SMTP_CMD_LINE_MAX];

	relay_mail_params(m->env, caps, c->body_len, params, sizeof(params));
	if (xforward)
		relay_xforward_send(c->cl, caps, m->env);
	smtp_client_mail(c->cl, m->env->sender, params[0] ? params : NULL, relay_conn_mail_cb, c);
	for (size_t k = 0; k < j->n; k++) {
		relay_rcpt_params(&m->env->rcpt[relay_job_rcpts(j)[k]], caps, params, sizeof(params));
		smtp_client_rcpt(c->cl, m->env->rcpt[relay_job_rcpts(j)[k]].addr, params[0] ? params : NULL,
				 relay_conn_rcpt_cb, c);
	}
	smtp_client_data_fd(c->cl, c->body_fd, c->body_off, c->body_len, relay_conn_data_cb, c);
}

/* The reply to a delivery's XCLIENT (a 220 comes after the new EHLO): the
 * transaction follows, as that client or, refused (5xx), with XFORWARD; a
 * 4xx defers the message. */
static void relay_conn_xclient_cb(struct smtp_client *cl, const struct smtp_reply *rp,
				  void *arg)
{
	struct relay_conn *c = arg;
	if (!rp || !c->job || rp->code == 421)
		return;   /* the session ends: relay_conn_event handles the job */
	const struct spool_env *env = c->job->msg->env;
	if (rp->code == 220) {
		relay_xclient_became(&c->xc, env);
		log_debug("%s: XCLIENT ADDR=%s accepted by %s", env->qid, env->client_addr,
			  c->relay_desc);
		relay_conn_send(c, 0);
		return;
	}
	/* the primary may have taken part of it (Postfix answers a client its
	 * milter refuses at connect with 554 after switching): no other message
	 * goes on this session */
	c->xc.state = XC_SPENT;
	if (rp->code / 100 == 4) {
		/* a temporary refusal: later, as that client, rather than as us now */
		char err[RELAY_ERR_MAX];
		snprintf(err, sizeof(err), "%s said to XCLIENT: %d %.200s", c->relay_desc, rp->code,
			 rp->text);
		log_info("%s: deferred: %s", env->qid, err);
		relay_conn_job_fail(c, err, 1);
		relay_conn_next(c);   /* QUIT: the session is spent */
		return;
	}
	log_warn("%s: XCLIENT refused by %s (%d %s): delivered with XFORWARD instead, so the "
		 "primary judges this backup, not the client", env->qid, c->relay_desc, rp->code,
		 rp->text);
	relay_conn_send(c, 1);
}

/* Tell the primary the current job's client and start its transaction:
 * XCLIENT first when the session must become that client (the
 * transaction follows in relay_conn_xclient_cb), else XFORWARD (the
 * session is the backup) or nothing (it is that client already).  0, or
 * -1 when XCLIENT was needed and could not be queued. */
static int relay_conn_begin(struct relay_conn *c)
{
	const struct spool_env *env = c->job->msg->env;

	switch (relay_conn_want(c, env)) {
	case XW_SAME:
		relay_conn_send(c, 0);
		return 0;
	case XW_XCLIENT:
		if (relay_xclient_deliver(c->cl, &smtp_client_info(c->cl)->caps, env,
					  relay_conn_xclient_cb, c) == 0)
			return 0;
		if (c->xc.state != XC_SELF)
			return -1;
		/* the session is still the backup */
		/* FALLTHROUGH */
	case XW_XFORWARD:
		relay_conn_send(c, 1);
		return 0;
	case XW_NEW:
		break;
	}
	return -1;
}

/* Start the next job on a ready connection, or QUIT. */
static void relay_conn_next(struct relay_conn *c)
{
	struct relay_dest *d = c->dest;
	const struct smtp_caps *caps = &smtp_client_info(c->cl)->caps;
	struct relay_job *j;

	for (;;) {
		/* over a lowered limit: this connection ends instead of taking more;
		 * so it does when the next job needs another session's client */
		struct relay_msg *held = NULL;
		if (d->held || d->state == DEST_DOWN || d->state == DEST_LOOP ||
		    d->nconn > relay_ramp_limit(d) || !relay_conn_fits(c, &held) ||
		    !(j = relay_job_take(d))) {
			if (held)
				relay_msg_env_put(held);
			smtp_client_quit(c->cl, NULL, NULL);
			return;
		}
		if (held)   /* relay_job_take() took its own hold */
			relay_msg_env_put(held);
		struct relay_msg *m = j->msg;
		c->job = j;
		d->nidle--;
		const char *why = NULL;
		if (m->env->smtputf8 && !(caps->flags & SMTP_CAP_SMTPUTF8)) {
			why = "the MX host does not support SMTPUTF8";
			m->final_status = RELAY_FINAL_SMTPUTF8;
		} else if (m->env->body_8bit && !(caps->flags & SMTP_CAP_8BITMIME)) {
			why = "the MX host does not support 8BITMIME";
			m->final_status = RELAY_FINAL_8BITMIME;
		}
		size_t len = 0;
		if (!why) {
			c->body_fd = spool_body_open_env(d->r->spool, m->env, &len);
			if (c->body_fd < 0)
				why = "cannot open the queue file";
		}
		if (!why && caps->size && len > caps->size) {
			log_info("%s: message size %zu exceeds the limit %llu of %s", m->qid, len,
				 caps->size, c->relay_desc);
		}
		if (why) {
			log_info("%s: deferred: %s (%s)", m->qid, why, c->relay_desc);
			relay_conn_job_fail(c, why, 1);
			continue;
		}
		c->rcpt_code = calloc(j->n, sizeof(int));
		c->rcpt_text = calloc(j->n, sizeof(char *));
		if (!c->rcpt_code || !c->rcpt_text) {
			relay_conn_job_fail(c, "out of memory", 0);
			continue;
		}
		c->job_start = time(NULL);
		c->body_off = lseek(c->body_fd, 0, SEEK_CUR);
		c->body_len = len;
		if (relay_conn_begin(c) == 0)
			return;
		relay_conn_job_fail(c, "cannot send XCLIENT", 0);
		smtp_client_quit(c->cl, NULL, NULL);
		return;
	}
}

/* Connections of d that are ready (greeted, EHLO done) now. */
static unsigned relay_conn_nworking(const struct relay_dest *d)
{
	unsigned n = 0;
	for (const struct relay_conn *c = d->conns; c; c = c->next)
		n += c->ready != 0;
	return n;
}

/* A connection is lost for good (every target tried): free it, then decide
 * between overload feedback (others still work) and "down".  The limit
 * drops to the connections still open, ready or not: the primary let those
 * in before it turned this one away. */
static void relay_conn_failed(struct relay_conn *c, const char *err)
{
	struct relay_dest *d = c->dest;
	int was_ready = c->ready;
	int timed_out = smtp_client_info(c->cl)->err == SMTP_CLIENT_E_TIMEOUT;
	relay_conn_free(c);
	unsigned working = relay_conn_nworking(d);
	if (!working && (!was_ready || d->nconn == 0)) {
		relay_dest_down(d, err);
		return;
	}
	if (working && (!was_ready || timed_out))
		relay_ramp_overload(d, d->nconn, err);
	relay_dest_kick(d);
}

/* Events of a delivery connection. */
static void relay_conn_event(struct smtp_client *cl, enum smtp_client_event ev, void *arg)
{
	struct relay_conn *c = arg;
	struct relay_dest *d = c->dest;
	const struct smtp_client_info *in = smtp_client_info(cl);
	char err[RELAY_ERR_MAX];

	switch (ev) {
	case SMTP_CLIENT_EV_READY:
		c->ready = 1;
		relay_learn(d, in);
		if (d->state != DEST_UP)
			relay_dest_up(d);
		relay_conn_next(c);
		return;
	case SMTP_CLIENT_EV_DONE:
		relay_conn_free(c);
		relay_dest_kick(d);
		return;
	case SMTP_CLIENT_EV_ERROR:
		snprintf(err, sizeof(err), "%s: %s", c->relay_desc, in->errtext);
		if (c->job) {
			/* lost mid-transaction: a message-level failure */
			log_info("%s: deferred: %s", c->job->msg->qid, err);
			relay_conn_job_fail(c, err, 1);
		}
		if (!c->ready && c->target + 1 < d->ntargets) {
			smtp_client_free(c->cl);
			c->target++;
			relay_conn_desc(c);
			c->cl = relay_client_start(d, c->target, NULL, relay_conn_event, c);
			if (c->cl)
				return;
		}
		relay_conn_failed(c, err);
		return;
	}
}

/* Open one more delivery connection to a destination; -1 if it cannot start. */
int relay_conn_open(struct relay_dest *d)
{
	struct relay_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	c->dest = d;
	c->body_fd = -1;
	c->target = 0;
	relay_conn_desc(c);
	c->cl = relay_client_start(d, 0, NULL, relay_conn_event, c);
	if (!c->cl) {
		free(c);
		relay_dest_down(d, "cannot start an SMTP client");
		return -1;
	}
	c->next = d->conns;
	d->conns = c;
	d->nconn++;
	d->nidle++;
	return 0;
}

/* Close every connection of a destination (shutdown). */
void relay_conn_close_all(struct relay_dest *d)
{
	while (d->conns) {
		struct relay_conn *c = d->conns;
		if (c->job)
			relay_conn_job_fail(c, "shutting down", 0);
		relay_conn_free(c);
	}
}

/* ---- probes ---- */

/* Probe session events. */
static void relay_probe_event(struct smtp_client *cl, enum smtp_client_event ev, void *arg)
{
	struct relay_dest *d = arg;
	struct relay *r = d->r;
	const struct smtp_client_info *in = smtp_client_info(cl);
	char err[RELAY_ERR_MAX];

	switch (ev) {
	case SMTP_CLIENT_EV_READY:
		relay_learn(d, in);
		smtp_client_quit(cl, NULL, NULL);
		return;
	case SMTP_CLIENT_EV_DONE:
		r->stats.probe_ok++;
		r->stats.last_probe_seconds = (double)(io_now_ms() - d->probe_start_ms) / 1000.0;
		smtp_client_free(d->probe);
		d->probe = NULL;
		log_info("probe of %s via %s succeeded", d->domain, d->targets[d->probe_target].host);
		relay_dest_up(d);
		return;
	case SMTP_CLIENT_EV_ERROR:
		snprintf(err, sizeof(err), "%s: %s", d->targets[d->probe_target].host, in->errtext);
		smtp_client_free(d->probe);
		d->probe = NULL;
		if (d->probe_target + 1 < d->ntargets) {
			d->probe_target++;
			d->probe = relay_client_start(d, d->probe_target, NULL, relay_probe_event, d);
			if (d->probe)
				return;
		}
		r->stats.last_probe_seconds = (double)(io_now_ms() - d->probe_start_ms) / 1000.0;
		log_debug("probe of %s failed: %s", d->domain, err);
		relay_dest_down(d, err);
		return;
	}
}

/* Probe a down destination now (resolving its next hops first if needed). */
void relay_probe_start(struct relay_dest *d)
{
	if (d->probe || d->held)
		return;
	if (d->ntargets == 0 || time(NULL) >= d->targets_expire) {
		d->probe_after_resolve = 1;   /* the fresh next hops are probed, not used */
		relay_targets_resolve(d);
		return;
	}
	d->probe_after_resolve = 0;
	d->r->stats.probes++;
	d->probe_target = 0;
	d->probe_start_ms = io_now_ms();
	d->probe = relay_client_start(d, 0, NULL, relay_probe_event, d);
	if (!d->probe)
		relay_dest_down(d, "cannot start an SMTP client");
}

/* Stop a running probe. */
void relay_probe_stop(struct relay_dest *d)
{
	smtp_client_free(d->probe);
	d->probe = NULL;
}
