/*
 * dns.h - asynchronous DNS on the io loop (libunbound), and MX resolution.
 *
 * src/dns/ is the only folder that includes libunbound.  The resolver runs
 * on the io loop through ub_fd() + ub_process(); every query has its own
 * timeout.  Results carry TTLs and the DNSSEC status.
 *
 * Resolver modes (dns_new):  NULL or "system" = the servers in
 * /etc/resolv.conf;  "recursive" = full recursion from the root hints with
 * DNSSEC validation (Debian's /usr/share/dns/root.key);  "ADDR[@PORT]" =
 * forward to that server only (tests).  Setting the forwarder is checked and
 * fails hard: there is never a silent fall-back to recursion.  The reserved
 * "test." zone that libunbound answers itself is made transparent; in
 * forward mode so are 127.in-addr.arpa and 2.0.192.in-addr.arpa, so that the
 * test world's DNS server answers PTR queries for loopback and TEST-NET-1.
 *
 * MX resolution (RFC 5321 5.1, RFC 7505) is dns_mx_resolve(): MX set, then
 * A/AAAA of every host concurrently; no MX = implicit MX from A/AAAA; null MX
 * = no mail; NXDOMAIN = permanent; SERVFAIL/timeout = temporary.
 */
#ifndef BMX_DNS_H
#define BMX_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "io/io.h"

#define DNS_NAME_MAX      255   /* presentation name incl. NUL */
#define DNS_ANSWERS_MAX   64    /* records kept from one answer */
#define DNS_MX_HOSTS_MAX  32    /* MX hosts kept from one MX set */
#define DNS_ADDRS_MAX     16    /* addresses kept per host */
#define DNS_TLSA_DATA_MAX 64    /* TLSA association data kept (SHA-512); longer records skipped */
/* Reverse (PTR) lookups libunbound may hold at once, counting ones that
 * timed out or were cancelled but that libunbound still works on (it does
 * not stop a query on ub_cancel()).  Beyond it dns_query() refuses PTR
 * queries (-1, errno EAGAIN): a flood of clients whose reverse zones never
 * answer costs a fixed ~12 KiB of libunbound state per lookup, at most this
 * many, and leaves half of libunbound's UDP ports to other lookups. */
#define DNS_PTR_INFLIGHT_MAX 64

enum dns_status {
	DNS_OK = 0,         /* data present */
	DNS_NODATA,         /* name exists, no records of that type */
	DNS_NXDOMAIN,       /* name does not exist (permanent) */
	DNS_TEMPFAIL,       /* SERVFAIL, timeout, network: try later */
	DNS_BOGUS,          /* DNSSEC validation failed (treated as temporary) */
};
enum dns_sec { DNS_SEC_INSECURE = 0, DNS_SEC_SECURE, DNS_SEC_BOGUS };

/* rrtypes we ask for */
#define DNS_T_A     1
#define DNS_T_PTR   12
#define DNS_T_MX    15
#define DNS_T_TXT   16
#define DNS_T_AAAA  28
#define DNS_T_TLSA  52

struct dns_mx_rr {
	uint16_t pref;
	char host[DNS_NAME_MAX];    /* lower-case, no trailing dot; "" for the null MX "." */
};

/* One TLSA record (RFC 6698). */
struct dns_tlsa_rr {
	uint8_t usage, selector, mtype;
	size_t len;
	uint8_t data[DNS_TLSA_DATA_MAX];
};

/* One answer of a plain query. */
struct dns_answer {
	enum dns_status status;
	enum dns_sec sec;
	uint32_t ttl;
	int rcode;
	char qname[DNS_NAME_MAX];
	char canonname[DNS_NAME_MAX];   /* differs from qname when a CNAME was followed */
	int cname;                      /* 1 if a CNAME was followed */
	char why[128];                  /* human reason for non-OK statuses */
	size_t n;
	/* per type; only the one that matches the query is filled */
	struct sockaddr_storage addr[DNS_ANSWERS_MAX];  /* A, AAAA (port 0) */
	struct dns_mx_rr mx[DNS_ANSWERS_MAX];            /* MX */
	char name[DNS_ANSWERS_MAX][DNS_NAME_MAX];        /* PTR (no trailing dot) */
	struct dns_tlsa_rr tlsa[DNS_ANSWERS_MAX];        /* TLSA */
	size_t nbad;                    /* records dropped as malformed or over a limit */
};

struct dns_ctx;
typedef void (*dns_cb)(const struct dns_answer *ans, void *arg);

#define DNS_F_VALIDATE 0x1   /* add the root trust anchor in system/forward mode too */

/* Create a resolver on the loop.  NULL + err on failure (bad forwarder, ...). */
struct dns_ctx *dns_new(struct io_loop *loop, const char *resolver, unsigned flags, char *err,
			size_t errlen);
/* Cancel every outstanding query (no callbacks) and free. */
void dns_free(struct dns_ctx *ctx);
/* Per-query timeout in milliseconds (default 10000). */
void dns_set_timeout(struct dns_ctx *ctx, uint64_t ms);
/* Start a query; cb runs exactly once (never from inside this call).
 * Returns a query id > 0, or -1. */
long dns_query(struct dns_ctx *ctx, const char *name, int rrtype, dns_cb cb, void *arg);
/* Cancel one query: its callback will not run. */
void dns_cancel(struct dns_ctx *ctx, long id);
/* Reverse lookups libunbound still holds, timed-out and cancelled ones included
 * (dns_query() refuses PTR queries at DNS_PTR_INFLIGHT_MAX). */
unsigned dns_ptr_inflight(const struct dns_ctx *ctx);
/* Reverse lookup name for an address ("4.3.2.1.in-addr.arpa"). */
int dns_ptr_name(const struct sockaddr *sa, char *out, size_t len);
/* Short names for logs and reports: "ok", "nodata", "nxdomain", "tempfail", "bogus";
 * "insecure", "secure", "bogus". */
const char *dns_status_str(enum dns_status st);
const char *dns_sec_str(enum dns_sec sec);

/* ---- MX resolution ---- */
struct dns_mx_host {
	uint16_t pref;
	char name[DNS_NAME_MAX];
	int implicit;                /* from A/AAAA of the domain (no MX) */
	int is_cname;                /* the MX target is a CNAME (RFC 2181 10.3) */
	int is_literal;              /* the MX target looks like an IP address */
	enum dns_status a_status, aaaa_status;
	uint32_t a_ttl, aaaa_ttl;
	enum dns_sec sec;
	size_t naddr;                /* addresses in DNS order: A first, then AAAA */
	struct sockaddr_storage addr[DNS_ADDRS_MAX];
};
struct dns_mx_set {
	char domain[DNS_NAME_MAX];
	enum dns_status status;      /* of the whole resolution */
	char why[128];
	int null_mx;                 /* RFC 7505: "0 ." */
	int implicit;                /* no MX records: the domain itself */
	uint32_t mx_ttl;
	enum dns_sec mx_sec;
	size_t nhosts;               /* sorted by preference, equal ones shuffled */
	struct dns_mx_host host[DNS_MX_HOSTS_MAX];
};
#define DNS_MX_NO_V4 0x1
#define DNS_MX_NO_V6 0x2
typedef void (*dns_mx_cb)(const struct dns_mx_set *set, void *arg);
/* Resolve the MX set of domain with addresses; cb runs exactly once. */
long dns_mx_resolve(struct dns_ctx *ctx, const char *domain, unsigned flags, dns_mx_cb cb,
		    void *arg);
void dns_mx_cancel(struct dns_ctx *ctx, long id);

/* Normalise a domain given by a user or a peer: IDN U-labels to A-labels
 * (libidn2), lower-case, strip one trailing dot, check label <= 63 octets,
 * name <= 253 octets, LDH characters.  0 or -1 with err filled. */
int dns_name_normalize(const char *in, char *out, size_t outlen, char *err, size_t errlen);

#endif
