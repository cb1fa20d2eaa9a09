/*
 * server_proxy.c - the session side of the live pass-through: while a
 * destination's primary is up (primary_up = proxy), a transaction goes to it
 * as it arrives, and the client gets the primary's own answers.
 *
 * The proxy hooks (struct smtp_server_hooks; the delivery side implements
 * them) own the connection to the primary; a session holds its transaction
 * in s->proxy from the first relayed RCPT until smtp_proxy_drop().  The
 * session waits for the primary in three states: SS_RCPT_WAIT (a relayed
 * RCPT), SS_DATA_WAIT (DATA, for the 354) and SS_PROXY_END (the final
 * reply); smtp_session_proxy_reply() ends each wait.  The body passes
 * through our own DATA reader (dot-unstuffed, CRLF, smuggling rules) after
 * our Received: header, and reading pauses while the primary's socket is
 * full (s->body_full).  If the primary fails while the session does not
 * wait for it, s->proxy_lost makes the next step answer SMTP_PROXY_LOST.
 * Nothing here touches the spool.  Loop thread only.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "smtp/server_int.h"

/* Refuse a recipient for a reason of the proxy rules. */
static void smtp_proxy_refuse(struct smtp_session *s, const char *addr, const char *reason,
			      const char *code, const char *text)
{
	smtp_count_reject(s, reason);
	smtp_reply(s, "%s <%s>: %s", code, addr, text);
	smtp_enter_state(s, s->env.nrcpt ? SS_RCPT : SS_MAIL);
}

/* Offer a recipient to the proxy hook; 1 = answered or pending, 0 = local. */
int smtp_proxy_rcpt(struct smtp_session *s, const struct smtp_rcpt_args *r, const char *addr)
{
	const struct smtp_server_hooks *h = &s->srv->hooks;
	if (!h->proxy_rcpt)
		return 0;
	if (s->proxy_lost) {
		smtp_txn_reset(s);
		smtp_reply(s, SMTP_PROXY_LOST);
		smtp_enter_state(s, smtp_idle_state(s));
		return 1;
	}
	struct smtp_proxy_rcpt q = {
		.session = s, .txn = s->proxy, .local = !s->proxy && s->env.nrcpt > 0,
		.env = &s->env, .declared_size = s->declared_size, .addr = addr,
		.domain = r->to.domain, .notify = r->notify,
		.orcpt = r->orcpt[0] ? r->orcpt : NULL,
		.client_name = s->ptr_query || s->ptr_tempfail ? NULL : s->rdns,
		.client_port = s->port, .proto = s->esmtp ? "ESMTP" : "SMTP",
	};
	struct smtp_proxy_txn *t = s->proxy;
	switch (h->proxy_rcpt(&q, &t, h->arg)) {
	case SMTP_ROUTE_LOCAL:
		return 0;
	case SMTP_ROUTE_DEFER:
		log_info("%s: defer: RCPT <%s>: the primary is up", s->ip, addr);
		smtp_proxy_refuse(s, addr, "primary_up", "450 4.7.1", "the primary MX is up: "
				  "deliver there, not to this backup, or try again later");
		return 1;
	case SMTP_ROUTE_SPLIT:
		smtp_proxy_refuse(s, addr, "limit", "452 4.5.3", "one destination per "
				  "transaction here: send this recipient in a new transaction");
		return 1;
	case SMTP_ROUTE_BUSY:
		smtp_proxy_refuse(s, addr, "proxy_busy", "451 4.7.1", "too many live "
				  "connections to the primary, try again later");
		return 1;
	case SMTP_ROUTE_PENDING:
		s->proxy = t;
		smtp_rcpt_pend(s, r, addr);
		smtp_enter_state(s, SS_RCPT_WAIT);
		return 1;
	}
	return 0;
}

/* DATA of a relayed transaction: ask the primary, wait for its 354. */
void smtp_proxy_data(struct smtp_session *s)
{
	char rcv[SMTP_RECEIVED_MAX];
	if (smtp_data_prepare(s, rcv, sizeof(rcv)) < 0)
		return;
	if (!s->proxy || s->srv->hooks.proxy_data(s->proxy) < 0) {
		smtp_txn_reset(s);
		smtp_reply(s, SMTP_PROXY_LOST);
		smtp_enter_state(s, smtp_idle_state(s));
		return;
	}
	smtp_enter_state(s, SS_DATA_WAIT);
}

/* Pass canonical body bytes on; 0, or -1 when reading must pause. */
int smtp_proxy_body(struct smtp_session *s, const void *p, size_t n)
{
	if (!s->proxy)
		return 0;   /* lost: the rest is read and dropped */
	int rc = s->srv->hooks.proxy_body(s->proxy, p, n);
	if (rc < 0) {
		smtp_proxy_drop(s);
		s->proxy_lost = 1;
		return 0;
	}
	if (rc == 1) {
		s->body_full = 1;
		io_conn_pause(s->conn);
		return -1;
	}
	return 0;
}

/* The relayed message is complete (or refused by us: refuse != NULL). */
void smtp_proxy_end(struct smtp_session *s, const char *refuse, const char *reason)
{
	if (!refuse && s->proxy && s->srv->hooks.proxy_end(s->proxy) == 0) {
		smtp_enter_state(s, SS_PROXY_END);
		return;
	}
	if (refuse) {
		/* dropping the transaction closes the primary's connection before
		 * the final dot: the primary keeps nothing either */
		log_info("%s: %s: reject: %s", s->ip, s->env.qid, refuse);
		smtp_count_reject(s, reason);
	}
	smtp_txn_reset(s);
	smtp_reply(s, "%s", refuse ? refuse : SMTP_PROXY_LOST);
	smtp_enter_state(s, smtp_idle_state(s));
}

/* Forget the relayed transaction (from smtp_txn_reset). */
void smtp_proxy_drop(struct smtp_session *s)
{
	struct smtp_proxy_txn *t = s->proxy;
	s->proxy = NULL;
	s->body_full = 0;
	if (t)
		s->srv->hooks.proxy_free(t);
}

/* Close the session if the relayed refusals reached max_errors. */
static void smtp_proxy_errors(struct smtp_session *s)
{
	if (s->state != SS_CLOSING && s->errors >= s->cfg->max_errors) {
		log_info("%s: too many errors, closing", s->ip);
		smtp_count_reject(s, "errors");
		smtp_close_with(s, "421 4.7.0 Error: too many errors, closing transmission channel");
	}
}

/* The primary answered a relayed RCPT (reply NULL: decide it locally). */
static void smtp_proxy_rcpt_reply(struct smtp_session *s, const char *reply, int txn_over)
{
	if (!reply) {
		smtp_proxy_drop(s);
		smtp_rcpt_local(s, &s->pending_rcpt, s->pending_addr);
		return;
	}
	if (reply[0] == '2' && !txn_over) {
		smtp_rcpt_accept(s, &s->pending_rcpt, s->pending_addr, reply);
		return;
	}
	smtp_count_reject(s, "primary");
	smtp_reply(s, "%s", reply);
	if (txn_over && s->env.nrcpt > 0) {
		smtp_txn_reset(s);   /* recipients were accepted: the transaction is lost */
		smtp_enter_state(s, smtp_idle_state(s));
		return;
	}
	if (txn_over)
		smtp_proxy_drop(s);
	smtp_enter_state(s, s->env.nrcpt ? SS_RCPT : SS_MAIL);
}

/* The answer to a relayed command. */
void smtp_session_proxy_reply(struct smtp_session *s, const char *reply, int txn_over)
{
	smtp_session_enter(s);
	switch (s->state) {
	case SS_RCPT_WAIT:
		smtp_proxy_rcpt_reply(s, reply, txn_over);
		break;
	case SS_DATA_WAIT:
		if (reply && strncmp(reply, "354", 3) == 0 && !txn_over) {
			char rcv[SMTP_RECEIVED_MAX];
			int n = smtp_received(s, rcv, sizeof(rcv));
			smtp_data_begin(s);
			if (n > 0)
				smtp_proxy_body(s, rcv, (size_t)n);
			break;
		}
		smtp_count_reject(s, "primary");
		smtp_txn_reset(s);
		smtp_reply(s, "%s", reply ? reply : SMTP_PROXY_LOST);
		smtp_enter_state(s, smtp_idle_state(s));
		break;
	case SS_PROXY_END:
		if (!reply || reply[0] != '2')
			smtp_count_reject(s, "primary");
		smtp_txn_reset(s);
		smtp_reply(s, "%s", reply ? reply : SMTP_PROXY_LOST);
		smtp_enter_state(s, smtp_idle_state(s));
		break;
	default:
		/* not waiting (between commands, or in the body): remember */
		if (txn_over) {
			smtp_proxy_drop(s);
			s->proxy_lost = 1;
		}
		smtp_session_leave(s);
		return;
	}
	smtp_proxy_errors(s);
	smtp_session_run(s);
	smtp_session_leave(s);
}

/* A relayed body may take more bytes again. */
void smtp_session_proxy_resume(struct smtp_session *s)
{
	smtp_body_room(s);
}
