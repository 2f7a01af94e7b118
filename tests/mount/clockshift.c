/* SPDX-License-Identifier: MIT */
/*
 * clockshift.c - preloaded into shmtabfs by t-loop: a wall clock set off
 *
 * clock_gettime(CLOCK_REALTIME) answers the kernel's clock plus
 * $SHMTAB_CLOCK_SHIFT seconds (read once, at load), as just after the
 * clock was set the other way: a deadline made from it is that far from
 * the kernel's own reckoning, by which a wait on it ends.  The other
 * clocks are untouched.  Built without the sanitizers (Makefile.am): it is
 * preloaded into the libtool wrapper's shell too.
 */
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long shift;

__attribute__((constructor)) static void shift_init(void)
{
	const char *s = getenv("SHMTAB_CLOCK_SHIFT");

	shift = s ? strtol(s, NULL, 10) : 0;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	long r = syscall(SYS_clock_gettime, id, ts);

	if (r == 0 && id == CLOCK_REALTIME)
		ts->tv_sec += shift;
	return (int)r;
}
