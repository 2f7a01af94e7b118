/* SPDX-License-Identifier: MIT */
/*
 * fs-ops.c - the low-level operations table, the inode map, errors
 *
 * Strict mode: every reply about a key carries zero entry and attribute
 * timeouts, so the kernel asks again on each path walk and stat, and nothing
 * needs to be invalidated when another process changes a table.  Two things
 * are kept a little (fs.h, FS_TABLE_ENTRY_TIMEOUT): the names of table
 * directories, which cannot go wrong because a table directory's inode
 * stands for its name, and the root's own attributes.
 *
 * Errors: the library's negative errno is passed through, except -EBADMSG
 * (a damaged table), which becomes EIO with a log line naming the table; the
 * other tables keep being served.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "fs.h"

struct fs fs_state;

void fs_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (fs_state.foreground) {
		fputs(PACKAGE_PROG ": ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}

void fs_lib_log(int level, const char *msg, void *ctx)
{
	(void)ctx;
	fs_log(level <= LOG_ERR ? LOG_ERR : LOG_WARNING, "%s", msg);
}

/* A positive errno for fuse_reply_err() from a library result. */
int fs_err(struct fs_table *tb, int err)
{
	if (err >= 0)
		return 0;
	if (err == -EBADMSG) {
		if (tb && !tb->damaged_logged) {
			tb->damaged_logged = true;
			fs_log(LOG_ERR, "table '%s' (%s) is damaged: %s",
			       tb->name, tb->libname, shmtab_strerror(err));
		}
		return EIO;
	}
	return -err;
}

/* Caller holds tb->mu and tb->t is open. */
void fs_table_touch(struct fs_table *tb)
{
	uint64_t c = shmtab_counter(tb->t);

	if (c != tb->counter) {
		tb->counter = c;
		clock_gettime(CLOCK_REALTIME, &tb->changed);
	}
}

/* --- the inode map --------------------------------------------------- */

static uint64_t node_hash(const struct fs_table *tb, bool is_dir,
			  const void *key, size_t klen)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ULL ^ (uintptr_t)tb ^ is_dir;
	size_t i;

	for (i = 0; i < klen; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

int fs_nodes_init(void)
{
	struct fs *fs = &fs_state;

	fs->nbuckets = 1024;
	fs->by_ino = calloc(fs->nbuckets, sizeof(*fs->by_ino));
	fs->by_key = calloc(fs->nbuckets, sizeof(*fs->by_key));
	if (!fs->by_ino || !fs->by_key)
		return -ENOMEM;
	fs->next_ino = FUSE_ROOT_ID + 1;
	return pthread_mutex_init(&fs->mu, NULL) ? -ENOMEM : 0;
}

static void nodes_grow(struct fs *fs)
{
	size_t n = fs->nbuckets * 4, i;
	struct fs_node **bi = calloc(n, sizeof(*bi));
	struct fs_node **bk = calloc(n, sizeof(*bk));
	struct fs_node *nd, *next;

	if (!bi || !bk) {
		free(bi);
		free(bk);
		return;		/* longer chains, still correct */
	}
	for (i = 0; i < fs->nbuckets; i++) {
		for (nd = fs->by_ino[i]; nd; nd = next) {
			next = nd->next_ino;
			nd->next_ino = bi[nd->ino % n];
			bi[nd->ino % n] = nd;
		}
		for (nd = fs->by_key[i]; nd; nd = next) {
			next = nd->next_key;
			nd->next_key = bk[nd->khash % n];
			bk[nd->khash % n] = nd;
		}
	}
	free(fs->by_ino);
	free(fs->by_key);
	fs->by_ino = bi;
	fs->by_key = bk;
	fs->nbuckets = n;
}

/* Caller holds fs->mu.  The node of the key, or with superseded one of
 * the nodes of its older versions (fs_node_supersede), which no lookup
 * finds but which renames and removals through the mount reach. */
static struct fs_node *node_find_any(struct fs *fs, struct fs_table *tb,
				     bool is_dir, const void *key, size_t klen,
				     uint64_t h, bool superseded)
{
	struct fs_node *nd;

	for (nd = fs->by_key[h % fs->nbuckets]; nd; nd = nd->next_key)
		if (nd->khash == h && nd->tb == tb && nd->is_dir == is_dir &&
		    nd->superseded == superseded && nd->klen == klen &&
		    (!klen || memcmp(nd->key, key, klen) == 0))
			return nd;
	return NULL;
}

/* Caller holds fs->mu. */
static struct fs_node *node_find_key(struct fs *fs, struct fs_table *tb,
				     bool is_dir, const void *key, size_t klen,
				     uint64_t h)
{
	return node_find_any(fs, tb, is_dir, key, klen, h, false);
}

/* Caller holds fs->mu. */
static void node_unlink_key(struct fs *fs, struct fs_node *nd)
{
	struct fs_node **pp;

	for (pp = &fs->by_key[nd->khash % fs->nbuckets]; *pp != nd;
	     pp = &(*pp)->next_key)
		;
	*pp = nd->next_key;
	nd->next_key = NULL;
}

/* Caller holds fs->mu. */
static struct fs_node *node_find_ino(struct fs *fs, fuse_ino_t ino)
{
	struct fs_node *nd;

	for (nd = fs->by_ino[ino % fs->nbuckets]; nd; nd = nd->next_ino)
		if (nd->ino == ino)
			return nd;
	return NULL;
}

/* Put nd in the by_key chain of its khash.  Caller holds fs->mu. */
static void node_link_key(struct fs *fs, struct fs_node *nd)
{
	nd->next_key = fs->by_key[nd->khash % fs->nbuckets];
	fs->by_key[nd->khash % fs->nbuckets] = nd;
}

/* The node of (tb, key), created if needed, with one more lookup. */
int fs_node_ref(struct fs_table *tb, bool is_dir, const void *key,
		size_t klen, fuse_ino_t *ino)
{
	struct fs *fs = &fs_state;
	uint64_t h = node_hash(tb, is_dir, key, klen);
	struct fs_node *nd;

	pthread_mutex_lock(&fs->mu);
	nd = node_find_key(fs, tb, is_dir, key, klen, h);
	if (!nd) {
		nd = malloc(sizeof(*nd));
		if (nd)
			nd->key = malloc(klen ? klen : 1);
		if (!nd || !nd->key) {
			free(nd);
			pthread_mutex_unlock(&fs->mu);
			return -ENOMEM;
		}
		nd->ino = fs->next_ino++;
		nd->nlookup = 0;
		nd->tb = tb;
		nd->is_dir = is_dir;
		nd->detached = false;
		nd->superseded = false;
		nd->untold = false;
		nd->writers = 0;
		nd->khash = h;
		memset(&nd->v, 0, sizeof(nd->v));
		nd->attr_known = false;
		nd->fsize = 0;
		nd->klen = klen;
		if (klen)
			memcpy(nd->key, key, klen);
		nd->next_ino = fs->by_ino[nd->ino % fs->nbuckets];
		fs->by_ino[nd->ino % fs->nbuckets] = nd;
		node_link_key(fs, nd);
		if (++fs->nnodes > fs->nbuckets * 2)
			nodes_grow(fs);
	}
	nd->nlookup++;
	*ino = nd->ino;
	pthread_mutex_unlock(&fs->mu);
	return 0;
}

/* The inode of a key file the kernel knows, or FUSE_UNKNOWN_INO. */
fuse_ino_t fs_node_peek(struct fs_table *tb, const void *key, size_t klen)
{
	struct fs *fs = &fs_state;
	uint64_t h = node_hash(tb, false, key, klen);
	struct fs_node *nd;
	fuse_ino_t ino;

	pthread_mutex_lock(&fs->mu);
	nd = node_find_key(fs, tb, false, key, klen, h);
	ino = nd ? nd->ino : FUSE_UNKNOWN_INO;
	pthread_mutex_unlock(&fs->mu);
	return ino;
}

/*
 * After a rename of (tb, from) to (tb2, to) succeeded: the kernel has moved
 * its dentry of the source to the target name and kept the inode, and with
 * the cached mode's timeouts it does not ask again.  So the source's node
 * follows, same ino: it now stands for the target key.  The target's node,
 * which the kernel now holds as an unlinked inode (open files only), is
 * detached: it names no key any more, and no lookup finds it.  to is a
 * malloc'd copy the node takes (freed when not used), allocated before the
 * rename so that this cannot fail once the rename is done.  Caller holds
 * the mu of the tables of both (their vstate changes, fs.h); the versions
 * start again, so an open reads the key's value afresh.
 */
void fs_node_rename(struct fs_table *tb, const void *from, size_t flen,
		    struct fs_table *tb2, unsigned char *to, size_t tlen)
{
	struct fs *fs = &fs_state;
	uint64_t hf = node_hash(tb, false, from, flen);
	uint64_t ht = node_hash(tb2, false, to, tlen);
	struct fs_node *src, *dst, *nd;
	unsigned char *key;

	pthread_mutex_lock(&fs->mu);
	src = node_find_key(fs, tb, false, from, flen, hf);
	dst = node_find_key(fs, tb2, false, to, tlen, ht);
	if (tb == tb2 && flen == tlen && (!flen || !memcmp(from, to, flen)))
		goto out;	/* the same key: nothing moved */
	if (dst) {
		node_unlink_key(fs, dst);
		dst->detached = true;
	}
	/* the inodes of the target's older versions go with it; those of
	 * the source's follow it, as their writers must (the kernel may
	 * have moved one of them: a name it still held) */
	while ((nd = node_find_any(fs, tb2, false, to, tlen, ht, true))) {
		node_unlink_key(fs, nd);
		nd->detached = true;
	}
	while ((nd = node_find_any(fs, tb, false, from, flen, hf, true))) {
		node_unlink_key(fs, nd);
		key = malloc(tlen ? tlen : 1);
		if (!key) {
			nd->detached = true;	/* as if removed */
			continue;
		}
		if (tlen)
			memcpy(key, to, tlen);
		free(nd->key);
		nd->key = key;
		nd->klen = tlen;
		nd->tb = tb2;
		nd->khash = ht;
		node_link_key(fs, nd);
	}
	if (!src)
		goto out;
	node_unlink_key(fs, src);
	free(src->key);
	src->key = to;
	to = NULL;
	src->klen = tlen;
	src->tb = tb2;
	src->khash = ht;
	src->v.known = false;
	node_link_key(fs, src);
out:
	pthread_mutex_unlock(&fs->mu);
	free(to);
}

/*
 * After (tb, key) was removed through the mount (rm; an array's element
 * unset): its node, if the kernel knows it, is detached, as the kernel
 * now holds an unlinked inode (open files only); a later lookup of the
 * name makes a new node.  Caller holds tb->mu.
 */
void fs_node_unlinked(struct fs_table *tb, const void *key, size_t klen)
{
	struct fs *fs = &fs_state;
	uint64_t h = node_hash(tb, false, key, klen);
	struct fs_node *nd;

	pthread_mutex_lock(&fs->mu);
	nd = node_find_key(fs, tb, false, key, klen, h);
	if (nd) {
		node_unlink_key(fs, nd);
		nd->detached = true;
	}
	/* and the inodes of its older versions (fs_node_supersede) */
	while ((nd = node_find_any(fs, tb, false, key, klen, h, true))) {
		node_unlink_key(fs, nd);
		nd->detached = true;
	}
	pthread_mutex_unlock(&fs->mu);
}

/* Caller holds nd's tb->mu and fs->mu (nd stays in the by-key map, for
 * fs_node_rename and fs_node_unlinked; lookups pass it by).  told: the
 * caller is the watcher, which drops the name's entry in the kernel; else
 * it is asked to. */
static bool node_supersede(struct fs_node *nd, bool told)
{
	if (nd->superseded)
		return true;
	if (nd->is_dir || nd->detached ||
	    __atomic_load_n(&nd->writers, __ATOMIC_ACQUIRE))
		return false;
	nd->superseded = true;	/* stays in by_key for renames */
	nd->asize = nd->v.page_len;
	if (!told) {
		/* the watcher may have seen the change already (a writable
		 * file held the inode then): the kernel's entry of the name
		 * would stay with this inode for the cache time */
		nd->untold = true;
		__atomic_store_n(&nd->tb->untold, true, __ATOMIC_RELEASE);
	}
	return true;
}

/*
 * Cached mode: files read an older version of nd's key through the page
 * cache, and the kernel keeps one size and one page cache per inode.  Had
 * it learnt the new size, a file of the old version would read past its
 * end (zeros: the kernel takes a short read as the end of a file only when
 * its attributes did not change meanwhile) or stop short of it.  So the
 * inode stays the old version's, as a file's inode stays with the files
 * open on it when a new file is renamed over its name: its attributes say
 * that version's length from now on (fs_node_attr_detached), and no lookup
 * finds it: the name gets a new node (the watcher drops the kernel's entry
 * of it).  It still stands for its key, but a new open of it fails with
 * ESTALE (the kernel then looks a path up again and opens the name's new
 * inode; a reopen through /proc fails): a writer's replies would give the
 * kernel its new size.  A file that was created on it as it was
 * superseded publishes to the key, and a rename or removal of the key
 * through the mount moves or detaches it with the key's node
 * (fs_node_rename, fs_node_unlinked).  Not when a writable file of it is
 * open: then the kernel is told the new size as before.  True when nd is
 * superseded, now or before.  Caller holds nd's tb->mu.
 */
bool fs_node_supersede(struct fs_node *nd)
{
	bool r;

	pthread_mutex_lock(&fs_state.mu);
	r = node_supersede(nd, false);
	pthread_mutex_unlock(&fs_state.mu);
	return r;
}

/* The same for the key node ino of tb, which may have been forgotten
 * (the watcher holds no file of it): false then.  Caller holds tb->mu. */
bool fs_node_supersede_ino(struct fs_table *tb, fuse_ino_t ino)
{
	struct fs_node *nd;
	bool r = false;

	pthread_mutex_lock(&fs_state.mu);
	nd = node_find_ino(&fs_state, ino);
	if (nd && nd->tb == tb)
		r = node_supersede(nd, true);
	pthread_mutex_unlock(&fs_state.mu);
	return r;
}

/*
 * Take the mu of the table key node nd is in now: 0, *tb set and its mu
 * held, and then nd->tb and nd->key stay what they are until the caller
 * lets go of it; -ENOENT when nd is detached (nothing held: detached is
 * for good).  A move to another table changes nd->tb with both tables'
 * mu held (rename_nodes_across), so the table is checked again once its
 * mu is taken.
 */
int fs_node_lock(struct fs_node *nd, struct fs_table **tb)
{
	struct fs *fs = &fs_state;
	struct fs_table *t;
	bool detached;

	for (;;) {
		pthread_mutex_lock(&fs->mu);
		t = nd->tb;
		pthread_mutex_unlock(&fs->mu);
		pthread_mutex_lock(&t->mu);
		pthread_mutex_lock(&fs->mu);
		if (nd->tb == t)
			break;
		pthread_mutex_unlock(&fs->mu);
		pthread_mutex_unlock(&t->mu);
	}
	detached = nd->detached;
	pthread_mutex_unlock(&fs->mu);
	if (detached) {
		pthread_mutex_unlock(&t->mu);
		return -ENOENT;
	}
	*tb = t;
	return 0;
}

/* True when nd is a key of tb (not detached, not renamed to another
 * table); once true, it stays so while the caller holds tb->mu. */
bool fs_node_in(struct fs_node *nd, struct fs_table *tb)
{
	bool in;

	pthread_mutex_lock(&fs_state.mu);
	in = nd->tb == tb && !nd->detached;
	pthread_mutex_unlock(&fs_state.mu);
	return in;
}

/* The attributes of key file ino as given to the kernel, kept for when
 * its node is detached. */
void fs_node_note_attr(fuse_ino_t ino, const struct stat *st)
{
	struct fs_node *nd;

	pthread_mutex_lock(&fs_state.mu);
	nd = node_find_ino(&fs_state, ino);
	if (nd && !nd->is_dir && !nd->detached && !nd->superseded) {
		nd->attr_known = true;
		nd->mode = st->st_mode;
		nd->uid = st->st_uid;
		nd->gid = st->st_gid;
		nd->mtim = st->st_mtim;
		nd->ctim = st->st_ctim;
		nd->asize = (uint64_t)st->st_size;
	}
	pthread_mutex_unlock(&fs_state.mu);
}

/* An open file of nd was opened, written or truncated: size is the length
 * of what it holds. */
void fs_node_note_size(struct fs_node *nd, size_t size)
{
	__atomic_store_n(&nd->fsize, (uint64_t)size + 1, __ATOMIC_RELAXED);
}

/*
 * The attributes of a detached key node, for fstat(2) of an open file of
 * a key removed or replaced through the mount (the kernel asks by inode,
 * without the file): the mode, owner and times last given the kernel,
 * st_nlink 0, and as size the length of the open file of it that was
 * opened, written or truncated last (else the size last given).  With
 * any, of any key node: one whose key (or table) went behind the mount
 * while a file of it is open.  0, or -ENOENT when ino is no such node.
 */
int fs_node_attr_detached(fuse_ino_t ino, bool any, struct stat *st)
{
	struct fs_node *nd;
	uint64_t size;
	int err = -ENOENT;

	pthread_mutex_lock(&fs_state.mu);
	nd = node_find_ino(&fs_state, ino);
	if (nd && !nd->is_dir && (nd->detached || nd->superseded || any) &&
	    nd->attr_known) {
		size = __atomic_load_n(&nd->fsize, __ATOMIC_RELAXED);
		size = size && !nd->superseded ? size - 1 : nd->asize;
		memset(st, 0, sizeof(*st));
		st->st_ino = ino;
		st->st_mode = nd->mode;
		st->st_uid = nd->uid;
		st->st_gid = nd->gid;
		st->st_nlink = 0;
		st->st_size = (off_t)size;
		st->st_blocks = (blkcnt_t)((size + 511) / 512);
		st->st_blksize = 4096;
		st->st_atim = nd->mtim;
		st->st_mtim = nd->mtim;
		st->st_ctim = nd->ctim;
		err = 0;
	}
	pthread_mutex_unlock(&fs_state.mu);
	return err;
}

/* The node of ino, or NULL.  The pointer stays valid while the kernel
 * holds the inode, e.g. from OPEN to RELEASE of a file of it. */
struct fs_node *fs_node_get(fuse_ino_t ino)
{
	struct fs_node *nd;

	pthread_mutex_lock(&fs_state.mu);
	nd = node_find_ino(&fs_state, ino);
	pthread_mutex_unlock(&fs_state.mu);
	return nd;
}

void fs_node_forget(fuse_ino_t ino, uint64_t n)
{
	struct fs *fs = &fs_state;
	struct fs_node *nd, **pp;

	pthread_mutex_lock(&fs->mu);
	nd = node_find_ino(fs, ino);
	if (!nd)
		goto out;
	nd->nlookup = nd->nlookup > n ? nd->nlookup - n : 0;
	if (nd->nlookup)
		goto out;
	for (pp = &fs->by_ino[ino % fs->nbuckets]; *pp != nd;
	     pp = &(*pp)->next_ino)
		;
	*pp = nd->next_ino;
	if (!nd->detached)
		node_unlink_key(fs, nd);
	fs->nnodes--;
	free(nd->key);
	free(nd);
out:
	pthread_mutex_unlock(&fs->mu);
}

/* At exit, when no request runs any more. */
void fs_nodes_free(void)
{
	struct fs *fs = &fs_state;
	struct fs_node *nd, *next;
	size_t i;

	for (i = 0; i < fs->nbuckets; i++)
		for (nd = fs->by_ino[i]; nd; nd = next) {
			next = nd->next_ino;
			free(nd->key);
			free(nd);
		}
	free(fs->by_ino);
	free(fs->by_key);
	fs->by_ino = fs->by_key = NULL;
	fs->nbuckets = fs->nnodes = 0;
}

/*
 * What an inode stands for: the root (tb NULL), a table directory (the live
 * table of its name; -ENOENT when there is none any more), or a key (a
 * malloc'd copy in *key, caller frees; never NULL for a key).  obj (or
 * NULL): for a table directory, the table's object as the check saw it.
 */
int fs_resolve_obj(fuse_ino_t ino, struct fs_table **tb, void **key,
		   size_t *klen, bool *is_dir, struct fs_obj *obj)
{
	struct fs *fs = &fs_state;
	struct fs_node *nd;
	int err;

	*tb = NULL;
	*key = NULL;
	*klen = 0;
	*is_dir = true;
	if (ino == FUSE_ROOT_ID)
		return 0;
	pthread_mutex_lock(&fs->mu);
	nd = node_find_ino(fs, ino);
	if (!nd) {
		pthread_mutex_unlock(&fs->mu);
		return -ESTALE;
	}
	*tb = nd->tb;
	*is_dir = nd->is_dir;
	if (nd->is_dir) {
		pthread_mutex_unlock(&fs->mu);
		/* a table directory stands for its name: the table called
		 * so now, also when it was replaced behind the mount while
		 * the kernel kept the entry (see FS_TABLE_ENTRY_TIMEOUT) */
		err = fs_table_get_obj((*tb)->name, tb, obj);
		if (err < 0)
			*tb = NULL;
		return err;
	}
	if (nd->detached) {
		/* a rename's target: gone, as after an unlink */
		pthread_mutex_unlock(&fs->mu);
		return -ENOENT;
	}
	*key = malloc(nd->klen ? nd->klen : 1);
	if (!*key) {
		pthread_mutex_unlock(&fs->mu);
		return -ENOMEM;
	}
	memcpy(*key, nd->key, nd->klen);
	*klen = nd->klen;
	pthread_mutex_unlock(&fs->mu);
	return 0;
}

int fs_resolve(fuse_ino_t ino, struct fs_table **tb, void **key, size_t *klen,
	       bool *is_dir)
{
	return fs_resolve_obj(ino, tb, key, klen, is_dir, NULL);
}

/* --- operations dispatched by inode kind ----------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Whole-value writes need O_TRUNC inside OPEN; the kernel must never
	 * own sizes or buffer writes. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->want &= ~FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

/* The directory ino (root: *tb NULL, or a table); 0, or the error has
 * been replied. */
static int dir_resolve(fuse_req_t req, fuse_ino_t ino, struct fs_table **tb,
		       struct fs_obj *obj)
{
	void *key;
	size_t klen;
	bool is_dir;
	int err = fs_resolve_obj(ino, tb, &key, &klen, &is_dir, obj);

	if (err < 0) {
		fuse_reply_err(req, -err);
		return err;
	}
	free(key);
	if (!is_dir) {
		fuse_reply_err(req, ENOTDIR);
		return -ENOTDIR;
	}
	return 0;
}

/* --- interrupted requests ---------------------------------------------
 *
 * A process whose request waits for a table lock another process holds
 * gets a signal: the kernel sends FUSE_INTERRUPT, and until the request is
 * answered the process cannot even be killed (the kernel waits
 * uninterruptibly for a request the daemon has read).  Every operation
 * that may wait for a table lock goes through a wrapper below, which asks
 * libfuse to set its thread's req_intr when the request is interrupted;
 * fs_interrupted() (shmtabfs.c) hands that to the library, which gives up
 * the wait: the request fails with EINTR.  (With -s the one thread waits
 * and nobody reads the FUSE_INTERRUPT.)
 */
static __thread int req_intr;

static void req_interrupt(fuse_req_t req, void *data)
{
	(void)req;
	__atomic_store_n((int *)data, 1, __ATOMIC_RELEASE);
}

static void req_watch(fuse_req_t req)
{
	__atomic_store_n(&req_intr, 0, __ATOMIC_RELEASE);
	fuse_req_interrupt_func(req, req_interrupt, &req_intr);
}

/* Whether the request this thread serves was interrupted. */
bool fs_req_interrupted(void)
{
	return __atomic_load_n(&req_intr, __ATOMIC_ACQUIRE);
}

/* (after fn the thread serves no request: a late interrupt is moot) */
#define WATCHED(fn, params, args)                                             \
	static void watched_##fn params                                       \
	{                                                                     \
		req_watch(req);                                               \
		fn args;                                                      \
		__atomic_store_n(&req_intr, 0, __ATOMIC_RELEASE);             \
	}

WATCHED(fs_getattr, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	(req, ino, fi))

WATCHED(fs_setattr, (fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		  int to_set, struct fuse_file_info *fi),
	(req, ino, attr, to_set, fi))

WATCHED(fs_mkdir, (fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode),
	(req, parent, name, mode))

WATCHED(fs_unlink, (fuse_req_t req, fuse_ino_t parent, const char *name),
	(req, parent, name))

WATCHED(fs_rmdir, (fuse_req_t req, fuse_ino_t parent, const char *name),
	(req, parent, name))

WATCHED(fs_rename, (fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname,
		  unsigned int flags),
	(req, parent, name, newparent, newname, flags))

WATCHED(fs_open, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	(req, ino, fi))

WATCHED(fs_create, (fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi),
	(req, parent, name, mode, fi))

WATCHED(fs_read, (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi),
	(req, ino, size, off, fi))

WATCHED(fs_write, (fuse_req_t req, fuse_ino_t ino, const char *buf,
		  size_t size, off_t off, struct fuse_file_info *fi),
	(req, ino, buf, size, off, fi))

WATCHED(fs_flush, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	(req, ino, fi))

/* the kernel does not interrupt a release; watched so that its thread's
 * req_intr starts clear */
WATCHED(fs_release, (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi),
	(req, ino, fi))

WATCHED(fs_fsync, (fuse_req_t req, fuse_ino_t ino, int datasync,
		  struct fuse_file_info *fi),
	(req, ino, datasync, fi))

WATCHED(fs_readdir, (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi),
	(req, ino, size, off, fi))

WATCHED(fs_statfs, (fuse_req_t req, fuse_ino_t ino),
	(req, ino))

WATCHED(fs_setxattr, (fuse_req_t req, fuse_ino_t ino, const char *name,
		  const char *value, size_t size, int flags),
	(req, ino, name, value, size, flags))

WATCHED(fs_getxattr, (fuse_req_t req, fuse_ino_t ino, const char *name,
		  size_t size),
	(req, ino, name, size))

WATCHED(fs_listxattr, (fuse_req_t req, fuse_ino_t ino, size_t size),
	(req, ino, size))

WATCHED(fs_removexattr, (fuse_req_t req, fuse_ino_t ino, const char *name),
	(req, ino, name))

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_obj obj = { false };
	struct fs_table *tb;

	req_watch(req);
	if (dir_resolve(req, parent, &tb, &obj))
		return;
	if (!tb)
		fs_root_lookup(req, name);
	else
		fs_key_lookup(req, tb, name, &obj);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_node_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	size_t i;

	for (i = 0; i < count; i++)
		fs_node_forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_table *tb;

	req_watch(req);
	if (dir_resolve(req, ino, &tb, NULL))
		return;
	if (!tb)
		fs_root_readdir_open(req, fi);
	else
		fs_table_readdir_open(req, tb, fi);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	fuse_reply_err(req, EPERM);
}

/* FIFOs, devices, sockets: a key is made by open(2) with O_CREAT only. */
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	fuse_reply_err(req, EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EPERM);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = watched_fs_getattr,
	.setattr = watched_fs_setattr,
	.mknod = op_mknod,
	.mkdir = watched_fs_mkdir,
	.unlink = watched_fs_unlink,
	.rmdir = watched_fs_rmdir,
	.symlink = op_symlink,
	.link = op_link,
	.rename = watched_fs_rename,
	.open = watched_fs_open,
	.create = watched_fs_create,
	.read = watched_fs_read,
	.write = watched_fs_write,
	.flush = watched_fs_flush,
	.fsync = watched_fs_fsync,
	.release = watched_fs_release,
	.opendir = op_opendir,
	.readdir = watched_fs_readdir,
	.releasedir = fs_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = watched_fs_statfs,
	.setxattr = watched_fs_setxattr,
	.getxattr = watched_fs_getxattr,
	.listxattr = watched_fs_listxattr,
	.removexattr = watched_fs_removexattr,
};
