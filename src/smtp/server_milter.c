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
 * milter's queue is full the session stops reading (s->milter_full).  Loop
 * thread only.
 */
#include <stdlib.h>

#include "common/log.h"
#include "smtp/server_int.h"

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
	struct smtp_session *s = arg;
	if (!s->milter_full)
		return;
	smtp_session_enter(s);
	s->milter_full = 0;
	if (s->state == SS_DATA) {
		io_conn_resume(s->conn);
		smtp_session_run(s);
	}
	smtp_session_leave(s);
}

/* The milters' verdict on a complete message. */
static void smtp_milter_done(struct milter_txn *t, const struct milter_result *r, void *arg)
{
	struct smtp_session *s = arg;
	smtp_session_enter(s);
	struct milter_result res = *r;
	milter_txn_free(t);
	s->milter = NULL;
	if (s->state != SS_FILTER) {
		smtp_session_leave(s);
		return;
	}
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
	struct smtp_server *srv = s->srv;
	if (!srv->milters || !s->hdrf)
		return;
	const char **rcpts = calloc(s->env.nrcpt ? s->env.nrcpt : 1, sizeof(*rcpts));
	if (!rcpts)
		return;   /* the message is refused at its end (s->milter_failed) */
	for (size_t i = 0; i < s->env.nrcpt; i++)
		rcpts[i] = s->env.rcpt[i].addr;
	struct milter_facts f = {
		.qid = s->env.qid, .hostname = srv->cfg->hostname, .client_addr = s->ip,
		.client_name = s->rdns, .helo = s->helo, .client_port = s->port,
		.sender = s->env.sender, .rcpts = rcpts, .nrcpt = s->env.nrcpt,
	};
	s->milter = milter_txn_start(srv->milters, &f, smtp_milter_done, smtp_milter_room, s);
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
		s->milter_full = 1;
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
		const char *reply = s->srv->cfg->milter_default_action == CONFIG_MILTER_ACCEPT ? NULL :
				    s->srv->cfg->milter_default_action == CONFIG_MILTER_REJECT ?
				    "550 5.7.1 Command rejected" :
				    "451 4.7.1 Service unavailable - try again later";
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
