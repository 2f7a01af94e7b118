/* SPDX-License-Identifier: MIT */
/*
 * t-types.c - typed tables: the value encoding (shmtab_encode, decode,
 * format, parse, type_name), schemas (shmtab_open_typed, set_schema,
 * get_schema), typed bindings (shmtab_t*), integer values (shmtab_int_*)
 * and sparse arrays (shmtab_array_*), against the contract of shmtab.h
 * and doc/TYPES.md.  The T64..T67 cases are netshm's acceptance tests
 * adapted to this encoding.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "shmtab.h"
#include "testutil.h"

#define WATCHDOG_S 180

/* ------------------------------------------------------------------ */
/* Helpers: values and bytes as strings, for exact assertions          */
/* ------------------------------------------------------------------ */

static void vprint(FILE *fp, const struct shmtab_value *v)
{
	const unsigned char *p;
	size_t i;

	if (!v) {
		fputs("NULL", fp);
		return;
	}
	switch (v->type) {
	case SHMTAB_INT32:
		fprintf(fp, "i32:%" PRId32, v->i32);
		break;
	case SHMTAB_INT64:
		fprintf(fp, "i64:%" PRId64, v->i64);
		break;
	case SHMTAB_INT:
		fprintf(fp, "int:%ld", v->n);
		break;
	case SHMTAB_STRING:
	case SHMTAB_BYTES:
		fputs(v->type == SHMTAB_STRING ? "s:\"" : "b:\"", fp);
		p = v->s.p;
		for (i = 0; i < v->s.len; i++) {
			if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' &&
			    p[i] != '\\')
				fputc(p[i], fp);
			else
				fprintf(fp, "\\x%02x", p[i]);
		}
		fputc('"', fp);
		break;
	case SHMTAB_PAIR:
		fputc('(', fp);
		vprint(fp, v->pair.a);
		fputc(',', fp);
		vprint(fp, v->pair.b);
		fputc(')', fp);
		break;
	default:
		fprintf(fp, "?type%d", (int)v->type);
		break;
	}
}

/* malloc'd rendering of v: i32:3, s:"x\x09y", (a,b) ... */
static char *vstr(const struct shmtab_value *v)
{
	char *s = NULL;
	size_t n = 0;
	FILE *fp = open_memstream(&s, &n);

	assert_non_null(fp);
	vprint(fp, v);
	fclose(fp);
	return s;
}

#define assert_value_str(v, expect)                    \
	do {                                           \
		char *s_ = vstr(v);                    \
		assert_string_equal(s_, (expect));     \
		free(s_);                              \
	} while (0)

/* Lowercase hex of buf, malloc'd. */
static char *hexstr(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	char *s = malloc(len * 2 + 1);
	size_t i;

	assert_non_null(s);
	for (i = 0; i < len; i++)
		sprintf(s + 2 * i, "%02x", p[i]);
	s[2 * len] = '\0';
	return s;
}

#define assert_bytes(buf, len, ebuf, elen)                     \
	do {                                                   \
		char *g_ = hexstr((buf), (len));               \
		char *e_ = hexstr((ebuf), (elen));             \
		assert_string_equal(g_, e_);                   \
		free(g_);                                      \
		free(e_);                                      \
	} while (0)

static int value_equal(const struct shmtab_value *x,
		       const struct shmtab_value *y)
{
	if (!x || !y)
		return x == y;
	if (x->type != y->type)
		return 0;
	switch (x->type) {
	case SHMTAB_INT32:
		return x->i32 == y->i32;
	case SHMTAB_INT64:
		return x->i64 == y->i64;
	case SHMTAB_INT:
		return x->n == y->n;
	case SHMTAB_STRING:
	case SHMTAB_BYTES:
		return x->s.len == y->s.len &&
		       (x->s.len == 0 || memcmp(x->s.p, y->s.p, x->s.len) == 0);
	case SHMTAB_PAIR:
		return value_equal(x->pair.a, y->pair.a) &&
		       value_equal(x->pair.b, y->pair.b);
	}
	return 0;
}

/* Every string and bytes part of a decoded value is followed by a NUL. */
static int nul_terminated(const struct shmtab_value *v)
{
	switch (v->type) {
	case SHMTAB_STRING:
	case SHMTAB_BYTES:
		return v->s.p != NULL && ((const char *)v->s.p)[v->s.len] == 0;
	case SHMTAB_PAIR:
		return nul_terminated(v->pair.a) && nul_terminated(v->pair.b);
	default:
		return 1;
	}
}

static void le32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static void le64(uint8_t *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

/* Build a byte string from 32-bit words: W(n) a number, S4("abcd") four
 * bytes as they are. */
struct wbuf {
	uint8_t b[256];
	size_t n;
};

static void w_num(struct wbuf *w, uint32_t v)
{
	le32(w->b + w->n, v);
	w->n += 4;
}

static void w_raw(struct wbuf *w, const char *four)
{
	memcpy(w->b + w->n, four, 4);
	w->n += 4;
}

/* Decode buf as type and expect the rendering (and NUL terminators). */
static void expect_decode(const char *type, const void *buf, size_t len,
			  const char *expect)
{
	struct shmtab_value *v = NULL;

	assert_int_equal(shmtab_decode(type, buf, len, &v), 0);
	assert_non_null(v);
	assert_value_str(v, expect);
	assert_true(nul_terminated(v));
	free(v);
}

static void expect_badmsg(const char *type, const void *buf, size_t len)
{
	struct shmtab_value *v = NULL;

	assert_int_equal(shmtab_decode(type, buf, len, &v), -EBADMSG);
}

/* Encode v and expect exactly ebuf[0..elen). */
static void expect_encode(const struct shmtab_value *v, const void *ebuf,
			  size_t elen)
{
	void *buf = NULL;
	size_t len = 12345;

	assert_int_equal(shmtab_encode(v, &buf, &len), 0);
	assert_bytes(buf, len, ebuf, elen);
	free(buf);
}

/* ------------------------------------------------------------------ */
/* Encoding: T64, T65 and the malformed cases                          */
/* ------------------------------------------------------------------ */

static void test_t64_int32(void **state)
{
	static const uint8_t e[] = { 0x05, 0, 0, 0 };
	static const uint8_t m[] = { 0x00, 0x00, 0x00, 0x80 };

	(void)state;
	expect_encode(SHMTAB_V_I32(5), e, sizeof(e));
	expect_decode("int32", e, sizeof(e), "i32:5");
	expect_encode(SHMTAB_V_I32(INT32_MIN), m, sizeof(m));
	expect_decode("int32", m, sizeof(m), "i32:-2147483648");
}

static void test_t64_int64(void **state)
{
	static const uint8_t e[] = { 0x88, 0x77, 0x66, 0x55,
				     0x44, 0x33, 0x22, 0x11 };
	static const uint8_t m1[] = { 0xff, 0xff, 0xff, 0xff,
				      0xff, 0xff, 0xff, 0xff };

	(void)state;
	expect_encode(SHMTAB_V_I64(0x1122334455667788LL), e, sizeof(e));
	expect_decode("int64", e, sizeof(e), "i64:1234605616436508552");
	/* "int" is a C long stored as 64 bits, the same bytes */
	expect_encode(SHMTAB_V_INT(-1), m1, sizeof(m1));
	expect_decode("int", m1, sizeof(m1), "int:-1");
	expect_decode("nativeint", m1, sizeof(m1), "int:-1");
	expect_decode("int64", m1, sizeof(m1), "i64:-1");
}

static void test_t64_pair_int32_string(void **state)
{
	struct wbuf w = { .n = 0 };

	(void)state;
	w_num(&w, 1);
	w_num(&w, 3);
	w_num(&w, 2);
	w_raw(&w, "xy\0\0");
	expect_encode(SHMTAB_V_PAIR(SHMTAB_V_I32(3), SHMTAB_V_STR("xy")),
		      w.b, w.n);
	expect_decode("pair(int32,string)", w.b, w.n, "(i32:3,s:\"xy\")");
}

static void test_t64_pair_string_int64(void **state)
{
	struct wbuf w = { .n = 0 };

	(void)state;
	w_num(&w, 3);
	w_num(&w, 5);
	w_raw(&w, "hell");
	w_raw(&w, "o\0\0\0");
	w_num(&w, 1);
	w_num(&w, 0);
	expect_encode(SHMTAB_V_PAIR(SHMTAB_V_STR("hello"), SHMTAB_V_I64(1)),
		      w.b, w.n);
	expect_decode("pair(string,int64)", w.b, w.n, "(s:\"hello\",i64:1)");
	/* padding must be zero */
	w.b[13] = 'x';
	expect_badmsg("pair(string,int64)", w.b, w.n);
	w.b[13] = 0;
	w.b[15] = 1;
	expect_badmsg("pair(string,int64)", w.b, w.n);
}

/* A whole string or bytes value is its raw bytes: no length, no padding. */
static void test_encode_top_level_raw(void **state)
{
	static const uint8_t bin[] = { 0, 1, 0xff, '\n', 0 };
	struct shmtab_value *v = NULL;

	(void)state;
	expect_encode(SHMTAB_V_STR("abc"), "abc", 3);
	expect_encode(SHMTAB_V_STR(""), "", 0);
	expect_encode(SHMTAB_V_BYTES(bin, sizeof(bin)), bin, sizeof(bin));
	expect_decode("string", "abc", 3, "s:\"abc\"");
	expect_decode("bytes", bin, sizeof(bin), "b:\"\\x00\\x01\\xff\\x0a\\x00\"");
	expect_decode("string", "", 0, "s:\"\"");
	expect_decode("bytes", "", 0, "b:\"\"");

	/* the NUL after a decoded string is not counted */
	assert_int_equal(shmtab_decode("string", "hello", 5, &v), 0);
	assert_int_equal(v->type, SHMTAB_STRING);
	assert_int_equal(v->s.len, 5);
	assert_string_equal((const char *)v->s.p, "hello");
	free(v);
}

static void test_encode_nested_pair(void **state)
{
	static const char b5[] = { 1, 2, 3, 4, 5 };
	const struct shmtab_value *v = SHMTAB_V_PAIR(
		SHMTAB_V_STR("ab"),
		SHMTAB_V_PAIR(SHMTAB_V_I64(-1), SHMTAB_V_BYTES(b5, 5)));
	struct wbuf w = { .n = 0 };

	(void)state;
	w_num(&w, 2); /* A = "ab": 2 words */
	w_num(&w, 2);
	w_raw(&w, "ab\0\0");
	w_num(&w, 2); /* B = pair(int64,bytes); its A = int64: 2 words */
	w_num(&w, 0xffffffff);
	w_num(&w, 0xffffffff);
	w_num(&w, 5);
	w_raw(&w, "\1\2\3\4");
	w_raw(&w, "\5\0\0\0");
	assert_int_equal(w.n, 36);
	expect_encode(v, w.b, w.n);
	expect_decode("pair(string,pair(int64,bytes))", w.b, w.n,
		      "(s:\"ab\",(i64:-1,b:\"\\x01\\x02\\x03\\x04\\x05\"))");

	/* empty strings: a length word 0 and no data words */
	w.n = 0;
	w_num(&w, 1);
	w_num(&w, 0);
	w_num(&w, 0);
	expect_encode(SHMTAB_V_PAIR(SHMTAB_V_STR(""), SHMTAB_V_STR("")), w.b,
		      w.n);
	expect_decode("pair(string,string)", w.b, w.n, "(s:\"\",s:\"\")");

	/* a pair as the first part: its word count is the whole inner pair */
	w.n = 0;
	w_num(&w, 3);
	w_num(&w, 1);
	w_num(&w, 7);
	w_num(&w, 8);
	w_num(&w, 4);
	w_raw(&w, "wxyz");
	expect_encode(SHMTAB_V_PAIR(SHMTAB_V_PAIR(SHMTAB_V_I32(7),
						  SHMTAB_V_I32(8)),
				    SHMTAB_V_BYTES("wxyz", 4)),
		      w.b, w.n);
	expect_decode("pair(pair(int32,int32),bytes)", w.b, w.n,
		      "((i32:7,i32:8),b:\"wxyz\")");
}

static void test_encode_bad_value(void **state)
{
	const struct shmtab_value bad0 = { .type = 0 };
	const struct shmtab_value bad99 = { .type = 99 };
	const struct shmtab_value nullpair = { .type = SHMTAB_PAIR,
					       .pair = { NULL,
							 SHMTAB_V_I32(1) } };
	void *buf = NULL;
	size_t len;

	(void)state;
	assert_int_equal(shmtab_encode(&bad0, &buf, &len), -EINVAL);
	assert_int_equal(shmtab_encode(&bad99, &buf, &len), -EINVAL);
	assert_int_equal(shmtab_encode(&nullpair, &buf, &len), -EINVAL);
	assert_int_equal(shmtab_encode(SHMTAB_V_PAIR(SHMTAB_V_I32(1), &bad99),
				       &buf, &len),
			 -EINVAL);
}

/* T65: a nested string whose length word exceeds the data. */
static void test_t65_nested_string_overrun(void **state)
{
	struct wbuf w = { .n = 0 };

	(void)state;
	w_num(&w, 1);
	w_num(&w, 3);
	w_num(&w, 5); /* 5 bytes need 2 words; one follows */
	w_raw(&w, "hell");
	expect_badmsg("pair(int32,string)", w.b, w.n);

	w.n = 0;
	w_num(&w, 2);
	w_num(&w, 5);
	w_raw(&w, "hell");
	w_num(&w, 7);
	expect_badmsg("pair(string,int32)", w.b, w.n);

	w.n = 0;
	w_num(&w, 1);
	w_num(&w, 3);
	w_num(&w, 0xffffffff);
	expect_badmsg("pair(int32,bytes)", w.b, w.n);
}

static void test_decode_malformed(void **state)
{
	static const uint8_t z[16];
	struct wbuf w = { .n = 0 };

	(void)state;
	/* integers of the wrong size */
	expect_badmsg("int64", z, 7);
	expect_badmsg("int64", z, 9);
	expect_badmsg("int64", z, 4);
	expect_badmsg("int64", z, 0);
	expect_badmsg("int", z, 4);
	expect_badmsg("int32", z, 3);
	expect_badmsg("int32", z, 5);
	expect_badmsg("int32", z, 8);
	expect_badmsg("int32", z, 0);

	/* pair(int32,string) 3,"xy" as the base */
	w_num(&w, 1);
	w_num(&w, 3);
	w_num(&w, 2);
	w_raw(&w, "xy\0\0");
	expect_decode("pair(int32,string)", w.b, w.n, "(i32:3,s:\"xy\")");
	/* non-zero padding */
	w.b[14] = 'z';
	expect_badmsg("pair(int32,string)", w.b, w.n);
	w.b[14] = 0;
	/* the first word disagrees with A's length */
	le32(w.b, 2);
	expect_badmsg("pair(int32,string)", w.b, w.n);
	le32(w.b, 0);
	expect_badmsg("pair(int32,string)", w.b, w.n);
	le32(w.b, 100);
	expect_badmsg("pair(int32,string)", w.b, w.n);
	le32(w.b, 1);
	/* trailing bytes after the pair */
	w_num(&w, 0);
	expect_badmsg("pair(int32,string)", w.b, w.n);
	expect_badmsg("pair(int32,string)", w.b, w.n - 3);
	w.n -= 4;
	/* cut short */
	expect_badmsg("pair(int32,string)", w.b, w.n - 4);
	expect_badmsg("pair(int32,string)", w.b, w.n - 1);
	expect_badmsg("pair(int32,string)", w.b, 4);
	expect_badmsg("pair(int32,string)", w.b, 2);
	expect_badmsg("pair(int32,string)", w.b, 0);
	/* the string's length word larger than its data by one byte */
	le32(w.b + 8, 5);
	expect_badmsg("pair(int32,string)", w.b, w.n);
	le32(w.b + 8, 2);
	expect_decode("pair(int32,string)", w.b, w.n, "(i32:3,s:\"xy\")");

	/* pair(int64,int32) missing its B */
	w.n = 0;
	w_num(&w, 2);
	w_num(&w, 1);
	w_num(&w, 0);
	expect_badmsg("pair(int64,int32)", w.b, w.n);
	/* int64 inside a pair declared as one word */
	w.n = 0;
	w_num(&w, 1);
	w_num(&w, 1);
	w_num(&w, 0);
	w_num(&w, 9);
	expect_badmsg("pair(int64,int32)", w.b, w.n);

	/* a bad inner pair */
	w.n = 0;
	w_num(&w, 1);
	w_num(&w, 7);
	w_num(&w, 1);
	w_num(&w, 1);
	w_num(&w, 2);
	w_raw(&w, "ab\0\0");
	expect_decode("pair(int32,pair(int32,string))", w.b, w.n,
		      "(i32:7,(i32:1,s:\"ab\"))");
	le32(w.b + 8, 2);
	expect_badmsg("pair(int32,pair(int32,string))", w.b, w.n);
	le32(w.b + 8, 1);
	w.b[22] = 1;
	expect_badmsg("pair(int32,pair(int32,string))", w.b, w.n);
}

static void test_bad_type_name_is_einval(void **state)
{
	static const char *bad[] = { "",	   "int16",	 "strin",
				     "string x",   "pair",	 "pair(int64)",
				     "pair(int64,string",	 "pair(,)",
				     "pair(int64,string))",	 "pair(a,b)",
				     "pair(int64,,string)",	 "int 64",
				     "pairs(int32,int32)",	 "()" };
	struct shmtab_value *v = NULL;
	void *buf = NULL;
	char *text = NULL;
	size_t len, tlen;
	char name[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("type name \"%s\"\n", bad[i]);
		assert_int_equal(shmtab_type_name(bad[i], name, sizeof(name)),
				 -EINVAL);
		assert_int_equal(shmtab_decode(bad[i], "abcdefgh", 8, &v),
				 -EINVAL);
		assert_int_equal(
			shmtab_format(bad[i], "abcdefgh", 8, &text, &tlen),
			-EINVAL);
		assert_int_equal(shmtab_parse(bad[i], "1", 1, &buf, &len),
				 -EINVAL);
	}
}

static void test_type_name_canonical(void **state)
{
	static const char *cases[][2] = {
		{ "bytes", "bytes" },
		{ "string", "string" },
		{ "int32", "int32" },
		{ "int64", "int64" },
		{ "int", "int" },
		{ "nativeint", "int" },
		{ "  string  ", "string" },
		{ "pair(int64,string)", "pair(int64,string)" },
		{ "pair( int64 , string )", "pair(int64,string)" },
		{ " pair ( int32 ,bytes ) ", "pair(int32,bytes)" },
		{ "pair(string,pair(int64,bytes))",
		  "pair(string,pair(int64,bytes))" },
		{ "pair( pair(int32, int32) , nativeint)",
		  "pair(pair(int32,int32),int)" },
	};
	char buf[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 'X', sizeof(buf));
		print_message("type name \"%s\"\n", cases[i][0]);
		assert_int_equal(shmtab_type_name(cases[i][0], buf, sizeof(buf)),
				 0);
		assert_string_equal(buf, cases[i][1]);
	}
}

static void test_type_name_erange(void **state)
{
	const char *canon = "pair(int64,string)";
	size_t n = strlen(canon);
	char buf[64];

	(void)state;
	assert_int_equal(shmtab_type_name("pair( int64 , string )", buf, n),
			 -ERANGE);
	assert_int_equal(shmtab_type_name("pair( int64 , string )", buf, 3),
			 -ERANGE);
	assert_int_equal(shmtab_type_name("int64", buf, 5), -ERANGE);
	assert_int_equal(shmtab_type_name("pair( int64 , string )", buf,
					  n + 1),
			 0);
	assert_string_equal(buf, canon);
	assert_int_equal(shmtab_type_name("int64", buf, 6), 0);
	assert_string_equal(buf, "int64");
}

/* ------------------------------------------------------------------ */
/* Round trips of every type                                           */
/* ------------------------------------------------------------------ */

struct rt_case {
	const char *type;
	const struct shmtab_value *v;
};

static const char weird[] = "a\tb\nc\rd\\e\0f\x7fg\x01h\x1fi\xc3\xa9";
static const unsigned char allb[] = { 0, 1, 0x7f, 0x80, 0xfe, 0xff, '\t',
				      '\n', '\\', 'A' };

#define RT_CASES(c)                                                           \
	const struct rt_case c[] = {                                          \
		{ "int32", SHMTAB_V_I32(0) },                                 \
		{ "int32", SHMTAB_V_I32(-1) },                                \
		{ "int32", SHMTAB_V_I32(INT32_MIN) },                         \
		{ "int32", SHMTAB_V_I32(INT32_MAX) },                         \
		{ "int64", SHMTAB_V_I64(0) },                                 \
		{ "int64", SHMTAB_V_I64(INT64_MIN) },                         \
		{ "int64", SHMTAB_V_I64(INT64_MAX) },                         \
		{ "int64", SHMTAB_V_I64(-42) },                               \
		{ "int", SHMTAB_V_INT(0) },                                   \
		{ "int", SHMTAB_V_INT(LONG_MIN) },                            \
		{ "int", SHMTAB_V_INT(LONG_MAX) },                            \
		{ "string", SHMTAB_V_STR("") },                               \
		{ "string", SHMTAB_V_STR("hello world") },                    \
		{ "string", SHMTAB_V_BYTES_T(SHMTAB_STRING, weird,            \
					     sizeof(weird) - 1) },            \
		{ "bytes", SHMTAB_V_BYTES("", 0) },                           \
		{ "bytes", SHMTAB_V_BYTES(allb, sizeof(allb)) },              \
		{ "pair(int32,string)",                                       \
		  SHMTAB_V_PAIR(SHMTAB_V_I32(INT32_MIN), SHMTAB_V_STR("")) }, \
		{ "pair(string,string)",                                      \
		  SHMTAB_V_PAIR(SHMTAB_V_BYTES_T(SHMTAB_STRING, weird,        \
						 sizeof(weird) - 1),          \
				SHMTAB_V_STR("abcd")) },                      \
		{ "pair(bytes,int)",                                          \
		  SHMTAB_V_PAIR(SHMTAB_V_BYTES(allb, sizeof(allb)),           \
				SHMTAB_V_INT(LONG_MIN)) },                    \
		{ "pair(bytes,bytes)",                                        \
		  SHMTAB_V_PAIR(SHMTAB_V_BYTES("", 0),                        \
				SHMTAB_V_BYTES("\0", 1)) },                   \
		{ "pair(string,pair(int64,bytes))",                           \
		  SHMTAB_V_PAIR(SHMTAB_V_STR("x\\y"),                         \
				SHMTAB_V_PAIR(SHMTAB_V_I64(INT64_MIN),        \
					      SHMTAB_V_BYTES(allb, 3))) },    \
		{ "pair(string,pair(int64,bytes))",                           \
		  SHMTAB_V_PAIR(SHMTAB_V_STR(""),                             \
				SHMTAB_V_PAIR(SHMTAB_V_I64(INT64_MAX),        \
					      SHMTAB_V_BYTES("", 0))) },      \
		{ "pair(pair(int64,int32),pair(string,pair(int,bytes)))",     \
		  SHMTAB_V_PAIR(                                              \
			  SHMTAB_V_PAIR(SHMTAB_V_I64(-7),                     \
					SHMTAB_V_I32(INT32_MAX)),             \
			  SHMTAB_V_PAIR(                                      \
				  SHMTAB_V_STR("\t\n\r\\"),                   \
				  SHMTAB_V_PAIR(SHMTAB_V_INT(12345),          \
						SHMTAB_V_BYTES(allb + 1,      \
							       7)))) },      \
	}

#define SHMTAB_V_BYTES_T(t, ptr, n) \
	(&(const struct shmtab_value){ .type = (t), .s = { (ptr), (n) } })

static void test_roundtrip_encode_decode(void **state)
{
	RT_CASES(cases);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct shmtab_value *d = NULL;
		void *buf = NULL, *buf2 = NULL;
		size_t len = 0, len2 = 0;
		char *want = vstr(cases[i].v);

		print_message("case %zu: %s %s\n", i, cases[i].type, want);
		assert_int_equal(shmtab_encode(cases[i].v, &buf, &len), 0);
		if (cases[i].v->type != SHMTAB_STRING &&
		    cases[i].v->type != SHMTAB_BYTES)
			assert_int_equal(len % 4, 0);
		assert_int_equal(shmtab_decode(cases[i].type, buf, len, &d), 0);
		assert_value_str(d, want);
		assert_true(value_equal(d, cases[i].v));
		assert_true(nul_terminated(d));
		/* decoded values re-encode to the same bytes */
		assert_int_equal(shmtab_encode(d, &buf2, &len2), 0);
		assert_bytes(buf2, len2, buf, len);
		free(want);
		free(buf);
		free(buf2);
		free(d);
	}
}

static void test_roundtrip_format_parse(void **state)
{
	RT_CASES(cases);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		void *buf = NULL, *buf2 = NULL;
		size_t len = 0, len2 = 0, tlen = 0;
		char *text = NULL;

		print_message("case %zu: %s\n", i, cases[i].type);
		assert_int_equal(shmtab_encode(cases[i].v, &buf, &len), 0);
		assert_int_equal(
			shmtab_format(cases[i].type, buf, len, &text, &tlen),
			0);
		assert_non_null(text);
		assert_int_equal(text[tlen], '\0');
		assert_int_equal(shmtab_parse(cases[i].type, text, tlen, &buf2,
					      &len2),
				 0);
		assert_bytes(buf2, len2, buf, len);
		free(buf);
		free(buf2);
		free(text);
	}
}

/* ------------------------------------------------------------------ */
/* Text form                                                           */
/* ------------------------------------------------------------------ */

static void expect_format(const char *type, const struct shmtab_value *v,
			  const char *etext, size_t etlen)
{
	void *buf = NULL;
	size_t len, tlen = 0;
	char *text = NULL;

	assert_int_equal(shmtab_encode(v, &buf, &len), 0);
	assert_int_equal(shmtab_format(type, buf, len, &text, &tlen), 0);
	assert_non_null(text);
	/* compare as hex: the texts may hold NULs */
	assert_bytes(text, tlen, etext, etlen);
	assert_int_equal(text[tlen], '\0');
	free(text);
	free(buf);
}

#define EXPECT_FORMAT(type, v, lit) expect_format((type), (v), lit, sizeof(lit) - 1)

static void test_format_exact(void **state)
{
	static const char bin[] = { 0x00, (char)0xab, 0x10, (char)0xff };

	(void)state;
	EXPECT_FORMAT("int32", SHMTAB_V_I32(5), "5\n");
	EXPECT_FORMAT("int32", SHMTAB_V_I32(INT32_MIN), "-2147483648\n");
	EXPECT_FORMAT("int32", SHMTAB_V_I32(INT32_MAX), "2147483647\n");
	EXPECT_FORMAT("int64", SHMTAB_V_I64(INT64_MIN),
		      "-9223372036854775808\n");
	EXPECT_FORMAT("int64", SHMTAB_V_I64(INT64_MAX),
		      "9223372036854775807\n");
	EXPECT_FORMAT("int64", SHMTAB_V_I64(0), "0\n");
	EXPECT_FORMAT("int", SHMTAB_V_INT(-12), "-12\n");
	/* top-level strings and bytes are their bytes, no newline */
	EXPECT_FORMAT("string", SHMTAB_V_STR("a\tb\\c\n"), "a\tb\\c\n");
	EXPECT_FORMAT("string", SHMTAB_V_STR(""), "");
	EXPECT_FORMAT("bytes", SHMTAB_V_BYTES(bin, 4), "\x00\xab\x10\xff");
	/* pairs: leaf parts, tabs, a newline; strings escaped, bytes hex */
	EXPECT_FORMAT("pair(int32,string)",
		      SHMTAB_V_PAIR(SHMTAB_V_I32(3), SHMTAB_V_STR("xy")),
		      "3\txy\n");
	EXPECT_FORMAT("pair(string,int64)",
		      SHMTAB_V_PAIR(SHMTAB_V_STR(""), SHMTAB_V_I64(-1)),
		      "\t-1\n");
	EXPECT_FORMAT("pair(string,pair(int64,bytes))",
		      SHMTAB_V_PAIR(SHMTAB_V_BYTES_T(SHMTAB_STRING,
						     "a\tb\\c\nd\r\0\x7f\x1f", 11),
				    SHMTAB_V_PAIR(SHMTAB_V_I64(INT64_MIN),
						  SHMTAB_V_BYTES(bin, 4))),
		      "a\\tb\\\\c\\nd\\r\\x00\\x7f\\x1f\t-9223372036854775808"
		      "\t00ab10ff\n");
	EXPECT_FORMAT("pair(pair(int32,int32),pair(bytes,string))",
		      SHMTAB_V_PAIR(SHMTAB_V_PAIR(SHMTAB_V_I32(1),
						  SHMTAB_V_I32(-2)),
				    SHMTAB_V_PAIR(SHMTAB_V_BYTES("", 0),
						  SHMTAB_V_STR(""))),
		      "1\t-2\t\t\n");
	EXPECT_FORMAT("pair(int,bytes)",
		      SHMTAB_V_PAIR(SHMTAB_V_INT(7),
				    SHMTAB_V_BYTES("\x0a\xff", 2)),
		      "7\t0aff\n");
}

static void expect_parse(const char *type, const char *text, size_t tlen,
			 const struct shmtab_value *v)
{
	void *buf = NULL, *ebuf = NULL;
	size_t len = 0, elen = 0;

	print_message("parse %s \"%.*s\"\n", type, (int)tlen, text);
	assert_int_equal(shmtab_encode(v, &ebuf, &elen), 0);
	assert_int_equal(shmtab_parse(type, text, tlen, &buf, &len), 0);
	assert_bytes(buf, len, ebuf, elen);
	free(buf);
	free(ebuf);
}

#define EXPECT_PARSE(type, lit, v) expect_parse((type), lit, sizeof(lit) - 1, (v))

static void test_parse_exact(void **state)
{
	(void)state;
	EXPECT_PARSE("int32", "5", SHMTAB_V_I32(5));
	EXPECT_PARSE("int32", "5\n", SHMTAB_V_I32(5));
	EXPECT_PARSE("int32", "-2147483648\n", SHMTAB_V_I32(INT32_MIN));
	EXPECT_PARSE("int32", "2147483647", SHMTAB_V_I32(INT32_MAX));
	EXPECT_PARSE("int64", "-9223372036854775808\n",
		     SHMTAB_V_I64(INT64_MIN));
	EXPECT_PARSE("int64", "9223372036854775807", SHMTAB_V_I64(INT64_MAX));
	EXPECT_PARSE("int", "-3\n", SHMTAB_V_INT(-3));
	EXPECT_PARSE("nativeint", "42", SHMTAB_V_INT(42));
	/* top-level strings are taken as they are, newline included */
	EXPECT_PARSE("string", "abc\n", SHMTAB_V_STR("abc\n"));
	EXPECT_PARSE("string", "a\\tb", SHMTAB_V_STR("a\\tb"));
	EXPECT_PARSE("string", "", SHMTAB_V_STR(""));
	EXPECT_PARSE("bytes", "\x00\xff\n", SHMTAB_V_BYTES("\x00\xff\n", 3));
	/* pairs, with and without the newline */
	EXPECT_PARSE("pair(int32,string)", "3\txy\n",
		     SHMTAB_V_PAIR(SHMTAB_V_I32(3), SHMTAB_V_STR("xy")));
	EXPECT_PARSE("pair(int32,string)", "3\txy",
		     SHMTAB_V_PAIR(SHMTAB_V_I32(3), SHMTAB_V_STR("xy")));
	EXPECT_PARSE("pair(int32,string)", "-1\t\n",
		     SHMTAB_V_PAIR(SHMTAB_V_I32(-1), SHMTAB_V_STR("")));
	EXPECT_PARSE("pair(string,string)",
		     "\\t\\n\\r\\\\\\x00\\x7f\\x1b\tz\n",
		     SHMTAB_V_PAIR(SHMTAB_V_BYTES_T(SHMTAB_STRING,
						    "\t\n\r\\\0\x7f\x1b", 7),
				   SHMTAB_V_STR("z")));
	/* hex in either case */
	EXPECT_PARSE("pair(string,pair(int64,bytes))", "a\t7\t00AbFf\n",
		     SHMTAB_V_PAIR(SHMTAB_V_STR("a"),
				   SHMTAB_V_PAIR(SHMTAB_V_I64(7),
						 SHMTAB_V_BYTES("\x00\xab\xff",
								3))));
	EXPECT_PARSE("pair(bytes,bytes)", "\t\n",
		     SHMTAB_V_PAIR(SHMTAB_V_BYTES("", 0),
				   SHMTAB_V_BYTES("", 0)));
}

static void test_parse_invalid(void **state)
{
	static const struct {
		const char *type, *text;
	} bad[] = {
		{ "int32", "" },
		{ "int32", "\n" },
		{ "int32", "abc" },
		{ "int32", "12a" },
		{ "int32", "1 2" },
		{ "int32", "5\n\n" },
		{ "int32", "2147483648" },
		{ "int32", "-2147483649" },
		{ "int32", "99999999999999999999" },
		{ "int32", "-" },
		{ "int32", "0x10" },
		{ "int64", "9223372036854775808" },
		{ "int64", "-9223372036854775809" },
		{ "int64", "1.5" },
		{ "int64", "5\t" },
		{ "int", "9223372036854775808\n" },
		{ "pair(int32,string)", "3\n" },
		{ "pair(int32,string)", "3" },
		{ "pair(int32,string)", "" },
		{ "pair(int32,string)", "3\ta\tb\n" },
		{ "pair(int32,string)", "x\ta\n" },
		{ "pair(int32,string)", "2147483648\ta\n" },
		{ "pair(int32,string)", "3\ta\\q\n" },
		{ "pair(int32,string)", "3\ta\\\n" },
		{ "pair(int32,string)", "3\ta\\x4\n" },
		{ "pair(int32,string)", "3\ta\\xg0\n" },
		{ "pair(int32,bytes)", "3\tabc\n" },
		{ "pair(int32,bytes)", "3\tzz\n" },
		{ "pair(int32,bytes)", "3\t0\n" },
		{ "pair(string,pair(int64,bytes))", "a\t1\n" },
		{ "pair(string,pair(int64,bytes))", "a\t1\t00\t00\n" },
		{ "pair(string,pair(int64,bytes))", "a\tb\t00\n" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *buf = NULL;
		size_t len;

		print_message("parse %s \"%s\"\n", bad[i].type, bad[i].text);
		assert_int_equal(shmtab_parse(bad[i].type, bad[i].text,
					      strlen(bad[i].text), &buf, &len),
				 -EINVAL);
	}
}

static void test_format_malformed(void **state)
{
	static const uint8_t z[16];
	struct wbuf w = { .n = 0 };
	char *text = NULL;
	size_t tlen;

	(void)state;
	assert_int_equal(shmtab_format("int64", z, 7, &text, &tlen), -EBADMSG);
	assert_int_equal(shmtab_format("int32", z, 8, &text, &tlen), -EBADMSG);
	w_num(&w, 1);
	w_num(&w, 3);
	w_num(&w, 5);
	w_raw(&w, "hell");
	assert_int_equal(shmtab_format("pair(int32,string)", w.b, w.n, &text,
				       &tlen),
			 -EBADMSG);
}

/* ------------------------------------------------------------------ */
/* Tables: fixture per backend                                         */
/* ------------------------------------------------------------------ */

struct fx {
	const char *backend;
	char *name;
	shmtab *t;
	shmtab *t2;
};

static int fx_setup(void **state)
{
	const char *backend = *state ? *state : "posix";
	struct fx *f = calloc(1, sizeof(*f));

	*state = NULL;
	if (!f)
		return -1;
	f->backend = backend;
	f->name = strcmp(backend, "posix") == 0 ? tu_posix_name("types") :
						  tu_file_name("types");
	if (!f->name) {
		free(f);
		return -1;
	}
	tu_remove(f->name);
	*state = f;
	alarm(WATCHDOG_S);
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	int c1 = 0, c2 = 0;

	alarm(0);
	if (!f)
		return 0;
	if (f->t)
		c1 = shmtab_check(f->t);
	if (f->t2)
		c2 = shmtab_check(f->t2);
	shmtab_close(f->t);
	shmtab_close(f->t2);
	tu_remove(f->name);
	free(f->name);
	free(f);
	assert_int_equal(c1, 0);
	assert_int_equal(c2, 0);
	return 0;
}

#define CREATE_FLAGS (O_RDWR | O_CREAT | O_EXCL)

static void create_typed(struct fx *f, const struct shmtab_schema *s)
{
	assert_int_equal(shmtab_open_typed(f->name, CREATE_FLAGS, 0600, NULL, s,
					   &f->t),
			 0);
	assert_non_null(f->t);
}

static void reopen(struct fx *f, shmtab **slot)
{
	shmtab_close(*slot);
	*slot = NULL;
	assert_int_equal(shmtab_open(f->name, O_RDWR, 0, NULL, slot), 0);
}

/* Joined renderings collected by visitors. */
struct collect {
	char *items[64];
	int n;
	int stop_at;	/* return 7 at this call (1-based), 0: never */
};

static void collect_add(struct collect *c, char *s)
{
	assert_true(c->n < 64);
	c->items[c->n++] = s;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The items joined with sep, sorted first when sort; frees them. */
static char *collect_join(struct collect *c, int sort, const char *sep)
{
	char *s = NULL;
	size_t n = 0;
	FILE *fp = open_memstream(&s, &n);
	int i;

	assert_non_null(fp);
	if (sort)
		qsort(c->items, c->n, sizeof(char *), cmp_str);
	for (i = 0; i < c->n; i++) {
		fprintf(fp, "%s%s", i ? sep : "", c->items[i]);
		free(c->items[i]);
	}
	c->n = 0;
	fclose(fp);
	return s;
}

static int collect_binding(const struct shmtab_value *key,
			   const struct shmtab_value *val, void *ctx)
{
	struct collect *c = ctx;
	char *k = vstr(key), *v = vstr(val), *s = NULL;

	if (asprintf(&s, "%s=%s", k, v) < 0)
		s = NULL;
	free(k);
	free(v);
	collect_add(c, s);
	return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

static int collect_value(const struct shmtab_value *key,
			 const struct shmtab_value *val, void *ctx)
{
	struct collect *c = ctx;

	(void)key;
	collect_add(c, vstr(val));
	return 0;
}

static int collect_key(const struct shmtab_value *key, void *ctx)
{
	struct collect *c = ctx;

	collect_add(c, vstr(key));
	return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

#define assert_join(c, sort, sep, expect)                      \
	do {                                                   \
		char *j_ = collect_join((c), (sort), (sep));   \
		assert_string_equal(j_, (expect));             \
		free(j_);                                      \
	} while (0)

static void assert_tfind(shmtab *t, const struct shmtab_value *key,
			 const char *expect)
{
	struct shmtab_value *v = NULL;

	assert_int_equal(shmtab_tfind(t, key, &v), 0);
	assert_non_null(v);
	assert_value_str(v, expect);
	assert_true(nul_terminated(v));
	free(v);
}

static const struct shmtab_schema s_i64_str = {
	.kind = SHMTAB_KIND_HASH, .key_type = "int64", .value_type = "string"
};

/* T66: int64 keys that may share hash bits stay apart. */
static void test_t66_typed_key_collisions(void **state)
{
	struct fx *f = *state;
	const int64_t big = 0x100000005LL;
	struct collect c = { .n = 0 };
	struct shmtab_value *v = NULL;

	create_typed(f, &s_i64_str);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_I64(5), SHMTAB_V_STR("five")),
			 0);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_I64(big), SHMTAB_V_STR("big")),
			 0);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_I64(5), SHMTAB_V_STR("five2")),
			 0);
	assert_int_equal(shmtab_length(f->t), 3);
	assert_tfind(f->t, SHMTAB_V_I64(5), "s:\"five2\"");
	assert_tfind(f->t, SHMTAB_V_I64(big), "s:\"big\"");
	assert_int_equal(shmtab_tmem(f->t, SHMTAB_V_I64(5)), 1);
	assert_int_equal(shmtab_tmem(f->t, SHMTAB_V_I64(big)), 1);
	assert_int_equal(shmtab_tmem(f->t, SHMTAB_V_I64(0x5LL << 32)), 0);
	assert_int_equal(shmtab_tfind(f->t, SHMTAB_V_I64(0x5LL << 32), &v),
			 -ENOENT);

	assert_int_equal(shmtab_tfind_all(f->t, SHMTAB_V_I64(5), collect_value,
					  &c),
			 0);
	assert_join(&c, 0, ",", "s:\"five2\",s:\"five\"");
	assert_int_equal(shmtab_tfind_all(f->t, SHMTAB_V_I64(big),
					  collect_value, &c),
			 0);
	assert_join(&c, 0, ",", "s:\"big\"");

	assert_int_equal(shmtab_titer_keys(f->t, collect_key, &c), 0);
	assert_int_equal(c.n, 2);
	assert_join(&c, 1, ",", "i64:4294967301,i64:5");

	assert_int_equal(shmtab_tremove(f->t, SHMTAB_V_I64(big)), 0);
	assert_int_equal(shmtab_length(f->t), 2);
	assert_int_equal(shmtab_tmem(f->t, SHMTAB_V_I64(big)), 0);
	assert_int_equal(shmtab_tfind_all(f->t, SHMTAB_V_I64(5), collect_value,
					  &c),
			 0);
	assert_join(&c, 0, ",", "s:\"five2\",s:\"five\"");
	assert_int_equal(shmtab_titer_keys(f->t, collect_key, &c), 0);
	assert_join(&c, 1, ",", "i64:5");

	/* remove restores the binding below */
	assert_int_equal(shmtab_tremove(f->t, SHMTAB_V_I64(5)), 0);
	assert_tfind(f->t, SHMTAB_V_I64(5), "s:\"five\"");
	assert_int_equal(shmtab_tremove(f->t, SHMTAB_V_I64(5)), 0);
	assert_int_equal(shmtab_tremove(f->t, SHMTAB_V_I64(5)), 0);
	assert_int_equal(shmtab_length(f->t), 0);
}

/* Typed calls store the encodings: the byte calls see them. */
static void test_typed_raw_consistency(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_HASH,
					 .key_type = "int64",
					 .value_type = "pair(int32,string)" };
	uint8_t key[8], val[16];
	struct wbuf w = { .n = 0 };
	void *got = NULL;
	size_t glen = 0;

	create_typed(f, &s);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_I64(0x0102030405060708LL),
				     SHMTAB_V_PAIR(SHMTAB_V_I32(3),
						   SHMTAB_V_STR("xy"))),
			 0);
	le64(key, 0x0102030405060708ULL);
	w_num(&w, 1);
	w_num(&w, 3);
	w_num(&w, 2);
	w_raw(&w, "xy\0\0");
	assert_int_equal(shmtab_find(f->t, key, 8, &got, &glen), 0);
	assert_bytes(got, glen, w.b, w.n);
	free(got);

	/* a valid encoding added with the byte call reads back typed */
	le64(key, (uint64_t)-9);
	le32(val, 1);
	le32(val + 4, (uint32_t)-4);
	le32(val + 8, 1);
	memcpy(val + 12, "q\0\0\0", 4);
	assert_int_equal(shmtab_add(f->t, key, 8, val, 16), 0);
	assert_tfind(f->t, SHMTAB_V_I64(-9), "(i32:-4,s:\"q\")");
	assert_int_equal(shmtab_length(f->t), 2);
}

/* In a typed table the byte calls refuse what is not an encoding. */
static void test_typed_rejects_bad_raw(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_HASH,
					 .key_type = "string",
					 .value_type = "int64" };
	const struct shmtab_schema sp = { .kind = SHMTAB_KIND_HASH,
					  .key_type = "pair(int32,string)",
					  .value_type = "int32" };
	uint8_t v8[8] = { 1 }, v4[4] = { 1 };
	struct wbuf w = { .n = 0 };

	create_typed(f, &s);
	assert_int_equal(shmtab_add(f->t, "k", 1, "abc", 3), -EINVAL);
	assert_int_equal(shmtab_replace(f->t, "k", 1, "abc", 3), -EINVAL);
	assert_int_equal(shmtab_add(f->t, "k", 1, v4, 4), -EINVAL);
	assert_int_equal(shmtab_add(f->t, "k", 1, v8, 7), -EINVAL);
	assert_int_equal(shmtab_add(f->t, "k", 1, "", 0), -EINVAL);
	assert_int_equal(shmtab_length(f->t), 0);
	assert_int_equal(shmtab_mem(f->t, "k", 1), 0);
	assert_int_equal(shmtab_add(f->t, "k", 1, v8, 8), 0);
	assert_int_equal(shmtab_replace(f->t, "k", 1, v4, 4), -EINVAL);
	assert_tfind(f->t, SHMTAB_V_STR("k"), "i64:1");
	assert_int_equal(shmtab_length(f->t), 1);
	shmtab_close(f->t);
	f->t = NULL;
	tu_remove(f->name);

	/* a pair key: bad padding or a wrong first word is refused */
	create_typed(f, &sp);
	w_num(&w, 1);
	w_num(&w, 3);
	w_num(&w, 2);
	w_raw(&w, "xy\0\0");
	assert_int_equal(shmtab_add(f->t, w.b, w.n, v4, 4), 0);
	w.b[15] = 'z';
	assert_int_equal(shmtab_add(f->t, w.b, w.n, v4, 4), -EINVAL);
	w.b[15] = 0;
	le32(w.b, 2);
	assert_int_equal(shmtab_replace(f->t, w.b, w.n, v4, 4), -EINVAL);
	assert_int_equal(shmtab_add(f->t, "xy", 2, v4, 4), -EINVAL);
	assert_int_equal(shmtab_length(f->t), 1);
	assert_tfind(f->t, SHMTAB_V_PAIR(SHMTAB_V_I32(3), SHMTAB_V_STR("xy")),
		     "i32:1");
}

static void test_typed_rejects_wrong_type(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_HASH,
					 .key_type = "string",
					 .value_type = "pair(int64,string)" };
	struct shmtab_value *v = NULL;
	struct collect c = { .n = 0 };

	create_typed(f, &s);
	/* value of the wrong type */
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR("k"), SHMTAB_V_STR("v")),
			 -EINVAL);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR("k"),
				     SHMTAB_V_PAIR(SHMTAB_V_STR("x"),
						   SHMTAB_V_STR("y"))),
			 -EINVAL);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR("k"),
				     SHMTAB_V_PAIR(SHMTAB_V_I64(1),
						   SHMTAB_V_BYTES("y", 1))),
			 -EINVAL);
	assert_int_equal(shmtab_treplace(f->t, SHMTAB_V_STR("k"),
					 SHMTAB_V_I64(1)),
			 -EINVAL);
	/* key of the wrong type */
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_I64(1),
				     SHMTAB_V_PAIR(SHMTAB_V_I64(1),
						   SHMTAB_V_STR("y"))),
			 -EINVAL);
	assert_int_equal(shmtab_length(f->t), 0);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR("k"),
				     SHMTAB_V_PAIR(SHMTAB_V_I64(1),
						   SHMTAB_V_STR("y"))),
			 0);
	assert_int_equal(shmtab_tfind(f->t, SHMTAB_V_I32(1), &v), -EINVAL);
	assert_int_equal(shmtab_tmem(f->t, SHMTAB_V_I64(1)), -EINVAL);
	assert_int_equal(shmtab_tremove(f->t, SHMTAB_V_BYTES("k", 1)), -EINVAL);
	assert_int_equal(shmtab_tfind_all(f->t, SHMTAB_V_I64(1), collect_value,
					  &c),
			 -EINVAL);
	assert_int_equal(c.n, 0);
	assert_int_equal(shmtab_treplace(f->t, SHMTAB_V_STR("k"),
					 SHMTAB_V_STR("y")),
			 -EINVAL);
	assert_int_equal(shmtab_length(f->t), 1);
	assert_tfind(f->t, SHMTAB_V_STR("k"), "(i64:1,s:\"y\")");
}

/* netshm semantics through the typed calls. */
static void test_typed_stack_semantics(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_HASH,
					 .key_type = "string",
					 .value_type = "int32" };
	struct collect c = { .n = 0 };
	struct shmtab_value *v = NULL;

	create_typed(f, &s);
	assert_int_equal(shmtab_tfind(f->t, SHMTAB_V_STR("a"), &v), -ENOENT);
	assert_int_equal(shmtab_tmem(f->t, SHMTAB_V_STR("a")), 0);
	assert_int_equal(shmtab_tremove(f->t, SHMTAB_V_STR("a")), 0);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR("a"), SHMTAB_V_I32(1)),
			 0);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR("a"), SHMTAB_V_I32(2)),
			 0);
	assert_int_equal(shmtab_treplace(f->t, SHMTAB_V_STR("a"),
					 SHMTAB_V_I32(3)),
			 0);
	assert_int_equal(shmtab_tfind_all(f->t, SHMTAB_V_STR("a"),
					  collect_value, &c),
			 0);
	assert_join(&c, 0, ",", "i32:3,i32:1");
	assert_int_equal(shmtab_length(f->t), 2);
	/* replace on an unbound key adds */
	assert_int_equal(shmtab_treplace(f->t, SHMTAB_V_STR(""),
					 SHMTAB_V_I32(-5)),
			 0);
	assert_tfind(f->t, SHMTAB_V_STR(""), "i32:-5");
	assert_int_equal(shmtab_length(f->t), 3);
	assert_int_equal(shmtab_tremove(f->t, SHMTAB_V_STR("a")), 0);
	assert_tfind(f->t, SHMTAB_V_STR("a"), "i32:1");
	assert_int_equal(shmtab_length(f->t), 2);
}

/* titer decodes keys and values; its visitor can stop it. */
static void test_titer_decodes(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_HASH,
					 .key_type = "string",
					 .value_type = "pair(int64,string)" };
	struct collect c = { .n = 0 };

	create_typed(f, &s);
#define ADD(k, i, str)                                                       \
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR(k),                  \
				     SHMTAB_V_PAIR(SHMTAB_V_I64(i),          \
						   SHMTAB_V_STR(str))),      \
			 0)
	ADD("a", 1, "x");
	ADD("b", 2, "");
	ADD("a", 3, "y\tz");
	ADD("c", -4, "q");
#undef ADD
	assert_int_equal(shmtab_titer(f->t, collect_binding, &c), 0);
	assert_int_equal(c.n, 4);
	assert_join(&c, 1, ";",
		    "s:\"a\"=(i64:1,s:\"x\");"
		    "s:\"a\"=(i64:3,s:\"y\\x09z\");"
		    "s:\"b\"=(i64:2,s:\"\");"
		    "s:\"c\"=(i64:-4,s:\"q\")");
	assert_int_equal(shmtab_titer_keys(f->t, collect_key, &c), 0);
	assert_int_equal(c.n, 3);
	assert_join(&c, 1, ",", "s:\"a\",s:\"b\",s:\"c\"");

	c.stop_at = 1;
	assert_int_equal(shmtab_titer(f->t, collect_binding, &c), 7);
	assert_int_equal(c.n, 1);
	free(collect_join(&c, 0, ""));
	assert_int_equal(shmtab_titer_keys(f->t, collect_key, &c), 7);
	assert_int_equal(c.n, 1);
	free(collect_join(&c, 0, ""));

	/* another handle decodes the same; read-only, it cannot write */
	assert_int_equal(shmtab_open(f->name, O_RDONLY, 0, NULL, &f->t2), 0);
	c.stop_at = 0;
	assert_int_equal(shmtab_tfind_all(f->t2, SHMTAB_V_STR("a"),
					  collect_value, &c),
			 0);
	assert_join(&c, 0, ",", "(i64:3,s:\"y\\x09z\"),(i64:1,s:\"x\")");
	assert_int_equal(shmtab_titer(f->t2, collect_binding, &c), 0);
	assert_int_equal(c.n, 4);
	free(collect_join(&c, 0, ""));
	assert_int_equal(shmtab_tadd(f->t2, SHMTAB_V_STR("d"),
				     SHMTAB_V_PAIR(SHMTAB_V_I64(0),
						   SHMTAB_V_STR(""))),
			 -EROFS);
	assert_int_equal(shmtab_tremove(f->t2, SHMTAB_V_STR("a")), -EROFS);
	assert_int_equal(shmtab_length(f->t), 4);
}

/* "bytes" keys and values, declared or by default, take any bytes. */
static void test_typed_bytes_types(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema sv = { .kind = SHMTAB_KIND_HASH,
					  .key_type = "string",
					  .value_type = "bytes" };
	const struct shmtab_schema sk = { .kind = SHMTAB_KIND_HASH,
					  .key_type = "bytes",
					  .value_type = "string" };
	struct collect c = { .n = 0 };

	create_typed(f, &sv);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR("k"),
				     SHMTAB_V_BYTES("\0\xff", 2)),
			 0);
	assert_tfind(f->t, SHMTAB_V_STR("k"), "b:\"\\x00\\xff\"");
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR("k"),
				     SHMTAB_V_STR("s")),
			 -EINVAL);
	shmtab_close(f->t);
	f->t = NULL;
	tu_remove(f->name);

	create_typed(f, &sk);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_BYTES("\x01", 1),
				     SHMTAB_V_STR("one")),
			 0);
	assert_tfind(f->t, SHMTAB_V_BYTES("\x01", 1), "s:\"one\"");
	assert_int_equal(shmtab_tmem(f->t, SHMTAB_V_BYTES("\x01", 1)), 1);
	assert_int_equal(shmtab_titer_keys(f->t, collect_key, &c), 0);
	assert_join(&c, 0, ",", "b:\"\\x01\"");
	assert_int_equal(shmtab_tremove(f->t, SHMTAB_V_BYTES("\x01", 1)), 0);
	assert_int_equal(shmtab_length(f->t), 0);
}

/* An untyped table is bytes to bytes. */
static void test_titer_untyped(void **state)
{
	struct fx *f = *state;
	struct collect c = { .n = 0 };
	struct shmtab_schema got;

	assert_int_equal(tu_create(f->name, NULL, &f->t), 0);
	assert_int_equal(tu_add_str(f->t, "k", "v"), 0);
	assert_int_equal(shmtab_get_schema(f->t, &got), 0);
	assert_int_equal(got.kind, SHMTAB_KIND_HASH);
	assert_string_equal(got.key_type, "bytes");
	assert_string_equal(got.value_type, "bytes");
	assert_int_equal(shmtab_titer(f->t, collect_binding, &c), 0);
	assert_join(&c, 1, ";", "b:\"k\"=b:\"v\"");
	assert_tfind(f->t, SHMTAB_V_BYTES("k", 1), "b:\"v\"");
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_BYTES("k", 1),
				     SHMTAB_V_BYTES("w", 1)),
			 0);
	assert_int_equal(shmtab_tfind_all(f->t, SHMTAB_V_BYTES("k", 1),
					  collect_value, &c),
			 0);
	assert_join(&c, 0, ",", "b:\"w\",b:\"v\"");
}

/* ------------------------------------------------------------------ */
/* Schemas                                                             */
/* ------------------------------------------------------------------ */

struct schema_child {
	const char *name;
};

static int child_check_schema(void *p)
{
	struct schema_child *a = p;
	struct shmtab_schema s;
	struct shmtab_value *v = NULL;
	shmtab *t = NULL;
	int rc = 0;

	if (shmtab_open(a->name, O_RDONLY, 0, NULL, &t) != 0)
		return 1;
	if (shmtab_get_schema(t, &s) != 0)
		rc = 2;
	else if (s.kind != SHMTAB_KIND_HASH)
		rc = 3;
	else if (!s.key_type || strcmp(s.key_type, "int64") != 0)
		rc = 4;
	else if (!s.value_type ||
		 strcmp(s.value_type, "pair(int64,string)") != 0)
		rc = 5;
	else if (shmtab_tfind(t, SHMTAB_V_I64(7), &v) != 0)
		rc = 6;
	else if (v->type != SHMTAB_PAIR || v->pair.a->i64 != 1 ||
		 v->pair.b->s.len != 1 ||
		 memcmp(v->pair.b->s.p, "x", 1) != 0)
		rc = 7;
	free(v);
	shmtab_close(t);
	return rc;
}

static void test_schema_read_back(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_HASH,
					 .key_type = " int64",
					 .value_type = "pair( int64 , string )" };
	struct schema_child a = { .name = f->name };
	struct shmtab_schema got;
	pid_t pid;

	create_typed(f, &s);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_I64(7),
				     SHMTAB_V_PAIR(SHMTAB_V_I64(1),
						   SHMTAB_V_STR("x"))),
			 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(shmtab_get_schema(f->t, &got), 0);
	assert_int_equal(got.kind, SHMTAB_KIND_HASH);
	assert_string_equal(got.key_type, "int64");
	assert_string_equal(got.value_type, "pair(int64,string)");

	/* another handle, schema NULL */
	assert_int_equal(shmtab_open(f->name, O_RDWR, 0, NULL, &f->t2), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(shmtab_get_schema(f->t2, &got), 0);
	assert_int_equal(got.kind, SHMTAB_KIND_HASH);
	assert_string_equal(got.key_type, "int64");
	assert_string_equal(got.value_type, "pair(int64,string)");
	/* ...which also checks the types */
	assert_int_equal(shmtab_tadd(f->t2, SHMTAB_V_I64(8), SHMTAB_V_I64(1)),
			 -EINVAL);
	assert_int_equal(shmtab_add(f->t2, "12345678", 8, "abc", 3), -EINVAL);

	/* another process */
	pid = tu_fork(child_check_schema, &a);
	assert_true(pid > 0);
	assert_int_equal(tu_wait(pid, 60), 0);
}

static void test_array_schema_read_back(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_ARRAY,
					 .value_type = "pair(int32 ,string)",
					 .dflt = SHMTAB_V_PAIR(
						 SHMTAB_V_I32(-1),
						 SHMTAB_V_STR("none")) };
	struct shmtab_schema got;

	create_typed(f, &s);
	assert_int_equal(shmtab_open(f->name, O_RDONLY, 0, NULL, &f->t2), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(shmtab_get_schema(f->t2, &got), 0);
	assert_int_equal(got.kind, SHMTAB_KIND_ARRAY);
	assert_string_equal(got.value_type, "pair(int32,string)");
	if (got.key_type)
		assert_string_equal(got.key_type, "int64");
	assert_non_null(got.dflt);
	assert_value_str(got.dflt, "(i32:-1,s:\"none\")");
}

static void test_open_typed_match_and_mismatch(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema other_val = { .kind = SHMTAB_KIND_HASH,
						 .key_type = "int64",
						 .value_type = "int32" };
	const struct shmtab_schema other_key = { .kind = SHMTAB_KIND_HASH,
						 .key_type = "string",
						 .value_type = "string" };
	const struct shmtab_schema only_val = { .value_type = "bytes" };
	const struct shmtab_schema as_array = { .kind = SHMTAB_KIND_ARRAY };
	const struct shmtab_schema bad_name = { .key_type = "int65" };
	const struct shmtab_schema same = { .kind = SHMTAB_KIND_HASH,
					    .key_type = " int64 ",
					    .value_type = "string" };
	const struct shmtab_schema key_only = { .key_type = "int64" };
	const struct shmtab_schema any = { .kind = SHMTAB_KIND_ANY };
	struct shmtab_schema got;

	create_typed(f, &s_i64_str);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_I64(1), SHMTAB_V_STR("one")),
			 0);
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR, 0, NULL, &other_val,
					   &f->t2),
			 -EINVAL);
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR, 0, NULL, &other_key,
					   &f->t2),
			 -EINVAL);
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR, 0, NULL, &only_val,
					   &f->t2),
			 -EINVAL);
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR, 0, NULL, &as_array,
					   &f->t2),
			 -EINVAL);
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR, 0, NULL, &bad_name,
					   &f->t2),
			 -EINVAL);
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR | O_CREAT, 0600,
					   NULL, &other_val, &f->t2),
			 -EINVAL);
	assert_int_equal(shmtab_open_typed(f->name, CREATE_FLAGS, 0600, NULL,
					   &s_i64_str, &f->t2),
			 -EEXIST);
	f->t2 = NULL;
	/* nothing changed */
	assert_int_equal(shmtab_get_schema(f->t, &got), 0);
	assert_string_equal(got.key_type, "int64");
	assert_string_equal(got.value_type, "string");
	assert_int_equal(shmtab_length(f->t), 1);
	assert_tfind(f->t, SHMTAB_V_I64(1), "s:\"one\"");

	/* matching types (spelled differently) open */
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR, 0, NULL, &same,
					   &f->t2),
			 0);
	assert_tfind(f->t2, SHMTAB_V_I64(1), "s:\"one\"");
	shmtab_close(f->t2);
	f->t2 = NULL;
	/* NULL fields adopt what is stored */
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR | O_CREAT, 0600,
					   NULL, &key_only, &f->t2),
			 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(shmtab_get_schema(f->t2, &got), 0);
	assert_int_equal(got.kind, SHMTAB_KIND_HASH);
	assert_string_equal(got.key_type, "int64");
	assert_string_equal(got.value_type, "string");
	shmtab_close(f->t2);
	f->t2 = NULL;
	assert_int_equal(shmtab_open_typed(f->name, O_RDONLY, 0, NULL, &any,
					   &f->t2),
			 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(shmtab_get_schema(f->t2, &got), 0);
	assert_string_equal(got.key_type, "int64");
	assert_string_equal(got.value_type, "string");
	assert_tfind(f->t2, SHMTAB_V_I64(1), "s:\"one\"");
	assert_int_equal(shmtab_length(f->t2), 1);
}

static void test_open_typed_untyped_table(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema i64 = { .kind = SHMTAB_KIND_HASH,
					   .key_type = "int64" };
	const struct shmtab_schema vi64 = { .value_type = "int64" };
	const struct shmtab_schema bytes = { .kind = SHMTAB_KIND_HASH,
					     .key_type = "bytes",
					     .value_type = "bytes" };

	assert_int_equal(tu_create(f->name, NULL, &f->t), 0);
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR, 0, NULL, &i64,
					   &f->t2),
			 -EINVAL);
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR, 0, NULL, &vi64,
					   &f->t2),
			 -EINVAL);
	f->t2 = NULL;
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR, 0, NULL, &bytes,
					   &f->t2),
			 0);
	/* still untyped: anything goes */
	assert_int_equal(shmtab_add(f->t, "k", 1, "abc", 3), 0);
}

static void test_open_typed_bad_type_creates_nothing(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema bad_key = { .kind = SHMTAB_KIND_HASH,
					       .key_type = "pair(int64",
					       .value_type = "string" };
	const struct shmtab_schema bad_val = { .kind = SHMTAB_KIND_HASH,
					       .key_type = "string",
					       .value_type = "str" };
	const struct shmtab_schema bad_arr = { .kind = SHMTAB_KIND_ARRAY,
					       .value_type = "int63" };

	assert_int_equal(shmtab_open_typed(f->name, CREATE_FLAGS, 0600, NULL,
					   &bad_key, &f->t),
			 -EINVAL);
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR | O_CREAT, 0600,
					   NULL, &bad_val, &f->t),
			 -EINVAL);
	assert_int_equal(shmtab_open_typed(f->name, CREATE_FLAGS, 0600, NULL,
					   &bad_arr, &f->t),
			 -EINVAL);
	f->t = NULL;
	assert_int_equal(tu_object_exists(f->name), 0);
	assert_int_equal(shmtab_open(f->name, O_RDWR, 0, NULL, &f->t), -ENOENT);
	f->t = NULL;
}

/* A default of the wrong type is refused. */
static void test_open_typed_bad_default(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_ARRAY,
					 .value_type = "string",
					 .dflt = SHMTAB_V_I64(1) };

	assert_int_equal(shmtab_open_typed(f->name, CREATE_FLAGS, 0600, NULL,
					   &s, &f->t),
			 -EINVAL);
	f->t = NULL;
}

static void test_set_schema(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s1 = { .kind = SHMTAB_KIND_HASH,
					  .key_type = "string",
					  .value_type = "int64" };
	const struct shmtab_schema s2 = { .kind = SHMTAB_KIND_ARRAY,
					  .value_type = "int32",
					  .dflt = SHMTAB_V_I32(7) };
	const struct shmtab_schema s3 = { .kind = SHMTAB_KIND_ANY };
	static const uint8_t seven[] = { 7, 0, 0, 0 };
	struct shmtab_schema got;
	int64_t r = 0;
	void *v = NULL;
	size_t vlen = 0;

	assert_int_equal(tu_create(f->name, NULL, &f->t), 0);
	assert_int_equal(shmtab_open(f->name, O_RDWR, 0, NULL, &f->t2), 0);
	assert_int_equal(tu_add_str(f->t, "k", "v"), 0);
	assert_int_equal(shmtab_set_schema(f->t, &s1), -ENOTEMPTY);
	assert_int_equal(shmtab_get_schema(f->t2, &got), 0);
	assert_string_equal(got.value_type, "bytes");
	assert_int_equal(shmtab_remove(f->t, "k", 1), 0);
	assert_int_equal(shmtab_set_schema(f->t, &s1), 0);

	/* the other handle sees it */
	memset(&got, 0, sizeof(got));
	assert_int_equal(shmtab_get_schema(f->t2, &got), 0);
	assert_int_equal(got.kind, SHMTAB_KIND_HASH);
	assert_string_equal(got.key_type, "string");
	assert_string_equal(got.value_type, "int64");
	assert_int_equal(shmtab_add(f->t2, "c", 1, "abc", 3), -EINVAL);
	assert_int_equal(shmtab_int_add(f->t2, SHMTAB_V_STR("c"), 2, &r), 0);
	assert_int_equal(r, 2);
	assert_tfind(f->t, SHMTAB_V_STR("c"), "i64:2");

	/* now an array */
	assert_int_equal(shmtab_set_schema(f->t, &s2), -ENOTEMPTY);
	assert_int_equal(shmtab_tremove(f->t, SHMTAB_V_STR("c")), 0);
	assert_int_equal(shmtab_set_schema(f->t, &s2), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(shmtab_get_schema(f->t2, &got), 0);
	assert_int_equal(got.kind, SHMTAB_KIND_ARRAY);
	assert_string_equal(got.value_type, "int32");
	assert_non_null(got.dflt);
	assert_value_str(got.dflt, "i32:7");
	assert_int_equal(shmtab_array_length(f->t2), 0);
	assert_int_equal(shmtab_array_resize(f->t2, 2), 0);
	assert_int_equal(shmtab_array_length(f->t), 2);
	assert_int_equal(shmtab_array_get(f->t, 1, &v, &vlen), 0);
	assert_bytes(v, vlen, seven, 4);
	free(v);

	/* back to an untyped hash table */
	assert_int_equal(shmtab_array_resize(f->t, 0), 0);
	assert_int_equal(shmtab_set_schema(f->t, &s3), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(shmtab_get_schema(f->t2, &got), 0);
	assert_int_equal(got.kind, SHMTAB_KIND_HASH);
	assert_string_equal(got.key_type, "bytes");
	assert_string_equal(got.value_type, "bytes");
	assert_int_equal(shmtab_add(f->t2, "c", 1, "abc", 3), 0);

	/* a bad type name changes nothing */
	{
		const struct shmtab_schema bad = { .value_type = "int99" };

		assert_int_equal(shmtab_remove(f->t2, "c", 1), 0);
		assert_int_equal(shmtab_set_schema(f->t, &bad), -EINVAL);
		assert_int_equal(shmtab_get_schema(f->t, &got), 0);
		assert_string_equal(got.value_type, "bytes");
	}
}

static void test_trunc_keeps_schema(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_HASH,
					 .key_type = "string",
					 .value_type = "int64" };
	struct shmtab_schema got;

	create_typed(f, &s);
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_STR("a"), 1), 0);
	shmtab_close(f->t);
	f->t = NULL;
	assert_int_equal(shmtab_open(f->name, O_RDWR | O_TRUNC, 0, NULL, &f->t),
			 0);
	assert_int_equal(shmtab_length(f->t), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(shmtab_get_schema(f->t, &got), 0);
	assert_int_equal(got.kind, SHMTAB_KIND_HASH);
	assert_string_equal(got.key_type, "string");
	assert_string_equal(got.value_type, "int64");
	assert_int_equal(shmtab_add(f->t, "x", 1, "abc", 3), -EINVAL);
}

/* "A table created by this call (or emptied by O_TRUNC) records schema". */
static void test_open_typed_trunc_records_schema(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s2 = { .kind = SHMTAB_KIND_HASH,
					  .key_type = "string",
					  .value_type = "int32" };
	struct shmtab_schema got;

	create_typed(f, &s_i64_str);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_I64(1), SHMTAB_V_STR("one")),
			 0);
	shmtab_close(f->t);
	f->t = NULL;
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR | O_TRUNC, 0, NULL,
					   &s2, &f->t),
			 0);
	assert_int_equal(shmtab_length(f->t), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(shmtab_get_schema(f->t, &got), 0);
	assert_string_equal(got.key_type, "string");
	assert_string_equal(got.value_type, "int32");
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR("k"), SHMTAB_V_I32(4)),
			 0);
}

/* ------------------------------------------------------------------ */
/* Integer values                                                      */
/* ------------------------------------------------------------------ */

static void test_int_int64(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_HASH,
					 .key_type = "string",
					 .value_type = "int64" };
	int64_t v = 99, r = 99;
	uint8_t e[8];
	void *raw = NULL;
	size_t rlen = 0;

	create_typed(f, &s);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_STR("n"), &v), -ENOENT);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("n"), 5, &r), 0);
	assert_int_equal(r, 5);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_STR("n"), &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("n"), -12, &r), 0);
	assert_int_equal(r, -7);
	assert_int_equal(shmtab_length(f->t), 1);
	le64(e, (uint64_t)-7);
	assert_int_equal(shmtab_find(f->t, "n", 1, &raw, &rlen), 0);
	assert_bytes(raw, rlen, e, 8);
	free(raw);

	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_STR("n"), INT64_MAX - 1),
			 0);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("n"), 1, &r), 0);
	assert_true(r == INT64_MAX);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("n"), 1, &r),
			 -ERANGE);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_STR("n"), &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_STR("n"), INT64_MIN), 0);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("n"), -1, &r),
			 -ERANGE);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_STR("n"), &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("n"), INT64_MAX, &r),
			 0);
	assert_int_equal(r, -1);
	assert_tfind(f->t, SHMTAB_V_STR("n"), "i64:-1");

	/* set and add change the newest binding only */
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR("n"), SHMTAB_V_I64(10)),
			 0);
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_STR("n"), 20), 0);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("n"), 1, &r), 0);
	assert_int_equal(r, 21);
	assert_int_equal(shmtab_length(f->t), 2);
	assert_int_equal(shmtab_tremove(f->t, SHMTAB_V_STR("n")), 0);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_STR("n"), &v), 0);
	assert_int_equal(v, -1);
	/* int_set on an unbound key binds it */
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_STR("m"), 3), 0);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_STR("m"), &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(shmtab_length(f->t), 2);
	/* a key of the wrong type */
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_I64(1), &v), -EINVAL);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_I64(1), 1, &r), -EINVAL);
	assert_int_equal(shmtab_length(f->t), 2);
}

static void test_int_int32(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_HASH,
					 .key_type = "int32",
					 .value_type = "int32" };
	static const uint8_t e[] = { 0xff, 0xff, 0xff, 0x7f };
	int64_t v = 0, r = 0;
	void *raw = NULL;
	size_t rlen = 0;
	uint8_t k[4];

	create_typed(f, &s);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_I32(1), &v), -ENOENT);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_I32(1), -3, &r), 0);
	assert_int_equal(r, -3);
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_I32(1), INT32_MAX), 0);
	le32(k, 1);
	assert_int_equal(shmtab_find(f->t, k, 4, &raw, &rlen), 0);
	assert_bytes(raw, rlen, e, 4);
	free(raw);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_I32(1), 1, &r), -ERANGE);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_I32(1), &v), 0);
	assert_int_equal(v, INT32_MAX);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_I32(1), INT64_MAX, &r),
			 -ERANGE);
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_I32(1),
					(int64_t)INT32_MAX + 1),
			 -ERANGE);
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_I32(1),
					(int64_t)INT32_MIN - 1),
			 -ERANGE);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_I32(1), &v), 0);
	assert_int_equal(v, INT32_MAX);
	assert_tfind(f->t, SHMTAB_V_I32(1), "i32:2147483647");
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_I32(1), INT32_MIN), 0);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_I32(1), -1, &r), -ERANGE);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_I32(1), &v), 0);
	assert_int_equal(v, INT32_MIN);
	/* the largest step that fits */
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_I32(1),
					(int64_t)UINT32_MAX, &r),
			 0);
	assert_int_equal(r, INT32_MAX);
	/* int_add on an unbound key starting beyond the range */
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_I32(2),
					(int64_t)INT32_MAX + 1, &r),
			 -ERANGE);
	assert_int_equal(shmtab_tmem(f->t, SHMTAB_V_I32(2)), 0);
	assert_int_equal(shmtab_length(f->t), 1);
}

static void test_int_native(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_HASH,
					 .key_type = "int",
					 .value_type = "nativeint" };
	int64_t v = 0, r = 0;
	struct shmtab_schema got;

	create_typed(f, &s);
	assert_int_equal(shmtab_get_schema(f->t, &got), 0);
	assert_string_equal(got.key_type, "int");
	assert_string_equal(got.value_type, "int");
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_INT(-1), 40, &r), 0);
	assert_int_equal(r, 40);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_INT(-1), 2, &r), 0);
	assert_int_equal(r, 42);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_INT(-1), &v), 0);
	assert_int_equal(v, 42);
	assert_tfind(f->t, SHMTAB_V_INT(-1), "int:42");
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_INT(-1), LONG_MAX), 0);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_INT(-1), 1, &r), -ERANGE);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_INT(-1), &v), 0);
	assert_true(v == LONG_MAX);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_INT(3), SHMTAB_V_INT(-9)), 0);
	assert_tfind(f->t, SHMTAB_V_INT(3), "int:-9");
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_INT(3), SHMTAB_V_STR("x")),
			 -EINVAL);
}

static void test_int_on_non_integer_value(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_HASH,
					 .key_type = "string",
					 .value_type = "string" };
	int64_t v = 0, r = 0;

	create_typed(f, &s);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_STR("a"), SHMTAB_V_STR("1")),
			 0);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_STR("a"), &v), -EINVAL);
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_STR("a"), 1), -EINVAL);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("a"), 1, &r),
			 -EINVAL);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_STR("b"), 1, &r),
			 -EINVAL);
	assert_int_equal(shmtab_length(f->t), 1);
	assert_tfind(f->t, SHMTAB_V_STR("a"), "s:\"1\"");
}

struct mp_arg {
	const char *name;
	struct tu_barrier go;
};

#define MP_CHILDREN 4
#define MP_ADDS 2000

static int child_int_add(void *p)
{
	struct mp_arg *a = p;
	int64_t r = 0, last = 0;
	shmtab *t = NULL;
	int i;

	if (shmtab_open(a->name, O_RDWR, 0, NULL, &t) != 0)
		return 1;
	if (tu_barrier_wait(&a->go, 60000) != 0)
		return 2;
	for (i = 0; i < MP_ADDS; i++) {
		if (shmtab_int_add(t, SHMTAB_V_STR("hits"), 1, &r) != 0)
			return 3;
		if (r <= last || r > MP_CHILDREN * MP_ADDS)
			return 4;
		last = r;
	}
	return shmtab_close(t) == 0 ? 0 : 5;
}

static void test_int_add_multiprocess(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_HASH,
					 .key_type = "string",
					 .value_type = "int64" };
	struct mp_arg a = { .name = f->name };
	pid_t pid[MP_CHILDREN];
	int64_t v = 0;
	int i;

	create_typed(f, &s);
	assert_int_equal(tu_barrier_init(&a.go), 0);
	for (i = 0; i < MP_CHILDREN; i++) {
		pid[i] = tu_fork(child_int_add, &a);
		assert_true(pid[i] > 0);
	}
	for (i = 0; i < MP_CHILDREN; i++)
		tu_barrier_post(&a.go);
	for (i = 0; i < MP_CHILDREN; i++)
		assert_int_equal(tu_wait(pid[i], 150), 0);
	tu_barrier_destroy(&a.go);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_STR("hits"), &v), 0);
	assert_int_equal(v, MP_CHILDREN * MP_ADDS);
	assert_int_equal(shmtab_length(f->t), 1);
}

/* ------------------------------------------------------------------ */
/* Sparse arrays                                                       */
/* ------------------------------------------------------------------ */

static void assert_aget(shmtab *t, int64_t i, const void *e, size_t elen)
{
	void *v = NULL;
	size_t vlen = 12345;
	char *got, *want, *g = NULL, *w = NULL;

	assert_int_equal(shmtab_array_get(t, i, &v, &vlen), 0);
	assert_non_null(v);
	/* the index in both strings says which element differs */
	got = hexstr(v, vlen);
	want = hexstr(e, elen);
	assert_true(asprintf(&g, "[%" PRId64 "] %s", i, got) > 0);
	assert_true(asprintf(&w, "[%" PRId64 "] %s", i, want) > 0);
	assert_string_equal(g, w);
	free(g);
	free(w);
	free(got);
	free(want);
	free(v);
}

/* T67 */
static void test_t67_sparse_array(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_ARRAY,
					 .value_type = "string",
					 .dflt = SHMTAB_V_STR("d") };
	const struct shmtab_schema any = { .kind = SHMTAB_KIND_ANY };
	const struct shmtab_schema hash = { .kind = SHMTAB_KIND_HASH };
	const struct shmtab_schema other = { .kind = SHMTAB_KIND_ARRAY,
					     .value_type = "int64" };
	struct shmtab_schema got;
	void *v = NULL;
	size_t vlen;
	int64_t i;

	create_typed(f, &s);
	assert_int_equal(shmtab_array_length(f->t), 0);
	assert_int_equal(shmtab_array_get(f->t, 0, &v, &vlen), -EINVAL);
	assert_int_equal(shmtab_array_resize(f->t, 5), 0);
	assert_int_equal(shmtab_array_length(f->t), 5);
	for (i = 0; i < 5; i++)
		assert_aget(f->t, i, "d", 1);
	assert_int_equal(shmtab_array_set(f->t, 3, "x", 1), 0);
	assert_aget(f->t, 3, "x", 1);
	assert_aget(f->t, 2, "d", 1);
	assert_aget(f->t, 4, "d", 1);
	assert_int_equal(shmtab_array_get(f->t, 5, &v, &vlen), -EINVAL);
	assert_int_equal(shmtab_array_get(f->t, -1, &v, &vlen), -EINVAL);
	assert_int_equal(shmtab_array_set(f->t, -1, "y", 1), -EINVAL);
	assert_int_equal(shmtab_array_set(f->t, 5, "y", 1), -EINVAL);
	assert_int_equal(shmtab_array_set(f->t, INT64_MAX, "y", 1), -EINVAL);
	assert_int_equal(shmtab_array_length(f->t), 5);

	/* shrinking drops elements; growing back gives defaults */
	assert_int_equal(shmtab_array_resize(f->t, 2), 0);
	assert_int_equal(shmtab_array_length(f->t), 2);
	assert_int_equal(shmtab_array_get(f->t, 3, &v, &vlen), -EINVAL);
	assert_int_equal(shmtab_array_resize(f->t, 5), 0);
	assert_int_equal(shmtab_array_length(f->t), 5);
	assert_aget(f->t, 3, "d", 1);
	assert_int_equal(shmtab_array_resize(f->t, -1), -EINVAL);
	assert_int_equal(shmtab_array_length(f->t), 5);

	/* persists: another handle with schema NULL */
	assert_int_equal(shmtab_array_set(f->t, 4, "yy", 2), 0);
	assert_int_equal(shmtab_array_set(f->t, 0, "", 0), 0);
	reopen(f, &f->t);
	assert_int_equal(shmtab_array_length(f->t), 5);
	assert_aget(f->t, 4, "yy", 2);
	assert_aget(f->t, 3, "d", 1);
	assert_aget(f->t, 0, "", 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(shmtab_get_schema(f->t, &got), 0);
	assert_int_equal(got.kind, SHMTAB_KIND_ARRAY);
	assert_string_equal(got.value_type, "string");
	assert_non_null(got.dflt);
	assert_value_str(got.dflt, "s:\"d\"");

	/* kind ANY opens it as it is; HASH or another type does not */
	shmtab_close(f->t);
	f->t = NULL;
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR, 0, NULL, &hash,
					   &f->t),
			 -EINVAL);
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR, 0, NULL, &other,
					   &f->t),
			 -EINVAL);
	f->t = NULL;
	assert_int_equal(shmtab_open_typed(f->name, O_RDWR, 0, NULL, &any,
					   &f->t),
			 0);
	assert_int_equal(shmtab_array_length(f->t), 5);
	assert_aget(f->t, 4, "yy", 2);

	/* init: n elements, all unset */
	assert_int_equal(shmtab_array_init(f->t, 4), 0);
	assert_int_equal(shmtab_array_length(f->t), 4);
	for (i = 0; i < 4; i++)
		assert_aget(f->t, i, "d", 1);
	assert_int_equal(shmtab_array_get(f->t, 4, &v, &vlen), -EINVAL);
	assert_int_equal(shmtab_array_init(f->t, -1), -EINVAL);

	/* unset */
	assert_int_equal(shmtab_array_set(f->t, 1, "one", 3), 0);
	assert_aget(f->t, 1, "one", 3);
	assert_int_equal(shmtab_array_unset(f->t, 1), 0);
	assert_aget(f->t, 1, "d", 1);
	assert_int_equal(shmtab_array_unset(f->t, 2), 0);
	assert_aget(f->t, 2, "d", 1);
	assert_int_equal(shmtab_array_unset(f->t, 4), -EINVAL);
	assert_int_equal(shmtab_array_unset(f->t, -1), -EINVAL);

	/* a second handle sees the changes */
	assert_int_equal(shmtab_open(f->name, O_RDONLY, 0, NULL, &f->t2), 0);
	assert_int_equal(shmtab_array_set(f->t, 2, "two", 3), 0);
	assert_aget(f->t2, 2, "two", 3);
	assert_int_equal(shmtab_array_resize(f->t, 9), 0);
	assert_int_equal(shmtab_array_length(f->t2), 9);
	assert_aget(f->t2, 8, "d", 1);
}

/* An array through the typed calls. */
static void test_array_typed_calls(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_ARRAY,
					 .value_type = "string",
					 .dflt = SHMTAB_V_STR("d") };
	struct shmtab_value *v = NULL;

	create_typed(f, &s);
	assert_int_equal(shmtab_array_resize(f->t, 3), 0);
	assert_tfind(f->t, SHMTAB_V_I64(1), "s:\"d\"");
	assert_int_equal(shmtab_treplace(f->t, SHMTAB_V_I64(1),
					 SHMTAB_V_STR("one")),
			 0);
	assert_tfind(f->t, SHMTAB_V_I64(1), "s:\"one\"");
	assert_aget(f->t, 1, "one", 3);
	assert_int_equal(shmtab_treplace(f->t, SHMTAB_V_I64(1),
					 SHMTAB_V_STR("uno")),
			 0);
	assert_tfind(f->t, SHMTAB_V_I64(1), "s:\"uno\"");
	assert_int_equal(shmtab_tremove(f->t, SHMTAB_V_I64(1)), 0);
	assert_tfind(f->t, SHMTAB_V_I64(1), "s:\"d\"");
	assert_aget(f->t, 1, "d", 1);
	assert_int_equal(shmtab_tadd(f->t, SHMTAB_V_I64(0), SHMTAB_V_STR("z")),
			 -EINVAL);
	assert_aget(f->t, 0, "d", 1);
	/* outside [0, length) */
	assert_int_equal(shmtab_tfind(f->t, SHMTAB_V_I64(3), &v), -EINVAL);
	assert_int_equal(shmtab_tfind(f->t, SHMTAB_V_I64(-1), &v), -EINVAL);
	assert_int_equal(shmtab_treplace(f->t, SHMTAB_V_I64(3),
					 SHMTAB_V_STR("x")),
			 -EINVAL);
	assert_int_equal(shmtab_tremove(f->t, SHMTAB_V_I64(3)), -EINVAL);
	assert_int_equal(shmtab_array_length(f->t), 3);
	/* wrong types */
	assert_int_equal(shmtab_treplace(f->t, SHMTAB_V_I64(2), SHMTAB_V_I64(5)),
			 -EINVAL);
	assert_int_equal(shmtab_tfind(f->t, SHMTAB_V_STR("1"), &v), -EINVAL);
	assert_aget(f->t, 2, "d", 1);
	/* array_set/unset and tfind agree */
	assert_int_equal(shmtab_array_set(f->t, 2, "two", 3), 0);
	assert_tfind(f->t, SHMTAB_V_I64(2), "s:\"two\"");
	assert_int_equal(shmtab_array_unset(f->t, 2), 0);
	assert_tfind(f->t, SHMTAB_V_I64(2), "s:\"d\"");
}

/* Values stored in an array must be encodings of its type. */
static void test_array_checks_encoding(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema s = { .kind = SHMTAB_KIND_ARRAY,
					 .value_type = "int64",
					 .dflt = SHMTAB_V_I64(100) };
	uint8_t e[8];
	int64_t v = 0, r = 0;

	create_typed(f, &s);
	assert_int_equal(shmtab_array_resize(f->t, 4), 0);
	assert_int_equal(shmtab_array_set(f->t, 0, "abc", 3), -EINVAL);
	le64(e, 100);
	assert_aget(f->t, 0, e, 8);
	le64(e, (uint64_t)-5);
	assert_int_equal(shmtab_array_set(f->t, 0, e, 8), 0);
	assert_aget(f->t, 0, e, 8);
	assert_tfind(f->t, SHMTAB_V_I64(0), "i64:-5");

	/* int_add on an element starts from the default */
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_I64(2), 5, &r), 0);
	assert_int_equal(r, 105);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_I64(2), &v), 0);
	assert_int_equal(v, 105);
	le64(e, 105);
	assert_aget(f->t, 2, e, 8);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_I64(3), -100, &r), 0);
	assert_int_equal(r, 0);
	assert_int_equal(shmtab_int_add(f->t, SHMTAB_V_I64(4), 1, &r), -EINVAL);
	assert_int_equal(shmtab_int_set(f->t, SHMTAB_V_I64(1), 77), 0);
	assert_tfind(f->t, SHMTAB_V_I64(1), "i64:77");
	/* an unset element reads the default through int_get */
	assert_int_equal(shmtab_array_unset(f->t, 1), 0);
	assert_int_equal(shmtab_int_get(f->t, SHMTAB_V_I64(1), &v), 0);
	assert_int_equal(v, 100);
}

/* Without a default an element reads as the type's zero. */
static void test_array_zero_default(void **state)
{
	struct fx *f = *state;
	const struct shmtab_schema si = { .kind = SHMTAB_KIND_ARRAY,
					  .value_type = "int64" };
	const struct shmtab_schema ss = { .kind = SHMTAB_KIND_ARRAY,
					  .value_type = "string" };
	const struct shmtab_schema sp = { .kind = SHMTAB_KIND_ARRAY,
					  .value_type = "pair(int32,string)" };
	static const uint8_t z8[8];
	struct wbuf w = { .n = 0 };

	create_typed(f, &si);
	assert_int_equal(shmtab_array_resize(f->t, 2), 0);
	assert_aget(f->t, 1, z8, 8);
	assert_tfind(f->t, SHMTAB_V_I64(0), "i64:0");
	shmtab_close(f->t);
	f->t = NULL;
	tu_remove(f->name);

	create_typed(f, &ss);
	assert_int_equal(shmtab_array_resize(f->t, 2), 0);
	assert_aget(f->t, 0, "", 0);
	assert_tfind(f->t, SHMTAB_V_I64(1), "s:\"\"");
	shmtab_close(f->t);
	f->t = NULL;
	tu_remove(f->name);

	create_typed(f, &sp);
	assert_int_equal(shmtab_array_resize(f->t, 1), 0);
	w_num(&w, 1);
	w_num(&w, 0);
	w_num(&w, 0);
	assert_aget(f->t, 0, w.b, w.n);
	assert_tfind(f->t, SHMTAB_V_I64(0), "(i32:0,s:\"\")");
}

static void test_array_calls_on_hash_table(void **state)
{
	struct fx *f = *state;
	void *v = NULL;
	size_t vlen;

	create_typed(f, &s_i64_str);
	assert_int_equal(shmtab_array_length(f->t), -EINVAL);
	assert_int_equal(shmtab_array_get(f->t, 0, &v, &vlen), -EINVAL);
	assert_int_equal(shmtab_array_set(f->t, 0, "x", 1), -EINVAL);
	assert_int_equal(shmtab_array_unset(f->t, 0), -EINVAL);
	assert_int_equal(shmtab_array_resize(f->t, 3), -EINVAL);
	assert_int_equal(shmtab_array_init(f->t, 3), -EINVAL);
	assert_int_equal(shmtab_length(f->t), 0);
}

#define T(fn, backend)                                                      \
	cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, fx_teardown, \
						 (void *)(backend))
#define BOTH(fn) T(fn, "posix"), T(fn, "file")

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* the encoding */
		cmocka_unit_test(test_t64_int32),
		cmocka_unit_test(test_t64_int64),
		cmocka_unit_test(test_t64_pair_int32_string),
		cmocka_unit_test(test_t64_pair_string_int64),
		cmocka_unit_test(test_encode_top_level_raw),
		cmocka_unit_test(test_encode_nested_pair),
		cmocka_unit_test(test_encode_bad_value),
		cmocka_unit_test(test_t65_nested_string_overrun),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_bad_type_name_is_einval),
		cmocka_unit_test(test_type_name_canonical),
		cmocka_unit_test(test_type_name_erange),
		cmocka_unit_test(test_roundtrip_encode_decode),
		cmocka_unit_test(test_roundtrip_format_parse),
		cmocka_unit_test(test_format_exact),
		cmocka_unit_test(test_parse_exact),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_format_malformed),
		/* typed hash tables */
		BOTH(test_t66_typed_key_collisions),
		T(test_typed_raw_consistency, "posix"),
		T(test_typed_rejects_bad_raw, "posix"),
		T(test_typed_rejects_wrong_type, "posix"),
		T(test_typed_stack_semantics, "file"),
		BOTH(test_titer_decodes),
		T(test_titer_untyped, "posix"),
		T(test_typed_bytes_types, "file"),
		/* schemas */
		BOTH(test_schema_read_back),
		T(test_array_schema_read_back, "file"),
		BOTH(test_open_typed_match_and_mismatch),
		T(test_open_typed_untyped_table, "posix"),
		BOTH(test_open_typed_bad_type_creates_nothing),
		T(test_open_typed_bad_default, "posix"),
		BOTH(test_set_schema),
		BOTH(test_trunc_keeps_schema),
		T(test_open_typed_trunc_records_schema, "posix"),
		/* integers */
		T(test_int_int64, "posix"),
		T(test_int_int32, "file"),
		T(test_int_native, "posix"),
		T(test_int_on_non_integer_value, "posix"),
		BOTH(test_int_add_multiprocess),
		/* arrays */
		BOTH(test_t67_sparse_array),
		T(test_array_typed_calls, "posix"),
		T(test_array_checks_encoding, "file"),
		T(test_array_zero_default, "posix"),
		T(test_array_calls_on_hash_table, "posix"),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
