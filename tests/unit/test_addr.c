/*
 * test_addr.c - table tests for the mail address parser (smtp_addr_parse).
 *
 * One table of accepted paths with their parsed parts, one of refused paths
 * with the reply code and enhanced code each must get: relay tricks (%,
 * bang paths, quoted @ %, u@d@h, literals), syntax errors, the CVE-2020-7247
 * shapes, UTF-8 rules (SMTPUTF8 only, no invalid sequences) and limits.
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
#define U  SMTP_ADDR_ALLOW_UTF8
#define E  SMTP_ADDR_ALLOW_EMPTY
#define L  SMTP_ADDR_ALLOW_LITERAL

struct ok_case {
	const char *in;
	size_t len;
	unsigned flags;
	const char *local, *domain;
	int null_path, utf8, literal;
};

static const struct ok_case ok_cases[] = {
	{ S("<user@example.test>"), 0, "user", "example.test", 0, 0, 0 },
	{ S("<User.Name+tag@Example.TEST>"), 0, "User.Name+tag", "example.test", 0, 0, 0 },
	{ S("<a#$&'*+-/=?^_`{|}~z@d.test>"), 0, "a#$&'*+-/=?^_`{|}~z", "d.test", 0, 0, 0 },
	{ S("<u@3com.example>"), 0, "u", "3com.example", 0, 0, 0 },
	/* valid atext: envelope strings never reach a shell (issue 6) */
	{ S("<`id`|x@d.test>"), 0, "`id`|x", "d.test", 0, 0, 0 },
	{ S("<u@a-b.c-d.test>"), 0, "u", "a-b.c-d.test", 0, 0, 0 },
	{ S("<u@xn--bcher-kva.test>"), 0, "u", "xn--bcher-kva.test", 0, 0, 0 },
	{ S("<>"), E, "", "", 1, 0, 0 },
	{ S("<@a.test,@b.test:u@c.test>"), 0, "u", "c.test", 0, 0, 0 },
	{ S("<@relay.test:u@good.test>"), 0, "u", "good.test", 0, 0, 0 },
	{ S("<\"john smith\"@d.test>"), 0, "\"john smith\"", "d.test", 0, 0, 0 },
	{ S("<\"a\\\"b\\\\c\"@d.test>"), 0, "\"a\\\"b\\\\c\"", "d.test", 0, 0, 0 },
	{ S("<\"a.b..c.\"@d.test>"), 0, "\"a.b..c.\"", "d.test", 0, 0, 0 },
	{ S("<u@[127.0.0.1]>"), L, "u", "[127.0.0.1]", 0, 0, 1 },
	{ S("<u@[IPv6:::1]>"), L, "u", "[ipv6:::1]", 0, 0, 1 },
	{ S("<u@[IPv6:2001:DB8::1]>"), L, "u", "[ipv6:2001:db8::1]", 0, 0, 1 },
	{ S("<u@Bücher.test>"), U, "u", "xn--bcher-kva.test", 0, 1, 0 },
	{ S("<用户@例子.测试>"), U, "用户", "xn--fsqu00a.xn--0zwm56d", 0, 1, 0 },
	{ S("<jörg@d.test>"), U, "jörg", "d.test", 0, 1, 0 },
	{ S("<\"jö rg\"@d.test>"), U, "\"jö rg\"", "d.test", 0, 1, 0 },
	{ S("<\xf0\x9f\x98\x80@d.test>"), U, "\xf0\x9f\x98\x80", "d.test", 0, 1, 0 },
	{ S("<u@d.test>"), U | E | L, "u", "d.test", 0, 0, 0 },
	/* 64-octet local part, 63-octet label */
	{ S("<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@d.test>"), 0,
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "d.test", 0, 0, 0 },
	{ S("<u@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.test>"), 0, "u",
	  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.test", 0, 0, 0 },
};

struct bad_case {
	const char *in;
	size_t len;
	unsigned flags;
	int code;
	const char *enh;
};

static const struct bad_case bad_cases[] = {
	/* brackets */
	{ S("user@example.test"), U | E | L, 501, "5.1.3" },
	{ S("<user@example.test"), U | E | L, 501, "5.1.3" },
	{ S("user@example.test>"), U | E | L, 501, "5.1.3" },
	{ S(""), U | E | L, 501, "5.1.3" },
	{ S("<"), U | E | L, 501, "5.1.3" },
	{ S("<>"), U | L, 501, "5.1.3" },
	{ S("<<u@d.test>>"), U | E | L, 501, "5.1.3" },
	/* relay tricks */
	{ S("<a%b@d.test>"), U | E | L, 553, "5.7.1" },
	{ S("<a%b.test@d.test>"), U | E | L, 553, "5.7.1" },
	{ S("<b.test!a@d.test>"), U | E | L, 553, "5.7.1" },
	{ S("<\"a@b.test\"@d.test>"), U | E | L, 553, "5.7.1" },
	{ S("<\"a%b.test\"@d.test>"), U | E | L, 553, "5.7.1" },
	{ S("<\"a!b\"@d.test>"), U | E | L, 553, "5.7.1" },
	{ S("<\"a\\@b\"@d.test>"), U | E | L, 553, "5.7.1" },
	{ S("<\"a\\%b\"@d.test>"), U | E | L, 553, "5.7.1" },
	{ S("<u@d.test@evil.test>"), U | E | L, 553, "5.7.1" },
	{ S("<u@[1.2.3.4]@evil.test>"), U | E | L, 553, "5.7.1" },
	{ S("<u@[127.0.0.1]>"), U | E, 553, "5.7.1" },
	{ S("<u@[IPv6:::1]>"), U | E, 553, "5.7.1" },
	/* empty or missing parts */
	{ S("<u@>"), U | E | L, 501, "5.1.3" },
	{ S("<u>"), U | E | L, 501, "5.1.3" },
	{ S("<postmaster>"), U | E | L, 501, "5.1.3" },
	{ S("<@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<@d.test:>"), U | E | L, 501, "5.1.3" },
	{ S("<@d.test:@e.test>"), U | E | L, 501, "5.1.3" },
	{ S("<\"\"@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<@>"), U | E | L, 501, "5.1.3" },
	/* dots */
	{ S("<u@d.test.>"), U | E | L, 501, "5.1.3" },
	{ S("<u@.d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u@d..test>"), U | E | L, 501, "5.1.3" },
	{ S("<.u@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u.@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u..v@d.test>"), U | E | L, 501, "5.1.3" },
	/* bad characters */
	{ S("<u v@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u\0@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u@d\0.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u\r\n@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u\t@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u@d\x01.test>"), U | E | L, 501, "5.1.3" },
	{ S("<\"a\x01\"@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<\"a\0\"@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<\"abc>"), U | E | L, 501, "5.1.3" },
	{ S("<\"abc@d.test>"), U | E | L, 553, "5.7.1" },
	{ S("<\"a\"b@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<a\"b\"@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<a(c)@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u@d.test >"), U | E | L, 501, "5.1.3" },
	{ S("<u@-d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u@d-.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u@d_x.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u@d%x.test>"), U | E | L, 501, "5.1.3" },
	{ S("<u@1.2.3.4>"), U | E | L, 501, "5.1.3" },
	{ S("<u@127>"), U | E | L, 501, "5.1.3" },
	/* the CVE-2020-7247 shapes: an invalid local part, empty domain */
	{ S("<;sleep 66;>"), U | E | L, 501, "5.1.3" },
	{ S("<;sleep 66;@>"), U | E | L, 501, "5.1.3" },
	{ S("<;sleep 66;@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<$(id)@d.test>"), U | E | L, 501, "5.1.3" },
	/* source routes must be well formed */
	{ S("<@a_b:u@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<@a,u@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<@a.test,b.test:u@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<@[1.2.3.4]:u@d.test>"), U | E | L, 501, "5.1.3" },
	{ S("<@:u@d.test>"), U | E | L, 501, "5.1.3" },
	/* literals */
	{ S("<u@[1.2.3.4.5]>"), U | E | L, 501, "5.1.3" },
	{ S("<u@[256.1.1.1]>"), U | E | L, 501, "5.1.3" },
	{ S("<u@[01.2.3.4]>"), U | E | L, 501, "5.1.3" },
	{ S("<u@[IPv6:zz]>"), U | E | L, 501, "5.1.3" },
	{ S("<u@[IPv6:1.2.3.4]>"), U | E | L, 501, "5.1.3" },
	{ S("<u@[foo:bar]>"), U | E | L, 501, "5.1.3" },
	{ S("<u@[]>"), U | E | L, 501, "5.1.3" },
	{ S("<u@[1.2.3.4]x>"), U | E | L, 501, "5.1.3" },
	{ S("<u@[1.2.3.4>"), U | E | L, 501, "5.1.3" },
	{ S("<u@[1.2.3.4 ]>"), U | E | L, 501, "5.1.3" },
	/* UTF-8 */
	{ S("<jörg@d.test>"), E | L, 553, "5.6.7" },
	{ S("<u@bücher.test>"), E | L, 553, "5.6.7" },
	{ S("<\"jörg\"@d.test>"), E | L, 553, "5.6.7" },
	{ S("<u\xc0\xaf@d.test>"), U, 501, "5.1.3" },          /* overlong '/' */
	{ S("<u\xe0\x80\xaf@d.test>"), U, 501, "5.1.3" },      /* overlong, 3 bytes */
	{ S("<u\xf0\x80\x80\xaf@d.test>"), U, 501, "5.1.3" },  /* overlong, 4 bytes */
	{ S("<u\xed\xa0\x80@d.test>"), U, 501, "5.1.3" },      /* surrogate */
	{ S("<u\xf4\x90\x80\x80@d.test>"), U, 501, "5.1.3" },  /* > U+10FFFF */
	{ S("<u\x80@d.test>"), U, 501, "5.1.3" },              /* stray continuation */
	{ S("<u\xc3@d.test>"), U, 501, "5.1.3" },              /* truncated */
	{ S("<u\xc2\x80@d.test>"), U, 501, "5.1.3" },          /* C1 control */
	{ S("<u\xff@d.test>"), U, 501, "5.1.3" },
	{ S("<u@b\xc3.test>"), U, 501, "5.1.3" },
	{ S("<u@a\xef\xbc\xa0" "b.test>"), U, 553, "5.7.1" },  /* fullwidth '@' */
	{ S("<u@a\xef\xbc\xbf" "b.test>"), U, 501, "5.1.3" },  /* fullwidth '_' */
	{ S("<u@\xc3\xbc.xn--abc.test>"), U, 501, "5.1.3" },   /* bad A-label next to U */
};

/* Parse a copy of exactly len bytes so ASan sees any over-read. */
static int parse_exact(const char *in, size_t len, unsigned flags, struct smtp_addr *a,
		       struct smtp_err *err)
{
	char *buf = malloc(len ? len : 1);
	int rc;

	assert_non_null(buf);
	memcpy(buf, in, len);
	rc = smtp_addr_parse(buf, len, flags, a, err);
	free(buf);
	return rc;
}

/* Every accepted path and its parts. */
static void test_ok(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		struct smtp_addr a;
		struct smtp_err err = { 0, NULL, NULL };

		if (parse_exact(c->in, c->len, c->flags, &a, &err) != 0)
			fail_msg("%s refused: %d %s %s", c->in, err.code, err.enh, err.text);
		assert_string_equal(a.local, c->local);
		assert_string_equal(a.domain, c->domain);
		assert_int_equal(a.null_path, c->null_path);
		assert_int_equal(a.utf8, c->utf8);
		assert_int_equal(a.literal, c->literal);
	}
}

/* Every refused path and its reply. */
static void test_bad(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct smtp_addr a;
		struct smtp_err err = { 0, NULL, NULL };

		if (parse_exact(c->in, c->len, c->flags, &a, &err) != -1)
			fail_msg("case %zu %s accepted", i, c->in);
		if (err.code != c->code || strcmp(err.enh, c->enh) != 0)
			fail_msg("case %zu %s: got %d %s (%s), want %d %s", i, c->in, err.code,
				 err.enh, err.text, c->code, c->enh);
		assert_non_null(err.text);
	}
}

/* Length limits: local part 64, label 63, whole path 256. */
static void test_limits(void **state)
{
	char buf[600];
	struct smtp_addr a;
	struct smtp_err err;
	size_t n;

	(void)state;
	/* 65-octet local part */
	buf[0] = '<';
	memset(buf + 1, 'a', 65);
	memcpy(buf + 66, "@d.test>", 8);
	assert_int_equal(parse_exact(buf, 74, 0, &a, &err), -1);
	assert_int_equal(err.code, 501);
	/* 66 octets counting the quotes */
	buf[1] = '"';
	buf[64] = '"';
	memcpy(buf + 65, "@d.test>", 8);
	assert_int_equal(parse_exact(buf, 73, 0, &a, &err), 0);
	buf[64] = 'a';
	buf[65] = '"';
	memcpy(buf + 66, "@d.test>", 8);
	assert_int_equal(parse_exact(buf, 74, 0, &a, &err), -1);
	/* 64-octet label */
	memcpy(buf, "<u@", 3);
	memset(buf + 3, 'b', 64);
	memcpy(buf + 67, ".test>", 6);
	assert_int_equal(parse_exact(buf, 73, 0, &a, &err), -1);
	/* a path of exactly 256 octets ("<u@" + 252-octet domain + ">"), then 257 */
	memcpy(buf, "<u@", 3);
	for (n = 0; n < 124; n++)
		memcpy(buf + 3 + 2 * n, "c.", 2);
	memcpy(buf + 251, "test>", 5);
	assert_int_equal(parse_exact(buf, 256, 0, &a, &err), 0);
	assert_int_equal(strlen(a.domain), 252);
	memcpy(buf + 251, "ctest>", 6);
	assert_int_equal(parse_exact(buf, 257, 0, &a, &err), -1);
	assert_int_equal(err.code, 501);
	assert_string_equal(err.text, "address too long");
}

/* smtp_addr_str: joins the parts, "" for the null path and when too small. */
static void test_str(void **state)
{
	struct smtp_addr a;
	struct smtp_err err;
	char buf[SMTP_ADDR_STR_MAX], small[12];

	(void)state;
	assert_int_equal(parse_exact(S("<User@D.TEST>"), 0, &a, &err), 0);
	assert_string_equal(smtp_addr_str(&a, buf, sizeof(buf)), "User@d.test");
	assert_string_equal(smtp_addr_str(&a, small, 12), "User@d.test");
	assert_string_equal(smtp_addr_str(&a, small, 11), "");
	assert_true(smtp_addr_str(&a, small, 0) == small);
	assert_int_equal(parse_exact(S("<>"), E, &a, &err), 0);
	assert_string_equal(smtp_addr_str(&a, buf, sizeof(buf)), "");
}

/* Run the address parser tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
