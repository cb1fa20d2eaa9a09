/*
 * test_xclient.c - table tests of how a queued delivery tells the primary
 * its message's original client (src/relay/relay_xforward.c):
 * relay_xclient_want() picks, per message and session, between sending
 * nothing (the session is that client's already), XCLIENT, XFORWARD (the
 * session is the backup's) and a new connection; relay_xclient_facts_ok()
 * keeps DSNs we made, local submissions and messages without client facts
 * out of XCLIENT.  Postfix offers no XCLIENT after one (it re-checks its
 * smtpd_authorized_xclient_hosts against the new address): rows with
 * "after" model that.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "relay/relay_int.h"

/* The caps a session has now. */
enum t_caps { T_NONE, T_XFORWARD, T_XCLIENT, T_XCLIENT_NOADDR };

struct t_case {
	const char *what;
	enum t_caps caps;
	int state;                          /* XC_SELF, XC_CLIENT, XC_SPENT */
	const char *cur_addr, *cur_name, *cur_helo;   /* XC_CLIENT: whose session */
	const char *addr, *name, *helo;     /* the message's client facts */
	enum relay_xc_want want;
};

static const struct t_case cases[] = {
	{"fresh session, XCLIENT offered: XCLIENT", T_XCLIENT, XC_SELF, NULL, NULL, NULL,
	 "192.0.2.7", "c.example", "c.example", XW_XCLIENT},
	{"fresh session, IPv6 client: XCLIENT", T_XCLIENT, XC_SELF, NULL, NULL, NULL,
	 "2001:db8::7", "unknown", "c.example", XW_XCLIENT},
	{"fresh session, XFORWARD only: XFORWARD", T_XFORWARD, XC_SELF, NULL, NULL, NULL,
	 "192.0.2.7", "c.example", "c.example", XW_XFORWARD},
	{"fresh session, neither offered: XFORWARD (sends nothing)", T_NONE, XC_SELF, NULL,
	 NULL, NULL, "192.0.2.7", "c.example", "c.example", XW_XFORWARD},
	{"XCLIENT offered without ADDR: XFORWARD", T_XCLIENT_NOADDR, XC_SELF, NULL, NULL,
	 NULL, "192.0.2.7", "c.example", "c.example", XW_XFORWARD},
	{"a DSN we made (127.0.0.1, localhost): as the backup", T_XCLIENT, XC_SELF, NULL,
	 NULL, NULL, "127.0.0.1", "localhost", "mx2.example.test", XW_XFORWARD},
	{"a client at ::1: as the backup", T_XCLIENT, XC_SELF, NULL, NULL, NULL, "::1",
	 "localhost", "x", XW_XFORWARD},
	{"a client at one of our addresses: as the backup", T_XCLIENT, XC_SELF, NULL, NULL,
	 NULL, "192.0.2.53", "mx2.example.test", "x", XW_XFORWARD},
	{"no client facts (old queue file): as the backup", T_XCLIENT, XC_SELF, NULL, NULL,
	 NULL, NULL, NULL, NULL, XW_XFORWARD},
	{"a client address that does not parse: as the backup", T_XCLIENT, XC_SELF, NULL,
	 NULL, NULL, "not-an-address", "c.example", "c", XW_XFORWARD},
	{"after XCLIENT, the same client: nothing more", T_XFORWARD, XC_CLIENT, "192.0.2.7",
	 "c.example", "c.example", "192.0.2.7", "c.example", "c.example", XW_SAME},
	{"after XCLIENT, another address: a new connection", T_XFORWARD, XC_CLIENT,
	 "192.0.2.7", "c.example", "c.example", "192.0.2.8", "c.example", "c.example", XW_NEW},
	{"after XCLIENT, same address, another HELO: a new connection", T_XFORWARD,
	 XC_CLIENT, "192.0.2.7", "c.example", "c.example", "192.0.2.7", "c.example", "d",
	 XW_NEW},
	{"after XCLIENT, same address, another name: a new connection", T_XFORWARD,
	 XC_CLIENT, "192.0.2.7", "c.example", "c.example", "192.0.2.7", "unknown",
	 "c.example", XW_NEW},
	{"after XCLIENT, a DSN we made: a new connection (not as that client)", T_XFORWARD,
	 XC_CLIENT, "192.0.2.7", "c.example", "c.example", "127.0.0.1", "localhost",
	 "mx2.example.test", XW_NEW},
	{"after XCLIENT, still offered (the client is authorised too): XCLIENT again",
	 T_XCLIENT, XC_CLIENT, "192.0.2.7", "c.example", "c.example", "192.0.2.8",
	 "c.example", "c.example", XW_XCLIENT},
	{"after a refused XCLIENT, even the same client: a new connection", T_XCLIENT,
	 XC_SPENT, NULL, NULL, NULL, "192.0.2.7", "c.example", "c.example", XW_NEW},
};

/* Fill caps for kind k. */
static void t_caps_set(struct smtp_caps *caps, enum t_caps k)
{
	memset(caps, 0, sizeof(*caps));
	if (k == T_XFORWARD || k == T_XCLIENT || k == T_XCLIENT_NOADDR) {
		caps->flags |= SMTP_CAP_XFORWARD;
		caps->xforward = SMTP_XATTR_NAME | SMTP_XATTR_ADDR | SMTP_XATTR_HELO;
	}
	if (k == T_XCLIENT || k == T_XCLIENT_NOADDR) {
		caps->flags |= SMTP_CAP_XCLIENT;
		caps->xclient = SMTP_XATTR_NAME | SMTP_XATTR_HELO | SMTP_XATTR_PORT |
				(k == T_XCLIENT ? SMTP_XATTR_ADDR : 0);
	}
}

/* Run every case of the table. */
static void test_xclient_want_table(void **state)
{
	static struct relay r;
	socklen_t len;
	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(io_parse_addrport("192.0.2.53", 25, &r.self_addrs[0], &len), 0);
	r.nself_addrs = 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct t_case *c = &cases[i];
		struct smtp_caps caps;
		struct relay_xc_session s = {.state = XC_SELF};
		struct spool_env cur = {0}, env = {0};
		t_caps_set(&caps, c->caps);
		if (c->state == XC_CLIENT) {
			cur.client_addr = (char *)c->cur_addr;
			cur.client_name = (char *)c->cur_name;
			cur.helo = (char *)c->cur_helo;
			relay_xclient_became(&s, &cur);
			assert_int_equal(s.state, XC_CLIENT);
		}
		s.state = c->state;
		env.client_addr = (char *)c->addr;
		env.client_name = (char *)c->name;
		env.helo = (char *)c->helo;
		enum relay_xc_want got = relay_xclient_want(&r, &caps, &s, &env);
		if (got != c->want)
			fail_msg("case %zu (%s): got %d, want %d", i, c->what, (int)got, (int)c->want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xclient_want_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
