/*
 * hdrfilter.c - remove Authentication-Results headers that carry our own
 * authserv-id from a message as it streams (RFC 8601 section 5; see
 * hdrfilter.h).
 *
 * States: at the start of a header line (HF_BOL), inside one (HF_LINE),
 * after a CR at the start of a line (HF_CR: the empty line that ends the
 * header section, if a LF follows), and in the body (HF_BODY).  A field is
 * judged when the first octet of the next line shows that it ended: a
 * space or tab continues it, anything else starts the next field.
 */
#include "filter/hdrfilter.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "filter/authres.h"

enum { HF_BOL = 0, HF_LINE, HF_CR, HF_BODY };

static const char hdrf_ar[] = "authentication-results";

/* Start a message. */
void hdrf_init(struct hdrf *h, const char *authserv_id)
{
	h->state = HF_BOL;
	h->len = 0;
	h->passing = h->dropping = 0;
	h->dropped = 0;
	h->field = NULL;
	h->eoh = NULL;
	h->farg = NULL;
	snprintf(h->id, sizeof(h->id), "%s", authserv_id ? authserv_id : "");
}

/* Report kept fields and the end of the header section. */
void hdrf_set_fields(struct hdrf *h, hdrf_field_cb field, hdrf_eoh_cb eoh, void *arg)
{
	h->field = field;
	h->eoh = eoh;
	h->farg = arg;
}

/* Is the filter past the header section? */
int hdrf_in_body(const struct hdrf *h)
{
	return h->state == HF_BODY;
}

/* Report a kept, whole field (name up to the colon, value without its CRLF). */
static void hdrf_report(struct hdrf *h)
{
	const char *colon = memchr(h->buf, ':', h->len);
	if (!h->field || !colon)
		return;
	size_t nlen = (size_t)(colon - h->buf), vlen = h->len - nlen - 1;
	while (nlen && (h->buf[nlen - 1] == ' ' || h->buf[nlen - 1] == '\t'))
		nlen--;
	if (vlen >= 2 && colon[vlen - 1] == '\r' && colon[vlen] == '\n')
		vlen -= 2;
	if (nlen)
		h->field(h->farg, h->buf, nlen, colon + 1, vlen);
}

/* Is the held field (or its start) an Authentication-Results field?  1 or 0. */
static int hdrf_is_ar(const struct hdrf *h)
{
	size_t n = sizeof(hdrf_ar) - 1, i = n;
	if (h->len < n || strncasecmp(h->buf, hdrf_ar, n) != 0)
		return 0;
	while (i < h->len && (h->buf[i] == ' ' || h->buf[i] == '\t'))
		i++;
	return i < h->len && h->buf[i] == ':';
}

/* A field ended: pass it on unless it is our forged verdict.  0 or -1. */
static int hdrf_flush(struct hdrf *h, hdrf_emit emit, void *arg)
{
	int rc = 0;
	if (h->len && !h->passing && !h->dropping) {
		const char *colon = memchr(h->buf, ':', h->len);
		if (colon && hdrf_is_ar(h) && h->id[0] &&
		    authres_header_is_ours(hdrf_ar, colon + 1,
					   h->len - (size_t)(colon + 1 - h->buf), h->id))
			h->dropped++;
		else {
			hdrf_report(h);
			rc = emit(arg, h->buf, h->len);
		}
	}
	h->len = 0;
	h->passing = h->dropping = 0;
	return rc;
}

/* Add octets to the current field (holding, passing or dropping them). */
static int hdrf_add(struct hdrf *h, const uint8_t *p, size_t n, hdrf_emit emit, void *arg)
{
	if (h->dropping)
		return 0;
	if (h->passing)
		return emit(arg, p, n);
	if (h->len + n > sizeof(h->buf)) {
		/* too long to judge whole: our verdict is dropped, anything else passes */
		if (hdrf_is_ar(h)) {
			h->dropping = 1;
			h->dropped++;
			h->len = 0;
			return 0;
		}
		h->passing = 1;
		int rc = emit(arg, h->buf, h->len);
		h->len = 0;
		return rc < 0 ? -1 : emit(arg, p, n);
	}
	memcpy(h->buf + h->len, p, n);
	h->len += n;
	return 0;
}

/* Filter n octets of the message. */
int hdrf_feed(struct hdrf *h, const uint8_t *p, size_t n, hdrf_emit emit, void *arg)
{
	size_t i = 0;
	while (i < n) {
		if (h->state == HF_BODY)
			return emit(arg, p + i, n - i);
		if (h->state == HF_LINE) {
			const uint8_t *lf = memchr(p + i, '\n', n - i);
			size_t run = lf ? (size_t)(lf - (p + i)) + 1 : n - i;
			if (hdrf_add(h, p + i, run, emit, arg) < 0)
				return -1;
			i += run;
			if (lf)
				h->state = HF_BOL;
			continue;
		}
		uint8_t c = p[i];
		if (h->state == HF_CR) {
			if (c == '\n') {
				/* the empty line: the header section is over */
				if (hdrf_flush(h, emit, arg) < 0 || emit(arg, "\r\n", 2) < 0)
					return -1;
				h->state = HF_BODY;
				if (h->eoh)
					h->eoh(h->farg);
				i++;
				continue;
			}
			/* a CR without LF at a line start (not canonical): a new field */
			if (hdrf_flush(h, emit, arg) < 0 || hdrf_add(h, (const uint8_t *)"\r", 1,
								    emit, arg) < 0)
				return -1;
			h->state = HF_LINE;
			continue;
		}
		/* HF_BOL */
		if (c == ' ' || c == '\t') {
			h->state = HF_LINE;   /* folded: the same field goes on */
			continue;
		}
		if (hdrf_flush(h, emit, arg) < 0)
			return -1;
		if (c == '\r') {
			h->state = HF_CR;
			i++;
			continue;
		}
		h->state = HF_LINE;
	}
	return 0;
}

/* The message ended: pass on what is held. */
int hdrf_finish(struct hdrf *h, hdrf_emit emit, void *arg)
{
	int rc = hdrf_flush(h, emit, arg);
	if (rc == 0 && h->state == HF_CR)
		rc = emit(arg, "\r", 1);
	if (h->state != HF_BODY && h->eoh)
		h->eoh(h->farg);   /* a message of headers only */
	h->state = HF_BODY;
	return rc;
}
