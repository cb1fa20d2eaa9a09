/*
 * check_json.c - the checker's --json output (schema_version 1).
 *
 * The structure is documented in docs/check-json.md and as a JSON Schema in
 * docs/check-schema.json; tests validate real output against it.  Fields are
 * only ever added in a compatible way; a breaking change bumps
 * schema_version.  check_json_str() escapes control characters and replaces
 * invalid UTF-8 by U+FFFD, so peer text can never break the document.
 */
#include "check/check.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "smtp/smtp.h"
#include "smtp/xtext.h"


/* Append a JSON string literal. */
void check_json_str(struct bmx_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);

	bmx_buf_add(b, "\"", 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			bmx_buf_add(b, esc, 2);
			i++;
		} else if (c == '\n') {
			bmx_buf_add(b, "\\n", 2);
			i++;
		} else if (c == '\r') {
			bmx_buf_add(b, "\\r", 2);
			i++;
		} else if (c == '\t') {
			bmx_buf_add(b, "\\t", 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			bmx_buf_fmt(b, "\\u%04x", c);
			i++;
		} else if (c < 0x80) {
			bmx_buf_add(b, (const char *)&p[i], 1);
			i++;
		} else {
			size_t len = smtp_utf8_len(p + i, n - i, NULL);
			if (len == 0) {
				bmx_buf_add(b, "\\ufffd", 6);
				i++;
			} else {
				bmx_buf_add(b, (const char *)&p[i], len);
				i += len;
			}
		}
	}
	bmx_buf_add(b, "\"", 1);
}

/* "key": */
static void key(struct bmx_buf *b, const char *k)
{
	check_json_str(b, k);
	bmx_buf_add(b, ":", 1);
}

/* "key":"string", */
static void kv_str(struct bmx_buf *b, const char *k, const char *v, int comma)
{
	key(b, k);
	check_json_str(b, v);
	if (comma)
		bmx_buf_add(b, ",", 1);
}

/* "key":"string" or null for an empty string. */
static void kv_str_or_null(struct bmx_buf *b, const char *k, const char *v, int comma)
{
	key(b, k);
	if (v && v[0])
		check_json_str(b, v);
	else
		bmx_buf_fmt(b, "null");
	if (comma)
		bmx_buf_add(b, ",", 1);
}

/* "key":true/false */
static void kv_bool(struct bmx_buf *b, const char *k, int v, int comma)
{
	key(b, k);
	bmx_buf_fmt(b, "%s%s", v ? "true" : "false", comma ? "," : "");
}

/* "key":number */
static void kv_num(struct bmx_buf *b, const char *k, long long v, int comma)
{
	key(b, k);
	bmx_buf_fmt(b, "%lld%s", v, comma ? "," : "");
}

/* "key":milliseconds or null when negative. */
static void kv_ms(struct bmx_buf *b, const char *k, double v, int comma)
{
	key(b, k);
	if (v < 0)
		bmx_buf_fmt(b, "null%s", comma ? "," : "");
	else
		bmx_buf_fmt(b, "%.3f%s", v, comma ? "," : "");
}

/* One probe reply object, or null. */
static void json_reply(struct bmx_buf *b, const char *k, const struct check_reply *r,
		       const char *address, int comma)
{
	key(b, k);
	if (!r->tested) {
		bmx_buf_fmt(b, "null%s", comma ? "," : "");
		return;
	}
	bmx_buf_add(b, "{", 1);
	if (address)
		kv_str(b, "address", address, 1);
	key(b, "code");
	if (r->code)
		bmx_buf_fmt(b, "%d,", r->code);
	else
		bmx_buf_fmt(b, "null,");
	kv_str(b, "text", r->text, 1);
	key(b, "accepted");
	bmx_buf_fmt(b, "%s}", r->code ? (r->code / 100 == 2 ? "true" : "false") : "null");
	if (comma)
		bmx_buf_add(b, ",", 1);
}

/* The starttls object. */
static void json_tls(struct bmx_buf *b, const struct check_smtp *s)
{
	const struct check_tls *t = &s->tls;

	key(b, "starttls");
	bmx_buf_add(b, "{", 1);
	kv_bool(b, "offered", t->offered, 1);
	kv_bool(b, "attempted", t->attempted, 1);
	kv_bool(b, "ok", t->ok, 1);
	kv_str_or_null(b, "error", t->error, 1);
	kv_bool(b, "plaintext_retry", s->plaintext_retry, 1);
	kv_str_or_null(b, "version", t->ok ? t->version : "", 1);
	kv_str_or_null(b, "cipher", t->ok ? t->cipher : "", 1);
	key(b, "bits");
	if (t->ok)
		bmx_buf_fmt(b, "%d,", t->bits);
	else
		bmx_buf_fmt(b, "null,");
	key(b, "certificate");
	if (!t->ok || !t->have_cert) {
		bmx_buf_fmt(b, "null}");
		return;
	}
	bmx_buf_add(b, "{", 1);
	kv_str(b, "subject_cn", t->subject_cn, 1);
	kv_str(b, "issuer_cn", t->issuer_cn, 1);
	kv_bool(b, "verified", t->verified, 1);
	kv_str_or_null(b, "verify_error", t->verified ? "" : t->verify_error, 1);
	kv_bool(b, "name_matches", t->name_match, 1);
	kv_num(b, "days_left", t->days_left, 0);
	bmx_buf_fmt(b, "}}");
}

/* The EHLO extension list. */
static void json_caps(struct bmx_buf *b, unsigned caps)
{
	int first = 1;

	key(b, "extensions");
	bmx_buf_add(b, "[", 1);
	for (size_t i = 0; i < SMTP_CAP_NAMES; i++) {
		if (!(caps & smtp_cap_names[i].flag))
			continue;
		if (!first)
			bmx_buf_add(b, ",", 1);
		check_json_str(b, smtp_cap_names[i].kw);
		first = 0;
	}
	bmx_buf_add(b, "],", 2);
}

/* The smtp object of one address, or null. */
static void json_smtp(struct bmx_buf *b, const struct check_smtp *s)
{
	key(b, "smtp");
	if (s->status == CHECK_SMTP_NOT_PROBED) {
		bmx_buf_fmt(b, "null");
		return;
	}
	bmx_buf_add(b, "{", 1);
	kv_str(b, "status", check_smtp_status_name(s->status), 1);
	kv_str_or_null(b, "error", s->error, 1);
	kv_ms(b, "connect_ms", s->connect_ms, 1);
	kv_ms(b, "banner_ms", s->banner_ms, 1);
	kv_ms(b, "total_ms", s->total_ms, 1);
	key(b, "banner");
	if (s->banner_code) {
		bmx_buf_add(b, "{", 1);
		kv_num(b, "code", s->banner_code, 1);
		kv_str(b, "text", s->banner, 1);
		kv_str(b, "host", s->banner_host, 1);
		kv_bool(b, "name_matches", s->banner_name_match, 0);
		bmx_buf_add(b, "},", 2);
	} else {
		bmx_buf_fmt(b, "null,");
	}
	int greeted = s->status == CHECK_SMTP_OK;
	key(b, "esmtp");
	bmx_buf_fmt(b, "%s,", greeted ? (s->used_helo ? "false" : "true") : "null");
	kv_str_or_null(b, "ehlo_host", s->ehlo_host, 1);
	json_caps(b, greeted ? s->caps : 0);
	key(b, "size_limit");
	if (greeted && s->size_advertised)
		bmx_buf_fmt(b, "%llu,", s->size);
	else
		bmx_buf_fmt(b, "null,");
	json_tls(b, s);
	bmx_buf_add(b, ",", 1);
	json_reply(b, "mail_from", &s->mail_from, NULL, 1);
	json_reply(b, "rcpt_postmaster", &s->rcpt_postmaster, NULL, 1);
	json_reply(b, "rcpt_nonexistent", &s->rcpt_random, s->random_rcpt, 1);
	json_reply(b, "rcpt_foreign", &s->rcpt_relay, s->relay_rcpt, 1);
	json_reply(b, "filter_probe", &s->filter, NULL, 0);
	bmx_buf_add(b, "}", 1);
}

/* One address object. */
static void json_addr(struct bmx_buf *b, const struct check_addr *a)
{
	bmx_buf_add(b, "{", 1);
	kv_str(b, "address", a->str, 1);
	kv_str(b, "family", a->sa.ss_family == AF_INET6 ? "ipv6" : "ipv4", 1);
	kv_str(b, "class", check_addr_class_name(a->cls), 1);
	key(b, "ptr");
	bmx_buf_add(b, "{", 1);
	kv_str(b, "status", a->ptr_done ? check_dns_status_name(a->ptr_status) : "not_checked", 1);
	key(b, "names");
	bmx_buf_add(b, "[", 1);
	for (size_t k = 0; k < a->nptr; k++) {
		if (k)
			bmx_buf_add(b, ",", 1);
		check_json_str(b, a->ptr[k]);
	}
	bmx_buf_add(b, "],", 2);
	key(b, "forward_confirmed");
	bmx_buf_fmt(b, "%s},", a->fcrdns < 0 ? "null" : a->fcrdns ? "true" : "false");
	json_smtp(b, &a->smtp);
	bmx_buf_add(b, "}", 1);
}

/* One MX host object. */
static void json_mx(struct bmx_buf *b, const struct check_mx *m)
{
	bmx_buf_add(b, "{", 1);
	kv_num(b, "preference", m->pref, 1);
	kv_str(b, "host", m->name, 1);
	kv_str(b, "role", m->role == CHECK_ROLE_PRIMARY ? "primary" : "backup", 1);
	kv_bool(b, "implicit", m->implicit, 1);
	kv_bool(b, "cname", m->is_cname, 1);
	kv_bool(b, "ip_literal", m->is_literal, 1);
	key(b, "a");
	bmx_buf_add(b, "{", 1);
	kv_str(b, "status", check_dns_status_name(m->a_status), 1);
	key(b, "ttl");
	if (m->a_status == DNS_OK)
		bmx_buf_fmt(b, "%u},", (unsigned)m->a_ttl);
	else
		bmx_buf_fmt(b, "null},");
	key(b, "aaaa");
	bmx_buf_add(b, "{", 1);
	kv_str(b, "status", check_dns_status_name(m->aaaa_status), 1);
	key(b, "ttl");
	if (m->aaaa_status == DNS_OK)
		bmx_buf_fmt(b, "%u},", (unsigned)m->aaaa_ttl);
	else
		bmx_buf_fmt(b, "null},");
	kv_str(b, "dnssec", check_dns_sec_name(m->sec), 1);
	key(b, "accepts_mail");
	bmx_buf_fmt(b, "%s,", !m->probed ? "null" : m->accepts_mail ? "true" : "false");
	key(b, "addresses");
	bmx_buf_add(b, "[", 1);
	for (size_t j = 0; j < m->naddr; j++) {
		if (j)
			bmx_buf_add(b, ",", 1);
		json_addr(b, &m->addr[j]);
	}
	bmx_buf_add(b, "]}", 2);
}

/* The whole document. */
void check_report_json(struct bmx_buf *b, const struct check_result *res)
{
	enum check_state st = check_verdict(res);
	struct bmx_buf sum;
	struct tm tm;
	char when[32] = "";

	gmtime_r(&res->started, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	bmx_buf_add(b, "{", 1);
	kv_num(b, "schema_version", CHECK_SCHEMA_VERSION, 1);
	kv_str(b, "domain", res->domain, 1);
	kv_str(b, "checked_at", when, 1);
	kv_ms(b, "elapsed_ms", res->elapsed_ms, 1);
	kv_str(b, "status", check_state_name(st), 1);
	kv_num(b, "exit_code", (long long)st, 1);
	bmx_buf_init(&sum);
	check_summary(&sum, res);
	kv_str(b, "summary", sum.p ? sum.p : "", 1);
	bmx_buf_free(&sum);
	key(b, "options");
	bmx_buf_add(b, "{", 1);
	kv_num(b, "port", res->port, 1);
	key(b, "timeout_s");
	bmx_buf_fmt(b, "%.3f,", (double)res->timeout_ms / 1000.0);
	kv_str(b, "resolver", res->resolver, 1);
	kv_bool(b, "smtp", res->smtp, 1);
	kv_bool(b, "allow_private", res->allow_private, 1);
	kv_str(b, "family", res->family == 4 ? "ipv4" : res->family == 6 ? "ipv6" : "any", 0);
	bmx_buf_add(b, "},", 2);
	key(b, "dns");
	bmx_buf_add(b, "{", 1);
	kv_str(b, "status", check_dns_status_name(res->dns_status), 1);
	kv_str_or_null(b, "reason", res->dns_status == DNS_OK ? "" : res->dns_why, 1);
	kv_bool(b, "null_mx", res->null_mx, 1);
	kv_bool(b, "implicit_mx", res->implicit, 1);
	key(b, "mx_ttl");
	if (res->dns_status == DNS_OK && !res->implicit)
		bmx_buf_fmt(b, "%u,", (unsigned)res->mx_ttl);
	else
		bmx_buf_fmt(b, "null,");
	kv_str(b, "dnssec", check_dns_sec_name(res->mx_sec), 0);
	bmx_buf_add(b, "},", 2);
	key(b, "mx");
	bmx_buf_add(b, "[", 1);
	for (size_t i = 0; i < res->nmx; i++) {
		if (i)
			bmx_buf_add(b, ",", 1);
		json_mx(b, &res->mx[i]);
	}
	bmx_buf_add(b, "],", 2);
	key(b, "findings");
	bmx_buf_add(b, "[", 1);
	for (size_t i = 0; i < res->nfind; i++) {
		const struct check_finding *f = &res->find[i];
		if (i)
			bmx_buf_add(b, ",", 1);
		bmx_buf_add(b, "{", 1);
		kv_str(b, "code", f->code, 1);
		kv_str(b, "severity", check_sev_name(f->sev), 1);
		kv_str_or_null(b, "mx", f->mx >= 0 && (size_t)f->mx < res->nmx ?
			       res->mx[f->mx].name : "", 1);
		kv_str_or_null(b, "address", f->mx >= 0 && (size_t)f->mx < res->nmx &&
			       f->addr >= 0 && (size_t)f->addr < res->mx[f->mx].naddr ?
			       res->mx[f->mx].addr[f->addr].str : "", 1);
		kv_str(b, "message", f->msg, 0);
		bmx_buf_add(b, "}", 1);
	}
	bmx_buf_add(b, "],", 2);
	kv_num(b, "findings_dropped", (long long)res->nfind_dropped, 0);
	bmx_buf_add(b, "}\n", 2);
}
