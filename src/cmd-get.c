/* SPDX-License-Identifier: MIT */
/* cmd-get.c - shmtab get: the newest value of a key, as it is, on stdout */
#include <errno.h>
#include <stdlib.h>

#include "cmd.h"

static int get_run(struct cmd_args *a)
{
	const char *name = a->argv[0];
	void *key, *val = NULL;
	size_t klen, vlen = 0;
	shmtab *t;
	int rc, err;

	rc = cli_key_arg(a, a->argv[1], &key, &klen);
	if (rc)
		return rc == EXIT_USAGE ? cli_usage(a->cmd) : rc;
	rc = cli_open(name, O_RDONLY, NULL, &t);
	if (rc)
		goto out;
	err = shmtab_find(t, key, klen, &val, &vlen);
	shmtab_close(t);
	if (err < 0) {
		char *k = cli_key_text(key, klen);

		if (err == -ENOENT)
			msg_error("no key '%s' in '%s'", k, name);
		else
			rc = msg_fail(err, "cannot read '%s' in '%s'", k, name);
		rc = rc ? rc : EXIT_FAIL;
		free(k);
		goto out;
	}
	if (vlen && fwrite(val, 1, vlen, stdout) != vlen)
		rc = cli_flush_stdout();
	free(val);
out:
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
