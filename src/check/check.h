/*
 * check.h - "backupmx check DOMAIN": the MX checker's data model and API.
 *
 * check_run() gathers facts: the MX set (dns_mx_resolve), PTR and
 * forward-confirmed reverse DNS of every address, and an SMTP probe of every
 * address (banner, EHLO, STARTTLS and certificate, MAIL FROM:<>, RCPT to
 * postmaster, to a random nonexistent user and to a foreign domain, then
 * RSET and QUIT; never DATA).  Everything runs concurrently on one io loop
 * and finishes within the timeout plus a small grace.
 *
 * check_analyze() is pure: it assigns roles (primary/backup) and turns the
 * facts into findings with a severity.  check_verdict() maps findings to the
 * monitoring-plugin exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
 * The report functions (text, JSON, Nagios) render a result into a
 * growable string buffer; the JSON schema is documented in docs/check-json.md.
 */
#ifndef BMX_CHECK_H
#define BMX_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "common/buf.h"
#include "dns/dns.h"

/* ---- named limits ---- */
#define CHECK_MX_MAX        DNS_MX_HOSTS_MAX  /* MX hosts checked */
#define CHECK_ADDR_MAX      DNS_ADDRS_MAX     /* addresses per host */
#define CHECK_PTR_MAX       4                 /* PTR names kept (and forward-checked) */
#define CHECK_TEXT_MAX      512               /* peer text kept (banner, replies) */
#define CHECK_MSG_MAX       320               /* one finding's message */
#define CHECK_FINDINGS_MAX  512               /* findings kept */
#define CHECK_ROLE_NAMES_MAX 16               /* --primary / --backup names */
#define CHECK_TIMEOUT_DEFAULT_MS 10000
#define CHECK_GRACE_MS      700               /* whole run ends by timeout + grace */
#define CHECK_MX_TTL_WARN   86400             /* MX TTL above this is a warning */
#define CHECK_TTL_ADVICE    300               /* TTL to use before a planned change */
#define CHECK_CERT_DAYS_WARN 14               /* certificate expiring soon */
#define CHECK_SCHEMA_VERSION 1

/* Exit codes / states (monitoring plugin convention). */
enum check_state {
	CHECK_OK = 0,
	CHECK_WARNING = 1,
	CHECK_CRITICAL = 2,
	CHECK_UNKNOWN = 3,
};

/* Severity of one finding. */
enum check_sev {
	CHECK_SEV_INFO = 0,       /* a fact worth telling; no effect on the verdict */
	CHECK_SEV_WARNING,
	CHECK_SEV_CRITICAL,
	CHECK_SEV_UNKNOWN,        /* could not be determined (resolver failure) */
};

enum check_role { CHECK_ROLE_PRIMARY = 0, CHECK_ROLE_BACKUP };

/* What kind of address this is (RFC 6890 special-purpose registries). */
enum check_addr_class {
	CHECK_ADDR_PUBLIC = 0,
	CHECK_ADDR_PRIVATE,       /* RFC 1918, fc00::/7 */
	CHECK_ADDR_LOOPBACK,      /* 127/8, ::1 */
	CHECK_ADDR_LINKLOCAL,     /* 169.254/16, fe80::/10 */
	CHECK_ADDR_SHARED,        /* 100.64/10 (carrier-grade NAT) */
	CHECK_ADDR_RESERVED,      /* documentation, benchmarking, multicast, 0/8, 240/4, ... */
};

/* Outcome of the SMTP probe of one address. */
enum check_smtp_status {
	CHECK_SMTP_NOT_PROBED = 0,  /* --no-smtp, or no probe possible */
	CHECK_SMTP_OK,              /* banner 220 and EHLO/HELO accepted */
	CHECK_SMTP_REFUSED,         /* connection refused */
	CHECK_SMTP_TIMEOUT,         /* connect or a reply timed out */
	CHECK_SMTP_CONNECT_ERROR,   /* unreachable and similar */
	CHECK_SMTP_REJECTED,        /* banner or EHLO/HELO refused */
	CHECK_SMTP_CLOSED,          /* the server closed the connection */
	CHECK_SMTP_PROTOCOL_ERROR,  /* malformed or over-long replies */
	CHECK_SMTP_TLS_ERROR,       /* TLS failed and the plaintext retry failed too */
	CHECK_SMTP_LOCAL_ERROR,     /* our own failure (memory, sockets) */
};

/* One probe command's reply. */
struct check_reply {
	int tested;                 /* the command was sent */
	int code;                   /* 0 when no reply arrived */
	char text[CHECK_TEXT_MAX];
};

struct check_tls {
	int offered;                /* STARTTLS in the plaintext EHLO */
	int attempted;
	int ok;                     /* handshake completed */
	char error[CHECK_TEXT_MAX]; /* why it failed */
	char version[16];
	char cipher[64];
	int bits;
	int have_cert;
	int verified;
	char verify_error[128];
	int name_match;
	char subject_cn[256];
	char issuer_cn[256];
	long days_left;
};

struct check_smtp {
	enum check_smtp_status status;
	char error[CHECK_TEXT_MAX];
	double connect_ms, banner_ms, total_ms;   /* < 0: not reached */
	int banner_code;
	char banner[CHECK_TEXT_MAX];
	char banner_host[DNS_NAME_MAX];  /* first word of the banner */
	int banner_name_match;           /* banner host is the MX name or a PTR name */
	int used_helo;                   /* EHLO refused, HELO used */
	char ehlo_host[DNS_NAME_MAX];    /* first word of the EHLO reply */
	unsigned caps;                   /* SMTP_CAP_* from the last EHLO */
	unsigned long long size;         /* SIZE, 0 = not advertised or unlimited */
	int size_advertised;
	struct check_tls tls;
	int plaintext_retry;             /* the probe reconnected without TLS */
	struct check_reply mail_from;    /* MAIL FROM:<> */
	struct check_reply rcpt_postmaster;
	struct check_reply rcpt_random;
	struct check_reply rcpt_relay;
	char random_rcpt[DNS_NAME_MAX + 32];
	char relay_rcpt[DNS_NAME_MAX + 32];
	struct check_reply filter;       /* --filter-probe: the reply to the GTUBE message */
};

struct check_addr {
	struct sockaddr_storage sa;
	char str[64];
	enum check_addr_class cls;
	int ptr_done;
	enum dns_status ptr_status;
	size_t nptr;
	char ptr[CHECK_PTR_MAX][DNS_NAME_MAX];
	int fcrdns;                      /* -1 unknown, 0 no, 1 a PTR name resolves back */
	struct check_smtp smtp;
};

struct check_mx {
	uint16_t pref;
	char name[DNS_NAME_MAX];
	enum check_role role;
	int implicit, is_cname, is_literal;
	enum dns_status a_status, aaaa_status;
	uint32_t a_ttl, aaaa_ttl;
	enum dns_sec sec;
	int accepts_mail;                /* some address completed the SMTP greeting */
	int probed;                      /* some address was probed */
	size_t naddr;
	struct check_addr addr[CHECK_ADDR_MAX];
};

struct check_finding {
	char code[40];                   /* stable identifier, see docs/check-json.md */
	enum check_sev sev;
	int mx;                          /* index into mx[], -1 for the domain */
	int addr;                        /* index into mx[].addr[], -1 for the host */
	char msg[CHECK_MSG_MAX];
};

struct check_opts {
	const char *domain;              /* normalised (dns_name_normalize) */
	const char *primary[CHECK_ROLE_NAMES_MAX];
	size_t nprimary;
	const char *backup[CHECK_ROLE_NAMES_MAX];
	size_t nbackup;
	int no_smtp;
	uint64_t timeout_ms;
	int port;
	const char *resolver;            /* NULL = system */
	int family;                      /* 0 any, 4 or 6 */
	int allow_private;
	const char *helo_name;           /* NULL = our hostname */
	int filter_probe;                /* send the GTUBE test message to every MX */
};

struct check_result {
	char domain[DNS_NAME_MAX];
	time_t started;
	double elapsed_ms;
	/* options echoed in the report */
	int port;
	uint64_t timeout_ms;
	int smtp;
	int allow_private;
	int family;
	char resolver[128];
	/* the MX set */
	enum dns_status dns_status;
	char dns_why[128];
	int null_mx, implicit;
	uint32_t mx_ttl;
	enum dns_sec mx_sec;
	int aborted;                     /* the overall deadline cut something short */
	size_t nmx;
	struct check_mx mx[CHECK_MX_MAX];
	/* analysis */
	size_t nfind;
	size_t nfind_dropped;
	struct check_finding find[CHECK_FINDINGS_MAX];
	char unknown_role[CHECK_ROLE_NAMES_MAX][DNS_NAME_MAX];  /* role names not in the MX set */
	size_t nunknown_role;
};


/* ---- gathering (check_run.c) ---- */
/* Allocate a result and fill it by running every lookup and probe on a
 * fresh loop; *out is set even on failure when allocation worked.  Returns
 * 0, or -1 with err set (resolver set-up failure, bad domain). */
int check_run(const struct check_opts *o, struct check_result **out, char *err, size_t errlen);
void check_result_free(struct check_result *res);

/* ---- analysis (check_rules.c, pure) ---- */
/* Assign roles, compute accepts_mail and every finding. */
void check_analyze(struct check_result *res, const struct check_opts *o);
/* Exit code from the findings: any critical 2, else unknown 3, else warning 1, else 0. */
enum check_state check_verdict(const struct check_result *res);
const char *check_state_name(enum check_state s);
const char *check_sev_name(enum check_sev s);
/* Classify an address. */
enum check_addr_class check_addr_classify(const struct sockaddr *sa);
const char *check_addr_class_name(enum check_addr_class c);
/* 1 if two addresses share an IPv4 /24 or an IPv6 /48 (same family). */
int check_same_subnet(const struct sockaddr *a, const struct sockaddr *b);
/* 1 if two addresses are equal (family and address, ports ignored). */
int check_same_addr(const struct sockaddr *a, const struct sockaddr *b);
/* Add one finding (dropped and counted when full). */
void check_add(struct check_result *res, const char *code, enum check_sev sev, int mx, int addr,
	       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* First finding with this code, or NULL. */
const struct check_finding *check_find(const struct check_result *res, const char *code);
const char *check_dns_status_name(enum dns_status s);
const char *check_dns_sec_name(enum dns_sec s);
const char *check_smtp_status_name(enum check_smtp_status s);
/* First word of a banner or EHLO text ("mx.example.com ESMTP ..."), lower-cased. */
void check_first_word(const char *text, char *out, size_t outlen);
/* "primary" or "backup". */
const char *check_role_name(enum check_role r);
/* check_roles.c: the role-level findings (for check_analyze()). */
void check_role_findings(struct check_result *res);

/* Append s as a JSON string literal (quotes included): control characters
 * escaped, invalid UTF-8 replaced by U+FFFD. */
void check_json_str(struct bmx_buf *b, const char *s);
/* Render the result as JSON (schema_version 1), ending in a newline. */
void check_report_json(struct bmx_buf *b, const struct check_result *res);
/* Render the human report; color adds ANSI colours. */
void check_report_text(struct bmx_buf *b, const struct check_result *res, int color);
/* Render the one-line Nagios output "STATUS: summary | perfdata\n". */
void check_report_nagios(struct bmx_buf *b, const struct check_result *res);
/* One-line summary of the verdict (used by every renderer). */
void check_summary(struct bmx_buf *b, const struct check_result *res);
/* Copy peer text for display: control characters and non-ASCII become '?'. */
void check_sanitize(const char *in, char *out, size_t outlen);

#endif
