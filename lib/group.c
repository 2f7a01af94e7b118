/* SPDX-License-Identifier: MIT */
/*
 * group.c - groups: every lock an operation takes inside fn is kept until
 * the outermost group ends, so no other process interleaves with what the
 * group read or wrote.  There is no rollback: a failed operation leaves the
 * earlier ones done, as in netshm.
 */
#include "shmtab-private.h"

SHMTAB_EXPORT int shmtab_group(shmtab *t, int (*fn)(shmtab *t, void *ctx),
			       void *ctx)
{
	int r;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	if (!fn)
		return -EINVAL;
	t->group_depth++;
	lock_user_push(t);
	r = fn(t, ctx);
	lock_user_pop(t);
	if (--t->group_depth == 0) {
		bool doomed = t->doomed;

		lock_group_release(t);
		t->doomed = false;
		feed_wake(t);
		if (doomed)
			return -EDEADLK;
	}
	return r;
}
