/*
 * milter_proto.h - the Sendmail milter protocol, version 6, MTA side: a
 *                  pure codec (no sockets, no event loop).
 *
 * Wire format (libmilter mfdef.h, Postfix milter8.c, rspamd milter.c):
 * every packet is a 4-octet big-endian length that counts the command
 * octet, then the command octet, then len-1 octets of data.  Strings in
 * the data are NUL-terminated.  The MTA sends commands (SMFIC_*, upper
 * case: 'O' 'D' 'C' 'H' 'M' 'R' 'T' 'L' 'N' 'B' 'E' 'A' 'Q' 'K' 'U'), the
 * filter answers with replies (SMFIR_*, mostly lower case) and 'O'.
 *
 *   milter_frame_next()     cut one packet from received bytes
 *   milter_put_*()          append one MTA command packet to a bmx_buf
 *   milter_reply_parse()    decode one filter reply packet
 *   milter_optneg_check()   is the filter's OPTNEG answer acceptable?
 *   milter_stage_wanted()   does the filter want a command at all?
 *   milter_stage_expects_reply()  will it answer it?
 *   milter_hdr_crlf()       a header value with bare-LF folding, as CRLF
 *
 * Rules: everything here is pure: no I/O, no globals, never reading past
 * a given length.  A decoded reply points into the frame's bytes (zero
 * copy): it is valid while the caller's receive buffer is, and every
 * string it holds is NUL-terminated inside the frame.  Every size a filter
 * controls has a MILTER_*_MAX limit below; a packet over MILTER_PACKET_MAX
 * or a field over its limit is a protocol error (-1), and the caller then
 * applies its failure policy (tempfail or accept) to the message.
 * Encoders refuse (-1, errno EINVAL) byte ranges with a NUL inside (C
 * string arguments end at theirs), NULL strings, names that are not header
 * names, and (EMSGSIZE) packets whose data would exceed MILTER_DATA_MAX,
 * the most a libmilter filter accepts (MILTER_MAX_DATA_SIZE; larger ones
 * make it drop the connection); ENOMEM when the buffer cannot grow.  A
 * refused packet appends nothing.
 */
#ifndef BMX_FILTER_MILTER_PROTO_H
#define BMX_FILTER_MILTER_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"

/* ---- named limits (every size a filter controls) ---- */
#define MILTER_VERSION        6       /* the protocol version we speak */
#define MILTER_VERSION_MIN    2       /* oldest a filter may answer with (libmilter's minimum) */
#define MILTER_BODY_CHUNK     65535   /* largest body chunk we send (MILTER_CHUNK_SIZE) */
#define MILTER_DATA_MAX       65535   /* data octets in a packet we send (MILTER_MAX_DATA_SIZE) */
#define MILTER_PACKET_MAX     (MILTER_BODY_CHUNK + 1 + 4096)  /* largest length word we accept */
#define MILTER_HDR_NAME_MAX   256     /* header name octets in a header action */
#define MILTER_HDR_VALUE_MAX  32768   /* header value octets in a header action */
#define MILTER_ADDR_MAX       512     /* address octets in '+' '-' '2' 'e' */
#define MILTER_ARGS_MAX       1024    /* ESMTP argument octets in '2' 'e' */
#define MILTER_REPLY_MAX      8192    /* octets of a 'y' reply (all lines, CRLFs) */
#define MILTER_REPLY_LINE_MAX 1000    /* octets of one 'y' line, CRLF not counted */
#define MILTER_REPLY_LINES_MAX 32     /* lines of one 'y' reply (libmilter MAXREPLIES) */
#define MILTER_QUARANTINE_MAX 1024    /* octets of a 'q' reason */
#define MILTER_MACRO_LIST_MAX 1024    /* octets of one stage's macro list in OPTNEG */

/* ---- commands the MTA sends (SMFIC_*) ---- */
#define MILTER_SMFIC_ABORT    'A'   /* abort the current message */
#define MILTER_SMFIC_BODY     'B'   /* body chunk */
#define MILTER_SMFIC_CONNECT  'C'   /* connection information */
#define MILTER_SMFIC_MACRO    'D'   /* define macros */
#define MILTER_SMFIC_BODYEOB  'E'   /* end of message */
#define MILTER_SMFIC_HELO     'H'   /* HELO/EHLO */
#define MILTER_SMFIC_QUIT_NC  'K'   /* quit, a new connection follows */
#define MILTER_SMFIC_HEADER   'L'   /* one header */
#define MILTER_SMFIC_MAIL     'M'   /* MAIL FROM */
#define MILTER_SMFIC_EOH      'N'   /* end of headers */
#define MILTER_SMFIC_OPTNEG   'O'   /* option negotiation */
#define MILTER_SMFIC_QUIT     'Q'   /* quit */
#define MILTER_SMFIC_RCPT     'R'   /* RCPT TO */
#define MILTER_SMFIC_DATA     'T'   /* DATA */
#define MILTER_SMFIC_UNKNOWN  'U'   /* an unknown SMTP command */

/* ---- replies the filter sends (SMFIR_*) ---- */
#define MILTER_SMFIR_ADDRCPT     '+'   /* add recipient */
#define MILTER_SMFIR_DELRCPT     '-'   /* remove recipient */
#define MILTER_SMFIR_ADDRCPT_PAR '2'   /* add recipient with ESMTP args */
#define MILTER_SMFIR_SHUTDOWN    '4'   /* 421 and close (Sendmail-internal) */
#define MILTER_SMFIR_ACCEPT      'a'   /* accept */
#define MILTER_SMFIR_REPLBODY    'b'   /* replace body (a chunk of it) */
#define MILTER_SMFIR_CONTINUE    'c'   /* continue */
#define MILTER_SMFIR_DISCARD     'd'   /* accept and drop */
#define MILTER_SMFIR_CHGFROM     'e'   /* change envelope sender */
#define MILTER_SMFIR_CONN_FAIL   'f'   /* fail the connection */
#define MILTER_SMFIR_ADDHEADER   'h'   /* append a header */
#define MILTER_SMFIR_INSHEADER   'i'   /* insert a header */
#define MILTER_SMFIR_CHGHEADER   'm'   /* change or delete a header */
#define MILTER_SMFIR_PROGRESS    'p'   /* still working: restart the timeout */
#define MILTER_SMFIR_QUARANTINE  'q'   /* quarantine */
#define MILTER_SMFIR_REJECT      'r'   /* reject (5xx) */
#define MILTER_SMFIR_SKIP        's'   /* send no more of this command */
#define MILTER_SMFIR_TEMPFAIL    't'   /* temporary failure (4xx) */
#define MILTER_SMFIR_REPLYCODE   'y'   /* reject or tempfail with this SMTP reply */

/* ---- actions (SMFIF_*): what the filter may do at end of message ---- */
#define MILTER_SMFIF_ADDHDRS     0x001u  /* add headers */
#define MILTER_SMFIF_CHGBODY     0x002u  /* replace the body */
#define MILTER_SMFIF_ADDRCPT     0x004u  /* add recipients */
#define MILTER_SMFIF_DELRCPT     0x008u  /* delete recipients */
#define MILTER_SMFIF_CHGHDRS     0x010u  /* change or delete headers */
#define MILTER_SMFIF_QUARANTINE  0x020u  /* quarantine */
#define MILTER_SMFIF_CHGFROM     0x040u  /* change the sender */
#define MILTER_SMFIF_ADDRCPT_PAR 0x080u  /* add recipients with ESMTP args */
#define MILTER_SMFIF_SETSYMLIST  0x100u  /* ask for macros in OPTNEG */
#define MILTER_SMFIF_ALL         0x1ffu

/* ---- protocol flags (SMFIP_*): steps not to send, replies not to expect ---- */
#define MILTER_SMFIP_NOCONNECT   0x000001u  /* do not send CONNECT */
#define MILTER_SMFIP_NOHELO      0x000002u  /* do not send HELO */
#define MILTER_SMFIP_NOMAIL      0x000004u  /* do not send MAIL */
#define MILTER_SMFIP_NORCPT      0x000008u  /* do not send RCPT */
#define MILTER_SMFIP_NOBODY      0x000010u  /* do not send body chunks */
#define MILTER_SMFIP_NOHDRS      0x000020u  /* do not send headers */
#define MILTER_SMFIP_NOEOH       0x000040u  /* do not send EOH */
#define MILTER_SMFIP_NR_HDR      0x000080u  /* no reply to a header */
#define MILTER_SMFIP_NOUNKNOWN   0x000100u  /* do not send unknown commands */
#define MILTER_SMFIP_NODATA      0x000200u  /* do not send DATA */
#define MILTER_SMFIP_SKIP        0x000400u  /* the MTA understands SMFIR_SKIP */
#define MILTER_SMFIP_RCPT_REJ    0x000800u  /* the MTA also sends rejected RCPTs */
#define MILTER_SMFIP_NR_CONN     0x001000u  /* no reply to CONNECT */
#define MILTER_SMFIP_NR_HELO     0x002000u  /* no reply to HELO */
#define MILTER_SMFIP_NR_MAIL     0x004000u  /* no reply to MAIL */
#define MILTER_SMFIP_NR_RCPT     0x008000u  /* no reply to RCPT */
#define MILTER_SMFIP_NR_DATA     0x010000u  /* no reply to DATA */
#define MILTER_SMFIP_NR_UNKN     0x020000u  /* no reply to an unknown command */
#define MILTER_SMFIP_NR_EOH      0x040000u  /* no reply to EOH */
#define MILTER_SMFIP_NR_BODY     0x080000u  /* no reply to a body chunk */
#define MILTER_SMFIP_HDR_LEADSPC 0x100000u  /* header values keep their leading space */
#define MILTER_SMFIP_ALL         0x1fffffu  /* every defined bit (SMFI_CURR_PROT) */
#define MILTER_SMFIP_NR_MASK     0x0ff080u  /* every NR_* bit: what rspamd answers */

/* ---- macro stages (SMFIM_*), the indices of an OPTNEG macro list ---- */
#define MILTER_STAGE_CONNECT  0
#define MILTER_STAGE_HELO     1
#define MILTER_STAGE_ENVFROM  2
#define MILTER_STAGE_ENVRCPT  3
#define MILTER_STAGE_DATA     4
#define MILTER_STAGE_EOM      5
#define MILTER_STAGE_EOH      6
#define MILTER_STAGES         7

/* ---- framing ---- */
struct milter_frame {
	char cmd;              /* the command octet */
	const uint8_t *data;   /* points into the caller's buffer */
	size_t len;            /* data octets (the length word minus one) */
};
/* Cut the first packet from buf[0..len): 1 and *out, *used (octets taken)
 * when it is complete; 0 when more octets are needed; -1 for a length word
 * of zero or over MILTER_PACKET_MAX (known as soon as 4 octets are there).
 * *used is 0 unless the result is 1. */
int milter_frame_next(const uint8_t *buf, size_t len, struct milter_frame *out, size_t *used);

/* ---- MTA commands: each appends one whole packet to b; 0 or -1 ---- */
/* 'O': our version, the actions and protocol flags we offer. */
int milter_put_optneg(struct bmx_buf *b, uint32_t version, uint32_t actions, uint32_t flags);
/* 'D': macros for the command cmd, n name/value pairs nv[0], nv[1], ...
 * (names non-empty: "j", "{daemon_name}"); sent before that command. */
int milter_put_macros(struct bmx_buf *b, char cmd, const char *const *nv, size_t n);
/* 'C': client host name, family '4', '6', 'L' or 'U', port and address
 * (port and address are not sent for 'U'). */
int milter_put_connect(struct bmx_buf *b, const char *host, char family, uint16_t port,
		       const char *addr);
/* 'H': the HELO/EHLO argument. */
int milter_put_helo(struct bmx_buf *b, const char *helo);
/* 'M': args[0] is "<sender>", then ESMTP parameters, one string each (n >= 1). */
int milter_put_mail(struct bmx_buf *b, const char *const *args, size_t n);
/* 'R': args[0] is "<recipient>", then ESMTP parameters (n >= 1). */
int milter_put_rcpt(struct bmx_buf *b, const char *const *args, size_t n);
/* 'U': an SMTP command line we did not recognise. */
int milter_put_unknown(struct bmx_buf *b, const char *line);
/* 'L': one header, name[0..nlen) (a header name) and value[0..vlen) (no
 * NUL).  Unless SMFIP_HDR_LEADSPC was negotiated, the caller leaves out the
 * one space after the colon, as Sendmail and Postfix do. */
int milter_put_header(struct bmx_buf *b, const char *name, size_t nlen, const char *value,
		      size_t vlen);
/* 'B': a body chunk p[0..n), n <= MILTER_BODY_CHUNK. */
int milter_put_body(struct bmx_buf *b, const void *p, size_t n);
/* A packet without data: 'T' DATA, 'N' EOH, 'E' EOM, 'A' ABORT, 'Q' QUIT,
 * 'K' QUIT_NC; any other cmd is refused (EINVAL). */
int milter_put_cmd(struct bmx_buf *b, char cmd);

/* ---- filter replies ---- */
enum milter_reply_kind {
	MILTER_REPLY_UNKNOWN = 0,   /* a command octet we do not know (r->data, r->len) */
	MILTER_REPLY_OPTNEG,        /* 'O' version, actions, flags, macros[] */
	MILTER_REPLY_ACCEPT,        /* 'a' */
	MILTER_REPLY_CONTINUE,      /* 'c' */
	MILTER_REPLY_DISCARD,       /* 'd' */
	MILTER_REPLY_REJECT,        /* 'r' */
	MILTER_REPLY_TEMPFAIL,      /* 't' */
	MILTER_REPLY_REPLYCODE,     /* 'y' code, enh, text, nlines */
	MILTER_REPLY_SKIP,          /* 's' */
	MILTER_REPLY_PROGRESS,      /* 'p' */
	MILTER_REPLY_CONN_FAIL,     /* 'f' */
	MILTER_REPLY_SHUTDOWN,      /* '4' */
	MILTER_REPLY_ADDHEADER,     /* 'h' name, value */
	MILTER_REPLY_INSHEADER,     /* 'i' index, name, value */
	MILTER_REPLY_CHGHEADER,     /* 'm' index, name, value ("" deletes) */
	MILTER_REPLY_ADDRCPT,       /* '+' addr */
	MILTER_REPLY_DELRCPT,       /* '-' addr */
	MILTER_REPLY_ADDRCPT_PAR,   /* '2' addr, args (args.p NULL when absent) */
	MILTER_REPLY_CHGFROM,       /* 'e' addr, args (args.p NULL when absent) */
	MILTER_REPLY_REPLBODY,      /* 'b' data, len: raw body octets, no NUL */
	MILTER_REPLY_QUARANTINE,    /* 'q' text: the reason */
};

/* A string inside a frame: p[len] is its NUL; p is NULL when absent. */
struct milter_str {
	const char *p;
	size_t len;
};

struct milter_reply {
	enum milter_reply_kind kind;
	char cmd;                      /* the command octet as received */
	const uint8_t *data;           /* the frame's data, always set */
	size_t len;
	/* OPTNEG */
	uint32_t version, actions, flags;
	struct milter_str macros[MILTER_STAGES];  /* space-separated macro names a stage
						     should carry; p NULL = not asked */
	unsigned macros_ignored;       /* lists for stages we do not know, skipped */
	/* REPLYCODE */
	int code;                      /* 400-599 */
	char enh[16];                  /* first line's enhanced status code, "" if none */
	unsigned nlines;
	/* REPLYCODE: the whole reply, lines joined by CRLF, no final CRLF,
	 * printable but may hold 8-bit octets; QUARANTINE: the reason */
	struct milter_str text;
	/* INSHEADER, CHGHEADER: Sendmail's index.  'i': 0 is the top of the
	 * header, n inserts after the n-th header.  'm': the n-th header of
	 * that name, 1-based (0 is taken as 1, as Postfix and Sendmail do). */
	uint32_t index;
	struct milter_str name;        /* a header name: printable ASCII, no ':' */
	struct milter_str value;       /* raw: bare "\n" folding, see milter_hdr_crlf() */
	struct milter_str addr;        /* no control characters */
	struct milter_str args;
};
/* Decode one reply frame into r.  0, or -1 with *err naming why: data on a
 * reply that has none, a missing NUL, trailing octets, a field over its
 * limit, a bad header name, a control character in an address, a bad
 * 'y' reply (not 4yz/5yz, codes differing between lines, an enhanced code
 * of another class, bare CR or LF, a control character).  An unknown
 * command octet is not an error: kind MILTER_REPLY_UNKNOWN, the caller
 * decides.  err may be NULL. */
int milter_reply_parse(const struct milter_frame *f, struct milter_reply *r, const char **err);

/* Check a decoded OPTNEG answer against what we offered: version
 * MILTER_VERSION_MIN..MILTER_VERSION, actions and flags within ours (as
 * Sendmail requires).  0, or -1 with *err set (err may be NULL). */
int milter_optneg_check(const struct milter_reply *r, uint32_t actions, uint32_t flags,
			const char **err);

/* ---- which commands go out, which get answers ---- */
/* Does a filter that negotiated proto_flags want command cmd sent at all
 * (SMFIP_NOCONNECT and friends)?  1 or 0; 0 for octets that are no command. */
int milter_stage_wanted(uint32_t proto_flags, char cmd);
/* Will a filter that negotiated proto_flags answer command cmd?  'O' and
 * 'E' always (at 'E' several replies may come: modifications, 'p', then
 * one final a/c/d/r/t/y); 'D', 'A', 'Q', 'K' never; the others unless
 * their SMFIP_NR_* bit is set.  1 or 0; 0 for octets that are no command. */
int milter_stage_expects_reply(uint32_t proto_flags, char cmd);
/* The command octet that carries the macros of stage s ('C' 'H' 'M' 'R'
 * 'T' 'E' 'N'), or 0 for a stage out of range. */
char milter_stage_cmd(int stage);

/* ---- header values ---- */
/* Copy header value v[0..n) to out (NUL-terminated, at most outlen octets
 * with the NUL) with every line break (LF, CRLF or a bare CR) written as
 * CRLF, so rspamd's "\n\t" folding can be stored.  Refused (-1, EINVAL):
 * a line break not followed by a space or tab (it would start a header
 * or end the header block), a NUL; (-1, EMSGSIZE) a result that does not
 * fit.  Returns the length written. */
ssize_t milter_hdr_crlf(const char *v, size_t n, char *out, size_t outlen);

#endif
