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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check.h"
#include "cli/cli.h"
#include "common/config.h"
#include "common/log.h"
#include "dns/dns.h"

#define CHECK_TIMEOUT_MAX_S 3600.0   /* --timeout upper bound */

enum check_out { OUT_TEXT = 0, OUT_JSON, OUT_NAGIOS };

/* Print the usage text. */
static void check_usage(FILE *f)
{
	fputs("usage: backupmx check [options] DOMAIN\n"
	      "\n"
	      "Check the MX hosts of DOMAIN the way a sending MTA sees them: the MX set,\n"
	      "addresses, TTLs, DNSSEC, reverse DNS, SMTP banner and extensions, STARTTLS\n"
	      "and certificate, postmaster, unknown-user and open-relay probes (never\n"
	      "DATA), and whether the backup MX matches the primary.\n"
	      "\n"
	      "options:\n"
	      "  --primary HOST   HOST is a primary MX (repeatable; default: best preference)\n"
	      "  --backup HOST    HOST is a backup MX (repeatable)\n"
	      "  --json           print the JSON document (docs/check-json.md)\n"
	      "  --nagios         print one plugin line: STATUS: summary | perfdata\n"
	      "  --no-smtp        DNS checks only, no SMTP probes\n"
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

static int check_bad(enum check_out out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Report a usage error and return the UNKNOWN exit code. */
static int check_bad(enum check_out out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int rc = cli_vbad("check", out == OUT_NAGIOS, fmt, ap);
	va_end(ap);
	return rc;
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

/* The check subcommand. */
int cli_cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "primary", required_argument, NULL, 'P' },
		{ "backup", required_argument, NULL, 'B' },
		{ "json", no_argument, NULL, 'j' },
		{ "nagios", no_argument, NULL, 'n' },
		{ "no-smtp", no_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, 'p' },
		{ "resolver", required_argument, NULL, 'r' },
		{ "allow-private", no_argument, NULL, 'a' },
		{ "helo", required_argument, NULL, 'H' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char prim[CHECK_ROLE_NAMES_MAX][DNS_NAME_MAX];
	static char back[CHECK_ROLE_NAMES_MAX][DNS_NAME_MAX];
	static char domain[DNS_NAME_MAX], helo[DNS_NAME_MAX];
	struct check_opts o;
	enum check_out out = OUT_TEXT;
	char err[256];
	int c, json = 0, nagios = 0;

	memset(&o, 0, sizeof(o));
	o.timeout_ms = CHECK_TIMEOUT_DEFAULT_MS;
	o.port = 25;
	/* find the output mode first so usage errors are reported in its format */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--nagios") == 0)
			out = OUT_NAGIOS;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "46hv", longopts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'P':
			if (check_role_add(o.primary, &o.nprimary, prim, optarg, err,
					   sizeof(err)) < 0)
				return check_bad(out, "--primary: %s", err);
			break;
		case 'B':
			if (check_role_add(o.backup, &o.nbackup, back, optarg, err,
					   sizeof(err)) < 0)
				return check_bad(out, "--backup: %s", err);
			break;
		case 'j': json = 1; break;
		case 'n': nagios = 1; break;
		case 'S': o.no_smtp = 1; break;
		case 't': {
			double s = strtod(optarg, &end);
			if (!end || *end || !(s > 0) || s > CHECK_TIMEOUT_MAX_S)
				return check_bad(out, "bad --timeout \"%s\" (seconds, 0 < S "
						 "<= 3600)", optarg);
			o.timeout_ms = (uint64_t)(s * 1000.0 + 0.5);
			if (o.timeout_ms == 0)
				o.timeout_ms = 1;
			break;
		}
		case 'p': {
			long p = strtol(optarg, &end, 10);
			if (!end || *end || p < 1 || p > 65535)
				return check_bad(out, "bad --port \"%s\" (1-65535)", optarg);
			o.port = (int)p;
			break;
		}
		case 'r':
			if (config_resolver_check(optarg, err, sizeof(err)) < 0)
				return check_bad(out, "bad --resolver: %s", err);
			o.resolver = optarg;
			break;
		case 'a': o.allow_private = 1; break;
		case 'H':
			if (dns_name_normalize(optarg, helo, sizeof(helo), err, sizeof(err)) < 0)
				return check_bad(out, "--helo: %s", err);
			o.helo_name = helo;
			break;
		case '4': o.family = 4; break;
		case '6': o.family = 6; break;
		case 'v': log_set_level(LOG_LVL_DEBUG); break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			check_usage(stderr);
			return check_bad(out, "unknown or incomplete option \"%s\"",
					 argv[optind - 1]);
		}
	}
	if (json && nagios)
		return check_bad(out, "%s", "--json and --nagios exclude each other");
	if (json)
		out = OUT_JSON;
	else if (nagios)
		out = OUT_NAGIOS;
	if (optind != argc - 1) {
		check_usage(stderr);
		return check_bad(out, "%s", optind >= argc ? "no DOMAIN given" :
				 "exactly one DOMAIN expected");
	}
	if (o.resolver && strcmp(o.resolver, "system") == 0)
		o.resolver = NULL;
	if (dns_name_normalize(argv[optind], domain, sizeof(domain), err, sizeof(err)) < 0) {
		char msg[600];
		snprintf(msg, sizeof(msg), "bad domain \"%.200s\": %s", argv[optind], err);
		return check_bad(out, "%s", msg);
	}
	if (domain[0] == '\0')
		return check_bad(out, "%s", "empty domain");
	o.domain = domain;

	struct check_result *res = NULL;
	if (check_run(&o, &res, err, sizeof(err)) < 0) {
		check_result_free(res);
		return check_bad(out, "%s", err);
	}
	struct check_buf b;
	check_buf_init(&b);
	if (out == OUT_JSON)
		check_report_json(&b, res);
	else if (out == OUT_NAGIOS)
		check_report_nagios(&b, res);
	else
		check_report_text(&b, res, check_color());
	enum check_state st = check_verdict(res);
	if (b.oom) {
		fprintf(stderr, "backupmx check: out of memory\n");
		st = CHECK_UNKNOWN;
	} else if (b.s) {
		fwrite(b.s, 1, b.len, stdout);
	}
	check_buf_free(&b);
	check_result_free(res);
	if (fflush(stdout) != 0)
		return CHECK_UNKNOWN;
	return (int)st;
}
