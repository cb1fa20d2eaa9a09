/*
 * test_config.c - unit tests for the backupmx.conf parser (src/common/config.c).
 *
 * Tables of good snippets (with a line the dump must then contain) and bad
 * snippets (with the exact "name:line: message" prefix), the defaults, the
 * duration and size parsers, relay domain and ETRN network matching,
 * config_validate, config_load, a dump round trip, and a check that
 * etc/backupmx.conf and docs/config-keys.md document every key with its
 * real default.  Run from the top of the source tree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "io/io.h"

#define ERRLEN 512

/* Defaults, then parse text (len 0 = strlen) as "t.conf"; returns config_parse's result. */
static int parse(struct config *cfg, const char *text, size_t len, char *err)
{
	config_defaults(cfg);
	return config_parse(cfg, "t.conf", text, len ? len : strlen(text), err, ERRLEN);
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

/* Does the dump text hold this exact line? */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

/* Read a whole file into a malloc'd string, or NULL. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---- good snippets ---- */

static const struct {
	const char *text;
	const char *line;   /* a line the dump must contain */
} good[] = {
	{"", "listen = 0.0.0.0:25"},
	{"#only comments\n\n   \n\t# indented comment\n", "spool = /var/spool/backupmx"},
	{"listen = 127.0.0.1:2525 [::1]:2525, *:25\n", "listen = 127.0.0.1:2525, [::1]:2525, *:25"},
	{"listen = 127.0.0.1:1\nlisten = 127.0.0.2:2\n", "listen = 127.0.0.1:1, 127.0.0.2:2"},
	{"listen = 127.0.0.3:0\n", "listen = 127.0.0.3:0"},
	{"listen =\n", "listen ="},
	{"relay_domains = Example.COM. .Sub.Example.com\n",
	 "relay_domains = example.com, .sub.example.com"},
	{"relay_domains = a.test,, b.test ,c.test\n", "relay_domains = a.test, b.test, c.test"},
	{"relay_domains = xn--bcher-kva.example\n", "relay_domains = xn--bcher-kva.example"},
	{"relay_domains =\n", "relay_domains ="},
	{"relay_domains = a.test, file:/etc/backupmx/d file:/etc/backupmx/d\n",
	 "relay_domains = a.test, file:/etc/backupmx/d"},
	{"relay_domains = file:d\n", "relay_domains = file:d"},   /* no directory in "t.conf" */
	{"etrn_networks = file:/n, 10.0.0.0/8\n", "etrn_networks = file:/n, 10.0.0.0/8"},
	{"route_maps = file:/r\nroute_maps = file:/s, file:/r\n", "route_maps = file:/r, file:/s"},
	{"tls_policy_maps = file:/etc/t\n", "tls_policy_maps = file:/etc/t"},
	{"recipients = file:/etc/r\n", "recipients = /etc/r"},
	{"hostname = MX2.Example.Test.\n", "hostname = mx2.example.test"},
	{"hostname = localhost\n", "hostname = localhost"},
	{"  spool   =   /var/tmp/s   # comment\n", "spool = /var/tmp/s"},
	{"spool = /var/tmp/s\n", "control_socket = /var/tmp/s/control"},
	{"spool = /var/tmp/s//\n", "control_socket = /var/tmp/s/control"},
	{"spool = /\n", "control_socket = /control"},
	{"control_socket = /run/b.sock\nspool = /s\n", "control_socket = /run/b.sock"},
	{"spool=/x\n", "spool = /x"},
	{"spool = /crlf\r\nhostname = h.test\r\n", "spool = /crlf"},
	{"spool = /no-newline", "spool = /no-newline"},
	{"spool = /a#b\n", "spool = /a#b"},
	{"recipients = /etc/backupmx/recipients\n", "recipients = /etc/backupmx/recipients"},
	{"recipients =\n", "recipients ="},
	{"max_message_size = 512k\n", "max_message_size = 524288"},
	{"max_message_size = 10M\n", "max_message_size = 10485760"},
	{"max_message_size = 1G\n", "max_message_size = 1073741824"},
	{"max_message_size = 10240000\n", "max_message_size = 10240000"},
	{"max_recipients = 007\n", "max_recipients = 7"},
	{"max_recipients = 1000000\n", "max_recipients = 1000000"},
	{"max_connections = 5\n", "max_connections = 5"},
	{"max_connections_per_ip = 1\n", "max_connections_per_ip = 1"},
	{"max_errors = 3\n", "max_errors = 3"},
	{"max_received_headers = 50\n", "max_received_headers = 50"},
	{"command_timeout = 5m\n", "command_timeout = 300"},
	{"data_timeout = 30s\n", "data_timeout = 30"},
	{"tls_cert = /a/cert.pem\ntls_key = /a/key.pem\n", "tls_key = /a/key.pem"},
	{"user = backupmx\n", "user = backupmx"},
	{"user = _bmx-1.x\n", "user = _bmx-1.x"},
	{"resolver = 127.0.0.1@5353\n", "resolver = 127.0.0.1@5353"},
	{"resolver = ::1@53\n", "resolver = ::1@53"},
	{"resolver = 127.0.0.1\n", "resolver = 127.0.0.1"},
	{"resolver = recursive\n", "resolver = recursive"},
	{"resolver = system\n", "resolver ="},
	{"relay_port = 2525\n", "relay_port = 2525"},
	{"relay_port = 65535\n", "relay_port = 65535"},
	{"log_level = WARN\n", "log_level = warning"},
	{"log_level = debug\n", "log_level = debug"},
	{"syslog = ON\n", "syslog = yes"},
	{"syslog = 0\n", "syslog = no"},
	{"proxy_interfaces = 203.0.113.5, 2001:DB8:0::5\n",
	 "proxy_interfaces = 203.0.113.5, 2001:db8::5"},
	{"bind_address = 127.0.0.9\n", "bind_address = 127.0.0.9"},
	{"bind_address6 = 2001:DB8:0::9\n", "bind_address6 = 2001:db8::9"},
	{"etrn_networks = 192.0.2.0/24 2001:DB8::/32 198.51.100.7\n",
	 "etrn_networks = 192.0.2.0/24, 2001:db8::/32, 198.51.100.7/32"},
	{"etrn_networks = 0.0.0.0/0, ::/0\n", "etrn_networks = 0.0.0.0/0, ::/0"},
	{"tls_policy = encrypt\n", "tls_policy = encrypt"},
	{"tls_policy Example.COM. = Verify\n", "tls_policy example.com = verify"},
	{"route example.com = [192.0.2.10]:25, [192.0.2.11]\n",
	 "route example.com = [192.0.2.10]:25, [192.0.2.11]:25"},
	{"route a.test = mx.a.test, 192.0.2.1, [2001:DB8::1]\nrelay_port = 2525\n",
	 "route a.test = mx.a.test:2525, [192.0.2.1]:2525, [2001:db8::1]:2525"},
	{"route a.test = MX.A.test.:587 192.0.2.1:0025\n",
	 "route a.test = mx.a.test:587, [192.0.2.1]:25"},
	{"route a.test = [::1]:2526\ntls_policy a.test = may\n", "tls_policy a.test = may"},
	{"probe_interval = 2\n", "probe_interval = 2"},
	{"max_concurrency = 1000\n", "max_concurrency = 1000"},
	{"retry_min = 1m\nretry_max = 1h\n", "retry_max = 3600"},
	{"queue_lifetime = 2h\n", "queue_lifetime = 7200"},
	{"delay_warning = 0\n", "delay_warning = 0"},
	{"delay_warning = 4h\n", "delay_warning = 14400"},
	{"recipient_verify = TRUE\n", "recipient_verify = yes"},
	{"recipient_verify_down = accept\n", "recipient_verify_down = accept"},
	{"primary_up = QUEUE\n", "primary_up = queue"},
	{"primary_up = defer\n", "primary_up = defer"},
	{"", "primary_up = proxy"},
	{"verify_positive_ttl = 1d\n", "verify_positive_ttl = 86400"},
	{"verify_negative_ttl = 3650d\n", "verify_negative_ttl = 315360000"},
	{"connect_timeout = 3\n", "connect_timeout = 3"},
	{"status_listen = 127.0.0.1:8025\n", "status_listen = 127.0.0.1:8025"},
	{"status_listen = [::1]:8025\n", "status_listen = [::1]:8025"},
	{"alert_webhook = http://127.0.0.1:8080/hook?a=b\n",
	 "alert_webhook = http://127.0.0.1:8080/hook?a=b"},
	{"alert_webhook = http://[::1]:8080/x # comment\n",
	 "alert_webhook = http://[::1]:8080/x"},
	{"alert_queue_age = 0\n", "alert_queue_age = 0"},
	{"alert_queue_age = 1h\n", "alert_queue_age = 3600"},
};

/* Every good snippet parses, and its dump holds the expected line. */
static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct config cfg;
		char err[ERRLEN];
		int rc = parse(&cfg, good[i].text, 0, err);
		if (rc != 0)
			print_error("case %zu: %s\n", i, err);
		assert_int_equal(rc, 0);
		char *d = dump(&cfg);
		if (!has_line(d, good[i].line))
			print_error("case %zu: no line '%s' in\n%s", i, good[i].line, d);
		assert_true(has_line(d, good[i].line));
		free(d);
		config_free(&cfg);
	}
}

/* ---- bad snippets ---- */

static const struct {
	const char *text;
	size_t len;          /* 0 = strlen */
	const char *prefix;  /* expected start of the error */
} bad[] = {
	{"foo = 1\n", 0, "t.conf:1: unknown key 'foo'"},
	{"\n# c\nbar = x\n", 0, "t.conf:3: unknown key 'bar'"},
	{"Spool = /x\n", 0, "t.conf:1: unknown key 'Spool'"},
	{"hostname\n", 0, "t.conf:1: expected 'key = value'"},
	{"spool = /x\njunk line\n", 0, "t.conf:2: expected 'key = value'"},
	{"= x\n", 0, "t.conf:1: missing key before '='"},
	{"spool = /a\nspool = /b\n", 0, "t.conf:2: duplicate key 'spool' (first set on line 1)"},
	{"hostname = a.test # c\n\nhostname=b.test\n", 0,
	 "t.conf:3: duplicate key 'hostname' (first set on line 1)"},
	{"recipients =\nrecipients = /x\n", 0, "t.conf:2: duplicate key 'recipients'"},
	{"tls_policy = may\ntls_policy = verify\n", 0,
	 "t.conf:2: duplicate key 'tls_policy' (first set on line 1)"},
	{"hostname =\n", 0, "t.conf:1: missing value for 'hostname'"},
	{"spool =\n", 0, "t.conf:1: missing value for 'spool'"},
	{"max_recipients =\n", 0, "t.conf:1: missing value for 'max_recipients'"},
	{"hostname = bad_host.test\n", 0, "t.conf:1: hostname: 'bad_host.test' is not a valid"},
	{"max_recipients = 0\n", 0, "t.conf:1: max_recipients: 0 is out of range (1..1000000)"},
	{"max_recipients = -1\n", 0, "t.conf:1: max_recipients: '-1' is not a number"},
	{"max_recipients = 1e3\n", 0, "t.conf:1: max_recipients: '1e3' is not a number"},
	{"max_recipients = 99999999999999999999999\n", 0, "t.conf:1: max_recipients: 9999"},
	{"max_errors = 1001\n", 0, "t.conf:1: max_errors: 1001 is out of range (1..1000)"},
	{"relay_port = 65536\n", 0, "t.conf:1: relay_port: 65536 is out of range (1..65535)"},
	{"relay_port = 0\n", 0, "t.conf:1: relay_port: 0 is out of range"},
	{"max_concurrency = 0\n", 0, "t.conf:1: max_concurrency: 0 is out of range"},
	{"command_timeout = 0\n", 0, "t.conf:1: command_timeout: must be greater than 0"},
	{"probe_interval = 0s\n", 0, "t.conf:1: probe_interval: must be greater than 0"},
	{"queue_lifetime = 0d\n", 0, "t.conf:1: queue_lifetime: must be greater than 0"},
	{"command_timeout = 5x\n", 0, "t.conf:1: command_timeout: '5x' is not a duration"},
	{"command_timeout = 5 m\n", 0, "t.conf:1: command_timeout: '5 m' is not a duration"},
	{"retry_max = 3651d\n", 0, "t.conf:1: retry_max: '3651d' is not a duration"},
	{"data_timeout = -5\n", 0, "t.conf:1: data_timeout: '-5' is not a duration"},
	{"max_message_size = 10T\n", 0, "t.conf:1: max_message_size: '10T' is not a size"},
	{"max_message_size = 0\n", 0, "t.conf:1: max_message_size: 0 is out of range"},
	{"max_message_size = 99999999999999999999\n", 0, "t.conf:1: max_message_size: '9999"},
	{"syslog = maybe\n", 0, "t.conf:1: syslog: 'maybe' is not yes or no"},
	{"recipient_verify = 2\n", 0, "t.conf:1: recipient_verify: '2' is not yes or no"},
	{"log_level = loud\n", 0,
	 "t.conf:1: log_level: 'loud' is not error, warning, info or debug"},
	{"recipient_verify_down = bounce\n", 0,
	 "t.conf:1: recipient_verify_down: 'bounce' is not tempfail or accept"},
	{"primary_up = relay\n", 0,
	 "t.conf:1: primary_up: 'relay' is not proxy, defer or queue"},
	{"milters = tcp:127.0.0.1:11332\n", 0,
	 "t.conf:1: milters: 'tcp:127.0.0.1:11332' is not inet:ADDR:PORT (a numeric address) or unix:/PATH"},
	{"milters = inet:localhost:11332\n", 0,
	 "t.conf:1: milters: 'inet:localhost:11332' is not inet:ADDR:PORT (a numeric address) or unix:/PATH"},
	{"bounce_policy = sometimes\n", 0,
	 "t.conf:1: bounce_policy: 'sometimes' is not authenticated, always or never"},
	{"dnsbl_action = drop\n", 0,
	 "t.conf:1: dnsbl_action: 'drop' is not reject, tempfail or log"},
	{"tls_policy = dane\n", 0, "t.conf:1: tls_policy: 'dane' is not may, encrypt or verify"},
	{"tls_policy example.com = none\n", 0,
	 "t.conf:1: tls_policy example.com: 'none' is not may, encrypt or verify"},
	{"tls_policy bad_domain = may\n", 0,
	 "t.conf:1: tls_policy: 'bad_domain' is not a valid domain"},
	{"tls_policy a.test = may\ntls_policy A.TEST. = verify\n", 0,
	 "t.conf:2: duplicate key 'tls_policy a.test' (first set on line 1)"},
	{"tls_policy a.test =\n", 0, "t.conf:1: missing value for 'tls_policy a.test'"},
	{"route = [192.0.2.1]:25\n", 0,
	 "t.conf:1: key 'route' needs a domain: 'route DOMAIN = ...'"},
	{"route example.com =\n", 0, "t.conf:1: missing value for 'route example.com'"},
	{"route example.com = ,\n", 0, "t.conf:1: missing value for 'route example.com'"},
	{"route example.com = [192.0.2.1]:0\n", 0,
	 "t.conf:1: route example.com: '[192.0.2.1]:0' is not [ip]:port, [ip], host:port or host"},
	{"route example.com = [mx.example.com]:25\n", 0,
	 "t.conf:1: route example.com: '[mx.example.com]:25' is not"},
	{"route example.com = 2001:db8::1\n", 0, "t.conf:1: route example.com: '2001:db8::1'"},
	{"route example.com = [::1]x\n", 0, "t.conf:1: route example.com: '[::1]x'"},
	{"route example.com = mx:\n", 0, "t.conf:1: route example.com: 'mx:'"},
	{"route example.com = :25\n", 0, "t.conf:1: route example.com: ':25'"},
	{"route example.com = [192.0.2.1]:25\nroute EXAMPLE.com. = [192.0.2.2]\n", 0,
	 "t.conf:2: duplicate key 'route example.com' (first set on line 1)"},
	{"route a..b = x.test\n", 0, "t.conf:1: route: 'a..b' is not a valid domain"},
	{"spool example.com = /x\n", 0, "t.conf:1: key 'spool' takes no domain"},
	{"route a b = x\n", 0, "t.conf:1: expected 'key = value' or 'key DOMAIN = value'"},
	{"listen = 127.0.0.1\n", 0,
	 "t.conf:1: listen: '127.0.0.1' is not addr:port, [v6]:port or *:port"},
	{"listen = 127.0.0.1:25 ::1:25\n", 0, "t.conf:1: listen: '::1:25' is not"},
	{"listen = [::1]\n", 0, "t.conf:1: listen: '[::1]' is not"},
	{"listen = []:25\n", 0, "t.conf:1: listen: '[]:25' is not"},
	{"listen = [127.0.0.1]:25\n", 0, "t.conf:1: listen: '[127.0.0.1]:25' is not"},
	{"listen = 127.0.0.1:99999\n", 0, "t.conf:1: listen: '127.0.0.1:99999' is not"},
	{"listen = 127.0.0.1:\n", 0, "t.conf:1: listen: '127.0.0.1:' is not"},
	{"listen = localhost:25\n", 0, "t.conf:1: listen: 'localhost:25' is not"},
	{"listen = 127.1:25\n", 0, "t.conf:1: listen: '127.1:25' is not"},
	{"status_listen = 127.0.0.1\n", 0, "t.conf:1: status_listen: '127.0.0.1' is not"},
	{"relay_domains = a..b\n", 0, "t.conf:1: relay_domains: 'a..b' is not a domain or .domain"},
	{"relay_domains = hash:/etc/d\n", 0,
	 "t.conf:1: relay_domains: 'hash:/etc/d': only file: tables are supported (file:PATH)"},
	{"relay_domains = file:\n", 0, "t.conf:1: relay_domains: 'file:' needs a path"},
	{"route_maps = /etc/r\n", 0, "t.conf:1: route_maps: '/etc/r' is not a table file, file:PATH"},
	{"tls_policy_maps = cdb:/etc/t\n", 0, "t.conf:1: tls_policy_maps: 'cdb:/etc/t': only file:"},
	{"etrn_networks = hash:/n\n", 0, "t.conf:1: etrn_networks: 'hash:/n' is not a CIDR"},
	{"recipients = file:\n", 0, "t.conf:1: recipients: 'file:' needs a path"},
	{"recipients = file:/a b\n", 0, "t.conf:1: recipients: 'file:/a b': a path without spaces"},
	{"relay_domains = -a.test\n", 0, "t.conf:1: relay_domains: '-a.test' is not"},
	{"relay_domains = a-.test\n", 0, "t.conf:1: relay_domains: 'a-.test' is not"},
	{"relay_domains = a_b.test\n", 0, "t.conf:1: relay_domains: 'a_b.test' is not"},
	{"relay_domains = ..a.test\n", 0, "t.conf:1: relay_domains: '..a.test' is not"},
	{"relay_domains = .\n", 0, "t.conf:1: relay_domains: '.' is not"},
	{"relay_domains = 192.0.2.1\n", 0, "t.conf:1: relay_domains: '192.0.2.1' is not"},
	{"relay_domains = [192.0.2.1]\n", 0, "t.conf:1: relay_domains: '[192.0.2.1]' is not"},
	{"relay_domains = b\xc3\xbc" "cher.test\n", 0, "t.conf:1: relay_domains: 'b"},
	{"relay_domains = a.test\nrelay_domains = x.y..\n", 0, "t.conf:2: relay_domains: 'x.y..'"},
	{"relay_domains = "
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test\n", 0,
	 "t.conf:1: relay_domains: 'aaaa"},
	{"etrn_networks = 192.0.2.1/24\n", 0,
	 "t.conf:1: etrn_networks: '192.0.2.1/24' is not a CIDR network"},
	{"etrn_networks = 192.0.2.0/33\n", 0, "t.conf:1: etrn_networks: '192.0.2.0/33' is not"},
	{"etrn_networks = 2001:db8::/129\n", 0, "t.conf:1: etrn_networks: '2001:db8::/129'"},
	{"etrn_networks = 2001:db8::1/64\n", 0, "t.conf:1: etrn_networks: '2001:db8::1/64'"},
	{"etrn_networks = example.com/8\n", 0, "t.conf:1: etrn_networks: 'example.com/8'"},
	{"etrn_networks = /8\n", 0, "t.conf:1: etrn_networks: '/8' is not"},
	{"etrn_networks = 10.0.0.0/\n", 0, "t.conf:1: etrn_networks: '10.0.0.0/' is not"},
	{"etrn_networks = 10.0.0.0/-8\n", 0, "t.conf:1: etrn_networks: '10.0.0.0/-8' is not"},
	{"proxy_interfaces = example.com\n", 0,
	 "t.conf:1: proxy_interfaces: 'example.com' is not an IP address"},
	{"bind_address = ::1\n", 0, "t.conf:1: bind_address: '::1' is not an IPv4 address"},
	{"bind_address6 = 127.0.0.1\n", 0,
	 "t.conf:1: bind_address6: '127.0.0.1' is not an IPv6 address"},
	{"bind_address = mx.example\n", 0,
	 "t.conf:1: bind_address: 'mx.example' is not an IPv4 address"},
	{"spool = relative/path\n", 0,
	 "t.conf:1: spool: 'relative/path' is not an absolute path without spaces"},
	{"spool = /a b\n", 0, "t.conf:1: spool: '/a b' is not an absolute path"},
	{"tls_cert = cert.pem\n", 0, "t.conf:1: tls_cert: 'cert.pem' is not an absolute path"},
	{"user = -root\n", 0, "t.conf:1: user: '-root' is not a valid user name"},
	{"user = a b\n", 0, "t.conf:1: user: 'a b' is not a valid user name"},
	{"user = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 0, "t.conf:1: user: 'aaaa"},
	{"resolver = 127.0.0.1@0\n", 0,
	 "t.conf:1: resolver: '127.0.0.1@0' is not system, recursive or ADDR[@PORT]"},
	{"resolver = 127.0.0.1@\n", 0, "t.conf:1: resolver: '127.0.0.1@' is not"},
	{"resolver = dns.example\n", 0, "t.conf:1: resolver: 'dns.example' is not"},
	{"alert_webhook = ftp://x/\n", 0, "t.conf:1: alert_webhook: 'ftp://x/': not an http:// URL"},
	{"alert_webhook = http://\n", 0, "t.conf:1: alert_webhook: 'http://': bad host"},
	{"alert_webhook = http:///path\n", 0, "t.conf:1: alert_webhook: 'http:///path': bad host"},
	{"alert_webhook = http://127.0.0.1/ b\n", 0,
	 "t.conf:1: alert_webhook: 'http://127.0.0.1/ b': bad character in the path"},
	/* what the daemon refuses, the config refuses too (one check: io_url_parse) */
	{"alert_webhook = https://127.0.0.1/x\n", 0,
	 "t.conf:1: alert_webhook: 'https://127.0.0.1/x': https is not supported"},
	{"alert_webhook = http://hooks.example.com/x\n", 0,
	 "t.conf:1: alert_webhook: 'http://hooks.example.com/x': the host must be a numeric IP"},
	{"alert_webhook = http://127.0.0.1:8080/hook#frag\n", 0,
	 "t.conf:1: alert_webhook: 'http://127.0.0.1:8080/hook#frag': bad character in the path"},
	{"resolver = 127.0.0.1:5353\n", 0,
	 "t.conf:1: resolver: '127.0.0.1:5353' is not system, recursive or ADDR[@PORT]: use "
	 "ADDR@PORT for a port (127.0.0.1@5353)"},
	{"spool = /a\0b\n", 13, "t.conf:1: NUL byte in line"},
	{"spool = /a\n# x\0\n", 16, "t.conf:2: NUL byte in line"},
	{"spool = /a\x01\n", 0, "t.conf:1: control character 0x01 in line"},
	{"spool = /a\rb\n", 0, "t.conf:1: control character 0x0d in line"},
	{"# \x1b[31m\n", 0, "t.conf:1: control character 0x1b in line"},
	{"spool = /a\x7f\n", 0, "t.conf:1: control character 0x7f in line"},
};

/* Every bad snippet fails with the exact prefix, and cfg stays freeable. */
static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config cfg;
		char err[ERRLEN];
		int rc = parse(&cfg, bad[i].text, bad[i].len, err);
		if (rc != -1 || strncmp(err, bad[i].prefix, strlen(bad[i].prefix)) != 0)
			print_error("case %zu: rc %d, got '%s', want '%s'\n", i, rc, err,
				    bad[i].prefix);
		assert_int_equal(rc, -1);
		assert_memory_equal(err, bad[i].prefix, strlen(bad[i].prefix));
		config_free(&cfg);
	}
}

/* Lines up to CONFIG_LINE_MAX are fine, longer ones are errors. */
static void test_line_max(void **state)
{
	size_t n = CONFIG_LINE_MAX + 1;
	char *buf = malloc(n + 16);
	struct config cfg;
	char err[ERRLEN];

	(void)state;
	assert_non_null(buf);
	memcpy(buf, "spool = /a\n", 11);
	memset(buf + 11, 'x', n);
	buf[11] = '#';
	assert_int_equal(parse(&cfg, buf, 11 + CONFIG_LINE_MAX, err), 0);
	config_free(&cfg);
	assert_int_equal(parse(&cfg, buf, 11 + CONFIG_LINE_MAX + 1, err), -1);
	assert_string_equal(err, "t.conf:2: line too long (more than 4096 bytes)");
	config_free(&cfg);
	buf[11 + CONFIG_LINE_MAX] = '\n';
	assert_int_equal(parse(&cfg, buf, 11 + CONFIG_LINE_MAX + 1, err), 0);
	config_free(&cfg);
	free(buf);
}

/* alert_webhook takes a URL of IO_URL_MAX octets and no more (io_url_parse). */
static void test_url_max(void **state)
{
	static const char key[] = "alert_webhook = ", url[] = "http://127.0.0.1/";
	size_t k = sizeof(key) - 1, u = sizeof(url) - 1;
	char *buf = malloc(k + IO_URL_MAX + 8);
	struct config cfg;
	char err[ERRLEN];

	(void)state;
	assert_non_null(buf);
	memcpy(buf, key, k);
	memcpy(buf + k, url, u);
	memset(buf + k + u, 'a', IO_URL_MAX + 1 - u);   /* a URL of IO_URL_MAX + 1 octets */
	buf[k + IO_URL_MAX] = '\n';                      /* cut to IO_URL_MAX */
	assert_int_equal(parse(&cfg, buf, k + IO_URL_MAX + 1, err), 0);
	assert_int_equal(strlen(cfg.alert_webhook), IO_URL_MAX);
	config_free(&cfg);
	buf[k + IO_URL_MAX] = 'a';
	buf[k + IO_URL_MAX + 1] = '\n';
	assert_int_equal(parse(&cfg, buf, k + IO_URL_MAX + 2, err), -1);
	assert_non_null(strstr(err, "longer than 2048 characters"));
	config_free(&cfg);
	free(buf);
}

/* A list key takes CONFIG_LIST_MAX entries, over one or several lines, and no
 * more; relay_domains and etrn_networks (tables) have no limit. */
static void test_list_max(void **state)
{
	char *buf = malloc(64 * (CONFIG_LIST_MAX + 2));
	struct config cfg;
	char err[ERRLEN];
	size_t o = 0;

	(void)state;
	assert_non_null(buf);
	o += (size_t)sprintf(buf + o, "proxy_interfaces =");
	for (int i = 0; i < CONFIG_LIST_MAX; i++) {
		if (i == 100)
			o += (size_t)sprintf(buf + o, "\nproxy_interfaces =");
		o += (size_t)sprintf(buf + o, " 10.0.%d.%d", i / 200, i % 200);
	}
	buf[o++] = '\n';
	assert_int_equal(parse(&cfg, buf, o, err), 0);
	assert_int_equal(cfg.proxy_interfaces.n, CONFIG_LIST_MAX);
	assert_string_equal(cfg.proxy_interfaces.v[CONFIG_LIST_MAX - 1], "10.0.1.55");
	config_free(&cfg);
	o += (size_t)sprintf(buf + o, "proxy_interfaces = 10.9.9.9\n");
	assert_int_equal(parse(&cfg, buf, o, err), -1);
	assert_string_equal(err, "t.conf:3: proxy_interfaces: too many entries (max 256)");
	config_free(&cfg);
	free(buf);

	/* 5,000 inline relay_domains and etrn_networks entries */
	size_t cap = 40 * 10000, n = 0;
	buf = malloc(cap);
	assert_non_null(buf);
	for (int i = 0; i < 5000; i++)
		n += (size_t)sprintf(buf + n, "relay_domains = d%d.test\netrn_networks = 10.%d.%d.0/24\n",
				     i, i / 256, i % 256);
	assert_int_equal(parse(&cfg, buf, n, err), 0);
	assert_int_equal(cfg.relay_domains.n, 5000);
	assert_int_equal(config_relay_count(&cfg), 5000);
	assert_true(config_relay_domain(&cfg, "D4999.test"));
	assert_false(config_relay_domain(&cfg, "d5000.test"));
	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, "10.19.136.7", &sin.sin_addr);   /* 5000 = 19 * 256 + 136: not */
	assert_false(config_etrn_network(&cfg, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "10.19.135.7", &sin.sin_addr);
	assert_true(config_etrn_network(&cfg, (struct sockaddr *)&sin));
	config_free(&cfg);
	free(buf);
}

/* Per-domain rules have no count limit: 10,000 of them, each found. */
static void test_rules_max(void **state)
{
	size_t cap = 48 * 10002, o = 0;
	char *buf = malloc(cap);
	struct config cfg;
	char err[ERRLEN];

	(void)state;
	assert_non_null(buf);
	for (int i = 0; i < 10000; i++)
		o += (size_t)sprintf(buf + o, "tls_policy d%d.test = verify\n", i);
	o += (size_t)sprintf(buf + o, "route d7.test = mx.d7.test\n");
	assert_int_equal(parse(&cfg, buf, o, err), 0);
	assert_int_equal(cfg.ndomain_rules, 10000);
	for (int i = 0; i < 10000; i += 999) {
		char d[32];
		snprintf(d, sizeof(d), "D%d.Test.", i);
		const struct config_domain_rule *r = config_domain_rule(&cfg, d);
		assert_non_null(r);
		assert_int_equal(r->tls_policy, CONFIG_TLS_VERIFY);
	}
	assert_string_equal(config_domain_rule(&cfg, "d7.test")->hosts.v[0], "mx.d7.test:25");
	assert_null(config_domain_rule(&cfg, "d10000.test"));
	config_free(&cfg);
	free(buf);
}

/* ---- defaults ---- */

/* config_defaults sets exactly the documented values. */
static void test_defaults(void **state)
{
	struct config cfg;
	char host[256], err[ERRLEN];

	(void)state;
	config_defaults(&cfg);
	assert_non_null(cfg.hostname);
	assert_true(strlen(cfg.hostname) > 0);
	if (gethostname(host, sizeof(host)) == 0 && strcmp(cfg.hostname, "localhost") != 0)
		assert_int_equal(strcasecmp(cfg.hostname, host), 0);
	assert_int_equal(cfg.listen.n, 1);
	assert_string_equal(cfg.listen.v[0], "0.0.0.0:25");
	assert_string_equal(cfg.spool, "/var/spool/backupmx");
	assert_int_equal(cfg.relay_domains.n, 0);
	assert_null(cfg.recipients);
	assert_true(cfg.max_message_size == 10240000ULL);
	assert_int_equal(cfg.max_recipients, 1000);
	assert_int_equal(cfg.max_connections, 1000);
	assert_int_equal(cfg.max_connections_per_ip, 50);
	assert_int_equal(cfg.max_errors, 10);
	assert_int_equal(cfg.max_received_headers, 100);
	assert_int_equal(cfg.command_timeout, 300);
	assert_int_equal(cfg.data_timeout, 600);
	assert_null(cfg.tls_cert);
	assert_null(cfg.tls_key);
	assert_null(cfg.user);
	assert_null(cfg.resolver);
	assert_int_equal(cfg.relay_port, 25);
	assert_string_equal(cfg.control_socket, "/var/spool/backupmx/control");
	assert_string_equal(cfg.log_level, "info");
	assert_int_equal(cfg.syslog, 0);
	assert_int_equal(cfg.proxy_interfaces.n, 0);
	assert_int_equal(cfg.etrn_networks.n, 0);
	assert_int_equal(cfg.tls_policy, CONFIG_TLS_MAY);
	assert_int_equal(cfg.ndomain_rules, 0);
	assert_int_equal(cfg.probe_interval, 10);
	assert_int_equal(cfg.max_concurrency, 10);
	assert_int_equal(cfg.retry_min, 60);
	assert_int_equal(cfg.retry_max, 1800);
	assert_int_equal(cfg.queue_lifetime, 5 * 86400);
	assert_int_equal(cfg.delay_warning, 0);
	assert_int_equal(cfg.recipient_verify, 0);
	assert_int_equal(cfg.recipient_verify_down, CONFIG_VDOWN_TEMPFAIL);
	assert_int_equal(cfg.verify_positive_ttl, 30 * 86400);
	assert_int_equal(cfg.verify_negative_ttl, 3 * 86400);
	assert_int_equal(cfg.connect_timeout, 30);
	assert_null(cfg.status_listen);
	assert_null(cfg.alert_webhook);
	assert_int_equal(cfg.alert_queue_age, 0);
	/* an empty file changes nothing but the path */
	assert_int_equal(config_parse(&cfg, "empty", "", 0, err, sizeof(err)), 0);
	assert_string_equal(cfg.path, "empty");
	assert_string_equal(cfg.control_socket, "/var/spool/backupmx/control");
	config_free(&cfg);
	config_free(&cfg);  /* twice is harmless: config_free zeroes */
}

/* ---- duration and size parsers ---- */

static const struct {
	const char *s;
	int rc;
	unsigned v;
} durations[] = {
	{"30", 0, 30},          {"30s", 0, 30},         {"5m", 0, 300},
	{"2h", 0, 7200},        {"5d", 0, 432000},      {"0", 0, 0},
	{"0d", 0, 0},           {"007s", 0, 7},         {"3650d", 0, 315360000},
	{"315360000", 0, 315360000}, {"315360001", -1, 0}, {"3651d", -1, 0},
	{"87600h", 0, 315360000}, {"87601h", -1, 0},   {"4294967296", -1, 0},
	{"99999999999999999999999", -1, 0}, {"", -1, 0}, {"s", -1, 0},
	{"5ms", -1, 0},         {"5 m", -1, 0},         {" 5", -1, 0},
	{"5 ", -1, 0},          {"-5", -1, 0},          {"+5", -1, 0},
	{"5M", -1, 0},          {"5S", -1, 0},          {"0x10", -1, 0},
	{"1.5h", -1, 0},        {"5w", -1, 0},          {"h", -1, 0},
};

/* config_parse_duration accepts plain seconds and s/m/h/d, nothing else. */
static void test_duration(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		unsigned v = 12345;
		int rc = config_parse_duration(durations[i].s, &v);
		if (rc != durations[i].rc)
			print_error("case %zu '%s': rc %d\n", i, durations[i].s, rc);
		assert_int_equal(rc, durations[i].rc);
		if (rc == 0)
			assert_int_equal(v, durations[i].v);
		else
			assert_int_equal(v, 12345);
	}
	assert_int_equal(config_parse_duration(NULL, &(unsigned){0}), -1);
}

static const struct {
	const char *s;
	int rc;
	unsigned long long v;
} sizes[] = {
	{"10240000", 0, 10240000ULL},  {"10M", 0, 10485760ULL},   {"10m", 0, 10485760ULL},
	{"512k", 0, 524288ULL},        {"512K", 0, 524288ULL},    {"1G", 0, 1073741824ULL},
	{"1g", 0, 1073741824ULL},      {"0", 0, 0},               {"00012", 0, 12},
	{"18446744073709551615", 0, ULLONG_MAX}, {"18446744073709551616", -1, 0},
	{"17179869183G", 0, 17179869183ULL << 30}, {"17179869184G", -1, 0},
	{"18014398509481983k", 0, 18014398509481983ULL << 10}, {"18014398509481984k", -1, 0},
	{"10MB", -1, 0},              {"", -1, 0},               {"k", -1, 0},
	{"1.5M", -1, 0},              {"-1", -1, 0},             {"1 k", -1, 0},
	{"10T", -1, 0},               {" 1", -1, 0},
};

/* config_parse_size accepts octets and k/M/G (1024-based), overflow-checked. */
static void test_size(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned long long v = 777;
		int rc = config_parse_size(sizes[i].s, &v);
		if (rc != sizes[i].rc)
			print_error("case %zu '%s': rc %d\n", i, sizes[i].s, rc);
		assert_int_equal(rc, sizes[i].rc);
		if (rc == 0)
			assert_true(v == sizes[i].v);
		else
			assert_true(v == 777);
	}
	assert_int_equal(config_parse_size(NULL, &(unsigned long long){0}), -1);
}

/* ---- lookups ---- */

static const struct {
	const char *domain;
	int match;
} relay_cases[] = {
	{"example.com", 1},    {"EXAMPLE.COM", 1},   {"example.com.", 1},
	{"x.example.com", 0},  {"xexample.com", 0},  {"example.co", 0},
	{"com", 0},            {"sub.test", 0},      {"a.sub.test", 1},
	{"a.b.sub.test", 1},   {"A.SUB.TEST.", 1},   {"asub.test", 0},
	{".sub.test", 0},      {"a..sub.test", 0},   {"other.test", 1},
	{"www.other.test", 0}, {"nope.test", 0},     {"", 0},
	{".", 0},              {"example.com..", 0}, {"test", 0},
	{"both.test", 1},      {"x.both.test", 1},
};

/* config_relay_domain: exact, or ".domain" for strict subdomains. */
static void test_relay_domain(void **state)
{
	struct config cfg;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(parse(&cfg, "relay_domains = example.com, .sub.test, Other.TEST.\n"
			       "relay_domains = both.test .both.test\n", 0, err), 0);
	for (size_t i = 0; i < sizeof(relay_cases) / sizeof(relay_cases[0]); i++) {
		int m = config_relay_domain(&cfg, relay_cases[i].domain);
		if (m != relay_cases[i].match)
			print_error("case %zu '%s': %d\n", i, relay_cases[i].domain, m);
		assert_int_equal(m, relay_cases[i].match);
	}
	assert_int_equal(config_relay_domain(&cfg, NULL), 0);
	config_free(&cfg);
	config_defaults(&cfg);
	assert_int_equal(config_relay_domain(&cfg, "example.com"), 0);
	config_free(&cfg);
}

/* config_domain_rule finds a rule by any spelling of its domain. */
static void test_domain_rule(void **state)
{
	struct config cfg;
	char err[ERRLEN];
	const struct config_domain_rule *r;

	(void)state;
	assert_int_equal(parse(&cfg, "route example.com = [192.0.2.10]:25, [192.0.2.11]:26\n"
			       "tls_policy other.test = encrypt\n"
			       "tls_policy EXAMPLE.com = verify\n", 0, err), 0);
	assert_int_equal(cfg.ndomain_rules, 2);
	r = config_domain_rule(&cfg, "Example.COM.");
	assert_non_null(r);
	assert_string_equal(r->domain, "example.com");
	assert_int_equal(r->hosts.n, 2);
	assert_string_equal(r->hosts.v[0], "[192.0.2.10]:25");
	assert_string_equal(r->hosts.v[1], "[192.0.2.11]:26");
	assert_int_equal(r->has_tls_policy, 1);
	assert_int_equal(r->tls_policy, CONFIG_TLS_VERIFY);
	assert_int_equal(r->route_line, 1);
	assert_int_equal(r->tls_policy_line, 3);
	r = config_domain_rule(&cfg, "other.test");
	assert_non_null(r);
	assert_int_equal(r->hosts.n, 0);
	assert_int_equal(r->tls_policy, CONFIG_TLS_ENCRYPT);
	assert_null(config_domain_rule(&cfg, "sub.example.com"));
	assert_null(config_domain_rule(&cfg, "bad..name"));
	assert_null(config_domain_rule(&cfg, NULL));
	assert_int_equal(cfg.tls_policy, CONFIG_TLS_MAY);
	config_free(&cfg);
}

static const struct {
	const char *addr;
	int match;
} etrn_cases[] = {
	{"192.0.2.5", 1},         {"192.0.2.255", 1},     {"192.0.3.1", 0},
	{"::ffff:192.0.2.9", 1},  {"2001:db8:1::1", 1},   {"2001:db9::1", 0},
	{"198.51.100.7", 1},      {"198.51.100.8", 0},    {"10.1.2.3", 1},
	{"11.255.0.1", 1},        {"12.0.0.1", 0},        {"::1", 0},
	{"127.0.0.1", 0},         {"fe80::1", 1},         {"fe80:0:0:1::1", 0},
};

/* config_etrn_network matches v4, v6 and v4-mapped peers against the CIDRs. */
static void test_etrn_network(void **state)
{
	struct config cfg;
	char err[ERRLEN];

	(void)state;
	assert_int_equal(parse(&cfg, "etrn_networks = 192.0.2.0/24, 2001:db8::/32\n"
			       "etrn_networks = 198.51.100.7 10.0.0.0/7 fe80::/64\n", 0, err), 0);
	for (size_t i = 0; i < sizeof(etrn_cases) / sizeof(etrn_cases[0]); i++) {
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		if (strchr(etrn_cases[i].addr, ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			s6->sin6_family = AF_INET6;
			assert_int_equal(inet_pton(AF_INET6, etrn_cases[i].addr,
						   &s6->sin6_addr), 1);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_family = AF_INET;
			assert_int_equal(inet_pton(AF_INET, etrn_cases[i].addr, &s4->sin_addr), 1);
		}
		int m = config_etrn_network(&cfg, (struct sockaddr *)&ss);
		if (m != etrn_cases[i].match)
			print_error("case %zu '%s': %d\n", i, etrn_cases[i].addr, m);
		assert_int_equal(m, etrn_cases[i].match);
	}
	assert_int_equal(config_etrn_network(&cfg, NULL), 0);
	config_free(&cfg);
	/* 0.0.0.0/0 matches every IPv4 peer, and nothing is allowed by default */
	assert_int_equal(parse(&cfg, "etrn_networks = 0.0.0.0/0\n", 0, err), 0);
	struct sockaddr_in s4 = {.sin_family = AF_INET};
	inet_pton(AF_INET, "203.0.113.9", &s4.sin_addr);
	assert_int_equal(config_etrn_network(&cfg, (struct sockaddr *)&s4), 1);
	config_free(&cfg);
	config_defaults(&cfg);
	assert_int_equal(config_etrn_network(&cfg, (struct sockaddr *)&s4), 0);
	config_free(&cfg);
}

/* config_domain_norm lower-cases, strips one dot, and checks LDH syntax. */
static void test_domain_norm(void **state)
{
	char out[300];
	char long_ok[300], long_bad[300];

	(void)state;
	assert_int_equal(config_domain_norm("Ex-1.COM.", out, sizeof(out)), 0);
	assert_string_equal(out, "ex-1.com");
	assert_int_equal(config_domain_norm("a.b", out, 3), -1);   /* does not fit */
	assert_int_equal(config_domain_norm("a.b", out, 4), 0);
	/* 253 octets is the longest name, 254 too long */
	memset(long_ok, 0, sizeof(long_ok));
	for (int i = 0; i < 253; i++)
		long_ok[i] = (i % 50 == 49) ? '.' : 'a';
	memcpy(long_bad, long_ok, sizeof(long_bad));
	long_bad[253] = 'a';
	assert_int_equal(config_domain_norm(long_ok, out, sizeof(out)), 0);
	assert_int_equal(config_domain_norm(long_bad, out, sizeof(out)), -1);
	assert_int_equal(config_domain_norm("a.b-", out, sizeof(out)), -1);
	assert_int_equal(config_domain_norm("a.123", out, sizeof(out)), -1);
	assert_int_equal(config_domain_norm("123.a", out, sizeof(out)), 0);
	assert_int_equal(config_domain_norm("", out, sizeof(out)), -1);
	assert_int_equal(config_domain_norm(NULL, out, sizeof(out)), -1);
}

/* ---- validate and load ---- */

/* Make a temp dir with a readable file; returns the dir (static buffer). */
static const char *tmpdir(void)
{
	static char dir[64];
	snprintf(dir, sizeof(dir), "/tmp/test_config.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return dir;
}

/* Write text to path. */
static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Copy tmpl into out with the words CERT and KEY replaced by cert and key. */
static void subst(char *out, size_t len, const char *tmpl, const char *cert, const char *key)
{
	size_t o = 0;
	while (*tmpl && o + 1 < len) {
		const char *rep = NULL;
		if (strncmp(tmpl, "CERT", 4) == 0) {
			rep = cert;
			tmpl += 4;
		} else if (strncmp(tmpl, "KEY", 3) == 0) {
			rep = key;
			tmpl += 3;
		}
		if (rep) {
			o += (size_t)snprintf(out + o, len - o, "%s", rep);
			continue;
		}
		out[o++] = *tmpl++;
	}
	assert_true(o < len);
	out[o] = '\0';
}

/* config_validate: cross-key errors, each as "path: message". */
static void test_validate(void **state)
{
	const char *dir = tmpdir();
	char cert[128], key[128], text[512], err[ERRLEN];
	struct config cfg;
	static const struct {
		const char *text;
		const char *err;   /* NULL = valid */
	} cases[] = {
		{"relay_domains = a.test\n", NULL},
		{"", "t.conf: relay_domains is empty: nothing would be accepted"},
		{"relay_domains =\n", "t.conf: relay_domains is empty: nothing would be accepted"},
		{"relay_domains = a.test\nlisten =\n",
		 "t.conf: listen is empty: nothing would be received"},
		{"relay_domains = a.test\ntls_cert = CERT\n",
		 "t.conf: tls_cert is set but tls_key is not"},
		{"relay_domains = a.test\ntls_key = KEY\n",
		 "t.conf: tls_key is set but tls_cert is not"},
		{"relay_domains = a.test\ntls_cert = CERT\ntls_key = KEY\n", NULL},
		{"relay_domains = a.test\ntls_cert = /nonexistent/c.pem\ntls_key = KEY\n",
		 "t.conf: tls_cert '/nonexistent/c.pem': No such file or directory"},
		{"relay_domains = a.test\ntls_cert = CERT\ntls_key = /nonexistent/k.pem\n",
		 "t.conf: tls_key '/nonexistent/k.pem': No such file or directory"},
		{"relay_domains = a.test\nretry_min = 2h\n",
		 "t.conf: retry_min (7200) is greater than retry_max (1800)"},
		{"relay_domains = a.test\nretry_min = 30m\n", NULL},
		{"relay_domains = a.test\nspool = /"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		 "t.conf: control_socket: path missing or longer than 107 bytes"},
	};

	(void)state;
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	write_file(cert, "cert\n");
	write_file(key, "key\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		subst(text, sizeof(text), cases[i].text, cert, key);
		assert_int_equal(parse(&cfg, text, 0, err), 0);
		int rc = config_validate(&cfg, err, sizeof(err));
		if (cases[i].err) {
			if (rc != -1 || strcmp(err, cases[i].err) != 0)
				print_error("case %zu: rc %d '%s'\n", i, rc, err);
			assert_int_equal(rc, -1);
			assert_string_equal(err, cases[i].err);
		} else {
			if (rc != 0)
				print_error("case %zu: %s\n", i, err);
			assert_int_equal(rc, 0);
		}
		config_free(&cfg);
	}
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

/* config_load reads a file; errors name the path (and line). */
static void test_load(void **state)
{
	const char *dir = tmpdir();
	char path[128], err[ERRLEN], want[256];
	struct config cfg;

	(void)state;
	snprintf(path, sizeof(path), "%s/backupmx.conf", dir);
	write_file(path, "relay_domains = example.com\nspool = /tmp/spool\n");
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), 0);
	assert_string_equal(cfg.path, path);
	assert_string_equal(cfg.spool, "/tmp/spool");
	assert_string_equal(cfg.control_socket, "/tmp/spool/control");
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), 0);
	config_free(&cfg);

	write_file(path, "relay_domains = example.com\nmax_recipients = none\n");
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: max_recipients: 'none' is not a number", path);
	assert_string_equal(err, want);
	config_free(&cfg);

	write_file(path, "");
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), 0);
	assert_int_equal(config_validate(&cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: relay_domains is empty: nothing would be accepted",
		 path);
	assert_string_equal(err, want);
	config_free(&cfg);
	unlink(path);

	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, want);
	config_free(&cfg);

	assert_int_equal(config_load(&cfg, dir, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory", dir);
	assert_string_equal(err, want);
	config_free(&cfg);
	rmdir(dir);
}

/* ---- dump ---- */

static const char full_conf[] =
	"hostname = mx2.example.test\n"
	"listen = 127.0.0.3:2525, [::1]:2525\n"
	"spool = /var/tmp/bmx\n"
	"relay_domains = example.test, .example.test\n"
	"relay_domains = other.test\n"
	"recipients = /etc/backupmx/recipients\n"
	"max_message_size = 50M\n"
	"max_recipients = 100\n"
	"max_connections = 500\n"
	"max_connections_per_ip = 5\n"
	"max_errors = 4\n"
	"max_received_headers = 60\n"
	"command_timeout = 2m\n"
	"data_timeout = 5m\n"
	"tls_cert = /etc/ssl/mx2.pem\n"
	"tls_key = /etc/ssl/mx2.key\n"
	"user = backupmx\n"
	"resolver = 127.0.0.1@5353\n"
	"relay_port = 2526\n"
	"control_socket = /run/backupmx.sock\n"
	"log_level = debug\n"
	"syslog = yes\n"
	"proxy_interfaces = 203.0.113.3\n"
	"bind_address = 203.0.113.3\n"
	"bind_address6 = 2001:DB8::3\n"
	"etrn_networks = 127.0.0.2, 2001:db8::/48\n"
	"tls_policy = encrypt\n"
	"tls_policy example.test = verify\n"
	"route example.test = [127.0.0.2], mx1.example.test:25\n"
	"route other.test = [::1]:2527\n"
	"probe_interval = 2\n"
	"max_concurrency = 20\n"
	"retry_min = 30s\n"
	"retry_max = 10m\n"
	"queue_lifetime = 1h\n"
	"delay_warning = 4h\n"
	"recipient_verify = yes\n"
	"recipient_verify_down = accept\n"
	"primary_up = defer\n"
	"dnsbl_sites = bl.test*2, wl.test=127.0.[0..255].[1;2]*-3\n"
	"dnsbl_threshold = 2\n"
	"dnsbl_action = tempfail\n"
	"dnsbl_timeout = 5s\n"
	"bounce_policy = never\n"
	"milters = inet:127.0.0.1:11332, unix:/run/opendkim/opendkim.sock\n"
	"milter_default_action = accept\n"
	"milter_connect_timeout = 5\n"
	"milter_command_timeout = 10\n"
	"milter_content_timeout = 2m\n"
	"verify_positive_ttl = 7d\n"
	"verify_negative_ttl = 1d\n"
	"connect_timeout = 10\n"
	"status_listen = 127.0.0.1:8025\n"
	"alert_webhook = http://127.0.0.1:9000/hook?x=1\n"
	"alert_queue_age = 1h\n";

/* The exact dump of full_conf: every key, in a fixed order. */
static const char full_dump[] =
	"hostname = mx2.example.test\n"
	"listen = 127.0.0.3:2525, [::1]:2525\n"
	"spool = /var/tmp/bmx\n"
	"relay_domains = example.test, .example.test, other.test\n"
	"recipients = /etc/backupmx/recipients\n"
	"max_message_size = 52428800\n"
	"max_recipients = 100\n"
	"max_connections = 500\n"
	"max_connections_per_ip = 5\n"
	"max_errors = 4\n"
	"max_received_headers = 60\n"
	"command_timeout = 120\n"
	"data_timeout = 300\n"
	"tls_cert = /etc/ssl/mx2.pem\n"
	"tls_key = /etc/ssl/mx2.key\n"
	"user = backupmx\n"
	"resolver = 127.0.0.1@5353\n"
	"relay_port = 2526\n"
	"control_socket = /run/backupmx.sock\n"
	"log_level = debug\n"
	"syslog = yes\n"
	"proxy_interfaces = 203.0.113.3\n"
	"bind_address = 203.0.113.3\n"
	"bind_address6 = 2001:db8::3\n"
	"etrn_networks = 127.0.0.2/32, 2001:db8::/48\n"
	"tls_policy = encrypt\n"
	"tls_policy example.test = verify\n"
	"route example.test = [127.0.0.2]:2526, mx1.example.test:25\n"
	"route other.test = [::1]:2527\n"
	"route_maps =\n"
	"tls_policy_maps =\n"
	"probe_interval = 2\n"
	"max_concurrency = 20\n"
	"retry_min = 30\n"
	"retry_max = 600\n"
	"queue_lifetime = 3600\n"
	"delay_warning = 14400\n"
	"recipient_verify = yes\n"
	"recipient_verify_down = accept\n"
	"primary_up = defer\n"
	"dnsbl_sites = bl.test*2, wl.test=127.0.[0..255].[1;2]*-3\n"
	"dnsbl_threshold = 2\n"
	"dnsbl_action = tempfail\n"
	"dnsbl_timeout = 5\n"
	"bounce_policy = never\n"
	"milters = inet:127.0.0.1:11332, unix:/run/opendkim/opendkim.sock\n"
	"milter_default_action = accept\n"
	"milter_connect_timeout = 5\n"
	"milter_command_timeout = 10\n"
	"milter_content_timeout = 120\n"
	"verify_positive_ttl = 604800\n"
	"verify_negative_ttl = 86400\n"
	"connect_timeout = 10\n"
	"status_listen = 127.0.0.1:8025\n"
	"alert_webhook = http://127.0.0.1:9000/hook?x=1\n"
	"alert_queue_age = 3600\n";

/* Dump, re-parse the dump, dump again: the two dumps are identical. */
static void round_trip(const char *text, const char *want)
{
	struct config a, b;
	char err[ERRLEN];

	assert_int_equal(parse(&a, text, 0, err), 0);
	char *d1 = dump(&a);
	if (want)
		assert_string_equal(d1, want);
	assert_int_equal(parse(&b, d1, 0, err), 0);
	char *d2 = dump(&b);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);
	config_free(&a);
	config_free(&b);
}

/* The dump shows every key in a stable order and reads back to the same dump. */
static void test_dump_round_trip(void **state)
{
	(void)state;
	round_trip(full_conf, full_dump);
	round_trip("", NULL);
	round_trip("listen =\nrelay_domains =\nresolver = recursive\n", NULL);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		round_trip(good[i].text, NULL);
}

/* ---- the shipped example config and the key table in the docs ---- */

/* etc/backupmx.conf parses, and its commented "#key = value" lines are the defaults. */
static void test_example_conf(void **state)
{
	char *text = slurp("etc/backupmx.conf"), *docs = slurp("docs/config-keys.md");
	struct config cfg, def;
	char err[ERRLEN];

	(void)state;
	if (!text || !docs) {
		free(text);
		free(docs);
		skip();  /* run from the top of the source tree */
		return;
	}
	assert_int_equal(parse(&cfg, text, 0, err), 0);
	config_free(&cfg);

	/* uncomment every "#key = value" line (a '#' directly before a key) */
	size_t n = strlen(text), o = 0, nkeys = 0;
	char *un = malloc(n + 1);
	assert_non_null(un);
	for (size_t i = 0; i < n;) {
		const char *eol = strchr(text + i, '\n');
		size_t ll = eol ? (size_t)(eol - text - i) + 1 : n - i;
		if (text[i] == '#' && text[i + 1] >= 'a' && text[i + 1] <= 'z') {
			memcpy(un + o, text + i + 1, ll - 1);
			o += ll - 1;
			nkeys++;
		} else {
			memcpy(un + o, text + i, ll);
			o += ll;
		}
		i += ll;
	}
	un[o] = '\0';
	int rc = parse(&cfg, un, 0, err);
	if (rc != 0)
		print_error("uncommented example: %s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(parse(&def, "", 0, err), 0);
	char *d1 = dump(&cfg), *d2 = dump(&def);
	assert_string_equal(d1, d2);

	/* every key of the dump is shown in the example and in the docs table */
	for (char *line = d2; line && *line;) {
		char key[64], pat[80];
		char *eol = strchr(line, '\n');
		assert_int_equal(sscanf(line, "%63s", key), 1);
		char pat2[80];
		snprintf(pat, sizeof(pat), "\n#%s =", key);
		snprintf(pat2, sizeof(pat2), "\n# %s =", key);
		if (!strstr(text, pat) && !strstr(text, pat2))
			print_error("etc/backupmx.conf lacks '%s'\n", pat + 1);
		assert_true(strstr(text, pat) || strstr(text, pat2));
		snprintf(pat, sizeof(pat), "| `%s", key);
		if (!strstr(docs, pat))
			print_error("docs/config-keys.md lacks '%s'\n", pat);
		assert_non_null(strstr(docs, pat));
		line = eol ? eol + 1 : NULL;
	}
	assert_true(nkeys >= 35);
	free(d1);
	free(d2);
	free(un);
	free(text);
	free(docs);
	config_free(&cfg);
	config_free(&def);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_line_max),
		cmocka_unit_test(test_url_max),
		cmocka_unit_test(test_list_max),
		cmocka_unit_test(test_rules_max),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_relay_domain),
		cmocka_unit_test(test_domain_rule),
		cmocka_unit_test(test_etrn_network),
		cmocka_unit_test(test_domain_norm),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_example_conf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
