/* SPDX-License-Identifier: MIT */
/*
 * fs-loop.c - the request loop: one hot reader, spares for blocked requests
 *
 * libfuse's multithreaded loop keeps every idle worker blocked in read() on
 * /dev/fuse, and the kernel gives each request to the worker that has
 * waited longest.  A serial stream of requests (a stat loop, cat of many
 * keys: one process, one request at a time) therefore wakes a sleeping
 * thread for nearly every request, and a wake-up is most of what a request
 * costs here.  One thread (-s) is often back in read() before the next
 * request comes and takes it without sleeping, but a request that waits
 * for a table lock held by another process stops the whole mount.
 *
 * This loop has one reader at a time, the leader, which serves what it
 * reads itself.  A standby thread looks at it every LOOP_TICK_MS: when the
 * leader has been serving the same request since the last look (its
 * counter, odd while it serves, has not moved: the leader takes no lock
 * and no time per request), the standby
 * becomes the leader and another thread becomes the standby (a spare, or
 * a new thread while there are fewer than max_threads).  A blocked request
 * thus delays the others by at most two ticks.  A leader that was replaced
 * finishes its request and becomes a spare.
 *
 * Ending.  Signals reach only the thread that called fs_loop_run() (the
 * others block all but LOOP_WAKE), and libfuse's handlers of SIGTERM,
 * SIGINT and SIGHUP only mark the session exited.  That thread may be the
 * leader: a signal that comes while it serves a request is seen when it
 * looks at fuse_session_exited() before it reads again, and one that comes
 * while it is blocked in read() ends the read with EINTR (the handlers are
 * installed without SA_RESTART).  One that comes between the look and
 * read() is seen by the other threads instead: each waits for at most a
 * tick and then looks at fuse_session_exited(), and once the loop stopped,
 * wakes a leader still in read() with LOOP_WAKE, each tick until it left
 * (loop_finish: a wake just before its read() is lost too).  Hence the loop
 * needs its second thread.  LOOP_WAKE's handler does nothing: the read
 * fails with EINTR and the leader sees the loop stopped.  libfuse's
 * single-threaded loop has the same gap and leaves it (the signal is seen
 * at the next request); its multithreaded one keeps signals away from the
 * readers and cancels them at the end, but a cancelled thread leaves its
 * frames' stack poisoning behind for AddressSanitizer, which then reports
 * the exit of that thread.  A thread serving a request that waits for a
 * table lock ends too: once the session exited, the library gives such
 * waits up (shmtabfs.c, "Ending on time").
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "fs.h"

#define LOOP_TICK_MS 20
#define LOOP_WAKE SIGRTMIN		/* see above */

struct loop_thread {
	pthread_t id;
	struct fuse_buf buf;
};

struct loop {
	struct fuse_session *se;
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* spares and the standby wait here
					 * (on CLOCK_MONOTONIC) */
	pthread_t leader;
	bool leader_out;		/* the last leader left read() for good */
	uint64_t seq;			/* odd while the leader serves */
	uint64_t seen;			/* seq at the standby's last look */
	bool have_standby;
	bool stop;
	int err;
	unsigned int nthreads, max;
	struct loop_thread *th;		/* [0]: the caller's */
};

enum loop_role {
	ROLE_LEADER,
	ROLE_STANDBY,
	ROLE_SPARE,
};

struct loop_arg {
	struct loop *l;
	struct loop_thread *self;
	enum loop_role role;
};

static void *loop_main(void *arg);

/* A tick from now, for pthread_cond_timedwait on l->cv: on the monotonic
 * clock, which a change of the wall clock does not move. */
static void loop_deadline(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_nsec += LOOP_TICK_MS * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Caller holds l->mu. */
static void loop_stop(struct loop *l, int err)
{
	if (!l->stop) {
		__atomic_store_n(&l->stop, true, __ATOMIC_RELEASE);
		l->err = err;
	}
	pthread_cond_broadcast(&l->cv);
}

/* A new thread in role (signals blocked); caller holds l->mu.  false
 * when none can be started. */
static bool loop_spawn(struct loop *l, enum loop_role role)
{
	struct loop_thread *self = &l->th[l->nthreads];
	struct loop_arg *a;
	sigset_t all, old;
	int err;

	if (l->nthreads >= l->max)
		return false;
	a = malloc(sizeof(*a));
	if (!a)
		return false;
	a->l = l;
	a->self = self;
	a->role = role;
	sigfillset(&all);
	sigdelset(&all, LOOP_WAKE);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* the thread frees a */
	err = pthread_create(&self->id, NULL, loop_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		free(a);
		return false;
	}
	l->nthreads++;
	return true;
}

/*
 * Has the leader served the same request since the standby's last look
 * (a tick ago)?  Then take it over: the leader's counter moves to even
 * without the leader, whose own move (loop_lead) then fails.  Caller holds
 * l->mu.
 */
static bool loop_take_over(struct loop *l)
{
	uint64_t s = __atomic_load_n(&l->seq, __ATOMIC_ACQUIRE);

	if (!(s & 1) || s != l->seen) {
		l->seen = s;
		return false;
	}
	return __atomic_compare_exchange_n(&l->seq, &s, s + 3, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* The standby: take over from a leader stuck on one request.  Caller
 * holds l->mu; returns the next role. */
static enum loop_role loop_standby(struct loop *l)
{
	struct timespec ts;

	while (!l->stop) {
		/* a whole tick between two looks: a wake-up before the
		 * deadline (a spurious one, a broadcast for the spares) is
		 * not one */
		loop_deadline(&ts);
		while (!l->stop &&
		       pthread_cond_timedwait(&l->cv, &l->mu, &ts) == 0)
			;
		if (fuse_session_exited(l->se))
			loop_stop(l, 0);
		if (l->stop || !loop_take_over(l))
			continue;
		/* the same request for a whole tick: lead instead */
		l->leader = pthread_self();
		l->have_standby = false;
		if (loop_spawn(l, ROLE_STANDBY))
			l->have_standby = true;
		else
			pthread_cond_broadcast(&l->cv);	/* a spare */
		return ROLE_LEADER;
	}
	return ROLE_SPARE;
}

/* A spare: wait until no thread is the standby.  Caller holds l->mu. */
static enum loop_role loop_spare(struct loop *l)
{
	struct timespec ts;

	while (!l->stop && l->have_standby) {
		loop_deadline(&ts);
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
		if (fuse_session_exited(l->se))
			loop_stop(l, 0);
	}
	if (l->stop)
		return ROLE_SPARE;
	l->have_standby = true;
	return ROLE_STANDBY;
}

/* The leader: read and serve until replaced or stopped; returns the
 * next role. */
static enum loop_role loop_lead(struct loop *l, struct loop_thread *self)
{
	uint64_t s;
	int res;

	for (;;) {
		/* a signal this thread took while it served marked the
		 * session exited: look before reading again */
		if (fuse_session_exited(l->se) ||
		    __atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
			res = 0;
			break;
		}
		res = fuse_session_receive_buf(l->se, &self->buf);
		if (res == -EINTR)
			continue;
		if (res <= 0)
			break;
		/* even: nobody but the leader writes it now */
		s = __atomic_load_n(&l->seq, __ATOMIC_RELAXED) + 1;
		__atomic_store_n(&l->seq, s, __ATOMIC_RELAXED);

		fuse_session_process_buf(l->se, &self->buf);

		/* even again, unless the standby took over meanwhile */
		if (!__atomic_compare_exchange_n(&l->seq, &s, s + 1, false,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			return ROLE_SPARE;
	}
	pthread_mutex_lock(&l->mu);
	l->leader_out = true;
	loop_stop(l, res < 0 ? res : 0);
	pthread_mutex_unlock(&l->mu);
	return ROLE_SPARE;
}

/*
 * The loop stopped: wait until the leader left read(), waking it there
 * each tick (see the top: it may have missed the signal that ended the
 * session, or a wake of ours).  Caller holds l->mu.
 */
static void loop_finish(struct loop *l)
{
	struct timespec ts;

	while (!l->leader_out) {
		pthread_kill(l->leader, LOOP_WAKE);
		loop_deadline(&ts);
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	}
}

static void loop_run_role(struct loop *l, struct loop_thread *self,
			  enum loop_role role)
{
	for (;;) {
		if (role == ROLE_LEADER) {
			role = loop_lead(l, self);
			continue;
		}
		pthread_mutex_lock(&l->mu);
		if (l->stop) {
			loop_finish(l);
			pthread_mutex_unlock(&l->mu);
			return;
		}
		role = role == ROLE_STANDBY ? loop_standby(l) : loop_spare(l);
		pthread_mutex_unlock(&l->mu);
	}
}

static void loop_wake(int sig)
{
	(void)sig;		/* only to end a read() with EINTR */
}

static void *loop_main(void *arg)
{
	struct loop_arg a = *(struct loop_arg *)arg;

	free(arg);
	loop_run_role(a.l, a.self, a.role);
	return NULL;
}

int fs_loop_run(struct fuse_session *se, unsigned int max_threads)
{
	struct sigaction sa, old_sa;
	pthread_condattr_t ca;
	sigset_t wake;
	struct loop l;
	unsigned int i;

	memset(&l, 0, sizeof(l));
	l.se = se;
	l.max = max_threads < 2 ? 2 : max_threads;
	l.th = calloc(l.max, sizeof(*l.th));
	if (!l.th)
		return -ENOMEM;
	pthread_mutex_init(&l.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l.cv, &ca);
	pthread_condattr_destroy(&ca);
	/* no SA_RESTART: the read() it reaches fails with EINTR */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = loop_wake;
	sigemptyset(&sa.sa_mask);
	sigaction(LOOP_WAKE, &sa, &old_sa);
	sigemptyset(&wake);
	sigaddset(&wake, LOOP_WAKE);
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	l.th[0].id = pthread_self();
	l.nthreads = 1;
	l.leader = pthread_self();
	pthread_mutex_lock(&l.mu);
	l.have_standby = loop_spawn(&l, ROLE_STANDBY);
	pthread_mutex_unlock(&l.mu);
	if (l.have_standby)
		loop_run_role(&l, &l.th[0], ROLE_LEADER);
	else
		l.err = -EAGAIN;	/* see the top: the loop needs it */

	/* every thread ends once the leader left read() (loop_finish) */
	for (i = 1; i < l.nthreads; i++)
		pthread_join(l.th[i].id, NULL);
	sigaction(LOOP_WAKE, &old_sa, NULL);
	for (i = 0; i < l.nthreads; i++)
		free(l.th[i].buf.mem);
	free(l.th);
	pthread_cond_destroy(&l.cv);
	pthread_mutex_destroy(&l.mu);
	fuse_session_reset(se);
	return l.err;
}
