/*
 * dsn.c - build delivery status notifications (RFC 3464, 3461, 3463, 3834, 6533).
 *
 * dsn_build() turns the facts of one queued message and the outcome of some
 * of its recipients into a complete multipart/report message: a short
 * human-readable explanation (text/plain, US-ASCII), the machine-readable
 * message/delivery-status part, and the original header section
 * (text/rfc822-headers) or, with RET=FULL, the original message
 * (message/rfc822), cut at DSN_ORIG_MAX on a line boundary.
 *
 * Every string a peer could have chosen (addresses, ORCPT, ENVID, replies,
 * host names, the quoted original) is sanitised on the way in: control
 * characters never reach a header or a report field, non-ASCII addresses
 * use the RFC 6533 "utf-8" type in its 7-bit form, every line ends in CRLF
 * and has at most DSN_LINE_MAX octets (header fields are folded at spaces
 * and cut hard only when there is none), and the MIME boundary is chosen
 * after the content is built, so that it occurs nowhere in it.
 */
#include "relay/dsn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DSN_FOLD_AT     78     /* preferred longest line (RFC 5322 2.1.1) */
#define DSN_WRAP_AT     76     /* longest line of the human-readable text */
#define DSN_DATE_LEN    64     /* room for an RFC 5322 date-time */
#define DSN_STATUS_LEN  16     /* room for "5.123.123" */
#define DSN_BUF_INIT    4096   /* first allocation of an output buffer */
#define DSN_NUM_DIGITS  10     /* digits of a boundary counter we read back */

static const char DSN_PREAMBLE[] = "This is a MIME-encapsulated message.";

/* A growing octet buffer; err sticks once an allocation failed. */
struct dbuf {
	char *p;
	size_t len;
	size_t cap;
	int err;
};

/* Make room for n more octets (plus a NUL); 0 or -1. */
static int db_reserve(struct dbuf *b, size_t n)
{
	size_t cap;
	char *np;

	if (b->err)
		return -1;
	if (n > SIZE_MAX / 4 - b->len) {
		b->err = 1;
		return -1;
	}
	if (b->len + n + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : DSN_BUF_INIT;
	while (cap < b->len + n + 1)
		cap *= 2;
	np = realloc(b->p, cap);
	if (np == NULL) {
		b->err = 1;
		return -1;
	}
	b->p = np;
	b->cap = cap;
	return 0;
}

/* Append n octets. */
static void db_add(struct dbuf *b, const void *s, size_t n)
{
	if (db_reserve(b, n) < 0)
		return;
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Append a NUL-terminated string. */
static void db_str(struct dbuf *b, const char *s)
{
	db_add(b, s, strlen(s));
}

/* Append one octet. */
static void db_ch(struct dbuf *b, char c)
{
	db_add(b, &c, 1);
}

/* Append printf-style text (our own, short, already sanitised strings). */
__attribute__((format(printf, 2, 3)))
static void db_fmt(struct dbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || db_reserve(b, (size_t)n) < 0) {
		b->err = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Append CRLF. */
static void db_crlf(struct dbuf *b)
{
	db_add(b, "\r\n", 2);
}

/* Forget the contents, keep the memory. */
static void db_clear(struct dbuf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

/* Release the memory. */
static void db_free(struct dbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Decode one strict UTF-8 sequence at s[0..n): its length (2-4) or 0. */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c, min;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1fu;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0fu;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07u;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* True if s[0..n) holds an octet >= 0x80. */
static int has_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/* Append free text s (at most max octets out): CR, LF and TAB runs become
 * one space, other controls and non-ASCII octets '?'; trimmed. */
static void san_text(struct dbuf *b, const char *s, size_t max)
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
			db_ch(b, ' ');
			out++;
			pend_sp = 0;
		}
		db_ch(b, c < 0x20 || c >= 0x7f ? '?' : (char)c);
		out++;
	}
}

/* Append a token (host name, xtext): printable ASCII but space, else '?'. */
static void san_token(struct dbuf *b, const char *s, size_t max)
{
	for (size_t i = 0; i < max && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		db_ch(b, c <= 0x20 || c >= 0x7f ? '?' : (char)c);
	}
}

/* Length of an address without one pair of enclosing angle brackets. */
static const char *addr_strip(const char *s, size_t *len)
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
static void enc_addr(struct dbuf *b, const char *addr, int with_type)
{
	size_t n, i;
	const unsigned char *s = (const unsigned char *)addr_strip(addr, &n);

	if (n > DSN_ADDR_MAX)
		n = DSN_ADDR_MAX;
	if (!has_8bit((const char *)s, n)) {
		if (with_type)
			db_str(b, "rfc822; ");
		for (i = 0; i < n; i++)
			db_ch(b, s[i] < 0x20 || s[i] == 0x7f ? '?' : (char)s[i]);
		return;
	}
	if (with_type)
		db_str(b, "utf-8; ");
	for (i = 0; i < n;) {
		uint32_t cp;
		size_t l;

		if (s[i] < 0x80) {
			if (s[i] < 0x20 || s[i] == 0x7f)
				db_ch(b, '?');
			else if (is_qchar(s[i]))
				db_ch(b, (char)s[i]);
			else
				db_fmt(b, "\\x{%X}", (unsigned)s[i]);
			i++;
			continue;
		}
		l = utf8_dec(s + i, n - i, &cp);
		if (l == 0) {
			db_ch(b, '?');
			i++;
			continue;
		}
		db_fmt(b, "\\x{%X}", (unsigned)cp);
		i += l;
	}
}

/* Append the sender for the To: header: controls and invalid UTF-8 become
 * '?', valid UTF-8 stays (RFC 6532). */
static void raw_addr(struct dbuf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l;

		if (u[i] < 0x80) {
			db_ch(b, u[i] < 0x20 || u[i] == 0x7f ? '?' : (char)u[i]);
			i++;
			continue;
		}
		l = utf8_dec(u + i, n - i, &cp);
		if (l == 0) {
			db_ch(b, '?');
			i++;
		} else {
			db_add(b, u + i, l);
			i += l;
		}
	}
}

/* Value of an upper-case hex digit, or -1. */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* True if s[0..n) is RFC 3461 xtext (chars 33-126 but '+' '=', or "+XX"). */
static int xtext_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
				return 0;
			i += 2;
		} else if (s[i] < 33 || s[i] > 126 || s[i] == '=') {
			return 0;
		}
	}
	return 1;
}

/* True if s is "addr-type;xtext" as RFC 3461 ORCPT allows. */
static int orcpt_ok(const char *s)
{
	size_t n = strnlen(s, DSN_ORCPT_MAX + 1), i = 0;

	if (n > DSN_ORCPT_MAX)
		return 0;
	while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			 (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
		i++;
	if (i == 0 || i >= n || s[i] != ';')
		return 0;
	return xtext_ok(s + i + 1, n - i - 1);
}

/* True if s is 1..max octets of [A-Za-z0-9] and the characters in extra. */
static int token_ok(const char *s, size_t max, const char *extra)
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
static void status_fix(const char *in, enum dsn_action a, char out[DSN_STATUS_LEN])
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
static int fmt_date(time_t t, char out[DSN_DATE_LEN])
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
static void emit_folded(struct dbuf *b, const char *s, size_t n, size_t keep)
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
			db_add(b, s, hard);
			db_add(b, "\r\n ", 3);
			s += hard;
			n -= hard;
			col = 1;
			keep = skip_sp(s, 0, n);
			continue;
		}
		db_add(b, s, cut);
		db_crlf(b);
		s += cut;
		n -= cut;
		col = 0;
		keep = skip_sp(s, 0, n);
	}
	db_add(b, s, n);
	db_crlf(b);
}

/* Emit the field "name: " + the contents of val, folded, and clear val. */
static void emit_field(struct dbuf *b, const char *name, struct dbuf *val)
{
	struct dbuf line = { 0 };

	db_str(&line, name);
	db_str(&line, ": ");
	if (val->len > 0)
		db_add(&line, val->p, val->len);
	if (line.err || val->err)
		b->err = 1;
	else
		emit_folded(b, line.p, line.len, strlen(name) + 2);
	db_free(&line);
	db_clear(val);
}

/* Emit the field "name: value" for our own short value. */
static void emit_field_str(struct dbuf *b, const char *name, const char *value)
{
	struct dbuf v = { 0 };

	db_str(&v, value);
	emit_field(b, name, &v);
	db_free(&v);
}

/* Emit text s[0..n) (no CR/LF) word-wrapped at DSN_WRAP_AT, each line
 * starting with indent spaces, words longer than a line cut hard. */
static void emit_wrapped(struct dbuf *b, const char *s, size_t n, size_t indent)
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
			db_crlf(b);
			col = 0;
		}
		if (col == 0) {
			for (size_t k = 0; k < indent; k++)
				db_ch(b, ' ');
			col = indent;
		} else {
			db_ch(b, ' ');
			col++;
		}
		while (wl > DSN_LINE_MAX - col) {
			size_t part = DSN_LINE_MAX - col;

			db_add(b, s + i, part);
			db_crlf(b);
			for (size_t k = 0; k < indent; k++)
				db_ch(b, ' ');
			col = indent;
			i += part;
			wl -= part;
		}
		db_add(b, s + i, wl);
		col += wl;
		i = skip_sp(s, w, n);
	}
	if (col > 0)
		db_crlf(b);
}

/* Emit the contents of t as wrapped text and clear t. */
static void emit_text(struct dbuf *b, struct dbuf *t, size_t indent)
{
	if (t->err)
		b->err = 1;
	else if (t->len > 0)
		emit_wrapped(b, t->p, t->len, indent);
	db_clear(t);
}

/* True if octet c of the quoted original must be replaced: NUL and the C0
 * controls but HT, FF and ESC (ISO-2022-JP needs it), and DEL. */
static int orig_bad(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\f' && c != 0x1b) || c == 0x7f;
}

/* Quote orig[0..n) into b as CRLF lines of at most DSN_LINE_MAX octets
 * (longer lines are cut), DSN_ORIG_MAX octets in all, stopping at the end
 * of the header section when headers_only.  *cut is set when something was
 * left out, *eight when the quote has 8-bit octets. */
static void quote_orig(struct dbuf *b, const uint8_t *p, size_t n, int headers_only, int *cut,
		       int *eight)
{
	size_t i = 0, used = 0;

	while (i < n) {
		size_t s = i, e = i, len;

		while (e < n && p[e] != '\r' && p[e] != '\n')
			e++;
		if (e < n && p[e] == '\r' && e + 1 < n && p[e + 1] == '\n')
			i = e + 2;
		else if (e < n)
			i = e + 1;
		else
			i = n;
		if (headers_only && e == s)
			return;
		len = e - s;
		if (len > DSN_LINE_MAX) {
			len = DSN_LINE_MAX;
			*cut = 1;
		}
		if (used + len + 2 > DSN_ORIG_MAX) {
			*cut = 1;
			return;
		}
		if (db_reserve(b, len + 2) < 0)
			return;
		for (size_t k = 0; k < len; k++) {
			unsigned char c = p[s + k];

			if (c >= 0x80)
				*eight = 1;
			b->p[b->len + k] = orig_bad(c) ? '?' : (char)c;
		}
		b->p[b->len + len] = '\r';
		b->p[b->len + len + 1] = '\n';
		b->len += len + 2;
		b->p[b->len] = '\0';
		used += len + 2;
	}
}

/* True if pat[0..pn) occurs in any of the parts. */
static int occurs(const struct dbuf *parts, size_t np, const char *pat, size_t pn)
{
	for (size_t k = 0; k < np; k++)
		if (parts[k].len > 0 && memmem(parts[k].p, parts[k].len, pat, pn) != NULL)
			return 1;
	return 0;
}

/* Call fn(arg, after, left) for every occurrence of pat in the parts, with
 * the octets that follow it; the number of occurrences. */
static size_t each_occurrence(const struct dbuf *parts, size_t np, const char *pat, size_t pn,
			      void (*fn)(void *, const char *, size_t), void *arg)
{
	size_t count = 0;

	for (size_t k = 0; k < np; k++) {
		const char *p = parts[k].p, *end, *hit;

		if (parts[k].len == 0)
			continue;
		end = p + parts[k].len;
		while ((size_t)(end - p) >= pn &&
		       (hit = memmem(p, (size_t)(end - p), pat, pn)) != NULL) {
			count++;
			if (fn != NULL)
				fn(arg, hit + pn, (size_t)(end - hit) - pn);
			p = hit + 1;
		}
	}
	return count;
}

/* Marks of the boundary counters seen in the content. */
struct counters {
	unsigned char *seen;
	size_t max;
};

/* Mark the counter N when the octets after an occurrence read "N=". */
static void mark_counter(void *arg, const char *s, size_t n)
{
	struct counters *c = arg;
	size_t v = 0, i = 0;

	while (i < n && i < DSN_NUM_DIGITS && s[i] >= '0' && s[i] <= '9')
		v = v * 10 + (size_t)(s[i++] - '0');
	if (i > 0 && i < n && s[i] == '=' && v <= c->max)
		c->seen[v] = 1;
}

/* Pick a boundary that occurs nowhere in the parts: base itself when the
 * caller gave it and it is free, else "base.N=" with the smallest free N
 * (among k occurrences of "base." one of 0..k is always free). */
static int choose_boundary(const struct dbuf *parts, size_t np, const char *base, int given,
			   char out[DSN_BOUNDARY_MAX + 1])
{
	char pre[DSN_BOUNDARY_MAX + 1];
	struct counters c;
	size_t k, v;
	int n;

	if (given && !occurs(parts, np, base, strlen(base))) {
		snprintf(out, DSN_BOUNDARY_MAX + 1, "%s", base);
		return 0;
	}
	n = snprintf(pre, sizeof(pre), "%s.", base);
	if (n < 0 || (size_t)n >= sizeof(pre))
		return -1;
	k = each_occurrence(parts, np, pre, (size_t)n, NULL, NULL);
	c.max = k;
	c.seen = calloc(k + 1, 1);
	if (c.seen == NULL)
		return -1;
	each_occurrence(parts, np, pre, (size_t)n, mark_counter, &c);
	for (v = 0; v <= k && c.seen[v]; v++)
		;
	free(c.seen);
	n = snprintf(out, DSN_BOUNDARY_MAX + 1, "%s%zu=", pre, v);
	if (n < 0 || n > DSN_BOUNDARY_MAX || occurs(parts, np, out, (size_t)n))
		return -1;
	return 0;
}

/* True if s is a boundary base a caller may give: bchars, no space. */
static int boundary_ok(const char *s)
{
	return token_ok(s, DSN_BOUNDARY_BASE_MAX, "'()+_,-./:=?");
}

/* Name of an action as the Action field spells it. */
static const char *action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_FAILED:
		return "failed";
	case DSN_DELAYED:
		return "delayed";
	case DSN_RELAYED:
		return "relayed";
	case DSN_DELIVERED:
		return "delivered";
	case DSN_EXPANDED:
		return "expanded";
	}
	return "failed";
}

/* Check what the caller must get right; 0 or -1. */
static int args_ok(const struct dsn_info *info, const struct dsn_rcpt *rcpts, size_t n,
		   const uint8_t *orig, size_t origlen, char **out, size_t *outlen)
{
	size_t slen;
	char date[DSN_DATE_LEN];

	if (info == NULL || rcpts == NULL || out == NULL || outlen == NULL ||
	    (orig == NULL && origlen > 0) || n == 0 || n > DSN_RCPTS_MAX)
		return -1;
	if (info->reporting_mta == NULL || !token_ok(info->reporting_mta, DSN_HOST_MAX, "-._") ||
	    info->qid == NULL || !token_ok(info->qid, DSN_QID_MAX, "-_") ||
	    info->orig_sender == NULL || fmt_date(info->now, date) < 0)
		return -1;
	if (info->boundary != NULL && !boundary_ok(info->boundary))
		return -1;
	if (strnlen(info->orig_sender, DSN_ADDR_MAX + 3) > DSN_ADDR_MAX + 2)
		return -1;
	addr_strip(info->orig_sender, &slen);
	if (slen == 0 || slen > DSN_ADDR_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (rcpts[i].addr == NULL || (int)rcpts[i].action < (int)DSN_FAILED ||
		    (int)rcpts[i].action > (int)DSN_EXPANDED)
			return -1;
	}
	return 0;
}

/* Build the human-readable part's content. */
static void build_text(struct dbuf *b, const struct dsn_info *info, const struct dsn_rcpt *rcpts,
		       size_t n, int cut)
{
	struct dbuf t = { 0 };
	size_t failed = 0, delayed = 0, good = 0;
	char date[DSN_DATE_LEN];

	for (size_t i = 0; i < n; i++) {
		if (rcpts[i].action == DSN_FAILED)
			failed++;
		else if (rcpts[i].action == DSN_DELAYED)
			delayed++;
		else
			good++;
	}
	db_fmt(b, "This is the mail system at host %s.\r\n\r\n", info->reporting_mta);
	if (failed > 0) {
		db_str(&t, "Your message could not be delivered to one or more recipients. "
		       "The delivery failed permanently and will not be retried.");
		emit_text(b, &t, 0);
		db_crlf(b);
	}
	if (delayed > 0) {
		db_str(&t, "Delivery of your message to one or more recipients is delayed. "
		       "The mail system will keep trying; you do not need to send it again.");
		emit_text(b, &t, 0);
		db_crlf(b);
	}
	if (good > 0) {
		db_str(&t, "Your message was delivered or relayed to one or more recipients, "
		       "as you asked.");
		emit_text(b, &t, 0);
		db_crlf(b);
	}
	db_fmt(b, "Queue ID: %s\r\n", info->qid);
	if (info->arrival != 0 && fmt_date(info->arrival, date) == 0)
		db_fmt(b, "Arrival date: %s\r\n", date);
	db_crlf(b);
	for (size_t i = 0; i < n; i++) {
		const struct dsn_rcpt *r = &rcpts[i];
		char st[DSN_STATUS_LEN];

		status_fix(r->status, r->action, st);
		db_ch(&t, '<');
		enc_addr(&t, r->addr, 0);
		db_fmt(&t, ">: %s, status %s", action_name(r->action), st);
		emit_text(b, &t, 0);
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
			db_str(&t, "host ");
			san_token(&t, r->remote_mta, DSN_HOST_MAX);
			db_str(&t, r->diagnostic != NULL ? " said:" : " was tried");
		}
		if (r->diagnostic != NULL) {
			if (t.len > 0)
				db_ch(&t, ' ');
			san_text(&t, r->diagnostic, DSN_DIAG_MAX);
		}
		emit_text(b, &t, 4);
		if (r->action == DSN_DELAYED && r->will_retry_until != 0 &&
		    fmt_date(r->will_retry_until, date) == 0) {
			db_fmt(&t, "Will retry until %s", date);
			emit_text(b, &t, 4);
		}
		db_crlf(b);
	}
	db_str(&t, info->ret_full ? "The original message is attached."
		   : "The header section of the original message is attached.");
	if (cut)
		db_fmt(&t, " It was shortened: lines over %d octets and everything after the "
		       "first %d octets are left out.", DSN_LINE_MAX, DSN_ORIG_MAX);
	emit_text(b, &t, 0);
	db_crlf(b);
	db_fmt(b, "For help, contact the postmaster of %s and include this report.\r\n",
	       info->reporting_mta);
	if (t.err)
		b->err = 1;
	db_free(&t);
}

/* Build the message/delivery-status part's content. */
static void build_status(struct dbuf *b, const struct dsn_info *info,
			 const struct dsn_rcpt *rcpts, size_t n)
{
	struct dbuf v = { 0 };
	char date[DSN_DATE_LEN];

	if (info->envid != NULL && strnlen(info->envid, DSN_ENVID_MAX + 1) <= DSN_ENVID_MAX &&
	    xtext_ok(info->envid, strlen(info->envid))) {
		db_str(&v, info->envid);
		emit_field(b, "Original-Envelope-Id", &v);
	}
	db_fmt(&v, "dns; %s", info->reporting_mta);
	emit_field(b, "Reporting-MTA", &v);
	db_str(&v, info->qid);
	emit_field(b, "X-Backupmx-Queue-ID", &v);
	if (info->received_from != NULL) {
		db_str(&v, "dns; ");
		san_text(&v, info->received_from, DSN_TEXT_MAX);
		if (v.len > 5)
			emit_field(b, "Received-From-MTA", &v);
		db_clear(&v);
	}
	if (info->arrival != 0 && fmt_date(info->arrival, date) == 0)
		emit_field_str(b, "Arrival-Date", date);
	for (size_t i = 0; i < n; i++) {
		const struct dsn_rcpt *r = &rcpts[i];
		char st[DSN_STATUS_LEN];

		db_crlf(b);
		if (r->orcpt != NULL && orcpt_ok(r->orcpt)) {
			db_str(&v, r->orcpt);
			emit_field(b, "Original-Recipient", &v);
		}
		enc_addr(&v, r->addr, 1);
		emit_field(b, "Final-Recipient", &v);
		emit_field_str(b, "Action", action_name(r->action));
		status_fix(r->status, r->action, st);
		emit_field_str(b, "Status", st);
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
			db_str(&v, "dns; ");
			san_token(&v, r->remote_mta, DSN_HOST_MAX);
			emit_field(b, "Remote-MTA", &v);
		}
		if (r->diagnostic != NULL) {
			db_str(&v, "smtp; ");
			san_text(&v, r->diagnostic, DSN_DIAG_MAX);
			if (v.len > 6)
				emit_field(b, "Diagnostic-Code", &v);
			db_clear(&v);
		}
		if (r->last_attempt != 0 && fmt_date(r->last_attempt, date) == 0)
			emit_field_str(b, "Last-Attempt-Date", date);
		if (r->action == DSN_DELAYED && r->will_retry_until != 0 &&
		    fmt_date(r->will_retry_until, date) == 0)
			emit_field_str(b, "Will-Retry-Until", date);
	}
	if (v.err)
		b->err = 1;
	db_free(&v);
}

/* Subject for the mix of actions reported. */
static const char *subject_for(const struct dsn_rcpt *rcpts, size_t n)
{
	size_t failed = 0, delayed = 0, relayed = 0;

	for (size_t i = 0; i < n; i++) {
		failed += rcpts[i].action == DSN_FAILED;
		delayed += rcpts[i].action == DSN_DELAYED;
		relayed += rcpts[i].action == DSN_RELAYED;
	}
	if (failed > 0)
		return "Undelivered Mail Returned to Sender";
	if (delayed > 0)
		return "Delayed Mail (still being retried)";
	if (relayed == n)
		return "Relayed mail";
	return "Successful Mail Delivery Report";
}

/* Emit the top-level header section. */
static void build_headers(struct dbuf *b, const struct dsn_info *info,
			  const struct dsn_rcpt *rcpts, size_t n, const char *boundary, int eight)
{
	struct dbuf v = { 0 };
	char date[DSN_DATE_LEN];
	const char *s;
	size_t slen;

	fmt_date(info->now, date);
	emit_field_str(b, "Date", date);
	db_fmt(&v, "Mail Delivery System <MAILER-DAEMON@%s>", info->reporting_mta);
	emit_field(b, "From", &v);
	s = addr_strip(info->orig_sender, &slen);
	db_ch(&v, '<');
	raw_addr(&v, s, slen);
	db_ch(&v, '>');
	emit_field(b, "To", &v);
	emit_field_str(b, "Subject", subject_for(rcpts, n));
	db_fmt(&v, "<%s.%lld@%s>", info->qid, (long long)info->now, info->reporting_mta);
	emit_field(b, "Message-ID", &v);
	emit_field_str(b, "Auto-Submitted", "auto-replied");
	emit_field_str(b, "MIME-Version", "1.0");
	db_fmt(&v, "multipart/report; report-type=delivery-status; boundary=\"%s\"", boundary);
	emit_field(b, "Content-Type", &v);
	emit_field_str(b, "Content-Transfer-Encoding", eight ? "8bit" : "7bit");
	if (v.err)
		b->err = 1;
	db_free(&v);
}

/* Build a DSN into a malloc'd buffer (*out, *outlen; caller frees). */
int dsn_build(const struct dsn_info *info, const struct dsn_rcpt *rcpts, size_t n,
	      const uint8_t *orig, size_t origlen, char **out, size_t *outlen)
{
	struct dbuf parts[3] = { { 0 }, { 0 }, { 0 } }, msg = { 0 };
	char base[DSN_BOUNDARY_MAX + 1], boundary[DSN_BOUNDARY_MAX + 1];
	int cut = 0, eight = 0, rc = -1;

	if (args_ok(info, rcpts, n, orig, origlen, out, outlen) < 0)
		return -1;
	*out = NULL;
	*outlen = 0;
	if (origlen > 0)
		quote_orig(&parts[2], orig, origlen, !info->ret_full, &cut, &eight);
	build_text(&parts[0], info, rcpts, n, cut);
	build_status(&parts[1], info, rcpts, n);
	if (parts[0].err || parts[1].err || parts[2].err)
		goto done;
	if (info->boundary != NULL)
		snprintf(base, sizeof(base), "%s", info->boundary);
	else
		snprintf(base, sizeof(base), "=_%s.%lld", info->qid, (long long)info->now);
	if (choose_boundary(parts, 3, base, info->boundary != NULL, boundary) < 0)
		goto done;

	build_headers(&msg, info, rcpts, n, boundary, eight);
	db_crlf(&msg);
	db_fmt(&msg, "%s\r\n", DSN_PREAMBLE);
	db_fmt(&msg, "\r\n--%s\r\n", boundary);
	db_str(&msg, "Content-Description: Notification\r\n"
	       "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	db_add(&msg, parts[0].p, parts[0].len);
	db_fmt(&msg, "\r\n--%s\r\n", boundary);
	db_str(&msg, "Content-Description: Delivery report\r\n"
	       "Content-Type: message/delivery-status\r\n\r\n");
	db_add(&msg, parts[1].p, parts[1].len);
	db_fmt(&msg, "\r\n--%s\r\n", boundary);
	if (info->ret_full)
		db_str(&msg, "Content-Description: Undelivered Message\r\n"
		       "Content-Type: message/rfc822\r\n");
	else
		db_str(&msg, "Content-Description: Undelivered Message Headers\r\n"
		       "Content-Type: text/rfc822-headers\r\n");
	db_str(&msg, eight ? "Content-Transfer-Encoding: 8bit\r\n\r\n" : "\r\n");
	db_add(&msg, parts[2].p, parts[2].len);
	db_fmt(&msg, "\r\n--%s--\r\n", boundary);
	if (msg.err)
		goto done;
	*out = msg.p;
	*outlen = msg.len;
	msg.p = NULL;
	rc = 0;
done:
	for (size_t i = 0; i < 3; i++)
		db_free(&parts[i]);
	db_free(&msg);
	return rc;
}
