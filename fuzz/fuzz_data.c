/*
 * fuzz_data.c - libFuzzer target for the DATA reader.
 *
 * The first two input bytes pick a split point, the rest is the stream.
 * The stream is fed whole and again in two chunks cut at that point; both
 * runs must agree on everything.  Invariants: output never exceeds what
 * was consumed, nothing is consumed beyond the input, END comes only right
 * after the first "\r\n.\r\n" (or a leading ".\r\n"), the output then
 * equals an independent dot-unstuffing of the lines before it, and the
 * bare CR / LF verdicts point at a real bare CR / LF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp.h"

struct run {
	enum smtp_data_status st;
	struct smtp_data_reader r;
	uint8_t *out;
	size_t outlen, consumed;
};

/* Feed one chunk and check the per-call invariants. */
static int feed(struct run *x, const uint8_t *in, size_t n)
{
	uint8_t *chunk = malloc(n ? n : 1), *out = malloc(n ? n : 1);
	size_t olen = 0, used = 0;

	if (chunk == NULL || out == NULL)
		abort();
	memcpy(chunk, in, n);   /* exact-size buffers so ASan sees over-reads */
	x->st = smtp_data_feed(&x->r, chunk, n, out, &olen, &used);
	if (olen > used || used > n || (x->st == SMTP_DATA_MORE && used != n))
		abort();
	memcpy(x->out + x->outlen, out, olen);
	x->outlen += olen;
	x->consumed += used;
	free(chunk);
	free(out);
	return x->st == SMTP_DATA_MORE;
}

/* Unstuff the CRLF lines of s[0..n) into out; returns the output length. */
static size_t ref_unstuff(const uint8_t *s, size_t n, uint8_t *out)
{
	size_t i = 0, o = 0;
	int bol = 1;

	for (i = 0; i < n; i++) {
		if (!(bol && s[i] == '.'))
			out[o++] = s[i];
		bol = s[i] == '\n';
	}
	return o;
}

/* Return the offset just past the first terminator in s[0..n), or 0. */
static size_t first_end(const uint8_t *s, size_t n)
{
	size_t i;

	if (n >= 3 && memcmp(s, ".\r\n", 3) == 0)
		return 3;
	for (i = 0; i + 5 <= n; i++)
		if (memcmp(s + i, "\r\n.\r\n", 5) == 0)
			return i + 5;
	return 0;
}

/* Return 1 if s[0..n) holds no bare LF and no bare CR (but a final CR). */
static int clean(const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return 0;
		if (s[i] == '\r' && i + 1 < n && s[i + 1] != '\n')
			return 0;
	}
	return 1;
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run a, b;
	const uint8_t *s;
	size_t n, split, p, e;
	uint8_t *ref;

	if (size < 2)
		return 0;
	s = data + 2;
	n = size - 2;
	split = ((size_t)data[0] | (size_t)data[1] << 8) % (n + 1);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.out = malloc(n + 1);
	b.out = malloc(n + 1);
	ref = malloc(n + 1);
	if (a.out == NULL || b.out == NULL || ref == NULL)
		abort();
	smtp_data_init(&a.r);
	smtp_data_init(&b.r);
	feed(&a, s, n);
	if (feed(&b, s, split))
		feed(&b, s + split, n - split);
	if (a.st != b.st || a.consumed != b.consumed || a.outlen != b.outlen ||
	    memcmp(a.out, b.out, a.outlen) != 0 || a.r.total != b.r.total ||
	    a.r.saw_nul != b.r.saw_nul || a.r.saw_8bit != b.r.saw_8bit ||
	    a.r.line_too_long != b.r.line_too_long || a.r.max_line_seen != b.r.max_line_seen ||
	    a.r.line_len != b.r.line_len || a.r.total != a.outlen)
		abort();
	p = a.consumed;
	e = first_end(s, n);
	switch (a.st) {
	case SMTP_DATA_END:
		if (e != p || !clean(s, p) || ref_unstuff(s, p - 3, ref) != a.outlen ||
		    memcmp(ref, a.out, a.outlen) != 0)
			abort();
		break;
	case SMTP_DATA_MORE:
		if (e != 0 || p != n || !clean(s, n))
			abort();
		break;
	case SMTP_DATA_BARE_LF:
		if (p >= n || s[p] != '\n' || (p > 0 && s[p - 1] == '\r') || (e != 0 && e <= p) ||
		    !clean(s, p))
			abort();
		break;
	case SMTP_DATA_BARE_CR:
		if (p == 0 || p >= n || s[p - 1] != '\r' || s[p] == '\n' || (e != 0 && e <= p) ||
		    !clean(s, p))
			abort();
		break;
	default:
		abort();
	}
	free(a.out);
	free(b.out);
	free(ref);
	return 0;
}
