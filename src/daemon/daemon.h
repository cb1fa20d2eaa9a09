/*
 * daemon.h - pieces of the backupmxd program (not part of the library):
 * privilege handling, the control socket and the status web server.
 */
#ifndef BMX_DAEMON_H
#define BMX_DAEMON_H

#include <stddef.h>
#include <stdio.h>

#include "common/config.h"
#include "io/io.h"
#include "relay/relay.h"

/* privs.c */
int daemon_check_root(const struct config *cfg, char *err, size_t errlen);
int daemon_prepare_spool(const struct config *cfg, char *err, size_t errlen);
int daemon_drop_privs(const struct config *cfg, char *err, size_t errlen);

/* Writes the daemon's own metrics (SMTP server counters). */
typedef void (*daemon_stats_fn)(FILE *out, void *arg);

/* control.c */
struct control;
struct control *control_new(struct io_loop *loop, const char *path, struct relay *relay,
			    daemon_stats_fn stats, void *stats_arg);
void control_free(struct control *ctl);

#endif
