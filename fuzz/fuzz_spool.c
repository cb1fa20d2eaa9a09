/*
 * fuzz_spool.c - libFuzzer target for the spool's file parsers: a damaged
 *                spool file must never crash recovery.
 *
 * Every input is fed to spool_parse() as a queue file and to
 * spool_state_apply() as a state file.  When it parses as a queue file, the
 * envelope is serialised again with spool_format() and re-parsed: the
 * result must equal the first parse, and formatting it once more must give
 * the same bytes.  Applied delivery states are likewise written out with
 * spool_fmt_state() and read back.  Any difference aborts.
 *
 * An input starting with 0x01 is instead taken as the envelope records of a
 * queue file: the target wraps them in a magic line, a body and a correct
 * END record (count, length, CRC), so that mutations explore the record
 * parser instead of dying at the checksum.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool/spool.h"

/* Are two (possibly NULL) strings equal? */
static int str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Abort unless the envelopes are equal. */
static void env_must_equal(const struct spool_env *a, const struct spool_env *b)
{
	int eq = strcmp(a->qid, b->qid) == 0 && str_eq(a->sender, b->sender) &&
		 a->arrival == b->arrival && a->ret == b->ret && str_eq(a->envid, b->envid) &&
		 a->body_8bit == b->body_8bit && a->smtputf8 == b->smtputf8 &&
		 str_eq(a->helo, b->helo) && str_eq(a->client_addr, b->client_addr) &&
		 str_eq(a->client_name, b->client_name) && a->nrcpt == b->nrcpt &&
		 a->size == b->size;
	for (size_t i = 0; eq && i < a->nrcpt; i++) {
		const struct spool_rcpt *x = &a->rcpt[i], *y = &b->rcpt[i];
		eq = str_eq(x->addr, y->addr) && x->notify == y->notify &&
		     str_eq(x->orcpt, y->orcpt) && x->state == y->state &&
		     str_eq(x->last_reply, y->last_reply);
	}
	if (!eq) {
		fprintf(stderr, "fuzz_spool: round trip changed the envelope\n");
		abort();
	}
}

/* Queue-file round trip of an input that parsed. */
static void roundtrip(const uint8_t *data, const struct spool_env *env)
{
	struct spool_env env2;
	uint8_t *img, *img2;
	size_t len, len2;
	const char *why = NULL;

	if (spool_format(env, data + env->body_off, (size_t)env->size, &img, &len) < 0)
		abort();
	if (spool_parse(img, len, &env2, &why) < 0) {
		fprintf(stderr, "fuzz_spool: re-parse failed: %s\n", why);
		abort();
	}
	env_must_equal(env, &env2);
	if (memcmp(img + env2.body_off, data + env->body_off, (size_t)env->size) != 0)
		abort();
	if (spool_format(&env2, img + env2.body_off, (size_t)env2.size, &img2, &len2) < 0)
		abort();
	if (len2 != len || memcmp(img, img2, len) != 0)
		abort();
	free(img);
	free(img2);
	spool_env_clear(&env2);
}

/* Write env's recipient states out as a state file and check they read back. */
static void state_roundtrip(const struct spool_env *env)
{
	struct spool_env fresh;
	size_t cap = env->nrcpt * (SPOOL_LINE_MAX + 1) + 1, n = 0, skipped = 0;
	char *buf = malloc(cap);

	if (buf == NULL || spool_env_copy(&fresh, env) < 0)
		abort();
	for (size_t i = 0; i < fresh.nrcpt; i++) {
		fresh.rcpt[i].state = SPOOL_R_PENDING;
		free(fresh.rcpt[i].last_reply);
		fresh.rcpt[i].last_reply = NULL;
		if (env->rcpt[i].state == SPOOL_R_PENDING && env->rcpt[i].last_reply == NULL)
			continue;
		int k = spool_fmt_state(buf + n, cap - n, i, env->rcpt[i].state,
					env->rcpt[i].last_reply);
		if (k < 0)
			abort();
		n += (size_t)k;
	}
	spool_state_apply(&fresh, (const uint8_t *)buf, n, &skipped);
	if (skipped != 0)
		abort();
	env_must_equal(env, &fresh);
	spool_env_clear(&fresh);
	free(buf);
}

/* Parse (and round-trip) one queue-file image. */
static void parse_one(const uint8_t *data, size_t size)
{
	struct spool_env env;
	const char *why = NULL;

	if (spool_parse(data, size, &env, &why) == 0) {
		if (env.body_off + env.size > size)
			abort();
		roundtrip(data, &env);
		spool_env_clear(&env);
	} else if (why == NULL || env.nrcpt != 0 || env.rcpt != NULL) {
		abort();
	}
}

/* Wrap raw envelope records in a valid magic line, body and END record. */
static void parse_wrapped(const uint8_t *rec, size_t n)
{
	static const char magic[] = "BMXQ 1\n", body[] = "Subject: x\r\n\r\nbody\r\n";
	size_t blen = sizeof(body) - 1, cap = n + 256, len = 0;
	uint8_t *img = malloc(cap);
	unsigned long nrec = 2; /* the magic line and the M record */
	uint32_t crc;

	if (img == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		nrec += rec[i] == '\n';
	memcpy(img, magic, sizeof(magic) - 1);
	len = sizeof(magic) - 1;
	memcpy(img + len, rec, n);
	len += n;
	crc = spool_crc32(0, img, len);
	len += (size_t)snprintf((char *)img + len, cap - len, "M %020zu\n%s", blen, body);
	crc = spool_crc32(crc, body, blen);
	len += (size_t)snprintf((char *)img + len, cap - len, "Z %lu %zu %08x\n", nrec, blen,
				(unsigned)crc);
	parse_one(img, len);
	free(img);
}

/* libFuzzer entry point: one input, every check. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_env env;

	if (size > 0 && data[0] == 0x01)
		parse_wrapped(data + 1, size - 1);
	else
		parse_one(data, size);

	/* the same bytes as a state file, applied to a three-recipient message */
	memset(&env, 0, sizeof(env));
	memcpy(env.qid, "0000000000000000000A", SPOOL_QID_LEN + 1);
	for (int i = 0; i < 3; i++)
		if (spool_env_add_rcpt(&env, "r@example.test", 0, NULL) < 0)
			abort();
	spool_state_apply(&env, data, size, NULL);
	state_roundtrip(&env);
	spool_env_clear(&env);
	return 0;
}
