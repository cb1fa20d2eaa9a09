/*
 * milter.c - the milter client: one connection per configured milter and
 * message, fed in parallel (see milter.h).
 *
 * Each connection (struct mconn) has a queue of whole packets built by the
 * codec as the message arrives.  Nothing leaves before the OPTNEG answer;
 * then the pump sends packets in order, skipping the stages the milter
 * does not want (SMFIP_NO*) and stopping after each packet it will answer
 * (SMFIP_NR_* not set) until the answer is in.  A milter's verdict ends
 * its conversation early; the message's verdict waits for every milter's
 * answer to the end of the message.  Deadlines: milter_connect_timeout
 * until the connection is up, milter_command_timeout for an answer to a
 * command, milter_content_timeout for an answer to the body and the end of
 * the message ('p' restarts it).  Queued octets above MILTER_QUEUE_MAX make
 * milter_txn_body() ask the caller to wait; the room callback says when to
 * go on.  Loop thread only.
 */
#include "filter/milter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/buf.h"
#include "common/log.h"
#include "filter/milter_proto.h"

/* gcc -fanalyzer loses track of a queued packet, which the connection's
 * queue (c->head .. c->tail) owns until mc_pump() sends it or
 * mc_drop_queue() frees it. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif

/* We take every action and stage, and keep header values without their
 * leading space (Sendmail and Postfix do the same). */
#define MILTER_OFFER_FLAGS (MILTER_SMFIP_ALL & ~MILTER_SMFIP_HDR_LEADSPC)

struct milter_addr {
	char spec[256];
	struct sockaddr_storage sa;
	socklen_t salen;
};

struct milter_set {
	struct io_loop *loop;
	const struct config *cfg;
	size_t n;
	struct milter_addr a[MILTERS_MAX];
};

/* One queued packet. */
struct mpkt {
	struct mpkt *next;
	char cmd;
	size_t len;
	uint8_t data[];
};

struct mconn {
	struct milter_txn *t;
	const struct milter_addr *addr;
	struct io_conn *conn;
	struct io_timer *timer;
	int connected, negotiated, done, skip_body;
	int failed;             /* the default action stood in for its verdict */
	uint32_t flags;
	struct mpkt *head, *tail;
	size_t queued;
	int waiting;            /* an answer to wcmd is due */
	char wcmd;
	enum milter_verdict v;
	char reply[MILTER_LINE_MAX];
	unsigned changes;
	struct milter_change chg[MILTER_CHANGES_MAX];
	size_t nchg;
};

struct milter_txn {
	struct milter_set *ms;
	milter_done_cb done;
	milter_room_cb room;
	void *arg;
	int ended, reported, full;
	struct io_timer *kick;
	char qid[64];
	struct milter_change all[MILTERS_MAX * MILTER_CHANGES_MAX];   /* the verdict's changes */
	size_t n;
	struct mconn c[MILTERS_MAX];
};

/* Check one `milters` entry and resolve it into a (numeric) address. */
static int milter_addr_parse(const char *spec, struct milter_addr *a)
{
	if (strlen(spec) >= sizeof(a->spec))
		return -1;
	snprintf(a->spec, sizeof(a->spec), "%s", spec);
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
		const char *path = spec + 5;
		if (path[0] != '/' || strlen(path) >= sizeof(un->sun_path))
			return -1;
		memset(&a->sa, 0, sizeof(a->sa));
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, strlen(path) + 1);
		a->salen = sizeof(*un);
		return 0;
	}
	if (strncmp(spec, "inet:", 5) == 0)
		return io_parse_addrport(spec + 5, -1, &a->sa, &a->salen) == 0 ? 0 : -1;
	return -1;
}

/* Check one `milters` entry. */
int milter_addr_check(const char *spec)
{
	struct milter_addr a;
	return milter_addr_parse(spec, &a);
}

/* The milters of the configuration. */
struct milter_set *milter_set_new(struct io_loop *loop, const struct config *cfg)
{
	if (!cfg->milters.n)
		return NULL;
	struct milter_set *ms = calloc(1, sizeof(*ms));
	if (!ms) {
		log_err("milter: out of memory: no milter is used");
		return NULL;
	}
	ms->loop = loop;
	ms->cfg = cfg;
	for (size_t i = 0; i < cfg->milters.n && ms->n < MILTERS_MAX; i++)
		if (milter_addr_parse(cfg->milters.v[i], &ms->a[ms->n]) == 0)
			ms->n++;
	log_info("milter: %zu milter(s), default action %s", ms->n,
		 config_milter_default_name(cfg->milter_default_action));
	return ms;
}

/* Free the milters (every message must be freed before). */
void milter_set_free(struct milter_set *ms)
{
	free(ms);
}

/* Queue the packet(s) in b for c (b is emptied). */
static void mc_queue(struct mconn *c, struct bmx_buf *b)
{
	size_t off = 0;
	while (!b->err && off < b->len) {
		struct milter_frame f;
		size_t used = 0;
		if (milter_frame_next((const uint8_t *)b->p + off, b->len - off, &f, &used) != 1)
			break;
		struct mpkt *p = malloc(sizeof(*p) + used);
		if (!p)
			break;
		p->next = NULL;
		p->cmd = f.cmd;
		p->len = used;
		memcpy(p->data, b->p + off, used);
		if (c->tail)
			c->tail->next = p;
		else
			c->head = p;
		c->tail = p;
		c->queued += used;
		off += used;
	}
	bmx_buf_clear(b);
}

/* Queue a packet for every connection that still talks. */
static void mt_queue_all(struct milter_txn *t, struct bmx_buf *b)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->c[i].done)
			continue;
		struct bmx_buf copy = BMX_BUF_INIT;
		bmx_buf_add(&copy, b->p, b->len);
		mc_queue(&t->c[i], &copy);
		bmx_buf_free(&copy);
	}
	bmx_buf_clear(b);
}

/* Drop every queued packet. */
static void mc_drop_queue(struct mconn *c)
{
	while (c->head) {
		struct mpkt *p = c->head;
		c->head = p->next;
		free(p);
	}
	c->tail = NULL;
	c->queued = 0;
}

static void mt_check_done(struct milter_txn *t);
static void mt_check_room(struct milter_txn *t);

/* Say goodbye (ABORT first when abort, then QUIT, if negotiated) and close:
 * flushed to a live milter, freed at once when it failed or never
 * connected (nothing can be flushed to it). */
static void mc_close(struct mconn *c, int abort)
{
	if (!c->conn)
		return;
	if (c->negotiated && !c->failed) {
		struct bmx_buf b = BMX_BUF_INIT;
		if ((!abort || milter_put_cmd(&b, MILTER_SMFIC_ABORT) == 0) &&
		    milter_put_cmd(&b, MILTER_SMFIC_QUIT) == 0)
			io_conn_write(c->conn, b.p, b.len);
		bmx_buf_free(&b);
	}
	if (!c->connected || c->failed)
		io_conn_free(c->conn);
	else
		io_conn_flush_free(c->conn);
	c->conn = NULL;
}

/* A connection's conversation is over with verdict v (reply: our line). */
static void mc_finish(struct mconn *c, enum milter_verdict v, const char *reply)
{
	if (c->done)
		return;
	c->done = 1;
	c->v = v;
	snprintf(c->reply, sizeof(c->reply), "%s", reply ? reply : "");
	mc_drop_queue(c);
	io_timer_del(c->timer);
	mc_close(c, 0);
	mt_check_room(c->t);
	mt_check_done(c->t);
}

/* Our reply line when milters fail (milter_default_action), NULL for accept. */
const char *milter_default_reply(const struct config *cfg)
{
	switch (cfg->milter_default_action) {
	case CONFIG_MILTER_ACCEPT: return NULL;
	case CONFIG_MILTER_REJECT: return "550 5.7.1 Command rejected";
	default: return "451 4.7.1 Service unavailable - try again later";
	}
}

/* The milter failed: milter_default_action decides for it. */
static void mc_fail(struct mconn *c, const char *why)
{
	const struct config *cfg = c->t->ms->cfg;
	const char *reply = milter_default_reply(cfg);
	log_warn("milter %s: %s: %s (milter_default_action = %s)", c->addr->spec, c->t->qid, why,
		 config_milter_default_name(cfg->milter_default_action));
	c->failed = 1;
	mc_finish(c, !reply ? MILTER_V_ACCEPT : reply[0] == '4' ? MILTER_V_TEMPFAIL
							 : MILTER_V_REJECT, reply);
}

/* Arm the deadline for an answer to cmd. */
static void mc_arm(struct mconn *c, char cmd)
{
	const struct config *cfg = c->t->ms->cfg;
	unsigned s = cmd == MILTER_SMFIC_BODY || cmd == MILTER_SMFIC_BODYEOB ?
		     cfg->milter_content_timeout : cfg->milter_command_timeout;
	io_timer_add(c->timer, (uint64_t)s * 1000);
}

/* Send queued packets until one will be answered. */
static void mc_pump(struct mconn *c)
{
	while (!c->done && c->negotiated && !c->waiting && c->head) {
		struct mpkt *p = c->head;
		c->head = p->next;
		if (!c->head)
			c->tail = NULL;
		c->queued -= p->len;
		int skip = (p->cmd != MILTER_SMFIC_MACRO && !milter_stage_wanted(c->flags, p->cmd)) ||
			   (c->skip_body && p->cmd == MILTER_SMFIC_BODY);
		if (!skip) {
			io_conn_write(c->conn, p->data, p->len);
			if (milter_stage_expects_reply(c->flags, p->cmd)) {
				c->waiting = 1;
				c->wcmd = p->cmd;
				mc_arm(c, p->cmd);
			}
		}
		free(p);
	}
	mt_check_room(c->t);
}

/* Our reply line for a milter's refusal. */
static void mc_refusal(const struct milter_reply *r, char *out, size_t len)
{
	if (r->kind == MILTER_REPLY_REJECT) {
		snprintf(out, len, "550 5.7.1 Command rejected");
	} else if (r->kind == MILTER_REPLY_TEMPFAIL) {
		snprintf(out, len, "451 4.7.1 Service unavailable - try again later");
	} else {
		/* 'y': its first line, as our single reply line */
		size_t n = strcspn(r->text.p, "\r\n");
		snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), r->text.p);
		if (out[3] == '-')
			out[3] = ' ';
	}
}

/* Keep a header change (while r's strings are still in the input). */
static void mc_change(struct mconn *c, const struct milter_reply *r)
{
	char v[MILTER_HDR_VALUE_MAX + 256];
	ssize_t vlen = milter_hdr_crlf(r->value.p ? r->value.p : "", r->value.len, v, sizeof(v));
	if (c->nchg >= MILTER_CHANGES_MAX || vlen < 0) {
		c->changes++;   /* refused: counted, not applied */
		return;
	}
	struct milter_change *ch = &c->chg[c->nchg];
	ch->kind = r->cmd;
	ch->index = r->index;
	ch->name = strndup(r->name.p, r->name.len);
	ch->value = strndup(v, (size_t)vlen);
	if (!ch->name || !ch->value) {
		free(ch->name);
		free(ch->value);
		c->changes++;
		return;
	}
	c->nchg++;
}

/* Act on one answer of a negotiated milter (line: our reply line for a
 * refusal, made while r's strings were still in the input buffer). */
static void mc_answer(struct mconn *c, const struct milter_reply *r, const char *line)
{
	switch (r->kind) {
	case MILTER_REPLY_PROGRESS:
		mc_arm(c, c->wcmd);
		return;
	case MILTER_REPLY_ADDHEADER: case MILTER_REPLY_INSHEADER: case MILTER_REPLY_CHGHEADER:
		return;   /* kept by mc_input() already */
	case MILTER_REPLY_ADDRCPT: case MILTER_REPLY_DELRCPT: case MILTER_REPLY_ADDRCPT_PAR:
	case MILTER_REPLY_CHGFROM: case MILTER_REPLY_REPLBODY: case MILTER_REPLY_QUARANTINE:
		c->changes++;   /* not applied yet (DESIGN.md) */
		return;
	case MILTER_REPLY_CONTINUE:
		c->waiting = 0;
		if (c->wcmd == MILTER_SMFIC_BODYEOB) {
			mc_finish(c, MILTER_V_ACCEPT, NULL);
			return;
		}
		mc_pump(c);
		return;
	case MILTER_REPLY_SKIP:
		c->waiting = 0;
		c->skip_body = 1;
		mc_pump(c);
		return;
	case MILTER_REPLY_ACCEPT:
		mc_finish(c, MILTER_V_ACCEPT, NULL);
		return;
	case MILTER_REPLY_DISCARD:
		mc_finish(c, MILTER_V_DISCARD, NULL);
		return;
	case MILTER_REPLY_REJECT: case MILTER_REPLY_TEMPFAIL: case MILTER_REPLY_REPLYCODE:
		mc_finish(c, line[0] == '4' ? MILTER_V_TEMPFAIL : MILTER_V_REJECT, line);
		return;
	default:
		mc_fail(c, "unexpected answer");
		return;
	}
}

/* Read every complete answer in the input. */
static void mc_input(struct mconn *c)
{
	while (!c->done && c->conn) {
		size_t avail = io_conn_in_len(c->conn), got = 0, used = 0;
		if (avail == 0)
			return;
		const uint8_t *p = io_conn_peek(c->conn, avail, &got);
		struct milter_frame f;
		struct milter_reply r;
		const char *err = NULL;
		int rc = milter_frame_next(p, got, &f, &used);
		if (rc == 0)
			return;
		if (rc < 0 || milter_reply_parse(&f, &r, &err) < 0) {
			mc_fail(c, err ? err : "malformed packet");
			return;
		}
		if (!c->negotiated) {
			if (r.kind != MILTER_REPLY_OPTNEG ||
			    milter_optneg_check(&r, MILTER_SMFIF_ALL, MILTER_OFFER_FLAGS, &err) < 0) {
				mc_fail(c, err ? err : "no OPTNEG answer");
				return;
			}
			c->flags = r.flags;
			c->negotiated = 1;
			c->waiting = 0;
			io_conn_consume(c->conn, used);
			io_timer_del(c->timer);
			mc_pump(c);
			continue;
		}
		if (!c->waiting && r.kind != MILTER_REPLY_PROGRESS) {
			mc_fail(c, "an answer nobody asked for");
			return;
		}
		char line[MILTER_LINE_MAX] = "";
		if (r.kind == MILTER_REPLY_ADDHEADER || r.kind == MILTER_REPLY_INSHEADER ||
		    r.kind == MILTER_REPLY_CHGHEADER)
			mc_change(c, &r);
		if (r.kind == MILTER_REPLY_REJECT || r.kind == MILTER_REPLY_TEMPFAIL ||
		    r.kind == MILTER_REPLY_REPLYCODE)
			mc_refusal(&r, line, sizeof(line));
		io_conn_consume(c->conn, used);   /* r's strings are gone from here on */
		mc_answer(c, &r, line);
	}
}

/* Connection events. */
static void mc_event(struct io_conn *conn, enum io_event ev, void *arg)
{
	struct mconn *c = arg;
	switch (ev) {
	case IO_EV_CONNECTED:
		c->connected = 1;
		mc_arm(c, MILTER_SMFIC_OPTNEG);
		return;
	case IO_EV_READ:
		mc_input(c);
		return;
	case IO_EV_DRAINED:
		mt_check_room(c->t);
		return;
	case IO_EV_EOF:
	case IO_EV_ERROR:
		mc_fail(c, c->connected ? "connection lost" : io_conn_error(conn));
		return;
	default:
		return;
	}
}

/* A deadline passed. */
static void mc_timeout(void *arg)
{
	struct mconn *c = arg;
	mc_fail(c, !c->connected ? "connect timeout" : !c->negotiated ? "no OPTNEG answer in time"
						      : "no answer in time");
}

/* One line naming every milter and its verdict, for the history and drills:
 * "inet:127.0.0.1:11332 accept, unix:/run/x.sock failed (default accept)". */
static void mt_summary(const struct milter_txn *t, char *out, size_t len)
{
	static const char *names[] = {"accept", "reject", "tempfail", "discard"};
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < t->n && o < len; i++) {
		const struct mconn *c = &t->c[i];
		const char *v = (unsigned)c->v < 4 ? names[c->v] : "?";
		int k = c->failed ? snprintf(out + o, len - o, "%s%s failed (default %s)",
					     i ? ", " : "", c->addr->spec, v)
				  : snprintf(out + o, len - o, "%s%s %s", i ? ", " : "",
					     c->addr->spec, v);
		if (k < 0)
			break;
		o += (size_t)k;
	}
}

/* Report the verdict from the loop. */
static void mt_kick(void *arg)
{
	struct milter_txn *t = arg;
	struct milter_result res = {0};
	if (t->reported)
		return;
	t->reported = 1;
	for (size_t i = 0; i < t->n; i++) {
		res.changes += t->c[i].changes;
		for (size_t k = 0; t->c[i].v == MILTER_V_ACCEPT && k < t->c[i].nchg; k++)
			t->all[res.nchg++] = t->c[i].chg[k];
		if (res.v == MILTER_V_ACCEPT && t->c[i].v != MILTER_V_ACCEPT) {
			res.v = t->c[i].v;
			snprintf(res.reply, sizeof(res.reply), "%s", t->c[i].reply);
			snprintf(res.who, sizeof(res.who), "%s", t->c[i].addr->spec);
		}
	}
	res.chg = t->all;
	mt_summary(t, res.summary, sizeof(res.summary));
	if (res.changes)
		log_info("milter: %s: %u recipient/sender/body change(s) asked for, not applied",
			 t->qid, res.changes);
	t->done(t, &res, t->arg);   /* may free t */
}

/* Every milter answered the end of the message: report (from the loop). */
static void mt_check_done(struct milter_txn *t)
{
	if (!t->ended || t->reported)
		return;
	for (size_t i = 0; i < t->n; i++)
		if (!t->c[i].done)
			return;
	io_timer_add(t->kick, 0);
}

/* Tell a waiting caller once every queue has room again. */
static void mt_check_room(struct milter_txn *t)
{
	if (!t->full)
		return;
	for (size_t i = 0; i < t->n; i++) {
		const struct mconn *c = &t->c[i];
		if (!c->done && (c->queued > MILTER_QUEUE_MAX ||
				 (c->conn && io_conn_out_len(c->conn) > MILTER_QUEUE_MAX)))
			return;
	}
	t->full = 0;
	if (t->room)
		t->room(t->arg);
}

/* The macros and envelope packets of a message, for every milter. */
static void mt_envelope(struct milter_txn *t, const struct milter_facts *f)
{
	struct bmx_buf b = BMX_BUF_INIT;
	char host[300], from[600], ident[300];
	int v6 = strchr(f->client_addr, ':') != NULL;
	snprintf(host, sizeof(host), f->client_name[0] ? "%s" : "[%s]",
		 f->client_name[0] ? f->client_name : f->client_addr);
	snprintf(ident, sizeof(ident), "%s [%s]", host, f->client_addr);
	const char *cmac[] = {"j", f->hostname, "{daemon_name}", f->hostname, "_", ident,
			      "{client_addr}", f->client_addr, "{client_name}", host};
	milter_put_macros(&b, MILTER_SMFIC_CONNECT, cmac, 5);
	milter_put_connect(&b, host, v6 ? '6' : '4', (uint16_t)f->client_port, f->client_addr);
	milter_put_helo(&b, f->helo[0] ? f->helo : host);
	snprintf(from, sizeof(from), "<%s>", f->sender);
	const char *mmac[] = {"i", f->qid, "{mail_addr}", f->sender};
	milter_put_macros(&b, MILTER_SMFIC_MAIL, mmac, 2);
	const char *margs[] = {from};
	milter_put_mail(&b, margs, 1);
	for (size_t i = 0; i < f->nrcpt; i++) {
		char to[600];
		snprintf(to, sizeof(to), "<%s>", f->rcpts[i]);
		const char *rmac[] = {"{rcpt_addr}", f->rcpts[i]};
		milter_put_macros(&b, MILTER_SMFIC_RCPT, rmac, 1);
		const char *rargs[] = {to};
		milter_put_rcpt(&b, rargs, 1);
	}
	milter_put_cmd(&b, MILTER_SMFIC_DATA);
	mt_queue_all(t, &b);
	bmx_buf_free(&b);
}

/* Start a message. */
struct milter_txn *milter_txn_start(struct milter_set *ms, const struct milter_facts *f,
				    milter_done_cb done, milter_room_cb room, void *arg)
{
	struct milter_txn *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ms = ms;
	t->done = done;
	t->room = room;
	t->arg = arg;
	snprintf(t->qid, sizeof(t->qid), "%s", f->qid);
	if (!(t->kick = io_timer_new(ms->loop, mt_kick, t))) {
		free(t);
		return NULL;
	}
	t->n = ms->n;
	for (size_t i = 0; i < t->n; i++) {
		struct mconn *c = &t->c[i];
		struct bmx_buf b = BMX_BUF_INIT;
		c->t = t;
		c->addr = &ms->a[i];
		c->timer = io_timer_new(ms->loop, mc_timeout, c);
		if (c->timer)
			c->conn = io_conn_connect(ms->loop, (const struct sockaddr *)&c->addr->sa,
						  c->addr->salen, NULL, 0, mc_event, c);
		if (!c->timer || !c->conn ||
		    milter_put_optneg(&b, MILTER_VERSION, MILTER_SMFIF_ALL, MILTER_OFFER_FLAGS) < 0) {
			bmx_buf_free(&b);
			c->done = 1;   /* decided below, from the loop */
			c->v = MILTER_V_TEMPFAIL;
			continue;
		}
		/* the OPTNEG goes out at once; the rest waits for its answer */
		io_conn_write(c->conn, b.p, b.len);
		bmx_buf_free(&b);
		c->waiting = 1;
		c->wcmd = MILTER_SMFIC_OPTNEG;
		io_timer_add(c->timer, (uint64_t)ms->cfg->milter_connect_timeout * 1000);
	}
	for (size_t i = 0; i < t->n; i++) {
		if (t->c[i].done && !t->c[i].conn) {
			t->c[i].done = 0;
			mc_fail(&t->c[i], "cannot connect");
		}
	}
	mt_envelope(t, f);
	return t;
}

/* One header field. */
void milter_txn_header(struct milter_txn *t, const char *name, size_t nlen, const char *value,
		       size_t vlen)
{
	struct bmx_buf b = BMX_BUF_INIT;
	if (vlen && value[0] == ' ') {
		value++;
		vlen--;
	}
	if (milter_put_header(&b, name, nlen, value, vlen) == 0)
		mt_queue_all(t, &b);
	bmx_buf_free(&b);
	for (size_t i = 0; i < t->n; i++)
		mc_pump(&t->c[i]);
}

/* The end of the header section. */
void milter_txn_eoh(struct milter_txn *t)
{
	struct bmx_buf b = BMX_BUF_INIT;
	if (milter_put_cmd(&b, MILTER_SMFIC_EOH) == 0)
		mt_queue_all(t, &b);
	bmx_buf_free(&b);
	for (size_t i = 0; i < t->n; i++)
		mc_pump(&t->c[i]);
}

/* Body octets, in chunks the protocol allows. */
int milter_txn_body(struct milter_txn *t, const void *p, size_t n)
{
	struct bmx_buf b = BMX_BUF_INIT;
	const uint8_t *q = p;
	while (n > 0) {
		size_t k = n > MILTER_BODY_CHUNK ? MILTER_BODY_CHUNK : n;
		if (milter_put_body(&b, q, k) == 0)
			mt_queue_all(t, &b);
		q += k;
		n -= k;
	}
	bmx_buf_free(&b);
	for (size_t i = 0; i < t->n; i++)
		mc_pump(&t->c[i]);
	for (size_t i = 0; i < t->n; i++) {
		const struct mconn *c = &t->c[i];
		if (!c->done && (c->queued > MILTER_QUEUE_MAX ||
				 (c->conn && io_conn_out_len(c->conn) > MILTER_QUEUE_MAX))) {
			t->full = 1;
			return 1;
		}
	}
	return 0;
}

/* The message is complete. */
void milter_txn_end(struct milter_txn *t)
{
	struct bmx_buf b = BMX_BUF_INIT;
	const char *emac[] = {"i", t->qid};
	if (milter_put_macros(&b, MILTER_SMFIC_BODYEOB, emac, 1) == 0 &&
	    milter_put_cmd(&b, MILTER_SMFIC_BODYEOB) == 0)
		mt_queue_all(t, &b);
	bmx_buf_free(&b);
	t->ended = 1;
	for (size_t i = 0; i < t->n; i++)
		mc_pump(&t->c[i]);
	mt_check_done(t);
}

/* Abort and free. */
void milter_txn_free(struct milter_txn *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		struct mconn *c = &t->c[i];
		mc_drop_queue(c);
		for (size_t k = 0; k < c->nchg; k++) {
			free(c->chg[k].name);
			free(c->chg[k].value);
		}
		mc_close(c, 1);   /* still open: the message is abandoned */
		io_timer_free(c->timer);
	}
	io_timer_free(t->kick);
	free(t);
}
