/*
 * spool_fmt.c - the queue and state file formats, and their writer: pure
 *               formatting, no I/O.
 *
 * The formats are described here once; spool_parse.c is the strict parser
 * of the same formats, spool_qid.c makes the queue IDs and the CRC-32, and
 * spool_env.c checks that an envelope can be stored.  The writer emits
 * lines through a spool_put_fn (spool.c's buffered file writer, or a
 * struct bmx_buf for spool_format()), so the same code serves both.
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
 *     A 1                        optional: the sender passed SPF or DKIM at
 *                                arrival (a milter's Authentication-Results;
 *                                bounce_policy = authenticated)
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
#include "spool/spool_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

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
int spool_field_must_escape(unsigned char c)
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
		if (spool_field_must_escape(c)) {
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
	if (env->sender_auth) {
		l_str(l, "A");
		l_num(l, 1);
		rc |= l_emit(l, put, ctx, crc, nrec);
	}
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

/* Serialise a whole queue-file image into memory. */
int spool_format(const struct spool_env *env, const void *body, size_t len, uint8_t **out,
		 size_t *outlen)
{
	struct bmx_buf m = BMX_BUF_INIT;
	uint32_t crc = 0;
	unsigned long nrec = 0;
	char t[64];
	int n;

	if (spool_fmt_header(env, bmx_buf_put, &m, &crc, &nrec) < 0)
		goto fail;
	n = snprintf(t, sizeof(t), "M %0*llu\n", QF_MREC_DIGITS, (unsigned long long)len);
	nrec++;
	if (bmx_buf_add(&m, t, (size_t)n) < 0 || bmx_buf_add(&m, body, len) < 0)
		goto fail;
	crc = spool_crc32(crc, body, len);
	n = snprintf(t, sizeof(t), "Z %lu %llu %08x\n", nrec, (unsigned long long)len,
		     (unsigned)crc);
	if (bmx_buf_add(&m, t, (size_t)n) < 0)
		goto fail;
	*out = (uint8_t *)m.p;
	*outlen = m.len;
	return 0;
fail:
	bmx_buf_free(&m);
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
