/*
 * test_strtab.c - table tests of src/common/strtab.c, the string table.
 *
 * One table of operations (put, get) with the expected result, run in
 * order on one table; then length-given keys (a suffix of a longer string),
 * a large table (200,000 keys through many growths) and the empty table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/strtab.h"

enum op { PUT, GET };

struct op_case {
	enum op op;
	const char *key;
	uint32_t val;     /* PUT: the value; GET: the value expected when found */
	int want;         /* PUT: 1 added, 0 there; GET: 1 found, 0 absent */
};

static const struct op_case op_cases[] = {
	{GET, "example.com", 0, 0},
	{PUT, "example.com", 7, 1},
	{GET, "example.com", 7, 1},
	{GET, "Example.com", 0, 0},          /* exact octets: the caller lower-cases */
	{GET, "example.co", 0, 0},
	{GET, "example.comm", 0, 0},
	{PUT, "example.com", 9, 0},          /* already there: value kept */
	{GET, "example.com", 7, 1},
	{PUT, ".example.com", 1, 1},         /* a different key */
	{GET, ".example.com", 1, 1},
	{PUT, "", 3, 1},                     /* the empty key is a key */
	{GET, "", 3, 1},
	{PUT, "a", 4, 1},
	{GET, "a", 4, 1},
	{GET, "b", 0, 0},
	{PUT, "192.0.2.0/24", 5, 1},
	{GET, "192.0.2.0/24", 5, 1},
	{GET, "192.0.2.0/25", 0, 0},
};

/* The operation table, in order, on one table. */
static void test_ops(void **state)
{
	struct strtab *t = strtab_new();
	(void)state;
	assert_non_null(t);
	for (size_t i = 0; i < sizeof(op_cases) / sizeof(op_cases[0]); i++) {
		const struct op_case *c = &op_cases[i];
		uint32_t v = 12345;
		print_message("case %zu: %s '%s'\n", i, c->op == PUT ? "put" : "get", c->key);
		if (c->op == PUT) {
			assert_int_equal(strtab_put(t, c->key, strlen(c->key), c->val, &v), c->want);
			if (!c->want)
				assert_int_not_equal(v, 12345);
		} else {
			assert_int_equal(strtab_get(t, c->key, strlen(c->key), &v), c->want);
			if (c->want)
				assert_int_equal(v, c->val);
		}
	}
	assert_int_equal(strtab_count(t), 5);
	strtab_free(t);
}

/* Keys given by length: a suffix of a longer string, a prefix, a NUL inside. */
static void test_lengths(void **state)
{
	struct strtab *t = strtab_new();
	const char *d = "mail.sub.example.com";
	(void)state;
	assert_non_null(t);
	assert_int_equal(strtab_put(t, ".example.com", 12, 1, NULL), 1);
	assert_int_equal(strtab_get(t, d + 8, strlen(d + 8), NULL), 1);   /* ".example.com" */
	assert_int_equal(strtab_get(t, d + 4, strlen(d + 4), NULL), 0);   /* ".sub.example.com" */
	assert_int_equal(strtab_put(t, "mail.sub", 4, 2, NULL), 1);       /* "mail" */
	assert_int_equal(strtab_get(t, "mail", 4, NULL), 1);
	assert_int_equal(strtab_get(t, "mail.sub", 8, NULL), 0);
	assert_int_equal(strtab_put(t, "a\0b", 3, 0, NULL), -1);          /* NUL: refused */
	assert_int_equal(strtab_get(t, "mail\0", 5, NULL), 0);
	strtab_free(t);
	strtab_free(NULL);
	assert_int_equal(strtab_count(NULL), 0);
	assert_int_equal(strtab_get(NULL, "x", 1, NULL), 0);
}

/* 200,000 keys: all found with their values, none of 200,000 others. */
static void test_large(void **state)
{
	struct strtab *t = strtab_new();
	char k[64];
	uint32_t v;
	(void)state;
	assert_non_null(t);
	for (uint32_t i = 0; i < 200000; i++) {
		int n = snprintf(k, sizeof(k), "d%u.example", i);
		assert_int_equal(strtab_put(t, k, (size_t)n, i, NULL), 1);
	}
	assert_int_equal(strtab_count(t), 200000);
	for (uint32_t i = 0; i < 200000; i++) {
		int n = snprintf(k, sizeof(k), "d%u.example", i);
		assert_int_equal(strtab_get(t, k, (size_t)n, &v), 1);
		assert_int_equal(v, i);
		n = snprintf(k, sizeof(k), "e%u.example", i);
		assert_int_equal(strtab_get(t, k, (size_t)n, NULL), 0);
	}
	assert_true(strtab_bytes(t) > 200000 * 16);
	/* a key longer than an arena chunk */
	size_t big = 3 * 1024 * 1024;
	char *b = malloc(big);
	assert_non_null(b);
	memset(b, 'x', big);
	assert_int_equal(strtab_put(t, b, big, 1, NULL), 1);
	assert_int_equal(strtab_get(t, b, big, NULL), 1);
	assert_int_equal(strtab_get(t, b, big - 1, NULL), 0);
	free(b);
	strtab_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
