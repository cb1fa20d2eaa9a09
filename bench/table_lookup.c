/*
 * table_lookup.c - in-process timing of the big tables (issue 17), built
 * and run by bench/table_load.sh.
 *
 *   table_lookup CONFIG N [LOOKUPS]
 *
 * Loads CONFIG (config_load + config_tables_load) and its recipients file
 * (rcptmap_load), timing each, then times LOOKUPS (default 1,000,000) of
 * each kind against tables of the shape table_load.sh writes (N domains
 * "dI.hosted.example", recipients "userJ@dI.hosted.example", routes for
 * every domain when route_maps is set): relay_domains hits, misses,
 * config_domain_rule, rcptmap_match hits and misses.  Prints one line per
 * measurement, in milliseconds or nanoseconds a lookup.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/config.h"
#include "common/rcptmap.h"

/* Seconds since some fixed point, monotonic. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The fake domain number i (of n) for lookup k; a pseudo-random walk. */
static unsigned pick(unsigned k, unsigned n)
{
	return (unsigned)((k * 2654435761u) % n);
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct rcptmap *m = NULL;
	char err[512], d[64], l[64];
	unsigned n, lookups = 1000000, hits = 0;
	double t;

	if (argc < 3) {
		fprintf(stderr, "usage: table_lookup CONFIG N [LOOKUPS]\n");
		return 2;
	}
	n = (unsigned)strtoul(argv[2], NULL, 10);
	if (argc > 3)
		lookups = (unsigned)strtoul(argv[3], NULL, 10);
	if (n == 0 || lookups == 0)
		return 2;
	t = now();
	if (config_load(&cfg, argv[1], err, sizeof(err)) < 0 ||
	    config_tables_load(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("load config tables: %8.1f ms (%zu domains, %zu rules)\n", (now() - t) * 1e3,
	       config_relay_count(&cfg), cfg.ndomain_rules);
	if (cfg.recipients) {
		t = now();
		if (!(m = rcptmap_load(cfg.recipients, err, sizeof(err)))) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		printf("load recipients:    %8.1f ms (%zu entries)\n", (now() - t) * 1e3,
		       rcptmap_count(m));
	}

	t = now();
	for (unsigned k = 0; k < lookups; k++) {
		unsigned u = pick(k, 10 * n);
		snprintf(l, sizeof(l), "user%u", u);
		snprintf(d, sizeof(d), "d%u.hosted.example", u % n);
		hits += (unsigned)(d[0] == l[0]);
	}
	printf("names alone:        %8.0f ns (the snprintf in each loop below)\n",
	       (now() - t) * 1e9 / lookups);
	hits = 0;
	t = now();
	for (unsigned k = 0; k < lookups; k++) {
		snprintf(d, sizeof(d), "d%u.hosted.example", pick(k, n));
		hits += (unsigned)config_relay_domain(&cfg, d);
	}
	printf("relay_domains hit:  %8.0f ns (%u of %u found)\n", (now() - t) * 1e9 / lookups,
	       hits, lookups);
	hits = 0;
	t = now();
	for (unsigned k = 0; k < lookups; k++) {
		snprintf(d, sizeof(d), "mail.x%u.hosted.example", pick(k, n));
		hits += (unsigned)config_relay_domain(&cfg, d);
	}
	printf("relay_domains miss: %8.0f ns (%u found, 4 labels)\n", (now() - t) * 1e9 / lookups,
	       hits);
	if (cfg.ndomain_rules) {
		hits = 0;
		t = now();
		for (unsigned k = 0; k < lookups; k++) {
			snprintf(d, sizeof(d), "d%u.hosted.example", pick(k, n));
			hits += config_domain_rule(&cfg, d) != NULL;
		}
		printf("domain rule:        %8.0f ns (%u found)\n", (now() - t) * 1e9 / lookups,
		       hits);
	}
	if (m) {
		hits = 0;
		t = now();
		for (unsigned k = 0; k < lookups; k++) {
			unsigned u = pick(k, 10 * n);
			snprintf(l, sizeof(l), "user%u", u);
			snprintf(d, sizeof(d), "d%u.hosted.example", u % n);
			hits += (unsigned)rcptmap_match(m, l, d);
		}
		printf("recipient hit:      %8.0f ns (%u found)\n", (now() - t) * 1e9 / lookups,
		       hits);
		hits = 0;
		t = now();
		for (unsigned k = 0; k < lookups; k++) {
			unsigned u = pick(k, 10 * n);
			snprintf(l, sizeof(l), "user%u", u);
			snprintf(d, sizeof(d), "d%u.hosted.example", (u + 1) % n);
			hits += (unsigned)rcptmap_match(m, l, d);
		}
		printf("recipient miss:     %8.0f ns (%u found, 3 probes)\n",
		       (now() - t) * 1e9 / lookups, hits);
	}
	rcptmap_free(m);
	config_free(&cfg);
	return 0;
}
