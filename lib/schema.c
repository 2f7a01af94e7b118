/* SPDX-License-Identifier: MIT */
/*
 * schema.c - a table's key and value types, and the typed calls
 *
 * The schema lives in the header in two copies (format.h); a change writes
 * the copy that schema_gen does not pick and then bumps schema_gen with one
 * undo-logged store, so a crash leaves the old schema or the new one.  Every
 * handle caches the schema with the generation it read; one load of
 * schema_gen tells whether the cache is current.  A schema changes only while
 * the table is empty, and a writer checks the generation again under the
 * writer lock (table.c), so no binding is ever written under a stale type.
 *
 * The typed calls encode their arguments with the table's types (typed.c)
 * and run the byte calls; on an array the key is an index (array.c).
 */
#include <limits.h>
#include <stdlib.h>

#include "shmtab-private.h"

/* --- declared schemas -------------------------------------------------- */

static int compile_opt(const char *name, uint8_t *code, size_t *n, bool *set)
{
	int err;

	*n = 0;
	*set = name != NULL;
	if (!name)
		return 0;
	err = type_compile(name, code, n);
	if (err < 0)
		return err;
	if (*n == 1 && code[0] == SHMTAB_BYTES)
		*n = 0;			/* "bytes" is what untyped means */
	return 0;
}

int spec_compile(const struct shmtab_schema *s, struct schema_spec *sp)
{
	struct tbuf b;
	int err;

	memset(sp, 0, sizeof(*sp));
	if ((unsigned)s->kind > SHMTAB_KIND_ARRAY)
		return -EINVAL;
	sp->kind_set = s->kind != SHMTAB_KIND_ANY;
	sp->kind = s->kind == SHMTAB_KIND_ARRAY ? KIND_ARRAY : KIND_HASH;
	err = compile_opt(s->key_type, sp->k, &sp->kn, &sp->k_set);
	if (!err)
		err = compile_opt(s->value_type, sp->v, &sp->vn, &sp->v_set);
	if (err < 0)
		return err;
	if (sp->kind_set && sp->kind == KIND_ARRAY) {
		/* an array's keys are int64 indexes */
		if (sp->k_set && !(sp->kn == 1 && sp->k[0] == SHMTAB_INT64))
			return -EINVAL;
		sp->k_set = true;
		sp->k[0] = SHMTAB_INT64;
		sp->kn = 1;
	}
	if (!s->dflt)
		return 0;
	if (!sp->kind_set || sp->kind != KIND_ARRAY)
		return -EINVAL;		/* only arrays have a default */
	sp->d_set = true;
	sp->dval = s->dflt;
	tbuf_init(&b);
	err = type_encode(sp->v_set ? sp->v : NULL, sp->v_set ? sp->vn : 0,
			  s->dflt, &b);
	if (!err && b.len > DEFAULT_MAX)
		err = -E2BIG;
	if (!err) {
		memcpy(sp->d, b.p, b.len);
		sp->dn = b.len;
	}
	tbuf_free(&b);
	return err;
}

/* The schema of a new (or emptied) table into dst: unset fields take the
 * defaults (a hash table of bytes; an array's default is the zero value). */
void schema_fill(struct schema *dst, const struct schema_spec *sp)
{
	struct tbuf b;

	memset(dst, 0, sizeof(*dst));
	if (!sp)
		return;
	dst->kind = sp->kind;
	memcpy(dst->ktype, sp->k, sp->kn);
	memcpy(dst->vtype, sp->v, sp->vn);
	if (sp->kind != KIND_ARRAY)
		return;
	if (sp->d_set) {
		memcpy(dst->dflt, sp->d, sp->dn);
		dst->dflt_len = (uint32_t)sp->dn;
		return;
	}
	tbuf_init(&b);
	if (!type_zero(sp->v, sp->vn, &b) && b.len <= DEFAULT_MAX) {
		memcpy(dst->dflt, b.p, b.len);
		dst->dflt_len = (uint32_t)b.len;
	}
	tbuf_free(&b);
}

/* --- the cache --------------------------------------------------------- */

void schema_drop(struct shmtab *t)
{
	free(t->sc.dflt);
	free(t->sc.kname);
	free(t->sc.vname);
	free(t->sc.dval);
	memset(&t->sc, 0, sizeof(t->sc));
}

static int code_load(const uint8_t *src, uint8_t *code, size_t *n)
{
	size_t span;

	memcpy(code, src, TYPE_MAX);
	*n = 0;
	if (!code[0])
		return 0;
	span = type_span(code, TYPE_MAX);
	if (!span)
		return -EBADMSG;
	*n = span;
	return 0;
}

static char *code_name(const uint8_t *code, size_t n)
{
	char buf[TYPE_MAX * 10];

	if (!n)
		return strdup("bytes");
	if (type_name(code, n, buf, sizeof(buf)) < 0)
		return NULL;
	return strdup(buf);
}

/* Bring the cache up to the stored schema; -EBADMSG when it is damaged. */
int schema_sync(struct shmtab *t)
{
	struct shm_header *H = t->hdr;
	struct sc_cache c;
	uint64_t g1, g2;
	int err;

	if (!H)
		return -EBADF;
	g1 = __atomic_load_n(&H->schema_gen, __ATOMIC_ACQUIRE);
	if (t->sc.valid && t->sc.gen == g1)
		return 0;
	for (int tries = 0;; tries++) {
		const struct schema *s = &H->schema[g1 & 1];
		uint32_t dlen;

		memset(&c, 0, sizeof(c));
		c.valid = true;
		c.gen = g1;
		c.kind = ld32(&s->kind);
		dlen = ld32(&s->dflt_len);
		err = 0;
		if (c.kind > KIND_ARRAY || dlen > DEFAULT_MAX)
			err = -EBADMSG;
		if (!err)
			err = code_load(s->ktype, c.k, &c.kn);
		if (!err)
			err = code_load(s->vtype, c.v, &c.vn);
		if (!err && c.kind == KIND_ARRAY) {
			c.dflt = malloc(dlen ? dlen : 1);
			if (!c.dflt)
				return -ENOMEM;
			memcpy(c.dflt, s->dflt, dlen);
			c.dlen = dlen;
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		g2 = __atomic_load_n(&H->schema_gen, __ATOMIC_ACQUIRE);
		if (g2 == g1)
			break;		/* no change began meanwhile */
		free(c.dflt);
		if (tries > 100)
			return -EAGAIN;
		g1 = g2;
	}
	if (!err && c.kind == KIND_ARRAY &&
	    (c.kn != 1 || c.k[0] != SHMTAB_INT64 ||
	     type_validate(c.v, c.vn, c.dflt, c.dlen) < 0))
		err = -EBADMSG;
	if (!err) {
		c.kname = code_name(c.k, c.kn);
		c.vname = code_name(c.v, c.vn);
		if (!c.kname || !c.vname)
			err = -ENOMEM;
	}
	if (!err && c.kind == KIND_ARRAY)
		err = type_decode(c.v, c.vn, c.dflt, c.dlen, &c.dval);
	if (err < 0) {
		free(c.dflt);
		free(c.kname);
		free(c.vname);
		if (err == -EBADMSG)
			return shmtab__corrupt(t, "the schema is damaged");
		return err;
	}
	schema_drop(t);
	t->sc = c;
	return 0;
}

/* 0 when the stored schema agrees with every field sp sets, else -EINVAL. */
int schema_match(struct shmtab *t, const struct schema_spec *sp)
{
	int err = schema_sync(t);

	if (err < 0)
		return err;
	if (sp->kind_set && sp->kind != t->sc.kind)
		return -EINVAL;
	if (sp->k_set && (sp->kn != t->sc.kn || memcmp(sp->k, t->sc.k, sp->kn)))
		return -EINVAL;
	if (sp->v_set && (sp->vn != t->sc.vn || memcmp(sp->v, t->sc.v, sp->vn)))
		return -EINVAL;
	if (sp->d_set) {
		struct tbuf b;

		if (t->sc.kind != KIND_ARRAY)
			return -EINVAL;
		if (!sp->v_set)		/* encoded with its own type */
			return sp->dn == t->sc.dlen &&
					       !memcmp(sp->d, t->sc.dflt, sp->dn)
				       ? 0
				       : -EINVAL;
		tbuf_init(&b);
		err = type_encode(t->sc.v, t->sc.vn, sp->dval, &b);
		if (!err && (b.len != t->sc.dlen ||
			     memcmp(b.p, t->sc.dflt, b.len)))
			err = -EINVAL;
		tbuf_free(&b);
		return err < 0 ? -EINVAL : 0;
	}
	return 0;
}

/*
 * Give the table schema sp, emptying it when it is not empty (O_TRUNC by a
 * later opener) is the caller's business: here it must hold no binding.
 * Runs as one write step.
 */
int schema_apply(struct shmtab *t, const struct schema_spec *sp)
{
	struct shm_header *H = t->hdr;
	uint64_t gen;
	int err;

	err = step_begin(t, ALL_STRIPES);
	if (err < 0)
		return err;
	if (ld64(&H->nbindings)) {
		step_abort(t);
		return -ENOTEMPTY;
	}
	/* A generation is never used twice, even when a crash rolls the
	 * last store back: first skip two (the same copy stays live, every
	 * cache reloads), then publish the other copy. */
	gen = ld64(&H->schema_gen) + 2;
	__atomic_store_n(&H->schema_gen, gen, __ATOMIC_SEQ_CST);
	schema_fill(&H->schema[(gen + 1) & 1], sp);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ustore(t, HOFF(schema_gen), gen + 1);
	ustore(t, HOFF(arr_len), 0);
	ustore(t, HOFF(arr_stale), 0);
	step_end(t, 0, true);
	return schema_sync(t);
}

SHMTAB_EXPORT int shmtab_set_schema(shmtab *t, const struct shmtab_schema *s)
{
	struct shmtab_schema none = { 0 };
	struct schema_spec sp;
	int err;

	err = write_check(t);
	if (err < 0)
		return err;
	err = spec_compile(s ? s : &none, &sp);
	if (err < 0)
		return err;
	return schema_apply(t, &sp);
}

SHMTAB_EXPORT int shmtab_get_schema(shmtab *t, struct shmtab_schema *s)
{
	int err;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	if (!s)
		return -EINVAL;
	err = schema_sync(t);
	if (err < 0)
		return err;
	s->kind = t->sc.kind == KIND_ARRAY ? SHMTAB_KIND_ARRAY : SHMTAB_KIND_HASH;
	s->key_type = t->sc.kname;
	s->value_type = t->sc.vname;
	s->dflt = t->sc.dval;
	return 0;
}

/* --- typed bindings ---------------------------------------------------- */

static bool is_int(const struct shmtab_value *v)
{
	return v && (v->type == SHMTAB_INT32 || v->type == SHMTAB_INT64 ||
		     v->type == SHMTAB_INT);
}

static int64_t int_of(const struct shmtab_value *v)
{
	return v->type == SHMTAB_INT32 ? v->i32 :
	       v->type == SHMTAB_INT64 ? v->i64 : (int64_t)v->n;
}

/* The key, encoded with the table's key type (an array: its index). */
static int key_encode(struct shmtab *t, const struct shmtab_value *key,
		      struct tbuf *b, int64_t *idx)
{
	int err;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	err = schema_sync(t);
	if (err < 0)
		return err;
	if (!key)
		return -EINVAL;
	if (t->sc.kind == KIND_ARRAY) {
		/* an index outside the array; writers check again under
		 * the writer lock, readers in their validated section */
		if (!is_int(key) || int_of(key) < 0 ||
		    (uint64_t)int_of(key) >= ld64(&t->hdr->arr_len))
			return -EINVAL;
		*idx = int_of(key);
		return type_encode(NULL, 0, SHMTAB_V_I64(*idx), b);
	}
	*idx = -1;
	return type_encode(t->sc.k, t->sc.kn, key, b);
}

/* Encoded with the schema of generation t->sc.gen; table_push refuses
 * with -ESTALE when the schema changed since, and tpush encodes again. */
static int tpush(struct shmtab *t, const struct shmtab_value *key,
		 const struct shmtab_value *val, bool replace)
{
	struct tbuf kb, vb;
	int64_t idx;
	int err;

	for (int tries = 0;; tries++) {
		struct push p = { 0 };

		tbuf_init(&kb);
		tbuf_init(&vb);
		err = key_encode(t, key, &kb, &idx);
		if (!err)
			err = type_encode(t->sc.v, t->sc.vn, val, &vb);
		if (!err && idx >= 0 && !replace)
			err = -EINVAL;
		if (!err) {
			p.key = kb.p;
			p.klen = kb.len;
			p.val = vb.p;
			p.vlen = vb.len;
			p.replace = replace;
			p.gen = t->sc.gen;
			p.check_gen = true;
			err = table_push(t, &p);
		}
		tbuf_free(&kb);
		tbuf_free(&vb);
		if (err != -ESTALE || tries > 100)
			return err == -ESTALE ? -EAGAIN : err;
	}
}

SHMTAB_EXPORT int shmtab_tadd(shmtab *t, const struct shmtab_value *key,
			      const struct shmtab_value *val)
{
	return tpush(t, key, val, false);
}

SHMTAB_EXPORT int shmtab_treplace(shmtab *t, const struct shmtab_value *key,
				  const struct shmtab_value *val)
{
	return tpush(t, key, val, true);
}

/* A stored value that does not decode as the value type: logged. */
static int value_damaged(struct shmtab *t)
{
	return shmtab__corrupt(t, "a value is not a valid %s", t->sc.vname);
}

/* The newest encoded value of key; an array element: the default when
 * unset.  *val malloc'd. */
static int tget_raw(struct shmtab *t, const struct shmtab_value *key,
		    void **val, size_t *vlen)
{
	struct tbuf kb;
	int64_t idx;
	int err;

	tbuf_init(&kb);
	err = key_encode(t, key, &kb, &idx);
	if (!err && idx >= 0) {
		err = table_lookup_index(t, kb.p, kb.len, (uint64_t)idx, val,
					 vlen);
		if (err == -ENOENT) {
			*val = malloc(t->sc.dlen ? t->sc.dlen : 1);
			err = *val ? 0 : -ENOMEM;
			if (*val)
				memcpy(*val, t->sc.dflt, t->sc.dlen);
			*vlen = t->sc.dlen;
		}
	} else if (!err) {
		err = shmtab_find(t, kb.p, kb.len, val, vlen);
	}
	tbuf_free(&kb);
	return err;
}

SHMTAB_EXPORT int shmtab_tfind(shmtab *t, const struct shmtab_value *key,
			       struct shmtab_value **val)
{
	void *raw = NULL;
	size_t len;
	int err;

	if (!val)
		return -EINVAL;
	*val = NULL;
	err = tget_raw(t, key, &raw, &len);
	if (err < 0)
		return err;
	err = type_decode(t->sc.v, t->sc.vn, raw, len, val);
	free(raw);
	if (err == -EBADMSG)
		return value_damaged(t);
	return err;
}

SHMTAB_EXPORT int shmtab_tmem(shmtab *t, const struct shmtab_value *key)
{
	struct tbuf kb;
	int64_t idx;
	int err;

	tbuf_init(&kb);
	err = key_encode(t, key, &kb, &idx);
	if (!err)
		err = shmtab_mem(t, kb.p, kb.len);
	tbuf_free(&kb);
	return err;
}

SHMTAB_EXPORT int shmtab_tremove(shmtab *t, const struct shmtab_value *key)
{
	struct tbuf kb;
	int64_t idx;
	int err;

	tbuf_init(&kb);
	err = key_encode(t, key, &kb, &idx);
	if (!err && idx >= 0)
		err = shmtab_array_unset(t, idx);
	else if (!err)
		err = shmtab_remove(t, kb.p, kb.len);
	tbuf_free(&kb);
	return err;
}

struct tvisit {
	struct shmtab *t;
	shmtab_tbinding_fn *fn;
	shmtab_tkey_fn *kfn;
	void *ctx;
	const struct shmtab_value *key;	/* find_all: the caller's key */
};

static int tvisit_binding(const void *key, size_t klen, const void *val,
			  size_t vlen, void *ctx)
{
	struct tvisit *v = ctx;
	struct shmtab_value *k = NULL, *d = NULL;
	int r;

	if (!v->key) {
		r = type_decode(v->t->sc.k, v->t->sc.kn, key, klen, &k);
		if (r < 0)
			return r;
	}
	r = type_decode(v->t->sc.v, v->t->sc.vn, val, vlen, &d);
	if (r == 0)
		r = v->fn(v->key ? v->key : k, d, v->ctx);
	free(k);
	free(d);
	return r;
}

static int tvisit_key(const void *key, size_t klen, void *ctx)
{
	struct tvisit *v = ctx;
	struct shmtab_value *k = NULL;
	int r = type_decode(v->t->sc.k, v->t->sc.kn, key, klen, &k);

	if (r == 0)
		r = v->kfn(k, v->ctx);
	free(k);
	return r;
}

SHMTAB_EXPORT int shmtab_tfind_all(shmtab *t, const struct shmtab_value *key,
				   shmtab_tbinding_fn *fn, void *ctx)
{
	struct tvisit v = { t, fn, NULL, ctx, key };
	struct tbuf kb;
	int64_t idx;
	int err;

	if (!fn)
		return -EINVAL;
	tbuf_init(&kb);
	err = key_encode(t, key, &kb, &idx);
	if (!err)
		err = shmtab_find_all(t, kb.p, kb.len, tvisit_binding, &v);
	tbuf_free(&kb);
	return err;
}

/* Iterate with v: every binding (v->fn) or every key (v->kfn). */
static int titer(struct shmtab *t, struct tvisit *v)
{
	int err;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	if (!v->fn && !v->kfn)
		return -EINVAL;
	err = schema_sync(t);
	if (err < 0)
		return err;
	return v->fn ? shmtab_iter(t, tvisit_binding, v)
		     : shmtab_iter_keys(t, tvisit_key, v);
}

SHMTAB_EXPORT int shmtab_titer(shmtab *t, shmtab_tbinding_fn *fn, void *ctx)
{
	struct tvisit v = { t, fn, NULL, ctx, NULL };

	return fn ? titer(t, &v) : -EINVAL;
}

SHMTAB_EXPORT int shmtab_titer_keys(shmtab *t, shmtab_tkey_fn *fn, void *ctx)
{
	struct tvisit v = { t, NULL, fn, ctx, NULL };

	return fn ? titer(t, &v) : -EINVAL;
}

/* --- integers ---------------------------------------------------------- */

static int int_decode(uint8_t type, const void *p, size_t len, int64_t *out)
{
	if (type == SHMTAB_INT32) {
		int32_t v;

		if (len != 4)
			return -EBADMSG;
		memcpy(&v, p, 4);
		*out = v;
		return 0;
	}
	if (len != 8)
		return -EBADMSG;
	memcpy(out, p, 8);
	return 0;
}

static bool int_fits(uint8_t type, int64_t v)
{
	if (type == SHMTAB_INT32)
		return v >= INT32_MIN && v <= INT32_MAX;
	if (type == SHMTAB_INT)
		return v >= LONG_MIN && v <= LONG_MAX;
	return true;
}

static void int_put(struct tbuf *b, uint8_t type, int64_t v)
{
	struct shmtab_value x = { .type = SHMTAB_INT64, .i64 = v };

	if (type == SHMTAB_INT32) {
		x.type = SHMTAB_INT32;
		x.i32 = (int32_t)v;
	}
	type_encode(NULL, 0, &x, b);
}

/* The table's integer value type, or -EINVAL. */
static int int_type(struct shmtab *t, uint8_t *type)
{
	int err;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	err = schema_sync(t);
	if (err < 0)
		return err;
	if (t->sc.vn != 1 || (t->sc.v[0] != SHMTAB_INT32 &&
			      t->sc.v[0] != SHMTAB_INT64 &&
			      t->sc.v[0] != SHMTAB_INT))
		return -EINVAL;
	*type = t->sc.v[0];
	return 0;
}

SHMTAB_EXPORT int shmtab_int_get(shmtab *t, const struct shmtab_value *key,
				 int64_t *val)
{
	void *raw;
	size_t len;
	uint8_t type;
	int err = int_type(t, &type);

	if (err < 0)
		return err;
	if (!val)
		return -EINVAL;
	err = tget_raw(t, key, &raw, &len);
	if (err < 0)
		return err;
	err = int_decode(type, raw, len, val);
	free(raw);
	if (err == -EBADMSG)
		return value_damaged(t);
	return err;
}

SHMTAB_EXPORT int shmtab_int_set(shmtab *t, const struct shmtab_value *key,
				 int64_t val)
{
	struct shmtab_value v = { .type = SHMTAB_INT64, .i64 = val };
	uint8_t type;
	int err = int_type(t, &type);

	if (err < 0)
		return err;
	if (!int_fits(type, val))
		return -ERANGE;
	if (type == SHMTAB_INT32) {
		v.type = SHMTAB_INT32;
		v.i32 = (int32_t)val;
	} else if (type == SHMTAB_INT) {
		v.type = SHMTAB_INT;
		v.n = (long)val;
	}
	return shmtab_treplace(t, key, &v);
}

struct add_ctx {
	struct shmtab *t;
	uint8_t type;
	int64_t delta, result;
};

static int add_update(const void *old, size_t olen, bool found,
		      struct tbuf *out, void *ctx)
{
	struct add_ctx *a = ctx;
	int64_t v = 0;
	int err = 0;

	if (a->t->sc.vn != 1 || a->t->sc.v[0] != a->type)
		return -EINVAL;			/* the schema changed meanwhile */
	if (found)
		err = int_decode(a->type, old, olen, &v);
	else if (a->t->sc.kind == KIND_ARRAY)	/* current: checked under lock */
		err = int_decode(a->type, a->t->sc.dflt, a->t->sc.dlen, &v);
	if (err < 0)
		return err;
	if (__builtin_add_overflow(v, a->delta, &v) || !int_fits(a->type, v))
		return -ERANGE;
	a->result = v;
	int_put(out, a->type, v);
	return out->err;
}

SHMTAB_EXPORT int shmtab_int_add(shmtab *t, const struct shmtab_value *key,
				 int64_t delta, int64_t *result)
{
	struct tbuf kb;
	int64_t idx;
	int err;

	for (int tries = 0;; tries++) {
		struct add_ctx a = { 0 };
		struct push p = { 0 };

		err = int_type(t, &a.type);
		if (err < 0)
			return err;
		tbuf_init(&kb);
		err = key_encode(t, key, &kb, &idx);
		if (!err) {
			a.t = t;
			a.delta = delta;
			p.key = kb.p;
			p.klen = kb.len;
			p.replace = true;
			p.update = add_update;
			p.ctx = &a;
			p.gen = t->sc.gen;
			p.check_gen = true;
			err = table_push(t, &p);
		}
		tbuf_free(&kb);
		if (!err && result)
			*result = a.result;
		if (err != -ESTALE || tries > 100)
			break;
	}
	if (err == -ESTALE)
		return -EAGAIN;
	if (err == -EBADMSG)
		return value_damaged(t);
	return err;
}
