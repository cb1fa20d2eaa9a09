/*
 * relay_msg.c - the queued messages in memory: what scheduling needs, and
 * nothing more (issue 17: memory bounded by design, not by the queue).
 *
 * A message in memory is a struct relay_msg (its queue ID, arrival, size,
 * backoff and counters) and one relay_job per destination (the indexes of
 * its pending recipients there): about 240 bytes for a message of one
 * recipient.  The envelope (sender, recipient addresses, DSN parameters,
 * client facts) stays in the queue file.  relay_msg_env_get() reads it,
 * with the delivery state of state/ID.st applied, when a delivery starts,
 * a DSN is written or a listing shows the message; the last
 * relay_msg_env_put() frees it.  An active job holds it from
 * relay_job_take() to the end of its transaction, so recipient states
 * changed in memory by a delivery are written (spool_set_rcpt_state) before
 * the envelope can be dropped; one whose write failed (disk full) keeps it
 * until relay_msg_record() succeeds.
 *
 * Errors: a message keeps its last error, interned in a small table, so the
 * thousand messages a dead primary deferred share one copy.
 *
 * Also here: the message hash (grown as the queue grows), the jobs'
 * per-destination totals read by status and /metrics without a walk of the
 * queue, and the sweep (expiry and delay warnings).
 */
#include "relay/relay_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* The budget of issue 17 (<= 256 bytes of RSS per queued message): one
 * allocation of at most 200 octets (a 208-byte malloc chunk) per message of
 * one destination, plus its hash slot. */
_Static_assert(sizeof(struct relay_msg) <= 200, "a queued message stays small");

/* One interned error string. */
struct relay_errstr {
	struct relay_errstr *next;
	unsigned long refs;
	char s[];
};

static const char relay_no_error[] = "";

/* The status of an expiry DSN, by relay_msg.final_status. */
static const char *const relay_final_codes[3] = {"5.4.7", "5.6.7", "5.6.3"};

/* Create the message hash.  0 or -1. */
int relay_msgs_init(struct relay *r)
{
	r->msg_buckets = RELAY_MSG_BUCKETS;
	r->msgs = calloc(r->msg_buckets, sizeof(*r->msgs));
	return r->msgs ? 0 : -1;
}

/* Double the message hash when chains grow past 2 on average (kept as is
 * when out of memory: lookups only get slower). */
static void relay_msgs_grow(struct relay *r)
{
	size_t nb = r->msg_buckets * 2;
	struct relay_msg **t = calloc(nb, sizeof(*t));
	if (!t)
		return;
	for (size_t b = 0; b < r->msg_buckets; b++) {
		for (struct relay_msg *m = r->msgs[b], *nx; m; m = nx) {
			nx = m->hnext;
			unsigned h = relay_hash(m->qid, nb);
			m->hnext = t[h];
			t[h] = m;
		}
	}
	free(r->msgs);
	r->msgs = t;
	r->msg_buckets = nb;
}

/* Find a message by queue ID. */
struct relay_msg *relay_msg_find(struct relay *r, const char *qid)
{
	for (struct relay_msg *m = r->msgs[relay_hash(qid, r->msg_buckets)]; m; m = m->hnext)
		if (strcmp(m->qid, qid) == 0)
			return m;
	return NULL;
}

/* Drop one reference to an interned error. */
static void relay_err_release(struct relay *r, const char *s)
{
	if (s == relay_no_error)
		return;
	struct relay_errstr **pp = &r->errs[relay_hash(s, RELAY_ERR_BUCKETS)];
	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->s == s) {
			struct relay_errstr *e = *pp;
			if (--e->refs == 0) {
				*pp = e->next;
				free(e);
			}
			return;
		}
	}
}

/* Set m's last error (interned: messages that failed alike share it). */
void relay_msg_set_error(struct relay *r, struct relay_msg *m, const char *err)
{
	char buf[RELAY_ERR_MAX];
	snprintf(buf, sizeof(buf), "%s", err ? err : "");
	if (strcmp(buf, m->last_error) == 0)
		return;
	relay_err_release(r, m->last_error);
	m->last_error = relay_no_error;
	if (!buf[0])
		return;
	unsigned h = relay_hash(buf, RELAY_ERR_BUCKETS);
	struct relay_errstr *e;
	for (e = r->errs[h]; e; e = e->next)
		if (strcmp(e->s, buf) == 0)
			break;
	if (!e) {
		size_t len = strlen(buf) + 1;
		if (!(e = malloc(sizeof(*e) + len)))
			return;   /* the message only loses its error text */
		memcpy(e->s, buf, len);
		e->refs = 0;
		e->next = r->errs[h];
		r->errs[h] = e;
	}
	e->refs++;
	m->last_error = e->s;
}

/* m's envelope, read from the spool unless a holder already did. */
struct spool_env *relay_msg_env_get(struct relay *r, struct relay_msg *m)
{
	if (!m->env) {
		struct spool_env *env = calloc(1, sizeof(*env));
		if (!env)
			return NULL;
		if (spool_load(r->spool, m->qid, env) < 0) {
			int e = errno;
			log_err("%s: cannot read the queue file: %s", m->qid, strerror(e));
			free(env);
			errno = e;
			return NULL;
		}
		m->env = env;
	}
	m->env_refs++;
	return m->env;
}

/* For the reports: m's envelope (relay_msg_env_get), or, when the queue file
 * cannot be read, *none filled to show that: sender "?", no recipients.
 * Pair it with relay_msg_env_unshow(). */
const struct spool_env *relay_msg_env_show(struct relay *r, struct relay_msg *m,
					   struct spool_env *none)
{
	static char unreadable[] = "?";
	const struct spool_env *env = relay_msg_env_get(r, m);
	if (env)
		return env;
	memset(none, 0, sizeof(*none));
	memcpy(none->qid, m->qid, sizeof(none->qid));
	none->sender = unreadable;
	none->arrival = m->arrival;
	none->size = m->size;
	return none;
}

/* The end of a relay_msg_env_show(). */
void relay_msg_env_unshow(struct relay_msg *m, const struct spool_env *env)
{
	if (env && env == m->env)
		relay_msg_env_put(m);
}

/* Free m's loaded envelope, whoever held it. */
static void relay_msg_env_drop(struct relay_msg *m)
{
	if (!m->env)
		return;
	spool_env_clear(m->env);
	free(m->env);
	m->env = NULL;
	m->env_refs = 0;
}

/* Drop one hold of m's envelope; the last one frees it. */
void relay_msg_env_put(struct relay_msg *m)
{
	if (!m->env || !m->env_refs)
		return;
	if (--m->env_refs == 0 && !m->unrecorded)
		relay_msg_env_drop(m);
}

/* A recipient of m ended (sent or bounced): one fewer pending. */
void relay_msg_rcpt_done(struct relay_msg *m)
{
	if (m->npending)
		m->npending--;
}

/* Count job j in (add 1) or out of (add 0) its destination's totals. */
void relay_job_count(struct relay_job *j, int add)
{
	struct relay_dest *d = j->dest;
	const struct relay_msg *m = j->msg;
	if (add) {
		d->njobs++;
		d->jbytes += m->size;
		if (!d->joldest_stale && (!d->joldest || m->arrival < d->joldest))
			d->joldest = m->arrival;
		return;
	}
	d->njobs--;
	d->jbytes -= m->size;
	if (m->arrival <= d->joldest)
		d->joldest_stale = 1;
	if (!d->njobs) {
		d->joldest = 0;
		d->joldest_stale = 0;
	}
}

/* Free a message (its jobs are gone) and what it holds. */
static void relay_msg_free(struct relay *r, struct relay_msg *m)
{
	struct relay_msg **pp = &r->msgs[relay_hash(m->qid, r->msg_buckets)];
	while (*pp && *pp != m)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = m->hnext;
	if (m->prev)
		m->prev->next = m->next;
	else
		r->head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		r->tail = m->prev;
	r->nmsgs--;
	r->qbytes -= m->size;
	relay_err_release(r, m->last_error);
	relay_msg_env_drop(m);
	free(m);
}

/* Is recipient state st still to deliver?  1 or 0. */
static int relay_rstate_pending(enum spool_rstate st)
{
	return st == SPOOL_R_PENDING || st == SPOOL_R_DEFERRED;
}

/* A new job of m for d with the pending recipients of env in d's domain
 * from index i on (done[] marks those taken), or NULL. */
static struct relay_job *relay_job_new(struct relay_msg *m, struct relay_dest *d,
				       const struct spool_env *env, size_t i, char *done)
{
	char dom[DNS_NAME_MAX];
	size_t n = 0;
	for (size_t k = i; k < env->nrcpt; k++)
		if (!done[k] && relay_rstate_pending(env->rcpt[k].state) &&
		    strcmp(relay_addr_domain(env->rcpt[k].addr, dom, sizeof(dom)), d->domain) == 0)
			n++;
	size_t *many = n > 1 ? calloc(n, sizeof(size_t)) : NULL;
	if (n > 1 && !many)
		return NULL;
	struct relay_job *j = m->job0_used ? calloc(1, sizeof(*j)) : &m->job0;
	if (!j) {
		free(many);
		return NULL;
	}
	if (j == &m->job0) {
		memset(j, 0, sizeof(*j));
		m->job0_used = 1;
	}
	j->msg = m;
	j->dest = d;
	if (many) {
		j->rcpt.many = many;
		j->heap = 1;
	}
	size_t *idx = relay_job_rcpts(j);
	for (size_t k = i; k < env->nrcpt && j->n < n; k++) {
		if (done[k] || !relay_rstate_pending(env->rcpt[k].state) ||
		    strcmp(relay_addr_domain(env->rcpt[k].addr, dom, sizeof(dom)), d->domain))
			continue;
		idx[j->n++] = (size_t)k;
		done[k] = 1;
	}
	return j;
}

/* Create the jobs of a message: one per domain with pending recipients. */
static void relay_msg_schedule(struct relay *r, struct relay_msg *m, const struct spool_env *env)
{
	char dom[DNS_NAME_MAX];
	size_t n = env->nrcpt;
	char *done = calloc(n ? n : 1, 1);
	if (!done)
		return;
	for (size_t i = 0; i < n; i++) {
		if (done[i] || !relay_rstate_pending(env->rcpt[i].state))
			continue;
		struct relay_dest *d =
			relay_dest_get(r, relay_addr_domain(env->rcpt[i].addr, dom, sizeof(dom)));
		struct relay_job *j = d ? relay_job_new(m, d, env, i, done) : NULL;
		if (!j)
			continue;
		m->njobs++;
		j->mnext = m->jobs;
		m->jobs = j;
		relay_job_count(j, 1);
		relay_job_requeue(j, m->next_try);
		relay_dest_kick(d);
	}
	free(done);
}

/* A message is in the spool: track it and schedule its recipients (env is
 * the caller's; nothing of it is kept but the scheduling facts). */
void relay_add(struct relay *r, const struct spool_env *env)
{
	if (relay_msg_find(r, env->qid))
		return;
	struct relay_msg *m = calloc(1, sizeof(*m));
	if (!m) {
		log_err("%s: out of memory", env->qid);
		return;
	}
	snprintf(m->qid, sizeof(m->qid), "%s", env->qid);
	m->arrival = env->arrival;
	m->size = env->size;
	m->last_error = relay_no_error;
	for (size_t i = 0; i < env->nrcpt; i++) {
		if (env->rcpt[i].state == SPOOL_R_DEFERRED)
			m->warned = 1;
		if (relay_rstate_pending(env->rcpt[i].state))
			m->npending++;
	}
	if (r->nmsgs >= r->msg_buckets * 2)
		relay_msgs_grow(r);
	unsigned h = relay_hash(m->qid, r->msg_buckets);
	m->hnext = r->msgs[h];
	r->msgs[h] = m;
	m->prev = r->tail;
	if (r->tail)
		r->tail->next = m;
	else
		r->head = m;
	r->tail = m;
	r->nmsgs++;
	r->qbytes += m->size;
	m->seq = ++r->msg_seq;
	relay_msg_schedule(r, m, env);
	if (m->njobs == 0) {
		log_info("%s: no pending recipients; removed", m->qid);
		spool_remove(r->spool, m->qid);
		relay_msg_free(r, m);
	}
}

/* Once no job is alive and nothing is pending (or it was dropped): remove
 * the queue file (through the remover thread) and free the message. */
void relay_msg_remove_if_done(struct relay *r, struct relay_msg *m)
{
	if (m->njobs || m->nactive)
		return;
	if (m->npending && !m->deleted)
		return;
	/* unlink and fsync of queue/ wait for the journal: the remover thread
	 * does them, so the loop goes on delivering */
	if (spool_remover_add(r->remover, m->qid) < 0 &&
	    spool_remove(r->spool, m->qid) < 0 && errno != ENOENT)
		log_err("%s: cannot remove queue file: %s", m->qid, strerror(errno));
	else
		log_info("%s: removed", m->qid);
	relay_msg_free(r, m);
}

/* Write the state of every finished recipient again after a failed state
 * write (disk full), so that a restart does not deliver them twice. */
void relay_msg_record(struct relay *r, struct relay_msg *m)
{
	int ok = 1;
	for (size_t i = 0; m->env && i < m->env->nrcpt && ok; i++) {
		enum spool_rstate st = m->env->rcpt[i].state;
		if ((st == SPOOL_R_SENT || st == SPOOL_R_BOUNCED) &&
		    spool_set_rcpt_state(r->spool, m->qid, i, st, NULL) < 0)
			ok = 0;
	}
	if (!ok)
		return;
	m->unrecorded = 0;
	log_info("%s: delivery state recorded after an earlier write failure", m->qid);
	if (!m->env_refs)   /* it was kept for this write only */
		relay_msg_env_drop(m);
}

/* Drop a message: queued jobs go now, active ones finish first. */
void relay_msg_drop(struct relay *r, struct relay_msg *m)
{
	m->deleted = 1;
	for (struct relay_job *j = m->jobs, *nx; j; j = nx) {
		nx = j->mnext;
		if (j->list)
			relay_job_free(j);
	}
	relay_msg_remove_if_done(r, m);
}

/* Free every message (their jobs went with their destinations) and the
 * tables. */
void relay_msgs_free(struct relay *r)
{
	while (r->head)
		relay_msg_free(r, r->head);
	free(r->msgs);
	r->msgs = NULL;
}

/* Arrival of the oldest queued message. */
time_t relay_oldest_arrival(const struct relay *r)
{
	return r->head ? r->head->arrival : 0;
}

/* Octets queued over all messages (a message for two domains counts once). */
unsigned long long relay_queue_bytes(const struct relay *r)
{
	return r->qbytes;
}

/* The pending recipients of env as indexes (a fresh array, *n set), each
 * with reason why; NULL when out of memory.  only_pending: not those
 * already deferred once (delay warnings go once per recipient). */
static size_t *relay_sweep_rcpts(const struct spool_env *env, int only_pending, size_t *n)
{
	size_t *idx = calloc(env->nrcpt ? env->nrcpt : 1, sizeof(size_t));
	*n = 0;
	for (size_t i = 0; idx && i < env->nrcpt; i++) {
		enum spool_rstate st = env->rcpt[i].state;
		if (only_pending ? st == SPOOL_R_PENDING : relay_rstate_pending(st))
			idx[(*n)++] = i;
	}
	return idx;
}

/* m outlived queue_lifetime: bounce what is left and drop it. */
static void relay_msg_expire(struct relay *r, struct relay_msg *m, time_t age)
{
	char diag[RELAY_ERR_MAX + 64];
	snprintf(diag, sizeof(diag), "delivery time expired (queue_lifetime %us): %s",
		 r->cfg->queue_lifetime, m->last_error[0] ? m->last_error : "not delivered");
	const struct spool_env *env = relay_msg_env_get(r, m);
	if (!env && errno != ENOENT)
		return;   /* unreadable now (EMFILE...): the next sweep tries again */
	size_t n = 0, *idx = env ? relay_sweep_rcpts(env, 0, &n) : NULL;
	const char **why = idx ? calloc(n ? n : 1, sizeof(char *)) : NULL;
	if (why) {
		for (size_t i = 0; i < n; i++) {
			why[i] = diag;
			relay_history_add(r, m->qid, env->rcpt[idx[i]].addr, "expired", NULL, diag,
					  (double)age);
		}
		if (n) {
			r->stats.expired += n;
			relay_dsn_queue(r, m, idx, n, why, NULL,
					relay_final_codes[m->final_status % 3], 0);
		}
	} else if (env) {
		log_err("%s: out of memory: expired without a DSN", m->qid);
	}
	free(idx);
	free(why);
	if (env)
		relay_msg_env_put(m);
	relay_msg_drop(r, m);
}

/* m waited delay_warning: tell the sender once (RFC 3464 "delayed"). */
static void relay_msg_warn(struct relay *r, struct relay_msg *m)
{
	const struct spool_env *env = relay_msg_env_get(r, m);
	if (!env)
		return;   /* tried again at the next sweep */
	size_t n = 0, *idx = relay_sweep_rcpts(env, 1, &n);
	const char **why = idx ? calloc(n ? n : 1, sizeof(char *)) : NULL;
	if (why) {
		for (size_t i = 0; i < n; i++)
			why[i] = m->last_error[0] ? m->last_error : "not yet delivered";
		m->warned = 1;
		if (n)
			relay_dsn_queue(r, m, idx, n, why, NULL, NULL, 1);
	}
	free(idx);
	free(why);
	relay_msg_env_put(m);
}

/* How often the lifetime sweep runs: often enough for short test lifetimes. */
uint64_t relay_sweep_ms(const struct relay *r)
{
	uint64_t ms = RELAY_SWEEP_MS;
	uint64_t l = (uint64_t)r->cfg->queue_lifetime * 200;   /* a fifth of the lifetime */
	if (r->cfg->delay_warning && (uint64_t)r->cfg->delay_warning * 200 < l)
		l = (uint64_t)r->cfg->delay_warning * 200;
	if (l < ms)
		ms = l < 1000 ? 1000 : l;
	return ms;
}

/* Expire messages past queue_lifetime and send delay warnings. */
void relay_sweep(void *arg)
{
	struct relay *r = arg;
	const struct config *cfg = r->cfg;
	time_t now = time(NULL);
	for (struct relay_msg *m = r->head, *nx; m; m = nx) {
		nx = m->next;
		if (m->nactive || m->deleted)
			continue;
		if (m->unrecorded)
			relay_msg_record(r, m);
		time_t age = now - m->arrival;
		if (age >= (time_t)cfg->queue_lifetime)
			relay_msg_expire(r, m, age);
		else if (cfg->delay_warning && !m->warned && age >= (time_t)cfg->delay_warning)
			relay_msg_warn(r, m);
	}
	io_timer_add(r->sweep_timer, relay_sweep_ms(r));
}
