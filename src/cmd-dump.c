/* SPDX-License-Identifier: MIT */
/*
 * cmd-dump.c - shmtab dump: every binding as portable text (read back by
 * shmtab load; the format is in doc/FORMAT.md, "Dump text format")
 *
 * Keys are written sorted by their bytes (a typed table: by their values)
 * and each key's bindings oldest first, so that the dump of a table depends
 * only on its bindings, options and schema, never on its hash seed: load
 * then dump is byte-identical.  A typed table's keys and values are written
 * in their text form (shmtab_format, without the newline it adds to an
 * integer or a pair), escaped like any bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/* Bytes 0x21-0x7e stand for themselves, '\' is "\\", the rest "\xx". */
static void dump_bytes(FILE *out, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c == '\\') {
			putc('\\', out);
			putc('\\', out);
		} else if (c > 0x20 && c < 0x7f) {
			putc(c, out);
		} else {
			putc('\\', out);
			putc(hex[c >> 4], out);
			putc(hex[c & 15], out);
		}
	}
}

static void dump_line(FILE *out, const char *tag, const void *p, size_t n)
{
	fputs(tag, out);
	if (n) {
		putc(' ', out);
		dump_bytes(out, p, n);
	}
	putc('\n', out);
}

/* A line of a typed table: the text form of p, escaped. */
static int dump_text_line(FILE *out, const char *tag, const char *type,
			  const void *p, size_t n)
{
	char *text;
	size_t tlen;
	int err = cli_text(type, p, n, &text, &tlen);

	if (err < 0)
		return err;
	dump_line(out, tag, text, tlen);
	free(text);
	return 0;
}

/* The header lines of the schema: none for an untyped table. */
static int dump_schema(FILE *out, const struct cli_schema *cs, long long len)
{
	if (cs->array)
		fprintf(out, "array %lld\n", len);
	else if (strcmp(cs->key_type, "bytes"))
		fprintf(out, "key-type %s\n", cs->key_type);
	if (strcmp(cs->value_type, "bytes"))
		fprintf(out, "value-type %s\n", cs->value_type);
	if (cs->array)
		return dump_text_line(out, "default", cs->value_type, cs->dflt,
				      cs->dlen);
	return 0;
}

int cmd_dump_to(const char *name, FILE *out)
{
	unsigned long long nkeys = 0, nbindings = 0;
	struct shmtab_stat st;
	struct cli_schema cs;
	struct cli_keys ks = { 0 };
	long long len = 0;
	shmtab *t;
	int rc, err;

	rc = cli_open_schema(name, O_RDONLY, &t, &cs);
	if (rc)
		return rc;
	err = shmtab_stat(t, &st);
	if (!err && cs.array) {
		len = shmtab_array_length(t);
		err = len < 0 ? (int)len : 0;
	}
	if (!err)
		err = cli_keys_collect_typed(t, &cs, &ks);
	if (err < 0)
		goto out_fail;
	fprintf(out, "%s %d\n", DUMP_MAGIC, DUMP_VERSION);
	fprintf(out, "pagesize %u\n", (unsigned)st.pagesize);
	fprintf(out, "lock %s\n", cli_lock_name(st.lock));
	err = dump_schema(out, &cs, len);
	if (err < 0)
		goto out_fail;
	fprintf(out, "data\n");
	for (size_t i = 0; i < ks.n; i++) {
		struct cli_bindings bs;

		/* an element past a length that shrank since it was read */
		if (cs.array && cli_index(ks.v[i].key, ks.v[i].klen) >= len)
			continue;
		err = cli_bindings_collect(t, ks.v[i].key, ks.v[i].klen, &bs);
		if (err < 0) {
			cli_bindings_free(&bs);
			goto out_fail;
		}
		if (bs.n && !cs.typed) {	/* else gone meanwhile */
			dump_line(out, "k", ks.v[i].key, ks.v[i].klen);
			for (size_t j = bs.n; j-- > 0;)
				dump_line(out, "v", bs.v[j].key,
					  bs.v[j].klen);
		} else if (bs.n) {
			err = dump_text_line(out, "k", cs.key_type,
					     ks.v[i].key, ks.v[i].klen);
			for (size_t j = bs.n; j-- > 0 && !err;)
				err = dump_text_line(out, "v", cs.value_type,
						     bs.v[j].key, bs.v[j].klen);
		}
		nkeys += bs.n > 0;
		nbindings += bs.n;
		cli_bindings_free(&bs);
		if (err < 0)
			goto out_fail;
	}
	fprintf(out, "end %llu %llu\n", nkeys, nbindings);
	cli_keys_free(&ks);
	cli_schema_free(&cs);
	shmtab_close(t);
	return 0;
out_fail:
	cli_keys_free(&ks);
	cli_schema_free(&cs);
	shmtab_close(t);
	return msg_fail(err, "cannot dump '%s'", name);
}

static int dump_run(struct cmd_args *a)
{
	return cmd_dump_to(a->argv[0], stdout);
}

const struct shmtab_cmd cmd_dump = {
	.name = "dump",
	.usage = "NAME",
	.summary = "write every binding as portable text (read by load)",
	.optstring = "",
	.min_args = 1,
	.max_args = 1,
	.run = dump_run,
};
