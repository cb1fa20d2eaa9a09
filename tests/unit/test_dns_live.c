/*
 * test_dns_live.c - the asynchronous resolver of src/dns/ against a real
 * unbound server.
 *
 * The test starts "unbound -d -c FILE" itself on 127.0.0.1 at a free port,
 * with a temporary configuration that serves every zone the cases need (two
 * MX with their own TTLs, a null MX, NXDOMAIN, no MX but an A record, an MX
 * pointing at a CNAME, a refused zone, PTR, TLSA), and forwards libunbound
 * to it.  Everything outside those zones is answered by the server itself
 * ("." is a static zone), so nothing ever leaves loopback.  The timeout path
 * forwards to a UDP port we hold open and never read.  unbound is killed by
 * PID in the teardown.  Without unbound every test is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dns/dns.h"
#include "dns/mx.h"
#include "io/io.h"

#define T_UNBOUND      "/usr/sbin/unbound"
#define T_GUARD_MS     15000   /* no test may wait longer than this for its callbacks */
#define T_READY_MS     5000    /* unbound must listen within this */

static const char t_zones[] =
	"    local-zone: \".\" static\n"
	"    local-zone: \"example.test.\" static\n"
	"    local-data: \"example.test. 3600 IN SOA ns.example.test. hm.example.test. 1 3600 900 "
	"604800 300\"\n"
	"    local-data: \"example.test. 3600 IN MX 10 mx1.example.test.\"\n"
	"    local-data: \"example.test. 3600 IN MX 20 MX2.example.test.\"\n"
	"    local-data: \"mx1.example.test. 300 IN A 127.0.0.2\"\n"
	"    local-data: \"mx1.example.test. 300 IN A 127.0.0.12\"\n"
	"    local-data: \"mx1.example.test. 600 IN AAAA ::2\"\n"
	"    local-data: \"mx2.example.test. 400 IN A 127.0.0.3\"\n"
	"    local-data: \"_25._tcp.mx1.example.test. 300 IN TLSA 3 1 1 "
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n"
	"    local-zone: \"nullmx.test.\" static\n"
	"    local-data: \"nullmx.test. 3600 IN SOA ns.nullmx.test. hm.nullmx.test. 1 3600 900 "
	"604800 300\"\n"
	"    local-data: \"nullmx.test. 1800 IN MX 0 .\"\n"
	"    local-data: \"nullmx.test. 1800 IN A 127.0.0.9\"\n"
	"    local-zone: \"nomx.test.\" static\n"
	"    local-data: \"nomx.test. 3600 IN SOA ns.nomx.test. hm.nomx.test. 1 3600 900 604800 "
	"300\"\n"
	"    local-data: \"nomx.test. 120 IN A 127.0.0.4\"\n"
	"    local-zone: \"nothing.test.\" static\n"
	"    local-data: \"nothing.test. 3600 IN SOA ns.nothing.test. hm.nothing.test. 1 3600 900 "
	"604800 300\"\n"
	"    local-zone: \"cname.test.\" static\n"
	"    local-data: \"cname.test. 3600 IN SOA ns.cname.test. hm.cname.test. 1 3600 900 "
	"604800 300\"\n"
	"    local-data: \"cname.test. 3600 IN MX 10 alias.cname.test.\"\n"
	"    local-data: \"cname.test. 3600 IN MX 20 192.0.2.1.\"\n"
	"    local-data: \"alias.cname.test. 3600 IN CNAME real.cname.test.\"\n"
	"    local-data: \"real.cname.test. 60 IN A 127.0.0.5\"\n"
	"    local-zone: \"partial.test.\" static\n"
	"    local-data: \"partial.test. 3600 IN SOA ns.partial.test. hm.partial.test. 1 3600 900 "
	"604800 300\"\n"
	"    local-data: \"partial.test. 3600 IN MX 10 ok.partial.test.\"\n"
	"    local-data: \"partial.test. 3600 IN MX 20 mx.refused.test.\"\n"
	"    local-data: \"ok.partial.test. 300 IN A 127.0.0.6\"\n"
	"    local-zone: \"refused.test.\" refuse\n"
	"    local-zone: \"2.0.192.in-addr.arpa.\" static\n"
	"    local-data: \"2.0.192.in-addr.arpa. 3600 IN SOA ns.example.test. hm.example.test. 1 "
	"3600 900 604800 300\"\n"
	"    local-data: \"10.2.0.192.in-addr.arpa. 700 IN PTR mx1.example.test.\"\n"
	"    local-zone: \"127.in-addr.arpa.\" static\n"
	"    local-data: \"127.in-addr.arpa. 3600 IN SOA ns.example.test. hm.example.test. 1 "
	"3600 900 604800 300\"\n"
	"    local-data: \"2.0.0.127.in-addr.arpa. 800 IN PTR mx1.example.test.\"\n";

static pid_t t_pid = -1;
static int t_port;
static char t_dir[64];
static char t_fwd[64];
static int t_have_unbound;

/* Find a port that is free for both UDP and TCP on 127.0.0.1. */
static int t_free_port(void)
{
	for (int tries = 0; tries < 20; tries++) {
		struct sockaddr_in sin = {.sin_family = AF_INET};
		socklen_t len = sizeof(sin);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int u = socket(AF_INET, SOCK_DGRAM, 0);
		if (u < 0)
			return -1;
		if (bind(u, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    getsockname(u, (struct sockaddr *)&sin, &len) < 0) {
			close(u);
			return -1;
		}
		int t = socket(AF_INET, SOCK_STREAM, 0);
		int ok = t >= 0 && bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		if (t >= 0)
			close(t);
		close(u);
		if (ok)
			return ntohs(sin.sin_port);
	}
	return -1;
}

/* Can we connect over TCP to 127.0.0.1:port? */
static int t_tcp_up(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return 0;
	int ok = connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(s);
	return ok;
}

/* Sleep for ms milliseconds. */
static void t_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Print unbound's log (on failure). */
static void t_dump_log(void)
{
	char path[128], line[512];
	snprintf(path, sizeof(path), "%s/unbound.log", t_dir);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		fprintf(stderr, "unbound: %s", line);
	fclose(f);
}

/* Write the config, start unbound in the foreground and wait until it listens. */
static int group_setup(void **state)
{
	char conf[128], log[128];

	(void)state;
	if (access(T_UNBOUND, X_OK) != 0) {
		fprintf(stderr, "test_dns_live: %s not installed, skipping\n", T_UNBOUND);
		return 0;
	}
	snprintf(t_dir, sizeof(t_dir), "/tmp/bmx-dnslive-XXXXXX");
	if (mkdtemp(t_dir) == NULL)
		return -1;
	t_port = t_free_port();
	if (t_port < 0)
		return -1;
	snprintf(conf, sizeof(conf), "%s/unbound.conf", t_dir);
	snprintf(log, sizeof(log), "%s/unbound.log", t_dir);
	FILE *f = fopen(conf, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"server:\n"
		"    interface: 127.0.0.1@%d\n"
		"    port: %d\n"
		"    do-daemonize: no\n"
		"    username: \"\"\n"
		"    chroot: \"\"\n"
		"    directory: \"%s\"\n"
		"    pidfile: \"\"\n"
		"    use-syslog: no\n"
		"    logfile: \"\"\n"
		"    do-ip6: no\n"
		"    access-control: 127.0.0.0/8 allow\n"
		"    module-config: \"iterator\"\n"
		"    rrset-roundrobin: no\n"
		"%s"
		"remote-control:\n"
		"    control-enable: no\n",
		t_port, t_port, t_dir, t_zones);
	fclose(f);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(T_UNBOUND, "unbound", "-d", "-c", conf, (char *)NULL);
		_exit(127);
	}
	t_pid = pid;
	for (int waited = 0; waited < T_READY_MS; waited += 20) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			t_pid = -1;
			t_dump_log();
			fprintf(stderr, "test_dns_live: unbound exited at start\n");
			return -1;
		}
		if (t_tcp_up(t_port)) {
			snprintf(t_fwd, sizeof(t_fwd), "127.0.0.1@%d", t_port);
			t_have_unbound = 1;
			return 0;
		}
		t_sleep_ms(20);
	}
	t_dump_log();
	return -1;
}

/* Kill unbound by PID and remove the temp files. */
static int group_teardown(void **state)
{
	char path[128];

	(void)state;
	if (t_pid > 0) {
		kill(t_pid, SIGTERM);
		for (int i = 0; i < 100 && waitpid(t_pid, NULL, WNOHANG) == 0; i++)
			t_sleep_ms(20);
		kill(t_pid, SIGKILL);
		waitpid(t_pid, NULL, 0);
		t_pid = -1;
	}
	if (t_dir[0] != '\0') {
		snprintf(path, sizeof(path), "%s/unbound.conf", t_dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/unbound.log", t_dir);
		unlink(path);
		rmdir(t_dir);
	}
	return 0;
}

/* ---- a tiny harness: run the loop until the expected callbacks have come ---- */

struct t_run {
	struct io_loop *loop;
	struct dns_ctx *dns;
	struct io_timer *guard;
	int pending;
	int timed_out;
	int in_call;               /* set while inside dns_query()/dns_mx_resolve() */
};

static struct t_run T;

/* The guard timer: give up waiting. */
static void t_guard_cb(void *arg)
{
	(void)arg;
	T.timed_out = 1;
	io_loop_break(T.loop);
}

/* New loop and resolver (forwarding to fwd). */
static void t_start(const char *fwd)
{
	char err[256];

	memset(&T, 0, sizeof(T));
	T.loop = io_loop_new();
	assert_non_null(T.loop);
	T.dns = dns_new(T.loop, fwd, 0, err, sizeof(err));
	if (T.dns == NULL)
		fail_msg("dns_new(%s): %s", fwd, err);
	T.guard = io_timer_new(T.loop, t_guard_cb, NULL);
	assert_non_null(T.guard);
}

/* Run until every expected callback came. */
static void t_wait(void)
{
	io_timer_add(T.guard, T_GUARD_MS);
	while (T.pending > 0 && !T.timed_out)
		io_loop_run(T.loop);
	io_timer_del(T.guard);
	assert_false(T.timed_out);
}

/* Free resolver and loop. */
static void t_stop(void)
{
	dns_free(T.dns);
	io_timer_free(T.guard);
	io_loop_free(T.loop);
	memset(&T, 0, sizeof(T));
}

/* One callback arrived. */
static void t_done(void)
{
	assert_false(T.in_call);
	if (--T.pending == 0)
		io_loop_break(T.loop);
}

/* Keep a copy of a plain answer. */
static void t_ans_cb(const struct dns_answer *ans, void *arg)
{
	memcpy(arg, ans, sizeof(*ans));
	t_done();
}

/* Keep a copy of an MX set. */
static void t_mx_cb(const struct dns_mx_set *set, void *arg)
{
	memcpy(arg, set, sizeof(*set));
	t_done();
}

/* Start a plain query under the in_call guard. */
static long t_query(const char *name, int type, struct dns_answer *out)
{
	T.in_call = 1;
	long id = dns_query(T.dns, name, type, t_ans_cb, out);
	T.in_call = 0;
	assert_true(id > 0);
	T.pending++;
	return id;
}

/* Start an MX resolution under the in_call guard. */
static long t_mx(const char *domain, unsigned flags, struct dns_mx_set *out)
{
	T.in_call = 1;
	long id = dns_mx_resolve(T.dns, domain, flags, t_mx_cb, out);
	T.in_call = 0;
	assert_true(id > 0);
	T.pending++;
	return id;
}

/* Address to text. */
static const char *t_ntop(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	if (ss->ss_family == AF_INET)
		return inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf,
				 (socklen_t)len);
	return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf,
			 (socklen_t)len);
}

#define NEED_UNBOUND() do { if (!t_have_unbound) skip(); } while (0)

/* ---- cases ---- */

/* Plain A, AAAA, MX, PTR, TLSA queries, NXDOMAIN and NODATA with their TTLs. */
static void test_plain_queries(void **state)
{
	static struct dns_answer a, aaaa, mx, ptr, ptr127, tlsa, nx, nodata;
	struct sockaddr_in lo2 = {.sin_family = AF_INET};
	char rev[128];
	char buf[64];

	(void)state;
	NEED_UNBOUND();
	t_start(t_fwd);
	t_query("mx1.example.test", DNS_T_A, &a);
	t_query("MX1.example.test.", DNS_T_AAAA, &aaaa);
	t_query("example.test", DNS_T_MX, &mx);
	t_query("10.2.0.192.in-addr.arpa", DNS_T_PTR, &ptr);
	inet_pton(AF_INET, "127.0.0.2", &lo2.sin_addr);
	assert_int_equal(dns_ptr_name((struct sockaddr *)&lo2, rev, sizeof(rev)), 0);
	t_query(rev, DNS_T_PTR, &ptr127);
	t_query("_25._tcp.mx1.example.test", DNS_T_TLSA, &tlsa);
	t_query("nx.example.test", DNS_T_A, &nx);
	t_query("mx2.example.test", DNS_T_AAAA, &nodata);
	t_wait();

	assert_int_equal(a.status, DNS_OK);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.ttl, 300);
	assert_int_equal(a.sec, DNS_SEC_INSECURE);
	assert_string_equal(a.qname, "mx1.example.test");
	assert_int_equal(a.cname, 0);
	assert_string_equal(t_ntop(&a.addr[0], buf, sizeof(buf)), "127.0.0.2");
	assert_string_equal(t_ntop(&a.addr[1], buf, sizeof(buf)), "127.0.0.12");

	assert_int_equal(aaaa.status, DNS_OK);
	assert_int_equal(aaaa.n, 1);
	assert_int_equal(aaaa.ttl, 600);
	assert_string_equal(aaaa.qname, "mx1.example.test");
	assert_string_equal(t_ntop(&aaaa.addr[0], buf, sizeof(buf)), "::2");

	assert_int_equal(mx.status, DNS_OK);
	assert_int_equal(mx.n, 2);
	assert_int_equal(mx.ttl, 3600);
	int i10 = mx.mx[0].pref == 10 ? 0 : 1;
	assert_int_equal(mx.mx[i10].pref, 10);
	assert_string_equal(mx.mx[i10].host, "mx1.example.test");
	assert_int_equal(mx.mx[1 - i10].pref, 20);
	assert_string_equal(mx.mx[1 - i10].host, "mx2.example.test");

	assert_int_equal(ptr.status, DNS_OK);
	assert_int_equal(ptr.n, 1);
	assert_int_equal(ptr.ttl, 700);
	assert_string_equal(ptr.name[0], "mx1.example.test");
	assert_int_equal(ptr127.status, DNS_OK);
	assert_int_equal(ptr127.ttl, 800);
	assert_string_equal(ptr127.name[0], "mx1.example.test");

	assert_int_equal(tlsa.status, DNS_OK);
	assert_int_equal(tlsa.n, 1);
	assert_int_equal(tlsa.tlsa[0].usage, 3);
	assert_int_equal(tlsa.tlsa[0].len, 32);
	assert_int_equal(tlsa.tlsa[0].data[0], 0x01);

	assert_int_equal(nx.status, DNS_NXDOMAIN);
	assert_int_equal(nx.rcode, 3);
	assert_int_equal(nx.ttl, 300);

	assert_int_equal(nodata.status, DNS_NODATA);
	assert_int_equal(nodata.n, 0);
	t_stop();
}

/* Two MX hosts with TTLs, addresses A then AAAA, sorted by preference. */
static void test_mx_two_hosts(void **state)
{
	static struct dns_mx_set set;
	char buf[64];

	(void)state;
	NEED_UNBOUND();
	t_start(t_fwd);
	t_mx("Example.TEST.", 0, &set);
	t_wait();
	assert_int_equal(set.status, DNS_OK);
	assert_string_equal(set.domain, "example.test");
	assert_int_equal(set.null_mx, 0);
	assert_int_equal(set.implicit, 0);
	assert_int_equal(set.mx_ttl, 3600);
	assert_int_equal(set.mx_sec, DNS_SEC_INSECURE);
	assert_int_equal(set.nhosts, 2);
	const struct dns_mx_host *h1 = &set.host[0], *h2 = &set.host[1];
	assert_int_equal(h1->pref, 10);
	assert_string_equal(h1->name, "mx1.example.test");
	assert_int_equal(h1->a_status, DNS_OK);
	assert_int_equal(h1->aaaa_status, DNS_OK);
	assert_int_equal(h1->a_ttl, 300);
	assert_int_equal(h1->aaaa_ttl, 600);
	assert_int_equal(h1->naddr, 3);
	assert_string_equal(t_ntop(&h1->addr[0], buf, sizeof(buf)), "127.0.0.2");
	assert_string_equal(t_ntop(&h1->addr[1], buf, sizeof(buf)), "127.0.0.12");
	assert_string_equal(t_ntop(&h1->addr[2], buf, sizeof(buf)), "::2");
	assert_int_equal(h1->is_cname, 0);
	assert_int_equal(h1->is_literal, 0);
	assert_int_equal(h1->implicit, 0);
	assert_int_equal(h2->pref, 20);
	assert_string_equal(h2->name, "mx2.example.test");
	assert_int_equal(h2->a_status, DNS_OK);
	assert_int_equal(h2->a_ttl, 400);
	assert_int_equal(h2->aaaa_status, DNS_NODATA);
	assert_int_equal(h2->naddr, 1);

	/* the set feeds mx_truncate_self(): we are mx2 -> only mx1 remains */
	const char *names[] = {"mx2.example.test"};
	struct mx_self self = {.nnames = 1, .names = names};
	assert_int_equal(mx_truncate_self(&set, &self), MX_SELF_TRUNCATED);
	assert_int_equal(set.nhosts, 1);
	t_stop();
}

/* DNS_MX_NO_V6 / NO_V4 skip the address family. */
static void test_mx_family_flags(void **state)
{
	static struct dns_mx_set v4, v6;

	(void)state;
	NEED_UNBOUND();
	t_start(t_fwd);
	t_mx("example.test", DNS_MX_NO_V6, &v4);
	t_mx("example.test", DNS_MX_NO_V4, &v6);
	t_wait();
	assert_int_equal(v4.status, DNS_OK);
	assert_int_equal(v4.nhosts, 2);
	for (size_t i = 0; i < v4.nhosts; i++)
		for (size_t j = 0; j < v4.host[i].naddr; j++)
			assert_int_equal(v4.host[i].addr[j].ss_family, AF_INET);
	assert_int_equal(v6.status, DNS_OK);
	size_t n6 = 0;
	for (size_t i = 0; i < v6.nhosts; i++)
		for (size_t j = 0; j < v6.host[i].naddr; j++, n6++)
			assert_int_equal(v6.host[i].addr[j].ss_family, AF_INET6);
	assert_int_equal(n6, 1);
	t_stop();
}

/* Null MX, NXDOMAIN, implicit MX, no MX and no address, CNAME and literal targets,
 * a refused host beside a good one, and a refused domain. */
static void test_mx_cases(void **state)
{
	static struct dns_mx_set nullmx, nx, implicit, nothing, cname, partial, refused;
	char buf[64];

	(void)state;
	NEED_UNBOUND();
	t_start(t_fwd);
	t_mx("nullmx.test", 0, &nullmx);
	t_mx("nx.example.test", 0, &nx);
	t_mx("nomx.test", 0, &implicit);
	t_mx("nothing.test", 0, &nothing);
	t_mx("cname.test", 0, &cname);
	t_mx("partial.test", 0, &partial);
	t_mx("refused.test", 0, &refused);
	t_wait();

	assert_int_equal(nullmx.status, DNS_OK);
	assert_int_equal(nullmx.null_mx, 1);
	assert_int_equal(nullmx.nhosts, 0);
	assert_int_equal(nullmx.mx_ttl, 1800);

	assert_int_equal(nx.status, DNS_NXDOMAIN);
	assert_int_equal(nx.nhosts, 0);

	assert_int_equal(implicit.status, DNS_OK);
	assert_int_equal(implicit.implicit, 1);
	assert_int_equal(implicit.nhosts, 1);
	assert_int_equal(implicit.host[0].implicit, 1);
	assert_int_equal(implicit.host[0].pref, 0);
	assert_string_equal(implicit.host[0].name, "nomx.test");
	assert_int_equal(implicit.host[0].a_ttl, 120);
	assert_int_equal(implicit.host[0].naddr, 1);
	assert_string_equal(t_ntop(&implicit.host[0].addr[0], buf, sizeof(buf)), "127.0.0.4");

	assert_int_equal(nothing.status, DNS_NODATA);
	assert_int_equal(nothing.nhosts, 0);

	assert_int_equal(cname.status, DNS_OK);
	assert_int_equal(cname.nhosts, 2);
	assert_string_equal(cname.host[0].name, "alias.cname.test");
	assert_int_equal(cname.host[0].is_cname, 1);
	assert_int_equal(cname.host[0].is_literal, 0);
	assert_int_equal(cname.host[0].a_status, DNS_OK);
	assert_int_equal(cname.host[0].a_ttl, 60);       /* minimum along the chain */
	assert_int_equal(cname.host[0].naddr, 1);
	assert_string_equal(t_ntop(&cname.host[0].addr[0], buf, sizeof(buf)), "127.0.0.5");
	assert_string_equal(cname.host[1].name, "192.0.2.1");
	assert_int_equal(cname.host[1].is_literal, 1);
	assert_int_equal(cname.host[1].is_cname, 0);
	assert_int_equal(cname.host[1].a_status, DNS_NXDOMAIN);
	assert_int_equal(cname.host[1].naddr, 0);

	assert_int_equal(partial.status, DNS_OK);
	assert_int_equal(partial.nhosts, 2);
	assert_int_equal(partial.host[0].a_status, DNS_OK);
	assert_int_equal(partial.host[1].a_status, DNS_TEMPFAIL);
	assert_int_equal(partial.host[1].naddr, 0);

	assert_int_equal(refused.status, DNS_TEMPFAIL);
	assert_int_equal(refused.nhosts, 0);
	t_stop();
}

/* A refused zone (REFUSED upstream) is a temporary failure of a plain query. */
static void test_refused_tempfail(void **state)
{
	static struct dns_answer ans;

	(void)state;
	NEED_UNBOUND();
	t_start(t_fwd);
	t_query("refused.test", DNS_T_MX, &ans);
	t_wait();
	assert_int_equal(ans.status, DNS_TEMPFAIL);
	assert_true(ans.why[0] != '\0');
	t_stop();
}

/* A forwarder that never answers: every query ends as TEMPFAIL "timeout" on time. */
static void test_timeout(void **state)
{
	static struct dns_answer ans;
	static struct dns_mx_set set;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	char fwd[64];

	(void)state;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int hole = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(hole >= 0);
	assert_int_equal(bind(hole, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(hole, (struct sockaddr *)&sin, &len), 0);
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%d", ntohs(sin.sin_port));

	t_start(fwd);
	dns_set_timeout(T.dns, 500);
	uint64_t t0 = io_now_ms();
	t_query("example.test", DNS_T_MX, &ans);
	t_mx("example.test", 0, &set);
	t_wait();
	uint64_t took = io_now_ms() - t0;
	assert_int_equal(ans.status, DNS_TEMPFAIL);
	assert_string_equal(ans.why, "timeout");
	assert_int_equal(set.status, DNS_TEMPFAIL);
	assert_string_equal(set.why, "timeout");
	assert_true(took >= 450);
	assert_true(took < 2500);
	t_stop();
	close(hole);
}

/* Never called: cancelled queries and jobs must stay silent. */
static void t_never_cb(const struct dns_answer *ans, void *arg)
{
	(void)ans;
	(void)arg;
	fail_msg("callback of a cancelled query ran");
}

/* Never called: cancelled MX jobs must stay silent. */
static void t_never_mx_cb(const struct dns_mx_set *set, void *arg)
{
	(void)set;
	(void)arg;
	fail_msg("callback of a cancelled MX resolution ran");
}

/* Reverse lookups a server never answers: at most DNS_PTR_INFLIGHT_MAX at
 * once, and they stay counted after their timeout or cancel (libunbound still
 * works on them); other types are not limited; dns_free() frees them all. */
static void test_ptr_inflight_limit(void **state)
{
	static struct dns_answer ans[DNS_PTR_INFLIGHT_MAX];
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	char fwd[64], name[64];
	long id[DNS_PTR_INFLIGHT_MAX];

	(void)state;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int hole = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(hole >= 0);
	assert_int_equal(bind(hole, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(hole, (struct sockaddr *)&sin, &len), 0);
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%d", ntohs(sin.sin_port));

	t_start(fwd);
	dns_set_timeout(T.dns, 300);
	for (int i = 0; i < DNS_PTR_INFLIGHT_MAX; i++) {
		snprintf(name, sizeof(name), "%d.0.2.192.in-addr.arpa", i + 1);
		id[i] = t_query(name, DNS_T_PTR, &ans[i]);
	}
	assert_int_equal(dns_ptr_inflight(T.dns), DNS_PTR_INFLIGHT_MAX);
	errno = 0;
	assert_int_equal(dns_query(T.dns, "99.0.2.192.in-addr.arpa", DNS_T_PTR, t_never_cb, NULL),
			 -1);
	assert_int_equal(errno, EAGAIN);
	/* another type is not limited; cancelled, it stays silent */
	long a = dns_query(T.dns, "mx1.example.test", DNS_T_A, t_never_cb, NULL);
	assert_true(a > 0);
	dns_cancel(T.dns, a);
	/* one PTR cancelled: no callback, still counted */
	dns_cancel(T.dns, id[0]);
	T.pending--;
	assert_int_equal(dns_ptr_inflight(T.dns), DNS_PTR_INFLIGHT_MAX);
	t_wait();
	for (int i = 1; i < DNS_PTR_INFLIGHT_MAX; i++) {
		assert_int_equal(ans[i].status, DNS_TEMPFAIL);
		assert_string_equal(ans[i].why, "timeout");
	}
	/* timed out, but libunbound has not finished them: still counted, and a
	 * cancel of a finished id does nothing */
	assert_int_equal(dns_ptr_inflight(T.dns), DNS_PTR_INFLIGHT_MAX);
	dns_cancel(T.dns, id[1]);
	assert_int_equal(dns_query(T.dns, "99.0.2.192.in-addr.arpa", DNS_T_PTR, t_never_cb, NULL),
			 -1);
	t_stop();   /* frees the abandoned queries: no leak, no callback */
	close(hole);
}

/* With the root trust anchor, the unsigned test zones cannot validate: BOGUS, never OK. */
static void test_validate_bogus(void **state)
{
	static struct dns_answer ans;
	static struct dns_mx_set set;
	char err[256];

	(void)state;
	NEED_UNBOUND();
	if (access("/usr/share/dns/root.key", R_OK) != 0)
		skip();
	memset(&T, 0, sizeof(T));
	T.loop = io_loop_new();
	assert_non_null(T.loop);
	T.dns = dns_new(T.loop, t_fwd, DNS_F_VALIDATE, err, sizeof(err));
	if (T.dns == NULL)
		fail_msg("dns_new: %s", err);
	T.guard = io_timer_new(T.loop, t_guard_cb, NULL);
	t_query("mx1.example.test", DNS_T_A, &ans);
	t_mx("example.test", 0, &set);
	t_wait();
	assert_true(strstr(ans.why, "DNSSEC") != NULL);
	assert_int_equal(ans.status, DNS_BOGUS);
	assert_int_equal(ans.sec, DNS_SEC_BOGUS);
	assert_int_equal(set.status, DNS_BOGUS);
	t_stop();
}

/* dns_cancel, dns_mx_cancel, and dns_free with queries outstanding. */
static void test_cancel_and_free(void **state)
{
	static struct dns_answer ans;

	(void)state;
	NEED_UNBOUND();
	t_start(t_fwd);
	long q = dns_query(T.dns, "mx1.example.test", DNS_T_A, t_never_cb, NULL);
	long m = dns_mx_resolve(T.dns, "example.test", 0, t_never_mx_cb, NULL);
	assert_true(q > 0 && m > 0 && q != m);
	dns_cancel(T.dns, q);
	dns_mx_cancel(T.dns, m);
	dns_cancel(T.dns, 999999);
	dns_mx_cancel(T.dns, 999999);
	t_query("mx2.example.test", DNS_T_A, &ans);
	t_wait();
	assert_int_equal(ans.status, DNS_OK);
	/* leave work outstanding and free: no callbacks, no leaks */
	assert_true(dns_query(T.dns, "mx1.example.test", DNS_T_A, t_never_cb, NULL) > 0);
	assert_true(dns_mx_resolve(T.dns, "example.test", 0, t_never_mx_cb, NULL) > 0);
	t_stop();
}

static int t_free_inside_calls;

/* Frees the whole resolver from inside a callback while others are outstanding. */
static void t_free_inside_cb(const struct dns_answer *ans, void *arg)
{
	(void)ans;
	(void)arg;
	t_free_inside_calls++;
	dns_free(T.dns);
	T.dns = NULL;
	T.pending = 0;
	io_loop_break(T.loop);
}

/* dns_free() from inside a callback is deferred safely; the rest stay silent. */
static void test_free_inside_callback(void **state)
{
	(void)state;
	NEED_UNBOUND();
	t_start(t_fwd);
	t_free_inside_calls = 0;
	assert_true(dns_query(T.dns, "mx1.example.test", DNS_T_A, t_free_inside_cb, NULL) > 0);
	assert_true(dns_query(T.dns, "mx2.example.test", DNS_T_A, t_free_inside_cb, NULL) > 0);
	assert_true(dns_query(T.dns, "nomx.test", DNS_T_A, t_free_inside_cb, NULL) > 0);
	T.pending = 1;
	t_wait();
	assert_int_equal(t_free_inside_calls, 1);
	t_stop();
}

/* Bad arguments and bad forwarders fail at once, never falling back to recursion. */
static void test_bad_arguments(void **state)
{
	static const char *bad_fwd[] = {"not-an-address", "999.1.1.1", "127.0.0.1@notaport",
					"example.com"};
	char err[256];

	(void)state;
	struct io_loop *loop = io_loop_new();
	assert_non_null(loop);
	for (size_t i = 0; i < sizeof(bad_fwd) / sizeof(bad_fwd[0]); i++) {
		err[0] = '\0';
		struct dns_ctx *d = dns_new(loop, bad_fwd[i], 0, err, sizeof(err));
		if (d != NULL)
			fail_msg("dns_new accepted forwarder \"%s\"", bad_fwd[i]);
		assert_true(strstr(err, "forwarder") != NULL);
	}
	assert_null(dns_new(NULL, "127.0.0.1", 0, err, sizeof(err)));
	/* the other modes configure without sending anything */
	static const char *modes[] = {NULL, "system", "recursive"};
	for (size_t i = 0; i < 3; i++) {
		struct dns_ctx *m = dns_new(loop, modes[i], DNS_F_VALIDATE, err, sizeof(err));
		if (m == NULL)
			fail_msg("dns_new(%s): %s", modes[i] ? modes[i] : "NULL", err);
		dns_free(m);
	}
	struct dns_ctx *d = dns_new(loop, "127.0.0.1@5353", 0, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(dns_query(d, "", DNS_T_A, t_never_cb, NULL), -1);
	assert_int_equal(dns_query(d, "a b.test", DNS_T_A, t_never_cb, NULL), -1);
	assert_int_equal(dns_query(d, "x.test", DNS_T_A, NULL, NULL), -1);
	assert_int_equal(dns_query(d, "x.test", 0, t_never_cb, NULL), -1);
	assert_int_equal(dns_mx_resolve(d, "bad..test", 0, t_never_mx_cb, NULL), -1);
	assert_int_equal(dns_mx_resolve(d, "-bad.test", 0, t_never_mx_cb, NULL), -1);
	dns_free(d);
	dns_free(NULL);
	io_loop_free(loop);
}

/* Run the cases. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_queries),
		cmocka_unit_test(test_mx_two_hosts),
		cmocka_unit_test(test_mx_family_flags),
		cmocka_unit_test(test_mx_cases),
		cmocka_unit_test(test_refused_tempfail),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_ptr_inflight_limit),
		cmocka_unit_test(test_validate_bogus),
		cmocka_unit_test(test_cancel_and_free),
		cmocka_unit_test(test_free_inside_callback),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
