/* SPDX-License-Identifier: MIT */
/*
 * shmtab-private.h - struct shmtab and the interfaces between lib/ files
 */
#ifndef SHMTAB_PRIVATE_H
#define SHMTAB_PRIVATE_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "format.h"
#include "shmtab-hooks.h"
#include "shmtab.h"

#define SHMTAB_EXPORT __attribute__((visibility("default")))

enum name_kind { NAME_POSIX = 1, NAME_FILE = 2 };

struct retired {			/* a reservation still in use by visitors */
	void *base;
	size_t len;
	struct retired *next;
};

struct shmtab {
	char *name;			/* "posix:/x" or "file:path" */
	char *path;			/* "/x" or "path" */
	enum name_kind kind;
	int fd;				/* -1 once closed */
	int own_fd;			/* holds our slot's lock (lock.c), or -1 */
	pid_t pid;			/* the process that opened it */
	bool rdonly;
	enum shmtab_lock lock;		/* this handle's method */
	uint32_t pagesize;
	uint64_t seed;

	struct shm_header *hdr;		/* HDR_SIZE bytes, never moves */
	uint8_t *base;			/* the object, [0, mapped) */
	uint64_t mapped;
	uint64_t pop_hi;		/* [0, pop_hi) of it populated (map_populate) */
	size_t resv;			/* address space reserved at base */
	struct retired *retired;

	int slot;			/* our slot, or -1 */
	unsigned pin_used;		/* our slot's pin words in use */
	int npins;			/* values pinned: mappings stay */
	bool wl_held;			/* the writer lock */
	bool wl_flock;			/* and FLOCK_WRITER, without a slot */
	uint64_t rd_bits[NSTRIPES / 64];/* stripes we read-lock */
	uint64_t wr_bits[NSTRIPES / 64];/* stripes we made odd */
	uint32_t rd_all;		/* iterations holding every stripe */
	bool rd_counted;		/* counted in hdr.rlocks */
	int group_depth;
	bool doomed;			/* the group met a lock cycle */
	int visit_depth;		/* inside a visitor: no writes */
	int held;			/* counted in the process's lock total */
	struct shmtab *held_next;	/* the thread's handles that call the
					 * caller's code (lock_user_push) */
	int user_refs;			/* pushes not popped */
	int logging;			/* the log hook runs about this table:
					 * no writes through it (shmtab__tlog) */
	dev_t obj_dev;			/* the object, to tell two handles of */
	ino_t obj_ino;			/* one table (lock.c self_holder) */
	int quiet;			/* speculative read: do not log damage */
	uint64_t gave_up;		/* 1 + the lock_state() a read gave
					 * up on (table.c) */

	struct shmtab *reg_prev, *reg_next;	/* the process's handles */
	bool reg_linked;			/* in that list */

	/* schema.c: the table's schema as of sc.gen (sc.valid) */
	struct sc_cache {
		bool valid;
		uint64_t gen;
		uint32_t kind;		/* KIND_HASH, KIND_ARRAY */
		uint8_t k[TYPE_MAX], v[TYPE_MAX];
		size_t kn, vn;		/* 0: bytes */
		uint8_t *dflt;		/* arrays: encoded default */
		size_t dlen;
		char *kname, *vname;
		struct shmtab_value *dval;
	} sc;
	const struct schema_spec *want;	/* during open: the declared schema */
};

/* A declared schema, compiled (schema.c). */
struct schema_spec {
	bool kind_set, k_set, v_set, d_set;
	uint32_t kind;
	uint8_t k[TYPE_MAX], v[TYPE_MAX];
	size_t kn, vn;
	uint8_t d[DEFAULT_MAX];
	size_t dn;
	const struct shmtab_value *dval;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Bits in a 256-bit stripe set. */
static inline bool bits_test(const uint64_t *b, unsigned s)
{
	return b[s / 64] >> (s % 64) & 1;
}
static inline void bits_set(uint64_t *b, unsigned s)
{
	b[s / 64] |= (uint64_t)1 << (s % 64);
}
static inline bool bits_any(const uint64_t *b)
{
	return b[0] | b[1] | b[2] | b[3];
}

static inline unsigned hash_stripe(uint64_t h)
{
	return (unsigned)(h >> 56) % NSTRIPES;
}

#define ALL_STRIPES NSTRIPES		/* "every stripe" for lock calls */

/* Most the object grows in one step: fallocate and the first touch of the
 * pages are paid by one write (about 1.5 ms for 4 MiB on tmpfs here). */
#define GROW_MAX ((uint64_t)4 << 20)
#define POP_AHEAD ((uint64_t)256 << 10)	/* map_populate() beyond a step */

/* Relaxed 64-bit access to shared words (other processes change them). */
static inline uint64_t ld64(const void *p)
{
	return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
}
static inline uint32_t ld32(const void *p)
{
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
}
static inline void st64(void *p, uint64_t v)
{
	__atomic_store_n((uint64_t *)p, v, __ATOMIC_RELAXED);
}
static inline void st32(void *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, v, __ATOMIC_RELAXED);
}

/* Most records a chain can have: a bound that scribbled counters cannot
 * raise (every record takes at least 16 bytes of the mapping). */
static inline uint64_t chain_limit(const struct shmtab *t)
{
	return t->mapped / 16 + 1;
}

/* A chunk's head word, and its parts. */
static inline uint64_t head_word(uint32_t kind, unsigned cls, uint64_t next)
{
	return kind | (uint64_t)cls << HEAD_CLS_SHIFT |
	       next >> 3 << HEAD_NEXT_SHIFT;
}
static inline uint32_t chunk_kind(const struct chunk *c)
{
	return (uint32_t)(ld64(&c->head) & HEAD_KIND_MASK);
}
static inline unsigned chunk_cls(const struct chunk *c)
{
	return (unsigned)(ld64(&c->head) >> HEAD_CLS_SHIFT & HEAD_CLS_MASK);
}
static inline uint64_t chunk_next(const struct chunk *c)
{
	return ld64(&c->head) >> HEAD_NEXT_SHIFT << 3;
}

/* Index cells (format.h): a key's cell for binding off, and its parts. */
static inline uint64_t cell_make(uint64_t h, uint64_t off)
{
	return (h & ~CELL_OFF_MASK) | off >> 3;
}
static inline uint64_t cell_off(uint64_t v)
{
	return (v & CELL_OFF_MASK) << 3;
}
static inline bool cell_match(uint64_t v, uint64_t h)
{
	return (v ^ h) >> OFF_BITS == 0;
}
/* The home of hash h in an index of n cells (a power of two >= 16); also
 * of a cell word v when n <= 2^CELL_TAG_BITS. */
static inline uint64_t hash_home(uint64_t h, uint64_t n)
{
	return h >> (64 - __builtin_ctzll(n));
}

/*
 * A binding record's parts, all from ONE load of its lens word, checked
 * against its chunk (map_rec_view): use these, never a later load of the
 * word, which another process may have changed since.  Under an in-place
 * replace (inplace.c) the value bytes may change meanwhile but stay inside
 * the chunk (the key length never changes); readers validate afterwards.
 */
struct rview {
	const uint8_t *key;
	uint8_t *val;
	uint64_t vlen;
	uint32_t klen;
	uint64_t lens;			/* the word they came from */
	uint64_t size;			/* the chunk's size */
};

/* A chunk's head word, loaded once, and its parts (map_chunk_snap). */
struct cview {
	uint32_t kind;
	unsigned cls;			/* checked: 2..NCLASSES-1 */
	uint64_t size;			/* class_size(cls), inside the mapping */
	uint64_t next;
};

/* error.c */
int shmtab__corrupt(struct shmtab *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void shmtab__log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void shmtab__tlog(struct shmtab *t, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* hash.c */
uint64_t hash_bytes(uint64_t seed, const void *p, size_t len);
uint64_t hash_key(struct shmtab *t, const void *key, size_t klen);
/* Where key lives in the index: *cell (its cell's offset, 0 if absent),
 * *slot_for_insert (first free or tombstone cell on its probe path). */
struct lookup {
	uint64_t cell;
	uint64_t insert;
	uint64_t rec;			/* newest binding, 0 if none */
};
int hash_lookup(struct shmtab *t, uint64_t h, const void *key, size_t klen,
		struct lookup *lk);
int hash_maintain(struct shmtab *t);
int cell_set_off(struct shmtab *t, uint64_t cell, uint64_t h,
		 uint64_t old_off, uint64_t new_off);
int cell_claim(struct shmtab *t, uint64_t cell, uint64_t h, uint64_t off);
int hash_index(struct shmtab *t, cell_t **cells, uint64_t *n);
uint64_t hash_cells_for(uint64_t keys);

/* map.c */
int byte_lock(int fd, off_t byte, short type, bool wait);
int byte_held(int fd, off_t byte);
void *map_span(struct shmtab *t, uint64_t off, uint64_t len);
struct chunk *map_chunk(struct shmtab *t, uint64_t off);
struct chunk *map_rec(struct shmtab *t, uint64_t off);
struct chunk *map_rec_snap(struct shmtab *t, uint64_t off, uint64_t *lens,
			   uint64_t *size);
struct chunk *map_chunk_snap(struct shmtab *t, uint64_t off, struct cview *v);

/* Binding record off and its parts (struct rview), or NULL. */
static inline struct chunk *map_rec_view(struct shmtab *t, uint64_t off,
					 struct rview *v)
{
	struct chunk *c = map_rec_snap(t, off, &v->lens, &v->size);

	if (c) {
		v->klen = (uint32_t)(v->lens >> LEN_VBITS);
		v->vlen = v->lens & LEN_VMASK;
		v->key = (const uint8_t *)(c + 1);
		v->val = (uint8_t *)(c + 1) + v->klen;
	}
	return c;
}

/* 1 when the record seen as v holds key, 0 when not (the index compared
 * the hash's top bits already). */
static inline int rec_key_equal(const struct rview *v, const void *key,
				size_t klen)
{
	if (v->klen != klen)
		return 0;
	return !klen || !memcmp(v->key, key, klen);
}
void map_gen_bump(int fd);
int map_refresh(struct shmtab *t);
int map_grow(struct shmtab *t, uint64_t need);
void map_prefault(struct shmtab *t, const void *p, size_t len);
void map_populate(struct shmtab *t, uint64_t off, uint64_t end);
int map_attach(struct shmtab *t, int oflags, const struct shmtab_options *opt);
void map_detach(struct shmtab *t);
int table_format(struct shmtab *t, uint32_t pagesize, uint64_t init,
		 enum shmtab_lock lock, const struct schema *sc);
int table_clear(struct shmtab *t, uint64_t init);
int table_redo_clear(struct shmtab *t);
int mutex_init(struct shm_header *h);
bool mutex_kind_mend(void *mutex);
#ifdef __GLIBC__
extern int mutex_kind_want;	/* map.c: -2 until learnt */
static inline bool mutex_kind_differs(const void *mutex)
{
	return __atomic_load_n(&((const pthread_mutex_t *)mutex)->__data.__kind,
			       __ATOMIC_RELAXED) !=
	       __atomic_load_n(&mutex_kind_want, __ATOMIC_RELAXED);
}
#else
static inline bool mutex_kind_differs(const void *mutex)
{
	(void)mutex;
	return false;
}
#endif
uint64_t *word_ptr(struct shmtab *t, uint64_t off);

/* alloc.c */
uint64_t class_size(unsigned cls);
unsigned size_class(uint64_t n);
int chunk_alloc(struct shmtab *t, uint64_t need, uint32_t kind, uint64_t *off);
int chunk_free(struct shmtab *t, uint64_t off);
void chunk_set_next(struct shmtab *t, uint64_t off, uint64_t next);
void chunk_new_next(struct shmtab *t, uint64_t off, uint64_t next);
void ustore(struct shmtab *t, uint64_t off, uint64_t val);
void undo_commit(struct shmtab *t);
int undo_rollback(struct shmtab *t);

#define HOFF(field) ((uint64_t)offsetof(struct shm_header, field))

/* names.c */
int obj_reopen(const struct shmtab *t);

/* lock.c */
int lock_write_begin(struct shmtab *t, unsigned stripe);
void lock_write_end(struct shmtab *t);
int lock_read(struct shmtab *t, unsigned stripe, bool *taken);
void lock_read_release(struct shmtab *t, unsigned stripe, bool taken);
bool lock_covers(struct shmtab *t, unsigned stripe);
int lock_wait_writer(struct shmtab *t);
bool lock_writer_alive(struct shmtab *t);
uint64_t lock_state(struct shmtab *t);
void lock_group_release(struct shmtab *t);
int lock_reset_shared(struct shmtab *t);
int lock_claim_slot(struct shmtab *t);
void lock_drop_slot(struct shmtab *t);
void lock_user_unlink(struct shmtab *t);

/*
 * The handles whose visitor, group or log hook this thread is in, newest
 * first (held_next): the only handles whose locks it may hold while it
 * calls the library, through another handle.  A lone step runs none of the
 * caller's code but the log hook.  lock.c asks it before it waits
 * (self_holder).
 */
extern __thread struct shmtab *lock_my_users
	__attribute__((tls_model("initial-exec")));

/* t will call the caller's code (a visitor, a group, the log hook) with its
 * locks held, until lock_user_pop(). */
static inline void lock_user_push(struct shmtab *t)
{
	if (t->user_refs++)
		return;
	t->held_next = lock_my_users;
	lock_my_users = t;
}

static inline void lock_user_pop(struct shmtab *t)
{
	if (--t->user_refs)
		return;
	if (lock_my_users == t)
		lock_my_users = t->held_next;
	else
		lock_user_unlink(t);
}
void reg_add(struct shmtab *t);
void reg_del(struct shmtab *t);
int recover(struct shmtab *t);
uint64_t now_ns(void);
bool pid_dead(uint32_t pid);
bool slot_dead(struct shmtab *t, unsigned i, uint32_t pid);
bool lock_interrupted(void);
void lock_backoff(unsigned *n);
bool lock_stripe_read_locked(struct shmtab *t, unsigned s);
bool lock_stripes_clear(struct shmtab *t, unsigned stripe);

int inplace_replace(struct shmtab *t, uint64_t h, const void *key,
		    size_t klen, const void *val, size_t vlen);
#define INPLACE_BUSY 2
bool inplace_wait(struct shmtab *t, uint64_t h);
int inplace_setup(struct shmtab *t);
int inplace_drain(struct shmtab *t);
void inplace_reset(struct shmtab *t);
void fault_point(const char *point);	/* shmtab__set_fault's hook */

/* pin.c */
bool pin_may(struct shmtab *t, uint32_t kind, uint64_t size, uint64_t off);
void limbo_put(struct shmtab *t, uint64_t off, unsigned cls);
void limbo_reclaim(struct shmtab *t);
void pin_live(struct shmtab *t, uint64_t live[NSLOTS / 64]);
uint64_t pin_next(struct shmtab *t, const uint64_t live[NSLOTS / 64],
		  uint64_t from, uint64_t top, unsigned *cls);

/* check.c: the check itself; a read lock on everything or the writer lock */
int check_locked(struct shmtab *t);

/* feed.c */
void feed_note(struct shmtab *t, uint64_t h);
uint64_t feed_hash(uint64_t h);
void feed_wake(struct shmtab *t);

/* table.c: reading under the right protection */
struct reader {
	unsigned stripe;
	uint32_t seq;
	uint64_t iseq;
	bool direct;			/* covered by a lock: no validation */
	bool taken;			/* a read lock to release */
	unsigned fails;
};
int read_enter(struct shmtab *t, unsigned stripe, struct reader *rd);
int read_snap(struct shmtab *t, struct reader *rd);
bool read_ok(struct shmtab *t, struct reader *rd);
int read_retry(struct shmtab *t, struct reader *rd);
void read_leave(struct shmtab *t, struct reader *rd);
int step_begin(struct shmtab *t, unsigned stripe);
void step_end(struct shmtab *t, uint64_t h, bool changed);
void step_abort(struct shmtab *t);

/* table.c */
int table_unlink_binding(struct shmtab *t, uint64_t cell, uint64_t h,
			 uint64_t prev, uint64_t rec);
int write_check(struct shmtab *t);
struct snap {				/* private copies of a key's bindings */
	uint8_t **vals;
	size_t *lens;
	size_t n, cap;
};
void snap_free(struct snap *s);
int snap_push(struct snap *s, const void *p, size_t len);
int snap_key(struct shmtab *t, const void *key, size_t klen, struct snap *s);
int chain_walk(struct shmtab *t, uint64_t h, const void *key, size_t klen,
	       struct reader *rd,
	       int (*fn)(struct shmtab *t, const struct rview *v,
			 uint64_t off, uint64_t prev, void *ctx),
	       void *ctx, uint64_t *cell);

/* typed.c: type codes (one byte per node, prefix order) and encodings */
struct tbuf {				/* a growable byte buffer */
	uint8_t *p;
	size_t len, cap;
	int err;			/* sticky: -ENOMEM, -EFBIG */
	unsigned nodes;			/* type_encode: nodes seen */
	uint8_t inl[96];
};
void tbuf_init(struct tbuf *b);
void tbuf_free(struct tbuf *b);
int tbuf_take(struct tbuf *b, void **out, size_t *len);
int type_compile(const char *name, uint8_t *code, size_t *n);
size_t type_span(const uint8_t *code, size_t n);
int type_name(const uint8_t *code, size_t n, char *buf, size_t cap);
int type_encode(const uint8_t *code, size_t n, const struct shmtab_value *v,
		struct tbuf *b);
int type_validate(const uint8_t *code, size_t n, const void *buf, size_t len);
int type_decode(const uint8_t *code, size_t n, const void *buf, size_t len,
		struct shmtab_value **out);
int type_zero(const uint8_t *code, size_t n, struct tbuf *b);
int type_zero_nested(const uint8_t *code, size_t n, struct tbuf *b);
int type_format(const uint8_t *code, size_t n, const void *buf, size_t len,
		struct tbuf *b);
int type_parse(const uint8_t *code, size_t n, const char *text, size_t tlen,
	       struct tbuf *b);

/* schema.c */
int spec_compile(const struct shmtab_schema *s, struct schema_spec *sp);
void schema_fill(struct schema *dst, const struct schema_spec *sp);
int schema_sync(struct shmtab *t);
int schema_apply(struct shmtab *t, const struct schema_spec *sp);
int schema_match(struct shmtab *t, const struct schema_spec *sp);
void schema_drop(struct shmtab *t);
static inline bool schema_typed(const struct shmtab *t)
{
	return t->sc.kn || t->sc.vn || t->sc.kind != KIND_HASH;
}
static inline uint64_t le64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* table.c: a write step that may compute the new value from the old one */
struct push {
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
	bool replace;
	/* called under the writer lock with the newest value (found false:
	 * none); puts the new value into out, or returns an error */
	int (*update)(const void *old, size_t olen, bool found,
		      struct tbuf *out, void *ctx);
	void *ctx;
	bool check_gen;			/* key/val were encoded with the schema
					 * of generation gen: -ESTALE if it
					 * changed since */
	uint64_t gen;
};
int table_push(struct shmtab *t, struct push *p);
int table_lookup_index(struct shmtab *t, const void *key, size_t klen,
		       uint64_t idx, void **val, size_t *vlen);
int table_remove(struct shmtab *t, const void *key, size_t klen,
		 const uint64_t *bound);

#endif /* SHMTAB_PRIVATE_H */
