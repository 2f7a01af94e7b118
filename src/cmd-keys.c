/* SPDX-License-Identifier: MIT */
/* cmd-keys.c - shmtab keys: every key, escaped, one a line, sorted */
#include <stdlib.h>

#include "cmd.h"

static int keys_run(struct cmd_args *a)
{
	const char *name = a->argv[0];
	struct cli_keys ks;
	shmtab *t;
	int rc, err;

	rc = cli_open(name, O_RDONLY, NULL, &t);
	if (rc)
		return rc;
	err = cli_keys_collect(t, &ks);
	shmtab_close(t);
	if (err < 0) {
		cli_keys_free(&ks);
		return msg_fail(err, "cannot list the keys of '%s'", name);
	}
	for (size_t i = 0; i < ks.n; i++) {
		char *k = cli_key_text(ks.v[i].key, ks.v[i].klen);

		puts(k);
		free(k);
	}
	cli_keys_free(&ks);
	return 0;
}

const struct shmtab_cmd cmd_keys = {
	.name = "keys",
	.usage = "NAME",
	.summary = "list the keys, escaped, one a line",
	.optstring = "",
	.min_args = 1,
	.max_args = 1,
	.run = keys_run,
};
