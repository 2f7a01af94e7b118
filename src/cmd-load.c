/* SPDX-License-Identifier: MIT */
/*
 * cmd-load.c - shmtab load: add the bindings of a dump (stdin) to a table,
 * creating it when absent
 *
 * The whole input is parsed and checked (header, escapes, the counts of the
 * "end" line) before the table is touched, so that a damaged or truncated
 * dump changes nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

struct load_key {
	struct cli_key key;
	struct cli_key *vals;		/* oldest first, as in the dump */
	size_t nvals, cap;
};

struct load {
	struct shmtab_options opt;
	struct load_key *keys;
	size_t nkeys, cap;
	unsigned long long nbindings;
	unsigned long line;
	char why[160];			/* what is wrong with the input */
};

static int load_bad(struct load *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int load_bad(struct load *l, const char *fmt, ...)
{
	char buf[120];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	snprintf(l->why, sizeof(l->why), "line %lu: %s", l->line, buf);
	return -EINVAL;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode the text after a tag ("k" or "v" alone, or "k TEXT"). */
static int load_bytes(struct load *l, const char *s, size_t n,
		      struct cli_key *out)
{
	unsigned char *p = cli_malloc(n);
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			int hi, lo;

			if (i + 1 < n && s[i + 1] == '\\') {
				p[j++] = '\\';
				i++;
				continue;
			}
			hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
			lo = hi < 0 ? -1 : hex_digit(s[i + 2]);
			if (lo < 0) {
				free(p);
				return load_bad(l, "bad escape at '%.8s'",
						s + i);
			}
			p[j++] = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (c > 0x20 && c < 0x7f) {
			p[j++] = c;
		} else {
			free(p);
			return load_bad(l, "%s byte in the data",
					c ? "unescaped" : "NUL");
		}
	}
	out->key = p;
	out->klen = j;
	return 0;
}

static int load_data_line(struct load *l, const char *s, size_t n)
{
	struct load_key *k;
	struct cli_key b;
	int err;

	if (n == 0 || (s[0] != 'k' && s[0] != 'v') || (n > 1 && s[1] != ' '))
		return load_bad(l, "expected 'k', 'v' or 'end'");
	err = load_bytes(l, s + (n > 1 ? 2 : 1), n > 1 ? n - 2 : 0, &b);
	if (err < 0)
		return err;
	if (s[0] == 'k') {
		if (l->nkeys && !l->keys[l->nkeys - 1].nvals) {
			free(b.key);
			return load_bad(l, "the previous key has no value");
		}
		if (l->nkeys == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 64;
			l->keys = cli_realloc(l->keys,
					      l->cap * sizeof(l->keys[0]));
		}
		l->keys[l->nkeys++] = (struct load_key){ .key = b };
		return 0;
	}
	if (!l->nkeys) {
		free(b.key);
		return load_bad(l, "a value before the first key");
	}
	k = &l->keys[l->nkeys - 1];
	if (k->nvals == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 4;
		k->vals = cli_realloc(k->vals, k->cap * sizeof(k->vals[0]));
	}
	k->vals[k->nvals++] = b;
	l->nbindings++;
	return 0;
}

static int load_header_line(struct load *l, const char *s)
{
	char word[16], arg[32], extra;

	if (sscanf(s, "%15s %31s %c", word, arg, &extra) != 2)
		return load_bad(l, "bad header line '%.40s'", s);
	if (!strcmp(word, "pagesize")) {
		if (cli_parse_size(arg, &l->opt.pagesize) < 0)
			return load_bad(l, "bad page size '%s'", arg);
	} else if (!strcmp(word, "lock")) {
		if (cli_parse_lock(arg, &l->opt.lock) < 0)
			return load_bad(l, "unknown locking method '%s'", arg);
	} else {
		return load_bad(l, "unknown header keyword '%s'", word);
	}
	return 0;
}

static int load_end_line(struct load *l, const char *s)
{
	unsigned long long nk, nb;
	char extra;

	if (sscanf(s, "end %llu %llu %c", &nk, &nb, &extra) != 2)
		return load_bad(l, "bad end line '%.40s'", s);
	if (l->nkeys && !l->keys[l->nkeys - 1].nvals)
		return load_bad(l, "the previous key has no value");
	if (nk != l->nkeys || nb != l->nbindings)
		return load_bad(l, "%zu keys and %llu bindings, the end line "
				   "says %llu and %llu", l->nkeys, l->nbindings,
				nk, nb);
	return 0;
}

static int load_parse(struct load *l, FILE *in)
{
	enum { FIRST, HEADER, DATA, END } state = FIRST;
	char *s = NULL;
	size_t cap = 0;
	ssize_t n;
	int err = 0;

	while (!err && (n = getline(&s, &cap, in)) >= 0) {
		l->line++;
		if (n > 0 && s[n - 1] == '\n')
			s[--n] = '\0';
		if (n > 0 && s[n - 1] == '\r')	/* met Windows: CR LF */
			s[--n] = '\0';
		if (strlen(s) != (size_t)n && state != DATA) {
			err = load_bad(l, "NUL byte");
			break;
		}
		switch (state) {
		case FIRST: {
			char magic[16], extra;
			int v;

			if (sscanf(s, "%15s %d %c", magic, &v, &extra) != 2 ||
			    strcmp(magic, DUMP_MAGIC)) {
				err = load_bad(l, "not a shmtab dump (it "
						  "starts with '%.20s')", s);
			} else if (v != DUMP_VERSION) {
				err = load_bad(l, "dump format %d is not "
						  "supported", v);
			}
			state = HEADER;
			break;
		}
		case HEADER:
			if (!strcmp(s, "data"))
				state = DATA;
			else
				err = load_header_line(l, s);
			break;
		case DATA:
			if (!strncmp(s, "end", 3) && (!s[3] || s[3] == ' ')) {
				err = load_end_line(l, s);
				state = END;
			} else {
				err = load_data_line(l, s, (size_t)n);
			}
			break;
		case END:
			err = load_bad(l, "data after the end line");
			break;
		}
	}
	free(s);
	if (!err && ferror(in)) {
		err = errno ? -errno : -EIO;
		snprintf(l->why, sizeof(l->why), "%s", msg_strerror(err));
	}
	if (!err && state != END) {
		l->line++;
		err = load_bad(l, "unexpected end of input (a truncated "
				  "dump?)");
	}
	return err;
}

static void load_free(struct load *l)
{
	for (size_t i = 0; i < l->nkeys; i++) {
		for (size_t j = 0; j < l->keys[i].nvals; j++)
			free(l->keys[i].vals[j].key);
		free(l->keys[i].vals);
		free(l->keys[i].key.key);
	}
	free(l->keys);
}

/* Open the table; create it with the dump's options when absent. */
static int load_open(struct load *l, const char *name, bool trunc,
		     shmtab **t)
{
	int err = -ENOENT;

	for (int i = 0; i < 10 && err == -ENOENT; i++) {
		err = shmtab_open(name, O_RDWR | (trunc ? O_TRUNC : 0), 0, NULL,
				  t);
		if (err == -ENOENT)
			err = shmtab_open(name, O_RDWR | O_CREAT | O_EXCL, 0666,
					  &l->opt, t);
		if (err == -EEXIST)	/* created meanwhile: open that */
			err = -ENOENT;
	}
	return err < 0 ? msg_fail(err, "cannot open '%s'", name) : 0;
}

static int load_run(struct cmd_args *a)
{
	const char *name = a->argv[0];
	struct load l = { 0 };
	shmtab *t;
	int rc, err;

	err = load_parse(&l, stdin);
	if (err < 0) {
		msg_error("cannot load '%s': %s", name, l.why);
		load_free(&l);
		return EXIT_FAIL;
	}
	rc = load_open(&l, name, a->opt['t'] != NULL, &t);
	if (rc) {
		load_free(&l);
		return rc;
	}
	for (size_t i = 0; i < l.nkeys; i++) {
		struct load_key *k = &l.keys[i];

		for (size_t j = 0; j < k->nvals; j++) {
			err = shmtab_add(t, k->key.key, k->key.klen,
					 k->vals[j].key, k->vals[j].klen);
			if (err < 0) {
				char *ks = cli_key_text(k->key.key,
							k->key.klen);

				rc = msg_fail(err, "cannot add '%s' to '%s'",
					      ks, name);
				free(ks);
				shmtab_close(t);
				load_free(&l);
				return rc;
			}
		}
	}
	load_free(&l);
	return cli_close(t);
}

static const struct option load_longopts[] = {
	{ "truncate", no_argument, NULL, 't' },
	{ NULL, 0, NULL, 0 },
};

const struct shmtab_cmd cmd_load = {
	.name = "load",
	.usage = "[-t] NAME < DUMP",
	.summary = "add the bindings of a dump to a table, created if absent",
	.optstring = "t",
	.longopts = load_longopts,
	.min_args = 1,
	.max_args = 1,
	.run = load_run,
};
