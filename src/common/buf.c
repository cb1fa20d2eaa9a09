/*
 * buf.c - a growable octet buffer (see buf.h for the rules).
 *
 * Used by the DSN builder (src/relay/dsn*.c) and by spool_format() to build
 * a whole queue-file image.  Growth doubles from BMX_BUF_INIT_CAP; a size
 * that would overflow, or a failed realloc(), sets the sticky err flag and
 * errno ENOMEM.
 */
#include "common/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Mark b failed (out of memory); always -1. */
static int buf_fail(struct bmx_buf *b)
{
	b->err = 1;
	errno = ENOMEM;
	return -1;
}

/* Start an empty buffer (the same as BMX_BUF_INIT). */
void bmx_buf_init(struct bmx_buf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}

/* Make room for n more octets plus the NUL; 0 or -1. */
int bmx_buf_reserve(struct bmx_buf *b, size_t n)
{
	size_t cap;
	char *np;

	if (b->err)
		return -1;
	if (n > SIZE_MAX / 4 - b->len)
		return buf_fail(b);
	if (b->len + n + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : BMX_BUF_INIT_CAP;
	while (cap < b->len + n + 1)
		cap *= 2;
	np = realloc(b->p, cap);
	if (np == NULL)
		return buf_fail(b);
	b->p = np;
	b->cap = cap;
	return 0;
}

/* Append s[0..n). */
int bmx_buf_add(struct bmx_buf *b, const void *s, size_t n)
{
	if (bmx_buf_reserve(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* Append a NUL-terminated string. */
int bmx_buf_str(struct bmx_buf *b, const char *s)
{
	return bmx_buf_add(b, s, strlen(s));
}

/* Append one octet. */
int bmx_buf_ch(struct bmx_buf *b, char c)
{
	return bmx_buf_add(b, &c, 1);
}

/* Append printf-style text. */
int bmx_buf_fmt(struct bmx_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return buf_fail(b);
	if (bmx_buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Append CRLF. */
int bmx_buf_crlf(struct bmx_buf *b)
{
	return bmx_buf_add(b, "\r\n", 2);
}

/* Put callback: append p[0..n) to the struct bmx_buf at ctx. */
int bmx_buf_put(void *ctx, const void *p, size_t n)
{
	return bmx_buf_add(ctx, p, n);
}

/* Forget the contents, keep the memory. */
void bmx_buf_clear(struct bmx_buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

/* Release the memory. */
void bmx_buf_free(struct bmx_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}
