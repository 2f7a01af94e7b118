/* SPDX-License-Identifier: MIT */
/*
 * cmd-resize.c - shmtab resize: set the length of an array (shrinking
 * drops the elements past the end; growing adds unset ones)
 */
#include <errno.h>
#include <stdint.h>

#include "cmd.h"

static int resize_run(struct cmd_args *a)
{
	const char *name = a->argv[0];
	struct cli_schema cs;
	int64_t len;
	shmtab *t;
	int rc, err;

	if (cli_parse_int64(a->argv[1], &len) < 0 || len < 0) {
		msg_error("resize: bad length '%s'", a->argv[1]);
		return cli_usage(a->cmd);
	}
	rc = cli_open_schema(name, O_RDWR, &t, &cs);
	if (rc)
		return rc;
	cli_schema_free(&cs);
	if (!cs.array) {
		msg_error("cannot resize '%s': it is not an array", name);
		shmtab_close(t);
		return EXIT_FAIL;
	}
	err = shmtab_array_resize(t, len);
	if (err < 0) {
		rc = msg_fail(err, "cannot resize '%s' to %lld", name,
			      (long long)len);
		shmtab_close(t);
		return rc;
	}
	return cli_close(t);
}

const struct shmtab_cmd cmd_resize = {
	.name = "resize",
	.usage = "NAME LENGTH",
	.summary = "set the length of an array",
	.optstring = "",
	.min_args = 2,
	.max_args = 2,
	.run = resize_run,
};
