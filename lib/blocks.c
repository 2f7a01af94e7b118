/* SPDX-License-Identifier: MIT */
/*
 * blocks.c - read_blocks and write_blocks: a key's bindings, newest first,
 * handed to a visitor in place, in slices of at most pagesize bytes, each
 * binding followed by one call with block == NULL.
 *
 * write_blocks holds the writer lock with the key's stripe odd, so readers
 * of that key wait while the visitor may write in place.  A binding the
 * visitor chose to remove is unlinked when the binding ends (after its NULL
 * call, or on NEXT or BREAK), and each removal is committed on its own.
 * In-place writes are not atomic against a crash: a process killed in the
 * middle of one leaves the bytes it wrote.  A binding another handle reads
 * in place (pinned, pin.c) is first moved to a new chunk, so its readers
 * keep the bytes they had.
 */
#include "shmtab-private.h"

struct blk {
	struct shmtab *t;
	int (*rfn)(const void *block, size_t len, void *ctx);
	int (*wfn)(void *block, size_t len, void *ctx);
	void *ctx;
	uint64_t cell, h;		/* the key's cell and hash */
	bool changed;
	int verdict;			/* NEXT or BREAK ended the walk */
};

static int blk_call(struct blk *b, void *p, size_t len)
{
	int r;

	b->t->visit_depth++;
	r = b->wfn ? b->wfn(p, len, b->ctx) : b->rfn(p, len, b->ctx);
	b->t->visit_depth--;
	if (r < SHMTAB_CONTINUE || r > SHMTAB_REMOVE_BINDING ||
	    (r == SHMTAB_REMOVE_BINDING && !b->wfn))
		return -EINVAL;
	return r;
}

/* One binding: its slices, then the end call.  Returns a verdict or <0. */
static int blk_binding(struct blk *b, uint8_t *val, uint64_t vlen,
		       bool *remove)
{
	uint64_t ps = b->t->pagesize, o = 0;
	int r;

	*remove = false;
	do {
		uint64_t len = vlen - o < ps ? vlen - o : ps;

		r = blk_call(b, val + o, (size_t)len);
		if (r < 0)
			return r;
		if (r == SHMTAB_REMOVE_BINDING)
			*remove = true;
		if (r == SHMTAB_NEXT || r == SHMTAB_BREAK)
			return r;
		o += len;
	} while (o < vlen);
	r = blk_call(b, NULL, 0);
	if (r == SHMTAB_REMOVE_BINDING)
		*remove = true;
	return r;
}

static int blk_rec(struct shmtab *t, const struct rview *v, uint64_t off,
		   uint64_t prev, void *ctx)
{
	struct blk *b = ctx;
	bool remove;
	int r;

	r = blk_binding(b, v->val, v->vlen, &remove);
	if (r < 0)
		return r;
	if (remove) {
		int err = table_unlink_binding(t, b->cell, b->h, prev, off);

		if (err < 0)
			return err;
		undo_commit(t);
		b->changed = true;
		/* the chain walker must not step from a freed record: it
		 * read next before calling us, and prev stays the same */
		b->verdict = r == SHMTAB_BREAK ? r : -1;
		return r == SHMTAB_BREAK ? 1 : 0;
	}
	return r == SHMTAB_BREAK ? 1 : 0;
}

SHMTAB_EXPORT int shmtab_read_blocks(shmtab *t, const void *key, size_t klen,
				     int (*fn)(const void *, size_t, void *),
				     void *ctx)
{
	struct blk b = { .t = t, .rfn = fn, .ctx = ctx };
	bool taken = false;
	uint64_t h;
	int err;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	if (!fn || (!key && klen))
		return -EINVAL;
	h = hash_key(t, key, klen);
	if (t->rdonly && !lock_covers(t, hash_stripe(h))) {
		struct snap s = { 0 };
		bool remove;

		err = snap_key(t, key, klen, &s);
		for (size_t i = 0; !err && i < s.n; i++) {
			err = blk_binding(&b, s.vals[i], s.lens[i], &remove);
			err = err == SHMTAB_BREAK ? 1 : err < 0 ? err : 0;
		}
		snap_free(&s);
		return err < 0 ? err : 0;
	}
	err = lock_read(t, hash_stripe(h), &taken);
	if (err < 0)
		return err;
	err = map_refresh(t);
	lock_user_push(t);
	if (!err)
		err = chain_walk(t, h, key, klen, NULL, blk_rec, &b, NULL);
	lock_user_pop(t);
	lock_read_release(t, hash_stripe(h), taken);
	return err < 0 ? err : 0;
}

/*
 * Binding *off is pinned (pin.c): its readers must keep their bytes, so
 * move it to a new chunk, which the visitor may write, and leave the old
 * one to them.  Committed on its own, like a removal.  *v is the binding
 * as checked, and becomes the new one: the copy takes what was checked,
 * and no more than the new chunk holds.
 */
static int blk_unshare(struct shmtab *t, struct blk *b, uint64_t prev,
		       uint64_t *off, struct rview *v)
{
	uint64_t noff, len = sizeof(struct chunk) + v->klen + v->vlen;
	struct chunk *o, *n;
	struct rview ov;
	struct cview nv;
	int err;

	err = chunk_alloc(t, len, CHUNK_REC, &noff);
	if (err < 0)
		return err;
	o = map_rec_view(t, *off, &ov);	/* the allocation may have remapped */
	n = map_chunk_snap(t, noff, &nv);
	if (!o || !n || ov.lens != v->lens || nv.size < len)
		return -EBADMSG;
	st64(&n->lens, ov.lens);
	/* memmove: a scribbled free list can hand out a chunk inside the
	 * old record */
	memmove(n + 1, ov.key, ov.klen + ov.vlen);
	chunk_set_next(t, noff, chunk_next(o));
	if (prev)
		chunk_set_next(t, prev, noff);
	else
		err = cell_set_off(t, b->cell, b->h, *off, noff);
	if (!err)
		err = chunk_free(t, *off);
	if (err < 0)
		return err;
	undo_commit(t);
	b->changed = true;
	*off = noff;
	v->key = (const uint8_t *)(n + 1);
	v->val = (uint8_t *)(n + 1) + v->klen;
	v->size = nv.size;
	return 0;
}

/* Like chain_walk, but a removed binding does not become prev, and a
 * pinned one is unshared first. */
static int blk_walk(struct shmtab *t, uint64_t h, const void *key,
		    size_t klen, struct blk *b)
{
	struct lookup lk;
	uint64_t off, prev = 0, steps = 0;
	uint64_t limit = chain_limit(t);
	int err;

	err = hash_lookup(t, h, key, klen, &lk);
	if (err < 0)
		return err;
	b->cell = lk.cell;
	b->h = h;
	for (off = lk.rec; off; steps++) {
		struct rview rv;
		struct chunk *c = map_rec_view(t, off, &rv);
		uint64_t next;

		if (!c || steps > limit || !rec_key_equal(&rv, key, klen))
			return shmtab__corrupt(t, "binding chain at %llu",
					       (unsigned long long)off);
		next = chunk_next(c);
		if (pin_may(t, CHUNK_REC, rv.size, off)) {
			err = blk_unshare(t, b, prev, &off, &rv);
			if (err < 0)
				return err;
		}
		b->verdict = 0;
		err = blk_rec(t, &rv, off, prev, b);
		if (err)
			return err;
		if (b->verdict != -1)
			prev = off;
		off = next;
	}
	return 0;
}

SHMTAB_EXPORT int shmtab_write_blocks(shmtab *t, const void *key, size_t klen,
				      int (*fn)(void *, size_t, void *),
				      void *ctx)
{
	struct blk b = { .t = t, .wfn = fn, .ctx = ctx };
	uint64_t h;
	int err;

	if (!fn || (!key && klen))
		return -EINVAL;
	err = write_check(t);
	if (err < 0)
		return err;
	/* writing in place cannot be checked against a value type that has
	 * a structure: only bytes and strings may be written so */
	err = schema_sync(t);
	if (err < 0)
		return err;
	if (t->sc.vn && t->sc.v[0] != SHMTAB_BYTES &&
	    t->sc.v[0] != SHMTAB_STRING)
		return -EINVAL;
	h = hash_key(t, key, klen);
	err = step_begin(t, hash_stripe(h));
	if (err < 0)
		return err;
	lock_user_push(t);
	err = blk_walk(t, h, key, klen, &b);
	lock_user_pop(t);
	if (err < 0) {
		step_abort(t);
		if (b.changed)
			feed_note(t, h);
		return err;
	}
	step_end(t, h, true);
	return 0;
}
