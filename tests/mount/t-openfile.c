/* SPDX-License-Identifier: MIT */
/*
 * t-openfile.c - files open while their key is removed or renamed
 *
 * Mounts posix:PREFIX (a prefix unique to this run) with the built
 * shmtabfs ($SHMTABFS, -f, so that this program owns its pid), in the
 * strict mode and in the cached mode (-o cache=60), and checks that an
 * open file follows its inode as on tmpfs (shmtabfs(1), THE FILE VIEW):
 *  - a key removed through the mount (rm) while a file of it is open for
 *    writing stays removed when that file is closed, whatever the file's
 *    mode (whole value, a write at an offset, O_APPEND, a key it
 *    created), and a key made again under the name keeps its own value;
 *  - a key renamed away (mv k j) while open: what the file writes lands
 *    in j; a key replaced by a rename (mv x k): the file's writes go
 *    nowhere and k keeps x's value;
 *  - the same in typed tables: appends to an integer (an atomic add), an
 *    array's element unset by rm or moved by mv, a key moved from another
 *    table onto an element;
 *  - a key removed by another process through the library is not
 *    followed: the writer publishes it again (last writer wins);
 *  - a child that inherited a file open for writing and closes it (at its
 *    exit, or before an exec) publishes nothing: the writer's own close
 *    does; a thread that closes what another thread wrote publishes it;
 *  - fstat(2) of a file whose key was removed or replaced by a rename
 *    gives the file's attributes with st_nlink 0, its size the length the
 *    file holds; so does fstat(2) of a file whose key or table another
 *    process removed through the library.
 * Exits 77 without /dev/fuse, fusermount3 or $SHMTABFS.  Every mount is
 * unmounted and every daemon this program started is stopped, also when
 * the watchdog fires; every table is removed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "shmtab.h"
#include "mountutil.h"
#include "mounttab.h"
#include "testutil.h"

#define WATCHDOG_S 120

/* The shmtabfs source of every mount, "posix:PREFIX" (PREFIX unique to
 * this run). */
static char prefix[64], source[80];
static struct tu_mount strict_mnt, cache_mnt;
static struct tu_mount *const mounts[] = { &strict_mnt, &cache_mnt };
#define NMOUNTS (sizeof(mounts) / sizeof(mounts[0]))

/* --- helpers ------------------------------------------------------------ */

/* A file of path opened with flags, text written to it (at off when off
 * is not negative), still open. */
static int open_write(const char *path, int flags, const char *text,
		      off_t off)
{
	size_t len = strlen(text);
	int fd = open(path, flags, 0644);

	assert_true(fd >= 0);
	if (off < 0)
		assert_int_equal(write(fd, text, len), (ssize_t)len);
	else
		assert_int_equal(pwrite(fd, text, len, off), (ssize_t)len);
	return fd;
}

static void assert_absent(const char *path)
{
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
}

/* Every value of key in the table, newest first, joined with ','. */
static void assert_values(shmtab *t, const char *key, const char *want)
{
	char *got = tu_find_all_joined(t, key, NULL);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* --- rm ----------------------------------------------------------------- */

/* rm k while a file of k is open for writing, in each of the file's modes:
 * k stays removed when the file is closed. */
static void test_writer_rm_stays_removed(void **state)
{
	static const struct {
		int flags;
		const char *text;
		off_t off;
	} modes[] = {
		{ O_WRONLY | O_TRUNC, "new", -1 },	/* whole value */
		{ O_WRONLY | O_TRUNC, "", -1 },		/* `: > k` */
		{ O_RDWR, "XY", 1 },			/* at an offset */
		{ O_WRONLY | O_APPEND, "+tail", -1 },	/* appended */
		{ O_RDWR | O_APPEND, "+tail", -1 },
	};
	struct mt_table *f = mt_table_new(prefix, "of", NULL);
	size_t i, m;
	char *k;
	int fd;

	(void)state;
	for (m = 0; m < NMOUNTS; m++) {
		k = mt_path(mounts[m], f, "k");
		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
			assert_int_equal(tu_add_str(f->t, "k", "old"), 0);
			fd = open_write(k, modes[i].flags, modes[i].text,
					modes[i].off);
			assert_int_equal(unlink(k), 0);
			assert_int_equal(close(fd), 0);
			assert_absent(k);
			assert_int_equal(shmtab_mem(f->t, "k", 1), 0);
		}
		/* a key the file created */
		fd = open_write(k, O_WRONLY | O_CREAT | O_EXCL, "mine", -1);
		assert_int_equal(unlink(k), 0);
		assert_int_equal(fsync(fd), 0);
		assert_int_equal(close(fd), 0);
		assert_absent(k);
		assert_int_equal(shmtab_length(f->t), 0);
		free(k);
	}
	mt_table_free(f);
}

/* rm k, then a new k: the old file's writes do not land on the new one. */
static void test_writer_rm_then_new_key(void **state)
{
	struct mt_table *f = mt_table_new(prefix, "of", NULL);
	size_t m;
	char *k;
	int fd, fd2;

	(void)state;
	for (m = 0; m < NMOUNTS; m++) {
		k = mt_path(mounts[m], f, "k");
		assert_int_equal(tu_add_str(f->t, "k", "old"), 0);
		fd = open_write(k, O_WRONLY | O_TRUNC, "lost", -1);
		assert_int_equal(unlink(k), 0);
		fd2 = open_write(k, O_WRONLY | O_CREAT | O_EXCL, "theirs", -1);
		assert_int_equal(close(fd2), 0);
		assert_int_equal(close(fd), 0);
		mt_assert_reads(k, "theirs");
		assert_values(f->t, "k", "theirs");
		assert_int_equal(unlink(k), 0);
		free(k);
	}
	mt_table_free(f);
}

/* --- mv ----------------------------------------------------------------- */

/* mv k j while k is open for writing: the writes land in j, in each of
 * the file's modes, and k is not made again. */
static void test_writer_follows_rename(void **state)
{
	static const struct {
		int flags;
		const char *text;
		off_t off;
		const char *want;
	} modes[] = {
		{ O_WRONLY | O_TRUNC, "new", -1, "new" },
		{ O_RDWR, "XY", 1, "oXYvalue" },
		{ O_WRONLY | O_APPEND, "+tail", -1, "oldvalue+tail" },
		{ O_RDWR | O_APPEND, "+tail", -1, "oldvalue+tail" },
	};
	struct mt_table *f = mt_table_new(prefix, "of", NULL);
	char *k, *j;
	size_t i, m;
	int fd;

	(void)state;
	for (m = 0; m < NMOUNTS; m++) {
		k = mt_path(mounts[m], f, "k");
		j = mt_path(mounts[m], f, "j");
		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
			assert_int_equal(tu_add_str(f->t, "k", "oldvalue"), 0);
			fd = open_write(k, modes[i].flags, modes[i].text,
					modes[i].off);
			assert_int_equal(rename(k, j), 0);
			assert_int_equal(close(fd), 0);
			assert_absent(k);
			assert_int_equal(shmtab_mem(f->t, "k", 1), 0);
			mt_assert_reads(j, modes[i].want);
			assert_values(f->t, "j", modes[i].want);
			assert_int_equal(unlink(j), 0);
		}
		/* twice, before and between commits: each lands where the
		 * key is at that moment */
		assert_int_equal(tu_add_str(f->t, "k", "old"), 0);
		fd = open_write(k, O_WRONLY | O_TRUNC, "one", -1);
		assert_int_equal(rename(k, j), 0);
		assert_int_equal(fsync(fd), 0);
		mt_assert_reads(j, "one");
		assert_int_equal(rename(j, k), 0);
		assert_int_equal(write(fd, "two", 3), 3);
		assert_int_equal(close(fd), 0);
		mt_assert_reads(k, "onetwo");
		assert_absent(j);
		assert_int_equal(unlink(k), 0);
		free(k);
		free(j);
	}
	mt_table_free(f);
}

/* mv x k while the old k is open for writing: k keeps x's value, the
 * writes go to the unlinked file. */
static void test_writer_replaced_by_rename(void **state)
{
	static const int flags[] = {
		O_WRONLY | O_TRUNC, O_RDWR, O_WRONLY | O_APPEND,
	};
	struct mt_table *f = mt_table_new(prefix, "of", NULL);
	char *k, *x;
	size_t i, m;
	int fd;

	(void)state;
	for (m = 0; m < NMOUNTS; m++) {
		k = mt_path(mounts[m], f, "k");
		x = mt_path(mounts[m], f, "x");
		for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			assert_int_equal(tu_add_str(f->t, "k", "old"), 0);
			assert_int_equal(tu_add_str(f->t, "x", "moved"), 0);
			fd = open_write(k, flags[i], "mine", -1);
			assert_int_equal(rename(x, k), 0);
			assert_int_equal(close(fd), 0);
			mt_assert_reads(k, "moved");
			assert_values(f->t, "k", "moved");
			assert_absent(x);
			assert_int_equal(unlink(k), 0);
		}
		free(k);
		free(x);
	}
	mt_table_free(f);
}

/* A change made through the library is not seen by the daemon: a removed
 * key comes back with what the writer wrote (last writer wins). */
static void test_writer_library_remove_not_followed(void **state)
{
	struct mt_table *f = mt_table_new(prefix, "of", NULL);
	char *k = mt_path(&strict_mnt, f, "k");
	int fd;

	(void)state;
	assert_int_equal(tu_add_str(f->t, "k", "old"), 0);
	fd = open_write(k, O_WRONLY | O_TRUNC, "new", -1);
	assert_int_equal(shmtab_remove(f->t, "k", 1), 0);
	assert_int_equal(close(fd), 0);
	mt_assert_reads(k, "new");
	free(k);
	mt_table_free(f);
}

/* --- typed tables ------------------------------------------------------- */

/* Appends to an integer are an add: after rm nothing is added (the key
 * stays removed), after mv k j they add to j. */
static void test_typed_add_follows_inode(void **state)
{
	struct shmtab_schema s = { SHMTAB_KIND_HASH, "string", "int64", NULL };
	struct mt_table *f = mt_table_new(prefix, "of", &s);
	int64_t v;
	char *k, *j;
	size_t m;
	int fd;

	(void)state;
	for (m = 0; m < NMOUNTS; m++) {
		k = mt_path(mounts[m], f, "k");
		j = mt_path(mounts[m], f, "j");
		assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("k"), 5,
						NULL),
				 0);
		fd = open_write(k, O_WRONLY | O_APPEND, "3\n", -1);
		assert_int_equal(unlink(k), 0);
		assert_int_equal(close(fd), 0);
		assert_absent(k);
		assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_STR("k"), &v),
				 -ENOENT);

		assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("k"), 5,
						NULL),
				 0);
		fd = open_write(k, O_WRONLY | O_APPEND, "3\n", -1);
		assert_int_equal(rename(k, j), 0);
		assert_int_equal(close(fd), 0);
		assert_absent(k);
		assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_STR("j"), &v),
				 0);
		assert_int_equal(v, 8);
		mt_assert_reads(j, "8\n");
		assert_int_equal(unlink(j), 0);

		/* a whole value written over a key replaced by a rename */
		assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("k"), 1,
						NULL),
				 0);
		assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("j"), 2,
						NULL),
				 0);
		fd = open_write(k, O_WRONLY | O_TRUNC, "40\n", -1);
		assert_int_equal(rename(j, k), 0);
		assert_int_equal(close(fd), 0);
		mt_assert_reads(k, "2\n");
		assert_int_equal(unlink(k), 0);
		free(k);
		free(j);
	}
	mt_table_free(f);
}

/* An array's element: rm unsets it and the name stays, as a new file of
 * the default value, which the old file's writes do not reach; mv 1 2
 * while 1 is open: the writes land in 2. */
static void test_array_element_follows_inode(void **state)
{
	struct shmtab_schema s = { SHMTAB_KIND_ARRAY, NULL, "int64",
				   SHMTAB_V_I64(-1) };
	struct mt_table *f = mt_table_new(prefix, "of", &s);
	char *e1, *e2;
	int64_t v;
	size_t m;
	int fd;

	(void)state;
	assert_int_equal(shmtab_array_resize(f->t, 4), 0);
	for (m = 0; m < NMOUNTS; m++) {
		e1 = mt_path(mounts[m], f, "1");
		e2 = mt_path(mounts[m], f, "2");
		assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_I64(1), 9, NULL),
				 0);
		fd = open_write(e1, O_WRONLY | O_TRUNC, "7\n", -1);
		assert_int_equal(unlink(e1), 0);
		assert_int_equal(close(fd), 0);
		mt_assert_reads(e1, "-1\n");
		assert_int_equal(shmtab_length(f->t), 0);

		fd = open_write(e1, O_WRONLY | O_TRUNC, "7\n", -1);
		assert_int_equal(rename(e1, e2), 0);
		assert_int_equal(close(fd), 0);
		mt_assert_reads(e2, "7\n");
		mt_assert_reads(e1, "-1\n");
		assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_I64(2), &v), 0);
		assert_int_equal(v, 7);
		assert_int_equal(unlink(e2), 0);
		free(e1);
		free(e2);
	}
	mt_table_free(f);
}

/* mv from a hash table onto an array's element while the key is open for
 * writing: the writes land in the element, the key is not made again. */
static void test_writer_follows_move_across_tables(void **state)
{
	struct shmtab_schema s = { SHMTAB_KIND_ARRAY, NULL, "int64",
				   SHMTAB_V_I64(-1) };
	struct shmtab_schema sh = { SHMTAB_KIND_HASH, "string", "string",
				    NULL };
	struct mt_table *f = mt_table_new(prefix, "of", &s);
	struct mt_table *h = mt_table_new(prefix, "of", &sh);
	char *e3, *k;
	int64_t v;
	size_t m;
	int fd;

	(void)state;
	assert_int_equal(shmtab_array_resize(f->t, 4), 0);
	for (m = 0; m < NMOUNTS; m++) {
		e3 = mt_path(mounts[m], f, "3");
		k = mt_path(mounts[m], h, "k");
		assert_int_equal(shmtab_tadd(h->t, SHMTAB_V_STR("k"),
					     SHMTAB_V_STR("5\n")),
				 0);
		fd = open_write(k, O_WRONLY | O_TRUNC, "12\n", -1);
		assert_int_equal(rename(k, e3), 0);
		mt_assert_reads(e3, "5\n");
		assert_int_equal(close(fd), 0);
		assert_absent(k);
		assert_int_equal(shmtab_length(h->t), 0);
		mt_assert_reads(e3, "12\n");
		assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_I64(3), &v), 0);
		assert_int_equal(v, 12);
		assert_int_equal(unlink(e3), 0);
		free(e3);
		free(k);
	}
	mt_table_free(f);
	mt_table_free(h);
}

/* --- closes by other processes and threads ---------------------------- */

struct thr_write {
	int fd;
	const char *text;
	ssize_t n;
	int hold;	/* >= 0: then wait for a byte on it */
};

static void *write_in_thread(void *arg)
{
	struct thr_write *w = arg;
	char c;

	__atomic_store_n(&w->n, write(w->fd, w->text, strlen(w->text)),
			 __ATOMIC_RELEASE);
	if (w->hold >= 0 && read(w->hold, &c, 1) < 0)
		w->n = -1;
	return NULL;
}

/* text written to fd by a thread, which lives on (hold) or ends; then fd
 * closed by this thread. */
static void write_by_thread_close_here(int fd, const char *text, bool live)
{
	struct thr_write w = { fd, text, 0, -1 };
	int p[2];
	pthread_t th;

	assert_int_equal(pipe(p), 0);
	if (live)
		w.hold = p[0];
	assert_int_equal(pthread_create(&th, NULL, write_in_thread, &w), 0);
	if (!live)
		assert_int_equal(pthread_join(th, NULL), 0);
	while (!__atomic_load_n(&w.n, __ATOMIC_ACQUIRE))
		usleep(1000);
	assert_int_equal(w.n, (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
	if (live) {
		assert_int_equal(write(p[1], "", 1), 1);
		assert_int_equal(pthread_join(th, NULL), 0);
	}
	close(p[0]);
	close(p[1]);
}

/* A child that inherited a file open for writing flushes it when it
 * closes it or exits: what the parent wrote so far is not published then
 * (half a value), only at the parent's own close. */
static void test_writer_child_close_publishes_nothing(void **state)
{
	struct mt_table *f = mt_table_new(prefix, "ch", NULL);
	pid_t pid;
	size_t m;
	char *k;
	int fd;

	(void)state;
	for (m = 0; m < NMOUNTS; m++) {
		k = mt_path(mounts[m], f, "k");
		assert_int_equal(tu_put_str(f->t, "k", "old"), 0);
		fd = open_write(k, O_WRONLY | O_TRUNC, "part1-", -1);
		for (int how = 0; how < 2; how++) {
			pid = fork();
			if (pid == 0) {
				if (how)	/* as before an exec */
					close(fd);
				_exit(0);	/* else at its exit */
			}
			assert_true(pid > 0);
			assert_int_equal(tu_wait(pid, 10), 0);
			assert_values(f->t, "k", "old");
		}
		assert_int_equal(write(fd, "part2", 5), 5);
		assert_int_equal(close(fd), 0);
		assert_values(f->t, "k", "part1-part2");

		/* written by another thread of this process, alive or
		 * ended: published by this thread's close */
		fd = open(k, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		write_by_thread_close_here(fd, "alive", true);
		assert_values(f->t, "k", "alive");
		fd = open(k, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		write_by_thread_close_here(fd, "ended", false);
		assert_values(f->t, "k", "ended");
		free(k);
	}
	mt_table_free(f);
}

/* --- fstat ------------------------------------------------------------- */

/* fstat(2) of a file whose key was removed through the mount: the file's
 * attributes, st_nlink 0, its buffer's length as size. */
static void test_fstat_removed_key(void **state)
{
	struct mt_table *f = mt_table_new(prefix, "of", NULL);
	struct stat st, before;
	char got[16];
	size_t m;
	char *k;
	int fd;

	(void)state;
	for (m = 0; m < NMOUNTS; m++) {
		k = mt_path(mounts[m], f, "k");
		assert_int_equal(tu_add_str(f->t, "k", "old"), 0);
		fd = open_write(k, O_RDWR, "hello world", 0);
		assert_int_equal(fstat(fd, &before), 0);
		assert_int_equal(before.st_nlink, 1);
		assert_int_equal(unlink(k), 0);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_nlink, 0);
		assert_int_equal(st.st_size, 11);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(st.st_uid, geteuid());
		assert_int_equal(st.st_ino, before.st_ino);
		/* writes go on growing it */
		assert_int_equal(pwrite(fd, "!", 1, 11), 1);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_size, 12);
		assert_int_equal(pread(fd, got, sizeof(got), 0), 12);
		assert_memory_equal(got, "hello world!", 12);
		/* and ftruncate(2) cuts it, as it would an unlinked file */
		assert_int_equal(ftruncate(fd, 5), 0);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_size, 5);
		assert_int_equal(st.st_nlink, 0);
		assert_int_equal(pread(fd, got, sizeof(got), 0), 5);
		assert_memory_equal(got, "hello", 5);
		assert_int_equal(close(fd), 0);
		assert_absent(k);

		/* a reader, a file that only appends */
		assert_int_equal(tu_add_str(f->t, "k", "abc"), 0);
		fd = open(k, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(unlink(k), 0);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_nlink, 0);
		assert_int_equal(st.st_size, 3);
		assert_int_equal(close(fd), 0);
		assert_int_equal(tu_add_str(f->t, "k", "abc"), 0);
		fd = open_write(k, O_WRONLY | O_APPEND, "de", -1);
		assert_int_equal(unlink(k), 0);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_nlink, 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(close(fd), 0);
		assert_absent(k);
		free(k);
	}
	mt_table_free(f);
}

/* fstat(2) of a file whose key was replaced by a rename: the old file's
 * attributes with st_nlink 0; the name shows the moved file. */
static void test_fstat_replaced_key(void **state)
{
	struct mt_table *f = mt_table_new(prefix, "of", NULL);
	struct stat st, before, now;
	char *k, *x;
	size_t m;
	int fd;

	(void)state;
	for (m = 0; m < NMOUNTS; m++) {
		k = mt_path(mounts[m], f, "k");
		x = mt_path(mounts[m], f, "x");
		assert_int_equal(tu_add_str(f->t, "k", "old value"), 0);
		assert_int_equal(tu_add_str(f->t, "x", "new"), 0);
		fd = open(k, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &before), 0);
		assert_int_equal(rename(x, k), 0);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_nlink, 0);
		assert_int_equal(st.st_size, 9);
		assert_int_equal(st.st_ino, before.st_ino);
		assert_int_equal(st.st_mode, before.st_mode);
		assert_int_equal(stat(k, &now), 0);
		assert_int_equal(now.st_nlink, 1);
		assert_int_equal(now.st_size, 3);
		assert_true(now.st_ino != before.st_ino);
		assert_int_equal(close(fd), 0);

		/* a writer of the replaced key, after a write */
		assert_int_equal(tu_add_str(f->t, "x", "moved"), 0);
		fd = open_write(k, O_WRONLY | O_TRUNC, "written", -1);
		assert_int_equal(rename(x, k), 0);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_nlink, 0);
		assert_int_equal(st.st_size, 7);
		assert_int_equal(close(fd), 0);
		mt_assert_reads(k, "moved");
		assert_int_equal(unlink(k), 0);
		free(k);
		free(x);
	}
	mt_table_free(f);
}

/* fstat(2) of a file whose key, or whose table, another process removed
 * through the library: to the open file an unlinked file as well (on the
 * strict mount at once; the cached one may answer from its attribute
 * cache until the watcher catches up, but never fails). */
static void test_fstat_removed_behind(void **state)
{
	struct stat st, before;
	char got[16];
	size_t m;
	char *k;
	int fd;

	(void)state;
	for (m = 0; m < NMOUNTS; m++) {
		struct mt_table *f = mt_table_new(prefix, "of", NULL);

		k = mt_path(mounts[m], f, "k");
		assert_int_equal(tu_add_str(f->t, "k", "old value"), 0);
		fd = open(k, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &before), 0);
		assert_int_equal(before.st_nlink, 1);
		assert_int_equal(shmtab_remove(f->t, "k", 1), 0);
		assert_int_equal(fstat(fd, &st), 0);
		if (mounts[m] == &strict_mnt) {
			assert_int_equal(st.st_nlink, 0);
			assert_absent(k);
		}
		assert_int_equal(st.st_size, 9);
		assert_int_equal(st.st_ino, before.st_ino);
		assert_int_equal(st.st_mode, before.st_mode);
		assert_int_equal(pread(fd, got, sizeof(got), 0), 9);
		assert_memory_equal(got, "old value", 9);
		assert_int_equal(close(fd), 0);

		/* the whole table */
		assert_int_equal(tu_add_str(f->t, "k", "abc"), 0);
		fd = open(k, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &before), 0);
		assert_int_equal(shmtab_unlink(f->name), 0);
		assert_int_equal(fstat(fd, &st), 0);
		if (mounts[m] == &strict_mnt)
			assert_int_equal(st.st_nlink, 0);
		assert_int_equal(st.st_size, 3);
		assert_int_equal(st.st_ino, before.st_ino);
		assert_int_equal(pread(fd, got, sizeof(got), 0), 3);
		assert_memory_equal(got, "abc", 3);
		assert_int_equal(close(fd), 0);
		free(k);
		mt_table_free(f);
	}
}

/* --- main --------------------------------------------------------------- */

/* The tables of this run a failed test left behind (its fx_free did not
 * run). */
static void remove_leftovers(void)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *de;
	char *name;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, prefix, strlen(prefix)) &&
		    asprintf(&name, "posix:/%s", de->d_name) > 0) {
			tu_remove(name);
			free(name);
		}
	closedir(d);
}

static int group_setup(void **state)
{
	(void)state;
	if (tu_mount_start(&strict_mnt, "t-of", "strict", source, NULL) != 0 ||
	    tu_mount_start(&cache_mnt, "t-of", "cache", source, "cache=60") !=
		    0) {
		tu_mount_stop(&cache_mnt);
		tu_mount_stop(&strict_mnt);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tu_mount_stop(&cache_mnt);
	tu_mount_stop(&strict_mnt);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_rm_stays_removed),
		cmocka_unit_test(test_writer_rm_then_new_key),
		cmocka_unit_test(test_writer_follows_rename),
		cmocka_unit_test(test_writer_replaced_by_rename),
		cmocka_unit_test(test_writer_library_remove_not_followed),
		cmocka_unit_test(test_writer_child_close_publishes_nothing),
		cmocka_unit_test(test_typed_add_follows_inode),
		cmocka_unit_test(test_array_element_follows_inode),
		cmocka_unit_test(test_writer_follows_move_across_tables),
		cmocka_unit_test(test_fstat_removed_key),
		cmocka_unit_test(test_fstat_replaced_key),
		cmocka_unit_test(test_fstat_removed_behind),
	};
	int rc;

	rc = tu_mount_check();
	if (rc != 0)
		return rc;
	snprintf(prefix, sizeof(prefix), "shmtabfs-o-%d-%lx-", (int)getpid(),
		 (unsigned long)time(NULL));
	snprintf(source, sizeof(source), "posix:%s", prefix);
	tu_mount_watchdog(WATCHDOG_S);
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	tu_mount_watchdog(0);
	remove_leftovers();
	return rc;
}
