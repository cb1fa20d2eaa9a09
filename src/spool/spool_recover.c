/*
 * spool_recover.c - start-up recovery of the spool, run a batch at a time
 *                   (spool_recovery_*) or all at once (spool_recover).
 *
 * spool_recovery_new(), at start-up before anything is received or delivered:
 *   1. take an exclusive flock() on the spool directory, held until
 *      spool_close(), so a second daemon on the same spool is refused;
 *   2. unlink everything in tmp/ (messages never acknowledged).
 * Then each spool_recovery_step() goes on, for a bounded number of files or
 * milliseconds, with (so the daemon serves SMTP and delivers meanwhile):
 *   3. read queue/ as a stream (readdir, never the whole listing in memory)
 *      RECOVER_CHUNK names at a time, and parse the files (mmap) of each
 *      chunk in queue-ID (arrival) order: a queue of up to RECOVER_CHUNK
 *      messages is read in arrival order, a longer one in roughly that order
 *      (each chunk is a sample of the whole, so the first message handed
 *      over is among the oldest few); move a damaged one, and its state file, to corrupt/ (never replacing
 *      a file there) with a warning naming the file and the reason; a file
 *      that cannot be read now (a system error) is kept for the next start;
 *      a file gone before it is read (ENOENT: delivered and removed) is
 *      skipped;
 *   4. apply state/ID.st and call back for each good message (the env is
 *      freed when the callback returns);
 *   5. read state/ the same way and delete each state file whose queue file
 *      does not exist (it belongs to no kept message), then fsync the four
 *      subdirectories.
 * Messages started with spool_msg_new() while a recovery runs are this
 * process's own: their IDs are noted in a set (one entry each, freed when
 * the recovery ends) and the scan skips them, so a message received and
 * delivered meanwhile is never "recovered" again.  Everything runs on the
 * caller's thread, which must also be the one calling spool_msg_new(); the
 * remover thread may run (it only unlinks).
 */
#include "spool/spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define FRESH_BUCKETS 4096   /* hash buckets of the set of this process's IDs */
#define RECOVER_CHUNK 4096   /* queue/ names read, sorted and then loaded at a time */

enum rv_phase { RV_QUEUE = 0, RV_STATE, RV_DONE };

/* An ID started by this process while the recovery runs. */
struct fresh {
	struct fresh *next;
	char qid[SPOOL_QID_LEN + 1];
};

struct spool_recovery {
	struct spool *sp;
	spool_scan_cb cb;
	void *arg;
	enum rv_phase phase;
	DIR *dir;                  /* the stream of the current phase */
	char (*chunk)[SPOOL_QID_LEN + 1];   /* RECOVER_CHUNK queue IDs from queue/ */
	size_t nchunk, pos;        /* names in chunk, next one to load */
	int eof;                   /* queue/ is listed to the end */
	long count;                /* messages handed to cb */
	long files;                /* queue/ entries looked at */
	int failed;                /* a listing failed: the rest waits for the next start */
	struct fresh *fresh[FRESH_BUCKETS];
};

/* Open a readdir stream on directory fd dfd (which stays open). */
static DIR *open_stream(int dfd)
{
	DIR *d;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if ((d = fdopendir(fd)) == NULL)
		close(fd);
	return d;
}

/* Bucket of a queue ID in the fresh set (FNV-1a). */
static unsigned fresh_hash(const char *qid)
{
	uint32_t h = 2166136261u;
	for (; *qid; qid++)
		h = (h ^ (unsigned char)*qid) * 16777619u;
	return h % FRESH_BUCKETS;
}

/* Is qid one of this process's own messages?  1 or 0. */
static int fresh_has(const struct spool_recovery *rv, const char *qid)
{
	for (const struct fresh *f = rv->fresh[fresh_hash(qid)]; f; f = f->next)
		if (strcmp(f->qid, qid) == 0)
			return 1;
	return 0;
}

/* Note a queue ID started by this process while the recovery runs. */
void spool_recovery_note(struct spool_recovery *rv, const char *qid)
{
	struct fresh *f;

	if (rv == NULL || rv->phase != RV_QUEUE || strlen(qid) != SPOOL_QID_LEN)
		return;
	if ((f = malloc(sizeof(*f))) == NULL) {
		/* not noted: at worst the scan reads it, and the relay knows the ID */
		log_err("spool: %s: out of memory", qid);
		return;
	}
	memcpy(f->qid, qid, sizeof(f->qid));
	unsigned h = fresh_hash(qid);
	f->next = rv->fresh[h];
	rv->fresh[h] = f;
}

/* Free the fresh set. */
static void fresh_free(struct spool_recovery *rv)
{
	for (size_t i = 0; i < FRESH_BUCKETS; i++) {
		while (rv->fresh[i]) {
			struct fresh *f = rv->fresh[i];
			rv->fresh[i] = f->next;
			free(f);
		}
	}
}

/* Milliseconds on the monotonic clock. */
static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Move name from directory fd src to corrupt/, never replacing a file there. */
static int move_corrupt(struct spool *sp, int src, const char *name)
{
	char alt[NAME_MAX + 1], qid[SPOOL_QID_LEN + 1];

	if (renameat2(src, name, sp->corfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST) {
		spool_qid_new(qid);
		snprintf(alt, sizeof(alt), "%.200s.%s", name, qid);
		if (renameat2(src, name, sp->corfd, alt, RENAME_NOREPLACE) == 0)
			return 0;
	}
	if (errno == EINVAL || errno == ENOSYS)
		return renameat(src, name, sp->corfd, name);
	return -1;
}

/* Move a damaged queue entry (and its state file) to corrupt/, logging why.
 * 0, or -1 when it stays where it is. */
static int quarantine(struct spool *sp, const char *name, const char *why)
{
	char st[ST_NAME_MAX];

	log_warn("spool: queue/%s is damaged (%s): moved to corrupt/", name, why);
	if (move_corrupt(sp, sp->qfd, name) < 0) {
		log_err("spool: cannot move queue/%s to corrupt/: %s", name, strerror(errno));
		return -1;
	}
	if (spool_qid_valid(name)) {
		spool_st_name(st, name);
		if (move_corrupt(sp, sp->stfd, st) < 0 && errno != ENOENT)
			log_err("spool: cannot move state/%s to corrupt/: %s", st, strerror(errno));
	}
	return 0;
}

/* A queue file found damaged while the daemon runs: to corrupt/ with its
 * state file, as recovery does.  0, or -1 (it stays in queue/). */
int spool_quarantine(struct spool *sp, const char *qid, const char *why)
{
	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	return quarantine(sp, qid, why);
}

/* Remove every leftover in tmp/ (messages that never reached queue/). */
static int clean_tmp(struct spool *sp)
{
	DIR *d = open_stream(sp->tmpfd);
	struct dirent *de;

	if (d == NULL) {
		log_err("spool: cannot list %s/tmp: %s", sp->dir, strerror(errno));
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(sp->tmpfd, de->d_name, 0) < 0)
			log_warn("spool: cannot remove tmp/%s: %s", de->d_name, strerror(errno));
		else
			log_info("spool: removed unfinished tmp/%s", de->d_name);
		errno = 0;
	}
	int rc = errno != 0 ? -1 : 0;
	if (rc < 0)
		log_err("spool: cannot list %s/tmp: %s", sp->dir, strerror(errno));
	closedir(d);
	return rc;
}

/* qsort comparator for the chunk's queue IDs. */
static int cmp_qids(const void *a, const void *b)
{
	return memcmp(a, b, SPOOL_QID_LEN);
}

/* Read the next chunk of queue IDs from queue/ (damaged names are moved
 * aside at once) and sort it; 0, or -1 when the listing fails. */
static int refill_chunk(struct spool_recovery *rv)
{
	struct dirent *de;

	rv->nchunk = rv->pos = 0;
	while (rv->nchunk < RECOVER_CHUNK) {
		errno = 0;
		if ((de = readdir(rv->dir)) == NULL) {
			if (errno != 0)
				return -1;
			rv->eof = 1;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!spool_qid_valid(de->d_name)) {
			rv->files++;
			quarantine(rv->sp, de->d_name, "file name is not a queue ID");
			continue;
		}
		memcpy(rv->chunk[rv->nchunk++], de->d_name, SPOOL_QID_LEN + 1);
	}
	if (rv->nchunk > 1)
		qsort(rv->chunk, rv->nchunk, sizeof(*rv->chunk), cmp_qids);
	return 0;
}

/* Step 3 and 4 for one queue/ entry. */
static void recover_one(struct spool_recovery *rv, const char *name)
{
	struct spool *sp = rv->sp;
	struct spool_env env;
	const char *why = NULL;
	int rc;

	rv->files++;
	if (fresh_has(rv, name))
		return;   /* received by this process: the relay has it already */
	rc = spool_load_file(sp, name, &env, &why, NULL);
	if (rc == -1) {
		quarantine(sp, name, why);
		return;
	}
	if (rc == -2) {
		if (errno == ENOENT)
			log_debug("spool: queue/%s is gone (delivered meanwhile)", name);
		else
			log_err("spool: queue/%s: %s (left for the next start)", name,
				strerror(errno));
		return;
	}
	spool_apply_state(sp, &env);
	if (rv->cb != NULL)
		rv->cb(&env, rv->arg);
	spool_env_clear(&env);
	rv->count++;
}

/* Step 5 for one state/ entry: delete it unless its queue file exists. */
static void clean_state_one(struct spool_recovery *rv, const char *name)
{
	struct spool *sp = rv->sp;
	char qid[SPOOL_QID_LEN + 1];
	struct stat sb;

	if (strlen(name) == ST_NAME_MAX - 1 && strcmp(name + SPOOL_QID_LEN, ST_SUFFIX) == 0) {
		memcpy(qid, name, SPOOL_QID_LEN);
		qid[SPOOL_QID_LEN] = '\0';
		if (spool_qid_valid(qid) &&
		    (fstatat(sp->qfd, qid, &sb, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT))
			return;   /* a kept message's (or we cannot tell: keep it) */
	}
	if (unlinkat(sp->stfd, name, 0) < 0) {
		if (errno != ENOENT)
			log_warn("spool: cannot remove state/%s: %s", name, strerror(errno));
	} else {
		log_info("spool: removed orphan state/%s", name);
	}
}

/* End the current phase and start the next; 0, or -1 (recovery over). */
static int next_phase(struct spool_recovery *rv)
{
	struct spool *sp = rv->sp;

	closedir(rv->dir);
	rv->dir = NULL;
	if (rv->phase == RV_QUEUE) {
		/* every queue file is read: this process's IDs need no more noting */
		rv->phase = RV_STATE;
		fresh_free(rv);
		free(rv->chunk);
		rv->chunk = NULL;
		if ((rv->dir = open_stream(sp->stfd)) == NULL) {
			log_err("spool: cannot list %s/state: %s", sp->dir, strerror(errno));
			rv->phase = RV_DONE;
			return -1;
		}
		return 0;
	}
	rv->phase = RV_DONE;
	if (fsync(sp->qfd) < 0 || fsync(sp->corfd) < 0 || fsync(sp->stfd) < 0 ||
	    fsync(sp->tmpfd) < 0)
		log_err("spool: fsync of %s subdirectories: %s", sp->dir, strerror(errno));
	return 0;
}

/* Start an incremental recovery: lock, clean tmp/, open queue/. */
struct spool_recovery *spool_recovery_new(struct spool *sp, spool_scan_cb cb, void *arg)
{
	struct spool_recovery *rv;

	if (sp->rec != NULL) {
		errno = EBUSY;
		return NULL;
	}
	if (flock(sp->fd, LOCK_EX | LOCK_NB) < 0) {
		log_err("spool: %s is in use by another process (%s)", sp->dir, strerror(errno));
		return NULL;
	}
	if (clean_tmp(sp) < 0)
		return NULL;
	if ((rv = calloc(1, sizeof(*rv))) == NULL ||
	    (rv->chunk = malloc(RECOVER_CHUNK * sizeof(*rv->chunk))) == NULL) {
		free(rv);
		return NULL;
	}
	rv->sp = sp;
	rv->cb = cb;
	rv->arg = arg;
	if ((rv->dir = open_stream(sp->qfd)) == NULL) {
		log_err("spool: cannot list %s/queue: %s", sp->dir, strerror(errno));
		free(rv->chunk);
		free(rv);
		return NULL;
	}
	sp->rec = rv;
	return rv;
}

/* Go on for at most max_files entries or max_ms ms (0: no time limit). */
int spool_recovery_step(struct spool_recovery *rv, size_t max_files, unsigned max_ms)
{
	uint64_t t0 = max_ms ? now_ms() : 0;
	size_t n = 0;

	while (rv->phase != RV_DONE) {
		struct dirent *de;
		if (n >= max_files || (max_ms && now_ms() - t0 >= max_ms))
			return 1;
		if (rv->phase == RV_QUEUE) {
			if (rv->pos == rv->nchunk && !rv->eof && refill_chunk(rv) < 0) {
				log_err("spool: cannot list %s/queue: %s (the rest is recovered "
					"at the next start)", rv->sp->dir, strerror(errno));
				rv->failed = 1;
				break;
			}
			if (rv->pos < rv->nchunk) {
				n++;
				recover_one(rv, rv->chunk[rv->pos++]);
				continue;
			}
			if (next_phase(rv) < 0) {
				rv->failed = 1;
				break;
			}
			continue;
		}
		errno = 0;
		if ((de = readdir(rv->dir)) == NULL) {
			if (errno != 0) {
				log_err("spool: cannot list %s/state: %s", rv->sp->dir,
					strerror(errno));
				rv->failed = 1;
				break;
			}
			if (next_phase(rv) < 0) {
				rv->failed = 1;
				break;
			}
			continue;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		clean_state_one(rv, de->d_name);
	}
	if (rv->dir != NULL)
		closedir(rv->dir);
	rv->dir = NULL;
	rv->phase = RV_DONE;
	fresh_free(rv);
	rv->sp->rec = NULL;
	return rv->failed ? -1 : 0;
}

/* Messages handed to the callback so far. */
long spool_recovery_count(const struct spool_recovery *rv)
{
	return rv->count;
}

/* Is the recovery over (every entry read)?  1 or 0. */
int spool_recovery_done(const struct spool_recovery *rv)
{
	return rv->phase == RV_DONE;
}

/* Free a recovery, finished or not (the rest waits for the next start). */
void spool_recovery_free(struct spool_recovery *rv)
{
	if (rv == NULL)
		return;
	if (rv->dir != NULL)
		closedir(rv->dir);
	fresh_free(rv);
	if (rv->sp->rec == rv)
		rv->sp->rec = NULL;
	free(rv->chunk);
	free(rv);
}

/* Start-up recovery all at once; returns the number of good messages or -1. */
long spool_recover(struct spool *sp, spool_scan_cb cb, void *arg)
{
	struct spool_recovery *rv = spool_recovery_new(sp, cb, arg);

	if (rv == NULL)
		return -1;
	long n = spool_recovery_step(rv, SIZE_MAX, 0) < 0 ? -1 : rv->count;
	spool_recovery_free(rv);
	return n;
}
