/*
 * dnsbl_site.h - one dnsbl_sites entry (postscreen syntax), reply filters,
 *                and DNSBL query names.
 *
 * The pure half of the DNSBL check (issue 14): the configuration parses each
 * entry of dnsbl_sites with dnsbl_site_parse(); the runtime builds the query
 * name with dnsbl_query_name(), looks up its A records, drops the list's
 * error codes (dnsbl_answer_is_error) and adds the weight of every site
 * whose filter matches an answer (dnsbl_site_match).
 *
 * Entry syntax, as Postfix's postscreen_dnsbl_sites documents it:
 *   entry   = domain [ "=" filter ] [ "*" weight ]
 *   filter  = field "." field "." field "." field
 *   field   = octet / "[" item *( ";" item ) "]"
 *   item    = octet / octet ".." octet          (lo <= hi)
 *   octet   = 1*DIGIT, value 0-255
 *   weight  = [ "+" / "-" ] 1*DIGIT, |weight| <= DNSBL_WEIGHT_MAX
 *   domain  = letters, digits, hyphens and dots: labels of 1-63 octets that
 *             neither start nor end with "-", at most 253 octets, not all
 *             digits and dots; one trailing dot is dropped; kept lower-case.
 * White space around the entry is ignored; anything else is refused whole.
 *
 * Everything here is a pure function: no I/O, no allocation, no state,
 * thread-safe, never reading past the given length.  Predicates return 1
 * for yes and 0 for no; the others 0, or -1 on failure.
 */
#ifndef BMX_FILTER_DNSBL_SITE_H
#define BMX_FILTER_DNSBL_SITE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNSBL_SITES_MAX      64    /* entries in dnsbl_sites */
#define DNSBL_SITE_TEXT_MAX  512   /* one entry as written */
#define DNSBL_FILTER_MAX     64    /* values in one octet's [..] list */
#define DNSBL_WEIGHT_MAX     1000  /* |weight| */
#define DNSBL_QUERY_NAME_MAX 253   /* octets of a query name, without the NUL */

/* One octet pattern of a reply filter: a bitmap of the 256 values it accepts. */
struct dnsbl_octet { uint8_t bits[32]; };

/* One dnsbl_sites entry, postscreen syntax: domain[=filter][*weight]. */
struct dnsbl_site {
	char domain[256];            /* lower-case, no trailing dot, e.g. "zen.spamhaus.org" */
	int has_filter;              /* =filter given */
	struct dnsbl_octet filter[4];/* 127.0.0.[2;4] -> 4 octet patterns */
	int weight;                  /* default 1; may be negative (allow lists) */
};

/* Parse one entry; 0, or -1 with a reason in err (for the config's file:line
 * message).  On failure *out is all zero: nothing is half-parsed. */
int dnsbl_site_parse(const char *text, size_t len, struct dnsbl_site *out, char *err, size_t errlen);

/* Does an A answer (4 octets, network order) match the site's filter?  1 or 0.
 * Without a filter every answer in 127.0.0.0/8 matches EXCEPT 127.255.255.0/24.
 * An explicit filter is taken as written. */
int dnsbl_site_match(const struct dnsbl_site *s, const uint8_t a[4]);

/* Is an answer a list's "query refused / not allowed / error" code
 * (127.255.255.0/24, e.g. Spamhaus 127.255.255.252-255)?  1 or 0. */
int dnsbl_answer_is_error(const uint8_t a[4]);

/* The query name for client address sa (AF_INET: d.c.b.a.ZONE; AF_INET6: 32 reversed
 * nibbles, lower-case hex, dot-separated, then .ZONE) into out; 0, or -1 if it does not fit
 * or the family is unknown.  An IPv4-mapped IPv6 address (::ffff:a.b.c.d) uses the IPv4 form.
 * The zone must pass the domain rules above (it is written lower-case, without a
 * trailing dot); a bad zone, or a name longer than DNSBL_QUERY_NAME_MAX, is -1 too.
 * On -1, out is "" (when len > 0). */
int dnsbl_query_name(const struct sockaddr *sa, const char *zone, char *out, size_t len);

#endif
