/*
 * config.h - the backupmx.conf configuration: "key = value" lines, '#' comments.
 *
 * One file configures both the daemon and the command line.  Unknown keys,
 * bad values and duplicate single-valued keys are errors reported as
 * "file:line: message".  Per-domain keys take the domain between the key and
 * the '=':  "route example.com = [192.0.2.10]:25, [192.0.2.11]:25",
 * "tls_policy example.com = verify".  Lists are comma and/or space
 * separated.  Durations take s/m/h/d suffixes (plain = seconds); sizes take
 * k/M/G suffixes (plain = octets).  config_parse() is pure over a buffer
 * and has a libFuzzer target.
 *
 * Tables of any size: relay_domains and etrn_networks also take entries
 * "file:PATH" (one entry a line), route_maps and tls_policy_maps take
 * "file:PATH" tables of "DOMAIN VALUE" lines, and recipients = file:PATH
 * means recipients = PATH.  config_parse() only records the (resolved)
 * paths; config_tables_load() reads the files (config_table.c).
 */
#ifndef BMX_CONFIG_H
#define BMX_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#define CONFIG_LINE_MAX    4096  /* longest config line */
#define CONFIG_LIST_MAX    256   /* entries in one list key (not relay_domains, etrn_networks) */
#define CONFIG_DEFAULT_PATH "/etc/backupmx/backupmx.conf"
#define CONFIG_DEFAULT_SPOOL "/var/spool/backupmx"
#define CONFIG_FILE_MAX    (4 * 1024 * 1024)  /* largest config file config_load reads */
#define CONFIG_DURATION_MAX (3650U * 86400U)  /* longest duration: 3650 days, in seconds */

enum config_tls_policy { CONFIG_TLS_MAY = 0, CONFIG_TLS_ENCRYPT, CONFIG_TLS_VERIFY };
enum config_verify_down { CONFIG_VDOWN_TEMPFAIL = 0, CONFIG_VDOWN_ACCEPT };
/* What a recipient of a destination whose primary is up gets (issue 13). */
enum config_primary_up { CONFIG_PUP_PROXY = 0, CONFIG_PUP_DEFER, CONFIG_PUP_QUEUE };
/* What a client whose DNSBL score reaches dnsbl_threshold gets (issue 14). */
enum config_dnsbl_action { CONFIG_DNSBL_REJECT = 0, CONFIG_DNSBL_TEMPFAIL, CONFIG_DNSBL_LOG };
/* Who gets a DSN for mail we accepted and cannot deliver (issue 14). */
enum config_bounce_policy { CONFIG_BOUNCE_AUTH = 0, CONFIG_BOUNCE_ALWAYS, CONFIG_BOUNCE_NEVER };
/* What a message gets when a milter is down, slow or speaks garbage. */
enum config_milter_default { CONFIG_MILTER_TEMPFAIL = 0, CONFIG_MILTER_ACCEPT, CONFIG_MILTER_REJECT };

struct config_list {
	size_t n;
	char **v;
};

/* "route DOMAIN = hosts" and "tls_policy DOMAIN = policy". */
struct config_domain_rule {
	char *domain;                 /* lower-case */
	struct config_list hosts;     /* route: "[ip]:port" or "host:port" entries; empty if none */
	int has_tls_policy;
	enum config_tls_policy tls_policy;
	unsigned route_line;          /* config line of the route (0 = none) */
	unsigned tls_policy_line;     /* config line of the tls_policy (0 = none) */
	const char *route_file;       /* route_maps file of the route, NULL = the config */
	const char *tls_policy_file;  /* tls_policy_maps file of the tls_policy, NULL = the config */
};

struct config_tables;   /* the lookup indexes (config_table.c) */

struct config {
	char *path;
	/* receiving side */
	char *hostname;                 /* default: gethostname() */
	struct config_list listen;      /* default: "0.0.0.0:25" */
	char *spool;                    /* default: /var/spool/backupmx */
	struct config_list relay_domains;  /* lower-case; ".example.com" covers subdomains;
					    * "file:PATH" entries name table files */
	char *recipients;               /* file path, or NULL ("file:PATH" is stored as PATH) */
	unsigned long long max_message_size;  /* 10240000 */
	unsigned max_recipients;        /* 1000 */
	unsigned max_connections;       /* 1000 */
	unsigned max_connections_per_ip;   /* 50 (Postfix smtpd_client_connection_count_limit) */
	unsigned max_errors;            /* 10: errors per session before 421 */
	unsigned max_received_headers;  /* 100 */
	unsigned command_timeout;       /* seconds, 300 */
	unsigned data_timeout;          /* seconds, 600 */
	char *tls_cert, *tls_key;       /* STARTTLS only when both are set */
	char *user;                     /* drop privileges to this user */
	char *resolver;                 /* NULL = system; "recursive"; "ADDR[@PORT]" */
	unsigned relay_port;            /* 25 */
	char *control_socket;           /* default: <spool>/control */
	char *log_level;                /* "info" */
	int syslog;                     /* 0 */
	/* delivery side */
	struct config_list proxy_interfaces;
	char *bind_address;             /* IPv4 source of outgoing connections; NULL = any */
	char *bind_address6;            /* IPv6 source of outgoing connections; NULL = any */
	struct config_list etrn_networks;  /* CIDRs, and "file:PATH" table files */
	enum config_tls_policy tls_policy; /* global default: may */
	size_t ndomain_rules;
	struct config_domain_rule *domain_rules;  /* inline and from the *_maps files */
	struct config_list route_maps;      /* "file:PATH" tables of "DOMAIN HOSTS" */
	struct config_list tls_policy_maps; /* "file:PATH" tables of "DOMAIN POLICY" */
	struct config_tables *tables;       /* lookup indexes, owned (config_table.c) */
	unsigned probe_interval;        /* seconds, 30 */
	unsigned max_concurrency;       /* 10 */
	unsigned retry_min;             /* seconds, 60 */
	unsigned retry_max;             /* seconds, 1800 */
	unsigned queue_lifetime;        /* seconds, 5d */
	unsigned delay_warning;         /* seconds, 0 = off */
	int recipient_verify;           /* 0 */
	enum config_verify_down recipient_verify_down;  /* tempfail */
	enum config_primary_up primary_up;  /* proxy */
	struct config_list dnsbl_sites;     /* postscreen syntax: domain[=filter][*weight] */
	unsigned dnsbl_threshold;           /* 1 */
	enum config_dnsbl_action dnsbl_action;  /* reject */
	unsigned dnsbl_timeout;             /* 10 s */
	enum config_bounce_policy bounce_policy;  /* authenticated */
	struct config_list milters;         /* inet:HOST:PORT or unix:PATH, called in order */
	enum config_milter_default milter_default_action;  /* tempfail */
	unsigned milter_connect_timeout;    /* 30 s */
	unsigned milter_command_timeout;    /* 30 s */
	unsigned milter_content_timeout;    /* 300 s */
	unsigned verify_positive_ttl;   /* 30d */
	unsigned verify_negative_ttl;   /* 3d */
	unsigned connect_timeout;       /* seconds, 30 (outbound) */
	/* monitoring */
	char *status_listen;            /* NULL = off */
	char *alert_webhook;            /* NULL = off */
	unsigned alert_queue_age;       /* seconds, 0 = off */
};

/* Fill cfg with defaults (hostname from the system). */
void config_defaults(struct config *cfg);
/* Parse a buffer (name is used in messages).  On error returns -1 and writes
 * "name:line: message" into err.  cfg must hold defaults first. */
int config_parse(struct config *cfg, const char *name, const char *buf, size_t len, char *err,
		 size_t errlen);
/* Defaults, then read and parse path.  0 or -1 (err filled). */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
/* Read the table files that cfg names (file: entries of relay_domains,
 * etrn_networks, route_maps, tls_policy_maps) into its lookup indexes; once.
 * 0 or -1 with err "path:line: message" or "path: message".  The daemon
 * calls it after config_load; the command line need not. */
int config_tables_load(struct config *cfg, char *err, size_t errlen);
/* Number of distinct relay_domains entries known (inline and loaded). */
size_t config_relay_count(const struct config *cfg);
/* Cross-key checks after parsing (tls_cert without tls_key, ...). */
int config_validate(const struct config *cfg, char *err, size_t errlen);
/* Is s a resolver value ("system", "recursive", ADDR[@PORT])?  0, or -1 with
 * why set (with a hint for "ADDR:PORT"); `resolver` and --resolver share it. */
int config_resolver_check(const char *s, char *why, size_t len);
/* Print the effective settings, one "key = value" per line (backupmxd -n). */
void config_dump(const struct config *cfg, FILE *out);
void config_free(struct config *cfg);

/* Is domain (lower-case, no trailing dot) one of relay_domains? */
int config_relay_domain(const struct config *cfg, const char *domain);
/* The rule for a domain, or NULL. */
const struct config_domain_rule *config_domain_rule(const struct config *cfg, const char *domain);

/* Parse helpers, also used by the command line. */
int config_parse_duration(const char *s, unsigned *out);
int config_parse_size(const char *s, unsigned long long *out);

/*
 * Notes on the contract above (added by the config module's owner):
 * - Every err text is complete and ready to print as is: config_parse gives
 *   "name:line: message", config_load and config_validate give
 *   "path: message" (cfg->path; config_parse sets it to name when unset).
 * - After config_load/config_parse fail, cfg still holds defaults plus part
 *   of the file; it must be released with config_free().
 * - After parsing, control_socket is never NULL, every route host carries a
 *   port ("[192.0.2.10]:25", "[2001:db8::1]:25", "mx.example.com:2525"; a
 *   port-less route host gets relay_port), IPs are canonical (inet_ntop),
 *   etrn_networks entries are "addr/len" with no host bits set, and
 *   optional strings (recipients, tls_cert, tls_key, user, resolver,
 *   status_listen, alert_webhook) are NULL when unset or set to "".
 * - config_validate touches the file system (tls files must be readable);
 *   the command line, which may run unprivileged, need not call it.
 * - Durations are seconds in 0..CONFIG_DURATION_MAX; sizes use k/M/G =
 *   1024, 1024^2, 1024^3.
 */

/* Is the peer address inside one of etrn_networks (v4-mapped v6 counts as v4)? 1 or 0. */
int config_etrn_network(const struct config *cfg, const struct sockaddr *sa);
/* Lower-case domain, strip one trailing dot and check LDH syntax into out; 0 or -1. */
int config_domain_norm(const char *domain, char *out, size_t outlen);

/* The name of a primary_up value ("proxy", "defer", "queue"). */
const char *config_primary_up_name(enum config_primary_up v);

/* The name of a milter_default_action value. */
const char *config_milter_default_name(enum config_milter_default v);

#endif
