/*
 * rcptmap.c - the table of valid recipients, an open-addressing hash set.
 *
 * The set is a struct strtab (keys in an arena: a million recipients take
 * about 55 MiB); the file is read in 256 KiB chunks, never whole.
 * Keys are stored as "local@domain" with the domain lower-cased, and as
 * "@domain" for domain wildcards.  Local parts are compared exactly, and
 * additionally lower-cased (entries are stored lower-cased as well when they
 * are all lower-case, which is the common case), so "Alice@x" matches an
 * entry "alice@x" but an entry "Alice@x" only matches "Alice@x".
 */
#include "common/rcptmap.h"
#include "common/strtab.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RCPTMAP_CHUNK (256 * 1024)   /* octets read from the file at a time */

struct rcptmap {
	struct strtab *t;   /* the keys; values unused */
};

/* Insert a key (copied); duplicates are ignored. */
static int rcptmap_insert(struct rcptmap *m, const char *key)
{
	return strtab_put(m->t, key, strlen(key), 0, NULL) < 0 ? -1 : 0;
}

/* Is key in the set? */
static int rcptmap_has(const struct rcptmap *m, const char *key)
{
	return strtab_get(m->t, key, strlen(key), NULL);
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

/* An empty table, or NULL when out of memory. */
static struct rcptmap *rcptmap_new(void)
{
	struct rcptmap *m = calloc(1, sizeof(*m));
	if (m && !(m->t = strtab_new())) {
		free(m);
		m = NULL;
	}
	return m;
}

/* One line (len octets, no newline) of the table: skipped, added, or an
 * error (*why set); -1 only when out of memory. */
static int rcptmap_line(struct rcptmap *m, const char *line, size_t ll, const char **why)
{
	char key[RCPTMAP_LINE_MAX + 1];

	if (ll > RCPTMAP_LINE_MAX) {
		*why = "line too long";
		return 0;
	}
	if (memchr(line, 0, ll)) {
		*why = "NUL byte in line";
		return 0;
	}
	while (ll && isspace((unsigned char)*line))
		line++, ll--;
	const char *hash = memchr(line, '#', ll);
	if (hash)
		ll = (size_t)(hash - line);
	while (ll && isspace((unsigned char)line[ll - 1]))
		ll--;
	if (ll == 0 || rcptmap_norm(line, ll, key, sizeof(key), why) < 0)
		return 0;
	if (strtab_count(m->t) >= RCPTMAP_ENTRIES_MAX) {
		*why = "too many entries";
		return 0;
	}
	return rcptmap_insert(m, key);
}

/* Feed the complete lines of buf[0..len) to m (the last one too when last);
 * returns the octets used, or -1 with err filled. */
static long rcptmap_feed(struct rcptmap *m, const char *name, size_t *lineno, const char *buf,
			 size_t len, int last, char *err, size_t errlen)
{
	size_t pos = 0;

	while (pos < len) {
		const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		const char *why = NULL;
		if (!nl && !last)
			break;
		pos += ll + (nl ? 1 : 0);
		++*lineno;
		if (rcptmap_line(m, line, ll, &why) < 0) {
			snprintf(err, errlen, "%s: out of memory", name);
			return -1;
		}
		if (why) {
			snprintf(err, errlen, "%s:%zu: %s", name, *lineno, why);
			return -1;
		}
	}
	return (long)pos;
}

/* Build from a buffer. */
struct rcptmap *rcptmap_parse(const char *name, const char *buf, size_t len, char *err,
			      size_t errlen)
{
	struct rcptmap *m = rcptmap_new();
	size_t lineno = 0;

	if (!m) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	if (rcptmap_feed(m, name, &lineno, buf, len, 1, err, errlen) < 0) {
		rcptmap_free(m);
		return NULL;
	}
	return m;
}

/* Load a recipients file, chunk by chunk (a line longer than RCPTMAP_LINE_MAX
 * is an error, so the carry-over stays small). */
struct rcptmap *rcptmap_load(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct rcptmap *m = rcptmap_new();
	char *buf = malloc(RCPTMAP_CHUNK);
	size_t have = 0, lineno = 0;
	int eof = 0;

	if (!m || !buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	while (!eof || have) {
		if (!eof) {
			ssize_t r = read(fd, buf + have, RCPTMAP_CHUNK - have);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
				goto fail;
			}
			eof = r == 0;
			have += (size_t)r;
		}
		long used = rcptmap_feed(m, path, &lineno, buf, have, eof, err, errlen);
		if (used < 0)
			goto fail;
		memmove(buf, buf + used, have - (size_t)used);
		have -= (size_t)used;
		if (have > RCPTMAP_LINE_MAX) {
			snprintf(err, errlen, "%s:%zu: line too long", path, lineno + 1);
			goto fail;
		}
	}
	free(buf);
	close(fd);
	return m;
fail:
	free(buf);
	close(fd);
	rcptmap_free(m);
	return NULL;
}

/* Is local@domain a valid recipient? */
int rcptmap_match(const struct rcptmap *m, const char *local, const char *domain)
{
	char key[RCPTMAP_LINE_MAX + 2];
	if (!m || !m->t)
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
	return m ? strtab_count(m->t) : 0;
}

/* Free the table. */
void rcptmap_free(struct rcptmap *m)
{
	if (!m)
		return;
	strtab_free(m->t);
	free(m);
}
