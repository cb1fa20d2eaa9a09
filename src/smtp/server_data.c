/*
 * server_data.c - DATA of the inbound server: the Received: header, the
 * queue file, the message reader and the verdict on a finished message.
 *
 * smtp_cmd_data() snapshots the client's name, writes our Received: header
 * (RFC 5321 4.4) and opens the queue file; smtp_data_step() then feeds the
 * input through smtp_data_feed() in SMTP_DATA_CHUNK steps.  Only
 * <CRLF>.<CRLF> ends the message; a bare LF or CR closes the session with 521
 * (SMTP smuggling defence).  Received: headers are counted while the header
 * section passes (mail loops), and Authentication-Results headers that carry
 * our own authserv-id (forgeries, RFC 8601 5) are removed on the way
 * (src/filter/hdrfilter.c).  Storing stops once the message exceeds
 * max_message_size; the refusal is sent when the message ends.  A message
 * that is kept goes to the group commit (smtp_commit_queue) and is answered
 * only when it is durable.
 *
 * Loop thread only; the scratch buffer is shared by every session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "smtp/server_int.h"

static uint8_t smtp_scratch[SMTP_DATA_CHUNK];

/* Format an RFC 5322 date for now. */
static void smtp_rfc5322_date(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* Build our Received: trace header (RFC 5321 4.4) into buf; its length, or -1. */
int smtp_received(struct smtp_session *s, char *buf, size_t len)
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
			 v6 ? "IPv6:" : "", s->ip, s->cfg->hostname, proto, s->env.qid,
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

/* Snapshot the client's name and build our Received: header into buf. */
int smtp_data_prepare(struct smtp_session *s, char *buf, size_t len)
{
	s->env.arrival = time(NULL);
	/* the client's name as of now (its PTR lookup may have finished since
	 * MAIL): one snapshot for the Received: header, the queue file and logs */
	free(s->env.client_name);
	if (!(s->env.client_name = strdup(s->rdns[0] ? s->rdns : "unknown"))) {
		smtp_txn_reset(s);
		smtp_reply(s, "451 4.3.0 Error: out of memory");
		smtp_enter_state(s, smtp_idle_state(s));
		return -1;
	}
	int n = smtp_received(s, buf, len);
	if (n <= 0) {
		smtp_txn_reset(s);
		smtp_reply(s, "451 4.3.0 Error: trace header too long");
		smtp_enter_state(s, smtp_idle_state(s));
		return -1;
	}
	return n;
}

/* Start the DATA reader and answer 354. */
void smtp_data_begin(struct smtp_session *s)
{
	smtp_data_init(&s->rd);
	/* incoming Authentication-Results with our authserv-id are forgeries
	 * (RFC 8601 5); without memory the message is refused below, not
	 * passed on unfiltered */
	if (!s->hdrf)
		s->hdrf = malloc(sizeof(*s->hdrf));
	if (s->hdrf)
		hdrf_init(s->hdrf, s->cfg->hostname);
	s->received_hdrs = 0;
	s->hdr_done = 0;
	s->hdr_bol = 1;
	s->hdr_plen = 0;
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	smtp_enter_state(s, SS_DATA);
}

/* DATA: open the spool file and switch to the message reader. */
void smtp_cmd_data(struct smtp_session *s, const struct smtp_cmd *c)
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
	if (s->proxy || s->proxy_lost) {
		smtp_proxy_data(s);
		return;
	}
	if ((n = smtp_data_prepare(s, rcv, sizeof(rcv))) < 0)
		return;
	s->rcv_len = (size_t)n;
	s->msg = spool_msg_new(s->srv->spool, &s->env);
	if (!s->msg || spool_msg_write(s->msg, rcv, (size_t)n) < 0) {
		log_err("%s: %s: cannot create queue file: %s", s->ip, s->env.qid, strerror(errno));
		smtp_txn_reset(s);
		smtp_count_reject(s, "storage");
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
		smtp_enter_state(s, smtp_idle_state(s));
		return;
	}
	smtp_data_begin(s);
	smtp_milter_start(s);
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
const char *smtp_data_refusal(struct smtp_session *s, const char **reason)
{
	const struct config *cfg = s->cfg;
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
	if (!s->hdrf) {
		*reason = "storage";
		return "452 4.3.1 Insufficient system resources";
	}
	if (s->msg && spool_msg_errno(s->msg)) {
		*reason = "storage";
		return "452 4.3.1 Insufficient system storage";
	}
	return NULL;
}

/* Message complete: refuse it or hand it to the group commit. */
static void smtp_data_end(struct smtp_session *s)
{
	const char *reason = NULL;
	const char *refuse = smtp_data_refusal(s, &reason);
	if (s->proxy || s->proxy_lost) {
		smtp_proxy_end(s, refuse, reason);
		return;
	}
	if (!refuse && spool_msg_finish(s->msg) < 0) {
		reason = "storage";
		refuse = "452 4.3.1 Insufficient system storage";
	}
	if (!refuse && smtp_milter_end(s))
		return;   /* smtp_milter_done() commits or refuses */
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

/* Message octets after the header filter: to the primary or the queue file. */
static int smtp_data_emit(void *arg, const void *p, size_t n)
{
	struct smtp_session *s = arg;
	if (s->proxy) {
		smtp_proxy_body(s, p, n);   /* pausing is its flag, not a failure */
	} else if (s->msg) {
		spool_msg_write(s->msg, p, n);   /* errors: spool_msg_errno() */
		if (s->hdrf && hdrf_in_body(s->hdrf)) {
			if (s->milter)
				smtp_milter_body(s, p, n);
		} else {
			s->hdr_stored += n;   /* the header section, for a milter's changes */
		}
	}
	return 0;
}

/* Pass canonical message octets on, through the header filter. */
static void smtp_data_out(struct smtp_session *s, const uint8_t *p, size_t n)
{
	if (s->hdrf)
		hdrf_feed(s->hdrf, p, n, smtp_data_emit, s);
	else
		smtp_data_emit(s, p, n);
}

/* The body's taker can take more: clear body_full and read on. */
void smtp_body_room(struct smtp_session *s)
{
	if (!s->body_full)
		return;
	smtp_session_enter(s);
	s->body_full = 0;
	if (s->state == SS_DATA) {
		io_conn_resume(s->conn);
		smtp_session_run(s);
	}
	smtp_session_leave(s);
}

/* Process buffered DATA; 1 = progress, 0 = need more input or stopped. */
int smtp_data_step(struct smtp_session *s)
{
	size_t len, outlen = 0, used = 0;
	if (s->body_full)
		return 0;   /* smtp_body_room() goes on */
	const uint8_t *p = io_conn_peek(s->conn, SMTP_DATA_CHUNK, &len);
	if (!p || len == 0)
		return 0;
	enum smtp_data_status st = smtp_data_feed(&s->rd, p, len, smtp_scratch, &outlen, &used);
	if (outlen) {
		if (!s->hdr_done)
			smtp_hdr_scan(s, smtp_scratch, outlen);
		/* stop storing once the message is refused anyway */
		if (s->rd.total <= s->cfg->max_message_size)
			smtp_data_out(s, smtp_scratch, outlen);
	}
	io_conn_consume(s->conn, used);
	switch (st) {
	case SMTP_DATA_MORE:
		return 1;
	case SMTP_DATA_END:
		if (s->hdrf && s->rd.total <= s->cfg->max_message_size)
			hdrf_finish(s->hdrf, smtp_data_emit, s);
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
