/*
 * cli_common.c - small helpers shared by the backupmx subcommands.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

/* Is r a plausible --resolver value (ADDR[@PORT], "system", "recursive")? */
int cli_resolver_ok(const char *r)
{
	if (!*r || strlen(r) > 100)
		return -1;
	for (const char *p = r; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'F') || *p == '.' || *p == ':' || *p == '@'))
			return -1;
	return 0;
}

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
