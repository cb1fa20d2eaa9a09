/*
 * ctl.c - parsing of control-socket requests (pure).
 */
#include "common/ctl.h"

#include <string.h>

static const struct {
	const char *name;
	enum ctl_verb verb;
	int arg;   /* 0 none, 1 required, 2 optional */
} ctl_verbs[] = {
	{"status", CTL_STATUS, 0}, {"queue", CTL_QUEUE, 2},   {"show", CTL_SHOW, 1},
	{"delete", CTL_DELETE, 1}, {"flush", CTL_FLUSH, 2},   {"hold", CTL_HOLD, 1},
	{"release", CTL_RELEASE, 1}, {"metrics", CTL_METRICS, 0}, {"history", CTL_HISTORY, 2},
	{"reload", CTL_RELOAD, 0},
};

/* Is c allowed in an argument (domain names and queue IDs)? */
static int ctl_arg_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

/* Parse "limit N " (1 to CTL_LIMIT_MAX) off the front of *line; 0 or -1. */
static int ctl_parse_limit(const char **line, size_t *len, struct ctl_req *req)
{
	size_t k = 6;
	unsigned long n = 0;
	while (k < *len && (*line)[k] >= '0' && (*line)[k] <= '9' && k < 6 + 10) {
		n = n * 10 + (unsigned long)((*line)[k] - '0');
		k++;
	}
	if (k == 6 || k >= *len || (*line)[k] != ' ' || n == 0 || n > CTL_LIMIT_MAX)
		return -1;
	req->limit = n;
	*line += k + 1;
	*len -= k + 1;
	return 0;
}

/* Parse one request line. */
int ctl_parse(const char *line, size_t len, struct ctl_req *req, const char **err)
{
	memset(req, 0, sizeof(*req));
	if (len && line[len - 1] == '\n')
		len--;
	if (len > CTL_LINE_MAX) {
		*err = "request too long";
		return -1;
	}
	if (len >= 5 && memcmp(line, "text ", 5) == 0) {
		line += 5;
		len -= 5;
		req->text = 1;
	}
	if (len >= 6 && memcmp(line, "force ", 6) == 0) {
		line += 6;
		len -= 6;
		req->force = 1;
	}
	if (len >= 6 && memcmp(line, "limit ", 6) == 0 && ctl_parse_limit(&line, &len, req) < 0) {
		*err = "bad limit";
		return -1;
	}
	size_t vlen = 0;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	const char *arg = vlen < len ? line + vlen + 1 : "";
	size_t alen = vlen < len ? len - vlen - 1 : 0;
	for (size_t i = 0; i < sizeof(ctl_verbs) / sizeof(ctl_verbs[0]); i++) {
		if (strlen(ctl_verbs[i].name) != vlen || memcmp(ctl_verbs[i].name, line, vlen))
			continue;
		if (ctl_verbs[i].arg == 0 && alen) {
			*err = "this request takes no argument";
			return -1;
		}
		if (ctl_verbs[i].arg == 1 && !alen) {
			*err = "this request needs an argument";
			return -1;
		}
		if (alen > CTL_ARG_MAX) {
			*err = "argument too long";
			return -1;
		}
		for (size_t k = 0; k < alen; k++) {
			if (!ctl_arg_char(arg[k])) {
				*err = "bad character in argument";
				return -1;
			}
		}
		if (req->text && ctl_verbs[i].verb != CTL_STATUS && ctl_verbs[i].verb != CTL_QUEUE &&
		    ctl_verbs[i].verb != CTL_SHOW) {
			*err = "no text form for this request";
			return -1;
		}
		if (req->limit && ctl_verbs[i].verb != CTL_QUEUE) {
			*err = "only queue takes a limit";
			return -1;
		}
		if (req->force && ctl_verbs[i].verb != CTL_HOLD) {
			*err = "only hold can be forced";
			return -1;
		}
		req->verb = ctl_verbs[i].verb;
		memcpy(req->arg, arg, alen);
		req->arg[alen] = 0;
		return 0;
	}
	*err = "unknown request";
	return -1;
}

/* The verb's name. */
const char *ctl_verb_name(enum ctl_verb v)
{
	for (size_t i = 0; i < sizeof(ctl_verbs) / sizeof(ctl_verbs[0]); i++)
		if (ctl_verbs[i].verb == v)
			return ctl_verbs[i].name;
	return "?";
}
