/*
 * buf.h - a growable octet buffer for building messages and files in memory.
 *
 *     struct bmx_buf b = BMX_BUF_INIT;
 *     bmx_buf_str(&b, "Subject: ");
 *     bmx_buf_fmt(&b, "%d items", n);
 *     if (b.err) ... out of memory: b.p may hold a prefix, still free it
 *     bmx_buf_free(&b);
 *
 * Rules: the buffer owns b.p (malloc'd; take it over by copying the pointer
 * and setting b.p to NULL).  After any append b.p[b.len] is a NUL, so the
 * contents can be used as a C string when they hold no NUL themselves.
 * Memory grows by doubling from BMX_BUF_INIT_CAP octets.  The first failed
 * allocation sets b.err (errno ENOMEM); it sticks, and every later append
 * is a no-op, so a builder may append freely and check b.err once at the
 * end.  bmx_buf_free() of a zeroed buffer is a no-op.  Not thread-safe
 * (one owner).
 */
#ifndef BMX_COMMON_BUF_H
#define BMX_COMMON_BUF_H

#include <stddef.h>

#define BMX_BUF_INIT_CAP 4096   /* first allocation */
#define BMX_BUF_INIT { NULL, 0, 0, 0 }

struct bmx_buf {
	char *p;        /* the octets, NUL-terminated; NULL before the first append */
	size_t len;     /* octets held, the NUL not counted */
	size_t cap;     /* octets allocated */
	int err;        /* an allocation failed: the contents are incomplete */
};

/* Start an empty buffer (the same as BMX_BUF_INIT). */
void bmx_buf_init(struct bmx_buf *b);
/* Make room for n more octets (and the NUL); 0, or -1 (b->err set). */
int bmx_buf_reserve(struct bmx_buf *b, size_t n);
/* Append s[0..n); 0, or -1 when b->err is set. */
int bmx_buf_add(struct bmx_buf *b, const void *s, size_t n);
/* Append a NUL-terminated string; 0 or -1. */
int bmx_buf_str(struct bmx_buf *b, const char *s);
/* Append one octet; 0 or -1. */
int bmx_buf_ch(struct bmx_buf *b, char c);
/* Append printf-style text; 0 or -1. */
int bmx_buf_fmt(struct bmx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append CRLF; 0 or -1. */
int bmx_buf_crlf(struct bmx_buf *b);
/* A put callback over a struct bmx_buf (ctx): appends p[0..n); 0 or -1. */
int bmx_buf_put(void *ctx, const void *p, size_t n);
/* Forget the contents, keep the memory (and any error). */
void bmx_buf_clear(struct bmx_buf *b);
/* Release the memory; the buffer is empty and usable again (err cleared). */
void bmx_buf_free(struct bmx_buf *b);

#endif
