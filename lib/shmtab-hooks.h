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

#include <stddef.h>
#include <stdint.h>

#include "shmtab.h"

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

/*
 * shmtab__pin() - the newest value of a key, read in place
 * @val, @vlen: where the value lies in this handle's mapping, and its length
 * @pin:        the pin, for shmtab__unpin()
 *
 * Until shmtab__unpin(t, *pin) the value's bytes stay as they are, whatever
 * other processes do to the key meanwhile (replace, remove, write_blocks):
 * the chunk they lie in is not reused.  That is the point: a big value can
 * be read by parts over a long time, one version, with no copy.  Two
 * exceptions: a table cleared with O_TRUNC starts its heap over, and a
 * process that scribbles on the object may change anything.  So read the
 * bytes, never trust them: they came from shared memory.
 *
 * Only for values in chunks of 64 KiB or more (-ERANGE otherwise: copy
 * those), on a read-write handle with a process slot; each handle has 8
 * pins (-EAGAIN when they are all taken, or without a slot).  -ENOENT when
 * the key has no binding.  A pin lasts until shmtab__unpin() or
 * shmtab_close(), which drops every pin of the handle along with the
 * mapping.  While a value is pinned, the chunk it lies in cannot serve
 * another allocation: a value replaced many times while an old version
 * stays pinned costs one chunk per pin, not per version.
 *
 * shmtab__pin() is called as every other call on a handle is: from one
 * thread at a time.  shmtab__unpin() may run in any thread, at any time,
 * also while another thread uses the handle.
 */
int shmtab__pin(shmtab *t, const void *key, size_t klen, const void **val,
		size_t *vlen, unsigned *pin);
int shmtab__unpin(shmtab *t, unsigned pin);

/*
 * shmtab__obj_gen() - a count that moves when the table's object changes
 *
 * shmtab_chmod(), shmtab_chown() and shmtab_unlink() bump it in the object's
 * header once the change is made (through a read-write handle, or when
 * shmtab_unlink() may open the object for writing), so that a program that
 * keeps a stat(2) of the object can keep it while the count stays: read the
 * count before the stat, and stat again when it moved.  Changes made without
 * the library (chmod(1), rm(1)) do not move it.  Any thread,
 * any time while the handle is open: it only reads one word.
 */
uint64_t shmtab__obj_gen(const shmtab *t);

/*
 * shmtab__set_fault() - stop the library at a named point, for tests
 * @fn: called at named points of a replace in place (lib/inplace.c):
 *      "inplace-redo" (the redo entry is whole, the value not yet
 *      written), "inplace-half" (half the value written), "inplace-done"
 *      (the value written, the stripe still held); and "slot-clearing"
 *      (lib/lock.c: a writer holds a dead reader's slot's lock, before it
 *      clears the slot) and "slot-claimed" (an opener has taken its slot,
 *      the registry still locked: no fork() can happen in the meantime);
 *      "open-checked" (lib/map.c: an opener has checked its copy of the
 *      header, and has not mapped it yet); NULL removes it
 *
 * A test's fn raises SIGKILL (or stops) to leave what a process killed
 * there leaves, or does what another process could do in that moment.
 * Set it before other threads use the library.
 */
void shmtab__set_fault(void (*fn)(const char *point));

#endif /* SHMTAB_HOOKS_H */
