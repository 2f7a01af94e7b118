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

int cli_open_schema(const char *name, int oflags, shmtab **out,
		    struct cli_schema *cs)
{
	int rc = cli_open(name, oflags, NULL, out);

	if (rc)
		return rc;
	rc = cli_schema_get(*out, cs);
	if (rc) {
		shmtab_close(*out);
		*out = NULL;
	}
	return rc;
}

char *cli_key_label(const struct cli_schema *cs, const char *arg,
		    const void *key, size_t klen)
{
	if (cs->typed && !cs->key_raw)
		return cli_show(arg, strlen(arg));	/* its text */
	return cli_key_text(key, klen);
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

/* The key an escaped name stands for; shown is the argument as typed. */
static int key_unescape(const char *arg, const char *shown, void **key,
			size_t *klen)
{
	ssize_t n = shmtab_unescape(arg, NULL, 0);

	if (n == -ENOSPC)
		n = (ssize_t)strlen(arg);	/* an upper bound */
	if (n < 0) {
		msg_error("'%s' is not an escaped key (see ESCAPING in "
			  "shmtab(1); -x takes a key as it is)", shown);
		return EXIT_USAGE;
	}
	*key = cli_malloc((size_t)n);
	n = shmtab_unescape(arg, *key, (size_t)n);
	if (n < 0) {		/* cannot happen: validated above */
		free(*key);
		return msg_fail((int)n, "cannot decode '%s'", shown);
	}
	*klen = (size_t)n;
	return 0;
}

int cli_key_arg(const struct cmd_args *a, const char *arg, void **key,
		size_t *klen)
{
	if (a->opt['x']) {
		*klen = strlen(arg);
		*key = cli_malloc(*klen);
		memcpy(*key, arg, *klen);
		return 0;
	}
	return key_unescape(arg, arg, key, klen);
}

char *cli_key_text(const void *key, size_t klen)
{
	size_t n = shmtab_escaped_len(key, klen) + 1;
	char *s = cli_malloc(n);

	if (shmtab_escape_long(key, klen, s, n) < 0)
		strcpy(s, "?");
	return s;
}

bool cli_type_raw(const char *type)
{
	return !strcmp(type, "bytes") || !strcmp(type, "string");
}

int cli_schema_get(shmtab *t, struct cli_schema *cs)
{
	struct shmtab_schema s;
	int err;

	memset(cs, 0, sizeof(*cs));
	err = shmtab_get_schema(t, &s);
	if (!err)
		err = shmtab_type_name(s.key_type ? s.key_type : "bytes",
				       cs->key_type, sizeof(cs->key_type));
	if (!err)
		err = shmtab_type_name(s.value_type ? s.value_type : "bytes",
				       cs->value_type, sizeof(cs->value_type));
	if (!err && s.kind == SHMTAB_KIND_ARRAY) {
		cs->array = true;
		if (s.dflt)
			err = shmtab_encode(s.dflt, &cs->dflt, &cs->dlen);
	}
	if (err < 0) {
		cli_schema_free(cs);
		return msg_fail(err == -EINVAL ? -EBADMSG : err,
				"cannot read the types of '%s'",
				shmtab_name(t));
	}
	cs->key_raw = cli_type_raw(cs->key_type);
	cs->value_raw = cli_type_raw(cs->value_type);
	cs->typed = cs->array || strcmp(cs->key_type, "bytes") ||
		    strcmp(cs->value_type, "bytes");
	return 0;
}

void cli_schema_free(struct cli_schema *cs)
{
	free(cs->dflt);
	cs->dflt = NULL;
	cs->dlen = 0;
}

int cli_text(const char *type, const void *buf, size_t len, char **text,
	     size_t *tlen)
{
	int err = shmtab_format(type, buf, len, text, tlen);

	if (err < 0)
		return err;
	if (!cli_type_raw(type) && *tlen && (*text)[*tlen - 1] == '\n')
		(*text)[--*tlen] = '\0';
	return 0;
}

/* The key whose long name (escape.h) is arg, found among t's keys. */
static int long_key_arg(shmtab *t, const struct cli_schema *cs, const char *arg,
			void **key, size_t *klen)
{
	int err = shmtab_long_name_find(t, cs->typed && !cs->key_raw ?
					       cs->key_type : NULL,
				       arg, key, klen);

	if (err == -ENOENT) {
		msg_error("no key of '%s' has the name '%s' (the name of a "
			  "key longer than a file name: see ESCAPING in "
			  "shmtab(1))",
			  shmtab_name(t), arg);
		return EXIT_FAIL;
	}
	if (err < 0)
		return msg_fail(err, "cannot read the keys of '%s'",
				shmtab_name(t));
	return 0;
}

int cli_tkey_arg(const struct cmd_args *a, shmtab *t,
		 const struct cli_schema *cs, const char *arg, void **key,
		 size_t *klen)
{
	void *text;
	size_t tlen;
	char *show;
	int rc, err;

	if (!a->opt['x'] && !cs->array && shmtab_file_name_is_long(arg))
		return long_key_arg(t, cs, arg, key, klen);
	if (cs->key_raw)
		return cli_key_arg(a, arg, key, klen);
	if (a->opt['x']) {
		rc = cli_key_arg(a, arg, &text, &tlen);
	} else {
		/* the fields of a pair may be typed with real tabs */
		char *esc = cli_malloc(3 * strlen(arg) + 1), *q = esc;

		for (const char *p = arg; *p; p++) {
			if (*p == '\t') {
				memcpy(q, "%09", 3);
				q += 3;
			} else {
				*q++ = *p;
			}
		}
		*q = '\0';
		rc = key_unescape(esc, arg, &text, &tlen);
		free(esc);
	}
	if (rc)
		return rc;
	err = shmtab_parse(cs->key_type, text, tlen, key, klen);
	if (err < 0) {
		show = cli_show(text, tlen);
		msg_error("'%s' is not a valid %s key", show, cs->key_type);
		free(show);
		rc = EXIT_FAIL;
	}
	free(text);
	return rc;
}

int cli_tvalue(const struct cli_schema *cs, const void *text, size_t tlen,
	       void **val, size_t *vlen)
{
	return shmtab_parse(cs->value_type, text, tlen, val, vlen);
}

int64_t cli_index(const void *key, size_t klen)
{
	const unsigned char *p = key;
	uint64_t u = 0;

	if (klen != 8)
		return -1;
	for (int i = 7; i >= 0; i--)
		u = u << 8 | p[i];
	return (int64_t)u;
}

char *cli_show(const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t cut = n > 60 ? 60 : n, j = 0;
	char *out = cli_malloc(4 * cut + 4);

	for (size_t i = 0; i < cut; i++) {
		unsigned char c = s[i];

		if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
			out[j++] = '\\';
			out[j++] = c == '\\' ? '\\' :
				   c == '\t' ? 't' :
				   c == '\n' ? 'n' :
						'r';
		} else if (c < 0x20 || c == 0x7f) {
			out[j++] = '\\';
			out[j++] = 'x';
			out[j++] = hex[c >> 4];
			out[j++] = hex[c & 15];
		} else {
			out[j++] = (char)c;
		}
	}
	if (cut < n) {
		memcpy(out + j, "...", 3);
		j += 3;
	}
	out[j] = '\0';
	return out;
}

int cli_index_fail(shmtab *t, const char *name, int64_t i)
{
	long long len = shmtab_array_length(t);

	if (len < 0)
		return msg_fail(-EINVAL, "index %lld is outside '%s'",
				(long long)i, name);
	return msg_fail(-EINVAL, "index %lld is outside '%s' (length %lld)",
			(long long)i, name, len);
}

int cli_parse_int64(const char *s, int64_t *out)
{
	void *buf;
	size_t len;
	int err = shmtab_parse("int64", s, strlen(s), &buf, &len);

	if (err < 0)
		return err;
	*out = cli_index(buf, len);	/* the same 8 bytes */
	free(buf);
	return 0;
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

static int value_cmp(const struct shmtab_value *a, const struct shmtab_value *b)
{
	size_t n;
	int c;

	switch (a->type) {
	case SHMTAB_INT32:
		return (a->i32 > b->i32) - (a->i32 < b->i32);
	case SHMTAB_INT64:
		return (a->i64 > b->i64) - (a->i64 < b->i64);
	case SHMTAB_INT:
		return (a->n > b->n) - (a->n < b->n);
	case SHMTAB_PAIR:
		c = value_cmp(a->pair.a, b->pair.a);
		return c ? c : value_cmp(a->pair.b, b->pair.b);
	default:
		n = a->s.len < b->s.len ? a->s.len : b->s.len;
		c = n ? memcmp(a->s.p, b->s.p, n) : 0;
		return c ? c : (a->s.len > b->s.len) - (a->s.len < b->s.len);
	}
}

struct tkey {
	struct cli_key k;
	struct shmtab_value *v;
};

static int tkey_cmp(const void *a, const void *b)
{
	return value_cmp(((const struct tkey *)a)->v,
			 ((const struct tkey *)b)->v);
}

int cli_keys_collect_typed(shmtab *t, const struct cli_schema *cs,
			   struct cli_keys *ks)
{
	long long len = cs->array ? shmtab_array_length(t) : 0;
	struct tkey *tk;
	size_t n = 0;
	int err;

	if (len < 0)
		return (int)len;
	err = cli_keys_collect(t, ks);
	if (err < 0 || cs->key_raw)
		return err;
	tk = cli_malloc(ks->n * sizeof(*tk));
	for (size_t i = 0; i < ks->n; i++) {
		struct cli_key k = ks->v[i];

		/* elements a shrink has not removed yet are not there */
		if (cs->array &&
		    (uint64_t)cli_index(k.key, k.klen) >= (uint64_t)len) {
			free(k.key);
			continue;
		}
		tk[n].k = k;
		tk[n].v = NULL;
		if (!err)
			err = shmtab_decode(cs->key_type, k.key, k.klen,
					    &tk[n].v);
		n++;
	}
	if (!err && n)
		qsort(tk, n, sizeof(*tk), tkey_cmp);
	for (size_t i = 0; i < n; i++) {
		ks->v[i] = tk[i].k;
		free(tk[i].v);
	}
	ks->n = n;
	free(tk);
	return err;
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
