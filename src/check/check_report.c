/*
 * check_report.c - the checker's human report, Nagios line and summary.
 *
 * Pure renderers over a struct check_result into a growable buffer.  The
 * human report is grouped per MX in preference order (facts, probe replies
 * and that host's findings), then the domain-wide findings and a verdict
 * line; ANSI colour only when asked (the caller passes isatty(stdout)).
 * The Nagios line is "STATUS: summary | perfdata" with mx_count and, per
 * MX, its connect time in seconds.  All peer text was sanitised when it was
 * recorded; the renderers add no raw peer bytes.
 */
#include "check/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp.h"

#define CHECK_SUMMARY_ITEMS 3   /* findings named in the one-line summary */
#define CHECK_REPLY_SHOWN   72  /* reply text shown per probe line */


/* Rank of a severity for ordering: critical, unknown, warning, info. */
static int sev_rank(enum check_sev s)
{
	switch (s) {
	case CHECK_SEV_CRITICAL: return 0;
	case CHECK_SEV_UNKNOWN: return 1;
	case CHECK_SEV_WARNING: return 2;
	case CHECK_SEV_INFO: return 3;
	}
	return 3;
}

/* Within one severity, findings about mail not flowing come first, most
 * urgent first; every other code keeps the order it was found in. */
static const char *const check_urgent[] = {
	"filter_bypass", "primary_down", "mx_down", "addr_down", "tls_failed", "backup_preferred",
	"postmaster_refused", "null_sender_refused", "backscatter_risk", "no_backup_mx",
	"single_mx",
};
#define CHECK_NURGENT (sizeof(check_urgent) / sizeof(check_urgent[0]))

/* Sort key of a finding: severity first, then urgency. */
static int check_find_rank(const struct check_finding *f)
{
	size_t u = 0;
	while (u < CHECK_NURGENT && strcmp(check_urgent[u], f->code) != 0)
		u++;
	return sev_rank(f->sev) * (int)(CHECK_NURGENT + 1) + (int)u;
}

/* One-line summary: domain, then the worst findings (or a healthy note). */
void check_summary(struct bmx_buf *b, const struct check_result *res)
{
	enum check_state st = check_verdict(res);
	size_t shown = 0, total = 0;

	bmx_buf_fmt(b, "%s: ", res->domain);
	if (st == CHECK_OK) {
		size_t up = 0;
		for (size_t i = 0; i < res->nmx; i++)
			up += res->mx[i].accepts_mail ? 1 : 0;
		if (res->smtp)
			bmx_buf_fmt(b, "%zu MX, %zu accept mail, no problem found", res->nmx,
					 up);
		else
			bmx_buf_fmt(b, "%zu MX, DNS fine (SMTP not probed)", res->nmx);
		return;
	}
	for (int rank = 0; rank < 3 * (int)(CHECK_NURGENT + 1); rank++) {
		for (size_t i = 0; i < res->nfind; i++) {
			if (check_find_rank(&res->find[i]) != rank)
				continue;
			total++;
			if (shown >= CHECK_SUMMARY_ITEMS)
				continue;
			bmx_buf_fmt(b, "%s%s", shown ? "; " : "", res->find[i].msg);
			shown++;
		}
	}
	if (total > shown)
		bmx_buf_fmt(b, " (+%zu more)", total - shown);
}

/* ANSI colour codes, or nothing. */
static const char *col(int color, enum check_sev s)
{
	if (!color)
		return "";
	switch (s) {
	case CHECK_SEV_CRITICAL: return "\033[1;31m";
	case CHECK_SEV_UNKNOWN: return "\033[1;35m";
	case CHECK_SEV_WARNING: return "\033[33m";
	case CHECK_SEV_INFO: return "\033[36m";
	}
	return "";
}

/* Reset colour, or nothing. */
static const char *col_end(int color)
{
	return color ? "\033[0m" : "";
}

/* Colour of a verdict. */
static const char *state_col(int color, enum check_state st)
{
	if (!color)
		return "";
	switch (st) {
	case CHECK_OK: return "\033[1;32m";
	case CHECK_WARNING: return "\033[1;33m";
	case CHECK_CRITICAL: return "\033[1;31m";
	case CHECK_UNKNOWN: return "\033[1;35m";
	}
	return "";
}

/* Print the findings that belong to (mx, addr). */
static void text_findings(struct bmx_buf *b, const struct check_result *res, int mx, int addr,
			  const char *indent, int color)
{
	for (size_t i = 0; i < res->nfind; i++) {
		const struct check_finding *f = &res->find[i];
		if (f->mx != mx || f->addr != addr)
			continue;
		char up[16];
		const char *n = check_sev_name(f->sev);
		size_t k = 0;
		for (; n[k] && k + 1 < sizeof(up); k++)
			up[k] = (char)(n[k] >= 'a' && n[k] <= 'z' ? n[k] - 32 : n[k]);
		up[k] = '\0';
		bmx_buf_fmt(b, "%s%s%-8s%s %s: %s\n", indent, col(color, f->sev), up,
				 col_end(color), f->code, f->msg);
	}
}

/* Describe one probe reply. */
static void text_reply(struct bmx_buf *b, const char *what, const struct check_reply *r,
		       const char *meaning_2xx, const char *meaning_other)
{
	if (!r->tested)
		return;
	if (!r->code) {
		bmx_buf_fmt(b, "        %-22s no reply\n", what);
		return;
	}
	int cut = strlen(r->text) > CHECK_REPLY_SHOWN;
	bmx_buf_fmt(b, "        %-22s %d %.*s%s  (%s)\n", what, r->code,
			 cut ? CHECK_REPLY_SHOWN - 3 : CHECK_REPLY_SHOWN, r->text, cut ? "..." : "",
			 r->code / 100 == 2 ? meaning_2xx : meaning_other);
}

/* Capability list of an EHLO. */
static void text_caps(struct bmx_buf *b, const struct check_smtp *s)
{
	const struct smtp_cap_name *tab = smtp_cap_names;
	int first = 1;

	for (size_t i = 0; i < SMTP_CAP_NAMES; i++) {
		if (!(s->caps & tab[i].flag))
			continue;
		bmx_buf_fmt(b, "%s%s", first ? "" : " ", tab[i].kw);
		if (tab[i].flag == SMTP_CAP_SIZE && s->size)
			bmx_buf_fmt(b, "=%llu", s->size);
		first = 0;
	}
	if (first)
		bmx_buf_fmt(b, "(none)");
}

/* The SMTP part of one address. */
static void text_smtp(struct bmx_buf *b, const struct check_smtp *s)
{
	if (s->status == CHECK_SMTP_NOT_PROBED)
		return;
	bmx_buf_fmt(b, "        SMTP: %s", check_smtp_status_name(s->status));
	if (s->connect_ms >= 0)
		bmx_buf_fmt(b, ", connect %.1f ms", s->connect_ms);
	if (s->banner_ms >= 0)
		bmx_buf_fmt(b, ", banner %.1f ms", s->banner_ms);
	if (s->total_ms >= 0)
		bmx_buf_fmt(b, ", total %.1f ms", s->total_ms);
	bmx_buf_fmt(b, "\n");
	if (s->error[0])
		bmx_buf_fmt(b, "        error: %s\n", s->error);
	if (s->banner_code)
		bmx_buf_fmt(b, "        banner: %d %s%s\n", s->banner_code, s->banner,
				 s->banner_name_match ? "" : "  (name does not match)");
	if (s->status != CHECK_SMTP_OK)
		return;
	bmx_buf_fmt(b, "        %s: ", s->used_helo ? "HELO (no ESMTP)" : "EHLO");
	text_caps(b, s);
	bmx_buf_fmt(b, "\n");
	if (s->tls.ok) {
		bmx_buf_fmt(b, "        TLS: %s %s (%d bits)", s->tls.version, s->tls.cipher,
				 s->tls.bits);
		if (s->tls.have_cert)
			bmx_buf_fmt(b, "; certificate CN=%s, issuer %s, %s, %s, %ld days left",
					 s->tls.subject_cn[0] ? s->tls.subject_cn : "-",
					 s->tls.issuer_cn[0] ? s->tls.issuer_cn : "-",
					 s->tls.verified ? "verified" : "not verified",
					 s->tls.name_match ? "name matches" : "name mismatch",
					 s->tls.days_left);
		bmx_buf_fmt(b, "\n");
	} else if (s->tls.attempted) {
		bmx_buf_fmt(b, "        TLS: failed (%s)%s\n", s->tls.error,
				 s->plaintext_retry ? "; probed again without TLS" : "");
	} else {
		bmx_buf_fmt(b, "        TLS: not offered\n");
	}
	text_reply(b, "MAIL FROM:<>", &s->mail_from, "accepted", "REFUSED");
	text_reply(b, "RCPT postmaster", &s->rcpt_postmaster, "accepted", "REFUSED");
	text_reply(b, "RCPT nonexistent user", &s->rcpt_random, "ACCEPTED", "rejected");
	text_reply(b, "RCPT foreign domain", &s->rcpt_relay, "ACCEPTED: open relay",
		   "refused: no open relay");
	text_reply(b, "GTUBE (--filter-probe)", &s->filter, "ACCEPTED by the content filter",
		   "refused");
}

/* One MX host with its addresses and findings. */
static void text_mx(struct bmx_buf *b, const struct check_result *res, size_t i, int color)
{
	const struct check_mx *m = &res->mx[i];

	bmx_buf_fmt(b, "\n%5u  %s  %s%s%s\n", m->pref, m->name,
			 m->role == CHECK_ROLE_PRIMARY ? "primary" : "backup",
			 m->implicit ? " (implicit MX)" : "",
			 !m->probed ? "" : m->accepts_mail ? ", accepts mail" : ", DOWN");
	bmx_buf_fmt(b, "       A: %s", check_dns_status_name(m->a_status));
	if (m->a_status == DNS_OK)
		bmx_buf_fmt(b, " (TTL %u s)", (unsigned)m->a_ttl);
	bmx_buf_fmt(b, ", AAAA: %s", check_dns_status_name(m->aaaa_status));
	if (m->aaaa_status == DNS_OK)
		bmx_buf_fmt(b, " (TTL %u s)", (unsigned)m->aaaa_ttl);
	bmx_buf_fmt(b, ", DNSSEC %s%s\n", check_dns_sec_name(m->sec),
			 m->is_cname ? ", CNAME" : "");
	for (size_t j = 0; j < m->naddr; j++) {
		const struct check_addr *a = &m->addr[j];
		bmx_buf_fmt(b, "     %s (%s)", a->str, check_addr_class_name(a->cls));
		if (a->nptr) {
			bmx_buf_fmt(b, "  PTR");
			for (size_t k = 0; k < a->nptr; k++)
				bmx_buf_fmt(b, " %s", a->ptr[k]);
			bmx_buf_fmt(b, "%s", a->fcrdns == 1 ? ", forward-confirmed" :
					 a->fcrdns == 0 ? ", NOT forward-confirmed" : "");
		} else if (a->ptr_done) {
			bmx_buf_fmt(b, "  PTR: %s", a->ptr_status == DNS_OK ? "none" :
					 check_dns_status_name(a->ptr_status));
		}
		bmx_buf_fmt(b, "\n");
		text_smtp(b, &a->smtp);
		text_findings(b, res, (int)i, (int)j, "        ", color);
	}
	text_findings(b, res, (int)i, -1, "     ", color);
}

/* The human report. */
void check_report_text(struct bmx_buf *b, const struct check_result *res, int color)
{
	enum check_state st = check_verdict(res);

	bmx_buf_fmt(b, "backupmx check %s\n", res->domain);
	bmx_buf_fmt(b, "  resolver %s, port %d, timeout %.1f s, %s, took %.2f s\n",
			 res->resolver, res->port, (double)res->timeout_ms / 1000.0,
			 res->smtp ? "SMTP probes" : "no SMTP probes", res->elapsed_ms / 1000.0);
	bmx_buf_fmt(b, "\nMX set: %s", check_dns_status_name(res->dns_status));
	if (res->dns_status == DNS_OK) {
		if (res->null_mx)
			bmx_buf_fmt(b, ", null MX");
		else if (res->implicit)
			bmx_buf_fmt(b, ", no MX records (implicit MX)");
		else
			bmx_buf_fmt(b, ", %zu host%s, TTL %u s", res->nmx, res->nmx == 1 ? "" :
					 "s", (unsigned)res->mx_ttl);
		bmx_buf_fmt(b, ", DNSSEC %s", check_dns_sec_name(res->mx_sec));
	} else if (res->dns_why[0]) {
		bmx_buf_fmt(b, " (%s)", res->dns_why);
	}
	bmx_buf_fmt(b, "\n");
	if (res->dns_status == DNS_OK && !res->null_mx) {
		bmx_buf_fmt(b, "\n  pref  host  role\n");
		for (size_t i = 0; i < res->nmx; i++)
			text_mx(b, res, i, color);
	}
	int any = 0;
	for (size_t i = 0; i < res->nfind; i++)
		any |= res->find[i].mx < 0;
	if (any) {
		bmx_buf_fmt(b, "\n%s:\n", res->domain);
		text_findings(b, res, -1, -1, "  ", color);
	}
	if (res->nfind_dropped)
		bmx_buf_fmt(b, "  (%zu more findings not shown)\n", res->nfind_dropped);
	if (res->dns_status == DNS_OK && !res->null_mx && res->nmx)
		bmx_buf_fmt(b, "\nBefore a planned MX or address change, lower the TTLs to "
				 "about %d s at least one old TTL ahead.\n", CHECK_TTL_ADVICE);
	bmx_buf_fmt(b, "\nVerdict: %s%s%s - ", state_col(color, st), check_state_name(st),
			 col_end(color));
	check_summary(b, res);
	bmx_buf_fmt(b, "\n");
}

/* Perfdata label from a host name: [A-Za-z0-9_] only. */
static void perf_label(char *out, size_t outlen, const char *name)
{
	size_t n = 0;

	for (; *name && n + 1 < outlen; name++) {
		char c = *name;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		out[n++] = ok ? c : '_';
	}
	out[n] = '\0';
}

/* The Nagios plugin line. */
void check_report_nagios(struct bmx_buf *b, const struct check_result *res)
{
	struct bmx_buf sum;

	bmx_buf_init(&sum);
	check_summary(&sum, res);
	bmx_buf_fmt(b, "%s: ", check_state_name(check_verdict(res)));
	for (size_t i = 0; sum.p && i < sum.len; i++) {
		char c = sum.p[i];
		if (c == '|')
			c = '/';
		else if (c == '\n' || c == '\r')
			c = ' ';
		bmx_buf_add(b, &c, 1);
	}
	bmx_buf_free(&sum);
	bmx_buf_fmt(b, " | mx_count=%zu", res->nmx);
	if (res->smtp) {
		for (size_t i = 0; i < res->nmx; i++) {
			const struct check_mx *m = &res->mx[i];
			char label[DNS_NAME_MAX];
			double t = -1;
			int dup = 0;
			for (size_t j = 0; j < m->naddr && t < 0; j++)
				if (m->addr[j].smtp.connect_ms >= 0)
					t = m->addr[j].smtp.connect_ms;
			for (size_t j = 0; j < i; j++)
				if (strcmp(res->mx[j].name, m->name) == 0)
					dup = 1;
			perf_label(label, sizeof(label), m->name);
			if (dup)
				bmx_buf_fmt(b, " %s_%zu_connect=", label, i + 1);
			else
				bmx_buf_fmt(b, " %s_connect=", label);
			if (t >= 0)
				bmx_buf_fmt(b, "%.6fs", t / 1000.0);
			else
				bmx_buf_fmt(b, "U");
		}
	}
	bmx_buf_fmt(b, "\n");
}
