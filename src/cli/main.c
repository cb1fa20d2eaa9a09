/*
 * main.c - the backupmx command line: subcommand dispatch, nothing else.
 *
 *   backupmx [-c FILE | --control PATH] SUBCOMMAND [options] [arguments]
 *   backupmx --version | --help
 *
 * Each subcommand lives in its own src/cli/cmd_NAME.c and defines
 * "int cli_cmd_NAME(int argc, char **argv)", called with argv[0] set to the
 * subcommand's name (so getopt starts at argv[1]) and returning the process
 * exit code.  To add one, write the file and add ONE line to CLI_COMMANDS
 * below: the line declares the function and puts it in the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "common/version.h"

/* The dispatch table: X(name, one-line help). */
#define CLI_COMMANDS(X) \
	X(check, "check DOMAIN: MX set, DNS, SMTP, TLS, relay and backup parity") \
	X(queue, "queue [show ID | delete ID]: the messages backupmxd holds") \
	X(flush, "flush [DOMAIN]: deliver now") \
	X(hold, "hold DOMAIN: pause delivery to a domain (survives restarts)") \
	X(release, "release DOMAIN: resume delivery to a domain") \
	X(status, "status: destinations, up/down, queue per domain") \
	X(reload, "reload: re-read the configuration and its tables in backupmxd") \
	X(drill, "drill DOMAIN: send a tagged test message through every backup MX") \
	/* end of the table */

#define CLI_USAGE_EXIT 3   /* bad arguments: UNKNOWN in the monitoring convention */

#define X(name, help) int cli_cmd_##name(int argc, char **argv);
CLI_COMMANDS(X)
#undef X

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static const struct cli_cmd cli_cmds[] = {
#define X(name, help) { #name, cli_cmd_##name, help },
	CLI_COMMANDS(X)
#undef X
};

/* Print the list of subcommands. */
static void cli_usage(FILE *f)
{
	fprintf(f, "usage: backupmx [-c FILE | --control PATH] SUBCOMMAND [options] [arguments]\n"
		   "       backupmx --version | --help\n\nsubcommands:\n");
	for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cli_cmds[i].name, cli_cmds[i].help);
	fprintf(f, "\noptions before the subcommand apply to it:\n"
		   "  -c, --config FILE   backupmxd's configuration, which names the control socket\n"
		   "                      (default " CONFIG_DEFAULT_PATH ")\n"
		   "  --control PATH      the control socket itself\n"
		   "\n\"backupmx SUBCOMMAND --help\" describes each one.\n");
}

/* The length of the global options at argv[1..]: -c FILE, --config[=]FILE,
 * --control[=]PATH; -1 when one lacks its value. */
static int cli_global_opts(int argc, char **argv)
{
	int i = 1;
	while (i < argc) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 ||
		    strcmp(a, "--control") == 0) {
			if (i + 1 >= argc)
				return -1;
			i += 2;
		} else if (strncmp(a, "--config=", 9) == 0 || strncmp(a, "--control=", 10) == 0 ||
			   (strncmp(a, "-c", 2) == 0 && a[2])) {
			i++;
		} else {
			break;
		}
	}
	return i - 1;
}

/* Find the subcommand and run it; options before it are passed on after its name. */
int main(int argc, char **argv)
{
	log_init("backupmx", 0, LOG_LVL_WARN);
	int ng = cli_global_opts(argc, argv);
	if (ng < 0) {
		fprintf(stderr, "backupmx: %s needs a value\n\n", argv[argc - 1]);
		cli_usage(stderr);
		return CLI_USAGE_EXIT;
	}
	if (argc < 2 + ng) {
		cli_usage(stderr);
		return CLI_USAGE_EXIT;
	}
	const char *sub = argv[1 + ng];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
		cli_usage(stdout);
		return 0;
	}
	if (strcmp(sub, "--version") == 0 || strcmp(sub, "-V") == 0 ||
	    strcmp(sub, "version") == 0) {
		printf("backupmx %s\n", BMX_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++) {
		if (strcmp(sub, cli_cmds[i].name) != 0)
			continue;
		/* argv becomes: SUBCOMMAND, the global options, the subcommand's own words */
		char **v = malloc(sizeof(*v) * (size_t)(argc + 1));
		if (!v) {
			fprintf(stderr, "backupmx: out of memory\n");
			return CLI_USAGE_EXIT;
		}
		v[0] = argv[1 + ng];
		for (int k = 0; k < ng; k++)
			v[1 + k] = argv[1 + k];
		for (int k = 2 + ng; k < argc; k++)
			v[k - 1] = argv[k];
		v[argc - 1] = NULL;
		int rc = cli_cmds[i].run(argc - 1, v);
		free(v);
		return rc;
	}
	fprintf(stderr, "backupmx: unknown subcommand \"%s\"\n\n", sub);
	cli_usage(stderr);
	return CLI_USAGE_EXIT;
}
