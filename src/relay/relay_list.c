/*
 * relay_list.c - the queue listing of `backupmx queue`, produced in steps.
 *
 * A listing of a million messages never sits in one buffer: the control
 * socket asks for the next part (about RELAY_LIST_CHUNK octets, at most
 * RELAY_LIST_SCAN messages looked at) each time the previous part has been
 * sent.  Between steps the queue changes: a cursor that pointed into it
 * would dangle, so the cursor is the arrival number (relay_msg.seq) and the
 * queue IDs of the next RELAY_LIST_RESUME messages.  Messages only join at
 * the tail, so the first of those still queued is where the listing goes
 * on; if all have gone, a walk from the head skips to the arrival number.
 * Messages that arrive after the cursor passed the tail are not listed.
 *
 * Text: the mailq form of relay_text.c, with the "-- B Bytes in N
 * Requests." summary.  JSON: one relay_json_msg() object per line, then
 * {"end":true,"listed":N,"bytes":B,"queued":M,"limited":bool}
 * (docs/control.md), so a reader knows the listing is complete.
 */
#include "relay/relay_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/json.h"

#define RELAY_LIST_CHUNK  (64 * 1024)  /* octets written per step, roughly */
#define RELAY_LIST_SCAN   8192         /* messages looked at per step at most */
#define RELAY_LIST_RESUME 8            /* following queue IDs the cursor keeps */

struct relay_list {
	struct relay *r;
	int json;
	char domain[DNS_NAME_MAX];        /* "" = every message */
	unsigned long limit;              /* 0 = no limit */
	unsigned long listed;
	unsigned long long bytes;
	int started;                      /* the first step ran */
	int more;                         /* 0: the tail was reached */
	unsigned long long seq;           /* arrival number of the next message */
	size_t nnext;
	char next[RELAY_LIST_RESUME][SPOOL_QID_LEN + 1];
};

/* Start a listing. */
struct relay_list *relay_list_new(struct relay *r, const char *domain, unsigned long limit,
				  int json)
{
	struct relay_list *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->r = r;
	l->json = json;
	l->limit = limit;
	snprintf(l->domain, sizeof(l->domain), "%s", domain ? domain : "");
	for (char *p = l->domain; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	return l;
}

/* Free a listing (the relay is not touched). */
void relay_list_free(struct relay_list *l)
{
	free(l);
}

/* Does m have a recipient in l->domain still to deliver?  1 or 0. */
static int relay_list_match(const struct relay_list *l, const struct relay_msg *m)
{
	if (!l->domain[0])
		return 1;
	for (const struct relay_job *j = m->jobs; j; j = j->mnext)   /* a job: pending there */
		if (strcmp(j->dest->domain, l->domain) == 0)
			return 1;
	return 0;
}

/* The message where the listing goes on, or NULL at the end. */
static struct relay_msg *relay_list_resume(struct relay_list *l)
{
	struct relay_msg *m;
	if (!l->started)
		return l->r->head;
	if (!l->more)
		return NULL;
	for (size_t k = 0; k < l->nnext; k++) {
		m = relay_msg_find(l->r, l->next[k]);
		if (m && m->seq >= l->seq)
			return m;
	}
	for (m = l->r->head; m && m->seq < l->seq; m = m->next)
		;
	return m;
}

/* Remember where the listing goes on: m and the messages after it. */
static void relay_list_mark(struct relay_list *l, const struct relay_msg *m)
{
	l->more = m != NULL;
	l->nnext = 0;
	if (m)
		l->seq = m->seq;
	for (; m && l->nnext < RELAY_LIST_RESUME; m = m->next)
		memcpy(l->next[l->nnext++], m->qid, sizeof(l->next[0]));
}

/* The last part: the summary line (text) or the end object (JSON). */
static void relay_list_end(const struct relay_list *l, FILE *f, int limited)
{
	size_t queued = l->r->nmsgs;
	if (l->json) {
		int first = 1;
		fputc('{', f);
		json_kv_bool(f, &first, "end", 1);
		json_kv_num(f, &first, "listed", (double)l->listed);
		json_kv_num(f, &first, "bytes", (double)l->bytes);
		json_kv_num(f, &first, "queued", (double)queued);
		json_kv_bool(f, &first, "limited", limited);
		fputs("}\n", f);
		return;
	}
	if (!l->listed && !l->domain[0]) {
		fputs("Mail queue is empty\n", f);
		return;
	}
	if (!l->listed) {
		fprintf(f, "No queued mail for %s\n", l->domain);
		return;
	}
	fprintf(f, "-- %llu Bytes in %lu Request%s", l->bytes, l->listed, l->listed == 1 ? "" : "s");
	if (l->domain[0])
		fprintf(f, " for %s", l->domain);
	if (limited)
		fprintf(f, "; stopped at --limit %lu, %zu queued in all", l->limit, queued);
	fputs(".\n", f);
}

/* Write the next part of the listing. */
int relay_list_step(struct relay_list *l, FILE *f)
{
	struct relay_msg *m = relay_list_resume(l);
	size_t scanned = 0;
	long start = ftell(f);

	l->started = 1;
	for (; m && scanned < RELAY_LIST_SCAN; m = m->next, scanned++) {
		if (l->limit && l->listed >= l->limit)
			break;
		if (ftell(f) - start >= RELAY_LIST_CHUNK)
			break;
		if (!relay_list_match(l, m))
			continue;
		if (!l->json && !l->listed)
			relay_text_queue_head(f);
		struct spool_env none;
		const struct spool_env *env = relay_msg_env_show(l->r, m, &none);
		if (l->json) {
			relay_json_msg(f, m, env);
			fputc('\n', f);
		} else {
			relay_text_queue_msg(l->r, m, env, f);
		}
		relay_msg_env_unshow(m, env);
		l->listed++;
		l->bytes += m->size;
	}
	int limited = l->limit && l->listed >= l->limit;
	if (m && !limited) {
		relay_list_mark(l, m);
		return 1;
	}
	l->more = 0;
	relay_list_end(l, f, limited && m);
	return 0;
}
