/* SPDX-License-Identifier: MIT */
/*
 * pin.c - big bindings read in place, and the limbo that keeps them
 *
 * shmtab__pin() hands a program the newest value of a key where it lies in
 * the table, with no copy, until shmtab__unpin(); meanwhile the bytes stay
 * as they were, whatever other processes do to the key.  It is for big
 * values (chunks of PIN_MIN bytes or more), whose copy costs more than the
 * bookkeeping.
 *
 * A pin is the binding's chunk offset in one of the slot's NPINS words
 * (hdr.pins).  Chunks change in two ways only, and both look at the pins:
 *  - chunk_free() of a pinned chunk puts it on the limbo list (kind LIMBO)
 *    instead of its class's free list; limbo_reclaim() frees the limbo
 *    chunks no live process pins any more, a committed step each, at the
 *    start of an allocation that would otherwise carve or grow;
 *  - shmtab_write_blocks() copies a pinned binding to a new chunk before it
 *    lets its visitor write (blocks.c).
 * The race between a pin and a free is the one between a reader and a
 * writer: the pinner stores the offset and then validates its read against
 * the stripe's counter; the writer makes the stripe odd and then scans the
 * pins.  With a full barrier on both sides one of them sees the other: the
 * writer the pin (and keeps the chunk), or the pinner the step (and looks
 * again).
 *
 * Dead processes' pins do not count: a slot whose process is gone keeps no
 * chunk, and its words are cleared with the slot.  A clear (O_TRUNC) keeps
 * the pinned chunks where they are, on the limbo list, and starts the rest
 * of the heap over around them (heap_reset() in map.c).  What a pin cannot
 * keep: anything a process that writes at random into the object does.
 */
#include "shmtab-private.h"

/* The slots ever used, read after a full barrier (the writer's side of
 * the race with a pinner: see above). */
static unsigned slots_used(struct shmtab *t)
{
	unsigned hi;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	hi = __atomic_load_n(&t->hdr->slot_hi, __ATOMIC_SEQ_CST);
	return hi < NSLOTS ? hi : NSLOTS;
}

/* Is chunk off pinned by a live process? */
static bool pin_held(struct shmtab *t, uint64_t off)
{
	struct shm_header *H = t->hdr;
	unsigned hi = slots_used(t);

	for (unsigned i = 0; i < hi; i++) {
		uint32_t pid = ld32(&H->slots[i].pid);

		if (!pid)
			continue;
		for (unsigned j = 0; j < NPINS; j++) {
			if (ld64(&H->pins[i][j]) != off)
				continue;
			if ((int)i == t->slot || !slot_dead(t, i, pid))
				return true;
		}
	}
	return false;
}

/* May the chunk at off, of kind and size as checked, be pinned?  Only a
 * binding PIN_MIN bytes or more. */
bool pin_may(struct shmtab *t, uint32_t kind, uint64_t size, uint64_t off)
{
	return kind == CHUNK_REC && size >= PIN_MIN && pin_held(t, off);
}

/* Chunk off, of class cls, pinned, goes to limbo (logged, inside the
 * caller's step). */
void limbo_put(struct shmtab *t, uint64_t off, unsigned cls)
{
	struct shm_header *H = t->hdr;

	ustore(t, off, head_word(CHUNK_LIMBO, cls, ld64(&H->limbo_head)));
	ustore(t, HOFF(limbo_head), off);
	ustore(t, HOFF(limbo_bytes), ld64(&H->limbo_bytes) + class_size(cls));
}

/*
 * Free the limbo chunks nobody pins any more.  Writer lock held, at the
 * start of a step (it commits each one).  A damaged list is cut where it
 * goes wrong (logged once): the chunks after the cut are lost to reuse,
 * and shmtab_check reports them, until a repair.
 */
void limbo_reclaim(struct shmtab *t)
{
	struct shm_header *H = t->hdr;
	uint64_t prev = 0, off, steps = 0, top = ld64(&H->top);

	if (ld32(&H->undo_n))
		return;
	for (off = ld64(&H->limbo_head); off && steps < NSLOTS * NPINS * 2;
	     steps++) {
		struct cview cv;
		struct chunk *c = off < top ? map_chunk_snap(t, off, &cv)
					    : NULL;
		uint64_t next;
		unsigned cls;

		/* the class checked is the class used: one load of the head */
		if (!c || cv.kind != CHUNK_LIMBO || cv.size > top - off) {
			shmtab__corrupt(t, "limbo list at %llu",
					(unsigned long long)off);
			if (prev)
				chunk_set_next(t, prev, 0);
			else
				ustore(t, HOFF(limbo_head), 0);
			undo_commit(t);
			return;
		}
		next = cv.next;
		cls = cv.cls;
		if (pin_held(t, off)) {
			prev = off;
			off = next;
			continue;
		}
		if (prev)
			chunk_set_next(t, prev, next);
		else
			ustore(t, HOFF(limbo_head), next);
		ustore(t, HOFF(limbo_bytes),
		       ld64(&H->limbo_bytes) - cv.size);
		ustore(t, off, head_word(CHUNK_FREE, cls,
					 ld64(&H->free_head[cls])));
		ustore(t, HOFF(free_head[cls]), off);
		ustore(t, HOFF(free_bytes), ld64(&H->free_bytes) + cv.size);
		undo_commit(t);
		off = next;
	}
}

/* For a clear: which slots belong to live processes (ours counts), asked
 * once: slot_dead() asks the kernel. */
void pin_live(struct shmtab *t, uint64_t live[NSLOTS / 64])
{
	struct shm_header *H = t->hdr;
	unsigned hi = slots_used(t);

	memset(live, 0, NSLOTS / 64 * sizeof(uint64_t));
	for (unsigned i = 0; i < hi; i++) {
		uint32_t pid = ld32(&H->slots[i].pid);
		bool any = false;

		for (unsigned j = 0; j < NPINS; j++)
			any |= ld64(&H->pins[i][j]) != 0;
		if (pid && any && ((int)i == t->slot || !slot_dead(t, i, pid)))
			bits_set(live, i);
	}
}

/*
 * For a clear (writer lock held, every stripe odd): the lowest chunk at or
 * above from that a live slot pins and that a clear must keep, 0 when there
 * is none; its class in *cls.  Only a binding (or a limbo chunk) of PIN_MIN
 * bytes or more, whole below top, counts.  Walking up from the end of the
 * last one found gives them in order, none overlapping another.
 */
uint64_t pin_next(struct shmtab *t, const uint64_t live[NSLOTS / 64],
		  uint64_t from, uint64_t top, unsigned *cls)
{
	struct shm_header *H = t->hdr;
	uint64_t best = 0;

	for (unsigned i = 0; i < NSLOTS; i++) {
		if (!bits_test(live, i))
			continue;
		for (unsigned j = 0; j < NPINS; j++) {
			uint64_t off = ld64(&H->pins[i][j]);
			struct cview cv;

			if (off < from || off < HDR_SIZE || off >= top ||
			    off % 8 || (best && off >= best))
				continue;
			/* one load of the head: the class returned is the
			 * class checked */
			if (!map_chunk_snap(t, off, &cv))
				continue;
			if ((cv.kind != CHUNK_REC && cv.kind != CHUNK_LIMBO) ||
			    cv.size < PIN_MIN || cv.size > top - off)
				continue;
			best = off;
			*cls = cv.cls;
		}
	}
	return best;
}

/* A free pin word of ours, marked taken in t->pin_used; -1 if none. */
static int pin_claim(struct shmtab *t)
{
	unsigned used = __atomic_load_n(&t->pin_used, __ATOMIC_RELAXED);

	for (;;) {
		unsigned j;

		if (used == (1u << NPINS) - 1)
			return -1;
		j = (unsigned)__builtin_ctz(~used);
		if (__atomic_compare_exchange_n(&t->pin_used, &used,
						used | 1u << j, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return (int)j;
	}
}

static void pin_release(struct shmtab *t, unsigned j)
{
	if (t->hdr && t->slot >= 0)
		__atomic_store_n(&t->hdr->pins[t->slot][j], 0,
				 __ATOMIC_RELEASE);
	__atomic_fetch_and(&t->pin_used, ~(1u << j), __ATOMIC_RELEASE);
}

SHMTAB_EXPORT int shmtab__pin(shmtab *t, const void *key, size_t klen,
			      const void **val, size_t *vlen, unsigned *pin)
{
	struct reader rd;
	struct lookup lk;
	uint64_t h, *word;
	int err, j;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	if ((!key && klen) || !val || !vlen || !pin)
		return -EINVAL;
	if (t->slot < 0 || t->rdonly)
		return -EAGAIN;
	j = pin_claim(t);
	if (j < 0)
		return -EAGAIN;
	word = &t->hdr->pins[t->slot][j];
	h = hash_key(t, key, klen);
	err = read_enter(t, hash_stripe(h), &rd);
	for (; !err; err = read_retry(t, &rd)) {
		struct chunk *c = NULL;
		uint64_t lens = 0, size = 0;

		err = hash_lookup(t, h, key, klen, &lk);
		if (!err && !lk.rec)
			err = -ENOENT;
		if (!err) {
			/* what is checked here is what is used after the
			 * validation: no later load of the words */
			c = map_rec_snap(t, lk.rec, &lens, &size);
			if (!c)
				err = -EBADMSG;
			else if (size < PIN_MIN)
				err = -ERANGE;
		}
		if (!err) {
			__atomic_store_n(word, lk.rec, __ATOMIC_SEQ_CST);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
		}
		if (read_ok(t, &rd)) {
			if (err == -EBADMSG && t->quiet)
				err = shmtab__corrupt(t, "lookup of a %zu-byte "
						      "key failed", klen);
			if (!err) {
				__atomic_fetch_add(&t->npins, 1,
						   __ATOMIC_ACQ_REL);
				*val = (const uint8_t *)(c + 1) +
				       (lens >> LEN_VBITS);
				*vlen = (size_t)(lens & LEN_VMASK);
				*pin = (unsigned)j;
			}
			break;
		}
		__atomic_store_n(word, 0, __ATOMIC_RELEASE);
	}
	read_leave(t, &rd);
	if (err < 0)
		pin_release(t, (unsigned)j);
	return err;
}

SHMTAB_EXPORT int shmtab__unpin(shmtab *t, unsigned pin)
{
	if (!t)
		return -EBADF;
	if (pin >= NPINS ||
	    !(__atomic_load_n(&t->pin_used, __ATOMIC_ACQUIRE) >> pin & 1))
		return -EINVAL;
	pin_release(t, pin);
	__atomic_fetch_sub(&t->npins, 1, __ATOMIC_ACQ_REL);
	return 0;
}
