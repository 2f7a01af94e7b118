/* SPDX-License-Identifier: MIT */
/*
 * lock.c - who may read and write what, and what happens when they die
 *
 * Three mechanisms, in this order of acquisition:
 *
 * 1. Optimistic readers take no lock.  Each key hashes to one of NSTRIPES
 *    stripes with a sequence counter in the header; a writer makes the
 *    counters of the stripes it changes odd for the length of its step (of
 *    its group, inside a group).  A reader notes the counter (and index_seq),
 *    reads, and accepts the result only when both are unchanged and even.
 *    Lookups therefore never write to shared memory.
 *
 * 2. Read locks, for what cannot be optimistic: visitors that get pointers
 *    into the table (read_blocks, iter, find_all) and reads inside groups
 *    (isolation).  Each process has a slot in the header; a read lock is a
 *    bit per stripe (or the "all" count) in it.  A reader sets its bit and
 *    then checks the stripe is even; a writer makes the stripe odd and then
 *    waits until no other slot has the bit: with sequentially consistent
 *    accesses on both sides, one of them always sees the other (Dekker).
 *    Readers never wait for readers.
 *
 * 3. The writer lock, one per table: a robust process-shared mutex in the
 *    header (SHMTAB_LOCK_MUTEX), or an fcntl OFD lock on byte FLOCK_WRITER
 *    (SHMTAB_LOCK_RECORD).  Writers serialize on it; a step takes it, marks
 *    its stripes odd, waits for readers of those stripes, changes, commits,
 *    evens the stripes, and drops it.  A group keeps all of this to its end.
 *
 * Death.  A dead writer leaves an EOWNERDEAD mutex (or a free fcntl lock and
 * wlock_pid still set): the next process that takes the writer lock runs
 * recover(), which rolls back the undo log of the interrupted step, evens
 * the stripes, frees dead slots and marks the mutex consistent.  A dead
 * reader leaves bits in its slot: a writer waiting for them finds nobody
 * holding the slot's fcntl byte (slot_flock) and clears the slot.
 *
 * Cycles.  Only a process that already holds a lock can be part of a cycle;
 * such a process waits in short slices and publishes since when it waits
 * (in its slot, or in wlock_wait when it holds the writer lock).  If the
 * holder it waits for is itself waiting, and has waited longer, the younger
 * waiter gives up with -EDEADLK: in any cycle every member waits, and the
 * youngest one always sees an older waiter, so every cycle is broken in
 * bounded time and the oldest waiter proceeds.  (A holder that waits for
 * something outside the cycle can cause a spurious -EDEADLK; groups retry.)
 * A single step that holds nothing else never returns -EDEADLK: it backs
 * off and starts again, since it has changed nothing yet.  (One called
 * while its thread holds locks, from a visitor or the log hook, returns
 * it: only its caller can let go of what the cycle waits for.)  A step
 * holds the writer lock for its own thread only: another thread of the
 * process that holds nothing is no member of a cycle and waits plainly,
 * while the step's thread (a log hook that writes another table) waits as
 * a holder.  So a lone step counts in a thread-local total, no atomic add.
 *
 * Giving up.  Outside a cycle a wait lasts as long as the holder keeps the
 * lock, and a holder may be stopped (SIGSTOP, a debugger) or sleep in a group.
 * A program that must end on time (shmtabfs at unmount) sets an interrupt
 * hook (shmtab-hooks.h): every wait then sleeps in slices of at most
 * INTR_SLICE_NS, asks the hook between them, and returns -EINTR when it
 * says so.  The waits are those of the writer lock (wlock_take), of
 * readers to drain (wait_readers) and of a handle that cannot take the
 * writer lock (lock_wait_writer); every other wait in the library loops
 * over one of these.  A wait that gives up holds nothing it did not hold
 * before, so the caller's usual error path applies.
 *
 * Lost wake-ups.  A waiter for the robust mutex sleeps on its futex until
 * an unlock wakes it, and a process SIGKILLed inside the mutex's protocol
 * can take that wake-up with it: say a waiter woken by an unlock dies
 * before it takes the word, and meanwhile another process took the free
 * word without the waiters bit (a trylock, a spin), so that its unlock
 * wakes nobody (the kernel wakes a waiter for the dead one only when the
 * word is still 0).  The word is then free and the other waiters sleep on
 * until an unlock finds the bit set again, which never comes once the
 * processes that would set it have gone.  So no wait for the mutex sleeps
 * without bound: outside a cycle and without a hook it sleeps in slices
 * of WAKE_SLICE_NS and tries again, and a lost wake-up costs at most one
 * slice.  (The waiters of an fcntl lock are the kernel's to wake.)
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "shmtab-private.h"

#ifndef SPIN_TRIES
#define SPIN_TRIES 2000
#endif

/* The longest sleep between two questions to the interrupt hook. */
#define INTR_SLICE_NS 10000000u	/* 10 ms */
/* A holder's slice in the cycle check (see Cycles above). */
#define CYCLE_SLICE_NS 2000000u	/* 2 ms */
/* The longest sleep on the writer mutex otherwise (see Lost wake-ups). */
#define WAKE_SLICE_NS 20000000u	/* 20 ms */

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shmtab *reg_head;
static int proc_held;		/* handles of this process holding locks */
/* lone write steps of this thread: the writer lock of a step outside a
 * group is the thread's, not the process's (see Cycles above) */
static __thread unsigned thr_steps __attribute__((tls_model("initial-exec")));
__thread struct shmtab *lock_my_users
	__attribute__((tls_model("initial-exec")));
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static uint32_t my_pid;		/* getpid() is a system call: keep it */

static int (*intr_fn)(void *ctx);
static void *intr_ctx;

SHMTAB_EXPORT void shmtab__set_interrupt(int (*fn)(void *ctx), void *ctx)
{
	__atomic_store_n(&intr_ctx, ctx, __ATOMIC_RELAXED);
	__atomic_store_n(&intr_fn, fn, __ATOMIC_RELEASE);
}

static bool intr_set(void)
{
	return __atomic_load_n(&intr_fn, __ATOMIC_ACQUIRE) != NULL;
}

/* Should the wait in progress give up (-EINTR)? */
bool lock_interrupted(void)
{
	int (*fn)(void *ctx) = __atomic_load_n(&intr_fn, __ATOMIC_ACQUIRE);

	return fn && fn(__atomic_load_n(&intr_ctx, __ATOMIC_RELAXED));
}

static uint32_t self_pid(void)
{
	uint32_t p = __atomic_load_n(&my_pid, __ATOMIC_RELAXED);

	if (!p) {
		p = (uint32_t)getpid();
		__atomic_store_n(&my_pid, p, __ATOMIC_RELAXED);
	}
	return p;
}

/*
 * Who owns a slot.  Whoever owns slot i holds an fcntl OFD write lock on
 * byte FLOCK_SLOT + i of the object (through own_fd, below): an opener
 * locks the byte before it writes its pid into the slot, and lets
 * it go after it zeroed the pid.  So a slot whose byte nobody holds
 * belongs to nobody alive, whatever its pid says: the kernel lets a lock
 * go when the last descriptor of its open file description is closed,
 * which a process's death does.  Pids cannot say as much: another pid
 * namespace (a container sharing /dev/shm) gives its processes pids that
 * mean other processes, or none, here; and a pid comes back once the
 * system gave it to a new process.
 *
 * Whoever frees a dead process's slot (a writer meeting its read locks,
 * recover, an opener with no free slot) first takes its byte: while it
 * clears the slot nobody can take it, and a slot can never be cleared
 * under a live owner.  A clearer that dies lets the byte go too; the
 * next one clears again.
 *
 * Every fcntl lock that says a handle lives or holds something (its slot's
 * byte, a byte it clears, the writer lock of SHMTAB_LOCK_RECORD) is held
 * through a descriptor of its own (own_fd, also without a slot), the
 * object opened again and never mapped: a mapping keeps its open file
 * description alive, and with it the description's locks, and a child
 * gets the parent's mappings at fork().  The child also closes its copies
 * of the descriptors (reg_atfork_child).  When the object cannot be opened
 * again (no /proc, and its name names another object or a symbolic link),
 * the handle's descriptor serves, and a child that outlives its parent
 * keeps the parent's locks.  The open lock (FLOCK_OPEN, map.c) stays on
 * the handle's descriptor: a child keeps the table open, which only puts
 * off the first opener's reset.
 */
/* The descriptor our fcntl locks are held through (see above). */
static int own_fd(const struct shmtab *t)
{
	return t->own_fd >= 0 ? t->own_fd : t->fd;
}

static int slot_flock(int fd, unsigned i, short type)
{
	return byte_lock(fd, FLOCK_SLOT + (off_t)i, type, false);
}

/* Is slot i owned by a process alive (1), by nobody (0), or -errno? */
static int slot_owned(struct shmtab *t, unsigned i)
{
	return byte_held(t->fd, FLOCK_SLOT + (off_t)i);
}

/* Everything slot i says of its process but its pid: read locks, pins,
 * wait.  The caller has the slot's byte (slot_flock). */
static void slot_wipe(struct shm_header *H, unsigned i)
{
	struct slot *sl = &H->slots[i];

	memset(sl->stripes, 0, sizeof(sl->stripes));
	memset(H->pins[i], 0, sizeof(H->pins[i]));
	st32(&sl->all, 0);
	st64(&sl->wait_since, 0);
}

/*
 * A dead process's slot, held by whoever clears it: if it holds read
 * locks, that process was counted in hdr.rlocks (it counts itself before
 * it sets a bit and uncounts itself after it cleared its last): wipe them,
 * then uncount it.  A clearer that dies between the two leaves the count
 * one too high, never too low (a writer that reads 0 looks at no slot).
 * A process that died between counting itself and setting its bit is left
 * counted, which only costs writers a look at every slot.
 */
static void slot_wipe_dead(struct shm_header *H, unsigned i)
{
	struct slot *sl = &H->slots[i];
	uint64_t n, any = ld32(&sl->all);

	for (unsigned w = 0; w < NSTRIPES / 64; w++)
		any |= ld64(&sl->stripes[w]);
	slot_wipe(H, i);
	if (!any)
		return;
	n = __atomic_load_n(&H->rlocks, __ATOMIC_RELAXED);
	while (n && !__atomic_compare_exchange_n(&H->rlocks, &n, n - 1, false,
						 __ATOMIC_SEQ_CST,
						 __ATOMIC_RELAXED))
		;
}

/*
 * If slot i's process is dead, free the slot; true when it was dead (or
 * the slot was free already).  Writer lock held: a dead process's claim
 * stays for inplace_drain() to finish.
 */
static bool slot_clear_dead(struct shmtab *t, unsigned i)
{
	struct slot *sl = &t->hdr->slots[i];

	if ((int)i == t->slot || slot_flock(own_fd(t), i, F_WRLCK) < 0)
		return false;
	fault_point("slot-clearing");
	if (ld32(&sl->pid)) {
		slot_wipe_dead(t->hdr, i);
		__atomic_store_n(&sl->pid, 0, __ATOMIC_RELEASE);
	}
	slot_flock(own_fd(t), i, F_UNLCK);
	return true;
}

/* Is slot i's process (pid, as the caller read it) dead?  Our own slot
 * is not; the pid says only when the fcntl lock cannot. */
bool slot_dead(struct shmtab *t, unsigned i, uint32_t pid)
{
	int r;

	if ((int)i == t->slot)
		return false;
	r = slot_owned(t, i);
	return r < 0 ? pid_dead(pid) : !r;
}

static void reg_atfork_prepare(void)
{
	pthread_mutex_lock(&reg_mu);
}

static void reg_atfork_parent(void)
{
	pthread_mutex_unlock(&reg_mu);
}

/*
 * A child gets copies of the parent's handles; they are not its own.  It
 * closes their descriptors: with them, it would hold the parent's slots
 * for as long as it lived (a parent that died would still count as
 * alive), and share the parent's record writer lock.  A handle opened
 * while another thread forks (not registered yet) escapes this.
 */
static void reg_atfork_child(void)
{
	for (struct shmtab *t = reg_head; t; t = t->reg_next) {
		if (t->own_fd >= 0)
			close(t->own_fd);
		if (t->fd >= 0)
			close(t->fd);
		t->own_fd = t->fd = -1;
		t->slot = -1;
		/* a child that returns from a group or visitor lets go of
		 * nothing of the parent's (stripes, writer lock, counts) */
		t->wl_held = t->wl_flock = false;
		t->rd_all = 0;
		t->rd_counted = false;
		t->held = 0;
		memset(t->rd_bits, 0, sizeof(t->rd_bits));
		memset(t->wr_bits, 0, sizeof(t->wr_bits));
	}
	pthread_mutex_init(&reg_mu, NULL);
	reg_head = NULL;
	lock_my_users = NULL;
	proc_held = 0;
	thr_steps = 0;
	my_pid = 0;
}

static void reg_init(void)
{
	pthread_atfork(reg_atfork_prepare, reg_atfork_parent,
		       reg_atfork_child);
	my_pid = 0;
}

/* reg_mu held */
static void reg_link(struct shmtab *t)
{
	if (t->reg_linked)
		return;
	t->reg_next = reg_head;
	t->reg_prev = NULL;
	if (reg_head)
		reg_head->reg_prev = t;
	reg_head = t;
	t->reg_linked = true;
}

void reg_add(struct shmtab *t)
{
	pthread_once(&atfork_once, reg_init);
	pthread_mutex_lock(&reg_mu);
	reg_link(t);
	pthread_mutex_unlock(&reg_mu);
}

void reg_del(struct shmtab *t)
{
	pthread_mutex_lock(&reg_mu);
	if (t->reg_linked) {
		if (t->reg_prev)
			t->reg_prev->reg_next = t->reg_next;
		else
			reg_head = t->reg_next;
		if (t->reg_next)
			t->reg_next->reg_prev = t->reg_prev;
		t->reg_next = t->reg_prev = NULL;
		t->reg_linked = false;
	}
	pthread_mutex_unlock(&reg_mu);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Is the process (or thread) pid a zombie nobody has reaped yet (state Z
 * with no thread left, or X)?  A process whose main thread ended shows Z
 * while its other threads run.  false when /proc cannot tell.
 */
static bool proc_zombie(uint32_t pid)
{
	char path[64], buf[512], *p;
	unsigned long long threads = 0;
	char state;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* "pid (comm) S ppid ...": comm may hold anything, even ") " */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return false;
	state = p[2];
	p += 2;
	for (int field = 3; p && field < 20; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (p)			/* field 20, num_threads */
		threads = strtoull(p, NULL, 10);
	return state == 'X' || (state == 'Z' && threads <= 1);
}

/*
 * Gone, or a zombie.  Only for pids this process's namespace gave: the
 * holder of the writer lock, and a slot whose fcntl lock cannot be asked.
 */
bool pid_dead(uint32_t pid)
{
	if (pid == 0 || pid > 0x3fffffff)
		return true;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return true;
	return proc_zombie(pid);
}

/*
 * t->held: 0 nothing, HELD_STEP the writer lock of a lone step (counted in
 * thr_steps, no atomic: a step begins and ends on one thread), HELD_PROC
 * read locks or a group's writer lock (counted in proc_held).
 */
enum { HELD_STEP = 1, HELD_PROC = 2 };

static void held_update(struct shmtab *t)
{
	int h = t->rd_all || bits_any(t->rd_bits) ||
			(t->wl_held && t->group_depth) ?
		HELD_PROC :
		t->wl_held ? HELD_STEP : 0;

	if (h == t->held)
		return;
	if (t->held == HELD_STEP)
		thr_steps--;
	else if (t->held == HELD_PROC)
		__atomic_sub_fetch(&proc_held, 1, __ATOMIC_RELAXED);
	if (h == HELD_STEP)
		thr_steps++;
	else if (h == HELD_PROC)
		__atomic_add_fetch(&proc_held, 1, __ATOMIC_RELAXED);
	t->held = h;
}

/* lock_user_pop() when t is not the newest of the list */
void lock_user_unlink(struct shmtab *t)
{
	for (struct shmtab **p = &lock_my_users; *p; p = &(*p)->held_next)
		if (*p == t) {
			*p = t->held_next;
			break;
		}
}

/*
 * Would t wait for this very thread?  Another handle of the same table,
 * whose visitor or group called us, that holds the writer lock (slot < 0)
 * or whose slot is slot and holds read locks.  The wait would never end:
 * the caller returns -EBUSY instead.
 */
static bool self_holder(const struct shmtab *t, int slot)
{
	for (const struct shmtab *u = lock_my_users; u; u = u->held_next) {
		/* a lockless handle that wrote holds no lock but its odd
		 * stripes (wl_held): the writer lock's taker would even
		 * them as a dead writer's */
		if (u == t || u->obj_ino != t->obj_ino ||
		    u->obj_dev != t->obj_dev)
			continue;
		if (slot < 0 ? u->wl_held :
			       u->slot == slot &&
				       (u->rd_all || bits_any(u->rd_bits)))
			return true;
	}
	return false;
}

/* Publish (or, with 0, withdraw) that this process waits since when. */
static void set_waiting(uint64_t since)
{
	pthread_mutex_lock(&reg_mu);
	for (struct shmtab *t = reg_head; t; t = t->reg_next) {
		if (!t->hdr || t->rdonly)
			continue;
		if (t->wl_held)
			__atomic_store_n(&t->hdr->wlock_wait, since,
					 __ATOMIC_SEQ_CST);
		if (t->slot >= 0 && (t->rd_all || bits_any(t->rd_bits)))
			__atomic_store_n(&t->hdr->slots[t->slot].wait_since,
					 since, __ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&reg_mu);
}

/* Should a waiter since mine give way to a holder waiting since theirs? */
static bool must_yield(uint64_t mine, uint64_t theirs, uint32_t their_pid)
{
	if (!theirs || !mine)
		return false;
	return theirs < mine ||
	       (theirs == mine && their_pid < self_pid());
}

void lock_backoff(unsigned *n)
{
	if (*n < 64) {
		cpu_relax();
	} else if (*n < 256) {
		sched_yield();
	} else {
		unsigned us = *n < 1024 ? 50 : 500;
		struct timespec ts = { 0, (long)us * 1000 };

		nanosleep(&ts, NULL);
	}
	(*n)++;
}

static pthread_mutex_t *wmutex(struct shmtab *t)
{
	if (mutex_kind_differs(t->hdr->mutex) &&
	    mutex_kind_mend(t->hdr->mutex))
		shmtab__corrupt(t, "the writer mutex's kind (put back)");
	return (pthread_mutex_t *)(void *)t->hdr->mutex;
}

static int flock_writer(struct shmtab *t, short type, bool wait)
{
	return byte_lock(own_fd(t), FLOCK_WRITER, type, wait);
}

/*
 * SHMTAB_LOCK_RECORD leaves the mutex area unused; its first word tells
 * waiters who holds the fcntl lock (the holder's pid, 0 when free).  It is
 * a hint: the fcntl lock decides, and a wrong hint costs a waiter no more
 * than a spin that ends in the kernel's wait.
 */
static uint32_t *rec_hint(struct shmtab *t)
{
	return (uint32_t *)(void *)t->hdr->mutex;
}

/*
 * What a waiter watches: a word the holder writes only when it takes and
 * lets go of the lock.  glibc's mutex word (the owner's thread id, 0 when
 * free) is one, and so is rec_hint(); wlock_pid shares its line with
 * undo_n, which every logged store of the holder's step bumps, and a
 * waiter reading it would pull the line away from the holder between those
 * stores.
 */
static uint32_t spin_word(struct shmtab *t)
{
#if defined(__linux__) && defined(__GLIBC__)
	return ld32(t->hdr->mutex);
#else
	if (t->lock == SHMTAB_LOCK_RECORD)
		return ld32(rec_hint(t));
	return ld32(&t->hdr->wlock_pid);
#endif
}

static int ncpus(void)
{
	static int cpus;
	int n = __atomic_load_n(&cpus, __ATOMIC_RELAXED);

	if (!n) {
		n = (int)sysconf(_SC_NPROCESSORS_ONLN);
		__atomic_store_n(&cpus, n, __ATOMIC_RELAXED);
	}
	return n;
}

/*
 * A write step holds the writer mutex for a microsecond or so.  On a
 * machine with more than one CPU, wait for its release by watching
 * spin_word() (reads only, of a word the holder leaves alone during its
 * step) and try again, before
 * sleeping in the kernel: a sleeping waiter costs the holder a futex wake
 * and itself a context switch per step.  0 or EOWNERDEAD: taken; EBUSY:
 * still held, go and sleep.
 *
 * The waiter looks less and less often (1, 2, 4 ... SPIN_GAP_MAX pauses
 * between looks, SPIN_TRIES pauses in all): each look takes the mutex's
 * line from the holder, whose unlock and next lock must then fetch it
 * back, a transfer each (some 230 ns here) while the lock is free and
 * nobody gains.  Two processes replacing random keys of 1M, in
 * interleaved runs: a look every pause, 905k/s in total; at most every
 * 128 pauses 1.07M, 256 1.11M, 512 1.08M, 1024 1.04M (a pause is about
 * 20 ns here).
 */
#define SPIN_GAP_MAX 256

static int wlock_spin(struct shmtab *t)
{
	unsigned gap = 1;
	int r = EBUSY;

	for (unsigned i = 0; ncpus() > 1;) {
		if (!spin_word(t)) {
			r = pthread_mutex_trylock(wmutex(t));
			if (r != EBUSY)
				return r;
		}
		if (i >= SPIN_TRIES)
			break;		/* a look after the last pause */
		if (gap > SPIN_TRIES - i)
			gap = SPIN_TRIES - i;
		for (unsigned j = 0; j < gap; j++)
			cpu_relax();
		i += gap;
		if (gap < SPIN_GAP_MAX)
			gap *= 2;
	}
	return r;
}

/*
 * The same for the fcntl lock: a process that sleeps in F_OFD_SETLKW costs
 * the holder's F_UNLCK a wake-up and itself a context switch, per step.
 * A hint that reads 0 while the lock is held (a holder of an older
 * library, a scribble) would turn the spin into a loop of system calls:
 * a few failed tries end it.  0: taken; -EAGAIN: still held; another
 * negative errno: failed.
 */
#define FLOCK_SPIN_FAILS 8

static int flock_spin(struct shmtab *t)
{
	unsigned fails = 0;
	int r;

	for (unsigned i = 0; ncpus() > 1 && i < SPIN_TRIES; i++) {
		if (!ld32(rec_hint(t))) {
			r = flock_writer(t, F_WRLCK, false);
			if (r != -EAGAIN && r != -EACCES)
				return r;
			if (++fails == FLOCK_SPIN_FAILS)
				break;
		}
		cpu_relax();
	}
	return -EAGAIN;
}

/* A wait's slices on the monotonic clock where the C library can (glibc
 * 2.30): on the wall clock, a slice lasts as long as the clock was set
 * back, or ends at once when it was set forward. */
#ifdef HAVE_PTHREAD_MUTEX_CLOCKLOCK
#define SLICE_CLOCK CLOCK_MONOTONIC
#define mutex_lock_until(m, ts) pthread_mutex_clocklock(m, SLICE_CLOCK, ts)
#else
#define SLICE_CLOCK CLOCK_REALTIME
#define mutex_lock_until(m, ts) pthread_mutex_timedlock(m, ts)
#endif

/* One attempt, bounded by slice_ns unless it is 0 (the mutex always has
 * one: see Lost wake-ups): 0, EOWNERDEAD, ETIMEDOUT.  Only the first
 * attempt of a wait spins: a holder still there after a slice is not
 * about to let go. */
static int wlock_try(struct shmtab *t, uint64_t slice_ns, bool spin)
{
	int r = -EAGAIN;

	if (t->lock == SHMTAB_LOCK_RECORD) {
		if (spin)
			r = flock_spin(t);
		if (r == -EAGAIN)
			r = flock_writer(t, F_WRLCK, !slice_ns);
		if (r == -EAGAIN || r == -EACCES) {
			/* no timed fcntl: poll, briskly in a cycle check */
			long ns = slice_ns > CYCLE_SLICE_NS ? 1000000 : 200000;
			struct timespec ts = { 0, ns };

			nanosleep(&ts, NULL);
			return ETIMEDOUT;
		}
		return -r;
	}
	r = spin ? wlock_spin(t) : EBUSY;
	if (r != EBUSY)
		return r;
	if (!slice_ns)
		return pthread_mutex_lock(wmutex(t));
	struct timespec ts;

	clock_gettime(SLICE_CLOCK, &ts);
	ts.tv_nsec += (long)slice_ns;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return mutex_lock_until(wmutex(t), &ts);
}

static void wlock_drop(struct shmtab *t)
{
	if (!t->wl_held)
		return;
	if (t->lock != SHMTAB_LOCK_NONE) {
		__atomic_store_n(&t->hdr->wlock_wait, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&t->hdr->wlock_pid, 0, __ATOMIC_RELEASE);
		if (t->lock == SHMTAB_LOCK_RECORD) {
			__atomic_store_n(rec_hint(t), 0, __ATOMIC_RELEASE);
			flock_writer(t, F_UNLCK, false);
		} else {
			if (t->wl_flock)
				flock_writer(t, F_UNLCK, false);
			t->wl_flock = false;
			pthread_mutex_unlock(wmutex(t));
		}
	}
	t->wl_held = false;
	held_update(t);
}

static int wlock_take(struct shmtab *t)
{
	struct shm_header *H = t->hdr;
	bool cyclic = thr_steps ||
		      __atomic_load_n(&proc_held, __ATOMIC_RELAXED) > 0;
	uint64_t slice = 0, since = 0;
	bool dead = false;
	uint32_t ws;
	int r, r2;

	if (t->lock == SHMTAB_LOCK_NONE) {
		t->wl_held = true;
		held_update(t);
		if (ld32(&H->undo_n) || ld32(&H->clearing))
			return recover(t);
		return 0;
	}
	if (cyclic && self_holder(t, -1))
		return -EBUSY;
	if (cyclic)
		slice = CYCLE_SLICE_NS;
	else if (intr_set())
		slice = INTR_SLICE_NS;
	else if (t->lock == SHMTAB_LOCK_MUTEX)
		slice = WAKE_SLICE_NS;
	for (bool spin = true;; spin = false) {
		r = wlock_try(t, slice, spin);
		if (r == 0 || r == EOWNERDEAD)
			break;
		if (r != ETIMEDOUT) {
			if (since)
				set_waiting(0);
			return r == EDEADLK ? -EDEADLK :
			       r == ENOTRECOVERABLE ? -EBADMSG : -r;
		}
		if (lock_interrupted()) {
			if (since)
				set_waiting(0);
			return -EINTR;
		}
		if (!cyclic)
			continue;	/* sliced for the hook, lost wakes */
		if (!since) {
			since = now_ns();
			set_waiting(since);
		}
		if (must_yield(since, ld64(&H->wlock_wait), ld32(&H->wlock_pid))) {
			set_waiting(0);
			return -EDEADLK;
		}
	}
	if (since)
		set_waiting(0);
	dead = r == EOWNERDEAD || ld32(&H->wlock_pid) != 0;
	t->wl_held = true;
	held_update(t);
	if (t->lock == SHMTAB_LOCK_RECORD)
		__atomic_store_n(rec_hint(t), self_pid(), __ATOMIC_RELAXED);
	/* whose slot tells read-only handles that the holder lives, then
	 * the pid: replaces in place (inplace.c) see it and keep off; wait
	 * for those that began before */
	ws = (uint32_t)(t->slot + 1);
	if (t->slot < 0 && t->lock == SHMTAB_LOCK_MUTEX &&
	    flock_writer(t, F_WRLCK, false) == 0) {
		t->wl_flock = true;
		ws = WLOCK_SLOTLESS;
	}
	if (ld32(&H->wlock_slot) != ws)
		st32(&H->wlock_slot, ws);
	/* a holder that died waiting left its wait there: ours is none */
	if (ld64(&H->wlock_wait))
		__atomic_store_n(&H->wlock_wait, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&H->wlock_pid, self_pid(), __ATOMIC_SEQ_CST);
	r2 = inplace_drain(t);
	if (r2 < 0) {
		if (r == EOWNERDEAD)
			pthread_mutex_consistent(wmutex(t));
		wlock_drop(t);
		return r2;
	}
	if (dead || ld32(&H->undo_n) || ld32(&H->clearing)) {
		int err = recover(t);

		if (r == EOWNERDEAD)
			pthread_mutex_consistent(wmutex(t));
		if (err < 0) {
			wlock_drop(t);
			return err;
		}
	}
	return 0;
}

/*
 * Writer lock held: a stripe or index counter that is odd and not ours has
 * no live writer (a dead one, or another process scribbled on it).
 */
static void counters_even(struct shmtab *t)
{
	struct shm_header *H = t->hdr;

	for (unsigned s = 0; s < NSTRIPES; s++) {
		uint32_t v = ld32(&H->stripe_seq[s]);

		if ((v & 1) && !bits_test(t->wr_bits, s))
			__atomic_store_n(&H->stripe_seq[s], v + 1,
					 __ATOMIC_RELEASE);
	}
	if (ld64(&H->index_seq) & 1)
		__atomic_fetch_add(&H->index_seq, 1, __ATOMIC_RELEASE);
}

/* Undo the step a dead writer left: redo an interrupted clear, else roll
 * the undo log back. */
static int undo_interrupted(struct shmtab *t)
{
	int err = ld32(&t->hdr->clearing) ? table_redo_clear(t)
					  : undo_rollback(t);

	undo_commit(t);
	return err;
}

/*
 * After a writer died: undo its step, even the stripes it left odd, drop
 * the slots of dead processes.  Writer lock held.
 */
int recover(struct shmtab *t)
{
	struct shm_header *H = t->hdr;
	int err;

	err = map_refresh(t);
	if (err < 0)
		return err;
	err = undo_interrupted(t);
	counters_even(t);
	for (unsigned i = 0; i < NSLOTS; i++) {
		struct slot *sl = &H->slots[i];
		uint32_t pid = ld32(&sl->pid);

		if (pid && (int)i != t->slot)
			slot_clear_dead(t, i);
	}
	st64(&H->recoveries, ld64(&H->recoveries) + 1);
	shmtab__tlog(t, 4, "%s: recovered from a dead writer", t->name);
	/* verify what the dead writer left: one pass, once per crash */
	if (!err)
		err = check_locked(t);
	return err;
}

/* First opener: nobody else has the object open; make the lock area fresh. */
int lock_reset_shared(struct shmtab *t)
{
	struct shm_header *H = t->hdr;
	int err;

	inplace_reset(t);
	memset(H->slots, 0, sizeof(H->slots));
	memset(H->pins, 0, sizeof(H->pins));
	H->slot_hi = 0;
	H->rlocks = 0;
	err = mutex_init(H);
	if (err < 0)
		return err;
	if (ld32(&H->undo_n) || ld32(&H->clearing)) {
		err = undo_interrupted(t);
		st64(&H->recoveries, ld64(&H->recoveries) + 1);
	}
	counters_even(t);
	H->wlock_pid = 0;
	H->wlock_slot = 0;
	H->wlock_wait = 0;
	H->waiters = 0;
	return err;
}

/*
 * Count this handle in hdr.rlocks while it holds read locks.  A replace in
 * place (inplace.c) makes its stripe odd and then looks at the count: at 0
 * it need not look at every slot's bits, since a reader counts itself
 * before it sets its bit and checks the stripe (Dekker, as with the bits).
 * A process that dies leaves its count: the count is only a hint.
 */
static void rd_count(struct shmtab *t, bool want)
{
	if (want == t->rd_counted || t->slot < 0)
		return;
	if (want)
		__atomic_fetch_add(&t->hdr->rlocks, 1, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_sub(&t->hdr->rlocks, 1, __ATOMIC_SEQ_CST);
	t->rd_counted = want;
}

static void rd_recount(struct shmtab *t)
{
	rd_count(t, t->rd_all || bits_any(t->rd_bits));
}

/*
 * The object opened again, never to be mapped: by /proc/self/fd, else by
 * its name if that still names it; -1 when neither can.
 */
static int own_fd_open(const struct shmtab *t)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", t->fd);
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? obj_reopen(t) : fd;
}

/*
 * Take a slot: a free one, else one whose process died (its fcntl byte
 * free).  The byte first, then the pid: see slot_flock.
 */
static int slot_claim(struct shmtab *t)
{
	struct shm_header *H = t->hdr;

	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < NSLOTS; i++) {
			struct slot *sl = &H->slots[i];
			uint32_t hi;

			if (!pass && ld32(&sl->pid))
				continue;
			/* the slot of a writer that died holding the writer
			 * lock tells read-only handles it lives if taken:
			 * left to the recovery */
			if (pass && ld32(&H->wlock_pid) &&
			    ld32(&H->wlock_slot) == i + 1)
				continue;
			/* a dead claim is finished by the next writer */
			if (ld64(&sl->claim) ||
			    slot_flock(own_fd(t), i, F_WRLCK) < 0)
				continue;
			if (ld64(&sl->claim)) {
				slot_flock(own_fd(t), i, F_UNLCK);
				continue;
			}
			slot_wipe_dead(H, i);
			__atomic_store_n(&sl->pid, self_pid(), __ATOMIC_SEQ_CST);
			t->slot = (int)i;
			hi = __atomic_load_n(&H->slot_hi, __ATOMIC_RELAXED);
			while (hi < i + 1 &&
			       !__atomic_compare_exchange_n(&H->slot_hi, &hi, i + 1,
							    false,
							    __ATOMIC_SEQ_CST,
							    __ATOMIC_RELAXED))
				;
			return 0;
		}
	}
	t->slot = -1;		/* read locks will use the writer lock */
	return -EAGAIN;
}

/*
 * A read-write handle's own descriptor and slot, taken with the handle
 * put in the registry under its lock: a fork() in another thread, whose
 * handlers take the lock, comes before them or after, and the child
 * closes the copies of what it got.  own_fd stays without a slot: the
 * writer lock goes through it.
 */
int lock_claim_slot(struct shmtab *t)
{
	int err;

	pthread_once(&atfork_once, reg_init);
	pthread_mutex_lock(&reg_mu);
	reg_link(t);
	if (t->own_fd < 0)
		t->own_fd = own_fd_open(t);
	err = slot_claim(t);
	fault_point("slot-claimed");
	pthread_mutex_unlock(&reg_mu);
	/* not under reg_mu: the log hook is the caller's code */
	if (t->own_fd < 0)
		shmtab__log(4, "%s: no descriptor of its own for its locks: "
			    "a child forked now keeps this process alive to "
			    "the others", t->name);
	return err;
}

void lock_drop_slot(struct shmtab *t)
{
	struct slot *sl;

	if (!t->hdr || t->slot < 0)
		return;
	sl = &t->hdr->slots[t->slot];
	slot_wipe(t->hdr, (unsigned)t->slot);
	memset(t->rd_bits, 0, sizeof(t->rd_bits));
	t->rd_all = 0;
	rd_recount(t);	/* uncounted once its bits are clear */
	__atomic_store_n(&sl->pid, 0, __ATOMIC_RELEASE);
	slot_flock(own_fd(t), (unsigned)t->slot, F_UNLCK);
	t->slot = -1;
	t->pin_used = 0;
}

static bool slot_blocks(const struct slot *sl, unsigned stripe)
{
	if (__atomic_load_n(&sl->all, __ATOMIC_SEQ_CST))
		return true;
	if (stripe == ALL_STRIPES) {
		for (unsigned w = 0; w < NSTRIPES / 64; w++)
			if (__atomic_load_n(&sl->stripes[w], __ATOMIC_SEQ_CST))
				return true;
		return false;
	}
	return __atomic_load_n(&sl->stripes[stripe / 64], __ATOMIC_SEQ_CST) >>
	       (stripe % 64) & 1;
}

/* The first other slot that read-locks stripe (its pid in *pid), or -1. */
static int read_blocker(struct shmtab *t, unsigned stripe, uint32_t *pid)
{
	struct shm_header *H = t->hdr;
	unsigned hi = __atomic_load_n(&H->slot_hi, __ATOMIC_SEQ_CST);

	for (unsigned i = 0; i < hi && i < NSLOTS; i++) {
		struct slot *sl = &H->slots[i];

		if ((int)i == t->slot)
			continue;
		*pid = __atomic_load_n(&sl->pid, __ATOMIC_SEQ_CST);
		if (*pid && slot_blocks(sl, stripe))
			return (int)i;
	}
	return -1;
}

/* Does another slot read-lock stripe s?  Stripe s odd (seq_cst) first. */
bool lock_stripe_read_locked(struct shmtab *t, unsigned s)
{
	uint32_t pid;

	return __atomic_load_n(&t->hdr->rlocks, __ATOMIC_SEQ_CST) &&
	       read_blocker(t, s, &pid) >= 0;
}

/* Writer: wait until no other slot read-locks stripe. */
static int wait_readers(struct shmtab *t, unsigned stripe)
{
	struct shm_header *H = t->hdr;
	uint64_t since = 0, last_check = 0;
	unsigned n = 0;

	if (t->lock == SHMTAB_LOCK_NONE)
		return 0;
	/* no handle counted in rlocks, no read lock to wait for: a reader
	 * counts itself before it sets its bit and then finds the stripe
	 * odd (rd_count); the count is only ever too high */
	if (!__atomic_load_n(&H->rlocks, __ATOMIC_SEQ_CST))
		return 0;
	for (;;) {
		uint32_t pid = 0;
		int blocker = read_blocker(t, stripe, &pid);

		if (blocker < 0)
			break;
		/* each blocker: the one we met first may have gone */
		if (self_holder(t, blocker)) {
			if (since)
				set_waiting(0);
			return -EBUSY;
		}
		if (!since) {
			since = now_ns();
			set_waiting(since);
		}
		if (must_yield(since, ld64(&H->slots[blocker].wait_since), pid)) {
			/* a waiter that died waiting is no cycle */
			if (slot_clear_dead(t, (unsigned)blocker))
				continue;
			set_waiting(0);
			return -EDEADLK;
		}
		if (now_ns() - last_check > 5000000) {
			last_check = now_ns();
			if (slot_clear_dead(t, (unsigned)blocker))
				continue;
		}
		/* once backoff sleeps (its slices are under a ms) */
		if (n >= 256 && lock_interrupted()) {
			set_waiting(0);
			return -EINTR;
		}
		lock_backoff(&n);
	}
	if (since)
		set_waiting(0);
	return 0;
}

static void stripes_even(struct shmtab *t)
{
	for (unsigned w = 0; w < NSTRIPES / 64; w++) {
		uint64_t b = t->wr_bits[w];

		while (b) {
			unsigned s = w * 64 + (unsigned)__builtin_ctzll(b);

			/* odd, and only we change an odd stripe (replaces
			 * in place claim even ones): no locked add */
			__atomic_store_n(&t->hdr->stripe_seq[s],
					 ld32(&t->hdr->stripe_seq[s]) + 1,
					 __ATOMIC_RELEASE);
			b &= b - 1;
		}
		t->wr_bits[w] = 0;
	}
}

static void stripe_odd(struct shmtab *t, unsigned s)
{
	if (bits_test(t->wr_bits, s))
		return;
	__atomic_fetch_add(&t->hdr->stripe_seq[s], 1, __ATOMIC_SEQ_CST);
	bits_set(t->wr_bits, s);
}

/* Release everything a group (or a doomed group) holds. */
void lock_group_release(struct shmtab *t)
{
	stripes_even(t);
	wlock_drop(t);
	if (t->slot >= 0 && t->hdr && !t->visit_depth) {
		struct slot *sl = &t->hdr->slots[t->slot];

		for (unsigned w = 0; w < NSTRIPES / 64; w++)
			__atomic_fetch_and(&sl->stripes[w], ~t->rd_bits[w],
					   __ATOMIC_RELEASE);
		__atomic_store_n(&sl->all, 0, __ATOMIC_RELEASE);
		st64(&sl->wait_since, 0);
		memset(t->rd_bits, 0, sizeof(t->rd_bits));
		t->rd_all = 0;
		rd_recount(t);
	}
	held_update(t);
}

static int doom(struct shmtab *t)
{
	t->doomed = true;
	lock_group_release(t);
	return -EDEADLK;
}

static void sleep_random(void)
{
	uint32_t r = 0;
	struct timespec ts;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)now_ns();
	ts.tv_sec = 0;
	ts.tv_nsec = 200000 + (long)(r % 2000000);
	nanosleep(&ts, NULL);
}

/*
 * Begin a write step on stripe (or ALL_STRIPES): writer lock, stripe odd,
 * readers drained, mapping current, undo log empty.
 */
int lock_write_begin(struct shmtab *t, unsigned stripe)
{
	int err;

	if (t->doomed)
		return -EDEADLK;
	for (;;) {
		bool fresh = !t->wl_held;

		if (fresh) {
			err = wlock_take(t);
			if (err == -EDEADLK && t->group_depth)
				return doom(t);
			if (err < 0)
				return err;
		}
		err = map_refresh(t);
		if (err < 0)
			goto fail;
		if (stripe == ALL_STRIPES) {
			for (unsigned s = 0; s < NSTRIPES; s++)
				stripe_odd(t, s);
		} else {
			stripe_odd(t, stripe);
		}
		err = wait_readers(t, stripe);
		if (err != -EDEADLK)
			break;
		if (t->group_depth)
			return doom(t);
		/* a lone step changed nothing: let the older waiter pass */
		stripes_even(t);
		wlock_drop(t);
		sleep_random();
		if (lock_interrupted())
			return -EINTR;
	}
	if (err < 0)
		goto fail;
	return 0;
fail:
	if (!t->group_depth) {
		stripes_even(t);
		wlock_drop(t);
	}
	return err;
}

void lock_write_end(struct shmtab *t)
{
	if (t->group_depth)
		return;
	stripes_even(t);
	wlock_drop(t);
}

bool lock_covers(struct shmtab *t, unsigned stripe)
{
	if (t->lock == SHMTAB_LOCK_NONE || t->wl_held || t->rd_all)
		return true;
	return stripe != ALL_STRIPES && bits_test(t->rd_bits, stripe);
}

/* Does anyone write-hold FLOCK_WRITER: 1, 0 or -errno? */
static int writer_flocked(struct shmtab *t)
{
	return byte_held(t->fd, FLOCK_WRITER);
}

/*
 * Is the writer lock's holder (wlock_pid set) alive, by its slot's fcntl
 * byte: 1 or 0; -1 when its slot cannot tell (it has none, or the kernel
 * cannot answer).  Unlike its pid, in every pid namespace.
 */
static int holder_alive(struct shmtab *t)
{
	uint64_t state = lock_state(t);
	uint32_t ws = __atomic_load_n(&t->hdr->wlock_slot, __ATOMIC_ACQUIRE);
	int r;

	if (!ws || ws > WLOCK_SLOTLESS || (int)ws - 1 == t->slot)
		return -1;
	r = ws == WLOCK_SLOTLESS ? writer_flocked(t) : slot_owned(t, ws - 1);
	if (r < 0)
		return -1;
	/* another holder since: the one asked about may just have let go */
	if (!r && lock_state(t) != state)
		return 1;
	return r;
}

/*
 * Does any process hold the writer lock now?  For read-only handles, which
 * cannot take it: an odd stripe with no holder was left by a dead writer
 * or by a scribbler, and only a read-write handle can repair it.
 */
bool lock_writer_alive(struct shmtab *t)
{
	uint32_t pid = __atomic_load_n(&t->hdr->wlock_pid, __ATOMIC_ACQUIRE);
	int r;

	if (t->lock == SHMTAB_LOCK_RECORD && (r = writer_flocked(t)) >= 0)
		return r;
	/* the pids below are of our namespace only: the slot first */
	r = pid ? holder_alive(t) : -1;
	if (r >= 0)
		return r;
#if defined(__linux__) && defined(__GLIBC__)
	if (t->lock == SHMTAB_LOCK_MUTEX) {
		/* a robust mutex's futex word (glibc: its first int) holds
		 * the owner's thread id, and bit 30 once the owner died */
		uint32_t w = ld32(t->hdr->mutex);
		uint32_t tid = w & 0x3fffffffu;

		return tid && !(w & 0x40000000u) && !pid_dead(tid);
	}
#endif
	return pid && !pid_dead(pid);
}

/* The writer lock's state as one word: the mutex word and wlock_pid.  A
 * holder that changes (or lets go) changes it. */
uint64_t lock_state(struct shmtab *t)
{
	return (uint64_t)ld32(t->hdr->mutex) << 32 | ld32(&t->hdr->wlock_pid);
}

/* Wait for the writer of an odd stripe: take and drop the writer lock. */
int lock_wait_writer(struct shmtab *t)
{
	struct shm_header *H = t->hdr;
	int err;

	if (t->rdonly || t->lock == SHMTAB_LOCK_NONE) {
		uint32_t pid = __atomic_load_n(&H->wlock_pid, __ATOMIC_ACQUIRE);
		struct timespec ts = { 0, 100000 };
		int r = pid ? holder_alive(t) : 1;

		if (self_holder(t, -1))
			return -EBUSY;
		if (!r || (r < 0 && pid_dead(pid)))
			return -EAGAIN;
		if (lock_interrupted())
			return -EINTR;
		nanosleep(&ts, NULL);
		return 0;
	}
	err = wlock_take(t);
	if (err == -EDEADLK && t->group_depth)
		return doom(t);
	if (err < 0)
		return err;
	counters_even(t);
	wlock_drop(t);
	return 0;
}

/* No odd counter on stripe (or on any, ALL_STRIPES): no writer in it. */
bool lock_stripes_clear(struct shmtab *t, unsigned stripe)
{
	struct shm_header *H = t->hdr;

	if (stripe != ALL_STRIPES)
		return !(__atomic_load_n(&H->stripe_seq[stripe],
					 __ATOMIC_SEQ_CST) & 1);
	for (unsigned s = 0; s < NSTRIPES; s++)
		if (__atomic_load_n(&H->stripe_seq[s], __ATOMIC_SEQ_CST) & 1)
			return false;
	return true;
}

/*
 * Read-lock stripe (or every stripe).  *taken says whether this call took
 * something that lock_read_release must drop.
 */
int lock_read(struct shmtab *t, unsigned stripe, bool *taken)
{
	struct slot *sl;
	int err;

	*taken = false;
	if (t->doomed)
		return -EDEADLK;
	if (lock_covers(t, stripe))
		return 0;
	if (t->rdonly)
		return -EROFS;	/* callers read optimistically instead */
	if (t->slot < 0) {
		/* no slot: the writer lock serves as an exclusive read lock */
		err = wlock_take(t);
		if (err == -EDEADLK && t->group_depth)
			return doom(t);
		if (err < 0)
			return err;
		*taken = true;
		return 0;
	}
	sl = &t->hdr->slots[t->slot];
	rd_count(t, true);
	for (;;) {
		if (stripe == ALL_STRIPES)
			__atomic_fetch_add(&sl->all, 1, __ATOMIC_SEQ_CST);
		else
			__atomic_fetch_or(&sl->stripes[stripe / 64],
					  (uint64_t)1 << (stripe % 64),
					  __ATOMIC_SEQ_CST);
		if (lock_stripes_clear(t, stripe))
			break;
		if (stripe == ALL_STRIPES)
			__atomic_fetch_sub(&sl->all, 1, __ATOMIC_RELEASE);
		else
			__atomic_fetch_and(&sl->stripes[stripe / 64],
					   ~((uint64_t)1 << (stripe % 64)),
					   __ATOMIC_RELEASE);
		err = lock_wait_writer(t);
		if (err < 0) {
			rd_recount(t);
			return err;
		}
	}
	if (stripe == ALL_STRIPES)
		t->rd_all++;
	else
		bits_set(t->rd_bits, stripe);
	*taken = true;
	held_update(t);
	return 0;
}

void lock_read_release(struct shmtab *t, unsigned stripe, bool taken)
{
	struct slot *sl;

	if (!taken || t->group_depth)
		return;		/* a group keeps its read locks to its end */
	if (t->slot < 0) {
		wlock_drop(t);
		return;
	}
	sl = &t->hdr->slots[t->slot];
	if (stripe == ALL_STRIPES) {
		__atomic_fetch_sub(&sl->all, 1, __ATOMIC_RELEASE);
		t->rd_all--;
	} else {
		__atomic_fetch_and(&sl->stripes[stripe / 64],
				   ~((uint64_t)1 << (stripe % 64)),
				   __ATOMIC_RELEASE);
		t->rd_bits[stripe / 64] &= ~((uint64_t)1 << (stripe % 64));
	}
	rd_recount(t);
	held_update(t);
}
