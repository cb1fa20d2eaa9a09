/*
 * xtext.c - RFC 3461 xtext, ENVID and ORCPT checks; UTF-8 and 8-bit tests.
 *
 * The one copy of these rules (see xtext.h for the grammar).  Callers:
 * smtp_parse_mail() and smtp_parse_rcpt() refuse what fails here (501
 * 5.5.4); dsn_build() leaves out an ENVID or ORCPT that fails here; the
 * spool's field decoder and the DSN's address encoder use the hex digit,
 * UTF-8 and 8-bit helpers.  Pure functions, no state, thread-safe.
 */
#include "smtp/xtext.h"

#include <string.h>

#include "smtp/smtp.h"

#define XTEXT_DECODED_MIN 0x20   /* lowest octet a "+XX" may decode to (SP) */
#define XTEXT_DECODED_MAX 0x7e   /* highest ("~"): no DEL, no 8-bit octets */

/* Value (0-15) of an upper-case hex digit, else -1. */
int smtp_xtext_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Is c an xchar: an octet 33-126 but '+' and '='? */
static int xchar_ok(char c)
{
	return c >= 33 && c <= 126 && c != '+' && c != '=';
}

/* Is s[0..n) non-empty xtext with every "+XX" decoding to 0x20-0x7e? */
int smtp_xtext_ok(const char *s, size_t n)
{
	if (s == NULL || n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int h1, h2, v;

		if (s[i] != '+') {
			if (!xchar_ok(s[i]))
				return 0;
			continue;
		}
		if (i + 2 >= n)
			return 0;
		h1 = smtp_xtext_hexval(s[i + 1]);
		h2 = smtp_xtext_hexval(s[i + 2]);
		if (h1 < 0 || h2 < 0)
			return 0;
		v = h1 * 16 + h2;
		if (v < XTEXT_DECODED_MIN || v > XTEXT_DECODED_MAX)
			return 0;
		i += 2;
	}
	return 1;
}

/* Is s[0..n) an ENVID: xtext of at most SMTP_ENVID_MAX octets? */
int smtp_envid_ok(const char *s, size_t n)
{
	return n <= SMTP_ENVID_MAX && smtp_xtext_ok(s, n);
}

/* Is c an addr-type character: ASCII letter, digit or '-'? */
static int addr_type_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

/* Is s[0..n) "addr-type;xtext" of at most SMTP_ORCPT_MAX octets? */
int smtp_orcpt_ok(const char *s, size_t n)
{
	size_t i = 0;

	if (s == NULL || n > SMTP_ORCPT_MAX)
		return 0;
	while (i < n && addr_type_char(s[i]))
		i++;
	if (i == 0 || i >= n || s[i] != ';')
		return 0;
	return smtp_xtext_ok(s + i + 1, n - i - 1);
}

/* Length (1-4) of the valid UTF-8 sequence at p[0..n), 0 if invalid. */
size_t smtp_utf8_len(const void *p, size_t n, uint32_t *cp)
{
	const uint8_t *s = p;
	uint32_t c, min;
	size_t len;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		c = s[0];
		len = 1;
		goto done;
	}
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
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
done:
	if (cp != NULL)
		*cp = c;
	return len;
}

/* Does any octet of p[0..n) have its high bit set?  Eight octets a step. */
int smtp_has_8bit(const void *p, size_t n)
{
	const uint8_t *s = p;
	uint64_t acc = 0;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= s[i];
	return (acc & 0x8080808080808080ULL) != 0;
}

/* Encode s as xtext into out; 0, or -1 when it does not fit. */
int smtp_xtext_encode(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int plain = *p >= 33 && *p <= 126 && *p != '+' && *p != '=';
		if (o + (plain ? 1 : 3) >= outlen)
			return -1;
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '+';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}
