/*
 * milter_proto.c - the milter protocol codec (see milter_proto.h for the
 *                  rules and the wire format).
 *
 * Three independent parts:
 *   framing    milter_frame_next() cuts "len(4, BE) cmd data" packets and
 *              refuses a zero length or one over MILTER_PACKET_MAX as soon
 *              as the length word is in, before any data is buffered.
 *   encoding   milter_put_*() append whole MTA command packets to a
 *              struct bmx_buf; nothing is appended when an argument is
 *              refused, so a buffer never holds half a packet (an
 *              allocation failure leaves b->err set, as bmx_buf does).
 *   decoding   milter_reply_parse() checks a filter reply field by field
 *              against the MILTER_*_MAX limits and points into the frame.
 * Facts checked against libmilter (sendmail 8.x mfdef.h, mfapi.h,
 * engine.c, comm.c), Sendmail's MTA side (sendmail/milter.c), Postfix
 * (src/milter/milter8.c) and rspamd (src/libserver/milter.c).
 */
#include "filter/milter_proto.h"

#include <errno.h>
#include <string.h>

#define LEN_OCTETS 4   /* the length word */

/* Read a 32-bit big-endian word at p. */
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Write v as a 32-bit big-endian word at p. */
static void set32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---------------------------------------------------------------- framing */

/* Cut the first packet from buf[0..len); see milter_proto.h. */
int milter_frame_next(const uint8_t *buf, size_t len, struct milter_frame *out, size_t *used)
{
	uint32_t plen;

	*used = 0;
	if (len < LEN_OCTETS)
		return 0;
	plen = get32(buf);
	if (plen == 0 || plen > MILTER_PACKET_MAX)
		return -1;
	if (len - LEN_OCTETS < plen)
		return 0;
	out->cmd = (char)buf[LEN_OCTETS];
	out->data = buf + LEN_OCTETS + 1;
	out->len = plen - 1;
	*used = LEN_OCTETS + (size_t)plen;
	return 1;
}

/* --------------------------------------------------------------- encoding */

/* Fail with errno e; always -1. */
static int fail(int e)
{
	errno = e;
	return -1;
}

/* Start a packet of command cmd with dlen data octets; 0 or -1. */
static int packet_begin(struct bmx_buf *b, char cmd, size_t dlen)
{
	uint8_t hdr[LEN_OCTETS + 1];

	if (dlen > MILTER_DATA_MAX)
		return fail(EMSGSIZE);
	if (bmx_buf_reserve(b, sizeof(hdr) + dlen) < 0)
		return fail(ENOMEM);
	set32(hdr, (uint32_t)dlen + 1);
	hdr[LEN_OCTETS] = (uint8_t)cmd;
	return bmx_buf_add(b, hdr, sizeof(hdr));
}

/* Finish a packet: 0, or -1 if an append failed. */
static int packet_end(struct bmx_buf *b)
{
	return b->err ? fail(ENOMEM) : 0;
}

/* Add strlen(s) + 1 to *total unless it passes MILTER_DATA_MAX; 0 or -1. */
static int size_str(const char *s, size_t *total)
{
	size_t n;

	if (s == NULL)
		return fail(EINVAL);
	n = strlen(s);
	if (*total > MILTER_DATA_MAX || n >= MILTER_DATA_MAX - *total)
		return fail(EMSGSIZE);
	*total += n + 1;
	return 0;
}

/* Append s with its NUL. */
static void add_str(struct bmx_buf *b, const char *s)
{
	bmx_buf_add(b, s, strlen(s) + 1);
}

/* Append one packet: cmd, an optional lead octet, then n strings; 0 or -1. */
static int put_strv(struct bmx_buf *b, char cmd, int lead, const char *const *v, size_t n)
{
	size_t total = lead >= 0 ? 1 : 0, i;

	for (i = 0; i < n; i++)
		if (size_str(v[i], &total) < 0)
			return -1;
	if (packet_begin(b, cmd, total) < 0)
		return -1;
	if (lead >= 0)
		bmx_buf_ch(b, (char)lead);
	for (i = 0; i < n; i++)
		add_str(b, v[i]);
	return packet_end(b);
}

/* 'O': version, actions, protocol flags. */
int milter_put_optneg(struct bmx_buf *b, uint32_t version, uint32_t actions, uint32_t flags)
{
	uint8_t d[3 * LEN_OCTETS];

	set32(d, version);
	set32(d + LEN_OCTETS, actions);
	set32(d + 2 * LEN_OCTETS, flags);
	if (packet_begin(b, MILTER_SMFIC_OPTNEG, sizeof(d)) < 0)
		return -1;
	bmx_buf_add(b, d, sizeof(d));
	return packet_end(b);
}

/* 'D': the command octet, then name/value pairs. */
int milter_put_macros(struct bmx_buf *b, char cmd, const char *const *nv, size_t n)
{
	size_t i;

	if (cmd == '\0' || (n > 0 && nv == NULL) || n > MILTER_DATA_MAX / 2)
		return fail(EINVAL);
	for (i = 0; i < n; i++)
		if (nv[2 * i] == NULL || nv[2 * i][0] == '\0')
			return fail(EINVAL);
	return put_strv(b, MILTER_SMFIC_MACRO, (uint8_t)cmd, nv, 2 * n);
}

/* 'C': host NUL family [port(2, BE) addr NUL]. */
int milter_put_connect(struct bmx_buf *b, const char *host, char family, uint16_t port,
		       const char *addr)
{
	size_t total = 1;
	uint8_t p[2];

	if (family != '4' && family != '6' && family != 'L' && family != 'U')
		return fail(EINVAL);
	if (size_str(host, &total) < 0)
		return -1;
	if (family != 'U') {
		total += sizeof(p);
		if (size_str(addr, &total) < 0)
			return -1;
	}
	if (packet_begin(b, MILTER_SMFIC_CONNECT, total) < 0)
		return -1;
	add_str(b, host);
	bmx_buf_ch(b, family);
	if (family != 'U') {
		p[0] = (uint8_t)(port >> 8);
		p[1] = (uint8_t)port;
		bmx_buf_add(b, p, sizeof(p));
		add_str(b, addr);
	}
	return packet_end(b);
}

/* 'H': the HELO argument. */
int milter_put_helo(struct bmx_buf *b, const char *helo)
{
	return put_strv(b, MILTER_SMFIC_HELO, -1, &helo, 1);
}

/* MAIL or RCPT: a "<path>" then ESMTP parameters; 0 or -1. */
static int put_envelope(struct bmx_buf *b, char cmd, const char *const *args, size_t n)
{
	size_t l;

	if (n == 0 || args == NULL || args[0] == NULL)
		return fail(EINVAL);
	l = strlen(args[0]);
	if (l < 2 || args[0][0] != '<' || args[0][l - 1] != '>')
		return fail(EINVAL);
	return put_strv(b, cmd, -1, args, n);
}

/* 'M': sender and parameters. */
int milter_put_mail(struct bmx_buf *b, const char *const *args, size_t n)
{
	return put_envelope(b, MILTER_SMFIC_MAIL, args, n);
}

/* 'R': recipient and parameters. */
int milter_put_rcpt(struct bmx_buf *b, const char *const *args, size_t n)
{
	return put_envelope(b, MILTER_SMFIC_RCPT, args, n);
}

/* 'U': an unknown SMTP command line. */
int milter_put_unknown(struct bmx_buf *b, const char *line)
{
	return put_strv(b, MILTER_SMFIC_UNKNOWN, -1, &line, 1);
}

/* Is s[0..n) a header name: 1..MILTER_HDR_NAME_MAX octets 33-126 but ':'? */
static int hdr_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > MILTER_HDR_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((uint8_t)s[i] < 33 || (uint8_t)s[i] > 126 || s[i] == ':')
			return 0;
	return 1;
}

/* 'L': name NUL value NUL. */
int milter_put_header(struct bmx_buf *b, const char *name, size_t nlen, const char *value,
		      size_t vlen)
{
	if (name == NULL || (value == NULL && vlen > 0) || !hdr_name_ok(name, nlen))
		return fail(EINVAL);
	if (vlen > 0 && memchr(value, '\0', vlen) != NULL)
		return fail(EINVAL);
	if (vlen > MILTER_DATA_MAX - nlen - 2)
		return fail(EMSGSIZE);
	if (packet_begin(b, MILTER_SMFIC_HEADER, nlen + vlen + 2) < 0)
		return -1;
	bmx_buf_add(b, name, nlen);
	bmx_buf_ch(b, '\0');
	bmx_buf_add(b, value, vlen);
	bmx_buf_ch(b, '\0');
	return packet_end(b);
}

/* 'B': one body chunk. */
int milter_put_body(struct bmx_buf *b, const void *p, size_t n)
{
	if (n > MILTER_BODY_CHUNK)
		return fail(EMSGSIZE);
	if (p == NULL && n > 0)
		return fail(EINVAL);
	if (packet_begin(b, MILTER_SMFIC_BODY, n) < 0)
		return -1;
	bmx_buf_add(b, p, n);
	return packet_end(b);
}

/* A command without data: T N E A Q K. */
int milter_put_cmd(struct bmx_buf *b, char cmd)
{
	switch (cmd) {
	case MILTER_SMFIC_DATA:
	case MILTER_SMFIC_EOH:
	case MILTER_SMFIC_BODYEOB:
	case MILTER_SMFIC_ABORT:
	case MILTER_SMFIC_QUIT:
	case MILTER_SMFIC_QUIT_NC:
		break;
	default:
		return fail(EINVAL);
	}
	if (packet_begin(b, cmd, 0) < 0)
		return -1;
	return packet_end(b);
}

/* --------------------------------------------------------------- decoding */

/* A read position in a frame's data. */
struct cur {
	const uint8_t *p;
	size_t n, off;
	const char **err;
};

/* Fail with *err = why; always -1. */
static int bad(const char **err, const char *why)
{
	*err = why;
	return -1;
}

/* Take a 32-bit word; 0 or -1. */
static int take32(struct cur *c, uint32_t *v, const char *what)
{
	if (c->n - c->off < LEN_OCTETS)
		return bad(c->err, what);
	*v = get32(c->p + c->off);
	c->off += LEN_OCTETS;
	return 0;
}

/* Take a NUL-terminated string of at most max octets; 0 or -1. */
static int take_str(struct cur *c, size_t max, struct milter_str *s)
{
	const uint8_t *z = NULL;
	size_t l;

	if (c->off < c->n)
		z = memchr(c->p + c->off, '\0', c->n - c->off);
	if (z == NULL)
		return bad(c->err, "string without NUL");
	l = (size_t)(z - (c->p + c->off));
	if (l > max)
		return bad(c->err, "string over its limit");
	s->p = (const char *)(c->p + c->off);
	s->len = l;
	c->off += l + 1;
	return 0;
}

/* Fail unless the whole frame was read; 0 or -1. */
static int take_end(struct cur *c)
{
	return c->off == c->n ? 0 : bad(c->err, "trailing octets");
}

/* Does s hold a control character (C0 but tab when tab_ok, or DEL)? 1 or 0. */
static int has_ctl(const struct milter_str *s, int tab_ok)
{
	size_t i;

	for (i = 0; i < s->len; i++) {
		uint8_t ch = (uint8_t)s->p[i];

		if ((ch < 0x20 && !(tab_ok && ch == '\t')) || ch == 0x7f)
			return 1;
	}
	return 0;
}

/* OPTNEG: 3 words, then (stage word, macro list NUL) pairs. */
static int parse_optneg(struct cur *c, struct milter_reply *r)
{
	if (take32(c, &r->version, "short OPTNEG") < 0 ||
	    take32(c, &r->actions, "short OPTNEG") < 0 ||
	    take32(c, &r->flags, "short OPTNEG") < 0)
		return -1;
	while (c->off < c->n) {
		struct milter_str s;
		uint32_t stage;

		if (take32(c, &stage, "truncated macro list") < 0 ||
		    take_str(c, MILTER_MACRO_LIST_MAX, &s) < 0)
			return -1;
		if (has_ctl(&s, 0))
			return bad(c->err, "control character in macro list");
		if (stage < MILTER_STAGES)
			r->macros[stage] = s;   /* a later list for a stage wins */
		else
			r->macros_ignored++;    /* Postfix ignores unknown stages too */
	}
	return 0;
}

/* Header actions: ['i'/'m': index] name NUL value NUL. */
static int parse_header(struct cur *c, struct milter_reply *r, int indexed)
{
	if (indexed) {
		if (take32(c, &r->index, "short header action") < 0)
			return -1;
		if (r->index > INT32_MAX)
			return bad(c->err, "header index out of range");
		if (r->kind == MILTER_REPLY_CHGHEADER && r->index == 0)
			r->index = 1;
	}
	if (take_str(c, MILTER_HDR_NAME_MAX, &r->name) < 0 ||
	    take_str(c, MILTER_HDR_VALUE_MAX, &r->value) < 0 || take_end(c) < 0)
		return -1;
	if (!hdr_name_ok(r->name.p, r->name.len))
		return bad(c->err, "bad header name");
	return 0;
}

/* Recipient and sender actions: addr NUL [args NUL] (args only if allowed). */
static int parse_addr(struct cur *c, struct milter_reply *r, int args_ok)
{
	if (take_str(c, MILTER_ADDR_MAX, &r->addr) < 0)
		return -1;
	if (r->addr.len == 0)
		return bad(c->err, "empty address");
	if (has_ctl(&r->addr, 0))
		return bad(c->err, "control character in address");
	if (args_ok && c->off < c->n) {
		if (take_str(c, MILTER_ARGS_MAX, &r->args) < 0)
			return -1;
		if (has_ctl(&r->args, 0))
			return bad(c->err, "control character in ESMTP arguments");
	}
	return take_end(c);
}

/* Is c an ASCII digit? */
static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of the 1-3 digits at s[0..n), 0 if none. */
static size_t digits(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && i < 3 && is_digit(s[i]))
		i++;
	return i;
}

/* Copy an enhanced code "c.s.d" that starts t[0..n) into r->enh. */
static void find_enh(struct milter_reply *r, const char *t, size_t n)
{
	size_t i = 2, d;

	if (n < 5 || t[0] != '0' + r->code / 100 || t[1] != '.')
		return;
	if ((d = digits(t + i, n - i)) == 0 || i + d >= n || t[i + d] != '.')
		return;
	i += d + 1;
	if ((d = digits(t + i, n - i)) == 0)
		return;
	i += d;
	if (i < n && t[i] != ' ')
		return;
	memcpy(r->enh, t, i);
	r->enh[i] = '\0';
}

/* Check one 'y' line l[0..ll) ("ddd", "ddd text" or "ddd-text"); 0 or -1. */
static int reply_line(struct milter_reply *r, const char *l, size_t ll, int last,
		      const char **err)
{
	int code;

	if (ll > MILTER_REPLY_LINE_MAX)
		return bad(err, "reply line too long");
	if (ll < 3 || (l[0] != '4' && l[0] != '5') || !is_digit(l[1]) || !is_digit(l[2]))
		return bad(err, "reply code not 4yz or 5yz");
	code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (r->nlines == 0)
		r->code = code;
	else if (code != r->code)
		return bad(err, "reply codes differ between lines");
	if (last ? (ll > 3 && l[3] != ' ') : (ll < 4 || l[3] != '-'))
		return bad(err, "bad reply line separator");
	/* an enhanced code must be of the reply's class (as Postfix checks) */
	if (ll > 4 && is_digit(l[4]) && l[4] != l[0])
		return bad(err, "enhanced code of another class");
	if (r->nlines == 0 && ll > 4)
		find_enh(r, l + 4, ll - 4);
	r->nlines++;
	return 0;
}

/* Check a whole 'y' text: lines joined by CRLF, no final CRLF; 0 or -1. */
static int reply_check(struct milter_reply *r, const char **err)
{
	const char *t = r->text.p;
	size_t n = r->text.len, pos = 0;

	for (;;) {
		size_t e = pos;

		if (r->nlines >= MILTER_REPLY_LINES_MAX)
			return bad(err, "too many reply lines");
		while (e < n && t[e] != '\r' && t[e] != '\n') {
			uint8_t ch = (uint8_t)t[e];

			if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
				return bad(err, "control character in reply");
			e++;
		}
		if (reply_line(r, t + pos, e - pos, e == n, err) < 0)
			return -1;
		if (e == n)
			return 0;
		if (t[e] != '\r' || e + 1 >= n || t[e + 1] != '\n')
			return bad(err, "bare CR or LF in reply");
		pos = e + 2;
	}
}

/* The replies that carry no data, and their kinds. */
static const struct {
	char cmd;
	enum milter_reply_kind kind;
} bare_replies[] = {
	{ MILTER_SMFIR_ACCEPT, MILTER_REPLY_ACCEPT },
	{ MILTER_SMFIR_CONTINUE, MILTER_REPLY_CONTINUE },
	{ MILTER_SMFIR_DISCARD, MILTER_REPLY_DISCARD },
	{ MILTER_SMFIR_REJECT, MILTER_REPLY_REJECT },
	{ MILTER_SMFIR_TEMPFAIL, MILTER_REPLY_TEMPFAIL },
	{ MILTER_SMFIR_SKIP, MILTER_REPLY_SKIP },
	{ MILTER_SMFIR_PROGRESS, MILTER_REPLY_PROGRESS },
	{ MILTER_SMFIR_CONN_FAIL, MILTER_REPLY_CONN_FAIL },
	{ MILTER_SMFIR_SHUTDOWN, MILTER_REPLY_SHUTDOWN },
};

/* Decode the replies that carry data; 0 or -1. */
static int parse_data_reply(struct cur *c, struct milter_reply *r)
{
	switch (r->cmd) {
	case MILTER_SMFIC_OPTNEG:
		r->kind = MILTER_REPLY_OPTNEG;
		return parse_optneg(c, r);
	case MILTER_SMFIR_REPLYCODE:
		r->kind = MILTER_REPLY_REPLYCODE;
		if (take_str(c, MILTER_REPLY_MAX, &r->text) < 0 || take_end(c) < 0)
			return -1;
		return reply_check(r, c->err);
	case MILTER_SMFIR_ADDHEADER:
		r->kind = MILTER_REPLY_ADDHEADER;
		return parse_header(c, r, 0);
	case MILTER_SMFIR_INSHEADER:
		r->kind = MILTER_REPLY_INSHEADER;
		return parse_header(c, r, 1);
	case MILTER_SMFIR_CHGHEADER:
		r->kind = MILTER_REPLY_CHGHEADER;
		return parse_header(c, r, 1);
	case MILTER_SMFIR_ADDRCPT:
		r->kind = MILTER_REPLY_ADDRCPT;
		return parse_addr(c, r, 0);
	case MILTER_SMFIR_DELRCPT:
		r->kind = MILTER_REPLY_DELRCPT;
		return parse_addr(c, r, 0);
	case MILTER_SMFIR_ADDRCPT_PAR:
		r->kind = MILTER_REPLY_ADDRCPT_PAR;
		return parse_addr(c, r, 1);
	case MILTER_SMFIR_CHGFROM:
		r->kind = MILTER_REPLY_CHGFROM;
		return parse_addr(c, r, 1);
	case MILTER_SMFIR_REPLBODY:
		r->kind = MILTER_REPLY_REPLBODY;
		return 0;
	case MILTER_SMFIR_QUARANTINE:
		r->kind = MILTER_REPLY_QUARANTINE;
		if (take_str(c, MILTER_QUARANTINE_MAX, &r->text) < 0 || take_end(c) < 0)
			return -1;
		return has_ctl(&r->text, 1) ? bad(c->err, "control character in reason") : 0;
	default:
		r->kind = MILTER_REPLY_UNKNOWN;
		return 0;
	}
}

/* Decode one reply frame; see milter_proto.h. */
int milter_reply_parse(const struct milter_frame *f, struct milter_reply *r, const char **err)
{
	static const char *dummy;
	struct cur c;
	size_t i;

	if (err == NULL)
		err = &dummy;
	*err = NULL;
	memset(r, 0, sizeof(*r));
	r->cmd = f->cmd;
	r->data = f->data;
	r->len = f->len;
	for (i = 0; i < sizeof(bare_replies) / sizeof(bare_replies[0]); i++) {
		if (bare_replies[i].cmd != f->cmd)
			continue;
		r->kind = bare_replies[i].kind;
		return f->len == 0 ? 0 : bad(err, "data on a reply that has none");
	}
	c.p = f->data;
	c.n = f->len;
	c.off = 0;
	c.err = err;
	return parse_data_reply(&c, r);
}

/* Check an OPTNEG answer against what we offered; see milter_proto.h. */
int milter_optneg_check(const struct milter_reply *r, uint32_t actions, uint32_t flags,
			const char **err)
{
	static const char *dummy;

	if (err == NULL)
		err = &dummy;
	*err = NULL;
	if (r->kind != MILTER_REPLY_OPTNEG)
		return bad(err, "not an OPTNEG reply");
	if (r->version < MILTER_VERSION_MIN || r->version > MILTER_VERSION)
		return bad(err, "unsupported protocol version");
	if ((r->actions & ~actions) != 0)
		return bad(err, "filter wants actions we did not offer");
	if ((r->flags & ~flags) != 0)
		return bad(err, "filter wants protocol flags we did not offer");
	return 0;
}

/* ----------------------------------------------------- stages and replies */

/* The SMFIP_NO* and SMFIP_NR_* bits of a command that has them. */
static const struct {
	char cmd;
	uint32_t no;    /* do not send */
	uint32_t nr;    /* no reply */
} stage_bits[] = {
	{ MILTER_SMFIC_CONNECT, MILTER_SMFIP_NOCONNECT, MILTER_SMFIP_NR_CONN },
	{ MILTER_SMFIC_HELO, MILTER_SMFIP_NOHELO, MILTER_SMFIP_NR_HELO },
	{ MILTER_SMFIC_MAIL, MILTER_SMFIP_NOMAIL, MILTER_SMFIP_NR_MAIL },
	{ MILTER_SMFIC_RCPT, MILTER_SMFIP_NORCPT, MILTER_SMFIP_NR_RCPT },
	{ MILTER_SMFIC_DATA, MILTER_SMFIP_NODATA, MILTER_SMFIP_NR_DATA },
	{ MILTER_SMFIC_UNKNOWN, MILTER_SMFIP_NOUNKNOWN, MILTER_SMFIP_NR_UNKN },
	{ MILTER_SMFIC_HEADER, MILTER_SMFIP_NOHDRS, MILTER_SMFIP_NR_HDR },
	{ MILTER_SMFIC_EOH, MILTER_SMFIP_NOEOH, MILTER_SMFIP_NR_EOH },
	{ MILTER_SMFIC_BODY, MILTER_SMFIP_NOBODY, MILTER_SMFIP_NR_BODY },
};
#define STAGE_BITS (sizeof(stage_bits) / sizeof(stage_bits[0]))

/* Index of cmd in stage_bits, or -1. */
static int stage_find(char cmd)
{
	size_t i;

	for (i = 0; i < STAGE_BITS; i++)
		if (stage_bits[i].cmd == cmd)
			return (int)i;
	return -1;
}

/* Is cmd one of the commands that have no SMFIP bits: O D E A Q K? */
static int is_plain_cmd(char cmd)
{
	return cmd == MILTER_SMFIC_OPTNEG || cmd == MILTER_SMFIC_MACRO ||
	       cmd == MILTER_SMFIC_BODYEOB || cmd == MILTER_SMFIC_ABORT ||
	       cmd == MILTER_SMFIC_QUIT || cmd == MILTER_SMFIC_QUIT_NC;
}

/* Does the filter want cmd sent?  1 or 0. */
int milter_stage_wanted(uint32_t proto_flags, char cmd)
{
	int i = stage_find(cmd);

	if (i >= 0)
		return (proto_flags & stage_bits[i].no) == 0;
	return is_plain_cmd(cmd);
}

/* Will the filter answer cmd?  1 or 0. */
int milter_stage_expects_reply(uint32_t proto_flags, char cmd)
{
	int i = stage_find(cmd);

	if (i >= 0)
		return (proto_flags & stage_bits[i].nr) == 0;
	return cmd == MILTER_SMFIC_OPTNEG || cmd == MILTER_SMFIC_BODYEOB;
}

/* The command octet that carries stage s's macros, or 0. */
char milter_stage_cmd(int stage)
{
	static const char cmds[MILTER_STAGES] = {
		MILTER_SMFIC_CONNECT, MILTER_SMFIC_HELO, MILTER_SMFIC_MAIL, MILTER_SMFIC_RCPT,
		MILTER_SMFIC_DATA, MILTER_SMFIC_BODYEOB, MILTER_SMFIC_EOH,
	};

	return stage >= 0 && stage < MILTER_STAGES ? cmds[stage] : 0;
}

/* ---------------------------------------------------------- header values */

/* Copy a header value with every line break as CRLF; see milter_proto.h. */
ssize_t milter_hdr_crlf(const char *v, size_t n, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	if (outlen == 0)
		return fail(EMSGSIZE);
	while (i < n) {
		char ch = v[i];

		if (ch == '\0')
			return fail(EINVAL);
		if (ch == '\r' || ch == '\n') {
			i += ch == '\r' && i + 1 < n && v[i + 1] == '\n' ? 2 : 1;
			/* only a folding break: the next line starts with WSP */
			if (i >= n || (v[i] != ' ' && v[i] != '\t'))
				return fail(EINVAL);
			if (outlen - o < 3)
				return fail(EMSGSIZE);
			out[o++] = '\r';
			out[o++] = '\n';
			continue;
		}
		if (outlen - o < 2)
			return fail(EMSGSIZE);
		out[o++] = ch;
		i++;
	}
	out[o] = '\0';
	return (ssize_t)o;
}
