/*
 * config_int.h - what the files of the config reader share: the key table,
 * the parse state and the value checkers.
 *
 *   config.c        the key table, defaults, free, per-domain rules, the
 *                   line parser, config_parse/load/validate
 *   config_value.c  value syntax: numbers, durations, sizes, names,
 *                   addresses, routes, the resolver
 *   config_set.c    setting one key from its value (lists, per-domain keys)
 *   config_dump.c   config_dump()
 *   config_table.c  the file: tables, the lookup indexes and the run-time
 *                   lookups (relay domain, per-domain rule, ETRN network)
 */
#ifndef BMX_CONFIG_INT_H
#define BMX_CONFIG_INT_H

#include <stddef.h>
#include <string.h>

#include "common/config.h"
#include "common/strtab.h"

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
	KT_IP,          /* char *: one IP address, of the family in min (4 or 6) */
	KT_URL,         /* char *: http:// or https:// URL */
	KT_LOGLEVEL,    /* char *: error|warning|info|debug */
	KT_SIZE,        /* unsigned long long: octets, k/M/G suffixes */
	KT_UINT,        /* unsigned: a number in min..max */
	KT_DURATION,    /* unsigned: seconds, s/m/h/d suffixes */
	KT_BOOL,        /* int */
	KT_TLS,         /* enum config_tls_policy */
	KT_ENUM,        /* an enum key: min picks its names in config_enums[] */
	KT_LIST,        /* struct config_list, items checked by kitem */
	KT_ROUTE,       /* per-domain route */
};

/* What one list entry must look like. */
enum config_kitem { KI_NONE = 0, KI_LISTEN, KI_RELAY, KI_IP, KI_CIDR, KI_DNSBL, KI_MILTER,
		   KI_FILE /* only file:PATH */ };

#define KF_OPTIONAL 0x1   /* an empty value unsets the key (NULL) */
#define KF_ZERO     0x2   /* duration: 0 is allowed and means off */
#define KF_DOMAIN   0x4   /* "key DOMAIN = value" is allowed */
#define KF_NOGLOBAL 0x8   /* only "key DOMAIN = value" is allowed */
#define KF_FILES    0x10  /* list: also file:PATH entries, no count limit; path: file:PATH too */

#define CONFIG_FILE_PREFIX "file:"
#define CONFIG_FILE_PREFIX_LEN 5

/* The lookup indexes of one config (config_table.c). */
struct config_tables {
	struct strtab *relay;   /* every relay_domains entry ("x.y", ".x.y"), inline and loaded */
	struct strtab *rules;   /* domain -> index in cfg->domain_rules */
	struct strtab *etrn;    /* every etrn_networks entry, canonical "addr/len" */
	unsigned char etrn_len4[33], etrn_len6[129];  /* the prefix lengths present */
	int loaded;             /* config_tables_load ran */
};

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
#define CONFIG_KEYS_MAX 64        /* size of the per-parse "seen" table */

/* Every key, in dump order (config.c). */
extern const struct config_kdef config_keys[];
extern const size_t config_nkeys;
#define CONFIG_NKEYS config_nkeys
extern const char *const config_tls_names[3];     /* may, encrypt, verify */
extern const char *const config_vdown_names[2];   /* tempfail, accept */
extern const char *const config_pup_names[3];     /* proxy, defer, queue */
extern const char *const config_dnsbl_action_names[3];   /* reject, tempfail, log */
extern const char *const config_bounce_names[3];   /* authenticated, always, never */

/* The value names of each enum key, in enum order (KT_ENUM: kdef.min is the index). */
enum { CE_VDOWN = 0, CE_PUP, CE_DNSBLACT, CE_BOUNCE, CE_MILTER };
struct config_enum {
	const char *const *names;
	size_t n;
};
extern const struct config_enum config_enums[];

/* State of one config_parse() call. */
struct config_pstate {
	struct config *cfg;
	const char *name;
	unsigned line;
	char *err;
	size_t errlen;
	unsigned seen[CONFIG_KEYS_MAX];    /* line where each global key was set, 0 = not yet */
	const char *dir;   /* relative file: paths are resolved against it; NULL = kept */
	const char *file;  /* the table file being read (config_table.c), NULL = the config */
};

/* Field of cfg at a table offset. */
void *config_field(const struct config *cfg, const struct config_kdef *k);
/* Is c an ASCII letter or digit? */
int config_isalnum(int c);
/* Is c a space or a tab? */
int config_isspace(int c);
/* Append a copy of s to a list; 0 or -1 (out of memory). */
int config_list_add(struct config_list *l, const char *s);
/* Free every entry of a list and leave it empty. */
void config_list_clear(struct config_list *l);
/* ASCII lower case. */
int config_lower(int c);
/* Report a parse error at the current line; returns -1. */
__attribute__((format(printf, 2, 3)))
int config_perr(struct config_pstate *ps, const char *fmt, ...);
/* The rule for a normalised domain, created if create is set; NULL if absent or full. */
struct config_domain_rule *config_rule_get(struct config *cfg, const char *domain,
						  int create);
/* Replace a string field with a copy of s (NULL unsets); 0 or -1. */
int config_set_str(char **dst, const char *s);
/* Is s "addr:port", "[v6]:port" or "*:port" (port 0..65535, 0 = any)?  1 or 0. */
int config_addrport_valid(const char *s);
/* Check a CIDR ("addr/len" or a bare address) and write it as canonical "addr/len". */
int config_cidr_norm(const char *s, char *out, size_t outlen);
/* Canonical text of an IP literal into out; 0 or -1. */
int config_ip_norm(const char *s, char *out, size_t outlen);
/* Parse a boolean (yes/no/true/false/on/off/1/0, any case); 0 or -1. */
int config_parse_bool(const char *s, int *out);
/* Parse an IPv4 or IPv6 literal into 16 bytes; returns the family or -1. */
int config_parse_ip(const char *s, unsigned char addr[16]);
/* Parse an unsigned decimal number (digits only) with overflow check; 0 or -1. */
int config_parse_ull(const char *s, const char **end, unsigned long long *out);
/* Is s an absolute path without whitespace or control characters?  1 or 0. */
int config_path_valid(const char *s);
/* Check and normalise a relay_domains entry: a domain, optionally ".domain". */
int config_relay_norm(const char *s, char *out, size_t outlen);
/* Check a route host ("[ip]:port", "[ip]", "host:port", "host") and normalise it. */
int config_route_norm(const char *s, char *out, size_t outlen);
/* Is s a user name: 1..CONFIG_USER_MAX of [A-Za-z0-9_.-], not starting with '-'?
 * 1 or 0. */
int config_user_valid(const char *s);
/* Find a key by name. */
const struct config_kdef *config_key_find(const char *name);
/* Handle "route DOMAIN = hosts" and "tls_policy DOMAIN = policy". */
int config_parse_domain_key(struct config_pstate *ps, const struct config_kdef *k,
				   const char *domain, char *value);
/* Set a global (not per-domain) key from its trimmed value. */
int config_set_value(struct config_pstate *ps, const struct config_kdef *k, char *value);

/* The indexes of cfg, made on first use; NULL when out of memory. */
struct config_tables *config_tables_get(struct config *cfg);
/* Free the indexes of cfg. */
void config_tables_free(struct config *cfg);
/* Index the inline relay_domains and etrn_networks entries (after parsing); 0 or -1. */
int config_tables_index(struct config_pstate *ps);
/* Add one normalised etrn_networks entry ("addr/len") to the index; 0 or -1. */
int config_etrn_index(struct config_tables *t, const char *cidr);
/* Check a file: path and resolve a relative one against ps->dir into out; 0 or -1
 * (error reported). */
int config_file_norm(struct config_pstate *ps, const char *kname, const char *path, char *out,
		     size_t outlen);
/* Give every port-less host of a route rule the port; 0 or -1 (out of memory). */
int config_rule_ports(struct config_domain_rule *r, unsigned port);

/* Is a key of this type a char * (freed, dumped as is)?  1 or 0. */
int config_ktype_is_str(enum config_ktype t);

#endif
