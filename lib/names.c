/* SPDX-License-Identifier: MIT */
/*
 * names.c - "posix:/NAME" and "file:PATH", opening, unique creation, unlink,
 * chmod, chown, close
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmtab-private.h"

#define UNIQUE_TRIES 1000

static int name_parse(const char *name, enum name_kind *kind, const char **path)
{
	if (!name)
		return -EINVAL;
	if (!strncmp(name, "posix:", 6)) {
		*kind = NAME_POSIX;
		*path = name + 6;
	} else if (!strncmp(name, "file:", 5)) {
		*kind = NAME_FILE;
		*path = name + 5;
	} else {
		*path = name;
		*kind = name[0] == '/' && !strchr(name + 1, '/') ? NAME_POSIX
								 : NAME_FILE;
	}
	if (!**path)
		return -EINVAL;
	if (*kind == NAME_POSIX) {
		size_t n = strlen(*path);

		if ((*path)[0] != '/' || n < 2 || strchr(*path + 1, '/'))
			return -EINVAL;
		if (n - 1 > NAME_MAX)	/* the file in /dev/shm */
			return -ENAMETOOLONG;
	} else if (strlen(*path) >= PATH_MAX) {
		return -ENAMETOOLONG;
	}
	return 0;
}

static int obj_open(enum name_kind kind, const char *path, int flags,
		    mode_t mode)
{
	int fd;

	if (kind == NAME_POSIX)
		fd = shm_open(path, flags, mode);	/* sets FD_CLOEXEC */
	else
		fd = open(path, flags | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

/*
 * t's object opened again, read-write, by its name: only when the name
 * still names it (a regular file of its device and inode, not through a
 * symbolic link: opening a device may do something); -1 otherwise.
 */
int obj_reopen(const struct shmtab *t)
{
	int flags = O_RDWR | (t->kind == NAME_POSIX ? 0 :
			      O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
	int fd = obj_open(t->kind, t->path, flags, 0);
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_dev != t->obj_dev || st.st_ino != t->obj_ino) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Remove the name; then move the generation of the object it named
 * (map_gen_bump), so that a reader of the generation who then stats the
 * name finds it gone.  The object is opened first, and only when it is a
 * regular file by its name (a device or FIFO is never opened: that alone
 * may do something); not being able to open it only loses the bump.
 */
static int obj_unlink(enum name_kind kind, const char *path)
{
	const char *lpath = kind == NAME_FILE ? path : NULL;
	char shm[PATH_MAX];
	struct stat sb;
	int fd = -1, r, err;

#ifdef __linux__
	if (kind == NAME_POSIX &&
	    snprintf(shm, sizeof(shm), "/dev/shm%s", path) < (int)sizeof(shm))
		lpath = shm;
#else
	(void)shm;
#endif
	if (!lpath || (lstat(lpath, &sb) == 0 && S_ISREG(sb.st_mode)))
		fd = obj_open(kind, path, kind == NAME_POSIX ? O_RDWR :
			      O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
	r = kind == NAME_POSIX ? shm_unlink(path) : unlink(path);
	err = r < 0 ? -errno : 0;
	if (fd >= 0) {
		if (!err)
			map_gen_bump(fd);
		close(fd);
	}
	return err;
}

/*
 * Open the object: first without O_CREAT so that we know whether this call
 * created it (a table we created and could not format is removed again).
 */
static int obj_open_create(enum name_kind kind, const char *path, int oflags,
			   mode_t mode, bool *created)
{
	int acc = oflags & O_ACCMODE;
	int fd;

	*created = false;
	for (int i = 0; i < 100; i++) {
		if (!(oflags & O_EXCL)) {
			fd = obj_open(kind, path, acc, 0);
			if (fd != -ENOENT || !(oflags & O_CREAT))
				return fd;
		}
		fd = obj_open(kind, path, acc | O_CREAT | O_EXCL, mode);
		if (fd >= 0) {
			*created = true;
			return fd;
		}
		if (fd != -EEXIST || (oflags & O_EXCL))
			return fd;
		/* lost a race with another creator: open theirs */
	}
	return -EEXIST;
}

static int handle_new(enum name_kind kind, const char *path, struct shmtab **out)
{
	struct shmtab *t = calloc(1, sizeof(*t));
	const char *pfx = kind == NAME_POSIX ? "posix:" : "file:";

	if (!t)
		return -ENOMEM;
	t->fd = -1;
	t->own_fd = -1;
	t->slot = -1;
	t->pid = getpid();
	t->kind = kind;
	t->name = malloc(strlen(pfx) + strlen(path) + 1);
	if (!t->name) {
		free(t);
		return -ENOMEM;
	}
	strcpy(t->name, pfx);
	strcat(t->name, path);
	t->path = t->name + strlen(pfx);
	*out = t;
	return 0;
}

static void handle_free(struct shmtab *t)
{
	schema_drop(t);
	free(t->name);
	free(t);
}

static int options_check(int oflags, const struct shmtab_options *opt)
{
	int acc = oflags & O_ACCMODE;

	if (oflags & ~(O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC))
		return -EINVAL;
	if (acc != O_RDONLY && acc != O_RDWR)
		return -EINVAL;
	if (acc == O_RDONLY && (oflags & (O_CREAT | O_TRUNC)))
		return -EINVAL;
	if (!opt)
		return 0;
	if (opt->pagesize && (opt->pagesize < PAGESIZE_MIN ||
			      opt->pagesize > PAGESIZE_MAX ||
			      opt->pagesize % 4))
		return -EINVAL;
	if ((unsigned)opt->lock > SHMTAB_LOCK_MUTEX)
		return -EINVAL;
	if (opt->init > ((uint64_t)1 << 38))
		return -EINVAL;
	return 0;
}

static int open_parsed(enum name_kind kind, const char *path, int oflags,
		       mode_t mode, const struct shmtab_options *opt,
		       const struct schema_spec *want, struct shmtab **out)
{
	struct shmtab *t;
	bool created;
	int err;

	err = handle_new(kind, path, &t);
	if (err < 0)
		return err;
	t->rdonly = (oflags & O_ACCMODE) == O_RDONLY;
	err = obj_open_create(kind, path, oflags, mode, &created);
	if (err < 0)
		goto out_free;
	t->fd = err;
	t->want = want;
	err = map_attach(t, oflags, opt);
	t->want = NULL;
	if (err < 0)
		goto out_close;
	reg_add(t);
	*out = t;
	return 0;
out_close:
	reg_del(t);		/* a slot is the last thing map_attach takes */
	map_detach(t);
	close(t->fd);
	if (created)
		obj_unlink(kind, path);
out_free:
	handle_free(t);
	return err;
}

SHMTAB_EXPORT int shmtab_open(const char *name, int oflags, mode_t mode,
			      const struct shmtab_options *opt, shmtab **out)
{
	return shmtab_open_typed(name, oflags, mode, opt, NULL, out);
}

SHMTAB_EXPORT int shmtab_open_typed(const char *name, int oflags, mode_t mode,
				    const struct shmtab_options *opt,
				    const struct shmtab_schema *schema,
				    shmtab **out)
{
	struct schema_spec *sp = NULL;
	enum name_kind kind;
	const char *path;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	err = options_check(oflags, opt);
	if (err < 0)
		return err;
	err = name_parse(name, &kind, &path);
	if (err < 0)
		return err;
	if (schema) {
		sp = malloc(sizeof(*sp));
		if (!sp)
			return -ENOMEM;
		err = spec_compile(schema, sp);	/* before anything exists */
		if (err < 0) {
			free(sp);
			return err;
		}
	}
	err = open_parsed(kind, path, oflags, mode, opt, sp, out);
	free(sp);
	return err;
}

SHMTAB_EXPORT int shmtab_create_unique(const char *pattern, mode_t mode,
				       const struct shmtab_options *opt,
				       shmtab **out)
{
	static const char chars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	enum name_kind kind;
	const char *path, *base;
	char *buf;
	int err = -EEXIST;
	bool has_x;

	if (!out)
		return -EINVAL;
	*out = NULL;
	err = options_check(O_RDWR | O_CREAT | O_EXCL, opt);
	if (err < 0)
		return err;
	err = name_parse(pattern, &kind, &path);
	if (err < 0)
		return err;
	buf = strdup(path);
	if (!buf)
		return -ENOMEM;
	/* files: the X's of the last component; POSIX names have one */
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	has_x = strchr(base, 'X') != NULL;
	err = -EEXIST;
	for (int i = 0; i < UNIQUE_TRIES; i++) {
		for (size_t j = (size_t)(base - path); path[j]; j++) {
			uint8_t r;

			if (path[j] != 'X')
				continue;
			do {
				if (getrandom(&r, 1, 0) != 1)
					r = (uint8_t)rand();
			} while (r >= 252);	/* 252 = 7 * 36: no bias */
			buf[j] = chars[r % 36];
		}
		err = open_parsed(kind, buf, O_RDWR | O_CREAT | O_EXCL, mode,
				  opt, NULL, out);
		if (err != -EEXIST || !has_x)
			break;
	}
	free(buf);
	return err;
}

SHMTAB_EXPORT const char *shmtab_name(const shmtab *t)
{
	return t ? t->name : NULL;
}

SHMTAB_EXPORT int shmtab_close(shmtab *t)
{
	if (!t)
		return 0;
	if (t->visit_depth || t->group_depth)
		return -EBUSY;
	reg_del(t);
	/* a copy a child got at fork() lets go of nothing shared: an unlock
	 * through its descriptors would be the parent's */
	if (t->pid == getpid())
		lock_drop_slot(t);
	map_detach(t);
	if (t->own_fd >= 0)
		close(t->own_fd);
	if (t->fd >= 0)
		close(t->fd);
	handle_free(t);
	return 0;
}

SHMTAB_EXPORT int shmtab_unlink(const char *name)
{
	enum name_kind kind;
	const char *path;
	int err = name_parse(name, &kind, &path);

	return err < 0 ? err : obj_unlink(kind, path);
}

/* After a change of the object's attributes (see map_gen_bump). */
static void obj_gen_bump(shmtab *t)
{
	if (!t->rdonly)
		__atomic_fetch_add(&t->hdr->obj_gen, 1, __ATOMIC_RELEASE);
}

SHMTAB_EXPORT int shmtab_chmod(shmtab *t, mode_t mode)
{
	if (!t || t->fd < 0)
		return -EBADF;
	if (fchmod(t->fd, mode) < 0)
		return -errno;
	obj_gen_bump(t);
	return 0;
}

SHMTAB_EXPORT int shmtab_chown(shmtab *t, uid_t uid, gid_t gid)
{
	if (!t || t->fd < 0)
		return -EBADF;
	if (fchown(t->fd, uid, gid) < 0)
		return -errno;
	obj_gen_bump(t);
	return 0;
}

SHMTAB_EXPORT uint64_t shmtab__obj_gen(const shmtab *t)
{
	if (!t || !t->hdr || t->fd < 0)
		return 0;
	return __atomic_load_n(&t->hdr->obj_gen, __ATOMIC_ACQUIRE);
}
