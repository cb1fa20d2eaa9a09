/*
 * spool.h - the durable message queue.
 *
 * Layout under the spool directory (mode 0700, files 0600):
 *   tmp/        messages being received (never delivered)
 *   queue/      committed messages, one file per message, named by queue ID
 *   state/      per-message delivery state (append-only records, ID.st)
 *   corrupt/    files found damaged at start-up (no END record, bad records)
 *
 * A queue file is a sequence of records; the envelope comes first, then the
 * message body (Received header already prepended), then an END record.  A
 * file without its END record is never delivered.  The parse of a queue
 * file is a pure function (spool_parse) so that it can be fuzzed.
 *
 * Durability: spool_commit() makes a batch of finished messages durable at
 * once (group commit): data sync of every file, rename into queue/, one
 * fsync of queue/.  Only after it returns 0 for a message may we answer 250.
 */
#ifndef BMX_SPOOL_H
#define BMX_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define SPOOL_QID_LEN        20     /* queue ID length (without NUL) */
#define SPOOL_RCPTS_MAX      100000 /* hard upper bound when parsing a file */
#define SPOOL_FIELD_MAX      1024   /* longest envelope field we store */

/* Per-recipient delivery state. */
enum spool_rstate { SPOOL_R_PENDING = 0, SPOOL_R_SENT, SPOOL_R_BOUNCED, SPOOL_R_DEFERRED };

struct spool_rcpt {
	char *addr;          /* "local@domain" */
	unsigned notify;     /* SMTP_NOTIFY_* bits, 0 = not given */
	char *orcpt;         /* as received, or NULL */
	enum spool_rstate state;
	char *last_reply;    /* last delivery reply/diagnostic, or NULL */
};

struct spool_env {
	char qid[SPOOL_QID_LEN + 1];
	char *sender;              /* "" for the null sender */
	time_t arrival;
	unsigned long long size;   /* body octets */
	int ret;                   /* SMTP_RET_* */
	char *envid;               /* or NULL */
	int body_8bit;             /* BODY=8BITMIME given, or 8-bit octets seen */
	int smtputf8;
	int sender_auth;           /* SPF or DKIM passed for the sender at arrival (a
				      milter's Authentication-Results; the A record) */
	char *helo;                /* client facts, for logs and DSNs */
	char *client_addr;
	char *client_name;
	size_t nrcpt;
	struct spool_rcpt *rcpt;
	size_t body_off;           /* offset of the body inside the queue file */
	/* arrival notes from the session to the delivery side (history, drills):
	   in memory only, never written, not copied by spool_env_copy() */
	char *arrival_filter;      /* the milters' verdicts, or NULL (no milters) */
	char *arrival_authres;     /* our Authentication-Results value, or NULL */
};

struct spool;
struct spool_msg;

/* Open (creating subdirectories) a spool directory.  Refuses a group- or
 * world-writable directory.  On error returns NULL and fills errbuf. */
struct spool *spool_open(const char *dir, char *errbuf, size_t errlen);
void spool_close(struct spool *sp);
const char *spool_dir(const struct spool *sp);

/* A fresh unique queue ID, sortable by arrival time, [0-9A-Za-z] only. */
void spool_qid_new(char out[SPOOL_QID_LEN + 1]);

/* Envelope helpers: allocate / free the strings inside an env. */
int spool_env_add_rcpt(struct spool_env *env, const char *addr, unsigned notify, const char *orcpt);
void spool_env_clear(struct spool_env *env);

/* Start writing a message in tmp/ with the given envelope (env->qid must be
 * set).  Body bytes follow with spool_msg_write(). */
struct spool_msg *spool_msg_new(struct spool *sp, const struct spool_env *env);
int spool_msg_write(struct spool_msg *m, const void *buf, size_t len);
/* Write the END record and flush to the kernel (no sync yet). */
int spool_msg_finish(struct spool_msg *m);
/* Read len octets of a finished message's text at off; 0 or -1. */
int spool_msg_pread(struct spool_msg *m, void *buf, size_t len, size_t off);
/* Octets of message text written (our Received: header included). */
unsigned long long spool_msg_size(const struct spool_msg *m);
/* After spool_msg_finish(): replace the first old_len octets of the text
 * (the header section) with hdr[0..len) and the envelope with env (a
 * milter's header changes).  0, or -1 with the message unchanged. */
int spool_msg_rewrite(struct spool_msg *m, const struct spool_env *env, size_t old_len,
		      const void *hdr, size_t len);
/* Errno of the first failure on this message (ENOSPC, EIO...), 0 if none. */
int spool_msg_errno(const struct spool_msg *m);
const char *spool_msg_qid(const struct spool_msg *m);
/* Discard: unlink the temp file and free.  Safe after a failure. */
void spool_msg_abort(struct spool_msg *m);

/* Group commit: make every finished message in msgs[0..n) durable and visible
 * in queue/.  ok[i] is set to 1 for each message that is now durable; such a
 * message is freed (its ID stays valid in the caller's copy).  Messages with
 * ok[i]==0 were aborted (temp file removed) and freed too.  Returns 0 if all
 * succeeded, -1 otherwise. */
int spool_commit(struct spool *sp, struct spool_msg **msgs, size_t n, int *ok);

/* Pure parser of a whole queue file image.  Returns 0 and fills env (caller
 * frees with spool_env_clear), or -1 with *err set (no END record, bad
 * record, limits exceeded). */
int spool_parse(const uint8_t *buf, size_t len, struct spool_env *env, const char **err);

/* Start-up recovery: remove tmp/ leftovers, move damaged queue files to
 * corrupt/ (logged); call cb for each good message with its envelope
 * (delivery state from state/ already applied).  Returns the count or -1. */
typedef void (*spool_scan_cb)(const struct spool_env *env, void *arg);
long spool_recover(struct spool *sp, spool_scan_cb cb, void *arg);

/* The same a batch at a time, so that the daemon serves meanwhile
 * (spool_recover.c).  _new() locks the spool and empties tmp/ at once (NULL
 * on failure, logged); each _step() reads at most max_files directory
 * entries and stops after max_ms ms (0: no time limit), returning 1 while
 * there is more, 0 when recovery is over, -1 when it ended early on an error
 * (logged; the rest is recovered at the next start).  Messages started with
 * spool_msg_new() meanwhile are skipped, so call both on one thread.  Free
 * the recovery (finished or not) before spool_close(). */
struct spool_recovery;
struct spool_recovery *spool_recovery_new(struct spool *sp, spool_scan_cb cb, void *arg);
int spool_recovery_step(struct spool_recovery *rv, size_t max_files, unsigned max_ms);
/* Messages handed to cb so far. */
long spool_recovery_count(const struct spool_recovery *rv);
/* Is the recovery over?  1 or 0. */
int spool_recovery_done(const struct spool_recovery *rv);
void spool_recovery_free(struct spool_recovery *rv);

/* A queue file found damaged (spool_load: EBADMSG) while the daemon runs:
 * move it and its state file to corrupt/, logged.  0, or -1 (kept). */
int spool_quarantine(struct spool *sp, const char *qid, const char *why);
/* Load one message's envelope (with delivery state applied); -1 with errno
 * ENOENT (gone), EBADMSG (damaged, logged) or a system error. */
int spool_load(struct spool *sp, const char *qid, struct spool_env *env);
/* Open the body for reading: returns an fd positioned at the body start and
 * sets *len to the body length; the caller closes it. */
int spool_body_open(struct spool *sp, const char *qid, size_t *len);

/* The same for a message whose envelope env was loaded just now by
 * spool_load() (so already checked): no second parse of the file. */
int spool_body_open_env(struct spool *sp, const struct spool_env *env, size_t *len);

/* Durably record a recipient's final or deferred state (fsync'd append to
 * state/ID.st) before the next attempt.  reply may be NULL. */
int spool_set_rcpt_state(struct spool *sp, const char *qid, size_t idx, enum spool_rstate st,
			 const char *reply);
/* Remove a message whose recipients are all done (queue file, then state). */
int spool_remove(struct spool *sp, const char *qid);
/* The same without the fsync of queue/: many removals can then share one
 * spool_sync_queue().  Until that sync a crash can bring a removed message
 * back (a duplicate delivery, never a loss). */
int spool_remove_nosync(struct spool *sp, const char *qid);
int spool_sync_queue(struct spool *sp);

/* Removal off the event loop (spool_remover.c): a worker thread unlinks the
 * queue IDs handed to it and makes each batch durable with one fsync of
 * queue/.  spool_remover_add() returns -1 (nothing handed over) when out of
 * memory; spool_remover_free() finishes every removal handed over first. */
struct spool_remover;
struct spool_remover *spool_remover_new(struct spool *sp);
int spool_remover_add(struct spool_remover *rm, const char *qid);
void spool_remover_free(struct spool_remover *rm);

/* ---- additions (spool module owner) ---- */

/* Notes on the calls above:
 * - spool_msg_new() returns NULL with errno set: EINVAL when spool_env_check()
 *   refuses the envelope, EEXIST for a reused ID, else the create/write error
 *   (ENOSPC...).  env->size and env->body_off are ignored (the body is counted).
 * - spool_commit() frees every msgs[i] whatever happens: drop your pointers.
 * - spool_parse() and spool_load() overwrite *env without freeing it first;
 *   their body_8bit is "BODY=8BITMIME given, or an octet >= 0x80 in the body".
 * - spool_recover(): the env given to cb is freed when cb returns (keep a
 *   spool_env_copy()).  It takes an exclusive flock() on the spool directory,
 *   held until spool_close(), so a second daemon's recovery fails.
 * - spool_body_open(): read exactly *len octets; the END record follows them.
 * - spool_set_rcpt_state(): the record is fdatasync'd before it returns 0.
 *   See spool.c for the at-least-once promise.  Replies are truncated to
 *   SPOOL_FIELD_MAX octets. */

#define SPOOL_LINE_MAX       8192   /* longest record line in a queue or state file */
#define SPOOL_MSG_BUF        (64 * 1024) /* user-space write buffer per message */
#define SPOOL_NOTIFY_MASK    0xfu   /* the SMTP_NOTIFY_* bits a recipient may carry */

/* Is s a well-formed queue ID (SPOOL_QID_LEN chars of [0-9A-Za-z])?  1 or 0. */
int spool_qid_valid(const char *s);
/* Can env be stored (bounded fields, 1..SPOOL_RCPTS_MAX recipients, valid qid)?
 * 0, or -1 with *err set to a static reason. */
int spool_env_check(const struct spool_env *env, const char **err);
/* Deep copy src into dst (dst is overwritten, not freed first).  0 or -1. */
int spool_env_copy(struct spool_env *dst, const struct spool_env *src);
/* "pending", "sent", "bounced", "deferred" (or "?"). */
const char *spool_rstate_name(enum spool_rstate st);

/* Serialise a complete queue-file image (envelope + body + END) into a fresh
 * malloc'd buffer; env->size and env->body_off are ignored.  0 or -1. */
int spool_format(const struct spool_env *env, const void *body, size_t len, uint8_t **out,
		 size_t *outlen);
/* Pure: apply a state file image (state/ID.st) to env's recipients.  Torn or
 * damaged records are skipped and counted in *skipped (may be NULL). */
void spool_state_apply(struct spool_env *env, const uint8_t *buf, size_t len, size_t *skipped);

/* Lower-level formatting, shared by the spool's own files and its tests. */
typedef int (*spool_put_fn)(void *ctx, const void *p, size_t n);
/* CRC-32 (IEEE 802.3, as zlib's crc32()) of buf, continuing from crc (start at 0). */
uint32_t spool_crc32(uint32_t crc, const void *buf, size_t len);
/* Emit the envelope records (magic line through the last R record) through put,
 * updating *crc over them and counting them in *nrec.  0, or -1 if env is not
 * storable (errno EINVAL) or put failed. */
int spool_fmt_header(const struct spool_env *env, spool_put_fn put, void *ctx, uint32_t *crc,
		     unsigned long *nrec);
/* Format one state record for recipient idx into buf (reply is truncated to
 * SPOOL_FIELD_MAX octets).  Returns its length, or -1. */
int spool_fmt_state(char *buf, size_t size, size_t idx, enum spool_rstate st, const char *reply);

/* TESTING ONLY: when set, called before each spool I/O step with op one of
 * "create", "write", "sync", "syncfs", "rename", "dirsync", "state"; a
 * non-zero return is taken as the errno of a failure of that step. */
extern int (*spool_fault_hook)(const char *op, const char *qid);

#endif
