/* SPDX-License-Identifier: MIT */
/*
 * t-hostile.c - tables with hostile contents: random files, damaged headers,
 * truncation, scribbled bytes.  Nothing may crash or hang; every call returns
 * 0 or a negative errno; a rejected file is never written.
 *
 * Each case runs in a forked child: a signal or a hang (tu_wait timeout) is a
 * failure that names the case's seed or offset, so it can be replayed:
 * SHMTAB_HOSTILE_SEED=N runs only scribble seed N.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmtab.h"
#include "testutil.h"

#define CASE_TIMEOUT_S 10
#define NKEYS 100
#define MAX_REPORT 10		/* failing cases listed per test */

/* What the child saw; in a shared anonymous mapping. */
struct hres {
	int open_rc;
	int check_rc;
	int bad_op;		/* the call that returned a value out of range */
	long long bad_rc;
};

struct hfix {
	char *name;
	char *path;
	struct hres *res;
	unsigned char *pristine;	/* a valid table's bytes */
	size_t plen;
	int failures;
	char report[MAX_REPORT * 96];
};

static int hostile_setup(void **state)
{
	struct hfix *fx = calloc(1, sizeof(*fx));
	void *p;

	if (!fx)
		return -1;
	p = mmap(NULL, sizeof(struct hres), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	fx->res = p;
	fx->name = tu_file_name("hostile");
	if (!fx->name)
		return -1;
	fx->path = tu_object_path(fx->name);
	if (!fx->path)
		return -1;
	*state = fx;
	return 0;
}

static int hostile_teardown(void **state)
{
	struct hfix *fx = *state;

	unlink(fx->path);
	tu_remove(fx->name);
	free(fx->name);
	free(fx->path);
	free(fx->pristine);
	munmap(fx->res, sizeof(struct hres));
	free(fx);
	return 0;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void write_path(const char *path, const void *buf, size_t len)
{
	const char *p = buf;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
	assert_int_equal(close(fd), 0);
}

static void key_name(char *buf, size_t cap, int i)
{
	snprintf(buf, cap, "key%03d", i);
}

/* A valid table with NKEYS keys (values 50-300 bytes), kept as bytes. */
static void make_pristine(struct hfix *fx)
{
	unsigned char val[300];
	shmtab *t;
	char k[16];
	int i;

	unlink(fx->path);
	assert_int_equal(tu_create(fx->name, NULL, &t), 0);
	for (i = 0; i < NKEYS; i++) {
		size_t len = 50 + (size_t)(i * 37) % 251;

		key_name(k, sizeof(k), i);
		tu_fill(val, len, (uint32_t)i);
		assert_int_equal(shmtab_add(t, k, strlen(k), val, len), 0);
		if (i % 10 == 0)	/* a few keys with two bindings */
			assert_int_equal(shmtab_add(t, k, strlen(k), "x", 1),
					 0);
	}
	assert_int_equal(shmtab_remove(t, "key050", 6), 0);
	assert_int_equal(shmtab_check(t), 0);
	assert_int_equal(shmtab_close(t), 0);
	fx->pristine = tu_read_path(fx->path, &fx->plen);
	assert_non_null(fx->pristine);
	assert_true(fx->plen > 4096);
}

/* --------------------------------------------------------- the child */

static bool sane(long long rc)
{
	return rc == 0 || (rc < 0 && rc >= -4095);
}

struct ex_arg {
	const char *name;
	int oflags;
	struct hres *res;
};

static int nop_binding(const void *key, size_t klen, const void *val,
		       size_t vlen, void *ctx)
{
	(void)key, (void)klen, (void)val, (void)vlen;
	(*(long *)ctx)++;
	return 0;
}

static int nop_key(const void *key, size_t klen, void *ctx)
{
	(void)key, (void)klen;
	(*(long *)ctx)++;
	return 0;
}

static int nop_block(const void *block, size_t len, void *ctx)
{
	(void)block, (void)len, (void)ctx;
	return SHMTAB_CONTINUE;
}

static int nop_wblock(void *block, size_t len, void *ctx)
{
	(void)block, (void)len, (void)ctx;
	return SHMTAB_CONTINUE;
}

static int grp_body(shmtab *t, void *ctx)
{
	void *v = NULL;
	size_t vlen;
	int rc;

	(void)ctx;
	rc = shmtab_find(t, "key007", 6, &v, &vlen);
	if (rc == 0)
		free(v);
	return shmtab_add(t, "grp", 3, "g", 1);
}

#define CK(id, expr)                                                     \
	do {                                                             \
		long long r_ = (expr);                                   \
		if (!sane(r_)) {                                         \
			a->res->bad_op = (id);                           \
			a->res->bad_rc = r_;                             \
			shmtab_close(t);                                 \
			return 20 + (id);                                \
		}                                                        \
	} while (0)

/*
 * Exit 0: opened, every call sane; 1: open refused with an errno;
 * 2: open gave a strange value; 20+n: call n returned a strange value.
 */
static int child_exercise(void *arg)
{
	struct ex_arg *a = arg;
	struct shmtab_stat st;
	unsigned char buf[64];
	uint64_t since = 0, hashes[8];
	shmtab *t = NULL;
	void *v;
	size_t vlen;
	long long len;
	long n = 0;
	char k[16];
	FILE *devnull;
	int i, rc;

	memset(a->res, 0, sizeof(*a->res));
	rc = shmtab_open(a->name, a->oflags, 0, NULL, &t);
	a->res->open_rc = rc;
	if (rc < 0)
		return sane(rc) ? 1 : 2;
	if (rc != 0 || !t)
		return 2;

	a->res->check_rc = shmtab_check(t);
	CK(1, a->res->check_rc);
	len = shmtab_length(t);
	CK(2, len >= 0 ? 0 : len);
	CK(3, shmtab_stat(t, &st));
	for (i = 0; i < NKEYS; i++) {
		key_name(k, sizeof(k), i);
		v = NULL;
		rc = shmtab_find(t, k, strlen(k), &v, &vlen);
		CK(4, rc);
		if (rc == 0) {
			if (!v)
				CK(4, 1);
			free(v);
		}
		rc = shmtab_find_into(t, k, strlen(k), buf, sizeof(buf),
				      &vlen);
		CK(5, rc);
		rc = shmtab_mem(t, k, strlen(k));
		CK(6, rc == 1 ? 0 : rc);
	}
	CK(7, shmtab_find_all(t, "key010", 6, nop_binding, &n));
	CK(8, shmtab_read_blocks(t, "key011", 6, nop_block, NULL));
	CK(9, shmtab_iter(t, nop_binding, &n));
	CK(10, shmtab_iter_keys(t, nop_key, &n));
	rc = shmtab_changes(t, &since, hashes, 8);
	CK(11, rc > 0 ? 0 : rc);
	devnull = fopen("/dev/null", "w");
	if (devnull) {
		CK(12, shmtab_dump(t, devnull));
		fclose(devnull);
	}
	/* writes: -EROFS on a read-only handle, else 0 or an error */
	CK(13, shmtab_add(t, "new", 3, "value", 5));
	CK(14, shmtab_replace(t, "key002", 6, "r", 1));
	CK(15, shmtab_remove(t, "key003", 6));
	CK(16, shmtab_remove(t, "new", 3));
	CK(17, shmtab_write_blocks(t, "key004", 6, nop_wblock, NULL));
	CK(18, shmtab_group(t, grp_body, NULL));
	CK(19, shmtab_check(t));
	CK(20, shmtab_close(t));
	return 0;
}

#undef CK

/*
 * Run one case in a child.  Returns the child's exit code (0 or 1), or
 * records a failure (signal, hang, strange value) under the label.
 */
static int run_case(struct hfix *fx, int oflags, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int run_case(struct hfix *fx, int oflags, const char *fmt, ...)
{
	struct ex_arg a = { .name = fx->name, .oflags = oflags,
			    .res = fx->res };
	char label[64], what[96];
	va_list ap;
	pid_t pid;
	int rc;

	pid = tu_fork(child_exercise, &a);
	assert_true(pid > 0);
	rc = tu_wait(pid, CASE_TIMEOUT_S);
	if (rc == 0 || rc == 1)
		return rc;

	va_start(ap, fmt);
	vsnprintf(label, sizeof(label), fmt, ap);
	va_end(ap);
	if (rc == TU_WAIT_TIMEOUT)
		snprintf(what, sizeof(what), "%s: hung\n", label);
	else if (rc < 0)
		snprintf(what, sizeof(what), "%s: signal %d\n", label, -rc);
	else if (rc >= 20)
		snprintf(what, sizeof(what), "%s: call %d returned %lld\n",
			 label, rc - 20, fx->res->bad_rc);
	else
		snprintf(what, sizeof(what), "%s: exit %d (open %d)\n", label,
			 rc, fx->res->open_rc);
	if (fx->failures++ < MAX_REPORT)
		strncat(fx->report, what,
			sizeof(fx->report) - strlen(fx->report) - 1);
	fprintf(stderr, "# %s", what);
	return -1;
}

static void expect_no_failures(struct hfix *fx, int cases)
{
	if (fx->failures)
		fail_msg("%d of %d cases failed (first ones):\n%s",
			 fx->failures, cases, fx->report);
}

/* ---------------------------------------------------------- the tests */

static void test_hostile_random_files_rejected(void **state)
{
	struct hfix *fx = *state;
	unsigned char *buf = malloc(65536);
	int seed, cases = 0, opened = 0;

	assert_non_null(buf);
	make_pristine(fx);
	for (seed = 0; seed < 200; seed++) {
		uint64_t s = (uint64_t)seed;
		size_t len, pre;
		int o, rc;

		switch (seed % 6) {
		case 0:	/* len 0 only for seed 0: a read-only open of an
			 * empty file may wait for its creator */
			len = 1 + rng_next(&s) % 16;
			break;
		case 1:
			len = 4096;
			break;
		case 2:
			len = 4096 * (1 + rng_next(&s) % 16);
			break;
		default:
			len = rng_next(&s) % 65537;
		}
		if (seed == 0)
			len = 0;
		tu_fill(buf, len, (uint32_t)seed);
		/* half the files start like a real table, then go wrong */
		if (seed % 2 && len > 0) {
			pre = (size_t[]){ 8, 16, 64, 256, 4096 }[seed / 2 % 5];
			if (pre > len)
				pre = len;
			memcpy(buf, fx->pristine, pre);
		}
		for (o = 0; o < 2; o++) {
			int oflags = o ? O_RDWR : O_RDONLY;

			write_path(fx->path, buf, len);
			cases++;
			rc = run_case(fx, oflags, "seed %d len %zu %s", seed,
				      len, o ? "rdwr" : "rdonly");
			if (rc == 0)
				opened++;
			if (rc == 1 && !tu_object_equals(fx->name, buf, len)) {
				fx->failures++;
				fprintf(stderr, "# seed %d: rejected file "
					"(open %d) was written\n", seed,
					fx->res->open_rc);
			}
		}
	}
	free(buf);
	printf("# random files: %d cases, %d opened\n", cases, opened);
	expect_no_failures(fx, cases);
}

static void test_hostile_hello_file_untouched(void **state)
{
	struct hfix *fx = *state;
	int o;

	for (o = 0; o < 2; o++) {
		write_path(fx->path, "hello", 5);
		assert_int_equal(run_case(fx, o ? O_RDWR : O_RDONLY, "hello"),
				 1);
		assert_int_equal(fx->res->open_rc, -EBADMSG);
		assert_int_equal(tu_object_size(fx->name), 5);
		assert_true(tu_object_equals(fx->name, "hello", 5));
	}
	expect_no_failures(fx, 2);
}

static void test_hostile_bad_magic_untouched(void **state)
{
	struct hfix *fx = *state;
	unsigned char *buf;
	int o;

	make_pristine(fx);
	buf = malloc(fx->plen);
	assert_non_null(buf);
	memcpy(buf, fx->pristine, fx->plen);
	memcpy(buf, "NOTATABL", 8);
	for (o = 0; o < 2; o++) {
		write_path(fx->path, buf, fx->plen);
		assert_int_equal(run_case(fx, o ? O_RDWR : O_RDONLY, "magic"),
				 1);
		assert_int_equal(fx->res->open_rc, -EBADMSG);
		assert_true(tu_object_equals(fx->name, buf, fx->plen));
	}
	free(buf);
	expect_no_failures(fx, 2);
}

static void test_hostile_truncated_half_clean_error(void **state)
{
	struct hfix *fx = *state;
	size_t half;
	int o, rc;

	make_pristine(fx);
	half = fx->plen / 2;
	for (o = 0; o < 2; o++) {
		write_path(fx->path, fx->pristine, half);
		rc = run_case(fx, o ? O_RDWR : O_RDONLY, "half %s",
			      o ? "rdwr" : "rdonly");
		expect_no_failures(fx, 1);
		if (rc == 1) {
			assert_true(tu_object_equals(fx->name, fx->pristine,
						     half));
			continue;
		}
		/* opened: then check must have seen the damage */
		if (fx->res->check_rc >= 0)
			fail_msg("a table cut to %zu of %zu bytes opened and "
				 "checked clean", half, fx->plen);
	}
}

static void scribble(unsigned char *buf, size_t len, uint64_t *s)
{
	int i, n = 1 + (int)(rng_next(s) % 8);

	for (i = 0; i < n; i++) {
		size_t off = 4096 + rng_next(s) % (len - 4096);
		uint64_t x = rng_next(s), w;
		size_t j, m;

		switch (x % 4) {
		case 0:		/* random bytes */
		case 1:
			m = 1 + (x >> 8) % 16;
			for (j = 0; j < m && off + j < len; j++)
				buf[off + j] = (unsigned char)rng_next(s);
			break;
		case 2:		/* a plausible wrong offset or length */
			off &= ~(size_t)7;
			w = (uint64_t[]){ 0, 1, len - 1, len, len + 8,
					  len * 2, UINT32_MAX, UINT64_MAX,
					  4096, off }[(x >> 8) % 10];
			for (j = 0; j < 8 && off + j < len; j++)
				buf[off + j] = (unsigned char)(w >> (8 * j));
			break;
		default:	/* a 32-bit field: small or all ones */
			off &= ~(size_t)3;
			w = (x >> 8) % 2 ? UINT32_MAX : (x >> 16) % 64;
			for (j = 0; j < 4 && off + j < len; j++)
				buf[off + j] = (unsigned char)(w >> (8 * j));
		}
	}
}

static void test_hostile_scribbled_table_no_crash(void **state)
{
	struct hfix *fx = *state;
	unsigned char *buf;
	int seed, opened = 0, rounds = 1000, first = 0;
	const char *only = getenv("SHMTAB_HOSTILE_SEED");
	double t0 = tu_now();

	if (only) {
		first = atoi(only);
		rounds = first + 1;
	}
	make_pristine(fx);
	buf = malloc(fx->plen);
	assert_non_null(buf);
	for (seed = first; seed < rounds; seed++) {
		uint64_t s = 0x5c81bb1e00000000ull + (uint64_t)seed;

		memcpy(buf, fx->pristine, fx->plen);
		scribble(buf, fx->plen, &s);
		write_path(fx->path, buf, fx->plen);
		if (run_case(fx, seed % 4 == 3 ? O_RDONLY : O_RDWR,
			     "scribble seed %d", seed) == 0)
			opened++;
	}
	free(buf);
	printf("# scribbles: %d rounds, %d opened, %.1f s\n", rounds - first,
	       opened, tu_now() - t0);
	expect_no_failures(fx, rounds - first);
}

static void test_hostile_header_words_no_crash(void **state)
{
	struct hfix *fx = *state;
	unsigned char *buf;
	size_t off, end;
	int p, cases = 0, opened = 0;
	double t0 = tu_now();

	make_pristine(fx);
	buf = malloc(fx->plen);
	assert_non_null(buf);
	memcpy(buf, fx->pristine, fx->plen);
	end = fx->plen < 16384 ? fx->plen : 16384;
	for (off = 0; off + 8 <= end; off += 8) {
		for (p = 0; p < 2; p++) {
			unsigned char word[8];

			memset(word, p ? 0x00 : 0xff, 8);
			if (memcmp(buf + off, word, 8) == 0)
				continue;
			memcpy(buf + off, word, 8);
			write_path(fx->path, buf, fx->plen);
			memcpy(buf + off, fx->pristine + off, 8);
			cases++;
			if (run_case(fx, O_RDWR, "word at %zu = 0x%02x", off,
				     word[0]) == 0)
				opened++;
		}
	}
	free(buf);
	printf("# header words: %d cases, %d opened, %.1f s\n", cases, opened,
	       tu_now() - t0);
	expect_no_failures(fx, cases);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, hostile_setup, hostile_teardown)
		T(test_hostile_random_files_rejected),
		T(test_hostile_hello_file_untouched),
		T(test_hostile_bad_magic_untouched),
		T(test_hostile_truncated_half_clean_error),
		T(test_hostile_scribbled_table_no_crash),
		T(test_hostile_header_words_no_crash),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
