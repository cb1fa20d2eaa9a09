/*
 * test_dns_name.c - table tests of the pure name handling in src/dns/:
 * dns_name_normalize() (IDN, case, length and LDH checks), dns_ptr_name(),
 * and the rdata readers of rdata.h (wire names, MX, A, AAAA, PTR, TLSA).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "dns/rdata.h"

struct t_norm {
	const char *in;     /* NULL-terminated table uses in == NULL && want == NULL as end */
	const char *want;   /* NULL = must be rejected */
	const char *err;    /* substring of the error text when rejected */
};

static char label63[64], label64[65], name253[254], name254[255], name253dot[255];

/* Build the long inputs once: labels of 63/64 octets and names of 253/254 octets. */
static int setup_long(void **state)
{
	(void)state;
	memset(label63, 'a', 63);
	memset(label64, 'a', 64);
	/* 63+1+63+1+63+1+61 = 253 */
	snprintf(name253, sizeof(name253), "%s.%s.%s.%.61s", label63, label63, label63, label63);
	snprintf(name254, sizeof(name254), "%s.%s.%s.%.62s", label63, label63, label63, label63);
	snprintf(name253dot, sizeof(name253dot), "%s.", name253);
	return 0;
}

/* The normalisation table (long names filled in by the test from the static buffers). */
static void test_normalize_table(void **state)
{
	const struct t_norm cases[] = {
		{"example.com", "example.com", NULL},
		{"Example.COM", "example.com", NULL},
		{"example.com.", "example.com", NULL},
		{"bücher.example", "xn--bcher-kva.example", NULL},
		{"BÜCHER.example.", "xn--bcher-kva.example", NULL},
		{"faß.de", "xn--fa-hia.de", NULL},   /* non-transitional keeps the sharp s */
		{"xn--bcher-kva.example", "xn--bcher-kva.example", NULL},
		{"a-b.c0.test", "a-b.c0.test", NULL},
		{"localhost", "localhost", NULL},
		{"192.0.2.1", "192.0.2.1", NULL},
		{label63, label63, NULL},
		{name253, name253, NULL},
		{name253dot, name253, NULL},
		{label64, NULL, "63"},
		{name254, NULL, "253"},
		{"", NULL, "empty"},
		{".", NULL, "empty"},
		{"example..com", NULL, "empty label"},
		{".example.com", NULL, "empty label"},
		{"example.com..", NULL, "empty label"},
		{"-example.com", NULL, "hyphen"},
		{"example-.com", NULL, "hyphen"},
		{"exa_mple.com", NULL, "character"},
		{"exa mple.com", NULL, "character"},
		{"example.com/x", NULL, "character"},
		{"[192.0.2.1]", NULL, "character"},
		{"ex\tample.com", NULL, "character"},
		{"ex\xff\xfe.com", NULL, "internationalised"},
	};
	char out[DNS_NAME_MAX], err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct t_norm *c = &cases[i];
		int r = dns_name_normalize(c->in, out, sizeof(out), err, sizeof(err));
		if (c->want != NULL) {
			if (r != 0)
				fail_msg("case %zu \"%.40s\": rejected (%s)", i, c->in, err);
			if (strcmp(out, c->want) != 0)
				fail_msg("case %zu \"%.40s\": got \"%s\", want \"%s\"", i, c->in,
					 out, c->want);
		} else {
			if (r != -1)
				fail_msg("case %zu \"%.40s\": accepted as \"%s\"", i, c->in, out);
			if (strstr(err, c->err) == NULL)
				fail_msg("case %zu \"%.40s\": error \"%s\" lacks \"%s\"", i,
					 c->in, err, c->err);
		}
	}
}

/* A too-small output buffer and NULL input fail cleanly. */
static void test_normalize_edges(void **state)
{
	char small[8], err[64];

	(void)state;
	assert_int_equal(dns_name_normalize("example.com", small, sizeof(small), err,
					    sizeof(err)), -1);
	assert_int_equal(dns_name_normalize(NULL, small, sizeof(small), err, sizeof(err)), -1);
	assert_int_equal(dns_name_normalize("a.b", small, sizeof(small), NULL, 0), 0);
	assert_string_equal(small, "a.b");
	char *huge = malloc(5000);
	assert_non_null(huge);
	memset(huge, 'a', 4999);
	huge[4999] = '\0';
	assert_int_equal(dns_name_normalize(huge, small, sizeof(small), err, sizeof(err)), -1);
	free(huge);
}

/* Reverse names for IPv4 and IPv6. */
static void test_ptr_name(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	char out[128];

	(void)state;
	inet_pton(AF_INET, "192.0.2.10", &sin.sin_addr);
	assert_int_equal(dns_ptr_name((struct sockaddr *)&sin, out, sizeof(out)), 0);
	assert_string_equal(out, "10.2.0.192.in-addr.arpa");
	inet_pton(AF_INET6, "2001:db8::567:89ab", &sin6.sin6_addr);
	assert_int_equal(dns_ptr_name((struct sockaddr *)&sin6, out, sizeof(out)), 0);
	assert_string_equal(out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
				 ".ip6.arpa");
	assert_int_equal(dns_ptr_name((struct sockaddr *)&sin, out, 10), -1);
	assert_int_equal(dns_ptr_name((struct sockaddr *)&sin6, out, 72), -1);
	struct sockaddr un = {.sa_family = AF_UNIX};
	assert_int_equal(dns_ptr_name(&un, out, sizeof(out)), -1);
}

struct t_wire {
	const char *what;
	const uint8_t *rd;
	size_t len;
	int ok;
	const char *want;
	size_t used;
};

/* Wire names: good, root, case, bounds, pointers, bad characters. */
static void test_rdata_name_table(void **state)
{
	static const uint8_t w_simple[] = {3, 'm', 'x', '1', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e',
					   4, 't', 'e', 's', 't', 0};
	static const uint8_t w_root[] = {0};
	static const uint8_t w_trunc[] = {3, 'm', 'x', '1', 7, 'e', 'x'};
	static const uint8_t w_noend[] = {3, 'm', 'x', '1'};
	static const uint8_t w_ptr[] = {3, 'm', 'x', '1', 0xc0, 0x0c};
	static const uint8_t w_ext[] = {0x41, 'a', 0};
	static const uint8_t w_dot[] = {3, 'a', '.', 'b', 0};
	static const uint8_t w_nul[] = {3, 'a', 0, 'b', 0};
	static const uint8_t w_space[] = {3, 'a', ' ', 'b', 0};
	static const uint8_t w_us[] = {4, '_', '2', '5', 'x', 0};
	static const uint8_t w_trail[] = {1, 'a', 0, 0xff, 0xff};
	static uint8_t w_64[66], w_255[255], w_256[257];
	const struct t_wire cases[] = {
		{"simple, lower-cased", w_simple, sizeof(w_simple), 1, "mx1.example.test",
		 sizeof(w_simple)},
		{"root", w_root, 1, 1, "", 1},
		{"empty input", w_root, 0, 0, NULL, 0},
		{"truncated label", w_trunc, sizeof(w_trunc), 0, NULL, 0},
		{"no root label", w_noend, sizeof(w_noend), 0, NULL, 0},
		{"compression pointer", w_ptr, sizeof(w_ptr), 0, NULL, 0},
		{"extended label type", w_ext, sizeof(w_ext), 0, NULL, 0},
		{"dot inside a label", w_dot, sizeof(w_dot), 0, NULL, 0},
		{"NUL inside a label", w_nul, sizeof(w_nul), 0, NULL, 0},
		{"space inside a label", w_space, sizeof(w_space), 0, NULL, 0},
		{"underscore allowed", w_us, sizeof(w_us), 1, "_25x", sizeof(w_us)},
		{"trailing bytes are not read", w_trail, sizeof(w_trail), 1, "a", 3},
		{"64-octet label", w_64, sizeof(w_64), 0, NULL, 0},
		{"255-octet name", w_255, sizeof(w_255), 1, NULL, 255},
		{"256-octet name", w_256, sizeof(w_256), 0, NULL, 0},
	};
	char out[DNS_NAME_MAX];

	(void)state;
	w_64[0] = 64;
	memset(w_64 + 1, 'a', 64);
	w_64[65] = 0;
	/* 255 = 3 x (1+63) + (1+61) + 1 */
	for (size_t p = 0, k = 0; k < 4; k++) {
		size_t ll = k < 3 ? 63 : 61;
		w_255[p++] = (uint8_t)ll;
		memset(w_255 + p, 'b', ll);
		p += ll;
		if (k == 3)
			w_255[p] = 0;
	}
	memcpy(w_256, w_255, 255);
	w_256[254 - 62] = 62;        /* last label one longer */
	memset(w_256 + 254 - 61, 'b', 62);
	w_256[255] = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct t_wire *c = &cases[i];
		size_t used = 0;
		int r = dns_rdata_name(c->rd, c->len, &used, out, sizeof(out));
		if (c->ok && r != 0)
			fail_msg("case \"%s\": rejected", c->what);
		if (!c->ok && r == 0)
			fail_msg("case \"%s\": accepted as \"%s\"", c->what, out);
		if (c->ok && c->want != NULL && strcmp(out, c->want) != 0)
			fail_msg("case \"%s\": got \"%s\", want \"%s\"", c->what, out, c->want);
		if (c->ok && used != c->used)
			fail_msg("case \"%s\": used %zu, want %zu", c->what, used, c->used);
		if (c->ok)
			assert_true(strlen(out) <= 253);
	}
	/* the output buffer bounds the name too */
	char tiny[4];
	assert_int_equal(dns_rdata_name(w_simple, sizeof(w_simple), NULL, tiny, sizeof(tiny)), -1);
}

/* MX, PTR, A, AAAA and TLSA readers. */
static void test_rdata_records(void **state)
{
	static const uint8_t mx_ok[] = {0, 10, 3, 'm', 'x', '1', 4, 't', 'e', 's', 't', 0};
	static const uint8_t mx_null[] = {0, 0, 0};
	static const uint8_t mx_extra[] = {0, 10, 1, 'a', 0, 0};
	static const uint8_t mx_short[] = {0, 10};
	static const uint8_t a4[] = {192, 0, 2, 1};
	static const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
	static const uint8_t tlsa[] = {3, 1, 1, 0xde, 0xad, 0xbe, 0xef};
	static uint8_t tlsa_big[3 + DNS_TLSA_DATA_MAX + 1];
	struct dns_mx_rr mx;
	struct sockaddr_storage ss;
	struct dns_tlsa_rr t;
	char name[DNS_NAME_MAX], buf[64];

	(void)state;
	assert_int_equal(dns_rdata_mx(mx_ok, sizeof(mx_ok), &mx), 0);
	assert_int_equal(mx.pref, 10);
	assert_string_equal(mx.host, "mx1.test");
	assert_int_equal(dns_rdata_mx(mx_null, sizeof(mx_null), &mx), 0);
	assert_int_equal(mx.pref, 0);
	assert_string_equal(mx.host, "");
	assert_int_equal(dns_rdata_mx(mx_extra, sizeof(mx_extra), &mx), -1);
	assert_int_equal(dns_rdata_mx(mx_short, sizeof(mx_short), &mx), -1);
	assert_int_equal(dns_rdata_ptr(mx_ok + 2, sizeof(mx_ok) - 2, name, sizeof(name)), 0);
	assert_string_equal(name, "mx1.test");
	assert_int_equal(dns_rdata_ptr(mx_extra + 2, sizeof(mx_extra) - 2, name, sizeof(name)), -1);

	assert_int_equal(dns_rdata_a(a4, sizeof(a4), &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.1");
	assert_int_equal(dns_rdata_a(a4, 3, &ss), -1);
	assert_int_equal(dns_rdata_a(a6, 16, &ss), -1);
	assert_int_equal(dns_rdata_aaaa(a6, sizeof(a6), &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::1");
	assert_int_equal(dns_rdata_aaaa(a4, sizeof(a4), &ss), -1);

	assert_int_equal(dns_rdata_tlsa(tlsa, sizeof(tlsa), &t), 0);
	assert_int_equal(t.usage, 3);
	assert_int_equal(t.selector, 1);
	assert_int_equal(t.mtype, 1);
	assert_int_equal(t.len, 4);
	assert_int_equal(t.data[3], 0xef);
	assert_int_equal(dns_rdata_tlsa(tlsa, 3, &t), -1);
	assert_int_equal(dns_rdata_tlsa(tlsa_big, sizeof(tlsa_big) - 1, &t), 0);
	assert_int_equal(dns_rdata_tlsa(tlsa_big, sizeof(tlsa_big), &t), -1);
}

/* Status strings. */
static void test_status_str(void **state)
{
	(void)state;
	assert_string_equal(dns_status_str(DNS_OK), "ok");
	assert_string_equal(dns_status_str(DNS_NXDOMAIN), "nxdomain");
	assert_string_equal(dns_status_str(DNS_TEMPFAIL), "tempfail");
	assert_string_equal(dns_sec_str(DNS_SEC_SECURE), "secure");
	assert_string_equal(dns_sec_str(DNS_SEC_BOGUS), "bogus");
}

/* Run the cases. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_normalize_table, setup_long),
		cmocka_unit_test(test_normalize_edges),
		cmocka_unit_test(test_ptr_name),
		cmocka_unit_test(test_rdata_name_table),
		cmocka_unit_test(test_rdata_records),
		cmocka_unit_test(test_status_str),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
