/*
 * relay_status.c - what the delivery engine shows: JSON documents for the
 * control socket (`backupmx status`, `queue show`, the message objects of
 * `queue --json`) and the status page, and the Prometheus metrics of the
 * queue and destinations.  The human reports are in relay_text.c, the HTML
 * status page in relay_html.c, the streamed queue listing in relay_list.c.
 *
 * Every string from a peer goes through json_str(), so an envelope address
 * can never break a document.  Documents are stable: docs/control.md.
 */
#include "relay/relay_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"

/* The oldest arrival among d's jobs, found again after the oldest left. */
static void relay_dest_oldest(struct relay_dest *d)
{
	time_t oldest = 0;
	const struct relay_job *lists[2] = {d->ready_head, d->wait_head};
	for (int l = 0; l < 2; l++)
		for (const struct relay_job *j = lists[l]; j; j = j->next)
			if (!oldest || j->msg->arrival < oldest)
				oldest = j->msg->arrival;
	time_t active = relay_conn_oldest(d);
	if (active && (!oldest || active < oldest))
		oldest = active;
	d->joldest = oldest;
	d->joldest_stale = 0;
}

/* The queue totals of a destination: counters kept as jobs come and go
 * (relay_job_count), so no request walks the queue; only the oldest
 * arrival is looked for again, once, after the oldest job left. */
void relay_dest_totals(struct relay_dest *d, struct relay_dstat *st)
{
	memset(st, 0, sizeof(*st));
	if (d->joldest_stale)
		relay_dest_oldest(d);
	st->msgs = d->njobs;
	st->bytes = d->jbytes;
	st->oldest = d->joldest;
}

/* The EHLO keywords we learned, as a JSON array. */
static void relay_json_caps(FILE *f, const struct smtp_caps *caps)
{
	fputc('[', f);
	int first = 1;
	for (size_t i = 0; i < SMTP_CAP_NAMES; i++) {
		if (!(caps->flags & smtp_cap_names[i].flag))
			continue;
		if (!first)
			fputc(',', f);
		first = 0;
		json_str(f, smtp_cap_names[i].kw);
	}
	fputc(']', f);
}

/* Status of every destination. */
void relay_json_status(struct relay *r, FILE *f)
{
	time_t now = time(NULL);
	int first = 1;
	fputc('{', f);
	json_kv_num(f, &first, "time", (double)now);
	json_kv_num(f, &first, "queued_messages", (double)r->nmsgs);
	json_kv_bool(f, &first, "recovering", r->recovering);
	json_kv_num(f, &first, "recovered_messages", (double)r->recovered);
	json_kv_num(f, &first, "mx_lookups_running", r->nresolving);
	json_kv_num(f, &first, "mx_lookups_waiting", (double)r->nrq);
	json_key(f, &first, "destinations");
	fputc('[', f);
	for (struct relay_dest *d = r->dest_list; d; d = d->next) {
		struct relay_dstat st;
		relay_dest_totals(d, &st);
		int df = 1;
		fputs(d == r->dest_list ? "{" : ",{", f);
		json_kv_str(f, &df, "domain", d->domain);
		json_kv_str(f, &df, "state", relay_dest_state_name(d));
		json_kv_bool(f, &df, "up", d->state == DEST_UP && !d->held);
		json_kv_bool(f, &df, "held", d->held);
		json_kv_str(f, &df, "mode", relay_dest_mode(d));
		json_kv_num(f, &df, "proxy_connections", d->nproxy);
		json_kv_num(f, &df, "since", (double)d->since);
		json_kv_str(f, &df, "last_error", d->last_error[0] ? d->last_error : NULL);
		json_kv_num(f, &df, "queued", (double)st.msgs);
		json_kv_num(f, &df, "bytes", (double)st.bytes);
		json_kv_num(f, &df, "oldest_age", st.oldest ? (double)(now - st.oldest) : 0);
		json_kv_num(f, &df, "connections", d->nconn);
		json_kv_num(f, &df, "concurrency_limit", relay_ramp_limit(d));
		json_kv_num(f, &df, "sent", (double)d->sent);
		json_key(f, &df, "next_hops");
		fputc('[', f);
		for (size_t i = 0; i < d->ntargets; i++) {
			char ip[64];
			if (i)
				fputc(',', f);
			int tf = 1;
			fputc('{', f);
			json_kv_str(f, &tf, "host", d->targets[i].host);
			json_kv_str(f, &tf, "address", io_addr_str((const struct sockaddr *)
							&d->targets[i].sa, ip, sizeof(ip)));
			json_kv_num(f, &tf, "port",
				    io_addr_port((const struct sockaddr *)&d->targets[i].sa));
			fputc('}', f);
		}
		fputc(']', f);
		json_key(f, &df, "ehlo");
		if (d->have_facts) {
			int ef = 1;
			fputc('{', f);
			json_kv_str(f, &ef, "banner", d->banner);
			json_key(f, &ef, "extensions");
			relay_json_caps(f, &d->caps);
			json_kv_num(f, &ef, "size", (double)d->caps.size);
			json_kv_str(f, &ef, "tls", d->tls[0] ? d->tls : NULL);
			fputc('}', f);
		} else {
			fputs("null", f);
		}
		fputc('}', f);
	}
	fputs("]}", f);
}

/* One message as a JSON object. */
void relay_json_msg(FILE *f, const struct relay_msg *m, const struct spool_env *env)
{
	static const char *const st[] = {"pending", "sent", "bounced", "deferred"};
	int first = 1;
	fputc('{', f);
	json_kv_str(f, &first, "id", m->qid);
	json_kv_num(f, &first, "arrival", (double)m->arrival);
	json_kv_num(f, &first, "size", (double)m->size);
	json_kv_str(f, &first, "sender", env->sender);
	json_kv_num(f, &first, "attempts", m->attempts);
	json_kv_str(f, &first, "last_error", m->last_error[0] ? m->last_error : NULL);
	json_kv_num(f, &first, "next_attempt", (double)m->next_try);
	json_kv_bool(f, &first, "active", m->nactive > 0);
	json_key(f, &first, "recipients");
	fputc('[', f);
	for (size_t i = 0; i < env->nrcpt; i++) {
		int rf = 1;
		fputs(i ? ",{" : "{", f);
		json_kv_str(f, &rf, "address", env->rcpt[i].addr);
		json_kv_str(f, &rf, "state", st[env->rcpt[i].state & 3]);
		json_kv_str(f, &rf, "last_reply", env->rcpt[i].last_reply);
		fputc('}', f);
	}
	fputs("]}", f);
}

/* The header section of m as stored (at most len - 1 octets, CRLF line
 * ends, without the empty line), NUL-terminated; "" when unreadable. */
void relay_msg_headers(struct relay *r, const char *qid, char *buf, size_t len)
{
	size_t hlen = 0, blen = 0;
	int fd = spool_body_open(r->spool, qid, &blen);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, len - 1);
		hlen = n > 0 ? (size_t)n : 0;
		close(fd);
	}
	buf[hlen] = 0;
	char *end = strstr(buf, "\r\n\r\n");
	if (end)
		end[2] = 0;
}

/* One message with its envelope details and the header section. */
int relay_json_show(struct relay *r, const char *qid, FILE *f)
{
	struct relay_msg *m = relay_msg_find(r, qid);
	if (!m)
		return -1;
	char hdr[RELAY_SHOW_HEADERS_MAX];
	struct spool_env none;
	const struct spool_env *env = relay_msg_env_show(r, m, &none);
	relay_msg_headers(r, m->qid, hdr, sizeof(hdr));
	int first = 1;
	fputc('{', f);
	json_key(f, &first, "message");
	relay_json_msg(f, m, env);
	json_kv_str(f, &first, "helo", env->helo);
	json_kv_str(f, &first, "client_address", env->client_addr);
	json_kv_str(f, &first, "client_name", env->client_name);
	json_kv_str(f, &first, "envid", env->envid);
	json_kv_bool(f, &first, "body_8bit", env->body_8bit);
	json_kv_bool(f, &first, "smtputf8", env->smtputf8);
	json_kv_num(f, &first, "last_attempt", (double)m->last_try);
	json_kv_str(f, &first, "headers", hdr);
	fputc('}', f);
	relay_msg_env_unshow(m, env);
	return 0;
}

/* Does destination d get per-domain series (mail queued, or not up)?  1 or 0. */
static int relay_metrics_shown(const struct relay_dest *d, const struct relay_dstat *st)
{
	return st->msgs > 0 || d->held || d->state == DEST_DOWN || d->state == DEST_LOOP;
}

/* The totals over the whole queue and the destination count by state. */
static void relay_metrics_totals(struct relay *r, FILE *f, time_t now)
{
	unsigned long long bytes = relay_queue_bytes(r);
	size_t bystate[5] = {0};   /* unknown, up, down, loop (enum order), held */
	static const char *const names[5] = {"unknown", "up", "down", "loop", "held"};
	for (const struct relay_dest *d = r->dest_list; d; d = d->next)
		bystate[d->held ? 4 : (size_t)d->state & 3]++;
	time_t oldest = relay_oldest_arrival(r);
	fprintf(f, "# HELP backupmx_queue_messages_all Messages queued (all destinations).\n"
		   "# TYPE backupmx_queue_messages_all gauge\n"
		   "backupmx_queue_messages_all %zu\n"
		   "# HELP backupmx_queue_bytes_all Bytes queued (all destinations).\n"
		   "# TYPE backupmx_queue_bytes_all gauge\n"
		   "backupmx_queue_bytes_all %llu\n"
		   "# HELP backupmx_queue_oldest_age_seconds_all Age of the oldest queued message.\n"
		   "# TYPE backupmx_queue_oldest_age_seconds_all gauge\n"
		   "backupmx_queue_oldest_age_seconds_all %ld\n",
		r->nmsgs, bytes, oldest ? (long)(now - oldest) : 0L);
	fputs("# HELP backupmx_destinations Destination domains known, by state.\n"
	      "# TYPE backupmx_destinations gauge\n", f);
	for (size_t i = 0; i < 5; i++)
		fprintf(f, "backupmx_destinations{state=\"%s\"} %zu\n", names[i], bystate[i]);
}

/* Prometheus exposition of the queue and the destinations: per-domain
 * series only for destinations with mail queued or not up (so the series
 * count follows trouble, not customers), then the totals. */
void relay_metrics(struct relay *r, FILE *f)
{
	time_t now = time(NULL);
	size_t n = 0, i;
	for (struct relay_dest *d = r->dest_list; d; d = d->next)
		n++;
	/* one walk over the queue per scrape, then the four per-domain families */
	struct relay_dstat *st = calloc(n ? n : 1, sizeof(*st));
	if (!st)
		return;
	i = 0;
	for (struct relay_dest *d = r->dest_list; d; d = d->next, i++) {
		relay_dest_totals(d, &st[i]);
		st[i].shown = relay_metrics_shown(d, &st[i]);
	}
	fputs("# HELP backupmx_queue_messages Messages queued per destination domain.\n"
	      "# TYPE backupmx_queue_messages gauge\n", f);
	i = 0;
	for (struct relay_dest *d = r->dest_list; d; d = d->next, i++)
		if (st[i].shown)
			fprintf(f, "backupmx_queue_messages{domain=\"%s\"} %zu\n", d->domain,
				st[i].msgs);
	fputs("# HELP backupmx_queue_bytes Bytes queued per destination domain.\n"
	      "# TYPE backupmx_queue_bytes gauge\n", f);
	i = 0;
	for (struct relay_dest *d = r->dest_list; d; d = d->next, i++)
		if (st[i].shown)
			fprintf(f, "backupmx_queue_bytes{domain=\"%s\"} %llu\n", d->domain,
				st[i].bytes);
	fputs("# HELP backupmx_queue_oldest_age_seconds Age of the oldest queued message.\n"
	      "# TYPE backupmx_queue_oldest_age_seconds gauge\n", f);
	i = 0;
	for (struct relay_dest *d = r->dest_list; d; d = d->next, i++)
		if (st[i].shown)
			fprintf(f, "backupmx_queue_oldest_age_seconds{domain=\"%s\"} %ld\n",
				d->domain, st[i].oldest ? (long)(now - st[i].oldest) : 0L);
	fputs("# HELP backupmx_destination_up 1 when the destination's MX accepts connections.\n"
	      "# TYPE backupmx_destination_up gauge\n", f);
	i = 0;
	for (struct relay_dest *d = r->dest_list; d; d = d->next, i++)
		if (st[i].shown)
			fprintf(f, "backupmx_destination_up{domain=\"%s\"} %d\n", d->domain,
				d->state == DEST_UP && !d->held);
	free(st);
	relay_metrics_totals(r, f, now);
	fprintf(f, "# HELP backupmx_deliveries_total Recipient deliveries by outcome.\n"
		   "# TYPE backupmx_deliveries_total counter\n"
		   "backupmx_deliveries_total{status=\"sent\"} %llu\n"
		   "backupmx_deliveries_total{status=\"deferred\"} %llu\n"
		   "backupmx_deliveries_total{status=\"bounced\"} %llu\n"
		   "backupmx_deliveries_total{status=\"expired\"} %llu\n",
		r->stats.sent, r->stats.deferred, r->stats.bounced, r->stats.expired);
	fprintf(f, "# HELP backupmx_dsn_suppressed_total Bounces not sent to an unauthenticated "
		   "sender (bounce_policy).\n"
		   "# TYPE backupmx_dsn_suppressed_total counter\n"
		   "backupmx_dsn_suppressed_total %llu\n", r->stats.dsn_suppressed);
	fputs("# HELP backupmx_proxy_transactions_total Transactions passed live to a primary "
	      "that was up, by result.\n"
	      "# TYPE backupmx_proxy_transactions_total counter\n", f);
	for (i = 0; i < RELAY_PX_RESULTS; i++)
		fprintf(f, "backupmx_proxy_transactions_total{result=\"%s\"} %llu\n",
			relay_px_result_names[i], r->stats.proxy[i]);
	fprintf(f, "# HELP backupmx_probe_seconds Duration of the last probe of a down primary.\n"
		   "# TYPE backupmx_probe_seconds gauge\n"
		   "backupmx_probe_seconds %.3f\n", r->stats.last_probe_seconds);
}

/* Recent outcomes, optionally of one message. */
void relay_json_history(struct relay *r, const char *qid, FILE *f)
{
	size_t n = r->nhist < RELAY_HISTORY_MAX ? r->nhist : RELAY_HISTORY_MAX;
	int firstrow = 1;
	fputs("{\"history\":[", f);
	for (size_t k = 0; k < n; k++) {
		const struct relay_hist *h = &r->hist[(r->nhist - n + k) % RELAY_HISTORY_MAX];
		if (qid && *qid && strcmp(h->qid, qid) != 0)
			continue;
		int first = 1;
		fputs(firstrow ? "{" : ",{", f);
		firstrow = 0;
		json_kv_str(f, &first, "id", h->qid);
		json_kv_str(f, &first, "recipient", h->rcpt);
		json_kv_str(f, &first, "status", h->status);
		int rcv = strcmp(h->status, "received") == 0;
		json_kv_str(f, &first, rcv ? "filter" : "relay", h->relay);
		json_kv_str(f, &first, rcv ? "authres" : "reply", h->reply);
		json_kv_num(f, &first, "time", (double)h->when);
		json_kv_num(f, &first, "delay", h->delay);
		fputc('}', f);
	}
	fputs("]}", f);
}

