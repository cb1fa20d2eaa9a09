/*
 * fuzz_rdata.c - libFuzzer target for the rdata readers of src/dns/rdata.h.
 *
 * The first input octet picks the record type (A, AAAA, MX, PTR, TLSA or a
 * bare wire name); the rest is the rdata exactly as libunbound would hand it
 * over.  Besides the sanitizers, the target checks what the readers promise:
 * a name that is accepted is NUL-terminated, at most 253 octets, lower-case
 * letters, digits, '-', '_' and single dots only, and never consumed more
 * octets than it was given.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/rdata.h"

/* Abort unless name keeps the presentation-form promises. */
static void check_name(const char *name, size_t cap)
{
	size_t n = strnlen(name, cap);

	if (n >= cap || n > 253)
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
			 (c == '.' && i > 0 && i + 1 < n && name[i - 1] != '.');
		if (!ok)
			abort();
	}
}

/* One fuzz input: type octet, then rdata. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	struct dns_mx_rr mx;
	struct dns_tlsa_rr tlsa;
	char name[DNS_NAME_MAX];
	size_t used = 0;

	if (size < 1)
		return 0;
	/* copy to an exact-size heap buffer so ASan sees any over-read */
	size_t len = size - 1;
	uint8_t *rd = malloc(len ? len : 1);
	if (rd == NULL)
		return 0;
	memcpy(rd, data + 1, len);
	switch (data[0] % 6) {
	case 0:
		if (dns_rdata_a(rd, len, &ss) == 0 && len != 4)
			abort();
		break;
	case 1:
		if (dns_rdata_aaaa(rd, len, &ss) == 0 && len != 16)
			abort();
		break;
	case 2:
		if (dns_rdata_mx(rd, len, &mx) == 0)
			check_name(mx.host, sizeof(mx.host));
		break;
	case 3:
		if (dns_rdata_ptr(rd, len, name, sizeof(name)) == 0)
			check_name(name, sizeof(name));
		break;
	case 4:
		if (dns_rdata_tlsa(rd, len, &tlsa) == 0 &&
		    (tlsa.len == 0 || tlsa.len > DNS_TLSA_DATA_MAX || tlsa.len != len - 3))
			abort();
		break;
	default:
		if (dns_rdata_name(rd, len, &used, name, sizeof(name)) == 0) {
			check_name(name, sizeof(name));
			if (used == 0 || used > len || used > DNS_WIRE_NAME_MAX)
				abort();
		}
		break;
	}
	free(rd);
	return 0;
}
