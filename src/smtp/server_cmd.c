/*
 * server_cmd.c - the command side of the inbound server: the line reader and
 * one handler for each command (RFC 5321, 1870, 2920, 3207, 3461, 6531, 1985).
 *
 * Command lines must end in CRLF: a bare LF or bare CR closes the session
 * with 521 (SMTP smuggling defence); a line longer than SMTP_CMD_LINE_MAX is
 * answered 500 and skipped up to its end; an HTTP request closes the session.
 * smtp_line_step() takes one line at a time, so pipelined commands are
 * answered in order (RFC 2920).  The handlers answer through smtp_reply()
 * and change state only through smtp_enter_state() (server.c); DATA itself
 * is in server_data.c.  Too many errors (max_errors) close the session.
 *
 * Recipients: a static `recipients` table accepts what it lists; the rcpt
 * hook may decide the rest, now or later (SS_RCPT_WAIT until
 * smtp_session_rcpt_done()).  Loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "smtp/server_int.h"

/* Reply with a parser error. */
static void smtp_reply_err(struct smtp_session *s, const struct smtp_err *e)
{
	smtp_reply(s, "%d %s %s", e->code, e->enh, e->text);
}

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
	const struct config *cfg = s->cfg;
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
		if (s->conf.tls && !s->tls_active)
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
	if (!s->conf.tls || s->tls_active) {
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
	if (io_conn_starttls_server(s->conn, s->conf.tls) < 0) {
		log_warn("%s: cannot start TLS", s->ip);
		smtp_session_close(s);
	}
}

/* MAIL FROM. */
static void smtp_cmd_mail(struct smtp_session *s, const struct smtp_cmd *c)
{
	const struct config *cfg = s->cfg;
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
	s->env.client_addr = strdup(s->ip);   /* client_name is taken at DATA */
	if (!s->env.sender || !s->env.helo || !s->env.client_addr) {
		smtp_txn_reset(s);
		smtp_reply(s, "451 4.3.0 Error: out of memory");
		return;
	}
	s->declared_size = a.size;
	s->have_mail = 1;
	smtp_reply(s, "250 2.1.0 Ok");
	smtp_enter_state(s, SS_MAIL);
}

/* Add an accepted recipient to the envelope and answer it with ok (a
 * relayed 250, or NULL for ours). */
void smtp_rcpt_accept(struct smtp_session *s, const struct smtp_rcpt_args *r, const char *addr,
		      const char *ok)
{
	for (size_t i = 0; i < s->env.nrcpt; i++) {
		if (strcmp(s->env.rcpt[i].addr, addr) == 0) {
			smtp_reply(s, "%s", ok ? ok : "250 2.1.5 Ok");   /* duplicate: delivered once */
			smtp_enter_state(s, SS_RCPT);
			return;
		}
	}
	if (spool_env_add_rcpt(&s->env, addr, r->notify, r->orcpt[0] ? r->orcpt : NULL) < 0) {
		smtp_reply(s, "452 4.3.1 Insufficient system resources");
		smtp_enter_state(s, s->env.nrcpt ? SS_RCPT : SS_MAIL);
		return;
	}
	smtp_reply(s, "%s", ok ? ok : "250 2.1.5 Ok");
	smtp_enter_state(s, SS_RCPT);
}

/* Does the session verify recipients (a hook, and recipient_verify in its config)? */
static int smtp_verify_on(const struct smtp_session *s)
{
	return s->srv->hooks.rcpt && s->cfg->recipient_verify;
}

/* Apply a recipient verdict (synchronous or from a callout). */
static void smtp_rcpt_verdict(struct smtp_session *s, const struct smtp_rcpt_args *r,
			      const char *addr, enum smtp_rcpt_verdict v, const char *text)
{
	enum smtp_sstate back = s->env.nrcpt ? SS_RCPT : SS_MAIL;
	switch (v) {
	case SMTP_RCPT_ACCEPT:
		smtp_rcpt_accept(s, r, addr, NULL);
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
	struct smtp_rcpt_args r;
	struct smtp_err e;
	char addr[SMTP_PATH_MAX + 8];

	if (s->state != SS_MAIL && s->state != SS_RCPT) {
		smtp_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->env.nrcpt >= s->cfg->max_recipients) {
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
	if (r.to.null_path || r.to.literal || !config_relay_domain(s->cfg, r.to.domain)) {
		smtp_count_reject(s, "relay");
		log_info("%s: reject: RCPT <%s>: relay access denied", s->ip, addr);
		smtp_reply(s, "554 5.7.1 <%s>: Relay access denied", addr);
		return;
	}
	int listed = s->conf.rcpts && rcptmap_match(s->conf.rcpts, r.to.local, r.to.domain);
	if (s->conf.rcpts && !listed && !smtp_verify_on(s)) {
		log_info("%s: reject: RCPT <%s>: user unknown", s->ip, addr);
		smtp_rcpt_verdict(s, &r, addr, SMTP_RCPT_REJECT,
				  "User unknown in relay recipient table");
		return;
	}
	if (smtp_proxy_rcpt(s, &r, addr))
		return;
	smtp_rcpt_local(s, &r, addr);
}

/* Keep a recipient whose decision is pending (r and addr may already be
 * the pending ones: a decision handed on from the proxy or the DNSBL check). */
void smtp_rcpt_pend(struct smtp_session *s, const struct smtp_rcpt_args *r, const char *addr)
{
	if (r != &s->pending_rcpt)
		s->pending_rcpt = *r;
	if (addr != s->pending_addr)
		snprintf(s->pending_addr, sizeof(s->pending_addr), "%s", addr);
}

/* Decide a recipient for store and forward: the table, then the hook. */
void smtp_rcpt_local(struct smtp_session *s, const struct smtp_rcpt_args *r, const char *addr)
{
	struct smtp_server *srv = s->srv;
	if (smtp_bl_rcpt(s, r, addr))
		return;
	if (!smtp_verify_on(s) || (s->conf.rcpts && rcptmap_match(s->conf.rcpts, r->to.local,
							     r->to.domain))) {
		smtp_rcpt_accept(s, r, addr, NULL);
		return;
	}
	struct smtp_rcpt_query q = {s, addr, r->to.local, r->to.domain};
	enum smtp_rcpt_verdict v = srv->hooks.rcpt(&q, srv->hooks.arg);
	if (v == SMTP_RCPT_PENDING) {
		smtp_rcpt_pend(s, r, addr);
		smtp_enter_state(s, SS_RCPT_WAIT);
		return;
	}
	smtp_rcpt_verdict(s, r, addr, v, NULL);
}

/* Finish a recipient decision that a hook left pending. */
void smtp_session_rcpt_done(struct smtp_session *s, enum smtp_rcpt_verdict v, const char *text)
{
	if (s->state != SS_RCPT_WAIT || s->proxy || s->bl_waiting)
		return;
	smtp_rcpt_verdict(s, &s->pending_rcpt, s->pending_addr, v, text);
	smtp_session_run(s);
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

/* One handler a verb; NULL (or a verb past the end) is "not recognized". */
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
	if (s->state != SS_CLOSING && s->errors >= s->cfg->max_errors) {
		log_info("%s: too many errors, closing", s->ip);
		smtp_count_reject(s, "errors");
		smtp_close_with(s, "421 4.7.0 Error: too many errors, closing transmission channel");
	}
}

/* Take one command line from the input; 1 = progress, 0 = need more input. */
int smtp_line_step(struct smtp_session *s)
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
