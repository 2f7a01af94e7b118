/* SPDX-License-Identifier: MIT */
/* dump.c - shmtab_dump (the layout, for people) and shmtab_stat */
#include <ctype.h>
#include <inttypes.h>

#include "shmtab-private.h"

static void dump_bytes(FILE *out, const uint8_t *p, uint64_t n, uint64_t max)
{
	putc('"', out);
	for (uint64_t i = 0; i < n && i < max; i++) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(out, "\\%c", p[i]);
		else if (isprint(p[i]))
			putc(p[i], out);
		else
			fprintf(out, "\\x%02x", p[i]);
	}
	putc('"', out);
	if (n > max)
		fprintf(out, "...");
}

static int dump_binding(const void *key, size_t klen, const void *val,
			size_t vlen, void *ctx)
{
	FILE *out = ctx;

	fputs("  ", out);
	dump_bytes(out, key, klen, 64);
	fprintf(out, " -> (%zu) ", vlen);
	dump_bytes(out, val, vlen, 64);
	putc('\n', out);
	return 0;
}

SHMTAB_EXPORT int shmtab_dump(shmtab *t, FILE *out)
{
	struct shmtab_stat st;
	int err;

	if (!out)
		return -EINVAL;
	err = shmtab_stat(t, &st);
	if (err < 0)
		return err;
	fprintf(out, "table %s\n", t->name);
	fprintf(out, "  format %u, page size %u, lock %d, size %" PRIu64
		", used %" PRIu64 ", free %" PRIu64 "\n",
		st.version, st.pagesize, (int)st.lock, st.size, st.used,
		st.free);
	fprintf(out, "  %" PRIu64 " bindings, %" PRIu64 " keys, %" PRIu64
		" index cells, %" PRIu64 " changes, %" PRIu64 " recoveries\n",
		st.bindings, st.keys, st.index_cells, st.changes,
		st.recoveries);
	if (schema_sync(t) == 0 && t->sc.kind == KIND_ARRAY)
		fprintf(out, "  array of %s, length %llu, default (%zu) ",
			t->sc.vname,
			(unsigned long long)ld64(&t->hdr->arr_len), t->sc.dlen);
	else if (t->sc.valid)
		fprintf(out, "  keys %s, values %s", t->sc.kname, t->sc.vname);
	if (t->sc.valid && t->sc.kind == KIND_ARRAY)
		dump_bytes(out, t->sc.dflt, t->sc.dlen, 64);
	if (t->sc.valid)
		putc('\n', out);
	fprintf(out, "bindings (per key newest first):\n");
	err = shmtab_iter(t, dump_binding, out);
	return err < 0 ? err : 0;
}

SHMTAB_EXPORT int shmtab_stat(shmtab *t, struct shmtab_stat *st)
{
	struct shm_header *H;

	if (!t || !t->hdr || t->fd < 0)
		return -EBADF;
	if (!st)
		return -EINVAL;
	H = t->hdr;
	memset(st, 0, sizeof(*st));
	st->bindings = __atomic_load_n(&H->nbindings, __ATOMIC_ACQUIRE);
	st->keys = ld64(&H->nkeys);
	st->size = ld64(&H->size);
	st->free = ld64(&H->free_bytes);
	st->used = ld64(&H->top) - HDR_SIZE;
	st->used = st->used > st->free ? st->used - st->free : 0;
	st->index_cells = ld64(&H->index_cells);
	st->pagesize = ld32(&H->pagesize);
	st->version = ld32(&H->version);
	st->lock = (enum shmtab_lock)ld32(&H->lock);
	st->changes = ld64(&H->changes);
	st->recoveries = ld64(&H->recoveries);
	for (unsigned i = 0; i < NSLOTS; i++) {
		uint32_t pid = ld32(&H->slots[i].pid);

		if (!pid)
			continue;
		st->holders++;
		if (slot_dead(t, i, pid))
			st->dead_holders++;
	}
	return 0;
}
