/*
 * data.c - the DATA reader: end-of-data detection, dot-unstuffing and the
 * line-ending rules that defeat SMTP smuggling.
 *
 * A byte-at-a-time state machine, so chunk boundaries can fall anywhere.
 * Only <CRLF>.<CRLF> ends the message (the first line counts as preceded by
 * CRLF).  A LF without its CR, or a CR without its LF, stops the reader
 * with SMTP_DATA_BARE_LF / SMTP_DATA_BARE_CR: none of "\n.\n", "\r.\r",
 * "\r\n.\n" and friends can end a message early.  A CR is copied out as
 * soon as it is seen (so the output never outgrows the input); on an error
 * the caller discards the whole message anyway.
 */
#include "smtp/smtp.h"

#include <string.h>

enum {
	DS_BOL = 0,     /* at the start of a line */
	DS_TEXT,        /* inside a line */
	DS_CR,          /* after a CR inside a line (CR already copied out) */
	DS_DOT,         /* after a '.' at the start of a line (dot held back) */
	DS_DOT_CR,      /* after ".\r" at the start of a line (nothing copied) */
	DS_END,         /* saw <CRLF>.<CRLF> */
	DS_BARE_LF,     /* stopped on a bare LF */
	DS_BARE_CR,     /* stopped on a bare CR */
};

/* Start a new message. */
void smtp_data_init(struct smtp_data_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->state = DS_BOL;
}

/* Count one octet of the current line (as output: a stuffed dot is not counted). */
static void line_octet(struct smtp_data_reader *r)
{
	r->line_len++;
	if (r->line_len > r->max_line_seen)
		r->max_line_seen = r->line_len;
	if (r->line_len > SMTP_TEXT_LINE_MAX)
		r->line_too_long = 1;
}

/* Note NUL and 8-bit octets. */
static void octet_flags(struct smtp_data_reader *r, uint8_t c)
{
	if (c == 0)
		r->saw_nul = 1;
	else if (c >= 0x80)
		r->saw_8bit = 1;
}

/* Fast path inside a line: copy octets up to the next CR or LF, advancing
 * *i to it.  Returns 1 if the input ran out. */
static int text_run(struct smtp_data_reader *r, const uint8_t *in, size_t inlen, size_t *i,
		    uint8_t *out, size_t *o)
{
	size_t j = *i, n;
	uint8_t any = 0;
	int nul = 0;

	while (j < inlen && in[j] != '\r' && in[j] != '\n') {
		any |= in[j];
		nul |= in[j] == 0;
		j++;
	}
	n = j - *i;
	if (n > 0) {
		memcpy(out + *o, in + *i, n);
		*o += n;
		r->line_len += n;
		if (r->line_len > r->max_line_seen)
			r->max_line_seen = r->line_len;
		if (r->line_len > SMTP_TEXT_LINE_MAX)
			r->line_too_long = 1;
		if (any & 0x80)
			r->saw_8bit = 1;
		if (nul)
			r->saw_nul = 1;
		*i = j;
	}
	return j == inlen;
}

/* Feed a chunk of DATA; see smtp.h. */
enum smtp_data_status smtp_data_feed(struct smtp_data_reader *r, const uint8_t *in, size_t inlen,
				     uint8_t *out, size_t *outlen, size_t *consumed)
{
	enum smtp_data_status st = SMTP_DATA_MORE;
	size_t i = 0, o = 0;

	switch (r->state) {
	case DS_END:
		st = SMTP_DATA_END;
		goto done;
	case DS_BARE_LF:
		st = SMTP_DATA_BARE_LF;
		goto done;
	case DS_BARE_CR:
		st = SMTP_DATA_BARE_CR;
		goto done;
	default:
		break;
	}
	for (; i < inlen; i++) {
		uint8_t c;

		if (r->state == DS_TEXT && text_run(r, in, inlen, &i, out, &o))
			break;
		c = in[i];

		switch (r->state) {
		case DS_BOL:
			if (c == '.') {
				r->state = DS_DOT;
				continue;
			}
			/* FALLTHROUGH */
		case DS_TEXT:
			if (c == '\n') {
				r->state = DS_BARE_LF;
				st = SMTP_DATA_BARE_LF;
				goto done;
			}
			line_octet(r);
			out[o++] = c;
			if (c == '\r') {
				r->state = DS_CR;
			} else {
				octet_flags(r, c);
				r->state = DS_TEXT;
			}
			continue;
		case DS_DOT:
			if (c == '\r') {
				r->state = DS_DOT_CR;
				continue;
			}
			if (c == '\n') {
				r->state = DS_BARE_LF;
				st = SMTP_DATA_BARE_LF;
				goto done;
			}
			/* the stuffed dot is dropped (and not counted, RFC 5321
			 * 4.5.3.1.6); c is line text */
			line_octet(r);
			out[o++] = c;
			octet_flags(r, c);
			r->state = DS_TEXT;
			continue;
		case DS_DOT_CR:
			if (c != '\n') {
				r->state = DS_BARE_CR;
				st = SMTP_DATA_BARE_CR;
				goto done;
			}
			r->line_len = 0;
			r->state = DS_END;
			st = SMTP_DATA_END;
			i++;
			goto done;
		default:        /* DS_CR */
			if (c != '\n') {
				r->state = DS_BARE_CR;
				st = SMTP_DATA_BARE_CR;
				goto done;
			}
			line_octet(r);
			out[o++] = c;
			r->line_len = 0;
			r->state = DS_BOL;
			continue;
		}
	}
done:
	r->total += o;
	*outlen = o;
	*consumed = i;
	return st;
}
