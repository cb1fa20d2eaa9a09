/*
 * test_check_client.c - the SMTP client session (src/smtp/client.c) against
 * a scripted in-process server on 127.0.0.1.
 *
 * Each case is a script: the banner, then (expected command prefix, reply)
 * steps; special replies close the connection, hang, send a huge reply or a
 * reply that never ends.  The server records every byte it receives and the
 * unstuffed DATA bodies.  The cases cover pipelining, DATA from a buffer and
 * from an fd (dot-stuffing, final CRLF, a body larger than the socket
 * buffers), HELO fallback, refused and rejected connections, the banner
 * timeout, over-long and endless replies, 421 mid-session, EOF after QUIT
 * and smtp_client_free() from inside a callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "io/io.h"
#include "smtp/client.h"

#define SRV_GOT_MAX   (4 * 1024 * 1024)
#define R_CLOSE   "!close"
#define R_HANG    "!hang"
#define R_BIG     "!big"        /* 1 MB of continuation lines */
#define R_LONG    "!long"       /* one endless line */
#define R_TRICKLE "!trickle"    /* "250-x" every 2 ms, forever */

struct step {
	const char *expect;     /* prefix of the command line */
	const char *reply;      /* reply (CRLF added per line, '\n' separates lines) or R_* */
};

struct srv {
	struct io_loop *loop;
	struct io_listener *l;
	struct io_conn *c;
	struct io_timer *trickle;
	const char *banner;     /* NULL: never greet */
	const struct step *steps;
	size_t nsteps, pos;
	int data_mode;
	char *got;              /* every command line received, CRLF kept */
	size_t gotlen;
	char *body;             /* the last DATA body, still dot-stuffed, with ".\r\n" */
	size_t bodylen;
	int bad_step;           /* a command did not match its step */
	int max_burst;          /* most command lines received in one read */
};

struct cli {
	struct smtp_client *cl;
	int ready, done, error;
	enum smtp_client_error err;
	int codes[32];
	int ncodes;
	int nulls;
	int free_in_ready;
};

static struct io_loop *g_loop;

/* Send a reply (lines separated by '\n') with CRLF line ends. */
static void srv_reply(struct srv *s, const char *r)
{
	char line[1200];
	const char *p = r;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		snprintf(line, sizeof(line), "%.*s\r\n", (int)n, p);
		io_conn_write(s->c, line, strlen(line));
		p += n + (nl ? 1 : 0);
	}
}

/* Trickle timer: one more continuation line. */
static void srv_trickle_cb(void *arg)
{
	struct srv *s = arg;

	if (!s->c)
		return;
	io_conn_write(s->c, "250-x\r\n", 7);
	io_timer_add(s->trickle, 2);
}

/* Perform the next step's reply. */
static void srv_step(struct srv *s, const char *line)
{
	if (s->pos >= s->nsteps) {
		s->bad_step = 1;
		return;
	}
	const struct step *st = &s->steps[s->pos++];
	if (strncasecmp(line, st->expect, strlen(st->expect)) != 0) {
		print_message("server: got \"%s\", expected \"%s\"\n", line, st->expect);
		s->bad_step = 1;
	}
	if (strcmp(st->reply, R_CLOSE) == 0) {
		io_conn_free(s->c);
		s->c = NULL;
	} else if (strcmp(st->reply, R_HANG) == 0) {
		/* nothing */
	} else if (strcmp(st->reply, R_BIG) == 0) {
		char l[1002];
		memset(l, 'x', sizeof(l));
		memcpy(l, "250-", 4);
		l[1000] = '\r';
		l[1001] = '\n';
		for (int i = 0; i < 1024; i++)
			io_conn_write(s->c, l, sizeof(l));
	} else if (strcmp(st->reply, R_LONG) == 0) {
		static char l[300000];
		memset(l, 'y', sizeof(l));
		memcpy(l, "250 ", 4);
		io_conn_write(s->c, l, sizeof(l));
	} else if (strcmp(st->reply, R_TRICKLE) == 0) {
		s->trickle = io_timer_new(s->loop, srv_trickle_cb, s);
		io_timer_add(s->trickle, 0);
	} else {
		srv_reply(s, st->reply);
		if (strncmp(st->reply, "354", 3) == 0) {
			s->data_mode = 1;
			s->bodylen = 0;
		}
	}
}

/* Server connection events: split input into lines or collect the DATA body. */
static void srv_conn_cb(struct io_conn *c, enum io_event ev, void *arg)
{
	struct srv *s = arg;
	size_t len;
	int burst = 0;

	if (ev != IO_EV_READ) {
		if (ev == IO_EV_EOF || ev == IO_EV_ERROR) {
			io_conn_free(c);
			s->c = NULL;
		}
		return;
	}
	while (s->c && io_conn_in_len(c) > 0) {
		const uint8_t *p = io_conn_peek(c, io_conn_in_len(c), &len);
		if (s->data_mode) {
			size_t n = len;
			if (s->bodylen + n > SRV_GOT_MAX)
				n = SRV_GOT_MAX - s->bodylen;
			/* stop right after the terminator */
			for (size_t i = 0; i < n; i++) {
				s->body[s->bodylen++] = (char)p[i];
				if ((s->bodylen >= 5 &&
				     memcmp(s->body + s->bodylen - 5, "\r\n.\r\n", 5) == 0) ||
				    (s->bodylen == 3 && memcmp(s->body, ".\r\n", 3) == 0)) {
					io_conn_consume(c, i + 1);
					s->data_mode = 0;
					srv_step(s, "");
					goto next;
				}
			}
			io_conn_consume(c, n);
			continue;
		}
		const uint8_t *nl = memchr(p, '\n', len);
		if (!nl)
			return;
		size_t n = (size_t)(nl - p) + 1;
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)(n > 2 ? n - 2 : 0), (const char *)p);
		if (s->gotlen + n < SRV_GOT_MAX) {
			memcpy(s->got + s->gotlen, p, n);
			s->gotlen += n;
			s->got[s->gotlen] = '\0';
		}
		io_conn_consume(c, n);
		burst++;
		if (burst > s->max_burst)
			s->max_burst = burst;
		srv_step(s, line);
next:
		;
	}
}

/* Accept one connection and greet. */
static void srv_accept_cb(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct srv *s = arg;
	(void)sa;
	(void)salen;
	s->c = io_conn_new_fd(s->loop, fd, srv_conn_cb, s);
	if (s->c && s->banner)
		srv_reply(s, s->banner);
}

/* Start a scripted server on 127.0.0.1; fills sa with its address. */
static void srv_start(struct srv *s, const char *banner, const struct step *steps, size_t n,
		      struct sockaddr_storage *sa, socklen_t *salen)
{
	memset(s, 0, sizeof(*s));
	s->loop = g_loop;
	s->banner = banner;
	s->steps = steps;
	s->nsteps = n;
	s->got = calloc(1, SRV_GOT_MAX + 1);
	s->body = calloc(1, SRV_GOT_MAX + 1);
	s->l = io_listener_new(g_loop, "127.0.0.1:0", srv_accept_cb, s);
	assert_non_null(s->l);
	assert_int_equal(io_listener_addr(s->l, sa, salen), 0);
}

/* Stop the server. */
static void srv_stop(struct srv *s)
{
	if (s->trickle)
		io_timer_free(s->trickle);
	if (s->c)
		io_conn_free(s->c);
	io_listener_free(s->l);
	free(s->got);
	free(s->body);
}

/* Client events: record and stop the loop at the end. */
static void cli_event(struct smtp_client *cl, enum smtp_client_event ev, void *arg)
{
	struct cli *k = arg;

	if (ev == SMTP_CLIENT_EV_READY) {
		k->ready = 1;
		if (k->free_in_ready) {
			smtp_client_free(cl);
			k->cl = NULL;
			io_loop_break(g_loop);
		}
		return;
	}
	if (ev == SMTP_CLIENT_EV_DONE)
		k->done = 1;
	else {
		k->error = 1;
		k->err = smtp_client_info(cl)->err;
	}
	io_loop_break(g_loop);
}

/* Record a reply code (or a NULL reply). */
static void cli_reply(struct smtp_client *cl, const struct smtp_reply *r, void *arg)
{
	struct cli *k = arg;
	(void)cl;
	if (!r)
		k->nulls++;
	else if (k->ncodes < 32)
		k->codes[k->ncodes++] = r->code;
}

/* Safety net: a test must never hang. */
static void guard_cb(void *arg)
{
	int *fired = arg;
	*fired = 1;
	io_loop_break(g_loop);
}

/* Run the loop until the client ends (or 5 s pass). */
static void run(void)
{
	int fired = 0;
	struct io_timer *t = io_timer_new(g_loop, guard_cb, &fired);
	io_timer_add(t, 5000);
	io_loop_run(g_loop);
	io_timer_free(t);
	assert_false(fired);
}

/* Options with short deadlines. */
static struct smtp_client_opts opts(uint64_t ms)
{
	struct smtp_client_opts o;
	memset(&o, 0, sizeof(o));
	o.helo_name = "client.test";
	smtp_client_timeouts_all(&o.timeouts, ms);
	return o;
}

static int setup(void **state)
{
	(void)state;
	g_loop = io_loop_new();
	return g_loop ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	io_loop_free(g_loop);
	return 0;
}

/* Pipelined transaction: commands in one burst, replies matched in order,
 * the body dot-stuffed and given a final CRLF. */
static void test_pipelined(void **state)
{
	static const struct step steps[] = {
		{ "EHLO client.test", "250-srv.test\n250-PIPELINING\n250 SIZE 1000" },
		{ "MAIL FROM:<s@c.test> SIZE=10", "250 2.1.0 ok" },
		{ "RCPT TO:<a@d.test>", "250 2.1.5 ok" },
		{ "RCPT TO:<b@d.test>", "550 5.1.1 no" },
		{ "DATA", "354 go" },
		{ "", "250 2.0.0 queued" },
		{ "QUIT", "221 bye" },
	};
	static const char body[] = "a\r\n.b\r\n..c\r\n.\r\nend";
	struct srv s;
	struct cli k = { 0 };
	struct sockaddr_storage sa;
	socklen_t len;
	(void)state;
	srv_start(&s, "220 srv.test ESMTP", steps, 7, &sa, &len);
	struct smtp_client_opts o = opts(2000);
	k.cl = smtp_client_new(g_loop, (struct sockaddr *)&sa, len, &o, cli_event, &k);
	assert_non_null(k.cl);
	assert_int_equal(smtp_client_mail(k.cl, "s@c.test", "SIZE=10", cli_reply, &k), 0);
	assert_int_equal(smtp_client_rcpt(k.cl, "a@d.test", NULL, cli_reply, &k), 0);
	assert_int_equal(smtp_client_rcpt(k.cl, "b@d.test", NULL, cli_reply, &k), 0);
	assert_int_equal(smtp_client_data(k.cl, body, sizeof(body) - 1, cli_reply, &k), 0);
	assert_int_equal(smtp_client_quit(k.cl, cli_reply, &k), 0);
	assert_int_equal(smtp_client_pending(k.cl), 5);
	run();
	assert_true(k.ready);
	assert_true(k.done);
	assert_false(s.bad_step);
	assert_int_equal(k.ncodes, 5);
	int want[] = { 250, 250, 550, 250, 221 };
	for (int i = 0; i < 5; i++)
		assert_int_equal(k.codes[i], want[i]);
	assert_int_equal(s.bodylen, strlen("a\r\n..b\r\n...c\r\n..\r\nend\r\n.\r\n"));
	assert_memory_equal(s.body, "a\r\n..b\r\n...c\r\n..\r\nend\r\n.\r\n", s.bodylen);
	assert_true(s.max_burst >= 4);   /* MAIL, RCPT, RCPT, DATA in one group */
	const struct smtp_client_info *in = smtp_client_info(k.cl);
	assert_int_equal(in->banner.code, 220);
	assert_true(in->caps.flags & SMTP_CAP_PIPELINING);
	assert_int_equal(in->caps.size, 1000);
	assert_true(in->connect_ms >= 0);
	assert_true(in->banner_ms >= 0);
	assert_true(in->total_ms >= in->connect_ms);
	assert_int_equal(smtp_client_mail(k.cl, "x@c.test", NULL, NULL, NULL), -1);
	smtp_client_free(k.cl);
	srv_stop(&s);
}

/* Without PIPELINING, one command at a time; HELO after a 5xx EHLO. */
static void test_helo_fallback(void **state)
{
	static const struct step steps[] = {
		{ "EHLO client.test", "502 5.5.2 what" },
		{ "HELO client.test", "250 srv.test" },
		{ "MAIL FROM:<>", "250 ok" },
		{ "RCPT TO:<postmaster@d.test>", "250 ok" },
		{ "RSET", "250 ok" },
		{ "NOOP", "250 ok" },
		{ "QUIT", "221 bye" },
	};
	struct srv s;
	struct cli k = { 0 };
	struct sockaddr_storage sa;
	socklen_t len;
	(void)state;
	srv_start(&s, "220 srv.test", steps, 7, &sa, &len);
	struct smtp_client_opts o = opts(2000);
	k.cl = smtp_client_new(g_loop, (struct sockaddr *)&sa, len, &o, cli_event, &k);
	smtp_client_mail(k.cl, "", NULL, cli_reply, &k);
	smtp_client_rcpt(k.cl, "postmaster@d.test", NULL, cli_reply, &k);
	smtp_client_rset(k.cl, cli_reply, &k);
	smtp_client_noop(k.cl, cli_reply, &k);
	smtp_client_quit(k.cl, cli_reply, &k);
	run();
	assert_true(k.done);
	assert_false(s.bad_step);
	assert_int_equal(k.ncodes, 5);
	assert_int_equal(s.max_burst, 1);
	assert_true(smtp_client_info(k.cl)->used_helo);
	assert_int_equal(smtp_client_info(k.cl)->caps.flags, 0);
	smtp_client_free(k.cl);
	srv_stop(&s);
}

/* A body from an fd, larger than the socket buffers, with dots at line starts. */
static void test_data_fd(void **state)
{
	static const struct step steps[] = {
		{ "EHLO", "250-srv.test\n250 PIPELINING" },
		{ "MAIL FROM:<s@c.test>", "250 ok" },
		{ "RCPT TO:<a@d.test>", "250 ok" },
		{ "DATA", "354 go" },
		{ "", "250 queued" },
		{ "QUIT", "221 bye" },
	};
	struct srv s;
	struct cli k = { 0 };
	struct sockaddr_storage sa;
	socklen_t len;
	FILE *f = tmpfile();
	size_t nlines = 20000, i;
	(void)state;
	assert_non_null(f);
	fputs("HEADER: skipped\r\n", f);
	long off = ftell(f);
	for (i = 0; i < nlines; i++)
		fprintf(f, "%sline %05zu of the body\r\n", i % 7 == 0 ? "." : "", i);
	fflush(f);
	size_t blen = (size_t)(ftell(f) - off);
	srv_start(&s, "220 srv.test", steps, 6, &sa, &len);
	struct smtp_client_opts o = opts(3000);
	k.cl = smtp_client_new(g_loop, (struct sockaddr *)&sa, len, &o, cli_event, &k);
	smtp_client_mail(k.cl, "s@c.test", NULL, cli_reply, &k);
	smtp_client_rcpt(k.cl, "a@d.test", NULL, cli_reply, &k);
	assert_int_equal(smtp_client_data_fd(k.cl, fileno(f), off, blen, cli_reply, &k),
			 0);
	smtp_client_quit(k.cl, cli_reply, &k);
	run();
	assert_true(k.done);
	assert_false(s.bad_step);
	assert_int_equal(k.ncodes, 4);
	assert_int_equal(k.codes[2], 250);
	/* every dotted line was stuffed; the terminator ends it */
	size_t dots = 0, lines = 0;
	for (i = 0; i + 1 < s.bodylen; i++) {
		if (i == 0 || s.body[i - 1] == '\n') {
			lines++;
			if (s.body[i] == '.' && s.body[i + 1] == '.')
				dots++;
		}
	}
	assert_int_equal(lines, nlines + 1);           /* + the "." line */
	assert_int_equal(dots, (nlines + 6) / 7);
	assert_memory_equal(s.body + s.bodylen - 5, "\r\n.\r\n", 5);
	assert_null(strstr(s.body, "HEADER"));
	fclose(f);
	smtp_client_free(k.cl);
	srv_stop(&s);
}

/* A body fd shorter than announced fails locally and never sends the terminator. */
static void test_data_fd_short(void **state)
{
	static const struct step steps[] = {
		{ "EHLO", "250 srv.test" },
		{ "MAIL FROM:<s@c.test>", "250 ok" },
		{ "RCPT TO:<a@d.test>", "250 ok" },
		{ "DATA", "354 go" },
	};
	struct srv s;
	struct cli k = { 0 };
	struct sockaddr_storage sa;
	socklen_t len;
	FILE *f = tmpfile();
	(void)state;
	assert_non_null(f);
	fputs("only a little\r\n", f);
	fflush(f);
	srv_start(&s, "220 srv.test", steps, 4, &sa, &len);
	struct smtp_client_opts o = opts(2000);
	k.cl = smtp_client_new(g_loop, (struct sockaddr *)&sa, len, &o, cli_event, &k);
	smtp_client_mail(k.cl, "s@c.test", NULL, cli_reply, &k);
	smtp_client_rcpt(k.cl, "a@d.test", NULL, cli_reply, &k);
	smtp_client_data_fd(k.cl, fileno(f), 0, 100000, cli_reply, &k);
	run();
	assert_true(k.error);
	assert_int_equal(k.err, SMTP_CLIENT_E_LOCAL);
	assert_int_equal(k.nulls, 1);
	assert_null(strstr(s.body, "\r\n.\r\n"));
	fclose(f);
	smtp_client_free(k.cl);
	srv_stop(&s);
}

/* An empty body is just the terminator; all RCPTs refused still ends DATA. */
static void test_data_empty(void **state)
{
	static const struct step steps[] = {
		{ "EHLO", "250-srv.test\n250 PIPELINING" },
		{ "MAIL FROM:<s@c.test>", "250 ok" },
		{ "RCPT TO:<a@d.test>", "550 no" },
		{ "DATA", "354 go" },
		{ "", "554 no valid recipients" },
		{ "QUIT", "221 bye" },
	};
	struct srv s;
	struct cli k = { 0 };
	struct sockaddr_storage sa;
	socklen_t len;
	(void)state;
	srv_start(&s, "220 srv.test", steps, 6, &sa, &len);
	struct smtp_client_opts o = opts(2000);
	k.cl = smtp_client_new(g_loop, (struct sockaddr *)&sa, len, &o, cli_event, &k);
	smtp_client_mail(k.cl, "s@c.test", NULL, cli_reply, &k);
	smtp_client_rcpt(k.cl, "a@d.test", NULL, cli_reply, &k);
	smtp_client_data(k.cl, "ignored\r\n", 9, cli_reply, &k);
	smtp_client_quit(k.cl, cli_reply, &k);
	run();
	assert_true(k.done);
	assert_int_equal(s.bodylen, 3);
	assert_memory_equal(s.body, ".\r\n", 3);
	assert_int_equal(k.codes[2], 554);
	smtp_client_free(k.cl);
	srv_stop(&s);
}

/* Bad commands are refused before anything is queued. */
static void test_bad_args(void **state)
{
	struct cli k = { 0 };
	struct sockaddr_in sin;
	(void)state;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(9);
	struct smtp_client_opts o = opts(100);
	k.cl = smtp_client_new(g_loop, (struct sockaddr *)&sin, sizeof(sin), &o, cli_event, &k);
	assert_non_null(k.cl);
	assert_int_equal(smtp_client_rcpt(k.cl, "a@d.test\r\nRSET", NULL, NULL, NULL), -1);
	assert_int_equal(smtp_client_rcpt(k.cl, "a>b@d.test", NULL, NULL, NULL), -1);
	assert_int_equal(smtp_client_rcpt(k.cl, "", NULL, NULL, NULL), -1);
	assert_int_equal(smtp_client_mail(k.cl, "s@c.test", "SIZE=1\r\nQUIT", NULL, NULL), -1);
	char longaddr[3000];
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	assert_int_equal(smtp_client_rcpt(k.cl, longaddr, NULL, NULL, NULL), -1);
	assert_int_equal(smtp_client_pending(k.cl), 0);
	smtp_client_free(k.cl);
	o.tls_mode = SMTP_CLIENT_TLS_MAY;   /* no TLS context given */
	assert_null(smtp_client_new(g_loop, (struct sockaddr *)&sin, sizeof(sin), &o, cli_event,
				    &k));
	o.tls_mode = SMTP_CLIENT_TLS_NONE;
	o.helo_name = "bad name";
	assert_null(smtp_client_new(g_loop, (struct sockaddr *)&sin, sizeof(sin), &o, cli_event,
				    &k));
}

/* A free port on 127.0.0.1 where nothing listens. */
static void closed_port(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	close(fd);
}

/* Connection refused is told apart; queued commands get NULL replies. */
static void test_refused(void **state)
{
	struct cli k = { 0 };
	struct sockaddr_in sin;
	(void)state;
	closed_port(&sin);
	struct smtp_client_opts o = opts(2000);
	k.cl = smtp_client_new(g_loop, (struct sockaddr *)&sin, sizeof(sin), &o, cli_event, &k);
	smtp_client_mail(k.cl, "", NULL, cli_reply, &k);
	smtp_client_quit(k.cl, cli_reply, &k);
	run();
	assert_true(k.error);
	assert_int_equal(k.err, SMTP_CLIENT_E_REFUSED);
	assert_int_equal(k.nulls, 2);
	assert_false(smtp_client_info(k.cl)->connected);
	assert_string_equal(smtp_client_error_name(k.err), "refused");
	smtp_client_free(k.cl);
}

/* A session that must fail: the server's script, the client's deadlines, the
 * error it must end with, and what else must hold (0 or NULL: not checked). */
struct failure_case {
	const char *name;
	const char *banner;             /* NULL: the server never greets */
	struct step steps[2];
	size_t nsteps;
	uint64_t ms;                    /* every client deadline */
	enum smtp_client_error err;
	uint64_t min_dt, max_dt;        /* it ends after [min_dt, max_dt) ms */
	int connected;                  /* the client was connected */
	const char *errtext;            /* a part of the error text */
	int banner_code;                /* the banner, kept */
	const char *banner_text;
	int code;                       /* the one reply that reached its callback */
	int nulls;                      /* commands that got NULL replies */
};

static const struct failure_case failure_cases[] = {
	/* a silent server: the banner deadline fires, on time */
	{ .name = "banner timeout", .banner = NULL, .ms = 300, .err = SMTP_CLIENT_E_TIMEOUT,
	  .min_dt = 290, .max_dt = 1500, .connected = 1, .errtext = "banner", .nulls = 3 },
	/* 554 banner: rejected, with the banner kept */
	{ .name = "banner rejected", .banner = "554 5.7.1 go away", .ms = 1000,
	  .err = SMTP_CLIENT_E_REJECTED, .banner_code = 554, .banner_text = "5.7.1 go away" },
	/* a 1 MB EHLO reply is a protocol error, not a memory hog */
	{ .name = "huge reply", .banner = "220 srv.test", .steps = { { "EHLO", R_BIG } },
	  .nsteps = 1, .ms = 2000, .err = SMTP_CLIENT_E_PROTOCOL },
	/* one endless line is a protocol error too */
	{ .name = "long line", .banner = "220 srv.test", .steps = { { "EHLO", R_LONG } },
	  .nsteps = 1, .ms = 2000, .err = SMTP_CLIENT_E_PROTOCOL },
	/* a reply that never ends (a line every 2 ms) is cut off */
	{ .name = "endless reply", .banner = "220 srv.test", .steps = { { "EHLO", R_TRICKLE } },
	  .nsteps = 1, .ms = 3000, .err = SMTP_CLIENT_E_PROTOCOL },
	/* a reply that stops midway times out */
	{ .name = "reply timeout", .banner = "220 srv.test",
	  .steps = { { "EHLO", "250 srv.test" }, { "MAIL", R_HANG } }, .nsteps = 2, .ms = 300,
	  .err = SMTP_CLIENT_E_TIMEOUT, .errtext = "MAIL" },
	/* 421 to MAIL: the reply reaches its callback, the rest get NULL */
	{ .name = "421", .banner = "220 srv.test",
	  .steps = { { "EHLO", "250 srv.test" }, { "MAIL", "421 4.3.2 shutting down" } },
	  .nsteps = 2, .ms = 2000, .err = SMTP_CLIENT_E_CLOSED, .code = 421, .nulls = 2 },
	/* the server closes mid-session: closed */
	{ .name = "closed", .banner = "220 srv.test",
	  .steps = { { "EHLO", "250 srv.test" }, { "MAIL", R_CLOSE } }, .nsteps = 2, .ms = 2000,
	  .err = SMTP_CLIENT_E_CLOSED },
};

/* Every failure case: MAIL, RCPT and QUIT queued, the session ends in its error. */
static void test_failures(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(failure_cases) / sizeof(failure_cases[0]); i++) {
		const struct failure_case *c = &failure_cases[i];
		struct srv s;
		struct cli k = { 0 };
		struct sockaddr_storage sa;
		socklen_t len;
		uint64_t t0 = io_now_ms();

		srv_start(&s, c->banner, c->nsteps ? c->steps : NULL, c->nsteps, &sa, &len);
		struct smtp_client_opts o = opts(c->ms);
		k.cl = smtp_client_new(g_loop, (struct sockaddr *)&sa, len, &o, cli_event, &k);
		smtp_client_mail(k.cl, "", NULL, cli_reply, &k);
		smtp_client_rcpt(k.cl, "a@d.test", NULL, cli_reply, &k);
		smtp_client_quit(k.cl, cli_reply, &k);
		run();
		uint64_t dt = io_now_ms() - t0;
		const struct smtp_client_info *info = smtp_client_info(k.cl);

		assert_true(k.error);
		if (k.err != c->err)
			print_error("%s: error %s (%s), want %s\n", c->name,
				    smtp_client_error_name(k.err), info->errtext,
				    smtp_client_error_name(c->err));
		assert_int_equal(k.err, c->err);
		if (c->max_dt)
			assert_true(dt >= c->min_dt && dt < c->max_dt);
		if (c->connected)
			assert_true(info->connected);
		if (c->errtext)
			assert_non_null(strstr(info->errtext, c->errtext));
		if (c->banner_code) {
			assert_int_equal(info->banner.code, c->banner_code);
			assert_string_equal(info->banner.text, c->banner_text);
		}
		if (c->code) {
			assert_int_equal(k.ncodes, 1);
			assert_int_equal(k.codes[0], c->code);
		}
		if (c->nulls)
			assert_int_equal(k.nulls, c->nulls);
		smtp_client_free(k.cl);
		srv_stop(&s);
	}
}

/* A server that closes instead of answering QUIT still ends the session well. */
static void test_quit_close(void **state)
{
	static const struct step steps[] = {
		{ "EHLO", "250 srv.test" },
		{ "QUIT", R_CLOSE },
	};
	struct srv s;
	struct cli k = { 0 };
	struct sockaddr_storage sa;
	socklen_t len;
	(void)state;
	srv_start(&s, "220 srv.test", steps, 2, &sa, &len);
	struct smtp_client_opts o = opts(2000);
	k.cl = smtp_client_new(g_loop, (struct sockaddr *)&sa, len, &o, cli_event, &k);
	smtp_client_quit(k.cl, cli_reply, &k);
	run();
	assert_true(k.done);
	assert_int_equal(k.nulls, 1);
	smtp_client_free(k.cl);
	srv_stop(&s);
}

/* smtp_client_free() from inside the READY callback: no more callbacks. */
static void test_free_in_callback(void **state)
{
	static const struct step steps[] = {
		{ "EHLO", "250 srv.test" },
		{ "MAIL", "250 ok" },
	};
	struct srv s;
	struct cli k = { 0 };
	struct sockaddr_storage sa;
	socklen_t len;
	(void)state;
	srv_start(&s, "220 srv.test", steps, 2, &sa, &len);
	struct smtp_client_opts o = opts(2000);
	k.free_in_ready = 1;
	k.cl = smtp_client_new(g_loop, (struct sockaddr *)&sa, len, &o, cli_event, &k);
	smtp_client_mail(k.cl, "", NULL, cli_reply, &k);
	run();
	assert_true(k.ready);
	assert_null(k.cl);
	assert_int_equal(k.ncodes + k.nulls, 0);
	srv_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined),      cmocka_unit_test(test_helo_fallback),
		cmocka_unit_test(test_data_fd),        cmocka_unit_test(test_data_fd_short),
		cmocka_unit_test(test_data_empty),
		cmocka_unit_test(test_bad_args),       cmocka_unit_test(test_refused),
		cmocka_unit_test(test_failures),       cmocka_unit_test(test_quit_close),
		cmocka_unit_test(test_free_in_callback),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
