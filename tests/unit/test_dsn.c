/*
 * test_dsn.c - table tests for the DSN builder of src/relay/dsn.h.
 *
 * Every message dsn_build() returns is first run through a tiny MIME check
 * written here (CRLF lines of at most 998 octets, no NUL, the fixed header
 * names, a multipart/report whose boundary splits it into exactly three
 * parts), then its fields are compared with what each case expects: the
 * subject, the per-message and per-recipient delivery-status fields, the
 * returned original.  Separate cases cover header injection, a 2 MB
 * original, over-long and bare-CR/LF lines, boundary collisions and bad
 * arguments.  One case writes $BMX_BUILD/dsn-sample.eml (default build/)
 * for tests/lib/dsncheck.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "relay/dsn.h"

#define T_NOW      ((time_t)1700000000)     /* Tue, 14 Nov 2023 22:13:20 +0000 */
#define T_PARTS    8
#define T_VAL_MAX  4096
#define T_MB       (1024 * 1024)

static const char ORIG[] =
	"Received: from client.test by mx2.example.test\r\n"
	"From: Sender <sender@client.test>\r\n"
	"To: alice@example.test, bob@example.test\r\n"
	"Subject: hello\r\n"
	"Message-ID: <m1@client.test>\r\n"
	"\r\n"
	"body line 1\r\n"
	"body line 2\r\n";

static const char *const FIXED_HEADERS[] = {
	"Date", "From", "To", "Subject", "Message-ID", "Auto-Submitted", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding",
};

/* What the tiny MIME check found in a DSN. */
struct mime {
	const char *hdr;              /* top-level header section (with final CRLF) */
	size_t hdrlen;
	char boundary[128];
	size_t nparts;
	const char *part[T_PARTS];    /* each part: its headers, empty line, content */
	size_t partlen[T_PARTS];
};

/* A small view of text. */
struct span {
	const char *p;
	size_t n;
};

/* Check the line discipline of m[0..n): CRLF only, <= 998 octets, no NUL. */
static int lines_ok(const char *m, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		if (m[i] == '\0')
			return 0;
		if (m[i] == '\n')
			return 0;                       /* bare LF (CRLF is eaten below) */
		if (m[i] == '\r') {
			if (i + 1 >= n || m[i + 1] != '\n')
				return 0;
			i++;
			col = 0;
			continue;
		}
		if (++col > DSN_LINE_MAX)
			return 0;
	}
	return n >= 2 && m[n - 2] == '\r' && m[n - 1] == '\n';
}

/* Find the line "--b" or "--b--" starting at or after from; its offset or -1. */
static long find_delim(const char *m, size_t n, size_t from, const char *b, int *last)
{
	size_t bl = strlen(b);

	for (size_t i = from; i + 2 + bl + 2 <= n; ) {
		const char *eol = memmem(m + i, n - i, "\r\n", 2);
		size_t ll = eol ? (size_t)(eol - (m + i)) : n - i;

		if (ll >= 2 + bl && m[i] == '-' && m[i + 1] == '-' && memcmp(m + i + 2, b, bl) == 0) {
			if (ll == 2 + bl) {
				*last = 0;
				return (long)i;
			}
			if (ll == 4 + bl && memcmp(m + i + 2 + bl, "--", 2) == 0) {
				*last = 1;
				return (long)i;
			}
		}
		if (eol == NULL)
			break;
		i += ll + 2;
	}
	return -1;
}

/* Unfolded value of the nth (0-based) field name in t; 1 if found. */
static int field(struct span t, const char *name, int nth, char *val, size_t vmax)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < t.n; ) {
		const char *eol = memmem(t.p + i, t.n - i, "\r\n", 2);
		size_t ll = eol ? (size_t)(eol - (t.p + i)) : t.n - i;

		if (ll > nl && strncasecmp(t.p + i, name, nl) == 0 && t.p[i + nl] == ':' &&
		    nth-- == 0) {
			size_t o = 0, j = i + nl + 1;

			while (j < i + ll && t.p[j] == ' ')
				j++;
			for (;;) {
				for (; j < i + ll && o + 1 < vmax; j++)
					val[o++] = t.p[j];
				i += ll + 2;
				if (i >= t.n || (t.p[i] != ' ' && t.p[i] != '\t'))
					break;
				eol = memmem(t.p + i, t.n - i, "\r\n", 2);
				ll = eol ? (size_t)(eol - (t.p + i)) : t.n - i;
				j = i;
			}
			val[o] = '\0';
			return 1;
		}
		if (eol == NULL)
			break;
		i += ll + 2;
	}
	return 0;
}

/* How many fields called name t has. */
static int count_field(struct span t, const char *name)
{
	char v[T_VAL_MAX];
	int k = 0;

	while (field(t, name, k, v, sizeof(v)))
		k++;
	return k;
}

/* Headers of a part (up to its empty line). */
static struct span part_head(const struct mime *mm, size_t k)
{
	const char *e = memmem(mm->part[k], mm->partlen[k], "\r\n\r\n", 4);
	struct span s = { mm->part[k], e ? (size_t)(e - mm->part[k]) + 2 : mm->partlen[k] };

	return s;
}

/* Content of a part (after its empty line). */
static struct span part_body(const struct mime *mm, size_t k)
{
	const char *e = memmem(mm->part[k], mm->partlen[k], "\r\n\r\n", 4);
	struct span s = { "", 0 };

	if (e != NULL) {
		s.p = e + 4;
		s.n = mm->partlen[k] - (size_t)(s.p - mm->part[k]);
	}
	return s;
}

/* The nth blank-line-separated group of a delivery-status body. */
static struct span ds_group(struct span body, int nth)
{
	struct span g = { NULL, 0 };
	size_t i = 0;

	while (i < body.n) {
		const char *e = memmem(body.p + i, body.n - i, "\r\n\r\n", 4);
		size_t end = e ? (size_t)(e - body.p) + 2 : body.n;

		if (nth-- == 0) {
			g.p = body.p + i;
			g.n = end - i;
			return g;
		}
		i = end + 2;
	}
	return g;
}

/* The tiny MIME check; 0 or -1. */
static int mime_parse(const char *m, size_t n, struct mime *mm)
{
	const char *e, *b;
	char ct[T_VAL_MAX];
	struct span h;
	size_t pos, bl;
	long d;
	int last = 0;

	memset(mm, 0, sizeof(*mm));
	if (!lines_ok(m, n))
		return -1;
	e = memmem(m, n, "\r\n\r\n", 4);
	if (e == NULL)
		return -1;
	mm->hdr = m;
	mm->hdrlen = (size_t)(e - m) + 2;
	h.p = mm->hdr;
	h.n = mm->hdrlen;
	if (!field(h, "Content-Type", 0, ct, sizeof(ct)) ||
	    strncmp(ct, "multipart/report; report-type=delivery-status;", 46) != 0)
		return -1;
	b = strstr(ct, "boundary=\"");
	if (b == NULL)
		return -1;
	b += 10;
	bl = strcspn(b, "\"");
	if (bl == 0 || bl >= sizeof(mm->boundary) || b[bl] != '"')
		return -1;
	memcpy(mm->boundary, b, bl);
	mm->boundary[bl] = '\0';
	d = find_delim(m, n, mm->hdrlen + 2, mm->boundary, &last);
	if (d < 0 || last)
		return -1;
	pos = (size_t)d;
	while (!last) {
		size_t start = pos + 2 + bl + 2;
		long nd = find_delim(m, n, start, mm->boundary, &last);

		if (nd < 0 || mm->nparts >= T_PARTS || (size_t)nd < start + 2)
			return -1;
		mm->part[mm->nparts] = m + start;
		mm->partlen[mm->nparts] = (size_t)nd - 2 - start;    /* CRLF before "--" */
		mm->nparts++;
		pos = (size_t)nd;
	}
	if (pos + 2 + bl + 4 != n)
		return -1;
	return 0;
}

/* True if the header section has exactly the fixed field names, once each. */
static int headers_fixed(const struct mime *mm)
{
	struct span h = { mm->hdr, mm->hdrlen };
	size_t lines = 0, i;

	for (i = 0; i < sizeof(FIXED_HEADERS) / sizeof(FIXED_HEADERS[0]); i++)
		if (count_field(h, FIXED_HEADERS[i]) != 1)
			return 0;
	for (i = 0; i < h.n; ) {
		const char *eol = memmem(h.p + i, h.n - i, "\r\n", 2);

		if (h.p[i] != ' ' && h.p[i] != '\t')
			lines++;
		i = (size_t)(eol - h.p) + 2;
	}
	return lines == sizeof(FIXED_HEADERS) / sizeof(FIXED_HEADERS[0]);
}

/* True if t contains the text s. */
static int has(struct span t, const char *s)
{
	return t.n > 0 && memmem(t.p, t.n, s, strlen(s)) != NULL;
}

/* True if t has the field "Name: value" (compared unfolded). */
static int has_field(struct span t, const char *nv)
{
	const char *colon = strchr(nv, ':');
	char name[128], v[T_VAL_MAX];

	assert_non_null(colon);
	assert_true((size_t)(colon - nv) < sizeof(name));
	memcpy(name, nv, (size_t)(colon - nv));
	name[colon - nv] = '\0';
	for (int k = 0; field(t, name, k, v, sizeof(v)); k++)
		if (strcmp(v, colon + 2) == 0)
			return 1;
	return 0;
}

/* True if t contains s, with every run of spaces, CR and LF in t read as one
 * space (the human-readable text is word-wrapped). */
static int has_text(struct span t, const char *s)
{
	char *flat = malloc(t.n + 1);
	size_t o = 0;
	int sp = 0, found;

	assert_non_null(flat);
	for (size_t i = 0; i < t.n; i++) {
		if (t.p[i] == ' ' || t.p[i] == '\r' || t.p[i] == '\n') {
			sp = 1;
			continue;
		}
		if (sp && o > 0)
			flat[o++] = ' ';
		sp = 0;
		flat[o++] = t.p[i];
	}
	flat[o] = '\0';
	found = strstr(flat, s) != NULL;
	free(flat);
	return found;
}

/* True if some line of t starts with s. */
static int line_starts(struct span t, const char *s)
{
	size_t sl = strlen(s);

	for (size_t i = 0; i < t.n; ) {
		const char *eol = memmem(t.p + i, t.n - i, "\r\n", 2);

		if (t.n - i >= sl && strncasecmp(t.p + i, s, sl) == 0)
			return 1;
		if (eol == NULL)
			break;
		i = (size_t)(eol - t.p) + 2;
	}
	return 0;
}

/* The usual facts of the original message. */
static struct dsn_info base_info(void)
{
	struct dsn_info info = {
		.reporting_mta = "mx2.example.test",
		.qid = "A1B2C3D4E5F6G7H8I9J0",
		.envid = NULL,
		.orig_sender = "sender@client.test",
		.received_from = "client.test [127.0.0.9]",
		.arrival = T_NOW - 3600,
		.now = T_NOW,
		.ret_full = 0,
		.boundary = NULL,
	};

	return info;
}

/* Build and MIME-check; the message (caller frees) and its length. */
static char *build_ok(const struct dsn_info *info, const struct dsn_rcpt *r, size_t n,
		      const void *orig, size_t origlen, size_t *len, struct mime *mm)
{
	char *out = NULL;

	assert_int_equal(dsn_build(info, r, n, orig, origlen, &out, len), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), *len);
	assert_int_equal(mime_parse(out, *len, mm), 0);
	assert_int_equal(mm->nparts, 3);
	assert_true(headers_fixed(mm));
	return out;
}

#define FIELDS_MAX 10

/* One table case: the DSN's inputs and what must (not) be in it. */
struct dsn_case {
	const char *name;
	int ret_full;
	const char *envid;
	const char *received_from;
	size_t nr;
	struct dsn_rcpt r[2];
	const char *subject;
	const char *part3_type;
	const char *msg_has[FIELDS_MAX];      /* "Name: value" in the per-message group */
	const char *msg_lacks[FIELDS_MAX];    /* field names absent there */
	const char *rcpt_has[FIELDS_MAX];     /* in the first recipient group */
	const char *rcpt_lacks[FIELDS_MAX];
	const char *text_has[FIELDS_MAX];     /* in the human-readable part */
	const char *p3_has[FIELDS_MAX];       /* in the returned original */
	const char *p3_lacks[FIELDS_MAX];
};

#define BOB_FAILED_DIAG "550 5.1.1 <bob@example.test>: User unknown"
#define BOB_FAILED { "bob@example.test", "rfc822;bob@example.test", DSN_FAILED, "5.1.1", \
		     "mx1.example.test", BOB_FAILED_DIAG, \
		     T_NOW - 60, T_NOW + 3600 }

static const struct dsn_case cases[] = {
	{ "failed one of two", 0, NULL, "client.test [127.0.0.9]", 1, { BOB_FAILED },
	  "Undelivered Mail Returned to Sender", "text/rfc822-headers",
	  { "Reporting-MTA: dns; mx2.example.test", "X-Backupmx-Queue-ID: A1B2C3D4E5F6G7H8I9J0",
	    "Received-From-MTA: dns; client.test [127.0.0.9]",
	    "Arrival-Date: Tue, 14 Nov 2023 21:13:20 +0000" },
	  { "Original-Envelope-Id" },
	  { "Original-Recipient: rfc822;bob@example.test",
	    "Final-Recipient: rfc822; bob@example.test", "Action: failed", "Status: 5.1.1",
	    "Remote-MTA: dns; mx1.example.test",
	    "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.test>: User unknown",
	    "Last-Attempt-Date: Tue, 14 Nov 2023 22:12:20 +0000" },
	  { "Will-Retry-Until" },
	  { "mx2.example.test", "A1B2C3D4E5F6G7H8I9J0", "<bob@example.test>: failed",
	    "User unknown", "mx1.example.test" },
	  { "Subject: hello", "Message-ID: <m1@client.test>" },
	  { "body line" } },
	{ "delayed with retry", 0, NULL, NULL, 1,
	  { { "carol@example.test", NULL, DSN_DELAYED, "4.4.1", "mx1.example.test",
	      "421 4.4.1 try later", T_NOW - 60, T_NOW + 86400 } },
	  "Delayed Mail (still being retried)", "text/rfc822-headers",
	  { "Reporting-MTA: dns; mx2.example.test" },
	  { "Received-From-MTA", "Original-Envelope-Id" },
	  { "Final-Recipient: rfc822; carol@example.test", "Action: delayed", "Status: 4.4.1",
	    "Will-Retry-Until: Wed, 15 Nov 2023 22:13:20 +0000" },
	  { "Original-Recipient" },
	  { "delayed", "Will retry until Wed, 15 Nov 2023 22:13:20 +0000" },
	  { "Subject: hello" }, { "body line" } },
	{ "RET=FULL", 1, NULL, NULL, 1, { BOB_FAILED },
	  "Undelivered Mail Returned to Sender", "message/rfc822",
	  { "Reporting-MTA: dns; mx2.example.test" }, { NULL },
	  { "Action: failed" }, { NULL }, { "The original message is attached." },
	  { "Subject: hello", "\r\n\r\nbody line 1\r\nbody line 2\r\n" }, { NULL } },
	{ "envid present", 0, "abc+2Bdef.123", NULL, 1, { BOB_FAILED },
	  "Undelivered Mail Returned to Sender", "text/rfc822-headers",
	  { "Original-Envelope-Id: abc+2Bdef.123" }, { NULL },
	  { "Action: failed" }, { NULL }, { NULL }, { NULL }, { NULL } },
	{ "envid not xtext", 0, "abc def=", NULL, 1, { BOB_FAILED },
	  "Undelivered Mail Returned to Sender", "text/rfc822-headers",
	  { NULL }, { "Original-Envelope-Id" },
	  { NULL }, { NULL }, { NULL }, { NULL }, { NULL } },
	{ "status class fixed", 0, NULL, NULL, 1,
	  { { "dave@example.test", "rfc822 ;x", DSN_FAILED, "4.2.2", NULL, NULL, 0, 0 } },
	  "Undelivered Mail Returned to Sender", "text/rfc822-headers",
	  { NULL }, { NULL },
	  { "Status: 5.2.2" }, { "Remote-MTA", "Diagnostic-Code", "Last-Attempt-Date",
				 "Original-Recipient" },
	  { "<dave@example.test>: failed, status 5.2.2" }, { NULL }, { NULL } },
	{ "relayed", 0, NULL, NULL, 1,
	  { { "erin@example.test", NULL, DSN_RELAYED, "2.0.0", "mx1.example.test",
	      "250 2.0.0 Ok: queued as 4711", T_NOW, 0 } },
	  "Relayed mail", "text/rfc822-headers",
	  { NULL }, { NULL }, { "Action: relayed", "Status: 2.0.0" }, { NULL },
	  { "relayed" }, { NULL }, { NULL } },
	{ "delivered and relayed", 0, NULL, NULL, 2,
	  { { "erin@example.test", NULL, DSN_DELIVERED, "5.0.0", NULL, NULL, 0, 0 },
	    { "fred@example.test", NULL, DSN_RELAYED, NULL, NULL, NULL, 0, 0 } },
	  "Successful Mail Delivery Report", "text/rfc822-headers",
	  { NULL }, { NULL }, { "Action: delivered", "Status: 2.0.0" }, { NULL },
	  { "<erin@example.test>", "<fred@example.test>" }, { NULL }, { NULL } },
	{ "failed and delayed", 0, NULL, NULL, 2,
	  { BOB_FAILED, { "carol@example.test", NULL, DSN_DELAYED, NULL, NULL, NULL, 0, 0 } },
	  "Undelivered Mail Returned to Sender", "text/rfc822-headers",
	  { NULL }, { NULL }, { "Action: failed" }, { NULL },
	  { "failed permanently", "is delayed" }, { NULL }, { NULL } },
	{ "utf-8 recipient", 0, NULL, NULL, 1,
	  { { "j\xc3\xb6rg+x@\xe4\xbe\x8b.test", "utf-8;j\\x{F6}rg+2Bx@x", DSN_FAILED, "5.1.1",
	      NULL, "550 unknown \xc3\xb6", 0, 0 } },
	  "Undelivered Mail Returned to Sender", "text/rfc822-headers",
	  { NULL }, { NULL },
	  { "Final-Recipient: utf-8; j\\x{F6}rg\\x{2B}x@\\x{4F8B}.test",
	    "Original-Recipient: utf-8;j\\x{F6}rg+2Bx@x", "Diagnostic-Code: smtp; 550 unknown ??" },
	  { NULL }, { "<j\\x{F6}rg\\x{2B}x@\\x{4F8B}.test>" }, { NULL }, { NULL } },
	{ "multi-line reply", 0, NULL, "evil\r\nX-Injected: 1", 1,
	  { { "bob@example.test", "rfc822;bob@example.test\r\nX-Injected: 1", DSN_FAILED,
	      "5.7.1\r\n", "mx1.example.test\r\nX-Injected: 1",
	      "550-5.7.1 first line\r\n550-5.7.1 second\tline\r\n550 5.7.1 third\r\n", 0, 0 } },
	  "Undelivered Mail Returned to Sender", "text/rfc822-headers",
	  { "Received-From-MTA: dns; evil X-Injected: 1" }, { NULL },
	  { "Diagnostic-Code: smtp; 550-5.7.1 first line 550-5.7.1 second line 550 5.7.1 third",
	    "Status: 5.0.0", "Remote-MTA: dns; mx1.example.test??X-Injected:?1" },
	  { "Original-Recipient" }, { NULL }, { NULL }, { NULL } },
};

/* Check one table case. */
static void check_case(const struct dsn_case *c)
{
	struct dsn_info info = base_info();
	struct mime mm;
	struct span s, msg, rc;
	char v[T_VAL_MAX], *out;
	size_t len;
	int i;

	print_message("case: %s\n", c->name);
	info.ret_full = c->ret_full;
	info.envid = c->envid;
	info.received_from = c->received_from;
	out = build_ok(&info, c->r, c->nr, ORIG, sizeof(ORIG) - 1, &len, &mm);
	s.p = mm.hdr;
	s.n = mm.hdrlen;
	assert_true(field(s, "Subject", 0, v, sizeof(v)));
	assert_string_equal(v, c->subject);
	assert_true(field(s, "To", 0, v, sizeof(v)));
	assert_string_equal(v, "<sender@client.test>");
	assert_true(field(s, "From", 0, v, sizeof(v)));
	assert_string_equal(v, "Mail Delivery System <MAILER-DAEMON@mx2.example.test>");
	assert_true(field(s, "Date", 0, v, sizeof(v)));
	assert_string_equal(v, "Tue, 14 Nov 2023 22:13:20 +0000");
	assert_true(field(s, "Message-ID", 0, v, sizeof(v)));
	assert_string_equal(v, "<A1B2C3D4E5F6G7H8I9J0.1700000000@mx2.example.test>");
	assert_true(field(s, "Auto-Submitted", 0, v, sizeof(v)));
	assert_string_equal(v, "auto-replied");
	assert_true(field(s, "MIME-Version", 0, v, sizeof(v)));
	assert_string_equal(v, "1.0");

	assert_true(field(part_head(&mm, 0), "Content-Type", 0, v, sizeof(v)));
	assert_string_equal(v, "text/plain; charset=us-ascii");
	assert_true(field(part_head(&mm, 1), "Content-Type", 0, v, sizeof(v)));
	assert_string_equal(v, "message/delivery-status");
	assert_true(field(part_head(&mm, 2), "Content-Type", 0, v, sizeof(v)));
	assert_string_equal(v, c->part3_type);

	msg = ds_group(part_body(&mm, 1), 0);
	assert_non_null(msg.p);
	assert_int_equal(count_field(msg, "Reporting-MTA"), 1);
	for (i = 0; i < FIELDS_MAX && c->msg_has[i]; i++)
		assert_true(has_field(msg, c->msg_has[i]));
	for (i = 0; i < FIELDS_MAX && c->msg_lacks[i]; i++)
		assert_int_equal(count_field(msg, c->msg_lacks[i]), 0);
	for (i = 0; i < (int)c->nr; i++) {
		rc = ds_group(part_body(&mm, 1), 1 + i);
		assert_non_null(rc.p);
		assert_int_equal(count_field(rc, "Final-Recipient"), 1);
		assert_int_equal(count_field(rc, "Action"), 1);
		assert_int_equal(count_field(rc, "Status"), 1);
	}
	assert_null(ds_group(part_body(&mm, 1), 1 + (int)c->nr).p);
	rc = ds_group(part_body(&mm, 1), 1);
	for (i = 0; i < FIELDS_MAX && c->rcpt_has[i]; i++) {
		print_message("  rcpt has %s\n", c->rcpt_has[i]);
		assert_true(has_field(rc, c->rcpt_has[i]));
	}
	for (i = 0; i < FIELDS_MAX && c->rcpt_lacks[i]; i++)
		assert_int_equal(count_field(rc, c->rcpt_lacks[i]), 0);
	for (i = 0; i < FIELDS_MAX && c->text_has[i]; i++)
		assert_true(has_text(part_body(&mm, 0), c->text_has[i]));
	for (i = 0; i < FIELDS_MAX && c->p3_has[i]; i++)
		assert_true(has(part_body(&mm, 2), c->p3_has[i]));
	for (i = 0; i < FIELDS_MAX && c->p3_lacks[i]; i++)
		assert_false(has(part_body(&mm, 2), c->p3_lacks[i]));
	/* the boundary occurs nowhere but on its delimiter lines */
	s.p = out;
	s.n = len;
	assert_false(has(part_body(&mm, 0), mm.boundary));
	assert_false(has(part_body(&mm, 1), mm.boundary));
	assert_false(has(part_body(&mm, 2), mm.boundary));
	assert_false(line_starts(s, "X-Injected"));
	free(out);
}

/* Every table case. */
static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
}

/* Status codes: the class always follows the action. */
static void test_status(void **state)
{
	static const struct {
		enum dsn_action a;
		const char *in, *out;
	} tab[] = {
		{ DSN_FAILED, "5.1.1", "5.1.1" },
		{ DSN_FAILED, "4.2.2", "5.2.2" },
		{ DSN_FAILED, "2.0.0", "5.0.0" },
		{ DSN_FAILED, "5.123.999", "5.123.999" },
		{ DSN_FAILED, NULL, "5.0.0" },
		{ DSN_FAILED, "", "5.0.0" },
		{ DSN_FAILED, "garbage", "5.0.0" },
		{ DSN_FAILED, "5.01.1", "5.0.0" },
		{ DSN_FAILED, "5.1.1000", "5.0.0" },
		{ DSN_FAILED, "5.1.1 text", "5.0.0" },
		{ DSN_FAILED, "3.1.1", "5.0.0" },
		{ DSN_FAILED, "5..1", "5.0.0" },
		{ DSN_FAILED, "5.1.", "5.0.0" },
		{ DSN_DELAYED, "5.1.1", "4.1.1" },
		{ DSN_DELAYED, "4.4.7", "4.4.7" },
		{ DSN_DELAYED, NULL, "4.0.0" },
		{ DSN_DELIVERED, "5.0.0", "2.0.0" },
		{ DSN_RELAYED, "2.6.0", "2.6.0" },
		{ DSN_EXPANDED, "4.0.0", "2.0.0" },
	};
	struct dsn_info info = base_info();

	(void)state;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct dsn_rcpt r = { "u@example.test", NULL, tab[i].a, tab[i].in, NULL, NULL, 0, 0 };
		struct mime mm;
		char v[T_VAL_MAX], *out;
		size_t len;

		out = build_ok(&info, &r, 1, NULL, 0, &len, &mm);
		assert_true(field(ds_group(part_body(&mm, 1), 1), "Status", 0, v, sizeof(v)));
		print_message("status %s -> %s\n", tab[i].in ? tab[i].in : "(null)", v);
		assert_string_equal(v, tab[i].out);
		free(out);
	}
}

/* CR LF in every peer-controlled string: no extra header anywhere. */
static void test_injection(void **state)
{
	static const char *const evil[] = {
		"\r\nBcc: x@evil.test", "\nBcc: x@evil.test", "\rBcc: x@evil.test",
		"\r\n\r\nBcc: x@evil.test", "\0\r\nBcc: x@evil.test",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		char addr[128], diag[128], host[128], from[128], sender[128], envid[128], *out;
		struct dsn_info info = base_info();
		struct dsn_rcpt r = { addr, diag, DSN_FAILED, "5.1.1", host, diag, T_NOW, 0 };
		struct mime mm;
		struct span all, body;
		size_t len;

		snprintf(addr, sizeof(addr), "bob@example.test%s", evil[i]);
		snprintf(diag, sizeof(diag), "550 no such user%s", evil[i]);
		snprintf(host, sizeof(host), "mx1.example.test%s", evil[i]);
		snprintf(from, sizeof(from), "client.test%s", evil[i]);
		snprintf(sender, sizeof(sender), "sender@client.test%s", evil[i]);
		snprintf(envid, sizeof(envid), "id%s", evil[i]);
		info.received_from = from;
		info.orig_sender = sender;
		info.envid = envid;
		out = build_ok(&info, &r, 1, ORIG, sizeof(ORIG) - 1, &len, &mm);
		all.p = out;
		all.n = len;
		assert_false(line_starts(all, "Bcc"));
		body = part_body(&mm, 1);
		assert_int_equal(count_field(ds_group(body, 0), "Original-Envelope-Id"),
				 evil[i][0] == '\0');
		assert_int_equal(count_field(ds_group(body, 1), "Original-Recipient"), 0);
		assert_null(ds_group(body, 2).p);
		free(out);
	}
}

/* A 2 MB original is cut at DSN_ORIG_MAX on a line boundary, both ways. */
static void test_big_original(void **state)
{
	static const char line[] = "0123456789012345678901234567890123456789012345678901234567\r\n";
	size_t ll = sizeof(line) - 1, n = 2 * T_MB / ll * ll + 10, len;
	char *orig = malloc(n), *out;
	struct dsn_info info = base_info();
	struct dsn_rcpt r = BOB_FAILED;
	struct mime mm;

	(void)state;
	assert_non_null(orig);
	for (size_t i = 0; i + ll <= n; i += ll)
		memcpy(orig + i, line, ll);
	memcpy(orig + n - 10, "X-Tail: 1\n", 10);
	for (int full = 0; full <= 1; full++) {
		struct span p3;

		info.ret_full = full;
		out = build_ok(&info, &r, 1, orig, n, &len, &mm);
		p3 = part_body(&mm, 2);
		assert_true(p3.n <= DSN_ORIG_MAX);
		assert_true(p3.n > DSN_ORIG_MAX - ll);
		assert_int_equal(p3.n % ll, 0);
		assert_memory_equal(p3.p + p3.n - ll, line, ll);
		assert_false(has(p3, "X-Tail"));
		assert_true(has(part_body(&mm, 0), "shortened"));
		assert_true(len < DSN_ORIG_MAX + 16 * 1024);
		free(out);
	}
	free(orig);
}

/* Over-long lines are cut; bare CR and LF become CRLF; NUL is replaced. */
static void test_lines(void **state)
{
	size_t n = 5000 + 200, len;
	char *orig = malloc(n), *out;
	struct dsn_info info = base_info();
	struct dsn_rcpt r = BOB_FAILED;
	struct mime mm;
	struct span p3;
	int k;

	(void)state;
	assert_non_null(orig);
	k = snprintf(orig, n, "Subject: long\nX-Long: ");
	memset(orig + k, 'a', 5000);
	k += 5000;
	k += snprintf(orig + k, n - (size_t)k, "\nX-Bare-CR: 1\rX-Nul: a%cb\r\nX-Last: 1", 0);
	out = build_ok(&info, &r, 1, orig, (size_t)k, &len, &mm);
	p3 = part_body(&mm, 2);
	assert_true(has(p3, "Subject: long\r\nX-Long: aaaa"));
	assert_true(has(p3, "aaaa\r\nX-Bare-CR: 1\r\nX-Nul: a?b\r\nX-Last: 1\r\n"));
	assert_int_equal(strstr(p3.p, "\r\nX-Bare-CR") - strstr(p3.p, "X-Long: "), DSN_LINE_MAX);
	assert_true(has(part_body(&mm, 0), "shortened"));
	free(out);

	/* only the header section: up to the first empty line (LF or CR alone) */
	memcpy(orig, "A: 1\nB: 2\r\rbody\r\n", 17);
	out = build_ok(&info, &r, 1, orig, 17, &len, &mm);
	p3 = part_body(&mm, 2);
	assert_int_equal(p3.n, 12);
	assert_memory_equal(p3.p, "A: 1\r\nB: 2\r\n", 12);
	assert_false(has(part_body(&mm, 0), "shortened"));
	free(out);

	/* an empty original still gives three parts; 8-bit is labelled */
	out = build_ok(&info, &r, 1, NULL, 0, &len, &mm);
	assert_int_equal(part_body(&mm, 2).n, 0);
	assert_true(has(part_head(&mm, 2), "text/rfc822-headers"));
	free(out);
	out = build_ok(&info, &r, 1, "Subject: \xc3\xa9t\xc3\xa9\r\n", 16, &len, &mm);
	assert_true(has(part_head(&mm, 2), "Content-Transfer-Encoding: 8bit"));
	p3.p = mm.hdr;
	p3.n = mm.hdrlen;
	assert_true(has(p3, "Content-Transfer-Encoding: 8bit"));
	free(out);
	free(orig);
}

/* Long peer strings are folded below 998 octets, and recipients are cut. */
static void test_folding(void **state)
{
	char diag[DSN_DIAG_MAX * 2], addr[DSN_ADDR_MAX * 2], v[T_VAL_MAX], *out;
	struct dsn_info info = base_info();
	struct dsn_rcpt r = { addr, NULL, DSN_FAILED, "5.1.1", NULL, diag, 0, 0 };
	struct mime mm;
	size_t len, i;

	(void)state;
	for (i = 0; i + 1 < sizeof(diag); i++)
		diag[i] = i % 10 == 9 ? ' ' : 'd';
	diag[i] = '\0';
	memset(addr, 'u', sizeof(addr) - 1);
	addr[sizeof(addr) - 1] = '\0';
	out = build_ok(&info, &r, 1, NULL, 0, &len, &mm);
	assert_true(field(ds_group(part_body(&mm, 1), 1), "Diagnostic-Code", 0, v, sizeof(v)));
	assert_int_equal(strlen(v), strlen("smtp; ") + DSN_DIAG_MAX - 1);  /* no trailing SP */
	assert_true(field(ds_group(part_body(&mm, 1), 1), "Final-Recipient", 0, v, sizeof(v)));
	assert_int_equal(strlen(v), strlen("rfc822; ") + DSN_ADDR_MAX);
	free(out);

	/* a non-ASCII address without spaces gets cut hard, never over 998 */
	for (i = 0; i + 2 < sizeof(addr) && i < DSN_ADDR_MAX; i += 2)
		memcpy(addr + i, "\xc3\xa9", 2);
	addr[i] = '\0';
	out = build_ok(&info, &r, 1, NULL, 0, &len, &mm);
	assert_true(field(ds_group(part_body(&mm, 1), 1), "Final-Recipient", 0, v, sizeof(v)));
	assert_true(strlen(v) > DSN_LINE_MAX);
	free(out);
}

/* The boundary never occurs in the content. */
static void test_boundary(void **state)
{
	struct dsn_info info = base_info();
	struct dsn_rcpt r = BOB_FAILED;
	struct mime mm;
	char orig[512], first[128], *out;
	size_t len;

	(void)state;
	info.boundary = "XYZ";
	out = build_ok(&info, &r, 1, ORIG, sizeof(ORIG) - 1, &len, &mm);
	assert_string_equal(mm.boundary, "XYZ");
	free(out);

	snprintf(orig, sizeof(orig), "X-A: 1\r\n\r\n--XYZ\r\n--XYZ--\r\n");
	info.ret_full = 1;
	out = build_ok(&info, &r, 1, orig, strlen(orig), &len, &mm);
	assert_string_equal(mm.boundary, "XYZ.0=");
	free(out);

	snprintf(orig, sizeof(orig), "X-A: XYZ.0= XYZ.1= XYZ.3=\r\n");
	out = build_ok(&info, &r, 1, orig, strlen(orig), &len, &mm);
	assert_string_equal(mm.boundary, "XYZ.2=");
	free(out);

	/* the boundary in the diagnostic counts too */
	r.diagnostic = "550 XYZ";
	out = build_ok(&info, &r, 1, NULL, 0, &len, &mm);
	assert_string_equal(mm.boundary, "XYZ.0=");
	free(out);
	r.diagnostic = BOB_FAILED_DIAG;

	/* the derived boundary: build, quote it back, build again */
	info.boundary = NULL;
	info.ret_full = 0;
	out = build_ok(&info, &r, 1, ORIG, sizeof(ORIG) - 1, &len, &mm);
	snprintf(first, sizeof(first), "%s", mm.boundary);
	assert_string_equal(first, "=_A1B2C3D4E5F6G7H8I9J0.1700000000.0=");
	free(out);
	snprintf(orig, sizeof(orig), "X-Trap: --%s\r\nX-Trap2: %s\r\n\r\n", first, first);
	out = build_ok(&info, &r, 1, orig, strlen(orig), &len, &mm);
	assert_string_not_equal(mm.boundary, first);
	assert_true(has(part_body(&mm, 2), first));
	free(out);
}

/* Bad arguments fail closed. */
static void test_bad_args(void **state)
{
	static char big[DSN_ADDR_MAX + 8];
	struct dsn_rcpt good = BOB_FAILED;
	char *out = NULL;
	size_t len = 0;
	static const struct {
		const char *name;
		const char *mta, *qid, *sender, *boundary;
		int rcpt_null_addr, bad_action;
		size_t n;
		time_t now;
	} tab[] = {
		{ "empty sender", "mx.test", "Q1", "", NULL, 0, 0, 1, T_NOW },
		{ "null sender <>", "mx.test", "Q1", "<>", NULL, 0, 0, 1, T_NOW },
		{ "NULL sender", "mx.test", "Q1", NULL, NULL, 0, 0, 1, T_NOW },
		{ "long sender", "mx.test", "Q1", big, NULL, 0, 0, 1, T_NOW },
		{ "no rcpts", "mx.test", "Q1", "s@x.test", NULL, 0, 0, 0, T_NOW },
		{ "too many rcpts", "mx.test", "Q1", "s@x.test", NULL, 0, 0, DSN_RCPTS_MAX + 1, T_NOW },
		{ "bad mta", "mx.test\r\nBcc: x", "Q1", "s@x.test", NULL, 0, 0, 1, T_NOW },
		{ "empty mta", "", "Q1", "s@x.test", NULL, 0, 0, 1, T_NOW },
		{ "bad qid", "mx.test", "Q 1", "s@x.test", NULL, 0, 0, 1, T_NOW },
		{ "long qid", "mx.test", "Q123456789012345678901234567890123", "s@x.test", NULL,
		  0, 0, 1, T_NOW },
		{ "bad boundary", "mx.test", "Q1", "s@x.test", "a b", 0, 0, 1, T_NOW },
		{ "bad boundary quote", "mx.test", "Q1", "s@x.test", "a\"b", 0, 0, 1, T_NOW },
		{ "NULL addr", "mx.test", "Q1", "s@x.test", NULL, 1, 0, 1, T_NOW },
		{ "bad action", "mx.test", "Q1", "s@x.test", NULL, 0, 1, 1, T_NOW },
		{ "bad time", "mx.test", "Q1", "s@x.test", NULL, 0, 0, 1, (time_t)INT64_MAX },
	};
	static struct dsn_rcpt many[DSN_RCPTS_MAX + 1];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	for (size_t i = 0; i <= DSN_RCPTS_MAX; i++)
		many[i] = good;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct dsn_info info = base_info();
		struct dsn_rcpt *r = many;

		print_message("bad: %s\n", tab[i].name);
		info.reporting_mta = tab[i].mta;
		info.qid = tab[i].qid;
		info.orig_sender = tab[i].sender;
		info.boundary = tab[i].boundary;
		info.now = tab[i].now;
		r[0].addr = tab[i].rcpt_null_addr ? NULL : good.addr;
		r[0].action = tab[i].bad_action ? (enum dsn_action)77 : good.action;
		assert_int_equal(dsn_build(&info, r, tab[i].n, NULL, 0, &out, &len), -1);
		assert_null(out);
	}
	{
		struct dsn_info info = base_info();

		assert_int_equal(dsn_build(NULL, &good, 1, NULL, 0, &out, &len), -1);
		assert_int_equal(dsn_build(&info, NULL, 1, NULL, 0, &out, &len), -1);
		assert_int_equal(dsn_build(&info, &good, 1, NULL, 5, &out, &len), -1);
		assert_int_equal(dsn_build(&info, &good, 1, NULL, 0, NULL, &len), -1);
		assert_int_equal(dsn_build(&info, &good, 1, NULL, 0, &out, NULL), -1);
		/* the sender may come in angle brackets; DSN_RCPTS_MAX is fine */
		info.orig_sender = "<s@x.test>";
		assert_int_equal(dsn_build(&info, many, DSN_RCPTS_MAX, NULL, 0, &out, &len), 0);
		assert_non_null(strstr(out, "\r\nTo: <s@x.test>\r\n"));
		assert_true(lines_ok(out, len));
		free(out);
	}
}

/* Write a sample DSN for tests/lib/dsncheck.py ($BMX_BUILD or build/). */
static void test_sample(void **state)
{
	const char *dir = getenv("BMX_BUILD");
	struct dsn_info info = base_info();
	struct dsn_rcpt r[2] = {
		BOB_FAILED,
		{ "carol@example.test", NULL, DSN_FAILED, "5.2.2", "mx1.example.test",
		  "552 5.2.2 <carol@example.test>: mailbox full", T_NOW - 60, 0 },
	};
	struct mime mm;
	char path[4096], *out;
	size_t len;
	FILE *f;

	(void)state;
	info.envid = "env+2Bid";
	out = build_ok(&info, r, 2, ORIG, sizeof(ORIG) - 1, &len, &mm);
	snprintf(path, sizeof(path), "%s/dsn-sample.eml", dir != NULL ? dir : "build");
	f = fopen(path, "wb");
	if (f != NULL) {
		assert_int_equal(fwrite(out, 1, len, f), len);
		assert_int_equal(fclose(f), 0);
	} else {
		print_message("note: cannot write %s\n", path);
	}
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_injection),
		cmocka_unit_test(test_big_original),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_boundary),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_sample),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
