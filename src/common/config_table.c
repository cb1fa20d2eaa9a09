/*
 * config_table.c - tables of any size: the file: tables of backupmx.conf,
 * the lookup indexes, and the lookups the daemon makes at run time (is a
 * domain relayed, the rule of a domain, is an address in etrn_networks).
 *
 * relay_domains and etrn_networks take "file:PATH" entries beside inline
 * ones; route_maps and tls_policy_maps take only "file:PATH".  A table file
 * has one entry a line: a domain or .domain (relay_domains), a CIDR
 * (etrn_networks), "DOMAIN HOSTS" (route_maps) or "DOMAIN POLICY"
 * (tls_policy_maps); '#' starts a comment at the start of a line or after
 * whitespace; blank lines are skipped.  Errors read "path:line: message".
 * A domain listed twice (inline, in files) is one entry for relay_domains
 * and etrn_networks, and an error for route and tls_policy rules.
 *
 * config_parse() only resolves the paths (pure, fuzzed); the files are read
 * by config_tables_load(), in bounded chunks, straight into the indexes:
 * struct strtab hash tables, so a lookup is O(1) on average, a .domain
 * match O(labels) and an ETRN check one lookup per prefix length present.
 * The only limit is memory.
 */
#include "common/config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_TABLE_CHUNK (256 * 1024)  /* octets read from a table file at a time */

/* What one line of a table file holds. */
enum config_tkind { TK_RELAY, TK_ETRN, TK_ROUTE, TK_TLS };

/* ---- the indexes ---- */

/* The indexes of cfg, made on first use; NULL when out of memory. */
struct config_tables *config_tables_get(struct config *cfg)
{
	struct config_tables *t = cfg->tables;
	if (t)
		return t;
	if (!(t = calloc(1, sizeof(*t))))
		return NULL;
	t->relay = strtab_new();
	t->rules = strtab_new();
	t->etrn = strtab_new();
	cfg->tables = t;
	if (!t->relay || !t->rules || !t->etrn) {
		config_tables_free(cfg);
		return NULL;
	}
	return t;
}

/* Free the indexes of cfg. */
void config_tables_free(struct config *cfg)
{
	struct config_tables *t = cfg->tables;
	if (!t)
		return;
	strtab_free(t->relay);
	strtab_free(t->rules);
	strtab_free(t->etrn);
	free(t);
	cfg->tables = NULL;
}

/* Add one normalised etrn_networks entry ("addr/len") to the index; 0 or -1. */
int config_etrn_index(struct config_tables *t, const char *cidr)
{
	const char *slash = strchr(cidr, '/');
	unsigned len = slash ? (unsigned)atoi(slash + 1) : 0;

	if (!slash || strtab_put(t->etrn, cidr, strlen(cidr), 0, NULL) < 0)
		return -1;
	if (strchr(cidr, ':'))
		t->etrn_len6[len > 128 ? 128 : len] = 1;
	else
		t->etrn_len4[len > 32 ? 32 : len] = 1;
	return 0;
}

/* Index the inline relay_domains and etrn_networks entries (after parsing). */
int config_tables_index(struct config_pstate *ps)
{
	struct config *cfg = ps->cfg;
	struct config_tables *t = config_tables_get(cfg);
	const struct config_list *l;

	if (!t)
		return config_perr(ps, "out of memory");
	l = &cfg->relay_domains;
	for (size_t i = 0; i < l->n; i++) {
		if (strncmp(l->v[i], CONFIG_FILE_PREFIX, CONFIG_FILE_PREFIX_LEN) == 0)
			continue;
		if (strtab_put(t->relay, l->v[i], strlen(l->v[i]), 0, NULL) < 0)
			return config_perr(ps, "out of memory");
	}
	l = &cfg->etrn_networks;
	for (size_t i = 0; i < l->n; i++) {
		if (strncmp(l->v[i], CONFIG_FILE_PREFIX, CONFIG_FILE_PREFIX_LEN) == 0)
			continue;
		if (config_etrn_index(t, l->v[i]) < 0)
			return config_perr(ps, "out of memory");
	}
	return 0;
}

/* Check a file: path and resolve a relative one against ps->dir into out. */
int config_file_norm(struct config_pstate *ps, const char *kname, const char *path, char *out,
		     size_t outlen)
{
	int n;

	if (!*path)
		return config_perr(ps, "%s: 'file:' needs a path (file:PATH)", kname);
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return config_perr(ps, "%s: 'file:%.*s': a path without spaces or "
					   "control characters", kname, CONFIG_QUOTE(path));
	if (path[0] == '/' || !ps->dir)
		n = snprintf(out, outlen, "%s", path);
	else
		n = snprintf(out, outlen, "%s/%s", ps->dir, path);
	if (n < 0 || (size_t)n >= outlen || (size_t)n >= PATH_MAX)
		return config_perr(ps, "%s: 'file:%.*s': path too long", kname,
				   CONFIG_QUOTE(path));
	return 0;
}

/* ---- reading table files ---- */

/* One entry of a relay_domains or etrn_networks file: a single word. */
static int config_table_entry(struct config_pstate *ps, enum config_tkind kind, char *s)
{
	struct config_tables *t = ps->cfg->tables;
	char out[CONFIG_ITEM_MAX];
	const char *what = kind == TK_RELAY ? "relay_domains" : "etrn_networks";

	if (strpbrk(s, " \t,"))
		return config_perr(ps, "%s: expected one entry a line", what);
	if (kind == TK_RELAY) {
		if (config_relay_norm(s, out, sizeof(out)) < 0)
			return config_perr(ps, "relay_domains: '%.*s' is not a domain or .domain",
					   CONFIG_QUOTE(s));
		if (strtab_put(t->relay, out, strlen(out), 0, NULL) < 0)
			return config_perr(ps, "out of memory");
		return 0;
	}
	if (config_cidr_norm(s, out, sizeof(out)) < 0)
		return config_perr(ps, "etrn_networks: '%.*s' is not a CIDR network (addr/len, "
				   "no host bits set)", CONFIG_QUOTE(s));
	if (config_etrn_index(t, out) < 0)
		return config_perr(ps, "out of memory");
	return 0;
}

/* One rule line, "DOMAIN VALUE", of a route_maps or tls_policy_maps file. */
static int config_table_rule(struct config_pstate *ps, enum config_tkind kind, char *s)
{
	const struct config_kdef *k = config_key_find(kind == TK_ROUTE ? "route" : "tls_policy");
	char *v = s + strcspn(s, " \t");

	if (*v)
		*v++ = '\0';
	v += strspn(v, " \t");
	return config_parse_domain_key(ps, k, s, v);
}

/* One line (NUL-terminated, len octets): comment, blank or an entry. */
static int config_table_line(struct config_pstate *ps, enum config_tkind kind, char *line,
			     size_t len)
{
	char *s = line;

	if (len > CONFIG_LINE_MAX)
		return config_perr(ps, "line too long (more than %d bytes)", CONFIG_LINE_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t' && !(c == '\r' && i == len - 1)) || c == 0x7f)
			return config_perr(ps, "control character 0x%02x in line", c);
		if (c == '#' && (i == 0 || config_isspace((unsigned char)line[i - 1]))) {
			line[i] = '\0';
			len = i;
			break;
		}
	}
	while (len && config_isspace((unsigned char)line[len - 1]))
		line[--len] = '\0';
	while (config_isspace((unsigned char)*s))
		s++;
	if (!*s)
		return 0;
	if (kind == TK_RELAY || kind == TK_ETRN)
		return config_table_entry(ps, kind, s);
	return config_table_rule(ps, kind, s);
}

/* Read the table file path (ps->name) chunk by chunk, one line at a time. */
static int config_table_read(struct config_pstate *ps, enum config_tkind kind, int fd)
{
	char *buf = malloc(CONFIG_TABLE_CHUNK + 1);
	size_t have = 0;
	int eof = 0, rc = 0;

	if (!buf)
		return config_perr(ps, "out of memory");
	while (rc == 0 && (!eof || have)) {
		if (!eof) {
			ssize_t r = read(fd, buf + have, CONFIG_TABLE_CHUNK - have);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				snprintf(ps->err, ps->errlen, "%s: cannot read: %s", ps->name,
					 strerror(errno));
				rc = -1;
				break;
			}
			eof = r == 0;
			have += (size_t)r;
		}
		size_t pos = 0;
		while (rc == 0) {
			char *start = buf + pos, *nl = memchr(start, '\n', have - pos);
			size_t ll = nl ? (size_t)(nl - start) : have - pos;
			if (!nl && !(eof && pos < have))
				break;
			ps->line++;
			start[ll] = '\0';
			pos += ll + (nl ? 1 : 0);
			rc = config_table_line(ps, kind, start, ll);
		}
		memmove(buf, buf + pos, have - pos);
		have -= pos;
		if (rc == 0 && have > CONFIG_LINE_MAX) {
			ps->line++;
			rc = config_perr(ps, "line too long (more than %d bytes)", CONFIG_LINE_MAX);
		}
	}
	free(buf);
	return rc;
}

/* Load every file: entry of a list into the indexes. */
static int config_table_files(struct config_pstate *ps, const struct config_list *l,
			      enum config_tkind kind)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *path = l->v[i] + CONFIG_FILE_PREFIX_LEN;
		if (strncmp(l->v[i], CONFIG_FILE_PREFIX, CONFIG_FILE_PREFIX_LEN) != 0)
			continue;
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			snprintf(ps->err, ps->errlen, "%s: cannot open: %s", path, strerror(errno));
			return -1;
		}
		ps->name = ps->file = path;
		ps->line = 0;
		int rc = config_table_read(ps, kind, fd);
		close(fd);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Read the table files that cfg names into its lookup indexes; once. */
int config_tables_load(struct config *cfg, char *err, size_t errlen)
{
	struct config_tables *t = config_tables_get(cfg);
	struct config_pstate ps;
	char dummy[1];

	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	ps.err = err && errlen ? err : dummy;
	ps.errlen = err && errlen ? errlen : sizeof(dummy);
	ps.err[0] = '\0';
	if (!t) {
		snprintf(ps.err, ps.errlen, "%s: out of memory", cfg->path ? cfg->path : "config");
		return -1;
	}
	if (t->loaded)
		return 0;
	if (config_table_files(&ps, &cfg->relay_domains, TK_RELAY) < 0 ||
	    config_table_files(&ps, &cfg->etrn_networks, TK_ETRN) < 0 ||
	    config_table_files(&ps, &cfg->route_maps, TK_ROUTE) < 0 ||
	    config_table_files(&ps, &cfg->tls_policy_maps, TK_TLS) < 0)
		return -1;
	for (size_t i = 0; i < cfg->ndomain_rules; i++) {
		if (config_rule_ports(&cfg->domain_rules[i], cfg->relay_port) < 0) {
			snprintf(ps.err, ps.errlen, "%s: out of memory", cfg->path);
			return -1;
		}
	}
	t->loaded = 1;
	return 0;
}

/* ---- the run-time lookups ---- */

/* Number of distinct relay_domains entries known (inline and loaded). */
size_t config_relay_count(const struct config *cfg)
{
	return cfg && cfg->tables ? strtab_count(cfg->tables->relay) : 0;
}

/* Is domain one of relay_domains ("x.example.com" matches ".example.com")?
 * One lookup for the name, one for each of its parent suffixes. */
int config_relay_domain(const struct config *cfg, const char *domain)
{
	char low[CONFIG_DOMAIN_MAX + 1];
	size_t n;

	if (!cfg || !cfg->tables || !domain)
		return 0;
	n = strlen(domain);
	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (n == 0 || n > CONFIG_DOMAIN_MAX || domain[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (domain[i] == '.' && domain[i + 1] == '.')
			return 0;   /* an empty label never matches */
		low[i] = (char)config_lower((unsigned char)domain[i]);
	}
	low[n] = '\0';
	const struct strtab *t = cfg->tables->relay;
	if (strtab_get(t, low, n, NULL))
		return 1;
	for (size_t i = 1; i < n; i++)
		if (low[i] == '.' && strtab_get(t, low + i, n - i, NULL))
			return 1;
	return 0;
}

/* The rule for a domain (any case, trailing dot ignored), or NULL. */
const struct config_domain_rule *config_domain_rule(const struct config *cfg, const char *domain)
{
	char norm[CONFIG_DOMAIN_MAX + 1];
	uint32_t idx;

	if (!cfg || !cfg->tables || !domain || config_domain_norm(domain, norm, sizeof(norm)) < 0)
		return NULL;
	if (!strtab_get(cfg->tables->rules, norm, strlen(norm), &idx) || idx >= cfg->ndomain_rules)
		return NULL;
	return &cfg->domain_rules[idx];
}

/* Is the network of a (af, its first bits bits) in the ETRN index? */
static int config_etrn_has(const struct config_tables *t, int af, const unsigned char *a,
			   unsigned bits)
{
	unsigned char m[16] = {0};
	char text[INET6_ADDRSTRLEN + 8];
	unsigned full = bits / 8, rest = bits % 8;

	memcpy(m, a, full);
	if (rest)
		m[full] = (unsigned char)(a[full] & (0xff << (8 - rest)));
	if (!inet_ntop(af, m, text, INET6_ADDRSTRLEN))
		return 0;
	size_t o = strlen(text);
	snprintf(text + o, sizeof(text) - o, "/%u", bits);
	return strtab_get(t->etrn, text, strlen(text), NULL);
}

/* Is the peer address inside one of etrn_networks (v4-mapped v6 counts as v4)? */
int config_etrn_network(const struct config *cfg, const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	unsigned char a[16];
	int af;

	if (!cfg || !cfg->tables || !sa)
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
	const struct config_tables *t = cfg->tables;
	unsigned max = af == AF_INET ? 32 : 128;
	const unsigned char *present = af == AF_INET ? t->etrn_len4 : t->etrn_len6;
	for (unsigned bits = 0; bits <= max; bits++)
		if (present[bits] && config_etrn_has(t, af, a, bits))
			return 1;
	return 0;
}
