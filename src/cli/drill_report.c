/*
 * drill_report.c - "backupmx drill": the verdict and the three reports.
 *
 * drill_verdict() turns the run into the exit code (0 OK, 1 WARNING,
 * 2 CRITICAL, 3 UNKNOWN) and a one-line summary; drill_report() renders the
 * human text, the JSON document (schema_version 1; keys "backups" or, with
 * --via-mx, "messages") or the Nagios line with perfdata.  Pure: reads the
 * struct drill, writes only into the output buffer (struct bmx_buf).
 */
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "cli/drill.h"
#include "dns/dns.h"

/* The verdict (exit code) and the one-line summary. */
enum check_state drill_verdict(const struct drill *d, char *sum, size_t len)
{
	size_t acc = 0, refused = 0, sent = 0, undelivered = 0, primary = 0;
	double e2e = 0;

	for (size_t i = 0; i < d->nsend; i++) {
		const struct drill_send *s = &d->send[i];
		if (s->accepted)
			acc++;
		else
			refused++;
		if (s->accepted && d->via_mx && s->pref == d->set->host[0].pref)
			primary++;
		if (!strcmp(s->fstatus, "sent")) {
			sent++;
			if (s->e2e_s > e2e)
				e2e = s->e2e_s;
		} else if (s->followed) {
			undelivered++;
		}
	}
	if (d->unknown) {
		snprintf(sum, len, "%s", d->note);
		return CHECK_UNKNOWN;
	}
	if (d->critical) {
		snprintf(sum, len, "%s", d->note);
		return CHECK_CRITICAL;
	}
	if (d->via_mx) {
		snprintf(sum, len, "%zu of %zu messages accepted (%zu by a primary, "
			 "%zu by a backup)", acc, d->nsend, primary, acc - primary);
		return refused ? CHECK_CRITICAL : CHECK_OK;
	}
	if (d->nsend == 0) {
		snprintf(sum, len, "%s has no backup MX (every MX has preference %u)", d->domain,
			 (unsigned)d->set->host[0].pref);
		return CHECK_CRITICAL;
	}
	if (refused) {
		snprintf(sum, len, "%zu of %zu backup MX refused the drill message", refused,
			 d->nsend);
		return CHECK_CRITICAL;
	}
	if (d->follow && !d->control_found) {
		snprintf(sum, len, "no drill message reached the backupmxd at the %s",
			 d->status_url ? "status URL" : "control socket");
		return CHECK_CRITICAL;
	}
	if (undelivered) {
		snprintf(sum, len, "%zu drill message(s) not delivered to the primary within %g s%s%s%s",
			 undelivered, d->within_s, d->last_error[0] ? " (last delivery error: " : "",
			 d->last_error, d->last_error[0] ? ")" : "");
		return CHECK_CRITICAL;
	}
	if (d->hold) {
		for (size_t i = 0; i < d->nsend; i++)
			if (d->send[i].followed && !d->send[i].held_queued) {
				snprintf(sum, len, "the drill message was not queued while held");
				return CHECK_CRITICAL;
			}
	}
	if (sent)
		snprintf(sum, len, "%zu backup MX accepted the drill message; the primary had it "
			 "after %.1f s", acc, e2e);
	else
		snprintf(sum, len, "%zu backup MX accepted the drill message", acc);
	if (d->private_seen && !d->p.allow_private) {
		size_t n = strlen(sum);
		snprintf(sum + n, len - n, " (private addresses; --allow-private)");
		return CHECK_WARNING;
	}
	return CHECK_OK;
}

/* Whether the message went live to the primary ("relayed as" in the 250). */
static int drill_relayed(const struct drill_send *s)
{
	return s->accepted && strstr(s->reply, "relayed as ") != NULL;
}

/* What judged the message at the backup: its milters' verdicts and our
 * Authentication-Results, or why there are none (human report). */
static void drill_text_filter(struct bmx_buf *b, const struct drill_send *s)
{
	if (drill_relayed(s)) {
		bmx_buf_fmt(b, "    filtering: passed live to the primary, judged by its filters\n");
	} else if (s->filtered) {
		bmx_buf_fmt(b, "    filtering: passed the backup's milters: %s\n", s->ffilter);
		bmx_buf_fmt(b, "    Authentication-Results: %s\n",
				 s->fauthres[0] ? s->fauthres : "(none of ours)");
	} else if (s->followed) {
		bmx_buf_fmt(b, "    filtering: none at the backup (no milters configured)\n");
	}
}

/* Human report. */
static void drill_text(struct bmx_buf *b, const struct drill *d, enum check_state st,
		       const char *sum)
{
	bmx_buf_fmt(b, "backupmx drill %s  (tag %s)\n", d->domain, d->tag);
	if (d->set->nhosts > 0 && d->set->status == DNS_OK) {
		bmx_buf_fmt(b, "MX set:");
		for (size_t i = 0; i < d->set->nhosts; i++)
			bmx_buf_fmt(b, " %s %s (%u)", i < d->nprimary ? "primary" : "backup",
					 d->set->host[i].name, (unsigned)d->set->host[i].pref);
		bmx_buf_fmt(b, "\n");
	}
	for (size_t i = 0; i < d->nsend; i++) {
		const struct drill_send *s = &d->send[i];
		if (d->via_mx)
			bmx_buf_fmt(b, "message %s: ", s->tag);
		else
			bmx_buf_fmt(b, "backup ");
		if (s->accepted) {
			bmx_buf_fmt(b, "%s [%s] accepted in %.0f ms, queue ID %s\n",
					 s->host, s->addr, s->total_ms, s->qid[0] ? s->qid : "?");
			bmx_buf_fmt(b, "    reply: %s\n", s->reply);
		} else {
			bmx_buf_fmt(b, "%s [%s] REFUSED at %s: %s\n",
					 s->host[0] ? s->host : "(none)", s->addr, s->stage,
					 s->reply);
		}
		if (s->held_queued)
			bmx_buf_fmt(b, "    queued at the backup while %s was held\n",
					 d->domain);
		drill_text_filter(b, s);
		if (s->followed)
			bmx_buf_fmt(b, "    delivery to the primary: %s after %.1f s"
					 "%s%s%s%s\n",
					 s->fstatus[0] ? s->fstatus : "pending", s->e2e_s,
					 s->frelay[0] ? ", relay " : "", s->frelay,
					 s->freply[0] ? ", reply: " : "", s->freply);
	}
	bmx_buf_fmt(b, "%s: %s\n", check_state_name(st), sum);
}

/* JSON report. */
static void drill_json(struct bmx_buf *b, const struct drill *d, enum check_state st,
		       const char *sum)
{
	bmx_buf_fmt(b, "{\"schema_version\":1,\"domain\":");
	check_json_str(b, d->domain);
	bmx_buf_fmt(b, ",\"tag\":");
	check_json_str(b, d->tag);
	bmx_buf_fmt(b, ",\"mode\":\"%s\",\"from\":", d->via_mx ? "via-mx" : "backups");
	check_json_str(b, d->from);
	bmx_buf_fmt(b, ",\"to\":");
	check_json_str(b, d->to);
	bmx_buf_fmt(b, ",\"state\":\"%s\",\"exit_code\":%d,\"summary\":",
			 check_state_name(st), (int)st);
	check_json_str(b, sum);
	bmx_buf_fmt(b, ",\"elapsed_ms\":%.0f,\"hold\":%s,\"within_s\":%g,\"mx\":[",
			 d->elapsed_ms, d->hold ? "true" : "false", d->within_s);
	for (size_t i = 0; d->set->status == DNS_OK && i < d->set->nhosts; i++) {
		bmx_buf_fmt(b, "%s{\"host\":", i ? "," : "");
		check_json_str(b, d->set->host[i].name);
		bmx_buf_fmt(b, ",\"pref\":%u,\"role\":\"%s\"}", (unsigned)d->set->host[i].pref,
				 i < d->nprimary ? "primary" : "backup");
	}
	bmx_buf_fmt(b, "],\"%s\":[", d->via_mx ? "messages" : "backups");
	for (size_t i = 0; i < d->nsend; i++) {
		const struct drill_send *s = &d->send[i];
		bmx_buf_fmt(b, "%s{\"tag\":", i ? "," : "");
		check_json_str(b, s->tag);
		bmx_buf_fmt(b, ",\"host\":");
		check_json_str(b, s->host);
		bmx_buf_fmt(b, ",\"pref\":%u,\"address\":", (unsigned)s->pref);
		check_json_str(b, s->addr);
		bmx_buf_fmt(b, ",\"accepted\":%s,\"stage\":\"%s\",\"code\":%d,\"reply\":",
				 s->accepted ? "true" : "false", s->stage, s->code);
		check_json_str(b, s->reply);
		bmx_buf_fmt(b, ",\"queue_id\":");
		check_json_str(b, s->qid);
		bmx_buf_fmt(b, ",\"connect_ms\":%.1f,\"total_ms\":%.1f", s->connect_ms,
				 s->total_ms);
		if (s->accepted && (s->followed || drill_relayed(s))) {
			bmx_buf_fmt(b, ",\"filter\":{\"judged_by\":\"%s\",\"milters\":",
					 drill_relayed(s) ? "primary" : s->filtered ? "milters" : "none");
			check_json_str(b, s->ffilter);
			bmx_buf_fmt(b, ",\"authentication_results\":");
			check_json_str(b, s->fauthres);
			bmx_buf_fmt(b, "}");
		}
		if (s->followed) {
			bmx_buf_fmt(b, ",\"delivery\":{\"status\":");
			check_json_str(b, s->fstatus[0] ? s->fstatus : "pending");
			bmx_buf_fmt(b, ",\"relay\":");
			check_json_str(b, s->frelay);
			bmx_buf_fmt(b, ",\"reply\":");
			check_json_str(b, s->freply);
			bmx_buf_fmt(b, ",\"end_to_end_s\":%.1f,\"queued_while_held\":%s}",
					 s->e2e_s, s->held_queued ? "true" : "false");
		}
		bmx_buf_fmt(b, "}");
	}
	bmx_buf_fmt(b, "]}\n");
}

/* Nagios line. */
static void drill_nagios(struct bmx_buf *b, const struct drill *d, enum check_state st,
			 const char *sum)
{
	size_t acc = 0;
	double e2e = 0;

	for (size_t i = 0; i < d->nsend; i++) {
		acc += d->send[i].accepted ? 1 : 0;
		if (d->send[i].e2e_s > e2e)
			e2e = d->send[i].e2e_s;
	}
	bmx_buf_fmt(b, "%s: %s | sent=%zu accepted=%zu end_to_end=%.1fs;;%g time=%.3fs\n",
			 check_state_name(st), sum, d->nsend, acc, e2e, d->within_s,
			 d->elapsed_ms / 1000.0);
}

/* Render the report in the chosen output format. */
void drill_report(struct bmx_buf *b, const struct drill *d, enum check_state st,
		  const char *sum)
{
	if (d->p.out == CLI_OUT_JSON)
		drill_json(b, d, st, sum);
	else if (d->p.out == CLI_OUT_NAGIOS)
		drill_nagios(b, d, st, sum);
	else
		drill_text(b, d, st, sum);
}
