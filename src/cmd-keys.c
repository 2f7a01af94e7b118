/* SPDX-License-Identifier: MIT */
/*
 * cmd-keys.c - shmtab keys: every key, escaped, one a line, sorted (a
 * typed table: in the text form of its key type, sorted by value; an
 * array: the indexes that are set)
 */
#include <stdlib.h>

#include "cmd.h"

static int keys_run(struct cmd_args *a)
{
	const char *name = a->argv[0];
	struct cli_schema cs;
	struct cli_keys ks;
	shmtab *t;
	int rc, err;

	rc = cli_open_schema(name, O_RDONLY, &t, &cs);
	if (rc)
		return rc;
	err = cli_keys_collect_typed(t, &cs, &ks);
	shmtab_close(t);
	for (size_t i = 0; i < ks.n && !err; i++) {
		void *p = ks.v[i].key;
		size_t n = ks.v[i].klen;
		char *text = NULL, *k;

		if (!cs.key_raw) {
			err = cli_text(cs.key_type, p, n, &text, &n);
			p = text;
		}
		if (!err) {
			k = cli_key_text(p, n);
			puts(k);
			free(k);
		}
		free(text);
	}
	cli_keys_free(&ks);
	cli_schema_free(&cs);
	if (err < 0)
		return msg_fail(err, "cannot list the keys of '%s'", name);
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
