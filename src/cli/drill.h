/*
 * drill.h - private to "backupmx drill": the run state its files share.
 *
 *   cmd_drill.c     the subcommand: set-up, the two modes, output, exit code
 *   drill_opts.c    usage text and options (shared ones through cli_probe.c)
 *   drill_dns.c     the MX lookup
 *   drill_smtp.c    sending the tagged test message (async SMTP client)
 *   drill_follow.c  following it in backupmxd: control socket or --status-url
 *   drill_report.c  the verdict and the reports (text, JSON, Nagios)
 *
 * One struct drill lives on cli_cmd_drill()'s stack for the whole run and
 * owns the loop, the TLS context and the send records; everything runs on
 * its one io loop, one step at a time (io_loop_run until the step breaks it).
 */
#ifndef BMX_CLI_DRILL_H
#define BMX_CLI_DRILL_H

#include <stddef.h>
#include <stdint.h>

#include "check/check.h"
#include "cli/cli_probe.h"
#include "dns/dns.h"
#include "io/io.h"

/* ---- named limits ---- */
#define DRILL_COUNT_MAX      10000      /* --count */
#define DRILL_WITHIN_MAX_S   86400.0    /* --within */
#define DRILL_WITHIN_DEFAULT 60.0
#define DRILL_TAG_MAX        64         /* tag incl. NUL (and "-N" suffix) */
#define DRILL_TAG_USER_MAX   40         /* --tag length */
#define DRILL_TEXT_MAX       512        /* peer text kept (replies) */
#define DRILL_QID_MAX        64         /* queue ID kept from a 250 reply */
#define DRILL_ADDR_MAX       320        /* --from / --to */
#define DRILL_URL_MAX        160        /* --status-url */

/* One SMTP transaction (one message to one address). */
struct drill_send {
	char host[DNS_NAME_MAX];
	uint16_t pref;
	char addr[64];
	char tag[DRILL_TAG_MAX];
	int tried;              /* a session was started */
	int connected;
	int accepted;           /* 250 after the body */
	int permanent;          /* refused with 5xx */
	char stage[12];         /* where it ended: connect, mail, rcpt, data, done */
	int code;               /* last reply code (0: none) */
	char reply[DRILL_TEXT_MAX];
	char qid[DRILL_QID_MAX];
	double connect_ms, total_ms;
	/* following inside the controlled backupmxd */
	int followed;           /* the daemon knows the queue ID */
	int held_queued;        /* seen in the queue while held (--hold) */
	char fstatus[16];       /* sent, deferred, bounced, expired, timeout, "" */
	char frelay[256];
	char freply[DRILL_TEXT_MAX];
	int filtered;           /* the backup's milters judged it ("received" entry) */
	char ffilter[DRILL_TEXT_MAX];   /* their verdicts */
	char fauthres[DRILL_TEXT_MAX];  /* our Authentication-Results they added */
	double e2e_s;           /* send -> seen delivered */
	double fdelay;          /* the daemon's own delay */
};

/* The options and the whole run. */
struct drill {
	/* options */
	struct cli_probe p;        /* the options shared with "check", and DOMAIN */
	const char *domain;        /* p.domain */
	const char *from, *to;     /* from_buf, to_buf */
	const char *config, *control;
	const char *status_url;    /* --status-url, validated into http_url */
	int hold, via_mx, count;
	double within_s;
	char tag[DRILL_TAG_MAX];
	char from_buf[DRILL_ADDR_MAX + 1], to_buf[DRILL_ADDR_MAX + 1];
	struct io_url http_url;    /* --status-url, parsed */
	/* run */
	struct io_loop *loop;
	struct io_tls *tls;
	struct dns_mx_set *set;
	int dns_done;
	size_t nprimary;
	struct drill_send *send;   /* drill: one per backup; via-mx: one per message */
	size_t nsend;
	int private_seen;
	int unknown;               /* exit 3 reason set */
	char note[512];            /* a run-level problem */
	char last_error[256];      /* the daemon's last delivery error, when a message timed out */
	int critical;
	int control_used, control_found;
	int follow;                /* control socket or status URL */
	double elapsed_ms;
};

/* drill_opts.c: parse the options into d; -1 to go on, or the exit code. */
int drill_options(struct drill *d, int argc, char **argv);

/* drill_dns.c: resolve the MX set of d->domain into d->set; 0, or -1 with
 * d->note set (and d->unknown or d->critical). */
int drill_resolve(struct drill *d);

/* drill_smtp.c: send to one host, its addresses in order until one answers. */
void drill_send_host(struct drill *d, const struct dns_mx_host *h, struct drill_send *s);
/* drill_smtp.c: send one message like an RFC 5321 sender (MX order, fall back). */
void drill_send_via_mx(struct drill *d, struct drill_send *s);

/* drill_follow.c: seconds on the monotonic clock. */
double drill_now_s(void);
/* drill_follow.c: send "VERB DOMAIN" to the daemon; 0 or -1 (d->note set). */
int drill_ctl_verb(struct drill *d, const char *verb);
/* drill_follow.c: whether the daemon holds s in its queue: 1, 0, or -1 no daemon. */
int drill_show(struct drill *d, const struct drill_send *s);
/* drill_follow.c: follow the accepted messages until sent or --within. */
void drill_follow(struct drill *d, double t_sent);

/* drill_report.c: the verdict (exit code) and the one-line summary. */
enum check_state drill_verdict(const struct drill *d, char *sum, size_t len);
/* drill_report.c: render the report in the chosen output format. */
void drill_report(struct bmx_buf *b, const struct drill *d, enum check_state st,
		  const char *sum);

#endif
