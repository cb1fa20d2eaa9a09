/*
 * server_dnsbl.c - the session side of DNSBL scoring (issue 14): a client's
 * check starts when it connects, and a recipient to be stored and forwarded
 * waits for the score before it is decided.
 *
 * Only store-and-forward recipients are judged here: a transaction passed
 * through live (server_proxy.c) gets the primary's own verdict, with the
 * primary's own lists (XCLIENT).  A score at dnsbl_threshold gets, per
 * dnsbl_action, "554 5.7.1 Service unavailable; client [ip] listed by
 * LIST", a 450 4.7.1 with the same text, or only a log line.  A primary's
 * own address (the `trusted` hook) is never scored.  Loop thread only.
 */
#include <stdio.h>

#include "common/log.h"
#include "smtp/server_int.h"

/* The check of a session's client finished. */
static void smtp_bl_done(struct dnsbl_query *q, const struct dnsbl_result *r, void *arg)
{
	struct smtp_session *s = arg;
	smtp_session_enter(s);
	s->bl_res = *r;   /* r lives in q */
	s->bl_done = 1;
	dnsbl_query_free(q);
	s->bl = NULL;
	if (s->bl_waiting && s->state == SS_RCPT_WAIT) {
		s->bl_waiting = 0;
		smtp_rcpt_local(s, &s->pending_rcpt, s->pending_addr);
		smtp_session_run(s);
	}
	smtp_session_leave(s);
}

/* Start the check of a new session's client (unless it is a primary). */
void smtp_bl_start(struct smtp_session *s, const struct sockaddr *sa)
{
	struct smtp_server *srv = s->srv;
	if (!s->conf.dnsbl)
		return;
	if (srv->hooks.trusted && srv->hooks.trusted(sa, srv->hooks.arg)) {
		log_debug("%s: a primary's address: not scored", s->ip);
		return;
	}
	s->bl = dnsbl_query_start(s->conf.dnsbl, sa, smtp_bl_done, s);
}

/* Judge a store-and-forward recipient by the client's score: 1 = answered
 * (refused, or waiting for the score), 0 = go on. */
int smtp_bl_rcpt(struct smtp_session *s, const struct smtp_rcpt_args *r, const char *addr)
{
	if (s->bl) {
		s->bl_waiting = 1;
		smtp_rcpt_pend(s, r, addr);
		smtp_enter_state(s, SS_RCPT_WAIT);
		return 1;
	}
	if (!s->bl_done || !dnsbl_listed(s->conf.dnsbl, &s->bl_res))
		return 0;
	const char *list = s->bl_res.listed_by[0] ? s->bl_res.listed_by : "DNS lists";
	switch (s->cfg->dnsbl_action) {
	case CONFIG_DNSBL_LOG:
		log_info("%s: dnsbl: RCPT <%s>: score %d, listed by %s: accepted (dnsbl_action "
			 "= log)", s->ip, addr, s->bl_res.score, list);
		return 0;
	case CONFIG_DNSBL_TEMPFAIL:
	case CONFIG_DNSBL_REJECT: {
		int temp = s->cfg->dnsbl_action == CONFIG_DNSBL_TEMPFAIL;
		smtp_count_reject(s, "dnsbl");
		log_info("%s: %s: RCPT <%s>: score %d, listed by %s", s->ip,
			 temp ? "defer" : "reject", addr, s->bl_res.score, list);
		smtp_reply(s, "%s Service unavailable; client [%s] listed by %s",
			   temp ? "450 4.7.1" : "554 5.7.1", s->ip, list);
		break;
	}
	}
	smtp_enter_state(s, s->env.nrcpt ? SS_RCPT : SS_MAIL);
	return 1;
}
