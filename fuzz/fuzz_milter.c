/*
 * fuzz_milter.c - libFuzzer target for the milter protocol codec.
 *
 * The input is what a hostile filter might send: it is cut into packets
 * with milter_frame_next() and every packet goes through
 * milter_reply_parse().  Checks: a packet lies within the input, "need
 * more" and "bad" are only answered as the length word says; a decoded
 * reply's strings lie inside the frame, end in their NUL and keep their
 * limits; a 'y' reply is 4yz/5yz with CRLF-joined lines of one code; a
 * header name is printable ASCII without ':'; a header value turned into
 * CRLF folding by milter_hdr_crlf() never starts a new header line.  The
 * same bytes are also encoded as a header and an unknown command, and the
 * result must frame back to exactly one packet.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter/milter_proto.h"

/* Abort unless s is absent or a NUL-terminated string of at most max
 * octets inside the frame f. */
static void check_str(const struct milter_str *s, const struct milter_frame *f, size_t max)
{
	const uint8_t *p = (const uint8_t *)s->p;

	if (s->p == NULL) {
		if (s->len != 0)
			abort();
		return;
	}
	if (p < f->data || s->len >= f->len || p + s->len >= f->data + f->len)
		abort();
	if (s->len > max || s->p[s->len] != '\0' || strlen(s->p) != s->len)
		abort();
}

/* Abort unless a 'y' reply is well formed. */
static void check_replycode(const struct milter_reply *r)
{
	const char *t = r->text.p;
	size_t i, lines = 1;

	if (r->code < 400 || r->code > 599 || r->nlines < 1 ||
	    r->nlines > MILTER_REPLY_LINES_MAX || r->text.len < 3)
		abort();
	if (memchr(r->enh, '\0', sizeof(r->enh)) == NULL ||
	    (r->enh[0] != '\0' && r->enh[0] != t[0]))
		abort();
	for (i = 0; i < r->text.len; i++) {
		if (t[i] == '\n' && (i == 0 || t[i - 1] != '\r'))
			abort();
		if (t[i] == '\r' && (i + 1 >= r->text.len || t[i + 1] != '\n'))
			abort();
		if (t[i] == '\n') {
			lines++;
			if (i + 3 >= r->text.len || memcmp(t + i + 1, t, 3) != 0)
				abort();
		}
	}
	if (lines != r->nlines)
		abort();
}

/* Abort unless a header value in CRLF form starts no new line. */
static void check_hdr_value(const struct milter_str *v)
{
	size_t cap = 2 * v->len + 1;
	char *out = malloc(cap);
	ssize_t n;

	if (out == NULL)
		return;
	n = milter_hdr_crlf(v->p, v->len, out, cap);
	if (n >= 0) {
		if ((size_t)n >= cap || out[n] != '\0' || strlen(out) != (size_t)n)
			abort();
		for (ssize_t i = 0; i < n; i++) {
			if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
				abort();
			if (out[i] == '\r' &&
			    (i + 2 >= n || out[i + 1] != '\n' || (out[i + 2] != ' ' && out[i + 2] != '\t')))
				abort();
		}
	}
	free(out);
}

/* Abort unless a decoded reply keeps every invariant. */
static void check_reply(const struct milter_frame *f, const struct milter_reply *r)
{
	size_t i;

	if (r->cmd != f->cmd || r->data != f->data || r->len != f->len)
		abort();
	for (i = 0; i < MILTER_STAGES; i++)
		check_str(&r->macros[i], f, MILTER_MACRO_LIST_MAX);
	check_str(&r->text, f, r->kind == MILTER_REPLY_QUARANTINE ? MILTER_QUARANTINE_MAX :
			       MILTER_REPLY_MAX);
	check_str(&r->name, f, MILTER_HDR_NAME_MAX);
	check_str(&r->value, f, MILTER_HDR_VALUE_MAX);
	check_str(&r->addr, f, MILTER_ADDR_MAX);
	check_str(&r->args, f, MILTER_ARGS_MAX);
	switch (r->kind) {
	case MILTER_REPLY_REPLYCODE:
		check_replycode(r);
		break;
	case MILTER_REPLY_ADDHEADER:
	case MILTER_REPLY_INSHEADER:
	case MILTER_REPLY_CHGHEADER:
		if (r->name.p == NULL || r->value.p == NULL || r->name.len == 0 ||
		    r->index > INT32_MAX || (r->kind == MILTER_REPLY_CHGHEADER && r->index == 0))
			abort();
		for (i = 0; i < r->name.len; i++)
			if ((uint8_t)r->name.p[i] < 33 || (uint8_t)r->name.p[i] > 126 ||
			    r->name.p[i] == ':')
				abort();
		check_hdr_value(&r->value);
		break;
	case MILTER_REPLY_ADDRCPT:
	case MILTER_REPLY_DELRCPT:
	case MILTER_REPLY_ADDRCPT_PAR:
	case MILTER_REPLY_CHGFROM:
		if (r->addr.p == NULL || r->addr.len == 0)
			abort();
		for (i = 0; i < r->addr.len; i++)
			if ((uint8_t)r->addr.p[i] < 0x20 || r->addr.p[i] == 0x7f)
				abort();
		break;
	case MILTER_REPLY_QUARANTINE:
		if (r->text.p == NULL)
			abort();
		for (i = 0; i < r->text.len; i++)
			if (((uint8_t)r->text.p[i] < 0x20 && r->text.p[i] != '\t') ||
			    r->text.p[i] == 0x7f)
				abort();
		break;
	case MILTER_REPLY_OPTNEG:
		if (f->len < 12)
			abort();
		break;
	default:
		if (r->text.p || r->name.p || r->addr.p)
			abort();
		break;
	}
}

/* Cut the input into packets and decode each. */
static void fuzz_frames(const uint8_t *data, size_t size)
{
	size_t off = 0;

	for (;;) {
		struct milter_frame f;
		struct milter_reply r;
		const char *err = NULL;
		size_t used = 1;
		size_t left = size - off;
		int ret = milter_frame_next(data + off, left, &f, &used);
		uint32_t plen = left >= 4 ? (uint32_t)data[off] << 24 | (uint32_t)data[off + 1] << 16 |
						    (uint32_t)data[off + 2] << 8 | data[off + 3] : 0;

		if (ret == 0) {
			if (used != 0 || (left >= 4 && (plen == 0 || plen > MILTER_PACKET_MAX ||
							left >= 4 + (size_t)plen)))
				abort();
			return;
		}
		if (ret < 0) {
			if (used != 0 || left < 4 || (plen != 0 && plen <= MILTER_PACKET_MAX))
				abort();
			return;
		}
		if (ret != 1 || used > left || used != 4 + (size_t)plen || f.len != plen - 1 ||
		    f.data != data + off + 5 || f.cmd != (char)data[off + 4])
			abort();
		if (milter_reply_parse(&f, &r, &err) == 0) {
			if (err != NULL)
				abort();
			check_reply(&f, &r);
			if (r.kind == MILTER_REPLY_OPTNEG &&
			    milter_optneg_check(&r, MILTER_SMFIF_ALL, MILTER_SMFIP_ALL, NULL) == 0 &&
			    (r.version < MILTER_VERSION_MIN || r.version > MILTER_VERSION ||
			     r.flags > MILTER_SMFIP_ALL || r.actions > MILTER_SMFIF_ALL))
				abort();
		} else if (err == NULL) {
			abort();
		}
		off += used;
	}
}

/* Encode the input as a header and as an unknown command; frame it back. */
static void fuzz_encode(const uint8_t *data, size_t size)
{
	struct bmx_buf b = BMX_BUF_INIT;
	struct milter_frame f;
	size_t split = size ? data[0] % 32 : 0, used;
	char *s;

	if (split > size)
		split = size;
	if (milter_put_header(&b, (const char *)data, split, (const char *)data + split,
			      size - split) == 0) {
		if (milter_frame_next((const uint8_t *)b.p, b.len, &f, &used) != 1 ||
		    used != b.len || f.cmd != 'L' || f.len != size + 2)
			abort();
	}
	bmx_buf_free(&b);
	s = malloc(size + 1);
	if (s == NULL)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (milter_put_unknown(&b, s) == 0) {
		if (milter_frame_next((const uint8_t *)b.p, b.len, &f, &used) != 1 ||
		    used != b.len || f.cmd != 'U' || f.len != strlen(s) + 1)
			abort();
	}
	bmx_buf_free(&b);
	free(s);
	if (size >= 5) {
		uint32_t flags = (uint32_t)data[0] << 16 | (uint32_t)data[1] << 8 | data[2];

		if (milter_stage_expects_reply(flags, (char)data[3]) > 1 ||
		    milter_stage_wanted(flags, (char)data[3]) > 1 ||
		    milter_stage_expects_reply(flags, 'E') != 1)
			abort();
	}
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_frames(data, size);
	fuzz_encode(data, size);
	return 0;
}
