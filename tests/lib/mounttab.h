/* SPDX-License-Identifier: MIT */
/*
 * mounttab.h - a mount test's table, its files' paths, and what they read
 *
 * Unlike testutil.h and mountutil.h these assert: include after <cmocka.h>
 * (and with _GNU_SOURCE, for asprintf), and call them in the test process,
 * never in a forked child.  Static inline: each test program has its own.
 */
#ifndef SHMTAB_MOUNTTAB_H
#define SHMTAB_MOUNTTAB_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "mountutil.h"
#include "shmtab.h"
#include "testutil.h"

/* A table of this run: its library name and its name under the mount. */
struct mt_table {
	char *name;		/* "posix:/PREFIXtag" */
	char tag[32];		/* stem and a count */
	shmtab *t;		/* NULL until opened */
};

/* The names of a new table under the source "posix:PREFIX"; nothing is
 * made (a test may mkdir it through the mount). */
static inline struct mt_table *mt_table_name(const char *prefix,
					     const char *stem)
{
	static int n;
	struct mt_table *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->tag, sizeof(f->tag), "%s%d", stem, ++n);
	assert_true(asprintf(&f->name, "posix:/%s%s", prefix, f->tag) > 0);
	return f;
}

/* A new table with schema (NULL: bytes), open read-write in f->t. */
static inline struct mt_table *mt_table_new(const char *prefix,
					    const char *stem,
					    const struct shmtab_schema *schema)
{
	struct mt_table *f = mt_table_name(prefix, stem);

	assert_int_equal(shmtab_open_typed(f->name,
					   O_RDWR | O_CREAT | O_EXCL, 0600,
					   NULL, schema, &f->t),
			 0);
	return f;
}

/* Close and remove the table; NULL is accepted. */
static inline void mt_table_free(struct mt_table *f)
{
	if (!f)
		return;
	shmtab_close(f->t);
	tu_remove(f->name);
	free(f->name);
	free(f);
}

/* The path of name in f's directory under mount m (malloc'd). */
static inline char *mt_path(const struct tu_mount *m,
			    const struct mt_table *f, const char *name)
{
	char *s = tu_mount_path(m, f->tag, name);

	assert_non_null(s);
	return s;
}

/* The file at path reads want (through the mount). */
static inline void mt_assert_reads(const char *path, const char *want)
{
	char got[256];
	ssize_t n = tu_read_file(path, got, sizeof(got) - 1);

	assert_true(n >= 0);
	got[n] = '\0';
	assert_string_equal(got, want);
}

#endif /* SHMTAB_MOUNTTAB_H */
