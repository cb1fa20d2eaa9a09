/*
 * drill_follow.c - "backupmx drill": follow the message inside backupmxd.
 *
 * After a backup accepted the drill message (queue ID from its 250), the
 * message is followed in the backup's backupmxd until the primary took it
 * (status "sent"), it bounced or expired, or --within ran out ("timeout"):
 *
 *   control socket (--control PATH, or -c FILE's control_socket): the verbs
 *       "history ID" and "show ID" (cli_ctl_query), polled every
 *       DRILL_POLL_MS; on a timeout "status" supplies the last error;
 *   --status-url http://IP:PORT: GET /history.json (the document "history"
 *       answers) once per round with the io_httpc client, at most
 *       DRILL_HTTP_MAX bytes, --timeout per request.
 *
 * Also the control verbs of --hold (hold, release, flush).  Peer text is
 * sanitised (check_sanitize) before it is kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check.h"
#include "cli/cli.h"
#include "cli/drill.h"
#include "common/jscan.h"
#include "io/io.h"

#define DRILL_POLL_MS        250        /* control socket polling interval */
#define DRILL_HTTP_MAX       (4u << 20) /* HTTP response (headers + body) kept at most */
#define DRILL_HTTP_PATH      "/history.json"

/* One GET of /history.json: what its callback saw. */
struct drill_http {
	struct drill *d;
	int done;                  /* the callback came */
	char *doc;                 /* the body of a 200 (NUL-terminated, malloc'd) */
	char why[128];             /* else why not */
};

/* Copy the JSON string value of key (escapes reduced, sanitised) into out; 0 or -1. */
static int drill_json_str(const char *p, const char *end, const char *key, char *out, size_t len)
{
	char raw[DRILL_TEXT_MAX];

	out[0] = '\0';
	if (jscan_str(p, end, key, raw, sizeof(raw)) < 0)
		return -1;
	check_sanitize(raw, out, len);
	return 0;
}

/* Take the entries of s's queue ID from a history document (NUL-terminated,
 * {"history":[...]}) into s; 1 if there were any, else 0. */
static int drill_history_parse(struct drill_send *s, const char *doc, double since_s)
{
	int found = 0;
	const char *p = strstr(doc, "\"history\":[");

	for (p = p ? p + 11 : NULL; p && (p = strchr(p, '{')) != NULL;) {
		const char *e = jscan_obj_end(p);
		char id[DRILL_QID_MAX], st[16];
		if (!e)
			break;
		if (drill_json_str(p, e, "id", id, sizeof(id)) < 0 || strcmp(id, s->qid) != 0 ||
		    drill_json_str(p, e, "status", st, sizeof(st)) < 0) {
			p = e + 1;
			continue;
		}
		found = 1;
		if (strcmp(st, "received") == 0) {
			/* arrival through the milters: their verdicts, not a delivery */
			s->filtered = 1;
			drill_json_str(p, e, "filter", s->ffilter, sizeof(s->ffilter));
			drill_json_str(p, e, "authres", s->fauthres, sizeof(s->fauthres));
		} else {
			/* "sent" wins over an earlier deferral */
			if (strcmp(s->fstatus, "sent") != 0) {
				snprintf(s->fstatus, sizeof(s->fstatus), "%s", st);
				drill_json_str(p, e, "relay", s->frelay, sizeof(s->frelay));
				drill_json_str(p, e, "reply", s->freply, sizeof(s->freply));
				s->fdelay = jscan_num(p, e, "delay");
				s->e2e_s = since_s;
			}
		}
		p = e + 1;
	}
	return found;
}

/* Read the history of one message; 1 if the daemon had entries, 0 if none, -1 no daemon. */
static int drill_history(struct drill *d, struct drill_send *s, double since_s)
{
	char req[128], *ans = NULL;

	snprintf(req, sizeof(req), "history %s", s->qid);
	int rc = cli_ctl_query(d->config, d->control, req, &ans);
	if (rc != 0) {
		free(ans);
		return rc == 3 ? -1 : 0;
	}
	int found = drill_history_parse(s, ans, since_s);
	free(ans);
	return found;
}

/* The GET ended: keep the body of a 200 or say why not, and stop the loop. */
static void drill_http_cb(const struct io_httpc_res *r, void *arg)
{
	struct drill_http *h = arg;
	size_t n = strcspn(r->data, "\r\n");

	h->done = 1;
	io_loop_break(h->d->loop);
	if (r->err)
		snprintf(h->why, sizeof(h->why), "%s", r->err);
	else if (r->truncated)
		snprintf(h->why, sizeof(h->why), "response larger than %u MiB",
			 DRILL_HTTP_MAX >> 20);
	else if (r->len == 0)
		snprintf(h->why, sizeof(h->why), "empty response");
	else if (strncmp(r->data, "HTTP/1.", 7) != 0 || !r->body)
		snprintf(h->why, sizeof(h->why), "not an HTTP response");
	else if (r->status != 200)   /* the status line says why */
		snprintf(h->why, sizeof(h->why), "%.*s", (int)(n < 60 ? n : 60), r->data);
	else if (!(h->doc = malloc(r->body_len + 1)))
		snprintf(h->why, sizeof(h->why), "out of memory");
	else
		memcpy(h->doc, r->body, r->body_len + 1);
}

/* GET /history.json from the status URL; the body (NUL-terminated, caller
 * frees) or NULL with why set. */
static char *drill_http_history(struct drill *d, char *why, size_t len)
{
	struct drill_http h = { .d = d };
	const struct io_httpc_req req = {
		.method = "GET",
		.path = DRILL_HTTP_PATH,
		.user_agent = "backupmx-drill",
		.accept = "application/json",
		.max = DRILL_HTTP_MAX,
		.timeout_ms = d->p.timeout_ms,
		.deadline_ms = d->p.timeout_ms,
	};
	struct io_httpc *c = io_httpc_new(d->loop, &d->http_url, &req, drill_http_cb, &h);

	if (!c) {
		snprintf(why, len, "cannot connect");
		return NULL;
	}
	io_loop_run(d->loop);
	io_httpc_free(c);
	if (!h.doc)
		check_sanitize(h.done && h.why[0] ? h.why : "no answer", why, len);
	return h.doc;
}

/* Whether the daemon holds the message in its queue: 1, 0, or -1 no daemon. */
int drill_show(struct drill *d, const struct drill_send *s)
{
	char req[128], *ans = NULL;

	snprintf(req, sizeof(req), "show %s", s->qid);
	int rc = cli_ctl_query(d->config, d->control, req, &ans);
	free(ans);
	return rc == 3 ? -1 : rc == 0;
}

/* Send "VERB DOMAIN" to the daemon; 0 or -1 (note set). */
int drill_ctl_verb(struct drill *d, const char *verb)
{
	char req[DNS_NAME_MAX + 16], *ans = NULL;

	snprintf(req, sizeof(req), "%s %s", verb, d->domain);
	int rc = cli_ctl_query(d->config, d->control, req, &ans);
	if (rc != 0) {
		char text[256];
		check_sanitize(ans ? ans : "no daemon", text, sizeof(text));
		snprintf(d->note, sizeof(d->note), "backupmxd refused \"%s\": %s", req, text);
	}
	free(ans);
	return rc == 0 ? 0 : -1;
}

/* The daemon's last delivery error for the drilled domain (from `status`),
 * into buf; "" when it knows none. */
static void drill_last_error(struct drill *d, char *buf, size_t len)
{
	char key[DNS_NAME_MAX + 16], *ans = NULL, raw[512];

	buf[0] = 0;
	if (cli_ctl_query(d->config, d->control, "status", &ans) != 0 || !ans) {
		free(ans);
		return;
	}
	snprintf(key, sizeof(key), "{\"domain\":\"%s\"", d->domain);
	const char *o = strstr(ans, key), *end = o ? jscan_obj_end(o) : NULL;
	if (end && jscan_str(o, end, "last_error", raw, sizeof(raw)) == 0)
		check_sanitize(raw, buf, len);
	free(ans);
}

/* Seconds on the monotonic clock. */
double drill_now_s(void)
{
	return (double)io_now_ms() / 1000.0;
}

/* Follow the accepted messages inside the controlled daemon until sent or --within. */
void drill_follow(struct drill *d, double t_sent)
{
	double deadline = t_sent + d->within_s;

	for (;;) {
		int pending = 0;
		double now = drill_now_s();
		char *doc = NULL;   /* --status-url: /history.json, once per round */
		for (size_t i = 0; i < d->nsend; i++) {
			struct drill_send *s = &d->send[i];
			if (!s->accepted || !s->qid[0] || !strcmp(s->fstatus, "sent") ||
			    !strcmp(s->fstatus, "bounced") || !strcmp(s->fstatus, "expired"))
				continue;
			if (d->status_url && !doc) {
				char why[160];
				if (!(doc = drill_http_history(d, why, sizeof(why)))) {
					snprintf(d->note, sizeof(d->note), "status URL http://%s%s: %s",
						 d->http_url.hostport, DRILL_HTTP_PATH, why);
					d->unknown = 1;
					return;
				}
			}
			int h = doc ? drill_history_parse(s, doc, now - t_sent) :
				      drill_history(d, s, now - t_sent);
			if (h < 0) {
				snprintf(d->note, sizeof(d->note), "lost the control socket");
				d->unknown = 1;
				return;
			}
			if (h > 0)
				s->followed = 1;
			else if (!s->followed && !doc && drill_show(d, s) == 1)
				s->followed = 1;
			if (strcmp(s->fstatus, "sent") && strcmp(s->fstatus, "bounced") &&
			    strcmp(s->fstatus, "expired"))
				pending++;
		}
		free(doc);
		if (!pending || now >= deadline)
			break;
		usleep(DRILL_POLL_MS * 1000);
	}
	for (size_t i = 0; i < d->nsend; i++) {
		struct drill_send *s = &d->send[i];
		if (s->followed)
			d->control_found = 1;
		if (s->followed && strcmp(s->fstatus, "sent") && strcmp(s->fstatus, "bounced") &&
		    strcmp(s->fstatus, "expired")) {
			if (s->fstatus[0] && !s->freply[0])
				snprintf(s->freply, sizeof(s->freply), "(%s)", s->fstatus);
			snprintf(s->fstatus, sizeof(s->fstatus), "timeout");
			s->e2e_s = d->within_s;
			if (!d->last_error[0] && !d->status_url)
				drill_last_error(d, d->last_error, sizeof(d->last_error));
		}
	}
}
