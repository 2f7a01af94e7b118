/* SPDX-License-Identifier: MIT */
/*
 * t-blocks.c - read_blocks / write_blocks (netshm acceptance T39-T47)
 *
 * Our slicing rule: each binding, newest first, comes as blocks of at most
 * pagesize bytes (a value of 3*pagesize+1 bytes gives at least 4 blocks, an
 * empty value exactly one empty block with a non-NULL pointer), then one
 * call with block == NULL.
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
#include <cmocka.h>

#include "shmtab.h"
#include "testutil.h"

struct fx {
	char *name;
	shmtab *t; /* read-write: builds the table */
	shmtab *r; /* reads and checks: t, or an O_RDONLY handle */
	size_t pagesize;
};

static int fx_setup_opt(void **state, size_t pagesize)
{
	const char *backend = *state ? *state : "posix";
	struct shmtab_options opt = { .pagesize = pagesize };
	struct fx *f = calloc(1, sizeof(*f));

	*state = NULL;
	if (!f)
		return -1;
	f->name = strncmp(backend, "posix", 5) == 0 ? tu_posix_name("blocks") :
						      tu_file_name("blocks");
	if (!f->name || tu_create(f->name, &opt, &f->t) != 0) {
		tu_remove(f->name);
		free(f->name);
		free(f);
		return -1;
	}
	f->r = f->t;
	if (strstr(backend, "-ro") &&
	    shmtab_open(f->name, O_RDONLY, 0, NULL, &f->r) != 0) {
		shmtab_close(f->t);
		tu_remove(f->name);
		free(f->name);
		free(f);
		return -1;
	}
	f->pagesize = pagesize ? pagesize : 256;
	*state = f;
	return 0;
}

static int fx_setup(void **state)
{
	return fx_setup_opt(state, 0);
}

static int fx_setup_164(void **state)
{
	return fx_setup_opt(state, 164);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	int check;

	if (!f)
		return 0;
	check = shmtab_check(f->t);
	if (!check && f->r != f->t)
		check = shmtab_check(f->r);
	if (f->r != f->t)
		shmtab_close(f->r);
	shmtab_close(f->t);
	tu_remove(f->name);
	free(f->name);
	free(f);
	assert_int_equal(check, 0);
	return 0;
}

#define KS(s) (s), strlen(s)
#define MAXCALLS 4096
#define MAXB 16

/* What a visitor saw, call by call and binding by binding. */
struct rec {
	int n; /* calls */
	int end[MAXCALLS]; /* 1: the block == NULL call */
	size_t len[MAXCALLS];
	int binding[MAXCALLS]; /* index of the binding of that call */
	int cur; /* binding being delivered */
	int blocks_in[MAXB]; /* blocks per binding */
	unsigned char *data[MAXB]; /* concatenated blocks per binding */
	size_t dlen[MAXB];
	int overflow;
	/* policy for the answers */
	int (*answer)(struct rec *r, void *block, size_t len);
	int iarg;
};

static void rec_free(struct rec *r)
{
	int i;

	for (i = 0; i < MAXB; i++)
		free(r->data[i]);
}

/* Record one call; returns the index of the call. */
static int rec_call(struct rec *r, const void *block, size_t len)
{
	int i = r->n;

	if (r->n >= MAXCALLS || r->cur >= MAXB) {
		r->overflow = 1;
		return -1;
	}
	r->n++;
	r->end[i] = block == NULL;
	r->len[i] = len;
	r->binding[i] = r->cur;
	if (block) {
		unsigned char *d =
			realloc(r->data[r->cur], r->dlen[r->cur] + len + 1);

		if (!d) {
			r->overflow = 1;
			return -1;
		}
		memcpy(d + r->dlen[r->cur], block, len);
		r->data[r->cur] = d;
		r->dlen[r->cur] += len;
		r->blocks_in[r->cur]++;
	}
	return i;
}

static int rec_answer(struct rec *r, void *block, size_t len)
{
	int i = rec_call(r, block, len);
	int a = SHMTAB_CONTINUE;

	if (i < 0)
		return SHMTAB_BREAK;
	if (r->answer)
		a = r->answer(r, block, len);
	/* the binding ends at its NULL call, or at NEXT */
	if (!block || a == SHMTAB_NEXT)
		r->cur++;
	return a;
}

static int read_fn(const void *block, size_t len, void *ctx)
{
	return rec_answer(ctx, (void *)block, len);
}

static int write_fn(void *block, size_t len, void *ctx)
{
	return rec_answer(ctx, block, len);
}

static void expect_all(shmtab *t, const char *key, const char *joined)
{
	int err = 0;
	char *s = tu_find_all_joined(t, key, &err);

	assert_int_equal(err, 0);
	assert_non_null(s);
	assert_string_equal(s, joined);
	free(s);
}

static void add5(shmtab *t)
{
	assert_int_equal(tu_add_str(t, "k", "1"), 0);
	assert_int_equal(tu_add_str(t, "k", "2"), 0);
	assert_int_equal(tu_add_str(t, "k", "3"), 0);
	assert_int_equal(tu_add_str(t, "k", "4"), 0);
	assert_int_equal(tu_add_str(t, "k", "5"), 0);
}

/* T39 */
static void check_sequence(struct fx *f, int use_write)
{
	size_t llen = 3 * f->pagesize + 1;
	unsigned char *L = malloc(llen);
	struct rec *r = calloc(1, sizeof(*r));
	int i, ends = 0, r0;

	assert_non_null(L);
	assert_non_null(r);
	tu_fill(L, llen, 39);
	assert_int_equal(shmtab_add(f->t, KS("k"), L, llen), 0);
	assert_int_equal(tu_add_str(f->t, "k", "ab"), 0);
	if (use_write)
		r0 = shmtab_write_blocks(f->t, KS("k"), write_fn, r);
	else
		r0 = shmtab_read_blocks(f->r, KS("k"), read_fn, r);
	assert_int_equal(r0, 0);
	assert_false(r->overflow);
	for (i = 0; i < r->n; i++) {
		if (r->end[i]) {
			ends++;
			continue;
		}
		assert_true(r->len[i] > 0);
		assert_true(r->len[i] <= f->pagesize);
	}
	assert_int_equal(ends, 2);
	assert_true(r->end[r->n - 1]);
	/* newest first: "ab", its end, then L in >= 4 slices, its end */
	assert_int_equal(r->dlen[0], 2);
	assert_memory_equal(r->data[0], "ab", 2);
	assert_true(r->blocks_in[0] >= 1);
	assert_true(r->end[r->blocks_in[0]]);
	assert_int_equal(r->dlen[1], llen);
	assert_memory_equal(r->data[1], L, llen);
	assert_true(r->blocks_in[1] >= 4);
	assert_int_equal(r->n, r->blocks_in[0] + r->blocks_in[1] + 2);
	/* nothing changed */
	assert_int_equal(shmtab_length(f->r), 2);
	rec_free(r);
	free(r);
	free(L);
}

static void test_blocks_read_sequence(void **state)
{
	check_sequence(*state, 0);
}

static void test_blocks_write_sequence(void **state)
{
	check_sequence(*state, 1);
}

static void test_blocks_empty_value_one_empty_block(void **state)
{
	struct fx *f = *state;
	struct rec *r = calloc(1, sizeof(*r));
	int seen_nonnull = 0;

	assert_non_null(r);
	assert_int_equal(shmtab_add(f->t, KS("k"), "", 0), 0);
	assert_int_equal(shmtab_read_blocks(f->r, KS("k"), read_fn, r), 0);
	assert_int_equal(r->n, 2);
	assert_false(r->end[0]); /* a non-NULL pointer ... */
	assert_int_equal(r->len[0], 0); /* ... of length 0 */
	assert_true(r->end[1]);
	seen_nonnull = r->blocks_in[0];
	assert_int_equal(seen_nonnull, 1);
	rec_free(r);
	free(r);
}

static int answer_next(struct rec *r, void *block, size_t len)
{
	(void)r;
	(void)len;
	return block ? SHMTAB_NEXT : SHMTAB_CONTINUE;
}

/* T40 */
static void test_blocks_next_skips_rest_of_binding(void **state)
{
	struct fx *f = *state;
	size_t llen = 4 * f->pagesize;
	unsigned char *L = malloc(llen);
	struct rec *r = calloc(1, sizeof(*r));
	int i, rc;

	assert_non_null(L);
	assert_non_null(r);
	tu_fill(L, llen, 40);
	assert_int_equal(shmtab_add(f->t, KS("k"), L, llen), 0);
	assert_int_equal(tu_add_str(f->t, "k", "ab"), 0);
	assert_int_equal(shmtab_add(f->t, KS("k"), L, llen), 0);
	r->answer = answer_next;
	rc = shmtab_read_blocks(f->r, KS("k"), read_fn, r);
	assert_true(rc >= 0);
	assert_int_equal(r->n, 3); /* one block per binding */
	for (i = 0; i < 3; i++) {
		assert_false(r->end[i]);
		assert_int_equal(r->binding[i], i);
	}
	assert_int_equal(r->len[1], 2);
	assert_memory_equal(r->data[1], "ab", 2);
	assert_memory_equal(r->data[0], L, r->len[0]);
	assert_int_equal(shmtab_length(f->r), 3);
	rec_free(r);
	free(r);
	free(L);
}

static int answer_break(struct rec *r, void *block, size_t len)
{
	(void)r;
	(void)block;
	(void)len;
	return SHMTAB_BREAK;
}

static int child_add(void *arg)
{
	const char *name = arg;
	shmtab *t;

	if (shmtab_open(name, O_RDWR, 0, NULL, &t) != 0)
		return 1;
	if (tu_add_str(t, "child", "c") != 0)
		return 2;
	return shmtab_close(t) == 0 ? 0 : 3;
}

/* T41 */
static void check_break(struct fx *f, int use_write)
{
	size_t llen = 4 * f->pagesize;
	unsigned char *L = malloc(llen);
	struct rec *r = calloc(1, sizeof(*r));
	pid_t pid;
	int rc;

	assert_non_null(L);
	assert_non_null(r);
	tu_fill(L, llen, 41);
	assert_int_equal(tu_add_str(f->t, "k", "old"), 0);
	assert_int_equal(shmtab_add(f->t, KS("k"), L, llen), 0);
	r->answer = answer_break;
	if (use_write)
		rc = shmtab_write_blocks(f->t, KS("k"), write_fn, r);
	else
		rc = shmtab_read_blocks(f->r, KS("k"), read_fn, r);
	assert_true(rc >= 0);
	assert_int_equal(r->n, 1);
	assert_int_equal(shmtab_length(f->r), 2);
	/* unlocked afterwards: this process and another one can write */
	assert_int_equal(tu_add_str(f->t, "mine", "m"), 0);
	pid = tu_fork(child_add, f->name);
	assert_true(pid > 0);
	assert_int_equal(tu_wait(pid, 30), 0);
	assert_int_equal(shmtab_mem(f->r, KS("child")), 1);
	assert_int_equal(shmtab_length(f->r), 4);
	rec_free(r);
	free(r);
	free(L);
}

static void test_blocks_read_break_stops_and_unlocks(void **state)
{
	check_break(*state, 0);
}

static void test_blocks_write_break_stops_and_unlocks(void **state)
{
	check_break(*state, 1);
}

static int answer_poke(struct rec *r, void *block, size_t len)
{
	/* overwrite the first 4 bytes of the newest binding's first block */
	if (r->n == 1 && block && len >= 4)
		memcpy(block, "ZZZZ", 4);
	return SHMTAB_CONTINUE;
}

/* T42 */
static void test_blocks_write_in_place_visible(void **state)
{
	struct fx *f = *state;
	size_t llen = 2 * f->pagesize + 5;
	unsigned char *L = malloc(llen);
	struct rec *r = calloc(1, sizeof(*r));
	void *got = NULL;
	size_t glen = 0;

	assert_non_null(L);
	assert_non_null(r);
	tu_fill(L, llen, 42);
	assert_int_equal(tu_add_str(f->t, "k", "older"), 0);
	assert_int_equal(shmtab_add(f->t, KS("k"), L, llen), 0);
	r->answer = answer_poke;
	assert_int_equal(shmtab_write_blocks(f->t, KS("k"), write_fn, r), 0);
	memcpy(L, "ZZZZ", 4);
	assert_int_equal(shmtab_find(f->t, KS("k"), &got, &glen), 0);
	assert_int_equal(glen, llen);
	assert_memory_equal(got, L, llen);
	free(got);
	assert_int_equal(shmtab_remove(f->t, KS("k")), 0);
	expect_all(f->r, "k", "older");
	assert_int_equal(shmtab_length(f->r), 1);
	rec_free(r);
	free(r);
	free(L);
}

static int answer_remove_odd(struct rec *r, void *block, size_t len)
{
	(void)r;
	if (block && len == 1 && (((const char *)block)[0] - '0') % 2 == 1)
		return SHMTAB_REMOVE_BINDING;
	return SHMTAB_CONTINUE;
}

/* T43 */
static void test_blocks_remove_selected_bindings(void **state)
{
	struct fx *f = *state;
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	add5(f->t);
	assert_int_equal(tu_add_str(f->t, "other", "o"), 0);
	r->answer = answer_remove_odd;
	assert_int_equal(shmtab_write_blocks(f->t, KS("k"), write_fn, r), 0);
	assert_int_equal(r->cur, 5); /* every binding was visited */
	expect_all(f->r, "k", "4,2");
	assert_int_equal(shmtab_length(f->r), 3);
	expect_all(f->r, "other", "o");
	rec_free(r);
	free(r);
}

static int answer_remove(struct rec *r, void *block, size_t len)
{
	(void)r;
	(void)len;
	return block ? SHMTAB_REMOVE_BINDING : SHMTAB_CONTINUE;
}

static int list_keys_fn(const void *key, size_t klen, void *ctx)
{
	if (klen == 1 && memcmp(key, "k", 1) == 0)
		++*(int *)ctx;
	return 0;
}

/* T44 */
static void test_blocks_remove_every_binding(void **state)
{
	struct fx *f = *state;
	struct rec *r = calloc(1, sizeof(*r));
	int seen = 0;

	assert_non_null(r);
	add5(f->t);
	assert_int_equal(tu_add_str(f->t, "other", "o"), 0);
	r->answer = answer_remove;
	assert_int_equal(shmtab_write_blocks(f->t, KS("k"), write_fn, r), 0);
	assert_int_equal(shmtab_mem(f->r, KS("k")), 0);
	assert_int_equal(shmtab_length(f->r), 1);
	assert_int_equal(shmtab_iter_keys(f->t, list_keys_fn, &seen), 0);
	assert_int_equal(seen, 0);
	/* the key can be bound again */
	assert_int_equal(tu_add_str(f->t, "k", "again"), 0);
	expect_all(f->r, "k", "again");
	rec_free(r);
	free(r);
}

static int answer_remove_then_continue(struct rec *r, void *block, size_t len)
{
	(void)len;
	/* REMOVE on the newest binding's block, CONTINUE at its end */
	if (block && r->cur == 0)
		return SHMTAB_REMOVE_BINDING;
	return SHMTAB_CONTINUE;
}

/* T45 */
static void test_blocks_last_non_continue_decides(void **state)
{
	struct fx *f = *state;
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(tu_add_str(f->t, "k", "b1"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b2"), 0);
	r->answer = answer_remove_then_continue;
	assert_int_equal(shmtab_write_blocks(f->t, KS("k"), write_fn, r), 0);
	assert_true(r->end[1]); /* the end call came after REMOVE */
	expect_all(f->r, "k", "b1");
	assert_int_equal(shmtab_length(f->r), 1);
	rec_free(r);
	free(r);
}

static int answer_remove_at_end(struct rec *r, void *block, size_t len)
{
	(void)len;
	if (!block && r->cur == 1)
		return SHMTAB_REMOVE_BINDING; /* the second binding's end */
	return SHMTAB_CONTINUE;
}

static void test_blocks_remove_at_end_call_removes(void **state)
{
	struct fx *f = *state;
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(tu_add_str(f->t, "k", "b1"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b2"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b3"), 0);
	r->answer = answer_remove_at_end;
	assert_int_equal(shmtab_write_blocks(f->t, KS("k"), write_fn, r), 0);
	expect_all(f->r, "k", "b3,b1");
	assert_int_equal(shmtab_length(f->r), 2);
	rec_free(r);
	free(r);
}

static int answer_remove_then_next(struct rec *r, void *block, size_t len)
{
	(void)len;
	if (r->cur != 0 || !block)
		return SHMTAB_CONTINUE;
	/* first block of the newest: REMOVE, its second block: NEXT */
	return r->blocks_in[0] == 1 ? SHMTAB_REMOVE_BINDING : SHMTAB_NEXT;
}

static void test_blocks_next_after_remove_removes(void **state)
{
	struct fx *f = *state;
	size_t llen = 3 * f->pagesize;
	unsigned char *L = malloc(llen);
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(L);
	assert_non_null(r);
	tu_fill(L, llen, 46);
	assert_int_equal(tu_add_str(f->t, "k", "b1"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b2"), 0);
	assert_int_equal(shmtab_add(f->t, KS("k"), L, llen), 0);
	r->answer = answer_remove_then_next;
	assert_true(shmtab_write_blocks(f->t, KS("k"), write_fn, r) >= 0);
	assert_int_equal(r->blocks_in[0], 2);
	assert_int_equal(r->cur, 3); /* went on with b2 and b1 */
	expect_all(f->r, "k", "b2,b1");
	assert_int_equal(shmtab_length(f->r), 2);
	rec_free(r);
	free(r);
	free(L);
}

static int answer_remove_then_break(struct rec *r, void *block, size_t len)
{
	(void)len;
	if (block && r->blocks_in[0] == 1 && r->cur == 0)
		return SHMTAB_REMOVE_BINDING;
	return SHMTAB_BREAK;
}

/* T47 */
static void test_blocks_break_after_remove_removes_newest(void **state)
{
	struct fx *f = *state;
	size_t llen = 3 * f->pagesize;
	unsigned char *L = malloc(llen);
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(L);
	assert_non_null(r);
	tu_fill(L, llen, 47);
	assert_int_equal(tu_add_str(f->t, "k", "b1"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b2"), 0);
	assert_int_equal(shmtab_add(f->t, KS("k"), L, llen), 0);
	r->answer = answer_remove_then_break;
	assert_true(shmtab_write_blocks(f->t, KS("k"), write_fn, r) >= 0);
	assert_int_equal(r->n, 2); /* REMOVE on block 1, BREAK on 2 */
	expect_all(f->r, "k", "b2,b1");
	assert_int_equal(shmtab_length(f->r), 2);
	rec_free(r);
	free(r);
	free(L);
}

/* T47 with a one-block value: BREAK at the end call */
static void test_blocks_break_at_end_after_remove(void **state)
{
	struct fx *f = *state;
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(tu_add_str(f->t, "k", "b1"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b2"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b3"), 0);
	r->answer = answer_remove_then_break;
	assert_true(shmtab_write_blocks(f->t, KS("k"), write_fn, r) >= 0);
	assert_int_equal(r->n, 2);
	assert_true(r->end[1]);
	expect_all(f->r, "k", "b2,b1");
	assert_int_equal(shmtab_length(f->r), 2);
	rec_free(r);
	free(r);
}

static int answer_remove_raw(struct rec *r, void *block, size_t len)
{
	(void)r;
	(void)block;
	(void)len;
	return SHMTAB_REMOVE_BINDING;
}

/* T46: REMOVE_BINDING is for write_blocks only */
static void test_blocks_read_remove_einval(void **state)
{
	struct fx *f = *state;
	struct rec *r = calloc(1, sizeof(*r));
	char *before, *after;

	assert_non_null(r);
	add5(f->t);
	assert_int_equal(tu_add_str(f->t, "other", "o"), 0);
	before = tu_snapshot(f->r);
	assert_non_null(before);
	r->answer = answer_remove_raw;
	assert_int_equal(shmtab_read_blocks(f->r, KS("k"), read_fn, r),
			 -EINVAL);
	after = tu_snapshot(f->r);
	assert_non_null(after);
	assert_string_equal(after, before);
	expect_all(f->r, "k", "5,4,3,2,1");
	assert_int_equal(shmtab_length(f->r), 6);
	/* and the handle is usable afterwards */
	assert_int_equal(tu_add_str(f->t, "k", "6"), 0);
	free(before);
	free(after);
	rec_free(r);
	free(r);
}

static void test_blocks_unbound_key_never_calls(void **state)
{
	struct fx *f = *state;
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(tu_add_str(f->t, "other", "o"), 0);
	assert_int_equal(tu_add_str(f->t, "gone", "g"), 0);
	assert_int_equal(shmtab_remove(f->t, KS("gone")), 0);
	assert_int_equal(shmtab_read_blocks(f->r, KS("k"), read_fn, r), 0);
	assert_int_equal(shmtab_write_blocks(f->t, KS("k"), write_fn, r), 0);
	assert_int_equal(shmtab_read_blocks(f->r, KS("gone"), read_fn, r), 0);
	assert_int_equal(shmtab_write_blocks(f->t, KS("gone"), write_fn, r), 0);
	assert_int_equal(r->n, 0);
	assert_int_equal(shmtab_length(f->r), 1);
	rec_free(r);
	free(r);
}

#define T(fn, setup, backend)                                            \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, fx_teardown, \
						 (void *)(backend))
/* POSIX and file, each read through the same handle and through a
 * separate O_RDONLY one (which reads by its own path) */
#define BOTH(fn)                                           \
	T(fn, fx_setup, "posix"), T(fn, fx_setup, "file"), \
		T(fn, fx_setup, "posix-ro"), T(fn, fx_setup, "file-ro")

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_blocks_read_sequence),
		T(test_blocks_read_sequence, fx_setup_164, "posix"),
		T(test_blocks_read_sequence, fx_setup_164, "file-ro"),
		BOTH(test_blocks_write_sequence),
		T(test_blocks_write_sequence, fx_setup_164, "file"),
		BOTH(test_blocks_empty_value_one_empty_block),
		BOTH(test_blocks_next_skips_rest_of_binding),
		BOTH(test_blocks_read_break_stops_and_unlocks),
		BOTH(test_blocks_write_break_stops_and_unlocks),
		BOTH(test_blocks_write_in_place_visible),
		BOTH(test_blocks_remove_selected_bindings),
		BOTH(test_blocks_remove_every_binding),
		BOTH(test_blocks_last_non_continue_decides),
		BOTH(test_blocks_remove_at_end_call_removes),
		BOTH(test_blocks_next_after_remove_removes),
		BOTH(test_blocks_break_after_remove_removes_newest),
		BOTH(test_blocks_break_at_end_after_remove),
		BOTH(test_blocks_read_remove_einval),
		BOTH(test_blocks_unbound_key_never_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
