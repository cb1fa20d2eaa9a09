/*
 * log.h - one-line-per-event logging to stderr or syslog (mail facility).
 *
 * Every log line is a single line: log_msg() replaces control characters
 * (CR, LF, NUL, other C0) in the formatted text by '?', so an envelope string
 * can never forge a second log line.
 */
#ifndef BMX_LOG_H
#define BMX_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Initialise logging; ident is the program name, use_syslog selects LOG_MAIL. */
void log_init(const char *ident, int use_syslog, enum log_level level);
/* Change the level at run time. */
void log_set_level(enum log_level level);
/* Parse "error|warning|info|debug"; return 0 and set *out, or -1. */
int log_level_parse(const char *s, enum log_level *out);
/* Reopen the log destination (SIGHUP). */
void log_reopen(void);
/* Emit one sanitised line at the given level. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
