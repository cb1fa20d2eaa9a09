/*
 * authres.c - RFC 8601 Authentication-Results parser, the "sender
 *             authenticated" verdict of bounce_policy = authenticated, and
 *             the test for our own header (stripped on the way in).
 *
 * The parser is a small lexer over value[0..len) (struct lex): it never
 * looks at value[len] or past it, allocates nothing, and keeps no state
 * between calls.  Every item of the grammar in authres.h has one function;
 * every size a peer controls is bounded by a limit of authres.h and going
 * over it is -1 with errno EMSGSIZE (other refusals are EINVAL).  Values
 * are copied into fixed buffers only after their length is checked.
 *
 * Organisational domains come from libpsl (only this file includes it):
 * Debian's /usr/share/publicsuffix list (package publicsuffix) when it is
 * there, libpsl's built-in copy when not.  libpsl wants lower-case input
 * ("MAIL.EXAMPLE.CO.UK" gives "CO.UK"), so names are lower-cased first.
 */
#include "filter/authres.h"

#include <errno.h>
#include <libpsl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define AUTHRES_PSL_DAFSA  "/usr/share/publicsuffix/public_suffix_list.dafsa"
#define AUTHRES_PSL_DAT    "/usr/share/publicsuffix/public_suffix_list.dat"
#define AUTHRES_DOMAIN_MAX 255      /* octets of a domain name handed to libpsl */
#define AUTHRES_HEADER     "Authentication-Results"

struct authres_psl {
	psl_ctx_t *loaded;          /* from a file, ours to free; NULL when built in */
	const psl_ctx_t *ctx;       /* what lookups use */
	char *source;               /* file name or "builtin" (allocated) */
};

/* The lexer: value s[0..n), position i, errno to report on failure. */
struct lex {
	const char *s;
	size_t n;
	size_t i;
	int err;
};

/* The properties we keep: one bit each, to refuse one given twice. */
static const struct {
	const char *ptype, *property;
	unsigned bit;
	size_t off;
} kept_props[] = {
	{ "smtp", "mailfrom", 1u, offsetof(struct authres_result, smtp_mailfrom) },
	{ "smtp", "helo", 2u, offsetof(struct authres_result, smtp_helo) },
	{ "header", "d", 4u, offsetof(struct authres_result, header_d) },
	{ "header", "i", 8u, offsetof(struct authres_result, header_i) },
	{ "header", "from", 16u, offsetof(struct authres_result, header_from) },
};

/* c lower-cased, ASCII only (tolower() follows the locale). */
static int ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Is c an ASCII letter or digit? */
static int alnum_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Are a[0..alen) and the string b equal, ASCII case-insensitively? */
static int ascii_eqn(const char *a, size_t alen, const char *b)
{
	size_t i;

	for (i = 0; i < alen; i++)
		if (b[i] == '\0' || ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return 0;
	return b[i] == '\0';
}

/* Is s non-empty 7-bit ASCII? */
static int ascii_name_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* The octet at the lexer's position, or -1 at the end. */
static int peek(const struct lex *l)
{
	return l->i < l->n ? (unsigned char)l->s[l->i] : -1;
}

/* Has the lexer reached the end? */
static int at_end(const struct lex *l)
{
	return l->i >= l->n;
}

/* Fail with errno EMSGSIZE: a limit was exceeded. */
static int over_limit(struct lex *l)
{
	l->err = EMSGSIZE;
	return -1;
}

/* Skip the line break at the position (CRLF or LF) when WSP follows it;
 * 0, or -1 for a bare CR or a break that ends the header. */
static int lex_break(struct lex *l)
{
	size_t j = l->i;

	if (j < l->n && l->s[j] == '\r')
		j++;
	if (j >= l->n || l->s[j] != '\n')
		return -1;
	j++;
	if (j >= l->n || (l->s[j] != ' ' && l->s[j] != '\t'))
		return -1;
	l->i = j;
	return 0;
}

/* Skip folding white space; 1 if any was skipped, 0 if none, -1 bad break. */
static int lex_fws(struct lex *l)
{
	size_t start = l->i;

	for (;;) {
		int c = peek(l);

		if (c == ' ' || c == '\t')
			l->i++;
		else if (c == '\r' || c == '\n') {
			if (lex_break(l) < 0)
				return -1;
		} else
			return l->i > start;
	}
}

/* Is c text for a comment or quoted string: printable ASCII or 8-bit
 * (UTF-8, RFC 6532), other than the delimiters the caller handles? */
static int text_ok(unsigned char c)
{
	return (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

/* Read the quoted pair at the position ("\" seen); the quoted octet, or -1
 * for a control, NUL or line break after the backslash. */
static int lex_quoted_pair(struct lex *l)
{
	unsigned char c;

	if (l->i + 1 >= l->n)
		return -1;
	c = (unsigned char)l->s[l->i + 1];
	if (!text_ok(c) && c != ' ' && c != '\t')
		return -1;
	l->i += 2;
	return c;
}

/* Skip the comment at the position ("(" seen), nested at most
 * AUTHRES_COMMENT_DEPTH deep; 0 or -1. */
static int lex_comment(struct lex *l)
{
	int depth = 0;

	while (l->i < l->n) {
		unsigned char c = (unsigned char)l->s[l->i];

		if (c == '(') {
			if (++depth > AUTHRES_COMMENT_DEPTH)
				return over_limit(l);
			l->i++;
		} else if (c == ')') {
			l->i++;
			if (--depth == 0)
				return 0;
		} else if (c == '\\') {
			if (lex_quoted_pair(l) < 0)
				return -1;
		} else if (c == '\r' || c == '\n') {
			if (lex_break(l) < 0)
				return -1;
		} else if (text_ok(c) || c == ' ' || c == '\t') {
			l->i++;
		} else {
			return -1;
		}
	}
	return -1;      /* unterminated */
}

/* Skip CFWS (white space, folding, comments); 1 if any, 0 if none, -1 bad. */
static int lex_cfws(struct lex *l)
{
	size_t start = l->i;

	for (;;) {
		if (lex_fws(l) < 0)
			return -1;
		if (peek(l) != '(')
			return l->i > start;
		if (lex_comment(l) < 0)
			return -1;
	}
}

/* Skip the CFWS after an item; -1 unless the item ended there (at the end,
 * before ";" or before CFWS). */
static int lex_after_item(struct lex *l)
{
	int r = lex_cfws(l);

	if (r < 0 || (r == 0 && !at_end(l) && peek(l) != ';'))
		return -1;
	return 0;
}

/* Is c a keyword octet: letter, digit, "-" (ldh-str) or "_"? */
static int keyword_char(unsigned char c)
{
	return alnum_ok(c) || c == '-' || c == '_';
}

/* Read a keyword, lower-cased, into out[AUTHRES_NAME_MAX + 1]: it starts
 * with a letter or digit and does not end in "-"; 0 or -1. */
static int lex_keyword(struct lex *l, char *out)
{
	size_t k = 0;

	while (l->i < l->n && keyword_char((unsigned char)l->s[l->i])) {
		if (k >= AUTHRES_NAME_MAX)
			return over_limit(l);
		out[k++] = (char)ascii_lower((unsigned char)l->s[l->i++]);
	}
	out[k] = '\0';
	if (k == 0 || !alnum_ok((unsigned char)out[0]) || out[k - 1] == '-')
		return -1;
	return 0;
}

/* Read 1 to AUTHRES_DIGITS_MAX decimal digits into *v; 0 or -1. */
static int lex_digits(struct lex *l, int *v)
{
	size_t k = 0;

	*v = 0;
	while (l->i < l->n && l->s[l->i] >= '0' && l->s[l->i] <= '9') {
		if (++k > AUTHRES_DIGITS_MAX)
			return over_limit(l);
		*v = *v * 10 + (l->s[l->i++] - '0');
	}
	return k > 0 ? 0 : -1;
}

/* Append c to out[0..AUTHRES_TOKEN_MAX) at *k; 0, or -1 when it is full. */
static int put(struct lex *l, char *out, size_t *k, int c)
{
	if (*k >= AUTHRES_TOKEN_MAX)
		return over_limit(l);
	out[(*k)++] = (char)c;
	return 0;
}

/* Read the quoted string at the position ('"' seen), unescaped and with
 * its folding breaks removed, appending to out at *k; 0 or -1. */
static int lex_quoted(struct lex *l, char *out, size_t *k)
{
	l->i++;
	while (l->i < l->n) {
		unsigned char c = (unsigned char)l->s[l->i];
		int ch;

		if (c == '"') {
			l->i++;
			return 0;
		}
		if (c == '\r' || c == '\n') {
			if (lex_break(l) < 0)
				return -1;
			continue;
		}
		if (c == '\\') {
			if ((ch = lex_quoted_pair(l)) < 0)
				return -1;
		} else if (text_ok(c) || c == ' ' || c == '\t') {
			ch = c;
			l->i++;
		} else {
			return -1;
		}
		if (put(l, out, k, ch) < 0)
			return -1;
	}
	return -1;      /* unterminated */
}

/* May c appear in an unquoted value: an RFC 2045 token octet, or for a
 * pvalue (address, domain, base64) any printable octet but ( ) ; " \ ?
 * 8-bit octets (UTF-8) are taken as they are. */
static int bare_ok(unsigned char c, int pvalue)
{
	if (c >= 0x80)
		return 1;
	if (c <= 0x20 || c >= 0x7f || strchr("();\"\\", c) != NULL)
		return 0;
	return pvalue || strchr("<>@,:/[]?=", c) == NULL;
}

/* Read a value, a quoted string or a run of bare octets (a pvalue may also
 * be "quoted local part"@domain, kept unquoted), into
 * out[AUTHRES_TOKEN_MAX + 1]; 0 or -1.  A quoted "" gives "". */
static int lex_value(struct lex *l, char *out, int pvalue)
{
	size_t k = 0;

	if (peek(l) == '"') {
		if (lex_quoted(l, out, &k) < 0)
			return -1;
		if (!pvalue || peek(l) != '@') {
			out[k] = '\0';
			return 0;
		}
		if (put(l, out, &k, '@') < 0)
			return -1;
		l->i++;
		if (at_end(l) || !bare_ok((unsigned char)l->s[l->i], 1))
			return -1;      /* "local"@ and no domain */
	}
	while (l->i < l->n && bare_ok((unsigned char)l->s[l->i], pvalue)) {
		if (put(l, out, &k, l->s[l->i]) < 0)
			return -1;
		l->i++;
	}
	out[k] = '\0';
	return k > 0 ? 0 : -1;
}

/* Store val as property ptype.property of r when it is one we keep;
 * 0, or -1 when r already has it. */
static int keep_property(struct authres_result *r, const char *ptype, const char *property,
			 const char *val, unsigned *seen)
{
	for (size_t i = 0; i < sizeof(kept_props) / sizeof(kept_props[0]); i++) {
		if (strcmp(ptype, kept_props[i].ptype) != 0 ||
		    strcmp(property, kept_props[i].property) != 0)
			continue;
		if (*seen & kept_props[i].bit)
			return -1;
		*seen |= kept_props[i].bit;
		/* val is at most AUTHRES_TOKEN_MAX octets, the field one more */
		memcpy((char *)r + kept_props[i].off, val, strlen(val) + 1);
		return 0;
	}
	return 0;
}

/* Parse the rest of a methodspec, its method read: ["/" version] "=" result. */
static int parse_methodspec(struct lex *l, struct authres_result *r)
{
	r->method_version = 1;
	if (peek(l) == '/') {
		l->i++;
		if (lex_cfws(l) < 0 || lex_digits(l, &r->method_version) < 0 || lex_cfws(l) < 0)
			return -1;
	}
	if (peek(l) != '=')
		return -1;
	l->i++;
	if (lex_cfws(l) < 0 || lex_keyword(l, r->result) < 0)
		return -1;
	return lex_after_item(l);
}

/* Parse a resinfo after its ";" and method (CFWS skipped) into r: the
 * methodspec, then an optional reason, then propspecs; 0 or -1. */
static int parse_resinfo(struct lex *l, struct authres_result *r)
{
	char ptype[AUTHRES_NAME_MAX + 1], prop[AUTHRES_NAME_MAX + 1];
	char val[AUTHRES_TOKEN_MAX + 1];
	unsigned seen = 0;
	int nprops = 0, reason = 0;

	if (parse_methodspec(l, r) < 0)
		return -1;
	while (!at_end(l) && peek(l) != ';') {
		if (lex_keyword(l, ptype) < 0 || lex_cfws(l) < 0)
			return -1;
		if (peek(l) == '=' && strcmp(ptype, "reason") == 0 && !reason && nprops == 0) {
			reason = 1;
			l->i++;
			if (lex_cfws(l) < 0 || lex_value(l, val, 0) < 0 || lex_after_item(l) < 0)
				return -1;
			continue;
		}
		if (peek(l) != '.')
			return -1;
		l->i++;
		if (lex_cfws(l) < 0 || lex_keyword(l, prop) < 0 || lex_cfws(l) < 0 ||
		    peek(l) != '=')
			return -1;
		l->i++;
		if (lex_cfws(l) < 0 || lex_value(l, val, 1) < 0 || lex_after_item(l) < 0)
			return -1;
		if (keep_property(r, ptype, prop, val, &seen) < 0)
			return -1;
		nprops++;
	}
	return 0;
}

/* Parse the head: [CFWS] authserv-id [CFWS version] [CFWS]; 0 or -1. */
static int parse_head(struct lex *l, struct authres *a)
{
	if (lex_cfws(l) < 0 || lex_value(l, a->authserv_id, 0) < 0 ||
	    a->authserv_id[0] == '\0' || lex_after_item(l) < 0)
		return -1;
	a->version = 1;
	if (peek(l) >= '0' && peek(l) <= '9')
		if (lex_digits(l, &a->version) < 0 || lex_after_item(l) < 0)
			return -1;
	return 0;
}

/* Parse a whole value: the head, then ";" none or 1*resinfo; 0 or -1. */
static int parse_payload(struct lex *l, struct authres *a)
{
	if (parse_head(l, a) < 0)
		return -1;
	while (!at_end(l)) {
		struct authres_result *r;

		if (peek(l) != ';')
			return -1;
		l->i++;
		if (lex_cfws(l) < 0)
			return -1;
		if (at_end(l))          /* one trailing ";" */
			return a->nresults > 0 || a->none ? 0 : -1;
		if (a->none)
			return -1;
		if (a->nresults >= AUTHRES_RESULTS_MAX)
			return over_limit(l);
		r = &a->results[a->nresults];
		if (lex_keyword(l, r->method) < 0 || lex_cfws(l) < 0)
			return -1;
		if (strcmp(r->method, "none") == 0 && (at_end(l) || peek(l) == ';')) {
			if (a->nresults > 0)
				return -1;
			memset(r, 0, sizeof(*r));
			a->none = 1;
			continue;
		}
		if (parse_resinfo(l, r) < 0)
			return -1;
		a->nresults++;
	}
	return a->nresults > 0 || a->none ? 0 : -1;
}

/* Parse an Authentication-Results value into *out; 0, or -1 with *out cleared. */
int authres_parse(const char *value, size_t len, struct authres *out)
{
	struct lex l = { value, len, 0, EINVAL };

	if (out == NULL) {
		errno = EINVAL;
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if (value == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (len > AUTHRES_VALUE_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (l.n > 0 && value[l.n - 1] == '\n') {        /* the header's own line end */
		l.n--;
		if (l.n > 0 && value[l.n - 1] == '\r')
			l.n--;
	}
	if (parse_payload(&l, out) < 0) {
		memset(out, 0, sizeof(*out));
		errno = l.err;
		return -1;
	}
	return 0;
}

/* Is a's authserv-id authserv_id, ASCII case-insensitively? */
int authres_is_ours(const struct authres *a, const char *authserv_id)
{
	if (a == NULL || authserv_id == NULL || authserv_id[0] == '\0' ||
	    a->authserv_id[0] == '\0')
		return 0;
	return ascii_eqn(a->authserv_id, strlen(a->authserv_id), authserv_id);
}

/* Load the list at path, or the system list, or the built-in one. */
struct authres_psl *authres_psl_new(const char *path)
{
	static const char *const system_lists[] = { AUTHRES_PSL_DAFSA, AUTHRES_PSL_DAT };
	struct authres_psl *p = calloc(1, sizeof(*p));
	const char *source = path;

	if (p == NULL)
		return NULL;
	errno = 0;
	if (path != NULL)
		p->loaded = psl_load_file(path);
	for (size_t i = 0; path == NULL && i < sizeof(system_lists) / sizeof(system_lists[0]) &&
			   p->loaded == NULL; i++) {
		source = system_lists[i];
		p->loaded = psl_load_file(source);
	}
	p->ctx = p->loaded;
	if (p->ctx == NULL && path == NULL) {
		p->ctx = psl_builtin();
		source = "builtin";
	}
	if (p->ctx == NULL || (p->source = strdup(source)) == NULL) {
		int e = errno != 0 ? errno : ENOENT;

		authres_psl_free(p);
		errno = e;
		return NULL;
	}
	return p;
}

/* Free a list from authres_psl_new(); NULL is a no-op. */
void authres_psl_free(struct authres_psl *psl)
{
	if (psl == NULL)
		return;
	psl_free(psl->loaded);          /* never the built-in one */
	free(psl->source);
	free(psl);
}

/* Where the list came from: its file name, or "builtin". */
const char *authres_psl_source(const struct authres_psl *psl)
{
	return psl != NULL && psl->source != NULL ? psl->source : "";
}

/* Write domain's registrable domain, lower-cased, to out; 0 or -1. */
int authres_org_domain(const struct authres_psl *psl, const char *domain, char *out,
		       size_t outlen)
{
	char low[AUTHRES_DOMAIN_MAX + 1];
	const char *reg;
	size_t n, rn;

	if (psl == NULL || domain == NULL || out == NULL || !ascii_name_ok(domain) ||
	    domain[0] == '[') {
		errno = EINVAL;
		return -1;
	}
	n = strlen(domain);
	if (n > AUTHRES_DOMAIN_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)ascii_lower((unsigned char)domain[i]);
	reg = psl_registrable_domain(psl->ctx, low);
	if (reg == NULL) {
		errno = ENOENT;         /* a public suffix itself */
		return -1;
	}
	rn = strlen(reg);
	if (rn >= outlen) {
		errno = ERANGE;
		return -1;
	}
	memcpy(out, reg, rn + 1);
	return 0;
}

/* The domain of an smtp.mailfrom value: after its last "@", or all of it. */
static const char *mailfrom_domain(const char *v)
{
	const char *at = strrchr(v, '@');

	return at != NULL ? at + 1 : v;
}

/* Are the names a and b equal, ASCII case-insensitively, and non-empty? */
static int name_eq(const char *a, const char *b)
{
	return a[0] != '\0' && ascii_eqn(a, strlen(a), b);
}

/* Does a (ours) authenticate mail_from_domain by SPF or DKIM? */
int authres_sender_authenticated(const struct authres *a, const char *authserv_id,
				 const char *mail_from_domain, const struct authres_psl *psl)
{
	char org[AUTHRES_DOMAIN_MAX + 1];
	int have_org;

	if (a == NULL || mail_from_domain == NULL || !ascii_name_ok(mail_from_domain) ||
	    !authres_is_ours(a, authserv_id) || a->version != 1 || a->nresults > AUTHRES_RESULTS_MAX)
		return 0;
	have_org = psl != NULL && authres_org_domain(psl, mail_from_domain, org, sizeof(org)) == 0;
	for (size_t i = 0; i < a->nresults; i++) {
		const struct authres_result *r = &a->results[i];

		if (r->method_version != 1 || strcmp(r->result, "pass") != 0)
			continue;
		if (strcmp(r->method, "spf") == 0 &&
		    name_eq(mailfrom_domain(r->smtp_mailfrom), mail_from_domain))
			return 1;
		if (strcmp(r->method, "dkim") == 0 &&
		    (name_eq(r->header_d, mail_from_domain) || (have_org && name_eq(r->header_d, org))))
			return 1;
	}
	return 0;
}

/* Is c white space or a line break? */
static int space_ok(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The first token of s[0..n) read leniently (comments of any depth skipped,
 * the token ends at white space, ";" or "(", a leading and a trailing quote
 * dropped, even unpaired):
 * its length, with *tok pointing into s, or 0 when there is none. */
static size_t first_token_lenient(const char *s, size_t n, const char **tok)
{
	size_t i = 0, depth = 0, start;

	for (; i < n; i++) {
		if (depth > 0) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '(')
				depth++;
			else if (s[i] == ')')
				depth--;
		} else if (s[i] == '(') {
			depth++;
		} else if (!space_ok(s[i])) {
			break;
		}
	}
	if (depth > 0 || i >= n)
		return 0;
	start = i;
	while (i < n && !space_ok(s[i]) && s[i] != ';' && s[i] != '(')
		i++;
	if (i > start && s[start] == '"')
		start++;
	if (i > start && s[i - 1] == '"')
		i--;
	*tok = s + start;
	return i - start;
}

/* Does id occur in s[0..n), ASCII case-insensitively? */
static int contains_id(const char *s, size_t n, const char *id)
{
	size_t m = strlen(id);

	for (size_t i = 0; m > 0 && i + m <= n; i++)
		if (ascii_eqn(s + i, m, id))
			return 1;
	return 0;
}

/* Is name "Authentication-Results" (case-insensitive, trailing WSP allowed)? */
static int authres_name_ok(const char *name)
{
	size_t n = strlen(name);

	while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
		n--;
	return ascii_eqn(name, n, AUTHRES_HEADER);
}

/* Is name: value[0..vlen) an Authentication-Results header of ours? */
int authres_header_is_ours(const char *name, const char *value, size_t vlen,
			   const char *authserv_id)
{
	char id[AUTHRES_TOKEN_MAX + 1];
	struct lex l = { value, vlen, 0, EINVAL };
	const char *tok = NULL;
	size_t toklen;

	if (name == NULL || value == NULL || authserv_id == NULL || authserv_id[0] == '\0' ||
	    !authres_name_ok(name))
		return 0;
	/* the authserv-id as authres_parse() reads it, whatever follows it */
	if (lex_cfws(&l) >= 0 && lex_value(&l, id, 0) == 0)
		return ascii_eqn(id, strlen(id), authserv_id);
	/* fail closed: a first token read leniently, or our id anywhere */
	toklen = first_token_lenient(value, vlen, &tok);
	if (toklen > 0)
		return ascii_eqn(tok, toklen, authserv_id);
	return contains_id(value, vlen, authserv_id);
}
