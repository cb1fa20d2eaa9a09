/*
 * version.h - the one place that says which version of backupmx this is.
 * `backupmx --version`, `backupmxd -V` and the Debian package read it.
 */
#ifndef BMX_VERSION_H
#define BMX_VERSION_H

#define BMX_VERSION "0.9.0"

#endif
