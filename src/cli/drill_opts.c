/*
 * drill_opts.c - "backupmx drill": usage text and options.
 *
 * The options shared with "check" (--resolver, --port, --timeout, -4/-6,
 * --allow-private, --helo, --json/--nagios, -v, DOMAIN) go through
 * cli_probe.c; the drill's own are parsed here: --from/--to (at most
 * DRILL_ADDR_MAX, checked with the SMTP address parser), --control, -c,
 * --status-url (io_url_parse, plus: a port, no path; at most DRILL_URL_MAX),
 * --hold, --within (0 < S <= DRILL_WITHIN_MAX_S), --tag (1-DRILL_TAG_USER_MAX
 * of A-Z a-z 0-9 . - _), --via-mx and --count (1-DRILL_COUNT_MAX).  Then the
 * combinations are checked and the defaults filled in (From, To, tag).
 * Every usage error is reported through cli_probe_bad() and exits 3.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_probe.h"
#include "cli/drill.h"
#include "dns/dns.h"
#include "io/io.h"
#include "smtp/smtp.h"

/* Print the usage text. */
static void drill_usage(FILE *f)
{
	fputs("usage: backupmx drill [options] DOMAIN\n"
	      "\n"
	      "Send a uniquely tagged test message to every backup MX of DOMAIN directly,\n"
	      "as a sender would while the primary is down, and (with --control, -c or\n"
	      "--status-url) follow it inside backupmxd until the primary has it.\n"
	      "\n"
	      "options:\n"
	      "  --from ADDR      envelope and From: (default drill@<this host>)\n"
	      "  --to ADDR        recipient (default postmaster@DOMAIN)\n"
	      "  --control PATH   control socket of the backup's backupmxd: follow the message\n"
	      "  -c FILE          backupmxd config file (its control_socket)\n"
	      "  --status-url URL http://IP:PORT of the backup's status_listen: follow the\n"
	      "                   message through /history.json (no --hold)\n"
	      "  --hold           hold DOMAIN at the backup, send, check it is queued, release\n"
	      "  --within S       the primary must have the message within S seconds (60)\n"
	      "  --tag TAG        tag prefix (default bmxdrill-TIME-RANDOM)\n"
	      "  --via-mx         send like a sender: MX order, fall back on failure\n"
	      "  --count N        messages to send with --via-mx (1)\n"
	      "  --json           print a JSON document\n"
	      "  --nagios         print one plugin line: STATUS: summary | perfdata\n"
	      "  --timeout S      per-step SMTP and DNS timeout in seconds (10)\n"
	      "  --port N         SMTP port (default 25)\n"
	      "  --resolver R     ADDR[@PORT] (forward to it), recursive, or system\n"
	      "  -4, -6           IPv4 or IPv6 addresses only\n"
	      "  --allow-private  private/loopback addresses are fine, not a warning\n"
	      "  --helo NAME      EHLO name (default: this host's name)\n"
	      "  -v, --verbose    debug logging to stderr\n"
	      "  -h, --help       this text\n"
	      "\n"
	      "exit codes: 0 OK, 1 WARNING, 2 CRITICAL (refused or not delivered), 3 UNKNOWN\n", f);
}

/* Whether a is a usable envelope address (the SMTP parser, not <>). */
static int drill_addr_ok(const char *a)
{
	char buf[DRILL_ADDR_MAX + 3];
	struct smtp_addr sa;
	struct smtp_err e;

	if (strlen(a) > DRILL_ADDR_MAX)
		return 0;
	int n = snprintf(buf, sizeof(buf), "<%s>", a);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return 0;
	return smtp_addr_parse(buf, (size_t)n, 0, &sa, &e) == 0 && !sa.null_path;
}

/* Whether t is a valid --tag: 1-DRILL_TAG_USER_MAX of letters, digits, '.', '-', '_'. */
static int drill_tag_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > DRILL_TAG_USER_MAX)
		return 0;
	for (; *t; t++)
		if (!((*t >= '0' && *t <= '9') || (*t >= 'a' && *t <= 'z') ||
		      (*t >= 'A' && *t <= 'Z') || *t == '.' || *t == '-' || *t == '_'))
			return 0;
	return 1;
}

/* Make the default tag: bmxdrill-YYYYmmddHHMMSS-8 hex digits. */
static void drill_make_tag(char *out, size_t len)
{
	unsigned char rnd[4] = {0};
	char when[32];
	time_t now = time(NULL);
	struct tm tm;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		unsigned v = (unsigned)getpid() ^ (unsigned)now;
		memcpy(rnd, &v, sizeof(rnd));
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%d%H%M%S", &tm);
	snprintf(out, len, "bmxdrill-%s-%02x%02x%02x%02x", when, rnd[0], rnd[1], rnd[2], rnd[3]);
}

/* Parse --status-url "http://IP:PORT[/]" into d (io_url_parse, plus: a port,
 * no path); 0 or -1 (why). */
static int drill_url_parse(struct drill *d, const char *url, char *why, size_t len)
{
	struct io_url u;

	if (strlen(url) > DRILL_URL_MAX) {
		snprintf(why, len, "longer than %d characters", DRILL_URL_MAX);
		return -1;
	}
	if (io_url_parse(url, &u, why, len) < 0)
		return -1;
	if (!u.has_port || strcmp(u.path, "/") != 0) {
		snprintf(why, len, "expected http://IP:PORT[/] (a port, no path or query)");
		return -1;
	}
	d->http_url = u;
	return 0;
}

/* Take one of the drill's own options (errors reported). */
static enum cli_opt drill_option(struct drill *d, int c, const char *arg)
{
	char err[256];
	char *end = NULL;
	long n;

	switch (c) {
	case 'F':
	case 'T':
		if (!drill_addr_ok(arg)) {
			cli_probe_bad(&d->p, "bad --%s \"%.100s\"", c == 'F' ? "from" : "to", arg);
			return CLI_OPT_ERROR;
		}
		snprintf(c == 'F' ? d->from_buf : d->to_buf, DRILL_ADDR_MAX + 1, "%s", arg);
		return CLI_OPT_HANDLED;
	case 'C': d->control = arg; return CLI_OPT_HANDLED;
	case 'c': d->config = arg; return CLI_OPT_HANDLED;
	case 'U':
		if (drill_url_parse(d, arg, err, sizeof(err)) < 0) {
			cli_probe_bad(&d->p, "bad --status-url \"%.100s\": %s", arg, err);
			return CLI_OPT_ERROR;
		}
		d->status_url = arg;
		return CLI_OPT_HANDLED;
	case 'o': d->hold = 1; return CLI_OPT_HANDLED;
	case 'w':
		if (cli_secs_parse(arg, DRILL_WITHIN_MAX_S, &d->within_s) < 0) {
			cli_probe_bad(&d->p, "bad --within \"%.40s\" (0 < S <= 86400)", arg);
			return CLI_OPT_ERROR;
		}
		return CLI_OPT_HANDLED;
	case 'g':
		if (!drill_tag_ok(arg)) {
			cli_probe_bad(&d->p, "bad --tag (1-%d of A-Z a-z 0-9 . - _)",
				      DRILL_TAG_USER_MAX);
			return CLI_OPT_ERROR;
		}
		snprintf(d->tag, sizeof(d->tag), "%s", arg);
		return CLI_OPT_HANDLED;
	case 'x': d->via_mx = 1; return CLI_OPT_HANDLED;
	case 'N':
		n = strtol(arg, &end, 10);
		if (!end || *end || n < 1 || n > DRILL_COUNT_MAX) {
			cli_probe_bad(&d->p, "bad --count \"%.40s\" (1-%d)", arg, DRILL_COUNT_MAX);
			return CLI_OPT_ERROR;
		}
		d->count = (int)n;
		return CLI_OPT_HANDLED;
	default:
		return CLI_OPT_NOT_MINE;
	}
}

/* Check the combinations of options; 0, or -1 (reported). */
static int drill_combos_check(struct drill *d)
{
	const char *why = NULL;

	if (d->count > 1 && !d->via_mx)
		why = "--count needs --via-mx";
	else if (d->hold && !d->control && !d->config && d->status_url)
		why = "--hold needs the control socket (--control PATH or -c FILE): hold and "
		      "release are not on the status page of --status-url";
	else if (d->hold && !d->control && !d->config)
		why = "--hold needs --control PATH or -c FILE";
	else if (d->via_mx && (d->hold || d->control || d->config || d->status_url))
		why = "--via-mx does not follow messages (no --hold, --control, -c, --status-url)";
	if (why) {
		cli_probe_bad(&d->p, "%s", why);
		return -1;
	}
	return 0;
}

/* Fill in the default From, To and tag; 0, or -1 (reported). */
static int drill_defaults(struct drill *d)
{
	if (!d->from_buf[0]) {
		char host[DNS_NAME_MAX] = "";
		if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
			snprintf(host, sizeof(host), "localhost");
		snprintf(d->from_buf, sizeof(d->from_buf), "drill@%s", host);
		if (!drill_addr_ok(d->from_buf))
			snprintf(d->from_buf, sizeof(d->from_buf), "drill@localhost");
	}
	if (!d->to_buf[0]) {
		snprintf(d->to_buf, sizeof(d->to_buf), "postmaster@%s", d->domain);
		if (!drill_addr_ok(d->to_buf)) {
			cli_probe_bad(&d->p, "%s", "cannot make postmaster@DOMAIN; use --to");
			return -1;
		}
	}
	d->from = d->from_buf;
	d->to = d->to_buf;
	if (!d->tag[0])
		drill_make_tag(d->tag, sizeof(d->tag));
	return 0;
}

/* Parse the options into d; returns -1 to go on, or an exit code. */
int drill_options(struct drill *d, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "control", required_argument, NULL, 'C' },
		{ "config", required_argument, NULL, 'c' },
		{ "status-url", required_argument, NULL, 'U' },
		{ "hold", no_argument, NULL, 'o' },
		{ "within", required_argument, NULL, 'w' },
		{ "tag", required_argument, NULL, 'g' },
		{ "via-mx", no_argument, NULL, 'x' },
		{ "count", required_argument, NULL, 'N' },
		CLI_PROBE_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	cli_probe_init(&d->p, "drill", drill_usage, argc, argv);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, CLI_PROBE_SHORTOPTS "c:h", longopts, NULL)) != -1) {
		enum cli_opt r = cli_probe_option(&d->p, c, optarg);
		if (r == CLI_OPT_NOT_MINE)
			r = drill_option(d, c, optarg);
		if (r == CLI_OPT_ERROR)
			return CHECK_UNKNOWN;
		if (r == CLI_OPT_HANDLED)
			continue;
		if (c == 'h') {
			drill_usage(stdout);
			return 0;
		}
		return cli_probe_unknown(&d->p, argv);
	}
	if (cli_probe_finish(&d->p, argc, argv) < 0)
		return CHECK_UNKNOWN;
	d->domain = d->p.domain;
	if (drill_combos_check(d) < 0 || drill_defaults(d) < 0)
		return CHECK_UNKNOWN;
	return -1;
}
