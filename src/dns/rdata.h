/*
 * rdata.h - pure conversion of the rdata that libunbound returns into the
 * structures of dns.h.
 *
 * libunbound hands back each record's rdata with names already uncompressed
 * (a name is a sequence of length-prefixed labels ending in the root label).
 * These functions read it with strict bounds checks, reject anything that is
 * not a plain host name, and never read past the given length.  They do not
 * include libunbound, so the libFuzzer target fuzz/fuzz_rdata.c calls them
 * directly.
 */
#ifndef BMX_DNS_RDATA_H
#define BMX_DNS_RDATA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns/dns.h"

#define DNS_WIRE_NAME_MAX  255   /* octets of an uncompressed wire name, root label included */
#define DNS_LABEL_MAX      63    /* octets of one label */

/* Read the wire name at rd[0..len) into presentation form: lower-case, no
 * trailing dot, "" for the root.  Labels may hold only letters, digits, '-'
 * and '_'.  *used is set to the octets the name took.  0 or -1. */
int dns_rdata_name(const uint8_t *rd, size_t len, size_t *used, char *out, size_t outlen);
/* MX: 2 octets of preference, then a name that ends exactly at len.  0 or -1. */
int dns_rdata_mx(const uint8_t *rd, size_t len, struct dns_mx_rr *out);
/* PTR (or CNAME/NS): one name that ends exactly at len.  0 or -1. */
int dns_rdata_ptr(const uint8_t *rd, size_t len, char *out, size_t outlen);
/* A: exactly 4 octets, into an AF_INET sockaddr with port 0.  0 or -1. */
int dns_rdata_a(const uint8_t *rd, size_t len, struct sockaddr_storage *out);
/* AAAA: exactly 16 octets, into an AF_INET6 sockaddr with port 0.  0 or -1. */
int dns_rdata_aaaa(const uint8_t *rd, size_t len, struct sockaddr_storage *out);
/* TLSA: usage, selector, matching type, then 1..DNS_TLSA_DATA_MAX octets.  0 or -1. */
int dns_rdata_tlsa(const uint8_t *rd, size_t len, struct dns_tlsa_rr *out);

#endif
