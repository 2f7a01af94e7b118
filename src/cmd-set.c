/* SPDX-License-Identifier: MIT */
/*
 * cmd-set.c - shmtab set: replace the newest binding of a key (or add the
 * first); also the body of shmtab add (cmd-add.c)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/* The key as the user wrote it, for messages; malloc'd. */
int cmd_store(struct cmd_args *a, bool add)
{
	const char *name = a->argv[0], *verb = add ? "add" : "set";
	struct cli_schema cs;
	void *key = NULL, *val = NULL, *enc;
	size_t klen, vlen, elen;
	shmtab *t;
	char *k;
	int rc, err;

	if (a->argc > 2) {
		vlen = strlen(a->argv[2]);
		val = cli_strdup(a->argv[2]);
	} else {
		err = cli_read_all(stdin, &val, &vlen);
		if (err < 0)
			return msg_fail(err, "cannot read standard input");
	}
	rc = cli_open_schema(name, O_RDWR, &t, &cs);
	if (rc)
		goto out;
	rc = cli_tkey_arg(a, t, &cs, a->argv[1], &key, &klen);
	if (rc) {
		if (rc == EXIT_USAGE)
			cli_usage(a->cmd);
		goto out_close;
	}
	k = cli_key_label(&cs, a->argv[1], key, klen);
	if (cs.typed) {
		if (add && cs.array) {
			msg_error("cannot add '%s' to '%s': an array holds one "
				  "value per index (use set)", k, name);
			rc = EXIT_FAIL;
			goto out_key;
		}
		err = cli_tvalue(&cs, val, vlen, &enc, &elen);
		if (err < 0) {
			char *v = cli_show(val, vlen);

			if (a->argc > 2)
				msg_error("cannot %s '%s' in '%s': '%s' is not "
					  "a valid %s", verb, k, name, v,
					  cs.value_type);
			else
				msg_error("cannot %s '%s' in '%s': standard "
					  "input is not a valid %s", verb, k,
					  name, cs.value_type);
			free(v);
			rc = EXIT_FAIL;
			goto out_key;
		}
		free(val);
		val = enc;
		vlen = elen;
	}
	if (cs.array) {
		err = shmtab_array_set(t, cli_index(key, klen), val, vlen);
		if (err == -EINVAL) {
			rc = cli_index_fail(t, name, cli_index(key, klen));
			goto out_key;
		}
	} else {
		err = add ? shmtab_add(t, key, klen, val, vlen)
			  : shmtab_replace(t, key, klen, val, vlen);
	}
	if (err < 0) {
		rc = msg_fail(err, "cannot %s '%s' in '%s'", verb, k, name);
		goto out_key;
	}
	free(k);
	cli_schema_free(&cs);
	rc = cli_close(t);
	goto out;
out_key:
	free(k);
out_close:
	cli_schema_free(&cs);
	shmtab_close(t);
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
