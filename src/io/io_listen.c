/*
 * io_listen.c - TCP and UNIX listeners, and address parsing/formatting.
 *
 * Listeners are libevent evconnlisteners on sockets we create ourselves, so
 * that SO_REUSEADDR and IPV6_V6ONLY are set before bind().  The backlog is
 * IO_LISTEN_BACKLOG.  When accept() runs out of descriptors (EMFILE/ENFILE)
 * the listener backs off for IO_ACCEPT_BACKOFF_MS instead of spinning.
 * Addresses are numeric only: this layer never resolves names.
 */
#include "io/io_int.h"

#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/listener.h>

struct io_listener {
	struct evconnlistener *lev;
	struct event *backoff;
	io_accept_cb cb;
	void *arg;
	int paused;
	int backing_off;
	char *path;                 /* UNIX socket path to unlink on free */
};

/* Create a bound, listening, non-blocking socket for ss; -1 with errno on failure. */
int io_listen_socket(const struct sockaddr_storage *ss, socklen_t len, int backlog)
{
	int fd, on = 1, saved;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (ss->ss_family != AF_UNIX &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
		goto fail;
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)ss, len) < 0)
		goto fail;
	if (listen(fd, backlog) < 0)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* evconnlistener accept trampoline. */
static void listener_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
			       struct sockaddr *sa, int salen, void *arg)
{
	struct io_listener *l = arg;
	(void)lev;

	l->cb(fd, sa, (socklen_t)salen, l->arg);
}

/* Back-off expired: accept again unless the owner paused us. */
static void listener_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct io_listener *l = arg;
	(void)fd; (void)what;

	l->backing_off = 0;
	if (!l->paused)
		evconnlistener_enable(l->lev);
}

/* accept() failed with a non-retriable error. */
static void listener_error_cb(struct evconnlistener *lev, void *arg)
{
	struct io_listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { IO_ACCEPT_BACKOFF_MS / 1000, (IO_ACCEPT_BACKOFF_MS % 1000) * 1000 };

	log_warn("io: accept: %s; pausing for %d ms", evutil_socket_error_to_string(err),
		 IO_ACCEPT_BACKOFF_MS);
	evconnlistener_disable(lev);
	l->backing_off = 1;
	evtimer_add(l->backoff, &tv);
}

/* Wrap a listening fd in an io_listener (fd is closed on failure). */
static struct io_listener *listener_wrap(struct io_loop *loop, int fd, io_accept_cb cb, void *arg)
{
	struct io_listener *l = calloc(1, sizeof(*l));

	if (!l) {
		close(fd);
		return NULL;
	}
	l->cb = cb;
	l->arg = arg;
	l->backoff = evtimer_new(loop->base, listener_backoff_cb, l);
	l->lev = evconnlistener_new(loop->base, listener_accept_cb, l,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!l->lev || !l->backoff) {
		if (l->lev)
			evconnlistener_free(l->lev);
		else
			close(fd);
		if (l->backoff)
			event_free(l->backoff);
		free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->lev, listener_error_cb);
	return l;
}

/* Bind and listen on "addr:port", "[v6]:port" or "*:port". */
struct io_listener *io_listener_new(struct io_loop *loop, const char *addrport, io_accept_cb cb,
				    void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (io_parse_addrport(addrport, -1, &ss, &len) < 0) {
		errno = EINVAL;   /* the caller says which address failed, once */
		return NULL;
	}
	fd = io_listen_socket(&ss, len, IO_LISTEN_BACKLOG);
	if (fd < 0)
		return NULL;
	return listener_wrap(loop, fd, cb, arg);
}

/* Can a listener bind addrport now?  0 yes, 1 in use, -1 no (why set). */
int io_listen_probe(const char *addrport, char *why, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (io_parse_addrport(addrport, -1, &ss, &sl) < 0) {
		snprintf(why, len, "not an address:port");
		return -1;
	}
	int fd = io_listen_socket(&ss, sl, 1);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EADDRINUSE)
		return 1;
	snprintf(why, len, "%s", strerror(errno));
	return -1;
}

/* Listen on a UNIX socket path with the given mode. */
struct io_listener *io_listener_new_unix(struct io_loop *loop, const char *path, int mode,
					 io_accept_cb cb, void *arg)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
	struct io_listener *l;
	struct stat st;
	mode_t old_mask;
	int fd;

	if (!path || strlen(path) >= sizeof(sun->sun_path) || !*path) {
		log_err("io: bad UNIX socket path");
		return NULL;
	}
	memset(&ss, 0, sizeof(ss));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("io: %s exists and is not a socket", path);
			return NULL;
		}
		unlink(path);
	}
	old_mask = umask((mode_t)(~mode & 0777));  /* no window with looser permissions */
	fd = io_listen_socket(&ss, (socklen_t)sizeof(*sun), IO_LISTEN_BACKLOG);
	umask(old_mask);
	if (fd < 0) {
		log_err("io: cannot listen on %s: %s", path, strerror(errno));
		return NULL;
	}
	if (chmod(path, (mode_t)mode) < 0) {
		log_err("io: chmod %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return NULL;
	}
	l = listener_wrap(loop, fd, cb, arg);
	if (!l) {
		unlink(path);
		return NULL;
	}
	l->path = strdup(path);
	return l;
}

/* Stop accepting (connection limits). */
void io_listener_pause(struct io_listener *l)
{
	l->paused = 1;
	evconnlistener_disable(l->lev);
}

/* Accept again. */
void io_listener_resume(struct io_listener *l)
{
	l->paused = 0;
	if (!l->backing_off)
		evconnlistener_enable(l->lev);
}

/* Actual bound address (port 0 resolved). */
int io_listener_addr(struct io_listener *l, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof(*ss);
	return getsockname(evconnlistener_get_fd(l->lev), (struct sockaddr *)ss, len) == 0 ? 0
											: -1;
}

/* Close the listener (a UNIX socket path is unlinked). */
void io_listener_free(struct io_listener *l)
{
	if (!l)
		return;
	evconnlistener_free(l->lev);
	event_free(l->backoff);
	if (l->path) {
		unlink(l->path);
		free(l->path);
	}
	free(l);
}

/* Parse a decimal port 0..65535 (digits only); -1 if invalid. */
static int parse_port(const char *s)
{
	long v = 0;

	if (!*s || strlen(s) > 5)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v > 65535 ? -1 : (int)v;
}

/* Parse "addr:port", "[v6]:port", "*:port", "addr" or "[v6]" (default_port). */
int io_parse_addrport(const char *s, int default_port, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[IO_ADDRPORT_MAX + 1];
	const char *portstr = NULL, *colon;
	size_t n;
	int port, v6 = 0;

	if (!s || !ss || !len)
		return -1;
	n = strlen(s);
	if (n == 0 || n > IO_ADDRPORT_MAX)
		return -1;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end == s + 1)
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		if (end[1] == ':')
			portstr = end + 2;
		else if (end[1] != '\0')
			return -1;
		v6 = 1;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':')) {
			memcpy(host, s, n + 1);          /* bare IPv6, no port */
			v6 = 1;
		} else if (colon) {
			memcpy(host, s, (size_t)(colon - s));
			host[colon - s] = '\0';
			portstr = colon + 1;
		} else {
			memcpy(host, s, n + 1);
		}
	}
	if (portstr)
		port = parse_port(portstr);
	else
		port = default_port;
	if (port < 0 || port > 65535 || !*host)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		if (strcmp(host, "*") == 0)
			sin->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
	}
	return 0;
}

/* Format an address without its port into buf. */
const char *io_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	const char *r = NULL;

	if (!buf || len == 0)
		return "";
	if (sa && sa->sa_family == AF_INET)
		r = inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
			      (socklen_t)len);
	else if (sa && sa->sa_family == AF_INET6)
		r = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
			      (socklen_t)len);
	else if (sa && sa->sa_family == AF_UNIX)
		r = strncpy(buf, "unix", len);
	if (!r)
		snprintf(buf, len, "?");
	buf[len - 1] = '\0';
	return buf;
}

/* Port of an IPv4/IPv6 address, -1 otherwise. */
int io_addr_port(const struct sockaddr *sa)
{
	if (sa && sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa && sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return -1;
}
