/*
 * spool_recover.c - start-up recovery of the spool (spool_recover).
 *
 * Once at start-up, before anything is received or delivered:
 *   1. take an exclusive flock() on the spool directory, held until
 *      spool_close(), so a second daemon on the same spool is refused;
 *   2. unlink everything in tmp/ (messages never acknowledged);
 *   3. parse every queue/ file (mmap) in queue-ID (arrival) order; move a
 *      damaged one, and its state file, to corrupt/ (never replacing a file
 *      there) with a warning naming the file and the reason; a file that
 *      cannot be read now (a system error) is kept for the next start;
 *   4. apply state/ID.st and call back for each good message (the env is
 *      freed when the callback returns);
 *   5. delete the state files that belong to no kept message, and fsync
 *      the four subdirectories.
 * Runs on the caller's thread; the remover thread must not be running yet.
 */
#include "spool/spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/log.h"

/* Read the names in directory dfd (without . and ..), sorted. */
static int list_dir(int dfd, char ***out, size_t *nout)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nv = realloc(v, ncap * sizeof(*v));
			if (nv == NULL)
				goto fail;
			v = nv;
			cap = ncap;
		}
		char *name = strdup(de->d_name);
		if (name == NULL)
			goto fail;
		v[n++] = name;
		errno = 0;
	}
	if (errno != 0)
		goto fail;
	closedir(d);
	*out = v;
	*nout = n;
	return 0;
fail:
	closedir(d);
	while (n > 0)
		free(v[--n]);
	free(v);
	return -1;
}

/* qsort/bsearch comparator for arrays of strings. */
static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Free a list from list_dir(). */
static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
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

/* Move a damaged queue entry (and its state file) to corrupt/, logging why. */
static void quarantine(struct spool *sp, const char *name, const char *why)
{
	char st[ST_NAME_MAX];

	log_warn("spool: queue/%s is damaged (%s): moved to corrupt/", name, why);
	if (move_corrupt(sp, sp->qfd, name) < 0) {
		log_err("spool: cannot move queue/%s to corrupt/: %s", name, strerror(errno));
		return;
	}
	if (spool_qid_valid(name)) {
		spool_st_name(st, name);
		if (move_corrupt(sp, sp->stfd, st) < 0 && errno != ENOENT)
			log_err("spool: cannot move state/%s to corrupt/: %s", st, strerror(errno));
	}
}

/* Remove every leftover in tmp/ (messages that never reached queue/). */
static void clean_tmp(struct spool *sp)
{
	char **v;
	size_t n;

	if (list_dir(sp->tmpfd, &v, &n) < 0) {
		log_err("spool: cannot list %s/tmp: %s", sp->dir, strerror(errno));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (unlinkat(sp->tmpfd, v[i], 0) < 0)
			log_warn("spool: cannot remove tmp/%s: %s", v[i], strerror(errno));
		else
			log_info("spool: removed unfinished tmp/%s", v[i]);
	}
	free_list(v, n);
}

/* Delete state files whose message is not in keep[0..nkeep) (sorted). */
static void clean_state(struct spool *sp, char **keep, size_t nkeep)
{
	char **v, qid[SPOOL_QID_LEN + 1];
	size_t n;

	if (list_dir(sp->stfd, &v, &n) < 0) {
		log_err("spool: cannot list %s/state: %s", sp->dir, strerror(errno));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(v[i]);
		if (len == ST_NAME_MAX - 1 && strcmp(v[i] + SPOOL_QID_LEN, ST_SUFFIX) == 0) {
			char *key = qid;
			memcpy(qid, v[i], SPOOL_QID_LEN);
			qid[SPOOL_QID_LEN] = '\0';
			if (bsearch(&key, keep, nkeep, sizeof(*keep), cmp_names) != NULL)
				continue;
		}
		if (unlinkat(sp->stfd, v[i], 0) < 0)
			log_warn("spool: cannot remove state/%s: %s", v[i], strerror(errno));
		else
			log_info("spool: removed orphan state/%s", v[i]);
	}
	free_list(v, n);
}

/* Start-up recovery; returns the number of good messages or -1. */
long spool_recover(struct spool *sp, spool_scan_cb cb, void *arg)
{
	char **v;
	size_t n, nkeep = 0;
	long count = 0;

	if (flock(sp->fd, LOCK_EX | LOCK_NB) < 0) {
		log_err("spool: %s is in use by another process (%s)", sp->dir, strerror(errno));
		return -1;
	}
	clean_tmp(sp);
	if (list_dir(sp->qfd, &v, &n) < 0) {
		log_err("spool: cannot list %s/queue: %s", sp->dir, strerror(errno));
		return -1;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct spool_env env;
		const char *why = NULL;
		int rc;

		if (!spool_qid_valid(v[i])) {
			quarantine(sp, v[i], "file name is not a queue ID");
			free(v[i]);
			continue;
		}
		rc = spool_load_file(sp, v[i], &env, &why, NULL);
		if (rc == -1) {
			quarantine(sp, v[i], why);
			free(v[i]);
			continue;
		}
		v[nkeep++] = v[i]; /* kept, even if unreadable now (-2) */
		if (rc == -2) {
			log_err("spool: queue/%s: %s (left for the next start)", v[i],
				strerror(errno));
			continue;
		}
		spool_apply_state(sp, &env);
		if (cb != NULL)
			cb(&env, arg);
		spool_env_clear(&env);
		count++;
	}
	clean_state(sp, v, nkeep);
	free_list(v, nkeep);
	if (fsync(sp->qfd) < 0 || fsync(sp->corfd) < 0 || fsync(sp->stfd) < 0 ||
	    fsync(sp->tmpfd) < 0)
		log_err("spool: fsync of %s subdirectories: %s", sp->dir, strerror(errno));
	return count;
}
