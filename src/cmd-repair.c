/* SPDX-License-Identifier: MIT */
/*
 * cmd-repair.c - shmtab repair: rebuild a table from what can be read
 *
 * A copy: the table is opened read-only, every binding shmtab_salvage()
 * can read (those the index reaches, in each key's order, then whole
 * records the index no longer reaches, kept below their key's others) goes
 * into a new table NAME.repair-XXXXXX with the same page size, locking
 * method and permissions, which then replaces the original by rename(2).  POSIX has no
 * rename for shared memory objects; on Linux they are the files of the
 * tmpfs /dev/shm, which is renamed instead (Linux-specific).  Processes
 * that have the old table open keep using the old object.
 *
 * Only records whose header and lengths are whole are kept; the header's
 * count tells how many bindings were dropped.  A table file cut short
 * (below the size its header records, as a full disk leaves a copy) does
 * not open: it is read from a copy made whole with zeros, in the same
 * directory, which the salvage's scan of the heap steps through.  The
 * copy gets the table's
 * schema (an array its length); a binding that is not valid for the types
 * is dropped and counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"

struct entry {
	uint8_t *key, *val;
	size_t klen, vlen;
	int how;			/* SHMTAB_SALVAGE_INDEXED or _ORPHAN */
	size_t seq;			/* order of arrival */
};

struct repair {
	const char *name;
	shmtab *old, *new;
	bool array, typed;
	long long length;		/* an array's */
	struct entry *v;
	size_t n, cap;
	unsigned long long keys, bindings, orphans, invalid;
};

static int repair_take(const void *key, size_t klen, const void *val,
		       size_t vlen, int how, void *ctx)
{
	struct repair *r = ctx;
	struct entry *e;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 256;
		r->v = cli_realloc(r->v, r->cap * sizeof(*r->v));
	}
	e = &r->v[r->n];
	e->key = cli_malloc(klen ? klen : 1);
	e->val = cli_malloc(vlen ? vlen : 1);
	memcpy(e->key, key, klen);
	memcpy(e->val, val, vlen);
	e->klen = klen;
	e->vlen = vlen;
	e->how = how;
	e->seq = r->n++;
	return 0;
}

/* By key; within a key the index's order (newest first), orphans after. */
static int entry_cmp(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	size_t m = a->klen < b->klen ? a->klen : b->klen;
	int c = m ? memcmp(a->key, b->key, m) : 0;

	if (c)
		return c;
	if (a->klen != b->klen)
		return a->klen < b->klen ? -1 : 1;
	if (a->how != b->how)
		return a->how < b->how ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int repair_add(struct repair *r, const struct entry *e)
{
	int err;

	/* an array element is set, not stacked; one past the length is what
	 * a shrink left behind */
	if (r->array &&
	    (uint64_t)cli_index(e->key, e->klen) >= (uint64_t)r->length)
		return 0;
	if (r->array)
		err = shmtab_replace(r->new, e->key, e->klen, e->val, e->vlen);
	else
		err = shmtab_add(r->new, e->key, e->klen, e->val, e->vlen);
	if (err == -EINVAL && r->typed) {	/* not of the table's types */
		r->invalid++;
		return 0;
	}
	if (err < 0)
		return msg_fail(err, "cannot write '%s'", shmtab_name(r->new));
	return 0;
}

/* The new table gets the old one's schema and length; 0 or an exit code. */
static int repair_schema(struct repair *r)
{
	struct shmtab_schema sc;
	int err = shmtab_get_schema(r->old, &sc);

	if (err < 0) {
		msg_fail(err, "the types of '%s' cannot be read; the copy is "
			      "untyped", r->name);
		return 0;
	}
	r->array = sc.kind == SHMTAB_KIND_ARRAY;
	r->typed = r->array || strcmp(sc.key_type, "bytes") ||
		   strcmp(sc.value_type, "bytes");
	if (!r->typed)
		return 0;
	if (r->array) {
		sc.key_type = NULL;
		r->length = shmtab_array_length(r->old);
		err = r->length < 0 ? (int)r->length : 0;
	}
	if (!err)
		err = shmtab_set_schema(r->new, &sc);
	if (!err && r->array)
		err = shmtab_array_resize(r->new, r->length);
	if (err < 0)
		return msg_fail(err, "cannot give '%s' the types of '%s'",
				shmtab_name(r->new), r->name);
	return 0;
}

/* Every key's bindings into the new table, orphans below the others. */
static int repair_copy(struct repair *r)
{
	struct shmtab_stat st;
	int rc;

	qsort(r->v, r->n, sizeof(*r->v), entry_cmp);
	for (size_t i = 0; i < r->n;) {
		size_t j = i;

		while (j < r->n && r->v[j].klen == r->v[i].klen &&
		       !memcmp(r->v[j].key, r->v[i].key, r->v[i].klen))
			j++;
		size_t m = i;

		while (m < j && r->v[m].how == SHMTAB_SALVAGE_INDEXED)
			m++;
		/* orphans first, in heap order (about their age), then what
		 * the index reaches, oldest first */
		for (size_t k = m; k < j; k++)
			if ((rc = repair_add(r, &r->v[k])))
				return rc;
		for (size_t k = m; k-- > i;)
			if ((rc = repair_add(r, &r->v[k])))
				return rc;
		r->orphans += j - m;
		i = j;
	}
	if (shmtab_stat(r->new, &st) == 0) {
		r->keys = st.keys;
		r->bindings = st.bindings;
	}
	return 0;
}

static void repair_free(struct repair *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].key);
		free(r->v[i].val);
	}
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

/*
 * path's table cut short: a copy of it made whole with zeros, opened
 * read-only in *out; its path in *padded (the caller removes it).  0, or
 * -EBADMSG when path is not a table cut short (or cannot be copied).
 */
static int open_padded(const char *path, const struct stat *sb,
		       char **padded, shmtab **out)
{
	unsigned char hdr[40];
	uint64_t size = 0;
	char *tmp, *name;
	char buf[65536];
	ssize_t n;
	int in, fd, err = -EBADMSG;

	in = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return -EBADMSG;
	if (pread(in, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
	    !memcmp(hdr, TABLE_MAGIC, 8))
		for (int i = 7; i >= 0; i--)	/* size u64 at 32 (FORMAT.md) */
			size = size << 8 | hdr[32 + i];
	if (!S_ISREG(sb->st_mode) || sb->st_size < 32768 ||
	    size <= (uint64_t)sb->st_size || size > (uint64_t)1 << 43) {
		close(in);
		return -EBADMSG;
	}
	tmp = cli_malloc(strlen(path) + 24);
	sprintf(tmp, "%s.repair-cut-XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		close(in);
		return err;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	if (n == 0 && ftruncate(fd, (off_t)size) == 0) {
		name = cli_malloc(strlen(tmp) + 6);
		sprintf(name, "file:%s", tmp);
		err = shmtab_open(name, O_RDONLY, 0, NULL, out);
		free(name);
	}
	close(fd);
	close(in);
	if (err < 0) {
		unlink(tmp);
		free(tmp);
		return -EBADMSG;
	}
	printf("%s: cut short at %llu of %llu bytes: read as if the rest "
	       "were zeros\n",
	       path, (unsigned long long)sb->st_size,
	       (unsigned long long)size);
	*padded = tmp;
	return 0;
}

static int repair_run(struct cmd_args *a)
{
	struct repair r = { .name = a->argv[0] };
	struct shmtab_options opt = { 0 };
	char *path = NULL, *newpath = NULL, *padded = NULL, *pattern;
	struct shmtab_stat st;
	struct stat sb;
	bool posix;
	int rc, err;

	path = cli_object_path(r.name, &posix);
	if (!path)
		return msg_fail(-EINVAL, "cannot repair '%s'", r.name);
	if (stat(path, &sb) < 0) {
		rc = msg_fail(-errno, "cannot open '%s'", r.name);
		free(path);
		return rc;
	}
	if (sb.st_size == 0) {
		msg_error("cannot repair '%s': it is empty, there is nothing "
			  "to keep", r.name);
		free(path);
		return EXIT_DAMAGED;
	}
	/* nobody else has it open: a read-write open rolls back a step
	 * that a dead writer left half done */
	if (shmtab_open(r.name, O_RDWR, 0, NULL, &r.old) == 0)
		shmtab_close(r.old);
	err = shmtab_open(r.name, O_RDONLY, 0, NULL, &r.old);
	if (err == -EBADMSG && open_padded(path, &sb, &padded, &r.old) == 0)
		err = 0;
	if (err < 0) {
		/* the usual message */
		rc = cli_open(r.name, O_RDONLY, NULL, &r.old);
		if (rc) {
			free(path);
			return rc;
		}
	}
	err = shmtab_stat(r.old, &st);
	if (err < 0) {
		rc = msg_fail(err, "cannot stat '%s'", r.name);
		goto out_old;
	}
	opt.pagesize = st.pagesize;
	opt.lock = st.lock <= SHMTAB_LOCK_MUTEX ? st.lock : SHMTAB_LOCK_BEST;
	opt.init = st.bindings < ((uint64_t)1 << 24) ? st.bindings : 0;

	/* (the name given: r.old may be the copy made whole) */
	pattern = cli_malloc(strlen(r.name) + 16);
	sprintf(pattern, "%s.repair-XXXXXX", r.name);
	err = shmtab_create_unique(pattern, 0600, &opt, &r.new);
	if (err < 0) {
		rc = msg_fail(err, "cannot create '%s'", pattern);
		free(pattern);
		goto out_old;
	}
	free(pattern);
	newpath = cli_object_path(shmtab_name(r.new), &posix);
	rc = repair_schema(&r);
	if (rc)
		goto out_new;

	err = shmtab_salvage(r.old, repair_take, &r);
	if (err < 0) {
		rc = msg_fail(err, "cannot read '%s'", r.name);
		goto out_new;
	}
	rc = repair_copy(&r);
	if (rc)
		goto out_new;
	err = shmtab_check(r.new);
	if (!err)
		err = shmtab_chmod(r.new, sb.st_mode & 07777);
	if (!err && (sb.st_uid != geteuid() || sb.st_gid != getegid()))
		err = shmtab_chown(r.new, sb.st_uid, sb.st_gid);
	if (err < 0) {
		rc = msg_fail(err, "cannot finish '%s'", shmtab_name(r.new));
		goto out_new;
	}
	if (rename(newpath, path) < 0) {
		rc = msg_fail(-errno, "cannot rename '%s' to '%s'", newpath,
			      path);
		goto out_new;
	}
	shmtab_close(r.new);
	shmtab_close(r.old);
	printf("%s: rebuilt with %llu binding(s) of %llu key(s)", r.name,
	       r.bindings, r.keys);
	if (st.bindings > r.bindings)
		printf("; the header counted %llu binding(s), %llu more than "
		       "could be read (lost, or a damaged count)",
		       (unsigned long long)st.bindings,
		       (unsigned long long)(st.bindings - r.bindings));
	if (r.orphans)
		printf("; %llu binding(s) found outside the index kept below "
		       "their key's others", r.orphans);
	if (r.invalid)
		printf("; %llu binding(s) dropped as not valid for the types",
		       r.invalid);
	printf("\n");
	rc = 0;
	goto out;
out_new:
	shmtab_unlink(shmtab_name(r.new));
	shmtab_close(r.new);
out_old:
	shmtab_close(r.old);
out:
	repair_free(&r);
	if (padded) {
		unlink(padded);
		free(padded);
	}
	free(newpath);
	free(path);
	return rc;
}

const struct shmtab_cmd cmd_repair = {
	.name = "repair",
	.usage = "NAME",
	.summary = "rebuild the table from every binding that can be read",
	.optstring = "",
	.min_args = 1,
	.max_args = 1,
	.run = repair_run,
};
