/*
 * fuzz_session.c - libFuzzer target for a whole inbound SMTP session.
 *
 * The way Dovecot's fuzz-smtp-server does it: each input is one client's
 * byte stream.  A real smtp_server (no TLS, no DNS) with a real spool in a
 * temp dir takes one end of a socketpair through smtp_server_accept(); the
 * fuzzer writes the input into the other end in up to four chunks (the
 * first input byte picks the cut points), one loop turn apart, then shuts
 * the write side down and reads and discards every reply.  The loop runs
 * until the server closes the session, or FUZZ_SESSION_MS pass.  Messages
 * that reach the spool are removed again by the queued hook, so the temp
 * dir stays small.  The server must never crash, leak or hang.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "io/io.h"
#include "smtp/server.h"
#include "spool/spool.h"

#define FUZZ_SESSION_MS   200       /* wall-clock bound of one execution */
#define FUZZ_CHUNK_MS     0         /* pause between two chunks (one loop turn) */
#define FUZZ_CHUNKS_MAX   4         /* the input is written in at most this many chunks */
#define FUZZ_INPUT_MAX    (128 * 1024)  /* longer inputs are cut (socket buffer) */

static struct io_loop *fz_loop;
static struct spool *fz_spool;
static struct config fz_cfg;
static char fz_dir[] = "/tmp/bmx-fuzz-session.XXXXXX";

/* One execution. */
struct fz_run {
	int fd;                         /* our end of the socketpair */
	const uint8_t *data;
	size_t cut[FUZZ_CHUNKS_MAX + 1];  /* chunk i is data[cut[i]..cut[i+1]) */
	size_t nchunks, next;
	size_t off;                     /* bytes of data written so far */
	int closed;                     /* the server closed its end */
	struct io_timer *chunk_timer, *deadline;
};

/* Queued hook: forget the message at once so the spool does not grow. */
static void fz_queued(const struct spool_env *env, void *arg)
{
	(void)spool_remove(arg, env->qid);
}

/* Write what the socket takes of the current chunk; once it is all out,
 * move to the next one a turn later; after the last one, half-close. */
static void fz_write_next(void *arg)
{
	struct fz_run *r = arg;
	ssize_t n;

	if (r->next >= r->nchunks) {
		shutdown(r->fd, SHUT_WR);
		return;
	}
	while (r->off < r->cut[r->next + 1]) {
		n = write(r->fd, r->data + r->off, r->cut[r->next + 1] - r->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;   /* full: retry on the next tick */
		if (n <= 0) {
			r->next = r->nchunks;   /* peer gone: the rest is lost */
			break;
		}
		r->off += (size_t)n;
	}
	if (r->next < r->nchunks && r->off >= r->cut[r->next + 1])
		r->next++;
	io_timer_add(r->chunk_timer, FUZZ_CHUNK_MS);
}

/* Drain and discard the server's replies; stop the loop at its close. */
static void fz_readable(int fd, void *arg)
{
	struct fz_run *r = arg;
	char buf[16384];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		r->closed = 1;
		io_loop_break(fz_loop);
	}
}

/* The execution took too long: stop the loop anyway. */
static void fz_deadline(void *arg)
{
	(void)arg;
	io_loop_break(fz_loop);
}

/* nftw callback: remove one entry of the temp dir. */
static int fz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* At exit: close the spool and remove its temp dir. */
static void fz_cleanup(void)
{
	spool_close(fz_spool);
	config_free(&fz_cfg);
	io_loop_free(fz_loop);
	nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* One-time set-up: logging, loop, spool in a temp dir, configuration. */
static void fz_init(void)
{
	char err[512], conf[1024];
	int n;

	log_init("fuzz_session", 0, LOG_LVL_ERR);
	if (mkdtemp(fz_dir) == NULL)
		abort();
	fz_loop = io_loop_new();
	fz_spool = spool_open(fz_dir, err, sizeof(err));
	if (fz_loop == NULL || fz_spool == NULL) {
		fprintf(stderr, "fuzz_session: set-up failed: %s\n", err);
		abort();
	}
	atexit(fz_cleanup);
	n = snprintf(conf, sizeof(conf),
		     "hostname = mx2.example.test\n"
		     "spool = %s\n"
		     "relay_domains = example.test\n"
		     "max_message_size = 65536\n"
		     "max_recipients = 20\n"
		     "max_errors = 20\n"
		     "command_timeout = 2\n"
		     "data_timeout = 2\n", fz_dir);
	config_defaults(&fz_cfg);
	if (n < 0 || (size_t)n >= sizeof(conf) ||
	    config_parse(&fz_cfg, "fuzz.conf", conf, (size_t)n, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_session: config: %s\n", err);
		abort();
	}
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_server_hooks hooks;
	struct smtp_server *srv;
	struct sockaddr_in sin;
	struct io_watch *w;
	struct fz_run r;
	int sv[2];
	size_t i, body;

	if (fz_loop == NULL)
		fz_init();
	if (size < 1)
		return 0;
	memset(&r, 0, sizeof(r));
	memset(&hooks, 0, sizeof(hooks));
	hooks.queued = fz_queued;
	hooks.arg = fz_spool;
	r.data = data + 1;
	body = size - 1 < FUZZ_INPUT_MAX ? size - 1 : FUZZ_INPUT_MAX;
	/* the first byte: low two bits = chunks - 1, the rest scales the cuts */
	r.nchunks = (size_t)(data[0] & 3) + 1;
	r.cut[0] = 0;
	for (i = 1; i < r.nchunks; i++)
		r.cut[i] = body * (((size_t)data[0] >> 2) + i) / (r.nchunks + 64);
	for (i = 1; i < r.nchunks; i++)
		if (r.cut[i] < r.cut[i - 1])
			r.cut[i] = r.cut[i - 1];
	r.cut[r.nchunks] = body;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	r.fd = sv[1];
	if (fcntl(r.fd, F_SETFL, O_NONBLOCK) != 0)
		abort();
	struct smtp_server_conf sc = {.cfg = &fz_cfg};
	srv = smtp_server_new(fz_loop, &sc, fz_spool, NULL, &hooks);
	w = io_watch_new(fz_loop, r.fd, fz_readable, &r);
	r.chunk_timer = io_timer_new(fz_loop, fz_write_next, &r);
	r.deadline = io_timer_new(fz_loop, fz_deadline, &r);
	if (srv == NULL || w == NULL || r.chunk_timer == NULL || r.deadline == NULL)
		abort();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(40000);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	smtp_server_accept(srv, sv[0], (const struct sockaddr *)&sin, sizeof(sin));
	io_timer_add(r.chunk_timer, 0);
	io_timer_add(r.deadline, FUZZ_SESSION_MS);
	io_loop_run(fz_loop);

	io_watch_free(w);
	io_timer_free(r.chunk_timer);
	io_timer_free(r.deadline);
	smtp_server_free(srv);   /* also ends a session still open at the deadline */
	close(r.fd);
	return 0;
}
