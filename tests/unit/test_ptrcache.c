/*
 * test_ptrcache.c - table tests for the client reverse-name cache
 * (smtp_ptrcache_get / smtp_ptrcache_put): hits, expiry at
 * min(TTL, SMTP_PTRCACHE_TTL_MAX), negative entries, zero TTLs, slot
 * replacement and inputs that do not fit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/ptrcache.h"

struct ptr_case {
	const char *what;
	const char *put_ip;     /* NULL: no put */
	const char *put_name;
	uint32_t ttl;
	int put_rc;
	const char *get_ip;
	uint64_t get_after_ms;  /* since the put */
	int hit;
	const char *name;       /* expected on a hit */
};

static const struct ptr_case ptr_cases[] = {
	{ "empty cache misses", NULL, NULL, 0, 0, "127.0.0.1", 0, 0, NULL },
	{ "hit", "127.0.0.1", "client.test", 300, 0, "127.0.0.1", 1000, 1, "client.test" },
	{ "other address misses", "127.0.0.1", "client.test", 300, 0, "127.0.0.2", 0, 0, NULL },
	{ "negative entry hits with \"\"", "::1", "", 300, 0, "::1", 0, 1, "" },
	{ "short TTL expires", "10.0.0.1", "a.test", 5, 0, "10.0.0.1", 5000, 0, NULL },
	{ "short TTL alive", "10.0.0.1", "a.test", 5, 0, "10.0.0.1", 4999, 1, "a.test" },
	{ "long TTL capped", "10.0.0.2", "b.test", 86400, 0, "10.0.0.2",
	  SMTP_PTRCACHE_TTL_MAX * 1000, 0, NULL },
	{ "zero TTL not kept", "10.0.0.3", "c.test", 0, 0, "10.0.0.3", 0, 0, NULL },
	{ "empty address refused", "", "x.test", 60, -1, "", 0, 0, NULL },
	{ "overlong address refused", "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa",
	  "x.test", 60, -1, "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa", 0, 0, NULL },
};

/* Every row on a fresh cache. */
static void test_ptrcache_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ptr_cases) / sizeof(ptr_cases[0]); i++) {
		const struct ptr_case *c = &ptr_cases[i];
		struct smtp_ptrcache *pc = smtp_ptrcache_new();
		char name[SMTP_PTRCACHE_NAME_MAX] = "untouched";
		uint64_t t0 = 1000000;

		assert_non_null(pc);
		if (c->put_ip)
			assert_int_equal(smtp_ptrcache_put(pc, c->put_ip, c->put_name, c->ttl, t0),
					 c->put_rc);
		int hit = smtp_ptrcache_get(pc, c->get_ip, t0 + c->get_after_ms, name, sizeof(name));
		if (hit != c->hit)
			fail_msg("%s: hit %d, want %d", c->what, hit, c->hit);
		if (c->hit)
			assert_string_equal(name, c->name);
		smtp_ptrcache_free(pc);
	}
}

/* A name longer than the caller's buffer is a miss, not a truncation. */
static void test_ptrcache_small_buffer(void **state)
{
	(void)state;
	struct smtp_ptrcache *pc = smtp_ptrcache_new();
	char small[4];

	assert_int_equal(smtp_ptrcache_put(pc, "127.0.0.1", "client.test", 60, 0), 0);
	assert_int_equal(smtp_ptrcache_get(pc, "127.0.0.1", 0, small, sizeof(small)), 0);
	smtp_ptrcache_free(pc);
}

/* Many addresses: memory stays fixed, the newest entry of a slot wins, and
 * no lookup ever returns another address's name. */
static void test_ptrcache_replacement(void **state)
{
	(void)state;
	struct smtp_ptrcache *pc = smtp_ptrcache_new();
	char ip[32], want[64], name[SMTP_PTRCACHE_NAME_MAX];
	int hits = 0;

	for (int i = 0; i < 4 * SMTP_PTRCACHE_SLOTS; i++) {
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
		snprintf(want, sizeof(want), "h%d.test", i);
		assert_int_equal(smtp_ptrcache_put(pc, ip, want, 60, 0), 0);
	}
	for (int i = 0; i < 4 * SMTP_PTRCACHE_SLOTS; i++) {
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
		snprintf(want, sizeof(want), "h%d.test", i);
		if (smtp_ptrcache_get(pc, ip, 1, name, sizeof(name))) {
			assert_string_equal(name, want);
			hits++;
		}
	}
	assert_true(hits > 0 && hits <= SMTP_PTRCACHE_SLOTS);
	/* the last one put is always there */
	assert_int_equal(smtp_ptrcache_get(pc, ip, 1, name, sizeof(name)), 1);
	smtp_ptrcache_free(pc);
	smtp_ptrcache_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ptrcache_table),
		cmocka_unit_test(test_ptrcache_small_buffer),
		cmocka_unit_test(test_ptrcache_replacement),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
