/*
 * cmd_ctl.c - the subcommands that talk to a running backupmxd over its
 * control socket: queue, flush, hold, release, status, reload.
 *
 *   backupmx queue [--json] [--limit N] [--domain D] [-c FILE | --control PATH]
 *   backupmx queue [--json] show ID | queue [--json] delete ID
 *   backupmx flush [--json] [DOMAIN]
 *   backupmx hold [--json] [--force] DOMAIN | release [--json] DOMAIN
 *   backupmx status [--json]
 *   backupmx reload [--json]
 *
 * Lines for a person by default, the documents of docs/control.md with
 * --json; errors go to stderr.  The queue listing is printed as it arrives
 * (one JSON object per message per line with --json), never held whole: a
 * listing that ends without the daemon's end mark is an error (exit 3).
 * The socket path comes from --control, or from control_socket in the
 * config (-c, default /etc/backupmx/backupmx.conf).  Exit codes: 0 done, 1 the daemon refused
 * the request (no such message, not held, a new configuration with an
 * error, ...), 3 bad arguments or no daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/config.h"
#include "common/ctl.h"
#include "common/jscan.h"

#define CTL_REPLY_MAX (64u * 1024 * 1024)   /* largest answer we read */
#define CTL_QLINE_MAX (16u * 1024 * 1024)   /* longest line of a queue listing */
#define CTL_END_MARK  "{\"end\":true"          /* the JSON listing's last line */

/* Options shared by the control subcommands. */
struct ctl_opts {
	const char *config;
	const char *control;
	int json;
	int force;
	unsigned long limit;   /* queue --limit N (0: none) */
	const char *domain;    /* queue --domain D */
};

/* Parse -c, --control, --json and the rest; returns the index of the first
 * operand or -1.  --limit and --domain are for `backupmx queue` only. */
static int ctl_getopt(int argc, char **argv, struct ctl_opts *o, const char *usage)
{
	static const struct option lo[] = {
		{"config", required_argument, NULL, 'c'}, {"control", required_argument, NULL, 'C'},
		{"json", no_argument, NULL, 'j'},         {"help", no_argument, NULL, 'h'},
		{"force", no_argument, NULL, 'f'},        {"limit", required_argument, NULL, 'l'},
		{"domain", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0},
	};
	int c;
	optind = 0;   /* full GNU getopt re-initialisation: options may follow operands */
	while ((c = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'C': o->control = optarg; break;
		case 'j': o->json = 1; break;
		case 'f': o->force = 1; break;
		case 'l': {
			char *end;
			errno = 0;
			o->limit = strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] < '1' || optarg[0] > '9' ||
			    o->limit > CTL_LIMIT_MAX) {
				fprintf(stderr, "backupmx: --limit wants 1 to %lu\n", CTL_LIMIT_MAX);
				return -1;
			}
			break;
		}
		case 'd': o->domain = optarg; break;
		case 'h': printf("usage: %s\n", usage); exit(0);
		default: fprintf(stderr, "usage: %s\n", usage); return -1;
		}
	}
	if ((o->limit || o->domain) && strncmp(usage, "backupmx queue", 14) != 0) {
		fprintf(stderr, "usage: %s\n", usage);
		return -1;
	}
	return optind;
}

/* Connect to the daemon and send one request: the socket, or -1 (said on stderr). */
static int cli_ctl_send(const char *config, const char *control, const char *request)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char err[1024];

	if (control) {
		snprintf(path, sizeof(path), "%s", control);
	} else {
		struct config cfg;
		const char *file = config ? config : CONFIG_DEFAULT_PATH;
		if (config_load(&cfg, file, err, sizeof(err)) < 0) {
			fprintf(stderr, "backupmx: %s\n", err);
			config_free(&cfg);
			return -1;
		}
		snprintf(path, sizeof(path), "%s", cfg.control_socket);
		config_free(&cfg);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "backupmx: cannot reach backupmxd at %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct timeval tv = {30, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t rl = strlen(request);
	if (write(fd, request, rl) != (ssize_t)rl || write(fd, "\n", 1) != 1) {
		fprintf(stderr, "backupmx: %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Send one request and return the answer in *out (malloc'd, NUL-terminated);
 * returns 0, 1 (the daemon answered an error) or 3 (no daemon). */
int cli_ctl_query(const char *config, const char *control, const char *request, char **out)
{
	*out = NULL;
	int fd = cli_ctl_send(config, control, request);
	if (fd < 0)
		return 3;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 65536 > cap) {
			cap = cap ? cap * 2 : 131072;
			char *nb = cap <= CTL_REPLY_MAX ? realloc(buf, cap + 1) : NULL;
			if (!nb)
				break;
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (!buf || len == 0) {
		fprintf(stderr, "backupmx: no answer from backupmxd\n");
		free(buf);
		return 3;
	}
	buf[len] = 0;
	*out = buf;
	return strncmp(buf, "{\"error\":", 9) == 0 ? 1 : 0;
}

/* Print an error answer on stderr as "backupmx: SUBJECT: message". */
static void cli_ctl_error(const char *subject, const char *answer)
{
	char msg[512];
	if (jscan_str(answer, answer + strlen(answer), "error", msg, sizeof(msg)) < 0)
		snprintf(msg, sizeof(msg), "%s", answer);
	msg[strcspn(msg, "\n")] = 0;
	fprintf(stderr, "backupmx: %s%s%s\n", subject ? subject : "", subject ? ": " : "", msg);
}

/* Send one request and print the answer: as it is (JSON, or the daemon's
 * text) with --json or without say(), else the line say() makes of it.
 * An error answer goes to stderr as "backupmx: SUBJECT: ...".  Returns the
 * exit code: 0, 1 (refused) or 3. */
static int cli_ctl_say(const struct ctl_opts *o, const char *request, const char *subject,
		       void (*say)(const char *answer, const char *subject))
{
	char *buf = NULL;
	int rc = cli_ctl_query(o->config, o->control, request, &buf);

	if (!buf)
		return rc;
	if (rc)
		cli_ctl_error(subject, buf);
	else if (o->json || !say)
		fputs(buf, stdout);
	else
		say(buf, subject);
	free(buf);
	return rc;
}

/* Is this line of a queue listing its last one (the daemon's end mark)?  1 or 0. */
static int cli_queue_end_line(const char *line, int json)
{
	if (json)
		return strncmp(line, CTL_END_MARK, strlen(CTL_END_MARK)) == 0;
	return strncmp(line, "-- ", 3) == 0 || strcmp(line, "Mail queue is empty") == 0 ||
	       strncmp(line, "No queued mail for ", 19) == 0;
}

/* One complete line of a queue listing (without its LF): print it, or note
 * the end mark (*ended) or an error answer (returns 1). */
static int cli_queue_line(const char *line, size_t nline, int json, int *ended)
{
	if (nline == 0 && *ended == 0 && json)
		return 0;
	if (*ended == 0 && strncmp(line, "{\"error\":", 9) == 0) {
		cli_ctl_error(NULL, line);
		return 1;
	}
	*ended = cli_queue_end_line(line, json) ? 1 : 0;
	if (!(json && *ended)) {
		fwrite(line, 1, nline, stdout);
		fputc('\n', stdout);
	}
	return 0;
}

/* Send a queue request and print the listing line by line as it arrives;
 * returns 0, 1 (refused) or 3 (no daemon, or the listing was cut short). */
static int cli_ctl_stream(const struct ctl_opts *o, const char *request)
{
	char buf[65536];
	char *line = NULL;
	size_t nline = 0, cap = 0;
	int ended = 0, rc = 0;
	int fd = cli_ctl_send(o->config, o->control, request);
	if (fd < 0)
		return 3;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (const char *p = buf, *e = buf + n; p < e && rc == 0;) {
			const char *nl = memchr(p, '\n', (size_t)(e - p));
			size_t k = (size_t)((nl ? nl : e) - p);
			if (nline + k + 1 > cap) {
				size_t ncap = cap ? cap * 2 : 4096;
				while (ncap < nline + k + 1)
					ncap *= 2;
				char *nb = ncap <= CTL_QLINE_MAX ? realloc(line, ncap) : NULL;
				if (!nb) {
					fprintf(stderr, "backupmx: a queue line over %u octets\n",
						CTL_QLINE_MAX);
					rc = 3;
					break;
				}
				line = nb;
				cap = ncap;
			}
			memcpy(line + nline, p, k);
			nline += k;
			line[nline] = 0;
			p += k + (nl != NULL);
			if (nl) {
				rc = cli_queue_line(line, nline, o->json, &ended);
				nline = 0;
			}
		}
		if (rc)
			break;
	}
	close(fd);
	free(line);
	if (rc == 0 && (!ended || nline)) {
		fflush(stdout);
		fprintf(stderr, "backupmx: the queue listing was cut short\n");
		rc = 3;
	}
	return rc;
}

/* "deleted ID". */
static void cli_say_deleted(const char *answer, const char *subject)
{
	printf("%s: deleted\n", subject);
}

/* "N message(s) scheduled for delivery". */
static void cli_say_flushed(const char *answer, const char *subject)
{
	double n = jscan_num(answer, answer + strlen(answer), "scheduled");
	printf("%s: %.0f message(s) scheduled for delivery now\n", subject ? subject : "all domains",
	       n < 0 ? 0 : n);
}

/* "D held: ...". */
static void cli_say_held(const char *answer, const char *subject)
{
	printf("%s: held; nothing is delivered until `backupmx release %s` (the hold survives "
	       "restarts)\n", subject, subject);
}

/* "D released: ...". */
static void cli_say_released(const char *answer, const char *subject)
{
	printf("%s: released; delivery resumes now\n", subject);
}

/* backupmx queue [show ID | delete ID]. */
int cli_cmd_queue(int argc, char **argv)
{
	struct ctl_opts o = {0};
	char req[CTL_LINE_MAX];
	static const char usage[] = "backupmx queue [--json] [--limit N] [--domain D] "
				    "[show ID | delete ID] [-c FILE | --control PATH]";
	int i = ctl_getopt(argc, argv, &o, usage);
	if (i < 0)
		return 3;
	if (i == argc) {
		if (o.domain && (!o.domain[0] || strlen(o.domain) > CTL_ARG_MAX ||
				 strspn(o.domain, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789.-_") != strlen(o.domain))) {
			fprintf(stderr, "backupmx: --domain %s: not a domain name\n", o.domain);
			return 3;
		}
		char lim[32] = "";
		if (o.limit)
			snprintf(lim, sizeof(lim), "limit %lu ", o.limit);
		snprintf(req, sizeof(req), "%s%squeue%s%s", o.json ? "" : "text ", lim,
			 o.domain ? " " : "", o.domain ? o.domain : "");
		return cli_ctl_stream(&o, req);
	}
	if (i + 2 != argc || (strcmp(argv[i], "show") && strcmp(argv[i], "delete")) || o.limit ||
	    o.domain) {
		fprintf(stderr, "usage: %s\n", usage);
		return 3;
	}
	if (strcmp(argv[i], "delete") == 0) {
		snprintf(req, sizeof(req), "delete %s", argv[i + 1]);
		return cli_ctl_say(&o, req, argv[i + 1], cli_say_deleted);
	}
	snprintf(req, sizeof(req), "%sshow %s", o.json ? "" : "text ", argv[i + 1]);
	return cli_ctl_say(&o, req, argv[i + 1], NULL);
}

/* backupmx flush [DOMAIN]. */
int cli_cmd_flush(int argc, char **argv)
{
	struct ctl_opts o = {0};
	char req[CTL_LINE_MAX];
	const char *usage = "backupmx flush [--json] [DOMAIN] [-c FILE | --control PATH]";
	int i = ctl_getopt(argc, argv, &o, usage);
	if (i < 0 || argc - i > 1) {
		fprintf(stderr, "usage: %s\n", usage);
		return 3;
	}
	snprintf(req, sizeof(req), "flush%s%s", i < argc ? " " : "", i < argc ? argv[i] : "");
	return cli_ctl_say(&o, req, i < argc ? argv[i] : NULL, cli_say_flushed);
}

/* hold/release share everything but the verb. */
static int cli_hold_release(int argc, char **argv, const char *verb)
{
	struct ctl_opts o = {0};
	char req[CTL_LINE_MAX], usage[128];
	int hold = strcmp(verb, "hold") == 0;
	snprintf(usage, sizeof(usage), "backupmx %s [--json]%s DOMAIN [-c FILE | --control PATH]",
		 verb, hold ? " [--force]" : "");
	int i = ctl_getopt(argc, argv, &o, usage);
	if (i < 0 || argc - i != 1 || (o.force && !hold)) {
		fprintf(stderr, "usage: %s\n", usage);
		return 3;
	}
	snprintf(req, sizeof(req), "%s%s %s", o.force ? "force " : "", verb, argv[i]);
	return cli_ctl_say(&o, req, argv[i], hold ? cli_say_held : cli_say_released);
}

/* backupmx hold DOMAIN. */
int cli_cmd_hold(int argc, char **argv)
{
	return cli_hold_release(argc, argv, "hold");
}

/* backupmx release DOMAIN. */
int cli_cmd_release(int argc, char **argv)
{
	return cli_hold_release(argc, argv, "release");
}

/* backupmx status [--json]. */
int cli_cmd_status(int argc, char **argv)
{
	struct ctl_opts o = {0};
	int i = ctl_getopt(argc, argv, &o, "backupmx status [--json] [-c FILE | --control PATH]");
	if (i < 0 || i != argc)
		return 3;
	return cli_ctl_say(&o, o.json ? "status" : "text status", NULL, NULL);
}

/* "reloaded: SUMMARY". */
static void cli_say_reloaded(const char *answer, const char *subject)
{
	char msg[1024];
	if (jscan_str(answer, answer + strlen(answer), "reloaded", msg, sizeof(msg)) < 0)
		snprintf(msg, sizeof(msg), "done");
	printf("reloaded: %s\n", msg);
}

/* backupmx reload [--json]. */
int cli_cmd_reload(int argc, char **argv)
{
	struct ctl_opts o = {0};
	const char *usage = "backupmx reload [--json] [-c FILE | --control PATH]";
	int i = ctl_getopt(argc, argv, &o, usage);
	if (i < 0 || i != argc) {
		fprintf(stderr, "usage: %s\n", usage);
		return 3;
	}
	return cli_ctl_say(&o, "reload", "reload", cli_say_reloaded);
}
