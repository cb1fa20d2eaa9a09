/*
 * ctl.h - the control-socket protocol between `backupmx` and backupmxd.
 *
 * Over the UNIX socket named by `control_socket` (mode 0600) the client
 * sends ONE request line "[text ][force ][limit N ]VERB [ARG]\n"; the daemon
 * answers with one JSON document (or, with the "text" prefix, the
 * human-readable report of status, queue and show) and closes.  "force hold
 * D" holds a domain that is not in relay_domains.  "queue" streams: JSON
 * lines, one message per line and an {"end":...} line; "queue D" keeps the
 * messages for domain D, "limit N queue" stops after N messages.
 * Verbs: status, queue [DOMAIN], show QID, delete QID,
 * flush [DOMAIN], hold DOMAIN, release DOMAIN, metrics (Prometheus text),
 * history [QID] (recent recipient outcomes), reload (re-read the config and
 * its tables: {"reloaded":"summary"} or {"error":"file:line: message"}).
 * ctl_parse() is pure and fuzzed: anything else is refused.
 * The documents are described in docs/control.md.
 */
#ifndef BMX_CTL_H
#define BMX_CTL_H

#include <stddef.h>

#define CTL_LINE_MAX   1024   /* longest request line */
#define CTL_ARG_MAX    255    /* longest argument (a domain or a queue ID) */
#define CTL_TIMEOUT_MS 10000  /* a request must arrive within this time, and
			       * a streamed answer drain at least this often */
#define CTL_LIMIT_MAX  1000000000UL   /* largest "limit N" */

enum ctl_verb {
	CTL_STATUS = 0, CTL_QUEUE, CTL_SHOW, CTL_DELETE, CTL_FLUSH, CTL_HOLD, CTL_RELEASE,
	CTL_METRICS, CTL_HISTORY, CTL_RELOAD,
};

struct ctl_req {
	enum ctl_verb verb;
	int text;                    /* "text VERB": human-readable answer (status, queue, show) */
	int force;                   /* "force hold D": D need not be in relay_domains */
	unsigned long limit;         /* "limit N queue": at most N messages (0: all) */
	char arg[CTL_ARG_MAX + 1];   /* "" when absent */
};

/* Parse one request line (without or with the final LF).  0, or -1 with
 * *err set to a static message. */
int ctl_parse(const char *line, size_t len, struct ctl_req *req, const char **err);
/* The verb's name. */
const char *ctl_verb_name(enum ctl_verb v);

#endif
