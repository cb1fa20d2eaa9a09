/*
 * io_conn.c - buffered connections: accepted sockets and outbound connects.
 *
 * Each io_conn wraps a libevent socket bufferevent (later, after STARTTLS, an
 * OpenSSL filter bufferevent stacked on it).  Input is capped by a read
 * high-watermark (IO_CONN_INPUT_MAX), so a peer cannot make us buffer without
 * bound.  The idle timeout is a plain timer re-armed by each input, so it
 * fires exactly once and never disables reading, and it also runs while a
 * connect is still in progress.  io_conn_free() is safe from inside the
 * connection's own callback: every libevent callback enters and leaves the
 * connection's struct bmx_guard (src/common/guard.h), and a free requested
 * while it is in use is handed to the loop's reaper, which frees the
 * connection on the next loop iteration (a bufferevent cannot be freed
 * from inside its own callback, so the reaper, not the last leave, does it).  No user
 * callback is ever called after io_conn_free().
 *
 * Plain (non-TLS) connections write eagerly ("direct mode"): output queued
 * by io_conn_write() is sent by one write at the end of the current loop
 * pass (c->flushev, an active event, so replies to pipelined commands still
 * leave in one segment), and the socket's write event is enabled only when
 * the kernel did not take everything.  libevent's own scheme would add and
 * remove the write event around every reply: two epoll_ctl() calls and one
 * extra loop iteration per reply.  Once TLS is stacked on a connection, the
 * OpenSSL filter owns the output and direct mode ends.
 *
 * Pausing a direct-mode connection (io_conn_pause) only stops telling the
 * owner about input: libevent keeps reading into the input buffer, up to
 * IO_CONN_PAUSED_INPUT_MAX (a lower read high-watermark while paused, where
 * libevent stops by itself), and io_conn_resume() reports what came
 * meanwhile.  Disabling and re-enabling the read event instead costs two
 * epoll_ctl() calls per pause, and an SMTP session pauses at least twice a
 * message (group commit, closing reply).  An EOF read while paused is held
 * back too and reported after the input before it, so a client that
 * half-closes after its last command still gets every reply.  A TLS
 * connection is paused by disabling its read event, so no byte reaches
 * OpenSSL meanwhile.
 */
#include "io/io_int.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

/* gcc -fanalyzer does not see that io_conn_free() only defers the free while
 * c is in use (it is called from inside c's own callbacks), and reports the
 * bmx_guard_leave() that follows as a use after free.  It is not: io_conn_free()
 * queues c for the reaper in that case. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wanalyzer-use-after-free"
#endif

/* Free the connection now: events, bufferevent (closes fd, frees SSL), memory. */
static void conn_destroy(struct io_conn *c)
{
	if (c->closing) {   /* off the loop's list of flushing connections */
		if (c->close_prev)
			c->close_prev->close_next = c->close_next;
		else
			c->loop->closing = c->close_next;
		if (c->close_next)
			c->close_next->close_prev = c->close_prev;
	}
	if (c->idle)
		event_free(c->idle);
	if (c->async)
		event_free(c->async);
	if (c->flushev)
		event_free(c->flushev);
	if (c->flush_ent)
		evbuffer_remove_cb_entry(bufferevent_get_output(c->sock_bev), c->flush_ent);
	/* One non-blocking attempt to send a queued TLS alert before closing. */
	if (c->tls_failed && c->sock_bev && c->fd >= 0) {
		struct evbuffer *out = bufferevent_get_output(c->sock_bev);
		char alert[IO_ALERT_MAX];
		ev_ssize_t n;

		evbuffer_unfreeze(out, 1);  /* socket bufferevents freeze their output start */
		n = evbuffer_copyout(out, alert, sizeof(alert));
		if (n > 0 && send(c->fd, alert, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			log_debug("io: cannot send TLS alert: %s", strerror(errno));
	}
	if (c->bev)
		bufferevent_free(c->bev);
	else if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* At the loop's end: free the connections still flushing (their peers
 * never took the last bytes). */
void io_loop_free_closing(struct io_loop *loop)
{
	while (loop->closing) {
		struct io_conn *c = loop->closing;
		if (bmx_guard_dead(&c->guard))
			break;   /* already on the dead list: the reaper frees it */
		conn_destroy(c);   /* unlinks c */
	}
}

/* Free every connection waiting in the loop's dead list. */
void io_loop_reap(struct io_loop *loop)
{
	while (loop->dead) {
		struct io_conn *c = loop->dead;
		loop->dead = c->next_dead;
		conn_destroy(c);
	}
}

/* Call the owner's callback unless the connection was freed or is closing. */
static void conn_emit(struct io_conn *c, enum io_event ev)
{
	if (bmx_guard_dead(&c->guard) || c->closing || !c->cb)
		return;
	c->cb(c, ev, c->arg);
}

/* Record an error text for io_conn_error(). */
static void conn_set_err(struct io_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void conn_set_err(struct io_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

/* Arm the idle timer for the configured timeout. */
static void conn_idle_arm(struct io_conn *c)
{
	uint64_t ms = c->timeout_ms;
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	evtimer_add(c->idle, &tv);
	c->idle_armed = 1;
}

/* A plain, connected socket: switch to eager writes (see the top of the file). */
static void conn_go_direct(struct io_conn *c)
{
	if (c->ssl || c->connecting || c->bev != c->sock_bev)
		return;
	c->direct = 1;
	if (evbuffer_get_length(bufferevent_get_output(c->sock_bev)) == 0)
		bufferevent_disable(c->sock_bev, EV_WRITE);
	/* else conn_write_cb() disables it once libevent has sent the rest */
}

/* Input arrived: re-arm the idle timer and tell the owner. */
static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct io_conn *c = arg;

	if (bmx_guard_dead(&c->guard) || c->paused)
		return;   /* paused in direct mode: io_conn_resume() reports it */
	bmx_guard_enter(&c->guard);
	if (c->closing) {
		struct evbuffer *in = bufferevent_get_input(bev);
		evbuffer_drain(in, evbuffer_get_length(in));
	} else {
		if (c->idle_armed && !c->paused)
			conn_idle_arm(c);
		if (c->handshaking) {
			/* libevent may hand over the first TLS data before it reports
			 * BEV_EVENT_CONNECTED: the handshake is done, say so first. */
			c->handshaking = 0;
			conn_emit(c, IO_EV_TLS_READY);
		}
		conn_emit(c, IO_EV_READ);
	}
	io_conn_leave(c);
}

/* Queue an eager write of the output for the end of this loop pass. */
static void conn_flush_later(struct io_conn *c)
{
	if (!c->direct || c->flush_pending || bmx_guard_dead(&c->guard))
		return;
	if (bufferevent_get_enabled(c->sock_bev) & EV_WRITE)
		return;   /* libevent is already waiting to write the rest */
	c->flush_pending = 1;
	event_active(c->flushev, EV_WRITE, 0);
}

/* Direct mode: write what is queued now; hand any rest to libevent. */
static void conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io_conn *c = arg;
	struct evbuffer *out;
	(void)fd; (void)what;

	c->flush_pending = 0;
	if (bmx_guard_dead(&c->guard) || !c->direct)
		return;
	bmx_guard_enter(&c->guard);
	out = bufferevent_get_output(c->sock_bev);
	if (evbuffer_get_length(out) > 0) {
		/* a socket bufferevent freezes its output's start; its own write
		 * callback unfreezes it around the write in the same way */
		evbuffer_unfreeze(out, 1);
		(void)evbuffer_write(out, c->fd);   /* errors: libevent reports them */
		evbuffer_freeze(out, 1);
	}
	if (evbuffer_get_length(out) > 0) {
		/* EAGAIN, a short write or an error: libevent's write event takes
		 * over and reports the outcome (conn_write_cb, conn_event_cb) */
		if (!bmx_guard_dead(&c->guard))
			bufferevent_enable(c->sock_bev, EV_WRITE);
	} else if (!c->closing && !c->handshaking && c->wrote) {
		c->wrote = 0;
		conn_emit(c, IO_EV_DRAINED);
	}
	io_conn_leave(c);
}

/* Output drained to empty. */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct io_conn *c = arg;

	if (bmx_guard_dead(&c->guard))
		return;
	bmx_guard_enter(&c->guard);
	if (c->direct)
		bufferevent_disable(c->sock_bev, EV_WRITE);   /* back to eager writes */
	if (c->closing) {
		if (io_conn_out_len(c) == 0)
			io_conn_free(c);
	} else if (!c->handshaking && c->wrote &&
		   evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		c->wrote = 0;
		conn_emit(c, IO_EV_DRAINED);
	}
	io_conn_leave(c);
}

/* Connected, TLS up, EOF or error. */
static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct io_conn *c = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (bmx_guard_dead(&c->guard))
		return;
	bmx_guard_enter(&c->guard);
	if (what & BEV_EVENT_CONNECTED) {
		if (c->ssl) {
			if (c->handshaking) {
				c->handshaking = 0;
				conn_emit(c, IO_EV_TLS_READY);
			}
		} else {
			c->connecting = 0;
			conn_go_direct(c);
			if (!c->paused && !c->closing)
				bufferevent_enable(bev, EV_READ);
			conn_emit(c, IO_EV_CONNECTED);
		}
	} else if (what & BEV_EVENT_ERROR) {
		if (!(c->ssl && io_tls_error_text(c))) {
			if (err)
				conn_set_err(c, "%s", evutil_socket_error_to_string(err));
			else
				conn_set_err(c, "connection error");
		}
		if (c->handshaking) {
			log_debug("io: TLS handshake failed: %s", c->err);
			c->tls_failed = 1;
		}
		c->connecting = 0;
		c->handshaking = 0;
		if (c->closing)
			io_conn_free(c);
		else
			conn_emit(c, IO_EV_ERROR);
	} else if (what & BEV_EVENT_EOF) {
		conn_set_err(c, "%s", c->handshaking ? "connection closed during TLS handshake"
			     : "connection closed by peer");
		if (c->closing)
			io_conn_free(c);
		else if (c->paused && c->direct)
			c->eof_pending = 1;   /* after what came before it: io_conn_resume() */
		else
			conn_emit(c, IO_EV_EOF);
	}
	io_conn_leave(c);
}

/* Idle timer expired: fire IO_EV_TIMEOUT once. */
static void conn_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io_conn *c = arg;
	(void)fd; (void)what;

	if (bmx_guard_dead(&c->guard))
		return;
	bmx_guard_enter(&c->guard);
	c->idle_armed = 0;
	if (c->closing) {
		io_conn_free(c);
	} else {
		conn_set_err(c, "%s", c->connecting ? "connect timed out" : "timed out");
		conn_emit(c, IO_EV_TIMEOUT);
	}
	io_conn_leave(c);
}

/* Deliver a connect result that was known before the loop ran, or input
 * that arrived while the connection was paused (io_conn_resume). */
static void conn_async_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io_conn *c = arg;
	(void)fd; (void)what;

	if (bmx_guard_dead(&c->guard))
		return;
	if (c->async_ev == IO_EV_READ) {
		bmx_guard_enter(&c->guard);
		if (!c->paused && !c->closing &&
		    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
			conn_emit(c, IO_EV_READ);
		/* an EOF that came while paused, once its input is handled (if the
		 * owner paused again, the next io_conn_resume() brings us back) */
		if (!bmx_guard_dead(&c->guard) && !c->paused && !c->closing && c->eof_pending) {
			c->eof_pending = 0;
			conn_emit(c, IO_EV_EOF);
		}
		io_conn_leave(c);
		return;
	}
	bmx_guard_enter(&c->guard);
	if (c->async_ev == IO_EV_CONNECTED) {
		c->connecting = 0;
		bufferevent_enable(c->bev, EV_WRITE);
		conn_go_direct(c);
		if (!c->paused)
			bufferevent_enable(c->bev, EV_READ);
	} else {
		c->connecting = 0;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	}
	conn_emit(c, c->async_ev);
	io_conn_leave(c);
}

/* Attach a (new) bufferevent to c: callbacks, watermarks, enable. */
void io_conn_attach_bev(struct io_conn *c, struct bufferevent *bev)
{
	c->bev = bev;
	bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(bev, EV_READ, 0, IO_CONN_INPUT_MAX);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	if (c->connecting)
		return;
	if (c->direct)
		bufferevent_disable(bev, EV_WRITE);   /* conn_flush_cb() writes */
	else
		bufferevent_enable(bev, EV_WRITE);
	if (!c->paused)
		bufferevent_enable(bev, EV_READ);
}

/* Allocate a connection around fd (ownership of fd passes to it). */
static struct io_conn *conn_alloc(struct io_loop *loop, int fd, int connecting, io_conn_cb cb,
				  void *arg)
{
	struct io_conn *c = calloc(1, sizeof(*c));
	struct bufferevent *bev;

	if (!c) {
		close(fd);
		return NULL;
	}
	c->loop = loop;
	c->fd = fd;
	/* SMTP is request and reply: a small last write (".", a reply) must not
	 * wait for the peer's delayed ACK (Nagle: +40 ms a message measured in
	 * proxy mode).  Fails harmlessly on UNIX sockets. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->cb = cb;
	c->arg = arg;
	c->connecting = connecting;
	c->idle = evtimer_new(loop->base, conn_idle_cb, c);
	c->async = evtimer_new(loop->base, conn_async_cb, c);
	c->flushev = event_new(loop->base, -1, 0, conn_flush_cb, c);
	bev = bufferevent_socket_new(loop->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->idle || !c->async || !c->flushev || !bev) {
		log_err("io: cannot allocate a connection");
		if (bev)
			bufferevent_free(bev);
		else
			close(fd);
		c->fd = -1;
		conn_destroy(c);
		return NULL;
	}
	c->sock_bev = bev;
	c->direct = !connecting;   /* outbound: once connected (conn_go_direct) */
	io_conn_attach_bev(c, bev);
	return c;
}

/* Wrap an accepted socket (the conn owns fd from now on, even on failure). */
struct io_conn *io_conn_new_fd(struct io_loop *loop, int fd, io_conn_cb cb, void *arg)
{
	if (fd < 0)
		return NULL;
	if (evutil_make_socket_nonblocking(fd) < 0) {
		close(fd);
		return NULL;
	}
	return conn_alloc(loop, fd, 0, cb, arg);
}

/* Schedule an event (connect result, input) for the next loop iteration. */
static void conn_async(struct io_conn *c, enum io_event ev)
{
	struct timeval tv = { 0, 0 };

	c->async_ev = ev;
	evtimer_add(c->async, &tv);
}

/* Start a non-blocking connect, optionally from a source address. */
struct io_conn *io_conn_connect(struct io_loop *loop, const struct sockaddr *sa, socklen_t salen,
				const struct sockaddr *src, socklen_t srclen, io_conn_cb cb,
				void *arg)
{
	char abuf[64];
	struct io_conn *c;
	int fd, r;

	if (!sa || salen == 0 || salen > sizeof(struct sockaddr_storage))
		return NULL;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("io: socket: %s", strerror(errno));
		return NULL;
	}
	c = conn_alloc(loop, fd, 1, cb, arg);
	if (!c)
		return NULL;
	if (src && srclen > 0 && bind(fd, src, srclen) < 0) {
		conn_set_err(c, "bind to %s: %s", io_addr_str(src, abuf, sizeof(abuf)),
			     strerror(errno));
		conn_async(c, IO_EV_ERROR);
		return c;
	}
	r = connect(fd, sa, salen);
	if (r == 0) {
		conn_async(c, IO_EV_CONNECTED);
	} else if (errno == EINPROGRESS || errno == EINTR) {
		if (bufferevent_socket_connect(c->bev, NULL, 0) < 0) {
			conn_set_err(c, "cannot start connect");
			conn_async(c, IO_EV_ERROR);
		}
	} else {
		conn_set_err(c, "%s", strerror(errno));
		conn_async(c, IO_EV_ERROR);
	}
	return c;
}

/* Close the socket and free everything; safe from inside the callback. */
void io_conn_free(struct io_conn *c)
{
	if (!c || bmx_guard_dead(&c->guard))
		return;
	if (bmx_guard_kill(&c->guard)) {
		conn_destroy(c);
		return;
	}
	/* Inside one of c's callbacks: stop everything, free on the next iteration. */
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	evtimer_del(c->idle);
	evtimer_del(c->async);
	c->next_dead = c->loop->dead;
	c->loop->dead = c;
	event_active(c->loop->reaper, EV_TIMEOUT, 0);
}

/* Socket output changed while closing: free once everything is sent. */
static void conn_closing_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct io_conn *c = arg;
	(void)buf;

	if (bmx_guard_dead(&c->guard) || info->n_deleted == 0 || io_conn_out_len(c) > 0)
		return;
	bmx_guard_enter(&c->guard);   /* inside libevent: let the reaper free it */
	io_conn_free(c);
	io_conn_leave(c);
}

/* Stop reading, send what is queued, then free (at most IO_FLUSH_TIMEOUT_MS). */
void io_conn_flush_free(struct io_conn *c)
{
	if (!c || bmx_guard_dead(&c->guard) || c->closing)
		return;
	if (c->connecting || io_conn_out_len(c) == 0) {
		io_conn_free(c);
		return;
	}
	c->closing = 1;
	c->close_prev = NULL;
	c->close_next = c->loop->closing;
	if (c->close_next)
		c->close_next->close_prev = c;
	c->loop->closing = c;
	c->cb = NULL;
	bufferevent_disable(c->bev, EV_READ);
	c->flush_ent = evbuffer_add_cb(bufferevent_get_output(c->sock_bev), conn_closing_cb, c);
	if (c->direct && !c->flush_pending)
		bufferevent_enable(c->sock_bev, EV_WRITE);   /* nothing else would send it */
	c->timeout_ms = IO_FLUSH_TIMEOUT_MS;
	conn_idle_arm(c);
}

/* Replace the owner's callback. */
void io_conn_set_cb(struct io_conn *c, io_conn_cb cb, void *arg)
{
	if (c->closing)
		return;
	c->cb = cb;
	c->arg = arg;
}

/* Queue bytes for sending. */
int io_conn_write(struct io_conn *c, const void *buf, size_t len)
{
	int r;

	if (bmx_guard_dead(&c->guard) || c->closing)
		return -1;
	bmx_guard_enter(&c->guard);
	c->wrote = 1;
	r = bufferevent_write(c->bev, buf, len);
	conn_flush_later(c);
	io_conn_leave(c);
	return r == 0 ? 0 : -1;
}

/* Queue formatted text for sending. */
int io_conn_printf(struct io_conn *c, const char *fmt, ...)
{
	struct evbuffer *tmp;
	va_list ap;
	int r;

	if (bmx_guard_dead(&c->guard) || c->closing)
		return -1;
	tmp = evbuffer_new();
	if (!tmp)
		return -1;
	va_start(ap, fmt);
	r = evbuffer_add_vprintf(tmp, fmt, ap);
	va_end(ap);
	if (r >= 0) {
		bmx_guard_enter(&c->guard);
		c->wrote = 1;
		r = bufferevent_write_buffer(c->bev, tmp);
		conn_flush_later(c);
		io_conn_leave(c);
	}
	evbuffer_free(tmp);
	return r < 0 ? -1 : 0;
}

/* Bytes queued but not yet sent (TLS: plaintext plus records not yet written). */
size_t io_conn_out_len(struct io_conn *c)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));

	if (c->sock_bev != c->bev)
		n += evbuffer_get_length(bufferevent_get_output(c->sock_bev));
	return n;
}

/* Bytes of buffered input. */
size_t io_conn_in_len(struct io_conn *c)
{
	if (bmx_guard_dead(&c->guard))
		return 0;
	return evbuffer_get_length(bufferevent_get_input(c->bev));
}

/* Make up to max input bytes contiguous and return them. */
const uint8_t *io_conn_peek(struct io_conn *c, size_t max, size_t *len)
{
	struct evbuffer *in;
	size_t n;
	const uint8_t *p;

	*len = 0;
	if (bmx_guard_dead(&c->guard))
		return NULL;
	in = bufferevent_get_input(c->bev);
	n = evbuffer_get_length(in);
	if (n > max)
		n = max;
	if (n == 0)
		return NULL;
	p = evbuffer_pullup(in, (ev_ssize_t)n);
	if (!p)
		return NULL;
	*len = n;
	return p;
}

/* Remove n parsed bytes from the input. */
void io_conn_consume(struct io_conn *c, size_t n)
{
	if (bmx_guard_dead(&c->guard))
		return;
	evbuffer_drain(bufferevent_get_input(c->bev), n);
}

/* Discard every buffered input byte. */
void io_conn_drop_input(struct io_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	evbuffer_drain(in, evbuffer_get_length(in));
}

/* Stop reporting input (see the top of the file); the idle timer is
 * suspended too. */
void io_conn_pause(struct io_conn *c)
{
	if (bmx_guard_dead(&c->guard) || c->paused)
		return;
	c->paused = 1;
	if (c->direct)
		bufferevent_setwatermark(c->sock_bev, EV_READ, 0, IO_CONN_PAUSED_INPUT_MAX);
	else
		bufferevent_disable(c->bev, EV_READ);
	if (c->idle_armed)
		evtimer_del(c->idle);
}

/* Resume reading; a suspended idle timer restarts with its full period, and
 * input that arrived while paused is reported on the next loop pass. */
void io_conn_resume(struct io_conn *c)
{
	if (bmx_guard_dead(&c->guard) || !c->paused)
		return;
	c->paused = 0;
	if (c->closing)
		return;
	if (c->direct)
		bufferevent_setwatermark(c->sock_bev, EV_READ, 0, IO_CONN_INPUT_MAX);
	if (!c->connecting && !c->eof_pending)
		bufferevent_enable(c->bev, EV_READ);   /* no-op if still enabled */
	if (c->idle_armed)
		conn_idle_arm(c);
	if (c->eof_pending ||
	    (c->direct && !c->connecting && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0))
		conn_async(c, IO_EV_READ);
}

/* Idle timeout: IO_EV_TIMEOUT once after ms without input (0 disables). */
void io_conn_set_timeout(struct io_conn *c, uint64_t ms)
{
	if (bmx_guard_dead(&c->guard) || c->closing)
		return;
	c->timeout_ms = ms;
	if (ms == 0) {
		evtimer_del(c->idle);
		c->idle_armed = 0;
		return;
	}
	if (c->paused) {
		evtimer_del(c->idle);
		c->idle_armed = 1;
		return;
	}
	conn_idle_arm(c);
}

/* Peer address. */
int io_conn_peer(struct io_conn *c, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof(*ss);
	return getpeername(c->fd, (struct sockaddr *)ss, len) == 0 ? 0 : -1;
}

/* Local address. */
int io_conn_local(struct io_conn *c, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof(*ss);
	return getsockname(c->fd, (struct sockaddr *)ss, len) == 0 ? 0 : -1;
}

/* Last error text ("" when none). */
const char *io_conn_error(struct io_conn *c)
{
	return c->err;
}
