/* SPDX-License-Identifier: MIT */
/*
 * t-hostile.c - tables with hostile contents: random files, damaged headers,
 * truncation, scribbled bytes.  Nothing may crash or hang; every call returns
 * 0 or a negative errno; a rejected file is never written.
 *
 * Cases run in forked children, SHMTAB_HOSTILE_BATCH of them per child
 * (default 16; 1 forks per case): the child records the case it is in and
 * arms alarm() for it, so a crash (a signal) or a hang (SIGALRM after 10 s)
 * names the case's seed or offset.  A failing case is run again alone in a
 * fresh child, and the report says whether it fails there too.
 * SHMTAB_HOSTILE_SEED=N runs only scribble seed N.  The hash seed of the
 * table differs per run, so a scribble seed is not an exact replay.
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
#include "shmtab-hooks.h"
#include "testutil.h"

#define CASE_TIMEOUT_S 10
#define NKEYS 100
#define MAX_REPORT 10 /* failing cases listed per test */
#define PINNED (64 * 1024) /* a value the library may pin (lib/pin.c) */

/* What the child saw; in a shared anonymous mapping. */
struct hres {
	int open_rc;
	int check_rc;
	int bad_op; /* the call whose result is out of range */
	long long bad_rc;
	int cur; /* the case the child is in */
	int last; /* last case: 0 opened, 1 refused */
	int opened; /* cases whose open succeeded */
};

struct hfix {
	char *name;
	char *path;
	struct hres *res;
	unsigned char *pristine; /* a valid table's bytes */
	size_t plen;
	unsigned char *work; /* the case's file contents */
	size_t wlen, wcap;
	const void *fixed; /* fixed_prep's contents */
	size_t fixed_len;
	bool limbo; /* make_pristine leaves a chunk in limbo */
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
	free(fx->work);
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
		if (i % 10 == 0) /* a few keys with two bindings */
			assert_int_equal(shmtab_add(t, k, strlen(k), "x", 1),
					 0);
	}
	assert_int_equal(shmtab_remove(t, "key050", 6), 0);
	if (fx->limbo) {
		/* a big value pinned while it is replaced: its old chunk is
		 * left in limbo (the pin goes with the close) */
		unsigned char *big = calloc(1, PINNED);
		const void *pv;
		size_t plen;
		unsigned pin;

		assert_non_null(big);
		assert_int_equal(shmtab_add(t, "big", 3, big, PINNED), 0);
		assert_int_equal(shmtab__pin(t, "big", 3, &pv, &plen, &pin), 0);
		assert_int_equal(shmtab_replace(t, "big", 3, big, PINNED), 0);
		free(big);
	}
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

#define CK(id, expr)                        \
	do {                                \
		long long r_ = (expr);      \
		if (!sane(r_)) {            \
			res->bad_op = (id); \
			res->bad_rc = r_;   \
			shmtab_close(t);    \
			return 20 + (id);   \
		}                           \
	} while (0)

/*
 * Open name and use every call.  0: opened, every call sane; 1: open refused
 * with an errno; 2: open gave a strange value; 20+n: call n returned a
 * strange value.
 */
static int exercise(const char *name, int oflags, struct hres *res)
{
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

	res->open_rc = rc = shmtab_open(name, oflags, 0, NULL, &t);
	res->check_rc = 0;
	if (rc < 0)
		return sane(rc) ? 1 : 2;
	if (rc != 0 || !t)
		return 2;

	res->check_rc = shmtab_check(t);
	CK(1, res->check_rc);
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
		rc = shmtab_find_into(t, k, strlen(k), buf, sizeof(buf), &vlen);
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
	{
		/* in place: a pin, a big allocation (which frees limbo), a
		 * write_blocks that must move the pinned binding */
		static unsigned char big[PINNED];
		const void *pv;
		size_t plen;
		unsigned pin;

		rc = shmtab__pin(t, "big", 3, &pv, &plen, &pin);
		CK(21, rc);
		CK(22, shmtab_replace(t, "big", 3, big, sizeof(big)));
		CK(23, shmtab_write_blocks(t, "big", 3, nop_wblock, NULL));
		if (rc == 0)
			CK(24, shmtab__unpin(t, pin));
	}
	CK(18, shmtab_group(t, grp_body, NULL));
	CK(19, shmtab_check(t));
	CK(20, shmtab_close(t));
	return 0;
}

#undef CK

/* ------------------------------------------------------------ runner */

/*
 * A set of cases.  prep(i) puts case i's file contents in fx->work and
 * says how to open it; when keep is set, a rejected file must be left
 * byte-identical.
 */
struct case_set {
	struct hfix *fx;
	int n;
	void (*prep)(struct hfix *fx, int i, int *oflags);
	void (*label)(struct hfix *fx, int i, char *buf, size_t cap);
	bool keep;
	const void *ctx;
};

#define RC_WRITTEN 3 /* a rejected file was changed */

static void work_reserve(struct hfix *fx, size_t len)
{
	if (len > fx->wcap) {
		fx->work = realloc(fx->work, len);
		fx->wcap = len;
	}
	fx->wlen = len;
}

static int one_case(const struct case_set *cs, int i)
{
	struct hfix *fx = cs->fx;
	int oflags = O_RDWR, rc;

	cs->prep(fx, i, &oflags);
	write_path(fx->path, fx->work, fx->wlen);
	rc = exercise(fx->name, oflags, fx->res);
	if (rc == 1 && cs->keep &&
	    !tu_object_equals(fx->name, fx->work, fx->wlen))
		return RC_WRITTEN;
	return rc;
}

struct batch_arg {
	const struct case_set *cs;
	int from, to;
};

static int child_batch(void *arg)
{
	struct batch_arg *b = arg;
	struct hres *res = b->cs->fx->res;
	int i, rc;

	for (i = b->from; i < b->to; i++) {
		res->cur = i;
		alarm(CASE_TIMEOUT_S); /* a hang ends as SIGALRM */
		rc = one_case(b->cs, i);
		alarm(0);
		res->last = rc;
		if (rc == 0)
			res->opened++;
		else if (rc != 1)
			return rc;
	}
	return 0;
}

static int batch_size(void)
{
	const char *e = getenv("SHMTAB_HOSTILE_BATCH");
	int n = e ? atoi(e) : 0;

	return n > 0 ? n : 16;
}

/* Fork a child for cases [from, to); its tu_wait result. */
static int run_batch(const struct case_set *cs, int from, int to)
{
	struct batch_arg b = { cs, from, to };
	pid_t pid;

	cs->fx->res->cur = from;
	pid = tu_fork(child_batch, &b);
	assert_true(pid > 0);
	return tu_wait(pid, (to - from) * CASE_TIMEOUT_S + 30);
}

static void describe(struct hfix *fx, int rc, char *buf, size_t cap)
{
	if (rc == -SIGALRM || rc == TU_WAIT_TIMEOUT)
		snprintf(buf, cap, "hung (> %d s)", CASE_TIMEOUT_S);
	else if (rc < 0)
		snprintf(buf, cap, "signal %d", -rc);
	else if (rc == RC_WRITTEN)
		snprintf(buf, cap, "rejected (%d) but written",
			 fx->res->open_rc);
	else if (rc >= 20)
		snprintf(buf, cap, "call %d returned %lld", rc - 20,
			 fx->res->bad_rc);
	else
		snprintf(buf, cap, "exit %d (open %d)", rc, fx->res->open_rc);
}

/*
 * Run every case; each failure is noted (with its label) in fx->report.
 * Returns the number of cases whose open succeeded.
 */
static int run_cases(const struct case_set *cs)
{
	struct hfix *fx = cs->fx;
	int from = 0, batch = batch_size(), i, rc, rc2;
	char label[64], what[64], alone[64], line[256];

	fx->res->opened = 0;
	while (from < cs->n) {
		int to = from + batch < cs->n ? from + batch : cs->n;

		rc = run_batch(cs, from, to);
		if (rc == 0) {
			from = to;
			continue;
		}
		i = fx->res->cur;
		describe(fx, rc, what, sizeof(what));
		alone[0] = '\0';
		if (to - from > 1) {
			rc2 = run_batch(cs, i, i + 1);
			if (rc2 == 0)
				snprintf(alone, sizeof(alone),
					 " (passes alone)");
			else if (rc2 != rc)
				describe(fx, rc2, alone, sizeof(alone));
		}
		cs->label(fx, i, label, sizeof(label));
		snprintf(line, sizeof(line), "%s: %s%s%s\n", label, what,
			 alone[0] && alone[0] != ' ' ? "; alone: " : "", alone);
		if (fx->failures++ < MAX_REPORT)
			strncat(fx->report, line,
				sizeof(fx->report) - strlen(fx->report) - 1);
		fprintf(stderr, "# %s", line);
		from = i + 1;
	}
	return fx->res->opened;
}

static void expect_no_failures(struct hfix *fx, int cases)
{
	if (fx->failures)
		fail_msg("%d of %d cases failed (first ones):\n%s",
			 fx->failures, cases, fx->report);
}

/* ---------------------------------------------------------- the tests */

/* Random files: case i is seed i / 2, opened read-only (even) or
 * read-write (odd). */
static void random_prep(struct hfix *fx, int i, int *oflags)
{
	int seed = i / 2;
	uint64_t s = (uint64_t)seed;
	size_t len, pre;

	switch (seed % 6) {
	case 0: /* len 0 only for seed 0: a read-only open of an empty
		 * file may wait for its creator */
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
	work_reserve(fx, len ? len : 1);
	fx->wlen = len;
	tu_fill(fx->work, len, (uint32_t)seed);
	/* half the files start like a real table, then go wrong */
	if (seed % 2 && len > 0) {
		pre = (size_t[]){ 8, 16, 64, 256, 4096 }[seed / 2 % 5];
		if (pre > len)
			pre = len;
		memcpy(fx->work, fx->pristine, pre);
	}
	*oflags = i % 2 ? O_RDWR : O_RDONLY;
}

static void random_label(struct hfix *fx, int i, char *buf, size_t cap)
{
	(void)fx;
	snprintf(buf, cap, "random file seed %d %s", i / 2,
		 i % 2 ? "rdwr" : "rdonly");
}

static void test_hostile_random_files_rejected(void **state)
{
	struct hfix *fx = *state;
	struct case_set cs = { .fx = fx,
			       .n = 400,
			       .prep = random_prep,
			       .label = random_label,
			       .keep = true };
	int opened;

	make_pristine(fx);
	opened = run_cases(&cs);
	printf("# random files: %d cases, %d opened\n", cs.n, opened);
	expect_no_failures(fx, cs.n);
}

/* Fixed contents (fx->pristine as modified by the test), even: read-only,
 * odd: read-write. */
static void fixed_prep(struct hfix *fx, int i, int *oflags)
{
	work_reserve(fx, fx->fixed_len ? fx->fixed_len : 1);
	fx->wlen = fx->fixed_len;
	memcpy(fx->work, fx->fixed, fx->fixed_len);
	*oflags = i % 2 ? O_RDWR : O_RDONLY;
}

static void fixed_label(struct hfix *fx, int i, char *buf, size_t cap)
{
	(void)fx;
	snprintf(buf, cap, "%s", i % 2 ? "rdwr" : "rdonly");
}

/* Both opens of these contents are refused with err, the file untouched. */
static void expect_refused(struct hfix *fx, const void *p, size_t len, int err)
{
	struct case_set cs = { .fx = fx,
			       .n = 2,
			       .prep = fixed_prep,
			       .label = fixed_label,
			       .keep = true };
	int i;

	fx->fixed = p;
	fx->fixed_len = len;
	for (i = 0; i < 2; i++) {
		/* one case per child, to see each open's result */
		fx->res->open_rc = 0;
		assert_int_equal(run_batch(&cs, i, i + 1), 0);
		assert_int_equal(fx->res->last, 1);
		assert_int_equal(fx->res->open_rc, err);
		assert_true(tu_object_equals(fx->name, p, len));
	}
}

static void test_hostile_hello_file_untouched(void **state)
{
	struct hfix *fx = *state;

	expect_refused(fx, "hello", 5, -EBADMSG);
	assert_int_equal(tu_object_size(fx->name), 5);
}

static void test_hostile_bad_magic_untouched(void **state)
{
	struct hfix *fx = *state;
	unsigned char *buf;

	make_pristine(fx);
	buf = malloc(fx->plen);
	assert_non_null(buf);
	memcpy(buf, fx->pristine, fx->plen);
	memcpy(buf, "NOTATABL", 8);
	expect_refused(fx, buf, fx->plen, -EBADMSG);
	free(buf);
}

static void test_hostile_truncated_half_clean_error(void **state)
{
	struct hfix *fx = *state;
	struct case_set cs = { .fx = fx,
			       .n = 2,
			       .prep = fixed_prep,
			       .label = fixed_label,
			       .keep = true };
	int i, rc;

	make_pristine(fx);
	fx->fixed = fx->pristine;
	fx->fixed_len = fx->plen / 2;
	for (i = 0; i < 2; i++) {
		rc = run_batch(&cs, i, i + 1);
		if (rc != 0) {
			char what[64];

			describe(fx, rc, what, sizeof(what));
			fail_msg("table cut to half, %s: %s",
				 i ? "rdwr" : "rdonly", what);
		}
		/* opened: then check must have seen the damage */
		if (fx->res->last == 0 && fx->res->check_rc >= 0)
			fail_msg("a table cut to %zu of %zu bytes opened and "
				 "checked clean",
				 fx->fixed_len, fx->plen);
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
		case 0: /* random bytes */
		case 1:
			m = 1 + (x >> 8) % 16;
			for (j = 0; j < m && off + j < len; j++)
				buf[off + j] = (unsigned char)rng_next(s);
			break;
		case 2: /* a plausible wrong offset or length */
			off &= ~(size_t)7;
			w = (uint64_t[]){ 0,	      1,	  len - 1,
					  len,	      len + 8,	  len * 2,
					  UINT32_MAX, UINT64_MAX, 4096,
					  off }[(x >> 8) % 10];
			for (j = 0; j < 8 && off + j < len; j++)
				buf[off + j] = (unsigned char)(w >> (8 * j));
			break;
		default: /* a 32-bit field: small or all ones */
			off &= ~(size_t)3;
			w = (x >> 8) % 2 ? UINT32_MAX : (x >> 16) % 64;
			for (j = 0; j < 4 && off + j < len; j++)
				buf[off + j] = (unsigned char)(w >> (8 * j));
		}
	}
}

static int scribble_first;

static void scribble_prep(struct hfix *fx, int i, int *oflags)
{
	int seed = scribble_first + i;
	uint64_t s = 0x5c81bb1e00000000ull + (uint64_t)seed;

	work_reserve(fx, fx->plen);
	memcpy(fx->work, fx->pristine, fx->plen);
	scribble(fx->work, fx->plen, &s);
	*oflags = seed % 4 == 3 ? O_RDONLY : O_RDWR;
}

static void scribble_label(struct hfix *fx, int i, char *buf, size_t cap)
{
	int seed = scribble_first + i;

	(void)fx;
	snprintf(buf, cap, "scribble seed %d %s", seed,
		 seed % 4 == 3 ? "rdonly" : "rdwr");
}

static void test_hostile_scribbled_table_no_crash(void **state)
{
	struct hfix *fx = *state;
	struct case_set cs = { .fx = fx,
			       .n = 1000,
			       .prep = scribble_prep,
			       .label = scribble_label };
	const char *only = getenv("SHMTAB_HOSTILE_SEED");
	double t0 = tu_now();
	int opened;

	scribble_first = 0;
	if (only) {
		scribble_first = atoi(only);
		cs.n = 1;
	}
	make_pristine(fx);
	opened = run_cases(&cs);
	printf("# scribbles: %d rounds, %d opened, %.1f s\n", cs.n, opened,
	       tu_now() - t0);
	expect_no_failures(fx, cs.n);
}

/* Header words: case i overwrites the word at word_off[i] with 0xff..
 * (word_pat[i] != 0) or 0. */
static size_t *word_off;
static unsigned char *word_pat;

static void word_prep(struct hfix *fx, int i, int *oflags)
{
	work_reserve(fx, fx->plen);
	memcpy(fx->work, fx->pristine, fx->plen);
	memset(fx->work + word_off[i], word_pat[i], 8);
	*oflags = O_RDWR;
}

static void word_label(struct hfix *fx, int i, char *buf, size_t cap)
{
	(void)fx;
	snprintf(buf, cap, "word at %zu = 0x%02x", word_off[i], word_pat[i]);
}

static void test_hostile_header_words_no_crash(void **state)
{
	struct hfix *fx = *state;
	struct case_set cs = { .fx = fx,
			       .prep = word_prep,
			       .label = word_label };
	unsigned char word[8];
	size_t off, end;
	double t0 = tu_now();
	int p, opened;

	fx->limbo = true;	/* limbo_head and limbo_bytes are words too */
	make_pristine(fx);
	end = fx->plen < 16384 ? fx->plen : 16384;
	word_off = calloc(end / 4, sizeof(*word_off));
	word_pat = calloc(end / 4, 1);
	assert_non_null(word_off);
	assert_non_null(word_pat);
	for (off = 0; off + 8 <= end; off += 8) {
		for (p = 0; p < 2; p++) {
			memset(word, p ? 0x00 : 0xff, 8);
			if (memcmp(fx->pristine + off, word, 8) == 0)
				continue; /* no change */
			word_off[cs.n] = off;
			word_pat[cs.n++] = word[0];
		}
	}
	opened = run_cases(&cs);
	free(word_off);
	free(word_pat);
	printf("# header words: %d cases, %d opened, %.1f s\n", cs.n, opened,
	       tu_now() - t0);
	expect_no_failures(fx, cs.n);
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
