/*
 * drill_dns.c - "backupmx drill": the MX lookup of DOMAIN.
 *
 * dns_mx_resolve() on the drill's io loop (resolver and -4/-6 from the
 * options), bounded by 3 x --timeout + 1 s in all.  The result goes into
 * d->set; the primaries are the hosts of the best preference (d->nprimary
 * of them, first in the set).  NXDOMAIN, a null MX and no MX hosts are
 * CRITICAL (d->critical), a lookup failure UNKNOWN (d->unknown), each with
 * d->note saying why.
 */
#include <stdio.h>
#include <string.h>

#include "cli/drill.h"
#include "dns/dns.h"
#include "io/io.h"

/* The MX set arrived. */
static void drill_mx_cb(const struct dns_mx_set *set, void *arg)
{
	struct drill *d = arg;

	memcpy(d->set, set, sizeof(*set));
	d->dns_done = 1;
	io_loop_break(d->loop);
}

/* The resolution took too long. */
static void drill_dns_timeout(void *arg)
{
	struct drill *d = arg;

	io_loop_break(d->loop);
}

/* Resolve the MX set; 0, or -1 with d->note set (exit 3 or 2). */
int drill_resolve(struct drill *d)
{
	char err[256];
	struct dns_ctx *dns = dns_new(d->loop, d->p.resolver, 0, err, sizeof(err));

	if (!dns) {
		snprintf(d->note, sizeof(d->note), "resolver: %s", err);
		d->unknown = 1;
		return -1;
	}
	dns_set_timeout(dns, d->p.timeout_ms);
	struct io_timer *t = io_timer_new(d->loop, drill_dns_timeout, d);
	long id = dns_mx_resolve(dns, d->domain,
				 d->p.family == 4 ? DNS_MX_NO_V6 : d->p.family == 6 ? DNS_MX_NO_V4 : 0,
				 drill_mx_cb, d);
	if (id < 0 || !t) {
		snprintf(d->note, sizeof(d->note), "cannot start the MX lookup");
		d->unknown = 1;
		io_timer_free(t);
		dns_free(dns);
		return -1;
	}
	io_timer_add(t, 3 * d->p.timeout_ms + 1000);
	io_loop_run(d->loop);
	if (!d->dns_done)
		dns_mx_cancel(dns, id);
	io_timer_free(t);
	dns_free(dns);
	if (!d->dns_done) {
		snprintf(d->note, sizeof(d->note), "MX lookup of %s timed out", d->domain);
		d->unknown = 1;
		return -1;
	}
	const struct dns_mx_set *s = d->set;
	if (s->status == DNS_NXDOMAIN) {
		snprintf(d->note, sizeof(d->note), "%s does not exist (NXDOMAIN)", d->domain);
		d->critical = 1;
		return -1;
	}
	if (s->status != DNS_OK) {
		snprintf(d->note, sizeof(d->note), "MX lookup of %s failed: %s %s", d->domain,
			 dns_status_str(s->status), s->why);
		d->unknown = 1;
		return -1;
	}
	if (s->null_mx) {
		snprintf(d->note, sizeof(d->note), "%s has a null MX: it accepts no mail",
			 d->domain);
		d->critical = 1;
		return -1;
	}
	if (s->nhosts == 0) {
		snprintf(d->note, sizeof(d->note), "%s has no MX hosts", d->domain);
		d->critical = 1;
		return -1;
	}
	d->nprimary = 0;
	while (d->nprimary < s->nhosts && s->host[d->nprimary].pref == s->host[0].pref)
		d->nprimary++;
	return 0;
}
