/*
 * fuzz_ctl.c - libFuzzer target for the control-socket request parser.
 *
 * Arbitrary bytes go through ctl_parse().  Invariants: a success yields a
 * known verb with a NUL-terminated argument of at most CTL_ARG_MAX octets
 * and a verb name; a failure sets a message.  Parsing is pure, so a second
 * parse of the same bytes must give the same answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ctl.h"

/* libFuzzer entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_req a, b;
	const char *err = NULL, *err2 = NULL;
	char *line;
	int ra, rb;

	line = malloc(size ? size : 1);   /* exact size: ASan sees any over-read */
	if (line == NULL)
		abort();
	memcpy(line, data, size);
	memset(&a, 0x55, sizeof(a));
	memset(&b, 0xaa, sizeof(b));
	ra = ctl_parse(line, size, &a, &err);
	rb = ctl_parse(line, size, &b, &err2);
	if (ra != rb)
		abort();
	if (ra == 0) {
		if (memchr(a.arg, '\0', sizeof(a.arg)) == NULL || strlen(a.arg) > CTL_ARG_MAX)
			abort();
		if (ctl_verb_name(a.verb) == NULL || a.verb != b.verb || a.text != b.text ||
		    strcmp(a.arg, b.arg) != 0)
			abort();
	} else if (ra != -1 || err == NULL) {
		abort();
	}
	free(line);
	return 0;
}
