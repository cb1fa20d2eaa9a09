/*
 * status_http.c - backupmxd's monitoring web server (status_listen).
 *
 *   GET /              self-contained HTML status page (relay_html): no
 *                      script, no external asset, every field escaped,
 *                      refreshes itself every 5 s, CSP in a <meta> tag;
 *                      the totals and the top destinations, narrowed by
 *                      ?domain=TEXT (at most STATUS_FILTER_MAX octets, else 400)
 *   GET /metrics       Prometheus text exposition: the daemon's SMTP
 *                      counters followed by relay_metrics()
 *   GET /status.json   the document `backupmx status --json` prints
 *   GET /history.json  recent recipient outcomes (relay_json_history)
 *
 * Served by io_http (evhttp inside src/io); every other path is 404 and
 * every other method 405.  Documents are built in memory per request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/daemon.h"

#define STATUS_CT_HTML    "text/html; charset=utf-8"
#define STATUS_CT_JSON    "application/json"
#define STATUS_CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define STATUS_FILTER_MAX 253   /* longest ?domain= filter of the status page */

struct status_http {
	struct io_http *http;
	struct relay *relay;
	daemon_stats_fn stats;
	void *stats_arg;
	char filter[STATUS_FILTER_MAX + 1];   /* the page's ?domain= of this request */
};

/* Build a document with fn into memory and send it. */
static void status_reply(struct io_http_req *req, const char *ctype,
			 void (*fn)(struct status_http *, FILE *), struct status_http *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		io_http_reply(req, 503, "text/plain", "out of memory\n", 14);
		return;
	}
	fn(s, f);
	if (fclose(f) != 0 || !buf) {
		free(buf);
		io_http_reply(req, 503, "text/plain", "out of memory\n", 14);
		return;
	}
	io_http_reply(req, 200, ctype, buf, len);
	free(buf);
}

/* GET /: the HTML page. */
static void status_doc_html(struct status_http *s, FILE *f)
{
	relay_html(s->relay, s->filter, f);
}

/* GET /metrics: daemon counters, then queue and destinations. */
static void status_doc_metrics(struct status_http *s, FILE *f)
{
	if (s->stats)
		s->stats(f, s->stats_arg);
	relay_metrics(s->relay, f);
}

/* GET /status.json: the status document. */
static void status_doc_json(struct status_http *s, FILE *f)
{
	relay_json_status(s->relay, f);
	fputc('\n', f);
}

/* GET /history.json: recent outcomes. */
static void status_doc_history(struct status_http *s, FILE *f)
{
	relay_json_history(s->relay, NULL, f);
	fputc('\n', f);
}

/* Dispatch one GET by path. */
static void status_cb(struct io_http_req *req, const char *path, void *arg)
{
	static const char nf[] = "not found\n";
	static const char starting[] = "starting\n";
	static const char badq[] = "bad query\n";
	struct status_http *s = arg;

	if (!s->relay)
		io_http_reply(req, 503, "text/plain", starting, sizeof(starting) - 1);
	else if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
		if (io_http_query_get(req, "domain", s->filter, sizeof(s->filter)) < 0)
			io_http_reply(req, 400, "text/plain", badq, sizeof(badq) - 1);
		else
			status_reply(req, STATUS_CT_HTML, status_doc_html, s);
	} else if (strcmp(path, "/metrics") == 0)
		status_reply(req, STATUS_CT_METRICS, status_doc_metrics, s);
	else if (strcmp(path, "/status.json") == 0)
		status_reply(req, STATUS_CT_JSON, status_doc_json, s);
	else if (strcmp(path, "/history.json") == 0)
		status_reply(req, STATUS_CT_JSON, status_doc_history, s);
	else
		io_http_reply(req, 404, "text/plain", nf, sizeof(nf) - 1);
}

/* Bind addrport and serve the status documents; NULL on error (logged). */
struct status_http *status_http_new(struct io_loop *loop, const char *addrport,
				    struct relay *relay, daemon_stats_fn stats, void *stats_arg)
{
	struct status_http *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->relay = relay;
	s->stats = stats;
	s->stats_arg = stats_arg;
	if (!(s->http = io_http_new(loop, addrport, status_cb, s))) {
		free(s);
		return NULL;
	}
	return s;
}

/* Point the server at the delivery engine (created after the bind). */
void status_http_set_relay(struct status_http *s, struct relay *relay)
{
	if (s)
		s->relay = relay;
}

/* Stop serving and free. */
void status_http_free(struct status_http *s)
{
	if (!s)
		return;
	io_http_free(s->http);
	free(s);
}
