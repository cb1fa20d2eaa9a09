/*
 * client_reply.c - the reply side of the SMTP client session: reading
 * replies and acting on them.
 *
 * Replies are parsed with the pure smtp_reply_parse() straight from the
 * connection's input buffer, never reading more than SMTP_CLIENT_IN_MAX
 * bytes of one reply: a longer or malformed reply is a protocol error.  Each
 * reply is dispatched by state: the banner, EHLO (HELO when EHLO gets a 5xx),
 * STARTTLS and, once ready, the oldest command in flight, whose callback
 * gets it (replies are matched in order).  A 421 or a reply during the body
 * fails the session.  Loop thread only; a callback may free the client, so
 * after each one the guard is checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/client_int.h"

/* Greeting finished: report READY and start sending queued commands. */
static void cl_go_ready(struct smtp_client *cl)
{
	cl->st = CL_READY;
	io_timer_del(cl->deadline);
	cl->cb(cl, SMTP_CLIENT_EV_READY, cl->arg);
	if (bmx_guard_dead(&cl->guard) || cl->st != CL_READY)
		return;
	smtp_cl_pump(cl);
}

/* A reply for the oldest command in flight (state READY). */
static void cl_cmd_reply(struct smtp_client *cl, const struct smtp_reply *r)
{
	struct cl_cmd *c = TAILQ_FIRST(&cl->q);

	if (!c || !c->sent) {
		if (r->code == 421)
			smtp_cl_fail(cl, SMTP_CLIENT_E_CLOSED, "server closing: 421 %.200s",
				r->text);
		else
			smtp_cl_fail(cl, SMTP_CLIENT_E_PROTOCOL, "unsolicited reply %d %.200s",
				r->code, r->text);
		return;
	}
	if (c->kind == K_DATA && c->phase == 0 && r->code == 354) {
		smtp_cl_body_start(cl, c);
		return;
	}
	int early = (c->kind == K_DATA && c->phase == 1);
	enum cl_kind kind = c->kind;
	TAILQ_REMOVE(&cl->q, c, link);
	cl->nq--;
	if (kind == K_XCLIENT && r->code == 220) {
		/* XCLIENT_README: a new session as the original client; EHLO again
		 * (with the client's HELO: the server takes the HELO from it), and
		 * the callback runs once the new capabilities are known */
		cl->reehlo = 1;
		snprintf(cl->reehlo_name, sizeof(cl->reehlo_name), "%s", c->ehlo ? c->ehlo : "");
		cl->xc_cb = c->cb;
		cl->xc_arg = c->arg;
		cl->xc_reply = *r;
		free(c);
		smtp_cl_send_helo(cl, 0);
		return;
	}
	if (kind == K_MAIL) {
		cl->txn_rcpts = cl->txn_ok = 0;
	} else if (kind == K_RCPT) {
		cl->txn_rcpts++;
		if (r->code / 100 == 2)
			cl->txn_ok++;
	}
	smtp_client_reply_cb cb = c->cb;
	void *arg = c->arg;
	free(c);
	if (cb)
		cb(cl, r, arg);
	if (bmx_guard_dead(&cl->guard) || cl->st != CL_READY)
		return;
	if (kind == K_QUIT) {
		smtp_cl_done(cl);
		return;
	}
	if (early) {
		smtp_cl_fail(cl, SMTP_CLIENT_E_PROTOCOL,
			"server replied %d during the message body", r->code);
		return;
	}
	if (r->code == 421) {
		smtp_cl_fail(cl, SMTP_CLIENT_E_CLOSED, "server closing: 421 %.200s", r->text);
		return;
	}
	struct cl_cmd *head = TAILQ_FIRST(&cl->q);
	if (head && head->sent)
		smtp_cl_arm(cl, smtp_cl_cmd_timeout(cl, head));
	else
		io_timer_del(cl->deadline);
	smtp_cl_pump(cl);
}

/* Decide about STARTTLS after a successful EHLO, or go ready. */
static void cl_after_ehlo(struct smtp_client *cl)
{
	if (!cl->info.tls.active && cl->tls_mode != SMTP_CLIENT_TLS_NONE) {
		if (cl->info.caps.flags & SMTP_CAP_STARTTLS) {
			cl->st = CL_STARTTLS;
			cl->info.starttls_tried = 1;
			smtp_cl_arm(cl, cl->to.starttls);
			smtp_cl_write(cl, "STARTTLS\r\n", 10);
			return;
		}
		if (cl->tls_mode >= SMTP_CLIENT_TLS_ENCRYPT) {
			smtp_cl_fail(cl, SMTP_CLIENT_E_TLS, "STARTTLS not offered");
			return;
		}
	}
	cl_go_ready(cl);
}

/* The EHLO after XCLIENT's 220: new capabilities, XCLIENT's callback (with
 * its 220), then the queue goes on. */
static void cl_after_reehlo(struct smtp_client *cl, const struct smtp_reply *r)
{
	if (r->code / 100 != 2) {
		smtp_cl_fail(cl, SMTP_CLIENT_E_REJECTED, "EHLO after XCLIENT: %d %.200s", r->code,
			r->text);
		return;
	}
	smtp_ehlo_caps(r, &cl->info.caps);
	cl->reehlo = 0;
	cl->st = CL_READY;
	io_timer_del(cl->deadline);
	smtp_client_reply_cb xc = cl->xc_cb;
	cl->xc_cb = NULL;
	if (xc) {
		xc(cl, &cl->xc_reply, cl->xc_arg);
		if (bmx_guard_dead(&cl->guard) || cl->st != CL_READY)
			return;
	}
	smtp_cl_pump(cl);
}

/* Dispatch one complete reply according to the state. */
static void cl_reply(struct smtp_client *cl, const struct smtp_reply *r)
{
	switch (cl->st) {
	case CL_BANNER:
		cl->info.banner = *r;
		cl->info.banner_ms = smtp_cl_now() - cl->t0 - cl->info.connect_ms;
		if (r->code != 220) {
			smtp_cl_fail(cl, SMTP_CLIENT_E_REJECTED, "banner: %d %.200s", r->code,
				r->text);
			return;
		}
		smtp_cl_send_helo(cl, 0);
		return;
	case CL_EHLO:
		cl->info.ehlo = *r;
		if (cl->reehlo) {
			cl_after_reehlo(cl, r);
			return;
		}
		if (r->code / 100 == 2) {
			smtp_ehlo_caps(r, &cl->info.caps);
			if (!cl->info.tls.active) {
				cl->info.caps_plain = cl->info.caps;
				cl->info.starttls_offered =
					(cl->info.caps.flags & SMTP_CAP_STARTTLS) != 0;
			}
			cl_after_ehlo(cl);
		} else if (r->code / 100 == 5 && !cl->info.tls.active) {
			cl->info.used_helo = 1;
			smtp_cl_send_helo(cl, 1);
		} else {
			smtp_cl_fail(cl, SMTP_CLIENT_E_REJECTED, "EHLO: %d %.200s", r->code,
				r->text);
		}
		return;
	case CL_HELO:
		cl->info.ehlo = *r;
		if (r->code / 100 != 2) {
			smtp_cl_fail(cl, SMTP_CLIENT_E_REJECTED, "HELO: %d %.200s", r->code,
				r->text);
			return;
		}
		memset(&cl->info.caps, 0, sizeof(cl->info.caps));
		cl->info.caps_plain = cl->info.caps;
		if (cl->tls_mode >= SMTP_CLIENT_TLS_ENCRYPT) {
			smtp_cl_fail(cl, SMTP_CLIENT_E_TLS, "no ESMTP, so no STARTTLS");
			return;
		}
		cl_go_ready(cl);
		return;
	case CL_STARTTLS:
		cl->info.starttls_code = r->code;
		if (r->code == 220) {
			cl->st = CL_HANDSHAKE;
			io_conn_drop_input(cl->conn);   /* RFC 3207 5: no plaintext injection */
			smtp_cl_arm(cl, cl->to.starttls);
			if (io_conn_starttls_client(cl->conn, cl->tls,
						    cl->tls_host[0] ? cl->tls_host : NULL) < 0)
				smtp_cl_fail(cl, SMTP_CLIENT_E_TLS, "cannot start TLS: %s",
					io_conn_error(cl->conn));
			return;
		}
		if (cl->tls_mode == SMTP_CLIENT_TLS_MAY) {
			cl_go_ready(cl);
			return;
		}
		smtp_cl_fail(cl, SMTP_CLIENT_E_TLS, "STARTTLS refused: %d %.200s", r->code,
			r->text);
		return;
	case CL_READY:
		cl_cmd_reply(cl, r);
		return;
	default:
		smtp_cl_fail(cl, SMTP_CLIENT_E_PROTOCOL, "unexpected reply %d", r->code);
		return;
	}
}

/* Whether the state reads replies. */
static int cl_reading(const struct smtp_client *cl)
{
	return cl->st == CL_BANNER || cl->st == CL_EHLO || cl->st == CL_HELO ||
	       cl->st == CL_STARTTLS || cl->st == CL_READY;
}

/* Parse and dispatch every complete reply in the input buffer. */
void smtp_cl_input(struct smtp_client *cl)
{
	while (!bmx_guard_dead(&cl->guard) && cl->conn && cl_reading(cl)) {
		size_t avail = io_conn_in_len(cl->conn), got = 0;
		const char *err = NULL;

		if (avail == 0)
			return;
		const uint8_t *p = io_conn_peek(cl->conn, avail < SMTP_CLIENT_IN_MAX ?
						avail : SMTP_CLIENT_IN_MAX, &got);
		if (!p || got == 0)
			return;
		ssize_t n = smtp_reply_parse(p, got, &cl->reply, &err);
		if (n < 0) {
			smtp_cl_fail(cl, SMTP_CLIENT_E_PROTOCOL, "malformed reply: %s",
				err ? err : "bad syntax");
			return;
		}
		if (n == 0) {
			if (got >= SMTP_CLIENT_IN_MAX)
				smtp_cl_fail(cl, SMTP_CLIENT_E_PROTOCOL,
					"reply longer than %d bytes", SMTP_CLIENT_IN_MAX);
			return;
		}
		io_conn_consume(cl->conn, (size_t)n);
		cl_reply(cl, &cl->reply);
	}
}
