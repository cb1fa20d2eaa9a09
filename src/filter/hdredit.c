/*
 * hdredit.c - apply a milter's header changes to a header section (see
 * hdredit.h).  The section is split into fields (a field goes on over lines
 * that start with a space or a tab), the changes are applied to an array of
 * field pointers in the order they came, and the result is written out.
 */
#include "filter/hdredit.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* gcc -fanalyzer loses track of a made field, which the field array owns
 * (hd_field.own) until hdredit_apply() frees them all. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif

struct hd_field {
	const char *p;     /* the field's text, CRLF included */
	size_t len;
	char *own;         /* a field we made (p points into it), or NULL */
};

/* Does field f have this name?  1 or 0. */
static int hd_named(const struct hd_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->len > n && strncasecmp(f->p, name, n) == 0 &&
	       (f->p[n] == ':' || f->p[n] == ' ' || f->p[n] == '\t');
}

/* A new field "name: value\r\n"; 0 or -1. */
static int hd_make(struct hd_field *f, const struct milter_change *c)
{
	size_t n = strlen(c->name), v = strlen(c->value);
	if (!(f->own = malloc(n + v + 5)))
		return -1;
	memcpy(f->own, c->name, n);
	memcpy(f->own + n, ": ", 2);
	memcpy(f->own + n + 2, c->value, v);
	memcpy(f->own + n + 2 + v, "\r\n", 2);
	f->p = f->own;
	f->len = n + v + 4;
	return 0;
}

/* Split hdr into fields (the empty line ends it); the count, or -1. */
static long hd_split(const char *hdr, size_t len, struct hd_field *fl, size_t max)
{
	size_t i = 0, n = 0;
	while (i < len) {
		const char *lf = memchr(hdr + i, '\n', len - i);
		size_t ll = lf ? (size_t)(lf - (hdr + i)) + 1 : len - i;
		if (ll <= 2 && hdr[i] == '\r')
			break;   /* the empty line */
		if ((hdr[i] == ' ' || hdr[i] == '\t') && n > 0) {
			fl[n - 1].len += ll;
		} else {
			if (n >= max)
				return -1;
			fl[n].p = hdr + i;
			fl[n].len = ll;
			fl[n].own = NULL;
			n++;
		}
		i += ll;
	}
	return (long)n;
}

/* Apply one change to fields fl[0..*n). */
static int hd_change(struct hd_field *fl, size_t *n, size_t hidden,
		     const struct milter_change *c)
{
	struct hd_field f = {0};
	size_t at = *n;
	if (c->kind == 'm') {
		unsigned seen = 0, want = c->index ? c->index : 1;
		for (size_t i = hidden; i < *n; i++) {
			if (hd_named(&fl[i], c->name) && ++seen == want) {
				free(fl[i].own);
				if (!c->value[0]) {
					memmove(fl + i, fl + i + 1, (*n - i - 1) * sizeof(*fl));
					(*n)--;
					return 0;
				}
				return hd_make(&fl[i], c);
			}
		}
		if (!c->value[0])
			return 0;   /* deleting what is not there */
	} else if (c->kind == 'i') {
		at = c->index < *n ? c->index : *n;
	}
	if (*n >= HDREDIT_FIELDS_MAX || hd_make(&f, c) < 0)
		return -1;
	memmove(fl + at + 1, fl + at, (*n - at) * sizeof(*fl));
	fl[at] = f;
	(*n)++;
	return 0;
}

/* Apply the changes and write the header section out. */
int hdredit_apply(const char *hdr, size_t len, size_t hidden, const struct milter_change *chg,
		  size_t n, struct bmx_buf *out)
{
	struct hd_field *fl = calloc(HDREDIT_FIELDS_MAX, sizeof(*fl));
	int rc = 0;
	if (!fl)
		return -1;
	long nf = hd_split(hdr, len, fl, HDREDIT_FIELDS_MAX);
	size_t cnt = nf < 0 ? 0 : (size_t)nf;
	if (nf < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = hd_change(fl, &cnt, hidden < cnt ? hidden : cnt, &chg[i]);
	for (size_t i = 0; rc == 0 && i < cnt; i++)
		rc = bmx_buf_add(out, fl[i].p, fl[i].len);
	if (rc == 0)
		rc = bmx_buf_add(out, "\r\n", 2);
	for (size_t i = 0; i < cnt; i++)
		free(fl[i].own);
	free(fl);
	return rc < 0 || out->err ? -1 : 0;
}
