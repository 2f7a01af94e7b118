/* SPDX-License-Identifier: MIT */
/*
 * feed.c - the change feed: a counter every change bumps, a ring of the
 * changed keys' hashes, and a futex to sleep on until the counter moves.
 * Writers pay a system call only when a watcher sleeps (hdr.waiters).
 */
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shmtab-private.h"

/* Writer lock held: record that the key of hash h changed (0: all). */
void feed_note(struct shmtab *t, uint64_t h)
{
	struct shm_header *H = t->hdr;
	uint64_t n = ld64(&H->changes);

	st64(&H->ring[n % FEED_SIZE], h);
	__atomic_store_n(&H->changes, n + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&H->futex, (uint32_t)(n + 1), __ATOMIC_RELEASE);
}

void feed_wake(struct shmtab *t)
{
	struct shm_header *H = t->hdr;

	if (t->rdonly || !__atomic_load_n(&H->waiters, __ATOMIC_SEQ_CST))
		return;
	syscall(SYS_futex, &H->futex, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

SHMTAB_EXPORT uint64_t shmtab_counter(shmtab *t)
{
	if (!t || !t->hdr)
		return 0;
	return __atomic_load_n(&t->hdr->changes, __ATOMIC_ACQUIRE);
}

SHMTAB_EXPORT int shmtab_changes(shmtab *t, uint64_t *since,
				 uint64_t *hashes, size_t max)
{
	struct shm_header *H;
	uint64_t now, from;
	size_t n = 0;

	if (!t || !t->hdr)
		return -EBADF;
	if (!since || (!hashes && max))
		return -EINVAL;
	H = t->hdr;
	now = __atomic_load_n(&H->changes, __ATOMIC_ACQUIRE);
	from = *since;
	if (from > now || now - from > FEED_SIZE) {
		*since = now;
		return -EOVERFLOW;
	}
	while (from < now && n < max && n < INT_MAX) {
		hashes[n++] = ld64(&H->ring[from % FEED_SIZE]);
		from++;
	}
	/* the ring may have wrapped over what we copied */
	if (__atomic_load_n(&H->changes, __ATOMIC_ACQUIRE) - *since > FEED_SIZE) {
		*since = __atomic_load_n(&H->changes, __ATOMIC_ACQUIRE);
		return -EOVERFLOW;
	}
	*since = from;
	return (int)n;
}

SHMTAB_EXPORT int shmtab_wait(shmtab *t, uint64_t since, int timeout_ms)
{
	struct shm_header *H;
	struct timespec ts, *tp = NULL;
	uint64_t end = 0;
	int r = 0;

	if (!t || !t->hdr)
		return -EBADF;
	H = t->hdr;
	if (timeout_ms >= 0)
		end = now_ns() + (uint64_t)timeout_ms * 1000000u;
	if (!t->rdonly)
		__atomic_add_fetch(&H->waiters, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		uint32_t seen = __atomic_load_n(&H->futex, __ATOMIC_SEQ_CST);

		if (__atomic_load_n(&H->changes, __ATOMIC_ACQUIRE) != since)
			break;
		if (timeout_ms >= 0) {
			uint64_t now = now_ns();

			if (now >= end) {
				r = -ETIMEDOUT;
				break;
			}
			ts.tv_sec = (time_t)((end - now) / 1000000000u);
			ts.tv_nsec = (long)((end - now) % 1000000000u);
			tp = &ts;
		}
		/* read-only handles cannot announce themselves: poll */
		if (t->rdonly) {
			struct timespec p = { 0, 2000000 };

			if (tp && (tp->tv_sec == 0 && tp->tv_nsec < p.tv_nsec))
				p = *tp;
			nanosleep(&p, NULL);
			continue;
		}
		if (syscall(SYS_futex, &H->futex, FUTEX_WAIT, seen, tp, NULL,
			    0) < 0 && errno == EINTR) {
			r = -EINTR;
			break;
		}
	}
	if (!t->rdonly)
		__atomic_sub_fetch(&H->waiters, 1, __ATOMIC_SEQ_CST);
	return r;
}
