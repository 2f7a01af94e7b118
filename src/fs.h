/* SPDX-License-Identifier: MIT */
/*
 * fs.h - shmtabfs internals shared by shmtabfs.c and the fs-*.c files
 *
 * The mount is a two-level tree.  Inode 1 is the root; its entries are the
 * tables of SOURCE (a directory of table files, or the POSIX namespace under
 * a prefix).  A table directory's entries are its keys, escaped (escape.h);
 * in a typed table names and values are texts, and an array's entries are
 * its indexes (fs-typed.c).
 *
 * Objects:
 *  - struct fs_table: one table seen under the root.  It keeps a library
 *    handle open for the life of the mount (or until the table is removed or
 *    replaced behind the mount).  A handle may be used by one thread at a
 *    time, so every library call on it runs under tb->mu.  A table struct is
 *    never freed while the mount runs (nodes and open files point to it); a
 *    removed table keeps its struct with tb->t == NULL ("gone").
 *  - struct fs_node: an inode the kernel knows, keyed by (table, key) for key
 *    files and by (table, dir) for table directories, with the kernel's
 *    lookup count; freed when FORGET brings the count to zero.  Inode
 *    numbers are never reused within a mount, so the generation is 0.  A
 *    key's node follows a rename, as a file system's inode does (the
 *    kernel moves its dentry to the new name and keeps the inode): it
 *    then stands for the target key, and the target's own node, if any,
 *    is detached, like an unlinked file's inode (fs_node_rename); so is
 *    the node of a key removed through the mount (fs_node_unlinked).  An
 *    open file follows its node: it publishes to the key the node stands
 *    for at that moment, and nowhere once the node is detached.  In the
 *    cached mode a node whose files read an older version of the key
 *    through the page cache is superseded when the key changes: no lookup
 *    finds it any more (the name gets a new node), and it keeps that
 *    version's size for its files (fs_node_supersede).  A
 *    table directory's inode stands for the table's name: fs_resolve() gives
 *    the table called so when the request comes (the kernel may keep a
 *    table's name, see FS_TABLE_ENTRY_TIMEOUT).
 *
 * Lock order: tb->mu, then fs->mu.  fs->mu (node map, table list) is a leaf
 * lock held for a few instructions: nothing waits for a table lock or calls
 * the library while holding it.  tb->obj_mu (the kept stat of the table's
 * object, fs-dir.c) is a leaf too, taken with or without tb->mu.
 */
#ifndef SHMTABFS_FS_H
#define SHMTABFS_FS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "shmtab-hooks.h"
#include "shmtab.h"

#define PACKAGE_PROG "shmtabfs"

/*
 * What the strict mode lets the kernel keep (the cached mode keeps these for
 * the larger of them and -o cache):
 *  - a table directory's name in the root, FS_TABLE_ENTRY_TIMEOUT seconds.
 *    Its inode stands for the name, not for one object (fs_resolve finds the
 *    table called so at each request), so a kept name never reaches a
 *    removed or replaced table: a table recreated behind the mount is seen
 *    at once, a removed one answers ENOENT.  Its attributes (mode, owner,
 *    size) are not kept; absent names are never kept, and mkdir and an
 *    O_EXCL create ask again anyway (the kernel revalidates for them).
 *  - the root's attributes (SOURCE's owner and mode), FS_ROOT_ATTR_TIMEOUT.
 * Each saves a request on every path walk.
 */
#define FS_TABLE_ENTRY_TIMEOUT 1.0
#define FS_ROOT_ATTR_TIMEOUT 1.0

/*
 * How long the daemon keeps a stat(2) of a table's object (its identity,
 * mode and owner), in nanoseconds.  A path walk and an open ask for the
 * object three times within microseconds; a stat is as dear as a tenth of a
 * request here.  A stat is kept only while the object's generation
 * (shmtab__obj_gen) stays, which shmtab_chmod, shmtab_chown and
 * shmtab_unlink move: a change through the library is seen at once, one
 * made without it (chmod(1), rm(1) in SOURCE) within this bound.
 */
#define FS_OBJ_KEEP_NS 1000000ull

/* readdir's d_ino for a name the kernel has not looked up */
#ifndef FUSE_UNKNOWN_INO
#define FUSE_UNKNOWN_INO 0xffffffff
#endif

struct fs_table {
	struct fs_table *next;		/* fs->tables list (live ones) */
	struct fs_table *all_next;	/* fs->all list (every one, to free) */
	char *name;			/* name under the mount root */
	char *libname;			/* file:/abs/NAME, posix:/PREFIXNAME */
	char *objpath;			/* the object on disk, for stat */
	dev_t dev;			/* identity of the object at open */
	ino_t ino;
	pthread_mutex_t mu;		/* guards everything below */
	shmtab *t;			/* NULL once gone */
	shmtab *old_t;			/* t once gone, while files still read
					 * values pinned in it (fs-file.c) */
	int npinned;			/* such files */
	bool rdonly;			/* handle opened O_RDONLY */
	uint64_t counter;		/* last shmtab_counter() seen */
	struct timespec changed;	/* when the counter was seen to move */
	uint64_t feed_since;		/* the watcher's place in the feed */
	uint64_t inval_upto;		/* cached mode: every change before
					 * this count has been invalidated in
					 * the kernel (atomic; fs-watch.c) */
	uint64_t resync_want;		/* cached mode: asks the watcher to
					 * invalidate every key (atomic) */
	uint64_t resync_done;		/* the last ask it served (atomic) */
	bool untold;			/* cached mode: a request superseded a
					 * node whose name the kernel may still
					 * hold (atomic; fs_node_supersede) */
	pthread_mutex_t obj_mu;		/* a leaf lock: guards the three
					 * below; t is cleared under both mu
					 * and obj_mu, so either keeps it */
	struct stat obj_st;		/* the object as a request saw it, */
	uint64_t obj_at;		/* when (CLOCK_MONOTONIC ns; 0: none) */
	uint64_t obj_gen;		/* and shmtab__obj_gen() before it */
	struct stat seen;		/* the object, as the watcher saw it */
	bool seen_gone;
	bool damaged_logged;
	int open_err;			/* a broken table: why it did not open
					 * (t NULL; fs-dir.c) */
	struct fs_longs *longs;		/* long names seen (fs-longs.c) */
};

/*
 * A table's object as one request saw it: fs_table_get_obj() stats the
 * object to know it is still the table's, and the attributes built later in
 * the same request use that stat instead of asking again (a stat is a few
 * microseconds here, a tenth of a request).  ok false: not seen yet.
 */
struct fs_obj {
	bool ok;
	struct stat st;
};

/*
 * The cached mode's record of a key's value, for the page cache
 * (fs-file.c).  Guarded by the table's tb->mu.  A version is a count of
 * the table's change counter: the value last changed before it.
 */
struct fs_vstate {
	bool known;			/* seen, ver and lhash are set */
	bool paged;			/* the kernel may hold pages of page_ver */
	uint64_t lhash;			/* shmtab_key_hash of the key */
	uint64_t seen;			/* the change counter checked up to */
	uint64_t ver;			/* the value's version */
	uint64_t page_ver;
	uint64_t page_len;		/* the length of page_ver's value */
	uint64_t drop_ver;		/* a drop of the pages was asked for */
	uint64_t drop_req;		/* at this version, by this request */
	unsigned int readers;		/* open files reading through the
					 * page cache (all of page_ver) */
};

struct fs_node {
	struct fs_node *next_ino;	/* chain in the by-ino map */
	struct fs_node *next_key;	/* chain in the by-key map */
	fuse_ino_t ino;
	uint64_t nlookup;
	struct fs_table *tb;
	bool is_dir;			/* a table directory */
	bool detached;			/* names no key any more: removed
					 * through the mount, or the target
					 * of a rename (fs_node_rename) */
	bool superseded;		/* cached mode: keeps an older version
					 * for the files that read it through
					 * the page cache (fs_node_supersede);
					 * set under tb->mu and fs->mu */
	bool untold;			/* ...by a request: the watcher has yet
					 * to drop its name (under fs->mu) */
	unsigned int writers;		/* open writable files (atomic) */
	uint64_t khash;
	struct fs_vstate v;		/* key files, cached mode */
	/* key files: what GETATTR answers once detached, for the open
	 * files of an unlinked inode (fs_node_attr_detached) */
	bool attr_known;		/* the attributes last given the */
	mode_t mode;			/* kernel, under fs->mu */
	uid_t uid;
	gid_t gid;
	struct timespec mtim, ctim;
	uint64_t asize;
	uint64_t fsize;			/* the length of the open file that
					 * was opened, written or truncated
					 * last, plus one; 0: none (atomic) */
	size_t klen;
	unsigned char *key;		/* changes with a rename: read it
					 * under fs->mu or the table's mu */
};

enum fs_source {
	FS_SOURCE_DIR,
	FS_SOURCE_POSIX,
};

struct fs {
	enum fs_source source;
	char *srcdir;			/* absolute SOURCE, or "/dev/shm" */
	char *prefix;			/* posix:PREFIX, "" for posix: */
	bool ro;
	bool foreground;
	bool debug;
	double cache;			/* -o cache=SECONDS; 0: strict */
	bool watching;
	struct fuse_session *se;
	int stopping;			/* the loop ended (atomic): lock waits
					 * give up (shmtabfs.c) */

	pthread_mutex_t mu;
	struct fs_table *tables;
	struct fs_table *all;
	struct fs_node **by_ino;
	struct fs_node **by_key;
	size_t nbuckets;
	size_t nnodes;
	fuse_ino_t next_ino;
};

extern struct fs fs_state;

/* fs-ops.c */
extern const struct fuse_lowlevel_ops fs_ops;
void fs_log(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void fs_lib_log(int level, const char *msg, void *ctx);
int fs_err(struct fs_table *tb, int err);
bool fs_req_interrupted(void);
int fs_nodes_init(void);
struct fs_node *fs_node_get(fuse_ino_t ino);
int fs_node_ref(struct fs_table *tb, bool is_dir, const void *key,
		size_t klen, fuse_ino_t *ino);
fuse_ino_t fs_node_peek(struct fs_table *tb, const void *key, size_t klen);
void fs_node_rename(struct fs_table *tb, const void *from, size_t flen,
		    struct fs_table *tb2, unsigned char *to, size_t tlen);
void fs_node_unlinked(struct fs_table *tb, const void *key, size_t klen);
bool fs_node_supersede(struct fs_node *nd);
bool fs_node_supersede_ino(struct fs_table *tb, fuse_ino_t ino);
int fs_node_lock(struct fs_node *nd, struct fs_table **tb);
void fs_node_note_attr(fuse_ino_t ino, const struct stat *st);
void fs_node_note_size(struct fs_node *nd, size_t size);
int fs_node_attr_detached(fuse_ino_t ino, bool any, struct stat *st);
bool fs_node_in(struct fs_node *nd, struct fs_table *tb);
void fs_node_forget(fuse_ino_t ino, uint64_t n);
void fs_nodes_free(void);
int fs_resolve(fuse_ino_t ino, struct fs_table **tb, void **key, size_t *klen,
	       bool *is_dir);
int fs_resolve_obj(fuse_ino_t ino, struct fs_table **tb, void **key,
		   size_t *klen, bool *is_dir, struct fs_obj *obj);
void fs_table_touch(struct fs_table *tb);

/* fs-dir.c */
int fs_table_get(const char *name, struct fs_table **out);
int fs_table_obj_stat(struct fs_table *tb, struct stat *st);
int fs_table_get_obj(const char *name, struct fs_table **out,
		     struct fs_obj *obj);
int fs_table_name_ok(const char *name);
void fs_tables_free(void);
void fs_root_lookup(fuse_req_t req, const char *name);
void fs_root_readdir_open(fuse_req_t req, struct fuse_file_info *fi);
void fs_table_readdir_open(fuse_req_t req, struct fs_table *tb,
			   struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode);
void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_dirs_free(void);

/* fs-file.c */
void fs_key_lookup(fuse_req_t req, struct fs_table *tb, const char *name,
		   const struct fs_obj *obj);
void fs_files_free(void);
void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi);
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
int fs_file_truncate(struct fuse_file_info *fi, off_t size, pid_t pid);
bool fs_file_open_ino(fuse_ino_t ino);
bool fs_key_pinned(struct fs_table *tb, fuse_ino_t ino, uint64_t *size);
bool fs_key_moved_on(struct fs_table *tb, struct fs_node *cp);
int fs_key_truncate(struct fs_table *tb, const void *key, size_t klen,
		    off_t size);
void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags);

/* fs-attr.c */
int fs_attr_root(struct stat *st);
int fs_attr_table(struct fs_table *tb, fuse_ino_t ino, struct stat *st);
int fs_attr_table_obj(struct fs_table *tb, fuse_ino_t ino,
		      const struct fs_obj *obj, struct stat *st);
int fs_attr_key_obj(struct fs_table *tb, const void *key, size_t klen,
		    fuse_ino_t ino, const struct fs_obj *obj, struct stat *st);
int fs_attr_key(struct fs_table *tb, const void *key, size_t klen,
		fuse_ino_t ino, struct stat *st);
void fs_fill_entry(struct fuse_entry_param *e, fuse_ino_t ino,
		   const struct stat *st, double entry_timeout,
		   double attr_timeout);
void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi);
void fs_statfs(fuse_req_t req, fuse_ino_t ino);
void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 size_t size);
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags);
void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* fs-typed.c: the view of typed tables; caller holds tb->mu (or runs in
 * a group on tb->t) with a struct fs_types read in the same section */
#define FS_TYPE_NAME_MAX 320
/* room for the key a name stands for (a typed key's encoding may be longer
 * than its name; a long key's name, escape.h, may stand for a key of any
 * length: longer ones give ENAMETOOLONG, see shmtabfs(1) BUGS) */
#define FS_KEY_CAP 65536

struct fs_types {
	bool typed;			/* not a hash table of bytes to bytes */
	bool array;			/* keys are int64 indexes */
	bool kplain;			/* key type bytes or string */
	bool vplain;			/* value type bytes or string */
	bool vint;			/* value type int32, int64 or int */
	char ktype[FS_TYPE_NAME_MAX];	/* canonical type names */
	char vtype[FS_TYPE_NAME_MAX];
};

int fs_types_get(shmtab *t, struct fs_types *ty);
int fs_name_key(struct fs_table *tb, const struct fs_types *ty,
		const char *name, unsigned char *key, size_t cap, size_t *klen);
ssize_t fs_key_name(const struct fs_types *ty, const void *key, size_t klen,
		    char *name, size_t cap);
int64_t fs_key_index(const void *key, size_t klen);
int fs_key_exists(shmtab *t, const struct fs_types *ty, const void *key,
		  size_t klen);
int fs_value_get(shmtab *t, const struct fs_types *ty, const void *key,
		 size_t klen, void **val, size_t *vlen);
int fs_value_size(shmtab *t, const struct fs_types *ty, const void *key,
		  size_t klen, size_t *size);
int fs_value_put(shmtab *t, const struct fs_types *ty, const void *key,
		 size_t klen, const void *val, size_t vlen);
int fs_value_text(const struct fs_types *ty, const void *raw, size_t rlen,
		  char **text, size_t *tlen);
int fs_value_zero(const struct fs_types *ty, void **enc, size_t *len);
int fs_deltas_sum(const char *text, size_t len, int64_t *sum);
int fs_value_add(shmtab *t, const struct fs_types *ty, const void *key,
		 size_t klen, int64_t delta);
int fs_group(shmtab *t, int (*fn)(shmtab *t, void *ctx), void *ctx);

/* fs-longs.c: the keys of long names (escape.h); tb->mu held */
int fs_longs_find(struct fs_table *tb, const struct fs_types *ty,
		  const char *name, unsigned char *key, size_t cap,
		  size_t *klen);
void fs_longs_note(struct fs_table *tb, const struct fs_types *ty,
		   const char *name, const void *key, size_t klen);
void fs_longs_free(struct fs_table *tb);

/* fs-loop.c */
int fs_loop_run(struct fuse_session *se, unsigned int max_threads);

/* fs-watch.c */
int fs_watch_start(void);
void fs_watch_stop(void);
void fs_watch_resync(struct fs_table *tb);
bool fs_watch_settled(struct fs_table *tb, uint64_t ver);
uint64_t fs_watch_drop(fuse_ino_t ino);
bool fs_watch_dropped(uint64_t r);

#endif /* SHMTABFS_FS_H */
