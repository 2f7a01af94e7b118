/* SPDX-License-Identifier: MIT */
/*
 * format.h - the shared layout of a table (see doc/FORMAT.md)
 *
 * Everything here lives in the object and is read by every process that has
 * it open.  Fields are fixed width and little-endian; positions are byte
 * offsets from the start of the object, never pointers.  Any change to a
 * struct here changes the format: bump SHMTAB_FORMAT_VERSION.
 *
 * The object is a 32 KiB header (the lock area: it is mapped once per handle
 * and never moves, because robust mutexes must keep their address) followed
 * by a heap of chunks.  Every chunk starts with struct chunk and has the size
 * of its class, so the heap can be walked from HDR_SIZE to hdr.top.
 */
#ifndef SHMTAB_FORMAT_H
#define SHMTAB_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "shmtab's format is little-endian; big-endian hosts are not supported yet"
#endif

#define SHMTAB_FORMAT_VERSION 8
#define SHMTAB_MAGIC "SHMTAB\r\n"

#define HDR_SIZE	32768u		/* header + lock area */
#define SYS_PAGE	4096u		/* object sizes are multiples of this */
#define NSTRIPES	256u		/* reader-validation stripes */
#define NSLOTS		128u		/* process slots (read locks, holders) */
#define NCLASSES	400u		/* allocation size classes */
#define UNDO_MAX	64u		/* 8-byte stores one step may publish */
#define FEED_SIZE	256u		/* change ring entries (SHMTAB_FEED_SIZE) */
#define MUTEX_AREA	64u		/* room for a pthread_mutex_t */
#define TYPE_MAX	32u		/* bytes of a type code (typed.c) */
#define NPINS		8u		/* pinned bindings per slot (pin.c) */
#define PIN_MIN		65536u		/* chunks this big may be pinned */
#define DEFAULT_MAX	4000u		/* SHMTAB_DEFAULT_MAX */
#define REDO_SZ		512u		/* a slot's redo entry (inplace.c) */
#define FEED_TAG_BITS	8u		/* ring entries: hash | tag (feed.c) */

#define PAGESIZE_MIN	160u
#define PAGESIZE_DEF	256u
#define PAGESIZE_MAX	(1u << 20)

/* Byte offsets of the fcntl locks taken on the object's descriptor. */
#define FLOCK_OPEN	0		/* read-held while open; write = first opener */
#define FLOCK_WRITER	1		/* the writer lock of SHMTAB_LOCK_RECORD */
#define FLOCK_SLOT	64		/* + i: write-held by slot i's owner */

/* hdr.wlock_slot of a holder without a slot: it write-holds FLOCK_WRITER
 * too (SHMTAB_LOCK_MUTEX), for read-only handles to ask */
#define WLOCK_SLOTLESS	(NSLOTS + 1)

/* One undo entry: the 8-byte word at off held old before the step. */
struct undo {
	uint64_t off;
	uint64_t old;
};

/*
 * A slot's entry in the REDO chunk (inplace.c): the replace in place its
 * process is making, whole, so that whoever finds that process dead in the
 * middle can finish it.
 */
struct redo {
	uint64_t off;			/* the binding's record */
	uint64_t lens;			/* its new lens word */
	uint64_t hash;			/* the key's hash, for the feed */
	uint64_t pad;
	uint8_t val[REDO_SZ - 32];	/* the new value */
};
_Static_assert(sizeof(struct redo) == REDO_SZ, "redo changed: bump VERSION");

/* A process slot: who has the table open and what it read-locks. */
struct slot {
	uint32_t pid;			/* 0: free */
	uint32_t all;			/* > 0: read-locks every stripe */
	uint64_t wait_since;		/* CLOCK_MONOTONIC ns when it began to wait; 0 */
	uint64_t stripes[NSTRIPES / 64];/* read-locked stripes */
	uint64_t claim;			/* a replace in place (inplace.c), 0 */
	uint64_t reserved;		/* 0 */
};

/*
 * A table's schema (doc/FORMAT.md, "Typed values"): its kind and the codes of its key and
 * value types (one byte per node in prefix order, zero-padded; empty means
 * bytes), and for an array the encoded value of an unset element.
 */
#define KIND_HASH	0u
#define KIND_ARRAY	1u
struct schema {
	uint32_t kind;
	uint32_t dflt_len;
	uint8_t ktype[TYPE_MAX];
	uint8_t vtype[TYPE_MAX];
	uint8_t dflt[4096 - 8 - 2 * TYPE_MAX];
};
_Static_assert(sizeof(struct schema) == 4096, "schema changed: bump VERSION");
_Static_assert(DEFAULT_MAX <= sizeof(((struct schema *)0)->dflt), "default");

struct shm_header {
	uint8_t magic[8];		/*   0 SHMTAB_MAGIC */
	uint32_t version;		/*   8 */
	uint32_t hdr_size;		/*  12 HDR_SIZE */
	uint32_t pagesize;		/*  16 */
	uint32_t lock;			/*  20 enum shmtab_lock stored at creation */
	uint64_t seed;			/*  24 hash seed */
	uint64_t size;			/*  32 bytes every process maps */
	uint64_t index_seq;		/*  40 odd while the index is replaced */
	uint64_t index_off;		/*  48 the index chunk */
	uint64_t index_cells;		/*  56 power of two */
	uint64_t nbindings;		/*  64 */
	uint64_t nkeys;			/*  72 */
	uint64_t nused;			/*  80 live + tombstone cells */
	uint64_t free_bytes;		/*  88 bytes in free chunks */
	uint64_t top;			/*  96 end of the heap */
	uint64_t changes;		/* 104 change counter */
	uint32_t wlock_slot;		/* 112 1 + the writer-lock holder's slot,
					 * 0: none (read while wlock_pid is set) */
	uint32_t waiters;		/* 116 processes sleeping on changes */
	uint64_t recoveries;		/* 120 dead writers recovered from */
	uint32_t wlock_pid;		/* 128 pid holding the writer lock, or 0 */
	uint32_t clearing;		/* 132 a re-initialisation is under way */
	uint64_t wlock_wait;		/* 136 the writer-lock holder waits since */
	uint32_t undo_n;		/* 144 entries to roll back; 0: consistent */
	uint32_t undo_pad;		/* 148 */
	uint32_t slot_hi;		/* 152 slots [0, slot_hi) were ever used */
	uint32_t pad0;			/* 156 */
	uint64_t mig_off;		/* 160 the index being built, or 0 */
	uint64_t mig_cells;		/* 168 its cells */
	uint64_t mig_clear;		/* 176 of them zeroed so far */
	uint64_t mig_pos;		/* 184 cells of the live index copied */
	uint64_t mig_used;		/* 192 cells used in the new index */
	uint64_t limbo_head;		/* 200 freed chunks still pinned */
	uint64_t limbo_bytes;		/* 208 their bytes */
	uint64_t obj_gen;		/* 216 bumped after a chmod, chown or
					 * unlink of the object (names.c) */
	uint64_t redo_off;		/* 224 the REDO chunk, or 0 (inplace.c) */
	uint64_t rlocks;		/* 232 handles holding read locks (a hint
					 * for inplace.c: 0 means none) */
	uint64_t reserved[2];		/* 240 */
	uint8_t mutex[MUTEX_AREA];	/* 256 pthread_mutex_t (SHMTAB_LOCK_MUTEX) */
	struct undo undo[UNDO_MAX];	/* 320 */
	uint64_t free_head[NCLASSES];	/* 1344 free chunk lists per class */
	uint32_t stripe_seq[NSTRIPES];	/* 4544 odd while a writer changes it */
	uint64_t ring[FEED_SIZE];	/* 5568 hashes of changed keys, tagged */
	struct slot slots[NSLOTS];	/* 7616 */
	/* The schema is kept twice: a change writes the copy schema_gen's low
	 * bit does not pick, then bumps schema_gen (one undo-logged store). */
	uint64_t schema_gen;		/* 15808 */
	uint64_t arr_len;		/* 15816 an array's length */
	uint64_t arr_stale;		/* 15824 0, or 1 + the index from which
					 * a shrink may have left elements */
	uint64_t reserved2[5];		/* 15832 */
	struct schema schema[2];	/* 15872 */
	/* The bindings each slot's process reads in place (pin.c): chunk
	 * offsets, 0 for none. */
	uint64_t pins[NSLOTS][NPINS];	/* 24064 */
};

_Static_assert(sizeof(struct slot) == 64, "slot changed: bump VERSION");
_Static_assert(offsetof(struct shm_header, obj_gen) == 216, "header changed");
_Static_assert(offsetof(struct shm_header, redo_off) == 224, "header changed");
_Static_assert(offsetof(struct shm_header, mutex) == 256, "header changed");
_Static_assert(offsetof(struct shm_header, undo) == 320, "header changed");
_Static_assert(offsetof(struct shm_header, stripe_seq) == 4544, "header changed");
_Static_assert(offsetof(struct shm_header, slots) == 7616, "header changed");
_Static_assert(offsetof(struct shm_header, schema_gen) == 15808, "header changed");
_Static_assert(offsetof(struct shm_header, schema) == 15872, "header changed");
_Static_assert(offsetof(struct shm_header, pins) == 24064, "header changed");
_Static_assert(sizeof(struct shm_header) <= HDR_SIZE, "header too big");

/*
 * Every chunk starts with two words.  head: the chunk's kind (12 bits),
 * its size class (12 bits) and, above them, next / 8 (40 bits; a binding's
 * next older binding, a free chunk's next on its list).  Chunks are 8-byte
 * aligned, so offsets are kept in units of 8 bytes: objects are at most
 * OFF_LIMIT bytes.
 */
#define CHUNK_REC	0x5b1u		/* a binding */
#define CHUNK_FREE	0xf4eu		/* on a free list */
#define CHUNK_INDEX	0x1d8u		/* the hash index */
#define CHUNK_REDO	0x3edu		/* the slots' redo entries (inplace.c) */
#define CHUNK_LIMBO	0x11bu		/* freed, but pinned: on the limbo list,
					 * lens holds the old binding's lens */

#define HEAD_KIND_MASK	0xfffu
#define HEAD_CLS_SHIFT	12
#define HEAD_CLS_MASK	0xfffu
#define HEAD_NEXT_SHIFT	24
#define OFF_BITS	40		/* offsets / 8 in heads and cells */
#define OFF_LIMIT	((uint64_t)8 << OFF_BITS)	/* 8 TiB */

struct chunk {
	uint64_t head;			/* kind | cls << 12 | next / 8 << 24 */
	uint64_t lens;			/* REC: value length | key length << 40;
					 * INDEX: cells */
	/* REC: key bytes, then value bytes.  INDEX: cells[cells]. */
};
_Static_assert(sizeof(struct chunk) == 16, "chunk changed: bump VERSION");
_Static_assert(NCLASSES <= HEAD_CLS_MASK, "classes must fit the head");

#define LEN_VBITS	40
#define LEN_VMASK	(((uint64_t)1 << LEN_VBITS) - 1)

/*
 * An index cell is one word: the top 24 bits of the key's hash (never all
 * zero) above the newest binding's offset / 8.  0 is a never-used cell; a
 * hash with offset 0 is a tombstone (the key had bindings, has none now).
 * A key's home cell is the top log2(cells) bits of its hash.  The index
 * chunk is its cells, a power of two, whose first CELL_FIRST are the
 * chunk's header: their top bits are 0, so no key matches or takes them.
 */
#define CELL_OFF_MASK	(((uint64_t)1 << OFF_BITS) - 1)
#define CELL_TAG_BITS	(64 - OFF_BITS)
#define CELL_FIRST	2u
typedef uint64_t cell_t;
_Static_assert(sizeof(struct chunk) == CELL_FIRST * sizeof(cell_t), "index");

#endif /* SHMTAB_FORMAT_H */
