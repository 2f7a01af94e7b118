/* SPDX-License-Identifier: MIT */
/*
 * check.c - shmtab_check: is the structure whole?
 *
 * Constant memory, linear time (TDB's idea): walk the heap once, folding
 * the offset of every binding record and every free chunk into a
 * fingerprint (count, sum and xor of a mix of the offsets); then walk the
 * index and the free lists and fold what they reach the same way.  Every
 * record must be reached exactly once from the index and every free chunk
 * exactly once from its class's list, every limbo chunk (pin.c) exactly
 * once from the limbo list: the fingerprints must match.  On a
 * read-write handle the check holds a read lock on every stripe, so it is
 * safe on a live table (writers wait, readers do not).
 */
#include <stdlib.h>

#include "shmtab-private.h"

struct fp {
	uint64_t n, sum, x;
};

static void fp_add(struct fp *f, uint64_t off)
{
	f->n++;
	f->sum += off;
	f->x ^= hash_bytes(0x5eed, &off, sizeof(off));
}

static bool fp_eq(const struct fp *a, const struct fp *b)
{
	return a->n == b->n && a->sum == b->sum && a->x == b->x;
}

/* A key of a typed table must decode; an array's index lie below the
 * length (or past the mark of a shrink not finished). */
static int check_typed_key(struct shmtab *t, const struct rview *v)
{
	uint64_t stale = ld64(&t->hdr->arr_stale), i;

	if (!t->sc.kn)
		return 0;
	if (type_validate(t->sc.k, t->sc.kn, v->key, v->klen))
		return shmtab__corrupt(t, "a key is not a valid %s",
				       t->sc.kname);
	if (t->sc.kind != KIND_ARRAY)
		return 0;
	i = le64(v->key);
	if (i >= ld64(&t->hdr->arr_len) && !(stale && i >= stale - 1))
		return shmtab__corrupt(t, "element %llu is past the length %llu",
				       (unsigned long long)i,
				       (unsigned long long)ld64(&t->hdr->arr_len));
	return 0;
}

/* Fold the chunks of the list from head into f: each of kind (and of
 * class cls, unless 0), below top, at most limit + 1 of them. */
static int walk_list(struct shmtab *t, uint64_t head, uint32_t kind,
		     unsigned cls, uint64_t limit, struct fp *f)
{
	uint64_t top = ld64(&t->hdr->top), steps = 0;

	for (uint64_t off = head; off; steps++) {
		struct cview cv;

		if (!map_chunk_snap(t, off, &cv) || off >= top ||
		    steps > limit || cv.kind != kind || (cls && cv.cls != cls))
			return shmtab__corrupt(t, "%s list %u at %llu",
					       kind == CHUNK_FREE ? "free" :
								    "limbo",
					       cls, (unsigned long long)off);
		fp_add(f, off);
		off = cv.next;
	}
	return 0;
}

/* The chunks of one kind in the heap against those on its lists, and
 * their bytes against the header's count. */
static int tally(struct shmtab *t, const char *what, const struct fp *heap,
		 const struct fp *listed, uint64_t bytes, uint64_t said)
{
	if (!fp_eq(listed, heap))
		return shmtab__corrupt(t, "%llu %s chunks, %llu on lists",
				       (unsigned long long)heap->n, what,
				       (unsigned long long)listed->n);
	if (bytes != said)
		return shmtab__corrupt(t, "%s bytes %llu, header says %llu",
				       what, (unsigned long long)bytes,
				       (unsigned long long)said);
	return 0;
}

int check_locked(struct shmtab *t)
{
	struct shm_header *H = t->hdr;
	struct fp heap_rec = { 0 }, heap_free = { 0 }, idx = { 0 }, fl = { 0 };
	struct fp heap_limbo = { 0 }, ll = { 0 };
	uint64_t top = ld64(&H->top), off, free_bytes = 0, limbo_bytes = 0;
	uint64_t keys = 0, used = 0, bindings = 0, n;
	unsigned index_chunks = 0, redo_chunks = 0;
	cell_t *cells;
	int err;

	err = map_refresh(t);
	if (err < 0)
		return err;
	if (top < HDR_SIZE || top > t->mapped || top % 8)
		return shmtab__corrupt(t, "top %llu", (unsigned long long)top);
	if (ld32(&H->undo_n) && !t->wl_held)
		return shmtab__corrupt(t, "an interrupted step is not undone");
	err = schema_sync(t);
	if (err < 0)
		return err;
	err = hash_index(t, &cells, &n);
	if (err < 0)
		return err;

	for (off = HDR_SIZE; off < top;) {
		struct cview cv;
		uint64_t size;

		if (!map_chunk_snap(t, off, &cv))
			return shmtab__corrupt(t, "chunk at %llu",
					       (unsigned long long)off);
		size = cv.size;
		if (size > top - off)
			return shmtab__corrupt(t, "chunk at %llu passes top",
					       (unsigned long long)off);
		switch (cv.kind) {
		case CHUNK_REC:
			if (!map_rec(t, off))
				return shmtab__corrupt(t, "record at %llu "
						       "overflows its chunk",
						       (unsigned long long)off);
			fp_add(&heap_rec, off);
			break;
		case CHUNK_FREE:
			fp_add(&heap_free, off);
			free_bytes += size;
			break;
		case CHUNK_LIMBO:
			fp_add(&heap_limbo, off);
			limbo_bytes += size;
			break;
		case CHUNK_REDO:
			if (off != ld64(&H->redo_off) || redo_chunks++)
				return shmtab__corrupt(t, "stray redo chunk "
						       "at %llu",
						       (unsigned long long)off);
			break;
		case CHUNK_INDEX:
			if (off == ld64(&H->index_off))
				index_chunks++;
			else if (off == ld64(&H->mig_off))
				break;	/* being built (hash.c) */
			else
				return shmtab__corrupt(t, "stray index at %llu",
						       (unsigned long long)off);
			break;
		default:
			return shmtab__corrupt(t, "unknown chunk at %llu",
					       (unsigned long long)off);
		}
		off += size;
	}
	if (index_chunks != 1)
		return shmtab__corrupt(t, "the index is not in the heap");
	if (ld64(&H->redo_off) && !redo_chunks)
		return shmtab__corrupt(t, "the redo chunk is not in the heap");

	for (uint64_t i = CELL_FIRST; i < n; i++) {
		uint64_t v = ld64(&cells[i]), r = cell_off(v), h;
		struct rview fv;
		uint64_t steps = 0;

		if (!v)
			continue;
		used++;
		if (!r)
			continue;
		keys++;
		if (!map_rec_view(t, r, &fv))
			return shmtab__corrupt(t, "cell %llu points to %llu",
					       (unsigned long long)i,
					       (unsigned long long)r);
		h = hash_key(t, fv.key, fv.klen);
		if (!cell_match(v, h))
			return shmtab__corrupt(t, "cell %llu has the wrong key",
					       (unsigned long long)i);
		/* findable: no empty cell between its home and its place */
		for (uint64_t j = hash_home(h, n); j != i; j = (j + 1) & (n - 1))
			if (!ld64(&cells[j]))
				return shmtab__corrupt(t, "cell %llu is not "
						       "reachable",
						       (unsigned long long)i);
		err = check_typed_key(t, &fv);
		if (err < 0)
			return err;
		for (; r; steps++) {
			struct rview rv;
			struct chunk *c = map_rec_view(t, r, &rv);

			if (!c || steps > heap_rec.n ||
			    !rec_key_equal(&rv, fv.key, fv.klen))
				return shmtab__corrupt(t, "chain of cell %llu "
						       "at %llu",
						       (unsigned long long)i,
						       (unsigned long long)r);
			if (t->sc.vn && type_validate(t->sc.v, t->sc.vn,
						      rv.val, rv.vlen))
				return shmtab__corrupt(t, "the value at %llu is "
						       "not a valid %s",
						       (unsigned long long)r,
						       t->sc.vname);
			fp_add(&idx, r);
			bindings++;
			r = chunk_next(c);
		}
	}
	if (!fp_eq(&idx, &heap_rec))
		return shmtab__corrupt(t, "%llu records in the heap, %llu "
				       "reached (or reached twice)",
				       (unsigned long long)heap_rec.n,
				       (unsigned long long)idx.n);
	if (bindings != ld64(&H->nbindings) || keys != ld64(&H->nkeys) ||
	    used != ld64(&H->nused))
		return shmtab__corrupt(t, "counts: %llu bindings %llu keys "
				       "%llu cells, header says %llu %llu %llu",
				       (unsigned long long)bindings,
				       (unsigned long long)keys,
				       (unsigned long long)used,
				       (unsigned long long)ld64(&H->nbindings),
				       (unsigned long long)ld64(&H->nkeys),
				       (unsigned long long)ld64(&H->nused));

	err = 0;
	for (unsigned cls = 1; cls < NCLASSES && !err; cls++)
		err = walk_list(t, ld64(&H->free_head[cls]), CHUNK_FREE, cls,
				heap_free.n, &fl);
	if (!err)
		err = tally(t, "free", &heap_free, &fl, free_bytes,
			    ld64(&H->free_bytes));
	if (!err)
		err = walk_list(t, ld64(&H->limbo_head), CHUNK_LIMBO, 0,
				heap_limbo.n, &ll);
	if (!err)
		err = tally(t, "limbo", &heap_limbo, &ll, limbo_bytes,
			    ld64(&H->limbo_bytes));
	return err;
}

SHMTAB_EXPORT int shmtab_check(shmtab *t)
{
	bool taken = false;
	int err;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	if (t->rdonly && !lock_covers(t, ALL_STRIPES)) {
		/* no lock: accept a result only when no change overlapped */
		for (int i = 0; i < 100; i++) {
			uint64_t c = shmtab_counter(t);

			t->quiet = 1;
			err = check_locked(t);
			t->quiet = 0;
			/* a replace in place (inplace.c) that overlapped
			 * is over, and counted, or still shows its stripe */
			if (shmtab_counter(t) == c &&
			    !(ld32(&t->hdr->undo_n)) &&
			    lock_stripes_clear(t, ALL_STRIPES))
				return err ? check_locked(t) : 0;
		}
		return -EAGAIN;
	}
	err = lock_read(t, ALL_STRIPES, &taken);
	if (err < 0)
		return err;
	err = check_locked(t);
	lock_read_release(t, ALL_STRIPES, taken);
	return err;
}

/* --- salvage ---------------------------------------------------------- */

/*
 * seen[] covers the mapping as it was when salvage began (lim bytes): the
 * visitor may read the table, which maps more of it when another process
 * grew it; a record past lim is never marked, and the heap walk stops at
 * lim (what lies beyond was not there when the walk began).
 */
static bool seen_test(const uint8_t *seen, uint64_t lim, uint64_t off)
{
	return off < lim && (seen[off / 8 / 8] >> (off / 8 % 8) & 1);
}

static void seen_set(uint8_t *seen, uint64_t lim, uint64_t off)
{
	if (off < lim)
		seen[off / 8 / 8] |= (uint8_t)(1u << (off / 8 % 8));
}

static int salvage_locked(struct shmtab *t, shmtab_salvage_fn *fn, void *ctx)
{
	uint64_t lim = t->mapped, n = 0;
	uint8_t *seen = calloc(lim / 64 + 1, 1);
	cell_t *cells = NULL;
	int r = 0;

	if (!seen)
		return -ENOMEM;
	if (hash_index(t, &cells, &n) < 0)
		n = 0;		/* a damaged index: everything is an orphan */
	for (uint64_t i = CELL_FIRST; i < n && !r; i++) {
		uint64_t v = ld64(&cells[i]), off = cell_off(v), h;
		struct rview fv;

		if (!off || !map_rec_view(t, off, &fv))
			continue;
		h = hash_key(t, fv.key, fv.klen);
		if (!cell_match(v, h))
			continue;
		for (uint64_t steps = 0; off && !r && steps < chain_limit(t);
		     steps++) {
			struct rview rv;
			struct chunk *c = map_rec_view(t, off, &rv);

			if (!c || seen_test(seen, lim, off) ||
			    !rec_key_equal(&rv, fv.key, fv.klen))
				break;
			seen_set(seen, lim, off);
			r = fn(rv.key, rv.klen, rv.val, rv.vlen,
			       SHMTAB_SALVAGE_INDEXED, ctx);
			off = chunk_next(c);
		}
	}
	/* the heap, whether or not its sizes still chain: step over whole
	 * records, else try every 8 bytes */
	for (uint64_t off = HDR_SIZE; off + sizeof(struct chunk) <= lim &&
				      !r;) {
		struct cview cv;
		struct rview rv;
		uint32_t magic = map_chunk_snap(t, off, &cv) ? cv.kind : 0;

		if (magic != CHUNK_REC && magic != CHUNK_FREE &&
		    magic != CHUNK_INDEX && magic != CHUNK_LIMBO &&
		    magic != CHUNK_REDO) {
			off += 8;
			continue;
		}
		/* a free, limbo, redo or index chunk is stepped over
		 * whole: stale bytes in it are never taken for a record */
		if (magic == CHUNK_REC && map_rec_view(t, off, &rv) &&
		    !seen_test(seen, lim, off))
			r = fn(rv.key, rv.klen, rv.val, rv.vlen,
			       SHMTAB_SALVAGE_ORPHAN, ctx);
		off += cv.size;
	}
	free(seen);
	return r;
}

SHMTAB_EXPORT int shmtab_salvage(shmtab *t, shmtab_salvage_fn *fn, void *ctx)
{
	bool taken = false;
	int err;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	if (!fn)
		return -EINVAL;
	if (!t->rdonly) {
		err = lock_read(t, ALL_STRIPES, &taken);
		if (err < 0)
			return err;
	}
	map_refresh(t);		/* a bad size keeps the mapping we have */
	t->quiet = 1;
	t->visit_depth++;
	lock_user_push(t);
	err = salvage_locked(t, fn, ctx);
	lock_user_pop(t);
	t->visit_depth--;
	t->quiet = 0;
	lock_read_release(t, ALL_STRIPES, taken);
	return err;
}
