/*
 * test_check_output.c - the checker's renderers: JSON escaping, the JSON
 * document, the Nagios line and the human report.
 *
 * JSON escaping is a table of inputs (quotes, controls, valid and invalid
 * UTF-8: truncated, overlong, surrogates, out of range) with their exact
 * literal.  The document, Nagios line and report are rendered from
 * hand-built results and checked for the fields, format and colour rules.
 * (The integration tests validate real documents against the JSON Schema.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_check_fixture.h"

struct esc_case {
	const char *in, *want;
};

static const struct esc_case escapes[] = {
	{ "", "\"\"" },
	{ "plain text", "\"plain text\"" },
	{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
	{ "l1\nl2\r\t", "\"l1\\nl2\\r\\t\"" },
	{ "\x01\x1b[0m\x7f", "\"\\u0001\\u001b[0m\\u007f\"" },
	{ "caf\xc3\xa9", "\"caf\xc3\xa9\"" },                      /* valid 2-byte */
	{ "\xe2\x82\xac", "\"\xe2\x82\xac\"" },                    /* valid 3-byte */
	{ "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"" },            /* valid 4-byte */
	{ "\xc3", "\"\\ufffd\"" },                                 /* truncated */
	{ "\xc3x", "\"\\ufffdx\"" },                               /* bad continuation */
	{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },                      /* overlong */
	{ "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"" },           /* overlong 3-byte */
	{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },           /* surrogate */
	{ "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" }, /* > U+10FFFF */
	{ "\xff", "\"\\ufffd\"" },
	{ "</script>", "\"</script>\"" },
};

/* check_json_str() escapes exactly as the table says. */
static void test_json_escape(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		struct bmx_buf b;
		bmx_buf_init(&b);
		check_json_str(&b, escapes[i].in);
		assert_non_null(b.p);
		if (strcmp(b.p, escapes[i].want) != 0) {
			print_error("case %zu: got %s want %s\n", i, b.p, escapes[i].want);
			fail();
		}
		bmx_buf_free(&b);
	}
}

/* The buffer grows past its first allocation and formats long strings. */
static void test_buf(void **state)
{
	struct bmx_buf b;
	char big[5000];
	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bmx_buf_init(&b);
	for (int i = 0; i < 1000; i++)
		bmx_buf_fmt(&b, "%d,", i);
	bmx_buf_fmt(&b, "%s", big);
	assert_false(b.err);
	assert_int_equal(strlen(b.p), b.len);
	assert_int_equal(b.p[b.len - 1], 'x');
	assert_non_null(strstr(b.p, "999,x"));
	bmx_buf_free(&b);
	assert_null(b.p);
}

/* Count occurrences of a needle. */
static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Brackets and braces balance outside strings; no raw control characters. */
static void assert_json_shape(const char *s)
{
	int depth = 0, in_str = 0;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (in_str) {
			assert_true(c >= 0x20);
			if (c == '\\')
				p++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			depth--;
		assert_true(depth >= 0);
	}
	assert_int_equal(depth, 0);
	assert_false(in_str);
}

/* The JSON document carries the schema version, verdict, MX facts and findings. */
static void test_json_doc(void **state)
{
	struct check_opts o;
	struct bmx_buf b;
	(void)state;
	memset(&o, 0, sizeof(o));
	struct check_result *r = fx_pair();
	struct check_smtp *s = &r->mx[1].addr[0].smtp;
	memset(&s->tls, 0, sizeof(s->tls));
	snprintf(s->banner, sizeof(s->banner), "evil \"banner\" \\ here");
	check_analyze(r, &o);
	bmx_buf_init(&b);
	check_report_json(&b, r);
	assert_non_null(b.p);
	assert_json_shape(b.p);
	assert_int_equal(b.p[b.len - 1], '\n');
	assert_non_null(strstr(b.p, "{\"schema_version\":1,"));
	assert_non_null(strstr(b.p, "\"status\":\"WARNING\",\"exit_code\":1,"));
	assert_non_null(strstr(b.p, "\"checked_at\":\"2023-11-14T22:13:20Z\""));
	assert_non_null(strstr(b.p, "\"host\":\"mx1.example.test\",\"role\":\"primary\""));
	assert_non_null(strstr(b.p, "\"host\":\"mx2.example.test\",\"role\":\"backup\""));
	assert_non_null(strstr(b.p, "\"code\":\"parity_starttls\",\"severity\":\"warning\","
				    "\"mx\":\"mx2.example.test\",\"address\":null"));
	assert_non_null(strstr(b.p, "\"text\":\"evil \\\"banner\\\" \\\\ here\""));
	assert_non_null(strstr(b.p, "\"size_limit\":10240000"));
	assert_non_null(strstr(b.p, "\"rcpt_foreign\":{\"address\":\"relaytest@example.net\","
				    "\"code\":554,"));
	assert_int_equal(count(b.p, "\"addresses\":["), 2);
	bmx_buf_free(&b);
	check_result_free(r);
}

/* Without SMTP probes the smtp objects are null; DNS failures have no mx. */
static void test_json_nulls(void **state)
{
	struct check_opts o;
	struct bmx_buf b;
	(void)state;
	memset(&o, 0, sizeof(o));
	struct check_result *r = fx_new();
	r->smtp = 0;
	fx_addr(r, fx_mx(r, 10, "mx1.example.test"), "192.0.32.10");
	check_analyze(r, &o);
	bmx_buf_init(&b);
	check_report_json(&b, r);
	assert_json_shape(b.p);
	assert_non_null(strstr(b.p, "\"smtp\":null"));
	assert_non_null(strstr(b.p, "\"accepts_mail\":null"));
	assert_non_null(strstr(b.p, "\"smtp\":false"));
	bmx_buf_free(&b);
	check_result_free(r);

	r = fx_new();
	r->dns_status = DNS_TEMPFAIL;
	snprintf(r->dns_why, sizeof(r->dns_why), "SERVFAIL");
	check_analyze(r, &o);
	bmx_buf_init(&b);
	check_report_json(&b, r);
	assert_json_shape(b.p);
	assert_non_null(strstr(b.p, "\"mx\":[]"));
	assert_non_null(strstr(b.p, "\"dns\":{\"status\":\"tempfail\",\"reason\":\"SERVFAIL\""));
	assert_non_null(strstr(b.p, "\"status\":\"UNKNOWN\",\"exit_code\":3"));
	bmx_buf_free(&b);
	check_result_free(r);
}

/* The Nagios line: "STATUS: summary | mx_count=N host_connect=S.s", one line. */
static void test_nagios(void **state)
{
	struct check_opts o;
	struct bmx_buf b;
	(void)state;
	memset(&o, 0, sizeof(o));
	struct check_result *r = fx_pair();
	check_analyze(r, &o);
	bmx_buf_init(&b);
	check_report_nagios(&b, r);
	assert_string_equal(b.p, "OK: example.test: 2 MX, 2 accept mail, no problem found | "
			    "mx_count=2 mx1_example_test_connect=0.012000s "
			    "mx2_example_test_connect=0.012000s\n");
	bmx_buf_free(&b);

	/* a '|' in a finding never reaches the perfdata separator; down MX is U */
	r->mx[1].addr[0].smtp.status = CHECK_SMTP_TIMEOUT;
	r->mx[1].addr[0].smtp.connect_ms = -1;
	snprintf(r->mx[1].addr[0].smtp.error, sizeof(r->mx[1].addr[0].smtp.error),
		 "a|b\nc");
	check_analyze(r, &o);
	bmx_buf_init(&b);
	check_report_nagios(&b, r);
	assert_int_equal(strncmp(b.p, "WARNING: example.test: ", 23), 0);
	assert_int_equal(count(b.p, "|"), 1);
	assert_int_equal(count(b.p, "\n"), 1);
	assert_non_null(strstr(b.p, " | mx_count=2 mx1_example_test_connect=0.012000s "
				    "mx2_example_test_connect=U\n"));
	bmx_buf_free(&b);
	check_result_free(r);

	r = fx_new();
	r->dns_status = DNS_NXDOMAIN;
	check_analyze(r, &o);
	bmx_buf_init(&b);
	check_report_nagios(&b, r);
	assert_int_equal(strncmp(b.p, "CRITICAL: example.test: ", 24), 0);
	assert_non_null(strstr(b.p, "| mx_count=0\n"));
	bmx_buf_free(&b);
	check_result_free(r);
}

/* The human report: per MX in order, verdict line, colour only when asked. */
static void test_text(void **state)
{
	struct check_opts o;
	struct bmx_buf b;
	(void)state;
	memset(&o, 0, sizeof(o));
	struct check_result *r = fx_pair();
	r->mx[1].addr[0].smtp.rcpt_relay.code = 250;
	check_analyze(r, &o);
	bmx_buf_init(&b);
	check_report_text(&b, r, 0);
	assert_null(strchr(b.p, '\033'));
	const char *m1 = strstr(b.p, "mx1.example.test  primary");
	const char *m2 = strstr(b.p, "mx2.example.test  backup");
	assert_non_null(m1);
	assert_non_null(m2);
	assert_true(m1 < m2);
	assert_non_null(strstr(b.p, "CRITICAL open_relay:"));
	assert_non_null(strstr(b.p, "\nVerdict: CRITICAL - example.test: "));
	assert_non_null(strstr(b.p, "about 300 s"));
	bmx_buf_free(&b);
	bmx_buf_init(&b);
	check_report_text(&b, r, 1);
	assert_non_null(strstr(b.p, "\033[1;31mCRITICAL"));
	assert_non_null(strstr(b.p, "\033[0m"));
	bmx_buf_free(&b);
	check_result_free(r);
}

/* The summary names at most three findings, worst first. */
static void test_summary(void **state)
{
	struct bmx_buf b;
	(void)state;
	struct check_result *r = fx_new();
	check_add(r, "w1", CHECK_SEV_WARNING, -1, -1, "warn one");
	check_add(r, "i1", CHECK_SEV_INFO, -1, -1, "info one");
	check_add(r, "c1", CHECK_SEV_CRITICAL, -1, -1, "crit one");
	check_add(r, "w2", CHECK_SEV_WARNING, -1, -1, "warn two");
	check_add(r, "w3", CHECK_SEV_WARNING, -1, -1, "warn three");
	bmx_buf_init(&b);
	check_summary(&b, r);
	assert_string_equal(b.p, "example.test: crit one; warn one; warn two (+1 more)");
	bmx_buf_free(&b);
	check_result_free(r);
}

/* Within one severity, mail not flowing comes before hygiene: a primary
 * that is down is named before a shared subnet found earlier. */
static void test_summary_urgent_first(void **state)
{
	struct bmx_buf b;
	(void)state;
	struct check_result *r = fx_new();
	check_add(r, "shared_subnet", CHECK_SEV_WARNING, -1, -1, "all MX in one /24");
	check_add(r, "mx_ttl_long", CHECK_SEV_WARNING, -1, -1, "MX TTL long");
	check_add(r, "primary_down", CHECK_SEV_WARNING, -1, -1, "primary down");
	check_add(r, "open_relay", CHECK_SEV_CRITICAL, -1, -1, "open relay");
	bmx_buf_init(&b);
	check_summary(&b, r);
	assert_string_equal(b.p, "example.test: open relay; primary down; all MX in one /24 "
				 "(+1 more)");
	bmx_buf_free(&b);
	bmx_buf_init(&b);
	check_report_nagios(&b, r);
	assert_non_null(strstr(b.p, "CRITICAL: example.test: open relay; primary down;"));
	bmx_buf_free(&b);
	check_result_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_escape), cmocka_unit_test(test_buf),
		cmocka_unit_test(test_json_doc),    cmocka_unit_test(test_json_nulls),
		cmocka_unit_test(test_nagios),      cmocka_unit_test(test_text),
		cmocka_unit_test(test_summary),    cmocka_unit_test(test_summary_urgent_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
