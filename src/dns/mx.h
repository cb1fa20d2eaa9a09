/*
 * mx.h - pure MX selection logic (RFC 5321 5.1): sorting, shuffling equal
 * preferences, and dropping ourselves and every less-preferred MX.
 */
#ifndef BMX_MX_H
#define BMX_MX_H

#include "dns/dns.h"

/* Sort hosts by preference; shuffle runs of equal preference with rnd(n)
 * returning 0..n-1 (NULL = random()).  Addresses keep DNS order. */
void mx_sort(struct dns_mx_set *set, unsigned (*rnd)(unsigned n));

/* Who we are: names (our hostname), addresses we listen on, proxy_interfaces. */
struct mx_self {
	size_t nnames;
	const char *const *names;
	size_t naddrs;
	const struct sockaddr_storage *addrs;
};
enum mx_self_result {
	MX_SELF_ABSENT = 0,   /* we are not among the MX hosts: keep all */
	MX_SELF_TRUNCATED,    /* we are listed; hosts more preferred than us remain */
	MX_SELF_LOOP,         /* we are the best MX: "mail for D loops back to myself" */
};
/* Drop our own host and every MX with preference >= ours.  A host is us
 * when its name matches one of self->names (case-insensitive) or any of its
 * addresses is one of self->addrs. */
enum mx_self_result mx_truncate_self(struct dns_mx_set *set, const struct mx_self *self);

#endif
