/*
 * milter.h - the milter client (Sendmail milter protocol version 6): the
 * message a backup stores while the primary is down goes past the same
 * filter engines the primary uses (rspamd, opendkim, spamass-milter,
 * clamav-milter), configured as `milters = inet:HOST:PORT, unix:PATH`.
 *
 * One struct milter_txn is one message's conversation with every
 * configured milter, each over its own connection, fed in parallel: the
 * envelope when DATA starts, each header, the end of the headers, the body
 * in chunks as it arrives, and the end of the message.  The verdict is the
 * first refusal in the order of `milters` (reject, tempfail, a reply code,
 * discard), else accept.  A milter that cannot be reached, is slower than
 * its timeout or speaks garbage gets milter_default_action.  The header
 * changes that accepting milters ask for (add, insert, change, delete) come
 * with the verdict, for the caller to apply (hdredit.c); recipient, sender and body
 * changes and quarantine are counted and logged, not applied.  Loop thread
 * only; the codec is milter_proto.c.
 */
#ifndef BMX_FILTER_MILTER_H
#define BMX_FILTER_MILTER_H

#include <stddef.h>

#include "common/config.h"
#include "io/io.h"

#define MILTERS_MAX        8          /* entries in `milters` */
#define MILTER_QUEUE_MAX   (1 << 20)  /* octets queued for one milter before the body pauses */
#define MILTER_LINE_MAX    512        /* our reply line for a refusal */
#define MILTER_CHANGES_MAX 64         /* header changes kept from one message */
#define MILTER_SUMMARY_MAX 512        /* the verdict summary line (history, drills) */

struct milter_set;
struct milter_txn;

/* The message and its client, as the milters are told. */
struct milter_facts {
	const char *qid, *hostname;
	const char *client_addr, *client_name, *helo;   /* client_name "" if none */
	int client_port;
	const char *sender;
	const char *const *rcpts;
	size_t nrcpt;
};

enum milter_verdict { MILTER_V_ACCEPT = 0, MILTER_V_REJECT, MILTER_V_TEMPFAIL, MILTER_V_DISCARD };

/* One header change ('h' add, 'i' insert, 'm' change; value "" with 'm'
 * deletes); value is CRLF-folded, without the leading space. */
struct milter_change {
	char kind;
	unsigned index;
	char *name, *value;
};

struct milter_result {
	enum milter_verdict v;
	char reply[MILTER_LINE_MAX];    /* reject/tempfail: our whole reply line */
	char who[128];                  /* the milter that decided, "" for accept */
	unsigned changes;               /* other changes asked for (not applied) */
	char summary[MILTER_SUMMARY_MAX];   /* every milter and its verdict, in order */
	const struct milter_change *chg;   /* accept: header changes, in order (owned by the txn) */
	size_t nchg;
};

/* The verdict; t stays valid until milter_txn_free(). */
typedef void (*milter_done_cb)(struct milter_txn *t, const struct milter_result *r, void *arg);
/* The body may take more after milter_txn_body() said 1. */
typedef void (*milter_room_cb)(void *arg);

/* The milters of cfg (validated by the config reader); NULL when none. */
struct milter_set *milter_set_new(struct io_loop *loop, const struct config *cfg);
void milter_set_free(struct milter_set *ms);
/* Check one `milters` entry ("inet:HOST:PORT" with a numeric host, or
 * "unix:/PATH"); 0 or -1. */
int milter_addr_check(const char *spec);
/* Our reply line when milters fail (milter_default_action), NULL for accept. */
const char *milter_default_reply(const struct config *cfg);
/* Start a message (connect, negotiate, the envelope); NULL without memory. */
struct milter_txn *milter_txn_start(struct milter_set *ms, const struct milter_facts *f,
				    milter_done_cb done, milter_room_cb room, void *arg);
/* One header field (name without the colon, value as received, folding
 * included, without the final CRLF). */
void milter_txn_header(struct milter_txn *t, const char *name, size_t nlen, const char *value,
		       size_t vlen);
/* The end of the header section. */
void milter_txn_eoh(struct milter_txn *t);
/* Body octets; 0, or 1 when a milter's queue is full (wait for room). */
int milter_txn_body(struct milter_txn *t, const void *p, size_t n);
/* The message is complete: the done callback follows (never from inside). */
void milter_txn_end(struct milter_txn *t);
/* Abort (if running) and free; no callback afterwards.  NULL is ok. */
void milter_txn_free(struct milter_txn *t);

#endif
