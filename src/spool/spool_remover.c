/*
 * spool_remover.c - removal of delivered messages, off the event loop.
 *
 * Unlinking a queue file and the fsync of queue/ that makes removals durable
 * both wait for the file system's journal: measured during a drain to a
 * primary that takes 50 ms a message, single unlinkat() calls took up to
 * 22 ms and the loop spent about 40 % of its time in them, while every
 * other delivery connection waited.  So the loop only hands the queue ID to
 * this worker thread, which unlinks every ID handed over since its last
 * round and then makes them durable with one fsync of queue/ (a group
 * commit of removals).  A crash before that fsync can bring a removed
 * message back, and it is delivered again: at-least-once, as before.
 *
 * Ownership: the caller owns the remover; spool_remover_free() finishes
 * every removal handed over, then stops the thread.  The worker touches
 * only the spool's directory descriptors (read-only after spool_open) and
 * its own lists.
 */
#include "spool/spool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

typedef char spool_rm_qid[SPOOL_QID_LEN + 1];

struct spool_remover {
	struct spool *sp;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	spool_rm_qid *todo;        /* handed over, not yet taken by the worker */
	size_t ntodo, cap;
	int stop;
};

/* Unlink a batch of queue IDs, then one fsync of queue/. */
static void spool_remover_batch(struct spool *sp, spool_rm_qid *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (spool_remove_nosync(sp, ids[i]) < 0 && errno != ENOENT)
			log_err("%s: cannot remove queue file: %s", ids[i], strerror(errno));
	if (n && spool_sync_queue(sp) < 0)
		log_warn("spool: fsync of queue/ after removals: %s", strerror(errno));
}

/* The worker: take everything handed over, remove it, repeat until stopped. */
static void *spool_remover_main(void *arg)
{
	struct spool_remover *rm = arg;
	spool_rm_qid *mine = NULL;
	size_t mycap = 0;

	pthread_mutex_lock(&rm->mu);
	for (;;) {
		while (!rm->ntodo && !rm->stop)
			pthread_cond_wait(&rm->cv, &rm->mu);
		if (!rm->ntodo)
			break;
		/* swap lists: the loop fills the other one meanwhile */
		spool_rm_qid *ids = rm->todo;
		size_t n = rm->ntodo, cap = rm->cap;
		rm->todo = mine;
		rm->cap = mycap;
		rm->ntodo = 0;
		mine = ids;
		mycap = cap;
		pthread_mutex_unlock(&rm->mu);
		spool_remover_batch(rm->sp, mine, n);
		pthread_mutex_lock(&rm->mu);
	}
	pthread_mutex_unlock(&rm->mu);
	free(mine);
	return NULL;
}

/* Start a remover for sp; NULL if the thread cannot start. */
struct spool_remover *spool_remover_new(struct spool *sp)
{
	struct spool_remover *rm = calloc(1, sizeof(*rm));
	if (!rm)
		return NULL;
	rm->sp = sp;
	pthread_mutex_init(&rm->mu, NULL);
	pthread_cond_init(&rm->cv, NULL);
	if (pthread_create(&rm->thread, NULL, spool_remover_main, rm) != 0) {
		pthread_cond_destroy(&rm->cv);
		pthread_mutex_destroy(&rm->mu);
		free(rm);
		return NULL;
	}
	return rm;
}

/* Hand a queue ID over for removal; -1 (nothing handed over) if out of memory. */
int spool_remover_add(struct spool_remover *rm, const char *qid)
{
	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&rm->mu);
	if (rm->ntodo == rm->cap) {
		size_t ncap = rm->cap ? rm->cap * 2 : 256;
		spool_rm_qid *nv = realloc(rm->todo, ncap * sizeof(*nv));
		if (!nv) {
			pthread_mutex_unlock(&rm->mu);
			errno = ENOMEM;
			return -1;
		}
		rm->todo = nv;
		rm->cap = ncap;
	}
	memcpy(rm->todo[rm->ntodo++], qid, SPOOL_QID_LEN + 1);
	if (rm->ntodo == 1)
		pthread_cond_signal(&rm->cv);
	pthread_mutex_unlock(&rm->mu);
	return 0;
}

/* Finish every removal handed over, stop the thread and free the remover. */
void spool_remover_free(struct spool_remover *rm)
{
	if (!rm)
		return;
	pthread_mutex_lock(&rm->mu);
	rm->stop = 1;
	pthread_cond_signal(&rm->cv);
	pthread_mutex_unlock(&rm->mu);
	pthread_join(rm->thread, NULL);
	free(rm->todo);
	pthread_cond_destroy(&rm->cv);
	pthread_mutex_destroy(&rm->mu);
	free(rm);
}
