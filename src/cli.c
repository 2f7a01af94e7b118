/* SPDX-License-Identifier: MIT */
/* cli.c - helpers shared by the shmtab commands */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "escape.h"

#define SHM_DIR "/dev/shm"

void *cli_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		msg_error("out of memory");
		exit(EXIT_FAIL);
	}
	return p;
}

void *cli_realloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		msg_error("out of memory");
		exit(EXIT_FAIL);
	}
	return p;
}

char *cli_strdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(cli_malloc(n), s, n);
}

int cli_usage(const struct shmtab_cmd *cmd)
{
	fprintf(stderr, "usage: shmtab %s %s\n", cmd->name, cmd->usage);
	return EXIT_USAGE;
}

int cli_open(const char *name, int oflags, const struct shmtab_options *opt,
	     shmtab **out)
{
	int err = shmtab_open(name, oflags, 0666, opt, out);

	if (err < 0)
		return msg_fail(err, "cannot open '%s'", name);
	return 0;
}

int cli_close(shmtab *t)
{
	char *name = cli_strdup(shmtab_name(t));
	int err = shmtab_close(t), rc = 0;

	if (err < 0)
		rc = msg_fail(err, "cannot close '%s'", name);
	free(name);
	return rc;
}

int cli_key_arg(const struct cmd_args *a, const char *arg, void **key,
		size_t *klen)
{
	ssize_t n;

	if (a->opt['x']) {
		*klen = strlen(arg);
		*key = cli_malloc(*klen);
		memcpy(*key, arg, *klen);
		return 0;
	}
	n = shmtab_unescape(arg, NULL, 0);
	if (n == -ENOSPC)
		n = (ssize_t)strlen(arg);	/* an upper bound */
	if (n < 0) {
		msg_error("'%s' is not an escaped key (see ESCAPING in "
			  "shmtab(1); -x takes a key as it is)", arg);
		return EXIT_USAGE;
	}
	*key = cli_malloc((size_t)n);
	n = shmtab_unescape(arg, *key, (size_t)n);
	if (n < 0) {		/* cannot happen: validated above */
		free(*key);
		return msg_fail((int)n, "cannot decode '%s'", arg);
	}
	*klen = (size_t)n;
	return 0;
}

char *cli_key_text(const void *key, size_t klen)
{
	size_t n = shmtab_escaped_len(key, klen) + 1;
	char *s = cli_malloc(n);

	if (shmtab_escape_long(key, klen, s, n) < 0)
		strcpy(s, "?");
	return s;
}

static int cli_append(struct cli_key **v, size_t *n, size_t *cap,
		      const void *p, size_t len)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		*v = cli_realloc(*v, *cap * sizeof(**v));
	}
	(*v)[*n].key = cli_malloc(len);
	if (len)
		memcpy((*v)[*n].key, p, len);
	(*v)[*n].klen = len;
	(*n)++;
	return 0;
}

static int keys_add(const void *key, size_t klen, void *ctx)
{
	struct cli_keys *ks = ctx;

	return cli_append(&ks->v, &ks->n, &ks->cap, key, klen);
}

static int key_cmp(const void *a, const void *b)
{
	const struct cli_key *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = n ? memcmp(x->key, y->key, n) : 0;

	if (c)
		return c;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

int cli_keys_collect(shmtab *t, struct cli_keys *ks)
{
	int err;

	memset(ks, 0, sizeof(*ks));
	err = shmtab_iter_keys(t, keys_add, ks);
	if (err < 0)
		return err;
	if (ks->n)
		qsort(ks->v, ks->n, sizeof(ks->v[0]), key_cmp);
	return 0;
}

void cli_keys_free(struct cli_keys *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		free(ks->v[i].key);
	free(ks->v);
	memset(ks, 0, sizeof(*ks));
}

static int bindings_add(const void *key, size_t klen, const void *val,
			size_t vlen, void *ctx)
{
	struct cli_bindings *bs = ctx;

	(void)key;
	(void)klen;
	return cli_append(&bs->v, &bs->n, &bs->cap, val, vlen);
}

int cli_bindings_collect(shmtab *t, const void *key, size_t klen,
			 struct cli_bindings *bs)
{
	memset(bs, 0, sizeof(*bs));
	return shmtab_find_all(t, key, klen, bindings_add, bs);
}

void cli_bindings_free(struct cli_bindings *bs)
{
	for (size_t i = 0; i < bs->n; i++)
		free(bs->v[i].key);
	free(bs->v);
	memset(bs, 0, sizeof(*bs));
}

int cli_read_all(FILE *in, void **buf, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *p = cli_malloc(cap);

	errno = 0;
	while ((got = fread(p + n, 1, cap - n, in)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			p = cli_realloc(p, cap);
		}
	}
	if (ferror(in)) {
		int err = errno ? -errno : -EIO;

		free(p);
		return err;
	}
	*buf = p;
	*len = n;
	return 0;
}

int cli_flush_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		int err = errno ? -errno : -EIO;

		return msg_fail(err, "cannot write to standard output");
	}
	return 0;
}

int cli_parse_size(const char *s, size_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > SIZE_MAX)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

int cli_parse_mode(const char *s, mode_t *out)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '7')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || *end || v > 07777)
		return -EINVAL;
	*out = (mode_t)v;
	return 0;
}

static const char *const lock_names[] = {
	[SHMTAB_LOCK_BEST] = "best",
	[SHMTAB_LOCK_NONE] = "none",
	[SHMTAB_LOCK_RECORD] = "record",
	[SHMTAB_LOCK_MUTEX] = "mutex",
};

int cli_parse_lock(const char *s, enum shmtab_lock *out)
{
	for (size_t i = 0; i < sizeof(lock_names) / sizeof(lock_names[0]);
	     i++) {
		if (!strcmp(s, lock_names[i])) {
			*out = (enum shmtab_lock)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *cli_lock_name(enum shmtab_lock lock)
{
	if ((unsigned)lock < sizeof(lock_names) / sizeof(lock_names[0]))
		return lock_names[lock];
	return "unknown";
}

char *cli_object_path(const char *name, bool *posix)
{
	const char *path;
	char *p;

	if (!strncmp(name, "posix:", 6)) {
		*posix = true;
		path = name + 6;
	} else if (!strncmp(name, "file:", 5)) {
		*posix = false;
		path = name + 5;
	} else {
		path = name;
		*posix = name[0] == '/' && !strchr(name + 1, '/');
	}
	if (!*path)
		return NULL;
	if (!*posix)
		return cli_strdup(path);
	if (path[0] != '/' || !path[1] || strchr(path + 1, '/'))
		return NULL;
	p = cli_malloc(sizeof(SHM_DIR) + strlen(path));
	strcpy(p, SHM_DIR);
	strcat(p, path);
	return p;
}
