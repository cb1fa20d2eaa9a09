/*
 * test_rcptmap.c - table tests of src/common/rcptmap.c, the recipients table.
 *
 * One table of lookups over one parsed table (domain wildcards, the
 * case rules), one table of bad tables with their "name:line: message",
 * and a file of 1,000,000 recipients read through rcptmap_load (lines
 * crossing its read chunks), every tenth looked up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/rcptmap.h"

static const char table[] =
	"# recipients\n"
	"alice@example.com\n"
	"  Bob@Example.COM   # mixed case entry\n"
	"\n"
	"@wild.test\n"
	"carol@sub.example.com.\r\n"
	"last@example.com";

struct match_case {
	const char *local, *domain;
	int want;
};

static const struct match_case match_cases[] = {
	{"alice", "example.com", 1},
	{"ALICE", "example.com", 1},      /* an all-lower-case entry matches any case */
	{"Bob", "example.com", 1},
	{"bob", "example.com", 0},        /* a mixed-case entry only matches itself */
	{"anyone", "wild.test", 1},
	{"carol", "sub.example.com", 1},
	{"last", "example.com", 1},
	{"mallory", "example.com", 0},
	{"alice", "example.org", 0},
	{"alice", "sub.example.com", 0},
	{"", "", 0},
};

/* Lookups over one parsed table. */
static void test_match(void **state)
{
	char err[256];
	struct rcptmap *m = rcptmap_parse("t", table, sizeof(table) - 1, err, sizeof(err));
	(void)state;
	assert_non_null(m);
	assert_int_equal(rcptmap_count(m), 5);
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		print_message("%s@%s\n", c->local, c->domain);
		assert_int_equal(rcptmap_match(m, c->local, c->domain), c->want);
	}
	rcptmap_free(m);
	assert_int_equal(rcptmap_match(NULL, "a", "b"), 0);
	rcptmap_free(NULL);
}

struct bad_case {
	const char *text;
	const char *err;
};

static const struct bad_case bad_cases[] = {
	{"a@b\nnoat\n", "t:2: entry needs an '@' (user@domain or @domain)"},
	{"a@\n", "t:1: empty domain"},
	{"a b@c\n", "t:1: control character or space in entry"},
	{"x@y\n\na\x01@b\n", "t:3: control character or space in entry"},
};

/* Bad tables: "name:line: message". */
static void test_bad(void **state)
{
	char err[256];
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		print_message("bad %zu\n", i);
		struct rcptmap *m = rcptmap_parse("t", bad_cases[i].text, strlen(bad_cases[i].text),
						  err, sizeof(err));
		assert_null(m);
		assert_string_equal(err, bad_cases[i].err);
	}
}

/* 1,000,000 recipients from a file, and a bad line at the end of it. */
static void test_load_large(void **state)
{
	char path[] = "/tmp/test_rcptmap.XXXXXX", err[256], l[64], d[64];
	int fd = mkstemp(path);
	(void)state;
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	for (int i = 0; i < 1000000; i++)
		fprintf(f, "user%d@d%d.example\n", i, i % 100000);
	fclose(f);
	struct rcptmap *m = rcptmap_load(path, err, sizeof(err));
	assert_non_null(m);
	assert_int_equal(rcptmap_count(m), 1000000);
	for (int i = 0; i < 1000000; i += 10) {
		snprintf(l, sizeof(l), "user%d", i);
		snprintf(d, sizeof(d), "d%d.example", i % 100000);
		assert_true(rcptmap_match(m, l, d));
		snprintf(d, sizeof(d), "d%d.example", (i + 1) % 100000);
		assert_false(rcptmap_match(m, l, d));
	}
	rcptmap_free(m);
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("broken\n", f);
	fclose(f);
	assert_null(rcptmap_load(path, err, sizeof(err)));
	char want[128];
	snprintf(want, sizeof(want), "%s:1000001: entry needs an '@'", path);
	assert_int_equal(strncmp(err, want, strlen(want)), 0);
	unlink(path);
	assert_null(rcptmap_load("/nonexistent/r", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/r: No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_load_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
