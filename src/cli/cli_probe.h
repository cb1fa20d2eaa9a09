/*
 * cli_probe.h - the options "backupmx check" and "backupmx drill" share.
 *
 * Both subcommands probe the MX hosts of one DOMAIN and take the same probe
 * options (--resolver, --port, --timeout, -4/-6, --allow-private, --helo),
 * the same output options (--json, --nagios) and -v.  This is the one parser
 * of them, so the two agree on what is valid and word each error once:
 *
 *     struct cli_probe p;
 *     cli_probe_init(&p, "drill", usage, argc, argv);
 *     while ((c = getopt_long(argc, argv, CLI_PROBE_SHORTOPTS "...", lo, NULL)) != -1) {
 *             int r = cli_probe_option(&p, c, optarg);
 *             if (r == CLI_OPT_ERROR) return CHECK_UNKNOWN;
 *             if (r == CLI_OPT_NOT_MINE) ... the subcommand's own options ...
 *     }
 *     if (cli_probe_finish(&p, argc, argv) < 0) return CHECK_UNKNOWN;
 *
 * Errors are printed (stderr, and a Nagios UNKNOWN line under --nagios) by
 * cli_probe_bad(); the exit code of every usage error is 3 (UNKNOWN).
 * cli_probe_print() writes the rendered report (both subcommands end so).  The
 * struct holds the normalised --helo and DOMAIN itself; it is the caller's
 * (usually on the stack) and owns nothing else.
 */
#ifndef BMX_CLI_PROBE_H
#define BMX_CLI_PROBE_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "check/check.h"
#include "dns/dns.h"

#define CLI_TIMEOUT_MAX_S 3600.0   /* --timeout upper bound (seconds) */

/* The output format. */
enum cli_out { CLI_OUT_TEXT = 0, CLI_OUT_JSON, CLI_OUT_NAGIOS };

/* What cli_probe_option() did with an option. */
enum cli_opt {
	CLI_OPT_ERROR = -1,      /* a shared option with a bad value: reported, exit 3 */
	CLI_OPT_HANDLED = 0,     /* a shared option, taken */
	CLI_OPT_NOT_MINE = 1,    /* the subcommand's own option (or unknown) */
};

/* getopt values of the shared long options (beyond any short option). */
enum cli_probe_optval {
	CLI_PROBE_OPT_JSON = 0x100,
	CLI_PROBE_OPT_NAGIOS,
	CLI_PROBE_OPT_TIMEOUT,
	CLI_PROBE_OPT_PORT,
	CLI_PROBE_OPT_RESOLVER,
	CLI_PROBE_OPT_ALLOW_PRIVATE,
	CLI_PROBE_OPT_HELO,
};

/* The shared short options (-4, -6, -v); the subcommand adds its own. */
#define CLI_PROBE_SHORTOPTS "46v"

/* The shared entries of a getopt_long table. */
#define CLI_PROBE_LONGOPTS \
	{ "json", no_argument, NULL, CLI_PROBE_OPT_JSON }, \
	{ "nagios", no_argument, NULL, CLI_PROBE_OPT_NAGIOS }, \
	{ "timeout", required_argument, NULL, CLI_PROBE_OPT_TIMEOUT }, \
	{ "port", required_argument, NULL, CLI_PROBE_OPT_PORT }, \
	{ "resolver", required_argument, NULL, CLI_PROBE_OPT_RESOLVER }, \
	{ "allow-private", no_argument, NULL, CLI_PROBE_OPT_ALLOW_PRIVATE }, \
	{ "helo", required_argument, NULL, CLI_PROBE_OPT_HELO }, \
	{ "verbose", no_argument, NULL, 'v' }

/* The shared options, as given, and the output format. */
struct cli_probe {
	const char *cmd;               /* subcommand, for messages: "check", "drill" */
	void (*usage)(FILE *f);        /* the subcommand's usage text */
	enum cli_out out;              /* the output format (final after cli_probe_finish) */
	int json, nagios;              /* --json, --nagios */
	uint64_t timeout_ms;           /* --timeout (CHECK_TIMEOUT_DEFAULT_MS) */
	int port;                      /* --port (25) */
	const char *resolver;          /* --resolver; NULL: the system resolver */
	int family;                    /* 0, or 4 (-4) or 6 (-6) */
	int allow_private;             /* --allow-private */
	const char *helo;              /* --helo (normalised, in helo_buf), or NULL */
	char helo_buf[DNS_NAME_MAX];
	char domain[DNS_NAME_MAX];     /* the DOMAIN operand, normalised */
};

/* Set the defaults and find --nagios early (so that usage errors are
 * reported in its format). */
void cli_probe_init(struct cli_probe *p, const char *cmd, void (*usage)(FILE *f), int argc,
		    char **argv);

/* Take one getopt result c (with its argument arg) if it is a shared option. */
enum cli_opt cli_probe_option(struct cli_probe *p, int c, const char *arg);

/* After the option loop: settle the output format and normalise the one
 * DOMAIN operand (argv[optind]) into p->domain; 0, or -1 (reported). */
int cli_probe_finish(struct cli_probe *p, int argc, char **argv);

/* Report a usage or set-up error in p's output format; returns 3 (UNKNOWN). */
int cli_probe_bad(const struct cli_probe *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Report an unknown or incomplete option (with the usage text); returns 3. */
int cli_probe_unknown(const struct cli_probe *p, char **argv);

/* Write the rendered report b to stdout and free it; returns st, or
 * CHECK_UNKNOWN when b ran out of memory or stdout cannot be flushed. */
enum check_state cli_probe_print(const struct cli_probe *p, struct bmx_buf *b,
				 enum check_state st);

/* Parse seconds in (0, max] into *out; 0 or -1. */
int cli_secs_parse(const char *s, double max, double *out);

#endif
