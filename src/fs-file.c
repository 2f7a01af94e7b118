/* SPDX-License-Identifier: MIT */
/*
 * fs-file.c - keys as files: open-file state and whole-value writes
 *
 * Every open file has its own buffer, so that readers see one version and
 * writers publish one value:
 *  - a read-only open copies the newest value at OPEN; READ serves that copy
 *    (noflush: no FLUSH is sent on close);
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
 *    committing there would publish an empty value), at fsync, and at
 *    RELEASE when still pending (e.g. `: > k`, which writes nothing).
 * Every file is opened with direct_io: the page cache never holds a
 * writer's bytes nor a stale value.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "escape.h"
#include "fs.h"

struct fh {
	struct fs_table *tb;
	pthread_mutex_t mu;		/* requests may come in parallel */
	bool writable;
	bool append;			/* O_APPEND: writes go to the end */
	bool tail;			/* buf holds only appended bytes */
	bool pending;			/* unpublished: RELEASE commits */
	bool armed;			/* new data: FLUSH commits */
	bool reported;			/* a FLUSH returned the error */
	bool whole;			/* publish all of buf, not ranges */
	struct range {
		size_t off, len;
	} *rg;				/* written since the last commit */
	size_t nrg, caprg;
	unsigned char *buf;
	size_t len, cap;
	size_t klen;
	unsigned char key[];
};

static struct fh *fh_of(struct fuse_file_info *fi)
{
	return (struct fh *)(uintptr_t)fi->fh;
}

static void fh_free(struct fh *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->mu);
	free(h->buf);
	free(h->rg);
	free(h);
}

static struct fh *fh_new(struct fs_table *tb, const void *key, size_t klen)
{
	struct fh *h = calloc(1, sizeof(*h) + klen);

	if (!h)
		return NULL;
	pthread_mutex_init(&h->mu, NULL);
	h->tb = tb;
	h->klen = klen;
	if (klen)
		memcpy(h->key, key, klen);
	return h;
}

static int fh_reserve(struct fh *h, size_t len)
{
	unsigned char *p;
	size_t cap;

	if (len > SHMTAB_VALUE_MAX)
		return -EFBIG;
	if (len <= h->cap)
		return 0;
	cap = h->cap ? h->cap : 256;
	while (cap < len)
		cap = cap > SIZE_MAX / 2 ? len : cap * 2;
	p = realloc(h->buf, cap);
	if (!p)
		return -ENOMEM;
	h->buf = p;
	h->cap = cap;
	return 0;
}

/* Set the length, zero-filling a gap. */
static int fh_resize(struct fh *h, size_t len)
{
	int err = fh_reserve(h, len);

	if (err < 0)
		return err;
	if (len > h->len)
		memset(h->buf + h->len, 0, len - h->len);
	h->len = len;
	return 0;
}

/* Load the newest value into h; caller holds tb->mu. -ENOENT when unbound. */
static int fh_load(struct fh *h)
{
	void *val;
	size_t vlen;
	int err = shmtab_find(h->tb->t, h->key, h->klen, &val, &vlen);

	if (err < 0)
		return err;
	free(h->buf);
	h->buf = val;
	h->len = vlen;
	h->cap = vlen;
	return 0;
}

struct tail_ctx {
	struct fh *h;
};

static int tail_commit(shmtab *t, void *ctx)
{
	struct fh *h = ((struct tail_ctx *)ctx)->h;
	unsigned char *val = NULL, *nv;
	size_t vlen = 0;
	int err;

	err = shmtab_find(t, h->key, h->klen, (void **)&val, &vlen);
	if (err == -ENOENT)
		err = 0;
	if (err < 0)
		return err;
	if (vlen + h->len > SHMTAB_VALUE_MAX) {
		free(val);
		return -EFBIG;
	}
	nv = realloc(val, vlen + h->len ? vlen + h->len : 1);
	if (!nv) {
		free(val);
		return -ENOMEM;
	}
	if (h->len)
		memcpy(nv + vlen, h->buf, h->len);
	err = shmtab_replace(t, h->key, h->klen, nv, vlen + h->len);
	free(nv);
	return err;
}

/*
 * A group that met a lock cycle with another process changed nothing in
 * its failed step; every group here can simply run again.
 */
static int group_retry(shmtab *t, int (*fn)(shmtab *t, void *ctx), void *ctx)
{
	int err, tries = 0;

	do
		err = shmtab_group(t, fn, ctx);
	while (err == -EDEADLK && ++tries < 100);
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
	struct fh *h = ((struct tail_ctx *)ctx)->h;
	unsigned char *val = NULL, *nv;
	size_t vlen = 0, nlen, i;
	int err;

	err = shmtab_find(t, h->key, h->klen, (void **)&val, &vlen);
	if (err == -ENOENT)
		err = 0;
	if (err < 0)
		return err;
	nlen = vlen;
	for (i = 0; i < h->nrg; i++)
		if (h->rg[i].off + h->rg[i].len > nlen)
			nlen = h->rg[i].off + h->rg[i].len;
	nv = realloc(val, nlen ? nlen : 1);
	if (!nv) {
		free(val);
		return -ENOMEM;
	}
	if (nlen > vlen)
		memset(nv + vlen, 0, nlen - vlen);
	for (i = 0; i < h->nrg; i++)
		memcpy(nv + h->rg[i].off, h->buf + h->rg[i].off,
		       h->rg[i].len);
	err = shmtab_replace(t, h->key, h->klen, nv, nlen);
	if (err < 0) {
		free(nv);
		return err;
	}
	free(h->buf);
	h->buf = nv;
	h->len = nlen;
	h->cap = nlen ? nlen : 1;
	return 0;
}

/* Publish h's buffer.  Caller holds h->mu. */
static int fh_commit(struct fh *h)
{
	struct fs_table *tb = h->tb;
	struct tail_ctx c = { h };
	int err;

	pthread_mutex_lock(&tb->mu);
	if (!tb->t)
		err = -ENOENT;
	else if (h->tail)
		err = group_retry(tb->t, tail_commit, &c);
	else if (!h->whole)
		err = group_retry(tb->t, patch_commit, &c);
	else
		err = shmtab_replace(tb->t, h->key, h->klen, h->buf, h->len);
	pthread_mutex_unlock(&tb->mu);
	if (err < 0)
		return err;
	h->pending = false;
	h->armed = false;
	h->nrg = 0;
	if (h->tail)
		h->len = 0;
	return 0;
}

/* Turn a tail buffer into a whole value (for a truncate). */
static int fh_untail(struct fh *h)
{
	struct fh tmp;
	int err;

	if (!h->tail)
		return 0;
	memset(&tmp, 0, sizeof(tmp));
	pthread_mutex_lock(&h->tb->mu);
	err = h->tb->t ? shmtab_find(h->tb->t, h->key, h->klen,
				     (void **)&tmp.buf, &tmp.len) :
			 -ENOENT;
	pthread_mutex_unlock(&h->tb->mu);
	if (err == -ENOENT) {
		err = 0;
		tmp.buf = NULL;
		tmp.len = 0;
	}
	if (err < 0)
		return err;
	tmp.cap = tmp.len;
	err = fh_reserve(&tmp, tmp.len + h->len);
	if (err < 0) {
		free(tmp.buf);
		return err;
	}
	if (h->len)
		memcpy(tmp.buf + tmp.len, h->buf, h->len);
	free(h->buf);
	h->buf = tmp.buf;
	h->len = tmp.len + h->len;
	h->cap = tmp.cap;
	h->tail = false;
	h->whole = true;
	return 0;
}

/* A handle for (tb, key) opened with flags.  Caller holds tb->mu. */
static int fh_open(struct fs_table *tb, const void *key, size_t klen,
		   int flags, bool created, struct fh **out)
{
	int acc = flags & O_ACCMODE;
	struct fh *h;
	int err = 0;

	if (!tb->t)
		return -ENOENT;
	h = fh_new(tb, key, klen);
	if (!h)
		return -ENOMEM;
	h->writable = acc != O_RDONLY;
	h->append = (flags & O_APPEND) != 0;
	if (h->writable && (fs_state.ro || tb->rdonly)) {
		err = fs_state.ro ? -EROFS : -EACCES;
	} else if (!h->writable || (!(flags & O_TRUNC) && !created)) {
		if (h->append && acc == O_WRONLY) {
			h->tail = true;
			err = shmtab_mem(tb->t, key, klen);
			err = err == 0 ? -ENOENT : err < 0 ? err : 0;
		} else {
			err = fh_load(h);
		}
	} else {
		h->pending = !created;	/* O_TRUNC: publish at release */
		h->whole = true;
	}
	if (err < 0) {
		fh_free(h);
		return err;
	}
	*out = h;
	return 0;
}

static void set_open_flags(struct fuse_file_info *fi, const struct fh *h)
{
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = !h->writable;
}

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_table *tb;
	void *key;
	size_t klen;
	bool is_dir;
	struct fh *h = NULL;
	int err = fs_resolve(ino, &tb, &key, &klen, &is_dir);

	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	if (is_dir) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	pthread_mutex_lock(&tb->mu);
	err = fh_open(tb, key, klen, fi->flags, false, &h);
	pthread_mutex_unlock(&tb->mu);
	free(key);
	if (err < 0) {
		fuse_reply_err(req, fs_err(tb, err));
		return;
	}
	set_open_flags(fi, h);
	if (fuse_reply_open(req, fi) != 0)
		fh_free(h);
}

/* The key a name in a table stands for; -ENOENT for a non-canonical name. */
static int name_key(const char *name, unsigned char *key, size_t cap,
		    size_t *klen)
{
	ssize_t n = shmtab_unescape(name, key, cap);

	if (n < 0)
		return n == -EINVAL ? -ENOENT : (int)n;
	*klen = (size_t)n;
	return 0;
}

/* A table directory's table for parent, or a positive errno. */
static int parent_table(fuse_ino_t parent, struct fs_table **tb)
{
	void *key;
	size_t klen;
	bool is_dir;
	int err = fs_resolve(parent, tb, &key, &klen, &is_dir);

	if (err < 0)
		return -err;
	free(key);
	if (!is_dir)
		return ENOTDIR;
	if (!*tb)
		return EPERM;	/* the root holds tables only */
	return 0;
}

static int reply_key_entry(fuse_req_t req, struct fs_table *tb,
			   const void *key, size_t klen,
			   struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct stat st;
	fuse_ino_t ino;
	int err;

	err = fs_node_ref(tb, false, key, klen, &ino);
	if (err < 0)
		return err;
	err = fs_attr_key(tb, key, klen, ino, &st);
	if (err < 0) {
		fs_node_forget(ino, 1);
		return err;
	}
	fs_fill_entry(&e, ino, &st, fs_state.cache);
	if ((fi ? fuse_reply_create(req, &e, fi) : fuse_reply_entry(req, &e)))
		fs_node_forget(ino, 1);
	return 0;
}

void fs_key_lookup(fuse_req_t req, struct fs_table *tb, const char *name)
{
	unsigned char key[256];
	size_t klen = 0;
	int err = name_key(name, key, sizeof(key), &klen);

	if (err == 0)
		err = reply_key_entry(req, tb, key, klen, NULL);
	if (err < 0)
		fuse_reply_err(req, fs_err(tb, err));
}

void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi)
{
	unsigned char key[256];
	struct fs_table *tb;
	struct fh *h = NULL;
	size_t klen = 0;
	bool created = false;
	int err;

	err = parent_table(parent, &tb);
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
	err = name_key(name, key, sizeof(key), &klen);
	if (err == -ENOENT)
		err = -EINVAL;	/* not the escape of any key */
	if (err < 0)
		goto out;
	pthread_mutex_lock(&tb->mu);
	if (!tb->t) {
		err = -ENOENT;
	} else if (tb->rdonly) {
		err = -EACCES;
	} else {
		err = shmtab_mem(tb->t, key, klen);
		if (err > 0 && (fi->flags & O_EXCL))
			err = -EEXIST;
		/* the name must exist when open() returns */
		if (err == 0) {
			err = shmtab_add(tb->t, key, klen, "", 0);
			created = err == 0;
		}
		if (err >= 0)
			err = fh_open(tb, key, klen, fi->flags, created, &h);
	}
	pthread_mutex_unlock(&tb->mu);
	if (err < 0)
		goto out;
	set_open_flags(fi, h);
	err = reply_key_entry(req, tb, key, klen, fi);
	if (err < 0)
		fh_free(h);
out:
	if (err < 0)
		fuse_reply_err(req, fs_err(tb, err));
}

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	size_t n = 0;

	(void)ino;
	pthread_mutex_lock(&h->mu);
	if (h->tail) {
		pthread_mutex_unlock(&h->mu);
		fuse_reply_err(req, EBADF);
		return;
	}
	if (off >= 0 && (size_t)off < h->len) {
		n = h->len - (size_t)off;
		if (n > size)
			n = size;
	}
	/* h->buf does not move while h->mu is held; the reply copies it */
	fuse_reply_buf(req, n ? (const char *)h->buf + off : NULL, n);
	pthread_mutex_unlock(&h->mu);
}

void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	size_t at;
	int err;

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	pthread_mutex_lock(&h->mu);
	/* O_APPEND: the kernel's offset comes from a possibly stale size */
	at = h->append ? h->len : (size_t)off;
	if (at > SHMTAB_VALUE_MAX || size > SHMTAB_VALUE_MAX - at) {
		err = -EFBIG;
	} else {
		err = fh_reserve(h, at + size);
		if (err == 0 && at > h->len)
			memset(h->buf + h->len, 0, at - h->len);
	}
	if (err == 0) {
		memcpy(h->buf + at, buf, size);
		if (at + size > h->len)
			h->len = at + size;
		if (!h->tail)
			fh_range_add(h, at, size);
		h->pending = true;
		h->armed = true;
	}
	pthread_mutex_unlock(&h->mu);
	if (err < 0)
		fuse_reply_err(req, -err);
	else
		fuse_reply_write(req, size);
}

void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	int err = 0;

	(void)ino;
	pthread_mutex_lock(&h->mu);
	if (h->armed) {
		err = fh_commit(h);
		/* close() returns the error; RELEASE tries once more */
		h->armed = false;
		h->reported = err < 0;
	}
	pthread_mutex_unlock(&h->mu);
	fuse_reply_err(req, fs_err(h->tb, err));
}

void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	int err = 0;

	(void)ino;
	(void)datasync;
	pthread_mutex_lock(&h->mu);
	if (h->pending)
		err = fh_commit(h);
	pthread_mutex_unlock(&h->mu);
	fuse_reply_err(req, fs_err(h->tb, err));
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	int err = 0;

	(void)ino;
	pthread_mutex_lock(&h->mu);
	if (h->pending)
		err = fh_commit(h);
	pthread_mutex_unlock(&h->mu);
	if (err < 0 && !h->reported)
		fs_log(LOG_WARNING, "table '%s': value lost at close: %s",
		       h->tb->name, shmtab_strerror(err));
	fh_free(h);
	fuse_reply_err(req, 0);
}

/* ftruncate: the handle's buffer, published with the handle's commit. */
int fs_file_truncate(struct fuse_file_info *fi, off_t size)
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
	}
	pthread_mutex_unlock(&h->mu);
	return err;
}

struct trunc_ctx {
	const void *key;
	size_t klen;
	size_t size;
};

static int trunc_group(shmtab *t, void *ctx)
{
	struct trunc_ctx *c = ctx;
	unsigned char *val, *nv;
	size_t vlen;
	int err = shmtab_find(t, c->key, c->klen, (void **)&val, &vlen);

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
	err = shmtab_replace(t, c->key, c->klen, nv, c->size);
	free(nv);
	return err;
}

/* truncate(2) on a path: one read-modify-write in a group. */
int fs_key_truncate(struct fs_table *tb, const void *key, size_t klen,
		    off_t size)
{
	struct trunc_ctx c = { key, klen, (size_t)size };
	int err;

	if ((uint64_t)size > SHMTAB_VALUE_MAX)
		return -EFBIG;
	pthread_mutex_lock(&tb->mu);
	err = tb->t ? group_retry(tb->t, trunc_group, &c) : -ENOENT;
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

void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	unsigned char key[256];
	struct unlink_ctx c = { key, 0 };
	struct fs_table *tb;
	int err = parent_table(parent, &tb);

	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (fs_state.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	err = name_key(name, key, sizeof(key), &c.klen);
	if (err == 0) {
		pthread_mutex_lock(&tb->mu);
		err = tb->t ? group_retry(tb->t, unlink_group, &c) : -ENOENT;
		pthread_mutex_unlock(&tb->mu);
	}
	fuse_reply_err(req, fs_err(tb, err));
}

struct rename_ctx {
	const void *from, *to;
	size_t flen, tlen;
	unsigned int flags;
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
	if (c->flags & RENAME_NOREPLACE) {
		err = shmtab_mem(t, c->to, c->tlen);
		if (err != 0) {
			free(val);
			return err < 0 ? err : -EEXIST;
		}
	}
	err = shmtab_replace(t, c->to, c->tlen, val, vlen);
	free(val);
	if (err < 0)
		return err;
	return unlink_group(t, &u);
}

void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	unsigned char from[256], to[256];
	struct rename_ctx c = { from, to, 0, 0, flags };
	struct fs_table *tb, *tb2;
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
	err = parent_table(parent, &tb);
	if (!err)
		err = parent_table(newparent, &tb2);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	if (tb != tb2) {
		fuse_reply_err(req, EXDEV);
		return;
	}
	if (fs_state.ro) {
		fuse_reply_err(req, EROFS);
		return;
	}
	err = name_key(name, from, sizeof(from), &c.flen);
	if (err == 0) {
		err = name_key(newname, to, sizeof(to), &c.tlen);
		if (err == -ENOENT)
			err = -EINVAL;
	}
	if (err == 0) {
		pthread_mutex_lock(&tb->mu);
		err = tb->t ? group_retry(tb->t, rename_group, &c) : -ENOENT;
		pthread_mutex_unlock(&tb->mu);
	}
	fuse_reply_err(req, fs_err(tb, err));
}
