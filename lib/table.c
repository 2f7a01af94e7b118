/* SPDX-License-Identifier: MIT */
/*
 * table.c - bindings: add, replace, find, mem, remove, length, find_all
 *
 * A key's bindings form a stack: its index cell points to the newest record,
 * each record's next to the one below.  add pushes, remove pops, replace
 * swaps the top record for a new one with a single published store, so no
 * reader ever sees the key unbound or a value half written.
 */
#include <stdlib.h>

#include "shmtab-private.h"

int write_check(struct shmtab *t)
{
	if (!t || t->fd < 0 || !t->hdr)
		return -EBADF;
	if (t->rdonly)
		return -EROFS;
	if (t->visit_depth || t->logging)
		return -EBUSY;
	if (t->doomed)
		return -EDEADLK;
	return 0;
}

/* --- readers ---------------------------------------------------------- */

#define OPTIMISTIC_TRIES 64

/*
 * How long a handle that cannot repair waits on an odd stripe before it
 * gives up with -EAGAIN: when no writer is alive, and at most.
 * SHMTAB_FUZZING is defined only where a libFuzzer target compiles the
 * library into itself (tests/fuzz, Makefile.am): there damaged inputs leave
 * stripes odd all the time and the production waits would make each such
 * input cost seconds.  The library built for use never defines it.
 */
#ifdef SHMTAB_FUZZING
#define WAIT_DEAD_NS 1000000u /* 1 ms */
#define WAIT_MAX_NS 2000000u /* 2 ms */
#else
#define WAIT_DEAD_NS 200000000u /* 200 ms */
#define WAIT_MAX_NS 2000000000u /* 2 s */
#endif

int read_enter(struct shmtab *t, unsigned stripe, struct reader *rd)
{
	int err;

	memset(rd, 0, sizeof(*rd));
	rd->stripe = stripe;
	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	rd->direct = lock_covers(t, stripe);
	if (!rd->direct && t->group_depth && !t->rdonly) {
		/* inside a group a read holds its stripe to the end */
		err = lock_read(t, stripe, &rd->taken);
		if (err < 0)
			return err;
		rd->direct = true;
	}
	return read_snap(t, rd);
}

/* Note the counters to validate against (optimistic) or refresh (direct). */
int read_snap(struct shmtab *t, struct reader *rd)
{
	struct shm_header *H = t->hdr;
	unsigned n = 0;
	int err;

	if (ld64(&H->size) != t->mapped) {
		err = map_refresh(t);
		if (err < 0)
			return err;
	}
	if (rd->direct)
		return 0;
	t->quiet = 1;
	for (uint64_t t0 = 0;;) {
		rd->seq = __atomic_load_n(&H->stripe_seq[rd->stripe],
					  __ATOMIC_ACQUIRE);
		rd->iseq = __atomic_load_n(&H->index_seq, __ATOMIC_ACQUIRE);
		if (!((rd->seq | rd->iseq) & 1))
			return 0;
		if (n++ < 128) {
			cpu_relax();
			continue;
		}
		n = 0;
		if (!t0)
			t0 = now_ns();
		err = 0;
		/* only a read-write handle with a lock repairs; without a
		 * lock (SHMTAB_LOCK_NONE) nobody takes the writer lock.  Such
		 * a handle gives up after WAIT_DEAD_NS when no writer is alive,
		 * and after WAIT_MAX_NS even when one seems to be (a scribbled
		 * lock word can name any live process); once it gave up, it
		 * gives up at once while the writer lock's state stays. */
		if (t->rdonly || t->lock == SHMTAB_LOCK_NONE) {
			uint64_t waited = now_ns() - t0;
			uint64_t mark = lock_state(t) + 1;

			if (t->gave_up == mark)
				err = -EAGAIN;
			else if (waited > WAIT_MAX_NS ||
				 (waited > WAIT_DEAD_NS &&
				  !lock_writer_alive(t)))
				err = -EAGAIN;
			if (err)
				t->gave_up = mark;
		}
		if (!err)
			err = lock_wait_writer(t);
		if (err < 0) {
			t->quiet = 0;
			return err;
		}
	}
}

bool read_ok(struct shmtab *t, struct reader *rd)
{
	struct shm_header *H = t->hdr;

	if (rd->direct)
		return true;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&H->stripe_seq[rd->stripe], __ATOMIC_RELAXED) ==
		       rd->seq &&
	       __atomic_load_n(&H->index_seq, __ATOMIC_RELAXED) == rd->iseq;
}

/* A validation failed: read again; after many failures take a read lock. */
int read_retry(struct shmtab *t, struct reader *rd)
{
	int err;

	if (++rd->fails >= OPTIMISTIC_TRIES && !t->rdonly) {
		err = lock_read(t, rd->stripe, &rd->taken);
		if (err < 0)
			return err;
		rd->direct = true;
		t->quiet = 0;
	} else if (rd->fails >= 100000) {
		t->quiet = 0;
		return -EAGAIN;
	}
	return read_snap(t, rd);
}

void read_leave(struct shmtab *t, struct reader *rd)
{
	t->quiet = 0;
	lock_read_release(t, rd->stripe, rd->taken);
	rd->taken = false;
}

enum copy_mode { COPY_NONE, COPY_MALLOC, COPY_INTO };

/* A lookup; with bound non-NULL, the key is an array index that must be
 * below the array's length (read in the same validated section). */
static int lookup_copy(struct shmtab *t, const void *key, size_t klen,
		       enum copy_mode mode, void **val, void *buf, size_t cap,
		       size_t *vlen, const uint64_t *bound)
{
	struct reader rd;
	struct lookup lk;
	uint64_t h;
	int err;

	if (!t)
		return -EBADF;
	if (!key && klen)
		return -EINVAL;
	h = hash_key(t, key, klen);
	err = read_enter(t, hash_stripe(h), &rd);
	if (err < 0)
		return err;
	for (;;) {
		struct chunk *c = NULL;
		struct rview rv;
		void *copy = NULL;
		uint64_t n = 0;

		err = hash_lookup(t, h, key, klen, &lk);
		if (!err && bound && *bound >= ld64(&t->hdr->arr_len))
			err = -EINVAL;
		if (!err && lk.rec) {
			/* the length checked is the length copied */
			c = map_rec_view(t, lk.rec, &rv);
			if (!c)
				err = -EBADMSG;
			else
				n = rv.vlen;
		}
		if (!err && c && mode == COPY_MALLOC) {
			if (!read_ok(t, &rd))
				goto again;
			copy = malloc(n ? n : 1);
			if (!copy) {
				err = -ENOMEM;
				break;
			}
			memcpy(copy, rv.val, n);
		} else if (!err && c && mode == COPY_INTO && cap && n) {
			memcpy(buf, rv.val, n < cap ? n : cap);
		}
		if (read_ok(t, &rd)) {
			if (err == -EINVAL)
				break;
			if (err == -EBADMSG && t->quiet)
				err = shmtab__corrupt(t, "lookup of a %zu-byte key"
						      " failed", klen);
			if (!err && !c)
				err = -ENOENT;
			if (!err) {
				if (vlen)
					*vlen = (size_t)n;
				if (mode == COPY_MALLOC)
					*val = copy;
			}
			if (err || mode != COPY_MALLOC)
				free(copy);
			break;
		}
		free(copy);
again:
		err = read_retry(t, &rd);
		if (err < 0)
			break;
	}
	read_leave(t, &rd);
	if (mode == COPY_NONE && (err == 0 || err == -ENOENT))
		return err == 0;
	return err;
}

SHMTAB_EXPORT int shmtab_find(shmtab *t, const void *key, size_t klen,
			      void **val, size_t *vlen)
{
	if (!val)
		return -EINVAL;
	*val = NULL;
	return lookup_copy(t, key, klen, COPY_MALLOC, val, NULL, 0, vlen, NULL);
}

SHMTAB_EXPORT int shmtab_find_into(shmtab *t, const void *key, size_t klen,
				   void *buf, size_t cap, size_t *vlen)
{
	if (!buf && cap)
		return -EINVAL;
	return lookup_copy(t, key, klen, COPY_INTO, NULL, buf, cap, vlen, NULL);
}

SHMTAB_EXPORT int shmtab_mem(shmtab *t, const void *key, size_t klen)
{
	return lookup_copy(t, key, klen, COPY_NONE, NULL, NULL, 0, NULL, NULL);
}

SHMTAB_EXPORT long long shmtab_length(shmtab *t)
{
	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	return (long long)__atomic_load_n(&t->hdr->nbindings, __ATOMIC_ACQUIRE);
}

/* An array element (the caller encoded idx as key): -EINVAL outside the
 * length, -ENOENT when unset. */
int table_lookup_index(struct shmtab *t, const void *key, size_t klen,
		       uint64_t idx, void **val, size_t *vlen)
{
	*val = NULL;
	return lookup_copy(t, key, klen, COPY_MALLOC, val, NULL, 0, vlen, &idx);
}

/* --- writers ---------------------------------------------------------- */

int step_begin(struct shmtab *t, unsigned stripe)
{
	int err = write_check(t);

	if (err < 0)
		return err;
	err = lock_write_begin(t, stripe);
	if (err < 0)
		return err;
	if (ld32(&t->hdr->undo_n))
		undo_commit(t);		/* left by a step of ours that failed */
	err = hash_maintain(t);		/* a slice of an index rebuild */
	if (err < 0) {
		undo_rollback(t);
		if (err != -ENOSPC) {
			lock_write_end(t);
			return err;
		}
	}
	return 0;
}

void step_end(struct shmtab *t, uint64_t h, bool changed)
{
	if (changed)
		feed_note(t, h);
	undo_commit(t);
	lock_write_end(t);
	if (changed)
		feed_wake(t);
}

/* A step failed half-way: put back what it published. */
void step_abort(struct shmtab *t)
{
	undo_rollback(t);
	lock_write_end(t);
}

/* Unlink binding rec of the key of hash h (predecessor prev, or 0 when it
 * is the newest in cell) and free it. */
int table_unlink_binding(struct shmtab *t, uint64_t cell, uint64_t h,
			 uint64_t prev, uint64_t rec)
{
	struct shm_header *H = t->hdr;
	struct chunk *c = map_rec(t, rec);
	uint64_t older;
	int err;

	if (!c)
		return shmtab__corrupt(t, "binding at %llu",
				       (unsigned long long)rec);
	older = chunk_next(c);
	if (prev) {
		chunk_set_next(t, prev, older);
	} else {
		err = cell_set_off(t, cell, h, rec, older);
		if (err < 0)
			return err;
		if (!older)
			ustore(t, HOFF(nkeys), ld64(&H->nkeys) - 1);
	}
	ustore(t, HOFF(nbindings), ld64(&H->nbindings) - 1);
	return chunk_free(t, rec);
}

/* What the schema says of a binding about to be written (no lock held). */
static int push_precheck(struct shmtab *t, const struct push *p)
{
	int err = schema_sync(t);

	if (err < 0)
		return err;
	if (p->check_gen && p->gen != t->sc.gen)
		return -ESTALE;
	if (!schema_typed(t))
		return 0;
	if (t->sc.kind == KIND_ARRAY && !p->replace)
		return -EINVAL;		/* one value per index */
	if (type_validate(t->sc.k, t->sc.kn, p->key, p->klen) < 0)
		return -EINVAL;
	if (!p->update && type_validate(t->sc.v, t->sc.vn, p->val, p->vlen) < 0)
		return -EINVAL;
	return 0;
}

/* The same under the writer lock: -EAGAIN when the schema changed since
 * the precheck, -EINVAL for an index outside an array. */
static int push_lockcheck(struct shmtab *t, const struct push *p)
{
	if (ld64(&t->hdr->schema_gen) != t->sc.gen)
		return -EAGAIN;
	if (t->sc.kind == KIND_ARRAY &&
	    le64(p->key) >= ld64(&t->hdr->arr_len))
		return -EINVAL;
	return 0;
}

/*
 * Start fetching the line of key's home cell before the writer lock (or a
 * replace in place's claim) is taken: its atomic operations then overlap
 * the cache miss that the lookup after them would wait for.  Only a hint:
 * the index may change before the lock is ours, and a prefetch never
 * faults.
 */
static void prefetch_home(struct shmtab *t, uint64_t h)
{
	uint64_t off = ld64(&t->hdr->index_off);
	uint64_t n = ld64(&t->hdr->index_cells);

	if (n >= 16 && !(n & (n - 1)) && off < t->mapped &&
	    n <= (t->mapped - off) / sizeof(cell_t))
		__builtin_prefetch(t->base + off + hash_home(h, n) *
					       sizeof(cell_t), 1);
}

static int push_step(struct shmtab *t, const struct push *p, uint64_t h)
{
	struct shm_header *H = t->hdr;
	const void *key = p->key, *val = p->val;
	size_t klen = p->klen, vlen = p->vlen;
	bool replace = p->replace;
	struct tbuf nb;
	struct lookup lk;
	struct chunk *c = NULL;
	struct rview rv = { 0 };
	struct cview cv;
	uint64_t off, next = 0;
	int err;

	err = step_begin(t, hash_stripe(h));
	if (err < 0)
		return err;
	tbuf_init(&nb);
	err = push_lockcheck(t, p);
	if (err < 0)
		goto fail;
	err = hash_lookup(t, h, key, klen, &lk);
	if (err < 0)
		goto fail;
	if (!lk.cell && !lk.insert) {
		err = -ENOSPC;		/* the index could not be rebuilt */
		goto fail;
	}
	if (lk.rec) {
		c = map_rec_view(t, lk.rec, &rv);
		if (!c) {
			err = -EBADMSG;
			goto fail;
		}
		next = replace ? chunk_next(c) : lk.rec;
	}
	if (p->update) {
		/* rv is inside the chunk, the chunk inside the mapping */
		err = p->update(c ? rv.val : NULL, c ? rv.vlen : 0,
				c != NULL, &nb, p->ctx);
		if (!err)
			err = nb.err;
		if (err < 0)
			goto fail;
		val = nb.p;
		vlen = nb.len;
	}
	err = chunk_alloc(t, sizeof(*c) + klen + vlen, CHUNK_REC, &off);
	if (err < 0)
		goto fail;
	/* the chunk as checked holds what is written into it */
	c = map_chunk_snap(t, off, &cv);
	if (!c || cv.size < sizeof(*c) + klen + vlen) {
		err = -EBADMSG;
		goto fail;
	}
	st64(&c->lens, (uint64_t)vlen | (uint64_t)klen << LEN_VBITS);
	chunk_new_next(t, off, next);
	if (klen)
		memcpy(c + 1, key, klen);
	if (vlen)	/* val may lie in the table, and a scribbled free
			 * list hand out a chunk over it: memmove */
		memmove((uint8_t *)(c + 1) + klen, val, vlen);
	if (lk.cell) {
		err = cell_set_off(t, lk.cell, h, lk.rec, off);
		if (!err && replace && lk.rec)
			err = chunk_free(t, lk.rec);
		else if (!err)
			ustore(t, HOFF(nbindings), ld64(&H->nbindings) + 1);
	} else {
		err = cell_claim(t, lk.insert, h, off);
		ustore(t, HOFF(nkeys), ld64(&H->nkeys) + 1);
		ustore(t, HOFF(nbindings), ld64(&H->nbindings) + 1);
	}
	if (err < 0)
		goto fail;
	tbuf_free(&nb);
	step_end(t, h, true);
	return 0;
fail:
	tbuf_free(&nb);
	step_abort(t);
	return err;
}

/* A replace in place (inplace.c): true done, false take the writer lock. */
static bool push_inplace(struct shmtab *t, const struct push *p, uint64_t h)
{
	int r;

	for (int tries = 0; tries < 8; tries++) {
		r = inplace_replace(t, h, p->key, p->klen, p->val, p->vlen);
		if (r == -ENOENT && !tries && inplace_setup(t) == 0)
			continue;
		if (r != INPLACE_BUSY || !inplace_wait(t, h))
			break;
	}
	return r == 1;
}

int table_push(struct shmtab *t, struct push *p)
{
	uint64_t h;
	int err;

	if ((!p->key && p->klen) || (!p->val && p->vlen))
		return -EINVAL;
	if (p->klen > SHMTAB_KEY_MAX || p->vlen > SHMTAB_VALUE_MAX)
		return -EFBIG;
	err = write_check(t);
	if (err < 0)
		return err;
	h = hash_key(t, p->key, p->klen);
	for (int tries = 0;; tries++) {
		err = push_precheck(t, p);
		if (err < 0)
			return err;
		prefetch_home(t, h);
		if (p->replace && !p->update && push_inplace(t, p, h))
			return 0;
		err = push_step(t, p, h);
		if (err != -EAGAIN)
			return err;
		if (tries > 1000)
			return -EAGAIN;	/* the schema keeps changing */
	}
}

SHMTAB_EXPORT int shmtab_add(shmtab *t, const void *key, size_t klen,
			     const void *val, size_t vlen)
{
	struct push p = { key, klen, val, vlen, false, NULL, NULL, false, 0 };

	return table_push(t, &p);
}

SHMTAB_EXPORT int shmtab_replace(shmtab *t, const void *key, size_t klen,
				 const void *val, size_t vlen)
{
	struct push p = { key, klen, val, vlen, true, NULL, NULL, false, 0 };

	return table_push(t, &p);
}

/* Drop the newest binding of key; with bound non-NULL the key is an array
 * index that must be below the length (checked under the writer lock). */
int table_remove(struct shmtab *t, const void *key, size_t klen,
		 const uint64_t *bound)
{
	struct lookup lk;
	uint64_t h;
	int err;

	if (!key && klen)
		return -EINVAL;
	err = write_check(t);
	if (err < 0)
		return err;
	h = hash_key(t, key, klen);
	prefetch_home(t, h);
	err = step_begin(t, hash_stripe(h));
	if (err < 0)
		return err;
	lk.rec = 0;
	if (bound && *bound >= ld64(&t->hdr->arr_len))
		err = -EINVAL;
	if (!err)
		err = hash_lookup(t, h, key, klen, &lk);
	if (!err && lk.rec)
		err = table_unlink_binding(t, lk.cell, h, 0, lk.rec);
	if (err < 0) {
		step_abort(t);
		return err;
	}
	step_end(t, h, lk.rec != 0);
	return 0;
}

SHMTAB_EXPORT int shmtab_remove(shmtab *t, const void *key, size_t klen)
{
	return table_remove(t, key, klen, NULL);
}

/* --- find_all --------------------------------------------------------- */

void snap_free(struct snap *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->vals[i]);
	free(s->vals);
	free(s->lens);
	memset(s, 0, sizeof(*s));
}

int snap_push(struct snap *s, const void *p, size_t len)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		uint8_t **v = realloc(s->vals, cap * sizeof(*v));
		size_t *l;

		if (!v)
			return -ENOMEM;
		s->vals = v;
		l = realloc(s->lens, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		s->lens = l;
		s->cap = cap;
	}
	s->vals[s->n] = malloc(len ? len : 1);
	if (!s->vals[s->n])
		return -ENOMEM;
	memcpy(s->vals[s->n], p, len);
	s->lens[s->n++] = len;
	return 0;
}

/*
 * Visit the bindings of key (hash h) newest first: fn gets each record.
 * With a lock held (or in direct mode) the records are live; a read-only
 * handle collects private copies optimistically first.
 */
int chain_walk(struct shmtab *t, uint64_t h, const void *key, size_t klen,
	       struct reader *rd,
	       int (*fn)(struct shmtab *t, const struct rview *v,
			 uint64_t off, uint64_t prev, void *ctx),
	       void *ctx, uint64_t *cell)
{
	struct lookup lk;
	uint64_t off, prev = 0, steps = 0;
	uint64_t limit = chain_limit(t);
	int err;

	err = hash_lookup(t, h, key, klen, &lk);
	if (err < 0)
		return err;
	if (cell)
		*cell = lk.cell;
	for (off = lk.rec; off; steps++) {
		struct rview rv;
		struct chunk *c = map_rec_view(t, off, &rv);
		uint64_t next;

		if (!c || steps > limit || !rec_key_equal(&rv, key, klen))
			return shmtab__corrupt(t, "binding chain at %llu",
					       (unsigned long long)off);
		next = chunk_next(c);
		err = fn(t, &rv, off, prev, ctx);
		if (err)
			return err;
		if (rd && !read_ok(t, rd))
			return -EAGAIN;
		prev = off;
		off = next;
	}
	return 0;
}

static int snap_rec(struct shmtab *t, const struct rview *v, uint64_t off,
		    uint64_t prev, void *ctx)
{
	(void)off;
	(void)prev;
	(void)t;
	return snap_push(ctx, v->val, v->vlen);
}

/* Copies of key's bindings, newest first, validated. */
int snap_key(struct shmtab *t, const void *key, size_t klen, struct snap *s)
{
	uint64_t h = hash_key(t, key, klen);
	struct reader rd;
	int err;

	err = read_enter(t, hash_stripe(h), &rd);
	if (err < 0)
		return err;
	for (;;) {
		snap_free(s);
		err = chain_walk(t, h, key, klen, &rd, snap_rec, s, NULL);
		if (read_ok(t, &rd) && err != -EAGAIN)
			break;
		err = read_retry(t, &rd);
		if (err < 0)
			break;
	}
	read_leave(t, &rd);
	if (err < 0)
		snap_free(s);
	return err;
}

struct visit_all {
	shmtab_binding_fn *fn;
	void *ctx;
	const void *key;
	size_t klen;
};

static int visit_rec(struct shmtab *t, const struct rview *rv, uint64_t off,
		     uint64_t prev, void *ctx)
{
	struct visit_all *v = ctx;
	int r;

	(void)off;
	(void)prev;
	t->visit_depth++;
	r = v->fn(rv->key, rv->klen, rv->val, rv->vlen, v->ctx);
	t->visit_depth--;
	return r;
}

SHMTAB_EXPORT int shmtab_find_all(shmtab *t, const void *key, size_t klen,
				  shmtab_binding_fn *fn, void *ctx)
{
	struct visit_all v = { fn, ctx, key, klen };
	uint64_t h;
	bool taken = false;
	int err;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	if (!fn || (!key && klen))
		return -EINVAL;
	h = hash_key(t, key, klen);
	if (t->rdonly && !lock_covers(t, hash_stripe(h))) {
		struct snap s = { 0 };

		err = snap_key(t, key, klen, &s);
		if (err < 0)
			return err;
		t->visit_depth++;
		for (size_t i = 0; i < s.n && !err; i++)
			err = fn(key, klen, s.vals[i], s.lens[i], ctx);
		t->visit_depth--;
		snap_free(&s);
		return err;
	}
	err = lock_read(t, hash_stripe(h), &taken);
	if (err < 0)
		return err;
	err = map_refresh(t);
	lock_user_push(t);
	if (!err)
		err = chain_walk(t, h, key, klen, NULL, visit_rec, &v, NULL);
	lock_user_pop(t);
	lock_read_release(t, hash_stripe(h), taken);
	return err;
}
