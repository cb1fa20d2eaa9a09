/*
 * strtab.h - a string table: an open-addressing hash map from strings to
 * 32-bit values, for tables of any size (relay_domains, per-domain rules,
 * etrn_networks, recipients).
 *
 * Keys are copied into an arena owned by the table and never move; a key
 * may hold any octet but NUL and is given with its length, so a suffix of a
 * longer string can be looked up without a copy.  Lookups and inserts are
 * O(1) on average (linear probing, the table at most 3/4 full, each slot
 * keeps its hash so a probe rarely touches the key).  Nothing is ever
 * removed.  The only limit is memory (and 2^31 keys).  Not thread-safe;
 * a finished table may be read by any number of readers.
 */
#ifndef BMX_STRTAB_H
#define BMX_STRTAB_H

#include <stddef.h>
#include <stdint.h>

struct strtab;

/* An empty table, or NULL when out of memory. */
struct strtab *strtab_new(void);
/* Free the table and every key it holds; NULL is a no-op. */
void strtab_free(struct strtab *t);
/* Add key (len octets) with val: 1 if added, 0 if it was already there (its
 * value is kept and written to *old unless old is NULL), -1 out of memory. */
int strtab_put(struct strtab *t, const char *key, size_t len, uint32_t val, uint32_t *old);
/* Is key (len octets) in t?  1 (and its value in *val unless val is NULL) or 0. */
int strtab_get(const struct strtab *t, const char *key, size_t len, uint32_t *val);
/* Number of keys (0 for NULL). */
size_t strtab_count(const struct strtab *t);
/* Octets the table holds (slots and arena), for the benchmarks. */
size_t strtab_bytes(const struct strtab *t);

#endif
