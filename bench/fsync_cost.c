/*
 * fsync_cost.c - what one durable spool commit costs on a file system.
 *
 *   fsync_cost DIR BATCH CYCLES
 *
 * Repeats CYCLES times what backupmxd's group commit does for BATCH
 * messages: create BATCH files of 4,400 bytes in DIR/tmp, one syncfs(),
 * rename each into DIR/queue, one fsync(DIR/queue).  Prints the mean time of
 * each phase per cycle.  bench/fsync_cost.sh runs it on the file systems
 * bench/accept_bench.sh can use.  Not a test: it only measures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FC_BATCH_MAX 64
#define FC_FILE_SIZE 4400   /* a 4 KiB message with its envelope */

/* Milliseconds on the monotonic clock. */
static double fc_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Print why and exit 1. */
static void fc_die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: fsync_cost DIR BATCH CYCLES\n");
		return 2;
	}
	int batch = atoi(argv[2]), cycles = atoi(argv[3]);
	if (batch < 1 || batch > FC_BATCH_MAX || cycles < 1) {
		fprintf(stderr, "fsync_cost: BATCH must be 1-%d and CYCLES >= 1\n", FC_BATCH_MAX);
		return 2;
	}
	int dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		fc_die(argv[1]);
	if ((mkdirat(dfd, "tmp", 0700) < 0 && errno != EEXIST) ||
	    (mkdirat(dfd, "queue", 0700) < 0 && errno != EEXIST))
		fc_die("mkdir");
	int tfd = openat(dfd, "tmp", O_RDONLY | O_DIRECTORY);
	int qfd = openat(dfd, "queue", O_RDONLY | O_DIRECTORY);
	if (tfd < 0 || qfd < 0)
		fc_die("open tmp/ or queue/");
	char buf[FC_FILE_SIZE];
	memset(buf, 'a', sizeof(buf));
	double t_write = 0, t_sync = 0, t_rename = 0, t_dir = 0;
	long id = 0;
	for (int c = 0; c < cycles; c++) {
		int fds[FC_BATCH_MAX];
		char name[FC_BATCH_MAX][32];
		double t0 = fc_now();
		for (int i = 0; i < batch; i++) {
			snprintf(name[i], sizeof(name[i]), "f%ld", id++);
			fds[i] = openat(tfd, name[i], O_WRONLY | O_CREAT | O_EXCL, 0600);
			if (fds[i] < 0 || write(fds[i], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				fc_die("create");
		}
		double t1 = fc_now();
		if (syncfs(tfd) < 0)
			fc_die("syncfs");
		double t2 = fc_now();
		for (int i = 0; i < batch; i++) {
			if (renameat(tfd, name[i], qfd, name[i]) < 0)
				fc_die("rename");
			close(fds[i]);
		}
		double t3 = fc_now();
		if (fsync(qfd) < 0)
			fc_die("fsync queue/");
		double t4 = fc_now();
		t_write += t1 - t0;
		t_sync += t2 - t1;
		t_rename += t3 - t2;
		t_dir += t4 - t3;
	}
	printf("batch %d, per cycle: create+write %.2f ms, syncfs %.2f ms, rename %.2f ms, "
	       "fsync(queue/) %.2f ms, total %.2f ms\n", batch, t_write / cycles, t_sync / cycles,
	       t_rename / cycles, t_dir / cycles, (t_write + t_sync + t_rename + t_dir) / cycles);
	return 0;
}
