/*
 * fuzz_httpc.c - libFuzzer target for the HTTP client's response reader
 * (io_httpc_parse) and the URL parser (io_url_parse).
 *
 * Arbitrary bytes are read as a response received so far: the status is 0
 * or 100-599, a body (if any) lies inside the buffer, and the answer is the
 * same on a second read.  The same bytes, cut at the first NUL, are parsed
 * as a URL: a success has a "/"-led path and a port.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct io_httpc_res a, b;
	struct io_url u;
	char why[256];
	char *buf = malloc(size + 1);   /* exact size + NUL: ASan sees any over-read */

	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	int ca = io_httpc_parse(buf, size, &a);
	int cb = io_httpc_parse(buf, size, &b);
	if (ca != cb || a.status != b.status || a.body != b.body)
		abort();
	if (a.status != 0 && (a.status < 100 || a.status > 599))
		abort();
	if (a.body && (a.body < buf || a.body + a.body_len != buf + size))
		abort();
	if (io_url_parse(buf, &u, why, sizeof(why)) == 0 && (u.path[0] != '/' || u.salen == 0))
		abort();
	free(buf);
	return 0;
}
