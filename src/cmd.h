/* SPDX-License-Identifier: MIT */
/*
 * cmd.h - the shmtab command table and the helpers its commands share
 *
 * Each subcommand is one struct shmtab_cmd in its own cmd-NAME.c (tmux's
 * pattern).  main() (shmtab.c) finds the entry, parses its options with
 * getopt_long into a struct cmd_args, checks the number of arguments and
 * calls run(), whose return value is the exit code (msg.h).
 */
#ifndef SHMTAB_CMD_H
#define SHMTAB_CMD_H

#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <shmtab.h>

#include "msg.h"

struct shmtab_cmd;

struct cmd_args {
	const struct shmtab_cmd *cmd;
	int argc;			/* the arguments after the options */
	char **argv;
	const char *opt[128];	/* -c's argument, "" (a flag), NULL */
};

struct shmtab_cmd {
	const char *name;
	const char *usage;		/* what follows "shmtab NAME " */
	const char *summary;		/* one line for --help */
	const char *optstring;		/* getopt short options */
	const struct option *longopts;	/* each maps to a short option */
	int min_args;
	int max_args;			/* -1: no limit */
	int (*run)(struct cmd_args *a);
};

extern const struct shmtab_cmd cmd_create, cmd_set, cmd_add, cmd_get,
	cmd_rm, cmd_keys, cmd_dump, cmd_load, cmd_stat, cmd_check,
	cmd_repair, cmd_list, cmd_unlink;

/*
 * The dump text format (doc/FORMAT.md, "Dump text format"): the first line,
 * the header keywords, and the data line tags.
 */
#define DUMP_MAGIC "shmtab-dump"
#define DUMP_VERSION 1

/* set and add: store argv[2] (or stdin) under the key argv[1]. */
int cmd_store(struct cmd_args *a, bool add);

/* "usage: shmtab NAME USAGE" on stderr; returns EXIT_USAGE. */
int cli_usage(const struct shmtab_cmd *cmd);

/* Open a table; on failure say so and return the exit code, else 0. */
int cli_open(const char *name, int oflags, const struct shmtab_options *opt,
	     shmtab **out);
/* Close, reporting an error; returns an exit code. */
int cli_close(shmtab *t);

/*
 * A KEY argument: the escaped name (shmtab_unescape), or the bytes as they
 * are with -x/--raw-key.  Returns 0 with *key malloc'd, or an exit code
 * (EXIT_USAGE for a name that is not the escape of any key).
 */
int cli_key_arg(const struct cmd_args *a, const char *arg, void **key,
		size_t *klen);
/* The key escaped for messages and listings (no length limit); malloc'd. */
char *cli_key_text(const void *key, size_t klen);

/* Every key of the table, copied, sorted by their bytes. */
struct cli_key {
	void *key;
	size_t klen;
};
struct cli_keys {
	struct cli_key *v;
	size_t n, cap;
};
int cli_keys_collect(shmtab *t, struct cli_keys *ks);	/* 0 or -errno */
void cli_keys_free(struct cli_keys *ks);

/* The bindings of a key, newest first, copied. */
struct cli_bindings {
	struct cli_key *v;		/* .key holds the value here */
	size_t n, cap;
};
int cli_bindings_collect(shmtab *t, const void *key, size_t klen,
			 struct cli_bindings *bs);	/* 0 or -errno */
void cli_bindings_free(struct cli_bindings *bs);

/* All of a stream into a malloc'd buffer; 0 or -errno. */
int cli_read_all(FILE *in, void **buf, size_t *len);
/* Flush stdout; on a write error say so and return EXIT_FAIL, else 0. */
int cli_flush_stdout(void);

/* Numbers and names of options: 0, or -EINVAL. */
int cli_parse_size(const char *s, size_t *out);
int cli_parse_mode(const char *s, mode_t *out);
int cli_parse_lock(const char *s, enum shmtab_lock *out);
const char *cli_lock_name(enum shmtab_lock lock);

/*
 * The object behind a table name: its path in the file system ("/dev/shm/N"
 * for POSIX names, Linux only) and whether it is POSIX; malloc'd, NULL for
 * a name the library would refuse.
 */
char *cli_object_path(const char *name, bool *posix);

/* malloc that never returns NULL: out of memory ends the program. */
void *cli_malloc(size_t n);
void *cli_realloc(void *p, size_t n);
char *cli_strdup(const char *s);

#endif /* SHMTAB_CMD_H */
