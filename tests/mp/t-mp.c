/* SPDX-License-Identifier: MIT */
/*
 * t-mp.c - several processes on one table: growth, read-modify-write,
 * groups (nesting, isolation, release on failure), lock cycles (-EDEADLK).
 *
 * Every child opens its own handle after fork() and reports through its exit
 * code and a shared anonymous mapping; only the parent asserts.  Timings are
 * measured in the children with tu_now() and checked in the parent.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "format.h"
#include "shmtab.h"
#include "shmtab-hooks.h"
#include "testutil.h"

#define MAX_CHILD 8
#define WAIT_S 30 /* default tu_wait timeout */
#define BARRIER_MS 10000

/* What the children tell the parent. */
struct mp_shared {
	int rc[MAX_CHILD]; /* a call's result, per child */
	int rc2[MAX_CHILD];
	int rc3[MAX_CHILD];
	long n[MAX_CHILD]; /* counters (deadlocks, retries, ...) */
	double t[MAX_CHILD]; /* an elapsed time */
	double t2[MAX_CHILD];
	double at[MAX_CHILD]; /* a tu_now() stamp */
	char val[MAX_CHILD][32]; /* a value seen */
};

struct mp_fixture {
	char *name[2];
	shmtab *t[2];
	pid_t pid[MAX_CHILD];
	struct mp_shared *sh;
};

/* ---------------------------------------------------------------- helpers */

static int mp_setup(void **state)
{
	struct mp_fixture *fx = calloc(1, sizeof(*fx));
	void *p;

	if (!fx)
		return -1;
	p = mmap(NULL, sizeof(struct mp_shared), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		free(fx);
		return -1;
	}
	fx->sh = p;
	fx->name[0] = tu_posix_name("mp");
	fx->name[1] = tu_posix_name("mp2");
	if (!fx->name[0] || !fx->name[1])
		return -1;
	*state = fx;
	return 0;
}

static int mp_teardown(void **state)
{
	struct mp_fixture *fx = *state;
	int i;

	for (i = 0; i < MAX_CHILD; i++) {
		if (fx->pid[i] > 0) {
			kill(fx->pid[i], SIGKILL);
			waitpid(fx->pid[i], NULL, 0);
		}
	}
	for (i = 0; i < 2; i++) {
		shmtab_close(fx->t[i]);
		if (fx->name[i]) {
			tu_remove(fx->name[i]);
			free(fx->name[i]);
		}
	}
	munmap(fx->sh, sizeof(struct mp_shared));
	free(fx);
	return 0;
}

/* Create table i of the fixture, with an optional size hint. */
static shmtab *mk_table(struct mp_fixture *fx, int i, size_t init)
{
	struct shmtab_options opt = { .init = init };
	int rc;

	rc = shmtab_open(fx->name[i], O_RDWR | O_CREAT | O_EXCL, 0600,
			 init ? &opt : NULL, &fx->t[i]);
	if (rc != 0)
		fail_msg("create %s: %s", fx->name[i], shmtab_strerror(rc));
	return fx->t[i];
}

static void start_child(struct mp_fixture *fx, int i, int (*fn)(void *),
			void *arg)
{
	fx->pid[i] = tu_fork(fn, arg);
	if (fx->pid[i] <= 0)
		fail_msg("fork failed");
}

/* Wait for child i; return its tu_wait result (the child is reaped). */
static int wait_child(struct mp_fixture *fx, int i, int timeout_s)
{
	int rc = tu_wait(fx->pid[i], timeout_s);

	fx->pid[i] = 0;
	return rc;
}

static void expect_child_ok(struct mp_fixture *fx, int i, int timeout_s,
			    const char *what)
{
	int rc = wait_child(fx, i, timeout_s);

	if (rc == -1000)
		fail_msg("%s (child %d): hung, killed after %d s", what, i,
			 timeout_s);
	if (rc < 0)
		fail_msg("%s (child %d): killed by signal %d", what, i, -rc);
	if (rc != 0)
		fail_msg("%s (child %d): exit code %d", what, i, rc);
}

static shmtab *child_open(const char *name)
{
	shmtab *t = NULL;

	if (shmtab_open(name, O_RDWR, 0, NULL, &t) != 0)
		return NULL;
	return t;
}

static void copy_val(char *dst, size_t cap, const void *v, size_t vlen)
{
	if (vlen >= cap)
		vlen = cap - 1;
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
}

static int count_fn(const void *key, size_t klen, const void *val, size_t vlen,
		    void *ctx)
{
	(void)key, (void)klen, (void)val, (void)vlen;
	(*(long *)ctx)++;
	return 0;
}

static long count_bindings(shmtab *t)
{
	long n = 0;
	int rc = shmtab_iter(t, count_fn, &n);

	return rc == 0 ? n : rc;
}

static long count_all(shmtab *t, const char *k)
{
	long n = 0;
	int rc = shmtab_find_all(t, k, strlen(k), count_fn, &n);

	return rc == 0 ? n : rc;
}

static void short_sleep(unsigned int *seed, int max_us)
{
	usleep(50 + rand_r(seed) % max_us);
}

/* ------------------------------------------------------------- growth */

struct grow_arg {
	const char *name;
	unsigned int first, count; /* key numbers */
	size_t vlen; /* 0: small text values */
	char prefix;
	struct tu_barrier *start; /* NULL: go at once */
	struct mp_shared *sh; /* NULL, or where to report errors */
	int idx;
};

static void grow_key(char *buf, size_t cap, char prefix, unsigned int i)
{
	snprintf(buf, cap, "%c%07u", prefix, i);
}

static size_t grow_val(char *buf, size_t vlen, unsigned int i)
{
	if (vlen == 0)
		return (size_t)snprintf(buf, 32, "val-%07u", i);
	tu_fill(buf, vlen, i);
	return vlen;
}

static int child_grow(void *arg)
{
	struct grow_arg *a = arg;
	char key[32], *val;
	unsigned int i;
	shmtab *t;
	int rc;

	val = malloc(a->vlen + 32);
	if (!val)
		return 2;
	if (a->start && tu_barrier_wait(a->start, BARRIER_MS) != 0)
		return 3;
	rc = shmtab_open(a->name, O_RDWR, 0, NULL, &t);
	if (rc != 0) {
		if (a->sh)
			a->sh->rc[a->idx] = rc;
		return 4;
	}
	for (i = a->first; i < a->first + a->count; i++) {
		size_t vlen = grow_val(val, a->vlen, i);

		grow_key(key, sizeof(key), a->prefix, i);
		rc = shmtab_add(t, key, strlen(key), val, vlen);
		if (rc != 0) {
			if (a->sh) {
				a->sh->rc[a->idx] = rc;
				a->sh->n[a->idx] = i;
			}
			return 10;
		}
	}
	free(val);
	return shmtab_close(t) == 0 ? 0 : 5;
}

/* Check that key number i carries its value. */
static void expect_grow_key(shmtab *t, char prefix, unsigned int i, size_t vlen)
{
	char key[32], *want = malloc(vlen + 32);
	size_t wlen, got_len = 0;
	void *got = NULL;
	int rc;

	assert_non_null(want);
	wlen = grow_val(want, vlen, i);
	grow_key(key, sizeof(key), prefix, i);
	rc = shmtab_find(t, key, strlen(key), &got, &got_len);
	if (rc != 0)
		fail_msg("find %s: %s", key, shmtab_strerror(rc));
	assert_int_equal(got_len, wlen);
	assert_memory_equal(got, want, wlen);
	free(got);
	free(want);
}

static void test_mp_growth_seen_by_other_process(void **state)
{
	struct mp_fixture *fx = *state;
	struct grow_arg a = { .name = fx->name[0],
			      .count = 200000,
			      .prefix = 'g' };
	shmtab *t = mk_table(fx, 0, 0);

	assert_int_equal(tu_put_str(t, "a-first", "A"), 0);
	start_child(fx, 0, child_grow, &a);
	expect_child_ok(fx, 0, 120, "add 200000 keys");

	/* the parent's handle was open all along: no reopen */
	assert_int_equal(shmtab_length(t), 200001);
	expect_grow_key(t, 'g', 0, 0);
	expect_grow_key(t, 'g', 199999, 0);
	assert_int_equal(tu_find_is(t, "a-first", "A"), 0);
	assert_int_equal(count_bindings(t), 200001);
	assert_int_equal(shmtab_check(t), 0);
}

static int child_find_str(void *arg)
{
	char **kv = arg;
	shmtab *t = child_open(kv[0]);
	int rc;

	if (!t)
		return 4;
	rc = tu_find_is(t, kv[1], kv[2]);
	shmtab_close(t);
	return rc == 0 ? 0 : 10;
}

/* T52 */
static void test_mp_growth_large_values(void **state)
{
	struct mp_fixture *fx = *state;
	struct grow_arg a = {
		.name = fx->name[0], .count = 3000, .vlen = 400, .prefix = 'p'
	};
	char *kv[3] = { fx->name[0], "a-new", "from A" };
	struct shmtab_stat st0, st1;
	shmtab *t = mk_table(fx, 0, 0);

	assert_int_equal(tu_put_str(t, "a-first", "A"), 0);
	assert_int_equal(shmtab_stat(t, &st0), 0);
	start_child(fx, 0, child_grow, &a);
	expect_child_ok(fx, 0, WAIT_S, "add 3000 x 400 bytes");

	assert_int_equal(shmtab_length(t), 3001);
	expect_grow_key(t, 'p', 0, 400);
	expect_grow_key(t, 'p', 2999, 400);
	assert_int_equal(count_bindings(t), 3001);
	assert_int_equal(shmtab_stat(t, &st1), 0);
	assert_true(st1.size > st0.size);
	assert_int_equal(shmtab_check(t), 0);

	/* A adds; a fresh process sees it */
	assert_int_equal(tu_put_str(t, "a-new", "from A"), 0);
	start_child(fx, 1, child_find_str, kv);
	expect_child_ok(fx, 1, WAIT_S, "reopen and find A's key");
}

/* T53 */
static void test_mp_growth_concurrent(void **state)
{
	struct mp_fixture *fx = *state;
	struct grow_arg a[4];
	struct tu_barrier start;
	shmtab *t = mk_table(fx, 0, 10);
	unsigned int i;
	int c;

	assert_int_equal(tu_barrier_init(&start), 0);
	for (c = 0; c < 4; c++) {
		a[c] = (struct grow_arg){ .name = fx->name[0],
					  .first = c * 2000u,
					  .count = 2000,
					  .prefix = 'c',
					  .start = &start,
					  .sh = fx->sh,
					  .idx = c };
		start_child(fx, c, child_grow, &a[c]);
	}
	for (c = 0; c < 4; c++)
		tu_barrier_post(&start);
	for (c = 0; c < 4; c++) {
		int rc = wait_child(fx, c, WAIT_S);

		if (rc != 0)
			fail_msg("concurrent add, child %d: exit %d, %s at "
				 "key %ld",
				 c, rc, shmtab_strerror(fx->sh->rc[c]),
				 fx->sh->n[c]);
	}
	tu_barrier_destroy(&start);

	assert_int_equal(shmtab_check(t), 0);
	assert_int_equal(shmtab_length(t), 8000);
	for (i = 0; i < 8000; i++)
		expect_grow_key(t, 'c', i, 0);
	assert_int_equal(count_bindings(t), 8000);
}

/* ------------------------------------------------- read-modify-write */

struct ctr_arg {
	const char *name;
	int idx, rounds;
	bool grouped;
	unsigned int seed;
};

static int ctr_increment(shmtab *t, void *ctx)
{
	struct ctr_arg *a = ctx;
	char buf[32];
	void *v = NULL;
	size_t vlen = 0;
	long n;
	int rc;

	rc = shmtab_find(t, "ctr", 3, &v, &vlen);
	if (rc != 0)
		return rc;
	copy_val(buf, sizeof(buf), v, vlen);
	free(v);
	n = strtol(buf, NULL, 10);
	if (!a->grouped)
		short_sleep(&a->seed, 200); /* widen the race */
	snprintf(buf, sizeof(buf), "%ld", n + 1);
	return tu_put_str(t, "ctr", buf);
}

static int child_counter(void *arg)
{
	struct ctr_arg *a = arg;
	shmtab *t;
	int i, rc;

	a->seed = (unsigned int)getpid();
	t = child_open(a->name);
	if (!t)
		return 4;
	for (i = 0; i < a->rounds; i++) {
		if (!a->grouped) {
			rc = ctr_increment(t, a);
		} else {
			while ((rc = shmtab_group(t, ctr_increment, a)) ==
			       -EDEADLK)
				short_sleep(&a->seed, 2000);
		}
		if (rc != 0)
			return 10;
	}
	return shmtab_close(t) == 0 ? 0 : 5;
}

static void run_counter(struct mp_fixture *fx, bool grouped, int rounds,
			long *final)
{
	struct ctr_arg a[3];
	shmtab *t = mk_table(fx, 0, 0);
	char buf[32];
	void *v = NULL;
	size_t vlen = 0;
	int c;

	assert_int_equal(tu_put_str(t, "ctr", "0"), 0);
	for (c = 0; c < 3; c++) {
		a[c] = (struct ctr_arg){ .name = fx->name[0],
					 .idx = c,
					 .rounds = rounds,
					 .grouped = grouped };
		start_child(fx, c, child_counter, &a[c]);
	}
	for (c = 0; c < 3; c++)
		expect_child_ok(fx, c, 60, "counter");
	assert_int_equal(shmtab_check(t), 0);
	assert_int_equal(shmtab_length(t), 1);
	assert_int_equal(shmtab_find(t, "ctr", 3, &v, &vlen), 0);
	copy_val(buf, sizeof(buf), v, vlen);
	free(v);
	*final = strtol(buf, NULL, 10);
}

/* T49 */
static void test_mp_group_counter_exact(void **state)
{
	long final;

	run_counter(*state, true, 300, &final);
	assert_int_equal(final, 900);
}

/* T48 */
static void test_mp_ungrouped_counter_may_lose(void **state)
{
	long final;

	run_counter(*state, false, 100, &final);
	assert_in_range(final, 1, 300);
}

/* ------------------------------------------------------------- groups */

struct grp_arg {
	const char *name;
	int idx;
	struct tu_barrier *post, *wait;
	struct mp_shared *sh;
	shmtab *t;
};

static int nest_inner(shmtab *t, void *ctx)
{
	(void)ctx;
	return tu_put_str(t, "k", "A-value");
}

static int nest_outer(shmtab *t, void *ctx)
{
	struct grp_arg *a = ctx;
	int rc = shmtab_group(t, nest_inner, ctx);

	if (rc != 0)
		return rc;
	tu_barrier_post(a->post); /* the inner group has ended */
	usleep(500000);
	return 0;
}

static int child_nest_a(void *arg)
{
	struct grp_arg *a = arg;
	shmtab *t = child_open(a->name);
	int rc;

	if (!t)
		return 4;
	rc = shmtab_group(t, nest_outer, a);
	a->sh->at[a->idx] = tu_now();
	a->sh->rc[a->idx] = rc;
	shmtab_close(t);
	return rc == 0 ? 0 : 10;
}

static int child_timed_find(void *arg)
{
	struct grp_arg *a = arg;
	shmtab *t = child_open(a->name);
	void *v = NULL;
	size_t vlen = 0;
	double t0;
	int rc;

	if (!t)
		return 4;
	if (tu_barrier_wait(a->wait, BARRIER_MS) != 0)
		return 3;
	t0 = tu_now();
	rc = shmtab_find(t, "k", 1, &v, &vlen);
	a->sh->at[a->idx] = tu_now();
	a->sh->t[a->idx] = a->sh->at[a->idx] - t0;
	a->sh->rc[a->idx] = rc;
	if (rc == 0) {
		copy_val(a->sh->val[a->idx], sizeof(a->sh->val[0]), v, vlen);
		free(v);
	}
	shmtab_close(t);
	return 0;
}

/* T56 + T58: a nested group that wrote; the inner end releases nothing */
static void test_mp_group_nested_holds_until_outer_end(void **state)
{
	struct mp_fixture *fx = *state;
	struct tu_barrier b;
	struct grp_arg a = {
		.name = fx->name[0], .idx = 0, .post = &b, .sh = fx->sh
	};
	struct grp_arg r = {
		.name = fx->name[0], .idx = 1, .wait = &b, .sh = fx->sh
	};

	mk_table(fx, 0, 0);
	assert_int_equal(tu_barrier_init(&b), 0);
	start_child(fx, 0, child_nest_a, &a);
	start_child(fx, 1, child_timed_find, &r);
	expect_child_ok(fx, 0, WAIT_S, "nested group");
	expect_child_ok(fx, 1, WAIT_S, "find during the group");
	tu_barrier_destroy(&b);

	assert_int_equal(fx->sh->rc[0], 0);
	if (fx->sh->rc[1] != 0)
		fail_msg("B's find: %s", shmtab_strerror(fx->sh->rc[1]));
	assert_string_equal(fx->sh->val[1], "A-value");
	if (fx->sh->t[1] < 0.3)
		fail_msg("B's find returned after %.3f s, inside A's group",
			 fx->sh->t[1]);
	assert_true(fx->sh->at[1] >= fx->sh->at[0] - 0.05);
	assert_int_equal(shmtab_check(fx->t[0]), 0);
}

struct iter_ctx {
	struct tu_barrier *post;
	int calls;
};

static int slow_visitor(const void *key, size_t klen, const void *val,
			size_t vlen, void *ctx)
{
	struct iter_ctx *c = ctx;

	(void)key, (void)klen, (void)val, (void)vlen;
	if (c->calls++ == 0)
		tu_barrier_post(c->post);
	usleep(50000); /* 10 bindings: 0.5 s */
	return 0;
}

static int child_slow_iter(void *arg)
{
	struct grp_arg *a = arg;
	struct iter_ctx c = { .post = a->post };
	shmtab *t = child_open(a->name);
	int rc;

	if (!t)
		return 4;
	rc = shmtab_iter(t, slow_visitor, &c);
	a->sh->at[a->idx] = tu_now();
	a->sh->rc[a->idx] = rc;
	a->sh->n[a->idx] = c.calls;
	shmtab_close(t);
	return 0;
}

static int child_find_then_add(void *arg)
{
	struct grp_arg *a = arg;
	shmtab *t = child_open(a->name);
	double t0;
	int rc;

	if (!t)
		return 4;
	if (tu_barrier_wait(a->wait, BARRIER_MS) != 0)
		return 3;
	t0 = tu_now();
	rc = tu_find_is(t, "r5", "v5");
	a->sh->t[a->idx] = tu_now() - t0;
	a->sh->rc[a->idx] = rc;
	rc = tu_put_str(t, "new", "n");
	a->sh->at[a->idx] = tu_now();
	a->sh->t2[a->idx] = a->sh->at[a->idx] - t0;
	a->sh->rc2[a->idx] = rc;
	shmtab_close(t);
	return 0;
}

/* T54 */
static void test_mp_iter_blocks_writers_not_readers(void **state)
{
	struct mp_fixture *fx = *state;
	struct tu_barrier b;
	struct grp_arg a = {
		.name = fx->name[0], .idx = 0, .post = &b, .sh = fx->sh
	};
	struct grp_arg r = {
		.name = fx->name[0], .idx = 1, .wait = &b, .sh = fx->sh
	};
	shmtab *t = mk_table(fx, 0, 0);
	char k[16], v[16];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(k, sizeof(k), "r%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		assert_int_equal(tu_put_str(t, k, v), 0);
	}
	assert_int_equal(tu_barrier_init(&b), 0);
	start_child(fx, 0, child_slow_iter, &a);
	start_child(fx, 1, child_find_then_add, &r);
	expect_child_ok(fx, 0, WAIT_S, "slow iter");
	expect_child_ok(fx, 1, WAIT_S, "find and add during iter");
	tu_barrier_destroy(&b);

	assert_int_equal(fx->sh->rc[0], 0);
	assert_int_equal(fx->sh->n[0], 10);
	assert_int_equal(fx->sh->rc[1], 0);
	if (fx->sh->t[1] >= 0.25)
		fail_msg("find waited %.3f s for a reader", fx->sh->t[1]);
	assert_int_equal(fx->sh->rc2[1], 0);
	if (fx->sh->t2[1] < 0.3)
		fail_msg("add returned after %.3f s, during the iteration",
			 fx->sh->t2[1]);
	assert_true(fx->sh->at[1] >= fx->sh->at[0] - 0.05);
	assert_int_equal(shmtab_length(t), 11);
	assert_int_equal(shmtab_check(t), 0);
}

static int fail_after_add(shmtab *t, void *ctx)
{
	(void)ctx;
	if (tu_put_str(t, "k", "kept") != 0)
		return -2;
	return -1;
}

static int child_failing_group(void *arg)
{
	struct grp_arg *a = arg;
	shmtab *t = child_open(a->name);

	if (!t)
		return 4;
	a->sh->rc[a->idx] = shmtab_group(t, fail_after_add, NULL);
	tu_barrier_post(a->post);
	sleep(1);
	shmtab_close(t);
	return 0;
}

/* T59 */
static void test_mp_group_failing_releases_locks(void **state)
{
	struct mp_fixture *fx = *state;
	struct tu_barrier b;
	struct grp_arg a = {
		.name = fx->name[0], .idx = 0, .post = &b, .sh = fx->sh
	};
	struct grp_arg r = {
		.name = fx->name[0], .idx = 1, .wait = &b, .sh = fx->sh
	};

	mk_table(fx, 0, 0);
	assert_int_equal(tu_barrier_init(&b), 0);
	start_child(fx, 0, child_failing_group, &a);
	start_child(fx, 1, child_timed_find, &r);
	expect_child_ok(fx, 1, WAIT_S, "find after a failed group");
	expect_child_ok(fx, 0, WAIT_S, "failing group");
	tu_barrier_destroy(&b);

	assert_int_equal(fx->sh->rc[0], -1);
	if (fx->sh->rc[1] != 0)
		fail_msg("find: %s", shmtab_strerror(fx->sh->rc[1]));
	assert_string_equal(fx->sh->val[1], "kept");
	if (fx->sh->t[1] >= 0.25)
		fail_msg("find waited %.3f s after the failed group",
			 fx->sh->t[1]);
	assert_int_equal(shmtab_check(fx->t[0]), 0);
}

/* ---------------------------------------------------------- deadlocks */

struct cross_arg {
	const char *first, *second; /* table names, in lock order */
	const char *val;
	int idx;
	struct tu_barrier *post, *wait;
	struct mp_shared *sh;
	shmtab *t2;
	int attempt;
	double t0;
};

static int cross_inner(shmtab *t, void *ctx)
{
	struct cross_arg *a = ctx;

	return tu_put_str(t, "k", a->val);
}

static int cross_outer(shmtab *t, void *ctx)
{
	struct cross_arg *a = ctx;
	int rc = tu_put_str(t, "k", a->val);

	if (rc != 0)
		return rc;
	if (a->attempt == 0) {
		tu_barrier_post(a->post);
		if (tu_barrier_wait(a->wait, BARRIER_MS) != 0)
			return -ETIMEDOUT;
		a->t0 = tu_now();
	}
	return shmtab_group(a->t2, cross_inner, a);
}

static int child_cross(void *arg)
{
	struct cross_arg *a = arg;
	struct mp_shared *sh = a->sh;
	unsigned int seed = (unsigned int)getpid();
	shmtab *t1 = child_open(a->first);
	double start = tu_now();
	int rc;

	a->t2 = child_open(a->second);
	if (!t1 || !a->t2)
		return 4;
	sh->t[a->idx] = -1;
	for (a->attempt = 0;; a->attempt++) {
		rc = shmtab_group(t1, cross_outer, a);
		if (a->attempt == 0) {
			sh->rc[a->idx] = rc;
			sh->t[a->idx] = tu_now() - a->t0;
		}
		if (rc != -EDEADLK)
			break;
		sh->n[a->idx]++;
		if (tu_now() - start > 18)
			return 11; /* no progress: stop before the kill */
		short_sleep(&seed, 20000);
	}
	sh->rc2[a->idx] = rc;
	shmtab_close(a->t2);
	shmtab_close(t1);
	return rc == 0 ? 0 : 10;
}

static void expect_one_binding(shmtab *t, const char *k)
{
	assert_int_equal(shmtab_check(t), 0);
	assert_int_equal(count_all(t, k), 1);
}

static void test_mp_deadlock_two_tables_detected(void **state)
{
	struct mp_fixture *fx = *state;
	struct tu_barrier ab, ba;
	struct cross_arg a, b;
	struct mp_shared *sh = fx->sh;
	int i, rc, deadlocked = 0;

	assert_int_equal(tu_put_str(mk_table(fx, 0, 0), "k", "0"), 0);
	assert_int_equal(tu_put_str(mk_table(fx, 1, 0), "k", "0"), 0);
	assert_int_equal(tu_barrier_init(&ab), 0);
	assert_int_equal(tu_barrier_init(&ba), 0);
	a = (struct cross_arg){ .first = fx->name[0],
				.second = fx->name[1],
				.val = "A",
				.idx = 0,
				.post = &ab,
				.wait = &ba,
				.sh = sh };
	b = (struct cross_arg){ .first = fx->name[1],
				.second = fx->name[0],
				.val = "B",
				.idx = 1,
				.post = &ba,
				.wait = &ab,
				.sh = sh };
	start_child(fx, 0, child_cross, &a);
	start_child(fx, 1, child_cross, &b);
	for (i = 0; i < 2; i++) {
		rc = wait_child(fx, i, 20);
		if (rc == -1000)
			fail_msg("child %d hung in the lock cycle (first try "
				 "rc %d)",
				 i, sh->rc[i]);
		if (rc != 0)
			fail_msg("child %d: exit %d, first try %s, %ld "
				 "deadlocks, last %s",
				 i, rc, shmtab_strerror(sh->rc[i]), sh->n[i],
				 shmtab_strerror(sh->rc2[i]));
	}
	for (i = 0; i < 2; i++) {
		if (sh->rc[i] == -EDEADLK) {
			deadlocked++;
			if (sh->t[i] > 10)
				fail_msg("-EDEADLK after %.1f s", sh->t[i]);
		} else {
			assert_int_equal(sh->rc[i], 0);
		}
		assert_int_equal(sh->rc2[i], 0);
	}
	tu_barrier_destroy(&ab);
	tu_barrier_destroy(&ba);
	if (deadlocked == 0)
		fail_msg("the lock cycle was not reported");
	printf("# two-table cycle: first tries %d / %d, deadlocks %ld + %ld\n",
	       sh->rc[0], sh->rc[1], sh->n[0], sh->n[1]);
	expect_one_binding(fx->t[0], "k");
	expect_one_binding(fx->t[1], "k");
}

/*
 * A cycle through the log hook.  A's step on X takes X from a dead writer
 * and logs it with X's writer lock held; the hook writes Y, whose writer
 * lock B's group holds while it waits for X.  A holds X for a single step
 * of its own thread: its wait for Y must still count as a holder's, or
 * neither side ever gives up.
 */
struct hook_arg {
	const char *x, *y;
	struct tu_barrier *b_holds, *a_waits;
	struct mp_shared *sh;
	shmtab *ty;
	bool called;
};

static struct hook_arg *hook_a;

static void hook_writes_other(int level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
	if (!hook_a || hook_a->called)
		return;
	hook_a->called = true;
	tu_barrier_post(hook_a->a_waits);
	hook_a->sh->rc2[0] = tu_put_str(hook_a->ty, "k", "A");
}

static int child_die_in_group(shmtab *t, void *ctx)
{
	(void)ctx;
	if (tu_put_str(t, "d", "dead") == 0)
		_exit(0);
	return -EIO;
}

static int child_dead_writer(void *arg)
{
	shmtab *t = child_open(arg);

	if (!t)
		return 4;
	shmtab_group(t, child_die_in_group, NULL);
	return 10;
}

static int child_hook_writer(void *arg)
{
	struct hook_arg *a = arg;
	shmtab *tx = child_open(a->x);

	a->ty = child_open(a->y);
	if (!tx || !a->ty)
		return 4;
	if (tu_barrier_wait(a->b_holds, BARRIER_MS) != 0)
		return 5;
	hook_a = a;
	shmtab_set_log(hook_writes_other, NULL);
	a->sh->rc[0] = tu_put_str(tx, "a", "A");
	shmtab_set_log(NULL, NULL);
	a->sh->n[0] = a->called;
	return a->sh->rc[0] == 0 ? 0 : 10;
}

static int b_body(shmtab *ty, void *ctx)
{
	struct hook_arg *a = ctx;
	int rc = tu_put_str(ty, "k", "B");

	if (rc != 0)
		return rc;
	if (a->sh->n[1]++ == 0) {
		tu_barrier_post(a->b_holds);
		if (tu_barrier_wait(a->a_waits, BARRIER_MS) != 0)
			return -ETIMEDOUT;
	}
	return tu_put_str(a->ty, "b", "B");
}

static int child_group_writer(void *arg)
{
	struct hook_arg *a = arg;
	shmtab *ty = child_open(a->y);
	int rc;

	a->ty = child_open(a->x);
	if (!ty || !a->ty)
		return 4;
	while ((rc = shmtab_group(ty, b_body, a)) == -EDEADLK) {
		if (a->sh->rc[1] == 0)
			a->sh->rc[1] = rc;	/* the first try's */
		usleep(2000);
	}
	return rc == 0 ? 0 : 10;
}

static void test_mp_deadlock_through_log_hook(void **state)
{
	struct mp_fixture *fx = *state;
	struct tu_barrier bh, aw;
	struct hook_arg a;
	struct mp_shared *sh = fx->sh;

	assert_int_equal(tu_put_str(mk_table(fx, 0, 0), "k", "0"), 0);
	assert_int_equal(tu_put_str(mk_table(fx, 1, 0), "k", "0"), 0);
	start_child(fx, 2, child_dead_writer, fx->name[0]);
	expect_child_ok(fx, 2, WAIT_S, "writer that dies in a group");
	assert_int_equal(tu_barrier_init(&bh), 0);
	assert_int_equal(tu_barrier_init(&aw), 0);
	a = (struct hook_arg){ .x = fx->name[0],
			       .y = fx->name[1],
			       .b_holds = &bh,
			       .a_waits = &aw,
			       .sh = sh };
	start_child(fx, 0, child_hook_writer, &a);
	start_child(fx, 1, child_group_writer, &a);
	expect_child_ok(fx, 0, 20, "step whose log hook writes Y");
	expect_child_ok(fx, 1, 20, "group on Y that writes X");
	tu_barrier_destroy(&bh);
	tu_barrier_destroy(&aw);
	assert_int_equal(sh->n[0], 1);		/* the hook ran */
	if (sh->rc2[0] != -EDEADLK && sh->rc[1] != -EDEADLK)
		fail_msg("no side gave way (hook %d, group %d)", sh->rc2[0],
			 sh->rc[1]);
	printf("# cycle through the log hook: hook %s, group's first try %s\n",
	       shmtab_strerror(sh->rc2[0]), shmtab_strerror(sh->rc[1]));
	expect_one_binding(fx->t[0], "b");
	expect_one_binding(fx->t[1], "k");
	assert_int_equal(shmtab_check(fx->t[0]), 0);
}

/*
 * The log hook, called while a step on X holds X's writer lock (it took X
 * from a dead writer), calls the library on X itself: a write through
 * another handle would wait for this very thread and one through the
 * step's own handle would begin a step inside the step: both -EBUSY at
 * once; a read through the step's handle sees the table.
 */
static shmtab *hook_step_t, *hook_other_t;
static int hook_calls, hook_rc_other, hook_rc_self, hook_rc_read;

static void hook_writes_same(int level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
	if (hook_calls++)
		return;
	hook_rc_other = tu_put_str(hook_other_t, "h", "other");
	hook_rc_self = tu_put_str(hook_step_t, "h", "self");
	hook_rc_read = tu_find_is(hook_step_t, "k", "0");
}

static int child_hook_same_table(void *arg)
{
	struct mp_shared *sh = ((struct hook_arg *)arg)->sh;
	const char *name = ((struct hook_arg *)arg)->x;

	hook_step_t = child_open(name);
	hook_other_t = child_open(name);
	if (!hook_step_t || !hook_other_t)
		return 4;
	shmtab_set_log(hook_writes_same, NULL);
	sh->rc[0] = tu_put_str(hook_step_t, "a", "A");
	shmtab_set_log(NULL, NULL);
	sh->n[0] = hook_calls;
	sh->rc2[0] = hook_rc_other;
	sh->rc3[0] = hook_rc_self;
	sh->n[1] = hook_rc_read;
	/* and once the hook returned, both write again */
	sh->rc[1] = tu_put_str(hook_other_t, "h", "after");
	sh->rc2[1] = tu_put_str(hook_step_t, "h2", "after");
	return 0;
}

static void test_mp_log_hook_on_same_table_busy(void **state)
{
	struct mp_fixture *fx = *state;
	struct mp_shared *sh = fx->sh;
	struct hook_arg a = { .x = fx->name[0], .sh = sh };

	assert_int_equal(tu_put_str(mk_table(fx, 0, 0), "k", "0"), 0);
	start_child(fx, 2, child_dead_writer, fx->name[0]);
	expect_child_ok(fx, 2, WAIT_S, "writer that dies in a group");
	start_child(fx, 0, child_hook_same_table, &a);
	expect_child_ok(fx, 0, 20, "step whose log hook writes the same table");
	assert_int_equal(sh->n[0], 1);
	assert_int_equal(sh->rc[0], 0);
	assert_int_equal(sh->rc2[0], -EBUSY);
	assert_int_equal(sh->rc3[0], -EBUSY);
	assert_int_equal(sh->n[1], 0);
	assert_int_equal(sh->rc[1], 0);
	assert_int_equal(sh->rc2[1], 0);
	assert_int_equal(tu_find_is(fx->t[0], "a", "A"), 0);
	assert_int_equal(tu_find_is(fx->t[0], "h", "after"), 0);
	assert_int_equal(tu_find_is(fx->t[0], "h2", "after"), 0);
	assert_int_equal(shmtab_check(fx->t[0]), 0);
}

struct same_arg {
	const char *name;
	const char *val;
	int idx, delay_ms;
	struct tu_barrier *post, *wait; /* the meeting after find */
	struct tu_barrier *done, *go; /* NULL: exit at once */
	struct mp_shared *sh;
	bool meet;
};

static int same_body(shmtab *t, void *ctx)
{
	struct same_arg *a = ctx;
	int rc = tu_find_is(t, "k", "0");

	if (rc != 0 && rc != -EPROTO)
		return rc;
	if (a->meet) {
		tu_barrier_post(a->post);
		if (tu_barrier_wait(a->wait, BARRIER_MS) != 0)
			return -ETIMEDOUT;
		usleep(a->delay_ms * 1000);
	}
	rc = tu_put_str(t, "k", a->val);
	a->sh->rc2[a->idx] = rc;
	return rc;
}

static int child_same(void *arg)
{
	struct same_arg *a = arg;
	unsigned int seed = (unsigned int)getpid();
	shmtab *t = child_open(a->name);
	int rc, tries;

	if (!t)
		return 4;
	a->meet = true;
	rc = shmtab_group(t, same_body, a);
	a->sh->rc[a->idx] = rc;
	if (a->done) {
		/* stay alive, handle open, until the third process ran */
		tu_barrier_post(a->done);
		if (tu_barrier_wait(a->go, 20000) != 0)
			return 3;
		a->meet = false;
		a->sh->n[a->idx] = 0;
		if (rc == -EDEADLK) {
			for (tries = 0; tries < 100; tries++) {
				rc = shmtab_group(t, same_body, a);
				if (rc != -EDEADLK)
					break;
				a->sh->n[a->idx]++;
				short_sleep(&seed, 5000);
			}
		}
		a->sh->rc3[a->idx] = rc; /* the rerun's result */
	}
	shmtab_close(t);
	return 0;
}

/* T50 with A first and B 0.2 s later; returns the winner's index or -1. */
static int run_same_table_cycle(struct mp_fixture *fx, struct same_arg *a,
				struct tu_barrier *done, struct tu_barrier *go)
{
	struct tu_barrier ab, ba;
	struct mp_shared *sh = fx->sh;
	shmtab *t = mk_table(fx, 0, 0);
	int i, rc, dl = 0, winner = -1;

	assert_int_equal(tu_put_str(t, "k", "0"), 0);
	assert_int_equal(tu_barrier_init(&ab), 0);
	assert_int_equal(tu_barrier_init(&ba), 0);
	a[0] = (struct same_arg){ .name = fx->name[0],
				  .val = "A",
				  .idx = 0,
				  .post = &ab,
				  .wait = &ba,
				  .done = done,
				  .go = go,
				  .sh = sh };
	a[1] = (struct same_arg){ .name = fx->name[0],
				  .val = "B",
				  .idx = 1,
				  .delay_ms = 200,
				  .post = &ba,
				  .wait = &ab,
				  .done = done,
				  .go = go,
				  .sh = sh };
	start_child(fx, 0, child_same, &a[0]);
	start_child(fx, 1, child_same, &a[1]);
	tu_barrier_destroy(&ab); /* the children have their copies */
	tu_barrier_destroy(&ba);
	if (done) {
		for (i = 0; i < 2; i++)
			if (tu_barrier_wait(done, 20000) != 0)
				fail_msg("the groups did not end within 20 s "
					 "(rc %d / %d)",
					 sh->rc[0], sh->rc[1]);
	} else {
		for (i = 0; i < 2; i++) {
			rc = wait_child(fx, i, 20);
			if (rc == -1000)
				fail_msg("child %d hung in the lock cycle", i);
			assert_int_equal(rc, 0);
		}
	}
	for (i = 0; i < 2; i++) {
		if (sh->rc[i] == -EDEADLK)
			dl++;
		else if (sh->rc[i] == 0)
			winner = i;
		else
			fail_msg("child %d: group returned %s", i,
				 shmtab_strerror(sh->rc[i]));
	}
	if (dl == 0)
		fail_msg("no side got -EDEADLK (replace results %d / %d)",
			 sh->rc2[0], sh->rc2[1]);
	assert_int_equal(count_all(t, "k"), 1);
	assert_int_equal(tu_find_is(t, "k", winner < 0 ? "0" : a[winner].val),
			 0);
	return winner;
}

/* T50 */
static void test_mp_deadlock_same_table_one_loses(void **state)
{
	struct same_arg a[2];

	run_same_table_cycle(*state, a, NULL, NULL);
	assert_int_equal(shmtab_check(((struct mp_fixture *)*state)->t[0]), 0);
}

struct third_arg {
	const char *name;
	struct mp_shared *sh;
};

static int child_third(void *arg)
{
	struct third_arg *a = arg;
	double t0 = tu_now();
	shmtab *t = child_open(a->name);
	int rc;

	if (!t)
		return 4;
	rc = tu_put_str(t, "third", "C");
	if (rc == 0)
		rc = tu_find_is(t, "third", "C");
	a->sh->rc[2] = rc;
	a->sh->t[2] = tu_now() - t0;
	shmtab_close(t);
	return 0;
}

/* T51 */
static void test_mp_deadlock_leaves_no_locks(void **state)
{
	struct mp_fixture *fx = *state;
	struct mp_shared *sh = fx->sh;
	struct tu_barrier done, go;
	struct third_arg c = { .name = fx->name[0], .sh = sh };
	struct same_arg a[2];
	int i;

	assert_int_equal(tu_barrier_init(&done), 0);
	assert_int_equal(tu_barrier_init(&go), 0);
	run_same_table_cycle(fx, a, &done, &go);

	/* both A and B are alive with their handles open */
	start_child(fx, 2, child_third, &c);
	expect_child_ok(fx, 2, WAIT_S, "third process");
	if (sh->rc[2] != 0)
		fail_msg("third process: %s", shmtab_strerror(sh->rc[2]));
	if (sh->t[2] >= 0.25)
		fail_msg("third process needed %.3f s", sh->t[2]);

	tu_barrier_post(&go);
	tu_barrier_post(&go);
	for (i = 0; i < 2; i++)
		expect_child_ok(fx, i, WAIT_S, "after the cycle");
	tu_barrier_destroy(&done);
	tu_barrier_destroy(&go);
	for (i = 0; i < 2; i++) {
		if (sh->rc[i] == -EDEADLK && sh->rc3[i] != 0)
			fail_msg("the loser's rerun returned %s",
				 shmtab_strerror(sh->rc3[i]));
	}
	assert_int_equal(count_all(fx->t[0], "k"), 1);
	assert_int_equal(shmtab_check(fx->t[0]), 0);
}

/* ----------------------------------- a holder that died while waiting */

#define H_WLOCK_WAIT offsetof(struct shm_header, wlock_wait)

struct stale_arg {
	const char *x, *y;		/* the two tables */
	const char *table;		/* the child's group is on it, */
	int (*body)(shmtab *t, void *ctx);	/* running this */
	struct tu_barrier ready, go;	/* "holds its table" / "go on" */
	int idx;
	struct mp_shared *sh;
};

static int child_stale(void *arg)
{
	struct stale_arg *a = arg;
	shmtab *t = child_open(a->table);

	return t ? -shmtab_group(t, a->body, a) : 4;
}

static int write_y(shmtab *t, void *ctx)
{
	(void)ctx;
	return tu_put_str(t, "k", "a");	/* waits for B's Y, for ever */
}

/* A: X held in a group, then a wait for Y (B holds it). */
static int stale_a_body(shmtab *t, void *ctx)
{
	struct stale_arg *a = ctx;
	shmtab *y = child_open(a->y);
	int rc = tu_put_str(t, "k", "a");

	if (rc != 0 || !y)
		return rc ? rc : -ENOMEM;
	return shmtab_group(y, write_y, NULL);
}

/* B: Y held in a group until told, then a write of X (C holds it). */
static int stale_b_body(shmtab *t, void *ctx)
{
	struct stale_arg *a = ctx;
	shmtab *x = child_open(a->x);
	int rc = tu_put_str(t, "k", "b");

	if (rc != 0 || !x)
		return rc ? rc : -ENOMEM;
	tu_barrier_post(&a->ready);
	if (tu_barrier_wait(&a->go, BARRIER_MS) != 0)
		return -ETIMEDOUT;
	a->sh->rc[a->idx] = tu_put_str(x, "k", "b");
	shmtab_close(x);
	return 0;
}

/* C: X, taken from the dead A, held 300 ms. */
static int stale_c_body(shmtab *t, void *ctx)
{
	struct stale_arg *a = ctx;
	int rc = tu_put_str(t, "k", "c");

	tu_barrier_post(&a->ready);
	tu_sleep_ms(300);
	return rc;
}

/*
 * A process that took the writer lock from a holder that died while it
 * waited (for another table: its wait was noted for the cycle check) is
 * not waiting: a process that holds the other table and waits for it
 * must wait, not give way with -EDEADLK as if there were a cycle.
 */
static void test_mp_dead_waiter_leaves_no_cycle(void **state)
{
	struct mp_fixture *fx = *state;
	struct mp_shared *sh = fx->sh;
	struct stale_arg b = { .x = fx->name[0], .y = fx->name[1],
			       .table = fx->name[1], .body = stale_b_body,
			       .idx = 1, .sh = sh };
	struct stale_arg a = b, c = b;
	double t0;

	mk_table(fx, 0, 0);
	mk_table(fx, 1, 0);
	assert_int_equal(tu_barrier_init(&b.ready), 0);
	assert_int_equal(tu_barrier_init(&b.go), 0);
	assert_int_equal(tu_barrier_init(&c.ready), 0);
	a.table = c.table = fx->name[0];
	a.body = stale_a_body;
	c.body = stale_c_body;
	sh->rc[1] = 1;
	start_child(fx, 1, child_stale, &b);
	assert_int_equal(tu_barrier_wait(&b.ready, BARRIER_MS), 0);
	start_child(fx, 0, child_stale, &a);
	/* A holds X and waits for Y: its wait is noted in X's header */
	t0 = tu_now();
	while (!tu_object_word(fx->name[0], H_WLOCK_WAIT)) {
		if (tu_now() - t0 > 10)
			fail_msg("A never waited for Y");
		tu_sleep_ms(1);
	}
	kill(fx->pid[0], SIGKILL);
	assert_int_equal(wait_child(fx, 0, WAIT_S), -SIGKILL);
	start_child(fx, 2, child_stale, &c);
	assert_int_equal(tu_barrier_wait(&c.ready, BARRIER_MS), 0);
	/* C holds X and waits for nothing: B waits for it */
	tu_barrier_post(&b.go);
	expect_child_ok(fx, 2, WAIT_S, "C");
	expect_child_ok(fx, 1, WAIT_S, "B");
	if (sh->rc[1] != 0)
		fail_msg("B's write of X: %s", shmtab_strerror(sh->rc[1]));
	tu_barrier_destroy(&b.ready);
	tu_barrier_destroy(&b.go);
	tu_barrier_destroy(&c.ready);
	assert_int_equal(shmtab_check(fx->t[0]), 0);
}

/* --------------------------------------------------- a stuck first opener */

struct stuck_arg {
	const char *name;
	struct tu_barrier ready;
};

/* Hold the open byte as a first opener does while it formats, forever. */
static int stuck_opener_child(void *arg)
{
	struct stuck_arg *a = arg;
	char *path = tu_object_path(a->name);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = 1 };
	int fd = path ? open(path, O_RDWR) : -1;

	if (fd < 0 || fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return 30;
	tu_barrier_post(&a->ready);
	for (;;)
		pause();
}

static int always(void *ctx)
{
	(void)ctx;
	return 1;
}

/*
 * A first opener that stops while it holds the table's open lock (a
 * debugger, SIGSTOP) must not hang every other open: shmtab_open gives up
 * with -EAGAIN, at once with -EINTR when the interrupt hook asks, and
 * succeeds once the holder is gone.
 */
static void test_mp_stuck_first_opener_bounded(void **state)
{
	struct mp_fixture *fx = *state;
	struct stuck_arg a = { .name = fx->name[0] };
	shmtab *t = NULL;

	assert_int_equal(tu_create(fx->name[0], NULL, &fx->t[0]), 0);
	assert_int_equal(shmtab_close(fx->t[0]), 0);
	fx->t[0] = NULL;
	assert_int_equal(tu_barrier_init(&a.ready), 0);
	fx->pid[0] = tu_fork(stuck_opener_child, &a);
	assert_true(fx->pid[0] > 0);
	assert_int_equal(tu_barrier_wait(&a.ready, BARRIER_MS), 0);

	assert_int_equal(shmtab_open(fx->name[0], O_RDWR, 0, NULL, &t),
			 -EAGAIN);
	assert_int_equal(shmtab_open(fx->name[0], O_RDONLY, 0, NULL, &t),
			 -EAGAIN);
	shmtab__set_interrupt(always, NULL);
	assert_int_equal(shmtab_open(fx->name[0], O_RDWR, 0, NULL, &t),
			 -EINTR);
	shmtab__set_interrupt(NULL, NULL);

	kill(fx->pid[0], SIGKILL);
	assert_int_equal(tu_wait(fx->pid[0], WAIT_S), -SIGKILL);
	fx->pid[0] = 0;
	assert_int_equal(shmtab_open(fx->name[0], O_RDWR, 0, NULL, &fx->t[0]),
			 0);
	assert_int_equal(shmtab_check(fx->t[0]), 0);
	tu_barrier_destroy(&a.ready);
}

/* ------------------------------------------------- replaces in place */

/*
 * A replace whose value fits where the old one lies writes it in place
 * without the writer lock (lib/inplace.c).  It must still wait for a group
 * that read-locks its stripe or holds the writer lock: the group's two
 * reads of the key see one value, and no replace returns in between.
 */
struct inplace_arg {
	const char *name;
	struct mp_shared *sh;
};

static int child_replacer(void *arg)
{
	struct inplace_arg *a = arg;
	shmtab *t = child_open(a->name);
	char v[16];

	if (!t)
		return 4;
	while (!__atomic_load_n(&a->sh->n[1], __ATOMIC_ACQUIRE)) {
		long n = __atomic_load_n(&a->sh->n[0], __ATOMIC_RELAXED);
		int rc;

		snprintf(v, sizeof(v), "g%07ld", (n + 1) % 10000000);
		rc = shmtab_replace(t, "g", 1, v, strlen(v));
		if (rc != 0) {
			a->sh->rc[0] = rc;
			break;
		}
		__atomic_store_n(&a->sh->n[0], n + 1, __ATOMIC_RELEASE);
	}
	shmtab_close(t);
	return 0;
}

/* Wait until the replacer's count reaches at least want; false after 5 s. */
static bool replaces_reach(struct mp_shared *sh, long want)
{
	double t0 = tu_now();

	while (__atomic_load_n(&sh->n[0], __ATOMIC_ACQUIRE) < want) {
		if (tu_now() - t0 > 5 || sh->rc[0])
			return false;
		usleep(1000);
	}
	return true;
}

struct grp_window {
	struct mp_shared *sh;
	bool write;		/* take the writer lock first */
	char a[32], b[32];
	long n0, n1;
};

static int read_twice(shmtab *t, void *ctx)
{
	struct grp_window *w = ctx;
	void *v = NULL;
	size_t vlen = 0;
	int rc;

	if (w->write && (rc = tu_put_str(t, "other", "x")) != 0)
		return rc;
	rc = shmtab_find(t, "g", 1, &v, &vlen);
	if (rc != 0)
		return rc;
	copy_val(w->a, sizeof(w->a), v, vlen);
	free(v);
	w->n0 = __atomic_load_n(&w->sh->n[0], __ATOMIC_ACQUIRE);
	usleep(200000);
	w->n1 = __atomic_load_n(&w->sh->n[0], __ATOMIC_ACQUIRE);
	rc = shmtab_find(t, "g", 1, &v, &vlen);
	if (rc != 0)
		return rc;
	copy_val(w->b, sizeof(w->b), v, vlen);
	free(v);
	return 0;
}

static void run_inplace_group(struct mp_fixture *fx, bool write)
{
	struct inplace_arg a = { .name = fx->name[0], .sh = fx->sh };
	struct grp_window w = { .sh = fx->sh, .write = write };
	shmtab *t = mk_table(fx, 0, 0);
	long after;

	assert_int_equal(tu_put_str(t, "g", "g0000000"), 0);
	start_child(fx, 0, child_replacer, &a);
	if (!replaces_reach(fx->sh, 1000))
		fail_msg("the replacer did not start: %d", fx->sh->rc[0]);
	assert_int_equal(shmtab_group(t, read_twice, &w), 0);
	after = __atomic_load_n(&fx->sh->n[0], __ATOMIC_ACQUIRE);
	/* it goes on once the group is over */
	if (!replaces_reach(fx->sh, after + 1000))
		fail_msg("replaces did not resume after the group: %d",
			 fx->sh->rc[0]);
	__atomic_store_n(&fx->sh->n[1], 1, __ATOMIC_RELEASE);
	expect_child_ok(fx, 0, WAIT_S, "replacer");
	assert_int_equal(fx->sh->rc[0], 0);
	assert_string_equal(w.a, w.b);
	/* one replace may have been counted after it returned */
	if (w.n1 - w.n0 > 1)
		fail_msg("%ld replaces returned inside the group",
			 w.n1 - w.n0);
	assert_int_equal(shmtab_check(t), 0);
}

static void test_mp_inplace_waits_for_group_reader(void **state)
{
	run_inplace_group(*state, false);
}

static void test_mp_inplace_waits_for_group_writer(void **state)
{
	run_inplace_group(*state, true);
}

/*
 * Two processes replacing in place keys of their own, two keys in the
 * same stripe included, and a third adding and removing keys (with the
 * writer lock) and reading: every value read is one that was written
 * whole, and at the end each key has the last value its writer wrote.
 */
struct mix_arg {
	const char *name;
	int idx;
	struct mp_shared *sh;
};

#define MIX_KEYS 64
#define MIX_ROUNDS 20000

static void mix_val(char *v, size_t cap, int idx, int k, long n)
{
	/* the same length every time: each replace fits in place */
	snprintf(v, cap, "%d:%02d:%08ld:%08ld", idx, k, n, n * 7 + idx);
}

static int child_mix_replacer(void *arg)
{
	struct mix_arg *a = arg;
	shmtab *t = child_open(a->name);
	char k[16], v[64];

	if (!t)
		return 4;
	for (long n = 1; n <= MIX_ROUNDS; n++) {
		int key = (int)(n % MIX_KEYS);

		snprintf(k, sizeof(k), "m%d-%d", a->idx, key);
		mix_val(v, sizeof(v), a->idx, key, n);
		if (shmtab_replace(t, k, strlen(k), v, strlen(v)) != 0)
			return 10;
	}
	shmtab_close(t);
	return 0;
}

static int child_mix_other(void *arg)
{
	struct mix_arg *a = arg;
	shmtab *t = child_open(a->name);
	char k[16];
	int bad = 0;

	if (!t)
		return 4;
	while (!__atomic_load_n(&a->sh->n[1], __ATOMIC_ACQUIRE)) {
		for (int i = 0; i < 200; i++) {
			snprintf(k, sizeof(k), "x%d", i);
			if (shmtab_add(t, k, strlen(k), "xxxxxxxxxxxx", 12))
				return 10;
		}
		for (int i = 0; i < 200; i++) {
			snprintf(k, sizeof(k), "x%d", i);
			if (shmtab_remove(t, k, strlen(k)))
				return 11;
		}
		for (int w = 0; w < 2; w++) {
			for (int key = 0; key < MIX_KEYS; key++) {
				char got[64];
				size_t vlen = 0;
				int idx, kk;
				long n, m;

				snprintf(k, sizeof(k), "m%d-%d", w, key);
				if (shmtab_find_into(t, k, strlen(k), got,
						     sizeof(got) - 1, &vlen))
					return 12;
				got[vlen < sizeof(got) ? vlen : 0] = 0;
				if (sscanf(got, "%d:%d:%ld:%ld", &idx, &kk, &n,
					   &m) != 4 || idx != w || kk != key ||
				    m != n * 7 + idx)
					bad++;
			}
		}
	}
	a->sh->n[2] = bad;
	shmtab_close(t);
	return 0;
}

static void test_mp_inplace_concurrent_writers(void **state)
{
	struct mp_fixture *fx = *state;
	struct mix_arg a[3];
	shmtab *t = mk_table(fx, 0, 0);
	char k[16], v[64], want[64];

	for (int w = 0; w < 2; w++)
		for (int key = 0; key < MIX_KEYS; key++) {
			snprintf(k, sizeof(k), "m%d-%d", w, key);
			mix_val(v, sizeof(v), w, key, 0);
			assert_int_equal(tu_put_str(t, k, v), 0);
		}
	for (int i = 0; i < 3; i++)
		a[i] = (struct mix_arg){ .name = fx->name[0], .idx = i,
					 .sh = fx->sh };
	start_child(fx, 0, child_mix_replacer, &a[0]);
	start_child(fx, 1, child_mix_replacer, &a[1]);
	start_child(fx, 2, child_mix_other, &a[2]);
	expect_child_ok(fx, 0, 60, "replacer 0");
	expect_child_ok(fx, 1, 60, "replacer 1");
	__atomic_store_n(&fx->sh->n[1], 1, __ATOMIC_RELEASE);
	expect_child_ok(fx, 2, 60, "adder and reader");
	assert_int_equal(fx->sh->n[2], 0);
	for (int w = 0; w < 2; w++)
		for (int key = 0; key < MIX_KEYS; key++) {
			long last = MIX_ROUNDS - (MIX_ROUNDS - key) % MIX_KEYS;

			snprintf(k, sizeof(k), "m%d-%d", w, key);
			mix_val(want, sizeof(want), w, key, last);
			assert_int_equal(tu_find_is(t, k, want), 0);
		}
	assert_int_equal(shmtab_length(t), 2 * MIX_KEYS);
	assert_int_equal(shmtab_check(t), 0);
}

/*
 * The change feed with two processes noting at once (their replaces in
 * place take no writer lock): a watcher that keeps up sees every change,
 * each as its key's hash, none lost and none as "everything" (0).
 */
#define FEED_REPLACES 300

static int child_feed_replacer(void *arg)
{
	struct mix_arg *a = arg;
	shmtab *t = child_open(a->name);
	char k[16], v[16];

	if (!t)
		return 4;
	snprintf(k, sizeof(k), "f%d", a->idx);
	for (int n = 0; n < FEED_REPLACES; n++) {
		snprintf(v, sizeof(v), "%08d", n);
		if (shmtab_replace(t, k, strlen(k), v, strlen(v)) != 0)
			return 10;
		/* the watcher must keep up (256 entries): on a loaded
		 * machine it may be off its CPU for many milliseconds */
		if (n % 2 == 1)
			usleep(500);
	}
	shmtab_close(t);
	return 0;
}

static void test_mp_feed_two_noters(void **state)
{
	struct mp_fixture *fx = *state;
	struct mix_arg a[2];
	shmtab *t = mk_table(fx, 0, 0);
	uint64_t h[2], since, hashes[SHMTAB_FEED_SIZE];
	long seen[2] = { 0, 0 }, other = 0;
	double t0;

	for (int i = 0; i < 2; i++) {
		char k[16];

		snprintf(k, sizeof(k), "f%d", i);
		assert_int_equal(tu_put_str(t, k, "00000000"), 0);
		h[i] = shmtab_key_hash(t, k, strlen(k));
		a[i] = (struct mix_arg){ .name = fx->name[0], .idx = i,
					 .sh = fx->sh };
	}
	since = shmtab_counter(t);
	start_child(fx, 0, child_feed_replacer, &a[0]);
	start_child(fx, 1, child_feed_replacer, &a[1]);
	t0 = tu_now();
	while (seen[0] + seen[1] + other < 2 * FEED_REPLACES &&
	       tu_now() - t0 < 20) {
		int n = shmtab_changes(t, &since, hashes, SHMTAB_FEED_SIZE);

		if (n < 0)
			fail_msg("shmtab_changes: %s", shmtab_strerror(n));
		for (int i = 0; i < n; i++) {
			if (hashes[i] == h[0])
				seen[0]++;
			else if (hashes[i] == h[1])
				seen[1]++;
			else
				other++;
		}
	}
	expect_child_ok(fx, 0, WAIT_S, "feed replacer 0");
	expect_child_ok(fx, 1, WAIT_S, "feed replacer 1");
	assert_int_equal(other, 0);
	assert_int_equal(seen[0], FEED_REPLACES);
	assert_int_equal(seen[1], FEED_REPLACES);
	assert_int_equal(shmtab_changes(t, &since, hashes, SHMTAB_FEED_SIZE),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, mp_setup, mp_teardown)
		T(test_mp_growth_seen_by_other_process),
		T(test_mp_growth_large_values),
		T(test_mp_growth_concurrent),
		T(test_mp_group_counter_exact),
		T(test_mp_ungrouped_counter_may_lose),
		T(test_mp_group_nested_holds_until_outer_end),
		T(test_mp_iter_blocks_writers_not_readers),
		T(test_mp_group_failing_releases_locks),
		T(test_mp_deadlock_two_tables_detected),
		T(test_mp_deadlock_same_table_one_loses),
		T(test_mp_deadlock_leaves_no_locks),
		T(test_mp_dead_waiter_leaves_no_cycle),
		T(test_mp_deadlock_through_log_hook),
		T(test_mp_log_hook_on_same_table_busy),
		T(test_mp_stuck_first_opener_bounded),
		T(test_mp_inplace_waits_for_group_reader),
		T(test_mp_inplace_waits_for_group_writer),
		T(test_mp_inplace_concurrent_writers),
		T(test_mp_feed_two_noters),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
