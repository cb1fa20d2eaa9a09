/*
 * cli.h - helpers shared by the backupmx subcommands.
 */
#ifndef BMX_CLI_H
#define BMX_CLI_H

/* Send one control request to backupmxd (control path, or the config's
 * control_socket); the answer goes to *out (malloc'd, NUL-terminated, caller
 * frees; NULL when there is none).  Returns 0, 1 (an error answer) or 3. */
int cli_ctl_query(const char *config, const char *control, const char *request, char **out);

#include <stdarg.h>

/* Print a usage or set-up error of subcommand cmd (also as a Nagios UNKNOWN
 * line when nagios is set); returns 3, the UNKNOWN exit code. */
int cli_vbad(const char *cmd, int nagios, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif
