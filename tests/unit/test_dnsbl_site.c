/*
 * test_dnsbl_site.c - table tests of src/filter/dnsbl_site.c: dnsbl_sites
 * entries (postscreen syntax domain[=filter][*weight]), reply filters, the
 * 127.255.255.0/24 error codes, and DNSBL query names.
 *
 * Each accepted entry carries a few answers it must and must not match, so
 * the filter bitmaps are checked through dnsbl_site_match(), the only way
 * the runtime reads them.  Each refused entry names a word its message must
 * hold, and must leave the result all zero (nothing half-parsed).  Decided
 * here: a reversed range ("[9..3]") is refused, as Postfix's ip_match does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "filter/dnsbl_site.h"

#define N(t) (sizeof(t) / sizeof((t)[0]))
#define PROBES_MAX 6

struct probe {
	uint8_t a[4];
	int want;
};

struct ok_case {
	const char *text;
	const char *domain;
	int has_filter;
	int weight;
	struct probe probes[PROBES_MAX];   /* ends at the first all-zero answer */
};

static const struct ok_case ok_cases[] = {
	/* the three examples of issue 14 */
	{ "zen.spamhaus.org*3", "zen.spamhaus.org", 0, 3,
	  { { { 127, 0, 0, 2 }, 1 }, { { 127, 0, 0, 10 }, 1 }, { { 127, 255, 255, 254 }, 0 },
	    { { 10, 0, 0, 2 }, 0 } } },
	{ "bl.example.org=127.0.0.[2;4]*2", "bl.example.org", 1, 2,
	  { { { 127, 0, 0, 2 }, 1 }, { { 127, 0, 0, 4 }, 1 }, { { 127, 0, 0, 3 }, 0 },
	    { { 127, 0, 1, 2 }, 0 }, { { 128, 0, 0, 2 }, 0 } } },
	{ "list.dnswl.org=127.0.[0..255].[1;2;3]*-2", "list.dnswl.org", 1, -2,
	  { { { 127, 0, 0, 1 }, 1 }, { { 127, 0, 255, 3 }, 1 }, { { 127, 0, 15, 2 }, 1 },
	    { { 127, 0, 10, 0 }, 0 }, { { 127, 0, 10, 4 }, 0 }, { { 127, 1, 10, 1 }, 0 } } },
	/* the four shapes */
	{ "bl.example.org", "bl.example.org", 0, 1, { { { 127, 0, 0, 2 }, 1 } } },
	{ "bl.example.org=127.0.0.4", "bl.example.org", 1, 1,
	  { { { 127, 0, 0, 4 }, 1 }, { { 127, 0, 0, 2 }, 0 } } },
	{ "bl.example.org*-5", "bl.example.org", 0, -5, { { { 127, 0, 0, 2 }, 1 } } },
	{ "bl.example.org*+7", "bl.example.org", 0, 7, { { { 127, 0, 0, 2 }, 1 } } },
	{ "bl.example.org*0", "bl.example.org", 0, 0, { { { 127, 0, 0, 2 }, 1 } } },
	{ "bl.example.org*-0", "bl.example.org", 0, 0, { { { 127, 0, 0, 2 }, 1 } } },
	{ "bl.example.org*1000", "bl.example.org", 0, 1000, { { { 127, 0, 0, 2 }, 1 } } },
	{ "bl.example.org*-1000", "bl.example.org", 0, -1000, { { { 127, 0, 0, 2 }, 1 } } },
	{ "bl.example.org*0003", "bl.example.org", 0, 3, { { { 127, 0, 0, 2 }, 1 } } },
	/* ranges and mixed lists */
	{ "a.example=127.0.0.[2;4..11]", "a.example", 1, 1,
	  { { { 127, 0, 0, 2 }, 1 }, { { 127, 0, 0, 3 }, 0 }, { { 127, 0, 0, 4 }, 1 },
	    { { 127, 0, 0, 11 }, 1 }, { { 127, 0, 0, 12 }, 0 } } },
	{ "a.example=127.0.[2..15].[2..3]*-4", "a.example", 1, -4,
	  { { { 127, 0, 2, 2 }, 1 }, { { 127, 0, 15, 3 }, 1 }, { { 127, 0, 1, 2 }, 0 },
	    { { 127, 0, 16, 2 }, 0 }, { { 127, 0, 2, 4 }, 0 } } },
	{ "a.example=[126..127;10].[0].[0..0].[255]", "a.example", 1, 1,
	  { { { 126, 0, 0, 255 }, 1 }, { { 10, 0, 0, 255 }, 1 }, { { 125, 0, 0, 255 }, 0 },
	    { { 127, 0, 0, 254 }, 0 } } },
	{ "a.example=[0..255].[0..255].[0..255].[0..255]", "a.example", 1, 1,
	  { { { 0, 0, 0, 1 }, 1 }, { { 255, 255, 255, 255 }, 1 }, { { 127, 255, 255, 254 }, 1 } } },
	{ "a.example=127.0.0.[5;5;1..9;7]", "a.example", 1, 1,
	  { { { 127, 0, 0, 1 }, 1 }, { { 127, 0, 0, 9 }, 1 }, { { 127, 0, 0, 10 }, 0 } } },
	{ "a.example=127.000.0.002", "a.example", 1, 1,
	  { { { 127, 0, 0, 2 }, 1 }, { { 127, 0, 0, 20 }, 0 } } },
	/* an explicit filter may name the error codes: taken as written */
	{ "a.example=127.255.255.[252..255]", "a.example", 1, 1,
	  { { { 127, 255, 255, 254 }, 1 }, { { 127, 0, 0, 2 }, 0 } } },
	/* domains: case, trailing dot, white space around, digits and hyphens */
	{ "ZEN.SpamHaus.ORG", "zen.spamhaus.org", 0, 1, { { { 127, 0, 0, 2 }, 1 } } },
	{ "zen.spamhaus.org.", "zen.spamhaus.org", 0, 1, { { { 127, 0, 0, 2 }, 1 } } },
	{ "zen.spamhaus.org.*3", "zen.spamhaus.org", 0, 3, { { { 127, 0, 0, 2 }, 1 } } },
	{ "  \tzen.spamhaus.org=127.0.0.2*3 \r\n", "zen.spamhaus.org", 1, 3,
	  { { { 127, 0, 0, 2 }, 1 }, { { 127, 0, 0, 3 }, 0 } } },
	{ "b.barracudacentral.org", "b.barracudacentral.org", 0, 1, { { { 127, 0, 0, 2 }, 1 } } },
	{ "0spam-n.fusionzero.com", "0spam-n.fusionzero.com", 0, 1, { { { 127, 0, 0, 2 }, 1 } } },
	{ "x-1.2.example", "x-1.2.example", 0, 1, { { { 127, 0, 0, 2 }, 1 } } },
	{ "bl", "bl", 0, 1, { { { 127, 0, 0, 2 }, 1 } } },
	{ "key123abc.zen.dq.spamhaus.net*2", "key123abc.zen.dq.spamhaus.net", 0, 2,
	  { { { 127, 0, 0, 2 }, 1 } } },
};

/* Accepted entries: domain, filter flag, weight, and what they match. */
static void test_parse_ok(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(ok_cases); i++) {
		const struct ok_case *c = &ok_cases[i];
		struct dnsbl_site s;
		char err[256] = "untouched";

		print_message("ok %zu: \"%s\"\n", i, c->text);
		assert_int_equal(dnsbl_site_parse(c->text, strlen(c->text), &s, err, sizeof(err)), 0);
		assert_string_equal(err, "");
		assert_string_equal(s.domain, c->domain);
		assert_int_equal(s.has_filter, c->has_filter);
		assert_int_equal(s.weight, c->weight);
		for (size_t k = 0; k < PROBES_MAX; k++) {
			const struct probe *p = &c->probes[k];

			if (p->a[0] == 0 && p->a[1] == 0 && p->a[2] == 0 && p->a[3] == 0)
				break;
			print_message("  %u.%u.%u.%u -> %d\n", p->a[0], p->a[1], p->a[2], p->a[3], p->want);
			assert_int_equal(dnsbl_site_match(&s, p->a), p->want);
		}
	}
}

struct bad_case {
	const char *text;
	const char *why;      /* a word the message must hold */
};

static const struct bad_case bad_cases[] = {
	{ "", "empty" },
	{ "   \t ", "empty" },
	{ "=", "domain" },
	{ "*", "domain" },
	{ "=127.0.0.2", "empty domain" },
	{ "*3", "empty domain" },
	{ ".", "empty domain" },
	{ "bl.example.org=", "empty after" },
	{ "bl.example.org=*2", "empty after" },
	{ "bl.example.org*", "weight" },
	{ "bl.example.org*-", "weight" },
	{ "bl.example.org*+", "weight" },
	{ "bl.example.org*x", "weight" },
	{ "bl.example.org*2x", "after the number" },
	{ "bl.example.org*2.5", "after the number" },
	{ "bl.example.org*--2", "weight" },
	{ "bl.example.org*1001", "outside" },
	{ "bl.example.org*-1001", "outside" },
	{ "bl.example.org*99999999999999999999", "outside" },
	{ "bl.example.org*2*3", "after the number" },
	{ "bl.example.org*3=127.0.0.2", "after the number" },
	{ "bl.example.org* 3", "weight" },
	/* filters */
	{ "bl.example.org=127.0.0.[2;4", "need \";\" or \"]\"" },
	{ "bl.example.org=127.0.0.[2;4*2", "need \";\" or \"]\"" },
	{ "bl.example.org=127.0.0.256", "greater than 255" },
	{ "bl.example.org=127.0.0.[1..256]", "greater than 255" },
	{ "bl.example.org=1270.0.0.2", "greater than 255" },
	{ "bl.example.org=127.0.0.[9..3]", "reversed range" },
	{ "bl.example.org=127.0.0", "four fields" },
	{ "bl.example.org=127.0.0.", "number" },
	{ "bl.example.org=127.0.0.2.", "text after the filter" },
	{ "bl.example.org=127.0.0.2.5", "text after the filter" },
	{ "bl.example.org=127.0.0.2x", "text after the filter" },
	{ "bl.example.org=127.0.0.2=127.0.0.3", "text after the filter" },
	{ "bl.example.org=127.0.0.[]", "number" },
	{ "bl.example.org=127.0.0.[;]", "number" },
	{ "bl.example.org=127.0.0.[2;]", "number" },
	{ "bl.example.org=127.0.0.[2;;3]", "number" },
	{ "bl.example.org=127.0.0.[2,3]", "need \";\" or \"]\"" },
	{ "bl.example.org=127.0.0.[2-3]", "need \";\" or \"]\"" },
	{ "bl.example.org=127.0.0.[2.3]", "\"..\"" },
	{ "bl.example.org=127.0.0.[2...3]", "number" },
	{ "bl.example.org=127.0.0.[2..]", "number" },
	{ "bl.example.org=127.0.0.[..3]", "number" },
	{ "bl.example.org=127.0.0.2[3]", "text after the filter" },
	{ "bl.example.org=127.0.[0.1]", "\"..\"" },
	{ "bl.example.org=127.0.0.]", "number" },
	{ "bl.example.org=127.0.0.[[2]]", "number" },
	{ "bl.example.org=[127.0.0.2]", "\"..\"" },   /* no [] around the whole filter */
	{ "bl.example.org=127.0.0.-1", "number" },
	{ "bl.example.org=127.0.0.+2", "number" },
	{ "bl.example.org=127.0.0.0x2", "text after the filter" },
	{ "bl.example.org=127.0.0.*", "number" },
	{ "bl.example.org=a.b.c.d", "number" },
	{ "bl.example.org= 127.0.0.2", "number" },
	{ "bl.example.org=127.0.0.2 *2", "text after the filter" },
	/* domains */
	{ "bl example.org", "invalid character" },
	{ "bl.example.org *2", "invalid character" },
	{ "bl_x.example.org", "invalid character" },
	{ "bl.exa\xc3\xa9mple.org", "invalid character" },
	{ "bl.example.org/24", "invalid character" },
	{ "bl..example.org", "empty label" },
	{ ".bl.example.org", "empty label" },
	{ "bl.example.org..", "empty label" },
	{ "-bl.example.org", "starts with" },
	{ "bl.-x.org", "starts with" },
	{ "bl-.example.org", "ends with" },
	{ "bl.example.org-", "ends with" },
	{ "bl.example-.org.", "ends with" },
	{ "127.0.0.2", "numeric domain" },
	{ "127.0.0.2=127.0.0.2", "numeric domain" },
	{ "bl.example.org\"", "invalid character" },
};

/* Refused entries: -1, a message with the expected words, *out zeroed. */
static void test_parse_bad(void **state)
{
	static const struct dnsbl_site zero;

	(void)state;
	for (size_t i = 0; i < N(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct dnsbl_site s;
		char err[256] = "";

		memset(&s, 0x5a, sizeof(s));
		assert_int_equal(dnsbl_site_parse(c->text, strlen(c->text), &s, err, sizeof(err)), -1);
		print_message("bad %zu: \"%s\" -> %s\n", i, c->text, err);
		assert_non_null(strstr(err, c->why));
		assert_memory_equal(&s, &zero, sizeof(s));
		/* no err buffer is fine too */
		assert_int_equal(dnsbl_site_parse(c->text, strlen(c->text), &s, NULL, 0), -1);
	}
}

/* Lengths and limits: the given length is honoured, names and lists are bounded. */
static void test_parse_limits(void **state)
{
	char buf[DNSBL_SITE_TEXT_MAX + 64], err[256];
	struct dnsbl_site s;
	size_t o;

	(void)state;
	/* not NUL-terminated: only len octets are read */
	assert_int_equal(dnsbl_site_parse("bl.example.org*3garbage", 14, &s, err, sizeof(err)), 0);
	assert_string_equal(s.domain, "bl.example.org");
	assert_int_equal(s.weight, 1);
	assert_int_equal(dnsbl_site_parse("bl.example.org*3garbage", 16, &s, err, sizeof(err)), 0);
	assert_int_equal(s.weight, 3);
	assert_int_equal(dnsbl_site_parse("bl.example.org*3garbage", 17, &s, err, sizeof(err)), -1);
	assert_int_equal(dnsbl_site_parse("bl.example.org\0x", 16, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "\\x00"));
	assert_int_equal(dnsbl_site_parse(NULL, 0, &s, err, sizeof(err)), -1);
	assert_int_equal(dnsbl_site_parse("a.example", 9, NULL, err, sizeof(err)), -1);
	/* a tiny err buffer is cut, never overrun */
	err[3] = 'Z';
	assert_int_equal(dnsbl_site_parse("*", 1, &s, err, 3), -1);
	assert_int_equal(strlen(err), 2);
	assert_int_equal(err[3], 'Z');

	/* labels: 63 octets pass, 64 do not */
	memset(buf, 'a', 63);
	strcpy(buf + 63, ".example");
	assert_int_equal(dnsbl_site_parse(buf, strlen(buf), &s, err, sizeof(err)), 0);
	memset(buf, 'a', 64);
	strcpy(buf + 64, ".example");
	assert_int_equal(dnsbl_site_parse(buf, strlen(buf), &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 63"));

	/* domain: 253 octets pass (also with the trailing dot), 254 do not */
	for (o = 0; o < 253; o += 2)
		memcpy(buf + o, "a.", 2);
	buf[252] = 'b';
	buf[253] = '\0';
	assert_int_equal(dnsbl_site_parse(buf, 253, &s, err, sizeof(err)), 0);
	assert_int_equal(strlen(s.domain), 253);
	buf[253] = '.';
	assert_int_equal(dnsbl_site_parse(buf, 254, &s, err, sizeof(err)), 0);
	assert_int_equal(strlen(s.domain), 253);
	buf[253] = 'c';
	assert_int_equal(dnsbl_site_parse(buf, 254, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 253"));

	/* DNSBL_FILTER_MAX items in one list pass, one more does not */
	o = (size_t)snprintf(buf, sizeof(buf), "a.example=127.0.0.[");
	for (int k = 0; k < DNSBL_FILTER_MAX; k++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%d;", k);
	buf[o - 1] = ']';
	assert_int_equal(dnsbl_site_parse(buf, o, &s, err, sizeof(err)), 0);
	assert_int_equal(dnsbl_site_match(&s, (const uint8_t[4]){ 127, 0, 0, 63 }), 1);
	assert_int_equal(dnsbl_site_match(&s, (const uint8_t[4]){ 127, 0, 0, 64 }), 0);
	o += (size_t)snprintf(buf + o - 1, sizeof(buf) - o + 1, ";99]") - 1;
	assert_int_equal(dnsbl_site_parse(buf, o, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 64"));

	/* the whole entry: DNSBL_SITE_TEXT_MAX octets (white space aside) */
	memset(buf, ' ', sizeof(buf));
	for (o = 0; o < 253; o += 2)
		memcpy(buf + o, "a.", 2);
	buf[252] = 'b';
	o = 253;
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "=127.0.0.[");
	for (int k = 0; k < 60; k++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "255;");
	buf[o - 1] = ']';
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "*00000111");
	buf[o] = ' ';
	assert_int_equal(o, DNSBL_SITE_TEXT_MAX);
	assert_int_equal(dnsbl_site_parse(buf, o, &s, err, sizeof(err)), 0);
	assert_int_equal(s.weight, 111);
	assert_int_equal(dnsbl_site_parse(buf, o + 20, &s, err, sizeof(err)), 0);
	buf[o++] = '1';
	assert_int_equal(dnsbl_site_parse(buf, o, &s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 512"));
}

struct match_case {
	const char *what;
	uint8_t a[4];
	int listed;      /* dnsbl_site_match() without a filter */
	int error;       /* dnsbl_answer_is_error() */
};

static const struct match_case match_cases[] = {
	{ "127.0.0.2 (listed)", { 127, 0, 0, 2 }, 1, 0 },
	{ "127.0.0.0", { 127, 0, 0, 0 }, 1, 0 },
	{ "127.0.0.1", { 127, 0, 0, 1 }, 1, 0 },
	{ "127.1.2.3", { 127, 1, 2, 3 }, 1, 0 },
	{ "127.255.254.255", { 127, 255, 254, 255 }, 1, 0 },
	{ "127.254.255.1", { 127, 254, 255, 1 }, 1, 0 },
	{ "127.255.255.0", { 127, 255, 255, 0 }, 0, 1 },
	{ "127.255.255.252 (typo'd query)", { 127, 255, 255, 252 }, 0, 1 },
	{ "127.255.255.254 (public resolver)", { 127, 255, 255, 254 }, 0, 1 },
	{ "127.255.255.255 (excessive queries)", { 127, 255, 255, 255 }, 0, 1 },
	{ "126.255.255.254", { 126, 255, 255, 254 }, 0, 0 },
	{ "128.0.0.2", { 128, 0, 0, 2 }, 0, 0 },
	{ "10.0.0.2", { 10, 0, 0, 2 }, 0, 0 },
	{ "0.0.0.0", { 0, 0, 0, 0 }, 0, 0 },
	{ "255.255.255.255", { 255, 255, 255, 255 }, 0, 0 },
};

/* No filter: all of 127/8 but the 127.255.255.0/24 error codes; the error test. */
static void test_match(void **state)
{
	struct dnsbl_site s;
	char err[256];

	(void)state;
	assert_int_equal(dnsbl_site_parse("zen.spamhaus.org", 16, &s, err, sizeof(err)), 0);
	for (size_t i = 0; i < N(match_cases); i++) {
		const struct match_case *c = &match_cases[i];

		print_message("match %s\n", c->what);
		assert_int_equal(dnsbl_site_match(&s, c->a), c->listed);
		assert_int_equal(dnsbl_answer_is_error(c->a), c->error);
	}
	assert_int_equal(dnsbl_site_match(NULL, match_cases[0].a), 0);
	assert_int_equal(dnsbl_site_match(&s, NULL), 0);
	assert_int_equal(dnsbl_answer_is_error(NULL), 0);
}

struct qname_case {
	const char *what;
	int family;           /* AF_INET, AF_INET6, or another (refused) */
	const char *addr;
	const char *zone;
	size_t len;           /* out buffer size given */
	int want;
	const char *name;
};

#define NIB_2001_DB8_1 \
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."

static const struct qname_case qname_cases[] = {
	{ "IPv4", AF_INET, "192.0.2.99", "zen.spamhaus.org", 256, 0,
	  "99.2.0.192.zen.spamhaus.org" },
	{ "IPv4 test point", AF_INET, "127.0.0.2", "bl.example.org", 256, 0,
	  "2.0.0.127.bl.example.org" },
	{ "IPv4 0 and 255", AF_INET, "0.255.10.1", "x.example", 256, 0, "1.10.255.0.x.example" },
	{ "IPv4 upper-case zone, trailing dot", AF_INET, "192.0.2.1", "ZEN.Spamhaus.org.", 256, 0,
	  "1.2.0.192.zen.spamhaus.org" },
	{ "IPv6 2001:db8::1", AF_INET6, "2001:db8::1", "zen.spamhaus.org", 256, 0,
	  NIB_2001_DB8_1 "zen.spamhaus.org" },
	{ "IPv6 hex letters lower-case", AF_INET6, "2001:DB8:ABCD:EF01::FE", "bl.example", 256, 0,
	  "e.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.f.e.d.c.b.a.8.b.d.0.1.0.0.2.bl.example" },
	{ "IPv6 ::", AF_INET6, "::", "bl.example", 256, 0,
	  "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.example" },
	{ "IPv4-mapped IPv6", AF_INET6, "::ffff:192.0.2.5", "zen.spamhaus.org", 256, 0,
	  "5.2.0.192.zen.spamhaus.org" },
	{ "IPv4-compatible is not mapped", AF_INET6, "::192.0.2.5", "b.example", 256, 0,
	  "5.0.2.0.0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.example" },
	{ "exact fit", AF_INET, "192.0.2.99", "zen.spamhaus.org", 28, 0,
	  "99.2.0.192.zen.spamhaus.org" },
	{ "one short", AF_INET, "192.0.2.99", "zen.spamhaus.org", 27, -1, "" },
	{ "IPv6 one short", AF_INET6, "2001:db8::1", "zen.spamhaus.org", 80, -1, "" },
	{ "no room", AF_INET, "192.0.2.99", "zen.spamhaus.org", 0, -1, NULL },
	{ "unknown family", AF_UNIX, "", "zen.spamhaus.org", 256, -1, "" },
	{ "empty zone", AF_INET, "192.0.2.99", "", 256, -1, "" },
	{ "bad zone", AF_INET, "192.0.2.99", "zen spamhaus.org", 256, -1, "" },
	{ "numeric zone", AF_INET, "192.0.2.99", "127.0.0.1", 256, -1, "" },
};

/* Fill sa from a case: an address of the case's family. */
static void qname_sockaddr(const struct qname_case *c, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)c->family;
	if (c->family == AF_INET)
		assert_int_equal(inet_pton(AF_INET, c->addr,
					   &((struct sockaddr_in *)ss)->sin_addr), 1);
	else if (c->family == AF_INET6)
		assert_int_equal(inet_pton(AF_INET6, c->addr,
					   &((struct sockaddr_in6 *)ss)->sin6_addr), 1);
}

/* dnsbl_query_name(): reversed octets or nibbles, the zone, the limits. */
static void test_query_name(void **state)
{
	struct sockaddr_storage ss;
	char out[300], zone[300];

	(void)state;
	for (size_t i = 0; i < N(qname_cases); i++) {
		const struct qname_case *c = &qname_cases[i];

		print_message("qname %s\n", c->what);
		qname_sockaddr(c, &ss);
		memset(out, 'Q', sizeof(out));
		assert_int_equal(dnsbl_query_name((struct sockaddr *)&ss, c->zone, out, c->len),
				 c->want);
		if (c->name != NULL)
			assert_string_equal(out, c->name);
		else
			assert_int_equal(out[0], 'Q');
		if (c->len < sizeof(out))
			assert_int_equal(out[c->len], 'Q');     /* nothing written past len */
	}
	/* zone length: an IPv4 name may reach 253 octets, not 254; IPv6 likewise */
	qname_sockaddr(&qname_cases[0], &ss);   /* "99.2.0.192." = 11 octets */
	for (size_t o = 0; o < 242; o += 2)
		memcpy(zone + o, "z.", 2);
	zone[241] = 'y';
	zone[242] = '\0';
	assert_int_equal(dnsbl_query_name((struct sockaddr *)&ss, zone, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 253);
	strcpy(zone + 241, "yy");
	assert_int_equal(dnsbl_query_name((struct sockaddr *)&ss, zone, out, sizeof(out)), -1);
	assert_string_equal(out, "");
	qname_sockaddr(&qname_cases[4], &ss);   /* 64 octets of nibbles */
	zone[189] = '\0';
	zone[188] = 'y';
	assert_int_equal(dnsbl_query_name((struct sockaddr *)&ss, zone, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 253);
	strcpy(zone + 188, "yy");
	assert_int_equal(dnsbl_query_name((struct sockaddr *)&ss, zone, out, sizeof(out)), -1);
	/* a zone longer than any domain */
	memset(zone, 'a', sizeof(zone) - 1);
	zone[sizeof(zone) - 1] = '\0';
	assert_int_equal(dnsbl_query_name((struct sockaddr *)&ss, zone, out, sizeof(out)), -1);
	assert_int_equal(dnsbl_query_name(NULL, "a.example", out, sizeof(out)), -1);
	assert_int_equal(dnsbl_query_name((struct sockaddr *)&ss, NULL, out, sizeof(out)), -1);
	assert_int_equal(dnsbl_query_name((struct sockaddr *)&ss, "a.example", NULL, 10), -1);
}

/* The parsed domain feeds dnsbl_query_name() unchanged. */
static void test_parse_then_name(void **state)
{
	struct sockaddr_in sin;
	struct dnsbl_site s;
	char err[256], out[DNSBL_QUERY_NAME_MAX + 1];

	(void)state;
	assert_int_equal(dnsbl_site_parse(" Zen.Spamhaus.Org.*3", 20, &s, err, sizeof(err)), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000002);
	assert_int_equal(dnsbl_query_name((struct sockaddr *)&sin, s.domain, out, sizeof(out)), 0);
	assert_string_equal(out, "2.0.0.127.zen.spamhaus.org");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_query_name),
		cmocka_unit_test(test_parse_then_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
