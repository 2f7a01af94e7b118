/* SPDX-License-Identifier: MIT */
/*
 * shmtab.c - the shmtab command: main and the command table
 *
 *   shmtab [--help | --version]
 *   shmtab COMMAND [OPTIONS] ARGS...
 *
 * Each command lives in cmd-COMMAND.c; this file finds it, parses its
 * options (GNU getopt_long: options may follow the arguments; "--" ends
 * them) and runs it.  Every command also takes -h/--help.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

static const struct shmtab_cmd *const cmd_table[] = {
	&cmd_create, &cmd_set,	  &cmd_add,  &cmd_get,	&cmd_rm,
	&cmd_incr,   &cmd_resize, &cmd_keys, &cmd_dump, &cmd_load,
	&cmd_stat,   &cmd_check,  &cmd_repair, &cmd_list, &cmd_unlink,
};
#define NCMDS (sizeof(cmd_table) / sizeof(cmd_table[0]))
#define MAX_LONGOPTS 16

static void main_help(FILE *out)
{
	fprintf(out, "usage: shmtab [--help | --version]\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(out, "       shmtab %s %s\n", cmd_table[i]->name,
			cmd_table[i]->usage);
	fprintf(out, "\ncommands:\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(out, "  %-8s %s\n", cmd_table[i]->name,
			cmd_table[i]->summary);
	fprintf(out, "\nKEY arguments are escaped names (a%%2Fb is the key "
		     "\"a/b\"); in a typed table,\nthe escaped text form of "
		     "its key type (an index: the number); see "
		     "shmtab(1).\n");
}

static const struct shmtab_cmd *cmd_find(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(cmd_table[i]->name, name))
			return cmd_table[i];
	return NULL;
}

static int cmd_parse(const struct shmtab_cmd *cmd, int argc, char **argv,
		     struct cmd_args *a)
{
	struct option lo[MAX_LONGOPTS + 2];
	char optstring[64];
	size_t n = 0;
	int c;

	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	snprintf(optstring, sizeof(optstring), ":%sh", cmd->optstring);
	for (const struct option *o = cmd->longopts; o && o->name; o++)
		if (n < MAX_LONGOPTS)
			lo[n++] = *o;
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n] = (struct option){ NULL, 0, NULL, 0 };

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, optstring, lo, NULL)) != -1) {
		char what[64];

		if (c == 'h') {
			printf("usage: shmtab %s %s\n", cmd->name, cmd->usage);
			return cli_flush_stdout() ? EXIT_FAIL : -1;
		}
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];

			/* an unknown long option, or a long one without
			 * its argument: the whole word; else -c */
			if ((!optopt || c == ':') && !strncmp(bad, "--", 2))
				snprintf(what, sizeof(what), "%.*s",
					 (int)strcspn(bad, "="), bad);
			else
				snprintf(what, sizeof(what), "-%c", optopt);
			msg_error("%s: %s option '%s'", cmd->name,
				  c == ':' ? "missing argument for"
					   : "unknown", what);
			return cli_usage(cmd);
		}
		if (c > 0 && c < 128)
			a->opt[c] = optarg ? optarg : "";
	}
	a->argc = argc - optind;
	a->argv = argv + optind;
	if (a->argc < cmd->min_args ||
	    (cmd->max_args >= 0 && a->argc > cmd->max_args)) {
		msg_error("%s: %s arguments", cmd->name,
			  a->argc < cmd->min_args ? "missing" : "too many");
		return cli_usage(cmd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct shmtab_cmd *cmd;
	struct cmd_args a;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: shmtab [--help | --version]\n"
				"       shmtab COMMAND [OPTIONS] ARGS...\n");
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		main_help(stdout);
		return cli_flush_stdout();
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("shmtab %s\n", PACKAGE_VERSION);
		return cli_flush_stdout();
	}
	cmd = cmd_find(argv[1]);
	if (!cmd) {
		msg_error("'%s' is not a shmtab command; see 'shmtab --help'",
			  argv[1]);
		return EXIT_USAGE;
	}
	rc = cmd_parse(cmd, argc - 1, argv + 1, &a);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	shmtab_set_log(msg_log_hook, NULL);
	rc = cmd->run(&a);
	if (rc == EXIT_OK)
		rc = cli_flush_stdout();
	return rc;
}
