/*
 * strtab.c - a string table: an open-addressing hash map from strings to
 * 32-bit values (see strtab.h for the rules).
 *
 * Slots are {hash, value, key}: 16 octets.  The capacity is a power of two
 * and the table grows (doubling, rehashing from the stored hashes) before it
 * is 3/4 full.  Keys live NUL-terminated in a chain of arena chunks that
 * grow from 4 KiB to 1 MiB, so a million keys cost a few hundred mallocs,
 * not a million.  The hash is 64-bit FNV-1a with a final avalanche, folded
 * to 32 bits; the tables are built from the administrator's files, the
 * keys looked up come from peers but are never inserted.
 */
#include "common/strtab.h"

#include <stdlib.h>
#include <string.h>

#define STRTAB_CHUNK_MIN  4096u           /* first arena chunk */
#define STRTAB_CHUNK_MAX  (1024u * 1024u) /* arena chunks grow up to this */
#define STRTAB_CAP_MIN    16u             /* first slot array */
#define STRTAB_KEYS_MAX   0x7fffffffu     /* keys in one table */

struct strtab_slot {
	uint32_t hash;
	uint32_t val;
	const char *key;    /* NULL: empty slot */
};

struct strtab_chunk {
	struct strtab_chunk *next;
	size_t used, cap;
	char data[];
};

struct strtab {
	size_t cap, n;     /* cap: a power of two (0 before the first put) */
	struct strtab_slot *slot;
	struct strtab_chunk *arena;   /* the newest chunk first */
	size_t arena_bytes;
};

/* The 32-bit hash of len octets. */
static uint32_t strtab_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)(h ^ (h >> 32));
}

/* An empty table, or NULL when out of memory. */
struct strtab *strtab_new(void)
{
	return calloc(1, sizeof(struct strtab));
}

/* Free the table and every key it holds. */
void strtab_free(struct strtab *t)
{
	if (!t)
		return;
	while (t->arena) {
		struct strtab_chunk *c = t->arena;
		t->arena = c->next;
		free(c);
	}
	free(t->slot);
	free(t);
}

/* The slot index of key, or of the empty slot where it would go. */
static size_t strtab_find(const struct strtab *t, const char *key, size_t len, uint32_t h)
{
	size_t mask = t->cap - 1, i = h & mask;
	for (;;) {
		const struct strtab_slot *s = &t->slot[i];
		if (!s->key)
			return i;
		if (s->hash == h && memcmp(s->key, key, len) == 0 && s->key[len] == '\0')
			return i;
		i = (i + 1) & mask;
	}
}

/* Double the slot array (or make the first one); 0 or -1. */
static int strtab_grow(struct strtab *t)
{
	size_t ncap = t->cap ? t->cap * 2 : STRTAB_CAP_MIN;
	struct strtab_slot *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		const struct strtab_slot *s = &t->slot[i];
		if (!s->key)
			continue;
		size_t j = s->hash & (ncap - 1);
		while (ns[j].key)
			j = (j + 1) & (ncap - 1);
		ns[j] = *s;
	}
	free(t->slot);
	t->slot = ns;
	t->cap = ncap;
	return 0;
}

/* A NUL-terminated copy of key in the arena, or NULL when out of memory. */
static const char *strtab_keep(struct strtab *t, const char *key, size_t len)
{
	struct strtab_chunk *c = t->arena;
	if (!c || c->cap - c->used < len + 1) {
		size_t cap = c ? c->cap * 2 : STRTAB_CHUNK_MIN;
		if (cap > STRTAB_CHUNK_MAX)
			cap = STRTAB_CHUNK_MAX;
		if (cap < len + 1)
			cap = len + 1;
		struct strtab_chunk *nc = malloc(sizeof(*nc) + cap);
		if (!nc)
			return NULL;
		nc->next = c;
		nc->used = 0;
		nc->cap = cap;
		t->arena = c = nc;
		t->arena_bytes += sizeof(*nc) + cap;
	}
	char *k = c->data + c->used;
	memcpy(k, key, len);
	k[len] = '\0';
	c->used += len + 1;
	return k;
}

/* Add key with val: 1 added, 0 already there (*old = its value), -1 no memory. */
int strtab_put(struct strtab *t, const char *key, size_t len, uint32_t val, uint32_t *old)
{
	uint32_t h = strtab_hash(key, len);

	if (memchr(key, '\0', len) || t->n >= STRTAB_KEYS_MAX)
		return -1;
	if ((t->n + 1) * 4 > t->cap * 3 && strtab_grow(t) < 0)
		return -1;
	size_t i = strtab_find(t, key, len, h);
	if (t->slot[i].key) {
		if (old)
			*old = t->slot[i].val;
		return 0;
	}
	const char *k = strtab_keep(t, key, len);
	if (!k)
		return -1;
	t->slot[i].hash = h;
	t->slot[i].val = val;
	t->slot[i].key = k;
	t->n++;
	return 1;
}

/* Is key in t?  1 (value in *val) or 0. */
int strtab_get(const struct strtab *t, const char *key, size_t len, uint32_t *val)
{
	if (!t || t->n == 0)
		return 0;
	size_t i = strtab_find(t, key, len, strtab_hash(key, len));
	if (!t->slot[i].key)
		return 0;
	if (val)
		*val = t->slot[i].val;
	return 1;
}

/* Number of keys. */
size_t strtab_count(const struct strtab *t)
{
	return t ? t->n : 0;
}

/* Octets the table holds (slots and arena). */
size_t strtab_bytes(const struct strtab *t)
{
	return t ? sizeof(*t) + t->cap * sizeof(struct strtab_slot) + t->arena_bytes : 0;
}
