/*
 * io_url.c - the one parser of the http:// URLs backupmx talks to: the
 * alert webhook (alert_webhook) and the drill's status page (--status-url).
 *
 * Only "http://IP[:port][/path]" is accepted: the host must be a numeric
 * address, so nothing but the configured address is ever contacted and no
 * name is resolved; https is refused (point the URL at a local TLS-capable
 * relay).  The config check, `backupmxd -n`, the daemon and the CLI all use
 * this function, so they agree on what is valid.  Pure: no I/O.
 */
#include "io/io.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Parse url into u; 0, or -1 with why set. */
int io_url_parse(const char *url, struct io_url *u, char *why, size_t len)
{
	static const char pfx[] = "http://";
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(u, 0, sizeof(*u));
	if (strlen(url) > IO_URL_MAX) {
		snprintf(why, len, "longer than %d characters", IO_URL_MAX);
		return -1;
	}
	if (strncasecmp(url, "https://", 8) == 0) {
		snprintf(why, len, "https is not supported; use http:// (to a local "
			 "TLS-capable relay if the receiver is remote)");
		return -1;
	}
	if (strncasecmp(url, pfx, sizeof(pfx) - 1) != 0) {
		snprintf(why, len, "not an http:// URL");
		return -1;
	}
	const char *h = url + sizeof(pfx) - 1;
	size_t hl = strcspn(h, "/?#");
	if (hl == 0 || hl > IO_ADDRPORT_MAX) {
		snprintf(why, len, "bad host");
		return -1;
	}
	memcpy(u->hostport, h, hl);
	u->hostport[hl] = 0;
	if (strchr(u->hostport, '@') || u->hostport[0] == '*' ||
	    io_parse_addrport(u->hostport, 80, &u->sa, &u->salen) < 0) {
		snprintf(why, len, "the host must be a numeric IP address (names are not "
			 "resolved), with an optional :port");
		return -1;
	}
	u->has_port = io_parse_addrport(u->hostport, -1, &ss, &sl) == 0;
	const char *p = h + hl;
	if (*p && *p != '/') {
		snprintf(why, len, "bad path");
		return -1;
	}
	for (const unsigned char *q = (const unsigned char *)p; *q; q++) {
		if (*q <= 0x20 || *q >= 0x7f || *q == '#') {
			snprintf(why, len, "bad character in the path");
			return -1;
		}
	}
	snprintf(u->path, sizeof(u->path), "%s", *p ? p : "/");
	return 0;
}
