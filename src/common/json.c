/*
 * json.c - tiny JSON writing helpers on a stdio stream.
 */
#include "common/json.h"

#include <math.h>

/* Write s as a JSON string literal. */
void json_str(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* Write the separator and the key. */
void json_key(FILE *f, int *first, const char *key)
{
	if (!*first)
		fputc(',', f);
	*first = 0;
	json_str(f, key);
	fputc(':', f);
}

/* Write "key": "value". */
void json_kv_str(FILE *f, int *first, const char *key, const char *val)
{
	json_key(f, first, key);
	json_str(f, val);
}

/* Write "key": number (integers without a fraction). */
void json_kv_num(FILE *f, int *first, const char *key, double val)
{
	json_key(f, first, key);
	if (!isfinite(val))
		fputs("null", f);
	else if (val == (double)(long long)val)
		fprintf(f, "%lld", (long long)val);
	else
		fprintf(f, "%.3f", val);
}

/* Write "key": true/false. */
void json_kv_bool(FILE *f, int *first, const char *key, int val)
{
	json_key(f, first, key);
	fputs(val ? "true" : "false", f);
}
