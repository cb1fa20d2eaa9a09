/*
 * json.h - tiny JSON writing helpers on a stdio stream (RFC 8259).
 *
 * Only what the status and control documents need: escaped strings and
 * "key": value pairs.  Every string is escaped, so attacker text (envelope
 * addresses, replies) can never break the document.
 */
#ifndef BMX_JSON_H
#define BMX_JSON_H

#include <stdio.h>

/* Write s as a JSON string literal (NULL as null). */
void json_str(FILE *f, const char *s);
/* Write "key": "value" with a leading comma unless first. */
void json_kv_str(FILE *f, int *first, const char *key, const char *val);
/* Write "key": number. */
void json_kv_num(FILE *f, int *first, const char *key, double val);
/* Write "key": true/false. */
void json_kv_bool(FILE *f, int *first, const char *key, int val);
/* Write the separator and "key": , leaving the value to the caller. */
void json_key(FILE *f, int *first, const char *key);

#endif
