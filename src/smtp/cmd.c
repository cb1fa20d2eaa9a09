/*
 * cmd.c - split an SMTP command line into verb and argument.
 *
 * The server's line reader has already removed the CRLF and enforced
 * SMTP_CMD_LINE_MAX.  The verb is the text up to the first SP (or the end),
 * matched case-insensitively; anything else ("MAILX", "NOOP\t", a NUL
 * inside the verb) is SMTP_V_UNKNOWN.  The argument is everything after
 * that single SP, so "MAIL FROM:<a@b>" yields MAIL and "FROM:<a@b>".
 *
 * smtp_parse_mail() and smtp_parse_rcpt() then read "FROM:<path> params"
 * and "TO:<path> params": the path goes to smtp_addr_parse(), the ESMTP
 * parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 3461
 * RET ENVID NOTIFY ORCPT) are checked strictly; unknown or repeated ones
 * get 555 5.5.4, malformed values 501 5.5.4.  ENVID and ORCPT values follow
 * the one xtext rule of smtp/xtext.h (the DSN builder uses the same).
 */
#include "smtp/smtp.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

#include "smtp/xtext.h"

/* Split a command line into verb and argument; see smtp.h. */
int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out)
{
	static const struct { const char *name; enum smtp_verb verb; } tab[] = {
		{ "HELO", SMTP_V_HELO }, { "EHLO", SMTP_V_EHLO }, { "MAIL", SMTP_V_MAIL },
		{ "RCPT", SMTP_V_RCPT }, { "DATA", SMTP_V_DATA }, { "RSET", SMTP_V_RSET },
		{ "NOOP", SMTP_V_NOOP }, { "QUIT", SMTP_V_QUIT }, { "HELP", SMTP_V_HELP },
		{ "VRFY", SMTP_V_VRFY }, { "EXPN", SMTP_V_EXPN }, { "STARTTLS", SMTP_V_STARTTLS },
		{ "ETRN", SMTP_V_ETRN }, { "BDAT", SMTP_V_BDAT }, { "AUTH", SMTP_V_AUTH },
	};
	size_t vlen = 0, i;

	out->verb = SMTP_V_UNKNOWN;
	out->arg = "";
	out->arglen = 0;
	if (line == NULL || len == 0)
		return -1;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (strlen(tab[i].name) == vlen && strncasecmp(line, tab[i].name, vlen) == 0) {
			out->verb = tab[i].verb;
			break;
		}
	}
	if (vlen < len) {
		out->arg = line + vlen + 1;
		out->arglen = len - vlen - 1;
	}
	return 0;
}

#define PARAM_SIZE_DIGITS  20   /* RFC 1870 size-value = 1*20DIGIT */

static const struct smtp_err ERR_MAIL_SYNTAX = {
	501, "5.5.4", "syntax: MAIL FROM:<address> [parameters]"
};
static const struct smtp_err ERR_RCPT_SYNTAX = {
	501, "5.5.4", "syntax: RCPT TO:<address> [parameters]"
};
static const struct smtp_err ERR_PARAM_SYNTAX = { 501, "5.5.4", "bad parameter syntax" };
static const struct smtp_err ERR_PARAM_UNKNOWN = { 555, "5.5.4", "unsupported parameter" };
static const struct smtp_err ERR_PARAM_DUP = { 555, "5.5.4", "duplicate parameter" };
static const struct smtp_err ERR_UTF8_OFF = { 555, "5.5.4", "SMTPUTF8 not supported" };
static const struct smtp_err ERR_SIZE = { 501, "5.5.4", "bad SIZE value" };
static const struct smtp_err ERR_BODY = { 501, "5.5.4", "bad BODY value" };
static const struct smtp_err ERR_RET = { 501, "5.5.4", "bad RET value" };
static const struct smtp_err ERR_ENVID = { 501, "5.5.4", "bad ENVID value" };
static const struct smtp_err ERR_NOTIFY = { 501, "5.5.4", "bad NOTIFY value" };
static const struct smtp_err ERR_ORCPT = { 501, "5.5.4", "bad ORCPT value" };

/* One "keyword[=value]" parameter, pointing into the argument. */
struct param {
	const char *kw, *val;
	size_t kwlen, vallen;
	int hasval;
};

/* Return 1 if p[0..n) equals word, ignoring case. */
static int eq(const char *p, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(p, word, n) == 0;
}

/* Return 1 for an ASCII letter or digit. */
static int alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Split "KW[=VAL]" at p[0..n) into *pr; 0, or -1 if it is not esmtp-param syntax. */
static int param_split(const char *p, size_t n, struct param *pr)
{
	size_t i = 0;

	while (i < n && p[i] != '=')
		i++;
	pr->kw = p;
	pr->kwlen = i;
	pr->hasval = i < n;
	pr->val = pr->hasval ? p + i + 1 : "";
	pr->vallen = pr->hasval ? n - i - 1 : 0;
	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	if (pr->kwlen == 0 || !alnum(p[0]))
		return -1;
	for (i = 1; i < pr->kwlen; i++)
		if (!alnum(p[i]) && p[i] != '-')
			return -1;
	/* esmtp-value = 1*(%d33-60 / %d62-126) */
	if (pr->hasval && pr->vallen == 0)
		return -1;
	for (i = 0; i < pr->vallen; i++)
		if (pr->val[i] < 33 || pr->val[i] > 126 || pr->val[i] == '=')
			return -1;
	return 0;
}

/* Parse SIZE digits, saturating at ULLONG_MAX; 0 or -1. */
static int size_parse(const char *p, size_t n, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	if (n == 0 || n > PARAM_SIZE_DIGITS)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return -1;
		d = (unsigned)(p[i] - '0');
		v = v > (ULLONG_MAX - d) / 10 ? ULLONG_MAX : v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Parse NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY. */
static int notify_parse(const char *p, size_t n, unsigned *out)
{
	size_t i = 0;

	*out = 0;
	while (i <= n) {
		size_t s = i;
		unsigned bit;

		while (i < n && p[i] != ',')
			i++;
		if (eq(p + s, i - s, "NEVER"))
			bit = SMTP_NOTIFY_NEVER;
		else if (eq(p + s, i - s, "SUCCESS"))
			bit = SMTP_NOTIFY_SUCCESS;
		else if (eq(p + s, i - s, "FAILURE"))
			bit = SMTP_NOTIFY_FAILURE;
		else if (eq(p + s, i - s, "DELAY"))
			bit = SMTP_NOTIFY_DELAY;
		else
			return -1;      /* unknown or empty item */
		if (*out & bit)
			return -1;
		*out |= bit;
		i++;
	}
	if ((*out & SMTP_NOTIFY_NEVER) && *out != SMTP_NOTIFY_NEVER)
		return -1;
	return 0;
}

/* Split "KW:<path> params": *path gets the path, *rest the text after it.
 * Tolerates spaces after the colon.  Returns 0 or -1. */
static int split_path(const char *arg, size_t len, const char *kw, const char **path,
		      size_t *plen, size_t *rest)
{
	size_t kl = strlen(kw), i, start;
	int inq = 0;

	if (len < kl || strncasecmp(arg, kw, kl) != 0)
		return -1;
	i = kl;
	while (i < len && arg[i] == ' ')
		i++;
	start = i;
	if (i < len && arg[i] == '<') {
		/* find the closing '>' outside a quoted string */
		for (; i < len; i++) {
			if (inq) {
				if (arg[i] == '\\')
					i++;
				else if (arg[i] == '"')
					inq = 0;
			} else if (arg[i] == '"') {
				inq = 1;
			} else if (arg[i] == '>') {
				break;
			}
		}
		if (i < len)
			i++;
		else
			i = len;
	} else {
		while (i < len && arg[i] != ' ')
			i++;
	}
	*path = arg + start;
	*plen = i - start;
	if (i < len && arg[i] != ' ')
		return -1;      /* "<a@b>junk" */
	*rest = i;
	return 0;
}

/* Map an address error for the sender: X.1.3 becomes X.1.7 (RFC 3463). */
static void sender_err(struct smtp_err *err)
{
	if (err->enh != NULL && strcmp(err->enh, "5.1.3") == 0)
		err->enh = "5.1.7";
}

/* Take the next parameter of arg[*pos..len) into *pr (spaces between
 * them skipped): 1, 0 at the end, or -1 with *err for bad syntax. */
static int next_param(const char *arg, size_t len, size_t *pos, struct param *pr,
		      struct smtp_err *err)
{
	size_t i = *pos, s;

	while (i < len && arg[i] == ' ')
		i++;
	for (s = i; i < len && arg[i] != ' '; i++)
		;
	*pos = i;
	if (s == len)
		return 0;
	if (param_split(arg + s, i - s, pr) < 0) {
		*err = ERR_PARAM_SYNTAX;
		return -1;
	}
	return 1;
}

/* The parameters of MAIL, one bit each (to refuse repeats). */
enum mail_param_bit { P_SIZE = 1, P_BODY = 2, P_UTF8 = 4, P_RET = 8, P_ENVID = 16 };

/* Bit of a MAIL parameter keyword, 0 if we do not know it. */
static unsigned mail_param_bit(const struct param *pr)
{
	static const struct { const char *kw; unsigned bit; } tab[] = {
		{ "SIZE", P_SIZE }, { "BODY", P_BODY }, { "SMTPUTF8", P_UTF8 },
		{ "RET", P_RET }, { "ENVID", P_ENVID },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (eq(pr->kw, pr->kwlen, tab[i].kw))
			return tab[i].bit;
	return 0;
}

/* Check and store the value of MAIL parameter bit; 0 or -1 with *err. */
static int mail_param_value(unsigned bit, const struct param *pr, int utf8_ok,
			    struct smtp_mail_args *out, struct smtp_err *err)
{
	switch (bit) {
	case P_SIZE:
		if (size_parse(pr->val, pr->vallen, &out->size) < 0) {
			*err = ERR_SIZE;
			return -1;
		}
		return 0;
	case P_BODY:
		if (eq(pr->val, pr->vallen, "7BIT")) {
			out->body = SMTP_BODY_7BIT;
		} else if (eq(pr->val, pr->vallen, "8BITMIME")) {
			out->body = SMTP_BODY_8BITMIME;
		} else {
			*err = ERR_BODY;
			return -1;
		}
		return 0;
	case P_UTF8:
		if (!utf8_ok) {
			*err = ERR_UTF8_OFF;
			return -1;
		}
		if (pr->hasval) {
			*err = ERR_PARAM_SYNTAX;
			return -1;
		}
		out->smtputf8 = 1;
		return 0;
	case P_RET:
		if (eq(pr->val, pr->vallen, "FULL")) {
			out->ret = SMTP_RET_FULL;
		} else if (eq(pr->val, pr->vallen, "HDRS")) {
			out->ret = SMTP_RET_HDRS;
		} else {
			*err = ERR_RET;
			return -1;
		}
		return 0;
	default:        /* P_ENVID */
		if (!smtp_envid_ok(pr->val, pr->vallen)) {
			*err = ERR_ENVID;
			return -1;
		}
		memcpy(out->envid, pr->val, pr->vallen);
		out->envid[pr->vallen] = '\0';
		return 0;
	}
}

/* Parse the argument of MAIL; see smtp.h. */
int smtp_parse_mail(const char *arg, size_t len, int utf8_ok, struct smtp_mail_args *out,
		    struct smtp_err *err)
{
	const char *path;
	size_t plen, i;
	unsigned seen = 0, flags;
	struct param pr;
	int more;

	memset(out, 0, sizeof(*out));
	if (split_path(arg, len, "FROM:", &path, &plen, &i) < 0) {
		*err = ERR_MAIL_SYNTAX;
		return -1;
	}
	while ((more = next_param(arg, len, &i, &pr, err)) > 0) {
		unsigned bit = mail_param_bit(&pr);

		if (bit == 0) {
			*err = ERR_PARAM_UNKNOWN;
			return -1;
		}
		if (seen & bit) {
			*err = ERR_PARAM_DUP;
			return -1;
		}
		seen |= bit;
		if (mail_param_value(bit, &pr, utf8_ok, out, err) < 0)
			return -1;
	}
	if (more < 0)
		return -1;
	flags = SMTP_ADDR_ALLOW_EMPTY | SMTP_ADDR_ALLOW_LITERAL;
	if (out->smtputf8)
		flags |= SMTP_ADDR_ALLOW_UTF8;
	if (smtp_addr_parse(path, plen, flags, &out->from, err) < 0) {
		sender_err(err);
		return -1;
	}
	return 0;
}

/* Parse the argument of RCPT; see smtp.h. */
int smtp_parse_rcpt(const char *arg, size_t len, int smtputf8, struct smtp_rcpt_args *out,
		    struct smtp_err *err)
{
	const char *path;
	size_t plen, i;
	int seen_notify = 0, seen_orcpt = 0, more;
	struct param pr;

	memset(out, 0, sizeof(*out));
	if (split_path(arg, len, "TO:", &path, &plen, &i) < 0) {
		*err = ERR_RCPT_SYNTAX;
		return -1;
	}
	while ((more = next_param(arg, len, &i, &pr, err)) > 0) {
		if (eq(pr.kw, pr.kwlen, "NOTIFY")) {
			if (seen_notify++) {
				*err = ERR_PARAM_DUP;
				return -1;
			}
			if (notify_parse(pr.val, pr.vallen, &out->notify) < 0) {
				*err = ERR_NOTIFY;
				return -1;
			}
		} else if (eq(pr.kw, pr.kwlen, "ORCPT")) {
			if (seen_orcpt++) {
				*err = ERR_PARAM_DUP;
				return -1;
			}
			if (!smtp_orcpt_ok(pr.val, pr.vallen)) {
				*err = ERR_ORCPT;
				return -1;
			}
			memcpy(out->orcpt, pr.val, pr.vallen);
			out->orcpt[pr.vallen] = '\0';
		} else {
			*err = ERR_PARAM_UNKNOWN;
			return -1;
		}
	}
	if (more < 0)
		return -1;
	if (smtp_addr_parse(path, plen, smtputf8 ? SMTP_ADDR_ALLOW_UTF8 : 0, &out->to, err) < 0)
		return -1;
	return 0;
}
