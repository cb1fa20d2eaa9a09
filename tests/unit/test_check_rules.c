/*
 * test_check_rules.c - table tests for the checker's analysis (check_rules.c).
 *
 * One table of scenarios: each starts from a healthy primary/backup pair (or
 * a hand-built result), changes the facts it is about, runs check_analyze()
 * and checks the exit code, the finding codes that must appear (with their
 * severity) and those that must not.  Smaller tables cover address classes,
 * /24 and /48 comparison, the verdict order and the text helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_check_fixture.h"

#define MAXC 6

struct want {
	const char *code;
	enum check_sev sev;
};

struct scenario {
	const char *name;
	struct check_result *(*build)(struct check_opts *o);
	enum check_state exit;
	struct want must[MAXC];
	const char *must_not[MAXC];
};

/* ---- builders: each returns a result and may set options ---- */

static struct check_result *b_healthy(struct check_opts *o)
{
	(void)o;
	return fx_pair();
}

static struct check_result *b_no_smtp(struct check_opts *o)
{
	struct check_result *r = fx_new();
	(void)o;
	r->smtp = 0;
	fx_addr(r, fx_mx(r, 10, "mx1.example.test"), "192.0.32.10");
	fx_addr(r, fx_mx(r, 20, "mx2.example.test"), "198.41.0.20");
	return r;
}

static struct check_result *b_single(struct check_opts *o)
{
	struct check_result *r = fx_new();
	(void)o;
	fx_addr(r, fx_mx(r, 10, "mx1.example.test"), "192.0.32.10");
	return r;
}

static struct check_result *b_equal(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[1].pref = 10;
	return r;
}

static struct check_result *b_equal_roles(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	r->mx[1].pref = 10;
	o->backup[o->nbackup++] = "mx2.example.test";
	return r;
}

static struct check_result *b_backup_preferred(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	o->primary[o->nprimary++] = "mx2.example.test";
	return r;
}

static struct check_result *b_role_unknown(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	o->backup[o->nbackup++] = "mx9.example.test";
	return r;
}

static struct check_result *b_nxdomain(struct check_opts *o)
{
	struct check_result *r = fx_new();
	(void)o;
	r->dns_status = DNS_NXDOMAIN;
	return r;
}

static struct check_result *b_nullmx(struct check_opts *o)
{
	struct check_result *r = fx_new();
	(void)o;
	r->null_mx = 1;
	return r;
}

static struct check_result *b_servfail(struct check_opts *o)
{
	struct check_result *r = fx_new();
	(void)o;
	r->dns_status = DNS_TEMPFAIL;
	snprintf(r->dns_why, sizeof(r->dns_why), "SERVFAIL");
	return r;
}

static struct check_result *b_nodata(struct check_opts *o)
{
	struct check_result *r = fx_new();
	(void)o;
	r->dns_status = DNS_NODATA;
	return r;
}

static struct check_result *b_implicit(struct check_opts *o)
{
	struct check_result *r = fx_new();
	(void)o;
	r->implicit = 1;
	struct check_mx *m = fx_mx(r, 0, "example.test");
	m->implicit = 1;
	fx_addr(r, m, "192.0.32.10");
	return r;
}

static struct check_result *b_ttl(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx_ttl = 172800;
	return r;
}

static struct check_result *b_cname(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[1].is_cname = 1;
	return r;
}

static struct check_result *b_literal(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[1].is_literal = 1;
	return r;
}

static struct check_result *b_noaddr(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[1].naddr = 0;
	r->mx[1].a_status = DNS_NODATA;
	return r;
}

static struct check_result *b_addr_tempfail(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[1].naddr = 0;
	r->mx[1].a_status = DNS_TEMPFAIL;
	return r;
}

static struct check_result *b_loopback(struct check_opts *o)
{
	struct check_result *r = fx_new();
	(void)o;
	fx_addr(r, fx_mx(r, 10, "mx1.example.test"), "127.0.0.2");
	fx_addr(r, fx_mx(r, 20, "mx2.example.test"), "10.1.0.3");
	return r;
}

static struct check_result *b_loopback_allowed(struct check_opts *o)
{
	o->allow_private = 1;
	return b_loopback(o);
}

static struct check_result *b_shared_ip(struct check_opts *o)
{
	struct check_result *r = fx_new();
	(void)o;
	fx_addr(r, fx_mx(r, 10, "mx1.example.test"), "192.0.32.10");
	fx_addr(r, fx_mx(r, 20, "mx2.example.test"), "192.0.32.10");
	return r;
}

static struct check_result *b_shared_24(struct check_opts *o)
{
	struct check_result *r = fx_new();
	(void)o;
	fx_addr(r, fx_mx(r, 10, "mx1.example.test"), "192.0.32.10");
	fx_addr(r, fx_mx(r, 20, "mx2.example.test"), "192.0.32.99");
	return r;
}

static struct check_result *b_shared_48(struct check_opts *o)
{
	struct check_result *r = fx_new();
	(void)o;
	fx_addr(r, fx_mx(r, 10, "mx1.example.test"), "2a00:1450:4001::1");
	fx_addr(r, fx_mx(r, 20, "mx2.example.test"), "2a00:1450:4001:99::2");
	return r;
}

static struct check_result *b_primary_refused(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	struct check_smtp *s = &r->mx[0].addr[0].smtp;
	memset(s, 0, sizeof(*s));
	s->status = CHECK_SMTP_REFUSED;
	s->connect_ms = s->banner_ms = s->total_ms = -1;
	snprintf(s->error, sizeof(s->error), "connect: Connection refused");
	return r;
}

static struct check_result *b_all_down(struct check_opts *o)
{
	struct check_result *r = b_primary_refused(o);
	struct check_smtp *s = &r->mx[1].addr[0].smtp;
	memset(s, 0, sizeof(*s));
	s->status = CHECK_SMTP_TIMEOUT;
	s->connect_ms = 1;
	s->banner_ms = s->total_ms = -1;
	return r;
}

static struct check_result *b_one_addr_down(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	struct check_addr *a = fx_addr(r, &r->mx[0], "192.0.33.10");
	a->smtp.status = CHECK_SMTP_TIMEOUT;
	return r;
}

static struct check_result *b_open_relay(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[1].addr[0].smtp.rcpt_relay.code = 250;
	return r;
}

static struct check_result *b_backscatter(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[1].addr[0].smtp.rcpt_random.code = 250;
	return r;
}

static struct check_result *b_catchall(struct check_opts *o)
{
	struct check_result *r = b_backscatter(o);
	r->mx[0].addr[0].smtp.rcpt_random.code = 250;
	return r;
}

static struct check_result *b_proxy(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	struct check_smtp *s = &r->mx[1].addr[0].smtp;
	s->rcpt_random.code = 550;
	snprintf(s->rcpt_random.text, sizeof(s->rcpt_random.text),
		 "5.1.1 primary mx1.example.test[192.0.2.1]:25 said: User unknown");
	return r;
}

static struct check_result *b_filter_bypass(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	struct check_smtp *p = &r->mx[0].addr[0].smtp, *b = &r->mx[1].addr[0].smtp;
	p->filter = (struct check_reply){1, 554, "5.7.1 GTUBE test pattern found"};
	b->filter = (struct check_reply){1, 250, "2.0.0 Ok: queued as X"};
	return r;
}

static struct check_result *b_filter_same(struct check_opts *o)
{
	struct check_result *r = b_filter_bypass(o);
	r->mx[1].addr[0].smtp.filter = (struct check_reply){1, 554, "5.7.1 Gtube pattern"};
	return r;
}

static struct check_result *b_tls_parity(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	struct check_smtp *s = &r->mx[1].addr[0].smtp;
	memset(&s->tls, 0, sizeof(s->tls));
	s->caps &= ~SMTP_CAP_STARTTLS;
	return r;
}

static struct check_result *b_size_parity(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[1].addr[0].smtp.size = 1000000;
	return r;
}

static struct check_result *b_dnssec_parity(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[0].sec = DNS_SEC_SECURE;
	return r;
}

static struct check_result *b_ipv6_parity(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	fx_addr(r, &r->mx[0], "2a00:1450:4001::1");
	return r;
}

static struct check_result *b_postmaster(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[1].addr[0].smtp.rcpt_postmaster.code = 550;
	return r;
}

static struct check_result *b_null_sender(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	struct check_smtp *s = &r->mx[1].addr[0].smtp;
	s->mail_from.code = 553;
	s->rcpt_relay.code = 250;   /* meaningless after a refused MAIL: ignored */
	return r;
}

static struct check_result *b_no_ptr(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	struct check_addr *a = &r->mx[1].addr[0];
	a->ptr_status = DNS_NXDOMAIN;
	a->nptr = 0;
	a->fcrdns = -1;
	return r;
}

static struct check_result *b_no_fcrdns(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[1].addr[0].fcrdns = 0;
	return r;
}

static struct check_result *b_cert_expired(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[0].addr[0].smtp.tls.days_left = -3;
	r->mx[1].addr[0].smtp.tls.days_left = 5;
	return r;
}

static struct check_result *b_cert_selfsigned(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	r->mx[0].addr[0].smtp.tls.verified = 0;
	r->mx[0].addr[0].smtp.tls.name_match = 0;
	return r;
}

static struct check_result *b_tls_failed(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	struct check_smtp *s = &r->mx[1].addr[0].smtp;
	s->tls.ok = 0;
	s->plaintext_retry = 1;
	snprintf(s->tls.error, sizeof(s->tls.error), "TLS handshake: alert");
	return r;
}

static struct check_result *b_banner(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	snprintf(r->mx[1].addr[0].smtp.banner_host, DNS_NAME_MAX, "other.example.org");
	return r;
}

static struct check_result *b_helo_only(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	struct check_smtp *s = &r->mx[1].addr[0].smtp;
	s->used_helo = 1;
	s->caps = 0;
	s->size_advertised = 0;
	memset(&s->tls, 0, sizeof(s->tls));
	return r;
}

static struct check_result *b_duplicate(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	fx_addr(r, fx_mx(r, 30, "mx1.example.test"), "192.0.32.10");
	return r;
}

static struct check_result *b_incomplete(struct check_opts *o)
{
	struct check_result *r = fx_pair();
	(void)o;
	struct check_smtp *s = &r->mx[1].addr[0].smtp;
	snprintf(s->error, sizeof(s->error), "server closing: 421 too busy");
	s->rcpt_relay.code = 0;
	return r;
}

#define W CHECK_SEV_WARNING
#define C CHECK_SEV_CRITICAL
#define I CHECK_SEV_INFO
#define U CHECK_SEV_UNKNOWN

static const struct scenario scenarios[] = {
	{ "healthy pair", b_healthy, CHECK_OK, { { NULL, 0 } },
	  { "single_mx", "equal_preference", "shared_subnet", "no_ptr", "open_relay" } },
	{ "no smtp probes", b_no_smtp, CHECK_OK, { { NULL, 0 } },
	  { "mx_down", "no_mx_accepts", "no_starttls", "primary_down" } },
	{ "single MX", b_single, CHECK_WARNING, { { "single_mx", W } }, { "equal_preference" } },
	{ "equal preferences", b_equal, CHECK_WARNING, { { "equal_preference", W } },
	  { "single_mx" } },
	{ "equal preference with explicit backup", b_equal_roles, CHECK_WARNING,
	  { { "equal_preference", W } }, { NULL } },
	{ "backup preferred over primary", b_backup_preferred, CHECK_WARNING,
	  { { "backup_preferred", W } }, { NULL } },
	{ "role name not in the MX set", b_role_unknown, CHECK_WARNING,
	  { { "role_host_not_mx", W }, { "no_backup_mx", W } }, { "equal_preference" } },
	{ "NXDOMAIN", b_nxdomain, CHECK_CRITICAL, { { "nxdomain", C } }, { "single_mx" } },
	{ "null MX", b_nullmx, CHECK_CRITICAL, { { "null_mx", C } }, { NULL } },
	{ "SERVFAIL", b_servfail, CHECK_UNKNOWN, { { "dns_failure", U } }, { NULL } },
	{ "no MX, no address", b_nodata, CHECK_CRITICAL, { { "no_mail_host", C } }, { NULL } },
	{ "implicit MX", b_implicit, CHECK_WARNING, { { "implicit_mx", W } }, { "single_mx" } },
	{ "long MX TTL", b_ttl, CHECK_WARNING, { { "mx_ttl_long", W } }, { NULL } },
	{ "MX is a CNAME", b_cname, CHECK_WARNING, { { "mx_cname", W } }, { NULL } },
	{ "MX is an IP literal", b_literal, CHECK_WARNING, { { "mx_ip_literal", W } }, { NULL } },
	{ "MX without address", b_noaddr, CHECK_WARNING, { { "mx_no_address", W } },
	  { "mx_down" } },
	{ "MX address lookup fails", b_addr_tempfail, CHECK_WARNING,
	  { { "mx_dns_failure", W } }, { "mx_no_address" } },
	{ "loopback/private addresses", b_loopback, CHECK_WARNING,
	  { { "private_address", W } }, { NULL } },
	{ "loopback allowed", b_loopback_allowed, CHECK_OK, { { "private_address", I } },
	  { NULL } },
	{ "one IP for two MX", b_shared_ip, CHECK_WARNING, { { "shared_ip", W } },
	  { "shared_subnet" } },
	{ "primary and backup in one /24", b_shared_24, CHECK_WARNING,
	  { { "shared_subnet", W } }, { "shared_ip" } },
	{ "primary and backup in one /48", b_shared_48, CHECK_WARNING,
	  { { "shared_subnet", W } }, { NULL } },
	{ "primary refused", b_primary_refused, CHECK_WARNING,
	  { { "primary_down", W }, { "mx_down", W } }, { "no_mx_accepts", "parity_starttls" } },
	{ "everything down", b_all_down, CHECK_CRITICAL, { { "no_mx_accepts", C } },
	  { "primary_down" } },
	{ "one address down", b_one_addr_down, CHECK_WARNING, { { "addr_down", W } },
	  { "mx_down", "primary_down" } },
	{ "open relay", b_open_relay, CHECK_CRITICAL, { { "open_relay", C } }, { NULL } },
	{ "backscatter", b_backscatter, CHECK_WARNING, { { "backscatter_risk", W } },
	  { "accepts_unknown_user" } },
	{ "catch-all everywhere", b_catchall, CHECK_OK, { { "accepts_unknown_user", I } },
	  { "backscatter_risk" } },
	{ "backup takes the GTUBE the primary refuses", b_filter_bypass, CHECK_CRITICAL,
	  { { "filter_bypass", C } }, { NULL } },
	{ "backup refuses the GTUBE too", b_filter_same, CHECK_OK, { { NULL } },
	  { "filter_bypass" } },
	{ "backup relays the primary's refusal", b_proxy, CHECK_OK,
	  { { "backup_proxies", I } }, { "backscatter_risk", "accepts_unknown_user" } },
	{ "backup without STARTTLS", b_tls_parity, CHECK_WARNING,
	  { { "parity_starttls", W }, { "no_starttls", W } }, { NULL } },
	{ "SIZE differs", b_size_parity, CHECK_WARNING, { { "parity_size", W } }, { NULL } },
	{ "DNSSEC differs", b_dnssec_parity, CHECK_WARNING, { { "parity_dnssec", W } },
	  { NULL } },
	{ "IPv6 differs", b_ipv6_parity, CHECK_WARNING, { { "parity_ipv6", W } }, { NULL } },
	{ "postmaster refused", b_postmaster, CHECK_WARNING, { { "postmaster_refused", W } },
	  { NULL } },
	{ "null sender refused", b_null_sender, CHECK_WARNING,
	  { { "null_sender_refused", W } }, { "open_relay" } },
	{ "no PTR", b_no_ptr, CHECK_WARNING, { { "no_ptr", W } }, { "ptr_not_confirmed" } },
	{ "PTR not forward-confirmed", b_no_fcrdns, CHECK_WARNING,
	  { { "ptr_not_confirmed", W } }, { "no_ptr" } },
	{ "certificates expired and expiring", b_cert_expired, CHECK_WARNING,
	  { { "cert_expired", W }, { "cert_expiring", W } }, { NULL } },
	{ "self-signed certificate", b_cert_selfsigned, CHECK_OK,
	  { { "cert_unverified", I }, { "cert_name_mismatch", I } }, { NULL } },
	{ "TLS handshake failed", b_tls_failed, CHECK_WARNING, { { "tls_failed", W } },
	  { NULL } },
	{ "banner names another host", b_banner, CHECK_OK, { { "banner_name_mismatch", I } },
	  { NULL } },
	{ "HELO only", b_helo_only, CHECK_WARNING, { { "no_esmtp", W } },
	  { "no_starttls" } },
	{ "duplicate MX name", b_duplicate, CHECK_WARNING, { { "duplicate_mx", W } },
	  { "shared_ip" } },
	{ "session cut after the greeting", b_incomplete, CHECK_WARNING,
	  { { "probe_incomplete", W } }, { NULL } },
};

/* Every scenario gives its exit code and findings. */
static void test_scenarios(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct scenario *sc = &scenarios[i];
		struct check_opts o;
		memset(&o, 0, sizeof(o));
		struct check_result *r = sc->build(&o);
		r->allow_private = o.allow_private;
		check_analyze(r, &o);
		enum check_state st = check_verdict(r);
		if (st != sc->exit) {
			print_error("%s: exit %d, want %d\n", sc->name, st, sc->exit);
			for (size_t k = 0; k < r->nfind; k++)
				print_error("  %s %s: %s\n", check_sev_name(r->find[k].sev),
					    r->find[k].code, r->find[k].msg);
			fail();
		}
		for (size_t k = 0; k < MAXC && sc->must[k].code; k++) {
			const struct check_finding *f = check_find(r, sc->must[k].code);
			if (!f) {
				print_error("%s: missing %s\n", sc->name, sc->must[k].code);
				fail();
			}
			if (f->sev != sc->must[k].sev && sc->must[k].sev != 0) {
				print_error("%s: %s has severity %s\n", sc->name, f->code,
					    check_sev_name(f->sev));
				fail();
			}
		}
		for (size_t k = 0; k < MAXC && sc->must_not[k]; k++) {
			if (check_find(r, sc->must_not[k])) {
				print_error("%s: unexpected %s\n", sc->name, sc->must_not[k]);
				fail();
			}
		}
		check_result_free(r);
	}
}

/* The TTL warning gives the advice of about 300 s. */
static void test_ttl_advice(void **state)
{
	struct check_opts o;
	(void)state;
	memset(&o, 0, sizeof(o));
	struct check_result *r = b_ttl(&o);
	check_analyze(r, &o);
	const struct check_finding *f = check_find(r, "mx_ttl_long");
	assert_non_null(f);
	assert_non_null(strstr(f->msg, "172800"));
	assert_non_null(strstr(f->msg, "300 s"));
	check_result_free(r);
}

/* Default roles: best preference primary; --primary and --backup override. */
static void test_roles(void **state)
{
	struct check_opts o;
	(void)state;
	memset(&o, 0, sizeof(o));
	struct check_result *r = fx_pair();
	fx_addr(r, fx_mx(r, 30, "mx3.example.test"), "198.41.1.30");
	check_analyze(r, &o);
	assert_int_equal(r->mx[0].role, CHECK_ROLE_PRIMARY);
	assert_int_equal(r->mx[1].role, CHECK_ROLE_BACKUP);
	assert_int_equal(r->mx[2].role, CHECK_ROLE_BACKUP);
	o.primary[o.nprimary++] = "MX2.example.test.";
	check_analyze(r, &o);
	assert_int_equal(r->mx[0].role, CHECK_ROLE_BACKUP);
	assert_int_equal(r->mx[1].role, CHECK_ROLE_PRIMARY);
	assert_int_equal(r->mx[2].role, CHECK_ROLE_BACKUP);
	memset(&o, 0, sizeof(o));
	o.backup[o.nbackup++] = "mx1.example.test";
	check_analyze(r, &o);
	assert_int_equal(r->mx[0].role, CHECK_ROLE_BACKUP);
	assert_int_equal(r->mx[1].role, CHECK_ROLE_PRIMARY);
	assert_int_equal(r->mx[2].role, CHECK_ROLE_PRIMARY);
	check_result_free(r);
}

struct class_case {
	const char *ip;
	enum check_addr_class cls;
};

static const struct class_case classes[] = {
	{ "8.8.8.8", CHECK_ADDR_PUBLIC },        { "192.0.32.10", CHECK_ADDR_PUBLIC },
	{ "10.0.0.1", CHECK_ADDR_PRIVATE },      { "172.16.0.1", CHECK_ADDR_PRIVATE },
	{ "172.31.255.255", CHECK_ADDR_PRIVATE }, { "172.32.0.1", CHECK_ADDR_PUBLIC },
	{ "192.168.1.1", CHECK_ADDR_PRIVATE },   { "127.0.0.2", CHECK_ADDR_LOOPBACK },
	{ "169.254.1.1", CHECK_ADDR_LINKLOCAL }, { "100.64.0.1", CHECK_ADDR_SHARED },
	{ "100.128.0.1", CHECK_ADDR_PUBLIC },    { "0.1.2.3", CHECK_ADDR_RESERVED },
	{ "192.0.2.7", CHECK_ADDR_RESERVED },    { "198.51.100.7", CHECK_ADDR_RESERVED },
	{ "203.0.113.7", CHECK_ADDR_RESERVED },  { "198.18.0.1", CHECK_ADDR_RESERVED },
	{ "198.20.0.1", CHECK_ADDR_PUBLIC },     { "224.0.0.1", CHECK_ADDR_RESERVED },
	{ "255.255.255.255", CHECK_ADDR_RESERVED },
	{ "2a00:1450:4001::1", CHECK_ADDR_PUBLIC }, { "::1", CHECK_ADDR_LOOPBACK },
	{ "::", CHECK_ADDR_RESERVED },           { "fd00::1", CHECK_ADDR_PRIVATE },
	{ "fe80::1", CHECK_ADDR_LINKLOCAL },     { "ff02::1", CHECK_ADDR_RESERVED },
	{ "2001:db8::1", CHECK_ADDR_RESERVED },  { "::ffff:10.0.0.1", CHECK_ADDR_PRIVATE },
	{ "::ffff:8.8.8.8", CHECK_ADDR_PUBLIC }, { "4000::1", CHECK_ADDR_RESERVED },
};

/* Fill a sockaddr from text. */
static void sa_from(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
}

/* Address classes follow the special-purpose registries. */
static void test_classify(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		struct sockaddr_storage ss;
		sa_from(classes[i].ip, &ss);
		enum check_addr_class c = check_addr_classify((struct sockaddr *)&ss);
		if (c != classes[i].cls) {
			print_error("%s: %s\n", classes[i].ip, check_addr_class_name(c));
			fail();
		}
	}
}

struct subnet_case {
	const char *a, *b;
	int same_net, same_addr;
};

static const struct subnet_case subnets[] = {
	{ "192.0.32.10", "192.0.32.200", 1, 0 },
	{ "192.0.32.10", "192.0.33.10", 0, 0 },
	{ "192.0.32.10", "192.0.32.10", 1, 1 },
	{ "2a00:1450:4001::1", "2a00:1450:4001:ffff::1", 1, 0 },
	{ "2a00:1450:4001::1", "2a00:1450:4002::1", 0, 0 },
	{ "2a00:1450:4001::1", "2a00:1450:4001::1", 1, 1 },
	{ "192.0.32.10", "::ffff:192.0.32.10", 0, 0 },
};

/* /24 and /48 comparison. */
static void test_subnet(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(subnets) / sizeof(subnets[0]); i++) {
		struct sockaddr_storage a, b;
		sa_from(subnets[i].a, &a);
		sa_from(subnets[i].b, &b);
		assert_int_equal(check_same_subnet((struct sockaddr *)&a, (struct sockaddr *)&b),
				 subnets[i].same_net);
		assert_int_equal(check_same_addr((struct sockaddr *)&a, (struct sockaddr *)&b),
				 subnets[i].same_addr);
	}
}

struct verdict_case {
	enum check_sev sev[3];
	size_t n;
	enum check_state want;
};

static const struct verdict_case verdicts[] = {
	{ { 0 }, 0, CHECK_OK },
	{ { CHECK_SEV_INFO }, 1, CHECK_OK },
	{ { CHECK_SEV_INFO, CHECK_SEV_WARNING }, 2, CHECK_WARNING },
	{ { CHECK_SEV_WARNING, CHECK_SEV_UNKNOWN }, 2, CHECK_UNKNOWN },
	{ { CHECK_SEV_UNKNOWN, CHECK_SEV_CRITICAL, CHECK_SEV_WARNING }, 3, CHECK_CRITICAL },
	{ { CHECK_SEV_CRITICAL }, 1, CHECK_CRITICAL },
};

/* Critical beats unknown beats warning beats info. */
static void test_verdict(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
		struct check_result *r = fx_new();
		for (size_t k = 0; k < verdicts[i].n; k++)
			check_add(r, "x", verdicts[i].sev[k], -1, -1, "finding %zu", k);
		assert_int_equal(check_verdict(r), verdicts[i].want);
		check_result_free(r);
	}
	assert_string_equal(check_state_name(CHECK_OK), "OK");
	assert_string_equal(check_state_name(CHECK_WARNING), "WARNING");
	assert_string_equal(check_state_name(CHECK_CRITICAL), "CRITICAL");
	assert_string_equal(check_state_name(CHECK_UNKNOWN), "UNKNOWN");
}

/* Findings beyond the limit are counted, not stored. */
static void test_findings_limit(void **state)
{
	(void)state;
	struct check_result *r = fx_new();
	for (int k = 0; k < CHECK_FINDINGS_MAX + 7; k++)
		check_add(r, "x", CHECK_SEV_INFO, -1, -1, "%d", k);
	assert_int_equal(r->nfind, CHECK_FINDINGS_MAX);
	assert_int_equal(r->nfind_dropped, 7);
	check_result_free(r);
}

struct word_case {
	const char *in, *want;
};

static const struct word_case words[] = {
	{ "mx1.Example.TEST ESMTP Postfix", "mx1.example.test" },
	{ "  mx.example.test. ready", "mx.example.test" },
	{ "single", "single" },
	{ "", "" },
	{ "line1\nline2", "line1" },
};

/* First word of a banner. */
static void test_first_word(void **state)
{
	char out[64];
	(void)state;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		check_first_word(words[i].in, out, sizeof(out));
		assert_string_equal(out, words[i].want);
	}
	check_first_word("abcdefghijkl", out, 5);
	assert_string_equal(out, "abcd");
}

/* Display text keeps ASCII, turns newlines into spaces and the rest into '?'. */
static void test_sanitize(void **state)
{
	char out[64];
	(void)state;
	check_sanitize("a\nb\tc\x1b[31md\x7f\xc3\xa9", out, sizeof(out));
	assert_string_equal(out, "a b c?[31md???");
	check_sanitize("abcdef", out, 4);
	assert_string_equal(out, "abc");
	check_sanitize(NULL, out, sizeof(out));
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),  cmocka_unit_test(test_ttl_advice),
		cmocka_unit_test(test_roles),      cmocka_unit_test(test_classify),
		cmocka_unit_test(test_subnet),     cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_findings_limit), cmocka_unit_test(test_first_word),
		cmocka_unit_test(test_sanitize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
