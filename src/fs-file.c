/* SPDX-License-Identifier: MIT */
/*
 * fs-file.c - keys as files: open-file state and whole-value writes
 *
 * Every open file has its own buffer, so that readers see one version and
 * writers publish one value:
 *  - a read-only open copies the newest value at OPEN; READ serves that copy
 *    (noflush: no FLUSH is sent on close); in the strict mode a big value
 *    is not copied but pinned where it lies in the table, and READ serves
 *    it from there (fh_load_ro);
 *  - a write open starts from a copy of the value (empty with O_TRUNC, which
 *    arrives inside OPEN thanks to ATOMIC_O_TRUNC); WRITE and truncate patch
 *    the buffer and arm it;
 *  - a write-only O_APPEND open keeps only the appended bytes ("tail"), and
 *    its commit appends them to the value current at that moment, inside a
 *    group (read-modify-write);
 *  - a write open without O_TRUNC also records which ranges it wrote; its
 *    commit copies just those ranges onto the value current at that moment,
 *    in a group, so that a change another process made elsewhere in the
 *    value meanwhile is kept (a truncate, O_TRUNC or a new key publish the
 *    whole buffer instead);
 *  - the commit is one shmtab_replace, at the first FLUSH that follows a
 *    WRITE or a truncate (bash sends a FLUSH before the data of `echo v > k`;
 *    committing there would publish an empty value) and comes from a
 *    process that wrote (a child that inherited the descriptor and exits,
 *    or closes it before exec, flushes too: half a value), at fsync, and
 *    at RELEASE when still pending (e.g. `: > k`, which writes nothing).
 * Every file is opened with direct_io: the page cache never holds a
 * writer's bytes nor a stale value.  A buffer of 1 MiB or more is a mapping
 * reused across opens through a bounded pool (see "Big buffers" below); a
 * big untyped value that is not pinned is copied once, from the table into
 * it, at OPEN, and READ replies straight from it.
 *
 * Typed tables (fs-typed.c) go through the same buffers with text: the
 * buffer holds the value's text, a commit parses the text it publishes
 * (a failure, -EINVAL, keeps the old value and is returned by the close),
 * and an O_APPEND open of an integer value collects deltas instead
 * ("add" mode), committed with one atomic add.  Integer and pair texts
 * have a single newline, at the end, so a write that puts a newline
 * anywhere else, or ends the text with one and does not parse, can never
 * become a valid value: it fails at once with EINVAL, the buffer
 * unchanged, which a shell's `echo x > k` reports (it ignores errors of
 * close).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#include "escape.h"
#include "fs.h"

/*
 * Big buffers.  A buffer of BIG_MIN bytes or more is a mapping of its own,
 * and a released one waits in a small daemon-wide pool for the next open
 * that needs one.  On a VM a first touch of fresh memory costs far more
 * than copying into warm memory (256 MiB: ~2 s of page faults against
 * ~40 ms of copy), and malloc gives every buffer over 32 MiB fresh memory,
 * so without the pool every open of a big value paid the faults again.  A
 * new mapping is populated when it is made (MAP_POPULATE: one pass instead
 * of a fault per page, ~25 times faster here), and a growing one is moved
 * with mremap, which copies no bytes.
 *
 * The pool's bound: at most POOL_NBUF buffers of at most pool_bytes bytes
 * in all (512 MiB, or an eighth of the RAM when that is less), each kept
 * at most POOL_IDLE seconds after its file was closed; a reaper thread,
 * running only while the pool holds something, unmaps idle buffers.
 * Buffers of open files are not counted: they are what those files hold.
 * A reader takes the smallest pooled buffer that fits (no more than four
 * times its need), a growing writer the largest one, since it will likely
 * grow on.
 */
#define BIG_MIN ((size_t)1 << 20)
#define POOL_NBUF 8
#define POOL_BYTES ((size_t)512 << 20)
#define POOL_IDLE 15			/* seconds */

struct vbuf {
	unsigned char *p;
	size_t len, cap;
	bool big;			/* p is a mapping of cap bytes */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* wakes the reaper: stop, or exit */
	struct pooled {
		void *p;
		size_t cap;
		time_t idle;		/* CLOCK_MONOTONIC second it came */
		fuse_ino_t ino;		/* a tag: version ver of the value of
					 * inode ino, len bytes (ino 0: none) */
		uint64_t ver;
		size_t len;
	} b[POOL_NBUF];
	size_t n, bytes, max;
	bool reaper;			/* the thread runs */
	bool joinable;			/* a thread to join before a new one */
	bool stop;
	pthread_t thr;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_init(void)
{
	pthread_condattr_t a;
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&pool.cv, &a);
	pthread_condattr_destroy(&a);
	pool.max = POOL_BYTES;
	if (pages > 0 && psz > 0 &&
	    (uint64_t)pages * (uint64_t)psz / 8 < pool.max)
		pool.max = (size_t)((uint64_t)pages * (uint64_t)psz / 8);
}

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Drop pooled buffer i.  Caller holds pool.mu. */
static void pool_drop(size_t i)
{
	munmap(pool.b[i].p, pool.b[i].cap);
	pool.bytes -= pool.b[i].cap;
	pool.b[i] = pool.b[--pool.n];
}

static void *pool_reap(void *arg)
{
	struct timespec ts;
	time_t now, first;
	size_t i;

	(void)arg;
	pthread_mutex_lock(&pool.mu);
	while (!pool.stop && pool.n) {
		now = mono_now();
		first = now + POOL_IDLE;
		for (i = 0; i < pool.n;) {
			if (now - pool.b[i].idle >= POOL_IDLE) {
				pool_drop(i);
				continue;
			}
			if (pool.b[i].idle + POOL_IDLE < first)
				first = pool.b[i].idle + POOL_IDLE;
			i++;
		}
		if (!pool.n)
			break;
		ts.tv_sec = first;
		ts.tv_nsec = 0;
		pthread_cond_timedwait(&pool.cv, &pool.mu, &ts);
	}
	pool.reaper = false;
	pthread_mutex_unlock(&pool.mu);
	return NULL;
}

/* A pooled buffer of at least need bytes (the largest one, or the smallest
 * that fits), or NULL. */
static void *pool_take(size_t need, bool largest, size_t *cap)
{
	size_t i, best = SIZE_MAX;
	void *p = NULL;

	pthread_once(&pool_once, pool_init);
	pthread_mutex_lock(&pool.mu);
	for (i = 0; i < pool.n; i++) {
		if (pool.b[i].cap < need ||
		    (!largest && pool.b[i].cap / 4 > need))
			continue;
		if (best == SIZE_MAX ||
		    (largest ? pool.b[i].cap > pool.b[best].cap :
			       pool.b[i].cap < pool.b[best].cap))
			best = i;
	}
	if (best != SIZE_MAX) {
		p = pool.b[best].p;
		*cap = pool.b[best].cap;
		pool.bytes -= *cap;
		pool.b[best] = pool.b[--pool.n];
	}
	pthread_mutex_unlock(&pool.mu);
	return p;
}

static void vbuf_move(struct vbuf *v, struct vbuf *w);

/*
 * A pooled buffer that holds version ver of ino's value (*v takes it; the
 * buffer v held is dropped): true, or false when there is none.  A reader
 * of a big value leaves the value in its buffer (pool_put tags it), so a
 * reader opening the same version again gets it back without a copy while
 * the kernel serves the bytes from its page cache.
 */
static bool pool_take_tagged(fuse_ino_t ino, uint64_t ver, struct vbuf *v)
{
	struct vbuf w = { 0 };
	size_t i;

	pthread_once(&pool_once, pool_init);
	pthread_mutex_lock(&pool.mu);
	for (i = 0; i < pool.n; i++)
		if (pool.b[i].ino == ino && pool.b[i].ver == ver)
			break;
	if (i < pool.n) {
		w.p = pool.b[i].p;
		w.cap = pool.b[i].cap;
		w.len = pool.b[i].len;
		w.big = true;
		pool.bytes -= w.cap;
		pool.b[i] = pool.b[--pool.n];
	}
	pthread_mutex_unlock(&pool.mu);
	if (!w.p)
		return false;
	vbuf_move(v, &w);
	return true;
}

/* Give a big buffer back: into the pool, making room by dropping the
 * longest idle ones, or unmapped when it cannot fit.  ino (not 0), ver,
 * len: it holds that version of that value (pool_take_tagged). */
static void pool_put(void *p, size_t cap, fuse_ino_t ino, uint64_t ver,
		     size_t len)
{
	size_t i, old;

	pthread_once(&pool_once, pool_init);
	pthread_mutex_lock(&pool.mu);
	if (cap > pool.max || pool.stop) {
		pthread_mutex_unlock(&pool.mu);
		munmap(p, cap);
		return;
	}
	while (pool.n && (pool.n == POOL_NBUF || pool.bytes + cap > pool.max)) {
		for (old = 0, i = 1; i < pool.n; i++)
			if (pool.b[i].idle < pool.b[old].idle)
				old = i;
		pool_drop(old);
	}
	pool.b[pool.n].p = p;
	pool.b[pool.n].cap = cap;
	pool.b[pool.n].idle = mono_now();
	pool.b[pool.n].ino = ino;
	pool.b[pool.n].ver = ver;
	pool.b[pool.n].len = len;
	pool.n++;
	pool.bytes += cap;
	if (!pool.reaper) {
		/* the last reaper left the mutex for good: join it here */
		if (pool.joinable)
			pthread_join(pool.thr, NULL);
		pool.joinable = false;
		if (pthread_create(&pool.thr, NULL, pool_reap, NULL) == 0) {
			pool.reaper = true;
			pool.joinable = true;
		} else {
			pool_drop(pool.n - 1);	/* nothing would unmap it */
		}
	}
	pthread_mutex_unlock(&pool.mu);
}

/* At exit: unmap the pool, stop the reaper. */
static void pool_free(void)
{
	pthread_once(&pool_once, pool_init);
	pthread_mutex_lock(&pool.mu);
	pool.stop = true;
	while (pool.n)
		pool_drop(pool.n - 1);
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	if (pool.joinable)
		pthread_join(pool.thr, NULL);
	pool.joinable = false;
}

/* A new populated mapping of cap bytes, or NULL. */
static void *big_map(size_t cap)
{
	void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static size_t big_round(size_t n)
{
	return n > SIZE_MAX - BIG_MIN ? n : (n + BIG_MIN - 1) & ~(BIG_MIN - 1);
}

static void vbuf_drop(struct vbuf *v)
{
	if (v->big)
		pool_put(v->p, v->cap, 0, 0, 0);
	else
		free(v->p);
	v->p = NULL;
	v->len = v->cap = 0;
	v->big = false;
}

/* Take what w holds into v, dropping v's buffer. */
static void vbuf_move(struct vbuf *v, struct vbuf *w)
{
	vbuf_drop(v);
	*v = *w;
	memset(w, 0, sizeof(*w));
}

/* A buffer of at least need bytes for v, which must hold no bytes yet: a
 * pooled or new mapping when need is big. */
static int vbuf_alloc(struct vbuf *v, size_t need)
{
	size_t cap;
	void *p;

	if (need < BIG_MIN) {
		p = malloc(need ? need : 1);
		cap = need ? need : 1;
	} else {
		p = pool_take(need, false, &cap);
		if (!p) {
			cap = big_round(need);
			p = big_map(cap);
		}
	}
	if (!p)
		return -ENOMEM;
	vbuf_drop(v);
	v->p = p;
	v->cap = cap;
	v->big = need >= BIG_MIN;
	return 0;
}

/* Room for len bytes, keeping the bytes v holds; grows geometrically. */
static int vbuf_reserve(struct vbuf *v, size_t len)
{
	struct vbuf w = { 0 };
	size_t cap;
	void *p;

	if (len > SHMTAB_VALUE_MAX)
		return -EFBIG;
	if (len <= v->cap)
		return 0;
	cap = v->cap ? v->cap : 256;
	while (cap < len)
		cap = cap > SIZE_MAX / 2 ? len : cap * 2;
	if (cap < BIG_MIN) {
		p = realloc(v->p, cap);
		if (!p)
			return -ENOMEM;
		v->p = p;
		v->cap = cap;
		return 0;
	}
	cap = big_round(cap);
	w.p = pool_take(cap, true, &w.cap);
	if (!w.p && v->big) {
		/* moves the pages; only the new ones are populated */
		p = mremap(v->p, v->cap, cap, MREMAP_MAYMOVE);
		if (p == MAP_FAILED)
			return -ENOMEM;
#ifdef MADV_POPULATE_WRITE
		madvise((char *)p + v->cap, cap - v->cap, MADV_POPULATE_WRITE);
#endif
		v->p = p;
		v->cap = cap;
		return 0;
	}
	if (!w.p) {
		w.p = big_map(cap);
		w.cap = cap;
	}
	if (!w.p)
		return -ENOMEM;
	w.big = true;
	w.len = v->len;
	if (v->len)
		memcpy(w.p, v->p, v->len);
	vbuf_move(v, &w);
	return 0;
}

/*
 * The newest value's text into v (replacing what v held).  A big untyped
 * or string value is copied straight from the table into a pooled buffer,
 * once; others come through fs_value_get.  -ENOENT when the key has no
 * file.
 */
static int value_load(shmtab *t, const struct fs_types *ty, const void *key,
		      size_t klen, struct vbuf *v)
{
	struct vbuf w = { 0 };
	size_t vlen;
	void *val;
	int err, tries;

	if (!ty->array && (!ty->typed || ty->vplain)) {
		err = shmtab_find_into(t, key, klen, NULL, 0, &vlen);
		/* another process may change it meanwhile: when it grew,
		 * again with the new length */
		for (tries = 0; err == 0 && vlen >= BIG_MIN && tries < 8;
		     tries++) {
			if (vlen > w.cap)
				err = vbuf_alloc(&w, vlen);
			if (err == 0)
				err = shmtab_find_into(t, key, klen, w.p, w.cap,
						       &vlen);
			if (err == 0 && vlen <= w.cap) {
				w.len = vlen;
				vbuf_move(v, &w);
				return 0;
			}
		}
		vbuf_drop(&w);
		if (err < 0)
			return err;
	}
	err = fs_value_get(t, ty, key, klen, &val, &vlen);
	if (err < 0)
		return err;
	vbuf_drop(v);
	v->p = val;
	v->len = vlen;
	v->cap = vlen;
	return 0;
}

#define WRITERS 4

struct fh {
	struct fh *prev, *next;		/* open_fhs: the ones not released */
	struct fs_table *tb;
	pthread_mutex_t mu;		/* requests may come in parallel */
	bool writable;
	bool append;			/* O_APPEND: writes go to the end */
	bool tail;			/* buf holds only appended bytes */
	bool pending;			/* unpublished: RELEASE commits */
	bool armed;			/* new data: FLUSH commits */
	bool reported;			/* a FLUSH returned the error */
	bool whole;			/* publish all of buf, not ranges */
	bool add;			/* O_APPEND to an integer: deltas */
	bool created;			/* this open created the key */
	bool committed;			/* a commit succeeded */
	bool failed;			/* a write or a commit failed */
	bool versioned;			/* cached mode, read-only: b holds
					 * version ver of nd's value */
	bool paged;			/* ...read through the page cache */
	bool pinned;			/* b is the value in the table, pinned
					 * (fh_load_ro), not a buffer */
	unsigned pin;
	struct fs_table *ptb;		/* ...in this table's handle */
	struct fs_node *nd;		/* valid from OPEN to RELEASE; a
					 * writer publishes to its key */
	uint64_t ver;
	char *vtype;			/* a typed value whose text must parse
					 * (not string or bytes); else NULL */
	char *dl;			/* add: the deltas appended */
	size_t dlen, dcap, dgood;	/* dgood: checked whole lines */
	struct range {
		size_t off, len;
	} *rg;				/* written since the last commit */
	size_t nrg, caprg;
	pid_t writer[WRITERS];		/* who wrote or truncated since the
					 * last commit (fh_flusher_wrote) */
	unsigned nwriters;		/* > WRITERS: too many to tell */
	struct vbuf b;			/* the value (or the tail) */
	size_t klen;
	unsigned char *key;		/* as nd named it at the last look
					 * (fh_lock), with tb */
};

static struct fh *fh_of(struct fuse_file_info *fi)
{
	return (struct fh *)(uintptr_t)fi->fh;
}

/* h was opened, written or truncated: the length it holds is the size
 * fstat(2) shows once its key is removed or replaced through the mount
 * (fs_node_attr_detached).  A write-only O_APPEND file holds only what it
 * appended, and an integer's appends only deltas: they leave the size as
 * it was. */
static void fh_note_size(struct fh *h)
{
	if (h->nd && !h->tail && !h->add)
		fs_node_note_size(h->nd, h->b.len);
}

/* pid's thread group (its process), from /proc; 0 when unknown. */
static pid_t tgid_of(pid_t pid)
{
	char path[64], line[128];
	pid_t tgid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

/* Did the process that sends this FLUSH (pid, as the kernel gives it: the
 * closing thread) write through h since its last commit?  What cannot be
 * told counts as yes, which publishes as any FLUSH used to: pid 0 (another
 * pid namespace), too many writers, no /proc, a writer gone (a thread that
 * wrote and ended: a process that wrote and exited published then). */
static bool fh_flusher_wrote(struct fh *h, pid_t pid)
{
	pid_t g;

	if (pid <= 0 || h->nwriters == 0 || h->nwriters > WRITERS)
		return true;
	for (unsigned i = 0; i < h->nwriters; i++)
		if (h->writer[i] == pid)
			return true;
	/* another thread of a writer's process (threads have pids too) */
	g = tgid_of(pid);
	if (!g)
		return true;
	for (unsigned i = 0; i < h->nwriters; i++) {
		pid_t w = tgid_of(h->writer[i]);

		if (!w || w == g)
			return true;
	}
	return false;
}

/* pid wrote through h (a WRITE or a truncate).  Caller holds h->mu. */
static void fh_note_writer(struct fh *h, pid_t pid)
{
	if (pid <= 0) {
		h->nwriters = WRITERS + 1;
		return;
	}
	for (unsigned i = 0; i < h->nwriters && i < WRITERS; i++)
		if (h->writer[i] == pid)
			return;
	if (h->nwriters < WRITERS)
		h->writer[h->nwriters] = pid;
	if (h->nwriters <= WRITERS)
		h->nwriters++;
}

/* Every open file the kernel has not released: a mount detached with
 * fusermount3 -uz sends no RELEASE, so the daemon frees them at exit. */
static struct fh *open_fhs;
static pthread_mutex_t fhs_mu = PTHREAD_MUTEX_INITIALIZER;

/* Let go of a pinned value (fh_load_ro).  Caller does not hold tb->mu. */
static void fh_unpin(struct fh *h)
{
	struct fs_table *tb = h->ptb;

	pthread_mutex_lock(&tb->mu);
	shmtab__unpin(tb->t ? tb->t : tb->old_t, h->pin);
	if (--tb->npinned == 0 && tb->old_t) {
		shmtab_close(tb->old_t);
		tb->old_t = NULL;
	}
	pthread_mutex_unlock(&tb->mu);
	h->pinned = false;
	memset(&h->b, 0, sizeof(h->b));
}

static void fh_free(struct fh *h)
{
	if (!h)
		return;
	if (h->pinned)
		fh_unpin(h);
	if (h->paged)
		__atomic_sub_fetch(&h->nd->v.readers, 1, __ATOMIC_ACQ_REL);
	if (h->writable && h->nd)
		__atomic_sub_fetch(&h->nd->writers, 1, __ATOMIC_ACQ_REL);
	if (h->versioned && h->b.big) {
		/* the value stays in it for the next reader (pool_take_tagged) */
		pool_put(h->b.p, h->b.cap, h->nd->ino, h->ver, h->b.len);
		memset(&h->b, 0, sizeof(h->b));
	}
	pthread_mutex_lock(&fhs_mu);
	if (h->prev)
		h->prev->next = h->next;
	else
		open_fhs = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&fhs_mu);
	pthread_mutex_destroy(&h->mu);
	vbuf_drop(&h->b);
	free(h->rg);
	free(h->dl);
	free(h->vtype);
	free(h->key);
	free(h);
}

bool fs_file_open_ino(fuse_ino_t ino)
{
	bool open = false;

	pthread_mutex_lock(&fhs_mu);
	for (struct fh *h = open_fhs; h && !open; h = h->next)
		open = h->nd && h->nd->ino == ino;
	pthread_mutex_unlock(&fhs_mu);
	return open;
}

/* h follows nd from now on (NULL: none); a writable one keeps it from
 * being superseded (fs_node_supersede). */
static void fh_attach(struct fh *h, struct fs_node *nd)
{
	h->nd = nd;
	if (h->writable && nd)
		__atomic_add_fetch(&nd->writers, 1, __ATOMIC_ACQ_REL);
}

static struct fh *fh_new(struct fs_table *tb, const void *key, size_t klen)
{
	struct fh *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->key = malloc(klen ? klen : 1);
	if (!h->key) {
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_mutex_lock(&fhs_mu);
	h->next = open_fhs;
	if (open_fhs)
		open_fhs->prev = h;
	open_fhs = h;
	pthread_mutex_unlock(&fhs_mu);
	h->tb = tb;
	h->klen = klen;
	if (klen)
		memcpy(h->key, key, klen);
	return h;
}

static int fh_reserve(struct fh *h, size_t len)
{
	return vbuf_reserve(&h->b, len);
}

/* Set the length, zero-filling a gap. */
static int fh_resize(struct fh *h, size_t len)
{
	int err = fh_reserve(h, len);

	if (err < 0)
		return err;
	if (len > h->b.len)
		memset(h->b.p + h->b.len, 0, len - h->b.len);
	h->b.len = len;
	return 0;
}

/*
 * A group that met a lock cycle with another process changed nothing in
 * its failed step; every group here can simply run again.
 */
int fs_group(shmtab *t, int (*fn)(shmtab *t, void *ctx), void *ctx)
{
	int err, tries = 0;

	do
		err = shmtab_group(t, fn, ctx);
	while (err == -EDEADLK && ++tries < 100);
	return err;
}

/* Load the newest value (its text) into h; caller holds tb->mu.  -ENOENT
 * when the key has no file. */
static int fh_load(struct fh *h, const struct fs_types *ty)
{
	return value_load(h->tb->t, ty, h->key, h->klen, &h->b);
}

struct tail_ctx {
	struct fh *h;
	const struct fs_types *ty;
};

/*
 * A read-only file's value.  A big untyped (or string) value is read where
 * it lies in the table, pinned from open to release (shmtab__pin: another
 * process's replace leaves its bytes alone), so an open costs no copy and
 * no buffer; one the library will not pin (under 64 KiB, or no pin free)
 * is copied as for any other file.  Caller holds tb->mu.
 */
static int fh_load_ro(struct fh *h, const struct fs_types *ty)
{
	struct fs_table *tb = h->tb;
	const void *val;
	size_t vlen;
	unsigned pin;
	int err;

	if (ty->array || (ty->typed && !ty->vplain) || tb->rdonly)
		return fh_load(h, ty);
	err = shmtab__pin(tb->t, h->key, h->klen, &val, &vlen, &pin);
	if (err == -ERANGE || err == -EAGAIN)
		return fh_load(h, ty);
	if (err < 0)
		return err;
	h->pinned = true;
	h->pin = pin;
	h->ptb = tb;
	h->b.p = (unsigned char *)(uintptr_t)val;
	h->b.len = h->b.cap = vlen;
	tb->npinned++;
	return 0;
}

/* The current value (text) of h's key into v; an unbound key of a hash
 * table is empty. */
static int current_value(shmtab *t, const struct fs_types *ty,
			 const struct fh *h, struct vbuf *v)
{
	int err = value_load(t, ty, h->key, h->klen, v);

	if (err == -ENOENT && !ty->array) {
		vbuf_drop(v);
		err = 0;
	}
	return err;
}

static int tail_commit(shmtab *t, void *ctx)
{
	struct tail_ctx *c = ctx;
	struct fh *h = c->h;
	struct vbuf v = { 0 };
	int err;

	err = current_value(t, c->ty, h, &v);
	if (err == 0 && v.len + h->b.len > SHMTAB_VALUE_MAX)
		err = -EFBIG;
	if (err == 0)
		err = vbuf_reserve(&v, v.len + h->b.len);
	if (err == 0) {
		if (h->b.len)
			memcpy(v.p + v.len, h->b.p, h->b.len);
		v.len += h->b.len;
		err = fs_value_put(t, c->ty, h->key, h->klen, v.p, v.len);
	}
	vbuf_drop(&v);
	return err;
}

#define RANGES_MAX 1024

/* Note that [off, off+len) of the buffer was written. */
static void fh_range_add(struct fh *h, size_t off, size_t len)
{
	struct range *r = h->nrg ? &h->rg[h->nrg - 1] : NULL;

	if (h->whole || !len)
		return;
	/* merge with the last range when they touch (the common case of
	 * sequential writes); order does not matter: every range is copied
	 * from the final buffer */
	if (r && off <= r->off + r->len && off + len >= r->off) {
		size_t end = off + len > r->off + r->len ? off + len :
							   r->off + r->len;

		r->off = off < r->off ? off : r->off;
		r->len = end - r->off;
		return;
	}
	if (h->nrg == h->caprg) {
		if (h->caprg >= RANGES_MAX) {
			h->whole = true;	/* too scattered: whole value */
			return;
		}
		h->caprg = h->caprg ? h->caprg * 2 : 8;
		r = realloc(h->rg, h->caprg * sizeof(*r));
		if (!r) {
			h->whole = true;
			return;
		}
		h->rg = r;
	}
	h->rg[h->nrg].off = off;
	h->rg[h->nrg].len = len;
	h->nrg++;
}

/* The written ranges onto the current value; the result becomes h's
 * buffer. */
static int patch_commit(shmtab *t, void *ctx)
{
	struct tail_ctx *c = ctx;
	struct fh *h = c->h;
	struct vbuf v = { 0 };
	size_t nlen, i;
	int err;

	err = current_value(t, c->ty, h, &v);
	if (err < 0)
		return err;
	nlen = v.len;
	for (i = 0; i < h->nrg; i++)
		if (h->rg[i].off + h->rg[i].len > nlen)
			nlen = h->rg[i].off + h->rg[i].len;
	err = vbuf_reserve(&v, nlen ? nlen : 1);
	if (err < 0) {
		vbuf_drop(&v);
		return err;
	}
	if (nlen > v.len)
		memset(v.p + v.len, 0, nlen - v.len);
	v.len = nlen;
	for (i = 0; i < h->nrg; i++)
		memcpy(v.p + h->rg[i].off, h->b.p + h->rg[i].off,
		       h->rg[i].len);
	err = fs_value_put(t, c->ty, h->key, h->klen, v.p, v.len);
	if (err < 0) {
		vbuf_drop(&v);
		return err;
	}
	vbuf_move(&h->b, &v);
	return 0;
}

/* The deltas of an add-mode handle, as one atomic add. */
static int add_commit(struct fh *h, const struct fs_types *ty)
{
	int64_t sum;
	int err;

	if (!h->dlen)
		return 0;
	err = fs_deltas_sum(h->dl, h->dlen, &sum);
	if (err < 0)
		return err;
	return fs_value_add(h->tb->t, ty, h->key, h->klen, sum);
}

/*
 * Take the mu of the table h's key is in now, h->tb and h->key made those
 * of h's node, which follows the renames made through the mount: 0, with
 * h->tb->mu held; -ENOENT when the node is detached: its key was removed,
 * or replaced by a rename, through the mount, and h is an unlinked file
 * whose bytes go nowhere (nothing held); -ENOMEM.  A change made by
 * another process through the library cannot be followed: h keeps the key
 * it had.  Caller holds h->mu.
 */
static int fh_lock(struct fh *h)
{
	struct fs_node *nd = h->nd;
	struct fs_table *tb;
	unsigned char *key;
	int err;

	if (!nd) {
		pthread_mutex_lock(&h->tb->mu);
		return 0;
	}
	err = fs_node_lock(nd, &tb);
	if (err < 0)
		return err;
	if (tb == h->tb && nd->klen == h->klen &&
	    (!h->klen || memcmp(nd->key, h->key, h->klen) == 0))
		return 0;
	key = malloc(nd->klen ? nd->klen : 1);
	if (!key) {
		pthread_mutex_unlock(&tb->mu);
		return -ENOMEM;
	}
	if (nd->klen)
		memcpy(key, nd->key, nd->klen);
	free(h->key);
	h->key = key;
	h->klen = nd->klen;
	h->tb = tb;
	return 0;
}

/* Publish h's buffer to the key h's node stands for; an unlinked file's
 * commit succeeds and publishes nothing.  Caller holds h->mu. */
static int fh_commit(struct fh *h)
{
	struct fs_table *tb;
	struct fs_types ty;
	struct tail_ctx c = { h, &ty };
	int err = fh_lock(h);

	if (err == -ENOENT) {
		err = 0;
		goto done;
	}
	if (err < 0) {
		h->failed = true;
		return err;
	}
	tb = h->tb;
	err = tb->t ? fs_types_get(tb->t, &ty) : -ENOENT;
	if (err < 0)
		;
	else if (h->add)
		err = add_commit(h, &ty);
	else if (h->tail)
		err = fs_group(tb->t, tail_commit, &c);
	else if (!h->whole)
		err = fs_group(tb->t, patch_commit, &c);
	else
		err = fs_value_put(tb->t, &ty, h->key, h->klen, h->b.p,
				   h->b.len);
	pthread_mutex_unlock(&tb->mu);
	if (err < 0) {
		h->failed = true;
		return err;
	}
done:
	h->pending = false;
	h->armed = false;
	h->nwriters = 0;
	h->nrg = 0;
	if (h->tail)
		h->b.len = 0;
	h->dlen = 0;
	h->dgood = 0;
	h->committed = true;
	return 0;
}

/* The current value (text) of h's key into v; *gone: h is an unlinked
 * file (fh_lock), v is left alone. */
static int fh_current(struct fh *h, struct vbuf *v, bool *gone)
{
	struct fs_types ty;
	int err = fh_lock(h);

	*gone = err == -ENOENT;
	if (err < 0)
		return *gone ? 0 : err;
	err = h->tb->t ? fs_types_get(h->tb->t, &ty) : -ENOENT;
	if (err == 0)
		err = current_value(h->tb->t, &ty, h, v);
	pthread_mutex_unlock(&h->tb->mu);
	return err;
}

/* Turn a tail or add-mode handle into one holding the whole value (for a
 * truncate); pending deltas are committed first.  An unlinked file has no
 * current value: it holds what it has (the value at its open, or the bytes
 * it appended). */
static int fh_untail(struct fh *h)
{
	struct vbuf v = { 0 };
	bool gone = false;
	int err;

	if (h->add) {
		err = h->dlen ? fh_commit(h) : 0;
		if (err == 0)
			err = fh_current(h, &v, &gone);
		if (err < 0)
			return err;
		if (!gone)
			vbuf_move(&h->b, &v);
		h->add = false;
		h->tail = false;
		h->whole = true;
		return 0;
	}
	if (!h->tail)
		return 0;
	err = fh_current(h, &v, &gone);
	if (err == 0 && !gone)
		err = vbuf_reserve(&v, v.len + h->b.len);
	if (err < 0) {
		vbuf_drop(&v);
		return err;
	}
	if (!gone) {
		if (h->b.len)
			memcpy(v.p + v.len, h->b.p, h->b.len);
		v.len += h->b.len;
		vbuf_move(&h->b, &v);
	}
	h->tail = false;
	h->whole = true;
	return 0;
}

/* A handle for (tb, key) opened with flags.  Caller holds tb->mu. */
static int fh_open(struct fs_table *tb, const struct fs_types *ty,
		   const void *key, size_t klen, int flags, bool created,
		   struct fh **out)
{
	int acc = flags & O_ACCMODE;
	bool trunc = (flags & O_TRUNC) != 0;
	struct fh *h;
	int err = 0;

	if (!tb->t)
		return -ENOENT;
	h = fh_new(tb, key, klen);
	if (!h)
		return -ENOMEM;
	h->writable = acc != O_RDONLY;
	h->append = (flags & O_APPEND) != 0;
	/* a new key opened to append appends too, rather than publishing
	 * its whole buffer over what another process appended meanwhile */
	h->add = h->writable && h->append && !trunc && ty->vint;
	if (h->writable && ty->typed && !ty->vplain) {
		h->vtype = strdup(ty->vtype);
		if (!h->vtype)
			err = -ENOMEM;
	}
	if (err < 0) {
		;
	} else if (h->writable && (fs_state.ro || tb->rdonly)) {
		err = fs_state.ro ? -EROFS : -EACCES;
	} else if (!h->writable || h->add ||
		   (!trunc && (!created ||
			       (h->append && acc == O_WRONLY && !h->vtype)))) {
		/* an add-mode buffer is never published, it only serves
		 * reads: a key this open created reads as what it holds
		 * (the zero key_create gave it), not as an empty new file */
		if (h->append && acc == O_WRONLY) {
			h->tail = !h->add;
			err = fs_key_exists(tb->t, ty, key, klen);
			err = err == 0 ? -ENOENT : err < 0 ? err : 0;
		} else if (!h->writable) {
			err = fh_load_ro(h, ty);	/* last: may pin */
		} else {
			err = fh_load(h, ty);
		}
	} else {
		/* O_TRUNC, or a key this open created: the value is what is
		 * written, also when opened to append to a typed value (as
		 * a pair: created as its zero, "\t0\n", which nothing
		 * appended to can make parse).  O_TRUNC publishes at release
		 * (`: > k`), except where an empty text cannot parse (an
		 * integer, a pair) */
		h->pending = !created && !h->vtype;
		h->whole = true;
	}
	h->created = created;
	if (err < 0) {
		fh_free(h);
		return err;
	}
	*out = h;
	return 0;
}

/*
 * Direct I/O, except for a cached-mode reader that reads through the page
 * cache (fh_open_paged).  keep_cache 0 makes the kernel drop the key's
 * cached pages at the open, as a writer's open and every open in the
 * strict mode do.  A cached-mode reader keeps them: only fh_open_paged's
 * readers fill them, and the watcher drops them (fs_watch_drop).  A drop
 * at an open would come too late: the kernel does it after the reply, and
 * another reader may read the old pages meanwhile.
 */
static void set_open_flags(struct fuse_file_info *fi, const struct fh *h)
{
	fi->fh = (uintptr_t)h;
	fi->direct_io = !h->paged;
	fi->keep_cache = h->versioned;
	fi->noflush = !h->writable;
}

/*
 * The cached mode's versions (struct fs_vstate).  Caller holds tb->mu and
 * tb->t is open.  The change feed says which keys changed since the
 * node's value was last checked: when this key did (or every key did: an
 * array's length or the schema, hash 0; or changes were lost from the
 * ring), the count read up to becomes its version.  The daemon's own
 * commits are in the feed too.  Returns the version.
 */
static uint64_t vstate_sync(struct fs_table *tb, struct fs_node *nd)
{
	uint64_t hashes[SHMTAB_FEED_SIZE], now = shmtab_counter(tb->t);
	struct fs_vstate *v = &nd->v;
	uint64_t since = v->seen;
	bool changed;
	int n, i;

	if (!v->known) {
		v->known = true;
		v->lhash = shmtab_key_hash(tb->t, nd->key, nd->klen);
		v->seen = v->ver = now;
		return v->ver;
	}
	if (now == v->seen)
		return v->ver;
	n = shmtab_changes(tb->t, &since, hashes, SHMTAB_FEED_SIZE);
	changed = n < 0;
	for (i = 0; i < n && !changed; i++)
		changed = hashes[i] == v->lhash || hashes[i] == 0;
	v->seen = n < 0 ? now : since;
	if (changed)
		v->ver = v->seen;
	return v->ver;
}

#define LOAD_TRIES 4

/*
 * A read-only open in the cached mode.  The value is loaded with its
 * version: checked before and after the copy, and copied again when the
 * key changed meanwhile; a big value comes back without a copy from the
 * buffer its last reader left in the pool, when that holds this version.
 * Then the file reads through the kernel's page cache when
 *  - the kernel holds no stale size of the key: the watcher has told it
 *    of every change up to this version (fs_watch_settled), so the size
 *    it has, or asks for, is this version's; and
 *  - the cached pages, if any, are of this version: a page may be filled
 *    through any file reading through the cache, so all of them read one
 *    version, and the pages of an older one must be dropped once no file
 *    reads them any more (then none can fill them again) and before a
 *    file of the new version reads: the watcher drops them, and until it
 *    has, opens read with direct I/O.
 * Otherwise it reads with direct I/O, as in the strict mode.  Caller holds
 * tb->mu.
 *
 * NEEDSWORK: the kernel lets a direct I/O file be mapped privately, and
 * then fills the page cache through it, with its version, under the feet
 * of the files reading through the cache (shmtabfs(1), BUGS).
 */
static int fh_open_paged(struct fs_table *tb, const struct fs_types *ty,
			 struct fs_node *nd, struct fh **out)
{
	struct fs_vstate *v = &nd->v;
	struct fh *h;
	uint64_t ver;
	int err = 0, tries;

	/* renamed to another table, or replaced by a rename, since the
	 * request resolved it: as if the open came after */
	if (!tb->t || !fs_node_in(nd, tb))
		return -ENOENT;
	h = fh_new(tb, nd->key, nd->klen);
	if (!h)
		return -ENOMEM;
	h->nd = nd;
	ver = vstate_sync(tb, nd);
	for (tries = 0; tries < LOAD_TRIES; tries++) {
		if (pool_take_tagged(nd->ino, ver, &h->b)) {
			h->versioned = true;
			break;
		}
		err = fh_load(h, ty);
		if (err < 0)
			break;
		if (vstate_sync(tb, nd) == ver) {
			h->versioned = true;
			break;
		}
		ver = v->ver;	/* changed while copied: again */
	}
	if (err < 0) {
		fh_free(h);
		return err;
	}
	h->ver = ver;
	/* a superseded inode's pages are of its old version, for good */
	if (!h->versioned || !fs_watch_settled(tb, ver) || nd->superseded)
		goto out;
	if (v->paged && v->page_ver != ver) {
		if (__atomic_load_n(&v->readers, __ATOMIC_ACQUIRE))
			goto out;	/* the old pages are in use */
		if (v->drop_ver != ver || !v->drop_req) {
			v->drop_ver = ver;
			v->drop_req = fs_watch_drop(nd->ino);
			goto out;
		}
		if (!fs_watch_dropped(v->drop_req))
			goto out;
	}
	h->paged = true;
	v->paged = true;
	v->page_ver = ver;
	v->page_len = h->b.len;
	__atomic_add_fetch(&v->readers, 1, __ATOMIC_ACQ_REL);
out:
	*out = h;
	return 0;
}

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_types ty;
	struct fs_table *tb;
	void *key;
	size_t klen;
	bool is_dir;
	struct fh *h = NULL;
	struct fs_node *nd;
	bool paged;
	int err = fs_resolve(ino, &tb, &key, &klen, &is_dir);

	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	if (is_dir) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	nd = fs_node_get(ino);
	paged = nd && fs_state.cache > 0 &&
		(fi->flags & O_ACCMODE) == O_RDONLY && !(fi->flags & O_TRUNC);
	pthread_mutex_lock(&tb->mu);
	err = tb->t ? fs_types_get(tb->t, &ty) : -ENOENT;
	if (err == 0 && nd && nd->superseded) {
		/* an older version's inode (fs_node_supersede): the kernel
		 * looks a path up again, and opens the name's new one */
		err = -ESTALE;
	} else if (err == 0 && paged) {
		err = fh_open_paged(tb, &ty, nd, &h);
	} else if (err == 0 && nd && !fs_node_in(nd, tb)) {
		/* renamed to another table, removed or replaced since the
		 * request resolved it: as if the open came after */
		err = -ENOENT;
	} else if (err == 0) {
		/* the node's key now (a rename within the table may have
		 * come since), which stays while tb->mu is held */
		err = fh_open(tb, &ty, nd ? nd->key : key, nd ? nd->klen : klen,
			      fi->flags, false, &h);
		if (err == 0)
			fh_attach(h, nd);
	}
	pthread_mutex_unlock(&tb->mu);
	if (err == 0)
		fh_note_size(h);
	free(key);
	if (err < 0) {
		fuse_reply_err(req, fs_err(tb, err));
		return;
	}
	set_open_flags(fi, h);
	if (fuse_reply_open(req, fi) != 0)
		fh_free(h);
}

/* The key a name in tb stands for, with the table's types; -ENOENT for a
 * name that is no key's canonical name. */
static int name_key(struct fs_table *tb, const char *name, unsigned char *key,
		    size_t cap, size_t *klen, struct fs_types *ty)
{
	int err;

	pthread_mutex_lock(&tb->mu);
	err = tb->t ? fs_types_get(tb->t, ty) : -ENOENT;
	if (err == 0)
		err = fs_name_key(tb, ty, name, key, cap, klen);
	pthread_mutex_unlock(&tb->mu);
	return err;
}

/* Why a name that stands for no key cannot make one: a long key's name
 * (escape.h) does not give the key back, any other is not canonical. */
static int name_create_err(const char *name)
{
	return shmtab_file_name_is_long(name) ? -ENAMETOOLONG : -EINVAL;
}

/* A table directory's table for parent, or a positive errno; obj (or
 * NULL) as fs_resolve_obj gives it. */
static int parent_table(fuse_ino_t parent, struct fs_table **tb,
			struct fs_obj *obj)
{
	void *key;
	size_t klen;
	bool is_dir;
	int err = fs_resolve_obj(parent, tb, &key, &klen, &is_dir, obj);

	if (err < 0)
		return -err;
	free(key);
	if (!is_dir)
		return ENOTDIR;
	if (!*tb)
		return EPERM;	/* the root holds tables only */
	return 0;
}

/* A created file h follows node ino, from before the kernel knows it
 * (the kernel holds the directory: no rename or rm comes between); under
 * tb->mu, as fs_node_supersede: false when the node was superseded since
 * its attributes were asked, unless force. */
static bool attach_created(struct fs_table *tb, struct fh *h, fuse_ino_t ino,
			   bool force)
{
	struct fs_node *nd;
	bool ok;

	pthread_mutex_lock(&tb->mu);
	nd = fs_node_get(ino);
	ok = force || !nd || !nd->superseded;
	if (ok)
		fh_attach(h, nd);
	pthread_mutex_unlock(&tb->mu);
	if (ok)
		fh_note_size(h);
	return ok;
}

static int reply_key_entry(fuse_req_t req, struct fs_table *tb,
			   const void *key, size_t klen,
			   const struct fs_obj *obj, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct stat st;
	fuse_ino_t ino;
	int err;

	for (int tries = 0;; tries++) {
		err = fs_node_ref(tb, false, key, klen, &ino);
		if (err < 0)
			return err;
		err = fs_attr_key_obj(tb, key, klen, ino, obj, &st);
		if (err < 0) {
			fs_node_forget(ino, 1);
			return err;
		}
		/* superseded as it was asked (st_nlink 0), or before a
		 * created file held it: the name's new node */
		if ((st.st_nlink || tries) &&
		    (!fi || attach_created(tb, fh_of(fi), ino, tries > 0)))
			break;
		fs_node_forget(ino, 1);
	}
	fs_fill_entry(&e, ino, &st, fs_state.cache, fs_state.cache);
	if ((fi ? fuse_reply_create(req, &e, fi) : fuse_reply_entry(req, &e))) {
		/* the open was interrupted: no RELEASE comes for the file,
		 * which must not outlive (nor hold writers on) the node */
		if (fi)
			fh_free(fh_of(fi));
		fs_node_forget(ino, 1);
	}
	return 0;
}

void fs_key_lookup(fuse_req_t req, struct fs_table *tb, const char *name,
		   const struct fs_obj *obj)
{
	unsigned char key[FS_KEY_CAP];
	struct fs_types ty;
	size_t klen = 0;
	int err = name_key(tb, name, key, sizeof(key), &klen, &ty);

	if (err == 0)
		err = reply_key_entry(req, tb, key, klen, obj, NULL);
	if (err < 0)
		fuse_reply_err(req, fs_err(tb, err));
}

struct create_ctx {
	const void *key, *val;
	size_t klen, vlen;
};

/* Bind the key to its first value unless it is bound: 1 when it was
 * created, 0 when it was there. */
static int create_group(shmtab *t, void *ctx)
{
	struct create_ctx *c = ctx;
	int err = shmtab_mem(t, c->key, c->klen);

	if (err != 0)
		return err < 0 ? err : 0;
	err = shmtab_add(t, c->key, c->klen, c->val, c->vlen);
	return err < 0 ? err : 1;
}

/* Make the key exist (a hash table's key gets the empty value or its
 * type's zero).  Caller holds tb->mu. */
static int key_create(struct fs_table *tb, const struct fs_types *ty,
		      const void *key, size_t klen, bool excl, bool *created)
{
	struct create_ctx c = { key, NULL, klen, 0 };
	void *zero = NULL;
	int err = fs_key_exists(tb->t, ty, key, klen);

	*created = false;
	if (err > 0)
		return excl ? -EEXIST : 0;
	if (err < 0)
		return err;
	if (ty->array)
		return -EINVAL;	/* outside the array: see shmtabfs(1) */
	err = fs_value_zero(ty, &zero, &c.vlen);
	c.val = zero;
	if (err == 0)
		err = fs_group(tb->t, create_group, &c);
	free(zero);
	if (err == 0 && excl)
		return -EEXIST;	/* another process was first */
	*created = err > 0;
	return err < 0 ? err : 0;
}

void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi)
{
	unsigned char key[FS_KEY_CAP];
	struct fs_obj obj = { false };
	struct fs_types ty;
	struct fs_table *tb;
	struct fh *h = NULL;
	size_t klen = 0;
	bool created = false;
	int err;

	err = parent_table(parent, &tb, &obj);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (fs_state.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&tb->mu);
	if (!tb->t) {
		err = -ENOENT;
	} else if (tb->rdonly) {
		err = -EACCES;
	} else {
		err = fs_types_get(tb->t, &ty);
		if (err == 0)
			err = fs_name_key(tb, &ty, name, key, sizeof(key),
					  &klen);
		if (err == -ENOENT)
			err = name_create_err(name);
		/* the name must exist when open() returns */
		if (err == 0)
			err = key_create(tb, &ty, key, klen,
					 (fi->flags & O_EXCL) != 0, &created);
		if (err == 0)
			err = fh_open(tb, &ty, key, klen, fi->flags, created,
				      &h);
	}
	pthread_mutex_unlock(&tb->mu);
	if (err < 0)
		goto out;
	set_open_flags(fi, h);
	err = reply_key_entry(req, tb, key, klen, &obj, fi);
	if (err < 0)
		fh_free(h);
out:
	if (err < 0)
		fuse_reply_err(req, fs_err(tb, err));
}

/*
 * Cached mode: the size to give the kernel for key inode ino of tb, when
 * files read an older version of its key through the page cache: the
 * inode is superseded (fs_node_supersede) and keeps that version's
 * length.  False when its size is the key's.  Called after the key's
 * value was read: a change the read saw is in the feed by then.  Caller
 * holds tb->mu, and the request holds the inode.
 */
bool fs_key_pinned(struct fs_table *tb, fuse_ino_t ino, uint64_t *size)
{
	struct fs_node *nd = fs_state.cache > 0 ? fs_node_get(ino) : NULL;

	if (!nd || nd->is_dir)
		return false;
	if (!nd->superseded &&
	    (!__atomic_load_n(&nd->v.readers, __ATOMIC_ACQUIRE) ||
	     !tb->t || vstate_sync(tb, nd) == nd->v.page_ver ||
	     !fs_node_supersede(nd)))
		return false;
	*size = nd->v.page_len;
	return true;
}

/*
 * The watcher: did the key of cp, its private copy of a node (fs-watch.c),
 * change since the version the node's files read through the page cache?
 * A round over every key (an owner or mode, a resync, a lost change)
 * changes none by itself.  Caller holds tb->mu, tb->t is open.
 */
bool fs_key_moved_on(struct fs_table *tb, struct fs_node *cp)
{
	return !cp->v.known || vstate_sync(tb, cp) != cp->v.page_ver;
}

/*
 * A read through the page cache that reaches the end of the file's
 * version.  When the key changed since the open, the inode is superseded
 * now if it was not yet, so that the kernel keeps this version's size
 * (the watcher drops the name's entry when it sees the change).  When a
 * writable file of the key prevents that, the kernel may have learnt the
 * new size meanwhile (after the watcher's invalidation) and will take
 * this short read as the size, with nothing to tell it that this is
 * stale: the watcher is asked to invalidate the table's keys again, and
 * until it has, no open reads through the cache.  Before the reply, which
 * is what the kernel reads the size from.
 */
static void fh_check_size(struct fh *h)
{
	struct fs_table *tb = h->tb;

	pthread_mutex_lock(&tb->mu);
	if (tb->t && !h->nd->superseded && vstate_sync(tb, h->nd) != h->ver &&
	    !fs_node_supersede(h->nd))
		fs_watch_resync(tb);
	pthread_mutex_unlock(&tb->mu);
}

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	size_t n = 0;

	(void)ino;
	/* a read-only buffer: its length does not change */
	if (h->paged && (off < 0 || (uint64_t)off + size > h->b.len))
		fh_check_size(h);
	pthread_mutex_lock(&h->mu);
	if (h->tail) {
		pthread_mutex_unlock(&h->mu);
		fuse_reply_err(req, EBADF);
		return;
	}
	if (off >= 0 && (size_t)off < h->b.len) {
		n = h->b.len - (size_t)off;
		if (n > size)
			n = size;
	}
	/* h->b.p does not move while h->mu is held; the reply copies it */
	fuse_reply_buf(req, n ? (const char *)h->b.p + off : NULL, n);
	pthread_mutex_unlock(&h->mu);
}

/* Append to an add-mode handle's deltas; a whole line that is not a
 * decimal integer fails the write, the deltas unchanged. */
static int fh_add_deltas(struct fh *h, const char *buf, size_t size)
{
	size_t len = h->dlen + size, cap, end;
	const char *nl;
	int64_t sum;
	char *p;
	int err;

	if (size > SHMTAB_VALUE_MAX - h->dlen)
		return -EFBIG;
	if (len > h->dcap) {
		cap = h->dcap ? h->dcap : 64;
		while (cap < len)
			cap *= 2;
		p = realloc(h->dl, cap);
		if (!p)
			return -ENOMEM;
		h->dl = p;
		h->dcap = cap;
	}
	memcpy(h->dl + h->dlen, buf, size);
	nl = memrchr(h->dl + h->dgood, '\n', len - h->dgood);
	if (nl) {
		end = (size_t)(nl - h->dl) + 1;
		err = fs_deltas_sum(h->dl + h->dgood, end - h->dgood, &sum);
		if (err == -EINVAL)
			return err;	/* -ERANGE: the commit decides */
		h->dgood = end;
	}
	h->dlen = len;
	return 0;
}

/* -EINVAL when the whole text can never become a valid value: it has a
 * newline before its end, or ends with one and does not parse. */
static int fh_text_viable(const struct fh *h)
{
	const unsigned char *nl = memchr(h->b.p, '\n', h->b.len);
	void *enc;
	size_t elen;
	int err;

	if (!nl)
		return 0;
	if ((size_t)(nl - h->b.p) != h->b.len - 1)
		return -EINVAL;
	err = shmtab_parse(h->vtype, (const char *)h->b.p, h->b.len, &enc,
			   &elen);
	if (err == 0)
		free(enc);
	return err == -EINVAL ? err : 0;
}

/* Write into h's buffer at at; in a whole typed value, refuse what can
 * never parse (the buffer unchanged). */
static int fh_write_buf(struct fh *h, const char *buf, size_t size, size_t at)
{
	bool check = h->vtype && h->whole && !h->tail;
	size_t olen = h->b.len, ov = 0;
	unsigned char *saved = NULL;
	int err;

	if (at > SHMTAB_VALUE_MAX || size > SHMTAB_VALUE_MAX - at)
		return -EFBIG;
	err = fh_reserve(h, at + size);
	if (err < 0)
		return err;
	if (check && at < olen) {
		ov = size < olen - at ? size : olen - at;
		saved = malloc(ov ? ov : 1);
		if (!saved)
			return -ENOMEM;
		memcpy(saved, h->b.p + at, ov);
	}
	if (at > h->b.len)
		memset(h->b.p + h->b.len, 0, at - h->b.len);
	memcpy(h->b.p + at, buf, size);
	if (at + size > h->b.len)
		h->b.len = at + size;
	if (check && fh_text_viable(h) < 0) {
		if (ov)
			memcpy(h->b.p + at, saved, ov);
		h->b.len = olen;
		free(saved);
		return -EINVAL;
	}
	free(saved);
	if (!h->tail)
		fh_range_add(h, at, size);
	return 0;
}

void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	int err;

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!h->writable) {
		/* the kernel checks the open mode; this keeps a file that
		 * reads a value in place in the table (pinned) from ever
		 * writing there, whatever a kernel sends */
		fuse_reply_err(req, EBADF);
		return;
	}
	pthread_mutex_lock(&h->mu);
	if (h->add)
		err = fh_add_deltas(h, buf, size);
	else	/* O_APPEND: the kernel's offset comes from a possibly stale
		 * size */
		err = fh_write_buf(h, buf, size,
				   h->append ? h->b.len : (size_t)off);
	if (err == 0) {
		h->pending = true;
		h->armed = true;
		fh_note_writer(h, fuse_req_ctx(req)->pid);
		fh_note_size(h);
	} else {
		h->failed = true;
	}
	pthread_mutex_unlock(&h->mu);
	if (err < 0)
		fuse_reply_err(req, -err);
	else
		fuse_reply_write(req, size);
}

static void fh_uncreate(struct fh *h);

void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	struct fs_table *tb;
	int err = 0;

	(void)ino;
	pthread_mutex_lock(&h->mu);
	if (h->armed && fh_flusher_wrote(h, fuse_req_ctx(req)->pid)) {
		err = fh_commit(h);
		/* close() returns the error; RELEASE tries once more */
		h->armed = false;
		h->reported = err < 0;
	}
	fh_uncreate(h);		/* before close() returns */
	tb = h->tb;		/* (a commit may move it: fh_lock) */
	pthread_mutex_unlock(&h->mu);
	fuse_reply_err(req, fs_err(tb, err));
}

void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	struct fs_table *tb;
	int err = 0;

	(void)ino;
	(void)datasync;
	pthread_mutex_lock(&h->mu);
	if (h->pending)
		err = fh_commit(h);
	tb = h->tb;
	pthread_mutex_unlock(&h->mu);
	fuse_reply_err(req, fs_err(tb, err));
}

struct uncreate_ctx {
	const void *key;
	size_t klen;
	const void *zero;
	size_t zlen;
	int seen;
	bool same;
};

static int uncreate_visit(const void *key, size_t klen, const void *val,
			  size_t vlen, void *ctx)
{
	struct uncreate_ctx *c = ctx;

	(void)key;
	(void)klen;
	if (c->seen++ == 0)
		c->same = vlen == c->zlen && (!vlen || !memcmp(val, c->zero,
							       vlen));
	return c->seen > 1;
}

static int uncreate_group(shmtab *t, void *ctx)
{
	struct uncreate_ctx *c = ctx;
	int err;

	c->seen = 0;		/* the group may run again */
	c->same = false;
	err = shmtab_find_all(t, c->key, c->klen, uncreate_visit, c);
	if (err < 0)
		return err;
	if (c->seen != 1 || !c->same)
		return 0;	/* another process gave it a value */
	return shmtab_remove(t, c->key, c->klen);
}

/*
 * A typed key this handle created and never gave a value, because what was
 * written did not parse (`echo x > new` in an integer table), is removed
 * again at the close, unless another process bound it meanwhile: a failed
 * write leaves no key behind.  (A later commit of the same handle binds it
 * again.)  Caller holds h->mu.
 */
static void fh_uncreate(struct fh *h)
{
	struct uncreate_ctx c = { NULL, 0, NULL, 0, 0, false };
	struct fs_table *tb;
	struct fs_types ty;
	void *zero = NULL;
	int err;

	if (!h->vtype || !h->created || !h->failed || h->committed)
		return;
	h->created = false;	/* once: the zero may be someone's later */
	if (fh_lock(h) < 0)
		return;		/* removed or replaced through the mount */
	tb = h->tb;
	c.key = h->key;
	c.klen = h->klen;
	err = tb->t ? fs_types_get(tb->t, &ty) : -ENOENT;
	if (err == 0 && !ty.array)
		err = fs_value_zero(&ty, &zero, &c.zlen);
	c.zero = zero;
	if (err == 0 && !ty.array)
		fs_group(tb->t, uncreate_group, &c);
	pthread_mutex_unlock(&tb->mu);
	free(zero);
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	bool told;
	int err = 0;

	(void)ino;
	pthread_mutex_lock(&h->mu);
	told = h->reported || h->failed;	/* write(2) or close(2) did */
	if (h->pending)
		err = fh_commit(h);
	fh_uncreate(h);
	pthread_mutex_unlock(&h->mu);
	if (err < 0 && !told)
		fs_log(LOG_WARNING, "table '%s': value lost at close: %s",
		       h->tb->name, shmtab_strerror(err));
	fh_free(h);
	fuse_reply_err(req, 0);
}

/* ftruncate: the handle's buffer, published with the handle's commit. */
int fs_file_truncate(struct fuse_file_info *fi, off_t size, pid_t pid)
{
	struct fh *h = fh_of(fi);
	int err;

	if (!h->writable)
		return -EBADF;
	pthread_mutex_lock(&h->mu);
	err = fh_untail(h);
	if (err == 0)
		err = fh_resize(h, (size_t)size);
	if (err == 0)
		h->whole = true;	/* a truncate sets the whole value */
	if (err == 0) {
		h->pending = true;
		h->armed = true;
		fh_note_writer(h, pid);
		fh_note_size(h);
	}
	pthread_mutex_unlock(&h->mu);
	return err;
}

struct trunc_ctx {
	const void *key;
	size_t klen;
	size_t size;
	struct fs_types ty;
};

static int trunc_group(shmtab *t, void *ctx)
{
	struct trunc_ctx *c = ctx;
	unsigned char *val, *nv;
	size_t vlen;
	int err = fs_value_get(t, &c->ty, c->key, c->klen, (void **)&val,
			       &vlen);

	if (err < 0)
		return err;
	if (vlen == c->size) {
		free(val);
		return 0;
	}
	nv = realloc(val, c->size ? c->size : 1);
	if (!nv) {
		free(val);
		return -ENOMEM;
	}
	if (c->size > vlen)
		memset(nv + vlen, 0, c->size - vlen);
	err = fs_value_put(t, &c->ty, c->key, c->klen, nv, c->size);
	free(nv);
	return err;
}

/* truncate(2) on a path: one read-modify-write in a group. */
int fs_key_truncate(struct fs_table *tb, const void *key, size_t klen,
		    off_t size)
{
	struct trunc_ctx c;
	int err;

	if ((uint64_t)size > SHMTAB_VALUE_MAX)
		return -EFBIG;
	c.key = key;
	c.klen = klen;
	c.size = (size_t)size;
	pthread_mutex_lock(&tb->mu);
	err = tb->t ? fs_types_get(tb->t, &c.ty) : -ENOENT;
	if (err == 0)
		err = fs_group(tb->t, trunc_group, &c);
	pthread_mutex_unlock(&tb->mu);
	return err;
}

struct unlink_ctx {
	const void *key;
	size_t klen;
};

static int unlink_group(shmtab *t, void *ctx)
{
	struct unlink_ctx *c = ctx;
	long long guard = shmtab_length(t) + 1;
	int err = shmtab_mem(t, c->key, c->klen);

	if (err <= 0)
		return err < 0 ? err : -ENOENT;
	while (err > 0 && guard-- > 0) {
		err = shmtab_remove(t, c->key, c->klen);
		if (err == 0)
			err = shmtab_mem(t, c->key, c->klen);
	}
	return err < 0 ? err : 0;
}

/* rm of an array element unsets it: the name stays, with the default */
static int unlink_index(shmtab *t, const void *key, size_t klen)
{
	int64_t i = fs_key_index(key, klen);
	long long n;
	int err;

	if (i < 0)
		return -ENOENT;
	err = shmtab_array_unset(t, i);
	if (err == -EINVAL) {
		n = shmtab_array_length(t);
		err = n < 0 ? (int)n : i >= n ? -ENOENT : err;
	}
	return err;
}

void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	unsigned char key[FS_KEY_CAP];
	struct unlink_ctx c = { key, 0 };
	struct fs_types ty;
	struct fs_table *tb;
	int err = parent_table(parent, &tb, NULL);

	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (fs_state.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&tb->mu);
	err = tb->t ? fs_types_get(tb->t, &ty) : -ENOENT;
	if (err == 0)
		err = fs_name_key(tb, &ty, name, key, sizeof(key), &c.klen);
	if (err == 0 && ty.array)
		err = unlink_index(tb->t, key, c.klen);
	else if (err == 0)
		err = fs_group(tb->t, unlink_group, &c);
	/* the kernel now holds an unlinked inode (an element's name stands
	 * for a new file, of the default value) */
	if (err == 0)
		fs_node_unlinked(tb, key, c.klen);
	pthread_mutex_unlock(&tb->mu);
	fuse_reply_err(req, fs_err(tb, err));
}

struct rename_ctx {
	const void *from, *to;
	size_t flen, tlen;
	unsigned int flags;
	/* cached mode: the source's node, whose pages stay good under the
	 * new name when the value moved is their version (carry), the
	 * change count after the rename */
	struct fs_table *tb;
	struct fs_node *src;
	bool carry;
	uint64_t after;
};

static int rename_group(shmtab *t, void *ctx)
{
	struct rename_ctx *c = ctx;
	struct unlink_ctx u = { c->from, c->flen };
	void *val;
	size_t vlen;
	int err;

	err = shmtab_find(t, c->from, c->flen, &val, &vlen);
	if (err < 0)
		return err;
	if (c->flen == c->tlen && memcmp(c->from, c->to, c->flen) == 0) {
		free(val);
		return 0;
	}
	/* the source's value is read-locked now: its version is the one
	 * moved */
	c->carry = c->src && vstate_sync(c->tb, c->src) == c->src->v.page_ver;
	if (c->flags & RENAME_NOREPLACE) {
		err = shmtab_mem(t, c->to, c->tlen);
		if (err != 0) {
			free(val);
			return err < 0 ? err : -EEXIST;
		}
	}
	err = shmtab_replace(t, c->to, c->tlen, val, vlen);
	free(val);
	if (err == 0)
		err = unlink_group(t, &u);
	c->after = shmtab_counter(t);
	return err;
}

/*
 * Cached mode, after a rename within tb: the source's node, which the
 * kernel keeps under the new name (fs_node_rename), holds pages of the
 * value moved when its version was the pages' (rename_group): they are
 * the new key's value as of the rename, so the node keeps them, and its
 * files, which read them, keep their inode.  Otherwise its versions start
 * again.  Caller holds tb->mu.
 */
static void rename_carry(struct fs_table *tb, struct rename_ctx *c)
{
	struct fs_vstate *v;

	if (!c->carry || !tb->t)
		return;
	v = &c->src->v;
	v->known = true;
	v->lhash = shmtab_key_hash(tb->t, c->to, c->tlen);
	v->seen = v->ver = v->page_ver = c->after;
}

/*
 * mv within an array moves the element: the target takes the source's
 * value (or is unset with it), and the source is unset.  Every index in
 * the length exists, so RENAME_NOREPLACE always meets a target (mv(1)
 * then unlinks, i.e. unsets, the target and renames again).
 */
static int rename_index_group(shmtab *t, void *ctx)
{
	struct rename_ctx *c = ctx;
	int64_t from = fs_key_index(c->from, c->flen);
	int64_t to = fs_key_index(c->to, c->tlen);
	long long n = shmtab_array_length(t);
	void *val;
	size_t vlen;
	int err;

	if (n < 0)
		return (int)n;
	if (from < 0 || from >= n)
		return -ENOENT;
	if (to < 0 || to >= n)
		return -EINVAL;	/* as creating it would be */
	if (from == to)
		return 0;
	if (c->flags & RENAME_NOREPLACE)
		return -EEXIST;
	err = shmtab_find(t, c->from, c->flen, &val, &vlen);
	if (err == -ENOENT) {
		err = shmtab_array_unset(t, to);
	} else if (err == 0) {
		err = shmtab_array_set(t, to, val, vlen);
		free(val);
	}
	return err < 0 ? err : shmtab_array_unset(t, from);
}

struct move_ctx {
	const struct fs_types *ty;
	const void *key;
	size_t klen;
	const void *val;		/* the text moved */
	size_t vlen;
};

/* The source of a move into another table is removed (rm; an element is
 * unset) if it still holds the text moved: a value another process gave
 * it meanwhile stays, as if set after the move. */
static int move_remove_group(shmtab *t, void *ctx)
{
	struct move_ctx *c = ctx;
	struct unlink_ctx u = { c->key, c->klen };
	void *val;
	size_t vlen;
	bool same;
	int err = fs_value_get(t, c->ty, c->key, c->klen, &val, &vlen);

	if (err == 0) {
		same = vlen == c->vlen && (!vlen || !memcmp(val, c->val, vlen));
		free(val);
		if (!same)
			return 0;
		err = c->ty->array ? unlink_index(t, c->key, c->klen) :
				     unlink_group(t, &u);
	}
	return err == -ENOENT ? 0 : err;	/* gone meanwhile: done */
}

/* The source's node follows a move to another table (fs_node_rename),
 * with both tables' mutexes held, taken in address order: a move the
 * opposite way takes them in the same order. */
static void rename_nodes_across(struct fs_table *tb, const void *from,
				size_t flen, struct fs_table *tb2,
				unsigned char *to, size_t tlen)
{
	struct fs_table *first = tb < tb2 ? tb : tb2;
	struct fs_table *second = tb < tb2 ? tb2 : tb;

	pthread_mutex_lock(&first->mu);
	pthread_mutex_lock(&second->mu);
	fs_node_rename(tb, from, flen, tb2, to, tlen);
	pthread_mutex_unlock(&second->mu);
	pthread_mutex_unlock(&first->mu);
}

/*
 * mv from another table onto an element of an array.  mv(1) answers
 * EXDEV by removing the target and creating it again with O_EXCL, which an
 * element never allows (rm unsets it, the name stays), and the element
 * would have lost its value too.  So shmtabfs moves the value itself: the
 * element takes the source's text, parsed as the array's value type, then
 * the source is removed as rm does; into any other table it is EXDEV, and
 * mv copies.  Two tables, two steps, each table's mutex taken alone (two
 * moves the opposite ways must not wait for each other): not atomic, a
 * reader may see the value under both names for a moment.  *errtb: the
 * table an error came from.
 */
static int rename_into_array(struct fs_table *tb, const char *name,
			     unsigned char *from, struct fs_table *tb2,
			     const char *newname, unsigned char *to,
			     unsigned int flags, struct fs_table **errtb)
{
	struct fs_types ty, ty2;
	struct move_ctx c = { &ty, from, 0, NULL, 0 };
	unsigned char *tkey = NULL;
	void *val = NULL;
	size_t tlen = 0;
	int err;

	*errtb = tb2;
	pthread_mutex_lock(&tb2->mu);
	err = tb2->t ? fs_types_get(tb2->t, &ty2) : -ENOENT;
	if (err == 0 && !ty2.array)
		err = -EXDEV;
	else if (err == 0 && fs_state.ro)
		err = -EROFS;
	if (err == 0) {
		err = fs_name_key(tb2, &ty2, newname, to, FS_KEY_CAP, &tlen);
		if (err == -ENOENT)
			err = name_create_err(newname);
	}
	if (err == 0) {
		/* outside the array: as creating it would be */
		err = fs_key_exists(tb2->t, &ty2, to, tlen);
		err = err == 0 ? -EINVAL : err < 0 ? err : 0;
	}
	pthread_mutex_unlock(&tb2->mu);
	if (err == 0) {
		/* before the move: once it is done, nothing may fail */
		tkey = malloc(tlen ? tlen : 1);
		if (!tkey)
			err = -ENOMEM;
		else if (tlen)
			memcpy(tkey, to, tlen);
	}
	if (err < 0)
		return err;

	*errtb = tb;
	pthread_mutex_lock(&tb->mu);
	err = tb->t ? fs_types_get(tb->t, &ty) : -ENOENT;
	if (err == 0)
		err = fs_name_key(tb, &ty, name, from, FS_KEY_CAP, &c.klen);
	if (err == 0)
		err = fs_value_get(tb->t, &ty, from, c.klen, &val, &c.vlen);
	pthread_mutex_unlock(&tb->mu);
	/* every index in the length exists */
	if (err == 0 && (flags & RENAME_NOREPLACE))
		err = -EEXIST;
	if (err < 0)
		goto out;

	*errtb = tb2;
	pthread_mutex_lock(&tb2->mu);
	err = tb2->t ? fs_types_get(tb2->t, &ty2) : -ENOENT;
	if (err == 0 && !ty2.array)
		err = -EXDEV;	/* no longer an array */
	if (err == 0) {
		err = fs_value_put(tb2->t, &ty2, to, tlen, val, c.vlen);
		if (err == -ENOENT)
			err = -EINVAL;	/* the array shrank meanwhile */
	}
	pthread_mutex_unlock(&tb2->mu);
	if (err < 0)
		goto out;

	*errtb = tb;
	c.val = val;
	pthread_mutex_lock(&tb->mu);
	err = tb->t ? fs_types_get(tb->t, &ty) : -ENOENT;
	if (err == 0)
		err = fs_group(tb->t, move_remove_group, &c);
	pthread_mutex_unlock(&tb->mu);
	if (err == 0) {
		/* the element took the value: the kernel moves the dentry */
		rename_nodes_across(tb, from, c.klen, tb2, tkey, tlen);
		tkey = NULL;
	}
out:
	free(tkey);
	free(val);
	return err;
}

void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	unsigned char from[FS_KEY_CAP], to[FS_KEY_CAP];
	struct rename_ctx c = { .from = from, .to = to, .flags = flags };
	struct fs_table *tb, *tb2, *etb;
	unsigned char *tkey = NULL;
	struct fs_types ty;
	int err;

	if (flags & ~(unsigned int)RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (parent == FUSE_ROOT_ID || newparent == FUSE_ROOT_ID) {
		/* tables are not renamed: mv copies them */
		fuse_reply_err(req, EXDEV);
		return;
	}
	err = parent_table(parent, &tb, NULL);
	if (!err)
		err = parent_table(newparent, &tb2, NULL);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (tb != tb2) {
		err = rename_into_array(tb, name, from, tb2, newname, to, flags,
					&etb);
		fuse_reply_err(req, fs_err(etb, err));
		return;
	}
	if (fs_state.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	pthread_mutex_lock(&tb->mu);
	err = tb->t ? fs_types_get(tb->t, &ty) : -ENOENT;
	if (err == 0)
		err = fs_name_key(tb, &ty, name, from, sizeof(from),
				  &c.flen);
	if (err == 0) {
		err = fs_name_key(tb, &ty, newname, to, sizeof(to), &c.tlen);
		if (err == -ENOENT)
			err = name_create_err(newname);
	}
	if (err == 0) {
		/* before the rename: once it is done, nothing may fail */
		tkey = malloc(c.tlen ? c.tlen : 1);
		if (!tkey)
			err = -ENOMEM;
		else if (c.tlen)
			memcpy(tkey, to, c.tlen);
	}
	if (err == 0 && fs_state.cache > 0 && !ty.array) {
		/* the kernel holds the source's inode through the rename */
		fuse_ino_t ino = fs_node_peek(tb, from, c.flen);

		c.tb = tb;
		c.src = ino != FUSE_UNKNOWN_INO ? fs_node_get(ino) : NULL;
		if (c.src && (!c.src->v.known || !c.src->v.paged ||
			      c.src->superseded))
			c.src = NULL;
	}
	if (err == 0)
		err = fs_group(tb->t, ty.array ? rename_index_group :
						 rename_group,
			       &c);
	if (err == 0) {
		fs_node_rename(tb, from, c.flen, tb, tkey, c.tlen);
		tkey = NULL;
		rename_carry(tb, &c);
	}
	pthread_mutex_unlock(&tb->mu);
	free(tkey);
	fuse_reply_err(req, fs_err(tb, err));
}

/* At exit: the files still open (their unpublished writes are dropped, as
 * a kernel that detached the mount could not flush them either). */
void fs_files_free(void)
{
	while (open_fhs)
		fh_free(open_fhs);
	pool_free();
}
