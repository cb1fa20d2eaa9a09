/*
 * hdredit.h - apply the header changes a milter asked for (add, insert,
 * change, delete) to a stored message's header section.
 *
 * The header section is CRLF text ending with its empty line.  Its first
 * `hidden` fields are ours (our Received:), which the milters never saw:
 * 'm' (change or delete the n-th field of a name, 1-based) does not count
 * them, 'i' (insert after the n-th field, 0 = the top) does, as Postfix
 * does.  'h' appends.  An 'm' for a field that is not there adds it
 * (Sendmail), unless it deletes.  Pure: no I/O.
 */
#ifndef BMX_FILTER_HDREDIT_H
#define BMX_FILTER_HDREDIT_H

#include <stddef.h>

#include "common/buf.h"
#include "filter/milter.h"

#define HDREDIT_FIELDS_MAX 4096   /* header fields of one message we edit */

/* Write the changed header section (with its empty line) to out; 0, or -1
 * (too many fields, out of memory) with out unspecified. */
int hdredit_apply(const char *hdr, size_t len, size_t hidden, const struct milter_change *chg,
		  size_t n, struct bmx_buf *out);

#endif
