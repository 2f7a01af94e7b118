/* SPDX-License-Identifier: MIT */
/*
 * fs-attr.c - attributes, statfs and the extended attributes
 *
 * A table directory shows its object's owner and permission bits, with x
 * added where r is set; a key file shows the object's owner and its
 * read/write bits, and the length of its newest value as size.  With
 * default_permissions the kernel checks these bits, so a table's rights are
 * enforced through the mount as they are on the object.
 *
 * Times: the library keeps no per-key time.  The daemon reads the table's
 * change counter (shmtab_counter) whenever it answers for the table or one
 * of its keys; the moment it first sees the counter move is the mtime of
 * the table directory and of every key in it.  So a key's mtime changes
 * whenever its table changed since the previous look (it may also change
 * when another key changed).
 *
 * Extended attributes (read-only; other names answer ENODATA at once):
 *   key file:   user.shmtab.bindings   the number of bindings, in decimal
 *               user.shmtab.binding.N  the Nth binding's value, 0 = newest
 *   table dir:  user.shmtab.stat       the table's statistics, as text
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include "fs.h"

#define XATTR_PREFIX "user.shmtab."
#define XATTR_SIZE_MAX_ 65536
#define TIMES                                                                 \
	(FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW | \
	 FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)

static mode_t dir_perm(mode_t m)
{
	m &= 0777;
	return m | ((m & 0444) >> 2);
}

int fs_attr_root(struct stat *st)
{
	if (stat(fs_state.srcdir, st) < 0)
		return -errno;
	st->st_ino = FUSE_ROOT_ID;
	st->st_mode = S_IFDIR | (st->st_mode & 07777);
	st->st_nlink = 2;
	return 0;
}

/* Caller holds tb->mu and tb->t is open. */
static int object_attr(struct fs_table *tb, struct stat *st)
{
	struct stat o;

	if (stat(tb->objpath, &o) < 0)
		return -errno;
	fs_table_touch(tb);
	memset(st, 0, sizeof(*st));
	st->st_uid = o.st_uid;
	st->st_gid = o.st_gid;
	st->st_mode = o.st_mode;
	st->st_atim = tb->changed;
	st->st_mtim = tb->changed;
	st->st_ctim = o.st_ctim.tv_sec > tb->changed.tv_sec ? o.st_ctim :
							       tb->changed;
	st->st_blksize = 4096;
	return 0;
}

int fs_attr_table(struct fs_table *tb, fuse_ino_t ino, struct stat *st)
{
	long long n;
	int err;

	pthread_mutex_lock(&tb->mu);
	err = tb->t ? object_attr(tb, st) : -ENOENT;
	if (err == 0) {
		st->st_ino = ino;
		st->st_mode = S_IFDIR | dir_perm(st->st_mode);
		st->st_nlink = 2;
		n = shmtab_length(tb->t);
		st->st_size = n > 0 ? n : 0;
	}
	pthread_mutex_unlock(&tb->mu);
	return err;
}

int fs_attr_key(struct fs_table *tb, const void *key, size_t klen,
		fuse_ino_t ino, struct stat *st)
{
	size_t vlen = 0;
	int err;

	pthread_mutex_lock(&tb->mu);
	err = tb->t ? shmtab_find_into(tb->t, key, klen, NULL, 0, &vlen) :
		      -ENOENT;
	if (err == 0)
		err = object_attr(tb, st);
	if (err == 0) {
		st->st_ino = ino;
		st->st_mode = S_IFREG | (st->st_mode & 0666);
		st->st_nlink = 1;
		st->st_size = (off_t)vlen;
		st->st_blocks = (blkcnt_t)((vlen + 511) / 512);
	}
	pthread_mutex_unlock(&tb->mu);
	return err;
}

void fs_fill_entry(struct fuse_entry_param *e, fuse_ino_t ino,
		   const struct stat *st, double timeout)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = 0;
	e->attr = *st;
	e->attr.st_ino = ino;
	e->attr_timeout = timeout;
	e->entry_timeout = timeout;
}

/* Attributes of any inode. */
static int attr_of(fuse_ino_t ino, struct fs_table **tbp, struct stat *st,
		   double *timeout)
{
	struct fs_table *tb;
	void *key;
	size_t klen;
	bool is_dir;
	int err = fs_resolve(ino, &tb, &key, &klen, &is_dir);

	*tbp = tb;
	*timeout = fs_state.cache;
	if (err < 0)
		return err;
	if (!tb)
		err = fs_attr_root(st);
	else if (is_dir)
		err = fs_attr_table(tb, ino, st);
	else
		err = fs_attr_key(tb, key, klen, ino, st);
	free(key);
	return err;
}

void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_table *tb;
	struct stat st;
	double timeout;
	int err = attr_of(ino, &tb, &st, &timeout);

	(void)fi;
	if (err < 0)
		fuse_reply_err(req, fs_err(tb, err));
	else
		fuse_reply_attr(req, &st, timeout);
}

static int setattr_table(struct fs_table *tb, struct stat *attr, int to_set)
{
	uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
	gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
	int err = 0;

	if (to_set & FUSE_SET_ATTR_SIZE)
		return -EISDIR;
	if (!(to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
			FUSE_SET_ATTR_GID)))
		return 0;
	if (fs_state.ro)
		return -EROFS;
	pthread_mutex_lock(&tb->mu);
	if (!tb->t)
		err = -ENOENT;
	if (!err && (to_set & FUSE_SET_ATTR_MODE))
		err = shmtab_chmod(tb->t, attr->st_mode & 0666);
	if (!err && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		err = shmtab_chown(tb->t, uid, gid);
	pthread_mutex_unlock(&tb->mu);
	return err;
}

/* Keys have no own owner or mode: accept only what changes nothing (so
 * that cp -p and rsync -a work). */
static int setattr_key(struct fs_table *tb, const void *key, size_t klen,
		       fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct stat cur;
	int err;

	if ((to_set & FUSE_SET_ATTR_SIZE) && fs_state.ro)
		return -EROFS;
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
		      FUSE_SET_ATTR_GID)) {
		err = fs_attr_key(tb, key, klen, ino, &cur);
		if (err < 0)
			return err;
		if ((to_set & FUSE_SET_ATTR_MODE) &&
		    (attr->st_mode & 07777) != (cur.st_mode & 07777))
			return -EPERM;
		if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != cur.st_uid)
			return -EPERM;
		if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != cur.st_gid)
			return -EPERM;
	}
	if (!(to_set & FUSE_SET_ATTR_SIZE))
		return 0;
	if (attr->st_size < 0)
		return -EINVAL;
	if (fi)
		return fs_file_truncate(fi, attr->st_size);
	return fs_key_truncate(tb, key, klen, attr->st_size);
}

void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	struct fs_table *tb;
	void *key;
	size_t klen;
	bool is_dir;
	struct stat st;
	int err = fs_resolve(ino, &tb, &key, &klen, &is_dir);

	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	if (!tb)
		err = (to_set & ~TIMES) ? -EPERM : 0;
	else if (is_dir)
		err = setattr_table(tb, attr, to_set);
	else
		err = setattr_key(tb, key, klen, ino, attr, to_set, fi);
	if (err == 0) {
		if (!tb)
			err = fs_attr_root(&st);
		else if (is_dir)
			err = fs_attr_table(tb, ino, &st);
		else
			err = fs_attr_key(tb, key, klen, ino, &st);
	}
	/* an uncommitted truncate: the handle's size is the answer */
	if (err == 0 && fi && !is_dir && (to_set & FUSE_SET_ATTR_SIZE))
		st.st_size = attr->st_size;
	free(key);
	if (err < 0)
		fuse_reply_err(req, fs_err(tb, err));
	else
		fuse_reply_attr(req, &st, fs_state.cache);
}

void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	if (statvfs(fs_state.srcdir, &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

/* --- extended attributes -------------------------------------------- */

struct text {
	char *p;
	size_t len, cap;
	int err;
};

static void text_add(struct text *t, const void *s, size_t n)
{
	char *p;

	if (t->err)
		return;
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2 + 64;
		p = realloc(t->p, t->cap);
		if (!p) {
			t->err = -ENOMEM;
			return;
		}
		t->p = p;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
}

static void text_printf(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		text_add(t, buf, (size_t)n < sizeof(buf) ? (size_t)n :
							   sizeof(buf) - 1);
}

struct nth_ctx {
	unsigned long want, seen;
	struct text *out;
};

static int nth_binding(const void *key, size_t klen, const void *val,
		       size_t vlen, void *ctx)
{
	struct nth_ctx *c = ctx;

	(void)key;
	(void)klen;
	if (c->out && c->seen == c->want) {
		text_add(c->out, val, vlen);
		c->seen++;
		return 1;
	}
	c->seen++;
	return 0;
}

static const char *lock_name(enum shmtab_lock l)
{
	switch (l) {
	case SHMTAB_LOCK_NONE:
		return "none";
	case SHMTAB_LOCK_RECORD:
		return "record";
	case SHMTAB_LOCK_MUTEX:
		return "mutex";
	default:
		return "best";
	}
}

/* Caller holds tb->mu, tb->t open. */
static int xattr_table_stat(struct fs_table *tb, struct text *out)
{
	struct shmtab_stat s;
	int err = shmtab_stat(tb->t, &s);

	if (err < 0)
		return err;
	text_printf(out, "name: %s\n", tb->libname);
	text_printf(out, "bindings: %" PRIu64 "\n", s.bindings);
	text_printf(out, "keys: %" PRIu64 "\n", s.keys);
	text_printf(out, "size: %" PRIu64 "\n", s.size);
	text_printf(out, "used: %" PRIu64 "\n", s.used);
	text_printf(out, "free: %" PRIu64 "\n", s.free);
	text_printf(out, "index_cells: %" PRIu64 "\n", s.index_cells);
	text_printf(out, "pagesize: %" PRIu32 "\n", s.pagesize);
	text_printf(out, "version: %" PRIu32 "\n", s.version);
	text_printf(out, "lock: %s\n", lock_name(s.lock));
	text_printf(out, "holders: %" PRIu32 "\n", s.holders);
	text_printf(out, "dead_holders: %" PRIu32 "\n", s.dead_holders);
	text_printf(out, "changes: %" PRIu64 "\n", s.changes);
	text_printf(out, "recoveries: %" PRIu64 "\n", s.recoveries);
	return out->err;
}

/* The value of xattr name into out, or -ENODATA. */
static int xattr_get(struct fs_table *tb, const void *key, size_t klen,
		     bool is_dir, const char *name, struct text *out)
{
	const char *sub;
	struct nth_ctx c = { 0, 0, NULL };
	char *end;
	int err;

	if (!tb || strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0)
		return -ENODATA;
	sub = name + strlen(XATTR_PREFIX);
	if (is_dir) {
		if (strcmp(sub, "stat") != 0)
			return -ENODATA;
		return xattr_table_stat(tb, out);
	}
	if (!strcmp(sub, "bindings")) {
		err = shmtab_find_all(tb->t, key, klen, nth_binding, &c);
		if (err < 0)
			return err;
		if (c.seen == 0)
			return -ENOENT;
		text_printf(out, "%lu", c.seen);
		return out->err;
	}
	if (strncmp(sub, "binding.", 8) != 0)
		return -ENODATA;
	sub += 8;
	if (!*sub || (*sub == '0' && sub[1]) || *sub < '0' || *sub > '9')
		return -ENODATA;
	errno = 0;
	c.want = strtoul(sub, &end, 10);
	if (*end || errno)
		return -ENODATA;
	c.out = out;
	err = shmtab_find_all(tb->t, key, klen, nth_binding, &c);
	if (err < 0)
		return err;
	if (c.seen <= c.want)
		return -ENODATA;
	return out->err;
}

static int xattr_list(struct fs_table *tb, const void *key, size_t klen,
		      bool is_dir, struct text *out)
{
	struct nth_ctx c = { 0, 0, NULL };
	unsigned long i;
	int err;

	if (!tb)
		return 0;
	if (is_dir) {
		text_add(out, XATTR_PREFIX "stat", sizeof(XATTR_PREFIX "stat"));
		return out->err;
	}
	err = shmtab_find_all(tb->t, key, klen, nth_binding, &c);
	if (err < 0)
		return err;
	text_add(out, XATTR_PREFIX "bindings",
		 sizeof(XATTR_PREFIX "bindings"));
	for (i = 0; i < c.seen && out->len < XATTR_SIZE_MAX_ - 64; i++) {
		text_printf(out, XATTR_PREFIX "binding.%lu", i);
		text_add(out, "", 1);
	}
	return out->err;
}

static void xattr_reply(fuse_req_t req, struct fs_table *tb, int err,
			struct text *t, size_t size)
{
	if (err < 0)
		fuse_reply_err(req, fs_err(tb, err));
	else if (t->len > XATTR_SIZE_MAX_)
		fuse_reply_err(req, E2BIG);
	else if (size == 0)
		fuse_reply_xattr(req, t->len);
	else if (t->len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, t->p, t->len);
	free(t->p);
}

static void xattr_op(fuse_req_t req, fuse_ino_t ino, const char *name,
		     size_t size)
{
	struct text t = { NULL, 0, 0, 0 };
	struct fs_table *tb;
	void *key;
	size_t klen;
	bool is_dir;
	int err;

	/* foreign names (ls asks for security.selinux and ACLs on every
	 * file) are answered before any lookup */
	if (name && strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	err = fs_resolve(ino, &tb, &key, &klen, &is_dir);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	if (tb) {
		pthread_mutex_lock(&tb->mu);
		if (!tb->t)
			err = -ENOENT;
		else if (name)
			err = xattr_get(tb, key, klen, is_dir, name, &t);
		else
			err = xattr_list(tb, key, klen, is_dir, &t);
		pthread_mutex_unlock(&tb->mu);
	} else if (name) {
		err = -ENODATA;
	}
	free(key);
	xattr_reply(req, tb, err, &t, size);
}

void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	xattr_op(req, ino, name, size);
}

void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	xattr_op(req, ino, NULL, size);
}

void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	fuse_reply_err(req, ENOTSUP);
}

void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	(void)name;
	fuse_reply_err(req, ENOTSUP);
}
