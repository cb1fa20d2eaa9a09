/*
 * relay_target.c - next-hop choice for a destination.
 *
 * A `route DOMAIN = ...` entry overrides the MX lookup (IP literals with an
 * optional port, like Postfix's transport map with [brackets]).  Otherwise
 * the MX set is resolved (src/dns), our own host and every MX of equal or
 * higher preference number are dropped (mx_truncate_self), and the
 * remaining hosts' addresses, in preference order and DNS order, become the
 * targets.  We recognise ourselves by `hostname`, by the addresses we listen
 * on (every local interface address when we listen on a wildcard), and by
 * `proxy_interfaces`.  relay_set_config() switches to a reloaded
 * configuration for all new work.
 */
#include "relay/relay_int.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

#define RELAY_TARGET_TTL_MIN 30     /* seconds an MX answer is used at least */
#define RELAY_TARGET_TTL_MAX 3600   /* ... and at most */

/* Add one address to our self list (port ignored). */
static void relay_self_add(struct relay *r, const struct sockaddr_storage *ss)
{
	if (r->nself_addrs < RELAY_SELF_ADDRS_MAX)
		r->self_addrs[r->nself_addrs++] = *ss;
}

/* Is this a wildcard address (0.0.0.0 or ::)? */
static int relay_is_wildcard(const struct sockaddr_storage *ss)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, &any6, sizeof(any6)) == 0;
}

/* Use cfg for new work: every use reads r->cfg again, so only what was
 * copied from it (our own name, the verify cache, routed targets) is renewed. */
void relay_set_config(struct relay *r, const struct config *cfg)
{
	for (struct relay_dest *d = r->dest_list; d; d = d->next) {
		const struct config_domain_rule *o = config_domain_rule(r->cfg, d->domain);
		const struct config_domain_rule *n = config_domain_rule(cfg, d->domain);
		if ((o && o->hosts.n) || (n && n->hosts.n))
			d->targets_expire = 0;   /* a route may have changed: look again */
	}
	r->cfg = cfg;
	r->self_names[0] = cfg->hostname;
	if (cfg->recipient_verify && !r->verify)
		relay_verify_init(r);
}

/* Learn who we are from the configuration. */
void relay_self_init(struct relay *r)
{
	const struct config *cfg = r->cfg;
	struct sockaddr_storage ss;
	socklen_t sl;
	int wildcard = 0;

	r->self_names[0] = cfg->hostname;
	for (size_t i = 0; i < cfg->listen.n; i++) {
		if (io_parse_addrport(cfg->listen.v[i], 25, &ss, &sl) < 0)
			continue;
		if (relay_is_wildcard(&ss))
			wildcard = 1;
		else
			relay_self_add(r, &ss);
	}
	for (size_t i = 0; i < cfg->proxy_interfaces.n; i++)
		if (io_parse_addrport(cfg->proxy_interfaces.v[i], 25, &ss, &sl) == 0)
			relay_self_add(r, &ss);
	if (!wildcard)
		return;
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) < 0)
		return;
	for (struct ifaddrs *p = ifa; p; p = p->ifa_next) {
		if (!p->ifa_addr || (p->ifa_addr->sa_family != AF_INET &&
				     p->ifa_addr->sa_family != AF_INET6))
			continue;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, p->ifa_addr, p->ifa_addr->sa_family == AF_INET
					     ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		relay_self_add(r, &ss);
	}
	freeifaddrs(ifa);
}

/* Same address (ignoring ports)? */
static int relay_same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
	return 0;
}

/* Is sa one of the destination's next-hop addresses (a primary)? */
int relay_addr_is_target(const struct relay_dest *d, const struct sockaddr *sa)
{
	for (size_t i = 0; i < d->ntargets; i++)
		if (relay_same_addr((const struct sockaddr *)&d->targets[i].sa, sa))
			return 1;
	return 0;
}

/* Set the port of an address. */
static void relay_set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/* Room for n next hops (at most RELAY_TARGETS_MAX) in d->targets, which
 * only grows: a destination costs what its MX set needs, not 64 slots.
 * Returns how many fit (0 without memory). */
static size_t relay_targets_reserve(struct relay_dest *d, size_t n)
{
	if (n > RELAY_TARGETS_MAX)
		n = RELAY_TARGETS_MAX;
	if (n > d->targets_cap) {
		struct relay_target *t = realloc(d->targets, n * sizeof(*t));
		if (!t)
			return d->targets_cap;
		d->targets = t;
		d->targets_cap = n;
	}
	return n;
}

/* Targets from a static route; 0, or -1 when no entry is usable. */
static int relay_targets_route(struct relay_dest *d, const struct config_domain_rule *rule)
{
	size_t cap = relay_targets_reserve(d, rule->hosts.n);
	d->ntargets = 0;
	for (size_t i = 0; i < rule->hosts.n && d->ntargets < cap; i++) {
		char buf[DNS_NAME_MAX + 16];
		const char *h = rule->hosts.v[i];
		struct relay_target *t = &d->targets[d->ntargets];
		snprintf(buf, sizeof(buf), "%s", h);
		/* the config writes "[192.0.2.1]:25"; io wants brackets for IPv6 only */
		char *rb = buf[0] == '[' ? strchr(buf, ']') : NULL;
		if (rb && !memchr(buf, ':', (size_t)(rb - buf))) {
			memmove(buf, buf + 1, (size_t)(rb - buf) - 1);
			memmove(rb - 1, rb + 1, strlen(rb + 1) + 1);
		}
		if (io_parse_addrport(buf, (int)d->r->cfg->relay_port, &t->sa, &t->salen) < 0) {
			log_warn("route %s: %s is not an IP address; only [ip]:port routes are "
				 "supported", d->domain, h);
			continue;
		}
		snprintf(t->host, sizeof(t->host), "%s", h);
		d->ntargets++;
	}
	d->targets_expire = time(NULL) + RELAY_TARGET_TTL_MAX;
	return d->ntargets ? 0 : -1;
}

static void relay_targets_mx_apply(struct relay_dest *d, const struct dns_mx_set *cset);
static void relay_targets_mx_start(struct relay_dest *d);

/* Start the lookups waiting in line while slots are free. */
static void relay_resolve_next(struct relay *r)
{
	while (r->rq_head && r->nresolving < RELAY_RESOLVE_MAX) {
		struct relay_dest *d = r->rq_head;
		r->rq_head = d->rq_next;
		if (!r->rq_head)
			r->rq_tail = NULL;
		d->rq_next = NULL;
		r->nrq--;
		relay_targets_mx_start(d);
	}
}

/* MX answer for a destination: apply it, then start waiting callouts. */
static void relay_targets_mx_done(const struct dns_mx_set *cset, void *arg)
{
	struct relay_dest *d = arg;
	struct relay *r = d->r;
	r->nresolving--;
	relay_targets_mx_apply(d, cset);
	relay_verify_targets_ready(d);
	relay_proxy_targets_ready(d);
	relay_resolve_next(r);
}

/* Turn an MX answer into next hops (or a down/loop state). */
static void relay_targets_mx_apply(struct relay_dest *d, const struct dns_mx_set *cset)
{
	struct relay *r = d->r;
	char err[RELAY_ERR_MAX];
	struct dns_mx_set *set = malloc(sizeof(*set));

	d->resolving = RELAY_RESOLVE_NONE;
	d->dns_id = 0;
	if (!set) {
		relay_dest_down(d, "out of memory");
		return;
	}
	*set = *cset;
	if (set->status != DNS_OK) {
		snprintf(err, sizeof(err), "DNS lookup of the MX of %s failed: %s%s%s", d->domain,
			 dns_status_str(set->status), set->why[0] ? ": " : "", set->why);
		free(set);
		relay_dest_down(d, err);
		return;
	}
	if (set->null_mx) {
		free(set);
		relay_dest_down(d, "the domain has a null MX (RFC 7505): it accepts no mail");
		return;
	}
	struct mx_self self = {1, r->self_names, r->nself_addrs, r->self_addrs};
	enum mx_self_result sr = mx_truncate_self(set, &self);
	if (sr == MX_SELF_LOOP) {
		free(set);
		relay_dest_loop(d);
		return;
	}
	size_t want = 0;
	for (size_t h = 0; h < set->nhosts; h++)
		want += set->host[h].naddr;
	size_t cap = relay_targets_reserve(d, want);
	d->ntargets = 0;
	for (size_t h = 0; h < set->nhosts; h++) {
		for (size_t a = 0; a < set->host[h].naddr && d->ntargets < cap; a++) {
			struct relay_target *t = &d->targets[d->ntargets++];
			t->sa = set->host[h].addr[a];
			relay_set_port(&t->sa, r->cfg->relay_port);
			t->salen = t->sa.ss_family == AF_INET ? sizeof(struct sockaddr_in)
							       : sizeof(struct sockaddr_in6);
			snprintf(t->host, sizeof(t->host), "%s", set->host[h].name);
		}
	}
	uint32_t ttl = set->mx_ttl;
	if (ttl < RELAY_TARGET_TTL_MIN)
		ttl = RELAY_TARGET_TTL_MIN;
	if (ttl > RELAY_TARGET_TTL_MAX)
		ttl = RELAY_TARGET_TTL_MAX;
	d->targets_expire = time(NULL) + ttl;
	free(set);
	if (d->ntargets == 0) {
		snprintf(err, sizeof(err), "no address for any MX host of %s more preferred than us",
			 d->domain);
		relay_dest_down(d, err);
		return;
	}
	relay_dest_unloop(d);
	if (d->state == DEST_DOWN || d->probe_after_resolve)
		relay_probe_start(d);
	else
		relay_dest_kick(d);
}

/* Work out the next hops of a destination (async for MX lookups). */
void relay_targets_resolve(struct relay_dest *d)
{
	const struct config_domain_rule *rule = config_domain_rule(d->r->cfg, d->domain);
	if (rule && rule->hosts.n) {
		if (relay_targets_route(d, rule) < 0)
			relay_dest_down(d, "no usable host in the route");
		else if (d->state == DEST_DOWN || d->probe_after_resolve)
			relay_probe_start(d);
		else
			relay_dest_kick(d);
		relay_verify_targets_ready(d);
		relay_proxy_targets_ready(d);
		return;
	}
	if (d->resolving)
		return;
	struct relay *r = d->r;
	if (r->nresolving >= RELAY_RESOLVE_MAX) {   /* in line, first come first served */
		d->resolving = RELAY_RESOLVE_QUEUED;
		r->nrq++;
		log_debug("MX lookup of %s waits for a slot (%u in flight, %zu waiting)", d->domain,
			  r->nresolving, r->nrq);
		if (r->rq_tail)
			r->rq_tail->rq_next = d;
		else
			r->rq_head = d;
		r->rq_tail = d;
		return;
	}
	relay_targets_mx_start(d);
}

/* Start d's MX lookup (a slot is free). */
static void relay_targets_mx_start(struct relay_dest *d)
{
	d->resolving = RELAY_RESOLVE_RUNNING;
	d->r->nresolving++;
	long id = dns_mx_resolve(d->r->dns, d->domain, 0, relay_targets_mx_done, d);
	if (id < 0) {
		d->r->nresolving--;
		d->resolving = RELAY_RESOLVE_NONE;
		relay_dest_down(d, "cannot start the MX lookup");
		return;
	}
	if (d->resolving == RELAY_RESOLVE_RUNNING)   /* not answered from the cache at once */
		d->dns_id = id;
}
