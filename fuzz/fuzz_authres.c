/*
 * fuzz_authres.c - libFuzzer target for the Authentication-Results parser
 * (src/filter/authres.c), fed hostile header values.
 *
 * The input is one header value.  Checks: authres_parse() returns 0 or -1;
 * -1 leaves the output cleared with errno EINVAL or EMSGSIZE, and is the
 * answer for anything over AUTHRES_VALUE_MAX; 0 gives a non-empty
 * authserv-id, "none" or 1 to AUTHRES_RESULTS_MAX results, every string
 * NUL-terminated inside its buffer and free of controls but TAB, keywords
 * lower-case; the same input parses the same twice; a prefix parses the
 * same from an exact-size copy as from the full buffer (nothing past len
 * is read, and ASan sees the copy's end).  A parsed header is ours under
 * its own authserv-id (authres_is_ours, authres_header_is_ours), and every
 * spf=pass / dkim=pass in it authenticates its own domain, never the null
 * sender; a verdict of 1 always has such a result behind it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter/authres.h"

/* The Public Suffix List, loaded on first use and kept. */
static const struct authres_psl *fuzz_psl(void)
{
	static struct authres_psl *psl;

	if (psl == NULL && (psl = authres_psl_new(NULL)) == NULL)
		abort();
	return psl;
}

/* Abort unless s[0..size) holds a NUL, and before it no control but TAB. */
static void check_str(const char *s, size_t size, int lower)
{
	const char *end = memchr(s, '\0', size);

	if (end == NULL)
		abort();
	for (const char *p = s; p < end; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c < 0x20 && c != '\t') || c == 0x7f || (lower && c >= 'A' && c <= 'Z'))
			abort();
	}
}

/* Abort unless a, parsed with success, is well formed. */
static void check_parsed(const struct authres *a)
{
	check_str(a->authserv_id, sizeof(a->authserv_id), 0);
	if (a->authserv_id[0] == '\0' || a->nresults > AUTHRES_RESULTS_MAX ||
	    (a->none != 0) == (a->nresults != 0) || a->none < 0 || a->none > 1)
		abort();
	for (size_t i = 0; i < a->nresults; i++) {
		const struct authres_result *r = &a->results[i];

		check_str(r->method, sizeof(r->method), 1);
		check_str(r->result, sizeof(r->result), 1);
		if (r->method[0] == '\0' || r->result[0] == '\0' || r->method_version < 0)
			abort();
		check_str(r->smtp_mailfrom, sizeof(r->smtp_mailfrom), 0);
		check_str(r->smtp_helo, sizeof(r->smtp_helo), 0);
		check_str(r->header_d, sizeof(r->header_d), 0);
		check_str(r->header_i, sizeof(r->header_i), 0);
		check_str(r->header_from, sizeof(r->header_from), 0);
	}
}

/* Is s non-empty 7-bit ASCII? */
static int ascii_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* Does a hold an spf or dkim pass at all? */
static int has_pass(const struct authres *a)
{
	for (size_t i = 0; i < a->nresults; i++)
		if (strcmp(a->results[i].result, "pass") == 0 &&
		    (strcmp(a->results[i].method, "spf") == 0 ||
		     strcmp(a->results[i].method, "dkim") == 0))
			return 1;
	return 0;
}

/* Abort unless the verdict agrees with the results of a. */
static void check_verdict(const struct authres *a)
{
	const struct authres_psl *psl = fuzz_psl();
	const char *id = a->authserv_id;

	if (authres_sender_authenticated(a, id, "", psl) ||
	    authres_sender_authenticated(a, id, NULL, psl))
		abort();
	if (authres_sender_authenticated(a, id, "example.com", psl) && !has_pass(a))
		abort();
	if (a->version != 1)
		return;
	for (size_t i = 0; i < a->nresults; i++) {
		const struct authres_result *r = &a->results[i];
		const char *at = strrchr(r->smtp_mailfrom, '@');
		const char *dom = at != NULL ? at + 1 : r->smtp_mailfrom;

		if (r->method_version != 1 || strcmp(r->result, "pass") != 0)
			continue;
		if (strcmp(r->method, "spf") == 0 && ascii_ok(dom) &&
		    !authres_sender_authenticated(a, id, dom, psl))
			abort();
		if (strcmp(r->method, "dkim") == 0 && ascii_ok(r->header_d) &&
		    !authres_sender_authenticated(a, id, r->header_d, psl))
			abort();
	}
}

/* Parse data[0..k) from an exact-size copy; abort unless it matches *full
 * (the same prefix parsed in place). */
static void check_prefix(const uint8_t *data, size_t k, const struct authres *full, int full_rc)
{
	static struct authres a;
	char *copy = malloc(k > 0 ? k : 1);
	int rc;

	if (copy == NULL)
		abort();
	memcpy(copy, data, k);
	rc = authres_parse(copy, k, &a);
	free(copy);
	if (rc != full_rc || memcmp(&a, full, sizeof(a)) != 0)
		abort();
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct authres a, b;
	const char *v = (const char *)data;
	int rc, rc2;
	size_t k;

	errno = 0;
	rc = authres_parse(v, size, &a);
	if (rc != 0 && rc != -1)
		abort();
	if (size > AUTHRES_VALUE_MAX && rc != -1)
		abort();
	(void)authres_header_is_ours("Authentication-Results", v, size, "mx2.good.test");
	if (rc < 0) {
		if ((errno != EINVAL && errno != EMSGSIZE) || a.authserv_id[0] != '\0' ||
		    a.nresults != 0 || a.none != 0)
			abort();
	} else {
		check_parsed(&a);
		if (!authres_is_ours(&a, a.authserv_id) ||
		    !authres_header_is_ours("authentication-results", v, size, a.authserv_id))
			abort();
		check_verdict(&a);
	}
	rc2 = authres_parse(v, size, &b);
	if (rc2 != rc || memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	/* prefixes: half, and one chosen by the first octet */
	for (int j = 0; j < 2 && size > 0; j++) {
		k = j == 0 ? size / 2 : data[0] % size;
		rc = authres_parse(v, k, &a);
		check_prefix(data, k, &a, rc);
	}
	return 0;
}
