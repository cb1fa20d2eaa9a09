/*
 * check_roles.c - the checker's role-level findings, from the facts of
 * every MX host: does anything accept mail, is only a backup up, does a
 * backup accept what the primary refuses (backscatter) or pass the primary's own
 * refusal on (a backupmx proxy), and is each backup
 * on a par with the primary (STARTTLS, SIZE, IPv6, DNSSEC).  Pure, like
 * check_rules.c, whose check_analyze() calls check_role_findings().
 */
#include "check/check.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* First address of a host whose probe got this far; NULL if none. */
static const struct check_smtp *host_smtp(const struct check_mx *m)
{
	for (size_t j = 0; j < m->naddr; j++)
		if (m->addr[j].smtp.status == CHECK_SMTP_OK)
			return &m->addr[j].smtp;
	return NULL;
}

/* Whether some address of the host accepted or rejected the random recipient. */
static int host_random(const struct check_mx *m, int cls)
{
	for (size_t j = 0; j < m->naddr; j++) {
		const struct check_smtp *s = &m->addr[j].smtp;
		if (s->status == CHECK_SMTP_OK && s->mail_from.code / 100 == 2 &&
		    s->rcpt_random.code / 100 == cls)
			return 1;
	}
	return 0;
}

/* Whether the host has an address of a family. */
static int host_has_family(const struct check_mx *m, int family)
{
	for (size_t j = 0; j < m->naddr; j++)
		if (m->addr[j].sa.ss_family == family)
			return 1;
	return 0;
}

/* Availability: nothing accepts mail (critical), or only a backup does. */
static void role_availability(struct check_result *res)
{
	int any_probed = 0, any_up = 0, prim_up = 0, nprim = 0;
	const struct check_mx *up = NULL;

	for (size_t i = 0; i < res->nmx; i++) {
		const struct check_mx *m = &res->mx[i];
		any_probed |= m->probed;
		any_up |= m->accepts_mail;
		if (m->accepts_mail && !up)
			up = m;
		if (m->role != CHECK_ROLE_PRIMARY)
			continue;
		nprim++;
		prim_up |= m->accepts_mail;
	}
	if (any_probed && !any_up)
		check_add(res, "no_mx_accepts", CHECK_SEV_CRITICAL, -1, -1,
			  "no MX host of %s accepts mail", res->domain);
	else if (any_probed && nprim && !prim_up)
		check_add(res, "primary_down", CHECK_SEV_WARNING, -1, -1,
			  "the primary MX is down, but %s %s accepts mail", up ?
			  check_role_name(up->role) : "backup", up ? up->name : "?");
}

/* Hosts that accept a nonexistent recipient: backscatter on a backup when
 * the primary refuses it, else a catch-all worth knowing. */
static void role_catchall(struct check_result *res)
{
	int prim_rejects_random = 0;
	for (size_t i = 0; i < res->nmx; i++)
		if (res->mx[i].role == CHECK_ROLE_PRIMARY && host_random(&res->mx[i], 5))
			prim_rejects_random = 1;
	for (size_t i = 0; i < res->nmx; i++) {
		const struct check_mx *m = &res->mx[i];
		if (!host_random(m, 2))
			continue;
		const char *rnd = host_smtp(m) ? host_smtp(m)->random_rcpt : "?";
		if (m->role == CHECK_ROLE_BACKUP && prim_rejects_random)
			check_add(res, "backscatter_risk", CHECK_SEV_WARNING, (int)i, -1,
				  "backup %s accepts the nonexistent <%s> while the primary "
				  "rejects it: it will bounce spam to forged senders "
				  "(backscatter); give it the list of valid recipients", m->name,
				  rnd);
		else
			check_add(res, "accepts_unknown_user", CHECK_SEV_INFO, (int)i, -1,
				  "%s accepts the nonexistent <%s> (catch-all, or no recipient "
				  "check at RCPT time)", m->name, rnd);
	}
}

/* Backups that answered the nonexistent recipient with the primary's own
 * refusal ("... said: ...", backupmx primary_up = proxy): the good case. */
static void role_proxy(struct check_result *res)
{
	for (size_t i = 0; i < res->nmx; i++) {
		const struct check_mx *m = &res->mx[i];
		const struct check_smtp *s = host_smtp(m);
		if (m->role != CHECK_ROLE_BACKUP || !s || !host_random(m, 5) ||
		    !strstr(s->rcpt_random.text, " said: "))
			continue;
		check_add(res, "backup_proxies", CHECK_SEV_INFO, (int)i, -1,
			  "backup %s proxies to the primary: it relayed the primary's refusal "
			  "of <%s> live (%d %s), so it queues nothing the primary would refuse",
			  m->name, s->random_rcpt, s->rcpt_random.code, s->rcpt_random.text);
	}
}

/* The class (2, 4, 5) of the GTUBE probe's reply at some address of a host, 0 if none. */
static int host_filter(const struct check_mx *m)
{
	for (size_t j = 0; j < m->naddr; j++) {
		const struct check_smtp *s = &m->addr[j].smtp;
		if (s->status == CHECK_SMTP_OK && s->filter.tested && s->filter.code)
			return s->filter.code / 100;
	}
	return 0;
}

/* --filter-probe: a backup that accepts the GTUBE message the primary
 * refuses bypasses the primary's content filter (critical). */
static void role_filter(struct check_result *res)
{
	const struct check_mx *refusing = NULL;
	for (size_t i = 0; i < res->nmx; i++)
		if (res->mx[i].role == CHECK_ROLE_PRIMARY && host_filter(&res->mx[i]) == 5)
			refusing = &res->mx[i];
	for (size_t i = 0; refusing && i < res->nmx; i++) {
		const struct check_mx *m = &res->mx[i];
		if (m->role == CHECK_ROLE_BACKUP && host_filter(m) == 2)
			check_add(res, "filter_bypass", CHECK_SEV_CRITICAL, (int)i, -1,
				  "backup MX %s bypasses the primary's content filter: it accepted "
				  "the GTUBE test message that the primary %s refuses (run milters "
				  "such as rspamd on the backup, or primary_up = proxy)", m->name,
				  refusing->name);
	}
}

/* SMTP parity of backup i with the primary ref: STARTTLS and SIZE. */
static void parity_smtp(struct check_result *res, const struct check_mx *ref, size_t i)
{
	const struct check_mx *b = &res->mx[i];
	const struct check_smtp *ps = ref ? host_smtp(ref) : NULL;
	const struct check_smtp *bs = host_smtp(b);
	if (!ps || !bs)
		return;
	if (ps->tls.offered && !bs->tls.offered)
		check_add(res, "parity_starttls", CHECK_SEV_WARNING, (int)i, -1,
			  "primary %s offers STARTTLS but backup %s does not: an "
			  "attacker who blocks the primary forces mail through the "
			  "backup in clear text (downgrade)", ref->name, b->name);
	if (ps->size_advertised && bs->size_advertised && ps->size != bs->size)
		check_add(res, "parity_size", CHECK_SEV_WARNING, (int)i, -1,
			  "SIZE differs: primary %s %llu bytes, backup %s %llu "
			  "bytes (%s)", ref->name, ps->size, b->name, bs->size,
			  bs->size && (bs->size < ps->size || !ps->size) ?
			  "large mail bounces while the primary is down" :
			  "the backup accepts mail the primary will refuse");
	else if (ps->size_advertised != bs->size_advertised)
		check_add(res, "parity_size", CHECK_SEV_INFO, (int)i, -1,
			  "only %s advertises SIZE", bs->size_advertised ? b->name :
			  ref->name);
}

/* DNS parity of backup i with the primary pr: IPv6 and DNSSEC. */
static void parity_dns(struct check_result *res, const struct check_mx *pr, size_t i)
{
	const struct check_mx *b = &res->mx[i];
	if (!pr)
		return;
	if (res->family == 0) {
		int p6 = host_has_family(pr, AF_INET6), b6 = host_has_family(b, AF_INET6);
		if (p6 && !b6)
			check_add(res, "parity_ipv6", CHECK_SEV_WARNING, (int)i, -1,
				  "primary %s has IPv6 but backup %s does not: IPv6-only "
				  "senders cannot fail over", pr->name, b->name);
		else if (!p6 && b6)
			check_add(res, "parity_ipv6", CHECK_SEV_INFO, (int)i, -1,
				  "backup %s has IPv6 but primary %s does not", b->name,
				  pr->name);
	}
	if (pr->sec == DNS_SEC_SECURE && b->sec != DNS_SEC_SECURE)
		check_add(res, "parity_dnssec", CHECK_SEV_WARNING, (int)i, -1,
			  "the addresses of primary %s are DNSSEC-signed but those of "
			  "backup %s are not (DANE cannot protect the backup)", pr->name,
			  b->name);
	else if (pr->sec != DNS_SEC_SECURE && b->sec == DNS_SEC_SECURE)
		check_add(res, "parity_dnssec", CHECK_SEV_INFO, (int)i, -1,
			  "backup %s is DNSSEC-signed but primary %s is not", b->name,
			  pr->name);
}

/* Role-level findings: primary down, nothing up, backscatter, parity of
 * each backup with the first primary that accepts mail (else the first). */
void check_role_findings(struct check_result *res)
{
	const struct check_mx *ref = NULL, *ref_any = NULL;

	role_availability(res);
	role_catchall(res);
	role_proxy(res);
	role_filter(res);
	for (size_t i = 0; i < res->nmx; i++) {
		const struct check_mx *m = &res->mx[i];
		if (m->role != CHECK_ROLE_PRIMARY)
			continue;
		if (!ref_any)
			ref_any = m;
		if (m->accepts_mail && !ref)
			ref = m;
	}
	for (size_t i = 0; i < res->nmx; i++) {
		if (res->mx[i].role != CHECK_ROLE_BACKUP)
			continue;
		parity_smtp(res, ref, i);
		parity_dns(res, ref ? ref : ref_any, i);
	}
}
