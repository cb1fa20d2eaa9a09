/*
 * spool_fmt.c - queue IDs, envelope helpers, and the queue and state file
 *               formats: pure formatting and parsing, no I/O.
 *
 * QUEUE IDS
 *   20 characters of [0-9A-Za-z], whose ASCII order is their numeric order:
 *     [0,9)   microseconds since the epoch, base 62 (good until the year 2398)
 *     [9,12)  per-process sequence within one microsecond (238328 per us)
 *     [12,16) process ID (pid_max is 2^22 < 62^4)
 *     [16,20) random bits from getrandom()
 *   Within one process the (time, sequence) pair strictly increases, even
 *   when the clock steps back, so lexical order is arrival order; across
 *   processes the pid and the random bits keep IDs unique.  Not thread-safe
 *   (the daemon has one thread).
 *
 * QUEUE FILE FORMAT (version 1)
 *   Every record but the body is one line: a type letter, one space, tokens
 *   separated by single spaces, LF.  Tokens hold printable ASCII
 *   (0x21-0x7e) only.  Numbers are canonical decimal (no sign, no leading
 *   zero).  A string field is "-" (absent: NULL) or "=" followed by the value,
 *   in which every octet outside 0x21-0x7e, and '%' itself, is written %XX
 *   (upper-case hex).  Any other escape, %00, or a value longer than
 *   SPOOL_FIELD_MAX is an error, so an envelope string can hold no CR, LF or
 *   NUL that could end a record or forge one, and each value has exactly
 *   one encoding.
 *
 *     BMXQ 1                     magic and format version, the first line
 *     I <qid>                    queue ID (spool_load checks it is the name)
 *     T <arrival>                seconds since the epoch
 *     S <sender>                 field, "=" alone for the null sender
 *     N <ret>                    DSN RET: 0 none, 1 FULL, 2 HDRS
 *     E <envid>                  field or -
 *     F <body_8bit> <smtputf8>   0 or 1 each
 *     H <helo>                   field or -  (client facts)
 *     C <client_addr>            field or -
 *     D <client_name>            field or -
 *     R <notify> <addr> <orcpt>  one per recipient, in index order:
 *                                NOTIFY bits 0-15, non-empty addr, orcpt or -
 *     M <len>                    body length, exactly 20 digits, zero-padded,
 *     <len raw octets>           then the body itself (binary-safe),
 *     Z <nrec> <len> <crc>       END: the count of records before it (magic
 *                                through M), the body length again, and the
 *                                CRC-32 (8 lower-case hex digits) of every
 *                                octet before this line except the M line.
 *
 *   The records I to D occur exactly once each, in any order, mixed with the
 *   R records, after the magic line and before M.  The M line is left out of
 *   the checksum because the writer fills its length in last (pwrite over a
 *   placeholder of the same width); its value is checked against the END
 *   record and the file size instead.  Anything else fails the parse: a
 *   missing or duplicate record, an unknown type, an over-long line, a
 *   length or count or checksum mismatch, bytes after END.  The parsed
 *   body_8bit is the F flag OR "an octet >= 0x80 occurs in the body".
 *
 * STATE FILE FORMAT (state/ID.st, append-only)
 *     U <idx> <state> <reply> <crc>
 *   idx: recipient index; state: 0 pending, 1 sent, 2 bounced, 3 deferred;
 *   reply: field or -; crc: CRC-32 of the line up to the space before it.
 *   Later records win.  A record that is torn (no LF), damaged (bad CRC,
 *   malformed) or out of range is skipped, never fatal; empty lines are
 *   ignored (the writer starts a record with LF when the file's last record
 *   was torn, so a torn record never swallows the next one).
 */
#include "spool/spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define QF_MAGIC        "BMXQ 1\n"
#define QF_MREC_DIGITS  20            /* width of the M record's length */
#define QF_ARRIVAL_MAX  253402300799ULL /* 9999-12-31T23:59:59Z */
#define QF_TOKENS_MAX   4

/* Bits of the singleton records seen by the parser. */
enum {
	SEEN_I = 1 << 0, SEEN_T = 1 << 1, SEEN_S = 1 << 2, SEEN_N = 1 << 3, SEEN_E = 1 << 4,
	SEEN_F = 1 << 5, SEEN_H = 1 << 6, SEEN_C = 1 << 7, SEEN_D = 1 << 8, SEEN_ALL = (1 << 9) - 1
};

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int (*spool_fault_hook)(const char *op, const char *qid);

/* ---- CRC-32, slice-by-8 ---- */

static uint32_t crc_tab[8][256];
static int crc_ready;

/* Build the eight CRC tables once. */
static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^
					crc_tab[0][crc_tab[t - 1][i] & 0xff];
	crc_ready = 1;
}

/* CRC-32 of buf continuing from crc. */
uint32_t spool_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!crc_ready)
		crc_init();
	crc = ~crc;
	while (len >= 8) {
		uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				    (uint32_t)p[3] << 24);
		crc = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^
		      crc_tab[5][(a >> 16) & 0xff] ^ crc_tab[4][a >> 24] ^ crc_tab[3][p[4]] ^
		      crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^ crc_tab[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

/* ---- queue IDs ---- */

/* Write v in base 62, fixed width, most significant digit first. */
static void b62_put(char *out, int width, uint64_t v)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = b62[v % 62];
		v /= 62;
	}
}

/* splitmix64 step, the fallback when getrandom() has nothing to give. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* A fresh unique queue ID, sortable by arrival time. */
void spool_qid_new(char out[SPOOL_QID_LEN + 1])
{
	static const uint64_t p3 = 62ULL * 62 * 62, p4 = 62ULL * 62 * 62 * 62;
	static const uint64_t p9 = 62ULL * 62 * 62 * 62 * 62 * 62 * 62 * 62 * 62;
	static uint64_t last_us, seq, fallback;
	struct timespec ts;
	uint32_t r;

	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if (now > last_us) {
		last_us = now;
		seq = 0;
	} else if (++seq >= p3) {
		last_us++;
		seq = 0;
	}
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)mix64(now ^ ((uint64_t)getpid() << 40) ^ ++fallback);
	b62_put(out, 9, last_us % p9);
	b62_put(out + 9, 3, seq);
	b62_put(out + 12, 4, (uint64_t)getpid() % p4);
	b62_put(out + 16, 4, r % p4);
	out[SPOOL_QID_LEN] = '\0';
}

/* Is c one of [0-9A-Za-z]? */
static int is_b62(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Is s a well-formed queue ID? */
int spool_qid_valid(const char *s)
{
	if (s == NULL)
		return 0;
	for (size_t i = 0; i < SPOOL_QID_LEN; i++)
		if (!is_b62((unsigned char)s[i]))
			return 0;
	return s[SPOOL_QID_LEN] == '\0';
}

/* ---- envelope helpers ---- */

/* Name of a recipient state. */
const char *spool_rstate_name(enum spool_rstate st)
{
	static const char *names[] = {"pending", "sent", "bounced", "deferred"};
	return (unsigned)st < 4 ? names[st] : "?";
}

/* Append a recipient taking ownership of addr and orcpt (freed on failure). */
static int rcpt_push(struct spool_env *env, char *addr, unsigned notify, char *orcpt)
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
	return rcpt_push(env, a, notify, o);
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

/* ---- formatting ---- */

/* One record line under construction. */
struct line {
	char b[SPOOL_LINE_MAX];
	size_t n;
	int over;
};

/* Append n bytes to the line. */
static void l_put(struct line *l, const char *p, size_t n)
{
	if (l->over || n > sizeof(l->b) - l->n) {
		l->over = 1;
		return;
	}
	memcpy(l->b + l->n, p, n);
	l->n += n;
}

/* Append a C string. */
static void l_str(struct line *l, const char *s)
{
	l_put(l, s, strlen(s));
}

/* Append " <number>". */
static void l_num(struct line *l, unsigned long long v)
{
	char t[24];
	int n = snprintf(t, sizeof(t), " %llu", v);
	l_put(l, t, (size_t)n);
}

/* Does octet c have to be escaped in a field? */
static int must_escape(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || c == '%';
}

/* Append " -" for NULL or " =escaped-value"; at most max octets of s. */
static void l_field(struct line *l, const char *s, size_t max)
{
	static const char hex[] = "0123456789ABCDEF";

	if (s == NULL) {
		l_put(l, " -", 2);
		return;
	}
	l_put(l, " =", 2);
	for (size_t i = 0; i < max && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];
		if (must_escape(c)) {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			l_put(l, e, 3);
		} else {
			l_put(l, (const char *)&c, 1);
		}
	}
}

/* Finish a line with LF, checksum and count it, and hand it to put. */
static int l_emit(struct line *l, spool_put_fn put, void *ctx, uint32_t *crc,
		  unsigned long *nrec)
{
	l_put(l, "\n", 1);
	if (l->over) {
		errno = EINVAL;
		return -1;
	}
	*crc = spool_crc32(*crc, l->b, l->n);
	(*nrec)++;
	int rc = put(ctx, l->b, l->n);
	l->n = 0;
	return rc;
}

/* Emit the envelope records through put. */
int spool_fmt_header(const struct spool_env *env, spool_put_fn put, void *ctx, uint32_t *crc,
		     unsigned long *nrec)
{
	struct line *l;
	int rc = 0;

	if (spool_env_check(env, NULL) < 0)
		return -1;
	if ((l = malloc(sizeof(*l))) == NULL)
		return -1;
	l->n = 0;
	l->over = 0;
	l_str(l, "BMXQ 1");
	rc |= l_emit(l, put, ctx, crc, nrec);
	l_str(l, "I ");
	l_str(l, env->qid);
	rc |= l_emit(l, put, ctx, crc, nrec);
	l_str(l, "T");
	l_num(l, (unsigned long long)env->arrival);
	rc |= l_emit(l, put, ctx, crc, nrec);
	l_str(l, "S");
	l_field(l, env->sender, SPOOL_FIELD_MAX);
	rc |= l_emit(l, put, ctx, crc, nrec);
	l_str(l, "N");
	l_num(l, (unsigned long long)env->ret);
	rc |= l_emit(l, put, ctx, crc, nrec);
	l_str(l, "E");
	l_field(l, env->envid, SPOOL_FIELD_MAX);
	rc |= l_emit(l, put, ctx, crc, nrec);
	l_str(l, "F");
	l_num(l, env->body_8bit != 0);
	l_num(l, env->smtputf8 != 0);
	rc |= l_emit(l, put, ctx, crc, nrec);
	l_str(l, "H");
	l_field(l, env->helo, SPOOL_FIELD_MAX);
	rc |= l_emit(l, put, ctx, crc, nrec);
	l_str(l, "C");
	l_field(l, env->client_addr, SPOOL_FIELD_MAX);
	rc |= l_emit(l, put, ctx, crc, nrec);
	l_str(l, "D");
	l_field(l, env->client_name, SPOOL_FIELD_MAX);
	rc |= l_emit(l, put, ctx, crc, nrec);
	for (size_t i = 0; rc == 0 && i < env->nrcpt; i++) {
		l_str(l, "R");
		l_num(l, env->rcpt[i].notify);
		l_field(l, env->rcpt[i].addr, SPOOL_FIELD_MAX);
		l_field(l, env->rcpt[i].orcpt, SPOOL_FIELD_MAX);
		rc |= l_emit(l, put, ctx, crc, nrec);
	}
	free(l);
	return rc == 0 ? 0 : -1;
}

/* A growable memory buffer, the put target of spool_format(). */
struct membuf {
	uint8_t *p;
	size_t n, cap;
};

/* Append to a membuf. */
static int mem_put(void *ctx, const void *p, size_t n)
{
	struct membuf *m = ctx;

	if (n > m->cap - m->n) {
		size_t cap = m->cap ? m->cap : 4096;
		while (cap - m->n < n) {
			if (cap > SIZE_MAX / 2) {
				errno = ENOMEM;
				return -1;
			}
			cap *= 2;
		}
		uint8_t *q = realloc(m->p, cap);
		if (q == NULL)
			return -1;
		m->p = q;
		m->cap = cap;
	}
	if (n > 0)
		memcpy(m->p + m->n, p, n);
	m->n += n;
	return 0;
}

/* Serialise a whole queue-file image into memory. */
int spool_format(const struct spool_env *env, const void *body, size_t len, uint8_t **out,
		 size_t *outlen)
{
	struct membuf m = {0};
	uint32_t crc = 0;
	unsigned long nrec = 0;
	char t[64];
	int n;

	if (spool_fmt_header(env, mem_put, &m, &crc, &nrec) < 0)
		goto fail;
	n = snprintf(t, sizeof(t), "M %0*llu\n", QF_MREC_DIGITS, (unsigned long long)len);
	nrec++;
	if (mem_put(&m, t, (size_t)n) < 0 || mem_put(&m, body, len) < 0)
		goto fail;
	crc = spool_crc32(crc, body, len);
	n = snprintf(t, sizeof(t), "Z %lu %llu %08x\n", nrec, (unsigned long long)len,
		     (unsigned)crc);
	if (mem_put(&m, t, (size_t)n) < 0)
		goto fail;
	*out = m.p;
	*outlen = m.n;
	return 0;
fail:
	free(m.p);
	return -1;
}

/* Format one state record. */
int spool_fmt_state(char *buf, size_t size, size_t idx, enum spool_rstate st, const char *reply)
{
	struct line *l;
	char t[16];
	int n = -1;

	if ((unsigned)st > SPOOL_R_DEFERRED || idx >= SPOOL_RCPTS_MAX)
		return -1;
	if ((l = malloc(sizeof(*l))) == NULL)
		return -1;
	l->n = 0;
	l->over = 0;
	l_str(l, "U");
	l_num(l, idx);
	l_num(l, (unsigned long long)st);
	l_field(l, reply, SPOOL_FIELD_MAX);
	uint32_t crc = spool_crc32(0, l->b, l->n);
	snprintf(t, sizeof(t), " %08x\n", (unsigned)crc);
	l_str(l, t);
	if (!l->over && l->n < size) {
		memcpy(buf, l->b, l->n);
		buf[l->n] = '\0';
		n = (int)l->n;
	}
	free(l);
	return n;
}

/* ---- parsing ---- */

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

/* Value of an upper-case hex digit, or -1. */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
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
			int hi = hexval(t->p[i + 1]), lo = hexval(t->p[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			if (c == 0 || !must_escape(c))
				return -1;
			i += 2;
		} else if (must_escape(c)) {
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

/* Does any octet of p[0..n) have its high bit set? */
static int has_8bit(const uint8_t *p, size_t n)
{
	uint64_t acc = 0;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= p[i];
	return (acc & 0x8080808080808080ULL) != 0;
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
		{'D', SEEN_D, 1}, {'R', 0, 3},
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
		for (size_t i = 0; i < SPOOL_QID_LEN; i++)
			if (!is_b62((unsigned char)t[0].p[i]))
				return "bad queue ID";
		memcpy(env->qid, t[0].p, SPOOL_QID_LEN);
		env->qid[SPOOL_QID_LEN] = '\0';
		return NULL;
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
		return rcpt_push(env, addr, (unsigned)v, orcpt) < 0 ? "out of memory" : NULL;
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

/* Pure, strict parser of a whole queue-file image. */
int spool_parse(const uint8_t *buf, size_t len, struct spool_env *env, const char **err)
{
	static const char magic[] = QF_MAGIC;
	const char *why = NULL;
	unsigned long nrec = 1;
	unsigned seen = 0;
	uint32_t crc;
	size_t pos = sizeof(magic) - 1, ln;

	memset(env, 0, sizeof(*env));
	if (len < pos || memcmp(buf, magic, pos) != 0) {
		why = "bad magic or version";
		goto fail;
	}
	crc = spool_crc32(0, buf, pos);
	for (;;) {
		size_t rem = len - pos;
		const char *line = (const char *)buf + pos;
		const char *nl = memchr(line, '\n', rem < SPOOL_LINE_MAX ? rem : SPOOL_LINE_MAX);
		if (nl == NULL) {
			why = rem < SPOOL_LINE_MAX ? "truncated record" : "record too long";
			goto fail;
		}
		ln = (size_t)(nl - line);
		if (ln < 3 || line[1] != ' ') {
			why = "malformed record";
			goto fail;
		}
		if (line[0] == 'M')
			break;
		if ((why = parse_rec(env, line, ln, &seen)) != NULL)
			goto fail;
		crc = spool_crc32(crc, line, ln + 1);
		nrec++;
		pos += ln + 1;
	}
	/* the body record */
	{
		const char *line = (const char *)buf + pos;
		unsigned long long blen = 0;

		if (seen != SEEN_ALL) {
			why = "missing envelope record";
			goto fail;
		}
		if (env->nrcpt == 0) {
			why = "no recipients";
			goto fail;
		}
		if (ln != 2 + QF_MREC_DIGITS) {
			why = "malformed body record";
			goto fail;
		}
		for (size_t i = 0; i < QF_MREC_DIGITS; i++) {
			unsigned d = (unsigned char)line[2 + i] - '0';
			if (d > 9 || blen > (~0ULL - d) / 10) {
				why = "malformed body record";
				goto fail;
			}
			blen = blen * 10 + d;
		}
		nrec++;
		pos += 2 + QF_MREC_DIGITS + 1;
		if (blen > len - pos) {
			why = "body truncated";
			goto fail;
		}
		crc = spool_crc32(crc, buf + pos, (size_t)blen);
		if (has_8bit(buf + pos, (size_t)blen))
			env->body_8bit = 1;
		env->size = blen;
		env->body_off = pos;
		pos += (size_t)blen;
		if ((why = parse_end(buf, pos, len, nrec, blen, crc)) != NULL)
			goto fail;
	}
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
