/* SPDX-License-Identifier: MIT */
/*
 * childtab.h - reap a test's child, failing the test when it did not end
 * as it should
 *
 * Like mounttab.h these assert: include after <cmocka.h>, and call the
 * ct_ functions in the test process, never in a forked child.  *pid is 0
 * once the child is reaped, so that a fixture's teardown kills only what
 * still runs.  The children's side: a visitor that tells the test it holds
 * its lock and waits to be killed.
 */
#ifndef SHMTAB_CHILDTAB_H
#define SHMTAB_CHILDTAB_H

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include "testutil.h"

/* The child was ended by SIGKILL (a test's kill). */
static inline void ct_wait_killed(pid_t *pid)
{
	int rc = tu_wait(*pid, 10);

	*pid = 0;
	assert_int_equal(rc, -SIGKILL);
}

/* The child exited 0 within timeout_s; what names it in the failure. */
static inline void ct_expect_ok(pid_t *pid, int timeout_s, const char *what)
{
	int rc = tu_wait(*pid, timeout_s);

	*pid = 0;
	if (rc == TU_WAIT_TIMEOUT)
		fail_msg("%s: hung, killed after %d s", what, timeout_s);
	if (rc < 0)
		fail_msg("%s: killed by signal %d", what, -rc);
	if (rc != 0)
		fail_msg("%s: exit code %d", what, rc);
}

/* In a child: wait to be killed. */
static inline void hang_forever(void)
{
	for (;;)
		pause();
}

/* In a child, an iteration's visitor: post the barrier ctx (the lock is
 * held), then wait to be killed. */
static inline int visit_and_hang(const void *key, size_t klen,
				 const void *val, size_t vlen, void *ctx)
{
	(void)key, (void)klen, (void)val, (void)vlen;
	tu_barrier_post(ctx);
	hang_forever();
	return 0;
}

#endif /* SHMTAB_CHILDTAB_H */
