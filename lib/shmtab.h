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
 * a visitor of the same handle, -ENOSPC when the object cannot grow,
 * -EDEADLK inside a group that met a lock cycle.
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
 * damaged tables (with the table's name) and recovered locks.
 */
typedef void shmtab_log_fn(int level, const char *msg, void *ctx);
void shmtab_set_log(shmtab_log_fn *fn, void *ctx);

/* Statistics (shmtab stat, the file view). */
struct shmtab_stat {
	uint64_t bindings;		/* == shmtab_length() */
	uint64_t keys;			/* keys with at least one binding */
	uint64_t size;			/* bytes in the object */
	uint64_t used;			/* bytes in live records and the index */
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
 * from the ring: the caller must then assume everything changed.
 * shmtab_wait() sleeps until the counter differs from since or timeout_ms
 * passes (-1: no limit); 0 when it moved, -ETIMEDOUT, -EINTR.
 */
#define SHMTAB_FEED_SIZE 256
uint64_t shmtab_counter(shmtab *t);
int shmtab_changes(shmtab *t, uint64_t *since, uint64_t *hashes, size_t max);
int shmtab_wait(shmtab *t, uint64_t since, int timeout_ms);
uint64_t shmtab_key_hash(shmtab *t, const void *key, size_t klen);

#ifdef __cplusplus
}
#endif
#endif /* SHMTAB_H */
