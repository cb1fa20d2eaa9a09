/*
 * test_hdrfilter.c - table tests of src/filter/hdrfilter.c: which headers
 * are removed (Authentication-Results with our authserv-id, folded or not,
 * any case), which pass (other ids, other headers, anything in the body),
 * and that the result does not depend on how the input is cut into pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "filter/hdrfilter.h"

#define OURS "mx2.example.test"

struct out {
	char buf[65536];
	size_t len;
};

/* Collect what the filter keeps. */
static int collect(void *arg, const void *p, size_t n)
{
	struct out *o = arg;
	assert_true(o->len + n <= sizeof(o->buf));
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	return 0;
}

/* Run the filter over in, cut into pieces of step octets; returns the output. */
static const char *run(const char *in, size_t step, unsigned *dropped)
{
	static struct hdrf h;
	static struct out o;
	size_t n = strlen(in);
	hdrf_init(&h, OURS);
	o.len = 0;
	for (size_t i = 0; i < n; i += step)
		assert_int_equal(hdrf_feed(&h, (const uint8_t *)in + i, n - i < step ? n - i : step,
					   collect, &o), 0);
	assert_int_equal(hdrf_finish(&h, collect, &o), 0);
	o.buf[o.len] = '\0';
	if (dropped)
		*dropped = h.dropped;
	return o.buf;
}

struct hf_case {
	const char *in, *want;
	unsigned dropped;
};

static const struct hf_case cases[] = {
	/* ours: removed */
	{ "Subject: a\r\nAuthentication-Results: " OURS "; spf=pass smtp.mailfrom=a@b.c\r\n"
	  "\r\nbody\r\n",
	  "Subject: a\r\n\r\nbody\r\n", 1 },
	/* any case, folded, spaces before the colon */
	{ "AUTHENTICATION-RESULTS : MX2.Example.Test;\r\n\tdkim=pass header.d=b.c\r\nX: y\r\n"
	  "\r\nb\r\n",
	  "X: y\r\n\r\nb\r\n", 1 },
	/* another authserv-id: kept */
	{ "Authentication-Results: mx.other.test; spf=pass smtp.mailfrom=a@b.c\r\n\r\nb\r\n",
	  "Authentication-Results: mx.other.test; spf=pass smtp.mailfrom=a@b.c\r\n\r\nb\r\n", 0 },
	/* two of ours among others */
	{ "A: 1\r\nAuthentication-Results: " OURS "; none\r\nB: 2\r\n"
	  "Authentication-Results: " OURS " 1; spf=fail smtp.mailfrom=x@y.z\r\nC: 3\r\n\r\n",
	  "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", 2 },
	/* a look-alike header name: kept */
	{ "Authentication-Results-X: " OURS "; none\r\n\r\n",
	  "Authentication-Results-X: " OURS "; none\r\n\r\n", 0 },
	/* in the body: never touched */
	{ "S: x\r\n\r\nAuthentication-Results: " OURS "; spf=pass\r\n",
	  "S: x\r\n\r\nAuthentication-Results: " OURS "; spf=pass\r\n", 0 },
	/* a message with no empty line (headers only) */
	{ "S: x\r\nAuthentication-Results: " OURS "; none\r\n", "S: x\r\n", 1 },
	/* no headers at all */
	{ "\r\nbody only\r\n", "\r\nbody only\r\n", 0 },
	/* our id in a comment-only position still counts as ours (fail closed) */
	{ "Authentication-Results: (forged) " OURS "; spf=pass\r\n\r\n", "\r\n", 1 },
};

/* Every case, whatever the piece size. */
static void test_cases(void **state)
{
	(void)state;
	static const size_t steps[] = { 1, 2, 3, 7, 64, 100000 };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
			unsigned d = 0;
			print_message("case %zu step %zu\n", i, steps[k]);
			assert_string_equal(run(cases[i].in, steps[k], &d), cases[i].want);
			assert_int_equal(d, cases[i].dropped);
		}
	}
}

/* A field longer than HDRF_FIELD_MAX: passed on whole, or dropped whole if
 * it is an Authentication-Results field. */
static void test_long_fields(void **state)
{
	(void)state;
	static char in[3 * HDRF_FIELD_MAX], want[3 * HDRF_FIELD_MAX];
	size_t o = (size_t)snprintf(in, sizeof(in), "X-Long: ");
	for (int i = 0; i < 600; i++)
		o += (size_t)snprintf(in + o, sizeof(in) - o, "\r\n\tfolded line %04d of a long header",
				      i);
	o += (size_t)snprintf(in + o, sizeof(in) - o, "\r\nS: y\r\n\r\nb\r\n");
	assert_true(o > HDRF_FIELD_MAX);
	unsigned d = 1;
	assert_string_equal(run(in, 5, &d), in);
	assert_int_equal(d, 0);

	o = (size_t)snprintf(in, sizeof(in), "Authentication-Results: " OURS ";");
	for (int i = 0; i < 600; i++)
		o += (size_t)snprintf(in + o, sizeof(in) - o, "\r\n\tspf=pass (comment %04d padding)",
				      i);
	snprintf(in + o, sizeof(in) - o, "\r\nS: y\r\n\r\nb\r\n");
	snprintf(want, sizeof(want), "S: y\r\n\r\nb\r\n");
	assert_string_equal(run(in, 4096, &d), want);
	assert_int_equal(d, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_long_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
