/*
 * notify.c - backupmxd's systemd readiness protocol (sd_notify, Type=notify).
 *
 * The only file that includes <systemd/sd-daemon.h>; every message goes
 * through libsystemd's sd_notify(), never a socket of our own.  Without
 * NOTIFY_SOCKET in the environment (not started by systemd as Type=notify)
 * notify_new() gives an object that does nothing: no timer, no message, no
 * log line.  With it, the daemon (main.c) says:
 *
 *   while the spool is recovered   STATUS=recovering the spool: N message(s)
 *                                  read so far, EXTEND_TIMEOUT_USEC= (at most
 *                                  every NOTIFY_PROGRESS_S, NOTIFY_EXTEND_S)
 *   start-up done                  READY=1 with the first STATUS=: listeners
 *                                  bound, privileges dropped, spool recovered
 *   then every NOTIFY_STATUS_MS    STATUS=queue N message(s), N destination(s)
 *                                  down, oldest AGE
 *   around a reload                RELOADING=1 + MONOTONIC_USEC= (systemd 253+
 *                                  matches the reload with it), then READY=1
 *                                  (after a refused reload too)
 *   at SIGTERM/SIGINT              STOPPING=1
 *   with WatchdogSec=              WATCHDOG=1 every half of WATCHDOG_USEC,
 *                                  from a timer on the loop: a wedged loop
 *                                  stops pinging and systemd restarts it.
 *
 * The numbers come from relay_summary(), counters of the delivery engine
 * (O(1) whatever the queue: the refresh never stalls the loop).  A
 * failed send is logged once (warning) and otherwise ignored: systemd then
 * acts on its timeouts.
 * Loop thread only; the daemon owns the object (notify_new/notify_free).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__has_include)
#if !__has_include(<systemd/sd-daemon.h>)
#error "backupmxd needs libsystemd's headers: install libsystemd-dev (scripts/deps)"
#endif
#endif
#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "daemon/daemon.h"

#define NOTIFY_MSG_MAX      512      /* one notification, all fields */
#define NOTIFY_STATUS_MS    10000    /* STATUS= refresh once ready */
#define NOTIFY_PROGRESS_S   2        /* recovery STATUS= at most this often */
#define NOTIFY_EXTEND_S     30       /* each recovery message buys this much start time */

struct notify {
	struct relay *relay;              /* not owned */
	struct io_timer *status;          /* STATUS= refresh, armed once ready */
	struct io_timer *watchdog;        /* WATCHDOG=1, NULL without WatchdogSec= */
	uint64_t watchdog_ms;             /* ping interval: half of WATCHDOG_USEC */
	int ready;                        /* READY=1 sent */
	int stopping;                     /* STOPPING=1 sent */
	int failed;                       /* a send failed (logged once) */
	int progress_sent;
	struct timespec progress;         /* when recovery progress was last sent */
};

/* Send one notification (fields separated by \n) through sd_notify. */
static void notify_send(struct notify *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void notify_send(struct notify *n, const char *fmt, ...)
{
	char msg[NOTIFY_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int rc = sd_notify(0, msg);
	if (rc < 0 && !n->failed) {
		n->failed = 1;
		log_warn("systemd notify: %s (later failures are not logged)", strerror(-rc));
	}
}

/* AGE seconds as "-" (no message), "42s", "5m", "3h" or "2d". */
static void notify_age(time_t oldest, char *buf, size_t len)
{
	if (!oldest) {
		snprintf(buf, len, "-");
		return;
	}
	long s = (long)(time(NULL) - oldest);
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, len, "%lds", s);
	else if (s < 3600)
		snprintf(buf, len, "%ldm", s / 60);
	else if (s < 86400)
		snprintf(buf, len, "%ldh", s / 3600);
	else
		snprintf(buf, len, "%ldd", s / 86400);
}

/* The one-line STATUS= text: queue size, destinations down, oldest age. */
static void notify_status_line(const struct notify *n, char *buf, size_t len)
{
	char age[32];
	struct relay_summary sum;
	relay_summary(n->relay, &sum);
	notify_age(sum.oldest, age, sizeof(age));
	snprintf(buf, len, "queue %zu message(s), %zu destination(s) down, oldest %s", sum.queued,
		 sum.down + sum.loop, age);
}

/* Send READY=1 (or a plain refresh) with the current STATUS= line. */
static void notify_send_status(struct notify *n, int ready)
{
	char line[256];
	notify_status_line(n, line, sizeof(line));
	notify_send(n, "%sSTATUS=%s", ready ? "READY=1\n" : "", line);
}

/* Timer: refresh STATUS= and re-arm. */
static void notify_status_tick(void *arg)
{
	struct notify *n = arg;
	if (n->stopping)
		return;
	notify_send_status(n, 0);
	io_timer_add(n->status, NOTIFY_STATUS_MS);
}

/* Timer: WATCHDOG=1 and re-arm; it only fires while the loop turns. */
static void notify_watchdog_tick(void *arg)
{
	struct notify *n = arg;
	notify_send(n, "WATCHDOG=1");
	io_timer_add(n->watchdog, n->watchdog_ms);
}

/* Start the watchdog pings when the service manager asks for them; 0 or -1. */
static int notify_watchdog_start(struct notify *n, struct io_loop *loop)
{
	uint64_t usec = 0;
	int rc = sd_watchdog_enabled(1, &usec);
	if (rc < 0) {
		log_warn("systemd watchdog: %s: no pings", strerror(-rc));
		return 0;
	}
	if (rc == 0 || usec == 0)
		return 0;
	n->watchdog_ms = usec / 2000 ? usec / 2000 : 1;
	if (!(n->watchdog = io_timer_new(loop, notify_watchdog_tick, n)))
		return -1;
	notify_send(n, "WATCHDOG=1");
	io_timer_add(n->watchdog, n->watchdog_ms);
	log_info("systemd watchdog: %llu ms, a ping every %llu ms",
		 (unsigned long long)(usec / 1000), (unsigned long long)n->watchdog_ms);
	return 0;
}

/* The notifier of this process: does nothing without NOTIFY_SOCKET; NULL
 * only when a timer cannot be made. */
struct notify *notify_new(struct io_loop *loop, struct relay *relay)
{
	struct notify *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->relay = relay;
	const char *sock = getenv("NOTIFY_SOCKET");
	if (!sock || !*sock)
		return n;   /* not under systemd (Type=notify): stay silent */
	if (!(n->status = io_timer_new(loop, notify_status_tick, n)) ||
	    notify_watchdog_start(n, loop) < 0) {
		notify_free(n);
		return NULL;
	}
	log_debug("systemd notify: to %s", sock);
	return n;
}

/* Is this process talking to a service manager? */
static int notify_is_on(const struct notify *n)
{
	return n && n->status;
}

/* Spool recovery progress before READY=1: STATUS= and more start time. */
void notify_recovering(struct notify *n, long read_so_far)
{
	struct timespec now;
	if (!notify_is_on(n) || n->ready)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (n->progress_sent && now.tv_sec - n->progress.tv_sec < NOTIFY_PROGRESS_S)
		return;
	n->progress_sent = 1;
	n->progress = now;
	notify_send(n, "STATUS=recovering the spool: %ld message(s) read so far\n"
		       "EXTEND_TIMEOUT_USEC=%llu",
		    read_so_far, (unsigned long long)NOTIFY_EXTEND_S * 1000000ULL);
}

/* Start-up is complete: READY=1 and STATUS=, then STATUS= on a timer. */
void notify_ready(struct notify *n)
{
	if (!notify_is_on(n) || n->ready)
		return;
	n->ready = 1;
	notify_send_status(n, 1);
	io_timer_add(n->status, NOTIFY_STATUS_MS);
}

/* A reload begins: RELOADING=1 with CLOCK_MONOTONIC in microseconds.  Only
 * once ready (a reload during start-up is not a reload for systemd). */
void notify_reload_begin(struct notify *n)
{
	struct timespec now;
	if (!notify_is_on(n) || !n->ready || n->stopping)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	notify_send(n, "RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=%llu",
		    (unsigned long long)now.tv_sec * 1000000ULL +
			    (unsigned long long)now.tv_nsec / 1000ULL);
}

/* The reload is over (applied or refused): READY=1 and STATUS= again. */
void notify_reload_end(struct notify *n)
{
	if (!notify_is_on(n) || !n->ready || n->stopping)
		return;
	notify_send_status(n, 1);
}

/* Shutdown begins: STOPPING=1; STATUS= is no longer refreshed, the
 * watchdog still pings while the sessions finish. */
void notify_stopping(struct notify *n)
{
	if (!notify_is_on(n) || n->stopping)
		return;
	n->stopping = 1;
	io_timer_del(n->status);
	notify_send(n, "STOPPING=1\nSTATUS=stopping: open sessions are finishing");
}

/* Free the notifier and its timers; NULL is a no-op. */
void notify_free(struct notify *n)
{
	if (!n)
		return;
	io_timer_free(n->status);
	io_timer_free(n->watchdog);
	free(n);
}
