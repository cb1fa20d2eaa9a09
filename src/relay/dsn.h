/*
 * dsn.h - delivery status notifications (RFC 3464, 3461, 3463, 3834, 6533).
 *
 * dsn_build() is a pure function: from the facts of a message and the
 * outcome of some of its recipients it builds a complete RFC 5322 message
 * (CRLF lines, not dot-stuffed): multipart/report; report-type=
 * delivery-status, with a human-readable part, a message/delivery-status
 * part and the original headers (text/rfc822-headers) or, with RET=FULL,
 * the whole original message (message/rfc822), truncated at DSN_ORIG_MAX.
 * It is sent from the null sender <> to the original envelope sender.
 *
 * The header section always holds exactly Date, From, To, Subject,
 * Message-ID, Auto-Submitted, MIME-Version, Content-Type and
 * Content-Transfer-Encoding ("8bit" when the quoted original has 8-bit
 * octets, else "7bit"; the To: line may carry the sender in raw UTF-8,
 * RFC 6532).  The MIME boundary is info->boundary when that occurs nowhere
 * in the content, else "BASE.N=" with BASE = info->boundary or
 * "=_QID.NOW" and the smallest N that does not occur either.
 *
 * dsn_build() fails (-1) on: NULL info, rcpts, out or outlen; orig NULL
 * with origlen > 0; n of 0 or over DSN_RCPTS_MAX; a reporting_mta that is
 * not a host name; a qid that is not 1-DSN_QID_MAX of [A-Za-z0-9_-]; an
 * orig_sender that is NULL, empty, "<>" or over DSN_ADDR_MAX; a recipient
 * without addr or with an unknown action; info->now outside the years
 * 1900-9999; a boundary that is not 1-DSN_BOUNDARY_BASE_MAX bchars; out of
 * memory.  Peer data never makes it fail: an ENVID or ORCPT that is not
 * xtext by the rule of smtp/xtext.h (every "+XX" decoding to printable
 * ASCII, as the SMTP server requires) is left out, a bad status becomes
 * x.0.0, bad dates are left out.
 *
 * The builder is dsn.c (MIME structure) and dsn_fmt.c (line layout and
 * sanitising); the declarations at the end of this header are theirs.
 */
#ifndef BMX_DSN_H
#define BMX_DSN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define DSN_ORIG_MAX    (256 * 1024)  /* most original bytes quoted in a DSN */
#define DSN_RCPTS_MAX   1000          /* recipients reported in one DSN */
#define DSN_DIAG_MAX    900           /* diagnostic text kept per recipient */
#define DSN_LINE_MAX    998           /* octets in any output line, CRLF excluded */
#define DSN_ADDR_MAX    512           /* address octets: longer recipients are cut, a
					 longer orig_sender makes dsn_build() fail */
#define DSN_HOST_MAX    255           /* reporting_mta, remote_mta octets kept */
#define DSN_TEXT_MAX    512           /* received_from octets kept */
#define DSN_QID_MAX     32            /* queue ID octets ([A-Za-z0-9_-]) */
#define DSN_ENVID_MAX   100           /* ENVID octets (RFC 3461) */
#define DSN_ORCPT_MAX   500           /* ORCPT octets (RFC 3461) */
#define DSN_BOUNDARY_BASE_MAX 50      /* caller-given boundary octets (bchars, no space) */
#define DSN_BOUNDARY_MAX 70           /* octets in the boundary used (RFC 2046) */

enum dsn_action { DSN_FAILED = 0, DSN_DELAYED, DSN_RELAYED, DSN_DELIVERED, DSN_EXPANDED };

struct dsn_rcpt {
	const char *addr;             /* final recipient, "local@domain" */
	const char *orcpt;            /* ORCPT as received ("rfc822;u@d", xtext) or NULL */
	enum dsn_action action;
	const char *status;           /* RFC 3463 code, "5.1.1" */
	const char *remote_mta;       /* "mx1.example.com" or NULL */
	const char *diagnostic;       /* the remote reply, e.g. "550 5.1.1 <u@d>: unknown", or NULL */
	time_t last_attempt;          /* 0 = none */
	time_t will_retry_until;      /* for DSN_DELAYED; 0 = omit */
};

struct dsn_info {
	const char *reporting_mta;    /* our hostname */
	const char *qid;              /* queue ID of the original message */
	const char *envid;            /* ENVID (xtext) or NULL */
	const char *orig_sender;      /* envelope sender of the original (the DSN's To:) */
	const char *received_from;    /* client name [addr] the message came from, or NULL */
	time_t arrival;
	time_t now;                   /* Date: of the DSN (tests pass a fixed time) */
	int ret_full;                 /* RET=FULL: quote the whole message */
	const char *boundary;         /* MIME boundary; NULL = derived from qid and now */
};

/* Build a DSN into a malloc'd buffer (*out, *outlen; caller frees).
 * orig[0..origlen) is the original message (headers and body).  Every
 * field that came from a peer is sanitised (no CR/LF/NUL, lines <= 998
 * octets, header injection impossible).  0 or -1 (bad arguments). */
int dsn_build(const struct dsn_info *info, const struct dsn_rcpt *rcpts, size_t n,
	      const uint8_t *orig, size_t origlen, char **out, size_t *outlen);

/* ---- shared by the dsn*.c files only (dsn_fmt.c: layout, sanitising) ---- */

#define DSN_DATE_LEN    64     /* room for an RFC 5322 date-time */
#define DSN_STATUS_LEN  16     /* room for "5.123.123" */

struct bmx_buf;

/* Append free text s (at most max octets out): CR, LF and TAB runs become
 * one space, other controls and non-ASCII octets '?'; trimmed. */
void dsn_san_text(struct bmx_buf *b, const char *s, size_t max);
/* Append a token (host name, xtext): printable ASCII but space, else '?'. */
void dsn_san_token(struct bmx_buf *b, const char *s, size_t max);
/* s without one pair of enclosing angle brackets; its length in *len. */
const char *dsn_addr_strip(const char *s, size_t *len);
/* Append an address for a report field ("rfc822; a", or "utf-8; " and the
 * RFC 6533 7-bit form when it is not ASCII; the type only with with_type). */
void dsn_enc_addr(struct bmx_buf *b, const char *addr, int with_type);
/* Append s[0..n) for the To: header: controls and invalid UTF-8 become '?'. */
void dsn_raw_addr(struct bmx_buf *b, const char *s, size_t n);
/* Is s 1..max octets of [A-Za-z0-9] and the characters in extra?  1 or 0. */
int dsn_token_ok(const char *s, size_t max, const char *extra);
/* Write the Status for action a: in when it is a valid x.y.z, else x.0.0,
 * the class forced to match the action. */
void dsn_status_fix(const char *in, enum dsn_action a, char out[DSN_STATUS_LEN]);
/* Format t as an RFC 5322 date-time in UTC; 0, or -1 outside years 1900-9999. */
int dsn_fmt_date(time_t t, char out[DSN_DATE_LEN]);
/* Emit the header field "name: " + the contents of val, folded; clear val. */
void dsn_emit_field(struct bmx_buf *b, const char *name, struct bmx_buf *val);
/* Emit the header field "name: value" for our own short value. */
void dsn_emit_field_str(struct bmx_buf *b, const char *name, const char *value);
/* Emit the contents of t as text wrapped at 76 columns, each line indented
 * by indent spaces; clear t. */
void dsn_emit_text(struct bmx_buf *b, struct bmx_buf *t, size_t indent);

#endif
