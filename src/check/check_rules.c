/*
 * check_rules.c - the checker's pure analysis: roles, findings and verdict.
 *
 * check_analyze() reads only the facts in a struct check_result and writes
 * roles, accepts_mail, banner_name_match and the list of findings.  Every
 * finding has a stable code (documented in docs/check-json.md) and a
 * severity; check_verdict() maps them to the monitoring-plugin exit code.
 * Address classification and subnet comparison live here too, so all of it
 * is unit-tested without a network.  The role-level findings (availability,
 * catch-all and backscatter, backup parity) are in check_roles.c.
 */
#include "check/check.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp/smtp.h"

/* Add one finding. */
void check_add(struct check_result *res, const char *code, enum check_sev sev, int mx, int addr,
	       const char *fmt, ...)
{
	va_list ap;

	if (res->nfind >= CHECK_FINDINGS_MAX) {
		res->nfind_dropped++;
		return;
	}
	struct check_finding *f = &res->find[res->nfind++];
	snprintf(f->code, sizeof(f->code), "%s", code);
	f->sev = sev;
	f->mx = mx;
	f->addr = addr;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
}

/* First finding with a code. */
const struct check_finding *check_find(const struct check_result *res, const char *code)
{
	for (size_t i = 0; i < res->nfind; i++)
		if (strcmp(res->find[i].code, code) == 0)
			return &res->find[i];
	return NULL;
}

/* Name of an exit state. */
const char *check_state_name(enum check_state s)
{
	switch (s) {
	case CHECK_OK: return "OK";
	case CHECK_WARNING: return "WARNING";
	case CHECK_CRITICAL: return "CRITICAL";
	case CHECK_UNKNOWN: return "UNKNOWN";
	}
	return "UNKNOWN";
}

/* Name of a severity. */
const char *check_sev_name(enum check_sev s)
{
	switch (s) {
	case CHECK_SEV_INFO: return "info";
	case CHECK_SEV_WARNING: return "warning";
	case CHECK_SEV_CRITICAL: return "critical";
	case CHECK_SEV_UNKNOWN: return "unknown";
	}
	return "unknown";
}

/* Name of a DNS status. */
const char *check_dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK: return "ok";
	case DNS_NODATA: return "nodata";
	case DNS_NXDOMAIN: return "nxdomain";
	case DNS_TEMPFAIL: return "tempfail";
	case DNS_BOGUS: return "bogus";
	}
	return "tempfail";
}

/* Name of a DNSSEC status. */
const char *check_dns_sec_name(enum dns_sec s)
{
	switch (s) {
	case DNS_SEC_SECURE: return "secure";
	case DNS_SEC_BOGUS: return "bogus";
	case DNS_SEC_INSECURE: return "insecure";
	}
	return "insecure";
}

/* Name of a probe status. */
const char *check_smtp_status_name(enum check_smtp_status s)
{
	static const char *const names[] = {
		"not_probed", "ok", "refused", "timeout", "connect_error", "rejected", "closed",
		"protocol_error", "tls_error", "local_error",
	};
	if ((unsigned)s < sizeof(names) / sizeof(names[0]))
		return names[s];
	return "local_error";
}

/* Name of an address class. */
const char *check_addr_class_name(enum check_addr_class c)
{
	static const char *const names[] = {
		"public", "private", "loopback", "link-local", "shared", "reserved",
	};
	if ((unsigned)c < sizeof(names) / sizeof(names[0]))
		return names[c];
	return "reserved";
}

/* Classify an IPv4 address given in host byte order. */
static enum check_addr_class classify_v4(uint32_t a)
{
	static const struct { uint32_t net; int bits; enum check_addr_class c; } tab[] = {
		{ 0x00000000, 8, CHECK_ADDR_RESERVED },     /* 0/8 "this network" */
		{ 0x0a000000, 8, CHECK_ADDR_PRIVATE },      /* 10/8 */
		{ 0x64400000, 10, CHECK_ADDR_SHARED },      /* 100.64/10 */
		{ 0x7f000000, 8, CHECK_ADDR_LOOPBACK },     /* 127/8 */
		{ 0xa9fe0000, 16, CHECK_ADDR_LINKLOCAL },   /* 169.254/16 */
		{ 0xac100000, 12, CHECK_ADDR_PRIVATE },     /* 172.16/12 */
		{ 0xc0000000, 24, CHECK_ADDR_RESERVED },    /* 192.0.0/24 IETF protocol */
		{ 0xc0000200, 24, CHECK_ADDR_RESERVED },    /* 192.0.2/24 TEST-NET-1 */
		{ 0xc0586300, 24, CHECK_ADDR_RESERVED },    /* 192.88.99/24 6to4 relay */
		{ 0xc0a80000, 16, CHECK_ADDR_PRIVATE },     /* 192.168/16 */
		{ 0xc6120000, 15, CHECK_ADDR_RESERVED },    /* 198.18/15 benchmarking */
		{ 0xc6336400, 24, CHECK_ADDR_RESERVED },    /* 198.51.100/24 TEST-NET-2 */
		{ 0xcb007100, 24, CHECK_ADDR_RESERVED },    /* 203.0.113/24 TEST-NET-3 */
		{ 0xe0000000, 4, CHECK_ADDR_RESERVED },     /* 224/4 multicast */
		{ 0xf0000000, 4, CHECK_ADDR_RESERVED },     /* 240/4 and broadcast */
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		uint32_t mask = tab[i].bits ? 0xffffffffu << (32 - tab[i].bits) : 0;
		if ((a & mask) == tab[i].net)
			return tab[i].c;
	}
	return CHECK_ADDR_PUBLIC;
}

/* Classify an IPv6 address. */
static enum check_addr_class classify_v6(const uint8_t *b)
{
	static const uint8_t zero[16];
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1))
		return b[15] == 1 ? CHECK_ADDR_LOOPBACK : CHECK_ADDR_RESERVED;
	if (memcmp(b, mapped, 12) == 0)
		return classify_v4((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
				   (uint32_t)b[14] << 8 | b[15]);
	if ((b[0] & 0xfe) == 0xfc)
		return CHECK_ADDR_PRIVATE;                          /* fc00::/7 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return CHECK_ADDR_LINKLOCAL;                        /* fe80::/10 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return CHECK_ADDR_PRIVATE;                          /* fec0::/10 site-local */
	if (b[0] == 0xff)
		return CHECK_ADDR_RESERVED;                         /* multicast */
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
		return CHECK_ADDR_RESERVED;                         /* 2001:db8::/32 */
	if (b[0] == 0x01 && b[1] == 0x00 && memcmp(b + 2, zero, 6) == 0)
		return CHECK_ADDR_RESERVED;                         /* 100::/64 discard */
	if ((b[0] & 0xe0) != 0x20)
		return CHECK_ADDR_RESERVED;                         /* outside 2000::/3 */
	return CHECK_ADDR_PUBLIC;
}

/* Classify an address. */
enum check_addr_class check_addr_classify(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		return classify_v4(ntohl(s4->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		return classify_v6(s6->sin6_addr.s6_addr);
	}
	return CHECK_ADDR_RESERVED;
}

/* Compare the first bits of two byte strings. */
static int prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

/* Compare two addresses on a prefix of v4bits / v6bits. */
static int same_prefix(const struct sockaddr *a, const struct sockaddr *b, int v4bits, int v6bits)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)a;
		const struct sockaddr_in *b4 = (const struct sockaddr_in *)b;
		return prefix_eq((const uint8_t *)&a4->sin_addr, (const uint8_t *)&b4->sin_addr,
				 v4bits);
	}
	if (a->sa_family == AF_INET6)
		return prefix_eq(((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr,
				 ((const struct sockaddr_in6 *)b)->sin6_addr.s6_addr, v6bits);
	return 0;
}

/* Same IPv4 /24 or IPv6 /48. */
int check_same_subnet(const struct sockaddr *a, const struct sockaddr *b)
{
	return same_prefix(a, b, 24, 48);
}

/* Same address. */
int check_same_addr(const struct sockaddr *a, const struct sockaddr *b)
{
	return same_prefix(a, b, 32, 128);
}

/* First word of a text, lower-cased, without a trailing dot. */
void check_first_word(const char *text, char *out, size_t outlen)
{
	size_t n = 0;

	if (outlen == 0)
		return;
	while (*text == ' ' || *text == '\t')
		text++;
	for (; *text && *text != ' ' && *text != '\t' && *text != '\n' && n + 1 < outlen; text++)
		out[n++] = (char)tolower((unsigned char)*text);
	if (n > 0 && out[n - 1] == '.')
		n--;
	out[n] = '\0';
}

/* Copy peer text for display: newlines become spaces, other controls and non-ASCII '?'. */
void check_sanitize(const char *in, char *out, size_t outlen)
{
	size_t n = 0;

	if (outlen == 0)
		return;
	for (; in && *in && n + 1 < outlen; in++) {
		unsigned char c = (unsigned char)*in;
		if (c == '\n' || c == '\t')
			out[n++] = ' ';
		else if (c < 0x20 || c >= 0x7f)
			out[n++] = '?';
		else
			out[n++] = (char)c;
	}
	out[n] = '\0';
}

/* Case-insensitive host name comparison ignoring one trailing dot. */
static int name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la && a[la - 1] == '.')
		la--;
	if (lb && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* Whether name is in a list of names. */
static int name_in(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (name_eq(name, list[i]))
			return 1;
	return 0;
}

/* Role names of the options that are not in the MX set. */
static void note_unknown_roles(struct check_result *res, const char *const *list, size_t n,
			       const char *opt)
{
	for (size_t i = 0; i < n; i++) {
		int found = 0;
		for (size_t j = 0; j < res->nmx; j++)
			if (name_eq(res->mx[j].name, list[i]))
				found = 1;
		if (!found)
			check_add(res, "role_host_not_mx", CHECK_SEV_WARNING, -1, -1,
				  "%s %s is not one of the MX hosts of %s", opt, list[i],
				  res->domain);
	}
}

/* Assign primary/backup roles. */
static void assign_roles(struct check_result *res, const struct check_opts *o)
{
	unsigned best = 0x10000;

	for (size_t i = 0; i < res->nmx; i++)
		if (res->mx[i].pref < best)
			best = res->mx[i].pref;
	for (size_t i = 0; i < res->nmx; i++) {
		struct check_mx *m = &res->mx[i];
		if (o && name_in(m->name, o->primary, o->nprimary))
			m->role = CHECK_ROLE_PRIMARY;
		else if (o && name_in(m->name, o->backup, o->nbackup))
			m->role = CHECK_ROLE_BACKUP;
		else if (o && o->nprimary)
			m->role = CHECK_ROLE_BACKUP;
		else if (o && o->nbackup)
			m->role = CHECK_ROLE_PRIMARY;
		else
			m->role = m->pref == best ? CHECK_ROLE_PRIMARY : CHECK_ROLE_BACKUP;
	}
	if (o) {
		note_unknown_roles(res, o->primary, o->nprimary, "--primary");
		note_unknown_roles(res, o->backup, o->nbackup, "--backup");
	}
}

/* "primary" or "backup". */
const char *check_role_name(enum check_role r)
{
	return r == CHECK_ROLE_PRIMARY ? "primary" : "backup";
}

/* Findings of the domain-level DNS status; 1 if analysis stops there. */
static int dns_findings(struct check_result *res)
{
	switch (res->dns_status) {
	case DNS_OK:
		break;
	case DNS_NXDOMAIN:
		check_add(res, "nxdomain", CHECK_SEV_CRITICAL, -1, -1,
			  "%s does not exist (NXDOMAIN): mail to it bounces", res->domain);
		return 1;
	case DNS_NODATA:
		check_add(res, "no_mail_host", CHECK_SEV_CRITICAL, -1, -1,
			  "%s has no MX and no A/AAAA records: it cannot receive mail",
			  res->domain);
		return 1;
	case DNS_BOGUS:
		check_add(res, "dns_bogus", CHECK_SEV_UNKNOWN, -1, -1,
			  "DNSSEC validation of the MX set of %s failed (%s): validating "
			  "senders cannot deliver", res->domain, res->dns_why);
		return 1;
	case DNS_TEMPFAIL:
		check_add(res, "dns_failure", CHECK_SEV_UNKNOWN, -1, -1,
			  "the MX lookup of %s failed (%s): cannot tell", res->domain,
			  res->dns_why[0] ? res->dns_why : "temporary failure");
		return 1;
	}
	if (res->null_mx) {
		check_add(res, "null_mx", CHECK_SEV_CRITICAL, -1, -1,
			  "%s publishes a null MX (RFC 7505): it accepts no mail", res->domain);
		return 1;
	}
	if (res->nmx == 0) {
		check_add(res, "no_mail_host", CHECK_SEV_CRITICAL, -1, -1,
			  "%s has no usable MX host", res->domain);
		return 1;
	}
	return 0;
}

/* Findings about the shape of the MX set: single, equal preferences, TTL, roles. */
static void set_findings(struct check_result *res)
{
	size_t nprim = 0, nback = 0;
	unsigned best_prim = 0x10000;

	if (res->implicit) {
		check_add(res, "implicit_mx", CHECK_SEV_WARNING, -1, -1,
			  "%s has no MX records: mail goes to its own address (implicit MX), so "
			  "there is no backup MX", res->domain);
	} else if (res->mx_ttl > CHECK_MX_TTL_WARN) {
		check_add(res, "mx_ttl_long", CHECK_SEV_WARNING, -1, -1,
			  "the MX TTL is %u s (over 1 day): senders keep a changed MX set that "
			  "long; lower it to about %d s at least one TTL before a planned change",
			  (unsigned)res->mx_ttl, CHECK_TTL_ADVICE);
	}
	if (res->nmx == 1 && !res->implicit)
		check_add(res, "single_mx", CHECK_SEV_WARNING, 0, -1,
			  "%s has a single MX (%s): no backup MX", res->domain, res->mx[0].name);
	for (size_t i = 0; i < res->nmx; i++) {
		if (res->mx[i].role == CHECK_ROLE_PRIMARY) {
			nprim++;
			if (res->mx[i].pref < best_prim)
				best_prim = res->mx[i].pref;
		} else {
			nback++;
		}
	}
	if (res->nmx >= 2 && nback == 0) {
		int same = 1;
		for (size_t i = 1; i < res->nmx; i++)
			same &= res->mx[i].pref == res->mx[0].pref;
		if (same)
			check_add(res, "equal_preference", CHECK_SEV_WARNING, -1, -1,
				  "all %zu MX hosts have preference %u: load sharing, not backup",
				  res->nmx, res->mx[0].pref);
		else
			check_add(res, "no_backup_mx", CHECK_SEV_WARNING, -1, -1,
				  "every MX host is declared a primary: no backup MX");
	}
	for (size_t i = 0; i < res->nmx; i++) {
		const struct check_mx *b = &res->mx[i];
		if (b->role != CHECK_ROLE_BACKUP)
			continue;
		for (size_t j = 0; j < res->nmx; j++) {
			const struct check_mx *p = &res->mx[j];
			if (p->role != CHECK_ROLE_PRIMARY)
				continue;
			if (p->pref == b->pref) {
				check_add(res, "equal_preference", CHECK_SEV_WARNING, (int)i, -1,
					  "backup %s has the same preference (%u) as primary %s: "
					  "load sharing, not backup", b->name, b->pref, p->name);
				break;
			}
		}
		if (nprim && b->pref < best_prim)
			check_add(res, "backup_preferred", CHECK_SEV_WARNING, (int)i, -1,
				  "backup %s (preference %u) is preferred over the primary "
				  "(preference %u): senders try the backup first", b->name, b->pref,
				  best_prim);
	}
	for (size_t i = 0; i < res->nmx; i++)
		for (size_t j = 0; j < i; j++)
			if (name_eq(res->mx[i].name, res->mx[j].name)) {
				check_add(res, "duplicate_mx", CHECK_SEV_WARNING, (int)i, -1,
					  "%s is listed twice in the MX set (preferences %u and "
					  "%u)", res->mx[i].name, res->mx[j].pref, res->mx[i].pref);
				break;
			}
}

/* Shared addresses between hosts, and primary/backup sharing a /24 or /48. */
static void shared_findings(struct check_result *res)
{
	for (size_t i = 0; i < res->nmx; i++) {
		const struct check_mx *a = &res->mx[i];
		for (size_t j = i + 1; j < res->nmx; j++) {
			const struct check_mx *b = &res->mx[j];
			int shared = 0, subnet = 0;
			size_t si = 0, sj = 0;
			if (name_eq(a->name, b->name))
				continue;
			for (size_t x = 0; x < a->naddr && !shared; x++) {
				for (size_t y = 0; y < b->naddr; y++) {
					const struct sockaddr *sa = (const void *)&a->addr[x].sa;
					const struct sockaddr *sb = (const void *)&b->addr[y].sa;
					if (check_same_addr(sa, sb)) {
						shared = 1;
						si = x;
						break;
					}
					if (!subnet && check_same_subnet(sa, sb)) {
						subnet = 1;
						si = x;
						sj = y;
					}
				}
			}
			if (shared) {
				check_add(res, "shared_ip", CHECK_SEV_WARNING, (int)j, -1,
					  "%s and %s share the address %s: one failure takes both "
					  "down", a->name, b->name, a->addr[si].str);
			} else if (subnet && a->role != b->role) {
				int v6 = a->addr[si].sa.ss_family == AF_INET6;
				check_add(res, "shared_subnet", CHECK_SEV_WARNING, (int)j, -1,
					  "%s %s (%s) and %s %s (%s) share one %s: shared "
					  "fate (one network outage takes both down)",
					  check_role_name(a->role), a->name, a->addr[si].str,
					  check_role_name(b->role), b->name, b->addr[sj].str,
					  v6 ? "/48" : "/24");
			}
		}
	}
}

/* Whether a PTR or the MX name matches the banner host. */
static int banner_matches(const struct check_mx *m, const struct check_addr *a)
{
	const char *h = a->smtp.banner_host;

	if (!h[0])
		return 0;
	if (name_eq(h, m->name))
		return 1;
	for (size_t k = 0; k < a->nptr; k++)
		if (name_eq(h, a->ptr[k]))
			return 1;
	return 0;
}

/* Findings of one address's DNS: its class and its reverse DNS. */
static void addr_dns_findings(struct check_result *res, int allow_private, size_t i, size_t j)
{
	struct check_mx *m = &res->mx[i];
	struct check_addr *a = &m->addr[j];
	int mi = (int)i, ai = (int)j;
	int public = a->cls == CHECK_ADDR_PUBLIC;

	if (!public)
		check_add(res, "private_address",
			  allow_private ? CHECK_SEV_INFO : CHECK_SEV_WARNING, mi, ai,
			  "%s has a %s address %s: unreachable from the Internet", m->name,
			  check_addr_class_name(a->cls), a->str);
	/* Reverse DNS of non-public addresses is usually not published: information only. */
	enum check_sev rdns = public ? CHECK_SEV_WARNING : CHECK_SEV_INFO;
	if (a->ptr_done) {
		if (a->ptr_status == DNS_NXDOMAIN || a->ptr_status == DNS_NODATA ||
		    (a->ptr_status == DNS_OK && a->nptr == 0))
			check_add(res, "no_ptr", rdns, mi, ai,
				  "%s (%s) has no PTR record: receivers distrust mail it sends "
				  "(bounces, forwarded mail)", a->str, m->name);
		else if (a->ptr_status != DNS_OK)
			check_add(res, "ptr_lookup_failed", CHECK_SEV_INFO, mi, ai,
				  "the PTR lookup of %s failed", a->str);
		else if (a->fcrdns == 0)
			check_add(res, "ptr_not_confirmed", rdns, mi, ai,
				  "the PTR name %s of %s does not resolve back to it (no "
				  "forward-confirmed reverse DNS)", a->ptr[0], a->str);
	}
}

/* Findings of one address's STARTTLS and certificate. */
static void addr_tls_findings(struct check_result *res, size_t i, size_t j)
{
	const struct check_mx *m = &res->mx[i];
	const struct check_addr *a = &m->addr[j];
	const struct check_smtp *s = &a->smtp;
	int mi = (int)i, ai = (int)j;

	if (s->used_helo)
		check_add(res, "no_esmtp", CHECK_SEV_WARNING, mi, ai,
			  "%s (%s) refused EHLO: no ESMTP, so no STARTTLS, SIZE or PIPELINING",
			  m->name, a->str);
	else if (!s->tls.offered)
		check_add(res, "no_starttls", CHECK_SEV_WARNING, mi, ai,
			  "%s (%s) does not offer STARTTLS: mail to it travels in clear text",
			  m->name, a->str);
	if (s->tls.attempted && !s->tls.ok)
		check_add(res, "tls_failed", CHECK_SEV_WARNING, mi, ai,
			  "STARTTLS with %s (%s) failed (%s): senders fall back to clear text "
			  "or defer", m->name, a->str, s->tls.error[0] ? s->tls.error : "error");
	if (!s->tls.ok)
		return;
	if (!s->tls.verified)
		check_add(res, "cert_unverified", CHECK_SEV_INFO, mi, ai,
			  "the certificate of %s does not verify against the system CAs "
			  "(%s)", m->name, s->tls.verify_error[0] ? s->tls.verify_error :
			  "unverified");
	if (!s->tls.name_match)
		check_add(res, "cert_name_mismatch", CHECK_SEV_INFO, mi, ai,
			  "the certificate of %s (%s) does not name %s", a->str,
			  s->tls.subject_cn[0] ? s->tls.subject_cn : "no CN", m->name);
	if (s->tls.have_cert && s->tls.days_left < 0)
		check_add(res, "cert_expired", CHECK_SEV_WARNING, mi, ai,
			  "the certificate of %s expired %ld days ago", m->name,
			  -s->tls.days_left);
	else if (s->tls.have_cert && s->tls.days_left < CHECK_CERT_DAYS_WARN)
		check_add(res, "cert_expiring", CHECK_SEV_WARNING, mi, ai,
			  "the certificate of %s expires in %ld days", m->name,
			  s->tls.days_left);
	const char *v = s->tls.version;
	if (!strcmp(v, "TLSv1") || !strcmp(v, "TLSv1.1") || !strncmp(v, "SSL", 3))
		check_add(res, "tls_old_version", CHECK_SEV_WARNING, mi, ai,
			  "%s negotiated the obsolete %s", m->name, s->tls.version);
}

/* Findings of one address: class, reverse DNS, banner, TLS, probes. */
static void addr_findings(struct check_result *res, int allow_private, size_t i, size_t j)
{
	struct check_mx *m = &res->mx[i];
	struct check_addr *a = &m->addr[j];
	const struct check_smtp *s = &a->smtp;
	int mi = (int)i, ai = (int)j;

	addr_dns_findings(res, allow_private, i, j);
	if (s->status != CHECK_SMTP_OK)
		return;
	if (s->error[0])
		check_add(res, "probe_incomplete", CHECK_SEV_WARNING, mi, ai,
			  "the session with %s (%s) ended early after the greeting: %s", m->name,
			  a->str, s->error);
	a->smtp.banner_name_match = banner_matches(m, a);
	if (!a->smtp.banner_name_match && s->banner_host[0])
		check_add(res, "banner_name_mismatch", CHECK_SEV_INFO, mi, ai,
			  "the banner of %s names %s, which is neither the MX name nor its PTR",
			  a->str, s->banner_host);
	addr_tls_findings(res, i, j);
	if (s->mail_from.tested && s->mail_from.code && s->mail_from.code / 100 != 2) {
		check_add(res, "null_sender_refused", CHECK_SEV_WARNING, mi, ai,
			  "%s refused MAIL FROM:<> (%d %s): bounces to %s are lost (RFC 5321 "
			  "4.5.5)", m->name, s->mail_from.code, s->mail_from.text, res->domain);
		return;
	}
	if (s->rcpt_postmaster.code / 100 == 5)
		check_add(res, "postmaster_refused", CHECK_SEV_WARNING, mi, ai,
			  "%s refused RCPT TO:<postmaster@%s> (%d %s): RFC 5321 4.5.1 requires "
			  "postmaster", m->name, res->domain, s->rcpt_postmaster.code,
			  s->rcpt_postmaster.text);
	if (s->rcpt_relay.code / 100 == 2)
		check_add(res, "open_relay", CHECK_SEV_CRITICAL, mi, ai,
			  "%s (%s) accepted RCPT TO:<%s>: it relays mail for foreign domains "
			  "(open relay)", m->name, a->str, s->relay_rcpt);
}

/* Set accepts_mail/probed per host, and report hosts or addresses that are down. */
static void reachability_findings(struct check_result *res)
{
	for (size_t i = 0; i < res->nmx; i++) {
		struct check_mx *m = &res->mx[i];
		m->accepts_mail = 0;
		m->probed = 0;
		for (size_t j = 0; j < m->naddr; j++) {
			if (m->addr[j].smtp.status != CHECK_SMTP_NOT_PROBED)
				m->probed = 1;
			if (m->addr[j].smtp.status == CHECK_SMTP_OK)
				m->accepts_mail = 1;
		}
		if (m->naddr == 0) {
			int tmp = m->a_status == DNS_TEMPFAIL || m->aaaa_status == DNS_TEMPFAIL ||
				  m->a_status == DNS_BOGUS || m->aaaa_status == DNS_BOGUS;
			if (tmp)
				check_add(res, "mx_dns_failure", CHECK_SEV_WARNING, (int)i, -1,
					  "the address lookup of %s failed temporarily", m->name);
			else
				check_add(res, "mx_no_address", CHECK_SEV_WARNING, (int)i, -1,
					  "%s has no %s record: it can never receive mail", m->name,
					  res->family == 4 ? "A" : res->family == 6 ? "AAAA" :
					  "A/AAAA");
			continue;
		}
		if (!m->probed)
			continue;
		if (!m->accepts_mail) {
			const struct check_smtp *s = &m->addr[0].smtp;
			check_add(res, "mx_down", CHECK_SEV_WARNING, (int)i, -1,
				  "%s %s does not accept mail: %s (%s)", check_role_name(m->role),
				  m->name, check_smtp_status_name(s->status),
				  s->error[0] ? s->error : "-");
			continue;
		}
		for (size_t j = 0; j < m->naddr; j++) {
			const struct check_smtp *s = &m->addr[j].smtp;
			if (s->status == CHECK_SMTP_OK || s->status == CHECK_SMTP_NOT_PROBED)
				continue;
			check_add(res, "addr_down", CHECK_SEV_WARNING, (int)i, (int)j,
				  "%s address %s does not accept mail: %s (%s)", m->name,
				  m->addr[j].str, check_smtp_status_name(s->status),
				  s->error[0] ? s->error : "-");
		}
	}
}

/* Turn the facts into roles and findings. */
void check_analyze(struct check_result *res, const struct check_opts *o)
{
	res->nfind = 0;
	res->nfind_dropped = 0;
	if (dns_findings(res))
		return;
	assign_roles(res, o);
	set_findings(res);
	if (res->mx_sec == DNS_SEC_BOGUS)
		check_add(res, "dns_bogus", CHECK_SEV_UNKNOWN, -1, -1,
			  "the MX set of %s failed DNSSEC validation", res->domain);
	for (size_t i = 0; i < res->nmx; i++) {
		const struct check_mx *m = &res->mx[i];
		if (m->is_cname)
			check_add(res, "mx_cname", CHECK_SEV_WARNING, (int)i, -1,
				  "MX target %s is a CNAME (forbidden by RFC 2181 10.3 and RFC "
				  "5321 5.1): some senders refuse to use it", m->name);
		if (m->is_literal)
			check_add(res, "mx_ip_literal", CHECK_SEV_WARNING, (int)i, -1,
				  "MX target %s is an IP address, not a host name: senders look it "
				  "up as a name and fail", m->name);
	}
	shared_findings(res);
	reachability_findings(res);
	for (size_t i = 0; i < res->nmx; i++)
		for (size_t j = 0; j < res->mx[i].naddr; j++)
			addr_findings(res, o ? o->allow_private : res->allow_private, i, j);
	check_role_findings(res);
	if (res->aborted)
		check_add(res, "deadline", CHECK_SEV_INFO, -1, -1,
			  "some probes were still running at the deadline (%.1f s) and were cut "
			  "short", (double)res->timeout_ms / 1000.0);
}

/* Exit code from findings. */
enum check_state check_verdict(const struct check_result *res)
{
	int warn = 0, crit = 0, unk = 0;

	for (size_t i = 0; i < res->nfind; i++) {
		switch (res->find[i].sev) {
		case CHECK_SEV_CRITICAL: crit = 1; break;
		case CHECK_SEV_UNKNOWN: unk = 1; break;
		case CHECK_SEV_WARNING: warn = 1; break;
		case CHECK_SEV_INFO: break;
		}
	}
	if (crit)
		return CHECK_CRITICAL;
	if (unk)
		return CHECK_UNKNOWN;
	if (warn)
		return CHECK_WARNING;
	return CHECK_OK;
}
