/* SPDX-License-Identifier: MIT */
/*
 * fuse-floor.c - the floor of the file view: FUSE with nothing behind it
 *
 *   bench/fuse-floor [-f] [-s] [-d] [-o OPT[,OPT..]] [--no-perm] SOURCE MNT
 *
 * A minimal in-memory libfuse3 low-level server, the reference bench/fsview
 * measures shmtabfs's strict mode against, as bench/engine measures the
 * engine against an in-process malloc table.  At start it copies SOURCE, a
 * directory of directories of regular files (fsview's tmpfs data: keys/,
 * new/, misc/), into memory and serves it with exactly the settings of
 * shmtabfs's strict mode, so that the kernel sends it the same requests:
 *  - default_permissions (--no-perm leaves it out: the kernel then asks for
 *    no attributes to check a path walk or an open, as a server that checks
 *    permissions itself would see);
 *  - entry and attribute timeouts 0 for files, attribute timeout 0 and
 *    entry timeout 1 s for the directories under the root (FS_TABLE_ENTRY_
 *    TIMEOUT), attribute timeout 1 s for the root (FS_ROOT_ATTR_TIMEOUT);
 *    negative entries are never kept;
 *  - ATOMIC_O_TRUNC on, writeback cache and readdirplus off (op_init);
 *  - direct_io on every open, noflush on read-only ones, no keep_cache;
 *  - xattrs: EOPNOTSUPP outside user., ENODATA in it, an empty list;
 *  - a write open gets its own buffer (empty with O_TRUNC, else a copy),
 *    published at the first FLUSH that follows data, or at RELEASE.
 * What it does per request is the least such a server can do: an array
 * indexed by inode, one hash of (directory, name) for lookups, no locks,
 * one thread (fuse_session_loop).  Inodes are never freed (FORGET is a no-op),
 * a removed file's node stays, unlinked.  Not a file system: a bench tool,
 * never installed, with no protection against a second writer.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define TABLE_ENTRY_TIMEOUT 1.0		/* shmtabfs: FS_TABLE_ENTRY_TIMEOUT */
#define ROOT_ATTR_TIMEOUT 1.0		/* shmtabfs: FS_ROOT_ATTR_TIMEOUT */

struct node {
	char *name;
	fuse_ino_t parent;
	fuse_ino_t next;		/* chain in names[] */
	bool dir;
	bool gone;			/* unlinked */
	struct stat st;			/* mode, owner, times; size = len */
	char *data;			/* a file's bytes */
	size_t len;
	fuse_ino_t *kids;		/* a directory's entries */
	size_t nkids, capkids;
};

static struct node *nodes;		/* [ino]; 0 unused, 1 the root */
static size_t nnodes, capnodes;

#define NBUCKETS ((size_t)1 << 16)
static fuse_ino_t names[NBUCKETS];	/* (parent, name) -> first ino */

static size_t name_hash(fuse_ino_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ parent;

	for (; *name; name++) {
		h ^= (unsigned char)*name;
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 32)) & (NBUCKETS - 1);
}

struct fh {
	fuse_ino_t ino;
	bool writable, armed, pending;
	bool moved;			/* buf became the file's data */
	char *buf;
	size_t len, cap;
};

static void die(const char *what)
{
	fprintf(stderr, "fuse-floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static fuse_ino_t node_new(fuse_ino_t parent, const char *name, bool dir,
			   const struct stat *st)
{
	struct node *n, *p;

	if (nnodes == capnodes) {
		capnodes = capnodes ? capnodes * 2 : 4096;
		nodes = realloc(nodes, capnodes * sizeof(*nodes));
		if (!nodes)
			die("out of memory");
	}
	n = &nodes[nnodes];
	memset(n, 0, sizeof(*n));
	n->name = strdup(name);
	n->parent = parent;
	n->dir = dir;
	n->st = *st;
	n->st.st_ino = nnodes;
	n->st.st_nlink = dir ? 2 : 1;
	if (!n->name)
		die("out of memory");
	if (parent) {
		size_t b = name_hash(parent, name);

		n->next = names[b];
		names[b] = nnodes;
		p = &nodes[parent];
		if (p->nkids == p->capkids) {
			p->capkids = p->capkids ? p->capkids * 2 : 64;
			p->kids = realloc(p->kids,
					  p->capkids * sizeof(*p->kids));
			if (!p->kids)
				die("out of memory");
		}
		p->kids[p->nkids++] = nnodes;
	}
	return nnodes++;
}

static void load_file(fuse_ino_t parent, int dfd, const char *name)
{
	struct stat st;
	struct node *n;
	size_t got = 0;
	ssize_t r;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		die(name);
	n = &nodes[node_new(parent, name, false, &st)];
	n->len = (size_t)st.st_size;
	n->data = malloc(n->len ? n->len : 1);
	if (!n->data)
		die("out of memory");
	while (got < n->len && (r = read(fd, n->data + got, n->len - got)) > 0)
		got += (size_t)r;
	if (got != n->len)
		die(name);
	close(fd);
}

/* SOURCE/DIR/FILE into memory. */
static void load(const char *src)
{
	DIR *top = opendir(src), *sub;
	struct dirent *e, *f;
	struct stat st;
	fuse_ino_t d;
	int dfd;

	if (!top || stat(src, &st) < 0)
		die(src);
	node_new(0, "", true, &st);		/* ino 0: unused */
	node_new(0, "", true, &st);		/* ino 1: the root */
	while ((e = readdir(top))) {
		if (e->d_name[0] == '.')
			continue;
		dfd = openat(dirfd(top), e->d_name,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fstat(dfd, &st) < 0)
			die(e->d_name);
		d = node_new(FUSE_ROOT_ID, e->d_name, true, &st);
		sub = fdopendir(dfd);
		if (!sub)
			die(e->d_name);
		while ((f = readdir(sub)))
			if (f->d_name[0] != '.')
				load_file(d, dirfd(sub), f->d_name);
		closedir(sub);
	}
	closedir(top);
}

static struct node *node_of(fuse_ino_t ino)
{
	return ino < nnodes ? &nodes[ino] : NULL;
}

/* The entry called name in directory parent, or 0. */
static fuse_ino_t child(fuse_ino_t parent, const char *name)
{
	fuse_ino_t i;

	for (i = names[name_hash(parent, name)]; i; i = nodes[i].next)
		if (nodes[i].parent == parent && !strcmp(nodes[i].name, name))
			return i;
	return 0;
}

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
	struct node *n = &nodes[ino];

	*st = n->st;
	if (!n->dir) {
		st->st_size = (off_t)n->len;
		st->st_blocks = (blkcnt_t)((n->len + 511) / 512);
	}
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = ino;
	fill_attr(ino, &e.attr);
	e.entry_timeout = nodes[ino].dir ? TABLE_ENTRY_TIMEOUT : 0;
	e.attr_timeout = 0;
	if (fi)
		fuse_reply_create(req, &e, fi);
	else
		fuse_reply_entry(req, &e);
}

static void now_times(struct node *n)
{
	clock_gettime(CLOCK_REALTIME, &n->st.st_mtim);
	n->st.st_ctim = n->st.st_mtim;
}

/* --- operations ------------------------------------------------------- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->want &= ~FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_ino_t ino = child(parent, name);

	if (!ino)
		fuse_reply_err(req, ENOENT);
	else
		reply_entry(req, ino, NULL);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (!node_of(ino)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, ino == FUSE_ROOT_ID ? ROOT_ATTR_TIMEOUT : 0);
}

static void reclaim(struct fh *h);

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);
	struct fh *h = fi ? (struct fh *)(uintptr_t)fi->fh : NULL;
	struct stat st;
	size_t len;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		len = (size_t)attr->st_size;
		if (n->dir) {
			fuse_reply_err(req, EISDIR);
			return;
		}
		if (h && h->writable) {
			reclaim(h);
			if (len > h->cap) {
				h->buf = realloc(h->buf, len);
				if (!h->buf)
					die("out of memory");
				h->cap = len;
			}
			if (len > h->len)
				memset(h->buf + h->len, 0, len - h->len);
			h->len = len;
			h->armed = h->pending = true;
		} else {
			n->data = realloc(n->data, len ? len : 1);
			if (!n->data)
				die("out of memory");
			if (len > n->len)
				memset(n->data + n->len, 0, len - n->len);
			n->len = len;
			now_times(n);
		}
	}
	fill_attr(ino, &st);
	if (h && h->writable && (to_set & FUSE_SET_ATTR_SIZE))
		st.st_size = (off_t)h->len;
	fuse_reply_attr(req, &st, 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node *p = node_of(parent);
	fuse_ino_t ino = child(parent, name), *pp;

	if (!ino) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	pp = &names[name_hash(parent, name)];
	while (*pp != ino)
		pp = &nodes[*pp].next;
	*pp = nodes[ino].next;
	for (size_t i = 0; i < p->nkids; i++)
		if (p->kids[i] == ino) {
			p->kids[i] = p->kids[--p->nkids];
			break;
		}
	nodes[ino].gone = true;
	fuse_reply_err(req, 0);
}

static struct fh *fh_new(fuse_ino_t ino, int flags)
{
	struct fh *h = calloc(1, sizeof(*h));
	struct node *n = &nodes[ino];

	if (!h)
		die("out of memory");
	h->ino = ino;
	h->writable = (flags & O_ACCMODE) != O_RDONLY;
	if (h->writable && !(flags & O_TRUNC) && n->len) {
		h->buf = malloc(n->len);
		if (!h->buf)
			die("out of memory");
		memcpy(h->buf, n->data, n->len);
		h->len = h->cap = n->len;
	}
	/* O_TRUNC: an empty value, published at RELEASE if nothing comes */
	h->pending = h->writable && (flags & O_TRUNC);
	return h;
}

static void set_open_flags(struct fuse_file_info *fi, struct fh *h)
{
	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = !h->writable;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);
	struct fh *h;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (n->dir) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	h = fh_new(ino, fi->flags);
	set_open_flags(fi, h);
	if (fuse_reply_open(req, fi) != 0) {
		free(h->buf);
		free(h);
	}
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct node *p = node_of(parent);
	fuse_ino_t ino = child(parent, name);
	struct stat st;
	struct fh *h;

	if (!p || !p->dir || parent == FUSE_ROOT_ID) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (ino && (fi->flags & O_EXCL)) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	if (!ino) {
		st = p->st;
		st.st_mode = S_IFREG | (mode & 0666);
		ino = node_new(parent, name, false, &st);
		now_times(&nodes[ino]);
	}
	h = fh_new(ino, fi->flags);
	set_open_flags(fi, h);
	reply_entry(req, ino, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	struct node *n = &nodes[ino];
	bool own = h->writable && !h->moved;
	const char *p = own ? h->buf : n->data;
	size_t len = own ? h->len : n->len, k = 0;

	if (off >= 0 && (size_t)off < len) {
		k = len - (size_t)off;
		if (k > size)
			k = size;
	}
	fuse_reply_buf(req, k ? p + off : NULL, k);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	size_t end = (size_t)off + size;

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	reclaim(h);
	if (end > h->cap) {
		h->cap = end > 2 * h->cap ? end : 2 * h->cap;
		h->buf = realloc(h->buf, h->cap);
		if (!h->buf)
			die("out of memory");
	}
	if ((size_t)off > h->len)
		memset(h->buf + h->len, 0, (size_t)off - h->len);
	memcpy(h->buf + off, buf, size);
	if (end > h->len)
		h->len = end;
	h->armed = h->pending = true;
	fuse_reply_write(req, size);
}

/* The handle's buffer becomes the file's value: moved, not copied (a
 * handle that writes on after a commit takes a copy back, see reclaim). */
static void commit(struct fh *h)
{
	struct node *n = &nodes[h->ino];

	free(n->data);
	n->data = h->buf ? h->buf : malloc(1);
	if (!n->data)
		die("out of memory");
	n->len = h->len;
	h->buf = NULL;
	h->cap = 0;
	h->moved = true;
	now_times(n);
	h->armed = h->pending = false;
}

/* Before a handle changes its buffer again after a commit moved it. */
static void reclaim(struct fh *h)
{
	struct node *n = &nodes[h->ino];

	if (!h->moved)
		return;
	h->moved = false;
	h->buf = malloc(n->len ? n->len : 1);
	if (!h->buf)
		die("out of memory");
	memcpy(h->buf, n->data, n->len);
	h->len = h->cap = n->len;
}

static void op_flush(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	(void)ino;
	if (h->armed)
		commit(h);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	(void)ino;
	(void)datasync;
	if (h->pending)
		commit(h);
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;

	(void)ino;
	if (h->pending)
		commit(h);
	free(h->buf);
	free(h);
	fuse_reply_err(req, 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);

	if (!n || !n->dir) {
		fuse_reply_err(req, n ? ENOTDIR : ESTALE);
		return;
	}
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

/* Offsets: 1 ".", 2 "..", 2 + i entry i. */
static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	struct node *n = &nodes[ino];
	char *buf = malloc(size ? size : 1);
	size_t used = 0, len, i;
	struct stat st;
	const char *name;

	(void)fi;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&st, 0, sizeof(st));
	for (i = off < 0 ? 0 : (size_t)off; i < n->nkids + 2; i++) {
		if (i < 2) {
			name = i ? ".." : ".";
			st.st_ino = i ? n->parent ? n->parent : ino : ino;
			st.st_mode = S_IFDIR;
		} else {
			name = nodes[n->kids[i - 2]].name;
			st.st_ino = n->kids[i - 2];
			st.st_mode = nodes[n->kids[i - 2]].st.st_mode;
		}
		len = fuse_add_direntry(req, buf + used, size - used, name, &st,
					(off_t)(i + 1));
		if (len > size - used)
			break;
		used += len;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

/* shmtabfs's answers: nothing outside user., no user. attribute here
 * (shmtabfs's are all user.shmtab.*, which no workload asks for). */
static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	(void)ino;
	(void)size;
	fuse_reply_err(req, strncmp(name, "user.", 5) ? EOPNOTSUPP : ENODATA);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	if (size)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_xattr(req, 0);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.unlink = op_unlink,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.fsync = op_fsync,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
};

/* --- main ------------------------------------------------------------- */

struct cli {
	char *source;
	int no_perm;
};

static const struct fuse_opt cli_opts[] = {
	{ "--no-perm", offsetof(struct cli, no_perm), 1 },
	FUSE_OPT_END
};

static int cli_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct cli *c = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !c->source) {
		c->source = strdup(arg);
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct fuse_session *se;
	struct cli cli = { NULL, 0 };
	int ret = 1;

	if (fuse_opt_parse(&args, &cli, cli_opts, cli_proc) != 0 ||
	    fuse_parse_cmdline(&args, &opts) != 0)
		return 2;
	if (opts.show_help || opts.show_version || !cli.source ||
	    !opts.mountpoint) {
		fprintf(stderr, "usage: fuse-floor [-f] [-s] [-d] [-o OPTS] "
			"[--no-perm] SOURCE MOUNTPOINT\n");
		return opts.show_help || opts.show_version ? 0 : 2;
	}
	load(cli.source);
	if ((!cli.no_perm &&
	     fuse_opt_add_arg(&args, "-odefault_permissions") != 0) ||
	    fuse_opt_add_arg(&args, "-osubtype=fuse-floor") != 0)
		return 1;
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(opts.foreground);
	/* one thread whatever -s says: the least a request can cost */
	ret = fuse_session_loop(se) != 0;
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	free(opts.mountpoint);
	free(cli.source);
	fuse_opt_free_args(&args);
	return ret;
}
