/*
 * check_run.c - gather the facts for "backupmx check": DNS and SMTP probes.
 *
 * Everything runs concurrently on one io loop: the MX resolution, then for
 * every address at once its PTR lookup (followed by the forward lookups of
 * the PTR names, for forward-confirmed reverse DNS) and its SMTP probe.
 * The probe greets (EHLO, STARTTLS when offered, EHLO again), then sends
 * MAIL FROM:<>, RCPT TO postmaster@DOMAIN, a random nonexistent user and a
 * foreign domain, RSET and QUIT, pipelined when the server allows it; it
 * never sends DATA.  When the TLS handshake fails the probe reconnects once
 * without TLS, like an opportunistic MTA would.  A watchdog at timeout +
 * CHECK_GRACE_MS ends whatever is still running, so a black-hole MX cannot
 * stretch the run.
 */
#include "check/check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/log.h"
#include "io/io.h"
#include "smtp/client.h"
#include "smtp/smtp.h"

struct run;

/* One forward lookup of one PTR name. */
struct fwd {
	struct probe *p;
	long qid;
};

/* One probe command's reply slot. */
struct pcmd {
	struct probe *p;
	struct check_reply *r;
};

/* Everything about one address. */
struct probe {
	struct run *run;
	struct check_mx *mx;
	struct check_addr *addr;
	struct smtp_client *cl;
	int ready;                   /* the current session reached READY */
	int retried;                 /* the plaintext retry was started */
	long ptr_qid;
	struct fwd fwd[CHECK_PTR_MAX];
	int nfwd_pending;
	struct pcmd cmd[5];
};

struct run {
	struct io_loop *loop;
	struct dns_ctx *dns;
	struct io_tls *tls;
	const struct check_opts *o;
	struct check_result *res;
	long mx_qid;
	int pending;                 /* outstanding lookups and sessions */
	struct io_timer *watchdog;
	char random_local[40];
	const char *relay_domain;
	struct probe probe[CHECK_MX_MAX][CHECK_ADDR_MAX];
};

/* Monotonic milliseconds with sub-millisecond precision. */
static double run_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* One outstanding operation finished; stop the loop after the last. */
static void run_done_one(struct run *run)
{
	if (--run->pending == 0)
		io_loop_break(run->loop);
}

/* Copy src into a fixed buffer, sanitised for display. */
static void copy_text(char *dst, size_t len, const char *src)
{
	check_sanitize(src, dst, len);
}

/* Record the session facts of a probe's client into its result. */
static void probe_record(struct probe *p)
{
	const struct smtp_client_info *in = smtp_client_info(p->cl);
	struct check_smtp *s = &p->addr->smtp;

	if (!p->retried || s->connect_ms < 0) {
		s->connect_ms = in->connect_ms;
		s->banner_ms = in->banner_ms;
	}
	s->total_ms = in->total_ms;
	if (in->banner.code) {
		s->banner_code = in->banner.code;
		copy_text(s->banner, sizeof(s->banner), in->banner.text);
		check_first_word(in->banner.text, s->banner_host, sizeof(s->banner_host));
	}
	if (in->ehlo.code) {
		s->used_helo = in->used_helo;
		check_first_word(in->ehlo.text, s->ehlo_host, sizeof(s->ehlo_host));
		if (in->ehlo.code / 100 == 2) {
			s->caps = in->caps.flags;
			s->size = in->caps.size;
			s->size_advertised = (in->caps.flags & SMTP_CAP_SIZE) != 0;
		}
	}
	if (!p->retried) {
		s->tls.offered = in->starttls_offered;
		s->tls.attempted = in->starttls_tried;
	}
	if (in->tls.active) {
		s->tls.ok = 1;
		snprintf(s->tls.version, sizeof(s->tls.version), "%s", in->tls.version);
		snprintf(s->tls.cipher, sizeof(s->tls.cipher), "%s", in->tls.cipher);
		s->tls.bits = in->tls.bits;
		s->tls.have_cert = in->tls.have_cert;
		s->tls.verified = in->tls.verified;
		copy_text(s->tls.verify_error, sizeof(s->tls.verify_error), in->tls.verify_error);
		s->tls.name_match = in->tls.name_match;
		copy_text(s->tls.subject_cn, sizeof(s->tls.subject_cn), in->tls.subject_cn);
		copy_text(s->tls.issuer_cn, sizeof(s->tls.issuer_cn), in->tls.issuer_cn);
		s->tls.days_left = in->tls.days_left;
	}
}

/* Map a client error to the probe status. */
static enum check_smtp_status probe_status(enum smtp_client_error e)
{
	switch (e) {
	case SMTP_CLIENT_E_NONE: return CHECK_SMTP_OK;
	case SMTP_CLIENT_E_REFUSED: return CHECK_SMTP_REFUSED;
	case SMTP_CLIENT_E_CONNECT: return CHECK_SMTP_CONNECT_ERROR;
	case SMTP_CLIENT_E_TIMEOUT: return CHECK_SMTP_TIMEOUT;
	case SMTP_CLIENT_E_TLS: return CHECK_SMTP_TLS_ERROR;
	case SMTP_CLIENT_E_PROTOCOL: return CHECK_SMTP_PROTOCOL_ERROR;
	case SMTP_CLIENT_E_CLOSED: return CHECK_SMTP_CLOSED;
	case SMTP_CLIENT_E_REJECTED: return CHECK_SMTP_REJECTED;
	case SMTP_CLIENT_E_LOCAL: return CHECK_SMTP_LOCAL_ERROR;
	}
	return CHECK_SMTP_LOCAL_ERROR;
}

static int probe_start(struct probe *p, int tls);

/* A reply to one of the probe commands. */
static void probe_reply(struct smtp_client *cl, const struct smtp_reply *r, void *arg)
{
	struct pcmd *c = arg;

	(void)cl;
	if (!r)
		return;
	c->r->code = r->code;
	copy_text(c->r->text, sizeof(c->r->text), r->text);
}

/* Queue MAIL FROM:<>, the three RCPT probes, RSET, (--filter-probe) one
 * GTUBE message to postmaster, and QUIT. */
static void probe_commands(struct probe *p)
{
	struct run *run = p->run;
	struct check_smtp *s = &p->addr->smtp;
	char pm[DNS_NAME_MAX + 16];
	int bad = 0;

	snprintf(pm, sizeof(pm), "postmaster@%s", run->res->domain);
	snprintf(s->random_rcpt, sizeof(s->random_rcpt), "%s@%s", run->random_local,
		 run->res->domain);
	snprintf(s->relay_rcpt, sizeof(s->relay_rcpt), "relaytest@%s", run->relay_domain);
	struct check_reply *slots[4] = { &s->mail_from, &s->rcpt_postmaster, &s->rcpt_random,
					 &s->rcpt_relay };
	for (int i = 0; i < 4; i++) {
		memset(slots[i], 0, sizeof(*slots[i]));
		p->cmd[i].p = p;
		p->cmd[i].r = slots[i];
		slots[i]->tested = 1;
	}
	bad |= smtp_client_mail(p->cl, "", NULL, probe_reply, &p->cmd[0]);
	bad |= smtp_client_rcpt(p->cl, pm, NULL, probe_reply, &p->cmd[1]);
	bad |= smtp_client_rcpt(p->cl, s->random_rcpt, NULL, probe_reply, &p->cmd[2]);
	bad |= smtp_client_rcpt(p->cl, s->relay_rcpt, NULL, probe_reply, &p->cmd[3]);
	bad |= smtp_client_rset(p->cl, NULL, NULL);
	if (run->o->filter_probe) {
		/* --filter-probe: one real message, the GTUBE test string, to postmaster */
		static const char gtube[] =
			"Subject: backupmx check --filter-probe (GTUBE test message)\r\n"
			"Auto-Submitted: auto-generated\r\n\r\n"
			"This message tests whether this MX applies the same content filter as\r\n"
			"the primary.  Every filter should refuse it:\r\n\r\n"
			"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n";
		memset(&s->filter, 0, sizeof(s->filter));
		s->filter.tested = 1;
		p->cmd[4].p = p;
		p->cmd[4].r = &s->filter;
		bad |= smtp_client_mail(p->cl, "", NULL, NULL, NULL);
		bad |= smtp_client_rcpt(p->cl, pm, NULL, NULL, NULL);
		bad |= smtp_client_data(p->cl, gtube, sizeof(gtube) - 1, probe_reply, &p->cmd[4]);
	}
	bad |= smtp_client_quit(p->cl, NULL, NULL);
	if (bad)
		log_debug("check: could not queue every probe command for %s", p->addr->str);
}

/* Session events of a probe. */
static void probe_event(struct smtp_client *cl, enum smtp_client_event ev, void *arg)
{
	struct probe *p = arg;
	struct check_smtp *s = &p->addr->smtp;
	const struct smtp_client_info *in = smtp_client_info(cl);

	switch (ev) {
	case SMTP_CLIENT_EV_READY:
		p->ready = 1;
		s->status = CHECK_SMTP_OK;
		probe_record(p);
		probe_commands(p);
		return;
	case SMTP_CLIENT_EV_DONE:
		probe_record(p);
		break;
	case SMTP_CLIENT_EV_ERROR:
		probe_record(p);
		if (p->ready) {
			/* the greeting worked; note how the rest ended */
			copy_text(s->error, sizeof(s->error), in->errtext);
			break;
		}
		if (in->err == SMTP_CLIENT_E_TLS && !p->retried) {
			copy_text(s->tls.error, sizeof(s->tls.error), in->errtext);
			smtp_client_free(cl);
			p->cl = NULL;
			p->retried = 1;
			s->plaintext_retry = 1;
			if (probe_start(p, 0) == 0)
				return;
			s->status = CHECK_SMTP_TLS_ERROR;
			run_done_one(p->run);
			return;
		}
		s->status = probe_status(in->err);
		copy_text(s->error, sizeof(s->error), in->errtext);
		if (p->retried && s->status != CHECK_SMTP_OK && s->tls.error[0] &&
		    in->err != SMTP_CLIENT_E_TLS) {
			/* keep the TLS failure as the main reason when the retry failed too */
			s->status = CHECK_SMTP_TLS_ERROR;
		}
		break;
	}
	smtp_client_free(cl);
	p->cl = NULL;
	run_done_one(p->run);
}

/* Start one SMTP session for a probe (tls: try STARTTLS).  0 or -1. */
static int probe_start(struct probe *p, int tls)
{
	struct run *run = p->run;
	struct smtp_client_opts co;
	struct sockaddr_storage ss = p->addr->sa;
	socklen_t len;

	if (ss.ss_family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)run->o->port);
		len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)run->o->port);
		len = sizeof(struct sockaddr_in6);
	}
	memset(&co, 0, sizeof(co));
	co.helo_name = run->o->helo_name;
	co.tls_mode = tls && run->tls ? SMTP_CLIENT_TLS_MAY : SMTP_CLIENT_TLS_NONE;
	co.tls = run->tls;
	co.tls_host = p->mx->name;
	smtp_client_timeouts_all(&co.timeouts, run->o->timeout_ms);
	p->ready = 0;
	p->cl = smtp_client_new(run->loop, (struct sockaddr *)&ss, len, &co, probe_event, p);
	if (!p->cl) {
		p->addr->smtp.status = CHECK_SMTP_LOCAL_ERROR;
		snprintf(p->addr->smtp.error, sizeof(p->addr->smtp.error),
			 "cannot start the SMTP session");
		return -1;
	}
	return 0;
}

/* A forward lookup of a PTR name came back. */
static void fwd_cb(const struct dns_answer *ans, void *arg)
{
	struct fwd *f = arg;
	struct probe *p = f->p;

	f->qid = 0;
	if (ans->status == DNS_OK) {
		for (size_t i = 0; i < ans->n && i < DNS_ANSWERS_MAX; i++)
			if (check_same_addr((const struct sockaddr *)&ans->addr[i],
					    (const struct sockaddr *)&p->addr->sa))
				p->addr->fcrdns = 1;
	}
	if (--p->nfwd_pending == 0 && p->addr->fcrdns != 1)
		p->addr->fcrdns = 0;
	run_done_one(p->run);
}

/* The PTR answer of an address: keep the names, check each one forward. */
static void ptr_cb(const struct dns_answer *ans, void *arg)
{
	struct probe *p = arg;
	struct check_addr *a = p->addr;
	struct run *run = p->run;

	p->ptr_qid = 0;
	a->ptr_done = 1;
	a->ptr_status = ans->status;
	if (ans->status == DNS_OK) {
		for (size_t i = 0; i < ans->n && a->nptr < CHECK_PTR_MAX; i++) {
			if (!ans->name[i][0])
				continue;
			copy_text(a->ptr[a->nptr], sizeof(a->ptr[0]), ans->name[i]);
			a->nptr++;
		}
		int type = a->sa.ss_family == AF_INET6 ? DNS_T_AAAA : DNS_T_A;
		for (size_t i = 0; i < a->nptr; i++) {
			p->fwd[i].p = p;
			p->fwd[i].qid = dns_query(run->dns, a->ptr[i], type, fwd_cb, &p->fwd[i]);
			if (p->fwd[i].qid > 0) {
				p->nfwd_pending++;
				run->pending++;
			}
		}
		if (a->nptr > 0 && p->nfwd_pending == 0)
			a->fcrdns = 0;
	}
	run_done_one(run);
}

/* The MX set arrived: copy it and start every per-address job. */
static void mx_cb(const struct dns_mx_set *set, void *arg)
{
	struct run *run = arg;
	struct check_result *res = run->res;

	run->mx_qid = 0;
	res->dns_status = set->status;
	snprintf(res->dns_why, sizeof(res->dns_why), "%s", set->why);
	res->null_mx = set->null_mx;
	res->implicit = set->implicit;
	res->mx_ttl = set->mx_ttl;
	res->mx_sec = set->mx_sec;
	res->nmx = 0;
	if (set->status == DNS_OK && !set->null_mx) {
		for (size_t i = 0; i < set->nhosts && res->nmx < CHECK_MX_MAX; i++) {
			const struct dns_mx_host *h = &set->host[i];
			struct check_mx *m = &res->mx[res->nmx++];
			m->pref = h->pref;
			snprintf(m->name, sizeof(m->name), "%s", h->name);
			m->implicit = h->implicit;
			m->is_cname = h->is_cname;
			m->is_literal = h->is_literal;
			m->a_status = h->a_status;
			m->aaaa_status = h->aaaa_status;
			m->a_ttl = h->a_ttl;
			m->aaaa_ttl = h->aaaa_ttl;
			m->sec = h->sec;
			for (size_t j = 0; j < h->naddr && m->naddr < CHECK_ADDR_MAX; j++) {
				struct check_addr *a = &m->addr[m->naddr++];
				a->sa = h->addr[j];
				const struct sockaddr *sa = (const struct sockaddr *)&a->sa;
				io_addr_str(sa, a->str, sizeof(a->str));
				a->cls = check_addr_classify(sa);
				a->fcrdns = -1;
				a->smtp.connect_ms = a->smtp.banner_ms = a->smtp.total_ms = -1;
			}
		}
	}
	for (size_t i = 0; i < res->nmx; i++) {
		struct check_mx *m = &res->mx[i];
		for (size_t j = 0; j < m->naddr; j++) {
			struct probe *p = &run->probe[i][j];
			char ptrname[DNS_NAME_MAX];
			p->run = run;
			p->mx = m;
			p->addr = &m->addr[j];
			if (dns_ptr_name((const struct sockaddr *)&p->addr->sa, ptrname,
					 sizeof(ptrname)) == 0) {
				p->ptr_qid = dns_query(run->dns, ptrname, DNS_T_PTR, ptr_cb, p);
				if (p->ptr_qid > 0)
					run->pending++;
			}
			if (!run->o->no_smtp && probe_start(p, 1) == 0)
				run->pending++;
		}
	}
	run_done_one(run);
}

/* The overall deadline: end everything still running. */
static void watchdog_cb(void *arg)
{
	struct run *run = arg;
	struct check_result *res = run->res;

	res->aborted = 1;
	if (run->mx_qid > 0) {
		dns_mx_cancel(run->dns, run->mx_qid);
		run->mx_qid = 0;
		res->dns_status = DNS_TEMPFAIL;
		snprintf(res->dns_why, sizeof(res->dns_why), "timeout");
	}
	for (size_t i = 0; i < res->nmx; i++) {
		for (size_t j = 0; j < res->mx[i].naddr; j++) {
			struct probe *p = &run->probe[i][j];
			struct check_addr *a = &res->mx[i].addr[j];
			if (p->ptr_qid > 0) {
				dns_cancel(run->dns, p->ptr_qid);
				p->ptr_qid = 0;
				a->ptr_done = 1;
				a->ptr_status = DNS_TEMPFAIL;
			}
			for (size_t k = 0; k < CHECK_PTR_MAX; k++) {
				if (p->fwd[k].qid > 0) {
					dns_cancel(run->dns, p->fwd[k].qid);
					p->fwd[k].qid = 0;
				}
			}
			if (p->cl) {
				probe_record(p);
				if (!p->ready)
					a->smtp.status = CHECK_SMTP_TIMEOUT;
				snprintf(a->smtp.error, sizeof(a->smtp.error), "overall deadline "
					 "(%.1f s) reached", (double)run->o->timeout_ms / 1000.0);
				smtp_client_free(p->cl);
				p->cl = NULL;
			}
		}
	}
	run->pending = 0;
	io_loop_break(run->loop);
}

/* Pick a random nonexistent local part and a foreign relay-test domain. */
static void run_names(struct run *run)
{
	unsigned char rnd[6];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t t = io_now_ms();
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(t >> (8 * i)) ^ (unsigned char)(rand() & 0xff);
	}
	snprintf(run->random_local, sizeof(run->random_local),
		 "bmx-nonexistent-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
		 rnd[4], rnd[5]);
	const char *d = run->res->domain;
	size_t n = strlen(d);
	int is_net = strcmp(d, "example.net") == 0 ||
		     (n > 12 && strcmp(d + n - 12, ".example.net") == 0);
	run->relay_domain = is_net ? "example.org" : "example.net";
}

/* Run every lookup and probe; see check.h. */
int check_run(const struct check_opts *o, struct check_result **out, char *err, size_t errlen)
{
	struct check_result *res = calloc(1, sizeof(*res));
	struct run *run = calloc(1, sizeof(*run));
	int rc = -1;
	double t0;

	*out = res;
	if (!res || !run) {
		snprintf(err, errlen, "out of memory");
		free(run);
		return -1;
	}
	snprintf(res->domain, sizeof(res->domain), "%s", o->domain);
	res->started = time(NULL);
	res->port = o->port;
	res->timeout_ms = o->timeout_ms;
	res->smtp = !o->no_smtp;
	res->allow_private = o->allow_private;
	res->family = o->family;
	snprintf(res->resolver, sizeof(res->resolver), "%s", o->resolver ? o->resolver : "system");
	res->dns_status = DNS_TEMPFAIL;
	snprintf(res->dns_why, sizeof(res->dns_why), "not resolved");
	run->o = o;
	run->res = res;
	run_names(run);
	run->loop = io_loop_new();
	if (!run->loop) {
		snprintf(err, errlen, "cannot create the event loop");
		goto out;
	}
	t0 = run_now();
	run->dns = dns_new(run->loop, o->resolver, 0, err, errlen);
	if (!run->dns)
		goto out;
	dns_set_timeout(run->dns, o->timeout_ms);
	if (!o->no_smtp) {
		run->tls = io_tls_client_new();
		if (!run->tls)
			log_warn("check: no TLS client context; STARTTLS will not be tried");
	}
	run->watchdog = io_timer_new(run->loop, watchdog_cb, run);
	if (!run->watchdog) {
		snprintf(err, errlen, "cannot create a timer");
		goto out;
	}
	unsigned flags = o->family == 4 ? DNS_MX_NO_V6 : o->family == 6 ? DNS_MX_NO_V4 : 0;
	run->mx_qid = dns_mx_resolve(run->dns, res->domain, flags, mx_cb, run);
	if (run->mx_qid < 0) {
		snprintf(err, errlen, "cannot start the MX lookup of %s", res->domain);
		goto out;
	}
	run->pending = 1;
	io_timer_add(run->watchdog, o->timeout_ms + CHECK_GRACE_MS);
	if (io_loop_run(run->loop) < 0) {
		snprintf(err, errlen, "event loop failure");
		goto out;
	}
	res->elapsed_ms = run_now() - t0;
	check_analyze(res, o);
	rc = 0;
out:
	if (run->watchdog)
		io_timer_free(run->watchdog);
	for (size_t i = 0; i < CHECK_MX_MAX; i++)
		for (size_t j = 0; j < CHECK_ADDR_MAX; j++)
			if (run->probe[i][j].cl)
				smtp_client_free(run->probe[i][j].cl);
	if (run->dns)
		dns_free(run->dns);
	if (run->tls)
		io_tls_free(run->tls);
	if (run->loop)
		io_loop_free(run->loop);
	free(run);
	return rc;
}

/* Free a result. */
void check_result_free(struct check_result *res)
{
	free(res);
}
