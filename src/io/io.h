/*
 * io.h - the opaque event-loop, socket and TLS layer.
 *
 * src/io/ is the only folder that includes libevent or OpenSSL.  Everything
 * else sees these opaque handles: a loop, buffered connections (plain or TLS),
 * listeners, timers, fd watchers, signals and a tiny HTTP server.  All
 * callbacks run on the single loop thread.  Fallible functions return 0/-1
 * (or NULL).  Every object has a paired _new/_free.
 */
#ifndef BMX_IO_H
#define BMX_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct io_loop;
struct io_conn;
struct io_timer;
struct io_listener;
struct io_watch;
struct io_tls;
struct io_http;
struct io_http_req;

/* ---- loop ---- */
/* Creating a loop sets SIGPIPE to SIG_IGN (a closed peer is an error, not death). */
struct io_loop *io_loop_new(void);
/* Free every conn/timer/watch/listener/http of the loop first. */
void io_loop_free(struct io_loop *loop);
/* Run until io_loop_break() or nothing is left to do; 0 or -1. */
int io_loop_run(struct io_loop *loop);
void io_loop_break(struct io_loop *loop);
/* Monotonic milliseconds (cached per loop iteration where possible). */
uint64_t io_now_ms(void);

/* ---- timers ---- */
typedef void (*io_timer_cb)(void *arg);
struct io_timer *io_timer_new(struct io_loop *loop, io_timer_cb cb, void *arg);
/* (Re)arm the timer to fire once after ms milliseconds (0 = next iteration). */
void io_timer_add(struct io_timer *t, uint64_t ms);
void io_timer_del(struct io_timer *t);
int io_timer_pending(const struct io_timer *t);
void io_timer_free(struct io_timer *t);

/* ---- raw fd readability watch (libunbound's ub_fd) ---- */
typedef void (*io_watch_cb)(int fd, void *arg);
struct io_watch *io_watch_new(struct io_loop *loop, int fd, io_watch_cb cb, void *arg);
void io_watch_free(struct io_watch *w);

/* ---- signals ---- */
typedef void (*io_signal_cb)(int signum, void *arg);
/* Handle signum on the loop; the handle is freed with the loop. */
int io_signal_add(struct io_loop *loop, int signum, io_signal_cb cb, void *arg);

/* ---- TLS contexts ---- */
/* Server context from PEM cert chain + key; TLS >= 1.2, forward-secret AEAD only. */
struct io_tls *io_tls_server_new(const char *cert_file, const char *key_file);
/* Client context; verification is reported, never enforced here. */
struct io_tls *io_tls_client_new(void);
void io_tls_free(struct io_tls *tls);

/* Facts about an established TLS session. */
struct io_tls_info {
	int active;                 /* 1 when TLS is up */
	char version[16];           /* "TLSv1.3" */
	char cipher[64];            /* "TLS_AES_256_GCM_SHA384" */
	int bits;
	/* client side only: */
	int verified;               /* chain verifies against the system CAs */
	int name_match;             /* certificate names match the requested host */
	char verify_error[128];     /* X509 verify error string when !verified */
	char subject_cn[256];
	char issuer_cn[256];
	long days_left;             /* days until notAfter (negative: expired) */
	int have_cert;
};

/* ---- buffered connections ---- */
#define IO_CONN_INPUT_MAX   (256 * 1024) /* read high-watermark: input buffered per conn */
#define IO_CONN_PAUSED_INPUT_MAX 4096  /* the same while paused (io_conn_pause) */
#define IO_FLUSH_TIMEOUT_MS 10000        /* io_conn_flush_free() gives up after this */
#define IO_TLS_OUT_CHUNK    (64 * 1024)  /* TLS records queued on the socket at most */
enum io_event {
	IO_EV_CONNECTED,   /* outbound connect completed */
	IO_EV_READ,        /* new input is buffered */
	IO_EV_DRAINED,     /* output buffer became empty after writes (TLS: all
			    * plaintext encrypted; <= IO_TLS_OUT_CHUNK may be in flight) */
	IO_EV_TLS_READY,   /* STARTTLS handshake completed */
	IO_EV_EOF,         /* peer closed */
	IO_EV_ERROR,       /* socket or TLS error (io_conn_error() says which) */
	IO_EV_TIMEOUT,     /* io_conn_set_timeout() expired with no input */
};
typedef void (*io_conn_cb)(struct io_conn *c, enum io_event ev, void *arg);

/* Wrap an accepted socket; c owns fd from now on (closed even on failure). */
struct io_conn *io_conn_new_fd(struct io_loop *loop, int fd, io_conn_cb cb, void *arg);
/* Start a non-blocking connect; IO_EV_CONNECTED or IO_EV_ERROR follows.
 * src may be NULL (any source address). */
struct io_conn *io_conn_connect(struct io_loop *loop, const struct sockaddr *sa, socklen_t salen,
				const struct sockaddr *src, socklen_t srclen, io_conn_cb cb, void *arg);
/* Close the socket and free everything; safe from inside the callback.
 * Queued output is discarded; no callback is called for c afterwards. */
void io_conn_free(struct io_conn *c);
/* Stop reading, send the queued output, then free (IO_FLUSH_TIMEOUT_MS at
 * most); no callback is called for c afterwards.  For "421 ..." and close. */
void io_conn_flush_free(struct io_conn *c);
void io_conn_set_cb(struct io_conn *c, io_conn_cb cb, void *arg);

/* Queue bytes for sending. */
int io_conn_write(struct io_conn *c, const void *buf, size_t len);
int io_conn_printf(struct io_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes queued but not yet sent (TLS: plaintext plus unsent records). */
size_t io_conn_out_len(struct io_conn *c);

/* Buffered input: io_conn_peek() makes up to max bytes contiguous and returns
 * a pointer to them with *len set (NULL/0 when empty); io_conn_consume()
 * removes n bytes after the caller has parsed them. */
size_t io_conn_in_len(struct io_conn *c);
const uint8_t *io_conn_peek(struct io_conn *c, size_t max, size_t *len);
void io_conn_consume(struct io_conn *c, size_t n);
/* Discard every buffered input byte (STARTTLS injection defence). */
void io_conn_drop_input(struct io_conn *c);

/* Stop/resume reporting input (backpressure while the spool syncs): no
 * IO_EV_READ while paused; input that came meanwhile (on plain connections
 * at most IO_CONN_PAUSED_INPUT_MAX bytes more are read) is reported after
 * the resume.  The idle timer is suspended while paused and restarts in
 * full on resume. */
void io_conn_pause(struct io_conn *c);
void io_conn_resume(struct io_conn *c);

/* Idle timeout: IO_EV_TIMEOUT after ms without input (0 disables).  Input
 * restarts the timer.  It fires once and is then disarmed until set again;
 * reading goes on.  It also runs while a connect is in progress (connect
 * timeout). */
void io_conn_set_timeout(struct io_conn *c, uint64_t ms);

/* Start TLS on the connection as server or client.  The caller consumes the
 * STARTTLS command (server) or the 220 reply (client) first; these functions
 * then discard every plaintext input byte still buffered, so none is ever
 * read as post-TLS data (CVE-2011-0411).  Output queued before the call
 * (the server's 220) is sent in the clear first.  IO_EV_TLS_READY or
 * IO_EV_ERROR/IO_EV_EOF follows.  verify_host (also the SNI name) may be NULL.
 * -1 if TLS is already active. */
int io_conn_starttls_server(struct io_conn *c, struct io_tls *tls);
int io_conn_starttls_client(struct io_conn *c, struct io_tls *tls, const char *verify_host);
int io_conn_tls_info(struct io_conn *c, struct io_tls_info *out);

/* Peer and local addresses, and the last error text. */
int io_conn_peer(struct io_conn *c, struct sockaddr_storage *ss, socklen_t *len);
int io_conn_local(struct io_conn *c, struct sockaddr_storage *ss, socklen_t *len);
const char *io_conn_error(struct io_conn *c);

/* ---- listeners ---- */
#define IO_LISTEN_BACKLOG    1024
#define IO_ACCEPT_BACKOFF_MS 1000 /* accept() paused this long after EMFILE/ENFILE */
/* accept_cb receives a connected non-blocking fd it now owns. */
typedef void (*io_accept_cb)(int fd, const struct sockaddr *sa, socklen_t salen, void *arg);
/* Bind and listen on "addr:port", "[v6]:port" or "*:port". */
struct io_listener *io_listener_new(struct io_loop *loop, const char *addrport, io_accept_cb cb,
				    void *arg);
/* Listen on a UNIX socket path with the given mode (control socket). */
struct io_listener *io_listener_new_unix(struct io_loop *loop, const char *path, int mode,
					 io_accept_cb cb, void *arg);
void io_listener_pause(struct io_listener *l);
void io_listener_resume(struct io_listener *l);
/* Actual bound address (port 0 resolved). */
int io_listener_addr(struct io_listener *l, struct sockaddr_storage *ss, socklen_t *len);
void io_listener_free(struct io_listener *l);

/* ---- tiny HTTP server (status page, metrics) ---- */
#define IO_HTTP_HEADERS_MAX 8192 /* request line + headers */
#define IO_HTTP_BODY_MAX    1024 /* request body (GET only, so tiny) */
#define IO_HTTP_TIMEOUT_S   10   /* idle HTTP client */
/* cb gets every GET with its path (query string stripped; other methods get
 * 405) and must call io_http_reply() before returning (else 500 is sent). */
typedef void (*io_http_cb)(struct io_http_req *req, const char *path, void *arg);
struct io_http *io_http_new(struct io_loop *loop, const char *addrport, io_http_cb cb, void *arg);
/* Send a complete response. */
void io_http_reply(struct io_http_req *req, int code, const char *content_type, const char *body,
		   size_t len);
void io_http_free(struct io_http *h);
/* The value of query parameter key (percent-decoded) in buf: "" when
 * absent; 0, or -1 for a malformed query or a value of len octets or more. */
int io_http_query_get(struct io_http_req *req, const char *key, char *buf, size_t len);
/* Actual bound address (port 0 resolved). */
int io_http_addr(struct io_http *h, struct sockaddr_storage *ss, socklen_t *len);

/* ---- addresses ---- */
#define IO_ADDRPORT_MAX 128 /* longest "addr:port" string accepted */
/* Parse "addr:port", "[v6]:port", "*:port" (0.0.0.0), "addr", "[v6]" or a bare
 * v6 address (these three with default_port; -1 = a port is required).
 * Numeric addresses only, port 0..65535; 0 or -1. */
int io_parse_addrport(const char *s, int default_port, struct sockaddr_storage *ss, socklen_t *len);
/* Format an address as "1.2.3.4" or "::1" (no port) into buf. */
const char *io_addr_str(const struct sockaddr *sa, char *buf, size_t len);
int io_addr_port(const struct sockaddr *sa);
/* Can a listener bind addrport now?  A brief bind and close (as the caller):
 * 0 yes, 1 the address is in use (by a running daemon, perhaps), -1 no
 * (why set: not an address of this host, permission, ...). */
int io_listen_probe(const char *addrport, char *why, size_t len);

/* ---- URLs (io_url.c) ---- */
#define IO_URL_MAX 2048     /* longest URL accepted */
struct io_url {
	struct sockaddr_storage sa;     /* the numeric host, port 80 unless given */
	socklen_t salen;
	int has_port;                   /* the URL names the port */
	char hostport[IO_ADDRPORT_MAX + 1];
	char path[IO_URL_MAX + 1];      /* "/" when the URL has none */
};
/* Parse "http://IP[:port][/path]" (numeric host, no https, no user part,
 * visible ASCII); 0, or -1 with why set. */
int io_url_parse(const char *url, struct io_url *u, char *why, size_t len);

/* ---- tiny HTTP client (io_httpc.c) ---- */
/* One HTTP/1.0 request (Connection: close) to the numeric address of a
 * parsed io_url: connect, send, read the status line, headers and body (up
 * to req->max bytes in all) until Content-Length or the peer's close, then
 * call back once.  No retries, no redirects, no TLS.  The caller owns the
 * handle and frees it with io_httpc_free(), also from inside the callback
 * (which is never called after that, nor from io_httpc_new()). */
struct io_httpc;
struct io_httpc_req {
	const char *method;         /* "GET", "POST" */
	const char *path;           /* NULL: the URL's path */
	const char *user_agent;
	const char *accept;         /* Accept: header, or NULL for none */
	const char *content_type;   /* with a body: Content-Type: (Content-Length: is added) */
	const void *body;           /* request body (copied), or NULL */
	size_t body_len;
	size_t max;                 /* response bytes kept at most; more is "truncated" */
	uint64_t timeout_ms;        /* idle limit: connect, then between inputs (0: none) */
	uint64_t deadline_ms;       /* limit on the whole exchange (0: none) */
};
struct io_httpc_res {
	const char *err;            /* NULL: the exchange ended with the response below */
	int status;                 /* from "HTTP/1.x NNN" (100-599), 0: no status line */
	const char *data;           /* everything read, NUL-terminated ("" when nothing) */
	size_t len;
	const char *body;           /* after the blank line (NUL-terminated), NULL: no end of headers */
	size_t body_len;
	int truncated;              /* stopped at req->max bytes */
};
/* The result is valid during the call only. */
typedef void (*io_httpc_cb)(const struct io_httpc_res *res, void *arg);
/* Start the request; NULL when it cannot be started (no callback then). */
struct io_httpc *io_httpc_new(struct io_loop *loop, const struct io_url *url,
			      const struct io_httpc_req *req, io_httpc_cb cb, void *arg);
/* Close and free (cancels a request in flight: no callback); NULL is a no-op. */
void io_httpc_free(struct io_httpc *h);
/* Read a response received so far (buf[0..len), NUL-terminated at len) into
 * res (status, data, body; err and truncated zero); 1 when it is complete by
 * its Content-Length, else 0.  Pure. */
int io_httpc_parse(const char *buf, size_t len, struct io_httpc_res *res);

#endif
