/*
 * guard.h - the one "free later while in use" idiom of backupmx.
 *
 * An object whose callbacks can ask for its own destruction (a connection
 * that fails inside its read callback, a session whose client vanishes in
 * the middle of a reply) embeds a struct bmx_guard.  Every entry from the
 * event loop into the object is bracketed:
 *
 *     bmx_guard_enter(&o->guard);
 *     ... callbacks; any of them may call o_free(o) ...
 *     if (bmx_guard_leave(&o->guard))
 *             o_destroy(o);            (the real free, once nothing is on the stack)
 *
 * and o_free() does:
 *
 *     if (bmx_guard_kill(&o->guard))   (1: nothing on the stack, free now)
 *             o_destroy(o);
 *
 * After bmx_guard_kill() the object is dead: bmx_guard_dead() is true, and
 * code on the way out of a callback checks it before touching the object's
 * state again.  No callback of a dead object is called.
 *
 * One variant: an object that cannot be destroyed from inside a library's
 * callback at all (an io_conn's libevent bufferevent) hands itself to the
 * loop's reaper when bmx_guard_kill() says it is in use, and ignores what
 * bmx_guard_leave() returns (io_conn_leave()).
 *
 * Users: io_conn (src/io), dns_ctx (src/dns), smtp_client and the SMTP
 * server's sessions (src/smtp).
 */
#ifndef BMX_GUARD_H
#define BMX_GUARD_H

struct bmx_guard {
	unsigned depth;   /* entries from the loop now on the stack */
	int dead;         /* destruction asked for */
};

/* Enter the object from the loop. */
static inline void bmx_guard_enter(struct bmx_guard *g)
{
	g->depth++;
}

/* Leave it; 1 when it was killed meanwhile and nothing else is on the stack
 * (the caller destroys it now), else 0. */
static inline int bmx_guard_leave(struct bmx_guard *g)
{
	return --g->depth == 0 && g->dead;
}

/* Ask for destruction; 1 when the caller may destroy it now (not in use),
 * 0 when the last bmx_guard_leave() will say so, or it was killed before. */
static inline int bmx_guard_kill(struct bmx_guard *g)
{
	if (g->dead)
		return 0;
	g->dead = 1;
	return g->depth == 0;
}

/* Was destruction asked for? */
static inline int bmx_guard_dead(const struct bmx_guard *g)
{
	return g->dead;
}

#endif
