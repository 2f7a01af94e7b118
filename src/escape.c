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
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "escape.h"

static const char hexdigits[] = "0123456789ABCDEF";

static bool byte_needs_escape(uint8_t c)
{
	return c == '/' || c == '%' || c < 0x20 || c == 0x7f;
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
	for (size_t i = 0; i < klen; i++) {
		if (byte_needs_escape(k[i])) {
			out[j++] = '%';
			out[j++] = hexdigits[k[i] >> 4];
			out[j++] = hexdigits[k[i] & 15];
		} else {
			out[j++] = (char)k[i];
		}
	}
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
