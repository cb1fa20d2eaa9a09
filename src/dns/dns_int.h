/*
 * dns_int.h - private state shared by the files of src/dns/ (dns.c and
 * mx_resolve.c).  Nothing outside src/dns/ may include it.
 */
#ifndef BMX_DNS_INT_H
#define BMX_DNS_INT_H

#include "common/guard.h"
#include "dns/dns.h"

struct ub_ctx;
struct dns_q;
struct dns_mx_job;

struct dns_ctx {
	struct io_loop *loop;
	struct ub_ctx *ub;
	struct io_watch *watch;     /* ub_fd() readability */
	uint64_t timeout_ms;
	long next_id;               /* ids of queries and MX jobs, one space */
	struct dns_q *queries;      /* outstanding plain queries */
	struct dns_mx_job *jobs;    /* outstanding MX resolutions (mx_resolve.c) */
	struct bmx_guard guard;     /* in use while a callback may run; killed by dns_free() */
	int submitting;             /* inside ub_resolve_async() */
	int pipe_broken;            /* ub_process() reported a dead background worker */
	unsigned ptr_inflight;      /* PTR queries libunbound holds (abandoned too) */
	struct dns_answer *spare;   /* delivers "out of memory" when a query's answer
				       cannot be allocated */
};

/* Next id for a query or MX job (> 0). */
long dns_next_id(struct dns_ctx *ctx);
/* Cancel and free every MX job, no callbacks (mx_resolve.c, called by dns_free). */
void dns_mx_free_all(struct dns_ctx *ctx);

#endif
