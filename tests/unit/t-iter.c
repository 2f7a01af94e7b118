/* SPDX-License-Identifier: MIT */
/*
 * t-iter.c - iter, iter_keys, visitors and groups (netshm T30-T34)
 *
 * A change from inside a visitor of the same handle returns -EBUSY and
 * changes nothing; reads from inside visitors work.  Every test runs under
 * an alarm so that a self-deadlock fails instead of hanging.
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
	shmtab *t; /* read-write: builds the table */
	shmtab *r; /* visits: t, or an O_RDONLY handle ("-ro") */
};

static int fx_setup(void **state)
{
	const char *backend = *state ? *state : "posix";
	struct fx *f = calloc(1, sizeof(*f));

	*state = NULL;
	if (!f)
		return -1;
	f->name = strncmp(backend, "posix", 5) == 0 ? tu_posix_name("iter") :
						      tu_file_name("iter");
	if (!f->name || tu_create(f->name, NULL, &f->t) != 0) {
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
	*state = f;
	alarm(WATCHDOG_S); /* a deadlock kills the run: never a hang */
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

/* k1: [x3, x2, x1], k2: [y1], k3 added and removed */
static void build_t30(shmtab *t)
{
	assert_int_equal(tu_add_str(t, "k1", "x1"), 0);
	assert_int_equal(tu_add_str(t, "k1", "x2"), 0);
	assert_int_equal(tu_add_str(t, "k1", "x3"), 0);
	assert_int_equal(tu_add_str(t, "k2", "y1"), 0);
	assert_int_equal(tu_add_str(t, "k3", "z1"), 0);
	assert_int_equal(shmtab_remove(t, KS("k3")), 0);
}

struct seen {
	int n;
	char kv[64][16]; /* "key=val" in call order */
};

static int seen_fn(const void *key, size_t klen, const void *val, size_t vlen,
		   void *ctx)
{
	struct seen *s = ctx;

	if (s->n >= 64 || klen + vlen + 2 > sizeof(s->kv[0]))
		return -1000;
	memcpy(s->kv[s->n], key, klen);
	s->kv[s->n][klen] = '=';
	memcpy(s->kv[s->n] + klen + 1, val, vlen);
	s->kv[s->n][klen + 1 + vlen] = '\0';
	s->n++;
	return 0;
}

static int seen_index(const struct seen *s, const char *kv)
{
	int i, at = -1;

	for (i = 0; i < s->n; i++) {
		if (strcmp(s->kv[i], kv) == 0) {
			if (at >= 0)
				return -2; /* seen twice */
			at = i;
		}
	}
	return at;
}

/* T30, T31 */
static void test_iter_visits_each_binding_once(void **state)
{
	struct fx *f = *state;
	struct seen s = { 0 };
	int i1, i2, i3, iy;

	build_t30(f->t);
	assert_int_equal(shmtab_iter(f->r, seen_fn, &s), 0);
	assert_int_equal(s.n, 4);
	i3 = seen_index(&s, "k1=x3");
	i2 = seen_index(&s, "k1=x2");
	i1 = seen_index(&s, "k1=x1");
	iy = seen_index(&s, "k2=y1");
	assert_true(i1 >= 0 && i2 >= 0 && i3 >= 0 && iy >= 0);
	/* per key newest first */
	assert_true(i3 < i2);
	assert_true(i2 < i1);
	assert_int_equal(seen_index(&s, "k3=z1"), -1);
}

struct bigseen {
	unsigned char *hits; /* per key: bitmask of the bindings seen */
	int n, bad;
	int last_b[2000]; /* per key, the last binding index seen */
};

static int bigseen_fn(const void *key, size_t klen, const void *val,
		      size_t vlen, void *ctx)
{
	struct bigseen *s = ctx;
	char kb[32], vb[32];
	int k, b, kk;

	s->n++;
	if (klen >= sizeof(kb) || vlen >= sizeof(vb)) {
		s->bad++;
		return 0;
	}
	memcpy(kb, key, klen);
	kb[klen] = '\0';
	memcpy(vb, val, vlen);
	vb[vlen] = '\0';
	if (sscanf(kb, "key%d", &k) != 1 || sscanf(vb, "%d.%d", &kk, &b) != 2 ||
	    k != kk || k < 0 || k >= 2000 || b < 0 || b > 2) {
		s->bad++;
		return 0;
	}
	if (s->hits[k] & (1 << b))
		s->bad++; /* twice */
	if (s->hits[k] && b >= s->last_b[k])
		s->bad++; /* not newest first */
	s->hits[k] |= (unsigned char)(1 << b);
	s->last_b[k] = b;
	return 0;
}

/* Many keys: every binding exactly once, per key newest first. */
static void test_iter_many_keys_each_binding_once(void **state)
{
	struct fx *f = *state;
	struct bigseen *s = calloc(1, sizeof(*s));
	char key[32], val[32];
	long long expect = 0;
	int k, b;

	assert_non_null(s);
	s->hits = calloc(2000, 1);
	assert_non_null(s->hits);
	for (k = 0; k < 2000; k++) {
		for (b = 0; b <= k % 3; b++) {
			snprintf(key, sizeof(key), "key%d", k);
			snprintf(val, sizeof(val), "%d.%d", k, b);
			assert_int_equal(tu_add_str(f->t, key, val), 0);
			expect++;
		}
	}
	for (k = 0; k < 2000; k += 10) { /* drop the newest of some */
		snprintf(key, sizeof(key), "key%d", k);
		assert_int_equal(shmtab_remove(f->t, KS(key)), 0);
		expect--;
	}
	assert_int_equal(shmtab_length(f->r), expect);
	assert_int_equal(shmtab_iter(f->r, bigseen_fn, s), 0);
	assert_int_equal(s->bad, 0);
	assert_int_equal(s->n, expect);
	for (k = 0; k < 2000; k++) {
		int want = (1 << (k % 3 + 1)) - 1;

		if (k % 10 == 0)
			want &= ~(1 << (k % 3));
		assert_int_equal(s->hits[k], want);
	}
	free(s->hits);
	free(s);
}

struct keyseen {
	int n;
	int k1, k2, k3, other;
};

static int keyseen_fn(const void *key, size_t klen, void *ctx)
{
	struct keyseen *s = ctx;

	s->n++;
	if (klen == 2 && memcmp(key, "k1", 2) == 0)
		s->k1++;
	else if (klen == 2 && memcmp(key, "k2", 2) == 0)
		s->k2++;
	else if (klen == 2 && memcmp(key, "k3", 2) == 0)
		s->k3++;
	else
		s->other++;
	return 0;
}

/* T32 */
static void test_iter_keys_each_live_key_once(void **state)
{
	struct fx *f = *state;
	struct keyseen s = { 0 };

	build_t30(f->t);
	assert_int_equal(shmtab_iter_keys(f->r, keyseen_fn, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.k1, 1);
	assert_int_equal(s.k2, 1);
	assert_int_equal(s.k3, 0);
	assert_int_equal(s.other, 0);
}

static int count_keys_fn(const void *key, size_t klen, void *ctx)
{
	(void)key;
	(void)klen;
	++*(int *)ctx;
	return 0;
}

static void test_iter_keys_empty_table_calls_nothing(void **state)
{
	struct fx *f = *state;
	int n = 0;

	assert_int_equal(shmtab_iter_keys(f->r, count_keys_fn, &n), 0);
	assert_int_equal(shmtab_iter(f->r, seen_fn, &(struct seen){ 0 }), 0);
	assert_int_equal(tu_add_str(f->t, "a", "1"), 0);
	assert_int_equal(shmtab_remove(f->t, KS("a")), 0);
	assert_int_equal(shmtab_iter_keys(f->r, count_keys_fn, &n), 0);
	assert_int_equal(n, 0);
}

struct stopper {
	int calls;
	int ret;
};

static int stop_binding_fn(const void *key, size_t klen, const void *val,
			   size_t vlen, void *ctx)
{
	struct stopper *s = ctx;

	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	s->calls++;
	return s->ret;
}

static int stop_key_fn(const void *key, size_t klen, void *ctx)
{
	struct stopper *s = ctx;

	(void)key;
	(void)klen;
	s->calls++;
	return s->ret;
}

static void test_iter_nonzero_stops_and_is_returned(void **state)
{
	struct fx *f = *state;
	struct stopper s = { 0, 42 };

	build_t30(f->t);
	assert_int_equal(shmtab_iter(f->r, stop_binding_fn, &s), 42);
	assert_int_equal(s.calls, 1);
}

static void test_iter_negative_stop_is_returned(void **state)
{
	struct fx *f = *state;
	struct stopper s = { 0, -ECANCELED };

	build_t30(f->t);
	assert_int_equal(shmtab_iter(f->r, stop_binding_fn, &s), -ECANCELED);
	assert_int_equal(s.calls, 1);
	/* the handle is not left locked */
	assert_int_equal(tu_add_str(f->t, "after", "a"), 0);
}

static void test_iter_keys_nonzero_stops_and_is_returned(void **state)
{
	struct fx *f = *state;
	struct stopper s = { 0, 7 };

	build_t30(f->t);
	assert_int_equal(shmtab_iter_keys(f->r, stop_key_fn, &s), 7);
	assert_int_equal(s.calls, 1);
}

static void test_iter_find_all_nonzero_stops_and_is_returned(void **state)
{
	struct fx *f = *state;
	struct stopper s = { 0, 3 };

	build_t30(f->t);
	assert_int_equal(shmtab_find_all(f->r, KS("k1"), stop_binding_fn, &s),
			 3);
	assert_int_equal(s.calls, 1);
	assert_int_equal(tu_add_str(f->t, "after", "a"), 0);
}

/* ---- changes from inside visitors: -EBUSY, nothing changed ---- */

struct busy {
	shmtab *t;
	int done;
	int r_add, r_add_new, r_replace, r_remove, r_write;
	int inner_calls;
};

static int inner_write_fn(void *block, size_t len, void *ctx)
{
	(void)block;
	(void)len;
	++*(int *)ctx;
	return SHMTAB_REMOVE_BINDING;
}

static void busy_try(struct busy *b)
{
	if (b->done++)
		return;
	b->r_add = shmtab_add(b->t, KS("k1"), KS("new"));
	b->r_add_new = shmtab_add(b->t, KS("fresh"), KS("new"));
	b->r_replace = shmtab_replace(b->t, KS("k1"), KS("new"));
	b->r_remove = shmtab_remove(b->t, KS("k2"));
	b->r_write = shmtab_write_blocks(b->t, KS("k1"), inner_write_fn,
					 &b->inner_calls);
}

static int busy_binding_fn(const void *key, size_t klen, const void *val,
			   size_t vlen, void *ctx)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	busy_try(ctx);
	return 0;
}

static int busy_key_fn(const void *key, size_t klen, void *ctx)
{
	(void)key;
	(void)klen;
	busy_try(ctx);
	return 0;
}

static int busy_read_fn(const void *block, size_t len, void *ctx)
{
	(void)block;
	(void)len;
	busy_try(ctx);
	return SHMTAB_CONTINUE;
}

static int busy_write_fn(void *block, size_t len, void *ctx)
{
	(void)block;
	(void)len;
	busy_try(ctx);
	return SHMTAB_CONTINUE;
}

enum visitor { V_ITER, V_ITER_KEYS, V_FIND_ALL, V_READ_BLOCKS, V_WRITE_BLOCKS };

static void check_busy(struct fx *f, enum visitor v)
{
	struct busy b = { .t = f->t };
	char *before, *after;
	int r = -1;

	build_t30(f->t);
	before = tu_snapshot(f->t);
	assert_non_null(before);
	switch (v) {
	case V_ITER:
		r = shmtab_iter(f->r, busy_binding_fn, &b);
		break;
	case V_ITER_KEYS:
		r = shmtab_iter_keys(f->r, busy_key_fn, &b);
		break;
	case V_FIND_ALL:
		r = shmtab_find_all(f->r, KS("k1"), busy_binding_fn, &b);
		break;
	case V_READ_BLOCKS:
		r = shmtab_read_blocks(f->r, KS("k1"), busy_read_fn, &b);
		break;
	case V_WRITE_BLOCKS:
		r = shmtab_write_blocks(f->t, KS("k1"), busy_write_fn, &b);
		break;
	}
	assert_int_equal(r, 0);
	assert_true(b.done > 1); /* the visitor went on after -EBUSY */
	assert_int_equal(b.r_add, -EBUSY);
	assert_int_equal(b.r_add_new, -EBUSY);
	assert_int_equal(b.r_replace, -EBUSY);
	assert_int_equal(b.r_remove, -EBUSY);
	assert_int_equal(b.r_write, -EBUSY);
	assert_int_equal(b.inner_calls, 0);
	after = tu_snapshot(f->t);
	assert_non_null(after);
	assert_string_equal(after, before);
	assert_int_equal(shmtab_length(f->t), 4);
	assert_int_equal(shmtab_mem(f->t, KS("fresh")), 0);
	/* once the visitor is over, changes work again */
	assert_int_equal(tu_add_str(f->t, "fresh", "ok"), 0);
	assert_int_equal(shmtab_remove(f->t, KS("k2")), 0);
	assert_int_equal(shmtab_length(f->t), 4);
	free(before);
	free(after);
}

/* T33 */
static void test_iter_change_inside_iter_ebusy(void **state)
{
	check_busy(*state, V_ITER);
}

static void test_iter_change_inside_iter_keys_ebusy(void **state)
{
	check_busy(*state, V_ITER_KEYS);
}

static void test_iter_change_inside_find_all_ebusy(void **state)
{
	check_busy(*state, V_FIND_ALL);
}

static void test_iter_change_inside_read_blocks_ebusy(void **state)
{
	check_busy(*state, V_READ_BLOCKS);
}

static void test_iter_change_inside_write_blocks_ebusy(void **state)
{
	check_busy(*state, V_WRITE_BLOCKS);
}

/* ---- reads from inside visitors (T34) ---- */

struct reads {
	shmtab *t;
	int done;
	int find_r, mem1, mem2, mem3, nested;
	long long len;
	size_t vlen;
	char val[8];
};

static int nested_count_fn(const void *key, size_t klen, const void *val,
			   size_t vlen, void *ctx)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	++*(int *)ctx;
	return 0;
}

static void reads_try(struct reads *r)
{
	void *v = NULL;

	if (r->done++)
		return;
	r->find_r = shmtab_find(r->t, KS("k1"), &v, &r->vlen);
	if (r->find_r == 0 && r->vlen < sizeof(r->val))
		memcpy(r->val, v, r->vlen);
	free(v);
	r->mem1 = shmtab_mem(r->t, KS("k2"));
	r->mem2 = shmtab_mem(r->t, KS("k3"));
	r->mem3 = shmtab_mem(r->t, KS("k1"));
	r->len = shmtab_length(r->t);
	r->nested = -1;
	if (shmtab_iter(r->t, nested_count_fn, &r->nested) == 0)
		r->nested++; /* from -1: the number of calls */
	else
		r->nested = -100;
}

static int reads_binding_fn(const void *key, size_t klen, const void *val,
			    size_t vlen, void *ctx)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	reads_try(ctx);
	return 0;
}

static int reads_key_fn(const void *key, size_t klen, void *ctx)
{
	(void)key;
	(void)klen;
	reads_try(ctx);
	return 0;
}

static int reads_read_fn(const void *block, size_t len, void *ctx)
{
	(void)block;
	(void)len;
	reads_try(ctx);
	return SHMTAB_CONTINUE;
}

static int reads_write_fn(void *block, size_t len, void *ctx)
{
	(void)block;
	(void)len;
	reads_try(ctx);
	return SHMTAB_CONTINUE;
}

static void check_reads(struct fx *f, enum visitor v)
{
	struct reads r = { .t = f->r };
	int rc = -1;

	build_t30(f->t);
	switch (v) {
	case V_ITER:
		rc = shmtab_iter(f->r, reads_binding_fn, &r);
		break;
	case V_ITER_KEYS:
		rc = shmtab_iter_keys(f->r, reads_key_fn, &r);
		break;
	case V_FIND_ALL:
		rc = shmtab_find_all(f->r, KS("k2"), reads_binding_fn, &r);
		break;
	case V_READ_BLOCKS:
		rc = shmtab_read_blocks(f->r, KS("k2"), reads_read_fn, &r);
		break;
	case V_WRITE_BLOCKS:
		rc = shmtab_write_blocks(f->t, KS("k2"), reads_write_fn, &r);
		break;
	}
	assert_int_equal(rc, 0);
	assert_true(r.done >= 1);
	assert_int_equal(r.find_r, 0);
	assert_int_equal(r.vlen, 2);
	assert_memory_equal(r.val, "x3", 2);
	assert_int_equal(r.mem1, 1);
	assert_int_equal(r.mem2, 0);
	assert_int_equal(r.mem3, 1);
	assert_int_equal(r.len, 4);
	assert_int_equal(r.nested, 4);
}

static void test_iter_reads_inside_iter_work(void **state)
{
	check_reads(*state, V_ITER);
}

static void test_iter_reads_inside_iter_keys_work(void **state)
{
	check_reads(*state, V_ITER_KEYS);
}

static void test_iter_reads_inside_find_all_work(void **state)
{
	check_reads(*state, V_FIND_ALL);
}

static void test_iter_reads_inside_read_blocks_work(void **state)
{
	check_reads(*state, V_READ_BLOCKS);
}

static void test_iter_reads_inside_write_blocks_work(void **state)
{
	check_reads(*state, V_WRITE_BLOCKS);
}

/* ---- groups ---- */

static int group_ret_fn(shmtab *t, void *ctx)
{
	(void)t;
	return *(int *)ctx;
}

static void test_group_returns_fn_value(void **state)
{
	struct fx *f = *state;
	int v;

	v = 7;
	assert_int_equal(shmtab_group(f->t, group_ret_fn, &v), 7);
	v = 0;
	assert_int_equal(shmtab_group(f->t, group_ret_fn, &v), 0);
	v = -ENOENT;
	assert_int_equal(shmtab_group(f->t, group_ret_fn, &v), -ENOENT);
	/* the handle is usable after each */
	assert_int_equal(tu_add_str(f->t, "k", "v"), 0);
}

struct nest {
	int inner_ret;
	int inner_add;
	int depth_seen;
};

static int inner_fn(shmtab *t, void *ctx)
{
	struct nest *n = ctx;

	n->inner_add = tu_add_str(t, "inner", "i");
	n->depth_seen = shmtab_mem(t, KS("outer")); /* outer's write seen */
	return 5;
}

static int outer_fn(shmtab *t, void *ctx)
{
	struct nest *n = ctx;

	if (tu_add_str(t, "outer", "o") != 0)
		return -1;
	n->inner_ret = shmtab_group(t, inner_fn, n);
	if (shmtab_mem(t, KS("inner")) != 1)
		return -2;
	return 9;
}

static void test_group_nests(void **state)
{
	struct fx *f = *state;
	struct nest n = { -1, -1, -1 };

	assert_int_equal(shmtab_group(f->t, outer_fn, &n), 9);
	assert_int_equal(n.inner_ret, 5);
	assert_int_equal(n.inner_add, 0);
	assert_int_equal(n.depth_seen, 1);
	assert_int_equal(shmtab_mem(f->t, KS("inner")), 1);
	assert_int_equal(shmtab_mem(f->t, KS("outer")), 1);
	assert_int_equal(shmtab_length(f->t), 2);
}

static int group_ops_fn(shmtab *t, void *ctx)
{
	int *step = ctx;
	void *v = NULL;
	size_t vlen = 0;
	int calls = 0;

	*step = 1;
	if (tu_add_str(t, "k", "1") != 0)
		return -1;
	*step = 2;
	if (tu_add_str(t, "k", "2") != 0)
		return -1;
	*step = 3;
	if (shmtab_find(t, KS("k"), &v, &vlen) != 0 || vlen != 1 ||
	    memcmp(v, "2", 1) != 0) {
		free(v);
		return -1;
	}
	free(v);
	*step = 4;
	if (shmtab_replace(t, KS("k"), KS("3")) != 0)
		return -1;
	*step = 5;
	if (shmtab_length(t) != 2)
		return -1;
	*step = 6;
	if (shmtab_iter(t, nested_count_fn, &calls) != 0 || calls != 2)
		return -1;
	*step = 7;
	if (tu_add_str(t, "gone", "g") != 0 ||
	    shmtab_remove(t, KS("gone")) != 0 || shmtab_mem(t, KS("gone")))
		return -1;
	*step = 8;
	return 0;
}

static void test_group_operations_inside_work(void **state)
{
	struct fx *f = *state;
	int step = 0;
	char *s;

	assert_int_equal(shmtab_group(f->t, group_ops_fn, &step), 0);
	assert_int_equal(step, 8);
	s = tu_find_all_joined(f->t, "k", NULL);
	assert_non_null(s);
	assert_string_equal(s, "3,1");
	free(s);
	assert_int_equal(shmtab_length(f->t), 2);
}

static int group_add_fn(shmtab *t, void *ctx)
{
	(void)ctx;
	return tu_add_str(t, "from-group", "g");
}

struct gv {
	shmtab *t;
	int calls, r;
};

static int group_in_visitor_fn(const void *key, size_t klen, const void *val,
			       size_t vlen, void *ctx)
{
	struct gv *g = ctx;

	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	if (g->calls++ == 0)
		g->r = shmtab_group(g->t, group_add_fn, NULL);
	return 0;
}

/* A group does not lift the visitor rule. */
static void test_group_inside_visitor_change_ebusy(void **state)
{
	struct fx *f = *state;
	struct gv g = { .t = f->t, .r = 1 };

	build_t30(f->t);
	assert_int_equal(shmtab_iter(f->t, group_in_visitor_fn, &g), 0);
	assert_int_equal(g.r, -EBUSY);
	assert_int_equal(shmtab_mem(f->t, KS("from-group")), 0);
	assert_int_equal(shmtab_length(f->t), 4);
	/* and a group outside any visitor changes the table */
	assert_int_equal(shmtab_group(f->t, group_add_fn, NULL), 0);
	assert_int_equal(shmtab_mem(f->t, KS("from-group")), 1);
}

static int iter_in_group_fn(shmtab *t, void *ctx)
{
	struct seen *s = ctx;
	int r;

	if (tu_add_str(t, "g", "1") != 0)
		return -1;
	r = shmtab_iter(t, seen_fn, s);
	if (r != 0)
		return r;
	/* once the visit is over, the group writes again */
	return tu_add_str(t, "g", "2");
}

static void test_group_iter_inside_group_sees_own_writes(void **state)
{
	struct fx *f = *state;
	struct seen s = { 0 };

	build_t30(f->t);
	assert_int_equal(shmtab_group(f->t, iter_in_group_fn, &s), 0);
	assert_int_equal(s.n, 5);
	assert_true(seen_index(&s, "g=1") >= 0);
	assert_int_equal(shmtab_length(f->t), 6);
}

#define T(fn, backend)                                                      \
	cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, fx_teardown, \
						 (void *)(backend))
#define BOTH(fn) T(fn, "posix"), T(fn, "file")
/* also visited through a separate O_RDONLY handle, which has its own path */
#define ALL4(fn) BOTH(fn), T(fn, "posix-ro"), T(fn, "file-ro")

int main(void)
{
	const struct CMUnitTest tests[] = {
		ALL4(test_iter_visits_each_binding_once),
		ALL4(test_iter_many_keys_each_binding_once),
		ALL4(test_iter_keys_each_live_key_once),
		ALL4(test_iter_keys_empty_table_calls_nothing),
		ALL4(test_iter_nonzero_stops_and_is_returned),
		ALL4(test_iter_negative_stop_is_returned),
		ALL4(test_iter_keys_nonzero_stops_and_is_returned),
		ALL4(test_iter_find_all_nonzero_stops_and_is_returned),
		BOTH(test_iter_change_inside_iter_ebusy),
		BOTH(test_iter_change_inside_iter_keys_ebusy),
		BOTH(test_iter_change_inside_find_all_ebusy),
		BOTH(test_iter_change_inside_read_blocks_ebusy),
		BOTH(test_iter_change_inside_write_blocks_ebusy),
		ALL4(test_iter_reads_inside_iter_work),
		ALL4(test_iter_reads_inside_iter_keys_work),
		ALL4(test_iter_reads_inside_find_all_work),
		ALL4(test_iter_reads_inside_read_blocks_work),
		BOTH(test_iter_reads_inside_write_blocks_work),
		BOTH(test_group_returns_fn_value),
		BOTH(test_group_nests),
		BOTH(test_group_operations_inside_work),
		BOTH(test_group_inside_visitor_change_ebusy),
		BOTH(test_group_iter_inside_group_sees_own_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
