/*
 * spool_qid.c - CRC-32 of the spool's records, and queue IDs.
 *
 * CRC-32
 *   IEEE 802.3, the same value as zlib's crc32(), computed slice-by-8.  The
 *   tables are built on first use (not thread-safe until then; the daemon
 *   calls it first from its one event-loop thread).
 *
 * QUEUE IDS
 *   20 characters of [0-9A-Za-z], whose ASCII order is their numeric order:
 *     [0,9)   microseconds since the epoch, base 62 (good until the year 2398)
 *     [9,12)  per-process sequence within one microsecond (238328 per us)
 *     [12,16) process ID (pid_max is 2^22 < 62^4)
 *     [16,20) random bits from getrandom()
 *   Within one process the (time, sequence) pair strictly increases, even
 *   when the clock steps back, so lexical order is arrival order; across
 *   processes the pid and the random bits keep IDs unique.  Not thread-safe
 *   (the daemon has one thread).
 */
#include "spool/spool_int.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* ---- CRC-32, slice-by-8 ---- */

static uint32_t crc_tab[8][256];
static int crc_ready;

/* Build the eight CRC tables once. */
static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^
					crc_tab[0][crc_tab[t - 1][i] & 0xff];
	crc_ready = 1;
}

/* CRC-32 of buf continuing from crc. */
uint32_t spool_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!crc_ready)
		crc_init();
	crc = ~crc;
	while (len >= 8) {
		uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				    (uint32_t)p[3] << 24);
		crc = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^
		      crc_tab[5][(a >> 16) & 0xff] ^ crc_tab[4][a >> 24] ^ crc_tab[3][p[4]] ^
		      crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^ crc_tab[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

/* ---- queue IDs ---- */

/* Write v in base 62, fixed width, most significant digit first. */
static void b62_put(char *out, int width, uint64_t v)
{
	for (int i = width - 1; i >= 0; i--) {
		out[i] = b62[v % 62];
		v /= 62;
	}
}

/* splitmix64 step, the fallback when getrandom() has nothing to give. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* A fresh unique queue ID, sortable by arrival time. */
void spool_qid_new(char out[SPOOL_QID_LEN + 1])
{
	static const uint64_t p3 = 62ULL * 62 * 62, p4 = 62ULL * 62 * 62 * 62;
	static const uint64_t p9 = 62ULL * 62 * 62 * 62 * 62 * 62 * 62 * 62 * 62;
	static uint64_t last_us, seq, fallback;
	struct timespec ts;
	uint32_t r;

	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if (now > last_us) {
		last_us = now;
		seq = 0;
	} else if (++seq >= p3) {
		last_us++;
		seq = 0;
	}
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)mix64(now ^ ((uint64_t)getpid() << 40) ^ ++fallback);
	b62_put(out, 9, last_us % p9);
	b62_put(out + 9, 3, seq);
	b62_put(out + 12, 4, (uint64_t)getpid() % p4);
	b62_put(out + 16, 4, r % p4);
	out[SPOOL_QID_LEN] = '\0';
}

/* Is c one of [0-9A-Za-z]? */
static int is_b62(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Is s a well-formed queue ID? */
int spool_qid_valid(const char *s)
{
	if (s == NULL)
		return 0;
	for (size_t i = 0; i < SPOOL_QID_LEN; i++)
		if (!is_b62((unsigned char)s[i]))
			return 0;
	return s[SPOOL_QID_LEN] == '\0';
}
