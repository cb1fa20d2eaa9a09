/*
 * log.c - one-line-per-event logging to stderr or syslog.
 *
 * Lines go to stderr with a timestamp and the program name, or to syslog with
 * the mail facility.  Control characters are replaced so that attacker text
 * (envelope addresses, HELO names, replies) cannot inject log lines.
 */
#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "backupmx";
static int log_syslog;
static enum log_level log_level_cur = LOG_LVL_INFO;
static pid_t log_pid;   /* ours, read once: a getpid() per line showed in profiles */

/* Initialise logging. */
void log_init(const char *ident, int use_syslog, enum log_level level)
{
	log_ident = ident;
	log_syslog = use_syslog;
	log_level_cur = level;
	log_pid = getpid();
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* Change the level at run time. */
void log_set_level(enum log_level level)
{
	log_level_cur = level;
}

/* Parse a level name. */
int log_level_parse(const char *s, enum log_level *out)
{
	static const struct { const char *n; enum log_level l; } tab[] = {
		{"error", LOG_LVL_ERR}, {"err", LOG_LVL_ERR}, {"warning", LOG_LVL_WARN},
		{"warn", LOG_LVL_WARN}, {"info", LOG_LVL_INFO}, {"debug", LOG_LVL_DEBUG},
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (strcasecmp(s, tab[i].n) == 0) {
			*out = tab[i].l;
			return 0;
		}
	}
	return -1;
}

/* Reopen the log destination. */
void log_reopen(void)
{
	if (log_syslog) {
		closelog();
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	}
}

/* Format, sanitise and emit one line. */
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	static const char *name[] = {"error", "warning", "info", "debug"};
	char line[2048];

	if (level > log_level_cur)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (log_syslog) {
		syslog(prio[level], "%s", line);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char tbuf[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s[%d]: %s: %s\n", tbuf, ts.tv_nsec / 1000000L, log_ident,
		(int)(log_pid ? log_pid : getpid()), name[level], line);
}

/* Emit one line. */
void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
