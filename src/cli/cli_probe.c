/*
 * cli_probe.c - the one parser of the options "check" and "drill" share.
 *
 * --timeout S (0 < S <= CLI_TIMEOUT_MAX_S), --port N (1-65535), --resolver R
 * (config_resolver_check: ADDR[@PORT], recursive or system), -4/-6,
 * --allow-private, --helo NAME (IDN-normalised), --json/--nagios (exclusive),
 * -v, and the DOMAIN operand.  Every error is worded here once and printed
 * through cli_vbad() in the subcommand's output format; see cli_probe.h.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "cli/cli.h"
#include "cli/cli_probe.h"
#include "common/config.h"
#include "common/log.h"

/* Set the defaults and find --nagios early. */
void cli_probe_init(struct cli_probe *p, const char *cmd, void (*usage)(FILE *f), int argc,
		    char **argv)
{
	memset(p, 0, sizeof(*p));
	p->cmd = cmd;
	p->usage = usage;
	p->timeout_ms = CHECK_TIMEOUT_DEFAULT_MS;
	p->port = 25;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--nagios") == 0)
			p->out = CLI_OUT_NAGIOS;
}

/* Report a usage or set-up error in p's output format; returns 3. */
int cli_probe_bad(const struct cli_probe *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int rc = cli_vbad(p->cmd, p->out == CLI_OUT_NAGIOS, fmt, ap);
	va_end(ap);
	return rc;
}

/* Report an unknown or incomplete option, after the usage text; returns 3. */
int cli_probe_unknown(const struct cli_probe *p, char **argv)
{
	p->usage(stderr);
	return cli_probe_bad(p, "unknown or incomplete option \"%.100s\"", argv[optind - 1]);
}

/* Write the report to stdout and free it; st, or CHECK_UNKNOWN on failure. */
enum check_state cli_probe_print(const struct cli_probe *p, struct bmx_buf *b,
				 enum check_state st)
{
	if (b->err) {
		fprintf(stderr, "backupmx %s: out of memory\n", p->cmd);
		st = CHECK_UNKNOWN;
	} else if (b->p) {
		fwrite(b->p, 1, b->len, stdout);
	}
	bmx_buf_free(b);
	return fflush(stdout) != 0 ? CHECK_UNKNOWN : st;
}

/* Parse seconds in (0, max]; 0 or -1. */
int cli_secs_parse(const char *s, double max, double *out)
{
	char *end = NULL;
	double v = strtod(s, &end);

	if (!end || end == s || *end || !(v > 0) || v > max)
		return -1;
	*out = v;
	return 0;
}

/* --timeout S into p->timeout_ms (at least 1 ms); 0 or -1 (reported). */
static int cli_probe_timeout(struct cli_probe *p, const char *arg)
{
	double v;

	if (cli_secs_parse(arg, CLI_TIMEOUT_MAX_S, &v) < 0) {
		cli_probe_bad(p, "bad --timeout \"%.40s\" (seconds, 0 < S <= %g)", arg,
			      CLI_TIMEOUT_MAX_S);
		return -1;
	}
	p->timeout_ms = (uint64_t)(v * 1000.0 + 0.5);
	if (p->timeout_ms == 0)
		p->timeout_ms = 1;
	return 0;
}

/* --port N into p->port; 0 or -1 (reported). */
static int cli_probe_port(struct cli_probe *p, const char *arg)
{
	char *end = NULL;
	long v = strtol(arg, &end, 10);

	if (!end || end == arg || *end || v < 1 || v > 65535) {
		cli_probe_bad(p, "bad --port \"%.40s\" (1-65535)", arg);
		return -1;
	}
	p->port = (int)v;
	return 0;
}

/* --resolver R (config_resolver_check; "system" is NULL); 0 or -1 (reported). */
static int cli_probe_resolver(struct cli_probe *p, const char *arg)
{
	char err[256];

	if (config_resolver_check(arg, err, sizeof(err)) < 0) {
		cli_probe_bad(p, "bad --resolver: %s", err);
		return -1;
	}
	p->resolver = strcmp(arg, "system") == 0 ? NULL : arg;
	return 0;
}

/* --helo NAME, normalised into p->helo_buf; 0 or -1 (reported). */
static int cli_probe_helo(struct cli_probe *p, const char *arg)
{
	char err[256];

	if (dns_name_normalize(arg, p->helo_buf, sizeof(p->helo_buf), err, sizeof(err)) < 0) {
		cli_probe_bad(p, "--helo: %s", err);
		return -1;
	}
	p->helo = p->helo_buf;
	return 0;
}

/* Take one getopt result if it is a shared option. */
enum cli_opt cli_probe_option(struct cli_probe *p, int c, const char *arg)
{
	int rc = 0;

	switch (c) {
	case CLI_PROBE_OPT_JSON: p->json = 1; break;
	case CLI_PROBE_OPT_NAGIOS: p->nagios = 1; break;
	case CLI_PROBE_OPT_TIMEOUT: rc = cli_probe_timeout(p, arg); break;
	case CLI_PROBE_OPT_PORT: rc = cli_probe_port(p, arg); break;
	case CLI_PROBE_OPT_RESOLVER: rc = cli_probe_resolver(p, arg); break;
	case CLI_PROBE_OPT_ALLOW_PRIVATE: p->allow_private = 1; break;
	case CLI_PROBE_OPT_HELO: rc = cli_probe_helo(p, arg); break;
	case '4': p->family = 4; break;
	case '6': p->family = 6; break;
	case 'v': log_set_level(LOG_LVL_DEBUG); break;
	default: return CLI_OPT_NOT_MINE;
	}
	return rc < 0 ? CLI_OPT_ERROR : CLI_OPT_HANDLED;
}

/* Settle the output format and normalise the DOMAIN operand; 0 or -1. */
int cli_probe_finish(struct cli_probe *p, int argc, char **argv)
{
	char err[256];

	if (p->json && p->nagios) {
		cli_probe_bad(p, "%s", "--json and --nagios exclude each other");
		return -1;
	}
	p->out = p->json ? CLI_OUT_JSON : p->nagios ? CLI_OUT_NAGIOS : CLI_OUT_TEXT;
	if (optind != argc - 1) {
		p->usage(stderr);
		cli_probe_bad(p, "%s", optind >= argc ? "no DOMAIN given" :
			      "exactly one DOMAIN expected");
		return -1;
	}
	if (dns_name_normalize(argv[optind], p->domain, sizeof(p->domain), err,
			       sizeof(err)) < 0) {
		cli_probe_bad(p, "bad domain \"%.200s\": %s", argv[optind], err);
		return -1;
	}
	if (p->domain[0] == '\0') {
		cli_probe_bad(p, "%s", "empty domain");
		return -1;
	}
	return 0;
}
