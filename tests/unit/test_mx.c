/*
 * test_mx.c - table tests of the pure MX logic in src/dns/mx.c: mx_sort()
 * and mx_truncate_self() (RFC 5321 5.1: drop ourselves and every MX that is
 * not more preferred than us; "loops back to myself" when we are the best).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dns/mx.h"

#define T_HOSTS 6
#define T_ADDRS 3

struct t_host {
	uint16_t pref;
	const char *name;
	const char *addr[T_ADDRS];
};

struct t_trunc {
	const char *what;
	struct t_host hosts[T_HOSTS];
	const char *self_names[3];
	const char *self_addrs[3];
	enum mx_self_result want;
	const char *left[T_HOSTS];   /* names remaining, in order */
};

static const struct t_trunc trunc_cases[] = {
	{"we are the best MX -> loop",
	 {{10, "mx.us.test", {"192.0.2.1"}}, {20, "mx.other.test", {"192.0.2.2"}}},
	 {"mx.us.test"}, {NULL}, MX_SELF_LOOP, {NULL}},
	{"we are second -> only the primary remains",
	 {{10, "mx1.example.test", {"192.0.2.1"}}, {20, "mx2.example.test", {"192.0.2.2"}},
	  {30, "mx3.example.test", {"192.0.2.3"}}},
	 {"mx2.example.test"}, {NULL}, MX_SELF_TRUNCATED, {"mx1.example.test"}},
	{"we share our preference with another host -> both dropped",
	 {{10, "mx1.example.test", {"192.0.2.1"}}, {20, "mx2.example.test", {"192.0.2.2"}},
	  {20, "backup.example.test", {"192.0.2.3"}}, {30, "mx3.example.test", {NULL}}},
	 {"backup.example.test"}, {NULL}, MX_SELF_TRUNCATED, {"mx1.example.test"}},
	{"we are absent -> all kept",
	 {{10, "mx1.example.test", {"192.0.2.1"}}, {20, "mx2.example.test", {"192.0.2.2"}}},
	 {"other.example.test"}, {"192.0.2.99", "2001:db8::99"}, MX_SELF_ABSENT,
	 {"mx1.example.test", "mx2.example.test"}},
	{"name matches case-insensitively",
	 {{10, "mx1.example.test", {NULL}}, {20, "mx2.example.test", {NULL}}},
	 {"MX2.Example.TEST"}, {NULL}, MX_SELF_TRUNCATED, {"mx1.example.test"}},
	{"our name with a trailing dot matches",
	 {{10, "mx1.example.test", {NULL}}, {20, "mx2.example.test", {NULL}}},
	 {"mx2.example.test."}, {NULL}, MX_SELF_TRUNCATED, {"mx1.example.test"}},
	{"matched by IPv4 address",
	 {{10, "mx1.example.test", {"192.0.2.1"}}, {20, "alias.example.test", {"192.0.2.7"}}},
	 {"backup.example.test"}, {"192.0.2.7"}, MX_SELF_TRUNCATED, {"mx1.example.test"}},
	{"matched by IPv6 address (second address of the host)",
	 {{10, "mx1.example.test", {"2001:db8::1"}},
	  {20, "alias.example.test", {"192.0.2.9", "2001:db8::7"}}},
	 {"backup.example.test"}, {"2001:db8::7"}, MX_SELF_TRUNCATED, {"mx1.example.test"}},
	{"v4-mapped listen address matches an A record",
	 {{10, "mx1.example.test", {"192.0.2.1"}}, {20, "alias.example.test", {"192.0.2.7"}}},
	 {NULL}, {"::ffff:192.0.2.7"}, MX_SELF_TRUNCATED, {"mx1.example.test"}},
	{"best MX by address -> loop",
	 {{5, "a.example.test", {"192.0.2.5"}}, {10, "b.example.test", {"192.0.2.6"}}},
	 {NULL}, {"192.0.2.5"}, MX_SELF_LOOP, {NULL}},
	{"several hosts at one preference better than us are all kept",
	 {{10, "a.example.test", {NULL}}, {10, "b.example.test", {NULL}},
	  {10, "c.example.test", {NULL}}, {20, "us.example.test", {NULL}},
	  {30, "z.example.test", {NULL}}},
	 {"us.example.test"}, {NULL}, MX_SELF_TRUNCATED,
	 {"a.example.test", "b.example.test", "c.example.test"}},
	{"listed twice: the more preferred entry counts",
	 {{10, "a.example.test", {NULL}}, {20, "us.example.test", {NULL}},
	  {30, "b.example.test", {NULL}}, {40, "us.example.test", {NULL}}},
	 {"us.example.test"}, {NULL}, MX_SELF_TRUNCATED, {"a.example.test"}},
	{"we are the only MX -> loop",
	 {{0, "us.example.test", {NULL}}}, {"us.example.test"}, {NULL}, MX_SELF_LOOP, {NULL}},
	{"empty set", {{0, NULL, {NULL}}}, {"us.example.test"}, {"192.0.2.1"}, MX_SELF_ABSENT,
	 {NULL}},
	{"a prefix of our name is not us",
	 {{10, "mx.example.test", {NULL}}, {20, "mx.example.testing", {NULL}}},
	 {"mx.example.tes"}, {NULL}, MX_SELF_ABSENT, {"mx.example.test", "mx.example.testing"}},
};

/* Parse a numeric address into a sockaddr_storage. */
static void t_addr(const char *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(s, ':') != NULL) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, s, &a->sin6_addr), 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(25);
		assert_int_equal(inet_pton(AF_INET, s, &a->sin_addr), 1);
	}
}

/* Build an MX set from the table rows. */
static void t_build(struct dns_mx_set *set, const struct t_host *hosts)
{
	memset(set, 0, sizeof(*set));
	for (size_t i = 0; i < T_HOSTS && hosts[i].name != NULL; i++) {
		struct dns_mx_host *h = &set->host[set->nhosts++];
		h->pref = hosts[i].pref;
		snprintf(h->name, sizeof(h->name), "%s", hosts[i].name);
		for (size_t j = 0; j < T_ADDRS && hosts[i].addr[j] != NULL; j++)
			t_addr(hosts[i].addr[j], &h->addr[h->naddr++]);
	}
}

/* Every row of trunc_cases. */
static void test_truncate_table(void **state)
{
	static struct dns_mx_set set;

	(void)state;
	for (size_t c = 0; c < sizeof(trunc_cases) / sizeof(trunc_cases[0]); c++) {
		const struct t_trunc *tc = &trunc_cases[c];
		struct sockaddr_storage addrs[3];
		struct mx_self self = {0};

		t_build(&set, tc->hosts);
		while (self.nnames < 3 && tc->self_names[self.nnames] != NULL)
			self.nnames++;
		self.names = tc->self_names;
		for (size_t j = 0; j < 3 && tc->self_addrs[j] != NULL; j++)
			t_addr(tc->self_addrs[j], &addrs[self.naddrs++]);
		self.addrs = addrs;

		enum mx_self_result r = mx_truncate_self(&set, &self);
		if (r != tc->want)
			fail_msg("case \"%s\": result %d, want %d", tc->what, (int)r,
				 (int)tc->want);
		size_t nleft = 0;
		while (nleft < T_HOSTS && tc->left[nleft] != NULL)
			nleft++;
		if (set.nhosts != nleft)
			fail_msg("case \"%s\": %zu hosts left, want %zu", tc->what, set.nhosts,
				 nleft);
		for (size_t j = 0; j < nleft; j++)
			if (strcmp(set.host[j].name, tc->left[j]) != 0)
				fail_msg("case \"%s\": host %zu is %s, want %s", tc->what, j,
					 set.host[j].name, tc->left[j]);
	}
}

/* Deterministic "random": always pick the last index (no swaps). */
static unsigned t_rnd_last(unsigned n)
{
	return n - 1;
}

/* Deterministic "random": always pick index 0 (rotates the run). */
static unsigned t_rnd_zero(unsigned n)
{
	(void)n;
	return 0;
}

/* Out-of-range "random" must not break anything. */
static unsigned t_rnd_big(unsigned n)
{
	return n + 1000;
}

struct t_sort {
	const char *what;
	struct t_host hosts[T_HOSTS];
	unsigned (*rnd)(unsigned);
	const char *want[T_HOSTS];
};

static const struct t_sort sort_cases[] = {
	{"sorted by preference, stable",
	 {{30, "c", {NULL}}, {10, "a", {NULL}}, {20, "b", {NULL}}}, t_rnd_last, {"a", "b", "c"}},
	{"equal run kept in DNS order when rnd picks the last",
	 {{20, "x", {NULL}}, {10, "a1", {NULL}}, {10, "a2", {NULL}}, {10, "a3", {NULL}}},
	 t_rnd_last, {"a1", "a2", "a3", "x"}},
	{"equal run shuffled by rnd (always 0)",
	 {{10, "a1", {NULL}}, {10, "a2", {NULL}}, {10, "a3", {NULL}}, {20, "x", {NULL}}},
	 t_rnd_zero, {"a2", "a3", "a1", "x"}},
	{"out-of-range rnd is clamped",
	 {{10, "a1", {NULL}}, {10, "a2", {NULL}}, {5, "z", {NULL}}}, t_rnd_big,
	 {"z", "a1", "a2"}},
	{"single host", {{7, "only", {NULL}}}, NULL, {"only"}},
	{"empty", {{0, NULL, {NULL}}}, NULL, {NULL}},
};

/* Every row of sort_cases. */
static void test_sort_table(void **state)
{
	static struct dns_mx_set set;

	(void)state;
	for (size_t c = 0; c < sizeof(sort_cases) / sizeof(sort_cases[0]); c++) {
		const struct t_sort *tc = &sort_cases[c];
		t_build(&set, tc->hosts);
		mx_sort(&set, tc->rnd);
		size_t n = 0;
		while (n < T_HOSTS && tc->want[n] != NULL)
			n++;
		assert_int_equal(set.nhosts, n);
		for (size_t j = 0; j < n; j++)
			if (strcmp(set.host[j].name, tc->want[j]) != 0)
				fail_msg("case \"%s\": host %zu is %s, want %s", tc->what, j,
					 set.host[j].name, tc->want[j]);
	}
}

/* Addresses move with their host, in DNS order. */
static void test_sort_keeps_addresses(void **state)
{
	static struct dns_mx_set set;
	static const struct t_host hosts[T_HOSTS] = {
		{20, "b", {"192.0.2.2", "2001:db8::2", "192.0.2.22"}},
		{10, "a", {"192.0.2.1", "2001:db8::1"}},
	};
	char buf[64];

	(void)state;
	t_build(&set, hosts);
	mx_sort(&set, NULL);
	assert_string_equal(set.host[0].name, "a");
	assert_int_equal(set.host[0].naddr, 2);
	assert_int_equal(set.host[1].naddr, 3);
	const struct sockaddr_in *a = (const struct sockaddr_in *)&set.host[1].addr[2];
	assert_non_null(inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf)));
	assert_string_equal(buf, "192.0.2.22");
}

/* The default shuffle really mixes equal preferences over many runs. */
static void test_sort_default_shuffles(void **state)
{
	static struct dns_mx_set set;
	static const struct t_host hosts[T_HOSTS] = {
		{10, "a", {NULL}}, {10, "b", {NULL}}, {10, "c", {NULL}},
	};
	int first[3] = {0};

	(void)state;
	for (int i = 0; i < 300; i++) {
		t_build(&set, hosts);
		mx_sort(&set, NULL);
		first[set.host[0].name[0] - 'a']++;
	}
	for (int i = 0; i < 3; i++)
		assert_true(first[i] > 30);
}

/* Run the cases. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncate_table),
		cmocka_unit_test(test_sort_table),
		cmocka_unit_test(test_sort_keeps_addresses),
		cmocka_unit_test(test_sort_default_shuffles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
