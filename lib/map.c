/* SPDX-License-Identifier: MIT */
/*
 * map.c - mapping, header validation, formatting, growth
 *
 * Each handle maps the object twice: the header (HDR_SIZE bytes) once at open,
 * never moved, because robust mutexes must keep their address for as long as
 * a thread may hold them; and the whole object into a large reserved range
 * of address space, so that growth maps more of the file in place (MAP_FIXED)
 * and existing pointers stay valid.  Only a table that outgrows the
 * reservation is mapped anew elsewhere; an old range still used by a visitor
 * or a pinned value (pin.c) is kept until the visitor returns and the last
 * pin is dropped.
 *
 * hdr.size is how much every process maps.  A writer grows the file first
 * (fallocate, so that a full tmpfs gives ENOSPC now rather than SIGBUS later)
 * and then publishes the new size; other processes compare hdr.size with
 * their mapping at the start of each call (one load) and remap.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shmtab-private.h"

#define RESV_MIN ((size_t)16 << 30)	/* 16 GiB of address space */

uint64_t *word_ptr(struct shmtab *t, uint64_t off)
{
	if (off < HDR_SIZE)
		return (uint64_t *)((uint8_t *)t->hdr + off);
	return (uint64_t *)(t->base + off);
}

/* The heap span [off, off+len), or NULL when it leaves the mapping. */
void *map_span(struct shmtab *t, uint64_t off, uint64_t len)
{
	if (off < HDR_SIZE || len > t->mapped || off > t->mapped - len)
		return NULL;
	return t->base + off;
}

/* Chunk off whose class is whole inside the mapping, its head word loaded
 * once: *v is what was checked (a caller must not trust a later load). */
struct chunk *map_chunk_snap(struct shmtab *t, uint64_t off, struct cview *v)
{
	struct chunk *c;
	uint64_t head;

	if (off % 8)
		return NULL;
	c = map_span(t, off, sizeof(*c));
	if (!c)
		return NULL;
	head = ld64(&c->head);
	v->kind = (uint32_t)(head & HEAD_KIND_MASK);
	v->cls = (unsigned)(head >> HEAD_CLS_SHIFT & HEAD_CLS_MASK);
	v->next = head >> HEAD_NEXT_SHIFT << 3;
	if (v->cls < sizeof(*c) / 8 || v->cls >= NCLASSES)
		return NULL;
	v->size = class_size(v->cls);
	if (!map_span(t, off, v->size))
		return NULL;
	return c;
}

struct chunk *map_chunk(struct shmtab *t, uint64_t off)
{
	struct cview v;

	return map_chunk_snap(t, off, &v);
}

/*
 * A binding record whose key and value lie inside its chunk, its head and
 * lens words each loaded once: *lens, and *size, its chunk's, are what was
 * checked (a caller that must not trust a later load uses them).
 */
struct chunk *map_rec_snap(struct shmtab *t, uint64_t off, uint64_t *lens,
			   uint64_t *size)
{
	struct chunk *c = off % 8 ? NULL : map_span(t, off, sizeof(*c));
	uint64_t head;
	unsigned cls;

	if (!c)
		return NULL;
	head = ld64(&c->head);
	*lens = ld64(&c->lens);
	cls = (unsigned)(head >> HEAD_CLS_SHIFT & HEAD_CLS_MASK);
	if ((head & HEAD_KIND_MASK) != CHUNK_REC || cls < sizeof(*c) / 8 ||
	    cls >= NCLASSES)
		return NULL;
	*size = class_size(cls);
	if (!map_span(t, off, *size) ||
	    (*lens >> LEN_VBITS) + (*lens & LEN_VMASK) > *size - sizeof(*c))
		return NULL;
	return c;
}

struct chunk *map_rec(struct shmtab *t, uint64_t off)
{
	uint64_t lens, size;

	return map_rec_snap(t, off, &lens, &size);
}

static int map_data(struct shmtab *t, uint64_t size)
{
	int prot = PROT_READ | (t->rdonly ? 0 : PROT_WRITE);
	void *p;

	if (size > t->resv) {
		size_t resv = RESV_MIN;
		void *nb;

		while (resv < size * 2)
			resv <<= 1;
		nb = mmap(NULL, resv, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (nb == MAP_FAILED)
			return -ENOMEM;
		if (t->base) {
			if (t->visit_depth ||
			    __atomic_load_n(&t->npins, __ATOMIC_ACQUIRE)) {
				struct retired *r = malloc(sizeof(*r));

				if (!r) {
					munmap(nb, resv);
					return -ENOMEM;
				}
				r->base = t->base;
				r->len = t->resv;
				r->next = t->retired;
				t->retired = r;
			} else {
				munmap(t->base, t->resv);
			}
		}
		t->base = nb;
		t->resv = resv;
		t->mapped = 0;
		t->pop_hi = 0;
	}
	/* map only the new tail: remapping the whole range would drop the
	 * page tables of everything already mapped, and every page would
	 * fault again (tens of microseconds each on some hosts) */
	p = mmap(t->base + t->mapped, size - t->mapped, prot,
		 MAP_SHARED | MAP_FIXED, t->fd, (off_t)t->mapped);
	if (p == MAP_FAILED)
		return -errno;
	t->mapped = size;
	return 0;
}

/* Adopt the size another process published. */
int map_refresh(struct shmtab *t)
{
	uint64_t size = __atomic_load_n(&t->hdr->size, __ATOMIC_ACQUIRE);
	struct stat st;

	if (size == t->mapped)
		return 0;
	if (size < t->mapped || size % SYS_PAGE || size < HDR_SIZE)
		return shmtab__corrupt(t, "size %llu after %llu",
				       (unsigned long long)size,
				       (unsigned long long)t->mapped);
	if (fstat(t->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < size)
		return shmtab__corrupt(t, "size %llu beyond the object's %lld",
				       (unsigned long long)size,
				       (long long)st.st_size);
	if (!t->visit_depth && t->retired &&
	    !__atomic_load_n(&t->npins, __ATOMIC_ACQUIRE)) {
		while (t->retired) {
			struct retired *r = t->retired;

			t->retired = r->next;
			munmap(r->base, r->len);
			free(r);
		}
	}
	return map_data(t, size);
}

static int file_extend(int fd, uint64_t from, uint64_t to)
{
	int r;

	if (to <= from)
		return 0;	/* never a shrink: others map it */
	r = posix_fallocate(fd, (off_t)from, (off_t)(to - from));

	if (r == EOPNOTSUPP || r == ENOSYS || r == EINVAL) {
		if (ftruncate(fd, (off_t)to) < 0)
			return -errno;
		return 0;
	}
	return r == EFBIG ? -ENOSPC : -r;
}

/* Make the object at least need bytes.  Writer lock held. */
int map_grow(struct shmtab *t, uint64_t need)
{
	uint64_t size = ld64(&t->hdr->size), nsize;
	int err;

	if (need <= size)
		return map_refresh(t);
	nsize = size + (size / 2 < GROW_MAX ? size / 2 : GROW_MAX);
	if (nsize < need)
		nsize = need;
	if (nsize < size + (64u << 10))
		nsize = size + (64u << 10);
	nsize = (nsize + SYS_PAGE - 1) / SYS_PAGE * SYS_PAGE;
	if (nsize < size || nsize > OFF_LIMIT)
		return -ENOSPC;
	err = file_extend(t->fd, size, nsize);
	if (err == -ENOSPC && nsize > need) {
		/* not room for the slack: try the bare need */
		nsize = (need + SYS_PAGE - 1) / SYS_PAGE * SYS_PAGE;
		err = file_extend(t->fd, size, nsize);
	}
	if (err < 0)
		return err;
	/* Not through the undo log: the object did grow, and other processes
	 * may map the new size at once; an undone step leaves the space past
	 * top unused, never a size smaller than someone's mapping. */
	__atomic_store_n(&t->hdr->size, nsize, __ATOMIC_RELEASE);
	return map_refresh(t);
}

/*
 * Pages about to be written for the first time by this process: map them
 * into our page tables with one call, where a fault per page costs 16-20 us
 * in some VMs and this a quarter of that.  A hint: failure is ignored.
 */
void map_prefault(struct shmtab *t, const void *p, size_t len)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(SYS_PAGE - 1);

	if (!t->rdonly && len)
		madvise((void *)a, len + ((uintptr_t)p - a),
			MADV_POPULATE_WRITE);
#else
	(void)t;
	(void)p;
	(void)len;
#endif
}

/*
 * A chunk was just taken at the top, [off, end), and the step writes it
 * next: prefault it and POP_AHEAD past it, once per stretch (pop_hi says
 * how far this mapping is done), so that small records cost one call per
 * POP_AHEAD bytes.  No step waits longer for this than for its own faults.
 */
void map_populate(struct shmtab *t, uint64_t off, uint64_t end)
{
	uint64_t from = off > t->pop_hi ? off : t->pop_hi;
	uint64_t to = end + POP_AHEAD;

	if (end <= t->pop_hi)
		return;
	if (to > t->mapped)
		to = t->mapped;
	if (to > from)
		map_prefault(t, t->base + from, to - from);
	t->pop_hi = to;
}

/* A header of this format: its magic, version and size, which only a
 * first opener's formatting ever writes. */
static bool hdr_ours(const struct shm_header *h)
{
	return !memcmp(h->magic, SHMTAB_MAGIC, 8) &&
	       h->version == SHMTAB_FORMAT_VERSION && h->hdr_size == HDR_SIZE;
}

/* A page size and a locking method a table can store. */
static bool hdr_params_ok(uint32_t pagesize, uint32_t lock)
{
	return pagesize >= PAGESIZE_MIN && pagesize <= PAGESIZE_MAX &&
	       pagesize % 4 == 0 && lock <= SHMTAB_LOCK_MUTEX &&
	       lock != SHMTAB_LOCK_BEST;
}

static int hdr_validate(const struct shm_header *h, uint64_t fsize)
{
	uint64_t cells = h->index_cells, top = h->top;

	if (!hdr_ours(h))
		return -EBADMSG;
	if (!hdr_params_ok(h->pagesize, h->lock))
		return -EBADMSG;
	if (h->size % SYS_PAGE || h->size <= HDR_SIZE || h->size > fsize)
		return -EBADMSG;
	if (top < HDR_SIZE || top > h->size || top % 8 || top > OFF_LIMIT)
		return -EBADMSG;
	if (cells < 16 || (cells & (cells - 1)) || cells > ((uint64_t)1 << 40))
		return -EBADMSG;
	if (h->index_off < HDR_SIZE || h->index_off % 8 ||
	    h->index_off > top || (top - h->index_off) / 8 < cells)
		return -EBADMSG;
	if (h->undo_n > UNDO_MAX)
		return -EBADMSG;
	return 0;
}

static int map_header(struct shmtab *t)
{
	int prot = PROT_READ | (t->rdonly ? 0 : PROT_WRITE);
	void *p = mmap(NULL, HDR_SIZE, prot, MAP_SHARED, t->fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	t->hdr = p;
	return 0;
}

void map_detach(struct shmtab *t)
{
	if (t->hdr)
		munmap(t->hdr, HDR_SIZE);
	if (t->base)
		munmap(t->base, t->resv);
	while (t->retired) {
		struct retired *r = t->retired;

		t->retired = r->next;
		munmap(r->base, r->len);
		free(r);
	}
	t->hdr = NULL;
	t->base = NULL;
	t->mapped = t->resv = 0;
}

/* The writer lock of SHMTAB_LOCK_MUTEX, fresh. */
static int mutex_init_at(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int r;

	r = pthread_mutexattr_init(&a);
	if (!r)
		r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!r)
		r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	/* not PTHREAD_MUTEX_ERRORCHECK: glibc takes a holder whose thread id
	 * is ours for this thread, and a thread of another pid namespace may
	 * have our id (pid 1 of two containers).  lock.c tells a thread that
	 * would wait for itself (self_holder). */
	if (!r)
		r = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_NORMAL);
	if (!r)
		r = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return -r;
}

int mutex_init(struct shm_header *h)
{
	_Static_assert(sizeof(pthread_mutex_t) <= MUTEX_AREA, "mutex area");
	memset(h->mutex, 0, MUTEX_AREA);
	return mutex_init_at((pthread_mutex_t *)(void *)h->mutex);
}

#ifdef __GLIBC__
/* The kind glibc stores in a mutex that mutex_init() makes: -2 until
 * learnt, -1 when it cannot be. */
int mutex_kind_want = -2;
static pthread_once_t kind_once = PTHREAD_ONCE_INIT;

static void kind_learn(void)
{
	pthread_mutex_t m;
	int k = -1;

	if (mutex_init_at(&m) == 0) {
		k = m.__data.__kind;
		pthread_mutex_destroy(&m);
	}
	__atomic_store_n(&mutex_kind_want, k, __ATOMIC_RELEASE);
}

/*
 * glibc reads a mutex's kind at every call, and a kind scribbled to
 * another one (priority protection, say) makes it abort on an assertion.
 * Every process's mutex_init() gives the same kind: a wrong one is put
 * back.  true when it was wrong.  (mutex_kind_differs() first: the
 * common case costs a compare.)
 */
bool mutex_kind_mend(void *mutex)
{
	int *k = &((pthread_mutex_t *)mutex)->__data.__kind;
	int want;

	pthread_once(&kind_once, kind_learn);
	want = __atomic_load_n(&mutex_kind_want, __ATOMIC_ACQUIRE);
	if (want < 0 || __atomic_load_n(k, __ATOMIC_RELAXED) == want)
		return false;
	__atomic_store_n(k, want, __ATOMIC_RELAXED);
	return true;
}
#else
bool mutex_kind_mend(void *mutex)
{
	(void)mutex;
	return false;
}
#endif

/* [off, end) as free chunks, the largest classes that fit (raw stores). */
static void heap_free_run(struct shmtab *t, uint64_t off, uint64_t end)
{
	struct shm_header *H = t->hdr;

	while (end - off >= sizeof(struct chunk)) {
		uint64_t len = end - off;
		unsigned cls = size_class(len);

		while (cls >= NCLASSES || class_size(cls) > len)
			cls--;			/* the largest class <= len */
		if (len - class_size(cls) == 8)
			cls--;			/* leave room for a whole chunk */
		st64(word_ptr(t, off),
		     head_word(CHUNK_FREE, cls, ld64(&H->free_head[cls])));
		st64(&H->free_head[cls], off);
		st64(&H->free_bytes, ld64(&H->free_bytes) + class_size(cls));
		off += class_size(cls);
	}
}

/*
 * The heap from empty: an index of cells cells, and nothing else but the
 * chunks live processes pin (pin.c), which keep their place and their bytes
 * on the limbo list while the room around them is free.  With no pins the
 * index is at HDR_SIZE and the heap ends after it.  Raw stores: callers make
 * this idempotent (the clearing flag: redone, it keeps what is pinned then)
 * or exclusive.
 */
static int heap_reset(struct shmtab *t, uint64_t cells)
{
	struct shm_header *H = t->hdr;
	struct { uint64_t off, size; } keep[NSLOTS * NPINS];
	unsigned cls = size_class(cells * sizeof(cell_t)), n, at, i;
	uint64_t isize = class_size(cls), top, pos, end, from, ioff, size;
	uint64_t live[NSLOTS / 64];
	struct chunk *c;
	int err;

	err = map_refresh(t);
	if (err < 0)
		return err;
	top = ld64(&H->top);
	if (top > t->mapped || top > OFF_LIMIT || top % 8)
		top = HDR_SIZE;		/* damaged: keep nothing */
	/* the pins, in order, once: one that comes or goes meanwhile is a
	 * reader that will find the stripes odd and let go.  A pin 8 bytes
	 * past the last is no chunk's start (a scribble, or a stale reader's
	 * word): skip it, it would leave a hole no chunk fills. */
	pin_live(t, live);
	for (n = 0, pos = from = HDR_SIZE; n < NSLOTS * NPINS;) {
		unsigned pcls;

		keep[n].off = pin_next(t, live, from, top, &pcls);
		if (!keep[n].off)
			break;
		if (keep[n].off - pos == 8) {
			from = keep[n].off + 8;
			continue;
		}
		keep[n].size = class_size(pcls);
		pos = from = keep[n].off + keep[n].size;
		n++;
	}
	/* the index goes in the first gap that holds it and leaves a whole
	 * chunk or nothing beside it: before keep[at] */
	for (at = 0, pos = HDR_SIZE; at < n; at++) {
		uint64_t gap = keep[at].off - pos;

		if (gap == isize || gap >= isize + sizeof(struct chunk))
			break;
		pos = keep[at].off + keep[at].size;
	}
	ioff = pos;
	end = at < n ? keep[n - 1].off + keep[n - 1].size : ioff + isize;
	size = ld64(&H->size);		/* once: it is shared */
	if (end > size) {
		uint64_t nsize = (end + SYS_PAGE - 1) / SYS_PAGE * SYS_PAGE;

		err = file_extend(t->fd, size, nsize);
		if (err < 0)
			return err;
		st64(&H->size, nsize);
		err = map_refresh(t);
		if (err < 0)
			return err;
	}
	memset(H->free_head, 0, sizeof(H->free_head));
	st64(&H->free_bytes, 0);
	st64(&H->limbo_head, 0);
	st64(&H->limbo_bytes, 0);
	st64(&H->mig_off, 0);
	st64(&H->redo_off, 0);		/* inplace.c allocates it again */
	c = (struct chunk *)(t->base + ioff);
	memset(c, 0, cells * sizeof(cell_t));
	c->head = head_word(CHUNK_INDEX, cls, 0);
	c->lens = cells;
	st64(&H->index_off, ioff);
	/* the pinned chunks to limbo, the room between them free */
	for (i = 0, pos = HDR_SIZE; i < n; i++) {
		if (i == at)
			pos = ioff + isize;
		heap_free_run(t, pos, keep[i].off);
		st64(word_ptr(t, keep[i].off),
		     head_word(CHUNK_LIMBO, size_class(keep[i].size),
			       ld64(&H->limbo_head)));
		st64(&H->limbo_head, keep[i].off);
		st64(&H->limbo_bytes, ld64(&H->limbo_bytes) + keep[i].size);
		pos = keep[i].off + keep[i].size;
	}
	st64(&H->index_cells, cells);
	st64(&H->top, end);
	st64(&H->nbindings, 0);
	st64(&H->arr_len, 0);
	st64(&H->arr_stale, 0);
	st64(&H->nkeys, 0);
	st64(&H->nused, 0);
	return 0;
}

/* A new table in an empty (or emptied) object; we are its only user. */
int table_format(struct shmtab *t, uint32_t pagesize, uint64_t init,
		 enum shmtab_lock lock, const struct schema *sc)
{
	uint64_t cells = hash_cells_for(init);
	uint64_t size = cells * sizeof(cell_t);
	struct shm_header *H;
	uint64_t seed;
	int err;

	size = HDR_SIZE + class_size(size_class(size));
	size = (size + SYS_PAGE - 1) / SYS_PAGE * SYS_PAGE;
	err = file_extend(t->fd, 0, size);
	if (err < 0)
		return err;
	err = map_header(t);
	if (err < 0)
		return err;
	H = t->hdr;
	memset(H, 0, HDR_SIZE);
	H->version = SHMTAB_FORMAT_VERSION;
	H->hdr_size = HDR_SIZE;
	H->pagesize = pagesize ? pagesize : PAGESIZE_DEF;
	/* BEST: robust mutexes, which glibc and musl have */
	H->lock = lock == SHMTAB_LOCK_BEST ? SHMTAB_LOCK_MUTEX : lock;
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^
		       (uint64_t)getpid();
	H->seed = seed;
	H->size = size;
	if (sc)
		H->schema[0] = *sc;
	err = mutex_init(H);
	if (err < 0)
		return err;
	err = heap_reset(t, cells);
	if (err < 0)
		return err;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(H->magic, SHMTAB_MAGIC, 8);	/* valid from now on */
	return 0;
}

/* Drop every binding, in place, while others may have the table open.
 * The clearing flag makes a crash in the middle redo it on recovery. */
int table_clear(struct shmtab *t, uint64_t init)
{
	struct shm_header *H = t->hdr;
	int err;

	err = lock_write_begin(t, ALL_STRIPES);
	if (err < 0)
		return err;
	__atomic_store_n(&H->clearing, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&H->index_seq, 1, __ATOMIC_SEQ_CST);
	err = heap_reset(t, init ? hash_cells_for(init) : 16);
	if (!err && t->want) {		/* O_TRUNC with a declared schema */
		uint64_t gen = ld64(&H->schema_gen);

		schema_fill(&H->schema[(gen + 1) & 1], t->want);
		__atomic_store_n(&H->schema_gen, gen + 1, __ATOMIC_RELEASE);
	}
	__atomic_fetch_add(&H->index_seq, 1, __ATOMIC_RELEASE);
	if (!err) {
		/* noted before the flag drops: a clear that dies in between
		 * is redone, and noted again, never not at all */
		feed_note(t, 0);
		__atomic_store_n(&H->clearing, 0, __ATOMIC_RELEASE);
	}
	lock_write_end(t);
	feed_wake(t);
	return err;
}

/* Redo an interrupted clear (recovery, writer lock held). */
int table_redo_clear(struct shmtab *t)
{
	uint64_t cells = ld64(&t->hdr->index_cells);
	int err;

	/* the clear's index (or the old one) fit in the object: a bigger
	 * count was scribbled, and would make it grow for nothing */
	if (cells < 16 || (cells & (cells - 1)) || cells > ((uint64_t)1 << 30) ||
	    cells > ld64(&t->hdr->size) / sizeof(cell_t))
		cells = 16;
	err = heap_reset(t, cells);
	if (!err) {
		/* every key changed: the feed says so (its waiters hear it
		 * at the next step's wake, or at their timeout) */
		feed_note(t, 0);
		__atomic_store_n(&t->hdr->clearing, 0, __ATOMIC_RELEASE);
	}
	return err;
}

/* Take (type F_RDLCK, F_WRLCK) or drop (F_UNLCK) an OFD lock of the
 * object's byte through fd, waiting for it when wait; 0 or -errno. */
int byte_lock(int fd, off_t byte, short type, bool wait)
{
	struct flock fl = {
		.l_type = type, .l_whence = SEEK_SET, .l_start = byte,
		.l_len = 1, .l_pid = 0,
	};

	while (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* Does another open file description than fd's lock the byte (any
 * type): 1, 0, or -errno. */
int byte_held(int fd, off_t byte)
{
	struct flock fl = {
		.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte,
		.l_len = 1, .l_pid = 0,
	};

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

/*
 * Move obj_gen in the header of the table open as fd (shmtab_unlink, after
 * the name is gone): only in a regular file whose header is one of this
 * format, and only under a read lock on the open byte.  A first opener
 * write-locks that byte while it formats, and it alone may shrink the
 * object (O_TRUNC), which would turn the store into a SIGBUS: while one is
 * at work the bump is skipped.  The lock is dropped with fd.
 */
void map_gen_bump(int fd)
{
	struct shm_header *h;
	struct stat st;

	if (byte_lock(fd, FLOCK_OPEN, F_RDLCK, false) < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < (off_t)HDR_SIZE)
		return;
	h = mmap(NULL, HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return;
	if (hdr_ours(h))
		__atomic_fetch_add(&h->obj_gen, 1, __ATOMIC_RELEASE);
	munmap(h, HDR_SIZE);
}

/*
 * Attach to the object: format it when empty, validate it otherwise.  The
 * open lock tells the first opener (nobody else has the object open), which
 * alone may format, shrink, or reset the lock area left by processes that are
 * all gone (a reboot, a copied file).
 */
/*
 * A read lock on the open byte, which a first opener write-locks while it
 * formats or resets the table: milliseconds, but a table created for many
 * keys has a big index to clear first (the object has its size by then:
 * table_format).  Bounded, so that a first opener that is stopped
 * (SIGSTOP, a debugger) or stuck cannot hang every other open: -EAGAIN
 * after 5 s plus 5 s per GiB of the object, -EINTR as soon as the
 * interrupt hook asks (shmtab-hooks.h).  Polled, in sleeps of at most
 * 10 ms.
 */
#define OPEN_WAIT_NS 5000000000ull		/* 5 s */
#define OPEN_WAIT_MIB_NS 5000000ull		/* 5 ms per MiB */

static int open_lock_wait(int fd)
{
	uint64_t t0 = now_ns();
	unsigned us = 200;

	for (;;) {
		int err = byte_lock(fd, FLOCK_OPEN, F_RDLCK, false);
		struct stat st;
		uint64_t limit = OPEN_WAIT_NS;

		if (err != -EAGAIN && err != -EACCES)
			return err;
		if (lock_interrupted())
			return -EINTR;
		if (fstat(fd, &st) == 0 && st.st_size > 0)
			limit += ((uint64_t)st.st_size >> 20) *
				 OPEN_WAIT_MIB_NS;
		if (now_ns() - t0 > limit)
			return -EAGAIN;
		usleep(us);
		if (us < 10000)
			us *= 2;
	}
}

int map_attach(struct shmtab *t, int oflags, const struct shmtab_options *opt)
{
	uint32_t ps = opt ? (uint32_t)opt->pagesize : 0;
	uint64_t init = opt ? opt->init : 0;
	enum shmtab_lock lock = opt ? opt->lock : SHMTAB_LOCK_BEST;
	bool first = false, trunc = oflags & O_TRUNC, formatted = false;
	struct shm_header h;
	struct stat st;
	int err;

	for (int tries = 0;; tries++) {
		first = !t->rdonly &&
			!byte_lock(t->fd, FLOCK_OPEN, F_WRLCK, false);
		if (!first) {
			err = open_lock_wait(t->fd);
			if (err < 0)
				return err;
		}
		if (fstat(t->fd, &st) < 0)
			return -errno;
		if (st.st_size > 0 || first)
			break;
		/* empty and open elsewhere: its creator may be about to take
		 * the open lock and format it; give it a moment */
		byte_lock(t->fd, FLOCK_OPEN, F_UNLCK, false);
		if (tries >= (t->rdonly ? 20 : 300))
			return -EBADMSG;
		usleep(10000);
	}

	if (st.st_size == 0 || (trunc && first)) {
		struct schema scbuf, *sc = NULL;

		if (t->want) {
			sc = &scbuf;
			schema_fill(sc, t->want);
		}
		if (trunc && st.st_size >= (off_t)sizeof(h) &&
		    pread(t->fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
		    !hdr_validate(&h, (uint64_t)st.st_size)) {
			if (!ps)
				ps = h.pagesize;
			if (lock == SHMTAB_LOCK_BEST)	/* keep the method too */
				lock = (enum shmtab_lock)h.lock;
			if (!sc) {	/* O_TRUNC keeps the schema */
				sc = &scbuf;
				*sc = h.schema[h.schema_gen & 1];
			}
		}
		if (st.st_size && ftruncate(t->fd, 0) < 0)
			return -errno;
		err = table_format(t, ps, init, lock, sc);
		if (err < 0)
			return err;
		formatted = true;
	} else {
		/* header first, size second: a process growing the table
		 * extends the object before it publishes the new size */
		if (st.st_size < (off_t)sizeof(h) ||
		    pread(t->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
			return -EBADMSG;
		if (fstat(t->fd, &st) < 0)
			return -errno;
		if (hdr_validate(&h, (uint64_t)st.st_size))
			return -EBADMSG;
		fault_point("open-checked");
		if (ps && ps != h.pagesize)
			return -EINVAL;
		if (lock != SHMTAB_LOCK_BEST && lock != SHMTAB_LOCK_NONE &&
		    lock != h.lock)
			return -EINVAL;
		err = map_header(t);
		if (err < 0)
			return err;
	}
	if (formatted) {
		/* what we wrote, as another process may scribble on it: read
		 * once, checked as hdr_validate() checked h */
		h.pagesize = ld32(&t->hdr->pagesize);
		h.lock = ld32(&t->hdr->lock);
		h.seed = ld64(&t->hdr->seed);
		if (!hdr_params_ok(h.pagesize, h.lock))
			return -EBADMSG;
	}
	/* the values checked, not the words again */
	t->pagesize = h.pagesize;
	t->seed = h.seed;
	t->lock = lock == SHMTAB_LOCK_NONE ? SHMTAB_LOCK_NONE :
					     (enum shmtab_lock)h.lock;
	err = map_refresh(t);
	if (err < 0)
		return err;
	if (first) {
		err = lock_reset_shared(t);
		if (err < 0)
			return err;
		byte_lock(t->fd, FLOCK_OPEN, F_RDLCK, false);	/* downgrade */
	} else if (trunc) {
		err = table_clear(t, init);
		if (err < 0)
			return err;
	}
	if (t->want && !trunc && !formatted) {
		err = schema_match(t, t->want);
		if (err < 0)
			return err;
	}
	if (fstat(t->fd, &st) == 0) {
		t->obj_dev = st.st_dev;
		t->obj_ino = st.st_ino;
	}
	if (!t->rdonly)
		lock_claim_slot(t);
	return 0;
}
