/*
 * hdrfilter.h - a streaming filter over a message's header section that
 * removes every Authentication-Results header carrying our own authserv-id
 * (RFC 8601 section 5), so no sender can forge our verdict.
 *
 * It takes the canonical message text (CRLF lines, dot-unstuffed) in
 * pieces of any size and passes on everything else unchanged.  A header
 * field (with its folded continuation lines) is held until the next line
 * shows that it ended, at most HDRF_FIELD_MAX octets: a longer field is
 * passed on as it comes, except an Authentication-Results field, which is
 * then dropped whole (fail closed).  After the empty line that ends the
 * header section, everything passes straight through.  Pure: no I/O.
 */
#ifndef BMX_FILTER_HDRFILTER_H
#define BMX_FILTER_HDRFILTER_H

#include <stddef.h>
#include <stdint.h>

#define HDRF_FIELD_MAX 16384   /* octets of one header field held while it is judged */
#define HDRF_ID_MAX    256     /* our authserv-id */

/* Where the kept octets go; 0, or -1 to stop. */
typedef int (*hdrf_emit)(void *arg, const void *p, size_t n);
/* Each kept header field, once whole: name (no colon), value (after the
 * colon, folding included, no final CRLF); a field too long to hold is
 * not reported.  Then the end of the header section. */
typedef void (*hdrf_field_cb)(void *arg, const char *name, size_t nlen, const char *value,
			      size_t vlen);
typedef void (*hdrf_eoh_cb)(void *arg);

struct hdrf {
	int state;                  /* internal */
	char id[HDRF_ID_MAX];       /* our authserv-id (the hostname) */
	size_t len;                 /* octets held in buf */
	int passing;                /* a long field: passed on as it comes */
	int dropping;               /* a long Authentication-Results field: dropped */
	unsigned dropped;           /* fields removed so far */
	hdrf_field_cb field;        /* NULL: fields are not reported */
	hdrf_eoh_cb eoh;
	void *farg;
	char buf[HDRF_FIELD_MAX];
};

/* Start a message; authserv_id is our hostname. */
void hdrf_init(struct hdrf *h, const char *authserv_id);
/* Report kept fields and the end of the header section (after hdrf_init). */
void hdrf_set_fields(struct hdrf *h, hdrf_field_cb field, hdrf_eoh_cb eoh, void *arg);
/* Is the filter past the header section?  1 or 0. */
int hdrf_in_body(const struct hdrf *h);
/* Filter n octets; the kept ones go to emit.  0, or -1 if emit failed. */
int hdrf_feed(struct hdrf *h, const uint8_t *p, size_t n, hdrf_emit emit, void *arg);
/* The message ended: pass on a field still held.  0 or -1. */
int hdrf_finish(struct hdrf *h, hdrf_emit emit, void *arg);

#endif
