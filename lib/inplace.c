/* SPDX-License-Identifier: MIT */
/*
 * inplace.c - replace a small value in place, without the writer lock
 *
 * A replace whose new value fits the chunk of the key's newest binding
 * need not allocate, free or touch the index: it can overwrite the value
 * where it lies.  Such a replace takes no writer lock, so replaces of keys
 * in different stripes run at the same time; it needs only the key's
 * stripe, which it takes by a compare-and-swap of the stripe's counter from
 * even to odd.  Optimistic readers see the odd counter as they see a
 * writer's (lock.c), and retry.
 *
 * The writer lock still excludes it.  Each process slot has a claim word:
 * a replace in place publishes its claim, then looks at wlock_pid; a process
 * that takes the writer lock publishes wlock_pid, then waits until no slot
 * has a claim (inplace_drain).  Both with sequentially consistent accesses:
 * one of the two sees the other (Dekker), so while anyone holds the writer
 * lock no replace in place runs, and a group, a migration, a clear or a
 * check sees the table as still as before.  A replace that meets the writer
 * lock, a read lock on its stripe, an odd stripe, a value too big for its
 * chunk or REDO_SZ, a pinnable chunk, a changed schema or anything odd in
 * the header withdraws its claim and takes the writer lock's path instead.
 *
 * Death.  The claim says how far its process got:
 *   CLAIM_GATE  published, the stripe may be ours (odd): nothing written;
 *   CLAIM_REDO  the slot's redo entry holds the whole new value: whoever
 *               finds the process dead writes it again (idempotent);
 *   CLAIM_DONE  the value is whole, the stripe may still be odd.
 * inplace_drain, under the writer lock, waits for the claims of live
 * processes and then finishes those of dead ones: it writes a REDO entry
 * again, evens the stripe if it is odd and notes the change in the feed.
 * Only once no live claim is left: the stripe a dead process left even
 * may since be odd for a live one.
 *
 * The redo entries are one chunk (CHUNK_REDO, hdr.redo_off) of NSLOTS
 * entries of REDO_SZ bytes, allocated by the first replace that could have
 * gone in place (inplace_setup), under the writer lock.  A clear starts
 * the heap over without it; the next replace allocates it again.
 */
#include "shmtab-private.h"

#define CLAIM_GATE 1u
#define CLAIM_REDO 2u
#define CLAIM_DONE 3u

/* Pauses to wait for a writer lock or a stripe before giving up on the
 * replace in place (some 20 ns each here). */
#define INPLACE_SPIN 4000u

static uint64_t claim_word(unsigned state, unsigned stripe)
{
	return state | (uint64_t)stripe << 8;
}

static void (*fault_fn)(const char *point);

SHMTAB_EXPORT void shmtab__set_fault(void (*fn)(const char *point))
{
	__atomic_store_n(&fault_fn, fn, __ATOMIC_RELEASE);
}

void fault_point(const char *point)
{
	void (*fn)(const char *) = __atomic_load_n(&fault_fn, __ATOMIC_ACQUIRE);

	if (fn)
		fn(point);
}

/* Slot i's redo entry, or NULL when the table has no (valid) REDO chunk. */
static struct redo *redo_entry(struct shmtab *t, unsigned i)
{
	uint64_t off = ld64(&t->hdr->redo_off);
	struct chunk *c;
	struct cview cv;

	if (!off || i >= NSLOTS)
		return NULL;
	c = map_chunk_snap(t, off, &cv);
	if (!c || cv.kind != CHUNK_REDO ||
	    cv.size < sizeof(*c) + NSLOTS * REDO_SZ)
		return NULL;
	return (struct redo *)(void *)(c + 1) + i;
}

/* Could this handle replace in place at all? */
static bool inplace_may(struct shmtab *t)
{
	return t->slot >= 0 && !t->group_depth && !t->wl_held &&
	       t->lock != SHMTAB_LOCK_NONE && !t->doomed &&
	       t->sc.kind == KIND_HASH;
}

/*
 * The newest binding of key as a record with room for vlen value bytes:
 * its offset and its snapshot lens word; 0 when there is none.
 */
static uint64_t fitting_rec(struct shmtab *t, uint64_t h, const void *key,
			    size_t klen, size_t vlen, uint64_t *lens)
{
	struct lookup lk;
	uint64_t size;

	if (hash_lookup(t, h, key, klen, &lk) < 0 || !lk.rec)
		return 0;
	if (!map_rec_snap(t, lk.rec, lens, &size) || size >= PIN_MIN ||
	    (*lens >> LEN_VBITS) != klen ||
	    vlen > size - sizeof(struct chunk) - klen)
		return 0;
	return lk.rec;
}

/*
 * Replace key's newest value by val in place.  1: done; 0: not possible
 * here, take the writer lock; INPLACE_BUSY: the writer lock is held or
 * another replace has the stripe, try again in a moment; -ENOENT: the
 * table has no REDO chunk yet (inplace_setup).  Nothing changed unless 1.
 * The caller checked the schema (t->sc is current as of its check) and
 * holds no lock.
 */
int inplace_replace(struct shmtab *t, uint64_t h, const void *key,
		    size_t klen, const void *val, size_t vlen)
{
	struct shm_header *H = t->hdr;
	unsigned s = hash_stripe(h);
	uint64_t *claim, rec, lens, nlens;
	struct chunk *c;
	struct redo *R;
	uint32_t v;
	int r = 0;

	if (vlen > sizeof(R->val) || !inplace_may(t))
		return 0;
	if (ld64(&H->size) != t->mapped && map_refresh(t) < 0)
		return 0;
	claim = &H->slots[t->slot].claim;
	__atomic_store_n(claim, claim_word(CLAIM_GATE, s), __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&H->wlock_pid, __ATOMIC_SEQ_CST)) {
		r = INPLACE_BUSY;
		goto out;
	}
	if (ld32(&H->undo_n) || ld32(&H->clearing) ||
	    ld64(&H->index_seq) & 1 || ld64(&H->size) != t->mapped ||
	    ld64(&H->schema_gen) != t->sc.gen)
		goto out;
	/* from here until the claim is withdrawn nobody moves a record,
	 * a cell or the REDO chunk: only other replaces in place run, each
	 * on a stripe it owns */
	R = redo_entry(t, (unsigned)t->slot);
	if (!R) {
		r = ld64(&H->redo_off) ? 0 : -ENOENT;
		goto out;
	}
	rec = fitting_rec(t, h, key, klen, vlen, &lens);
	if (!rec)
		goto out;
	c = (struct chunk *)(void *)(t->base + rec);
	v = __atomic_load_n(&H->stripe_seq[s], __ATOMIC_RELAXED);
	if ((v & 1) ||
	    !__atomic_compare_exchange_n(&H->stripe_seq[s], &v, v + 1, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
		r = INPLACE_BUSY;
		goto out;
	}
	if (lock_stripe_read_locked(t, s)) {
		/* a reader holds it in place: wait for it as writers do */
		__atomic_store_n(&H->stripe_seq[s], v + 2, __ATOMIC_RELEASE);
		goto out;
	}
	nlens = (uint64_t)vlen | (uint64_t)klen << LEN_VBITS;
	st64(&R->off, rec);
	st64(&R->lens, nlens);
	st64(&R->hash, h);
	memcpy(R->val, val, vlen);
	__atomic_store_n(claim, claim_word(CLAIM_REDO, s), __ATOMIC_RELEASE);
	fault_point("inplace-redo");
	st64(&c->lens, nlens);
	if (vlen > 1 && __atomic_load_n(&fault_fn, __ATOMIC_RELAXED)) {
		memcpy((uint8_t *)(c + 1) + klen, val, vlen / 2);
		fault_point("inplace-half");
		memcpy((uint8_t *)(c + 1) + klen + vlen / 2,
		       (const uint8_t *)val + vlen / 2, vlen - vlen / 2);
	} else if (vlen) {	/* val may be this record's own bytes */
		memmove((uint8_t *)(c + 1) + klen, val, vlen);
	}
	__atomic_store_n(claim, claim_word(CLAIM_DONE, s), __ATOMIC_RELEASE);
	fault_point("inplace-done");
	feed_note(t, h);
	__atomic_store_n(&H->stripe_seq[s], v + 2, __ATOMIC_RELEASE);
	__atomic_store_n(claim, 0, __ATOMIC_RELEASE);
	feed_wake(t);
	return 1;
out:
	__atomic_store_n(claim, 0, __ATOMIC_RELEASE);
	return r;
}

/* Give the table its REDO chunk (one step under the writer lock).  0 or a
 * negative errno: -ENOSPC when it cannot grow for it. */
int inplace_setup(struct shmtab *t)
{
	uint64_t off;
	int err;

	err = step_begin(t, 0);
	if (err < 0)
		return err;
	if (!ld64(&t->hdr->redo_off)) {
		err = chunk_alloc(t, sizeof(struct chunk) + NSLOTS * REDO_SZ,
				  CHUNK_REDO, &off);
		if (!err && !map_span(t, off, sizeof(struct chunk) +
					      NSLOTS * REDO_SZ))
			err = -EBADMSG;
		if (err < 0) {
			step_abort(t);
			return err;
		}
		ustore(t, HOFF(redo_off), off);
	}
	step_end(t, 0, false);
	return 0;
}

/* Finish the claim c of slot i, whose process is dead. */
static void claim_finish(struct shmtab *t, unsigned i, uint64_t c)
{
	struct shm_header *H = t->hdr;
	unsigned s = (unsigned)(c >> 8) % NSTRIPES;
	struct redo *R = redo_entry(t, i);
	uint64_t h = 0;
	bool did = false;

	if ((c & 0xff) == CLAIM_REDO) {
		uint64_t off = R ? ld64(&R->off) : 0, nlens, lens, size;
		struct chunk *rc = off ? map_rec_snap(t, off, &lens, &size) : 0;

		nlens = R ? ld64(&R->lens) : 0;
		/* (a record inside the entry itself: the copy would overlap) */
		if (!rc || nlens >> LEN_VBITS != lens >> LEN_VBITS ||
		    (nlens & LEN_VMASK) > sizeof(R->val) ||
		    (nlens & LEN_VMASK) + (lens >> LEN_VBITS) >
			    size - sizeof(*rc) ||
		    ((uint8_t *)rc < (uint8_t *)(R + 1) &&
		     (uint8_t *)R < (uint8_t *)rc + size)) {
			shmtab__corrupt(t, "the redo entry of slot %u", i);
		} else {
			st64(&rc->lens, nlens);
			memcpy((uint8_t *)(rc + 1) + (lens >> LEN_VBITS),
			       R->val, nlens & LEN_VMASK);
			h = ld64(&R->hash);
			did = true;
		}
	} else if (R && (c & 0xff) == CLAIM_DONE) {
		h = ld64(&R->hash);
	}
	if (__atomic_load_n(&H->stripe_seq[s], __ATOMIC_RELAXED) & 1) {
		feed_note(t, h);
		__atomic_fetch_add(&H->stripe_seq[s], 1, __ATOMIC_RELEASE);
		did = true;
	}
	__atomic_compare_exchange_n(&H->slots[i].claim, &c, 0, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
	if (!did)
		return;		/* it died before it changed anything */
	st64(&H->recoveries, ld64(&H->recoveries) + 1);
	shmtab__tlog(t, 4, "%s: finished a replace in place of a dead process",
		     t->name);
}

/*
 * Writer lock just taken (wlock_pid published): wait until no slot has a
 * claim; finish the claims of dead processes once only those are left.
 * 0, or -EINTR when the interrupt hook says to give up.
 */
int inplace_drain(struct shmtab *t)
{
	struct shm_header *H = t->hdr;
	uint64_t looked = 0;
	unsigned n = 0;

	for (;;) {
		unsigned hi = __atomic_load_n(&H->slot_hi, __ATOMIC_SEQ_CST);
		bool live = false, dead = false, look = false;

		/* a claim lasts a microsecond: ask whether its process is
		 * alive only once it stayed a while, and then once a ms */
		if (n >= 64 && now_ns() - looked >= 1000000) {
			look = true;
			looked = now_ns();
		}
		for (unsigned i = 0; i < hi && i < NSLOTS; i++) {
			uint64_t c = __atomic_load_n(&H->slots[i].claim,
						     __ATOMIC_SEQ_CST);

			if (!c || (int)i == t->slot)
				continue;
			if (look && slot_dead(t, i, ld32(&H->slots[i].pid)))
				dead = true;
			else
				live = true;
		}
		if (!live && !dead)
			return 0;
		if (!live) {
			/* only dead claims are left: nobody owns a stripe.
			 * Their records may lie past our mapping. */
			map_refresh(t);
			for (unsigned i = 0; i < hi && i < NSLOTS; i++) {
				uint64_t c = __atomic_load_n(&H->slots[i].claim,
							     __ATOMIC_SEQ_CST);

				if (c && (int)i != t->slot &&
				    slot_dead(t, i, ld32(&H->slots[i].pid)))
					claim_finish(t, i, c);
			}
			continue;
		}
		if (n >= 256 && lock_interrupted())
			return -EINTR;
		lock_backoff(&n);
	}
}

/* First opener: nobody else has the table open; finish what dead
 * processes left half done before their slots are wiped. */
void inplace_reset(struct shmtab *t)
{
	struct shm_header *H = t->hdr;

	for (unsigned i = 0; i < NSLOTS; i++) {
		uint64_t c = ld64(&H->slots[i].claim);

		if (c)
			claim_finish(t, i, c);
	}
}

/*
 * After INPLACE_BUSY: wait a little for the writer lock's holder (a step
 * holds it for a microsecond or so) and the stripe's.  A replace that took
 * the writer lock's path instead would hold it in turn, and a process
 * replacing in place would then meet it at its next replace, and so on:
 * two processes would stay on that path for good.  false: it takes too
 * long, take the writer lock's path.
 */
bool inplace_wait(struct shmtab *t, uint64_t h)
{
	struct shm_header *H = t->hdr;
	unsigned s = hash_stripe(h);

	for (unsigned i = 0; i < INPLACE_SPIN; i++) {
		if (!__atomic_load_n(&H->wlock_pid, __ATOMIC_RELAXED) &&
		    !(__atomic_load_n(&H->stripe_seq[s], __ATOMIC_RELAXED) & 1))
			return true;
		cpu_relax();
	}
	return false;
}
