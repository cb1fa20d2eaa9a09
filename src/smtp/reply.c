/*
 * reply.c - the SMTP client's reply parser and EHLO capability reader.
 *
 * smtp_reply_parse() reads one (possibly multi-line) server reply from a
 * byte buffer (RFC 5321 4.2): "NNN-text" lines continue, "NNN text" or
 * "NNN" ends the reply, every line carries the same code.  It never reads
 * past the given length, refuses NUL bytes, bare CRs, over-long lines and
 * replies with too many lines, so a hostile server (CVE-2020-8794) can
 * neither overflow us nor make the caller buffer without bound.
 * smtp_ehlo_caps() turns a parsed EHLO reply into capability flags.
 */
#include "smtp/smtp.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Return 1 if c is an ASCII digit. */
static int is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* Check the code prefix of a (possibly partial) line of n bytes; 0 or -1. */
static int check_code(const uint8_t *p, size_t n, const char **err)
{
	/* Reply-code = %x32-35 %x30-35 %x30-39 (RFC 5321 4.2) */
	if (n >= 1 && (p[0] < '2' || p[0] > '5')) {
		*err = "bad reply code";
		return -1;
	}
	if (n >= 2 && (p[1] < '0' || p[1] > '5')) {
		*err = "bad reply code";
		return -1;
	}
	if (n >= 3 && !is_digit(p[2])) {
		*err = "bad reply code";
		return -1;
	}
	if (n >= 4 && p[3] != ' ' && p[3] != '-' && p[3] != '\r' && p[3] != '\n') {
		*err = "bad reply separator";
		return -1;
	}
	return 0;
}

/* Append n bytes of line text to the reply text, truncating at the limit. */
static void text_append(struct smtp_reply *r, size_t *tlen, const uint8_t *p, size_t n)
{
	size_t room = sizeof(r->text) - 1 - *tlen;

	if (n > room)
		n = room;
	memcpy(r->text + *tlen, p, n);
	*tlen += n;
	r->text[*tlen] = '\0';
}

/* Parse 1-3 digits at p[*i..n); return 0 or -1. */
static int enh_digits(const char *p, size_t n, size_t *i)
{
	size_t start = *i;

	while (*i < n && is_digit((uint8_t)p[*i]) && *i - start < 3)
		(*i)++;
	return *i > start ? 0 : -1;
}

/* Copy an RFC 3463 code "c.s.d" that starts the first line's text into r->enh. */
static void find_enh(struct smtp_reply *r, const char *t, size_t n)
{
	size_t i = 0;

	/* class must equal the reply's first digit and be 2, 4 or 5 */
	if (n < 5 || t[0] != '0' + r->code / 100 || (t[0] != '2' && t[0] != '4' && t[0] != '5'))
		return;
	if (t[1] != '.')
		return;
	i = 2;
	if (enh_digits(t, n, &i) < 0 || i >= n || t[i] != '.')
		return;
	i++;
	if (enh_digits(t, n, &i) < 0)
		return;
	if (i < n && t[i] != ' ')
		return;
	memcpy(r->enh, t, i);
	r->enh[i] = '\0';
}

/* Parse one complete reply; see smtp.h. */
ssize_t smtp_reply_parse(const uint8_t *buf, size_t len, struct smtp_reply *r, const char **err)
{
	static const char *dummy;
	size_t pos = 0, tlen = 0;

	if (err == NULL)
		err = &dummy;
	*err = NULL;
	r->code = 0;
	r->enh[0] = '\0';
	r->nlines = 0;
	r->text[0] = '\0';

	for (;;) {
		const uint8_t *line = buf + pos;
		size_t avail = len - pos, n = 0, end, textlen;
		int last, code;

		if (r->nlines >= SMTP_REPLY_LINES_MAX) {
			*err = "too many reply lines";
			return -1;
		}
		/* find the LF, validating as we go, never past len */
		while (n < avail && line[n] != '\n') {
			if (line[n] == '\0') {
				*err = "NUL in reply";
				return -1;
			}
			if (line[n] == '\r' && n + 1 < avail && line[n + 1] != '\n') {
				*err = "bare CR in reply";
				return -1;
			}
			n++;
			if (n >= SMTP_REPLY_LINE_MAX) {
				/* even the LF would not fit within the limit */
				*err = "reply line too long";
				return -1;
			}
		}
		if (check_code(line, n, err) < 0)
			return -1;
		if (n == avail)
			return 0;       /* incomplete line, still within limits */
		end = n;                /* index of LF */
		if (end > 0 && line[end - 1] == '\r')
			end--;
		if (end < 3) {
			*err = "short reply line";
			return -1;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (r->nlines == 0) {
			r->code = code;
		} else if (code != r->code) {
			*err = "inconsistent reply codes";
			return -1;
		}
		last = end == 3 || line[3] == ' ';
		textlen = end > 4 ? end - 4 : 0;
		if (r->nlines > 0)
			text_append(r, &tlen, (const uint8_t *)"\n", 1);
		else
			find_enh(r, (const char *)line + 4, textlen);
		text_append(r, &tlen, line + 4, textlen);
		r->nlines++;
		pos += n + 1;
		if (last)
			return (ssize_t)pos;
	}
}

/* Return 1 if word w (n bytes) equals keyword kw, ignoring case. */
static int word_is(const char *w, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(w, kw, n) == 0;
}

/* Parse a SIZE value; 0 for absent, malformed or overflowing values. */
static unsigned long long parse_size(const char *p, size_t n)
{
	unsigned long long v = 0;
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (!is_digit((uint8_t)p[i]))
			return 0;
		d = (unsigned)(p[i] - '0');
		if (v > (ULLONG_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	return v;
}

/* The EHLO keywords we know, in the order every report lists them. */
const struct smtp_cap_name smtp_cap_names[SMTP_CAP_NAMES] = {
	{ "SIZE", SMTP_CAP_SIZE }, { "PIPELINING", SMTP_CAP_PIPELINING },
	{ "STARTTLS", SMTP_CAP_STARTTLS }, { "8BITMIME", SMTP_CAP_8BITMIME },
	{ "SMTPUTF8", SMTP_CAP_SMTPUTF8 }, { "ENHANCEDSTATUSCODES", SMTP_CAP_ENHANCED },
	{ "DSN", SMTP_CAP_DSN }, { "CHUNKING", SMTP_CAP_CHUNKING },
	{ "ETRN", SMTP_CAP_ETRN }, { "AUTH", SMTP_CAP_AUTH },
	{ "XFORWARD", SMTP_CAP_XFORWARD }, { "XCLIENT", SMTP_CAP_XCLIENT },
};

/* The SMTP_XATTR_* bits of the attribute words v[0..n) of an XFORWARD or
 * XCLIENT keyword ("NAME ADDR PROTO HELO ..."); unknown words are ignored. */
static unsigned xattr_words(const char *v, size_t n)
{
	static const struct { const char *w; unsigned bit; } tab[] = {
		{ "NAME", SMTP_XATTR_NAME }, { "ADDR", SMTP_XATTR_ADDR },
		{ "PROTO", SMTP_XATTR_PROTO }, { "HELO", SMTP_XATTR_HELO },
		{ "SOURCE", SMTP_XATTR_SOURCE }, { "PORT", SMTP_XATTR_PORT },
		{ "IDENT", SMTP_XATTR_IDENT }, { "LOGIN", SMTP_XATTR_LOGIN },
		{ "REVERSE_NAME", SMTP_XATTR_REVERSE }, { "DESTADDR", SMTP_XATTR_DESTADDR },
		{ "DESTPORT", SMTP_XATTR_DESTPORT },
	};
	unsigned bits = 0;
	size_t i = 0;
	while (i < n) {
		while (i < n && v[i] == ' ')
			i++;
		size_t w = i;
		while (i < n && v[i] != ' ')
			i++;
		for (size_t k = 0; k < sizeof(tab) / sizeof(tab[0]); k++)
			if (word_is(v + w, i - w, tab[k].w))
				bits |= tab[k].bit;
	}
	return bits;
}

/* Read capability flags from one EHLO keyword line. */
static void caps_line(struct smtp_caps *caps, const char *l, size_t n)
{
	const struct smtp_cap_name *tab = smtp_cap_names;
	size_t w = 0, i;

	while (w < n && l[w] != ' ')
		w++;
	for (i = 0; i < SMTP_CAP_NAMES; i++) {
		if (!word_is(l, w, tab[i].kw))
			continue;
		caps->flags |= tab[i].flag;
		if (tab[i].flag == SMTP_CAP_XFORWARD)
			caps->xforward |= xattr_words(l + w, n - w);
		else if (tab[i].flag == SMTP_CAP_XCLIENT)
			caps->xclient |= xattr_words(l + w, n - w);
		if (tab[i].flag == SMTP_CAP_SIZE) {
			const char *v = l + w;
			size_t vn = n - w;

			while (vn > 0 && *v == ' ') {
				v++;
				vn--;
			}
			while (vn > 0 && v[vn - 1] == ' ')
				vn--;
			caps->size = parse_size(v, vn);
		}
		return;
	}
}

/* Extract EHLO capabilities from a 250 reply; see smtp.h. */
void smtp_ehlo_caps(const struct smtp_reply *r, struct smtp_caps *caps)
{
	const char *t = r->text, *nl;
	size_t i;

	memset(caps, 0, sizeof(*caps));
	if (r->code != 250)
		return;
	/* first line: our peer's name, printable ASCII only */
	for (i = 0; i < SMTP_DOMAIN_MAX && (unsigned char)t[i] > ' ' &&
	     (unsigned char)t[i] < 0x7f; i++)
		caps->helo_name[i] = t[i];
	caps->helo_name[i] = '\0';
	while ((nl = strchr(t, '\n')) != NULL) {
		const char *l = nl + 1;

		nl = strchr(l, '\n');
		caps_line(caps, l, nl ? (size_t)(nl - l) : strlen(l));
		t = l;
	}
}

/* Skip "c.s.d " (an enhanced code of the reply's class) at the start of t. */
static const char *skip_enh(const char *t, int code)
{
	struct smtp_reply tmp = {.code = code};
	const char *nl = strchr(t, '\n');
	size_t n = nl ? (size_t)(nl - t) : strlen(t);
	find_enh(&tmp, t, n);
	if (!tmp.enh[0])
		return t;
	t += strlen(tmp.enh);
	return *t == ' ' ? t + 1 : t;
}

/* Format a reply of the primary as one reply line of ours; see smtp.h. */
size_t smtp_reply_relayed(const struct smtp_reply *r, const char *who, char *out, size_t len)
{
	static const char defenh[][6] = {"2.0.0", "4.0.0", "5.0.0"};
	int cls = r->code / 100;
	if (len == 0)
		return 0;
	if (r->code < 200 || r->code > 599 || cls == 3) {
		/* never relay a 1yz/3yz where a final answer is due */
		int n = snprintf(out, len, "451 4.4.0 %s sent an unexpected reply %d", who,
				 r->code);
		return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
	}
	size_t max = len - 1 < SMTP_RELAYED_MAX ? len - 1 : SMTP_RELAYED_MAX;
	int n = snprintf(out, max + 1, "%03d %s %s said:", r->code,
			 r->enh[0] ? r->enh : defenh[cls == 2 ? 0 : cls == 4 ? 1 : 2], who);
	size_t o = n < 0 ? 0 : (size_t)n > max ? max : (size_t)n;
	for (const char *t = r->text; *t && o < max;) {
		t = skip_enh(t, r->code);
		if (*t && *t != '\n' && o < max)
			out[o++] = ' ';
		for (; *t && *t != '\n' && o < max; t++) {
			unsigned char ch = (unsigned char)*t;
			out[o++] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
		}
		while (*t && *t != '\n')
			t++;
		if (*t == '\n')
			t++;
	}
	out[o] = '\0';
	return o;
}
