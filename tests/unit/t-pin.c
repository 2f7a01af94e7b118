/* SPDX-License-Identifier: MIT */
/*
 * t-pin.c - big values read in place (lib/pin.c): a pinned value keeps its
 * bytes while other processes replace, remove and write_blocks the key;
 * the chunk comes back for reuse once unpinned, also when its pinner died;
 * the heap stays whole (shmtab_check) throughout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <cmocka.h>

#include "format.h"
#include "shmtab.h"
#include "shmtab-hooks.h"
#include "testutil.h"

#define BIG (256u << 10)

struct fx {
	char *name;
	shmtab *t;
	unsigned char *v1, *v2;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->name = tu_posix_name("pin");
	f->v1 = malloc(BIG);
	f->v2 = malloc(BIG);
	if (!f->name || !f->v1 || !f->v2 ||
	    tu_create(f->name, NULL, &f->t) != 0)
		return -1;
	tu_fill(f->v1, BIG, 1);
	tu_fill(f->v2, BIG, 2);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	shmtab_close(f->t);
	tu_remove(f->name);
	free(f->name);
	free(f->v1);
	free(f->v2);
	free(f);
	return 0;
}

#define LIMBO_BYTES(name) \
	tu_object_word(name, offsetof(struct shm_header, limbo_bytes))

struct writer {
	const char *name;
	const void *val;
	size_t len;
	int rounds;
	bool remove;
};

/* Another process replaces (or removes) key "k" and checks the table. */
static int writer_child(void *arg)
{
	struct writer *w = arg;
	shmtab *t;

	if (shmtab_open(w->name, O_RDWR, 0, NULL, &t) != 0)
		return 30;
	for (int i = 0; i < w->rounds; i++) {
		int err = w->remove ? shmtab_remove(t, "k", 1)
				    : shmtab_replace(t, "k", 1, w->val, w->len);

		if (err != 0)
			return 31;
	}
	if (shmtab_check(t) != 0)
		return 32;
	shmtab_close(t);
	return 0;
}

static int run_writer(struct writer *w)
{
	pid_t pid = tu_fork(writer_child, w);

	return pid < 0 ? -1 : tu_wait(pid, 60);
}

static void test_pin_keeps_bytes_across_replace(void **state)
{
	struct fx *f = *state;
	struct writer w = { f->name, f->v2, BIG, 50, false };
	const void *val;
	size_t vlen, got;
	unsigned pin;
	long long size;

	assert_int_equal(shmtab_replace(f->t, "k", 1, f->v1, BIG), 0);
	assert_int_equal(shmtab__pin(f->t, "k", 1, &val, &vlen, &pin), 0);
	assert_int_equal(vlen, BIG);
	assert_memory_equal(val, f->v1, BIG);
	assert_int_equal(LIMBO_BYTES(f->name), 0);

	/* 50 replaces by another process: the pinned chunk waits in limbo,
	 * the versions after it reuse one another's chunks */
	assert_int_equal(run_writer(&w), 0);
	assert_memory_equal(val, f->v1, BIG);
	assert_true(LIMBO_BYTES(f->name) >= BIG);
	assert_true(LIMBO_BYTES(f->name) < 2 * BIG);
	size = tu_object_size(f->name);
	assert_true(size < 8 * (long long)BIG);
	assert_int_equal(shmtab_check(f->t), 0);
	{
		unsigned char *cur = malloc(BIG);

		assert_non_null(cur);
		assert_int_equal(shmtab_find_into(f->t, "k", 1, cur, BIG, &got),
				 0);
		assert_memory_equal(cur, f->v2, BIG);
		free(cur);
	}

	/* unpinned, the next big allocation takes the chunk back */
	assert_int_equal(shmtab__unpin(f->t, pin), 0);
	assert_int_equal(shmtab__unpin(f->t, pin), -EINVAL);
	assert_int_equal(shmtab_replace(f->t, "k", 1, f->v1, BIG), 0);
	assert_int_equal(LIMBO_BYTES(f->name), 0);
	assert_int_equal(tu_object_size(f->name), size);
	assert_int_equal(shmtab_check(f->t), 0);
}

static void test_pin_keeps_bytes_across_remove(void **state)
{
	struct fx *f = *state;
	struct writer w = { f->name, NULL, 0, 1, true };
	const void *val;
	size_t vlen;
	unsigned pin;

	assert_int_equal(shmtab_add(f->t, "k", 1, f->v1, BIG), 0);
	assert_int_equal(shmtab__pin(f->t, "k", 1, &val, &vlen, &pin), 0);
	assert_int_equal(run_writer(&w), 0);
	assert_int_equal(shmtab_mem(f->t, "k", 1), 0);
	assert_memory_equal(val, f->v1, BIG);
	assert_true(LIMBO_BYTES(f->name) >= BIG);
	/* a new value must not take the pinned chunk */
	assert_int_equal(shmtab_add(f->t, "j", 1, f->v2, BIG), 0);
	assert_memory_equal(val, f->v1, BIG);
	assert_int_equal(shmtab__unpin(f->t, pin), 0);
	assert_int_equal(shmtab_check(f->t), 0);
}

static int zero_block(void *block, size_t len, void *ctx)
{
	(void)ctx;
	if (block)
		memset(block, 0, len);
	return SHMTAB_CONTINUE;
}

static void test_write_blocks_leaves_pinned_bytes(void **state)
{
	struct fx *f = *state;
	const void *val;
	unsigned char *cur = malloc(BIG), *zero = calloc(1, BIG);
	size_t vlen, got;
	unsigned pin;

	assert_non_null(cur);
	assert_non_null(zero);
	assert_int_equal(shmtab_add(f->t, "k", 1, f->v1, BIG), 0);
	assert_int_equal(shmtab__pin(f->t, "k", 1, &val, &vlen, &pin), 0);
	assert_int_equal(shmtab_write_blocks(f->t, "k", 1, zero_block, NULL),
			 0);
	assert_memory_equal(val, f->v1, BIG);
	assert_int_equal(shmtab_find_into(f->t, "k", 1, cur, BIG, &got), 0);
	assert_int_equal(got, BIG);
	assert_memory_equal(cur, zero, BIG);
	assert_int_equal(shmtab_length(f->t), 1);
	assert_int_equal(shmtab_check(f->t), 0);
	assert_int_equal(shmtab__unpin(f->t, pin), 0);

	/* unpinned, write_blocks writes in place again: the same chunk */
	{
		const void *before, *after;

		assert_int_equal(shmtab__pin(f->t, "k", 1, &before, &vlen,
					     &pin), 0);
		assert_int_equal(shmtab__unpin(f->t, pin), 0);
		assert_int_equal(shmtab_write_blocks(f->t, "k", 1, zero_block,
						     NULL), 0);
		assert_int_equal(shmtab__pin(f->t, "k", 1, &after, &vlen,
					     &pin), 0);
		assert_ptr_equal(before, after);
		assert_int_equal(shmtab__unpin(f->t, pin), 0);
	}
	assert_int_equal(shmtab_check(f->t), 0);
	free(cur);
	free(zero);
}

/* A pinned binding below the newest: write_blocks moves it from the
 * middle of the chain, after removing another. */
static int zero_or_remove(void *block, size_t len, void *ctx)
{
	int *calls = ctx;

	if (!block)
		return (*calls)++ == 0 ? SHMTAB_REMOVE_BINDING : SHMTAB_CONTINUE;
	if (*calls > 0)
		memset(block, 0, len);
	return SHMTAB_CONTINUE;
}

static void test_write_blocks_moves_pinned_older_binding(void **state)
{
	struct fx *f = *state;
	const void *val;
	size_t vlen;
	unsigned pin;
	int calls = 0;
	void *cur;

	assert_int_equal(shmtab_add(f->t, "k", 1, f->v1, BIG), 0);
	assert_int_equal(shmtab__pin(f->t, "k", 1, &val, &vlen, &pin), 0);
	assert_int_equal(shmtab_add(f->t, "k", 1, f->v2, BIG), 0);
	assert_int_equal(shmtab_add(f->t, "k", 1, "top", 3), 0);
	/* the newest ("top") is removed, v2 and the pinned v1 zeroed */
	assert_int_equal(shmtab_write_blocks(f->t, "k", 1, zero_or_remove,
					     &calls), 0);
	assert_memory_equal(val, f->v1, BIG);
	assert_int_equal(shmtab_length(f->t), 2);
	assert_int_equal(shmtab_find(f->t, "k", 1, &cur, &vlen), 0);
	assert_int_equal(vlen, BIG);
	assert_true(((unsigned char *)cur)[0] == 0 &&
		    ((unsigned char *)cur)[BIG - 1] == 0);
	free(cur);
	assert_int_equal(shmtab_remove(f->t, "k", 1), 0);
	assert_int_equal(shmtab_find(f->t, "k", 1, &cur, &vlen), 0);
	assert_true(((unsigned char *)cur)[0] == 0 &&
		    ((unsigned char *)cur)[BIG / 2] == 0);
	free(cur);
	assert_int_equal(shmtab_check(f->t), 0);
	assert_int_equal(shmtab__unpin(f->t, pin), 0);
}

/* Two pinned chunks in limbo; the older one unpinned is freed from behind
 * the newer one, which stays. */
static void test_limbo_frees_from_the_middle(void **state)
{
	struct fx *f = *state;
	const void *v1, *v2;
	size_t vlen;
	unsigned p1, p2;

	assert_int_equal(shmtab_add(f->t, "k", 1, f->v1, BIG), 0);
	assert_int_equal(shmtab__pin(f->t, "k", 1, &v1, &vlen, &p1), 0);
	assert_int_equal(shmtab_replace(f->t, "k", 1, f->v2, BIG), 0);
	assert_int_equal(shmtab__pin(f->t, "k", 1, &v2, &vlen, &p2), 0);
	assert_int_equal(shmtab_replace(f->t, "k", 1, f->v1, BIG), 0);
	assert_true(LIMBO_BYTES(f->name) >= 2 * (uint64_t)BIG);
	/* v1's chunk went in first: it is behind v2's on the list */
	assert_int_equal(shmtab__unpin(f->t, p1), 0);
	assert_int_equal(shmtab_replace(f->t, "j", 1, f->v2, BIG), 0);
	assert_true(LIMBO_BYTES(f->name) >= BIG);
	assert_true(LIMBO_BYTES(f->name) < 2 * (uint64_t)BIG);
	assert_memory_equal(v2, f->v2, BIG);
	assert_int_equal(shmtab_check(f->t), 0);
	assert_int_equal(shmtab__unpin(f->t, p2), 0);
	assert_int_equal(shmtab_replace(f->t, "j", 1, f->v1, BIG), 0);
	assert_int_equal(LIMBO_BYTES(f->name), 0);
	assert_int_equal(shmtab_check(f->t), 0);
}

/* Values of one byte repeated, of lengths from 64 KiB on: a torn or
 * reused chunk shows as a byte that differs. */
static int racing_writer(void *arg)
{
	struct fx *f = arg;
	unsigned char *buf = malloc(2 * BIG);
	uint32_t rnd = 11;
	shmtab *t;

	if (!buf || shmtab_open(f->name, O_RDWR, 0, NULL, &t) != 0)
		return 30;
	for (;;) {
		uint32_t r = tu_xorshift32(&rnd);
		size_t len = (65u << 10) + r % BIG;
		char key = (char)('a' + r % 3);

		memset(buf, (int)(r >> 8 & 0xff), len);
		if (r % 7 == 0)
			shmtab_remove(t, &key, 1);
		else if (r % 7 == 1)
			shmtab_add(t, &key, 1, buf, len);
		else if (shmtab_replace(t, &key, 1, buf, len) != 0)
			return 31;
	}
}

static bool uniform(const unsigned char *p, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (p[i] != p[0])
			return false;
	return true;
}

static void test_pins_race_a_writer(void **state)
{
	struct fx *f = *state;
	const void *val[4];
	size_t len[4];
	unsigned pin[4];
	long pins = 0, bad = 0;
	double end = tu_now() + 2;
	pid_t pid;

	pid = tu_fork(racing_writer, f);
	assert_true(pid > 0);
	while (tu_now() < end) {
		for (int i = 0; i < 4; i++) {
			char key = (char)('a' + i % 3);

			if (shmtab__pin(f->t, &key, 1, &val[i], &len[i],
					&pin[i]) != 0) {
				val[i] = NULL;
				continue;
			}
			pins++;
		}
		for (int i = 0; i < 4; i++) {
			if (!val[i])
				continue;
			/* still whole after the writer had its turn */
			if (!uniform(val[i], len[i]))
				bad++;
			assert_int_equal(shmtab__unpin(f->t, pin[i]), 0);
		}
	}
	kill(pid, SIGKILL);
	assert_int_equal(tu_wait(pid, 30), -SIGKILL);
	printf("# %ld pins, %ld changed under their reader\n", pins, bad);
	assert_true(pins > 0);
	assert_int_equal(bad, 0);
	assert_int_equal(tu_add_str(f->t, "x", "y"), 0);	/* recovers */
	assert_int_equal(shmtab_check(f->t), 0);
}

static int pin_and_die(void *arg)
{
	const char *name = arg;
	const void *val;
	size_t vlen;
	unsigned pin;
	shmtab *t;

	if (shmtab_open(name, O_RDWR, 0, NULL, &t) != 0)
		return 30;
	if (shmtab__pin(t, "k", 1, &val, &vlen, &pin) != 0)
		return 31;
	_exit(0);	/* no close: the slot and its pin stay behind */
}

static void test_dead_pinner_keeps_nothing(void **state)
{
	struct fx *f = *state;
	struct writer w = { f->name, f->v2, BIG, 3, false };
	pid_t pid;

	assert_int_equal(shmtab_add(f->t, "k", 1, f->v1, BIG), 0);
	pid = tu_fork(pin_and_die, f->name);
	assert_true(pid > 0);
	assert_int_equal(tu_wait(pid, 30), 0);
	assert_int_equal(run_writer(&w), 0);
	assert_int_equal(LIMBO_BYTES(f->name), 0);
	assert_int_equal(shmtab_check(f->t), 0);
}

/* Forever: pin the newest value (second handle), replace it (first), unpin:
 * every replace puts a chunk into limbo, the next one frees it. */
static int churn_child(void *arg)
{
	struct fx *f = arg;
	shmtab *w, *r;

	if (shmtab_open(f->name, O_RDWR, 0, NULL, &w) != 0 ||
	    shmtab_open(f->name, O_RDWR, 0, NULL, &r) != 0)
		return 30;
	for (unsigned i = 0;; i++) {
		const void *val;
		size_t vlen;
		unsigned pin;

		if (shmtab__pin(r, "k", 1, &val, &vlen, &pin) != 0)
			return 31;
		if (shmtab_replace(w, "k", 1, i % 2 ? f->v1 : f->v2,
				   BIG - i % 4096) != 0)
			return 32;
		if (shmtab__unpin(r, pin) != 0)
			return 33;
	}
}

static void test_killed_in_limbo_steps(void **state)
{
	struct fx *f = *state;
	uint32_t rnd = 7;

	assert_int_equal(shmtab_add(f->t, "k", 1, f->v1, BIG), 0);
	for (int round = 0; round < 20; round++) {
		pid_t pid = tu_fork(churn_child, f);
		int st;

		assert_true(pid > 0);
		tu_sleep_ms(5 + (int)(tu_xorshift32(&rnd) % 20));
		assert_int_equal(kill(pid, SIGKILL), 0);
		st = tu_wait(pid, 30);
		assert_int_equal(st, -SIGKILL);
		/* the next write recovers the dead writer's step, if any */
		assert_int_equal(tu_add_str(f->t, "x", "y"), 0);
		assert_int_equal(shmtab_remove(f->t, "x", 1), 0);
		assert_int_equal(shmtab_check(f->t), 0);
	}
	/* nobody pins any more: a big replace frees all of limbo */
	assert_int_equal(shmtab_replace(f->t, "k", 1, f->v1, BIG), 0);
	assert_int_equal(LIMBO_BYTES(f->name), 0);
	assert_true(tu_object_size(f->name) < 16 * (long long)BIG);
	assert_int_equal(shmtab_check(f->t), 0);
}

struct truncer {
	const char *name;
	size_t init;			/* the cleared table's size hint */
};

/* Another process empties the table in place (O_TRUNC while we hold it
 * open), then fills it: small values, and big ones that want the room the
 * pinned chunks hold. */
static int trunc_child(void *arg)
{
	struct truncer *tr = arg;
	struct shmtab_options opt = { 0, tr->init, SHMTAB_LOCK_BEST };
	unsigned char *big = malloc(BIG);
	char key[32], val[100];
	shmtab *t;

	if (!big || shmtab_open(tr->name, O_RDWR | O_TRUNC, 0, &opt, &t) != 0)
		return 30;
	if (shmtab_length(t) != 0 || shmtab_check(t) != 0)
		return 31;
	memset(val, 'x', sizeof(val));
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "small-%d", i);
		if (shmtab_add(t, key, strlen(key), val, sizeof(val)) != 0)
			return 32;
	}
	for (int i = 0; i < 8; i++) {
		memset(big, 0xa0 + i, BIG);
		snprintf(key, sizeof(key), "big-%d", i);
		if (shmtab_add(t, key, strlen(key), big, BIG - (size_t)i) != 0)
			return 33;
	}
	if (shmtab_check(t) != 0)
		return 34;
	shmtab_close(t);
	free(big);
	return 0;
}

/*
 * A table cleared by O_TRUNC while values are read in place: the pinned
 * chunks keep their bytes through the clear and all that is written after
 * it, the heap stays whole, and unpinned they are reused.  With init 0 the
 * new index fits before the first pinned chunk; with a big hint it goes
 * after the last one.
 */
static void clear_keeps_pins(struct fx *f, size_t init)
{
	struct truncer tr = { f->name, init };
	const void *v1, *v2;
	size_t vlen;
	unsigned p1, p2;
	pid_t pid;

	assert_int_equal(shmtab_add(f->t, "k", 1, f->v1, BIG), 0);
	for (int i = 0; i < 100; i++) {
		char key[16];

		snprintf(key, sizeof(key), "key-%d", i);
		assert_int_equal(tu_add_str(f->t, key, "some value"), 0);
	}
	assert_int_equal(shmtab_add(f->t, "m", 1, f->v2, BIG), 0);
	assert_int_equal(shmtab__pin(f->t, "k", 1, &v1, &vlen, &p1), 0);
	assert_int_equal(shmtab__pin(f->t, "m", 1, &v2, &vlen, &p2), 0);

	pid = tu_fork(trunc_child, &tr);
	assert_true(pid > 0);
	assert_int_equal(tu_wait(pid, 60), 0);
	assert_memory_equal(v1, f->v1, BIG);
	assert_memory_equal(v2, f->v2, BIG);
	assert_true(LIMBO_BYTES(f->name) >= 2 * (uint64_t)BIG);
	assert_true(LIMBO_BYTES(f->name) < 3 * (uint64_t)BIG);
	assert_int_equal(shmtab_mem(f->t, "k", 1), 0);
	assert_int_equal(shmtab_length(f->t), 5008);
	assert_int_equal(shmtab_check(f->t), 0);

	/* unpinned, the next big allocation takes both back */
	assert_int_equal(shmtab__unpin(f->t, p1), 0);
	assert_int_equal(shmtab__unpin(f->t, p2), 0);
	assert_int_equal(shmtab_replace(f->t, "k", 1, f->v1, BIG), 0);
	assert_int_equal(LIMBO_BYTES(f->name), 0);
	assert_int_equal(shmtab_check(f->t), 0);
}

static void test_clear_keeps_pins_index_before(void **state)
{
	clear_keeps_pins(*state, 0);
}

static void test_clear_keeps_pins_index_after(void **state)
{
	clear_keeps_pins(*state, 1000000);
}

/* A clear that died half-way is redone by the next writer: it too keeps
 * the pinned chunks.  (The dead clearer is simulated: its flag is set in
 * the object, as it stays when the process is killed in the clear.) */
static void test_redone_clear_keeps_pins(void **state)
{
	struct fx *f = *state;
	uint64_t c0, hashes[4];
	uint32_t one = 1;
	const void *val;
	size_t vlen;
	unsigned pin;
	shmtab *t2;

	assert_int_equal(tu_add_str(f->t, "a", "b"), 0);
	assert_int_equal(shmtab_add(f->t, "k", 1, f->v1, BIG), 0);
	assert_int_equal(shmtab__pin(f->t, "k", 1, &val, &vlen, &pin), 0);
	c0 = shmtab_counter(f->t);
	assert_int_equal(tu_object_write(f->name,
					 offsetof(struct shm_header, clearing),
					 &one, sizeof(one)), 0);

	assert_int_equal(shmtab_open(f->name, O_RDWR, 0, NULL, &t2), 0);
	assert_int_equal(tu_add_str(t2, "c", "d"), 0);	/* recovers */
	/* the feed tells of the clear (every key changed), then the add */
	assert_int_equal(shmtab_counter(t2), c0 + 2);
	assert_int_equal(shmtab_changes(t2, &c0, hashes, 4), 2);
	assert_int_equal(hashes[0], 0);
	assert_int_equal(shmtab_length(t2), 1);
	assert_int_equal(shmtab_mem(t2, "k", 1), 0);
	assert_true(LIMBO_BYTES(f->name) >= BIG);
	assert_int_equal(shmtab_add(t2, "j", 1, f->v2, BIG), 0);
	assert_memory_equal(val, f->v1, BIG);
	assert_int_equal(shmtab_check(t2), 0);
	assert_int_equal(shmtab__unpin(f->t, pin), 0);
	assert_int_equal(shmtab_replace(t2, "j", 1, f->v1, BIG), 0);
	assert_int_equal(LIMBO_BYTES(f->name), 0);
	assert_int_equal(shmtab_check(t2), 0);
	shmtab_close(t2);
}

/*
 * A pin word that names no chunk's start, 8 bytes into a binding whose
 * length word reads like a big binding's head (a scribble, or a reader
 * stopped with a stale offset): a clear skips it and leaves a heap that
 * shmtab_check walks whole.
 */
static void test_clear_skips_pin_inside_a_chunk(void **state)
{
	struct fx *f = *state;
	const size_t blen = (177u << 12) | 0x5b1u;	/* lens = a REC head */
	unsigned char *buf = calloc(1, blen);
	struct truncer tr = { f->name, 0 };
	uint64_t b, fake;
	const void *val;
	size_t vlen;
	unsigned pin;
	int slot = -1;
	pid_t pid;

	assert_non_null(buf);
	assert_int_equal(shmtab_add(f->t, "p", 1, f->v1, BIG), 0);
	b = tu_object_word(f->name, offsetof(struct shm_header, top));
	assert_int_equal(shmtab_add(f->t, "b", 1, buf, blen), 0);
	assert_int_equal(shmtab__pin(f->t, "p", 1, &val, &vlen, &pin), 0);
	for (unsigned i = 0; i < NSLOTS && slot < 0; i++) {
		/* the low half of the slot's first word is its pid */
		uint64_t w = tu_object_word(f->name, offsetof(struct shm_header,
							      slots[i].pid));

		assert_true(w != UINT64_MAX);
		if ((uint32_t)w == (uint32_t)getpid())
			slot = (int)i;
	}
	assert_true(slot >= 0);
	fake = b + 8;
	assert_int_equal(tu_object_write(f->name,
					 offsetof(struct shm_header,
						  pins[slot][NPINS - 1]),
					 &fake, sizeof(fake)), 0);

	pid = tu_fork(trunc_child, &tr);
	assert_true(pid > 0);
	assert_int_equal(tu_wait(pid, 60), 0);
	assert_memory_equal(val, f->v1, BIG);
	assert_int_equal(shmtab_check(f->t), 0);
	assert_int_equal(shmtab__unpin(f->t, pin), 0);
	free(buf);
}

static void test_pin_refusals(void **state)
{
	struct fx *f = *state;
	const void *val;
	size_t vlen;
	unsigned pins[NPINS], extra;
	shmtab *ro;

	assert_int_equal(shmtab__pin(f->t, "k", 1, &val, &vlen, &pins[0]),
			 -ENOENT);
	assert_int_equal(tu_add_str(f->t, "small", "value"), 0);
	assert_int_equal(shmtab__pin(f->t, "small", 5, &val, &vlen, &pins[0]),
			 -ERANGE);
	assert_int_equal(shmtab__pin(f->t, NULL, 1, &val, &vlen, &pins[0]),
			 -EINVAL);
	assert_int_equal(shmtab__unpin(f->t, NPINS), -EINVAL);
	assert_int_equal(shmtab_add(f->t, "k", 1, f->v1, BIG), 0);
	for (unsigned i = 0; i < NPINS; i++)
		assert_int_equal(shmtab__pin(f->t, "k", 1, &val, &vlen,
					     &pins[i]), 0);
	assert_int_equal(shmtab__pin(f->t, "k", 1, &val, &vlen, &extra),
			 -EAGAIN);
	assert_int_equal(shmtab__unpin(f->t, pins[3]), 0);
	assert_int_equal(shmtab__pin(f->t, "k", 1, &val, &vlen, &extra), 0);
	assert_int_equal(extra, pins[3]);
	/* a read-only handle has no slot to publish a pin in */
	assert_int_equal(shmtab_open(f->name, O_RDONLY, 0, NULL, &ro), 0);
	assert_int_equal(shmtab__pin(ro, "k", 1, &val, &vlen, &extra),
			 -EAGAIN);
	shmtab_close(ro);
	/* close drops the pins with the mapping: a replace reuses */
	shmtab_close(f->t);
	assert_int_equal(shmtab_open(f->name, O_RDWR, 0, NULL, &f->t), 0);
	assert_int_equal(shmtab_replace(f->t, "k", 1, f->v2, BIG), 0);
	assert_int_equal(LIMBO_BYTES(f->name), 0);
	assert_int_equal(shmtab_check(f->t), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_pin_keeps_bytes_across_replace, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_pin_keeps_bytes_across_remove, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_write_blocks_leaves_pinned_bytes, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_write_blocks_moves_pinned_older_binding, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_limbo_frees_from_the_middle,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_pins_race_a_writer,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_dead_pinner_keeps_nothing,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_killed_in_limbo_steps,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_clear_keeps_pins_index_before, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_clear_keeps_pins_index_after, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_redone_clear_keeps_pins,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_clear_skips_pin_inside_a_chunk, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_pin_refusals, fx_setup,
						fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
