/* SPDX-License-Identifier: MIT */
/*
 * t-live.c - a table scribbled on while it is open
 *
 * Another process may write any word of a table at any moment, also
 * between the moment the library checks a word and the moment it uses it.
 * Each test writes header or slot words of an open table (doc/FORMAT.md
 * gives the offsets) and asserts what the library must still do: refuse
 * with an error and damage nothing more, not grow the object without
 * bound, not loop for ever.  A test that could hang runs in a forked child
 * with an alarm.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "format.h"
#include "shmtab.h"
#include "shmtab-hooks.h"
#include "testutil.h"

/* Header words and slots (doc/FORMAT.md), as the library lays them out. */
#define H(field) offsetof(struct shm_header, field)
#define SLOT(i) (H(slots) + sizeof(struct slot) * (i))
#define SLOT_FIELD(i, field) (SLOT(i) + offsetof(struct slot, field))

struct live {
	char *name;
	shmtab *t;
};

static int live_setup(void **state)
{
	struct live *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->name = tu_file_name("live");
	if (!fx->name)
		return -1;
	*state = fx;
	return 0;
}

static int live_teardown(void **state)
{
	struct live *fx = *state;

	shmtab__set_fault(NULL);
	shmtab__set_interrupt(NULL, NULL);
	shmtab_close(fx->t);
	tu_remove(fx->name);
	free(fx->name);
	free(fx);
	return 0;
}

/* Words of the object, read and written around the library (testutil). */
static uint64_t rd64(const char *name, off_t off)
{
	uint64_t v = tu_object_word(name, (size_t)off);

	assert_true(v != UINT64_MAX);
	return v;
}

static void wr(const char *name, off_t off, const void *p, size_t len)
{
	assert_int_equal(tu_object_write(name, (size_t)off, p, len), 0);
}

static void wr64(const char *name, off_t off, uint64_t v)
{
	wr(name, off, &v, 8);
}

/* A table of n keys "k<i>" with 40-byte values, open read-write in fx->t. */
static void make(struct live *fx, int n)
{
	char k[16], v[40];

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	memset(v, 'v', sizeof(v));
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(shmtab_add(fx->t, k, strlen(k), v, sizeof(v)),
				 0);
	}
}

/*
 * The heap's top below the heap, or not a multiple of 8: the next chunk
 * would be written there unlogged, into the header or over a binding.
 * The write is refused and nothing else changes: with top put back the
 * table is sound.
 */
static void test_live_top_outside_heap(void **state)
{
	struct live *fx = *state;
	static const char magic[8] = "SHMTAB\r\n";
	uint64_t top, bad[4];
	shmtab *t2 = NULL;
	char hdr[8];

	make(fx, 20);
	top = rd64(fx->name, H(top));
	bad[0] = 0;
	bad[1] = 8;
	bad[2] = HDR_SIZE - 8;
	bad[3] = top - 4;			/* not a multiple of 8 */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wr64(fx->name, H(top), bad[i]);
		assert_int_equal(shmtab_add(fx->t, "new", 3, "x", 1),
				 -EBADMSG);
		wr64(fx->name, H(top), top);
		memcpy(hdr, &(uint64_t){ rd64(fx->name, 0) }, 8);
		assert_memory_equal(hdr, magic, 8);
		assert_int_equal(shmtab_check(fx->t), 0);
	}
	assert_int_equal(shmtab_add(fx->t, "new", 3, "x", 1), 0);
	assert_int_equal(shmtab_close(fx->t), 0);
	fx->t = NULL;
	assert_int_equal(shmtab_open(fx->name, O_RDWR, 0, NULL, &t2), 0);
	assert_int_equal(shmtab_check(t2), 0);
	assert_int_equal(tu_find_is(t2, "new", "x"), 0);
	assert_int_equal(shmtab_close(t2), 0);
}

/* The counts that size a new index scribbled huge: writes may fail, but
 * the object grows by what its heap could ever need, not by gigabytes
 * (run under a 64 MiB file size limit, which the old sizing hit). */
static int grow_child(void *arg)
{
	struct live *fx = arg;
	struct rlimit rl = { 64 << 20, 64 << 20 };
	long long before = tu_object_size(fx->name);
	shmtab *t = NULL;
	int rc;

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 90;
	/* (the parent's handle is not this process's: its own) */
	if (shmtab_open(fx->name, O_RDWR, 0, NULL, &t) != 0)
		return 4;
	wr64(fx->name, H(index_cells), (uint64_t)1 << 40);
	wr64(fx->name, H(nused), (uint64_t)1 << 40);
	wr64(fx->name, H(nkeys), (uint64_t)1 << 39);
	for (int i = 0; i < 5; i++) {
		rc = shmtab_add(t, "g", 1, "x", 1);
		if (rc > 0 || rc == -EBADF)
			return 91;
	}
	if (tu_object_size(fx->name) > 8 * before + (1 << 20)) {
		fprintf(stderr, "grew from %lld to %lld bytes\n",
			before, tu_object_size(fx->name));
		return 92;
	}
	return 0;
}

static void test_live_counts_do_not_grow_the_object(void **state)
{
	struct live *fx = *state;
	pid_t pid;

	make(fx, 4);		/* (no rebuild of the index under way) */
	pid = tu_fork(grow_child, fx);
	assert_true(pid > 0);
	assert_int_equal(tu_wait(pid, 60), 0);
}

/* The page size, checked by the opener in its copy of the header, then
 * changed in the object before it used it: the opener keeps what it
 * checked (0 would slice values into empty blocks for ever). */
static const char *fault_name;

static void zero_pagesize(const char *point)
{
	uint32_t zero = 0;

	if (strcmp(point, "open-checked") == 0)
		wr(fault_name, H(pagesize), &zero, 4);
}

static int count_blocks(const void *block, size_t len, void *ctx)
{
	long *n = ctx;

	(void)block;
	if (len == 0 || ++*n > 100000)
		return 1;	/* an empty block, or for ever: stop */
	return 0;
}

static void test_live_pagesize_changed_after_check(void **state)
{
	struct live *fx = *state;
	uint32_t ps = 256;
	shmtab *ro = NULL;
	long n = 0;
	char big[1000];

	make(fx, 1);
	memset(big, 'b', sizeof(big));
	assert_int_equal(shmtab_replace(fx->t, "k0", 2, big, sizeof(big)), 0);
	fault_name = fx->name;
	shmtab__set_fault(zero_pagesize);
	assert_int_equal(shmtab_open(fx->name, O_RDONLY, 0, NULL, &ro), 0);
	shmtab__set_fault(NULL);
	wr(fx->name, H(pagesize), &ps, 4);
	assert_int_equal(shmtab_read_blocks(ro, "k0", 2, count_blocks, &n), 0);
	assert_int_equal(n, 4);		/* 1000 bytes in 256-byte slices */
	assert_int_equal(shmtab_close(ro), 0);
}

/*
 * A dead process's replace in place whose redo entry names a record that
 * lies inside the entry itself: finishing it would copy the entry's value
 * over itself.  The opener that finds it reports the entry as damaged and
 * finishes nothing (no recovery counted).
 */
static void test_live_redo_entry_names_itself(void **state)
{
	struct live *fx = *state;
	struct shmtab_stat st;
	uint64_t redo, e, f;

	make(fx, 4);
	/* a replace in place gives the table its redo chunk */
	assert_int_equal(shmtab_replace(fx->t, "k1", 2, "0123456789", 10), 0);
	assert_int_equal(shmtab_close(fx->t), 0);
	fx->t = NULL;
	redo = rd64(fx->name, H(redo_off));
	assert_true(redo >= HDR_SIZE);
	e = redo + 16;				/* slot 0's entry */
	f = e + 32;				/* a record forged in its value */
	wr64(fx->name, (off_t)f, CHUNK_REC | (uint64_t)62 << HEAD_CLS_SHIFT);
	wr64(fx->name, (off_t)f + 8, 0);	/* key and value empty */
	wr64(fx->name, (off_t)e, f);		/* the entry: that record, */
	wr64(fx->name, (off_t)e + 8, 200);	/* a 200-byte value */
	wr64(fx->name, SLOT_FIELD(0, claim), 2);	/* claims: REDO, stripe 0 */
	assert_int_equal(shmtab_open(fx->name, O_RDWR, 0, NULL, &fx->t), 0);
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	assert_int_equal(st.recoveries, 0);
	assert_int_equal(rd64(fx->name, SLOT_FIELD(0, claim)), 0); /* let go */
	assert_int_equal(rd64(fx->name, (off_t)f + 8), 0);	/* untouched */
}

/*
 * A live process's slot scribbled to read-lock every stripe, waiting since
 * long ago: a write waits for it and, as the younger waiter, gives way and
 * starts again, again and again.  With an interrupt hook set (shmtabfs at
 * unmount) that loop too asks the hook and ends with -EINTR.
 */
static int idle_child(void *arg)
{
	shmtab *t = NULL;

	if (shmtab_open(arg, O_RDWR, 0, NULL, &t) != 0)
		return 4;
	pause();
	return 0;
}

static double intr_t0;

static int intr_after_1s(void *ctx)
{
	(void)ctx;
	return tu_now() - intr_t0 > 1.0;
}

struct yield_arg {
	struct live *fx;
	int slot;
};

static int yield_child(void *arg)
{
	struct yield_arg *a = arg;
	uint64_t ones = ~(uint64_t)0;
	shmtab *t = NULL;
	int rc;

	/* (the parent's handle is not this process's: its own) */
	if (shmtab_open(a->fx->name, O_RDWR, 0, NULL, &t) != 0)
		return 4;
	for (unsigned w = 0; w < NSTRIPES / 64; w++)
		wr64(a->fx->name, SLOT_FIELD(a->slot, stripes) + 8 * w, ones);
	wr64(a->fx->name, SLOT_FIELD(a->slot, wait_since), 1); /* since 1 ns */
	wr64(a->fx->name, H(rlocks), 1);
	alarm(20);
	intr_t0 = tu_now();
	shmtab__set_interrupt(intr_after_1s, NULL);
	rc = shmtab_add(t, "w", 1, "x", 1);
	if (rc != -EINTR)
		fprintf(stderr, "add: %s\n", shmtab_strerror(rc));
	return rc == -EINTR ? 0 : 10;
}

static void test_live_yield_loop_asks_the_hook(void **state)
{
	struct live *fx = *state;
	struct shmtab_stat st;
	struct yield_arg a = { fx, -1 };
	pid_t idle, pid;
	int rc;

	make(fx, 4);
	idle = tu_fork(idle_child, fx->name);
	assert_true(idle > 0);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(shmtab_stat(fx->t, &st), 0);
		if (st.holders == 2)
			break;
		usleep(10000);
	}
	assert_int_equal(st.holders, 2);
	/* the idle child's slot: the one whose pid is not ours */
	for (int i = 0; i < 128 && a.slot < 0; i++)
		if ((uint32_t)rd64(fx->name, SLOT(i)) == (uint32_t)idle)
			a.slot = i;
	assert_true(a.slot >= 0);
	pid = tu_fork(yield_child, &a);
	assert_true(pid > 0);
	rc = tu_wait(pid, 30);
	kill(idle, SIGKILL);
	tu_wait(idle, 10);
	assert_int_equal(rc, 0);
}

/* An undo log entry, as a dead writer could not have left it: one that
 * would restore a word of a slot (or of the lock area, the stripes).  The
 * recovery refuses it and leaves that word alone. */
static void test_live_undo_entry_outside_logged_words(void **state)
{
	struct live *fx = *state;
	uint32_t one = 1, pid;

	make(fx, 4);
	pid = (uint32_t)rd64(fx->name, SLOT(0));
	assert_int_equal(pid, (uint32_t)getpid());	/* our slot */
	wr64(fx->name, H(undo[0].off), SLOT(0));
	wr64(fx->name, H(undo[0].old), 0x1234567);
	wr(fx->name, H(undo_n), &one, 4);
	/* the next writer rolls the log back first */
	assert_int_equal(shmtab_add(fx->t, "u", 1, "x", 1), -EBADMSG);
	assert_int_equal((uint32_t)rd64(fx->name, SLOT(0)), pid);
	assert_int_equal(shmtab_add(fx->t, "u", 1, "x", 1), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
}

#ifdef __GLIBC__
/* The writer mutex's kind (a glibc field) scribbled to a priority-
 * protection one: glibc would abort on an assertion at the next lock.  The
 * library puts the kind back (every process's is the same) and goes on. */
static int kind_child(void *arg)
{
	struct live *fx = arg;
	shmtab *t = NULL;

	if (shmtab_open(fx->name, O_RDWR, 0, NULL, &t) != 0)
		return 4;
	return shmtab_add(t, "m", 1, "x", 1) == 0 ? 0 : 10;
}

static void test_live_mutex_kind_put_back(void **state)
{
	struct live *fx = *state;
	struct shmtab_options opt = { .lock = SHMTAB_LOCK_MUTEX };
	off_t at = H(mutex) + (off_t)offsetof(pthread_mutex_t, __data.__kind);
	uint32_t kind, bad;
	pid_t pid;

	assert_int_equal(tu_create(fx->name, &opt, &fx->t), 0);
	assert_int_equal(shmtab_add(fx->t, "k", 1, "v", 1), 0);
	kind = (uint32_t)rd64(fx->name, at);
	bad = kind | 64;	/* PTHREAD_MUTEX_PRIO_PROTECT_NP */
	wr(fx->name, at, &bad, 4);
	pid = tu_fork(kind_child, fx);
	assert_true(pid > 0);
	assert_int_equal(tu_wait(pid, 30), 0);
	assert_int_equal((uint32_t)rd64(fx->name, at), kind);
	assert_int_equal(tu_find_is(fx->t, "m", "x"), 0);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, live_setup, live_teardown)
		T(test_live_top_outside_heap),
		T(test_live_counts_do_not_grow_the_object),
		T(test_live_pagesize_changed_after_check),
		T(test_live_redo_entry_names_itself),
		T(test_live_yield_loop_asks_the_hook),
		T(test_live_undo_entry_outside_logged_words),
#ifdef __GLIBC__
		T(test_live_mutex_kind_put_back),
#endif
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
