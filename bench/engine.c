/* SPDX-License-Identifier: MIT */
/*
 * engine.c - libshmtab against the engines users would pick instead
 *
 *   bench/run-engine.sh [BUILDDIR]       (installs the peers, builds, runs)
 *   bench/engine [-r ROUNDS] [-n N[,N..]] [-t SECONDS] [-s SYS[,SYS..]]
 *                [-o TSV] [-L]
 *
 * 16-byte keys ("key" and 13 digits), 100-byte values, every database on
 * /dev/shm.  Systems: an in-process open-addressing table in malloc'd
 * memory (the reference: no sharing, no locks), shmtab (default locking and
 * SHMTAB_LOCK_RECORD), TDB (fcntl locks and robust mutexes), LMDB (one
 * transaction per operation, and 1000 operations per transaction), Kyoto
 * Cabinet HashDB and one file per key.  A peer whose library was not found
 * at build time is left out.
 *
 * Each round, for each N, every system in turn (the order rotates from
 * round to round, so that drift of the machine hits all alike):
 *  - inserts N keys in random order into an empty database with no size
 *    hint, and again into one presized where the system has a hint (TDB
 *    hash_size, Kyoto Cabinet bnum, shmtab init, the reference's slots); the
 *    longest single insert is noted;
 *  - notes the bytes per binding (file size / bindings; shmtab: stat size
 *    and used);
 *  - runs each of find (hit), find (miss), replace, a 90/10 find/replace
 *    mix, iteration and insert (of new keys) for a fixed time in one
 *    process, then in two processes at once: each opens its own handle
 *    after fork, warms up, and both start at a barrier; the rate is all
 *    operations over the time from the first start to the last finish.
 * Then, once per round, values of 64 KiB and 1 MiB (64 MiB of them):
 * find and replace throughput in GB/s.
 *
 * Each figure is the median over the rounds.  Output: one table per
 * workload with the ratio to shmtab, the issue-6 goals, and every figure
 * (with each round's value) as TSV.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmtab.h>

#include "bench.h"

#ifdef HAVE_TDB
#include <tdb.h>
#endif
#ifdef HAVE_LMDB
#include <lmdb.h>
#endif
#ifdef HAVE_KYOTOCABINET
#include <kclangc.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_RDTSC 1
#endif

#define KLEN 16
#define VLEN 100
#define MAXROUNDS 64
#define MAXN 4
#define BIG_TOTAL ((size_t)64 << 20)	/* bytes of large values */
#define WARM 0.05			/* seconds of warm-up */

static const char *workdir_root = "/dev/shm";
static char workdir[256];
static pid_t main_pid;
static double tsc_per_sec;

/* --- utilities -------------------------------------------------------- */

static void cleanup(void);

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "engine: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	if (getpid() == main_pid) {
		cleanup();
		exit(1);
	}
	_exit(1);
}

static uint64_t ticks(void)
{
#ifdef HAVE_RDTSC
	return __rdtsc();
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

static void calibrate_ticks(void)
{
	double t0 = now(), t1;
	uint64_t c0 = ticks(), c1;

	do
		t1 = now();
	while (t1 - t0 < 0.05);
	c1 = ticks();
	tsc_per_sec = (double)(c1 - c0) / (t1 - t0);
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* "key" and 13 decimal digits: 16 bytes, no NUL. */
static inline void mkkey(char *k, uint64_t i)
{
	k[0] = 'k';
	k[1] = 'e';
	k[2] = 'y';
	for (int d = 15; d >= 3; d--) {
		k[d] = (char)('0' + i % 10);
		i /= 10;
	}
}

static void xwrite(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write", strerror(errno));
		c += w;
		n -= (size_t)w;
	}
}

static void xread(int fd, void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t r = read(fd, c, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("read", r ? strerror(errno) : "unexpected end");
		c += r;
		n -= (size_t)r;
	}
}

static double file_bytes(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? NAN : (double)st.st_size;
}

/* CPU time of the whole machine and of this program (with its children),
 * to tell how much other work ran during a round: "foreign" is the share
 * of all CPUs busy with something else. */
static double cpu_busy(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int got;

	if (!f)
		return NAN;
	got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		     &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (got != 8)
		return NAN;
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
	       (double)sysconf(_SC_CLK_TCK);
}

static double cpu_mine(void)
{
	struct rusage a, b;

	getrusage(RUSAGE_SELF, &a);
	getrusage(RUSAGE_CHILDREN, &b);
	return a.ru_utime.tv_sec + a.ru_utime.tv_usec / 1e6 +
	       a.ru_stime.tv_sec + a.ru_stime.tv_usec / 1e6 +
	       b.ru_utime.tv_sec + b.ru_utime.tv_usec / 1e6 +
	       b.ru_stime.tv_sec + b.ru_stime.tv_usec / 1e6;
}

/* --- the systems ------------------------------------------------------ */

struct mtab;

struct ctx {
	const struct sys *sys;
	long n;			/* keys expected */
	size_t vmax;		/* largest value */
	char path[300];
	char name[300];
	/* shmtab */
	shmtab *st;
	struct shmtab_options sopt;
	/* tdb */
	void *tdb;
	/* lmdb */
	void *env, *rtxn, *wtxn;
	unsigned dbi;
	int batch, pending, ractive;
	/* kyoto cabinet */
	void *kc;
	char kcpath[400];
	/* files */
	int dirfd;
	/* the reference */
	struct mtab *mt;
	/* iteration sink */
	uint64_t sink;
};

enum { F_PRESIZE = 1, F_EXCL_WRITER = 2, F_NOHINT_SMALL = 4 };

struct sys {
	const char *name;
	const char *id;		/* for -s and the TSV */
	unsigned flags;
	int (*avail)(void);
	void (*create)(struct ctx *c, long hint);
	void (*insert)(struct ctx *c, const char *k, const void *v, size_t vl);
	long (*find)(struct ctx *c, const char *k, void *buf, size_t cap);
	void (*replace)(struct ctx *c, const char *k, const void *v, size_t vl);
	long (*iter)(struct ctx *c, double deadline);
	void (*flush)(struct ctx *c);
	void (*prefork)(struct ctx *c);
	void (*postfork)(struct ctx *c);
	void (*child_open)(struct ctx *c, int writes);
	void (*child_close)(struct ctx *c);
	void (*destroy)(struct ctx *c);
	void (*memory)(struct ctx *c, double *size, double *used);
};

static void nop(struct ctx *c)
{
	(void)c;
}

static int yes(void)
{
	return 1;
}

/* ---- the reference: open addressing in malloc'd memory ---- */

struct mtab {
	uint64_t *slot;		/* 0, or hash tag << 32 | record + 1 */
	size_t mask;
	char *rec;		/* records: key, uint32 length, value */
	size_t nrec, caprec, stride;
};

static inline uint64_t mhash(const char *k)
{
	uint64_t a, b, h;

	memcpy(&a, k, 8);
	memcpy(&b, k + 8, 8);
	h = a * 0x9e3779b97f4a7c15ULL ^ ((b * 0xc2b2ae3d27d4eb4fULL) >> 7 |
					 (b * 0xc2b2ae3d27d4eb4fULL) << 57);
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}

static void mt_rehash(struct mtab *m, size_t slots)
{
	free(m->slot);
	m->slot = calloc(slots, sizeof(*m->slot));
	if (!m->slot)
		die("malloc", NULL);
	m->mask = slots - 1;
	for (size_t r = 0; r < m->nrec; r++) {
		uint64_t h = mhash(m->rec + r * m->stride);
		size_t i = h & m->mask;

		while (m->slot[i])
			i = (i + 1) & m->mask;
		m->slot[i] = (h & 0xffffffff00000000ULL) | (r + 1);
	}
}

static void m_create(struct ctx *c, long hint)
{
	struct mtab *m = calloc(1, sizeof(*m));
	size_t slots = 16;

	if (!m)
		die("malloc", NULL);
	m->stride = (KLEN + 4 + c->vmax + 7) & ~(size_t)7;
	while (hint && slots < 2 * (size_t)hint)
		slots *= 2;
	m->caprec = hint ? (size_t)hint : 8;
	m->rec = malloc(m->caprec * m->stride);
	if (!m->rec)
		die("malloc", NULL);
	mt_rehash(m, slots);
	c->mt = m;
}

static inline char *m_lookup(struct mtab *m, const char *k, uint64_t h,
			     size_t *at)
{
	size_t i = h & m->mask;
	uint64_t tag = h & 0xffffffff00000000ULL;

	for (;; i = (i + 1) & m->mask) {
		uint64_t s = m->slot[i];

		if (!s) {
			*at = i;
			return NULL;
		}
		if ((s & 0xffffffff00000000ULL) == tag) {
			char *r = m->rec + ((s & 0xffffffff) - 1) * m->stride;

			if (!memcmp(r, k, KLEN))
				return r;
		}
	}
}

static void m_insert(struct ctx *c, const char *k, const void *v, size_t vl)
{
	struct mtab *m = c->mt;
	uint64_t h = mhash(k);
	size_t at;
	char *r;

	if ((m->nrec + 1) * 2 > m->mask + 1)
		mt_rehash(m, (m->mask + 1) * 2);
	if (m_lookup(m, k, h, &at))
		die("reference", "key exists");
	if (m->nrec == m->caprec) {
		m->caprec *= 2;
		m->rec = realloc(m->rec, m->caprec * m->stride);
		if (!m->rec)
			die("malloc", NULL);
	}
	r = m->rec + m->nrec * m->stride;
	memcpy(r, k, KLEN);
	memcpy(r + KLEN, &(uint32_t){ (uint32_t)vl }, 4);
	memcpy(r + KLEN + 4, v, vl);
	m->slot[at] = (h & 0xffffffff00000000ULL) | ++m->nrec;
}

static long m_find(struct ctx *c, const char *k, void *buf, size_t cap)
{
	size_t at;
	char *r = m_lookup(c->mt, k, mhash(k), &at);
	uint32_t vl;

	if (!r)
		return -1;
	memcpy(&vl, r + KLEN, 4);
	memcpy(buf, r + KLEN + 4, vl < cap ? vl : cap);
	return vl;
}

static void m_replace(struct ctx *c, const char *k, const void *v, size_t vl)
{
	size_t at;
	char *r = m_lookup(c->mt, k, mhash(k), &at);

	if (!r)
		die("reference", "replace of a missing key");
	memcpy(r + KLEN, &(uint32_t){ (uint32_t)vl }, 4);
	memcpy(r + KLEN + 4, v, vl);
}

static long m_iter(struct ctx *c, double deadline)
{
	struct mtab *m = c->mt;
	long n = 0;

	for (size_t i = 0; i <= m->mask; i++) {
		uint64_t s = m->slot[i];
		char *r;
		uint32_t vl;

		if (!s)
			continue;
		r = m->rec + ((s & 0xffffffff) - 1) * m->stride;
		memcpy(&vl, r + KLEN, 4);
		c->sink += vl + (unsigned char)r[KLEN + 4];
		if ((++n & 1023) == 0 && now() > deadline)
			break;
	}
	return n;
}

/* The child's copy is private: take its copy-on-write faults now. */
static void m_child_open(struct ctx *c, int writes)
{
	struct mtab *m = c->mt;
	volatile char *p;

	(void)writes;
	p = (volatile char *)m->slot;
	for (size_t i = 0; i < (m->mask + 1) * sizeof(*m->slot); i += 4096)
		p[i] = p[i];
	p = (volatile char *)m->rec;
	for (size_t i = 0; i < m->nrec * m->stride; i += 4096)
		p[i] = p[i];
}

static void m_destroy(struct ctx *c)
{
	if (c->mt) {
		free(c->mt->slot);
		free(c->mt->rec);
		free(c->mt);
	}
	c->mt = NULL;
}

static void m_memory(struct ctx *c, double *size, double *used)
{
	struct mtab *m = c->mt;

	*size = (double)((m->mask + 1) * sizeof(*m->slot) +
			 m->caprec * m->stride);
	*used = (double)((m->mask + 1) * sizeof(*m->slot) +
			 m->nrec * (KLEN + 4 + VLEN));
}

/* ---- shmtab ---- */

static void s_fail(const char *what, int err)
{
	die(what, shmtab_strerror(err));
}

static void s_create(struct ctx *c, long hint)
{
	int err;

	c->sopt.pagesize = 0;
	c->sopt.init = (size_t)hint;
	shmtab_unlink(c->name);
	err = shmtab_open(c->name, O_RDWR | O_CREAT | O_EXCL, 0600, &c->sopt,
			  &c->st);
	if (err < 0)
		s_fail("shmtab_open", err);
}

static void s_insert(struct ctx *c, const char *k, const void *v, size_t vl)
{
	int err = shmtab_add(c->st, k, KLEN, v, vl);

	if (err < 0)
		s_fail("shmtab_add", err);
}

static long s_find(struct ctx *c, const char *k, void *buf, size_t cap)
{
	size_t vl;
	int err = shmtab_find_into(c->st, k, KLEN, buf, cap, &vl);

	if (err == -ENOENT)
		return -1;
	if (err < 0)
		s_fail("shmtab_find_into", err);
	return (long)vl;
}

static void s_replace(struct ctx *c, const char *k, const void *v, size_t vl)
{
	int err = shmtab_replace(c->st, k, KLEN, v, vl);

	if (err < 0)
		s_fail("shmtab_replace", err);
}

struct itctx {
	struct ctx *c;
	long n;
	double deadline;
};

static int s_visit(const void *key, size_t klen, const void *val, size_t vlen,
		   void *ctx)
{
	struct itctx *it = ctx;

	(void)key;
	(void)klen;
	it->c->sink += vlen + (vlen ? *(const unsigned char *)val : 0);
	return (++it->n & 1023) == 0 && now() > it->deadline;
}

static long s_iter(struct ctx *c, double deadline)
{
	struct itctx it = { c, 0, deadline };
	int err = shmtab_iter(c->st, s_visit, &it);

	if (err < 0)
		s_fail("shmtab_iter", err);
	return it.n;
}

static void s_child_open(struct ctx *c, int writes)
{
	struct shmtab_options o = c->sopt;
	int err;

	(void)writes;
	o.init = 0;
	err = shmtab_open(c->name, O_RDWR, 0, &o, &c->st);
	if (err < 0)
		s_fail("shmtab_open (child)", err);
}

static void s_child_close(struct ctx *c)
{
	shmtab_close(c->st);
	c->st = NULL;
}

static void s_destroy(struct ctx *c)
{
	shmtab_close(c->st);
	c->st = NULL;
	shmtab_unlink(c->name);
}

static void s_memory(struct ctx *c, double *size, double *used)
{
	struct shmtab_stat s;
	int err = shmtab_stat(c->st, &s);

	if (err < 0)
		s_fail("shmtab_stat", err);
	*size = (double)s.size;
	*used = (double)s.used;
}

/* ---- TDB ---- */

#ifdef HAVE_TDB
static int tdb_mutex_ok;

static int tm_avail(void)
{
	return tdb_mutex_ok;
}

static void t_open(struct ctx *c, long hint, int mutex)
{
	int flags = TDB_INCOMPATIBLE_HASH | TDB_CLEAR_IF_FIRST | TDB_NOSYNC;

	if (mutex)
		flags |= TDB_MUTEX_LOCKING;
	unlink(c->path);
	c->tdb = tdb_open(c->path, (int)hint, flags,
			  O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (!c->tdb)
		die("tdb_open", strerror(errno));
}

static void tf_create(struct ctx *c, long hint)
{
	t_open(c, hint, 0);
}

static void tm_create(struct ctx *c, long hint)
{
	t_open(c, hint, 1);
}

static void t_insert(struct ctx *c, const char *k, const void *v, size_t vl)
{
	TDB_DATA key = { (unsigned char *)k, KLEN };
	TDB_DATA val = { (unsigned char *)v, vl };

	if (tdb_store(c->tdb, key, val, TDB_INSERT) != 0)
		die("tdb_store", tdb_errorstr(c->tdb));
}

struct tparse {
	void *buf;
	size_t cap, len;
};

static int t_parser(TDB_DATA key, TDB_DATA data, void *p)
{
	struct tparse *tp = p;

	(void)key;
	memcpy(tp->buf, data.dptr, data.dsize < tp->cap ? data.dsize : tp->cap);
	tp->len = data.dsize;
	return 0;
}

static long t_find(struct ctx *c, const char *k, void *buf, size_t cap)
{
	TDB_DATA key = { (unsigned char *)k, KLEN };
	struct tparse tp = { buf, cap, 0 };

	if (tdb_parse_record(c->tdb, key, t_parser, &tp) != 0) {
		if (tdb_error(c->tdb) == TDB_ERR_NOEXIST)
			return -1;
		die("tdb_parse_record", tdb_errorstr(c->tdb));
	}
	return (long)tp.len;
}

static void t_replace(struct ctx *c, const char *k, const void *v, size_t vl)
{
	TDB_DATA key = { (unsigned char *)k, KLEN };
	TDB_DATA val = { (unsigned char *)v, vl };

	if (tdb_store(c->tdb, key, val, TDB_REPLACE) != 0)
		die("tdb_store", tdb_errorstr(c->tdb));
}

static int t_visit(struct tdb_context *t, TDB_DATA k, TDB_DATA v, void *p)
{
	struct itctx *it = p;

	(void)t;
	(void)k;
	it->c->sink += v.dsize + (v.dsize ? v.dptr[0] : 0);
	return (++it->n & 1023) == 0 && now() > it->deadline;
}

static long t_iter(struct ctx *c, double deadline)
{
	struct itctx it = { c, 0, deadline };

	if (tdb_traverse_read(c->tdb, t_visit, &it) < 0)
		die("tdb_traverse_read", tdb_errorstr(c->tdb));
	return it.n;
}

/* TDB refuses a second open of a file in one process, and the parent's
 * handle must stay open (TDB_CLEAR_IF_FIRST): the child reopens the
 * inherited handle, which gives it its own descriptor, mapping and locks. */
static void t_child_open(struct ctx *c, int writes)
{
	(void)writes;
	if (tdb_reopen(c->tdb) != 0)
		die("tdb_reopen", tdb_errorstr(c->tdb));
}

static void t_child_close(struct ctx *c)
{
	tdb_close(c->tdb);
	c->tdb = NULL;
}

static void t_destroy(struct ctx *c)
{
	if (c->tdb)
		tdb_close(c->tdb);
	c->tdb = NULL;
	unlink(c->path);
}

static void t_memory(struct ctx *c, double *size, double *used)
{
	*size = *used = file_bytes(c->path);
}
#endif

/* ---- LMDB ---- */

#ifdef HAVE_LMDB
static void l_check(const char *what, int rc)
{
	if (rc)
		die(what, mdb_strerror(rc));
}

static void l_env(struct ctx *c)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	l_check("mdb_env_create", mdb_env_create(&env));
	l_check("mdb_env_set_mapsize",
		mdb_env_set_mapsize(env, (size_t)64 << 30));
	l_check("mdb_env_open",
		mdb_env_open(env, c->path,
			     MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOTLS, 0600));
	l_check("mdb_txn_begin", mdb_txn_begin(env, NULL, 0, &txn));
	l_check("mdb_dbi_open", mdb_dbi_open(txn, NULL, 0, &dbi));
	l_check("mdb_txn_commit", mdb_txn_commit(txn));
	l_check("mdb_txn_begin",
		mdb_txn_begin(env, NULL, MDB_RDONLY, (MDB_txn **)&c->rtxn));
	mdb_txn_reset(c->rtxn);
	c->env = env;
	c->dbi = dbi;
	c->wtxn = NULL;
	c->ractive = 0;
	c->pending = 0;
}

static void l_create(struct ctx *c, long hint)
{
	char lock[320];

	(void)hint;
	snprintf(lock, sizeof(lock), "%s-lock", c->path);
	unlink(c->path);
	unlink(lock);
	l_env(c);
}

static void l_flush(struct ctx *c)
{
	if (c->wtxn)
		l_check("mdb_txn_commit", mdb_txn_commit(c->wtxn));
	c->wtxn = NULL;
	if (c->ractive)
		mdb_txn_reset(c->rtxn);
	c->ractive = 0;
	c->pending = 0;
}

static MDB_txn *l_begin(struct ctx *c, int write)
{
	if (write) {
		if (c->ractive)
			mdb_txn_reset(c->rtxn);
		c->ractive = 0;
		if (!c->wtxn)
			l_check("mdb_txn_begin",
				mdb_txn_begin(c->env, NULL, 0,
					      (MDB_txn **)&c->wtxn));
		return c->wtxn;
	}
	if (c->wtxn)
		return c->wtxn;
	if (!c->ractive)
		l_check("mdb_txn_renew", mdb_txn_renew(c->rtxn));
	c->ractive = 1;
	return c->rtxn;
}

static void l_end(struct ctx *c)
{
	if (++c->pending >= c->batch)
		l_flush(c);
}

static void l_put(struct ctx *c, const char *k, const void *v, size_t vl,
		  unsigned flags)
{
	MDB_val key = { KLEN, (void *)k }, val = { vl, (void *)v };

	l_check("mdb_put", mdb_put(l_begin(c, 1), c->dbi, &key, &val, flags));
	l_end(c);
}

static void l_insert(struct ctx *c, const char *k, const void *v, size_t vl)
{
	l_put(c, k, v, vl, MDB_NOOVERWRITE);
}

static void l_replace(struct ctx *c, const char *k, const void *v, size_t vl)
{
	l_put(c, k, v, vl, 0);
}

static long l_find(struct ctx *c, const char *k, void *buf, size_t cap)
{
	MDB_val key = { KLEN, (void *)k }, val;
	int rc = mdb_get(l_begin(c, 0), c->dbi, &key, &val);
	long r = -1;

	if (rc && rc != MDB_NOTFOUND)
		l_check("mdb_get", rc);
	if (!rc) {
		memcpy(buf, val.mv_data, val.mv_size < cap ? val.mv_size : cap);
		r = (long)val.mv_size;
	}
	l_end(c);
	return r;
}

static long l_iter(struct ctx *c, double deadline)
{
	MDB_cursor *cur;
	MDB_val k, v;
	long n = 0;

	l_flush(c);
	l_check("mdb_cursor_open", mdb_cursor_open(l_begin(c, 0), c->dbi, &cur));
	while (!mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		c->sink += v.mv_size + (v.mv_size ? *(unsigned char *)v.mv_data : 0);
		if ((++n & 1023) == 0 && now() > deadline)
			break;
	}
	mdb_cursor_close(cur);
	l_flush(c);
	return n;
}

static void l_close(struct ctx *c)
{
	l_flush(c);
	mdb_txn_abort(c->rtxn);
	mdb_env_close(c->env);
	c->env = c->rtxn = NULL;
}

/* The inherited environment must not be used (nor closed) in the child. */
static void l_child_open(struct ctx *c, int writes)
{
	(void)writes;
	l_env(c);
}

static void l_destroy(struct ctx *c)
{
	char lock[320];

	if (c->env)
		l_close(c);
	snprintf(lock, sizeof(lock), "%s-lock", c->path);
	unlink(c->path);
	unlink(lock);
}

static void l_memory(struct ctx *c, double *size, double *used)
{
	MDB_envinfo ei;
	MDB_stat ms;

	l_flush(c);
	*size = file_bytes(c->path);
	mdb_env_info(c->env, &ei);
	mdb_env_stat(c->env, &ms);
	*used = (double)(ei.me_last_pgno + 1) * ms.ms_psize;
}
#endif

/* ---- Kyoto Cabinet HashDB ---- */

#ifdef HAVE_KYOTOCABINET
static void k_open(struct ctx *c, uint32_t mode)
{
	c->kc = kcdbnew();
	if (!kcdbopen(c->kc, c->kcpath, mode))
		die("kcdbopen", kcdbemsg(c->kc));
}

static void k_close(struct ctx *c)
{
	if (!c->kc)
		return;
	if (!kcdbclose(c->kc))
		die("kcdbclose", kcdbemsg(c->kc));
	kcdbdel(c->kc);
	c->kc = NULL;
}

static void k_create(struct ctx *c, long hint)
{
	unlink(c->path);
	if (hint)
		snprintf(c->kcpath, sizeof(c->kcpath),
			 "%s#bnum=%ld#msiz=2147483648", c->path, 2 * hint);
	else
		snprintf(c->kcpath, sizeof(c->kcpath), "%s", c->path);
	k_open(c, KCOWRITER | KCOCREATE | KCOTRUNCATE);
}

static void k_insert(struct ctx *c, const char *k, const void *v, size_t vl)
{
	if (!kcdbadd(c->kc, k, KLEN, v, vl))
		die("kcdbadd", kcdbemsg(c->kc));
}

static long k_find(struct ctx *c, const char *k, void *buf, size_t cap)
{
	int32_t r = kcdbgetbuf(c->kc, k, KLEN, buf, cap);

	if (r < 0 && kcdbecode(c->kc) != KCENOREC)
		die("kcdbgetbuf", kcdbemsg(c->kc));
	return r;
}

static void k_replace(struct ctx *c, const char *k, const void *v, size_t vl)
{
	if (!kcdbset(c->kc, k, KLEN, v, vl))
		die("kcdbset", kcdbemsg(c->kc));
}

struct kit {
	struct ctx *c;
	long n;
};

static const char *k_visit(const char *kbuf, size_t ksiz, const char *vbuf,
			   size_t vsiz, size_t *sp, void *opq)
{
	struct kit *it = opq;

	(void)kbuf;
	(void)ksiz;
	(void)sp;
	it->c->sink += vsiz + (vsiz ? (unsigned char)vbuf[0] : 0);
	it->n++;
	return KCVISNOP;
}

/* kcdbiterate cannot stop early: always a full pass. */
static long k_iter(struct ctx *c, double deadline)
{
	struct kit it = { c, 0 };

	(void)deadline;
	if (!kcdbiterate(c->kc, k_visit, &it, 0))
		die("kcdbiterate", kcdbemsg(c->kc));
	return it.n;
}

/* A writer's open locks the file against every other process: the
 * parent lets go before the children open, and takes it back after. */
static void k_postfork(struct ctx *c)
{
	k_open(c, KCOWRITER);
}

static void k_child_open(struct ctx *c, int writes)
{
	k_open(c, writes ? KCOWRITER : KCOREADER);
}

static void k_destroy(struct ctx *c)
{
	k_close(c);
	unlink(c->path);
}

static void k_memory(struct ctx *c, double *size, double *used)
{
	*size = *used = file_bytes(c->path);
}
#endif

/* ---- one file per key ---- */

static void f_name(char *name, const char *k)
{
	memcpy(name, k, KLEN);
	name[KLEN] = 0;
}

static void f_rmdir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(path);
}

static void f_create(struct ctx *c, long hint)
{
	(void)hint;
	f_rmdir(c->path);
	if (mkdir(c->path, 0700) < 0)
		die("mkdir", strerror(errno));
	c->dirfd = open(c->path, O_RDONLY | O_DIRECTORY);
	if (c->dirfd < 0)
		die("open", strerror(errno));
}

static void f_write(struct ctx *c, const char *k, const void *v, size_t vl,
		    int flags)
{
	char name[KLEN + 1];
	int fd;

	f_name(name, k);
	fd = openat(c->dirfd, name, O_WRONLY | O_CREAT | flags, 0600);
	if (fd < 0)
		die("openat", strerror(errno));
	xwrite(fd, v, vl);
	close(fd);
}

static void f_insert(struct ctx *c, const char *k, const void *v, size_t vl)
{
	f_write(c, k, v, vl, O_EXCL);
}

/* A new file renamed over the old one, as a careful user replaces a file:
 * an O_TRUNC and a write would show another process the empty file in
 * between (the 90/10 mix in two processes reads it). */
static void f_replace(struct ctx *c, const char *k, const void *v, size_t vl)
{
	char name[KLEN + 1], tmp[32];
	int fd;

	f_name(name, k);
	snprintf(tmp, sizeof(tmp), ".new-%ld", (long)getpid());
	fd = openat(c->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("openat", strerror(errno));
	xwrite(fd, v, vl);
	close(fd);
	if (renameat(c->dirfd, tmp, c->dirfd, name) < 0)
		die("renameat", strerror(errno));
}

static long f_readfd(int fd, void *buf, size_t cap)
{
	size_t got = 0;

	while (got < cap) {
		ssize_t r = read(fd, (char *)buf + got, cap - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read", strerror(errno));
		if (!r)
			break;
		got += (size_t)r;
	}
	return (long)got;
}

static long f_find(struct ctx *c, const char *k, void *buf, size_t cap)
{
	char name[KLEN + 1];
	long n;
	int fd;

	f_name(name, k);
	fd = openat(c->dirfd, name, O_RDONLY);
	if (fd < 0) {
		if (errno == ENOENT)
			return -1;
		die("openat", strerror(errno));
	}
	n = f_readfd(fd, buf, cap);
	close(fd);
	return n;
}

static long f_iter(struct ctx *c, double deadline)
{
	DIR *d;
	struct dirent *e;
	char buf[VLEN];
	long n = 0;
	int dfd = dup(c->dirfd);

	if (dfd < 0 || !(d = fdopendir(dfd)))
		die("fdopendir", strerror(errno));
	rewinddir(d);
	while ((e = readdir(d))) {
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = openat(c->dirfd, e->d_name, O_RDONLY);
		if (fd < 0)
			die("openat", strerror(errno));
		c->sink += (uint64_t)f_readfd(fd, buf, sizeof(buf)) +
			   (unsigned char)buf[0];
		close(fd);
		if ((++n & 63) == 0 && now() > deadline)
			break;
	}
	closedir(d);
	return n;
}

static void f_child_open(struct ctx *c, int writes)
{
	(void)writes;
	c->dirfd = open(c->path, O_RDONLY | O_DIRECTORY);
	if (c->dirfd < 0)
		die("open", strerror(errno));
}

static void f_child_close(struct ctx *c)
{
	close(c->dirfd);
}

static void f_destroy(struct ctx *c)
{
	if (c->dirfd >= 0)
		close(c->dirfd);
	c->dirfd = -1;
	f_rmdir(c->path);
}

/* tmpfs gives each file at least a page: count blocks of a sample. */
static void f_memory(struct ctx *c, double *size, double *used)
{
	DIR *d;
	struct dirent *e;
	struct stat st;
	double blocks = 0;
	long n = 0;
	int dfd = dup(c->dirfd);

	if (dfd < 0 || !(d = fdopendir(dfd)))
		die("fdopendir", strerror(errno));
	while ((e = readdir(d)) && n < 1000)
		if (e->d_name[0] != '.' &&
		    !fstatat(c->dirfd, e->d_name, &st, 0)) {
			blocks += (double)st.st_blocks * 512;
			n++;
		}
	closedir(d);
	fstat(c->dirfd, &st);
	*size = *used = (n ? blocks / n * c->n : 0) + (double)st.st_size;
}

/* ---- the table of systems ---- */

static void s_none_close(struct ctx *c)
{
	(void)c;
}

static const struct sys systems[] = {
	{ "malloc (reference)", "malloc", F_PRESIZE, yes, m_create, m_insert,
	  m_find, m_replace, m_iter, nop, nop, nop, m_child_open, s_none_close,
	  m_destroy, m_memory },
	{ "shmtab", "shmtab", F_PRESIZE, yes, s_create, s_insert, s_find,
	  s_replace, s_iter, nop, nop, nop, s_child_open, s_child_close,
	  s_destroy, s_memory },
	{ "shmtab, record locks", "shmtab-record", F_PRESIZE, yes, s_create,
	  s_insert, s_find, s_replace, s_iter, nop, nop, nop, s_child_open,
	  s_child_close, s_destroy, s_memory },
#ifdef HAVE_TDB
	{ "TDB, fcntl", "tdb-fcntl", F_PRESIZE | F_NOHINT_SMALL, yes,
	  tf_create, t_insert, t_find, t_replace, t_iter, nop, nop, nop,
	  t_child_open, t_child_close, t_destroy, t_memory },
	{ "TDB, mutex", "tdb-mutex", F_PRESIZE | F_NOHINT_SMALL, tm_avail,
	  tm_create, t_insert, t_find, t_replace, t_iter, nop, nop, nop,
	  t_child_open, t_child_close, t_destroy, t_memory },
#endif
#ifdef HAVE_LMDB
	{ "LMDB, txn per op", "lmdb", 0, yes, l_create, l_insert, l_find,
	  l_replace, l_iter, l_flush, l_flush, nop, l_child_open, l_close,
	  l_destroy, l_memory },
	{ "LMDB, 1000 ops/txn", "lmdb-batch", 0, yes, l_create, l_insert,
	  l_find, l_replace, l_iter, l_flush, l_flush, nop, l_child_open,
	  l_close, l_destroy, l_memory },
#endif
#ifdef HAVE_KYOTOCABINET
	{ "Kyoto Cabinet HashDB", "kc", F_PRESIZE | F_EXCL_WRITER, yes,
	  k_create, k_insert, k_find, k_replace, k_iter, nop, k_close,
	  k_postfork, k_child_open, k_close, k_destroy, k_memory },
#endif
	{ "one file per key", "files", 0, yes, f_create, f_insert, f_find,
	  f_replace, f_iter, nop, nop, nop, f_child_open, f_child_close,
	  f_destroy, f_memory },
};

#define NSYS (sizeof(systems) / sizeof(systems[0]))
#define SHMTAB_SYS 1

static int enabled[NSYS];
static struct ctx ctxs[NSYS];

static void setup_ctx(int s, long n, size_t vmax)
{
	struct ctx *c = &ctxs[s];
	const char *id = systems[s].id;

	memset(c, 0, sizeof(*c));
	c->sys = &systems[s];
	c->n = n;
	c->vmax = vmax;
	c->dirfd = -1;
	c->batch = !strcmp(id, "lmdb-batch") ? 1000 : 1;
	if (c->batch > 1 && vmax > VLEN)	/* keep a txn's dirty pages small */
		c->batch = (int)(BIG_TOTAL / vmax) < 1000 ?
				   (int)(BIG_TOTAL / vmax) : 1000;
	c->sopt.lock = !strcmp(id, "shmtab-record") ? SHMTAB_LOCK_RECORD :
						      SHMTAB_LOCK_BEST;
	snprintf(c->name, sizeof(c->name), "posix:/shmtab-bench-%d-%s",
		 (int)main_pid, id);
	snprintf(c->path, sizeof(c->path), "%s/%s%s", workdir, id,
		 !strcmp(id, "kc") ? ".kch" : "");	/* KC wants the suffix */
}

static void cleanup(void)
{
	for (size_t s = 0; s < NSYS; s++) {
		char name[300];

		snprintf(name, sizeof(name), "posix:/shmtab-bench-%d-%s",
			 (int)main_pid, systems[s].id);
		shmtab_unlink(name);
	}
	if (workdir[0]) {
		DIR *d = opendir(workdir);
		struct dirent *e;
		char p[600];

		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", workdir, e->d_name);
			f_rmdir(p);
			unlink(p);
		}
		if (d)
			closedir(d);
		rmdir(workdir);
	}
}

static void on_signal(int sig)
{
	(void)sig;
	die("interrupted", NULL);
}

/* --- workloads -------------------------------------------------------- */

enum wl {
	W_INS0,		/* insert N into an empty db, no hint */
	W_INSP,		/* insert N, presized */
	W_HIT,
	W_MISS,
	W_REPL,
	W_MIX,
	W_ITER,
	W_INSM,		/* insert new keys into the N-key db */
	NWL
};

static const char *const wl_name[NWL] = {
	"insert, empty, no size hint", "insert, presized", "find (hit)",
	"find (miss)", "replace", "find/replace 90/10", "iteration",
	"insert into the loaded table",
};

static const char *const wl_id[NWL] = {
	"insert-nohint", "insert-presized", "find-hit", "find-miss",
	"replace", "mix-90-10", "iterate", "insert-more",
};

static int writes(int w)
{
	return w == W_REPL || w == W_MIX || w == W_INSM;
}

struct runres {
	long ops;
	double t0, t1;
};

static char *valbuf, *outbuf;

static inline void one_op(struct ctx *c, int w, uint64_t *rng, long seq,
			  long base, size_t vl)
{
	char k[KLEN];
	uint64_t r = splitmix(rng);
	uint64_t i = (uint64_t)(uint32_t)(r >> 32) * (uint64_t)c->n >> 32;
	long got;

	switch (w) {
	case W_MIX:
		if ((uint32_t)r % 10 == 0)
			goto replace;
		/* fall through */
	case W_HIT:
		mkkey(k, i);
		got = c->sys->find(c, k, outbuf, vl);
		if (got != (long)vl)
			die(c->sys->name, "find: wrong value length");
		break;
	case W_MISS:
		mkkey(k, i + (uint64_t)c->n);
		if (c->sys->find(c, k, outbuf, vl) != -1)
			die(c->sys->name, "find: a missing key was found");
		break;
	case W_REPL:
replace:
		mkkey(k, i);
		valbuf[0] = (char)seq;
		c->sys->replace(c, k, valbuf, vl);
		break;
	case W_INSM:
		mkkey(k, (uint64_t)(base + seq));
		c->sys->insert(c, k, valbuf, vl);
		break;
	}
}

static void run_timed(struct ctx *c, int w, double secs, uint64_t seed,
		      long base, size_t vl, struct runres *res)
{
	uint64_t rng = seed;
	long ops = 0;
	int chunk = vl > 4096 ? 4 : 128;

	res->t0 = now();
	if (w == W_ITER) {	/* whole passes until the time is up */
		double end = res->t0 + secs;

		do
			ops += c->sys->iter(c, end);
		while (now() < end);
	} else {
		double end = res->t0 + secs;

		do {
			for (int j = 0; j < chunk; j++, ops++)
				one_op(c, w, &rng, ops, base, vl);
		} while (now() < end);
	}
	c->sys->flush(c);
	res->t1 = now();
	res->ops = ops;
}

/* Touch every page of the database in this process before timing, for
 * real: a load from each page of a read-only mapping, an atomic add of zero
 * to a word of each page of a writable one (safe while the other worker
 * writes).  A first access of a page costs tens of microseconds in this VM
 * even when the page is in the page tables already (MADV_POPULATE_* does
 * not spare it: with it, two processes still ran finds at 10k/s), and the
 * 0.2 s runs would otherwise time mostly those.  Every mapping of a file of
 * ours (in /proc/self/maps) is touched, up to its end of file. */
static void touch_all(struct ctx *c)
{
	char prefix[64], line[1024];
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return;
	snprintf(prefix, sizeof(prefix), "%s/shmtab-bench-%d", workdir_root,
		 (int)main_pid);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off, a;
		char perms[8], *path = strchr(line, '/');
		struct stat st;

		if (!path || strncmp(path, prefix, strlen(prefix)) ||
		    sscanf(line, "%lx-%lx %7s %lx", &lo, &hi, perms, &off) != 4)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (stat(path, &st) || (unsigned long)st.st_size <= off)
			continue;
		if (hi - lo > (unsigned long)st.st_size - off)
			hi = lo + ((unsigned long)st.st_size - off);
		for (a = lo; a < hi; a += 4096) {
			if (perms[1] == 'w')
				__atomic_fetch_add((uint64_t *)a, 0,
						   __ATOMIC_RELAXED);
			else
				c->sink += *(volatile const unsigned char *)a;
		}
	}
	fclose(f);
}

/* The machine's memory latency, measured in the same run as the systems:
 * a chain of dependent loads at random places of a 128 MiB shared mapping
 * of a file on workdir_root (4 KiB pages, as every table here gets), each
 * address computed from the byte the previous load returned.  A random
 * lookup in a table much larger than the caches costs about one such
 * latency per dependent load (an index cell, then the record it points
 * to), less where out-of-order execution overlaps consecutive lookups: the
 * goals's ratios between engines are bounded by how many of these each
 * needs, and the machine's latency sets every absolute rate. */
#define LAT_BYTES (128UL << 20)
static unsigned char *lat_map;

static void latency_setup(void)
{
	char path[sizeof(workdir) + 16];
	int fd;

	snprintf(path, sizeof(path), "%s/latency", workdir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)LAT_BYTES))
		die(path, strerror(errno));
	lat_map = mmap(NULL, LAT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, 0);
	close(fd);
	unlink(path);
	if (lat_map == MAP_FAILED)
		die("mmap", strerror(errno));
	for (size_t i = 0; i < LAT_BYTES; i += 64)	/* every page, for real */
		lat_map[i] = (unsigned char)(i >> 6);
}

static double latency_probe(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL, pos = 0;
	long n = 1000000;
	double t0 = now();

	for (long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pos = (x + lat_map[pos]) & (LAT_BYTES - 1);
	}
	ctxs[0].sink += pos;
	return (now() - t0) / (double)n * 1e9;
}

/* Rates of two processes at once, for each workload of ws: two workers,
 * each with its own handle opened after fork and every page touched, run
 * the workloads in turn; for each, both warm up, wait at a barrier, run,
 * and the rate is all operations over first start to last finish.  With
 * an exclusive writer (Kyoto Cabinet), a writing workload opens after the
 * barrier: the second writer's open waits for the first to close. */
static void two_procs(struct ctx *c, const int *ws, int nw, double secs,
		      uint64_t seed, double *rate)
{
	int ready[2], go[2][2], out[2];
	int excl = c->sys->flags & F_EXCL_WRITER;
	pid_t pid[2];

	if (pipe(ready) || pipe(go[0]) || pipe(go[1]) || pipe(out))
		die("pipe", strerror(errno));
	c->sys->prefork(c);
	fflush(NULL);
	for (int p = 0; p < 2; p++) {
		pid[p] = fork();
		if (pid[p] < 0)
			die("fork", strerror(errno));
		if (pid[p] == 0) {
			int open = -1;	/* -1 closed, else opened for writes */

			close(ready[0]);
			close(go[p][1]);
			close(out[0]);
			for (int i = 0; i < nw; i++) {
				int w = ws[i], wr = writes(w);
				long base = w == W_INSM ? 20000000000L : 0;
				struct runres rr, warm;
				char x;

				if (!excl && open < 0) {
					c->sys->child_open(c, 1);
					open = 1;
					touch_all(c);
				}
				if (!excl)
					run_timed(c, w, WARM, seed ^ (0x5555u + p),
						  base + 500000000L + p * 100000000L,
						  VLEN, &warm);
				xwrite(ready[1], "r", 1);
				xread(go[p][0], &x, 1);
				/* An exclusive writer's lock must not be held across
				 * the barrier (the other worker may still wait for it
				 * to finish the previous workload): open after it. */
				if (excl) {
					c->sys->child_open(c, wr);
					open = wr;
					touch_all(c);
					run_timed(c, w, WARM, seed ^ (0x5555u + p),
						  base + 500000000L + p * 100000000L,
						  VLEN, &warm);
				}
				run_timed(c, w, secs, seed + 977 * (uint64_t)(p + 1) + (uint64_t)w,
					  base + p * 1000000000L, VLEN, &rr);
				if (excl) {	/* let the other writer in */
					c->sys->child_close(c);
					open = -1;
				}
				xwrite(out[1], &rr, sizeof(rr));
			}
			if (open >= 0)
				c->sys->child_close(c);
			_exit(0);
		}
	}
	close(ready[1]);
	close(go[0][0]);
	close(go[1][0]);
	close(out[1]);
	for (int i = 0; i < nw; i++) {
		struct runres r[2];
		char b[2];
		double t0, t1;

		xread(ready[0], b, 2);
		xwrite(go[0][1], "g", 1);
		xwrite(go[1][1], "g", 1);
		for (int p = 0; p < 2; p++)
			xread(out[0], &r[p], sizeof(r[p]));
		t0 = r[0].t0 < r[1].t0 ? r[0].t0 : r[1].t0;
		t1 = r[0].t1 > r[1].t1 ? r[0].t1 : r[1].t1;
		rate[i] = (double)(r[0].ops + r[1].ops) / (t1 - t0);
	}
	for (int p = 0; p < 2; p++) {
		int status;

		if (waitpid(pid[p], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			die(c->sys->name, "a child process failed");
	}
	close(ready[0]);
	close(go[0][1]);
	close(go[1][1]);
	close(out[0]);
	c->sys->postfork(c);
}

/* Insert every key in perm's order; the rate, and the longest insert. */
static double insert_all(struct ctx *c, const uint32_t *perm, long n,
			 double *stall)
{
	char k[KLEN];
	uint64_t max = 0, prev, t;
	double t0 = now(), t1;

	prev = ticks();
	for (long i = 0; i < n; i++) {
		mkkey(k, perm[i]);
		valbuf[0] = (char)i;
		c->sys->insert(c, k, valbuf, VLEN);
		t = ticks();
		if (t - prev > max)
			max = t - prev;
		prev = t;
	}
	c->sys->flush(c);
	t1 = now();
	*stall = (double)max / tsc_per_sec;
	return (double)n / (t1 - t0);
}

/* --- results ---------------------------------------------------------- */

static int nrounds = 5;
static long ns[MAXN] = { 100000, 1000000 };
static int nn = 2;
static double secs = 0.2;
static int do_big = 1;

/* [n][workload][procs-1][system][round] */
static double res[MAXN][NWL][2][NSYS][MAXROUNDS];
static double stall[MAXN][2][NSYS][MAXROUNDS];
/* [n][no hint / presized][size, used][system][round] */
static double mem[MAXN][2][2][NSYS][MAXROUNDS];
/* [64K / 1M][find / replace][system][round], GB/s */
static double big[2][2][NSYS][MAXROUNDS];
static const size_t bigsize[2] = { 64 << 10, 1 << 20 };
static double foreign[MAXROUNDS];
static double latency[MAXROUNDS];	/* ns per dependent random read */

static void fill_nan(void)
{
	double *p[] = { &res[0][0][0][0][0], &stall[0][0][0][0],
			&mem[0][0][0][0][0], &big[0][0][0][0] };
	size_t sz[] = { sizeof(res), sizeof(stall), sizeof(mem), sizeof(big) };

	for (int a = 0; a < 4; a++)
		for (size_t i = 0; i < sz[a] / sizeof(double); i++)
			p[a][i] = NAN;
}

/* --- one round -------------------------------------------------------- */

static void round_small(int r, int ni, const uint32_t *perm)
{
	long n = ns[ni];

	for (size_t j = 0; j < NSYS; j++) {
		int s = (int)((j + (size_t)r) % NSYS);
		const struct sys *S = &systems[s];
		struct ctx *c = &ctxs[s];
		double st, sz, us;
		int nohint = !(S->flags & F_NOHINT_SMALL) || n <= 200000;
		uint64_t seed = 0x1234567ULL * (uint64_t)(r + 1) + (uint64_t)s;

		double ts = now();

		if (!enabled[s])
			continue;
		fprintf(stderr, "  round %d, %ld keys: %-22s", r + 1, n, S->name);
		setup_ctx(s, n, VLEN);
		if (nohint) {
			S->create(c, 0);
			res[ni][W_INS0][0][s][r] = insert_all(c, perm, n, &st);
			stall[ni][0][s][r] = st;
			S->memory(c, &sz, &us);
			mem[ni][0][0][s][r] = sz / n;
			mem[ni][0][1][s][r] = us / n;
		}
		if (S->flags & F_PRESIZE) {
			if (nohint)
				S->destroy(c);
			S->create(c, n);
			res[ni][W_INSP][0][s][r] = insert_all(c, perm, n, &st);
			stall[ni][1][s][r] = st;
			S->memory(c, &sz, &us);
			mem[ni][1][0][s][r] = sz / n;
			mem[ni][1][1][s][r] = us / n;
		} else {	/* no hint exists: the same figures */
			res[ni][W_INSP][0][s][r] = res[ni][W_INS0][0][s][r];
			stall[ni][1][s][r] = stall[ni][0][s][r];
			mem[ni][1][0][s][r] = mem[ni][0][0][s][r];
			mem[ni][1][1][s][r] = mem[ni][0][1][s][r];
		}
		touch_all(c);
		for (int w = W_HIT; w <= W_INSM; w++) {
			struct runres rr, warm;
			long base = w == W_INSM ? 10000000000L : 0;

			if (w != W_INSM)
				run_timed(c, w, WARM, seed ^ 0xabc, 0, VLEN, &warm);
			run_timed(c, w, secs, seed + (uint64_t)w, base, VLEN, &rr);
			res[ni][w][0][s][r] = rr.ops / (rr.t1 - rr.t0);
		}
		{
			static const int ws[] = { W_HIT, W_MISS, W_REPL, W_MIX,
						  W_ITER, W_INSM };
			double rate[6];

			two_procs(c, ws, 6, secs, seed + 31, rate);
			for (int i = 0; i < 6; i++)
				res[ni][ws[i]][1][s][r] = rate[i];
		}
		S->destroy(c);
		fprintf(stderr, " %5.1f s\n", now() - ts);
	}
}

static void round_big(int r)
{
	for (size_t j = 0; j < NSYS; j++) {
		int s = (int)((j + (size_t)r) % NSYS);
		const struct sys *S = &systems[s];
		struct ctx *c = &ctxs[s];

		double ts = now();

		if (!enabled[s])
			continue;
		fprintf(stderr, "  round %d, large values: %-22s", r + 1,
			S->name);
		for (int b = 0; b < 2; b++) {
			size_t vl = bigsize[b];
			long n = (long)(BIG_TOTAL / vl);
			struct runres rr, warm;
			char k[KLEN];

			setup_ctx(s, n, vl);
			S->create(c, n);
			for (long i = 0; i < n; i++) {
				mkkey(k, (uint64_t)i);
				S->insert(c, k, valbuf, vl);
			}
			S->flush(c);
			touch_all(c);
			run_timed(c, W_HIT, WARM, 99, 0, vl, &warm);
			run_timed(c, W_HIT, secs, 7 + (uint64_t)r, 0, vl, &rr);
			big[b][0][s][r] = rr.ops * (double)vl / (rr.t1 - rr.t0) / 1e9;
			run_timed(c, W_REPL, WARM, 98, 0, vl, &warm);
			run_timed(c, W_REPL, secs, 8 + (uint64_t)r, 0, vl, &rr);
			big[b][1][s][r] = rr.ops * (double)vl / (rr.t1 - rr.t0) / 1e9;
			S->destroy(c);
		}
		fprintf(stderr, " %5.1f s\n", now() - ts);
	}
}

/* --- output ----------------------------------------------------------- */

static const char *fmt_rate(char *b, size_t sz, double v)
{
	if (isnan(v))
		snprintf(b, sz, "n/a");
	else if (v >= 1e6)
		snprintf(b, sz, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(b, sz, "%.0fk", v / 1e3);
	else
		snprintf(b, sz, "%.0f", v);
	return b;
}

static double med(const double *v)
{
	return median(v, nrounds, NULL, NULL);
}

static void print_tables(void)
{
	char a[32], b[32], d[32], e[32], f[32];

	for (int ni = 0; ni < nn; ni++) {
		long n = ns[ni];

		printf("\n== insert, %ld keys (ops/s, median of %d; x = ratio "
		       "to shmtab) ==\n", n, nrounds);
		printf("%-22s %9s %6s %9s %6s %7s %19s\n", "system",
		       "no hint", "x", "presized", "x", "nh/pre",
		       "longest op nh / pre");
		for (size_t s = 0; s < NSYS; s++) {
			double v0, v1, sh0, sh1, st[2] = { 0, 0 };

			if (!enabled[s])
				continue;
			v0 = med(res[ni][W_INS0][0][s]);
			v1 = med(res[ni][W_INSP][0][s]);
			sh0 = med(res[ni][W_INS0][0][SHMTAB_SYS]);
			sh1 = med(res[ni][W_INSP][0][SHMTAB_SYS]);
			for (int r = 0; r < nrounds; r++)
				for (int h = 0; h < 2; h++)
					if (stall[ni][h][s][r] > st[h])
						st[h] = stall[ni][h][s][r];
			printf("%-22s %9s %6s %9s %6s %7s %7.1f / %5.1f ms%s\n",
			       systems[s].name, fmt_rate(a, 32, v0),
			       fmt_ratio(b, 32, v0 / sh0),
			       fmt_rate(d, 32, v1), fmt_ratio(e, 32, v1 / sh1),
			       fmt_ratio(f, 32, v0 / v1),
			       isnan(v0) ? NAN : st[0] * 1e3, st[1] * 1e3,
			       systems[s].flags & F_PRESIZE ? "" :
							      " (no hint exists)");
		}
		for (int w = W_HIT; w <= W_INSM; w++) {
			printf("\n== %s, %ld keys (ops/s, median of %d; x = "
			       "ratio to shmtab) ==\n", wl_name[w], n, nrounds);
			printf("%-22s %9s %6s %9s %6s %6s\n", "system",
			       "1 proc", "x", "2 procs", "x", "2/1");
			for (size_t s = 0; s < NSYS; s++) {
				double v1, v2;

				if (!enabled[s])
					continue;
				v1 = med(res[ni][w][0][s]);
				v2 = med(res[ni][w][1][s]);
				printf("%-22s %9s %6s %9s %6s %6s\n",
				       systems[s].name, fmt_rate(a, 32, v1),
				       fmt_ratio(b, 32, v1 / med(res[ni][w][0][SHMTAB_SYS])),
				       fmt_rate(d, 32, v2),
				       fmt_ratio(e, 32, v2 / med(res[ni][w][1][SHMTAB_SYS])),
				       fmt_ratio(f, 32, v2 / v1));
			}
		}
		printf("\n== memory, %ld keys (bytes per binding: object or "
		       "file size / bindings; used: shmtab's stat used, LMDB's "
		       "last page) ==\n", n);
		printf("%-22s %9s %9s %9s %9s\n", "system", "no hint", "used",
		       "presized", "used");
		for (size_t s = 0; s < NSYS; s++) {
			if (!enabled[s])
				continue;
			printf("%-22s %9.1f %9.1f %9.1f %9.1f\n",
			       systems[s].name, med(mem[ni][0][0][s]),
			       med(mem[ni][0][1][s]), med(mem[ni][1][0][s]),
			       med(mem[ni][1][1][s]));
		}
	}
	if (!do_big)
		return;
	printf("\n== large values, %zu MiB of them (GB/s, median of %d; x = "
	       "ratio to shmtab) ==\n", BIG_TOTAL >> 20, nrounds);
	printf("%-22s %8s %5s %8s %5s %8s %5s %8s %5s\n", "system",
	       "64K find", "x", "64K repl", "x", "1M find", "x", "1M repl", "x");
	for (size_t s = 0; s < NSYS; s++) {
		if (!enabled[s])
			continue;
		printf("%-22s", systems[s].name);
		for (int b2 = 0; b2 < 2; b2++)
			for (int o = 0; o < 2; o++) {
				double v = med(big[b2][o][s]);

				printf(" %8.2f %5s", v,
				       fmt_ratio(a, 32, v / med(big[b2][o][SHMTAB_SYS])));
			}
		printf("\n");
	}
}

static int sys_index(const char *id)
{
	for (size_t s = 0; s < NSYS; s++)
		if (!strcmp(systems[s].id, id) && enabled[s])
			return (int)s;
	return -1;
}

/*
 * One goal: mine / theirs against need (at most or at least).  refr, when
 * not NAN, is the same ratio for the in-process reference: a goal it does
 * not reach either asks more than the hardware gives here, and the line
 * says so.
 */
static void goal(const char *what, double mine, double theirs, double need,
		 int at_most, double refr)
{
	double r = theirs > 0 ? mine / theirs : mine;
	int ok = at_most ? r <= need : r >= need;

	if (isnan(mine) || isnan(theirs)) {
		printf("  %-52s  n/a\n", what);
		return;
	}
	printf("  %-52s %8.2f %s %-5g %s", what, r, at_most ? "<=" : ">=",
	       need, ok ? "MET" : "MISSED");
	if (!isnan(refr))
		printf("  (reference %.2f%s)", refr,
		       refr < need ? ": beyond it" : "");
	printf("\n");
}

static void print_goals(void)
{
	int ni = nn - 1, sh = SHMTAB_SYS;
	int ref = sys_index("malloc"), tm = sys_index("tdb-mutex"),
	    tf = sys_index("tdb-fcntl"), lm = sys_index("lmdb"),
	    kc = sys_index("kc"), rec = sys_index("shmtab-record");
	double hit = med(res[ni][W_HIT][0][sh]);
	double ins = med(res[ni][W_INS0][0][sh]);
	double repl = med(res[ni][W_REPL][0][sh]);
	double st = 0;
#define M(w, p, s) ((s) < 0 ? NAN : med(res[ni][w][p][s]))
/* the reference's ratio to peer s on the same workload */
#define VSREF(w, p, s) (M(w, p, ref) / M(w, p, s))

	for (int r = 0; r < nrounds; r++)
		if (stall[ni][0][sh][r] > st)
			st = stall[ni][0][sh][r];
	printf("\n== issue 6 engine goals, %ld keys (ratio, goal, verdict) ==\n",
	       ns[ni]);
	goal("find (hit) / reference", hit, M(W_HIT, 0, ref), 0.9, 0, NAN);
	/* Not a goal: what one find costs in memory latencies, here. */
	printf("  %-52s %8.2f (reference %.2f, TDB mutex %.2f; not a goal)\n",
	       "find (hit): time of one, in memory latencies",
	       1e9 / hit / med(latency),
	       1e9 / M(W_HIT, 0, ref) / med(latency),
	       1e9 / M(W_HIT, 0, tm) / med(latency));
	goal("find (hit) / TDB mutex", hit, M(W_HIT, 0, tm), 5, 0,
	     VSREF(W_HIT, 0, tm));
	goal("find (hit) / LMDB txn per find", hit, M(W_HIT, 0, lm), 7, 0,
	     VSREF(W_HIT, 0, lm));
	goal("find (hit), 2 procs / 1 proc", med(res[ni][W_HIT][1][sh]),
	     hit, 1.8, 0, NAN);
	goal("insert (no hint) / TDB mutex (presized)", ins,
	     M(W_INSP, 0, tm), 4, 0, M(W_INS0, 0, ref) / M(W_INSP, 0, tm));
	goal("insert (no hint) / Kyoto Cabinet (presized)", ins,
	     M(W_INSP, 0, kc), 1.5, 0, M(W_INS0, 0, ref) / M(W_INSP, 0, kc));
	goal("insert (no hint) / shmtab presized", ins,
	     med(res[ni][W_INSP][0][sh]), 0.5, 0, NAN);
	goal("longest insert (no hint), ms", st * 1e3, 1, 10, 1, NAN);
	goal("replace / TDB mutex", repl, M(W_REPL, 0, tm), 3, 0,
	     VSREF(W_REPL, 0, tm));
	goal("replace / Kyoto Cabinet", repl, M(W_REPL, 0, kc), 3, 0,
	     VSREF(W_REPL, 0, kc));
	/* the issue runs every workload in two processes as well: the same
	 * ratios there (the scaling goal above aside) */
	goal("find (hit) / TDB mutex, 2 procs", M(W_HIT, 1, sh),
	     M(W_HIT, 1, tm), 5, 0, VSREF(W_HIT, 1, tm));
	goal("find (hit) / LMDB txn per find, 2 procs", M(W_HIT, 1, sh),
	     M(W_HIT, 1, lm), 7, 0, VSREF(W_HIT, 1, lm));
	goal("replace / TDB mutex, 2 procs", M(W_REPL, 1, sh),
	     M(W_REPL, 1, tm), 3, 0, VSREF(W_REPL, 1, tm));
	goal("replace / Kyoto Cabinet, 2 procs", M(W_REPL, 1, sh),
	     M(W_REPL, 1, kc), 3, 0, VSREF(W_REPL, 1, kc));
	for (int p = 0; p < 2; p++) {
		for (int w = W_HIT; w <= W_INSM; w++) {
			char what[80];

			snprintf(what, sizeof(what),
				 "record locks / TDB fcntl: %s%s", wl_id[w],
				 p ? ", 2 procs" : "");
			goal(what, M(w, p, rec), M(w, p, tf), 1, 0, NAN);
		}
	}
	/* (an insert into an empty table runs in one process only) */
	goal("record locks / TDB fcntl: insert-presized", M(W_INSP, 0, rec),
	     M(W_INSP, 0, tf), 1, 0, NAN);
	goal("bytes per binding (no hint, object size)",
	     med(mem[ni][0][0][sh]), 1, 160, 1, NAN);
	goal("bytes per binding (presized, object size)",
	     med(mem[ni][1][0][sh]), 1, 160, 1, NAN);
#undef VSREF
#undef M
}

static void write_tsv(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		die(path, strerror(errno));
	fprintf(f, "keys\tworkload\tprocs\tsystem\tmedian\tmin\tmax\tunit\t"
		   "rounds\n");
#define ROW(n, wid, procs, sid, arr, unit) do {                                \
		double lo, hi, m = median(arr, nrounds, &lo, &hi);             \
		fprintf(f, "%ld\t%s\t%d\t%s\t%.6g\t%.6g\t%.6g\t%s\t", n, wid,  \
			procs, sid, m, lo, hi, unit);                          \
		for (int r = 0; r < nrounds; r++)                              \
			fprintf(f, "%s%.6g", r ? "," : "", (arr)[r]);          \
		fprintf(f, "\n");                                              \
	} while (0)
	for (int ni = 0; ni < nn; ni++)
		for (size_t s = 0; s < NSYS; s++) {
			const char *id = systems[s].id;

			if (!enabled[s])
				continue;
			for (int w = 0; w < NWL; w++)
				for (int p = 0; p < (w < W_HIT ? 1 : 2); p++)
					ROW(ns[ni], wl_id[w], p + 1, id,
					    res[ni][w][p][s], "ops/s");
			ROW(ns[ni], "insert-nohint-max-stall", 1, id,
			    stall[ni][0][s], "s");
			ROW(ns[ni], "insert-presized-max-stall", 1, id,
			    stall[ni][1][s], "s");
			ROW(ns[ni], "bytes-per-binding-nohint", 1, id,
			    mem[ni][0][0][s], "B");
			ROW(ns[ni], "used-per-binding-nohint", 1, id,
			    mem[ni][0][1][s], "B");
			ROW(ns[ni], "bytes-per-binding-presized", 1, id,
			    mem[ni][1][0][s], "B");
			ROW(ns[ni], "used-per-binding-presized", 1, id,
			    mem[ni][1][1][s], "B");
		}
	if (do_big)
		for (size_t s = 0; s < NSYS; s++) {
			static const char *const bid[2][2] = {
				{ "find-64KiB", "replace-64KiB" },
				{ "find-1MiB", "replace-1MiB" } };

			if (!enabled[s])
				continue;
			for (int b = 0; b < 2; b++)
				for (int o = 0; o < 2; o++)
					ROW((long)(BIG_TOTAL / bigsize[b]),
					    bid[b][o], 1, systems[s].id,
					    big[b][o][s], "GB/s");
		}
	ROW(0L, "foreign-load", 0, "machine", foreign, "share");
#undef ROW
	if (fclose(f))
		die(path, strerror(errno));
}

/* --- main ------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: engine [-r ROUNDS] [-n N[,N..]] [-t SECONDS] "
		"[-s SYS[,SYS..]] [-o TSV] [-L]\n  systems:");
	for (size_t s = 0; s < NSYS; s++)
		fprintf(stderr, " %s", systems[s].id);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *tsv = "bench/results-engine.tsv", *only = NULL;
	uint32_t *perm;
	uint64_t rng = 42;
	long nmax = 0;
	int opt;
	double t0;

	while ((opt = getopt(argc, argv, "r:n:t:s:o:Lh")) != -1) {
		switch (opt) {
		case 'r':
			nrounds = atoi(optarg);
			if (nrounds < 1 || nrounds > MAXROUNDS)
				usage();
			break;
		case 'n': {
			char *p = optarg, *end;

			for (nn = 0; *p && nn < MAXN; nn++) {
				ns[nn] = strtol(p, &end, 10);
				if (ns[nn] < 1 || ns[nn] > 100000000 ||
				    (*end && *end != ','))
					usage();
				p = *end ? end + 1 : end;
			}
			break;
		}
		case 't':
			secs = atof(optarg);
			if (secs <= 0)
				usage();
			break;
		case 's':
			only = optarg;
			break;
		case 'o':
			tsv = optarg;
			break;
		case 'L':
			do_big = 0;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	main_pid = getpid();
#ifdef HAVE_TDB
	tdb_mutex_ok = tdb_runtime_check_for_robust_mutexes();
#endif
	for (size_t s = 0; s < NSYS; s++) {
		char pat[64];

		snprintf(pat, sizeof(pat), ",%s,", systems[s].id);
		enabled[s] = systems[s].avail();
		if (only) {
			char list[512];

			snprintf(list, sizeof(list), ",%s,", only);
			enabled[s] &= strstr(list, pat) != NULL;
		}
		if (!systems[s].avail())
			fprintf(stderr, "engine: %s is not available here\n",
				systems[s].name);
	}
	enabled[SHMTAB_SYS] = 1;	/* the ratios need it */
	snprintf(workdir, sizeof(workdir), "%s/shmtab-bench-%d", workdir_root,
		 (int)main_pid);
	if (mkdir(workdir, 0700) < 0)
		die(workdir, strerror(errno));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	calibrate_ticks();
	latency_setup();

	for (int ni = 0; ni < nn; ni++)
		if (ns[ni] > nmax)
			nmax = ns[ni];
	perm = malloc((size_t)nmax * sizeof(*perm));
	valbuf = malloc(bigsize[1]);
	outbuf = malloc(bigsize[1]);
	if (!perm || !valbuf || !outbuf)
		die("malloc", NULL);
	memset(valbuf, 'v', bigsize[1]);
	fill_nan();
	t0 = now();
	for (int r = 0; r < nrounds; r++) {
		double tr = now(), busy = cpu_busy(), mine = cpu_mine();

		for (int ni = 0; ni < nn; ni++) {
			long n = ns[ni];

			/* the same random order of insertion for everyone */
			for (long i = 0; i < n; i++)
				perm[i] = (uint32_t)i;
			for (long i = n - 1; i > 0; i--) {
				long j = (long)(splitmix(&rng) % (uint64_t)(i + 1));
				uint32_t x = perm[i];

				perm[i] = perm[j];
				perm[j] = x;
			}
			round_small(r, ni, perm);
		}
		if (do_big)
			round_big(r);
		latency[r] = latency_probe();
		foreign[r] = ((cpu_busy() - busy) - (cpu_mine() - mine)) /
			     ((now() - tr) * (double)sysconf(_SC_NPROCESSORS_ONLN));
		fprintf(stderr, "round %d done, %.0f s so far, foreign load "
			"%.2f\n", r + 1, now() - t0, foreign[r]);
	}
	printf("shmtab engine benchmark: %d rounds, %.2f s per timed run, "
	       "16-byte keys, %d-byte values, on %s; %.0f s in all\n",
	       nrounds, secs, VLEN, workdir_root, now() - t0);
	printf("foreign load per round (share of the %ld CPUs busy with "
	       "other work):", sysconf(_SC_NPROCESSORS_ONLN));
	for (int r = 0; r < nrounds; r++)
		printf(" %.2f", foreign[r]);
	printf("\n");
	printf("memory latency (a dependent random read over 128 MiB of shared "
	       "memory, median): %.0f ns\n", med(latency));
	print_tables();
	print_goals();
	write_tsv(tsv);
	printf("\nTSV: %s\n", tsv);
	cleanup();
	free(perm);
	free(valbuf);
	free(outbuf);
	return 0;
}
