/*
 * main.c - backupmxd, the backup MX daemon.
 *
 *   backupmxd [-c FILE]      run in the foreground, logging to stderr or syslog
 *   backupmxd -n [-c FILE]   check the configuration (daemon_preflight), print the
 *                            effective settings
 *   backupmxd -V | -h        version, help
 *
 * Start-up order: read and check the config; refuse root without `user`;
 * load TLS keys, create the spool directory, bind the listeners (all as
 * root); drop privileges; open the spool and start its recovery; start the
 * resolver and the SMTP server; run the single event loop.  Recovery reads
 * one batch (DAEMON_RECOVER_FILES queue files or DAEMON_RECOVER_MS, whichever
 * comes first) before the loop runs and then one batch per loop turn, so
 * SMTP is answered at once however long the queue, and each recovered
 * message goes to the delivery engine as it is read; "spool: recovery done"
 * is logged at the end (backupmx_spool_recovering is 1 until then).  With
 * status_listen the status web server is bound with the listeners; with alert_webhook
 * destination changes and the queue age are POSTed (alert.c).  SIGTERM/SIGINT stop
 * gracefully; SIGHUP reopens the log and reloads the configuration, as
 * `backupmx reload` does (daemon_reload; the counted configuration is in
 * reload.c): all or nothing, sessions in flight keep the one they started
 * under.  Under systemd (NOTIFY_SOCKET, notify.c) READY=1 is sent when the
 * spool is recovered (the listeners are bound and privileges dropped long
 * before), after STATUS= progress lines that extend the start timeout;
 * RELOADING=1 and READY=1 frame every reload, STOPPING=1 the shutdown.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/rcptmap.h"
#include "common/version.h"
#include "daemon/daemon.h"
#include "dns/dns.h"
#include "io/io.h"
#include "filter/dnsbl.h"
#include "filter/authres.h"
#include "filter/milter.h"
#include "relay/relay.h"
#include "smtp/server.h"
#include "spool/spool.h"

#define DAEMON_LISTEN_MAX CONFIG_LIST_MAX
#define DAEMON_RECOVER_FILES 1000   /* queue files read per loop turn at most */
#define DAEMON_RECOVER_MS    5      /* ... and milliseconds spent per turn */
#define DAEMON_RECOVER_LOG_S 5      /* a progress line this often */

struct daemon {
	const char *path;                 /* the config file, read again by a reload */
	struct daemon_conf *conf;         /* the current configuration (one reference) */
	struct io_loop *loop;
	struct spool *spool;
	struct dns_ctx *dns;
	struct smtp_server *srv;
	struct relay *relay;
	struct authres_psl *psl;          /* public suffixes (bounce_policy), once milters are on */
	struct io_tls *client_tls;
	struct control *control;
	struct status_http *status;
	struct alert *alert;
	struct notify *notify;            /* systemd readiness (a no-op without NOTIFY_SOCKET) */
	struct spool_recovery *recovery;  /* while the spool is being recovered, else NULL */
	struct io_timer *recover_timer;
	struct timespec recover_t0, recover_log;
	long recovered;                   /* messages recovered (final once recovery is NULL) */
	size_t nreasons;
	struct { const char *reason; unsigned long long n; } rejects[32];
	size_t nlisten;
	struct io_listener *listen[DAEMON_LISTEN_MAX];
	int stopping;
	int started;                      /* daemon_start is complete: READY=1 may go */
};

/* Print usage and exit. */
static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: backupmxd [-n] [-c FILE]\n"
		"       backupmxd -V | -h\n"
		"  -c, --config FILE  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
		"  -n, --check        check the configuration and everything it names (user,\n"
		"                     files, URLs, listen addresses), print the effective\n"
		"                     settings, exit\n"
		"  -V, --version      print the version\n"
		"  -h, --help         this help\n");
	exit(code);
}

/* A listener accepted a connection. */
static void daemon_accept(int fd, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct daemon *d = arg;
	smtp_server_accept(d->srv, fd, sa, salen);
}

/* Graceful shutdown finished. */
static void daemon_stopped(void *arg)
{
	struct daemon *d = arg;
	log_info("stopped");
	io_loop_break(d->loop);
}

/* SIGTERM / SIGINT: stop accepting, let sessions finish. */
static void daemon_sig_stop(int signum, void *arg)
{
	struct daemon *d = arg;
	if (d->stopping++) {
		log_info("second signal: stopping now");
		io_loop_break(d->loop);
		return;
	}
	log_info("signal %d: shutting down", signum);
	notify_stopping(d->notify);
	for (size_t i = 0; i < d->nlisten; i++)
		io_listener_pause(d->listen[i]);
	smtp_server_shutdown(d->srv, daemon_stopped, d);
}

static int daemon_reload(struct daemon *d, char *msg, size_t len);

/* SIGHUP: reopen the log and reload the configuration. */
static void daemon_sig_hup(int signum, void *arg)
{
	struct daemon *d = arg;
	char msg[1024];
	(void)signum;
	log_reopen();
	log_info("SIGHUP: reloading %s", d->path);
	daemon_reload(d, msg, sizeof(msg));
}

/* Recovery callback: a message found in the spool at start-up. */
static void daemon_recovered(const struct spool_env *env, void *arg)
{
	struct daemon *d = arg;
	relay_add(d->relay, env);
}

/* Seconds from a to b. */
static double daemon_elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* One batch of spool recovery; re-arms itself until recovery is over. */
static void daemon_recover_step(void *arg)
{
	struct daemon *d = arg;
	struct timespec now;

	int rc = spool_recovery_step(d->recovery, DAEMON_RECOVER_FILES, DAEMON_RECOVER_MS);
	d->recovered = spool_recovery_count(d->recovery);
	relay_set_recovering(d->relay, rc > 0, d->recovered);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (rc > 0) {
		if (daemon_elapsed(&d->recover_log, &now) >= DAEMON_RECOVER_LOG_S) {
			log_info("spool: recovering: %ld message(s) read so far", d->recovered);
			d->recover_log = now;
		}
		notify_recovering(d->notify, d->recovered);
		if (d->recover_timer)
			io_timer_add(d->recover_timer, 0);
		return;
	}
	log_info("spool: recovery done: %ld message(s) in %.3f s%s", d->recovered,
		 daemon_elapsed(&d->recover_t0, &now), rc < 0 ? " (incomplete, see above)" : "");
	spool_recovery_free(d->recovery);
	d->recovery = NULL;
	io_timer_free(d->recover_timer);
	d->recover_timer = NULL;
	if (d->started)
		notify_ready(d->notify);
}

/* Start recovering the spool: tmp/ and the first batch now, the rest on
 * the loop; 0 or -1. */
static int daemon_recover_start(struct daemon *d)
{
	clock_gettime(CLOCK_MONOTONIC, &d->recover_t0);
	d->recover_log = d->recover_t0;
	if (!(d->recovery = spool_recovery_new(d->spool, daemon_recovered, d))) {
		log_err("spool: recovery failed");
		return -1;
	}
	if (!(d->recover_timer = io_timer_new(d->loop, daemon_recover_step, d)))
		return -1;
	daemon_recover_step(d);
	if (d->recovery)
		log_info("spool %s: recovering in the background (%ld message(s) so far)",
			 d->conf->cfg.spool, d->recovered);
	return 0;
}

/* SMTP server hooks: hand over to the delivery engine. */
static void daemon_hook_queued(const struct spool_env *env, void *arg)
{
	relay_hook_queued(env, ((struct daemon *)arg)->relay);
}

/* ETRN goes to the delivery engine. */
static void daemon_hook_etrn(const char *dom, const struct sockaddr *peer, char *reply,
			     size_t len, void *arg)
{
	relay_hook_etrn(dom, peer, reply, len, ((struct daemon *)arg)->relay);
}

/* Inbound connections may announce a recovered primary. */
static void daemon_hook_connected(const struct sockaddr *peer, void *arg)
{
	relay_hook_connected(peer, ((struct daemon *)arg)->relay);
}

/* Recipient verification (recipient_verify = yes). */
static enum smtp_rcpt_verdict daemon_hook_rcpt(const struct smtp_rcpt_query *q, void *arg)
{
	return relay_hook_rcpt(q, ((struct daemon *)arg)->relay);
}

/* A session with a pending verification went away. */
static void daemon_hook_rcpt_cancel(struct smtp_session *s, void *arg)
{
	relay_hook_rcpt_cancel(s, ((struct daemon *)arg)->relay);
}

/* A primary's address is never DNSBL-scored. */
static int daemon_hook_trusted(const struct sockaddr *peer, void *arg)
{
	return relay_hook_trusted(peer, ((struct daemon *)arg)->relay);
}

/* Live pass-through to a primary that is up (primary_up = proxy). */
static enum smtp_route daemon_hook_proxy_rcpt(const struct smtp_proxy_rcpt *q,
					      struct smtp_proxy_txn **txn, void *arg)
{
	return relay_hook_proxy_rcpt(q, txn, ((struct daemon *)arg)->relay);
}

/* Count an SMTP rejection by reason (metrics). */
static void daemon_reject(const char *reason, void *arg)
{
	struct daemon *d = arg;
	for (size_t i = 0; i < d->nreasons; i++) {
		if (strcmp(d->rejects[i].reason, reason) == 0) {
			d->rejects[i].n++;
			return;
		}
	}
	if (d->nreasons < sizeof(d->rejects) / sizeof(d->rejects[0])) {
		d->rejects[d->nreasons].reason = reason;
		d->rejects[d->nreasons++].n = 1;
	}
}

/* The SMTP server's counters in Prometheus text. */
static void daemon_metrics(FILE *f, void *arg)
{
	struct daemon *d = arg;
	struct smtp_server_stats st;
	smtp_server_stats(d->srv, &st);
	fprintf(f, "# HELP backupmx_spool_recovering 1 while the spool is read at start-up.\n"
		   "# TYPE backupmx_spool_recovering gauge\n"
		   "backupmx_spool_recovering %d\n"
		   "# HELP backupmx_spool_recovered_messages Messages found in the spool at start-up.\n"
		   "# TYPE backupmx_spool_recovered_messages gauge\n"
		   "backupmx_spool_recovered_messages %ld\n",
		d->recovery != NULL, d->recovered);
	fprintf(f, "# HELP backupmx_smtp_connections_total Inbound SMTP connections accepted.\n"
		   "# TYPE backupmx_smtp_connections_total counter\n"
		   "backupmx_smtp_connections_total %llu\n"
		   "# HELP backupmx_smtp_sessions Inbound SMTP sessions open now.\n"
		   "# TYPE backupmx_smtp_sessions gauge\n"
		   "backupmx_smtp_sessions %u\n"
		   "# HELP backupmx_messages_received_total Messages accepted into the queue.\n"
		   "# TYPE backupmx_messages_received_total counter\n"
		   "backupmx_messages_received_total %llu\n"
		   "# HELP backupmx_smtp_rejects_total Inbound rejections by reason.\n"
		   "# TYPE backupmx_smtp_rejects_total counter\n",
		st.connections, st.sessions, st.messages);
	for (size_t i = 0; i < d->nreasons; i++)
		fprintf(f, "backupmx_smtp_rejects_total{reason=\"%s\"} %llu\n",
			d->rejects[i].reason, d->rejects[i].n);
}

/* A destination went down or came up (relay event): alert. */
static void daemon_dest_event(const char *domain, int up, const char *error, void *arg)
{
	struct daemon *d = arg;
	alert_dest(d->alert, domain, up, error);
}

/* A session takes the configuration it runs under. */
static void daemon_hook_conf_hold(void *ref)
{
	daemon_conf_hold(ref);
}

/* A session ended: it gives its configuration back. */
static void daemon_hook_conf_drop(void *ref)
{
	daemon_conf_drop(ref);
}

/* Log the size of c's recipient table, if it has one. */
static void daemon_log_rcpts(const struct daemon_conf *c)
{
	if (c->sc.rcpts)
		log_info("recipients: %zu entries from %s", rcptmap_count(c->sc.rcpts),
			 c->cfg.recipients);
}

/* Load the public suffixes once some configuration has milters. */
static void daemon_psl_need(struct daemon *d)
{
	if (d->psl || !d->conf->sc.milters)
		return;
	d->psl = authres_psl_new(NULL);
	smtp_server_set_psl(d->srv, d->psl);
}

/* Re-read the configuration and its tables; switch to it whole, or keep the
 * old one whole.  0 with a one-line summary in msg, or -1 with the error. */
static int daemon_reload_apply(struct daemon *d, char *msg, size_t len)
{
	char err[1024] = "", changed[512], restart[256];
	struct daemon_conf *c = daemon_conf_load(d->path, err, sizeof(err));
	if (!c || daemon_conf_build(c, d->loop, d->dns, err, sizeof(err)) < 0 ||
	    daemon_conf_diff(d->conf, c, changed, sizeof(changed), restart, sizeof(restart)) < 0) {
		if (c && !err[0])
			snprintf(err, sizeof(err), "%s: out of memory", d->path);
		daemon_conf_drop(c);
		log_err("reload: %s; the running configuration stays in force", err);
		snprintf(msg, len, "%s", err);
		return -1;
	}
	struct daemon_conf *old = d->conf;
	d->conf = c;
	smtp_server_set_conf(d->srv, &c->sc);
	relay_set_config(d->relay, &c->cfg);
	control_set_config(d->control, &c->cfg);
	daemon_psl_need(d);
	daemon_conf_drop(old);   /* freed when its last session ends */
	enum log_level lvl = LOG_LVL_INFO;
	if (c->cfg.log_level)
		log_level_parse(c->cfg.log_level, &lvl);
	log_set_level(lvl);
	if (!changed[0] && !restart[0])
		snprintf(msg, len, "no change");
	else
		snprintf(msg, len, "%s%s%s%s%s", changed[0] ? "changed: " : "", changed,
			 changed[0] && restart[0] ? "; " : "", restart[0] ? "needs a restart: " : "",
			 restart);
	if (restart[0])
		log_warn("reload: %s needs a restart: the running value stays until then; "
			 "the rest is applied", restart);
	log_info("reload: %s (relay_domains: %zu)", msg, config_relay_count(&c->cfg));
	daemon_log_rcpts(c);
	return 0;
}

/* A reload framed for systemd: RELOADING=1 before, READY=1 after (also
 * after a refused one); 0 or -1 as daemon_reload_apply. */
static int daemon_reload(struct daemon *d, char *msg, size_t len)
{
	notify_reload_begin(d->notify);
	int rc = daemon_reload_apply(d, msg, len);
	notify_reload_end(d->notify);
	return rc;
}

/* `backupmx reload` over the control socket. */
static int daemon_reload_ctl(char *msg, size_t len, void *arg)
{
	return daemon_reload(arg, msg, len);
}

/* Bind every listen address. */
static int daemon_listen(struct daemon *d)
{
	for (size_t i = 0; i < d->conf->cfg.listen.n && i < DAEMON_LISTEN_MAX; i++) {
		struct io_listener *l;
		l = io_listener_new(d->loop, d->conf->cfg.listen.v[i], daemon_accept, d);
		if (!l) {
			log_err("listen %s: %s", d->conf->cfg.listen.v[i], strerror(errno));
			return -1;
		}
		d->listen[d->nlisten++] = l;
		log_info("listening on %s", d->conf->cfg.listen.v[i]);
	}
	if (d->conf->cfg.status_listen) {
		d->status = status_http_new(d->loop, d->conf->cfg.status_listen, NULL, daemon_metrics, d);
		if (!d->status) {
			log_err("status_listen %s: cannot serve", d->conf->cfg.status_listen);
			return -1;
		}
		log_info("status page on http://%s/", d->conf->cfg.status_listen);
	}
	return 0;
}

/* The part of the start that needs root: checks, spool, TLS keys, alert,
 * listeners; then privileges are dropped.  0 or -1. */
static int daemon_start_root(struct daemon *d)
{
	char err[512];
	enum log_level lvl = LOG_LVL_INFO;

	if (d->conf->cfg.log_level)
		log_level_parse(d->conf->cfg.log_level, &lvl);
	log_init("backupmxd", d->conf->cfg.syslog, lvl);
	if (daemon_preflight(&d->conf->cfg, 0, NULL, &d->conf->sc.rcpts, err, sizeof(err)) < 0 ||
	    daemon_prepare_spool(&d->conf->cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!(d->loop = io_loop_new()))
		return -1;
	if (d->conf->cfg.tls_cert &&
	    !(d->conf->sc.tls = io_tls_server_new(d->conf->cfg.tls_cert, d->conf->cfg.tls_key))) {
		log_err("tls: cannot load %s / %s", d->conf->cfg.tls_cert, d->conf->cfg.tls_key);
		return -1;
	}
	if (d->conf->cfg.alert_webhook) {
		if (!(d->alert = alert_new(d->loop, d->conf->cfg.alert_webhook, d->conf->cfg.hostname, err,
					   sizeof(err)))) {
			log_err("%s", err);
			return -1;
		}
		log_info("alerts go to %s", d->conf->cfg.alert_webhook);
	} else if (d->conf->cfg.alert_queue_age) {
		log_warn("alert_queue_age is set but alert_webhook is not: no queue-age alerts");
	}
	if (daemon_listen(d) < 0)
		return -1;
	if (daemon_drop_privs(&d->conf->cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return -1;
	}
	return 0;
}

/* The rest, as the daemon's user: spool recovery, resolver, delivery engine,
 * control socket, SMTP server, signals.  0 or -1. */
static int daemon_start_user(struct daemon *d)
{
	char err[512];

	if (!(d->spool = spool_open(d->conf->cfg.spool, err, sizeof(err)))) {
		log_err("spool: %s", err);
		return -1;
	}
	if (!(d->dns = dns_new(d->loop, d->conf->cfg.resolver, 0, err, sizeof(err)))) {
		log_err("resolver: %s", err);
		return -1;
	}
	dns_set_timeout(d->dns, 10000);
	d->client_tls = io_tls_client_new();
	struct relay_opts ro = {d->loop, &d->conf->cfg, d->spool, d->dns, d->client_tls,
				daemon_dest_event, d};
	if (!(d->relay = relay_new(&ro)))
		return -1;
	status_http_set_relay(d->status, d->relay);
	if (alert_watch_queue(d->alert, d->relay, d->conf->cfg.alert_queue_age) < 0)
		return -1;
	if (!(d->notify = notify_new(d->loop, d->relay)))
		return -1;
	if (daemon_recover_start(d) < 0)
		return -1;
	if (!(d->control = control_new(d->loop, d->conf->cfg.control_socket, &d->conf->cfg, d->relay,
				       daemon_metrics, daemon_reload_ctl, d))) {
		log_err("control socket %s: %s", d->conf->cfg.control_socket, strerror(errno));
		return -1;
	}
	struct smtp_server_hooks hooks = {
		.queued = daemon_hook_queued, .etrn = daemon_hook_etrn,
		.connected = daemon_hook_connected, .reject = daemon_reject,
		.rcpt = daemon_hook_rcpt,   /* asked only under recipient_verify = yes */
		.rcpt_cancel = daemon_hook_rcpt_cancel,
		.proxy_rcpt = daemon_hook_proxy_rcpt, .proxy_data = relay_hook_proxy_data,
		.proxy_body = relay_hook_proxy_body, .proxy_end = relay_hook_proxy_end,
		.proxy_free = relay_hook_proxy_free, .trusted = daemon_hook_trusted,
		.conf_hold = daemon_hook_conf_hold, .conf_drop = daemon_hook_conf_drop, .arg = d,
	};
	daemon_conf_filters(d->conf, d->loop, d->dns);
	if (!(d->srv = smtp_server_new(d->loop, &d->conf->sc, d->spool, d->dns, &hooks)))
		return -1;
	daemon_psl_need(d);
	daemon_log_rcpts(d->conf);   /* loaded by daemon_preflight */
	if (io_signal_add(d->loop, SIGTERM, daemon_sig_stop, d) < 0 ||
	    io_signal_add(d->loop, SIGINT, daemon_sig_stop, d) < 0 ||
	    io_signal_add(d->loop, SIGHUP, daemon_sig_hup, d) < 0)
		return -1;
	log_info("backupmxd started as %s, relay_domains: %zu", d->conf->cfg.hostname,
		 config_relay_count(&d->conf->cfg));
	d->started = 1;
	if (!d->recovery)   /* else READY=1 goes when recovery is done */
		notify_ready(d->notify);
	return 0;
}

/* Everything up to the point where the loop runs; 0 or -1. */
static int daemon_start(struct daemon *d)
{
	return daemon_start_root(d) < 0 ? -1 : daemon_start_user(d);
}

/* Free everything the daemon holds. */
static void daemon_free(struct daemon *d)
{
	smtp_server_free(d->srv);   /* every session gives its conf back */
	authres_psl_free(d->psl);
	status_http_free(d->status);
	alert_free(d->alert);
	control_free(d->control);
	notify_free(d->notify);
	io_timer_free(d->recover_timer);
	spool_recovery_free(d->recovery);   /* the rest is read at the next start */
	relay_free(d->relay);
	io_tls_free(d->client_tls);
	for (size_t i = 0; i < d->nlisten; i++)
		io_listener_free(d->listen[i]);
	dns_free(d->dns);
	spool_close(d->spool);
	io_loop_free(d->loop);
	daemon_conf_drop(d->conf);
}

/* Entry point. */
int main(int argc, char **argv)
{
	const char *path = CONFIG_DEFAULT_PATH;
	int check = 0, opt;
	char err[1024];
	static struct daemon d;

	static const struct option lo[] = {
		{"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'n'},
		{"version", no_argument, NULL, 'V'},       {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	while ((opt = getopt_long(argc, argv, "c:nVh", lo, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'n': check = 1; break;
		case 'V': printf("backupmxd %s\n", BMX_VERSION); return 0;
		case 'h': usage(0); break;
		default: usage(1);
		}
	}
	if (optind != argc)
		usage(1);
	d.path = path;
	if (!(d.conf = daemon_conf_load(path, err, sizeof(err)))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check) {
		int rc = daemon_preflight(&d.conf->cfg, 1, stdout, NULL, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "%s: %s\n", path, err);
		} else {
			printf("# checked: relay_domains: %zu domains, %zu per-domain rules\n",
			       config_relay_count(&d.conf->cfg), d.conf->cfg.ndomain_rules);
			config_dump(&d.conf->cfg, stdout);
		}
		daemon_conf_drop(d.conf);
		return rc < 0 ? 1 : 0;
	}
	int rc = 1;
	if (daemon_start(&d) == 0 && io_loop_run(d.loop) == 0)
		rc = 0;
	daemon_free(&d);
	return rc;
}
