/* SPDX-License-Identifier: MIT */
/*
 * counter.c - the C side of the shared-counter example (counter-demo.sh)
 *
 *   shmtab-counter create TABLE          a new string -> int64 table
 *   shmtab-counter add TABLE KEY N [US]  N increments of KEY, US
 *                                        microseconds apart (default 0)
 *   shmtab-counter get TABLE KEY         print KEY's value
 *
 * Each increment is one shmtab_int_add(): the library reads, adds and
 * writes under the table's lock, so increments from any number of
 * processes, through the library or through a shmtabfs mount (where
 * `echo 1 >> MOUNT/TABLE/KEY` does the same add), are never lost.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shmtab.h>

static int fail(const char *what, const char *table, int err)
{
	fprintf(stderr, "shmtab-counter: %s '%s': %s\n", what, table,
		shmtab_strerror(err));
	return 1;
}

static int usage(void)
{
	fputs("usage: shmtab-counter create TABLE\n"
	      "       shmtab-counter add TABLE KEY N [MICROSECONDS]\n"
	      "       shmtab-counter get TABLE KEY\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	struct shmtab_schema schema = { SHMTAB_KIND_HASH, "string", "int64",
					NULL };
	long n, pause_us = 0;
	int64_t v;
	shmtab *t;
	int err;

	if (argc == 3 && !strcmp(argv[1], "create")) {
		err = shmtab_open_typed(argv[2], O_RDWR | O_CREAT | O_EXCL,
					0644, NULL, &schema, &t);
		if (err < 0)
			return fail("cannot create", argv[2], err);
		return shmtab_close(t) < 0;
	}
	if (argc < 4)
		return usage();
	/* an existing table: the schema must say string -> int64 */
	err = shmtab_open_typed(argv[2], O_RDWR, 0, NULL, &schema, &t);
	if (err < 0)
		return fail("cannot open", argv[2], err);
	if (!strcmp(argv[1], "get") && argc == 4) {
		err = shmtab_int_get(t, SHMTAB_V_STR(argv[3]), &v);
		if (err == 0)
			printf("%" PRId64 "\n", v);
	} else if (!strcmp(argv[1], "add") && (argc == 5 || argc == 6)) {
		n = atol(argv[4]);
		if (argc == 6)
			pause_us = atol(argv[5]);
		for (long i = 0; i < n && err == 0; i++) {
			err = shmtab_int_add(t, SHMTAB_V_STR(argv[3]), 1, NULL);
			if (pause_us > 0)
				usleep((useconds_t)pause_us);
		}
	} else {
		shmtab_close(t);
		return usage();
	}
	shmtab_close(t);
	return err < 0 ? fail(argv[1], argv[2], err) : 0;
}
