/*
 * config_dump.c - the effective settings as a config file (`backupmxd -n`),
 * and the lookups the daemon makes at run time: is a domain relayed, is an
 * address in etrn_networks.
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
		case KT_IP:
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
		case KT_ENUM: {
			const struct config_enum *e = &config_enums[k->min];
			fprintf(out, "%s = %s\n", k->name, e->names[(unsigned)*(const int *)f % e->n]);
			break;
		}
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
