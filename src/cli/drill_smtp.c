/*
 * drill_smtp.c - "backupmx drill": send the tagged test message.
 *
 * One SMTP transaction per call of drill_transact(), with the async SMTP
 * client on the drill's io loop (MAIL, RCPT, DATA, QUIT; STARTTLS when the
 * host offers it, never required); the loop runs until the session ends.
 * The message (at most DRILL_BODY_MAX bytes) carries the tag in the
 * Subject, the Message-ID and the X-Backupmx-Drill header.  Replies are
 * kept sanitised (check_sanitize), at most DRILL_TEXT_MAX bytes; the queue
 * ID is taken from "queued as ID" (or "relayed as ID") in the final 250.  drill_send_host()
 * tries one MX host's addresses in order; drill_send_via_mx() does what an
 * RFC 5321 sender does: every MX in preference order until one accepts or
 * refuses for good.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check/check.h"
#include "cli/drill.h"
#include "dns/dns.h"
#include "io/io.h"
#include "smtp/client.h"
#include "smtp/smtp.h"

#define DRILL_BODY_MAX       4096       /* the test message */

/* State of one running SMTP transaction. */
struct drill_tx {
	struct drill *d;
	struct drill_send *s;
	struct smtp_client *cl;
	const char *body;
	size_t blen;
	uint64_t t0;
};

/* Pull the queue ID out of a 250 reply ("... queued as ID", or "relayed as
 * ID" when backupmxd passed the message to the primary live); "" if none. */
static void drill_qid(const char *text, char *out, size_t len)
{
	const char *p = strstr(text, "relayed as ");
	size_t n = 0, skip = 11;

	if (!p) {
		p = strstr(text, "queued as ");
		skip = 10;
	}
	out[0] = '\0';
	if (!p || len == 0)
		return;
	for (p += skip; *p && n + 1 < len; p++) {
		char c = *p;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '.' || c == '-' || c == '_'))
			break;
		out[n++] = c;
	}
	out[n] = '\0';
}

/* Record a reply in the send record (sanitised for display). */
static void drill_note_reply(struct drill_send *s, const char *stage, const struct smtp_reply *r)
{
	char text[DRILL_TEXT_MAX];

	snprintf(s->stage, sizeof(s->stage), "%s", stage);
	s->code = r->code;
	check_sanitize(r->text, text, sizeof(text));
	snprintf(s->reply, sizeof(s->reply), "%d %s", r->code, text);
	if (r->code >= 500)
		s->permanent = 1;
}

static void drill_tx_rcpt(struct smtp_client *cl, const struct smtp_reply *r, void *arg);
static void drill_tx_data(struct smtp_client *cl, const struct smtp_reply *r, void *arg);

/* MAIL answered: go on with RCPT, or quit. */
static void drill_tx_mail(struct smtp_client *cl, const struct smtp_reply *r, void *arg)
{
	struct drill_tx *tx = arg;

	if (!r)
		return;
	drill_note_reply(tx->s, "mail", r);
	if (r->code / 100 == 2 && smtp_client_rcpt(cl, tx->d->to, NULL, drill_tx_rcpt, tx) == 0)
		return;
	smtp_client_quit(cl, NULL, NULL);
}

/* RCPT answered: send the body, or quit. */
static void drill_tx_rcpt(struct smtp_client *cl, const struct smtp_reply *r, void *arg)
{
	struct drill_tx *tx = arg;

	if (!r)
		return;
	drill_note_reply(tx->s, "rcpt", r);
	if (r->code / 100 == 2 &&
	    smtp_client_data(cl, tx->body, tx->blen, drill_tx_data, tx) == 0)
		return;
	smtp_client_quit(cl, NULL, NULL);
}

/* The final reply to the body. */
static void drill_tx_data(struct smtp_client *cl, const struct smtp_reply *r, void *arg)
{
	struct drill_tx *tx = arg;

	if (!r)
		return;
	drill_note_reply(tx->s, "data", r);
	if (r->code == 250) {
		tx->s->accepted = 1;
		snprintf(tx->s->stage, sizeof(tx->s->stage), "done");
		drill_qid(r->text, tx->s->qid, sizeof(tx->s->qid));
	}
	smtp_client_quit(cl, NULL, NULL);
}

/* Session events: the end of the session ends the loop run. */
static void drill_tx_event(struct smtp_client *cl, enum smtp_client_event ev, void *arg)
{
	struct drill_tx *tx = arg;
	const struct smtp_client_info *in = smtp_client_info(cl);

	if (ev == SMTP_CLIENT_EV_READY)
		return;
	tx->s->connected = in->connected;
	tx->s->connect_ms = in->connect_ms;
	tx->s->total_ms = (double)(io_now_ms() - tx->t0);
	if (ev == SMTP_CLIENT_EV_ERROR && !tx->s->accepted && tx->s->code / 100 != 5) {
		char text[DRILL_TEXT_MAX];
		check_sanitize(in->errtext, text, sizeof(text));
		if (!in->connected)
			snprintf(tx->s->stage, sizeof(tx->s->stage), "connect");
		else if (in->banner.code / 100 != 2 || in->ehlo.code / 100 != 2)
			snprintf(tx->s->stage, sizeof(tx->s->stage), "greeting");
		if (in->banner.code / 100 == 5 || in->ehlo.code / 100 == 5)
			tx->s->permanent = 1;
		snprintf(tx->s->reply, sizeof(tx->s->reply), "%s: %s",
			 smtp_client_error_name(in->err), text);
	}
	io_loop_break(tx->d->loop);
}

/* Build the tagged test message into buf; returns its length. */
static size_t drill_body(const struct drill *d, const struct drill_send *s, char *buf, size_t len)
{
	char date[64], host[DNS_NAME_MAX] = "localhost";
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	gethostname(host, sizeof(host) - 1);
	int n = snprintf(buf, len,
			 "From: <%s>\r\nTo: <%s>\r\nSubject: backupmx drill %s\r\n"
			 "Date: %s\r\nMessage-ID: <%s@%s>\r\nX-Backupmx-Drill: %s\r\n"
			 "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
			 "This is a test message from \"backupmx drill\" (tag %s).\r\n"
			 "It was sent to %s [%s], MX preference %u of %s.\r\n"
			 "It proves that mail reaches the primary through the backup MX.\r\n"
			 "It can be deleted.\r\n",
			 d->from, d->to, s->tag, date, s->tag, host, s->tag, s->tag, s->host,
			 s->addr, (unsigned)s->pref, d->domain);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

/* Run one SMTP transaction to sa and fill s; returns when it ended. */
static void drill_transact(struct drill *d, struct drill_send *s, const struct sockaddr *sa)
{
	char body[DRILL_BODY_MAX];
	struct smtp_client_opts o;
	struct drill_tx tx = { .d = d, .s = s, .body = body, .t0 = io_now_ms() };
	socklen_t salen = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
			  sizeof(struct sockaddr_in);
	struct sockaddr_storage ss;

	memcpy(&ss, sa, salen);
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)d->p.port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)d->p.port);
	io_addr_str((struct sockaddr *)&ss, s->addr, sizeof(s->addr));
	tx.blen = drill_body(d, s, body, sizeof(body));
	memset(&o, 0, sizeof(o));
	o.helo_name = d->p.helo;
	o.tls_mode = d->tls ? SMTP_CLIENT_TLS_MAY : SMTP_CLIENT_TLS_NONE;
	o.tls = d->tls;
	o.tls_host = s->host;
	smtp_client_timeouts_all(&o.timeouts, d->p.timeout_ms);
	s->tried = 1;
	s->connected = 0;
	s->accepted = 0;
	s->permanent = 0;
	s->code = 0;
	s->reply[0] = '\0';
	s->qid[0] = '\0';
	s->connect_ms = s->total_ms = -1;
	snprintf(s->stage, sizeof(s->stage), "connect");
	tx.cl = smtp_client_new(d->loop, (struct sockaddr *)&ss, salen, &o, drill_tx_event, &tx);
	if (!tx.cl) {
		snprintf(s->reply, sizeof(s->reply), "local: cannot start an SMTP session");
		return;
	}
	if (smtp_client_mail(tx.cl, d->from, NULL, drill_tx_mail, &tx) < 0) {
		smtp_client_free(tx.cl);
		snprintf(s->reply, sizeof(s->reply), "local: cannot queue MAIL");
		return;
	}
	io_loop_run(d->loop);
	smtp_client_free(tx.cl);
}

/* Whether an address is usable under -4/-6. */
static int drill_family_ok(const struct drill *d, const struct sockaddr_storage *sa)
{
	if (d->p.family == 4)
		return sa->ss_family == AF_INET;
	if (d->p.family == 6)
		return sa->ss_family == AF_INET6;
	return 1;
}

/* Note a non-public address (a warning without --allow-private). */
static void drill_note_private(struct drill *d, const struct sockaddr_storage *sa)
{
	if (check_addr_classify((const struct sockaddr *)sa) != CHECK_ADDR_PUBLIC)
		d->private_seen = 1;
}

/* Send to one host: its addresses in order until one answers. */
void drill_send_host(struct drill *d, const struct dns_mx_host *h, struct drill_send *s)
{
	snprintf(s->host, sizeof(s->host), "%s", h->name);
	s->pref = h->pref;
	for (size_t a = 0; a < h->naddr; a++) {
		if (!drill_family_ok(d, &h->addr[a]))
			continue;
		drill_note_private(d, &h->addr[a]);
		drill_transact(d, s, (const struct sockaddr *)&h->addr[a]);
		if (s->connected)
			return;
	}
	if (!s->tried) {
		snprintf(s->stage, sizeof(s->stage), "dns");
		snprintf(s->reply, sizeof(s->reply), "no usable address");
	}
}

/* Send one message like an RFC 5321 sender: MX order, fall back on failure. */
void drill_send_via_mx(struct drill *d, struct drill_send *s)
{
	const struct dns_mx_set *set = d->set;
	char tag[DRILL_TAG_MAX], last[DRILL_TEXT_MAX] = "no usable address";

	snprintf(tag, sizeof(tag), "%s", s->tag);
	for (size_t i = 0; i < set->nhosts; i++) {
		const struct dns_mx_host *h = &set->host[i];
		for (size_t a = 0; a < h->naddr; a++) {
			if (!drill_family_ok(d, &h->addr[a]))
				continue;
			drill_note_private(d, &h->addr[a]);
			snprintf(s->host, sizeof(s->host), "%s", h->name);
			s->pref = h->pref;
			drill_transact(d, s, (const struct sockaddr *)&h->addr[a]);
			if (s->accepted || s->permanent)
				return;
			snprintf(last, sizeof(last), "%s [%s]: %s", h->name, s->addr, s->reply);
		}
	}
	if (!s->accepted && !s->permanent) {
		s->host[0] = '\0';
		snprintf(s->reply, sizeof(s->reply), "every MX failed; last: %s", last);
	}
}
