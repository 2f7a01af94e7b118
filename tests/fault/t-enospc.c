/* SPDX-License-Identifier: MIT */
/*
 * t-enospc.c - faults: a full file system, missing permissions, a read-only
 * handle, and growth races.
 *
 *  - enospc: a table on a 2 MiB tmpfs mounted for the test (skipped when
 *    the mount fails) is filled until add returns -ENOSPC; more adds keep
 *    failing cleanly; the table stays valid (check 0) and usable: everything
 *    written before is found, also after a reopen, and remove then add
 *    works again.
 *  - eacces: a 0600 table of root, opened by a child that setuid()s to
 *    nobody: -EACCES for O_RDWR and O_RDONLY (file and POSIX objects).
 *  - erofs: every write through an O_RDONLY handle returns -EROFS and the
 *    object's bytes do not change.
 *  - growth: two processes grow the same tiny table at once while a third
 *    reads and remaps continuously: every acknowledged key is found with
 *    its value, by the reader during the race and by everybody after it;
 *    check 0.
 *
 * enospc and eacces need root (mount, setuid) and are skipped without it
 * (enospc also when the mount fails).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmtab.h"
#include "testutil.h"

static int faults;	/* failures injected and met with the right error */

static void make_val(char *v, size_t len, int i)
{
	tu_fill(v, len, (uint32_t)i * 2654435761u + 7);
}

static int check_val(shmtab *t, const char *k, size_t len, int i)
{
	char want[4096];
	void *v;
	size_t vl;
	int rc = shmtab_find(t, k, strlen(k), &v, &vl);

	if (rc)
		return rc;
	make_val(want, len, i);
	rc = vl == len && !memcmp(v, want, len) ? 0 : -EBADMSG;
	free(v);
	return rc;
}

/* ---- ENOSPC on a small tmpfs ------------------------------------------- */

static char mnt[512];
static int mounted;

static int enospc_teardown(void **state)
{
	(void)state;
	if (mounted)
		umount2(mnt, MNT_DETACH);
	mounted = 0;
	if (mnt[0])
		rmdir(mnt);
	return 0;
}

static void test_enospc(void **state)
{
	char name[600], k[32], v[1024];
	int rc, n, i, more;
	shmtab *t;

	(void)state;
	if (geteuid() != 0)
		skip(); /* mount needs root */
	snprintf(mnt, sizeof(mnt), "%s/enospc-%d", tu_tmpdir(), (int)getpid());
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=2m") < 0) {
		skip();
	}
	mounted = 1;
	snprintf(name, sizeof(name), "file:%s/table", mnt);
	assert_int_equal(tu_create(name, NULL, &t), 0);

	for (n = 0; n < 100000; n++) {
		snprintf(k, sizeof(k), "k%d", n);
		make_val(v, sizeof(v), n);
		rc = shmtab_add(t, k, strlen(k), v, sizeof(v));
		if (rc == -ENOSPC)
			break;
		assert_int_equal(rc, 0);
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(n > 100);
	faults++;
	/* more writes of every kind: fail cleanly or fit in what is left */
	for (more = 0; more < 50; more++) {
		snprintf(k, sizeof(k), "x%d", more);
		make_val(v, sizeof(v), -more);
		rc = shmtab_add(t, k, strlen(k), v, (size_t)(more * 20));
		assert_true(rc == 0 || rc == -ENOSPC);
		if (rc == -ENOSPC)
			faults++;
		/* replace writes the new value before it frees the old */
		make_val(v, sizeof(v), 0);
		rc = shmtab_replace(t, "k0", 2, v, sizeof(v));
		assert_true(rc == 0 || rc == -ENOSPC);
		if (rc == -ENOSPC)
			faults++;
		assert_int_equal(shmtab_remove(t, k, strlen(k)), 0);
	}
	assert_int_equal(shmtab_check(t), 0);
	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(check_val(t, k, sizeof(v), i), 0);
	}
	assert_int_equal(shmtab_length(t), n);
	/* usable: free some room, write again */
	for (i = 0; i < 10; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(shmtab_remove(t, k, strlen(k)), 0);
	}
	for (i = 0; i < 10; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		make_val(v, sizeof(v), i);
		assert_int_equal(shmtab_add(t, k, strlen(k), v, sizeof(v)), 0);
	}
	assert_int_equal(shmtab_check(t), 0);
	assert_int_equal(shmtab_close(t), 0);

	/* nothing lost across a reopen */
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t), 0);
	assert_int_equal(shmtab_check(t), 0);
	assert_int_equal(shmtab_length(t), n);
	for (i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(check_val(t, k, sizeof(v), i), 0);
	}
	shmtab_close(t);
	tu_remove(name);
	assert_int_equal(umount2(mnt, 0), 0);
	mounted = 0;
	print_message("enospc: %d bindings of 1 KiB on a 2 MiB tmpfs, %d "
		      "-ENOSPC met, none lost\n", n, faults);
}

/* ---- permissions --------------------------------------------------------- */

static int as_nobody(void *arg)
{
	const char *name = arg;
	struct passwd *pw = getpwnam("nobody");
	shmtab *t;
	int rc;

	if (!pw || setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0)
		return 10;
	if (geteuid() == 0)
		return 11;
	rc = shmtab_open(name, O_RDWR, 0, NULL, &t);
	if (rc != -EACCES)
		return 20 + (rc == 0);
	rc = shmtab_open(name, O_RDONLY, 0, NULL, &t);
	if (rc != -EACCES)
		return 30 + (rc == 0);
	rc = shmtab_open(name, O_RDWR | O_CREAT, 0666, NULL, &t);
	if (rc != -EACCES)
		return 40 + (rc == 0);
	return 0;
}

static void eacces_on(const char *name)
{
	shmtab *t;
	pid_t pid;

	assert_int_equal(tu_create(name, NULL, &t), 0);
	assert_int_equal(tu_add_str(t, "secret", "value"), 0);
	assert_int_equal(shmtab_chmod(t, 0600), 0);
	assert_int_equal(tu_object_mode(name), 0600);
	pid = tu_fork(as_nobody, (void *)name);
	assert_true(pid > 0);
	assert_int_equal(tu_wait(pid, 20), 0);
	faults += 3;
	/* the owner still has it all */
	assert_int_equal(shmtab_check(t), 0);
	assert_int_equal(shmtab_length(t), 1);
	shmtab_close(t);
	tu_remove(name);
}

static void test_eacces(void **state)
{
	char *f = tu_file_name("eacces"), *p = tu_posix_name("eacces");
	struct stat st;

	(void)state;
	if (geteuid() != 0)
		skip(); /* setuid needs root */
	/* nobody must reach the file's directory to meet the file's mode */
	if (stat(tu_tmpdir(), &st) == 0 && (st.st_mode & 0001) == 0)
		chmod(tu_tmpdir(), st.st_mode | 0001);
	eacces_on(f);
	eacces_on(p);
	free(f);
	free(p);
}

/* ---- read-only handles -------------------------------------------------- */

static int wb_touch(void *block, size_t len, void *ctx)
{
	(void)ctx;
	if (block && len)
		return SHMTAB_REMOVE_BINDING;
	return SHMTAB_CONTINUE;
}

static int group_add(shmtab *t, void *ctx)
{
	(void)ctx;
	return shmtab_add(t, "g", 1, "v", 1);
}

static void erofs_on(const char *name)
{
	shmtab *t;
	void *before;
	size_t len;
	char *snap;

	assert_int_equal(tu_create(name, NULL, &t), 0);
	assert_int_equal(tu_add_str(t, "a", "1"), 0);
	assert_int_equal(tu_add_str(t, "a", "2"), 0);
	assert_int_equal(tu_add_str(t, "b", "3"), 0);
	snap = tu_snapshot(t);
	assert_non_null(snap);
	shmtab_close(t);
	before = tu_read_object(name, &len);
	assert_non_null(before);

	assert_int_equal(shmtab_open(name, O_RDONLY, 0, NULL, &t), 0);
	assert_int_equal(shmtab_add(t, "a", 1, "x", 1), -EROFS);
	assert_int_equal(shmtab_add(t, "new", 3, "x", 1), -EROFS);
	assert_int_equal(shmtab_replace(t, "a", 1, "x", 1), -EROFS);
	assert_int_equal(shmtab_remove(t, "a", 1), -EROFS);
	assert_int_equal(shmtab_write_blocks(t, "a", 1, wb_touch, NULL),
			 -EROFS);
	assert_int_equal(shmtab_group(t, group_add, NULL), -EROFS);
	faults += 6;
	assert_int_equal(shmtab_check(t), 0);
	{
		char *now = tu_snapshot(t);

		assert_non_null(now);
		assert_string_equal(now, snap);
		free(now);
	}
	shmtab_close(t);
	assert_true(tu_object_equals(name, before, len));
	free(before);
	free(snap);
	tu_remove(name);
}

static void test_erofs(void **state)
{
	char *f = tu_file_name("erofs"), *p = tu_posix_name("erofs");

	(void)state;
	erofs_on(f);
	erofs_on(p);
	free(f);
	free(p);
}

/* ---- growth races -------------------------------------------------------- */

#define GROW_KEYS 6000

struct grow {
	const char *name;
	volatile int acked[2];	/* keys 0..acked-1 of each writer are in */
	volatile int done;
};

struct warg {
	struct grow *g;
	int who;
};

static size_t grow_len(int w, int i)
{
	return 40 + (size_t)((i * 37 + w * 11) % 700);
}

static int grow_writer(void *arg)
{
	struct warg *wa = arg;
	struct grow *g = wa->g;
	int w = wa->who, i;
	char k[32], v[800];
	shmtab *t;

	if (shmtab_open(g->name, O_RDWR, 0, NULL, &t))
		return 1;
	for (i = 0; i < GROW_KEYS; i++) {
		snprintf(k, sizeof(k), "w%d-%d", w, i);
		make_val(v, grow_len(w, i), w * 100000 + i);
		if (shmtab_add(t, k, strlen(k), v, grow_len(w, i)))
			return 2;
		__atomic_store_n(&g->acked[w], i + 1, __ATOMIC_SEQ_CST);
	}
	shmtab_close(t);
	return 0;
}

static int key_ok(shmtab *t, int w, int i)
{
	char k[32];

	snprintf(k, sizeof(k), "w%d-%d", w, i);
	return check_val(t, k, grow_len(w, i), w * 100000 + i);
}

static int grow_reader(void *arg)
{
	struct grow *g = arg;
	uint32_t r = 12345;
	long n = 0;
	shmtab *t;
	int rc;

	if (shmtab_open(g->name, O_RDWR, 0, NULL, &t))
		return 1;
	while (!g->done) {
		int w = (int)(n & 1), a = g->acked[w], i;

		r = r * 1103515245u + 12345u;
		if (a == 0)
			continue;
		i = (int)((r >> 8) % (uint32_t)a);
		rc = key_ok(t, w, i);
		if (rc) {
			fprintf(stderr, "growth reader: key w%d-%d: %s\n", w,
				i, shmtab_strerror(rc));
			return rc == -ENOENT ? 2 : rc == -EBADMSG ? 5 : 6;
		}
		if ((n & 255) == 0 && shmtab_length(t) < a)
			return 3;
		n++;
	}
	shmtab_close(t);
	return n > 0 ? 0 : 4;
}

static void growth_on(const char *name)
{
	struct grow *g = mmap(NULL, sizeof(*g), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct shmtab_stat st;
	struct warg wa[2];
	pid_t w[2], rd;
	shmtab *t;
	int i, j;

	assert_true(g != MAP_FAILED);
	g->name = name;
	assert_int_equal(tu_create(name, NULL, &t), 0);
	assert_int_equal(shmtab_stat(t, &st), 0);
	shmtab_close(t);
	rd = tu_fork(grow_reader, g);
	for (i = 0; i < 2; i++) {
		wa[i].g = g;
		wa[i].who = i;
		w[i] = tu_fork(grow_writer, &wa[i]);
		assert_true(w[i] > 0);
	}
	assert_int_equal(tu_wait(w[0], 120), 0);
	assert_int_equal(tu_wait(w[1], 120), 0);
	g->done = 1;
	assert_int_equal(tu_wait(rd, 120), 0);

	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t), 0);
	assert_int_equal(shmtab_check(t), 0);
	assert_int_equal(shmtab_length(t), 2 * GROW_KEYS);
	for (i = 0; i < 2; i++)
		for (j = 0; j < GROW_KEYS; j++)
			assert_int_equal(key_ok(t, i, j), 0);
	{
		struct shmtab_stat after;

		assert_int_equal(shmtab_stat(t, &after), 0);
		assert_true(after.size > st.size);
		print_message("growth: %llu -> %llu bytes, %d keys\n",
			      (unsigned long long)st.size,
			      (unsigned long long)after.size, 2 * GROW_KEYS);
	}
	shmtab_close(t);
	tu_remove(name);
	munmap(g, sizeof(*g));
}

static void test_growth_posix(void **state)
{
	char *n = tu_posix_name("grow");

	(void)state;
	growth_on(n);
	free(n);
}

static void test_growth_file(void **state)
{
	char *n = tu_file_name("grow");

	(void)state;
	growth_on(n);
	free(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_enospc, enospc_teardown),
		cmocka_unit_test(test_eacces),
		cmocka_unit_test(test_erofs),
		cmocka_unit_test(test_growth_posix),
		cmocka_unit_test(test_growth_file),
	};
	int rc;

	rc = cmocka_run_group_tests(tests, NULL, NULL);
	printf("faults: %d injected, all refused with the documented error\n",
	       faults);
	return rc;
}
