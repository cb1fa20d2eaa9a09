/*
 * io_http.c - a tiny HTTP/1.1 server for the status page and metrics.
 *
 * An evhttp bound to one "addr:port".  Every GET reaches one generic
 * callback with the request path (query string stripped); other methods get
 * 405.  Replies always carry Cache-Control: no-store and
 * X-Content-Type-Options: nosniff.  Request headers and bodies are capped
 * (IO_HTTP_HEADERS_MAX, IO_HTTP_BODY_MAX) and idle clients are dropped after
 * IO_HTTP_TIMEOUT_S.  The callback must reply before it returns; a request
 * left unanswered gets a 500.
 */
#include "io/io_int.h"

#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

#define IO_HTTP_PATH_MAX 1024   /* longest request path passed to the callback */

struct io_http {
	struct evhttp *http;
	io_http_cb cb;
	void *arg;
	int fd;
};

struct io_http_req {
	struct evhttp_request *req;
	int replied;
};

/* Reason phrase for a status code. */
static const char *http_reason(int code)
{
	static const struct { int code; const char *text; } tab[] = {
		{200, "OK"}, {204, "No Content"}, {301, "Moved Permanently"},
		{302, "Found"}, {304, "Not Modified"}, {400, "Bad Request"},
		{403, "Forbidden"}, {404, "Not Found"}, {405, "Method Not Allowed"},
		{500, "Internal Server Error"}, {503, "Service Unavailable"},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i].code == code)
			return tab[i].text;
	return "Status";
}

/* Send a complete response with the fixed safety headers. */
static void http_send(struct evhttp_request *req, int code, const char *content_type,
		      const char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();

	evhttp_add_header(h, "Content-Type", content_type ? content_type : "text/plain");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (buf && body && len)
		evbuffer_add(buf, body, len);
	evhttp_send_reply(req, code, http_reason(code), buf);
	if (buf)
		evbuffer_free(buf);
}

/* Every request: GET goes to the owner, anything else gets 405. */
static void http_gen_cb(struct evhttp_request *req, void *arg)
{
	static const char not_allowed[] = "method not allowed\n";
	static const char too_long[] = "bad request\n";
	struct io_http *h = arg;
	struct io_http_req r = { req, 0 };
	char path[IO_HTTP_PATH_MAX + 1];
	const char *uri = evhttp_request_get_uri(req);
	size_t n;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
		http_send(req, 405, "text/plain", not_allowed, sizeof(not_allowed) - 1);
		return;
	}
	n = uri ? strcspn(uri, "?#") : 0;
	if (n == 0 || n > IO_HTTP_PATH_MAX || uri[0] != '/') {
		http_send(req, 400, "text/plain", too_long, sizeof(too_long) - 1);
		return;
	}
	memcpy(path, uri, n);
	path[n] = '\0';
	h->cb(&r, path, h->arg);
	if (!r.replied)
		http_send(req, 500, "text/plain", "no reply\n", 9);
}

/* The value of a query parameter (percent-decoded), "" when absent. */
int io_http_query_get(struct io_http_req *req, const char *key, char *buf, size_t len)
{
	struct evkeyvalq q;
	const char *uri = evhttp_request_get_uri(req->req);
	const char *qs = uri ? strchr(uri, '?') : NULL;
	int rc = 0;

	buf[0] = '\0';
	if (!qs)
		return 0;
	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(qs + 1, &q) < 0) {
		evhttp_clear_headers(&q);
		return -1;
	}
	const char *v = evhttp_find_header(&q, key);
	if (v && strlen(v) >= len)
		rc = -1;
	else if (v)
		memcpy(buf, v, strlen(v) + 1);
	evhttp_clear_headers(&q);
	return rc;
}

/* Send a complete response (from inside the callback). */
void io_http_reply(struct io_http_req *req, int code, const char *content_type, const char *body,
		   size_t len)
{
	if (!req || req->replied)
		return;
	req->replied = 1;
	http_send(req->req, code, content_type, body, len);
}

/* Serve HTTP on addrport. */
struct io_http *io_http_new(struct io_loop *loop, const char *addrport, io_http_cb cb, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct io_http *h;
	int fd;

	if (io_parse_addrport(addrport, -1, &ss, &len) < 0) {
		log_err("io: bad HTTP listen address \"%s\"", addrport ? addrport : "(null)");
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->cb = cb;
	h->arg = arg;
	h->http = evhttp_new(loop->base);
	if (!h->http) {
		free(h);
		return NULL;
	}
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_headers_size(h->http, IO_HTTP_HEADERS_MAX);
	evhttp_set_max_body_size(h->http, IO_HTTP_BODY_MAX);
	evhttp_set_timeout(h->http, IO_HTTP_TIMEOUT_S);
	evhttp_set_gencb(h->http, http_gen_cb, h);
	fd = io_listen_socket(&ss, len, IO_LISTEN_BACKLOG);
	if (fd < 0) {
		log_err("io: cannot listen for HTTP on %s: %s", addrport, strerror(errno));
		evhttp_free(h->http);
		free(h);
		return NULL;
	}
	if (!evhttp_accept_socket_with_handle(h->http, fd)) {
		log_err("io: cannot serve HTTP on %s", addrport);
		close(fd);
		evhttp_free(h->http);
		free(h);
		return NULL;
	}
	h->fd = fd;
	return h;
}

/* Actual bound address of the HTTP server (port 0 resolved). */
int io_http_addr(struct io_http *h, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof(*ss);
	return getsockname(h->fd, (struct sockaddr *)ss, len) == 0 ? 0 : -1;
}

/* Stop serving and free. */
void io_http_free(struct io_http *h)
{
	if (!h)
		return;
	evhttp_free(h->http);
	free(h);
}
