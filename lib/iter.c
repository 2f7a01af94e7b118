/* SPDX-License-Identifier: MIT */
/*
 * iter.c - iter and iter_keys
 *
 * A read-write handle read-locks every stripe for the walk: writers wait
 * until it ends, readers do not, and the visitor gets pointers into the
 * table.  A read-only handle cannot lock; it walks optimistically, copying
 * each key's bindings and validating them against the key's stripe.  If the
 * index is rebuilt under it, it starts over and skips the keys it has
 * already shown (remembered by hash), so every binding is still shown once.
 */
#include <stdlib.h>

#include "shmtab-private.h"

struct walk {
	shmtab_binding_fn *bfn;
	shmtab_key_fn *kfn;
	void *ctx;
};

static int visit_chain(struct shmtab *t, struct walk *w, uint64_t h,
		       uint64_t off)
{
	uint64_t limit = chain_limit(t), steps = 0;
	struct rview fv;
	int r = 0;

	(void)h;
	if (!map_rec_view(t, off, &fv))
		return shmtab__corrupt(t, "cell points to %llu",
				       (unsigned long long)off);
	for (; off && !r; steps++) {
		struct rview rv;
		struct chunk *c = map_rec_view(t, off, &rv);

		if (!c || steps > limit || !rec_key_equal(&rv, fv.key, fv.klen))
			return shmtab__corrupt(t, "binding chain at %llu",
					       (unsigned long long)off);
		off = chunk_next(c);
		t->visit_depth++;
		if (w->kfn)
			r = w->kfn(rv.key, rv.klen, w->ctx);
		else
			r = w->bfn(rv.key, rv.klen, rv.val, rv.vlen, w->ctx);
		t->visit_depth--;
		if (w->kfn)
			break;
	}
	return r;
}

static int walk_locked(struct shmtab *t, struct walk *w)
{
	cell_t *cells;
	uint64_t n;
	int err;

	err = map_refresh(t);
	if (err < 0)
		return err;
	err = hash_index(t, &cells, &n);
	if (err < 0)
		return err;
	for (uint64_t i = CELL_FIRST; i < n && !err; i++) {
		uint64_t v = ld64(&cells[i]);

		if (cell_off(v))
			err = visit_chain(t, w, v, cell_off(v));
	}
	return err;
}

/* A private set of 64-bit hashes (keys already shown). */
struct seen {
	uint64_t *v;
	size_t n, cap;
};

static bool seen_has(const struct seen *s, uint64_t h)
{
	if (!s->cap)
		return false;
	for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (!s->v[i])
			return false;
		if (s->v[i] == h)
			return true;
	}
}

static int seen_add(struct seen *s, uint64_t h)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct seen ns = { NULL, 0, s->cap ? s->cap * 2 : 64 };

		ns.v = calloc(ns.cap, sizeof(*ns.v));
		if (!ns.v)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i])
				seen_add(&ns, s->v[i]);
		free(s->v);
		*s = ns;
	}
	for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i] == h)
			return 0;
		if (!s->v[i]) {
			s->v[i] = h;
			s->n++;
			return 0;
		}
	}
}

/* Copies of the chain at cell i, validated; *h 0 when the cell is empty. */
static int snap_cell(struct shmtab *t, uint64_t i, uint64_t iseq,
		     uint64_t *h, uint8_t **key, size_t *klen, struct snap *s)
{
	struct reader rd;
	int err;

	*h = 0;
	for (unsigned tries = 0;; tries++) {
		cell_t *cells;
		uint64_t n, off, ch;
		struct chunk *c;
		struct rview rv;

		snap_free(s);
		free(*key);
		*key = NULL;
		*h = 0;
		memset(&rd, 0, sizeof(rd));
		err = hash_index(t, &cells, &n);
		if (err < 0)
			return err;
		if (i >= n)
			return -ESTALE;
		ch = ld64(&cells[i]);
		rd.stripe = hash_stripe(ch);
		err = read_snap(t, &rd);
		if (err < 0)
			return err;
		if (rd.iseq != iseq) {
			t->quiet = 0;
			return -ESTALE;		/* the index was rebuilt */
		}
		ch = ld64(&cells[i]);
		off = cell_off(ch);
		if (!ch || !off || hash_stripe(ch) != rd.stripe) {
			if (read_ok(t, &rd) && hash_stripe(ch) == rd.stripe) {
				t->quiet = 0;
				return 0;
			}
			goto again;
		}
		c = map_rec_view(t, off, &rv);
		if (!c)
			goto bad;
		*klen = rv.klen;
		*key = malloc(*klen ? *klen : 1);
		if (!*key) {
			t->quiet = 0;
			return -ENOMEM;
		}
		memcpy(*key, rv.key, *klen);
		if (!read_ok(t, &rd))
			goto again;
		for (uint64_t steps = 0; off; steps++) {
			c = map_rec_view(t, off, &rv);
			if (!c || steps > chain_limit(t) ||
			    !rec_key_equal(&rv, *key, *klen))
				goto bad;
			err = snap_push(s, rv.val, rv.vlen);
			if (err < 0) {
				t->quiet = 0;
				return err;
			}
			off = chunk_next(c);
			if (!read_ok(t, &rd))
				goto again;
		}
		if (read_ok(t, &rd)) {
			/* the key's whole hash: the cell word changes with
			 * the newest binding */
			*h = hash_key(t, *key, *klen);
			t->quiet = 0;
			return 0;
		}
		goto again;
bad:
		if (read_ok(t, &rd)) {
			t->quiet = 0;
			return shmtab__corrupt(t, "cell %llu",
					       (unsigned long long)i);
		}
again:
		if (tries > 100000) {
			t->quiet = 0;
			return -EAGAIN;
		}
	}
}

static int walk_optimistic(struct shmtab *t, struct walk *w)
{
	struct seen seen = { 0 };
	struct snap s = { 0 };
	uint8_t *key = NULL;
	size_t klen = 0;
	int err = 0;

	for (unsigned pass = 0; pass < 1000; pass++) {
		uint64_t iseq, n;
		cell_t *cells;

		err = map_refresh(t);
		if (err < 0)
			break;
		iseq = __atomic_load_n(&t->hdr->index_seq, __ATOMIC_ACQUIRE);
		if (iseq & 1) {
			err = lock_wait_writer(t);	/* sleeps a little */
			if (err < 0)
				break;
			err = -EAGAIN;	/* if it stays odd to the last pass */
			continue;
		}
		err = hash_index(t, &cells, &n);
		if (err < 0)
			break;
		for (uint64_t i = CELL_FIRST; i < n; i++) {
			uint64_t h;

			err = snap_cell(t, i, iseq, &h, &key, &klen, &s);
			if (err < 0)
				break;
			if (!h || seen_has(&seen, h))
				continue;
			err = seen_add(&seen, h);
			if (err < 0)
				break;
			t->visit_depth++;
			for (size_t j = 0; j < s.n && !err; j++) {
				err = w->kfn ? w->kfn(key, klen, w->ctx)
					     : w->bfn(key, klen, s.vals[j],
						      s.lens[j], w->ctx);
				if (w->kfn)
					break;
			}
			t->visit_depth--;
			if (err)
				break;
		}
		if (err != -ESTALE)
			break;
	}
	if (err == -ESTALE)
		err = -EAGAIN;
	snap_free(&s);
	free(key);
	free(seen.v);
	return err;
}

static int walk(struct shmtab *t, struct walk *w)
{
	bool taken;
	int err;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	if (t->rdonly && !lock_covers(t, ALL_STRIPES))
		return walk_optimistic(t, w);
	err = lock_read(t, ALL_STRIPES, &taken);
	if (err < 0)
		return err;
	lock_user_push(t);
	err = walk_locked(t, w);
	lock_user_pop(t);
	lock_read_release(t, ALL_STRIPES, taken);
	return err;
}

SHMTAB_EXPORT int shmtab_iter(shmtab *t, shmtab_binding_fn *fn, void *ctx)
{
	struct walk w = { fn, NULL, ctx };

	if (!fn)
		return -EINVAL;
	return walk(t, &w);
}

SHMTAB_EXPORT int shmtab_iter_keys(shmtab *t, shmtab_key_fn *fn, void *ctx)
{
	struct walk w = { NULL, fn, ctx };

	if (!fn)
		return -EINVAL;
	return walk(t, &w);
}
