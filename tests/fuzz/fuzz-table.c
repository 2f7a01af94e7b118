/* SPDX-License-Identifier: MIT */
/*
 * fuzz-table.c - arbitrary bytes as a table file
 *
 * An input becomes a table file, then the harness opens it read-write and
 * read-only and runs check, find, find_all, iter, iter_keys, read_blocks,
 * add, replace and remove on it.  Every call may fail; none may crash, hang
 * or trip a sanitizer.
 *
 * The first input byte chooses how the file is made:
 *   mode 0: the rest of the input is the whole file;
 *   mode 1: a real table (byte 1 picks one of the bases built at start-up)
 *           with the rest of the input from byte 6 overlaid at the offset in
 *           bytes 2..5 (little-endian, modulo the base's size);
 *   mode 2: the same, the offset inside the heap (after the 32 KiB header);
 *   mode 3: a base with sparse patches: 4-byte records (24-bit offset,
 *           value) each setting one byte.
 *
 * With --enable-fuzzing this file is a libFuzzer target (LLVMFuzzerTestOneInput).
 * Otherwise SHMTAB_FUZZ_REPLAY is defined and main() replays every file of
 * the corpus directories given (default $srcdir/tests/fuzz/corpus) plus a
 * fixed number of inputs made from the bases with a fixed seed, so that
 * make check always runs the same inputs.  --write-seeds DIR stores the
 * bases as mode-0 seed files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmtab.h"
#include "testutil.h"

#define NBASES 5
#define HEAP_START 32768u

static unsigned char *base[NBASES];
static size_t base_len[NBASES];
static char path[256];
static char name[300];

static const char *keys[] = { "", "a", "key-1", "key-2", "key-17", "stack",
			      "big", "k\0z", "missing" };
static const size_t klens[] = { 0, 1, 5, 5, 6, 5, 3, 3, 7 };
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int write_file(const unsigned char *buf, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	return 0;
}

/* Real tables: the same bytes on every run (a fixed build of them). */
static void make_bases(void)
{
	static const struct shmtab_options opt[NBASES] = {
		{ 0, 0, SHMTAB_LOCK_BEST },
		{ 160, 0, SHMTAB_LOCK_RECORD },
		{ 0, 0, SHMTAB_LOCK_NONE },
		{ 0, 0, SHMTAB_LOCK_BEST },
		{ 0, 0, SHMTAB_LOCK_BEST },
	};
	static const struct shmtab_schema schema[NBASES] = {
		[3] = { SHMTAB_KIND_HASH, "int64", "pair(string,int64)", NULL },
		[4] = { SHMTAB_KIND_ARRAY, NULL, "pair(string,int32)", NULL },
	};
	unsigned char big[600];
	char k[32], v[64];
	int b, i;

	for (i = 0; i < (int)sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	for (b = 0; b < NBASES; b++) {
		shmtab *t;

		unlink(path);
		if (shmtab_open_typed(name, O_RDWR | O_CREAT | O_EXCL, 0600,
				      &opt[b], b >= 3 ? &schema[b] : NULL, &t)) {
			fprintf(stderr, "fuzz-table: cannot create %s\n", name);
			exit(2);
		}
		if (b == 3) {
			for (i = 0; i < 12; i++) {
				snprintf(v, sizeof(v), "value %d", i * i);
				shmtab_tadd(t, SHMTAB_V_I64(i * 1000003LL),
					    SHMTAB_V_PAIR(SHMTAB_V_STR(v),
							  SHMTAB_V_I64(-i)));
			}
		} else if (b == 4) {
			shmtab_array_resize(t, 40);
			for (i = 0; i < 40; i += 3) {
				snprintf(v, sizeof(v), "elt %d", i);
				shmtab_treplace(t, SHMTAB_V_I64(i),
						SHMTAB_V_PAIR(SHMTAB_V_STR(v),
							      SHMTAB_V_I32(i)));
			}
		} else if (b != 2) {
			for (i = 0; i < 10; i++) {
				snprintf(k, sizeof(k), "key-%d", i);
				snprintf(v, sizeof(v), "value %d", i * i);
				shmtab_add(t, k, strlen(k), v, strlen(v));
			}
			for (i = 0; i < 5; i++)
				shmtab_add(t, "stack", 5, v, (size_t)i * 9);
			shmtab_add(t, "", 0, "empty key", 9);
			shmtab_add(t, "k\0z", 3, "nul", 3);
			shmtab_add(t, "big", 3, big, sizeof(big));
			shmtab_remove(t, "key-3", 5);
			shmtab_replace(t, "key-4", 5, "replaced", 8);
		} else {
			shmtab_add(t, "a", 1, "b", 1);
		}
		shmtab_close(t);
		base[b] = tu_read_path(path, &base_len[b]);
		if (!base[b] || base_len[b] < HEAP_START) {
			fprintf(stderr, "fuzz-table: base %d unreadable\n", b);
			exit(2);
		}
	}
	unlink(path);	/* run_one makes it again for each input */
}

static void init_once(void)
{
	const char *dir = getenv("SHMTAB_TEST_TMPDIR");
	struct stat st;

	if (base[0])
		return;
	if (!dir || !*dir)
		dir = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";
	snprintf(path, sizeof(path), "%s/fuzz-table-%d", dir, (int)getpid());
	snprintf(name, sizeof(name), "file:%s", path);
	make_bases();
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The file an input stands for; malloc'd. */
static unsigned char *build(const uint8_t *data, size_t size, size_t *len)
{
	unsigned mode, b;
	unsigned char *f;
	size_t i, off;

	if (size == 0) {
		*len = 0;
		return malloc(1);
	}
	mode = data[0] & 3;
	if (mode == 0) {
		f = malloc(size);
		memcpy(f, data + 1, size - 1);
		*len = size - 1;
		return f;
	}
	b = size > 1 ? data[1] % NBASES : 0;
	*len = base_len[b];
	f = malloc(*len);
	memcpy(f, base[b], *len);
	if (mode == 3) {
		for (i = 2; i + 4 <= size; i += 4) {
			off = (data[i] | (size_t)data[i + 1] << 8 |
			       (size_t)data[i + 2] << 16) % *len;
			f[off] = data[i + 3];
		}
		return f;
	}
	if (size < 6)
		return f;
	off = le32(data + 2);
	if (mode == 2)
		off = HEAP_START + off % (*len - HEAP_START);
	else
		off %= *len;
	for (i = 6; i < size && off < *len; i++, off++)
		f[off] = data[i];
	return f;
}

static int visit(const void *key, size_t klen, const void *val, size_t vlen,
		 void *ctx)
{
	volatile unsigned char sink = 0;

	/* touch every byte: a bad pointer or length shows here */
	if (klen)
		sink ^= ((const unsigned char *)key)[klen - 1];
	if (vlen)
		sink ^= ((const unsigned char *)val)[vlen - 1];
	(void)sink;
	return ++*(long *)ctx > 100000;
}

static int visit_key(const void *key, size_t klen, void *ctx)
{
	return visit(key, klen, NULL, 0, ctx);
}

static int block_fn(const void *block, size_t len, void *ctx)
{
	volatile unsigned char sink;

	if (block && len)
		sink = ((const unsigned char *)block)[len - 1];
	(void)sink;
	return ++*(long *)ctx > 100000 ? SHMTAB_BREAK : SHMTAB_CONTINUE;
}

static int tvisit(const struct shmtab_value *k, const struct shmtab_value *v,
		  void *ctx)
{
	(void)k;
	(void)v;
	return ++*(long *)ctx > 100000;
}

static int tvisit_key(const struct shmtab_value *k, void *ctx)
{
	return tvisit(k, NULL, ctx);
}

static int format_binding(const void *key, size_t klen, const void *val,
			  size_t vlen, void *ctx)
{
	const struct shmtab_schema *s = ctx;
	char *text;
	void *enc;
	size_t tl, el;

	if (shmtab_format(s->key_type, key, klen, &text, &tl) == 0)
		free(text);
	if (shmtab_format(s->value_type, val, vlen, &text, &tl) == 0) {
		/* the text form parses back to the same bytes */
		if (shmtab_parse(s->value_type, text, tl, &enc, &el) != 0 ||
		    el != vlen || memcmp(enc, val, vlen)) {
			fprintf(stderr, "fuzz-table: %s text does not round "
					"trip\n", s->value_type);
			abort();
		}
		free(enc);
		free(text);
	}
	return 0;
}

/* The typed calls, driven by whatever schema the file claims. */
static void exercise_typed(shmtab *t, int rw)
{
	struct shmtab_schema s;
	struct shmtab_value *v;
	long n = 0;
	int64_t r;
	size_t vl;
	void *raw;

	if (shmtab_get_schema(t, &s) != 0)
		return;
	for (int64_t i = 0; i < 8; i++) {
		if (shmtab_tfind(t, SHMTAB_V_I64(i * 1000003LL), &v) == 0)
			free(v);
		if (shmtab_tfind(t, SHMTAB_V_STR("key-1"), &v) == 0)
			free(v);
		if (shmtab_array_get(t, i * 5, &raw, &vl) == 0)
			free(raw);
		shmtab_int_get(t, SHMTAB_V_I64(i), &r);
	}
	shmtab_array_length(t);
	shmtab_titer(t, tvisit, &n);
	n = 0;
	shmtab_titer_keys(t, tvisit_key, &n);
	shmtab_iter(t, format_binding, &s);
	if (!rw)
		return;
	shmtab_int_add(t, SHMTAB_V_I64(7), 3, &r);
	shmtab_treplace(t, SHMTAB_V_I64(3),
			SHMTAB_V_PAIR(SHMTAB_V_STR("x"), SHMTAB_V_I32(1)));
	shmtab_array_resize(t, 10);
	shmtab_array_resize(t, 30);
	shmtab_tremove(t, SHMTAB_V_I64(2000006));
	shmtab_check(t);
}

/* The decoders on the raw input, with every kind of type. */
static void exercise_decode(const uint8_t *data, size_t size)
{
	static const char *types[] = {
		"int32", "int64", "string", "pair(int32,string)",
		"pair(string,pair(int64,bytes))", "pair(pair(int32,int32),int)",
	};
	struct shmtab_value *v;
	char *text;
	void *enc;
	size_t tl, el;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (shmtab_decode(types[i], data, size, &v) == 0) {
			if (shmtab_encode(v, &enc, &el) != 0 || el != size ||
			    memcmp(enc, data, size)) {
				fprintf(stderr, "fuzz-table: %s does not "
					"re-encode\n", types[i]);
				abort();
			}
			free(enc);
			free(v);
		}
		if (shmtab_format(types[i], data, size, &text, &tl) == 0)
			free(text);
		if (shmtab_parse(types[i], (const char *)data, size, &enc,
				 &el) == 0)
			free(enc);
	}
}

static void exercise(shmtab *t, int rw)
{
	struct shmtab_stat st;
	long n = 0;
	size_t i, vl;
	void *v;
	char buf[64];

	shmtab_check(t);
	shmtab_stat(t, &st);
	shmtab_length(t);
	for (i = 0; i < NKEYS; i++) {
		if (shmtab_find(t, keys[i], klens[i], &v, &vl) == 0)
			free(v);
		shmtab_find_into(t, keys[i], klens[i], buf, sizeof(buf), &vl);
		shmtab_mem(t, keys[i], klens[i]);
		n = 0;
		shmtab_find_all(t, keys[i], klens[i], visit, &n);
		n = 0;
		shmtab_read_blocks(t, keys[i], klens[i], block_fn, &n);
	}
	n = 0;
	shmtab_iter(t, visit, &n);
	n = 0;
	shmtab_iter_keys(t, visit_key, &n);
	exercise_typed(t, rw);
	if (rw) {
		shmtab_add(t, "key-1", 5, "new", 3);
		shmtab_add(t, "fresh", 5, buf, sizeof(buf));
		shmtab_replace(t, "key-2", 5, "rep", 3);
		shmtab_remove(t, "key-1", 5);
		shmtab_remove(t, "stack", 5);
		shmtab_check(t);
	} else {
		int rc = shmtab_add(t, "x", 1, "y", 1);

		if (rc != -EROFS && rc != -EBADMSG && rc != -EAGAIN) {
			fprintf(stderr, "fuzz-table: add on a read-only handle "
					"returned %d\n", rc);
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *f;
	size_t len;
	shmtab *t;

	init_once();
	exercise_decode(data, size);
	f = build(data, size, &len);
	if (write_file(f, len) == 0) {
		if (shmtab_open(name, O_RDWR, 0, NULL, &t) == 0) {
			exercise(t, 1);
			shmtab_close(t);
		}
		/* the read-only pass sees the input as it was; an empty
		 * file makes a read-only open wait for its creator */
		if (len && write_file(f, len) == 0 &&
		    shmtab_open(name, O_RDONLY, 0, NULL, &t) == 0) {
			exercise(t, 0);
			shmtab_close(t);
		}
	}
	unlink(path);
	free(f);
	return 0;
}

#ifdef SHMTAB_FUZZ_REPLAY
/* Fixed-seed inputs made from the bases: 32-bit xorshift. */
static uint32_t xs = 2463534242u;
static uint32_t next_rand(void)
{
	xs ^= xs << 13;
	xs ^= xs >> 17;
	xs ^= xs << 5;
	return xs;
}

static int run_one(const uint8_t *data, size_t size)
{
	alarm(20); /* a hang fails the test */
	LLVMFuzzerTestOneInput(data, size);
	alarm(0);
	return 0;
}

static long replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	const char *kn = getenv("SHMTAB_FUZZ_KNOWN");
	int known = kn && *kn == '1';
	struct dirent *e;
	long n = 0;

	if (!d) {
		fprintf(stderr, "fuzz-table: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		char p[4096];
		unsigned char *buf;
		size_t len;

		if (e->d_name[0] == '.')
			continue;
		/* known-*: inputs of open library bugs, replayed on request
		 * (SHMTAB_FUZZ_KNOWN=1) until fixed, then renamed */
		if (!strncmp(e->d_name, "known-", 6) && !known)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		buf = tu_read_path(p, &len);
		if (!buf)
			continue;
		run_one(buf, len);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

static int write_seeds(const char *dir)
{
	int b;

	init_once();
	for (b = 0; b < NBASES; b++) {
		char p[4096];
		FILE *f;

		snprintf(p, sizeof(p), "%s/seed-base%d", dir, b);
		f = fopen(p, "wb");
		if (!f)
			return 1;
		fputc(0, f); /* mode 0: the whole file */
		fwrite(base[b], 1, base_len[b], f);
		fclose(f);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *srcdir = getenv("srcdir");
	char def[4096];
	long files = 0, n, gen = 0;
	int i, runs = 400;
	const char *e = getenv("SHMTAB_FUZZ_RUNS");

	if (argc == 3 && !strcmp(argv[1], "--write-seeds"))
		return write_seeds(argv[2]);
	if (e && *e)
		runs = atoi(e);
	init_once();
	if (argc > 1) {
		for (i = 1; i < argc; i++) {
			n = replay_dir(argv[i]);
			if (n < 0)
				return 1;
			files += n;
		}
	} else {
		snprintf(def, sizeof(def), "%s/tests/fuzz/corpus",
			 srcdir && *srcdir ? srcdir : ".");
		n = replay_dir(def);
		if (n < 0)
			return 1;
		files += n;
	}
	for (gen = 0; gen < runs; gen++) {
		uint8_t in[512];
		size_t len = 6 + next_rand() % (sizeof(in) - 6), j;

		for (j = 0; j < len; j++)
			in[j] = (uint8_t)next_rand();
		/* mostly small overlays: a whole random tail rarely opens */
		if (in[0] % 4 != 3)
			len = 6 + next_rand() % 24;
		run_one(in, len);
	}
	for (i = 0; i < NBASES; i++)
		free(base[i]);
	printf("fuzz-table: %ld corpus files, %ld generated inputs, no crash\n",
	       files, gen);
	return 0;
}
#endif
