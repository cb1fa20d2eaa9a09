/*
 * config_set.c - setting one key from its value, as the line parser found
 * it: lists and their items, per-domain keys ("key DOMAIN = value"), and
 * the typed values of config_keys[].  Every error names the file and line
 * (config_perr).  Pure: no file, no network.
 */
#include "common/config_int.h"
#include "filter/dnsbl_site.h"
#include "filter/milter.h"

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


/* Add a file:PATH entry (path resolved, a repeat dropped) to the list l of key k. */
static int config_list_file(struct config_pstate *ps, const struct config_kdef *k,
			    struct config_list *l, const char *path)
{
	char out[PATH_MAX + CONFIG_FILE_PREFIX_LEN + 1];

	memcpy(out, CONFIG_FILE_PREFIX, CONFIG_FILE_PREFIX_LEN);
	if (config_file_norm(ps, k->name, path, out + CONFIG_FILE_PREFIX_LEN,
			     sizeof(out) - CONFIG_FILE_PREFIX_LEN) < 0)
		return -1;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], out) == 0)
			return 0;
	if (config_list_add(l, out) < 0)
		return config_perr(ps, "out of memory");
	return 0;
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
		[KI_DNSBL] = "a DNS list: domain[=filter][*weight]",
		[KI_MILTER] = "inet:ADDR:PORT (a numeric address) or unix:/PATH",
		[KI_FILE] = "a table file, file:PATH",
	};
	struct dnsbl_site site;
	char why[128] = "";
	char out[CONFIG_ITEM_MAX];
	char *item, *cur = value;

	while ((item = config_next_item(&cur))) {
		int rc;
		if ((k->flags & KF_FILES) &&
		    strncmp(item, CONFIG_FILE_PREFIX, CONFIG_FILE_PREFIX_LEN) == 0) {
			if (config_list_file(ps, k, l, item + CONFIG_FILE_PREFIX_LEN) < 0)
				return -1;
			continue;
		}
		if ((k->item == KI_RELAY || k->item == KI_FILE) && strchr(item, ':'))
			return config_perr(ps, "%s: '%.*s': only file: tables are supported "
					   "(file:PATH)", k->name, CONFIG_QUOTE(item));
		switch (k->item) {
		case KI_LISTEN:
			rc = config_addrport_valid(item) ? 0 : -1;
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
		case KI_MILTER:
			rc = milter_addr_check(item);
			if (rc == 0)
				snprintf(out, sizeof(out), "%s", item);
			break;
		case KI_DNSBL:
			rc = dnsbl_site_parse(item, strlen(item), &site, why, sizeof(why));
			if (rc == 0)
				snprintf(out, sizeof(out), "%s", item);
			else
				return config_perr(ps, "%s: '%.*s': %s", k->name, CONFIG_QUOTE(item),
						   why);
			break;
		default:
			rc = -1;
			break;
		}
		if (rc < 0)
			return config_perr(ps, "%s: '%.*s' is not %s", k->name, CONFIG_QUOTE(item),
					   what[k->item]);
		if (l->n >= CONFIG_LIST_MAX && !(k->flags & KF_FILES))
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

/* Parse the value of an enum key (any case) into the enum at f. */
static int config_parse_enum(struct config_pstate *ps, const struct config_kdef *k,
			     const char *value, void *f)
{
	const struct config_enum *e = &config_enums[k->min];
	char alts[128] = "";
	for (size_t i = 0; i < e->n; i++) {
		if (strcasecmp(value, e->names[i]) == 0) {
			*(int *)f = (int)i;   /* every config enum is int-sized, values from 0 */
			return 0;
		}
		size_t o = strlen(alts);
		snprintf(alts + o, sizeof(alts) - o, "%s%s", i == 0 ? "" : i + 1 == e->n ? " or " : ", ",
			 e->names[i]);
	}
	return config_perr(ps, "%s: '%.*s' is not %s", k->name, CONFIG_QUOTE(value), alts);
}

/* Report a per-domain key set twice; where it was first set is file:line
 * (file NULL = the config), or just the line when in the same file. */
static int config_dup(struct config_pstate *ps, const char *kn, const char *file, unsigned line)
{
	if (file == ps->file)
		return config_perr(ps, "duplicate key '%s' (first set on line %u)", kn, line);
	return config_perr(ps, "duplicate key '%s' (first set at %s:%u)", kn,
			   file ? file : ps->cfg->path, line);
}

/* Handle "route DOMAIN = hosts" and "tls_policy DOMAIN = policy". */
int config_parse_domain_key(struct config_pstate *ps, const struct config_kdef *k,
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
		return config_dup(ps, kn, r->route_file, r->route_line);
	if (r && k->type == KT_TLS && r->tls_policy_line)
		return config_dup(ps, kn, r->tls_policy_file, r->tls_policy_line);
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
		return config_perr(ps, "out of memory");
	}
	if (k->type == KT_TLS) {
		r->has_tls_policy = 1;
		r->tls_policy = pol;
		r->tls_policy_line = ps->line;
		r->tls_policy_file = ps->file;
	} else {
		r->hosts = hosts;
		r->route_line = ps->line;
		r->route_file = ps->file;
	}
	return 0;
}

/* Set a global (not per-domain) key from its trimmed value. */
int config_set_value(struct config_pstate *ps, const struct config_kdef *k, char *value)
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
		if ((k->flags & KF_FILES) &&
		    strncmp(value, CONFIG_FILE_PREFIX, CONFIG_FILE_PREFIX_LEN) == 0) {
			char path[PATH_MAX];
			if (config_file_norm(ps, k->name, value + CONFIG_FILE_PREFIX_LEN, path,
					     sizeof(path)) < 0)
				return -1;
			if (config_set_str(f, path) < 0)
				return config_perr(ps, "out of memory");
			return 0;
		}
		if (!config_path_valid(value))
			return config_perr(ps, "%s: '%.*s' is not an absolute path without "
					   "spaces", k->name, CONFIG_QUOTE(value));
		break;
	case KT_USER:
		if (!config_user_valid(value))
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
		if (!config_addrport_valid(value))
			return config_perr(ps, "%s: '%.*s' is not addr:port, [v6]:port or "
					   "*:port", k->name, CONFIG_QUOTE(value));
		break;
	case KT_IP: {
		unsigned char a[16];
		int af = config_parse_ip(value, a);
		if (af != (k->min == 6 ? AF_INET6 : AF_INET) ||
		    config_ip_norm(value, norm, sizeof(norm)) < 0)
			return config_perr(ps, "%s: '%.*s' is not an IPv%llu address", k->name,
					   CONFIG_QUOTE(value), k->min);
		v = norm;
		break;
	}
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
	case KT_ENUM:
		return config_parse_enum(ps, k, value, f);
	default:
		return config_perr(ps, "%s: cannot be set here", k->name);
	}
	if (config_set_str(f, v) < 0)
		return config_perr(ps, "out of memory");
	return 0;
}

/* Find a key by name. */
const struct config_kdef *config_key_find(const char *name)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}
