/* SPDX-License-Identifier: MIT */
/*
 * quick.c - operations per second of the engine, one process and two
 *
 *   make bench/quick && bench/quick [KEYS]      (default 100000)
 *
 * 16-byte keys, 100-byte values, a POSIX table.  Each figure is the median
 * of 5 rounds.  Not a comparison with other engines (that is bench/'s
 * other work); a quick figure to watch for regressions.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmtab.h>

#include "bench.h"

#define ROUNDS 5

static void key(char *k, long i)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "key-%012ld", i % 1000000000000L);
	memcpy(k, buf, 16);
}

enum op { INSERT, FIND, REPLACE, REMOVE };

static double run(const char *name, enum op op, long n, long start, long step)
{
	char k[16], v[100];
	shmtab *t;
	size_t vl;
	double t0;
	int err;

	memset(v, 'v', sizeof(v));
	if (shmtab_open(name, O_RDWR, 0, NULL, &t) < 0)
		exit(1);
	t0 = now();
	for (long i = start; i < n; i += step) {
		key(k, i);
		switch (op) {
		case INSERT:
			err = shmtab_add(t, k, 16, v, sizeof(v));
			break;
		case FIND:
			err = shmtab_find_into(t, k, 16, v, sizeof(v), &vl);
			break;
		case REPLACE:
			err = shmtab_replace(t, k, 16, v, sizeof(v));
			break;
		default:
			err = shmtab_remove(t, k, 16);
		}
		if (err < 0) {
			fprintf(stderr, "quick: %s\n", shmtab_strerror(err));
			exit(1);
		}
	}
	t0 = now() - t0;
	shmtab_close(t);
	return (double)((n - start + step - 1) / step) / t0;
}

/* Two processes each doing half: aggregate rate. */
static double run2(const char *name, enum op op, long n)
{
	double t0 = now();

	for (int c = 0; c < 2; c++)
		if (fork() == 0) {
			run(name, op, n, c, 2);
			_exit(0);
		}
	while (wait(NULL) > 0)
		;
	return n / (now() - t0);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	static const char *names[] = { "insert (empty, no hint)", "find",
				       "replace", "remove" };
	double r[4][ROUNDS], r2[ROUNDS], w2[ROUNDS];
	char name[64];
	shmtab *t;

	snprintf(name, sizeof(name), "posix:/shmtab-quick-%d", (int)getpid());
	for (int i = 0; i < ROUNDS; i++) {
		shmtab_unlink(name);
		if (shmtab_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, NULL,
				&t) < 0)
			return 1;
		shmtab_close(t);
		r[INSERT][i] = run(name, INSERT, n, 0, 1);
		r[FIND][i] = run(name, FIND, n, 0, 1);
		r[REPLACE][i] = run(name, REPLACE, n, 0, 1);
		r2[i] = run2(name, FIND, n);
		w2[i] = run2(name, REPLACE, n);
		r[REMOVE][i] = run(name, REMOVE, n, 0, 1);
	}
	shmtab_unlink(name);
	printf("libshmtab, %ld keys of 16 bytes, values of 100 bytes, "
	       "median of %d rounds\n", n, ROUNDS);
	for (int o = 0; o < 4; o++) {
		qsort(r[o], ROUNDS, sizeof(double), cmpd);
		printf("  %-26s %10.0f ops/s\n", names[o], r[o][ROUNDS / 2]);
	}
	qsort(r2, ROUNDS, sizeof(double), cmpd);
	printf("  %-26s %10.0f ops/s\n", "find, 2 processes", r2[ROUNDS / 2]);
	qsort(w2, ROUNDS, sizeof(double), cmpd);
	printf("  %-26s %10.0f ops/s\n", "replace, 2 processes",
	       w2[ROUNDS / 2]);
	return 0;
}
