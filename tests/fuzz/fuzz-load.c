/* SPDX-License-Identifier: MIT */
/*
 * fuzz-load.c - arbitrary bytes as the input of "shmtab load"
 *
 * Each input is loaded with the command's own code (cmd_load_from,
 * src/cmd-load.c, compiled in with the CLI helpers) into a fresh file
 * table.  Load may refuse the input; it must not crash, hang or trip a
 * sanitizer.  When it succeeds, the table must pass shmtab_check, and its
 * dump (cmd_dump_to) must load into a second fresh table whose dump is the
 * same text: else abort().
 *
 * With --enable-fuzzing this file is a libFuzzer target (LLVMFuzzerTestOneInput).
 * Otherwise SHMTAB_FUZZ_REPLAY is defined and main() replays every file of
 * the corpus directories given (default $srcdir/tests/fuzz/load-corpus)
 * plus a fixed number of mutations of those files made with a fixed seed,
 * so that make check always runs the same inputs; there the command's
 * messages go to /dev/null unless SHMTAB_FUZZ_VERBOSE=1.  Under libFuzzer
 * pass -close_fd_mask=2 instead (its and the sanitizers' reports stay).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "testutil.h"

static char path[2][256];
static char name[2][300];
static int saved_stderr = -1, null_fd = -1;

static void init_once(void)
{
	const char *dir = getenv("SHMTAB_TEST_TMPDIR");
	const char *verbose = getenv("SHMTAB_FUZZ_VERBOSE");
	struct stat st;

	if (name[0][0])
		return;
	if (!dir || !*dir)
		dir = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
	for (int i = 0; i < 2; i++) {
		snprintf(path[i], sizeof(path[i]), "%s/fuzz-load-%d-%c", dir,
			 (int)getpid(), 'a' + i);
		snprintf(name[i], sizeof(name[i]), "file:%s", path[i]);
	}
#ifdef SHMTAB_FUZZ_REPLAY
	if (!verbose || *verbose != '1') {
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		saved_stderr = fcntl(2, F_DUPFD_CLOEXEC, 3);
	}
#else
	(void)verbose;	/* libFuzzer: -close_fd_mask=2 keeps its reports */
#endif
}

/* The command's messages off (and back on) unless verbose. */
static void quiet(int on)
{
	if (null_fd < 0 || saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(on ? null_fd : saved_stderr, 2);
}

static int load(int i, const void *data, size_t size)
{
	FILE *in;
	int rc;

	/* fmemopen of 0 bytes fails on older C libraries */
	in = size ? fmemopen((void *)data, size, "r") : fopen("/dev/null", "r");
	if (!in) {
		fprintf(stderr, "fuzz-load: fmemopen: %s\n", strerror(errno));
		abort();
	}
	quiet(1);
	rc = cmd_load_from(name[i], in, false);
	quiet(0);
	fclose(in);
	return rc;
}

/* The dump of table i; malloc'd, or NULL with the exit code in *rc. */
static char *dump(int i, size_t *len, int *rc)
{
	char *buf = NULL;
	FILE *out = open_memstream(&buf, len);

	if (!out) {
		fprintf(stderr, "fuzz-load: open_memstream: %s\n",
			strerror(errno));
		abort();
	}
	quiet(1);
	*rc = cmd_dump_to(name[i], out);
	quiet(0);
	fclose(out);
	if (*rc) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void fail(const char *what, int rc, const char *d1, size_t l1,
		 const char *d2, size_t l2)
{
	fprintf(stderr, "fuzz-load: %s (exit code %d)\n", what, rc);
	if (d1)
		fprintf(stderr, "--- dump of the loaded table:\n%.*s", (int)l1,
			d1);
	if (d2)
		fprintf(stderr, "--- dump after the round trip:\n%.*s",
			(int)l2, d2);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *d1 = NULL, *d2 = NULL;
	size_t l1 = 0, l2 = 0;
	shmtab *t;
	int rc, err;

	init_once();
	unlink(path[0]);
	unlink(path[1]);
	if (load(0, data, size) != 0)
		goto out;
	err = shmtab_open(name[0], O_RDWR, 0, NULL, &t);
	if (err < 0)
		fail("cannot open the loaded table", err, NULL, 0, NULL, 0);
	err = shmtab_check(t);
	shmtab_close(t);
	if (err < 0)
		fail("the loaded table fails shmtab_check", err, NULL, 0,
		     NULL, 0);
	d1 = dump(0, &l1, &rc);
	if (!d1)
		fail("cannot dump the loaded table", rc, NULL, 0, NULL, 0);
	rc = load(1, d1, l1);
	if (rc)
		fail("its dump does not load", rc, d1, l1, NULL, 0);
	d2 = dump(1, &l2, &rc);
	if (!d2)
		fail("cannot dump the second table", rc, d1, l1, NULL, 0);
	if (l1 != l2 || memcmp(d1, d2, l1))
		fail("the dump does not round trip", 0, d1, l1, d2, l2);
out:
	free(d1);
	free(d2);
	unlink(path[0]);
	unlink(path[1]);
	return 0;
}

#ifdef SHMTAB_FUZZ_REPLAY
/* Fixed-seed mutations of the corpus files: 32-bit xorshift. */
static uint32_t xs = 2463534242u;
static uint32_t next_rand(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 17;
	xs ^= xs << 5;
	return xs;
}

struct input {
	unsigned char *buf;
	size_t len;
};
static struct input *inputs;
static size_t ninputs, ninputs_cap;

static void run_one(const uint8_t *data, size_t size)
{
	alarm(20); /* a hang fails the test */
	LLVMFuzzerTestOneInput(data, size);
	alarm(0);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file of dir, in name order (the mutations depend on it). */
static long replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, ncap = 0;

	if (!d) {
		fprintf(stderr, "fuzz-load: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == ncap) {
			ncap = ncap ? 2 * ncap : 32;
			names = realloc(names, ncap * sizeof(names[0]));
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n; i++) {
		char p[4096];
		unsigned char *buf;
		size_t len;

		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		free(names[i]);
		buf = tu_read_path(p, &len);
		if (!buf)
			continue;
		run_one(buf, len);
		if (ninputs == ninputs_cap) {
			ninputs_cap = ninputs_cap ? 2 * ninputs_cap : 32;
			inputs = realloc(inputs,
					 ninputs_cap * sizeof(inputs[0]));
		}
		inputs[ninputs++] = (struct input){ buf, len };
	}
	free(names);
	return (long)n;
}

/* A few byte edits of a corpus file, some of them text-aware. */
static void mutate(struct input *in, unsigned char *out, size_t *len,
		   size_t cap)
{
	static const char *words[] = {
		"\n", " ", "\\", "\\0", "\\ff", "k ", "v ", "end 0 0",
		"-9223372036854775808", "9223372036854775807", "\"", "(",
		")", ",", "array 3\n", "default ", "key-type int64\n",
		"value-type pair(string,int64)\n", "pagesize 4096\n",
		"lock none\n", "data\n", "\r\n", "0", "-1",
	};
	size_t n = in->len < cap ? in->len : cap, data = 0;
	int edits = 1 + (int)(next_rand() % 4);
	const char *d;

	memcpy(out, in->buf, n);
	/* most edits in the data lines: a broken header stops load early */
	d = memmem(out, n, "\ndata\n", 6);
	if (d && next_rand() % 4)
		data = (size_t)(d - (const char *)out) + 6;
	while (edits--) {
		size_t at = n > data ? data + next_rand() % (n - data + 1) : n;

		switch (next_rand() % 5) {
		case 0: /* flip a byte */
			if (at < n)
				out[at] = (unsigned char)next_rand();
			break;
		case 1: /* delete a run */
			if (at < n) {
				size_t k = 1 + next_rand() % 8;

				if (k > n - at)
					k = n - at;
				memmove(out + at, out + at + k, n - at - k);
				n -= k;
			}
			break;
		case 2: /* cut the input short */
			n = at;
			break;
		case 3: /* a digit changed */
			for (size_t i = at; i < n; i++)
				if (out[i] >= '0' && out[i] <= '9') {
					out[i] = (unsigned char)('0' +
						 next_rand() % 10);
					break;
				}
			break;
		default: { /* insert a word of the format */
			const char *w = words[next_rand() %
					      (sizeof(words) / sizeof(words[0]))];
			size_t wl = strlen(w);

			if (n + wl > cap)
				break;
			memmove(out + at + wl, out + at, n - at);
			memcpy(out + at, w, wl);
			n += wl;
		}
		}
	}
	/* often the end line recounted, so that the edits reach the table */
	d = n > data ? memmem(out + data, n - data, "\nend ", 5) : NULL;
	if (data && d && next_rand() % 2) {
		unsigned long nk = 0, nv = 0;
		size_t at = (size_t)(d - (const char *)out) + 1;

		for (size_t i = data; i < at; i++)
			if (i == data || out[i - 1] == '\n') {
				nk += out[i] == 'k';
				nv += out[i] == 'v';
			}
		if (at + 48 <= cap)
			n = at + (size_t)snprintf((char *)out + at, 48,
						  "end %lu %lu\n", nk, nv);
	}
	*len = n;
}

int main(int argc, char **argv)
{
	const char *srcdir = getenv("srcdir");
	const char *e = getenv("SHMTAB_FUZZ_RUNS");
	char def[4096];
	long files = 0, n, gen = 0;
	int runs = 400;

	if (e && *e)
		runs = atoi(e);
	init_once();
	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			n = replay_dir(argv[i]);
			if (n < 0)
				return 1;
			files += n;
		}
	} else {
		snprintf(def, sizeof(def), "%s/tests/fuzz/load-corpus",
			 srcdir && *srcdir ? srcdir : ".");
		n = replay_dir(def);
		if (n < 0)
			return 1;
		files += n;
	}
	for (gen = 0; gen < runs && ninputs; gen++) {
		static unsigned char out[8192];
		size_t len;

		mutate(&inputs[next_rand() % ninputs], out, &len, sizeof(out));
		run_one(out, len);
	}
	for (size_t i = 0; i < ninputs; i++)
		free(inputs[i].buf);
	free(inputs);
	printf("fuzz-load: %ld corpus files, %ld generated inputs, no crash\n",
	       files, gen);
	return 0;
}
#endif
