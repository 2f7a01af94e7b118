/* SPDX-License-Identifier: MIT */
/*
 * feed.c - the change feed: a counter every change bumps, a ring of the
 * changed keys' hashes, and a futex (the counter's low half) to sleep on
 * until the counter moves.
 * Writers pay a system call only when a watcher sleeps (hdr.waiters).
 *
 * More than one process may note at once (a replace in place, inplace.c,
 * holds no writer lock): each takes its number n from the counter, then
 * writes its entry.  So a reader can meet an entry whose writer has its
 * number but has not written it yet.  Entries carry a tag in place of the
 * hash's low FEED_TAG_BITS bits: those of n / FEED_SIZE + 1.  An entry with
 * another tag is not written yet (or was overwritten, which the counter
 * tells).  shmtab_key_hash() gives the hash with those bits zero.
 */
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shmtab-private.h"

#define TAG_MASK (((uint64_t)1 << FEED_TAG_BITS) - 1)

/* 1 + the round: an entry never written (0) is no round's */
static uint64_t feed_tag(uint64_t n)
{
	return (n / FEED_SIZE + 1) & TAG_MASK;
}

uint64_t feed_hash(uint64_t h)
{
	return h & ~TAG_MASK;
}

/*
 * Where change n's entry lies: consecutive changes on different cache
 * lines (entry i of the ring at (i % 32) * 8 + i / 32), so that processes
 * noting at once do not write the same line.
 */
static uint64_t *ring_at(struct shm_header *H, uint64_t n)
{
	unsigned i = (unsigned)(n % FEED_SIZE);

	return &H->ring[i % (FEED_SIZE / 8) * 8 + i / (FEED_SIZE / 8)];
}

/* Change n's ring entry: the key's hash, tagged. */
static uint64_t ring_word(uint64_t h, uint64_t n)
{
	return feed_hash(h) | feed_tag(n);
}

/*
 * Record that the key of hash h changed (0: all).  The writer lock's
 * holder notes alone (no replace in place runs meanwhile, inplace.c): it
 * writes its entry before it bumps the counter, with no atomic add.
 */
void feed_note(struct shmtab *t, uint64_t h)
{
	struct shm_header *H = t->hdr;
	uint64_t n;

	if (t->wl_held && t->lock != SHMTAB_LOCK_NONE) {
		n = ld64(&H->changes);
		__atomic_store_n(ring_at(H, n), ring_word(h, n),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&H->changes, n + 1, __ATOMIC_RELEASE);
		return;
	}
	n = __atomic_fetch_add(&H->changes, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(ring_at(H, n), ring_word(h, n),
			 __ATOMIC_RELEASE);
}

/* What waiters sleep on: the counter's low half (little-endian). */
static uint32_t *feed_futex(struct shm_header *H)
{
	return (uint32_t *)(void *)&H->changes;
}

/* Entry n: its hash, or 0 (everything changed) when its writer does not
 * write it soon: it may be dead. */
static uint64_t feed_entry(struct shm_header *H, uint64_t n)
{
	for (unsigned i = 0;; i++) {
		uint64_t e = __atomic_load_n(ring_at(H, n),
					     __ATOMIC_ACQUIRE);

		if ((e & TAG_MASK) == feed_tag(n))
			return feed_hash(e);
		if (i == 1000)
			return 0;
		cpu_relax();
	}
}

void feed_wake(struct shmtab *t)
{
	struct shm_header *H = t->hdr;

	if (t->rdonly || !__atomic_load_n(&H->waiters, __ATOMIC_SEQ_CST))
		return;
	syscall(SYS_futex, feed_futex(H), FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

SHMTAB_EXPORT uint64_t shmtab_counter(shmtab *t)
{
	if (!t || !t->hdr || t->fd < 0)
		return 0;
	return __atomic_load_n(&t->hdr->changes, __ATOMIC_ACQUIRE);
}

SHMTAB_EXPORT int shmtab_changes(shmtab *t, uint64_t *since,
				 uint64_t *hashes, size_t max)
{
	struct shm_header *H;
	uint64_t now, from;
	size_t n = 0;

	if (!t || !t->hdr || t->fd < 0)
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
		hashes[n++] = feed_entry(H, from);
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

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	H = t->hdr;
	if (timeout_ms >= 0)
		end = now_ns() + (uint64_t)timeout_ms * 1000000u;
	if (!t->rdonly)
		__atomic_add_fetch(&H->waiters, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		uint32_t seen = __atomic_load_n(feed_futex(H), __ATOMIC_SEQ_CST);

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
		if (syscall(SYS_futex, feed_futex(H), FUTEX_WAIT, seen, tp, NULL,
			    0) < 0 && errno == EINTR) {
			r = -EINTR;
			break;
		}
	}
	if (!t->rdonly)
		__atomic_sub_fetch(&H->waiters, 1, __ATOMIC_SEQ_CST);
	return r;
}
