/* SPDX-License-Identifier: MIT */
/*
 * t-shutdown.c - shmtabfs ends on time while a request waits for a lock
 *
 * A library process holds a table's lock for as long as the test wants: in
 * a group that sleeps, or stopped with SIGSTOP inside a group that changed
 * the table (the writer lock held, the key's stripe odd).  A process then
 * reads or writes that table through the mount, and its request waits in
 * the daemon.  The tests check that
 *  - the other tables are served meanwhile;
 *  - SIGTERM or SIGINT to the daemon, or fusermount3 -u once the mount is
 *    no longer busy, ends the daemon within STOP_BOUND_S with exit status
 *    0 and the mount gone, with -f and with -s, also when the signal came
 *    while the thread that took it was serving a request;
 *  - the waiting request fails (EINTR, as shmtabfs(1) says) instead of
 *    waiting for the lock;
 *  - a signal to the process whose request waits ends that request
 *    (FUSE_INTERRUPT), also SIGKILL, and only that one;
 *  - the table is not damaged: the holder finishes its group afterwards
 *    and shmtab_check() passes.
 * Each test mounts its own daemon (the tests end it).  Exits 77 without
 * /dev/fuse, fusermount3 or $SHMTABFS.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "shmtab.h"
#include "mountutil.h"
#include "testutil.h"

#define WATCHDOG_S 120

/* How long the daemon may take to end once told to (shmtabfs(1) says a
 * waiting request gives up within a few milliseconds; this leaves room
 * for a loaded machine, and for LeakSanitizer's scan at exit in the
 * sanitizer build). */
#define STOP_BOUND_S 5.0

/* How long a lock holder holds at most: far longer than any bound here,
 * so that a daemon that waits for it fails the test. */
#define HOLD_MS 30000

static char prefix[64], source[80];

/* "posix:/PREFIXtag"; malloc'd */
static char *table_name(const char *tag)
{
	char *s;

	if (asprintf(&s, "posix:/%s%s", prefix, tag) < 0)
		return NULL;
	return s;
}

struct fx {
	char tag[32];		/* the held table's name under the mount */
	char *name;		/* its library name */
	char otag[40];		/* another table, never locked */
	char *oname;
	char tag2[40];		/* a second held table, if a test made one */
	char *name2;
	shmtab *t, *o, *t2;
	struct tu_mount mnt;
	pid_t holder, client;	/* killed in teardown when a test failed */
	pid_t holder2, client2;
};

/* Close and remove the fixture's tables, free it. */
static void fx_free(struct fx *f)
{
	shmtab_close(f->t);
	shmtab_close(f->o);
	shmtab_close(f->t2);
	tu_remove(f->name);
	tu_remove(f->oname);
	tu_remove(f->name2);
	free(f->name);
	free(f->oname);
	free(f->name2);
	free(f);
}

static int fx_setup(void **state)
{
	static int n;
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	n++;
	snprintf(f->tag, sizeof(f->tag), "held%d", n);
	snprintf(f->otag, sizeof(f->otag), "free%d", n);
	f->name = table_name(f->tag);
	f->oname = table_name(f->otag);
	if (!f->name || !f->oname || tu_create(f->name, NULL, &f->t) != 0)
		goto fail;
	if (tu_create(f->oname, NULL, &f->o) != 0)
		goto fail;
	if (tu_add_str(f->t, "k", "old") != 0 ||
	    tu_add_str(f->o, "k", "free") != 0)
		goto fail;
	*state = f;
	return 0;
fail:
	fx_free(f);
	return -1;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	/* a test that failed may leave a request waiting in the daemon */
	tu_mount_kill(&f->mnt);
	if (f->client > 0) {
		kill(f->client, SIGKILL);
		tu_wait(f->client, 10);
	}
	if (f->client2 > 0) {
		kill(f->client2, SIGKILL);
		tu_wait(f->client2, 10);
	}
	if (f->holder > 0) {
		kill(f->holder, SIGKILL);
		kill(f->holder, SIGCONT);
		tu_wait(f->holder, 10);
	}
	if (f->holder2 > 0) {
		kill(f->holder2, SIGKILL);
		kill(f->holder2, SIGCONT);
		tu_wait(f->holder2, 10);
	}
	fx_free(f);
	return 0;
}

/* --- the lock holder ---------------------------------------------------- */

enum hold_how {
	HOLD_SLEEP,		/* sleeps in the group until told to go on */
	HOLD_STOP,		/* SIGSTOPs itself in the group */
};

struct holder_arg {
	const char *name;
	enum hold_how how;
	struct tu_barrier held;		/* posted once the lock is held */
	struct tu_barrier go;		/* posted to end the group */
};

static int hold_group(shmtab *t, void *ctx)
{
	struct holder_arg *h = ctx;
	int err = shmtab_replace(t, "k", 1, "held", 4);

	if (err != 0)
		return err;
	tu_barrier_post(&h->held);
	if (h->how == HOLD_STOP)
		raise(SIGSTOP);
	else if (tu_barrier_wait(&h->go, HOLD_MS) != 0)
		return -ETIMEDOUT;
	return 0;
}

/* Holds the writer lock of the table (and key "k" odd) in a group. */
static int lock_holder(void *arg)
{
	struct holder_arg *h = arg;

	return tu_group_child(h->name, hold_group, h);
}

static pid_t holder_start(struct holder_arg *h, const char *name,
			  enum hold_how how)
{
	pid_t pid;

	h->name = name;
	h->how = how;
	if (tu_barrier_init(&h->held) != 0 || tu_barrier_init(&h->go) != 0)
		return -1;
	pid = tu_fork(lock_holder, h);
	if (pid > 0 && tu_barrier_wait(&h->held, 10000) != 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* Let the holder end its group; its exit code. */
static int holder_end(struct holder_arg *h, pid_t pid)
{
	int code;

	if (h->how == HOLD_STOP)
		kill(pid, SIGCONT);
	else
		tu_barrier_post(&h->go);
	code = tu_wait(pid, 10);
	tu_barrier_destroy(&h->held);
	tu_barrier_destroy(&h->go);
	return code;
}

/* --- the waiting request ------------------------------------------------ */

/* Exit codes of a client: 0 it read or wrote (it should not have: the
 * lock is held); 10 + errno (capped) when the call failed. */
static int client_code(int err)
{
	return 10 + (err > 200 ? 200 : err);
}

static int mount_reader(void *arg)
{
	unsigned char buf[64];
	ssize_t n = tu_read_file(arg, buf, sizeof(buf));

	return n < 0 ? client_code((int)-n) : 0;
}

static int mount_writer(void *arg)
{
	int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return client_code(errno);
	if (write(fd, "new", 3) != 3 || close(fd) != 0)
		return client_code(errno);
	return 0;
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* A reader that catches SIGUSR1 (no SA_RESTART): its open(2) may fail
 * with EINTR. */
static int mount_reader_catching(void *arg)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		return 2;
	return mount_reader(arg);
}

/* Whether pid has not exited within ms (it waits). */
static bool still_waiting(pid_t pid, int ms)
{
	int status;

	tu_sleep_ms(ms);
	return waitpid(pid, &status, WNOHANG) == 0;
}

/* --- stopping the daemon ------------------------------------------------ */

enum stop_how {
	STOP_SIGTERM,
	STOP_SIGINT,
	STOP_UNMOUNT,		/* fusermount3 -u */
};

/* Tell the daemon of m to end, and wait for it (tu_mount_wait_end). */
static double daemon_stop(struct tu_mount *m, enum stop_how how, int *code)
{
	char *argv[] = { "fusermount3", "-u", m->dir, NULL };
	double t0 = tu_now();

	*code = -1;
	if (how == STOP_UNMOUNT) {
		if (tu_run(argv, 10, 0) != 0)
			return -1;
	} else {
		kill(m->pid, how == STOP_SIGTERM ? SIGTERM : SIGINT);
	}
	return tu_mount_wait_end(m, t0, STOP_BOUND_S, code);
}

/* The table after the holder ended: passes check, and holds what the
 * holder wrote (the request that gave up changed nothing). */
static void table_intact(struct fx *f, const char *want)
{
	void *v = NULL;
	size_t n = 0;

	assert_int_equal(shmtab_check(f->t), 0);
	assert_int_equal(shmtab_find(f->t, "k", 1, &v, &n), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(v, want, n);
	free(v);
}

struct scenario {
	enum hold_how hold;
	enum stop_how stop;
	bool writer;		/* the waiting request writes (else reads) */
	const char *opt;	/* daemon option, or NULL */
};

static void run_scenario(struct fx *f, const struct scenario *s)
{
	struct holder_arg h;
	char *path, *opath;
	unsigned char buf[64];
	pid_t holder, client;
	double took;
	int code, ccode, i;

	assert_int_equal(tu_mount_start(&f->mnt, "t-shut", f->tag, source,
					s->opt),
			 0);
	path = tu_mount_path(&f->mnt, f->tag, s->writer ? "w" : "k");
	opath = tu_mount_path(&f->mnt, f->otag, "k");
	assert_non_null(path);
	assert_non_null(opath);

	holder = holder_start(&h, f->name, s->hold);
	assert_true(holder > 0);
	f->holder = holder;
	client = tu_fork(s->writer ? mount_writer : mount_reader, path);
	assert_true(client > 0);
	f->client = client;
	assert_true(still_waiting(client, 300));

	/* the other table is served while this one is held (not with -s:
	 * its one thread waits) */
	for (i = 0; i < 10 && !(s->opt && !strcmp(s->opt, "-s")); i++) {
		assert_int_equal(tu_read_file(opath, buf, sizeof(buf)), 4);
		assert_memory_equal(buf, "free", 4);
	}
	assert_true(still_waiting(client, 0));

	if (s->stop == STOP_UNMOUNT) {
		/* the mount is busy while the client is in its system call:
		 * a signal ends the client's wait (FUSE_INTERRUPT) first */
		kill(client, SIGKILL);
		ccode = tu_wait(client, (int)STOP_BOUND_S + 1);
		f->client = 0;
		assert_int_equal(ccode, -SIGKILL);
	}
	took = daemon_stop(&f->mnt, s->stop, &code);
	if (took < 0)
		fail_msg("the daemon did not end within %.1f s", STOP_BOUND_S);
	assert_int_equal(code, 0);
	if (s->stop != STOP_UNMOUNT) {
		/* the waiting request failed; it did not wait for the lock */
		ccode = tu_wait(client, 5);
		f->client = 0;
		assert_true(ccode >= 10);
		print_message("client: %s\n", strerror(ccode - 10));
	}
	f->holder = 0;
	assert_int_equal(holder_end(&h, holder), 0);
	table_intact(f, "held");
	print_message("daemon ended %.3f s after it was told\n", took);
	free(path);
	free(opath);
}

/* --- tests ------------------------------------------------------------ */

static void test_shutdown_sigterm_reader_waits(void **state)
{
	const struct scenario s = { HOLD_SLEEP, STOP_SIGTERM, false, NULL };

	run_scenario(*state, &s);
}

static void test_shutdown_sigint_writer_waits_stopped_holder(void **state)
{
	const struct scenario s = { HOLD_STOP, STOP_SIGINT, true, NULL };

	run_scenario(*state, &s);
}

/* -s: the one thread is the one that waits */
static void test_shutdown_sigterm_single_thread(void **state)
{
	const struct scenario s = { HOLD_STOP, STOP_SIGTERM, false, "-s" };

	run_scenario(*state, &s);
}

static void test_shutdown_unmount_after_client_killed(void **state)
{
	const struct scenario s = { HOLD_SLEEP, STOP_UNMOUNT, false, NULL };

	run_scenario(*state, &s);
}

static void test_shutdown_cached_mode(void **state)
{
	const struct scenario s = { HOLD_SLEEP, STOP_SIGTERM, true,
				    "cache=60" };

	run_scenario(*state, &s);
}

/* A signal to a process whose request waits ends that request (EINTR),
 * and only that one: the daemon goes on serving, the table too once the
 * holder lets go. */
static void test_interrupt_ends_only_that_request(void **state)
{
	struct fx *f = *state;
	struct holder_arg h;
	unsigned char buf[64];
	char *path;
	pid_t holder, client;
	double t0;
	int ccode, code;

	assert_int_equal(tu_mount_start(&f->mnt, "t-shut", f->tag, source,
					NULL),
			 0);
	path = tu_mount_path(&f->mnt, f->tag, "k");
	assert_non_null(path);
	holder = holder_start(&h, f->name, HOLD_STOP);
	assert_true(holder > 0);
	f->holder = holder;
	client = tu_fork(mount_reader_catching, path);
	assert_true(client > 0);
	f->client = client;
	assert_true(still_waiting(client, 300));
	t0 = tu_now();
	kill(client, SIGUSR1);
	ccode = tu_wait(client, 5);
	f->client = 0;
	assert_int_equal(ccode, client_code(EINTR));
	assert_true(tu_now() - t0 < STOP_BOUND_S);
	f->holder = 0;
	assert_int_equal(holder_end(&h, holder), 0);
	/* the mount serves the table again */
	assert_int_equal(tu_read_file(path, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "held", 4);
	table_intact(f, "held");
	assert_true(daemon_stop(&f->mnt, STOP_UNMOUNT, &code) >= 0);
	assert_int_equal(code, 0);
	free(path);
}

/* The free table reads as it should: some thread of the daemon reads
 * requests and serves them. */
static void other_table_served(struct fx *f)
{
	char *opath = tu_mount_path(&f->mnt, f->otag, "k");
	unsigned char buf[64];

	assert_non_null(opath);
	assert_int_equal(tu_read_file(opath, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "free", 4);
	free(opath);
}

/*
 * SIGTERM while the thread that took it (the one that started the loop)
 * serves a request, and no other thread can take its place: the daemon
 * ends once that request is answered, with nothing else asked of the
 * mount.  With -o max_threads=2 the two threads trade places:
 *  1. a reader waits on the held table: the starting thread serves it, the
 *     second takes over (the free table is served);
 *  2. the holder lets go: the reader gets its answer, and the starting
 *     thread becomes the one that looks for a stuck leader;
 *  3. a reader waits on a second held table: the second thread serves it,
 *     the starting thread takes over (the free table is served again),
 *     with no thread left to take over from it;
 *  4. a reader waits on the first table, held again: the starting thread
 *     serves it.  (Not in the second table's directory: its lookup would
 *     wait in the kernel behind the other reader's.)
 * Then SIGTERM: both requests give up and fail, and their processes end
 * without another request; then the holders let go.  A leader that went
 * back to read() without looking at the session would wait there for a
 * request that never comes.
 */
static void test_shutdown_sigterm_while_leader_serves(void **state)
{
	struct fx *f = *state;
	struct holder_arg h, h2;
	char *path, *path2;
	double t0, took;
	int code;

	snprintf(f->tag2, sizeof(f->tag2), "%s-2", f->tag);
	f->name2 = table_name(f->tag2);
	assert_non_null(f->name2);
	assert_int_equal(tu_create(f->name2, NULL, &f->t2), 0);
	assert_int_equal(tu_add_str(f->t2, "k", "old"), 0);
	assert_int_equal(tu_mount_start(&f->mnt, "t-shut", f->tag, source,
					"max_threads=2"),
			 0);
	path = tu_mount_path(&f->mnt, f->tag, "k");
	path2 = tu_mount_path(&f->mnt, f->tag2, "k");
	assert_non_null(path);
	assert_non_null(path2);

	/* 1. */
	f->holder = holder_start(&h, f->name, HOLD_SLEEP);
	assert_true(f->holder > 0);
	f->client = tu_fork(mount_reader, path);
	assert_true(f->client > 0);
	assert_true(still_waiting(f->client, 300));
	other_table_served(f);
	/* 2. */
	assert_int_equal(holder_end(&h, f->holder), 0);
	f->holder = 0;
	assert_int_equal(tu_wait(f->client, 5), 0);
	f->client = 0;
	/* 3. */
	f->holder2 = holder_start(&h2, f->name2, HOLD_SLEEP);
	assert_true(f->holder2 > 0);
	f->client2 = tu_fork(mount_reader, path2);
	assert_true(f->client2 > 0);
	assert_true(still_waiting(f->client2, 300));
	other_table_served(f);
	/* 4. */
	f->holder = holder_start(&h, f->name, HOLD_SLEEP);
	assert_true(f->holder > 0);
	f->client = tu_fork(mount_reader, path);
	assert_true(f->client > 0);
	assert_true(still_waiting(f->client, 300));

	t0 = tu_now();
	kill(f->mnt.pid, SIGTERM);
	assert_int_equal(tu_wait(f->client, 5), client_code(EINTR));
	f->client = 0;
	assert_int_equal(tu_wait(f->client2, 5), client_code(EINTR));
	f->client2 = 0;
	assert_int_equal(holder_end(&h, f->holder), 0);
	f->holder = 0;
	assert_int_equal(holder_end(&h2, f->holder2), 0);
	f->holder2 = 0;
	took = tu_mount_wait_end(&f->mnt, t0, STOP_BOUND_S, &code);
	if (took < 0)
		fail_msg("the daemon did not end within %.1f s", STOP_BOUND_S);
	assert_int_equal(code, 0);
	print_message("daemon ended %.3f s after it was told\n", took);
	table_intact(f, "held");
	assert_int_equal(shmtab_check(f->t2), 0);
	free(path2);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_shutdown_sigterm_reader_waits, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_shutdown_sigint_writer_waits_stopped_holder,
			fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_shutdown_sigterm_single_thread, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_shutdown_unmount_after_client_killed, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_cached_mode,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_interrupt_ends_only_that_request, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_shutdown_sigterm_while_leader_serves, fx_setup,
			fx_teardown),
	};
	int rc;

	rc = tu_mount_check();
	if (rc != 0)
		return rc;
	snprintf(prefix, sizeof(prefix), "shmtabfs-s-%d-%lx-", (int)getpid(),
		 (unsigned long)time(NULL));
	snprintf(source, sizeof(source), "posix:%s", prefix);
	tu_mount_watchdog(WATCHDOG_S);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_mount_watchdog(0);
	return rc;
}
