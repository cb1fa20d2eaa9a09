/*
 * spool_int.h - what the files of src/spool share and nobody else sees.
 *
 *   spool.c          open/close, writing, group commit, loading, state, removal
 *   spool_recover.c  start-up recovery (spool_recovery_*, spool_recover)
 *   spool_qid.c      CRC-32 and queue IDs
 *   spool_env.c      envelope helpers (copy, clear, check, add recipients)
 *   spool_fmt.c      the queue and state file formats (described there): writer
 *   spool_parse.c    the queue and state file formats: strict parser
 *   spool_remover.c  removals on a worker thread
 *
 * Rules: struct spool is owned by whoever called spool_open(); its directory
 * descriptors are read-only after spool_open() (the remover thread uses
 * them too).  Nothing here is for use outside src/spool.
 */
#ifndef BMX_SPOOL_INT_H
#define BMX_SPOOL_INT_H

#include "spool/spool.h"

#define ST_SUFFIX       ".st"
#define ST_NAME_MAX     (SPOOL_QID_LEN + sizeof(ST_SUFFIX))  /* "<qid>.st" and NUL */

#define QF_MAGIC        "BMXQ 1\n"
#define QF_MREC_DIGITS  20            /* width of the M record's length */
#define QF_ARRIVAL_MAX  253402300799ULL /* 9999-12-31T23:59:59Z */

struct spool {
	char *dir;
	int fd;        /* the spool directory itself */
	int tmpfd;
	int qfd;
	int stfd;
	int corfd;
	struct spool_recovery *rec;   /* the recovery under way, or NULL (loop thread only) */
};

/* Note a queue ID that this process started (spool_msg_new) while recovery
 * rec runs, so its scan skips it; rec may be NULL (no recovery). */
void spool_recovery_note(struct spool_recovery *rec, const char *qid);

/* Format "<qid>.st" into name. */
void spool_st_name(char name[ST_NAME_MAX], const char *qid);

/* Open, parse and check queue/qid into env (cleared first); 0, -1 with *why
 * (the file is damaged), or -2 (a system error, errno set).  On 0 the file
 * stays open in *fdp when fdp is not NULL (the caller closes it). */
int spool_load_file(struct spool *sp, const char *qid, struct spool_env *env, const char **why,
		    int *fdp);

/* Apply state/<qid>.st to env, if present; damaged records are logged. */
void spool_apply_state(struct spool *sp, struct spool_env *env);

/* Append a recipient to env, taking ownership of addr and orcpt (both freed
 * on failure); 0, or -1 with errno ENOMEM. */
int spool_env_push_rcpt(struct spool_env *env, char *addr, unsigned notify, char *orcpt);

/* Must octet c be written %XX in a field (outside 0x21-0x7e, or '%')?  1 or 0. */
int spool_field_must_escape(unsigned char c);

#endif
