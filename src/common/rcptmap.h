/*
 * rcptmap.h - the table of valid recipients (the `recipients` file).
 *
 * One address per line ("user@example.com"), or "@example.com" for every
 * mailbox of a domain; '#' comments and blank lines are ignored.  Lookups are
 * case-insensitive on the domain and case-sensitive on the local part except
 * that an all-lowercase entry also matches any case (what admins expect).
 * The table is immutable once loaded; SIGHUP loads a new one and swaps it.
 */
#ifndef BMX_RCPTMAP_H
#define BMX_RCPTMAP_H

#include <stddef.h>

#define RCPTMAP_LINE_MAX     1024     /* longest line in the file */
#define RCPTMAP_ENTRIES_MAX  10000000 /* refuse absurd files */

struct rcptmap;

/* Load a recipients file; NULL with err ("file:line: message") on failure. */
struct rcptmap *rcptmap_load(const char *path, char *err, size_t errlen);
/* Build from a buffer (tests, fuzzing). */
struct rcptmap *rcptmap_parse(const char *name, const char *buf, size_t len, char *err,
			      size_t errlen);
/* Is local@domain (domain lower-case) a valid recipient? */
int rcptmap_match(const struct rcptmap *m, const char *local, const char *domain);
size_t rcptmap_count(const struct rcptmap *m);
void rcptmap_free(struct rcptmap *m);

#endif
