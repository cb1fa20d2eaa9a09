/*
 * io_httpc.c - the one small HTTP client of backupmx: one HTTP/1.0 request.
 *
 * Used by backupmxd's alert webhook (POST, daemon/alert.c) and by
 * "backupmx drill --status-url" (GET /history.json).  The address comes
 * from io_url_parse() (a numeric IP: no name is resolved, nothing but the
 * configured address is contacted).  One request per handle: connect, send
 * "METHOD PATH HTTP/1.0" with Host:, User-Agent:, [Accept:], [Content-Type:
 * and Content-Length:] and "Connection: close", then read the response into
 * one buffer of at most req->max bytes (more ends the read, "truncated")
 * until its Content-Length is complete or the peer closes, and call back
 * once.  Retries, backoff and what a status means are the caller's.
 *
 * Limits: req->timeout_ms without input (connect included) and
 * req->deadline_ms for the whole exchange.  The caller owns the handle; it
 * may free it from inside the callback (struct bmx_guard).
 */
#include "io/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/guard.h"

#define IO_HTTPC_CHUNK 16384    /* first response buffer size */

struct io_httpc {
	struct io_conn *c;
	struct io_timer *deadline;
	io_httpc_cb cb;
	void *arg;
	char *req;                  /* the request (head and body) */
	size_t req_len;
	char *buf;                  /* the response so far, NUL-terminated */
	size_t len, cap, max;
	int truncated;
	char err[128];              /* the error text passed to the callback */
	int done;                   /* called back (or about to) */
	struct bmx_guard guard;
};

/* Free everything. */
static void httpc_destroy(struct io_httpc *h)
{
	if (h->c)
		io_conn_free(h->c);
	io_timer_free(h->deadline);
	free(h->req);
	free(h->buf);
	free(h);
}

/* The status code of "HTTP/1.x NNN ..." (100-599), or 0. */
static int httpc_status(const char *b, size_t len)
{
	if (len < 12 || memcmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ' || b[9] < '1' ||
	    b[9] > '5' || b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9')
		return 0;
	return (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
}

/* Read a response received so far (buf[0..len), NUL-terminated at len):
 * status, data and body of res; 1 when it is complete by its
 * Content-Length, else 0.  Pure, and fuzzed (fuzz/fuzz_httpc.c). */
int io_httpc_parse(const char *buf, size_t len, struct io_httpc_res *res)
{
	memset(res, 0, sizeof(*res));
	res->data = buf;
	res->len = len;
	res->status = httpc_status(buf, len);
	const char *eoh = strstr(buf, "\r\n\r\n");
	if (!eoh)
		return 0;
	res->body = eoh + 4;
	res->body_len = (size_t)(buf + len - res->body);
	for (const char *p = strstr(buf, "\r\n"); p && p < eoh; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, "Content-Length:", 15) != 0)
			continue;
		char *end = NULL;
		unsigned long long cl = strtoull(p + 17, &end, 10);
		return end != p + 17 && res->body_len >= cl;
	}
	return 0;
}

/* End the exchange: close the connection and call back once (err NULL: a response). */
static void httpc_end(struct io_httpc *h, const char *err)
{
	struct io_httpc_res r;

	if (h->done)
		return;
	h->done = 1;
	if (err)
		snprintf(h->err, sizeof(h->err), "%s", err);
	if (h->c) {
		io_conn_free(h->c);
		h->c = NULL;
	}
	io_timer_del(h->deadline);
	if (h->buf) {
		io_httpc_parse(h->buf, h->len, &r);
	} else {
		memset(&r, 0, sizeof(r));
		r.data = "";
	}
	r.err = err ? h->err : NULL;
	r.truncated = h->truncated;
	h->cb(&r, h->arg);
}

/* Whether the buffered response is complete by its Content-Length (1) or not yet (0). */
static int httpc_complete(const struct io_httpc *h)
{
	struct io_httpc_res r;
	return io_httpc_parse(h->buf, h->len, &r);
}

/* Grow the buffer to hold n more bytes and the NUL; 0 or -1. */
static int httpc_grow(struct io_httpc *h, size_t n)
{
	if (h->len + n + 1 <= h->cap)
		return 0;
	size_t cap = h->cap ? h->cap : IO_HTTPC_CHUNK;
	while (cap < h->len + n + 1)
		cap *= 2;
	char *nb = realloc(h->buf, cap);
	if (!nb)
		return -1;
	h->buf = nb;
	h->cap = cap;
	return 0;
}

/* Move buffered input into h->buf, within h->max (beyond: truncated); 0 or -1 (ended). */
static int httpc_take(struct io_httpc *h)
{
	size_t n = 0;
	const uint8_t *p;

	while (io_conn_in_len(h->c) > 0 && (p = io_conn_peek(h->c, io_conn_in_len(h->c), &n))) {
		size_t take = n > h->max - h->len ? h->max - h->len : n;
		if (httpc_grow(h, take) < 0) {
			httpc_end(h, "out of memory");
			return -1;
		}
		memcpy(h->buf + h->len, p, take);
		h->len += take;
		h->buf[h->len] = '\0';
		io_conn_consume(h->c, n);
		if (take < n) {
			h->truncated = 1;
			httpc_end(h, NULL);
			return -1;
		}
	}
	return 0;
}

/* Connection events. */
static void httpc_conn_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct io_httpc *h = arg;

	bmx_guard_enter(&h->guard);
	switch (ev) {
	case IO_EV_CONNECTED:
		if (io_conn_write(c, h->req, h->req_len) < 0)
			httpc_end(h, "cannot send the request");
		break;
	case IO_EV_READ:
		if (httpc_take(h) == 0 && h->buf && httpc_complete(h))
			httpc_end(h, NULL);
		break;
	case IO_EV_EOF:
		if (httpc_take(h) == 0)
			httpc_end(h, NULL);
		break;
	case IO_EV_ERROR:
		httpc_end(h, io_conn_error(c) ? io_conn_error(c) : "connection error");
		break;
	case IO_EV_TIMEOUT:
		httpc_end(h, "timed out");
		break;
	default:
		break;
	}
	if (bmx_guard_leave(&h->guard))
		httpc_destroy(h);
}

/* The whole exchange took too long. */
static void httpc_deadline_cb(void *arg)
{
	struct io_httpc *h = arg;

	bmx_guard_enter(&h->guard);
	httpc_end(h, "timed out");
	if (bmx_guard_leave(&h->guard))
		httpc_destroy(h);
}

/* Build the request (head and body) into h->req; 0 or -1. */
static int httpc_build(struct io_httpc *h, const struct io_url *url,
		       const struct io_httpc_req *req)
{
	FILE *f = open_memstream(&h->req, &h->req_len);

	if (!f)
		return -1;
	fprintf(f, "%s %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: %s\r\n", req->method,
		req->path ? req->path : url->path, url->hostport, req->user_agent);
	if (req->accept)
		fprintf(f, "Accept: %s\r\n", req->accept);
	if (req->content_type)
		fprintf(f, "Content-Type: %s\r\nContent-Length: %zu\r\n", req->content_type,
			req->body_len);
	fputs("Connection: close\r\n\r\n", f);
	if (req->body_len)
		fwrite(req->body, 1, req->body_len, f);
	return fclose(f) == 0 ? 0 : -1;
}

/* Start one request; NULL when it cannot be started. */
struct io_httpc *io_httpc_new(struct io_loop *loop, const struct io_url *url,
			      const struct io_httpc_req *req, io_httpc_cb cb, void *arg)
{
	struct io_httpc *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->cb = cb;
	h->arg = arg;
	h->max = req->max;
	if (httpc_build(h, url, req) < 0 ||
	    !(h->deadline = io_timer_new(loop, httpc_deadline_cb, h)) ||
	    !(h->c = io_conn_connect(loop, (const struct sockaddr *)&url->sa, url->salen, NULL, 0,
				     httpc_conn_cb, h))) {
		httpc_destroy(h);
		return NULL;
	}
	io_conn_set_timeout(h->c, req->timeout_ms);
	if (req->deadline_ms)
		io_timer_add(h->deadline, req->deadline_ms);
	return h;
}

/* Close and free; no callback after this. */
void io_httpc_free(struct io_httpc *h)
{
	if (!h)
		return;
	h->done = 1;
	if (bmx_guard_kill(&h->guard))
		httpc_destroy(h);
}
