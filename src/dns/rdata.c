/*
 * rdata.c - read libunbound's rdata (uncompressed wire format) into the
 * structures of dns.h.
 *
 * Pure functions with hard bounds: a name may not exceed 255 wire octets or
 * 63 octets per label, may not use compression pointers or extended label
 * types, and may hold only letters, digits, '-' and '_' (so it can be printed
 * and used as a host name without escaping).  Names come out lower-case with
 * no trailing dot; the root name is "".  Nothing here reads past len.
 */
#include "dns/rdata.h"

#include <netinet/in.h>
#include <string.h>

/* Is c allowed in a label we keep? */
static int rdata_label_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Read one uncompressed wire name into presentation form. */
int dns_rdata_name(const uint8_t *rd, size_t len, size_t *used, char *out, size_t outlen)
{
	size_t pos = 0, o = 0;

	if (rd == NULL || out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	for (;;) {
		if (pos >= len || pos >= DNS_WIRE_NAME_MAX)
			return -1;
		uint8_t ll = rd[pos++];
		if (ll == 0)
			break;
		if (ll > DNS_LABEL_MAX)     /* 0xC0 pointers and 0x40/0x80 types too */
			return -1;
		if (ll > len - pos || pos + ll >= DNS_WIRE_NAME_MAX)
			return -1;
		/* room for an optional '.', the label and the final NUL */
		if (o + (o > 0) + ll + 1 > outlen)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < ll; i++) {
			uint8_t c = rd[pos + i];
			if (!rdata_label_char(c))
				return -1;
			if (c >= 'A' && c <= 'Z')
				c = (uint8_t)(c - 'A' + 'a');
			out[o++] = (char)c;
		}
		pos += ll;
	}
	out[o] = '\0';
	if (used != NULL)
		*used = pos;
	return 0;
}

/* MX: preference and exchange. */
int dns_rdata_mx(const uint8_t *rd, size_t len, struct dns_mx_rr *out)
{
	size_t used = 0;

	if (rd == NULL || out == NULL || len < 3)
		return -1;
	out->pref = (uint16_t)((rd[0] << 8) | rd[1]);
	if (dns_rdata_name(rd + 2, len - 2, &used, out->host, sizeof(out->host)) < 0)
		return -1;
	if (used != len - 2)
		return -1;
	return 0;
}

/* PTR: a single name filling the rdata. */
int dns_rdata_ptr(const uint8_t *rd, size_t len, char *out, size_t outlen)
{
	size_t used = 0;

	if (dns_rdata_name(rd, len, &used, out, outlen) < 0)
		return -1;
	return used == len ? 0 : -1;
}

/* A: four octets. */
int dns_rdata_a(const uint8_t *rd, size_t len, struct sockaddr_storage *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)out;

	if (rd == NULL || out == NULL || len != 4)
		return -1;
	memset(out, 0, sizeof(*out));
	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, rd, 4);
	return 0;
}

/* AAAA: sixteen octets. */
int dns_rdata_aaaa(const uint8_t *rd, size_t len, struct sockaddr_storage *out)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

	if (rd == NULL || out == NULL || len != 16)
		return -1;
	memset(out, 0, sizeof(*out));
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, rd, 16);
	return 0;
}

/* TLSA: three one-octet fields and the association data. */
int dns_rdata_tlsa(const uint8_t *rd, size_t len, struct dns_tlsa_rr *out)
{
	if (rd == NULL || out == NULL || len < 4 || len - 3 > DNS_TLSA_DATA_MAX)
		return -1;
	memset(out, 0, sizeof(*out));
	out->usage = rd[0];
	out->selector = rd[1];
	out->mtype = rd[2];
	out->len = len - 3;
	memcpy(out->data, rd + 3, out->len);
	return 0;
}
