/*
 * dsn_fmt.c - the line layout and sanitising of the DSN builder.
 *
 * Helpers of dsn_build() (dsn.c), declared in dsn.h under "shared by the
 * dsn*.c files": every string a peer could have chosen goes through one of
 * them on its way into a DSN.
 *
 *   dsn_san_text(), dsn_san_token()  free text and tokens: no controls, no
 *                                    CR/LF, non-ASCII becomes '?'
 *   dsn_enc_addr(), dsn_raw_addr()   addresses for report fields (RFC 6533
 *                                    7-bit "utf-8" form) and for To: (raw UTF-8)
 *   dsn_emit_field()                 header fields folded at spaces before
 *                                    DSN_FOLD_AT, cut hard at DSN_LINE_MAX
 *   dsn_emit_text()                  human-readable text wrapped at DSN_WRAP_AT
 *   dsn_status_fix(), dsn_fmt_date() RFC 3463 codes and RFC 5322 dates
 *
 * Rules: every line emitted ends in CRLF and has at most DSN_LINE_MAX
 * octets.  Appends go to a struct bmx_buf whose err flag sticks; callers
 * check it once.  The UTF-8 decoder is the shared smtp_utf8_len().  Pure
 * functions apart from the buffers, thread-safe.
 */
#include "relay/dsn.h"

#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "smtp/xtext.h"

#define DSN_FOLD_AT     78     /* preferred longest line (RFC 5322 2.1.1) */
#define DSN_WRAP_AT     76     /* longest line of the human-readable text */

/* Append free text s (at most max octets out): CR, LF and TAB runs become
 * one space, other controls and non-ASCII octets '?'; trimmed. */
void dsn_san_text(struct bmx_buf *b, const char *s, size_t max)
{
	size_t out = 0;
	int pend_sp = 0;

	for (; *s != '\0' && out < max; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			pend_sp = out > 0;
			continue;
		}
		if (pend_sp) {
			if (out + 1 >= max)
				break;
			bmx_buf_ch(b, ' ');
			out++;
			pend_sp = 0;
		}
		bmx_buf_ch(b, c < 0x20 || c >= 0x7f ? '?' : (char)c);
		out++;
	}
}

/* Append a token (host name, xtext): printable ASCII but space, else '?'. */
void dsn_san_token(struct bmx_buf *b, const char *s, size_t max)
{
	for (size_t i = 0; i < max && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		bmx_buf_ch(b, c <= 0x20 || c >= 0x7f ? '?' : (char)c);
	}
}

/* Length of an address without one pair of enclosing angle brackets. */
const char *dsn_addr_strip(const char *s, size_t *len)
{
	size_t n = strnlen(s, DSN_ADDR_MAX + 3);

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
	}
	*len = n;
	return s;
}

/* True for an RFC 6533 QCHAR: printable ASCII but space, '\', '+', '='. */
static int is_qchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '\\' && c != '+' && c != '=';
}

/* Append an address for a report field and the text part: "rfc822; a" when
 * it is ASCII, else "utf-8; " with the RFC 6533 7-bit form (\x{HEX}).
 * Controls and invalid UTF-8 become '?'; at most DSN_ADDR_MAX octets in. */
void dsn_enc_addr(struct bmx_buf *b, const char *addr, int with_type)
{
	size_t n, i;
	const unsigned char *s = (const unsigned char *)dsn_addr_strip(addr, &n);

	if (n > DSN_ADDR_MAX)
		n = DSN_ADDR_MAX;
	if (!smtp_has_8bit(s, n)) {
		if (with_type)
			bmx_buf_str(b, "rfc822; ");
		for (i = 0; i < n; i++)
			bmx_buf_ch(b, s[i] < 0x20 || s[i] == 0x7f ? '?' : (char)s[i]);
		return;
	}
	if (with_type)
		bmx_buf_str(b, "utf-8; ");
	for (i = 0; i < n;) {
		uint32_t cp;
		size_t l;

		if (s[i] < 0x80) {
			if (s[i] < 0x20 || s[i] == 0x7f)
				bmx_buf_ch(b, '?');
			else if (is_qchar(s[i]))
				bmx_buf_ch(b, (char)s[i]);
			else
				bmx_buf_fmt(b, "\\x{%X}", (unsigned)s[i]);
			i++;
			continue;
		}
		l = smtp_utf8_len(s + i, n - i, &cp);
		if (l == 0) {
			bmx_buf_ch(b, '?');
			i++;
			continue;
		}
		bmx_buf_fmt(b, "\\x{%X}", (unsigned)cp);
		i += l;
	}
}

/* Append the sender for the To: header: controls and invalid UTF-8 become
 * '?', valid UTF-8 stays (RFC 6532). */
void dsn_raw_addr(struct bmx_buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l;

		if (u[i] < 0x80) {
			bmx_buf_ch(b, u[i] < 0x20 || u[i] == 0x7f ? '?' : (char)u[i]);
			i++;
			continue;
		}
		l = smtp_utf8_len(u + i, n - i, &cp);
		if (l == 0) {
			bmx_buf_ch(b, '?');
			i++;
		} else {
			bmx_buf_add(b, u + i, l);
			i += l;
		}
	}
}

/* True if s is 1..max octets of [A-Za-z0-9] and the characters in extra. */
int dsn_token_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c) != NULL))
			return 0;
	}
	return 1;
}

/* Parse 1-3 digits without a leading zero (RFC 3463); the count or 0. */
static size_t status_num(const char *s)
{
	size_t i = 0;

	while (i < 4 && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == 0 || i > 3 || (i > 1 && s[0] == '0'))
		return 0;
	return i;
}

/* Write the Status for action a: the caller's code when it is a valid
 * x.y.z, else x.0.0, with the class forced to match the action. */
void dsn_status_fix(const char *in, enum dsn_action a, char out[DSN_STATUS_LEN])
{
	char cls = a == DSN_FAILED ? '5' : a == DSN_DELAYED ? '4' : '2';
	size_t s, d;

	if (in != NULL && (in[0] == '2' || in[0] == '4' || in[0] == '5') && in[1] == '.' &&
	    (s = status_num(in + 2)) > 0 && in[2 + s] == '.' &&
	    (d = status_num(in + 3 + s)) > 0 && in[3 + s + d] == '\0') {
		memcpy(out, in, 3 + s + d + 1);
		out[0] = cls;
		return;
	}
	snprintf(out, DSN_STATUS_LEN, "%c.0.0", cls);
}

/* Format t as an RFC 5322 date-time in UTC; 0, or -1 outside years 1900-9999. */
int dsn_fmt_date(time_t t, char out[DSN_DATE_LEN])
{
	static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 0 || tm.tm_year > 8099 ||
	    tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
		return -1;
	snprintf(out, DSN_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d +0000", wday[tm.tm_wday],
		 tm.tm_mday % 100, mon[tm.tm_mon], (tm.tm_year + 1900) % 10000, tm.tm_hour % 100,
		 tm.tm_min % 100, tm.tm_sec % 100);
	return 0;
}

/* Index of the first octet of s[from..n) that is not a space (n if none). */
static size_t skip_sp(const char *s, size_t from, size_t n)
{
	while (from < n && s[from] == ' ')
		from++;
	return from;
}

/* Emit the logical header line s[0..n) (no CR/LF in it) folded: before a
 * space once the line would pass DSN_FOLD_AT, never before index keep, and
 * cut hard with CRLF SP only when a run without spaces passes DSN_LINE_MAX. */
static void emit_folded(struct bmx_buf *b, const char *s, size_t n, size_t keep)
{
	size_t col = 0;

	while (col + n > DSN_FOLD_AT) {
		size_t soft = DSN_FOLD_AT - col, hard = DSN_LINE_MAX - col, cut = 0, i;

		for (i = soft < n ? soft : n - 1; i > keep; i--) {
			if (s[i] == ' ') {
				cut = i;
				break;
			}
		}
		for (i = (soft > keep ? soft : keep) + 1; cut == 0 && i < n && i <= hard; i++)
			if (s[i] == ' ')
				cut = i;
		if (cut == 0) {
			if (n <= hard)
				break;
			bmx_buf_add(b, s, hard);
			bmx_buf_add(b, "\r\n ", 3);
			s += hard;
			n -= hard;
			col = 1;
			keep = skip_sp(s, 0, n);
			continue;
		}
		bmx_buf_add(b, s, cut);
		bmx_buf_crlf(b);
		s += cut;
		n -= cut;
		col = 0;
		keep = skip_sp(s, 0, n);
	}
	bmx_buf_add(b, s, n);
	bmx_buf_crlf(b);
}

/* Emit the field "name: " + the contents of val, folded, and clear val. */
void dsn_emit_field(struct bmx_buf *b, const char *name, struct bmx_buf *val)
{
	struct bmx_buf line = BMX_BUF_INIT;

	bmx_buf_str(&line, name);
	bmx_buf_str(&line, ": ");
	if (val->len > 0)
		bmx_buf_add(&line, val->p, val->len);
	if (line.err || val->err)
		b->err = 1;
	else
		emit_folded(b, line.p, line.len, strlen(name) + 2);
	bmx_buf_free(&line);
	bmx_buf_clear(val);
}

/* Emit the field "name: value" for our own short value. */
void dsn_emit_field_str(struct bmx_buf *b, const char *name, const char *value)
{
	struct bmx_buf v = BMX_BUF_INIT;

	bmx_buf_str(&v, value);
	dsn_emit_field(b, name, &v);
	bmx_buf_free(&v);
}

/* Emit text s[0..n) (no CR/LF) word-wrapped at DSN_WRAP_AT, each line
 * starting with indent spaces, words longer than a line cut hard. */
static void emit_wrapped(struct bmx_buf *b, const char *s, size_t n, size_t indent)
{
	size_t i = skip_sp(s, 0, n), col = 0;

	if (indent > DSN_WRAP_AT / 2)
		indent = DSN_WRAP_AT / 2;
	while (i < n) {
		size_t w = i, wl;

		while (w < n && s[w] != ' ')
			w++;
		wl = w - i;
		if (col > indent && col + 1 + wl > DSN_WRAP_AT) {
			bmx_buf_crlf(b);
			col = 0;
		}
		if (col == 0) {
			for (size_t k = 0; k < indent; k++)
				bmx_buf_ch(b, ' ');
			col = indent;
		} else {
			bmx_buf_ch(b, ' ');
			col++;
		}
		while (wl > DSN_LINE_MAX - col) {
			size_t part = DSN_LINE_MAX - col;

			bmx_buf_add(b, s + i, part);
			bmx_buf_crlf(b);
			for (size_t k = 0; k < indent; k++)
				bmx_buf_ch(b, ' ');
			col = indent;
			i += part;
			wl -= part;
		}
		bmx_buf_add(b, s + i, wl);
		col += wl;
		i = skip_sp(s, w, n);
	}
	if (col > 0)
		bmx_buf_crlf(b);
}

/* Emit the contents of t as wrapped text and clear t. */
void dsn_emit_text(struct bmx_buf *b, struct bmx_buf *t, size_t indent)
{
	if (t->err)
		b->err = 1;
	else if (t->len > 0)
		emit_wrapped(b, t->p, t->len, indent);
	bmx_buf_clear(t);
}
