/*
 * fuzz_config.c - libFuzzer target for the backupmx.conf parser.
 *
 * Arbitrary bytes go through config_defaults, config_parse,
 * config_validate and config_dump (to /dev/null), then config_free, the
 * way backupmxd -n handles a file.  The parser must never crash, read
 * past the buffer or leak, whatever the input, including on errors.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"

static FILE *fuzz_null;

/* One input: parse, check, print, free. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[512];

	if (!fuzz_null)
		fuzz_null = fopen("/dev/null", "w");
	config_defaults(&cfg);
	if (config_parse(&cfg, "fuzz.conf", (const char *)data, size, err, sizeof(err)) == 0) {
		config_validate(&cfg, err, sizeof(err));
		if (fuzz_null)
			config_dump(&cfg, fuzz_null);
		config_relay_domain(&cfg, "a.example.com");
		config_domain_rule(&cfg, "example.com");
	}
	config_free(&cfg);
	return 0;
}
