/*
 * spool_env.c - envelope helpers: add recipients, copy, clear and check a
 *               struct spool_env.
 *
 * Ownership: every string of an envelope is malloc'd and owned by it;
 * spool_env_clear() frees them all and zeroes the struct.  The recipient
 * array grows only through spool_env_push_rcpt() (capacity 4, then powers
 * of two, implied by nrcpt).  spool_env_check() mirrors every check of the
 * parser (spool_parse.c), so an envelope that passes it can be written and
 * read back.  Pure apart from malloc; thread-safe on distinct envelopes.
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Name of a recipient state. */
const char *spool_rstate_name(enum spool_rstate st)
{
	static const char *names[] = {"pending", "sent", "bounced", "deferred"};
	return (unsigned)st < 4 ? names[st] : "?";
}

/* Append a recipient taking ownership of addr and orcpt (freed on failure). */
int spool_env_push_rcpt(struct spool_env *env, char *addr, unsigned notify, char *orcpt)
{
	size_t n = env->nrcpt;

	/* capacity is implied by n: 4, then powers of two */
	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
		size_t cap = n < 4 ? 4 : n * 2;
		struct spool_rcpt *r = realloc(env->rcpt, cap * sizeof(*r));
		if (r == NULL) {
			free(addr);
			free(orcpt);
			errno = ENOMEM;
			return -1;
		}
		env->rcpt = r;
	}
	env->rcpt[n] = (struct spool_rcpt){.addr = addr, .notify = notify, .orcpt = orcpt,
					   .state = SPOOL_R_PENDING, .last_reply = NULL};
	env->nrcpt = n + 1;
	return 0;
}

/* strdup that leaves NULL alone; *ok is cleared on allocation failure. */
static char *dup_or_null(const char *s, int *ok)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*ok = 0;
	return d;
}

/* Length of s if at most SPOOL_FIELD_MAX, else -1. */
static long field_len(const char *s)
{
	size_t n = strnlen(s, SPOOL_FIELD_MAX + 1);
	return n > SPOOL_FIELD_MAX ? -1 : (long)n;
}

/* Add one recipient (copies the strings); the array may only grow through here. */
int spool_env_add_rcpt(struct spool_env *env, const char *addr, unsigned notify, const char *orcpt)
{
	int ok = 1;

	if (addr == NULL || field_len(addr) <= 0 || (orcpt != NULL && field_len(orcpt) < 0) ||
	    (notify & ~SPOOL_NOTIFY_MASK) != 0 || env->nrcpt >= SPOOL_RCPTS_MAX) {
		errno = EINVAL;
		return -1;
	}
	char *a = dup_or_null(addr, &ok), *o = dup_or_null(orcpt, &ok);
	if (!ok) {
		free(a);
		free(o);
		errno = ENOMEM;
		return -1;
	}
	return spool_env_push_rcpt(env, a, notify, o);
}

/* Free every string of env and zero it. */
void spool_env_clear(struct spool_env *env)
{
	if (env == NULL)
		return;
	free(env->sender);
	free(env->envid);
	free(env->helo);
	free(env->client_addr);
	free(env->client_name);
	free(env->arrival_filter);
	free(env->arrival_authres);
	for (size_t i = 0; i < env->nrcpt; i++) {
		free(env->rcpt[i].addr);
		free(env->rcpt[i].orcpt);
		free(env->rcpt[i].last_reply);
	}
	free(env->rcpt);
	memset(env, 0, sizeof(*env));
}

/* Deep copy src into dst. */
int spool_env_copy(struct spool_env *dst, const struct spool_env *src)
{
	int ok = 1;

	memset(dst, 0, sizeof(*dst));
	memcpy(dst->qid, src->qid, sizeof(dst->qid));
	dst->arrival = src->arrival;
	dst->size = src->size;
	dst->ret = src->ret;
	dst->body_8bit = src->body_8bit;
	dst->smtputf8 = src->smtputf8;
	dst->sender_auth = src->sender_auth;
	dst->body_off = src->body_off;
	dst->sender = dup_or_null(src->sender, &ok);
	dst->envid = dup_or_null(src->envid, &ok);
	dst->helo = dup_or_null(src->helo, &ok);
	dst->client_addr = dup_or_null(src->client_addr, &ok);
	dst->client_name = dup_or_null(src->client_name, &ok);
	if (ok && src->nrcpt > 0) {
		dst->rcpt = calloc(src->nrcpt < 4 ? 4 : src->nrcpt * 2, sizeof(*dst->rcpt));
		ok = dst->rcpt != NULL;
	}
	for (size_t i = 0; ok && i < src->nrcpt; i++) {
		const struct spool_rcpt *s = &src->rcpt[i];
		struct spool_rcpt *d = &dst->rcpt[i];
		d->addr = dup_or_null(s->addr, &ok);
		d->orcpt = dup_or_null(s->orcpt, &ok);
		d->last_reply = dup_or_null(s->last_reply, &ok);
		d->notify = s->notify;
		d->state = s->state;
		dst->nrcpt = i + 1;
	}
	if (!ok) {
		spool_env_clear(dst);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Can env be stored?  Mirrors every check of the parser. */
int spool_env_check(const struct spool_env *env, const char **err)
{
	const char *e = NULL;

	if (!spool_qid_valid(env->qid))
		e = "bad queue ID";
	else if (env->sender == NULL || field_len(env->sender) < 0)
		e = "bad sender";
	else if (env->arrival < 0 || (unsigned long long)env->arrival > QF_ARRIVAL_MAX)
		e = "bad arrival time";
	else if (env->ret < 0 || env->ret > 2)
		e = "bad RET";
	else if ((env->envid && field_len(env->envid) < 0) ||
		 (env->helo && field_len(env->helo) < 0) ||
		 (env->client_addr && field_len(env->client_addr) < 0) ||
		 (env->client_name && field_len(env->client_name) < 0))
		e = "envelope field too long";
	else if (env->nrcpt == 0 || env->nrcpt > SPOOL_RCPTS_MAX || env->rcpt == NULL)
		e = "bad recipient count";
	for (size_t i = 0; e == NULL && i < env->nrcpt; i++) {
		const struct spool_rcpt *r = &env->rcpt[i];
		if (r->addr == NULL || field_len(r->addr) <= 0 ||
		    (r->orcpt != NULL && field_len(r->orcpt) < 0) ||
		    (r->notify & ~SPOOL_NOTIFY_MASK) != 0)
			e = "bad recipient";
	}
	if (e != NULL) {
		if (err != NULL)
			*err = e;
		errno = EINVAL;
		return -1;
	}
	return 0;
}
