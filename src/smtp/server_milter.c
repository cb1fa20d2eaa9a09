/*
 * server_milter.c - the session side of the milters (issue 14): a message
 * that is stored and forwarded goes past every configured milter while it
 * streams into the queue file, and the milters' verdict comes before the
 * group commit, so before the fsync and the 250.
 *
 * Only stored mail is filtered: a transaction passed through to the primary
 * is judged by the primary's own milters.  At 354 the conversation starts
 * (the envelope); each header field that the header filter keeps
 * (server_data.c, src/filter/hdrfilter.c) and every body octet follow; at
 * the final dot the session waits in SS_FILTER for the verdict: accept goes
 * on to the group commit, reject and tempfail answer the milter's reply,
 * discard answers 250 and keeps nothing (status=discarded).  While a
 * milter's queue is full the session stops reading (s->body_full).  The
 * header changes of accepting milters are applied to the queue file before
 * the commit (its header section is rewritten, src/filter/hdredit.c), and
 * an Authentication-Results of ours that a milter added tells whether the
 * sender passed SPF or DKIM (the queue file's A record, bounce_policy).
 * Loop thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "filter/authres.h"
#include "filter/hdredit.h"
#include "smtp/server_int.h"

#define SMTP_MILTER_HDRS_MAX (256 * 1024)   /* a header section we rewrite */
#define SMTP_MILTER_AR_NOTE_MAX 400         /* our Authentication-Results kept as a note */

/* Keep an Authentication-Results value of ours, unfolded into one line, as
 * the message's arrival note (history, drills); the first one wins. */
static void smtp_milter_note_authres(struct smtp_session *s, const char *v, size_t len)
{
	if (s->env.arrival_authres)
		return;
	char *o = malloc(SMTP_MILTER_AR_NOTE_MAX + 1);
	if (!o)
		return;   /* no note, no harm */
	size_t n = 0;
	for (size_t i = 0; i < len && n < SMTP_MILTER_AR_NOTE_MAX; i++) {
		char c = v[i] == '\r' || v[i] == '\n' || v[i] == '\t' ? ' ' : v[i];
		if (c == ' ' && (n == 0 || o[n - 1] == ' '))
			continue;
		o[n++] = (unsigned char)c < 0x20 || c == 0x7f ? '?' : c;
	}
	while (n && o[n - 1] == ' ')
		n--;
	o[n] = '\0';
	s->env.arrival_authres = o;
}

/* Did an Authentication-Results of ours in the header section hdr[0..len)
 * find the sender authenticated (SPF or DKIM pass for its domain)?  1 or 0.
 * The first of ours is kept as the arrival note. */
static int smtp_milter_auth(struct smtp_session *s, const char *hdr, size_t len)
{
	static const char ar[] = "authentication-results:";
	const char *at = strrchr(s->env.sender, '@');
	struct authres *a = malloc(sizeof(*a));
	int ok = 0;
	for (size_t i = 0; a && i + sizeof(ar) - 1 < len;) {
		const char *lf = memchr(hdr + i, '\n', len - i);
		size_t ll = lf ? (size_t)(lf - (hdr + i)) + 1 : len - i, end = i + ll;
		while (end < len && (hdr[end] == ' ' || hdr[end] == '\t')) {
			const char *nl = memchr(hdr + end, '\n', len - end);
			end = nl ? (size_t)(nl - hdr) + 1 : len;
		}
		const char *v = hdr + i + sizeof(ar) - 1;
		size_t vlen = end - i - (sizeof(ar) - 1);
		if (strncasecmp(hdr + i, ar, sizeof(ar) - 1) == 0 && authres_parse(v, vlen, a) == 0 &&
		    authres_is_ours(a, s->cfg->hostname)) {
			smtp_milter_note_authres(s, v, vlen);
			if (at && !ok)
				ok = authres_sender_authenticated(a, s->cfg->hostname, at + 1,
								  s->srv->psl);
		}
		i = end;
	}
	free(a);
	return ok;
}

/* Apply the accepting milters' header changes to the stored message. */
static void smtp_milter_apply(struct smtp_session *s, const struct milter_change *chg, size_t n)
{
	size_t old = s->rcv_len + s->hdr_stored;
	char *h = old <= SMTP_MILTER_HDRS_MAX ? malloc(old ? old : 1) : NULL;
	struct bmx_buf out = BMX_BUF_INIT;
	if (!h || spool_msg_pread(s->msg, h, old, 0) < 0 ||
	    hdredit_apply(h, old, 1, chg, n, &out) < 0) {
		log_warn("%s: %s: the milters' %zu header change(s) could not be applied", s->ip,
			 s->env.qid, n);
	} else {
		s->env.sender_auth = smtp_milter_auth(s, out.p, out.len);
		if (spool_msg_rewrite(s->msg, &s->env, old, out.p, out.len) < 0) {
			s->env.sender_auth = 0;
			log_warn("%s: %s: the milters' header changes could not be written", s->ip,
				 s->env.qid);
		} else {
			log_info("%s: %s: %zu header change(s) from the milters applied; sender %s",
				 s->ip, s->env.qid, n, s->env.sender_auth ? "authenticated"
									 : "not authenticated");
		}
	}
	bmx_buf_free(&out);
	free(h);
}

/* A header field the header filter kept. */
static void smtp_milter_field(void *arg, const char *name, size_t nlen, const char *value,
			      size_t vlen)
{
	struct smtp_session *s = arg;
	if (s->milter)
		milter_txn_header(s->milter, name, nlen, value, vlen);
}

/* The end of the header section. */
static void smtp_milter_eoh(void *arg)
{
	struct smtp_session *s = arg;
	if (s->milter && !s->milter_eoh) {
		s->milter_eoh = 1;
		milter_txn_eoh(s->milter);
	}
}

/* The milters can take more of the body. */
static void smtp_milter_room(void *arg)
{
	smtp_body_room(arg);
}

/* The milters' verdict on a complete message. */
static void smtp_milter_done(struct milter_txn *t, const struct milter_result *r, void *arg)
{
	struct smtp_session *s = arg;
	smtp_session_enter(s);
	struct milter_result res = *r;
	if (s->state != SS_FILTER) {
		milter_txn_free(t);
		s->milter = NULL;
		smtp_session_leave(s);
		return;
	}
	if (res.v == MILTER_V_ACCEPT && res.nchg)
		smtp_milter_apply(s, res.chg, res.nchg);   /* res.chg lives in t */
	if (res.v == MILTER_V_ACCEPT && !s->env.arrival_filter)
		s->env.arrival_filter = strdup(res.summary);   /* NULL: no note, no harm */
	milter_txn_free(t);
	s->milter = NULL;
	switch (res.v) {
	case MILTER_V_ACCEPT:
		smtp_commit_queue(s);
		break;
	case MILTER_V_DISCARD:
		log_info("%s: %s: status=discarded (milter %s)", s->ip, s->env.qid, res.who);
		smtp_txn_reset(s);
		smtp_reply(s, "250 2.0.0 Ok: discarded");
		smtp_enter_state(s, smtp_idle_state(s));
		break;
	default:
		log_info("%s: %s: reject: %s (milter %s)", s->ip, s->env.qid, res.reply, res.who);
		smtp_count_reject(s, "milter");
		smtp_txn_reset(s);
		smtp_reply(s, "%s", res.reply);
		smtp_enter_state(s, smtp_idle_state(s));
		break;
	}
	smtp_session_run(s);
	smtp_session_leave(s);
}

/* DATA of a stored message: start the milters (none configured: nothing). */
void smtp_milter_start(struct smtp_session *s)
{
	if (!s->conf.milters || !s->hdrf)
		return;
	const char **rcpts = calloc(s->env.nrcpt ? s->env.nrcpt : 1, sizeof(*rcpts));
	if (!rcpts)
		return;   /* the message is refused at its end (s->milter_failed) */
	for (size_t i = 0; i < s->env.nrcpt; i++)
		rcpts[i] = s->env.rcpt[i].addr;
	struct milter_facts f = {
		.qid = s->env.qid, .hostname = s->cfg->hostname, .client_addr = s->ip,
		.client_name = s->rdns, .helo = s->helo, .client_port = s->port,
		.sender = s->env.sender, .rcpts = rcpts, .nrcpt = s->env.nrcpt,
	};
	s->milter = milter_txn_start(s->conf.milters, &f, smtp_milter_done, smtp_milter_room, s);
	free(rcpts);
	s->milter_eoh = 0;
	s->milter_started = 1;
	if (s->milter)
		hdrf_set_fields(s->hdrf, smtp_milter_field, smtp_milter_eoh, s);
}

/* Body octets (past the header section) for the milters. */
void smtp_milter_body(struct smtp_session *s, const void *p, size_t n)
{
	if (s->milter && milter_txn_body(s->milter, p, n) == 1) {
		s->body_full = 1;
		io_conn_pause(s->conn);
	}
}

/* The stored message is complete: 1 = the milters decide (the verdict
 * follows), 0 = no milters, go on. */
int smtp_milter_end(struct smtp_session *s)
{
	if (!s->milter_started)
		return 0;
	if (!s->milter) {
		/* the conversation could not start: as if every milter failed */
		const char *reply = milter_default_reply(s->cfg);
		if (!reply)
			return 0;
		smtp_count_reject(s, "milter");
		smtp_txn_reset(s);
		smtp_reply(s, "%s", reply);
		smtp_enter_state(s, smtp_idle_state(s));
		return 1;
	}
	if (!s->milter_eoh) {
		s->milter_eoh = 1;
		milter_txn_eoh(s->milter);
	}
	smtp_enter_state(s, SS_FILTER);
	milter_txn_end(s->milter);
	return 1;
}
