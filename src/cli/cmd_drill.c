/*
 * cmd_drill.c - "backupmx drill DOMAIN": prove that the backup MX works.
 *
 *   backupmx drill [options] DOMAIN
 *   backupmx drill --via-mx --count N [options] DOMAIN
 *
 * Resolves the MX set of DOMAIN (dns_mx_resolve), names the primary (best
 * preference) and the backups, and sends to every backup MX directly, as a
 * sender would while the primary is down, one uniquely tagged test message
 * (header X-Backupmx-Drill: TAG, the tag in the Subject) with the async SMTP
 * client.  It reports per backup: accepted or refused (with the reply), the
 * queue ID from the 250 reply, and timings.
 *
 * With --control PATH (or -c FILE and its control_socket) it follows the
 * message inside that backupmxd through the control verbs "show ID" and
 * "history ID" until the primary took it (status "sent"), and reports the
 * primary's reply and the end-to-end time; not delivered within --within S
 * is a failure.  --hold first holds the domain at the backup (the primary is
 * "down" from its point of view), checks the message is queued, releases.
 * --status-url http://IP:PORT follows it instead through the daemon's status
 * server (GET /history.json, the same document as "history", fetched with a
 * small HTTP/1.0 client on the io loop); --hold still needs the socket.
 *
 * --via-mx sends --count N messages the way an RFC 5321 sender does: MX
 * hosts in preference order, falling back to the next on a temporary
 * failure; it reports which MX took each message (used by "make demo").
 *
 * Outputs: human, --json, --nagios; exit codes as in "check": 0 OK,
 * 1 WARNING, 2 CRITICAL (a backup refused, or the message was never
 * delivered), 3 UNKNOWN (bad arguments, DNS failure, no daemon).
 *
 * This file is the run: set-up, the two modes, output.  The parts are in
 * drill_*.c (see drill.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "cli/cli_probe.h"
#include "cli/drill.h"
#include "dns/dns.h"
#include "io/io.h"

/* Send to every backup, and follow through the control socket when asked. */
static void drill_backups(struct drill *d)
{
	const struct dns_mx_set *set = d->set;
	int held = 0;

	if (d->control_used && d->hold) {
		if (drill_ctl_verb(d, "hold") < 0) {
			d->unknown = 1;
			return;
		}
		held = 1;
	}
	double t_sent = drill_now_s();
	for (size_t i = d->nprimary; i < set->nhosts; i++) {
		struct drill_send *s = &d->send[d->nsend++];
		snprintf(s->tag, sizeof(s->tag), "%s", d->tag);
		drill_send_host(d, &set->host[i], s);
	}
	if (held) {
		for (size_t i = 0; i < d->nsend; i++) {
			struct drill_send *s = &d->send[i];
			if (s->accepted && s->qid[0] && drill_show(d, s) == 1)
				s->held_queued = s->followed = 1;
		}
		if (drill_ctl_verb(d, "release") < 0) {
			d->unknown = 1;
			return;
		}
		drill_ctl_verb(d, "flush");
	}
	if (d->follow)
		drill_follow(d, t_sent);
}

/* Send --count messages the way a sender does. */
static void drill_senders(struct drill *d)
{
	for (int i = 0; i < d->count; i++) {
		struct drill_send *s = &d->send[d->nsend++];
		snprintf(s->tag, sizeof(s->tag), "%s-%d", d->tag, i + 1);
		drill_send_via_mx(d, s);
	}
}

/* The drill subcommand. */
int cli_cmd_drill(int argc, char **argv)
{
	static struct dns_mx_set set;
	struct drill d;

	memset(&d, 0, sizeof(d));
	d.count = 1;
	d.within_s = DRILL_WITHIN_DEFAULT;
	d.set = &set;
	int rc = drill_options(&d, argc, argv);
	if (rc >= 0)
		return rc;
	d.control_used = d.control || d.config;
	d.follow = d.control_used || d.status_url;
	size_t cap = d.via_mx ? (size_t)d.count : DNS_MX_HOSTS_MAX;
	d.send = calloc(cap, sizeof(*d.send));
	d.loop = io_loop_new();
	if (!d.send || !d.loop) {
		free(d.send);
		if (d.loop)
			io_loop_free(d.loop);
		return cli_probe_bad(&d.p, "%s", "out of memory");
	}
	d.tls = io_tls_client_new();
	uint64_t t0 = io_now_ms();
	if (drill_resolve(&d) == 0) {
		if (d.via_mx)
			drill_senders(&d);
		else
			drill_backups(&d);
	}
	d.elapsed_ms = (double)(io_now_ms() - t0);

	char sum[640];
	enum check_state st = drill_verdict(&d, sum, sizeof(sum));
	struct bmx_buf b;
	bmx_buf_init(&b);
	drill_report(&b, &d, st, sum);
	st = cli_probe_print(&d.p, &b, st);
	if (d.tls)
		io_tls_free(d.tls);
	io_loop_free(d.loop);
	free(d.send);
	return (int)st;
}
