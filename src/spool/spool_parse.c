/*
 * spool_parse.c - the strict parser of the queue and state file formats.
 *
 * The formats are described in spool_fmt.c (which writes them).  Parsing is
 * a pure function of the image (spool.c maps the file), so it can be
 * fuzzed (fuzz/fuzz_spool.c): no I/O, no globals, never reading past len.
 * A queue file is all or nothing: anything unexpected fails the parse with
 * a static reason and errno EBADMSG, and the env is left cleared.  A state
 * file is record by record: a torn or damaged record is skipped and
 * counted, never fatal.  Field escapes use the upper-case hex digits of
 * smtp_xtext_hexval(); the body's 8-bit test is smtp_has_8bit().
 */
#include "spool/spool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/xtext.h"

#define QF_TOKENS_MAX   4             /* most tokens in one record line */

/* Bits of the singleton records seen by the parser. */
enum {
	SEEN_I = 1 << 0, SEEN_T = 1 << 1, SEEN_S = 1 << 2, SEEN_N = 1 << 3, SEEN_E = 1 << 4,
	SEEN_F = 1 << 5, SEEN_H = 1 << 6, SEEN_C = 1 << 7, SEEN_D = 1 << 8, SEEN_ALL = (1 << 9) - 1,
	SEEN_A = 1 << 9   /* optional: not in SEEN_ALL */
};

/* One token of a record line, pointing into the image. */
struct tok {
	const char *p;
	size_t n;
};

/* Split p[0..n) at single spaces into exactly want non-empty tokens. */
static int split(const char *p, size_t n, struct tok *t, int want)
{
	int k = 0;
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != ' ')
			continue;
		if (i == start || k == want)
			return -1;
		t[k].p = p + start;
		t[k].n = i - start;
		k++;
		start = i + 1;
	}
	return k == want ? 0 : -1;
}

/* Parse a canonical decimal number no larger than max. */
static int parse_num(const struct tok *t, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (t->n == 0 || t->n > 20 || (t->n > 1 && t->p[0] == '0'))
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		unsigned d = (unsigned char)t->p[i] - '0';
		if (d > 9 || v > max / 10)
			return -1;
		v *= 10;
		if (d > max - v)
			return -1;
		v += d;
	}
	*out = v;
	return 0;
}

/* Parse exactly 8 lower-case hex digits. */
static int parse_crc(const struct tok *t, uint32_t *out)
{
	uint32_t v = 0;

	if (t->n != 8)
		return -1;
	for (size_t i = 0; i < 8; i++) {
		char c = t->p[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

/* Decode a field token into a fresh string (NULL for "-" when nullable). */
static int field_decode(const struct tok *t, int nullable, int empty_ok, char **out)
{
	char tmp[SPOOL_FIELD_MAX];
	size_t o = 0;

	*out = NULL;
	if (t->n == 1 && t->p[0] == '-')
		return nullable ? 0 : -1;
	if (t->n == 0 || t->p[0] != '=')
		return -1;
	for (size_t i = 1; i < t->n; i++) {
		unsigned char c = (unsigned char)t->p[i];
		if (o == sizeof(tmp))
			return -1;
		if (c == '%') {
			if (t->n - i < 3)
				return -1;
			int hi = smtp_xtext_hexval(t->p[i + 1]);
			int lo = smtp_xtext_hexval(t->p[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			if (c == 0 || !spool_field_must_escape(c))
				return -1;
			i += 2;
		} else if (spool_field_must_escape(c)) {
			return -1;
		}
		tmp[o++] = (char)c;
	}
	if (o == 0 && !empty_ok)
		return -1;
	if ((*out = malloc(o + 1)) == NULL)
		return -1;
	memcpy(*out, tmp, o);
	(*out)[o] = '\0';
	return 0;
}

/* Parse one envelope record (type letter at line[0]) into env. */
static const char *parse_rec(struct spool_env *env, const char *line, size_t ln, unsigned *seen)
{
	static const struct {
		char type;
		unsigned bit;
		int ntok;
	} recs[] = {
		{'I', SEEN_I, 1}, {'T', SEEN_T, 1}, {'S', SEEN_S, 1}, {'N', SEEN_N, 1},
		{'E', SEEN_E, 1}, {'F', SEEN_F, 2}, {'H', SEEN_H, 1}, {'C', SEEN_C, 1},
		{'D', SEEN_D, 1}, {'A', SEEN_A, 1}, {'R', 0, 3},
	};
	struct tok t[QF_TOKENS_MAX];
	unsigned long long v, w;
	size_t k;

	for (k = 0; k < sizeof(recs) / sizeof(recs[0]); k++)
		if (recs[k].type == line[0])
			break;
	if (k == sizeof(recs) / sizeof(recs[0]))
		return "unknown record type";
	if (*seen & recs[k].bit)
		return "duplicate record";
	*seen |= recs[k].bit;
	if (split(line + 2, ln - 2, t, recs[k].ntok) < 0)
		return "malformed record";
	switch (line[0]) {
	case 'I':
		if (t[0].n != SPOOL_QID_LEN)
			return "bad queue ID";
		memcpy(env->qid, t[0].p, SPOOL_QID_LEN);
		env->qid[SPOOL_QID_LEN] = '\0';
		return spool_qid_valid(env->qid) ? NULL : "bad queue ID";
	case 'T':
		if (parse_num(&t[0], QF_ARRIVAL_MAX, &v) < 0)
			return "bad arrival time";
		env->arrival = (time_t)v;
		return NULL;
	case 'S':
		return field_decode(&t[0], 0, 1, &env->sender) < 0 ? "bad sender" : NULL;
	case 'N':
		if (parse_num(&t[0], 2, &v) < 0)
			return "bad RET";
		env->ret = (int)v;
		return NULL;
	case 'E':
		return field_decode(&t[0], 1, 1, &env->envid) < 0 ? "bad ENVID" : NULL;
	case 'F':
		if (parse_num(&t[0], 1, &v) < 0 || parse_num(&t[1], 1, &w) < 0)
			return "bad flags";
		env->body_8bit |= (int)v;
		env->smtputf8 = (int)w;
		return NULL;
	case 'H':
		return field_decode(&t[0], 1, 1, &env->helo) < 0 ? "bad HELO" : NULL;
	case 'C':
		return field_decode(&t[0], 1, 1, &env->client_addr) < 0 ? "bad client address"
									: NULL;
	case 'D':
		return field_decode(&t[0], 1, 1, &env->client_name) < 0 ? "bad client name" : NULL;
	case 'A':
		if (parse_num(&t[0], 1, &v) < 0)
			return "bad sender authentication";
		env->sender_auth = (int)v;
		return NULL;
	default: { /* 'R' */
		char *addr, *orcpt;
		if (env->nrcpt >= SPOOL_RCPTS_MAX)
			return "too many recipients";
		if (parse_num(&t[0], SPOOL_NOTIFY_MASK, &v) < 0)
			return "bad NOTIFY";
		if (field_decode(&t[1], 0, 0, &addr) < 0)
			return "bad recipient";
		if (field_decode(&t[2], 1, 1, &orcpt) < 0) {
			free(addr);
			return "bad ORCPT";
		}
		if (spool_env_push_rcpt(env, addr, (unsigned)v, orcpt) < 0)
			return "out of memory";
		return NULL;
	}
	}
}

/* Parse the END record at buf[pos..len) and check it against what was read. */
static const char *parse_end(const uint8_t *buf, size_t pos, size_t len, unsigned long nrec,
			     unsigned long long blen, uint32_t crc)
{
	struct tok t[3];
	unsigned long long v;
	uint32_t c;

	if (pos == len)
		return "missing END record";
	const char *line = (const char *)buf + pos;
	size_t rem = len - pos;
	const char *nl = memchr(line, '\n', rem < 128 ? rem : 128);
	if (nl == NULL || line[0] != 'Z' || rem < 2 || line[1] != ' ')
		return "missing END record";
	if ((size_t)(nl - line) + 1 != rem)
		return "trailing garbage after END record";
	if (split(line + 2, (size_t)(nl - line) - 2, t, 3) < 0)
		return "malformed END record";
	if (parse_num(&t[0], ~0UL, &v) < 0 || v != nrec)
		return "record count mismatch";
	if (parse_num(&t[1], ~0ULL, &v) < 0 || v != blen)
		return "body length mismatch";
	if (parse_crc(&t[2], &c) < 0 || c != crc)
		return "checksum mismatch";
	return NULL;
}

/* Parse the envelope records after the magic line, up to the M record:
 * on success *pos is the M line's offset and *ln its length, *crc and
 * *nrec cover every record before it.  NULL, or why the image is bad. */
static const char *parse_envelope(const uint8_t *buf, size_t len, struct spool_env *env,
				  size_t *pos, size_t *ln, uint32_t *crc, unsigned long *nrec)
{
	unsigned seen = 0;
	const char *why;

	for (;;) {
		size_t rem = len - *pos;
		const char *line = (const char *)buf + *pos;
		const char *nl = memchr(line, '\n', rem < SPOOL_LINE_MAX ? rem : SPOOL_LINE_MAX);
		if (nl == NULL)
			return rem < SPOOL_LINE_MAX ? "truncated record" : "record too long";
		*ln = (size_t)(nl - line);
		if (*ln < 3 || line[1] != ' ')
			return "malformed record";
		if (line[0] == 'M')
			break;
		if ((why = parse_rec(env, line, *ln, &seen)) != NULL)
			return why;
		*crc = spool_crc32(*crc, line, *ln + 1);
		(*nrec)++;
		*pos += *ln + 1;
	}
	if ((seen & SEEN_ALL) != SEEN_ALL)
		return "missing envelope record";
	if (env->nrcpt == 0)
		return "no recipients";
	return NULL;
}

/* Parse the M record at buf[pos] (ln octets before its LF), the body after
 * it and the END record, continuing crc and nrec.  NULL, or why not. */
static const char *parse_body(const uint8_t *buf, size_t len, size_t pos, size_t ln,
			      struct spool_env *env, uint32_t crc, unsigned long nrec)
{
	const char *line = (const char *)buf + pos;
	unsigned long long blen = 0;

	if (ln != 2 + QF_MREC_DIGITS)
		return "malformed body record";
	for (size_t i = 0; i < QF_MREC_DIGITS; i++) {
		unsigned d = (unsigned char)line[2 + i] - '0';
		if (d > 9 || blen > (~0ULL - d) / 10)
			return "malformed body record";
		blen = blen * 10 + d;
	}
	nrec++;
	pos += 2 + QF_MREC_DIGITS + 1;
	if (blen > len - pos)
		return "body truncated";
	crc = spool_crc32(crc, buf + pos, (size_t)blen);
	if (smtp_has_8bit(buf + pos, (size_t)blen))
		env->body_8bit = 1;
	env->size = blen;
	env->body_off = pos;
	pos += (size_t)blen;
	return parse_end(buf, pos, len, nrec, blen, crc);
}

/* Pure, strict parser of a whole queue-file image. */
int spool_parse(const uint8_t *buf, size_t len, struct spool_env *env, const char **err)
{
	static const char magic[] = QF_MAGIC;
	const char *why;
	unsigned long nrec = 1;
	uint32_t crc;
	size_t pos = sizeof(magic) - 1, ln = 0;

	memset(env, 0, sizeof(*env));
	if (len < pos || memcmp(buf, magic, pos) != 0) {
		why = "bad magic or version";
		goto fail;
	}
	crc = spool_crc32(0, buf, pos);
	why = parse_envelope(buf, len, env, &pos, &ln, &crc, &nrec);
	if (why == NULL)
		why = parse_body(buf, len, pos, ln, env, crc, nrec);
	if (why == NULL)
		return 0;
fail:
	spool_env_clear(env);
	if (err != NULL)
		*err = why;
	errno = EBADMSG;
	return -1;
}

/* Apply one state record line (without LF); 0 or -1 if it must be skipped. */
static int state_line(struct spool_env *env, const char *line, size_t ln)
{
	struct tok t[4];
	unsigned long long idx, st;
	uint32_t crc;
	char *reply;

	if (ln < 11 || ln > SPOOL_LINE_MAX || line[0] != 'U' || line[1] != ' ')
		return -1;
	if (split(line + 2, ln - 2, t, 4) < 0 || parse_crc(&t[3], &crc) < 0)
		return -1;
	if (spool_crc32(0, line, ln - 9) != crc)
		return -1;
	if (parse_num(&t[0], SPOOL_RCPTS_MAX, &idx) < 0 || idx >= env->nrcpt)
		return -1;
	if (parse_num(&t[1], SPOOL_R_DEFERRED, &st) < 0)
		return -1;
	if (field_decode(&t[2], 1, 1, &reply) < 0)
		return -1;
	env->rcpt[idx].state = (enum spool_rstate)st;
	free(env->rcpt[idx].last_reply);
	env->rcpt[idx].last_reply = reply;
	return 0;
}

/* Pure: apply a state file image to env's recipients. */
void spool_state_apply(struct spool_env *env, const uint8_t *buf, size_t len, size_t *skipped)
{
	size_t pos = 0, bad = 0;

	while (pos < len) {
		const char *line = (const char *)buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		if (nl == NULL) { /* torn final record */
			bad++;
			break;
		}
		size_t ln = (size_t)(nl - line);
		pos += ln + 1;
		if (ln > 0 && state_line(env, line, ln) < 0)
			bad++;
	}
	if (skipped != NULL)
		*skipped = bad;
}
