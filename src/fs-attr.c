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
 * Extended attributes (other user. names answer ENODATA at once, names of
 * the other namespaces, security. system. trusted., EOPNOTSUPP; a change of
 * any of them ENOTSUP, the same number):
 *   key file:   user.shmtab.key        the key (in a typed table its text,
 *                                      an array's: the index), which the
 *                                      name of a long key does not show
 *               user.shmtab.bindings   the number of bindings, in decimal
 *                                      (an array's unset element: 0)
 *               user.shmtab.binding.N  the Nth binding's value, 0 = newest,
 *                                      as text in a typed table
 *   table dir:  user.shmtab.stat       the table's statistics, as text, with
 *                                      its kind, types and array length
 *               user.shmtab.key_type   the key type's name ("bytes", "int64",
 *               user.shmtab.value_type "pair(string,int64)", ...)
 *               user.shmtab.array      an array's length in decimal;
 *                                      ENODATA on a hash table
 *               user.shmtab.default    the text an array's unset element
 *                                      reads as; ENODATA on a hash table
 * The last four are how a table is typed through the mount (mkdir, then
 * setfattr); they change the schema with shmtab_set_schema, which the
 * library allows only while the table has no bindings (else ENOTEMPTY):
 *   key_type, value_type  set: the type (canonical or not; one trailing
 *                         newline dropped); remove: back to bytes.  A new
 *                         value type resets an array's default to its zero;
 *                         an array's key type is int64 and stays so
 *   array                 set N on a hash table: an array of length N with
 *                         the same value type; on an array: resize (allowed
 *                         with bindings: shrinking drops the elements past
 *                         the end); remove: back to a hash table
 *   default               set: the text of the new default (arrays only,
 *                         else EINVAL); remove: back to the zero value
 * Setting what an attribute already holds succeeds and changes nothing.
 * user.shmtab.stat and the key files' attributes are read-only (ENOTSUP).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
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

/* Caller holds tb->mu and tb->t is open; obj: the object as this request
 * already saw it, or NULL. */
static int object_attr(struct fs_table *tb, const struct fs_obj *obj,
		       struct stat *st)
{
	struct stat o;
	int err;

	if (obj && obj->ok) {
		o = obj->st;
	} else {
		err = fs_table_obj_stat(tb, &o);
		if (err < 0)
			return err;
	}
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

int fs_attr_table_obj(struct fs_table *tb, fuse_ino_t ino,
		      const struct fs_obj *obj, struct stat *st)
{
	long long n;
	int err;

	pthread_mutex_lock(&tb->mu);
	err = tb->t ? object_attr(tb, obj, st) : -ENOENT;
	if (err == 0) {
		st->st_ino = ino;
		st->st_mode = S_IFDIR | dir_perm(st->st_mode);
		st->st_nlink = 2;
		/* the bindings; an array's length (its entries) */
		n = shmtab_array_length(tb->t);
		if (n < 0)
			n = shmtab_length(tb->t);
		st->st_size = n > 0 ? n : 0;
	}
	pthread_mutex_unlock(&tb->mu);
	return err;
}

int fs_attr_table(struct fs_table *tb, fuse_ino_t ino, struct stat *st)
{
	return fs_attr_table_obj(tb, ino, NULL, st);
}

int fs_attr_key_obj(struct fs_table *tb, const void *key, size_t klen,
		    fuse_ino_t ino, const struct fs_obj *obj, struct stat *st)
{
	struct fs_types ty;
	size_t vlen = 0;
	uint64_t pinned;
	int err;

	pthread_mutex_lock(&tb->mu);
	err = tb->t ? fs_types_get(tb->t, &ty) : -ENOENT;
	if (err == 0)
		err = fs_value_size(tb->t, &ty, key, klen, &vlen);
	if (err == 0)
		err = object_attr(tb, obj, st);
	if (err == 0) {
		st->st_ino = ino;
		st->st_mode = S_IFREG | (st->st_mode & 0666);
		st->st_nlink = 1;
		/* an older version's inode: as a file a new one was renamed
		 * over, with that version's length */
		if (fs_key_pinned(tb, ino, &pinned)) {
			st->st_nlink = 0;
			vlen = pinned;
		}
		st->st_size = (off_t)vlen;
		st->st_blocks = (blkcnt_t)((vlen + 511) / 512);
		fs_node_note_attr(ino, st);
	}
	pthread_mutex_unlock(&tb->mu);
	return err;
}

int fs_attr_key(struct fs_table *tb, const void *key, size_t klen,
		fuse_ino_t ino, struct stat *st)
{
	return fs_attr_key_obj(tb, key, klen, ino, NULL, st);
}

void fs_fill_entry(struct fuse_entry_param *e, fuse_ino_t ino,
		   const struct stat *st, double entry_timeout,
		   double attr_timeout)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = 0;
	e->attr = *st;
	e->attr.st_ino = ino;
	e->attr_timeout = attr_timeout;
	e->entry_timeout = entry_timeout;
}

/* Attributes of any inode. */
static int attr_of(fuse_ino_t ino, struct fs_table **tbp, struct stat *st,
		   double *timeout)
{
	struct fs_obj obj = { false };
	struct fs_table *tb;
	void *key;
	size_t klen;
	bool is_dir;
	int err = fs_resolve_obj(ino, &tb, &key, &klen, &is_dir, &obj);

	*tbp = tb;
	*timeout = fs_state.cache;
	if (err == -ENOENT && tb && !is_dir)
		/* removed or replaced through the mount: an unlinked file,
		 * which its open files still fstat(2) */
		return fs_node_attr_detached(ino, false, st);
	if (err < 0)
		return err;
	if (!tb) {
		err = fs_attr_root(st);
		if (*timeout < FS_ROOT_ATTR_TIMEOUT)
			*timeout = FS_ROOT_ATTR_TIMEOUT;
	} else if (is_dir)
		err = fs_attr_table_obj(tb, ino, &obj, st);
	else
		err = fs_attr_key(tb, key, klen, ino, st);
	if (err == -ENOENT && tb && !is_dir && fs_file_open_ino(ino))
		/* the key (or its table) went behind the mount: to the files
		 * still open on it, an unlinked file as well */
		err = fs_node_attr_detached(ino, true, st);
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
	pthread_mutex_lock(&tb->obj_mu);
	tb->obj_at = 0;	/* a read-only handle moves no generation */
	pthread_mutex_unlock(&tb->obj_mu);
	pthread_mutex_unlock(&tb->mu);
	return err;
}

/*
 * Keys have no own owner or mode: they show their table's.  A key cannot
 * be more private than its table, so a mode that takes a bit away is
 * refused; one that only adds bits, and an owner or group, are the table's
 * to give: accepted, changing nothing.  cp -p, rsync -a, and cp -a or mv of
 * a whole directory (which copy into a table made 0700 first and give it
 * its mode last) work.
 */
static int setattr_key(struct fs_table *tb, const void *key, size_t klen,
		       fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi, pid_t pid)
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
		    (cur.st_mode & 07777 & ~attr->st_mode))
			return -EPERM;
	}
	if (!(to_set & FUSE_SET_ATTR_SIZE))
		return 0;
	if (attr->st_size < 0)
		return -EINVAL;
	if (fi)
		return fs_file_truncate(fi, attr->st_size, pid);
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
	pid_t pid = fuse_req_ctx(req)->pid;	/* who truncates */
	int err = fs_resolve(ino, &tb, &key, &klen, &is_dir);

	if (err == -ENOENT && fi && (to_set & FUSE_SET_ATTR_SIZE) &&
	    fs_node_attr_detached(ino, false, &st) == 0) {
		/* ftruncate(2) of an open file of a key removed or replaced
		 * through the mount: an unlinked file, its own buffer */
		err = attr->st_size < 0 ? -EINVAL :
					  fs_file_truncate(fi, attr->st_size, pid);
		if (err == 0 && fs_node_attr_detached(ino, false, &st) == 0)
			fuse_reply_attr(req, &st, fs_state.cache);
		else
			fuse_reply_err(req, err < 0 ? -err : ENOENT);
		return;
	}
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	if (!tb)
		err = (to_set & ~TIMES) ? -EPERM : 0;
	else if (is_dir)
		err = setattr_table(tb, attr, to_set);
	else
		err = setattr_key(tb, key, klen, ino, attr, to_set, fi, pid);
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
	const struct fs_types *ty;
	int err;
};

static int nth_binding(const void *key, size_t klen, const void *val,
		       size_t vlen, void *ctx)
{
	struct nth_ctx *c = ctx;
	char *text;
	size_t tlen;

	(void)key;
	(void)klen;
	if (c->out && c->seen == c->want) {
		c->err = fs_value_text(c->ty, val, vlen, &text, &tlen);
		if (c->err == 0) {
			text_add(c->out, text, tlen);
			free(text);
		}
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
static int xattr_table_stat(struct fs_table *tb, const struct fs_types *ty,
			    struct text *out)
{
	struct shmtab_stat s;
	int err = shmtab_stat(tb->t, &s);
	long long len = ty->array ? shmtab_array_length(tb->t) : 0;

	if (err < 0)
		return err;
	if (len < 0)
		return (int)len;
	text_printf(out, "name: %s\n", tb->libname);
	text_printf(out, "kind: %s\n", ty->array ? "array" : "hash");
	text_printf(out, "key_type: %s\n", ty->ktype);
	text_printf(out, "value_type: %s\n", ty->vtype);
	if (ty->array)
		text_printf(out, "length: %lld\n", len);
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

/* An array's default, as the text an unset element reads as. */
static int xattr_default(struct fs_table *tb, const struct fs_types *ty,
			 struct text *out)
{
	struct shmtab_schema s;
	char *text;
	void *enc;
	size_t elen, tlen;
	int err = shmtab_get_schema(tb->t, &s);

	if (err < 0)
		return err;
	if (!s.dflt)
		return -ENODATA;
	err = shmtab_encode(s.dflt, &enc, &elen);
	if (err < 0)
		return err;
	err = fs_value_text(ty, enc, elen, &text, &tlen);
	free(enc);
	if (err < 0)
		return err;
	text_add(out, text, tlen);
	free(text);
	return out->err;
}

/* A table directory's attribute.  Caller holds tb->mu, tb->t open. */
static int xattr_table_get(struct fs_table *tb, const char *sub,
			   struct text *out)
{
	struct fs_types ty;
	long long len;
	int err = fs_types_get(tb->t, &ty);

	if (err < 0)
		return err;
	if (!strcmp(sub, "stat"))
		return xattr_table_stat(tb, &ty, out);
	if (!strcmp(sub, "key_type")) {
		text_add(out, ty.ktype, strlen(ty.ktype));
		return out->err;
	}
	if (!strcmp(sub, "value_type")) {
		text_add(out, ty.vtype, strlen(ty.vtype));
		return out->err;
	}
	if (!ty.array || (strcmp(sub, "array") && strcmp(sub, "default")))
		return -ENODATA;
	if (!strcmp(sub, "default"))
		return xattr_default(tb, &ty, out);
	len = shmtab_array_length(tb->t);
	if (len < 0)
		return (int)len;
	text_printf(out, "%lld", len);
	return out->err;
}

/* A key file's key: its bytes, in a typed table its text (an array: the
 * index), which a long key's name (escape.h) does not show. */
static int xattr_key(struct fs_table *tb, const struct fs_types *ty,
		     const void *key, size_t klen, struct text *out)
{
	char *text;
	size_t tlen;
	int err = fs_key_exists(tb->t, ty, key, klen);

	if (err <= 0)
		return err < 0 ? err : -ENOENT;
	if (ty->array) {
		text_printf(out, "%" PRId64, fs_key_index(key, klen));
		return out->err;
	}
	if (!ty->typed || ty->kplain) {
		text_add(out, key, klen);
		return out->err;
	}
	err = shmtab_format(ty->ktype, key, klen, &text, &tlen);
	if (err < 0)
		return err;
	if (tlen && text[tlen - 1] == '\n')
		tlen--;
	text_add(out, text, tlen);
	free(text);
	return out->err;
}

/* The value of xattr name into out, or -ENODATA. */
static int xattr_get(struct fs_table *tb, const void *key, size_t klen,
		     bool is_dir, const char *name, struct text *out)
{
	const char *sub;
	struct fs_types ty;
	struct nth_ctx c = { 0, 0, NULL, &ty, 0 };
	char *end;
	int err;

	if (!tb || strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0)
		return -ENODATA;
	sub = name + strlen(XATTR_PREFIX);
	if (is_dir)
		return xattr_table_get(tb, sub, out);
	err = fs_types_get(tb->t, &ty);
	if (err < 0)
		return err;
	if (!strcmp(sub, "key"))
		return xattr_key(tb, &ty, key, klen, out);
	if (!strcmp(sub, "bindings")) {
		err = shmtab_find_all(tb->t, key, klen, nth_binding, &c);
		if (err < 0)
			return err;
		/* an array's unset element has none, and exists */
		if (c.seen == 0 &&
		    (err = fs_key_exists(tb->t, &ty, key, klen)) <= 0)
			return err < 0 ? err : -ENOENT;
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
	if (c.err < 0)
		return c.err;
	if (c.seen <= c.want)
		return -ENODATA;
	return out->err;
}

#define XATTR_NAME(s) XATTR_PREFIX s, sizeof(XATTR_PREFIX s)

static int xattr_list(struct fs_table *tb, const void *key, size_t klen,
		      bool is_dir, struct text *out)
{
	struct nth_ctx c = { 0, 0, NULL, NULL, 0 };
	unsigned long i;
	int err;

	if (!tb)
		return 0;
	if (is_dir) {
		text_add(out, XATTR_NAME("stat"));
		text_add(out, XATTR_NAME("key_type"));
		text_add(out, XATTR_NAME("value_type"));
		if (shmtab_array_length(tb->t) >= 0) {
			text_add(out, XATTR_NAME("array"));
			text_add(out, XATTR_NAME("default"));
		}
		return out->err;
	}
	err = shmtab_find_all(tb->t, key, klen, nth_binding, &c);
	if (err < 0)
		return err;
	text_add(out, XATTR_NAME("key"));
	text_add(out, XATTR_NAME("bindings"));
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

	/* other names are answered before any lookup: the namespaces
	 * other than user. are not supported at all, which ls -l (it asks
	 * for security.selinux and the ACL of every file) takes as a reason
	 * to stop asking for the rest of the mount */
	if (name && strncmp(name, "user.", 5) != 0) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
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

/* --- typing a table through its attributes ---------------------------- */

struct schema_ctx {
	const struct shmtab_schema *s;
	long long len;
};

/* The new schema, and an array's length back (set_schema empties it). */
static int schema_group(shmtab *t, void *ctx)
{
	struct schema_ctx *c = ctx;
	int err = shmtab_set_schema(t, c->s);

	if (err == 0 && c->s->kind == SHMTAB_KIND_ARRAY && c->len > 0)
		err = shmtab_array_resize(t, c->len);
	return err;
}

/* An attribute's value as a word: one trailing newline dropped. */
static int xattr_word(const char *value, size_t size, char *buf, size_t cap)
{
	if (size && value[size - 1] == '\n')
		size--;
	if (size >= cap || memchr(value, '\0', size))
		return -EINVAL;
	memcpy(buf, value, size);
	buf[size] = '\0';
	return 0;
}

/* A length: decimal digits, within int64. */
static int xattr_length(const char *word, long long *n)
{
	const char *p = word;

	*n = 0;
	if (!*p)
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || *n > (LLONG_MAX - (*p - '0')) / 10)
			return -EINVAL;
		*n = *n * 10 + (*p - '0');
	}
	return 0;
}

/* The default an attribute's text stands for; *dv malloc'd.  1 when it is
 * the current one. */
static int xattr_parse_default(shmtab *t, const struct fs_types *ty,
			       const char *value, size_t size,
			       struct shmtab_value **dv)
{
	struct shmtab_schema cur;
	void *enc, *old = NULL;
	size_t elen, olen = 0;
	int err;

	if (!ty->typed || ty->vplain) {
		enc = malloc(size ? size : 1);
		if (!enc)
			return -ENOMEM;
		memcpy(enc, value, size);
		elen = size;
	} else {
		err = shmtab_parse(ty->vtype, value, size, &enc, &elen);
		if (err < 0)
			return err;
	}
	err = shmtab_decode(ty->vtype, enc, elen, dv);
	if (err == 0)
		err = shmtab_get_schema(t, &cur);
	if (err == 0 && cur.dflt)
		err = shmtab_encode(cur.dflt, &old, &olen);
	if (err == 0 && old && olen == elen && !memcmp(old, enc, elen))
		err = 1;
	free(old);
	free(enc);
	if (err < 0) {
		free(*dv);
		*dv = NULL;
	}
	return err;
}

/*
 * Set (value non-NULL) or remove one of a table's schema attributes.
 * Caller holds tb->mu, tb->t open read-write.  Setting what is already
 * there changes nothing and succeeds, also on a table with bindings.
 */
static int xattr_table_set(struct fs_table *tb, const char *sub,
			   const char *value, size_t size, int flags)
{
	char word[FS_TYPE_NAME_MAX], canon[FS_TYPE_NAME_MAX];
	struct shmtab_value *dv = NULL;
	struct shmtab_schema s;
	struct schema_ctx c = { &s, 0 };
	struct fs_types ty;
	bool is_type, exists;
	long long n = 0;
	int err = fs_types_get(tb->t, &ty);

	if (err < 0)
		return err;
	is_type = !strcmp(sub, "key_type") || !strcmp(sub, "value_type");
	if (!is_type && strcmp(sub, "array") && strcmp(sub, "default"))
		return -ENOTSUP;	/* stat: read-only */
	exists = is_type || ty.array;
	if (!value && !exists)
		return -ENODATA;
	if ((flags & XATTR_CREATE) && exists)
		return -EEXIST;
	if ((flags & XATTR_REPLACE) && !exists)
		return -ENODATA;
	if (ty.array) {
		c.len = shmtab_array_length(tb->t);
		if (c.len < 0)
			return (int)c.len;
	}
	memset(&s, 0, sizeof(s));
	s.kind = ty.array ? SHMTAB_KIND_ARRAY : SHMTAB_KIND_HASH;
	s.key_type = ty.array ? NULL : ty.ktype;
	s.value_type = ty.vtype;
	/* s.dflt NULL: the zero of the value type */

	if (is_type) {
		err = value ? xattr_word(value, size, word, sizeof(word)) : 0;
		if (err == 0)
			err = shmtab_type_name(value ? word : "bytes", canon,
					       sizeof(canon));
		if (err < 0)
			return -EINVAL;
		if (!strcmp(canon, sub[0] == 'k' ? ty.ktype : ty.vtype))
			return 0;
		if (sub[0] == 'k' && ty.array)
			return -EINVAL;	/* an array's keys are indexes */
		if (sub[0] == 'k')
			s.key_type = canon;
		else
			s.value_type = canon;
	} else if (!strcmp(sub, "array")) {
		if (!value) {
			/* back to a hash table */
			s.kind = SHMTAB_KIND_HASH;
		} else {
			err = xattr_word(value, size, word, sizeof(word));
			if (err == 0)
				err = xattr_length(word, &n);
			if (err < 0)
				return err;
			if (ty.array)
				return shmtab_array_resize(tb->t, n);
			s.kind = SHMTAB_KIND_ARRAY;
			s.key_type = NULL;
			c.len = n;
		}
	} else if (!ty.array) {
		return -EINVAL;		/* a hash table has no default */
	} else if (value) {
		err = xattr_parse_default(tb->t, &ty, value, size, &dv);
		if (err != 0)
			return err < 0 ? err : 0;
		s.dflt = dv;
	}
	err = fs_group(tb->t, schema_group, &c);
	free(dv);
	return err;
}

static void xattr_change(fuse_req_t req, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags)
{
	struct fs_table *tb;
	void *key;
	size_t klen;
	bool is_dir;
	int err;

	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	err = fs_resolve(ino, &tb, &key, &klen, &is_dir);
	if (err < 0) {
		fuse_reply_err(req, -err);
		return;
	}
	free(key);
	if (!tb || !is_dir) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	pthread_mutex_lock(&tb->mu);
	if (!tb->t)
		err = -ENOENT;
	else if (fs_state.ro)
		err = -EROFS;
	else if (tb->rdonly)
		err = -EACCES;
	else
		err = xattr_table_set(tb, name + strlen(XATTR_PREFIX), value,
				      size, flags);
	pthread_mutex_unlock(&tb->mu);
	fuse_reply_err(req, fs_err(tb, err));
}

void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	xattr_change(req, ino, name, value ? value : "", size, flags);
}

void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	xattr_change(req, ino, name, NULL, 0, 0);
}
