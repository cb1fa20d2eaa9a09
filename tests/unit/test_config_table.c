/*
 * test_config_table.c - unit tests for the file: tables of backupmx.conf
 * (src/common/config_table.c): relay_domains, etrn_networks, route_maps,
 * tls_policy_maps and recipients = file:PATH.
 *
 * Good files (comments, blank lines, CRLF, relative paths, duplicates),
 * the lookups over them (.domain entries match every subdomain), a dump
 * that names the files and reads back, one table of bad files with the
 * exact "path:line: message", and large counts (100,000 domains, 20,000
 * routes).  Files go to a fresh directory under /tmp.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

#define ERRLEN 512

static char dir[64];

/* A fresh directory for this run's files. */
static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_config_table.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

/* Remove the directory and what is in it. */
static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write text to dir/name. */
static void put(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Write the config text to dir/bmx.conf, then config_load + config_tables_load. */
static int load(struct config *cfg, const char *text, char *err)
{
	char path[256];
	put("bmx.conf", text);
	snprintf(path, sizeof(path), "%s/bmx.conf", dir);
	if (config_load(cfg, path, err, ERRLEN) < 0)
		return -1;
	return config_tables_load(cfg, err, ERRLEN);
}

/* config_dump into a malloc'd string. */
static char *dump(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	config_dump(cfg, f);
	fclose(f);
	return buf;
}

/* Is a an IPv4 or IPv6 address text inside etrn_networks? */
static int etrn(const struct config *cfg, const char *a)
{
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	struct sockaddr_in s4 = {.sin_family = AF_INET};
	if (inet_pton(AF_INET, a, &s4.sin_addr) == 1)
		return config_etrn_network(cfg, (struct sockaddr *)&s4);
	assert_int_equal(inet_pton(AF_INET6, a, &s6.sin6_addr), 1);
	return config_etrn_network(cfg, (struct sockaddr *)&s6);
}

struct relay_case {
	const char *domain;
	int want;
};

static const struct relay_case relay_cases[] = {
	{"example.com", 1}, {"EXAMPLE.com.", 1}, {"inline.test", 1},
	{"x.example.com", 0},                      /* example.com covers no subdomain */
	{"sub.hosted.test", 1}, {"a.b.sub.hosted.test", 1}, {"X.Hosted.Test", 1},
	{"hosted.test", 0},                        /* .hosted.test: subdomains only */
	{"crlf.test", 1}, {"last.test", 1},        /* CRLF line; no final newline */
	{"comment.test", 0}, {"with#hash.test", 0},
	{"other.test", 0}, {"com", 0}, {"", 0}, {".hosted.test", 0}, {"a..hosted.test", 0},
};

/* A relay_domains file with comments, a relative path, inline entries beside it. */
static void test_relay_file(void **state)
{
	struct config cfg;
	char err[ERRLEN], want[300];

	(void)state;
	put("domains", "# hosted domains\n\nexample.com\n  .hosted.test   # every subdomain\n"
	    "inline.test\n\t\n#comment.test\ncrlf.test\r\nexample.com\nlast.test");
	assert_int_equal(load(&cfg, "relay_domains = inline.test, file:domains\n", err), 0);
	for (size_t i = 0; i < sizeof(relay_cases) / sizeof(relay_cases[0]); i++) {
		print_message("relay %s\n", relay_cases[i].domain);
		assert_int_equal(config_relay_domain(&cfg, relay_cases[i].domain),
				 relay_cases[i].want);
	}
	assert_int_equal(config_relay_count(&cfg), 5);   /* duplicates count once */
	assert_int_equal(config_validate(&cfg, err, ERRLEN), 0);
	char *d = dump(&cfg);
	snprintf(want, sizeof(want), "relay_domains = inline.test, file:%s/domains\n", dir);
	assert_non_null(strstr(d, want));
	assert_null(strstr(d, "hosted"));
	free(d);
	config_free(&cfg);

	/* an empty table file: relay_domains is empty */
	put("empty", "# nothing yet\n");
	assert_int_equal(load(&cfg, "relay_domains = file:empty\n", err), 0);
	assert_int_equal(config_validate(&cfg, err, ERRLEN), -1);
	assert_non_null(strstr(err, "relay_domains is empty"));
	config_free(&cfg);
}

/* route_maps, tls_policy_maps, etrn_networks and recipients files; the dump. */
static void test_rule_files(void **state)
{
	struct config cfg, back;
	char err[ERRLEN], line[300];
	const struct config_domain_rule *r;

	(void)state;
	put("routes", "# domain  hosts\nexample.com [192.0.2.10]:25, [192.0.2.11]:25\n"
	    "b.test\tmx.b.test\nC.Test. mx1.c.test:2525 [2001:db8::1]\n");
	put("tls", "example.com verify\nb.test   encrypt # must\n");
	put("nets", "192.0.2.0/24\n2001:db8::/48\n198.51.100.7\n");
	assert_int_equal(load(&cfg, "relay_domains = example.com\nrelay_port = 2526\n"
			      "route_maps = file:routes\ntls_policy_maps = file:tls\n"
			      "tls_policy c.test = may\nroute d.test = [192.0.2.99]\n"
			      "etrn_networks = 10.0.0.0/8, file:nets\nrecipients = file:rcpts\n",
			      err), 0);
	r = config_domain_rule(&cfg, "Example.COM");
	assert_non_null(r);
	assert_int_equal(r->hosts.n, 2);
	assert_string_equal(r->hosts.v[1], "[192.0.2.11]:25");
	assert_true(r->has_tls_policy);
	assert_int_equal(r->tls_policy, CONFIG_TLS_VERIFY);
	r = config_domain_rule(&cfg, "b.test");
	assert_string_equal(r->hosts.v[0], "mx.b.test:2526");   /* relay_port */
	assert_int_equal(r->tls_policy, CONFIG_TLS_ENCRYPT);
	r = config_domain_rule(&cfg, "c.test");
	assert_string_equal(r->hosts.v[1], "[2001:db8::1]:2526");
	assert_int_equal(r->tls_policy, CONFIG_TLS_MAY);
	assert_string_equal(config_domain_rule(&cfg, "d.test")->hosts.v[0], "[192.0.2.99]:2526");
	assert_null(config_domain_rule(&cfg, "x.example.com"));
	assert_true(etrn(&cfg, "192.0.2.77"));
	assert_true(etrn(&cfg, "10.1.2.3"));
	assert_true(etrn(&cfg, "198.51.100.7"));
	assert_false(etrn(&cfg, "198.51.100.8"));
	assert_true(etrn(&cfg, "::ffff:192.0.2.1"));
	assert_true(etrn(&cfg, "2001:db8:0:ffff::1"));
	assert_false(etrn(&cfg, "2001:db8:1::1"));
	snprintf(line, sizeof(line), "%s/rcpts", dir);
	assert_string_equal(cfg.recipients, line);

	/* the dump names the files, holds only the inline rules, and reads back */
	char *d = dump(&cfg);
	snprintf(line, sizeof(line), "route_maps = file:%s/routes\n", dir);
	assert_non_null(strstr(d, line));
	snprintf(line, sizeof(line), "tls_policy_maps = file:%s/tls\n", dir);
	assert_non_null(strstr(d, line));
	snprintf(line, sizeof(line), "etrn_networks = 10.0.0.0/8, file:%s/nets\n", dir);
	assert_non_null(strstr(d, line));
	assert_non_null(strstr(d, "tls_policy c.test = may\n"));
	assert_non_null(strstr(d, "route d.test = [192.0.2.99]:2526\n"));
	assert_null(strstr(d, "example.com verify"));
	assert_null(strstr(d, "route example.com"));
	assert_null(strstr(d, "tls_policy b.test"));
	config_defaults(&back);
	assert_int_equal(config_parse(&back, "dump", d, strlen(d), err, ERRLEN), 0);
	assert_int_equal(config_tables_load(&back, err, ERRLEN), 0);
	char *d2 = dump(&back);
	assert_string_equal(d, d2);
	free(d);
	free(d2);
	config_free(&back);
	config_free(&cfg);
}

struct bad_case {
	const char *file;     /* the content of dir/t */
	const char *conf;     /* the config */
	const char *err;      /* the message, after "DIR/t:" (NULL: compare whole) */
};

static const struct bad_case bad_cases[] = {
	{"a.test\nb..test\n", "relay_domains = file:t\n",
	 "2: relay_domains: 'b..test' is not a domain or .domain"},
	{"a.test b.test\n", "relay_domains = file:t\n",
	 "1: relay_domains: expected one entry a line"},
	{"a.test,b.test\n", "relay_domains = file:t\n",
	 "1: relay_domains: expected one entry a line"},
	{"\n\na\x01.test\n", "relay_domains = file:t\n", "3: control character 0x01 in line"},
	{"a\x7f\n", "relay_domains = file:t\n", "1: control character 0x7f in line"},
	{"192.0.2.1/24\n", "relay_domains = a.test\netrn_networks = file:t\n",
	 "1: etrn_networks: '192.0.2.1/24' is not a CIDR network (addr/len, no host bits set)"},
	{"a.test\n", "relay_domains = a.test\nroute_maps = file:t\n",
	 "1: missing value for 'route a.test'"},
	{"# x\na.test [192.0.2.1]:99999\n", "relay_domains = a.test\nroute_maps = file:t\n",
	 "2: route a.test: '[192.0.2.1]:99999' is not [ip]:port, [ip], host:port or host"},
	{"a_b.test mx.test\n", "relay_domains = a.test\nroute_maps = file:t\n",
	 "1: route: 'a_b.test' is not a valid domain"},
	{"a.test sometimes\n", "relay_domains = a.test\ntls_policy_maps = file:t\n",
	 "1: tls_policy a.test: 'sometimes' is not may, encrypt or verify"},
	{"a.test mx1.test\nA.TEST mx2.test\n", "relay_domains = a.test\nroute_maps = file:t\n",
	 "2: duplicate key 'route a.test' (first set on line 1)"},
	{"a.test verify\n", "relay_domains = a.test\ntls_policy a.test = may\n"
	 "tls_policy_maps = file:t\n",
	 "1: duplicate key 'tls_policy a.test' (first set at DIR/bmx.conf:2)"},
};

/* Bad table files: "path:line: message" naming the file and its line. */
static void test_bad_files(void **state)
{
	char err[ERRLEN], want[600], tail[300];
	struct config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		const char *p = strstr(c->err, "DIR/");
		print_message("bad case %zu: %s\n", i, c->err);
		put("t", c->file);
		assert_int_equal(load(&cfg, c->conf, err), -1);
		if (p)
			snprintf(tail, sizeof(tail), "%.*s%s/%s", (int)(p - c->err), c->err, dir,
				 p + 4);
		else
			snprintf(tail, sizeof(tail), "%s", c->err);
		snprintf(want, sizeof(want), "%s/t:%s", dir, tail);
		assert_string_equal(err, want);
		config_free(&cfg);
	}
	/* a line longer than 4096 bytes, and a missing file */
	char *big = malloc(6000);
	assert_non_null(big);
	memset(big, 'a', 5000);
	strcpy(big + 5000, ".test\n");
	put("t", big);
	free(big);
	assert_int_equal(load(&cfg, "relay_domains = file:t\n", err), -1);
	snprintf(want, sizeof(want), "%s/t:1: line too long (more than 4096 bytes)", dir);
	assert_string_equal(err, want);
	config_free(&cfg);
	assert_int_equal(load(&cfg, "relay_domains = file:/nonexistent/d\n", err), -1);
	assert_string_equal(err, "/nonexistent/d: cannot open: No such file or directory");
	config_free(&cfg);
	/* a route in two files */
	put("r1", "a.test mx1.test\n");
	put("r2", "b.test mx1.test\na.test mx2.test\n");
	assert_int_equal(load(&cfg, "relay_domains = a.test\nroute_maps = file:r1, file:r2\n",
			      err), -1);
	snprintf(want, sizeof(want), "%s/r2:2: duplicate key 'route a.test' (first set at "
		 "%s/r1:1)", dir, dir);
	assert_string_equal(err, want);
	config_free(&cfg);
}

/* 100,000 domains (every tenth a .domain) and 20,000 routes: all found. */
static void test_large(void **state)
{
	char path[256], err[ERRLEN], d[64];
	struct config cfg;

	(void)state;
	snprintf(path, sizeof(path), "%s/big", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 100000; i++)
		fprintf(f, "%sd%d.example\n", i % 10 ? "" : ".", i);
	fclose(f);
	snprintf(path, sizeof(path), "%s/bigroutes", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 20000; i++)
		fprintf(f, "r%d.example [192.0.%d.%d]:25\n", i, i / 250, i % 250);
	fclose(f);
	assert_int_equal(load(&cfg, "relay_domains = file:big\nroute_maps = file:bigroutes\n",
			      err), 0);
	assert_int_equal(config_relay_count(&cfg), 100000);
	assert_int_equal(cfg.ndomain_rules, 20000);
	for (int i = 0; i < 100000; i += 7) {
		snprintf(d, sizeof(d), "d%d.example", i);
		assert_int_equal(config_relay_domain(&cfg, d), i % 10 != 0);
		snprintf(d, sizeof(d), "mx.d%d.example", i);
		assert_int_equal(config_relay_domain(&cfg, d), i % 10 == 0);
		snprintf(d, sizeof(d), "e%d.example", i);
		assert_false(config_relay_domain(&cfg, d));
	}
	snprintf(d, sizeof(d), "r19999.example");
	assert_string_equal(config_domain_rule(&cfg, d)->hosts.v[0], "[192.0.79.249]:25");
	config_free(&cfg);
}

/* recipients: PATH and file:PATH mean the same; file: may be relative. */
static void test_recipients_forms(void **state)
{
	struct config cfg;
	char err[ERRLEN], want[256];

	(void)state;
	assert_int_equal(load(&cfg, "recipients = /etc/r\n", err), 0);
	assert_string_equal(cfg.recipients, "/etc/r");
	config_free(&cfg);
	assert_int_equal(load(&cfg, "recipients = file:/etc/r\n", err), 0);
	assert_string_equal(cfg.recipients, "/etc/r");
	config_free(&cfg);
	assert_int_equal(load(&cfg, "recipients = file:sub/r\n", err), 0);
	snprintf(want, sizeof(want), "%s/sub/r", dir);
	assert_string_equal(cfg.recipients, want);
	config_free(&cfg);
	assert_int_equal(load(&cfg, "recipients = sub/r\n", err), -1);   /* plain: absolute */
	config_free(&cfg);
	/* config_parse alone resolves against the name's directory and reads nothing */
	config_defaults(&cfg);
	const char *text = "relay_domains = file:d\nroute_maps = file:../r\n";
	assert_int_equal(config_parse(&cfg, "/etc/backupmx/backupmx.conf", text, strlen(text),
				      err, ERRLEN), 0);
	assert_string_equal(cfg.relay_domains.v[0], "file:/etc/backupmx/d");
	assert_string_equal(cfg.route_maps.v[0], "file:/etc/backupmx/../r");
	assert_int_equal(config_relay_count(&cfg), 0);
	assert_int_equal(config_validate(&cfg, err, ERRLEN), 0);  /* not read: not empty */
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_file),
		cmocka_unit_test(test_rule_files),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_recipients_forms),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
