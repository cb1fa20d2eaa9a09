/*
 * name.c - domain names given by users and peers: IDN conversion and checks,
 * reverse-lookup names, and status strings.
 *
 * dns_name_normalize() turns a name into the one form the rest of backupmx
 * compares and queries: A-labels (libidn2, UTS #46 non-transitional, then
 * transitional as a fall-back), lower-case, no trailing dot, LDH labels of
 * 1..63 octets, at most 253 octets in all.  Anything else is rejected with a
 * reason.  Pure: no libunbound here.
 */
#include "dns/dns.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_INPUT_MAX   1024  /* octets of user input we look at before IDN conversion */
#define NAME_TEXT_MAX    253   /* presentation octets without the trailing dot */
#define NAME_LABEL_MAX   63    /* octets of one label */

/* Write a formatted reason into err (if any). */
static void name_err(char *err, size_t errlen, const char *msg, const char *detail)
{
	if (err == NULL || errlen == 0)
		return;
	if (detail != NULL)
		snprintf(err, errlen, "%s: %s", msg, detail);
	else
		snprintf(err, errlen, "%s", msg);
}

/* Check that name (ASCII, lower-cased in place, no trailing dot) is a valid LDH host name. */
static int name_check_ldh(char *name, char *err, size_t errlen)
{
	size_t total = strlen(name);

	if (total == 0) {
		name_err(err, errlen, "empty domain name", NULL);
		return -1;
	}
	if (total > NAME_TEXT_MAX) {
		name_err(err, errlen, "domain name longer than 253 octets", NULL);
		return -1;
	}
	char *label = name;
	for (;;) {
		char *dot = strchr(label, '.');
		size_t ll = dot ? (size_t)(dot - label) : strlen(label);
		if (ll == 0) {
			name_err(err, errlen, "empty label in domain name", NULL);
			return -1;
		}
		if (ll > NAME_LABEL_MAX) {
			name_err(err, errlen, "label longer than 63 octets", NULL);
			return -1;
		}
		if (label[0] == '-' || label[ll - 1] == '-') {
			name_err(err, errlen, "label starts or ends with a hyphen", NULL);
			return -1;
		}
		for (size_t i = 0; i < ll; i++) {
			char c = label[i];
			if (c >= 'A' && c <= 'Z')
				label[i] = c = (char)(c - 'A' + 'a');
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
				name_err(err, errlen, "invalid character in domain name",
					 "only letters, digits and '-' are allowed");
				return -1;
			}
		}
		if (dot == NULL)
			break;
		label = dot + 1;
	}
	return 0;
}

/* Normalise a user- or peer-supplied domain name. */
int dns_name_normalize(const char *in, char *out, size_t outlen, char *err, size_t errlen)
{
	char buf[NAME_INPUT_MAX + 1];
	char *ascii = NULL;
	int nonascii = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (in == NULL || out == NULL || outlen == 0) {
		name_err(err, errlen, "no domain name", NULL);
		return -1;
	}
	out[0] = '\0';
	size_t len = strnlen(in, NAME_INPUT_MAX + 1);
	if (len > NAME_INPUT_MAX) {
		name_err(err, errlen, "domain name longer than 253 octets", NULL);
		return -1;
	}
	memcpy(buf, in, len + 1);
	if (len > 0 && buf[len - 1] == '.')
		buf[--len] = '\0';
	if (len == 0) {
		name_err(err, errlen, "empty domain name", NULL);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c >= 0x80)
			nonascii = 1;
		else if (c < 0x20 || c == 0x7f) {
			name_err(err, errlen, "invalid character in domain name",
				 "control character");
			return -1;
		}
	}
	const char *res = buf;
	if (nonascii) {
		int rc = idn2_to_ascii_8z(buf, &ascii, IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK) {
			ascii = NULL;
			int rc2 = idn2_to_ascii_8z(buf, &ascii, IDN2_TRANSITIONAL);
			if (rc2 != IDN2_OK) {
				name_err(err, errlen, "invalid internationalised domain name",
					 idn2_strerror(rc));
				return -1;
			}
		}
		res = ascii;
	}
	char tmp[NAME_INPUT_MAX + 1];
	size_t rlen = strnlen(res, NAME_INPUT_MAX + 1);
	if (rlen > NAME_INPUT_MAX) {
		idn2_free(ascii);
		name_err(err, errlen, "domain name longer than 253 octets", NULL);
		return -1;
	}
	memcpy(tmp, res, rlen + 1);
	idn2_free(ascii);
	/* libidn2 keeps a trailing dot it was given; we stripped ours before */
	if (name_check_ldh(tmp, err, errlen) < 0)
		return -1;
	if (rlen + 1 > outlen) {
		name_err(err, errlen, "domain name too long for the buffer", NULL);
		return -1;
	}
	memcpy(out, tmp, rlen + 1);
	return 0;
}

/* Build the in-addr.arpa or ip6.arpa name of an address. */
int dns_ptr_name(const struct sockaddr *sa, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	int n;

	if (sa == NULL || out == NULL || len == 0)
		return -1;
	if (sa->sa_family == AF_INET) {
		const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		n = snprintf(out, len, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
		return (n < 0 || (size_t)n >= len) ? -1 : 0;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		/* 32 nibbles with dots (64) + "ip6.arpa" (8) + NUL */
		if (len < 64 + 8 + 1)
			return -1;
		char *p = out;
		for (int i = 15; i >= 0; i--) {
			*p++ = hex[a[i] & 0xf];
			*p++ = '.';
			*p++ = hex[a[i] >> 4];
			*p++ = '.';
		}
		memcpy(p, "ip6.arpa", 9);
		return 0;
	}
	return -1;
}

/* Short name of a status. */
const char *dns_status_str(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "ok";
	case DNS_NODATA:
		return "nodata";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_TEMPFAIL:
		return "tempfail";
	case DNS_BOGUS:
		return "bogus";
	}
	return "unknown";
}

/* Short name of a DNSSEC status. */
const char *dns_sec_str(enum dns_sec sec)
{
	switch (sec) {
	case DNS_SEC_INSECURE:
		return "insecure";
	case DNS_SEC_SECURE:
		return "secure";
	case DNS_SEC_BOGUS:
		return "bogus";
	}
	return "unknown";
}
