/*
 * config_dump.c - the effective settings as a config file (`backupmxd -n`).
 *
 * Table files are printed as their file:PATH entries (route_maps,
 * tls_policy_maps, the file: entries of relay_domains and etrn_networks),
 * never as the entries they hold, so the dump stays short and reads back
 * through config_parse() to the same dump.
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

/* ---- output ---- */

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
				if (r->has_tls_policy && !r->tls_policy_file)
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
				if (r->hosts.n == 0 || r->route_file)
					continue;
				snprintf(name, sizeof(name), "route %s", r->domain);
				config_dump_list(out, name, &r->hosts);
			}
			break;
		}
	}
}
