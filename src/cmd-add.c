/* SPDX-License-Identifier: MIT */
/* cmd-add.c - shmtab add: a new binding that hides the older ones */
#include "cmd.h"

static int add_run(struct cmd_args *a)
{
	return cmd_store(a, true);
}

static const struct option add_longopts[] = {
	{ "raw-key", no_argument, NULL, 'x' },
	{ NULL, 0, NULL, 0 },
};

const struct shmtab_cmd cmd_add = {
	.name = "add",
	.usage = "[-x] NAME KEY [VALUE]",
	.summary = "add a binding of KEY over the older ones",
	.optstring = "x",
	.longopts = add_longopts,
	.min_args = 2,
	.max_args = 3,
	.run = add_run,
};
