/*
 * daemon.h - pieces of the backupmxd program (not part of the library):
 * privilege handling, the control socket, the status web server and alerts.
 */
#ifndef BMX_DAEMON_H
#define BMX_DAEMON_H

#include <stddef.h>
#include <stdio.h>

#include "common/config.h"
#include "io/io.h"
#include "relay/relay.h"

/* preflight.c: everything `backupmxd -n` and the start check (bind: test-bind
 * the listeners; notes: "# checked: ..." lines, may be NULL; the loaded
 * recipients table goes to *rcpts when rcpts is not NULL); 0 or -1. */
struct rcptmap;
int daemon_preflight(const struct config *cfg, int bind, FILE *notes, struct rcptmap **rcpts,
		     char *err, size_t errlen);

/* privs.c */
int daemon_check_root(const struct config *cfg, char *err, size_t errlen);
int daemon_prepare_spool(const struct config *cfg, char *err, size_t errlen);
int daemon_drop_privs(const struct config *cfg, char *err, size_t errlen);

/* Writes the daemon's own metrics (SMTP server counters). */
typedef void (*daemon_stats_fn)(FILE *out, void *arg);

/* control.c */
struct control;
struct control *control_new(struct io_loop *loop, const char *path, const struct config *cfg,
			    struct relay *relay, daemon_stats_fn stats, void *stats_arg);
void control_free(struct control *ctl);

/* status_http.c: the status_listen web server (/, /metrics, /status.json,
 * /history.json).  relay may be NULL until status_http_set_relay(). */
struct status_http;
struct status_http *status_http_new(struct io_loop *loop, const char *addrport,
				    struct relay *relay, daemon_stats_fn stats, void *stats_arg);
void status_http_set_relay(struct status_http *s, struct relay *relay);
void status_http_free(struct status_http *s);

/* alert.c: the alert_webhook POSTs (http://IP[:port]/path only). */
struct alert;
struct alert *alert_new(struct io_loop *loop, const char *url, const char *hostname, char *err,
			size_t errlen);
/* A destination went down (up=0) or came back up after a reported down. */
void alert_dest(struct alert *a, const char *domain, int up, const char *error);
/* Alert when the oldest queued message is older than max_age s (0 = off); 0 or -1. */
int alert_watch_queue(struct alert *a, struct relay *r, unsigned max_age);
void alert_free(struct alert *a);

#endif
