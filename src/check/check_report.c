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

/* Start an empty buffer. */
void check_buf_init(struct check_buf *b)
{
	b->s = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}

/* Free a buffer's memory. */
void check_buf_free(struct check_buf *b)
{
	free(b->s);
	check_buf_init(b);
}

/* Make room for n more bytes plus a NUL; 0 or -1. */
static int buf_grow(struct check_buf *b, size_t n)
{
	if (b->oom)
		return -1;
	if (b->len + n + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 1024;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s) {
		b->oom = 1;
		return -1;
	}
	b->s = s;
	b->cap = cap;
	return 0;
}

/* Append n bytes. */
void check_buf_add(struct check_buf *b, const char *s, size_t n)
{
	if (n == 0 || !s || buf_grow(b, n) < 0 || !b->s)
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Append formatted text. */
void check_buf_printf(struct check_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		check_buf_add(b, small, (size_t)n);
		return;
	}
	if (buf_grow(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

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
	"primary_down", "mx_down", "addr_down", "tls_failed", "backup_preferred",
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
void check_summary(struct check_buf *b, const struct check_result *res)
{
	enum check_state st = check_verdict(res);
	size_t shown = 0, total = 0;

	check_buf_printf(b, "%s: ", res->domain);
	if (st == CHECK_OK) {
		size_t up = 0;
		for (size_t i = 0; i < res->nmx; i++)
			up += res->mx[i].accepts_mail ? 1 : 0;
		if (res->smtp)
			check_buf_printf(b, "%zu MX, %zu accept mail, no problem found", res->nmx,
					 up);
		else
			check_buf_printf(b, "%zu MX, DNS fine (SMTP not probed)", res->nmx);
		return;
	}
	for (int rank = 0; rank < 3 * (int)(CHECK_NURGENT + 1); rank++) {
		for (size_t i = 0; i < res->nfind; i++) {
			if (check_find_rank(&res->find[i]) != rank)
				continue;
			total++;
			if (shown >= CHECK_SUMMARY_ITEMS)
				continue;
			check_buf_printf(b, "%s%s", shown ? "; " : "", res->find[i].msg);
			shown++;
		}
	}
	if (total > shown)
		check_buf_printf(b, " (+%zu more)", total - shown);
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
static void text_findings(struct check_buf *b, const struct check_result *res, int mx, int addr,
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
		check_buf_printf(b, "%s%s%-8s%s %s: %s\n", indent, col(color, f->sev), up,
				 col_end(color), f->code, f->msg);
	}
}

/* Describe one probe reply. */
static void text_reply(struct check_buf *b, const char *what, const struct check_reply *r,
		       const char *meaning_2xx, const char *meaning_other)
{
	if (!r->tested)
		return;
	if (!r->code) {
		check_buf_printf(b, "        %-22s no reply\n", what);
		return;
	}
	int cut = strlen(r->text) > CHECK_REPLY_SHOWN;
	check_buf_printf(b, "        %-22s %d %.*s%s  (%s)\n", what, r->code,
			 cut ? CHECK_REPLY_SHOWN - 3 : CHECK_REPLY_SHOWN, r->text, cut ? "..." : "",
			 r->code / 100 == 2 ? meaning_2xx : meaning_other);
}

/* Capability list of an EHLO. */
static void text_caps(struct check_buf *b, const struct check_smtp *s)
{
	const struct smtp_cap_name *tab = smtp_cap_names;
	int first = 1;

	for (size_t i = 0; i < SMTP_CAP_NAMES; i++) {
		if (!(s->caps & tab[i].flag))
			continue;
		check_buf_printf(b, "%s%s", first ? "" : " ", tab[i].kw);
		if (tab[i].flag == SMTP_CAP_SIZE && s->size)
			check_buf_printf(b, "=%llu", s->size);
		first = 0;
	}
	if (first)
		check_buf_printf(b, "(none)");
}

/* The SMTP part of one address. */
static void text_smtp(struct check_buf *b, const struct check_smtp *s)
{
	if (s->status == CHECK_SMTP_NOT_PROBED)
		return;
	check_buf_printf(b, "        SMTP: %s", check_smtp_status_name(s->status));
	if (s->connect_ms >= 0)
		check_buf_printf(b, ", connect %.1f ms", s->connect_ms);
	if (s->banner_ms >= 0)
		check_buf_printf(b, ", banner %.1f ms", s->banner_ms);
	if (s->total_ms >= 0)
		check_buf_printf(b, ", total %.1f ms", s->total_ms);
	check_buf_printf(b, "\n");
	if (s->error[0])
		check_buf_printf(b, "        error: %s\n", s->error);
	if (s->banner_code)
		check_buf_printf(b, "        banner: %d %s%s\n", s->banner_code, s->banner,
				 s->banner_name_match ? "" : "  (name does not match)");
	if (s->status != CHECK_SMTP_OK)
		return;
	check_buf_printf(b, "        %s: ", s->used_helo ? "HELO (no ESMTP)" : "EHLO");
	text_caps(b, s);
	check_buf_printf(b, "\n");
	if (s->tls.ok) {
		check_buf_printf(b, "        TLS: %s %s (%d bits)", s->tls.version, s->tls.cipher,
				 s->tls.bits);
		if (s->tls.have_cert)
			check_buf_printf(b, "; certificate CN=%s, issuer %s, %s, %s, %ld days left",
					 s->tls.subject_cn[0] ? s->tls.subject_cn : "-",
					 s->tls.issuer_cn[0] ? s->tls.issuer_cn : "-",
					 s->tls.verified ? "verified" : "not verified",
					 s->tls.name_match ? "name matches" : "name mismatch",
					 s->tls.days_left);
		check_buf_printf(b, "\n");
	} else if (s->tls.attempted) {
		check_buf_printf(b, "        TLS: failed (%s)%s\n", s->tls.error,
				 s->plaintext_retry ? "; probed again without TLS" : "");
	} else {
		check_buf_printf(b, "        TLS: not offered\n");
	}
	text_reply(b, "MAIL FROM:<>", &s->mail_from, "accepted", "REFUSED");
	text_reply(b, "RCPT postmaster", &s->rcpt_postmaster, "accepted", "REFUSED");
	text_reply(b, "RCPT nonexistent user", &s->rcpt_random, "ACCEPTED", "rejected");
	text_reply(b, "RCPT foreign domain", &s->rcpt_relay, "ACCEPTED: open relay",
		   "refused: no open relay");
}

/* One MX host with its addresses and findings. */
static void text_mx(struct check_buf *b, const struct check_result *res, size_t i, int color)
{
	const struct check_mx *m = &res->mx[i];

	check_buf_printf(b, "\n%5u  %s  %s%s%s\n", m->pref, m->name,
			 m->role == CHECK_ROLE_PRIMARY ? "primary" : "backup",
			 m->implicit ? " (implicit MX)" : "",
			 !m->probed ? "" : m->accepts_mail ? ", accepts mail" : ", DOWN");
	check_buf_printf(b, "       A: %s", check_dns_status_name(m->a_status));
	if (m->a_status == DNS_OK)
		check_buf_printf(b, " (TTL %u s)", (unsigned)m->a_ttl);
	check_buf_printf(b, ", AAAA: %s", check_dns_status_name(m->aaaa_status));
	if (m->aaaa_status == DNS_OK)
		check_buf_printf(b, " (TTL %u s)", (unsigned)m->aaaa_ttl);
	check_buf_printf(b, ", DNSSEC %s%s\n", check_dns_sec_name(m->sec),
			 m->is_cname ? ", CNAME" : "");
	for (size_t j = 0; j < m->naddr; j++) {
		const struct check_addr *a = &m->addr[j];
		check_buf_printf(b, "     %s (%s)", a->str, check_addr_class_name(a->cls));
		if (a->nptr) {
			check_buf_printf(b, "  PTR");
			for (size_t k = 0; k < a->nptr; k++)
				check_buf_printf(b, " %s", a->ptr[k]);
			check_buf_printf(b, "%s", a->fcrdns == 1 ? ", forward-confirmed" :
					 a->fcrdns == 0 ? ", NOT forward-confirmed" : "");
		} else if (a->ptr_done) {
			check_buf_printf(b, "  PTR: %s", a->ptr_status == DNS_OK ? "none" :
					 check_dns_status_name(a->ptr_status));
		}
		check_buf_printf(b, "\n");
		text_smtp(b, &a->smtp);
		text_findings(b, res, (int)i, (int)j, "        ", color);
	}
	text_findings(b, res, (int)i, -1, "     ", color);
}

/* The human report. */
void check_report_text(struct check_buf *b, const struct check_result *res, int color)
{
	enum check_state st = check_verdict(res);

	check_buf_printf(b, "backupmx check %s\n", res->domain);
	check_buf_printf(b, "  resolver %s, port %d, timeout %.1f s, %s, took %.2f s\n",
			 res->resolver, res->port, (double)res->timeout_ms / 1000.0,
			 res->smtp ? "SMTP probes" : "no SMTP probes", res->elapsed_ms / 1000.0);
	check_buf_printf(b, "\nMX set: %s", check_dns_status_name(res->dns_status));
	if (res->dns_status == DNS_OK) {
		if (res->null_mx)
			check_buf_printf(b, ", null MX");
		else if (res->implicit)
			check_buf_printf(b, ", no MX records (implicit MX)");
		else
			check_buf_printf(b, ", %zu host%s, TTL %u s", res->nmx, res->nmx == 1 ? "" :
					 "s", (unsigned)res->mx_ttl);
		check_buf_printf(b, ", DNSSEC %s", check_dns_sec_name(res->mx_sec));
	} else if (res->dns_why[0]) {
		check_buf_printf(b, " (%s)", res->dns_why);
	}
	check_buf_printf(b, "\n");
	if (res->dns_status == DNS_OK && !res->null_mx) {
		check_buf_printf(b, "\n  pref  host  role\n");
		for (size_t i = 0; i < res->nmx; i++)
			text_mx(b, res, i, color);
	}
	int any = 0;
	for (size_t i = 0; i < res->nfind; i++)
		any |= res->find[i].mx < 0;
	if (any) {
		check_buf_printf(b, "\n%s:\n", res->domain);
		text_findings(b, res, -1, -1, "  ", color);
	}
	if (res->nfind_dropped)
		check_buf_printf(b, "  (%zu more findings not shown)\n", res->nfind_dropped);
	if (res->dns_status == DNS_OK && !res->null_mx && res->nmx)
		check_buf_printf(b, "\nBefore a planned MX or address change, lower the TTLs to "
				 "about %d s at least one old TTL ahead.\n", CHECK_TTL_ADVICE);
	check_buf_printf(b, "\nVerdict: %s%s%s - ", state_col(color, st), check_state_name(st),
			 col_end(color));
	check_summary(b, res);
	check_buf_printf(b, "\n");
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
void check_report_nagios(struct check_buf *b, const struct check_result *res)
{
	struct check_buf sum;

	check_buf_init(&sum);
	check_summary(&sum, res);
	check_buf_printf(b, "%s: ", check_state_name(check_verdict(res)));
	for (size_t i = 0; sum.s && i < sum.len; i++) {
		char c = sum.s[i];
		if (c == '|')
			c = '/';
		else if (c == '\n' || c == '\r')
			c = ' ';
		check_buf_add(b, &c, 1);
	}
	check_buf_free(&sum);
	check_buf_printf(b, " | mx_count=%zu", res->nmx);
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
				check_buf_printf(b, " %s_%zu_connect=", label, i + 1);
			else
				check_buf_printf(b, " %s_connect=", label);
			if (t >= 0)
				check_buf_printf(b, "%.6fs", t / 1000.0);
			else
				check_buf_printf(b, "U");
		}
	}
	check_buf_printf(b, "\n");
}
