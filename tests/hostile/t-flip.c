/* SPDX-License-Identifier: MIT */
/*
 * t-flip.c - words of the table that another process changes while this
 * one reads them: a thread flips a binding record's lens word and its
 * chunk's class bits between their real values and impossible ones, while
 * another calls the library on a read-only or a read-write handle.  A
 * check that passes and a second load that sees the flipped value must not
 * meet: every call returns 0 or a negative errno, and nothing reads or
 * writes out of bounds (run it in the ASan/UBSan build).  Also salvage
 * with a visitor that remaps the handle after the table grew.
 *
 * Each case runs in a forked child (threads, and a crash is a result).
 * SHMTAB_FLIP_ITERS sets the calls per case (default 200000).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "format.h"
#include "shmtab.h"
#include "testutil.h"

#define NKEYS 16
#define VLEN 10
#define CASE_TIMEOUT_S 120

static long iters(void)
{
	const char *s = getenv("SHMTAB_FLIP_ITERS");
	long n = s ? atol(s) : 0;

	return n > 0 ? n : 200000;
}

static uint64_t class_sz(unsigned cls)
{
	unsigned k, j;

	if (cls <= 128)
		return cls * 8ull;
	k = 10 + (cls - 129) / 8;
	j = (cls - 129) % 8 + 1;
	return (1ull << k) + (uint64_t)j * (1ull << (k - 3));
}

/* A table of NKEYS keys "k<i>" of VLEN-byte values; name malloc'd. */
static char *make_table(void)
{
	char *name = tu_file_name("flip");
	char k[16], v[VLEN];
	shmtab *t;

	memset(v, 'v', sizeof(v));
	if (shmtab_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, NULL, &t))
		return NULL;
	for (int i = 0; i < NKEYS; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		if (shmtab_add(t, k, strlen(k), v, sizeof(v))) {
			shmtab_close(t);
			return NULL;
		}
	}
	shmtab_close(t);
	return name;
}

/* The object mapped (its first len bytes) and the offset of key's record. */
struct target {
	uint8_t *m;
	size_t len;
	uint64_t off;
};

static int find_target(const char *name, const char *key, struct target *tg)
{
	char *path = tu_object_path(name);
	int fd = path ? open(path, O_RDWR) : -1;
	struct stat st;
	uint64_t top;

	free(path);
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	tg->len = (size_t)st.st_size;
	tg->m = mmap(NULL, tg->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (tg->m == MAP_FAILED)
		return -1;
	top = ((struct shm_header *)(void *)tg->m)->top;
	for (uint64_t off = HDR_SIZE; off < top && off < tg->len;) {
		struct chunk *c = (struct chunk *)(void *)(tg->m + off);
		unsigned cls = (unsigned)(c->head >> HEAD_CLS_SHIFT &
					  HEAD_CLS_MASK);

		if (cls < 2 || cls >= NCLASSES)
			return -1;
		if ((c->head & HEAD_KIND_MASK) == CHUNK_REC &&
		    c->lens >> LEN_VBITS == strlen(key) &&
		    !memcmp(c + 1, key, strlen(key))) {
			tg->off = off;
			return 0;
		}
		off += class_sz(cls);
	}
	return -1;
}

/* --- the flipper ------------------------------------------------------- */

struct flip {
	uint64_t *lens, *head;
	int stop;
	unsigned long flips;
};

static bool lens_bad(uint64_t v)
{
	return v >> LEN_VBITS == 0xffffff || (v & LEN_VMASK) == LEN_VMASK ||
	       (v & LEN_VMASK) >= 1 << 20;
}

static bool cls_bad(uint64_t v)
{
	unsigned cls = (unsigned)(v >> HEAD_CLS_SHIFT & HEAD_CLS_MASK);

	return cls < 2 || cls >= NCLASSES;
}

/* Set *w from x to bad and back, unless someone else wrote it meanwhile
 * (a writer of the table: its word then stays). */
static void flip_word(uint64_t *w, uint64_t x, uint64_t bad)
{
	uint64_t y = bad;

	if (!__atomic_compare_exchange_n(w, &x, bad, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		return;
	for (int i = 0; i < 16; i++)
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_compare_exchange_n(w, &y, x, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

static void *flipper(void *arg)
{
	struct flip *f = arg;
	static const unsigned bad_cls[] = { 0xfff, 0, 1, NCLASSES, 0x800 };

	for (unsigned i = 0; !__atomic_load_n(&f->stop, __ATOMIC_RELAXED);
	     i++) {
		uint64_t l = __atomic_load_n(f->lens, __ATOMIC_RELAXED);
		uint64_t h = __atomic_load_n(f->head, __ATOMIC_RELAXED);

		if (!lens_bad(l)) {
			uint64_t bad;

			switch (i % 4) {
			case 0: /* a key of 16 MiB */
				bad = (l & LEN_VMASK) |
				      (uint64_t)0xffffff << LEN_VBITS;
				break;
			case 1: /* a value of 2^40 - 1 */
				bad = l | LEN_VMASK;
				break;
			case 2: /* a value past the chunk, inside the map */
				bad = (l & ~LEN_VMASK) | (1 << 20);
				break;
			default: /* both */
				bad = (uint64_t)0xffffff << LEN_VBITS |
				      (1 << 20);
				break;
			}
			flip_word(f->lens, l, bad);
		}
		if (!cls_bad(h))
			flip_word(f->head, h,
				  (h & ~((uint64_t)HEAD_CLS_MASK
					 << HEAD_CLS_SHIFT)) |
					  (uint64_t)bad_cls[i % 5]
						  << HEAD_CLS_SHIFT);
		f->flips++;
	}
	return NULL;
}

/* --- the reader -------------------------------------------------------- */

static int visit(const void *k, size_t kl, const void *v, size_t vl,
		 void *ctx)
{
	volatile uint8_t sink = 0;

	/* touch every byte we were given, as a caller may */
	for (size_t i = 0; i < kl; i++)
		sink ^= ((const uint8_t *)k)[i];
	for (size_t i = 0; i < vl && i < 4096; i++)
		sink ^= ((const uint8_t *)v)[i];
	if (vl)
		sink ^= ((const uint8_t *)v)[vl - 1];
	(void)ctx;
	return 0;
}

static int visit_key(const void *k, size_t kl, void *ctx)
{
	return visit(k, kl, NULL, 0, ctx);
}

static int block(const void *b, size_t len, void *ctx)
{
	return visit(b, len, NULL, 0, ctx) ? 1 : SHMTAB_CONTINUE;
}

static int wblock(void *b, size_t len, void *ctx)
{
	(void)ctx;
	if (len)
		((volatile uint8_t *)b)[len - 1] = 'v';
	return SHMTAB_CONTINUE;
}

static int salv(const void *k, size_t kl, const void *v, size_t vl, int how,
		void *ctx)
{
	(void)how;
	return visit(k, kl, v, vl, ctx);
}

static bool rc_ok(long long rc)
{
	return rc <= 0 && rc > -4096;
}

struct race {
	const char *name;
	bool rw;
};

/* In the child: exit 0 when every call gave 0 or -errno, else 3 + op. */
static int race_child(void *arg)
{
	const struct race *r = arg;
	struct flip f = { 0 };
	struct target tg;
	pthread_t th;
	shmtab *t;
	long n = iters();
	int bad = 0;

	if (find_target(r->name, "k1", &tg))
		return 1;
	f.lens = (uint64_t *)(void *)(tg.m + tg.off + 8);
	f.head = (uint64_t *)(void *)(tg.m + tg.off);
	if (shmtab_open(r->name, r->rw ? O_RDWR : O_RDONLY, 0, NULL, &t))
		return 2;
	if (pthread_create(&th, NULL, flipper, &f))
		return 2;
	for (long i = 0; i < n && !bad; i++) {
		char buf[64];
		void *v = NULL;
		size_t vl;
		unsigned op = (unsigned)(i % 11);
		long long rc;

		switch (op) {
		case 0:
		case 1:
			rc = shmtab_find(t, "k1", 2, &v, &vl);
			if (!rc)
				free(v);
			break;
		case 2:
		case 3:
			rc = shmtab_find_into(t, "k1", 2, buf, sizeof(buf),
					      &vl);
			break;
		case 4:
			rc = shmtab_iter(t, visit, NULL);
			break;
		case 5:
			rc = shmtab_iter_keys(t, visit_key, NULL);
			break;
		case 6:
			rc = shmtab_read_blocks(t, "k1", 2, block, NULL);
			break;
		case 7:
			rc = shmtab_find_all(t, "k1", 2, visit, NULL);
			break;
		case 8:
			rc = shmtab_check(t);
			break;
		case 9:
			if (r->rw) {
				rc = shmtab_remove(t, "k1", 2);
				if (rc_ok(rc))
					rc = shmtab_add(t, "k1", 2,
							"vvvvvvvvvv", VLEN);
			} else {
				rc = shmtab_mem(t, "k1", 2);
				if (rc == 1)
					rc = 0;
			}
			break;
		default:
			if (r->rw)
				rc = (i / 11) % 2
					     ? shmtab_write_blocks(t, "k1", 2,
								   wblock,
								   NULL)
					     : shmtab_replace(t, "k1", 2,
							      "wwwwwwwwww",
							      VLEN);
			else
				rc = shmtab_find(t, "k2", 2, &v, &vl);
			if (!r->rw && !rc)
				free(v);
			break;
		}
		if (!rc_ok(rc)) {
			fprintf(stderr, "call %u gave %lld at %ld\n", op, rc,
				i);
			bad = 3 + (int)op;
		}
	}
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	shmtab_close(t);
	munmap(tg.m, tg.len);
	return bad;
}

static void race(bool rw)
{
	char *name = make_table();
	struct race r;
	pid_t pid;

	assert_non_null(name);
	r.name = name;
	r.rw = rw;
	pid = tu_fork(race_child, &r);
	assert_true(pid > 0);
	assert_int_equal(tu_wait(pid, CASE_TIMEOUT_S), 0);
	tu_remove(name);
	free(name);
}

static void test_flip_rdonly(void **state)
{
	(void)state;
	race(false);
}

static void test_flip_rdwr(void **state)
{
	(void)state;
	race(true);
}

/* --- salvage: the visitor remaps the handle ---------------------------- */

struct salv {
	shmtab *s, *w;
	int calls;
	int bad;
};

static int salv_grow(const void *k, size_t kl, const void *v, size_t vl,
		     int how, void *ctx)
{
	struct salv *sv = ctx;
	static char big[1 << 20];
	char key[32];
	size_t n;
	int rc;

	(void)how;
	visit(k, kl, v, vl, NULL);
	if (sv->calls++)
		return 0;
	/* another handle grows the table well past what s maps; a read
	 * through s (allowed in its visitor) then maps all of it */
	for (int i = 0; i < NKEYS; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		rc = shmtab_replace(sv->w, key, strlen(key), big, sizeof(big));
		if (!rc_ok(rc))
			sv->bad = 1;
	}
	rc = shmtab_find_into(sv->s, "k0", 2, key, sizeof(key), &n);
	if (!rc_ok(rc))
		sv->bad = 2;
	return 0;
}

static int salvage_child(void *arg)
{
	const char *name = arg;
	struct salv sv = { 0 };
	int rc;

	if (shmtab_open(name, O_RDONLY, 0, NULL, &sv.s) ||
	    shmtab_open(name, O_RDWR, 0, NULL, &sv.w))
		return 2;
	rc = shmtab_salvage(sv.s, salv_grow, &sv);
	if (!rc_ok(rc) || sv.bad || !sv.calls)
		return 3;
	/* and once more, on the grown table: all of it is there */
	sv.calls = 1;
	rc = shmtab_salvage(sv.s, salv, NULL);
	if (!rc_ok(rc))
		return 4;
	shmtab_close(sv.s);
	shmtab_close(sv.w);
	return 0;
}

static void test_salvage_remap(void **state)
{
	char *name = make_table();
	pid_t pid;

	(void)state;
	assert_non_null(name);
	pid = tu_fork(salvage_child, name);
	assert_true(pid > 0);
	assert_int_equal(tu_wait(pid, CASE_TIMEOUT_S), 0);
	tu_remove(name);
	free(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flip_rdonly),
		cmocka_unit_test(test_flip_rdwr),
		cmocka_unit_test(test_salvage_remap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
