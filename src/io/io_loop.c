/*
 * io_loop.c - the event loop, one-shot timers, fd watches and signals.
 *
 * A thin wrapper over a libevent event_base.  The loop also owns a "reaper"
 * event that frees connections closed from inside their own callbacks, and
 * the signal handlers registered with io_signal_add().  Creating a loop sets
 * SIGPIPE to SIG_IGN: a peer closing its socket must be an error, not death.
 */
#include "io/io_int.h"

#include "common/log.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>

struct io_timer {
	struct event *ev;
	io_timer_cb cb;
	void *arg;
};

struct io_watch {
	struct event *ev;
	io_watch_cb cb;
	void *arg;
};

struct io_sig {
	struct event *ev;
	io_signal_cb cb;
	void *arg;
	struct io_sig *next;
};

/* Reaper event: free connections closed during their callbacks. */
static void loop_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	io_loop_reap(arg);
}

/* Create a loop. */
struct io_loop *io_loop_new(void)
{
	struct io_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	signal(SIGPIPE, SIG_IGN);
	loop->base = event_base_new();
	if (!loop->base) {
		log_err("io: cannot create event base");
		free(loop);
		return NULL;
	}
	loop->reaper = evtimer_new(loop->base, loop_reap_cb, loop);
	if (!loop->reaper) {
		event_base_free(loop->base);
		free(loop);
		return NULL;
	}
	return loop;
}

/* Free the loop, its signal handlers and any connection still being reaped.
 * Every other io object on the loop must have been freed before. */
void io_loop_free(struct io_loop *loop)
{
	if (!loop)
		return;
	io_loop_reap(loop);
	io_loop_free_closing(loop);
	while (loop->sigs) {
		struct io_sig *s = loop->sigs;
		loop->sigs = s->next;
		event_free(s->ev);
		free(s);
	}
	/* One non-blocking pass lets libevent finish releasing closed
	 * bufferevents: a pending deferred callback holds a reference. */
	event_base_loop(loop->base, EVLOOP_NONBLOCK);
	event_free(loop->reaper);
	event_base_free(loop->base);
	free(loop);
}

/* Run until io_loop_break() or nothing is left to do. */
int io_loop_run(struct io_loop *loop)
{
	int r = event_base_dispatch(loop->base);

	return r < 0 ? -1 : 0;
}

/* Make io_loop_run() return after the current callback. */
void io_loop_break(struct io_loop *loop)
{
	event_base_loopbreak(loop->base);
}

/* Monotonic milliseconds. */
uint64_t io_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* libevent trampoline for timers. */
static void timer_fire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io_timer *t = arg;
	(void)fd; (void)what;

	t->cb(t->arg);
}

/* Create a disarmed one-shot timer. */
struct io_timer *io_timer_new(struct io_loop *loop, io_timer_cb cb, void *arg)
{
	struct io_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cb = cb;
	t->arg = arg;
	t->ev = evtimer_new(loop->base, timer_fire_cb, t);
	if (!t->ev) {
		free(t);
		return NULL;
	}
	return t;
}

/* (Re)arm the timer to fire once after ms milliseconds. */
void io_timer_add(struct io_timer *t, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	evtimer_add(t->ev, &tv);
}

/* Disarm the timer. */
void io_timer_del(struct io_timer *t)
{
	evtimer_del(t->ev);
}

/* 1 when the timer is armed. */
int io_timer_pending(const struct io_timer *t)
{
	return evtimer_pending(t->ev, NULL) ? 1 : 0;
}

/* Free the timer (safe from its own callback). */
void io_timer_free(struct io_timer *t)
{
	if (!t)
		return;
	event_free(t->ev);
	free(t);
}

/* libevent trampoline for fd watches. */
static void watch_fire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io_watch *w = arg;
	(void)what;

	w->cb(fd, w->arg);
}

/* Call cb whenever fd is readable, until freed. */
struct io_watch *io_watch_new(struct io_loop *loop, int fd, io_watch_cb cb, void *arg)
{
	struct io_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->cb = cb;
	w->arg = arg;
	w->ev = event_new(loop->base, fd, EV_READ | EV_PERSIST, watch_fire_cb, w);
	if (!w->ev || event_add(w->ev, NULL) < 0) {
		if (w->ev)
			event_free(w->ev);
		free(w);
		return NULL;
	}
	return w;
}

/* Stop watching (the fd is not closed). */
void io_watch_free(struct io_watch *w)
{
	if (!w)
		return;
	event_free(w->ev);
	free(w);
}

/* libevent trampoline for signals. */
static void sig_fire_cb(evutil_socket_t signum, short what, void *arg)
{
	struct io_sig *s = arg;
	(void)what;

	s->cb((int)signum, s->arg);
}

/* Handle signum on the loop; freed with the loop. */
int io_signal_add(struct io_loop *loop, int signum, io_signal_cb cb, void *arg)
{
	struct io_sig *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->cb = cb;
	s->arg = arg;
	s->ev = evsignal_new(loop->base, signum, sig_fire_cb, s);
	if (!s->ev || event_add(s->ev, NULL) < 0) {
		log_err("io: cannot handle signal %d", signum);
		if (s->ev)
			event_free(s->ev);
		free(s);
		return -1;
	}
	s->next = loop->sigs;
	loop->sigs = s;
	return 0;
}
