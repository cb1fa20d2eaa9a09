/*
 * cmd_drill.c - "backupmx drill DOMAIN": prove that the backup MX works.
 *
 *   backupmx drill [options] DOMAIN
 *   backupmx drill --via-mx --count N [options] DOMAIN
 *
 * Resolves the MX set of DOMAIN (dns_mx_resolve), names the primary (best
 * preference) and the backups, and sends to every backup MX directly, as a
 * sender would while the primary is down, one uniquely tagged test message
 * (header X-Backupmx-Drill: TAG, the tag in the Subject) with the async SMTP
 * client.  It reports per backup: accepted or refused (with the reply), the
 * queue ID from the 250 reply, and timings.
 *
 * With --control PATH (or -c FILE and its control_socket) it follows the
 * message inside that backupmxd through the control verbs "show ID" and
 * "history ID" until the primary took it (status "sent"), and reports the
 * primary's reply and the end-to-end time; not delivered within --within S
 * is a failure.  --hold first holds the domain at the backup (the primary is
 * "down" from its point of view), checks the message is queued, releases.
 * --status-url http://IP:PORT follows it instead through the daemon's status
 * server (GET /history.json, the same document as "history", fetched with a
 * small HTTP/1.0 client on the io loop); --hold still needs the socket.
 *
 * --via-mx sends --count N messages the way an RFC 5321 sender does: MX
 * hosts in preference order, falling back to the next on a temporary
 * failure; it reports which MX took each message (used by "make demo").
 *
 * Outputs: human, --json, --nagios; exit codes as in "check": 0 OK,
 * 1 WARNING, 2 CRITICAL (a backup refused, or the message was never
 * delivered), 3 UNKNOWN (bad arguments, DNS failure, no daemon).
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "check/check.h"
#include "cli/cli.h"
#include "common/config.h"
#include "common/jscan.h"
#include "common/log.h"
#include "dns/dns.h"
#include "io/io.h"
#include "smtp/client.h"
#include "smtp/smtp.h"

/* ---- named limits ---- */
#define DRILL_COUNT_MAX      10000      /* --count */
#define DRILL_WITHIN_MAX_S   86400.0    /* --within */
#define DRILL_WITHIN_DEFAULT 60.0
#define DRILL_TIMEOUT_MAX_S  3600.0     /* --timeout */
#define DRILL_TAG_MAX        64         /* tag incl. NUL (and "-N" suffix) */
#define DRILL_TAG_USER_MAX   40         /* --tag length */
#define DRILL_TEXT_MAX       512        /* peer text kept (replies) */
#define DRILL_QID_MAX        64         /* queue ID kept from a 250 reply */
#define DRILL_BODY_MAX       4096       /* the test message */
#define DRILL_POLL_MS        250        /* control socket polling interval */
#define DRILL_ADDR_MAX       320        /* --from / --to */
#define DRILL_URL_MAX        160        /* --status-url */
#define DRILL_HTTP_MAX       (4u << 20) /* HTTP response (headers + body) kept at most */
#define DRILL_HTTP_PATH      "/history.json"

enum drill_out { OUT_TEXT = 0, OUT_JSON, OUT_NAGIOS };

/* One SMTP transaction (one message to one address). */
struct drill_send {
	char host[DNS_NAME_MAX];
	uint16_t pref;
	char addr[64];
	char tag[DRILL_TAG_MAX];
	int tried;              /* a session was started */
	int connected;
	int accepted;           /* 250 after the body */
	int permanent;          /* refused with 5xx */
	char stage[12];         /* where it ended: connect, mail, rcpt, data, done */
	int code;               /* last reply code (0: none) */
	char reply[DRILL_TEXT_MAX];
	char qid[DRILL_QID_MAX];
	double connect_ms, total_ms;
	/* following inside the controlled backupmxd */
	int followed;           /* the daemon knows the queue ID */
	int held_queued;        /* seen in the queue while held (--hold) */
	char fstatus[16];       /* sent, deferred, bounced, expired, timeout, "" */
	char frelay[256];
	char freply[DRILL_TEXT_MAX];
	double e2e_s;           /* send -> seen delivered */
	double fdelay;          /* the daemon's own delay */
};

/* The options and the whole run. */
struct drill {
	/* options */
	const char *domain;
	const char *resolver;
	const char *from, *to;
	const char *config, *control;
	const char *status_url;    /* --status-url, validated into http_sa/http_host */
	const char *helo;
	int port, family, allow_private, hold, via_mx, count;
	uint64_t timeout_ms;
	double within_s;
	char tag[DRILL_TAG_MAX];
	/* run */
	struct io_loop *loop;
	struct io_tls *tls;
	struct dns_mx_set *set;
	int dns_done;
	size_t nprimary;
	struct drill_send *send;   /* drill: one per backup; via-mx: one per message */
	size_t nsend;
	int private_seen;
	int unknown;               /* exit 3 reason set */
	char note[512];            /* a run-level problem */
	char last_error[256];      /* the daemon's last delivery error, when a message timed out */
	int critical;
	int control_used, control_found;
	int follow;                /* control socket or status URL */
	struct sockaddr_storage http_sa;
	socklen_t http_salen;
	char http_host[IO_ADDRPORT_MAX + 1];   /* "IP:PORT" for the Host: header */
	double elapsed_ms;
};

/* One HTTP/1.0 GET on the io loop. */
struct drill_http {
	struct drill *d;
	struct io_conn *c;
	char *buf;                 /* response so far, NUL-terminated */
	size_t len, cap;
	int done;                  /* 1 complete, -1 failed */
	char err[128];
};

/* State of one running SMTP transaction. */
struct drill_tx {
	struct drill *d;
	struct drill_send *s;
	struct smtp_client *cl;
	const char *body;
	size_t blen;
	uint64_t t0;
};

/* Print the usage text. */
static void drill_usage(FILE *f)
{
	fputs("usage: backupmx drill [options] DOMAIN\n"
	      "\n"
	      "Send a uniquely tagged test message to every backup MX of DOMAIN directly,\n"
	      "as a sender would while the primary is down, and (with --control, -c or\n"
	      "--status-url) follow it inside backupmxd until the primary has it.\n"
	      "\n"
	      "options:\n"
	      "  --from ADDR      envelope and From: (default drill@<this host>)\n"
	      "  --to ADDR        recipient (default postmaster@DOMAIN)\n"
	      "  --control PATH   control socket of the backup's backupmxd: follow the message\n"
	      "  -c FILE          backupmxd config file (its control_socket)\n"
	      "  --status-url URL http://IP:PORT of the backup's status_listen: follow the\n"
	      "                   message through /history.json (no --hold)\n"
	      "  --hold           hold DOMAIN at the backup, send, check it is queued, release\n"
	      "  --within S       the primary must have the message within S seconds (60)\n"
	      "  --tag TAG        tag prefix (default bmxdrill-TIME-RANDOM)\n"
	      "  --via-mx         send like a sender: MX order, fall back on failure\n"
	      "  --count N        messages to send with --via-mx (1)\n"
	      "  --json           print a JSON document\n"
	      "  --nagios         print one plugin line: STATUS: summary | perfdata\n"
	      "  --timeout S      per-step SMTP and DNS timeout in seconds (10)\n"
	      "  --port N         SMTP port (default 25)\n"
	      "  --resolver R     ADDR[@PORT] (forward to it), recursive, or system\n"
	      "  -4, -6           IPv4 or IPv6 addresses only\n"
	      "  --allow-private  private/loopback addresses are fine, not a warning\n"
	      "  --helo NAME      EHLO name (default: this host's name)\n"
	      "  -v, --verbose    debug logging to stderr\n"
	      "  -h, --help       this text\n"
	      "\n"
	      "exit codes: 0 OK, 1 WARNING, 2 CRITICAL (refused or not delivered), 3 UNKNOWN\n", f);
}

static int drill_bad(enum drill_out out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Report a usage or set-up error and return the UNKNOWN exit code. */
static int drill_bad(enum drill_out out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int rc = cli_vbad("drill", out == OUT_NAGIOS, fmt, ap);
	va_end(ap);
	return rc;
}

/* Validate an envelope address with the SMTP parser; 0 or -1. */
static int drill_addr_ok(const char *a)
{
	char buf[DRILL_ADDR_MAX + 3];
	struct smtp_addr sa;
	struct smtp_err e;

	if (strlen(a) > DRILL_ADDR_MAX)
		return -1;
	int n = snprintf(buf, sizeof(buf), "<%s>", a);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return smtp_addr_parse(buf, (size_t)n, 0, &sa, &e) < 0 || sa.null_path ? -1 : 0;
}

/* Validate a --tag: letters, digits, '.', '-', '_'; 0 or -1. */
static int drill_tag_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > DRILL_TAG_USER_MAX)
		return -1;
	for (; *t; t++)
		if (!((*t >= '0' && *t <= '9') || (*t >= 'a' && *t <= 'z') ||
		      (*t >= 'A' && *t <= 'Z') || *t == '.' || *t == '-' || *t == '_'))
			return -1;
	return 0;
}

/* Parse seconds in (0, max]; 0 or -1. */
static int drill_secs(const char *s, double max, double *out)
{
	char *end = NULL;
	double v = strtod(s, &end);

	if (!end || end == s || *end || !(v > 0) || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Make the default tag: bmxdrill-YYYYmmddHHMMSS-8 hex digits. */
static void drill_make_tag(char *out, size_t len)
{
	unsigned char rnd[4] = {0};
	char when[32];
	time_t now = time(NULL);
	struct tm tm;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		unsigned v = (unsigned)getpid() ^ (unsigned)now;
		memcpy(rnd, &v, sizeof(rnd));
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%d%H%M%S", &tm);
	snprintf(out, len, "bmxdrill-%s-%02x%02x%02x%02x", when, rnd[0], rnd[1], rnd[2], rnd[3]);
}

/* Pull the queue ID out of a 250 reply ("... queued as ID"); "" if none. */
static void drill_qid(const char *text, char *out, size_t len)
{
	const char *p = strstr(text, "queued as ");
	size_t n = 0;

	out[0] = '\0';
	if (!p || len == 0)
		return;
	for (p += 10; *p && n + 1 < len; p++) {
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
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)d->port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)d->port);
	io_addr_str((struct sockaddr *)&ss, s->addr, sizeof(s->addr));
	tx.blen = drill_body(d, s, body, sizeof(body));
	memset(&o, 0, sizeof(o));
	o.helo_name = d->helo;
	o.tls_mode = d->tls ? SMTP_CLIENT_TLS_MAY : SMTP_CLIENT_TLS_NONE;
	o.tls = d->tls;
	o.tls_host = s->host;
	smtp_client_timeouts_all(&o.timeouts, d->timeout_ms);
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
	if (d->family == 4)
		return sa->ss_family == AF_INET;
	if (d->family == 6)
		return sa->ss_family == AF_INET6;
	return 1;
}

/* Note a non-public address (a warning without --allow-private). */
static void drill_note_private(struct drill *d, const struct sockaddr_storage *sa)
{
	if (check_addr_classify((const struct sockaddr *)sa) != CHECK_ADDR_PUBLIC)
		d->private_seen = 1;
}

/* Send to one host: its addresses in order until one answers; 0 if tried. */
static void drill_send_host(struct drill *d, const struct dns_mx_host *h, struct drill_send *s)
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
static void drill_send_via_mx(struct drill *d, struct drill_send *s)
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

/* The MX set arrived. */
static void drill_mx_cb(const struct dns_mx_set *set, void *arg)
{
	struct drill *d = arg;

	memcpy(d->set, set, sizeof(*set));
	d->dns_done = 1;
	io_loop_break(d->loop);
}

/* The resolution took too long. */
static void drill_dns_timeout(void *arg)
{
	struct drill *d = arg;

	io_loop_break(d->loop);
}

/* Resolve the MX set; 0, or -1 with d->note set (exit 3 or 2). */
static int drill_resolve(struct drill *d)
{
	char err[256];
	struct dns_ctx *dns = dns_new(d->loop, d->resolver, 0, err, sizeof(err));

	if (!dns) {
		snprintf(d->note, sizeof(d->note), "resolver: %s", err);
		d->unknown = 1;
		return -1;
	}
	dns_set_timeout(dns, d->timeout_ms);
	struct io_timer *t = io_timer_new(d->loop, drill_dns_timeout, d);
	long id = dns_mx_resolve(dns, d->domain,
				 d->family == 4 ? DNS_MX_NO_V6 : d->family == 6 ? DNS_MX_NO_V4 : 0,
				 drill_mx_cb, d);
	if (id < 0 || !t) {
		snprintf(d->note, sizeof(d->note), "cannot start the MX lookup");
		d->unknown = 1;
		io_timer_free(t);
		dns_free(dns);
		return -1;
	}
	io_timer_add(t, 3 * d->timeout_ms + 1000);
	io_loop_run(d->loop);
	if (!d->dns_done)
		dns_mx_cancel(dns, id);
	io_timer_free(t);
	dns_free(dns);
	if (!d->dns_done) {
		snprintf(d->note, sizeof(d->note), "MX lookup of %s timed out", d->domain);
		d->unknown = 1;
		return -1;
	}
	const struct dns_mx_set *s = d->set;
	if (s->status == DNS_NXDOMAIN) {
		snprintf(d->note, sizeof(d->note), "%s does not exist (NXDOMAIN)", d->domain);
		d->critical = 1;
		return -1;
	}
	if (s->status != DNS_OK) {
		snprintf(d->note, sizeof(d->note), "MX lookup of %s failed: %s %s", d->domain,
			 dns_status_str(s->status), s->why);
		d->unknown = 1;
		return -1;
	}
	if (s->null_mx) {
		snprintf(d->note, sizeof(d->note), "%s has a null MX: it accepts no mail",
			 d->domain);
		d->critical = 1;
		return -1;
	}
	if (s->nhosts == 0) {
		snprintf(d->note, sizeof(d->note), "%s has no MX hosts", d->domain);
		d->critical = 1;
		return -1;
	}
	d->nprimary = 0;
	while (d->nprimary < s->nhosts && s->host[d->nprimary].pref == s->host[0].pref)
		d->nprimary++;
	return 0;
}

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
		if (drill_json_str(p, e, "id", id, sizeof(id)) == 0 && strcmp(id, s->qid) == 0 &&
		    drill_json_str(p, e, "status", st, sizeof(st)) == 0) {
			found = 1;
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

/* Parse --status-url "http://IP:PORT[/]" into d (io_url_parse, plus: a port,
 * no path); 0 or -1 (why). */
static int drill_url_parse(struct drill *d, const char *url, char *why, size_t len)
{
	struct io_url u;

	if (strlen(url) > DRILL_URL_MAX) {
		snprintf(why, len, "longer than %d characters", DRILL_URL_MAX);
		return -1;
	}
	if (io_url_parse(url, &u, why, len) < 0)
		return -1;
	if (!u.has_port || strcmp(u.path, "/") != 0) {
		snprintf(why, len, "expected http://IP:PORT[/] (a port, no path or query)");
		return -1;
	}
	d->http_sa = u.sa;
	d->http_salen = u.salen;
	snprintf(d->http_host, sizeof(d->http_host), "%s", u.hostport);
	return 0;
}

/* End the HTTP exchange: done (1 ok, -1 failed), error text, and stop the loop. */
static void drill_http_end(struct drill_http *h, int done, const char *err)
{
	if (h->done)
		return;
	h->done = done;
	if (err)
		snprintf(h->err, sizeof(h->err), "%s", err);
	io_loop_break(h->d->loop);
}

/* Whether the buffered response is complete by its Content-Length (1) or not yet (0). */
static int drill_http_complete(const struct drill_http *h)
{
	const char *eoh = strstr(h->buf, "\r\n\r\n");

	if (!eoh)
		return 0;
	for (const char *p = strstr(h->buf, "\r\n"); p && p < eoh; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, "Content-Length:", 15) != 0)
			continue;
		char *end = NULL;
		unsigned long long cl = strtoull(p + 17, &end, 10);
		return end != p + 17 && (size_t)(h->buf + h->len - (eoh + 4)) >= cl;
	}
	return 0;
}

/* Move buffered input into h->buf, within DRILL_HTTP_MAX; 0 or -1. */
static int drill_http_take(struct drill_http *h)
{
	size_t n = 0;
	const uint8_t *p;

	while (io_conn_in_len(h->c) > 0 && (p = io_conn_peek(h->c, io_conn_in_len(h->c), &n))) {
		if (n > DRILL_HTTP_MAX - h->len) {
			drill_http_end(h, -1, "response larger than 4 MiB");
			return -1;
		}
		if (h->len + n + 1 > h->cap) {
			size_t cap = h->cap ? h->cap : 16384;
			while (cap < h->len + n + 1)
				cap *= 2;
			char *nb = realloc(h->buf, cap);
			if (!nb) {
				drill_http_end(h, -1, "out of memory");
				return -1;
			}
			h->buf = nb;
			h->cap = cap;
		}
		memcpy(h->buf + h->len, p, n);
		h->len += n;
		h->buf[h->len] = '\0';
		io_conn_consume(h->c, n);
	}
	return 0;
}

/* Connection events of the HTTP GET. */
static void drill_http_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct drill_http *h = arg;
	char req[256 + IO_ADDRPORT_MAX];
	int n;

	switch (ev) {
	case IO_EV_CONNECTED:
		n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n"
			     "Accept: application/json\r\nUser-Agent: backupmx-drill\r\n"
			     "Connection: close\r\n\r\n", DRILL_HTTP_PATH, h->d->http_host);
		if (n < 0 || (size_t)n >= sizeof(req) || io_conn_write(c, req, (size_t)n) < 0)
			drill_http_end(h, -1, "cannot send the request");
		break;
	case IO_EV_READ:
		if (drill_http_take(h) == 0 && h->buf && drill_http_complete(h))
			drill_http_end(h, 1, NULL);
		break;
	case IO_EV_EOF:
		if (drill_http_take(h) == 0)
			drill_http_end(h, 1, NULL);
		break;
	case IO_EV_ERROR:
		drill_http_end(h, -1, io_conn_error(c) ? io_conn_error(c) : "connection error");
		break;
	case IO_EV_TIMEOUT:
		drill_http_end(h, -1, "timed out");
		break;
	default:
		break;
	}
}

/* The whole exchange took too long. */
static void drill_http_deadline(void *arg)
{
	drill_http_end(arg, -1, "timed out");
}

/* GET /history.json from the status URL; the body (NUL-terminated, caller
 * frees) or NULL with why set. */
static char *drill_http_history(struct drill *d, char *why, size_t len)
{
	struct drill_http h = { .d = d };
	struct io_timer *t = io_timer_new(d->loop, drill_http_deadline, &h);

	h.c = io_conn_connect(d->loop, (const struct sockaddr *)&d->http_sa, d->http_salen,
			      NULL, 0, drill_http_cb, &h);
	if (!h.c || !t) {
		snprintf(why, len, "cannot connect");
		if (h.c)
			io_conn_free(h.c);
		if (t)
			io_timer_free(t);
		return NULL;
	}
	io_conn_set_timeout(h.c, d->timeout_ms);
	io_timer_add(t, d->timeout_ms);
	io_loop_run(d->loop);
	io_conn_free(h.c);
	io_timer_free(t);
	if (h.done != 1 || !h.buf) {
		check_sanitize(h.done == 1 ? "empty response" : h.err[0] ? h.err : "no answer",
			       why, len);
		free(h.buf);
		return NULL;
	}
	/* "HTTP/1.x 200 ...", then the body after the blank line */
	char *eoh = strstr(h.buf, "\r\n\r\n");
	if (strncmp(h.buf, "HTTP/1.", 7) != 0 || !eoh) {
		snprintf(why, len, "not an HTTP response");
		free(h.buf);
		return NULL;
	}
	if (strlen(h.buf) < 12 || strncmp(h.buf + 8, " 200", 4) != 0) {
		char line[80];
		size_t n = strcspn(h.buf, "\r\n");
		snprintf(line, sizeof(line), "%.*s", (int)(n < 60 ? n : 60), h.buf);
		check_sanitize(line, why, len);
		free(h.buf);
		return NULL;
	}
	size_t off = (size_t)(eoh + 4 - h.buf);
	memmove(h.buf, h.buf + off, h.len - off + 1);
	return h.buf;
}

/* Whether the daemon holds the message in its queue: 1, 0, or -1 no daemon. */
static int drill_show(struct drill *d, const struct drill_send *s)
{
	char req[128], *ans = NULL;

	snprintf(req, sizeof(req), "show %s", s->qid);
	int rc = cli_ctl_query(d->config, d->control, req, &ans);
	free(ans);
	return rc == 3 ? -1 : rc == 0;
}

/* Send "VERB DOMAIN" to the daemon; 0 or -1 (note set). */
static int drill_ctl_verb(struct drill *d, const char *verb)
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
static double drill_now_s(void)
{
	return (double)io_now_ms() / 1000.0;
}

/* Follow the accepted messages inside the controlled daemon until sent or --within. */
static void drill_follow(struct drill *d, double t_sent)
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
						 d->http_host, DRILL_HTTP_PATH, why);
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

/* Send to every backup, and follow through the control socket when asked. */
static void drill_backups(struct drill *d)
{
	const struct dns_mx_set *set = d->set;
	int held = 0;

	if (d->control_used && d->hold) {
		if (drill_ctl_verb(d, "hold") < 0) {
			d->unknown = 1;
			return;
		}
		held = 1;
	}
	double t_sent = drill_now_s();
	for (size_t i = d->nprimary; i < set->nhosts; i++) {
		struct drill_send *s = &d->send[d->nsend++];
		snprintf(s->tag, sizeof(s->tag), "%s", d->tag);
		drill_send_host(d, &set->host[i], s);
	}
	if (held) {
		for (size_t i = 0; i < d->nsend; i++) {
			struct drill_send *s = &d->send[i];
			if (s->accepted && s->qid[0] && drill_show(d, s) == 1)
				s->held_queued = s->followed = 1;
		}
		if (drill_ctl_verb(d, "release") < 0) {
			d->unknown = 1;
			return;
		}
		drill_ctl_verb(d, "flush");
	}
	if (d->follow)
		drill_follow(d, t_sent);
}

/* Send --count messages the way a sender does. */
static void drill_senders(struct drill *d)
{
	for (int i = 0; i < d->count; i++) {
		struct drill_send *s = &d->send[d->nsend++];
		snprintf(s->tag, sizeof(s->tag), "%s-%d", d->tag, i + 1);
		drill_send_via_mx(d, s);
	}
}

/* The verdict (exit code) and the one-line summary. */
static enum check_state drill_verdict(const struct drill *d, char *sum, size_t len)
{
	size_t acc = 0, refused = 0, sent = 0, undelivered = 0, primary = 0;
	double e2e = 0;

	for (size_t i = 0; i < d->nsend; i++) {
		const struct drill_send *s = &d->send[i];
		if (s->accepted)
			acc++;
		else
			refused++;
		if (s->accepted && d->via_mx && s->pref == d->set->host[0].pref)
			primary++;
		if (!strcmp(s->fstatus, "sent")) {
			sent++;
			if (s->e2e_s > e2e)
				e2e = s->e2e_s;
		} else if (s->followed) {
			undelivered++;
		}
	}
	if (d->unknown) {
		snprintf(sum, len, "%s", d->note);
		return CHECK_UNKNOWN;
	}
	if (d->critical) {
		snprintf(sum, len, "%s", d->note);
		return CHECK_CRITICAL;
	}
	if (d->via_mx) {
		snprintf(sum, len, "%zu of %zu messages accepted (%zu by a primary, "
			 "%zu by a backup)", acc, d->nsend, primary, acc - primary);
		return refused ? CHECK_CRITICAL : CHECK_OK;
	}
	if (d->nsend == 0) {
		snprintf(sum, len, "%s has no backup MX (every MX has preference %u)", d->domain,
			 (unsigned)d->set->host[0].pref);
		return CHECK_CRITICAL;
	}
	if (refused) {
		snprintf(sum, len, "%zu of %zu backup MX refused the drill message", refused,
			 d->nsend);
		return CHECK_CRITICAL;
	}
	if (d->follow && !d->control_found) {
		snprintf(sum, len, "no drill message reached the backupmxd at the %s",
			 d->status_url ? "status URL" : "control socket");
		return CHECK_CRITICAL;
	}
	if (undelivered) {
		snprintf(sum, len, "%zu drill message(s) not delivered to the primary within %g s%s%s%s",
			 undelivered, d->within_s, d->last_error[0] ? " (last delivery error: " : "",
			 d->last_error, d->last_error[0] ? ")" : "");
		return CHECK_CRITICAL;
	}
	if (d->hold) {
		for (size_t i = 0; i < d->nsend; i++)
			if (d->send[i].followed && !d->send[i].held_queued) {
				snprintf(sum, len, "the drill message was not queued while held");
				return CHECK_CRITICAL;
			}
	}
	if (sent)
		snprintf(sum, len, "%zu backup MX accepted the drill message; the primary had it "
			 "after %.1f s", acc, e2e);
	else
		snprintf(sum, len, "%zu backup MX accepted the drill message", acc);
	if (d->private_seen && !d->allow_private) {
		size_t n = strlen(sum);
		snprintf(sum + n, len - n, " (private addresses; --allow-private)");
		return CHECK_WARNING;
	}
	return CHECK_OK;
}

/* Human report. */
static void drill_text(struct check_buf *b, const struct drill *d, enum check_state st,
		       const char *sum)
{
	check_buf_printf(b, "backupmx drill %s  (tag %s)\n", d->domain, d->tag);
	if (d->set->nhosts > 0 && d->set->status == DNS_OK) {
		check_buf_printf(b, "MX set:");
		for (size_t i = 0; i < d->set->nhosts; i++)
			check_buf_printf(b, " %s %s (%u)", i < d->nprimary ? "primary" : "backup",
					 d->set->host[i].name, (unsigned)d->set->host[i].pref);
		check_buf_printf(b, "\n");
	}
	for (size_t i = 0; i < d->nsend; i++) {
		const struct drill_send *s = &d->send[i];
		if (d->via_mx)
			check_buf_printf(b, "message %s: ", s->tag);
		else
			check_buf_printf(b, "backup ");
		if (s->accepted) {
			check_buf_printf(b, "%s [%s] accepted in %.0f ms, queue ID %s\n",
					 s->host, s->addr, s->total_ms, s->qid[0] ? s->qid : "?");
			check_buf_printf(b, "    reply: %s\n", s->reply);
		} else {
			check_buf_printf(b, "%s [%s] REFUSED at %s: %s\n",
					 s->host[0] ? s->host : "(none)", s->addr, s->stage,
					 s->reply);
		}
		if (s->held_queued)
			check_buf_printf(b, "    queued at the backup while %s was held\n",
					 d->domain);
		if (s->followed)
			check_buf_printf(b, "    delivery to the primary: %s after %.1f s"
					 "%s%s%s%s\n",
					 s->fstatus[0] ? s->fstatus : "pending", s->e2e_s,
					 s->frelay[0] ? ", relay " : "", s->frelay,
					 s->freply[0] ? ", reply: " : "", s->freply);
	}
	check_buf_printf(b, "%s: %s\n", check_state_name(st), sum);
}

/* JSON report. */
static void drill_json(struct check_buf *b, const struct drill *d, enum check_state st,
		       const char *sum)
{
	check_buf_printf(b, "{\"schema_version\":1,\"domain\":");
	check_json_str(b, d->domain);
	check_buf_printf(b, ",\"tag\":");
	check_json_str(b, d->tag);
	check_buf_printf(b, ",\"mode\":\"%s\",\"from\":", d->via_mx ? "via-mx" : "backups");
	check_json_str(b, d->from);
	check_buf_printf(b, ",\"to\":");
	check_json_str(b, d->to);
	check_buf_printf(b, ",\"state\":\"%s\",\"exit_code\":%d,\"summary\":",
			 check_state_name(st), (int)st);
	check_json_str(b, sum);
	check_buf_printf(b, ",\"elapsed_ms\":%.0f,\"hold\":%s,\"within_s\":%g,\"mx\":[",
			 d->elapsed_ms, d->hold ? "true" : "false", d->within_s);
	for (size_t i = 0; d->set->status == DNS_OK && i < d->set->nhosts; i++) {
		check_buf_printf(b, "%s{\"host\":", i ? "," : "");
		check_json_str(b, d->set->host[i].name);
		check_buf_printf(b, ",\"pref\":%u,\"role\":\"%s\"}", (unsigned)d->set->host[i].pref,
				 i < d->nprimary ? "primary" : "backup");
	}
	check_buf_printf(b, "],\"%s\":[", d->via_mx ? "messages" : "backups");
	for (size_t i = 0; i < d->nsend; i++) {
		const struct drill_send *s = &d->send[i];
		check_buf_printf(b, "%s{\"tag\":", i ? "," : "");
		check_json_str(b, s->tag);
		check_buf_printf(b, ",\"host\":");
		check_json_str(b, s->host);
		check_buf_printf(b, ",\"pref\":%u,\"address\":", (unsigned)s->pref);
		check_json_str(b, s->addr);
		check_buf_printf(b, ",\"accepted\":%s,\"stage\":\"%s\",\"code\":%d,\"reply\":",
				 s->accepted ? "true" : "false", s->stage, s->code);
		check_json_str(b, s->reply);
		check_buf_printf(b, ",\"queue_id\":");
		check_json_str(b, s->qid);
		check_buf_printf(b, ",\"connect_ms\":%.1f,\"total_ms\":%.1f", s->connect_ms,
				 s->total_ms);
		if (s->followed) {
			check_buf_printf(b, ",\"delivery\":{\"status\":");
			check_json_str(b, s->fstatus[0] ? s->fstatus : "pending");
			check_buf_printf(b, ",\"relay\":");
			check_json_str(b, s->frelay);
			check_buf_printf(b, ",\"reply\":");
			check_json_str(b, s->freply);
			check_buf_printf(b, ",\"end_to_end_s\":%.1f,\"queued_while_held\":%s}",
					 s->e2e_s, s->held_queued ? "true" : "false");
		}
		check_buf_printf(b, "}");
	}
	check_buf_printf(b, "]}\n");
}

/* Nagios line. */
static void drill_nagios(struct check_buf *b, const struct drill *d, enum check_state st,
			 const char *sum)
{
	size_t acc = 0;
	double e2e = 0;

	for (size_t i = 0; i < d->nsend; i++) {
		acc += d->send[i].accepted ? 1 : 0;
		if (d->send[i].e2e_s > e2e)
			e2e = d->send[i].e2e_s;
	}
	check_buf_printf(b, "%s: %s | sent=%zu accepted=%zu end_to_end=%.1fs;;%g time=%.3fs\n",
			 check_state_name(st), sum, d->nsend, acc, e2e, d->within_s,
			 d->elapsed_ms / 1000.0);
}

/* Parse the options into d; returns -1 to go on, or an exit code. */
static int drill_options(struct drill *d, int argc, char **argv, enum drill_out *out,
			 char *domain, char *helo, char *from, char *to)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "control", required_argument, NULL, 'C' },
		{ "config", required_argument, NULL, 'c' },
		{ "status-url", required_argument, NULL, 'U' },
		{ "hold", no_argument, NULL, 'o' },
		{ "within", required_argument, NULL, 'w' },
		{ "tag", required_argument, NULL, 'g' },
		{ "via-mx", no_argument, NULL, 'x' },
		{ "count", required_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ "nagios", no_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, 'p' },
		{ "resolver", required_argument, NULL, 'r' },
		{ "allow-private", no_argument, NULL, 'a' },
		{ "helo", required_argument, NULL, 'H' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];
	int c, json = 0, nagios = 0;
	double v;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--nagios") == 0)
			*out = OUT_NAGIOS;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "46c:hv", longopts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'F':
			if (drill_addr_ok(optarg) < 0)
				return drill_bad(*out, "bad --from \"%.100s\"", optarg);
			snprintf(from, DRILL_ADDR_MAX + 1, "%s", optarg);
			break;
		case 'T':
			if (drill_addr_ok(optarg) < 0)
				return drill_bad(*out, "bad --to \"%.100s\"", optarg);
			snprintf(to, DRILL_ADDR_MAX + 1, "%s", optarg);
			break;
		case 'C': d->control = optarg; break;
		case 'c': d->config = optarg; break;
		case 'U':
			if (drill_url_parse(d, optarg, err, sizeof(err)) < 0)
				return drill_bad(*out, "bad --status-url \"%.100s\": %s", optarg, err);
			d->status_url = optarg;
			break;
		case 'o': d->hold = 1; break;
		case 'w':
			if (drill_secs(optarg, DRILL_WITHIN_MAX_S, &d->within_s) < 0)
				return drill_bad(*out, "bad --within \"%.40s\" (0 < S <= 86400)",
						 optarg);
			break;
		case 'g':
			if (drill_tag_ok(optarg) < 0)
				return drill_bad(*out, "bad --tag (1-%d of A-Z a-z 0-9 . - _)",
						 DRILL_TAG_USER_MAX);
			snprintf(d->tag, sizeof(d->tag), "%s", optarg);
			break;
		case 'x': d->via_mx = 1; break;
		case 'N': {
			long n = strtol(optarg, &end, 10);
			if (!end || *end || n < 1 || n > DRILL_COUNT_MAX)
				return drill_bad(*out, "bad --count \"%.40s\" (1-%d)", optarg,
						 DRILL_COUNT_MAX);
			d->count = (int)n;
			break;
		}
		case 'j': json = 1; break;
		case 'n': nagios = 1; break;
		case 't':
			if (drill_secs(optarg, DRILL_TIMEOUT_MAX_S, &v) < 0)
				return drill_bad(*out, "bad --timeout \"%.40s\" (0 < S <= 3600)",
						 optarg);
			d->timeout_ms = (uint64_t)(v * 1000.0 + 0.5);
			if (d->timeout_ms == 0)
				d->timeout_ms = 1;
			break;
		case 'p': {
			long p = strtol(optarg, &end, 10);
			if (!end || *end || p < 1 || p > 65535)
				return drill_bad(*out, "bad --port \"%.40s\" (1-65535)", optarg);
			d->port = (int)p;
			break;
		}
		case 'r':
			if (config_resolver_check(optarg, err, sizeof(err)) < 0)
				return drill_bad(*out, "bad --resolver: %s", err);
			d->resolver = strcmp(optarg, "system") == 0 ? NULL : optarg;
			break;
		case 'a': d->allow_private = 1; break;
		case 'H':
			if (dns_name_normalize(optarg, helo, DNS_NAME_MAX, err, sizeof(err)) < 0)
				return drill_bad(*out, "--helo: %s", err);
			d->helo = helo;
			break;
		case '4': d->family = 4; break;
		case '6': d->family = 6; break;
		case 'v': log_set_level(LOG_LVL_DEBUG); break;
		case 'h':
			drill_usage(stdout);
			return 0;
		default:
			drill_usage(stderr);
			return drill_bad(*out, "unknown or incomplete option \"%.100s\"",
					 argv[optind - 1]);
		}
	}
	if (json && nagios)
		return drill_bad(*out, "%s", "--json and --nagios exclude each other");
	*out = json ? OUT_JSON : nagios ? OUT_NAGIOS : OUT_TEXT;
	if (optind != argc - 1) {
		drill_usage(stderr);
		return drill_bad(*out, "%s", optind >= argc ? "no DOMAIN given" :
				 "exactly one DOMAIN expected");
	}
	if (dns_name_normalize(argv[optind], domain, DNS_NAME_MAX, err, sizeof(err)) < 0)
		return drill_bad(*out, "bad domain \"%.200s\": %s", argv[optind], err);
	if (domain[0] == '\0')
		return drill_bad(*out, "%s", "empty domain");
	d->domain = domain;
	if (d->count > 1 && !d->via_mx)
		return drill_bad(*out, "%s", "--count needs --via-mx");
	if (d->hold && !d->control && !d->config && d->status_url)
		return drill_bad(*out, "%s", "--hold needs the control socket (--control PATH or "
				 "-c FILE): hold and release are not on the status page of "
				 "--status-url");
	if (d->hold && !d->control && !d->config)
		return drill_bad(*out, "%s", "--hold needs --control PATH or -c FILE");
	if (d->via_mx && (d->hold || d->control || d->config || d->status_url))
		return drill_bad(*out, "%s", "--via-mx does not follow messages (no --hold, "
				 "--control, -c, --status-url)");
	if (!from[0]) {
		char host[DNS_NAME_MAX] = "";
		if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
			snprintf(host, sizeof(host), "localhost");
		snprintf(from, DRILL_ADDR_MAX + 1, "drill@%s", host);
		if (drill_addr_ok(from) < 0)
			snprintf(from, DRILL_ADDR_MAX + 1, "drill@localhost");
	}
	if (!to[0]) {
		snprintf(to, DRILL_ADDR_MAX + 1, "postmaster@%s", domain);
		if (drill_addr_ok(to) < 0)
			return drill_bad(*out, "%s", "cannot make postmaster@DOMAIN; use --to");
	}
	d->from = from;
	d->to = to;
	if (!d->tag[0])
		drill_make_tag(d->tag, sizeof(d->tag));
	return -1;
}

/* The drill subcommand. */
int cli_cmd_drill(int argc, char **argv)
{
	static char domain[DNS_NAME_MAX], helo[DNS_NAME_MAX];
	static char from[DRILL_ADDR_MAX + 1], to[DRILL_ADDR_MAX + 1];
	static struct dns_mx_set set;
	struct drill d;
	enum drill_out out = OUT_TEXT;

	memset(&d, 0, sizeof(d));
	d.port = 25;
	d.count = 1;
	d.timeout_ms = CHECK_TIMEOUT_DEFAULT_MS;
	d.within_s = DRILL_WITHIN_DEFAULT;
	d.set = &set;
	int rc = drill_options(&d, argc, argv, &out, domain, helo, from, to);
	if (rc >= 0)
		return rc;
	d.control_used = d.control || d.config;
	d.follow = d.control_used || d.status_url;
	size_t cap = d.via_mx ? (size_t)d.count : DNS_MX_HOSTS_MAX;
	d.send = calloc(cap, sizeof(*d.send));
	d.loop = io_loop_new();
	if (!d.send || !d.loop) {
		free(d.send);
		if (d.loop)
			io_loop_free(d.loop);
		return drill_bad(out, "%s", "out of memory");
	}
	d.tls = io_tls_client_new();
	uint64_t t0 = io_now_ms();
	if (drill_resolve(&d) == 0) {
		if (d.via_mx)
			drill_senders(&d);
		else
			drill_backups(&d);
	}
	d.elapsed_ms = (double)(io_now_ms() - t0);

	char sum[640];
	enum check_state st = drill_verdict(&d, sum, sizeof(sum));
	struct check_buf b;
	check_buf_init(&b);
	if (out == OUT_JSON)
		drill_json(&b, &d, st, sum);
	else if (out == OUT_NAGIOS)
		drill_nagios(&b, &d, st, sum);
	else
		drill_text(&b, &d, st, sum);
	if (b.oom) {
		fprintf(stderr, "backupmx drill: out of memory\n");
		st = CHECK_UNKNOWN;
	} else if (b.s) {
		fwrite(b.s, 1, b.len, stdout);
	}
	check_buf_free(&b);
	if (d.tls)
		io_tls_free(d.tls);
	io_loop_free(d.loop);
	free(d.send);
	if (fflush(stdout) != 0)
		return CHECK_UNKNOWN;
	return (int)st;
}
