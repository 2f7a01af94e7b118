/* SPDX-License-Identifier: MIT */
/*
 * t-escape.c - the key <-> file-name codec of src/escape.c: round trips over
 * random keys, the special names, every way a name can be non-canonical, and
 * the names of keys whose escape is longer than 255 bytes
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "escape.h"
#include "testutil.h"

#define ROUNDS 100000

/* xorshift32: deterministic, so a failure can be replayed */
static uint32_t rnd_state = 0x12345678;

static uint32_t rnd(void)
{
	uint32_t x = rnd_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rnd_state = x;
}

/* A byte biased to the interesting ones: NUL, '/', '%', '.', high, 0x7f. */
static uint8_t rnd_byte(void)
{
	static const uint8_t special[] = { 0, '/', '%', '.', 0x7f, 0x80, 0xff,
					   0x1f, 0x20, 'A', '2', 'E', 'F' };

	if (rnd() % 2)
		return special[rnd() % sizeof(special)];
	return (uint8_t)rnd();
}

static ssize_t escape_str(const char *key, char *out, size_t cap)
{
	return shmtab_escape(key, strlen(key), out, cap);
}

static void assert_escapes_to(const void *key, size_t klen, const char *want)
{
	char out[256 * 3 + 1];
	uint8_t back[256];

	assert_int_equal(shmtab_escape(key, klen, out, sizeof(out)),
			 (ssize_t)strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(shmtab_unescape(want, back, sizeof(back)),
			 (ssize_t)klen);
	if (klen)
		assert_memory_equal(back, key, klen);
}

static void assert_invalid(const char *name)
{
	uint8_t back[1024];

	if (shmtab_unescape(name, back, sizeof(back)) != -EINVAL)
		fail_msg("'%s' was accepted", name);
	/* the answer does not depend on the buffer */
	assert_int_equal(shmtab_unescape(name, NULL, 0), -EINVAL);
}

static void test_escape_roundtrip_random(void **state)
{
	char name[SHMTAB_ESCAPE_NAME_MAX + 1];
	uint8_t key[100], back[100];

	(void)state;
	for (int i = 0; i < ROUNDS; i++) {
		size_t klen = rnd() % 6 ? rnd() % 12 : rnd() % 100;
		ssize_t n, m;

		for (size_t j = 0; j < klen; j++)
			key[j] = rnd_byte();
		n = shmtab_escape(key, klen, name, sizeof(name));
		if (n == -ENAMETOOLONG) {
			assert_true(shmtab_escaped_len(key, klen) >
				    SHMTAB_ESCAPE_NAME_MAX);
			continue;
		}
		assert_true(n > 0 && n <= SHMTAB_ESCAPE_NAME_MAX);
		assert_int_equal(strlen(name), (size_t)n);
		assert_int_equal(shmtab_escaped_len(key, klen), (size_t)n);
		/* a valid file name */
		assert_null(strchr(name, '/'));
		assert_true(strcmp(name, ".") && strcmp(name, ".."));
		for (ssize_t j = 0; j < n; j++)
			assert_true((uint8_t)name[j] >= 0x20 &&
				    (uint8_t)name[j] != 0x7f);
		m = shmtab_unescape(name, back, sizeof(back));
		assert_int_equal(m, (ssize_t)klen);
		if (klen)
			assert_memory_equal(back, key, klen);
	}
}

/* Every accepted name is the escape of its key: the codec is a bijection. */
static void test_escape_names_canonical_random(void **state)
{
	static const char alphabet[] = "%%%.2EFA0f/\x01\x7f\x80z";
	char name[16], again[64];
	uint8_t key[16];
	int accepted = 0;

	(void)state;
	for (int i = 0; i < ROUNDS; i++) {
		size_t len = 1 + rnd() % 8;
		ssize_t m;

		for (size_t j = 0; j < len; j++)
			name[j] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		name[len] = '\0';
		m = shmtab_unescape(name, key, sizeof(key));
		if (m == -EINVAL)
			continue;
		assert_true(m >= 0);
		accepted++;
		assert_int_equal(shmtab_escape(key, (size_t)m, again,
					       sizeof(again)),
				 (ssize_t)len);
		assert_string_equal(again, name);
	}
	assert_true(accepted > 1000);
}

static void test_escape_special_keys(void **state)
{
	(void)state;
	assert_escapes_to("", 0, "%");
	assert_escapes_to(".", 1, "%2E");
	assert_escapes_to("..", 2, "%2E%2E");
	assert_escapes_to("...", 3, "...");
	assert_escapes_to(".a", 2, ".a");
	assert_escapes_to("a.", 2, "a.");
	assert_escapes_to("%", 1, "%25");
	assert_escapes_to("/", 1, "%2F");
	assert_escapes_to("a/b", 3, "a%2Fb");
	assert_escapes_to("\0", 1, "%00");
	assert_escapes_to("a\0b", 3, "a%00b");
	assert_escapes_to("\n\x1f\x7f", 3, "%0A%1F%7F");
	assert_escapes_to(" ", 1, " ");
	assert_escapes_to("\xc3\xa9t\xc3\xa9", 5, "\xc3\xa9t\xc3\xa9");
	assert_escapes_to("\x80\xff", 2, "\x80\xff");
	assert_escapes_to("50%", 3, "50%25");
}

static void test_escape_rejects_noncanonical(void **state)
{
	static const char *const bad[] = {
		"",		/* no key is the empty name */
		".", "..",	/* not file names */
		"%41",		/* 'A' needs no escape */
		"a%41",
		"%2e",		/* lower-case hex */
		"%2f", "a%2fb", "%0a",
		"%G0", "%0G", "%-1", "% 1",
		"%4",		/* short */
		"a%", "a%2", "%%", "%%%",
		"%25%",
		"%2E%2E%2E",	/* the key "..." is written "..." */
		"%2E.", ".%2E", "a%2E", "%2Ea", "%2E%2Ea", "%2E%2E%2E%2E",
		"%2E%2E.",
		"%20",		/* space needs no escape */
		"%7E", "%80", "%FF", "%C3%A9",	/* nor do high bytes */
		"a/b", "/",	/* raw bytes that need an escape */
		"a\x01", "\x1f", "a\x7f", "\n",
		".%stats",	/* reserved for shmtabfs metadata */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_invalid(bad[i]);
	assert_int_equal(shmtab_unescape(NULL, NULL, 0), -EINVAL);
}

static void test_escape_accepts_every_escaped_byte(void **state)
{
	char name[4];
	uint8_t k;

	(void)state;
	for (int c = 0; c < 256; c++) {
		bool need = c == '/' || c == '%' || c < 0x20 || c == 0x7f;

		snprintf(name, sizeof(name), "%%%02X", c);
		if (need) {
			assert_int_equal(shmtab_unescape(name, &k, 1), 1);
			assert_int_equal(k, c);
		} else if (c != '.') {
			assert_invalid(name);
		}
		snprintf(name, sizeof(name), "%%%02x", c);
		if (strpbrk(name + 1, "abcdef"))
			assert_invalid(name);
	}
}

static void test_escape_name_too_long(void **state)
{
	char key[300], out[1024];

	(void)state;
	memset(key, 'a', sizeof(key));
	assert_int_equal(shmtab_escape(key, 255, out, sizeof(out)), 255);
	assert_int_equal(shmtab_escape(key, 256, out, sizeof(out)),
			 -ENAMETOOLONG);
	memset(key, '/', sizeof(key));
	assert_int_equal(shmtab_escape(key, 85, out, sizeof(out)), 255);
	assert_int_equal(shmtab_escape(key, 86, out, sizeof(out)),
			 -ENAMETOOLONG);
	/* too long wins over a small buffer */
	assert_int_equal(shmtab_escape(key, 86, out, 4), -ENAMETOOLONG);
	/* the long variant has no limit, and long names decode */
	assert_int_equal(shmtab_escape_long(key, 300, out, sizeof(out)), 900);
	assert_int_equal(shmtab_unescape(out, key, sizeof(key)), 300);
	assert_int_equal(key[299], '/');
}

/* name = PREFIX "%%" DIGEST, with the digest given */
static void assert_long_name(const void *key, size_t klen, size_t plen,
			     const char *digest)
{
	char out[256], want[256];
	ssize_t n;

	n = shmtab_escape_long(key, klen, want, sizeof(want));
	assert_int_equal(n, -ENOSPC);	/* longer than 255 */
	n = shmtab_file_name(key, klen, out, sizeof(out));
	assert_int_equal(n, (ssize_t)(plen + 2 + 32));
	assert_true(n <= 255);
	/* the prefix is the start of the escape */
	{
		size_t full = shmtab_escaped_len(key, klen) + 1;
		char *esc = malloc(full);

		assert_non_null(esc);
		assert_int_equal(shmtab_escape_long(key, klen, esc, full),
				 (ssize_t)full - 1);
		assert_memory_equal(out, esc, plen);
		free(esc);
	}
	snprintf(want, sizeof(want), "%%%%%s", digest);
	assert_string_equal(out + plen, want);
	assert_true(shmtab_file_name_is_long(out));
	assert_true(shmtab_file_name_match(out, key, klen));
	/* not the escape of any key */
	assert_int_equal(shmtab_unescape(out, NULL, 0), -EINVAL);
}

static void test_escape_long_key_names(void **state)
{
	char key[400], name[256], other[256];
	const char *e = "\xc3\xa9";

	(void)state;
	/* digests: SHA-256 of the key, first 128 bits (python3 hashlib) */
	memset(key, 'a', sizeof(key));
	assert_long_name(key, 300, 221, "9835fa6bf4e20a9b9ea812506302e989");
	/* the padding needs one, two blocks */
	assert_long_name(key, 311, 221, "405917f9905fa6a436429b115728eab0");
	assert_long_name(key, 312, 221, "3f021e8edc7ceb662183bb98110717cd");
	assert_long_name(key, 320, 221, "fee1a848cb6763c3088a0e523541b46a");
	/* never cut inside an escape... */
	memset(key, '/', sizeof(key));
	assert_long_name(key, 100, 219, "4aaecdd8a94cb7abb5c9283a5825c5d2");
	/* ...or inside a UTF-8 character (e-acute is 2 bytes) */
	for (int i = 0; i < 150; i++)
		memcpy(key + 2 * i, e, 2);
	assert_long_name(key, 300, 220, "cb1fa3158102cb16edae890e78baadd9");

	/* up to 255 bytes the name is the escape */
	memset(key, 'a', sizeof(key));
	assert_int_equal(shmtab_file_name(key, 255, name, sizeof(name)), 255);
	assert_false(shmtab_file_name_is_long(name));
	assert_true(shmtab_file_name_match(name, key, 255));
	assert_false(shmtab_file_name_match(name, key, 254));
	assert_int_equal(shmtab_file_name("", 0, name, sizeof(name)), 1);
	assert_string_equal(name, "%");

	/* two long keys with the same start: two names, each its own */
	assert_int_equal(shmtab_file_name(key, 300, name, sizeof(name)), 255);
	key[299] = 'b';
	assert_int_equal(shmtab_file_name(key, 300, other, sizeof(other)),
			 255);
	assert_string_not_equal(name, other);
	assert_true(shmtab_file_name_match(other, key, 300));
	assert_false(shmtab_file_name_match(name, key, 300));
	assert_false(shmtab_file_name_match(other, key, 299));

	/* the form: canonical prefix, marker, 32 lower-case hex digits */
	assert_false(shmtab_file_name_is_long("abc"));
	assert_true(shmtab_file_name_is_long(
		"abc%%0123456789abcdef0123456789abcdef"));
	assert_false(shmtab_file_name_is_long(
		"abc%%0123456789ABCDEF0123456789abcdef"));
	assert_false(shmtab_file_name_is_long(
		"abc%%0123456789abcdef0123456789abcde"));
	assert_false(shmtab_file_name_is_long(
		"a%2fc%%0123456789abcdef0123456789abcdef"));
	assert_false(shmtab_file_name_is_long(
		"%%0123456789abcdef0123456789abcdef"));
	/* small buffers */
	assert_int_equal(shmtab_file_name(key, 300, name, 255), -ENOSPC);
	assert_int_equal(shmtab_file_name(NULL, 1, name, sizeof(name)),
			 -EINVAL);
}

struct long_seen {
	int n, stop_at;
	char name[4][SHMTAB_ESCAPE_NAME_MAX + 1];
};

static int note_long(const char *name, const void *key, size_t klen,
		     void *ctx)
{
	struct long_seen *s = ctx;
	char want[SHMTAB_ESCAPE_NAME_MAX + 1];

	assert_int_equal(shmtab_file_name(key, klen, want, sizeof(want)), 255);
	assert_string_equal(name, want);
	assert_true(s->n < 4);
	strcpy(s->name[s->n++], name);
	return s->n == s->stop_at ? 7 : 0;
}

/* A walk gives every key with a long name, each with its name, once. */
static void test_escape_long_names_walk(void **state)
{
	char *tn = tu_posix_name("esc");
	struct long_seen s = { 0 };
	char key[300];
	size_t klen;
	void *found;
	shmtab *t;

	(void)state;
	assert_int_equal(shmtab_open(tn, O_RDWR | O_CREAT | O_EXCL, 0600, NULL,
				     &t), 0);
	assert_int_equal(shmtab_add(t, "short", 5, "v", 1), 0);
	memset(key, 'a', sizeof(key));
	assert_int_equal(shmtab_add(t, key, 255, "v", 1), 0);	/* fits */
	assert_int_equal(shmtab_add(t, key, 300, "v", 1), 0);
	assert_int_equal(shmtab_add(t, key, 300, "w", 1), 0);	/* same key */
	key[299] = 'b';
	assert_int_equal(shmtab_add(t, key, 300, "v", 1), 0);

	assert_int_equal(shmtab_long_names(t, NULL, note_long, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_not_equal(s.name[0], s.name[1]);
	for (int i = 0; i < 2; i++) {
		assert_true(shmtab_file_name_is_long(s.name[i]));
		assert_int_equal(shmtab_long_name_find(t, NULL, s.name[i],
						       &found, &klen), 0);
		assert_int_equal(klen, 300);
		assert_true(shmtab_file_name_match(s.name[i], found, klen));
		free(found);
	}
	/* what fn returns stops the walk and is returned */
	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	assert_int_equal(shmtab_long_names(t, NULL, note_long, &s), 7);
	assert_int_equal(s.n, 1);

	assert_int_equal(shmtab_close(t), 0);
	assert_int_equal(shmtab_unlink(tn), 0);
	free(tn);
}

static void test_escape_small_buffers(void **state)
{
	char out[8];
	uint8_t k[8];

	(void)state;
	assert_int_equal(escape_str("a/b", out, 5), -ENOSPC); /* 5+NUL */
	assert_int_equal(escape_str("a/b", out, 6), 5);
	assert_string_equal(out, "a%2Fb");
	assert_int_equal(shmtab_escape("", 0, out, 1), -ENOSPC); /* "%"+NUL */
	assert_int_equal(shmtab_escape("", 0, out, 2), 1);
	assert_int_equal(shmtab_escape("x", 1, NULL, 0), -ENOSPC);
	assert_int_equal(shmtab_escape(NULL, 1, out, sizeof(out)), -EINVAL);
	assert_int_equal(shmtab_escape(NULL, 0, out, sizeof(out)), 1);
	assert_string_equal(out, "%");
	assert_int_equal(shmtab_unescape("abc", k, 2), -ENOSPC);
	assert_int_equal(shmtab_unescape("abc", NULL, 0), -ENOSPC);
	assert_int_equal(shmtab_unescape("abc", k, 3), 3);
	assert_int_equal(shmtab_unescape("%2E%2E", k, 1), -ENOSPC);
	assert_int_equal(shmtab_unescape("%", NULL, 0), 0);
	/* -EINVAL wins over -ENOSPC */
	assert_int_equal(shmtab_unescape("abc%", k, 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_roundtrip_random),
		cmocka_unit_test(test_escape_names_canonical_random),
		cmocka_unit_test(test_escape_special_keys),
		cmocka_unit_test(test_escape_rejects_noncanonical),
		cmocka_unit_test(test_escape_accepts_every_escaped_byte),
		cmocka_unit_test(test_escape_name_too_long),
		cmocka_unit_test(test_escape_long_key_names),
		cmocka_unit_test(test_escape_long_names_walk),
		cmocka_unit_test(test_escape_small_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
