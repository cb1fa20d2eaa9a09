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
 * The value syntax, the per-key setters and the dump live in config_value.c,
 * config_set.c and config_dump.c (config_int.h).
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

/* Every key, in dump order. */
const struct config_kdef config_keys[] = {
	{"hostname", KT_HOSTNAME, KOFF(hostname), 0, KI_NONE, 0, 0},
	{"listen", KT_LIST, KOFF(listen), 0, KI_LISTEN, 0, 0},
	{"spool", KT_PATH, KOFF(spool), 0, KI_NONE, 0, 0},
	{"relay_domains", KT_LIST, KOFF(relay_domains), KF_FILES, KI_RELAY, 0, 0},
	{"recipients", KT_PATH, KOFF(recipients), KF_OPTIONAL | KF_FILES, KI_NONE, 0, 0},
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
	{"bind_address", KT_IP, KOFF(bind_address), KF_OPTIONAL, KI_NONE, 4, 0},
	{"bind_address6", KT_IP, KOFF(bind_address6), KF_OPTIONAL, KI_NONE, 6, 0},
	{"etrn_networks", KT_LIST, KOFF(etrn_networks), KF_FILES, KI_CIDR, 0, 0},
	{"tls_policy", KT_TLS, KOFF(tls_policy), KF_DOMAIN, KI_NONE, 0, 0},
	{"route", KT_ROUTE, 0, KF_DOMAIN | KF_NOGLOBAL, KI_NONE, 0, 0},
	{"route_maps", KT_LIST, KOFF(route_maps), KF_FILES, KI_FILE, 0, 0},
	{"tls_policy_maps", KT_LIST, KOFF(tls_policy_maps), KF_FILES, KI_FILE, 0, 0},
	{"probe_interval", KT_DURATION, KOFF(probe_interval), 0, KI_NONE, 0, 0},
	{"max_concurrency", KT_UINT, KOFF(max_concurrency), 0, KI_NONE, 1, 1000},
	{"retry_min", KT_DURATION, KOFF(retry_min), 0, KI_NONE, 0, 0},
	{"retry_max", KT_DURATION, KOFF(retry_max), 0, KI_NONE, 0, 0},
	{"queue_lifetime", KT_DURATION, KOFF(queue_lifetime), 0, KI_NONE, 0, 0},
	{"delay_warning", KT_DURATION, KOFF(delay_warning), KF_ZERO, KI_NONE, 0, 0},
	{"recipient_verify", KT_BOOL, KOFF(recipient_verify), 0, KI_NONE, 0, 0},
	{"recipient_verify_down", KT_ENUM, KOFF(recipient_verify_down), 0, KI_NONE, CE_VDOWN, 0},
	{"primary_up", KT_ENUM, KOFF(primary_up), 0, KI_NONE, CE_PUP, 0},
	{"dnsbl_sites", KT_LIST, KOFF(dnsbl_sites), 0, KI_DNSBL, 0, 0},
	{"dnsbl_threshold", KT_UINT, KOFF(dnsbl_threshold), 0, KI_NONE, 1, 100000},
	{"dnsbl_action", KT_ENUM, KOFF(dnsbl_action), 0, KI_NONE, CE_DNSBLACT, 0},
	{"dnsbl_timeout", KT_DURATION, KOFF(dnsbl_timeout), 0, KI_NONE, 0, 0},
	{"bounce_policy", KT_ENUM, KOFF(bounce_policy), 0, KI_NONE, CE_BOUNCE, 0},
	{"milters", KT_LIST, KOFF(milters), 0, KI_MILTER, 0, 0},
	{"milter_default_action", KT_ENUM, KOFF(milter_default_action), 0, KI_NONE, CE_MILTER, 0},
	{"milter_connect_timeout", KT_DURATION, KOFF(milter_connect_timeout), 0, KI_NONE, 0, 0},
	{"milter_command_timeout", KT_DURATION, KOFF(milter_command_timeout), 0, KI_NONE, 0, 0},
	{"milter_content_timeout", KT_DURATION, KOFF(milter_content_timeout), 0, KI_NONE, 0, 0},
	{"verify_positive_ttl", KT_DURATION, KOFF(verify_positive_ttl), 0, KI_NONE, 0, 0},
	{"verify_negative_ttl", KT_DURATION, KOFF(verify_negative_ttl), 0, KI_NONE, 0, 0},
	{"connect_timeout", KT_DURATION, KOFF(connect_timeout), 0, KI_NONE, 0, 0},
	{"status_listen", KT_ADDRPORT, KOFF(status_listen), KF_OPTIONAL, KI_NONE, 0, 0},
	{"alert_webhook", KT_URL, KOFF(alert_webhook), KF_OPTIONAL, KI_NONE, 0, 0},
	{"alert_queue_age", KT_DURATION, KOFF(alert_queue_age), KF_ZERO, KI_NONE, 0, 0},
};
const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);
_Static_assert(sizeof(config_keys) / sizeof(config_keys[0]) <= CONFIG_KEYS_MAX,
	       "raise CONFIG_KEYS_MAX");

const char *const config_tls_names[3] = {"may", "encrypt", "verify"};
const char *const config_vdown_names[2] = {"tempfail", "accept"};
const char *const config_pup_names[3] = {"proxy", "defer", "queue"};
const char *const config_dnsbl_action_names[3] = {"reject", "tempfail", "log"};
const char *const config_bounce_names[3] = {"authenticated", "always", "never"};
static const char *const config_milter_names[3] = {"tempfail", "accept", "reject"};

/* The name of a milter_default_action value. */
const char *config_milter_default_name(enum config_milter_default v)
{
	return config_milter_names[(unsigned)v % 3];
}
_Static_assert(sizeof(enum config_verify_down) == sizeof(int) &&
	       sizeof(enum config_primary_up) == sizeof(int) &&
	       sizeof(enum config_dnsbl_action) == sizeof(int) &&
	       sizeof(enum config_bounce_policy) == sizeof(int) &&
	       sizeof(enum config_milter_default) == sizeof(int),
	       "KT_ENUM keys are stored as int");
const struct config_enum config_enums[] = {
	[CE_VDOWN] = {config_vdown_names, 2},
	[CE_PUP] = {config_pup_names, 3},
	[CE_DNSBLACT] = {config_dnsbl_action_names, 3},
	[CE_BOUNCE] = {config_bounce_names, 3},
	[CE_MILTER] = {config_milter_names, 3},
};

/* The name of a primary_up value. */
const char *config_primary_up_name(enum config_primary_up v)
{
	return config_pup_names[(unsigned)v % 3];
}


/* ---- small helpers ---- */

/* Field of cfg at a table offset. */
void *config_field(const struct config *cfg, const struct config_kdef *k)
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
int config_isspace(int c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Is c an ASCII letter or digit? */
int config_isalnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ASCII lower case. */
int config_lower(int c)
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
int config_perr(struct config_pstate *ps, const char *fmt, ...)
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

/* gcc -fanalyzer loses the copy once it is stored in l->v (the caller's
 * list, freed by config_list_clear()) since config_list_add() is no longer
 * static, and reports it as leaked: a false positive, silenced here only. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
/* Append a copy of s to a list; 0 or -1 (out of memory). */
int config_list_add(struct config_list *l, const char *s)
{
	/* capacity is the next power of two >= n: grow when n is 0 or a power of two */
	if ((l->n & (l->n - 1)) == 0) {
		size_t cap = l->n ? l->n * 2 : 1;
		char **v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -1;
		l->v = v;
	}
	if (!(l->v[l->n] = strdup(s)))
		return -1;
	l->n++;
	return 0;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* Free every entry of a list and leave it empty. */
void config_list_clear(struct config_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Replace a string field with a copy of s (NULL unsets); 0 or -1. */
int config_set_str(char **dst, const char *s)
{
	char *d = NULL;
	if (s && !(d = strdup(s)))
		return -1;
	free(*dst);
	*dst = d;
	return 0;
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
	cfg->dnsbl_threshold = 1;
	cfg->dnsbl_action = CONFIG_DNSBL_REJECT;
	cfg->dnsbl_timeout = 10;
	cfg->milter_connect_timeout = 30;
	cfg->milter_command_timeout = 30;
	cfg->milter_content_timeout = 300;
	cfg->verify_positive_ttl = 30 * 86400;
	cfg->verify_negative_ttl = 3 * 86400;
	cfg->connect_timeout = 30;
	cfg->alert_queue_age = 0;
}

/* Is a key of this type a char * (freed, dumped as is)?  1 or 0. */
int config_ktype_is_str(enum config_ktype t)
{
	return t == KT_HOSTNAME || t == KT_PATH || t == KT_USER || t == KT_RESOLVER ||
	       t == KT_ADDRPORT || t == KT_URL || t == KT_LOGLEVEL || t == KT_IP;
}

/* Free everything cfg owns and zero it. */
void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_kdef *k = &config_keys[i];
		if (config_ktype_is_str(k->type))
			free(*(char **)config_field(cfg, k));
		else if (k->type == KT_LIST)
			config_list_clear(config_field(cfg, k));
	}
	for (size_t i = 0; i < cfg->ndomain_rules; i++) {
		free(cfg->domain_rules[i].domain);
		config_list_clear(&cfg->domain_rules[i].hosts);
	}
	free(cfg->domain_rules);
	config_tables_free(cfg);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- per-domain rules ---- */

/* The rule for a normalised domain, created if create is set; NULL if absent or
 * out of memory.  The rules index (config_table.c) maps a domain to its slot. */
struct config_domain_rule *config_rule_get(struct config *cfg, const char *domain,
						  int create)
{
	struct config_tables *t = config_tables_get(cfg);
	size_t dl = strlen(domain);
	uint32_t idx;

	if (!t)
		return NULL;
	if (strtab_get(t->rules, domain, dl, &idx))
		return &cfg->domain_rules[idx];
	if (!create || cfg->ndomain_rules >= UINT32_MAX)
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
	if (strtab_put(t->rules, domain, dl, (uint32_t)n, NULL) < 0) {
		free(r->domain);
		r->domain = NULL;
		return NULL;
	}
	cfg->ndomain_rules++;
	return r;
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
	for (size_t i = 0; i < cfg->ndomain_rules; i++)
		if (config_rule_ports(&cfg->domain_rules[i], cfg->relay_port) < 0)
			return config_perr(ps, "out of memory");
	return config_tables_index(ps);
}

/* Give every port-less host of a route rule the port; 0 or -1 (out of memory). */
int config_rule_ports(struct config_domain_rule *r, unsigned port)
{
	struct config_list *h = &r->hosts;
	for (size_t j = 0; j < h->n; j++) {
		const char *e = h->v[j];
		size_t n = strlen(e);
		int noport = e[0] == '[' ? e[n - 1] == ']' : !strchr(e, ':');
		if (!noport)
			continue;
		char *d = malloc(n + 8);
		if (!d)
			return -1;
		snprintf(d, n + 8, "%s:%u", e, port);
		free(h->v[j]);
		h->v[j] = d;
	}
	return 0;
}

/* Parse a buffer of config lines into cfg; relative file: paths against dir (NULL: kept). */
static int config_parse_in(struct config *cfg, const char *name, const char *dir,
			   const char *buf, size_t len, char *err, size_t errlen)
{
	struct config_pstate ps;
	char line[CONFIG_LINE_MAX + 1];
	size_t pos = 0;

	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	ps.dir = dir;
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

/* The directory part of path into out ("" for "/x", NULL when path has no '/'). */
static const char *config_dirname(const char *path, char *out, size_t outlen)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	if (!slash || (size_t)(slash - path) >= outlen)
		return NULL;
	memcpy(out, path, (size_t)(slash - path));
	out[slash - path] = '\0';
	return out;
}

/* Parse a buffer of config lines into cfg (which holds defaults); relative
 * file: paths are taken against the directory of name (kept when it has none). */
int config_parse(struct config *cfg, const char *name, const char *buf, size_t len, char *err,
		 size_t errlen)
{
	char dir[PATH_MAX];
	return config_parse_in(cfg, name, config_dirname(name, dir, sizeof(dir)), buf, len, err,
			       errlen);
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
	{
		/* relative file: paths: against the config's directory, made absolute */
		char dir[PATH_MAX], cwd[PATH_MAX], abs[2 * PATH_MAX + 2];
		const char *d = config_dirname(path, dir, sizeof(dir));
		if (path[0] != '/' && getcwd(cwd, sizeof(cwd))) {
			snprintf(abs, sizeof(abs), "%s%s%s", cwd, d ? "/" : "", d ? d : "");
			d = abs;
		}
		rc = config_parse_in(cfg, path, d, buf, n, err, errlen);
	}
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
	if (cfg->relay_domains.n == 0 ||
	    (cfg->tables && cfg->tables->loaded && config_relay_count(cfg) == 0))
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
