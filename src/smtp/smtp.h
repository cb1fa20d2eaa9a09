/*
 * smtp.h - pure SMTP parsers shared by the server and the client.
 *
 * Everything here is a pure function over a byte range: no I/O, no globals,
 * no allocation beyond the caller's structs, never reading past the given
 * length.  Each parser has a cmocka table test and a libFuzzer target.
 *
 *   smtp_reply_parse()  multi-line server replies (client side, RFC 5321 4.2)
 *   smtp_ehlo_caps()    EHLO keywords from a parsed reply
 *   smtp_cmd_parse()    one command line into verb + argument
 *   smtp_parse_mail()   MAIL FROM:<path> [params]  (SIZE, BODY, SMTPUTF8, RET, ENVID)
 *   smtp_parse_rcpt()   RCPT TO:<path> [params]    (NOTIFY, ORCPT)
 *   smtp_addr_parse()   a mailbox, with every relay trick refused
 *   smtp_data_feed()    the DATA reader: dot-unstuffing and line-ending rules
 */
#ifndef BMX_SMTP_H
#define BMX_SMTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- named limits (every size a peer controls) ---- */
#define SMTP_CMD_LINE_MAX     512   /* command line incl. CRLF (RFC 5321 4.5.3.1.4) */
#define SMTP_TEXT_LINE_MAX    1000  /* DATA text line incl. CRLF (998 + 2) */
#define SMTP_LOCAL_MAX        64    /* local part octets */
#define SMTP_DOMAIN_MAX       255   /* domain octets */
#define SMTP_PATH_MAX         256   /* whole path octets (RFC 5321 4.5.3.1.3) */
#define SMTP_ENVID_MAX        100   /* RFC 3461 ENVID */
#define SMTP_ORCPT_MAX        500   /* RFC 3461 ORCPT */
#define SMTP_REPLY_LINE_MAX   2048  /* one reply line we accept from a server */
#define SMTP_REPLY_LINES_MAX  100   /* lines in one multi-line reply */
#define SMTP_REPLY_TEXT_MAX   4096  /* stored reply text */

/* A reply we should send for a parse failure. */
struct smtp_err {
	int code;          /* 501, 553, 555, ... */
	const char *enh;   /* "5.5.4" */
	const char *text;  /* static human text */
};

/* ---- replies (client side) ---- */
struct smtp_reply {
	int code;                          /* 3-digit code */
	char enh[16];                      /* enhanced status code of the first line, "" if none */
	int nlines;
	char text[SMTP_REPLY_TEXT_MAX];    /* line texts after "NNN-"/"NNN ", joined by '\n',
					      NUL-terminated, truncated at the limit */
};
/* Parse one complete reply from buf[0..len).  Returns the number of bytes
 * consumed (> 0) for a complete reply, 0 if more bytes are needed, -1 for a
 * malformed or over-limit reply (*err names why).  Lines may end in CRLF or
 * LF.  Codes must agree across lines. */
ssize_t smtp_reply_parse(const uint8_t *buf, size_t len, struct smtp_reply *r, const char **err);

#define SMTP_CAP_SIZE         0x0001u
#define SMTP_CAP_PIPELINING   0x0002u
#define SMTP_CAP_STARTTLS     0x0004u
#define SMTP_CAP_8BITMIME     0x0008u
#define SMTP_CAP_SMTPUTF8     0x0010u
#define SMTP_CAP_ENHANCED     0x0020u
#define SMTP_CAP_DSN          0x0040u
#define SMTP_CAP_CHUNKING     0x0080u
#define SMTP_CAP_ETRN         0x0100u
#define SMTP_CAP_AUTH         0x0200u
#define SMTP_CAP_XFORWARD     0x0400u   /* Postfix XFORWARD (XFORWARD_README) */
#define SMTP_CAP_XCLIENT      0x0800u   /* Postfix XCLIENT (XCLIENT_README) */
/* The attributes an XFORWARD or XCLIENT keyword lists (its words). */
#define SMTP_XATTR_NAME       0x0001u
#define SMTP_XATTR_ADDR       0x0002u
#define SMTP_XATTR_PROTO      0x0004u
#define SMTP_XATTR_HELO       0x0008u
#define SMTP_XATTR_SOURCE     0x0010u
#define SMTP_XATTR_PORT       0x0020u
#define SMTP_XATTR_IDENT      0x0040u
#define SMTP_XATTR_LOGIN      0x0080u
#define SMTP_XATTR_REVERSE    0x0100u   /* REVERSE_NAME */
#define SMTP_XATTR_DESTADDR   0x0200u
#define SMTP_XATTR_DESTPORT   0x0400u
struct smtp_caps {
	unsigned flags;
	unsigned xforward;         /* SMTP_XATTR_* the XFORWARD keyword lists */
	unsigned xclient;          /* SMTP_XATTR_* the XCLIENT keyword lists */
	unsigned long long size;   /* SIZE value, 0 = none/unlimited */
	char helo_name[SMTP_DOMAIN_MAX + 1];  /* first word of the first line */
};
#define SMTP_RELAYED_MAX 510   /* one reply line of ours (512 with CRLF, RFC 5321 4.5.3.1.5) */
/* Format a reply r of another server as one reply line of ours into out:
 * "CODE ENH WHO said: TEXT", with r's code and enhanced code (the class
 * default X.0.0 when it has none), the lines' texts (each without its
 * enhanced code) joined by spaces, controls and non-ASCII as '?', at most
 * SMTP_RELAYED_MAX octets.  A code outside 2yz/4yz/5yz becomes a 451 4.4.0.
 * Returns the length. */
size_t smtp_reply_relayed(const struct smtp_reply *r, const char *who, char *out, size_t len);
/* Extract EHLO capabilities from a 250 reply. */
void smtp_ehlo_caps(const struct smtp_reply *r, struct smtp_caps *caps);
/* The EHLO keywords we know and their flags, in report order (reply.c). */
struct smtp_cap_name {
	const char *kw;
	unsigned flag;
};
#define SMTP_CAP_NAMES 12
extern const struct smtp_cap_name smtp_cap_names[SMTP_CAP_NAMES];

/* ---- commands (server side) ---- */
enum smtp_verb {
	SMTP_V_UNKNOWN = 0, SMTP_V_HELO, SMTP_V_EHLO, SMTP_V_MAIL, SMTP_V_RCPT, SMTP_V_DATA,
	SMTP_V_RSET, SMTP_V_NOOP, SMTP_V_QUIT, SMTP_V_HELP, SMTP_V_VRFY, SMTP_V_EXPN,
	SMTP_V_STARTTLS, SMTP_V_ETRN, SMTP_V_BDAT, SMTP_V_AUTH,
};
struct smtp_cmd {
	enum smtp_verb verb;
	const char *arg;   /* points into the line: text after the verb and its SP, or "" */
	size_t arglen;
};
/* Split a command line (CRLF already removed) into verb and argument.
 * "MAIL FROM:" and "RCPT TO:" keep the whole "FROM:..." as argument.
 * Verbs are case-insensitive.  Returns 0, or -1 for an empty line. */
int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out);

/* ---- addresses ---- */
#define SMTP_ADDR_ALLOW_UTF8   0x1  /* SMTPUTF8 was given: UTF-8 allowed in local/domain */
#define SMTP_ADDR_ALLOW_EMPTY  0x2  /* "<>" allowed (MAIL FROM) */
#define SMTP_ADDR_ALLOW_LITERAL 0x4 /* domain may be an address literal [..] (sender only) */
struct smtp_addr {
	int null_path;                         /* "<>" */
	char local[SMTP_LOCAL_MAX * 4 + 3];    /* local part as sent (quotes kept) */
	char domain[SMTP_DOMAIN_MAX + 1];      /* lower-cased; A-label form (IDN converted) */
	int utf8;                              /* local part or U-label domain had UTF-8 */
	int literal;                           /* domain is an address literal */
};
/* Parse a reverse/forward path "<...>" (angle brackets required; a source
 * route "@a,@b:" is stripped).  Refused, with *err set: % and ! in the local
 * part, quoted local parts holding @ or %, "u@d@h", empty domains, trailing
 * dots, address literals (unless ALLOW_LITERAL), bad characters, over-long
 * parts.  Returns 0 or -1. */
int smtp_addr_parse(const char *s, size_t len, unsigned flags, struct smtp_addr *out,
		    struct smtp_err *err);
/* Buffer size that always holds smtp_addr_str()'s output. */
#define SMTP_ADDR_STR_MAX (SMTP_LOCAL_MAX * 4 + 3 + SMTP_DOMAIN_MAX + 1)
/* Format "local@domain" (or "" for the null path) into buf; returns buf.
 * A result that does not fit in len is never truncated: buf becomes "". */
const char *smtp_addr_str(const struct smtp_addr *a, char *buf, size_t len);

/* ---- MAIL / RCPT ---- */
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };
enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };
struct smtp_mail_args {
	struct smtp_addr from;
	unsigned long long size;     /* SIZE=, 0 if absent */
	enum smtp_body body;
	int smtputf8;
	enum smtp_ret ret;
	char envid[SMTP_ENVID_MAX + 1];  /* xtext-decoded? no: kept as sent (xtext) */
};
#define SMTP_NOTIFY_NEVER   0x1u
#define SMTP_NOTIFY_SUCCESS 0x2u
#define SMTP_NOTIFY_FAILURE 0x4u
#define SMTP_NOTIFY_DELAY   0x8u
struct smtp_rcpt_args {
	struct smtp_addr to;
	unsigned notify;                 /* 0 = not given */
	char orcpt[SMTP_ORCPT_MAX + 1];  /* kept as sent, e.g. "rfc822;u@d" (xtext) */
};
/* Parse the argument of MAIL ("FROM:<...> params"); utf8_ok says whether we
 * advertise SMTPUTF8.  Unknown parameters are refused (555 5.5.4). */
int smtp_parse_mail(const char *arg, size_t len, int utf8_ok, struct smtp_mail_args *out,
		    struct smtp_err *err);
/* Parse the argument of RCPT ("TO:<...> params"); smtputf8 from the MAIL. */
int smtp_parse_rcpt(const char *arg, size_t len, int smtputf8, struct smtp_rcpt_args *out,
		    struct smtp_err *err);

/* ---- the DATA reader ---- */
enum smtp_data_status {
	SMTP_DATA_MORE = 0,      /* all input consumed, message continues */
	SMTP_DATA_END,           /* saw <CRLF>.<CRLF>; *consumed stops right after it */
	SMTP_DATA_BARE_LF,       /* a LF not preceded by CR: refuse, close the session */
	SMTP_DATA_BARE_CR,       /* a CR not followed by LF: refuse, close the session */
};
struct smtp_data_reader {
	int state;               /* internal */
	size_t line_len;         /* octets in the current line so far */
	size_t max_line_seen;
	int line_too_long;       /* sticky: a line exceeded SMTP_TEXT_LINE_MAX */
	int saw_nul;             /* sticky: a NUL octet was seen */
	int saw_8bit;            /* sticky: an octet >= 0x80 was seen */
	unsigned long long total;   /* output octets produced */
};
/* Start a new message. */
void smtp_data_init(struct smtp_data_reader *r);
/* Feed in[0..inlen).  Output (dot-unstuffed, CRLF line ends, without the
 * final ".\r\n") goes to out, whose capacity must be >= inlen; *outlen is
 * set.  *consumed says how much of in was used (less than inlen only at END
 * or on an error).  Only <CRLF>.<CRLF> ends the message; the first line
 * counts as preceded by CRLF.  A CR is copied out before its LF is seen, so
 * on BARE_CR/BARE_LF the output so far must be discarded (the session is
 * closed anyway).  After END or an error the reader stays put: later calls
 * return the same status and consume nothing until smtp_data_init().
 * line_len counts the line's octets after dot-unstuffing, CRLF included
 * (RFC 5321 4.5.3.1.6 does not count the stuffed dot). */
enum smtp_data_status smtp_data_feed(struct smtp_data_reader *r, const uint8_t *in, size_t inlen,
				     uint8_t *out, size_t *outlen, size_t *consumed);

#endif
