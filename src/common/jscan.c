/*
 * jscan.c - a tiny, bounded reader for the flat JSON documents that our own
 * daemon serves (the control socket's and the status page's "history"),
 * used by `backupmx drill`.  It finds keys inside one object and reads their
 * string or number values; it never reads past the given end (or, for
 * jscan_obj_end, past the NUL).  The input may come from the network
 * (--status-url), so it is fuzzed (fuzz/fuzz_jscan.c).
 */
#include "common/jscan.h"

#include <stdlib.h>
#include <string.h>

/* Skip to the value of "key" inside the JSON object [p, end); NULL if absent. */
const char *jscan_find(const char *p, const char *end, const char *key)
{
	size_t kl = strlen(key);

	for (; p && p < end; p++) {
		if (*p != '"')
			continue;
		const char *q = p + 1;
		while (q < end && *q != '"') {
			if (*q == '\\' && q + 1 < end)
				q++;
			q++;
		}
		if (q >= end)
			return NULL;
		if ((size_t)(q - p - 1) == kl && memcmp(p + 1, key, kl) == 0 && q + 1 < end &&
		    q[1] == ':')
			return q + 2;
		p = q;
	}
	return NULL;
}

/* Copy the string value of key (escapes reduced to their character; the
 * escapes n, r, t and u become a space; NOT sanitised) into out; 0 or -1. */
int jscan_str(const char *p, const char *end, const char *key, char *out, size_t len)
{
	const char *v = jscan_find(p, end, key);
	size_t n = 0;

	if (len == 0)
		return -1;
	out[0] = '\0';
	if (!v || v >= end || *v != '"')
		return -1;
	for (v++; v < end && *v != '"' && n + 1 < len; v++) {
		if (*v == '\\' && v + 1 < end) {
			v++;
			out[n++] = (*v == 'n' || *v == 'r' || *v == 't' || *v == 'u') ? ' ' : *v;
			continue;
		}
		out[n++] = *v;
	}
	out[n] = '\0';
	return 0;
}

/* The number value of key, or -1. */
double jscan_num(const char *p, const char *end, const char *key)
{
	const char *v = jscan_find(p, end, key);

	if (!v || v >= end)
		return -1;
	return strtod(v, NULL);
}

/* End of the JSON object starting at p (the matching '}'), strings skipped; NULL if none. */
const char *jscan_obj_end(const char *p)
{
	int depth = 0;

	for (; *p; p++) {
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (!*p)
				return NULL;
		} else if (*p == '{') {
			depth++;
		} else if (*p == '}' && --depth == 0) {
			return p;
		}
	}
	return NULL;
}

