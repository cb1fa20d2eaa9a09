/*
 * test_io.c - unit tests for the io layer (src/io): loop, timers, signals,
 * connections, listeners, idle timeouts, pause/resume, STARTTLS, HTTP and
 * address parsing.
 *
 * Everything runs on loopback with ephemeral ports and a temp dir; the TLS
 * test makes a throw-away self-signed certificate with `openssl req`.  Every
 * loop run is bounded by a guard timer so a broken layer fails, not hangs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "io/io.h"

#define GUARD_MS 5000 /* no single loop run in these tests may take longer */

/* ---- helpers ---- */

struct guard {
	struct io_loop *loop;
	int fired;
};

/* Guard timer: stop a loop run that took too long. */
static void guard_cb(void *arg)
{
	struct guard *g = arg;

	g->fired = 1;
	io_loop_break(g->loop);
}

/* Run the loop until it is broken; fail the test if the guard fires. */
static void run_loop(struct io_loop *loop)
{
	struct guard g = { loop, 0 };
	struct io_timer *t = io_timer_new(loop, guard_cb, &g);

	assert_non_null(t);
	io_timer_add(t, GUARD_MS);
	assert_int_equal(io_loop_run(loop), 0);
	io_timer_free(t);
	assert_false(g.fired);
}

/* A listener on 127.0.0.1:0 and its port. */
static struct io_listener *listen_any(struct io_loop *loop, io_accept_cb cb, void *arg,
				      struct sockaddr_storage *ss, socklen_t *len)
{
	struct io_listener *l = io_listener_new(loop, "127.0.0.1:0", cb, arg);

	assert_non_null(l);
	assert_int_equal(io_listener_addr(l, ss, len), 0);
	assert_int_not_equal(io_addr_port((struct sockaddr *)ss), 0);
	return l;
}

/* Append all buffered input of c to buf (NUL-terminated), consuming it. */
static void slurp(struct io_conn *c, char *buf, size_t size)
{
	size_t have = strlen(buf), len;
	const uint8_t *p;

	while ((p = io_conn_peek(c, size - 1 - have, &len)) != NULL && len > 0) {
		memcpy(buf + have, p, len);
		have += len;
		buf[have] = '\0';
		io_conn_consume(c, len);
	}
}

/* Take one complete line (with its LF) from c into line; 1 if one was there. */
static int take_line(struct io_conn *c, char *line, size_t size)
{
	size_t len, n;
	const uint8_t *p = io_conn_peek(c, size - 1, &len);
	const uint8_t *nl;

	if (!p)
		return 0;
	nl = memchr(p, '\n', len);
	if (!nl)
		return 0;
	n = (size_t)(nl - p) + 1;
	memcpy(line, p, n);
	line[n] = '\0';
	io_conn_consume(c, n);
	return 1;
}

/* ---- timers and signals ---- */

struct order {
	struct io_loop *loop;
	int seq[8];
	int n;
};

struct order_timer {
	struct order *o;
	int id;
};

/* Record which timer fired; the last one stops the loop. */
static void order_cb(void *arg)
{
	struct order_timer *ot = arg;

	ot->o->seq[ot->o->n++] = ot->id;
	if (ot->id == 99)
		io_loop_break(ot->o->loop);
}

/* Timers fire in deadline order; a deleted timer never fires. */
static void test_timers_order(void **state)
{
	static const struct { int id; uint64_t ms; } tab[] = {
		{3, 60}, {1, 10}, {2, 30}, {4, 0}, {99, 120}, {5, 90},
	};
	static const int want[] = {4, 1, 2, 3, 5, 99};
	struct order o = { 0 };
	struct order_timer ot[8];
	struct io_timer *t[8];
	struct io_timer *never;
	uint64_t start;
	size_t i;

	o.loop = io_loop_new();
	assert_non_null(o.loop);
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		ot[i].o = &o;
		ot[i].id = tab[i].id;
		t[i] = io_timer_new(o.loop, order_cb, &ot[i]);
		assert_non_null(t[i]);
		assert_false(io_timer_pending(t[i]));
		io_timer_add(t[i], tab[i].ms);
		assert_true(io_timer_pending(t[i]));
	}
	ot[7].o = &o;
	ot[7].id = 77;
	never = io_timer_new(o.loop, order_cb, &ot[7]);
	io_timer_add(never, 20);
	io_timer_del(never);
	assert_false(io_timer_pending(never));
	start = io_now_ms();
	run_loop(o.loop);
	assert_true(io_now_ms() - start >= 110);
	assert_int_equal(o.n, 6);
	for (i = 0; i < 6; i++)
		assert_int_equal(o.seq[i], want[i]);
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		io_timer_free(t[i]);
	io_timer_free(never);
	io_loop_free(o.loop);
}

static int sig_got;

/* SIGUSR1 handler on the loop. */
static void sig_cb(int signum, void *arg)
{
	sig_got = signum;
	io_loop_break(arg);
}

/* Raise SIGUSR1 from a timer. */
static void raise_cb(void *arg)
{
	raise(SIGUSR1);
}

/* io_signal_add delivers the signal on the loop. */
static void test_signal(void **state)
{
	struct io_loop *loop = io_loop_new();
	struct io_timer *t = io_timer_new(loop, raise_cb, NULL);

	sig_got = 0;
	assert_int_equal(io_signal_add(loop, SIGUSR1, sig_cb, loop), 0);
	io_timer_add(t, 10);
	run_loop(loop);
	assert_int_equal(sig_got, SIGUSR1);
	io_timer_free(t);
	io_loop_free(loop);
}

/* ---- line exchange over a listener and a connect ---- */

struct xfer {
	struct io_loop *loop;
	struct io_listener *l;
	struct io_conn *srv, *cli;
	int accepted;
	int srv_lines;
	int cli_connected;
	int cli_eof;
	int srv_drained;
	char cli_in[256];
	char peer[64];
};

/* Echo server: "echo: LINE" for each line, "ciao" and flush-close on "bye". */
static void xfer_srv_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct xfer *x = arg;
	char line[128];

	if (ev == IO_EV_DRAINED) {
		x->srv_drained++;
		return;
	}
	if (ev != IO_EV_READ) {
		io_conn_free(c);
		x->srv = NULL;
		return;
	}
	while (take_line(c, line, sizeof(line))) {
		if (strcmp(line, "bye\n") == 0) {
			io_conn_printf(c, "ciao\n");
			io_conn_flush_free(c);
			x->srv = NULL;
			return;
		}
		x->srv_lines++;
		assert_int_equal(io_conn_printf(c, "echo: %s", line), 0);
	}
}

/* Accept: wrap the socket in a server connection. */
static void xfer_accept_cb(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct xfer *x = arg;

	x->accepted++;
	io_addr_str(sa, x->peer, sizeof(x->peer));
	x->srv = io_conn_new_fd(x->loop, fd, xfer_srv_cb, x);
	assert_non_null(x->srv);
}

/* Client: send two lines, then "bye" after both echoes, free on EOF. */
static void xfer_cli_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct xfer *x = arg;
	struct sockaddr_storage ss;
	socklen_t len;

	switch (ev) {
	case IO_EV_CONNECTED:
		x->cli_connected = 1;
		assert_int_equal(io_conn_local(c, &ss, &len), 0);
		assert_int_equal(io_conn_peer(c, &ss, &len), 0);
		io_conn_write(c, "one\ntwo\n", 8);
		break;
	case IO_EV_READ:
		slurp(c, x->cli_in, sizeof(x->cli_in));
		if (strcmp(x->cli_in, "echo: one\necho: two\n") == 0)
			io_conn_write(c, "bye\n", 4);
		break;
	case IO_EV_EOF:
		x->cli_eof = 1;
		io_conn_free(c);      /* from inside its own callback */
		x->cli = NULL;
		io_loop_break(x->loop);
		break;
	case IO_EV_DRAINED:
		break;
	default:
		fail_msg("client event %d: %s", ev, io_conn_error(c));
	}
}

/* Check one finished exchange and free its loop. */
static void xfer_check(struct xfer *x, const char *peer)
{
	assert_int_equal(x->accepted, 1);
	assert_string_equal(x->peer, peer);
	assert_true(x->cli_connected);
	assert_int_equal(x->srv_lines, 2);
	assert_true(x->srv_drained >= 1);
	assert_string_equal(x->cli_in, "echo: one\necho: two\nciao\n");
	assert_true(x->cli_eof);
	assert_null(x->srv);
	io_listener_free(x->l);
	io_loop_free(x->loop);
}

/* Listener + connect exchange lines both ways; flush-close delivers the last line. */
static void test_conn_exchange(void **state)
{
	static const struct {
		const char *listen;
		const char *src;        /* source address, or NULL */
		const char *peer;       /* what the server sees */
	} tab[] = {
		{"127.0.0.1:0", "127.0.0.9", "127.0.0.9"},
		{"127.0.0.1:0", NULL, "127.0.0.1"},
		{"[::1]:0", NULL, "::1"},
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct xfer x = { 0 };
		struct sockaddr_storage ss, src;
		socklen_t len, srclen = 0;

		x.loop = io_loop_new();
		x.l = io_listener_new(x.loop, tab[i].listen, xfer_accept_cb, &x);
		if (!x.l && strchr(tab[i].listen, '[')) {   /* no IPv6 here */
			io_loop_free(x.loop);
			continue;
		}
		assert_non_null(x.l);
		assert_int_equal(io_listener_addr(x.l, &ss, &len), 0);
		if (tab[i].src)
			assert_int_equal(io_parse_addrport(tab[i].src, 0, &src, &srclen), 0);
		x.cli = io_conn_connect(x.loop, (struct sockaddr *)&ss, len,
					tab[i].src ? (struct sockaddr *)&src : NULL, srclen,
					xfer_cli_cb, &x);
		assert_non_null(x.cli);
		run_loop(x.loop);
		xfer_check(&x, tab[i].peer);
	}
}

/* ---- eager writes under backpressure ---- */

#define BP_TOTAL (8u << 20)     /* more than the kernel buffers on loopback */
#define BP_CHUNK 65536

struct bp {
	struct io_loop *loop;
	struct io_listener *l;
	struct io_conn *srv, *cli;
	struct io_timer *t;
	size_t got;                 /* body bytes the client read, in order */
	int bad;                    /* a byte out of order */
	int drained;                /* IO_EV_DRAINED seen by the server */
	int stuck_out;              /* the server's output was not empty while paused */
	int tail_sent;
	char tail[16];
};

/* Server side: counts IO_EV_DRAINED; the tail goes out after the first one. */
static void bp_srv_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct bp *b = arg;

	if (ev == IO_EV_DRAINED) {
		b->drained++;
		if (!b->tail_sent) {
			b->tail_sent = 1;
			assert_int_equal(io_conn_write(c, "tail\n", 5), 0);
		}
		return;
	}
	if (ev != IO_EV_READ) {
		io_conn_free(c);
		b->srv = NULL;
	}
}

/* Accept and queue BP_TOTAL bytes at once (byte i is i % 251). */
static void bp_accept_cb(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct bp *b = arg;
	uint8_t chunk[BP_CHUNK];
	(void)sa; (void)salen;

	b->srv = io_conn_new_fd(b->loop, fd, bp_srv_cb, b);
	assert_non_null(b->srv);
	for (size_t off = 0; off < BP_TOTAL; off += BP_CHUNK) {
		for (size_t i = 0; i < BP_CHUNK; i++)
			chunk[i] = (uint8_t)((off + i) % 251);
		assert_int_equal(io_conn_write(b->srv, chunk, BP_CHUNK), 0);
	}
	io_timer_add(b->t, 300);
}

/* 300 ms later: the client has not read, so output must still be queued. */
static void bp_timer_cb(void *arg)
{
	struct bp *b = arg;

	b->stuck_out = b->srv && io_conn_out_len(b->srv) > 0 && b->drained == 0;
	io_conn_resume(b->cli);
}

/* Client side: paused at first; then checks every byte, and the tail. */
static void bp_cli_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct bp *b = arg;
	const uint8_t *p;
	size_t len;

	switch (ev) {
	case IO_EV_CONNECTED:
		io_conn_pause(c);
		break;
	case IO_EV_READ:
		while ((p = io_conn_peek(c, BP_CHUNK, &len)) != NULL && len > 0) {
			size_t n = 0;
			for (; n < len && b->got < BP_TOTAL; n++, b->got++)
				if (p[n] != (uint8_t)(b->got % 251))
					b->bad = 1;
			if (n < len) {   /* the tail */
				size_t have = strlen(b->tail), k = len - n;
				if (k > sizeof(b->tail) - 1 - have)
					k = sizeof(b->tail) - 1 - have;
				memcpy(b->tail + have, p + n, k);
				n += k;
			}
			io_conn_consume(c, n);
		}
		if (strcmp(b->tail, "tail\n") == 0)
			io_loop_break(b->loop);
		break;
	case IO_EV_DRAINED:
		break;
	default:
		fail_msg("client event %d: %s", ev, io_conn_error(c));
	}
}

/* A plain connection writes eagerly; what the kernel does not take waits in
 * the output, arrives complete and in order once the peer reads, and the
 * owner gets IO_EV_DRAINED when it is all gone; later writes still go out. */
static void test_direct_backpressure(void **state)
{
	struct bp b = { 0 };
	struct sockaddr_storage ss;
	socklen_t len;
	(void)state;

	b.loop = io_loop_new();
	b.t = io_timer_new(b.loop, bp_timer_cb, &b);
	b.l = listen_any(b.loop, bp_accept_cb, &b, &ss, &len);
	b.cli = io_conn_connect(b.loop, (struct sockaddr *)&ss, len, NULL, 0, bp_cli_cb, &b);
	assert_non_null(b.cli);
	run_loop(b.loop);
	assert_true(b.stuck_out);
	assert_int_equal(b.got, BP_TOTAL);
	assert_false(b.bad);
	assert_true(b.drained >= 1);
	assert_string_equal(b.tail, "tail\n");
	io_conn_free(b.cli);
	if (b.srv)
		io_conn_free(b.srv);
	io_timer_free(b.t);
	io_listener_free(b.l);
	io_loop_free(b.loop);
}

/* ---- connect errors and connect timeout ---- */

struct cres {
	struct io_loop *loop;
	int ev;
	char err[128];
	int count;
};

/* Record the first event and stop. */
static void cres_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct cres *r = arg;

	r->count++;
	r->ev = (int)ev;
	snprintf(r->err, sizeof(r->err), "%s", io_conn_error(c));
	io_conn_free(c);
	io_loop_break(r->loop);
}

/* A free ephemeral port on 127.0.0.1 (bound, then closed). */
static void closed_port(struct sockaddr_storage *ss, socklen_t *len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(io_parse_addrport("127.0.0.1:0", 0, ss, len), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)ss, *len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)ss, len), 0);
	close(fd);
}

/* Connect errors come as IO_EV_ERROR with a readable reason. */
static void test_connect_errors(void **state)
{
	static const struct {
		const char *src;        /* source address, NULL for any */
		const char *want;       /* expected in io_conn_error() */
	} tab[] = {
		{NULL, "refused"},                      /* closed port */
		{"127.0.0.1:0", "refused"},             /* closed port, explicit source */
		{"[::1]:0", "bind to ::1"},             /* v6 source for a v4 socket */
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct cres r = { 0 };
		struct sockaddr_storage ss, src;
		socklen_t len, srclen = 0;

		r.loop = io_loop_new();
		closed_port(&ss, &len);
		if (tab[i].src)
			assert_int_equal(io_parse_addrport(tab[i].src, 0, &src, &srclen), 0);
		assert_non_null(io_conn_connect(r.loop, (struct sockaddr *)&ss, len,
						tab[i].src ? (struct sockaddr *)&src : NULL, srclen,
						cres_cb, &r));
		run_loop(r.loop);
		assert_int_equal(r.count, 1);
		assert_int_equal(r.ev, IO_EV_ERROR);
		if (!strstr(r.err, tab[i].want))
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, r.err, tab[i].want);
		io_loop_free(r.loop);
	}
}

/* A connect that never completes (full accept queue) gives IO_EV_TIMEOUT. */
static void test_connect_timeout(void **state)
{
	struct cres r = { 0 };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int lfd, fill[2];
	struct io_conn *c;

	r.loop = io_loop_new();
	assert_int_equal(io_parse_addrport("127.0.0.1:0", 0, &ss, &len), 0);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
	/* Fill the accept queue; further SYNs are dropped by the kernel. */
	for (int i = 0; i < 2; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&ss, len);
	}
	usleep(20000);
	c = io_conn_connect(r.loop, (struct sockaddr *)&ss, len, NULL, 0, cres_cb, &r);
	assert_non_null(c);
	io_conn_set_timeout(c, 150);
	run_loop(r.loop);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.ev, IO_EV_TIMEOUT);
	for (int i = 0; i < 2; i++)
		close(fill[i]);
	close(lfd);
	io_loop_free(r.loop);
}

/* ---- idle timeout ---- */

struct idle {
	struct io_loop *loop;
	struct io_conn *srv, *cli;
	int timeouts;
	int reads;
	uint64_t start;
	uint64_t first_timeout_ms;
};

/* Server: count timeouts; after the first, make the client talk, then re-arm. */
static void idle_srv_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct idle *d = arg;
	char line[64];

	if (ev == IO_EV_TIMEOUT) {
		d->timeouts++;
		if (d->timeouts == 1) {
			d->first_timeout_ms = io_now_ms() - d->start;
			io_conn_write(d->cli, "ping\n", 5);
		} else {
			io_loop_break(d->loop);
		}
	} else if (ev == IO_EV_READ) {
		while (take_line(c, line, sizeof(line))) {
			assert_string_equal(line, "ping\n");
			d->reads++;
			io_conn_set_timeout(c, 50);
		}
	}
}

/* Accept for the idle test: 80 ms idle timeout from the start. */
static void idle_accept_cb(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct idle *d = arg;

	d->srv = io_conn_new_fd(d->loop, fd, idle_srv_cb, d);
	d->start = io_now_ms();
	io_conn_set_timeout(d->srv, 80);
}

/* Client side of the idle test: silent. */
static void idle_cli_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	assert_true(ev == IO_EV_CONNECTED || ev == IO_EV_DRAINED);
}

/* The idle timeout fires once, reading still works, and re-arming works. */
static void test_idle_timeout(void **state)
{
	struct idle d = { 0 };
	struct sockaddr_storage ss;
	socklen_t len;
	struct io_listener *l;

	d.loop = io_loop_new();
	l = listen_any(d.loop, idle_accept_cb, &d, &ss, &len);
	d.cli = io_conn_connect(d.loop, (struct sockaddr *)&ss, len, NULL, 0, idle_cli_cb, &d);
	run_loop(d.loop);
	assert_int_equal(d.timeouts, 2);
	assert_int_equal(d.reads, 1);
	assert_true(d.first_timeout_ms >= 75);
	io_conn_free(d.srv);
	io_conn_free(d.cli);
	io_listener_free(l);
	io_loop_free(d.loop);
}

#define FLOOD_LEN (8u << 20) /* bytes a flooding peer sends without a newline */

/* Send FLOOD_LEN bytes with no newline from c. */
static void flood(struct io_conn *c)
{
	static char chunk[65536];

	memset(chunk, 'x', sizeof(chunk));
	for (size_t i = 0; i < FLOOD_LEN / sizeof(chunk); i++)
		assert_int_equal(io_conn_write(c, chunk, sizeof(chunk)), 0);
}

/* ---- pause / resume ---- */

struct pr {
	struct io_loop *loop;
	struct io_listener *l;
	struct io_conn *srv, *cli;
	struct io_timer *t;
	int reads;
	int timeouts;
	int accepted;
	size_t in_at_check;
};

/* Server: pause after the first line; the client then sends a second. */
static void pr_srv_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct pr *p = arg;
	char line[64];

	if (ev == IO_EV_TIMEOUT) {
		p->timeouts++;
		return;
	}
	if (ev != IO_EV_READ)
		return;
	while (take_line(c, line, sizeof(line))) {
		p->reads++;
		if (p->reads == 1) {
			assert_string_equal(line, "a\n");
			io_conn_set_timeout(c, 40);
			io_conn_pause(c);
			io_conn_write(p->cli, "b\n", 2);
			io_timer_add(p->t, 150);
			return;
		}
		assert_string_equal(line, "b\n");
		io_conn_set_timeout(c, 0);
		io_loop_break(p->loop);
	}
}

/* While paused nothing was reported (the line is buffered, not handed
 * over) and the idle timer did not run; resume. */
static void pr_check_cb(void *arg)
{
	struct pr *p = arg;

	assert_int_equal(p->reads, 1);
	assert_int_equal(p->timeouts, 0);
	p->in_at_check = io_conn_in_len(p->srv);
	io_conn_resume(p->srv);
}

/* Accept for the pause test. */
static void pr_accept_cb(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct pr *p = arg;

	p->accepted++;
	p->srv = io_conn_new_fd(p->loop, fd, pr_srv_cb, p);
}

/* Client of the pause test: first line on connect. */
static void pr_cli_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	if (ev == IO_EV_CONNECTED)
		io_conn_write(c, "a\n", 2);
}

/* io_conn_pause stops reporting input (and the idle timer); resume delivers
 * what came meanwhile, without new input from the peer. */
static void test_conn_pause_resume(void **state)
{
	struct pr p = { 0 };
	struct sockaddr_storage ss;
	socklen_t len;

	p.loop = io_loop_new();
	p.t = io_timer_new(p.loop, pr_check_cb, &p);
	p.l = listen_any(p.loop, pr_accept_cb, &p, &ss, &len);
	p.cli = io_conn_connect(p.loop, (struct sockaddr *)&ss, len, NULL, 0, pr_cli_cb, &p);
	run_loop(p.loop);
	assert_int_equal(p.reads, 2);
	assert_int_equal(p.in_at_check, 2);   /* "b\n" waited in our buffer */
	io_conn_free(p.srv);
	io_conn_free(p.cli);
	io_timer_free(p.t);
	io_listener_free(p.l);
	io_loop_free(p.loop);
}

/* ---- paused input is bounded ---- */

#define PB_SEND (64 * 1024)

struct pb {
	struct io_loop *loop;
	struct io_listener *l;
	struct io_conn *srv, *cli;
	struct io_timer *t;
	size_t got;
	size_t in_at_check;
	int reads_while_paused;
	int paused;
};

/* Server: paused from the start; after the check, count every byte. */
static void pb_srv_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct pb *p = arg;
	size_t n;

	if (ev != IO_EV_READ)
		return;
	if (p->paused)
		p->reads_while_paused++;
	while (io_conn_peek(c, 4096, &n) != NULL && n > 0) {
		p->got += n;
		io_conn_consume(c, n);
	}
	if (p->got == PB_SEND)
		io_loop_break(p->loop);
}

/* The check: at most IO_CONN_PAUSED_INPUT_MAX bytes were read; resume. */
static void pb_check_cb(void *arg)
{
	struct pb *p = arg;

	p->in_at_check = io_conn_in_len(p->srv);
	p->paused = 0;
	io_conn_resume(p->srv);
}

/* Accept: pause at once, check in 200 ms. */
static void pb_accept_cb(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct pb *p = arg;
	(void)sa; (void)salen;

	p->srv = io_conn_new_fd(p->loop, fd, pb_srv_cb, p);
	p->paused = 1;
	io_conn_pause(p->srv);
	io_timer_add(p->t, 200);
}

/* Client: send PB_SEND bytes once connected. */
static void pb_cli_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	static char buf[PB_SEND];
	(void)arg;

	if (ev == IO_EV_CONNECTED) {
		memset(buf, 'x', sizeof(buf));
		io_conn_write(c, buf, sizeof(buf));
	}
}

/* A paused connection reads at most IO_CONN_PAUSED_INPUT_MAX bytes; the
 * rest stays with the kernel until the resume, and nothing is lost. */
static void test_conn_pause_bounded(void **state)
{
	struct pb p = { 0 };
	struct sockaddr_storage ss;
	socklen_t len;
	(void)state;

	p.loop = io_loop_new();
	p.t = io_timer_new(p.loop, pb_check_cb, &p);
	p.l = listen_any(p.loop, pb_accept_cb, &p, &ss, &len);
	p.cli = io_conn_connect(p.loop, (struct sockaddr *)&ss, len, NULL, 0, pb_cli_cb, &p);
	run_loop(p.loop);
	assert_int_equal(p.reads_while_paused, 0);
	assert_true(p.in_at_check > 0);
	assert_true(p.in_at_check <= IO_CONN_PAUSED_INPUT_MAX);
	assert_int_equal(p.got, PB_SEND);
	io_conn_free(p.srv);
	io_conn_free(p.cli);
	io_timer_free(p.t);
	io_listener_free(p.l);
	io_loop_free(p.loop);
}

/* Listener check while paused: nothing accepted yet; resume. */
static void lp_check_cb(void *arg)
{
	struct pr *p = arg;

	assert_int_equal(p->accepted, 0);
	io_listener_resume(p->l);
}

/* Accept for the listener pause test: stop at once. */
static void lp_accept_cb(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct pr *p = arg;

	p->accepted++;
	close(fd);
	io_loop_break(p->loop);
}

/* Cap check: the server never consumed; record both sides. */
static void cap_check_cb(void *arg)
{
	struct pr *p = arg;

	p->in_at_check = io_conn_in_len(p->srv);
	p->reads = (int)(io_conn_out_len(p->cli) > FLOOD_LEN / 4);
	io_loop_break(p->loop);
}

/* Server of the cap test: never consumes. */
static void cap_srv_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	assert_true(ev == IO_EV_READ);
}

/* Accept for the cap test. */
static void cap_accept_cb(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct pr *p = arg;

	p->srv = io_conn_new_fd(p->loop, fd, cap_srv_cb, p);
}

/* Client of the cap test: flood on connect. */
static void cap_cli_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	if (ev == IO_EV_CONNECTED)
		flood(c);
}

/* A peer that never stops sending fills IO_CONN_INPUT_MAX and no more. */
static void test_input_cap(void **state)
{
	struct pr p = { 0 };
	struct sockaddr_storage ss;
	socklen_t len;
	size_t n;
	const uint8_t *data;

	p.loop = io_loop_new();
	p.t = io_timer_new(p.loop, cap_check_cb, &p);
	p.l = listen_any(p.loop, cap_accept_cb, &p, &ss, &len);
	p.cli = io_conn_connect(p.loop, (struct sockaddr *)&ss, len, NULL, 0, cap_cli_cb, &p);
	io_timer_add(p.t, 300);
	run_loop(p.loop);
	assert_int_equal(p.in_at_check, IO_CONN_INPUT_MAX);
	assert_int_equal(p.reads, 1);
	data = io_conn_peek(p.srv, 100, &n);
	assert_non_null(data);
	assert_int_equal(n, 100);
	assert_int_equal(data[99], 'x');
	data = io_conn_peek(p.srv, SIZE_MAX, &n);
	assert_int_equal(n, IO_CONN_INPUT_MAX);
	io_conn_free(p.srv);
	io_conn_free(p.cli);
	io_timer_free(p.t);
	io_listener_free(p.l);
	io_loop_free(p.loop);
}

/* A paused listener accepts nothing until resumed. */
static void test_listener_pause_resume(void **state)
{
	struct pr p = { 0 };
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	p.loop = io_loop_new();
	p.t = io_timer_new(p.loop, lp_check_cb, &p);
	p.l = listen_any(p.loop, lp_accept_cb, &p, &ss, &len);
	io_listener_pause(p.l);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0); /* kernel backlog */
	io_timer_add(p.t, 100);
	run_loop(p.loop);
	assert_int_equal(p.accepted, 1);
	close(fd);
	io_timer_free(p.t);
	io_listener_free(p.l);
	io_loop_free(p.loop);
}

/* A UNIX listener replaces a stale socket and gets the requested mode. */
static void test_listener_unix(void **state)
{
	struct pr p = { 0 };
	char dir[] = "/tmp/test_io_XXXXXX";
	char path[96];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	p.loop = io_loop_new();
	/* A stale socket from a previous run. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	p.l = io_listener_new_unix(p.loop, path, 0600, lp_accept_cb, &p);
	assert_non_null(p.l);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	run_loop(p.loop);
	assert_int_equal(p.accepted, 1);
	close(fd);
	io_listener_free(p.l);
	assert_int_not_equal(stat(path, &st), 0);
	/* A regular file in the way is not removed. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_null(io_listener_new_unix(p.loop, path, 0600, lp_accept_cb, &p));
	unlink(path);
	rmdir(dir);
	io_loop_free(p.loop);
}

/* ---- STARTTLS ---- */

struct tlst {
	struct io_loop *loop;
	struct io_tls *stls, *ctls;
	struct io_conn *srv, *cli;
	int srv_tls, cli_tls;
	size_t srv_dropped, cli_dropped;
	char srv_first_tls_line[128];
	char cli_reply[128];
	struct io_tls_info sinfo, cinfo;
	struct io_timer *check;
	size_t srv_in, cli_out;
	int discard;
	size_t discarded;
	int cli_bye, cli_eof;
};


/* SMTP-like server: STARTTLS -> "220 go" (+ a forged line), then TLS. */
static void tls_srv_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct tlst *t = arg;
	char line[128];

	switch (ev) {
	case IO_EV_READ:
		if (t->discard) {
			t->discarded += io_conn_in_len(c);
			io_conn_drop_input(c);
			if (t->discarded == FLOOD_LEN) {
				io_conn_write(c, "221 bye\r\n", 9);
				io_conn_flush_free(c);
				t->srv = NULL;
			}
			return;
		}
		while (take_line(c, line, sizeof(line))) {
			if (!t->srv_tls && strcmp(line, "STARTTLS\r\n") == 0) {
				/* The forged reply after 220 must be dropped by the client. */
				io_conn_write(c, "220 go\r\n250 FORGED\r\n", 20);
				t->srv_dropped = io_conn_in_len(c);
				assert_int_equal(io_conn_starttls_server(c, t->stls), 0);
				assert_int_equal(io_conn_in_len(c), 0);
				assert_int_equal(io_conn_starttls_server(c, t->stls), -1);
				return;
			}
			if (!t->srv_tls)
				fail_msg("plaintext line after STARTTLS: %s", line);
			snprintf(t->srv_first_tls_line, sizeof(t->srv_first_tls_line), "%s", line);
			io_conn_write(c, "250 ok\r\n", 8);
		}
		break;
	case IO_EV_TLS_READY:
		t->srv_tls = 1;
		assert_int_equal(io_conn_tls_info(c, &t->sinfo), 0);
		break;
	case IO_EV_DRAINED:
		break;
	default:
		fail_msg("server event %d: %s", ev, io_conn_error(c));
	}
}

/* Accept for the TLS test. */
static void tls_accept_cb(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct tlst *t = arg;

	t->srv = io_conn_new_fd(t->loop, fd, tls_srv_cb, t);
}

/* Client: STARTTLS with an injected command, then EHLO over TLS. */
static void tls_cli_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct tlst *t = arg;
	char line[128];

	switch (ev) {
	case IO_EV_CONNECTED:
		/* "RSET" rides in the same segment: the server must drop it. */
		io_conn_write(c, "STARTTLS\r\nRSET\r\n", 16);
		break;
	case IO_EV_READ:
		while (take_line(c, line, sizeof(line))) {
			if (!t->cli_tls) {
				assert_string_equal(line, "220 go\r\n");
				t->cli_dropped = io_conn_in_len(c);
				assert_int_equal(io_conn_starttls_client(c, t->ctls,
									 "mx2.example.test"), 0);
				assert_int_equal(io_conn_in_len(c), 0);
				return;
			}
			if (t->cli_reply[0]) {
				assert_string_equal(line, "221 bye\r\n");
				t->cli_bye = 1;
				continue;
			}
			snprintf(t->cli_reply, sizeof(t->cli_reply), "%s", line);
			flood(c);
			io_timer_add(t->check, 300);
		}
		break;
	case IO_EV_EOF:
		t->cli_eof = 1;
		io_conn_free(c);
		t->cli = NULL;
		io_loop_break(t->loop);
		break;
	case IO_EV_TLS_READY:
		t->cli_tls = 1;
		assert_int_equal(io_conn_tls_info(c, &t->cinfo), 0);
		io_conn_write(c, "EHLO client.test\r\n", 18);
		break;
	case IO_EV_DRAINED:
		break;
	default:
		fail_msg("client event %d: %s", ev, io_conn_error(c));
	}
}

/* After the flood: record what is buffered, then let the server read it all. */
static void tls_check_cb(void *arg)
{
	struct tlst *t = arg;

	t->srv_in = io_conn_in_len(t->srv);
	t->cli_out = io_conn_out_len(t->cli);
	t->discard = 1;
	t->discarded = io_conn_in_len(t->srv);
	io_conn_drop_input(t->srv);
}

/* A STARTTLS handshake over loopback with a fresh self-signed certificate. */
static void test_starttls(void **state)
{
	char dir[] = "/tmp/test_io_tls_XXXXXX";
	char cmd[1024], cert[128], key[128];
	struct tlst t = { 0 };
	struct sockaddr_storage ss;
	socklen_t len;
	struct io_listener *l;

	assert_non_null(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 "
		 "-subj /CN=mx2.example.test -addext subjectAltName=DNS:mx2.example.test "
		 ">/dev/null 2>&1", key, cert);
	assert_int_equal(system(cmd), 0);

	assert_null(io_tls_server_new(key, key));        /* not a certificate */
	assert_null(io_tls_server_new(cert, "/nonexistent/key.pem"));
	t.stls = io_tls_server_new(cert, key);
	assert_non_null(t.stls);
	t.ctls = io_tls_client_new();
	assert_non_null(t.ctls);
	t.loop = io_loop_new();
	t.check = io_timer_new(t.loop, tls_check_cb, &t);
	l = listen_any(t.loop, tls_accept_cb, &t, &ss, &len);
	t.cli = io_conn_connect(t.loop, (struct sockaddr *)&ss, len, NULL, 0, tls_cli_cb, &t);
	run_loop(t.loop);

	assert_true(t.srv_tls);
	assert_true(t.cli_tls);
	assert_int_equal(t.srv_dropped, strlen("RSET\r\n"));
	assert_int_equal(t.cli_dropped, strlen("250 FORGED\r\n"));
	assert_string_equal(t.srv_first_tls_line, "EHLO client.test\r\n");
	assert_string_equal(t.cli_reply, "250 ok\r\n");

	assert_true(t.sinfo.active);
	assert_true(strcmp(t.sinfo.version, "TLSv1.3") == 0 ||
		    strcmp(t.sinfo.version, "TLSv1.2") == 0);
	assert_true(t.sinfo.cipher[0] != '\0');
	assert_true(t.cinfo.active);
	assert_string_equal(t.cinfo.version, t.sinfo.version);
	assert_string_equal(t.cinfo.cipher, t.sinfo.cipher);
	assert_true(t.cinfo.bits >= 128);
	assert_true(t.cinfo.have_cert);
	assert_int_equal(t.cinfo.verified, 0);            /* self-signed */
	assert_true(t.cinfo.verify_error[0] != '\0');
	assert_int_equal(t.cinfo.name_match, 1);
	assert_string_equal(t.cinfo.subject_cn, "mx2.example.test");
	assert_string_equal(t.cinfo.issuer_cn, "mx2.example.test");
	assert_in_range(t.cinfo.days_left, 0, 2);
	/* The flood: input capped (TLS may overshoot by one record), the sender
	 * sees the backpressure, and reading resumes once the input is drained. */
	assert_in_range(t.srv_in, IO_CONN_INPUT_MAX - 16384, IO_CONN_INPUT_MAX + 16384 + 512);
	assert_true(t.cli_out > FLOOD_LEN / 4);
	assert_int_equal(t.discarded, FLOOD_LEN);
	assert_true(t.cli_bye);                            /* flush-free over TLS */
	assert_true(t.cli_eof);
	io_timer_free(t.check);

	assert_null(t.srv);
	assert_null(t.cli);
	io_listener_free(l);
	io_tls_free(t.stls);
	io_tls_free(t.ctls);
	io_loop_free(t.loop);
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

/* ---- HTTP ---- */

struct httpt {
	struct io_loop *loop;
	char path[128];
	char resp[4096];
	size_t rlen;
	int calls;
};

/* Status page callback. */
static void http_cb(struct io_http_req *req, const char *path, void *arg)
{
	struct httpt *h = arg;

	h->calls++;
	snprintf(h->path, sizeof(h->path), "%s", path);
	io_http_reply(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

/* Raw client socket readable: collect the response until EOF. */
static void http_watch_cb(int fd, void *arg)
{
	struct httpt *h = arg;
	ssize_t n = read(fd, h->resp + h->rlen, sizeof(h->resp) - 1 - h->rlen);

	if (n > 0) {
		h->rlen += (size_t)n;
		h->resp[h->rlen] = '\0';
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		io_loop_break(h->loop);
	}
}

/* Send one raw request to the server and return the whole response. */
static void http_raw(struct httpt *h, struct io_http *srv, const char *req)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct io_watch *w;
	int fd;

	h->rlen = 0;
	h->resp[0] = '\0';
	assert_int_equal(io_http_addr(srv, &ss, &len), 0);
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	w = io_watch_new(h->loop, fd, http_watch_cb, h);
	assert_non_null(w);
	run_loop(h->loop);
	io_watch_free(w);
	close(fd);
}

/* io_http answers GET with the safety headers and refuses POST with 405. */
static void test_http(void **state)
{
	struct httpt h = { 0 };
	struct io_http *srv;

	h.loop = io_loop_new();
	srv = io_http_new(h.loop, "127.0.0.1:0", http_cb, &h);
	assert_non_null(srv);
	assert_null(io_http_new(h.loop, "localhost:80", http_cb, &h));

	http_raw(&h, srv, "GET /status?verbose=1 HTTP/1.1\r\nHost: x\r\n"
		 "Connection: close\r\n\r\n");
	assert_int_equal(h.calls, 1);
	assert_string_equal(h.path, "/status");
	assert_non_null(strstr(h.resp, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(h.resp, "Content-Type: text/plain; charset=utf-8\r\n"));
	assert_non_null(strstr(h.resp, "Cache-Control: no-store\r\n"));
	assert_non_null(strstr(h.resp, "X-Content-Type-Options: nosniff\r\n"));
	assert_non_null(strstr(h.resp, "\r\n\r\nok\n"));

	http_raw(&h, srv, "POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
		 "Connection: close\r\n\r\nhi");
	assert_int_equal(h.calls, 1);
	assert_non_null(strstr(h.resp, "HTTP/1.1 405 "));
	assert_non_null(strstr(h.resp, "Allow: GET\r\n"));

	io_http_free(srv);
	io_loop_free(h.loop);
}

/* ---- addresses ---- */

/* io_parse_addrport accepts numeric forms and rejects everything else. */
static void test_parse_addrport(void **state)
{
	static const struct {
		const char *in;
		int defport;
		int ok;
		int family;
		const char *addr;
		int port;
	} tab[] = {
		{"127.0.0.1:25", -1, 0, AF_INET, "127.0.0.1", 25},
		{"192.0.2.10", 25, 0, AF_INET, "192.0.2.10", 25},
		{"[::1]:2525", -1, 0, AF_INET6, "::1", 2525},
		{"[2001:db8::1]", 587, 0, AF_INET6, "2001:db8::1", 587},
		{"::1", 25, 0, AF_INET6, "::1", 25},
		{"*:25", -1, 0, AF_INET, "0.0.0.0", 25},
		{"*", 8080, 0, AF_INET, "0.0.0.0", 8080},
		{"0.0.0.0:0", -1, 0, AF_INET, "0.0.0.0", 0},
		{"127.0.0.1:65535", -1, 0, AF_INET, "127.0.0.1", 65535},
		{"127.0.0.1", -1, -1, 0, NULL, 0},          /* port required */
		{"127.0.0.1:65536", -1, -1, 0, NULL, 0},
		{"127.0.0.1:", -1, -1, 0, NULL, 0},
		{"127.0.0.1:2x", -1, -1, 0, NULL, 0},
		{"127.0.0.1:-1", -1, -1, 0, NULL, 0},
		{"127.0.0.1:+25", -1, -1, 0, NULL, 0},
		{"127.0.0.1:000025", -1, -1, 0, NULL, 0},
		{":25", -1, -1, 0, NULL, 0},
		{"", 25, -1, 0, NULL, 0},
		{"localhost:25", -1, -1, 0, NULL, 0},       /* no name resolution */
		{"mx.example.test", 25, -1, 0, NULL, 0},
		{"256.0.0.1:25", -1, -1, 0, NULL, 0},
		{"[::1]", -1, -1, 0, NULL, 0},
		{"[::1]25", -1, -1, 0, NULL, 0},
		{"[::1", 25, -1, 0, NULL, 0},
		{"[]:25", -1, -1, 0, NULL, 0},
		{"[127.0.0.1]:25", -1, -1, 0, NULL, 0},
		{"::1:25:", -1, -1, 0, NULL, 0},
		{"1.2.3.4:25:26", -1, -1, 0, NULL, 0},
		{"*:x", -1, -1, 0, NULL, 0},
		{"**:25", -1, -1, 0, NULL, 0},
	};
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[64], longstr[IO_ADDRPORT_MAX + 8];

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		int r = io_parse_addrport(tab[i].in, tab[i].defport, &ss, &len);
		if (r != tab[i].ok)
			fail_msg("case %zu \"%s\": got %d", i, tab[i].in, r);
		if (r < 0)
			continue;
		assert_int_equal(ss.ss_family, tab[i].family);
		assert_int_equal(len, tab[i].family == AF_INET ? sizeof(struct sockaddr_in)
							       : sizeof(struct sockaddr_in6));
		assert_string_equal(io_addr_str((struct sockaddr *)&ss, buf, sizeof(buf)),
				    tab[i].addr);
		assert_int_equal(io_addr_port((struct sockaddr *)&ss), tab[i].port);
	}
	assert_int_equal(io_parse_addrport(NULL, 25, &ss, &len), -1);
	memset(longstr, '1', sizeof(longstr) - 1);
	longstr[sizeof(longstr) - 1] = '\0';
	assert_int_equal(io_parse_addrport(longstr, 25, &ss, &len), -1);
	/* A too-small output buffer never overflows. */
	assert_int_equal(io_parse_addrport("[2001:db8::1]:25", -1, &ss, &len), 0);
	io_addr_str((struct sockaddr *)&ss, buf, 4);
	assert_true(strlen(buf) < 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_order),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_conn_exchange),
		cmocka_unit_test(test_direct_backpressure),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_conn_pause_resume),
		cmocka_unit_test(test_conn_pause_bounded),
		cmocka_unit_test(test_input_cap),
		cmocka_unit_test(test_listener_pause_resume),
		cmocka_unit_test(test_listener_unix),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_parse_addrport),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
