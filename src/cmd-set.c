/* SPDX-License-Identifier: MIT */
/*
 * cmd-set.c - shmtab set: replace the newest binding of a key (or add the
 * first); also the body of shmtab add (cmd-add.c)
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

int cmd_store(struct cmd_args *a, bool add)
{
	const char *name = a->argv[0];
	void *key = NULL, *val = NULL;
	size_t klen, vlen;
	shmtab *t;
	int rc, err;

	rc = cli_key_arg(a, a->argv[1], &key, &klen);
	if (rc)
		return rc == EXIT_USAGE ? cli_usage(a->cmd) : rc;
	if (a->argc > 2) {
		vlen = strlen(a->argv[2]);
		val = cli_strdup(a->argv[2]);
	} else {
		err = cli_read_all(stdin, &val, &vlen);
		if (err < 0) {
			free(key);
			return msg_fail(err, "cannot read standard input");
		}
	}
	rc = cli_open(name, O_RDWR, NULL, &t);
	if (rc)
		goto out;
	err = add ? shmtab_add(t, key, klen, val, vlen)
		  : shmtab_replace(t, key, klen, val, vlen);
	if (err < 0) {
		char *k = cli_key_text(key, klen);

		rc = msg_fail(err, "cannot %s '%s' in '%s'",
			      add ? "add" : "set", k, name);
		free(k);
		shmtab_close(t);
		goto out;
	}
	rc = cli_close(t);
out:
	free(key);
	free(val);
	return rc;
}

static int set_run(struct cmd_args *a)
{
	return cmd_store(a, false);
}

static const struct option store_longopts[] = {
	{ "raw-key", no_argument, NULL, 'x' },
	{ NULL, 0, NULL, 0 },
};

const struct shmtab_cmd cmd_set = {
	.name = "set",
	.usage = "[-x] NAME KEY [VALUE]",
	.summary = "replace the newest value of KEY (stdin without VALUE)",
	.optstring = "x",
	.longopts = store_longopts,
	.min_args = 2,
	.max_args = 3,
	.run = set_run,
};
