/*
 * fuzz_rcptmap.c - libFuzzer target for the `recipients` table parser.
 *
 * Arbitrary bytes go through rcptmap_parse(); on success a few lookups run
 * (including ones taken from the input itself) and the table is freed.  On
 * failure the error text must be set.  The parser must never crash, read
 * past the buffer or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rcptmap.h"

#define FUZZ_PROBE_MAX 64   /* longest local part / domain probed from the input */

/* Probe the first line of the input split at its '@' as a lookup. */
static void probe_input(const struct rcptmap *m, const uint8_t *data, size_t size)
{
	char local[FUZZ_PROBE_MAX + 1], domain[FUZZ_PROBE_MAX + 1];
	size_t i, at = size, end = size, ln, dn;

	for (i = 0; i < size; i++) {
		if (data[i] == '\n' || data[i] == '\0') {
			end = i;
			break;
		}
		if (data[i] == '@' && at == size)
			at = i;
	}
	if (at >= end)
		return;
	ln = at < FUZZ_PROBE_MAX ? at : FUZZ_PROBE_MAX;
	dn = end - at - 1 < FUZZ_PROBE_MAX ? end - at - 1 : FUZZ_PROBE_MAX;
	memcpy(local, data, ln);
	local[ln] = '\0';
	memcpy(domain, data + at + 1, dn);
	domain[dn] = '\0';
	(void)rcptmap_match(m, local, domain);
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rcptmap *m;
	char err[256];
	char *buf;

	buf = malloc(size ? size : 1);   /* exact size: ASan sees any over-read */
	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	err[0] = '\0';
	m = rcptmap_parse("fuzz", buf, size, err, sizeof(err));
	if (m == NULL) {
		if (err[0] == '\0')
			abort();
	} else {
		(void)rcptmap_count(m);
		(void)rcptmap_match(m, "user", "example.com");
		(void)rcptmap_match(m, "USER", "example.com");
		(void)rcptmap_match(m, "", "");
		probe_input(m, data, size);
		rcptmap_free(m);
	}
	free(buf);
	return 0;
}
