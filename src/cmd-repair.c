/* SPDX-License-Identifier: MIT */
/*
 * cmd-repair.c - shmtab repair: rebuild a table from what can be read
 *
 * The library has no repair call (yet), so this is a copy: the table is
 * opened read-only, every key the index yields and every binding its chain
 * yields (shmtab_find_all, so each key keeps its order) goes into a new
 * table NAME.repair-XXXXXX with the same page size, locking method and
 * permissions, which then replaces the original by rename(2).  POSIX has no
 * rename for shared memory objects; on Linux they are the files of the
 * tmpfs /dev/shm, which is renamed instead (Linux-specific).  Processes
 * that have the old table open keep using the old object.
 *
 * What cannot be read is reported: a damaged chain loses the bindings below
 * the damage, and damage in the index ends the walk of the keys.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"

struct repair {
	const char *name;
	shmtab *old, *new;
	unsigned long long keys, bindings, damaged_keys;
};

/* Copy every key's bindings, oldest first. */
static int repair_copy(struct repair *r, struct cli_keys *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		struct cli_key *k = &ks->v[i];
		struct cli_bindings bs;
		int err = cli_bindings_collect(r->old, k->key, k->klen, &bs);

		if (err < 0) {
			char *kt = cli_key_text(k->key, k->klen);

			msg_fail(err, "repair '%s': key '%s': %zu binding(s) "
				 "kept, the older ones are unreadable",
				 r->name, kt, bs.n);
			free(kt);
			r->damaged_keys++;
		}
		for (size_t j = bs.n; j-- > 0;) {
			err = shmtab_add(r->new, k->key, k->klen, bs.v[j].key,
					 bs.v[j].klen);
			if (err < 0) {
				cli_bindings_free(&bs);
				return msg_fail(err, "cannot write '%s'",
						shmtab_name(r->new));
			}
			r->bindings++;
		}
		r->keys += bs.n > 0;
		cli_bindings_free(&bs);
	}
	return 0;
}

/* The keys the index yields; damage ends the walk with a report. */
static int repair_keys(struct repair *r, struct cli_keys *ks)
{
	int err = cli_keys_collect(r->old, ks);

	if (err == -EAGAIN) {
		/* an interrupted step: a read-write open rolls it back */
		shmtab *rw;

		if (shmtab_open(r->name, O_RDWR, 0, NULL, &rw) == 0)
			shmtab_close(rw);
		cli_keys_free(ks);
		err = cli_keys_collect(r->old, ks);
	}
	if (err == -EBADMSG)
		msg_error("repair '%s': the walk of the index stopped at "
			  "damage after %zu key(s); later keys are lost",
			  r->name, ks->n);
	else if (err < 0)
		return msg_fail(err, "cannot read the keys of '%s'", r->name);
	return 0;
}

static int repair_run(struct cmd_args *a)
{
	struct repair r = { .name = a->argv[0] };
	struct shmtab_options opt = { 0 };
	char *path = NULL, *newpath = NULL, *pattern;
	struct shmtab_stat st;
	struct cli_keys ks = { 0 };
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
	rc = cli_open(r.name, O_RDONLY, NULL, &r.old);
	if (rc) {
		free(path);
		return rc;
	}
	err = shmtab_stat(r.old, &st);
	if (err < 0) {
		rc = msg_fail(err, "cannot stat '%s'", r.name);
		goto out_old;
	}
	opt.pagesize = st.pagesize;
	opt.lock = st.lock <= SHMTAB_LOCK_MUTEX ? st.lock : SHMTAB_LOCK_BEST;
	opt.init = st.bindings < ((uint64_t)1 << 24) ? st.bindings : 0;

	pattern = cli_malloc(strlen(shmtab_name(r.old)) + 16);
	sprintf(pattern, "%s.repair-XXXXXX", shmtab_name(r.old));
	err = shmtab_create_unique(pattern, 0600, &opt, &r.new);
	if (err < 0) {
		rc = msg_fail(err, "cannot create '%s'", pattern);
		free(pattern);
		goto out_old;
	}
	free(pattern);
	newpath = cli_object_path(shmtab_name(r.new), &posix);

	rc = repair_keys(&r, &ks);
	if (!rc)
		rc = repair_copy(&r, &ks);
	cli_keys_free(&ks);
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
		printf("; %llu binding(s) dropped (the header counted %llu)",
		       (unsigned long long)(st.bindings - r.bindings),
		       (unsigned long long)st.bindings);
	if (r.damaged_keys)
		printf("; %llu key(s) lost older bindings", r.damaged_keys);
	printf("\n");
	free(newpath);
	free(path);
	return 0;
out_new:
	shmtab_unlink(shmtab_name(r.new));
	shmtab_close(r.new);
out_old:
	shmtab_close(r.old);
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
