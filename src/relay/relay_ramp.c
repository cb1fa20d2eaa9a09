/*
 * relay_ramp.c - how many connections a destination gets: the concurrency
 * ramp, driven by the primary's own feedback (as Postfix's destination
 * concurrency feedback is).
 *
 * A destination that comes up starts at RELAY_INITIAL_CONCURRENCY.
 *
 *   slow start   every delivered message (2xx after DATA) raises the limit
 *                by one, so it doubles per round of replies, until the
 *                first sign of overload or max_concurrency;
 *   overload     a connection that fails before it is ready (refused,
 *                timed out, a 421 or other non-2xx greeting, TLS failure)
 *                or a ready one that times out, while other connections to
 *                the destination still work: the limit drops to the number
 *                of connections still open and stays there for
 *                RELAY_RAMP_HOLD_S seconds;
 *   afterwards   additive increase: one more connection per `limit`
 *                messages delivered, so a primary that takes only N
 *                connections sees one refused attempt per hold period.
 *
 * Per-recipient 4xx replies (greylisting, a full mailbox) say nothing about
 * load and leave the limit alone.  A failure with no other working
 * connection is not feedback either: the destination is down and probed.
 * max_concurrency is the hard cap whatever the ramp says.  Every raise ends
 * in relay_dest_kick(), the one place that opens connections.
 */
#include "relay/relay_int.h"

#include "common/log.h"

/* The cap: max_concurrency, at least 1. */
static unsigned relay_ramp_cap(const struct relay_dest *d)
{
	unsigned max = d->r->cfg->max_concurrency;
	return max ? max : 1;
}

/* The limit in force now (never above the cap). */
unsigned relay_ramp_limit(const struct relay_dest *d)
{
	unsigned cap = relay_ramp_cap(d);
	return d->limit < cap ? d->limit : cap;
}

/* A destination (re)starts: the initial limit, slow start, no hold. */
void relay_ramp_reset(struct relay_dest *d)
{
	d->limit = RELAY_INITIAL_CONCURRENCY;
	d->ramp_credit = 0;
	d->ramp_linear = 0;
	d->ramp_hold_until = 0;
}

/* A message was delivered on one of d's connections: maybe raise the limit. */
void relay_ramp_success(struct relay_dest *d)
{
	if (d->limit >= relay_ramp_cap(d) || time(NULL) < d->ramp_hold_until)
		return;
	if (d->ramp_linear && ++d->ramp_credit < d->limit)
		return;
	d->ramp_credit = 0;
	d->limit++;
	relay_dest_kick(d);
}

/* A connection failed in a way that means "too many" while `open` others
 * remain: the limit becomes their number (never more than it was: after a
 * drop, more connections than the limit can still be open) and is held
 * there for a while. */
void relay_ramp_overload(struct relay_dest *d, unsigned open, const char *why)
{
	unsigned limit = open < d->limit ? open : d->limit;
	if (limit == 0)
		limit = 1;
	if (limit < d->limit)
		log_info("concurrency for %s lowered to %u (was %u): %s", d->domain, limit,
			 d->limit, why);
	else if (!d->ramp_linear)
		log_info("concurrency for %s held at %u: %s", d->domain, limit, why);
	d->limit = limit;
	d->ramp_linear = 1;
	d->ramp_credit = 0;
	d->ramp_hold_until = time(NULL) + RELAY_RAMP_HOLD_S;
	d->ramp_overloads++;
}
