/*
 * server.c - the inbound ESMTP server: sessions, connections and the server
 * object (RFC 5321, 1870, 2920, 3207, 3461, 3463, 6152, 6531, 1985).
 *
 * Each session is a state machine; smtp_enter_state() is the only place that
 * changes the state, and it also arms the state's deadline and pauses or
 * resumes reading.  Input is processed strictly in order: a session that
 * waits (recipient callout, spool commit, TLS handshake) stops reading, so
 * pipelined commands are answered in sequence (RFC 2920).  The commands are
 * in server_cmd.c, the message reader in server_data.c and the group commit
 * (250 only once the message is durable) in server_commit.c; the structs
 * they share are in server_int.h.
 *
 * Bytes pipelined after STARTTLS are discarded by the io layer before the
 * handshake.  Output beyond SMTP_SERVER_OUT_MAX pauses reading.
 *
 * Memory: the server owns every session.  The io layer may report EOF from
 * inside a call we make (a TLS read), so every entry from the loop is
 * bracketed by the session's struct bmx_guard, and smtp_session_free() only
 * destroys a session once no frame on the stack uses it.  Loop thread only.
 */
#include "smtp/server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "smtp/ptrcache.h"
#include "smtp/server_int.h"

/* gcc -fanalyzer does not see that smtp_session_free() and
 * smtp_session_leave() only destroy a session when its guard depth is 0
 * (the commands and the reader in the other server files may be on the
 * stack), and reports the bmx_guard_leave() of an outer frame as a use
 * after free.  It is not: an inner frame never brings the depth to 0. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wanalyzer-use-after-free"
#endif

static const char *const smtp_state_name[] = {
	"greet", "ready", "mail", "rcpt", "rcpt-wait", "data", "commit", "data-wait", "proxy-end",
	"filter",
	"tls", "closing",
};

static void smtp_session_free(struct smtp_session *s);
static void smtp_session_destroy(struct smtp_session *s);
static void smtp_session_run1(struct smtp_session *s);

/* Count a rejection for metrics. */
void smtp_count_reject(struct smtp_session *s, const char *reason)
{
	s->srv->stats.rejects++;
	if (s->srv->hooks.reject)
		s->srv->hooks.reject(reason, s->srv->hooks.arg);
}

/* Queue one reply line (CRLF added). */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
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

/* Arm the deadline that belongs to a state. */
static void smtp_arm_deadline(struct smtp_session *s)
{
	const struct config *cfg = s->cfg;
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
	case SS_RCPT_WAIT: case SS_COMMIT: case SS_DATA_WAIT: case SS_PROXY_END: case SS_FILTER:
		io_timer_del(s->timer);
		break;
	}
}

/* The one place where a session changes state. */
void smtp_enter_state(struct smtp_session *s, enum smtp_sstate st)
{
	log_debug("%s: state %s -> %s", s->ip, smtp_state_name[s->state], smtp_state_name[st]);
	s->state = st;
	smtp_arm_deadline(s);
	switch (st) {
	case SS_RCPT_WAIT: case SS_COMMIT: case SS_TLS: case SS_CLOSING:
	case SS_DATA_WAIT: case SS_PROXY_END: case SS_FILTER:
		io_conn_pause(s->conn);
		break;
	case SS_DATA:
		if (s->body_full)
			break;   /* smtp_session_proxy_resume() resumes */
		io_conn_resume(s->conn);
		break;
	default:
		io_conn_resume(s->conn);
		break;
	}
}

/* Queue a final reply and close the session once it is flushed. */
void smtp_close_with(struct smtp_session *s, const char *reply)
{
	if (s->state == SS_CLOSING)
		return;
	smtp_reply(s, "%s", reply);
	smtp_session_close(s);
}

/* Forget the current transaction (RSET, after a message, on errors). */
void smtp_txn_reset(struct smtp_session *s)
{
	if (s->msg) {
		spool_msg_abort(s->msg);
		s->msg = NULL;
	}
	smtp_proxy_drop(s);
	s->proxy_lost = 0;
	free(s->hdrf);
	s->hdrf = NULL;
	milter_txn_free(s->milter);
	s->milter = NULL;
	s->milter_started = s->milter_eoh = 0;
	s->hdr_stored = 0;
	spool_env_clear(&s->env);
	memset(&s->env, 0, sizeof(s->env));
	s->have_mail = 0;
	s->declared_size = 0;
}

/* State after a transaction ends. */
enum smtp_sstate smtp_idle_state(const struct smtp_session *s)
{
	return s->helo[0] ? SS_READY : SS_GREET;
}

/* Enter the session from the loop (guard). */
void smtp_session_enter(struct smtp_session *s)
{
	bmx_guard_enter(&s->guard);
}

/* Leave it; frees it if it was killed meanwhile and this was the last frame. */
void smtp_session_leave(struct smtp_session *s)
{
	if (bmx_guard_leave(&s->guard))
		smtp_session_destroy(s);
}

/* Process as much buffered input as the state allows.  The io layer may
 * report EOF from inside a call we make (a TLS read), so the session is
 * entered and only freed once nothing on the stack uses it. */
void smtp_session_run(struct smtp_session *s)
{
	smtp_session_enter(s);
	smtp_session_run1(s);
	smtp_session_leave(s);
}

/* The body of smtp_session_run(). */
static void smtp_session_run1(struct smtp_session *s)
{
	for (;;) {
		if (bmx_guard_dead(&s->guard))
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

/* The session's deadline expired. */
static void smtp_session_timeout(void *arg)
{
	struct smtp_session *s = arg;
	smtp_session_enter(s);
	if (s->state == SS_CLOSING) {
		smtp_session_free(s);   /* by the leave below */
	} else {
		log_info("%s: timeout in state %s", s->ip, smtp_state_name[s->state]);
		smtp_count_reject(s, "timeout");
		smtp_txn_reset(s);
		smtp_close_with(s, "421 4.4.2 Error: timeout exceeded, closing transmission "
				   "channel");
	}
	smtp_session_leave(s);
}

/* Events from the io layer. */
static void smtp_session_event(struct io_conn *c, enum io_event ev, void *arg)
{
	struct smtp_session *s = arg;
	struct io_tls_info ti;

	smtp_session_enter(s);
	switch (ev) {
	case IO_EV_READ:
		smtp_session_run(s);
		break;
	case IO_EV_DRAINED:
		if (s->state != SS_RCPT_WAIT && s->state != SS_COMMIT && s->state != SS_TLS &&
		    s->state != SS_DATA_WAIT && s->state != SS_PROXY_END && s->state != SS_FILTER &&
		    !s->body_full) {
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
		smtp_session_free(s);   /* below, or by whoever still uses it */
		break;
	case IO_EV_TIMEOUT:
	case IO_EV_CONNECTED:
		break;
	}
	smtp_session_leave(s);
}

/* Reverse lookup result for the client. */
static void smtp_session_ptr(const struct dns_answer *ans, void *arg)
{
	struct smtp_session *s = arg;
	smtp_session_enter(s);
	s->ptr_query = 0;
	if (ans->status == DNS_OK && ans->n > 0)
		snprintf(s->rdns, sizeof(s->rdns), "%s", ans->name[0]);
	log_debug("%s: reverse name \"%s\" (%s)", s->ip, s->rdns, dns_status_str(ans->status));
	/* a definite answer (a name, or none) is kept; a failure is not */
	if (ans->status == DNS_OK || ans->status == DNS_NODATA || ans->status == DNS_NXDOMAIN)
		smtp_ptrcache_put(s->srv->ptrs, s->ip, s->rdns, ans->ttl, io_now_ms());
	else
		s->ptr_tempfail = 1;
	smtp_session_leave(s);
}

/* Start closing: stop reading, flush, free. */
void smtp_session_close(struct smtp_session *s)
{
	if (s->state != SS_CLOSING)
		smtp_enter_state(s, SS_CLOSING);
}

/* Free a session now, or when the last frame that uses it leaves. */
static void smtp_session_free(struct smtp_session *s)
{
	if (bmx_guard_kill(&s->guard))
		smtp_session_destroy(s);
}

/* Really free a session and everything it owns (no frame uses it); a
 * closing session's last reply is still flushed by the io layer. */
static void smtp_session_destroy(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;
	if (s->commit)
		s->commit->session = NULL;   /* the commit still happens */
	if (s->state == SS_RCPT_WAIT && srv->hooks.rcpt_cancel)
		srv->hooks.rcpt_cancel(s, srv->hooks.arg);
	if (s->ptr_query && srv->dns)
		dns_cancel(srv->dns, s->ptr_query);
	dnsbl_query_free(s->bl);
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
	if (srv->hooks.conf_drop)
		srv->hooks.conf_drop(s->conf.ref);   /* last: the milters, DNSBL, TLS may go */
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

/* Refuse a connection over a limit: log, count, answer reply and close. */
static void smtp_refuse_limit(struct smtp_server *srv, int fd, const char *ip, const char *limit,
			      unsigned max, const char *reply)
{
	log_warn("%s: connection refused: %s (%u) reached", ip, limit, max);
	if (srv->hooks.reject)
		srv->hooks.reject("connection_limit", srv->hooks.arg);
	smtp_refuse_fd(fd, reply);
}

/* Too many reverse lookups in flight: the client stays "unknown", as after a
 * timeout; say so at most once every SMTP_PTR_WARN_MS. */
static void smtp_session_ptr_skip(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;
	uint64_t now = io_now_ms();
	srv->ptr_skipped++;
	s->ptr_tempfail = 1;
	log_debug("%s: reverse lookup skipped: %u in flight", s->ip, dns_ptr_inflight(srv->dns));
	if (srv->ptr_warned_ms == 0 || now - srv->ptr_warned_ms >= SMTP_PTR_WARN_MS) {
		srv->ptr_warned_ms = now;
		log_warn("%s: reverse lookup skipped: %d lookups unanswered (the limit); "
			 "clients are \"unknown\" until they finish (%llu skipped so far)",
			 s->ip, DNS_PTR_INFLIGHT_MAX, (unsigned long long)srv->ptr_skipped);
	}
}

/* Find the client's reverse name: from the cache, or start a PTR query. */
static void smtp_session_ptr_start(struct smtp_session *s, const struct sockaddr *sa)
{
	struct smtp_server *srv = s->srv;
	if (srv->dns && smtp_ptrcache_get(srv->ptrs, s->ip, io_now_ms(), s->rdns, sizeof(s->rdns)))
		log_debug("%s: reverse name \"%s\" (cached)", s->ip, s->rdns);
	else if (srv->dns && dns_ptr_inflight(srv->dns) >= DNS_PTR_INFLIGHT_MAX)
		smtp_session_ptr_skip(s);
	else if (srv->dns) {
		char ptr[DNS_NAME_MAX];
		if (dns_ptr_name(sa, ptr, sizeof(ptr)) == 0) {
			long id = dns_query(srv->dns, ptr, DNS_T_PTR, smtp_session_ptr, s);
			s->ptr_query = id > 0 ? id : 0;
			s->ptr_tempfail = id <= 0;
		}
	}
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
	const struct config *cfg = srv->conf.cfg;
	if (srv->stats.sessions >= cfg->max_connections) {
		smtp_refuse_limit(srv, fd, ip, "max_connections", cfg->max_connections,
				  "421 4.7.0 Error: too many connections, try again later\r\n");
		return;
	}
	if (smtp_count_ip(srv, ip) >= cfg->max_connections_per_ip) {
		smtp_refuse_limit(srv, fd, ip, "max_connections_per_ip",
				  cfg->max_connections_per_ip,
				  "421 4.7.0 Error: too many connections from your address\r\n");
		return;
	}
	struct smtp_session *s = calloc(1, sizeof(*s));
	if (!s) {
		smtp_refuse_fd(fd, "421 4.3.0 Error: out of memory\r\n");
		return;
	}
	s->srv = srv;
	s->conf = srv->conf;
	s->cfg = cfg;
	memcpy(&s->peer, sa, salen < sizeof(s->peer) ? salen : sizeof(s->peer));
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->port = io_addr_port(sa);
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
	if (srv->hooks.conf_hold)
		srv->hooks.conf_hold(s->conf.ref);
	s->next = srv->sessions;
	if (s->next)
		s->next->prev = s;
	srv->sessions = s;
	srv->stats.sessions++;
	srv->stats.connections++;
	log_info("connect from %s", ip);
	smtp_session_ptr_start(s, sa);
	smtp_bl_start(s, sa);
	if (srv->hooks.connected)
		srv->hooks.connected(sa, srv->hooks.arg);
	smtp_reply(s, "220 %s ESMTP backupmx", s->cfg->hostname);
	smtp_enter_state(s, SS_GREET);
}

/* Public suffixes for the milters' SPF/DKIM verdicts. */
void smtp_server_set_psl(struct smtp_server *srv, struct authres_psl *psl)
{
	srv->psl = psl;
}

/* Run new sessions under conf; sessions in flight keep theirs. */
void smtp_server_set_conf(struct smtp_server *srv, const struct smtp_server_conf *conf)
{
	srv->conf = *conf;
}

/* Create the server. */
struct smtp_server *smtp_server_new(struct io_loop *loop, const struct smtp_server_conf *conf,
				    struct spool *sp, struct dns_ctx *dns,
				    const struct smtp_server_hooks *hooks)
{
	struct smtp_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->loop = loop;
	srv->conf = *conf;
	srv->spool = sp;
	srv->dns = dns;
	srv->ptrs = smtp_ptrcache_new();   /* NULL only disables the cache */
	if (hooks)
		srv->hooks = *hooks;
	if (smtp_commit_setup(srv) < 0) {
		free(srv);
		return NULL;
	}
	return srv;
}

/* Call the shutdown callback once no session and no commit is left. */
void smtp_server_check_done(struct smtp_server *srv)
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
	smtp_ptrcache_free(srv->ptrs);
	free(srv);
}
