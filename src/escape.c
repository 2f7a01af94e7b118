/* SPDX-License-Identifier: MIT */
/*
 * escape.c - keys as file names and back
 *
 * A key is any byte string; a file name is a non-empty string of bytes
 * other than '/' and NUL, not "." or "..", at most 255 bytes.  The codec:
 *
 *  - The bytes '/' (0x2f), '%' (0x25), 0x00-0x1f and 0x7f become "%XX", two
 *    upper-case hex digits.  Every other byte stands for itself, including
 *    the bytes >= 0x80, so that UTF-8 keys stay readable.
 *  - The key "." is "%2E", the key ".." is "%2E%2E" (the only places where
 *    a '.' is escaped).
 *  - The empty key is "%" alone (no other key encodes to it: a '%' is
 *    always followed by two hex digits otherwise).
 *
 * Only canonical names decode.  A '%' not followed by two upper-case hex
 * digits, an escape of a byte that needs none ("%41", "%2E" outside the two
 * names above, "%80"), a raw byte that needs an escape (a control byte,
 * 0x7f), and the names "", "." and ".." are not the escape of any key:
 * -EINVAL.  Decoding and encoding are therefore inverse bijections between
 * keys and accepted names, so the kernel can never cache two names for one
 * key.  Names containing an invalid escape (".%stats") are free for
 * shmtabfs's own metadata.
 *
 * A key whose escape is longer than 255 bytes gets a name of another form,
 * PREFIX%%DIGEST (escape.h): "%%" is such an invalid escape, so these names
 * never collide with escapes; the digest (SHA-256, its first 128 bits)
 * makes two long keys with the same PREFIX different names, also keys a
 * hostile process chose.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

static const char hexdigits[] = "0123456789ABCDEF";

static bool byte_needs_escape(uint8_t c)
{
	return c == '/' || c == '%' || c < 0x20 || c == 0x7f;
}

/* Byte c at out[j], escaped if it must be; the index after it. */
static size_t put_escaped(char *out, size_t j, uint8_t c)
{
	if (!byte_needs_escape(c)) {
		out[j] = (char)c;
		return j + 1;
	}
	out[j] = '%';
	out[j + 1] = hexdigits[c >> 4];
	out[j + 2] = hexdigits[c & 15];
	return j + 3;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;			/* lower case is not canonical */
}

/* The special names: the empty key, "." and "..". */
static const char *escape_special(const uint8_t *k, size_t klen)
{
	if (klen == 0)
		return "%";
	if (klen == 1 && k[0] == '.')
		return "%2E";
	if (klen == 2 && k[0] == '.' && k[1] == '.')
		return "%2E%2E";
	return NULL;
}

size_t shmtab_escaped_len(const void *key, size_t klen)
{
	const uint8_t *k = key;
	const char *s = escape_special(k, klen);
	size_t n = 0;

	if (s)
		return strlen(s);
	for (size_t i = 0; i < klen; i++)
		n += byte_needs_escape(k[i]) ? 3 : 1;
	return n;
}

static ssize_t escape_to(const uint8_t *k, size_t klen, char *out,
			 size_t cap, size_t limit)
{
	const char *s;
	size_t n, j = 0;

	if (!k && klen)
		return -EINVAL;
	n = shmtab_escaped_len(k, klen);
	if (n > limit)
		return -ENAMETOOLONG;
	if (!out || cap < n + 1)
		return -ENOSPC;
	s = escape_special(k, klen);
	if (s) {
		memcpy(out, s, n + 1);
		return (ssize_t)n;
	}
	for (size_t i = 0; i < klen; i++)
		j = put_escaped(out, j, k[i]);
	out[j] = '\0';
	return (ssize_t)j;
}

ssize_t shmtab_escape(const void *key, size_t klen, char *out, size_t cap)
{
	return escape_to(key, klen, out, cap, SHMTAB_ESCAPE_NAME_MAX);
}

ssize_t shmtab_escape_long(const void *key, size_t klen, char *out,
			   size_t cap)
{
	return escape_to(key, klen, out, cap, SIZE_MAX - 1);
}

/* --- names of long keys ------------------------------------------------ */

/* SHA-256 (FIPS 180-4), one shot. */
static const uint32_t sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror32(uint32_t x, unsigned int n)
{
	return x >> n | x << (32 - n);
}

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a[8], t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++)
		w[i] = w[i - 16] + w[i - 7] +
		       (ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^
			w[i - 15] >> 3) +
		       (ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^
			w[i - 2] >> 10);
	memcpy(a, h, sizeof(a));
	for (i = 0; i < 64; i++) {
		t1 = a[7] +
		     (ror32(a[4], 6) ^ ror32(a[4], 11) ^ ror32(a[4], 25)) +
		     ((a[4] & a[5]) ^ (~a[4] & a[6])) + sha_k[i] + w[i];
		t2 = (ror32(a[0], 2) ^ ror32(a[0], 13) ^ ror32(a[0], 22)) +
		     ((a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]));
		memmove(a + 1, a, 7 * sizeof(a[0]));
		a[4] += t1;
		a[0] = t1 + t2;
	}
	for (i = 0; i < 8; i++)
		h[i] += a[i];
}

static void sha256(const uint8_t *p, size_t len, uint8_t out[32])
{
	uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	uint8_t last[128];
	size_t n = len, rest, i;
	uint64_t bits = (uint64_t)len * 8;

	for (; n >= 64; p += 64, n -= 64)
		sha256_block(h, p);
	memset(last, 0, sizeof(last));
	memcpy(last, p, n);
	last[n] = 0x80;
	rest = n + 1 + 8 <= 64 ? 64 : 128;
	for (i = 0; i < 8; i++)
		last[rest - 1 - i] = (uint8_t)(bits >> (8 * i));
	sha256_block(h, last);
	if (rest == 128)
		sha256_block(h, last + 64);
	for (i = 0; i < 32; i++)
		out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

#define LONG_PREFIX_MAX                                              \
	(SHMTAB_ESCAPE_NAME_MAX - (sizeof(SHMTAB_NAME_MARKER) - 1) - \
	 SHMTAB_NAME_DIGEST_HEX)

/* The length of the key's escape that a long name keeps: the longest
 * start within LONG_PREFIX_MAX bytes that ends at a key byte that begins
 * a UTF-8 character (or is no part of one). */
static size_t long_prefix_len(const uint8_t *k, size_t klen)
{
	size_t i, n = 0, w, cut = 0;

	for (i = 0; i < klen; i++) {
		w = byte_needs_escape(k[i]) ? 3 : 1;
		if (n + w > LONG_PREFIX_MAX)
			break;
		n += w;
		if (i + 1 < klen && (k[i + 1] & 0xc0) != 0x80)
			cut = n;
	}
	/* no boundary at all (a run of continuation bytes): cut anyway */
	if (i < klen && (k[i] & 0xc0) != 0x80)
		cut = n;
	return cut ? cut : n;
}

static ssize_t long_name(const uint8_t *k, size_t klen, char *out, size_t cap)
{
	size_t plen = long_prefix_len(k, klen), i, j = 0;
	size_t n =
		plen + sizeof(SHMTAB_NAME_MARKER) - 1 + SHMTAB_NAME_DIGEST_HEX;
	uint8_t d[32];

	if (!out || cap < n + 1)
		return -ENOSPC;
	for (i = 0; j < plen; i++)
		j = put_escaped(out, j, k[i]);
	memcpy(out + j, SHMTAB_NAME_MARKER, sizeof(SHMTAB_NAME_MARKER) - 1);
	j += sizeof(SHMTAB_NAME_MARKER) - 1;
	sha256(k, klen, d);
	for (i = 0; i < SHMTAB_NAME_DIGEST_HEX; i++)
		out[j++] =
			"0123456789abcdef"[(d[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[j] = '\0';
	return (ssize_t)j;
}

ssize_t shmtab_file_name(const void *key, size_t klen, char *out, size_t cap)
{
	if (!key && klen)
		return -EINVAL;
	if (shmtab_escaped_len(key, klen) <= SHMTAB_ESCAPE_NAME_MAX)
		return shmtab_escape(key, klen, out, cap);
	return long_name(key, klen, out, cap);
}

int shmtab_file_name_is_long(const char *name)
{
	size_t len = name ? strlen(name) : 0, mlen, plen, i;
	char prefix[SHMTAB_ESCAPE_NAME_MAX + 1];

	mlen = sizeof(SHMTAB_NAME_MARKER) - 1;
	if (len > SHMTAB_ESCAPE_NAME_MAX ||
	    len < mlen + SHMTAB_NAME_DIGEST_HEX + 1)
		return 0;
	plen = len - mlen - SHMTAB_NAME_DIGEST_HEX;
	if (plen > LONG_PREFIX_MAX ||
	    memcmp(name + plen, SHMTAB_NAME_MARKER, mlen) != 0)
		return 0;
	for (i = plen + mlen; i < len; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		      (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	memcpy(prefix, name, plen);
	prefix[plen] = '\0';
	return shmtab_unescape(prefix, NULL, 0) != -EINVAL;
}

int shmtab_file_name_match(const char *name, const void *key, size_t klen)
{
	char buf[SHMTAB_ESCAPE_NAME_MAX + 1];
	size_t plen;
	ssize_t n;

	if (!name || (!key && klen))
		return 0;
	if (shmtab_escaped_len(key, klen) <= SHMTAB_ESCAPE_NAME_MAX) {
		if (shmtab_escape(key, klen, buf, sizeof(buf)) < 0)
			return 0;
		return strcmp(buf, name) == 0;
	}
	/* the name's first bytes first: the digest only for the few keys
	 * they leave */
	plen = long_prefix_len(key, klen);
	n = escape_to(key, 16, buf, sizeof(buf), SIZE_MAX - 1);
	if (n < 0)
		return 0;
	if ((size_t)n > plen)
		n = (ssize_t)plen;
	if (strncmp(buf, name, (size_t)n) != 0)
		return 0;
	if (long_name(key, klen, buf, sizeof(buf)) < 0)
		return 0;
	return strcmp(buf, name) == 0;
}

/*
 * The bytes a key is named by: the key itself, or with key_type its text
 * without the final newline, in *fmt (the caller frees it).  -1 for a key
 * that is not of the type (it has no name).
 */
static int key_text(const char *key_type, const void *key, size_t klen,
		    char **fmt, const void **text, size_t *tlen)
{
	*fmt = NULL;
	*text = key;
	*tlen = klen;
	if (!key_type)
		return 0;
	if (shmtab_format(key_type, key, klen, fmt, tlen) < 0)
		return -1;
	if (*tlen && (*fmt)[*tlen - 1] == '\n')
		(*tlen)--;
	*text = *fmt;
	return 0;
}

struct long_find {
	const char *key_type, *name;
	void *key;
	size_t klen;
	int err;
};

/* Whether key is the one named c->name; 1 stops the walk. */
static int long_find_key(const void *key, size_t klen, void *ctx)
{
	struct long_find *c = ctx;
	const void *text;
	char *fmt;
	size_t tlen;
	int match;

	if (key_text(c->key_type, key, klen, &fmt, &text, &tlen) < 0)
		return 0;
	match = shmtab_file_name_match(c->name, text, tlen);
	free(fmt);
	if (!match)
		return 0;
	c->key = malloc(klen ? klen : 1);
	if (c->key) {
		memcpy(c->key, key, klen);
		c->klen = klen;
		c->err = 0;
	} else {
		c->err = -ENOMEM;
	}
	return 1;
}

struct long_walk {
	const char *key_type;
	shmtab_long_name_fn *fn;
	void *ctx;
};

/* The long name of one key, if it has one, to c->fn. */
static int long_walk_key(const void *key, size_t klen, void *ctx)
{
	struct long_walk *c = ctx;
	char name[SHMTAB_ESCAPE_NAME_MAX + 1];
	const void *text;
	char *fmt;
	size_t tlen;
	int r = 0;

	if (key_text(c->key_type, key, klen, &fmt, &text, &tlen) < 0)
		return 0;
	if (shmtab_escaped_len(text, tlen) > SHMTAB_ESCAPE_NAME_MAX &&
	    long_name(text, tlen, name, sizeof(name)) > 0)
		r = c->fn(name, key, klen, c->ctx);
	free(fmt);
	return r;
}

int shmtab_long_names(shmtab *t, const char *key_type,
		      shmtab_long_name_fn *fn, void *ctx)
{
	struct long_walk c = { key_type, fn, ctx };

	return shmtab_iter_keys(t, long_walk_key, &c);
}

int shmtab_long_name_find(shmtab *t, const char *key_type, const char *name,
			  void **key, size_t *klen)
{
	struct long_find c = { key_type, name, NULL, 0, -ENOENT };
	int err = shmtab_iter_keys(t, long_find_key, &c);

	if (err < 0) {
		free(c.key);
		return err;
	}
	if (c.err == 0) {
		*key = c.key;
		*klen = c.klen;
	}
	return c.err;
}

ssize_t shmtab_unescape(const char *name, void *out, size_t cap)
{
	uint8_t *o = out;
	size_t n = 0;

	if (!name)
		return -EINVAL;
	if (!strcmp(name, "%"))
		return 0;
	if (!strcmp(name, "%2E") || !strcmp(name, "%2E%2E")) {
		n = name[3] ? 2 : 1;
		if (cap < n)
			return -ENOSPC;
		memset(o, '.', n);
		return (ssize_t)n;
	}
	if (!name[0] || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	/* validate everything first: -EINVAL wins over -ENOSPC */
	for (const char *p = name; *p; n++) {
		uint8_t c = (uint8_t)*p;

		if (c == '%') {
			int hi = hex_value(p[1]);
			int lo = hi < 0 ? -1 : hex_value(p[2]);

			if (lo < 0)
				return -EINVAL;
			c = (uint8_t)(hi << 4 | lo);
			if (!byte_needs_escape(c))
				return -EINVAL;
			p += 3;
		} else if (byte_needs_escape(c)) {
			return -EINVAL;
		} else {
			p++;
		}
		if (n < cap)
			o[n] = c;
	}
	return n > cap ? -ENOSPC : (ssize_t)n;
}
