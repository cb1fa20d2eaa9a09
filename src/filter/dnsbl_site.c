/*
 * dnsbl_site.c - parse dnsbl_sites entries, match DNSBL answers against
 *                their filters, and build DNSBL query names.
 *
 * The syntax is Postfix's postscreen_dnsbl_sites (see dnsbl_site.h for the
 * grammar); where Postfix is lax this file is strict and fails closed:
 *   - a reversed range ("[9..3]") is refused, as Postfix's ip_match does;
 *   - "[]", an unclosed "[", a fifth field, text after the filter or the
 *     weight, or white space inside the entry is refused;
 *   - [] around the whole filter ("=[127.0.0.2]", an undocumented ip_match
 *     quirk) is refused;
 *   - the domain may not hold "_" (Postfix's valid_hostname allows it);
 *   - the weight is an optional sign and decimal digits only, within
 *     +-DNSBL_WEIGHT_MAX (Postfix takes any sscanf("%d") int).
 * Numbers may have leading zeros ("007"), as in Postfix.  A weight of 0 is
 * accepted (the entry then counts for nothing).
 *
 * A parse works on a local copy and only a complete entry reaches the
 * caller: on failure *out is zeroed.  Pure functions, no state, thread-safe.
 */
#include "filter/dnsbl_site.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DNSBL_LABEL_MAX   63    /* octets in one domain label */
#define DNSBL_DOMAIN_MAX  253   /* octets in a domain, no trailing dot */
#define DNSBL_OCTETS      4     /* fields of a filter, octets of an A answer */
#define DNSBL_ERR_NEAR    24    /* octets of the entry quoted in a message */

/* A cursor over the trimmed entry. */
struct cur {
	const char *s;
	size_t n;
	size_t i;
};

/* Is c white space that may surround an entry? */
static int dnsbl_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Is c an ASCII decimal digit? */
static int dnsbl_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The octet at the cursor, or '\0' at the end (NUL inside is never valid). */
static char cur_peek(const struct cur *c)
{
	return c->i < c->n ? c->s[c->i] : '\0';
}

/* Write "why, at column N near "..."" into err (when there is one). */
static void dnsbl_err(char *err, size_t errlen, const struct cur *c, const char *fmt, ...)
{
	char why[160], near[DNSBL_ERR_NEAR * 4 + 1];
	size_t o = 0;
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (c == NULL) {
		snprintf(err, errlen, "%s", why);
		return;
	}
	for (size_t k = c->i; k < c->n && k < c->i + DNSBL_ERR_NEAR; k++) {
		unsigned char ch = (unsigned char)c->s[k];

		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			near[o++] = (char)ch;
		else
			o += (size_t)snprintf(near + o, sizeof(near) - o, "\\x%02x", ch);
	}
	near[o] = '\0';
	if (c->i >= c->n)
		snprintf(err, errlen, "%s, at the end of the entry", why);
	else
		snprintf(err, errlen, "%s, at column %zu near \"%s\"", why, c->i + 1, near);
}

/* Lower-case and check domain d[0..n) into out (256 octets); 0, or -1 with
 * why and the offset of the fault in *at. */
static int dnsbl_domain_check(const char *d, size_t n, char *out, const char **why, size_t *at)
{
	size_t label = 0;
	int numeric = 1;

	*at = 0;
	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0) {
		*why = "empty domain";
		return -1;
	}
	if (n > DNSBL_DOMAIN_MAX) {
		*why = "domain longer than 253 octets";
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		char ch = d[k];

		*at = k;
		if (ch == '.') {
			if (label == 0) {
				*why = "empty label in domain";
				return -1;
			}
			if (d[k - 1] == '-') {
				*why = "domain label ends with \"-\"";
				return -1;
			}
			label = 0;
		} else if (ch == '-' || dnsbl_is_digit(ch) || (ch >= 'a' && ch <= 'z') ||
			   (ch >= 'A' && ch <= 'Z')) {
			if (ch == '-' && label == 0) {
				*why = "domain label starts with \"-\"";
				return -1;
			}
			if (++label > DNSBL_LABEL_MAX) {
				*why = "domain label longer than 63 octets";
				return -1;
			}
			if (!dnsbl_is_digit(ch))
				numeric = 0;
		} else {
			*why = "invalid character in domain";
			return -1;
		}
		out[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
	}
	*at = n;
	if (label == 0) {
		*why = "empty label in domain";
		return -1;
	}
	if (d[n - 1] == '-') {
		*why = "domain label ends with \"-\"";
		return -1;
	}
	*at = 0;
	if (numeric) {
		*why = "numeric domain (an address is not a DNSBL zone)";
		return -1;
	}
	out[n] = '\0';
	return 0;
}

/* Read a decimal octet (0-255) at the cursor into *v; 0, or -1 with err set. */
static int dnsbl_read_octet(struct cur *c, unsigned *v, char *err, size_t errlen)
{
	unsigned val = 0;
	size_t start = c->i;

	if (!dnsbl_is_digit(cur_peek(c))) {
		dnsbl_err(err, errlen, c, "bad filter: need a number 0..255");
		return -1;
	}
	while (dnsbl_is_digit(cur_peek(c))) {
		val = val * 10 + (unsigned)(c->s[c->i] - '0');
		if (val > 255) {
			c->i = start;
			dnsbl_err(err, errlen, c, "bad filter: number greater than 255");
			return -1;
		}
		c->i++;
	}
	*v = val;
	return 0;
}

/* Set bits lo..hi of an octet pattern. */
static void dnsbl_octet_set(struct dnsbl_octet *o, unsigned lo, unsigned hi)
{
	for (unsigned v = lo; v <= hi; v++)
		o->bits[v >> 3] |= (uint8_t)(1u << (v & 7));
}

/* Parse one "[item;item...]" list after its "[" into o; 0, or -1. */
static int dnsbl_parse_list(struct cur *c, struct dnsbl_octet *o, char *err, size_t errlen)
{
	for (size_t items = 1;; items++) {
		size_t start = c->i;
		unsigned lo, hi;

		if (items > DNSBL_FILTER_MAX) {
			dnsbl_err(err, errlen, c, "bad filter: more than %d items in one [...] list",
				  DNSBL_FILTER_MAX);
			return -1;
		}
		if (dnsbl_read_octet(c, &lo, err, errlen) < 0)
			return -1;
		hi = lo;
		if (cur_peek(c) == '.') {
			c->i++;
			if (cur_peek(c) != '.') {
				dnsbl_err(err, errlen, c, "bad filter: need \"..\" in a range");
				return -1;
			}
			c->i++;
			if (dnsbl_read_octet(c, &hi, err, errlen) < 0)
				return -1;
			if (hi < lo) {
				c->i = start;
				dnsbl_err(err, errlen, c, "bad filter: reversed range %u..%u", lo, hi);
				return -1;
			}
		}
		dnsbl_octet_set(o, lo, hi);
		if (cur_peek(c) == ']') {
			c->i++;
			return 0;
		}
		if (cur_peek(c) != ';') {
			dnsbl_err(err, errlen, c, "bad filter: need \";\" or \"]\"");
			return -1;
		}
		c->i++;
	}
}

/* Parse the four fields of a filter at the cursor into f; 0, or -1. */
static int dnsbl_parse_filter(struct cur *c, struct dnsbl_octet f[4], char *err, size_t errlen)
{
	for (int k = 0; k < DNSBL_OCTETS; k++) {
		if (k > 0) {
			if (cur_peek(c) != '.') {
				dnsbl_err(err, errlen, c, "bad filter: need four fields a.b.c.d");
				return -1;
			}
			c->i++;
		}
		if (cur_peek(c) == '[') {
			c->i++;
			if (dnsbl_parse_list(c, &f[k], err, errlen) < 0)
				return -1;
		} else {
			unsigned v;

			if (dnsbl_read_octet(c, &v, err, errlen) < 0)
				return -1;
			dnsbl_octet_set(&f[k], v, v);
		}
	}
	return 0;
}

/* Parse a weight (sign, digits) that runs to the end; 0, or -1. */
static int dnsbl_parse_weight(struct cur *c, int *w, char *err, size_t errlen)
{
	int neg = 0, val = 0;

	if (cur_peek(c) == '+' || cur_peek(c) == '-')
		neg = c->s[c->i++] == '-';
	if (!dnsbl_is_digit(cur_peek(c))) {
		dnsbl_err(err, errlen, c, "bad weight: need an integer");
		return -1;
	}
	while (dnsbl_is_digit(cur_peek(c))) {
		val = val * 10 + (c->s[c->i] - '0');
		if (val > DNSBL_WEIGHT_MAX) {
			dnsbl_err(err, errlen, c, "bad weight: outside -%d..%d", DNSBL_WEIGHT_MAX,
				  DNSBL_WEIGHT_MAX);
			return -1;
		}
		c->i++;
	}
	if (c->i < c->n) {
		dnsbl_err(err, errlen, c, "bad weight: text after the number");
		return -1;
	}
	*w = neg ? -val : val;
	return 0;
}

/* Parse the trimmed entry at c into site; 0, or -1 with err set. */
static int dnsbl_parse_entry(struct cur *c, struct dnsbl_site *site, char *err, size_t errlen)
{
	const char *why = NULL;
	size_t start = c->i, off = 0;

	while (c->i < c->n && c->s[c->i] != '=' && c->s[c->i] != '*')
		c->i++;
	if (dnsbl_domain_check(c->s + start, c->i - start, site->domain, &why, &off) < 0) {
		struct cur at = { c->s, c->n, start + off };

		dnsbl_err(err, errlen, &at, "bad domain: %s", why);
		return -1;
	}
	site->weight = 1;
	if (cur_peek(c) == '=') {
		c->i++;
		if (c->i >= c->n || c->s[c->i] == '*') {
			dnsbl_err(err, errlen, c, "bad filter: empty after \"=\"");
			return -1;
		}
		if (dnsbl_parse_filter(c, site->filter, err, errlen) < 0)
			return -1;
		site->has_filter = 1;
	}
	if (cur_peek(c) == '*') {
		c->i++;
		return dnsbl_parse_weight(c, &site->weight, err, errlen);
	}
	if (c->i < c->n) {
		dnsbl_err(err, errlen, c, "text after the filter (need \"*weight\" or the end)");
		return -1;
	}
	return 0;
}

/* Parse one dnsbl_sites entry; 0, or -1 with why in err and *out zeroed. */
int dnsbl_site_parse(const char *text, size_t len, struct dnsbl_site *out, char *err, size_t errlen)
{
	struct dnsbl_site site;
	struct cur c;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL) {
		dnsbl_err(err, errlen, NULL, "no place for the result");
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if (text == NULL)
		len = 0;
	while (len > 0 && dnsbl_is_space(text[len - 1]))
		len--;
	while (len > 0 && dnsbl_is_space(*text)) {
		text++;
		len--;
	}
	if (len == 0) {
		dnsbl_err(err, errlen, NULL, "empty dnsbl_sites entry");
		return -1;
	}
	if (len > DNSBL_SITE_TEXT_MAX) {
		dnsbl_err(err, errlen, NULL, "dnsbl_sites entry longer than %d octets",
			  DNSBL_SITE_TEXT_MAX);
		return -1;
	}
	memset(&site, 0, sizeof(site));
	c.s = text;
	c.n = len;
	c.i = 0;
	if (dnsbl_parse_entry(&c, &site, err, errlen) < 0)
		return -1;
	*out = site;
	return 0;
}

/* Is value v in octet pattern o? */
static int dnsbl_octet_has(const struct dnsbl_octet *o, uint8_t v)
{
	return (o->bits[v >> 3] >> (v & 7)) & 1;
}

/* Is a in 127.255.255.0/24, a list's error code? */
int dnsbl_answer_is_error(const uint8_t a[4])
{
	return a != NULL && a[0] == 127 && a[1] == 255 && a[2] == 255;
}

/* Does answer a match the site: its filter, else 127/8 but not the error codes? */
int dnsbl_site_match(const struct dnsbl_site *s, const uint8_t a[4])
{
	if (s == NULL || a == NULL)
		return 0;
	if (!s->has_filter)
		return a[0] == 127 && !dnsbl_answer_is_error(a);
	for (int k = 0; k < DNSBL_OCTETS; k++)
		if (!dnsbl_octet_has(&s->filter[k], a[k]))
			return 0;
	return 1;
}

/* Write the reversed labels of sa's address into out (at least 65 octets); 0, or -1. */
static int dnsbl_reverse(const struct sockaddr *sa, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *b;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		b = (const uint8_t *)&sin->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		b = sin6->sin6_addr.s6_addr;
		if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			size_t o = 0;

			for (int k = 15; k >= 0; k--) {
				out[o++] = hex[b[k] & 15];
				out[o++] = '.';
				out[o++] = hex[b[k] >> 4];
				out[o++] = '.';
			}
			out[o] = '\0';
			return 0;
		}
		b += 12;
	} else {
		return -1;
	}
	snprintf(out, len, "%u.%u.%u.%u.", b[3], b[2], b[1], b[0]);
	return 0;
}

/* Build the DNSBL query name for sa under zone into out; 0, or -1. */
int dnsbl_query_name(const struct sockaddr *sa, const char *zone, char *out, size_t len)
{
	char rev[16 * 4 + 1], z[DNSBL_DOMAIN_MAX + 3];
	const char *why = NULL;
	size_t rl, zl, off = 0;

	if (out != NULL && len > 0)
		out[0] = '\0';
	if (sa == NULL || zone == NULL || out == NULL)
		return -1;
	zl = strnlen(zone, DNSBL_DOMAIN_MAX + 2);
	if (zl > DNSBL_DOMAIN_MAX + 1 || dnsbl_domain_check(zone, zl, z, &why, &off) < 0)
		return -1;
	if (dnsbl_reverse(sa, rev, sizeof(rev)) < 0)
		return -1;
	rl = strlen(rev);
	zl = strlen(z);
	if (rl + zl > DNSBL_QUERY_NAME_MAX || rl + zl >= len)
		return -1;
	memcpy(out, rev, rl);
	memcpy(out + rl, z, zl + 1);
	return 0;
}
