/*
 * fuzz_tables.c - libFuzzer target for the table files (`file:PATH` of
 * relay_domains, etrn_networks, route_maps and tls_policy_maps), read by
 * config_tables_load() the way backupmxd reads them
 * at start and at a reload.
 *
 * The first byte picks the key; the rest is the file's content, handed over
 * in a memfd (no file on disk).  The reader must never crash, read past a
 * line or leak, whatever the bytes, also on errors (which carry path:line);
 * then a few lookups run on what was loaded.  The recipients table has its
 * own target (fuzz_rcptmap).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "common/config.h"

static const char *const fuzz_keys[] = {
	"relay_domains = file:%s\n", "etrn_networks = file:%s\n", "route_maps = file:%s\n",
	"tls_policy_maps = file:%s\n",
};

/* Lookups on a loaded config. */
static void fuzz_lookups(const struct config *cfg)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0xc0000201)};

	config_relay_domain(cfg, "a.example.com");
	config_relay_domain(cfg, "example.com");
	config_domain_rule(cfg, "example.com");
	config_etrn_network(cfg, (const struct sockaddr *)&sin);
}

/* One input: write it as a table file, load it, look things up, free. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[512], path[64], conf[128];
	if (size < 1)
		return 0;
	int fd = memfd_create("fuzz_table", 0);
	if (fd < 0)
		return 0;
	if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int n = snprintf(conf, sizeof(conf), fuzz_keys[data[0] % 4], path);
	config_defaults(&cfg);
	if (config_parse(&cfg, "/fuzz/fuzz.conf", conf, (size_t)n, err, sizeof(err)) == 0 &&
	    config_tables_load(&cfg, err, sizeof(err)) == 0) {
		fuzz_lookups(&cfg);
	}
	config_free(&cfg);
	close(fd);
	return 0;
}
