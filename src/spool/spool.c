/*
 * spool.c - the durable message queue on disk: writing, group commit,
 *           loading and per-recipient delivery state.
 *
 * The record formats are described in spool_fmt.c, start-up recovery is in
 * spool_recover.c, what the files share in spool_int.h.  This file does the I/O,
 * with plain POSIX calls on directory file descriptors kept open for the life
 * of the spool (so every fsync of a directory is one call).
 *
 * WRITING
 *   spool_msg_new() creates tmp/ID (O_CREAT|O_EXCL|O_CLOEXEC|O_NOFOLLOW, mode
 *   0600) and writes the envelope; spool_msg_write() streams the body through
 *   a SPOOL_MSG_BUF user-space buffer, so memory does not grow with the
 *   message; the first write error (ENOSPC, EIO, EFBIG) is remembered and
 *   every later write is a no-op; spool_msg_finish() writes the END record
 *   and fills in the body length (pwrite over a fixed-width placeholder).
 *
 * GROUP COMMIT (spool_commit), in the order issue #3 prescribes
 *   1. data: for two or more messages, one syncfs() of the spool file system
 *      instead of one fsync per file: a single journal commit and cache flush
 *      for the whole batch.  It also flushes other dirty data of that file
 *      system, and kernels before 5.8 do not report writeback errors through
 *      syncfs(), so give the spool its own file system.  If syncfs() fails we
 *      fall back to fdatasync() per file.  One message: fdatasync() it;
 *   2. rename tmp/ID -> queue/ID for each (never replacing an existing file),
 *      so queue/ only ever holds files whose data is durable;
 *   3. one fsync() of queue/ makes the renames durable;
 *   4. only then ok[i] = 1, so the caller may answer 250.
 *   A message whose sync or rename failed is unlinked (from queue/ or tmp/)
 *   and reported ok[i] = 0.
 *   If the fsync of queue/ fails, every message of the batch is unlinked
 *   again and reported failed: never "250" for a file that may vanish.
 *
 * DELIVERY STATE AND THE AT-LEAST-ONCE PROMISE
 *   Queue files are never rewritten.  Delivery progress goes to state/ID.st,
 *   one appended, checksummed record per change, fdatasync'd before
 *   spool_set_rcpt_state() returns (and state/ fsync'd when the file is new).
 *   The delivery code calls it after the primary's reply and before the next
 *   attempt.  A crash after the primary said 250 but before that fdatasync
 *   completed leaves the recipient pending, so it is delivered again: at
 *   most one duplicate per crash, never a loss.  spool_remove() unlinks the
 *   queue file first, then the state file, then fsyncs queue/; a crash in
 *   between can only bring back a delivered message (again a duplicate).
 *
 * RECOVERY (spool_recovery_*, once at start-up, a batch at a time while the
 *   daemon already serves): see spool_recover.c; it loads each queue file
 *   with spool_load_file() and spool_apply_state() from here, and
 *   spool_msg_new() notes this process's own IDs for it (sp->rec).
 */
#include "spool/spool_int.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MREC_LEN      23   /* "M " + 20 digits + LF */
#define ZREC_MAX      64

_Static_assert(MREC_LEN == 2 + QF_MREC_DIGITS + 1, "M record width");

struct spool_msg {
	struct spool *sp;
	char qid[SPOOL_QID_LEN + 1];
	int fd;
	int err;                  /* first errno, 0 if none */
	int finished;
	uint8_t *buf;             /* SPOOL_MSG_BUF bytes, freed at finish */
	size_t blen;
	unsigned long long off;   /* logical file offset of the next byte */
	unsigned long long mrec;  /* offset of the M record */
	unsigned long long size;  /* body bytes */
	uint32_t crc;
	unsigned long nrec;
};

static const char *subdirs[] = {"tmp", "queue", "state", "corrupt"};

int (*spool_fault_hook)(const char *op, const char *qid);

/* Run the test fault hook for op; -1 with errno set if it injects a failure. */
static int fault(const char *op, const char *qid)
{
	int e;

	if (spool_fault_hook != NULL && (e = spool_fault_hook(op, qid)) != 0) {
		errno = e;
		return -1;
	}
	return 0;
}

/* Write all n bytes at the current offset, retrying on EINTR and short writes. */
static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *q = p;

	while (n > 0) {
		ssize_t w = write(fd, q, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		q += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Format "<qid>.st" into name. */
void spool_st_name(char name[ST_NAME_MAX], const char *qid)
{
	memcpy(name, qid, SPOOL_QID_LEN);
	memcpy(name + SPOOL_QID_LEN, ST_SUFFIX, sizeof(ST_SUFFIX));
}

/* ---- open / close ---- */

/* Check that fd is a directory nobody but its owner may write. */
static int check_dir(int fd, const char *what, char *errbuf, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(errbuf, errlen, "%s: %s", what, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(errbuf, errlen, "%s is not a directory", what);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(errbuf, errlen, "%s is group- or world-writable (mode %04o)", what,
			 (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Open a spool directory, creating it and its subdirectories. */
struct spool *spool_open(const char *dir, char *errbuf, size_t errlen)
{
	char dummy[1], what[512];
	int created = 0;
	struct spool *sp;

	if (errbuf == NULL || errlen == 0) {
		errbuf = dummy;
		errlen = sizeof(dummy);
	}
	if ((sp = calloc(1, sizeof(*sp))) == NULL || (sp->dir = strdup(dir)) == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		free(sp);
		return NULL;
	}
	sp->fd = sp->tmpfd = sp->qfd = sp->stfd = sp->corfd = -1;
	if (mkdir(dir, 0700) == 0)
		created = 1;
	else if (errno != EEXIST) {
		snprintf(errbuf, errlen, "cannot create spool directory %s: %s", dir,
			 strerror(errno));
		goto fail;
	}
	if ((sp->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(errbuf, errlen, "cannot open spool directory %s: %s", dir,
			 strerror(errno));
		goto fail;
	}
	snprintf(what, sizeof(what), "spool directory %s", dir);
	if (check_dir(sp->fd, what, errbuf, errlen) < 0)
		goto fail;
	int *fds[] = {&sp->tmpfd, &sp->qfd, &sp->stfd, &sp->corfd};
	for (size_t i = 0; i < 4; i++) {
		snprintf(what, sizeof(what), "spool subdirectory %s/%s", dir, subdirs[i]);
		if (mkdirat(sp->fd, subdirs[i], 0700) == 0)
			created = 1;
		else if (errno != EEXIST) {
			snprintf(errbuf, errlen, "cannot create %s: %s", what, strerror(errno));
			goto fail;
		}
		*fds[i] = openat(sp->fd, subdirs[i],
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (*fds[i] < 0) {
			snprintf(errbuf, errlen, "cannot open %s: %s", what, strerror(errno));
			goto fail;
		}
		if (check_dir(*fds[i], what, errbuf, errlen) < 0)
			goto fail;
	}
	if (created && fsync(sp->fd) < 0) {
		snprintf(errbuf, errlen, "fsync %s: %s", dir, strerror(errno));
		goto fail;
	}
	return sp;
fail:
	spool_close(sp);
	return NULL;
}

/* Close the spool (releases the recovery lock). */
void spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	int fds[] = {sp->fd, sp->tmpfd, sp->qfd, sp->stfd, sp->corfd};
	for (size_t i = 0; i < 5; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(sp->dir);
	free(sp);
}

/* The spool directory path. */
const char *spool_dir(const struct spool *sp)
{
	return sp->dir;
}

/* ---- writing a message ---- */

/* Write out the buffered bytes, remembering the first error. */
static void msg_flush(struct spool_msg *m)
{
	if (m->err == 0 && m->blen > 0) {
		if (fault("write", m->qid) < 0 || write_all(m->fd, m->buf, m->blen) < 0)
			m->err = errno ? errno : EIO;
	}
	m->blen = 0;
}

/* Buffered write (a spool_put_fn); a no-op after the first error. */
static int msg_put(void *ctx, const void *p, size_t n)
{
	struct spool_msg *m = ctx;

	if (m->err == 0 && n > 0) {
		m->off += n;
		if (n > SPOOL_MSG_BUF - m->blen)
			msg_flush(m);
		if (m->err == 0 && n >= SPOOL_MSG_BUF) {
			if (fault("write", m->qid) < 0 || write_all(m->fd, p, n) < 0)
				m->err = errno ? errno : EIO;
		} else if (m->err == 0) {
			memcpy(m->buf + m->blen, p, n);
			m->blen += n;
		}
	}
	return m->err ? -1 : 0;
}

/* Close and free a message object (the file is left alone). */
static void msg_free(struct spool_msg *m)
{
	if (m->fd >= 0)
		close(m->fd);
	free(m->buf);
	free(m);
}

/* Start a message in tmp/ and write its envelope. */
struct spool_msg *spool_msg_new(struct spool *sp, const struct spool_env *env)
{
	static const char mrec[] = "M 00000000000000000000\n";
	struct spool_msg *m;
	const char *why;
	int e;

	if (spool_env_check(env, &why) < 0) {
		log_warn("spool: %s: cannot store envelope: %s", env->qid, why);
		errno = EINVAL;
		return NULL;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->sp = sp;
	m->fd = -1;
	memcpy(m->qid, env->qid, sizeof(m->qid));
	spool_recovery_note(sp->rec, m->qid);   /* ours: a running recovery skips it */
	if ((m->buf = malloc(SPOOL_MSG_BUF)) == NULL) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	if (fault("create", m->qid) < 0)
		goto fail;
	m->fd = openat(sp->tmpfd, m->qid, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		       0600);
	if (m->fd < 0)
		goto fail;
	if (spool_fmt_header(env, msg_put, m, &m->crc, &m->nrec) < 0 && m->err == 0)
		m->err = errno ? errno : EINVAL;
	m->mrec = m->off;
	msg_put(m, mrec, MREC_LEN);
	m->nrec++;
	if (m->err != 0) {
		errno = m->err;
		goto fail;
	}
	return m;
fail:
	e = errno;
	if (m->fd >= 0)
		unlinkat(sp->tmpfd, m->qid, 0);
	msg_free(m);
	errno = e;
	return NULL;
}

/* Append body bytes. */
int spool_msg_write(struct spool_msg *m, const void *buf, size_t len)
{
	if (m->finished) {
		errno = EINVAL;
		return -1;
	}
	if (m->err == 0) {
		m->crc = spool_crc32(m->crc, buf, len);
		m->size += len;
		msg_put(m, buf, len);
	}
	if (m->err != 0) {
		errno = m->err;
		return -1;
	}
	return 0;
}

/* Write the END record, fill in the body length and flush to the kernel. */
int spool_msg_finish(struct spool_msg *m)
{
	char rec[ZREC_MAX];
	int n;

	if (m->finished) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(rec, sizeof(rec), "Z %lu %llu %08x\n", m->nrec, m->size, (unsigned)m->crc);
	msg_put(m, rec, (size_t)n);
	msg_flush(m);
	if (m->err == 0) {
		snprintf(rec, sizeof(rec), "M %020llu\n", m->size);
		if (fault("write", m->qid) < 0 ||
		    pwrite(m->fd, rec, MREC_LEN, (off_t)m->mrec) != MREC_LEN)
			m->err = errno ? errno : EIO;
	}
	free(m->buf);
	m->buf = NULL;
	m->finished = 1;
	if (m->err != 0) {
		errno = m->err;
		return -1;
	}
	return 0;
}

/* Read len octets of a finished message's text at off; 0 or -1. */
int spool_msg_pread(struct spool_msg *m, void *buf, size_t len, size_t off)
{
	if (!m->finished || m->err || off + len > m->size)
		return -1;
	int in = openat(m->sp->tmpfd, m->qid, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return -1;
	ssize_t r = pread(in, buf, len, (off_t)(m->mrec + MREC_LEN + off));
	close(in);
	return r == (ssize_t)len ? 0 : -1;
}

/* Octets of message text written (our Received: header included). */
unsigned long long spool_msg_size(const struct spool_msg *m)
{
	return m->size;
}

/* Replace the first old_len octets of a finished message's text with
 * hdr[0..len) and its envelope with env; the rest of the text is copied
 * from the old file.  The new file takes the old one's place in tmp/ by a
 * rename, so the message is never lost half-written.  0, or -1 with the
 * message as it was. */
int spool_msg_rewrite(struct spool_msg *m, const struct spool_env *env, size_t old_len,
		      const void *hdr, size_t len)
{
	static const char mrec[] = "M 00000000000000000000\n";
	char name[SPOOL_QID_LEN + 8];
	uint8_t chunk[SPOOL_MSG_BUF];
	struct spool_msg *n;
	int in, rc = -1;

	if (!m->finished || m->err || old_len > m->size)
		return -1;
	snprintf(name, sizeof(name), "%s.rw", m->qid);
	if ((in = openat(m->sp->tmpfd, m->qid, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -1;
	if (!(n = calloc(1, sizeof(*n))) || !(n->buf = malloc(SPOOL_MSG_BUF))) {
		free(n);
		close(in);
		return -1;
	}
	n->sp = m->sp;
	memcpy(n->qid, m->qid, sizeof(n->qid));
	n->fd = openat(m->sp->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		       0600);
	if (n->fd < 0)
		goto out;
	if (spool_fmt_header(env, msg_put, n, &n->crc, &n->nrec) < 0 && n->err == 0)
		n->err = EINVAL;
	n->mrec = n->off;
	msg_put(n, mrec, MREC_LEN);
	n->nrec++;
	spool_msg_write(n, hdr, len);
	off_t pos = (off_t)(m->mrec + MREC_LEN + old_len);
	unsigned long long left = m->size - old_len;
	while (left > 0 && n->err == 0) {
		ssize_t r = pread(in, chunk, left < sizeof(chunk) ? (size_t)left : sizeof(chunk), pos);
		if (r <= 0) {
			n->err = r < 0 ? errno : EIO;
			break;
		}
		spool_msg_write(n, chunk, (size_t)r);
		pos += r;
		left -= (unsigned long long)r;
	}
	if (n->err == 0 && spool_msg_finish(n) == 0 &&
	    renameat(m->sp->tmpfd, name, m->sp->tmpfd, m->qid) == 0) {
		close(m->fd);
		m->fd = n->fd;
		n->fd = -1;
		m->size = n->size;
		m->crc = n->crc;
		m->nrec = n->nrec;
		m->mrec = n->mrec;
		m->off = n->off;
		rc = 0;
	}
out:
	if (rc < 0 && n->fd >= 0)
		unlinkat(m->sp->tmpfd, name, 0);
	close(in);
	msg_free(n);
	return rc;
}

/* Errno of the first failure, 0 if none. */
int spool_msg_errno(const struct spool_msg *m)
{
	return m->err;
}

/* The message's queue ID. */
const char *spool_msg_qid(const struct spool_msg *m)
{
	return m->qid;
}

/* Discard a message: unlink its temp file and free it. */
void spool_msg_abort(struct spool_msg *m)
{
	if (m == NULL)
		return;
	unlinkat(m->sp->tmpfd, m->qid, 0);
	msg_free(m);
}

/* Move tmp/ID to queue/ID without ever replacing an existing queue file. */
static int move_to_queue(struct spool *sp, const char *qid)
{
	if (fault("rename", qid) < 0)
		return -1;
	if (renameat2(sp->tmpfd, qid, sp->qfd, qid, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* file system without RENAME_NOREPLACE: link (fails on EEXIST), unlink */
	if (linkat(sp->tmpfd, qid, sp->qfd, qid, 0) < 0)
		return -1;
	unlinkat(sp->tmpfd, qid, 0);
	return 0;
}

/* Group commit: rename into queue/, one data sync, one fsync of queue/. */
int spool_commit(struct spool *sp, struct spool_msg **msgs, size_t n, int *ok)
{
	size_t good = 0, moved = 0;
	int synced = 0, rc = 0;
	int *inq;

	for (size_t i = 0; i < n; i++) {
		struct spool_msg *m = msgs[i];
		ok[i] = m != NULL && m->finished && m->err == 0 && m->sp == sp;
		good += (size_t)ok[i];
	}
	/* inq[i]: msgs[i] now lives in queue/ (so a failure unlinks it there) */
	if ((inq = calloc(n ? n : 1, sizeof(*inq))) == NULL) {
		for (size_t i = 0; i < n; i++)
			ok[i] = 0;
		good = 0;
	}
	/* 1. data: one syncfs() for a batch, else fdatasync() per file */
	if (good >= 2) {
		if (fault("syncfs", NULL) == 0 && syncfs(sp->tmpfd) == 0)
			synced = 1;
		else
			log_warn("spool: syncfs: %s; falling back to fsync per file",
				 strerror(errno));
	}
	for (size_t i = 0; i < n && !synced; i++) {
		if (ok[i] && (fault("sync", msgs[i]->qid) < 0 || fdatasync(msgs[i]->fd) < 0)) {
			log_err("spool: %s: fdatasync: %s", msgs[i]->qid, strerror(errno));
			ok[i] = 0;
		}
	}
	/* 2. rename the durable files into queue/ */
	for (size_t i = 0; i < n; i++) {
		if (!ok[i])
			continue;
		if (move_to_queue(sp, msgs[i]->qid) < 0) {
			log_err("spool: %s: rename into queue/: %s", msgs[i]->qid, strerror(errno));
			ok[i] = 0;
		} else {
			inq[i] = 1;
			moved++;
		}
	}
	/* 3. one fsync of queue/ makes the renames durable */
	if (moved > 0 && (fault("dirsync", NULL) < 0 || fsync(sp->qfd) < 0)) {
		log_err("spool: fsync %s/queue: %s; failing %zu messages", sp->dir,
			strerror(errno), moved);
		for (size_t i = 0; i < n; i++)
			ok[i] = 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (msgs[i] == NULL) {
			rc = -1;
			continue;
		}
		if (!ok[i]) {
			rc = -1;
			if (inq != NULL && inq[i]) {
				/* never leave an unacknowledged file in queue/ */
				unlinkat(sp->qfd, msgs[i]->qid, 0);
				msg_free(msgs[i]);
			} else {
				spool_msg_abort(msgs[i]);
			}
		} else {
			msg_free(msgs[i]);
		}
	}
	free(inq);
	return rc;
}

/* ---- reading ---- */

/* Map and parse the file open on fd; 0, -1 with *why (damaged), -2 (system error). */
static int parse_fd(int fd, const struct stat *st, const char *qid, struct spool_env *env,
		    const char **why)
{
	static const uint8_t empty[1];
	const uint8_t *p = empty;
	size_t len = (size_t)st->st_size;
	int rc;

	if (st->st_size < 0 || (unsigned long long)st->st_size > SIZE_MAX) {
		*why = "file too large";
		return -1;
	}
	if (len > 0) {
		void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED)
			return -2;
		p = map;
	}
	rc = spool_parse(p, len, env, why);
	if (len > 0)
		munmap((void *)p, len);
	if (rc == 0 && strcmp(env->qid, qid) != 0) {
		spool_env_clear(env);
		*why = "queue ID does not match the file name";
		rc = -1;
	}
	return rc;
}

/* Apply state/qid.st to env, if present; damaged records are logged. */
void spool_apply_state(struct spool *sp, struct spool_env *env)
{
	char name[ST_NAME_MAX];
	struct stat st;
	size_t skipped = 0;
	int fd;

	spool_st_name(name, env->qid);
	fd = openat(sp->stfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			log_err("spool: state/%s: %s", name, strerror(errno));
		return;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map != MAP_FAILED) {
			spool_state_apply(env, map, (size_t)st.st_size, &skipped);
			munmap(map, (size_t)st.st_size);
		} else {
			log_err("spool: state/%s: mmap: %s", name, strerror(errno));
		}
	}
	close(fd);
	if (skipped > 0)
		log_warn("spool: state/%s: skipped %zu torn or damaged records", name, skipped);
}

/* Open, parse and check one queue file; fd left open in *fdp if fdp != NULL. */
int spool_load_file(struct spool *sp, const char *qid, struct spool_env *env, const char **why,
		    int *fdp)
{
	struct stat st;
	int fd, rc;

	memset(env, 0, sizeof(*env));
	if ((fd = openat(sp->qfd, qid, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0) {
		if (errno == ELOOP) {
			*why = "not a regular file";
			return -1;
		}
		return -2;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -2;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		*why = "not a regular file";
		return -1;
	}
	rc = parse_fd(fd, &st, qid, env, why);
	if (rc == 0 && fdp != NULL)
		*fdp = fd;
	else
		close(fd);
	return rc;
}

/* Load one message's envelope with its delivery state applied. */
int spool_load(struct spool *sp, const char *qid, struct spool_env *env)
{
	const char *why = NULL;
	int rc;

	if (!spool_qid_valid(qid)) {
		memset(env, 0, sizeof(*env));
		errno = EINVAL;
		return -1;
	}
	rc = spool_load_file(sp, qid, env, &why, NULL);
	if (rc == -1) {
		log_warn("spool: queue/%s: %s", qid, why);
		errno = EBADMSG;
	}
	if (rc < 0)
		return -1;
	spool_apply_state(sp, env);
	return 0;
}

/* Open a message's body: an fd positioned at its first octet. */
int spool_body_open(struct spool *sp, const char *qid, size_t *len)
{
	struct spool_env env;
	const char *why = NULL;
	int fd = -1, rc;

	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	rc = spool_load_file(sp, qid, &env, &why, &fd);
	if (rc == -1) {
		log_warn("spool: queue/%s: %s", qid, why);
		errno = EBADMSG;
	}
	if (rc < 0)
		return -1;
	if (lseek(fd, (off_t)env.body_off, SEEK_SET) < 0) {
		int e = errno;
		close(fd);
		spool_env_clear(&env);
		errno = e;
		return -1;
	}
	/* opened O_NONBLOCK so that a FIFO planted in queue/ cannot block us */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	*len = (size_t)env.size;
	spool_env_clear(&env);
	return fd;
}

/* Open the body of a message whose envelope env was just loaded (and so
 * checked): an fd at its first octet, *len its length; no second parse. */
int spool_body_open_env(struct spool *sp, const struct spool_env *env, size_t *len)
{
	struct stat st;
	int fd;

	if (!spool_qid_valid(env->qid)) {
		errno = EINVAL;
		return -1;
	}
	fd = openat(sp->qfd, env->qid, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (unsigned long long)st.st_size < env->body_off + env->size ||
	    lseek(fd, (off_t)env->body_off, SEEK_SET) < 0) {
		int e = errno ? errno : EBADMSG;
		close(fd);
		errno = e;
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	*len = (size_t)env->size;
	return fd;
}

/* ---- delivery state ---- */

/* Durably append one recipient state record to state/ID.st. */
int spool_set_rcpt_state(struct spool *sp, const char *qid, size_t idx, enum spool_rstate st,
			 const char *reply)
{
	char name[ST_NAME_MAX], rec[SPOOL_LINE_MAX + 1];
	int fd, n, created = 1, e;
	off_t size = 0;
	char *p = rec + 1;

	n = spool_qid_valid(qid) ? spool_fmt_state(p, sizeof(rec) - 1, idx, st, reply) : -1;
	if (n < 0) {
		errno = EINVAL;
		return -1;
	}
	spool_st_name(name, qid);
	fd = openat(sp->stfd, name, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0 && errno == EEXIST) {
		created = 0;
		fd = openat(sp->stfd, name, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0)
		return -1;
	if (!created) {
		/* if the last record is torn, start ours on a fresh line */
		struct stat sb;
		char last;
		if (fstat(fd, &sb) < 0)
			goto fail;
		size = sb.st_size;
		if (size > 0) {
			if (pread(fd, &last, 1, size - 1) != 1)
				goto fail;
			if (last != '\n') {
				*--p = '\n';
				n++;
			}
		}
	}
	if (fault("state", qid) < 0 || write_all(fd, p, (size_t)n) < 0) {
		e = errno;
		/* take back a partial record so the next append starts clean */
		if (ftruncate(fd, size) < 0)
			log_err("spool: state/%s: ftruncate: %s", name, strerror(errno));
		errno = e;
		goto fail;
	}
	if (fdatasync(fd) < 0)
		goto fail;
	if (created && fsync(sp->stfd) < 0)
		goto fail;
	close(fd);
	return 0;
fail:
	e = errno;
	log_err("spool: state/%s: %s", name, strerror(e));
	close(fd);
	errno = e;
	return -1;
}

/* Remove a finished message: queue file, then state file, then fsync queue/. */
int spool_remove(struct spool *sp, const char *qid)
{
	if (spool_remove_nosync(sp, qid) < 0)
		return -1;
	return spool_sync_queue(sp);
}

/* Unlink a message's queue file, then its state file, without syncing queue/. */
int spool_remove_nosync(struct spool *sp, const char *qid)
{
	char name[ST_NAME_MAX];
	int rc = 0, e = 0;

	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	if (unlinkat(sp->qfd, qid, 0) < 0) {
		e = errno;
		rc = -1;
	}
	spool_st_name(name, qid);
	if (unlinkat(sp->stfd, name, 0) < 0 && errno != ENOENT)
		log_warn("spool: unlink state/%s: %s", name, strerror(errno));
	errno = e;
	return rc;
}

/* Make earlier removals durable: one fsync of queue/. */
int spool_sync_queue(struct spool *sp)
{
	if (fault("dirsync", NULL) < 0 || fsync(sp->qfd) < 0)
		return -1;
	return 0;
}
