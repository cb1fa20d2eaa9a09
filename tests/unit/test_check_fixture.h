/*
 * test_check_fixture.h - build struct check_result values by hand for the
 * checker's unit tests (rules, verdict, renderers).
 *
 * fx_new() gives an empty, resolved result for example.test; fx_mx() adds an
 * MX host; fx_addr() adds an address whose facts are those of a healthy,
 * public, well-configured MX (PTR and forward-confirmed rDNS, banner naming
 * the host, STARTTLS with a valid certificate, MAIL FROM:<> and postmaster
 * accepted, unknown user and foreign domain refused).  Tests then change the
 * one fact they are about.
 */
#ifndef TEST_CHECK_FIXTURE_H
#define TEST_CHECK_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "smtp/smtp.h"

/* A resolved, empty result. */
static inline struct check_result *fx_new(void)
{
	struct check_result *r = calloc(1, sizeof(*r));

	snprintf(r->domain, sizeof(r->domain), "example.test");
	snprintf(r->resolver, sizeof(r->resolver), "127.0.0.1@53");
	r->port = 25;
	r->timeout_ms = 10000;
	r->smtp = 1;
	r->dns_status = DNS_OK;
	r->mx_ttl = 3600;
	r->started = 1700000000;
	r->elapsed_ms = 12.5;
	return r;
}

/* Add an MX host with an A record. */
static inline struct check_mx *fx_mx(struct check_result *r, unsigned pref, const char *name)
{
	struct check_mx *m = &r->mx[r->nmx++];

	memset(m, 0, sizeof(*m));
	m->pref = (uint16_t)pref;
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->a_status = DNS_OK;
	m->a_ttl = 300;
	m->aaaa_status = DNS_NODATA;
	return m;
}

/* Add an address with healthy facts. */
static inline struct check_addr *fx_addr(struct check_result *r, struct check_mx *m,
					 const char *ip)
{
	struct check_addr *a = &m->addr[m->naddr++];
	struct check_smtp *s = &a->smtp;

	memset(a, 0, sizeof(*a));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
		m->aaaa_status = DNS_OK;
		m->aaaa_ttl = 300;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
		s4->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &s4->sin_addr);
	}
	snprintf(a->str, sizeof(a->str), "%s", ip);
	a->cls = check_addr_classify((struct sockaddr *)&a->sa);
	a->ptr_done = 1;
	a->ptr_status = DNS_OK;
	a->nptr = 1;
	snprintf(a->ptr[0], sizeof(a->ptr[0]), "%s", m->name);
	a->fcrdns = 1;
	if (!r->smtp)
		return a;
	s->status = CHECK_SMTP_OK;
	s->connect_ms = 12.0;
	s->banner_ms = 3.0;
	s->total_ms = 40.0;
	s->banner_code = 220;
	snprintf(s->banner, sizeof(s->banner), "%s ESMTP", m->name);
	snprintf(s->banner_host, sizeof(s->banner_host), "%s", m->name);
	snprintf(s->ehlo_host, sizeof(s->ehlo_host), "%s", m->name);
	s->caps = SMTP_CAP_SIZE | SMTP_CAP_PIPELINING | SMTP_CAP_STARTTLS | SMTP_CAP_8BITMIME;
	s->size = 10240000;
	s->size_advertised = 1;
	s->tls.offered = s->tls.attempted = s->tls.ok = 1;
	snprintf(s->tls.version, sizeof(s->tls.version), "TLSv1.3");
	snprintf(s->tls.cipher, sizeof(s->tls.cipher), "TLS_AES_256_GCM_SHA384");
	s->tls.bits = 256;
	s->tls.have_cert = s->tls.verified = s->tls.name_match = 1;
	snprintf(s->tls.subject_cn, sizeof(s->tls.subject_cn), "%s", m->name);
	snprintf(s->tls.issuer_cn, sizeof(s->tls.issuer_cn), "Test CA");
	s->tls.days_left = 80;
	s->mail_from = (struct check_reply){ 1, 250, "2.1.0 Ok" };
	s->rcpt_postmaster = (struct check_reply){ 1, 250, "2.1.5 Ok" };
	s->rcpt_random = (struct check_reply){ 1, 550, "5.1.1 User unknown" };
	s->rcpt_relay = (struct check_reply){ 1, 554, "5.7.1 Relay access denied" };
	snprintf(s->random_rcpt, sizeof(s->random_rcpt), "bmx-nonexistent-0@%s", r->domain);
	snprintf(s->relay_rcpt, sizeof(s->relay_rcpt), "relaytest@example.net");
	return a;
}

/* The usual healthy pair: primary mx1 (10) and backup mx2 (20) in different networks. */
static inline struct check_result *fx_pair(void)
{
	struct check_result *r = fx_new();

	fx_addr(r, fx_mx(r, 10, "mx1.example.test"), "192.0.32.10");
	fx_addr(r, fx_mx(r, 20, "mx2.example.test"), "198.41.0.20");
	return r;
}

#endif
