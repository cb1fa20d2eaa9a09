/*
 * relay_text.c - the human reports of the delivery engine: `backupmx
 * status`, `backupmx queue` (like mailq) and `backupmx queue show ID`.
 *
 * Each says why mail waits: a destination that is down (for how long, its
 * last error, when it is probed next), held, looping back to ourselves, or
 * a message in its own backoff (its last error and next attempt).  The
 * JSON documents of the same facts are in relay_status.c (docs/control.md).
 */
#include "relay/relay_int.h"

#include <string.h>

/* Format a time as local "YYYY-MM-DD HH:MM:SS" ("-" for 0). */
static const char *relay_time_str(time_t t, char *buf, size_t len)
{
	struct tm tm;
	if (!t) {
		snprintf(buf, len, "-");
		return buf;
	}
	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

/* The destination of recipient i of m, or NULL. */
static const struct relay_dest *relay_rcpt_dest(struct relay *r, const struct spool_env *env,
						size_t i)
{
	char dom[DNS_NAME_MAX];
	return relay_dest_find(r, relay_addr_domain(env->rcpt[i].addr, dom, sizeof(dom)));
}

/* Why recipient i of m waits (or what became of it), one line into buf. */
static void relay_rcpt_why(struct relay *r, const struct relay_msg *m,
			   const struct spool_env *env, size_t i, char *buf, size_t len)
{
	static const char *const st[] = {"pending", "sent", "bounced", "deferred"};
	const struct relay_dest *d;
	char at[32];
	time_t now = time(NULL);
	enum spool_rstate s = env->rcpt[i].state;

	if (s != SPOOL_R_PENDING && s != SPOOL_R_DEFERRED) {
		snprintf(buf, len, "%s", st[s & 3]);
		return;
	}
	d = relay_rcpt_dest(r, env, i);
	if (d && d->held) {
		snprintf(buf, len, "held: delivery to %s is paused (backupmx release %s)",
			 d->domain, d->domain);
	} else if (d && d->state == DEST_LOOP) {
		snprintf(buf, len, "waiting: %s; DNS is checked again every %us", d->last_error,
			 r->cfg->probe_interval);
	} else if (d && d->state == DEST_DOWN) {
		snprintf(buf, len, "waiting: %s down for %lds: %s; next attempt when a probe "
			 "(every %us) succeeds", d->domain, (long)(now - d->since),
			 d->last_error[0] ? d->last_error : "no answer", r->cfg->probe_interval);
	} else if (m->nactive) {
		snprintf(buf, len, "being delivered now");
	} else if (m->last_error[0]) {
		snprintf(buf, len, "%s: %s; next attempt %s", st[s & 3], m->last_error,
			 m->next_try > now ? relay_time_str(m->next_try, at, sizeof(at)) : "now");
	} else {
		snprintf(buf, len, "%s: next attempt %s", st[s & 3],
			 m->next_try > now ? relay_time_str(m->next_try, at, sizeof(at)) : "now");
	}
}

/* Human-readable destination status (`backupmx status`). */
void relay_text_status(struct relay *r, FILE *f)
{
	time_t now = time(NULL);
	char since[32];
	if (r->recovering)
		fprintf(f, "recovering the spool: %ld message(s) read so far; the rest follow\n",
			r->recovered);
	if (!r->dest_list) {
		fprintf(f, "no destinations yet; %zu message(s) queued\n", r->nmsgs);
		return;
	}
	fprintf(f, "%-28s %-8s %-19s %7s %10s %8s\n", "DESTINATION", "STATE", "SINCE", "QUEUED",
		"BYTES", "OLDEST");
	for (struct relay_dest *d = r->dest_list; d; d = d->next) {
		struct relay_dstat st;
		relay_dest_totals(d, &st);
		fprintf(f, "%-28s %-8s %-19s %7zu %10llu %7lds\n", d->domain, relay_dest_state_name(d),
			relay_time_str(d->since, since, sizeof(since)), st.msgs, st.bytes,
			st.oldest ? (long)(now - st.oldest) : 0L);
		if (d->held)
			fprintf(f, "    held: delivery paused (backupmx release %s)\n", d->domain);
		else if (d->last_error[0])
			fprintf(f, "    last error: %s\n", d->last_error);
		for (size_t i = 0; i < d->ntargets; i++) {
			char ip[64];
			fprintf(f, "    next hop: %s[%s]:%d\n", d->targets[i].host,
				io_addr_str((const struct sockaddr *)&d->targets[i].sa, ip, sizeof(ip)),
				io_addr_port((const struct sockaddr *)&d->targets[i].sa));
		}
		if (d->have_facts)
			fprintf(f, "    banner: %s\n", d->banner);
		if (d->have_facts && d->tls[0])
			fprintf(f, "    tls: %s\n", d->tls);
		fprintf(f, "    mode: %s (primary_up = %s)\n", relay_dest_mode(d),
			config_primary_up_name(d->r->cfg->primary_up));
		fprintf(f, "    connections: %u (ramp %u of max %u), live: %u, delivered: %llu\n",
			d->nconn, relay_ramp_limit(d), d->r->cfg->max_concurrency, d->nproxy,
			d->sent);
	}
}

/* The column heads of the queue listing (`backupmx queue`, like mailq). */
void relay_text_queue_head(FILE *f)
{
	fprintf(f, "%-21s %9s %-19s  %s\n", "-Queue ID-", "--Size--", "----Arrival Time---",
		"-Sender/Recipient-------");
}

/* One message of the queue listing, with why each recipient waits. */
void relay_text_queue_msg(struct relay *r, const struct relay_msg *m,
			  const struct spool_env *env, FILE *f)
{
	char at[32], why[RELAY_ERR_MAX + 128];
	fprintf(f, "%-20s%c %9llu %-19s  %s\n", m->qid, m->nactive ? '*' : ' ',
		m->size, relay_time_str(m->arrival, at, sizeof(at)),
		env->sender[0] ? env->sender : "<>");
	for (size_t i = 0; i < env->nrcpt; i++) {
		relay_rcpt_why(r, m, env, i, why, sizeof(why));
		fprintf(f, "%52s%s\n%54s(%s)\n", "", env->rcpt[i].addr, "", why);
	}
	if (m->attempts)
		fprintf(f, "%52stries: %u\n", "", m->attempts);
}

/* One message for a person (`backupmx queue show ID`); -1 if unknown. */
int relay_text_show(struct relay *r, const char *qid, FILE *f)
{
	struct relay_msg *m = relay_msg_find(r, qid);
	char at[32], why[RELAY_ERR_MAX + 128], hdr[RELAY_SHOW_HEADERS_MAX];
	if (!m)
		return -1;
	struct spool_env none;
	const struct spool_env *env = relay_msg_env_show(r, m, &none);
	fprintf(f, "Queue ID:  %s\n", m->qid);
	fprintf(f, "Size:      %llu octets\n", m->size);
	fprintf(f, "Arrival:   %s (%lds ago)\n", relay_time_str(m->arrival, at, sizeof(at)),
		(long)(time(NULL) - m->arrival));
	fprintf(f, "Sender:    <%s>\n", env->sender);
	fprintf(f, "Client:    %s [%s], HELO %s\n", env->client_name ? env->client_name : "unknown",
		env->client_addr ? env->client_addr : "?", env->helo ? env->helo : "?");
	if (env->envid)
		fprintf(f, "ENVID:     %s\n", env->envid);
	fprintf(f, "Tries:     %u, last attempt %s\n", m->attempts,
		relay_time_str(m->last_try, at, sizeof(at)));
	fprintf(f, "Recipients:\n");
	for (size_t i = 0; i < env->nrcpt; i++) {
		relay_rcpt_why(r, m, env, i, why, sizeof(why));
		fprintf(f, "  %s\n    %s\n", env->rcpt[i].addr, why);
	}
	relay_msg_env_unshow(m, env);
	relay_msg_headers(r, m->qid, hdr, sizeof(hdr));
	fprintf(f, "Headers:\n");
	for (const char *p = hdr; *p; p++)
		if (*p != '\r')
			fputc(*p, f);
	return 0;
}
