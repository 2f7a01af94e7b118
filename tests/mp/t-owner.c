/* SPDX-License-Identifier: MIT */
/*
 * t-owner.c - whose slot is alive: processes in other pid namespaces, and
 * children that got copies of their parent's handles with fork().
 *
 * A process in another pid namespace (a container sharing /dev/shm) knows
 * itself by that namespace's pid, often 1, and its /proc is its own: a
 * process outside that judged it by pid and /proc would take a live reader
 * for dead, wipe its read locks and give its slot away.  A child that got
 * copies of its parent's handles must neither keep the parent alive once
 * it died nor free the parent's slot when it closes its copy.
 *
 * The namespace tests need CAP_SYS_ADMIN; without it they skip.  This
 * program is a child subreaper, so that whatever it started and whose
 * parent died comes back to it to be reaped.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmtab-hooks.h"
#include "shmtab.h"
#include "childtab.h"
#include "testutil.h"

#define SHMTAB_SLOTS_TEST 128 /* process slots of a table (doc/FORMAT.md) */
/* The header's wlock_pid u32 (doc/FORMAT.md). */
#define WLOCK_PID_OFF 128
/* A table's slots (doc/FORMAT.md): 64 bytes each, pid u32 first. */
#define SLOTS_OFF 7616
#define SLOT_SIZE 64

/* Written by the children, read by the test. */
struct owner_shared {
	pid_t reader;		/* the namespace's reader, as we see it */
	pid_t ns_pid;		/* its getpid() in its namespace */
	int unsupported;	/* errno of the namespace set-up that failed */
	int own_proc;		/* the namespace mounts its own /proc */
	pid_t hanger;		/* a child that only sleeps */
	int slot;		/* the reader's slot */
	int rc_open, rc_stat;	/* a late opener's */
	uint32_t pid_word;	/* the reader's slot's, once it opened */
	struct shmtab_stat st;	/* and the table then */
	int ro;			/* the reader: read-only, finds k */
	int in_group;		/* child_fork_then_die dies in a group */
	int slotless;		/* ...through a handle that got no slot */
	int go;			/* ...once this is set */
	int rc_find;		/* what its find of k returned */
	char val[16];		/* and found */
};

struct owner_fixture {
	char *name;
	shmtab *t;
	shmtab *more[SHMTAB_SLOTS_TEST];
	int nmore;
	/* a child's descendants after it: killed last first, reaped first
	 * first, so that an orphan has come back to us when we wait for it */
	pid_t pid[4];
	struct tu_barrier b;
	struct owner_shared *sh;
	int visits, waited;	/* test_owner_forked_child_closes_... */
};

static int owner_setup(void **state)
{
	struct owner_fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	*state = fx;
	fx->name = tu_posix_name("owner");
	fx->sh = mmap(NULL, sizeof(*fx->sh), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!fx->name || fx->sh == MAP_FAILED || tu_barrier_init(&fx->b) != 0)
		return -1;
	return 0;
}

static int owner_teardown(void **state)
{
	struct owner_fixture *fx = *state;
	int i;

	for (i = 3; i >= 0; i--)
		if (fx->pid[i] > 0)
			kill(fx->pid[i], SIGKILL);
	for (i = 0; i < 4; i++)
		if (fx->pid[i] > 0)
			waitpid(fx->pid[i], NULL, 0);
	for (i = 0; i < fx->nmore; i++)
		shmtab_close(fx->more[i]);
	shmtab_close(fx->t);
	tu_remove(fx->name);
	free(fx->name);
	tu_barrier_destroy(&fx->b);
	if (fx->sh && fx->sh != MAP_FAILED)
		munmap(fx->sh, sizeof(*fx->sh));
	free(fx);
	return 0;
}

static uint32_t slot_pid(const char *name, int i)
{
	size_t off = SLOTS_OFF + (size_t)i * SLOT_SIZE;

	return (uint32_t)tu_object_word(name, off);
}

/* The first slot whose pid word is pid, or with other the first used one
 * whose pid word is not; -1 if none. */
static int slot_find(const char *name, uint32_t pid, int other)
{
	for (int i = 0; i < SHMTAB_SLOTS_TEST; i++) {
		uint32_t p = slot_pid(name, i);

		if (other ? p && p != pid : p == pid)
			return i;
	}
	return -1;
}

/* Child i, a writer, still waits after 300 ms. */
static void expect_child_waits(struct owner_fixture *fx, int i,
			       const char *what)
{
	int st = 0;
	pid_t r;

	usleep(300000);
	r = waitpid(fx->pid[i], &st, WNOHANG);
	if (r == 0)
		return;
	if (r < 0)
		fail_msg("%s: waitpid: %s", what, strerror(errno));
	fx->pid[i] = 0;
	if (WIFEXITED(st))
		fail_msg("%s did not wait for the live reader: it ended, "
			 "exit code %d", what, WEXITSTATUS(st));
	fail_msg("%s: killed by signal %d", what, WTERMSIG(st));
}

/* Opens the table and holds a read lock of every stripe until killed. */
static int iter_and_hang(const char *name, struct tu_barrier *post)
{
	shmtab *t = NULL;

	if (shmtab_open(name, O_RDWR, 0, NULL, &t) != 0)
		return 4;
	shmtab_iter(t, visit_and_hang, post);
	return 10;
}

static int child_add(void *arg)
{
	shmtab *t = NULL;
	int rc;

	if (shmtab_open(arg, O_RDWR, 0, NULL, &t) != 0)
		return 4;
	rc = tu_put_str(t, "k", "after");
	shmtab_close(t);
	return rc != 0 ? 5 : 0;
}

/* ----------------------------------------- readers in another pid namespace */

/* Opens the table read-only, says so, and on the word finds k. */
static int ro_find(struct owner_fixture *fx)
{
	struct owner_shared *sh = fx->sh;
	shmtab *t = NULL;
	void *v = NULL;
	size_t n = 0;

	if (shmtab_open(fx->name, O_RDONLY, 0, NULL, &t) != 0)
		return 4;
	tu_barrier_post(&fx->b);
	while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
		usleep(1000);
	sh->rc_find = shmtab_find(t, "k", 1, &v, &n);
	if (sh->rc_find == 0 && n < sizeof(sh->val))
		memcpy(sh->val, v, n);
	free(v);
	shmtab_close(t);
	return 0;
}

/* The grandchild: pid 1 of a new pid namespace, with its own /proc as in
 * a container, or ours. */
static int ns_reader(struct owner_fixture *fx)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (fx->sh->own_proc &&
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) != 0) {
		fx->sh->unsupported = errno;
		tu_barrier_post(&fx->b);
		return 0;
	}
	fx->sh->ns_pid = getpid();
	/* the test kills us by the pid our parent knows */
	while (!__atomic_load_n(&fx->sh->reader, __ATOMIC_ACQUIRE))
		usleep(1000);
	if (fx->sh->ro)
		return ro_find(fx);
	return iter_and_hang(fx->name, &fx->b);
}

static int child_ns_reader(void *arg)
{
	struct owner_fixture *fx = arg;
	int st;
	pid_t g;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* the new mounts (/proc) stay in the new mount namespace */
	if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		fx->sh->unsupported = errno;
		tu_barrier_post(&fx->b);
		return 0;
	}
	g = fork();
	if (g < 0)
		return 3;
	if (g == 0)
		_exit(ns_reader(fx) & 0xff);
	__atomic_store_n(&fx->sh->reader, g, __ATOMIC_RELEASE);
	while (waitpid(g, &st, 0) < 0)
		if (errno != EINTR)
			return 5;
	if (WIFSIGNALED(st))
		return WTERMSIG(st) == SIGKILL ? 0 : 6;
	return WEXITSTATUS(st) ? 20 + WEXITSTATUS(st) : 0;
}

/* The reader in another pid namespace (pid[0] the child that made the
 * namespace, pid[1] the reader), holding its lock; skips where no pid
 * namespace can be made. */
static void start_ns_reader(struct owner_fixture *fx, int own_proc)
{
	int e;

	fx->sh->own_proc = own_proc;
	fx->pid[0] = tu_fork(child_ns_reader, fx);
	assert_true(fx->pid[0] > 0);
	if (tu_barrier_wait(&fx->b, 10000) != 0)
		fail_msg("the reader in another pid namespace never got its "
			 "lock");
	e = fx->sh->unsupported;
	if (e == EPERM || e == EINVAL || e == ENOSYS) {
		printf("# no pid namespace here: %s\n", strerror(e));
		skip();
	}
	if (e)
		fail_msg("pid namespace set-up: %s", strerror(e));
	fx->pid[1] = fx->sh->reader;
	if (fx->sh->ns_pid != 1)
		fail_msg("the reader is pid %d in its namespace, not 1",
			 (int)fx->sh->ns_pid);
}

static void kill_ns_reader(struct owner_fixture *fx)
{
	kill(fx->pid[1], SIGKILL);
	fx->pid[1] = 0;
}

/*
 * A reader in another pid namespace (pid 1 there) holds a read lock of
 * every stripe: it counts as alive, and a writer outside waits for it
 * until it is killed, and no longer.  With its own /proc, pid 1 there is
 * no process we know; with ours, it is our pid 1, which never dies.
 */
static void run_ns_reader(struct owner_fixture *fx, int own_proc)
{
	struct shmtab_stat st;
	uint32_t pid_word;
	int slot;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	start_ns_reader(fx, own_proc);
	slot = slot_find(fx->name, (uint32_t)getpid(), 1);
	if (slot < 0)
		fail_msg("the reader in another pid namespace has no slot");
	pid_word = slot_pid(fx->name, slot);
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	if (st.holders != 2 || st.dead_holders != 0)
		fail_msg("stat: %u holders, %u dead, want 2, 0: the live "
			 "reader in another pid namespace (pid word %u) is "
			 "judged dead", st.holders, st.dead_holders, pid_word);
	/* a writer of k waits for the reader's lock... */
	fx->pid[2] = tu_fork(child_add, fx->name);
	assert_true(fx->pid[2] > 0);
	expect_child_waits(fx, 2, "a writer in the initial pid namespace");
	if (slot_pid(fx->name, slot) != pid_word)
		fail_msg("the writer wiped the live reader's slot (pid word "
			 "%u, was %u)", slot_pid(fx->name, slot), pid_word);
	/* ...until the reader is gone */
	kill_ns_reader(fx);
	ct_expect_ok(&fx->pid[2], 10, "writer after the reader in another pid "
			"namespace was killed");
	ct_expect_ok(&fx->pid[0], 10, "maker of the pid namespace");
	assert_int_equal(tu_find_is(fx->t, "k", "after"), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
}

static void test_owner_reader_in_other_pid_namespace(void **state)
{
	run_ns_reader(*state, 1);
}

static void test_owner_reader_in_other_pid_namespace_shared_proc(void **state)
{
	run_ns_reader(*state, 0);
}

/* In a group: replaces k, lets the reader go, and keeps k's stripe odd
 * (the writer lock held) for half a second. */
static int group_replace_and_hold(shmtab *t, void *ctx)
{
	struct owner_fixture *fx = ctx;
	int rc = tu_put_str(t, "k", "new");

	__atomic_store_n(&fx->sh->go, 1, __ATOMIC_RELEASE);
	usleep(500000);
	return rc;
}

/*
 * A read-only reader in another pid namespace meets a stripe a writer of
 * ours keeps odd: it cannot take the writer lock, so it waits as long as
 * the holder lives.  The holder's pid means nothing in its namespace; the
 * slot the holder publishes (wlock_slot) does.  It must wait and then
 * read the new value, not give up at once with -EAGAIN.
 */
static void run_ro_reader(struct owner_fixture *fx, int slotless)
{
	shmtab *w;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	fx->sh->ro = 1;
	start_ns_reader(fx, 1);
	w = fx->t;
	if (slotless) {
		/* every slot taken: w is one more handle, with none */
		for (struct shmtab_stat st;;) {
			assert_int_equal(shmtab_stat(fx->t, &st), 0);
			assert_true(fx->nmore < SHMTAB_SLOTS_TEST);
			assert_int_equal(shmtab_open(fx->name, O_RDWR, 0, NULL,
						     &fx->more[fx->nmore]), 0);
			w = fx->more[fx->nmore++];
			if (st.holders == SHMTAB_SLOTS_TEST)
				break;
		}
	}
	assert_int_equal(shmtab_group(w, group_replace_and_hold, fx), 0);
	ct_expect_ok(&fx->pid[0], 10, "maker of the pid namespace");
	fx->pid[1] = 0;
	if (fx->sh->rc_find != 0)
		fail_msg("the read-only reader in another pid namespace gave "
			 "up while the writer lived: %s",
			 shmtab_strerror(fx->sh->rc_find));
	assert_string_equal(fx->sh->val, "new");
	assert_int_equal(shmtab_check(fx->t), 0);
}

static void test_owner_read_only_reader_in_other_pid_namespace(void **state)
{
	run_ro_reader(*state, 0);
}

/* The same with a writer that got no slot (every slot taken): it tells
 * that it lives by the record method's byte, which it holds too. */
static void test_owner_read_only_reader_and_slotless_writer(void **state)
{
	run_ro_reader(*state, 1);
}

/* Two writers, each pid 1 of a pid namespace of its own (two containers):
 * their thread ids are the same number. */
struct twin_shared {
	int unsupported;	/* errno of unshare() */
	int holding;		/* the first holds the writer lock */
	int rc_hold, rc_b;
	double waited_b;	/* how long the second's replace took */
};

struct twin_arg {
	const char *name;
	struct twin_shared *sh;
	int second;
};

static int group_hold(shmtab *t, void *ctx)
{
	struct twin_shared *sh = ctx;
	int rc = tu_put_str(t, "k", "A");

	__atomic_store_n(&sh->holding, 1, __ATOMIC_RELEASE);
	usleep(500000);
	return rc;
}

static int twin(struct twin_arg *a)
{
	shmtab *t = NULL;
	double t0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (shmtab_open(a->name, O_RDWR, 0, NULL, &t) != 0)
		return 4;
	if (!a->second) {
		a->sh->rc_hold = shmtab_group(t, group_hold, a->sh);
	} else {
		t0 = tu_now();
		a->sh->rc_b = tu_put_str(t, "k", "B");
		a->sh->waited_b = tu_now() - t0;
	}
	shmtab_close(t);
	return 0;
}

static int child_twin(void *arg)
{
	struct twin_arg *a = arg;
	int st;
	pid_t g;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (unshare(CLONE_NEWPID) != 0) {
		a->sh->unsupported = errno;
		return 0;
	}
	g = fork();
	if (g < 0)
		return 3;
	if (g == 0)
		_exit(twin(a) & 0xff);
	while (waitpid(g, &st, 0) < 0)
		if (errno != EINTR)
			return 5;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 6;
}

/*
 * The writer lock held by one of them, the other's replace waits for it
 * and then goes through.  A mutex that takes a holder with our thread id
 * for ourselves (glibc's error-checking kind) said -EDEADLK at once.
 */
static void test_owner_writers_of_same_tid_in_two_pid_namespaces(void **state)
{
	struct owner_fixture *fx = *state;
	struct twin_shared *sh = mmap(NULL, sizeof(*sh),
				      PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct twin_arg a = { fx->name, sh, 0 }, b = { fx->name, sh, 1 };

	assert_true(sh != MAP_FAILED);
	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	fx->pid[0] = tu_fork(child_twin, &a);
	assert_true(fx->pid[0] > 0);
	for (int i = 0; !__atomic_load_n(&sh->holding, __ATOMIC_ACQUIRE); i++) {
		if (sh->unsupported) {
			printf("# no pid namespace here: %s\n",
			       strerror(sh->unsupported));
			skip();
		}
		if (i == 10000)
			fail_msg("the first writer never took the lock");
		usleep(1000);
	}
	fx->pid[1] = tu_fork(child_twin, &b);
	assert_true(fx->pid[1] > 0);
	ct_expect_ok(&fx->pid[1], 10, "the second writer");
	ct_expect_ok(&fx->pid[0], 10, "the first writer");
	assert_int_equal(sh->rc_hold, 0);
	if (sh->rc_b != 0)
		fail_msg("the second writer's replace: %s",
			 shmtab_strerror(sh->rc_b));
	if (sh->waited_b < 0.2)
		fail_msg("the second writer did not wait for the first "
			 "(%.3f s)", sh->waited_b);
	assert_int_equal(tu_find_is(fx->t, "k", "B"), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
	munmap(sh, sizeof(*sh));
}

/* Opens the table when no slot is free, says what it found, writes k. */
static int child_open_and_add(void *arg)
{
	struct owner_fixture *fx = arg;
	struct owner_shared *sh = fx->sh;
	shmtab *t = NULL;
	int rc;

	sh->rc_open = shmtab_open(fx->name, O_RDWR, 0, NULL, &t);
	if (sh->rc_open == 0) {
		sh->pid_word = slot_pid(fx->name, sh->slot);
		sh->rc_stat = shmtab_stat(t, &sh->st);
	}
	tu_barrier_post(&fx->b);
	if (sh->rc_open != 0)
		return 4;
	rc = tu_put_str(t, "k", "after");
	shmtab_close(t);
	return rc != 0 ? 5 : 0;
}

/*
 * Every slot is taken, the last by a reader in another pid namespace that
 * holds a read lock of every stripe; a process outside opens the table.
 * It must not take the live reader's slot, and its write waits for the
 * reader until the reader is killed.
 */
static void test_owner_opener_in_other_pid_namespace_takes_no_live_slot(
	void **state)
{
	struct owner_fixture *fx = *state;
	struct owner_shared *sh = fx->sh;
	struct shmtab_stat st;
	uint32_t pid_word;
	int slot;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	for (;;) {
		assert_int_equal(shmtab_stat(fx->t, &st), 0);
		if (st.holders == SHMTAB_SLOTS_TEST - 1)
			break;
		assert_true(fx->nmore < SHMTAB_SLOTS_TEST);
		assert_int_equal(shmtab_open(fx->name, O_RDWR, 0, NULL,
					     &fx->more[fx->nmore]), 0);
		fx->nmore++;
	}
	start_ns_reader(fx, 1);
	slot = slot_find(fx->name, (uint32_t)getpid(), 1);
	if (slot < 0)
		fail_msg("the reader in another pid namespace has no slot");
	pid_word = slot_pid(fx->name, slot);
	sh->slot = slot;
	fx->pid[2] = tu_fork(child_open_and_add, fx);
	assert_true(fx->pid[2] > 0);
	if (tu_barrier_wait(&fx->b, 10000) != 0)
		fail_msg("the late opener never opened the table");
	if (sh->rc_open != 0)
		fail_msg("the late opener: open: %s",
			 shmtab_strerror(sh->rc_open));
	if (sh->pid_word != pid_word)
		fail_msg("the late opener took the live reader's slot %d "
			 "(pid word %u, was %u)", slot, sh->pid_word, pid_word);
	assert_int_equal(sh->rc_stat, 0);
	if (sh->st.holders != SHMTAB_SLOTS_TEST || sh->st.dead_holders != 0)
		fail_msg("stat after the late open: %u holders, %u dead, "
			 "want %d, 0", sh->st.holders, sh->st.dead_holders,
			 SHMTAB_SLOTS_TEST);
	/* its write of k waits for the reader... */
	expect_child_waits(fx, 2, "the late opener's write");
	if (slot_pid(fx->name, slot) != pid_word)
		fail_msg("the late opener's write wiped the live reader's "
			 "slot (pid word %u, was %u)", slot_pid(fx->name, slot),
			 pid_word);
	/* ...until the reader is gone */
	kill_ns_reader(fx);
	ct_expect_ok(&fx->pid[2], 10, "the late opener, after the reader was "
			"killed");
	ct_expect_ok(&fx->pid[0], 10, "maker of the pid namespace");
	assert_int_equal(tu_find_is(fx->t, "k", "after"), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
}

/* ------------------------------------------------- handles copied by fork */

/* Opens the table, forks a child that never touches it and sleeps as long
 * as we or the test live, then reads every stripe until killed. */
static int child_fork_then_read(void *arg)
{
	struct owner_fixture *fx = arg;
	pid_t top = getppid(), me = getpid();
	shmtab *t = NULL;
	pid_t c;

	if (shmtab_open(fx->name, O_RDWR, 0, NULL, &t) != 0)
		return 4;
	c = fork();
	if (c < 0)
		return 3;
	if (c == 0) {
		while (getppid() == me || getppid() == top)
			usleep(100000);
		_exit(0);
	}
	fx->sh->hanger = c;
	shmtab_iter(t, visit_and_hang, &fx->b);
	return 10;
}

/*
 * A reader that forked a child, which got copies of the reader's handle
 * and never used them, is killed holding a read lock of every stripe: it
 * is dead, though its child lives on, and a writer gets through.
 */
static void test_owner_forked_child_does_not_keep_parent_alive(void **state)
{
	struct owner_fixture *fx = *state;
	struct shmtab_stat st;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	fx->pid[0] = tu_fork(child_fork_then_read, fx);
	assert_true(fx->pid[0] > 0);
	if (tu_barrier_wait(&fx->b, 10000) != 0)
		fail_msg("the reader never got its lock");
	fx->pid[1] = fx->sh->hanger;
	assert_true(fx->pid[1] > 0);
	/* while the reader lives, a writer waits for it */
	fx->pid[2] = tu_fork(child_add, fx->name);
	assert_true(fx->pid[2] > 0);
	expect_child_waits(fx, 2, "a writer");
	kill(fx->pid[0], SIGKILL);
	ct_wait_killed(&fx->pid[0]);
	ct_expect_ok(&fx->pid[2], 10, "writer after the reader was killed, its "
			"child with copies of its handle alive");
	assert_int_equal(kill(fx->pid[1], 0), 0);
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	if (st.holders != 1 || st.dead_holders != 0)
		fail_msg("stat: %u holders, %u dead, want 1, 0", st.holders,
			 st.dead_holders);
	assert_int_equal(tu_find_is(fx->t, "k", "after"), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
	/* the reader's child came back to us (subreaper) */
	kill(fx->pid[1], SIGKILL);
	ct_wait_killed(&fx->pid[1]);
}

static int visit_nothing(const void *key, size_t klen, const void *val,
			 size_t vlen, void *ctx)
{
	(void)key, (void)klen, (void)val, (void)vlen, (void)ctx;
	return 0;
}

/* The copy is not ours: every call says so (it would take the parent's
 * writer lock as its own), but closing it frees it. */
static int child_close_copy(void *arg)
{
	struct shmtab_stat st;
	char buf[8];
	size_t n;

	if (shmtab_find_into(arg, "k", 1, buf, sizeof(buf), &n) != -EBADF ||
	    shmtab_iter(arg, visit_nothing, NULL) != -EBADF ||
	    tu_put_str(arg, "k", "child") != -EBADF ||
	    shmtab_stat(arg, &st) != -EBADF || shmtab_length(arg) != -EBADF)
		return 6;
	return shmtab_close(arg) == 0 ? 0 : 5;
}

/* Once, in our iteration: a writer of k in another process waits. */
static int visit_start_writer(const void *key, size_t klen, const void *val,
			      size_t vlen, void *ctx)
{
	struct owner_fixture *fx = ctx;
	int st;

	(void)key, (void)klen, (void)val, (void)vlen;
	if (fx->visits++)
		return 0;
	fx->pid[1] = tu_fork(child_add, fx->name);
	if (fx->pid[1] < 0)
		return 0;
	usleep(300000);
	fx->waited = waitpid(fx->pid[1], &st, WNOHANG) == 0;
	if (!fx->waited)
		fx->pid[1] = 0;
	return 0;
}

/*
 * A process with the table open forks; the child closes its copy of the
 * handle.  The parent's slot is still the parent's: the table counts it,
 * and its read locks still hold off writers.
 */
static void test_owner_forked_child_closes_parents_handle(void **state)
{
	struct owner_fixture *fx = *state;
	uint32_t me = (uint32_t)getpid();
	struct shmtab_stat st;
	int slot;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	slot = slot_find(fx->name, me, 0);
	assert_true(slot >= 0);
	fx->pid[0] = tu_fork(child_close_copy, fx->t);
	assert_true(fx->pid[0] > 0);
	ct_expect_ok(&fx->pid[0], 10, "child closing its copy of the handle");
	if (slot_pid(fx->name, slot) != me)
		fail_msg("the child's close freed the parent's slot %d "
			 "(pid word %u, was %u)", slot,
			 slot_pid(fx->name, slot), me);
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	if (st.holders != 1 || st.dead_holders != 0)
		fail_msg("stat after the child's close: %u holders, %u dead, "
			 "want 1, 0", st.holders, st.dead_holders);
	/* the parent writes and reads on */
	assert_int_equal(tu_put_str(fx->t, "p", "1"), 0);
	assert_int_equal(tu_find_is(fx->t, "p", "1"), 0);
	assert_int_equal(shmtab_iter(fx->t, visit_start_writer, fx), 0);
	assert_int_equal(fx->visits, 2);
	if (!fx->waited)
		fail_msg("a writer did not wait for the parent's iteration: "
			 "its read locks no longer count");
	ct_expect_ok(&fx->pid[1], 10, "writer after the parent's iteration");
	assert_int_equal(tu_find_is(fx->t, "k", "after"), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
}

/* A child that sleeps until the test ends it, or our parent is gone. */
static pid_t fork_idler(void)
{
	pid_t top = getppid(), me = getpid();
	pid_t c = fork();

	if (c == 0) {
		while (getppid() == me || getppid() == top)
			usleep(100000);
		_exit(0);
	}
	return c;
}

/*
 * A child made without the fork() handlers (a raw clone, as some runtimes
 * make them), which so keeps its copies of our handle's slot and
 * descriptors, closes its copy: our slot stays ours and alive (an unlock
 * through the child's copy of the descriptor would have been ours).
 */
static void test_owner_child_without_atfork_closes_copy(void **state)
{
	struct owner_fixture *fx = *state;
	struct shmtab_stat st;
	int slot, status = 0;
	pid_t c;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	slot = slot_find(fx->name, (uint32_t)getpid(), 0);
	assert_true(slot >= 0);
	fflush(NULL);
	c = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	assert_true(c >= 0);
	if (c == 0)
		_exit(shmtab_close(fx->t) == 0 ? 0 : 1);
	assert_int_equal(waitpid(c, &status, 0), c);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (slot_pid(fx->name, slot) != (uint32_t)getpid())
		fail_msg("the child's close freed our slot (pid word %u)",
			 slot_pid(fx->name, slot));
	assert_int_equal(shmtab_stat(fx->t, &st), 0);
	if (st.holders != 1 || st.dead_holders != 0)
		fail_msg("stat: %u holders, %u dead, want 1, 0: the child's "
			 "close let go of our slot's lock", st.holders,
			 st.dead_holders);
	assert_int_equal(shmtab_check(fx->t), 0);
}

static int child_iter_reader(void *arg)
{
	struct owner_fixture *fx = arg;

	return iter_and_hang(fx->name, &fx->b);
}

static void die_clearing(const char *point)
{
	if (strcmp(point, "slot-clearing") == 0)
		_exit(42);
}

static int group_die(shmtab *t, void *ctx)
{
	(void)ctx;
	if (tu_put_str(t, "k", "lost") != 0)
		return -1;
	_exit(43);
}

/* Opens, forks an idle child, then dies holding an fcntl lock: in a group
 * (sh->in_group: the writer lock of the record method), or while it clears
 * a dead reader's slot (the slot's lock; exit code 42). */
static int child_fork_then_die(void *arg)
{
	struct owner_fixture *fx = arg;
	shmtab *t = NULL;

	if (shmtab_open(fx->name, O_RDWR, 0, NULL, &t) != 0)
		return 4;
	/* every slot taken: t is one more handle, with none */
	for (struct shmtab_stat st; fx->sh->slotless;) {
		if (shmtab_stat(t, &st) != 0)
			return 6;
		if (shmtab_open(fx->name, O_RDWR, 0, NULL, &t) != 0)
			return 4;
		if (st.holders == SHMTAB_SLOTS_TEST)
			break;
	}
	fx->sh->hanger = fork_idler();
	if (fx->sh->hanger < 0)
		return 3;
	if (fx->sh->in_group) {
		shmtab_group(t, group_die, NULL);
	} else {
		shmtab__set_fault(die_clearing);
		tu_put_str(t, "k", "lost");
	}
	return 5;
}

/* child_fork_then_die, with exit code code: the next writer gets through
 * while the idle child it forked lives. */
static void run_locker_dies(struct owner_fixture *fx, int code,
			    const char *what)
{
	fx->pid[1] = tu_fork(child_fork_then_die, fx);
	assert_true(fx->pid[1] > 0);
	assert_int_equal(tu_wait(fx->pid[1], 10), code);
	fx->pid[1] = 0;
	fx->pid[2] = fx->sh->hanger;
	assert_true(fx->pid[2] > 0);
	fx->pid[3] = tu_fork(child_add, fx->name);
	assert_true(fx->pid[3] > 0);
	if (tu_wait(fx->pid[3], 10) != 0)
		fail_msg("the writer after %s died, its child alive, did not "
			 "get through", what);
	fx->pid[3] = 0;
	assert_int_equal(kill(fx->pid[2], 0), 0);
	assert_int_equal(tu_find_is(fx->t, "k", "after"), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
}

/*
 * A writer that had forked a child dies while it clears a dead reader's
 * slot: the next writer clears it at once, not once the child is gone
 * (the clearer's lock on the slot's byte must not live in a descriptor
 * the child's mappings keep).
 */
static void test_owner_forked_child_does_not_keep_clearers_lock(void **state)
{
	struct owner_fixture *fx = *state;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	fx->pid[0] = tu_fork(child_iter_reader, fx);
	assert_true(fx->pid[0] > 0);
	if (tu_barrier_wait(&fx->b, 10000) != 0)
		fail_msg("the reader never got its lock");
	kill(fx->pid[0], SIGKILL);
	ct_wait_killed(&fx->pid[0]);
	run_locker_dies(fx, 42, "the clearer");
}

/* A record-locked table whose writer lock's holder (slotless: a handle
 * that got no slot) forks an idle child and dies in a group. */
static void run_record_holder_dies(struct owner_fixture *fx, int slotless,
				   const char *what)
{
	struct shmtab_options o = { .lock = SHMTAB_LOCK_RECORD };

	assert_int_equal(shmtab_open(fx->name, O_RDWR | O_CREAT | O_EXCL, 0600,
				     &o, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	fx->sh->in_group = 1;
	fx->sh->slotless = slotless;
	run_locker_dies(fx, 43, what);
}

/* The same for the writer lock of the record method: the next writer
 * takes it at once, not once the dead holder's child is gone. */
static void test_owner_forked_child_does_not_keep_record_writer_lock(
	void **state)
{
	run_record_holder_dies(*state, 0, "the record lock's holder");
}

/* The same through a handle that got no slot (every slot taken): its
 * writer lock too is held through a descriptor nobody maps. */
static void test_owner_forked_child_does_not_keep_slotless_writer_lock(
	void **state)
{
	run_record_holder_dies(*state, 1, "a slotless record lock holder");
}

/* In a group: writes k, forks; the child returns from the group (and so
 * ends it, in its copy) and exits; we look at the writer lock's word. */
static int group_fork_child_returns(shmtab *t, void *ctx)
{
	struct owner_fixture *fx = ctx;
	int st;
	pid_t c;

	if (tu_put_str(t, "k", "g") != 0)
		return -1;
	c = fork();
	if (c == 0)
		return 0;	/* the child ends the group, then exits */
	if (c < 0 || waitpid(c, &st, 0) != c)
		return -2;
	fx->sh->pid_word = (uint32_t)tu_object_word(fx->name, WLOCK_PID_OFF);
	fx->sh->ns_pid = getpid();
	return 0;
}

static int child_group_forks(void *arg)
{
	struct owner_fixture *fx = arg;
	shmtab *t = NULL;
	pid_t me = getpid();
	int rc;

	if (shmtab_open(fx->name, O_RDWR, 0, NULL, &t) != 0)
		return 4;
	rc = shmtab_group(t, group_fork_child_returns, fx);
	if (getpid() != me)
		_exit(0);	/* the child, back from the group */
	return rc == 0 ? 0 : 5;
}

/*
 * A child forked inside a group that returns from it ends the group in
 * its copy of the handle: that must let go of nothing of the parent's,
 * who still holds the writer lock and its odd stripe.
 */
static void test_owner_child_leaving_group_keeps_parents_lock(void **state)
{
	struct owner_fixture *fx = *state;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	assert_int_equal(tu_put_str(fx->t, "k", "v"), 0);
	fx->pid[0] = tu_fork(child_group_forks, fx);
	assert_true(fx->pid[0] > 0);
	ct_expect_ok(&fx->pid[0], 10, "the process whose group forked");
	if (fx->sh->pid_word != (uint32_t)fx->sh->ns_pid)
		fail_msg("after the child left the group, wlock_pid is %u, "
			 "not the holder's %d", fx->sh->pid_word,
			 (int)fx->sh->ns_pid);
	assert_int_equal(tu_find_is(fx->t, "k", "g"), 0);
	assert_int_equal(shmtab_check(fx->t), 0);
}

/* ------------------------------------------ a fork while a handle opens */

static const char *claim_obj;	/* the object's path */
static pthread_t claim_forker;
static int claim_forked;
static pid_t claim_child;

/* In the child: how many of its descriptors are the object's. */
static int fds_of_object(const char *path)
{
	char link[PATH_MAX];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 100;
	while ((e = readdir(d))) {
		ssize_t len = readlinkat(dirfd(d), e->d_name, link,
					 sizeof(link) - 1);

		if (len <= 0)
			continue;
		link[len] = 0;
		n += strcmp(link, path) == 0;
	}
	closedir(d);
	return n;
}

static void *fork_now(void *arg)
{
	(void)arg;
	claim_child = fork();
	if (claim_child == 0)
		_exit(fds_of_object(claim_obj));
	return NULL;
}

/* The opener has its slot: another thread forks now, and the opener
 * lingers, as a preempted thread would. */
static void fork_at_claim(const char *point)
{
	if (strcmp(point, "slot-claimed") != 0 || claim_forked)
		return;
	claim_forked = 1;
	if (pthread_create(&claim_forker, NULL, fork_now, NULL) != 0)
		claim_forked = -1;
	usleep(100000);
}

/*
 * Another thread forks while a handle is being opened, right after it
 * took its slot: the child must not keep the new handle's descriptors
 * (they would keep the parent alive to the others once it died).  The
 * child counts its descriptors of the object: the fork handler closed
 * those of every handle, this one too.
 */
static void test_owner_fork_while_a_handle_opens(void **state)
{
	struct owner_fixture *fx = *state;
	char *path;
	shmtab *t = NULL;
	int st, rc;

	assert_int_equal(tu_create(fx->name, NULL, &fx->t), 0);
	path = tu_object_path(fx->name);
	assert_non_null(path);
	claim_obj = path;
	claim_forked = 0;
	claim_child = -1;
	shmtab__set_fault(fork_at_claim);
	rc = shmtab_open(fx->name, O_RDWR, 0, NULL, &t);
	shmtab__set_fault(NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(claim_forked, 1);
	pthread_join(claim_forker, NULL);
	assert_true(claim_child > 0);
	assert_int_equal(waitpid(claim_child, &st, 0), claim_child);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		fail_msg("the child kept %d descriptors of the object",
			 WEXITSTATUS(st));
	assert_int_equal(shmtab_close(t), 0);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, owner_setup, owner_teardown)
		T(test_owner_reader_in_other_pid_namespace),
		T(test_owner_reader_in_other_pid_namespace_shared_proc),
		T(test_owner_opener_in_other_pid_namespace_takes_no_live_slot),
		T(test_owner_read_only_reader_in_other_pid_namespace),
		T(test_owner_read_only_reader_and_slotless_writer),
		T(test_owner_writers_of_same_tid_in_two_pid_namespaces),
		T(test_owner_forked_child_does_not_keep_parent_alive),
		T(test_owner_forked_child_closes_parents_handle),
		T(test_owner_child_without_atfork_closes_copy),
		T(test_owner_forked_child_does_not_keep_clearers_lock),
		T(test_owner_forked_child_does_not_keep_record_writer_lock),
		T(test_owner_forked_child_does_not_keep_slotless_writer_lock),
		T(test_owner_child_leaving_group_keeps_parents_lock),
		T(test_owner_fork_while_a_handle_opens),
#undef T
	};

	/* orphans of our children come back to us to be reaped */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
