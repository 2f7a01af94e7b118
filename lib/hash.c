/* SPDX-License-Identifier: MIT */
/*
 * hash.c - the key hash and the index
 *
 * The index is one open-addressing array of one-word cells (the top 24
 * bits of the key's hash, the newest binding's offset), probed linearly
 * from the key's home, the top log2(cells) bits of its hash.  A cell is
 * never emptied: removing a key's last binding leaves a tombstone, so a
 * reader that stops at an empty cell is right even while writers of other
 * stripes fill cells around it.  Tombstones go when the index is rebuilt.
 *
 * Rebuilding is incremental, so that no write waits for a whole copy (the
 * first touch of fresh pages alone costs about 7 us per 4 KiB here): when
 * 0.7 of the live index is used, a new one for twice the keys is allocated,
 * and each later write step first does a bounded slice of the work: zero
 * MIG_CLEAR of its cells, or, once it is zeroed, copy MIG_COPY cells of the
 * live index into it.  Meanwhile the live index stays complete and current,
 * so readers never look at the new one: every change to a cell that was
 * already copied is mirrored into the new index (cell_set_off, cell_claim).
 * When the last cell is copied, index_off swings to the new index inside an
 * odd index_seq and the old one is freed.  Every store goes through the
 * undo log, and zeroing is idempotent, so a crash at any point leaves
 * either state.
 */
#include "shmtab-private.h"

#define K0 0xa0761d6478bd642fULL
#define K1 0xe7037ed1a0b428dbULL
#define K2 0x8ebc6af09c88c6e3ULL
#define K3 0x589965cc75374cc3ULL

static inline uint64_t mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

uint64_t hash_bytes(uint64_t seed, const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = seed ^ mix(len ^ K0, K1);
	uint64_t a = 0, b = 0;
	size_t n = len;

	while (n > 16) {
		h = mix(rd64(p) ^ K1, rd64(p + 8) ^ h);
		p += 16;
		n -= 16;
	}
	if (n >= 8) {
		a = rd64(p);
		b = rd64(p + n - 8);
	} else if (n >= 4) {
		a = rd32(p);
		b = rd32(p + n - 4);
	} else if (n > 0) {
		a = (uint64_t)p[0] << 16 | (uint64_t)p[n >> 1] << 8 | p[n - 1];
	}
	h = mix(a ^ K2, b ^ h);
	h = mix(h ^ K3, (uint64_t)len ^ K0);
	/* a cell keeps the top bits: they are never all zero */
	return h >> OFF_BITS ? h : h | (uint64_t)1 << OFF_BITS;
}

uint64_t hash_key(struct shmtab *t, const void *key, size_t klen)
{
	return hash_bytes(t->seed, key, klen);
}

SHMTAB_EXPORT uint64_t shmtab_key_hash(shmtab *t, const void *key,
				       size_t klen)
{
	return t ? feed_hash(hash_key(t, key, klen)) : 0;
}

/* Index cells for about keys live keys at a load of at most 1/2. */
uint64_t hash_cells_for(uint64_t keys)
{
	uint64_t c = 16;

	while (c < keys * 2 && c < ((uint64_t)1 << 40))
		c <<= 1;
	return c;
}

/* The cells of an index chunk of cnt cells at off, or NULL when the
 * header words say otherwise. */
static cell_t *index_at(struct shmtab *t, uint64_t off, uint64_t cnt)
{
	struct chunk *c;

	if (cnt < 16 || (cnt & (cnt - 1)) || cnt > ((uint64_t)1 << 40))
		return NULL;
	c = map_span(t, off, cnt * sizeof(cell_t));
	if (!c || off % 8 || chunk_kind(c) != CHUNK_INDEX ||
	    ld64(&c->lens) != cnt)
		return NULL;
	return (cell_t *)c;
}

int hash_index(struct shmtab *t, cell_t **cells, uint64_t *n)
{
	uint64_t off = ld64(&t->hdr->index_off);
	uint64_t cnt = ld64(&t->hdr->index_cells);

	*cells = index_at(t, off, cnt);
	if (!*cells)
		return shmtab__corrupt(t, "index of %llu cells at %llu is bad",
				       (unsigned long long)cnt,
				       (unsigned long long)off);
	*n = cnt;
	return 0;
}

/*
 * Find key.  Every step is bounded by the cell count; every offset read is
 * checked.  Safe under a lock and as an optimistic reader (then a bad answer
 * is discarded by the caller's validation).
 */
static int lookup_once(struct shmtab *t, uint64_t h, const void *key,
		       size_t klen, struct lookup *lk)
{
	cell_t *cells;
	uint64_t n, i, step;
	int err;

	lk->cell = lk->insert = lk->rec = 0;
	err = hash_index(t, &cells, &n);
	if (err < 0)
		return err;
	i = hash_home(h, n);
	for (step = 0; step < n; step++, i = (i + 1) & (n - 1)) {
		cell_t *c = &cells[i];
		uint64_t v = ld64(c);
		uint64_t off;

		if (v == 0) {
			if (!lk->insert)
				lk->insert = (uint64_t)((uint8_t *)c - t->base);
			return 0;
		}
		off = cell_off(v);
		if (off == 0) {
			/* a tombstone: reusable, and the key may lie further */
			if (!lk->insert)
				lk->insert = (uint64_t)((uint8_t *)c - t->base);
			continue;
		}
		if (!cell_match(v, h))
			continue;
		if (off < t->mapped) {
			/* the record's lines, fetched together rather than
			 * one miss after another as the key compare and the
			 * value copy reach them */
			__builtin_prefetch(t->base + off + 64);
			__builtin_prefetch(t->base + off + 128);
		}
		struct rview rv;

		if (!map_rec_view(t, off, &rv))
			return shmtab__corrupt(t, "cell points to %llu",
					       (unsigned long long)off);
		if (rec_key_equal(&rv, key, klen)) {
			lk->cell = (uint64_t)((uint8_t *)c - t->base);
			lk->rec = off;
			return 0;
		}
	}
	/* a full index is never made; treat it as damage */
	return lk->insert ? 0 : shmtab__corrupt(t, "index has no free cell");
}


/*
 * Lookups outside the writer lock (optimistic readers, and readers that hold
 * a stripe's read lock) can meet another stripe's writer swapping the index
 * or growing the object: repeat the lookup when index_seq moved, and when an
 * offset left a mapping that is now stale.  Bounded; callers validate too.
 */
int hash_lookup(struct shmtab *t, uint64_t h, const void *key, size_t klen,
		struct lookup *lk)
{
	struct shm_header *H = t->hdr;
	int quiet = t->quiet, err = 0;

	t->quiet = 1;		/* a retried lookup is no damage */
	for (int tries = 0;; tries++) {
		uint64_t iseq = __atomic_load_n(&H->index_seq, __ATOMIC_ACQUIRE);

		if ((iseq & 1) && !t->wl_held && tries < 1000) {
			cpu_relax();
			continue;
		}
		err = lookup_once(t, h, key, klen, lk);
		if (tries >= 1000)
			break;		/* the callers validate what we give */
		if (!t->wl_held) {
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&H->index_seq, __ATOMIC_RELAXED) !=
			    iseq)
				continue;
			if (err == -EBADMSG && ld64(&H->size) != t->mapped &&
			    map_refresh(t) == 0)
				continue;
		}
		break;
	}
	t->quiet = quiet;
	if (err == -EBADMSG && !quiet)
		err = shmtab__corrupt(t, "lookup of a %zu-byte key", klen);
	return err;
}

#define MIG_CLEAR 4096			/* cells zeroed per step */
#define MIG_COPY 12			/* cells copied per step */

static cell_t *mig_cells_ptr(struct shmtab *t, uint64_t *n)
{
	*n = ld64(&t->hdr->mig_cells);
	return index_at(t, ld64(&t->hdr->mig_off), *n);
}

/*
 * The hash bits of live cell v that place it in an index of n cells: the
 * cell's own top bits while they are enough, else its key's hash.  The
 * test tests/unit/t-table-rehash lowers the bound, to run the second path
 * (indexes over 2^24 cells) on small tables.
 */
#ifndef SHMTAB_TAG_HOME_BITS
#define SHMTAB_TAG_HOME_BITS CELL_TAG_BITS
#endif
_Static_assert(SHMTAB_TAG_HOME_BITS <= CELL_TAG_BITS, "tag bits");

static int cell_hash(struct shmtab *t, uint64_t v, uint64_t n, uint64_t *h)
{
	struct rview rv;

	if ((unsigned)__builtin_ctzll(n) <= SHMTAB_TAG_HOME_BITS) {
		*h = v & ~CELL_OFF_MASK;
		return 0;
	}
	if (!map_rec_view(t, cell_off(v), &rv))
		return shmtab__corrupt(t, "cell points to %llu",
				       (unsigned long long)cell_off(v));
	*h = hash_key(t, rv.key, rv.klen);
	if (!cell_match(v, *h))
		return shmtab__corrupt(t, "a cell has the wrong key");
	return 0;
}

/* Put cell word v (hash h) in the first free or dead cell of its probe
 * path in nw. */
static int mig_insert(struct shmtab *t, cell_t *nw, uint64_t n, uint64_t h,
		      uint64_t v)
{
	uint64_t j = hash_home(h, n);

	for (uint64_t step = 0; step < n; step++, j = (j + 1) & (n - 1)) {
		uint64_t w = ld64(&nw[j]);

		if (cell_off(w))
			continue;
		if (!w)
			ustore(t, HOFF(mig_used), ld64(&t->hdr->mig_used) + 1);
		ustore(t, (uint64_t)((uint8_t *)&nw[j] - t->base), v);
		return 0;
	}
	return shmtab__corrupt(t, "the new index is full");
}

/* A cell of the live index changed: repeat it in the new one if copied. */
static int mig_mirror(struct shmtab *t, uint64_t cell, uint64_t h,
		      uint64_t old_off, uint64_t new_off)
{
	struct shm_header *H = t->hdr;
	uint64_t n, i, j, old;
	cell_t *nw;

	if (!ld64(&H->mig_off) || ld64(&H->mig_clear) < ld64(&H->mig_cells))
		return 0;
	i = (cell - ld64(&H->index_off)) / sizeof(cell_t);
	if (i >= ld64(&H->mig_pos))
		return 0;
	nw = mig_cells_ptr(t, &n);
	if (!nw)
		return shmtab__corrupt(t, "the new index is bad");
	if (!old_off)
		return new_off ? mig_insert(t, nw, n, h, cell_make(h, new_off))
			       : 0;
	old = cell_make(h, old_off);
	j = hash_home(h, n);
	for (uint64_t step = 0; step < n; step++, j = (j + 1) & (n - 1)) {
		uint64_t w = ld64(&nw[j]);

		if (!w)
			break;
		if (w == old) {
			ustore(t, (uint64_t)((uint8_t *)&nw[j] - t->base),
			       cell_make(h, new_off));
			return 0;
		}
	}
	return shmtab__corrupt(t, "a copied cell is missing");
}

/* The newest binding of the key (hash h) in cell changes from old_off to
 * new_off (0: a tombstone). */
int cell_set_off(struct shmtab *t, uint64_t cell, uint64_t h,
		 uint64_t old_off, uint64_t new_off)
{
	if (!map_span(t, cell, sizeof(cell_t)) || cell % 8)
		return shmtab__corrupt(t, "cell %llu", (unsigned long long)cell);
	ustore(t, cell, cell_make(h, new_off));
	return mig_mirror(t, cell, h, old_off, new_off);
}

/* A new key takes a free or dead cell. */
int cell_claim(struct shmtab *t, uint64_t cell, uint64_t h, uint64_t off)
{
	cell_t *c = map_span(t, cell, sizeof(*c));

	if (!c || cell % 8)
		return shmtab__corrupt(t, "cell %llu", (unsigned long long)cell);
	if (!ld64(c))
		ustore(t, HOFF(nused), ld64(&t->hdr->nused) + 1);
	ustore(t, cell, cell_make(h, off));
	return mig_mirror(t, cell, h, 0, off);
}

/* Begin a rebuild, once the object has room for the new index. */
static int mig_start(struct shmtab *t)
{
	struct shm_header *H = t->hdr;
	uint64_t cells = hash_cells_for(ld64(&H->nkeys) + 1);
	uint64_t need, off, top, size = ld64(&H->size);
	uint64_t cur = ld64(&H->index_cells);
	struct chunk *c;
	unsigned cls;
	int err;

	/* nkeys may have been scribbled on: never more cells than four
	 * times the index's, nor than the heap's records would need (a
	 * record takes at least a chunk header) */
	if (cells > cur * 4)
		cells = cur * 4;
	top = ld64(&H->top);
	if (top >= HDR_SIZE &&
	    cells > hash_cells_for((top - HDR_SIZE) / sizeof(*c) + 1))
		cells = hash_cells_for((top - HDR_SIZE) / sizeof(*c) + 1);
	if (cells < 16)
		cells = 16;
	cls = size_class(cells * sizeof(cell_t));
	need = class_size(cls);
	if (ld64(&H->top) + need > size && !ld64(&H->free_head[cls])) {
		/* make room a step at a time; start on a later write */
		uint64_t want = ld64(&H->top) + need;

		return map_grow(t, want - size > GROW_MAX ? size + GROW_MAX
							   : want);
	}
	err = chunk_alloc(t, cells * sizeof(cell_t),
			  CHUNK_INDEX, &off);
	if (err < 0)
		return err;
	c = map_chunk(t, off);
	if (!c)
		return -EBADMSG;
	st64(&c->lens, cells);
	ustore(t, HOFF(mig_cells), cells);
	ustore(t, HOFF(mig_clear), CELL_FIRST);
	ustore(t, HOFF(mig_pos), CELL_FIRST);
	ustore(t, HOFF(mig_used), 0);
	ustore(t, HOFF(mig_off), off);
	return 0;
}

/* One bounded slice of a rebuild; the caller commits after it. */
static int mig_step(struct shmtab *t)
{
	struct shm_header *H = t->hdr;
	uint64_t n, nold, clear, pos, end, oldoff;
	cell_t *nw, *old;
	int err;

	nw = mig_cells_ptr(t, &n);
	if (!nw)
		return shmtab__corrupt(t, "the new index is bad");
	clear = ld64(&H->mig_clear);
	if (clear < CELL_FIRST)
		return shmtab__corrupt(t, "the new index is bad");
	if (clear < n) {
		uint64_t k = n - clear < MIG_CLEAR ? n - clear : MIG_CLEAR;

		map_prefault(t, nw + clear, k * sizeof(cell_t));
		memset(nw + clear, 0, k * sizeof(cell_t));
		ustore(t, HOFF(mig_clear), clear + k);
		return 0;
	}
	err = hash_index(t, &old, &nold);
	if (err < 0)
		return err;
	pos = ld64(&H->mig_pos);
	if (pos < CELL_FIRST || pos > nold)
		return shmtab__corrupt(t, "the index rebuild is at %llu",
				       (unsigned long long)pos);
	end = nold - pos < MIG_COPY ? nold : pos + MIG_COPY;
	for (uint64_t i = pos; i < end; i++) {
		uint64_t v = ld64(&old[i]), h = 0;

		if (!cell_off(v))
			continue;
		err = cell_hash(t, v, n, &h);
		if (!err)
			err = mig_insert(t, nw, n, h, v);
		if (err < 0)
			return err;
	}
	ustore(t, HOFF(mig_pos), end);
	if (end < nold)
		return 0;
	/* the last slice: make the new index the live one */
	oldoff = ld64(&H->index_off);
	__atomic_fetch_add(&H->index_seq, 1, __ATOMIC_SEQ_CST);
	ustore(t, HOFF(index_off), ld64(&H->mig_off));
	ustore(t, HOFF(index_cells), n);
	ustore(t, HOFF(nused), ld64(&H->mig_used));
	ustore(t, HOFF(mig_off), 0);
	err = chunk_free(t, oldoff);
	__atomic_fetch_add(&H->index_seq, 1, __ATOMIC_RELEASE);
	return err;
}

/*
 * At the start of a write step, writer lock held: advance a rebuild by one
 * slice, or start one when 0.7 of the index is used; finish at once if it is
 * nearly full (only when writes outran the rebuild, or space was short).
 * Every slice commits on its own.
 */
int hash_maintain(struct shmtab *t)
{
	struct shm_header *H = t->hdr;
	uint64_t cells = ld64(&H->index_cells), used = ld64(&H->nused);
	int err = 0;

	if (ld64(&H->mig_off)) {
		err = mig_step(t);
	} else if ((used + 1) * 10 > cells * 7) {
		/* at 0.7 a rebuild to about twice the keys (hash_cells_for)
		 * finishes, at MIG_COPY cells a write, before 0.875 */
		err = mig_start(t);
	}
	if (err < 0)
		return err;
	undo_commit(t);
	while (ld64(&H->mig_off) && (ld64(&H->nused) + 2) * 8 > cells * 7) {
		err = mig_step(t);
		if (err < 0)
			return err;
		undo_commit(t);
	}
	if (!ld64(&H->mig_off) && (ld64(&H->nused) + 2) * 8 > cells * 7) {
		/* no room to rebuild gradually: the last resort */
		for (int i = 0; !err && !ld64(&H->mig_off) && i < 4096; i++) {
			err = mig_start(t);
			undo_commit(t);
		}
		while (err == 0 && ld64(&H->mig_off)) {
			err = mig_step(t);
			undo_commit(t);
		}
	}
	return err;
}
