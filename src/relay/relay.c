/*
 * relay.c - the delivery engine's core: destinations, jobs and the
 * scheduling rules (the messages themselves are in relay_msg.c).
 *
 * A message is split into jobs, one per destination (recipient domain),
 * each holding that message's pending recipients for the domain.  A
 * destination keeps a FIFO of ready jobs and a list of waiting ones (per
 * message backoff).  relay_dest_kick() opens connections while the
 * destination is usable, the concurrency limit allows and ready jobs wait
 * without a connection.  A destination that fails is "down": only its probe
 * touches it until the probe succeeds, and then every ready job goes at once
 * (relay_dest_up).  Holds are persisted in SPOOL/holds.
 */
#include "relay/relay_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static const char *const relay_state_names[] = {"unknown", "up", "down", "loop"};

/* FNV-1a hash. */
unsigned relay_hash(const char *s, size_t buckets)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (unsigned)(h % buckets);
}

/* Every state change of a destination: keeps r->nstate[] counted. */
static void relay_dest_set_state(struct relay_dest *d, enum relay_dstate st)
{
	d->r->nstate[d->state & 3]--;
	d->state = st;
	d->r->nstate[st & 3]++;
	d->since = time(NULL);
}

/* The state name shown in status. */
const char *relay_dest_state_name(const struct relay_dest *d)
{
	return d->held ? "held" : relay_state_names[d->state];
}

/* Find a destination by domain. */
struct relay_dest *relay_dest_find(struct relay *r, const char *domain)
{
	for (struct relay_dest *d = r->dests[relay_hash(domain, RELAY_DEST_BUCKETS)]; d;
	     d = d->hnext)
		if (strcmp(d->domain, domain) == 0)
			return d;
	return NULL;
}

/* Is domain held?  1 or 0. */
int relay_held(const struct relay *r, const char *domain)
{
	for (size_t i = 0; i < r->nholds; i++)
		if (strcmp(r->holds[i], domain) == 0)
			return 1;
	return 0;
}

/* Probe timer fired: re-resolve or probe a down destination. */
static void relay_dest_probe_due(void *arg)
{
	struct relay_dest *d = arg;
	if (d->held)
		return;
	relay_probe_start(d);
}

/* Move waiting jobs whose time has come to the ready list. */
static void relay_dest_wait_due(void *arg)
{
	struct relay_dest *d = arg;
	time_t now = time(NULL), next = 0;
	for (struct relay_job *j = d->wait_head, *nx; j; j = nx) {
		nx = j->next;
		if (j->not_before <= now) {
			relay_job_requeue(j, 0);
		} else if (!next || j->not_before < next) {
			next = j->not_before;
		}
	}
	d->wait_deadline = next;
	if (next)
		io_timer_add(d->wait_timer, (uint64_t)(next - now) * 1000);
	relay_dest_kick(d);
}

/* Find or create the destination for a domain. */
struct relay_dest *relay_dest_get(struct relay *r, const char *domain)
{
	struct relay_dest *d = relay_dest_find(r, domain);
	if (d)
		return d;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->r = r;
	snprintf(d->domain, sizeof(d->domain), "%s", domain);
	d->since = time(NULL);
	relay_ramp_reset(d);
	d->held = relay_held(r, domain);
	r->nstate[DEST_UNKNOWN]++;
	r->ndests++;
	d->probe_timer = io_timer_new(r->loop, relay_dest_probe_due, d);
	d->wait_timer = io_timer_new(r->loop, relay_dest_wait_due, d);
	unsigned h = relay_hash(domain, RELAY_DEST_BUCKETS);
	d->hnext = r->dests[h];
	r->dests[h] = d;
	d->next = r->dest_list;
	r->dest_list = d;
	return d;
}

/* Unlink a job from whatever list holds it. */
static void relay_job_unlink(struct relay_job *j)
{
	struct relay_dest *d = j->dest;
	if (j->list == 1) {
		if (j->prev)
			j->prev->next = j->next;
		else
			d->ready_head = j->next;
		if (j->next)
			j->next->prev = j->prev;
		else
			d->ready_tail = j->prev;
		d->nready--;
	} else if (j->list == 2) {
		if (j->prev)
			j->prev->next = j->next;
		else
			d->wait_head = j->next;
		if (j->next)
			j->next->prev = j->prev;
		d->nwait--;
	}
	j->list = 0;
	j->next = j->prev = NULL;
}

/* Put a job on the ready list (not_before 0/past) or the wait list. */
void relay_job_requeue(struct relay_job *j, time_t not_before)
{
	struct relay_dest *d = j->dest;
	time_t now = time(NULL);
	relay_job_unlink(j);
	j->not_before = not_before;
	if (not_before > now) {
		j->next = d->wait_head;
		if (j->next)
			j->next->prev = j;
		d->wait_head = j;
		j->list = 2;
		d->nwait++;
		if (!io_timer_pending(d->wait_timer) || not_before < d->wait_deadline) {
			d->wait_deadline = not_before;
			io_timer_add(d->wait_timer, (uint64_t)(not_before - now) * 1000);
		}
		return;
	}
	j->prev = d->ready_tail;
	if (d->ready_tail)
		d->ready_tail->next = j;
	else
		d->ready_head = j;
	d->ready_tail = j;
	j->list = 1;
	d->nready++;
}

/* Take the next ready job for a connection. */
struct relay_job *relay_job_take(struct relay_dest *d)
{
	struct relay_job *j;
	while ((j = d->ready_head)) {
		relay_job_unlink(j);
		struct relay_msg *m = j->msg;
		if (m->deleted) {
			relay_job_free(j);
			relay_msg_remove_if_done(d->r, m);
			continue;
		}
		if (!relay_msg_env_get(d->r, m)) {   /* logged */
			/* gone from the spool: nothing to deliver; damaged: kept
			 * in corrupt/ for the admin; else (EMFILE...) later */
			if (errno == ENOENT || (errno == EBADMSG &&
			    spool_quarantine(d->r->spool, m->qid, "unreadable at delivery") == 0)) {
				m->deleted = 1;
				relay_job_free(j);
				relay_msg_remove_if_done(d->r, m);
			} else {
				relay_job_requeue(j, time(NULL) + (time_t)d->r->cfg->retry_min);
			}
			continue;
		}
		m->nactive++;
		return j;
	}
	return NULL;
}

/* Free a job (the message itself stays: see relay_msg_finish). */
void relay_job_free(struct relay_job *j)
{
	struct relay_msg *m = j->msg;
	relay_job_unlink(j);
	for (struct relay_job **pp = &m->jobs; *pp; pp = &(*pp)->mnext) {
		if (*pp == j) {
			*pp = j->mnext;
			break;
		}
	}
	relay_job_count(j, 0);
	if (j->heap)
		free(j->rcpt.many);
	if (j == &m->job0)
		m->job0_used = 0;   /* in place: freed with the message */
	else
		free(j);
	m->njobs--;
}

/* Exponential backoff for a message after attempts failures. */
time_t relay_backoff(const struct relay *r, unsigned attempts)
{
	unsigned long long s = r->cfg->retry_min;
	for (unsigned i = 1; i < attempts && s < r->cfg->retry_max; i++)
		s *= 2;
	if (s > r->cfg->retry_max)
		s = r->cfg->retry_max;
	return (time_t)s;
}

/* Open connections while jobs wait and the limit allows.  The one place that
 * opens delivery connections: called after every job arrival, limit raise
 * and connection close. */
void relay_dest_kick(struct relay_dest *d)
{
	if (d->held || d->state == DEST_DOWN || d->state == DEST_LOOP)
		return;
	if (!d->nready)
		return;
	if (d->resolving)
		return;
	if (d->ntargets == 0 || time(NULL) >= d->targets_expire) {
		relay_targets_resolve(d);
		return;
	}
	unsigned limit = relay_ramp_limit(d);
	while (d->nconn < limit && d->nidle < d->nready)
		if (relay_conn_open(d) < 0)
			break;
}

/* The destination answered: deliver everything. */
void relay_dest_up(struct relay_dest *d)
{
	if (d->state != DEST_UP) {
		if (d->state == DEST_DOWN)
			log_info("destination %s is up again (down for %lds, %zu job(s) queued)",
				 d->domain, (long)(time(NULL) - d->since), d->nready + d->nwait);
		relay_dest_set_state(d, DEST_UP);
		relay_ramp_reset(d);
		d->last_error[0] = 0;
		io_timer_del(d->probe_timer);
		if (d->r->event)
			d->r->event(d->domain, 1, NULL, d->r->event_arg);
	}
	relay_dest_kick(d);
}

/* The destination cannot be reached: stop and probe. */
void relay_dest_down(struct relay_dest *d, const char *err)
{
	snprintf(d->last_error, sizeof(d->last_error), "%s", err);
	if (d->state != DEST_DOWN) {
		log_warn("destination %s is down: %s", d->domain, err);
		relay_dest_set_state(d, DEST_DOWN);
		if (d->r->event)
			d->r->event(d->domain, 0, err, d->r->event_arg);
	}
	if (!d->held && !io_timer_pending(d->probe_timer) && !d->probe)
		io_timer_add(d->probe_timer, (uint64_t)d->r->cfg->probe_interval * 1000);
}

/* The MX set no longer points at us: the state is unknown again until the
 * next attempt tells (the only way out of "loop" but up and down). */
void relay_dest_unloop(struct relay_dest *d)
{
	if (d->state != DEST_LOOP)
		return;
	log_info("mail for %s no longer loops back to myself", d->domain);
	relay_dest_set_state(d, DEST_UNKNOWN);
	d->last_error[0] = 0;
}

/* We are the best MX for the domain: defer, say so, look again later. */
void relay_dest_loop(struct relay_dest *d)
{
	snprintf(d->last_error, sizeof(d->last_error), "mail for %s loops back to myself",
		 d->domain);
	if (d->state != DEST_LOOP) {
		log_warn("%s", d->last_error);
		relay_dest_set_state(d, DEST_LOOP);
	}
	if (!d->held && !io_timer_pending(d->probe_timer))
		io_timer_add(d->probe_timer, (uint64_t)d->r->cfg->probe_interval * 1000);
}

/* The domain part of an address, lower-cased into buf. */
const char *relay_addr_domain(const char *addr, char *buf, size_t len)
{
	const char *at = strrchr(addr, '@');
	snprintf(buf, len, "%s", at ? at + 1 : "");
	for (char *p = buf; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return buf;
}

/* Try now. */
long relay_flush(struct relay *r, const char *domain)
{
	long n = 0;
	for (struct relay_dest *d = r->dest_list; d; d = d->next) {
		if (domain && strcmp(d->domain, domain) != 0)
			continue;
		while (d->wait_head) {
			d->wait_head->msg->next_try = 0;
			relay_job_requeue(d->wait_head, 0);
		}
		n += (long)d->nready;
		if (d->held)
			continue;
		if (d->state == DEST_DOWN || d->state == DEST_LOOP) {
			d->targets_expire = 0;
			io_timer_add(d->probe_timer, 0);
		} else {
			relay_dest_kick(d);
		}
	}
	return n;
}

/* Write the holds file durably (temp, fsync, rename). */
static int relay_holds_save(struct relay *r)
{
	char path[4096], tmp[4200];
	snprintf(path, sizeof(path), "%s/holds", spool_dir(r->spool));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -1;
	}
	for (size_t i = 0; i < r->nholds; i++)
		fprintf(f, "%s\n", r->holds[i]);
	int rc = fflush(f) == 0 && fsync(fd) == 0 ? 0 : -1;
	fclose(f);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	return rc;
}

/* Read SPOOL/holds. */
static void relay_holds_load(struct relay *r)
{
	char path[4096], line[DNS_NAME_MAX + 2];
	snprintf(path, sizeof(path), "%s/holds", spool_dir(r->spool));
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && r->nholds < RELAY_HOLD_MAX) {
		line[strcspn(line, "\r\n")] = 0;
		if (line[0] && (r->holds[r->nholds] = strdup(line)))
			r->nholds++;
	}
	fclose(f);
	if (r->nholds)
		log_info("holds: %zu domain(s) held", r->nholds);
}

/* Pause or resume delivery to a domain. */
int relay_hold(struct relay *r, const char *domain, int hold)
{
	int was = relay_held(r, domain);
	if (hold && !was) {
		if (r->nholds >= RELAY_HOLD_MAX || !(r->holds[r->nholds] = strdup(domain)))
			return -1;
		r->nholds++;
	} else if (!hold && was) {
		for (size_t i = 0; i < r->nholds; i++) {
			if (strcmp(r->holds[i], domain) == 0) {
				free(r->holds[i]);
				r->holds[i] = r->holds[--r->nholds];
				break;
			}
		}
	}
	if (relay_holds_save(r) < 0)
		log_err("holds: cannot save: %s", strerror(errno));
	struct relay_dest *d = relay_dest_get(r, domain);
	if (!d)
		return -1;
	d->held = hold;
	log_info("destination %s %s", domain, hold ? "held" : "released");
	if (hold) {
		relay_probe_stop(d);
		io_timer_del(d->probe_timer);
	} else {
		relay_flush(r, domain);
	}
	return 0;
}

/* Delete a message (its active jobs finish, nothing new starts). */
int relay_delete(struct relay *r, const char *qid)
{
	struct relay_msg *m = relay_msg_find(r, qid);
	if (!m || m->deleted)
		return -1;
	log_info("%s: deleted by the administrator", qid);
	relay_msg_drop(r, m);
	return 0;
}

/* Is the peer allowed to ETRN for this destination? */
static int relay_etrn_allowed(struct relay *r, struct relay_dest *d, const struct sockaddr *peer)
{
	return config_etrn_network(r->cfg, peer) || (d && relay_addr_is_target(d, peer));
}

/* ETRN (RFC 1985). */
void relay_hook_etrn(const char *arg, const struct sockaddr *peer, char *reply, size_t len,
		     void *rp)
{
	struct relay *r = rp;
	char dom[DNS_NAME_MAX], err[128];
	if (arg[0] == '#') {
		snprintf(reply, len, "458 4.5.4 Unable to queue messages for %s: queue names are not "
				     "supported", arg);
		return;
	}
	if (dns_name_normalize(arg[0] == '@' ? arg + 1 : arg, dom, sizeof(dom), err,
			       sizeof(err)) < 0) {
		snprintf(reply, len, "501 5.5.4 Syntax: ETRN domain");
		return;
	}
	if (!config_relay_domain(r->cfg, dom)) {
		snprintf(reply, len, "459 4.7.1 Node %s not allowed: not a relay domain", dom);
		return;
	}
	struct relay_dest *d = relay_dest_find(r, dom);
	if (!relay_etrn_allowed(r, d, peer)) {
		char ip[64];
		log_info("ETRN %s from %s refused: not a primary address or etrn_networks", dom,
			 io_addr_str(peer, ip, sizeof(ip)));
		snprintf(reply, len, "459 4.7.1 Node %s not allowed: ETRN is accepted only from the "
				     "primary's addresses", dom);
		return;
	}
	long n = d ? (long)(d->nready + d->nwait) : 0;
	if (n == 0) {
		snprintf(reply, len, "251 2.0.0 OK no messages waiting for node %s", dom);
		return;
	}
	log_info("ETRN %s: flushing %ld job(s)", dom, n);
	relay_flush(r, dom);
	snprintf(reply, len, "253 2.0.0 OK %ld pending messages for node %s started", n, dom);
}

/* An inbound connection: from a primary address, it means the primary is back. */
void relay_hook_connected(const struct sockaddr *peer, void *rp)
{
	struct relay *r = rp;
	for (struct relay_dest *d = r->dest_list; d; d = d->next) {
		if ((d->state == DEST_DOWN) && !d->held && !d->probe &&
		    relay_addr_is_target(d, peer)) {
			log_info("connection from a %s MX host: probing now", d->domain);
			io_timer_add(d->probe_timer, 0);
		}
	}
}

/* Is peer a next hop (a primary) of some destination?  1 or 0. */
int relay_hook_trusted(const struct sockaddr *peer, void *rp)
{
	struct relay *r = rp;
	for (struct relay_dest *d = r->dest_list; d; d = d->next)
		if (relay_addr_is_target(d, peer))
			return 1;
	return 0;
}

/* Whether the spool is still being read at start-up (for status). */
void relay_set_recovering(struct relay *r, int recovering, long recovered)
{
	r->recovering = recovering;
	r->recovered = recovered;
}

/* A message became durable in the spool (the SMTP server's hook). */
void relay_hook_queued(const struct spool_env *env, void *rp)
{
	if (env->arrival_filter)   /* the milters judged it: one "received" entry */
		relay_history_add(rp, env->qid, "", "received", env->arrival_filter,
				  env->arrival_authres ? env->arrival_authres : "", 0);
	relay_add(rp, env);
}

/* Create the delivery engine. */
struct relay *relay_new(const struct relay_opts *o)
{
	struct relay *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->loop = o->loop;
	r->cfg = o->cfg;
	r->spool = o->spool;
	r->dns = o->dns;
	r->client_tls = o->client_tls;
	r->event = o->event;
	r->event_arg = o->event_arg;
	relay_self_init(r);
	relay_holds_load(r);
	if (r->cfg->recipient_verify)
		relay_verify_init(r);
	r->sweep_timer = io_timer_new(r->loop, relay_sweep, r);
	r->remover = spool_remover_new(r->spool);
	if (!r->sweep_timer || !r->remover || relay_msgs_init(r) < 0) {
		io_timer_free(r->sweep_timer);
		spool_remover_free(r->remover);
		relay_verify_free(r);
		free(r->msgs);
		free(r);
		return NULL;
	}
	io_timer_add(r->sweep_timer, relay_sweep_ms(r));
	return r;
}

/* Free everything (connections are closed, nothing is written). */
void relay_free(struct relay *r)
{
	if (!r)
		return;
	relay_verify_free(r);
	relay_proxy_free_all(r);   /* the server, and so every session, is gone */
	for (struct relay_msg *m = r->head; m; m = m->next)
		if (m->unrecorded)
			relay_msg_record(r, m);   /* last chance before a graceful stop */
	for (struct relay_dest *d = r->dest_list, *nx; d; d = nx) {
		nx = d->next;
		relay_conn_close_all(d);
		relay_probe_stop(d);
		if (d->resolving == RELAY_RESOLVE_RUNNING)
			dns_mx_cancel(r->dns, d->dns_id);
		while (d->ready_head)
			relay_job_free(d->ready_head);
		while (d->wait_head)
			relay_job_free(d->wait_head);
		io_timer_free(d->probe_timer);
		io_timer_free(d->wait_timer);
		free(d->targets);
		free(d);
	}
	relay_msgs_free(r);   /* jobs were freed with their destinations */
	for (size_t i = 0; i < r->nholds; i++)
		free(r->holds[i]);
	io_timer_free(r->sweep_timer);
	spool_remover_free(r->remover);   /* finishes the removals handed over */
	free(r);
}

/* Remember one recipient outcome. */
void relay_history_add(struct relay *r, const char *qid, const char *rcpt, const char *status,
		       const char *relay, const char *reply, double delay)
{
	struct relay_hist *h = &r->hist[r->nhist++ % RELAY_HISTORY_MAX];
	snprintf(h->qid, sizeof(h->qid), "%s", qid);
	snprintf(h->rcpt, sizeof(h->rcpt), "%s", rcpt);
	snprintf(h->status, sizeof(h->status), "%s", status);
	snprintf(h->relay, sizeof(h->relay), "%s", relay ? relay : "");
	snprintf(h->reply, sizeof(h->reply), "%s", reply ? reply : "");
	h->when = time(NULL);
	h->delay = delay;
}

/* The queue in a few numbers, from counters (O(1)). */
void relay_summary(const struct relay *r, struct relay_summary *out)
{
	memset(out, 0, sizeof(*out));
	out->queued = r->nmsgs;
	out->bytes = r->qbytes;
	out->dests = r->ndests;
	out->down = r->nstate[DEST_DOWN];
	out->loop = r->nstate[DEST_LOOP];
	out->oldest = relay_oldest_arrival(r);
	out->recovering = r->recovering;
}

/* Copy the counters. */
void relay_get_stats(const struct relay *r, struct relay_stats *out)
{
	*out = r->stats;
}
