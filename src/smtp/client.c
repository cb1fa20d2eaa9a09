/*
 * client.c - the asynchronous SMTP client session on the io loop.
 *
 * A small state machine (connect, banner, EHLO/HELO, STARTTLS, ready) and
 * a FIFO of queued commands whose replies are matched in order.  One
 * deadline timer covers whatever we are waiting for (connect, the banner,
 * the reply of the oldest command in flight, or body progress); a kick
 * timer starts the connect and reports failures and EOF from the loop, never
 * from inside an API call.  This file holds the session's lifecycle, its
 * timers and connection events, the command queue and the public API; the
 * replies are handled in client_reply.c, DATA bodies are streamed by
 * client_body.c, and the struct they share is in client_int.h.
 *
 * Callbacks run only from loop events.  Every entry from the loop is
 * bracketed by the client's struct bmx_guard: smtp_client_free() from inside
 * a callback kills the guard, no callback runs afterwards, and the final
 * free happens when the last frame leaves.
 */
#include "smtp/client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "smtp/client_int.h"

#define SMTP_CLIENT_CMD_MAX 2048   /* one command line we build, incl. CRLF */

/* Monotonic time in milliseconds with sub-millisecond precision. */
double smtp_cl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Fill t with the RFC 5321 4.5.3.2 defaults. */
void smtp_client_timeouts_rfc(struct smtp_client_timeouts *t)
{
	t->connect = SMTP_CLIENT_T_CONNECT;
	t->banner = SMTP_CLIENT_T_BANNER;
	t->helo = SMTP_CLIENT_T_HELO;
	t->starttls = SMTP_CLIENT_T_STARTTLS;
	t->mail = SMTP_CLIENT_T_MAIL;
	t->rcpt = SMTP_CLIENT_T_RCPT;
	t->data_init = SMTP_CLIENT_T_DATA_INIT;
	t->data_block = SMTP_CLIENT_T_DATA_BLOCK;
	t->data_term = SMTP_CLIENT_T_DATA_TERM;
	t->misc = SMTP_CLIENT_T_MISC;
}

/* Set every deadline to ms. */
void smtp_client_timeouts_all(struct smtp_client_timeouts *t, uint64_t ms)
{
	t->connect = t->banner = t->helo = t->starttls = t->mail = t->rcpt = ms;
	t->data_init = t->data_block = t->data_term = t->misc = ms;
}

/* Stable short name of an error. */
const char *smtp_client_error_name(enum smtp_client_error e)
{
	static const char *const names[] = {
		"none", "refused", "connect", "timeout", "tls", "protocol", "closed", "rejected",
		"local",
	};
	if ((unsigned)e < sizeof(names) / sizeof(names[0]))
		return names[e];
	return "unknown";
}

/* Release every resource; the struct itself last. */
static void cl_destroy(struct smtp_client *cl)
{
	struct cl_cmd *c;

	while ((c = TAILQ_FIRST(&cl->q)) != NULL) {
		TAILQ_REMOVE(&cl->q, c, link);
		free(c);
	}
	if (cl->conn)
		io_conn_free(cl->conn);
	if (cl->deadline)
		io_timer_free(cl->deadline);
	if (cl->kick)
		io_timer_free(cl->kick);
	free(cl->body_in);
	free(cl->body_out);
	free(cl);
}

/* Enter the client from a loop callback (guard). */
static void cl_enter(struct smtp_client *cl)
{
	bmx_guard_enter(&cl->guard);
}

/* Leave a loop callback; destroy the client if it was freed meanwhile. */
static void cl_leave(struct smtp_client *cl)
{
	if (bmx_guard_leave(&cl->guard))
		cl_destroy(cl);
}

/* Stop both timers and free the connection. */
static void cl_release(struct smtp_client *cl)
{
	if (cl->deadline)
		io_timer_del(cl->deadline);
	if (cl->kick)
		io_timer_del(cl->kick);
	if (cl->conn) {
		io_conn_free(cl->conn);
		cl->conn = NULL;
	}
}

/* Close the connection and stop all timers (terminal states). */
static void cl_close(struct smtp_client *cl)
{
	cl_release(cl);
	cl->info.total_ms = smtp_cl_now() - cl->t0;
}

/* Free the client, or defer the free until our callback returns. */
void smtp_client_free(struct smtp_client *cl)
{
	if (!cl || bmx_guard_dead(&cl->guard))
		return;
	int now = bmx_guard_kill(&cl->guard);
	cl_release(cl);
	if (now)
		cl_destroy(cl);
}

/* Arm the deadline timer for ms milliseconds. */
void smtp_cl_arm(struct smtp_client *cl, uint64_t ms)
{
	io_timer_add(cl->deadline, ms);
}

/* Reply every queued command (and an XCLIENT waiting for its EHLO) with
 * NULL; 1 if the client was freed meanwhile. */
static int cl_flush_queue(struct smtp_client *cl)
{
	struct cl_cmd *c;
	smtp_client_reply_cb xc = cl->xc_cb;

	cl->xc_cb = NULL;
	if (xc) {
		xc(cl, NULL, cl->xc_arg);
		if (bmx_guard_dead(&cl->guard))
			return 1;
	}
	while ((c = TAILQ_FIRST(&cl->q)) != NULL) {
		TAILQ_REMOVE(&cl->q, c, link);
		cl->nq--;
		smtp_client_reply_cb cb = c->cb;
		void *arg = c->arg;
		free(c);
		if (cb)
			cb(cl, NULL, arg);
		if (bmx_guard_dead(&cl->guard))
			return 1;
	}
	return 0;
}

/* Fail the session: close, answer queued commands with NULL, report ERROR. */
void smtp_cl_fail(struct smtp_client *cl, enum smtp_client_error e, const char *fmt, ...)
{
	va_list ap;

	if (cl->st == CL_DONE || cl->st == CL_FAILED || bmx_guard_dead(&cl->guard))
		return;
	cl->st = CL_FAILED;
	cl->info.err = e;
	va_start(ap, fmt);
	vsnprintf(cl->info.errtext, sizeof(cl->info.errtext), fmt, ap);
	va_end(ap);
	for (char *p = cl->info.errtext; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	cl_close(cl);
	log_debug("smtp client: %s: %s", smtp_client_error_name(e), cl->info.errtext);
	if (cl_flush_queue(cl))
		return;
	cl->cb(cl, SMTP_CLIENT_EV_ERROR, cl->arg);
}

/* Ask the kick timer to report a failure from the loop (never from an API call). */
static void cl_defer_fail(struct smtp_client *cl, enum smtp_client_error e, const char *text)
{
	if (cl->deferred_err)
		return;
	cl->deferred_err = (int)e;
	snprintf(cl->deferred_text, sizeof(cl->deferred_text), "%s", text);
	io_timer_add(cl->kick, 0);
}

/* The session ended normally after QUIT. */
void smtp_cl_done(struct smtp_client *cl)
{
	if (cl->st == CL_DONE || cl->st == CL_FAILED)
		return;
	cl->st = CL_DONE;
	cl_close(cl);
	if (cl_flush_queue(cl))
		return;
	cl->cb(cl, SMTP_CLIENT_EV_DONE, cl->arg);
}

/* Human name of what the current deadline guards. */
static const char *cl_waiting_for(struct smtp_client *cl)
{
	struct cl_cmd *c = TAILQ_FIRST(&cl->q);

	switch (cl->st) {
	case CL_START:
	case CL_CONNECTING: return "connecting";
	case CL_BANNER: return "waiting for the banner";
	case CL_EHLO: return "waiting for the EHLO reply";
	case CL_HELO: return "waiting for the HELO reply";
	case CL_STARTTLS: return "waiting for the STARTTLS reply";
	case CL_HANDSHAKE: return "in the TLS handshake";
	case CL_READY: break;
	default: return "idle";
	}
	if (!c || !c->sent)
		return "idle";
	switch (c->kind) {
	case K_MAIL: return "waiting for the MAIL reply";
	case K_RCPT: return "waiting for the RCPT reply";
	case K_DATA:
		if (c->phase == 0)
			return "waiting for the DATA reply";
		if (c->phase == 1)
			return "sending the message body";
		return "waiting for the end-of-data reply";
	case K_RSET: return "waiting for the RSET reply";
	case K_NOOP: return "waiting for the NOOP reply";
	case K_QUIT: return "waiting for the QUIT reply";
	case K_XFORWARD: return "waiting for the XFORWARD reply";
	case K_XCLIENT: return "waiting for the XCLIENT reply";
	}
	return "waiting";
}

/* Deadline expired. */
static void cl_deadline_cb(void *arg)
{
	struct smtp_client *cl = arg;

	cl_enter(cl);
	if (cl->st == CL_READY && TAILQ_FIRST(&cl->q) && TAILQ_FIRST(&cl->q)->kind == K_QUIT &&
	    TAILQ_FIRST(&cl->q)->sent) {
		/* a server that never answers QUIT: we are done anyway */
		cl->info.err = SMTP_CLIENT_E_TIMEOUT;
		snprintf(cl->info.errtext, sizeof(cl->info.errtext), "timeout waiting for the "
			 "QUIT reply");
		smtp_cl_done(cl);
	} else {
		smtp_cl_fail(cl, SMTP_CLIENT_E_TIMEOUT, "timeout %s", cl_waiting_for(cl));
	}
	cl_leave(cl);
}

/* Deadline for a command that is now the oldest in flight. */
uint64_t smtp_cl_cmd_timeout(struct smtp_client *cl, const struct cl_cmd *c)
{
	switch (c->kind) {
	case K_MAIL: return cl->to.mail;
	case K_RCPT: return cl->to.rcpt;
	case K_DATA:
		if (c->phase == 0)
			return cl->to.data_init;
		if (c->phase == 1)
			return cl->to.data_block;
		return cl->to.data_term;
	default: return cl->to.misc;
	}
}

/* Write bytes; on failure report it (from the loop). 0 or -1. */
int smtp_cl_write(struct smtp_client *cl, const void *buf, size_t len)
{
	if (!cl->conn)
		return -1;
	if (io_conn_write(cl->conn, buf, len) < 0) {
		cl_defer_fail(cl, SMTP_CLIENT_E_CLOSED, "write failed");
		return -1;
	}
	return 0;
}

/* Send EHLO or HELO (after XCLIENT: with the argument it asked for). */
void smtp_cl_send_helo(struct smtp_client *cl, int helo)
{
	char line[SMTP_DOMAIN_MAX + 16];
	const char *name = cl->reehlo && cl->reehlo_name[0] ? cl->reehlo_name : cl->helo;
	int n = snprintf(line, sizeof(line), "%s %s\r\n", helo ? "HELO" : "EHLO", name);

	cl->st = helo ? CL_HELO : CL_EHLO;
	smtp_cl_arm(cl, cl->to.helo);
	smtp_cl_write(cl, line, (size_t)n);
}

/* Commands that must end a pipelined group (RFC 2920 3.1). */
static int cl_is_ender(const struct cl_cmd *c)
{
	return c->kind == K_DATA || c->kind == K_NOOP || c->kind == K_QUIT ||
	       c->kind == K_XCLIENT;
}

/* Send whatever queued commands the pipelining rules allow now. */
void smtp_cl_pump(struct smtp_client *cl)
{
	struct cl_cmd *c;
	int inflight = 0, ender = 0;
	int pipelining = (cl->info.caps.flags & SMTP_CAP_PIPELINING) != 0;

	if (cl->st != CL_READY || bmx_guard_dead(&cl->guard) || !cl->conn || cl->reehlo)
		return;
	TAILQ_FOREACH(c, &cl->q, link) {
		/* cppcheck-suppress uninitvar ; commands are calloc'd in cl_enqueue() */
		if (c->sent) {
			inflight = 1;
			ender |= cl_is_ender(c);
			continue;
		}
		if (inflight && (!pipelining || ender))
			break;
		if (smtp_cl_write(cl, c->line, c->linelen) < 0)
			return;
		c->sent = 1;
		if (!inflight)
			smtp_cl_arm(cl, smtp_cl_cmd_timeout(cl, c));
		inflight = 1;
		ender |= cl_is_ender(c);
	}
}

/* The QUIT command was sent (EOF after it is a normal end). */
static int cl_quit_sent(const struct smtp_client *cl)
{
	const struct cl_cmd *c = TAILQ_FIRST(&cl->q);

	return cl->st == CL_READY && c && c->kind == K_QUIT && c->sent;
}

/* The connection closed or failed (ev is IO_EV_EOF or IO_EV_ERROR). */
static void cl_conn_closed(struct smtp_client *cl, enum io_event ev, const char *e)
{
	if (bmx_guard_dead(&cl->guard) || cl->st == CL_DONE || cl->st == CL_FAILED)
		return;
	if (!e || !*e)
		e = ev == IO_EV_EOF ? "connection closed by the server" : "error";
	if (cl->st == CL_CONNECTING) {
		if (strcasestr(e, "refused"))
			smtp_cl_fail(cl, SMTP_CLIENT_E_REFUSED, "connect: %s", e);
		else
			smtp_cl_fail(cl, SMTP_CLIENT_E_CONNECT, "connect: %s", e);
	} else if (cl->st == CL_HANDSHAKE) {
		smtp_cl_fail(cl, SMTP_CLIENT_E_TLS, "TLS handshake: %s", e);
	} else if (cl_quit_sent(cl)) {
		smtp_cl_done(cl);
	} else if (ev == IO_EV_EOF) {
		smtp_cl_fail(cl, SMTP_CLIENT_E_CLOSED, "connection closed by the server %s",
			cl_waiting_for(cl));
	} else {
		smtp_cl_fail(cl, SMTP_CLIENT_E_CLOSED, "connection error %s: %s",
			cl_waiting_for(cl), e);
	}
}

/* Handle one connection event. */
static void cl_conn_event(struct smtp_client *cl, struct io_conn *c, enum io_event ev)
{
	struct cl_cmd *head;

	switch (ev) {
	case IO_EV_CONNECTED:
		if (cl->st != CL_CONNECTING)
			return;
		cl->info.connected = 1;
		cl->info.connect_ms = smtp_cl_now() - cl->t0;
		cl->st = CL_BANNER;
		smtp_cl_arm(cl, cl->to.banner);
		smtp_cl_input(cl);
		return;
	case IO_EV_READ:
		smtp_cl_input(cl);
		return;
	case IO_EV_DRAINED:
		head = TAILQ_FIRST(&cl->q);
		if (cl->st == CL_READY && head && head->kind == K_DATA && head->phase == 1)
			smtp_cl_body_pump(cl, head);
		return;
	case IO_EV_TLS_READY:
		if (cl->st != CL_HANDSHAKE)
			return;
		io_conn_tls_info(c, &cl->info.tls);
		cl->info.tls.active = 1;
		if (cl->tls_mode == SMTP_CLIENT_TLS_VERIFY &&
		    !(cl->info.tls.verified && cl->info.tls.name_match)) {
			smtp_cl_fail(cl, SMTP_CLIENT_E_TLS, "certificate does not verify: %s",
				cl->info.tls.verified ? "name mismatch" :
				cl->info.tls.verify_error);
			return;
		}
		smtp_cl_send_helo(cl, 0);
		return;
	case IO_EV_EOF:
	case IO_EV_ERROR:
		if (cl->st == CL_CONNECTING || cl->st == CL_HANDSHAKE) {
			cl_conn_closed(cl, ev, io_conn_error(c));
			return;
		}
		/* libevent's TLS filter reports EOF before it commits the last
		 * decrypted bytes (e.g. "221 Bye" + close_notify in one segment):
		 * read what arrives in this pass, then handle the close */
		if (!cl->eof_pending) {
			cl->eof_pending = 1;
			cl->eof_ev = ev;
			snprintf(cl->eof_text, sizeof(cl->eof_text), "%s", io_conn_error(c));
			io_timer_add(cl->kick, 0);
		}
		return;
	case IO_EV_TIMEOUT:
		return;   /* we use our own deadline timer */
	}
}

/* io callback: guard against reentrancy and events during io_conn_connect(). */
static void cl_conn_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct smtp_client *cl = arg;

	if (cl->in_connect) {
		cl->sync_ev_pending = 1;
		cl->sync_ev = ev;
		return;
	}
	if (bmx_guard_dead(&cl->guard))
		return;
	cl_enter(cl);
	cl_conn_event(cl, c, ev);
	cl_leave(cl);
}

/* Kick timer: start the connect, or report a deferred failure. */
static void cl_kick_cb(void *arg)
{
	struct smtp_client *cl = arg;

	cl_enter(cl);
	if (cl->eof_pending && cl->conn) {
		smtp_cl_input(cl);
		if (!bmx_guard_dead(&cl->guard))
			cl_conn_closed(cl, cl->eof_ev, cl->eof_text);
	} else if (cl->deferred_err) {
		smtp_cl_fail(cl, (enum smtp_client_error)cl->deferred_err, "%s", cl->deferred_text);
	} else if (cl->st == CL_START) {
		cl->st = CL_CONNECTING;
		smtp_cl_arm(cl, cl->to.connect);
		cl->in_connect = 1;
		struct io_conn *c = io_conn_connect(cl->loop, (struct sockaddr *)&cl->sa, cl->salen,
						    cl->srclen ? (struct sockaddr *)&cl->src : NULL,
						    cl->srclen, cl_conn_cb, cl);
		cl->in_connect = 0;
		if (!c) {
			smtp_cl_fail(cl, SMTP_CLIENT_E_CONNECT, "connect: cannot start: %s",
				strerror(errno));
		} else {
			cl->conn = c;
			if (cl->sync_ev_pending) {
				cl->sync_ev_pending = 0;
				cl_conn_event(cl, c, cl->sync_ev);
			}
		}
	}
	cl_leave(cl);
}

/* Whether name can be an EHLO argument: 1 to 255 printable ASCII octets, no space. */
static int cl_helo_ok(const char *name)
{
	if (!name || !*name || strlen(name) > SMTP_DOMAIN_MAX)
		return 0;
	for (const char *p = name; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	}
	return 1;
}

/* Set the EHLO argument: name, or gethostname() when NULL or empty; 0, or
 * -1 when it holds controls, spaces or non-ASCII. */
static int cl_helo_set(struct smtp_client *cl, const char *name)
{
	const char *helo = name;
	char host[SMTP_DOMAIN_MAX + 1];
	if (!helo || !*helo) {
		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		helo = host;
	}
	if (!cl_helo_ok(helo))
		return -1;
	snprintf(cl->helo, sizeof(cl->helo), "%s", helo);
	return 0;
}

/* Set the deadlines: those of t, the RFC default where t has 0. */
static void cl_timeouts_set(struct smtp_client *cl, const struct smtp_client_timeouts *t)
{
	struct smtp_client_timeouts def;
	smtp_client_timeouts_rfc(&def);
	cl->to.connect = t->connect ? t->connect : def.connect;
	cl->to.banner = t->banner ? t->banner : def.banner;
	cl->to.helo = t->helo ? t->helo : def.helo;
	cl->to.starttls = t->starttls ? t->starttls : def.starttls;
	cl->to.mail = t->mail ? t->mail : def.mail;
	cl->to.rcpt = t->rcpt ? t->rcpt : def.rcpt;
	cl->to.data_init = t->data_init ? t->data_init : def.data_init;
	cl->to.data_block = t->data_block ? t->data_block : def.data_block;
	cl->to.data_term = t->data_term ? t->data_term : def.data_term;
	cl->to.misc = t->misc ? t->misc : def.misc;
}

/* Start a session. */
struct smtp_client *smtp_client_new(struct io_loop *loop, const struct sockaddr *sa,
				    socklen_t salen, const struct smtp_client_opts *opts,
				    smtp_client_event_cb cb, void *arg)
{
	struct smtp_client_opts none;

	if (!loop || !sa || !cb || salen == 0 || salen > sizeof(struct sockaddr_storage))
		return NULL;
	if (!opts) {
		memset(&none, 0, sizeof(none));
		opts = &none;
	}
	if (opts->tls_mode != SMTP_CLIENT_TLS_NONE && !opts->tls)
		return NULL;
	if (opts->src && opts->srclen > sizeof(struct sockaddr_storage))
		return NULL;
	struct smtp_client *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return NULL;
	TAILQ_INIT(&cl->q);
	cl->loop = loop;
	memcpy(&cl->sa, sa, salen);
	cl->salen = salen;
	if (opts->src && opts->srclen) {
		memcpy(&cl->src, opts->src, opts->srclen);
		cl->srclen = opts->srclen;
	}
	if (cl_helo_set(cl, opts->helo_name) < 0) {
		free(cl);
		return NULL;
	}
	cl->tls_mode = opts->tls_mode;
	cl->tls = opts->tls;
	if (opts->tls_host)
		snprintf(cl->tls_host, sizeof(cl->tls_host), "%s", opts->tls_host);
	cl_timeouts_set(cl, &opts->timeouts);
	cl->cb = cb;
	cl->arg = arg;
	cl->info.connect_ms = cl->info.banner_ms = cl->info.total_ms = -1;
	cl->t0 = smtp_cl_now();
	cl->deadline = io_timer_new(loop, cl_deadline_cb, cl);
	cl->kick = io_timer_new(loop, cl_kick_cb, cl);
	if (!cl->deadline || !cl->kick) {
		cl_destroy(cl);
		return NULL;
	}
	io_timer_add(cl->kick, 0);
	return cl;
}

/* Whether s is a safe mailbox for a command (no controls, spaces or brackets). */
static int cl_addr_ok(const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch <= 0x20 || ch == 0x7f || ch == '<' || ch == '>')
			return 0;
	}
	return 1;
}

/* Whether s is safe as ESMTP parameters (printable, spaces allowed). */
static int cl_params_ok(const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f)
			return 0;
	}
	return 1;
}

static struct cl_cmd *cl_enqueue(struct smtp_client *cl, enum cl_kind kind,
				 smtp_client_reply_cb cb, void *arg, const char *extra,
				 const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Append a command to the queue and send it if the pipelining rules allow;
 * extra (may be NULL) is kept with it as c->ehlo. */
static struct cl_cmd *cl_enqueue(struct smtp_client *cl, enum cl_kind kind,
				 smtp_client_reply_cb cb, void *arg, const char *extra,
				 const char *fmt, ...)
{
	char line[SMTP_CLIENT_CMD_MAX];
	va_list ap;

	if (!cl || bmx_guard_dead(&cl->guard) || cl->st == CL_DONE || cl->st == CL_FAILED ||
	    cl->quit_queued)
		return NULL;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return NULL;
	size_t xlen = extra ? strlen(extra) + 1 : 0;
	struct cl_cmd *c = calloc(1, sizeof(*c) + (size_t)n + 1 + xlen);
	if (!c)
		return NULL;
	if (extra) {
		memcpy(c->line + n + 1, extra, xlen);
		c->ehlo = c->line + n + 1;
	}
	c->kind = kind;
	c->cb = cb;
	c->arg = arg;
	c->fd = -1;
	c->linelen = (size_t)n;
	memcpy(c->line, line, (size_t)n + 1);
	TAILQ_INSERT_TAIL(&cl->q, c, link);
	cl->nq++;
	if (kind == K_QUIT)
		cl->quit_queued = 1;
	smtp_cl_pump(cl);
	return c;
}

/* Queue MAIL FROM. */
int smtp_client_mail(struct smtp_client *cl, const char *from, const char *params,
		     smtp_client_reply_cb cb, void *arg)
{
	if (!from || !cl_addr_ok(from) || (params && !cl_params_ok(params)))
		return -1;
	return cl_enqueue(cl, K_MAIL, cb, arg, NULL, "MAIL FROM:<%s>%s%s\r\n", from,
			  params && *params ? " " : "", params ? params : "") ? 0 : -1;
}

/* Queue "XFORWARD attrs" (attrs: NAME=value ... with xtext values, printable
 * ASCII, at most SMTP_CLIENT_XFORWARD_MAX octets); pipelined like MAIL. */
int smtp_client_xforward(struct smtp_client *cl, const char *attrs, smtp_client_reply_cb cb,
			 void *arg)
{
	if (!attrs || !*attrs || strlen(attrs) > SMTP_CLIENT_XFORWARD_MAX || !cl_params_ok(attrs))
		return -1;
	return cl_enqueue(cl, K_XFORWARD, cb, arg, NULL, "XFORWARD %s\r\n", attrs) ? 0 : -1;
}

/* Queue RCPT TO. */
int smtp_client_rcpt(struct smtp_client *cl, const char *to, const char *params,
		     smtp_client_reply_cb cb, void *arg)
{
	if (!to || !*to || !cl_addr_ok(to) || (params && !cl_params_ok(params)))
		return -1;
	return cl_enqueue(cl, K_RCPT, cb, arg, NULL, "RCPT TO:<%s>%s%s\r\n", to,
			  params && *params ? " " : "", params ? params : "") ? 0 : -1;
}

/* Queue DATA with a body in memory. */
int smtp_client_data(struct smtp_client *cl, const void *buf, size_t len,
		     smtp_client_reply_cb cb, void *arg)
{
	if (!buf && len)
		return -1;
	struct cl_cmd *c = cl_enqueue(cl, K_DATA, cb, arg, NULL, "DATA\r\n");
	if (!c)
		return -1;
	c->buf = buf;
	c->len = len;
	return 0;
}

/* Queue DATA with a body of len bytes read from an fd at off. */
int smtp_client_data_fd(struct smtp_client *cl, int fd, off_t off, size_t len,
			smtp_client_reply_cb cb, void *arg)
{
	if (fd < 0 || off < 0)
		return -1;
	struct cl_cmd *c = cl_enqueue(cl, K_DATA, cb, arg, NULL, "DATA\r\n");
	if (!c)
		return -1;
	c->from_fd = 1;
	c->fd = fd;
	c->off = off;
	c->len = len;
	return 0;
}

/* Queue XCLIENT (attrs: NAME=value ... with xtext values); ehlo: the EHLO
 * argument after its 220 (NULL or not a valid argument: ours). */
int smtp_client_xclient(struct smtp_client *cl, const char *attrs, const char *ehlo,
			smtp_client_reply_cb cb, void *arg)
{
	if (!attrs || !*attrs || strlen(attrs) > SMTP_CLIENT_XCLIENT_MAX || !cl_params_ok(attrs))
		return -1;
	return cl_enqueue(cl, K_XCLIENT, cb, arg, cl_helo_ok(ehlo) ? ehlo : NULL,
			  "XCLIENT %s\r\n", attrs) ? 0 : -1;
}

/* Queue DATA with a body the caller streams. */
int smtp_client_data_stream(struct smtp_client *cl, smtp_client_reply_cb cb,
			    smtp_client_more_cb more, void *arg)
{
	if (!more)
		return -1;
	struct cl_cmd *c = cl_enqueue(cl, K_DATA, cb, arg, NULL, "DATA\r\n");
	if (!c)
		return -1;
	c->stream = 1;
	c->more = more;
	return 0;
}

/* Queue RSET. */
int smtp_client_rset(struct smtp_client *cl, smtp_client_reply_cb cb, void *arg)
{
	return cl_enqueue(cl, K_RSET, cb, arg, NULL, "RSET\r\n") ? 0 : -1;
}

/* Queue NOOP. */
int smtp_client_noop(struct smtp_client *cl, smtp_client_reply_cb cb, void *arg)
{
	return cl_enqueue(cl, K_NOOP, cb, arg, NULL, "NOOP\r\n") ? 0 : -1;
}

/* Queue QUIT. */
int smtp_client_quit(struct smtp_client *cl, smtp_client_reply_cb cb, void *arg)
{
	return cl_enqueue(cl, K_QUIT, cb, arg, NULL, "QUIT\r\n") ? 0 : -1;
}

/* Session facts. */
const struct smtp_client_info *smtp_client_info(const struct smtp_client *cl)
{
	return &cl->info;
}

/* Commands queued or in flight. */
size_t smtp_client_pending(const struct smtp_client *cl)
{
	return cl->nq;
}
