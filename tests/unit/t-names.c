/* SPDX-License-Identifier: MIT */
/*
 * t-names.c - names, open flags, page size, handles (netshm T01-T11,
 * T17-T19, T22, T25)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "shmtab.h"
#include "shmtab-hooks.h"
#include "testutil.h"

#define KS(s) (s), strlen(s)

/* The prestate of a test is its backend: "posix" or "file". */
static const char *backend(void **state)
{
	return *state ? *state : "posix";
}

/*
 * Every name a test makes is tracked; the teardown removes and frees them,
 * also after a failed assertion.
 */
static char *tracked[16];
static int ntracked;
static char saved_cwd[4096];

static char *track(char *name)
{
	assert_non_null(name);
	assert_true(ntracked < 16);
	tracked[ntracked++] = name;
	return name;
}

static char *new_name(void **state, const char *tag)
{
	if (strcmp(backend(state), "posix") == 0)
		return track(tu_posix_name(tag));
	return track(tu_file_name(tag));
}

static int cleanup(void **state)
{
	(void)state;
	if (saved_cwd[0]) {
		if (chdir(saved_cwd) < 0)
			return -1;
		saved_cwd[0] = '\0';
	}
	while (ntracked > 0) {
		char *n = tracked[--ntracked];

		tu_remove(n);
		free(n);
	}
	return 0;
}

/* A closed table at name: k -> [b2, b1], z -> "" (empty). */
static void make_table(const char *name, const struct shmtab_options *opt)
{
	shmtab *t = NULL;

	assert_int_equal(tu_create(name, opt, &t), 0);
	assert_non_null(t);
	assert_int_equal(tu_add_str(t, "k", "b1"), 0);
	assert_int_equal(tu_add_str(t, "k", "b2"), 0);
	assert_int_equal(shmtab_add(t, KS("z"), "", 0), 0);
	assert_int_equal(shmtab_close(t), 0);
}

/* Create an empty (size 0) object with the table's name, as a plain file. */
static void make_empty_object(const char *name)
{
	char *path = tu_object_path(name);
	int fd;

	assert_non_null(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	free(path);
}

static void expect_find(shmtab *t, const char *key, const char *val)
{
	void *got = NULL;
	size_t glen = 0;

	assert_int_equal(shmtab_find(t, KS(key), &got, &glen), 0);
	assert_non_null(got);
	assert_int_equal(glen, strlen(val));
	assert_memory_equal(got, val, glen);
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

/* T01 */
static void test_names_create_close_reopen(void **state)
{
	char *name = new_name(state, "reopen");
	shmtab *t = NULL;

	assert_int_equal(shmtab_open(name, O_CREAT | O_RDWR, 0644, NULL, &t),
			 0);
	assert_non_null(t);
	assert_int_equal(tu_add_str(t, "k", "v"), 0);
	assert_int_equal(shmtab_close(t), 0);
	assert_true(tu_object_exists(name));
	assert_true(tu_object_size(name) > 0);
	t = NULL;
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t), 0);
	assert_non_null(t);
	expect_find(t, "k", "v");
	assert_int_equal(shmtab_length(t), 1);
	assert_int_equal(shmtab_check(t), 0);
	assert_int_equal(shmtab_close(t), 0);
	tu_remove(name);
}

static void test_names_close_null_is_zero(void **state)
{
	(void)state;
	assert_int_equal(shmtab_close(NULL), 0);
}

/* An empty object is made a table, with O_CREAT or without. */
static void test_names_empty_object_becomes_table(void **state)
{
	char *name = new_name(state, "empty");
	shmtab *t = NULL;

	make_empty_object(name);
	assert_int_equal(tu_object_size(name), 0);
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t), 0);
	assert_int_equal(shmtab_length(t), 0);
	assert_true(tu_object_size(name) > 0);
	assert_int_equal(tu_add_str(t, "k", "v"), 0);
	assert_int_equal(shmtab_check(t), 0);
	shmtab_close(t);
	tu_remove(name);
}

static void test_names_create_mode_honoured(void **state)
{
	char *name = new_name(state, "mode");
	char *name2 = new_name(state, "mode2");
	mode_t old = umask(0);
	shmtab *t = NULL;

	assert_int_equal(shmtab_open(name, O_CREAT | O_RDWR, 0640, NULL, &t),
			 0);
	shmtab_close(t);
	umask(022);
	assert_int_equal(shmtab_open(name2, O_CREAT | O_RDWR, 0666, NULL, &t),
			 0);
	shmtab_close(t);
	umask(old);
	assert_int_equal(tu_object_mode(name), 0640);
	assert_int_equal(tu_object_mode(name2), 0644);
	tu_remove(name);
	tu_remove(name2);
}

/* T02 */
static void test_names_open_missing_enoent(void **state)
{
	char *name = new_name(state, "missing");
	shmtab *t = NULL;

	assert_int_equal(shmtab_open(name, O_RDWR, 0600, NULL, &t), -ENOENT);
	assert_false(tu_object_exists(name));
	assert_int_equal(shmtab_open(name, O_RDONLY, 0600, NULL, &t), -ENOENT);
	assert_false(tu_object_exists(name));
}

/* T03 */
static void test_names_excl_existing_eexist(void **state)
{
	char *name = new_name(state, "excl");
	shmtab *t = NULL;
	size_t len = 0;
	void *before;

	make_table(name, NULL);
	before = tu_read_object(name, &len);
	assert_non_null(before);
	assert_int_equal(shmtab_open(name, O_CREAT | O_EXCL | O_RDWR, 0600,
				     NULL, &t),
			 -EEXIST);
	assert_true(tu_object_equals(name, before, len));
	/* and it is still the table it was */
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t), 0);
	expect_all(t, "k", "b2,b1");
	shmtab_close(t);
	free(before);
	tu_remove(name);
}

/* T07 */
static void test_names_wronly_einval(void **state)
{
	char *name = new_name(state, "wronly");
	shmtab *t = NULL;

	assert_int_equal(shmtab_open(name, O_WRONLY | O_CREAT, 0600, NULL, &t),
			 -EINVAL);
	assert_false(tu_object_exists(name));
	assert_int_equal(shmtab_open(name, O_WRONLY | O_CREAT | O_EXCL, 0600,
				     NULL, &t),
			 -EINVAL);
	assert_int_equal(shmtab_open(name, O_ACCMODE | O_CREAT, 0600, NULL, &t),
			 -EINVAL);
	assert_false(tu_object_exists(name));
}

/* T07 */
static void test_names_other_flags_einval(void **state)
{
	static const int bad[] = { O_APPEND, O_NONBLOCK, O_SYNC, O_NOCTTY };
	char *name = new_name(state, "flags");
	shmtab *t = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(shmtab_open(name, O_RDWR | O_CREAT | bad[i],
					     0600, NULL, &t),
				 -EINVAL);
		assert_false(tu_object_exists(name));
	}
	/* also on an existing table: refused, and it stays a table */
	make_table(name, NULL);
	assert_int_equal(shmtab_open(name, O_RDWR | O_APPEND, 0, NULL, &t),
			 -EINVAL);
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t), 0);
	expect_all(t, "k", "b2,b1");
	shmtab_close(t);
	tu_remove(name);
}

/* T06 */
static void test_names_posix_bad_names_einval(void **state)
{
	char noslash[192], twoslash[192], dir[128], bare[128];
	shmtab *t = NULL;
	struct stat st;

	(void)state;
	snprintf(bare, sizeof(bare), "shmtab-t-%ld-noslash", (long)getpid());
	snprintf(noslash, sizeof(noslash), "posix:%s", bare);
	snprintf(dir, sizeof(dir), "shmtab-t-%ld-a", (long)getpid());
	snprintf(twoslash, sizeof(twoslash), "posix:/%s/b", dir);
	assert_int_equal(shmtab_open(noslash, O_RDWR | O_CREAT, 0600, NULL, &t),
			 -EINVAL);
	assert_int_equal(shmtab_open(twoslash, O_RDWR | O_CREAT, 0600, NULL,
				     &t),
			 -EINVAL);
	assert_int_equal(shmtab_open("posix:", O_RDWR | O_CREAT, 0600, NULL,
				     &t),
			 -EINVAL);
	assert_int_equal(shmtab_open("posix:/", O_RDWR | O_CREAT, 0600, NULL,
				     &t),
			 -EINVAL);
	assert_int_equal(shmtab_create_unique(twoslash, 0600, NULL, &t),
			 -EINVAL);
	assert_int_equal(shmtab_unlink(noslash), -EINVAL);
	assert_int_equal(shmtab_unlink(twoslash), -EINVAL);
	/* nothing created, neither in /dev/shm nor here */
	assert_int_equal(stat(bare, &st), -1);
	{
		char p[256];

		snprintf(p, sizeof(p), "/dev/shm/%s", bare);
		assert_int_equal(stat(p, &st), -1);
		snprintf(p, sizeof(p), "/dev/shm/%s", dir);
		assert_int_equal(stat(p, &st), -1);
	}
}

/* A POSIX name is a file name in /dev/shm: up to NAME_MAX bytes after its
 * slash. */
static void test_names_posix_longest_name(void **state)
{
	char name[NAME_MAX + 16], full[NAME_MAX + 32];
	shmtab *t = NULL;
	int n;

	(void)state;
	n = snprintf(name, sizeof(name), "/shmtab-t-%ld-long-", (long)getpid());
	memset(name + n, 'q', (size_t)(NAME_MAX + 1 - n));
	name[NAME_MAX + 1] = 0;
	snprintf(full, sizeof(full), "posix:%s", name);
	track(strdup(full));
	assert_int_equal(shmtab_open(name, O_RDWR | O_CREAT | O_EXCL, 0600,
				     NULL, &t),
			 0);
	assert_string_equal(shmtab_name(t), full);
	shmtab_close(t);
	assert_int_equal(shmtab_unlink(name), 0);
	/* one byte more */
	name[NAME_MAX + 1] = 'q';
	name[NAME_MAX + 2] = 0;
	assert_int_equal(shmtab_open(name, O_RDWR | O_CREAT | O_EXCL, 0600,
				     NULL, &t),
			 -ENAMETOOLONG);
}

static void test_names_bare_slash_name_is_posix(void **state)
{
	char name[128], full[160], path[160];
	shmtab *t = NULL;

	(void)state;
	snprintf(name, sizeof(name), "/shmtab-t-%ld-bare", (long)getpid());
	snprintf(full, sizeof(full), "posix:%s", name);
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	track(strdup(full));
	assert_int_equal(shmtab_open(name, O_RDWR | O_CREAT | O_EXCL, 0600,
				     NULL, &t),
			 0);
	assert_int_equal(access(path, F_OK), 0);
	assert_string_equal(shmtab_name(t), full);
	shmtab_close(t);
	/* the same object under its full name */
	assert_int_equal(shmtab_open(full, O_RDWR, 0, NULL, &t), 0);
	shmtab_close(t);
	assert_int_equal(shmtab_unlink(name), 0);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_names_bare_relative_path_is_file(void **state)
{
	char flat[128], sub[128], nested[256], shmpath[256], abs[4400];
	shmtab *t = NULL;
	const char *n;

	(void)state;
	snprintf(flat, sizeof(flat), "t-%ld-relflat", (long)getpid());
	snprintf(sub, sizeof(sub), "d-%ld-rel", (long)getpid());
	snprintf(nested, sizeof(nested), "%s/t", sub);
	snprintf(abs, sizeof(abs), "file:%s/%s", tu_tmpdir(), flat);
	track(strdup(abs));
	snprintf(abs, sizeof(abs), "file:%s/%s", tu_tmpdir(), nested);
	track(strdup(abs));
	assert_non_null(getcwd(saved_cwd, sizeof(saved_cwd)));
	assert_int_equal(chdir(tu_tmpdir()), 0);
	mkdir(sub, 0700);
	assert_int_equal(shmtab_open(flat, O_RDWR | O_CREAT | O_EXCL, 0600,
				     NULL, &t),
			 0);
	n = shmtab_name(t);
	assert_non_null(n);
	assert_int_equal(strncmp(n, "file:", 5), 0);
	assert_non_null(strstr(n, flat));
	shmtab_close(t);
	assert_int_equal(access(flat, F_OK), 0);
	assert_int_equal(shmtab_open(nested, O_RDWR | O_CREAT | O_EXCL, 0600,
				     NULL, &t),
			 0);
	assert_int_equal(strncmp(shmtab_name(t), "file:", 5), 0);
	shmtab_close(t);
	assert_int_equal(access(nested, F_OK), 0);
	snprintf(shmpath, sizeof(shmpath), "/dev/shm/%s", flat);
	assert_int_equal(access(shmpath, F_OK), -1);
	tu_remove(flat);
	tu_remove(nested);
	rmdir(sub);
	assert_int_equal(chdir(saved_cwd), 0);
	saved_cwd[0] = '\0';
}

static void test_names_bare_absolute_path_is_file(void **state)
{
	char *fname = track(tu_file_name("abs"));
	const char *path = fname + 5; /* "/tmp/.../t-..." */
	shmtab *t = NULL;

	(void)state;
	assert_int_equal(shmtab_open(path, O_RDWR | O_CREAT | O_EXCL, 0600,
				     NULL, &t),
			 0);
	assert_string_equal(shmtab_name(t), fname);
	shmtab_close(t);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(shmtab_unlink(path), 0);
	assert_int_equal(access(path, F_OK), -1);
}

static void check_unique_name(const char *pattern, const char *got)
{
	size_t i;

	assert_int_equal(strlen(got), strlen(pattern));
	for (i = 0; pattern[i]; i++) {
		if (pattern[i] == 'X')
			assert_non_null(
				strchr("0123456789ABCDEFGHIJKLMNOPQRSTUV"
				       "WXYZ",
				       got[i]));
		else
			assert_int_equal(got[i], pattern[i]);
	}
}

/* T04 */
static void test_names_create_unique_replaces_x(void **state)
{
	char *pattern = new_name(state, "u.XXXXXX");
	mode_t old = umask(0);
	shmtab *a = NULL, *b = NULL;
	char *na, *nb;

	if (strchr(strchr(pattern, ':'), 'X') !=
	    strstr(pattern, "u.XXXXXX") + 2) {
		umask(old);
		skip(); /* the temporary directory itself holds an X */
	}
	assert_int_equal(shmtab_create_unique(pattern, 0600, NULL, &a), 0);
	assert_int_equal(shmtab_create_unique(pattern, 0600, NULL, &b), 0);
	umask(old);
	na = track(strdup(shmtab_name(a)));
	nb = track(strdup(shmtab_name(b)));
	check_unique_name(pattern, na);
	check_unique_name(pattern, nb);
	assert_string_not_equal(na, nb);
	assert_int_equal(tu_object_mode(na), 0600);
	assert_int_equal(tu_object_mode(nb), 0600);
	assert_false(tu_object_exists(pattern));
	/* both are empty working tables */
	assert_int_equal(shmtab_length(a), 0);
	assert_int_equal(tu_add_str(a, "k", "v"), 0);
	assert_int_equal(shmtab_mem(b, KS("k")), 0);
	shmtab_close(a);
	shmtab_close(b);
	tu_remove(na);
	tu_remove(nb);
}

/* T05 */
static void test_names_create_unique_no_x_existing_eexist(void **state)
{
	char *name = new_name(state, "nox");
	shmtab *t = NULL;
	size_t len = 0;
	void *before;

	make_table(name, NULL);
	before = tu_read_object(name, &len);
	assert_non_null(before);
	assert_int_equal(shmtab_create_unique(name, 0600, NULL, &t), -EEXIST);
	assert_true(tu_object_equals(name, before, len));
	free(before);
	tu_remove(name);
}

static void test_names_create_unique_no_x_free_creates(void **state)
{
	char *name = new_name(state, "noxfree");
	shmtab *t = NULL;

	assert_int_equal(shmtab_create_unique(name, 0600, NULL, &t), 0);
	assert_string_equal(shmtab_name(t), name);
	assert_true(tu_object_exists(name));
	shmtab_close(t);
	tu_remove(name);
}

/* T08 */
static void test_names_unlink_then_open_enoent(void **state)
{
	char *name = new_name(state, "unlink");
	shmtab *t = NULL;

	make_table(name, NULL);
	assert_int_equal(shmtab_unlink(name), 0);
	assert_false(tu_object_exists(name));
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t), -ENOENT);
	assert_int_equal(shmtab_unlink(name), -ENOENT);
}

/* T09 */
static void test_names_unlink_while_open_keeps_working(void **state)
{
	char *name = new_name(state, "unlinkopen");
	shmtab *t = NULL, *t2 = NULL;
	char key[32];
	int i;

	make_table(name, NULL);
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t), 0);
	assert_int_equal(shmtab_unlink(name), 0);
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t2), -ENOENT);
	expect_all(t, "k", "b2,b1");
	/* enough to make it grow */
	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		assert_int_equal(tu_add_str(t, key, "some value"), 0);
	}
	expect_find(t, "key1999", "some value");
	assert_int_equal(shmtab_length(t), 2003);
	assert_int_equal(shmtab_check(t), 0);
	assert_int_equal(shmtab_close(t), 0);
	assert_false(tu_object_exists(name));
}

/* T10 */
static void test_names_chmod_changes_mode(void **state)
{
	char *name = new_name(state, "chmod");
	shmtab *t = NULL;

	assert_int_equal(tu_create(name, NULL, &t), 0);
	assert_int_equal(shmtab_chmod(t, 0640), 0);
	assert_int_equal(tu_object_mode(name), 0640);
	assert_int_equal(shmtab_chmod(t, 0604), 0);
	assert_int_equal(tu_object_mode(name), 0604);
	assert_int_equal(shmtab_chmod(t, 0600), 0);
	assert_int_equal(tu_object_mode(name), 0600);
	assert_int_equal(tu_add_str(t, "k", "v"), 0);
	shmtab_close(t);
	tu_remove(name);
}

/* T10 */
static void test_names_chown_as_root(void **state)
{
	char *name, *path;
	shmtab *t = NULL;
	struct stat st;

	if (geteuid() != 0)
		skip();
	name = new_name(state, "chown");
	path = tu_object_path(name);
	assert_int_equal(tu_create(name, NULL, &t), 0);
	assert_int_equal(shmtab_chown(t, 1000, 1000), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1000);
	assert_int_equal(tu_add_str(t, "k", "v"), 0); /* still usable */
	shmtab_close(t);
	tu_remove(name);
	free(path);
}

/* What shmtabfs keeps a stat by: shmtab_chmod, shmtab_chown and
 * shmtab_unlink move the object's generation, as another handle sees it;
 * other calls and a read-only handle's chmod do not. */
static void test_names_obj_gen_moves(void **state)
{
	char *name = new_name(state, "objgen");
	shmtab *t = NULL, *t2 = NULL, *ro = NULL;
	uint64_t g;

	assert_int_equal(tu_create(name, NULL, &t), 0);
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t2), 0);
	assert_int_equal(shmtab_open(name, O_RDONLY, 0, NULL, &ro), 0);
	g = shmtab__obj_gen(t2);
	assert_int_equal(tu_add_str(t, "k", "v"), 0);
	assert_int_equal(shmtab__obj_gen(t2), g);
	assert_int_equal(shmtab_chmod(t, 0640), 0);
	assert_int_equal(shmtab__obj_gen(t2), g + 1);
	assert_int_equal(shmtab__obj_gen(ro), g + 1);
	assert_int_equal(shmtab_chown(t, (uid_t)-1, (gid_t)-1), 0);
	assert_int_equal(shmtab__obj_gen(t2), g + 2);
	assert_int_equal(shmtab_chmod(ro, 0600), 0);
	assert_int_equal(tu_object_mode(name), 0600);
	assert_int_equal(shmtab__obj_gen(t2), g + 2);
	assert_int_equal(shmtab_unlink(name), 0);
	assert_int_equal(shmtab__obj_gen(t2), g + 3);
	assert_int_equal(shmtab__obj_gen(NULL), 0);
	expect_find(t2, "k", "v");
	assert_int_equal(shmtab_check(t2), 0);
	shmtab_close(ro);
	shmtab_close(t2);
	shmtab_close(t);
}

/* shmtab_unlink of a name that is not a table removes the name and writes
 * nothing into the object. */
static void test_names_unlink_non_table_untouched(void **state)
{
	char *name = new_name(state, "nontable");
	char *path = tu_object_path(name), *keep;
	static unsigned char buf[40000], got[40000];
	int fd;

	assert_non_null(path);
	assert_true(asprintf(&keep, "%s.keep", path) > 0);
	memset(buf, 0xab, sizeof(buf));
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	assert_int_equal(link(path, keep), 0);
	assert_int_equal(shmtab_unlink(name), 0);
	assert_false(tu_object_exists(name));
	fd = open(keep, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, got, sizeof(got)), (ssize_t)sizeof(got));
	close(fd);
	unlink(keep);
	assert_memory_equal(got, buf, sizeof(buf));
	free(keep);
	free(path);
}

/* A table of another format version is not written either: its word at
 * 216 may mean something else there. */
static void test_names_unlink_other_version_untouched(void **state)
{
	char *name = new_name(state, "othervers");
	char *path, *keep;
	shmtab *t = NULL;
	uint32_t v = 99;
	uint64_t before;

	assert_int_equal(tu_create(name, NULL, &t), 0);
	assert_int_equal(shmtab_close(t), 0);
	assert_int_equal(tu_object_write(name, 8, &v, sizeof(v)), 0);
	before = tu_object_word(name, 216);
	path = tu_object_path(name);
	assert_non_null(path);
	assert_true(asprintf(&keep, "%s.keep", path) > 0);
	assert_int_equal(link(path, keep), 0);
	assert_int_equal(shmtab_unlink(name), 0);
	assert_false(tu_object_exists(name));
	/* the kept name reads the same object */
	assert_int_equal(rename(keep, path), 0);
	assert_int_equal(tu_object_word(name, 216), before);
	assert_int_equal(shmtab_unlink(name), 0);
	free(keep);
	free(path);
}

/* A FIFO under a table's name is removed and never opened: a reader
 * blocked opening it stays blocked. */
static void test_names_unlink_fifo_not_opened(void **state)
{
	char *name = new_name(state, "fifo");
	char *path = tu_object_path(name);
	int status;
	pid_t pid;

	assert_non_null(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(10);
		_exit(open(path, O_RDONLY) >= 0 ? 0 : 1);
	}
	usleep(100 * 1000);	/* the child blocks in open */
	assert_int_equal(shmtab_unlink(name), 0);
	assert_false(tu_object_exists(name));
	usleep(200 * 1000);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	free(path);
}

static void test_names_name_has_prefix(void **state)
{
	char *name = new_name(state, "prefix");
	shmtab *t = NULL;

	assert_int_equal(tu_create(name, NULL, &t), 0);
	assert_non_null(shmtab_name(t));
	assert_string_equal(shmtab_name(t), name);
	shmtab_close(t);
	assert_int_equal(shmtab_open(name, O_RDONLY, 0, NULL, &t), 0);
	assert_string_equal(shmtab_name(t), name);
	shmtab_close(t);
	tu_remove(name);
}

/* T17 */
static void test_names_pagesize_invalid_einval(void **state)
{
	static const size_t bad[] = { 159, 162, 100, 4, 161 };
	char *name = new_name(state, "badpage");
	struct shmtab_options opt = { 0 };
	shmtab *t = NULL;
	size_t i;

	make_empty_object(name);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		opt.pagesize = bad[i];
		assert_int_equal(shmtab_open(name, O_RDWR, 0, &opt, &t),
				 -EINVAL);
		assert_int_equal(tu_object_size(name), 0);
		assert_int_equal(shmtab_open(name, O_RDWR | O_CREAT, 0600, &opt,
					     &t),
				 -EINVAL);
		assert_int_equal(tu_object_size(name), 0);
	}
	tu_remove(name);
}

/* T17 + T07: a refused option creates nothing */
static void test_names_pagesize_invalid_creates_nothing(void **state)
{
	char *name = new_name(state, "badpage2");
	struct shmtab_options opt = { .pagesize = 162 };
	shmtab *t = NULL;

	assert_int_equal(shmtab_open(name, O_RDWR | O_CREAT, 0600, &opt, &t),
			 -EINVAL);
	assert_false(tu_object_exists(name));
	assert_int_equal(shmtab_create_unique(name, 0600, &opt, &t), -EINVAL);
	assert_false(tu_object_exists(name));
	tu_remove(name);
}

/* T17 */
static void test_names_pagesize_valid_ok(void **state)
{
	static const size_t good[] = { 160, 164, 512, 0 };
	struct shmtab_options opt = { 0 };
	struct shmtab_stat st;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *name = new_name(state, "page");
		shmtab *t = NULL;

		opt.pagesize = good[i];
		assert_int_equal(tu_create(name, &opt, &t), 0);
		assert_int_equal(shmtab_stat(t, &st), 0);
		assert_int_equal(st.pagesize, good[i] ? good[i] : 256);
		assert_int_equal(tu_add_str(t, "k", "v"), 0);
		expect_find(t, "k", "v");
		assert_int_equal(shmtab_check(t), 0);
		shmtab_close(t);
		tu_remove(name);
	}
}

/* T18 */
static void test_names_reopen_other_pagesize_einval(void **state)
{
	char *name = new_name(state, "page512");
	struct shmtab_options opt = { .pagesize = 512 };
	shmtab *t = NULL;
	size_t len = 0;
	void *before;

	assert_int_equal(tu_create(name, &opt, &t), 0);
	assert_int_equal(tu_add_str(t, "k", "v"), 0);
	shmtab_close(t);
	before = tu_read_object(name, &len);
	assert_non_null(before);
	opt.pagesize = 256;
	assert_int_equal(shmtab_open(name, O_RDWR, 0, &opt, &t), -EINVAL);
	opt.pagesize = 1024;
	assert_int_equal(shmtab_open(name, O_RDWR, 0, &opt, &t), -EINVAL);
	assert_int_equal(shmtab_open(name, O_RDONLY, 0, &opt, &t), -EINVAL);
	assert_true(tu_object_equals(name, before, len));
	opt.pagesize = 512;
	assert_int_equal(shmtab_open(name, O_RDWR, 0, &opt, &t), 0);
	expect_find(t, "k", "v");
	shmtab_close(t);
	free(before);
	tu_remove(name);
}

static void test_names_reopen_default_pagesize_adopts_stored(void **state)
{
	char *name = new_name(state, "page164");
	struct shmtab_options opt = { .pagesize = 164 };
	struct shmtab_stat st;
	shmtab *t = NULL;

	assert_int_equal(tu_create(name, &opt, &t), 0);
	assert_int_equal(tu_add_str(t, "k", "v"), 0);
	shmtab_close(t);
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t), 0);
	assert_int_equal(shmtab_stat(t, &st), 0);
	assert_int_equal(st.pagesize, 164);
	expect_find(t, "k", "v");
	shmtab_close(t);
	tu_remove(name);
}

static int child_check_t11(void *arg)
{
	const char *name = arg;
	shmtab *t = NULL;
	void *v = NULL;
	size_t vlen = 99;
	char *all;
	int rc = 0;

	if (shmtab_open(name, O_RDWR, 0, NULL, &t) != 0)
		return 10;
	all = tu_find_all_joined(t, "k", NULL);
	if (!all || strcmp(all, "b2,b1") != 0)
		rc = 11;
	free(all);
	if (!rc && (shmtab_find(t, KS("z"), &v, &vlen) != 0 || !v || vlen))
		rc = 12;
	free(v);
	if (!rc && shmtab_length(t) != 3)
		rc = 13;
	if (!rc && shmtab_check(t) != 0)
		rc = 14;
	if (shmtab_close(t) != 0 && !rc)
		rc = 15;
	return rc;
}

/* T11 */
static void test_names_persistence_after_close(void **state)
{
	char *name = new_name(state, "persist");
	pid_t pid;

	make_table(name, NULL);
	pid = tu_fork(child_check_t11, name);
	assert_true(pid > 0);
	assert_int_equal(tu_wait(pid, 30), 0);
	tu_remove(name);
}

/* T19 */
static void test_names_trunc_drops_bindings(void **state)
{
	char *name = new_name(state, "trunc");
	struct shmtab_options opt = { .init = 10 };
	shmtab *t = NULL;
	char key[16];
	int i;

	assert_int_equal(tu_create(name, NULL, &t), 0);
	for (i = 0; i < 9; i++) {
		snprintf(key, sizeof(key), "key%d", i % 4);
		assert_int_equal(tu_add_str(t, key, "v"), 0);
	}
	assert_int_equal(shmtab_length(t), 9);
	shmtab_close(t);
	assert_int_equal(shmtab_open(name, O_RDWR | O_TRUNC, 0, &opt, &t), 0);
	assert_int_equal(shmtab_length(t), 0);
	for (i = 0; i < 4; i++) {
		void *v = NULL;
		size_t vlen;

		snprintf(key, sizeof(key), "key%d", i);
		assert_int_equal(shmtab_find(t, KS(key), &v, &vlen), -ENOENT);
		assert_int_equal(shmtab_mem(t, KS(key)), 0);
	}
	assert_int_equal(shmtab_check(t), 0);
	assert_int_equal(tu_add_str(t, "new", "n"), 0);
	shmtab_close(t);
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t), 0);
	assert_int_equal(shmtab_length(t), 1);
	expect_find(t, "new", "n");
	shmtab_close(t);
	tu_remove(name);
}

struct trunc_arg {
	const char *name;
	struct tu_barrier opened, truncated;
};

static int child_holds_open(void *p)
{
	struct trunc_arg *a = p;
	shmtab *t = NULL;
	void *v = NULL;
	size_t vlen;
	int rc = 0;

	if (shmtab_open(a->name, O_RDWR, 0, NULL, &t) != 0)
		return 10;
	if (shmtab_length(t) != 3000)
		rc = 11;
	tu_barrier_post(&a->opened);
	if (tu_barrier_wait(&a->truncated, 20000) != 0)
		return 12;
	/* the parent truncated: our mapping still works, the table is empty */
	if (!rc && shmtab_find(t, KS("key7"), &v, &vlen) != -ENOENT)
		rc = 13;
	free(v);
	if (!rc && shmtab_length(t) != 0)
		rc = 14;
	if (!rc && tu_add_str(t, "from-child", "c") != 0)
		rc = 15;
	if (!rc && shmtab_check(t) != 0)
		rc = 16;
	shmtab_close(t);
	return rc;
}

static void fill_3000(const char *name)
{
	unsigned char val[400];
	shmtab *t = NULL;
	char key[16];
	int i;

	assert_int_equal(tu_create(name, NULL, &t), 0);
	for (i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		tu_fill(val, sizeof(val), (uint32_t)i);
		assert_int_equal(shmtab_add(t, KS(key), val, sizeof(val)), 0);
	}
	shmtab_close(t);
}

/* O_TRUNC while another process has the table mapped: no shrinking under
 * its mapping (that would be SIGBUS), and it sees the empty table. */
static void test_names_trunc_with_other_process_open(void **state)
{
	char *name = new_name(state, "truncmp");
	struct trunc_arg a = { .name = name };
	long long s1;
	shmtab *t = NULL;
	pid_t pid;
	int rc;

	fill_3000(name);
	s1 = tu_object_size(name);
	assert_int_equal(tu_barrier_init(&a.opened), 0);
	assert_int_equal(tu_barrier_init(&a.truncated), 0);
	pid = tu_fork(child_holds_open, &a);
	assert_true(pid > 0);
	rc = tu_barrier_wait(&a.opened, 20000);
	if (rc == 0)
		rc = shmtab_open(name, O_RDWR | O_TRUNC, 0, NULL, &t);
	tu_barrier_post(&a.truncated);
	assert_int_equal(tu_wait(pid, 30), 0);
	tu_barrier_destroy(&a.opened);
	tu_barrier_destroy(&a.truncated);
	assert_int_equal(rc, 0);
	assert_int_equal(tu_object_size(name), s1);
	assert_int_equal(shmtab_length(t), 1);
	assert_int_equal(shmtab_mem(t, KS("from-child")), 1);
	assert_int_equal(shmtab_check(t), 0);
	shmtab_close(t);
}

/* O_TRUNC with no other holder gives the space back. */
static void test_names_trunc_alone_shrinks(void **state)
{
	char *name = new_name(state, "truncalone");
	long long s1;
	shmtab *t = NULL;

	fill_3000(name);
	s1 = tu_object_size(name);
	assert_int_equal(shmtab_open(name, O_RDWR | O_TRUNC, 0, NULL, &t), 0);
	assert_int_equal(shmtab_length(t), 0);
	assert_true(tu_object_size(name) < s1);
	assert_int_equal(tu_add_str(t, "k", "v"), 0);
	assert_int_equal(shmtab_check(t), 0);
	shmtab_close(t);
}

/* O_TRUNC with no other holder formats the object anew: the page size and
 * the locking method stay those stored (not the defaults). */
static void test_names_trunc_alone_keeps_options(void **state)
{
	char *name = new_name(state, "trunckeep");
	struct shmtab_options opt = { 512, 0, SHMTAB_LOCK_RECORD };
	struct shmtab_stat st;
	shmtab *t = NULL;

	assert_int_equal(shmtab_open(name, O_RDWR | O_CREAT | O_EXCL, 0600,
				     &opt, &t), 0);
	assert_int_equal(tu_add_str(t, "k", "v"), 0);
	shmtab_close(t);
	assert_int_equal(shmtab_open(name, O_RDWR | O_TRUNC, 0, NULL, &t), 0);
	assert_int_equal(shmtab_stat(t, &st), 0);
	assert_int_equal(st.bindings, 0);
	assert_int_equal(st.pagesize, 512);
	assert_int_equal(st.lock, SHMTAB_LOCK_RECORD);
	shmtab_close(t);
}

static void test_names_null_arguments_einval(void **state)
{
	char *name = new_name(state, "nullargs");
	shmtab *t = NULL;

	assert_int_equal(shmtab_open(NULL, O_RDWR | O_CREAT, 0600, NULL, &t),
			 -EINVAL);
	assert_int_equal(shmtab_open(name, O_RDWR | O_CREAT, 0600, NULL, NULL),
			 -EINVAL);
	assert_false(tu_object_exists(name));
	assert_int_equal(shmtab_create_unique(NULL, 0600, NULL, &t), -EINVAL);
	assert_int_equal(shmtab_unlink(NULL), -EINVAL);
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

static int count_key_fn(const void *key, size_t klen, void *ctx)
{
	(void)key;
	(void)klen;
	++*(int *)ctx;
	return 0;
}

static int count_block_fn(const void *block, size_t len, void *ctx)
{
	(void)len;
	if (block)
		++*(int *)ctx;
	return SHMTAB_CONTINUE;
}

static int remove_block_fn(void *block, size_t len, void *ctx)
{
	(void)block;
	(void)len;
	++*(int *)ctx;
	return SHMTAB_REMOVE_BINDING;
}

/* T25 */
static void test_names_rdonly_reads_work(void **state)
{
	char *name = new_name(state, "rdonly");
	shmtab *t = NULL;
	int n = 0, nk = 0, nb = 0;

	make_table(name, NULL);
	assert_int_equal(shmtab_open(name, O_RDONLY, 0, NULL, &t), 0);
	expect_find(t, "k", "b2");
	expect_all(t, "k", "b2,b1");
	assert_int_equal(shmtab_mem(t, KS("z")), 1);
	assert_int_equal(shmtab_mem(t, KS("nope")), 0);
	assert_int_equal(shmtab_length(t), 3);
	assert_int_equal(shmtab_iter(t, count_fn, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(shmtab_iter_keys(t, count_key_fn, &nk), 0);
	assert_int_equal(nk, 2);
	assert_int_equal(shmtab_read_blocks(t, KS("k"), count_block_fn, &nb),
			 0);
	assert_int_equal(nb, 2);
	assert_int_equal(shmtab_check(t), 0);
	shmtab_close(t);
	tu_remove(name);
}

/* T25 */
static void test_names_rdonly_writes_erofs(void **state)
{
	char *name = new_name(state, "rdonlyw");
	shmtab *t = NULL;
	size_t len = 0;
	void *before;
	int calls = 0;

	make_table(name, NULL);
	before = tu_read_object(name, &len);
	assert_non_null(before);
	assert_int_equal(shmtab_open(name, O_RDONLY, 0, NULL, &t), 0);
	assert_int_equal(tu_add_str(t, "k", "b3"), -EROFS);
	assert_int_equal(tu_add_str(t, "new", "n"), -EROFS);
	assert_int_equal(shmtab_replace(t, KS("k"), KS("b9")), -EROFS);
	assert_int_equal(shmtab_remove(t, KS("k")), -EROFS);
	assert_int_equal(shmtab_write_blocks(t, KS("k"), remove_block_fn,
					     &calls),
			 -EROFS);
	assert_int_equal(calls, 0);
	expect_all(t, "k", "b2,b1");
	assert_int_equal(shmtab_length(t), 3);
	shmtab_close(t);
	assert_true(tu_object_equals(name, before, len));
	free(before);
	tu_remove(name);
}

static void test_names_lock_out_of_range_einval(void **state)
{
	char *name = new_name(state, "lock");
	struct shmtab_options opt = { 0 };
	shmtab *t = NULL;

	opt.lock = (enum shmtab_lock)(SHMTAB_LOCK_MUTEX + 1);
	assert_int_equal(shmtab_open(name, O_RDWR | O_CREAT, 0600, &opt, &t),
			 -EINVAL);
	opt.lock = (enum shmtab_lock)99;
	assert_int_equal(shmtab_open(name, O_RDWR | O_CREAT, 0600, &opt, &t),
			 -EINVAL);
	opt.lock = (enum shmtab_lock) - 1;
	assert_int_equal(shmtab_open(name, O_RDWR | O_CREAT, 0600, &opt, &t),
			 -EINVAL);
	assert_false(tu_object_exists(name));
	tu_remove(name);
}

static void test_names_reopen_other_lock_einval(void **state)
{
	char *name = new_name(state, "lockrec");
	struct shmtab_options opt = { .lock = SHMTAB_LOCK_RECORD };
	struct shmtab_stat st;
	shmtab *t = NULL;

	assert_int_equal(tu_create(name, &opt, &t), 0);
	assert_int_equal(shmtab_stat(t, &st), 0);
	assert_int_equal(st.lock, SHMTAB_LOCK_RECORD);
	assert_int_equal(tu_add_str(t, "k", "v"), 0);
	shmtab_close(t);
	opt.lock = SHMTAB_LOCK_MUTEX;
	assert_int_equal(shmtab_open(name, O_RDWR, 0, &opt, &t), -EINVAL);
	opt.lock = SHMTAB_LOCK_RECORD;
	assert_int_equal(shmtab_open(name, O_RDWR, 0, &opt, &t), 0);
	expect_find(t, "k", "v");
	shmtab_close(t);
	tu_remove(name);
}

static void test_names_strerror_nonempty(void **state)
{
	static const int errs[] = { 0,	     -ENOENT,	 -EBADMSG,   -EDEADLK,
				    -EBUSY,  -EROFS,	 -EINVAL,    -EEXIST,
				    -ENOSPC, -ETIMEDOUT, -EOVERFLOW, -12345,
				    99999 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		const char *s = shmtab_strerror(errs[i]);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
	}
	assert_string_not_equal(shmtab_strerror(-ENOENT),
				shmtab_strerror(-EBADMSG));
	assert_string_not_equal(shmtab_strerror(-EDEADLK),
				shmtab_strerror(-EBUSY));
}

/* T22 */
static void test_names_short_garbage_ebadmsg(void **state)
{
	char *name = new_name(state, "garbage");
	char *path = tu_object_path(name);
	shmtab *t = NULL;
	FILE *fp;

	fp = fopen(path, "wx");
	assert_non_null(fp);
	fputs("hello", fp);
	fclose(fp);
	assert_int_equal(shmtab_open(name, O_RDWR, 0, NULL, &t), -EBADMSG);
	assert_int_equal(shmtab_open(name, O_RDONLY, 0, NULL, &t), -EBADMSG);
	assert_true(tu_object_equals(name, "hello", 5));
	tu_remove(name);
	free(path);
}

#define T(fn, backend)                                              \
	cmocka_unit_test_prestate_setup_teardown(fn, NULL, cleanup, \
						 (void *)(backend))
#define BOTH(fn) T(fn, "posix"), T(fn, "file")
#define ONE(fn) cmocka_unit_test_teardown(fn, cleanup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_names_create_close_reopen),
		ONE(test_names_close_null_is_zero),
		BOTH(test_names_empty_object_becomes_table),
		BOTH(test_names_create_mode_honoured),
		BOTH(test_names_open_missing_enoent),
		BOTH(test_names_excl_existing_eexist),
		BOTH(test_names_wronly_einval),
		BOTH(test_names_other_flags_einval),
		ONE(test_names_posix_bad_names_einval),
		ONE(test_names_posix_longest_name),
		ONE(test_names_bare_slash_name_is_posix),
		ONE(test_names_bare_relative_path_is_file),
		ONE(test_names_bare_absolute_path_is_file),
		BOTH(test_names_create_unique_replaces_x),
		BOTH(test_names_create_unique_no_x_existing_eexist),
		BOTH(test_names_create_unique_no_x_free_creates),
		BOTH(test_names_unlink_then_open_enoent),
		BOTH(test_names_unlink_while_open_keeps_working),
		BOTH(test_names_chmod_changes_mode),
		BOTH(test_names_chown_as_root),
		BOTH(test_names_obj_gen_moves),
		BOTH(test_names_unlink_non_table_untouched),
		BOTH(test_names_unlink_other_version_untouched),
		BOTH(test_names_unlink_fifo_not_opened),
		BOTH(test_names_name_has_prefix),
		BOTH(test_names_pagesize_invalid_einval),
		BOTH(test_names_pagesize_invalid_creates_nothing),
		BOTH(test_names_pagesize_valid_ok),
		BOTH(test_names_reopen_other_pagesize_einval),
		BOTH(test_names_reopen_default_pagesize_adopts_stored),
		BOTH(test_names_persistence_after_close),
		BOTH(test_names_trunc_drops_bindings),
		BOTH(test_names_trunc_with_other_process_open),
		BOTH(test_names_trunc_alone_shrinks),

		BOTH(test_names_trunc_alone_keeps_options),
		BOTH(test_names_null_arguments_einval),
		BOTH(test_names_rdonly_reads_work),
		BOTH(test_names_rdonly_writes_erofs),
		BOTH(test_names_lock_out_of_range_einval),
		BOTH(test_names_reopen_other_lock_einval),
		ONE(test_names_strerror_nonempty),
		BOTH(test_names_short_garbage_ebadmsg),
	};

	tu_tmpdir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
