/* SPDX-License-Identifier: MIT */
/*
 * t-typed.c - typed tables through shmtabfs, against the library
 *
 * Mounts posix:PREFIX (a prefix unique to this run) with the built
 * shmtabfs ($SHMTABFS, -f, so that this program owns its pid) and checks
 * shmtabfs(1), TYPED TABLES:
 *  - every value type round-trips as text in both directions: written
 *    through the mount and read with the library, set with the library
 *    and read (and stat'ed) through the mount;
 *  - a text that does not parse is refused with EINVAL (by write(2) when
 *    it can never parse, else by close(2)) and the old value is kept; a
 *    key created by such a write is not left behind;
 *  - integer and pair keys are listed by their text; non-canonical names
 *    ("05", "+5") do not exist and cannot be created;
 *  - an array lists 0 .. length-1 in numeric order, an unset index reads
 *    as the default, rm unsets, mv moves, names outside are ENOENT; a
 *    rename from another table onto an element moves the value there;
 *  - the length and the schema are set through extended attributes
 *    (mkdir + setxattr makes a typed table), with ENOTEMPTY once there are
 *    bindings;
 *  - appends to an integer add atomically: processes appending through
 *    the mount and processes calling shmtab_int_add() lose no increment;
 *    a file opened to read and append reads the value of its open (0 for
 *    a key it created);
 *  - in the cached mode (-o cache=60) sizes follow shmtab_int_add(), and
 *    listings and sizes follow a resize and a new default, within the
 *    stated bound.
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
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "shmtab.h"
#include "mountutil.h"
#include "mounttab.h"
#include "testutil.h"

#define WATCHDOG_S 240
/* the cached mode's staleness bound, as stated in shmtabfs(1) */
#define CACHE_BOUND_S 1.0

/* The shmtabfs source of every mount, "posix:PREFIX" (PREFIX unique to
 * this run). */
static char prefix[64], source[80];
static struct tu_mount main_mnt, cache_mnt;

/* --- helpers ------------------------------------------------------------ */

/* The whole file (malloc'd, NUL-terminated), or NULL with errno. */
static char *slurp(const char *path, ssize_t *len)
{
	int fd = open(path, O_RDONLY);
	char *buf = NULL;
	size_t got = 0, cap = 0;
	ssize_t n = 0;

	*len = -1;
	if (fd < 0)
		return NULL;
	do {
		got += (size_t)n;
		if (got + 1 >= cap) {
			cap = cap ? cap * 2 : 256;
			buf = realloc(buf, cap);
			if (!buf)
				break;
		}
		n = read(fd, buf + got, cap - got - 1);
	} while (n > 0);
	close(fd);
	if (!buf || n < 0) {
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	*len = (ssize_t)got;
	return buf;
}

static void assert_file(const char *path, const char *want)
{
	struct stat st;
	ssize_t n;
	char *got = slurp(path, &n);

	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (off_t)strlen(want));
	free(got);
}

/* open(flags), write text in one write(2), close: 0 or the first -errno. */
static int put_file(const char *path, int flags, const char *text)
{
	size_t len = strlen(text);
	int fd = open(path, flags, 0644), err = 0;

	if (fd < 0)
		return -errno;
	if (len && write(fd, text, len) != (ssize_t)len)
		err = -errno;
	if (close(fd) != 0 && !err)
		err = -errno;
	return err;
}

static int put(const char *path, const char *text)
{
	return put_file(path, O_WRONLY | O_CREAT | O_TRUNC, text);
}

static int append(const char *path, const char *text)
{
	return put_file(path, O_WRONLY | O_CREAT | O_APPEND, text);
}

/* The names of a directory in readdir order, without . and .., joined with
 * ' ' (malloc'd). */
static char *list_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *out = strdup("");
	size_t len = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		out = realloc(out, len + n + 2);
		assert_non_null(out);
		if (len)
			out[len++] = ' ';
		memcpy(out + len, de->d_name, n + 1);
		len += n;
	}
	closedir(d);
	return out;
}

/* The text of the newest value of key (library side, shmtab_format). */
static char *lib_text(shmtab *t, const char *type, const void *key,
		      size_t klen)
{
	void *raw;
	size_t rlen, tlen;
	char *text;

	assert_int_equal(shmtab_find(t, key, klen, &raw, &rlen), 0);
	assert_int_equal(shmtab_format(type, raw, rlen, &text, &tlen), 0);
	free(raw);
	return text;
}

static ssize_t xget(const char *path, const char *name, char *buf,
		    size_t cap)
{
	ssize_t n = getxattr(path, name, buf, cap - 1);

	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static int xset(const char *path, const char *name, const char *value)
{
	return setxattr(path, name, value, strlen(value), 0) == 0 ? 0 : -errno;
}

/* --- values ------------------------------------------------------------- */

struct round {
	const char *type;
	const char *in;		/* written through the mount */
	const char *out;	/* what the file then reads */
	const struct shmtab_value *lib;	/* set with the library */
	const char *lib_out;	/* its text through the mount */
};

static void test_values_round_trip_every_type(void **state)
{
	static const unsigned char bin[] = { 0, 1, 0xfe, '\n', 'x' };
	const struct round r[] = {
		{ "int32", "-2147483648\n", "-2147483648\n",
		  SHMTAB_V_I32(2147483647), "2147483647\n" },
		{ "int64", "9223372036854775807", "9223372036854775807\n",
		  SHMTAB_V_I64(-5), "-5\n" },
		{ "int", "+17\n", "17\n", SHMTAB_V_INT(0), "0\n" },
		{ "string", "hello\nworld\n", "hello\nworld\n",
		  SHMTAB_V_STR("tab\there"), "tab\there" },
		{ "bytes", "", "", SHMTAB_V_BYTES(bin, sizeof(bin)),
		  "\0\1\xfe\nx" },
		{ "pair(string,int64)", "a b\\tc\t42\n", "a b\\tc\t42\n",
		  SHMTAB_V_PAIR(SHMTAB_V_STR("k\n"), SHMTAB_V_I64(-1)),
		  "k\\n\t-1\n" },
		{ "pair(int32,pair(string,bytes))", "7\tx\t00ff",
		  "7\tx\t00ff\n",
		  SHMTAB_V_PAIR(SHMTAB_V_I32(1),
				SHMTAB_V_PAIR(SHMTAB_V_STR(""),
					      SHMTAB_V_BYTES("AB", 2))),
		  "1\t\t4142\n" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		struct shmtab_schema s = { SHMTAB_KIND_HASH, "string",
					   r[i].type, NULL };
		struct mt_table *f = mt_table_new(prefix, "ty", &s);
		char *path = mt_path(&main_mnt, f, "k");
		char *text, *got;
		ssize_t n;

		print_message("# %s\n", r[i].type);
		/* mount -> library */
		assert_int_equal(put(path, r[i].in), 0);
		text = lib_text(f->t, r[i].type, "k", 1);
		assert_string_equal(text, r[i].out);
		free(text);
		assert_file(path, r[i].out);
		/* library -> mount; bytes values are compared by length */
		assert_int_equal(shmtab_treplace(f->t, SHMTAB_V_STR("k"),
						 r[i].lib),
				 0);
		got = slurp(path, &n);
		assert_non_null(got);
		if (!strcmp(r[i].type, "bytes")) {
			assert_int_equal(n, sizeof(bin));
			assert_memory_equal(got, bin, sizeof(bin));
		} else {
			assert_string_equal(got, r[i].lib_out);
		}
		free(got);
		free(path);
		mt_table_free(f);
	}
}

static void test_values_malformed_refused_old_kept(void **state)
{
	struct shmtab_schema s = { SHMTAB_KIND_HASH, "string", "int32", NULL };
	struct shmtab_schema sp = { SHMTAB_KIND_HASH, "string",
				    "pair(string,int64)", NULL };
	struct mt_table *f = mt_table_new(prefix, "ty", &s);
	struct mt_table *g = mt_table_new(prefix, "ty", &sp);
	char *path = mt_path(&main_mnt, f, "n");
	char *fresh = mt_path(&main_mnt, f, "fresh");
	char *pp = mt_path(&main_mnt, g, "p");
	struct stat st;
	int fd;

	(void)state;
	assert_int_equal(put(path, "5\n"), 0);
	/* a whole line that does not parse: write(2) refuses it */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc\n", 4), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(close(fd), 0);
	assert_file(path, "5\n");
	/* two lines can never be one integer */
	assert_int_equal(put(path, "1\n2\n"), -EINVAL);
	/* no newline: only the commit knows; close(2) says EINVAL */
	assert_int_equal(put(path, "12x"), -EINVAL);
	assert_int_equal(put(path, "3000000000"), -EINVAL);	/* > int32 */
	assert_int_equal(put(path, ""), 0);	/* nothing written: no commit */
	assert_file(path, "5\n");
	/* fsync reports it too */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "7 ", 2), 2);
	assert_int_equal(fsync(fd), -1);
	assert_int_equal(errno, EINVAL);
	close(fd);
	assert_file(path, "5\n");
	/* truncate(2) of an integer to a length that does not parse */
	assert_int_equal(truncate(path, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_file(path, "5\n");
	/* a key created by a write that did not parse is not left behind */
	assert_int_equal(put(fresh, "nope\n"), -EINVAL);
	assert_int_equal(stat(fresh, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(shmtab_mem(f->t, "fresh", 5), 0);
	/* but touch makes a key with the type's zero */
	assert_int_equal(put_file(fresh, O_WRONLY | O_CREAT, ""), 0);
	assert_file(fresh, "0\n");
	/* pairs: a missing or an extra field */
	assert_int_equal(put(pp, "a\t1\n"), 0);
	assert_int_equal(put(pp, "a\n"), -EINVAL);
	assert_int_equal(put(pp, "a\t1\t2"), -EINVAL);
	assert_int_equal(put(pp, "a\tx\n"), -EINVAL);
	assert_file(pp, "a\t1\n");
	free(path);
	free(fresh);
	free(pp);
	mt_table_free(f);
	mt_table_free(g);
}

/*
 * printf 'a\t1\n' >> new, in a pair table: the write-only append that
 * created the key sets its value, and close(2) succeeds; an append to an
 * existing pair cannot parse (two lines), close says EINVAL, old kept.
 */
static void test_values_pair_append_creates(void **state)
{
	struct shmtab_schema sp = { SHMTAB_KIND_HASH, "string",
				    "pair(string,int64)", NULL };
	struct mt_table *g = mt_table_new(prefix, "ty", &sp);
	char *p1 = mt_path(&main_mnt, g, "new");
	char *p2 = mt_path(&main_mnt, g, "rw");
	char *p3 = mt_path(&main_mnt, g, "two"), *text;
	int fd;

	(void)state;
	assert_int_equal(append(p1, "a\t1\n"), 0);
	assert_file(p1, "a\t1\n");
	text = lib_text(g->t, "pair(string,int64)", "new", 3);
	assert_string_equal(text, "a\t1\n");
	free(text);
	/* to an existing pair: a second line, refused, the old kept */
	assert_int_equal(append(p1, "b\t2\n"), -EINVAL);
	assert_file(p1, "a\t1\n");
	/* read-write, as before */
	assert_int_equal(put_file(p2, O_RDWR | O_CREAT | O_APPEND, "c\t3\n"),
			 0);
	assert_file(p2, "c\t3\n");
	/* one file, two writes */
	fd = open(p3, O_WRONLY | O_CREAT | O_APPEND, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "d\t", 2), 2);
	assert_int_equal(write(fd, "4\n", 2), 2);
	assert_int_equal(close(fd), 0);
	assert_file(p3, "d\t4\n");
	free(p1);
	free(p2);
	free(p3);
	mt_table_free(g);
}

/* --- keys ------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The listing's names sorted and joined, to compare as a set. */
static char *sorted(char *list)
{
	char *v[64], *out, *save = NULL, *tok;
	size_t n = 0, i, len = 0, size = strlen(list) + 1;

	for (tok = strtok_r(list, " ", &save); tok && n < 64;
	     tok = strtok_r(NULL, " ", &save))
		v[n++] = tok;
	qsort(v, n, sizeof(v[0]), cmp_str);
	out = calloc(1, size);
	assert_non_null(out);
	for (i = 0; i < n; i++)
		len += (size_t)sprintf(out + len, "%s%s", i ? " " : "", v[i]);
	return out;
}

static void test_keys_int_and_pair_names(void **state)
{
	struct shmtab_schema s = { SHMTAB_KIND_HASH, "int64", "string", NULL };
	struct shmtab_schema sp = { SHMTAB_KIND_HASH, "pair(string,int32)",
				    "int64", NULL };
	struct mt_table *f = mt_table_new(prefix, "ty", &s);
	struct mt_table *g = mt_table_new(prefix, "ty", &sp);
	char *dir = mt_path(&main_mnt, f, NULL);
	char *gdir = mt_path(&main_mnt, g, NULL);
	char *list, *set, *p;
	const char *bad[] = { "05", "+5", "-0", "5%0A", "x", "" };
	struct stat st;
	int64_t v;
	size_t i;

	(void)state;
	assert_int_equal(shmtab_treplace(f->t, SHMTAB_V_I64(5),
					 SHMTAB_V_STR("five")),
			 0);
	assert_int_equal(shmtab_treplace(f->t, SHMTAB_V_I64(-3),
					 SHMTAB_V_STR("minus")),
			 0);
	assert_int_equal(shmtab_treplace(f->t, SHMTAB_V_I64(100),
					 SHMTAB_V_STR("hundred")),
			 0);
	list = list_dir(dir);
	set = sorted(list);
	assert_string_equal(set, "-3 100 5");
	free(list);
	free(set);
	p = mt_path(&main_mnt, f, "-3");
	assert_file(p, "minus");
	free(p);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!*bad[i])
			continue;
		p = mt_path(&main_mnt, f, bad[i]);
		assert_int_equal(stat(p, &st), -1);
		assert_int_equal(errno, ENOENT);
		assert_int_equal(open(p, O_WRONLY | O_CREAT, 0644), -1);
		assert_int_equal(errno, EINVAL);
		free(p);
	}
	/* a key made through the mount is the integer */
	p = mt_path(&main_mnt, f, "7");
	assert_int_equal(put(p, "seven"), 0);
	free(p);
	assert_int_equal(shmtab_tmem(f->t, SHMTAB_V_I64(7)), 1);
	/* rm, mv */
	p = mt_path(&main_mnt, f, "100");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(shmtab_tmem(f->t, SHMTAB_V_I64(100)), 0);
	free(p);
	{
		char *a = mt_path(&main_mnt, f, "5");
		char *b = mt_path(&main_mnt, f, "6");

		assert_int_equal(rename(a, b), 0);
		assert_file(b, "five");
		free(a);
		free(b);
	}
	/* pair keys: the fields with a tab, escaped as %09 */
	assert_int_equal(shmtab_int_set(g->t,
					SHMTAB_V_PAIR(SHMTAB_V_STR("a/b"),
						      SHMTAB_V_I32(1)),
					10),
			 0);
	list = list_dir(gdir);
	assert_string_equal(list, "a%2Fb%091");
	free(list);
	p = mt_path(&main_mnt, g, "a%2Fb%091");
	assert_file(p, "10\n");
	assert_int_equal(append(p, "5\n"), 0);
	free(p);
	assert_int_equal(shmtab_int_get(g->t,
					SHMTAB_V_PAIR(SHMTAB_V_STR("a/b"),
						      SHMTAB_V_I32(1)),
					&v),
			 0);
	assert_int_equal(v, 15);
	p = mt_path(&main_mnt, g, "a%2Fb%0901");	/* not canonical */
	assert_int_equal(stat(p, &st), -1);
	assert_int_equal(errno, ENOENT);
	free(p);
	free(dir);
	free(gdir);
	mt_table_free(f);
	mt_table_free(g);
}

/* --- arrays ----------------------------------------------------------- */

static void test_array_listing_defaults_unset(void **state)
{
	struct shmtab_schema s = { SHMTAB_KIND_ARRAY, NULL, "int32",
				   SHMTAB_V_I32(42) };
	struct mt_table *f = mt_table_new(prefix, "ty", &s);
	char *dir = mt_path(&main_mnt, f, NULL), *p, *list, buf[64];
	const char *outside[] = { "12", "012", "-1", "1x",
				  "99999999999999999999" };
	struct stat st;
	int64_t v;
	size_t i;

	(void)state;
	assert_int_equal(shmtab_array_resize(f->t, 12), 0);
	list = list_dir(dir);
	assert_string_equal(list, "0 1 2 3 4 5 6 7 8 9 10 11");
	free(list);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_size, 12);
	/* unset: the default */
	p = mt_path(&main_mnt, f, "3");
	assert_file(p, "42\n");
	assert_int_equal(put(p, "-9\n"), 0);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_I64(3), &v), 0);
	assert_int_equal(v, -9);
	assert_int_equal(append(p, "10\n"), 0);
	assert_file(p, "1\n");
	/* rm unsets: the name stays, with the default */
	assert_int_equal(unlink(p), 0);
	assert_file(p, "42\n");
	assert_int_equal(shmtab_length(f->t), 0);
	assert_int_equal(xget(p, "user.shmtab.bindings", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "0");
	free(p);
	/* appends to an unset element add to the default */
	p = mt_path(&main_mnt, f, "11");
	assert_int_equal(append(p, "1\n"), 0);
	assert_file(p, "43\n");
	free(p);
	/* library changes show at once */
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_I64(0), 7), 0);
	p = mt_path(&main_mnt, f, "0");
	assert_file(p, "7\n");
	free(p);
	/* mv moves the element; the source is unset */
	{
		char *a = mt_path(&main_mnt, f, "0");
		char *b = mt_path(&main_mnt, f, "5");

		assert_int_equal(rename(a, b), 0);
		assert_file(b, "7\n");
		assert_file(a, "42\n");
		assert_int_equal(renameat2(AT_FDCWD, b, AT_FDCWD, a,
					   RENAME_NOREPLACE),
				 -1);
		assert_int_equal(errno, EEXIST);
		free(a);
		free(b);
	}
	for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		p = mt_path(&main_mnt, f, outside[i]);
		assert_int_equal(stat(p, &st), -1);
		assert_int_equal(errno, ENOENT);
		assert_int_equal(open(p, O_WRONLY | O_CREAT, 0644), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(unlink(p), -1);
		assert_int_equal(errno, ENOENT);
		free(p);
	}
	free(dir);
	mt_table_free(f);
}

/* rename(2) from another table onto an element: the element takes the
 * text, the source goes (every binding of a key; an element is unset). */
static void test_array_rename_from_another_table(void **state)
{
	struct shmtab_schema s = { SHMTAB_KIND_ARRAY, NULL, "int64",
				   SHMTAB_V_I64(-1) };
	struct shmtab_schema sh = { SHMTAB_KIND_HASH, "string", "string",
				    NULL };
	struct mt_table *f = mt_table_new(prefix, "ty", &s);
	struct mt_table *g = mt_table_new(prefix, "ty", &s);
	struct mt_table *h = mt_table_new(prefix, "ty", &sh);
	char *e2 = mt_path(&main_mnt, f, "2"), *e3 = mt_path(&main_mnt, f, "3");
	char *g0 = mt_path(&main_mnt, g, "0"), *k = mt_path(&main_mnt, h, "k");
	char *out = mt_path(&main_mnt, f, "4");
	int64_t v;

	(void)state;
	assert_int_equal(shmtab_array_resize(f->t, 4), 0);
	assert_int_equal(shmtab_array_resize(g->t, 1), 0);
	assert_int_equal(put(e2, "8\n"), 0);
	/* a string key with a hidden binding, onto a set element */
	assert_int_equal(shmtab_tadd(h->t, SHMTAB_V_STR("k"),
				     SHMTAB_V_STR("1\n")),
			 0);
	assert_int_equal(shmtab_tadd(h->t, SHMTAB_V_STR("k"),
				     SHMTAB_V_STR("12\n")),
			 0);
	assert_int_equal(renameat2(AT_FDCWD, k, AT_FDCWD, e2,
				   RENAME_NOREPLACE),
			 -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(rename(k, e2), 0);
	assert_file(e2, "12\n");
	assert_int_equal(access(k, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(shmtab_length(h->t), 0);
	/* an element of another array: unset there */
	assert_int_equal(put(g0, "30\n"), 0);
	assert_int_equal(rename(g0, e3), 0);
	assert_file(e3, "30\n");
	assert_file(g0, "-1\n");
	assert_int_equal(shmtab_length(g->t), 0);
	/* a text the type does not parse, a name outside: nothing changes */
	assert_int_equal(put(k, "twelve"), 0);
	assert_int_equal(rename(k, e3), -1);
	assert_int_equal(errno, EINVAL);
	assert_file(k, "twelve");
	assert_file(e3, "30\n");
	assert_int_equal(put(k, "4"), 0);
	assert_int_equal(rename(k, out), -1);
	assert_int_equal(errno, EINVAL);
	assert_file(k, "4");
	/* out of an array, or into a hash table: EXDEV, mv(1) copies */
	assert_int_equal(rename(e3, k), -1);
	assert_int_equal(errno, EXDEV);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_I64(3), &v), 0);
	assert_int_equal(v, 30);
	free(e2);
	free(e3);
	free(g0);
	free(k);
	free(out);
	mt_table_free(f);
	mt_table_free(g);
	mt_table_free(h);
}

static void test_array_resize_through_xattr(void **state)
{
	struct shmtab_schema s = { SHMTAB_KIND_ARRAY, NULL, "string", NULL };
	struct mt_table *f = mt_table_new(prefix, "ty", &s);
	char *dir = mt_path(&main_mnt, f, NULL), *p, *list, buf[256];
	void *val;
	size_t vlen;

	(void)state;
	assert_int_equal(xset(dir, "user.shmtab.array", "6\n"), 0);
	assert_int_equal(shmtab_array_length(f->t), 6);
	p = mt_path(&main_mnt, f, "5");
	assert_int_equal(put(p, "last"), 0);
	assert_file(p, "last");
	free(p);
	p = mt_path(&main_mnt, f, "1");
	assert_int_equal(put(p, "first"), 0);
	free(p);
	/* down: the elements past the end are gone */
	assert_int_equal(xset(dir, "user.shmtab.array", "2"), 0);
	assert_int_equal(shmtab_array_length(f->t), 2);
	list = list_dir(dir);
	assert_string_equal(list, "0 1");
	free(list);
	p = mt_path(&main_mnt, f, "5");
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	free(p);
	/* up: new elements are unset (the default: "") */
	assert_int_equal(xset(dir, "user.shmtab.array", "8"), 0);
	assert_int_equal(xget(dir, "user.shmtab.array", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "8");
	list = list_dir(dir);
	assert_string_equal(list, "0 1 2 3 4 5 6 7");
	free(list);
	p = mt_path(&main_mnt, f, "5");
	assert_file(p, "");
	free(p);
	assert_int_equal(shmtab_array_get(f->t, 1, &val, &vlen), 0);
	assert_int_equal(vlen, 5);
	assert_memory_equal(val, "first", 5);
	free(val);
	/* not a length */
	assert_int_equal(xset(dir, "user.shmtab.array", "-1"), -EINVAL);
	assert_int_equal(xset(dir, "user.shmtab.array", "1e3"), -EINVAL);
	/* a new default needs an empty array; the length stays */
	assert_int_equal(xset(dir, "user.shmtab.default", "dflt"), -ENOTEMPTY);
	p = mt_path(&main_mnt, f, "1");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(xset(dir, "user.shmtab.default", "dflt"), 0);
	assert_file(p, "dflt");
	free(p);
	assert_int_equal(xget(dir, "user.shmtab.default", buf, sizeof(buf)), 4);
	assert_string_equal(buf, "dflt");
	assert_int_equal(shmtab_array_length(f->t), 8);
	free(dir);
	mt_table_free(f);
}

static void test_mkdir_and_xattrs_make_typed_tables(void **state)
{
	struct mt_table *f = mt_table_name(prefix, "mk");
	struct mt_table *g = mt_table_name(prefix, "mk");
	char *dir = mt_path(&main_mnt, f, NULL);
	char *gdir = mt_path(&main_mnt, g, NULL);
	char *p, buf[1024];
	struct shmtab_schema s;
	ssize_t n;

	(void)state;
	assert_int_equal(mkdir(dir, 0644), 0);
	assert_int_equal(xget(dir, "user.shmtab.key_type", buf, sizeof(buf)),
			 5);
	assert_string_equal(buf, "bytes");
	assert_int_equal(xget(dir, "user.shmtab.array", buf, sizeof(buf)), -1);
	assert_int_equal(errno, ENODATA);
	assert_int_equal(xget(dir, "user.shmtab.default", buf, sizeof(buf)),
			 -1);
	assert_int_equal(errno, ENODATA);
	assert_int_equal(xset(dir, "user.shmtab.key_type", "string"), 0);
	/* canonical spelling, a trailing newline dropped */
	assert_int_equal(xset(dir, "user.shmtab.value_type",
			      "pair( int64 , int32 )\n"),
			 0);
	assert_int_equal(xget(dir, "user.shmtab.value_type", buf, sizeof(buf)),
			 17);
	assert_string_equal(buf, "pair(int64,int32)");
	assert_int_equal(xset(dir, "user.shmtab.value_type", "pear"), -EINVAL);
	assert_int_equal(xset(dir, "user.shmtab.default", "0"), -EINVAL);
	assert_int_equal(setxattr(dir, "user.shmtab.array", "3", 1,
				  XATTR_REPLACE),
			 -1);
	assert_int_equal(errno, ENODATA);
	assert_int_equal(setxattr(dir, "user.shmtab.key_type", "string", 6,
				  XATTR_CREATE),
			 -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(xset(dir, "user.shmtab.stat", "x"), -ENOTSUP);
	p = mt_path(&main_mnt, f, "k");
	assert_int_equal(put(p, "1\t2\n"), 0);
	free(p);
	/* the library sees the schema */
	assert_int_equal(shmtab_open(f->name, O_RDWR, 0, NULL, &f->t), 0);
	assert_int_equal(shmtab_get_schema(f->t, &s), 0);
	assert_int_equal(s.kind, SHMTAB_KIND_HASH);
	assert_string_equal(s.key_type, "string");
	assert_string_equal(s.value_type, "pair(int64,int32)");
	/* with a binding the schema stays; the same value is still fine */
	assert_int_equal(xset(dir, "user.shmtab.value_type", "int64"),
			 -ENOTEMPTY);
	assert_int_equal(xset(dir, "user.shmtab.array", "4"), -ENOTEMPTY);
	assert_int_equal(xset(dir, "user.shmtab.key_type", "string"), 0);
	/* stat, bindings as text */
	n = xget(dir, "user.shmtab.stat", buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, "\nkind: hash\n"));
	assert_non_null(strstr(buf, "\nkey_type: string\n"));
	assert_non_null(strstr(buf, "\nvalue_type: pair(int64,int32)\n"));
	assert_null(strstr(buf, "length:"));
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR("k"),
				     SHMTAB_V_PAIR(SHMTAB_V_I64(3),
						   SHMTAB_V_I32(4))),
			 0);
	p = mt_path(&main_mnt, f, "k");
	assert_int_equal(xget(p, "user.shmtab.bindings", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "2");
	assert_int_equal(xget(p, "user.shmtab.binding.1", buf, sizeof(buf)),
			 4);
	assert_string_equal(buf, "1\t2\n");
	assert_int_equal(unlink(p), 0);
	free(p);
	/* empty again: an array of length 3, then back to a hash table */
	assert_int_equal(xset(dir, "user.shmtab.array", "3"), 0);
	assert_int_equal(shmtab_get_schema(f->t, &s), 0);
	assert_int_equal(s.kind, SHMTAB_KIND_ARRAY);
	assert_int_equal(shmtab_array_length(f->t), 3);
	n = xget(dir, "user.shmtab.stat", buf, sizeof(buf));
	assert_non_null(strstr(buf, "\nkind: array\n"));
	assert_non_null(strstr(buf, "\nlength: 3\n"));
	assert_int_equal(xget(dir, "user.shmtab.default", buf, sizeof(buf)),
			 4);
	assert_string_equal(buf, "0\t0\n");
	assert_int_equal(removexattr(dir, "user.shmtab.array"), 0);
	assert_int_equal(shmtab_get_schema(f->t, &s), 0);
	assert_int_equal(s.kind, SHMTAB_KIND_HASH);
	assert_string_equal(s.value_type, "pair(int64,int32)");
	assert_int_equal(removexattr(dir, "user.shmtab.value_type"), 0);
	assert_int_equal(shmtab_get_schema(f->t, &s), 0);
	assert_string_equal(s.value_type, "bytes");

	/* an int64 array made with mkdir and three attributes */
	assert_int_equal(mkdir(gdir, 0644), 0);
	assert_int_equal(xset(gdir, "user.shmtab.value_type", "int64"), 0);
	assert_int_equal(xset(gdir, "user.shmtab.array", "4"), 0);
	assert_int_equal(xset(gdir, "user.shmtab.default", "-1"), 0);
	p = mt_path(&main_mnt, g, "3");
	assert_file(p, "-1\n");
	free(p);
	assert_int_equal(xset(gdir, "user.shmtab.key_type", "string"),
			 -EINVAL);
	free(dir);
	free(gdir);
	mt_table_free(f);
	mt_table_free(g);
}

/* --- the shared counter ------------------------------------------------- */

#define COUNTER_N 300

struct counter_arg {
	const char *path;	/* through the mount, or NULL */
	const char *name;	/* the table, for the library */
	int lines;		/* deltas written per open */
};

static int counter_mount(void *arg)
{
	struct counter_arg *c = arg;
	int i, fd;

	for (i = 0; i < COUNTER_N; i += c->lines) {
		fd = open(c->path, O_WRONLY | O_APPEND | O_CREAT, 0644);
		if (fd < 0)
			return 10;
		if (c->lines == 1 && write(fd, "1\n", 2) != 2)
			return 11;
		/* several deltas in one open: one add of their sum */
		if (c->lines == 3 && write(fd, "1\n+1\n1", 6) != 6)
			return 12;
		if (close(fd) != 0)
			return 13;
	}
	return 0;
}

static int counter_lib(void *arg)
{
	struct counter_arg *c = arg;
	shmtab *t;
	int i;

	if (shmtab_open(c->name, O_RDWR, 0, NULL, &t) != 0)
		return 20;
	for (i = 0; i < COUNTER_N; i++) {
		if (shmtab_int_add(t, SHMTAB_V_STR("hits"), 1, NULL) != 0)
			return 21;
		usleep(200);
	}
	shmtab_close(t);
	return 0;
}

static void test_counter_no_lost_increment(void **state)
{
	struct shmtab_schema s = { SHMTAB_KIND_HASH, "string", "int64", NULL };
	struct mt_table *f = mt_table_new(prefix, "ty", &s);
	char *path = mt_path(&main_mnt, f, "hits");
	struct counter_arg m1 = { path, f->name, 1 }, m3 = { path, f->name, 3 };
	struct counter_arg l = { NULL, f->name, 1 };
	pid_t pids[5];
	char want[32];
	int64_t v;
	size_t i;

	(void)state;
	/* the key does not exist yet: the first appends create it */
	pids[0] = tu_fork(counter_mount, &m1);
	pids[1] = tu_fork(counter_mount, &m1);
	pids[2] = tu_fork(counter_mount, &m3);
	pids[3] = tu_fork(counter_lib, &l);
	pids[4] = tu_fork(counter_lib, &l);
	for (i = 0; i < 5; i++) {
		assert_true(pids[i] > 0);
		assert_int_equal(tu_wait(pids[i], 120), 0);
	}
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_STR("hits"), &v), 0);
	assert_int_equal(v, 5 * COUNTER_N);
	snprintf(want, sizeof(want), "%d\n", 5 * COUNTER_N);
	assert_file(path, want);
	/* a bad delta is refused at once, and adds nothing */
	assert_int_equal(append(path, "1\nx\n"), -EINVAL);
	assert_int_equal(append(path, "\n"), -EINVAL);
	assert_int_equal(append(path, "9223372036854775807\n"), -ERANGE);
	assert_file(path, want);
	free(path);
	mt_table_free(f);
}

/* An integer value type on a table whose key type is bytes (untyped keys,
 * escaped names). */
static void test_counter_bytes_keys(void **state)
{
	struct shmtab_schema s = { SHMTAB_KIND_HASH, NULL, "int", NULL };
	struct mt_table *f = mt_table_new(prefix, "ty", &s);
	char *path = mt_path(&main_mnt, f, "c%2Fd");
	struct counter_arg m = { path, f->name, 1 };
	pid_t pids[3];
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++)
		pids[i] = tu_fork(counter_mount, &m);
	for (i = 0; i < 3; i++) {
		assert_true(pids[i] > 0);
		assert_int_equal(tu_wait(pids[i], 120), 0);
	}
	assert_file(path, "900\n");
	free(path);
	mt_table_free(f);
}

/* The text one read(2) of fd at off gives (NUL-terminated, static). */
static const char *pread_text(int fd, off_t off)
{
	static char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, off);

	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

/* A counter opened to read and append (Python's "a+") reads its value as
 * at the open, a key the open created too: the zero it was created with. */
static void test_counter_read_append_new_key(void **state)
{
	struct mt_table *f = mt_table_name(prefix, "mk");
	char *dir = mt_path(&main_mnt, f, NULL);
	char *path = mt_path(&main_mnt, f, "c");
	int fd;

	(void)state;
	assert_int_equal(mkdir(dir, 0644), 0);
	assert_int_equal(xset(dir, "user.shmtab.value_type", "int64"), 0);
	fd = open(path, O_RDWR | O_APPEND | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_string_equal(pread_text(fd, 0), "0\n");
	/* what it appends adds; the file keeps reading its version */
	assert_int_equal(write(fd, "5\n", 2), 2);
	assert_string_equal(pread_text(fd, 0), "0\n");
	assert_int_equal(close(fd), 0);
	assert_file(path, "5\n");
	/* the same on the existing key */
	fd = open(path, O_RDWR | O_APPEND | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_string_equal(pread_text(fd, 0), "5\n");
	assert_int_equal(write(fd, "-2\n", 3), 3);
	assert_string_equal(pread_text(fd, 0), "5\n");
	assert_int_equal(close(fd), 0);
	assert_file(path, "3\n");
	free(path);
	free(dir);
	mt_table_free(f);
}

/* --- the cached mode ------------------------------------------------------ */

/* Seconds until the listing of dir is want; -1 past the bound. */
static double wait_list(const char *dir, const char *want)
{
	double t0 = tu_now(), t;
	char *list;
	bool same;

	for (;;) {
		list = list_dir(dir);
		same = !strcmp(list, want);
		free(list);
		t = tu_now() - t0;
		if (same)
			return t;
		if (t > CACHE_BOUND_S)
			return -1;
		tu_sleep_ms(1);
	}
}

static void test_cached_mode_follows_adds_and_resizes(void **state)
{
	struct shmtab_schema s = { SHMTAB_KIND_HASH, "string", "int64", NULL };
	struct shmtab_schema a = { SHMTAB_KIND_ARRAY, NULL, "int64", NULL };
	struct mt_table *f = mt_table_new(prefix, "ty", &s);
	struct mt_table *g = mt_table_new(prefix, "ty", &a);
	char *path, *dir, *e5, *e0;
	int64_t v = 1;
	int i, misses = 0;
	struct stat st;

	(void)state;
	assert_int_equal(tu_mount_start(&cache_mnt, "t-typed", "cache", source,
					"cache=60"),
			 0);
	path = mt_path(&cache_mnt, f, "n");
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_STR("n"), 1), 0);
	assert_int_equal(stat(path, &st), 0);	/* now cached */
	assert_int_equal(st.st_size, 2);
	/* 1, 10, 100, ...: the text grows by one digit each time */
	for (i = 0; i < 15; i++) {
		assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("n"), 9 * v,
						NULL),
				 0);
		v *= 10;
		if (tu_wait_size(path, i + 3, CACHE_BOUND_S) < 0)
			misses++;
	}
	assert_int_equal(misses, 0);

	assert_int_equal(shmtab_array_resize(g->t, 8), 0);
	dir = mt_path(&cache_mnt, g, NULL);
	e5 = mt_path(&cache_mnt, g, "5");
	e0 = mt_path(&cache_mnt, g, "0");
	assert_int_equal(stat(e5, &st), 0);
	assert_int_equal(stat(e0, &st), 0);
	assert_int_equal(st.st_size, 2);	/* "0\n" */
	assert_true(wait_list(dir, "0 1 2 3 4 5 6 7") >= 0);
	/* shrink: a cached name past the end goes */
	assert_int_equal(shmtab_array_resize(g->t, 3), 0);
	assert_true(tu_wait_size(e5, -1, CACHE_BOUND_S) >= 0);
	assert_true(wait_list(dir, "0 1 2") >= 0);
	/* a new default: every unset element's size changes */
	{
		struct shmtab_schema d = { SHMTAB_KIND_ARRAY, NULL, "int64",
					   SHMTAB_V_I64(-12345) };

		assert_int_equal(shmtab_set_schema(g->t, &d), 0);
		assert_int_equal(shmtab_array_resize(g->t, 6), 0);
	}
	assert_true(tu_wait_size(e0, 7, CACHE_BOUND_S) >= 0);
	assert_true(tu_wait_size(e5, 7, CACHE_BOUND_S) >= 0);
	assert_true(wait_list(dir, "0 1 2 3 4 5") >= 0);
	tu_mount_stop(&cache_mnt);
	free(path);
	free(dir);
	free(e5);
	free(e0);
	mt_table_free(f);
	mt_table_free(g);
}

/* --- main ------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	if (tu_mount_start(&main_mnt, "t-typed", "rw", source, NULL) != 0) {
		tu_mount_stop(&main_mnt);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tu_mount_stop(&cache_mnt);
	tu_mount_stop(&main_mnt);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_round_trip_every_type),
		cmocka_unit_test(test_values_malformed_refused_old_kept),
		cmocka_unit_test(test_values_pair_append_creates),
		cmocka_unit_test(test_keys_int_and_pair_names),
		cmocka_unit_test(test_array_listing_defaults_unset),
		cmocka_unit_test(test_array_rename_from_another_table),
		cmocka_unit_test(test_array_resize_through_xattr),
		cmocka_unit_test(test_mkdir_and_xattrs_make_typed_tables),
		cmocka_unit_test(test_counter_no_lost_increment),
		cmocka_unit_test(test_counter_bytes_keys),
		cmocka_unit_test(test_counter_read_append_new_key),
		cmocka_unit_test(test_cached_mode_follows_adds_and_resizes),
	};
	int rc;

	rc = tu_mount_check();
	if (rc != 0)
		return rc;
	snprintf(prefix, sizeof(prefix), "shmtabfs-y-%d-%lx-", (int)getpid(),
		 (unsigned long)time(NULL));
	snprintf(source, sizeof(source), "posix:%s", prefix);
	tu_mount_watchdog(WATCHDOG_S);
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	tu_mount_watchdog(0);
	return rc;
}
