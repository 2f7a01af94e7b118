/* SPDX-License-Identifier: MIT */
/*
 * cmd-check.c - shmtab check: is the table's structure whole?
 *
 * One pass, constant memory (shmtab_check).  A read-write handle is used
 * when the caller may write: the library then rolls back a step a crashed
 * writer left (normal recovery, not damage) and checks under read locks, so
 * that writers wait and the result is exact on a live table.  Without write
 * permission the check runs optimistically on a read-only handle.  What is
 * wrong comes from the library's log hook (installed by main).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cmd.h"

/* A read-write open would make an empty object a new table: refuse it. */
static bool check_is_empty(const char *name)
{
	struct stat sb;
	bool posix, empty = false;
	char *path = cli_object_path(name, &posix);

	if (path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
		empty = sb.st_size == 0;
	free(path);
	return empty;
}

static int check_run(struct cmd_args *a)
{
	const char *name = a->argv[0];
	shmtab *t;
	int err;

	if (check_is_empty(name)) {
		msg_error("'%s' is empty: not a table", name);
		return EXIT_DAMAGED;
	}
	err = shmtab_open(name, O_RDWR, 0, NULL, &t);
	if (err == -EACCES || err == -EROFS || err == -EPERM)
		err = shmtab_open(name, O_RDONLY, 0, NULL, &t);
	if (err < 0)
		return msg_fail(err, "cannot open '%s'", name);
	err = shmtab_check(t);
	shmtab_close(t);
	if (err == -EBADMSG) {
		msg_error("'%s' is damaged (shmtab repair rebuilds it)", name);
		return EXIT_DAMAGED;
	}
	if (err < 0)
		return msg_fail(err, "cannot check '%s'", name);
	printf("%s: ok\n", name);
	return 0;
}

const struct shmtab_cmd cmd_check = {
	.name = "check",
	.usage = "NAME",
	.summary = "verify the structure; exit 3 when damaged",
	.optstring = "",
	.min_args = 1,
	.max_args = 1,
	.run = check_run,
};
