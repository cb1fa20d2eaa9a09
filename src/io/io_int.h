/*
 * io_int.h - private structures shared by the files of src/io/.
 *
 * Only the .c files of src/io/ include this header; it is where libevent and OpenSSL
 * types meet the opaque handles of io.h.  Nothing outside src/io/ may
 * include it.
 */
#ifndef BMX_IO_INT_H
#define BMX_IO_INT_H

#include "common/guard.h"
#include "io/io.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

struct io_tls {
	SSL_CTX *ctx;
	int server;
};

#define IO_ERR_MAX  192 /* longest error text kept per connection */
#define IO_ALERT_MAX 256 /* queued TLS alert bytes sent on close after a failed handshake */
#define IO_HOST_MAX 256 /* longest TLS verify host name (DNS names are <= 253) */

struct io_sig;

struct io_loop {
	struct event_base *base;
	struct io_sig *sigs;        /* freed with the loop */
	struct event *reaper;       /* frees connections closed inside their callback */
	struct io_conn *dead;       /* list of connections waiting for the reaper */
	struct io_conn *closing;    /* connections flushing before they close
				       (io_conn_flush_free), freed with the loop */
};

struct io_conn {
	struct io_loop *loop;
	struct bufferevent *bev;    /* socket bufferevent, or the TLS filter on top of it */
	struct bufferevent *sock_bev; /* the socket bufferevent itself */
	struct evbuffer_cb_entry *flush_ent; /* io_conn_flush_free() watch on sock output */
	int fd;
	io_conn_cb cb;
	void *arg;
	struct event *idle;         /* idle (input) timeout */
	struct event *async;        /* deferred connect result */
	struct event *flushev;      /* eager write of queued output (direct mode) */
	enum io_event async_ev;
	uint64_t timeout_ms;
	struct bmx_guard guard;     /* in use by io code that may call back; killed by io_conn_free() */
	int closing;                /* io_conn_flush_free(): free once output drained */
	struct io_conn *close_prev, *close_next;   /* in loop->closing while closing */
	int connecting;
	int paused;
	int eof_pending;            /* EOF read while paused, not reported yet */
	int idle_armed;
	int handshaking;            /* TLS handshake in progress */
	int tls_client;
	int tls_failed;             /* handshake failed: an alert may be queued */
	int wrote;                  /* output queued since the last IO_EV_DRAINED */
	int direct;                 /* plain socket: we write, libevent only on EAGAIN */
	int flush_pending;          /* flushev is active */
	SSL *ssl;                   /* owned by the filter bufferevent */
	char verify_host[IO_HOST_MAX];
	char err[IO_ERR_MAX];
	struct io_conn *next_dead;
};

/* Attach a (new) bufferevent to c: callbacks, watermarks, enable. */
void io_conn_attach_bev(struct io_conn *c, struct bufferevent *bev);
/* Free every connection waiting in the loop's dead list. */
/* Leave a connection entered with bmx_guard_enter(): a free asked for in use
 * has already handed it to the loop's reaper, so nothing is left to do. */
static inline void io_conn_leave(struct io_conn *c)
{
	(void)bmx_guard_leave(&c->guard);
}
void io_loop_reap(struct io_loop *loop);
void io_loop_free_closing(struct io_loop *loop);
/* Fill c->err from the OpenSSL error queue of the filter; 0 if none was found. */
int io_tls_error_text(struct io_conn *c);
/* Create a bound, listening, non-blocking socket for ss; -1 with errno on failure. */
int io_listen_socket(const struct sockaddr_storage *ss, socklen_t len, int backlog);

#endif
