/*
 * test_ctl.c - table tests of src/common/ctl.c, the control-socket request
 * parser: the verbs and their arguments, the "text " and "force " prefixes,
 * and the "limit N " prefix of the streamed queue listing (issue 17): 1 to
 * CTL_LIMIT_MAX, digits only, queue only; "reload" takes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/ctl.h"

struct ctl_case {
	const char *line;
	int rc;                   /* 0 or -1 */
	enum ctl_verb verb;
	int text;
	unsigned long limit;
	const char *arg;
	const char *err;          /* the message when rc is -1 */
};

static const struct ctl_case ctl_cases[] = {
	{"queue", 0, CTL_QUEUE, 0, 0, "", NULL},
	{"queue\n", 0, CTL_QUEUE, 0, 0, "", NULL},
	{"text queue", 0, CTL_QUEUE, 1, 0, "", NULL},
	{"queue example.org", 0, CTL_QUEUE, 0, 0, "example.org", NULL},
	{"limit 100 queue", 0, CTL_QUEUE, 0, 100, "", NULL},
	{"text limit 5 queue a.example", 0, CTL_QUEUE, 1, 5, "a.example", NULL},
	{"limit 1000000000 queue", 0, CTL_QUEUE, 0, 1000000000UL, "", NULL},
	{"limit 1000000001 queue", -1, 0, 0, 0, NULL, "bad limit"},
	{"limit 99999999999 queue", -1, 0, 0, 0, NULL, "bad limit"},
	{"limit 0 queue", -1, 0, 0, 0, NULL, "bad limit"},
	{"limit  queue", -1, 0, 0, 0, NULL, "bad limit"},
	{"limit -1 queue", -1, 0, 0, 0, NULL, "bad limit"},
	{"limit 5x queue", -1, 0, 0, 0, NULL, "bad limit"},
	{"limit 5", -1, 0, 0, 0, NULL, "bad limit"},
	{"limit 5 status", -1, 0, 0, 0, NULL, "only queue takes a limit"},
	{"limit 5 show ABC", -1, 0, 0, 0, NULL, "only queue takes a limit"},
	{"limit 5 text queue", -1, 0, 0, 0, NULL, "unknown request"},
	{"queue a@b", -1, 0, 0, 0, NULL, "bad character in argument"},
	{"status x", -1, 0, 0, 0, NULL, "this request takes no argument"},
	{"show", -1, 0, 0, 0, NULL, "this request needs an argument"},
	{"force hold example.org", 0, CTL_HOLD, 0, 0, "example.org", NULL},
	{"force queue", -1, 0, 0, 0, NULL, "only hold can be forced"},
	{"text metrics", -1, 0, 0, 0, NULL, "no text form for this request"},
	{"reload", 0, CTL_RELOAD, 0, 0, "", NULL},
	{"reload\n", 0, CTL_RELOAD, 0, 0, "", NULL},
	{"reload now", -1, 0, 0, 0, NULL, "this request takes no argument"},
	{"text reload", -1, 0, 0, 0, NULL, "no text form for this request"},
	{"force reload", -1, 0, 0, 0, NULL, "only hold can be forced"},
	{"bogus", -1, 0, 0, 0, NULL, "unknown request"},
};

/* Every line of the table parses (or is refused) as it says. */
static void test_ctl_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ctl_cases) / sizeof(ctl_cases[0]); i++) {
		const struct ctl_case *c = &ctl_cases[i];
		struct ctl_req req;
		const char *err = NULL;
		print_message("%s\n", c->line);
		int rc = ctl_parse(c->line, strlen(c->line), &req, &err);
		assert_int_equal(rc, c->rc);
		if (rc < 0) {
			assert_string_equal(err, c->err);
			continue;
		}
		assert_int_equal(req.verb, c->verb);
		assert_int_equal(req.text, c->text);
		assert_int_equal(req.limit, c->limit);
		assert_string_equal(req.arg, c->arg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctl_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
