/*
 * dnsbl.h - DNSBL and DNSWL scoring of SMTP clients (issue 14), with
 * postscreen's syntax and meaning: dnsbl_sites, dnsbl_threshold,
 * dnsbl_action, dnsbl_timeout.
 *
 * A check starts when a client connects: one A query per list, all in
 * parallel through libunbound (src/dns), under one deadline.  Each list
 * whose answer matches adds its weight (a DNSWL's weight is negative); the
 * score is final when every answer is in or the deadline passed.  A
 * timeout, a failure, or an answer in 127.255.255.0/24 (a list's "query
 * refused" codes) counts as not listed and is logged at most once per list
 * per minute.  The site syntax itself is in dnsbl_site.c.
 */
#ifndef BMX_FILTER_DNSBL_H
#define BMX_FILTER_DNSBL_H

#include <sys/socket.h>

#include "common/config.h"
#include "dns/dns.h"
#include "io/io.h"

#define DNSBL_ERRLOG_S  60   /* a list's failures are logged at most this often */

struct dnsbl;
struct dnsbl_query;

/* The outcome of one client's check. */
struct dnsbl_result {
	int score;                  /* sum of the matching lists' weights */
	char listed_by[256];        /* the matching list with the largest weight, "" if none */
	int timed_out;              /* the deadline cut some answers short */
};

/* The check finished; q is still valid here and must be freed by the caller
 * (dnsbl_query_free), from inside this callback or later. */
typedef void (*dnsbl_cb)(struct dnsbl_query *q, const struct dnsbl_result *r, void *arg);

/* The lists of cfg (dnsbl_sites), already validated by the config reader;
 * NULL when there are none (or out of memory: logged). */
struct dnsbl *dnsbl_new(struct io_loop *loop, struct dns_ctx *dns, const struct config *cfg);
void dnsbl_free(struct dnsbl *d);
/* Start the check of client sa; cb runs once, never from inside this call.
 * NULL when it cannot start (then nothing is listed). */
struct dnsbl_query *dnsbl_query_start(struct dnsbl *d, const struct sockaddr *sa, dnsbl_cb cb,
				      void *arg);
/* Cancel (if running) and free a check; NULL is ok. */
void dnsbl_query_free(struct dnsbl_query *q);
/* Does the score reach dnsbl_threshold?  1 or 0. */
int dnsbl_listed(const struct dnsbl *d, const struct dnsbl_result *r);

#endif
