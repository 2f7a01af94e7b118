/* SPDX-License-Identifier: MIT */
/*
 * escape.h - reversible key <-> file-name escaping, shared by shmtabfs and
 * shmtab (the rules are at the top of escape.c and in shmtab(1))
 */
#ifndef SHMTAB_ESCAPE_H
#define SHMTAB_ESCAPE_H

#include <stddef.h>
#include <sys/types.h>

#include "shmtab.h"

/* The longest name shmtab_escape() produces (NAME_MAX on Linux). */
#define SHMTAB_ESCAPE_NAME_MAX 255

/*
 * shmtab_escape() - the file name of a key
 * @key, @klen: the key; klen 0 is the empty key
 * @out, @cap:  where the NUL-terminated name goes
 *
 * Returns the name's length (without the NUL), -ENAMETOOLONG when it would
 * be longer than SHMTAB_ESCAPE_NAME_MAX bytes, -ENOSPC when cap cannot hold
 * it and its NUL, -EINVAL for key == NULL with klen > 0.
 */
ssize_t shmtab_escape(const void *key, size_t klen, char *out, size_t cap);

/*
 * shmtab_unescape() - the key of a file name
 * @name:     a NUL-terminated name
 * @out, @cap: where the key goes (not NUL-terminated); out may be NULL
 *            when cap is 0, to ask for the length
 *
 * Returns the key's length, -EINVAL when name is not the canonical escape
 * of any key, -ENOSPC when the key is longer than cap.  Names of any length
 * are decoded (the CLI takes longer ones as key arguments).
 */
ssize_t shmtab_unescape(const char *name, void *out, size_t cap);

/*
 * Names of long keys.  A key whose escape is longer than 255 bytes is named
 * by a prefix of its escape, the marker "%%" and the first 32 lower-case
 * hex digits of the SHA-256 of the key (the bytes the escape stands for):
 *
 *   PREFIX%%0123456789abcdef0123456789abcdef
 *
 * PREFIX is the longest start of the escape that keeps the name within 255
 * bytes (at most 221 bytes), cut neither inside a "%XX" nor inside a UTF-8
 * character.  No escape contains "%%", so these names and the escapes of
 * keys never meet.  The name does not give the key back: shmtabfs and
 * shmtab find the key whose name it is among the table's keys.
 */
#define SHMTAB_NAME_MARKER "%%"
#define SHMTAB_NAME_DIGEST_HEX 32

/*
 * shmtab_file_name() - the file name of any key: its escape when that fits in
 * SHMTAB_ESCAPE_NAME_MAX bytes, else the long key's name above.  Returns
 * the name's length, -ENOSPC when cap cannot hold it and its NUL, -EINVAL
 * for key == NULL with klen > 0.
 */
ssize_t shmtab_file_name(const void *key, size_t klen, char *out, size_t cap);

/*
 * shmtab_file_name_is_long() - whether name has the form of a long key's name
 * (a canonical PREFIX, the marker, the hex digits): such a name stands for
 * at most one key and cannot be decoded, only matched (shmtab_file_name_match).
 */
int shmtab_file_name_is_long(const char *name);

/*
 * shmtab_file_name_match() - 1 when name is the name of the key, else 0.
 * Cheap for keys that do not have a long name.
 */
int shmtab_file_name_match(const char *name, const void *key, size_t klen);

/*
 * shmtab_long_name_find() - the key of t whose long name (above) is name,
 * found by a walk of t's keys.  key_type is the type name keys are shown
 * as (their text form, without its final newline), or NULL when a key's
 * bytes are its text (bytes, string, untyped tables).  Returns 0 with *key
 * malloc'd, -ENOENT when no key has that name, -ENOMEM, or the walk's error.
 */
int shmtab_long_name_find(shmtab *t, const char *key_type, const char *name,
			  void **key, size_t *klen);

/*
 * shmtab_long_names() - every key of t that has a long name, with that name:
 * fn(name, key, klen, ctx) for each, in one walk of t's keys (key_type as
 * for shmtab_long_name_find()).  fn returns 0 to go on; anything else stops
 * the walk, which then returns it.  Returns 0 or the walk's error.
 */
typedef int shmtab_long_name_fn(const char *name, const void *key,
				size_t klen, void *ctx);
int shmtab_long_names(shmtab *t, const char *key_type,
		      shmtab_long_name_fn *fn, void *ctx);

/*
 * The same rules without the 255-byte limit, for the command line, where a
 * key is printed or typed rather than used as a file name.
 * shmtab_escaped_len() is the length of the escape (without the NUL);
 * shmtab_escape_long() returns it, -ENOSPC or -EINVAL as shmtab_escape().
 */
size_t shmtab_escaped_len(const void *key, size_t klen);
ssize_t shmtab_escape_long(const void *key, size_t klen, char *out,
			   size_t cap);

#endif /* SHMTAB_ESCAPE_H */
