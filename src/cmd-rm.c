/* SPDX-License-Identifier: MIT */
/* cmd-rm.c - shmtab rm: drop the newest binding of a key, or all of them */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

struct rm_ctx {
	const void *key;
	size_t klen;
	bool all;
};

/* In a group: no other process binds the key between mem and remove. */
static int rm_group(shmtab *t, void *ctx)
{
	struct rm_ctx *r = ctx;
	int err = shmtab_mem(t, r->key, r->klen);

	if (err <= 0)
		return err < 0 ? err : -ENOENT;
	do {
		err = shmtab_remove(t, r->key, r->klen);
		if (err < 0)
			return err;
		err = r->all ? shmtab_mem(t, r->key, r->klen) : 0;
	} while (err > 0);
	return err;
}

static int rm_run(struct cmd_args *a)
{
	const char *name = a->argv[0];
	struct rm_ctx r = { .all = a->opt['a'] != NULL };
	struct cli_schema cs;
	void *key = NULL;
	size_t klen;
	shmtab *t;
	int rc, err;

	rc = cli_open_schema(name, O_RDWR, &t, &cs);
	if (rc)
		return rc;
	rc = cli_tkey_arg(a, t, &cs, a->argv[1], &key, &klen);
	if (rc) {
		if (rc == EXIT_USAGE)
			cli_usage(a->cmd);
		goto out_close;
	}
	if (cs.array) {		/* back to the default; -a changes nothing */
		err = shmtab_array_unset(t, cli_index(key, klen));
		if (err == -EINVAL) {
			rc = cli_index_fail(t, name, cli_index(key, klen));
			goto out_close;
		}
	} else {
		r.key = key;
		r.klen = klen;
		do
			err = shmtab_group(t, rm_group, &r);
		while (err == -EDEADLK);
	}
	if (err < 0) {
		char *k = cli_key_label(&cs, a->argv[1], key, klen);

		if (err == -ENOENT) {
			msg_error("no key '%s' in '%s'", k, name);
			rc = EXIT_FAIL;
		} else {
			rc = msg_fail(err, "cannot remove '%s' from '%s'", k,
				      name);
		}
		free(k);
		goto out_close;
	}
	cli_schema_free(&cs);
	free(key);
	return cli_close(t);
out_close:
	cli_schema_free(&cs);
	shmtab_close(t);
	free(key);
	return rc;
}

static const struct option rm_longopts[] = {
	{ "all", no_argument, NULL, 'a' },
	{ "raw-key", no_argument, NULL, 'x' },
	{ NULL, 0, NULL, 0 },
};

const struct shmtab_cmd cmd_rm = {
	.name = "rm",
	.usage = "[-a] [-x] NAME KEY",
	.summary = "remove the newest binding of KEY (-a: every binding)",
	.optstring = "ax",
	.longopts = rm_longopts,
	.min_args = 2,
	.max_args = 2,
	.run = rm_run,
};
