/*
 * fuzz_dnsbl.c - libFuzzer target for the dnsbl_sites entry parser.
 *
 * Feeds arbitrary bytes to dnsbl_site_parse().  Checks: a refusal says why
 * and leaves the result all zero; an accepted entry has a NUL-terminated,
 * lower-case domain of 1-253 octets of letters, digits, "-" and ".", with
 * no trailing dot, a weight within +-DNSBL_WEIGHT_MAX, and came from at
 * most DNSBL_SITE_TEXT_MAX octets (white space aside).  Parsing is
 * deterministic and ignores octets past the given length.  On success a few
 * answers (fixed ones and the input's first four octets) are matched: with
 * no filter, exactly 127/8 but 127.255.255.0/24 matches.  The domain then
 * builds an IPv4, an IPv6 and an IPv4-mapped query name, each at most
 * DNSBL_QUERY_NAME_MAX octets and ending in ".DOMAIN".
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter/dnsbl_site.h"

/* Abort unless the accepted site s is well formed. */
static void check_site(const struct dnsbl_site *s)
{
	size_t n = strnlen(s->domain, sizeof(s->domain));

	if (n == 0 || n > 253 || n == sizeof(s->domain) || s->domain[n - 1] == '.' ||
	    s->domain[0] == '.')
		abort();
	for (size_t i = 0; i < n; i++) {
		char ch = s->domain[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			abort();
	}
	if (s->weight < -DNSBL_WEIGHT_MAX || s->weight > DNSBL_WEIGHT_MAX)
		abort();
	if (s->has_filter != 0 && s->has_filter != 1)
		abort();
}

/* Abort unless the matches of s are consistent with its filter. */
static void check_match(const struct dnsbl_site *s, const uint8_t *data, size_t size)
{
	static const uint8_t fixed[][4] = {
		{ 127, 0, 0, 2 }, { 127, 0, 0, 1 }, { 127, 255, 255, 254 }, { 127, 255, 255, 0 },
		{ 10, 0, 0, 2 }, { 0, 0, 0, 0 }, { 255, 255, 255, 255 }, { 127, 1, 2, 3 },
	};
	uint8_t a[4] = { 127, 0, 0, 4 };

	if (size >= 4)
		memcpy(a, data, 4);
	for (size_t i = 0; i <= sizeof(fixed) / sizeof(fixed[0]); i++) {
		const uint8_t *q = i < sizeof(fixed) / sizeof(fixed[0]) ? fixed[i] : a;
		int m = dnsbl_site_match(s, q), e = dnsbl_answer_is_error(q);

		if ((m != 0 && m != 1) || (e != 0 && e != 1))
			abort();
		if (e != (q[0] == 127 && q[1] == 255 && q[2] == 255))
			abort();
		if (!s->has_filter && m != (q[0] == 127 && !e))
			abort();
	}
}

/* Abort unless s->domain builds bounded query names ending in it. */
static void check_names(const struct dnsbl_site *s)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	char out[DNSBL_QUERY_NAME_MAX + 1];
	size_t dl = strlen(s->domain);
	const struct sockaddr *sa[3];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0xc0000263);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr.s6_addr[0] = 0x20;
	sin6.sin6_addr.s6_addr[15] = 0xab;
	sa[0] = (const struct sockaddr *)&sin;
	sa[1] = (const struct sockaddr *)&sin6;
	sa[2] = (const struct sockaddr *)&sin6;
	for (int k = 0; k < 3; k++) {
		if (k == 2) {
			memset(sin6.sin6_addr.s6_addr, 0, 10);
			memset(sin6.sin6_addr.s6_addr + 10, 0xff, 2);
			memcpy(sin6.sin6_addr.s6_addr + 12, "\xc0\x00\x02\x63", 4);
		}
		if (dnsbl_query_name(sa[k], s->domain, out, sizeof(out)) < 0) {
			if (out[0] != '\0')
				abort();
			continue;
		}
		size_t ol = strlen(out);

		if (ol > DNSBL_QUERY_NAME_MAX || ol <= dl + 1 || out[ol - dl - 1] != '.' ||
		    strcmp(out + ol - dl, s->domain) != 0)
			abort();
		if (k == 1 && ol != 64 + dl)
			abort();
		if (k != 1 && (ol != 11 + dl || out[0] != '9' || out[1] != '9'))
			abort();     /* 99.2.0.192.DOMAIN, also from ::ffff:192.0.2.99 */
	}
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct dnsbl_site zero;
	struct dnsbl_site s, s2;
	char err[200], err2[200];
	char *copy;
	int rc;

	rc = dnsbl_site_parse((const char *)data, size, &s, err, sizeof(err));
	if (rc != 0 && rc != -1)
		abort();
	/* the same bytes with junk after them, length unchanged: same answer */
	copy = malloc(size + 2);
	if (copy == NULL)
		return 0;
	if (size > 0)
		memcpy(copy, data, size);
	memcpy(copy + size, "[*", 2);
	if (dnsbl_site_parse(copy, size, &s2, err2, sizeof(err2)) != rc ||
	    memcmp(&s, &s2, sizeof(s)) != 0 || strcmp(err, err2) != 0)
		abort();
	free(copy);
	if (rc < 0) {
		if (err[0] == '\0' || memcmp(&s, &zero, sizeof(s)) != 0)
			abort();
		return 0;
	}
	if (err[0] != '\0' || size == 0)
		abort();
	{
		size_t b = 0, e = size;

		while (b < e && strchr(" \t\r\n", data[b]) != NULL && data[b] != '\0')
			b++;
		while (e > b && strchr(" \t\r\n", data[e - 1]) != NULL && data[e - 1] != '\0')
			e--;
		if (e - b > DNSBL_SITE_TEXT_MAX || e == b)
			abort();
	}
	check_site(&s);
	check_match(&s, data, size);
	check_names(&s);
	return 0;
}
