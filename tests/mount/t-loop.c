/* SPDX-License-Identifier: MIT */
/*
 * t-loop.c - shmtabfs's request loop does not go by the wall clock
 *
 * The loop's standby thread (src/fs-loop.c) takes over from a leader that
 * has served one request for a whole tick (20 ms), and must count that
 * tick on the monotonic clock.  With deadlines on the wall clock, a clock
 * set back makes it sleep for as long as the jump, and a request that
 * waits for a lock then holds up the whole mount; one set forward makes it
 * wake at once and look twice at one request within microseconds, and
 * take over from a leader that was not stuck.
 *
 * Here the daemon runs with clockshift.so preloaded ($SHMTAB_CLOCKSHIFT):
 * its clock_gettime(CLOCK_REALTIME) reads an hour off the kernel's, so
 * that every deadline made from it is an hour off when the kernel ends the
 * wait.  The tests check that
 *  - an hour ahead (every wall-clock deadline an hour away): a request
 *    that waits for a held table is still taken over from, and another
 *    table is served meanwhile (within STOP_BOUND_S: a loop asleep for an
 *    hour does not serve it at all);
 *  - an hour behind (every wall-clock deadline passed already): requests
 *    that wait a few milliseconds for a lock, far less than a tick, are
 *    not taken over from.  No time is measured: each take-over starts a
 *    thread (up to max_threads), and the test counts the daemon's threads;
 *  - an hour ahead again: told to end (SIGTERM) while a request waits for
 *    a held table, the daemon ends within STOP_BOUND_S, the request failed
 *    (the library's wait slices are on the monotonic clock too).
 * Exits 77 without /dev/fuse, fusermount3, $SHMTABFS or $SHMTAB_CLOCKSHIFT.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "shmtab.h"
#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S 120
#define STOP_BOUND_S 5		/* as in t-shutdown */
#define MAX_THREADS 10
#define SHORT_WAITS 20		/* requests that wait HOLD_SHORT_MS */
#define HOLD_SHORT_MS 2		/* a tenth of a tick */
#define HOLD_MS 30000		/* longer than any bound here */

static char prefix[64], source[80];

struct fx {
	char *name, *oname;	/* "t", held; "o", never held */
	shmtab *t, *o;
	struct tu_mount mnt;
	pid_t holder, client;	/* killed in teardown when a test failed */
};

static void fx_free(struct fx *f)
{
	shmtab_close(f->t);
	shmtab_close(f->o);
	tu_remove(f->name);
	tu_remove(f->oname);
	free(f->name);
	free(f->oname);
	free(f);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (asprintf(&f->name, "posix:/%st", prefix) < 0)
		f->name = NULL;
	if (asprintf(&f->oname, "posix:/%so", prefix) < 0)
		f->oname = NULL;
	if (!f->name || !f->oname || tu_create(f->name, NULL, &f->t) != 0 ||
	    tu_create(f->oname, NULL, &f->o) != 0 ||
	    tu_add_str(f->t, "k", "old") != 0 ||
	    tu_add_str(f->o, "k", "free") != 0) {
		fx_free(f);
		return -1;
	}
	*state = f;
	return 0;
}

/* A daemon that failed a test may not serve requests any more */
static int fx_teardown(void **state)
{
	struct fx *f = *state;

	tu_mount_kill(&f->mnt);
	if (f->client > 0) {
		kill(f->client, SIGKILL);
		tu_wait(f->client, 10);
	}
	if (f->holder > 0) {
		kill(f->holder, SIGKILL);
		tu_wait(f->holder, 10);
	}
	fx_free(f);
	return 0;
}

/* Start the daemon with clockshift.so preloaded, its wall clock shift_s
 * seconds off: 0 or as tu_mount_start().  AddressSanitizer wants its
 * runtime first among the libraries, and is told it need not be. */
static int mount_start_shifted(struct tu_mount *m, const char *tag,
			       long shift_s)
{
	const char *asan = getenv("ASAN_OPTIONS");
	char *old = asan ? strdup(asan) : NULL, *opts, opt[32], shift[32];
	int rc;

	if (asprintf(&opts, "%s%sverify_asan_link_order=0", old ? old : "",
		     old && *old ? ":" : "") < 0) {
		free(old);
		return -ENOMEM;
	}
	snprintf(opt, sizeof(opt), "max_threads=%d", MAX_THREADS);
	snprintf(shift, sizeof(shift), "%ld", shift_s);
	setenv("ASAN_OPTIONS", opts, 1);
	setenv("SHMTAB_CLOCK_SHIFT", shift, 1);
	setenv("LD_PRELOAD", getenv("SHMTAB_CLOCKSHIFT"), 1);
	rc = tu_mount_start(m, "t-loop", tag, source, opt);
	unsetenv("LD_PRELOAD");
	unsetenv("SHMTAB_CLOCK_SHIFT");
	if (old)
		setenv("ASAN_OPTIONS", old, 1);
	else
		unsetenv("ASAN_OPTIONS");
	free(opts);
	free(old);
	return rc;
}

/* The threads of pid, or -1. */
static int threads_of(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Whether pid has a file mapped whose path contains what. */
static bool maps_file(pid_t pid, const char *what)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

/* --- the lock holder ---------------------------------------------------- */

struct holder_arg {
	const char *name;
	int rounds;		/* groups, one after the other */
	int hold_ms;		/* how long each holds the writer lock */
	struct tu_barrier held;	/* posted once a group holds it */
	struct tu_barrier release; /* posted to end a group sooner */
	struct tu_barrier go;	/* posted to start the next group */
};

static int hold_group(shmtab *t, void *ctx)
{
	struct holder_arg *h = ctx;
	int err = shmtab_replace(t, "k", 1, "held", 4);

	if (err != 0)
		return err;
	tu_barrier_post(&h->held);
	tu_barrier_wait(&h->release, h->hold_ms);
	return 0;
}

static int lock_holder(void *arg)
{
	struct holder_arg *h = arg;
	int i, code;

	for (i = 0; i < h->rounds; i++) {
		if (i > 0 && tu_barrier_wait(&h->go, HOLD_MS) != 0)
			return 40;
		code = tu_group_child(h->name, hold_group, h);
		if (code != 0)
			return code;
	}
	return 0;
}

static pid_t holder_start(struct holder_arg *h, const char *name, int rounds,
			  int hold_ms)
{
	h->name = name;
	h->rounds = rounds;
	h->hold_ms = hold_ms;
	if (tu_barrier_init(&h->held) != 0 ||
	    tu_barrier_init(&h->release) != 0 || tu_barrier_init(&h->go) != 0)
		return -1;
	return tu_fork(lock_holder, h);
}

static void holder_free(struct holder_arg *h)
{
	tu_barrier_destroy(&h->held);
	tu_barrier_destroy(&h->release);
	tu_barrier_destroy(&h->go);
}

/* A reader through the mount: 0 when it read a value of 4 bytes ("free",
 * "held"), 1 another, 10 + errno when it failed. */
static int mount_reader(void *arg)
{
	unsigned char buf[64];
	ssize_t n = tu_read_file(arg, buf, sizeof(buf));

	if (n < 0)
		return 10 + (int)(-n > 200 ? 200 : -n);
	return n == 4 ? 0 : 1;
}

/* --- tests ------------------------------------------------------------ */

/* Wall clock an hour ahead: the standby's deadlines, on it, would be an
 * hour away. */
static void test_loop_takes_over_with_clock_ahead(void **state)
{
	struct fx *f = *state;
	struct holder_arg h;
	char *path, *opath;
	pid_t reader;

	assert_int_equal(mount_start_shifted(&f->mnt, "ahead", 3600), 0);
	/* the daemon, not only its wrapper, runs with the shim */
	assert_true(maps_file(f->mnt.pid, "clockshift"));
	path = tu_mount_path(&f->mnt, "t", "k");
	opath = tu_mount_path(&f->mnt, "o", "k");
	assert_non_null(path);
	assert_non_null(opath);
	f->holder = holder_start(&h, f->name, 1, HOLD_MS);
	assert_true(f->holder > 0);
	assert_int_equal(tu_barrier_wait(&h.held, 10000), 0);
	f->client = tu_fork(mount_reader, path);
	assert_true(f->client > 0);
	tu_sleep_ms(100);
	/* the other table is served while the leader waits */
	reader = tu_fork(mount_reader, opath);
	assert_true(reader > 0);
	assert_int_equal(tu_wait(reader, STOP_BOUND_S), 0);
	/* the holder lets go, the waiting reader gets its answer */
	tu_barrier_post(&h.release);
	assert_int_equal(tu_wait(f->holder, 10), 0);
	f->holder = 0;
	assert_int_equal(tu_wait(f->client, STOP_BOUND_S), 0);
	f->client = 0;
	holder_free(&h);
	tu_mount_stop(&f->mnt);
	free(opath);
	free(path);
}

/* Wall clock an hour behind: the standby's deadlines, on it, would have
 * passed already. */
static void test_loop_no_take_over_with_clock_behind(void **state)
{
	struct fx *f = *state;
	struct holder_arg h;
	unsigned char buf[64];
	char *path;
	int i, n;

	assert_int_equal(mount_start_shifted(&f->mnt, "behind", -3600), 0);
	assert_true(maps_file(f->mnt.pid, "clockshift"));
	path = tu_mount_path(&f->mnt, "t", "k");
	assert_non_null(path);
	f->holder = holder_start(&h, f->name, SHORT_WAITS, HOLD_SHORT_MS);
	assert_true(f->holder > 0);
	for (i = 0; i < SHORT_WAITS; i++) {
		assert_int_equal(tu_barrier_wait(&h.held, 10000), 0);
		/* waits until the group ends, HOLD_SHORT_MS at most */
		assert_int_equal(tu_read_file(path, buf, sizeof(buf)), 4);
		assert_memory_equal(buf, "held", 4);
		tu_barrier_post(&h.go);
	}
	assert_int_equal(tu_wait(f->holder, 10), 0);
	f->holder = 0;
	holder_free(&h);
	n = threads_of(f->mnt.pid);
	print_message("daemon threads after %d short waits: %d (at most %d)\n",
		      SHORT_WAITS, n, MAX_THREADS);
	/* the leader and the standby; a thread more for each request that
	 * really took a tick (a machine very busy): far from all of them */
	assert_true(n >= 2);
	assert_true(n <= MAX_THREADS / 2);
	tu_mount_stop(&f->mnt);
	free(path);
}

/* Wall clock an hour ahead, and the daemon told to end while a request
 * waits for a held table: the library's waits are sliced so that they
 * ask, between slices, whether to give up (shmtabfs.c, "Ending on
 * time"); slices on the wall clock would each last an hour. */
static void test_loop_ends_with_clock_ahead(void **state)
{
	struct fx *f = *state;
	struct holder_arg h;
	char *path;
	double t0, took;
	int code;

	assert_int_equal(mount_start_shifted(&f->mnt, "end", 3600), 0);
	assert_true(maps_file(f->mnt.pid, "clockshift"));
	path = tu_mount_path(&f->mnt, "t", "k");
	assert_non_null(path);
	f->holder = holder_start(&h, f->name, 1, HOLD_MS);
	assert_true(f->holder > 0);
	assert_int_equal(tu_barrier_wait(&h.held, 10000), 0);
	f->client = tu_fork(mount_reader, path);
	assert_true(f->client > 0);
	tu_sleep_ms(200);	/* its request waits in the daemon */
	t0 = tu_now();
	kill(f->mnt.pid, SIGTERM);
	took = tu_mount_wait_end(&f->mnt, t0, STOP_BOUND_S, &code);
	if (took < 0)
		fail_msg("the daemon did not end within %d s", STOP_BOUND_S);
	print_message("the daemon ended %.3f s after SIGTERM\n", took);
	/* exit status 0, and its mount gone with it */
	assert_int_equal(code, 0);
	/* the waiting read failed rather than waited */
	code = tu_wait(f->client, STOP_BOUND_S);
	f->client = 0;
	assert_true(code >= 10);
	tu_barrier_post(&h.release);
	assert_int_equal(tu_wait(f->holder, 10), 0);
	f->holder = 0;
	holder_free(&h);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_loop_takes_over_with_clock_ahead, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_loop_no_take_over_with_clock_behind, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_loop_ends_with_clock_ahead, fx_setup, fx_teardown),
	};
	const char *shim = getenv("SHMTAB_CLOCKSHIFT");
	int rc;

	rc = tu_mount_check();
	if (rc != 0)
		return rc;
	if (!shim || access(shim, R_OK) != 0) {
		printf("SKIP: SHMTAB_CLOCKSHIFT does not name clockshift.so\n");
		return TU_SKIP;
	}
	snprintf(prefix, sizeof(prefix), "shmtabfs-l-%d-%lx-", (int)getpid(),
		 (unsigned long)time(NULL));
	snprintf(source, sizeof(source), "posix:%s", prefix);
	tu_mount_watchdog(WATCHDOG_S);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_mount_watchdog(0);
	return rc;
}
