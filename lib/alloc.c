/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - chunks in size classes, and the undo log
 *
 * The heap is a sequence of chunks from HDR_SIZE to hdr.top; each chunk's
 * class gives its size, so the heap can be walked (check, repair).  Classes
 * are 8-byte steps up to 1 KiB (a binding of a 16-byte key and a 100-byte
 * value takes 136 bytes), then eight steps per power of two (at most 12.5%
 * slack).  A freed chunk goes on its class's list and is reused by the
 * next allocation of that class; the heap grows at top otherwise.  The
 * object never shrinks.  A freed chunk that a process reads in place
 * (pin.c) waits on the limbo list until nobody does.
 *
 * Crash safety rests on one rule: a step (one logical change) writes new
 * data only into chunks nobody can reach yet, and every 8-byte word that
 * makes something reachable or changes shared state goes through ustore(),
 * which first appends (offset, old value) to the undo log in the header.
 * undo_commit() empties the log: that is the step's commit point.  A process
 * that dies between the two leaves a non-empty log, and the next holder of
 * the writer lock rolls it back (recover() in lock.c), word by word, in
 * reverse: the table is exactly as before the step.
 */
#include "shmtab-private.h"

#define SMALL_CLASSES 128		/* class c <= 128 is 8·c bytes */

uint64_t class_size(unsigned cls)
{
	unsigned k, j;

	if (cls <= SMALL_CLASSES)
		return (uint64_t)cls * 8;
	k = 10 + (cls - SMALL_CLASSES - 1) / 8;
	j = (cls - SMALL_CLASSES - 1) % 8 + 1;
	return ((uint64_t)1 << k) + (uint64_t)j * ((uint64_t)1 << (k - 3));
}

/* The smallest class holding n bytes (at least a chunk header); NCLASSES
 * when there is none. */
unsigned size_class(uint64_t n)
{
	unsigned k;
	uint64_t step, j;

	if (n <= sizeof(struct chunk))
		return sizeof(struct chunk) / 8;
	if (n <= 1024)
		return (unsigned)((n + 7) / 8);
	k = 63 - (unsigned)__builtin_clzll(n - 1);	/* 2^k < n <= 2^(k+1) */
	if (k >= 10 + (NCLASSES - SMALL_CLASSES - 1) / 8)
		return NCLASSES;
	step = (uint64_t)1 << (k - 3);
	j = (n - ((uint64_t)1 << k) + step - 1) / step;	/* 1..8 */
	k = SMALL_CLASSES + 1 + (k - 10) * 8 + (unsigned)(j - 1);
	return k < NCLASSES ? k : NCLASSES;
}

void ustore(struct shmtab *t, uint64_t off, uint64_t val)
{
	struct shm_header *H = t->hdr;
	uint32_t n = ld32(&H->undo_n);
	uint64_t *p = word_ptr(t, off);

	if (n < UNDO_MAX) {
		H->undo[n].off = off;
		H->undo[n].old = ld64(p);
		__atomic_store_n(&H->undo_n, n + 1, __ATOMIC_RELEASE);
	} else {
		/* a step never needs this many; log where it happened */
		shmtab__tlog(t, 3, "%s: undo log full", t->name);
	}
	__atomic_store_n(p, val, __ATOMIC_RELEASE);
}

void undo_commit(struct shmtab *t)
{
	__atomic_store_n(&t->hdr->undo_n, 0, __ATOMIC_RELEASE);
}

/* Could a step have logged a store to off?  The heap, and the header words
 * steps change through ustore(); never the lock area, the slots, the
 * stripes or the log itself, which a scribbled entry could otherwise
 * rewrite under the lock's holder. */
static bool undo_target(uint64_t off)
{
	if (off >= HDR_SIZE)
		return true;
	return (off >= HOFF(index_off) && off <= HOFF(top)) ||
	       (off >= HOFF(mig_off) && off <= HOFF(mig_used)) ||
	       off == HOFF(limbo_head) || off == HOFF(limbo_bytes) ||
	       off == HOFF(redo_off) ||
	       (off >= HOFF(free_head) && off < HOFF(free_head[NCLASSES])) ||
	       (off >= HOFF(schema_gen) && off <= HOFF(arr_stale));
}

/* Roll back an interrupted step.  Writer lock held. */
int undo_rollback(struct shmtab *t)
{
	struct shm_header *H = t->hdr;
	uint32_t n = ld32(&H->undo_n);
	int err = 0;

	if (n > UNDO_MAX) {
		err = shmtab__corrupt(t, "undo log claims %u entries", n);
		n = 0;
	}
	while (n-- > 0) {
		uint64_t off = ld64(&H->undo[n].off);

		if (off % 8 || off >= t->mapped || !undo_target(off)) {
			err = shmtab__corrupt(t, "undo entry at %llu",
					      (unsigned long long)off);
			continue;
		}
		st64(word_ptr(t, off), ld64(&H->undo[n].old));
	}
	undo_commit(t);
	return err;
}

/* The head word of chunk off with next in place of its next. */
static uint64_t head_with_next(struct shmtab *t, uint64_t off, uint64_t next)
{
	uint64_t keep = ((uint64_t)1 << HEAD_NEXT_SHIFT) - 1;	/* kind, cls */

	return (ld64(word_ptr(t, off)) & keep) | head_word(0, 0, next);
}

/* Set chunk off's next (a binding's older one, a free chunk's list). */
void chunk_set_next(struct shmtab *t, uint64_t off, uint64_t next)
{
	ustore(t, off, head_with_next(t, off, next));
}

/* The same for a chunk this step just took with chunk_alloc(), unlogged:
 * chunk_alloc() logged its head word already, or it lies past the old
 * top, and nobody reaches it before the step publishes it. */
void chunk_new_next(struct shmtab *t, uint64_t off, uint64_t next)
{
	st64(word_ptr(t, off), head_with_next(t, off, next));
}

/* Pop the head of class cls's free list (logged). */
static int free_pop(struct shmtab *t, unsigned cls, uint64_t *off)
{
	struct shm_header *H = t->hdr;
	uint64_t head = ld64(&H->free_head[cls]);
	struct cview cv;

	/* the class whose span was checked is the class compared */
	if (!map_chunk_snap(t, head, &cv) || cv.kind != CHUNK_FREE ||
	    cv.cls != cls)
		return shmtab__corrupt(t, "free list %u has %llu", cls,
				       (unsigned long long)head);
	ustore(t, HOFF(free_head[cls]), cv.next);
	ustore(t, HOFF(free_bytes), ld64(&H->free_bytes) - class_size(cls));
	*off = head;
	return 0;
}

/* Two classes whose sizes add up to class big's, the first as large as
 * it can be while the pieces still reach want: every class above 1 KiB is
 * (8 + j) * 2^(k-3), which splits into 2^k and j * 2^(k-3), both classes;
 * up to 1 KiB every multiple of 8 is one (a chunk is at least 16 bytes). */
static void split_classes(unsigned big, uint64_t want, unsigned *a,
			  unsigned *b)
{
	uint64_t size = class_size(big), first;

	if (size <= 1024 || size - want <= 1024) {
		first = want <= size - sizeof(struct chunk) ? want : size / 2;
	} else {
		unsigned k = 63 - (unsigned)__builtin_clzll(size);
		uint64_t p = (uint64_t)1 << k;

		first = p == size ? p / 2 : p;	/* halve a power of two */
	}
	*a = size_class(first);
	*b = size_class(size - first);
}

/*
 * The class cls is empty and the heap would have to grow: split a larger
 * free chunk instead, one committed step per split, until cls has one.
 * Only at the start of a step (empty undo log), since it commits.
 */
static void chunk_carve(struct shmtab *t, unsigned cls)
{
	struct shm_header *H = t->hdr;
	uint64_t want = class_size(cls);
	unsigned big = 0;

	if (ld32(&H->undo_n))
		return;
	/* the smallest chunk that leaves a whole chunk beside want */
	for (unsigned c = cls + 1; c < NCLASSES; c++) {
		if (ld64(&H->free_head[c]) &&
		    class_size(c) >= want + sizeof(struct chunk)) {
			big = c;
			break;
		}
	}
	for (int n = 0; big && n < 64 && !ld64(&H->free_head[cls]) &&
			class_size(big) >= want + sizeof(struct chunk);
	     n++) {
		uint64_t off = 0;
		unsigned a, b;

		split_classes(big, want, &a, &b);
		if (a >= NCLASSES || b >= NCLASSES ||
		    class_size(a) + class_size(b) != class_size(big))
			return;
		if (free_pop(t, big, &off) < 0) {
			undo_rollback(t);
			return;
		}
		ustore(t, off, head_word(CHUNK_FREE, a,
					 ld64(&H->free_head[a])));
		ustore(t, HOFF(free_head[a]), off);
		off += class_size(a);
		ustore(t, off, head_word(CHUNK_FREE, b,
					 ld64(&H->free_head[b])));
		ustore(t, HOFF(free_head[b]), off);
		ustore(t, HOFF(free_bytes), ld64(&H->free_bytes) +
						  class_size(big));
		undo_commit(t);
		/* go on with the smallest piece that still holds want */
		if (class_size(a) == want || class_size(b) == want)
			break;
		if (class_size(b) > want && class_size(b) < class_size(a))
			big = b;
		else
			big = class_size(a) > want ? a : 0;
	}
}

/* A chunk of at least need bytes (header included), tagged kind, its
 * next 0.  The caller fills the rest, which is not logged. */
int chunk_alloc(struct shmtab *t, uint64_t need, uint32_t kind, uint64_t *off)
{
	struct shm_header *H = t->hdr;
	unsigned cls = size_class(need);
	uint64_t csize, head, top;
	struct chunk *c;
	int err;

	if (cls >= NCLASSES)
		return -ENOSPC;
	csize = class_size(cls);
	if (ld64(&H->limbo_head) &&
	    (csize >= PIN_MIN || (!ld64(&H->free_head[cls]) &&
				  ld64(&H->top) + csize > ld64(&H->size))))
		limbo_reclaim(t);
	if (!ld64(&H->free_head[cls]) &&
	    ld64(&H->top) + csize > ld64(&H->size))
		chunk_carve(t, cls);
	head = ld64(&H->free_head[cls]);
	if (head) {
		struct cview cv;

		/* one load of the head: the class checked is the one used */
		if (!map_chunk_snap(t, head, &cv) || cv.kind != CHUNK_FREE ||
		    cv.cls != cls)
			return shmtab__corrupt(t, "free list %u has %llu", cls,
					       (unsigned long long)head);
		ustore(t, HOFF(free_head[cls]), cv.next);
		ustore(t, HOFF(free_bytes), ld64(&H->free_bytes) - csize);
		ustore(t, head, head_word(kind, cls, 0));
		*off = head;
		return 0;
	}
	top = ld64(&H->top);
	/* the next store goes to top, unlogged: it must be heap */
	if (top < HDR_SIZE || top % 8 || top > ld64(&H->size))
		return shmtab__corrupt(t, "heap top %llu",
				       (unsigned long long)top);
	if (top + csize < top || top + csize > OFF_LIMIT)
		return -ENOSPC;
	if (top + csize > ld64(&H->size)) {
		err = map_grow(t, top + csize);
		if (err < 0)
			return err;
	}
	ustore(t, HOFF(top), top + csize);
	/* an index is cleared a slice per step (hash.c), not all at once */
	map_populate(t, top, kind == CHUNK_INDEX ? top + sizeof(*c)
						 : top + csize);
	/* past the old top nobody looks: no need to log */
	st64(word_ptr(t, top), head_word(kind, cls, 0));
	*off = top;
	return 0;
}

int chunk_free(struct shmtab *t, uint64_t off)
{
	struct shm_header *H = t->hdr;
	struct cview cv;
	unsigned cls;

	/* the class checked is the class that indexes free_head[] */
	if (!map_chunk_snap(t, off, &cv))
		return shmtab__corrupt(t, "freeing bad chunk %llu",
				       (unsigned long long)off);
	cls = cv.cls;
	if (pin_may(t, cv.kind, cv.size, off)) {
		limbo_put(t, off, cls);
		return 0;
	}
	ustore(t, off, head_word(CHUNK_FREE, cls, ld64(&H->free_head[cls])));
	ustore(t, HOFF(free_head[cls]), off);
	ustore(t, HOFF(free_bytes), ld64(&H->free_bytes) + cv.size);
	return 0;
}
