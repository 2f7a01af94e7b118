/* SPDX-License-Identifier: MIT */
/*
 * t-crash.c - processes killed with SIGKILL while they hold locks or write.
 *
 * The lock holder tests kill a process inside a group or an iteration and
 * check that others proceed within 2 s.  The kill -9 rounds run a writer that
 * logs every operation to a pipe before ("intent") and after ("ack") the
 * call, kill it after 1-30 ms, and let a fresh process verify the table:
 * check passes, every value carries a valid self-checksum, and every key's
 * stack of bindings equals the model built from the acked operations, with
 * or without the one operation in flight.
 *
 * SHMTAB_CRASH_ROUNDS sets the rounds per variant (default 60).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmtab-hooks.h"
#include "format.h"
#include "shmtab.h"
#include "childtab.h"
#include "testutil.h"

#define NKEYS 64
#define SHMTAB_SLOTS_TEST 128 /* process slots of a table (doc/FORMAT.md) */
#define MAXDEPTH 512 /* deepest stack the verifier reports */
#define VMIN 16
#define VMAX 2000

struct crash_fixture {
	char *name;
	shmtab *t;
	pid_t pid[4];
	void *shared;
	size_t shared_len;
};

static int crash_setup(void **state)
{
	struct crash_fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->name = tu_posix_name("crash");
	if (!fx->name)
		return -1;
	*state = fx;
	return 0;
}

static int crash_teardown(void **state)
{
	struct crash_fixture *fx = *state;
	int i;

	for (i = 0; i < 4; i++) {
		if (fx->pid[i] > 0) {
			kill(fx->pid[i], SIGKILL);
			waitpid(fx->pid[i], NULL, 0);
		}
	}
	shmtab_close(fx->t);
	tu_remove(fx->name);
	free(fx->name);
	if (fx->shared)
		munmap(fx->shared, fx->shared_len);
	free(fx);
	return 0;
}

static void *shared_map(struct crash_fixture *fx, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	fx->shared = p;
	fx->shared_len = len;
	return p;
}

static shmtab *child_open(const char *name)
{
	shmtab *t = NULL;

	if (shmtab_open(name, O_RDWR, 0, NULL, &t) != 0)
		return NULL;
	return t;
}

/* ------------------------------------------------- killed lock holders */

struct holder_arg {
	const char *name;
	struct tu_barrier *post;
};

static int group_add_and_hang(shmtab *t, void *ctx)
{
	struct holder_arg *a = ctx;

	if (tu_put_str(t, "k", "v") != 0)
		return -1;
	tu_barrier_post(a->post);
	hang_forever();
	return 0;
}

static int child_group_holder(void *arg)
{
	struct holder_arg *a = arg;
	shmtab *t = child_open(a->name);

	if (!t)
		return 4;
	shmtab_group(t, group_add_and_hang, a);
	return 10; /* not reached */
}

static int group_find_and_hang(shmtab *t, void *ctx)
{
	struct holder_arg *a = ctx;

	if (tu_find_is(t, "k0", "v0") != 0)
		return -1;
	tu_barrier_post(a->post);
	hang_forever();
	return 0;
}

static int child_read_group_holder(void *arg)
{
	struct holder_arg *a = arg;
	shmtab *t = child_open(a->name);

	if (!t)
		return 4;
	shmtab_group(t, group_find_and_hang, a);
	return 10;
}

static int child_iter_holder(void *arg)
{
	struct holder_arg *a = arg;
	shmtab *t = child_open(a->name);

	if (!t)
		return 4;
	shmtab_iter(t, visit_and_hang, a->post);
	return 10;
}

struct after_res {
	int rc_open, rc_add, rc_find, rc_k;
	double elapsed;
};

struct after_arg {
	const char *name;
	struct after_res *res;
};

/* The next process: opens, adds and finds its own key, looks at "k". */
static int child_after(void *arg)
{
	struct after_arg *a = arg;
	double t0 = tu_now();
	shmtab *t = NULL;

	a->res->rc_open = shmtab_open(a->name, O_RDWR, 0, NULL, &t);
	if (a->res->rc_open != 0)
		return 4;
	a->res->rc_add = tu_put_str(t, "after", "1");
	a->res->rc_find = tu_find_is(t, "after", "1");
	a->res->elapsed = tu_now() - t0;
	a->res->rc_k = tu_find_is(t, "k", "v");
	shmtab_close(t);
	return 0;
}

static void run_killed_holder(struct crash_fixture *fx, int (*holder)(void *),
			      const char *what)
{
	struct tu_barrier b;
	struct holder_arg h = { .name = fx->name, .post = &b };
	struct after_res *res = shared_map(fx, sizeof(*res));
	struct after_arg a = { .name = fx->name, .res = res };
	struct shmtab_stat st;
	char k[16], v[16];
	double t0;
	int i;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	for (i = 0; i < 20; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		assert_int_equal(tu_put_str(fx->t, k, v), 0);
	}
	assert_int_equal(tu_barrier_init(&b), 0);
	fx->pid[0] = tu_fork(holder, &h);
	assert_true(fx->pid[0] > 0);
	if (tu_barrier_wait(&b, 10000) != 0)
		fail_msg("%s: the holder never got its lock", what);
	usleep(20000);
	kill(fx->pid[0], SIGKILL);
	ct_wait_killed(&fx->pid[0]);
	tu_barrier_destroy(&b);

	fx->pid[1] = tu_fork(child_after, &a);
	assert_true(fx->pid[1] > 0);
	ct_expect_ok(&fx->pid[1], 10, what);
	if (res->rc_open != 0 || res->rc_add != 0 || res->rc_find != 0)
		fail_msg("%s: next process: open %s, add %s, find %s", what,
			 shmtab_strerror(res->rc_open),
			 shmtab_strerror(res->rc_add),
			 shmtab_strerror(res->rc_find));
	if (res->elapsed > 2.0)
		fail_msg("%s: next process needed %.2f s", what, res->elapsed);
	/* T61: k is absent or v */
	if (res->rc_k != 0 && res->rc_k != -ENOENT)
		fail_msg("%s: k after the kill: %s", what,
			 shmtab_strerror(res->rc_k));

	/* the parent's handle, open all along, works too */
	t0 = tu_now();
	assert_int_equal(tu_put_str(fx->t, "parent", "p"), 0);
	assert_int_equal(tu_find_is(fx->t, "parent", "p"), 0);
	assert_int_equal(tu_find_is(fx->t, "k7", "v7"), 0);
	assert_true(tu_now() - t0 <= 2.0);
	assert_int_equal(shmtab_check(fx->t), 0);
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	printf("# %s: next process %.3f s, k %s, recoveries %llu\n", what,
	       res->elapsed, res->rc_k == 0 ? "present" : "absent",
	       (unsigned long long)st.recoveries);
}

/* T61 */
static void test_crash_killed_group_writer_recovered(void **state)
{
	run_killed_holder(*state, child_group_holder, "killed in group");
}

static void test_crash_killed_group_reader_recovered(void **state)
{
	run_killed_holder(*state, child_read_group_holder,
			  "killed in reading group");
}

static void test_crash_killed_iter_visitor_recovered(void **state)
{
	run_killed_holder(*state, child_iter_holder, "killed in iter");
}

/* ------------------------------------------- a wake-up lost to a kill */

#define H_MUTEX offsetof(struct shm_header, mutex)	/* the writer mutex */
#define FUTEX_WAITERS_BIT 0x80000000u

/* The writer mutex's first u32: glibc's futex word, the holder's thread
 * id with the waiters and owner-died bits. */
static uint32_t mutex_word(const char *name)
{
	uint64_t v = tu_object_word(name, H_MUTEX);
	uint32_t w;

	assert_true(v != UINT64_MAX);
	memcpy(&w, &v, sizeof(w));
	return w;
}

/* The start of /proc/PID/WHAT in buf, a string: 0, -1 when it cannot be
 * read. */
static int proc_read(pid_t pid, const char *what, char *buf, size_t cap)
{
	char path[64];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = 0;
	return 0;
}

/* Is pid in a futex() call: 1 or 0, -1 when /proc does not say. */
static int in_futex(pid_t pid)
{
	char buf[32];
	long nr;

	if (proc_read(pid, "syscall", buf, sizeof(buf)) < 0)
		return -1;
	if (strncmp(buf, "running", 7) == 0)
		return 0;
	if (sscanf(buf, "%ld", &nr) != 1)
		return -1;
#ifdef SYS_futex_time64
	if (nr == SYS_futex_time64)
		return 1;
#endif
	return nr == SYS_futex;
}

/*
 * A writer asleep on the writer mutex whose wake-up is lost: an unlock's
 * wake went to a waiter that was SIGKILLed before it took the free word,
 * and another process took the word meanwhile without the waiters bit, so
 * that its unlock woke nobody.  What that leaves, made here by hand: the
 * word 0 with the writer asleep on it, and no unlock to come.  The writer
 * must find the free lock by itself.  (It slept in pthread_mutex_lock for
 * good: a torture worker did not end, once, under load.)
 */
static void test_crash_mutex_wake_lost_to_a_kill(void **state)
{
	struct crash_fixture *fx = *state;
	struct shmtab_options opt = { .lock = SHMTAB_LOCK_MUTEX };
	struct tu_barrier b;
	struct holder_arg h = { .name = fx->name, .post = &b };
	struct after_res *res = shared_map(fx, sizeof(*res));
	struct after_arg a = { .name = fx->name, .res = res };
	uint32_t zero = 0;
	double t0, seen = 0;
	int asleep;

	assert_int_equal(tu_create(fx->name, &opt, &fx->t), 0);
	assert_int_equal(tu_barrier_init(&b), 0);
	fx->pid[0] = tu_fork(child_group_holder, &h);
	assert_true(fx->pid[0] > 0);
	if (tu_barrier_wait(&b, 10000) != 0)
		fail_msg("the holder never got its lock");
	tu_barrier_destroy(&b);

	/* a writer that waits for the lock, until it sleeps on the futex
	 * (without /proc's word on that, a while after it set the bit) */
	fx->pid[1] = tu_fork(child_after, &a);
	assert_true(fx->pid[1] > 0);
	t0 = tu_now();
	for (;;) {
		if (tu_now() - t0 > 10)
			fail_msg("the writer never slept on the mutex: "
				 "word %#x", mutex_word(fx->name));
		tu_sleep_ms(5);
		if (!(mutex_word(fx->name) & FUTEX_WAITERS_BIT))
			continue;
		if (!seen)
			seen = tu_now();
		asleep = in_futex(fx->pid[1]);
		if (asleep > 0 || (asleep < 0 && tu_now() - seen > 0.5))
			break;
	}

	/* the wake-up lost: the word free with the writer asleep, and the
	 * holder gone without a wake (its word no longer names it) */
	assert_int_equal(tu_object_write(fx->name, H_MUTEX, &zero,
					 sizeof(zero)), 0);
	kill(fx->pid[0], SIGKILL);
	ct_wait_killed(&fx->pid[0]);

	ct_expect_ok(&fx->pid[1], 10, "the writer whose wake-up was lost");
	if (res->rc_open != 0 || res->rc_add != 0 || res->rc_find != 0)
		fail_msg("the writer: open %s, add %s, find %s",
			 shmtab_strerror(res->rc_open),
			 shmtab_strerror(res->rc_add),
			 shmtab_strerror(res->rc_find));
	if (res->rc_k != 0 && res->rc_k != -ENOENT)
		fail_msg("k after the kill: %s", shmtab_strerror(res->rc_k));
	assert_int_equal(tu_put_str(fx->t, "parent", "p"), 0);
	assert_int_equal(tu_find_is(fx->t, "parent", "p"), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
}

/* ------------------------------------------------------ kill -9 rounds */

enum { OP_ADD, OP_REPLACE, OP_REMOVE };
enum { REC_READY = 1, REC_INTENT, REC_ACK };

struct rec {
	uint32_t type, op, key, pad;
	uint64_t seq;
};

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--) {
		h ^= *p++;
		h *= 16777619u;
	}
	return h;
}

static void put32(unsigned char *p, uint32_t x)
{
	p[0] = x, p[1] = x >> 8, p[2] = x >> 16, p[3] = x >> 24;
}

static uint32_t get32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* [len u32][fnv1a of the rest u32][seq u64][random] */
static size_t make_value(unsigned char *buf, uint64_t seq, unsigned int *rs)
{
	size_t len = VMIN + rand_r(rs) % (VMAX - VMIN + 1);

	tu_fill(buf + 8, len - 8, (uint32_t)seq ^ (uint32_t)(seq >> 32));
	memcpy(buf + 8, &seq, 8);
	put32(buf, (uint32_t)len);
	put32(buf + 4, fnv1a(buf + 8, len - 8));
	return len;
}

/* The value's seq, or UINT64_MAX when it is torn. */
static uint64_t value_seq(const unsigned char *v, size_t len)
{
	uint64_t seq;

	if (len < VMIN || len > VMAX || get32(v) != len ||
	    get32(v + 4) != fnv1a(v + 8, len - 8))
		return UINT64_MAX;
	memcpy(&seq, v + 8, 8);
	return seq;
}

struct writer_arg {
	const char *name;
	int fd;
	unsigned int seed;
	uint64_t seq;
	bool grouped;
	unsigned char buf[VMAX];
};

static void send_rec(int fd, uint32_t type, uint32_t op, uint32_t key,
		     uint64_t seq)
{
	struct rec r = { type, op, key, 0, seq };

	while (write(fd, &r, sizeof(r)) < 0 && errno == EINTR)
		;
}

static int writer_one(shmtab *t, struct writer_arg *a)
{
	unsigned int r = rand_r(&a->seed) % 100;
	uint32_t key = rand_r(&a->seed) % NKEYS;
	uint32_t op = r < 30 ? OP_ADD : r < 65 ? OP_REPLACE : OP_REMOVE;
	uint64_t seq = a->seq++;
	char k[16];
	size_t len = 0;
	int rc;

	snprintf(k, sizeof(k), "k%u", key);
	if (op != OP_REMOVE)
		len = make_value(a->buf, seq, &a->seed);
	send_rec(a->fd, REC_INTENT, op, key, seq);
	if (op == OP_ADD)
		rc = shmtab_add(t, k, strlen(k), a->buf, len);
	else if (op == OP_REPLACE)
		rc = shmtab_replace(t, k, strlen(k), a->buf, len);
	else
		rc = shmtab_remove(t, k, strlen(k));
	if (rc == 0)
		send_rec(a->fd, REC_ACK, op, key, seq);
	return rc;
}

static int writer_group(shmtab *t, void *ctx)
{
	struct writer_arg *a = ctx;
	int i, n = 1 + rand_r(&a->seed) % 5, rc;

	for (i = 0; i < n; i++) {
		rc = writer_one(t, a);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int child_writer(void *arg)
{
	struct writer_arg *a = arg;
	shmtab *t = child_open(a->name);
	int rc;

	if (!t)
		return 4;
	send_rec(a->fd, REC_READY, 0, 0, 0);
	for (;;) {
		if (a->grouped)
			rc = shmtab_group(t, writer_group, a);
		else
			rc = writer_one(t, a);
		if (rc != 0)
			return 10;
	}
}

/* What the verifier saw. */
struct verdict {
	int rc_open, rc_check, rc_check2, rc_probe;
	uint32_t torn;
	int overflow;
	uint32_t depth[NKEYS];
	uint64_t seq[NKEYS][MAXDEPTH]; /* newest first */
};

struct stack_ctx {
	struct verdict *v;
	int key;
};

static int collect_fn(const void *key, size_t klen, const void *val,
		      size_t vlen, void *ctx)
{
	struct stack_ctx *c = ctx;
	struct verdict *v = c->v;
	uint64_t seq = value_seq(val, vlen);

	(void)key, (void)klen;
	if (seq == UINT64_MAX)
		v->torn++;
	if (v->depth[c->key] == MAXDEPTH) {
		v->overflow = 1;
		return 1;
	}
	v->seq[c->key][v->depth[c->key]++] = seq;
	return 0;
}

struct verify_arg {
	const char *name;
	struct verdict *v;
};

/* The library's word on damage, for the round's report. */
static void verify_log(int level, const char *msg, void *ctx)
{
	static int lines;

	(void)ctx;
	if (lines++ < 3)
		fprintf(stderr, "#   verifier log %d: %s\n", level, msg);
}

static int child_verify(void *arg)
{
	struct verify_arg *a = arg;
	struct verdict *v = a->v;
	shmtab *t = NULL;
	struct stack_ctx c = { .v = v };
	char k[16];

	memset(v, 0, sizeof(*v));
	shmtab_set_log(verify_log, NULL);
	v->rc_open = shmtab_open(a->name, O_RDWR, 0, NULL, &t);
	if (v->rc_open != 0)
		return 0;
	v->rc_check = shmtab_check(t);
	for (c.key = 0; c.key < NKEYS; c.key++) {
		snprintf(k, sizeof(k), "k%d", c.key);
		if (shmtab_find_all(t, k, strlen(k), collect_fn, &c) < 0)
			v->rc_check = v->rc_check ? v->rc_check : -EIO;
	}
	/* one write of our own, undone, then check again */
	v->rc_probe = tu_put_str(t, "probe", "x");
	if (v->rc_probe == 0)
		v->rc_probe = shmtab_remove(t, "probe", 5);
	v->rc_check2 = shmtab_check(t);
	shmtab_close(t);
	return 0;
}

/* The parent's model: per key the stack of seqs, oldest first. */
struct model {
	uint64_t *s[NKEYS];
	size_t n[NKEYS], cap[NKEYS];
};

static void model_push(struct model *m, uint32_t k, uint64_t seq)
{
	if (m->n[k] == m->cap[k]) {
		m->cap[k] = m->cap[k] ? 2 * m->cap[k] : 16;
		m->s[k] = realloc(m->s[k], m->cap[k] * sizeof(uint64_t));
		assert_non_null(m->s[k]);
	}
	m->s[k][m->n[k]++] = seq;
}

static void model_apply(struct model *m, const struct rec *r)
{
	uint32_t k = r->key;

	if (r->op == OP_ADD || (r->op == OP_REPLACE && m->n[k] == 0))
		model_push(m, k, r->seq);
	else if (r->op == OP_REPLACE)
		m->s[k][m->n[k] - 1] = r->seq;
	else if (m->n[k] > 0)
		m->n[k]--;
}

/* Does the verifier's stack of key k equal the model's? */
static bool model_equal(const struct model *m, const struct verdict *v,
			uint32_t k)
{
	size_t i;

	if (v->depth[k] != m->n[k])
		return false;
	for (i = 0; i < m->n[k]; i++)
		if (v->seq[k][i] != m->s[k][m->n[k] - 1 - i])
			return false;
	return true;
}

static void model_set(struct model *m, const struct verdict *v, uint32_t k)
{
	uint32_t i;

	m->n[k] = 0;
	for (i = v->depth[k]; i-- > 0;)
		model_push(m, k, v->seq[k][i]);
}

static void model_free(struct model *m)
{
	int k;

	for (k = 0; k < NKEYS; k++)
		free(m->s[k]);
}

struct crash_count {
	int rounds, check, torn, lost, hangs, writer_errors;
};

static struct crash_count crash_total;

static int crash_rounds(void)
{
	const char *e = getenv("SHMTAB_CRASH_ROUNDS");
	int n = e ? atoi(e) : 0;

	return n > 0 ? n : 60;
}

/* Read records until EOF or until want_ready is met. */
static int read_recs(int fd, struct rec **recs, size_t *n, size_t *cap,
		     bool want_ready, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	char *buf;

	for (;;) {
		ssize_t r;

		if (*n == *cap) {
			*cap = *cap ? 2 * *cap : 4096;
			*recs = realloc(*recs, *cap * sizeof(struct rec));
			if (!*recs)
				return -ENOMEM;
		}
		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		buf = (char *)&(*recs)[*n];
		r = read(fd, buf + got, sizeof(struct rec) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		got += (size_t)r;
		if (got < sizeof(struct rec))
			continue;
		got = 0;
		if ((*recs)[(*n)++].type == REC_READY && want_ready)
			return 0;
	}
}

static void run_kill_rounds(struct crash_fixture *fx, bool grouped,
			    const char *label)
{
	struct verdict *v = shared_map(fx, sizeof(struct verdict));
	struct verify_arg va = { .name = fx->name, .v = v };
	struct crash_count cc = { 0 };
	struct model m = { 0 };
	struct rec *recs = NULL;
	size_t nrec, cap = 0, i;
	unsigned int seed = (unsigned int)time(NULL) ^ (unsigned)getpid();
	int round, rounds = crash_rounds();
	double start = tu_now();

	printf("# %s: seed %u, %d rounds\n", label, seed, rounds);
	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	shmtab_close(fx->t);
	fx->t = NULL;

	for (round = 0; round < rounds; round++) {
		struct writer_arg *wa = malloc(sizeof(*wa));
		const struct rec *pending = NULL;
		int p[2], rc, ms;
		uint32_t k;

		assert_non_null(wa);
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		(void)fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
		*wa = (struct writer_arg){ .name = fx->name,
					   .fd = p[1],
					   .seed = rand_r(&seed),
					   .seq = (uint64_t)(round + 1) << 32,
					   .grouped = grouped };
		fx->pid[0] = tu_fork(child_writer, wa);
		assert_true(fx->pid[0] > 0);
		close(p[1]);
		nrec = 0;
		rc = read_recs(p[0], &recs, &nrec, &cap, true, 10000);
		if (rc != 0 || nrec == 0 || recs[0].type != REC_READY)
			fail_msg("%s round %d: writer not ready (%d)", label,
				 round, tu_wait(fx->pid[0], 5));
		ms = 1 + rand_r(&seed) % 30;
		usleep(ms * 1000);
		kill(fx->pid[0], SIGKILL);
		rc = tu_wait(fx->pid[0], 10);
		fx->pid[0] = 0;
		if (rc != -SIGKILL) {
			cc.writer_errors++;
			printf("# %s round %d: writer ended with %d before "
			       "the kill\n",
			       label, round, rc);
		}
		rc = read_recs(p[0], &recs, &nrec, &cap, false, 10000);
		close(p[0]);
		free(wa);
		assert_int_equal(rc, 0);

		for (i = 1; i < nrec; i++) {
			if (recs[i].type == REC_INTENT) {
				pending = &recs[i];
			} else if (recs[i].type == REC_ACK) {
				assert_non_null(pending);
				assert_true(pending->seq == recs[i].seq);
				model_apply(&m, pending);
				pending = NULL;
			}
		}

		fx->pid[1] = tu_fork(child_verify, &va);
		assert_true(fx->pid[1] > 0);
		rc = tu_wait(fx->pid[1], 10);
		fx->pid[1] = 0;
		cc.rounds++;
		if (rc != 0) {
			cc.hangs++;
			cc.check++;
			printf("# %s round %d: verifier %s (%d)\n", label,
			       round, rc == TU_WAIT_TIMEOUT ? "hung" : "failed",
			       rc);
			continue;
		}
		if (v->rc_open != 0 || v->rc_check != 0 || v->rc_check2 != 0 ||
		    v->rc_probe != 0) {
			cc.check++;
			printf("# %s round %d (kill after %d ms, %zu ops): "
			       "open %d, check %d, write %d, check again %d\n",
			       label, round, ms, nrec / 2, v->rc_open,
			       v->rc_check, v->rc_probe, v->rc_check2);
			if (v->rc_open != 0)
				continue;
		}
		assert_false(v->overflow);
		cc.torn += v->torn;
		for (k = 0; k < NKEYS; k++) {
			if (model_equal(&m, v, k))
				continue;
			if (pending && pending->key == k) {
				model_apply(&m, pending);
				if (model_equal(&m, v, k))
					continue;
			}
			if (!v->torn) {
				cc.lost++;
				printf("# %s round %d: key k%u has %u "
				       "bindings, expected %zu%s\n",
				       label, round, k, v->depth[k], m.n[k],
				       pending && pending->key == k ?
					       " (or one op less)" :
					       "");
			}
			model_set(&m, v, k);
		}
	}
	free(recs);
	model_free(&m);

	assert_int_equal(shmtab_open(fx->name, O_RDWR, 0, NULL, &fx->t), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
	printf("# %s: crash: %d rounds, %d check failures, %d torn values, "
	       "%d lost writes (%.1f s, %lld bindings)\n",
	       label, cc.rounds, cc.check, cc.torn, cc.lost, tu_now() - start,
	       shmtab_length(fx->t));
	crash_total.rounds += cc.rounds;
	crash_total.check += cc.check;
	crash_total.torn += cc.torn;
	crash_total.lost += cc.lost;
	assert_int_equal(cc.writer_errors, 0);
	assert_int_equal(cc.check, 0);
	assert_int_equal(cc.torn, 0);
	assert_int_equal(cc.lost, 0);
}

static void test_crash_kill9_during_writes(void **state)
{
	run_kill_rounds(*state, false, "plain");
}

static void test_crash_kill9_inside_group(void **state)
{
	run_kill_rounds(*state, true, "group");
}

/* --- typed tables: a shrink and an atomic add killed half-way ------------ */

#define ARR_LEN 600
#define ARR_SHORT 10

struct arr_child {
	const char *name;
	volatile uint64_t *acked;	/* int_add: the adds that returned */
};

/* Fill the array, shrink it, grow it again, forever. */
static int child_array(void *arg)
{
	struct arr_child *a = arg;
	shmtab *t = child_open(a->name);

	if (!t)
		return 2;
	for (;;) {
		for (int64_t i = 0; i < ARR_LEN; i += 2)
			if (shmtab_int_set(t, SHMTAB_V_I64(i), i) != 0)
				return 3;
		if (shmtab_array_resize(t, ARR_SHORT) != 0 ||
		    shmtab_array_resize(t, ARR_LEN) != 0)
			return 4;
	}
}

static void test_crash_kill9_array_shrink(void **state)
{
	struct crash_fixture *fx = *state;
	struct shmtab_schema sc = { .kind = SHMTAB_KIND_ARRAY,
				    .value_type = "int64",
				    .dflt = SHMTAB_V_I64(-1) };
	struct arr_child a = { fx->name, NULL };
	unsigned int seed = 7;
	int rounds = crash_rounds() / 2 + 1, shrunk = 0, bad = 0;

	assert_int_equal(shmtab_open_typed(fx->name, O_RDWR | O_CREAT | O_EXCL,
					   0600, NULL, &sc, &fx->t), 0);
	assert_int_equal(shmtab_array_resize(fx->t, ARR_LEN), 0);
	for (int r = 0; r < rounds; r++) {
		long long len;

		fx->pid[0] = tu_fork(child_array, &a);
		assert_true(fx->pid[0] > 0);
		tu_sleep_ms(1 + (int)(rand_r(&seed) % 30));
		kill(fx->pid[0], SIGKILL);
		ct_wait_killed(&fx->pid[0]);
		assert_int_equal(shmtab_check(fx->t), 0);
		len = shmtab_array_length(fx->t);
		assert_true(len == ARR_LEN || len == ARR_SHORT);
		if (len != ARR_SHORT)
			continue;
		/* a shrink was published: growing must not bring back what
		 * it dropped, even when the killed process did not finish */
		shrunk++;
		assert_int_equal(shmtab_array_resize(fx->t, ARR_LEN), 0);
		for (int64_t i = ARR_SHORT; i < ARR_LEN; i++) {
			int64_t v = 0;

			assert_int_equal(shmtab_int_get(fx->t, SHMTAB_V_I64(i),
							&v), 0);
			bad += v != -1;
		}
		assert_int_equal(shmtab_check(fx->t), 0);
	}
	printf("# array: %d rounds, %d killed after a shrink, %d resurrected\n",
	       rounds, shrunk, bad);
	assert_int_equal(bad, 0);
}

static int child_adder(void *arg)
{
	struct arr_child *a = arg;
	shmtab *t = child_open(a->name);
	int64_t r;

	if (!t)
		return 2;
	for (;;) {
		if (shmtab_int_add(t, SHMTAB_V_STR("n"), 1, &r) != 0)
			return 3;
		__atomic_store_n(a->acked, (uint64_t)r, __ATOMIC_SEQ_CST);
	}
}

/* Every add is whole or absent: after a kill the counter is the last
 * acknowledged value or one more. */
static void test_crash_kill9_int_add(void **state)
{
	struct crash_fixture *fx = *state;
	struct shmtab_schema sc = { .key_type = "string",
				    .value_type = "int64" };
	struct arr_child a = { fx->name, shared_map(fx, 4096) };
	unsigned int seed = 11;
	int rounds = crash_rounds() / 2 + 1, inflight = 0;

	assert_int_equal(shmtab_open_typed(fx->name, O_RDWR | O_CREAT | O_EXCL,
					   0600, NULL, &sc, &fx->t), 0);
	for (int r = 0; r < rounds; r++) {
		int64_t v = -1;
		uint64_t acked;
		int err;

		fx->pid[0] = tu_fork(child_adder, &a);
		assert_true(fx->pid[0] > 0);
		tu_sleep_ms(1 + (int)(rand_r(&seed) % 30));
		kill(fx->pid[0], SIGKILL);
		ct_wait_killed(&fx->pid[0]);
		acked = __atomic_load_n(a.acked, __ATOMIC_SEQ_CST);
		assert_int_equal(shmtab_check(fx->t), 0);
		err = shmtab_int_get(fx->t, SHMTAB_V_STR("n"), &v);
		/* killed before its first add (a slow start under load):
		 * no key is the count 0 */
		if (err == -ENOENT && acked == 0) {
			v = 0;
			err = 0;
		}
		assert_int_equal(err, 0);
		assert_true((uint64_t)v == acked || (uint64_t)v == acked + 1);
		inflight += (uint64_t)v == acked + 1;
		*a.acked = (uint64_t)v;
	}
	printf("# int_add: %d rounds, %d with the add in flight kept\n",
	       rounds, inflight);
}

/* --- a replace in place killed half-way (lib/inplace.c) ------------------ */

static const char *die_point;

static void die_at(const char *point)
{
	if (die_point && strcmp(point, die_point) == 0)
		raise(SIGKILL);
}

#define INPLACE_OLD "old-value-of-k-000000000000000000000000000000000000000000"
#define INPLACE_NEW "new-value-of-k-111111111111111111111111111111111111111111"

struct inplace_kill {
	const char *name;
	bool grow;		/* grow the table past the others' mappings */
	const char *old, *new;	/* k's values before and after */
};

static int child_inplace_dies(void *arg)
{
	struct inplace_kill *a = arg;
	shmtab *t = child_open(a->name);
	char v[100];

	if (!t)
		return 4;
	for (int i = 0; a->grow && i < 30000; i++) {
		char k[16];

		snprintf(k, sizeof(k), "g%d", i);
		memset(v, 'g', sizeof(v));
		if (shmtab_add(t, k, strlen(k), v, sizeof(v)) != 0)
			return 7;
	}
	/* the first replace gives the table its redo chunk (a grown k gets
	 * a new record, at the end of the grown heap) */
	if (tu_put_str(t, "k", a->old) != 0)
		return 5;
	shmtab__set_fault(die_at);
	tu_put_str(t, "k", a->new);
	return 6;		/* not reached: killed at die_point */
}

/*
 * A process killed at each point of a replace in place: with another
 * process having the table open all along (its next call finishes the
 * replace), or with nobody (the next opener does).  Either way the key has
 * the new value, whole, the feed reports the change, and the table checks.
 */
static void run_inplace_kill_lock(struct crash_fixture *fx, const char *point,
				  bool stay_open, bool grow,
				  enum shmtab_lock lock)
{
	struct shmtab_options opt = { .lock = lock };
	struct inplace_kill a = {
		.name = fx->name, .grow = grow,
		.old = grow ? INPLACE_OLD INPLACE_OLD : INPLACE_OLD,
		.new = grow ? INPLACE_NEW INPLACE_NEW : INPLACE_NEW,
	};
	struct shmtab_stat st0, st;
	uint64_t since, hashes[SHMTAB_FEED_SIZE], hk;
	double t0;
	int n;

	assert_int_equal(tu_create(fx->name, &opt, &fx->t), 0);
	for (int i = 0; i < 50; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(tu_put_str(fx->t, k, "some value"), 0);
	}
	assert_int_equal(tu_put_str(fx->t, "k", INPLACE_OLD), 0);
	assert_int_equal(shmtab_stat(fx->t, &st0), 0);
	since = shmtab_counter(fx->t);
	hk = shmtab_key_hash(fx->t, "k", 1);
	if (!stay_open) {
		assert_int_equal(shmtab_close(fx->t), 0);
		fx->t = NULL;
	}
	die_point = point;
	fx->pid[0] = tu_fork(child_inplace_dies, &a);
	assert_true(fx->pid[0] > 0);
	ct_wait_killed(&fx->pid[0]);
	die_point = NULL;
	if (!stay_open)
		assert_int_equal(shmtab_open(fx->name, O_RDWR, 0, NULL,
					     &fx->t), 0);
	t0 = tu_now();
	/* an add takes the writer lock before it looks at the table's size:
	 * the claim's record may lie past this handle's mapping */
	if (grow)
		assert_int_equal(shmtab_add(fx->t, "z", 1, "added after", 11),
				 0);
	if (tu_find_is(fx->t, "k", a.new) != 0)
		fail_msg("%s: k is not the new value", point);
	if (tu_now() - t0 > 2.0)
		fail_msg("%s: the find took %.2f s", point, tu_now() - t0);
	assert_int_equal(shmtab_check(fx->t), 0);
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	if (stay_open)
		assert_true(st.recoveries > st0.recoveries);
	/* the change is in the feed: as k's hash, or as "all" (a grown
	 * table's feed has overflowed: that says "all" too) */
	n = shmtab_changes(fx->t, &since, hashes, SHMTAB_FEED_SIZE);
	if (grow && n == -EOVERFLOW)
		n = 0;
	else
		assert_true(n >= 1);
	for (int i = 0; i < n; i++)
		if (hashes[i] == hk || hashes[i] == 0)
			n = -1;
	if (n > 0)
		fail_msg("%s: the feed does not report k", point);
	/* and the table goes on: a replace in place, a bigger one, a find */
	assert_int_equal(tu_put_str(fx->t, "k", INPLACE_OLD), 0);
	assert_int_equal(tu_find_is(fx->t, "k", INPLACE_OLD), 0);
	assert_int_equal(tu_put_str(fx->t, "k", INPLACE_NEW INPLACE_NEW), 0);
	assert_int_equal(tu_find_is(fx->t, "k", INPLACE_NEW INPLACE_NEW), 0);
	assert_int_equal(tu_find_is(fx->t, "k7", "some value"), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
}

static void run_inplace_kill(struct crash_fixture *fx, const char *point,
			     bool stay_open, bool grow)
{
	run_inplace_kill_lock(fx, point, stay_open, grow, SHMTAB_LOCK_BEST);
}

static void test_crash_inplace_killed_after_redo(void **state)
{
	run_inplace_kill(*state, "inplace-redo", true, false);
}

static void test_crash_inplace_killed_half_written(void **state)
{
	run_inplace_kill(*state, "inplace-half", true, false);
}

static void test_crash_inplace_killed_before_release(void **state)
{
	run_inplace_kill(*state, "inplace-done", true, false);
}

static void test_crash_inplace_killed_next_opener_finishes(void **state)
{
	run_inplace_kill(*state, "inplace-half", false, false);
}

static void test_crash_inplace_killed_past_our_mapping(void **state)
{
	run_inplace_kill(*state, "inplace-half", true, true);
}

/* The same with fcntl record locks: the finisher takes the fcntl lock */
static void test_crash_inplace_killed_record_locks(void **state)
{
	run_inplace_kill_lock(*state, "inplace-half", true, false,
			      SHMTAB_LOCK_RECORD);
}

/* A reader killed inside an iteration, holding a read lock of every
 * stripe (pid[0], reaped); its pid. */
static pid_t reader_killed_in_iter(struct crash_fixture *fx)
{
	struct tu_barrier b;
	struct holder_arg h = { .name = fx->name, .post = &b };
	pid_t reader;

	assert_int_equal(tu_barrier_init(&b), 0);
	fx->pid[0] = reader = tu_fork(child_iter_holder, &h);
	assert_true(reader > 0);
	if (tu_barrier_wait(&b, 10000) != 0)
		fail_msg("the reader never got its lock");
	kill(reader, SIGKILL);
	ct_wait_killed(&fx->pid[0]);
	tu_barrier_destroy(&b);
	return reader;
}

/* Open fx's table in more[] until every slot but one is taken by this
 * process; how many handles that took. */
static int take_slots_but_one(struct crash_fixture *fx, shmtab **more)
{
	struct shmtab_stat st;
	int n = 0;

	for (;;) {
		assert_int_equal(shmtab_stat(fx->t, &st), 0);
		if (st.holders == SHMTAB_SLOTS_TEST - 1)
			return n;
		assert_true(n < SHMTAB_SLOTS_TEST);
		assert_int_equal(shmtab_open(fx->name, O_RDWR, 0, NULL,
					     &more[n]), 0);
		n++;
	}
}

/*
 * A dead reader's slot, cleared by a writer while a new handle looks for a
 * slot and finds none free: the new handle must not take the slot the
 * writer is clearing (the writer would wipe its pid; a later handle would
 * then share the slot, and closing one would free it under the other).
 */
static shmtab *stolen;
static const char *stolen_name;

static void open_while_clearing(const char *point)
{
	if (strcmp(point, "slot-clearing") == 0 && !stolen)
		shmtab_open(stolen_name, O_RDWR, 0, NULL, &stolen);
}

static void test_crash_dead_reader_slot_not_taken_while_cleared(void **state)
{
	struct crash_fixture *fx = *state;
	shmtab **more = calloc(SHMTAB_SLOTS_TEST, sizeof(*more));
	struct shmtab_stat st;
	shmtab *late = NULL;
	int n;

	assert_non_null(more);
	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	n = take_slots_but_one(fx, more);
	/* the last one: a reader, killed inside an iteration */
	reader_killed_in_iter(fx);

	/* a write meets the dead reader's lock and clears its slot; in that
	 * moment another handle opens */
	stolen_name = fx->name;
	shmtab__set_fault(open_while_clearing);
	assert_int_equal(tu_put_str(fx->t, "k", "w"), 0);
	shmtab__set_fault(NULL);
	assert_non_null(stolen);
	/* a later handle gets the freed slot, and keeps it when the one that
	 * opened during the clearing closes */
	assert_int_equal(shmtab_open(fx->name, O_RDWR, 0, NULL, &late), 0);
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	assert_int_equal(st.holders, SHMTAB_SLOTS_TEST);
	assert_int_equal(shmtab_close(stolen), 0);
	stolen = NULL;
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	assert_int_equal(st.holders, SHMTAB_SLOTS_TEST);
	assert_int_equal(tu_find_is(late, "k", "w"), 0);
	assert_int_equal(shmtab_close(late), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(shmtab_close(more[i]), 0);
	free(more);
	assert_int_equal(shmtab_check(fx->t), 0);
}

/*
 * A writer killed holding the writer lock, in the last free slot.  A new
 * read-write handle that finds no free slot leaves the dead writer's alone:
 * read-only handles judge the holder by that slot's lock, and with the
 * slot taken they would wait for a writer that is gone.
 */
static void test_crash_dead_writers_slot_left_to_recovery(void **state)
{
	struct crash_fixture *fx = *state;
	shmtab **more = calloc(SHMTAB_SLOTS_TEST, sizeof(*more));
	struct holder_arg h = { .name = fx->name };
	struct tu_barrier b;
	struct shmtab_stat st;
	shmtab *late = NULL, *ro = NULL;
	int n;

	assert_non_null(more);
	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v0"), 0);
	n = take_slots_but_one(fx, more);
	assert_int_equal(tu_barrier_init(&b), 0);
	h.post = &b;
	fx->pid[0] = tu_fork(child_group_holder, &h);
	assert_true(fx->pid[0] > 0);
	if (tu_barrier_wait(&b, 10000) != 0)
		fail_msg("the writer never got its lock");
	kill(fx->pid[0], SIGKILL);
	ct_wait_killed(&fx->pid[0]);
	tu_barrier_destroy(&b);

	assert_int_equal(shmtab_open(fx->name, O_RDWR, 0, NULL, &late), 0);
	assert_int_equal(shmtab_stat(late, &st), 0);
	assert_int_equal(st.holders, SHMTAB_SLOTS_TEST);
	assert_int_equal(st.dead_holders, 1);
	/* a read-only handle finds nobody alive to finish the step */
	assert_int_equal(shmtab_open(fx->name, O_RDONLY, 0, NULL, &ro), 0);
	assert_int_equal(tu_find_is(ro, "k", "v"), -EAGAIN);
	/* the next write recovers: the slot is free, the value readable */
	assert_int_equal(tu_put_str(late, "k2", "w"), 0);
	assert_int_equal(shmtab_stat(late, &st), 0);
	assert_int_equal(st.dead_holders, 0);
	assert_int_equal(st.holders, SHMTAB_SLOTS_TEST - 1);
	assert_int_equal(tu_find_is(ro, "k", "v"), 0);
	assert_int_equal(shmtab_close(ro), 0);
	assert_int_equal(shmtab_close(late), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(shmtab_close(more[i]), 0);
	free(more);
	assert_int_equal(shmtab_check(fx->t), 0);
}

static uint64_t rlocks_of(const char *name);
static uint64_t rlocks_seen;

static int count_rlocks(const void *key, size_t klen, const void *val,
			size_t vlen, void *ctx)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	rlocks_seen = rlocks_of(ctx);
	return 0;
}

/* hdr.rlocks, read from the object (doc/FORMAT.md) */
static uint64_t rlocks_of(const char *name)
{
	return tu_object_word(name, 232);
}

/*
 * A reader killed inside an iteration leaves its count of read-lock
 * holders (hdr.rlocks, which lets a replace in place skip the slots); the
 * writer that clears its slot takes the count back.
 */
static void test_crash_dead_reader_uncounted(void **state)
{
	struct crash_fixture *fx = *state;
	struct tu_barrier b;
	struct holder_arg h = { .name = fx->name, .post = &b };

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	assert_int_equal(rlocks_of(fx->name), 0);
	assert_int_equal(tu_barrier_init(&b), 0);
	fx->pid[0] = tu_fork(child_iter_holder, &h);
	assert_true(fx->pid[0] > 0);
	if (tu_barrier_wait(&b, 10000) != 0)
		fail_msg("the reader never got its lock");
	assert_int_equal(rlocks_of(fx->name), 1);
	kill(fx->pid[0], SIGKILL);
	ct_wait_killed(&fx->pid[0]);
	tu_barrier_destroy(&b);
	assert_int_equal(rlocks_of(fx->name), 1);
	/* a write waits for the dead reader's locks, finds it dead, clears */
	assert_int_equal(shmtab_add(fx->t, "k2", 2, "v2", 2), 0);
	assert_int_equal(rlocks_of(fx->name), 0);
	/* and this process's own read locks count and uncount */
	assert_int_equal(shmtab_iter(fx->t, count_rlocks, fx->name), 0);
	assert_int_equal(rlocks_seen, 1);
	assert_int_equal(rlocks_of(fx->name), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
}

/* A table's slots (doc/FORMAT.md): pid u32 first. */
#define SLOTS_OFF 7616
#define SLOT_SIZE 64

/* The slot of process pid, read from the object. */
static int slot_of(const char *name, uint32_t pid)
{
	for (int i = 0; i < SHMTAB_SLOTS_TEST; i++) {
		size_t off = SLOTS_OFF + (size_t)i * SLOT_SIZE;

		if ((uint32_t)tu_object_word(name, off) == pid)
			return i;
	}
	return -1;
}

static void slot_set(const char *name, int i, uint32_t pid)
{
	size_t off = SLOTS_OFF + (size_t)i * SLOT_SIZE;

	assert_int_equal(tu_object_write(name, off, &pid, sizeof(pid)), 0);
}

static int child_open_and_hang(void *arg)
{
	struct holder_arg *a = arg;
	shmtab *t = child_open(a->name);

	if (!t)
		return 4;
	tu_barrier_post(a->post);
	hang_forever();
	return 10;
}

static int child_add(void *arg)
{
	shmtab *t = child_open(arg);
	int rc;

	if (!t)
		return 4;
	rc = tu_put_str(t, "k", "after");
	shmtab_close(t);
	return rc != 0 ? 5 : 0;
}

/*
 * A reader killed inside an iteration, whose pid the system then gave to a
 * live process (pid_max is 32768 on many systems): its slot must still
 * count as dead (nobody holds its fcntl byte), else every writer of a
 * stripe it read-locked waits for as long as the new process lives.  The
 * reuse is made by writing the live process's pid into the dead slot.
 */
static void test_crash_dead_reader_pid_reused(void **state)
{
	struct crash_fixture *fx = *state;
	struct tu_barrier b;
	struct holder_arg h = { .name = fx->name, .post = &b };
	struct shmtab_stat st;
	int slot_r, slot_s;
	pid_t reader;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	reader = reader_killed_in_iter(fx);
	slot_r = slot_of(fx->name, (uint32_t)reader);
	assert_true(slot_r >= 0);

	/* a live process with the table open */
	assert_int_equal(tu_barrier_init(&b), 0);
	fx->pid[1] = tu_fork(child_open_and_hang, &h);
	assert_true(fx->pid[1] > 0);
	if (tu_barrier_wait(&b, 10000) != 0)
		fail_msg("the second process never opened the table");
	tu_barrier_destroy(&b);
	slot_s = slot_of(fx->name, (uint32_t)fx->pid[1]);
	assert_true(slot_s >= 0);

	/* the dead reader's slot now names the live process's pid */
	slot_set(fx->name, slot_r, (uint32_t)fx->pid[1]);
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	assert_int_equal(st.holders, 3);
	assert_int_equal(st.dead_holders, 1);

	/* a writer of the stripe the dead reader holds gets through */
	fx->pid[2] = tu_fork(child_add, fx->name);
	assert_true(fx->pid[2] > 0);
	ct_expect_ok(&fx->pid[2], 10,
		     "writer after a dead reader's pid reused");
	assert_int_equal(tu_find_is(fx->t, "k", "after"), 0);
	/* the dead slot is free, the live process's kept */
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	assert_int_equal(st.holders, 2);
	assert_int_equal(st.dead_holders, 0);
	assert_int_equal(slot_of(fx->name, (uint32_t)fx->pid[1]), slot_s);
	assert_int_equal(shmtab_check(fx->t), 0);
}

struct timens_share {
	pid_t reader;		/* the grandchild holding the read lock */
	int unsupported;	/* no time namespace here (not root, old kernel) */
};

struct timens_arg {
	struct holder_arg h;
	struct timens_share *sh;
};

/* A reader in a time namespace whose boot time is 1000 s ahead: /proc
 * shows it every start 1000 s later than other processes see them. */
static int child_timens_reader(void *arg)
{
	struct timens_arg *a = arg;
	static const char off[] = "boottime 1000 0";
	pid_t g;
	int fd;

	fd = unshare(CLONE_NEWTIME) == 0 ?
		     open("/proc/self/timens_offsets", O_WRONLY) : -1;
	if (fd < 0 || write(fd, off, strlen(off)) != (ssize_t)strlen(off)) {
		a->sh->unsupported = 1;
		tu_barrier_post(a->h.post);
		return 0;
	}
	close(fd);
	g = fork();
	if (g == 0) {
		a->sh->reader = getpid();
		_exit(child_iter_holder(&a->h));
	}
	waitpid(g, NULL, 0);
	return 0;
}

/*
 * A process in another time namespace, holding a read lock, is alive: the
 * start the table keeps of it is taken in its namespace's reckoning, and a
 * writer outside must not take the difference for a reused pid (it would
 * clear the reader's locks and write under it).
 */
static void test_crash_reader_in_other_time_namespace(void **state)
{
	struct crash_fixture *fx = *state;
	struct tu_barrier b;
	struct timens_share *sh = shared_map(fx, sizeof(*sh));
	struct timens_arg a = { { fx->name, &b }, sh };
	int st;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	assert_int_equal(tu_barrier_init(&b), 0);
	fx->pid[0] = tu_fork(child_timens_reader, &a);
	assert_true(fx->pid[0] > 0);
	if (tu_barrier_wait(&b, 10000) != 0)
		fail_msg("the reader never got its lock");
	tu_barrier_destroy(&b);
	if (sh->unsupported) {
		ct_expect_ok(&fx->pid[0], 10, "time namespace reader");
		skip();		/* unshare(CLONE_NEWTIME) needs root */
	}
	fx->pid[2] = sh->reader;	/* the teardown kills it on failure */
	/* a writer of k waits for the reader's lock... */
	fx->pid[1] = tu_fork(child_add, fx->name);
	assert_true(fx->pid[1] > 0);
	usleep(300000);
	assert_int_equal(waitpid(fx->pid[1], &st, WNOHANG), 0);
	/* ...until the reader is gone */
	assert_true(sh->reader > 0);
	kill(sh->reader, SIGKILL);
	fx->pid[2] = 0;
	ct_expect_ok(&fx->pid[1], 10, "writer after the reader");
	ct_expect_ok(&fx->pid[0], 10, "time namespace reader");
	assert_int_equal(tu_find_is(fx->t, "k", "after"), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
}

/* A slot's read-locked stripes (doc/FORMAT.md): stripes[4] u64 at 16. */
#define SLOT_STRIPES 16
#define RLOCKS_OFF 232
#define SLOT_HI_OFF 152

struct own_pid_res {
	int rc_open, rc_write;
	uint32_t me;
	uint64_t bits_open;	/* the slot's first stripe word, opened */
	uint64_t rlocks_open;
	uint32_t pid_write;	/* the slot's pid once we wrote */
	struct shmtab_stat st_open, st_write;
};

struct own_pid_arg {
	const char *name;
	int slot;		/* the one free slot */
	struct own_pid_res *res;
};

/*
 * A process that had our pid died holding read locks of every stripe in
 * the one free slot; then we open the table and write.
 */
static int child_own_pid_slot(void *arg)
{
	struct own_pid_arg *a = arg;
	struct own_pid_res *r = a->res;
	size_t off = SLOTS_OFF + (size_t)a->slot * SLOT_SIZE;
	uint32_t me = (uint32_t)getpid();
	uint64_t bits = UINT64_MAX, n = tu_object_word(a->name, RLOCKS_OFF) + 1;
	uint32_t hi = (uint32_t)a->slot + 1;
	shmtab *t = NULL;

	r->me = me;
	for (int w = 0; w < 4; w++)
		if (tu_object_write(a->name, off + SLOT_STRIPES + 8 * (size_t)w,
				    &bits, sizeof(bits)) != 0)
			return 3;
	/* as the dead process did: counted among the readers, and the slot
	 * among those in use (slot_hi), where writers look */
	if (tu_object_write(a->name, RLOCKS_OFF, &n, sizeof(n)) != 0 ||
	    ((uint32_t)tu_object_word(a->name, SLOT_HI_OFF) < hi &&
	     tu_object_write(a->name, SLOT_HI_OFF, &hi, sizeof(hi)) != 0) ||
	    tu_object_write(a->name, off, &me, sizeof(me)) != 0)
		return 3;
	r->rc_open = shmtab_open(a->name, O_RDWR, 0, NULL, &t);
	if (r->rc_open != 0)
		return 4;
	r->bits_open = tu_object_word(a->name, off + SLOT_STRIPES);
	r->rlocks_open = tu_object_word(a->name, RLOCKS_OFF);
	if (shmtab_stat(t, &r->st_open) != 0)
		return 5;
	r->rc_write = tu_put_str(t, "k", "after");
	r->pid_write = (uint32_t)tu_object_word(a->name, off);
	if (shmtab_stat(t, &r->st_write) != 0)
		return 5;
	shmtab_close(t);
	return 0;
}

/*
 * A dead process's slot that holds our own pid: we opened the table when
 * nothing else was free.  Nobody holds the slot's fcntl byte, so we take
 * it: its read locks wiped and uncounted, the slot ours (not dead), and a
 * writer (here the opener itself) does not clear it under us.
 */
static void test_crash_dead_slot_of_own_pid_taken(void **state)
{
	struct crash_fixture *fx = *state;
	shmtab **more = calloc(SHMTAB_SLOTS_TEST, sizeof(*more));
	struct own_pid_res *res = shared_map(fx, sizeof(*res));
	struct own_pid_arg a = { .name = fx->name, .res = res };
	uint64_t rlocks;
	int n;

	assert_non_null(more);
	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	n = take_slots_but_one(fx, more);
	rlocks = rlocks_of(fx->name);
	a.slot = slot_of(fx->name, 0);
	assert_true(a.slot >= 0);
	fx->pid[0] = tu_fork(child_own_pid_slot, &a);
	assert_true(fx->pid[0] > 0);
	ct_expect_ok(&fx->pid[0], 10, "opener of a dead slot with its pid");
	assert_int_equal(res->rc_open, 0);
	if (res->bits_open != 0 || res->rlocks_open != rlocks)
		fail_msg("the opener left the dead process's read locks "
			 "(bits %#llx, rlocks %llu, was %llu)",
			 (unsigned long long)res->bits_open,
			 (unsigned long long)res->rlocks_open,
			 (unsigned long long)rlocks);
	assert_int_equal(res->st_open.holders, SHMTAB_SLOTS_TEST);
	assert_int_equal(res->st_open.dead_holders, 0);
	/* the write went through, the slot still the opener's */
	assert_int_equal(res->rc_write, 0);
	assert_int_equal(res->pid_write, res->me);
	assert_int_equal(res->st_write.holders, SHMTAB_SLOTS_TEST);
	assert_int_equal(res->st_write.dead_holders, 0);
	assert_int_equal(tu_find_is(fx->t, "k", "after"), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(shmtab_close(more[i]), 0);
	free(more);
	assert_int_equal(shmtab_check(fx->t), 0);
}

struct main_exit_arg {
	struct holder_arg h;
	shmtab *t;
	int *release;		/* shared: set when the reader may end */
};

/* Holds a read lock of every stripe until released, then ends the whole
 * process in the middle of it, as a crash would. */
static int visit_until_released(const void *key, size_t klen, const void *val,
				size_t vlen, void *ctx)
{
	struct main_exit_arg *a = ctx;

	(void)key, (void)klen, (void)val, (void)vlen;
	tu_barrier_post(a->h.post);
	for (int i = 0; i < 30000; i++) {
		if (__atomic_load_n(a->release, __ATOMIC_ACQUIRE))
			_exit(0);
		usleep(1000);
	}
	_exit(11);
}

static void *reader_thread(void *arg)
{
	struct main_exit_arg *a = arg;

	shmtab_iter(a->t, visit_until_released, a);
	_exit(10);
}

/* Opens the table, leaves the iteration to a thread and ends its main
 * thread: /proc then shows it a zombie, with one thread still running. */
static int child_main_thread_exits(void *arg)
{
	struct main_exit_arg *a = arg;
	pthread_t th;

	a->t = child_open(a->h.name);
	if (!a->t)
		return 4;
	if (pthread_create(&th, NULL, reader_thread, a) != 0)
		return 5;
	pthread_exit(NULL);
}

/* State letter and num_threads (fields 3 and 20) of /proc/PID/stat. */
static int proc_state(pid_t pid, char *state, long *threads)
{
	char buf[512], *p;

	if (proc_read(pid, "stat", buf, sizeof(buf)) < 0)
		return -1;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2,
			 "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%*u %*u %*d %*d %*d %*d %ld",
			 state, threads) != 2)
		return -1;
	return 0;
}

/*
 * A process whose main thread has ended (pthread_exit) while another
 * thread holds a read lock: /proc shows it as a zombie, state Z, but with
 * a thread left it is alive, and a writer must wait for it.  Once its last
 * thread is gone too (its parent has not reaped it: still Z), it is dead:
 * the writer clears its slot and goes on.
 */
static void test_crash_reader_main_thread_exited(void **state)
{
	struct crash_fixture *fx = *state;
	struct tu_barrier b;
	int *release = shared_map(fx, sizeof(*release));
	struct main_exit_arg a = { { fx->name, &b }, NULL, release };
	struct shmtab_stat st;
	long threads = 0;
	char s = 0;
	int i, rc;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	assert_int_equal(tu_barrier_init(&b), 0);
	fx->pid[0] = tu_fork(child_main_thread_exits, &a);
	assert_true(fx->pid[0] > 0);
	if (tu_barrier_wait(&b, 10000) != 0)
		fail_msg("the reader never got its lock");
	tu_barrier_destroy(&b);
	for (i = 0; i < 5000; i++) {
		if (proc_state(fx->pid[0], &s, &threads) == 0 && s == 'Z')
			break;
		usleep(1000);
	}
	if (s != 'Z' || threads < 2)
		fail_msg("the reader shows state %c, %ld threads", s, threads);
	assert_true(slot_of(fx->name, (uint32_t)fx->pid[0]) >= 0);
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	assert_int_equal(st.dead_holders, 0);
	/* a writer of k waits for the reader's lock... */
	fx->pid[1] = tu_fork(child_add, fx->name);
	assert_true(fx->pid[1] > 0);
	usleep(300000);
	assert_int_equal(waitpid(fx->pid[1], &rc, WNOHANG), 0);
	assert_true(slot_of(fx->name, (uint32_t)fx->pid[0]) >= 0);
	/* ...until its last thread ends, still holding it */
	__atomic_store_n(release, 1, __ATOMIC_RELEASE);
	ct_expect_ok(&fx->pid[1], 10, "writer after the reader's last thread");
	assert_int_equal(slot_of(fx->name, (uint32_t)fx->pid[0]), -1);
	ct_expect_ok(&fx->pid[0], 10, "reader without its main thread");
	assert_int_equal(tu_find_is(fx->t, "k", "after"), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
}

/* A writer that dies while it clears a dead process's slot (the slot's
 * fcntl byte taken, nothing wiped yet). */
static void die_clearing(const char *point)
{
	if (strcmp(point, "slot-clearing") == 0)
		_exit(42);
}

static int child_add_dying_in_clear(void *arg)
{
	shmtab *t = child_open(arg);

	if (!t)
		return 4;
	shmtab__set_fault(die_clearing);
	tu_put_str(t, "k", "lost");
	return 5;
}

/*
 * A dead reader's slot, whose clearer dies in the middle: the clearer's
 * hold on the slot ends with it, and the next writer (after it rolled
 * back the dead writer's step) clears the slot again.  Nothing is lost
 * but the dead writer's value, the read lock is uncounted once.
 */
static void test_crash_clearer_dies_in_clear(void **state)
{
	struct crash_fixture *fx = *state;
	struct shmtab_stat st;
	int slot_r, rc;
	pid_t reader;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	reader = reader_killed_in_iter(fx);
	slot_r = slot_of(fx->name, (uint32_t)reader);
	assert_true(slot_r >= 0);
	assert_int_equal(rlocks_of(fx->name), 1);

	fx->pid[1] = tu_fork(child_add_dying_in_clear, fx->name);
	assert_true(fx->pid[1] > 0);
	rc = tu_wait(fx->pid[1], 10);
	fx->pid[1] = 0;
	assert_int_equal(rc, 42);
	/* the slot as the dead reader left it, counted once; the clearer's
	 * own slot dead too */
	assert_int_equal(slot_of(fx->name, (uint32_t)reader), slot_r);
	assert_int_equal(rlocks_of(fx->name), 1);
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	assert_int_equal(st.holders, 3);
	assert_int_equal(st.dead_holders, 2);

	assert_int_equal(tu_put_str(fx->t, "k", "after"), 0);
	assert_int_equal(slot_of(fx->name, (uint32_t)reader), -1);
	assert_int_equal(rlocks_of(fx->name), 0);
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	assert_int_equal(st.holders, 1);
	assert_int_equal(st.dead_holders, 0);
	assert_int_equal(tu_find_is(fx->t, "k", "after"), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, crash_setup, crash_teardown)
		T(test_crash_killed_group_writer_recovered),
		T(test_crash_killed_group_reader_recovered),
		T(test_crash_killed_iter_visitor_recovered),
		T(test_crash_mutex_wake_lost_to_a_kill),
		T(test_crash_kill9_during_writes),
		T(test_crash_kill9_inside_group),
		T(test_crash_kill9_array_shrink),
		T(test_crash_kill9_int_add),
		T(test_crash_inplace_killed_after_redo),
		T(test_crash_inplace_killed_half_written),
		T(test_crash_inplace_killed_before_release),
		T(test_crash_inplace_killed_next_opener_finishes),
		T(test_crash_inplace_killed_past_our_mapping),
		T(test_crash_inplace_killed_record_locks),
		T(test_crash_dead_reader_slot_not_taken_while_cleared),
		T(test_crash_dead_writers_slot_left_to_recovery),
		T(test_crash_dead_reader_uncounted),
		T(test_crash_dead_reader_pid_reused),
		T(test_crash_reader_in_other_time_namespace),
		T(test_crash_dead_slot_of_own_pid_taken),
		T(test_crash_reader_main_thread_exited),
		T(test_crash_clearer_dies_in_clear),
#undef T
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	printf("crash: %d rounds, %d check failures, %d torn values, "
	       "%d lost writes\n",
	       crash_total.rounds, crash_total.check, crash_total.torn,
	       crash_total.lost);
	return failed;
}
