/*
 * relay_html.c - the status page (status_listen, `/`): one self-contained
 * HTML document, refreshed by the browser every 5 s, with no script and no
 * external asset (its Content-Security-Policy forbids both).  Every field
 * from a peer or the queue goes through relay_html_esc().
 *
 * It scales to 100,000 destinations: the totals, then only the top
 * RELAY_HTML_DESTS destinations (most mail queued first, then those not up),
 * picked in one pass with a bounded insertion list, and "N more destinations
 * not shown".  A filter (`/?domain=TEXT`, a case-insensitive substring of
 * the domain) narrows the table to the destinations that match.
 */
#include "relay/relay_int.h"

#include <string.h>

#define RELAY_HTML_MSGS 50   /* newest queued messages shown on the status page */
#define RELAY_HTML_DESTS 50  /* destinations shown on the status page (the top ones) */
#define RELAY_HTML_RCPTS 10  /* recipients shown per message on the status page */
#define RELAY_HTML_HIST 20   /* newest outcomes shown on the status page */

/* Write s HTML-escaped (text and attribute safe); control bytes become '?'. */
static void relay_html_esc(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f); break;
		}
	}
}

/* Write a time as UTC "YYYY-MM-DD HH:MM:SSZ" ("-" for 0). */
static void relay_html_time(FILE *f, time_t t)
{
	struct tm tm;
	char buf[32];
	if (!t || !gmtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm)) {
		fputc('-', f);
		return;
	}
	fputs(buf, f);
}

/* Write a duration in seconds as "3d 4h", "5m 2s" or "7s". */
static void relay_html_age(FILE *f, long s)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		fprintf(f, "%ldd %ldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		fprintf(f, "%ldh %ldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		fprintf(f, "%ldm %lds", s / 60, s % 60);
	else
		fprintf(f, "%lds", s);
}

/* The page's head, style and summary line. */
static void relay_html_head(struct relay *r, FILE *f, time_t now)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" "
	      "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
	      "<meta http-equiv=\"refresh\" content=\"5\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width\">\n<title>backupmx ", f);
	relay_html_esc(f, r->self_names[0]);
	fputs("</title>\n<style>\n"
	      "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
	      "table{border-collapse:collapse;margin-bottom:1.5em}\n"
	      "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\n"
	      "th{background:#eee}td.n{text-align:right}\n"
	      ".up{color:#070;font-weight:bold}.down,.loop{color:#b00;font-weight:bold}\n"
	      ".held,.unknown{color:#a60;font-weight:bold}.err{color:#666;font-size:90%}\n"
	      "code{font-size:95%}\n</style></head><body>\n<h1>backupmx on ", f);
	relay_html_esc(f, r->self_names[0]);
	fputs("</h1>\n<p id=\"summary\">", f);
	fprintf(f, "%zu message(s) queued; page generated ", r->nmsgs);
	relay_html_time(f, now);
	fputs(".</p>\n", f);
}

/* One destination's row. */
static void relay_html_dest(const struct relay_dest *d, const struct relay_dstat *dsp, FILE *f,
			    time_t now)
{
	struct relay_dstat ds = *dsp;
	const char *state = relay_dest_state_name(d);
	fputs("<tr><td class=\"domain\">", f);
	relay_html_esc(f, d->domain);
	fputs("</td><td class=\"state ", f);
	relay_html_esc(f, state);
	fputs("\">", f);
	relay_html_esc(f, state);
	fputs("</td><td>", f);
	relay_html_time(f, d->since);
	if (d->since) {
		fputs(" (", f);
		relay_html_age(f, (long)(now - d->since));
		fputs(" ago)", f);
	}
	fprintf(f, "</td><td class=\"n queued\">%zu</td><td class=\"n\">%llu</td>"
		   "<td class=\"n oldest\">", ds.msgs, ds.bytes);
	if (ds.oldest)
		relay_html_age(f, (long)(now - ds.oldest));
	else
		fputc('-', f);
	fputs("</td><td>", f);
	for (size_t i = 0; i < d->ntargets; i++) {
		char ip[64];
		const struct sockaddr *sa = (const struct sockaddr *)&d->targets[i].sa;
		if (i)
			fputs("<br>", f);
		relay_html_esc(f, d->targets[i].host);
		fputs(" [", f);
		relay_html_esc(f, io_addr_str(sa, ip, sizeof(ip)));
		fprintf(f, "]:%d", io_addr_port(sa));
	}
	fputs("</td><td class=\"err\">", f);
	relay_html_esc(f, d->last_error);
	fputs("</td></tr>\n", f);
}

/* One candidate row of the destinations table. */
struct relay_html_row {
	const struct relay_dest *d;
	struct relay_dstat st;
	int trouble;                      /* down, loop or held */
};

/* The top destinations so far, best first. */
struct relay_html_top {
	struct relay_html_row row[RELAY_HTML_DESTS];
	size_t n;
};

/* Order of the table: most queued first, then not up, then by name. */
static int relay_html_cmp(const struct relay_html_row *a, const struct relay_html_row *b)
{
	if (a->st.msgs != b->st.msgs)
		return a->st.msgs > b->st.msgs ? -1 : 1;
	if (a->trouble != b->trouble)
		return a->trouble ? -1 : 1;
	return strcmp(a->d->domain, b->d->domain);
}

/* Offer a row to the top list (kept sorted, at most RELAY_HTML_DESTS). */
static void relay_html_top_add(struct relay_html_top *t, const struct relay_html_row *row)
{
	if (t->n == RELAY_HTML_DESTS && relay_html_cmp(row, &t->row[t->n - 1]) >= 0)
		return;
	size_t i = t->n < RELAY_HTML_DESTS ? t->n++ : RELAY_HTML_DESTS - 1;
	for (; i > 0 && relay_html_cmp(row, &t->row[i - 1]) < 0; i--)
		t->row[i] = t->row[i - 1];
	t->row[i] = *row;
}

/* The filter form and the totals over every destination. */
static void relay_html_totals(struct relay *r, const char *filter, FILE *f, time_t now,
			      const size_t bystate[5], unsigned long long bytes)
{
	static const char *const names[5] = {"unknown", "up", "down", "loop", "held"};
	size_t n = 0;
	for (size_t i = 0; i < 5; i++)
		n += bystate[i];
	time_t oldest = relay_oldest_arrival(r);
	fprintf(f, "<p id=\"totals\">%zu destination(s):", n);
	for (size_t i = 0; i < 5; i++)
		fprintf(f, "%s <span class=\"%s\">%zu %s</span>", i ? "," : "", names[i],
			bystate[i], names[i]);
	fprintf(f, "; %llu bytes queued; oldest message ", bytes);
	if (oldest)
		relay_html_age(f, (long)(now - oldest));
	else
		fputc('-', f);
	fputs(".</p>\n<form id=\"filter\" method=\"get\"><label>Domain contains "
	      "<input name=\"domain\" maxlength=\"253\" value=\"", f);
	relay_html_esc(f, filter);
	fputs("\"></label> <button>Filter</button></form>\n", f);
}

/* The destinations table: the top ones of those matching the filter. */
static void relay_html_dests(struct relay *r, const char *filter, FILE *f, time_t now)
{
	struct relay_html_top top = {.n = 0};
	size_t bystate[5] = {0}, nmatch = 0;
	unsigned long long bytes = relay_queue_bytes(r);

	for (struct relay_dest *d = r->dest_list; d; d = d->next) {
		struct relay_html_row row = {.d = d};
		relay_dest_totals(d, &row.st);
		bystate[d->held ? 4 : (size_t)d->state & 3]++;
		if (filter[0] && !strcasestr(d->domain, filter))
			continue;
		row.trouble = d->held || d->state == DEST_DOWN || d->state == DEST_LOOP;
		nmatch++;
		relay_html_top_add(&top, &row);
	}
	fputs("<h2>Destinations</h2>\n", f);
	relay_html_totals(r, filter, f, now, bystate, bytes);
	if (!top.n) {
		fputs("<p id=\"destinations\">", f);
		if (filter[0]) {
			fputs("No destination matches &quot;", f);
			relay_html_esc(f, filter);
			fputs("&quot;.</p>\n", f);
		} else {
			fputs("No destinations yet.</p>\n", f);
		}
		return;
	}
	fputs("<table id=\"destinations\"><tr><th>Domain</th><th>State</th><th>Since</th>"
	      "<th>Queued</th><th>Bytes</th><th>Oldest</th><th>Next hops</th>"
	      "<th>Last error</th></tr>\n", f);
	for (size_t i = 0; i < top.n; i++)
		relay_html_dest(top.row[i].d, &top.row[i].st, f, now);
	fputs("</table>\n", f);
	if (nmatch > top.n)
		fprintf(f, "<p id=\"more\">%zu more destination(s) not shown: the table has the "
			   "%d with the most mail queued, then those not up.</p>\n",
			nmatch - top.n, RELAY_HTML_DESTS);
}

/* One queued message's row. */
static void relay_html_msg(const struct relay_msg *m, const struct spool_env *env, FILE *f)
{
	static const char *const st[] = {"pending", "sent", "bounced", "deferred"};
	fputs("<tr><td><code>", f);
	relay_html_esc(f, m->qid);
	fputs("</code></td><td>", f);
	relay_html_time(f, m->arrival);
	fprintf(f, "</td><td class=\"n\">%llu</td><td class=\"sender\">", m->size);
	relay_html_esc(f, env->sender[0] ? env->sender : "<>");
	fputs("</td><td>", f);
	for (size_t i = 0; i < env->nrcpt; i++) {
		if (i == RELAY_HTML_RCPTS) {
			fprintf(f, "<br>... and %zu more", env->nrcpt - i);
			break;
		}
		if (i)
			fputs("<br>", f);
		relay_html_esc(f, env->rcpt[i].addr);
		fputs(" (", f);
		relay_html_esc(f, m->nactive && (env->rcpt[i].state & 3) == 0 ? "sending"
						  : st[env->rcpt[i].state & 3]);
		fputc(')', f);
	}
	fprintf(f, "</td><td class=\"n\">%u</td><td class=\"err\">", m->attempts);
	relay_html_esc(f, m->last_error);
	fputs("</td></tr>\n", f);
}

/* The newest queued messages. */
static void relay_html_msgs(struct relay *r, FILE *f)
{
	fprintf(f, "<h2>Newest queued messages</h2>\n");
	if (!r->tail) {
		fputs("<p id=\"messages\">The queue is empty.</p>\n", f);
		return;
	}
	fputs("<table id=\"messages\"><tr><th>Queue ID</th><th>Arrived</th><th>Size</th>"
	      "<th>Sender</th><th>Recipients</th><th>Tries</th><th>Last error</th></tr>\n", f);
	int shown = 0;
	for (struct relay_msg *m = r->tail; m && shown < RELAY_HTML_MSGS; m = m->prev, shown++) {
		struct spool_env none;
		const struct spool_env *env = relay_msg_env_show(r, m, &none);
		relay_html_msg(m, env, f);
		relay_msg_env_unshow(m, env);
	}
	if (r->nmsgs > RELAY_HTML_MSGS)
		fprintf(f, "<tr><td colspan=\"7\">... and %zu older</td></tr>\n",
			r->nmsgs - RELAY_HTML_MSGS);
	fputs("</table>\n", f);
}

/* The newest recipient outcomes. */
static void relay_html_history(struct relay *r, FILE *f)
{
	size_t n = r->nhist < RELAY_HISTORY_MAX ? r->nhist : RELAY_HISTORY_MAX;
	size_t nshow = n < RELAY_HTML_HIST ? n : RELAY_HTML_HIST;
	fputs("<h2>Recent outcomes</h2>\n", f);
	if (!nshow) {
		fputs("<p id=\"history\">Nothing delivered yet.</p>\n", f);
		return;
	}
	fputs("<table id=\"history\"><tr><th>Time</th><th>Queue ID</th><th>Recipient</th>"
	      "<th>Status</th><th>Relay</th><th>Reply</th></tr>\n", f);
	for (size_t k = 0; k < nshow; k++) {
		const struct relay_hist *h = &r->hist[(r->nhist - 1 - k) % RELAY_HISTORY_MAX];
		const char *cells[] = {h->qid, h->rcpt, h->status, h->relay};
		fputs("<tr><td>", f);
		relay_html_time(f, h->when);
		fputs("</td><td><code>", f);
		relay_html_esc(f, cells[0]);
		fputs("</code></td>", f);
		for (size_t c = 1; c < 4; c++) {
			fputs("<td>", f);
			relay_html_esc(f, cells[c]);
			fputs("</td>", f);
		}
		fputs("<td class=\"err\">", f);
		relay_html_esc(f, h->reply);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* The self-contained HTML status page (no script, no external assets);
 * filter ("" or NULL: none) narrows the destinations. */
void relay_html(struct relay *r, const char *filter, FILE *f)
{
	time_t now = time(NULL);
	relay_html_head(r, f, now);
	relay_html_dests(r, filter ? filter : "", f, now);
	relay_html_msgs(r, f);
	relay_html_history(r, f);
	fputs("</body></html>\n", f);
}
