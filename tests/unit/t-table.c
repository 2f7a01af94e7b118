/* SPDX-License-Identifier: MIT */
/*
 * t-table.c - bindings in one process (netshm acceptance T26-T38)
 *
 * Every test runs twice: on a POSIX shared memory object and on a file.
 * The teardown checks the structure (shmtab_check) of every table built.
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

#include "shmtab-hooks.h"
#include "shmtab.h"
#include "testutil.h"

struct fx {
	char *name;
	shmtab *t;
	size_t pagesize;
};

static char *new_name(const char *backend, const char *tag)
{
	if (strcmp(backend, "posix") == 0)
		return tu_posix_name(tag);
	return tu_file_name(tag);
}

static int fx_setup_opt(void **state, const struct shmtab_options *opt)
{
	const char *backend = *state ? *state : "posix";
	struct fx *f = calloc(1, sizeof(*f));
	struct shmtab_stat st;

	*state = NULL; /* the teardown must not see the backend string */
	if (!f)
		return -1;
	f->name = new_name(backend, "table");
	if (!f->name || tu_create(f->name, opt, &f->t) != 0) {
		tu_remove(f->name);
		free(f->name);
		free(f);
		return -1;
	}
	f->pagesize = 256;
	if (shmtab_stat(f->t, &st) == 0 && st.pagesize)
		f->pagesize = st.pagesize;
	*state = f;
	return 0;
}

static int fx_setup(void **state)
{
	return fx_setup_opt(state, NULL);
}

static int fx_setup_small(void **state)
{
	struct shmtab_options opt = { .pagesize = 0, .init = 10 };

	return fx_setup_opt(state, &opt);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	int check;

	if (!f)
		return 0;
	check = f->t ? shmtab_check(f->t) : 0;
	shmtab_close(f->t);
	tu_remove(f->name);
	free(f->name);
	free(f);
	assert_int_equal(check, 0);
	return 0;
}

#define KS(s) (s), strlen(s)

static void expect_find(shmtab *t, const void *key, size_t klen,
			const void *val, size_t vlen)
{
	void *got = NULL;
	size_t glen = (size_t)-1;

	assert_int_equal(shmtab_find(t, key, klen, &got, &glen), 0);
	assert_non_null(got);
	assert_int_equal(glen, vlen);
	if (vlen)
		assert_memory_equal(got, val, vlen);
	free(got);
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

/* T26 */
static void test_table_add_hides_older(void **state)
{
	struct fx *f = *state;

	assert_int_equal(tu_add_str(f->t, "k", "b1"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b2"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b3"), 0);
	expect_find(f->t, KS("k"), KS("b3"));
	expect_all(f->t, "k", "b3,b2,b1");
	assert_int_equal(shmtab_length(f->t), 3);
	assert_int_equal(shmtab_mem(f->t, KS("k")), 1);
}

static int count_fn(const void *key, size_t klen, const void *val, size_t vlen,
		    void *ctx)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	++*(int *)ctx;
	return 0;
}

/* T27 */
static void test_table_unbound_key_not_found(void **state)
{
	struct fx *f = *state;
	void *val = NULL;
	size_t vlen = 0;
	int calls = 0;

	assert_int_equal(tu_add_str(f->t, "other", "x"), 0);
	assert_int_equal(shmtab_find(f->t, KS("k"), &val, &vlen), -ENOENT);
	assert_int_equal(shmtab_mem(f->t, KS("k")), 0);
	assert_int_equal(shmtab_find_all(f->t, KS("k"), count_fn, &calls), 0);
	assert_int_equal(calls, 0);
	assert_int_equal(shmtab_length(f->t), 1);
}

/* T28 */
static void test_table_remove_pops_newest(void **state)
{
	struct fx *f = *state;

	assert_int_equal(tu_add_str(f->t, "k", "b1"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b2"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b3"), 0);
	assert_int_equal(shmtab_remove(f->t, KS("k")), 0);
	expect_all(f->t, "k", "b2,b1");
	expect_find(f->t, KS("k"), KS("b2"));
	assert_int_equal(shmtab_length(f->t), 2);
	assert_int_equal(shmtab_remove(f->t, KS("k")), 0);
	expect_all(f->t, "k", "b1");
	assert_int_equal(shmtab_length(f->t), 1);
	assert_int_equal(shmtab_remove(f->t, KS("k")), 0);
	assert_int_equal(shmtab_mem(f->t, KS("k")), 0);
	assert_int_equal(shmtab_length(f->t), 0);
}

/* T28: removing more often than there are bindings is harmless */
static void test_table_remove_unbound_is_zero(void **state)
{
	struct fx *f = *state;

	assert_int_equal(tu_add_str(f->t, "other", "o"), 0);
	assert_int_equal(shmtab_remove(f->t, KS("k")), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b1"), 0);
	assert_int_equal(shmtab_remove(f->t, KS("k")), 0);
	assert_int_equal(shmtab_remove(f->t, KS("k")), 0);
	assert_int_equal(shmtab_remove(f->t, KS("k")), 0);
	assert_int_equal(shmtab_mem(f->t, KS("k")), 0);
	assert_int_equal(shmtab_length(f->t), 1);
	expect_find(f->t, KS("other"), KS("o"));
}

/* T29 */
static void test_table_replace_changes_only_newest(void **state)
{
	struct fx *f = *state;

	assert_int_equal(tu_add_str(f->t, "k", "b1"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b2"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b3"), 0);
	assert_int_equal(shmtab_replace(f->t, KS("k"), KS("b9")), 0);
	expect_all(f->t, "k", "b9,b2,b1");
	assert_int_equal(shmtab_length(f->t), 3);
}

/* T29 */
static void test_table_replace_unbound_adds(void **state)
{
	struct fx *f = *state;

	assert_int_equal(tu_add_str(f->t, "a", "1"), 0);
	assert_int_equal(shmtab_replace(f->t, KS("k"), KS("v")), 0);
	expect_find(f->t, KS("k"), KS("v"));
	expect_all(f->t, "k", "v");
	assert_int_equal(shmtab_length(f->t), 2);
}

/* T30 */
static void test_table_length_counts_bindings(void **state)
{
	struct fx *f = *state;
	int calls = 0;

	assert_int_equal(shmtab_length(f->t), 0);
	assert_int_equal(tu_add_str(f->t, "k1", "x1"), 0);
	assert_int_equal(tu_add_str(f->t, "k1", "x2"), 0);
	assert_int_equal(tu_add_str(f->t, "k1", "x3"), 0);
	assert_int_equal(tu_add_str(f->t, "k2", "y1"), 0);
	assert_int_equal(tu_add_str(f->t, "k3", "z1"), 0);
	assert_int_equal(shmtab_remove(f->t, KS("k3")), 0);
	assert_int_equal(shmtab_length(f->t), 4);
	assert_int_equal(shmtab_iter(f->t, count_fn, &calls), 0);
	assert_int_equal(calls, 4);
}

/* T35 */
static void test_table_keys_with_nul_are_distinct(void **state)
{
	struct fx *f = *state;
	static const char k1[] = { 'a', 0, 'b' };
	static const char v1[] = { 'x', 0, 'y', 0 };
	static const char k3[] = { 'a', 0 };

	assert_int_equal(shmtab_add(f->t, k1, 3, v1, 4), 0);
	assert_int_equal(shmtab_add(f->t, "a", 1, "1", 1), 0);
	assert_int_equal(shmtab_add(f->t, k3, 2, "2", 1), 0);
	expect_find(f->t, k1, 3, v1, 4);
	expect_find(f->t, "a", 1, "1", 1);
	expect_find(f->t, k3, 2, "2", 1);
	assert_int_equal(shmtab_mem(f->t, "a\0b\0", 4), 0);
	assert_int_equal(shmtab_length(f->t), 3);
}

/* T35 */
static void test_table_empty_key_is_a_key(void **state)
{
	struct fx *f = *state;

	assert_int_equal(shmtab_mem(f->t, "", 0), 0);
	assert_int_equal(shmtab_add(f->t, "", 0, KS("empty-key")), 0);
	assert_int_equal(shmtab_add(f->t, KS("x"), KS("other")), 0);
	assert_int_equal(shmtab_mem(f->t, "", 0), 1);
	expect_find(f->t, "", 0, KS("empty-key"));
	expect_find(f->t, KS("x"), KS("other"));
	assert_int_equal(shmtab_remove(f->t, "", 0), 0);
	assert_int_equal(shmtab_mem(f->t, "", 0), 0);
	assert_int_equal(shmtab_mem(f->t, KS("x")), 1);
}

/* T35 */
static void test_table_empty_value_found_with_len_zero(void **state)
{
	struct fx *f = *state;
	void *val = NULL;
	size_t vlen = 99;
	char buf[4] = "abc";

	assert_int_equal(shmtab_add(f->t, KS("k"), "", 0), 0);
	assert_int_equal(shmtab_find(f->t, KS("k"), &val, &vlen), 0);
	assert_non_null(val);
	assert_int_equal(vlen, 0);
	free(val);
	vlen = 99;
	assert_int_equal(
		shmtab_find_into(f->t, KS("k"), buf, sizeof(buf), &vlen), 0);
	assert_int_equal(vlen, 0);
	assert_int_equal(shmtab_mem(f->t, KS("k")), 1);
	assert_int_equal(shmtab_length(f->t), 1);
}

/* T35: the whole byte range in keys and values */
static void test_table_all_byte_values_round_trip(void **state)
{
	struct fx *f = *state;
	unsigned char key[256], val[512];
	int i;

	for (i = 0; i < 256; i++) {
		key[i] = (unsigned char)(255 - i);
		val[i] = (unsigned char)i;
		val[256 + i] = (unsigned char)i;
	}
	assert_int_equal(shmtab_add(f->t, key, sizeof(key), val, sizeof(val)),
			 0);
	expect_find(f->t, key, sizeof(key), val, sizeof(val));
	key[255] ^= 1;
	assert_int_equal(shmtab_mem(f->t, key, sizeof(key)), 0);
}

/* Keys longer than a page. */
static void test_table_long_key_round_trips(void **state)
{
	struct fx *f = *state;
	size_t klen = 5 * f->pagesize + 3;
	unsigned char *k = malloc(klen);
	unsigned char *k2 = malloc(klen);

	assert_non_null(k);
	assert_non_null(k2);
	tu_fill(k, klen, 7);
	memcpy(k2, k, klen);
	k2[klen - 1] ^= 0x80; /* differs only in the last byte */
	assert_int_equal(shmtab_add(f->t, k, klen, KS("long")), 0);
	assert_int_equal(shmtab_add(f->t, k2, klen, KS("long2")), 0);
	assert_int_equal(shmtab_add(f->t, k, klen - 1, KS("shorter")), 0);
	expect_find(f->t, k, klen, KS("long"));
	expect_find(f->t, k2, klen, KS("long2"));
	expect_find(f->t, k, klen - 1, KS("shorter"));
	assert_int_equal(shmtab_length(f->t), 3);
	free(k);
	free(k2);
}

struct vals {
	size_t n;
	size_t len[16];
	unsigned char *v[16];
};

static int collect_fn(const void *key, size_t klen, const void *val,
		      size_t vlen, void *ctx)
{
	struct vals *vs = ctx;

	(void)key;
	(void)klen;
	if (vs->n >= 16)
		return -1;
	vs->v[vs->n] = malloc(vlen ? vlen : 1);
	if (!vs->v[vs->n])
		return -1;
	memcpy(vs->v[vs->n], val, vlen);
	vs->len[vs->n++] = vlen;
	return 0;
}

/* T36 */
static void test_table_large_values_round_trip(void **state)
{
	struct fx *f = *state;
	size_t ps = f->pagesize;
	size_t sizes[] = { 1, ps, ps - 1, ps + 1, 10 * ps, 1 << 20 };
	size_t n = sizeof(sizes) / sizeof(sizes[0]);
	unsigned char *v[6];
	struct vals vs = { 0 };
	char key[16];
	size_t i;

	for (i = 0; i < n; i++) {
		v[i] = malloc(sizes[i]);
		assert_non_null(v[i]);
		tu_fill(v[i], sizes[i], (uint32_t)(100 + i));
		snprintf(key, sizeof(key), "v%zu", i);
		assert_int_equal(shmtab_add(f->t, KS(key), v[i], sizes[i]), 0);
		/* and all of them stacked on one key */
		assert_int_equal(shmtab_add(f->t, KS("all"), v[i], sizes[i]),
				 0);
	}
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "v%zu", i);
		expect_find(f->t, KS(key), v[i], sizes[i]);
	}
	assert_int_equal(shmtab_find_all(f->t, KS("all"), collect_fn, &vs), 0);
	assert_int_equal(vs.n, n);
	for (i = 0; i < n; i++) {
		size_t j = n - 1 - i; /* newest first */

		assert_int_equal(vs.len[i], sizes[j]);
		assert_memory_equal(vs.v[i], v[j], sizes[j]);
		free(vs.v[i]);
	}
	assert_int_equal(shmtab_length(f->t), 2 * n);
	for (i = 0; i < n; i++)
		free(v[i]);
}

/* T36 */
static void test_table_16mib_value_round_trips(void **state)
{
	struct fx *f = *state;
	size_t len = (size_t)16 << 20;
	unsigned char *v = malloc(len);
	void *got = NULL;
	size_t glen = 0;

	assert_non_null(v);
	tu_fill(v, len, 16);
	assert_int_equal(shmtab_add(f->t, KS("big"), v, len), 0);
	assert_int_equal(tu_add_str(f->t, "small", "s"), 0);
	assert_int_equal(shmtab_find(f->t, KS("big"), &got, &glen), 0);
	assert_int_equal(glen, len);
	assert_true(memcmp(got, v, len) == 0);
	free(got);
	expect_find(f->t, KS("small"), KS("s"));
	free(v);
}

static void test_table_find_into_copies_value(void **state)
{
	struct fx *f = *state;
	char buf[32];
	size_t vlen = 0;

	memset(buf, '#', sizeof(buf));
	assert_int_equal(tu_add_str(f->t, "k", "hello"), 0);
	assert_int_equal(
		shmtab_find_into(f->t, KS("k"), buf, sizeof(buf), &vlen), 0);
	assert_int_equal(vlen, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(buf[5], '#'); /* nothing written past the value */
}

static void test_table_find_into_short_buffer_gives_length(void **state)
{
	struct fx *f = *state;
	size_t len = 3 * f->pagesize + 10;
	unsigned char *v = malloc(len);
	unsigned char *buf = malloc(len);
	size_t vlen = 0;
	int r;

	assert_non_null(v);
	assert_non_null(buf);
	tu_fill(v, len, 3);
	assert_int_equal(shmtab_add(f->t, KS("k"), v, len), 0);
	memset(buf, 0xA5, len);
	r = shmtab_find_into(f->t, KS("k"), buf, 10, &vlen);
	assert_true(r >= 0 || r == -ERANGE || r == -ENOBUFS);
	assert_int_equal(vlen, len);
	for (size_t i = 10; i < len; i++) /* never past cap */
		assert_int_equal(buf[i], 0xA5);
	/* asking for the length only */
	vlen = 0;
	r = shmtab_find_into(f->t, KS("k"), NULL, 0, &vlen);
	assert_true(r >= 0 || r == -ERANGE || r == -ENOBUFS);
	assert_int_equal(vlen, len);
	/* the retry with the length it gave works */
	vlen = 0;
	assert_int_equal(shmtab_find_into(f->t, KS("k"), buf, len, &vlen), 0);
	assert_int_equal(vlen, len);
	assert_memory_equal(buf, v, len);
	free(v);
	free(buf);
}

static void test_table_find_into_unbound_enoent(void **state)
{
	struct fx *f = *state;
	char buf[8];
	size_t vlen = 0;

	assert_int_equal(shmtab_find_into(f->t, KS("none"), buf, sizeof(buf),
					  &vlen),
			 -ENOENT);
}

/* T37 */
static void test_table_never_shrinks_and_reuses(void **state)
{
	struct fx *f = *state;
	unsigned char val[400];
	long long s1, s2, s3;
	struct shmtab_stat st;
	char key[32];
	int i;

	for (i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		tu_fill(val, sizeof(val), (uint32_t)i);
		assert_int_equal(shmtab_add(f->t, KS(key), val, sizeof(val)),
				 0);
	}
	assert_int_equal(shmtab_length(f->t), 3000);
	s1 = tu_object_size(f->name);
	assert_true(s1 > 3000LL * 400);
	assert_int_equal(shmtab_stat(f->t, &st), 0);
	assert_int_equal(st.size, (uint64_t)s1);
	for (i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		assert_int_equal(shmtab_remove(f->t, KS(key)), 0);
	}
	assert_int_equal(shmtab_length(f->t), 0);
	s2 = tu_object_size(f->name);
	assert_int_equal(s2, s1);
	assert_int_equal(shmtab_check(f->t), 0);
	for (i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		tu_fill(val, sizeof(val), (uint32_t)i);
		assert_int_equal(shmtab_add(f->t, KS(key), val, sizeof(val)),
				 0);
	}
	s3 = tu_object_size(f->name);
	assert_int_equal(s3, s1);
	assert_int_equal(shmtab_length(f->t), 3000);
	snprintf(key, sizeof(key), "key-%d", 1234);
	tu_fill(val, sizeof(val), 1234);
	expect_find(f->t, KS(key), val, sizeof(val));
}

/* T38 */
static void test_table_grows_past_hint(void **state)
{
	struct fx *f = *state;
	const int n = 100000;
	long long s0 = tu_object_size(f->name);
	char key[32], val[32];
	int i;

	for (i = 0; i < n; i++) {
		int klen = snprintf(key, sizeof(key), "k%d", i);
		int vlen = snprintf(val, sizeof(val), "v%d", i * 7);

		assert_int_equal(shmtab_add(f->t, key, (size_t)klen, val,
					    (size_t)vlen),
				 0);
	}
	assert_int_equal(shmtab_length(f->t), n);
	for (i = 0; i < n; i++) {
		int klen = snprintf(key, sizeof(key), "k%d", i);
		int vlen = snprintf(val, sizeof(val), "v%d", i * 7);

		expect_find(f->t, key, (size_t)klen, val, (size_t)vlen);
	}
	assert_int_equal(shmtab_mem(f->t, KS("k100000")), 0);
	assert_true(tu_object_size(f->name) > s0);
}

/* An O_RDONLY handle opened while the table was small reads it after it
 * grew: large values and many keys. */
static void test_table_growth_seen_by_read_only_handle(void **state)
{
	struct fx *f = *state;
	size_t big = 1 << 20;
	unsigned char *v = malloc(big);
	struct vals vs = { 0 };
	char key[32], val[32];
	shmtab *ro = NULL;
	int i;

	assert_non_null(v);
	assert_int_equal(shmtab_open(f->name, O_RDONLY, 0, NULL, &ro), 0);
	assert_int_equal(shmtab_length(ro), 0);
	for (i = 0; i < 20000; i++) {
		int klen = snprintf(key, sizeof(key), "k%d", i);
		int vlen = snprintf(val, sizeof(val), "v%d", i);

		assert_int_equal(shmtab_add(f->t, key, (size_t)klen, val,
					    (size_t)vlen),
				 0);
	}
	tu_fill(v, big, 77);
	assert_int_equal(shmtab_add(f->t, KS("big"), v, big), 0);
	assert_int_equal(shmtab_add(f->t, KS("big"), KS("small")), 0);
	assert_int_equal(shmtab_length(ro), 20002);
	for (i = 0; i < 20000; i += 7) {
		int klen = snprintf(key, sizeof(key), "k%d", i);
		int vlen = snprintf(val, sizeof(val), "v%d", i);

		expect_find(ro, key, (size_t)klen, val, (size_t)vlen);
	}
	assert_int_equal(shmtab_find_all(ro, KS("big"), collect_fn, &vs), 0);
	assert_int_equal(vs.n, 2);
	assert_int_equal(vs.len[0], 5);
	assert_memory_equal(vs.v[0], "small", 5);
	assert_int_equal(vs.len[1], big);
	assert_memory_equal(vs.v[1], v, big);
	free(vs.v[0]);
	free(vs.v[1]);
	assert_int_equal(shmtab_check(ro), 0);
	assert_int_equal(shmtab_close(ro), 0);
	free(v);
}

/* Two read-write handles of one process see each other's changes. */
static void test_table_two_handles_see_each_other(void **state)
{
	struct fx *f = *state;
	shmtab *t2 = NULL;
	char key[16];
	int i;

	assert_int_equal(shmtab_open(f->name, O_RDWR, 0, NULL, &t2), 0);
	for (i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(tu_add_str(i % 2 ? t2 : f->t, key, key), 0);
	}
	assert_int_equal(shmtab_length(f->t), 3000);
	assert_int_equal(shmtab_length(t2), 3000);
	for (i = 0; i < 3000; i += 3) {
		snprintf(key, sizeof(key), "k%d", i);
		expect_find(i % 2 ? f->t : t2, KS(key), KS(key));
	}
	assert_int_equal(shmtab_replace(t2, KS("k0"), KS("new")), 0);
	expect_find(f->t, KS("k0"), KS("new"));
	assert_int_equal(shmtab_remove(f->t, KS("k1")), 0);
	assert_int_equal(shmtab_mem(t2, KS("k1")), 0);
	assert_int_equal(shmtab_check(t2), 0);
	assert_int_equal(shmtab_close(t2), 0);
}

/* Replacing the newest with a value of another size keeps the older. */
static void test_table_replace_resized_keeps_older(void **state)
{
	struct fx *f = *state;
	size_t big = 10 * f->pagesize + 3;
	unsigned char *v = malloc(big);
	struct vals vs = { 0 };
	size_t i;

	assert_non_null(v);
	tu_fill(v, big, 5);
	assert_int_equal(tu_add_str(f->t, "k", "b1"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "b2"), 0);
	assert_int_equal(shmtab_replace(f->t, KS("k"), v, big), 0);
	assert_int_equal(shmtab_replace(f->t, KS("k"), v, big - 1), 0);
	assert_int_equal(shmtab_find_all(f->t, KS("k"), collect_fn, &vs), 0);
	assert_int_equal(vs.n, 2);
	assert_int_equal(vs.len[0], big - 1);
	assert_memory_equal(vs.v[0], v, big - 1);
	assert_int_equal(vs.len[1], 2);
	assert_memory_equal(vs.v[1], "b1", 2);
	for (i = 0; i < vs.n; i++)
		free(vs.v[i]);
	assert_int_equal(shmtab_replace(f->t, KS("k"), "", 0), 0);
	expect_find(f->t, KS("k"), "", 0);
	assert_int_equal(shmtab_length(f->t), 2);
	free(v);
}

/* Every key removed, then as many new ones: the index copes with the
 * removed cells (no lost key, no false hit, length right). */
static void test_table_remove_all_then_add_again(void **state)
{
	struct fx *f = *state;
	const int n = 20000;
	char key[32];
	int i;

	for (i = 0; i < n; i++) {
		int klen = snprintf(key, sizeof(key), "old%d", i);

		assert_int_equal(shmtab_add(f->t, key, (size_t)klen, "o", 1),
				 0);
	}
	for (i = 0; i < n; i++) {
		int klen = snprintf(key, sizeof(key), "old%d", i);

		assert_int_equal(shmtab_remove(f->t, key, (size_t)klen), 0);
	}
	assert_int_equal(shmtab_length(f->t), 0);
	for (i = 0; i < n; i++) {
		int klen = snprintf(key, sizeof(key), "new%d", i);

		assert_int_equal(shmtab_add(f->t, key, (size_t)klen, "n", 1),
				 0);
	}
	assert_int_equal(shmtab_length(f->t), n);
	for (i = 0; i < n; i += 5) {
		int klen = snprintf(key, sizeof(key), "new%d", i);

		expect_find(f->t, key, (size_t)klen, "n", 1);
		klen = snprintf(key, sizeof(key), "old%d", i);
		assert_int_equal(shmtab_mem(f->t, key, (size_t)klen), 0);
	}
}

static int count_keys_fn(const void *key, size_t klen, void *ctx)
{
	(void)key;
	(void)klen;
	++*(int *)ctx;
	return 0;
}

static void test_table_stat_is_consistent(void **state)
{
	struct fx *f = *state;
	struct shmtab_stat st;
	int keys = 0;

	assert_int_equal(shmtab_stat(f->t, &st), 0);
	assert_int_equal(st.bindings, 0);
	assert_int_equal(st.keys, 0);
	assert_int_equal(tu_add_str(f->t, "a", "1"), 0);
	assert_int_equal(tu_add_str(f->t, "a", "2"), 0);
	assert_int_equal(tu_add_str(f->t, "b", "1"), 0);
	assert_int_equal(tu_add_str(f->t, "c", "1"), 0);
	assert_int_equal(shmtab_remove(f->t, KS("c")), 0);
	memset(&st, 0xff, sizeof(st));
	assert_int_equal(shmtab_stat(f->t, &st), 0);
	assert_int_equal(st.bindings, (uint64_t)shmtab_length(f->t));
	assert_int_equal(st.bindings, 3);
	assert_int_equal(st.keys, 2);
	assert_int_equal(shmtab_iter_keys(f->t, count_keys_fn, &keys), 0);
	assert_int_equal(st.keys, (uint64_t)keys);
	assert_int_equal(st.size, (uint64_t)tu_object_size(f->name));
	assert_int_equal(st.pagesize, f->pagesize);
	assert_true(st.used > 0);
	assert_true(st.used + st.free <= st.size);
	assert_true(st.index_cells >= st.keys);
	assert_true(st.holders >= 1);
	assert_true(st.changes >= 5);
}

static void test_table_check_after_mixed_work(void **state)
{
	struct fx *f = *state;
	unsigned char v[1000];
	char key[16];
	int i;

	for (i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "m%d", i % 37);
		tu_fill(v, (size_t)(i * 13) % sizeof(v), (uint32_t)i);
		switch (i % 4) {
		case 0:
		case 1:
			assert_int_equal(
				shmtab_add(f->t, KS(key), v,
					   (size_t)(i * 13) % sizeof(v)),
				0);
			break;
		case 2:
			assert_int_equal(
				shmtab_replace(f->t, KS(key), v,
					       (size_t)(i * 13) % sizeof(v)),
				0);
			break;
		default:
			assert_int_equal(shmtab_remove(f->t, KS(key)), 0);
		}
	}
	assert_int_equal(shmtab_check(f->t), 0);
}

/* Which replaces go in place (lib/inplace.c): the hook sees its points. */
static int inplace_seen;

static void count_inplace(const char *point)
{
	if (strcmp(point, "inplace-redo") == 0)
		inplace_seen++;
}

static int replace_in_group(shmtab *t, void *ctx)
{
	(void)ctx;
	return shmtab_replace(t, KS("k"), KS("in-a-group"));
}

static void test_table_replace_in_place_when_it_fits(void **state)
{
	struct fx *f = *state;
	char big[600];
	shmtab *none;

	assert_int_equal(shmtab_add(f->t, KS("k"), KS("oldest")), 0);
	assert_int_equal(shmtab_add(f->t, KS("k"), KS("0123456789")), 0);
	shmtab__set_fault(count_inplace);
	inplace_seen = 0;
	/* the same size and smaller: in place, the newest binding only */
	assert_int_equal(shmtab_replace(f->t, KS("k"), KS("abcdefghij")), 0);
	assert_int_equal(inplace_seen, 1);
	assert_int_equal(shmtab_replace(f->t, KS("k"), KS("abc")), 0);
	assert_int_equal(inplace_seen, 2);
	expect_all(f->t, "k", "abc,oldest");
	/* grown past its chunk, or past a redo entry: a new binding */
	assert_int_equal(shmtab_replace(f->t, KS("k"), KS("0123456789-grown")),
			 0);
	assert_int_equal(inplace_seen, 2);
	memset(big, 'b', sizeof(big));
	assert_int_equal(shmtab_replace(f->t, KS("k"), big, sizeof(big)), 0);
	assert_int_equal(shmtab_replace(f->t, KS("k"), big, sizeof(big) - 1),
			 0);
	assert_int_equal(inplace_seen, 2);
	expect_find(f->t, KS("k"), big, sizeof(big) - 1);
	/* an empty value fits */
	assert_int_equal(shmtab_replace(f->t, KS("k"), "", 0), 0);
	assert_int_equal(inplace_seen, 3);
	expect_find(f->t, KS("k"), "", 0);
	/* an unbound key is an add */
	assert_int_equal(shmtab_replace(f->t, KS("new"), KS("v")), 0);
	assert_int_equal(inplace_seen, 3);
	/* inside a group: the group's way (its locks) */
	assert_int_equal(shmtab_group(f->t, replace_in_group, NULL), 0);
	assert_int_equal(inplace_seen, 3);
	expect_all(f->t, "k", "in-a-group,oldest");
	/* a handle without locks never does */
	assert_int_equal(shmtab_open(f->name, O_RDWR, 0,
				     &(struct shmtab_options){
					     .lock = SHMTAB_LOCK_NONE },
				     &none),
			 0);
	assert_int_equal(shmtab_replace(none, KS("k"), KS("no-lock")), 0);
	assert_int_equal(inplace_seen, 3);
	assert_int_equal(shmtab_close(none), 0);
	expect_all(f->t, "k", "no-lock,oldest");
	assert_int_equal(shmtab_replace(f->t, KS("k"), KS("locked!")), 0);
	assert_int_equal(inplace_seen, 4);
	expect_all(f->t, "k", "locked!,oldest");
	shmtab__set_fault(NULL);
	assert_int_equal(shmtab_length(f->t), 3);
	assert_int_equal(shmtab_check(f->t), 0);
}

#define T(fn, backend)                                                      \
	cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, fx_teardown, \
						 (void *)(backend))
#define TS(fn, backend)                           \
	cmocka_unit_test_prestate_setup_teardown( \
		fn, fx_setup_small, fx_teardown, (void *)(backend))
#define BOTH(fn) T(fn, "posix"), T(fn, "file")

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_table_add_hides_older),
		BOTH(test_table_unbound_key_not_found),
		BOTH(test_table_remove_pops_newest),
		BOTH(test_table_remove_unbound_is_zero),
		BOTH(test_table_replace_changes_only_newest),
		BOTH(test_table_replace_unbound_adds),
		BOTH(test_table_length_counts_bindings),
		BOTH(test_table_keys_with_nul_are_distinct),
		BOTH(test_table_empty_key_is_a_key),
		BOTH(test_table_empty_value_found_with_len_zero),
		BOTH(test_table_all_byte_values_round_trip),
		BOTH(test_table_long_key_round_trips),
		BOTH(test_table_large_values_round_trip),
		T(test_table_16mib_value_round_trips, "posix"),
		T(test_table_16mib_value_round_trips, "file"),
		BOTH(test_table_find_into_copies_value),
		BOTH(test_table_find_into_short_buffer_gives_length),
		BOTH(test_table_find_into_unbound_enoent),
		BOTH(test_table_never_shrinks_and_reuses),
		TS(test_table_grows_past_hint, "posix"),
		TS(test_table_grows_past_hint, "file"),
		TS(test_table_growth_seen_by_read_only_handle, "posix"),
		TS(test_table_growth_seen_by_read_only_handle, "file"),
		BOTH(test_table_two_handles_see_each_other),
		BOTH(test_table_replace_resized_keeps_older),
		TS(test_table_remove_all_then_add_again, "posix"),
		TS(test_table_remove_all_then_add_again, "file"),
		BOTH(test_table_stat_is_consistent),
		BOTH(test_table_check_after_mixed_work),
		BOTH(test_table_replace_in_place_when_it_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
