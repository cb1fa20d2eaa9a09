/*
 * addr.c - the mail address parser, with every relay trick refused.
 *
 * smtp_addr_parse() takes a reverse- or forward-path "<...>" (RFC 5321
 * 4.1.2): the angle brackets are required, a source route "@a,@b:" is
 * checked and stripped, the local part is a dot-atom or a quoted string, the
 * domain is LDH labels (U-labels with SMTPUTF8, converted to A-labels with
 * libidn2) or, for senders only, an address literal.  It fails closed: the
 * % hack, bang paths, quoted local parts holding @ % or !, "u@d@h", empty
 * domains or labels, control characters, invalid UTF-8 and over-long parts
 * are all refused with the reply the server should send.
 */
#include "smtp/smtp.h"
#include "smtp/xtext.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ADDR_LABEL_MAX    63    /* octets in one DNS label */
#define ADDR_LITERAL_MAX  64    /* text inside [...] we are willing to parse */

static const struct smtp_err ERR_SYNTAX = { 501, "5.1.3", "bad address syntax" };
static const struct smtp_err ERR_BRACKETS = { 501, "5.1.3", "address must be in <>" };
static const struct smtp_err ERR_TOO_LONG = { 501, "5.1.3", "address too long" };
static const struct smtp_err ERR_LOCAL_LONG = { 501, "5.1.3", "local part too long" };
static const struct smtp_err ERR_DOMAIN_LONG = { 501, "5.1.3", "domain too long" };
static const struct smtp_err ERR_NO_LOCAL = { 501, "5.1.3", "missing local part" };
static const struct smtp_err ERR_NO_DOMAIN = { 501, "5.1.3", "missing domain" };
static const struct smtp_err ERR_NULL = { 501, "5.1.3", "null address not allowed here" };
static const struct smtp_err ERR_ROUTE = { 501, "5.1.3", "bad source route" };
static const struct smtp_err ERR_DOMAIN = { 501, "5.1.3", "bad domain syntax" };
static const struct smtp_err ERR_BAD_LITERAL = { 501, "5.1.3", "bad address literal" };
static const struct smtp_err ERR_BAD_UTF8 = { 501, "5.1.3", "invalid UTF-8 in address" };
static const struct smtp_err ERR_IDN = { 501, "5.1.3", "invalid internationalized domain" };
static const struct smtp_err ERR_PERCENT = { 553, "5.7.1", "percent hack not allowed" };
static const struct smtp_err ERR_BANG = { 553, "5.7.1", "bang path not allowed" };
static const struct smtp_err ERR_QUOTED = {
	553, "5.7.1", "quoted local part holding @, % or ! not allowed"
};
static const struct smtp_err ERR_MULTI_AT = { 553, "5.7.1", "multiple @ not allowed" };
static const struct smtp_err ERR_LITERAL = { 553, "5.7.1", "address literals not allowed" };
static const struct smtp_err ERR_UTF8 = { 553, "5.6.7", "non-ASCII address requires SMTPUTF8" };

/* Return 1 for an ASCII letter or digit. */
static int is_alnum(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Return 1 for RFC 5322 atext, minus % and ! which we refuse. */
static int is_atext(uint8_t c)
{
	return is_alnum(c) || (c != '\0' && strchr("#$&'*+-/=?^_`{|}~", c) != NULL);
}

/* ASCII-only lower-casing, independent of the locale. */
static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Length of the valid UTF-8 sequence at p[0..n) (n > 0), 0 if invalid:
 * smtp_utf8_len()'s rules, and no C1 controls (U+0080-U+009F) either. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len = smtp_utf8_len(p, n, &cp);
	return len > 1 && cp < 0xa0 ? 0 : len;
}

/* Check a non-ASCII byte run at p[0..n): 0 and its length in *step, or -1. */
static int utf8_step(const uint8_t *p, size_t n, unsigned flags, size_t *step,
		     struct smtp_err *err)
{
	if (!(flags & SMTP_ADDR_ALLOW_UTF8)) {
		*err = ERR_UTF8;
		return -1;
	}
	*step = utf8_len(p, n);
	if (*step == 0) {
		*err = ERR_BAD_UTF8;
		return -1;
	}
	return 0;
}

/* Parse a quoted-string local part at m[0..n) (m[0] is '"'): qtextSMTP /
 * quoted-pairSMTP (RFC 5321 4.1.2); set *end past it; 0, or -1 with *err. */
static int parse_quoted_local(const uint8_t *m, size_t n, unsigned flags, size_t *end,
			      int *utf8, struct smtp_err *err)
{
	size_t i, step;

	for (i = 1;; i++) {
		uint8_t c;

		if (i >= n) {
			*err = ERR_SYNTAX;
			return -1;
		}
		c = m[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (i + 1 >= n || m[i + 1] < 32 || m[i + 1] > 126) {
				*err = ERR_SYNTAX;
				return -1;
			}
			c = m[++i];
		} else if (c >= 0x80) {
			if (utf8_step(m + i, n - i, flags, &step, err) < 0)
				return -1;
			*utf8 = 1;
			i += step - 1;
			continue;
		} else if (c < 32 || c > 126) {
			*err = ERR_SYNTAX;
			return -1;
		}
		if (c == '@' || c == '%' || c == '!') {
			*err = ERR_QUOTED;
			return -1;
		}
	}
	if (i == 1) {
		*err = ERR_NO_LOCAL;    /* "" */
		return -1;
	}
	*end = i + 1;
	return 0;
}

/* Parse a local part at m[0..n): a quoted string or a dot-string; set *end
 * past it; 0, or -1 with *err. */
static int parse_local(const uint8_t *m, size_t n, unsigned flags, size_t *end, int *utf8,
		       struct smtp_err *err)
{
	size_t i = 0, step;
	int prev_dot = 1;

	if (n == 0 || m[0] == '@') {
		*err = ERR_NO_LOCAL;
		return -1;
	}
	if (m[0] == '"')
		return parse_quoted_local(m, n, flags, end, utf8, err);
	/* Dot-string */
	while (i < n && m[i] != '@') {
		uint8_t c = m[i];

		if (c == '.') {
			if (prev_dot) {
				*err = ERR_SYNTAX;      /* leading dot or ".." */
				return -1;
			}
			prev_dot = 1;
			i++;
		} else if (c == '%') {
			*err = ERR_PERCENT;
			return -1;
		} else if (c == '!') {
			*err = ERR_BANG;
			return -1;
		} else if (c >= 0x80) {
			if (utf8_step(m + i, n - i, flags, &step, err) < 0)
				return -1;
			*utf8 = 1;
			prev_dot = 0;
			i += step;
		} else if (is_atext(c)) {
			prev_dot = 0;
			i++;
		} else {
			*err = ERR_SYNTAX;      /* space, controls, NUL, specials */
			return -1;
		}
	}
	if (prev_dot) {
		*err = ERR_SYNTAX;              /* trailing dot */
		return -1;
	}
	*end = i;
	return 0;
}

/* Check an LDH (or, with UTF-8, U-label) domain d[0..n); *nonascii is set
 * when it holds UTF-8.  Returns 0, or -1 with *err. */
static int check_domain(const uint8_t *d, size_t n, unsigned flags, int *nonascii,
			struct smtp_err *err)
{
	size_t i = 0, lstart = 0, step;
	int numeric = 1, label_ascii = 1;

	*nonascii = 0;
	if (n == 0) {
		*err = ERR_NO_DOMAIN;
		return -1;
	}
	if (n > SMTP_DOMAIN_MAX) {
		*err = ERR_DOMAIN_LONG;
		return -1;
	}
	for (;;) {
		if (i == n || d[i] == '.') {
			size_t llen = i - lstart;

			if (llen == 0 || d[lstart] == '-' || d[i - 1] == '-' ||
			    (label_ascii && llen > ADDR_LABEL_MAX)) {
				*err = ERR_DOMAIN;  /* empty label, bad hyphen, long label */
				return -1;
			}
			if (i == n)
				break;
			i++;
			lstart = i;
			numeric = 1;
			label_ascii = 1;
			continue;
		}
		if (d[i] >= 0x80) {
			if (utf8_step(d + i, n - i, flags, &step, err) < 0)
				return -1;
			*nonascii = 1;
			label_ascii = 0;
			numeric = 0;
			i += step;
			continue;
		}
		if (d[i] == '@') {
			*err = ERR_MULTI_AT;
			return -1;
		}
		if (!is_alnum(d[i]) && d[i] != '-') {
			*err = ERR_DOMAIN;
			return -1;
		}
		if (d[i] < '0' || d[i] > '9')
			numeric = 0;
		i++;
	}
	if (numeric) {
		*err = ERR_DOMAIN;      /* all-numeric top label: an IP address in disguise */
		return -1;
	}
	return 0;
}

/* Parse an address literal d[0..n) ("[1.2.3.4]", "[IPv6:...]") into out. */
static int parse_literal(const uint8_t *d, size_t n, struct smtp_addr *out, struct smtp_err *err)
{
	char buf[ADDR_LITERAL_MAX + 1];
	unsigned char bin[16];
	const char *ip;
	size_t i, cn;
	int af;

	if (n < 3 || d[n - 1] != ']' || n - 2 > ADDR_LITERAL_MAX) {
		*err = ERR_BAD_LITERAL;
		return -1;
	}
	cn = n - 2;
	for (i = 0; i < cn; i++) {
		if (d[1 + i] < 33 || d[1 + i] > 126) {
			*err = ERR_BAD_LITERAL;
			return -1;
		}
	}
	memcpy(buf, d + 1, cn);
	buf[cn] = '\0';
	if (cn > 5 && strncasecmp(buf, "IPv6:", 5) == 0) {
		af = AF_INET6;
		ip = buf + 5;
	} else {
		af = AF_INET;
		ip = buf;
	}
	if (inet_pton(af, ip, bin) != 1) {
		*err = ERR_BAD_LITERAL;
		return -1;
	}
	for (i = 0; i < n; i++)
		out->domain[i] = lower((char)d[i]);
	out->domain[n] = '\0';
	out->literal = 1;
	return 0;
}

/* Check, IDN-convert and store the domain d[0..n) into out. */
static int parse_domain(const uint8_t *d, size_t n, unsigned flags, struct smtp_addr *out,
			struct smtp_err *err)
{
	char ubuf[SMTP_DOMAIN_MAX + 1];
	char *ace = NULL;
	size_t i, alen;
	int nonascii, dummy;

	if (n > 0 && d[0] == '[') {
		if (memchr(d, '@', n) != NULL) {
			*err = ERR_MULTI_AT;
			return -1;
		}
		if (!(flags & SMTP_ADDR_ALLOW_LITERAL)) {
			*err = ERR_LITERAL;
			return -1;
		}
		return parse_literal(d, n, out, err);
	}
	if (check_domain(d, n, flags, &nonascii, err) < 0)
		return -1;
	if (!nonascii) {
		for (i = 0; i < n; i++)
			out->domain[i] = lower((char)d[i]);
		out->domain[n] = '\0';
		return 0;
	}
	memcpy(ubuf, d, n);
	ubuf[n] = '\0';
	/* Not IDN2_USE_STD3_ASCII_RULES: libidn2 2.3 then silently drops
	 * characters ("a\uff20b" became "ab").  Without it a fullwidth '@' maps
	 * to '@', which the strict check of the result below refuses. */
	if (idn2_to_ascii_8z(ubuf, &ace, IDN2_NONTRANSITIONAL) != IDN2_OK || ace == NULL) {
		idn2_free(ace);
		*err = ERR_IDN;
		return -1;
	}
	/* the mapping may have produced anything: check the result again */
	alen = strlen(ace);
	if (check_domain((const uint8_t *)ace, alen, 0, &dummy, err) < 0) {
		idn2_free(ace);
		if (err->code != 553 || strcmp(err->enh, "5.7.1") != 0)
			*err = ERR_IDN;
		return -1;
	}
	for (i = 0; i < alen; i++)
		out->domain[i] = lower(ace[i]);
	out->domain[alen] = '\0';
	idn2_free(ace);
	out->utf8 = 1;
	return 0;
}

/* Check and skip a source route "@a,@b:" at p[0..n); *skip is its length. */
static int skip_route(const uint8_t *p, size_t n, size_t *skip, struct smtp_err *err)
{
	size_t i = 0, start;
	int nonascii;

	for (;;) {
		if (i >= n || p[i] != '@') {
			*err = ERR_ROUTE;
			return -1;
		}
		start = ++i;
		while (i < n && p[i] != ',' && p[i] != ':')
			i++;
		if (i >= n || check_domain(p + start, i - start, 0, &nonascii, err) < 0) {
			*err = ERR_ROUTE;
			return -1;
		}
		if (p[i++] == ':')
			break;
	}
	*skip = i;
	return 0;
}

/* Parse a reverse/forward path; see smtp.h. */
int smtp_addr_parse(const char *s, size_t len, unsigned flags, struct smtp_addr *out,
		    struct smtp_err *err)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n, skip = 0, lend = 0;

	memset(out, 0, sizeof(*out));
	if (len > SMTP_PATH_MAX) {
		*err = ERR_TOO_LONG;
		return -1;
	}
	if (len < 2 || p[0] != '<' || p[len - 1] != '>') {
		*err = ERR_BRACKETS;
		return -1;
	}
	p++;
	n = len - 2;
	if (n == 0) {
		if (!(flags & SMTP_ADDR_ALLOW_EMPTY)) {
			*err = ERR_NULL;
			return -1;
		}
		out->null_path = 1;
		return 0;
	}
	if (p[0] == '@') {
		if (skip_route(p, n, &skip, err) < 0)
			return -1;
		p += skip;
		n -= skip;
	}
	if (parse_local(p, n, flags, &lend, &out->utf8, err) < 0)
		return -1;
	if (lend > SMTP_LOCAL_MAX) {
		*err = ERR_LOCAL_LONG;
		return -1;
	}
	if (lend == n) {
		*err = ERR_NO_DOMAIN;
		return -1;
	}
	if (p[lend] != '@') {
		*err = ERR_SYNTAX;
		return -1;
	}
	if (parse_domain(p + lend + 1, n - lend - 1, flags, out, err) < 0) {
		out->utf8 = 0;
		return -1;
	}
	/* what we will send on, "<local@A-label>", must fit in a path too */
	if (lend + 1 + strlen(out->domain) + 2 > SMTP_PATH_MAX) {
		memset(out, 0, sizeof(*out));
		*err = ERR_TOO_LONG;
		return -1;
	}
	memcpy(out->local, p, lend);
	out->local[lend] = '\0';
	return 0;
}

/* Format "local@domain" into buf, or "" if it does not fit; returns buf. */
const char *smtp_addr_str(const struct smtp_addr *a, char *buf, size_t len)
{
	int n;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (a->null_path)
		return buf;
	n = snprintf(buf, len, "%s@%s", a->local, a->domain);
	if (n < 0 || (size_t)n >= len)
		buf[0] = '\0';
	return buf;
}
