/*
 * test_spool.c - unit tests of the durable queue (src/spool/): queue IDs,
 *                the record format and its parser, writing and group commit,
 *                recovery of damaged spools, delivery state, permissions,
 *                write failures (RLIMIT_FSIZE and the fault hook), and a small
 *                timing of group commit on the disk under $TMPDIR (or /tmp).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "spool/spool.h"

/* Per-test fixture: a fresh temp directory holding the spool. */
struct fx {
	char root[64];
	char dir[96];
};

/* ---- helpers ---- */

/* Remove one entry (nftw callback). */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Create the temp directory for one test. */
static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *t = getenv("TMPDIR");

	snprintf(f->root, sizeof(f->root), "%s/test_spool.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(f->root) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/spool", f->root);
	*state = f;
	return 0;
}

/* Remove the temp directory. */
static int fx_teardown(void **state)
{
	struct fx *f = *state;

	spool_fault_hook = NULL;
	chmod(f->root, 0700);
	nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Number of entries in dir/sub. */
static int count_dir(const char *dir, const char *sub)
{
	char p[256];
	int n = 0;
	struct dirent *de;
	DIR *d;

	snprintf(p, sizeof(p), "%s/%s", dir, sub);
	if ((d = opendir(p)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Does dir/sub/name exist? */
static int exists(const char *dir, const char *sub, const char *name)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s/%s", dir, sub, name);
	return lstat(p, &st) == 0;
}

/* Write len bytes to dir/sub/name (mode 0600). */
static void put_file(const char *dir, const char *sub, const char *name, const void *p,
		     size_t len, int append)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
}

/* Fill env with a simple envelope for qid with nrcpt recipients. */
static void env_simple(struct spool_env *env, const char *qid, size_t nrcpt)
{
	char a[64];

	memset(env, 0, sizeof(*env));
	memcpy(env->qid, qid, SPOOL_QID_LEN + 1);
	env->sender = strdup("sender@client.test");
	env->arrival = 1700000000;
	env->helo = strdup("client.test");
	env->client_addr = strdup("127.0.0.1");
	for (size_t i = 0; i < nrcpt; i++) {
		snprintf(a, sizeof(a), "r%zu@example.test", i);
		assert_int_equal(spool_env_add_rcpt(env, a, 0, NULL), 0);
	}
}

/* Are two (possibly NULL) strings equal? */
static int str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Assert that two envelopes are equal, field by field. */
static void assert_env_equal(const struct spool_env *a, const struct spool_env *b)
{
	assert_string_equal(a->qid, b->qid);
	assert_true(str_eq(a->sender, b->sender));
	assert_int_equal(a->arrival, b->arrival);
	assert_int_equal(a->ret, b->ret);
	assert_true(str_eq(a->envid, b->envid));
	assert_int_equal(a->body_8bit, b->body_8bit);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_true(str_eq(a->helo, b->helo));
	assert_true(str_eq(a->client_addr, b->client_addr));
	assert_true(str_eq(a->client_name, b->client_name));
	assert_int_equal(a->nrcpt, b->nrcpt);
	for (size_t i = 0; i < a->nrcpt; i++) {
		assert_string_equal(a->rcpt[i].addr, b->rcpt[i].addr);
		assert_int_equal(a->rcpt[i].notify, b->rcpt[i].notify);
		assert_true(str_eq(a->rcpt[i].orcpt, b->rcpt[i].orcpt));
		assert_int_equal(a->rcpt[i].state, b->rcpt[i].state);
		assert_true(str_eq(a->rcpt[i].last_reply, b->rcpt[i].last_reply));
	}
}

/* Write one message with the given body in chunks of `chunk` and commit it. */
static void write_msg(struct spool *sp, const struct spool_env *env, const uint8_t *body,
		      size_t len, size_t chunk)
{
	struct spool_msg *m = spool_msg_new(sp, env);
	int ok = 0;

	assert_non_null(m);
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		assert_int_equal(spool_msg_write(m, body + off, n), 0);
	}
	assert_int_equal(spool_msg_finish(m), 0);
	assert_int_equal(spool_msg_errno(m), 0);
	assert_int_equal(spool_commit(sp, &m, 1, &ok), 0);
	assert_int_equal(ok, 1);
}

/* Read the whole body of qid and compare it with want. */
static void check_body(struct spool *sp, const char *qid, const uint8_t *want, size_t len)
{
	size_t blen = 0, got = 0;
	uint8_t *buf = malloc(len + 1);
	int fd = spool_body_open(sp, qid, &blen);
	ssize_t r;

	assert_true(fd >= 0);
	assert_int_equal(blen, len);
	while ((r = read(fd, buf + got, len + 1 - got)) > 0)
		got += (size_t)r;
	/* after the body comes the END record, which we may read too: compare body only */
	assert_true(got >= len);
	assert_memory_equal(buf, want, len);
	close(fd);
	free(buf);
}

/* Deterministic pseudo-random bytes. */
static void fill_rand(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* ---- queue IDs ---- */

/* 100000 IDs: well-formed, strictly increasing (hence unique and sorted). */
static void test_qid(void **state)
{
	char prev[SPOOL_QID_LEN + 1], cur[SPOOL_QID_LEN + 1];

	(void)state;
	spool_qid_new(prev);
	assert_true(spool_qid_valid(prev));
	for (int i = 0; i < 100000; i++) {
		spool_qid_new(cur);
		assert_int_equal(strlen(cur), SPOOL_QID_LEN);
		assert_true(spool_qid_valid(cur));
		assert_true(strcmp(prev, cur) < 0);
		memcpy(prev, cur, sizeof(cur));
	}
	static const char *bad[] = {"", "abc", "0123456789012345678.", "012345678901234567890",
				    "01234567890123456789/", "../../../../etc/passw"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(spool_qid_valid(bad[i]));
	assert_true(spool_qid_valid("0123456789abcdefABCD"));
}

/* ---- the format ---- */

/* Known CRC-32 check value. */
static void test_crc32(void **state)
{
	(void)state;
	assert_int_equal(spool_crc32(0, "123456789", 9), 0xcbf43926u);
	assert_int_equal(spool_crc32(spool_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
}

struct rt_case {
	const char *sender, *envid, *helo, *caddr, *cname, *rcpt, *orcpt;
	unsigned notify;
	int ret, b8, utf8;
	const char *body;
	size_t blen;
};

static const struct rt_case rt_cases[] = {
	{"a@b.test", NULL, NULL, NULL, NULL, "r@example.test", NULL, 0, 0, 0, 0, "", 0},
	{"", "env id%", "helo\r\nR 0 =x -", "::1", "host\n", "r@example.test", "rfc822;r@x",
	 0xf, 2, 1, 1, "Subject: x\r\n\r\nbody\r\n", 20},
	{"s p%a\tce@x", "", "\x01\x7f\xff", "127.0.0.1", "", "u\xc3\xa9@d\xc3\xa9.test", "",
	 6, 1, 0, 1, "\0\r\n.\r\n\0Z 1 2 3\nM 5\n", 19},
	{"%41%%", "=-", "-", "=", "%00", "=-@x", "-", 1, 0, 0, 0, "\x80\xff", 2},
};

/* Envelopes with awkward bytes and binary bodies survive disk and spool_format. */
static void test_roundtrip(void **state)
{
	struct fx *f = *state;
	char err[256];
	struct spool *sp = spool_open(f->dir, err, sizeof(err));

	assert_non_null(sp);
	for (size_t i = 0; i < sizeof(rt_cases) / sizeof(rt_cases[0]); i++) {
		const struct rt_case *c = &rt_cases[i];
		struct spool_env env = {0}, got, got2;
		uint8_t *img;
		size_t imglen;
		const char *why = NULL;

		spool_qid_new(env.qid);
		env.sender = strdup(c->sender);
		env.envid = c->envid ? strdup(c->envid) : NULL;
		env.helo = c->helo ? strdup(c->helo) : NULL;
		env.client_addr = c->caddr ? strdup(c->caddr) : NULL;
		env.client_name = c->cname ? strdup(c->cname) : NULL;
		env.arrival = 1700000000 + (time_t)i;
		env.ret = c->ret;
		env.body_8bit = c->b8;
		env.smtputf8 = c->utf8;
		assert_int_equal(spool_env_add_rcpt(&env, c->rcpt, c->notify, c->orcpt), 0);
		assert_int_equal(spool_env_add_rcpt(&env, "second@example.test", 2, NULL), 0);
		write_msg(sp, &env, (const uint8_t *)c->body, c->blen, 3);

		/* what the parser reports for 8-bit: the flag or an octet >= 0x80 */
		for (size_t k = 0; k < c->blen; k++)
			if ((unsigned char)c->body[k] >= 0x80)
				env.body_8bit = 1;
		assert_int_equal(spool_load(sp, env.qid, &got), 0);
		assert_env_equal(&env, &got);
		assert_int_equal(got.size, c->blen);
		check_body(sp, env.qid, (const uint8_t *)c->body, c->blen);

		assert_int_equal(spool_format(&env, c->body, c->blen, &img, &imglen), 0);
		assert_int_equal(spool_parse(img, imglen, &got2, &why), 0);
		assert_env_equal(&env, &got2);
		assert_int_equal(got2.body_off + got2.size + 1 <= imglen, 1);
		assert_memory_equal(img + got2.body_off, c->body, c->blen);
		/* the file on disk is byte for byte what spool_format produces */
		{
			char path[256];
			struct stat st;
			snprintf(path, sizeof(path), "%s/queue/%s", f->dir, env.qid);
			assert_int_equal(stat(path, &st), 0);
			assert_int_equal(st.st_size, (off_t)imglen);
			assert_int_equal(st.st_mode & 0777, 0600);
		}
		free(img);
		spool_env_clear(&got);
		spool_env_clear(&got2);
		spool_env_clear(&env);
	}
	spool_close(sp);
}

/* A 5 MB binary body written in odd-sized chunks, and a 0-byte body. */
static void test_big_body(void **state)
{
	static const size_t chunks[] = {1, 7, 4093, 65535, 65536, 65537, 300007};
	struct fx *f = *state;
	struct spool *sp = spool_open(f->dir, NULL, 0);
	size_t len = 5 * 1024 * 1024 + 3;
	uint8_t *body = malloc(len);
	struct spool_env env, got;

	assert_non_null(sp);
	fill_rand(body, len, 42);
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		size_t n = chunks[c] == 1 ? 200000 : len; /* byte-at-a-time: a shorter body */
		char qid[SPOOL_QID_LEN + 1];
		spool_qid_new(qid);
		env_simple(&env, qid, 1);
		write_msg(sp, &env, body, n, chunks[c]);
		assert_int_equal(spool_load(sp, qid, &got), 0);
		assert_int_equal(got.size, n);
		check_body(sp, qid, body, n);
		spool_env_clear(&got);
		spool_env_clear(&env);
	}
	/* empty body */
	char qid[SPOOL_QID_LEN + 1];
	spool_qid_new(qid);
	env_simple(&env, qid, 1);
	write_msg(sp, &env, body, 0, 1);
	assert_int_equal(spool_load(sp, qid, &got), 0);
	assert_int_equal(got.size, 0);
	assert_int_equal(got.body_8bit, 0);
	check_body(sp, qid, body, 0);
	spool_env_clear(&got);
	spool_env_clear(&env);
	free(body);
	spool_close(sp);
}

/* Build a queue-file image from envelope lines and a body, with correct M/Z. */
static size_t build_image(char *out, size_t cap, const char *lines, const char *body)
{
	size_t blen = strlen(body), n;
	uint32_t crc;
	unsigned long nrec = 1;

	n = (size_t)snprintf(out, cap, "BMXQ 1\n%s", lines);
	for (const char *p = lines; *p; p++)
		nrec += *p == '\n';
	crc = spool_crc32(0, out, n);
	n += (size_t)snprintf(out + n, cap - n, "M %020zu\n%s", blen, body);
	crc = spool_crc32(crc, body, blen);
	n += (size_t)snprintf(out + n, cap - n, "Z %lu %zu %08x\n", nrec + 1, blen, (unsigned)crc);
	return n;
}

#define GOODHDR_NO_R "I 0000000000000000000A\nT 1\nS =a@b\nN 0\nE -\nF 0 0\nH -\nC -\nD -\n"
#define GOODHDR GOODHDR_NO_R "R 0 =r@x -\n"

struct bad_case {
	const char *lines;
	const char *why; /* expected reason, NULL = must parse */
};

static const struct bad_case bad_cases[] = {
	{GOODHDR, NULL},
	{GOODHDR "R 15 =%25%20x =%0D%0A\n", NULL},
	{GOODHDR_NO_R, "no recipients"},
	{GOODHDR "I 0000000000000000000A\n", "duplicate record"},
	{GOODHDR "S =x\n", "duplicate record"},
	{GOODHDR "X 1\n", "unknown record type"},
	{GOODHDR "Z 1 2 3\n", "unknown record type"},
	{"I 0000000000000000000A\nT 1\nS =a@b\nN 0\nE -\nF 0 0\nH -\nC -\nR 0 =r@x -\n",
	 "missing envelope record"},
	{GOODHDR "R 0 =r@x\n", "malformed record"},
	{GOODHDR "R 0 =r@x -  \n", "malformed record"},
	{GOODHDR "R 0  =r@x -\n", "malformed record"},
	{GOODHDR "R 16 =r@x -\n", "bad NOTIFY"},
	{GOODHDR "R 01 =r@x -\n", "bad NOTIFY"},
	{GOODHDR "R 0 = -\n", "bad recipient"},
	{GOODHDR "R 0 - -\n", "bad recipient"},
	{GOODHDR "R 0 =a%41 -\n", "bad recipient"},
	{GOODHDR "R 0 =a%0d -\n", "bad recipient"},
	{GOODHDR "R 0 =a%00 -\n", "bad recipient"},
	{GOODHDR "R 0 =a% -\n", "bad recipient"},
	{GOODHDR "R 0 =a%2 -\n", "bad recipient"},
	{GOODHDR "R 0 =a\r -\n", "bad recipient"},
	{GOODHDR "R 0 =a\x80 -\n", "bad recipient"},
	{GOODHDR "R 0 =r@x x\n", "bad ORCPT"},
	{"I 0000000000000000000A\nT 01\nS =a@b\nN 0\nE -\nF 0 0\nH -\nC -\nD -\nR 0 =r@x -\n",
	 "bad arrival time"},
	{"I 0000000000000000000A\nT 1\nS -\nN 0\nE -\nF 0 0\nH -\nC -\nD -\nR 0 =r@x -\n",
	 "bad sender"},
	{"I 0000000000000000000A\nT 1\nS =\nN 3\nE -\nF 0 0\nH -\nC -\nD -\nR 0 =r@x -\n",
	 "bad RET"},
	{"I 0000000000000000000A\nT 1\nS =\nN 0\nE -\nF 0 2\nH -\nC -\nD -\nR 0 =r@x -\n",
	 "bad flags"},
	{"I 000000000000000000.A\nT 1\nS =\nN 0\nE -\nF 0 0\nH -\nC -\nD -\nR 0 =r@x -\n",
	 "bad queue ID"},
	{"I 0000000000000000000\nT 1\nS =\nN 0\nE -\nF 0 0\nH -\nC -\nD -\nR 0 =r@x -\n",
	 "bad queue ID"},
	{GOODHDR "\n", "malformed record"},
	{GOODHDR "R\n", "malformed record"},
};

/* Hand-made files: each must be refused for its own reason. */
static void test_parse_table(void **state)
{
	char buf[8192];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct spool_env env;
		const char *why = NULL;
		size_t n = build_image(buf, sizeof(buf), bad_cases[i].lines, "body\r\n");
		int rc = spool_parse((uint8_t *)buf, n, &env, &why);
		if (bad_cases[i].why == NULL) {
			assert_int_equal(rc, 0);
			spool_env_clear(&env);
		} else {
			assert_int_equal(rc, -1);
			assert_non_null(why);
			if (strcmp(why, bad_cases[i].why) != 0)
				fail_msg("case %zu: got \"%s\", want \"%s\"", i, why,
					 bad_cases[i].why);
			assert_int_equal(env.nrcpt, 0);
			assert_null(env.sender);
		}
	}
	/* a field of exactly SPOOL_FIELD_MAX octets parses, one more does not */
	for (size_t extra = 0; extra < 2; extra++) {
		char lines[4096];
		struct spool_env env;
		const char *why = NULL;
		int n = snprintf(lines, sizeof(lines), GOODHDR_NO_R "R 0 =");
		memset(lines + n, 'a', SPOOL_FIELD_MAX + extra);
		strcpy(lines + n + SPOOL_FIELD_MAX + extra, " -\n");
		size_t len = build_image(buf, sizeof(buf), lines, "");
		assert_int_equal(spool_parse((uint8_t *)buf, len, &env, &why), extra ? -1 : 0);
		spool_env_clear(&env);
	}
}

/* Damage to a valid image: every truncation, every byte flip, trailing bytes. */
static void test_parse_damage(void **state)
{
	struct spool_env env, got;
	uint8_t *img;
	size_t len;
	const char *why;

	(void)state;
	env_simple(&env, "0000000000000000000B", 2);
	env.envid = strdup("id");
	assert_int_equal(spool_format(&env, "Hello\r\n\0world\r\n", 15, &img, &len), 0);
	assert_int_equal(spool_parse(img, len, &got, &why), 0);
	spool_env_clear(&got);
	for (size_t l = 0; l < len; l++) {
		why = NULL;
		assert_int_equal(spool_parse(img, l, &got, &why), -1);
		assert_non_null(why);
		assert_int_equal(got.nrcpt, 0);
	}
	for (size_t i = 0; i < len; i++) {
		static const uint8_t flips[] = {0x01, 0x20, 0x80, 0xff};
		for (size_t k = 0; k < sizeof(flips); k++) {
			img[i] ^= flips[k];
			if (spool_parse(img, len, &got, &why) == 0)
				fail_msg("flip 0x%02x at offset %zu of %zu accepted", flips[k],
					 i, len);
			img[i] ^= flips[k];
		}
	}
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, img, len);
	longer[len] = '\n';
	assert_int_equal(spool_parse(longer, len + 1, &got, &why), -1);
	assert_string_equal(why, "trailing garbage after END record");
	assert_int_equal(spool_parse((const uint8_t *)"", 0, &got, &why), -1);
	free(longer);
	free(img);
	spool_env_clear(&env);
}

/* Envelopes that could not be read back are refused before anything is written. */
static void test_env_check(void **state)
{
	struct fx *f = *state;
	struct spool *sp = spool_open(f->dir, NULL, 0);
	struct spool_env env;
	char big[SPOOL_FIELD_MAX + 2];

	assert_non_null(sp);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	env_simple(&env, "0000000000000000000C", 0);
	assert_null(spool_msg_new(sp, &env)); /* no recipients */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_env_add_rcpt(&env, big, 0, NULL), -1);
	assert_int_equal(spool_env_add_rcpt(&env, "", 0, NULL), -1);
	assert_int_equal(spool_env_add_rcpt(&env, "a@b", 0x10, NULL), -1);
	assert_int_equal(spool_env_add_rcpt(&env, "a@b", 0, NULL), 0);
	free(env.helo);
	env.helo = strdup(big);
	assert_null(spool_msg_new(sp, &env));
	free(env.helo);
	env.helo = NULL;
	memcpy(env.qid, "../../etc/passwd0000", SPOOL_QID_LEN + 1);
	assert_null(spool_msg_new(sp, &env));
	assert_int_equal(count_dir(f->dir, "tmp"), 0);
	spool_env_clear(&env);
	spool_close(sp);
}

/* ---- commit, recovery, state ---- */

/* Recovery callback: collect queue IDs and recipient states. */
struct seen {
	size_t n;
	char qid[64][SPOOL_QID_LEN + 1];
	enum spool_rstate st[64][3];
	char reply[64][64];
};

/* Record one recovered message. */
static void seen_cb(const struct spool_env *env, void *arg)
{
	struct seen *s = arg;

	if (s->n >= 64)
		return;
	memcpy(s->qid[s->n], env->qid, sizeof(env->qid));
	for (size_t i = 0; i < env->nrcpt && i < 3; i++)
		s->st[s->n][i] = env->rcpt[i].state;
	snprintf(s->reply[s->n], sizeof(s->reply[0]), "%s",
		 env->nrcpt && env->rcpt[0].last_reply ? env->rcpt[0].last_reply : "");
	s->n++;
}

/* A batch of 50 in one commit, then recovery sees all 50 in order. */
static void test_batch_commit(void **state)
{
	struct fx *f = *state;
	struct spool *sp = spool_open(f->dir, NULL, 0);
	struct spool_msg *m[50];
	char qids[50][SPOOL_QID_LEN + 1];
	int ok[50];
	struct seen *s = calloc(1, sizeof(*s));

	assert_non_null(sp);
	for (int i = 0; i < 50; i++) {
		struct spool_env env;
		char body[64];
		spool_qid_new(qids[i]);
		env_simple(&env, qids[i], 1 + (size_t)i % 3);
		m[i] = spool_msg_new(sp, &env);
		assert_non_null(m[i]);
		int n = snprintf(body, sizeof(body), "Subject: %d\r\n\r\nx\r\n", i);
		assert_int_equal(spool_msg_write(m[i], body, (size_t)n), 0);
		assert_int_equal(spool_msg_finish(m[i]), 0);
		spool_env_clear(&env);
	}
	assert_int_equal(count_dir(f->dir, "tmp"), 50);
	assert_int_equal(count_dir(f->dir, "queue"), 0);
	assert_int_equal(spool_commit(sp, m, 50, ok), 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(ok[i], 1);
	assert_int_equal(count_dir(f->dir, "tmp"), 0);
	assert_int_equal(count_dir(f->dir, "queue"), 50);
	spool_close(sp);

	sp = spool_open(f->dir, NULL, 0);
	assert_int_equal(spool_recover(sp, seen_cb, s), 50);
	assert_int_equal(s->n, 50);
	for (int i = 0; i < 50; i++)
		assert_string_equal(s->qid[i], qids[i]);
	spool_close(sp);
	free(s);
}

/* Write a spool_format image of a one-recipient message to queue/qid. */
static void plant(const char *dir, const char *qid, size_t cut, const char *tail)
{
	struct spool_env env;
	uint8_t *img;
	size_t len;

	env_simple(&env, qid, 2);
	assert_int_equal(spool_format(&env, "body\r\n", 6, &img, &len), 0);
	if (cut > 0 && cut < len)
		len = cut;
	put_file(dir, "queue", qid, img, len, 0);
	if (tail)
		put_file(dir, "queue", qid, tail, strlen(tail), 1);
	free(img);
	spool_env_clear(&env);
}

/* Recovery: damaged files go to corrupt/, tmp/ is emptied, state is applied. */
static void test_recover(void **state)
{
	struct fx *f = *state;
	struct spool *sp = spool_open(f->dir, NULL, 0);
	struct seen *s = calloc(1, sizeof(*s));
	char good1[] = "0000000000000000001A", good2[] = "0000000000000000002A";
	char trunc[] = "0000000000000000003A", noend[] = "0000000000000000004A";
	char garbage[] = "0000000000000000005A", extra[] = "0000000000000000006A";
	char rec[SPOOL_LINE_MAX];
	int n;

	assert_non_null(sp);
	plant(f->dir, good1, 0, NULL);
	plant(f->dir, good2, 0, NULL);
	plant(f->dir, trunc, 60, NULL);
	plant(f->dir, noend, 0, NULL);
	/* cut the END record off noend: rewrite without its last line */
	{
		struct spool_env env;
		uint8_t *img;
		size_t len;
		env_simple(&env, noend, 2);
		assert_int_equal(spool_format(&env, "body\r\n", 6, &img, &len), 0);
		size_t k = len - 1;
		while (img[k - 1] != '\n')
			k--;
		put_file(f->dir, "queue", noend, img, k, 0);
		free(img);
		spool_env_clear(&env);
	}
	put_file(f->dir, "queue", garbage, "\x7f" "ELF garbage\0\n", 13, 0);
	plant(f->dir, extra, 0, "X");
	put_file(f->dir, "queue", "not-a-qid", "x", 1, 0);
	put_file(f->dir, "tmp", "0000000000000000009A", "BMXQ 1\nI ", 9, 0);
	/* state: good1 rcpt 0 sent, then a torn record; good2 rcpt 1 bounced */
	n = spool_fmt_state(rec, sizeof(rec), 0, SPOOL_R_SENT, "250 2.0.0 ok");
	put_file(f->dir, "state", "0000000000000000001A.st", rec, (size_t)n, 0);
	n = spool_fmt_state(rec, sizeof(rec), 1, SPOOL_R_SENT, "250 torn");
	put_file(f->dir, "state", "0000000000000000001A.st", rec, (size_t)n - 3, 1);
	n = spool_fmt_state(rec, sizeof(rec), 1, SPOOL_R_BOUNCED, "550 5.1.1 no");
	put_file(f->dir, "state", "0000000000000000002A.st", rec, (size_t)n, 0);
	put_file(f->dir, "state", "0000000000000000003A.st", rec, (size_t)n, 0);
	put_file(f->dir, "state", "0000000000000000077A.st", rec, (size_t)n, 0);
	put_file(f->dir, "state", "junk", "x", 1, 0);

	assert_int_equal(spool_recover(sp, seen_cb, s), 2);
	assert_int_equal(s->n, 2);
	assert_string_equal(s->qid[0], good1);
	assert_int_equal(s->st[0][0], SPOOL_R_SENT);
	assert_int_equal(s->st[0][1], SPOOL_R_PENDING); /* torn record ignored */
	assert_string_equal(s->reply[0], "250 2.0.0 ok");
	assert_string_equal(s->qid[1], good2);
	assert_int_equal(s->st[1][0], SPOOL_R_PENDING);
	assert_int_equal(s->st[1][1], SPOOL_R_BOUNCED);

	assert_int_equal(count_dir(f->dir, "tmp"), 0);
	assert_int_equal(count_dir(f->dir, "queue"), 2);
	static const char *const moved[] = {"0000000000000000003A", "0000000000000000004A",
					    "0000000000000000005A", "0000000000000000006A",
					    "not-a-qid", "0000000000000000003A.st"};
	for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++)
		assert_true(exists(f->dir, "corrupt", moved[i]));
	assert_int_equal(count_dir(f->dir, "corrupt"), 6);
	/* orphan state files are gone, the good ones stay */
	assert_int_equal(count_dir(f->dir, "state"), 2);
	assert_false(exists(f->dir, "state", "0000000000000000077A.st"));

	/* a second daemon on the same spool is refused while we hold it */
	struct spool *sp2 = spool_open(f->dir, NULL, 0);
	assert_non_null(sp2);
	assert_int_equal(spool_recover(sp2, NULL, NULL), -1);
	spool_close(sp2);
	spool_close(sp);

	/* and a clean restart finds the same two messages, nothing more moved */
	memset(s, 0, sizeof(*s));
	sp = spool_open(f->dir, NULL, 0);
	assert_int_equal(spool_recover(sp, seen_cb, s), 2);
	assert_int_equal(count_dir(f->dir, "corrupt"), 6);
	spool_close(sp);
	free(s);
}

/* Recovery a few files at a time while the process receives: this process's
 * own message is skipped, a file removed after it was listed is "gone", the
 * rest arrive in queue-ID order, orphan state goes at the end. */
static void test_recover_steps(void **state)
{
	struct fx *f = *state;
	struct spool *sp = spool_open(f->dir, NULL, 0);
	struct seen *s = calloc(1, sizeof(*s));
	char qids[30][SPOOL_QID_LEN + 1], rec[SPOOL_LINE_MAX], fresh[SPOOL_QID_LEN + 1];
	int n, ok, steps = 0, rc;

	assert_non_null(sp);
	for (int i = 0; i < 30; i++) {
		snprintf(qids[i], sizeof(qids[i]), "00000000000000000%02dB", i);
		plant(f->dir, qids[i], 0, NULL);
	}
	n = spool_fmt_state(rec, sizeof(rec), 1, SPOOL_R_BOUNCED, "550 5.1.1 no");
	put_file(f->dir, "state", "0000000000000000003B.st", rec, (size_t)n, 0);
	put_file(f->dir, "state", "0000000000000000099B.st", rec, (size_t)n, 0);
	put_file(f->dir, "tmp", "0000000000000000098B", "BMXQ 1\n", 7, 0);

	struct spool_recovery *rv = spool_recovery_new(sp, seen_cb, s);
	assert_non_null(rv);
	assert_int_equal(count_dir(f->dir, "tmp"), 0);   /* tmp/ is emptied at once */
	/* received while recovering: committed before the scan lists queue/ */
	struct spool_env env;
	spool_qid_new(fresh);
	env_simple(&env, fresh, 1);
	struct spool_msg *m = spool_msg_new(sp, &env);
	spool_env_clear(&env);
	assert_non_null(m);
	assert_int_equal(spool_msg_write(m, "x\r\n", 3), 0);
	assert_int_equal(spool_msg_finish(m), 0);
	assert_int_equal(spool_commit(sp, &m, 1, &ok), 0);
	assert_int_equal(spool_recovery_step(rv, 0, 0), 1);
	assert_int_equal(spool_recovery_count(rv), 0);
	assert_int_equal(spool_recovery_step(rv, 7, 0), 1);
	assert_int_equal(spool_recovery_count(rv), 7);
	/* listed already, then delivered and removed before it is read */
	char path[512];
	snprintf(path, sizeof(path), "%s/queue/%s", f->dir, qids[20]);
	assert_int_equal(unlink(path), 0);
	while ((rc = spool_recovery_step(rv, 7, 0)) == 1)
		steps++;
	assert_int_equal(rc, 0);
	assert_true(steps >= 3);
	assert_int_equal(spool_recovery_done(rv), 1);
	assert_int_equal(spool_recovery_count(rv), 29);
	assert_int_equal(s->n, 29);
	for (int i = 0, k = 0; i < 30; i++) {
		if (i == 20)
			continue;
		assert_string_equal(s->qid[k], qids[i]);
		k++;
	}
	assert_int_equal(s->st[3][1], SPOOL_R_BOUNCED);
	assert_true(exists(f->dir, "state", "0000000000000000003B.st"));
	assert_false(exists(f->dir, "state", "0000000000000000099B.st"));
	assert_true(exists(f->dir, "queue", fresh));
	assert_int_equal(count_dir(f->dir, "corrupt"), 0);
	spool_recovery_free(rv);
	/* a second recovery (the next start) reads the received message too */
	memset(s, 0, sizeof(*s));
	spool_close(sp);
	sp = spool_open(f->dir, NULL, 0);
	assert_int_equal(spool_recover(sp, seen_cb, s), 30);
	assert_string_equal(s->qid[29], fresh);
	spool_close(sp);
	free(s);
}

/* Every truncation of a small committed message is moved aside at recovery. */
static void test_recover_truncations(void **state)
{
	struct fx *f = *state;
	struct spool_env env;
	uint8_t *img;
	size_t len;
	char qid[SPOOL_QID_LEN + 1];
	struct spool *sp = spool_open(f->dir, NULL, 0);

	assert_non_null(sp);
	spool_close(sp);
	env_simple(&env, "0000000000000000000D", 1);
	assert_int_equal(spool_format(&env, "x", 1, &img, &len), 0);
	spool_env_clear(&env);
	for (size_t l = 0; l < len; l++) {
		/* each file must carry its own qid, so truncate an image made for it */
		uint8_t *im;
		size_t ilen;
		snprintf(qid, sizeof(qid), "000000000000000%05u", (unsigned)(l % 100000));
		env_simple(&env, qid, 1);
		assert_int_equal(spool_format(&env, "x", 1, &im, &ilen), 0);
		assert_int_equal(ilen, len);
		put_file(f->dir, "queue", qid, im, l, 0);
		free(im);
		spool_env_clear(&env);
	}
	free(img);
	sp = spool_open(f->dir, NULL, 0);
	assert_int_equal(spool_recover(sp, NULL, NULL), 0);
	assert_int_equal(count_dir(f->dir, "queue"), 0);
	assert_int_equal(count_dir(f->dir, "corrupt"), (int)len);
	spool_close(sp);
}

/* Delivery state: applied on load, later records win, torn tails resync, remove. */
static void test_state(void **state)
{
	struct fx *f = *state;
	struct spool *sp = spool_open(f->dir, NULL, 0);
	struct spool_env env, got;
	char qid[SPOOL_QID_LEN + 1], name[64];

	assert_non_null(sp);
	spool_qid_new(qid);
	env_simple(&env, qid, 3);
	write_msg(sp, &env, (const uint8_t *)"b", 1, 1);
	assert_int_equal(spool_set_rcpt_state(sp, qid, 0, SPOOL_R_DEFERRED, "451 later\r\nX"), 0);
	assert_int_equal(spool_set_rcpt_state(sp, qid, 2, SPOOL_R_BOUNCED, NULL), 0);
	assert_int_equal(spool_set_rcpt_state(sp, qid, 0, SPOOL_R_SENT, "250 ok"), 0);
	assert_int_equal(spool_set_rcpt_state(sp, qid, 9, SPOOL_R_SENT, NULL), 0); /* ignored */
	assert_int_equal(spool_set_rcpt_state(sp, qid, 0, (enum spool_rstate)7, NULL), -1);
	assert_int_equal(spool_set_rcpt_state(sp, "../x", 0, SPOOL_R_SENT, NULL), -1);
	assert_int_equal(spool_load(sp, qid, &got), 0);
	assert_int_equal(got.rcpt[0].state, SPOOL_R_SENT);
	assert_string_equal(got.rcpt[0].last_reply, "250 ok");
	assert_int_equal(got.rcpt[1].state, SPOOL_R_PENDING);
	assert_null(got.rcpt[1].last_reply);
	assert_int_equal(got.rcpt[2].state, SPOOL_R_BOUNCED);
	spool_env_clear(&got);

	/* a torn record at the end (crash mid-append), then a new append */
	snprintf(name, sizeof(name), "%s.st", qid);
	put_file(f->dir, "state", name, "U 1 1 =250%20x 1234", 19, 1);
	assert_int_equal(spool_set_rcpt_state(sp, qid, 1, SPOOL_R_DEFERRED, "421 busy"), 0);
	assert_int_equal(spool_load(sp, qid, &got), 0);
	assert_int_equal(got.rcpt[1].state, SPOOL_R_DEFERRED);
	assert_string_equal(got.rcpt[1].last_reply, "421 busy");
	spool_env_clear(&got);

	/* a long reply is truncated, not refused */
	char big[3000];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(spool_set_rcpt_state(sp, qid, 1, SPOOL_R_BOUNCED, big), 0);
	assert_int_equal(spool_load(sp, qid, &got), 0);
	assert_int_equal(strlen(got.rcpt[1].last_reply), SPOOL_FIELD_MAX);
	spool_env_clear(&got);

	/* survives a restart */
	spool_close(sp);
	sp = spool_open(f->dir, NULL, 0);
	struct seen *s = calloc(1, sizeof(*s));
	assert_int_equal(spool_recover(sp, seen_cb, s), 1);
	assert_int_equal(s->st[0][0], SPOOL_R_SENT);
	assert_int_equal(s->st[0][1], SPOOL_R_BOUNCED);
	assert_int_equal(s->st[0][2], SPOOL_R_BOUNCED);
	free(s);

	assert_int_equal(spool_remove(sp, qid), 0);
	assert_int_equal(count_dir(f->dir, "queue"), 0);
	assert_int_equal(count_dir(f->dir, "state"), 0);
	assert_int_equal(spool_remove(sp, qid), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_load(sp, qid, &got), -1);
	spool_env_clear(&env);
	spool_close(sp);
}

/* Pure state parser: damaged lines in the middle and at the end are skipped. */
static void test_state_apply(void **state)
{
	struct spool_env env;
	char buf[4096], rec[SPOOL_LINE_MAX];
	size_t n = 0, skipped = 99;

	(void)state;
	env_simple(&env, "0000000000000000000E", 2);
	n += (size_t)spool_fmt_state(buf + n, sizeof(buf) - n, 0, SPOOL_R_DEFERRED, "a");
	int k = spool_fmt_state(rec, sizeof(rec), 1, SPOOL_R_SENT, "b");
	rec[4] ^= 1; /* bad CRC */
	memcpy(buf + n, rec, (size_t)k);
	n += (size_t)k;
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\n\ngarbage\n");
	n += (size_t)spool_fmt_state(buf + n, sizeof(buf) - n, 0, SPOOL_R_SENT, NULL);
	n += (size_t)spool_fmt_state(buf + n, sizeof(buf) - n, 1, SPOOL_R_SENT, "c") - 1;
	spool_state_apply(&env, (uint8_t *)buf, n, &skipped);
	assert_int_equal(skipped, 3);
	assert_int_equal(env.rcpt[0].state, SPOOL_R_SENT);
	assert_null(env.rcpt[0].last_reply);
	assert_int_equal(env.rcpt[1].state, SPOOL_R_PENDING);
	spool_env_clear(&env);
}

/* Group- or world-writable spool directories are refused, naming the culprit. */
static void test_perms(void **state)
{
	struct fx *f = *state;
	char err[512], p[256];
	struct spool *sp;
	struct stat st;

	sp = spool_open(f->dir, err, sizeof(err));
	assert_non_null(sp);
	spool_close(sp);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(p, sizeof(p), "%s/queue", f->dir);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	assert_int_equal(chmod(f->dir, 0777), 0);
	err[0] = '\0';
	assert_null(spool_open(f->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "group- or world-writable"));
	assert_non_null(strstr(err, f->dir));
	assert_int_equal(chmod(f->dir, 0700), 0);

	assert_int_equal(chmod(p, 0770), 0);
	assert_null(spool_open(f->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "/queue"));
	assert_int_equal(chmod(p, 0700), 0);

	/* a subdirectory replaced by a symlink is refused too */
	snprintf(p, sizeof(p), "%s/corrupt", f->dir);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(symlink("/tmp", p), 0);
	assert_null(spool_open(f->dir, err, sizeof(err)));
	assert_int_equal(unlink(p), 0);
	sp = spool_open(f->dir, err, sizeof(err));
	assert_non_null(sp);
	spool_close(sp);
}

/* A file-size limit (EFBIG) mid-body: the error sticks, nothing is left behind. */
static void test_rlimit_fsize(void **state)
{
	struct fx *f = *state;
	struct spool *sp = spool_open(f->dir, NULL, 0);
	int status = -1;
	pid_t pid;

	assert_non_null(sp);
	spool_close(sp);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {100000, 100000};
		struct spool_env env;
		uint8_t chunk[10000];
		int ok = 1, code = 0;

		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		sp = spool_open(f->dir, NULL, 0);
		if (sp == NULL)
			_exit(10);
		char qid[SPOOL_QID_LEN + 1];
		spool_qid_new(qid);
		env_simple(&env, qid, 1);
		struct spool_msg *m = spool_msg_new(sp, &env);
		if (m == NULL)
			_exit(11);
		memset(chunk, 'x', sizeof(chunk));
		int failed_at = -1;
		for (int i = 0; i < 100; i++)
			if (spool_msg_write(m, chunk, sizeof(chunk)) < 0 && failed_at < 0)
				failed_at = i;
		if (failed_at < 0 && spool_msg_finish(m) == 0)
			code = 12;
		else if (spool_msg_errno(m) != EFBIG)
			code = 13;
		else if (failed_at >= 0 && spool_msg_finish(m) == 0)
			code = 14;
		if (spool_commit(sp, &m, 1, &ok) != -1 || ok != 0)
			code = 15;
		spool_env_clear(&env);
		spool_close(sp);
		_exit(code);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(count_dir(f->dir, "tmp"), 0);
	assert_int_equal(count_dir(f->dir, "queue"), 0);
}

/* Fault hook configuration: fail op for the qid (or any qid if NULL), count times
 * (-1 = always). */
struct fault_cfg {
	const char *op;
	const char *qid;
	int err;
	int count;
};
static struct fault_cfg fh;

/* The injected-fault hook. */
static int fault_hook(const char *op, const char *qid)
{
	if (fh.count != 0 && strcmp(op, fh.op) == 0 &&
	    (fh.qid == NULL || (qid != NULL && strcmp(qid, fh.qid) == 0))) {
		if (fh.count > 0)
			fh.count--;
		return fh.err;
	}
	return 0;
}

/* Make n finished messages. */
static void make_batch(struct spool *sp, struct spool_msg **m, char (*qids)[SPOOL_QID_LEN + 1],
		       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct spool_env env;
		spool_qid_new(qids[i]);
		env_simple(&env, qids[i], 1);
		m[i] = spool_msg_new(sp, &env);
		assert_non_null(m[i]);
		assert_int_equal(spool_msg_write(m[i], "x\r\n", 3), 0);
		assert_int_equal(spool_msg_finish(m[i]), 0);
		spool_env_clear(&env);
	}
}

struct fault_case {
	const char *op;
	int victim;     /* index of the failing message, -1 = all */
	int err;
	int want_ok[5];
};

static const struct fault_case fault_cases[] = {
	{"syncfs", -1, EIO, {1, 1, 1, 1, 1}},   /* falls back to fsync per file */
	{"sync", 2, EIO, {1, 1, 1, 1, 1}},      /* syncfs worked: per-file sync not used */
	{"rename", 1, ENOSPC, {1, 0, 1, 1, 1}},
	{"dirsync", -1, EIO, {0, 0, 0, 0, 0}},
	{"write", 3, ENOSPC, {1, 1, 1, 0, 1}},
};

/* Injected failures at each commit step leave no partial or unacknowledged file. */
static void test_fault_commit(void **state)
{
	struct fx *f = *state;
	struct spool *sp = spool_open(f->dir, NULL, 0);

	assert_non_null(sp);
	spool_fault_hook = fault_hook;
	for (size_t c = 0; c < sizeof(fault_cases) / sizeof(fault_cases[0]); c++) {
		const struct fault_case *fc = &fault_cases[c];
		struct spool_msg *m[5];
		char qids[5][SPOOL_QID_LEN + 1];
		int ok[5], nok = 0, before = count_dir(f->dir, "queue");

		memset(&fh, 0, sizeof(fh));
		if (strcmp(fc->op, "write") == 0) {
			/* the write fails while the message is being written */
			for (int i = 0; i < 5; i++) {
				struct spool_env env;
				spool_qid_new(qids[i]);
				env_simple(&env, qids[i], 1);
				m[i] = spool_msg_new(sp, &env);
				assert_non_null(m[i]);
				spool_env_clear(&env);
				int victim = i == fc->victim;
				fh = (struct fault_cfg){"write", qids[i], fc->err, victim};
				uint8_t big[SPOOL_MSG_BUF + 10] = {0};
				int rc = spool_msg_write(m[i], big, sizeof(big));
				assert_int_equal(rc, victim ? -1 : 0);
				/* later writes are no-ops that keep failing */
				assert_int_equal(spool_msg_write(m[i], "x", 1), victim ? -1 : 0);
				assert_int_equal(spool_msg_finish(m[i]), victim ? -1 : 0);
				assert_int_equal(spool_msg_errno(m[i]), victim ? fc->err : 0);
			}
			memset(&fh, 0, sizeof(fh));
		} else {
			make_batch(sp, m, qids, 5);
			fh.op = fc->op;
			fh.qid = fc->victim >= 0 ? qids[fc->victim] : NULL;
			fh.err = fc->err;
			fh.count = -1;
		}
		int rc = spool_commit(sp, m, 5, ok);
		for (int i = 0; i < 5; i++) {
			assert_int_equal(ok[i], fc->want_ok[i]);
			nok += ok[i];
			assert_int_equal(exists(f->dir, "queue", qids[i]), ok[i]);
		}
		assert_int_equal(rc, nok == 5 ? 0 : -1);
		assert_int_equal(count_dir(f->dir, "tmp"), 0);
		assert_int_equal(count_dir(f->dir, "queue"), before + nok);
	}

	spool_fault_hook = NULL;
	spool_close(sp);
}

static const char *sync_victim;

/* Fail syncfs always and the per-file sync of sync_victim. */
static int sync_hook(const char *op, const char *qid)
{
	if (strcmp(op, "syncfs") == 0)
		return EIO;
	if (strcmp(op, "sync") == 0 && qid && strcmp(qid, sync_victim) == 0)
		return EIO;
	return 0;
}

/* syncfs fails, then one file's fdatasync fails: only that message is lost. */
static void test_fault_sync(void **state)
{
	struct fx *f = *state;
	struct spool *sp = spool_open(f->dir, NULL, 0);
	struct spool_msg *m[5];
	char qids[5][SPOOL_QID_LEN + 1];
	int ok[5];

	assert_non_null(sp);
	make_batch(sp, m, qids, 5);
	sync_victim = qids[2];
	spool_fault_hook = sync_hook;
	assert_int_equal(spool_commit(sp, m, 5, ok), -1);
	spool_fault_hook = NULL;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(ok[i], i != 2);
		assert_int_equal(exists(f->dir, "queue", qids[i]), i != 2);
	}
	assert_int_equal(count_dir(f->dir, "tmp"), 0);

	/* one message alone: fdatasync failure */
	make_batch(sp, m, qids, 1);
	sync_victim = qids[0];
	spool_fault_hook = sync_hook;
	assert_int_equal(spool_commit(sp, m, 1, ok), -1);
	assert_int_equal(ok[0], 0);
	/* create failure */
	memset(&fh, 0, sizeof(fh));
	fh = (struct fault_cfg){"create", NULL, ENOSPC, -1};
	spool_fault_hook = fault_hook;
	{
		struct spool_env env;
		char qid[SPOOL_QID_LEN + 1];
		spool_qid_new(qid);
		env_simple(&env, qid, 1);
		errno = 0;
		assert_null(spool_msg_new(sp, &env));
		assert_int_equal(errno, ENOSPC);
		spool_env_clear(&env);
	}
	/* state write failure leaves the state file as it was */
	spool_fault_hook = NULL;
	make_batch(sp, m, qids, 1);
	assert_int_equal(spool_commit(sp, m, 1, ok), 0);
	assert_int_equal(spool_set_rcpt_state(sp, qids[0], 0, SPOOL_R_DEFERRED, "451"), 0);
	fh = (struct fault_cfg){"state", NULL, ENOSPC, -1};
	spool_fault_hook = fault_hook;
	assert_int_equal(spool_set_rcpt_state(sp, qids[0], 0, SPOOL_R_SENT, "250"), -1);
	assert_int_equal(errno, ENOSPC);
	spool_fault_hook = NULL;
	struct spool_env got;
	assert_int_equal(spool_load(sp, qids[0], &got), 0);
	assert_int_equal(got.rcpt[0].state, SPOOL_R_DEFERRED);
	spool_env_clear(&got);
	assert_int_equal(count_dir(f->dir, "tmp"), 0);
	spool_close(sp);
}

/* Abort removes the temp file; commit refuses unfinished messages. */
static void test_abort(void **state)
{
	struct fx *f = *state;
	struct spool *sp = spool_open(f->dir, NULL, 0);
	struct spool_msg *m[2];
	char qids[2][SPOOL_QID_LEN + 1];
	int ok[2];

	make_batch(sp, m, qids, 1);
	assert_int_equal(count_dir(f->dir, "tmp"), 1);
	spool_msg_abort(m[0]);
	assert_int_equal(count_dir(f->dir, "tmp"), 0);

	make_batch(sp, m, qids, 1);
	struct spool_env env;
	spool_qid_new(qids[1]);
	env_simple(&env, qids[1], 1);
	m[1] = spool_msg_new(sp, &env); /* never finished */
	spool_env_clear(&env);
	assert_int_equal(spool_commit(sp, m, 2, ok), -1);
	assert_int_equal(ok[0], 1);
	assert_int_equal(ok[1], 0);
	assert_int_equal(count_dir(f->dir, "tmp"), 0);
	assert_int_equal(count_dir(f->dir, "queue"), 1);
	/* a duplicate queue ID never replaces a committed file */
	env_simple(&env, qids[0], 1);
	m[0] = spool_msg_new(sp, &env);
	assert_non_null(m[0]);
	assert_int_equal(spool_msg_finish(m[0]), 0);
	assert_int_equal(spool_commit(sp, m, 1, ok), -1);
	assert_int_equal(ok[0], 0);
	spool_env_clear(&env);
	assert_int_equal(spool_load(sp, qids[0], &env), 0);
	assert_int_equal(env.size, 3);
	spool_env_clear(&env);
	spool_close(sp);
}

/* Deep copy and state names. */
static void test_env_copy(void **state)
{
	struct spool_env a, b;

	(void)state;
	env_simple(&a, "0000000000000000000F", 5);
	a.rcpt[3].last_reply = strdup("x");
	a.rcpt[3].state = SPOOL_R_DEFERRED;
	assert_int_equal(spool_env_copy(&b, &a), 0);
	assert_env_equal(&a, &b);
	for (int i = 0; i < 20; i++)
		assert_int_equal(spool_env_add_rcpt(&b, "more@x", 0, NULL), 0);
	assert_int_equal(b.nrcpt, 25);
	spool_env_clear(&a);
	spool_env_clear(&b);
	assert_string_equal(spool_rstate_name(SPOOL_R_BOUNCED), "bounced");
	assert_string_equal(spool_rstate_name((enum spool_rstate)9), "?");
}

/* Seconds since an arbitrary origin. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Timing only: commit total x 4 KiB messages in batches of `batch`. */
static double bench_run(struct spool *sp, int total, int batch)
{
	static uint8_t body[4096];
	struct spool_msg *m[64];
	int ok[64];
	double t0 = now_s();

	memset(body, 'b', sizeof(body));
	for (int done = 0; done < total; done += batch) {
		for (int i = 0; i < batch; i++) {
			struct spool_env env;
			char qid[SPOOL_QID_LEN + 1];
			spool_qid_new(qid);
			env_simple(&env, qid, 1);
			m[i] = spool_msg_new(sp, &env);
			assert_non_null(m[i]);
			assert_int_equal(spool_msg_write(m[i], body, sizeof(body)), 0);
			assert_int_equal(spool_msg_finish(m[i]), 0);
			spool_env_clear(&env);
		}
		assert_int_equal(spool_commit(sp, m, (size_t)batch, ok), 0);
	}
	return now_s() - t0;
}

/* Make syncfs fail, so that commit falls back to fdatasync per file. */
static int no_syncfs(const char *op, const char *qid)
{
	(void)qid;
	return strcmp(op, "syncfs") == 0 ? EIO : 0;
}

/* Print how long group commit takes on this disk. */
static void test_bench(void **state)
{
	struct fx *f = *state;
	struct spool *sp = spool_open(f->dir, NULL, 0);
	double t;

	assert_non_null(sp);
	t = bench_run(sp, 1000, 20);
	printf("[ BENCH    ] 1000 x 4 KiB in batches of 20: %.3f s (%.0f msgs/s) under %s\n", t,
	       1000 / t, f->root);
	spool_fault_hook = no_syncfs;
	t = bench_run(sp, 1000, 20);
	spool_fault_hook = NULL;
	printf("[ BENCH    ] the same with syncfs off (fdatasync per file): %.3f s (%.0f msgs/s)\n",
	       t, 1000 / t);
	t = bench_run(sp, 200, 1);
	printf("[ BENCH    ] 200 x 4 KiB one at a time: %.3f s (%.0f msgs/s)\n", t, 200 / t);
	spool_close(sp);
	sp = spool_open(f->dir, NULL, 0);
	double t0 = now_s();
	long n = spool_recover(sp, NULL, NULL);
	printf("[ BENCH    ] recovery of %ld messages: %.3f s\n", n, now_s() - t0);
	assert_int_equal(n, 2200);
	spool_close(sp);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

/* Run every spool test. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qid),
		cmocka_unit_test(test_crc32),
		T(test_roundtrip),
		T(test_big_body),
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_damage),
		T(test_env_check),
		T(test_batch_commit),
		T(test_recover),
		T(test_recover_steps),
		T(test_recover_truncations),
		T(test_state),
		cmocka_unit_test(test_state_apply),
		T(test_perms),
		T(test_rlimit_fsize),
		T(test_fault_commit),
		T(test_fault_sync),
		T(test_abort),
		cmocka_unit_test(test_env_copy),
		T(test_bench),
	};

	log_init("test_spool", 0, getenv("SPOOL_TEST_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
