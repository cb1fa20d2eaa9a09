/*
 * test_authres.c - table tests of src/filter/authres.c: the RFC 8601
 * Authentication-Results parser, its limits, the "sender authenticated"
 * verdict of bounce_policy = authenticated (SPF, DKIM, organisational
 * domains from the Public Suffix List) and the test for our own header.
 *
 * A parsed header is compared as one summary line (summarize()):
 *   "ID vN[ none]; method[/v]=result prop=value ...; ..."
 * with only the kept properties, method versions shown when not 1.  The
 * PSL cases use the system list (/usr/share/publicsuffix, package
 * publicsuffix) or libpsl's built-in copy: both know co.uk, github.io and
 * the kawasaki.jp wildcard used here.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "filter/authres.h"

#define S(x) x, sizeof(x) - 1

/* Append the non-empty kept properties of r to buf at *o. */
static void summarize_props(const struct authres_result *r, char *buf, size_t n, size_t *o)
{
	static const struct { const char *name; size_t off; } props[] = {
		{ "smtp.mailfrom", offsetof(struct authres_result, smtp_mailfrom) },
		{ "smtp.helo", offsetof(struct authres_result, smtp_helo) },
		{ "header.d", offsetof(struct authres_result, header_d) },
		{ "header.i", offsetof(struct authres_result, header_i) },
		{ "header.from", offsetof(struct authres_result, header_from) },
	};

	for (size_t p = 0; p < sizeof(props) / sizeof(props[0]); p++) {
		const char *v = (const char *)r + props[p].off;

		if (*v != '\0')
			*o += (size_t)snprintf(buf + *o, n - *o, " %s=%s", props[p].name, v);
	}
}

/* One line saying what a holds (see the file comment). */
static void summarize(const struct authres *a, char *buf, size_t n)
{
	size_t o = (size_t)snprintf(buf, n, "%s v%d%s", a->authserv_id, a->version,
				    a->none ? " none" : "");

	for (size_t i = 0; i < a->nresults && o < n; i++) {
		const struct authres_result *r = &a->results[i];

		o += (size_t)snprintf(buf + o, n - o, "; %s", r->method);
		if (r->method_version != 1)
			o += (size_t)snprintf(buf + o, n - o, "/%d", r->method_version);
		o += (size_t)snprintf(buf + o, n - o, "=%s", r->result);
		summarize_props(r, buf, n, &o);
	}
}

struct parse_case {
	const char *what;
	const char *value;
	size_t len;
	const char *want;     /* summary, or NULL for -1 */
};

#define RSPAMD_SPF "mx2.good.test;\n\tspf=pass (mx2.good.test: domain of a@pass.test " \
	"designates 127.0.0.77 as permitted sender) smtp.mailfrom=a@pass.test"
#define DKIM_3 "mx.example.org; dkim=pass header.d=example.com header.s=sel header.b=abcd; " \
	"spf=fail smtp.mailfrom=x@y.z; dmarc=pass header.from=example.com"

static const struct parse_case parse_cases[] = {
	{ "rspamd SPF, bare LF folding", S(RSPAMD_SPF),
	  "mx2.good.test v1; spf=pass smtp.mailfrom=a@pass.test" },
	{ "three methods", S(DKIM_3),
	  "mx.example.org v1; dkim=pass header.d=example.com; spf=fail smtp.mailfrom=x@y.z; "
	  "dmarc=pass header.from=example.com" },
	{ "CRLF folding everywhere", S("mx.example.org;\r\n dkim=pass\r\n\theader.d=example.com"
				      "\r\n header.i=@example.com"),
	  "mx.example.org v1; dkim=pass header.d=example.com header.i=@example.com" },
	{ "the header's own CRLF", S("mx; spf=pass smtp.mailfrom=a@b.test\r\n"),
	  "mx v1; spf=pass smtp.mailfrom=a@b.test" },
	{ "the header's own LF", S("mx; spf=pass smtp.mailfrom=a@b.test\n"),
	  "mx v1; spf=pass smtp.mailfrom=a@b.test" },
	{ "leading white space and folding", S(" \r\n\tmx; spf=pass smtp.helo=h.test"),
	  "mx v1; spf=pass smtp.helo=h.test" },
	{ "comments between every item",
	  S("(c) mx.example.org (c2) ; (c3) spf (c4) = (c5) pass (c6) smtp (c7) . (c8) mailfrom"
	    " (c9) = (c10) a@b.test (c11)"),
	  "mx.example.org v1; spf=pass smtp.mailfrom=a@b.test" },
	{ "comments without spaces", S("mx;spf=pass(ok)smtp.mailfrom=a@b.test(x);dkim=none"),
	  "mx v1; spf=pass smtp.mailfrom=a@b.test; dkim=none" },
	{ "nested comments", S("mx; spf=pass (a (b (c))) smtp.mailfrom=a@b.test"),
	  "mx v1; spf=pass smtp.mailfrom=a@b.test" },
	{ "comment depth 8", S("mx; spf=pass ((((((((8)))))))) smtp.mailfrom=a@b.test"),
	  "mx v1; spf=pass smtp.mailfrom=a@b.test" },
	{ "comment depth 9", S("mx; spf=pass (((((((((9))))))))) smtp.mailfrom=a@b.test"), NULL },
	{ "quoted pair in a comment", S("mx; spf=pass (a \\) b \\( c) smtp.mailfrom=a@b.test"),
	  "mx v1; spf=pass smtp.mailfrom=a@b.test" },
	{ "folded comment", S("mx; spf=pass (a\r\n b) smtp.mailfrom=a@b.test"),
	  "mx v1; spf=pass smtp.mailfrom=a@b.test" },
	{ "unterminated comment", S("mx; spf=pass (a smtp.mailfrom=a@b.test"), NULL },
	{ "stray close", S("mx; spf=pass ) smtp.mailfrom=a@b.test"), NULL },
	{ "8-bit comment", S("mx; spf=pass (caf\xc3\xa9) smtp.mailfrom=a@b.test"),
	  "mx v1; spf=pass smtp.mailfrom=a@b.test" },
	{ "control in a comment", S("mx; spf=pass (a\x01) smtp.mailfrom=a@b.test"), NULL },
	{ "quoted authserv-id", S("\"mx.example.org\"; spf=pass smtp.mailfrom=a@b.test"),
	  "mx.example.org v1; spf=pass smtp.mailfrom=a@b.test" },
	{ "quoted pvalue", S("mx; dkim=pass header.d=\"example.com\""),
	  "mx v1; dkim=pass header.d=example.com" },
	{ "quoted local part", S("mx; spf=pass smtp.mailfrom=\"a b\"@example.com"),
	  "mx v1; spf=pass smtp.mailfrom=a b@example.com" },
	{ "quoted local part, escapes", S("mx; spf=pass smtp.mailfrom=\"a\\\"b\"@example.com"),
	  "mx v1; spf=pass smtp.mailfrom=a\"b@example.com" },
	{ "quoted local part, no domain", S("mx; spf=pass smtp.mailfrom=\"a\"@ x"), NULL },
	{ "empty quoted pvalue", S("mx; spf=pass smtp.mailfrom=\"\""), "mx v1; spf=pass" },
	{ "folded quoted string", S("mx; dkim=fail reason=\"bad\r\n sig\" header.d=a.test"),
	  "mx v1; dkim=fail header.d=a.test" },
	{ "unterminated quote", S("mx; dkim=pass header.d=\"a.test"), NULL },
	{ "empty quoted id", S("\"\"; spf=pass"), NULL },
	{ "case", S("MX.Example.ORG; SPF=PASS SMTP.MailFrom=A@B.Test; DKIM=Pass Header.D=Ex.COM"),
	  "MX.Example.ORG v1; spf=pass smtp.mailfrom=A@B.Test; dkim=pass header.d=Ex.COM" },
	{ "authres-version 1", S("mx.example.org 1; spf=pass smtp.mailfrom=a@b.test"),
	  "mx.example.org v1; spf=pass smtp.mailfrom=a@b.test" },
	{ "authres-version 2 after a comment", S("mx(c)2 (c); none"), "mx v2 none" },
	{ "version glued to a quoted id", S("\"mx\"1; spf=pass"), NULL },
	{ "version of ten digits", S("mx 1234567890; none"), NULL },
	{ "version then garbage", S("mx 1x; none"), NULL },
	{ "method version", S("mx; dkim/1=pass header.d=a.test"), "mx v1; dkim=pass header.d=a.test" },
	{ "method version 2, spaced", S("mx; dkim / 2 = pass header.d=a.test"),
	  "mx v1; dkim/2=pass header.d=a.test" },
	{ "method version missing", S("mx; dkim/=pass"), NULL },
	{ "none", S("mx.example.org; none"), "mx.example.org v1 none" },
	{ "none, comment, version", S("mx 1; none (nothing checked)"), "mx v1 none" },
	{ "none then a result", S("mx; none; spf=pass"), NULL },
	{ "a result then none", S("mx; spf=pass; none"), NULL },
	{ "none; trailing", S("mx; none;"), "mx v1 none" },
	{ "id alone", S("mx.example.org"), NULL },
	{ "id and ;", S("mx.example.org;"), NULL },
	{ "empty", S(""), NULL },
	{ "white space", S(" \t "), NULL },
	{ "no id", S("; spf=pass"), NULL },
	{ "one trailing ;", S("mx; spf=pass smtp.mailfrom=a@b.test;"),
	  "mx v1; spf=pass smtp.mailfrom=a@b.test" },
	{ "empty resinfo", S("mx; spf=pass;; dkim=pass"), NULL },
	{ "reason quoted", S("mx; dkim=fail reason=\"signature verification failed\" header.d=e.com"),
	  "mx v1; dkim=fail header.d=e.com" },
	{ "reason token", S("mx; dmarc=pass reason=ok header.from=a.test"),
	  "mx v1; dmarc=pass header.from=a.test" },
	{ "reason after a property", S("mx; spf=pass smtp.mailfrom=a@b reason=x"), NULL },
	{ "two reasons", S("mx; spf=pass reason=a reason=b"), NULL },
	{ "reason as a ptype", S("mx; spf=pass reason.x=1 smtp.helo=h"), "mx v1; spf=pass smtp.helo=h" },
	{ "a kept property twice", S("mx; spf=pass smtp.mailfrom=a@evil.test smtp.mailfrom=b@ok.test"),
	  NULL },
	{ "header.d twice", S("mx; dkim=pass header.d=a.test header.d=b.test"), NULL },
	{ "same property, two resinfos", S("mx; dkim=pass header.d=a.test; dkim=fail header.d=b.test"),
	  "mx v1; dkim=pass header.d=a.test; dkim=fail header.d=b.test" },
	{ "an unkept property twice", S("mx; dkim=pass header.s=a header.s=b header.d=x.test"),
	  "mx v1; dkim=pass header.d=x.test" },
	{ "other methods and ptypes", S("mx; iprev=pass policy.iprev=127.0.0.1 (localhost); "
					"auth=pass smtp.auth=joe; arc=pass; bimi=none"),
	  "mx v1; iprev=pass; auth=pass; arc=pass; bimi=none" },
	{ "results: the rest", S("mx; spf=softfail; spf=neutral; spf=temperror; spf=permerror; "
				 "dkim=policy; dkim=none"),
	  "mx v1; spf=softfail; spf=neutral; spf=temperror; spf=permerror; dkim=policy; dkim=none" },
	{ "smtp.helo and smtp.mailfrom", S("mx; spf=none smtp.helo=mail.a.test smtp.mailfrom=a.test"),
	  "mx v1; spf=none smtp.mailfrom=a.test smtp.helo=mail.a.test" },
	{ "base64 header.b", S("mx; dkim=pass header.d=a.test header.b=ab/+cd=="),
	  "mx v1; dkim=pass header.d=a.test" },
	{ "8-bit pvalue", S("mx; spf=pass smtp.mailfrom=j\xc3\xb6rg@b.test"),
	  "mx v1; spf=pass smtp.mailfrom=j\xc3\xb6rg@b.test" },
	{ "folded property", S("mx; spf=pass smtp\r\n .\r\n mailfrom\r\n =\r\n a@b.test"),
	  "mx v1; spf=pass smtp.mailfrom=a@b.test" },
	{ "Microsoft action=none", S("mx; dmarc=pass action=none header.from=a.test"), NULL },
	{ "Microsoft, no id", S("spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=a.test; dkim=none"),
	  NULL },
	{ "no result", S("mx; spf= smtp.mailfrom=a@b"), NULL },
	{ "no =", S("mx; spf"), NULL },
	{ "no method", S("mx; =pass"), NULL },
	{ "empty pvalue", S("mx; spf=pass smtp.mailfrom="), NULL },
	{ "empty pvalue before ;", S("mx; spf=pass smtp.mailfrom= ; dkim=none"), NULL },
	{ "no property", S("mx; spf=pass smtp.=a@b"), NULL },
	{ "no ptype", S("mx; spf=pass .mailfrom=a@b"), NULL },
	{ "keyword starting with -", S("mx; -spf=pass"), NULL },
	{ "keyword ending with -", S("mx; spf-=pass"), NULL },
	{ "keyword with _", S("mx; x_y=pass"), "mx v1; x_y=pass" },
	{ "result glued to junk", S("mx; spf=pa$s"), NULL },
	{ "pvalue glued to a quote", S("mx; dkim=pass header.d=a\"b\""), NULL },
	{ "tspecial after the id", S("mx@x; spf=pass"), NULL },
	{ "NUL in a value", S("mx; spf=pass smtp.mailfrom=a@b\0c"), NULL },
	{ "NUL in the id", S("m\0x; none"), NULL },
	{ "bare CR", S("mx;\rspf=pass"), NULL },
	{ "LF without WSP", S("mx;\nspf=pass"), NULL },
	{ "CR LF without WSP", S("mx; spf=pass smtp.mailfrom=a@b.test\r\nX-Evil: 1"), NULL },
	{ "two line ends at the end", S("mx; spf=pass\r\n\r\n"), NULL },
	{ "LF CR", S("mx; spf=pass\n\r"), NULL },
	{ "garbage", S("\x01\x02\x03"), NULL },
	{ "only a comment", S("(mx.example.org)"), NULL },
	{ "8-bit garbage", S("\xff\xfe; \xff=\xff"), NULL },
	{ "the length is honoured", "mx; spf=pass smtp.mailfrom=a@b.test", 30,
	  "mx v1; spf=pass smtp.mailfrom=a@b" },
};

/* authres_parse() over the table; failures clear the output. */
static void test_parse(void **state)
{
	static struct authres a;
	char got[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		char *copy = malloc(c->len + 1);   /* exactly len octets: ASan sees overreads */
		int rc;

		assert_non_null(copy);
		memcpy(copy, c->value, c->len);
		memset(&a, 0x5a, sizeof(a));
		print_message("parse %zu: %s\n", i, c->what);
		rc = authres_parse(copy, c->len, &a);
		if (c->want == NULL) {
			assert_int_equal(rc, -1);
			assert_true(errno == EINVAL || errno == EMSGSIZE);
			assert_int_equal(a.authserv_id[0], '\0');
			assert_int_equal(a.nresults, 0);
			assert_int_equal(a.none, 0);
		} else {
			assert_int_equal(rc, 0);
			summarize(&a, got, sizeof(got));
			assert_string_equal(got, c->want);
		}
		free(copy);
	}
	assert_int_equal(authres_parse(NULL, 0, &a), -1);
	assert_int_equal(authres_parse("mx; none", 8, NULL), -1);
}

/* Fill buf with "mx; spf=pass (xxx...)" of exactly n octets. */
static void make_long_value(char *buf, size_t n)
{
	static const char head[] = "mx; spf=pass (";

	memcpy(buf, head, sizeof(head) - 1);
	memset(buf + sizeof(head) - 1, 'x', n - sizeof(head));
	buf[n - 1] = ')';
}

/* Parse buf[0..n); check the result and errno. */
static void expect_parse(const char *what, const char *buf, size_t n, int want, int want_errno)
{
	static struct authres a;
	char *copy = malloc(n + 1);

	assert_non_null(copy);
	memcpy(copy, buf, n);
	print_message("limit: %s\n", what);
	assert_int_equal(authres_parse(copy, n, &a), want);
	if (want < 0)
		assert_int_equal(errno, want_errno);
	free(copy);
}

/* Every limit: at it parses, one over is -1 with EMSGSIZE. */
static void test_limits(void **state)
{
	static char buf[AUTHRES_VALUE_MAX + 64];
	size_t o;

	(void)state;
	make_long_value(buf, AUTHRES_VALUE_MAX);
	expect_parse("value at the limit", buf, AUTHRES_VALUE_MAX, 0, 0);
	make_long_value(buf, AUTHRES_VALUE_MAX + 1);
	expect_parse("value one over", buf, AUTHRES_VALUE_MAX + 1, -1, EMSGSIZE);

	for (int extra = 0; extra <= 1; extra++) {
		o = (size_t)sprintf(buf, "mx");
		for (int i = 0; i < AUTHRES_RESULTS_MAX + extra; i++)
			o += (size_t)sprintf(buf + o, "; dkim=pass header.d=d%d.test", i);
		expect_parse(extra ? "results one over" : "results at the limit", buf, o,
			     extra ? -1 : 0, EMSGSIZE);
		buf[o++] = ';';
		expect_parse("results, trailing ;", buf, o, extra ? -1 : 0, EMSGSIZE);
	}

	static const struct { const char *what, *pre, *post; size_t max; } tokens[] = {
		{ "pvalue", "mx; spf=pass smtp.mailfrom=", "", AUTHRES_TOKEN_MAX },
		{ "unkept pvalue", "mx; dkim=pass header.b=", "", AUTHRES_TOKEN_MAX },
		{ "authserv-id", "", "; none", AUTHRES_TOKEN_MAX },
		{ "quoted pvalue", "mx; spf=pass smtp.mailfrom=\"", "\"", AUTHRES_TOKEN_MAX },
		{ "reason", "mx; spf=pass reason=\"", "\"", AUTHRES_TOKEN_MAX },
		{ "method", "mx; ", "=pass", AUTHRES_NAME_MAX },
		{ "result", "mx; spf=", "", AUTHRES_NAME_MAX },
		{ "ptype", "mx; spf=pass ", ".x=y", AUTHRES_NAME_MAX },
		{ "property", "mx; spf=pass smtp.", "=y", AUTHRES_NAME_MAX },
	};
	for (size_t t = 0; t < sizeof(tokens) / sizeof(tokens[0]); t++) {
		for (size_t extra = 0; extra <= 1; extra++) {
			o = (size_t)sprintf(buf, "%s", tokens[t].pre);
			memset(buf + o, 'a', tokens[t].max + extra);
			o += tokens[t].max + extra;
			o += (size_t)sprintf(buf + o, "%s", tokens[t].post);
			expect_parse(tokens[t].what, buf, o, extra ? -1 : 0, EMSGSIZE);
		}
	}
}

/* Every prefix of a good header parses or fails cleanly, reading only it. */
static void test_prefixes(void **state)
{
	static const char *const values[] = { RSPAMD_SPF, DKIM_3,
		"\"mx\" 1 (c (d)); dkim/1=pass reason=\"x\\\"y\" header.d=\"a\"@b.test\r\n" };
	static struct authres a;

	(void)state;
	for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
		size_t n = strlen(values[v]);

		for (size_t k = 0; k <= n; k++) {
			char *copy = malloc(k + 1);

			assert_non_null(copy);
			memcpy(copy, values[v], k);
			if (authres_parse(copy, k, &a) == 0)
				assert_true(a.nresults > 0 || a.none);
			free(copy);
		}
		assert_int_equal(authres_parse(values[v], n, &a), 0);
	}
}

struct ours_case {
	const char *name;
	const char *value;
	size_t len;
	const char *id;
	int want;
};

static const struct ours_case ours_cases[] = {
	{ "Authentication-Results", S(RSPAMD_SPF), "mx2.good.test", 1 },
	{ "authentication-results", S(RSPAMD_SPF), "MX2.Good.Test", 1 },
	{ "AUTHENTICATION-RESULTS \t", S(RSPAMD_SPF), "mx2.good.test", 1 },
	{ "Authentication-Results", S(RSPAMD_SPF), "mx.good.test", 0 },
	{ "X-Authentication-Results", S(RSPAMD_SPF), "mx2.good.test", 0 },
	{ "Authentication-Results-Original", S(RSPAMD_SPF), "mx2.good.test", 0 },
	{ "ARC-Authentication-Results", S("i=1; mx2.good.test; spf=pass"), "mx2.good.test", 0 },
	{ "Authentication-Results", S(DKIM_3), "mx.example.org", 1 },
	{ "Authentication-Results", S("\"mx2.good.test\"; none"), "mx2.good.test", 1 },
	{ "Authentication-Results", S(" (ours) mx2.good.test 1; none"), "mx2.good.test", 1 },
	/* does not parse, first token ours: strip */
	{ "Authentication-Results", S("mx2.good.test; action=none junk"), "mx2.good.test", 1 },
	{ "Authentication-Results", S("mx2.good.test"), "mx2.good.test", 1 },
	{ "Authentication-Results", S("mx2.good.test/x; spf=pass"), "mx2.good.test", 1 },
	{ "Authentication-Results", S("mx2.good.test\r\nX-Evil: 1"), "mx2.good.test", 1 },
	{ "Authentication-Results", S("((((((((((deep)))))))))) mx2.good.test; spf=pass"),
	  "mx2.good.test", 1 },
	{ "Authentication-Results", S("((((((((((deep)))))))))) other.test; spf=pass"),
	  "mx2.good.test", 0 },
	{ "Authentication-Results", S("(unterminated mx2.good.test; spf=pass"), "mx2.good.test", 1 },
	{ "Authentication-Results", S("(unterminated MX2.GOOD.TEST"), "mx2.good.test", 1 },
	{ "Authentication-Results", S("(unterminated other.test; spf=pass"), "mx2.good.test", 0 },
	{ "Authentication-Results", S("\"mx2.good.test; spf=pass"), "mx2.good.test", 1 },
	{ "Authentication-Results", S("\"\" mx2.good.test; spf=pass"), "mx2.good.test", 0 },
	/* someone else's */
	{ "Authentication-Results", S("(mx2.good.test) other.test; spf=pass"), "mx2.good.test", 0 },
	{ "Authentication-Results", S("mx2.good.test.evil; spf=pass"), "mx2.good.test", 0 },
	{ "Authentication-Results", S("evil.mx2.good.test; spf=pass"), "mx2.good.test", 0 },
	{ "Authentication-Results", S("other.test; spf=pass (mx2.good.test: ok) smtp.mailfrom=a@b"),
	  "mx2.good.test", 0 },
	{ "Authentication-Results", "mx2.good.test; none", 3, "mx2.good.test", 0 },
	{ "Authentication-Results", S(""), "mx2.good.test", 0 },
	{ "Authentication-Results", S(RSPAMD_SPF), "", 0 },
};

/* authres_header_is_ours() over the table, and its NULL arguments. */
static void test_header_is_ours(void **state)
{
	static char big[AUTHRES_VALUE_MAX + 64];
	size_t o;

	(void)state;
	for (size_t i = 0; i < sizeof(ours_cases) / sizeof(ours_cases[0]); i++) {
		const struct ours_case *c = &ours_cases[i];
		char *copy = malloc(c->len + 1);

		assert_non_null(copy);
		memcpy(copy, c->value, c->len);
		print_message("ours %zu: %s\n", i, c->name);
		assert_int_equal(authres_header_is_ours(c->name, copy, c->len, c->id), c->want);
		free(copy);
	}
	/* over AUTHRES_VALUE_MAX: does not parse, still ours */
	o = (size_t)sprintf(big, "mx2.good.test; spf=pass (");
	memset(big + o, 'x', AUTHRES_VALUE_MAX);
	o += AUTHRES_VALUE_MAX;
	big[o++] = ')';
	assert_int_equal(authres_header_is_ours("Authentication-Results", big, o, "mx2.good.test"), 1);
	assert_int_equal(authres_header_is_ours("Authentication-Results", big, o, "other.test"), 0);
	assert_int_equal(authres_header_is_ours(NULL, "mx; none", 8, "mx"), 0);
	assert_int_equal(authres_header_is_ours("Authentication-Results", NULL, 0, "mx"), 0);
	assert_int_equal(authres_header_is_ours("Authentication-Results", "mx; none", 8, NULL), 0);
}

/* authres_is_ours(): case-insensitive, never for an empty id or header. */
static void test_is_ours(void **state)
{
	static struct authres a;

	(void)state;
	assert_int_equal(authres_parse(S(RSPAMD_SPF), &a), 0);
	assert_int_equal(authres_is_ours(&a, "mx2.good.test"), 1);
	assert_int_equal(authres_is_ours(&a, "MX2.GOOD.TEST"), 1);
	assert_int_equal(authres_is_ours(&a, "mx2.good.tes"), 0);
	assert_int_equal(authres_is_ours(&a, "mx2.good.test."), 0);
	assert_int_equal(authres_is_ours(&a, ""), 0);
	assert_int_equal(authres_is_ours(&a, NULL), 0);
	assert_int_equal(authres_is_ours(NULL, "mx2.good.test"), 0);
	assert_int_equal(authres_parse(S("garbage"), &a), -1);
	assert_int_equal(authres_is_ours(&a, ""), 0);
}

static struct authres_psl *psl;

/* Load the Public Suffix List once for the PSL tests. */
static int psl_setup(void **state)
{
	(void)state;
	psl = authres_psl_new(NULL);
	return psl == NULL ? -1 : 0;
}

/* Free it. */
static int psl_teardown(void **state)
{
	(void)state;
	authres_psl_free(psl);
	psl = NULL;
	return 0;
}

/* authres_psl_new(): the system list, an explicit file, a missing one. */
static void test_psl_load(void **state)
{
	struct authres_psl *p;

	(void)state;
	print_message("PSL from %s\n", authres_psl_source(psl));
	assert_true(strcmp(authres_psl_source(psl), "builtin") == 0 ||
		    strncmp(authres_psl_source(psl), "/usr/share/publicsuffix/", 24) == 0);
	p = authres_psl_new("/usr/share/publicsuffix/public_suffix_list.dat");
	if (p != NULL) {
		assert_string_equal(authres_psl_source(p), "/usr/share/publicsuffix/public_suffix_list.dat");
		authres_psl_free(p);
	}
	errno = 0;
	assert_null(authres_psl_new("/nonexistent/public_suffix_list.dat"));
	assert_int_equal(errno, ENOENT);
	authres_psl_free(NULL);
	assert_string_equal(authres_psl_source(NULL), "");
}

/* authres_org_domain(): registrable domains, lower-cased. */
static void test_org_domain(void **state)
{
	static const struct { const char *domain, *want; } cases[] = {
		{ "example.com", "example.com" },
		{ "a.b.example.com", "example.com" },
		{ "mail.example.co.uk", "example.co.uk" },
		{ "MAIL.Example.CO.UK", "example.co.uk" },   /* libpsl alone says "CO.UK" */
		{ "example.co.uk", "example.co.uk" },
		{ "foo.github.io", "foo.github.io" },
		{ "x.foo.github.io", "foo.github.io" },
		{ "a.b.c.kawasaki.jp", "b.c.kawasaki.jp" },  /* *.kawasaki.jp */
		{ "www.city.kawasaki.jp", "city.kawasaki.jp" },  /* !city.kawasaki.jp */
		{ "mx.pass.test", "pass.test" },             /* unknown TLD: rule "*" */
		{ "x.xn--p1ai", "x.xn--p1ai" },
		{ "co.uk", NULL },
		{ "github.io", NULL },
		{ "com", NULL },
		{ "", NULL },
		{ "b\xc3\xbc" "cher.example", NULL },       /* U-labels: not handled */
		{ "[127.0.0.1]", NULL },
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("org %s\n", cases[i].domain);
		if (cases[i].want == NULL) {
			assert_int_equal(authres_org_domain(psl, cases[i].domain, out, sizeof(out)), -1);
		} else {
			assert_int_equal(authres_org_domain(psl, cases[i].domain, out, sizeof(out)), 0);
			assert_string_equal(out, cases[i].want);
		}
	}
	assert_int_equal(authres_org_domain(psl, "mail.example.co.uk", out, 13), -1);
	assert_int_equal(authres_org_domain(psl, "mail.example.co.uk", out, 14), 0);
	assert_int_equal(authres_org_domain(NULL, "example.com", out, sizeof(out)), -1);
}

struct auth_case {
	const char *value;
	const char *id;
	const char *domain;   /* MAIL FROM domain, "" or NULL for <> */
	int use_psl;
	int want;
};

#define OURS "mx2.good.test"
#define AR(x) OURS "; " x

static const struct auth_case auth_cases[] = {
	{ RSPAMD_SPF, OURS, "pass.test", 1, 1 },
	{ RSPAMD_SPF, OURS, "PASS.Test", 1, 1 },
	{ RSPAMD_SPF, "MX2.GOOD.TEST", "pass.test", 1, 1 },
	{ RSPAMD_SPF, OURS, "other.test", 1, 0 },
	{ RSPAMD_SPF, OURS, "mx.pass.test", 1, 0 },   /* SPF: the exact domain */
	{ RSPAMD_SPF, "mx.other.test", "pass.test", 1, 0 },  /* not our header */
	{ RSPAMD_SPF, OURS, "", 1, 0 },               /* the null sender */
	{ RSPAMD_SPF, OURS, NULL, 1, 0 },
	{ RSPAMD_SPF, "", "pass.test", 1, 0 },
	{ AR("spf=pass smtp.mailfrom=pass.test"), OURS, "pass.test", 1, 1 },
	{ AR("spf=pass smtp.mailfrom=\"a b\"@pass.test"), OURS, "pass.test", 1, 1 },
	{ AR("spf=pass smtp.mailfrom=a@"), OURS, "pass.test", 1, 0 },
	{ AR("spf=pass smtp.helo=pass.test"), OURS, "pass.test", 1, 0 },
	{ AR("spf=fail smtp.mailfrom=a@pass.test"), OURS, "pass.test", 1, 0 },
	{ AR("spf=softfail smtp.mailfrom=a@pass.test"), OURS, "pass.test", 1, 0 },
	{ AR("spf=neutral smtp.mailfrom=a@pass.test"), OURS, "pass.test", 1, 0 },
	{ AR("spf=none smtp.mailfrom=a@pass.test"), OURS, "pass.test", 1, 0 },
	{ AR("spf=temperror smtp.mailfrom=a@pass.test"), OURS, "pass.test", 1, 0 },
	{ AR("spf/2=pass smtp.mailfrom=a@pass.test"), OURS, "pass.test", 1, 0 },
	{ AR("spf/1=pass smtp.mailfrom=a@pass.test"), OURS, "pass.test", 1, 1 },
	{ OURS " 2; spf=pass smtp.mailfrom=a@pass.test", OURS, "pass.test", 1, 0 },
	{ AR("dkim=pass header.d=example.com"), OURS, "example.com", 1, 1 },
	{ AR("dkim=pass header.d=Example.COM"), OURS, "example.com", 0, 1 },
	{ AR("dkim=pass header.d=example.com"), OURS, "bounce.example.com", 1, 1 },
	{ AR("dkim=pass header.d=example.com"), OURS, "bounce.example.com", 0, 0 },  /* no PSL */
	{ AR("dkim=pass header.d=example.com"), OURS, "example.org", 1, 0 },
	{ AR("dkim=pass header.d=example.co.uk"), OURS, "mail.example.co.uk", 1, 1 },
	{ AR("dkim=pass header.d=Example.CO.UK"), OURS, "MAIL.example.co.uk", 1, 1 },
	{ AR("dkim=pass header.d=example.co.uk"), OURS, "mail.example.co.uk", 0, 0 },
	{ AR("dkim=pass header.d=mail.example.co.uk"), OURS, "example.co.uk", 1, 0 },
	{ AR("dkim=pass header.d=co.uk"), OURS, "example.co.uk", 1, 0 },
	{ AR("dkim=pass header.d=co.uk"), OURS, "co.uk", 1, 1 },       /* exact */
	{ AR("dkim=pass header.d=foo.github.io"), OURS, "bar.github.io", 1, 0 },
	{ AR("dkim=pass header.d=github.io"), OURS, "foo.github.io", 1, 0 },
	{ AR("dkim=pass header.d=foo.github.io"), OURS, "x.foo.github.io", 1, 1 },
	{ AR("dkim=pass header.d=city.kawasaki.jp"), OURS, "www.city.kawasaki.jp", 1, 1 },
	{ AR("dkim=pass header.d=c.kawasaki.jp"), OURS, "a.b.c.kawasaki.jp", 1, 0 },
	{ AR("dkim=pass header.d=pass.test"), OURS, "a.b.pass.test", 1, 1 },
	{ AR("dkim=fail header.d=example.com"), OURS, "example.com", 1, 0 },
	{ AR("dkim=pass header.i=@example.com"), OURS, "example.com", 1, 0 },
	{ AR("dkim/2=pass header.d=example.com"), OURS, "example.com", 1, 0 },
	{ AR("dmarc=pass header.from=example.com"), OURS, "example.com", 1, 0 },
	{ AR("arc=pass header.d=example.com"), OURS, "example.com", 1, 0 },
	{ AR("dkim=pass header.d=b\xc3\xbc" "cher.example"), OURS, "b\xc3\xbc" "cher.example", 1, 0 },
	{ AR("dkim=pass header.d=xn--bcher-kva.example"), OURS, "XN--BCHER-KVA.example", 1, 1 },
	{ DKIM_3, "mx.example.org", "y.z", 1, 0 },
	{ DKIM_3, "mx.example.org", "example.com", 1, 1 },
	{ DKIM_3, "mx.example.org", "lists.example.com", 1, 1 },
	{ AR("spf=fail smtp.mailfrom=a@pass.test; dkim=pass header.d=pass.test"), OURS, "pass.test", 1,
	  1 },
	{ "garbage", OURS, "pass.test", 1, 0 },
};

/* authres_sender_authenticated() over the table. */
static void test_sender_authenticated(void **state)
{
	static struct authres a;

	(void)state;
	for (size_t i = 0; i < sizeof(auth_cases) / sizeof(auth_cases[0]); i++) {
		const struct auth_case *c = &auth_cases[i];

		print_message("auth %zu: %s\n", i, c->domain ? c->domain : "(null)");
		(void)authres_parse(c->value, strlen(c->value), &a);
		assert_int_equal(authres_sender_authenticated(&a, c->id, c->domain,
							      c->use_psl ? psl : NULL), c->want);
	}
	assert_int_equal(authres_sender_authenticated(NULL, OURS, "pass.test", psl), 0);
}

/* Run the Authentication-Results tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_header_is_ours),
		cmocka_unit_test(test_is_ours),
		cmocka_unit_test(test_psl_load),
		cmocka_unit_test(test_org_domain),
		cmocka_unit_test(test_sender_authenticated),
	};

	return cmocka_run_group_tests(tests, psl_setup, psl_teardown);
}
