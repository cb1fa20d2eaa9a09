/*
 * fuzz_hdrfilter.c - libFuzzer target for the Authentication-Results header
 * filter (src/filter/hdrfilter.c), which sees every message's header
 * section.  The first input octet picks where the input is cut in two.
 * Checks: the output never grows; without our authserv-id in the input it
 * is the input, unchanged; fed in two pieces it is the same as fed whole.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter/hdrfilter.h"

#define FUZZ_ID "mx.fuzz.test"

struct out {
	uint8_t *p;
	size_t len, cap;
};

/* Collect the kept octets. */
static int collect(void *arg, const void *p, size_t n)
{
	struct out *o = arg;
	if (o->len + n > o->cap)
		abort();   /* the output never outgrows the input */
	memcpy(o->p + o->len, p, n);
	o->len += n;
	return 0;
}

/* Does data hold FUZZ_ID in any case?  1 or 0. */
static int has_id(const uint8_t *data, size_t size)
{
	size_t n = strlen(FUZZ_ID);
	for (size_t i = 0; i + n <= size; i++)
		if (strncasecmp((const char *)data + i, FUZZ_ID, n) == 0)
			return 1;
	return 0;
}

/* Filter data in two pieces cut at cut. */
static void filter(const uint8_t *data, size_t size, size_t cut, struct out *o)
{
	static struct hdrf h;
	hdrf_init(&h, FUZZ_ID);
	o->len = 0;
	if (hdrf_feed(&h, data, cut, collect, o) < 0 ||
	    hdrf_feed(&h, data + cut, size - cut, collect, o) < 0 || hdrf_finish(&h, collect, o) < 0)
		abort();
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t cut = size > 1 ? data[0] % size : 0;
	data++;
	size--;
	if (cut > size)
		cut = size;
	struct out a = {malloc(size + 1), 0, size}, b = {malloc(size + 1), 0, size};
	if (!a.p || !b.p)
		abort();
	filter(data, size, cut, &a);
	filter(data, size, 0, &b);
	if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
		abort();   /* the pieces do not matter */
	if (!has_id(data, size) && (a.len != size || memcmp(a.p, data, size) != 0))
		abort();   /* nothing of ours: nothing removed */
	free(a.p);
	free(b.p);
	return 0;
}
