/*
 * fuzz_addr.c - libFuzzer target for the mail address parser.
 *
 * The first input byte picks the SMTP_ADDR_* flags, the rest is the path.
 * Accepted addresses must respect the flags and limits, carry no relay
 * trick (% ! @ in the local part, upper case or odd bytes in the domain),
 * and parse again to the same parts when written back as "<local@domain>".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp.h"

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_addr a, b;
	struct smtp_err err = { 0, NULL, NULL };
	char path[SMTP_ADDR_STR_MAX + 2];
	unsigned flags;
	size_t i, ll, dl;

	if (size < 1)
		return 0;
	flags = data[0] & (SMTP_ADDR_ALLOW_UTF8 | SMTP_ADDR_ALLOW_EMPTY | SMTP_ADDR_ALLOW_LITERAL);
	if (smtp_addr_parse((const char *)data + 1, size - 1, flags, &a, &err) < 0) {
		if (err.text == NULL || err.enh == NULL || (err.code != 501 && err.code != 553))
			abort();
		return 0;
	}
	if (a.null_path) {
		if (!(flags & SMTP_ADDR_ALLOW_EMPTY) || size != 3)
			abort();
		return 0;
	}
	if ((a.literal && !(flags & SMTP_ADDR_ALLOW_LITERAL)) ||
	    (a.utf8 && !(flags & SMTP_ADDR_ALLOW_UTF8)))
		abort();
	ll = strnlen(a.local, sizeof(a.local));
	dl = strnlen(a.domain, sizeof(a.domain));
	if (ll == 0 || ll > SMTP_LOCAL_MAX || dl == 0 || dl > SMTP_DOMAIN_MAX ||
	    ll + dl + 3 > SMTP_PATH_MAX)
		abort();
	for (i = 0; i < ll; i++) {
		unsigned char c = (unsigned char)a.local[i];

		if (c < ' ' || c == 0x7f || c == '%' || c == '!' || c == '@')
			abort();
		if (c >= 0x80 && !(flags & SMTP_ADDR_ALLOW_UTF8))
			abort();
	}
	for (i = 0; i < dl; i++) {
		unsigned char c = (unsigned char)a.domain[i];

		if (c <= ' ' || c >= 0x7f || c == '@' || (c >= 'A' && c <= 'Z'))
			abort();
	}
	if (a.domain[0] == '.' || a.domain[dl - 1] == '.' || strstr(a.domain, "..") != NULL)
		abort();
	/* round trip */
	path[0] = '<';
	smtp_addr_str(&a, path + 1, sizeof(path) - 2);
	if (strlen(path) != ll + dl + 2)
		abort();
	strcat(path, ">");
	if (smtp_addr_parse(path, strlen(path), flags, &b, &err) < 0)
		abort();
	if (strcmp(a.local, b.local) != 0 || strcmp(a.domain, b.domain) != 0 ||
	    a.literal != b.literal)
		abort();
	return 0;
}
