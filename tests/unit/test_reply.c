/*
 * test_reply.c - table tests for the client's reply parser and EHLO caps.
 *
 * smtp_reply_parse() is checked on complete, incomplete and malformed
 * replies, on its limits (line length, line count, stored text), and on the
 * property that every proper prefix of a complete reply asks for more bytes
 * while a reply that never ends is refused once it passes the limits.
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

#define S(x) x, sizeof(x) - 1

struct reply_case {
	const char *in;
	size_t len;
	ssize_t ret;            /* > 0 consumed, 0 need more, -1 error */
	int code;
	const char *enh;
	int nlines;
	const char *text;
};

static const struct reply_case cases[] = {
	/* complete */
	{ S("250 ok\r\n"), 8, 250, "", 1, "ok" },
	{ S("250 ok\n"), 7, 250, "", 1, "ok" },
	{ S("250\r\n"), 5, 250, "", 1, "" },
	{ S("250 \r\n"), 6, 250, "", 1, "" },
	{ S("250-a\r\n250 b\r\n"), 14, 250, "", 2, "a\nb" },
	{ S("250-a\n250-\r\n250 c\n"), 18, 250, "", 3, "a\n\nc" },
	{ S("250-a\r\n250\r\n"), 12, 250, "", 2, "a\n" },
	{ S("250 ok\r\nextra"), 8, 250, "", 1, "ok" },
	{ S("220 mx ESMTP\r\n250 next\r\n"), 14, 220, "", 1, "mx ESMTP" },
	{ S("250 2.0.0 Ok: queued as X\r\n"), 27, 250, "2.0.0", 1, "2.0.0 Ok: queued as X" },
	{ S("550-5.1.1 no\r\n550 5.1.1 such\r\n"), 30, 550, "5.1.1", 2,
	  "5.1.1 no\n5.1.1 such" },
	{ S("451 4.7.1\r\n"), 11, 451, "4.7.1", 1, "4.7.1" },
	{ S("452 4.123.999 x\r\n"), 17, 452, "4.123.999", 1, "4.123.999 x" },
	{ S("550 2.1.1 wrong class\r\n"), 23, 550, "", 1, "2.1.1 wrong class" },
	{ S("354 3.0.0 go\r\n"), 14, 354, "", 1, "3.0.0 go" },
	{ S("250 2.0.0x\r\n"), 12, 250, "", 1, "2.0.0x" },
	{ S("250 2.1000.0 x\r\n"), 16, 250, "", 1, "2.1000.0 x" },
	{ S("250 2..0 x\r\n"), 12, 250, "", 1, "2..0 x" },
	{ S("250 text\twith tab\r\n"), 19, 250, "", 1, "text\twith tab" },
	{ S("599 x\r\n"), -1, 0, NULL, 0, NULL },
	/* incomplete */
	{ S(""), 0, 0, NULL, 0, NULL },
	{ S("2"), 0, 0, NULL, 0, NULL },
	{ S("250"), 0, 0, NULL, 0, NULL },
	{ S("250 ok"), 0, 0, NULL, 0, NULL },
	{ S("250 ok\r"), 0, 0, NULL, 0, NULL },
	{ S("250-a\r\n"), 0, 0, NULL, 0, NULL },
	{ S("250-a\r\n25"), 0, 0, NULL, 0, NULL },
	/* malformed */
	{ S("a"), -1, 0, NULL, 0, NULL },
	{ S("abc\r\n"), -1, 0, NULL, 0, NULL },
	{ S("150 x\r\n"), -1, 0, NULL, 0, NULL },
	{ S("650 x\r\n"), -1, 0, NULL, 0, NULL },
	{ S("260 x\r\n"), -1, 0, NULL, 0, NULL },
	{ S("2x0 x\r\n"), -1, 0, NULL, 0, NULL },
	{ S("250x\r\n"), -1, 0, NULL, 0, NULL },
	{ S("250_x"), -1, 0, NULL, 0, NULL },
	{ S("25\r\n"), -1, 0, NULL, 0, NULL },
	{ S("\r\n"), -1, 0, NULL, 0, NULL },
	{ S("\n"), -1, 0, NULL, 0, NULL },
	{ S("250-a\r\n251 b\r\n"), -1, 0, NULL, 0, NULL },
	{ S("250-a\r\n550 b\r\n"), -1, 0, NULL, 0, NULL },
	{ S("250 a\0b\r\n"), -1, 0, NULL, 0, NULL },
	{ S("250 a\0"), -1, 0, NULL, 0, NULL },
	{ S("\0"), -1, 0, NULL, 0, NULL },
	{ S("250 a\rb\r\n"), -1, 0, NULL, 0, NULL },
	{ S("250 a\r\r\n"), -1, 0, NULL, 0, NULL },
	{ S("250-a\r\n250 b\rc"), -1, 0, NULL, 0, NULL },
};

/* Parse a copy of exactly len bytes, so ASan sees any over-read. */
static ssize_t parse_exact(const char *in, size_t len, struct smtp_reply *r, const char **err)
{
	uint8_t *buf = malloc(len ? len : 1);
	ssize_t n;

	assert_non_null(buf);
	memcpy(buf, in, len);
	n = smtp_reply_parse(buf, len, r, err);
	free(buf);
	return n;
}

/* Every table row. */
static void test_table(void **state)
{
	static struct smtp_reply r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct reply_case *c = &cases[i];
		const char *err = NULL;
		ssize_t n = parse_exact(c->in, c->len, &r, &err);

		if (n != c->ret)
			fail_msg("case %zu \"%s\": got %zd want %zd", i, c->in, n, c->ret);
		if (n < 0) {
			assert_non_null(err);
			continue;
		}
		if (n == 0)
			continue;
		assert_int_equal(r.code, c->code);
		assert_string_equal(r.enh, c->enh);
		assert_int_equal(r.nlines, c->nlines);
		assert_string_equal(r.text, c->text);
	}
}

/* Every proper prefix of a complete reply needs more bytes. */
static void test_prefixes(void **state)
{
	static struct smtp_reply r;
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].ret <= 0)
			continue;
		for (k = 0; k < (size_t)cases[i].ret; k++)
			assert_int_equal(parse_exact(cases[i].in, k, &r, NULL), 0);
	}
}

/* Line length: 2047 octets + LF is the longest line accepted. */
static void test_line_limit(void **state)
{
	static struct smtp_reply r;
	char *buf = malloc(SMTP_REPLY_LINE_MAX + 8);
	const char *err;

	(void)state;
	assert_non_null(buf);
	memcpy(buf, "250 ", 4);
	memset(buf + 4, 'x', SMTP_REPLY_LINE_MAX);
	/* a full line of LINE_MAX octets including its LF */
	buf[SMTP_REPLY_LINE_MAX - 1] = '\n';
	assert_int_equal(parse_exact(buf, SMTP_REPLY_LINE_MAX, &r, &err), SMTP_REPLY_LINE_MAX);
	assert_int_equal(strlen(r.text), SMTP_REPLY_LINE_MAX - 5);
	/* CRLF counts too */
	buf[SMTP_REPLY_LINE_MAX - 2] = '\r';
	assert_int_equal(parse_exact(buf, SMTP_REPLY_LINE_MAX, &r, &err), SMTP_REPLY_LINE_MAX);
	/* one more octet and it is refused */
	buf[SMTP_REPLY_LINE_MAX - 2] = 'x';
	buf[SMTP_REPLY_LINE_MAX - 1] = 'x';
	buf[SMTP_REPLY_LINE_MAX] = '\n';
	assert_int_equal(parse_exact(buf, SMTP_REPLY_LINE_MAX + 1, &r, &err), -1);
	/* an unterminated line is refused as soon as it cannot fit */
	assert_int_equal(parse_exact(buf, SMTP_REPLY_LINE_MAX - 1, &r, &err), 0);
	assert_int_equal(parse_exact(buf, SMTP_REPLY_LINE_MAX, &r, &err), -1);
	free(buf);
}

/* Build n lines "250-x" (the last "250 x" if final) into a new buffer. */
static char *lines(int n, int final, size_t *len)
{
	char *buf = malloc((size_t)n * 7 + 1);
	int i;

	assert_non_null(buf);
	for (i = 0; i < n; i++)
		memcpy(buf + i * 7, final && i == n - 1 ? "250 x\r\n" : "250-x\r\n", 7);
	*len = (size_t)n * 7;
	return buf;
}

/* Line count: 100 lines are fine, the 101st is refused, even unfinished. */
static void test_lines_limit(void **state)
{
	static struct smtp_reply r;
	size_t len;
	char *buf;

	(void)state;
	buf = lines(SMTP_REPLY_LINES_MAX, 1, &len);
	assert_int_equal(parse_exact(buf, len, &r, NULL), (ssize_t)len);
	assert_int_equal(r.nlines, SMTP_REPLY_LINES_MAX);
	free(buf);
	buf = lines(SMTP_REPLY_LINES_MAX + 1, 1, &len);
	assert_int_equal(parse_exact(buf, len, &r, NULL), -1);
	free(buf);
	buf = lines(SMTP_REPLY_LINES_MAX - 1, 0, &len);
	assert_int_equal(parse_exact(buf, len, &r, NULL), 0);
	free(buf);
	/* a reply that never ends: refused once past the limit, not buffered */
	buf = lines(SMTP_REPLY_LINES_MAX, 0, &len);
	assert_int_equal(parse_exact(buf, len, &r, NULL), -1);
	free(buf);
}

/* Text longer than SMTP_REPLY_TEXT_MAX is truncated but fully consumed. */
static void test_text_truncation(void **state)
{
	static struct smtp_reply r;
	size_t line = 2000, len = 3 * line;
	char *buf = malloc(len);
	int i;

	(void)state;
	assert_non_null(buf);
	for (i = 0; i < 3; i++) {
		memset(buf + i * line, 'y', line);
		memcpy(buf + i * line, i == 2 ? "250 " : "250-", 4);
		memcpy(buf + (i + 1) * line - 2, "\r\n", 2);
	}
	assert_int_equal(parse_exact(buf, len, &r, NULL), (ssize_t)len);
	assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
	assert_int_equal(r.nlines, 3);
	free(buf);
}

/* 1 MB of continuation lines is refused, never "need more". */
static void test_huge_reply(void **state)
{
	static struct smtp_reply r;
	size_t len = 1 << 20, i;
	char *buf = malloc(len);

	(void)state;
	assert_non_null(buf);
	for (i = 0; i + 7 <= len; i += 7)
		memcpy(buf + i, "250-x\r\n", 7);
	memset(buf + i, 'x', len - i);
	assert_int_equal(parse_exact(buf, len, &r, NULL), -1);
	memset(buf, 'x', len);
	memcpy(buf, "250 ", 4);
	assert_int_equal(parse_exact(buf, len, &r, NULL), -1);
	free(buf);
}

struct caps_case {
	const char *in;
	unsigned flags;
	unsigned long long size;
	const char *helo;
};

static const struct caps_case caps_cases[] = {
	{ "250-mx.example.test Hello [127.0.0.1]\r\n250-SIZE 10240000\r\n250-PIPELINING\r\n"
	  "250-8bitmime\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-SmtpUtf8\r\n"
	  "250-DSN\r\n250-CHUNKING\r\n250-ETRN\r\n250 AUTH PLAIN LOGIN\r\n",
	  SMTP_CAP_SIZE | SMTP_CAP_PIPELINING | SMTP_CAP_8BITMIME | SMTP_CAP_STARTTLS |
	  SMTP_CAP_ENHANCED | SMTP_CAP_SMTPUTF8 | SMTP_CAP_DSN | SMTP_CAP_CHUNKING |
	  SMTP_CAP_ETRN | SMTP_CAP_AUTH, 10240000, "mx.example.test" },
	{ "250 PIPELINING\r\n", 0, 0, "PIPELINING" },
	{ "250-mx\r\n250 SIZE\r\n", SMTP_CAP_SIZE, 0, "mx" },
	{ "250-mx\r\n250 SIZE 18446744073709551615\r\n", SMTP_CAP_SIZE, 18446744073709551615ULL,
	  "mx" },
	{ "250-mx\r\n250 SIZE 18446744073709551616\r\n", SMTP_CAP_SIZE, 0, "mx" },
	{ "250-mx\r\n250 SIZE 99999999999999999999999999\r\n", SMTP_CAP_SIZE, 0, "mx" },
	{ "250-mx\r\n250 SIZE -1\r\n", SMTP_CAP_SIZE, 0, "mx" },
	{ "250-mx\r\n250 SIZE 12abc\r\n", SMTP_CAP_SIZE, 0, "mx" },
	{ "250-mx\r\n250-SIZEX 5\r\n250-PIPELININGX\r\n250 X-STARTTLS\r\n", 0, 0, "mx" },
	{ "250-\xff\x01mx\r\n250 DSN\r\n", SMTP_CAP_DSN, 0, "" },
	{ "250-\r\n250 DSN\r\n", SMTP_CAP_DSN, 0, "" },
	{ "550-mx\r\n550 PIPELINING\r\n", 0, 0, "" },
};

/* EHLO keyword extraction. */
static void test_caps(void **state)
{
	static struct smtp_reply r;
	struct smtp_caps caps;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(caps_cases) / sizeof(caps_cases[0]); i++) {
		const struct caps_case *c = &caps_cases[i];

		assert_true(parse_exact(c->in, strlen(c->in), &r, NULL) > 0);
		smtp_ehlo_caps(&r, &caps);
		if (caps.flags != c->flags || caps.size != c->size)
			fail_msg("caps case %zu: flags %#x size %llu", i, caps.flags, caps.size);
		assert_string_equal(caps.helo_name, c->helo);
	}
}

/* XFORWARD and XCLIENT keywords and the attributes they list. */
static const struct {
	const char *in;
	unsigned flags, xforward, xclient;
} xattr_cases[] = {
	{ "250-mx\r\n250 XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT\r\n",
	  SMTP_CAP_XFORWARD, SMTP_XATTR_NAME | SMTP_XATTR_ADDR | SMTP_XATTR_PROTO |
	  SMTP_XATTR_HELO | SMTP_XATTR_SOURCE | SMTP_XATTR_PORT | SMTP_XATTR_IDENT, 0 },
	{ "250-mx\r\n250 XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR "
	  "DESTPORT\r\n", SMTP_CAP_XCLIENT, 0, SMTP_XATTR_NAME | SMTP_XATTR_ADDR |
	  SMTP_XATTR_PROTO | SMTP_XATTR_HELO | SMTP_XATTR_REVERSE | SMTP_XATTR_PORT |
	  SMTP_XATTR_LOGIN | SMTP_XATTR_DESTADDR | SMTP_XATTR_DESTPORT },
	{ "250-mx\r\n250-xforward  name   bogus addr\r\n250 XCLIENT\r\n",
	  SMTP_CAP_XFORWARD | SMTP_CAP_XCLIENT, SMTP_XATTR_NAME | SMTP_XATTR_ADDR, 0 },
	{ "250-mx\r\n250 XFORWARDX NAME\r\n", 0, 0, 0 },
	{ "250-mx\r\n250 X-XCLIENT ADDR\r\n", 0, 0, 0 },
};

/* The attribute words of XFORWARD and XCLIENT. */
static void test_caps_xattr(void **state)
{
	static struct smtp_reply r;
	struct smtp_caps caps;

	(void)state;
	for (size_t i = 0; i < sizeof(xattr_cases) / sizeof(xattr_cases[0]); i++) {
		assert_true(parse_exact(xattr_cases[i].in, strlen(xattr_cases[i].in), &r, NULL) > 0);
		smtp_ehlo_caps(&r, &caps);
		if (caps.flags != xattr_cases[i].flags || caps.xforward != xattr_cases[i].xforward ||
		    caps.xclient != xattr_cases[i].xclient)
			fail_msg("xattr case %zu: flags %#x xforward %#x xclient %#x", i, caps.flags,
				 caps.xforward, caps.xclient);
	}
}

/* A very long first word is cut at SMTP_DOMAIN_MAX. */
static void test_caps_long_name(void **state)
{
	static struct smtp_reply r;
	struct smtp_caps caps;
	char buf[600];

	(void)state;
	memcpy(buf, "250 ", 4);
	memset(buf + 4, 'n', 500);
	memcpy(buf + 504, "\r\n", 2);
	assert_int_equal(parse_exact(buf, 506, &r, NULL), 506);
	smtp_ehlo_caps(&r, &caps);
	assert_int_equal(strlen(caps.helo_name), SMTP_DOMAIN_MAX);
}

/* Run the reply parser tests. */
/* One relayed-reply case: the raw reply of the primary, what we answer. */
struct relayed_case {
	const char *raw;
	const char *want;
};

static const struct relayed_case relayed_cases[] = {
	{ "250 2.1.5 Ok\r\n", "250 2.1.5 P said: Ok" },
	{ "250 Ok\r\n", "250 2.0.0 P said: Ok" },
	{ "554 5.7.1 Service unavailable; Client host [127.0.0.66] blocked using rbl.test\r\n",
	  "554 5.7.1 P said: Service unavailable; Client host [127.0.0.66] blocked using rbl.test" },
	{ "550-5.1.1 first\r\n550 5.1.1 second\r\n", "550 5.1.1 P said: first second" },
	{ "450 4.2.0 busy\r\n", "450 4.2.0 P said: busy" },
	{ "421 go away\r\n", "421 4.0.0 P said: go away" },
	{ "354 go ahead\r\n", "451 4.4.0 P sent an unexpected reply 354" },
	{ "550 5.7.1 tab\there \x01 and \xc3\xa9\r\n", "550 5.7.1 P said: tab?here ? and ??" },
	{ "552 5.3.4\r\n", "552 5.3.4 P said:" },
	{ "250 2.0.0 Ok: queued as 4ABC\r\n", "250 2.0.0 P said: Ok: queued as 4ABC" },
};

/* smtp_reply_relayed(): the primary's code, enhanced code and text, one line. */
static void test_relayed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(relayed_cases) / sizeof(relayed_cases[0]); i++) {
		struct smtp_reply r;
		const char *err = NULL;
		char out[SMTP_RELAYED_MAX + 1];
		const char *raw = relayed_cases[i].raw;
		print_message("relayed %zu: %s", i, raw);
		assert_true(smtp_reply_parse((const uint8_t *)raw, strlen(raw), &r, &err) > 0);
		size_t n = smtp_reply_relayed(&r, "P", out, sizeof(out));
		assert_string_equal(out, relayed_cases[i].want);
		assert_int_equal(n, strlen(out));
	}
}

/* smtp_reply_relayed(): a long multi-line reply is cut at SMTP_RELAYED_MAX. */
static void test_relayed_long(void **state)
{
	(void)state;
	char raw[8192], out[4096];
	struct smtp_reply r;
	const char *err = NULL;
	size_t o = 0;
	for (int i = 0; i < 20; i++)
		o += (size_t)snprintf(raw + o, sizeof(raw) - o, "550-5.7.1 %s\r\n",
				      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	snprintf(raw + o, sizeof(raw) - o, "550 5.7.1 end\r\n");
	assert_true(smtp_reply_parse((const uint8_t *)raw, strlen(raw), &r, &err) > 0);
	size_t n = smtp_reply_relayed(&r, "primary mx1.example.test[127.0.0.2]:25", out,
				      sizeof(out));
	assert_int_equal(n, SMTP_RELAYED_MAX);
	assert_int_equal(strlen(out), SMTP_RELAYED_MAX);
	assert_memory_equal(out, "550 5.7.1 primary", 17);
	/* a small buffer is never overrun */
	n = smtp_reply_relayed(&r, "P", out, 8);
	assert_int_equal(strlen(out), n);
	assert_true(n < 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_lines_limit),
		cmocka_unit_test(test_text_truncation),
		cmocka_unit_test(test_huge_reply),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_caps_long_name),
		cmocka_unit_test(test_caps_xattr),
		cmocka_unit_test(test_relayed),
		cmocka_unit_test(test_relayed_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
