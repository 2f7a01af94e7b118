/* SPDX-License-Identifier: MIT */
/*
 * shmtab-hooks.h - what libshmtab offers the programs of this project only
 *
 * Not installed and not part of the API: these calls are exported in the
 * version node SHMTAB_PRIVATE (lib/libshmtab.sym), which may change in any
 * release.  Programs outside this tree use shmtab.h alone.
 */
#ifndef SHMTAB_HOOKS_H
#define SHMTAB_HOOKS_H

/*
 * shmtab__set_interrupt() - let a program give up waits for locks
 * @fn:  asked between the slices of every wait for a lock another process
 *       holds (from the waiting thread, so it must be thread-safe); NULL
 *       removes the hook
 * @ctx: passed to fn
 *
 * Without a hook a call waits for a lock as long as its holder keeps it,
 * which has no bound: the holder may be stopped (SIGSTOP, a debugger) or
 * sit in a group.  With one, waits sleep in slices of a few milliseconds;
 * once fn returns non-zero, every waiting call (and every later one that
 * would have to wait) gives up with -EINTR.  The call that gave up has
 * changed nothing; inside a group the earlier operations stay done and
 * what the group holds stays held until it ends, as with any other error.
 * Calls that need not wait are not affected.  Set it before other threads
 * use the library (fn and ctx are not replaced together atomically).
 */
void shmtab__set_interrupt(int (*fn)(void *ctx), void *ctx);

#endif /* SHMTAB_HOOKS_H */
