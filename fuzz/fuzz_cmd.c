/*
 * fuzz_cmd.c - libFuzzer target for SMTP command lines.
 *
 * Runs smtp_cmd_parse() on the input as one command line, then
 * smtp_parse_mail() / smtp_parse_rcpt() on the argument (MAIL and RCPT get
 * their own parser; any other verb gets both, for coverage), with and
 * without SMTPUTF8.  Accepted arguments must respect every limit and never
 * carry a relay trick into the parsed address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp.h"

/* Abort unless a parsed address is within limits and free of tricks. */
static void check_addr(const struct smtp_addr *a, int literal_ok)
{
	char buf[SMTP_ADDR_STR_MAX];
	size_t i, ll = strnlen(a->local, sizeof(a->local)), dl;

	dl = strnlen(a->domain, sizeof(a->domain));
	if (ll > SMTP_LOCAL_MAX || dl > SMTP_DOMAIN_MAX)
		abort();
	if (a->literal && !literal_ok)
		abort();
	if (a->null_path)
		return;
	if (ll == 0 || dl == 0 || strpbrk(a->local, "%!@") != NULL)
		abort();
	for (i = 0; i < dl; i++)
		if (a->domain[i] <= ' ' || a->domain[i] >= 0x7f || a->domain[i] == '@' ||
		    (a->domain[i] >= 'A' && a->domain[i] <= 'Z'))
			abort();
	if (strlen(smtp_addr_str(a, buf, sizeof(buf))) != ll + 1 + dl)
		abort();
}

/* Run both argument parsers as the verb asks. */
static void parse_args(enum smtp_verb verb, const char *arg, size_t len, int utf8)
{
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	struct smtp_err err;

	if (verb != SMTP_V_RCPT) {
		err.text = NULL;
		if (smtp_parse_mail(arg, len, utf8, &m, &err) == 0) {
			check_addr(&m.from, 1);
			if (strlen(m.envid) > SMTP_ENVID_MAX || (m.smtputf8 && !utf8) ||
			    (m.from.utf8 && !m.smtputf8))
				abort();
		} else if (err.text == NULL || err.enh == NULL || err.code < 500 ||
			   err.code > 555) {
			abort();
		}
	}
	if (verb != SMTP_V_MAIL) {
		err.text = NULL;
		if (smtp_parse_rcpt(arg, len, utf8, &r, &err) == 0) {
			check_addr(&r.to, 0);
			if (r.to.null_path || strlen(r.orcpt) > SMTP_ORCPT_MAX ||
			    (r.to.utf8 && !utf8))
				abort();
			if ((r.notify & SMTP_NOTIFY_NEVER) && r.notify != SMTP_NOTIFY_NEVER)
				abort();
		} else if (err.text == NULL || err.enh == NULL || err.code < 500 ||
			   err.code > 555) {
			abort();
		}
	}
}

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	struct smtp_cmd cmd;

	if (smtp_cmd_parse(line, size, &cmd) < 0) {
		if (size != 0)
			abort();
		return 0;
	}
	if (cmd.arglen > 0 && (cmd.arg < line || cmd.arg + cmd.arglen != line + size))
		abort();
	parse_args(cmd.verb, cmd.arg, cmd.arglen, 0);
	parse_args(cmd.verb, cmd.arg, cmd.arglen, 1);
	return 0;
}
