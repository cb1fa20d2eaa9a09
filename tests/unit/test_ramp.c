/*
 * test_ramp.c - table tests of the concurrency ramp (src/relay/relay_ramp.c):
 * slow start from 2, the max_concurrency cap, overload feedback with its
 * hold, additive increase afterwards, and a reset when the destination
 * comes up again.  Each case is a script of events with the limit expected
 * after each one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/log.h"
#include "relay/relay_int.h"

#define T_STEPS 40

/* One event: 'S' a delivered message, 'O' overload (arg = connections still
 * open), 'H' the hold runs out, 'R' the destination comes up again. */
struct t_step {
	char ev;
	unsigned arg;
	unsigned want;   /* relay_ramp_limit() afterwards */
};

struct t_case {
	const char *what;
	unsigned max;    /* max_concurrency */
	struct t_step steps[T_STEPS];
};

static const struct t_case cases[] = {
	{"slow start: +1 per delivery from 2, stops at max_concurrency", 6,
	 {{'S', 0, 3}, {'S', 0, 4}, {'S', 0, 5}, {'S', 0, 6}, {'S', 0, 6}, {'S', 0, 6}}},
	{"max_concurrency 1 caps the initial 2", 1,
	 {{'R', 0, 1}, {'S', 0, 1}, {'S', 0, 1}}},
	{"overload drops to the open connections and holds there", 20,
	 {{'S', 0, 3}, {'S', 0, 4}, {'S', 0, 5}, {'S', 0, 6}, {'S', 0, 7}, {'S', 0, 8},
	  {'O', 5, 5}, {'S', 0, 5}, {'S', 0, 5}, {'S', 0, 5}, {'S', 0, 5}, {'S', 0, 5},
	  {'S', 0, 5}}},
	{"after the hold: one more per `limit` deliveries", 20,
	 {{'S', 0, 3}, {'S', 0, 4}, {'O', 3, 3}, {'H', 0, 3}, {'S', 0, 3}, {'S', 0, 3},
	  {'S', 0, 4}, {'S', 0, 4},
	  {'S', 0, 4}, {'S', 0, 4}, {'S', 0, 5}, {'O', 4, 4}, {'H', 0, 4}, {'S', 0, 4},
	  {'S', 0, 4}, {'S', 0, 4}, {'S', 0, 5}}},
	{"overload with no count left keeps one connection", 10,
	 {{'O', 0, 1}, {'H', 0, 1}, {'S', 0, 2}, {'S', 0, 2}, {'S', 0, 3}}},
	{"coming up again restarts slow start", 10,
	 {{'S', 0, 3}, {'O', 2, 2}, {'R', 0, 2}, {'S', 0, 3}, {'S', 0, 4}, {'S', 0, 5}}},
	{"a refusal above the limit never raises it", 10,
	 {{'O', 9, 2}, {'H', 0, 2}, {'S', 0, 2}, {'S', 0, 3}}},
};

/* A destination on a bare relay: no jobs, so relay_dest_kick() opens nothing. */
static struct config t_cfg;
static struct relay t_relay;
static struct relay_dest t_dest;

/* Apply one event. */
static void t_apply(struct relay_dest *d, const struct t_step *s)
{
	switch (s->ev) {
	case 'S': relay_ramp_success(d); break;
	case 'O': relay_ramp_overload(d, s->arg, "test"); break;
	case 'H': d->ramp_hold_until = 0; break;
	case 'R': relay_ramp_reset(d); break;
	default: fail_msg("bad event %c", s->ev);
	}
}

/* Run every case of the table. */
static void test_ramp_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct t_case *c = &cases[i];
		memset(&t_dest, 0, sizeof(t_dest));
		t_cfg.max_concurrency = c->max;
		t_relay.cfg = &t_cfg;
		t_dest.r = &t_relay;
		snprintf(t_dest.domain, sizeof(t_dest.domain), "example.test");
		relay_ramp_reset(&t_dest);
		for (size_t k = 0; k < T_STEPS && c->steps[k].ev; k++) {
			t_apply(&t_dest, &c->steps[k]);
			unsigned got = relay_ramp_limit(&t_dest);
			if (got != c->steps[k].want)
				fail_msg("%s: step %zu (%c %u): limit %u, want %u", c->what, k + 1,
					 c->steps[k].ev, c->steps[k].arg, got, c->steps[k].want);
		}
	}
}

/* The limit never exceeds the cap, whatever the script. */
static void test_ramp_never_above_cap(void **state)
{
	(void)state;
	memset(&t_dest, 0, sizeof(t_dest));
	t_cfg.max_concurrency = 7;
	t_relay.cfg = &t_cfg;
	t_dest.r = &t_relay;
	relay_ramp_reset(&t_dest);
	for (unsigned i = 0; i < 1000; i++) {
		if (i % 97 == 0)
			relay_ramp_overload(&t_dest, i % 11, "test");
		if (i % 131 == 0)
			t_dest.ramp_hold_until = 0;
		relay_ramp_success(&t_dest);
		assert_true(relay_ramp_limit(&t_dest) <= 7);
		assert_true(relay_ramp_limit(&t_dest) >= 1);
	}
}

int main(void)
{
	log_init("test_ramp", 0, LOG_LVL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ramp_table),
		cmocka_unit_test(test_ramp_never_above_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
