/*
 * xtext.h - RFC 3461 xtext, ENVID and ORCPT checks, and the octet-level
 *           helpers (hex digits, UTF-8, 8-bit octets) they share.
 *
 * One rule in one place: the SMTP server (MAIL ENVID=, RCPT ORCPT=), the
 * DSN builder (Original-Envelope-Id, Original-Recipient) and the spool's
 * %XX escapes all use these functions, so what one accepts the others do.
 *
 * The xtext rule (RFC 3461 section 4, strict):
 *   xtext     = 1*( xchar / "+" HEX HEX )
 *   xchar     = any octet 33-126 but "+" and "="
 *   HEX       = "0"-"9" / "A"-"F"   (upper case only, as RFC 3461 says)
 *   and every "+XX" must decode to printable ASCII, 0x20-0x7e: an encoded
 *   CR, LF, NUL, DEL or 8-bit octet is refused, so a decoded ENVID or
 *   ORCPT can never carry a line break or a control character.
 *
 * Everything here is a pure predicate or a pure decoder over a byte range:
 * no I/O, no allocation, never reading past the given length.  Predicates
 * return 1 for yes and 0 for no.
 */
#ifndef BMX_SMTP_XTEXT_H
#define BMX_SMTP_XTEXT_H

#include <stddef.h>
#include <stdint.h>

/* Value (0-15) of an upper-case hex digit ('0'-'9', 'A'-'F'), else -1. */
int smtp_xtext_hexval(char c);

/* Is s[0..n) non-empty RFC 3461 xtext whose "+XX" escapes all decode to
 * printable ASCII (0x20-0x7e)?  1 or 0. */
int smtp_xtext_ok(const char *s, size_t n);

/* Is s[0..n) an ENVID value: xtext of at most SMTP_ENVID_MAX octets?  1 or 0. */
int smtp_envid_ok(const char *s, size_t n);

/* Is s[0..n) an ORCPT value: at most SMTP_ORCPT_MAX octets of
 * "addr-type;xtext", addr-type being 1*(ALPHA / DIGIT / "-")?  1 or 0. */
int smtp_orcpt_ok(const char *s, size_t n);

/* Length (1-4) of the valid UTF-8 sequence that starts p[0..n), or 0 when
 * n is 0 or the sequence is invalid: a stray continuation octet, a lead
 * octet C0, C1 or F5-FF, a short or overlong sequence, a surrogate, or a
 * code point over U+10FFFF.  An ASCII octet is a sequence of length 1.  The
 * code point goes to *cp unless cp is NULL.  Callers with stricter rules
 * (no C1 controls, say) check *cp themselves. */
size_t smtp_utf8_len(const void *p, size_t n, uint32_t *cp);

/* Encode s as xtext into out (NUL-terminated): octets 33-126 but "+" and
 * "=" as they are, every other octet as "+XX"; 0, or -1 when it does not
 * fit in outlen.  "" encodes as "". */
int smtp_xtext_encode(const char *s, char *out, size_t outlen);

/* Does any octet of p[0..n) have its high bit set?  1 or 0. */
int smtp_has_8bit(const void *p, size_t n);

#endif
