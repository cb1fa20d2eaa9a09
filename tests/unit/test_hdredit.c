/*
 * test_hdredit.c - table tests of src/filter/hdredit.c: each kind of
 * milter header change against a small header section whose first field
 * (our Received:) the milter never saw.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "filter/hdredit.h"

#define HDR "Received: from x\r\n\tby us\r\nSubject: s\r\nX-Spam: old\r\n" \
	"Authentication-Results: a; none\r\nX-Spam: old2\r\n\r\n"

struct he_case {
	const char *what;
	struct milter_change c[3];
	size_t n;
	const char *want;
};

static const struct he_case cases[] = {
	{ "nothing", {{0}}, 0, HDR },
	{ "h appends", {{'h', 0, "X-New", "v"}}, 1,
	  "Received: from x\r\n\tby us\r\nSubject: s\r\nX-Spam: old\r\n"
	  "Authentication-Results: a; none\r\nX-Spam: old2\r\nX-New: v\r\n\r\n" },
	{ "i 0 goes to the very top", {{'i', 0, "X-Top", "t"}}, 1,
	  "X-Top: t\r\nReceived: from x\r\n\tby us\r\nSubject: s\r\nX-Spam: old\r\n"
	  "Authentication-Results: a; none\r\nX-Spam: old2\r\n\r\n" },
	{ "i 1 goes after our Received", {{'i', 1, "Authentication-Results",
					    "mx2.example.test;\r\n\tspf=pass smtp.mailfrom=a@b.c"}}, 1,
	  "Received: from x\r\n\tby us\r\nAuthentication-Results: mx2.example.test;\r\n"
	  "\tspf=pass smtp.mailfrom=a@b.c\r\nSubject: s\r\nX-Spam: old\r\n"
	  "Authentication-Results: a; none\r\nX-Spam: old2\r\n\r\n" },
	{ "m 2 changes the second of a name", {{'m', 2, "x-spam", "Yes"}}, 1,
	  "Received: from x\r\n\tby us\r\nSubject: s\r\nX-Spam: old\r\n"
	  "Authentication-Results: a; none\r\nx-spam: Yes\r\n\r\n" },
	{ "m with an empty value deletes", {{'m', 1, "Authentication-Results", ""}}, 1,
	  "Received: from x\r\n\tby us\r\nSubject: s\r\nX-Spam: old\r\nX-Spam: old2\r\n\r\n" },
	{ "m does not count our Received", {{'m', 1, "Received", ""}}, 1, HDR },
	{ "m of a missing header adds it", {{'m', 1, "X-None", "n"}}, 1,
	  "Received: from x\r\n\tby us\r\nSubject: s\r\nX-Spam: old\r\n"
	  "Authentication-Results: a; none\r\nX-Spam: old2\r\nX-None: n\r\n\r\n" },
	{ "rspamd: delete then insert", {{'m', 1, "Authentication-Results", ""},
					  {'i', 1, "Authentication-Results", "us; spf=pass"}}, 2,
	  "Received: from x\r\n\tby us\r\nAuthentication-Results: us; spf=pass\r\n"
	  "Subject: s\r\nX-Spam: old\r\nX-Spam: old2\r\n\r\n" },
	{ "i past the end appends", {{'i', 99, "X-End", "e"}}, 1,
	  "Received: from x\r\n\tby us\r\nSubject: s\r\nX-Spam: old\r\n"
	  "Authentication-Results: a; none\r\nX-Spam: old2\r\nX-End: e\r\n\r\n" },
};

/* Every case. */
static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bmx_buf out = BMX_BUF_INIT;
		print_message("%s\n", cases[i].what);
		assert_int_equal(hdredit_apply(HDR, strlen(HDR), 1, cases[i].c, cases[i].n, &out), 0);
		assert_string_equal(out.p, cases[i].want);
		bmx_buf_free(&out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
