/*
 * daemon.h - pieces of the backupmxd program (not part of the library).
 */
#ifndef BMX_DAEMON_H
#define BMX_DAEMON_H

#include <stddef.h>

#include "common/config.h"

/* privs.c */
int daemon_check_root(const struct config *cfg, char *err, size_t errlen);
int daemon_prepare_spool(const struct config *cfg, char *err, size_t errlen);
int daemon_drop_privs(const struct config *cfg, char *err, size_t errlen);

#endif
