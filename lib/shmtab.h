/* SPDX-License-Identifier: MIT */
/*
 * shmtab.h - shared hash tables in POSIX shared memory or in files
 *
 * A table maps byte-string keys to a stack of byte-string values (bindings).
 * Any number of unrelated processes may open the same table at once; each
 * opens its own handle.  The semantics follow Ocamlnet's netshm: add hides
 * the newest binding, remove restores the one below, replace changes only
 * the newest, find_all lists newest first, length counts bindings.
 *
 * Every call returns 0 (or the documented non-negative value) on success and
 * a negative errno on failure.  The library never prints, aborts or exits.
 *
 * Caveats
 *  - A handle belongs to the process that opened it: never use it in a child
 *    after fork().  The child opens the table itself.
 *  - A handle may be used by one thread at a time.  Different threads may
 *    use different handles, also on the same table.
 *  - Pointers handed to visitors (read_blocks, write_blocks, iter on a
 *    read-write handle) are valid only during that call.
 *  - A process that writes the table's object with anything but this library
 *    can make calls fail with -EBADMSG, never crash them.  Truncating the
 *    object under a live mapping is the exception: the kernel then raises
 *    SIGBUS on access, which no library can prevent.
 */
#ifndef SHMTAB_H
#define SHMTAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmtab shmtab;		/* one open table in this process */

enum shmtab_lock {
	SHMTAB_LOCK_BEST = 0,		/* the fastest method that works here */
	SHMTAB_LOCK_NONE,		/* no locking: no concurrent writer */
	SHMTAB_LOCK_RECORD,		/* fcntl record locks */
	SHMTAB_LOCK_MUTEX,		/* robust process-shared mutex */
};

struct shmtab_options {			/* NULL means all defaults */
	size_t pagesize;		/* 0: 256 / the stored one; else >= 160, multiple of 4 */
	size_t init;			/* expected number of bindings; 0: small */
	enum shmtab_lock lock;
};

/* Largest key and value the format stores. */
#define SHMTAB_KEY_MAX   (((size_t)1 << 24) - 1)
#define SHMTAB_VALUE_MAX (((size_t)1 << 40) - 1)

/**
 * shmtab_open() - open or create a table
 * @name:   "posix:/NAME", "file:PATH"; a bare "/NAME" with no other '/' is
 *          POSIX, anything else a file path
 * @oflags: O_RDONLY or O_RDWR, with O_CREAT, O_EXCL, O_TRUNC
 * @mode:   permission bits when the object is created
 * @opt:    options, or NULL
 * @out:    the new handle
 *
 * An object of size 0 opened read-write becomes an empty table.  O_TRUNC
 * removes every binding (the object shrinks only when no other process has it
 * open).  Returns 0, -EINVAL (bad flags, name or option; a page size that
 * differs from the stored one; a lock method that differs from the stored
 * one), -EBADMSG (the object is not a valid table; it is left unchanged),
 * -ENOMEM, or the errno of open/shm_open/mmap/fallocate.
 */
int shmtab_open(const char *name, int oflags, mode_t mode,
		const struct shmtab_options *opt, shmtab **out);

/**
 * shmtab_create_unique() - create a table under a new name
 * @pattern: a name whose every 'X' is replaced by a random character of
 *           [0-9A-Z] until an object that did not exist is created
 *
 * Returns 0, -EEXIST after 1000 attempts, or an error of shmtab_open().
 * shmtab_name() gives the real name.
 */
int shmtab_create_unique(const char *pattern, mode_t mode,
			 const struct shmtab_options *opt, shmtab **out);

/* The full name with its "posix:" or "file:" prefix. */
const char *shmtab_name(const shmtab *t);

/* Close the handle and free it; the object stays.  NULL is accepted. */
int shmtab_close(shmtab *t);

/* Remove the object's name.  Open handles keep working. */
int shmtab_unlink(const char *name);

int shmtab_chmod(shmtab *t, mode_t mode);
int shmtab_chown(shmtab *t, uid_t uid, gid_t gid);

/*
 * Bindings.  Keys and values are byte strings of any content; klen 0 is a
 * valid key.  Writers return -EROFS on a read-only handle, -EBUSY from inside
 * a visitor of the same table (or a group of another handle of it that holds
 * what they need: the thread would wait for itself), -ENOSPC when the object
 * cannot grow, -EDEADLK inside a group that met a lock cycle.
 */
int shmtab_add(shmtab *t, const void *key, size_t klen,
	       const void *val, size_t vlen);
int shmtab_replace(shmtab *t, const void *key, size_t klen,
		   const void *val, size_t vlen);
/* The newest value; *val from malloc (never NULL on success), caller frees. */
int shmtab_find(shmtab *t, const void *key, size_t klen,
		void **val, size_t *vlen);
/* Copy the newest value into buf (at most cap bytes); *vlen gets its whole
 * length, so a caller can retry with a larger buffer. */
int shmtab_find_into(shmtab *t, const void *key, size_t klen,
		     void *buf, size_t cap, size_t *vlen);
int shmtab_mem(shmtab *t, const void *key, size_t klen); /* 1 or 0 */
/* Drop the newest binding; 0 also when unbound. */
int shmtab_remove(shmtab *t, const void *key, size_t klen);
long long shmtab_length(shmtab *t);	/* bindings, not keys */

/* Visitors: return 0 to go on, non-zero to stop; the call returns that. */
typedef int shmtab_binding_fn(const void *key, size_t klen, const void *val,
			      size_t vlen, void *ctx);
typedef int shmtab_key_fn(const void *key, size_t klen, void *ctx);
int shmtab_find_all(shmtab *t, const void *key, size_t klen,
		    shmtab_binding_fn *fn, void *ctx);
int shmtab_iter(shmtab *t, shmtab_binding_fn *fn, void *ctx);
int shmtab_iter_keys(shmtab *t, shmtab_key_fn *fn, void *ctx);

/*
 * Groups: fn runs with the locks of all its operations merged; no other
 * process interleaves with what it read or wrote.  Nestable.  Returns fn's
 * value, or -EDEADLK when one of its operations met a lock cycle with another
 * process: that operation changed nothing, earlier ones stay done, and every
 * later operation of the group also returns -EDEADLK.  Retry the group.
 */
int shmtab_group(shmtab *t, int (*fn)(shmtab *t, void *ctx), void *ctx);

/* Blocks: each binding of key, newest first, as pagesize-bounded slices in
 * shared memory, then one call with block == NULL. */
enum {
	SHMTAB_CONTINUE = 0,
	SHMTAB_NEXT = 1,
	SHMTAB_BREAK = 2,
	SHMTAB_REMOVE_BINDING = 3,
};
int shmtab_read_blocks(shmtab *t, const void *key, size_t klen,
		       int (*fn)(const void *block, size_t len, void *ctx),
		       void *ctx);
int shmtab_write_blocks(shmtab *t, const void *key, size_t klen,
			int (*fn)(void *block, size_t len, void *ctx),
			void *ctx);

/* 0, or -EBADMSG when the structure is damaged (the log hook says where). */
int shmtab_check(shmtab *t);

/*
 * shmtab_salvage() - every binding that can still be read, for repair
 *
 * fn sees first the bindings the index still reaches (how ==
 * SHMTAB_SALVAGE_INDEXED; each key's bindings together, newest first, as far
 * as its chain is whole), then every other whole binding record found in
 * the heap (SHMTAB_SALVAGE_ORPHAN; order unknown: a binding cut off from
 * its chain, or a key whose cell was damaged).  Freed, replaced and removed
 * bindings are not resurrected.  A read-write handle holds a read lock on
 * everything meanwhile; a read-only one reads without a lock, so run it on
 * a table nobody writes.  fn returning non-zero stops the walk.
 */
enum { SHMTAB_SALVAGE_INDEXED = 0, SHMTAB_SALVAGE_ORPHAN = 1 };
typedef int shmtab_salvage_fn(const void *key, size_t klen, const void *val,
			      size_t vlen, int how, void *ctx);
int shmtab_salvage(shmtab *t, shmtab_salvage_fn *fn, void *ctx);
/* Human-readable layout, for debugging. */
int shmtab_dump(shmtab *t, FILE *out);
/* For any value these calls return. */
const char *shmtab_strerror(int err);

/*
 * Log hook: the library is silent unless a hook is set.  It is called for
 * damaged tables (with the table's name) and recovered locks, maybe with
 * that table's locks held: there it may read the table; writes to it give
 * -EBUSY.
 */
typedef void shmtab_log_fn(int level, const char *msg, void *ctx);
void shmtab_set_log(shmtab_log_fn *fn, void *ctx);

/* Statistics (shmtab stat, the file view). */
struct shmtab_stat {
	uint64_t bindings;		/* == shmtab_length() */
	uint64_t keys;			/* keys with at least one binding */
	uint64_t size;			/* bytes in the object */
	uint64_t used;			/* bytes in live records, the index and the
					 * library's own chunks */
	uint64_t free;			/* bytes on the free lists */
	uint64_t index_cells;		/* hash index capacity */
	uint32_t pagesize;
	uint32_t version;		/* format version */
	enum shmtab_lock lock;		/* the method stored in the table */
	uint32_t holders;		/* processes with the table open (slots) */
	uint32_t dead_holders;		/* slots of processes that died */
	uint64_t changes;		/* the change counter */
	uint64_t recoveries;		/* dead lock owners recovered from */
};
int shmtab_stat(shmtab *t, struct shmtab_stat *st);

/*
 * Change feed.  Every change bumps a 64-bit counter and records the key's
 * hash (shmtab_key_hash) in a ring of SHMTAB_FEED_SIZE entries.
 * shmtab_changes() copies the hashes of the changes after *since (at most
 * max, oldest first) and advances *since; it returns the number copied, or
 * -EOVERFLOW (with *since set to the current counter) when changes were lost
 * from the ring: the caller must then assume everything changed.  A hash of
 * 0 says the same of one change (a clear, or a writer that died before it
 * wrote its entry).  The ring keeps 56 bits of a hash: shmtab_key_hash()
 * gives those (its low 8 bits are 0), so the two compare equal.
 * shmtab_wait() sleeps until the counter differs from since or timeout_ms
 * passes (-1: no limit); 0 when it moved, -ETIMEDOUT, -EINTR.
 */
#define SHMTAB_FEED_SIZE 256
uint64_t shmtab_counter(shmtab *t);
int shmtab_changes(shmtab *t, uint64_t *since, uint64_t *hashes, size_t max);
int shmtab_wait(shmtab *t, uint64_t since, int timeout_ms);
uint64_t shmtab_key_hash(shmtab *t, const void *key, size_t klen);

/*
 * Typed tables (doc/FORMAT.md "Typed values"; netshm's Netshm_data, Netshm_hashtbl and
 * Netshm_array).  A type is named by text:
 *   "bytes"      any bytes: what an untyped table holds
 *   "string"     text
 *   "int32", "int64"
 *   "int"        a C long, stored as 64 bits on every platform
 *   "pair(A,B)"  A and B types; pairs nest: "pair(string,pair(int64,int64))"
 * The encoding is fixed and little-endian (doc/FORMAT.md, "Typed values"): a whole value of
 * type string or bytes is its bytes, an integer its 4 or 8 bytes, a pair a
 * sequence of 32-bit words.  A table records its key type and value type
 * (its schema) in its header; every process, the CLI and shmtabfs read them
 * from there.  In a typed table, add and replace refuse a key or value that
 * is not a valid encoding of the table's type with -EINVAL, and
 * shmtab_write_blocks is -EINVAL unless the value type is bytes or string
 * (in-place writes cannot be checked).
 */
enum shmtab_type {
	SHMTAB_BYTES = 1,
	SHMTAB_STRING,
	SHMTAB_INT32,
	SHMTAB_INT64,
	SHMTAB_INT,
	SHMTAB_PAIR,
};

/* A typed value.  Values the library returns are one malloc'd block (free()
 * it); their strings and bytes are followed by a NUL not counted in len. */
struct shmtab_value {
	enum shmtab_type type;
	union {
		int32_t i32;		/* SHMTAB_INT32 */
		int64_t i64;		/* SHMTAB_INT64 */
		long n;			/* SHMTAB_INT */
		struct {
			const void *p;
			size_t len;
		} s;			/* SHMTAB_STRING, SHMTAB_BYTES */
		struct {
			const struct shmtab_value *a, *b;
		} pair;			/* SHMTAB_PAIR */
	};
};

/* Builders for arguments: shmtab_tfind(t, SHMTAB_V_STR("hits"), &v). */
#define SHMTAB_V_I32(x) \
	(&(const struct shmtab_value){ .type = SHMTAB_INT32, .i32 = (x) })
#define SHMTAB_V_I64(x) \
	(&(const struct shmtab_value){ .type = SHMTAB_INT64, .i64 = (x) })
#define SHMTAB_V_INT(x) \
	(&(const struct shmtab_value){ .type = SHMTAB_INT, .n = (x) })
#define SHMTAB_V_STR(str) \
	(&(const struct shmtab_value){ .type = SHMTAB_STRING, \
				       .s = { (str), strlen(str) } })
#define SHMTAB_V_BYTES(ptr, n) \
	(&(const struct shmtab_value){ .type = SHMTAB_BYTES, .s = { (ptr), (n) } })
#define SHMTAB_V_PAIR(x, y) \
	(&(const struct shmtab_value){ .type = SHMTAB_PAIR, .pair = { (x), (y) } })

/* Encode v (its type is its own) into *buf (malloc'd). -EINVAL for a bad value. */
int shmtab_encode(const struct shmtab_value *v, void **buf, size_t *len);
/* Decode an encoding of type into *out (one malloc'd block).  -EINVAL for a
 * bad type name, -EBADMSG for bytes that are not a valid encoding. */
int shmtab_decode(const char *type, const void *buf, size_t len,
		  struct shmtab_value **out);
/*
 * The text form of an encoded value, as shmtabfs shows it and shmtab get
 * prints it: integers in decimal with a newline; a string or bytes value as
 * it is; a pair as its parts (nested pairs flattened) separated by tabs, with
 * a newline; inside a pair a string is escaped (\\ \t \n \r \xHH) and bytes
 * are in hex.  *text is malloc'd and NUL-terminated.  -EBADMSG, -EINVAL.
 */
int shmtab_format(const char *type, const void *buf, size_t len,
		  char **text, size_t *tlen);
/* Parse the text form (one trailing newline accepted) into an encoding of
 * type.  -EINVAL when it does not parse (or an integer is out of range). */
int shmtab_parse(const char *type, const char *text, size_t tlen,
		 void **buf, size_t *len);
/* Check a type name and write its canonical spelling ("pair(int64,string)")
 * into buf (cap bytes).  Returns 0, -EINVAL, or -ERANGE when cap is short. */
int shmtab_type_name(const char *type, char *buf, size_t cap);

enum shmtab_kind {
	SHMTAB_KIND_ANY = 0,		/* opening: whatever is stored */
	SHMTAB_KIND_HASH,		/* a hash table (what shmtab_open makes) */
	SHMTAB_KIND_ARRAY,		/* a sparse array: keys are int64 indexes */
};

/* SHMTAB_DEFAULT_MAX: the longest encoded default of an array. */
#define SHMTAB_DEFAULT_MAX 4000

struct shmtab_schema {
	enum shmtab_kind kind;
	const char *key_type;		/* hash tables; NULL: "bytes" / stored */
	const char *value_type;		/* NULL: "bytes" / stored */
	const struct shmtab_value *dflt;/* arrays: what an unset element
					 * reads as; NULL: the type's zero
					 * (0, "", pairs of those) / stored */
};

/**
 * shmtab_open_typed() - open or create a table with a schema
 *
 * A table created by this call (or emptied by O_TRUNC) records schema; a
 * new array has length 0.  An existing table keeps its schema and its
 * length; each non-NULL field of schema (and a kind other than ANY) must
 * match the stored one, or the call fails with -EINVAL and changes nothing.
 * schema NULL is shmtab_open().  A bad type name is -EINVAL before anything
 * is created.
 */
int shmtab_open_typed(const char *name, int oflags, mode_t mode,
		      const struct shmtab_options *opt,
		      const struct shmtab_schema *schema, shmtab **out);
/* Give an empty table (no bindings) a new schema; NULL fields mean "bytes"
 * and the type's zero, kind ANY a hash table; an array starts with length
 * 0.  -ENOTEMPTY otherwise. */
int shmtab_set_schema(shmtab *t, const struct shmtab_schema *schema);
/* The stored schema.  Its strings and default belong to the handle and stay
 * valid until the handle is closed or the schema changes. */
int shmtab_get_schema(shmtab *t, struct shmtab_schema *schema);

/*
 * Typed bindings: the netshm semantics of the byte calls, with keys and
 * values checked against the schema (-EINVAL when they do not match).  On
 * an array, the key is an int64 index: find gives the default for an unset
 * index, replace sets, remove unsets, add is -EINVAL; an index outside
 * [0, length) is -EINVAL.  Visitors get decoded values, valid during the
 * call.
 */
typedef int shmtab_tbinding_fn(const struct shmtab_value *key,
			       const struct shmtab_value *val, void *ctx);
typedef int shmtab_tkey_fn(const struct shmtab_value *key, void *ctx);
int shmtab_tadd(shmtab *t, const struct shmtab_value *key,
		const struct shmtab_value *val);
int shmtab_treplace(shmtab *t, const struct shmtab_value *key,
		    const struct shmtab_value *val);
/* *val: one malloc'd block, free() it. */
int shmtab_tfind(shmtab *t, const struct shmtab_value *key,
		 struct shmtab_value **val);
int shmtab_tmem(shmtab *t, const struct shmtab_value *key);
int shmtab_tremove(shmtab *t, const struct shmtab_value *key);
int shmtab_tfind_all(shmtab *t, const struct shmtab_value *key,
		     shmtab_tbinding_fn *fn, void *ctx);
int shmtab_titer(shmtab *t, shmtab_tbinding_fn *fn, void *ctx);
int shmtab_titer_keys(shmtab *t, shmtab_tkey_fn *fn, void *ctx);

/*
 * Integer values (value type int32, int64 or int): get, set, and an atomic
 * add that returns the new value.  An unbound key reads -ENOENT and adds
 * from 0 (an array element: from the default).  A result outside the value
 * type is -ERANGE and changes nothing.
 */
int shmtab_int_get(shmtab *t, const struct shmtab_value *key, int64_t *val);
int shmtab_int_set(shmtab *t, const struct shmtab_value *key, int64_t val);
int shmtab_int_add(shmtab *t, const struct shmtab_value *key, int64_t delta,
		   int64_t *result);

/*
 * Sparse arrays (SHMTAB_KIND_ARRAY).  The length lives in the header; an
 * index never set reads as the default.  Values are encoded (see
 * shmtab_encode).  Out of [0, length): -EINVAL.  Not an array: -EINVAL.
 */
long long shmtab_array_length(shmtab *t);
int shmtab_array_get(shmtab *t, int64_t i, void **val, size_t *vlen);
int shmtab_array_set(shmtab *t, int64_t i, const void *val, size_t vlen);
int shmtab_array_unset(shmtab *t, int64_t i);	/* back to the default */
/* Shrinking drops the elements past the end; growing adds unset ones. */
int shmtab_array_resize(shmtab *t, int64_t n);
/* n elements, all unset. */
int shmtab_array_init(shmtab *t, int64_t n);

#ifdef __cplusplus
}
#endif
#endif /* SHMTAB_H */
