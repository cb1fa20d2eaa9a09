/*
 * test_data.c - table tests for the DATA reader (smtp_data_feed).
 *
 * Every case is fed whole, split at every possible point into two chunks,
 * and one byte at a time; all three must agree on the status, the output
 * and the number of bytes consumed.  The table holds every SMTP smuggling
 * variant from issue 6, each followed by a pipelined "MAIL FROM:<x@y>",
 * and proves that none of them ends the message at the fake terminator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/smtp.h"

#define SMUG_PAYLOAD "MAIL FROM:<x@y>\r\n"
#define S(x) x, sizeof(x) - 1

struct data_case {
	const char *name;
	const char *in;
	size_t inlen;
	enum smtp_data_status st;
	const char *out;          /* expected output */
	size_t outlen;
	size_t consumed;          /* expected bytes consumed in total */
	int nul, eightbit, too_long;
};

static const struct data_case cases[] = {
	{ "empty message", S(".\r\n"), SMTP_DATA_END, S(""), 3, 0, 0, 0 },
	{ "one empty line", S("\r\n.\r\n"), SMTP_DATA_END, S("\r\n"), 5, 0, 0, 0 },
	{ "simple", S("a\r\n.\r\n"), SMTP_DATA_END, S("a\r\n"), 6, 0, 0, 0 },
	{ "trailing bytes not consumed", S("a\r\n.\r\nQUIT\r\n"), SMTP_DATA_END, S("a\r\n"), 6,
	  0, 0, 0 },
	{ "dot unstuffing", S("..\r\n.\r\n"), SMTP_DATA_END, S(".\r\n"), 7, 0, 0, 0 },
	{ "dot unstuffing text", S(".a\r\n..b\r\nc.\r\n.\r\n"), SMTP_DATA_END,
	  S("a\r\n.b\r\nc.\r\n"), 16, 0, 0, 0 },
	{ "dot inside line", S("a.\r\n.\r\n"), SMTP_DATA_END, S("a.\r\n"), 7, 0, 0, 0 },
	{ "no end yet", S("abc\r\ndef"), SMTP_DATA_MORE, S("abc\r\ndef"), 8, 0, 0, 0 },
	{ "CR at end waits", S("abc\r"), SMTP_DATA_MORE, S("abc\r"), 4, 0, 0, 0 },
	{ "dot CR at end waits", S("a\r\n.\r"), SMTP_DATA_MORE, S("a\r\n"), 5, 0, 0, 0 },
	{ "bare CR", S("a\rb\r\n.\r\n"), SMTP_DATA_BARE_CR, S("a\r"), 2, 0, 0, 0 },
	{ "bare LF", S("a\nb\r\n.\r\n"), SMTP_DATA_BARE_LF, S("a"), 1, 0, 0, 0 },
	{ "CR CR LF", S("a\r\r\n"), SMTP_DATA_BARE_CR, S("a\r"), 2, 0, 0, 0 },
	{ "LF first", S("\n.\r\n"), SMTP_DATA_BARE_LF, S(""), 0, 0, 0, 0 },
	{ "dot LF first", S(".\n"), SMTP_DATA_BARE_LF, S(""), 1, 0, 0, 0 },
	{ "NUL and 8bit", S("\0\xc3\xa9\r\n.\r\n"), SMTP_DATA_END, S("\0\xc3\xa9\r\n"), 8, 1,
	  1, 0 },
	{ "stuffed 8bit", S(".\xff\r\n.\r\n"), SMTP_DATA_END, S("\xff\r\n"), 7, 0, 1, 0 },

	/* the smuggling variants (issue 6); none may end the message */
	{ "smuggle \\n.\\n", S("hi\n.\n" SMUG_PAYLOAD), SMTP_DATA_BARE_LF, S("hi"), 2, 0, 0, 0 },
	{ "smuggle \\n.\\r\\n", S("hi\n.\r\n" SMUG_PAYLOAD), SMTP_DATA_BARE_LF, S("hi"), 2, 0, 0,
	  0 },
	{ "smuggle \\r.\\r", S("hi\r.\r" SMUG_PAYLOAD), SMTP_DATA_BARE_CR, S("hi\r"), 3, 0, 0,
	  0 },
	{ "smuggle \\r.\\r\\n", S("hi\r.\r\n" SMUG_PAYLOAD), SMTP_DATA_BARE_CR, S("hi\r"), 3, 0,
	  0, 0 },
	{ "smuggle \\r\\n.\\n", S("hi\r\n.\n" SMUG_PAYLOAD), SMTP_DATA_BARE_LF, S("hi\r\n"), 5,
	  0, 0, 0 },
	{ "smuggle \\r\\n.\\r", S("hi\r\n.\r" SMUG_PAYLOAD), SMTP_DATA_BARE_CR, S("hi\r\n"), 6,
	  0, 0, 0 },
	{ "smuggle \\n\\n.\\r\\n", S("hi\n\n.\r\n" SMUG_PAYLOAD), SMTP_DATA_BARE_LF, S("hi"), 2,
	  0, 0, 0 },
	{ "smuggle \\r\\n\\0.\\r\\n", S("hi\r\n\0.\r\n" SMUG_PAYLOAD "\r\n.\r\n"),
	  SMTP_DATA_END, S("hi\r\n\0.\r\n" SMUG_PAYLOAD "\r\n"), 30, 1, 0, 0 },
	{ "smuggle \\r\\n.\\0\\r\\n", S("hi\r\n.\0\r\n" SMUG_PAYLOAD "\r\n.\r\n"),
	  SMTP_DATA_END, S("hi\r\n\0\r\n" SMUG_PAYLOAD "\r\n"), 30, 1, 0, 0 },
	{ "smuggle, no real end", S("hi\r\n\0.\r\n" SMUG_PAYLOAD), SMTP_DATA_MORE,
	  S("hi\r\n\0.\r\n" SMUG_PAYLOAD), 25, 1, 0, 0 },
};

/* Result of feeding one input in chunks. */
struct feed_result {
	enum smtp_data_status st;
	uint8_t out[256];
	size_t outlen, consumed;
	struct smtp_data_reader r;
};

/* Feed in[0..len) in chunks cut at split (0 = whole) or every byte (step 1). */
static void feed(const uint8_t *in, size_t len, size_t split, int bytewise,
		 struct feed_result *res)
{
	size_t pos = 0;

	smtp_data_init(&res->r);
	res->st = SMTP_DATA_MORE;
	res->outlen = 0;
	while (pos < len) {
		size_t n = bytewise ? 1 : (split > pos ? split - pos : len - pos);
		uint8_t *chunk = malloc(n ? n : 1), *out = malloc(n ? n : 1);
		size_t olen = 99, used = 99;

		assert_non_null(chunk);
		assert_non_null(out);
		memcpy(chunk, in + pos, n);     /* exact-size copies for ASan */
		res->st = smtp_data_feed(&res->r, chunk, n, out, &olen, &used);
		assert_true(olen <= used);
		assert_true(used <= n);
		assert_true(res->outlen + olen <= sizeof(res->out));
		memcpy(res->out + res->outlen, out, olen);
		res->outlen += olen;
		pos += used;
		free(chunk);
		free(out);
		if (res->st != SMTP_DATA_MORE)
			break;
		assert_int_equal(used, n);
	}
	res->consumed = pos;
}

/* Compare one feeding against the table row. */
static void check(const struct data_case *c, const struct feed_result *res, const char *how)
{
	if (res->st != c->st || res->outlen != c->outlen || res->consumed != c->consumed ||
	    memcmp(res->out, c->out, c->outlen) != 0)
		fail_msg("%s (%s): status %d consumed %zu outlen %zu", c->name, how, res->st,
			 res->consumed, res->outlen);
	assert_int_equal(res->r.saw_nul, c->nul);
	assert_int_equal(res->r.saw_8bit, c->eightbit);
	assert_int_equal(res->r.line_too_long, c->too_long);
	assert_int_equal(res->r.total, c->outlen);
}

/* Every case, whole, at every split point and byte by byte. */
static void test_table(void **state)
{
	size_t i, s;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct data_case *c = &cases[i];
		struct feed_result res;

		feed((const uint8_t *)c->in, c->inlen, 0, 0, &res);
		check(c, &res, "whole");
		for (s = 1; s < c->inlen; s++) {
			feed((const uint8_t *)c->in, c->inlen, s, 0, &res);
			check(c, &res, "split");
		}
		feed((const uint8_t *)c->in, c->inlen, 0, 1, &res);
		check(c, &res, "bytewise");
	}
}

/* No smuggling variant returns END at the fake terminator, at any split. */
static void test_smuggling_never_ends_early(void **state)
{
	static const char *const variants[] = {
		"\n.\n", "\n.\r\n", "\r.\r", "\r.\r\n", "\r\n.\n", "\r\n.\r", "\n\n.\r\n",
	};
	static const struct { const char *v; size_t n; } nul_variants[] = {
		{ S("\r\n\0.\r\n") }, { S("\r\n.\0\r\n") },
	};
	uint8_t buf[128];
	size_t i, n, s;

	(void)state;
	for (i = 0; i < 9; i++) {
		const char *v = i < 7 ? variants[i] : nul_variants[i - 7].v;
		size_t vlen = i < 7 ? strlen(v) : nul_variants[i - 7].n;

		n = 0;
		memcpy(buf, "Subject: x\r\n\r\nbody", 18);
		n += 18;
		memcpy(buf + n, v, vlen);
		n += vlen;
		memcpy(buf + n, SMUG_PAYLOAD, strlen(SMUG_PAYLOAD));
		n += strlen(SMUG_PAYLOAD);
		for (s = 0; s < n; s++) {
			struct feed_result res;

			feed(buf, n, s, 0, &res);
			assert_int_not_equal(res.st, SMTP_DATA_END);
			if (i < 7)
				assert_true(res.st == SMTP_DATA_BARE_LF ||
					    res.st == SMTP_DATA_BARE_CR);
			else
				assert_int_equal(res.st, SMTP_DATA_MORE);
		}
	}
}

/* Line length accounting: 998 octets + CRLF is fine, 999 is too long;
 * a stuffed dot does not count (RFC 5321 4.5.3.1.6). */
static void test_line_length(void **state)
{
	static const struct { size_t text; int dot; int too_long; } tab[] = {
		{ 998, 0, 0 }, { 999, 0, 1 }, { 998, 1, 0 }, { 999, 1, 1 }, { 5000, 0, 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		size_t n = 0, olen, used;
		uint8_t *in = malloc(tab[i].text + 16), *out = malloc(tab[i].text + 16);
		struct smtp_data_reader r;

		assert_non_null(in);
		assert_non_null(out);
		if (tab[i].dot)
			in[n++] = '.';
		memset(in + n, 'x', tab[i].text);
		n += tab[i].text;
		memcpy(in + n, "\r\nok\r\n.\r\n", 9);
		n += 9;
		smtp_data_init(&r);
		assert_int_equal(smtp_data_feed(&r, in, n, out, &olen, &used), SMTP_DATA_END);
		assert_int_equal(used, n);
		assert_int_equal(r.line_too_long, tab[i].too_long);
		assert_int_equal(r.max_line_seen, tab[i].text + 2);
		assert_int_equal(olen, tab[i].text + 6);
		free(in);
		free(out);
	}
}

/* After END or an error the reader stays put and consumes nothing. */
static void test_sticky(void **state)
{
	struct smtp_data_reader r;
	uint8_t out[16];
	size_t olen, used;

	(void)state;
	smtp_data_init(&r);
	assert_int_equal(smtp_data_feed(&r, (const uint8_t *)".\r\n", 3, out, &olen, &used),
			 SMTP_DATA_END);
	assert_int_equal(smtp_data_feed(&r, (const uint8_t *)"x", 1, out, &olen, &used),
			 SMTP_DATA_END);
	assert_int_equal(used, 0);
	assert_int_equal(olen, 0);
	smtp_data_init(&r);
	assert_int_equal(smtp_data_feed(&r, (const uint8_t *)"\n", 1, out, &olen, &used),
			 SMTP_DATA_BARE_LF);
	assert_int_equal(smtp_data_feed(&r, (const uint8_t *)"x", 1, out, &olen, &used),
			 SMTP_DATA_BARE_LF);
	assert_int_equal(used, 0);
	/* an empty chunk is harmless */
	smtp_data_init(&r);
	assert_int_equal(smtp_data_feed(&r, (const uint8_t *)"", 0, out, &olen, &used),
			 SMTP_DATA_MORE);
	assert_int_equal(used, 0);
}

/* Run the DATA reader tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_smuggling_never_ends_early),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
