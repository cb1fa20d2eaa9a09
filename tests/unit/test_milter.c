/*
 * test_milter.c - table tests for the milter protocol codec.
 *
 * Encoders are checked byte for byte and then cut again by
 * milter_frame_next() (the round trip); framing on complete, partial,
 * empty and over-long packets, and on every proper prefix; the reply
 * decoder on every reply kind, on rspamd's measured conversation
 * (OPTNEG 6/0x1ff/0xFF080, 'y' "554 5.7.1 Gtube pattern", the 'm' and 'i'
 * Authentication-Results actions) and on malformed replies, each decoded
 * from an exact-size copy so ASan sees any over-read; the limits at and
 * one past their value; the stage tables; the LF-to-CRLF header helper.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "filter/milter_proto.h"

#define S(x) x, sizeof(x) - 1

/* ------------------------------------------------------------- encoders */

struct enc_case {
	char op;                /* the command to encode */
	const char *s[6];       /* string arguments, NULL-terminated list */
	size_t ns;              /* MAIL/RCPT args, macro pairs */
	char family;            /* CONNECT */
	uint16_t port;
	uint32_t w[3];          /* OPTNEG */
	int ret;
	int err;                /* errno when ret is -1 */
	const char *want;       /* the whole packet */
	size_t wantlen;
};

/* A command without data: its packet is the length 1 and the octet. */
#define BARECMD(c, s) { c, {0}, 0, 0, 0, {0}, 0, 0, "\0\0\0\x01" s, 5 }

static const struct enc_case enc_cases[] = {
	{ 'O', {0}, 0, 0, 0, { 6, 0x1ff, 0x1fffff }, 0, 0,
	  S("\0\0\0\x0dO\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff") },
	{ 'D', { "j", "mx2.good.test", "{daemon_name}", "mx2.good.test" }, 2, 'C', 0, {0}, 0, 0,
	  S("\0\0\0\x2e" "DCj\0mx2.good.test\0{daemon_name}\0mx2.good.test\0") },
	{ 'D', { "i", "" }, 1, 'E', 0, {0}, 0, 0, S("\0\0\0\x05" "DEi\0\0") },
	{ 'D', {0}, 0, 'N', 0, {0}, 0, 0, S("\0\0\0\x02" "DN") },
	{ 'D', { "", "v" }, 1, 'C', 0, {0}, -1, EINVAL, S("") },
	{ 'C', { "mail.example.net", "192.0.2.1" }, 0, '4', 2525, {0}, 0, 0,
	  S("\0\0\0\x1f" "Cmail.example.net\0" "4\x09\xdd" "192.0.2.1\0") },
	{ 'C', { "[2001:db8::1]", "2001:db8::1" }, 0, '6', 25, {0}, 0, 0,
	  S("\0\0\0\x1e" "C[2001:db8::1]\0" "6\0\x19" "2001:db8::1\0") },
	{ 'C', { "localhost", "/run/x.sock" }, 0, 'L', 0, {0}, 0, 0,
	  S("\0\0\0\x1a" "Clocalhost\0L\0\0/run/x.sock\0") },
	{ 'C', { "unknown", NULL }, 0, 'U', 7, {0}, 0, 0, S("\0\0\0\x0a" "Cunknown\0U") },
	{ 'C', { "h", "1.2.3.4" }, 0, 'X', 0, {0}, -1, EINVAL, S("") },
	{ 'C', { "h", NULL }, 0, '4', 0, {0}, -1, EINVAL, S("") },
	{ 'H', { "client.example.net" }, 0, 0, 0, {0}, 0, 0,
	  S("\0\0\0\x14" "Hclient.example.net\0") },
	{ 'H', { "" }, 0, 0, 0, {0}, 0, 0, S("\0\0\0\x02" "H\0") },
	{ 'M', { "<a@pass.test>", "SIZE=100", "BODY=8BITMIME" }, 3, 0, 0, {0}, 0, 0,
	  S("\0\0\0\x26" "M<a@pass.test>\0SIZE=100\0BODY=8BITMIME\0") },
	{ 'M', { "<>" }, 1, 0, 0, {0}, 0, 0, S("\0\0\0\x04" "M<>\0") },
	{ 'M', { "a@pass.test" }, 1, 0, 0, {0}, -1, EINVAL, S("") },
	{ 'M', { "<" }, 1, 0, 0, {0}, -1, EINVAL, S("") },
	{ 'M', {0}, 0, 0, 0, {0}, -1, EINVAL, S("") },
	{ 'R', { "<b@good.test>" }, 1, 0, 0, {0}, 0, 0, S("\0\0\0\x0f" "R<b@good.test>\0") },
	{ 'U', { "XYZZY foo" }, 0, 0, 0, {0}, 0, 0, S("\0\0\0\x0b" "UXYZZY foo\0") },
	{ 'L', { "Subject", "hi there" }, 0, 0, 0, {0}, 0, 0,
	  S("\0\0\0\x12" "LSubject\0hi there\0") },
	{ 'L', { "X-Empty", "" }, 0, 0, 0, {0}, 0, 0, S("\0\0\0\x0a" "LX-Empty\0\0") },
	{ 'L', { "Bad:Name", "v" }, 0, 0, 0, {0}, -1, EINVAL, S("") },
	{ 'L', { "Bad Name", "v" }, 0, 0, 0, {0}, -1, EINVAL, S("") },
	{ 'L', { "", "v" }, 0, 0, 0, {0}, -1, EINVAL, S("") },
	{ 'B', { "line 1\r\nline 2\r\n" }, 0, 0, 0, {0}, 0, 0,
	  S("\0\0\0\x11" "Bline 1\r\nline 2\r\n") },
	BARECMD('T', "T"), BARECMD('N', "N"), BARECMD('E', "E"), BARECMD('A', "A"),
	BARECMD('Q', "Q"), BARECMD('K', "K"),
	{ 'Z', {0}, 0, 0, 0, {0}, -1, EINVAL, S("") }, { 'b', {0}, 0, 0, 0, {0}, -1, EINVAL, S("") },
};

/* Encode one table case into b. */
static int encode(const struct enc_case *c, struct bmx_buf *b)
{
	switch (c->op) {
	case 'O':
		return milter_put_optneg(b, c->w[0], c->w[1], c->w[2]);
	case 'D':
		return milter_put_macros(b, c->family, c->s, c->ns);
	case 'C':
		return milter_put_connect(b, c->s[0], c->family, c->port, c->s[1]);
	case 'H':
		return milter_put_helo(b, c->s[0]);
	case 'M':
		return milter_put_mail(b, c->ns ? c->s : NULL, c->ns);
	case 'R':
		return milter_put_rcpt(b, c->s, c->ns);
	case 'U':
		return milter_put_unknown(b, c->s[0]);
	case 'L':
		return milter_put_header(b, c->s[0], strlen(c->s[0]), c->s[1], strlen(c->s[1]));
	case 'B':
		return milter_put_body(b, c->s[0], strlen(c->s[0]));
	default:
		return milter_put_cmd(b, c->op);
	}
}

/* Every encoder case, byte for byte, then framed again. */
static void test_encode(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		const struct enc_case *c = &enc_cases[i];
		struct bmx_buf b = BMX_BUF_INIT;
		struct milter_frame f;
		size_t used;
		int ret;

		bmx_buf_str(&b, "x");   /* encoders append */
		errno = 0;
		ret = encode(c, &b);
		if (ret != c->ret)
			fail_msg("case %zu '%c': got %d want %d", i, c->op, ret, c->ret);
		if (ret < 0) {
			assert_int_equal(errno, c->err);
			assert_int_equal(b.len, 1);   /* nothing appended */
			bmx_buf_free(&b);
			continue;
		}
		if (b.len != c->wantlen + 1 || memcmp(b.p + 1, c->want, c->wantlen) != 0)
			fail_msg("case %zu '%c': wrong bytes (%zu, want %zu)", i, c->op, b.len - 1,
				 c->wantlen);
		assert_int_equal(milter_frame_next((uint8_t *)b.p + 1, b.len - 1, &f, &used), 1);
		assert_int_equal(used, c->wantlen);
		assert_int_equal(f.cmd, c->op == 'O' ? 'O' : c->want[4]);
		assert_int_equal(f.len, c->wantlen - 5);
		assert_memory_equal(f.data, c->want + 5, f.len);
		bmx_buf_free(&b);
	}
}

/* Size limits of the encoders: MILTER_DATA_MAX and MILTER_BODY_CHUNK. */
static void test_encode_limits(void **state)
{
	struct bmx_buf b = BMX_BUF_INIT;
	char *big = malloc(MILTER_DATA_MAX + 2);
	const char *args[2] = { "<a@b>", NULL };

	(void)state;
	assert_non_null(big);
	memset(big, 'x', MILTER_DATA_MAX + 1);
	assert_int_equal(milter_put_body(&b, big, MILTER_BODY_CHUNK), 0);
	assert_int_equal(b.len, 5 + MILTER_BODY_CHUNK);
	assert_int_equal((uint8_t)b.p[1], 0x01);   /* length 65536 = 0x00010000 */
	bmx_buf_clear(&b);
	errno = 0;
	assert_int_equal(milter_put_body(&b, big, MILTER_BODY_CHUNK + 1), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* header: "X\0" + value + "\0" must stay within MILTER_DATA_MAX */
	assert_int_equal(milter_put_header(&b, "X", 1, big, MILTER_DATA_MAX - 3), 0);
	bmx_buf_clear(&b);
	errno = 0;
	assert_int_equal(milter_put_header(&b, "X", 1, big, MILTER_DATA_MAX - 2), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* a NUL inside a header value */
	big[10] = '\0';
	errno = 0;
	assert_int_equal(milter_put_header(&b, "X", 1, big, 20), -1);
	assert_int_equal(errno, EINVAL);
	big[10] = 'x';
	/* strings: HELO of MILTER_DATA_MAX - 1 octets plus its NUL fits */
	big[MILTER_DATA_MAX - 1] = '\0';
	assert_int_equal(milter_put_helo(&b, big), 0);
	bmx_buf_clear(&b);
	big[MILTER_DATA_MAX - 1] = 'x';
	big[MILTER_DATA_MAX] = '\0';
	errno = 0;
	assert_int_equal(milter_put_helo(&b, big), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* NULL where a buffer is needed */
	errno = 0;
	assert_int_equal(milter_put_body(&b, NULL, 1), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(milter_put_macros(&b, 'C', NULL, 1), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(milter_put_macros(&b, '\0', NULL, 0), -1);
	assert_int_equal(milter_put_helo(&b, NULL), -1);
	assert_int_equal(b.len, 0);
	args[1] = big;
	errno = 0;
	assert_int_equal(milter_put_rcpt(&b, args, 2), -1);
	assert_int_equal(errno, EMSGSIZE);
	big[MILTER_DATA_MAX - 2] = '\0';
	assert_int_equal(milter_put_connect(&b, big, '4', 25, "1.2.3.4"), -1);
	assert_int_equal(b.len, 0);
	bmx_buf_free(&b);
	free(big);
}

/* -------------------------------------------------------------- framing */

struct frame_case {
	const char *in;
	size_t len;
	int ret;
	size_t used;
	char cmd;
	size_t dlen;
};

static const struct frame_case frame_cases[] = {
	{ S("\0\0\0\x01" "a"), 1, 5, 'a', 0 },
	{ S("\0\0\0\x01" "a" "\0\0\0\x01" "c"), 1, 5, 'a', 0 },
	{ S("\0\0\0\x03" "hX\0"), 1, 7, 'h', 2 },
	{ S("\0\0\0\x03" "hX"), 0, 0, 0, 0 },
	{ S("\0\0\0\x01"), 0, 0, 0, 0 },
	{ S("\0\0\0"), 0, 0, 0, 0 },
	{ S(""), 0, 0, 0, 0 },
	{ S("\0\0\0\0"), -1, 0, 0, 0 },
	{ S("\0\0\0\0" "a"), -1, 0, 0, 0 },
	{ S("\xff\xff\xff\xff"), -1, 0, 0, 0 },
	{ S("\x80\0\0\x01" "a"), -1, 0, 0, 0 },
	{ S("\0\x01\x10\x01"), -1, 0, 0, 0 },          /* MILTER_PACKET_MAX + 1 */
	{ S("\0\x01\x10\0"), 0, 0, 0, 0 },             /* MILTER_PACKET_MAX: wait */
	{ S("GET /ping HTTP/1.0\r\n"), -1, 0, 0, 0 },  /* not milter at all */
};

/* Every framing case, on an exact-size copy; the largest packet. */
static void test_frame(void **state)
{
	struct milter_frame f;
	size_t i, used;
	uint8_t *buf;

	(void)state;
	assert_int_equal(MILTER_PACKET_MAX, 0x11000);
	for (i = 0; i < sizeof(frame_cases) / sizeof(frame_cases[0]); i++) {
		const struct frame_case *c = &frame_cases[i];
		int ret;

		buf = malloc(c->len ? c->len : 1);
		used = 99;
		assert_non_null(buf);
		memcpy(buf, c->in, c->len);
		ret = milter_frame_next(buf, c->len, &f, &used);
		if (ret != c->ret)
			fail_msg("case %zu: got %d want %d", i, ret, c->ret);
		assert_int_equal(used, c->used);
		if (ret == 1) {
			assert_int_equal(f.cmd, c->cmd);
			assert_int_equal(f.len, c->dlen);
			assert_ptr_equal(f.data, buf + 5);
			/* every proper prefix needs more */
			for (size_t k = 0; k < used; k++)
				assert_int_equal(milter_frame_next(buf, k, &f, &used), 0);
		}
		free(buf);
	}
	/* the largest packet we accept, complete */
	buf = calloc(1, 4 + MILTER_PACKET_MAX);
	assert_non_null(buf);
	buf[1] = 0x01;
	buf[2] = 0x10;
	buf[4] = 'b';
	assert_int_equal(milter_frame_next(buf, 3 + MILTER_PACKET_MAX, &f, &used), 0);
	assert_int_equal(milter_frame_next(buf, 4 + MILTER_PACKET_MAX, &f, &used), 1);
	assert_int_equal(used, 4 + MILTER_PACKET_MAX);
	assert_int_equal(f.len, MILTER_PACKET_MAX - 1);
	free(buf);
}

/* ---------------------------------------------------------------- replies */

struct reply_case {
	char cmd;
	const char *data;
	size_t dlen;
	int ret;
	enum milter_reply_kind kind;
	const char *s1;   /* name / addr / text */
	const char *s2;   /* value / args / enh */
	uint32_t num;     /* index / code / nlines<<16 */
};

#define AR_VALUE "mx2.good.test;\n\tspf=pass (mx2.good.test: domain of a@pass.test " \
	"designates 127.0.0.77 as permitted sender) smtp.mailfrom=a@pass.test"

/* A reply that must be refused, and one without data that must pass. */
#define BAD(c, d) { c, S(d), -1, 0, NULL, NULL, 0 }
#define BARE(c, k) { c, S(""), 0, k, NULL, NULL, 0 }
#define YOK(t, enh, code) { 'y', S(t "\0"), 0, MILTER_REPLY_REPLYCODE, t, enh, code }

static const struct reply_case reply_cases[] = {
	/* no data */
	BARE('a', MILTER_REPLY_ACCEPT), BARE('c', MILTER_REPLY_CONTINUE),
	BARE('d', MILTER_REPLY_DISCARD), BARE('r', MILTER_REPLY_REJECT),
	BARE('t', MILTER_REPLY_TEMPFAIL), BARE('s', MILTER_REPLY_SKIP),
	BARE('p', MILTER_REPLY_PROGRESS), BARE('f', MILTER_REPLY_CONN_FAIL),
	BARE('4', MILTER_REPLY_SHUTDOWN), BAD('a', "x"), BAD('c', "\0"),
	/* unknown: the caller decides */
	{ 'l', S("\0\0\0\0j\0"), 0, MILTER_REPLY_UNKNOWN, NULL, NULL, 0 },
	BARE('Z', MILTER_REPLY_UNKNOWN),
	{ '\0', S("\xff"), 0, MILTER_REPLY_UNKNOWN, NULL, NULL, 0 },
	/* replycode: rspamd's GTUBE answer, libmilter's multi-line form */
	YOK("554 5.7.1 Gtube pattern", "5.7.1", 554),
	YOK("451 4.7.1 Try again later", "4.7.1", 451), YOK("554", "", 554), YOK("554 ", "", 554),
	YOK("554 no enh", "", 554), YOK("554 5.7.1", "5.7.1", 554), YOK("554 5.7.1x", "", 554),
	YOK("554 5.1234.1 x", "", 554), YOK("554 5.7.x", "", 554), YOK("554 5.7", "", 554),
	YOK("554 tab\there 100% \xc3\xa9", "", 554),
	YOK("550-5.7.1 one\r\n550-5.7.1 two\r\n550 5.7.1 three", "5.7.1", 550),
	BAD('y', "554 4.7.1 wrong class\0"), BAD('y', "250 2.0.0 ok\0"), BAD('y', "354 go\0"),
	BAD('y', "654 x\0"), BAD('y', "5x4 x\0"), BAD('y', "55\0"), BAD('y', "\0"), BAD('y', ""),
	BAD('y', "554 no nul"), BAD('y', "554 x\0trailing"), BAD('y', "554 x\0\0"),
	BAD('y', "554-x\0"), BAD('y', "554x\0"), BAD('y', "554 a\r\n554 b\0"),
	BAD('y', "554-a\r\n550 b\0"), BAD('y', "554-a\n554 b\0"), BAD('y', "554-a\r554 b\0"),
	BAD('y', "554 a\r\n\0"), BAD('y', "554 a\x1b[0m\0"), BAD('y', "554 a\x7f\0"),
	/* header actions: rspamd's Authentication-Results pair */
	{ 'm', S("\0\0\0\x01" "Authentication-Results\0\0"), 0, MILTER_REPLY_CHGHEADER,
	  "Authentication-Results", "", 1 },
	{ 'i', S("\0\0\0\x01" "Authentication-Results\0" AR_VALUE "\0"), 0,
	  MILTER_REPLY_INSHEADER, "Authentication-Results", AR_VALUE, 1 },
	{ 'i', S("\0\0\0\0" "DKIM-Signature\0v=1\0"), 0, MILTER_REPLY_INSHEADER,
	  "DKIM-Signature", "v=1", 0 },
	{ 'm', S("\0\0\0\0" "X-Spam\0Yes\0"), 0, MILTER_REPLY_CHGHEADER, "X-Spam", "Yes", 1 },
	{ 'm', S("\0\0\x01\0" "X-Spam\0Yes\0"), 0, MILTER_REPLY_CHGHEADER, "X-Spam", "Yes", 256 },
	{ 'h', S("X-Rspamd-Action\0no action\0"), 0, MILTER_REPLY_ADDHEADER,
	  "X-Rspamd-Action", "no action", 0 },
	{ 'h', S("X\0\0"), 0, MILTER_REPLY_ADDHEADER, "X", "", 0 },
	{ 'h', S("X-Folded\0a\n\tb\0"), 0, MILTER_REPLY_ADDHEADER, "X-Folded", "a\n\tb", 0 },
	BAD('m', "\x80\0\0\0" "X\0v\0"), BAD('i', "\xff\xff\xff\xff" "X\0v\0"),
	BAD('i', "\0\0\0"), BAD('i', "\0\0\0\x01" "X\0v"), BAD('h', "X\0v"), BAD('h', "X\0"),
	BAD('h', "X"), BAD('h', ""), BAD('h', "\0v\0"), BAD('h', "X:Y\0v\0"),
	BAD('h', "X Y\0v\0"), BAD('h', "X\r\nBcc\0v\0"), BAD('h', "X\xc3\xa9\0v\0"),
	BAD('h', "X\0v\0extra"),
	/* recipients and sender */
	{ '+', S("<new@good.test>\0"), 0, MILTER_REPLY_ADDRCPT, "<new@good.test>", NULL, 0 },
	{ '-', S("<old@good.test>\0"), 0, MILTER_REPLY_DELRCPT, "<old@good.test>", NULL, 0 },
	{ '2', S("<n@good.test>\0NOTIFY=NEVER\0"), 0, MILTER_REPLY_ADDRCPT_PAR,
	  "<n@good.test>", "NOTIFY=NEVER", 0 },
	{ '2', S("<n@good.test>\0"), 0, MILTER_REPLY_ADDRCPT_PAR, "<n@good.test>", NULL, 0 },
	{ 'e', S("<s@good.test>\0"), 0, MILTER_REPLY_CHGFROM, "<s@good.test>", NULL, 0 },
	{ 'e', S("<>\0SIZE=1\0"), 0, MILTER_REPLY_CHGFROM, "<>", "SIZE=1", 0 },
	BAD('+', "<a@b>\0x\0"), BAD('+', "\0"), BAD('+', "<a@b>"),
	BAD('+', "<a@b>\r\nRCPT TO:<c@d>\0"), BAD('-', "<a@b>\0\0"),
	BAD('e', "<a@b>\0A=1\0B=2\0"), BAD('e', "<a@b>\0A=1\n\0"), BAD('2', "<a@b>\0A=1"),
	/* quarantine and body */
	{ 'q', S("Spam message quarantined\0"), 0, MILTER_REPLY_QUARANTINE,
	  "Spam message quarantined", NULL, 0 },
	{ 'q', S("a\tb\0"), 0, MILTER_REPLY_QUARANTINE, "a\tb", NULL, 0 },
	BAD('q', ""), BAD('q', "a\nb\0"), BAD('q', "a\0b\0"),
	{ 'b', S("new body\r\n\0with NUL"), 0, MILTER_REPLY_REPLBODY, NULL, NULL, 0 },
	BARE('b', MILTER_REPLY_REPLBODY),
};

/* Decode a frame of cmd and an exact-size copy of data[0..dlen). */
static int parse_exact(char cmd, const char *data, size_t dlen, struct milter_reply *r,
		       const char **err, uint8_t **keep)
{
	uint8_t *buf = malloc(dlen ? dlen : 1);
	struct milter_frame f;

	assert_non_null(buf);
	memcpy(buf, data, dlen);
	f.cmd = cmd;
	f.data = buf;
	f.len = dlen;
	*keep = buf;
	return milter_reply_parse(&f, r, err);
}

/* Is s a string of the frame equal to want (want NULL: absent)? */
static void check_str(const struct milter_str *s, const char *want, const uint8_t *buf,
		      size_t dlen)
{
	if (want == NULL) {
		assert_null(s->p);
		return;
	}
	assert_non_null(s->p);
	assert_true((const uint8_t *)s->p >= buf && (const uint8_t *)s->p + s->len < buf + dlen);
	assert_int_equal(s->p[s->len], '\0');
	assert_int_equal(s->len, strlen(want));
	assert_memory_equal(s->p, want, s->len);
}

/* Every reply case. */
static void test_replies(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct reply_case *c = &reply_cases[i];
		struct milter_reply r;
		const char *err = "unset";
		uint8_t *buf;
		int ret = parse_exact(c->cmd, c->data, c->dlen, &r, &err, &buf);

		if (ret != c->ret)
			fail_msg("case %zu '%c': got %d want %d (%s)", i, c->cmd, ret, c->ret,
				 err ? err : "");
		if (ret < 0) {
			assert_non_null(err);
			free(buf);
			continue;
		}
		assert_null(err);
		if (r.kind != c->kind)
			fail_msg("case %zu '%c': kind %d want %d", i, c->cmd, r.kind, c->kind);
		assert_int_equal(r.cmd, c->cmd);
		assert_int_equal(r.len, c->dlen);
		switch (r.kind) {
		case MILTER_REPLY_REPLYCODE:
			check_str(&r.text, c->s1, buf, c->dlen);
			assert_string_equal(r.enh, c->s2);
			assert_int_equal(r.code, c->num);
			break;
		case MILTER_REPLY_QUARANTINE:
			check_str(&r.text, c->s1, buf, c->dlen);
			break;
		case MILTER_REPLY_ADDHEADER:
		case MILTER_REPLY_INSHEADER:
		case MILTER_REPLY_CHGHEADER:
			check_str(&r.name, c->s1, buf, c->dlen);
			check_str(&r.value, c->s2, buf, c->dlen);
			assert_int_equal(r.index, c->num);
			break;
		case MILTER_REPLY_ADDRCPT:
		case MILTER_REPLY_DELRCPT:
		case MILTER_REPLY_ADDRCPT_PAR:
		case MILTER_REPLY_CHGFROM:
			check_str(&r.addr, c->s1, buf, c->dlen);
			check_str(&r.args, c->s2, buf, c->dlen);
			break;
		default:
			assert_null(r.text.p);
			assert_null(r.name.p);
			assert_null(r.addr.p);
			break;
		}
		free(buf);
	}
}

/* The 'y' line count: MILTER_REPLY_LINES_MAX lines pass, one more fails;
 * a line of MILTER_REPLY_LINE_MAX octets passes, one more fails. */
static void test_reply_limits(void **state)
{
	struct bmx_buf b = BMX_BUF_INIT;
	struct milter_reply r;
	uint8_t *keep;
	int i;

	(void)state;
	for (i = 0; i < MILTER_REPLY_LINES_MAX - 1; i++)
		bmx_buf_str(&b, "450-4.2.0 busy\r\n");
	bmx_buf_str(&b, "450 4.2.0 busy");
	assert_int_equal(parse_exact('y', b.p, b.len + 1, &r, NULL, &keep), 0);
	assert_int_equal(r.nlines, MILTER_REPLY_LINES_MAX);
	assert_int_equal(r.code, 450);
	free(keep);
	bmx_buf_clear(&b);
	for (i = 0; i < MILTER_REPLY_LINES_MAX; i++)
		bmx_buf_str(&b, "450-x\r\n");
	bmx_buf_str(&b, "450 x");
	assert_int_equal(parse_exact('y', b.p, b.len + 1, &r, NULL, &keep), -1);
	free(keep);
	bmx_buf_clear(&b);
	bmx_buf_str(&b, "554 ");
	for (i = 4; i < MILTER_REPLY_LINE_MAX; i++)
		bmx_buf_ch(&b, 'x');
	assert_int_equal(parse_exact('y', b.p, b.len + 1, &r, NULL, &keep), 0);
	free(keep);
	bmx_buf_ch(&b, 'x');
	assert_int_equal(parse_exact('y', b.p, b.len + 1, &r, NULL, &keep), -1);
	free(keep);
	bmx_buf_free(&b);
}

/* Header name and value limits, address and args limits. */
static void test_field_limits(void **state)
{
	static const struct {
		char cmd;
		size_t pre;       /* octets before the long field */
		size_t max;       /* its limit */
		size_t post;      /* NUL-separated fields after it */
	} t[] = {
		{ 'h', 0, MILTER_HDR_NAME_MAX, 1 },
		{ 'h', 2, MILTER_HDR_VALUE_MAX, 0 },
		{ '+', 0, MILTER_ADDR_MAX, 0 },
		{ '2', 2, MILTER_ARGS_MAX, 0 },
		{ 'q', 0, MILTER_QUARANTINE_MAX, 0 },
	};
	size_t i, extra;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (extra = 0; extra < 2; extra++) {
			size_t n = t[i].pre + t[i].max + extra + 1 + 2 * t[i].post, o = 0;
			char *d = malloc(n);
			struct milter_reply r;
			uint8_t *keep;

			assert_non_null(d);
			if (t[i].pre) {
				d[o++] = 'X';
				d[o++] = '\0';
			}
			memset(d + o, 'a', t[i].max + extra);
			o += t[i].max + extra;
			d[o++] = '\0';
			if (t[i].post) {
				d[o++] = 'v';
				d[o++] = '\0';
			}
			assert_int_equal(o, n);
			if (parse_exact(t[i].cmd, d, n, &r, NULL, &keep) != (extra ? -1 : 0))
				fail_msg("case %zu extra %zu", i, extra);
			free(keep);
			free(d);
		}
	}
}

/* rspamd's OPTNEG answer, byte for byte, through the framer. */
static void test_optneg_rspamd(void **state)
{
	static const uint8_t pkt[] = {
		0, 0, 0, 13, 'O', 0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0x0f, 0xf0, 0x80,
	};
	struct milter_frame f;
	struct milter_reply r;
	const char *err;
	size_t used, i;

	(void)state;
	assert_int_equal(milter_frame_next(pkt, sizeof(pkt), &f, &used), 1);
	assert_int_equal(used, sizeof(pkt));
	assert_int_equal(milter_reply_parse(&f, &r, &err), 0);
	assert_int_equal(r.kind, MILTER_REPLY_OPTNEG);
	assert_int_equal(r.version, 6);
	assert_int_equal(r.actions, 0x1ff);
	assert_int_equal(r.flags, 0xff080);
	assert_int_equal(r.flags, MILTER_SMFIP_NR_MASK);
	for (i = 0; i < MILTER_STAGES; i++)
		assert_null(r.macros[i].p);
	assert_int_equal(milter_optneg_check(&r, MILTER_SMFIF_ALL, MILTER_SMFIP_ALL, &err), 0);
	/* only the end of message is answered */
	assert_int_equal(milter_stage_expects_reply(r.flags, 'C'), 0);
	assert_int_equal(milter_stage_expects_reply(r.flags, 'L'), 0);
	assert_int_equal(milter_stage_expects_reply(r.flags, 'B'), 0);
	assert_int_equal(milter_stage_expects_reply(r.flags, 'E'), 1);
}

/* OPTNEG with macro lists per stage (libmilter's smfi_setsymlist). */
static void test_optneg_symlist(void **state)
{
	static const char d[] =
		"\0\0\0\x06" "\0\0\x01\xff" "\0\0\0\0"
		"\0\0\0\x00" "{client_addr} {client_name}\0"
		"\0\0\0\x05" "i {auth_type}\0"
		"\0\0\0\x09" "ignored\0"
		"\0\0\0\x05" "i\0";
	struct milter_reply r;
	const char *err;
	uint8_t *keep;

	(void)state;
	assert_int_equal(parse_exact('O', d, sizeof(d) - 1, &r, &err, &keep), 0);
	assert_int_equal(r.version, 6);
	assert_string_equal(r.macros[MILTER_STAGE_CONNECT].p, "{client_addr} {client_name}");
	assert_string_equal(r.macros[MILTER_STAGE_EOM].p, "i");   /* the later list wins */
	assert_int_equal(r.macros[MILTER_STAGE_EOM].len, 1);
	assert_null(r.macros[MILTER_STAGE_HELO].p);
	assert_int_equal(r.macros_ignored, 1);
	free(keep);
	/* malformed: short, truncated pair, missing NUL, control character */
	assert_int_equal(parse_exact('O', d, 11, &r, &err, &keep), -1);
	free(keep);
	assert_int_equal(parse_exact('O', d, 14, &r, &err, &keep), -1);
	assert_string_equal(err, "truncated macro list");
	free(keep);
	assert_int_equal(parse_exact('O', d, 20, &r, &err, &keep), -1);
	free(keep);
	assert_int_equal(parse_exact('O', S("\0\0\0\x06\0\0\0\0\0\0\0\0\0\0\0\0a\nb\0"), &r,
				     &err, &keep), -1);
	free(keep);
	assert_int_equal(parse_exact('O', d, 12, &r, &err, &keep), 0);
	free(keep);
}

/* milter_optneg_check(): version range, actions and flags within ours. */
static void test_optneg_check(void **state)
{
	static const struct {
		enum milter_reply_kind kind;
		uint32_t v, a, f, ours_a, ours_f;
		int ret;
	} t[] = {
		{ MILTER_REPLY_OPTNEG, 6, 0x1ff, 0xff080, 0x1ff, 0x1fffff, 0 },
		{ MILTER_REPLY_OPTNEG, 2, 0x1, 0x0, 0x1ff, 0x1fffff, 0 },
		{ MILTER_REPLY_OPTNEG, 1, 0x1, 0x0, 0x1ff, 0x1fffff, -1 },
		{ MILTER_REPLY_OPTNEG, 7, 0x1, 0x0, 0x1ff, 0x1fffff, -1 },
		{ MILTER_REPLY_OPTNEG, 0, 0x1, 0x0, 0x1ff, 0x1fffff, -1 },
		{ MILTER_REPLY_OPTNEG, 6, 0x1ff, 0xff080, 0x0ff, 0x1fffff, -1 },  /* rspamd adds */
		{ MILTER_REPLY_OPTNEG, 6, 0x3f, 0xff080, 0x1ff, 0x0007ff, -1 },
		{ MILTER_REPLY_OPTNEG, 6, 0x3f, 0x200000, 0x1ff, 0x1fffff, -1 },
		{ MILTER_REPLY_ACCEPT, 6, 0x1ff, 0xff080, 0x1ff, 0x1fffff, -1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct milter_reply r;
		const char *err = NULL;

		memset(&r, 0, sizeof(r));
		r.kind = t[i].kind;
		r.version = t[i].v;
		r.actions = t[i].a;
		r.flags = t[i].f;
		if (milter_optneg_check(&r, t[i].ours_a, t[i].ours_f, &err) != t[i].ret)
			fail_msg("case %zu", i);
		assert_true(t[i].ret == 0 ? err == NULL : err != NULL);
	}
}

/* ----------------------------------------------------------------- stages */

/* The flag values, as libmilter's mfdef.h and mfapi.h define them. */
static void test_constants(void **state)
{
	static const struct {
		uint32_t v, want;
	} t[] = {
		{ MILTER_SMFIP_NOCONNECT, 0x1 }, { MILTER_SMFIP_NOHELO, 0x2 },
		{ MILTER_SMFIP_NOMAIL, 0x4 }, { MILTER_SMFIP_NORCPT, 0x8 },
		{ MILTER_SMFIP_NOBODY, 0x10 }, { MILTER_SMFIP_NOHDRS, 0x20 },
		{ MILTER_SMFIP_NOEOH, 0x40 }, { MILTER_SMFIP_NR_HDR, 0x80 },
		{ MILTER_SMFIP_NOUNKNOWN, 0x100 }, { MILTER_SMFIP_NODATA, 0x200 },
		{ MILTER_SMFIP_SKIP, 0x400 }, { MILTER_SMFIP_RCPT_REJ, 0x800 },
		{ MILTER_SMFIP_NR_CONN, 0x1000 }, { MILTER_SMFIP_NR_HELO, 0x2000 },
		{ MILTER_SMFIP_NR_MAIL, 0x4000 }, { MILTER_SMFIP_NR_RCPT, 0x8000 },
		{ MILTER_SMFIP_NR_DATA, 0x10000 }, { MILTER_SMFIP_NR_UNKN, 0x20000 },
		{ MILTER_SMFIP_NR_EOH, 0x40000 }, { MILTER_SMFIP_NR_BODY, 0x80000 },
		{ MILTER_SMFIP_HDR_LEADSPC, 0x100000 }, { MILTER_SMFIP_ALL, 0x1fffff },
		{ MILTER_SMFIP_NR_MASK, 0xff080 }, { MILTER_SMFIF_ADDHDRS, 0x1 },
		{ MILTER_SMFIF_CHGBODY, 0x2 }, { MILTER_SMFIF_ADDRCPT, 0x4 },
		{ MILTER_SMFIF_DELRCPT, 0x8 }, { MILTER_SMFIF_CHGHDRS, 0x10 },
		{ MILTER_SMFIF_QUARANTINE, 0x20 }, { MILTER_SMFIF_CHGFROM, 0x40 },
		{ MILTER_SMFIF_ADDRCPT_PAR, 0x80 }, { MILTER_SMFIF_SETSYMLIST, 0x100 },
		{ MILTER_SMFIF_ALL, 0x1ff },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].v != t[i].want)
			fail_msg("constant %zu: 0x%x, want 0x%x", i, t[i].v, t[i].want);
}

struct stage_case {
	uint32_t flags;
	char cmd;
	int wanted;
	int reply;
};

#define RSPAMD MILTER_SMFIP_NR_MASK

static const struct stage_case stage_cases[] = {
	{ 0, 'O', 1, 1 }, { 0, 'D', 1, 0 }, { 0, 'C', 1, 1 }, { 0, 'H', 1, 1 },
	{ 0, 'M', 1, 1 }, { 0, 'R', 1, 1 }, { 0, 'T', 1, 1 }, { 0, 'U', 1, 1 },
	{ 0, 'L', 1, 1 }, { 0, 'N', 1, 1 }, { 0, 'B', 1, 1 }, { 0, 'E', 1, 1 },
	{ 0, 'A', 1, 0 }, { 0, 'Q', 1, 0 }, { 0, 'K', 1, 0 },
	{ 0, 'a', 0, 0 }, { 0, 'Z', 0, 0 }, { 0, '\0', 0, 0 },
	/* rspamd 3.4: 0xFF080, every step sent, only 'E' answered */
	{ RSPAMD, 'O', 1, 1 }, { RSPAMD, 'C', 1, 0 }, { RSPAMD, 'H', 1, 0 },
	{ RSPAMD, 'M', 1, 0 }, { RSPAMD, 'R', 1, 0 }, { RSPAMD, 'T', 1, 0 },
	{ RSPAMD, 'U', 1, 0 }, { RSPAMD, 'L', 1, 0 }, { RSPAMD, 'N', 1, 0 },
	{ RSPAMD, 'B', 1, 0 }, { RSPAMD, 'E', 1, 1 }, { RSPAMD, 'D', 1, 0 },
	/* one bit at a time */
	{ MILTER_SMFIP_NOCONNECT, 'C', 0, 1 }, { MILTER_SMFIP_NOHELO, 'H', 0, 1 },
	{ MILTER_SMFIP_NOMAIL, 'M', 0, 1 }, { MILTER_SMFIP_NORCPT, 'R', 0, 1 },
	{ MILTER_SMFIP_NOBODY, 'B', 0, 1 }, { MILTER_SMFIP_NOHDRS, 'L', 0, 1 },
	{ MILTER_SMFIP_NOEOH, 'N', 0, 1 }, { MILTER_SMFIP_NOUNKNOWN, 'U', 0, 1 },
	{ MILTER_SMFIP_NODATA, 'T', 0, 1 }, { MILTER_SMFIP_NR_HDR, 'L', 1, 0 },
	{ MILTER_SMFIP_NR_HDR, 'N', 1, 1 }, { MILTER_SMFIP_NR_BODY, 'E', 1, 1 },
	{ MILTER_SMFIP_NOHDRS, 'N', 1, 1 }, { MILTER_SMFIP_ALL, 'E', 1, 1 },
	{ MILTER_SMFIP_ALL, 'C', 0, 0 }, { MILTER_SMFIP_ALL, 'D', 1, 0 },
};

/* Every stage case. */
static void test_stages(void **state)
{
	size_t i;
	int s;

	(void)state;
	for (i = 0; i < sizeof(stage_cases) / sizeof(stage_cases[0]); i++) {
		const struct stage_case *c = &stage_cases[i];

		if (milter_stage_wanted(c->flags, c->cmd) != c->wanted ||
		    milter_stage_expects_reply(c->flags, c->cmd) != c->reply)
			fail_msg("case %zu '%c' 0x%x", i, c->cmd, c->flags);
	}
	for (s = 0; s < MILTER_STAGES; s++)
		assert_int_equal(milter_stage_cmd(s), "CHMRTEN"[s]);
	assert_int_equal(milter_stage_cmd(-1), 0);
	assert_int_equal(milter_stage_cmd(MILTER_STAGES), 0);
}

/* --------------------------------------------------------- header values */

struct crlf_case {
	const char *in;
	size_t len;
	size_t outlen;
	ssize_t ret;
	int err;
	const char *out;
};

static const struct crlf_case crlf_cases[] = {
	{ S("plain"), 64, 5, 0, "plain" },
	{ S(""), 64, 0, 0, "" },
	{ S("mx2.good.test;\n\tspf=pass"), 64, 25, 0, "mx2.good.test;\r\n\tspf=pass" },
	{ S("a\r\n\tb"), 64, 5, 0, "a\r\n\tb" },
	{ S("a\r b"), 64, 5, 0, "a\r\n b" },
	{ S("a\n b\n\tc"), 64, 9, 0, "a\r\n b\r\n\tc" },
	{ S("\n\tlead"), 64, 7, 0, "\r\n\tlead" },
	{ S("a\nBcc: x@y"), 64, -1, EINVAL, NULL },
	{ S("a\r\nBcc: x@y"), 64, -1, EINVAL, NULL },
	{ S("a\n"), 64, -1, EINVAL, NULL },
	{ S("a\r\n"), 64, -1, EINVAL, NULL },
	{ S("a\n\nbody"), 64, -1, EINVAL, NULL },
	{ S("a\r\r\n b"), 64, -1, EINVAL, NULL },
	{ S("a\0b"), 64, -1, EINVAL, NULL },
	{ S("abc"), 4, 3, 0, "abc" },
	{ S("abcd"), 4, -1, EMSGSIZE, NULL },
	{ S("ab\n c"), 7, 6, 0, "ab\r\n c" },
	{ S("ab\n c"), 6, -1, EMSGSIZE, NULL },
	{ S("a\n b"), 4, -1, EMSGSIZE, NULL },
	{ S("a\n b"), 3, -1, EMSGSIZE, NULL },
	{ S(""), 0, -1, EMSGSIZE, NULL },
};

/* Every header value case. */
static void test_hdr_crlf(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(crlf_cases) / sizeof(crlf_cases[0]); i++) {
		const struct crlf_case *c = &crlf_cases[i];
		char out[64];
		ssize_t n;

		memset(out, '#', sizeof(out));
		errno = 0;
		n = milter_hdr_crlf(c->in, c->len, out, c->outlen);
		if (n != c->ret)
			fail_msg("case %zu: got %zd want %zd", i, n, c->ret);
		if (n < 0) {
			assert_int_equal(errno, c->err);
		} else {
			assert_string_equal(out, c->out);
		}
		if (c->outlen < sizeof(out))
			assert_int_equal(out[c->outlen], '#');   /* never past outlen */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_reply_limits),
		cmocka_unit_test(test_field_limits),
		cmocka_unit_test(test_optneg_rspamd),
		cmocka_unit_test(test_optneg_symlist),
		cmocka_unit_test(test_optneg_check),
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_stages),
		cmocka_unit_test(test_hdr_crlf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
