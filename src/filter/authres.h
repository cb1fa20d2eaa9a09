/*
 * authres.h - RFC 8601 Authentication-Results: parse the fields backupmx
 *             needs, decide "sender authenticated" for bounce_policy =
 *             authenticated, and recognise our own header for stripping.
 *
 * Pure functions over byte ranges: no I/O, no allocation (but the PSL
 * handle), never reading past the given length, thread-safe.  Fallible
 * operations return 0 or -1, predicates 1 or 0 (docs/STYLE.md).
 *
 * The grammar (RFC 8601 section 2.2), as parsed here:
 *   payload  = [CFWS] authserv-id [CFWS version] (";" "none" / 1*resinfo)
 *   resinfo  = ";" method ["/" version] "=" result ["reason" "=" value]
 *              *(ptype "." property "=" pvalue)
 * with CFWS (folding white space, CRLF or bare LF + WSP, and comments,
 * nested at most AUTHRES_COMMENT_DEPTH deep) allowed between any two
 * items, quoted strings for values, and case-insensitive keywords (method,
 * result, ptype, property are stored lower-cased).  Two leniencies that
 * change no meaning: keywords may contain "_", and one trailing ";" with
 * nothing after it is accepted.  Anything else off the grammar, and every
 * input over a limit below, is -1: fail closed, never truncated into a
 * different meaning.  A value may end in one CRLF (or LF); a NUL, a bare
 * CR, or a line break not followed by WSP is refused.
 *
 * Kept for each resinfo: method, result, method version, and the properties
 * smtp.mailfrom, smtp.helo, header.d, header.i, header.from (unquoted;
 * the same kept property twice in one resinfo is -1).  Other properties
 * and reasons are checked and dropped.
 *
 * IDN: names are compared as lower-cased ASCII, i.e. A-labels
 * ("xn--..."); a name with an 8-bit octet (a U-label) never matches in
 * authres_sender_authenticated().  Converting U-labels is not done here.
 */
#ifndef BMX_FILTER_AUTHRES_H
#define BMX_FILTER_AUTHRES_H

#include <stddef.h>

#define AUTHRES_VALUE_MAX     8192  /* octets of one header value, folding included */
#define AUTHRES_RESULTS_MAX   32    /* resinfo clauses in one header */
#define AUTHRES_TOKEN_MAX     256   /* octets of one value: authserv-id, pvalue, reason */
#define AUTHRES_NAME_MAX      64    /* octets of a keyword: method, result, ptype, property */
#define AUTHRES_COMMENT_DEPTH 8     /* nesting of "( ... )" comments */
#define AUTHRES_DIGITS_MAX    9     /* digits of a version number */

/* One "method=result ..." clause. Strings are NUL-terminated, "" when absent. */
struct authres_result {
	char method[AUTHRES_NAME_MAX + 1];        /* "spf", "dkim", ... lower case */
	char result[AUTHRES_NAME_MAX + 1];        /* "pass", "fail", ... lower case */
	int method_version;                       /* 1 when absent, as RFC 8601 says */
	char smtp_mailfrom[AUTHRES_TOKEN_MAX + 1];
	char smtp_helo[AUTHRES_TOKEN_MAX + 1];
	char header_d[AUTHRES_TOKEN_MAX + 1];
	char header_i[AUTHRES_TOKEN_MAX + 1];
	char header_from[AUTHRES_TOKEN_MAX + 1];
};

/* One parsed Authentication-Results header (about 45 KB: heap or static). */
struct authres {
	char authserv_id[AUTHRES_TOKEN_MAX + 1];  /* as written (unquoted) */
	int version;                              /* authres-version, 1 when absent */
	int none;                                 /* 1 for "id; none" */
	size_t nresults;                          /* 0 when none */
	struct authres_result results[AUTHRES_RESULTS_MAX];
};

/* A loaded Public Suffix List (libpsl), for organisational domains. */
struct authres_psl;

/* Parse the header value value[0..len) (what follows "Authentication-Results:")
 * into *out; 0, or -1 (errno EINVAL, or EMSGSIZE over a limit) with *out
 * cleared. */
int authres_parse(const char *value, size_t len, struct authres *out);

/* Is a's authserv-id authserv_id (ASCII case-insensitive)?  1 or 0. */
int authres_is_ours(const struct authres *a, const char *authserv_id);

/* Load a Public Suffix List: path, or when path is NULL the system list
 * (/usr/share/publicsuffix/public_suffix_list.dafsa, then .dat), falling
 * back to libpsl's built-in copy.  NULL (errno set) when nothing loads. */
struct authres_psl *authres_psl_new(const char *path);

/* Free a list from authres_psl_new(); NULL is a no-op. */
void authres_psl_free(struct authres_psl *psl);

/* Where the list came from: its file name, or "builtin". */
const char *authres_psl_source(const struct authres_psl *psl);

/* Write the registrable (organisational) domain of domain, lower-cased,
 * into out; 0, or -1 when domain is a public suffix itself, is not ASCII,
 * or does not fit in outlen. */
int authres_org_domain(const struct authres_psl *psl, const char *domain, char *out,
		       size_t outlen);

/* Does a, a header of ours (authserv_id), authenticate the envelope sender
 * domain mail_from_domain: spf=pass with smtp.mailfrom in that domain (an
 * address or the bare domain), or dkim=pass with header.d equal to it or to
 * its organisational domain (needs psl; NULL means exact match only)?
 * Only authres-version 1 and method versions absent or 1 count.  The null
 * sender (mail_from_domain NULL or "") is never authenticated.  1 or 0. */
int authres_sender_authenticated(const struct authres *a, const char *authserv_id,
				 const char *mail_from_domain, const struct authres_psl *psl);

/* Is the header name: value[0..vlen) an Authentication-Results header with
 * our authserv_id (to strip, RFC 8601 section 5)?  A value that does not
 * parse counts as ours when its first token is our id, or when no first
 * token can be found and our id occurs anywhere in it.  1 or 0. */
int authres_header_is_ours(const char *name, const char *value, size_t vlen,
			   const char *authserv_id);

#endif
