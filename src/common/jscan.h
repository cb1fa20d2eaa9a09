/*
 * jscan.h - bounded key lookup in flat JSON objects (see jscan.c).
 */
#ifndef BMX_JSCAN_H
#define BMX_JSCAN_H

#include <stddef.h>

/* The value of "key" inside the object [p, end), or NULL. */
const char *jscan_find(const char *p, const char *end, const char *key);
/* Copy a string value (escapes reduced, not sanitised); 0 or -1. */
int jscan_str(const char *p, const char *end, const char *key, char *out, size_t len);
/* A number value, or -1. */
double jscan_num(const char *p, const char *end, const char *key);
/* The '}' matching the '{' at p in a NUL-terminated text, or NULL. */
const char *jscan_obj_end(const char *p);

#endif
