/*
 * ptrcache.h - a small, bounded cache of client reverse names.
 *
 * backupmxd looks up the PTR name of every client for its log lines and the
 * Received header.  A busy sender opens many connections from one address;
 * without this cache each of them costs a round trip through libunbound's
 * worker thread even when the answer is in unbound's own cache.  Entries are
 * kept for min(TTL, SMTP_PTRCACHE_TTL_MAX) seconds; a temporary failure is
 * never cached.  The table is direct-mapped: a new address simply replaces
 * whatever shared its slot, so memory is fixed (SMTP_PTRCACHE_SLOTS).  Pure
 * code: the caller passes the time.
 */
#ifndef BMX_SMTP_PTRCACHE_H
#define BMX_SMTP_PTRCACHE_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_PTRCACHE_SLOTS   256    /* entries (fixed memory, about 80 KiB) */
#define SMTP_PTRCACHE_TTL_MAX 60     /* seconds an answer is kept at most */
#define SMTP_PTRCACHE_IP_MAX  46     /* INET6_ADDRSTRLEN */
#define SMTP_PTRCACHE_NAME_MAX 256   /* a DNS name without the trailing dot, NUL */

struct smtp_ptrcache;

/* Allocate an empty cache; NULL on failure. */
struct smtp_ptrcache *smtp_ptrcache_new(void);
/* Free the cache (NULL is fine). */
void smtp_ptrcache_free(struct smtp_ptrcache *pc);
/* Look up ip at time now (ms): 1 and the name ("" = no PTR) if cached, else 0. */
int smtp_ptrcache_get(struct smtp_ptrcache *pc, const char *ip, uint64_t now_ms, char *name,
		      size_t namelen);
/* Remember ip's name ("" = no PTR record) for min(ttl, TTL_MAX) seconds;
 * -1 (nothing stored) for an address or name that does not fit. */
int smtp_ptrcache_put(struct smtp_ptrcache *pc, const char *ip, const char *name, uint32_t ttl,
		      uint64_t now_ms);

#endif
