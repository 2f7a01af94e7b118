/* SPDX-License-Identifier: MIT */
/*
 * t-feed.c - the change feed: shmtab_counter, shmtab_changes, shmtab_wait
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "shmtab.h"
#include "testutil.h"

#define WATCHDOG_S 120

struct fx {
	char *name;
	shmtab *t;
};

static int fx_setup(void **state)
{
	const char *backend = *state ? *state : "posix";
	struct fx *f = calloc(1, sizeof(*f));

	*state = NULL;
	if (!f)
		return -1;
	f->name = strcmp(backend, "posix") == 0 ? tu_posix_name("feed") :
						  tu_file_name("feed");
	if (!f->name || tu_create(f->name, NULL, &f->t) != 0) {
		tu_remove(f->name);
		free(f->name);
		free(f);
		return -1;
	}
	*state = f;
	alarm(WATCHDOG_S);
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	int check;

	alarm(0);
	if (!f)
		return 0;
	check = shmtab_check(f->t);
	shmtab_close(f->t);
	tu_remove(f->name);
	free(f->name);
	free(f);
	assert_int_equal(check, 0);
	return 0;
}

#define KS(s) (s), strlen(s)

static void test_feed_counter_increases_on_changes(void **state)
{
	struct fx *f = *state;
	uint64_t c0, c1, c2, c3, c4;

	c0 = shmtab_counter(f->t);
	assert_int_equal(tu_add_str(f->t, "k", "1"), 0);
	c1 = shmtab_counter(f->t);
	assert_true(c1 > c0);
	assert_int_equal(shmtab_replace(f->t, KS("k"), KS("2")), 0);
	c2 = shmtab_counter(f->t);
	assert_true(c2 > c1);
	assert_int_equal(shmtab_remove(f->t, KS("k")), 0);
	c3 = shmtab_counter(f->t);
	assert_true(c3 > c2);
	assert_int_equal(shmtab_replace(f->t, KS("new"), KS("n")), 0);
	c4 = shmtab_counter(f->t);
	assert_true(c4 > c3);
}

struct wb {
	int calls;
};

static int remove_fn(void *block, size_t len, void *ctx)
{
	(void)len;
	((struct wb *)ctx)->calls++;
	return block ? SHMTAB_REMOVE_BINDING : SHMTAB_CONTINUE;
}

/* Removing through write_blocks is a change like remove(). */
static void test_feed_counter_increases_on_write_blocks_remove(void **state)
{
	struct fx *f = *state;
	struct wb w = { 0 };
	uint64_t c0;

	assert_int_equal(tu_add_str(f->t, "k", "1"), 0);
	c0 = shmtab_counter(f->t);
	assert_int_equal(shmtab_write_blocks(f->t, KS("k"), remove_fn, &w), 0);
	assert_int_equal(shmtab_mem(f->t, KS("k")), 0);
	assert_true(shmtab_counter(f->t) > c0);
}

static int noop_fn(const void *key, size_t klen, const void *val, size_t vlen,
		   void *ctx)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	(void)ctx;
	return 0;
}

static void test_feed_counter_unchanged_by_reads(void **state)
{
	struct fx *f = *state;
	uint64_t c0;
	void *v = NULL;
	size_t vlen;
	char buf[8];

	assert_int_equal(tu_add_str(f->t, "k", "1"), 0);
	c0 = shmtab_counter(f->t);
	assert_int_equal(shmtab_find(f->t, KS("k"), &v, &vlen), 0);
	free(v);
	assert_int_equal(shmtab_find(f->t, KS("none"), &v, &vlen), -ENOENT);
	assert_int_equal(
		shmtab_find_into(f->t, KS("k"), buf, sizeof(buf), &vlen), 0);
	assert_int_equal(shmtab_mem(f->t, KS("k")), 1);
	assert_int_equal(shmtab_length(f->t), 1);
	assert_int_equal(shmtab_iter(f->t, noop_fn, NULL), 0);
	assert_int_equal(shmtab_find_all(f->t, KS("k"), noop_fn, NULL), 0);
	assert_int_equal(shmtab_counter(f->t), c0);
}

static void test_feed_changes_gives_hashes_in_order(void **state)
{
	struct fx *f = *state;
	uint64_t since, hashes[8];
	uint64_t h1, h2, h3;
	int n;

	h1 = shmtab_key_hash(f->t, KS("alpha"));
	h2 = shmtab_key_hash(f->t, KS("beta"));
	h3 = shmtab_key_hash(f->t, KS("gamma"));
	assert_true(h1 != h2 && h2 != h3 && h1 != h3);
	since = shmtab_counter(f->t);
	assert_int_equal(tu_add_str(f->t, "alpha", "1"), 0);
	assert_int_equal(tu_add_str(f->t, "beta", "2"), 0);
	assert_int_equal(tu_add_str(f->t, "gamma", "3"), 0);
	assert_int_equal(tu_add_str(f->t, "alpha", "4"), 0);
	memset(hashes, 0, sizeof(hashes));
	n = shmtab_changes(f->t, &since, hashes, 8);
	assert_int_equal(n, 4);
	assert_true(hashes[0] == h1);
	assert_true(hashes[1] == h2);
	assert_true(hashes[2] == h3);
	assert_true(hashes[3] == h1);
	assert_true(since == shmtab_counter(f->t));
	/* nothing new: 0, since unchanged */
	n = shmtab_changes(f->t, &since, hashes, 8);
	assert_int_equal(n, 0);
	assert_true(since == shmtab_counter(f->t));
}

static void test_feed_key_hash_is_deterministic(void **state)
{
	struct fx *f = *state;
	static const char k[] = { 'a', 0, 'b' };
	shmtab *t2;

	assert_true(shmtab_key_hash(f->t, KS("abc")) ==
		    shmtab_key_hash(f->t, KS("abc")));
	assert_true(shmtab_key_hash(f->t, k, 3) != shmtab_key_hash(f->t, k, 1));
	/* another handle on the same table computes the same hash */
	assert_int_equal(shmtab_open(f->name, O_RDWR, 0, NULL, &t2), 0);
	assert_true(shmtab_key_hash(t2, k, 3) == shmtab_key_hash(f->t, k, 3));
	shmtab_close(t2);
}

static void test_feed_changes_from_replace_and_remove(void **state)
{
	struct fx *f = *state;
	uint64_t since, hashes[16];
	uint64_t hk = shmtab_key_hash(f->t, KS("k"));
	int n, i;

	assert_int_equal(tu_add_str(f->t, "k", "1"), 0);
	since = shmtab_counter(f->t);
	assert_int_equal(shmtab_replace(f->t, KS("k"), KS("2")), 0);
	assert_int_equal(shmtab_remove(f->t, KS("k")), 0);
	n = shmtab_changes(f->t, &since, hashes, 16);
	assert_true(n >= 2);
	for (i = 0; i < n; i++)
		assert_true(hashes[i] == hk);
	assert_true(since == shmtab_counter(f->t));
}

static void test_feed_changes_respects_max(void **state)
{
	struct fx *f = *state;
	uint64_t since, start, hashes[4];
	char key[16];
	int i, n;

	start = since = shmtab_counter(f->t);
	for (i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		assert_int_equal(tu_add_str(f->t, key, "v"), 0);
	}
	n = shmtab_changes(f->t, &since, hashes, 4);
	assert_int_equal(n, 4);
	assert_true(since == start + 4);
	for (i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		assert_true(hashes[i] == shmtab_key_hash(f->t, KS(key)));
	}
	n = shmtab_changes(f->t, &since, hashes, 4);
	assert_int_equal(n, 4);
	snprintf(key, sizeof(key), "key%d", 4);
	assert_true(hashes[0] == shmtab_key_hash(f->t, KS(key)));
	n = shmtab_changes(f->t, &since, hashes, 4);
	assert_int_equal(n, 2);
	snprintf(key, sizeof(key), "key%d", 9);
	assert_true(hashes[1] == shmtab_key_hash(f->t, KS(key)));
	assert_true(since == shmtab_counter(f->t));
}

/* The ring holds SHMTAB_FEED_SIZE changes: exactly that many still read. */
static void test_feed_full_ring_still_readable(void **state)
{
	struct fx *f = *state;
	uint64_t since, hashes[SHMTAB_FEED_SIZE];
	char key[16];
	int i, n;

	since = shmtab_counter(f->t);
	for (i = 0; i < SHMTAB_FEED_SIZE; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		assert_int_equal(tu_add_str(f->t, key, "v"), 0);
	}
	n = shmtab_changes(f->t, &since, hashes, SHMTAB_FEED_SIZE);
	assert_int_equal(n, SHMTAB_FEED_SIZE);
	snprintf(key, sizeof(key), "key%d", 0);
	assert_true(hashes[0] == shmtab_key_hash(f->t, KS(key)));
	snprintf(key, sizeof(key), "key%d", SHMTAB_FEED_SIZE - 1);
	assert_true(hashes[SHMTAB_FEED_SIZE - 1] ==
		    shmtab_key_hash(f->t, KS(key)));
}

static void test_feed_lost_changes_overflow(void **state)
{
	struct fx *f = *state;
	uint64_t since, old, hashes[8];
	char key[16];
	int i, n;

	old = since = shmtab_counter(f->t);
	for (i = 0; i < SHMTAB_FEED_SIZE + 10; i++) {
		snprintf(key, sizeof(key), "key%d", i % 50);
		assert_int_equal(tu_add_str(f->t, key, "v"), 0);
	}
	n = shmtab_changes(f->t, &since, hashes, 8);
	assert_int_equal(n, -EOVERFLOW);
	assert_true(since == shmtab_counter(f->t));
	assert_true(since > old);
	/* from there on, the feed works again */
	assert_int_equal(tu_add_str(f->t, "after", "a"), 0);
	n = shmtab_changes(f->t, &since, hashes, 8);
	assert_int_equal(n, 1);
	assert_true(hashes[0] == shmtab_key_hash(f->t, KS("after")));
}

static void test_feed_wait_times_out(void **state)
{
	struct fx *f = *state;
	uint64_t since = shmtab_counter(f->t);
	double t0, el;

	t0 = tu_now();
	assert_int_equal(shmtab_wait(f->t, since, 300), -ETIMEDOUT);
	el = tu_now() - t0;
	assert_true(el >= 0.28);
	assert_true(el < 10.0); /* not a speed check: it must end at all */
	assert_true(shmtab_counter(f->t) == since);
}

static void test_feed_wait_returns_at_once_when_moved(void **state)
{
	struct fx *f = *state;
	uint64_t since = shmtab_counter(f->t);
	double t0;

	assert_int_equal(tu_add_str(f->t, "k", "v"), 0);
	t0 = tu_now();
	assert_int_equal(shmtab_wait(f->t, since, 20000), 0);
	assert_true(tu_now() - t0 < 10.0);
}

struct child_arg {
	const char *name;
	struct tu_barrier go;
};

static int child_change(void *p)
{
	struct child_arg *a = p;
	shmtab *t;

	if (shmtab_open(a->name, O_RDWR, 0, NULL, &t) != 0)
		return 1;
	if (tu_barrier_wait(&a->go, 20000) != 0)
		return 2;
	tu_sleep_ms(200); /* let the parent block in shmtab_wait */
	if (tu_add_str(t, "from-child", "c") != 0)
		return 3;
	return shmtab_close(t) == 0 ? 0 : 4;
}

static void test_feed_wait_wakes_on_other_process(void **state)
{
	struct fx *f = *state;
	struct child_arg a = { .name = f->name };
	uint64_t since, hashes[4];
	double t0, el;
	pid_t pid;
	int r;

	assert_int_equal(tu_barrier_init(&a.go), 0);
	since = shmtab_counter(f->t);
	pid = tu_fork(child_change, &a);
	assert_true(pid > 0);
	tu_barrier_post(&a.go);
	t0 = tu_now();
	r = shmtab_wait(f->t, since, 20000);
	el = tu_now() - t0;
	assert_int_equal(tu_wait(pid, 30), 0);
	tu_barrier_destroy(&a.go);
	assert_int_equal(r, 0);
	assert_true(el < 10.0); /* woke on the change, not at the timeout */
	assert_true(shmtab_counter(f->t) != since);
	assert_int_equal(shmtab_mem(f->t, KS("from-child")), 1);
	assert_int_equal(shmtab_changes(f->t, &since, hashes, 4), 1);
	assert_true(hashes[0] == shmtab_key_hash(f->t, KS("from-child")));
}

/* A read-only handle cannot announce itself to writers; it still wakes. */
static void test_feed_wait_rdonly_handle_wakes(void **state)
{
	struct fx *f = *state;
	struct child_arg a = { .name = f->name };
	uint64_t since;
	shmtab *ro = NULL;
	double t0, el;
	pid_t pid;
	int r;

	assert_int_equal(shmtab_open(f->name, O_RDONLY, 0, NULL, &ro), 0);
	assert_int_equal(tu_barrier_init(&a.go), 0);
	since = shmtab_counter(ro);
	assert_true(since == shmtab_counter(f->t));
	pid = tu_fork(child_change, &a);
	assert_true(pid > 0);
	tu_barrier_post(&a.go);
	t0 = tu_now();
	r = shmtab_wait(ro, since, 20000);
	el = tu_now() - t0;
	assert_int_equal(tu_wait(pid, 30), 0);
	tu_barrier_destroy(&a.go);
	assert_int_equal(r, 0);
	assert_true(el < 10.0);
	assert_true(shmtab_counter(ro) != since);
	assert_int_equal(shmtab_mem(ro, KS("from-child")), 1);
	shmtab_close(ro);
}

/* O_TRUNC by another handle drops every binding: watchers must notice. */
static void test_feed_trunc_counts_as_change(void **state)
{
	struct fx *f = *state;
	uint64_t since, hashes[8];
	shmtab *t2 = NULL;
	int n;

	assert_int_equal(tu_add_str(f->t, "k", "v"), 0);
	since = shmtab_counter(f->t);
	assert_int_equal(shmtab_open(f->name, O_RDWR | O_TRUNC, 0, NULL, &t2),
			 0);
	assert_true(shmtab_counter(f->t) != since);
	assert_int_equal(shmtab_wait(f->t, since, 0), 0);
	n = shmtab_changes(f->t, &since, hashes, 8);
	assert_true(n >= 1 || n == -EOVERFLOW);
	assert_true(since == shmtab_counter(f->t));
	assert_int_equal(shmtab_mem(f->t, KS("k")), 0);
	shmtab_close(t2);
}

/*
 * The ring as doc/FORMAT.md lays it out: change n's entry at byte
 * 5568 + 8 * ((n % 256) % 32 * 8 + (n % 256) / 32), so that consecutive
 * changes lie on different cache lines, and it holds the key's hash with
 * the tag (n / 256 + 1) % 256 in its low 8 bits.
 */
static void test_feed_ring_layout(void **state)
{
	struct fx *f = *state;
	uint64_t c0 = shmtab_counter(f->t);
	char k[16];

	for (int i = 0; i < 300; i++) {
		snprintf(k, sizeof(k), "r%d", i);
		assert_int_equal(tu_add_str(f->t, k, "v"), 0);
	}
	assert_true(shmtab_counter(f->t) == c0 + 300);
	for (uint64_t n = c0 + 300 - 256; n < c0 + 300; n++) {
		uint64_t i = n % 256, at = 5568 + 8 * (i % 32 * 8 + i / 32);
		uint64_t w = tu_object_word(f->name, at);

		snprintf(k, sizeof(k), "r%d", (int)(n - c0));
		assert_true((w & ~(uint64_t)0xff) == shmtab_key_hash(f->t, KS(k)));
		assert_int_equal(w & 0xff, (n / 256 + 1) % 256);
	}
}

#define T(fn, backend)                                                      \
	cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, fx_teardown, \
						 (void *)(backend))
#define BOTH(fn) T(fn, "posix"), T(fn, "file")

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_feed_counter_increases_on_changes),
		BOTH(test_feed_counter_increases_on_write_blocks_remove),
		BOTH(test_feed_counter_unchanged_by_reads),
		BOTH(test_feed_changes_gives_hashes_in_order),
		BOTH(test_feed_key_hash_is_deterministic),
		BOTH(test_feed_changes_from_replace_and_remove),
		BOTH(test_feed_changes_respects_max),
		BOTH(test_feed_full_ring_still_readable),
		BOTH(test_feed_lost_changes_overflow),
		BOTH(test_feed_wait_times_out),
		BOTH(test_feed_wait_returns_at_once_when_moved),
		BOTH(test_feed_wait_wakes_on_other_process),
		BOTH(test_feed_wait_rdonly_handle_wakes),
		BOTH(test_feed_trunc_counts_as_change),
		BOTH(test_feed_ring_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
