/*
 * config_value.c - the syntax of single config values: numbers, durations,
 * sizes, booleans, ports, domain names, IP addresses and networks, listen
 * addresses, routes, paths, user names and the resolver.  Each checker
 * normalises what it accepts (lower case, canonical IPs, explicit ports).
 * Pure: no file, no network.
 */
#include "common/config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "io/io.h"

/* ---- value syntax ---- */

/* Parse an unsigned decimal number (digits only) with overflow check; 0 or -1. */
int config_parse_ull(const char *s, const char **end, unsigned long long *out)
{
	unsigned long long v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (ULLONG_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*end = p;
	*out = v;
	return 0;
}

/* One unit suffix of a number and what it multiplies by. */
struct config_unit {
	char c;
	unsigned long long mult;
};

/* Parse digits with at most one suffix from units[0..n) into v * mult, at
 * most max; 0 or -1. */
static int config_parse_scaled(const char *s, const struct config_unit *units, size_t n,
			       unsigned long long max, unsigned long long *out)
{
	unsigned long long v, mult = 1;
	const char *end;

	if (!s || config_parse_ull(s, &end, &v) < 0)
		return -1;
	if (*end) {
		size_t i = 0;
		while (i < n && units[i].c != *end)
			i++;
		if (i == n || end[1])
			return -1;
		mult = units[i].mult;
	}
	if (v > max / mult)
		return -1;
	*out = v * mult;
	return 0;
}

/* Parse a duration: digits with an optional s, m, h or d suffix. */
int config_parse_duration(const char *s, unsigned *out)
{
	static const struct config_unit units[] = {
		{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400},
	};
	unsigned long long v;
	if (config_parse_scaled(s, units, sizeof(units) / sizeof(units[0]), CONFIG_DURATION_MAX,
				&v) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Parse a size: digits with an optional k, M or G suffix (powers of 1024). */
int config_parse_size(const char *s, unsigned long long *out)
{
	static const struct config_unit units[] = {
		{'k', 1024ULL}, {'K', 1024ULL}, {'m', 1024ULL * 1024}, {'M', 1024ULL * 1024},
		{'g', 1024ULL * 1024 * 1024}, {'G', 1024ULL * 1024 * 1024},
	};
	return config_parse_scaled(s, units, sizeof(units) / sizeof(units[0]), ULLONG_MAX, out);
}

/* Parse a boolean (yes/no/true/false/on/off/1/0, any case); 0 or -1. */
int config_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* Parse a port number "0".."65535" (at most 5 digits) that is >= min. */
static int config_parse_port(const char *s, unsigned min, unsigned *out)
{
	unsigned long long v;
	const char *end;

	if (strlen(s) > 5 || config_parse_ull(s, &end, &v) < 0 || *end || v > 65535 || v < min)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Lower-case a domain, strip one trailing dot and check LDH syntax. */
int config_domain_norm(const char *domain, char *out, size_t outlen)
{
	size_t n, lab = 0;
	int alldigit = 1;

	if (!domain)
		return -1;
	n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (n == 0 || n > CONFIG_DOMAIN_MAX || n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)domain[i];
		if (c == '.') {
			if (lab == 0 || out[i - 1] == '-')
				return -1;
			lab = 0;
			alldigit = 1;
			out[i] = '.';
			continue;
		}
		if (c == '-') {
			if (lab == 0)
				return -1;
		} else if (!config_isalnum(c)) {
			return -1;
		}
		if (c < '0' || c > '9')
			alldigit = 0;
		if (++lab > CONFIG_LABEL_MAX)
			return -1;
		out[i] = (char)config_lower(c);
	}
	/* no empty or hyphen-final last label, no all-numeric top label (RFC 3696 2) */
	if (lab == 0 || out[n - 1] == '-' || alldigit)
		return -1;
	out[n] = '\0';
	return 0;
}

/* Parse an IPv4 or IPv6 literal into 16 bytes; returns the family or -1. */
int config_parse_ip(const char *s, unsigned char addr[16])
{
	if (inet_pton(AF_INET, s, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, addr) == 1)
		return AF_INET6;
	return -1;
}

/* Canonical text of an IP literal into out; 0 or -1. */
int config_ip_norm(const char *s, char *out, size_t outlen)
{
	unsigned char a[16];
	int af = config_parse_ip(s, a);

	if (af < 0 || !inet_ntop(af, a, out, (socklen_t)outlen))
		return -1;
	return 0;
}

/* Is s "addr:port", "[v6]:port" or "*:port" (port 0..65535, 0 = any)?  1 or 0. */
int config_addrport_valid(const char *s)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char a[16];
	const char *port;
	unsigned p;

	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (!e || e[1] != ':' || e == s + 1 || (size_t)(e - s - 1) >= sizeof(host))
			return 0;
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = '\0';
		if (inet_pton(AF_INET6, host, a) != 1)
			return 0;
		port = e + 2;
	} else {
		const char *c = strchr(s, ':');
		if (!c || strchr(c + 1, ':') || c == s || (size_t)(c - s) >= sizeof(host))
			return 0;
		memcpy(host, s, (size_t)(c - s));
		host[c - s] = '\0';
		if (strcmp(host, "*") != 0 && inet_pton(AF_INET, host, a) != 1)
			return 0;
		port = c + 1;
	}
	return config_parse_port(port, 0, &p) == 0;
}

/* Check and normalise a relay_domains entry: a domain, optionally ".domain". */
int config_relay_norm(const char *s, char *out, size_t outlen)
{
	if (s[0] == '.') {
		if (outlen < 2 || s[1] == '.' || config_domain_norm(s + 1, out + 1, outlen - 1) < 0)
			return -1;
		out[0] = '.';
		return 0;
	}
	return config_domain_norm(s, out, outlen);
}

/* Check a CIDR ("addr/len" or a bare address) and write it as canonical "addr/len". */
int config_cidr_norm(const char *s, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN + 1], canon[INET6_ADDRSTRLEN];
	unsigned char a[16];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	unsigned bits, len;
	int af;

	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	af = config_parse_ip(host, a);
	if (af < 0)
		return -1;
	bits = af == AF_INET ? 32 : 128;
	len = bits;
	if (slash) {
		unsigned long long v;
		const char *end;
		if (strlen(slash + 1) > 3 || config_parse_ull(slash + 1, &end, &v) < 0 || *end ||
		    v > bits)
			return -1;
		len = (unsigned)v;
	}
	/* no host bits below the prefix */
	for (unsigned i = len; i < bits; i++)
		if (a[i / 8] & (0x80 >> (i % 8)))
			return -1;
	if (!inet_ntop(af, a, canon, sizeof(canon)))
		return -1;
	if ((size_t)snprintf(out, outlen, "%s/%u", canon, len) >= outlen)
		return -1;
	return 0;
}

/* Check a route host ("[ip]:port", "[ip]", "host:port", "host") and normalise it. */
int config_route_norm(const char *s, char *out, size_t outlen)
{
	char host[CONFIG_DOMAIN_MAX + 2], canon[INET6_ADDRSTRLEN];
	const char *port = NULL;
	unsigned p = 0;
	size_t hl;
	int lit;

	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (!e)
			return -1;
		if (e[1] == ':')
			port = e + 2;
		else if (e[1])
			return -1;
		hl = (size_t)(e - s - 1);
		s++;
		lit = 1;
	} else {
		const char *c = strchr(s, ':');
		if (c && strchr(c + 1, ':'))
			return -1;  /* an IPv6 address needs brackets */
		if (c)
			port = c + 1;
		hl = c ? (size_t)(c - s) : strlen(s);
		lit = 0;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (port && config_parse_port(port, 1, &p) < 0)
		return -1;
	if (config_ip_norm(host, canon, sizeof(canon)) == 0) {
		/* a bare IPv4 "192.0.2.1:25" becomes the literal "[192.0.2.1]:25" */
		snprintf(host, sizeof(host), "[%s]", canon);
	} else if (lit) {
		return -1;
	} else if (config_domain_norm(host, host, sizeof(host)) < 0) {
		return -1;
	}
	if (port)
		return (size_t)snprintf(out, outlen, "%s:%u", host, p) >= outlen ? -1 : 0;
	return (size_t)snprintf(out, outlen, "%s", host) >= outlen ? -1 : 0;
}

/* Is s an absolute path without whitespace or control characters?  1 or 0. */
int config_path_valid(const char *s)
{
	if (s[0] != '/')
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

/* Is s a user name: 1..CONFIG_USER_MAX of [A-Za-z0-9_.-], not starting with '-'?
 * 1 or 0. */
int config_user_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_USER_MAX || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!config_isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return 0;
	return 1;
}

/* Is s a resolver value: "system", "recursive" or ADDR[@PORT]?  0, or -1
 * with why set; "ADDR:PORT", the usual slip, gets a hint. */
int config_resolver_check(const char *s, char *why, size_t len)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char a[16];
	const char *at = strrchr(s, '@');
	size_t hl = at ? (size_t)(at - s) : strlen(s);
	unsigned p;

	if (strcmp(s, "recursive") == 0 || strcmp(s, "system") == 0)
		return 0;
	if (hl > 0 && hl < sizeof(host)) {
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (config_parse_ip(host, a) >= 0 &&
		    (!at || config_parse_port(at + 1, 1, &p) == 0))
			return 0;
		const char *colon = strrchr(host, ':');
		if (!at && colon && strchr(host, ':') == colon && config_parse_port(colon + 1, 1, &p) == 0) {
			snprintf(why, len, "'%s' is not system, recursive or ADDR[@PORT]: use "
				 "ADDR@PORT for a port (%.*s@%s)", s, (int)(colon - host), host,
				 colon + 1);
			return -1;
		}
	}
	snprintf(why, len, "'%.*s' is not system, recursive or ADDR[@PORT]", CONFIG_QUOTE(s));
	return -1;
}
