/* SPDX-License-Identifier: MIT */
/*
 * fs-dir.c - the root (one directory per table) and the table directories
 *
 * Tables are found by name: SOURCE/NAME for a directory SOURCE, the POSIX
 * object /PREFIXNAME for posix:PREFIX.  A candidate is a table when it is a
 * non-empty regular file that the library opens; anything else is skipped
 * (an empty file is never opened: the library would make it a table when
 * opened read-write).  Each table's handle stays open; it is
 * replaced when the object on disk is no longer the one opened (removed or
 * recreated behind the mount).
 *
 * A candidate that the library does not open but that begins with the
 * table magic (a damaged header), or that the daemon cannot read at all, is
 * a broken table: listed in the root, EIO to every lookup, one log line.
 * It keeps its struct (t NULL, open_err set) until the object changes, and
 * is then tried again.
 *
 * A directory listing is a snapshot taken at opendir: the root's tables, or
 * a table's key names (escaped; in a typed table the keys' texts, see
 * fs-typed.c).  An array's listing is not a walk of the table: the length
 * is read at opendir, and the names after "." and ".." are made from the
 * directory offset, offset 2 + i being index i, so that `ls` of an array
 * lists 0, 1, ... in numeric order.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "escape.h"
#include "fs.h"

int fs_table_name_ok(const char *name)
{
	struct fs *fs = &fs_state;
	size_t len = strlen(name);

	if (!len || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return -EINVAL;
	if (len + strlen(fs->prefix) > 255)
		return -ENAMETOOLONG;
	return 0;
}

static int table_paths(const char *name, char **libname, char **objpath)
{
	struct fs *fs = &fs_state;
	int n;

	*libname = NULL;
	*objpath = NULL;
	if (fs->source == FS_SOURCE_DIR) {
		n = asprintf(objpath, "%s/%s", fs->srcdir, name);
		if (n >= 0)
			n = asprintf(libname, "file:%s", *objpath);
	} else {
		n = asprintf(objpath, "/dev/shm/%s%s", fs->prefix, name);
		if (n >= 0)
			n = asprintf(libname, "posix:/%s%s", fs->prefix, name);
	}
	if (n < 0) {
		free(*objpath);
		*objpath = NULL;
		*libname = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void table_free(struct fs_table *tb)
{
	fs_longs_free(tb);
	free(tb->name);
	free(tb->libname);
	free(tb->objpath);
	pthread_mutex_destroy(&tb->mu);
	pthread_mutex_destroy(&tb->obj_mu);
	free(tb);
}

/* The magic a table begins with (doc/FORMAT.md, the header). */
#define TABLE_MAGIC "SHMTAB\r\n"

/*
 * Whether the object a failed open left behind is a table all the same:
 * it begins with the magic (its header is damaged), or the daemon may not
 * even read it (a table it cannot judge is shown rather than hidden).
 */
static bool table_broken(const char *objpath)
{
	char magic[sizeof(TABLE_MAGIC) - 1];
	int fd = open(objpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	bool broken;

	if (fd < 0)
		return errno == EACCES || errno == EPERM;
	broken = read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
		 memcmp(magic, TABLE_MAGIC, sizeof(magic)) == 0;
	close(fd);
	return broken;
}

/* Whether st is still the object tb was made from (and, for a broken
 * table, unchanged since). */
static bool table_same(const struct fs_table *tb, const struct stat *st)
{
	if (st->st_dev != tb->dev || st->st_ino != tb->ino)
		return false;
	if (!tb->open_err)
		return true;
	return st->st_size == tb->seen.st_size &&
	       st->st_mtim.tv_sec == tb->seen.st_mtim.tv_sec &&
	       st->st_mtim.tv_nsec == tb->seen.st_mtim.tv_nsec &&
	       st->st_ctim.tv_sec == tb->seen.st_ctim.tv_sec &&
	       st->st_ctim.tv_nsec == tb->seen.st_ctim.tv_nsec;
}

/*
 * Open the table called name; -ENOENT when it is not a table, -EIO with
 * *out set for a broken table (logged here, once for the object's state).
 */
static int table_open(const char *name, struct fs_table **out)
{
	struct fs *fs = &fs_state;
	struct fs_table *tb = calloc(1, sizeof(*tb));
	struct stat st;
	int err;

	if (!tb)
		return -ENOMEM;
	pthread_mutex_init(&tb->mu, NULL);
	pthread_mutex_init(&tb->obj_mu, NULL);
	tb->name = strdup(name);
	err = table_paths(name, &tb->libname, &tb->objpath);
	if (err < 0 || !tb->name) {
		err = -ENOMEM;
		goto out_free;
	}
	err = -ENOENT;
	if (stat(tb->objpath, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size == 0)
		goto out_free;
	if (fs->ro) {
		err = shmtab_open(tb->libname, O_RDONLY, 0, NULL, &tb->t);
		tb->rdonly = true;
	} else {
		err = shmtab_open(tb->libname, O_RDWR, 0, NULL, &tb->t);
		if (err == -EACCES || err == -EROFS || err == -EPERM) {
			err = shmtab_open(tb->libname, O_RDONLY, 0, NULL,
					  &tb->t);
			tb->rdonly = true;
		}
	}
	/* a table being formatted by a stuck process (-EAGAIN), or an open
	 * the request's interrupt ended (-EINTR), is not broken: the next
	 * request tries again */
	if (err < 0 && err != -ENOMEM && err != -EMFILE && err != -ENFILE &&
	    err != -EAGAIN && err != -EINTR && table_broken(tb->objpath)) {
		tb->t = NULL;
		tb->open_err = err;
		tb->dev = st.st_dev;
		tb->ino = st.st_ino;
		tb->seen = st;
		tb->damaged_logged = true;
		fs_log(LOG_ERR, "table '%s' (%s) %s: %s", tb->name, tb->libname,
		       err == -EBADMSG ? "is damaged" : "cannot be opened",
		       shmtab_strerror(err));
		*out = tb;
		return -EIO;
	}
	if (err == -EBADMSG || err == -EINVAL)
		err = -ENOENT;
	if (err < 0)
		goto out_free;
	if (stat(tb->objpath, &st) == 0) {
		tb->dev = st.st_dev;
		tb->ino = st.st_ino;
		tb->seen = st;
	}
	tb->counter = shmtab_counter(tb->t);
	tb->feed_since = tb->counter;
	clock_gettime(CLOCK_REALTIME, &tb->changed);
	*out = tb;
	return 0;
out_free:
	table_free(tb);
	return err;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * stat(2) of tb's object, or the one a request took less than
 * FS_OBJ_KEEP_NS ago while the object's generation has not moved since
 * (fs.h).  Only a stat of the object tb was made from is kept, and only
 * while tb->t is open (a broken or retired table is asked each time).
 * Takes tb->obj_mu alone, and not across the stat: a request on a table
 * whose handle waits for a lock in another thread, or whose source is
 * slow to stat, must not make others wait (a listing of the root asks
 * after every table).
 */
int fs_table_obj_stat(struct fs_table *tb, struct stat *st)
{
	uint64_t gen, now = mono_ns();
	bool live;

	pthread_mutex_lock(&tb->obj_mu);
	live = tb->t != NULL;
	gen = live ? shmtab__obj_gen(tb->t) : 0;
	if (live && tb->obj_at && now - tb->obj_at < FS_OBJ_KEEP_NS &&
	    gen == tb->obj_gen) {
		*st = tb->obj_st;
		pthread_mutex_unlock(&tb->obj_mu);
		return 0;
	}
	pthread_mutex_unlock(&tb->obj_mu);
	/* the generation and the time before the stat: a change after
	 * them moves the one or outlives the other */
	if (stat(tb->objpath, st) < 0)
		return -errno;
	if (!live || st->st_dev != tb->dev || st->st_ino != tb->ino)
		return 0;
	pthread_mutex_lock(&tb->obj_mu);
	if (tb->t && (!tb->obj_at || tb->obj_at <= now)) {
		tb->obj_st = *st;
		tb->obj_at = now ? now : 1;
		tb->obj_gen = gen;
	}
	pthread_mutex_unlock(&tb->obj_mu);
	return 0;
}

/* Close a table that left the list (its struct stays: nodes point to it). */
static void table_retire(struct fs_table *tb)
{
	shmtab *t;

	pthread_mutex_lock(&tb->mu);
	pthread_mutex_lock(&tb->obj_mu);
	t = tb->t;
	tb->t = NULL;
	tb->obj_at = 0;
	pthread_mutex_unlock(&tb->obj_mu);
	if (tb->npinned)
		tb->old_t = t;	/* the last of them closes it */
	else
		shmtab_close(t);
	fs_longs_free(tb);	/* no name reaches it any more */
	pthread_mutex_unlock(&tb->mu);
}

/* Take tb out of the list; true when it was in it. Caller holds fs->mu. */
static bool table_unlist(struct fs *fs, struct fs_table *tb)
{
	struct fs_table **pp;

	for (pp = &fs->tables; *pp; pp = &(*pp)->next)
		if (*pp == tb) {
			*pp = tb->next;
			tb->next = NULL;
			return true;
		}
	return false;
}

static struct fs_table *table_find(struct fs *fs, const char *name)
{
	struct fs_table *tb;

	for (tb = fs->tables; tb; tb = tb->next)
		if (!strcmp(tb->name, name))
			return tb;
	return NULL;
}

/* The live table called name, opened on first use; -EIO for a broken
 * table (*out set, see the top).  obj (or NULL): the stat that found the
 * table still there, when it was (obj->ok). */
int fs_table_get_obj(const char *name, struct fs_table **out,
		     struct fs_obj *obj)
{
	struct fs *fs = &fs_state;
	struct fs_table *tb, *other;
	struct stat st;
	bool present;
	int err;

	err = fs_table_name_ok(name);
	if (err < 0)
		return err == -EINVAL ? -ENOENT : err;
	pthread_mutex_lock(&fs->mu);
	tb = table_find(fs, name);
	pthread_mutex_unlock(&fs->mu);
	if (tb) {
		present = fs_table_obj_stat(tb, &st) == 0;
		if (present && table_same(tb, &st)) {
			*out = tb;
			if (obj) {
				obj->ok = true;
				obj->st = st;
			}
			return tb->open_err ? -EIO : 0;
		}
		/* removed or replaced behind the mount */
		pthread_mutex_lock(&fs->mu);
		present = table_unlist(fs, tb);
		pthread_mutex_unlock(&fs->mu);
		if (present)
			table_retire(tb);
	}
	err = table_open(name, &tb);
	if (err < 0 && err != -EIO)
		return err;
	pthread_mutex_lock(&fs->mu);
	other = table_find(fs, name);
	if (!other) {
		tb->next = fs->tables;
		fs->tables = tb;
		tb->all_next = fs->all;
		fs->all = tb;
	}
	pthread_mutex_unlock(&fs->mu);
	if (other) {
		shmtab_close(tb->t);
		table_free(tb);
		tb = other;
		err = tb->open_err ? -EIO : 0;
	}
	*out = tb;
	return err;
}

int fs_table_get(const char *name, struct fs_table **out)
{
	return fs_table_get_obj(name, out, NULL);
}

/* At exit, when no request runs any more. */
void fs_tables_free(void)
{
	struct fs *fs = &fs_state;
	struct fs_table *tb, *next;

	for (tb = fs->all; tb; tb = next) {
		next = tb->all_next;
		shmtab_close(tb->t);
		shmtab_close(tb->old_t);
		table_free(tb);
	}
	fs->all = NULL;
	fs->tables = NULL;
}

static void reply_dir_entry(fuse_req_t req, struct fs_table *tb,
			    const struct fs_obj *obj)
{
	struct fuse_entry_param e;
	struct stat st;
	fuse_ino_t ino;
	int err;

	err = fs_node_ref(tb, true, NULL, 0, &ino);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	err = fs_attr_table_obj(tb, ino, obj, &st);
	if (err < 0) {
		fs_node_forget(ino, 1);
		fuse_reply_err(req, fs_err(tb, err));
		return;
	}
	fs_fill_entry(&e, ino, &st,
		      fs_state.cache > FS_TABLE_ENTRY_TIMEOUT ?
			      fs_state.cache :
			      FS_TABLE_ENTRY_TIMEOUT,
		      fs_state.cache);
	if (fuse_reply_entry(req, &e) != 0)
		fs_node_forget(ino, 1);
}

void fs_root_lookup(fuse_req_t req, const char *name)
{
	struct fs_obj obj = { false };
	struct fs_table *tb;
	int err = fs_table_get_obj(name, &tb, &obj);

	if (err < 0)
		fuse_reply_err(req, fs_err(NULL, err));
	else
		reply_dir_entry(req, tb, &obj);
}

/* --- listings ------------------------------------------------------- */

struct dir_ent {
	char *name;
	fuse_ino_t ino;
	mode_t type;
};

struct dir_snap {
	struct dir_snap *prev, *next;	/* open_snaps: the ones not released */
	size_t n, cap;
	struct dir_ent *v;
	struct fs_table *tb;		/* an array: its table, */
	uint64_t alen;			/* and its length at opendir */
};

static int snap_add(struct dir_snap *d, const char *name, size_t len,
		    fuse_ino_t ino, mode_t type)
{
	struct dir_ent *v;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		v = realloc(d->v, d->cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->v = v;
	}
	d->v[d->n].name = strndup(name, len);
	if (!d->v[d->n].name)
		return -ENOMEM;
	d->v[d->n].ino = ino;
	d->v[d->n].type = type;
	d->n++;
	return 0;
}

/* Every snapshot the kernel has not released: a mount detached with
 * fusermount3 -uz sends no RELEASEDIR, so the daemon frees them at exit. */
static struct dir_snap *open_snaps;
static pthread_mutex_t snaps_mu = PTHREAD_MUTEX_INITIALIZER;

static void snap_free(struct dir_snap *d)
{
	size_t i;

	if (!d)
		return;
	pthread_mutex_lock(&snaps_mu);
	if (d->prev)
		d->prev->next = d->next;
	else
		open_snaps = d->next;
	if (d->next)
		d->next->prev = d->prev;
	pthread_mutex_unlock(&snaps_mu);
	for (i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
	free(d);
}

static struct dir_snap *snap_new(fuse_ino_t self)
{
	struct dir_snap *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	pthread_mutex_lock(&snaps_mu);
	d->next = open_snaps;
	if (open_snaps)
		open_snaps->prev = d;
	open_snaps = d;
	pthread_mutex_unlock(&snaps_mu);
	if (snap_add(d, ".", 1, self, S_IFDIR) < 0 ||
	    snap_add(d, "..", 2, FUSE_ROOT_ID, S_IFDIR) < 0) {
		snap_free(d);
		return NULL;
	}
	return d;
}

static void reply_open_snap(fuse_req_t req, struct fuse_file_info *fi,
			    struct dir_snap *d, bool cache)
{
	fi->fh = (uintptr_t)d;
	/* a table's listing, dropped by the watcher when the table changes */
	fi->cache_readdir = cache;
	fi->keep_cache = cache;
	if (fuse_reply_open(req, fi) != 0)
		snap_free(d);
}

void fs_root_readdir_open(fuse_req_t req, struct fuse_file_info *fi)
{
	struct fs *fs = &fs_state;
	struct dir_snap *d = snap_new(FUSE_ROOT_ID);
	size_t plen = strlen(fs->prefix);
	struct fs_table *tb;
	struct dirent *de;
	DIR *dir;
	int err = 0;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	dir = opendir(fs->srcdir);
	if (!dir) {
		err = errno;
		snap_free(d);
		fuse_reply_err(req, err);
		return;
	}
	while ((de = readdir(dir))) {
		const char *name = de->d_name;

		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (strncmp(name, fs->prefix, plen) != 0 || !name[plen])
			continue;
		name += plen;
		/* a broken table is listed: its lookup answers EIO */
		err = fs_table_get(name, &tb);
		if (err < 0 && err != -EIO) {
			err = 0;
			continue;
		}
		err = snap_add(d, name, strlen(name), FUSE_UNKNOWN_INO,
			       S_IFDIR);
		if (err < 0)
			break;
	}
	closedir(dir);
	if (err < 0) {
		snap_free(d);
		fuse_reply_err(req, -err);
		return;
	}
	reply_open_snap(req, fi, d, false);
}

struct key_snap_ctx {
	struct dir_snap *d;
	struct fs_table *tb;
	struct fs_types ty;
	int err;
};

static int key_snap_one(const void *key, size_t klen, void *ctx)
{
	struct key_snap_ctx *c = ctx;
	char name[256];
	ssize_t n = fs_key_name(&c->ty, key, klen, name, sizeof(name));

	if (n < 0)
		return 0;	/* no file name for it: see shmtabfs(1) */
	if (shmtab_file_name_is_long(name))
		fs_longs_note(c->tb, &c->ty, name, key, klen);
	c->err = snap_add(c->d, name, (size_t)n,
			  fs_node_peek(c->tb, key, klen), S_IFREG);
	return c->err < 0;
}

void fs_table_readdir_open(fuse_req_t req, struct fs_table *tb,
			   struct fuse_file_info *fi)
{
	struct key_snap_ctx c = { .tb = tb };
	long long n;
	int err;

	c.d = snap_new(FUSE_UNKNOWN_INO);
	if (!c.d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&tb->mu);
	err = tb->t ? fs_types_get(tb->t, &c.ty) : -ENOENT;
	if (err < 0) {
		;
	} else if (c.ty.array) {
		n = shmtab_array_length(tb->t);
		err = n < 0 ? (int)n : 0;
		c.d->tb = tb;
		c.d->alen = n < 0 ? 0 : (uint64_t)n;
	} else {
		err = shmtab_iter_keys(tb->t, key_snap_one, &c);
		if (err > 0)
			err = c.err;
	}
	pthread_mutex_unlock(&tb->mu);
	if (err < 0) {
		snap_free(c.d);
		fuse_reply_err(req, fs_err(tb, err));
		return;
	}
	reply_open_snap(req, fi, c.d, fs_state.cache > 0);
}

void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct dir_snap *d = (struct dir_snap *)(uintptr_t)fi->fh;
	char *buf = malloc(size ? size : 1);
	size_t used = 0, len;
	struct stat st;
	size_t i;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&st, 0, sizeof(st));
	for (i = off < 0 ? 0 : (size_t)off; i < d->n; i++) {
		st.st_ino = d->v[i].ino;
		st.st_mode = d->v[i].type;
		len = fuse_add_direntry(req, buf + used, size - used,
					d->v[i].name, &st, (off_t)(i + 1));
		if (len > size - used)
			break;
		used += len;
	}
	/* an array: offset d->n + k is index k */
	for (; d->tb && i >= d->n && i - d->n < d->alen; i++) {
		int64_t idx = (int64_t)(i - d->n);
		char name[24];

		snprintf(name, sizeof(name), "%" PRId64, idx);
		st.st_ino = fs_node_peek(d->tb, &idx, sizeof(idx));
		st.st_mode = S_IFREG;
		len = fuse_add_direntry(req, buf + used, size - used, name,
					&st, (off_t)(i + 1));
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	snap_free((struct dir_snap *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* --- mkdir / rmdir: create and remove tables ------------------------- */

void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode)
{
	struct fs *fs = &fs_state;
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char *libname, *objpath;
	struct fs_table *tb;
	struct stat st;
	shmtab *t;
	int err;

	if (parent != FUSE_ROOT_ID) {
		fuse_reply_err(req, EPERM);	/* tables hold keys only */
		return;
	}
	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	err = fs_table_name_ok(name);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	err = table_paths(name, &libname, &objpath);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	if (lstat(objpath, &st) == 0) {
		err = -EEXIST;
		goto out;
	}
	err = shmtab_open(libname, O_RDWR | O_CREAT | O_EXCL, mode & 0666,
			  NULL, &t);
	if (err < 0)
		goto out;
	if (geteuid() == 0 && (ctx->uid != 0 || ctx->gid != 0))
		err = shmtab_chown(t, ctx->uid, ctx->gid);
	shmtab_close(t);
	if (err < 0) {
		shmtab_unlink(libname);
		goto out;
	}
	err = fs_table_get(name, &tb);
out:
	free(libname);
	free(objpath);
	if (err < 0)
		fuse_reply_err(req, fs_err(NULL, err));
	else
		reply_dir_entry(req, tb, NULL);
}

void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = &fs_state;
	struct fs_table *tb;
	long long n;
	int err;

	if (parent != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (fs->ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	err = fs_table_get(name, &tb);
	if (err < 0) {
		fuse_reply_err(req, fs_err(NULL, err));
		return;
	}
	pthread_mutex_lock(&tb->mu);
	if (!tb->t) {
		err = -ENOENT;
	} else {
		n = shmtab_length(tb->t);
		if (n < 0)
			err = (int)n;
		else if (n > 0)
			err = -ENOTEMPTY;
		else
			err = shmtab_unlink(tb->libname);
	}
	pthread_mutex_unlock(&tb->mu);
	if (err == 0) {
		pthread_mutex_lock(&fs->mu);
		if (!table_unlist(fs, tb))
			tb = NULL;
		pthread_mutex_unlock(&fs->mu);
		if (tb)
			table_retire(tb);
	}
	fuse_reply_err(req, fs_err(tb, err));
}

/* At exit: the snapshots of directories still open. */
void fs_dirs_free(void)
{
	while (open_snaps)
		snap_free(open_snaps);
}
