/*
 * dsn.c - build delivery status notifications (RFC 3464, 3461, 3463, 3834, 6533).
 *
 * dsn_build() turns the facts of one queued message and the outcome of some
 * of its recipients into a complete multipart/report message: a short
 * human-readable explanation (text/plain, US-ASCII), the machine-readable
 * message/delivery-status part, and the original header section
 * (text/rfc822-headers) or, with RET=FULL, the original message
 * (message/rfc822), cut at DSN_ORIG_MAX on a line boundary.
 *
 * This file builds the MIME structure: the three parts, the boundary and
 * the top-level header section.  Every string a peer could have chosen
 * (addresses, ORCPT, ENVID, replies, host names, the quoted original) is
 * sanitised on the way in by the helpers of dsn_fmt.c: control characters
 * never reach a header or a report field, non-ASCII addresses use the RFC
 * 6533 "utf-8" type in its 7-bit form, every line ends in CRLF and has at
 * most DSN_LINE_MAX octets (header fields are folded at spaces and cut hard
 * only when there is none).  ENVID and ORCPT are checked by the one xtext
 * rule of smtp/xtext.h, the same the SMTP server applies.  The MIME
 * boundary is chosen after the content is built, so that it occurs nowhere
 * in it.  Buffers are struct bmx_buf (common/buf.h).
 */
#include "relay/dsn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "smtp/smtp.h"
#include "smtp/xtext.h"

#define DSN_NUM_DIGITS  10     /* digits of a boundary counter we read back */

_Static_assert(DSN_ENVID_MAX == SMTP_ENVID_MAX, "one ENVID limit");
_Static_assert(DSN_ORCPT_MAX == SMTP_ORCPT_MAX, "one ORCPT limit");

static const char DSN_PREAMBLE[] = "This is a MIME-encapsulated message.";

/* True if octet c of the quoted original must be replaced: NUL and the C0
 * controls but HT, FF and ESC (ISO-2022-JP needs it), and DEL. */
static int orig_bad(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\f' && c != 0x1b) || c == 0x7f;
}

/* Quote orig[0..n) into b as CRLF lines of at most DSN_LINE_MAX octets
 * (longer lines are cut), DSN_ORIG_MAX octets in all, stopping at the end
 * of the header section when headers_only.  *cut is set when something was
 * left out, *eight when the quote has 8-bit octets. */
static void quote_orig(struct bmx_buf *b, const uint8_t *p, size_t n, int headers_only, int *cut,
		       int *eight)
{
	size_t i = 0, used = 0;

	while (i < n) {
		size_t s = i, e = i, len;

		while (e < n && p[e] != '\r' && p[e] != '\n')
			e++;
		if (e < n && p[e] == '\r' && e + 1 < n && p[e + 1] == '\n')
			i = e + 2;
		else if (e < n)
			i = e + 1;
		else
			i = n;
		if (headers_only && e == s)
			return;
		len = e - s;
		if (len > DSN_LINE_MAX) {
			len = DSN_LINE_MAX;
			*cut = 1;
		}
		if (used + len + 2 > DSN_ORIG_MAX) {
			*cut = 1;
			return;
		}
		if (bmx_buf_reserve(b, len + 2) < 0)
			return;
		for (size_t k = 0; k < len; k++) {
			unsigned char c = p[s + k];

			if (c >= 0x80)
				*eight = 1;
			b->p[b->len + k] = orig_bad(c) ? '?' : (char)c;
		}
		b->p[b->len + len] = '\r';
		b->p[b->len + len + 1] = '\n';
		b->len += len + 2;
		b->p[b->len] = '\0';
		used += len + 2;
	}
}

/* True if pat[0..pn) occurs in any of the parts. */
static int occurs(const struct bmx_buf *parts, size_t np, const char *pat, size_t pn)
{
	for (size_t k = 0; k < np; k++)
		if (parts[k].len > 0 && memmem(parts[k].p, parts[k].len, pat, pn) != NULL)
			return 1;
	return 0;
}

/* Call fn(arg, after, left) for every occurrence of pat in the parts, with
 * the octets that follow it; the number of occurrences. */
static size_t each_occurrence(const struct bmx_buf *parts, size_t np, const char *pat, size_t pn,
			      void (*fn)(void *, const char *, size_t), void *arg)
{
	size_t count = 0;

	for (size_t k = 0; k < np; k++) {
		const char *p = parts[k].p, *end, *hit;

		if (parts[k].len == 0)
			continue;
		end = p + parts[k].len;
		while ((size_t)(end - p) >= pn &&
		       (hit = memmem(p, (size_t)(end - p), pat, pn)) != NULL) {
			count++;
			if (fn != NULL)
				fn(arg, hit + pn, (size_t)(end - hit) - pn);
			p = hit + 1;
		}
	}
	return count;
}

/* Marks of the boundary counters seen in the content. */
struct counters {
	unsigned char *seen;
	size_t max;
};

/* Mark the counter N when the octets after an occurrence read "N=". */
static void mark_counter(void *arg, const char *s, size_t n)
{
	struct counters *c = arg;
	size_t v = 0, i = 0;

	while (i < n && i < DSN_NUM_DIGITS && s[i] >= '0' && s[i] <= '9')
		v = v * 10 + (size_t)(s[i++] - '0');
	if (i > 0 && i < n && s[i] == '=' && v <= c->max)
		c->seen[v] = 1;
}

/* Pick a boundary that occurs nowhere in the parts: base itself when the
 * caller gave it and it is free, else "base.N=" with the smallest free N
 * (among k occurrences of "base." one of 0..k is always free). */
static int choose_boundary(const struct bmx_buf *parts, size_t np, const char *base, int given,
			   char out[DSN_BOUNDARY_MAX + 1])
{
	char pre[DSN_BOUNDARY_MAX + 1];
	struct counters c;
	size_t k, v;
	int n;

	if (given && !occurs(parts, np, base, strlen(base))) {
		snprintf(out, DSN_BOUNDARY_MAX + 1, "%s", base);
		return 0;
	}
	n = snprintf(pre, sizeof(pre), "%s.", base);
	if (n < 0 || (size_t)n >= sizeof(pre))
		return -1;
	k = each_occurrence(parts, np, pre, (size_t)n, NULL, NULL);
	c.max = k;
	c.seen = calloc(k + 1, 1);
	if (c.seen == NULL)
		return -1;
	each_occurrence(parts, np, pre, (size_t)n, mark_counter, &c);
	for (v = 0; v <= k && c.seen[v]; v++)
		;
	free(c.seen);
	n = snprintf(out, DSN_BOUNDARY_MAX + 1, "%s%zu=", pre, v);
	if (n < 0 || n > DSN_BOUNDARY_MAX || occurs(parts, np, out, (size_t)n))
		return -1;
	return 0;
}

/* True if s is a boundary base a caller may give: bchars, no space. */
static int boundary_ok(const char *s)
{
	return dsn_token_ok(s, DSN_BOUNDARY_BASE_MAX, "'()+_,-./:=?");
}

/* Name of an action as the Action field spells it. */
static const char *action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_FAILED:
		return "failed";
	case DSN_DELAYED:
		return "delayed";
	case DSN_RELAYED:
		return "relayed";
	case DSN_DELIVERED:
		return "delivered";
	case DSN_EXPANDED:
		return "expanded";
	}
	return "failed";
}

/* Check what the caller must get right; 0, or -1 when something is wrong. */
static int args_check(const struct dsn_info *info, const struct dsn_rcpt *rcpts, size_t n,
		      const uint8_t *orig, size_t origlen, char **out, size_t *outlen)
{
	size_t slen;
	char date[DSN_DATE_LEN];

	if (info == NULL || rcpts == NULL || out == NULL || outlen == NULL ||
	    (orig == NULL && origlen > 0) || n == 0 || n > DSN_RCPTS_MAX)
		return -1;
	if (info->reporting_mta == NULL ||
	    !dsn_token_ok(info->reporting_mta, DSN_HOST_MAX, "-._") ||
	    info->qid == NULL || !dsn_token_ok(info->qid, DSN_QID_MAX, "-_") ||
	    info->orig_sender == NULL || dsn_fmt_date(info->now, date) < 0)
		return -1;
	if (info->boundary != NULL && !boundary_ok(info->boundary))
		return -1;
	if (strnlen(info->orig_sender, DSN_ADDR_MAX + 3) > DSN_ADDR_MAX + 2)
		return -1;
	dsn_addr_strip(info->orig_sender, &slen);
	if (slen == 0 || slen > DSN_ADDR_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (rcpts[i].addr == NULL || (int)rcpts[i].action < (int)DSN_FAILED ||
		    (int)rcpts[i].action > (int)DSN_EXPANDED)
			return -1;
	}
	return 0;
}

/* Emit the human-readable paragraph about one recipient, using scratch t. */
static void text_rcpt(struct bmx_buf *b, struct bmx_buf *t, const struct dsn_rcpt *r)
{
	char st[DSN_STATUS_LEN], date[DSN_DATE_LEN];

	dsn_status_fix(r->status, r->action, st);
	bmx_buf_ch(t, '<');
	dsn_enc_addr(t, r->addr, 0);
	bmx_buf_fmt(t, ">: %s, status %s", action_name(r->action), st);
	dsn_emit_text(b, t, 0);
	if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
		bmx_buf_str(t, "host ");
		dsn_san_token(t, r->remote_mta, DSN_HOST_MAX);
		bmx_buf_str(t, r->diagnostic != NULL ? " said:" : " was tried");
	}
	if (r->diagnostic != NULL) {
		if (t->len > 0)
			bmx_buf_ch(t, ' ');
		dsn_san_text(t, r->diagnostic, DSN_DIAG_MAX);
	}
	dsn_emit_text(b, t, 4);
	if (r->action == DSN_DELAYED && r->will_retry_until != 0 &&
	    dsn_fmt_date(r->will_retry_until, date) == 0) {
		bmx_buf_fmt(t, "Will retry until %s", date);
		dsn_emit_text(b, t, 4);
	}
	bmx_buf_crlf(b);
}

/* Build the human-readable part's content. */
static void build_text(struct bmx_buf *b, const struct dsn_info *info, const struct dsn_rcpt *rcpts,
		       size_t n, int cut)
{
	struct bmx_buf t = BMX_BUF_INIT;
	size_t failed = 0, delayed = 0, good = 0;
	char date[DSN_DATE_LEN];

	for (size_t i = 0; i < n; i++) {
		if (rcpts[i].action == DSN_FAILED)
			failed++;
		else if (rcpts[i].action == DSN_DELAYED)
			delayed++;
		else
			good++;
	}
	bmx_buf_fmt(b, "This is the mail system at host %s.\r\n\r\n", info->reporting_mta);
	if (failed > 0) {
		bmx_buf_str(&t, "Your message could not be delivered to one or more recipients. "
			    "The delivery failed permanently and will not be retried.");
		dsn_emit_text(b, &t, 0);
		bmx_buf_crlf(b);
	}
	if (delayed > 0) {
		bmx_buf_str(&t, "Delivery of your message to one or more recipients is delayed. "
			    "The mail system will keep trying; you do not need to send it again.");
		dsn_emit_text(b, &t, 0);
		bmx_buf_crlf(b);
	}
	if (good > 0) {
		bmx_buf_str(&t, "Your message was delivered or relayed to one or more recipients, "
			    "as you asked.");
		dsn_emit_text(b, &t, 0);
		bmx_buf_crlf(b);
	}
	bmx_buf_fmt(b, "Queue ID: %s\r\n", info->qid);
	if (info->arrival != 0 && dsn_fmt_date(info->arrival, date) == 0)
		bmx_buf_fmt(b, "Arrival date: %s\r\n", date);
	bmx_buf_crlf(b);
	for (size_t i = 0; i < n; i++)
		text_rcpt(b, &t, &rcpts[i]);
	bmx_buf_str(&t, info->ret_full ? "The original message is attached."
		    : "The header section of the original message is attached.");
	if (cut)
		bmx_buf_fmt(&t, " It was shortened: lines over %d octets and everything after the "
			    "first %d octets are left out.", DSN_LINE_MAX, DSN_ORIG_MAX);
	dsn_emit_text(b, &t, 0);
	bmx_buf_crlf(b);
	bmx_buf_fmt(b, "For help, contact the postmaster of %s and include this report.\r\n",
		    info->reporting_mta);
	if (t.err)
		b->err = 1;
	bmx_buf_free(&t);
}

/* Build the message/delivery-status part's content. */
static void build_status(struct bmx_buf *b, const struct dsn_info *info,
			 const struct dsn_rcpt *rcpts, size_t n)
{
	struct bmx_buf v = BMX_BUF_INIT;
	char date[DSN_DATE_LEN];

	if (info->envid != NULL &&
	    smtp_envid_ok(info->envid, strnlen(info->envid, DSN_ENVID_MAX + 1))) {
		bmx_buf_str(&v, info->envid);
		dsn_emit_field(b, "Original-Envelope-Id", &v);
	}
	bmx_buf_fmt(&v, "dns; %s", info->reporting_mta);
	dsn_emit_field(b, "Reporting-MTA", &v);
	bmx_buf_str(&v, info->qid);
	dsn_emit_field(b, "X-Backupmx-Queue-ID", &v);
	if (info->received_from != NULL) {
		bmx_buf_str(&v, "dns; ");
		dsn_san_text(&v, info->received_from, DSN_TEXT_MAX);
		if (v.len > 5)
			dsn_emit_field(b, "Received-From-MTA", &v);
		bmx_buf_clear(&v);
	}
	if (info->arrival != 0 && dsn_fmt_date(info->arrival, date) == 0)
		dsn_emit_field_str(b, "Arrival-Date", date);
	for (size_t i = 0; i < n; i++) {
		const struct dsn_rcpt *r = &rcpts[i];
		char st[DSN_STATUS_LEN];

		bmx_buf_crlf(b);
		if (r->orcpt != NULL &&
		    smtp_orcpt_ok(r->orcpt, strnlen(r->orcpt, DSN_ORCPT_MAX + 1))) {
			bmx_buf_str(&v, r->orcpt);
			dsn_emit_field(b, "Original-Recipient", &v);
		}
		dsn_enc_addr(&v, r->addr, 1);
		dsn_emit_field(b, "Final-Recipient", &v);
		dsn_emit_field_str(b, "Action", action_name(r->action));
		dsn_status_fix(r->status, r->action, st);
		dsn_emit_field_str(b, "Status", st);
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
			bmx_buf_str(&v, "dns; ");
			dsn_san_token(&v, r->remote_mta, DSN_HOST_MAX);
			dsn_emit_field(b, "Remote-MTA", &v);
		}
		if (r->diagnostic != NULL) {
			bmx_buf_str(&v, "smtp; ");
			dsn_san_text(&v, r->diagnostic, DSN_DIAG_MAX);
			if (v.len > 6)
				dsn_emit_field(b, "Diagnostic-Code", &v);
			bmx_buf_clear(&v);
		}
		if (r->last_attempt != 0 && dsn_fmt_date(r->last_attempt, date) == 0)
			dsn_emit_field_str(b, "Last-Attempt-Date", date);
		if (r->action == DSN_DELAYED && r->will_retry_until != 0 &&
		    dsn_fmt_date(r->will_retry_until, date) == 0)
			dsn_emit_field_str(b, "Will-Retry-Until", date);
	}
	if (v.err)
		b->err = 1;
	bmx_buf_free(&v);
}

/* Subject for the mix of actions reported. */
static const char *subject_for(const struct dsn_rcpt *rcpts, size_t n)
{
	size_t failed = 0, delayed = 0, relayed = 0;

	for (size_t i = 0; i < n; i++) {
		failed += rcpts[i].action == DSN_FAILED;
		delayed += rcpts[i].action == DSN_DELAYED;
		relayed += rcpts[i].action == DSN_RELAYED;
	}
	if (failed > 0)
		return "Undelivered Mail Returned to Sender";
	if (delayed > 0)
		return "Delayed Mail (still being retried)";
	if (relayed == n)
		return "Relayed mail";
	return "Successful Mail Delivery Report";
}

/* Emit the top-level header section. */
static void build_headers(struct bmx_buf *b, const struct dsn_info *info,
			  const struct dsn_rcpt *rcpts, size_t n, const char *boundary, int eight)
{
	struct bmx_buf v = BMX_BUF_INIT;
	char date[DSN_DATE_LEN];
	const char *s;
	size_t slen;

	dsn_fmt_date(info->now, date);
	dsn_emit_field_str(b, "Date", date);
	bmx_buf_fmt(&v, "Mail Delivery System <MAILER-DAEMON@%s>", info->reporting_mta);
	dsn_emit_field(b, "From", &v);
	s = dsn_addr_strip(info->orig_sender, &slen);
	bmx_buf_ch(&v, '<');
	dsn_raw_addr(&v, s, slen);
	bmx_buf_ch(&v, '>');
	dsn_emit_field(b, "To", &v);
	dsn_emit_field_str(b, "Subject", subject_for(rcpts, n));
	bmx_buf_fmt(&v, "<%s.%lld@%s>", info->qid, (long long)info->now, info->reporting_mta);
	dsn_emit_field(b, "Message-ID", &v);
	dsn_emit_field_str(b, "Auto-Submitted", "auto-replied");
	dsn_emit_field_str(b, "MIME-Version", "1.0");
	bmx_buf_fmt(&v, "multipart/report; report-type=delivery-status; boundary=\"%s\"", boundary);
	dsn_emit_field(b, "Content-Type", &v);
	dsn_emit_field_str(b, "Content-Transfer-Encoding", eight ? "8bit" : "7bit");
	if (v.err)
		b->err = 1;
	bmx_buf_free(&v);
}

/* Build a DSN into a malloc'd buffer (*out, *outlen; caller frees). */
int dsn_build(const struct dsn_info *info, const struct dsn_rcpt *rcpts, size_t n,
	      const uint8_t *orig, size_t origlen, char **out, size_t *outlen)
{
	struct bmx_buf parts[3] = { BMX_BUF_INIT, BMX_BUF_INIT, BMX_BUF_INIT };
	struct bmx_buf msg = BMX_BUF_INIT;
	char base[DSN_BOUNDARY_MAX + 1], boundary[DSN_BOUNDARY_MAX + 1];
	int cut = 0, eight = 0, rc = -1;

	if (args_check(info, rcpts, n, orig, origlen, out, outlen) < 0)
		return -1;
	*out = NULL;
	*outlen = 0;
	if (origlen > 0)
		quote_orig(&parts[2], orig, origlen, !info->ret_full, &cut, &eight);
	build_text(&parts[0], info, rcpts, n, cut);
	build_status(&parts[1], info, rcpts, n);
	if (parts[0].err || parts[1].err || parts[2].err)
		goto done;
	if (info->boundary != NULL)
		snprintf(base, sizeof(base), "%s", info->boundary);
	else
		snprintf(base, sizeof(base), "=_%s.%lld", info->qid, (long long)info->now);
	if (choose_boundary(parts, 3, base, info->boundary != NULL, boundary) < 0)
		goto done;

	build_headers(&msg, info, rcpts, n, boundary, eight);
	bmx_buf_crlf(&msg);
	bmx_buf_fmt(&msg, "%s\r\n", DSN_PREAMBLE);
	bmx_buf_fmt(&msg, "\r\n--%s\r\n", boundary);
	bmx_buf_str(&msg, "Content-Description: Notification\r\n"
		    "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	bmx_buf_add(&msg, parts[0].p, parts[0].len);
	bmx_buf_fmt(&msg, "\r\n--%s\r\n", boundary);
	bmx_buf_str(&msg, "Content-Description: Delivery report\r\n"
		    "Content-Type: message/delivery-status\r\n\r\n");
	bmx_buf_add(&msg, parts[1].p, parts[1].len);
	bmx_buf_fmt(&msg, "\r\n--%s\r\n", boundary);
	if (info->ret_full)
		bmx_buf_str(&msg, "Content-Description: Undelivered Message\r\n"
			    "Content-Type: message/rfc822\r\n");
	else
		bmx_buf_str(&msg, "Content-Description: Undelivered Message Headers\r\n"
			    "Content-Type: text/rfc822-headers\r\n");
	bmx_buf_str(&msg, eight ? "Content-Transfer-Encoding: 8bit\r\n\r\n" : "\r\n");
	bmx_buf_add(&msg, parts[2].p, parts[2].len);
	bmx_buf_fmt(&msg, "\r\n--%s--\r\n", boundary);
	if (msg.err)
		goto done;
	*out = msg.p;
	*outlen = msg.len;
	msg.p = NULL;
	rc = 0;
done:
	for (size_t i = 0; i < 3; i++)
		bmx_buf_free(&parts[i]);
	bmx_buf_free(&msg);
	return rc;
}
