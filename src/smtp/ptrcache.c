/*
 * ptrcache.c - a small, bounded, direct-mapped cache of client reverse names
 * (see ptrcache.h).
 */
#include "smtp/ptrcache.h"

#include <stdlib.h>
#include <string.h>

struct ptr_slot {
	uint64_t expires_ms;          /* 0 = empty */
	char ip[SMTP_PTRCACHE_IP_MAX];
	char name[SMTP_PTRCACHE_NAME_MAX];
};

struct smtp_ptrcache {
	struct ptr_slot slot[SMTP_PTRCACHE_SLOTS];
};

/* FNV-1a of the address text, reduced to a slot index. */
static size_t ptr_slot_of(const char *ip)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)ip; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h % SMTP_PTRCACHE_SLOTS;
}

/* Allocate an empty cache. */
struct smtp_ptrcache *smtp_ptrcache_new(void)
{
	return calloc(1, sizeof(struct smtp_ptrcache));
}

/* Free the cache. */
void smtp_ptrcache_free(struct smtp_ptrcache *pc)
{
	free(pc);
}

/* Look up a live entry for ip. */
int smtp_ptrcache_get(struct smtp_ptrcache *pc, const char *ip, uint64_t now_ms, char *name,
		      size_t namelen)
{
	if (!pc || !ip || namelen == 0)
		return 0;
	struct ptr_slot *s = &pc->slot[ptr_slot_of(ip)];
	if (s->expires_ms == 0 || now_ms >= s->expires_ms || strcmp(s->ip, ip) != 0)
		return 0;
	size_t n = strlen(s->name);
	if (n >= namelen)
		return 0;
	memcpy(name, s->name, n + 1);
	return 1;
}

/* Store ip's name, replacing whatever shared the slot. */
int smtp_ptrcache_put(struct smtp_ptrcache *pc, const char *ip, const char *name, uint32_t ttl,
		      uint64_t now_ms)
{
	if (!pc || !ip || !name)
		return -1;
	size_t ilen = strlen(ip), nlen = strlen(name);
	if (ilen == 0 || ilen >= SMTP_PTRCACHE_IP_MAX || nlen >= SMTP_PTRCACHE_NAME_MAX)
		return -1;
	if (ttl > SMTP_PTRCACHE_TTL_MAX)
		ttl = SMTP_PTRCACHE_TTL_MAX;
	struct ptr_slot *s = &pc->slot[ptr_slot_of(ip)];
	if (ttl == 0) {
		s->expires_ms = 0;   /* a zero TTL must not be served again */
		return 0;
	}
	memcpy(s->ip, ip, ilen + 1);
	memcpy(s->name, name, nlen + 1);
	s->expires_ms = now_ms + (uint64_t)ttl * 1000;
	return 0;
}
