/*
 * client.h - the asynchronous SMTP client session (probe and delivery engine).
 *
 * One struct smtp_client is one outbound SMTP connection on the io loop:
 *
 *   connect (optional source address, connect timeout)
 *   -> banner (220) -> EHLO (HELO when EHLO gets a 5xx) -> capabilities
 *   -> STARTTLS + EHLO again (per tls_mode) -> SMTP_CLIENT_EV_READY
 *   -> queued commands: MAIL, RCPT, DATA, RSET, NOOP, QUIT
 *
 * Commands may be queued at any time, even before READY; they are written in
 * order and replies are matched in order.  With PIPELINING, commands are sent
 * in groups (RFC 2920: DATA, NOOP and QUIT end a group); without it, one at a
 * time.  DATA sends a body from a buffer or a file descriptor with
 * dot-stuffing (bodies are already CRLF; a final CRLF is added if missing).
 * Each command has its own reply callback, which receives NULL when the
 * session died before the reply arrived.
 *
 * Every wait has a deadline (RFC 5321 4.5.3.2 defaults, overridable), and
 * a reply may buffer at most SMTP_CLIENT_IN_MAX bytes: a server sending an
 * endless or huge reply gets a protocol error, never unbounded memory.
 * Errors say what failed: refused, connect, timeout, TLS, protocol, closed,
 * rejected.  smtp_client_info() gives the timing facts, banner, EHLO reply,
 * capabilities and TLS facts at any time.
 *
 * Callbacks never run from inside a smtp_client_* call; smtp_client_free()
 * is safe from inside any callback, and after it no callback runs.
 */
#ifndef BMX_SMTP_CLIENT_H
#define BMX_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "io/io.h"
#include "smtp/smtp.h"

/* ---- named limits ---- */
/* Buffered reply bytes before a reply must be complete (never above what io buffers). */
#define SMTP_CLIENT_IN_MAX \
	(IO_CONN_INPUT_MAX < 256 * 1024 ? IO_CONN_INPUT_MAX : 256 * 1024)
#define SMTP_CLIENT_OUT_HIGH    (256 * 1024)  /* body bytes queued on the socket before waiting */
#define SMTP_CLIENT_BODY_CHUNK  (64 * 1024)   /* body bytes read from an fd at once */
#define SMTP_CLIENT_ERR_MAX     256           /* error text */

/* RFC 5321 4.5.3.2 default timeouts, in milliseconds. */
#define SMTP_CLIENT_T_CONNECT     30000
#define SMTP_CLIENT_T_BANNER      300000
#define SMTP_CLIENT_T_HELO        300000
#define SMTP_CLIENT_T_STARTTLS    120000
#define SMTP_CLIENT_T_MAIL        300000
#define SMTP_CLIENT_T_RCPT        300000
#define SMTP_CLIENT_T_DATA_INIT   120000
#define SMTP_CLIENT_T_DATA_BLOCK  180000
#define SMTP_CLIENT_T_DATA_TERM   600000
#define SMTP_CLIENT_T_MISC        120000   /* RSET, NOOP, QUIT */

struct smtp_client;

enum smtp_client_error {
	SMTP_CLIENT_E_NONE = 0,
	SMTP_CLIENT_E_REFUSED,    /* connection refused (nothing listens) */
	SMTP_CLIENT_E_CONNECT,    /* other connect failure (unreachable, ...) */
	SMTP_CLIENT_E_TIMEOUT,    /* a deadline expired (connect, banner, a reply, body) */
	SMTP_CLIENT_E_TLS,        /* STARTTLS handshake failed, or the TLS policy was not met */
	SMTP_CLIENT_E_PROTOCOL,   /* malformed, over-limit or unsolicited reply */
	SMTP_CLIENT_E_CLOSED,     /* the server closed the connection (or said 421) */
	SMTP_CLIENT_E_REJECTED,   /* banner, EHLO and HELO refused (not 2xx) */
	SMTP_CLIENT_E_LOCAL,      /* local failure: out of memory, body fd read error */
};

enum smtp_client_tls {
	SMTP_CLIENT_TLS_NONE = 0, /* never STARTTLS */
	SMTP_CLIENT_TLS_MAY,      /* STARTTLS when offered; plaintext if not offered or refused */
	SMTP_CLIENT_TLS_ENCRYPT,  /* STARTTLS required (any certificate) */
	SMTP_CLIENT_TLS_VERIFY,   /* STARTTLS required, chain and name must verify */
};

/* Per-state deadlines in milliseconds; 0 = the RFC default above. */
struct smtp_client_timeouts {
	uint64_t connect, banner, helo, starttls, mail, rcpt, data_init, data_block, data_term,
		misc;
};

struct smtp_client_opts {
	const struct sockaddr *src;     /* source address (port 0) or NULL */
	socklen_t srclen;
	const char *helo_name;          /* EHLO argument; NULL = gethostname() */
	enum smtp_client_tls tls_mode;
	struct io_tls *tls;             /* client TLS context (not owned); needed unless NONE */
	const char *tls_host;           /* name to verify and send as SNI; may be NULL */
	struct smtp_client_timeouts timeouts;
};

enum smtp_client_event {
	SMTP_CLIENT_EV_READY,   /* greeting done: commands are being sent */
	SMTP_CLIENT_EV_DONE,    /* QUIT answered (or the server closed after QUIT) */
	SMTP_CLIENT_EV_ERROR,   /* the session failed; smtp_client_info()->err says why */
};

/* Facts gathered by the session; readable at any time. */
struct smtp_client_info {
	int connected;                  /* TCP connect completed */
	double connect_ms;              /* start -> connected (-1 if not) */
	double banner_ms;               /* connected -> banner reply (-1 if none) */
	double total_ms;                /* start -> done/error (-1 while running) */
	struct smtp_reply banner;       /* code 0 when none arrived */
	struct smtp_reply ehlo;         /* last EHLO (or HELO) reply */
	int used_helo;                  /* EHLO was refused and HELO used */
	struct smtp_caps caps;          /* after the last EHLO (inside TLS when active) */
	struct smtp_caps caps_plain;    /* from the first EHLO, before STARTTLS */
	int starttls_offered;           /* first EHLO advertised STARTTLS */
	int starttls_tried;             /* we sent STARTTLS */
	int starttls_code;              /* reply code to STARTTLS (0 if not sent) */
	struct io_tls_info tls;         /* TLS facts (tls.active when up) */
	enum smtp_client_error err;
	char errtext[SMTP_CLIENT_ERR_MAX];
};

/* A streamed body may take more bytes (the first call: 354 arrived). */
typedef void (*smtp_client_more_cb)(struct smtp_client *cl, void *arg);
typedef void (*smtp_client_event_cb)(struct smtp_client *cl, enum smtp_client_event ev,
				     void *arg);
/* r is NULL when the session ended before this command got its reply. */
typedef void (*smtp_client_reply_cb)(struct smtp_client *cl, const struct smtp_reply *r,
				     void *arg);

/* Fill t with the RFC 5321 defaults. */
void smtp_client_timeouts_rfc(struct smtp_client_timeouts *t);
/* Set every deadline in t to ms (the checker's --timeout). */
void smtp_client_timeouts_all(struct smtp_client_timeouts *t, uint64_t ms);

/* Start a session to sa.  cb gets READY, then DONE or ERROR; it never runs
 * from inside this call.  NULL on a bad argument or out of memory. */
struct smtp_client *smtp_client_new(struct io_loop *loop, const struct sockaddr *sa,
				    socklen_t salen, const struct smtp_client_opts *opts,
				    smtp_client_event_cb cb, void *arg);
/* Close the connection and free; no callback runs afterwards.  NULL is ok. */
void smtp_client_free(struct smtp_client *cl);

#define SMTP_CLIENT_XFORWARD_MAX 480   /* octets of XFORWARD attributes in one command */
/* Queue "XFORWARD attrs" before MAIL (Postfix XFORWARD_README: attributes of
 * the original client, NAME=... ADDR=..., values xtext-encoded); pipelined
 * like MAIL.  Several commands add up.  0 or -1. */
int smtp_client_xforward(struct smtp_client *cl, const char *attrs, smtp_client_reply_cb cb,
			 void *arg);
/* Queue "MAIL FROM:<from>[ params]"; from "" is the null path.  0 or -1. */
int smtp_client_mail(struct smtp_client *cl, const char *from, const char *params,
		     smtp_client_reply_cb cb, void *arg);
/* Queue "RCPT TO:<to>[ params]".  0 or -1. */
int smtp_client_rcpt(struct smtp_client *cl, const char *to, const char *params,
		     smtp_client_reply_cb cb, void *arg);
/* Queue DATA with the body in buf[0..len) (CRLF lines, not dot-stuffed).
 * buf must stay valid until cb runs.  cb gets the final reply, or the
 * refusal of DATA itself.  0 or -1. */
int smtp_client_data(struct smtp_client *cl, const void *buf, size_t len,
		     smtp_client_reply_cb cb, void *arg);
/* Queue DATA with the len-byte body read from fd starting at off (a queue
 * file holds more than the body).  The fd stays the caller's and must stay
 * open until cb runs.  0 or -1. */
int smtp_client_data_fd(struct smtp_client *cl, int fd, off_t off, size_t len,
			smtp_client_reply_cb cb, void *arg);
/* Queue DATA with a body that the caller streams: more runs when the 354
 * arrived and again whenever the socket drained after smtp_client_body_room()
 * said no; the caller then writes with smtp_client_body_write() and ends
 * with smtp_client_body_end().  cb gets the refusal of DATA itself or the
 * final reply.  0 or -1. */
int smtp_client_data_stream(struct smtp_client *cl, smtp_client_reply_cb cb,
			    smtp_client_more_cb more, void *arg);
/* Append len canonical (CRLF, unstuffed) body bytes to a streamed body;
 * dot-stuffed here.  Only after more ran and before body_end.  0 or -1. */
int smtp_client_body_write(struct smtp_client *cl, const void *buf, size_t len);
/* 1 while fewer than SMTP_CLIENT_OUT_HIGH bytes wait on the socket, else 0
 * (stop writing until more runs). */
int smtp_client_body_room(const struct smtp_client *cl);
/* End a streamed body (a final CRLF is added if missing, then "."). 0 or -1. */
int smtp_client_body_end(struct smtp_client *cl);
#define SMTP_CLIENT_XCLIENT_MAX 480   /* octets of XCLIENT attributes in one command */
/* Queue "XCLIENT attrs" (Postfix XCLIENT_README: NAME ADDR PORT HELO PROTO
 * of the original client, xtext values).  On its 220 the client sends
 * "EHLO ehlo" (the original client's HELO: Postfix judges and passes to its
 * milters the HELO of the EHLO that follows XCLIENT, not the attribute;
 * NULL or not a valid EHLO argument: our own name) before any later
 * command, and cb gets the 220 once that EHLO is answered, when
 * smtp_client_info() has the new capabilities (the EHLO refused: the
 * session fails and cb gets NULL).  A refusal goes to cb at once and the
 * session goes on.  Ends a pipelined group.  0 or -1. */
int smtp_client_xclient(struct smtp_client *cl, const char *attrs, const char *ehlo,
			smtp_client_reply_cb cb, void *arg);
/* Queue RSET, NOOP or QUIT.  After QUIT nothing more can be queued. */
int smtp_client_rset(struct smtp_client *cl, smtp_client_reply_cb cb, void *arg);
int smtp_client_noop(struct smtp_client *cl, smtp_client_reply_cb cb, void *arg);
int smtp_client_quit(struct smtp_client *cl, smtp_client_reply_cb cb, void *arg);

/* Session facts (timing, banner, EHLO, caps, TLS, error). */
const struct smtp_client_info *smtp_client_info(const struct smtp_client *cl);
/* Commands queued or awaiting a reply. */
size_t smtp_client_pending(const struct smtp_client *cl);
/* Short stable name of an error: "none", "refused", "connect", "timeout", "tls",
 * "protocol", "closed", "rejected", "local". */
const char *smtp_client_error_name(enum smtp_client_error e);

#endif
