/* SPDX-License-Identifier: MIT */
/*
 * fs-longs.c - which key a long name stands for, remembered per table
 *
 * A key whose escape does not fit in a file name is named by a prefix of it
 * and a digest (escape.h): the name does not give the key back, and only a
 * walk of the table's keys finds it.  A walk per LOOKUP made `ls -l` of a
 * table with many such keys quadratic, and held the table's mutex for the
 * whole walk.  So each table keeps the long names it has seen, from
 * readdir's walk and from a walk that a name not seen yet makes:
 *
 *  - a name found here stands for its key for ever (the digest is the key's
 *    own), but the key may have been removed since: unless nothing changed
 *    in the table since the last walk, the key is looked up once more;
 *  - a name not found here, when the table's change counter has not moved
 *    since a walk that saw every long name, is no key's name (every change
 *    moves the counter): no second walk for it;
 *  - otherwise one walk notes every long name of the table.
 *
 * The entries are valid for one way of naming keys (the key type, for
 * typed tables): a table whose key type changed starts over.  They are
 * bounded (FS_LONGS_MAX_BYTES); past that, the table starts over too.
 * Everything here runs under the table's mutex (tb->mu).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "fs.h"

#define FS_LONGS_MAX_BYTES ((size_t)32 << 20)

struct fs_long {
	struct fs_long *next;
	uint64_t h;
	size_t klen;			/* over FS_KEY_CAP: no bytes kept */
	char name[SHMTAB_ESCAPE_NAME_MAX + 1];
	unsigned char key[];
};

/* The bytes an entry keeps of a key of klen bytes: no caller takes a key
 * longer than FS_KEY_CAP (it gets ENAMETOOLONG, see shmtabfs(1) BUGS). */
static size_t kept(size_t klen)
{
	return klen > FS_KEY_CAP ? 0 : klen;
}

struct fs_longs {
	struct fs_long **b;
	size_t nb, n, bytes;
	bool typed;			/* names of the key type's text */
	char ktype[FS_TYPE_NAME_MAX];
	bool walked;			/* every long name at walk_counter */
	uint64_t walk_counter;
	uint64_t clears;		/* times everything was dropped */
};

static uint64_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 0x100000001b3ull;
	return h;
}

static void longs_clear(struct fs_longs *lc)
{
	for (size_t i = 0; i < lc->nb; i++) {
		struct fs_long *e = lc->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
		lc->b[i] = NULL;
	}
	lc->n = 0;
	lc->bytes = 0;
	lc->walked = false;
	lc->clears++;
}

void fs_longs_free(struct fs_table *tb)
{
	if (!tb->longs)
		return;
	longs_clear(tb->longs);
	free(tb->longs->b);
	free(tb->longs);
	tb->longs = NULL;
}

/* The table's entries, made for the naming of ty; NULL: out of memory. */
static struct fs_longs *longs_get(struct fs_table *tb,
				  const struct fs_types *ty)
{
	struct fs_longs *lc = tb->longs;
	bool typed = ty->typed && !ty->kplain;

	if (!lc) {
		lc = calloc(1, sizeof(*lc));
		if (!lc)
			return NULL;
		lc->nb = 64;
		lc->b = calloc(lc->nb, sizeof(*lc->b));
		if (!lc->b) {
			free(lc);
			return NULL;
		}
		tb->longs = lc;
	} else if (lc->typed != typed ||
		   (typed && strcmp(lc->ktype, ty->ktype) != 0)) {
		longs_clear(lc);
	}
	lc->typed = typed;
	if (typed)
		memcpy(lc->ktype, ty->ktype, sizeof(lc->ktype));
	return lc;
}

static struct fs_long **longs_slot(struct fs_longs *lc, const char *name,
				   uint64_t h)
{
	struct fs_long **p = &lc->b[h & (lc->nb - 1)];

	for (; *p; p = &(*p)->next)
		if ((*p)->h == h && !strcmp((*p)->name, name))
			break;
	return p;
}

static void longs_grow(struct fs_longs *lc)
{
	size_t nb = lc->nb * 2;
	struct fs_long **b = calloc(nb, sizeof(*b));

	if (!b)
		return;		/* longer chains, still correct */
	for (size_t i = 0; i < lc->nb; i++) {
		struct fs_long *e = lc->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->h & (nb - 1)];
			b[e->h & (nb - 1)] = e;
		}
	}
	free(lc->b);
	lc->b = b;
	lc->nb = nb;
}

/* Remember that name stands for key; false when it could not (memory, or
 * the bound, which drops everything first). */
static bool longs_put(struct fs_longs *lc, const char *name, const void *key,
		      size_t klen)
{
	uint64_t h = name_hash(name);
	size_t len = strlen(name), sz = sizeof(struct fs_long) + kept(klen);
	struct fs_long **p, *e;

	if (len > SHMTAB_ESCAPE_NAME_MAX)
		return false;
	p = longs_slot(lc, name, h);
	if (*p)
		return true;	/* the same key: the name is its digest's */
	if (lc->bytes + sz > FS_LONGS_MAX_BYTES) {
		longs_clear(lc);
		p = longs_slot(lc, name, h);
	}
	e = malloc(sz);
	if (!e)
		return false;
	e->h = h;
	e->klen = klen;
	memcpy(e->name, name, len + 1);
	if (kept(klen))
		memcpy(e->key, key, klen);
	e->next = NULL;
	*p = e;
	lc->n++;
	lc->bytes += sz;
	if (lc->n > lc->nb)
		longs_grow(lc);
	return true;
}

void fs_longs_note(struct fs_table *tb, const struct fs_types *ty,
		   const char *name, const void *key, size_t klen)
{
	struct fs_longs *lc = longs_get(tb, ty);

	if (lc)
		longs_put(lc, name, key, klen);
}

struct walk_ctx {
	struct fs_longs *lc;
	const char *name;		/* the one asked for */
	unsigned char *key;
	size_t cap, klen;
	int found;			/* 1, or -ENAMETOOLONG */
	bool whole;			/* every name seen was kept */
};

static int walk_one(const char *name, const void *key, size_t klen,
		    void *ctx)
{
	struct walk_ctx *c = ctx;
	uint64_t clears = c->lc->clears;

	if (!longs_put(c->lc, name, key, klen) || c->lc->clears != clears)
		c->whole = false;
	if (!c->found && !strcmp(name, c->name)) {
		if (klen > c->cap) {
			c->found = -ENAMETOOLONG;
		} else {
			memcpy(c->key, key, klen);
			c->klen = klen;
			c->found = 1;
		}
	}
	return 0;
}

static int entry_key(const struct fs_long *e, unsigned char *key, size_t cap,
		     size_t *klen)
{
	if (e->klen > cap || kept(e->klen) != e->klen)
		return -ENAMETOOLONG;
	memcpy(key, e->key, e->klen);
	*klen = e->klen;
	return 0;
}

int fs_longs_find(struct fs_table *tb, const struct fs_types *ty,
		  const char *name, unsigned char *key, size_t cap,
		  size_t *klen)
{
	struct fs_longs *lc = longs_get(tb, ty);
	struct walk_ctx c = { lc, name, key, cap, 0, 0, true };
	struct fs_long *e;
	uint64_t now;
	int err;

	if (!lc)
		return -ENOMEM;
	now = shmtab_counter(tb->t);
	e = *longs_slot(lc, name, name_hash(name));
	if (e) {
		if (lc->walked && lc->walk_counter == now)
			return entry_key(e, key, cap, klen);
		/* a key too long to keep is looked for again by a walk */
		err = kept(e->klen) == e->klen ?
			      fs_key_exists(tb->t, ty, e->key, e->klen) : 0;
		if (err < 0)
			return err;
		if (err > 0)
			return entry_key(e, key, cap, klen);
		/* removed since, or too long: the walk below starts over */
	} else if (lc->walked && lc->walk_counter == now) {
		return -ENOENT;
	}
	/* start over (entries of keys removed since go), and walk from the
	 * counter read before it: a key added during the walk may be missed,
	 * but it moved the counter, so the next miss walks again */
	longs_clear(lc);
	err = shmtab_long_names(tb->t, lc->typed ? lc->ktype : NULL, walk_one,
				&c);
	if (err < 0)
		return err;
	if (c.whole) {
		lc->walked = true;
		lc->walk_counter = now;
	}
	if (c.found < 0)
		return c.found;
	if (!c.found)
		return -ENOENT;
	*klen = c.klen;
	return 0;
}
