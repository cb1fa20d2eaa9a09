/*
 * client_body.c - streaming the body of a DATA command of the SMTP client.
 *
 * After 354 the body goes out from a buffer or, in SMTP_CLIENT_BODY_CHUNK
 * reads, from a file descriptor (pread at the command's offset), dot-stuffed
 * (RFC 5321 4.5.2); bodies are already CRLF, and a final CRLF is added when
 * missing before the terminating ".".  At most SMTP_CLIENT_OUT_HIGH bytes wait
 * on the socket: the rest follows on IO_EV_DRAINED, each step re-arming the
 * data_block deadline.  When no recipient was accepted (RFC 2920 3.1) only
 * "." is sent.  The scratch buffers belong to the client and are allocated on
 * first use.  Loop thread only; a short or failing body fd fails the session
 * (SMTP_CLIENT_E_LOCAL).
 *
 * A streamed body (smtp_client_data_stream, the live pass-through) comes
 * from the caller instead: at 354, and on IO_EV_DRAINED while it waits for
 * room, its `more` callback runs; smtp_client_body_write() stuffs and
 * queues what it is given, smtp_client_body_end() sends the final ".".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp/client_int.h"

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
	return smtp_cl_write(cl, o, k);
}

/* Write the end of a body (a final CRLF if missing, then ".") and wait. */
static void cl_body_finish(struct smtp_client *cl, struct cl_cmd *c)
{
	if (cl->body_total > 0 && !(cl->last[0] == '\r' && cl->last[1] == '\n'))
		smtp_cl_write(cl, "\r\n", 2);
	smtp_cl_write(cl, ".\r\n", 3);
	c->phase = 2;
	smtp_cl_arm(cl, cl->to.data_term);
}

/* A streamed body: tell the caller there is room (from the loop only). */
static void cl_body_stream_pump(struct smtp_client *cl, struct cl_cmd *c)
{
	smtp_cl_arm(cl, cl->to.data_block);
	if (c->stream_ended || !cl->conn || io_conn_out_len(cl->conn) >= SMTP_CLIENT_OUT_HIGH)
		return;
	c->more(cl, c->arg);
}

/* The streaming DATA command in its body phase, or NULL. */
struct cl_cmd *smtp_cl_body_stream(const struct smtp_client *cl)
{
	struct cl_cmd *c = TAILQ_FIRST(&cl->q);
	return c && c->kind == K_DATA && c->stream && c->phase == 1 && cl->st == CL_READY ? c
												   : NULL;
}

/* Append body bytes to a streamed body. */
int smtp_client_body_write(struct smtp_client *cl, const void *buf, size_t len)
{
	struct cl_cmd *c = cl ? smtp_cl_body_stream(cl) : NULL;
	const uint8_t *p = buf;
	if (!c || c->stream_ended || bmx_guard_dead(&cl->guard))
		return -1;
	while (len > 0) {
		size_t n = len > SMTP_CLIENT_BODY_CHUNK ? SMTP_CLIENT_BODY_CHUNK : len;
		if (cl_body_write(cl, p, n) < 0)
			return -1;
		p += n;
		len -= n;
	}
	smtp_cl_arm(cl, cl->to.data_block);
	return 0;
}

/* Is there room for more streamed body bytes? */
int smtp_client_body_room(const struct smtp_client *cl)
{
	return cl->conn && io_conn_out_len(cl->conn) < SMTP_CLIENT_OUT_HIGH;
}

/* End a streamed body. */
int smtp_client_body_end(struct smtp_client *cl)
{
	struct cl_cmd *c = cl ? smtp_cl_body_stream(cl) : NULL;
	if (!c || c->stream_ended || bmx_guard_dead(&cl->guard))
		return -1;
	c->stream_ended = 1;
	cl_body_finish(cl, c);
	return 0;
}

/* Push body bytes until the socket buffer is full or the body ends. */
void smtp_cl_body_pump(struct smtp_client *cl, struct cl_cmd *c)
{
	if (c->stream) {
		cl_body_stream_pump(cl, c);
		return;
	}
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
				smtp_cl_fail(cl, SMTP_CLIENT_E_LOCAL,
					"reading the message body: %s", strerror(errno));
				return;
			}
			if (r == 0 && want) {
				smtp_cl_fail(cl, SMTP_CLIENT_E_LOCAL,
					"the message body is shorter than expected");
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
			cl_body_finish(cl, c);
			return;
		}
		if (cl_body_write(cl, p, n) < 0)
			return;
	}
	smtp_cl_arm(cl, cl->to.data_block);
}

/* 354 arrived: start sending the body (or just "." when no RCPT was accepted). */
void smtp_cl_body_start(struct smtp_client *cl, struct cl_cmd *c)
{
	c->phase = 1;
	cl->bol = 1;
	cl->last[0] = cl->last[1] = 0;
	cl->body_total = 0;
	if (cl->txn_rcpts > 0 && cl->txn_ok == 0) {
		/* RFC 2920 3.1: no valid recipient, end the empty transaction */
		smtp_cl_write(cl, ".\r\n", 3);
		c->phase = 2;
		smtp_cl_arm(cl, cl->to.data_term);
		return;
	}
	if (!cl->body_in && !c->stream)
		cl->body_in = malloc(SMTP_CLIENT_BODY_CHUNK);
	if (!cl->body_out)
		cl->body_out = malloc(2 * SMTP_CLIENT_BODY_CHUNK);
	if ((!cl->body_in && !c->stream) || !cl->body_out) {
		smtp_cl_fail(cl, SMTP_CLIENT_E_LOCAL, "out of memory");
		return;
	}
	smtp_cl_body_pump(cl, c);
}
