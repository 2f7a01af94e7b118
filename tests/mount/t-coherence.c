/* SPDX-License-Identifier: MIT */
/*
 * t-coherence.c - shmtabfs against the library, on a real mount
 *
 * Mounts posix:PREFIX (a prefix unique to this run) with the built
 * shmtabfs ($SHMTABFS, run with -f so that this program owns its pid) and
 * checks that
 *  - a library change is visible through the mount as soon as the call
 *    returned (stat, read, readdir), over many changes, zero tolerance;
 *    so is a chmod or unlink of the table through the library, while one
 *    made without it is seen within the daemon's bound (1 ms);
 *  - a library process replacing a 64 KiB value while a reader reads it
 *    through the mount never shows a mix of two values, nor does writing
 *    through the mount while the library reads;
 *  - big values (in buffers the daemon reuses): a reader opened before a
 *    library replace and one opened after it each read their own version
 *    whole, and writes through the mount publish exactly what was written;
 *  - a write at an offset keeps what another process changed meanwhile;
 *  - the hidden bindings and the statistics are readable as xattrs;
 *  - escaped names address the unescaped keys; rename honours
 *    RENAME_NOREPLACE;
 *  - a read-only mount gives EROFS;
 *  - a request waiting for a lock held by another process does not stop
 *    the requests for other tables;
 *  - in the cached mode (-o cache=60) every library change is visible
 *    within the stated bound (CACHE_BOUND_S), and values are never stale,
 *    also when the kernel serves them from its page cache: thousands of
 *    changes made by the library, writes through the mount read back at
 *    once, no reader ever sees a mix of two values, and a big value read
 *    again after a library replace is the new one;
 *  - in the cached mode a renamed key keeps its inode under the new name,
 *    which reads the moved value (also an array element moved back and
 *    forth), and a file open on a replaced target reads its old value.
 * Exits 77 without /dev/fuse, fusermount3 or $SHMTABFS.  Every mount is
 * unmounted and every daemon this program started is stopped, also when
 * the watchdog fires.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "format.h"
#include "shmtab.h"
#include "mountutil.h"
#include "mounttab.h"
#include "testutil.h"

#define WATCHDOG_S 180
#define BIG (64 * 1024)

/* The shmtabfs source of every mount, "posix:PREFIX" (PREFIX unique to
 * this run). */
static char prefix[64], source[80];
static struct tu_mount main_mnt, ro_mnt, cache_mnt;

/* The cached mode's staleness bound, as stated in shmtabfs(1). */
#define CACHE_BOUND_S 1.0

/* --- helpers ---------------------------------------------------------- */

/* "posix:/PREFIXtag"; malloc'd */
static char *table_name(const char *tag)
{
	char *s;

	if (asprintf(&s, "posix:/%s%s", prefix, tag) < 0)
		return NULL;
	return s;
}

static bool dir_has(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	if (!d)
		return false;
	while ((de = readdir(d)))
		if (!strcmp(de->d_name, name))
			found = true;
	closedir(d);
	return found;
}

static bool uniform(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (p[i] != p[0])
			return false;
	return true;
}

struct fx {
	char *name;		/* library name of the table */
	char tag[32];		/* its name under the mount */
	shmtab *t;
	char *extra;		/* a second table a test made, or NULL */
};

static int fx_setup(void **state)
{
	static int n;
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->tag, sizeof(f->tag), "tab%d", ++n);
	f->name = table_name(f->tag);
	if (!f->name || tu_create(f->name, NULL, &f->t) != 0) {
		free(f->name);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	shmtab_close(f->t);
	tu_remove(f->name);
	if (f->extra)
		tu_remove(f->extra);
	free(f->extra);
	free(f->name);
	free(f);
	return 0;
}

/* --- tests ------------------------------------------------------------ */

static void test_coherence_library_change_visible(void **state)
{
	struct fx *f = *state;
	char *dir = tu_mount_path(&main_mnt, f->tag, NULL);
	char *path = tu_mount_path(&main_mnt, f->tag, "k");
	unsigned char val[512], got[1024];
	char other[32], *opath;
	struct stat st;
	ssize_t n;
	int i, misses = 0;

	for (i = 0; i < 300; i++) {
		size_t len = 1 + (size_t)(i * 37) % 400;

		memset(val, 'a' + i % 26, len);
		if (i % 3 == 0)
			assert_int_equal(shmtab_add(f->t, "k", 1, val, len), 0);
		else
			assert_int_equal(
				shmtab_replace(f->t, "k", 1, val, len), 0);
		if (stat(path, &st) != 0 || (size_t)st.st_size != len)
			misses++;
		n = tu_read_file(path, got, sizeof(got));
		if (n != (ssize_t)len || memcmp(got, val, len) != 0)
			misses++;
		if (!dir_has(dir, "k"))
			misses++;

		snprintf(other, sizeof(other), "n%d", i);
		opath = tu_mount_path(&main_mnt, f->tag, other);
		assert_int_equal(tu_add_str(f->t, other, "x"), 0);
		if (stat(opath, &st) != 0 || st.st_size != 1 ||
		    !dir_has(dir, other))
			misses++;
		assert_int_equal(shmtab_remove(f->t, other, strlen(other)), 0);
		if (stat(opath, &st) == 0 || errno != ENOENT ||
		    dir_has(dir, other))
			misses++;
		free(opath);
	}
	assert_int_equal(misses, 0);

	/* every binding of k gone: the file is gone */
	while (shmtab_mem(f->t, "k", 1) == 1)
		assert_int_equal(shmtab_remove(f->t, "k", 1), 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(dir_has(dir, "k"));
	free(dir);
	free(path);
}

/* The mode a table directory shows for its object's mode m (fs-attr.c):
 * x wherever r. */
static mode_t dir_mode(mode_t m)
{
	return (m & 0777) | ((m & 0444) >> 2);
}

/*
 * The daemon keeps a stat of a table's object for a moment (shmtabfs(1),
 * FS_OBJ_KEEP_NS), but shmtab_chmod, shmtab_chown and shmtab_unlink are seen
 * at once: a mode changed through the library shows in the very next stat
 * of the directory and of a key, a table unlinked through the library is
 * gone for the very next lookup, and one made again under its name is there.
 */
static void test_coherence_library_object_change_visible(void **state)
{
	struct fx *f = *state;
	char *dir = tu_mount_path(&main_mnt, f->tag, NULL);
	char *path = tu_mount_path(&main_mnt, f->tag, "k");
	char *dir2, *path2, *name2, tag2[40];
	struct stat st;
	shmtab *t2;
	int i, misses = 0;

	assert_int_equal(tu_add_str(f->t, "k", "v"), 0);
	for (i = 0; i < 300; i++) {
		mode_t m = i % 2 ? 0640 : 0600;

		/* the daemon has just seen the object: it keeps that stat */
		if (stat(dir, &st) != 0 || stat(path, &st) != 0)
			misses++;
		assert_int_equal(shmtab_chmod(f->t, m), 0);
		if (stat(dir, &st) != 0 || (st.st_mode & 07777) != dir_mode(m))
			misses++;
		if (stat(path, &st) != 0 || (st.st_mode & 07777) != m)
			misses++;
	}
	assert_int_equal(misses, 0);
	assert_int_equal(shmtab_chmod(f->t, 0600), 0);

	snprintf(tag2, sizeof(tag2), "%sb", f->tag);
	dir2 = tu_mount_path(&main_mnt, tag2, NULL);
	path2 = tu_mount_path(&main_mnt, tag2, "k");
	name2 = table_name(tag2);
	assert_non_null(name2);
	f->extra = strdup(name2);
	for (i = 0; i < 100; i++) {
		assert_int_equal(tu_create(name2, NULL, &t2), 0);
		assert_int_equal(tu_add_str(t2, "k", i % 2 ? "odd" : "even"),
				 0);
		if (stat(path2, &st) != 0 ||
		    st.st_size != (i % 2 ? 3 : 4))
			misses++;
		/* the handle stays open: only the name goes */
		assert_int_equal(shmtab_unlink(name2), 0);
		if (stat(dir2, &st) == 0 || errno != ENOENT)
			misses++;
		if (stat(path2, &st) == 0 || errno != ENOENT)
			misses++;
		assert_int_equal(shmtab_close(t2), 0);
	}
	assert_int_equal(misses, 0);
	free(name2);
	free(dir2);
	free(path2);
	free(dir);
	free(path);
}

/*
 * A change to a table's object made without the library (chmod(2) on the
 * object itself) is seen once the daemon's kept stat is older than its
 * bound, 1 ms (shmtabfs(1)).
 */
static void test_coherence_outside_object_change_within_bound(void **state)
{
	struct fx *f = *state;
	char *dir = tu_mount_path(&main_mnt, f->tag, NULL);
	char obj[128];
	struct timespec pause = { 0, 2 * 1000 * 1000 };
	struct stat st;
	int fd, i, misses = 0;

	snprintf(obj, sizeof(obj), "/%s%s", prefix, f->tag);
	fd = shm_open(obj, O_RDWR, 0);
	assert_true(fd >= 0);
	for (i = 0; i < 100; i++) {
		mode_t m = i % 2 ? 0640 : 0600;

		if (stat(dir, &st) != 0)
			misses++;
		assert_int_equal(fchmod(fd, m), 0);
		nanosleep(&pause, NULL);
		if (stat(dir, &st) != 0 || (st.st_mode & 07777) != dir_mode(m))
			misses++;
	}
	close(fd);
	assert_int_equal(misses, 0);
	free(dir);
}

struct writer_arg {
	const char *name;	/* table (library) or path (mount) */
	int rounds;		/* at least this many values */
	struct tu_barrier *stop;	/* then until this is posted, or NULL */
	unsigned int pause_us;		/* after each value */
};

/* The first 64 KiB value; the table grows while the writer runs. */
static void big_prepare(shmtab *t, unsigned char *buf)
{
	memset(buf, 'A', BIG);
	assert_int_equal(shmtab_replace(t, "big", 3, buf, BIG), 0);
}

static int lib_writer(void *arg)
{
	struct writer_arg *w = arg;
	static unsigned char buf[BIG];
	shmtab *t;
	int i, err;

	if (shmtab_open(w->name, O_RDWR, 0, NULL, &t) != 0)
		return 10;
	for (i = 0; i < w->rounds || (w->stop && i < 10000000 &&
				      tu_barrier_wait(w->stop, 0) != 0);
	     i++) {
		memset(buf, 'A' + i % 26, BIG);
		err = shmtab_replace(t, "big", 3, buf, BIG);
		if (err != 0) {
			shmtab_close(t);
			return 11;
		}
		if (w->pause_us)
			usleep(w->pause_us);
	}
	shmtab_close(t);
	return 0;
}

/* Wait for pid without blocking: 1 when it ended (*code set), else 0. */
static int child_done(pid_t pid, int *code)
{
	int status;

	if (waitpid(pid, &status, WNOHANG) != pid)
		return 0;
	*code = WIFEXITED(status) ? WEXITSTATUS(status) : 100;
	return 1;
}

static void test_atomic_library_writer_mount_reader(void **state)
{
	struct fx *f = *state;
	static unsigned char buf[2 * BIG];
	struct tu_barrier stop;
	struct writer_arg w = { f->name, 2000, &stop, 0 };
	char *path = tu_mount_path(&main_mnt, f->tag, "big");
	int reads = 0, torn = 0, code = -1;
	double deadline = tu_now() + 150;
	pid_t pid;
	ssize_t n;

	big_prepare(f->t, buf);
	assert_int_equal(tu_barrier_init(&stop), 0);
	pid = tu_fork(lib_writer, &w);
	assert_true(pid > 0);
	while (!child_done(pid, &code)) {
		/* 2000 replaces take a few ms: go on until 300 reads */
		if (reads == 300)
			tu_barrier_post(&stop);
		if (tu_now() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fail_msg("writer did not finish in time");
		}
		n = tu_read_file(path, buf, sizeof(buf));
		reads++;
		if (n != BIG || !uniform(buf, BIG))
			torn++;
	}
	tu_barrier_destroy(&stop);
	assert_int_equal(code, 0);
	print_message("# %d reads through the mount during the replaces\n",
		      reads);
	assert_true(reads >= 300);
	assert_int_equal(torn, 0);
	free(path);
}

/* Version v of a big value of len bytes: every 4 KiB block differs, and
 * from one version to the next. */
static void big_fill(unsigned char *p, size_t len, unsigned v)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i / 4096 * 7 + v * 31 + i % 13);
}

static bool big_is(const unsigned char *p, size_t len, unsigned v)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != (unsigned char)(i / 4096 * 7 + v * 31 + i % 13))
			return false;
	return true;
}

/* Read fd from its offset until EOF or cap; the bytes read. */
static size_t read_rest(int fd, unsigned char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)n;
	return got;
}

/*
 * Big values live in buffers the daemon reuses from open to open: a reader
 * opened before a library replace reads the old version whole, one opened
 * after it the new one, and a write through the mount publishes exactly
 * what it wrote, while the values shrink and grow across rounds (pooled
 * buffers larger than the value, and smaller).
 */
static void test_big_values_one_version_per_open(void **state)
{
	struct fx *f = *state;
	const size_t maxlen = 9 << 20, chunk = 1 << 20;
	unsigned char *a = malloc(maxlen), *b = malloc(maxlen);
	char *path = tu_mount_path(&main_mnt, f->tag, "big");
	size_t len, half, got, o;
	void *val;
	size_t vlen;
	unsigned r, v;
	int fd1, fd2, fd;

	assert_non_null(a);
	assert_non_null(b);
	for (r = 0; r < 12; r++) {
		/* 1.5 MiB to 8.x MiB, odd lengths, not monotonic */
		len = (size_t)(3 + (r * 5) % 12) * (1 << 19) + r * 4099 + 1;
		v = 3 * r;
		big_fill(a, len, v);
		assert_int_equal(shmtab_replace(f->t, "big", 3, a, len), 0);
		fd1 = open(path, O_RDONLY);
		assert_true(fd1 >= 0);
		half = len / 2;
		assert_int_equal(read_rest(fd1, b, half), half);
		big_fill(a, len + 12345, v + 1);
		assert_int_equal(shmtab_replace(f->t, "big", 3, a,
						len + 12345), 0);
		fd2 = open(path, O_RDONLY);
		assert_true(fd2 >= 0);
		got = read_rest(fd2, a, maxlen);
		close(fd2);
		assert_int_equal(got, len + 12345);
		assert_true(big_is(a, got, v + 1));
		/* the first reader: still its own version, whole */
		got = read_rest(fd1, b + half, maxlen - half);
		close(fd1);
		assert_int_equal(half + got, len);
		assert_true(big_is(b, len, v));
		/* a write through the mount, in 1 MiB writes */
		len -= r * 1000;
		big_fill(a, len, v + 2);
		fd = open(path, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		for (o = 0; o < len; o += chunk)
			assert_int_equal(write(fd, a + o, len - o < chunk ?
							 len - o : chunk),
					 (ssize_t)(len - o < chunk ? len - o :
								     chunk));
		assert_int_equal(close(fd), 0);
		assert_int_equal(shmtab_find(f->t, "big", 3, &val, &vlen), 0);
		assert_int_equal(vlen, len);
		assert_true(big_is(val, vlen, v + 2));
		free(val);
	}
	free(path);
	free(a);
	free(b);
}

/*
 * A big value is read in place, pinned in the table from open to close:
 * more readers than the library has pins (the rest get copies), each
 * opened on another version, keep reading their own version whole while
 * the library replaces and then removes the key; the table stays whole.
 * Then the table is emptied in place (O_TRUNC) and filled, and then
 * removed and made again behind the mount, each while a reader is open:
 * it still reads its version, and closes cleanly.
 */
/* Bytes of the table in limbo (lib/pin.c): freed, but still pinned. */
static uint64_t limbo_bytes(const char *name)
{
	return tu_object_word(name, offsetof(struct shm_header, limbo_bytes));
}

static void test_pinned_readers_keep_their_version(void **state)
{
	struct fx *f = *state;
	enum { NREAD = 11, HEAD = 4096 };
	const size_t len = (1 << 20) + 333;
	unsigned char *a = malloc(len + 512), *b = malloc(len + 512);
	char *path = tu_mount_path(&main_mnt, f->tag, "pin");
	int fd[NREAD], i, r;
	shmtab *t2;
	size_t got;

	assert_non_null(a);
	assert_non_null(b);
	for (i = 0; i < NREAD; i++) {
		big_fill(a, len + (size_t)i, (unsigned)i);
		assert_int_equal(shmtab_replace(f->t, "pin", 3, a,
						len + (size_t)i), 0);
		fd[i] = open(path, O_RDONLY);
		assert_true(fd[i] >= 0);
		assert_int_equal(read_rest(fd[i], b, HEAD), HEAD);
		assert_true(big_is(b, HEAD, (unsigned)i));
	}
	for (r = 0; r < 40; r++) {
		big_fill(a, len + (size_t)r * 7, 100 + (unsigned)r);
		assert_int_equal(shmtab_replace(f->t, "pin", 3, a,
						len + (size_t)r * 7), 0);
	}
	assert_int_equal(shmtab_remove(f->t, "pin", 3), 0);
	assert_int_equal(shmtab_check(f->t), 0);
	/* the daemon reads in place: 8 versions are pinned (its pins for
	 * the table), the other readers have copies */
	assert_true(limbo_bytes(f->name) >= 8 * len);
	assert_true(limbo_bytes(f->name) < 10 * len);
	for (i = 0; i < NREAD; i++) {
		got = read_rest(fd[i], b + HEAD, len + NREAD - HEAD);
		assert_int_equal(HEAD + got, len + (size_t)i);
		/* and its first bytes again, which b held for another */
		assert_int_equal(pread(fd[i], b, HEAD, 0), HEAD);
		assert_true(big_is(b, len + (size_t)i, (unsigned)i));
		assert_int_equal(close(fd[i]), 0);
	}
	/* the pins are gone: the chunks serve new values again */
	for (r = 0; r < 4; r++)
		assert_int_equal(shmtab_replace(f->t, "pin", 3, a, len), 0);
	assert_int_equal(limbo_bytes(f->name), 0);
	assert_int_equal(shmtab_check(f->t), 0);

	/* the table emptied in place (O_TRUNC) and filled with big values
	 * behind a pinned reader */
	big_fill(a, len, 5);
	assert_int_equal(shmtab_replace(f->t, "pin", 3, a, len), 0);
	fd[0] = open(path, O_RDONLY);
	assert_true(fd[0] >= 0);
	assert_int_equal(read_rest(fd[0], b, HEAD), HEAD);
	assert_int_equal(shmtab_open(f->name, O_RDWR | O_TRUNC, 0, NULL, &t2),
			 0);
	for (r = 0; r < 6; r++) {
		char key[16];

		snprintf(key, sizeof(key), "fill%d", r);
		big_fill(a, len, 50 + (unsigned)r);
		assert_int_equal(shmtab_add(t2, key, strlen(key), a, len), 0);
	}
	assert_int_equal(shmtab_check(t2), 0);
	shmtab_close(t2);
	got = read_rest(fd[0], b + HEAD, len + 1 - HEAD);
	assert_int_equal(HEAD + got, len);
	assert_true(big_is(b, len, 5));
	assert_int_equal(close(fd[0]), 0);

	/* the table removed and made again behind a pinned reader */
	big_fill(a, len, 7);
	assert_int_equal(shmtab_replace(f->t, "pin", 3, a, len), 0);
	fd[0] = open(path, O_RDONLY);
	assert_true(fd[0] >= 0);
	assert_int_equal(read_rest(fd[0], b, HEAD), HEAD);
	shmtab_close(f->t);
	f->t = NULL;
	assert_int_equal(shmtab_unlink(f->name), 0);
	assert_int_equal(tu_create(f->name, NULL, &f->t), 0);
	big_fill(a, len, 8);
	assert_int_equal(shmtab_replace(f->t, "pin", 3, a, len), 0);
	fd[1] = open(path, O_RDONLY);	/* the daemon retires the old table */
	assert_true(fd[1] >= 0);
	assert_int_equal(read_rest(fd[1], a, len + 1), len);
	assert_true(big_is(a, len, 8));
	got = read_rest(fd[0], b + HEAD, len + 1 - HEAD);
	assert_int_equal(HEAD + got, len);
	assert_true(big_is(b, len, 7));
	assert_int_equal(close(fd[0]), 0);
	assert_int_equal(close(fd[1]), 0);
	free(path);
	free(a);
	free(b);
}

static int mount_writer(void *arg)
{
	struct writer_arg *w = arg;
	static unsigned char buf[BIG];
	int i, j, fd;

	for (i = 0; i < w->rounds; i++) {
		memset(buf, 'a' + i % 26, BIG);
		fd = open(w->name, O_WRONLY | O_TRUNC);
		if (fd < 0)
			return 20;
		/* several writes: only the close may publish */
		for (j = 0; j < 4; j++)
			if (write(fd, buf + j * (BIG / 4), BIG / 4) != BIG / 4)
				return 21;
		if (close(fd) != 0)
			return 22;
	}
	return 0;
}

static void test_atomic_mount_writer_library_reader(void **state)
{
	struct fx *f = *state;
	static unsigned char buf[BIG];
	char *path = tu_mount_path(&main_mnt, f->tag, "big");
	struct writer_arg w = { path, 500, NULL, 0 };
	int reads = 0, torn = 0, code = -1;
	double deadline = tu_now() + 150;
	size_t vlen;
	pid_t pid;

	big_prepare(f->t, buf);
	pid = tu_fork(mount_writer, &w);
	assert_true(pid > 0);
	while (!child_done(pid, &code)) {
		if (tu_now() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fail_msg("writer did not finish in time");
		}
		vlen = 0;
		assert_int_equal(shmtab_find_into(f->t, "big", 3, buf,
						  sizeof(buf), &vlen),
				 0);
		reads++;
		if (vlen != BIG || !uniform(buf, BIG))
			torn++;
	}
	assert_int_equal(code, 0);
	print_message("# %d library reads during 500 writes (mount)\n",
		      reads);
	assert_int_equal(torn, 0);
	/* the last value written is the one kept */
	assert_int_equal(shmtab_find_into(f->t, "big", 3, buf, sizeof(buf),
					  &vlen),
			 0);
	assert_int_equal(vlen, BIG);
	assert_int_equal(buf[0], 'a' + 499 % 26);
	free(path);
}

static void test_write_publishes_at_close_only(void **state)
{
	struct fx *f = *state;
	char *path = tu_mount_path(&main_mnt, f->tag, "w");
	char got[64];
	size_t vlen;
	int fd;

	assert_int_equal(tu_add_str(f->t, "w", "old"), 0);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	/* O_TRUNC is not published before the data */
	assert_int_equal(shmtab_find_into(f->t, "w", 1, got, sizeof(got),
					  &vlen),
			 0);
	assert_int_equal(vlen, 3);
	assert_int_equal(write(fd, "new-", 4), 4);
	assert_int_equal(write(fd, "value", 5), 5);
	assert_int_equal(shmtab_find_into(f->t, "w", 1, got, sizeof(got),
					  &vlen),
			 0);
	assert_memory_equal(got, "old", 3);
	assert_int_equal(close(fd), 0);
	assert_int_equal(shmtab_find_into(f->t, "w", 1, got, sizeof(got),
					  &vlen),
			 0);
	assert_int_equal(vlen, 9);
	assert_memory_equal(got, "new-value", 9);
	free(path);
}

static void test_offset_write_is_read_modify_write(void **state)
{
	struct fx *f = *state;
	char *path = tu_mount_path(&main_mnt, f->tag, "o");
	char got[64];
	size_t vlen;
	int fd;

	assert_int_equal(tu_add_str(f->t, "o", "aaaaaaaaaa"), 0);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	/* another process changes the value while the file is open */
	assert_int_equal(shmtab_replace(f->t, "o", 1, "bbbbbbbbbbbb", 12), 0);
	assert_int_equal(pwrite(fd, "X", 1, 2), 1);
	assert_int_equal(pwrite(fd, "YZ", 2, 13), 2);
	assert_int_equal(close(fd), 0);
	assert_int_equal(shmtab_find_into(f->t, "o", 1, got, sizeof(got),
					  &vlen),
			 0);
	assert_int_equal(vlen, 15);
	assert_memory_equal(got, "bbXbbbbbbbbb\0YZ", 15);
	free(path);
}

static void test_xattr_bindings_and_stat(void **state)
{
	struct fx *f = *state;
	char *path = tu_mount_path(&main_mnt, f->tag, "x");
	char *dir = tu_mount_path(&main_mnt, f->tag, NULL);
	char buf[4096];
	ssize_t n;

	assert_int_equal(tu_add_str(f->t, "x", "oldest"), 0);
	assert_int_equal(tu_add_str(f->t, "x", "middle"), 0);
	assert_int_equal(tu_add_str(f->t, "x", "newest"), 0);
	n = getxattr(path, "user.shmtab.bindings", buf, sizeof(buf));
	assert_int_equal(n, 1);
	assert_memory_equal(buf, "3", 1);
	n = getxattr(path, "user.shmtab.key", buf, sizeof(buf));
	assert_int_equal(n, 1);
	assert_memory_equal(buf, "x", 1);
	n = getxattr(path, "user.shmtab.binding.0", buf, sizeof(buf));
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "newest", 6);
	n = getxattr(path, "user.shmtab.binding.2", buf, sizeof(buf));
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "oldest", 6);
	assert_int_equal(getxattr(path, "user.shmtab.binding.3", buf,
				  sizeof(buf)),
			 -1);
	assert_int_equal(errno, ENODATA);
	assert_int_equal(getxattr(path, "user.other", buf, sizeof(buf)), -1);
	assert_int_equal(errno, ENODATA);
	/* the other namespaces are not supported (ls -l stops asking) */
	assert_int_equal(getxattr(path, "security.selinux", buf, sizeof(buf)),
			 -1);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(
		getxattr(dir, "system.posix_acl_access", buf, sizeof(buf)), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	n = listxattr(path, buf, sizeof(buf));
	assert_true(n > 0);
	assert_true(memmem(buf, (size_t)n, "user.shmtab.binding.2", 22) !=
		    NULL);
	n = getxattr(dir, "user.shmtab.stat", buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "bindings: 3\n"));
	assert_non_null(strstr(buf, "keys: 1\n"));
	/* rm removes every binding */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(shmtab_mem(f->t, "x", 1), 0);
	free(path);
	free(dir);
}

static void test_escaped_names(void **state)
{
	struct fx *f = *state;
	char *dir = tu_mount_path(&main_mnt, f->tag, NULL);
	char *p1 = tu_mount_path(&main_mnt, f->tag, "a%2Fb");
	char *p2 = tu_mount_path(&main_mnt, f->tag, "%25");
	char *p3 = tu_mount_path(&main_mnt, f->tag, "%41");
	char got[64];
	size_t vlen;
	int fd;

	assert_int_equal(tu_add_str(f->t, "a/b", "slash"), 0);
	assert_int_equal(tu_add_str(f->t, "%", "percent"), 0);
	assert_true(dir_has(dir, "a%2Fb"));
	assert_true(dir_has(dir, "%25"));
	assert_int_equal(tu_read_file(p1, got, sizeof(got)), 5);
	assert_memory_equal(got, "slash", 5);
	assert_int_equal(tu_read_file(p2, got, sizeof(got)), 7);
	fd = open(p1, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "S", 1), 1);
	assert_int_equal(close(fd), 0);
	assert_int_equal(shmtab_find_into(f->t, "a/b", 3, got, sizeof(got),
					  &vlen),
			 0);
	assert_int_equal(vlen, 1);
	/* a non-canonical name is no key */
	assert_int_equal(open(p3, O_RDONLY), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(open(p3, O_WRONLY | O_CREAT, 0644), -1);
	assert_int_equal(errno, EINVAL);
	free(dir);
	free(p1);
	free(p2);
	free(p3);
}

static void test_rename_noreplace(void **state)
{
	struct fx *f = *state;
	char *a = tu_mount_path(&main_mnt, f->tag, "ra");
	char *b = tu_mount_path(&main_mnt, f->tag, "rb");
	char got[16];
	size_t vlen;

	assert_int_equal(tu_add_str(f->t, "ra", "A"), 0);
	assert_int_equal(tu_add_str(f->t, "rb", "B"), 0);
	assert_int_equal(renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE),
			 -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(shmtab_mem(f->t, "ra", 2), 0);
	assert_int_equal(shmtab_find_into(f->t, "rb", 2, got, sizeof(got),
					  &vlen),
			 0);
	assert_int_equal(vlen, 1);
	assert_int_equal(got[0], 'A');
	free(a);
	free(b);
}

static void test_ro_mount_erofs(void **state)
{
	struct fx *f = *state;
	char *path, *dir, *newdir;
	char got[16];

	assert_int_equal(tu_add_str(f->t, "k", "v"), 0);
	assert_int_equal(tu_mount_start(&ro_mnt, "t-coh", "ro", source, "ro"),
			 0);
	path = tu_mount_path(&ro_mnt, f->tag, "k");
	dir = tu_mount_path(&ro_mnt, f->tag, "new");
	newdir = tu_mount_path(&ro_mnt, "newtable", NULL);
	assert_int_equal(tu_read_file(path, got, sizeof(got)), 1);
	assert_int_equal(open(path, O_WRONLY), -1);
	assert_int_equal(errno, EROFS);
	assert_int_equal(open(dir, O_WRONLY | O_CREAT, 0644), -1);
	assert_int_equal(errno, EROFS);
	assert_int_equal(unlink(path), -1);
	assert_int_equal(errno, EROFS);
	assert_int_equal(mkdir(newdir, 0755), -1);
	assert_int_equal(errno, EROFS);
	tu_mount_stop(&ro_mnt);
	free(path);
	free(dir);
	free(newdir);
}

/* The cached-mode mount, started by the first test that needs it. */
static void cache_mount(void)
{
	if (!cache_mnt.active)
		assert_int_equal(tu_mount_start(&cache_mnt, "t-coh", "cache",
						source, "cache=60"),
				 0);
}

static void test_cached_mode_within_bound(void **state)
{
	struct fx *f = *state;
	char *path, *opath, *dir, name[32];
	unsigned char val[600], got[1024];
	int i, misses = 0, stale_reads = 0;
	double t, worst = 0;
	struct stat st;

	cache_mount();
	path = tu_mount_path(&cache_mnt, f->tag, "k");
	dir = tu_mount_path(&cache_mnt, f->tag, NULL);
	assert_int_equal(tu_add_str(f->t, "k", "start"), 0);
	assert_int_equal(stat(path, &st), 0);	/* now cached */
	for (i = 0; i < 1000; i++) {
		size_t len = 1 + (size_t)(i * 53) % 599;

		memset(val, 'a' + i % 26, len);
		assert_int_equal(shmtab_replace(f->t, "k", 1, val, len), 0);
		/* values are never cached: fresh at once */
		if (tu_read_file(path, got, sizeof(got)) != (ssize_t)len ||
		    memcmp(got, val, len) != 0)
			stale_reads++;
		t = tu_wait_size(path, (long long)len, CACHE_BOUND_S);
		if (t < 0)
			misses++;
		else if (t > worst)
			worst = t;

		if (i % 10 == 0) {
			snprintf(name, sizeof(name), "n%d", i);
			opath = tu_mount_path(&cache_mnt, f->tag, name);
			assert_int_equal(tu_add_str(f->t, name, "xy"), 0);
			if (tu_wait_size(opath, 2, CACHE_BOUND_S) < 0 ||
			    !dir_has(dir, name))
				misses++;
			assert_int_equal(shmtab_remove(f->t, name,
						       strlen(name)),
					 0);
			t = tu_wait_size(opath, -1, CACHE_BOUND_S);
			if (t < 0 || dir_has(dir, name))
				misses++;
			else if (t > worst)
				worst = t;
			free(opath);
		}
	}
	print_message("# cached mode: worst staleness %.1f ms over 1000 "
		      "changes and 100 names\n",
		      worst * 1000);
	assert_int_equal(stale_reads, 0);
	assert_int_equal(misses, 0);
	free(path);
	free(dir);
}

/* Version i of the value of the cached-mode tests: its length, and its
 * bytes, which differ from version to version (also when the length does
 * not: every other version has the same length as the one before). */
static size_t cval(unsigned i, unsigned char *buf)
{
	size_t len = i % 2 ? 1 + (size_t)(i * 37) % 700 :
			     1 + (size_t)((i + 1) * 37) % 700;

	tu_fill(buf, len, i + 1);
	buf[0] = (unsigned char)i;
	return len;
}

/* Which version of cval() buf is, i or i-1; -1 for neither. */
static int cval_which(unsigned i, const unsigned char *buf, ssize_t n)
{
	unsigned char want[700];
	size_t len;
	unsigned k;

	for (k = 0; k < 2 && k <= i; k++) {
		len = cval(i - k, want);
		if (n == (ssize_t)len && !memcmp(buf, want, len))
			return (int)(i - k);
	}
	return -1;
}

/*
 * The library changes a key thousands of times; after each change the key
 * is read through the cached mount, which by then has the previous value
 * in its page cache (read twice: the second read is served from the
 * cache), until it shows the new one.  Every change must show within the
 * bound (in fact at the first open: opens check the table's change feed),
 * and no read may show anything but the previous or the new value.
 */
static void test_cached_library_changes_seen(void **state)
{
	struct fx *f = *state;
	unsigned char val[700], got[1024];
	char *path;
	int misses = 0, mixed = 0, late = 0, w;
	unsigned i, n = 3000;
	double t0, worst = 0;
	ssize_t r;
	size_t len;

	cache_mount();
	path = tu_mount_path(&cache_mnt, f->tag, "k");
	len = cval(0, val);
	assert_int_equal(shmtab_replace(f->t, "k", 1, val, len), 0);
	for (i = 1; i <= n; i++) {
		/* the previous version, in the page cache */
		r = tu_read_file(path, got, sizeof(got));
		if (cval_which(i - 1, got, r) != (int)(i - 1))
			mixed++;
		len = cval(i, val);
		assert_int_equal(shmtab_replace(f->t, "k", 1, val, len), 0);
		t0 = tu_now();
		for (;;) {
			r = tu_read_file(path, got, sizeof(got));
			w = cval_which(i, got, r);
			if (w < 0)
				mixed++;
			if (w == (int)i)
				break;
			late++;
			if (tu_now() - t0 > CACHE_BOUND_S) {
				misses++;
				break;
			}
		}
		if (tu_now() - t0 > worst)
			worst = tu_now() - t0;
		/* and from the cache again: still the new one */
		r = tu_read_file(path, got, sizeof(got));
		if (cval_which(i, got, r) != (int)i)
			mixed++;
	}
	print_message("# cached mode: %u library changes, %d late reads, "
		      "worst %.1f ms\n",
		      n, late, worst * 1000);
	assert_int_equal(mixed, 0);
	assert_int_equal(misses, 0);
	free(path);
}

/*
 * The first open of a key whose size the kernel has cached (by a stat)
 * right after the library changed it: the read is the new value whole,
 * not cut or padded to the cached size.
 */
static void test_cached_first_open_after_change(void **state)
{
	static const char *const v[2] = { "short", "a much longer value" };
	struct fx *f = *state;
	char name[32], *path, got[64];
	int i, bad = 0;
	struct stat st;
	ssize_t n;

	cache_mount();
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		path = tu_mount_path(&cache_mnt, f->tag, name);
		assert_int_equal(tu_add_str(f->t, name, v[i % 2]), 0);
		assert_int_equal(stat(path, &st), 0);	/* size now cached */
		assert_int_equal(tu_add_str(f->t, name, v[1 - i % 2]), 0);
		n = tu_read_file(path, got, sizeof(got));
		if (n != (ssize_t)strlen(v[1 - i % 2]) ||
		    memcmp(got, v[1 - i % 2], (size_t)n))
			bad++;
		free(path);
	}
	assert_int_equal(bad, 0);
}

/* echo v > k; cat k through the cached mount shows v at once, over and
 * over, the old value being in the page cache each time. */
static void test_cached_own_writes_seen_at_once(void **state)
{
	struct fx *f = *state;
	unsigned char val[700], got[1024];
	char *path;
	int stale = 0, fd;
	unsigned i;
	ssize_t r;
	size_t len;

	cache_mount();
	path = tu_mount_path(&cache_mnt, f->tag, "w");
	assert_int_equal(tu_add_str(f->t, "w", "start"), 0);
	for (i = 1; i <= 1000; i++) {
		tu_read_file(path, got, sizeof(got));
		tu_read_file(path, got, sizeof(got));
		len = cval(i, val);
		fd = open(path, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, val, len), (ssize_t)len);
		assert_int_equal(close(fd), 0);
		r = tu_read_file(path, got, sizeof(got));
		if (r != (ssize_t)len || memcmp(got, val, len))
			stale++;
		r = tu_read_file(path, got, sizeof(got));
		if (r != (ssize_t)len || memcmp(got, val, len))
			stale++;
	}
	/* appends too */
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "tail", 4), 4);
	assert_int_equal(close(fd), 0);
	r = tu_read_file(path, got, sizeof(got));
	len = cval(i - 1, val);
	assert_int_equal(r, (ssize_t)len + 4);
	assert_memory_equal(got, val, len);
	assert_memory_equal(got + len, "tail", 4);
	assert_int_equal(stale, 0);
	free(path);
}

/* Reads one file through the cached mount in two halves, pause_us
 * between them; 0 when it read one version whole (BIG bytes of one
 * letter). */
static int read_two_halves(const char *path, unsigned char *buf,
			   unsigned int pause_us)
{
	int fd = open(path, O_RDONLY);
	size_t got;

	if (fd < 0)
		return -1;
	got = read_rest(fd, buf, BIG / 2);
	usleep(pause_us);
	got += read_rest(fd, buf + got, BIG);
	close(fd);
	return got == BIG && uniform(buf, BIG) ? 0 : -1;
}

/* A reader process: 3000 reads of arg (a path) through the cached mount;
 * exits with the number of torn ones. */
static int mixed_reader(void *arg)
{
	static unsigned char buf[2 * BIG];
	int i, torn = 0;
	ssize_t n;

	for (i = 0; i < 3000; i++) {
		n = tu_read_file(arg, buf, sizeof(buf));
		if (n != BIG || !uniform(buf, BIG))
			torn++;
	}
	return torn > 100 ? 100 : torn;
}

/*
 * A library process replaces a 64 KiB value, with pauses (so that the
 * kernel's cache is used between changes), while two processes read it
 * through the cached mount, one whole, one in two halves with a pause
 * between them that a change often falls into: no read shows a mix of
 * two values, though a page may be filled through either reader's file.
 */
static void test_cached_reader_never_mixed(void **state)
{
	struct fx *f = *state;
	static unsigned char buf[2 * BIG];
	struct tu_barrier stop;
	struct writer_arg w = { f->name, 100, &stop, 7000 };
	char *path;
	int reads = 0, torn = 0, code = -1, rcode = -1;
	double deadline = tu_now() + 150;
	pid_t pid, reader;
	ssize_t n;

	cache_mount();
	path = tu_mount_path(&cache_mnt, f->tag, "big");
	big_prepare(f->t, buf);
	assert_int_equal(tu_barrier_init(&stop), 0);
	pid = tu_fork(lib_writer, &w);
	assert_true(pid > 0);
	reader = tu_fork(mixed_reader, path);
	assert_true(reader > 0);
	while (!child_done(pid, &code)) {
		if (reads == 400)
			tu_barrier_post(&stop);
		if (tu_now() > deadline) {
			kill(pid, SIGKILL);
			kill(reader, SIGKILL);
			waitpid(pid, NULL, 0);
			waitpid(reader, NULL, 0);
			fail_msg("writer did not finish in time");
		}
		if (reads % 4 == 3) {
			n = tu_read_file(path, buf, sizeof(buf));
			if (n != BIG || !uniform(buf, BIG))
				torn++;
		} else if (read_two_halves(path, buf, 5000) < 0) {
			torn++;
		}
		reads++;
	}
	tu_barrier_destroy(&stop);
	assert_int_equal(waitpid(reader, &rcode, 0), reader);
	assert_int_equal(code, 0);
	print_message("# %d reads through the cached mount during the "
		      "replaces, and 3000 by another process\n",
		      reads);
	assert_true(reads >= 400);
	assert_int_equal(torn, 0);
	assert_true(WIFEXITED(rcode));
	assert_int_equal(WEXITSTATUS(rcode), 0);
	free(path);
}

/*
 * A file of the old version still open and reading, after a library
 * replace: the pages it fills are its version's, so a file opened later
 * (after the watcher has dropped the pages) must not read through the
 * cache while it reads, and each file reads its own version whole.
 */
static void test_cached_old_reader_keeps_pages_apart(void **state)
{
	struct fx *f = *state;
	static unsigned char buf[BIG], got[2 * BIG];
	char *path;
	int fd1, fd2, fd3, round;
	size_t n;

	cache_mount();
	path = tu_mount_path(&cache_mnt, f->tag, "old");
	for (round = 0; round < 5; round++) {
		memset(buf, 'a' + 2 * round, BIG);
		assert_int_equal(shmtab_replace(f->t, "old", 3, buf, BIG), 0);
		/* read twice, the watcher done with the change and with the
		 * pages of the version before: then the cache holds this one */
		tu_sleep_ms(50);
		assert_int_equal(tu_read_file(path, got, sizeof(got)), BIG);
		tu_sleep_ms(50);
		assert_int_equal(tu_read_file(path, got, sizeof(got)), BIG);
		assert_int_equal(got[0], 'a' + 2 * round);
		fd1 = open(path, O_RDONLY);
		assert_true(fd1 >= 0);
		n = read_rest(fd1, got, BIG / 2);
		assert_int_equal(n, BIG / 2);
		memset(buf, 'b' + 2 * round, BIG);
		assert_int_equal(shmtab_replace(f->t, "old", 3, buf, BIG), 0);
		tu_sleep_ms(50);
		fd2 = open(path, O_RDONLY);	/* asks for the pages to go */
		assert_true(fd2 >= 0);
		tu_sleep_ms(50);
		fd3 = open(path, O_RDONLY);
		assert_true(fd3 >= 0);
		/* the first file fills the rest of its version's pages */
		n += read_rest(fd1, got + n, sizeof(got) - n);
		assert_int_equal(n, BIG);
		assert_true(uniform(got, BIG));
		assert_int_equal(got[0], 'a' + 2 * round);
		assert_int_equal(read_rest(fd3, got, sizeof(got)), BIG);
		assert_true(uniform(got, BIG));
		assert_int_equal(got[0], 'b' + 2 * round);
		assert_int_equal(read_rest(fd2, got, sizeof(got)), BIG);
		assert_true(uniform(got, BIG));
		assert_int_equal(got[0], 'b' + 2 * round);
		close(fd1);
		close(fd2);
		close(fd3);
	}
	free(path);
}

/*
 * A big value (kept in the page cache and in the daemon's pool between
 * reads) read again after a library replace is the new value, within the
 * bound (at once, in fact); a file opened before the replace reads its
 * own version whole when the new one is as long or longer; and stat shows
 * the new size within the bound after that file read its old end.
 */
static void test_cached_big_value_reread(void **state)
{
	struct fx *f = *state;
	const size_t maxlen = 6 << 20;
	unsigned char *a = malloc(maxlen), *b = malloc(maxlen);
	char *path;
	size_t len, nlen, half, got;
	int misses = 0, fd1;
	unsigned r, v;
	double t0;
	bool seen;

	assert_non_null(a);
	assert_non_null(b);
	cache_mount();
	path = tu_mount_path(&cache_mnt, f->tag, "big");
	for (r = 0; r < 8; r++) {
		len = (3 << 20) + r * 4099 + 1;
		v = 5 * r;
		big_fill(a, len, v);
		assert_int_equal(shmtab_replace(f->t, "big", 3, a, len), 0);
		/* read twice: the second one from the kernel's cache */
		assert_int_equal(tu_read_file(path, b, maxlen), (ssize_t)len);
		assert_true(big_is(b, len, v));
		assert_int_equal(tu_read_file(path, b, maxlen), (ssize_t)len);
		assert_true(big_is(b, len, v));
		fd1 = open(path, O_RDONLY);
		assert_true(fd1 >= 0);
		half = len / 2;
		assert_int_equal(read_rest(fd1, b, half), half);
		/* the same length every other round, else longer */
		nlen = r % 2 ? len + 12345 : len;
		big_fill(a, nlen, v + 1);
		assert_int_equal(shmtab_replace(f->t, "big", 3, a, nlen), 0);
		t0 = tu_now();
		do {
			seen = tu_read_file(path, a, maxlen) == (ssize_t)nlen &&
			       big_is(a, nlen, v + 1);
		} while (!seen && tu_now() - t0 < CACHE_BOUND_S);
		if (!seen)
			misses++;
		/* the first file: its own version, whole */
		got = read_rest(fd1, b + half, maxlen - half);
		close(fd1);
		assert_int_equal(half + got, len);
		assert_true(big_is(b, len, v));
		if (tu_wait_size(path, (long long)nlen, CACHE_BOUND_S) < 0)
			misses++;
		assert_int_equal(tu_read_file(path, a, maxlen), (ssize_t)nlen);
		assert_true(big_is(a, nlen, v + 1));
	}
	assert_int_equal(misses, 0);
	free(path);
	free(a);
	free(b);
}

/* Three versions of a value, for the tests of files that read an older
 * one through the page cache: l1 bytes of '1', l2 of '2', l3 of '3'. */
static unsigned char v1[20000], v2[20000], v3[20000];
static const size_t l1 = 10000, l2 = 15123, l3 = 3001;

static void versions_fill(void)
{
	memset(v1, '1', sizeof(v1));
	memset(v2, '2', sizeof(v2));
	memset(v3, '3', sizeof(v3));
}

/* Make path's value val (len bytes) and read it through the page cache
 * (twice, after the watcher saw the change); then open a file that reads
 * it so, and read its first bytes into buf: the file. */
static int paged_reader(struct fx *f, const char *path, const char *key,
			const unsigned char *val, size_t len, size_t first,
			unsigned char *buf, size_t cap)
{
	int fd;

	assert_int_equal(shmtab_replace(f->t, key, strlen(key), val, len), 0);
	tu_sleep_ms(50);
	assert_int_equal(tu_read_file(path, buf, cap), (ssize_t)len);
	tu_sleep_ms(50);
	assert_int_equal(tu_read_file(path, buf, cap), (ssize_t)len);
	assert_memory_equal(buf, val, len);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read_rest(fd, buf, first), first);
	return fd;
}

/*
 * A file reading an old version through the page cache keeps that
 * version's size while the name shows the new one: its fstat says its
 * length, and it reads its version whole, to the byte, when the new
 * value is longer (the kernel would read zeros past the old end if the
 * file's inode took the new size) and when it is shorter (it would stop
 * at the new length).  New opens read the new value; a file open for
 * writing on the key keeps the inode the key's, and its write lands.
 */
static void test_cached_old_reader_keeps_its_size(void **state)
{
	struct fx *f = *state;
	static unsigned char got[40000], other[40000];
	struct stat st, path_st;
	char *path;
	int fd1, fd2, fd3, fw;
	size_t n;

	versions_fill();
	cache_mount();
	path = tu_mount_path(&cache_mnt, f->tag, "sz");
	fd1 = paged_reader(f, path, "sz", v1, l1, 4096, got, sizeof(got));

	/* longer: the name learns the new size, the file keeps its own */
	assert_int_equal(shmtab_replace(f->t, "sz", 2, v2, l2), 0);
	assert_true(tu_wait_size(path, (long long)l2, CACHE_BOUND_S) >= 0);
	assert_int_equal(fstat(fd1, &st), 0);
	assert_int_equal(st.st_size, (off_t)l1);
	assert_int_equal(stat(path, &path_st), 0);
	assert_int_not_equal(path_st.st_ino, st.st_ino);
	n = 4096 + read_rest(fd1, got + 4096, sizeof(got) - 4096);
	assert_int_equal(n, l1);
	assert_memory_equal(got, v1, l1);
	assert_int_equal(tu_read_file(path, got, sizeof(got)), (ssize_t)l2);
	assert_memory_equal(got, v2, l2);

	/* shorter, with a file of the longer one open: it reads all of it */
	fd2 = paged_reader(f, path, "sz", v2, l2, 100, got, sizeof(got));
	assert_int_equal(shmtab_replace(f->t, "sz", 2, v3, l3), 0);
	assert_true(tu_wait_size(path, (long long)l3, CACHE_BOUND_S) >= 0);
	fd3 = open(path, O_RDONLY);
	assert_true(fd3 >= 0);
	assert_int_equal(read_rest(fd3, other, sizeof(other)), l3);
	assert_memory_equal(other, v3, l3);
	n = 100 + read_rest(fd2, got + 100, sizeof(got) - 100);
	assert_int_equal(n, l2);
	assert_memory_equal(got, v2, l2);
	assert_int_equal(fstat(fd2, &st), 0);
	assert_int_equal(st.st_size, (off_t)l2);
	close(fd3);

	/* a writer open on the key, beside a reader of the cached pages:
	 * the inode stays the key's */
	fd3 = paged_reader(f, path, "sz", v1, l1, 0, got, sizeof(got));
	fw = open(path, O_WRONLY | O_TRUNC);
	assert_true(fw >= 0);
	assert_int_equal(shmtab_replace(f->t, "sz", 2, v2, l2), 0);
	assert_true(tu_wait_size(path, (long long)l2, CACHE_BOUND_S) >= 0);
	assert_int_equal(pwrite(fw, "W", 1, 0), 1);
	assert_int_equal(close(fw), 0);
	assert_true(tu_wait_size(path, 1, CACHE_BOUND_S) >= 0);
	assert_int_equal(tu_read_file(path, got, sizeof(got)), 1);
	assert_int_equal(got[0], 'W');

	close(fd1);
	close(fd2);
	close(fd3);
	free(path);
}

/*
 * A file open for writing keeps the inode the key's while the key changes
 * (the watcher tells the kernel the new size); once it is closed, the
 * file of the old version still open makes the inode its version's when
 * it reads its end.  The name must not stay with that inode: stat of the
 * name says the key's size and a link, within the bound, and a rename of
 * the name moves the key's value, which the new name reads.
 */
static void test_cached_superseded_after_writer_drops_name(void **state)
{
	struct fx *f = *state;
	static unsigned char got[40000];
	struct stat st, pst;
	char *path, *path2;
	int fr, fw;

	versions_fill();
	cache_mount();
	path = tu_mount_path(&cache_mnt, f->tag, "ws");
	path2 = tu_mount_path(&cache_mnt, f->tag, "ws2");
	/* reads v1 through the page cache */
	fr = paged_reader(f, path, "ws", v1, l1, 4096, got, sizeof(got));
	fw = open(path, O_WRONLY);	/* holds the inode as the key's */
	assert_true(fw >= 0);
	assert_int_equal(shmtab_replace(f->t, "ws", 2, v2, l2), 0);
	assert_true(tu_wait_size(path, (long long)l2, CACHE_BOUND_S) >= 0);
	tu_sleep_ms(100);	/* the watcher has seen the change */
	assert_int_equal(close(fw), 0);	/* wrote nothing */
	tu_sleep_ms(50);
	/* the old file reads its end, and asks its size: its inode is
	 * superseded now, not when the watcher saw the change */
	read_rest(fr, got, sizeof(got));
	assert_int_equal(fstat(fr, &st), 0);
	tu_sleep_ms((int)(CACHE_BOUND_S * 1000) + 200);
	/* the name is the key's, with the key's size */
	assert_int_equal(stat(path, &pst), 0);
	assert_int_equal(st.st_nlink, 0);
	assert_int_equal(st.st_size, (off_t)l1);
	assert_int_not_equal(pst.st_ino, st.st_ino);
	assert_int_equal(pst.st_nlink, 1);
	assert_int_equal(pst.st_size, (off_t)l2);
	/* mv moves the key's value to the new name */
	assert_int_equal(rename(path, path2), 0);
	assert_int_equal(tu_read_file(path2, got, sizeof(got)), (ssize_t)l2);
	assert_memory_equal(got, v2, l2);
	close(fr);
	free(path);
	free(path2);
}

struct holder_arg {
	const char *name;		/* the table to hold */
	struct tu_barrier *held;	/* posted once the lock is held */
	unsigned int hold_ms;
};

static int hold_group(shmtab *t, void *ctx)
{
	struct holder_arg *h = ctx;
	int err = shmtab_replace(t, "k", 1, "held", 4);

	if (err != 0)
		return err;
	tu_barrier_post(h->held);
	usleep(h->hold_ms * 1000);
	return 0;
}

/* Holds the lock of key "k" in a group for hold_ms. */
static int lock_holder(void *arg)
{
	struct holder_arg *h = arg;

	return tu_group_child(h->name, hold_group, h);
}

static int mount_reader(void *arg)
{
	unsigned char buf[64];
	ssize_t n = tu_read_file(arg, buf, sizeof(buf));

	return n == 4 && memcmp(buf, "held", 4) == 0 ? 0 : 40;
}

/* A request that waits for a lock another process holds delays only the
 * requests that need that lock: the mount keeps serving the rest. */
static void test_locked_table_delays_only_itself(void **state)
{
	struct fx *f = *state;
	struct tu_barrier held;
	struct holder_arg h = { f->name, &held, 3000 };
	char *path = tu_mount_path(&main_mnt, f->tag, "k");
	char *root = tu_mount_path(&main_mnt, "", NULL);
	char otag[48], *opath;
	unsigned char buf[64];
	int code = -1, rcode = -1, i;
	pid_t holder, reader;
	shmtab *t;

	snprintf(otag, sizeof(otag), "%s-free", f->tag);
	f->extra = table_name(otag);
	opath = tu_mount_path(&main_mnt, otag, "k");
	assert_int_equal(tu_create(f->extra, NULL, &t), 0);
	assert_int_equal(tu_add_str(t, "k", "free"), 0);
	assert_int_equal(tu_add_str(f->t, "k", "old"), 0);
	assert_int_equal(tu_barrier_init(&held), 0);
	holder = tu_fork(lock_holder, &h);
	assert_true(holder > 0);
	assert_int_equal(tu_barrier_wait(&held, 10000), 0);
	/* a reader of the held key waits for the lock... */
	reader = tu_fork(mount_reader, path);
	assert_true(reader > 0);
	usleep(200 * 1000);
	/* ...while the other tables, and other keys, are served, and the
	 * root lists every table, the held one too */
	for (i = 0; i < 20; i++) {
		assert_int_equal(tu_read_file(opath, buf, sizeof(buf)), 4);
		assert_memory_equal(buf, "free", 4);
		assert_true(dir_has(root, f->tag));
		assert_true(dir_has(root, otag));
	}
	assert_false(child_done(holder, &code));
	assert_false(child_done(reader, &rcode));
	assert_int_equal(waitpid(holder, NULL, 0) == holder ? 0 : -1, 0);
	assert_int_equal(waitpid(reader, &rcode, 0), reader);
	assert_true(WIFEXITED(rcode));
	assert_int_equal(WEXITSTATUS(rcode), 0);
	tu_barrier_destroy(&held);
	shmtab_close(t);
	free(opath);
	free(path);
	free(root);
}

/* --- rename in the cached mode ---------------------------------------- */

static ino_t ino_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* d_ino of name in a listing of dir (ls -i), 0 when not listed */
static ino_t dir_ino_of(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	ino_t ino = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (!strcmp(de->d_name, name))
			ino = de->d_ino;
	closedir(d);
	return ino;
}

/*
 * mv a b through the cached mount: the kernel keeps the inode it moved to
 * the name b for the cache time, so the daemon's inode follows the rename
 * (as a file system's does).  b reads as a's value, at once and after the
 * bound, has a's inode number in stat and in the listing; a is gone.  The
 * watcher keeps following the key b: a library change of it shows within
 * the bound, and so does a rename made by another process.
 */
static void test_cached_rename_follows_inode(void **state)
{
	struct fx *f = *state;
	char *dir, *a, *b, *c;
	ino_t ia;

	cache_mount();
	dir = tu_mount_path(&cache_mnt, f->tag, NULL);
	a = tu_mount_path(&cache_mnt, f->tag, "a");
	b = tu_mount_path(&cache_mnt, f->tag, "b");
	c = tu_mount_path(&cache_mnt, f->tag, "c");
	assert_int_equal(tu_add_str(f->t, "a", "value of a"), 0);
	mt_assert_reads(a, "value of a");
	ia = ino_of(a);
	assert_true(ia != 0);
	assert_int_equal(rename(a, b), 0);
	mt_assert_reads(b, "value of a");
	assert_int_equal(ino_of(b), ia);
	assert_int_equal(dir_ino_of(dir, "b"), ia);
	assert_int_equal(access(a, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(dir_has(dir, "a"));
	tu_sleep_ms((int)(CACHE_BOUND_S * 1000) + 200);
	mt_assert_reads(b, "value of a");
	assert_int_equal(ino_of(b), ia);
	/* the library changes b: seen within the bound */
	assert_int_equal(tu_add_str(f->t, "b", "longer value of b"), 0);
	assert_true(tu_wait_size(b, 17, CACHE_BOUND_S) >= 0);
	mt_assert_reads(b, "longer value of b");
	/* another process renames b to c: b goes, c shows, within it */
	assert_int_equal(ino_of(c), 0);
	assert_int_equal(shmtab_replace(f->t, "c", 1, "moved", 5), 0);
	assert_int_equal(shmtab_remove(f->t, "b", 1), 0);
	assert_int_equal(shmtab_remove(f->t, "b", 1), 0);
	assert_true(tu_wait_size(b, -1, CACHE_BOUND_S) >= 0);
	assert_true(tu_wait_size(c, 5, CACHE_BOUND_S) >= 0);
	mt_assert_reads(c, "moved");
	free(dir);
	free(a);
	free(b);
	free(c);
}

/*
 * mv A/1 A/3, then mv A/3 A/1, in an array: each move moves the element
 * (the source is unset, the name stays).  The name the kernel moved stands
 * for the target, the source's name is a new inode, so moving back is no
 * "same file" and moves the value back.
 */
static void test_cached_rename_array_back_and_forth(void **state)
{
	const struct shmtab_schema s = { SHMTAB_KIND_ARRAY, NULL, "int64",
					 SHMTAB_V_I64(-1) };
	struct fx *f = *state;
	char *e1, *e3;
	int64_t v;
	int i;

	assert_int_equal(shmtab_set_schema(f->t, &s), 0);
	assert_int_equal(shmtab_array_resize(f->t, 5), 0);
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_I64(1), 11), 0);
	cache_mount();
	e1 = tu_mount_path(&cache_mnt, f->tag, "1");
	e3 = tu_mount_path(&cache_mnt, f->tag, "3");
	mt_assert_reads(e1, "11\n");
	mt_assert_reads(e3, "-1\n");
	for (i = 0; i < 4; i++) {
		const char *from = i % 2 ? e3 : e1, *to = i % 2 ? e1 : e3;
		ino_t ifrom = ino_of(from);

		assert_int_equal(rename(from, to), 0);
		mt_assert_reads(to, "11\n");
		mt_assert_reads(from, "-1\n");
		assert_int_equal(ino_of(to), ifrom);
		assert_true(ino_of(from) != ifrom);
		assert_int_equal(
			shmtab_int_get(f->t, SHMTAB_V_I64(i % 2 ? 1 : 3), &v),
			0);
		assert_int_equal(v, 11);
	}
	/* from another table onto an element: the same, across tables */
	{
		char *k, tag[48];
		shmtab *g;
		ino_t ik;

		snprintf(tag, sizeof(tag), "%s-x", f->tag);
		f->extra = table_name(tag);
		assert_non_null(f->extra);
		assert_int_equal(tu_create(f->extra, NULL, &g), 0);
		assert_int_equal(tu_add_str(g, "k", "5\n"), 0);
		k = tu_mount_path(&cache_mnt, tag, "k");
		mt_assert_reads(k, "5\n");
		ik = ino_of(k);
		assert_int_equal(rename(k, e3), 0);
		mt_assert_reads(e3, "5\n");
		assert_int_equal(ino_of(e3), ik);
		assert_int_equal(access(k, F_OK), -1);
		assert_int_equal(errno, ENOENT);
		assert_int_equal(shmtab_mem(g, "k", 1), 0);
		shmtab_close(g);
		free(k);
	}
	free(e1);
	free(e3);
}

/*
 * mv a b onto an existing b: b reads a's value and has a's inode, b's old
 * value is gone from the table, and a file opened on the old b before the
 * rename still reads the old value (as after an unlink).
 */
static void test_cached_rename_onto_existing(void **state)
{
	struct fx *f = *state;
	char *a, *b, got[64];
	ino_t ia, ib;
	ssize_t n;
	int fd;

	cache_mount();
	a = tu_mount_path(&cache_mnt, f->tag, "a");
	b = tu_mount_path(&cache_mnt, f->tag, "b");
	assert_int_equal(tu_add_str(f->t, "a", "new"), 0);
	assert_int_equal(tu_add_str(f->t, "b", "old value"), 0);
	mt_assert_reads(a, "new");
	mt_assert_reads(b, "old value");
	ia = ino_of(a);
	ib = ino_of(b);
	assert_true(ia != 0 && ib != 0 && ia != ib);
	fd = open(b, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(rename(a, b), 0);
	mt_assert_reads(b, "new");
	assert_int_equal(ino_of(b), ia);
	assert_int_equal(access(a, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(shmtab_mem(f->t, "a", 1), 0);
	assert_int_equal(shmtab_mem(f->t, "b", 1), 1);
	n = pread(fd, got, sizeof(got), 0);
	assert_int_equal(n, 9);
	assert_memory_equal(got, "old value", 9);
	assert_int_equal(close(fd), 0);
	tu_sleep_ms((int)(CACHE_BOUND_S * 1000) + 200);
	mt_assert_reads(b, "new");
	assert_int_equal(ino_of(b), ia);
	free(a);
	free(b);
}

/*
 * A file reading the key through the page cache while nothing changes
 * the key: its inode stays the name's when the table's mode changes (the
 * watcher refreshes every key of the table, which changes none of them).
 */
static void test_cached_reader_unchanged_key_keeps_inode(void **state)
{
	struct fx *f = *state;
	static unsigned char got[40000];
	struct stat st;
	char *path;
	ino_t ia;
	int fr;

	versions_fill();
	cache_mount();
	path = tu_mount_path(&cache_mnt, f->tag, "uk");
	/* reads v1 through the page cache */
	fr = paged_reader(f, path, "uk", v1, l1, 4096, got, sizeof(got));
	ia = ino_of(path);
	/* the table's mode: every key is refreshed, none changed */
	assert_int_equal(shmtab_chmod(f->t, 0640), 0);
	tu_sleep_ms((int)(CACHE_BOUND_S * 1000) + 200);
	assert_int_equal(fstat(fr, &st), 0);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(ino_of(path), ia);
	close(fr);
	free(path);
}

/*
 * A name the kernel still holds for a superseded inode (superseded by the
 * old file reading its end, before the watcher dropped the name): an open
 * of the name opens the key's new inode, and reads the new value.
 */
static void test_cached_superseded_name_opens_new_inode(void **state)
{
	struct fx *f = *state;
	static unsigned char got[40000];
	struct stat sr, sn;
	char *path;
	int fr, fn, round;

	versions_fill();
	cache_mount();
	path = tu_mount_path(&cache_mnt, f->tag, "sn");
	for (round = 0; round < 3; round++) {
		fr = paged_reader(f, path, "sn", v1, l1, 4096, got,
				  sizeof(got));
		assert_int_equal(shmtab_replace(f->t, "sn", 2, v2, l2), 0);
		/* the old file reads its end from the daemon (its pages
		 * dropped): superseded now */
		assert_int_equal(posix_fadvise(fr, 0, 0, POSIX_FADV_DONTNEED),
				 0);
		assert_int_equal(read_rest(fr, got, sizeof(got)), l1 - 4096);
		fn = open(path, O_RDONLY);
		assert_true(fn >= 0);
		assert_int_equal(fstat(fr, &sr), 0);
		assert_int_equal(fstat(fn, &sn), 0);
		assert_int_not_equal(sn.st_ino, sr.st_ino);
		assert_int_equal(read_rest(fn, got, sizeof(got)), l2);
		assert_memory_equal(got, v2, l2);
		close(fn);
		close(fr);
	}
	free(path);
}

/*
 * A rename through the mount of a key that a file reads through the page
 * cache moves the value the file reads: the new name keeps the file's
 * inode (as a rename does in the strict mode), with a link and the
 * value's size, and the file reads its version whole.
 */
static void test_cached_rename_keeps_reader_inode(void **state)
{
	struct fx *f = *state;
	static unsigned char got[40000];
	struct stat st, pst;
	char *path, *path2;
	size_t n;
	int fr;

	versions_fill();
	cache_mount();
	path = tu_mount_path(&cache_mnt, f->tag, "rk");
	path2 = tu_mount_path(&cache_mnt, f->tag, "rk2");
	fr = paged_reader(f, path, "rk", v1, l1, 4096, got, sizeof(got));
	assert_int_equal(rename(path, path2), 0);
	tu_sleep_ms(100);	/* the watcher has seen the rename */
	assert_int_equal(fstat(fr, &st), 0);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_size, (off_t)l1);
	assert_int_equal(stat(path2, &pst), 0);
	assert_int_equal(pst.st_ino, st.st_ino);
	n = 4096 + read_rest(fr, got + 4096, sizeof(got) - 4096);
	assert_int_equal(n, l1);
	assert_memory_equal(got, v1, l1);
	assert_int_equal(tu_read_file(path2, got, sizeof(got)), (ssize_t)l1);
	assert_memory_equal(got, v1, l1);
	close(fr);
	free(path);
	free(path2);
}

/*
 * A superseded inode (its files read an older version through the page
 * cache) opens no new file: a reopen through /proc fails with ESTALE, for
 * reading and for writing (a writer's replies would give the kernel the
 * new size), while an open of the name opens its new inode.  The old file
 * reads its version whole after the key is written and removed.
 */
static void test_cached_superseded_inode_opens_stale(void **state)
{
	struct fx *f = *state;
	static unsigned char got[40000];
	struct stat sr, sw;
	char *path, proc[64];
	void *val;
	size_t vlen, n;
	int fr, fw, r;

	versions_fill();
	cache_mount();
	path = tu_mount_path(&cache_mnt, f->tag, "sw");
	/* reads v1 through the page cache */
	fr = paged_reader(f, path, "sw", v1, l1, 4096, got, sizeof(got));
	assert_int_equal(shmtab_replace(f->t, "sw", 2, v2, l2), 0);
	assert_true(tu_wait_size(path, (long long)l2, CACHE_BOUND_S) >= 0);
	tu_sleep_ms(100);	/* fr's inode is superseded */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fr);
	errno = 0;
	assert_int_equal(open(proc, O_WRONLY | O_TRUNC), -1);
	assert_int_equal(errno, ESTALE);
	errno = 0;
	assert_int_equal(open(proc, O_RDONLY), -1);
	assert_int_equal(errno, ESTALE);
	fw = open(path, O_WRONLY | O_TRUNC);
	assert_true(fw >= 0);
	assert_int_equal(fstat(fw, &sw), 0);
	assert_int_equal(fstat(fr, &sr), 0);
	assert_int_not_equal(sw.st_ino, sr.st_ino);
	assert_int_equal(sr.st_size, (off_t)l1);
	assert_int_equal(write(fw, "zz", 2), 2);
	assert_int_equal(close(fw), 0);
	r = shmtab_find(f->t, "sw", 2, &val, &vlen);
	assert_int_equal(r, 0);
	assert_int_equal(vlen, 2);
	assert_memory_equal(val, "zz", 2);
	free(val);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(shmtab_find(f->t, "sw", 2, &val, &vlen), -ENOENT);
	n = 4096 + read_rest(fr, got + 4096, sizeof(got) - 4096);
	assert_int_equal(n, l1);
	assert_memory_equal(got, v1, l1);
	assert_int_equal(fstat(fr, &sr), 0);
	assert_int_equal(sr.st_size, (off_t)l1);
	close(fr);
	free(path);
}

static int group_setup(void **state)
{
	(void)state;
	if (tu_mount_start(&main_mnt, "t-coh", "rw", source, NULL) != 0) {
		tu_mount_stop(&main_mnt);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tu_mount_stop(&ro_mnt);
	tu_mount_stop(&cache_mnt);
	tu_mount_stop(&main_mnt);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_coherence_library_change_visible, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_coherence_library_object_change_visible, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_coherence_outside_object_change_within_bound,
			fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_atomic_library_writer_mount_reader, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_atomic_mount_writer_library_reader, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_big_values_one_version_per_open, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_write_publishes_at_close_only, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_offset_write_is_read_modify_write, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_pinned_readers_keep_their_version, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_xattr_bindings_and_stat,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_escaped_names, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_rename_noreplace,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ro_mount_erofs, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_locked_table_delays_only_itself, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_cached_mode_within_bound,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cached_library_changes_seen,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_cached_first_open_after_change, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_cached_own_writes_seen_at_once, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_cached_reader_never_mixed,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_cached_old_reader_keeps_pages_apart, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_cached_old_reader_keeps_its_size, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_cached_big_value_reread,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_cached_superseded_after_writer_drops_name,
			fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cached_rename_follows_inode,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_cached_rename_array_back_and_forth, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_cached_rename_onto_existing,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_cached_reader_unchanged_key_keeps_inode, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_cached_superseded_name_opens_new_inode, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_cached_rename_keeps_reader_inode, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_cached_superseded_inode_opens_stale, fx_setup,
			fx_teardown),
	};
	int rc;

	rc = tu_mount_check();
	if (rc != 0)
		return rc;
	snprintf(prefix, sizeof(prefix), "shmtabfs-c-%d-%lx-", (int)getpid(),
		 (unsigned long)time(NULL));
	snprintf(source, sizeof(source), "posix:%s", prefix);
	tu_mount_watchdog(WATCHDOG_S);
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	tu_mount_watchdog(0);
	return rc;
}
