/*
 * relay_bounce.c - turn ended or delayed recipients into a DSN in the spool.
 *
 * The DSN (dsn_build, RFC 3464) goes from <> to the original envelope
 * sender and is queued like any other message, so it is delivered through
 * the sender domain's MX with the same retries.  Never to <>: a message from
 * the null sender (itself a DSN) that fails is dropped and logged, so
 * bounces cannot loop.  Recipients whose NOTIFY excludes FAILURE (or DELAY
 * for warnings) are not reported.  The DSN is committed durably before the
 * recipients are marked bounced, so a crash can duplicate a DSN, never lose
 * one.  Delay warnings are remembered with a DEFERRED state record so a
 * restart does not repeat them.
 */
#include "relay/relay_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "relay/dsn.h"

/* Read up to DSN_ORIG_MAX bytes of the original message. */
static uint8_t *relay_bounce_orig(struct relay *r, const char *qid, size_t *len)
{
	size_t blen = 0;
	int fd = spool_body_open(r->spool, qid, &blen);
	*len = 0;
	if (fd < 0)
		return NULL;
	size_t want = blen < DSN_ORIG_MAX ? blen : DSN_ORIG_MAX;
	uint8_t *buf = malloc(want + 1);
	while (buf && *len < want) {
		ssize_t n = read(fd, buf + *len, want - *len);
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
	close(fd);
	return buf;
}

/* The enhanced status code at the start of a diagnostic, or a default. */
static void relay_bounce_status(const char *diag, int delayed, char *out, size_t len)
{
	const char *p = diag ? strchr(diag, ' ') : NULL;
	if (p && p[1] >= '2' && p[1] <= '5' && p[2] == '.') {
		snprintf(out, len, "%.*s", (int)strcspn(p + 1, " "), p + 1);
		if (strlen(out) >= 5)
			return;
	}
	snprintf(out, len, "%s", delayed ? "4.4.7" : "5.4.7");
}

/* Queue a DSN message and hand it to the relay. */
static int relay_bounce_queue(struct relay *r, const char *to, const char *dsn, size_t len,
			      char *qid_out)
{
	struct spool_env env;
	memset(&env, 0, sizeof(env));
	spool_qid_new(env.qid);
	env.sender = strdup("");
	env.arrival = time(NULL);
	env.size = len;
	env.helo = strdup(r->cfg->hostname);
	env.client_addr = strdup("127.0.0.1");
	env.client_name = strdup("localhost");
	if (!env.sender || !env.helo || !env.client_addr || !env.client_name ||
	    spool_env_add_rcpt(&env, to, 0, NULL) < 0) {
		spool_env_clear(&env);
		return -1;
	}
	struct spool_msg *sm = spool_msg_new(r->spool, &env);
	int ok = 0;
	if (sm && spool_msg_write(sm, dsn, len) == 0 && spool_msg_finish(sm) == 0)
		spool_commit(r->spool, &sm, 1, &ok);
	else if (sm)
		spool_msg_abort(sm);
	if (!ok) {
		spool_env_clear(&env);
		return -1;
	}
	snprintf(qid_out, SPOOL_QID_LEN + 1, "%s", env.qid);
	relay_add(r, &env);
	spool_env_clear(&env);
	return 0;
}

/* May a DSN go to this message's sender (bounce_policy)?  1 or 0.  With
 * `authenticated`, only a sender that passed SPF or DKIM at arrival gets one;
 * that verdict comes from a milter's Authentication-Results (issue 14), and
 * until milters are in, no sender has it. */
static int relay_dsn_allowed(const struct relay *r, const struct relay_msg *m)
{
	switch (r->cfg->bounce_policy) {
	case CONFIG_BOUNCE_ALWAYS: return 1;
	case CONFIG_BOUNCE_NEVER: return 0;
	default: return m->env->sender_auth;
	}
}

/* No DSN: log each recipient, count it, and add a "suppressed" entry to the
 * history (after its "bounced" or "expired" one). */
static void relay_dsn_suppress(struct relay *r, struct relay_msg *m, const size_t *idx, size_t n,
			       const char *const *replies, int delayed)
{
	const char *why = r->cfg->bounce_policy == CONFIG_BOUNCE_NEVER ?
			  "DSN suppressed: bounce_policy = never" :
			  "DSN suppressed: sender not authenticated";
	for (size_t i = 0; i < n; i++) {
		const char *addr = m->env->rcpt[idx[i]].addr;
		if (delayed) {
			log_info("%s: to=<%s>, delay warning not sent (%s)", m->qid, addr, why);
			continue;
		}
		log_info("%s: to=<%s>, status=bounced (%s)", m->qid, addr, why);
		relay_history_add(r, m->qid, addr, "suppressed", NULL, why,
				  (double)(time(NULL) - m->arrival));
		r->stats.dsn_suppressed++;
	}
}

/* Queue a DSN to m's sender for recipients idx[0..n): a failure, or a delay
 * warning when delayed is set (m's envelope is loaded by the caller). */
void relay_dsn_queue(struct relay *r, struct relay_msg *m, const size_t *idx, size_t n,
		     const char *const *replies, const char *remote, const char *st, int delayed)
{
	unsigned want = delayed ? SMTP_NOTIFY_DELAY : SMTP_NOTIFY_FAILURE;
	struct dsn_rcpt *dr = calloc(n ? n : 1, sizeof(*dr));
	char (*status)[16] = calloc(n ? n : 1, sizeof(*status));
	size_t k = 0;
	time_t now = time(NULL);

	if (delayed)
		for (size_t i = 0; i < n; i++)
			spool_set_rcpt_state(r->spool, m->qid, idx[i], SPOOL_R_DEFERRED, replies[i]);
	if (m->env->sender[0] && !relay_dsn_allowed(r, m)) {
		relay_dsn_suppress(r, m, idx, n, replies, delayed);
		goto out;
	}
	if (!m->env->sender[0]) {
		log_info("%s: sender is <>: no DSN for %zu recipient(s)%s", m->qid, n,
			 delayed ? "" : " (dropped)");
		if (!delayed)
			r->stats.dsn_dropped++;
		goto out;
	}
	if (!dr || !status)
		goto out;
	for (size_t i = 0; i < n && k < DSN_RCPTS_MAX; i++) {
		const struct spool_rcpt *rc = &m->env->rcpt[idx[i]];
		if (rc->notify && (!(rc->notify & want) || (rc->notify & SMTP_NOTIFY_NEVER)))
			continue;
		if (st && *st)
			snprintf(status[k], sizeof(status[k]), "%s", st);
		else
			relay_bounce_status(replies[i], delayed, status[k], sizeof(status[k]));
		dr[k].addr = rc->addr;
		dr[k].orcpt = rc->orcpt;
		dr[k].action = delayed ? DSN_DELAYED : DSN_FAILED;
		dr[k].status = status[k];
		dr[k].remote_mta = remote;
		dr[k].diagnostic = replies[i];
		dr[k].last_attempt = m->last_try ? m->last_try : now;
		dr[k].will_retry_until = delayed ? m->arrival + (time_t)r->cfg->queue_lifetime : 0;
		k++;
	}
	if (k == 0)
		goto out;
	char from[512];
	snprintf(from, sizeof(from), "%s [%s]", m->env->client_name ? m->env->client_name : "unknown",
		 m->env->client_addr ? m->env->client_addr : "");
	struct dsn_info info = {
		.reporting_mta = r->cfg->hostname, .qid = m->qid, .envid = m->env->envid,
		.orig_sender = m->env->sender, .received_from = from, .arrival = m->arrival,
		.now = now, .ret_full = m->env->ret == 1,
	};
	size_t olen = 0, dlen = 0;
	uint8_t *orig = relay_bounce_orig(r, m->qid, &olen);
	char *dsn = NULL, nqid[SPOOL_QID_LEN + 1];
	if (dsn_build(&info, dr, k, orig ? orig : (const uint8_t *)"", olen, &dsn, &dlen) == 0 &&
	    relay_bounce_queue(r, m->env->sender, dsn, dlen, nqid) == 0) {
		r->stats.dsn_sent++;
		log_info("%s: sender %s notification: %s", m->qid,
			 delayed ? "delay" : "non-delivery", nqid);
	} else {
		log_err("%s: cannot queue a DSN to <%s>", m->qid, m->env->sender);
	}
	free(dsn);
	free(orig);
out:
	free(dr);
	free(status);
}
