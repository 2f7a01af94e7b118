/* SPDX-License-Identifier: MIT */
/*
 * cmd-load.c - shmtab load: add the bindings of a dump (stdin) to a table,
 * creating it when absent
 *
 * The whole input is parsed and checked (header, escapes, the counts of the
 * "end" line; a typed dump's texts against its types) before the table is
 * touched, so that a damaged or truncated dump changes nothing.  A typed
 * dump goes only into a table of the same schema (created with it when
 * absent).
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
	struct cli_schema cs;		/* the header's; untyped without one */
	struct shmtab_schema schema;	/* the same, for shmtab_open_typed */
	bool key_type_set, value_type_set;
	int64_t length;			/* an array's, from "array N" */
	struct cli_key dtext;		/* the text of "default" */
	bool dtext_set;
	unsigned long dline;		/* its line */
	struct shmtab_value *dflt;
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

	out->key = NULL;
	out->klen = 0;
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

/* The text of a typed key or value into its encoding. */
static int load_typed(struct load *l, bool key, struct cli_key *b)
{
	const char *type = key ? l->cs.key_type : l->cs.value_type;
	void *enc;
	size_t elen;
	int64_t i;
	int err;

	err = shmtab_parse(type, b->key, b->klen, &enc, &elen);
	if (err < 0) {
		char *show = cli_show(b->key, b->klen);

		load_bad(l, "'%s' is not a valid %s %s", show, type,
			 key ? "key" : "value");
		free(show);
		return err;
	}
	free(b->key);
	b->key = enc;
	b->klen = elen;
	if (!key || !l->cs.array)
		return 0;
	i = cli_index(enc, elen);
	if (i < 0 || i >= l->length)
		return load_bad(l, "index %lld is outside the array (length "
				   "%lld)", (long long)i, (long long)l->length);
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
	if (!err && l->cs.typed)
		err = load_typed(l, s[0] == 'k', &b);
	if (err < 0) {
		free(b.key);
		return err;
	}
	if (s[0] == 'v' && l->cs.array && l->nkeys &&
	    l->keys[l->nkeys - 1].nvals) {
		free(b.key);
		return load_bad(l, "an array element has one value");
	}
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

/* "key-type TYPE" or "value-type TYPE" (blanks allowed in TYPE). */
static int load_type_line(struct load *l, const char *word, const char *arg,
			  char *buf, bool *set)
{
	if (*set)
		return load_bad(l, "'%s' given twice", word);
	if (!arg || shmtab_type_name(arg, buf, CLI_TYPE_NAME_MAX) < 0)
		return load_bad(l, "bad %s '%.40s'", word, arg ? arg : "");
	*set = true;
	return 0;
}

static int load_header_line(struct load *l, const char *s)
{
	char word[16], arg[32], extra;
	size_t wl = strcspn(s, " ");
	const char *rest = s[wl] ? s + wl + 1 : NULL;

	if (wl == 8 && !strncmp(s, "key-type", wl))
		return load_type_line(l, "key-type", rest, l->cs.key_type,
				      &l->key_type_set);
	if (wl == 10 && !strncmp(s, "value-type", wl))
		return load_type_line(l, "value-type", rest, l->cs.value_type,
				      &l->value_type_set);
	if (wl == 7 && !strncmp(s, "default", wl)) {
		if (l->dtext_set)
			return load_bad(l, "'default' given twice");
		l->dtext_set = true;
		l->dline = l->line;
		return load_bytes(l, rest ? rest : "", rest ? strlen(rest) : 0,
				  &l->dtext);
	}
	if (sscanf(s, "%15s %31s %c", word, arg, &extra) != 2)
		return load_bad(l, "bad header line '%.40s'", s);
	if (!strcmp(word, "pagesize")) {
		if (cli_parse_size(arg, &l->opt.pagesize) < 0)
			return load_bad(l, "bad page size '%s'", arg);
	} else if (!strcmp(word, "lock")) {
		if (cli_parse_lock(arg, &l->opt.lock) < 0)
			return load_bad(l, "unknown locking method '%s'", arg);
	} else if (!strcmp(word, "array")) {
		if (l->cs.array)
			return load_bad(l, "'array' given twice");
		if (cli_parse_int64(arg, &l->length) < 0 || l->length < 0)
			return load_bad(l, "bad array length '%s'", arg);
		l->cs.array = true;
	} else {
		return load_bad(l, "unknown header keyword '%s'", word);
	}
	return 0;
}

/* At "data": the schema the header describes, checked. */
static int load_schema(struct load *l)
{
	struct cli_schema *cs = &l->cs;
	void *enc = NULL;
	size_t elen;
	int err;

	if (!l->key_type_set)
		strcpy(cs->key_type, "bytes");
	if (!l->value_type_set)
		strcpy(cs->value_type, "bytes");
	if (cs->array && l->key_type_set && strcmp(cs->key_type, "int64"))
		return load_bad(l, "the keys of an array are int64, not %s",
				cs->key_type);
	if (!cs->array && l->dtext_set)
		return load_bad(l, "a default without 'array'");
	if (cs->array)
		strcpy(cs->key_type, "int64");
	cs->key_raw = cli_type_raw(cs->key_type);
	cs->value_raw = cli_type_raw(cs->value_type);
	cs->typed = cs->array || strcmp(cs->key_type, "bytes") ||
		    strcmp(cs->value_type, "bytes");
	l->schema.kind = cs->array ? SHMTAB_KIND_ARRAY : SHMTAB_KIND_HASH;
	l->schema.key_type = cs->array ? NULL : cs->key_type;
	l->schema.value_type = cs->value_type;
	if (!l->dtext_set)
		return 0;
	err = shmtab_parse(cs->value_type, l->dtext.key, l->dtext.klen, &enc,
			   &elen);
	if (!err && elen > SHMTAB_DEFAULT_MAX)
		err = -E2BIG;
	if (!err)
		err = shmtab_decode(cs->value_type, enc, elen, &l->dflt);
	free(enc);
	if (err < 0) {
		char *show = cli_show(l->dtext.key, l->dtext.klen);

		l->line = l->dline;
		load_bad(l, "bad default '%s': not a valid %s%s", show,
			 cs->value_type, err == -E2BIG ? " (too long)" : "");
		free(show);
		return -EINVAL;
	}
	l->schema.dflt = l->dflt;
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
			if (!strcmp(s, "data")) {
				err = load_schema(l);
				state = DATA;
			} else
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
	free(l->dtext.key);
	free(l->dflt);
}

/* How a schema reads in a message. */
static void load_describe(char *buf, size_t cap, const struct cli_schema *cs)
{
	if (cs->array)
		snprintf(buf, cap, "an array of %s", cs->value_type);
	else if (!cs->typed)
		snprintf(buf, cap, "untyped");
	else
		snprintf(buf, cap, "%s -> %s", cs->key_type, cs->value_type);
}

/* Why the existing table does not take the dump: its schema differs. */
static int load_mismatch(struct load *l, const char *name)
{
	struct cli_schema cs;
	char mine[2 * CLI_TYPE_NAME_MAX + 16], theirs[sizeof(mine)];
	shmtab *t = NULL;
	int rc;

	rc = cli_open_schema(name, O_RDONLY, &t, &cs);
	if (rc)
		return rc;
	load_describe(mine, sizeof(mine), &l->cs);
	load_describe(theirs, sizeof(theirs), &cs);
	if (!strcmp(mine, theirs))	/* only the defaults differ */
		snprintf(theirs + strlen(theirs), sizeof(theirs) -
			 strlen(theirs), " with another default");
	msg_error("cannot load into '%s': the table is %s, the dump %s",
		  name, theirs, mine);
	cli_schema_free(&cs);
	shmtab_close(t);
	return EXIT_FAIL;
}

/*
 * Open the table; create it with the dump's options and schema when
 * absent.  An existing table must have the dump's schema; with trunc it is
 * emptied.  An array ends at least as long as the dump's (exactly, when
 * created or emptied).
 */
static int load_open(struct load *l, const char *name, bool trunc,
		     shmtab **t)
{
	bool made = false;
	long long len;
	int err = -ENOENT;

	*t = NULL;
	for (int i = 0; i < 10 && err == -ENOENT; i++) {
		err = shmtab_open_typed(name, O_RDWR, 0, NULL, &l->schema, t);
		if (err == -ENOENT) {
			err = shmtab_open_typed(name,
						O_RDWR | O_CREAT | O_EXCL,
						0666, &l->opt, &l->schema, t);
			made = !err;
		}
		if (err == -EEXIST)	/* created meanwhile: open that */
			err = -ENOENT;
	}
	if (err == -EINVAL)
		return load_mismatch(l, name);
	if (!err && trunc && !made) {
		/* the schema matched; emptying keeps it, with the page size
		 * and the locking method */
		shmtab_close(*t);
		*t = NULL;
		err = shmtab_open_typed(name, O_RDWR | O_TRUNC, 0, NULL,
					&l->schema, t);
		made = true;
	}
	if (err < 0)
		return msg_fail(err, "cannot open '%s'", name);
	if (!l->cs.array)
		return 0;
	len = shmtab_array_length(*t);
	err = len < 0 ? (int)len : 0;
	if (!err && (made ? len != l->length : len < l->length))
		err = shmtab_array_resize(*t, l->length);
	if (err < 0) {
		shmtab_close(*t);
		return msg_fail(err, "cannot give '%s' length %lld", name,
				(long long)l->length);
	}
	return 0;
}

int cmd_load_from(const char *name, FILE *in, bool trunc)
{
	struct load l = { 0 };
	shmtab *t;
	int rc, err;

	err = load_parse(&l, in);
	if (err < 0) {
		msg_error("cannot load '%s': %s", name, l.why);
		load_free(&l);
		return EXIT_FAIL;
	}
	rc = load_open(&l, name, trunc, &t);
	if (rc) {
		load_free(&l);
		return rc;
	}
	for (size_t i = 0; i < l.nkeys; i++) {
		struct load_key *k = &l.keys[i];

		for (size_t j = 0; j < k->nvals; j++) {
			if (l.cs.array)
				err = shmtab_array_set(
					t, cli_index(k->key.key, k->key.klen),
					k->vals[j].key, k->vals[j].klen);
			else
				err = shmtab_add(t, k->key.key, k->key.klen,
						 k->vals[j].key,
						 k->vals[j].klen);
			if (err < 0) {
				char *text = NULL, *ks;
				size_t n;

				if (!l.cs.key_raw &&
				    !cli_text(l.cs.key_type, k->key.key,
					      k->key.klen, &text, &n))
					ks = cli_key_text(text, n);
				else
					ks = cli_key_text(k->key.key,
							  k->key.klen);
				free(text);

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

static int load_run(struct cmd_args *a)
{
	return cmd_load_from(a->argv[0], stdin, a->opt['t'] != NULL);
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
