/*
 * server_int.h - private state shared by the files of the inbound server.
 * Nothing outside src/smtp/server*.c may include it.
 *
 *   server.c         sessions (replies, states, deadlines, connections) and
 *                    the server object
 *   server_cmd.c     the command line reader and the command handlers
 *   server_data.c    DATA: the Received: header, the queue file, the message
 *                    reader, the verdict on a finished message
 *   server_commit.c  the group commit and its worker thread
 *   server_proxy.c   the live pass-through to the primary (primary_up = proxy)
 *   server_dnsbl.c   DNSBL scoring of the client (dnsbl_sites)
 *   server_milter.c  the milters of a stored message (milters)
 *
 * Threads: everything runs on the loop thread, except smtp_commit_worker()
 * in server_commit.c, which touches only the fields of struct smtp_server
 * marked "under mu" and the messages of the batch it syncs.
 *
 * Ownership: the server owns its sessions (srv->sessions) and the queued
 * commits; a session owns its transaction (env, msg).  A commit outlives its
 * session: smtp_session_destroy() only clears commit->session.  A session is
 * freed through its struct bmx_guard (common/guard.h): every entry from the
 * loop is bracketed by smtp_session_enter()/smtp_session_leave(), and
 * smtp_session_free() destroys it at once or when the last frame leaves.
 */
#ifndef BMX_SMTP_SERVER_INT_H
#define BMX_SMTP_SERVER_INT_H

#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/guard.h"
#include "filter/dnsbl.h"
#include "filter/hdrfilter.h"
#include "filter/milter.h"
#include "smtp/server.h"

#define SMTP_DATA_CHUNK       65536   /* bytes of DATA processed per step */
#define SMTP_HELO_MAX         255     /* longest HELO/EHLO argument we keep */
#define SMTP_RECEIVED_MAX     1024    /* our Received: header */
#define SMTP_PTR_WARN_MS      60000   /* at most one "reverse lookup skipped" warning */

enum smtp_sstate {
	SS_GREET = 0,   /* banner sent; EHLO/HELO expected */
	SS_READY,       /* greeted, no transaction */
	SS_MAIL,        /* MAIL accepted, no recipient yet */
	SS_RCPT,        /* at least one recipient accepted */
	SS_RCPT_WAIT,   /* a recipient decision is pending (callout) */
	SS_DATA,        /* reading the message */
	SS_COMMIT,      /* message complete; waiting for the group commit */
	SS_DATA_WAIT,   /* DATA relayed; waiting for the primary's 354 */
	SS_PROXY_END,   /* relayed message complete; waiting for the primary's reply */
	SS_FILTER,      /* stored message complete; waiting for the milters' verdict */
	SS_TLS,         /* STARTTLS handshake in progress */
	SS_CLOSING,     /* last reply queued; close when flushed */
};

struct smtp_ptrcache;
struct smtp_commit_job;

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
	struct smtp_server_conf conf;  /* what the session runs under (taken at connect) */
	const struct config *cfg;      /* conf.cfg */
	struct io_conn *conn;
	struct io_timer *timer;
	enum smtp_sstate state;
	struct sockaddr_storage peer;
	char ip[64];
	char rdns[DNS_NAME_MAX];
	long ptr_query;
	int ptr_tempfail;              /* the lookup failed, timed out or was skipped: the
					  name is "unknown", [TEMPUNAVAIL] to a primary */
	char helo[SMTP_HELO_MAX + 1];
	int esmtp;
	int tls_active;
	char tls_desc[160];
	unsigned errors;
	int skip_line;                 /* discarding the rest of an overlong line */
	struct bmx_guard guard;        /* free later while in use */
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
	/* live pass-through (server_proxy.c) */
	struct smtp_proxy_txn *proxy;  /* the transaction goes to the primary */
	int body_full;                 /* the body's taker (the primary, a milter) is full:
					  stop reading until smtp_body_room() */
	int proxy_lost;                /* the primary failed while we were not waiting */
	int port;                      /* the client's port */
	/* DNSBL scoring (server_dnsbl.c) */
	struct dnsbl_query *bl;        /* the check is running */
	int bl_done, bl_waiting;       /* finished; a recipient waits for it */
	struct dnsbl_result bl_res;
	struct hdrf *hdrf;             /* DATA: the header filter (allocated at DATA) */
	/* milters (server_milter.c) */
	struct milter_txn *milter;     /* the milters' conversation about this message */
	int milter_started, milter_eoh;
	size_t hdr_stored;             /* octets of the client's header section stored */
};

struct smtp_server {
	struct io_loop *loop;
	struct smtp_server_conf conf;        /* for new sessions (smtp_server_set_conf) */
	struct spool *spool;
	struct dns_ctx *dns;
	struct smtp_ptrcache *ptrs;          /* recent client reverse names */
	unsigned long long ptr_skipped;      /* connections not looked up: DNS_PTR_INFLIGHT_MAX */
	uint64_t ptr_warned_ms;              /* when that was last logged at warn */
	struct authres_psl *psl;             /* public suffixes, for bounce_policy (not owned) */
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

/* ---- server.c: sessions ---- */

/* Count a rejection for metrics. */
void smtp_count_reject(struct smtp_session *s, const char *reason);
/* Queue one reply line (CRLF added). */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The one place where a session changes state. */
void smtp_enter_state(struct smtp_session *s, enum smtp_sstate st);
/* Queue a final reply and close the session once it is flushed. */
void smtp_close_with(struct smtp_session *s, const char *reply);
/* Start closing: stop reading, flush, free. */
void smtp_session_close(struct smtp_session *s);
/* Forget the current transaction (RSET, after a message, on errors). */
void smtp_txn_reset(struct smtp_session *s);
/* State after a transaction ends. */
enum smtp_sstate smtp_idle_state(const struct smtp_session *s);
/* Process as much buffered input as the state allows. */
void smtp_session_run(struct smtp_session *s);
/* Enter the session from the loop (guard). */
void smtp_session_enter(struct smtp_session *s);
/* Leave it; frees it if it was killed meanwhile and this was the last frame. */
void smtp_session_leave(struct smtp_session *s);
/* Call the shutdown callback once no session and no commit is left. */
void smtp_server_check_done(struct smtp_server *srv);

/* ---- server_cmd.c: commands ---- */

/* Take one command line from the input; 1 = progress, 0 = need more input. */
int smtp_line_step(struct smtp_session *s);
/* Add an accepted recipient and answer it with ok (NULL: our 250). */
void smtp_rcpt_accept(struct smtp_session *s, const struct smtp_rcpt_args *r, const char *addr,
		      const char *ok);
/* Keep a recipient whose decision is pending (aliasing the pending one is ok). */
void smtp_rcpt_pend(struct smtp_session *s, const struct smtp_rcpt_args *r, const char *addr);
/* Decide a recipient for store and forward: the table, then the hook. */
void smtp_rcpt_local(struct smtp_session *s, const struct smtp_rcpt_args *r, const char *addr);

/* ---- server_data.c: DATA ---- */

/* DATA: open the spool file and switch to the message reader. */
void smtp_cmd_data(struct smtp_session *s, const struct smtp_cmd *c);
/* The body's taker can take more: clear body_full and read on. */
void smtp_body_room(struct smtp_session *s);
/* Process buffered DATA; 1 = progress, 0 = need more input or stopped. */
int smtp_data_step(struct smtp_session *s);

/* Build our Received: trace header (RFC 5321 4.4) into buf; its length, or -1. */
int smtp_received(struct smtp_session *s, char *buf, size_t len);
/* Snapshot the client's name and build our Received: header into buf;
 * its length, or -1 (out of memory or too long: the reply is sent). */
int smtp_data_prepare(struct smtp_session *s, char *buf, size_t len);
/* Start the DATA reader and answer 354. */
void smtp_data_begin(struct smtp_session *s);
/* The reply for a finished message that we will not keep, or NULL. */
const char *smtp_data_refusal(struct smtp_session *s, const char **reason);

/* ---- server_proxy.c: the live pass-through ---- */

/* The reply that ends a transaction whose primary failed. */
#define SMTP_PROXY_LOST "451 4.4.2 Error: the primary failed during the transaction; " \
			"nothing was kept, try again"
/* Offer a recipient to the proxy hook; 1 = it was answered or is pending,
 * 0 = decide it locally (store and forward). */
int smtp_proxy_rcpt(struct smtp_session *s, const struct smtp_rcpt_args *r, const char *addr);
/* DATA of a relayed transaction. */
void smtp_proxy_data(struct smtp_session *s);
/* Pass canonical body bytes on; 0, or -1 when reading must pause. */
int smtp_proxy_body(struct smtp_session *s, const void *p, size_t n);
/* The relayed message is complete (or refused by us: refuse != NULL). */
void smtp_proxy_end(struct smtp_session *s, const char *refuse, const char *reason);
/* Forget the relayed transaction (from smtp_txn_reset). */
void smtp_proxy_drop(struct smtp_session *s);

/* ---- server_dnsbl.c: DNSBL scoring ---- */

/* Start the check of a new session's client (unless it is a primary). */
void smtp_bl_start(struct smtp_session *s, const struct sockaddr *sa);
/* Judge a store-and-forward recipient by the score: 1 = answered or
 * waiting, 0 = go on. */
int smtp_bl_rcpt(struct smtp_session *s, const struct smtp_rcpt_args *r, const char *addr);

/* ---- server_milter.c: milters ---- */

/* DATA of a stored message: start the milters (none configured: nothing). */
void smtp_milter_start(struct smtp_session *s);
/* Body octets (past the header section) for the milters. */
void smtp_milter_body(struct smtp_session *s, const void *p, size_t n);
/* The stored message is complete: 1 = answered or waiting for the verdict,
 * 0 = no milters, go on. */
int smtp_milter_end(struct smtp_session *s);

/* ---- server_commit.c: the group commit ---- */

/* Set up the commit timer and the worker (inline commits without one); 0, or
 * -1 when the timer cannot be created. */
int smtp_commit_setup(struct smtp_server *srv);
/* Hand the session's finished message to the group commit. */
void smtp_commit_queue(struct smtp_session *s);
/* Commit everything now, on this thread (shutdown, no worker). */
void smtp_commit_inline(struct smtp_server *srv);
/* Stop the worker (after its batch) and release the pipe. */
void smtp_commit_worker_stop(struct smtp_server *srv);

#endif
