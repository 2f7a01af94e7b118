/* SPDX-License-Identifier: MIT */
/*
 * array.c - sparse arrays (netshm's Netshm_array, as documented)
 *
 * An array is a table whose keys are int64 indexes (8 bytes little-endian)
 * and whose length is a header word, not a binding.  An index in
 * [0, length) that has no binding reads as the default kept in the schema.
 *
 * Shrinking publishes the new length and a "stale from" mark in one step,
 * then removes the elements past the end in further steps, all inside one
 * group; the mark is cleared last.  A writer that dies half-way leaves the
 * mark, and the next resize removes what is left before it grows the array
 * again, so an element dropped by a shrink never comes back.
 */
#include <stdlib.h>

#include "shmtab-private.h"

static int array_sync(struct shmtab *t)
{
	int err;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	err = schema_sync(t);
	if (err < 0)
		return err;
	return t->sc.kind == KIND_ARRAY ? 0 : -EINVAL;
}

SHMTAB_EXPORT long long shmtab_array_length(shmtab *t)
{
	int err = array_sync(t);
	uint64_t len;

	if (err < 0)
		return err;
	len = ld64(&t->hdr->arr_len);
	if (len > INT64_MAX)
		return shmtab__corrupt(t, "array length %llu",
				       (unsigned long long)len);
	return (long long)len;
}

SHMTAB_EXPORT int shmtab_array_get(shmtab *t, int64_t i, void **val,
				   size_t *vlen)
{
	uint8_t key[8];
	int err;

	if (!val || !vlen)
		return -EINVAL;
	*val = NULL;
	err = array_sync(t);
	if (err < 0)
		return err;
	if (i < 0)
		return -EINVAL;
	memcpy(key, &i, 8);
	err = table_lookup_index(t, key, 8, (uint64_t)i, val, vlen);
	if (err != -ENOENT)
		return err;
	*val = malloc(t->sc.dlen ? t->sc.dlen : 1);
	if (!*val)
		return -ENOMEM;
	memcpy(*val, t->sc.dflt, t->sc.dlen);
	*vlen = t->sc.dlen;
	return 0;
}

SHMTAB_EXPORT int shmtab_array_set(shmtab *t, int64_t i, const void *val,
				   size_t vlen)
{
	uint8_t key[8];
	int err = array_sync(t);

	if (err < 0)
		return err;
	if (i < 0)
		return -EINVAL;
	memcpy(key, &i, 8);
	return shmtab_replace(t, key, 8, val, vlen);	/* bounds: table.c */
}

SHMTAB_EXPORT int shmtab_array_unset(shmtab *t, int64_t i)
{
	uint8_t key[8];
	uint64_t idx = (uint64_t)i;
	int err = array_sync(t);

	if (err < 0)
		return err;
	if (i < 0)
		return -EINVAL;
	memcpy(key, &i, 8);
	return table_remove(t, key, 8, &idx);
}

/* --- resize ------------------------------------------------------------ */

struct collect {
	uint64_t from;
	uint64_t *idx;
	size_t n, cap;
	int err;
};

static int collect_key(const void *key, size_t klen, void *ctx)
{
	struct collect *c = ctx;
	uint64_t i;

	if (klen != 8)
		return 0;
	i = le64(key);
	if (i < c->from)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		uint64_t *p = realloc(c->idx, cap * sizeof(*p));

		if (!p) {
			c->err = -ENOMEM;
			return 1;
		}
		c->idx = p;
		c->cap = cap;
	}
	c->idx[c->n++] = i;
	return 0;
}

static int drop_index(struct shmtab *t, uint64_t i)
{
	uint8_t key[8];
	int err;

	memcpy(key, &i, 8);
	while ((err = shmtab_mem(t, key, 8)) == 1) {
		err = shmtab_remove(t, key, 8);
		if (err < 0)
			return err;
	}
	return err;
}

/* Remove every element at index >= from (below upper, when the caller
 * knows that none is above it). */
static int drop_from(struct shmtab *t, uint64_t from, uint64_t upper)
{
	struct collect c = { .from = from };
	uint64_t keys = ld64(&t->hdr->nkeys);
	int err;

	if (keys > t->mapped / 32)	/* a scribbled count */
		keys = t->mapped / 32;
	if (upper != UINT64_MAX && upper - from <= 2 * keys + 64) {
		for (uint64_t i = from; i < upper; i++) {
			err = drop_index(t, i);
			if (err < 0)
				return err;
		}
		return 0;
	}
	err = shmtab_iter_keys(t, collect_key, &c);
	if (c.err)
		err = c.err;
	else if (err > 0)
		err = -EIO;		/* collect_key stops only on error */
	for (size_t k = 0; k < c.n && !err; k++)
		err = drop_index(t, c.idx[k]);
	free(c.idx);
	return err;
}

/* Publish len and stale (0: none; else 1 + the first stale index). */
static int set_words(struct shmtab *t, uint64_t len, uint64_t stale)
{
	struct shm_header *H = t->hdr;
	bool changed;
	int err = step_begin(t, ALL_STRIPES);

	if (err < 0)
		return err;
	changed = ld64(&H->arr_len) != len;
	if (changed)
		ustore(t, HOFF(arr_len), len);
	if (ld64(&H->arr_stale) != stale)
		ustore(t, HOFF(arr_stale), stale);
	step_end(t, 0, changed);
	return 0;
}

static int resize_to(struct shmtab *t, uint64_t n)
{
	struct shm_header *H = t->hdr;
	uint64_t len, stale, upper = UINT64_MAX;
	int err;

	/* the first step takes the writer lock, which the group keeps; the
	 * words are read only once it is held */
	err = step_begin(t, ALL_STRIPES);
	if (err < 0)
		return err;
	step_end(t, 0, false);
	len = ld64(&H->arr_len);
	stale = ld64(&H->arr_stale);
	if (n < len) {
		if (!stale) {
			upper = len;
			stale = n + 1;
		} else if (stale - 1 > n) {
			stale = n + 1;
		}
		err = set_words(t, n, stale);
		if (err < 0)
			return err;
	}
	if (stale) {
		err = drop_from(t, stale - 1, upper);
		if (err < 0)
			return err;
		err = set_words(t, ld64(&H->arr_len), 0);
		if (err < 0)
			return err;
	}
	if (n > len)
		err = set_words(t, n, 0);
	return err;
}

struct resize_ctx {
	uint64_t n;
	bool init;
};

static int resize_group(shmtab *t, void *ctx)
{
	struct resize_ctx *r = ctx;
	int err = 0;

	if (r->init)
		err = resize_to(t, 0);
	return err ? err : resize_to(t, r->n);
}

static int resize(struct shmtab *t, int64_t n, bool init)
{
	struct resize_ctx r = { (uint64_t)n, init };
	int err = array_sync(t);

	if (err < 0)
		return err;
	if (n < 0)
		return -EINVAL;
	err = write_check(t);
	if (err < 0)
		return err;
	for (int tries = 0;; tries++) {
		err = shmtab_group(t, resize_group, &r);
		if (err != -EDEADLK || tries > 100 || t->group_depth)
			return err;
	}
}

SHMTAB_EXPORT int shmtab_array_resize(shmtab *t, int64_t n)
{
	return resize(t, n, false);
}

SHMTAB_EXPORT int shmtab_array_init(shmtab *t, int64_t n)
{
	return resize(t, n, true);
}
