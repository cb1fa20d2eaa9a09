/*
 * config.c - read, check and print backupmx.conf.
 *
 * A hand-written line parser: "key = value" or "key DOMAIN = value" per
 * line, '#' comments at line start or after whitespace.  Every key is
 * described once in config_keys[] (name, value type, field, limits); the
 * parser, config_dump() and config_free() walk that table, so the dump
 * order is the table order.  Values are checked and normalised when read
 * (domains lower-cased, IPs canonical, ports added to routes), and every
 * error is reported as "name:line: message".  config_parse() touches no
 * file and no network, so it is fuzzed directly (fuzz/fuzz_config.c).
 */
#include "common/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "io/io.h"

#define CONFIG_DOMAIN_MAX  253   /* octets in a domain name, without the trailing dot */
#define CONFIG_LABEL_MAX   63    /* octets in one label */
#define CONFIG_USER_MAX    32    /* longest user name */
#define CONFIG_ECHO_MAX    80    /* octets of a bad value quoted in an error message */
#define CONFIG_ITEM_MAX    (CONFIG_LINE_MAX + 16)  /* one normalised list entry */

/* What kind of value a key takes. */
enum config_ktype {
	KT_HOSTNAME,    /* char *: a domain name */
	KT_PATH,        /* char *: an absolute path */
	KT_USER,        /* char *: a user name */
	KT_RESOLVER,    /* char *: "recursive" or "ADDR[@PORT]" */
	KT_ADDRPORT,    /* char *: "addr:port", "[v6]:port" or "*:port" */
	KT_URL,         /* char *: http:// or https:// URL */
	KT_LOGLEVEL,    /* char *: error|warning|info|debug */
	KT_SIZE,        /* unsigned long long: octets, k/M/G suffixes */
	KT_UINT,        /* unsigned: a number in min..max */
	KT_DURATION,    /* unsigned: seconds, s/m/h/d suffixes */
	KT_BOOL,        /* int */
	KT_TLS,         /* enum config_tls_policy */
	KT_VDOWN,       /* enum config_verify_down */
	KT_LIST,        /* struct config_list, items checked by kitem */
	KT_ROUTE,       /* per-domain route */
};

/* What one list entry must look like. */
enum config_kitem { KI_NONE = 0, KI_LISTEN, KI_RELAY, KI_IP, KI_CIDR };

#define KF_OPTIONAL 0x1   /* an empty value unsets the key (NULL) */
#define KF_ZERO     0x2   /* duration: 0 is allowed and means off */
#define KF_DOMAIN   0x4   /* "key DOMAIN = value" is allowed */
#define KF_NOGLOBAL 0x8   /* only "key DOMAIN = value" is allowed */

struct config_kdef {
	const char *name;
	enum config_ktype type;
	size_t off;
	unsigned flags;
	enum config_kitem item;
	unsigned long long min, max;
};

/* Quote at most CONFIG_ECHO_MAX octets of a bad value. */
#define CONFIG_QUOTE(s) (int)(strlen(s) > CONFIG_ECHO_MAX ? CONFIG_ECHO_MAX : strlen(s)), (s)

#define KOFF(f) offsetof(struct config, f)
/* Every key, in dump order. */
static const struct config_kdef config_keys[] = {
	{"hostname", KT_HOSTNAME, KOFF(hostname), 0, KI_NONE, 0, 0},
	{"listen", KT_LIST, KOFF(listen), 0, KI_LISTEN, 0, 0},
	{"spool", KT_PATH, KOFF(spool), 0, KI_NONE, 0, 0},
	{"relay_domains", KT_LIST, KOFF(relay_domains), 0, KI_RELAY, 0, 0},
	{"recipients", KT_PATH, KOFF(recipients), KF_OPTIONAL, KI_NONE, 0, 0},
	{"max_message_size", KT_SIZE, KOFF(max_message_size), 0, KI_NONE, 1, ULLONG_MAX},
	{"max_recipients", KT_UINT, KOFF(max_recipients), 0, KI_NONE, 1, 1000000},
	{"max_connections", KT_UINT, KOFF(max_connections), 0, KI_NONE, 1, 1000000},
	{"max_connections_per_ip", KT_UINT, KOFF(max_connections_per_ip), 0, KI_NONE, 1, 1000000},
	{"max_errors", KT_UINT, KOFF(max_errors), 0, KI_NONE, 1, 1000},
	{"max_received_headers", KT_UINT, KOFF(max_received_headers), 0, KI_NONE, 1, 10000},
	{"command_timeout", KT_DURATION, KOFF(command_timeout), 0, KI_NONE, 0, 0},
	{"data_timeout", KT_DURATION, KOFF(data_timeout), 0, KI_NONE, 0, 0},
	{"tls_cert", KT_PATH, KOFF(tls_cert), KF_OPTIONAL, KI_NONE, 0, 0},
	{"tls_key", KT_PATH, KOFF(tls_key), KF_OPTIONAL, KI_NONE, 0, 0},
	{"user", KT_USER, KOFF(user), KF_OPTIONAL, KI_NONE, 0, 0},
	{"resolver", KT_RESOLVER, KOFF(resolver), KF_OPTIONAL, KI_NONE, 0, 0},
	{"relay_port", KT_UINT, KOFF(relay_port), 0, KI_NONE, 1, 65535},
	{"control_socket", KT_PATH, KOFF(control_socket), 0, KI_NONE, 0, 0},
	{"log_level", KT_LOGLEVEL, KOFF(log_level), 0, KI_NONE, 0, 0},
	{"syslog", KT_BOOL, KOFF(syslog), 0, KI_NONE, 0, 0},
	{"proxy_interfaces", KT_LIST, KOFF(proxy_interfaces), 0, KI_IP, 0, 0},
	{"etrn_networks", KT_LIST, KOFF(etrn_networks), 0, KI_CIDR, 0, 0},
	{"tls_policy", KT_TLS, KOFF(tls_policy), KF_DOMAIN, KI_NONE, 0, 0},
	{"route", KT_ROUTE, 0, KF_DOMAIN | KF_NOGLOBAL, KI_NONE, 0, 0},
	{"probe_interval", KT_DURATION, KOFF(probe_interval), 0, KI_NONE, 0, 0},
	{"max_concurrency", KT_UINT, KOFF(max_concurrency), 0, KI_NONE, 1, 1000},
	{"retry_min", KT_DURATION, KOFF(retry_min), 0, KI_NONE, 0, 0},
	{"retry_max", KT_DURATION, KOFF(retry_max), 0, KI_NONE, 0, 0},
	{"queue_lifetime", KT_DURATION, KOFF(queue_lifetime), 0, KI_NONE, 0, 0},
	{"delay_warning", KT_DURATION, KOFF(delay_warning), KF_ZERO, KI_NONE, 0, 0},
	{"recipient_verify", KT_BOOL, KOFF(recipient_verify), 0, KI_NONE, 0, 0},
	{"recipient_verify_down", KT_VDOWN, KOFF(recipient_verify_down), 0, KI_NONE, 0, 0},
	{"verify_positive_ttl", KT_DURATION, KOFF(verify_positive_ttl), 0, KI_NONE, 0, 0},
	{"verify_negative_ttl", KT_DURATION, KOFF(verify_negative_ttl), 0, KI_NONE, 0, 0},
	{"connect_timeout", KT_DURATION, KOFF(connect_timeout), 0, KI_NONE, 0, 0},
	{"status_listen", KT_ADDRPORT, KOFF(status_listen), KF_OPTIONAL, KI_NONE, 0, 0},
	{"alert_webhook", KT_URL, KOFF(alert_webhook), KF_OPTIONAL, KI_NONE, 0, 0},
	{"alert_queue_age", KT_DURATION, KOFF(alert_queue_age), KF_ZERO, KI_NONE, 0, 0},
};
#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const char *const config_tls_names[] = {"may", "encrypt", "verify"};
static const char *const config_vdown_names[] = {"tempfail", "accept"};

/* State of one config_parse() call. */
struct config_pstate {
	struct config *cfg;
	const char *name;
	unsigned line;
	char *err;
	size_t errlen;
	unsigned seen[CONFIG_NKEYS];    /* line where each global key was set, 0 = not yet */
};

/* ---- small helpers ---- */

/* Field of cfg at a table offset. */
static void *config_field(const struct config *cfg, const struct config_kdef *k)
{
	return (char *)cfg + k->off;
}

/* strdup() that aborts on exhaustion; only for defaults, which cannot fail. */
static char *config_xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d) {
		log_err("config: out of memory");
		abort();
	}
	return d;
}

/* Is c a space or a tab? */
static int config_isspace(int c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Is c an ASCII letter or digit? */
static int config_isalnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ASCII lower case. */
static int config_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Trim leading and trailing whitespace in place; returns the new start. */
static char *config_trim(char *s)
{
	while (config_isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && config_isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Format err as "prefix: message" (prefix may be NULL); returns -1. */
__attribute__((format(printf, 4, 0)))
static int config_verr(char *err, size_t errlen, const char *prefix, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err && errlen) {
		if (prefix)
			snprintf(err, errlen, "%s: %s", prefix, msg);
		else
			snprintf(err, errlen, "%s", msg);
	}
	return -1;
}

/* Report a parse error at the current line; returns -1. */
__attribute__((format(printf, 2, 3)))
static int config_perr(struct config_pstate *ps, const char *fmt, ...)
{
	char prefix[300];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%s:%u", ps->name, ps->line);
	va_start(ap, fmt);
	config_verr(ps->err, ps->errlen, prefix, fmt, ap);
	va_end(ap);
	return -1;
}

/* Report a whole-file error ("path: message"); returns -1. */
__attribute__((format(printf, 4, 5)))
static int config_ferr(const char *path, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_verr(err, errlen, path, fmt, ap);
	va_end(ap);
	return -1;
}

/* Append a copy of s to a list; 0 or -1 (out of memory). */
static int config_list_add(struct config_list *l, const char *s)
{
	/* capacity is the next power of two >= n: grow when n is 0 or a power of two */
	if ((l->n & (l->n - 1)) == 0) {
		size_t cap = l->n ? l->n * 2 : 1;
		char **v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
	}
	char *d = strdup(s);
	if (!d)
		return -1;
	l->v[l->n++] = d;
	return 0;
}

/* Free every entry of a list and leave it empty. */
static void config_list_clear(struct config_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Replace a string field with a copy of s (NULL unsets); 0 or -1. */
static int config_set_str(char **dst, const char *s)
{
	char *d = NULL;
	if (s && !(d = strdup(s)))
		return -1;
	free(*dst);
	*dst = d;
	return 0;
}

/* ---- value syntax ---- */

/* Parse an unsigned decimal number (digits only) with overflow check; 0 or -1. */
static int config_parse_ull(const char *s, const char **end, unsigned long long *out)
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

/* Parse a duration: digits with an optional s, m, h or d suffix. */
int config_parse_duration(const char *s, unsigned *out)
{
	unsigned long long v, mult = 1;
	const char *end;

	if (!s || config_parse_ull(s, &end, &v) < 0)
		return -1;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	default:
		return -1;
	}
	if (*end && end[1])
		return -1;
	if (v > CONFIG_DURATION_MAX / mult)
		return -1;
	*out = (unsigned)(v * mult);
	return 0;
}

/* Parse a size: digits with an optional k, M or G suffix (powers of 1024). */
int config_parse_size(const char *s, unsigned long long *out)
{
	unsigned long long v, mult = 1;
	const char *end;

	if (!s || config_parse_ull(s, &end, &v) < 0)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1024ULL;
		break;
	case 'm':
	case 'M':
		mult = 1024ULL * 1024;
		break;
	case 'g':
	case 'G':
		mult = 1024ULL * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if (*end && end[1])
		return -1;
	if (v > ULLONG_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

/* Parse a boolean (yes/no/true/false/on/off/1/0, any case); 0 or -1. */
static int config_parse_bool(const char *s, int *out)
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
static int config_parse_ip(const char *s, unsigned char addr[16])
{
	if (inet_pton(AF_INET, s, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, addr) == 1)
		return AF_INET6;
	return -1;
}

/* Canonical text of an IP literal into out; 0 or -1. */
static int config_ip_norm(const char *s, char *out, size_t outlen)
{
	unsigned char a[16];
	int af = config_parse_ip(s, a);

	if (af < 0 || !inet_ntop(af, a, out, (socklen_t)outlen))
		return -1;
	return 0;
}

/* Check "addr:port", "[v6]:port" or "*:port" (port 0..65535, 0 = any). */
static int config_addrport_valid(const char *s)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char a[16];
	const char *port;
	unsigned p;

	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (!e || e[1] != ':' || e == s + 1 || (size_t)(e - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = '\0';
		if (inet_pton(AF_INET6, host, a) != 1)
			return -1;
		port = e + 2;
	} else {
		const char *c = strchr(s, ':');
		if (!c || strchr(c + 1, ':') || c == s || (size_t)(c - s) >= sizeof(host))
			return -1;
		memcpy(host, s, (size_t)(c - s));
		host[c - s] = '\0';
		if (strcmp(host, "*") != 0 && inet_pton(AF_INET, host, a) != 1)
			return -1;
		port = c + 1;
	}
	return config_parse_port(port, 0, &p);
}

/* Check and normalise a relay_domains entry: a domain, optionally ".domain". */
static int config_relay_norm(const char *s, char *out, size_t outlen)
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
static int config_cidr_norm(const char *s, char *out, size_t outlen)
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
static int config_route_norm(const char *s, char *out, size_t outlen)
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

/* Check an absolute path without whitespace or control characters. */
static int config_path_valid(const char *s)
{
	if (s[0] != '/')
		return -1;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return -1;
	return 0;
}

/* Check a user name: 1..CONFIG_USER_MAX of [A-Za-z0-9_.-], not starting with '-'. */
static int config_user_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_USER_MAX || s[0] == '-')
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!config_isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return -1;
	return 0;
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

/* ---- defaults, free ---- */

/* Fill cfg with defaults (hostname from the system). */
void config_defaults(struct config *cfg)
{
	char host[256], norm[CONFIG_DOMAIN_MAX + 1];

	memset(cfg, 0, sizeof(*cfg));
	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if (config_domain_norm(host, norm, sizeof(norm)) < 0)
		snprintf(norm, sizeof(norm), "localhost");
	cfg->hostname = config_xstrdup(norm);
	if (config_list_add(&cfg->listen, "0.0.0.0:25") < 0) {
		log_err("config: out of memory");
		abort();
	}
	cfg->spool = config_xstrdup(CONFIG_DEFAULT_SPOOL);
	cfg->max_message_size = 10240000ULL;
	cfg->max_recipients = 1000;
	cfg->max_connections = 1000;
	cfg->max_connections_per_ip = 50;
	cfg->max_errors = 10;
	cfg->max_received_headers = 100;
	cfg->command_timeout = 300;
	cfg->data_timeout = 600;
	cfg->relay_port = 25;
	cfg->control_socket = config_xstrdup(CONFIG_DEFAULT_SPOOL "/control");
	cfg->log_level = config_xstrdup("info");
	cfg->syslog = 0;
	cfg->tls_policy = CONFIG_TLS_MAY;
	cfg->probe_interval = 10;
	cfg->max_concurrency = 10;
	cfg->retry_min = 60;
	cfg->retry_max = 1800;
	cfg->queue_lifetime = 5 * 86400;
	cfg->delay_warning = 0;
	cfg->recipient_verify = 0;
	cfg->recipient_verify_down = CONFIG_VDOWN_TEMPFAIL;
	cfg->verify_positive_ttl = 30 * 86400;
	cfg->verify_negative_ttl = 3 * 86400;
	cfg->connect_timeout = 30;
	cfg->alert_queue_age = 0;
}

/* Free everything cfg owns and zero it. */
void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_kdef *k = &config_keys[i];
		switch (k->type) {
		case KT_HOSTNAME:
		case KT_PATH:
		case KT_USER:
		case KT_RESOLVER:
		case KT_ADDRPORT:
		case KT_URL:
		case KT_LOGLEVEL:
			free(*(char **)config_field(cfg, k));
			break;
		case KT_LIST:
			config_list_clear(config_field(cfg, k));
			break;
		default:
			break;
		}
	}
	for (size_t i = 0; i < cfg->ndomain_rules; i++) {
		free(cfg->domain_rules[i].domain);
		config_list_clear(&cfg->domain_rules[i].hosts);
	}
	free(cfg->domain_rules);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- per-domain rules ---- */

/* The rule for a normalised domain, created if create is set; NULL if absent or full. */
static struct config_domain_rule *config_rule_get(struct config *cfg, const char *domain,
						  int create)
{
	for (size_t i = 0; i < cfg->ndomain_rules; i++)
		if (strcmp(cfg->domain_rules[i].domain, domain) == 0)
			return &cfg->domain_rules[i];
	if (!create || cfg->ndomain_rules >= CONFIG_RULES_MAX)
		return NULL;
	size_t n = cfg->ndomain_rules;
	if ((n & (n - 1)) == 0) {
		size_t cap = n ? n * 2 : 1;
		struct config_domain_rule *r = realloc(cfg->domain_rules, cap * sizeof(*r));
		if (!r)
			return NULL;
		cfg->domain_rules = r;
	}
	struct config_domain_rule *r = &cfg->domain_rules[n];
	memset(r, 0, sizeof(*r));
	if (!(r->domain = strdup(domain)))
		return NULL;
	cfg->ndomain_rules++;
	return r;
}

/* The rule for a domain (any case, trailing dot ignored), or NULL. */
const struct config_domain_rule *config_domain_rule(const struct config *cfg, const char *domain)
{
	char norm[CONFIG_DOMAIN_MAX + 1];

	if (!cfg || config_domain_norm(domain, norm, sizeof(norm)) < 0)
		return NULL;
	for (size_t i = 0; i < cfg->ndomain_rules; i++)
		if (strcmp(cfg->domain_rules[i].domain, norm) == 0)
			return &cfg->domain_rules[i];
	return NULL;
}

/* ---- parsing ---- */

/* Name of a key for messages, with its domain when per-domain. */
static const char *config_kname(const struct config_kdef *k, const char *domain, char *buf,
				size_t len)
{
	if (!domain)
		return k->name;
	snprintf(buf, len, "%s %s", k->name, domain);
	return buf;
}

/* Split a list value in place: the next entry (separated by commas/whitespace) or NULL. */
static char *config_next_item(char **cursor)
{
	char *p = *cursor;
	while (*p == ',' || config_isspace((unsigned char)*p))
		p++;
	if (!*p) {
		*cursor = p;
		return NULL;
	}
	char *start = p;
	while (*p && *p != ',' && !config_isspace((unsigned char)*p))
		p++;
	if (*p)
		*p++ = '\0';
	*cursor = p;
	return start;
}


/* Parse list entries of value into l (appending). */
static int config_parse_list(struct config_pstate *ps, const struct config_kdef *k,
			     struct config_list *l, char *value)
{
	static const char *const what[] = {
		[KI_NONE] = "a value",
		[KI_LISTEN] = "addr:port, [v6]:port or *:port",
		[KI_RELAY] = "a domain or .domain",
		[KI_IP] = "an IP address",
		[KI_CIDR] = "a CIDR network (addr/len, no host bits set)",
	};
	char out[CONFIG_ITEM_MAX];
	char *item, *cur = value;

	while ((item = config_next_item(&cur))) {
		int rc;
		switch (k->item) {
		case KI_LISTEN:
			rc = config_addrport_valid(item);
			if (rc == 0)
				snprintf(out, sizeof(out), "%s", item);
			break;
		case KI_RELAY:
			rc = config_relay_norm(item, out, sizeof(out));
			break;
		case KI_IP:
			rc = config_ip_norm(item, out, sizeof(out));
			break;
		case KI_CIDR:
			rc = config_cidr_norm(item, out, sizeof(out));
			break;
		default:
			rc = -1;
			break;
		}
		if (rc < 0)
			return config_perr(ps, "%s: '%.*s' is not %s", k->name, CONFIG_QUOTE(item),
					   what[k->item]);
		if (l->n >= CONFIG_LIST_MAX)
			return config_perr(ps, "%s: too many entries (max %d)", k->name,
					   CONFIG_LIST_MAX);
		if (config_list_add(l, out) < 0)
			return config_perr(ps, "out of memory");
	}
	return 0;
}

/* Parse a tls_policy value. */
static int config_parse_tls(struct config_pstate *ps, const char *kname, const char *v,
			    enum config_tls_policy *out)
{
	for (size_t i = 0; i < sizeof(config_tls_names) / sizeof(config_tls_names[0]); i++) {
		if (strcasecmp(v, config_tls_names[i]) == 0) {
			*out = (enum config_tls_policy)i;
			return 0;
		}
	}
	return config_perr(ps, "%s: '%.*s' is not may, encrypt or verify", kname, CONFIG_QUOTE(v));
}

/* Handle "route DOMAIN = hosts" and "tls_policy DOMAIN = policy". */
static int config_parse_domain_key(struct config_pstate *ps, const struct config_kdef *k,
				   const char *domain, char *value)
{
	char norm[CONFIG_DOMAIN_MAX + 1], kn[CONFIG_DOMAIN_MAX + 32], out[CONFIG_ITEM_MAX];
	struct config_domain_rule *r;
	struct config_list hosts = {0, NULL};
	enum config_tls_policy pol = CONFIG_TLS_MAY;
	char *item, *cur = value;

	if (config_domain_norm(domain, norm, sizeof(norm)) < 0)
		return config_perr(ps, "%s: '%.*s' is not a valid domain", k->name,
				   CONFIG_QUOTE(domain));
	config_kname(k, norm, kn, sizeof(kn));
	r = config_rule_get(ps->cfg, norm, 0);
	if (r && k->type == KT_ROUTE && r->route_line)
		return config_perr(ps, "duplicate key '%s' (first set on line %u)", kn,
				   r->route_line);
	if (r && k->type == KT_TLS && r->tls_policy_line)
		return config_perr(ps, "duplicate key '%s' (first set on line %u)", kn,
				   r->tls_policy_line);
	if (!*value)
		return config_perr(ps, "missing value for '%s'", kn);
	if (k->type == KT_TLS) {
		if (config_parse_tls(ps, kn, value, &pol) < 0)
			return -1;
	} else {
		while ((item = config_next_item(&cur))) {
			if (config_route_norm(item, out, sizeof(out)) < 0) {
				config_list_clear(&hosts);
				return config_perr(ps, "%s: '%.*s' is not [ip]:port, [ip], "
						   "host:port or host", kn,
						   CONFIG_QUOTE(item));
			}
			if (hosts.n >= CONFIG_LIST_MAX || config_list_add(&hosts, out) < 0) {
				config_list_clear(&hosts);
				return config_perr(ps, "%s: too many hosts (max %d)", kn,
						   CONFIG_LIST_MAX);
			}
		}
	}
	if (k->type == KT_ROUTE && hosts.n == 0)
		return config_perr(ps, "missing value for '%s'", kn);
	if (!r && !(r = config_rule_get(ps->cfg, norm, 1))) {
		config_list_clear(&hosts);
		return config_perr(ps, "%s: too many per-domain rules (max %d)", kn,
				   CONFIG_RULES_MAX);
	}
	if (k->type == KT_TLS) {
		r->has_tls_policy = 1;
		r->tls_policy = pol;
		r->tls_policy_line = ps->line;
	} else {
		r->hosts = hosts;
		r->route_line = ps->line;
	}
	return 0;
}

/* Set a global (not per-domain) key from its trimmed value. */
static int config_set_value(struct config_pstate *ps, const struct config_kdef *k, char *value)
{
	void *f = config_field(ps->cfg, k);
	char norm[CONFIG_DOMAIN_MAX + 1];
	const char *v = value;
	unsigned long long ull;
	const char *end;
	unsigned u;
	int b;

	if (k->type == KT_LIST)
		return config_parse_list(ps, k, f, value);
	if (!*value) {
		if (!(k->flags & KF_OPTIONAL))
			return config_perr(ps, "missing value for '%s'", k->name);
		config_set_str(f, NULL);
		return 0;
	}
	switch (k->type) {
	case KT_HOSTNAME:
		if (config_domain_norm(value, norm, sizeof(norm)) < 0)
			return config_perr(ps, "%s: '%.*s' is not a valid host name", k->name,
					   CONFIG_QUOTE(value));
		v = norm;
		break;
	case KT_PATH:
		if (config_path_valid(value) < 0)
			return config_perr(ps, "%s: '%.*s' is not an absolute path without "
					   "spaces", k->name, CONFIG_QUOTE(value));
		break;
	case KT_USER:
		if (config_user_valid(value) < 0)
			return config_perr(ps, "%s: '%.*s' is not a valid user name", k->name,
					   CONFIG_QUOTE(value));
		break;
	case KT_RESOLVER: {
		char why[256];
		if (config_resolver_check(value, why, sizeof(why)) < 0)
			return config_perr(ps, "%s: %s", k->name, why);
		if (strcmp(value, "system") == 0)
			v = NULL;
		break;
	}
	case KT_ADDRPORT:
		if (config_addrport_valid(value) < 0)
			return config_perr(ps, "%s: '%.*s' is not addr:port, [v6]:port or "
					   "*:port", k->name, CONFIG_QUOTE(value));
		break;
	case KT_URL: {
		struct io_url url;
		char why[256];
		if (io_url_parse(value, &url, why, sizeof(why)) < 0)
			return config_perr(ps, "%s: '%.*s': %s", k->name, CONFIG_QUOTE(value), why);
		break;
	}
	case KT_LOGLEVEL: {
		static const char *const names[] = {"error", "warning", "info", "debug"};
		enum log_level lvl;
		if (log_level_parse(value, &lvl) < 0 || (unsigned)lvl > LOG_LVL_DEBUG)
			return config_perr(ps, "%s: '%.*s' is not error, warning, info or debug",
					   k->name, CONFIG_QUOTE(value));
		v = names[lvl];
		break;
	}
	case KT_SIZE:
		if (config_parse_size(value, &ull) < 0)
			return config_perr(ps, "%s: '%.*s' is not a size (e.g. 10240000, 512k, "
					   "10M)", k->name, CONFIG_QUOTE(value));
		if (ull < k->min || ull > k->max)
			return config_perr(ps, "%s: %llu is out of range (%llu..%llu)", k->name,
					   ull, k->min, k->max);
		*(unsigned long long *)f = ull;
		return 0;
	case KT_UINT:
		if (value[strspn(value, "0123456789")] != '\0')
			return config_perr(ps, "%s: '%.*s' is not a number", k->name,
					   CONFIG_QUOTE(value));
		if (config_parse_ull(value, &end, &ull) < 0 || ull < k->min || ull > k->max)
			return config_perr(ps, "%s: %.*s is out of range (%llu..%llu)", k->name,
					   CONFIG_QUOTE(value), k->min, k->max);
		*(unsigned *)f = (unsigned)ull;
		return 0;
	case KT_DURATION:
		if (config_parse_duration(value, &u) < 0)
			return config_perr(ps, "%s: '%.*s' is not a duration (e.g. 30, 30s, 5m, "
					   "2h, 5d; at most 3650d)", k->name, CONFIG_QUOTE(value));
		if (u == 0 && !(k->flags & KF_ZERO))
			return config_perr(ps, "%s: must be greater than 0", k->name);
		*(unsigned *)f = u;
		return 0;
	case KT_BOOL:
		if (config_parse_bool(value, &b) < 0)
			return config_perr(ps, "%s: '%.*s' is not yes or no", k->name,
					   CONFIG_QUOTE(value));
		*(int *)f = b;
		return 0;
	case KT_TLS:
		return config_parse_tls(ps, k->name, value, f);
	case KT_VDOWN:
		for (size_t i = 0; i < 2; i++) {
			if (strcasecmp(value, config_vdown_names[i]) == 0) {
				*(enum config_verify_down *)f = (enum config_verify_down)i;
				return 0;
			}
		}
		return config_perr(ps, "%s: '%.*s' is not tempfail or accept", k->name,
				   CONFIG_QUOTE(value));
	default:
		return config_perr(ps, "%s: cannot be set here", k->name);
	}
	if (config_set_str(f, v) < 0)
		return config_perr(ps, "out of memory");
	return 0;
}

/* Find a key by name. */
static const struct config_kdef *config_key_find(const char *name)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* Parse one line (NUL-terminated, len octets, no newline). */
static int config_parse_line(struct config_pstate *ps, char *line, size_t len)
{
	const struct config_kdef *k;
	char *s, *eq, *lhs, *rhs, *domain = NULL, *p;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t' && !(c == '\r' && i == len - 1)) || c == 0x7f)
			return config_perr(ps, "control character 0x%02x in line", c);
	}
	for (size_t i = 0; i < len; i++) {
		if (line[i] == '#' && (i == 0 || config_isspace((unsigned char)line[i - 1]))) {
			line[i] = '\0';
			break;
		}
	}
	s = config_trim(line);
	if (!*s)
		return 0;
	if (!(eq = strchr(s, '=')))
		return config_perr(ps, "expected 'key = value'");
	*eq = '\0';
	lhs = config_trim(s);
	rhs = config_trim(eq + 1);
	if (!*lhs)
		return config_perr(ps, "missing key before '='");
	for (p = lhs; *p && !config_isspace((unsigned char)*p); p++)
		;
	if (*p) {
		*p++ = '\0';
		domain = config_trim(p);
		for (p = domain; *p; p++)
			if (config_isspace((unsigned char)*p))
				return config_perr(ps, "expected 'key = value' or "
						   "'key DOMAIN = value'");
	}
	if (!(k = config_key_find(lhs)))
		return config_perr(ps, "unknown key '%.*s'", CONFIG_QUOTE(lhs));
	if (domain) {
		if (!(k->flags & KF_DOMAIN))
			return config_perr(ps, "key '%s' takes no domain", k->name);
		return config_parse_domain_key(ps, k, domain, rhs);
	}
	if (k->flags & KF_NOGLOBAL)
		return config_perr(ps, "key '%s' needs a domain: '%s DOMAIN = ...'", k->name,
				   k->name);
	size_t idx = (size_t)(k - config_keys);
	if (ps->seen[idx] && k->type != KT_LIST)
		return config_perr(ps, "duplicate key '%s' (first set on line %u)", k->name,
				   ps->seen[idx]);
	if (!ps->seen[idx] && k->type == KT_LIST)
		config_list_clear(config_field(ps->cfg, k));  /* the file replaces the default */
	if (config_set_value(ps, k, rhs) < 0)
		return -1;
	ps->seen[idx] = ps->line;
	return 0;
}

/* After the last line: derive control_socket, give port-less routes relay_port. */
static int config_finish(struct config_pstate *ps)
{
	struct config *cfg = ps->cfg;
	const struct config_kdef *k = config_key_find("control_socket");

	if (!ps->seen[k - config_keys]) {
		const char *sp = cfg->spool ? cfg->spool : CONFIG_DEFAULT_SPOOL;
		size_t n = strlen(sp);
		while (n > 1 && sp[n - 1] == '/')
			n--;
		char *cs = malloc(n + sizeof("/control"));
		if (!cs)
			return config_perr(ps, "out of memory");
		memcpy(cs, sp, n);
		memcpy(cs + (n == 1 ? 0 : n), "/control", sizeof("/control"));
		free(cfg->control_socket);
		cfg->control_socket = cs;
	}
	for (size_t i = 0; i < cfg->ndomain_rules; i++) {
		struct config_list *h = &cfg->domain_rules[i].hosts;
		for (size_t j = 0; j < h->n; j++) {
			const char *e = h->v[j];
			size_t n = strlen(e);
			int noport = e[0] == '[' ? e[n - 1] == ']' : !strchr(e, ':');
			if (!noport)
				continue;
			char *d = malloc(n + 8);
			if (!d)
				return config_perr(ps, "out of memory");
			snprintf(d, n + 8, "%s:%u", e, cfg->relay_port);
			free(h->v[j]);
			h->v[j] = d;
		}
	}
	return 0;
}

/* Parse a buffer of config lines into cfg (which holds defaults). */
int config_parse(struct config *cfg, const char *name, const char *buf, size_t len, char *err,
		 size_t errlen)
{
	struct config_pstate ps;
	char line[CONFIG_LINE_MAX + 1];
	size_t pos = 0;

	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	ps.name = name ? name : "config";
	ps.err = err;
	ps.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if (!cfg->path && !(cfg->path = strdup(ps.name)))
		return config_ferr(ps.name, err, errlen, "out of memory");
	while (buf && pos < len) {
		const char *start = buf + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - start) : len - pos;

		ps.line++;
		if (ll > CONFIG_LINE_MAX)
			return config_perr(&ps, "line too long (more than %d bytes)",
					   CONFIG_LINE_MAX);
		if (memchr(start, '\0', ll))
			return config_perr(&ps, "NUL byte in line");
		memcpy(line, start, ll);
		line[ll] = '\0';
		pos += ll + (nl ? 1 : 0);
		if (config_parse_line(&ps, line, ll) < 0)
			return -1;
	}
	return config_finish(&ps);
}

/* Defaults, then read and parse path. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t n = 0;
	int fd, rc;

	config_defaults(cfg);
	if (!path)
		path = CONFIG_DEFAULT_PATH;
	if (!(cfg->path = strdup(path)))
		return config_ferr(path, err, errlen, "out of memory");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return config_ferr(path, err, errlen, "cannot open: %s", strerror(errno));
	if (!(buf = malloc(CONFIG_FILE_MAX + 1))) {
		close(fd);
		return config_ferr(path, err, errlen, "out of memory");
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, CONFIG_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = config_ferr(path, err, errlen, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > CONFIG_FILE_MAX) {
			rc = config_ferr(path, err, errlen, "file too large (more than %d bytes)",
					 CONFIG_FILE_MAX);
			goto out;
		}
	}
	rc = config_parse(cfg, path, buf, n, err, errlen);
out:
	free(buf);
	close(fd);
	return rc;
}

/* Check that a file can be opened for reading; 0 or -1 with errno. */
static int config_readable(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* Cross-key checks after parsing. */
int config_validate(const struct config *cfg, char *err, size_t errlen)
{
	const char *p = cfg->path;
	struct sockaddr_un sun;

	if (err && errlen)
		err[0] = '\0';
	if (cfg->tls_cert && !cfg->tls_key)
		return config_ferr(p, err, errlen, "tls_cert is set but tls_key is not");
	if (cfg->tls_key && !cfg->tls_cert)
		return config_ferr(p, err, errlen, "tls_key is set but tls_cert is not");
	if (cfg->tls_cert && config_readable(cfg->tls_cert) < 0)
		return config_ferr(p, err, errlen, "tls_cert '%s': %s", cfg->tls_cert,
				   strerror(errno));
	if (cfg->tls_key && config_readable(cfg->tls_key) < 0)
		return config_ferr(p, err, errlen, "tls_key '%s': %s", cfg->tls_key,
				   strerror(errno));
	if (cfg->listen.n == 0)
		return config_ferr(p, err, errlen, "listen is empty: nothing would be received");
	if (cfg->relay_domains.n == 0)
		return config_ferr(p, err, errlen,
				   "relay_domains is empty: nothing would be accepted");
	if (cfg->retry_min > cfg->retry_max)
		return config_ferr(p, err, errlen, "retry_min (%u) is greater than retry_max (%u)",
				   cfg->retry_min, cfg->retry_max);
	if (!cfg->control_socket || strlen(cfg->control_socket) >= sizeof(sun.sun_path))
		return config_ferr(p, err, errlen, "control_socket: path missing or longer than "
				   "%zu bytes", sizeof(sun.sun_path) - 1);
	return 0;
}

/* ---- output and lookups ---- */

/* Print one list as "name = a, b" (or "name =" when empty). */
static void config_dump_list(FILE *out, const char *name, const struct config_list *l)
{
	fputs(name, out);
	fputs(" =", out);
	for (size_t i = 0; i < l->n; i++) {
		fputs(i ? ", " : " ", out);
		fputs(l->v[i], out);
	}
	fputc('\n', out);
}

/* Print the effective settings, one "key = value" per line. */
void config_dump(const struct config *cfg, FILE *out)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_kdef *k = &config_keys[i];
		const void *f = config_field(cfg, k);
		switch (k->type) {
		case KT_HOSTNAME:
		case KT_PATH:
		case KT_USER:
		case KT_RESOLVER:
		case KT_ADDRPORT:
		case KT_URL:
		case KT_LOGLEVEL: {
			const char *v = *(char *const *)f;
			fprintf(out, "%s =%s%s\n", k->name, v ? " " : "", v ? v : "");
			break;
		}
		case KT_SIZE:
			fprintf(out, "%s = %llu\n", k->name, *(const unsigned long long *)f);
			break;
		case KT_UINT:
		case KT_DURATION:
			fprintf(out, "%s = %u\n", k->name, *(const unsigned *)f);
			break;
		case KT_BOOL:
			fprintf(out, "%s = %s\n", k->name, *(const int *)f ? "yes" : "no");
			break;
		case KT_VDOWN:
			fprintf(out, "%s = %s\n", k->name,
				config_vdown_names[*(const enum config_verify_down *)f ? 1 : 0]);
			break;
		case KT_TLS:
			fprintf(out, "%s = %s\n", k->name,
				config_tls_names[(unsigned)cfg->tls_policy % 3]);
			for (size_t j = 0; j < cfg->ndomain_rules; j++) {
				const struct config_domain_rule *r = &cfg->domain_rules[j];
				if (r->has_tls_policy)
					fprintf(out, "tls_policy %s = %s\n", r->domain,
						config_tls_names[(unsigned)r->tls_policy % 3]);
			}
			break;
		case KT_LIST:
			config_dump_list(out, k->name, f);
			break;
		case KT_ROUTE:
			for (size_t j = 0; j < cfg->ndomain_rules; j++) {
				const struct config_domain_rule *r = &cfg->domain_rules[j];
				char name[CONFIG_DOMAIN_MAX + 16];
				if (r->hosts.n == 0)
					continue;
				snprintf(name, sizeof(name), "route %s", r->domain);
				config_dump_list(out, name, &r->hosts);
			}
			break;
		}
	}
}

/* Is domain one of relay_domains ("x.example.com" matches ".example.com")? */
int config_relay_domain(const struct config *cfg, const char *domain)
{
	size_t n;

	if (!cfg || !domain)
		return 0;
	n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (n == 0 || n > CONFIG_DOMAIN_MAX || domain[0] == '.')
		return 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (domain[i] == '.' && domain[i + 1] == '.')
			return 0;   /* an empty label never matches */
	for (size_t i = 0; i < cfg->relay_domains.n; i++) {
		const char *e = cfg->relay_domains.v[i];
		size_t el = strlen(e);
		if (e[0] == '.') {
			if (n > el && strncasecmp(domain + n - el, e, el) == 0)
				return 1;
		} else if (n == el && strncasecmp(domain, e, el) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Does the address bytes a match network net/bits (same family)? */
static int config_prefix_match(const unsigned char *a, const unsigned char *net, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, net, full) != 0)
		return 0;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((a[full] & mask) != (net[full] & mask))
			return 0;
	}
	return 1;
}

/* Is the peer address inside one of etrn_networks? */
int config_etrn_network(const struct config *cfg, const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	unsigned char a[16];
	int af;

	if (!cfg || !sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
		memcpy(a, &s4->sin_addr, 4);
		af = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
		memcpy(a, &s6->sin6_addr, 16);
		af = AF_INET6;
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			memmove(a, a + 12, 4);
			af = AF_INET;
		}
	} else {
		return 0;
	}
	for (size_t i = 0; i < cfg->etrn_networks.n; i++) {
		char host[INET6_ADDRSTRLEN + 1];
		unsigned char net[16];
		const char *e = cfg->etrn_networks.v[i];
		const char *slash = strchr(e, '/');
		size_t hl = slash ? (size_t)(slash - e) : strlen(e);
		if (hl >= sizeof(host))
			continue;
		memcpy(host, e, hl);
		host[hl] = '\0';
		int naf = config_parse_ip(host, net);
		if (naf != af)
			continue;
		unsigned bits = slash ? (unsigned)atoi(slash + 1) : (af == AF_INET ? 32 : 128);
		if (bits > (af == AF_INET ? 32u : 128u))
			continue;
		if (config_prefix_match(a, net, bits))
			return 1;
	}
	return 0;
}
