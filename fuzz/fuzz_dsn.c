/*
 * fuzz_dsn.c - libFuzzer target for the DSN builder of src/relay/dsn.h.
 *
 * The input is read as: one flag octet (RET=FULL, ENVID, received-from,
 * caller boundary, 1-5 recipients), one octet for the time, then
 * length-prefixed strings (one octet; 255 means two more octets of length):
 * the sender, ENVID, received-from and boundary, and for each recipient the
 * address, ORCPT, status, remote MTA and diagnostic plus one octet for its
 * action and dates.  Whatever is left is the original message.
 *
 * Besides the sanitizers, the target checks what dsn_build() promises: it
 * succeeds whenever the caller's own fields are sane; every line ends in
 * CRLF, has at most DSN_LINE_MAX octets and no NUL; the header section has
 * exactly the fixed field names, once each; and the boundary splits the body
 * into exactly three parts and (when derived) occurs nowhere else in it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "relay/dsn.h"

#define FZ_RCPTS    5
#define FZ_STR_MAX  65535
#define FZ_NOW      ((time_t)1700000000)

static const char CT_LINE[] =
	"\r\nContent-Type: multipart/report; report-type=delivery-status;";

static const char *const FIXED[] = {
	"Date", "From", "To", "Subject", "Message-ID", "Auto-Submitted", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding",
};

/* The unread rest of the input. */
struct cur {
	const uint8_t *p;
	size_t n;
};

/* Next octet, or 0 at the end. */
static unsigned take8(struct cur *c)
{
	unsigned v = 0;

	if (c->n > 0) {
		v = c->p[0];
		c->p++;
		c->n--;
	}
	return v;
}

/* Next length-prefixed string as a malloc'd C string (it may hold NULs,
 * which end it early, as in real life). */
static char *take_str(struct cur *c)
{
	size_t len = take8(c);
	char *s;

	if (len == 255)
		len = (take8(c) << 8) | take8(c);
	if (len > c->n)
		len = c->n;
	s = malloc(len + 1);
	if (s == NULL)
		abort();
	memcpy(s, c->p, len);
	s[len] = '\0';
	c->p += len;
	c->n -= len;
	return s;
}

/* One of a few interesting times, picked by v. */
static time_t pick_time(unsigned v)
{
	static const time_t t[] = {
		0, FZ_NOW - 60, FZ_NOW + 86400, FZ_NOW - 86400 * 365, (time_t)INT64_MAX,
		(time_t)-1, (time_t)253402300800LL, (time_t)-2208988801LL,
	};

	return t[v % (sizeof(t) / sizeof(t[0]))];
}

/* Length of line at p (up to CRLF); aborts unless it is a CRLF line. */
static size_t line_len(const char *p, const char *end)
{
	const char *q = p;

	while (q < end && *q != '\r' && *q != '\n') {
		if (*q == '\0')
			abort();
		q++;
	}
	if (q + 1 >= end || q[0] != '\r' || q[1] != '\n')
		abort();
	if ((size_t)(q - p) > DSN_LINE_MAX)
		abort();
	return (size_t)(q - p);
}

/* Check the promises on the output m[0..n); derived: the boundary is ours. */
static void check_output(const char *m, size_t n, int derived)
{
	const char *p = m, *end = m + n, *hdr_end = NULL, *b;
	size_t count[sizeof(FIXED) / sizeof(FIXED[0])] = { 0 }, bl = 0, delims = 0, closes = 0;
	size_t occ = 0;
	char boundary[DSN_BOUNDARY_MAX + 1];
	int last_was_close = 0;

	if (n == 0 || m[n] != '\0')
		abort();
	/* header section: fixed names only, once each */
	while (p < end) {
		size_t ll = line_len(p, end), k;

		if (ll == 0) {
			hdr_end = p;
			p += 2;
			break;
		}
		if (*p != ' ' && *p != '\t') {
			const char *colon = memchr(p, ':', ll);

			if (colon == NULL)
				abort();
			for (k = 0; k < sizeof(FIXED) / sizeof(FIXED[0]); k++) {
				if ((size_t)(colon - p) == strlen(FIXED[k]) &&
				    strncasecmp(p, FIXED[k], strlen(FIXED[k])) == 0)
					break;
			}
			if (k == sizeof(FIXED) / sizeof(FIXED[0]))
				abort();
			count[k]++;
		}
		p += ll + 2;
	}
	if (hdr_end == NULL)
		abort();
	for (size_t k = 0; k < sizeof(count) / sizeof(count[0]); k++)
		if (count[k] != 1)
			abort();
	/* the boundary parameter (the To: line may hold any text) */
	b = memmem(m, (size_t)(hdr_end - m), CT_LINE, sizeof(CT_LINE) - 1);
	if (b == NULL)
		abort();
	b += sizeof(CT_LINE) - 1;
	if (b[0] == '\r' && b[1] == '\n')
		b += 2;
	if (strncmp(b, " boundary=\"", 11) != 0)
		abort();
	b += 11;
	while (b + bl < hdr_end && b[bl] != '"')
		bl++;
	if (bl == 0 || bl > DSN_BOUNDARY_MAX)
		abort();
	memcpy(boundary, b, bl);
	boundary[bl] = '\0';
	/* body: every line CRLF, three "--B" lines and one final "--B--" */
	while (p < end) {
		size_t ll = line_len(p, end);

		last_was_close = 0;
		if (ll >= 2 + bl && p[0] == '-' && p[1] == '-' && memcmp(p + 2, boundary, bl) == 0) {
			if (ll == 2 + bl && closes == 0)
				delims++;
			else if (ll == 4 + bl && memcmp(p + 2 + bl, "--", 2) == 0) {
				closes++;
				last_was_close = 1;
			} else
				abort();
		}
		p += ll + 2;
	}
	if (delims != 3 || closes != 1 || !last_was_close)
		abort();
	/* our boundary occurs in the body on the delimiter lines only (a
	 * caller's may also occur in our own fixed text, which is harmless) */
	for (p = hdr_end; derived && (p = memmem(p, (size_t)(end - p), boundary, bl)) != NULL; p++)
		occ++;
	if (derived && occ != delims + closes)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cur c = { data, size };
	struct dsn_rcpt r[FZ_RCPTS];
	char *strs[4 + FZ_RCPTS * 5], *out = NULL;
	struct dsn_info info;
	unsigned flags = take8(&c), tv = take8(&c);
	size_t n = 1 + (flags >> 4) % FZ_RCPTS, ns = 0, outlen = 0, slen;
	int rc, sane;

	memset(&info, 0, sizeof(info));
	memset(r, 0, sizeof(r));
	info.reporting_mta = "mx2.example.test";
	info.qid = "Q0123456789ABCDEFGHI";
	info.now = FZ_NOW + (time_t)tv * 3600;
	info.arrival = pick_time(tv);
	info.ret_full = flags & 1;
	info.orig_sender = strs[ns++] = take_str(&c);
	strs[ns] = take_str(&c);
	info.envid = (flags & 2) ? strs[ns] : NULL;
	ns++;
	strs[ns] = take_str(&c);
	info.received_from = (flags & 4) ? strs[ns] : NULL;
	ns++;
	strs[ns] = take_str(&c);
	info.boundary = (flags & 8) ? strs[ns] : NULL;
	ns++;
	for (size_t i = 0; i < n; i++) {
		unsigned a = take8(&c);

		r[i].addr = strs[ns++] = take_str(&c);
		r[i].orcpt = strs[ns++] = take_str(&c);
		r[i].status = strs[ns++] = take_str(&c);
		r[i].remote_mta = strs[ns++] = take_str(&c);
		r[i].diagnostic = strs[ns++] = take_str(&c);
		r[i].action = (enum dsn_action)(a % 5);
		r[i].last_attempt = pick_time(a >> 3);
		r[i].will_retry_until = pick_time(a >> 5);
		if (a & 0x80)
			r[i].orcpt = NULL;
	}
	rc = dsn_build(&info, r, n, c.n ? c.p : NULL, c.n, &out, &outlen);

	slen = strlen(info.orig_sender);
	if (slen >= 2 && info.orig_sender[0] == '<' && info.orig_sender[slen - 1] == '>')
		slen -= 2;
	sane = slen > 0 && slen <= DSN_ADDR_MAX && info.boundary == NULL;
	if (rc == 0) {
		if (out == NULL || strlen(out) != outlen)
			abort();
		check_output(out, outlen, info.boundary == NULL);
	} else if (sane || out != NULL) {
		abort();
	}
	free(out);
	for (size_t i = 0; i < ns; i++)
		free(strs[i]);
	return 0;
}
