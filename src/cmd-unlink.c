/* SPDX-License-Identifier: MIT */
/*
 * cmd-unlink.c - shmtab unlink: remove a table's name (also a leftover that
 * is not a valid table); processes that have it open keep using it
 */
#include "cmd.h"

static int unlink_run(struct cmd_args *a)
{
	int rc = 0;

	for (int i = 0; i < a->argc; i++) {
		int err = shmtab_unlink(a->argv[i]);

		if (err < 0)
			rc = msg_fail(err, "cannot unlink '%s'", a->argv[i]);
	}
	return rc;
}

const struct shmtab_cmd cmd_unlink = {
	.name = "unlink",
	.usage = "NAME...",
	.summary = "remove tables (or leftover objects) by name",
	.optstring = "",
	.min_args = 1,
	.max_args = -1,
	.run = unlink_run,
};
