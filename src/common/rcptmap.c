/*
 * rcptmap.c - the table of valid recipients, an open-addressing hash set.
 *
 * Keys are stored as "local@domain" with the domain lower-cased, and as
 * "@domain" for domain wildcards.  Local parts are compared exactly, and
 * additionally lower-cased (entries are stored lower-cased as well when they
 * are all lower-case, which is the common case), so "Alice@x" matches an
 * entry "alice@x" but an entry "Alice@x" only matches "Alice@x".
 */
#include "common/rcptmap.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rcptmap {
	size_t cap;     /* power of two */
	size_t n;
	char **slot;
};

/* FNV-1a hash of a string. */
static uint64_t rcptmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Find the slot for key (existing or empty). */
static size_t rcptmap_slot(const struct rcptmap *m, const char *key)
{
	size_t i = rcptmap_hash(key) & (m->cap - 1);
	while (m->slot[i] && strcmp(m->slot[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

/* Grow the table to twice its size. */
static int rcptmap_grow(struct rcptmap *m)
{
	struct rcptmap nm = {m->cap ? m->cap * 2 : 64, 0, NULL};
	nm.slot = calloc(nm.cap, sizeof(char *));
	if (!nm.slot)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slot[i]) {
			nm.slot[rcptmap_slot(&nm, m->slot[i])] = m->slot[i];
			nm.n++;
		}
	}
	free(m->slot);
	*m = nm;
	return 0;
}

/* Insert a key (copied); duplicates are ignored. */
static int rcptmap_insert(struct rcptmap *m, const char *key)
{
	if ((m->n + 1) * 2 > m->cap && rcptmap_grow(m) < 0)
		return -1;
	size_t i = rcptmap_slot(m, key);
	if (m->slot[i])
		return 0;
	if (!(m->slot[i] = strdup(key)))
		return -1;
	m->n++;
	return 0;
}

/* Is key in the set? */
static int rcptmap_has(const struct rcptmap *m, const char *key)
{
	return m->cap && m->slot[rcptmap_slot(m, key)] != NULL;
}

/* Validate and normalise one entry into out; 0 or -1 with *why. */
static int rcptmap_norm(const char *s, size_t len, char *out, size_t outlen, const char **why)
{
	const char *at = memrchr(s, '@', len);
	if (!at) {
		*why = "entry needs an '@' (user@domain or @domain)";
		return -1;
	}
	size_t llen = (size_t)(at - s), dlen = len - llen - 1;
	if (dlen == 0 || len + 1 > outlen) {
		*why = dlen ? "entry too long" : "empty domain";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f) {
			*why = "control character or space in entry";
			return -1;
		}
	}
	memcpy(out, s, len);
	out[len] = 0;
	for (size_t i = llen + 1; i < len; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	if (out[len - 1] == '.')
		out[len - 1] = 0;
	return 0;
}

/* Build from a buffer. */
struct rcptmap *rcptmap_parse(const char *name, const char *buf, size_t len, char *err,
			      size_t errlen)
{
	struct rcptmap *m = calloc(1, sizeof(*m));
	size_t lineno = 0, pos = 0;
	char key[RCPTMAP_LINE_MAX + 1];

	if (!m || rcptmap_grow(m) < 0)
		goto oom;
	while (pos < len) {
		const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		const char *why = NULL;
		pos += ll + (nl ? 1 : 0);
		lineno++;
		if (ll > RCPTMAP_LINE_MAX)
			why = "line too long";
		else if (memchr(line, 0, ll))
			why = "NUL byte in line";
		if (!why) {
			while (ll && isspace((unsigned char)*line))
				line++, ll--;
			const char *hash = memchr(line, '#', ll);
			if (hash)
				ll = (size_t)(hash - line);
			while (ll && isspace((unsigned char)line[ll - 1]))
				ll--;
			if (ll == 0)
				continue;
			if (rcptmap_norm(line, ll, key, sizeof(key), &why) == 0) {
				if (m->n >= RCPTMAP_ENTRIES_MAX)
					why = "too many entries";
				else if (rcptmap_insert(m, key) < 0)
					goto oom;
			}
		}
		if (why) {
			snprintf(err, errlen, "%s:%zu: %s", name, lineno, why);
			rcptmap_free(m);
			return NULL;
		}
	}
	return m;
oom:
	snprintf(err, errlen, "%s: out of memory", name);
	rcptmap_free(m);
	return NULL;
}

/* Load a recipients file. */
struct rcptmap *rcptmap_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	char chunk[65536];
	size_t r;
	while (mem && (r = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, r, mem);
	int rerr = ferror(f);
	fclose(f);
	if (!mem || fclose(mem) != 0 || rerr) {
		free(buf);
		snprintf(err, errlen, "%s: read error", path);
		return NULL;
	}
	struct rcptmap *m = rcptmap_parse(path, buf, len, err, errlen);
	free(buf);
	return m;
}

/* Is local@domain a valid recipient? */
int rcptmap_match(const struct rcptmap *m, const char *local, const char *domain)
{
	char key[RCPTMAP_LINE_MAX + 2];
	if (!m)
		return 0;
	if (snprintf(key, sizeof(key), "@%s", domain) >= (int)sizeof(key))
		return 0;
	if (rcptmap_has(m, key))
		return 1;
	if (snprintf(key, sizeof(key), "%s@%s", local, domain) >= (int)sizeof(key))
		return 0;
	if (rcptmap_has(m, key))
		return 1;
	for (char *p = key; *p && *p != '@'; p++)
		*p = (char)tolower((unsigned char)*p);
	return rcptmap_has(m, key);
}

/* Number of entries. */
size_t rcptmap_count(const struct rcptmap *m)
{
	return m ? m->n : 0;
}

/* Free the table. */
void rcptmap_free(struct rcptmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		free(m->slot[i]);
	free(m->slot);
	free(m);
}
