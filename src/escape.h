/* SPDX-License-Identifier: MIT */
/*
 * escape.h - reversible key <-> file-name escaping, shared by shmtabfs and
 * shmtab (the rules are at the top of escape.c and in shmtab(1))
 */
#ifndef SHMTAB_ESCAPE_H
#define SHMTAB_ESCAPE_H

#include <stddef.h>
#include <sys/types.h>

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
 * The same rules without the 255-byte limit, for the command line, where a
 * key is printed or typed rather than used as a file name.
 * shmtab_escaped_len() is the length of the escape (without the NUL);
 * shmtab_escape_long() returns it, -ENOSPC or -EINVAL as shmtab_escape().
 */
size_t shmtab_escaped_len(const void *key, size_t klen);
ssize_t shmtab_escape_long(const void *key, size_t klen, char *out,
			   size_t cap);

#endif /* SHMTAB_ESCAPE_H */
