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
	cmd_rm, cmd_incr, cmd_keys, cmd_dump, cmd_load, cmd_stat, cmd_resize,
	cmd_check, cmd_repair, cmd_list, cmd_unlink;

/* A table's first 8 bytes (doc/FORMAT.md). */
#define TABLE_MAGIC "SHMTAB\r\n"

/*
 * The dump text format (doc/FORMAT.md, "Dump text format"): the first line,
 * the header keywords, and the data line tags.
 */
#define DUMP_MAGIC "shmtab-dump"
#define DUMP_VERSION 1

/*
 * The work of load and dump on a stream, for the commands and the fuzz
 * harness (tests/fuzz/fuzz-load.c): messages on stderr, the exit code.
 * trunc: load's -t.
 */
int cmd_load_from(const char *name, FILE *in, bool trunc);
int cmd_dump_to(const char *name, FILE *out);

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

/*
 * Typed tables (shmtab(1), TYPED TABLES).  The schema of an open table as
 * the commands use it: canonical type names, and for an array its default,
 * encoded.  A key or value type is "raw" when its text form is its bytes
 * (bytes, string); the text of any other type ends in a newline that
 * shmtab_format adds and listings and dumps leave out.
 */
#define CLI_TYPE_NAME_MAX 512
struct cli_schema {
	bool array;
	bool typed;			/* anything but a hash of bytes to bytes */
	bool key_raw, value_raw;
	char key_type[CLI_TYPE_NAME_MAX], value_type[CLI_TYPE_NAME_MAX];
	void *dflt;			/* arrays; malloc'd */
	size_t dlen;
};
/* Read t's schema; on failure say so and return the exit code, else 0. */
int cli_schema_get(shmtab *t, struct cli_schema *cs);
void cli_schema_free(struct cli_schema *cs);
/* cli_open, then cli_schema_get; on failure the table is closed, the
 * error said, and the exit code returned. */
int cli_open_schema(const char *name, int oflags, shmtab **out,
		    struct cli_schema *cs);
/* A KEY argument for messages: its text as given for a typed key, else
 * the escaped key; malloc'd. */
char *cli_key_label(const struct cli_schema *cs, const char *arg,
		    const void *key, size_t klen);
bool cli_type_raw(const char *type);
/* The text form of an encoded value of type, without the newline that
 * shmtab_format adds to an integer or a pair; malloc'd, NUL-terminated.
 * 0 or -errno (-EBADMSG: not a valid encoding). */
int cli_text(const char *type, const void *buf, size_t len, char **text,
	     size_t *tlen);
/*
 * A KEY argument of a table with schema cs: for a raw key type (and an
 * untyped table) cli_key_arg(); else the key's text form, escaped as
 * "shmtab keys" prints it (a raw tab also stands for itself) or as it is
 * with -x, parsed with shmtab_parse; or the name shmtabfs gives a key
 * whose escape is longer than 255 bytes (escape.h), which is looked for
 * among t's keys.  Returns 0 with *key malloc'd (the encoding), or an exit
 * code after a message.
 */
int cli_tkey_arg(const struct cmd_args *a, shmtab *t,
		 const struct cli_schema *cs, const char *arg, void **key,
		 size_t *klen);
/* A value in the text form of cs's value type (the bytes as they are for
 * a raw type), encoded; 0 with *val malloc'd, or -EINVAL. */
int cli_tvalue(const struct cli_schema *cs, const void *text, size_t tlen,
	       void **val, size_t *vlen);
/* The index an array key (an encoded int64) stands for. */
int64_t cli_index(const void *key, size_t klen);
/* Text for a message: control bytes as C escapes, cut after 60 bytes;
 * malloc'd. */
char *cli_show(const void *p, size_t n);
/* "index I is outside 'NAME' (length N)" with EINVAL; the exit code. */
int cli_index_fail(shmtab *t, const char *name, int64_t i);
/* A decimal int64 argument (shmtab_parse "int64"): 0 or -EINVAL. */
int cli_parse_int64(const char *s, int64_t *out);

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
/* The same sorted by their values for a typed key type (integers by
 * number, pairs part by part); an array's indexes below its length only. */
int cli_keys_collect_typed(shmtab *t, const struct cli_schema *cs,
			   struct cli_keys *ks);	/* 0 or -errno */
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
