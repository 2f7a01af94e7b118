/* SPDX-License-Identifier: MIT */
/*
 * fs-typed.c - typed tables in the file view: names, text values, arrays
 *
 * A typed table (shmtab.h, "Typed tables") shows text where an untyped one
 * shows bytes:
 *  - a key file holds shmtab_format's text of the newest value, and what is
 *    written to it is parsed with shmtab_parse when it is committed
 *    (fs-file.c); a value of type string or bytes is its own text;
 *  - a key's file name is the key's text without the newline that
 *    shmtab_format ends an integer or a pair with, escaped as every name is
 *    (escape.h); for a key type of string or bytes that is the untyped name.
 *    A name stands for a key only when it is the canonical text of one, so
 *    that one key has one name: for an int key "05", "+5" and "-0" name
 *    nothing (re-formatting the parsed key must give the name back);
 *  - an array's names are its indexes 0 .. length-1 in decimal; every one
 *    of them exists, and an index never set reads as the array's default.
 * An untyped table (a hash table of bytes to bytes) takes none of these
 * paths: its names are escaped keys and its values bytes, as before.
 *
 * Integer values also take deltas: a file opened with O_APPEND adds what is
 * appended (one decimal integer a line) with shmtab_int_add, atomically
 * with respect to every other process.
 *
 * The schema is read with shmtab_get_schema for every request (one load of
 * a generation word when it did not change), never cached across requests:
 * another process may retype an empty table at any time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "fs.h"

static bool type_plain(const char *name)
{
	return !strcmp(name, "bytes") || !strcmp(name, "string");
}

static bool type_int(const char *name)
{
	return !strcmp(name, "int32") || !strcmp(name, "int64") ||
	       !strcmp(name, "int");
}

static int copy_name(char *dst, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (!src || n >= FS_TYPE_NAME_MAX)
		return -EBADMSG;
	memcpy(dst, src, n + 1);
	return 0;
}

int fs_types_get(shmtab *t, struct fs_types *ty)
{
	struct shmtab_schema s;
	int err = shmtab_get_schema(t, &s);

	if (err < 0)
		return err;
	err = copy_name(ty->ktype, s.key_type);
	if (err == 0)
		err = copy_name(ty->vtype, s.value_type);
	if (err < 0)
		return err;
	ty->array = s.kind == SHMTAB_KIND_ARRAY;
	ty->kplain = type_plain(ty->ktype);
	ty->vplain = type_plain(ty->vtype);
	ty->vint = type_int(ty->vtype);
	ty->typed = ty->array || strcmp(ty->ktype, "bytes") != 0 ||
		    strcmp(ty->vtype, "bytes") != 0;
	return 0;
}

/* An array key is the index as 8 bytes, little-endian (the library's
 * encoding of an int64; the library supports little-endian hosts only). */
int64_t fs_key_index(const void *key, size_t klen)
{
	int64_t i;

	if (klen != 8)
		return -1;
	memcpy(&i, key, 8);
	return i;
}

/* "0", or digits without a leading zero, within int64. */
static int name_index(const char *name, unsigned char *key, size_t cap,
		      size_t *klen)
{
	int64_t i = 0;
	const char *p;

	if (!*name || (name[0] == '0' && name[1]))
		return -ENOENT;
	for (p = name; *p; p++) {
		if (*p < '0' || *p > '9')
			return -ENOENT;
		if (i > (INT64_MAX - (*p - '0')) / 10)
			return -ENOENT;
		i = i * 10 + (*p - '0');
	}
	if (cap < 8)
		return -ENAMETOOLONG;
	memcpy(key, &i, 8);
	*klen = 8;
	return 0;
}

/* Drop the newline shmtab_format ends an integer or a pair with. */
static size_t strip_newline(const char *text, size_t len)
{
	return len && text[len - 1] == '\n' ? len - 1 : len;
}

/* The key a name stands for; -ENOENT when it is not the canonical name of
 * any key of the table's key type, or a long key's name (escape.h) that no
 * key of the table has; -ENAMETOOLONG for a name over 255 bytes (the
 * kernel passes names up to 1024 bytes). */
int fs_name_key(struct fs_table *tb, const struct fs_types *ty,
		const char *name, unsigned char *key, size_t cap, size_t *klen)
{
	char text[SHMTAB_ESCAPE_NAME_MAX + 1];
	char *back = NULL;
	void *enc = NULL;
	size_t elen, blen;
	ssize_t n;
	int err;

	if (strlen(name) > SHMTAB_ESCAPE_NAME_MAX)
		return -ENAMETOOLONG;
	if (ty->array)
		return name_index(name, key, cap, klen);
	if (shmtab_file_name_is_long(name))
		return fs_longs_find(tb, ty, name, key, cap, klen);
	if (!ty->typed || ty->kplain) {
		n = shmtab_unescape(name, key, cap);
		if (n < 0)
			return n == -EINVAL ? -ENOENT : (int)n;
		*klen = (size_t)n;
		return 0;
	}
	n = shmtab_unescape(name, text, sizeof(text));
	if (n < 0)
		return n == -EINVAL || n == -ENOSPC ? -ENOENT : (int)n;
	err = shmtab_parse(ty->ktype, text, (size_t)n, &enc, &elen);
	if (err == -EINVAL)
		return -ENOENT;
	if (err < 0)
		return err;
	err = shmtab_format(ty->ktype, enc, elen, &back, &blen);
	if (err == 0) {
		blen = strip_newline(back, blen);
		if (blen != (size_t)n || memcmp(back, text, blen) != 0)
			err = -ENOENT;		/* not canonical */
		else if (elen > cap)
			err = -ENAMETOOLONG;
		else
			memcpy(key, enc, elen);
	}
	if (err == 0)
		*klen = elen;
	free(back);
	free(enc);
	return err;
}

/* The file name of a key (a long key's name when its escape is longer than
 * 255 bytes): its length, or a negative errno (not a valid key of the
 * table). */
ssize_t fs_key_name(const struct fs_types *ty, const void *key, size_t klen,
		    char *name, size_t cap)
{
	char *text;
	size_t tlen;
	int64_t i;
	ssize_t n;
	int err;

	if (ty->array) {
		i = fs_key_index(key, klen);
		if (i < 0)
			return -EINVAL;
		n = snprintf(name, cap, "%" PRId64, i);
		return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
	}
	if (!ty->typed || ty->kplain)
		return shmtab_file_name(key, klen, name, cap);
	err = shmtab_format(ty->ktype, key, klen, &text, &tlen);
	if (err < 0)
		return err;
	n = shmtab_file_name(text, strip_newline(text, tlen), name, cap);
	free(text);
	return n;
}

/* 1 when the key has a file, 0 when not, or a negative errno. */
int fs_key_exists(shmtab *t, const struct fs_types *ty, const void *key,
		  size_t klen)
{
	long long n;
	int64_t i;

	if (!ty->array)
		return shmtab_mem(t, key, klen);
	n = shmtab_array_length(t);
	if (n < 0)
		return (int)n;
	i = fs_key_index(key, klen);
	return i >= 0 && i < n;
}

/* -EINVAL of an array call: -ENOENT when the index is (now) outside. */
static int array_err(shmtab *t, int64_t i, int err)
{
	long long n;

	if (err != -EINVAL)
		return err;
	n = shmtab_array_length(t);
	if (n < 0)
		return (int)n;
	return i >= n ? -ENOENT : err;
}

/* The stored value (an unset element: the default); *val malloc'd. */
static int value_raw(shmtab *t, const struct fs_types *ty, const void *key,
		     size_t klen, void **val, size_t *vlen)
{
	int64_t i;

	if (!ty->array)
		return shmtab_find(t, key, klen, val, vlen);
	i = fs_key_index(key, klen);
	if (i < 0)
		return -ENOENT;
	return array_err(t, i, shmtab_array_get(t, i, val, vlen));
}

/* The text of a stored value; *text malloc'd. */
int fs_value_text(const struct fs_types *ty, const void *raw, size_t rlen,
		  char **text, size_t *tlen)
{
	if (!ty->typed || ty->vplain) {
		*text = malloc(rlen ? rlen : 1);
		if (!*text)
			return -ENOMEM;
		if (rlen)
			memcpy(*text, raw, rlen);
		*tlen = rlen;
		return 0;
	}
	return shmtab_format(ty->vtype, raw, rlen, text, tlen);
}

/* What the key's file holds: the bytes, or the text of a typed value;
 * *val malloc'd (never NULL).  -ENOENT when the key has no file. */
int fs_value_get(shmtab *t, const struct fs_types *ty, const void *key,
		 size_t klen, void **val, size_t *vlen)
{
	void *raw = NULL;
	char *text;
	size_t rlen = 0, tlen;
	int err = value_raw(t, ty, key, klen, &raw, &rlen);

	if (err < 0)
		return err;
	if (!ty->typed || ty->vplain) {
		*val = raw;
		*vlen = rlen;
		return 0;
	}
	err = shmtab_format(ty->vtype, raw, rlen, &text, &tlen);
	free(raw);
	if (err < 0)
		return err;
	*val = text;
	*vlen = tlen;
	return 0;
}

/* The length of what fs_value_get gives, without copying bytes values. */
int fs_value_size(shmtab *t, const struct fs_types *ty, const void *key,
		  size_t klen, size_t *size)
{
	void *val;
	int err;

	if (!ty->array && (!ty->typed || ty->vplain))
		return shmtab_find_into(t, key, klen, NULL, 0, size);
	err = fs_value_get(t, ty, key, klen, &val, size);
	if (err == 0)
		free(val);
	return err;
}

/* Replace the newest value with the one val (bytes or text) stands for.
 * -EINVAL when the text does not parse; -ENOENT for an index outside an
 * array. */
int fs_value_put(shmtab *t, const struct fs_types *ty, const void *key,
		 size_t klen, const void *val, size_t vlen)
{
	void *enc = NULL;
	int64_t i;
	int err;

	if (ty->typed && !ty->vplain) {
		err = shmtab_parse(ty->vtype, val, vlen, &enc, &vlen);
		if (err < 0)
			return err;
		val = enc;
	}
	if (ty->array) {
		i = fs_key_index(key, klen);
		err = i < 0 ? -ENOENT :
			      array_err(t, i,
					shmtab_array_set(t, i, val, vlen));
	} else {
		err = shmtab_replace(t, key, klen, val, vlen);
	}
	free(enc);
	return err;
}

/*
 * The value a new key starts with: empty, or the zero of the value type (0,
 * "", pairs of those), made by parsing a text with one field per leaf of
 * the type name ("pair(string,int64)": "\t0").  *enc malloc'd or NULL.
 */
int fs_value_zero(const struct fs_types *ty, void **enc, size_t *len)
{
	static const char word[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	char text[FS_TYPE_NAME_MAX];
	const char *p = ty->vtype;
	size_t n = 0, w;
	bool first = true;

	*enc = NULL;
	*len = 0;
	if (!ty->typed || ty->vplain)
		return 0;
	while (*p) {
		w = strspn(p, word);
		if (!w) {
			p++;
			continue;
		}
		if (!(w == 4 && !memcmp(p, "pair", 4))) {
			if (!first)
				text[n++] = '\t';
			first = false;
			if (!((w == 6 && !memcmp(p, "string", 6)) ||
			      (w == 5 && !memcmp(p, "bytes", 5))))
				text[n++] = '0';
		}
		p += w;
	}
	return shmtab_parse(ty->vtype, text, n, enc, len);
}

static int delta_parse(const char *s, size_t len, int64_t *d)
{
	void *enc;
	size_t elen;
	int err = shmtab_parse("int64", s, len, &enc, &elen);

	if (err < 0)
		return err;
	if (elen == 8)
		memcpy(d, enc, 8);
	else
		err = -EINVAL;
	free(enc);
	return err;
}

/* The sum of appended deltas: one decimal integer a line, the last newline
 * optional.  -EINVAL for anything else (an empty line too), -ERANGE when
 * the sum leaves int64. */
int fs_deltas_sum(const char *text, size_t len, int64_t *sum)
{
	const char *nl;
	size_t pos = 0, l;
	int64_t d;
	int err;

	*sum = 0;
	while (pos < len) {
		nl = memchr(text + pos, '\n', len - pos);
		l = nl ? (size_t)(nl - (text + pos)) : len - pos;
		err = delta_parse(text + pos, l, &d);
		if (err < 0)
			return err;
		if (__builtin_add_overflow(*sum, d, sum))
			return -ERANGE;
		pos += l + 1;
	}
	return 0;
}

/* Add delta to an integer value, atomically; an unbound key starts from 0,
 * an unset element from the default.  -ERANGE when the result leaves the
 * value type. */
int fs_value_add(shmtab *t, const struct fs_types *ty, const void *key,
		 size_t klen, int64_t delta)
{
	struct shmtab_value *kv;
	int64_t i;
	int err;

	if (!ty->vint)
		return -EINVAL;
	if (ty->array) {
		i = fs_key_index(key, klen);
		if (i < 0)
			return -ENOENT;
		return array_err(
			t, i, shmtab_int_add(t, SHMTAB_V_I64(i), delta, NULL));
	}
	err = shmtab_decode(ty->ktype, key, klen, &kv);
	if (err < 0)
		return err;
	err = shmtab_int_add(t, kv, delta, NULL);
	free(kv);
	return err;
}
