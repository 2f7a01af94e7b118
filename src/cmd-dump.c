/* SPDX-License-Identifier: MIT */
/*
 * cmd-dump.c - shmtab dump: every binding as portable text (read back by
 * shmtab load; the format is in doc/FORMAT.md, "Dump text format")
 *
 * Keys are written sorted by their bytes and each key's bindings oldest
 * first, so that the dump of a table depends only on its bindings and
 * options, never on its hash seed: load then dump is byte-identical.
 */
#include <stdlib.h>

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

static void dump_line(FILE *out, char tag, const void *p, size_t n)
{
	putc(tag, out);
	if (n) {
		putc(' ', out);
		dump_bytes(out, p, n);
	}
	putc('\n', out);
}

static int dump_run(struct cmd_args *a)
{
	const char *name = a->argv[0];
	unsigned long long nkeys = 0, nbindings = 0;
	struct shmtab_stat st;
	struct cli_keys ks;
	shmtab *t;
	int rc, err;

	rc = cli_open(name, O_RDONLY, NULL, &t);
	if (rc)
		return rc;
	err = shmtab_stat(t, &st);
	if (err < 0) {
		shmtab_close(t);
		return msg_fail(err, "cannot stat '%s'", name);
	}
	err = cli_keys_collect(t, &ks);
	if (err < 0)
		goto out_fail;
	printf("%s %d\n", DUMP_MAGIC, DUMP_VERSION);
	printf("pagesize %u\n", (unsigned)st.pagesize);
	printf("lock %s\n", cli_lock_name(st.lock));
	printf("data\n");
	for (size_t i = 0; i < ks.n; i++) {
		struct cli_bindings bs;

		err = cli_bindings_collect(t, ks.v[i].key, ks.v[i].klen, &bs);
		if (err < 0) {
			cli_bindings_free(&bs);
			goto out_fail;
		}
		if (bs.n) {		/* gone since the keys were listed */
			dump_line(stdout, 'k', ks.v[i].key, ks.v[i].klen);
			for (size_t j = bs.n; j-- > 0;)
				dump_line(stdout, 'v', bs.v[j].key,
					  bs.v[j].klen);
			nkeys++;
			nbindings += bs.n;
		}
		cli_bindings_free(&bs);
	}
	printf("end %llu %llu\n", nkeys, nbindings);
	cli_keys_free(&ks);
	shmtab_close(t);
	return 0;
out_fail:
	cli_keys_free(&ks);
	shmtab_close(t);
	return msg_fail(err, "cannot dump '%s'", name);
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
