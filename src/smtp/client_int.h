/*
 * client_int.h - private state shared by the files of the SMTP client
 * session.  Nothing outside src/smtp/client*.c may include it.
 *
 *   client.c        the session: lifecycle, timers, connection events, the
 *                   command queue and the public API
 *   client_reply.c  reading replies and acting on them (greeting, STARTTLS,
 *                   replies to queued commands)
 *   client_body.c   streaming a DATA body (dot-stuffing, flow control)
 *
 * The smtp_cl_* functions below are the internals the files share.  Loop
 * thread only.  Memory: the caller owns the client (smtp_client_new/free);
 * the client owns its queued commands and scratch buffers.  Every entry from
 * the loop is bracketed by the client's struct bmx_guard (common/guard.h);
 * after smtp_client_free() the guard is dead, no callback runs, and code on
 * the way out of a callback checks bmx_guard_dead() before going on.
 */
#ifndef BMX_SMTP_CLIENT_INT_H
#define BMX_SMTP_CLIENT_INT_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "common/guard.h"
#include "smtp/client.h"

enum cl_state {
	CL_START = 0,   /* connect scheduled */
	CL_CONNECTING,
	CL_BANNER,
	CL_EHLO,
	CL_HELO,
	CL_STARTTLS,    /* STARTTLS sent, waiting for 220 */
	CL_HANDSHAKE,   /* TLS handshake running */
	CL_READY,
	CL_DONE,
	CL_FAILED,
};

enum cl_kind { K_MAIL, K_RCPT, K_DATA, K_RSET, K_NOOP, K_QUIT, K_XFORWARD, K_XCLIENT };

struct cl_cmd {
	TAILQ_ENTRY(cl_cmd) link;
	enum cl_kind kind;
	int sent;
	int phase;               /* DATA: 0 await 354, 1 sending body, 2 await final reply */
	const uint8_t *buf;      /* DATA from a buffer */
	size_t len, pos;
	int from_fd;             /* DATA from an fd */
	int stream;              /* DATA streamed by the caller (smtp_client_body_write) */
	int stream_ended;        /* smtp_client_body_end() was called */
	smtp_client_more_cb more; /* stream: the body may take more */
	int fd;
	off_t off;
	smtp_client_reply_cb cb;
	void *arg;
	const char *ehlo;        /* XCLIENT: the EHLO argument after its 220 (in line[]), or NULL */
	size_t linelen;
	char line[];
};

TAILQ_HEAD(cl_queue, cl_cmd);

struct smtp_client {
	struct io_loop *loop;
	struct io_conn *conn;
	struct io_timer *deadline;
	struct io_timer *kick;       /* starts the connect; delivers deferred failures */
	struct sockaddr_storage sa;
	socklen_t salen;
	struct sockaddr_storage src;
	socklen_t srclen;
	char helo[SMTP_DOMAIN_MAX + 1];
	enum smtp_client_tls tls_mode;
	struct io_tls *tls;
	char tls_host[SMTP_DOMAIN_MAX + 1];
	struct smtp_client_timeouts to;
	smtp_client_event_cb cb;
	void *arg;
	enum cl_state st;
	struct cl_queue q;
	size_t nq;
	int quit_queued;
	struct bmx_guard guard;      /* free later while in use; dead after smtp_client_free() */
	int in_connect;              /* inside io_conn_connect() */
	int sync_ev_pending;         /* an event arrived inside io_conn_connect() */
	enum io_event sync_ev;
	int deferred_err;            /* failure to report from the kick timer */
	int eof_pending;             /* EOF/ERROR seen; handled on the next loop pass */
	enum io_event eof_ev;
	char eof_text[SMTP_CLIENT_ERR_MAX];
	char deferred_text[SMTP_CLIENT_ERR_MAX];
	int txn_rcpts, txn_ok;       /* RCPT replies in the current transaction */
	int reehlo;                  /* EHLO again after XCLIENT's 220 */
	char reehlo_name[SMTP_DOMAIN_MAX + 1];   /* its argument; "" = helo */
	smtp_client_reply_cb xc_cb;  /* XCLIENT's callback, held until that EHLO is answered */
	void *xc_arg;
	struct smtp_reply xc_reply;  /* ... with the 220 it gets then */
	int bol;                     /* body: at the beginning of a line */
	uint8_t last[2];             /* body: last two octets */
	unsigned long long body_total;
	uint8_t *body_in, *body_out; /* body scratch buffers */
	double t0;
	struct smtp_reply reply;     /* the reply being dispatched */
	struct smtp_client_info info;
};

/* ---- client.c ---- */

/* Monotonic time in milliseconds with sub-millisecond precision. */
double smtp_cl_now(void);
/* Fail the session: close, answer queued commands with NULL, report ERROR. */
void smtp_cl_fail(struct smtp_client *cl, enum smtp_client_error e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The session ended normally after QUIT: close, flush the queue, report DONE. */
void smtp_cl_done(struct smtp_client *cl);
/* Arm the deadline timer for ms milliseconds. */
void smtp_cl_arm(struct smtp_client *cl, uint64_t ms);
/* Write bytes; on failure report it (from the loop). 0 or -1. */
int smtp_cl_write(struct smtp_client *cl, const void *buf, size_t len);
/* Send EHLO or HELO (helo != 0) and wait for its reply. */
void smtp_cl_send_helo(struct smtp_client *cl, int helo);
/* Deadline for a command that is now the oldest in flight. */
uint64_t smtp_cl_cmd_timeout(struct smtp_client *cl, const struct cl_cmd *c);
/* Send whatever queued commands the pipelining rules allow now. */
void smtp_cl_pump(struct smtp_client *cl);

/* ---- client_reply.c ---- */

/* Parse and dispatch every complete reply in the input buffer. */
void smtp_cl_input(struct smtp_client *cl);

/* ---- client_body.c ---- */

/* 354 arrived: start sending the body (or just "." when no RCPT was accepted). */
void smtp_cl_body_start(struct smtp_client *cl, struct cl_cmd *c);
/* Push body bytes until the socket buffer is full or the body ends. */
void smtp_cl_body_pump(struct smtp_client *cl, struct cl_cmd *c);
/* The streaming DATA command in its body phase, or NULL. */
struct cl_cmd *smtp_cl_body_stream(const struct smtp_client *cl);

#endif
