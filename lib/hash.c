/* SPDX-License-Identifier: MIT */
/*
 * hash.c - the key hash and the index
 *
 * The index is one open-addressing array of cells (hash, newest binding),
 * probed linearly.  A cell is never emptied: removing a key's last binding
 * leaves a tombstone, so a reader that stops at an empty cell is right even
 * while writers of other stripes fill cells around it.  Tombstones go when
 * the index is rebuilt.  Rebuilding is copy-on-write: the new array is filled
 * while the old one stays valid for optimistic readers, then published by
 * the stores to index_off/index_cells inside an odd index_seq, and the old
 * array is freed.  A crash before the commit leaves the old array in place.
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
	return mix(h ^ K3, (uint64_t)len ^ K0) | 1;	/* never 0 */
}

uint64_t hash_key(struct shmtab *t, const void *key, size_t klen)
{
	return hash_bytes(t->seed, key, klen);
}

SHMTAB_EXPORT uint64_t shmtab_key_hash(shmtab *t, const void *key,
				       size_t klen)
{
	return t ? hash_key(t, key, klen) : 0;
}

/* Index cells for about keys live keys at a load of at most 1/2. */
uint64_t hash_cells_for(uint64_t keys)
{
	uint64_t c = 16;

	while (c < keys * 2 && c < ((uint64_t)1 << 40))
		c <<= 1;
	return c;
}

int hash_index(struct shmtab *t, struct cell **cells, uint64_t *n)
{
	uint64_t off = ld64(&t->hdr->index_off);
	uint64_t cnt = ld64(&t->hdr->index_cells);
	struct chunk *c;

	if (cnt < 16 || (cnt & (cnt - 1)) || cnt > ((uint64_t)1 << 40))
		return shmtab__corrupt(t, "index has %llu cells",
				       (unsigned long long)cnt);
	c = map_span(t, off, sizeof(*c) + cnt * sizeof(struct cell));
	if (!c || ld32(&c->magic) != CHUNK_INDEX || ld64(&c->vlen) != cnt)
		return shmtab__corrupt(t, "index chunk at %llu is bad",
				       (unsigned long long)off);
	*cells = (struct cell *)(c + 1);
	*n = cnt;
	return 0;
}

/*
 * Find key.  Every step is bounded by the cell count; every offset read is
 * checked.  Safe under a lock and as an optimistic reader (then a bad answer
 * is discarded by the caller's validation).
 */
int hash_lookup(struct shmtab *t, uint64_t h, const void *key, size_t klen,
		struct lookup *lk)
{
	struct cell *cells;
	uint64_t n, i, step;
	int err;

	lk->cell = lk->insert = lk->rec = 0;
	err = hash_index(t, &cells, &n);
	if (err < 0)
		return err;
	i = h & (n - 1);
	for (step = 0; step < n; step++, i = (i + 1) & (n - 1)) {
		struct cell *c = &cells[i];
		uint64_t ch = ld64(&c->hash);
		uint64_t off;

		if (ch == 0) {
			if (!lk->insert)
				lk->insert = (uint64_t)((uint8_t *)c - t->base);
			return 0;
		}
		off = ld64(&c->off);
		if (off == 0) {
			/* a tombstone: reusable, and the key may lie further */
			if (!lk->insert)
				lk->insert = (uint64_t)((uint8_t *)c - t->base);
			continue;
		}
		if (ch != h)
			continue;
		struct chunk *r = map_rec(t, off);

		if (!r)
			return shmtab__corrupt(t, "cell points to %llu",
					       (unsigned long long)off);
		err = rec_key_equal(t, r, h, key, klen);
		if (err < 0)
			return err;
		if (err) {
			lk->cell = (uint64_t)((uint8_t *)c - t->base);
			lk->rec = off;
			return 0;
		}
	}
	/* a full index is never made; treat it as damage */
	return lk->insert ? 0 : shmtab__corrupt(t, "index has no free cell");
}

/*
 * Rebuild the index with cells cells (a power of two), dropping tombstones.
 * Caller holds the writer lock with every stripe odd-marked via index_seq.
 */
int hash_resize(struct shmtab *t, uint64_t ncells)
{
	struct shm_header *H = t->hdr;
	struct cell *old, *nw;
	uint64_t nold, noff, used = 0, oldoff = ld64(&H->index_off);
	struct chunk *c;
	int err;

	err = hash_index(t, &old, &nold);
	if (err < 0)
		return err;
	if (ncells > ((uint64_t)1 << 40))
		return -ENOSPC;
	err = chunk_alloc(t, sizeof(struct chunk) + ncells * sizeof(struct cell),
			  CHUNK_INDEX, &noff);
	if (err < 0)
		return err;
	/* the grow inside chunk_alloc may have moved the mapping */
	err = hash_index(t, &old, &nold);
	if (err < 0)
		return err;
	c = map_chunk(t, noff);
	st64(&c->vlen, ncells);
	nw = (struct cell *)(c + 1);
	memset(nw, 0, ncells * sizeof(struct cell));
	for (uint64_t i = 0; i < nold; i++) {
		uint64_t h = ld64(&old[i].hash), off = ld64(&old[i].off), j;
		uint64_t step;

		if (h == 0 || off == 0)
			continue;
		j = h & (ncells - 1);
		for (step = 0; step < ncells && nw[j].hash; step++)
			j = (j + 1) & (ncells - 1);
		if (step == ncells)
			return -ENOSPC;	/* rolled back by the caller */
		nw[j].hash = h;
		nw[j].off = off;
		used++;
	}
	__atomic_fetch_add(&H->index_seq, 1, __ATOMIC_SEQ_CST);
	ustore(t, HOFF(index_off), noff);
	ustore(t, HOFF(index_cells), ncells);
	ustore(t, HOFF(nused), used);
	err = chunk_free(t, oldoff);
	__atomic_fetch_add(&H->index_seq, 1, __ATOMIC_RELEASE);
	return err;
}
