/* SPDX-License-Identifier: MIT */
/*
 * cmd-stat.c - shmtab stat: types, sizes, counts, locking and holders of a
 * table
 */
#include <inttypes.h>
#include <stdlib.h>

#include "cmd.h"

static int stat_run(struct cmd_args *a)
{
	const char *name = a->argv[0];
	struct shmtab_stat st;
	struct cli_schema cs;
	long long len = 0;
	char *dflt = NULL;
	size_t dlen;
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
	if (!err && cs.array)
		err = cli_text(cs.value_type, cs.dflt, cs.dlen, &dflt, &dlen);
	cli_schema_free(&cs);
	if (err < 0) {
		rc = msg_fail(err, "cannot stat '%s'", name);
		shmtab_close(t);
		return rc;
	}
	printf("name: %s\n", shmtab_name(t));
	printf("format version: %" PRIu32 "\n", st.version);
	printf("page size: %" PRIu32 "\n", st.pagesize);
	printf("locking: %s\n", cli_lock_name(st.lock));
	printf("kind: %s\n", cs.array ? "array" : "hash");
	printf("key type: %s\n", cs.key_type);
	printf("value type: %s\n", cs.value_type);
	if (cs.array) {
		printf("length: %lld\n", len);
		printf("default: ");
		fwrite(dflt, 1, dlen, stdout);
		putchar('\n');
		free(dflt);
	}
	printf("bindings: %" PRIu64 "\n", st.bindings);
	printf("keys: %" PRIu64 "\n", st.keys);
	printf("size: %" PRIu64 "\n", st.size);
	printf("used: %" PRIu64 "\n", st.used);
	printf("free: %" PRIu64 "\n", st.free);
	printf("index cells: %" PRIu64 "\n", st.index_cells);
	printf("holders: %" PRIu32 "\n", st.holders);
	printf("dead holders: %" PRIu32 "\n", st.dead_holders);
	printf("changes: %" PRIu64 "\n", st.changes);
	printf("recoveries: %" PRIu64 "\n", st.recoveries);
	return cli_close(t);
}

const struct shmtab_cmd cmd_stat = {
	.name = "stat",
	.usage = "NAME",
	.summary = "show types, counts, sizes, locking and holders",
	.optstring = "",
	.min_args = 1,
	.max_args = 1,
	.run = stat_run,
};
