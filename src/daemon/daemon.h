/*
 * daemon.h - pieces of the backupmxd program (not part of the library):
 * privilege handling, the control socket, the status web server, alerts and
 * the systemd readiness messages.
 */
#ifndef BMX_DAEMON_H
#define BMX_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "dns/dns.h"
#include "io/io.h"
#include "relay/relay.h"
#include "smtp/server.h"

/* reload.c: one loaded configuration and what sessions use that is built
 * from it (sc: the recipient table, STARTTLS, DNSBL sites, milters), counted:
 * the daemon holds the current one, every SMTP session the one it started
 * under. */
#define DAEMON_CONF_TABLES 5   /* hashed tables: relay_domains, etrn_networks,
				  route_maps, tls_policy_maps, recipients */
struct daemon_conf {
	struct config cfg;
	struct smtp_server_conf sc;          /* sc.cfg = &cfg, sc.ref = the conf */
	unsigned refs;
	uint64_t hash[DAEMON_CONF_TABLES];   /* the contents of the table files */
};
/* Read path and its tables and check them: a conf with one reference, or
 * NULL with err "file:line: message". */
struct daemon_conf *daemon_conf_load(const char *path, char *err, size_t errlen);
/* Build the recipient table, STARTTLS and the filters; 0 or -1 (err set). */
int daemon_conf_build(struct daemon_conf *c, struct io_loop *loop, struct dns_ctx *dns,
		      char *err, size_t errlen);
/* Build only the DNSBL sites and the milter set (at start). */
void daemon_conf_filters(struct daemon_conf *c, struct io_loop *loop, struct dns_ctx *dns);
void daemon_conf_hold(struct daemon_conf *c);
/* The last reference frees the conf and all it built; NULL is a no-op. */
void daemon_conf_drop(struct daemon_conf *c);
/* Which keys differ between old and neu: those a reload applies into changed,
 * those that need a restart into restart (each "" when none); 0 or -1. */
int daemon_conf_diff(const struct daemon_conf *old, const struct daemon_conf *neu, char *changed,
		     size_t clen, char *restart, size_t rlen);

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

/* Reloads the configuration (reload.c): 0 with a one-line summary in msg,
 * or -1 with the error ("file:line: message") in msg. */
typedef int (*daemon_reload_fn)(char *msg, size_t len, void *arg);

/* control.c; stats and reload get arg. */
struct control;
struct control *control_new(struct io_loop *loop, const char *path, const struct config *cfg,
			    struct relay *relay, daemon_stats_fn stats, daemon_reload_fn reload,
			    void *arg);
/* Use cfg from now on (a reload); it must live until the next call. */
void control_set_config(struct control *ctl, const struct config *cfg);
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

/* notify.c: systemd's sd_notify messages (Type=notify, WatchdogSec=); all
 * do nothing without NOTIFY_SOCKET.  relay gives the STATUS= numbers. */
struct notify;
struct notify *notify_new(struct io_loop *loop, struct relay *relay);
/* While the spool is recovered: STATUS= and EXTEND_TIMEOUT_USEC= (throttled). */
void notify_recovering(struct notify *n, long read_so_far);
/* Listeners bound, privileges dropped, spool recovered: READY=1 (once). */
void notify_ready(struct notify *n);
/* RELOADING=1 + MONOTONIC_USEC= before a reload, READY=1 after it. */
void notify_reload_begin(struct notify *n);
void notify_reload_end(struct notify *n);
/* STOPPING=1 (once). */
void notify_stopping(struct notify *n);
void notify_free(struct notify *n);

#endif
