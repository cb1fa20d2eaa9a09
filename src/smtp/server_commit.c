/*
 * server_commit.c - the group commit of the inbound server and its worker
 * thread.
 *
 * A finished message is answered 250 only after spool_commit() made it
 * durable.  smtp_commit_queue() parks it on srv->commits and arms a 0 ms
 * timer, so that every message that finishes in the same loop pass shares
 * one commit.  The commit runs on a worker thread (smtp_commit_worker) so
 * that the event loop keeps reading other sessions while the disk syncs: one
 * batch is being synced; messages that finish meanwhile are added, at the
 * end of each loop pass, to the next batch, which the worker takes the
 * moment it is done with the previous one; a pipe wakes the loop to answer
 * the synced batch.  If the thread cannot be started, or at shutdown, the
 * commit runs inline.
 *
 * Threads: the worker only calls spool_commit() on the batch's messages
 * (smtp_commit_sync) and touches the fields marked "under mu"; every
 * session, reply and hook is handled on the loop thread.  Only the loop
 * thread sets srv->job_next.  Ownership: a batch owns its commits; a commit
 * whose session is gone (session NULL) is still committed, just not answered.
 * Memory running out answers the waiting senders 451.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "smtp/server_int.h"

/* One batch of finished messages on its way to disk. */
struct smtp_commit_job {
	struct smtp_commit *list, **tail;
	size_t n, cap;
	struct spool_msg **msgs;
	int *ok;
	int failed;                    /* spool_commit() failure */
	struct smtp_commit_job *next;  /* in srv->done */
};

/* Schedule the group commit at the end of this loop iteration. */
void smtp_commit_queue(struct smtp_session *s)
{
	struct smtp_server *srv = s->srv;
	struct smtp_commit *cm = calloc(1, sizeof(*cm));
	if (!cm) {
		smtp_txn_reset(s);
		smtp_reply(s, "451 4.3.0 Error: out of memory");
		smtp_enter_state(s, smtp_idle_state(s));
		return;
	}
	cm->session = s;
	cm->msg = s->msg;
	cm->env = s->env;
	cm->env.size = spool_msg_size(s->msg);   /* as stored: our Received: and the kept DATA */
	cm->env.body_8bit |= s->rd.saw_8bit;
	s->msg = NULL;
	memset(&s->env, 0, sizeof(s->env));
	s->have_mail = 0;
	s->commit = cm;
	*srv->commits_tail = cm;
	srv->commits_tail = &cm->next;
	srv->ncommits++;
	smtp_enter_state(s, SS_COMMIT);
	if (!io_timer_pending(srv->commit_timer))
		io_timer_add(srv->commit_timer, 0);
}

/* Answer every queued message 451 (out of memory) and drop it. */
static void smtp_commit_refuse_queued(struct smtp_server *srv)
{
	struct smtp_commit *list = srv->commits;
	log_err("spool: out of memory committing %zu message(s)", srv->ncommits);
	srv->commits = NULL;
	srv->commits_tail = &srv->commits;
	srv->ncommits = 0;
	while (list) {
		struct smtp_commit *cm = list;
		list = cm->next;
		spool_msg_abort(cm->msg);
		if (cm->session) {
			cm->session->commit = NULL;
			smtp_reply(cm->session, "451 4.3.0 Error: out of memory");
			smtp_enter_state(cm->session, smtp_idle_state(cm->session));
		}
		spool_env_clear(&cm->env);
		free(cm);
	}
}

/* Move every queued message into job (loop thread; the caller holds mu if
 * the worker can see job).  0, or -1 if memory ran out (nothing moved). */
static int smtp_commit_move(struct smtp_server *srv, struct smtp_commit_job *job)
{
	size_t n = job->n + srv->ncommits;
	if (n > job->cap || !job->msgs || !job->ok) {
		size_t cap = n < 16 ? 16 : n * 2;
		struct spool_msg **msgs = realloc(job->msgs, cap * sizeof(*msgs));
		if (!msgs)
			return -1;
		job->msgs = msgs;
		int *ok = realloc(job->ok, cap * sizeof(*ok));
		if (!ok)
			return -1;
		job->ok = ok;
		job->cap = cap;
	}
	for (struct smtp_commit *cm = srv->commits; cm && job->n < n; cm = cm->next)
		job->msgs[job->n++] = cm->msg;
	*job->tail = srv->commits;
	job->tail = srv->commits_tail;
	srv->commits = NULL;
	srv->commits_tail = &srv->commits;
	srv->ncommits = 0;
	return 0;
}

/* Take every queued message off the server as one new batch (NULL if none,
 * or if memory ran out: then every queued sender is answered 451 here). */
static struct smtp_commit_job *smtp_commit_take(struct smtp_server *srv)
{
	if (srv->ncommits == 0)
		return NULL;
	struct smtp_commit_job *job = calloc(1, sizeof(*job));
	if (job) {
		job->tail = &job->list;
		if (smtp_commit_move(srv, job) == 0)
			return job;
		free(job->msgs);
		free(job->ok);
		free(job);
	}
	smtp_commit_refuse_queued(srv);
	return NULL;
}

/* Make a batch durable (any thread: touches only msgs, n, ok and failed). */
static void smtp_commit_sync(struct smtp_server *srv, struct smtp_commit_job *job)
{
	if (spool_commit(srv->spool, job->msgs, job->n, job->ok) < 0)
		job->failed = 1;
}

/* Answer every sender of a synced batch and free it (loop thread). */
static void smtp_commit_answer(struct smtp_server *srv, struct smtp_commit_job *job)
{
	size_t i = 0;
	struct smtp_commit *list = job->list;
	if (job->failed)
		log_warn("spool: group commit of %zu message(s) failed partly", job->n);
	while (list) {
		struct smtp_commit *cm = list;
		struct smtp_session *s = cm->session;
		int good = job->ok[i];
		list = cm->next;
		i++;
		if (good) {
			srv->stats.messages++;
			log_info("%s: from=<%s>, size=%llu, nrcpt=%zu, client=%s[%s]", cm->env.qid,
				 cm->env.sender, cm->env.size, cm->env.nrcpt,
				 cm->env.client_name ? cm->env.client_name : "unknown",
				 cm->env.client_addr ? cm->env.client_addr : "");
			if (srv->hooks.queued)
				srv->hooks.queued(&cm->env, srv->hooks.arg);
		} else {
			log_err("%s: queue file could not be committed", cm->env.qid);
		}
		if (s) {
			s->commit = NULL;
			smtp_session_enter(s);
			if (good)
				smtp_reply(s, "250 2.0.0 Ok: queued as %s", cm->env.qid);
			else
				smtp_reply(s, "452 4.3.1 Insufficient system storage");
			smtp_enter_state(s, smtp_idle_state(s));
			smtp_session_leave(s);
		}
		spool_env_clear(&cm->env);
		free(cm);
	}
	free(job->msgs);
	free(job->ok);
	free(job);
}

/* Answer pipelined commands that were waiting behind a commit. */
static void smtp_commit_resume_sessions(struct smtp_server *srv)
{
	for (struct smtp_session *s = srv->sessions, *nx; s; s = nx) {
		nx = s->next;
		if (s->state == SS_READY || s->state == SS_GREET)
			smtp_session_run(s);
	}
}

/* Worker thread: sync the waiting batch, hand it back, and go straight on
 * to the next one (which the loop filled meanwhile), waking the loop. */
static void *smtp_commit_worker(void *arg)
{
	struct smtp_server *srv = arg;
	pthread_mutex_lock(&srv->mu);
	for (;;) {
		while (!srv->job_next && !srv->worker_stop)
			pthread_cond_wait(&srv->cv, &srv->mu);
		if (!srv->job_next)
			break;
		struct smtp_commit_job *job = srv->job_next;
		srv->job_next = NULL;
		srv->worker_busy = 1;
		pthread_mutex_unlock(&srv->mu);
		smtp_commit_sync(srv, job);
		pthread_mutex_lock(&srv->mu);
		srv->worker_busy = 0;
		*srv->done_tail = job;
		srv->done_tail = &job->next;
		pthread_cond_broadcast(&srv->cv);
		ssize_t w = write(srv->wake[1], "x", 1);   /* pipe full = already awake */
		(void)w;
	}
	pthread_mutex_unlock(&srv->mu);
	return NULL;
}

/* Answer every batch the worker has finished, in order (loop thread). */
static void smtp_commit_answer_done(struct smtp_server *srv)
{
	pthread_mutex_lock(&srv->mu);
	struct smtp_commit_job *done = srv->done;
	srv->done = NULL;
	srv->done_tail = &srv->done;
	pthread_mutex_unlock(&srv->mu);
	while (done) {
		struct smtp_commit_job *job = done;
		done = job->next;
		srv->jobs_out--;
		smtp_commit_answer(srv, job);
	}
}

/* Wait until the worker has finished every batch, and answer them. */
static void smtp_commit_wait(struct smtp_server *srv)
{
	if (srv->jobs_out == 0)
		return;
	pthread_mutex_lock(&srv->mu);
	while (srv->job_next || srv->worker_busy)
		pthread_cond_wait(&srv->cv, &srv->mu);
	pthread_mutex_unlock(&srv->mu);
	smtp_commit_answer_done(srv);
}

/* Commit everything now, on this thread (shutdown, no worker). */
void smtp_commit_inline(struct smtp_server *srv)
{
	smtp_commit_wait(srv);
	struct smtp_commit_job *job = smtp_commit_take(srv);
	if (job) {
		smtp_commit_sync(srv, job);
		smtp_commit_answer(srv, job);
	}
}

/* End of a loop pass: hand every message that finished to the worker, as a
 * new batch or added to the one still waiting for it (group commit); or
 * commit inline without a worker. */
static void smtp_commit_run(void *arg)
{
	struct smtp_server *srv = arg;
	if (srv->ncommits == 0)
		return;
	if (!srv->worker_on || srv->shutting_down) {
		smtp_commit_inline(srv);
		smtp_commit_resume_sessions(srv);
		smtp_server_check_done(srv);
		return;
	}
	/* only this thread sets job_next, so it stays NULL once seen NULL */
	pthread_mutex_lock(&srv->mu);
	int waiting = srv->job_next != NULL;
	int added = waiting && smtp_commit_move(srv, srv->job_next) == 0;
	pthread_mutex_unlock(&srv->mu);
	if (added)
		return;
	struct smtp_commit_job *job = waiting ? NULL : smtp_commit_take(srv);
	if (!job) {
		if (srv->ncommits)   /* out of memory growing the waiting batch */
			smtp_commit_refuse_queued(srv);
		smtp_commit_resume_sessions(srv);
		return;
	}
	srv->jobs_out++;
	pthread_mutex_lock(&srv->mu);
	srv->job_next = job;
	pthread_cond_signal(&srv->cv);
	pthread_mutex_unlock(&srv->mu);
}

/* The worker finished a batch: answer it. */
static void smtp_commit_woken(int fd, void *arg)
{
	struct smtp_server *srv = arg;
	char buf[64];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	smtp_commit_answer_done(srv);
	smtp_commit_resume_sessions(srv);
	smtp_server_check_done(srv);
}

/* Start the commit worker thread; 0 or -1 (then commits run inline). */
static int smtp_commit_worker_start(struct smtp_server *srv)
{
	if (pipe2(srv->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		srv->wake[0] = srv->wake[1] = -1;
		return -1;
	}
	srv->wake_watch = io_watch_new(srv->loop, srv->wake[0], smtp_commit_woken, srv);
	if (!srv->wake_watch)
		return -1;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_cond_init(&srv->cv, NULL);
	if (pthread_create(&srv->worker, NULL, smtp_commit_worker, srv) != 0) {
		pthread_cond_destroy(&srv->cv);
		pthread_mutex_destroy(&srv->mu);
		return -1;
	}
	srv->worker_on = 1;
	return 0;
}

/* Stop the worker (after its batch) and release the pipe. */
void smtp_commit_worker_stop(struct smtp_server *srv)
{
	if (srv->worker_on) {
		smtp_commit_wait(srv);
		pthread_mutex_lock(&srv->mu);
		srv->worker_stop = 1;
		pthread_cond_signal(&srv->cv);
		pthread_mutex_unlock(&srv->mu);
		pthread_join(srv->worker, NULL);
		pthread_cond_destroy(&srv->cv);
		pthread_mutex_destroy(&srv->mu);
		srv->worker_on = 0;
	}
	io_watch_free(srv->wake_watch);
	srv->wake_watch = NULL;
	for (int i = 0; i < 2; i++)
		if (srv->wake[i] >= 0)
			close(srv->wake[i]);
	srv->wake[0] = srv->wake[1] = -1;
}

/* Set up the group commit: lists, timer, worker (inline commits without one). */
int smtp_commit_setup(struct smtp_server *srv)
{
	srv->commits_tail = &srv->commits;
	srv->done_tail = &srv->done;
	srv->commit_timer = io_timer_new(srv->loop, smtp_commit_run, srv);
	if (!srv->commit_timer)
		return -1;
	srv->wake[0] = srv->wake[1] = -1;
	if (smtp_commit_worker_start(srv) < 0) {
		log_warn("smtp: no commit thread (%s); committing inline", strerror(errno));
		smtp_commit_worker_stop(srv);
	}
	return 0;
}
