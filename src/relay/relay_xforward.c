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
	return n < 0 || (size_t)n >= len - o ? -1 : 0;
}

/* The reply to an XFORWARD: only logged when it is not a 2xx. */
static void relay_xf_reply(struct smtp_client *cl, const struct smtp_reply *rp, void *arg)
{
	const char *qid = arg;
	if (rp && rp->code / 100 != 2)
		log_info("%s: XFORWARD refused by the primary (%d %s)", qid, rp->code, rp->text);
}

/* Queue XFORWARD commands for message env on cl, if caps offer XFORWARD. */
void relay_xforward_send(struct smtp_client *cl, const struct smtp_caps *caps,
			 const struct spool_env *env)
{
	char client[SMTP_CLIENT_XFORWARD_MAX + 1] = "", session[SMTP_CLIENT_XFORWARD_MAX + 1] = "";
	char addr[80];
	unsigned x = caps->xforward;

	if (!(caps->flags & SMTP_CAP_XFORWARD))
		return;
	const char *name = env->client_name && strcmp(env->client_name, "unknown") != 0 ?
			   env->client_name : "[UNAVAILABLE]";
	const char *a = env->client_addr ? env->client_addr : "";
	snprintf(addr, sizeof(addr), "%s%s", strchr(a, ':') ? "IPV6:" : "", a);
	if (relay_xf_add(client, sizeof(client), x, SMTP_XATTR_NAME, "NAME", name) < 0 ||
	    relay_xf_add(client, sizeof(client), x, SMTP_XATTR_ADDR, "ADDR", a[0] ? addr : NULL) < 0 ||
	    relay_xf_add(session, sizeof(session), x, SMTP_XATTR_HELO, "HELO", env->helo) < 0 ||
	    relay_xf_add(session, sizeof(session), x, SMTP_XATTR_IDENT, "IDENT", env->qid) < 0 ||
	    relay_xf_add(session, sizeof(session), x, SMTP_XATTR_SOURCE, "SOURCE", "REMOTE") < 0)
		return;   /* cannot happen with RELAY_XF_VALUE_MAX; send nothing rather than half */
	if (client[0])
		smtp_client_xforward(cl, client, relay_xf_reply, (void *)env->qid);
	if (session[0])
		smtp_client_xforward(cl, session, relay_xf_reply, (void *)env->qid);
}
