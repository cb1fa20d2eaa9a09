/*
 * fuzz_jscan.c - libFuzzer target for the bounded JSON key reader that
 * `backupmx drill` applies to history documents from a status URL.
 * Walks every object like drill does and reads string and number values.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *doc = malloc(size + 1);
	char out[512];
	if (!doc)
		return 0;
	memcpy(doc, data, size);
	doc[size] = '\0';
	const char *p = strstr(doc, "\"history\":[");
	for (p = p ? p + 11 : doc; p && (p = strchr(p, '{')) != NULL;) {
		const char *e = jscan_obj_end(p);
		if (!e)
			break;
		static const char *const keys[] = {"id", "status", "relay", "reply", "recipient"};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (jscan_str(p, e, keys[i], out, sizeof(out)) == 0 && strlen(out) >= sizeof(out))
				abort();
		(void)jscan_num(p, e, "delay");
		(void)jscan_num(p, e, "time");
		p = e + 1;
	}
	free(doc);
	return 0;
}
