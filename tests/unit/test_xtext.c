/*
 * test_xtext.c - table tests of src/smtp/xtext.c: the one RFC 3461 xtext
 * rule (smtp_xtext_ok, smtp_envid_ok, smtp_orcpt_ok), the hex digit, the
 * UTF-8 decoder and the 8-bit test.
 *
 * The rule is the strict one: upper-case "+XX" only, and every "+XX" must
 * decode to printable ASCII (0x20-0x7e).  The last test runs the xtext
 * table through its three users, smtp_parse_mail() (ENVID=),
 * smtp_parse_rcpt() (ORCPT=) and dsn_build() (Original-Envelope-Id,
 * Original-Recipient), and checks that they all agree with it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "relay/dsn.h"
#include "smtp/smtp.h"
#include "smtp/xtext.h"

#define S(x) x, sizeof(x) - 1

struct hex_case {
	char c;
	int want;
};

static const struct hex_case hex_cases[] = {
	{ '0', 0 }, { '9', 9 }, { 'A', 10 }, { 'F', 15 },
	{ 'a', -1 }, { 'f', -1 }, { 'G', -1 }, { 'g', -1 }, { '/', -1 }, { ':', -1 },
	{ '@', -1 }, { '+', -1 }, { ' ', -1 }, { '\0', -1 }, { (char)0xc3, -1 },
};

/* smtp_xtext_hexval(): upper-case hex digits only. */
static void test_hexval(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hex_cases) / sizeof(hex_cases[0]); i++) {
		print_message("hexval 0x%02x\n", (unsigned char)hex_cases[i].c);
		assert_int_equal(smtp_xtext_hexval(hex_cases[i].c), hex_cases[i].want);
	}
}

struct xtext_case {
	const char *s;
	size_t n;
	int want;
};

static const struct xtext_case xtext_cases[] = {
	{ S("QQ314159"), 1 },
	{ S("a"), 1 },
	{ S("a+2Bb+20c"), 1 },          /* '+' and SP encoded */
	{ S("+2B"), 1 },
	{ S("+20"), 1 },                /* lowest decoded octet: SP */
	{ S("+7E"), 1 },                /* highest: '~' */
	{ S("!~\"#$%&'()*,-./:;<>?@[\\]^_`{|}"), 1 },  /* every xchar but letters/digits */
	{ S("interop+2Ddsn"), 1 },
	{ S(""), 0 },                   /* empty */
	{ S("a+2"), 0 },                /* short escape */
	{ S("a+"), 0 },
	{ S("+"), 0 },
	{ S("a+2b"), 0 },               /* lower-case hex */
	{ S("a+g0"), 0 },
	{ S("a+0D+0A"), 0 },            /* CR LF: decoded controls refused */
	{ S("+00"), 0 },                /* NUL */
	{ S("+09"), 0 },                /* HT */
	{ S("+1F"), 0 },
	{ S("a+7F"), 0 },               /* DEL */
	{ S("+80"), 0 },                /* 8-bit octets */
	{ S("+C3+A9"), 0 },
	{ S("+FF"), 0 },
	{ S("a=b"), 0 },                /* '=' must be encoded */
	{ S("a b"), 0 },                /* SP must be encoded */
	{ S("a\tb"), 0 },
	{ S("a\x7f"), 0 },
	{ S("a\xc3\xa9"), 0 },          /* raw 8-bit */
	{ S("a\0b"), 0 },               /* NUL inside the range */
	{ S("ab\r\n"), 0 },
};

/* smtp_xtext_ok() over the table. */
static void test_xtext(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(xtext_cases) / sizeof(xtext_cases[0]); i++) {
		const struct xtext_case *c = &xtext_cases[i];

		print_message("xtext %zu: \"%s\"\n", i, c->s);
		assert_int_equal(smtp_xtext_ok(c->s, c->n), c->want);
	}
	assert_int_equal(smtp_xtext_ok(NULL, 0), 0);
	/* the length is honoured: a bad octet after n is not looked at */
	assert_int_equal(smtp_xtext_ok("ab=", 2), 1);
	assert_int_equal(smtp_xtext_ok("a+2B", 2), 0);
}

struct len_case {
	const char *what;
	size_t prefix;        /* octets of "rfc822;" before the filler, for ORCPT */
	size_t total;         /* whole value length */
	int want;
};

/* ENVID: xtext of 1..SMTP_ENVID_MAX octets. */
static void test_envid(void **state)
{
	static const struct len_case cases[] = {
		{ "one octet", 0, 1, 1 },
		{ "at the limit", 0, SMTP_ENVID_MAX, 1 },
		{ "one over", 0, SMTP_ENVID_MAX + 1, 0 },
		{ "empty", 0, 0, 0 },
	};
	char buf[SMTP_ENVID_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 'e', cases[i].total);
		print_message("envid %s\n", cases[i].what);
		assert_int_equal(smtp_envid_ok(buf, cases[i].total), cases[i].want);
	}
	assert_int_equal(smtp_envid_ok(S("abc+2Bdef.123")), 1);
	assert_int_equal(smtp_envid_ok(S("abc def=")), 0);
	assert_int_equal(smtp_envid_ok(S("id+0D+0ABcc:x")), 0);
}

struct orcpt_case {
	const char *s;
	size_t n;
	int want;
};

static const struct orcpt_case orcpt_cases[] = {
	{ S("rfc822;u@d.test"), 1 },
	{ S("RFC822;u@d.test"), 1 },
	{ S("rfc822;u+2Bx@d.test"), 1 },
	{ S("utf-8;u@d.test"), 1 },
	{ S("utf-8;j\\x{F6}rg+2Bx@x"), 1 },   /* RFC 6533 7-bit form */
	{ S("x-type-9;a"), 1 },
	{ S("a;b"), 1 },
	{ S("rfc822"), 0 },                   /* no ';' */
	{ S(";u@d.test"), 0 },                /* empty addr-type */
	{ S("rfc822;"), 0 },                  /* empty xtext */
	{ S("rfc822;u+0A@d.test"), 0 },       /* encoded LF */
	{ S("rfc822;u+0D+0ABcc:x@d.test"), 0 },
	{ S("rfc822;u+7F@d.test"), 0 },
	{ S("rfc822;u+e9@d.test"), 0 },       /* lower-case hex */
	{ S("rfc 822;u"), 0 },                /* SP in addr-type */
	{ S("rfc_822;u"), 0 },
	{ S("rfc822 ;x"), 0 },
	{ S("rfc822;a=b"), 0 },
	{ S("rfc822;a b"), 0 },
	{ S("rfc822;u@d.test\r\nX-Injected: 1"), 0 },
	{ S("rfc822;\xc3\xa9@d.test"), 0 },   /* raw 8-bit */
};

/* smtp_orcpt_ok(): "addr-type;xtext", at most SMTP_ORCPT_MAX octets. */
static void test_orcpt(void **state)
{
	static const struct len_case lens[] = {
		{ "at the limit", 7, SMTP_ORCPT_MAX, 1 },
		{ "one over", 7, SMTP_ORCPT_MAX + 1, 0 },
	};
	char buf[SMTP_ORCPT_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(orcpt_cases) / sizeof(orcpt_cases[0]); i++) {
		const struct orcpt_case *c = &orcpt_cases[i];

		print_message("orcpt %zu: \"%s\"\n", i, c->s);
		assert_int_equal(smtp_orcpt_ok(c->s, c->n), c->want);
	}
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(buf, "rfc822;", 7);
		memset(buf + lens[i].prefix, 'o', lens[i].total - lens[i].prefix);
		print_message("orcpt %s\n", lens[i].what);
		assert_int_equal(smtp_orcpt_ok(buf, lens[i].total), lens[i].want);
	}
	assert_int_equal(smtp_orcpt_ok(NULL, 0), 0);
}

struct utf8_case {
	const char *what;
	const char *s;
	size_t n;
	size_t want;          /* length, 0 = invalid */
	uint32_t cp;          /* code point when valid */
};

static const struct utf8_case utf8_cases[] = {
	{ "ASCII", S("a"), 1, 'a' },
	{ "NUL", "\0", 1, 1, 0 },
	{ "DEL", S("\x7f"), 1, 0x7f },
	{ "2 octets", S("\xc3\xa9"), 2, 0xe9 },
	{ "C1 control (callers may refuse it)", S("\xc2\x80"), 2, 0x80 },
	{ "2 octets, highest", S("\xdf\xbf"), 2, 0x7ff },
	{ "3 octets", S("\xe4\xbe\x8b"), 3, 0x4f8b },
	{ "3 octets, lowest", S("\xe0\xa0\x80"), 3, 0x800 },
	{ "last before surrogates", S("\xed\x9f\xbf"), 3, 0xd7ff },
	{ "first after surrogates", S("\xee\x80\x80"), 3, 0xe000 },
	{ "4 octets", S("\xf0\x9f\x98\x80"), 4, 0x1f600 },
	{ "U+10FFFF", S("\xf4\x8f\xbf\xbf"), 4, 0x10ffff },
	{ "only the first sequence counts", S("\xc3\xa9\xc3\xa9"), 2, 0xe9 },
	{ "empty", "", 0, 0, 0 },
	{ "stray continuation", S("\x80"), 0, 0 },
	{ "overlong C0", S("\xc0\xaf"), 0, 0 },
	{ "overlong C1", S("\xc1\xbf"), 0, 0 },
	{ "overlong 3", S("\xe0\x9f\xbf"), 0, 0 },
	{ "overlong 4", S("\xf0\x8f\xbf\xbf"), 0, 0 },
	{ "surrogate D800", S("\xed\xa0\x80"), 0, 0 },
	{ "surrogate DFFF", S("\xed\xbf\xbf"), 0, 0 },
	{ "over U+10FFFF", S("\xf4\x90\x80\x80"), 0, 0 },
	{ "lead F5", S("\xf5\x80\x80\x80"), 0, 0 },
	{ "lead FF", S("\xff"), 0, 0 },
	{ "truncated 2", S("\xc3"), 0, 0 },
	{ "truncated 3", S("\xe4\xbe"), 0, 0 },
	{ "truncated 4", S("\xf0\x9f\x98"), 0, 0 },
	{ "bad continuation", S("\xc3\x41"), 0, 0 },
	{ "bad third octet", S("\xe4\xbe\x41"), 0, 0 },
};

/* smtp_utf8_len(): strict decoding, lengths and code points. */
static void test_utf8(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
		const struct utf8_case *c = &utf8_cases[i];
		uint32_t cp = 0xffffffffu;

		print_message("utf8 %s\n", c->what);
		assert_int_equal(smtp_utf8_len(c->s, c->n, &cp), c->want);
		if (c->want > 0)
			assert_int_equal(cp, c->cp);
		assert_int_equal(smtp_utf8_len(c->s, c->n, NULL), c->want);
	}
}

/* smtp_has_8bit(): any octet >= 0x80, at every position of short and long runs. */
static void test_has_8bit(void **state)
{
	static const size_t lens[] = { 0, 1, 7, 8, 9, 15, 16, 17, 64, 65 };
	unsigned char buf[65];

	(void)state;
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		size_t n = lens[k];

		memset(buf, 'a', sizeof(buf));
		buf[n < sizeof(buf) ? n : 0] = 0xff;     /* just past the end: not seen */
		assert_int_equal(smtp_has_8bit(buf, n), n == 0 ? 0 : n >= sizeof(buf));
		memset(buf, 0x7f, sizeof(buf));
		assert_int_equal(smtp_has_8bit(buf, n), 0);
		for (size_t i = 0; i < n; i++) {
			buf[i] = 0x80;
			print_message("has_8bit len %zu pos %zu\n", n, i);
			assert_int_equal(smtp_has_8bit(buf, n), 1);
			buf[i] = 0x7f;
		}
	}
	assert_int_equal(smtp_has_8bit(S("plain ASCII text")), 0);
	assert_int_equal(smtp_has_8bit(S("caf\xc3\xa9")), 1);
}

/* Build a DSN with ENVID envid and ORCPT orcpt; 1 if the report names each. */
static void dsn_shows(const char *envid, const char *orcpt, int *has_envid, int *has_orcpt)
{
	struct dsn_rcpt r = { "bob@example.test", orcpt, DSN_FAILED, "5.1.1", NULL, NULL, 0, 0 };
	struct dsn_info info = {
		.reporting_mta = "mx2.example.test", .qid = "Q1", .envid = envid,
		.orig_sender = "alice@example.test", .now = (time_t)1700000000,
	};
	char *out = NULL, want[SMTP_ORCPT_MAX + 64];
	size_t len = 0;

	assert_int_equal(dsn_build(&info, &r, 1, NULL, 0, &out, &len), 0);
	snprintf(want, sizeof(want), "\r\nOriginal-Envelope-Id: %s\r\n", envid);
	*has_envid = strstr(out, want) != NULL;
	snprintf(want, sizeof(want), "\r\nOriginal-Recipient: %s\r\n", orcpt);
	*has_orcpt = strstr(out, want) != NULL;
	free(out);
}

/* The SMTP parsers and the DSN builder follow the one rule. */
static void test_one_rule(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(xtext_cases) / sizeof(xtext_cases[0]); i++) {
		const struct xtext_case *c = &xtext_cases[i];
		char arg[256], orcpt[256];
		struct smtp_mail_args m;
		struct smtp_rcpt_args r;
		struct smtp_err err;
		int n, has_envid, has_orcpt;

		print_message("one rule %zu: \"%s\"\n", i, c->s);
		n = snprintf(arg, sizeof(arg), "FROM:<a@b.test> ENVID=");
		memcpy(arg + n, c->s, c->n);
		assert_int_equal(smtp_parse_mail(arg, (size_t)n + c->n, 1, &m, &err) == 0, c->want);
		n = snprintf(arg, sizeof(arg), "TO:<a@b.test> ORCPT=rfc822;");
		memcpy(arg + n, c->s, c->n);
		assert_int_equal(smtp_parse_rcpt(arg, (size_t)n + c->n, 1, &r, &err) == 0, c->want);
		if (memchr(c->s, '\0', c->n) != NULL)
			continue;       /* a C string cannot carry it to dsn_build() */
		snprintf(orcpt, sizeof(orcpt), "rfc822;%s", c->s);
		dsn_shows(c->s, orcpt, &has_envid, &has_orcpt);
		assert_int_equal(has_envid, c->want);
		assert_int_equal(has_orcpt, c->want);
	}
}

/* The encoder: plain octets stay, "+", "=" and the rest become +XX, the
 * result reads back as xtext, and a full buffer is refused. */
static void test_encode(void **state)
{
	static const struct { const char *in, *want; } cases[] = {
		{"", ""},
		{"mx.example.test", "mx.example.test"},
		{"a+b=c", "a+2Bb+3Dc"},
		{"two words", "two+20words"},
		{"[UNAVAILABLE]", "[UNAVAILABLE]"},
		{"\x01\x7f\xc3\xa9", "+01+7F+C3+A9"},
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(smtp_xtext_encode(cases[i].in, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].want);
	}
	assert_int_equal(smtp_xtext_encode("abc", out, 4), 0);
	assert_int_equal(smtp_xtext_encode("abcd", out, 4), -1);
	assert_int_equal(smtp_xtext_encode("a b", out, 5), -1);   /* "a+20b" needs 6 */
}

/* Run the xtext tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hexval),
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_envid),
		cmocka_unit_test(test_orcpt),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_has_8bit),
		cmocka_unit_test(test_one_rule),
		cmocka_unit_test(test_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
