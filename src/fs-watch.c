/* SPDX-License-Identifier: MIT */
/*
 * fs-watch.c - the cached mode's watcher thread (-o cache=SECONDS)
 *
 * In the cached mode the kernel keeps key names (entries), key attributes
 * and table listings for SECONDS instead of asking the daemon each time,
 * and values in its page cache.  Every open checks the change feed for its
 * key (fs-file.c), so content is never stale; what can be stale is a size,
 * the existence of a name, or a listing, until this thread has told the
 * kernel.  How far it has (tb->inval_upto) decides whether an open may
 * read through the page cache: only when the size the kernel holds is the
 * current one.
 *
 * The thread polls every table's change counter (shmtab_counter) every
 * WATCH_POLL_MS milliseconds.  When it moved, it reads the hashes of the
 * changed keys (shmtab_changes), finds the key inodes the kernel knows whose
 * key has one of those hashes, and
 *  - for a key that still exists: fuse_lowlevel_notify_inval_inode (size
 *    and times are asked again), unless files read an older version of it
 *    through the page cache: then the inode stays theirs, and the name's
 *    entry is dropped instead, so that a lookup makes a new inode
 *    (fs_node_supersede); so is the name of a node a request superseded
 *    (the thread may have seen the change while a writable file kept
 *    the inode the key's), at the next round;
 *  - for a key that is gone: fuse_lowlevel_notify_inval_entry (the name is
 *    looked up again, and is not found);
 *  - for the table directory: inval_inode (the cached listing is dropped).
 * When the change ring overflowed (-EOVERFLOW), or a change that is not one
 * key's (hash 0: an array's length or the schema, which change every
 * element's existence or text) is among them, every inode of the table is
 * invalidated; an array element is gone when it is outside the length.
 * The daemon's own changes go through the same path.
 *
 * On request from request handlers it also invalidates every key of a
 * table (fs_watch_resync: a size the kernel took from a file of an older
 * version) and drops an inode's cached pages (fs_watch_drop: pages of an
 * older version no file reads any more).
 *
 * Rules from libfuse: notifications are sent from this thread only, never
 * from a request handler, and with no lock held.  A table whose handle is
 * busy (a request waits for another process's lock) is skipped for one
 * round rather than waited for.  Root entries and table directories' own
 * attributes are cached too; the feed says nothing about them, so the
 * thread also stats each table's object: a table removed or replaced behind
 * the mount loses its root entry, and a change of owner or mode refreshes
 * every inode of the table.  New tables need nothing (no negative entries
 * are cached, the root's listing is not cached).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "escape.h"
#include "fs.h"

#define WATCH_POLL_MS 5

struct watch_target {
	fuse_ino_t ino;
	bool gone;			/* the name is dropped... */
	bool kept;			/* ...and the inode left as it is */
	char name[256];
};

struct watch_batch {
	struct watch_target *v;
	size_t n, cap;
	fuse_ino_t dir_ino;
};

static pthread_t watch_thread;
static volatile int watch_stop;

/* Inodes whose cached pages are to be dropped (fs_watch_drop); requests
 * are numbered, and done holds the last one done. */
static struct {
	pthread_mutex_t mu;
	fuse_ino_t *ino;
	size_t n, cap;
	uint64_t asked, done;
} drops = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int batch_add(struct watch_batch *b, fuse_ino_t ino, bool gone,
		     bool kept, const struct fs_types *ty, const void *key,
		     size_t klen)
{
	struct watch_target *v;

	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		v = realloc(b->v, b->cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		b->v = v;
	}
	v = &b->v[b->n];
	v->ino = ino;
	v->gone = gone || kept;
	v->kept = kept;
	if (v->gone && fs_key_name(ty, key, klen, v->name, sizeof(v->name)) < 0)
		return 0;	/* no name: the kernel cannot know it */
	b->n++;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* What to tell the kernel about tb: 1, 0 when nothing changed, -EBUSY;
 * *upto: the change count read up to (when not -EBUSY).  all: every key,
 * e.g. the object's owner or mode changed, which every key shows. */
static int watch_collect(struct fs_table *tb, struct watch_batch *b, bool all,
			 uint64_t *upto)
{
	static uint64_t hashes[SHMTAB_FEED_SIZE];
	struct fs_types ty;
	struct fs_node **nodes = NULL;
	size_t nn = 0, cap = 0, i;
	struct fs_node *nd, **tmp;
	uint64_t h;
	bool untold;
	int n = 0;

	if (pthread_mutex_trylock(&tb->mu) != 0)
		return -EBUSY;
	*upto = tb->feed_since;
	/* names of nodes requests superseded (fs_node_supersede): no
	 * request sets it while tb->mu is held */
	untold = __atomic_load_n(&tb->untold, __ATOMIC_ACQUIRE);
	if (!tb->t || (!all && !untold &&
		       shmtab_counter(tb->t) == tb->feed_since)) {
		pthread_mutex_unlock(&tb->mu);
		return 0;
	}
	if (shmtab_counter(tb->t) != tb->feed_since)
		n = shmtab_changes(tb->t, &tb->feed_since, hashes,
				   SHMTAB_FEED_SIZE);
	if (n == -EOVERFLOW) {
		all = true;
		n = 0;
	}
	if (n < 0 || fs_types_get(tb->t, &ty) < 0) {
		/* changes read and not told: every key next round */
		if (n >= 0)
			fs_watch_resync(tb);
		pthread_mutex_unlock(&tb->mu);
		return -EBUSY;
	}
	*upto = tb->feed_since;
	if (!all) {
		qsort(hashes, (size_t)n, sizeof(hashes[0]), cmp_u64);
		if (n > 0 && hashes[0] == 0)
			all = true;	/* a length or the schema */
	}

	/* the table's nodes; they stay valid while the kernel holds them,
	 * and the keys are only read under fs->mu */
	__atomic_store_n(&tb->untold, false, __ATOMIC_RELEASE);
	pthread_mutex_lock(&fs_state.mu);
	for (i = 0; i < fs_state.nbuckets; i++)
		for (nd = fs_state.by_ino[i]; nd; nd = nd->next_ino) {
			/* a detached node has no name to tell of; the one
			 * a rename re-keyed is checked under its new key */
			if (nd->tb != tb || nd->detached)
				continue;
			if (nd->is_dir) {
				b->dir_ino = nd->ino;
				continue;
			}
			if (nn == cap) {
				cap = cap ? cap * 2 : 64;
				tmp = realloc(nodes, cap * sizeof(*nodes));
				if (!tmp) {
					all = true;
					goto skip;
				}
				nodes = tmp;
			}
			/* a private copy: the node may be forgotten, or
			 * renamed */
			tmp = &nodes[nn];
			*tmp = malloc(sizeof(**tmp) + nd->klen);
			if (!*tmp)
				goto skip;
			**tmp = *nd;
			nd->untold = false;	/* told below */
			(*tmp)->key = (unsigned char *)(*tmp + 1);
			if (nd->klen)
				memcpy((*tmp)->key, nd->key, nd->klen);
			nn++;
			continue;
skip:
			/* not told this round: next round */
			if (nd->untold)
				__atomic_store_n(&tb->untold, true,
						 __ATOMIC_RELEASE);
		}
	pthread_mutex_unlock(&fs_state.mu);

	for (i = 0; i < nn; i++) {
		nd = nodes[i];
		h = shmtab_key_hash(tb->t, nd->key, nd->klen);
		if (!all && !(nd->superseded && nd->untold) &&
		    !bsearch(&h, hashes, (size_t)n, sizeof(h), cmp_u64)) {
			free(nd);
			continue;
		}
		/* files read an older version through the page cache:
		 * the inode stays theirs, the name gets a new one
		 * (fs_node_supersede) */
		if (nd->superseded ||
		    (__atomic_load_n(&nd->v.readers, __ATOMIC_ACQUIRE) &&
		     fs_key_moved_on(tb, nd) &&
		     fs_node_supersede_ino(tb, nd->ino)))
			batch_add(b, nd->ino, false, true, &ty, nd->key,
				  nd->klen);
		else
			batch_add(b, nd->ino,
				  fs_key_exists(tb->t, &ty, nd->key,
						nd->klen) != 1,
				  false, &ty, nd->key, nd->klen);
		free(nd);
	}
	free(nodes);
	pthread_mutex_unlock(&tb->mu);
	return 1;
}

/*
 * The table's object: removed or replaced behind the mount (the name is
 * dropped from the root), or its owner or mode changed (every inode of the
 * table is refreshed).  Only this thread touches tb->seen.
 */
static bool watch_object(struct fs_table *tb, struct stat *seen)
{
	struct stat st;
	bool gone = stat(tb->objpath, &st) != 0 || st.st_dev != tb->dev ||
		    st.st_ino != tb->ino;

	if (gone) {
		if (!tb->seen_gone)
			fuse_lowlevel_notify_inval_entry(fs_state.se,
							 FUSE_ROOT_ID, tb->name,
							 strlen(tb->name));
		tb->seen_gone = true;
		return false;
	}
	*seen = st;
	return st.st_mode != tb->seen.st_mode || st.st_uid != tb->seen.st_uid ||
	       st.st_gid != tb->seen.st_gid;
}

static void watch_table(struct fs_table *tb)
{
	struct watch_batch b = { NULL, 0, 0, 0 };
	struct fuse_session *se = fs_state.se;
	struct stat seen;
	bool changed = watch_object(tb, &seen);
	uint64_t want = __atomic_load_n(&tb->resync_want, __ATOMIC_ACQUIRE);
	bool resync = want !=
		      __atomic_load_n(&tb->resync_done, __ATOMIC_ACQUIRE);
	uint64_t upto = 0;
	size_t i;
	int r = watch_collect(tb, &b, changed || resync, &upto);

	if (r >= 0 && changed)
		tb->seen = seen;	/* else: again next round */
	if (r < 0)
		return;
	if (r == 0)
		goto out;
	for (i = 0; i < b.n; i++) {
		if (b.v[i].gone && b.dir_ino)
			fuse_lowlevel_notify_inval_entry(se, b.dir_ino,
							 b.v[i].name,
							 strlen(b.v[i].name));
		else if (!b.v[i].kept)
			fuse_lowlevel_notify_inval_inode(se, b.v[i].ino, 0, 0);
	}
	if (b.dir_ino)
		fuse_lowlevel_notify_inval_inode(se, b.dir_ino, 0, 0);
	free(b.v);
out:
	/* the kernel has forgotten what these changes made stale */
	__atomic_store_n(&tb->inval_upto, upto, __ATOMIC_RELEASE);
	if (resync)
		__atomic_store_n(&tb->resync_done, want, __ATOMIC_RELEASE);
}

/* Ask the watcher to invalidate every key of tb the kernel knows, at its
 * next round (from a request handler, which must not notify). */
void fs_watch_resync(struct fs_table *tb)
{
	__atomic_add_fetch(&tb->resync_want, 1, __ATOMIC_ACQ_REL);
}

/* True when the kernel holds nothing stale of tb's changes up to count
 * ver, nor anything a resync was asked for. */
bool fs_watch_settled(struct fs_table *tb, uint64_t ver)
{
	return __atomic_load_n(&tb->resync_want, __ATOMIC_ACQUIRE) ==
		       __atomic_load_n(&tb->resync_done, __ATOMIC_ACQUIRE) &&
	       ver <= __atomic_load_n(&tb->inval_upto, __ATOMIC_ACQUIRE);
}

/* Drop the pages of the inodes fs_watch_drop() named. */
static void watch_drops(void)
{
	fuse_ino_t *v;
	uint64_t asked;
	size_t n, i;

	pthread_mutex_lock(&drops.mu);
	v = drops.ino;
	n = drops.n;
	asked = drops.asked;
	drops.ino = NULL;
	drops.n = drops.cap = 0;
	pthread_mutex_unlock(&drops.mu);
	for (i = 0; i < n; i++)
		fuse_lowlevel_notify_inval_inode(fs_state.se, v[i], 0, 0);
	free(v);
	__atomic_store_n(&drops.done, asked, __ATOMIC_RELEASE);
}

/*
 * Ask the watcher to make the kernel drop the cached pages of ino (a
 * request handler must not: the kernel may hold a page lock of the inode
 * for the request).  Returns the request's number for fs_watch_dropped(),
 * or 0 when it could not be asked (no memory).
 */
uint64_t fs_watch_drop(fuse_ino_t ino)
{
	fuse_ino_t *v;
	uint64_t r = 0;

	pthread_mutex_lock(&drops.mu);
	if (drops.n == drops.cap) {
		drops.cap = drops.cap ? drops.cap * 2 : 16;
		v = realloc(drops.ino, drops.cap * sizeof(*v));
		if (!v) {
			drops.cap = drops.n;
			goto out;
		}
		drops.ino = v;
	}
	drops.ino[drops.n++] = ino;
	r = ++drops.asked;
out:
	pthread_mutex_unlock(&drops.mu);
	return r;
}

/* True once the drop numbered r is done. */
bool fs_watch_dropped(uint64_t r)
{
	return r && __atomic_load_n(&drops.done, __ATOMIC_ACQUIRE) >= r;
}

static void *watch_main(void *arg)
{
	struct fs_table **list = NULL, *tb, **tmp;
	size_t n, cap = 0, i;

	(void)arg;
	while (!watch_stop) {
		n = 0;
		pthread_mutex_lock(&fs_state.mu);
		for (tb = fs_state.tables; tb; tb = tb->next) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				tmp = realloc(list, cap * sizeof(*list));
				if (!tmp)
					break;
				list = tmp;
			}
			list[n++] = tb;	/* structs are never freed */
		}
		pthread_mutex_unlock(&fs_state.mu);
		for (i = 0; i < n && !watch_stop; i++)
			watch_table(list[i]);
		watch_drops();
		usleep(WATCH_POLL_MS * 1000);
	}
	free(list);
	pthread_mutex_lock(&drops.mu);
	free(drops.ino);
	drops.ino = NULL;
	drops.n = drops.cap = 0;
	pthread_mutex_unlock(&drops.mu);
	return NULL;
}

int fs_watch_start(void)
{
	int err = pthread_create(&watch_thread, NULL, watch_main, NULL);

	if (err) {
		fs_log(LOG_ERR, "cannot start the watcher thread: %s",
		       strerror(err));
		return -err;
	}
	fs_state.watching = true;
	return 0;
}

void fs_watch_stop(void)
{
	if (!fs_state.watching)
		return;
	watch_stop = 1;
	pthread_join(watch_thread, NULL);
	fs_state.watching = false;
}
