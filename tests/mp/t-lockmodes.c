/* SPDX-License-Identifier: MIT */
/*
 * t-lockmodes.c - the same multi-process guarantees under every locking
 * method: record (fcntl OFD locks), mutex (robust, in the table) and the
 * default; and "none" for a single process.  Also the private interrupt
 * hook (shmtab-hooks.h) that lets shmtabfs give up lock waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "shmtab-hooks.h"
#include "shmtab.h"
#include "testutil.h"

#define PROCS 3
#define INCS 200

struct mode {
	enum shmtab_lock lock;
	const char *tag;
	char *name;
};

static int setup(void **state, enum shmtab_lock lock, const char *tag)
{
	struct mode *m = calloc(1, sizeof(*m));
	struct shmtab_options o = { .lock = lock };
	shmtab *t;

	assert_non_null(m);
	m->lock = lock;
	m->tag = tag;
	m->name = tu_posix_name(tag);
	assert_int_equal(shmtab_open(m->name, O_RDWR | O_CREAT | O_EXCL, 0600,
				     &o, &t), 0);
	assert_int_equal(shmtab_replace(t, "ctr", 3, "0", 1), 0);
	assert_int_equal(shmtab_close(t), 0);
	*state = m;
	return 0;
}

static int setup_record(void **state)
{
	return setup(state, SHMTAB_LOCK_RECORD, "rec");
}

static int setup_mutex(void **state)
{
	return setup(state, SHMTAB_LOCK_MUTEX, "mtx");
}

static int setup_best(void **state)
{
	return setup(state, SHMTAB_LOCK_BEST, "best");
}

static int teardown(void **state)
{
	struct mode *m = *state;

	tu_remove(m->name);
	free(m->name);
	free(m);
	return 0;
}

static int incr(shmtab *t, void *ctx)
{
	char buf[32];
	size_t n;
	int err;

	(void)ctx;
	err = shmtab_find_into(t, "ctr", 3, buf, sizeof(buf) - 1, &n);
	if (err < 0)
		return err;
	buf[n < sizeof(buf) - 1 ? n : sizeof(buf) - 1] = 0;
	n = (size_t)snprintf(buf, sizeof(buf), "%ld", atol(buf) + 1);
	return shmtab_replace(t, "ctr", 3, buf, n);
}

static int child_count(void *arg)
{
	struct mode *m = arg;
	shmtab *t;

	if (shmtab_open(m->name, O_RDWR, 0, NULL, &t) < 0)
		return 10;
	for (int i = 0; i < INCS; i++) {
		int err;

		while ((err = shmtab_group(t, incr, NULL)) == -EDEADLK)
			tu_sleep_ms(1);
		if (err < 0)
			return 11;
	}
	shmtab_close(t);
	return 0;
}

/* Read-modify-write inside groups from several processes loses nothing. */
static void test_lock_group_counter_exact(void **state)
{
	struct mode *m = *state;
	pid_t pid[PROCS];
	char buf[32];
	size_t n;
	shmtab *t;

	for (int i = 0; i < PROCS; i++)
		pid[i] = tu_fork(child_count, m);
	for (int i = 0; i < PROCS; i++)
		assert_int_equal(tu_wait(pid[i], 60), 0);
	assert_int_equal(shmtab_open(m->name, O_RDWR, 0, NULL, &t), 0);
	assert_int_equal(shmtab_find_into(t, "ctr", 3, buf, sizeof(buf) - 1,
					  &n), 0);
	buf[n] = 0;
	assert_int_equal(atol(buf), PROCS * INCS);
	assert_int_equal(shmtab_length(t), 1);
	assert_int_equal(shmtab_check(t), 0);
	shmtab_close(t);
}

struct holder {
	struct mode *m;
	struct tu_barrier ready;
};

static int hold_forever(shmtab *t, void *ctx)
{
	struct holder *h = ctx;

	if (shmtab_add(t, "held", 4, "x", 1) < 0)
		return -1;
	tu_barrier_post(&h->ready);
	for (;;)
		pause();
	return 0;
}

static int child_hold(void *arg)
{
	struct holder *h = arg;
	shmtab *t;

	if (shmtab_open(h->m->name, O_RDWR, 0, NULL, &t) < 0)
		return 10;
	return shmtab_group(t, hold_forever, h) ? 11 : 0;
}

/*
 * A writer killed inside a group does not block the others: neither a
 * process that opens the table afterwards (the first opener resets the
 * lock area) nor one that had it open all along (it finds the lock as the
 * dead writer left it: a robust mutex owned by a dead thread, or a free
 * fcntl lock with the holder's pid still in the header).
 */
static void killed_writer(struct mode *m, bool open_before)
{
	struct holder h = { .m = m };
	struct shmtab_stat st;
	shmtab *t = NULL;
	double t0;
	pid_t pid;

	if (open_before)
		assert_int_equal(shmtab_open(m->name, O_RDWR, 0, NULL, &t), 0);
	assert_int_equal(tu_barrier_init(&h.ready), 0);
	pid = tu_fork(child_hold, &h);
	assert_int_equal(tu_barrier_wait(&h.ready, 10000), 0);
	kill(pid, SIGKILL);
	assert_int_equal(tu_wait(pid, 10), -SIGKILL);
	if (!open_before)
		assert_int_equal(shmtab_open(m->name, O_RDWR, 0, NULL, &t), 0);
	t0 = tu_now();
	assert_int_equal(shmtab_add(t, "after", 5, "y", 1), 0);
	assert_true(tu_now() - t0 < 2.0);
	assert_int_equal(shmtab_mem(t, "after", 5), 1);
	assert_int_equal(shmtab_check(t), 0);
	assert_int_equal(shmtab_stat(t, &st), 0);
	assert_int_equal(st.lock, m->lock == SHMTAB_LOCK_BEST ?
				  SHMTAB_LOCK_MUTEX : m->lock);
	/* the group's add was done: only a writer that finds the lock as the
	 * dead one left it has something to recover */
	assert_int_equal(st.recoveries, open_before ? 1 : 0);
	shmtab_close(t);
	tu_barrier_destroy(&h.ready);
}

static void test_lock_killed_writer_recovered(void **state)
{
	killed_writer(*state, false);
}

static void test_lock_killed_writer_open_handle(void **state)
{
	killed_writer(*state, true);
}

/* Reopening with another explicit method is refused; none is allowed. */
static void test_lock_method_stored(void **state)
{
	struct mode *m = *state;
	enum shmtab_lock other = m->lock == SHMTAB_LOCK_RECORD ?
					 SHMTAB_LOCK_MUTEX : SHMTAB_LOCK_RECORD;
	struct shmtab_options o = { .lock = other };
	struct shmtab_options none = { .lock = SHMTAB_LOCK_NONE };
	shmtab *t;

	assert_int_equal(shmtab_open(m->name, O_RDWR, 0, &o, &t), -EINVAL);
	assert_int_equal(shmtab_open(m->name, O_RDWR, 0, &none, &t), 0);
	assert_int_equal(shmtab_add(t, "n", 1, "1", 1), 0);
	assert_int_equal(shmtab_mem(t, "n", 1), 1);
	assert_int_equal(shmtab_check(t), 0);
	shmtab_close(t);
}

struct grower {
	struct mode *m;
	volatile long *acked;		/* shared: adds that returned */
};

static int child_grow(void *arg)
{
	struct grower *g = arg;
	char k[32], v[64];
	shmtab *t;

	memset(v, 'g', sizeof(v));
	if (shmtab_open(g->m->name, O_RDWR, 0, NULL, &t) < 0)
		return 10;
	for (long i = *g->acked;; i++) {
		int n = snprintf(k, sizeof(k), "g%ld", i);

		if (shmtab_add(t, k, (size_t)n, v, sizeof(v)) < 0)
			return 11;
		*g->acked = i + 1;
	}
	return 0;
}

/*
 * kill -9 while the table grows and its index is rebuilt step by step:
 * every acknowledged add survives and the structure checks clean.
 */
static void test_lock_kill_during_growth(void **state)
{
	struct mode *m = *state;
	struct grower g = { .m = m };
	long *acked = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned seed = (unsigned)getpid();

	assert_true(acked != MAP_FAILED);
	*acked = 0;
	g.acked = acked;
	for (int round = 0; round < 12; round++) {
		char k[32];
		shmtab *t;
		pid_t pid = tu_fork(child_grow, &g);

		tu_sleep_ms(20 + (int)(rand_r(&seed) % 120));
		kill(pid, SIGKILL);
		assert_int_equal(tu_wait(pid, 20), -SIGKILL);
		assert_int_equal(shmtab_open(m->name, O_RDWR, 0, NULL, &t), 0);
		assert_int_equal(shmtab_check(t), 0);
		assert_true(shmtab_length(t) >= *acked + 1);	/* + "ctr" */
		for (long i = 0; i < *acked; i++) {
			int n = snprintf(k, sizeof(k), "g%ld", i);

			if (shmtab_mem(t, k, (size_t)n) != 1)
				fail_msg("round %d: acknowledged key %s lost",
					 round, k);
		}
		/* the add in flight either happened or not */
		*acked = shmtab_length(t) - 1;
		shmtab_close(t);
	}
	print_message("# growth kills: %ld keys, 12 kills, check clean\n",
		      *acked);
	munmap(acked, sizeof(long));
}

static int hold_visit(const void *key, size_t klen, const void *val,
		      size_t vlen, void *ctx)
{
	struct holder *h = ctx;

	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	tu_barrier_post(&h->ready);
	for (;;)
		pause();
	return 0;
}

/* Holds read locks on every stripe: inside an iteration. */
static int child_iter(void *arg)
{
	struct holder *h = arg;
	shmtab *t;

	if (shmtab_open(h->m->name, O_RDWR, 0, NULL, &t) < 0)
		return 10;
	return shmtab_iter(t, hold_visit, h) ? 11 : 0;
}

/* The interrupt hook: true from a deadline on (ctx: a tu_now() time). */
static int intr_after(void *ctx)
{
	return tu_now() >= *(double *)ctx;
}

#define INTR_AFTER_S 0.2

/* Run op under the hook; its result, and the wait in *took. */
static int intr_run(int (*op)(shmtab *t, const char *key), shmtab *t,
		    const char *key, double *took)
{
	double t0 = tu_now(), deadline = t0 + INTR_AFTER_S;
	int err;

	shmtab__set_interrupt(intr_after, &deadline);
	err = op(t, key);
	*took = tu_now() - t0;
	shmtab__set_interrupt(NULL, NULL);
	return err;
}

static int op_add(shmtab *t, const char *key)
{
	return shmtab_add(t, key, strlen(key), "v", 1);
}

static int op_find(shmtab *t, const char *key)
{
	void *v = NULL;
	size_t n;
	int err = shmtab_find(t, key, strlen(key), &v, &n);

	free(v);
	return err;
}

/* A key whose stripe is not that of key (stripes: lib/shmtab-private.h). */
static void other_stripe_key(shmtab *t, const char *key, char *out, size_t cap)
{
	uint64_t h = shmtab_key_hash(t, key, strlen(key));

	for (int i = 0;; i++) {
		snprintf(out, cap, "o%d", i);
		if ((shmtab_key_hash(t, out, strlen(out)) >> 56) % 256 !=
		    (h >> 56) % 256)
			return;
	}
}

/*
 * With the interrupt hook set, a wait for a lock that a stopped process
 * holds gives up with -EINTR once the hook says so: the writer lock
 * (writers, and readers of a key a writer has made odd) and readers to
 * drain; a call that need not wait is not affected, and the call that gave
 * up changed nothing.
 */
static void test_lock_interrupt_gives_up(void **state)
{
	struct mode *m = *state;
	struct holder h = { .m = m };
	char other[16];
	double took;
	shmtab *t;
	pid_t pid;

	assert_int_equal(shmtab_open(m->name, O_RDWR, 0, NULL, &t), 0);
	other_stripe_key(t, "held", other, sizeof(other));

	/* a group holds the writer lock, "held"'s stripe odd */
	assert_int_equal(tu_barrier_init(&h.ready), 0);
	pid = tu_fork(child_hold, &h);
	assert_int_equal(tu_barrier_wait(&h.ready, 10000), 0);
	kill(pid, SIGSTOP);
	assert_int_equal(intr_run(op_add, t, "x", &took), -EINTR);
	assert_true(took >= INTR_AFTER_S && took < INTR_AFTER_S + 1.0);
	assert_int_equal(intr_run(op_find, t, "held", &took), -EINTR);
	assert_true(took >= INTR_AFTER_S && took < INTR_AFTER_S + 1.0);
	assert_int_equal(intr_run(op_find, t, other, &took), -ENOENT);
	assert_true(took < INTR_AFTER_S);
	kill(pid, SIGKILL);
	kill(pid, SIGCONT);
	assert_int_equal(tu_wait(pid, 10), -SIGKILL);
	tu_barrier_destroy(&h.ready);

	/* an iteration read-locks every stripe: a writer waits for it */
	assert_int_equal(tu_barrier_init(&h.ready), 0);
	pid = tu_fork(child_iter, &h);
	assert_int_equal(tu_barrier_wait(&h.ready, 10000), 0);
	kill(pid, SIGSTOP);
	assert_int_equal(intr_run(op_add, t, "x", &took), -EINTR);
	assert_true(took >= INTR_AFTER_S && took < INTR_AFTER_S + 1.0);
	kill(pid, SIGKILL);
	kill(pid, SIGCONT);
	assert_int_equal(tu_wait(pid, 10), -SIGKILL);
	tu_barrier_destroy(&h.ready);

	/* nothing left held or changed; without the hook, waits as before */
	assert_int_equal(shmtab_mem(t, "x", 1), 0);
	assert_int_equal(shmtab_add(t, "x", 1, "v", 1), 0);
	assert_int_equal(shmtab_check(t), 0);
	shmtab_close(t);
}

/*
 * One thread, two handles of the same table: what one holds in a group or
 * a visitor, a call through the other would wait for forever (the holder
 * is the caller).  It returns -EBUSY at once; what needs nothing held goes
 * through.  Run in a child, so that a regression hangs only the child.
 */
struct self_ctx {
	shmtab *b, *ro;
	int rc_write, rc_read, rc_other, rc_find, rc_ro;
};

/* "k" and a key of another stripe (the hash's top byte) than k's */
static void other_key(shmtab *t, char *j, size_t n)
{
	for (int i = 0;; i++) {
		snprintf(j, n, "j%d", i);
		if (shmtab_key_hash(t, j, strlen(j)) >> 56 !=
		    shmtab_key_hash(t, "k", 1) >> 56)
			return;
	}
}

static int group_then_other_handle(shmtab *a, void *arg)
{
	struct self_ctx *c = arg;
	char buf[8], j[16];
	size_t n;
	int rc = shmtab_replace(a, "k", 1, "A", 1);

	other_key(a, j, sizeof(j));
	c->rc_write = shmtab_replace(c->b, "k", 1, "B", 1);
	c->rc_read = shmtab_find_into(c->b, "k", 1, buf, sizeof(buf), &n);
	c->rc_other = shmtab_replace(c->b, j, strlen(j), "B", 1);
	c->rc_find = shmtab_find_into(c->b, j, strlen(j), buf, sizeof(buf),
				      &n);
	c->rc_ro = shmtab_find_into(c->ro, "k", 1, buf, sizeof(buf), &n);
	return rc;
}

static int visit_then_other_handle(const void *key, size_t klen,
				   const void *val, size_t vlen, void *arg)
{
	struct self_ctx *c = arg;
	char buf[8];
	size_t n;

	(void)key, (void)klen, (void)val, (void)vlen;
	c->rc_write = shmtab_replace(c->b, "k", 1, "B", 1);
	c->rc_read = shmtab_find_into(c->b, "k", 1, buf, sizeof(buf), &n);
	return 1;	/* one binding is enough */
}

/*
 * A lockless handle's group: before it writes it holds nothing, and b's
 * add goes through; once it wrote, its stripe is odd with no lock held,
 * which b's writer lock would even as a dead writer's: b's add and b's
 * read of what it wrote say -EBUSY.
 */
static int group_other_writes(shmtab *n, void *arg)
{
	struct self_ctx *c = arg;
	char buf[8];
	size_t len;
	int rc;

	/* adds: no replace in place, which takes no writer lock */
	c->rc_other = shmtab_add(c->b, "m", 1, "C", 1);
	rc = shmtab_replace(n, "n", 1, "1", 1);
	c->rc_write = shmtab_add(c->b, "m", 1, "D", 1);
	c->rc_read = shmtab_find_into(c->b, "n", 1, buf, sizeof(buf), &len);
	return rc;
}

/* static: write_blocks' callback gets no handle */
static struct self_ctx *blk_ctx;

static int write_block_then_other_handle(void *p, size_t len, void *arg)
{
	char buf[8];
	size_t n;

	(void)p, (void)len, (void)arg;
	if (!p)
		return SHMTAB_CONTINUE;
	blk_ctx->rc_write = shmtab_replace(blk_ctx->b, "k", 1, "B", 1);
	blk_ctx->rc_read = shmtab_find_into(blk_ctx->b, "k", 1, buf,
					    sizeof(buf), &n);
	return SHMTAB_BREAK;
}

static int child_self_wait(void *arg)
{
	struct mode *m = arg;
	struct self_ctx c = { 0 };
	shmtab *a;
	char j[16];

	if (shmtab_open(m->name, O_RDWR, 0, NULL, &a) < 0 ||
	    shmtab_open(m->name, O_RDWR, 0, NULL, &c.b) < 0 ||
	    shmtab_open(m->name, O_RDONLY, 0, NULL, &c.ro) < 0)
		return 10;
	other_key(a, j, sizeof(j));
	if (shmtab_replace(a, "k", 1, "v", 1) < 0 ||
	    shmtab_replace(a, j, strlen(j), "v", 1) < 0)
		return 11;
	/* the group holds the writer lock and k's stripe: every change
	 * through b, and a read of k, would wait for it; a read of j not */
	if (shmtab_group(a, group_then_other_handle, &c) != 0)
		return 12;
	if (c.rc_write != -EBUSY || c.rc_read != -EBUSY ||
	    c.rc_other != -EBUSY || c.rc_find != 0 || c.rc_ro != -EBUSY) {
		printf("# in a group: write %d, read %d, other write %d, "
		       "other read %d, read-only read %d\n", c.rc_write,
		       c.rc_read, c.rc_other, c.rc_find, c.rc_ro);
		return 13;
	}
	/* the visitor read-locks every stripe: a change waits for it, a
	 * read does not */
	if (shmtab_iter(a, visit_then_other_handle, &c) != 1)
		return 14;
	if (c.rc_write != -EBUSY || c.rc_read != 0) {
		printf("# in a visitor: write %d, read %d\n", c.rc_write,
		       c.rc_read);
		return 15;
	}
	/* write_blocks holds the writer lock and k's stripe while it calls
	 * its visitor, outside any group */
	blk_ctx = &c;
	c.rc_write = c.rc_read = 1;
	if (shmtab_write_blocks(a, "k", 1, write_block_then_other_handle,
				NULL) != 0)
		return 17;
	if (c.rc_write != -EBUSY || c.rc_read != -EBUSY) {
		printf("# in write_blocks: write %d, read %d\n", c.rc_write,
		       c.rc_read);
		return 18;
	}
	/* and once they ended, b changes what it could not */
	if (shmtab_replace(c.b, "k", 1, "B", 1) != 0 ||
	    shmtab_check(c.b) != 0)
		return 16;
	{
		struct shmtab_options none = { .lock = SHMTAB_LOCK_NONE };
		char buf[8];
		size_t len;
		shmtab *n;

		if (shmtab_open(m->name, O_RDWR, 0, &none, &n) < 0)
			return 19;
		if (shmtab_group(n, group_other_writes, &c) != 0 ||
		    c.rc_other != 0 || c.rc_write != -EBUSY ||
		    c.rc_read != -EBUSY) {
			printf("# in a group of a lockless handle: add before "
			       "%d, after %d, read %d\n", c.rc_other,
			       c.rc_write, c.rc_read);
			return 20;
		}
		shmtab_close(n);
		/* its stripe even again: a read-only handle reads n */
		if (shmtab_find_into(c.ro, "n", 1, buf, sizeof(buf), &len) != 0)
			return 21;
	}
	shmtab_close(c.ro);
	shmtab_close(c.b);
	shmtab_close(a);
	return 0;
}

static void test_lock_self_wait_is_ebusy(void **state)
{
	pid_t pid = tu_fork(child_self_wait, *state);

	assert_true(pid > 0);
	assert_int_equal(tu_wait(pid, 20), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn)                                                            \
	cmocka_unit_test_setup_teardown(fn, setup_record, teardown),     \
	cmocka_unit_test_setup_teardown(fn, setup_mutex, teardown),      \
	cmocka_unit_test_setup_teardown(fn, setup_best, teardown)
		T(test_lock_group_counter_exact),
		T(test_lock_killed_writer_recovered),
		T(test_lock_killed_writer_open_handle),
		T(test_lock_method_stored),
		T(test_lock_kill_during_growth),
		T(test_lock_interrupt_gives_up),
		T(test_lock_self_wait_is_ebusy),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
