/*
 * fuzz_reply.c - libFuzzer target for the SMTP client's reply parser.
 *
 * Feeds arbitrary bytes (a hostile primary MX, CVE-2020-8794) to
 * smtp_reply_parse() and, for complete replies, smtp_ehlo_caps().  Checks:
 * the result is within the input, a complete reply is well formed, every
 * proper prefix of it asks for more bytes, and "need more" is never
 * answered for more bytes than the line limits allow.  The EHLO keywords
 * include XFORWARD/XCLIENT with their attribute lists (only known attribute
 * bits, only with the keyword).  The same reply relayed to our own client
 * (smtp_reply_relayed, the live pass-through) must be one printable line of
 * at most SMTP_RELAYED_MAX octets with a final 2yz/4yz/5yz code.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp.h"

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smtp_reply r, r2;
	struct smtp_caps caps;
	const char *err = NULL;
	ssize_t n = smtp_reply_parse(data, size, &r, &err);

	if (n < -1 || n > (ssize_t)size)
		abort();
	if (n < 0 && err == NULL)
		abort();
	if (n == 0 && size > (size_t)SMTP_REPLY_LINES_MAX * SMTP_REPLY_LINE_MAX)
		abort();
	if (n <= 0)
		return 0;
	if (memchr(r.text, '\0', sizeof(r.text)) == NULL ||
	    memchr(r.enh, '\0', sizeof(r.enh)) == NULL)
		abort();
	if (r.code < 200 || r.code > 559 || r.nlines < 1 || r.nlines > SMTP_REPLY_LINES_MAX)
		abort();
	if (r.enh[0] != '\0' && r.enh[0] != '0' + r.code / 100)
		abort();
	if (data[n - 1] != '\n')
		abort();
	smtp_ehlo_caps(&r, &caps);
	if (memchr(caps.helo_name, '\0', sizeof(caps.helo_name)) == NULL)
		abort();
	if ((caps.xforward & ~0x7ffu) || (caps.xclient & ~0x7ffu) ||
	    (caps.xforward && !(caps.flags & SMTP_CAP_XFORWARD)) ||
	    (caps.xclient && !(caps.flags & SMTP_CAP_XCLIENT)))
		abort();
	char line[SMTP_RELAYED_MAX + 64];
	size_t ll = smtp_reply_relayed(&r, "primary mx[127.0.0.1]:25", line, sizeof(line));
	if (ll > SMTP_RELAYED_MAX || ll != strlen(line) || ll < 4 || line[3] != ' ' ||
	    (line[0] != '2' && line[0] != '4' && line[0] != '5'))
		abort();
	for (size_t i = 0; i < ll; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
			abort();
	/* the same reply alone parses the same; any proper prefix needs more */
	if (smtp_reply_parse(data, (size_t)n, &r2, &err) != n || r2.code != r.code ||
	    strcmp(r2.text, r.text) != 0)
		abort();
	if (smtp_reply_parse(data, (size_t)n - 1, &r2, &err) != 0)
		abort();
	return 0;
}
