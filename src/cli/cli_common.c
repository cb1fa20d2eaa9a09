/*
 * cli_common.c - small helpers shared by the backupmx subcommands.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* Report a usage or set-up error of subcommand cmd; returns 3 (UNKNOWN). */
int cli_vbad(const char *cmd, int nagios, const char *fmt, va_list ap)
{
	char msg[768];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (nagios)
		printf("UNKNOWN: %s\n", msg);
	fprintf(stderr, "backupmx %s: %s\n", cmd, msg);
	return 3;
}
