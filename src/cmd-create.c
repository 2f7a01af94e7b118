/* SPDX-License-Identifier: MIT */
/* cmd-create.c - shmtab create: a new, empty table (never an existing one) */
#include <errno.h>
#include <fcntl.h>

#include "cmd.h"

static int create_run(struct cmd_args *a)
{
	struct shmtab_options opt = { 0 };
	mode_t mode = 0666;		/* less the umask, as for any file */
	const char *name = a->argv[0];
	shmtab *t;
	int err;

	if (a->opt['p'] && cli_parse_size(a->opt['p'], &opt.pagesize) < 0) {
		msg_error("create: bad page size '%s'", a->opt['p']);
		return cli_usage(a->cmd);
	}
	if (a->opt['i'] && cli_parse_size(a->opt['i'], &opt.init) < 0) {
		msg_error("create: bad binding count '%s'", a->opt['i']);
		return cli_usage(a->cmd);
	}
	if (a->opt['l'] && cli_parse_lock(a->opt['l'], &opt.lock) < 0) {
		msg_error("create: bad locking method '%s'", a->opt['l']);
		return cli_usage(a->cmd);
	}
	if (a->opt['m'] && cli_parse_mode(a->opt['m'], &mode) < 0) {
		msg_error("create: bad mode '%s'", a->opt['m']);
		return cli_usage(a->cmd);
	}
	err = shmtab_open(name, O_RDWR | O_CREAT | O_EXCL, mode, &opt, &t);
	if (err < 0)
		return msg_fail(err, "cannot create '%s'", name);
	/* an explicit mode is meant as given, not less the umask */
	if (a->opt['m']) {
		err = shmtab_chmod(t, mode);
		if (err < 0) {
			msg_fail(err, "cannot chmod '%s'", name);
			shmtab_close(t);
			return EXIT_FAIL;
		}
	}
	return cli_close(t);
}

static const struct option create_longopts[] = {
	{ "pagesize", required_argument, NULL, 'p' },
	{ "init", required_argument, NULL, 'i' },
	{ "lock", required_argument, NULL, 'l' },
	{ "mode", required_argument, NULL, 'm' },
	{ NULL, 0, NULL, 0 },
};

const struct shmtab_cmd cmd_create = {
	.name = "create",
	.usage = "[--pagesize N] [--init N] [--lock best|none|record|mutex] "
		 "[--mode OCTAL] NAME",
	.summary = "create a new, empty table",
	.optstring = "p:i:l:m:",
	.longopts = create_longopts,
	.min_args = 1,
	.max_args = 1,
	.run = create_run,
};
