/*
 * mx.c - pure MX selection logic (RFC 5321 section 5.1).
 *
 * mx_sort() orders an MX set by preference, keeping the relative order of
 * equal preferences before shuffling each such run with an injected random
 * function.  mx_truncate_self() drops our own host and every host that is not
 * strictly more preferred than us, and says when we are the best MX (mail
 * would loop back to ourselves).  No DNS, no I/O: table-tested in
 * tests/unit/test_mx.c.
 */
#include "dns/mx.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Default random source: random() reduced to 0..n-1. */
static unsigned mx_random(unsigned n)
{
	return n ? (unsigned)((unsigned long)random() % n) : 0;
}

/* Sort by preference (stable), then shuffle runs of equal preference. */
void mx_sort(struct dns_mx_set *set, unsigned (*rnd)(unsigned n))
{
	struct dns_mx_host tmp;
	size_t n;

	if (set == NULL)
		return;
	if (rnd == NULL)
		rnd = mx_random;
	n = set->nhosts > DNS_MX_HOSTS_MAX ? DNS_MX_HOSTS_MAX : set->nhosts;
	/* insertion sort: stable, and n <= 32 */
	for (size_t i = 1; i < n; i++) {
		size_t j = i;
		if (set->host[j - 1].pref <= set->host[j].pref)
			continue;
		tmp = set->host[i];
		while (j > 0 && set->host[j - 1].pref > tmp.pref) {
			set->host[j] = set->host[j - 1];
			j--;
		}
		set->host[j] = tmp;
	}
	/* Fisher-Yates over each run of equal preference */
	for (size_t start = 0; start < n;) {
		size_t end = start + 1;
		while (end < n && set->host[end].pref == set->host[start].pref)
			end++;
		for (size_t k = end - start; k > 1; k--) {
			unsigned r = rnd((unsigned)k);
			if (r >= k)
				r = (unsigned)(k - 1);
			size_t a = start + k - 1, b = start + r;
			if (a != b) {
				tmp = set->host[a];
				set->host[a] = set->host[b];
				set->host[b] = tmp;
			}
		}
		start = end;
	}
}

/* Compare two host names ignoring case and one trailing dot on either side. */
static int mx_name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && la > 0 && strncasecmp(a, b, la) == 0;
}

/* Reduce an address to family + raw bytes; v4-mapped IPv6 counts as IPv4.  Returns length. */
static size_t mx_addr_key(const struct sockaddr_storage *ss, int *fam, uint8_t out[16])
{
	if (ss->ss_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		*fam = AF_INET;
		return 4;
	}
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(out, a->s6_addr + 12, 4);
			*fam = AF_INET;
			return 4;
		}
		memcpy(out, a->s6_addr, 16);
		*fam = AF_INET6;
		return 16;
	}
	return 0;
}

/* Do two socket addresses name the same IP (ports ignored)? */
static int mx_addr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	uint8_t ka[16], kb[16];
	int fa = 0, fb = 0;
	size_t la = mx_addr_key(a, &fa, ka), lb = mx_addr_key(b, &fb, kb);

	return la > 0 && la == lb && fa == fb && memcmp(ka, kb, la) == 0;
}

/* Is this MX host us? */
static int mx_host_is_self(const struct dns_mx_host *h, const struct mx_self *self)
{
	for (size_t i = 0; i < self->nnames; i++)
		if (self->names[i] != NULL && mx_name_eq(h->name, self->names[i]))
			return 1;
	size_t na = h->naddr > DNS_ADDRS_MAX ? DNS_ADDRS_MAX : h->naddr;
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < self->naddrs; j++)
			if (mx_addr_eq(&h->addr[i], &self->addrs[j]))
				return 1;
	return 0;
}

/* Drop ourselves and every MX with preference >= ours. */
enum mx_self_result mx_truncate_self(struct dns_mx_set *set, const struct mx_self *self)
{
	int found = 0;
	uint16_t ours = 0;
	size_t n, k = 0;

	if (set == NULL || self == NULL)
		return MX_SELF_ABSENT;
	n = set->nhosts > DNS_MX_HOSTS_MAX ? DNS_MX_HOSTS_MAX : set->nhosts;
	for (size_t i = 0; i < n; i++) {
		if (mx_host_is_self(&set->host[i], self) && (!found || set->host[i].pref < ours)) {
			ours = set->host[i].pref;
			found = 1;
		}
	}
	if (!found)
		return MX_SELF_ABSENT;
	for (size_t i = 0; i < n; i++) {
		if (set->host[i].pref < ours) {
			if (k != i)
				set->host[k] = set->host[i];
			k++;
		}
	}
	set->nhosts = k;
	return k == 0 ? MX_SELF_LOOP : MX_SELF_TRUNCATED;
}
