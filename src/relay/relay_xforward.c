/*
 * relay_xforward.c - telling the primary who the original client was.
 *
 * XCLIENT (Postfix XCLIENT_README), when the primary offers it to us: the
 * primary then treats the session as coming from the original client, and
 * its own client restrictions (DNSBLs, rate limits) and its smtpd_milters
 * (rspamd's SPF) judge that client, not the backup.  NAME, ADDR, PORT, HELO
 * and PROTO are sent, each only if offered, ADDR first; a name still being
 * looked up is [TEMPUNAVAIL], none is [UNAVAILABLE].  The client session
 * sends EHLO again after XCLIENT's 220, with the client's HELO (Postfix
 * takes the HELO from that EHLO).  Used by the live pass-through
 * (relay_proxy.c) and, per message, by queued deliveries (relay_conn.c;
 * relay_xclient_deliver): these send XCLIENT only for a message whose
 * client is known and is not this host (a DSN we made, a local
 * submission: relay_xclient_facts_ok), since a loopback or own address
 * would make the primary trust the message as its own.  XCLIENT makes the
 * session that client's for good: Postfix re-checks its
 * smtpd_authorized_xclient_hosts against the new address, so the EHLO
 * after it offers no XCLIENT and a second one gets 550 5.7.0.  So
 * relay_xclient_want() lets a delivery session go on only with messages of
 * the same client (address, name, HELO), or of any client while XCLIENT is
 * still offered; a message without usable facts only on a session that
 * never sent XCLIENT; anything else needs a new connection.
 *
 * XFORWARD (Postfix XFORWARD_README) otherwise, when offered: the
 * attributes come from the queue file (client name and address, HELO) plus
 * our queue ID (IDENT) and SOURCE=REMOTE; only those the primary's XFORWARD
 * keyword lists are sent, with xtext-encoded values, a name we could not
 * look up as [UNAVAILABLE], and an IPv6 address as IPV6:addr.  Two
 * commands (client, then session), each well under
 * SMTP_CLIENT_XFORWARD_MAX.  A refusal is logged and the delivery goes on:
 * XFORWARD informs Postfix's logs, it decides nothing (its milters and
 * restrictions still judge the backup).
 */
#include "relay/relay_int.h"

#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "common/log.h"
#include "smtp/xtext.h"

#define RELAY_XF_VALUE_MAX 200   /* octets of one encoded value; longer ones are left out */

/* Append " KEY=xtext(value)" to buf when the primary takes attr; 0 or -1 (full). */
static int relay_xf_add(char *buf, size_t len, unsigned offered, unsigned attr, const char *key,
			const char *value)
{
	char enc[RELAY_XF_VALUE_MAX + 1];
	size_t o = strlen(buf);

	if (!(offered & attr) || !value || !*value ||
	    smtp_xtext_encode(value, enc, sizeof(enc)) < 0)
		return 0;
	int n = snprintf(buf + o, len - o, "%s%s=%s", o ? " " : "", key, enc);
	if (n < 0 || (size_t)n >= len - o) {
		buf[o] = '\0';   /* nothing half-written */
		return -1;
	}
	return 0;
}

/* The reply to an XFORWARD: only logged when it is not a 2xx. */
static void relay_xf_reply(struct smtp_client *cl, const struct smtp_reply *rp, void *arg)
{
	const char *qid = arg;
	if (rp && rp->code / 100 != 2)
		log_info("%s: XFORWARD refused by the primary (%d %s)", qid, rp->code, rp->text);
}

static void relay_xf_send(struct smtp_client *cl, const struct smtp_caps *caps,
			  const char *client_name, const char *client_addr, const char *helo,
			  const char *logid);

/* The reply to an XCLIENT: a refusal is logged; the primary then judges us. */
static void relay_xc_reply(struct smtp_client *cl, const struct smtp_reply *rp, void *arg)
{
	const char *qid = arg;
	if (rp && rp->code != 220)
		log_warn("%s: XCLIENT refused by the primary (%d %s): it judges this backup, "
			 "not the client", qid, rp->code, rp->text);
}

/* The XCLIENT attributes for client f into attrs (SMTP_CLIENT_XCLIENT_MAX + 1
 * octets); "" when the primary takes none of them. */
static void relay_xc_attrs(char *attrs, size_t len, const struct smtp_caps *caps,
			   const struct relay_xfacts *f)
{
	char addr[80], port[16];
	unsigned x = caps->xclient;
	const char *name = !f->name ? "[TEMPUNAVAIL]" : f->name[0] && strcmp(f->name, "unknown") ?
			   f->name : "[UNAVAILABLE]";

	attrs[0] = '\0';
	snprintf(addr, sizeof(addr), "%s%s", strchr(f->addr, ':') ? "IPV6:" : "", f->addr);
	snprintf(port, sizeof(port), "%d", f->port);
	/* ADDR first: it is what the primary's restrictions judge; an attribute
	 * that no longer fits (long NAME and HELO) is left out, not the rest */
	relay_xf_add(attrs, len, x, SMTP_XATTR_ADDR, "ADDR", addr);
	relay_xf_add(attrs, len, x, SMTP_XATTR_PORT, "PORT", f->port > 0 ? port : NULL);
	relay_xf_add(attrs, len, x, SMTP_XATTR_PROTO, "PROTO", f->proto);
	relay_xf_add(attrs, len, x, SMTP_XATTR_NAME, "NAME", name);
	relay_xf_add(attrs, len, x, SMTP_XATTR_HELO, "HELO", f->helo);
}

/* Queue XCLIENT (if offered) or XFORWARD for a live transaction's client. */
void relay_xclient_send(struct smtp_client *cl, const struct smtp_caps *caps,
			const struct relay_xfacts *f)
{
	char attrs[SMTP_CLIENT_XCLIENT_MAX + 1];

	if (!(caps->flags & SMTP_CAP_XCLIENT)) {
		relay_xf_send(cl, caps, f->name, f->addr, f->helo, f->ident);
		return;
	}
	relay_xc_attrs(attrs, sizeof(attrs), caps, f);
	if (attrs[0])
		smtp_client_xclient(cl, attrs, f->helo, relay_xc_reply, (void *)f->ident);
}

/* Whether addr (numeric, any port) is a loopback or unspecified address. */
static int relay_addr_is_local(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr);
		return a == INADDR_LOOPBACK || a == INADDR_ANY;
	}
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a6) || IN6_IS_ADDR_UNSPECIFIED(a6) ||
	       (IN6_IS_ADDR_V4MAPPED(a6) && ((a6->s6_addr[12] == 127 && a6->s6_addr[15] == 1 &&
					!a6->s6_addr[13] && !a6->s6_addr[14]) ||
				       !(a6->s6_addr[12] | a6->s6_addr[13] | a6->s6_addr[14] |
					 a6->s6_addr[15])));
}

/* Whether env names a client the primary may be told to judge with
 * XCLIENT: an address, and neither 127.0.0.1, ::1, 0.0.0.0 nor one of ours
 * (a DSN we made says 127.0.0.1; a message with no client facts, e.g. an
 * old queue file, says nothing). */
int relay_xclient_facts_ok(const struct relay *r, const struct spool_env *env)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (!env->client_addr || !env->client_addr[0] ||
	    io_parse_addrport(env->client_addr, 0, &ss, &len) < 0 || relay_addr_is_local(&ss))
		return 0;
	for (size_t i = 0; i < r->nself_addrs; i++) {
		const struct sockaddr_storage *s = &r->self_addrs[i];
		if (s->ss_family != ss.ss_family)
			continue;
		if (ss.ss_family == AF_INET ?
		    ((const struct sockaddr_in *)s)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)&ss)->sin_addr.s_addr :
		    !memcmp(&((const struct sockaddr_in6 *)s)->sin6_addr,
			    &((const struct sockaddr_in6 *)&ss)->sin6_addr, sizeof(struct in6_addr)))
			return 0;
	}
	return 1;
}

/* Whether caps let us tell the primary a queued message's client with
 * XCLIENT (XCLIENT offered, with ADDR). */
int relay_xclient_offered(const struct smtp_caps *caps)
{
	return (caps->flags & SMTP_CAP_XCLIENT) && (caps->xclient & SMTP_XATTR_ADDR);
}

/* Queue XCLIENT with message env's original client (relay_xclient_facts_ok
 * must hold) if relay_xclient_offered(caps); cb gets its reply (a 220 after
 * the new EHLO).  0, or -1 when nothing was queued. */
int relay_xclient_deliver(struct smtp_client *cl, const struct smtp_caps *caps,
			  const struct spool_env *env, smtp_client_reply_cb cb, void *arg)
{
	char attrs[SMTP_CLIENT_XCLIENT_MAX + 1];
	/* "unknown": no name verified at arrival; the port and protocol are not kept */
	struct relay_xfacts f = {
		.name = env->client_name ? env->client_name : "", .addr = env->client_addr,
		.helo = env->helo, .proto = NULL, .ident = env->qid, .port = 0,
	};

	if (!relay_xclient_offered(caps) || !env->client_addr)
		return -1;
	relay_xc_attrs(attrs, sizeof(attrs), caps, &f);
	if (!strstr(attrs, "ADDR="))
		return -1;
	return smtp_client_xclient(cl, attrs, env->helo, cb, arg);
}

/* Queue XFORWARD commands (client, then session) if caps offer XFORWARD;
 * logid names the message in logs and must outlive cl. */
static void relay_xf_send(struct smtp_client *cl, const struct smtp_caps *caps,
			  const char *client_name, const char *client_addr, const char *helo,
			  const char *logid)
{
	char client[SMTP_CLIENT_XFORWARD_MAX + 1] = "", session[SMTP_CLIENT_XFORWARD_MAX + 1] = "";
	char addr[80];
	unsigned x = caps->xforward;

	if (!(caps->flags & SMTP_CAP_XFORWARD))
		return;
	const char *name = client_name && client_name[0] && strcmp(client_name, "unknown") != 0 ?
			   client_name : "[UNAVAILABLE]";
	const char *a = client_addr ? client_addr : "";
	snprintf(addr, sizeof(addr), "%s%s", strchr(a, ':') ? "IPV6:" : "", a);
	if (relay_xf_add(client, sizeof(client), x, SMTP_XATTR_NAME, "NAME", name) < 0 ||
	    relay_xf_add(client, sizeof(client), x, SMTP_XATTR_ADDR, "ADDR", a[0] ? addr : NULL) < 0 ||
	    relay_xf_add(session, sizeof(session), x, SMTP_XATTR_HELO, "HELO", helo) < 0 ||
	    relay_xf_add(session, sizeof(session), x, SMTP_XATTR_IDENT, "IDENT", logid) < 0 ||
	    relay_xf_add(session, sizeof(session), x, SMTP_XATTR_SOURCE, "SOURCE", "REMOTE") < 0)
		return;   /* cannot happen with RELAY_XF_VALUE_MAX; send nothing rather than half */
	if (client[0])
		smtp_client_xforward(cl, client, relay_xf_reply, (void *)logid);
	if (session[0])
		smtp_client_xforward(cl, session, relay_xf_reply, (void *)logid);
}

/* Queue XFORWARD commands for message env on cl, if caps offer XFORWARD. */
void relay_xforward_send(struct smtp_client *cl, const struct smtp_caps *caps,
			 const struct spool_env *env)
{
	relay_xf_send(cl, caps, env->client_name, env->client_addr, env->helo, env->qid);
}

/* The client identity of message env, "addr\nname\nhelo", into key; 0, or
 * -1 when it does not fit. */
static int relay_xc_key(const struct spool_env *env, char *key, size_t len)
{
	int n = snprintf(key, len, "%s\n%s\n%s", env->client_addr ? env->client_addr : "",
			 env->client_name ? env->client_name : "", env->helo ? env->helo : "");
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* What message env needs from delivery session s, whose capabilities are
 * caps now: a message with usable client facts goes on the session of the
 * same client (address, name, HELO) as it is, or after an XCLIENT still
 * offered; one without goes as the backup, only on a session that never
 * sent XCLIENT. */
enum relay_xc_want relay_xclient_want(const struct relay *r, const struct smtp_caps *caps,
				      const struct relay_xc_session *s,
				      const struct spool_env *env)
{
	char key[RELAY_XC_KEY_MAX];
	int facts = relay_xclient_facts_ok(r, env) && relay_xc_key(env, key, sizeof(key)) == 0;

	if (s->state == XC_SPENT)
		return XW_NEW;
	if (s->state == XC_CLIENT && facts && strcmp(key, s->key) == 0)
		return XW_SAME;
	if (facts && relay_xclient_offered(caps))
		return XW_XCLIENT;
	return s->state == XC_SELF ? XW_XFORWARD : XW_NEW;
}

/* XCLIENT for env was answered 220: the session is its client's now. */
void relay_xclient_became(struct relay_xc_session *s, const struct spool_env *env)
{
	s->state = relay_xc_key(env, s->key, sizeof(s->key)) == 0 ? XC_CLIENT : XC_SPENT;
}
