/*
 * cmd_check.c - "backupmx check DOMAIN": options, run, output, exit code.
 *
 * Parses the options, normalises the domain (IDN U-labels to A-labels with
 * libidn2 through dns_name_normalize), runs check_run() and prints the human
 * report (colour only on a terminal), the JSON document (--json) or the
 * Nagios line (--nagios).  Exit codes follow the monitoring-plugin
 * convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (resolver failure or
 * bad arguments).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check.h"
#include "cli/cli.h"
#include "cli/cli_probe.h"
#include "dns/dns.h"

/* Print the usage text. */
static void check_usage(FILE *f)
{
	fputs("usage: backupmx check [options] DOMAIN\n"
	      "\n"
	      "Check the MX hosts of DOMAIN the way a sending MTA sees them: the MX set,\n"
	      "addresses, TTLs, DNSSEC, reverse DNS, SMTP banner and extensions, STARTTLS\n"
	      "and certificate, postmaster, unknown-user and open-relay probes (no DATA\n"
	      "unless --filter-probe), and whether the backup MX matches the primary.\n"
	      "\n"
	      "options:\n"
	      "  --primary HOST   HOST is a primary MX (repeatable; default: best preference)\n"
	      "  --backup HOST    HOST is a backup MX (repeatable)\n"
	      "  --json           print the JSON document (docs/check-json.md)\n"
	      "  --nagios         print one plugin line: STATUS: summary | perfdata\n"
	      "  --no-smtp        DNS checks only, no SMTP probes\n"
	      "  --filter-probe   also send one real message per MX: the GTUBE test string\n"
	      "                   to postmaster; a backup that takes what the primary\n"
	      "                   refuses bypasses its content filter (critical)\n"
	      "  --timeout S      per-step timeout in seconds, also bounds the run (10)\n"
	      "  --port N         SMTP port to probe (default 25)\n"
	      "  --resolver R     ADDR[@PORT] (forward to it), recursive, or system\n"
	      "  -4, -6           IPv4 or IPv6 addresses only\n"
	      "  --allow-private  private/loopback/reserved addresses are info, not warnings\n"
	      "  --helo NAME      EHLO name for the probes (default: this host's name)\n"
	      "  -v, --verbose    debug logging to stderr\n"
	      "  -h, --help       this text\n"
	      "\n"
	      "exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN\n", f);
}

/* Add a --primary/--backup name (normalised) to a list; 0 or -1. */
static int check_role_add(const char **list, size_t *n, char store[][DNS_NAME_MAX],
			  const char *name, char *err, size_t errlen)
{
	if (*n >= CHECK_ROLE_NAMES_MAX) {
		snprintf(err, errlen, "too many role names (at most %d)", CHECK_ROLE_NAMES_MAX);
		return -1;
	}
	if (dns_name_normalize(name, store[*n], DNS_NAME_MAX, err, errlen) < 0)
		return -1;
	list[*n] = store[*n];
	(*n)++;
	return 0;
}

/* Whether the human report may use colour. */
static int check_color(void)
{
	const char *term = getenv("TERM");

	if (getenv("NO_COLOR") || !isatty(STDOUT_FILENO))
		return 0;
	return !(term && strcmp(term, "dumb") == 0);
}

/* Parse the options into o and p; -1 to go on, or the exit code. */
static int check_options(struct check_opts *o, struct cli_probe *p, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "primary", required_argument, NULL, 'P' },
		{ "backup", required_argument, NULL, 'B' },
		{ "no-smtp", no_argument, NULL, 'S' },
		{ "filter-probe", no_argument, NULL, 'G' },
		CLI_PROBE_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char prim[CHECK_ROLE_NAMES_MAX][DNS_NAME_MAX];
	static char back[CHECK_ROLE_NAMES_MAX][DNS_NAME_MAX];
	char err[256];
	int c;

	cli_probe_init(p, "check", check_usage, argc, argv);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, CLI_PROBE_SHORTOPTS "h", longopts, NULL)) != -1) {
		enum cli_opt r = cli_probe_option(p, c, optarg);
		if (r == CLI_OPT_ERROR)
			return CHECK_UNKNOWN;
		if (r == CLI_OPT_HANDLED)
			continue;
		switch (c) {
		case 'P':
			if (check_role_add(o->primary, &o->nprimary, prim, optarg, err,
					   sizeof(err)) < 0)
				return cli_probe_bad(p, "--primary: %s", err);
			break;
		case 'B':
			if (check_role_add(o->backup, &o->nbackup, back, optarg, err,
					   sizeof(err)) < 0)
				return cli_probe_bad(p, "--backup: %s", err);
			break;
		case 'S': o->no_smtp = 1; break;
		case 'G': o->filter_probe = 1; break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			return cli_probe_unknown(p, argv);
		}
	}
	if (cli_probe_finish(p, argc, argv) < 0)
		return CHECK_UNKNOWN;
	o->timeout_ms = p->timeout_ms;
	o->port = p->port;
	o->resolver = p->resolver;
	o->family = p->family;
	o->allow_private = p->allow_private;
	o->helo_name = p->helo;
	o->domain = p->domain;
	return -1;
}

/* The check subcommand. */
int cli_cmd_check(int argc, char **argv)
{
	struct check_opts o;
	struct cli_probe p;
	char err[256];

	memset(&o, 0, sizeof(o));
	int rc = check_options(&o, &p, argc, argv);
	if (rc >= 0)
		return rc;
	struct check_result *res = NULL;
	if (check_run(&o, &res, err, sizeof(err)) < 0) {
		check_result_free(res);
		return cli_probe_bad(&p, "%s", err);
	}
	struct bmx_buf b;
	bmx_buf_init(&b);
	if (p.out == CLI_OUT_JSON)
		check_report_json(&b, res);
	else if (p.out == CLI_OUT_NAGIOS)
		check_report_nagios(&b, res);
	else
		check_report_text(&b, res, check_color());
	enum check_state st = cli_probe_print(&p, &b, check_verdict(res));
	check_result_free(res);
	return (int)st;
}
