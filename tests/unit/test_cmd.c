/*
 * test_cmd.c - table tests for the command splitter and the MAIL / RCPT
 * argument parsers (smtp_cmd_parse, smtp_parse_mail, smtp_parse_rcpt).
 *
 * Verbs are case-insensitive and must be followed by SP or the end; MAIL
 * and RCPT take "FROM:"/"TO:", a path and strictly checked ESMTP
 * parameters (SIZE, BODY, SMTPUTF8, RET, ENVID, NOTIFY, ORCPT).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/smtp.h"

#define S(x) x, sizeof(x) - 1

struct cmd_case {
	const char *in;
	size_t len;
	int rc;
	enum smtp_verb verb;
	const char *arg;
};

static const struct cmd_case cmd_cases[] = {
	{ S(""), -1, SMTP_V_UNKNOWN, "" },
	{ S("HELO client.test"), 0, SMTP_V_HELO, "client.test" },
	{ S("ehlo client.test"), 0, SMTP_V_EHLO, "client.test" },
	{ S("MAIL FROM:<a@b.test>"), 0, SMTP_V_MAIL, "FROM:<a@b.test>" },
	{ S("mail from:<a@b.test> SIZE=1"), 0, SMTP_V_MAIL, "from:<a@b.test> SIZE=1" },
	{ S("RcPt TO:<a@b.test>"), 0, SMTP_V_RCPT, "TO:<a@b.test>" },
	{ S("DATA"), 0, SMTP_V_DATA, "" },
	{ S("data "), 0, SMTP_V_DATA, "" },
	{ S("RSET"), 0, SMTP_V_RSET, "" },
	{ S("NOOP"), 0, SMTP_V_NOOP, "" },
	{ S("noop hello there"), 0, SMTP_V_NOOP, "hello there" },
	{ S("QUIT"), 0, SMTP_V_QUIT, "" },
	{ S("HELP"), 0, SMTP_V_HELP, "" },
	{ S("VRFY postmaster"), 0, SMTP_V_VRFY, "postmaster" },
	{ S("EXPN list"), 0, SMTP_V_EXPN, "list" },
	{ S("StartTLS"), 0, SMTP_V_STARTTLS, "" },
	{ S("ETRN example.test"), 0, SMTP_V_ETRN, "example.test" },
	{ S("BDAT 10 LAST"), 0, SMTP_V_BDAT, "10 LAST" },
	{ S("AUTH PLAIN"), 0, SMTP_V_AUTH, "PLAIN" },
	{ S("HELO  x"), 0, SMTP_V_HELO, " x" },
	{ S("MAILX FROM:<a@b>"), 0, SMTP_V_UNKNOWN, "FROM:<a@b>" },
	{ S("NOOP\t"), 0, SMTP_V_UNKNOWN, "" },
	{ S("DATA\0"), 0, SMTP_V_UNKNOWN, "" },
	{ S("DA\0TA"), 0, SMTP_V_UNKNOWN, "" },
	{ S("STARTTLS\r"), 0, SMTP_V_UNKNOWN, "" },
	{ S("MAIL:FROM:<a@b>"), 0, SMTP_V_UNKNOWN, "" },
	{ S(" HELO x"), 0, SMTP_V_UNKNOWN, "HELO x" },
	{ S("HEL"), 0, SMTP_V_UNKNOWN, "" },
	{ S("XYZZY"), 0, SMTP_V_UNKNOWN, "" },
	{ S("STARTTLSX"), 0, SMTP_V_UNKNOWN, "" },
};

/* The command splitter table. */
static void test_cmd(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		char *buf = malloc(c->len ? c->len : 1);
		struct smtp_cmd cmd;

		assert_non_null(buf);
		memcpy(buf, c->in, c->len);
		assert_int_equal(smtp_cmd_parse(buf, c->len, &cmd), c->rc);
		if (cmd.verb != c->verb)
			fail_msg("case %zu \"%s\": verb %d", i, c->in, cmd.verb);
		assert_int_equal(cmd.arglen, strlen(c->arg));
		assert_memory_equal(cmd.arg, c->arg, cmd.arglen);
		if (cmd.arglen > 0)
			assert_true(cmd.arg >= buf && cmd.arg + cmd.arglen <= buf + c->len);
		free(buf);
	}
}

struct mail_case {
	const char *in;
	size_t len;
	int utf8_ok;
	int code;                  /* 0 = accepted */
	const char *enh;
	const char *addr;          /* smtp_addr_str() of the sender */
	unsigned long long size;
	enum smtp_body body;
	int smtputf8;
	enum smtp_ret ret;
	const char *envid;
};

static const struct mail_case mail_cases[] = {
	{ S("FROM:<a@b.test>"), 0, 0, NULL, "a@b.test", 0, SMTP_BODY_NONE, 0, SMTP_RET_NONE, "" },
	{ S("from:<A@B.Test>"), 0, 0, NULL, "A@b.test", 0, 0, 0, 0, "" },
	{ S("FROM: <a@b.test>"), 0, 0, NULL, "a@b.test", 0, 0, 0, 0, "" },
	{ S("FROM:<>"), 0, 0, NULL, "", 0, 0, 0, 0, "" },
	{ S("FROM:<> SIZE=100"), 0, 0, NULL, "", 100, 0, 0, 0, "" },
	{ S("FROM:<a@b.test> SIZE=10240000 BODY=8BITMIME"), 0, 0, NULL, "a@b.test", 10240000,
	  SMTP_BODY_8BITMIME, 0, 0, "" },
	{ S("FROM:<a@b.test> size=0 body=7bit"), 0, 0, NULL, "a@b.test", 0, SMTP_BODY_7BIT,
	  0, 0, "" },
	{ S("FROM:<a@b.test> SIZE=99999999999999999999"), 0, 0, NULL, "a@b.test", ULLONG_MAX,
	  0, 0, 0, "" },
	{ S("FROM:<a@b.test> SIZE=18446744073709551615"), 0, 0, NULL, "a@b.test", ULLONG_MAX,
	  0, 0, 0, "" },
	{ S("FROM:<a@b.test> SMTPUTF8"), 1, 0, NULL, "a@b.test", 0, 0, 1, 0, "" },
	{ S("FROM:<jörg@bücher.test> smtputf8 BODY=8BITMIME"), 1, 0, NULL,
	  "jörg@xn--bcher-kva.test", 0, SMTP_BODY_8BITMIME, 1, 0, "" },
	{ S("FROM:<a@b.test> RET=HDRS ENVID=QQ314159"), 0, 0, NULL, "a@b.test", 0, 0, 0,
	  SMTP_RET_HDRS, "QQ314159" },
	{ S("FROM:<a@b.test> ret=full envid=a+2Bb+20c"), 0, 0, NULL, "a@b.test", 0, 0, 0,
	  SMTP_RET_FULL, "a+2Bb+20c" },
	{ S("FROM:<a@[127.0.0.1]>"), 0, 0, NULL, "a@[127.0.0.1]", 0, 0, 0, 0, "" },
	{ S("FROM:<\"a>b\"@b.test> SIZE=5"), 0, 0, NULL, "\"a>b\"@b.test", 5, 0, 0, 0, "" },
	{ S("FROM:<a@b.test>  SIZE=1  "), 0, 0, NULL, "a@b.test", 1, 0, 0, 0, "" },
	{ S("FROM:<@r.test:a@b.test>"), 0, 0, NULL, "a@b.test", 0, 0, 0, 0, "" },
	/* refused */
	{ S(""), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM<a@b.test>"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM :<a@b.test>"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("TO:<a@b.test>"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test>SIZE=1"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:"), 0, 501, "5.1.7", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:a@b.test"), 0, 501, "5.1.7", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test"), 0, 501, "5.1.7", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test.>"), 0, 501, "5.1.7", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a%b@c.test>"), 0, 553, "5.7.1", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<jörg@b.test>"), 1, 553, "5.6.7", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> SIZE"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> SIZE="), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> SIZE=-1"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> SIZE=1a"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> SIZE=123456789012345678901"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0,
	  NULL },
	{ S("FROM:<a@b.test> SIZE=1 SIZE=2"), 0, 555, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> SIZE=1 size=1"), 0, 555, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> BODY=BINARYMIME"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> BODY"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> SMTPUTF8"), 0, 555, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> SMTPUTF8=yes"), 1, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> SMTPUTF8 SMTPUTF8"), 1, 555, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> RET=ALL"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> ENVID=a+2"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> ENVID=a+2b"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> ENVID=a+0D+0A"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> ENVID=a+7F"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> ENVID=a=b"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> ENVID=a\xc3\xa9"), 1, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> NOTIFY=NEVER"), 0, 555, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> X-FOO=1"), 0, 555, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> AUTH=<>"), 0, 555, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> =1"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> -X"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> SIZE=1\t"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test> BODY=8BITMIME\0"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
	{ S("FROM:<a@b.test>\r"), 0, 501, "5.5.4", NULL, 0, 0, 0, 0, NULL },
};

/* Parse a MAIL argument from an exact-size copy. */
static int mail_exact(const char *in, size_t len, int utf8_ok, struct smtp_mail_args *m,
		      struct smtp_err *err)
{
	char *buf = malloc(len ? len : 1);
	int rc;

	assert_non_null(buf);
	memcpy(buf, in, len);
	rc = smtp_parse_mail(buf, len, utf8_ok, m, err);
	free(buf);
	return rc;
}

/* The MAIL table. */
static void test_mail(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		const struct mail_case *c = &mail_cases[i];
		struct smtp_mail_args m;
		struct smtp_err err = { 0, NULL, NULL };
		char buf[SMTP_ADDR_STR_MAX];
		int rc = mail_exact(c->in, c->len, c->utf8_ok, &m, &err);

		if (c->code == 0) {
			if (rc != 0)
				fail_msg("case %zu \"%s\" refused: %d %s %s", i, c->in, err.code,
					 err.enh, err.text);
			assert_string_equal(smtp_addr_str(&m.from, buf, sizeof(buf)), c->addr);
			assert_true(m.size == c->size);
			assert_int_equal(m.body, c->body);
			assert_int_equal(m.smtputf8, c->smtputf8);
			assert_int_equal(m.ret, c->ret);
			assert_string_equal(m.envid, c->envid);
			continue;
		}
		if (rc != -1 || err.code != c->code || strcmp(err.enh, c->enh) != 0)
			fail_msg("case %zu \"%s\": rc %d %d %s (%s), want %d %s", i, c->in, rc,
				 err.code, err.enh ? err.enh : "-", err.text ? err.text : "-",
				 c->code, c->enh);
	}
}

struct rcpt_case {
	const char *in;
	size_t len;
	int smtputf8;
	int code;
	const char *enh;
	const char *addr;
	unsigned notify;
	const char *orcpt;
};

static const struct rcpt_case rcpt_cases[] = {
	{ S("TO:<u@d.test>"), 0, 0, NULL, "u@d.test", 0, "" },
	{ S("to:<U@D.test>"), 0, 0, NULL, "U@d.test", 0, "" },
	{ S("TO: <u@d.test>"), 0, 0, NULL, "u@d.test", 0, "" },
	{ S("TO:<u@d.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u@d.test"), 0, 0, NULL,
	  "u@d.test", SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE, "rfc822;u@d.test" },
	{ S("TO:<u@d.test> notify=never"), 0, 0, NULL, "u@d.test", SMTP_NOTIFY_NEVER, "" },
	{ S("TO:<u@d.test> NOTIFY=delay,Success,FAILURE"), 0, 0, NULL, "u@d.test",
	  SMTP_NOTIFY_DELAY | SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE, "" },
	{ S("TO:<jörg@d.test>"), 1, 0, NULL, "jörg@d.test", 0, "" },
	{ S("TO:<u@d.test> ORCPT=rfc822;u+2Bx@d.test"), 0, 0, NULL, "u@d.test", 0,
	  "rfc822;u+2Bx@d.test" },
	{ S("TO:<u@d.test> ORCPT=utf-8;u@d.test"), 0, 0, NULL, "u@d.test", 0, "utf-8;u@d.test" },
	{ S("TO:<@a.test:u@d.test>"), 0, 0, NULL, "u@d.test", 0, "" },
	/* refused */
	{ S("TO:<>"), 0, 501, "5.1.3", NULL, 0, NULL },
	{ S("TO:"), 0, 501, "5.1.3", NULL, 0, NULL },
	{ S("TO:u@d.test"), 0, 501, "5.1.3", NULL, 0, NULL },
	{ S("FROM:<u@d.test>"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO<u@d.test>"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test>x"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@[127.0.0.1]>"), 0, 553, "5.7.1", NULL, 0, NULL },
	{ S("TO:<u%v@d.test>"), 0, 553, "5.7.1", NULL, 0, NULL },
	{ S("TO:<v!u@d.test>"), 0, 553, "5.7.1", NULL, 0, NULL },
	{ S("TO:<u@d.test@e.test>"), 0, 553, "5.7.1", NULL, 0, NULL },
	{ S("TO:<\"u@e.test\"@d.test>"), 0, 553, "5.7.1", NULL, 0, NULL },
	{ S("TO:<jörg@d.test>"), 0, 553, "5.6.7", NULL, 0, NULL },
	{ S("TO:<u@d.test> NOTIFY=NEVER,SUCCESS"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> NOTIFY=SUCCESS,NEVER"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> NOTIFY=SUCCESS,SUCCESS"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> NOTIFY="), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> NOTIFY"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> NOTIFY=SUCCESS,"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> NOTIFY=,SUCCESS"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> NOTIFY=FOO"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> NOTIFY=DELAY NOTIFY=DELAY"), 0, 555, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> ORCPT=rfc822"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> ORCPT=;u@d.test"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> ORCPT=rfc822;"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> ORCPT=rfc822;u+0A@d.test"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> ORCPT=rfc 822;u"), 0, 501, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> ORCPT=a;b ORCPT=a;b"), 0, 555, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> SIZE=1"), 0, 555, "5.5.4", NULL, 0, NULL },
	{ S("TO:<u@d.test> RET=FULL"), 0, 555, "5.5.4", NULL, 0, NULL },
};

/* The RCPT table. */
static void test_rcpt(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		const struct rcpt_case *c = &rcpt_cases[i];
		struct smtp_rcpt_args r;
		struct smtp_err err = { 0, NULL, NULL };
		char buf[SMTP_ADDR_STR_MAX], *in = malloc(c->len ? c->len : 1);
		int rc;

		assert_non_null(in);
		memcpy(in, c->in, c->len);
		rc = smtp_parse_rcpt(in, c->len, c->smtputf8, &r, &err);
		free(in);
		if (c->code == 0) {
			if (rc != 0)
				fail_msg("case %zu \"%s\" refused: %d %s %s", i, c->in, err.code,
					 err.enh, err.text);
			assert_string_equal(smtp_addr_str(&r.to, buf, sizeof(buf)), c->addr);
			assert_int_equal(r.notify, c->notify);
			assert_string_equal(r.orcpt, c->orcpt);
			continue;
		}
		if (rc != -1 || err.code != c->code || strcmp(err.enh, c->enh) != 0)
			fail_msg("case %zu \"%s\": rc %d %d %s (%s), want %d %s", i, c->in, rc,
				 err.code, err.enh ? err.enh : "-", err.text ? err.text : "-",
				 c->code, c->enh);
	}
}

/* ENVID up to 100 octets, ORCPT up to 500. */
static void test_param_limits(void **state)
{
	char buf[700];
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	struct smtp_err err;
	size_t n;

	(void)state;
	n = (size_t)snprintf(buf, sizeof(buf), "FROM:<a@b.test> ENVID=");
	memset(buf + n, 'e', SMTP_ENVID_MAX);
	assert_int_equal(mail_exact(buf, n + SMTP_ENVID_MAX, 0, &m, &err), 0);
	assert_int_equal(strlen(m.envid), SMTP_ENVID_MAX);
	memset(buf + n, 'e', SMTP_ENVID_MAX + 1);
	assert_int_equal(mail_exact(buf, n + SMTP_ENVID_MAX + 1, 0, &m, &err), -1);
	assert_int_equal(err.code, 501);

	n = (size_t)snprintf(buf, sizeof(buf), "TO:<a@b.test> ORCPT=rfc822;");
	memset(buf + n, 'o', SMTP_ORCPT_MAX - 7);
	assert_int_equal(smtp_parse_rcpt(buf, n + SMTP_ORCPT_MAX - 7, 0, &r, &err), 0);
	assert_int_equal(strlen(r.orcpt), SMTP_ORCPT_MAX);
	memset(buf + n, 'o', SMTP_ORCPT_MAX - 6);
	assert_int_equal(smtp_parse_rcpt(buf, n + SMTP_ORCPT_MAX - 6, 0, &r, &err), -1);
	assert_int_equal(err.code, 501);
}

/* Run the command parser tests. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd),
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_param_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
