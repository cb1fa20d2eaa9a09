/*
 * client.c - the asynchronous SMTP client session on the io loop.
 *
 * A small state machine (connect, banner, EHLO/HELO, STARTTLS, ready) and
 * a FIFO of queued commands whose replies are matched in order.  One
 * deadline timer covers whatever we are waiting for (connect, the banner,
 * the reply of the oldest command in flight, or body progress).  Replies are
 * parsed with the pure smtp_reply_parse() straight from the connection's
 * input buffer, never reading more than SMTP_CLIENT_IN_MAX bytes of one
 * reply.  Callbacks run only from loop events; a busy counter defers the
 * final free when smtp_client_free() is called from inside a callback.
 */
#include "smtp/client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define SMTP_CLIENT_CMD_MAX 2048   /* one command line we build, incl. CRLF */

enum cl_state {
	CL_START = 0,   /* connect scheduled */
	CL_CONNECTING,
	CL_BANNER,
	CL_EHLO,
	CL_HELO,
	CL_STARTTLS,    /* STARTTLS sent, waiting for 220 */
	CL_HANDSHAKE,   /* TLS handshake running */
	CL_READY,
	CL_DONE,
	CL_FAILED,
};

enum cl_kind { K_MAIL, K_RCPT, K_DATA, K_RSET, K_NOOP, K_QUIT };

struct cl_cmd {
	TAILQ_ENTRY(cl_cmd) link;
	enum cl_kind kind;
	int sent;
	int phase;               /* DATA: 0 await 354, 1 sending body, 2 await final reply */
	const uint8_t *buf;      /* DATA from a buffer */
	size_t len, pos;
	int from_fd;             /* DATA from an fd */
	int fd;
	off_t off;
	smtp_client_reply_cb cb;
	void *arg;
	size_t linelen;
	char line[];
};

TAILQ_HEAD(cl_queue, cl_cmd);

struct smtp_client {
	struct io_loop *loop;
	struct io_conn *conn;
	struct io_timer *deadline;
	struct io_timer *kick;       /* starts the connect; delivers deferred failures */
	struct sockaddr_storage sa;
	socklen_t salen;
	struct sockaddr_storage src;
	socklen_t srclen;
	char helo[SMTP_DOMAIN_MAX + 1];
	enum smtp_client_tls tls_mode;
	struct io_tls *tls;
	char tls_host[SMTP_DOMAIN_MAX + 1];
	struct smtp_client_timeouts to;
	smtp_client_event_cb cb;
	void *arg;
	enum cl_state st;
	struct cl_queue q;
	size_t nq;
	int quit_queued;
	int busy;                    /* nesting depth of our loop callbacks */
	int freed;                   /* smtp_client_free() was called */
	int in_connect;              /* inside io_conn_connect() */
	int sync_ev_pending;         /* an event arrived inside io_conn_connect() */
	enum io_event sync_ev;
	int deferred_err;            /* failure to report from the kick timer */
	int eof_pending;             /* EOF/ERROR seen; handled on the next loop pass */
	enum io_event eof_ev;
	char eof_text[SMTP_CLIENT_ERR_MAX];
	char deferred_text[SMTP_CLIENT_ERR_MAX];
	int txn_rcpts, txn_ok;       /* RCPT replies in the current transaction */
	int bol;                     /* body: at the beginning of a line */
	uint8_t last[2];             /* body: last two octets */
	unsigned long long body_total;
	uint8_t *body_in, *body_out; /* body scratch buffers */
	double t0;
	struct smtp_reply reply;     /* the reply being dispatched */
	struct smtp_client_info info;
};

static void cl_fail(struct smtp_client *cl, enum smtp_client_error e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cl_pump(struct smtp_client *cl);

/* Monotonic time in milliseconds with sub-millisecond precision. */
static double cl_now(void)
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

/* Mark entry into a loop callback. */
static void cl_enter(struct smtp_client *cl)
{
	cl->busy++;
}

/* Leave a loop callback; finish a free requested meanwhile. */
static void cl_leave(struct smtp_client *cl)
{
	if (--cl->busy == 0 && cl->freed)
		cl_destroy(cl);
}

/* Close the connection and stop all timers (terminal states). */
static void cl_close(struct smtp_client *cl)
{
	if (cl->deadline)
		io_timer_del(cl->deadline);
	if (cl->kick)
		io_timer_del(cl->kick);
	if (cl->conn) {
		io_conn_free(cl->conn);
		cl->conn = NULL;
	}
	cl->info.total_ms = cl_now() - cl->t0;
}

/* Free the client, or defer the free until our callback returns. */
void smtp_client_free(struct smtp_client *cl)
{
	if (!cl || cl->freed)
		return;
	cl->freed = 1;
	if (cl->deadline)
		io_timer_del(cl->deadline);
	if (cl->kick)
		io_timer_del(cl->kick);
	if (cl->conn) {
		io_conn_free(cl->conn);
		cl->conn = NULL;
	}
	if (cl->busy == 0)
		cl_destroy(cl);
}

/* Arm the deadline timer for ms milliseconds. */
static void cl_arm(struct smtp_client *cl, uint64_t ms)
{
	io_timer_add(cl->deadline, ms);
}

/* Reply every queued command with NULL; 1 if the client was freed meanwhile. */
static int cl_flush_queue(struct smtp_client *cl)
{
	struct cl_cmd *c;

	while ((c = TAILQ_FIRST(&cl->q)) != NULL) {
		TAILQ_REMOVE(&cl->q, c, link);
		cl->nq--;
		smtp_client_reply_cb cb = c->cb;
		void *arg = c->arg;
		free(c);
		if (cb)
			cb(cl, NULL, arg);
		if (cl->freed)
			return 1;
	}
	return 0;
}

/* Fail the session: close, answer queued commands with NULL, report ERROR. */
static void cl_fail(struct smtp_client *cl, enum smtp_client_error e, const char *fmt, ...)
{
	va_list ap;

	if (cl->st == CL_DONE || cl->st == CL_FAILED || cl->freed)
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
static void cl_done(struct smtp_client *cl)
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
		cl_done(cl);
	} else {
		cl_fail(cl, SMTP_CLIENT_E_TIMEOUT, "timeout %s", cl_waiting_for(cl));
	}
	cl_leave(cl);
}

/* Deadline for a command that is now the oldest in flight. */
static uint64_t cl_cmd_timeout(struct smtp_client *cl, const struct cl_cmd *c)
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
static int cl_write(struct smtp_client *cl, const void *buf, size_t len)
{
	if (!cl->conn)
		return -1;
	if (io_conn_write(cl->conn, buf, len) < 0) {
		cl_defer_fail(cl, SMTP_CLIENT_E_CLOSED, "write failed");
		return -1;
	}
	return 0;
}

/* Send EHLO or HELO. */
static void cl_send_helo(struct smtp_client *cl, int helo)
{
	char line[SMTP_DOMAIN_MAX + 16];
	int n = snprintf(line, sizeof(line), "%s %s\r\n", helo ? "HELO" : "EHLO", cl->helo);

	cl->st = helo ? CL_HELO : CL_EHLO;
	cl_arm(cl, cl->to.helo);
	cl_write(cl, line, (size_t)n);
}

/* Greeting finished: report READY and start sending queued commands. */
static void cl_go_ready(struct smtp_client *cl)
{
	cl->st = CL_READY;
	io_timer_del(cl->deadline);
	cl->cb(cl, SMTP_CLIENT_EV_READY, cl->arg);
	if (cl->freed || cl->st != CL_READY)
		return;
	cl_pump(cl);
}

/* Commands that must end a pipelined group (RFC 2920 3.1). */
static int cl_is_ender(const struct cl_cmd *c)
{
	return c->kind == K_DATA || c->kind == K_NOOP || c->kind == K_QUIT;
}

/* Send whatever queued commands the pipelining rules allow now. */
static void cl_pump(struct smtp_client *cl)
{
	struct cl_cmd *c;
	int inflight = 0, ender = 0;
	int pipelining = (cl->info.caps.flags & SMTP_CAP_PIPELINING) != 0;

	if (cl->st != CL_READY || cl->freed || !cl->conn)
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
		if (cl_write(cl, c->line, c->linelen) < 0)
			return;
		c->sent = 1;
		if (!inflight)
			cl_arm(cl, cl_cmd_timeout(cl, c));
		inflight = 1;
		ender |= cl_is_ender(c);
	}
}

/* Dot-stuff n body octets and queue them on the connection. */
static int cl_body_write(struct smtp_client *cl, const uint8_t *p, size_t n)
{
	uint8_t *o = cl->body_out;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (cl->bol && p[i] == '.')
			o[k++] = '.';
		o[k++] = p[i];
		cl->bol = (p[i] == '\n');
	}
	if (n >= 2) {
		cl->last[0] = p[n - 2];
		cl->last[1] = p[n - 1];
	} else if (n == 1) {
		cl->last[0] = cl->last[1];
		cl->last[1] = p[0];
	}
	cl->body_total += n;
	return cl_write(cl, o, k);
}

/* Push body bytes until the socket buffer is full or the body ends. */
static void cl_body_pump(struct smtp_client *cl, struct cl_cmd *c)
{
	while (cl->conn && io_conn_out_len(cl->conn) < SMTP_CLIENT_OUT_HIGH) {
		const uint8_t *p;
		size_t n;

		if (c->from_fd) {
			size_t want = c->len - c->pos;
			if (want > SMTP_CLIENT_BODY_CHUNK)
				want = SMTP_CLIENT_BODY_CHUNK;
			ssize_t r = want ? pread(c->fd, cl->body_in, want, c->off) : 0;
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				cl_fail(cl, SMTP_CLIENT_E_LOCAL, "reading the message body: %s",
					strerror(errno));
				return;
			}
			if (r == 0 && want) {
				cl_fail(cl, SMTP_CLIENT_E_LOCAL, "the message body is shorter than "
					"expected");
				return;
			}
			p = cl->body_in;
			n = (size_t)r;
			c->off += r;
			c->pos += n;
		} else {
			n = c->len - c->pos;
			if (n > SMTP_CLIENT_BODY_CHUNK)
				n = SMTP_CLIENT_BODY_CHUNK;
			p = c->buf + c->pos;
			c->pos += n;
		}
		if (n == 0) {
			if (cl->body_total > 0 && !(cl->last[0] == '\r' && cl->last[1] == '\n'))
				cl_write(cl, "\r\n", 2);
			cl_write(cl, ".\r\n", 3);
			c->phase = 2;
			cl_arm(cl, cl->to.data_term);
			return;
		}
		if (cl_body_write(cl, p, n) < 0)
			return;
	}
	cl_arm(cl, cl->to.data_block);
}

/* 354 arrived: start sending the body (or just "." when no RCPT was accepted). */
static void cl_body_start(struct smtp_client *cl, struct cl_cmd *c)
{
	c->phase = 1;
	cl->bol = 1;
	cl->last[0] = cl->last[1] = 0;
	cl->body_total = 0;
	if (cl->txn_rcpts > 0 && cl->txn_ok == 0) {
		/* RFC 2920 3.1: no valid recipient, end the empty transaction */
		cl_write(cl, ".\r\n", 3);
		c->phase = 2;
		cl_arm(cl, cl->to.data_term);
		return;
	}
	if (!cl->body_in)
		cl->body_in = malloc(SMTP_CLIENT_BODY_CHUNK);
	if (!cl->body_out)
		cl->body_out = malloc(2 * SMTP_CLIENT_BODY_CHUNK);
	if (!cl->body_in || !cl->body_out) {
		cl_fail(cl, SMTP_CLIENT_E_LOCAL, "out of memory");
		return;
	}
	cl_body_pump(cl, c);
}

/* A reply for the oldest command in flight (state READY). */
static void cl_cmd_reply(struct smtp_client *cl, const struct smtp_reply *r)
{
	struct cl_cmd *c = TAILQ_FIRST(&cl->q);

	if (!c || !c->sent) {
		if (r->code == 421)
			cl_fail(cl, SMTP_CLIENT_E_CLOSED, "server closing: 421 %.200s", r->text);
		else
			cl_fail(cl, SMTP_CLIENT_E_PROTOCOL, "unsolicited reply %d %.200s", r->code,
				r->text);
		return;
	}
	if (c->kind == K_DATA && c->phase == 0 && r->code == 354) {
		cl_body_start(cl, c);
		return;
	}
	int early = (c->kind == K_DATA && c->phase == 1);
	enum cl_kind kind = c->kind;
	TAILQ_REMOVE(&cl->q, c, link);
	cl->nq--;
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
	if (cl->freed || cl->st != CL_READY)
		return;
	if (kind == K_QUIT) {
		cl_done(cl);
		return;
	}
	if (early) {
		cl_fail(cl, SMTP_CLIENT_E_PROTOCOL, "server replied %d during the message body",
			r->code);
		return;
	}
	if (r->code == 421) {
		cl_fail(cl, SMTP_CLIENT_E_CLOSED, "server closing: 421 %.200s", r->text);
		return;
	}
	struct cl_cmd *head = TAILQ_FIRST(&cl->q);
	if (head && head->sent)
		cl_arm(cl, cl_cmd_timeout(cl, head));
	else
		io_timer_del(cl->deadline);
	cl_pump(cl);
}

/* Decide about STARTTLS after a successful EHLO, or go ready. */
static void cl_after_ehlo(struct smtp_client *cl)
{
	if (!cl->info.tls.active && cl->tls_mode != SMTP_CLIENT_TLS_NONE) {
		if (cl->info.caps.flags & SMTP_CAP_STARTTLS) {
			cl->st = CL_STARTTLS;
			cl->info.starttls_tried = 1;
			cl_arm(cl, cl->to.starttls);
			cl_write(cl, "STARTTLS\r\n", 10);
			return;
		}
		if (cl->tls_mode >= SMTP_CLIENT_TLS_ENCRYPT) {
			cl_fail(cl, SMTP_CLIENT_E_TLS, "STARTTLS not offered");
			return;
		}
	}
	cl_go_ready(cl);
}

/* Dispatch one complete reply according to the state. */
static void cl_reply(struct smtp_client *cl, const struct smtp_reply *r)
{
	switch (cl->st) {
	case CL_BANNER:
		cl->info.banner = *r;
		cl->info.banner_ms = cl_now() - cl->t0 - cl->info.connect_ms;
		if (r->code != 220) {
			cl_fail(cl, SMTP_CLIENT_E_REJECTED, "banner: %d %.200s", r->code, r->text);
			return;
		}
		cl_send_helo(cl, 0);
		return;
	case CL_EHLO:
		cl->info.ehlo = *r;
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
			cl_send_helo(cl, 1);
		} else {
			cl_fail(cl, SMTP_CLIENT_E_REJECTED, "EHLO: %d %.200s", r->code, r->text);
		}
		return;
	case CL_HELO:
		cl->info.ehlo = *r;
		if (r->code / 100 != 2) {
			cl_fail(cl, SMTP_CLIENT_E_REJECTED, "HELO: %d %.200s", r->code, r->text);
			return;
		}
		memset(&cl->info.caps, 0, sizeof(cl->info.caps));
		cl->info.caps_plain = cl->info.caps;
		if (cl->tls_mode >= SMTP_CLIENT_TLS_ENCRYPT) {
			cl_fail(cl, SMTP_CLIENT_E_TLS, "no ESMTP, so no STARTTLS");
			return;
		}
		cl_go_ready(cl);
		return;
	case CL_STARTTLS:
		cl->info.starttls_code = r->code;
		if (r->code == 220) {
			cl->st = CL_HANDSHAKE;
			io_conn_drop_input(cl->conn);   /* RFC 3207 5: no plaintext injection */
			cl_arm(cl, cl->to.starttls);
			if (io_conn_starttls_client(cl->conn, cl->tls,
						    cl->tls_host[0] ? cl->tls_host : NULL) < 0)
				cl_fail(cl, SMTP_CLIENT_E_TLS, "cannot start TLS: %s",
					io_conn_error(cl->conn));
			return;
		}
		if (cl->tls_mode == SMTP_CLIENT_TLS_MAY) {
			cl_go_ready(cl);
			return;
		}
		cl_fail(cl, SMTP_CLIENT_E_TLS, "STARTTLS refused: %d %.200s", r->code, r->text);
		return;
	case CL_READY:
		cl_cmd_reply(cl, r);
		return;
	default:
		cl_fail(cl, SMTP_CLIENT_E_PROTOCOL, "unexpected reply %d", r->code);
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
static void cl_input(struct smtp_client *cl)
{
	while (!cl->freed && cl->conn && cl_reading(cl)) {
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
			cl_fail(cl, SMTP_CLIENT_E_PROTOCOL, "malformed reply: %s",
				err ? err : "bad syntax");
			return;
		}
		if (n == 0) {
			if (got >= SMTP_CLIENT_IN_MAX)
				cl_fail(cl, SMTP_CLIENT_E_PROTOCOL, "reply longer than %d bytes",
					SMTP_CLIENT_IN_MAX);
			return;
		}
		io_conn_consume(cl->conn, (size_t)n);
		cl_reply(cl, &cl->reply);
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
	if (cl->freed || cl->st == CL_DONE || cl->st == CL_FAILED)
		return;
	if (!e || !*e)
		e = ev == IO_EV_EOF ? "connection closed by the server" : "error";
	if (cl->st == CL_CONNECTING) {
		if (strcasestr(e, "refused"))
			cl_fail(cl, SMTP_CLIENT_E_REFUSED, "connect: %s", e);
		else
			cl_fail(cl, SMTP_CLIENT_E_CONNECT, "connect: %s", e);
	} else if (cl->st == CL_HANDSHAKE) {
		cl_fail(cl, SMTP_CLIENT_E_TLS, "TLS handshake: %s", e);
	} else if (cl_quit_sent(cl)) {
		cl_done(cl);
	} else if (ev == IO_EV_EOF) {
		cl_fail(cl, SMTP_CLIENT_E_CLOSED, "connection closed by the server %s",
			cl_waiting_for(cl));
	} else {
		cl_fail(cl, SMTP_CLIENT_E_CLOSED, "connection error %s: %s", cl_waiting_for(cl), e);
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
		cl->info.connect_ms = cl_now() - cl->t0;
		cl->st = CL_BANNER;
		cl_arm(cl, cl->to.banner);
		cl_input(cl);
		return;
	case IO_EV_READ:
		cl_input(cl);
		return;
	case IO_EV_DRAINED:
		head = TAILQ_FIRST(&cl->q);
		if (cl->st == CL_READY && head && head->kind == K_DATA && head->phase == 1)
			cl_body_pump(cl, head);
		return;
	case IO_EV_TLS_READY:
		if (cl->st != CL_HANDSHAKE)
			return;
		io_conn_tls_info(c, &cl->info.tls);
		cl->info.tls.active = 1;
		if (cl->tls_mode == SMTP_CLIENT_TLS_VERIFY &&
		    !(cl->info.tls.verified && cl->info.tls.name_match)) {
			cl_fail(cl, SMTP_CLIENT_E_TLS, "certificate does not verify: %s",
				cl->info.tls.verified ? "name mismatch" :
				cl->info.tls.verify_error);
			return;
		}
		cl_send_helo(cl, 0);
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
	if (cl->freed)
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
		cl_input(cl);
		if (!cl->freed)
			cl_conn_closed(cl, cl->eof_ev, cl->eof_text);
	} else if (cl->deferred_err) {
		cl_fail(cl, (enum smtp_client_error)cl->deferred_err, "%s", cl->deferred_text);
	} else if (cl->st == CL_START) {
		cl->st = CL_CONNECTING;
		cl_arm(cl, cl->to.connect);
		cl->in_connect = 1;
		struct io_conn *c = io_conn_connect(cl->loop, (struct sockaddr *)&cl->sa, cl->salen,
						    cl->srclen ? (struct sockaddr *)&cl->src : NULL,
						    cl->srclen, cl_conn_cb, cl);
		cl->in_connect = 0;
		if (!c) {
			cl_fail(cl, SMTP_CLIENT_E_CONNECT, "connect: cannot start: %s",
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
	const char *helo = opts->helo_name;
	char host[SMTP_DOMAIN_MAX + 1];
	if (!helo || !*helo) {
		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		helo = host;
	}
	for (const char *p = helo; *p; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			free(cl);
			return NULL;
		}
	}
	snprintf(cl->helo, sizeof(cl->helo), "%s", helo);
	cl->tls_mode = opts->tls_mode;
	cl->tls = opts->tls;
	if (opts->tls_host)
		snprintf(cl->tls_host, sizeof(cl->tls_host), "%s", opts->tls_host);
	struct smtp_client_timeouts def;
	smtp_client_timeouts_rfc(&def);
	const struct smtp_client_timeouts *t = &opts->timeouts;
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
	cl->cb = cb;
	cl->arg = arg;
	cl->info.connect_ms = cl->info.banner_ms = cl->info.total_ms = -1;
	cl->t0 = cl_now();
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
				 smtp_client_reply_cb cb, void *arg, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Append a command to the queue and send it if the pipelining rules allow. */
static struct cl_cmd *cl_enqueue(struct smtp_client *cl, enum cl_kind kind,
				 smtp_client_reply_cb cb, void *arg, const char *fmt, ...)
{
	char line[SMTP_CLIENT_CMD_MAX];
	va_list ap;

	if (!cl || cl->freed || cl->st == CL_DONE || cl->st == CL_FAILED || cl->quit_queued)
		return NULL;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return NULL;
	struct cl_cmd *c = calloc(1, sizeof(*c) + (size_t)n + 1);
	if (!c)
		return NULL;
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
	cl_pump(cl);
	return c;
}

/* Queue MAIL FROM. */
int smtp_client_mail(struct smtp_client *cl, const char *from, const char *params,
		     smtp_client_reply_cb cb, void *arg)
{
	if (!from || !cl_addr_ok(from) || (params && !cl_params_ok(params)))
		return -1;
	return cl_enqueue(cl, K_MAIL, cb, arg, "MAIL FROM:<%s>%s%s\r\n", from,
			  params && *params ? " " : "", params ? params : "") ? 0 : -1;
}

/* Queue RCPT TO. */
int smtp_client_rcpt(struct smtp_client *cl, const char *to, const char *params,
		     smtp_client_reply_cb cb, void *arg)
{
	if (!to || !*to || !cl_addr_ok(to) || (params && !cl_params_ok(params)))
		return -1;
	return cl_enqueue(cl, K_RCPT, cb, arg, "RCPT TO:<%s>%s%s\r\n", to,
			  params && *params ? " " : "", params ? params : "") ? 0 : -1;
}

/* Queue DATA with a body in memory. */
int smtp_client_data(struct smtp_client *cl, const void *buf, size_t len,
		     smtp_client_reply_cb cb, void *arg)
{
	if (!buf && len)
		return -1;
	struct cl_cmd *c = cl_enqueue(cl, K_DATA, cb, arg, "DATA\r\n");
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
	struct cl_cmd *c = cl_enqueue(cl, K_DATA, cb, arg, "DATA\r\n");
	if (!c)
		return -1;
	c->from_fd = 1;
	c->fd = fd;
	c->off = off;
	c->len = len;
	return 0;
}

/* Queue RSET. */
int smtp_client_rset(struct smtp_client *cl, smtp_client_reply_cb cb, void *arg)
{
	return cl_enqueue(cl, K_RSET, cb, arg, "RSET\r\n") ? 0 : -1;
}

/* Queue NOOP. */
int smtp_client_noop(struct smtp_client *cl, smtp_client_reply_cb cb, void *arg)
{
	return cl_enqueue(cl, K_NOOP, cb, arg, "NOOP\r\n") ? 0 : -1;
}

/* Queue QUIT. */
int smtp_client_quit(struct smtp_client *cl, smtp_client_reply_cb cb, void *arg)
{
	return cl_enqueue(cl, K_QUIT, cb, arg, "QUIT\r\n") ? 0 : -1;
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
