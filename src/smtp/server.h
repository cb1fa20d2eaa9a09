/*
 * server.h - the inbound ESMTP server: sessions, relay control, DATA to spool.
 *
 * One smtp_server owns every inbound session of the daemon.  A session is an
 * explicit state machine (enum smtp_sstate) whose only transition point is
 * smtp_enter_state().  Commands are parsed by the pure parsers in smtp.h;
 * messages are streamed into the spool and acknowledged with 250 only after
 * the group commit made them durable.
 *
 * The delivery side plugs in through struct smtp_server_hooks: it learns of
 * queued messages, answers ETRN, sees inbound connections (the "primary is
 * back" hint of RFC 5321 4.5.4.1) and may take over recipient decisions
 * (recipient verification callouts) asynchronously.
 *
 * Live pass-through (primary_up = proxy): at each RCPT that passed the
 * relay and recipient-table checks, the proxy_rcpt hook may take the
 * transaction to the primary.  Then MAIL/RCPT answers, the DATA 354 and the
 * final reply come from the primary through smtp_session_proxy_reply(); the
 * body goes to proxy_body as our reader makes it canonical (dot-unstuffed
 * CRLF text, our Received: header first), and nothing touches the spool.
 */
#ifndef BMX_SMTP_SERVER_H
#define BMX_SMTP_SERVER_H

#include <stddef.h>
#include <sys/socket.h>

#include "common/config.h"
#include "common/rcptmap.h"
#include "dns/dns.h"
#include "io/io.h"
#include "smtp/smtp.h"
#include "spool/spool.h"

#define SMTP_SERVER_OUT_MAX   (64 * 1024)   /* pause reading while this much output is unsent */
#define SMTP_SERVER_GRACE_MS  5000          /* shutdown: time for the current command */

struct smtp_server;
struct smtp_session;
struct dnsbl;
struct milter_set;
struct authres_psl;

/* An asynchronous recipient decision (recipient verification). */
struct smtp_rcpt_query {
	struct smtp_session *session;
	const char *addr;     /* "local@domain" */
	const char *local;
	const char *domain;
};

/* Outcome of a recipient decision. */
enum smtp_rcpt_verdict {
	SMTP_RCPT_ACCEPT = 0,   /* 250 */
	SMTP_RCPT_REJECT,       /* 550 5.1.1 user unknown */
	SMTP_RCPT_TEMPFAIL,     /* 450 4.4.1 cannot verify now */
	SMTP_RCPT_PENDING,      /* the hook will call smtp_session_rcpt_done() */
};

/* A live pass-through transaction; the proxy hooks own it (server_proxy.c). */
struct smtp_proxy_txn;

/* What a proxy hook learns about one recipient and its transaction. */
struct smtp_proxy_rcpt {
	struct smtp_session *session;
	struct smtp_proxy_txn *txn;        /* the transaction's proxy so far, or NULL */
	int local;                         /* recipients were already taken for the spool */
	const struct spool_env *env;       /* qid, sender, MAIL facts, client address, HELO */
	unsigned long long declared_size;  /* MAIL SIZE=, 0 if not given */
	const char *addr, *domain;         /* the recipient */
	unsigned notify;                   /* RCPT NOTIFY= (SMTP_NOTIFY_*), 0 = not given */
	const char *orcpt;                 /* RCPT ORCPT= as sent, or NULL */
	const char *client_name;           /* the client's reverse name, "" if none (yet) */
	int client_port;
	const char *proto;                 /* "ESMTP" or "SMTP" */
};

/* How a recipient is handled (the proxy_rcpt hook's answer). */
enum smtp_route {
	SMTP_ROUTE_LOCAL = 0,   /* store and forward: the usual recipient rules */
	SMTP_ROUTE_DEFER,       /* 450 4.7.1: use the preferred MX */
	SMTP_ROUTE_SPLIT,       /* 452 4.5.3: one destination per relayed transaction */
	SMTP_ROUTE_BUSY,        /* 451 4.7.1: no live connection free */
	SMTP_ROUTE_PENDING,     /* relayed: smtp_session_proxy_reply() follows */
};

struct smtp_server_hooks {
	/* A message became durable in the spool. */
	void (*queued)(const struct spool_env *env, void *arg);
	/* ETRN argument from peer: write a full reply line ("250 2.0.0 ...")
	 * into reply (without CRLF). */
	void (*etrn)(const char *domain, const struct sockaddr *peer, char *reply, size_t len,
		     void *arg);
	/* An inbound connection was accepted from peer. */
	void (*connected)(const struct sockaddr *peer, void *arg);
	/* Decide a recipient in one of our domains that the static
	 * `recipients` table did not list (recipient verification).  NULL:
	 * without a table accept all, with one refuse what it lacks.  A hook
	 * returning SMTP_RCPT_PENDING must call smtp_session_rcpt_done() later,
	 * never from inside this call. */
	enum smtp_rcpt_verdict (*rcpt)(const struct smtp_rcpt_query *q, void *arg);
	/* The session of a pending decision is gone: never call it back. */
	void (*rcpt_cancel)(struct smtp_session *s, void *arg);
	/* Live pass-through (all NULL: never).  proxy_rcpt decides a
	 * recipient; on PENDING it set *txn (the session keeps it and gives it
	 * back to every later call) and will answer through
	 * smtp_session_proxy_reply().  proxy_data sends DATA (the 354 or a
	 * refusal follows), proxy_body passes body bytes (0 ok, 1 ok but stop
	 * until smtp_session_proxy_resume(), -1 the primary is gone),
	 * proxy_end ends the body (the final reply follows); these return -1
	 * when the primary is gone.  proxy_free ends the transaction's use of
	 * txn (after the final reply, on RSET, errors or a lost client); no
	 * call back follows it. */
	enum smtp_route (*proxy_rcpt)(const struct smtp_proxy_rcpt *q, struct smtp_proxy_txn **txn,
				      void *arg);
	int (*proxy_data)(struct smtp_proxy_txn *t);
	int (*proxy_body)(struct smtp_proxy_txn *t, const void *p, size_t n);
	int (*proxy_end)(struct smtp_proxy_txn *t);
	void (*proxy_free)(struct smtp_proxy_txn *t);
	/* Is peer a primary's address (never DNSBL-scored)?  1 or 0; NULL: no. */
	int (*trusted)(const struct sockaddr *peer, void *arg);
	/* Count a rejection by reason (metrics). */
	void (*reject)(const char *reason, void *arg);
	/* A session took (hold) or gave back (drop) a reference to conf->ref
	 * (NULL: the caller keeps every conf alive itself). */
	void (*conf_hold)(void *ref);
	void (*conf_drop)(void *ref);
	void *arg;
};

/* What a session runs under: the configuration and the objects built from
 * it.  A session takes the server's current one at connect (hooks.conf_hold)
 * and keeps it until it ends (hooks.conf_drop), so a reload never changes a
 * session in flight.  Nothing in it is owned by the server. */
struct smtp_server_conf {
	const struct config *cfg;
	struct io_tls *tls;            /* NULL: no STARTTLS */
	struct dnsbl *dnsbl;           /* NULL: no dnsbl_sites */
	struct milter_set *milters;    /* NULL: no milters */
	struct rcptmap *rcpts;         /* NULL: no recipient table */
	void *ref;                     /* handed to hooks.conf_hold / conf_drop */
};

/* Counters for status and metrics. */
struct smtp_server_stats {
	unsigned long long connections;   /* accepted in total */
	unsigned long long messages;      /* messages queued */
	unsigned long long rejects;       /* all 4xx/5xx replies */
	unsigned sessions;                /* open now */
};

/* Create the server; conf (copied; what it points to), sp and dns (NULL: no
 * PTR lookups) stay owned by the caller and must outlive their users. */
struct smtp_server *smtp_server_new(struct io_loop *loop, const struct smtp_server_conf *conf,
				    struct spool *sp, struct dns_ctx *dns,
				    const struct smtp_server_hooks *hooks);
/* Run new sessions under conf (copied); sessions in flight keep theirs. */
void smtp_server_set_conf(struct smtp_server *srv, const struct smtp_server_conf *conf);
/* Judge the sender's authentication with psl's public suffixes (not owned;
 * NULL = none), for the milters' verdicts. */
void smtp_server_set_psl(struct smtp_server *srv, struct authres_psl *psl);
/* Take an accepted socket; applies the connection limits. */
void smtp_server_accept(struct smtp_server *srv, int fd, const struct sockaddr *sa,
			socklen_t salen);
/* Graceful stop: refuse new sessions, let current commands finish within
 * SMTP_SERVER_GRACE_MS, then call done. */
void smtp_server_shutdown(struct smtp_server *srv, void (*done)(void *arg), void *arg);
void smtp_server_stats(const struct smtp_server *srv, struct smtp_server_stats *out);
void smtp_server_free(struct smtp_server *srv);

/* The answer to a relayed command: reply is one complete reply line (no
 * CRLF).  At RCPT, reply NULL means "the primary is unreachable, decide this
 * recipient locally" (store and forward).  txn_over: the transaction is
 * finished (final reply, or the primary failed); the session forgets it. */
void smtp_session_proxy_reply(struct smtp_session *s, const char *reply, int txn_over);
/* A relayed body may take more bytes again. */
void smtp_session_proxy_resume(struct smtp_session *s);

/* Finish a recipient decision that a hook left pending. */
void smtp_session_rcpt_done(struct smtp_session *s, enum smtp_rcpt_verdict v, const char *text);

#endif
