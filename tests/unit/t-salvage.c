/* SPDX-License-Identifier: MIT */
/*
 * t-salvage.c - shmtab_salvage: what repair can still read
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "shmtab.h"
#include "testutil.h"

struct seen {
	int indexed, orphan;
	char order[4][64];		/* per key k0..k3, values in order */
};

static int take(const void *key, size_t klen, const void *val, size_t vlen,
		int how, void *ctx)
{
	struct seen *s = ctx;
	char v[16];

	if (how == SHMTAB_SALVAGE_INDEXED)
		s->indexed++;
	else
		s->orphan++;
	if (klen == 2 && ((const char *)key)[1] >= '0' &&
	    ((const char *)key)[1] <= '3' && vlen < sizeof(v)) {
		char *o = s->order[((const char *)key)[1] - '0'];

		memcpy(v, val, vlen);
		v[vlen] = 0;
		strncat(o, v, 63 - strlen(o));
		strncat(o, ",", 63 - strlen(o));
	}
	return 0;
}

/* k0..k3 with values v1..vN, then remove drops newest bindings */
static char *build(int n, int removes)
{
	char *name = tu_file_name("salvage");
	shmtab *t;
	char k[8], v[8];

	assert_int_equal(shmtab_open(name, O_RDWR | O_CREAT | O_EXCL, 0600,
				     NULL, &t), 0);
	for (int i = 1; i <= n; i++) {
		snprintf(k, sizeof(k), "k%d", i % 4);
		snprintf(v, sizeof(v), "v%d", i);
		assert_int_equal(shmtab_add(t, k, 2, v, strlen(v)), 0);
	}
	for (int i = 0; i < removes; i++)
		assert_int_equal(shmtab_remove(t, "k1", 2), 0);
	assert_int_equal(shmtab_close(t), 0);
	return name;
}

static void damage_index(const char *name)
{
	int fd = open(name + 5, O_WRONLY);	/* "file:" */

	assert_true(fd >= 0);
	/* the index of a small table is the first chunk of the heap */
	assert_int_equal(pwrite(fd, "\xff\xff\xff\xff\xff\xff\xff\xff", 8,
				32768), 8);
	close(fd);
}

static void test_salvage_whole_table_is_indexed(void **state)
{
	char *name = build(12, 1);
	struct seen s = { 0 };
	shmtab *t;

	(void)state;
	assert_int_equal(shmtab_open(name, O_RDONLY, 0, NULL, &t), 0);
	assert_int_equal(shmtab_salvage(t, take, &s), 0);
	assert_int_equal(s.indexed, 11);
	assert_int_equal(s.orphan, 0);
	assert_string_equal(s.order[0], "v12,v8,v4,");	/* newest first */
	assert_string_equal(s.order[1], "v5,v1,");	/* v9 removed */
	shmtab_close(t);
	tu_remove(name);
	free(name);
}

static void test_salvage_damaged_index_gives_orphans(void **state)
{
	char *name = build(12, 1);
	struct seen s = { 0 };
	shmtab *t;

	(void)state;
	damage_index(name);
	assert_int_equal(shmtab_open(name, O_RDONLY, 0, NULL, &t), 0);
	assert_int_equal(shmtab_check(t), -EBADMSG);
	assert_int_equal(shmtab_salvage(t, take, &s), 0);
	assert_int_equal(s.indexed, 0);
	assert_int_equal(s.orphan, 11);		/* the removed one stays gone */
	assert_string_equal(s.order[0], "v4,v8,v12,");	/* heap order */
	assert_string_equal(s.order[1], "v1,v5,");
	shmtab_close(t);
	tu_remove(name);
	free(name);
}

static int stop_at_three(const void *key, size_t klen, const void *val,
			 size_t vlen, int how, void *ctx)
{
	int *n = ctx;

	(void)key, (void)klen, (void)val, (void)vlen, (void)how;
	return ++*n == 3 ? 42 : 0;
}

static void test_salvage_visitor_stops_walk(void **state)
{
	char *name = build(12, 0);
	shmtab *t;
	int n = 0;

	(void)state;
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t), 0);
	assert_int_equal(shmtab_salvage(t, stop_at_three, &n), 42);
	assert_int_equal(n, 3);
	/* the read lock is gone: a write goes through */
	assert_int_equal(shmtab_add(t, "x", 1, "y", 1), 0);
	assert_int_equal(shmtab_check(t), 0);
	shmtab_close(t);
	tu_remove(name);
	free(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_salvage_whole_table_is_indexed),
		cmocka_unit_test(test_salvage_damaged_index_gives_orphans),
		cmocka_unit_test(test_salvage_visitor_stops_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
