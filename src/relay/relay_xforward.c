/*
 * relay_xforward.c - XFORWARD (Postfix XFORWARD_README) on deliveries: when
 * the primary offers it, it is told the original client of each queued
 * message, so its logs, milters and policy see who really sent it, not the
 * backup.
 *
 * The attributes come from the queue file (client name and address, HELO)
 * plus our queue ID (IDENT) and SOURCE=REMOTE; only those the primary's
 * XFORWARD keyword lists are sent, with xtext-encoded values, a name we
 * could not look up as [UNAVAILABLE], and an IPv6 address as IPV6:addr.
 * Two commands (client, then session), each well under
 * SMTP_CLIENT_XFORWARD_MAX.  A refusal is logged and the delivery goes on:
 * XFORWARD informs, it decides nothing.
 *
 * The live pass-through (relay_proxy.c) prefers XCLIENT (Postfix
 * XCLIENT_README): the primary then treats the session as coming from the
 * original client, and its own client restrictions (DNSBLs, rate limits,
 * SPF policy) judge that client.  NAME, ADDR, PORT, HELO and PROTO are
 * sent, each only if offered; a name still being looked up is
 * [TEMPUNAVAIL], none is [UNAVAILABLE].  The client session sends EHLO
 * again after XCLIENT's 220.  Without XCLIENT, XFORWARD is sent as above.
 */
#include "relay/relay_int.h"

#include <string.h>

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

/* Queue XCLIENT (if offered) or XFORWARD for a live transaction's client. */
void relay_xclient_send(struct smtp_client *cl, const struct smtp_caps *caps,
			const struct relay_xfacts *f)
{
	char attrs[SMTP_CLIENT_XCLIENT_MAX + 1] = "", addr[80], port[16];
	unsigned x = caps->xclient;

	if (!(caps->flags & SMTP_CAP_XCLIENT)) {
		relay_xf_send(cl, caps, f->name, f->addr, f->helo, f->ident);
		return;
	}
	const char *name = !f->name ? "[TEMPUNAVAIL]" : f->name[0] && strcmp(f->name, "unknown") ?
			   f->name : "[UNAVAILABLE]";
	snprintf(addr, sizeof(addr), "%s%s", strchr(f->addr, ':') ? "IPV6:" : "", f->addr);
	snprintf(port, sizeof(port), "%d", f->port);
	/* ADDR first: it is what the primary's restrictions judge; an attribute
	 * that no longer fits (long NAME and HELO) is left out, not the rest */
	relay_xf_add(attrs, sizeof(attrs), x, SMTP_XATTR_ADDR, "ADDR", addr);
	relay_xf_add(attrs, sizeof(attrs), x, SMTP_XATTR_PORT, "PORT", f->port > 0 ? port : NULL);
	relay_xf_add(attrs, sizeof(attrs), x, SMTP_XATTR_PROTO, "PROTO", f->proto);
	relay_xf_add(attrs, sizeof(attrs), x, SMTP_XATTR_NAME, "NAME", name);
	relay_xf_add(attrs, sizeof(attrs), x, SMTP_XATTR_HELO, "HELO", f->helo);
	if (attrs[0])
		smtp_client_xclient(cl, attrs, relay_xc_reply, (void *)f->ident);
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
