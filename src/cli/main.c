/*
 * main.c - the backupmx command line: subcommand dispatch, nothing else.
 *
 *   backupmx SUBCOMMAND [options] [arguments]
 *
 * Each subcommand lives in its own src/cli/cmd_NAME.c and defines
 * "int cli_cmd_NAME(int argc, char **argv)", called with argv[0] set to the
 * subcommand's name (so getopt starts at argv[1]) and returning the process
 * exit code.  To add one, write the file and add ONE line to CLI_COMMANDS
 * below: the line declares the function and puts it in the table.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"

/* The dispatch table: X(name, one-line help). */
#define CLI_COMMANDS(X) \
	X(check, "check DOMAIN: MX set, DNS, SMTP, TLS, relay and backup parity") \
	X(queue, "queue [show ID | delete ID]: the messages backupmxd holds") \
	X(flush, "flush [DOMAIN]: deliver now") \
	X(hold, "hold DOMAIN: pause delivery to a domain (survives restarts)") \
	X(release, "release DOMAIN: resume delivery to a domain") \
	X(status, "status: destinations, up/down, queue per domain") \
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
	fprintf(f, "usage: backupmx SUBCOMMAND [options] [arguments]\n\nsubcommands:\n");
	for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cli_cmds[i].name, cli_cmds[i].help);
	fprintf(f, "\n\"backupmx SUBCOMMAND --help\" describes each one.\n");
}

/* Find the subcommand and run it. */
int main(int argc, char **argv)
{
	log_init("backupmx", 0, LOG_LVL_WARN);
	if (argc < 2) {
		cli_usage(stderr);
		return CLI_USAGE_EXIT;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		cli_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		if (strcmp(argv[1], cli_cmds[i].name) == 0)
			return cli_cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "backupmx: unknown subcommand \"%s\"\n\n", argv[1]);
	cli_usage(stderr);
	return CLI_USAGE_EXIT;
}
