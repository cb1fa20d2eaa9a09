/*
 * control.c - the daemon side of the control socket (docs/control.md).
 *
 * A UNIX socket (mode 0600, owned by the daemon's user) takes one request
 * line per connection, parsed by ctl_parse(), and answers with one JSON
 * document (or Prometheus text for "metrics"), then closes.  A request must
 * arrive within CTL_TIMEOUT_MS and fit in CTL_LINE_MAX octets.
 *
 * "queue" is streamed: a control_stream owns a relay_list and writes the
 * next part each time the previous one has left (IO_EV_DRAINED), so the
 * answer is never whole in memory and a slow reader holds back only itself.
 * A reader that takes nothing for CTL_TIMEOUT_MS is dropped.  The control
 * owns its streams and frees them before the relay goes (control_free).
 */
#include "daemon/daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ctl.h"
#include "common/json.h"
#include "common/log.h"

struct control_stream;

struct control {
	struct io_loop *loop;
	const struct config *cfg;
	struct relay *relay;
	struct io_listener *l;
	daemon_stats_fn stats;
	daemon_reload_fn reload;
	void *stats_arg;                  /* for stats and reload */
	struct control_stream *streams;   /* queue listings being sent */
};

/* One queue listing being sent on a control connection. */
struct control_stream {
	struct control_stream *next, *prev;
	struct control *ctl;
	struct io_conn *c;
	struct relay_list *list;
	struct io_timer *timer;           /* the next step when a step wrote nothing */
};

/* Answer with an error document. */
static void control_error(FILE *f, const char *msg)
{
	int first = 1;
	fputc('{', f);
	json_kv_str(f, &first, "error", msg);
	fputc('}', f);
}

/* Run one parsed request and write the answer. */
static void control_run(struct control *ctl, const struct ctl_req *req, FILE *f)
{
	int first = 1;
	switch (req->verb) {
	case CTL_STATUS:
		if (req->text) {
			relay_text_status(ctl->relay, f);
			return;
		}
		relay_json_status(ctl->relay, f);
		break;
	case CTL_QUEUE:   /* streamed by control_stream_start(): it refused the domain */
		control_error(f, "bad domain");
		break;
	case CTL_SHOW:
		if (req->text && relay_text_show(ctl->relay, req->arg, f) == 0)
			return;
		if (req->text || relay_json_show(ctl->relay, req->arg, f) < 0)
			control_error(f, "no such message");
		break;
	case CTL_DELETE:
		if (relay_delete(ctl->relay, req->arg) < 0) {
			control_error(f, "no such message");
			break;
		}
		fputc('{', f);
		json_kv_str(f, &first, "deleted", req->arg);
		fputc('}', f);
		break;
	case CTL_FLUSH: {
		if (req->arg[0] && relay_held(ctl->relay, req->arg)) {
			control_error(f, "held: nothing scheduled (backupmx release it first)");
			break;
		}
		long n = relay_flush(ctl->relay, req->arg[0] ? req->arg : NULL);
		fputc('{', f);
		json_kv_str(f, &first, "flushed", req->arg[0] ? req->arg : "*");
		json_kv_num(f, &first, "scheduled", (double)n);
		fputc('}', f);
		break;
	}
	case CTL_HOLD:
	case CTL_RELEASE: {
		char dom[256];
		if (config_domain_norm(req->arg, dom, sizeof(dom)) < 0) {
			control_error(f, "bad domain");
			break;
		}
		if (req->verb == CTL_HOLD && !req->force && !config_relay_domain(ctl->cfg, dom)) {
			control_error(f, "not in relay_domains: nothing to hold (force it with "
				      "--force)");
			break;
		}
		if (req->verb == CTL_RELEASE && !relay_held(ctl->relay, dom)) {
			control_error(f, "not held");
			break;
		}
		if (relay_hold(ctl->relay, dom, req->verb == CTL_HOLD) < 0) {
			control_error(f, "cannot change the hold");
			break;
		}
		fputc('{', f);
		json_kv_str(f, &first, req->verb == CTL_HOLD ? "held" : "released", dom);
		fputc('}', f);
		break;
	}
	case CTL_HISTORY:
		relay_json_history(ctl->relay, req->arg, f);
		break;
	case CTL_RELOAD: {
		char msg[1024];
		if (!ctl->reload || ctl->reload(msg, sizeof(msg), ctl->stats_arg) < 0) {
			control_error(f, ctl->reload ? msg : "reload not available");
			break;
		}
		fputc('{', f);
		json_kv_str(f, &first, "reloaded", msg);
		fputc('}', f);
		break;
	}
	case CTL_METRICS:
		if (ctl->stats)
			ctl->stats(f, ctl->stats_arg);
		relay_metrics(ctl->relay, f);
		return;
	}
	fputc('\n', f);
}

/* Stop a stream: unlink it and free it, its listing and (if close) its connection. */
static void control_stream_free(struct control_stream *st, int close)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		st->ctl->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	if (close)
		io_conn_free(st->c);
	else
		io_conn_flush_free(st->c);
	io_timer_free(st->timer);
	relay_list_free(st->list);
	free(st);
}

/* Write the next part of a listing; the last part closes the connection. */
static void control_stream_step(struct control_stream *st)
{
	char *doc = NULL;
	size_t dlen = 0;
	FILE *f = open_memstream(&doc, &dlen);
	if (!f) {
		control_stream_free(st, 1);
		return;
	}
	int more = relay_list_step(st->list, f);
	if (fclose(f) != 0 || (dlen && io_conn_write(st->c, doc, dlen) < 0)) {
		free(doc);
		control_stream_free(st, 1);
		return;
	}
	free(doc);
	if (!more)
		control_stream_free(st, 0);
	else if (!dlen)
		io_timer_add(st->timer, 0);   /* nothing to drain: go on next iteration */
}

/* The timer of a stream whose last step wrote nothing. */
static void control_stream_timer(void *arg)
{
	control_stream_step(arg);
}

/* Events of a connection that is sent a listing. */
static void control_stream_event(struct io_conn *c, enum io_event ev, void *arg)
{
	struct control_stream *st = arg;
	if (ev == IO_EV_READ) {
		io_conn_drop_input(c);
	} else if (ev == IO_EV_DRAINED) {
		io_conn_set_timeout(c, CTL_TIMEOUT_MS);   /* the reader keeps up */
		control_stream_step(st);
	} else {
		control_stream_free(st, 1);   /* EOF, error, or a reader that stalled */
	}
}

/* Answer "queue" with a stream (out of memory: close); -1, nothing done, on a bad domain. */
static int control_stream_start(struct control *ctl, struct io_conn *c, const struct ctl_req *req)
{
	char dom[256] = "";
	if (req->arg[0] && config_domain_norm(req->arg, dom, sizeof(dom)) < 0)
		return -1;
	struct control_stream *st = calloc(1, sizeof(*st));
	if (!st) {
		io_conn_free(c);
		return 0;
	}
	st->ctl = ctl;
	st->c = c;
	st->list = relay_list_new(ctl->relay, dom, req->limit, !req->text);
	st->timer = io_timer_new(ctl->loop, control_stream_timer, st);
	if (!st->list || !st->timer) {
		relay_list_free(st->list);
		io_timer_free(st->timer);
		free(st);
		io_conn_free(c);
		return 0;
	}
	st->next = ctl->streams;
	if (st->next)
		st->next->prev = st;
	ctl->streams = st;
	io_conn_drop_input(c);
	io_conn_set_cb(c, control_stream_event, st);
	io_conn_set_timeout(c, CTL_TIMEOUT_MS);
	control_stream_step(st);
	return 0;
}

/* Events of one control connection. */
static void control_event(struct io_conn *c, enum io_event ev, void *arg)
{
	struct control *ctl = arg;
	size_t len;
	const uint8_t *p;
	struct ctl_req req;
	const char *err = NULL;

	if (ev != IO_EV_READ) {
		if (ev != IO_EV_DRAINED)
			io_conn_free(c);
		return;
	}
	p = io_conn_peek(c, CTL_LINE_MAX + 2, &len);
	const uint8_t *nl = p ? memchr(p, '\n', len) : NULL;
	if (!nl && len <= CTL_LINE_MAX)
		return;   /* wait for the rest of the line */
	int parsed = nl && ctl_parse((const char *)p, (size_t)(nl - p), &req, &err) == 0;
	if (parsed && req.verb == CTL_QUEUE) {
		log_debug("control: queue %s", req.arg);
		if (control_stream_start(ctl, c, &req) == 0)
			return;
	}
	char *doc = NULL;
	size_t dlen = 0;
	FILE *f = open_memstream(&doc, &dlen);
	if (!f) {
		io_conn_free(c);
		return;
	}
	if (!parsed) {
		control_error(f, err ? err : "request too long");
		fputc('\n', f);
	} else {
		log_debug("control: %s %s", ctl_verb_name(req.verb), req.arg);
		control_run(ctl, &req, f);
	}
	fclose(f);
	io_conn_drop_input(c);
	io_conn_write(c, doc, dlen);
	free(doc);
	io_conn_flush_free(c);
}

/* A client connected to the control socket. */
static void control_accept(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct control *ctl = arg;
	struct io_conn *c = io_conn_new_fd(ctl->loop, fd, control_event, ctl);
	if (!c) {
		close(fd);
		return;
	}
	io_conn_set_timeout(c, CTL_TIMEOUT_MS);
}

/* Listen on the control socket. */
struct control *control_new(struct io_loop *loop, const char *path, const struct config *cfg,
			    struct relay *relay, daemon_stats_fn stats, daemon_reload_fn reload,
			    void *arg)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return NULL;
	ctl->loop = loop;
	ctl->cfg = cfg;
	ctl->relay = relay;
	ctl->stats = stats;
	ctl->reload = reload;
	ctl->stats_arg = arg;
	ctl->l = io_listener_new_unix(loop, path, 0600, control_accept, ctl);
	if (!ctl->l) {
		free(ctl);
		return NULL;
	}
	return ctl;
}

/* Use cfg from now on (a reload). */
void control_set_config(struct control *ctl, const struct config *cfg)
{
	ctl->cfg = cfg;
}

/* Close the control socket. */
void control_free(struct control *ctl)
{
	if (!ctl)
		return;
	while (ctl->streams)
		control_stream_free(ctl->streams, 1);
	io_listener_free(ctl->l);
	free(ctl);
}
