/*
 * server.c - the inbound ESMTP server (RFC 5321, 1870, 2920, 3207, 3461,
 * 3463, 6152, 6531, 1985).
 *
 * Each session is a state machine; smtp_enter_state() is the only place that
 * changes the state, and it also arms the state's deadline and pauses or
 * resumes reading.  Input is processed strictly in order: a session that
 * waits (recipient callout, spool commit, TLS handshake) stops reading, so
 * pipelined commands are answered in sequence (RFC 2920).
 *
 * Command lines must end in CRLF: a bare LF or bare CR closes the session
 * with 521 (SMTP smuggling defence), and in DATA only <CRLF>.<CRLF> ends the
 * message (smtp_data_feed).  Bytes pipelined after STARTTLS are discarded by
 * the io layer before the handshake.  Messages stream into the spool and are
 * answered 250 only after spool_commit() made them durable; messages that
 * finish while the previous batch syncs share one commit (group commit).
 *
 * The commit runs on a worker thread (smtp_commit_worker) so that the event
 * loop keeps reading other sessions while the disk syncs: one batch is being
 * synced; messages that finish meanwhile are added, at the end of each loop
 * pass, to the next batch, which the worker takes the moment it is done with
 * the previous one; a pipe wakes the loop to answer the synced batch.  The
 * worker only calls spool_commit() on the batch's messages; every session,
 * reply and hook is handled on the loop thread.  If the thread cannot be
 * started, or at shutdown, the commit runs inline.
 */
#include "smtp/server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "smtp/ptrcache.h"

#define SMTP_DATA_CHUNK       65536   /* bytes of DATA processed per step */
#define SMTP_HELO_MAX         255     /* longest HELO/EHLO argument we keep */
#define SMTP_RECEIVED_MAX     1024    /* our Received: header */

enum smtp_sstate {
	SS_GREET = 0,   /* banner sent; EHLO/HELO expected */
	SS_READY,       /* greeted, no transaction */
	SS_MAIL,        /* MAIL accepted, no recipient yet */
	SS_RCPT,        /* at least one recipient accepted */
	SS_RCPT_WAIT,   /* a recipient decision is pending (callout) */
	SS_DATA,        /* reading the message */
	SS_COMMIT,      /* message complete; waiting for the group commit */
	SS_TLS,         /* STARTTLS handshake in progress */
	SS_CLOSING,     /* last reply queued; close when flushed */
};

static const char *const smtp_state_name[] = {
	"greet", "ready", "mail", "rcpt", "rcpt-wait", "data", "commit", "tls", "closing",
};

/* A finished message waiting for the group commit. */
struct smtp_commit {
	struct smtp_commit *next;
	struct smtp_session *session;   /* NULL once the client is gone */
	struct spool_msg *msg;
	struct spool_env env;
};

struct smtp_session {
	struct smtp_session *next, *prev;
	struct smtp_server *srv;
	struct io_conn *conn;
	struct io_timer *timer;
	enum smtp_sstate state;
	struct sockaddr_storage peer;
	char ip[64];
	char rdns[DNS_NAME_MAX];
	long ptr_query;
	char helo[SMTP_HELO_MAX + 1];
	int esmtp;
	int tls_active;
	char tls_desc[160];
	unsigned errors;
	int skip_line;                 /* discarding the rest of an overlong line */
	unsigned busy;                 /* calls into this session on the stack */
	int doomed;                    /* the connection died while busy: free on the way out */
	int shutting;                  /* 421 already sent */
	/* transaction */
	struct spool_env env;
	int have_mail;
	struct spool_msg *msg;
	struct smtp_data_reader rd;
	unsigned received_hdrs;
	size_t rcv_len;                   /* length of our Received: header in the queue file */
	int hdr_done, hdr_bol;
	char hdr_prefix[10];
	size_t hdr_plen;
	unsigned long long declared_size;
	struct smtp_commit *commit;
	struct smtp_rcpt_args pending_rcpt;
	char pending_addr[SMTP_PATH_MAX + 8];
};

struct smtp_server {
	struct io_loop *loop;
	const struct config *cfg;
	struct spool *spool;
	struct io_tls *tls;
	struct dns_ctx *dns;
	struct smtp_ptrcache *ptrs;          /* recent client reverse names */
	struct rcptmap *rcpts;
	struct smtp_server_hooks hooks;
	struct smtp_session *sessions;
	struct smtp_server_stats stats;
	struct smtp_commit *commits, **commits_tail;
	size_t ncommits;
	struct io_timer *commit_timer;
	size_t jobs_out;                    /* batches given to the worker, unanswered */
	struct smtp_commit_job *job_next;   /* under mu: the batch for the worker */
	struct smtp_commit_job *done, **done_tail;  /* under mu: synced batches */
	int worker_busy;                    /* under mu: the worker is syncing */
	int worker_on, worker_stop;
	int wake[2];                        /* worker -> loop: batch done */
	struct io_watch *wake_watch;
	pthread_t worker;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct io_timer *grace_timer;
	int shutting_down;
	void (*shutdown_done)(void *arg);
	void *shutdown_arg;
};

static uint8_t smtp_scratch[SMTP_DATA_CHUNK];

static void smtp_session_run(struct smtp_session *s);
static void smtp_session_close(struct smtp_session *s);
static void smtp_session_free(struct smtp_session *s);
static void smtp_server_check_done(struct smtp_server *srv);

/* Count a rejection for metrics. */
static void smtp_count_reject(struct smtp_session *s, const char *reason)
{
	s->srv->stats.rejects++;
	if (s->srv->hooks.reject)
		s->srv->hooks.reject(reason, s->srv->hooks.arg);
}

/* Queue one reply line (CRLF added). */
static void smtp_reply(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char line[SMTP_CMD_LINE_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	if (line[0] == '4' || line[0] == '5')
		s->errors++;
	log_debug("%s: > %s", s->ip, line);
	line[n++] = '\r';
	line[n++] = '\n';
	io_conn_write(s->conn, line, (size_t)n);
}

/* Reply with a parser error. */
static void smtp_reply_err(struct smtp_session *s, const struct smtp_err *e)
{
	smtp_reply(s, "%d %s %s", e->code, e->enh, e->text);
}

/* Arm the deadline that belongs to a state. */
static void smtp_arm_deadline(struct smtp_session *s)
{
	const struct config *cfg = s->srv->cfg;
	switch (s->state) {
	case SS_GREET: case SS_READY: case SS_MAIL: case SS_RCPT: case SS_TLS:
		io_timer_add(s->timer, (uint64_t)cfg->command_timeout * 1000);
		break;
	case SS_DATA:
		io_timer_add(s->timer, (uint64_t)cfg->data_timeout * 1000);
		break;
	case SS_CLOSING:
		io_timer_add(s->timer, 0);   /* freed outside the current call chain */
		break;
	case SS_RCPT_WAIT: case SS_COMMIT:
		io_timer_del(s->timer);
		break;
	}
}

/* The one place where a session changes state. */
static void smtp_enter_state(struct smtp_session *s, enum smtp_sstate st)
{
	log_debug("%s: state %s -> %s", s->ip, smtp_state_name[s->state], smtp_state_name[st]);
	s->state = st;
	smtp_arm_deadline(s);
	switch (st) {
	case SS_RCPT_WAIT: case SS_COMMIT: case SS_TLS: case SS_CLOSING:
		io_conn_pause(s->conn);
		break;
	default:
		io_conn_resume(s->conn);
		break;
	}
}

/* Queue a final reply and close the session once it is flushed. */
static void smtp_close_with(struct smtp_session *s, const char *reply)
{
	if (s->state == SS_CLOSING)
		return;
	smtp_reply(s, "%s", reply);
	smtp_session_close(s);
}

/* Forget the current transaction (RSET, after a message, on errors). */
static void smtp_txn_reset(struct smtp_session *s)
{
	if (s->msg) {
		spool_msg_abort(s->msg);
		s->msg = NULL;
	}
	spool_env_clear(&s->env);
	memset(&s->env, 0, sizeof(s->env));
	s->have_mail = 0;
	s->declared_size = 0;
}

/* State after a transaction ends. */
static enum smtp_sstate smtp_idle_state(const struct smtp_session *s)
{
	return s->helo[0] ? SS_READY : SS_GREET;
}

/* Format an RFC 5322 date for now. */
static void smtp_rfc5322_date(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* Build our Received: trace header (RFC 5321 4.4) into buf. */
static int smtp_received(struct smtp_session *s, char *buf, size_t len)
{
	const char *proto;
	char date[64];
	if (s->env.smtputf8)
		proto = s->tls_active ? "UTF8SMTPS" : "UTF8SMTP";
	else if (s->esmtp)
		proto = s->tls_active ? "ESMTPS" : "ESMTP";
	else
		proto = "SMTP";
	smtp_rfc5322_date(date, sizeof(date));
	int v6 = s->peer.ss_family == AF_INET6;
	int n = snprintf(buf, len,
			 "Received: from %s (%s [%s%s])\r\n"
			 "\tby %s (backupmx) with %s id %s%s%s%s\r\n",
			 s->helo[0] ? s->helo : "unknown", s->env.client_name,
			 v6 ? "IPv6:" : "", s->ip, s->srv->cfg->hostname, proto, s->env.qid,
			 s->tls_active ? "\r\n\t(" : "", s->tls_active ? s->tls_desc : "",
			 s->tls_active ? ")" : "");
	if (n < 0 || (size_t)n >= len)
		return -1;
	int m;
	if (s->env.nrcpt == 1)
		m = snprintf(buf + n, len - (size_t)n, "\tfor <%s>; %s\r\n", s->env.rcpt[0].addr,
			     date);
	else
		m = snprintf(buf + n, len - (size_t)n, "\t; %s\r\n", date);
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return -1;
	return n + m;
}

/* ---- command handlers ---- */

/* Is a HELO/EHLO argument acceptable (printable ASCII word)? */
static int smtp_helo_ok(const char *arg, size_t len)
{
	if (len == 0 || len > SMTP_HELO_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (arg[i] <= ' ' || arg[i] >= 0x7f)
			return 0;
	return 1;
}

/* HELO and EHLO. */
static void smtp_cmd_helo(struct smtp_session *s, const struct smtp_cmd *c)
{
	const struct config *cfg = s->srv->cfg;
	size_t alen = c->arglen;
	while (alen && c->arg[alen - 1] == ' ')
		alen--;
	if (!smtp_helo_ok(c->arg, alen)) {
		smtp_reply(s, "501 5.5.4 Syntax: %s hostname",
			   c->verb == SMTP_V_EHLO ? "EHLO" : "HELO");
		return;
	}
	smtp_txn_reset(s);
	memcpy(s->helo, c->arg, alen);
	s->helo[alen] = 0;
	s->esmtp = c->verb == SMTP_V_EHLO;
	if (!s->esmtp) {
		smtp_reply(s, "250 %s", cfg->hostname);
	} else {
		smtp_reply(s, "250-%s", cfg->hostname);
		smtp_reply(s, "250-PIPELINING");
		smtp_reply(s, "250-SIZE %llu", cfg->max_message_size);
		smtp_reply(s, "250-ETRN");
		if (s->srv->tls && !s->tls_active)
			smtp_reply(s, "250-STARTTLS");
		smtp_reply(s, "250-ENHANCEDSTATUSCODES");
		smtp_reply(s, "250-8BITMIME");
		smtp_reply(s, "250-DSN");
		smtp_reply(s, "250 SMTPUTF8");
	}
	smtp_enter_state(s, SS_READY);
}

/* STARTTLS (RFC 3207). */
static void smtp_cmd_starttls(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (!s->srv->tls || s->tls_active) {
		smtp_reply(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (c->arglen) {
		smtp_reply(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->state != SS_READY) {
		smtp_reply(s, "503 5.5.1 Error: send EHLO first, outside a transaction");
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	smtp_enter_state(s, SS_TLS);
	if (io_conn_starttls_server(s->conn, s->srv->tls) < 0) {
		log_warn("%s: cannot start TLS", s->ip);
		smtp_session_close(s);
	}
}

/* MAIL FROM. */
static void smtp_cmd_mail(struct smtp_session *s, const struct smtp_cmd *c)
{
	const struct config *cfg = s->srv->cfg;
	struct smtp_mail_args a;
	struct smtp_err e;
	char buf[SMTP_PATH_MAX + 8];

	if (s->state == SS_GREET) {
		smtp_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->state != SS_READY) {
		smtp_reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (smtp_parse_mail(c->arg, c->arglen, 1, &a, &e) < 0) {
		smtp_count_reject(s, "syntax");
		smtp_reply_err(s, &e);
		return;
	}
	if (a.size > cfg->max_message_size) {
		smtp_count_reject(s, "size");
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	smtp_txn_reset(s);
	spool_qid_new(s->env.qid);
	s->env.sender = strdup(smtp_addr_str(&a.from, buf, sizeof(buf)));
	s->env.ret = a.ret;
	s->env.envid = a.envid[0] ? strdup(a.envid) : NULL;
	s->env.body_8bit = a.body == SMTP_BODY_8BITMIME;
	s->env.smtputf8 = a.smtputf8;
	s->env.helo = strdup(s->helo);
	s->env.client_addr = strdup(s->ip);
	s->env.client_name = strdup(s->rdns[0] ? s->rdns : "unknown");
	if (!s->env.sender || !s->env.helo || !s->env.client_addr || !s->env.client_name) {
		smtp_txn_reset(s);
		smtp_reply(s, "451 4.3.0 Error: out of memory");
		return;
	}
	s->declared_size = a.size;
	s->have_mail = 1;
	smtp_reply(s, "250 2.1.0 Ok");
	smtp_enter_state(s, SS_MAIL);
}

/* Add an accepted recipient to the envelope and answer it. */
static void smtp_rcpt_accept(struct smtp_session *s, const struct smtp_rcpt_args *r,
			     const char *addr)
{
	for (size_t i = 0; i < s->env.nrcpt; i++) {
		if (strcmp(s->env.rcpt[i].addr, addr) == 0) {
			smtp_reply(s, "250 2.1.5 Ok");   /* duplicate: delivered once */
			smtp_enter_state(s, SS_RCPT);
			return;
		}
	}
	if (spool_env_add_rcpt(&s->env, addr, r->notify, r->orcpt[0] ? r->orcpt : NULL) < 0) {
		smtp_reply(s, "452 4.3.1 Insufficient system resources");
		smtp_enter_state(s, s->env.nrcpt ? SS_RCPT : SS_MAIL);
		return;
	}
	smtp_reply(s, "250 2.1.5 Ok");
	smtp_enter_state(s, SS_RCPT);
}

/* Apply a recipient verdict (synchronous or from a callout). */
static void smtp_rcpt_verdict(struct smtp_session *s, const struct smtp_rcpt_args *r,
			      const char *addr, enum smtp_rcpt_verdict v, const char *text)
{
	enum smtp_sstate back = s->env.nrcpt ? SS_RCPT : SS_MAIL;
	switch (v) {
	case SMTP_RCPT_ACCEPT:
		smtp_rcpt_accept(s, r, addr);
		return;
	case SMTP_RCPT_REJECT:
		smtp_count_reject(s, "unknown_recipient");
		smtp_reply(s, "550 5.1.1 <%s>: Recipient address rejected: %s", addr,
			   text ? text : "User unknown");
		break;
	case SMTP_RCPT_TEMPFAIL:
	case SMTP_RCPT_PENDING:
		smtp_count_reject(s, "unverified_recipient");
		smtp_reply(s, "450 4.4.1 <%s>: Recipient address rejected: %s", addr,
			   text ? text : "cannot verify the recipient now, try again later");
		break;
	}
	smtp_enter_state(s, back);
}

/* RCPT TO. */
static void smtp_cmd_rcpt(struct smtp_session *s, const struct smtp_cmd *c)
{
	struct smtp_server *srv = s->srv;
	struct smtp_rcpt_args r;
	struct smtp_err e;
	char addr[SMTP_PATH_MAX + 8];

	if (s->state != SS_MAIL && s->state != SS_RCPT) {
		smtp_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->env.nrcpt >= srv->cfg->max_recipients) {
		smtp_count_reject(s, "limit");
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (smtp_parse_rcpt(c->arg, c->arglen, s->env.smtputf8, &r, &e) < 0) {
		smtp_count_reject(s, e.code == 553 ? "relay" : "syntax");
		smtp_reply_err(s, &e);
		return;
	}
	smtp_addr_str(&r.to, addr, sizeof(addr));
	if (r.to.null_path || r.to.literal || !config_relay_domain(srv->cfg, r.to.domain)) {
		smtp_count_reject(s, "relay");
		log_info("%s: reject: RCPT <%s>: relay access denied", s->ip, addr);
		smtp_reply(s, "554 5.7.1 <%s>: Relay access denied", addr);
		return;
	}
	if (srv->rcpts && rcptmap_match(srv->rcpts, r.to.local, r.to.domain)) {
		smtp_rcpt_accept(s, &r, addr);
		return;
	}
	if (!srv->hooks.rcpt) {
		if (!srv->rcpts) {
			smtp_rcpt_accept(s, &r, addr);
			return;
		}
		log_info("%s: reject: RCPT <%s>: user unknown", s->ip, addr);
		smtp_rcpt_verdict(s, &r, addr, SMTP_RCPT_REJECT,
				  "User unknown in relay recipient table");
		return;
	}
	struct smtp_rcpt_query q = {s, addr, r.to.local, r.to.domain};
	enum smtp_rcpt_verdict v = srv->hooks.rcpt(&q, srv->hooks.arg);
	if (v == SMTP_RCPT_PENDING) {
		s->pending_rcpt = r;
		snprintf(s->pending_addr, sizeof(s->pending_addr), "%s", addr);
		smtp_enter_state(s, SS_RCPT_WAIT);
		return;
	}
	smtp_rcpt_verdict(s, &r, addr, v, NULL);
}

/* Finish a recipient decision that a hook left pending. */
void smtp_session_rcpt_done(struct smtp_session *s, enum smtp_rcpt_verdict v, const char *text)
{
	if (s->state != SS_RCPT_WAIT)
		return;
	smtp_rcpt_verdict(s, &s->pending_rcpt, s->pending_addr, v, text);
	smtp_session_run(s);
}

/* DATA: open the spool file and switch to the message reader. */
static void smtp_cmd_data(struct smtp_session *s, const struct smtp_cmd *c)
{
	char rcv[SMTP_RECEIVED_MAX];
	int n;

	if (s->state == SS_MAIL) {
		smtp_reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	if (s->state != SS_RCPT) {
		smtp_reply(s, "503 5.5.1 Error: need RCPT command");
		return;
	}
	if (c->arglen) {
		smtp_reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	s->env.arrival = time(NULL);
	/* the client's name as of now (its PTR lookup may have finished since
	 * MAIL): one snapshot for the Received: header, the queue file and logs */
	char *name = strdup(s->rdns[0] ? s->rdns : "unknown");
	if (!name) {
		smtp_txn_reset(s);
		smtp_reply(s, "451 4.3.0 Error: out of memory");
		smtp_enter_state(s, smtp_idle_state(s));
		return;
	}
	free(s->env.client_name);
	s->env.client_name = name;
	n = smtp_received(s, rcv, sizeof(rcv));
	s->rcv_len = n > 0 ? (size_t)n : 0;
	s->msg = n > 0 ? spool_msg_new(s->srv->spool, &s->env) : NULL;
	if (!s->msg || spool_msg_write(s->msg, rcv, (size_t)n) < 0) {
		log_err("%s: %s: cannot create queue file: %s", s->ip, s->env.qid, strerror(errno));
		smtp_txn_reset(s);
		smtp_count_reject(s, "storage");
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
		smtp_enter_state(s, smtp_idle_state(s));
		return;
	}
	smtp_data_init(&s->rd);
	s->received_hdrs = 0;
	s->hdr_done = 0;
	s->hdr_bol = 1;
	s->hdr_plen = 0;
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	smtp_enter_state(s, SS_DATA);
}

/* RSET. */
static void smtp_cmd_rset(struct smtp_session *s, const struct smtp_cmd *c)
{
	smtp_txn_reset(s);
	smtp_reply(s, "250 2.0.0 Ok");
	smtp_enter_state(s, smtp_idle_state(s));
}

/* NOOP. */
static void smtp_cmd_noop(struct smtp_session *s, const struct smtp_cmd *c)
{
	smtp_reply(s, "250 2.0.0 Ok");
}

/* QUIT. */
static void smtp_cmd_quit(struct smtp_session *s, const struct smtp_cmd *c)
{
	smtp_close_with(s, "221 2.0.0 Bye");
}

/* HELP. */
static void smtp_cmd_help(struct smtp_session *s, const struct smtp_cmd *c)
{
	smtp_reply(s, "214 2.0.0 backupmx: see RFC 5321; commands: EHLO HELO MAIL RCPT DATA "
		      "RSET NOOP QUIT VRFY ETRN STARTTLS");
}

/* VRFY: never gives anything away. */
static void smtp_cmd_vrfy(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (c->arglen == 0) {
		smtp_reply(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	smtp_reply(s, "252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery");
}

/* ETRN (RFC 1985): handled by the delivery side. */
static void smtp_cmd_etrn(struct smtp_session *s, const struct smtp_cmd *c)
{
	char reply[256];
	char arg[SMTP_DOMAIN_MAX + 2];

	if (s->state == SS_GREET) {
		smtp_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->state != SS_READY) {
		smtp_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	if (c->arglen == 0 || c->arglen > SMTP_DOMAIN_MAX) {
		smtp_reply(s, "500 5.5.4 Syntax: ETRN domain");
		return;
	}
	memcpy(arg, c->arg, c->arglen);
	arg[c->arglen] = 0;
	if (!s->srv->hooks.etrn) {
		smtp_reply(s, "458 4.0.0 Unable to queue messages for %s", arg);
		return;
	}
	reply[0] = 0;
	s->srv->hooks.etrn(arg, (const struct sockaddr *)&s->peer, reply, sizeof(reply),
			   s->srv->hooks.arg);
	smtp_reply(s, "%s", reply[0] ? reply : "458 4.0.0 Unable to queue messages");
}

/* Commands we do not offer. */
static void smtp_cmd_unimpl(struct smtp_session *s, const struct smtp_cmd *c)
{
	smtp_reply(s, "502 5.5.1 Error: command not implemented");
}

typedef void (*smtp_cmd_fn)(struct smtp_session *s, const struct smtp_cmd *c);
static const smtp_cmd_fn smtp_cmd_table[] = {
	[SMTP_V_HELO] = smtp_cmd_helo,       [SMTP_V_EHLO] = smtp_cmd_helo,
	[SMTP_V_MAIL] = smtp_cmd_mail,       [SMTP_V_RCPT] = smtp_cmd_rcpt,
	[SMTP_V_DATA] = smtp_cmd_data,       [SMTP_V_RSET] = smtp_cmd_rset,
	[SMTP_V_NOOP] = smtp_cmd_noop,       [SMTP_V_QUIT] = smtp_cmd_quit,
	[SMTP_V_HELP] = smtp_cmd_help,       [SMTP_V_VRFY] = smtp_cmd_vrfy,
	[SMTP_V_EXPN] = smtp_cmd_unimpl,     [SMTP_V_STARTTLS] = smtp_cmd_starttls,
	[SMTP_V_ETRN] = smtp_cmd_etrn,       [SMTP_V_BDAT] = smtp_cmd_unimpl,
	[SMTP_V_AUTH] = smtp_cmd_unimpl,
};

/* Is this an HTTP request sent to the SMTP port (cross-protocol abuse)? */
static int smtp_is_http(const char *line, size_t len)
{
	static const char *const m[] = {"GET ", "POST ", "CONNECT ", "PUT ", "HEAD "};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		size_t ml = strlen(m[i]);
		if (len >= ml && memcmp(line, m[i], ml) == 0)
			return 1;
	}
	return 0;
}

/* Run one complete command line (CRLF removed). */
static void smtp_dispatch(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmd c;

	log_debug("%s: < %.*s", s->ip, (int)len, line);
	if (smtp_is_http(line, len)) {
		smtp_count_reject(s, "protocol");
		smtp_close_with(s, "521 5.5.1 Protocol error");
		return;
	}
	if (smtp_cmd_parse(line, len, &c) < 0 || c.verb == SMTP_V_UNKNOWN ||
	    (size_t)c.verb >= sizeof(smtp_cmd_table) / sizeof(smtp_cmd_table[0]) ||
	    !smtp_cmd_table[c.verb]) {
		smtp_count_reject(s, "protocol");
		smtp_reply(s, "500 5.5.2 Error: command not recognized");
	} else if (s->srv->shutting_down && c.verb != SMTP_V_QUIT) {
		s->shutting = 1;
		smtp_close_with(s, "421 4.3.2 Service shutting down, closing transmission channel");
		return;
	} else {
		smtp_cmd_table[c.verb](s, &c);
	}
	if (s->state != SS_CLOSING && s->errors >= s->srv->cfg->max_errors) {
		log_info("%s: too many errors, closing", s->ip);
		smtp_count_reject(s, "errors");
		smtp_close_with(s, "421 4.7.0 Error: too many errors, closing transmission channel");
	}
}

/* Take one command line from the input; 1 = progress, 0 = need more input. */
static int smtp_line_step(struct smtp_session *s)
{
	size_t len;
	const uint8_t *p = io_conn_peek(s->conn, s->skip_line ? SMTP_DATA_CHUNK : SMTP_CMD_LINE_MAX,
					&len);
	char line[SMTP_CMD_LINE_MAX];

	if (!p || len == 0)
		return 0;
	const uint8_t *nl = memchr(p, '\n', len);
	if (s->skip_line) {
		io_conn_consume(s->conn, nl ? (size_t)(nl - p) + 1 : len);
		s->skip_line = !nl;
		return 1;
	}
	if (!nl) {
		if (len < SMTP_CMD_LINE_MAX)
			return 0;
		io_conn_consume(s->conn, len);
		s->skip_line = 1;
		smtp_count_reject(s, "protocol");
		smtp_reply(s, "500 5.5.2 Error: line too long");
		return 1;
	}
	size_t ll = (size_t)(nl - p) + 1;
	if (ll < 2 || p[ll - 2] != '\r') {
		smtp_count_reject(s, "smuggling");
		log_info("%s: bare LF in command, closing", s->ip);
		smtp_close_with(s, "521 5.5.2 Error: bare <LF> received");
		return 0;
	}
	if (memchr(p, '\r', ll - 2)) {
		smtp_count_reject(s, "smuggling");
		log_info("%s: bare CR in command, closing", s->ip);
		smtp_close_with(s, "521 5.5.2 Error: bare <CR> received");
		return 0;
	}
	memcpy(line, p, ll - 2);
	io_conn_consume(s->conn, ll);
	if (memchr(line, 0, ll - 2)) {
		smtp_count_reject(s, "protocol");
		smtp_reply(s, "500 5.5.2 Error: NUL in command");
		return 1;
	}
	smtp_dispatch(s, line, ll - 2);
	return 1;
}

/* Count Received: headers in the header section of message text. */
static void smtp_hdr_scan(struct smtp_session *s, const uint8_t *p, size_t n)
{
	static const char rcv[] = "received:";
	for (size_t i = 0; i < n && !s->hdr_done; i++) {
		if (s->hdr_bol) {
			if (p[i] == '\r')
				continue;
			if (p[i] == '\n' && s->hdr_plen == 0) {
				s->hdr_done = 1;   /* empty line: end of headers */
				break;
			}
		}
		if (p[i] == '\n') {
			s->hdr_bol = 1;
			s->hdr_plen = 0;
			continue;
		}
		if (s->hdr_bol && s->hdr_plen < sizeof(rcv) - 1) {
			char ch = (char)p[i];
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			if (ch != rcv[s->hdr_plen]) {
				s->hdr_bol = 0;
				continue;
			}
			if (++s->hdr_plen == sizeof(rcv) - 1) {
				s->received_hdrs++;
				s->hdr_bol = 0;
			}
		} else if (s->hdr_bol) {
			s->hdr_bol = 0;
		}
	}
}

/* The reply for a finished message that we will not keep, or NULL. */
static const char *smtp_data_refusal(struct smtp_session *s, const char **reason)
{
	const struct config *cfg = s->srv->cfg;
	if (s->rd.total > cfg->max_message_size) {
		*reason = "size";
		return "552 5.3.4 Error: message file too big";
	}
	if (s->rd.line_too_long) {
		*reason = "protocol";
		return "554 5.6.0 Error: message has a line longer than 998 octets";
	}
	if (s->rd.saw_nul) {
		*reason = "protocol";
		return "554 5.6.0 Error: NUL octet in message";
	}
	if (s->received_hdrs + 1 > cfg->max_received_headers) {
		*reason = "loop";
		return "554 5.4.6 Error: too many hops (mail loop?)";
	}
	if (spool_msg_errno(s->msg)) {
		*reason = "storage";
		return "452 4.3.1 Insufficient system storage";
	}
	return NULL;
}

/* Schedule the group commit at the end of this loop iteration. */
static void smtp_commit_queue(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;
	struct smtp_commit *cm = calloc(1, sizeof(*cm));
	if (!cm) {
		smtp_txn_reset(s);
		smtp_reply(s, "451 4.3.0 Error: out of memory");
		smtp_enter_state(s, smtp_idle_state(s));
		return;
	}
	cm->session = s;
	cm->msg = s->msg;
	cm->env = s->env;
	cm->env.size = s->rcv_len + s->rd.total;   /* as stored: our Received: and the DATA */
	cm->env.body_8bit |= s->rd.saw_8bit;
	s->msg = NULL;
	memset(&s->env, 0, sizeof(s->env));
	s->have_mail = 0;
	s->commit = cm;
	*srv->commits_tail = cm;
	srv->commits_tail = &cm->next;
	srv->ncommits++;
	smtp_enter_state(s, SS_COMMIT);
	if (!io_timer_pending(srv->commit_timer))
		io_timer_add(srv->commit_timer, 0);
}

/* Message complete: refuse it or hand it to the group commit. */
static void smtp_data_end(struct smtp_session *s)
{
	const char *reason = NULL;
	const char *refuse = smtp_data_refusal(s, &reason);
	if (!refuse && spool_msg_finish(s->msg) < 0) {
		reason = "storage";
		refuse = "452 4.3.1 Insufficient system storage";
	}
	if (refuse) {
		log_info("%s: %s: reject: %s", s->ip, s->env.qid, refuse);
		smtp_count_reject(s, reason);
		smtp_txn_reset(s);
		smtp_reply(s, "%s", refuse);
		smtp_enter_state(s, smtp_idle_state(s));
		return;
	}
	smtp_commit_queue(s);
}

/* Process buffered DATA; 1 = progress, 0 = need more input or stopped. */
static int smtp_data_step(struct smtp_session *s)
{
	size_t len, outlen = 0, used = 0;
	const uint8_t *p = io_conn_peek(s->conn, SMTP_DATA_CHUNK, &len);
	if (!p || len == 0)
		return 0;
	enum smtp_data_status st = smtp_data_feed(&s->rd, p, len, smtp_scratch, &outlen, &used);
	if (outlen) {
		if (!s->hdr_done)
			smtp_hdr_scan(s, smtp_scratch, outlen);
		/* stop storing once the message is refused anyway */
		if (s->rd.total <= s->srv->cfg->max_message_size)
			spool_msg_write(s->msg, smtp_scratch, outlen);
	}
	io_conn_consume(s->conn, used);
	switch (st) {
	case SMTP_DATA_MORE:
		return 1;
	case SMTP_DATA_END:
		smtp_data_end(s);
		return 1;
	case SMTP_DATA_BARE_LF:
	case SMTP_DATA_BARE_CR:
		log_info("%s: %s: bare %s in message text, closing", s->ip, s->env.qid,
			 st == SMTP_DATA_BARE_LF ? "LF" : "CR");
		smtp_count_reject(s, "smuggling");
		smtp_txn_reset(s);
		smtp_close_with(s, st == SMTP_DATA_BARE_LF ? "521 5.5.2 Error: bare <LF> received"
							    : "521 5.5.2 Error: bare <CR> received");
		return 0;
	}
	return 0;
}

/* Leave a section that uses the session; frees it if it died meanwhile.
 * Returns -1 when the session is gone. */
static int smtp_session_unbusy(struct smtp_session *s)
{
	if (--s->busy == 0 && s->doomed) {
		smtp_session_free(s);
		return -1;
	}
	return 0;
}

static void smtp_session_run1(struct smtp_session *s);

/* Process as much buffered input as the state allows.  The io layer may
 * report EOF from inside a call we make (a TLS read), so the session is
 * marked busy and only freed once nothing on the stack uses it. */
static void smtp_session_run(struct smtp_session *s)
{
	s->busy++;
	smtp_session_run1(s);
	smtp_session_unbusy(s);
}

/* The body of smtp_session_run(). */
static void smtp_session_run1(struct smtp_session *s)
{
	for (;;) {
		if (s->doomed)
			return;
		if (io_conn_out_len(s->conn) > SMTP_SERVER_OUT_MAX) {
			io_conn_pause(s->conn);   /* resumed on IO_EV_DRAINED */
			return;
		}
		int progress;
		switch (s->state) {
		case SS_GREET: case SS_READY: case SS_MAIL: case SS_RCPT:
			if (s->srv->shutting_down && !s->shutting) {
				s->shutting = 1;
				smtp_close_with(s, "421 4.3.2 Service shutting down, closing "
						   "transmission channel");
				return;
			}
			progress = smtp_line_step(s);
			if (progress)
				smtp_arm_deadline(s);
			break;
		case SS_DATA:
			progress = smtp_data_step(s);
			break;
		default:
			return;
		}
		if (!progress)
			return;
	}
}

/* ---- group commit ---- */

/* One batch of finished messages on its way to disk. */
struct smtp_commit_job {
	struct smtp_commit *list, **tail;
	size_t n, cap;
	struct spool_msg **msgs;
	int *ok;
	int failed;                    /* spool_commit() failure */
	struct smtp_commit_job *next;  /* in srv->done */
};

/* Answer every queued message 451 (out of memory) and drop it. */
static void smtp_commit_refuse_queued(struct smtp_server *srv)
{
	struct smtp_commit *list = srv->commits;
	log_err("spool: out of memory committing %zu message(s)", srv->ncommits);
	srv->commits = NULL;
	srv->commits_tail = &srv->commits;
	srv->ncommits = 0;
	while (list) {
		struct smtp_commit *cm = list;
		list = cm->next;
		spool_msg_abort(cm->msg);
		if (cm->session) {
			cm->session->commit = NULL;
			smtp_reply(cm->session, "451 4.3.0 Error: out of memory");
			smtp_enter_state(cm->session, smtp_idle_state(cm->session));
		}
		spool_env_clear(&cm->env);
		free(cm);
	}
}

/* Move every queued message into job (loop thread; the caller holds mu if
 * the worker can see job).  0, or -1 if memory ran out (nothing moved). */
static int smtp_commit_move(struct smtp_server *srv, struct smtp_commit_job *job)
{
	size_t n = job->n + srv->ncommits;
	if (n > job->cap || !job->msgs || !job->ok) {
		size_t cap = n < 16 ? 16 : n * 2;
		struct spool_msg **msgs = realloc(job->msgs, cap * sizeof(*msgs));
		if (!msgs)
			return -1;
		job->msgs = msgs;
		int *ok = realloc(job->ok, cap * sizeof(*ok));
		if (!ok)
			return -1;
		job->ok = ok;
		job->cap = cap;
	}
	for (struct smtp_commit *cm = srv->commits; cm && job->n < n; cm = cm->next)
		job->msgs[job->n++] = cm->msg;
	*job->tail = srv->commits;
	job->tail = srv->commits_tail;
	srv->commits = NULL;
	srv->commits_tail = &srv->commits;
	srv->ncommits = 0;
	return 0;
}

/* Take every queued message off the server as one new batch (NULL if none,
 * or if memory ran out: then every queued sender is answered 451 here). */
static struct smtp_commit_job *smtp_commit_take(struct smtp_server *srv)
{
	if (srv->ncommits == 0)
		return NULL;
	struct smtp_commit_job *job = calloc(1, sizeof(*job));
	if (job) {
		job->tail = &job->list;
		if (smtp_commit_move(srv, job) == 0)
			return job;
		free(job->msgs);
		free(job->ok);
		free(job);
	}
	smtp_commit_refuse_queued(srv);
	return NULL;
}

/* Make a batch durable (any thread: touches only msgs, n, ok and failed). */
static void smtp_commit_sync(struct smtp_server *srv, struct smtp_commit_job *job)
{
	if (spool_commit(srv->spool, job->msgs, job->n, job->ok) < 0)
		job->failed = 1;
}

/* Answer every sender of a synced batch and free it (loop thread). */
static void smtp_commit_answer(struct smtp_server *srv, struct smtp_commit_job *job)
{
	size_t i = 0;
	struct smtp_commit *list = job->list;
	if (job->failed)
		log_warn("spool: group commit of %zu message(s) failed partly", job->n);
	while (list) {
		struct smtp_commit *cm = list;
		struct smtp_session *s = cm->session;
		int good = job->ok[i];
		list = cm->next;
		i++;
		if (good) {
			srv->stats.messages++;
			log_info("%s: from=<%s>, size=%llu, nrcpt=%zu, client=%s[%s]", cm->env.qid,
				 cm->env.sender, cm->env.size, cm->env.nrcpt,
				 cm->env.client_name ? cm->env.client_name : "unknown",
				 cm->env.client_addr ? cm->env.client_addr : "");
			if (srv->hooks.queued)
				srv->hooks.queued(&cm->env, srv->hooks.arg);
		} else {
			log_err("%s: queue file could not be committed", cm->env.qid);
		}
		if (s) {
			s->commit = NULL;
			s->busy++;
			if (good)
				smtp_reply(s, "250 2.0.0 Ok: queued as %s", cm->env.qid);
			else
				smtp_reply(s, "452 4.3.1 Insufficient system storage");
			smtp_enter_state(s, smtp_idle_state(s));
			smtp_session_unbusy(s);
		}
		spool_env_clear(&cm->env);
		free(cm);
	}
	free(job->msgs);
	free(job->ok);
	free(job);
}

/* Answer pipelined commands that were waiting behind a commit. */
static void smtp_commit_resume_sessions(struct smtp_server *srv)
{
	for (struct smtp_session *s = srv->sessions, *nx; s; s = nx) {
		nx = s->next;
		if (s->state == SS_READY || s->state == SS_GREET)
			smtp_session_run(s);
	}
}

/* Worker thread: sync the waiting batch, hand it back, and go straight on
 * to the next one (which the loop filled meanwhile), waking the loop. */
static void *smtp_commit_worker(void *arg)
{
	struct smtp_server *srv = arg;
	pthread_mutex_lock(&srv->mu);
	for (;;) {
		while (!srv->job_next && !srv->worker_stop)
			pthread_cond_wait(&srv->cv, &srv->mu);
		if (!srv->job_next)
			break;
		struct smtp_commit_job *job = srv->job_next;
		srv->job_next = NULL;
		srv->worker_busy = 1;
		pthread_mutex_unlock(&srv->mu);
		smtp_commit_sync(srv, job);
		pthread_mutex_lock(&srv->mu);
		srv->worker_busy = 0;
		*srv->done_tail = job;
		srv->done_tail = &job->next;
		pthread_cond_broadcast(&srv->cv);
		ssize_t w = write(srv->wake[1], "x", 1);   /* pipe full = already awake */
		(void)w;
	}
	pthread_mutex_unlock(&srv->mu);
	return NULL;
}

/* Answer every batch the worker has finished, in order (loop thread). */
static void smtp_commit_answer_done(struct smtp_server *srv)
{
	pthread_mutex_lock(&srv->mu);
	struct smtp_commit_job *done = srv->done;
	srv->done = NULL;
	srv->done_tail = &srv->done;
	pthread_mutex_unlock(&srv->mu);
	while (done) {
		struct smtp_commit_job *job = done;
		done = job->next;
		srv->jobs_out--;
		smtp_commit_answer(srv, job);
	}
}

/* Wait until the worker has finished every batch, and answer them. */
static void smtp_commit_wait(struct smtp_server *srv)
{
	if (srv->jobs_out == 0)
		return;
	pthread_mutex_lock(&srv->mu);
	while (srv->job_next || srv->worker_busy)
		pthread_cond_wait(&srv->cv, &srv->mu);
	pthread_mutex_unlock(&srv->mu);
	smtp_commit_answer_done(srv);
}

/* Commit everything now, on this thread (shutdown, no worker). */
static void smtp_commit_inline(struct smtp_server *srv)
{
	smtp_commit_wait(srv);
	struct smtp_commit_job *job = smtp_commit_take(srv);
	if (job) {
		smtp_commit_sync(srv, job);
		smtp_commit_answer(srv, job);
	}
}

/* End of a loop pass: hand every message that finished to the worker, as a
 * new batch or added to the one still waiting for it (group commit); or
 * commit inline without a worker. */
static void smtp_commit_run(void *arg)
{
	struct smtp_server *srv = arg;
	if (srv->ncommits == 0)
		return;
	if (!srv->worker_on || srv->shutting_down) {
		smtp_commit_inline(srv);
		smtp_commit_resume_sessions(srv);
		smtp_server_check_done(srv);
		return;
	}
	/* only this thread sets job_next, so it stays NULL once seen NULL */
	pthread_mutex_lock(&srv->mu);
	int waiting = srv->job_next != NULL;
	int added = waiting && smtp_commit_move(srv, srv->job_next) == 0;
	pthread_mutex_unlock(&srv->mu);
	if (added)
		return;
	struct smtp_commit_job *job = waiting ? NULL : smtp_commit_take(srv);
	if (!job) {
		if (srv->ncommits)   /* out of memory growing the waiting batch */
			smtp_commit_refuse_queued(srv);
		smtp_commit_resume_sessions(srv);
		return;
	}
	srv->jobs_out++;
	pthread_mutex_lock(&srv->mu);
	srv->job_next = job;
	pthread_cond_signal(&srv->cv);
	pthread_mutex_unlock(&srv->mu);
}

/* The worker finished a batch: answer it. */
static void smtp_commit_woken(int fd, void *arg)
{
	struct smtp_server *srv = arg;
	char buf[64];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	smtp_commit_answer_done(srv);
	smtp_commit_resume_sessions(srv);
	smtp_server_check_done(srv);
}

/* Start the commit worker thread; 0 or -1 (then commits run inline). */
static int smtp_commit_worker_start(struct smtp_server *srv)
{
	if (pipe2(srv->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		srv->wake[0] = srv->wake[1] = -1;
		return -1;
	}
	srv->wake_watch = io_watch_new(srv->loop, srv->wake[0], smtp_commit_woken, srv);
	if (!srv->wake_watch)
		return -1;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_cond_init(&srv->cv, NULL);
	if (pthread_create(&srv->worker, NULL, smtp_commit_worker, srv) != 0) {
		pthread_cond_destroy(&srv->cv);
		pthread_mutex_destroy(&srv->mu);
		return -1;
	}
	srv->worker_on = 1;
	return 0;
}

/* Stop the worker (after its batch) and release the pipe. */
static void smtp_commit_worker_stop(struct smtp_server *srv)
{
	if (srv->worker_on) {
		smtp_commit_wait(srv);
		pthread_mutex_lock(&srv->mu);
		srv->worker_stop = 1;
		pthread_cond_signal(&srv->cv);
		pthread_mutex_unlock(&srv->mu);
		pthread_join(srv->worker, NULL);
		pthread_cond_destroy(&srv->cv);
		pthread_mutex_destroy(&srv->mu);
		srv->worker_on = 0;
	}
	io_watch_free(srv->wake_watch);
	srv->wake_watch = NULL;
	for (int i = 0; i < 2; i++)
		if (srv->wake[i] >= 0)
			close(srv->wake[i]);
	srv->wake[0] = srv->wake[1] = -1;
}

/* ---- connection handling ---- */

/* The session's deadline expired. */
static void smtp_session_timeout(void *arg)
{
	struct smtp_session *s = arg;
	if (s->state == SS_CLOSING) {
		smtp_session_free(s);
		return;
	}
	log_info("%s: timeout in state %s", s->ip, smtp_state_name[s->state]);
	smtp_count_reject(s, "timeout");
	smtp_txn_reset(s);
	smtp_close_with(s, "421 4.4.2 Error: timeout exceeded, closing transmission channel");
}

/* Events from the io layer. */
static void smtp_session_event(struct io_conn *c, enum io_event ev, void *arg)
{
	struct smtp_session *s = arg;
	struct io_tls_info ti;

	s->busy++;
	switch (ev) {
	case IO_EV_READ:
		smtp_session_run(s);
		break;
	case IO_EV_DRAINED:
		if (s->state != SS_RCPT_WAIT && s->state != SS_COMMIT && s->state != SS_TLS) {
			io_conn_resume(s->conn);
			smtp_session_run(s);
		}
		break;
	case IO_EV_TLS_READY:
		s->tls_active = 1;
		if (io_conn_tls_info(c, &ti) == 0)
			snprintf(s->tls_desc, sizeof(s->tls_desc), "using %s with cipher %s (%d bits)",
				 ti.version, ti.cipher, ti.bits);
		log_info("%s: STARTTLS %s", s->ip, s->tls_desc);
		/* RFC 3207 4.2: forget everything learned before TLS */
		smtp_txn_reset(s);
		s->helo[0] = 0;
		s->esmtp = 0;
		smtp_enter_state(s, SS_GREET);
		smtp_session_run(s);
		break;
	case IO_EV_EOF:
	case IO_EV_ERROR:
		if (s->state == SS_DATA)
			log_info("%s: %s: lost connection in DATA; partial message discarded", s->ip,
				 s->env.qid);
		else if (ev == IO_EV_ERROR && s->state == SS_TLS)
			log_info("%s: TLS handshake failed: %s", s->ip, io_conn_error(c));
		s->doomed = 1;   /* freed below, or by whoever is still using it */
		break;
	case IO_EV_TIMEOUT:
	case IO_EV_CONNECTED:
		break;
	}
	smtp_session_unbusy(s);
}

/* Reverse lookup result for the client. */
static void smtp_session_ptr(const struct dns_answer *ans, void *arg)
{
	struct smtp_session *s = arg;
	s->ptr_query = 0;
	if (ans->status == DNS_OK && ans->n > 0)
		snprintf(s->rdns, sizeof(s->rdns), "%s", ans->name[0]);
	log_debug("%s: reverse name \"%s\" (%s)", s->ip, s->rdns, dns_status_str(ans->status));
	/* a definite answer (a name, or none) is kept; a failure is not */
	if (ans->status == DNS_OK || ans->status == DNS_NODATA || ans->status == DNS_NXDOMAIN)
		smtp_ptrcache_put(s->srv->ptrs, s->ip, s->rdns, ans->ttl, io_now_ms());
}

/* Start closing: stop reading, flush, free. */
static void smtp_session_close(struct smtp_session *s)
{
	if (s->state != SS_CLOSING)
		smtp_enter_state(s, SS_CLOSING);
}

/* Free a session and everything it owns; a closing session's last reply
 * is still flushed by the io layer. */
static void smtp_session_free(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;
	if (s->commit)
		s->commit->session = NULL;   /* the commit still happens */
	if (s->state == SS_RCPT_WAIT && srv->hooks.rcpt_cancel)
		srv->hooks.rcpt_cancel(s, srv->hooks.arg);
	if (s->ptr_query && srv->dns)
		dns_cancel(srv->dns, s->ptr_query);
	smtp_txn_reset(s);
	io_timer_free(s->timer);
	if (s->state == SS_CLOSING)
		io_conn_flush_free(s->conn);
	else
		io_conn_free(s->conn);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	srv->stats.sessions--;
	free(s);
	smtp_server_check_done(srv);
}

/* Refuse a connection before creating a session. */
static void smtp_refuse_fd(int fd, const char *reply)
{
	ssize_t w = write(fd, reply, strlen(reply));
	(void)w;
	close(fd);
}

/* Sessions open from the same IP. */
static unsigned smtp_count_ip(const struct smtp_server *srv, const char *ip)
{
	unsigned n = 0;
	for (const struct smtp_session *s = srv->sessions; s; s = s->next)
		n += strcmp(s->ip, ip) == 0;
	return n;
}

/* Take an accepted socket. */
void smtp_server_accept(struct smtp_server *srv, int fd, const struct sockaddr *sa,
			socklen_t salen)
{
	char ip[64];
	io_addr_str(sa, ip, sizeof(ip));
	if (srv->shutting_down) {
		smtp_refuse_fd(fd, "421 4.3.2 Service shutting down\r\n");
		return;
	}
	if (srv->stats.sessions >= srv->cfg->max_connections) {
		log_warn("%s: connection refused: max_connections (%u) reached", ip,
			 srv->cfg->max_connections);
		if (srv->hooks.reject)
			srv->hooks.reject("connection_limit", srv->hooks.arg);
		smtp_refuse_fd(fd, "421 4.7.0 Error: too many connections, try again later\r\n");
		return;
	}
	if (smtp_count_ip(srv, ip) >= srv->cfg->max_connections_per_ip) {
		log_warn("%s: connection refused: max_connections_per_ip (%u) reached", ip,
			 srv->cfg->max_connections_per_ip);
		if (srv->hooks.reject)
			srv->hooks.reject("connection_limit", srv->hooks.arg);
		smtp_refuse_fd(fd, "421 4.7.0 Error: too many connections from your address\r\n");
		return;
	}
	struct smtp_session *s = calloc(1, sizeof(*s));
	if (!s) {
		smtp_refuse_fd(fd, "421 4.3.0 Error: out of memory\r\n");
		return;
	}
	s->srv = srv;
	memcpy(&s->peer, sa, salen < sizeof(s->peer) ? salen : sizeof(s->peer));
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->conn = io_conn_new_fd(srv->loop, fd, smtp_session_event, s);
	s->timer = io_timer_new(srv->loop, smtp_session_timeout, s);
	if (!s->conn || !s->timer) {
		if (s->conn)
			io_conn_free(s->conn);
		else
			close(fd);
		io_timer_free(s->timer);
		free(s);
		return;
	}
	s->next = srv->sessions;
	if (s->next)
		s->next->prev = s;
	srv->sessions = s;
	srv->stats.sessions++;
	srv->stats.connections++;
	log_info("connect from %s", ip);
	if (srv->dns && smtp_ptrcache_get(srv->ptrs, s->ip, io_now_ms(), s->rdns, sizeof(s->rdns)))
		log_debug("%s: reverse name \"%s\" (cached)", ip, s->rdns);
	else if (srv->dns) {
		char ptr[DNS_NAME_MAX];
		if (dns_ptr_name(sa, ptr, sizeof(ptr)) == 0) {
			long id = dns_query(srv->dns, ptr, DNS_T_PTR, smtp_session_ptr, s);
			s->ptr_query = id > 0 ? id : 0;
		}
	}
	if (srv->hooks.connected)
		srv->hooks.connected(sa, srv->hooks.arg);
	smtp_reply(s, "220 %s ESMTP backupmx", srv->cfg->hostname);
	smtp_enter_state(s, SS_GREET);
}

/* Create the server. */
struct smtp_server *smtp_server_new(struct io_loop *loop, const struct config *cfg,
				    struct spool *sp, struct io_tls *tls, struct dns_ctx *dns,
				    const struct smtp_server_hooks *hooks)
{
	struct smtp_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->loop = loop;
	srv->cfg = cfg;
	srv->spool = sp;
	srv->tls = tls;
	srv->dns = dns;
	srv->ptrs = smtp_ptrcache_new();   /* NULL only disables the cache */
	if (hooks)
		srv->hooks = *hooks;
	srv->commits_tail = &srv->commits;
	srv->done_tail = &srv->done;
	srv->commit_timer = io_timer_new(loop, smtp_commit_run, srv);
	if (!srv->commit_timer) {
		free(srv);
		return NULL;
	}
	srv->wake[0] = srv->wake[1] = -1;
	if (smtp_commit_worker_start(srv) < 0) {
		log_warn("smtp: no commit thread (%s); committing inline", strerror(errno));
		smtp_commit_worker_stop(srv);
	}
	return srv;
}

/* Replace the recipient table. */
void smtp_server_set_rcptmap(struct smtp_server *srv, struct rcptmap *map)
{
	rcptmap_free(srv->rcpts);
	srv->rcpts = map;
}

/* Call the shutdown callback once no session and no commit is left. */
static void smtp_server_check_done(struct smtp_server *srv)
{
	if (!srv->shutting_down || srv->sessions || srv->ncommits || srv->jobs_out ||
	    !srv->shutdown_done)
		return;
	void (*done)(void *) = srv->shutdown_done;
	srv->shutdown_done = NULL;
	io_timer_del(srv->grace_timer);
	done(srv->shutdown_arg);
}

/* Grace period over: close whatever is left. */
static void smtp_server_grace_over(void *arg)
{
	struct smtp_server *srv = arg;
	smtp_commit_inline(srv);
	while (srv->sessions) {
		log_info("%s: closed at shutdown in state %s", srv->sessions->ip,
			 smtp_state_name[srv->sessions->state]);
		smtp_session_free(srv->sessions);
	}
	smtp_server_check_done(srv);
}

/* Graceful stop. */
void smtp_server_shutdown(struct smtp_server *srv, void (*done)(void *arg), void *arg)
{
	srv->shutting_down = 1;
	srv->shutdown_done = done;
	srv->shutdown_arg = arg;
	if (!srv->grace_timer)
		srv->grace_timer = io_timer_new(srv->loop, smtp_server_grace_over, srv);
	if (srv->grace_timer)
		io_timer_add(srv->grace_timer, SMTP_SERVER_GRACE_MS);
	for (struct smtp_session *s = srv->sessions, *nx; s; s = nx) {
		nx = s->next;
		if (s->state <= SS_RCPT && s->state != SS_RCPT_WAIT) {
			s->shutting = 1;
			smtp_txn_reset(s);
			smtp_close_with(s, "421 4.3.2 Service shutting down, closing transmission "
					   "channel");
		}
	}
	smtp_server_check_done(srv);
}

/* Copy the counters. */
void smtp_server_stats(const struct smtp_server *srv, struct smtp_server_stats *out)
{
	*out = srv->stats;
}

/* Free the server and every session. */
void smtp_server_free(struct smtp_server *srv)
{
	if (!srv)
		return;
	srv->shutdown_done = NULL;
	smtp_commit_inline(srv);
	smtp_commit_worker_stop(srv);
	while (srv->sessions)
		smtp_session_free(srv->sessions);
	io_timer_free(srv->commit_timer);
	io_timer_free(srv->grace_timer);
	rcptmap_free(srv->rcpts);
	smtp_ptrcache_free(srv->ptrs);
	free(srv);
}
