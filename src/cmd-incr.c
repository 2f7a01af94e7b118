/* SPDX-License-Identifier: MIT */
/*
 * cmd-incr.c - shmtab incr: add to an integer value atomically and print
 * the result (shmtab_int_add: an unbound key counts from 0, an unset array
 * element from the default)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

static bool incr_int_type(const char *type)
{
	return !strcmp(type, "int32") || !strcmp(type, "int64") ||
	       !strcmp(type, "int");
}

static int incr_run(struct cmd_args *a)
{
	const char *name = a->argv[0];
	struct shmtab_value *kv = NULL;
	struct cli_schema cs;
	int64_t delta = 1, result;
	void *key = NULL;
	size_t klen;
	shmtab *t;
	char *k;
	int rc, err;

	if (a->argc > 2 && cli_parse_int64(a->argv[2], &delta) < 0) {
		msg_error("incr: bad delta '%s' (a decimal int64)", a->argv[2]);
		return cli_usage(a->cmd);
	}
	rc = cli_open_schema(name, O_RDWR, &t, &cs);
	if (rc)
		return rc;
	rc = cli_tkey_arg(a, t, &cs, a->argv[1], &key, &klen);
	if (rc) {
		if (rc == EXIT_USAGE)
			cli_usage(a->cmd);
		goto out;
	}
	k = cli_key_label(&cs, a->argv[1], key, klen);
	if (!incr_int_type(cs.value_type)) {
		msg_error("cannot incr '%s' in '%s': its values are %s, not "
			  "int32, int64 or int", k, name, cs.value_type);
		rc = EXIT_FAIL;
		goto out_k;
	}
	err = shmtab_decode(cs.key_type, key, klen, &kv);
	if (!err)
		err = shmtab_int_add(t, kv, delta, &result);
	if (err == -EINVAL && cs.array) {
		rc = cli_index_fail(t, name, cli_index(key, klen));
		goto out_k;
	}
	if (err < 0) {
		rc = msg_fail(err, "cannot incr '%s' in '%s'", k, name);
		goto out_k;
	}
	printf("%" PRId64 "\n", result);
	free(k);
	free(kv);
	free(key);
	cli_schema_free(&cs);
	return cli_close(t);
out_k:
	free(k);
out:
	free(kv);
	free(key);
	cli_schema_free(&cs);
	shmtab_close(t);
	return rc;
}

static const struct option incr_longopts[] = {
	{ "raw-key", no_argument, NULL, 'x' },
	{ NULL, 0, NULL, 0 },
};

const struct shmtab_cmd cmd_incr = {
	.name = "incr",
	.usage = "[-x] NAME KEY [DELTA]",
	.summary = "add DELTA (default 1) to an integer value, print the sum",
	.optstring = "x",
	.longopts = incr_longopts,
	.min_args = 2,
	.max_args = 3,
	.run = incr_run,
};
