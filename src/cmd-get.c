/* SPDX-License-Identifier: MIT */
/*
 * cmd-get.c - shmtab get: the newest value of a key on stdout, as it is
 * (a typed table: in the text form of its value type)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

static int get_run(struct cmd_args *a)
{
	const char *name = a->argv[0];
	struct cli_schema cs;
	void *key = NULL, *val = NULL;
	char *text = NULL;
	size_t klen, vlen = 0;
	shmtab *t;
	int rc, err;

	rc = cli_open_schema(name, O_RDONLY, &t, &cs);
	if (rc)
		return rc;
	rc = cli_tkey_arg(a, t, &cs, a->argv[1], &key, &klen);
	if (rc) {
		shmtab_close(t);
		cli_schema_free(&cs);
		return rc == EXIT_USAGE ? cli_usage(a->cmd) : rc;
	}
	if (cs.array) {
		err = shmtab_array_get(t, cli_index(key, klen), &val, &vlen);
		if (err == -EINVAL) {
			rc = cli_index_fail(t, name, cli_index(key, klen));
			goto out_close;
		}
	} else {
		err = shmtab_find(t, key, klen, &val, &vlen);
	}
	if (!err && cs.typed) {
		err = shmtab_format(cs.value_type, val, vlen, &text, &vlen);
		free(val);
		val = text;
	}
	if (err < 0) {
		char *k = cli_key_label(&cs, a->argv[1], key, klen);

		if (err == -ENOENT)
			msg_error("no key '%s' in '%s'", k, name);
		else
			rc = msg_fail(err, "cannot read '%s' in '%s'", k, name);
		rc = rc ? rc : EXIT_FAIL;
		free(k);
		goto out_close;
	}
	if (vlen && fwrite(val, 1, vlen, stdout) != vlen)
		rc = cli_flush_stdout();
out_close:
	shmtab_close(t);
	cli_schema_free(&cs);
	free(val);
	free(key);
	return rc;
}

static const struct option get_longopts[] = {
	{ "raw-key", no_argument, NULL, 'x' },
	{ NULL, 0, NULL, 0 },
};

const struct shmtab_cmd cmd_get = {
	.name = "get",
	.usage = "[-x] NAME KEY",
	.summary = "write the newest value of KEY to stdout",
	.optstring = "x",
	.longopts = get_longopts,
	.min_args = 2,
	.max_args = 2,
	.run = get_run,
};
