/* SPDX-License-Identifier: MIT */
/*
 * torture.c - random operations by processes that are SIGKILLed at random.
 *
 * W worker processes (slots) run random add, replace, remove, find,
 * find_all, read-modify-write groups and write_blocks on two tables (one
 * with the default locking, one with SHMTAB_LOCK_RECORD) while the
 * controller SIGKILLs a random worker every few milliseconds and starts a
 * new one in its slot.
 *
 * Keys:
 *  - "o<slot>-<k>": owned by one slot; its exact stack of bindings is kept
 *    in the slot's model, in shared anonymous memory.  A model is double
 *    buffered: an operation writes an intent, calls the library, writes the
 *    new model into the spare buffer and flips the buffer index (one store),
 *    so a kill at any instruction leaves either the old model or the new
 *    one, plus the intent.  The worker that takes over a slot resolves the
 *    intent against the table (the old or the new stack, nothing else).
 *  - "s-<k>": shared by everybody; only the values' integrity is checked.
 *  - "c-<k>": counters, changed only by groups (read, then one replace).
 *    A counter's value holds its total and, per slot, the sequence number
 *    of that slot's last increment, so the takeover knows whether the
 *    killed worker's increment landed.  At the end every total equals the
 *    sum of the acknowledged increments.
 * Every value carries its key, its length and a 64-bit checksum.
 *
 * At the end: shmtab_check passes on both tables, every value is whole, no
 * acknowledged write is lost, the counters are exact.  Prints
 *   torture: S s, W workers, O operations, K kills survived, I inconsistencies
 * and exits 1 when I is not 0.
 *
 * Workers are killed anywhere, also inside groups and visitors, and every
 * error a call returns (-EBADMSG included) is an inconsistency.
 *
 * Options: --seconds N (or $SHMTAB_TORTURE_SECONDS, default 20),
 * --workers N (or $SHMTAB_TORTURE_WORKERS, default 4), --seed N (or
 * $SHMTAB_TORTURE_SEED).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmtab.h"
#include "testutil.h"

#define MAXSLOTS 16
#define NTAB 2
#define NOWN 12		/* owned keys per slot and table */
#define MAXD 6		/* deepest owned stack */
#define NSHARED 24	/* shared keys per table */
#define SHMAXD 4
#define NCTR 3		/* counters per table */
#define MAGIC 0x74727475u /* "utrt" */

enum kind { K_OWNED = 1, K_SHARED, K_CTR };
enum op { OP_NONE, OP_ADD, OP_REPLACE, OP_REMOVE, OP_GROUP, OP_WBLOCKS,
	  OP_WBREMOVE };

/* Value layout: header, payload, fnv64 of everything before it. */
struct vhdr {
	uint32_t magic;
	uint32_t kind;
	uint32_t keyid;		/* slot << 16 | table << 8 | k, or k */
	uint32_t len;		/* whole value */
	uint64_t seq;
};
#define VOVERHEAD (sizeof(struct vhdr) + 8)

/* A stack entry: seq << 24 | len, one store. */
#define ENT(seq, len) (((uint64_t)(seq) << 24) | (uint64_t)(len))
#define ENT_SEQ(e) ((e) >> 24)
#define ENT_LEN(e) ((uint32_t)((e) & 0xffffff))

struct model {
	uint64_t stack[NTAB][NOWN][MAXD];	/* oldest first */
	uint32_t depth[NTAB][NOWN];
	uint64_t ctr_sum[NTAB][NCTR];		/* acknowledged increments */
	uint64_t ctr_lastq[NTAB][NCTR];		/* last acknowledged q */
};

struct intent {
	uint32_t op, tab, key, pos;
	uint64_t ent;				/* new entry */
	uint64_t q;				/* group sequence number */
	uint64_t inc;
};

struct slot {
	struct model m[2];
	volatile uint32_t cur;
	struct intent in;
	volatile uint32_t active;		/* the intent is live */
	volatile uint64_t next_seq;		/* value and group sequence */
	volatile uint64_t ops;
	volatile uint32_t generation;
};

struct shared {
	volatile uint32_t stop;
	volatile uint64_t inconsistencies;
	volatile uint64_t torn;		/* in-place writes cut by a kill */
	volatile uint64_t deadlocks;
	struct slot slot[MAXSLOTS];
};

static struct shared *sh;
static uint32_t base_seed;
static char *names[NTAB];
static int nslots = 4;

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
	va_list ap;

	__atomic_fetch_add(&sh->inconsistencies, 1, __ATOMIC_SEQ_CST);
	va_start(ap, fmt);
	fprintf(stderr, "torture[%d]: INCONSISTENCY: ", (int)getpid());
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint32_t rnd_state;
static uint32_t rnd(void)
{
	return tu_xorshift32(&rnd_state);
}

static void barrier(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* ---- values ---------------------------------------------------------- */

static uint32_t owned_id(int slot, int tab, int k)
{
	return (uint32_t)slot << 16 | (uint32_t)tab << 8 | (uint32_t)k;
}

static size_t keyname(char *buf, enum kind kind, uint32_t id)
{
	switch (kind) {
	case K_OWNED:
		return (size_t)sprintf(buf, "o%u-%u", id >> 16, id & 0xff);
	case K_SHARED:
		return (size_t)sprintf(buf, "s-%u", id);
	default:
		return (size_t)sprintf(buf, "c-%u", id);
	}
}

static uint32_t pick_len(void)
{
	uint32_t r = rnd() % 100;

	if (r < 70)
		return VOVERHEAD + rnd() % 200;
	if (r < 97)
		return VOVERHEAD + rnd() % 2000;
	return VOVERHEAD + rnd() % 20000;
}

/* The value of (kind, id, seq) with length len: fully determined. */
static void make_value(unsigned char *v, enum kind kind, uint32_t id,
		       uint64_t seq, uint32_t len)
{
	struct vhdr h = { MAGIC, kind, id, len, seq };
	uint64_t sum;

	memcpy(v, &h, sizeof(h));
	tu_fill(v + sizeof(h), len - VOVERHEAD,
		(uint32_t)(seq * 2654435761u) ^ id);
	sum = tu_fnv64(v, len - 8);
	memcpy(v + len - 8, &sum, 8);
}

/* 0 when v is a whole value of (kind, id); its header in *h. */
static int check_value(const void *v, size_t len, enum kind kind, uint32_t id,
		       struct vhdr *h)
{
	uint64_t sum;

	if (len < VOVERHEAD)
		return -1;
	memcpy(h, v, sizeof(*h));
	if (h->magic != MAGIC || h->kind != kind || h->keyid != id ||
	    h->len != len)
		return -1;
	memcpy(&sum, (const char *)v + len - 8, 8);
	return sum == tu_fnv64(v, len - 8) ? 0 : -1;
}

/* Counters: header, total, per-slot last q, checksum. */
#define CTR_LEN (sizeof(struct vhdr) + 8 + 8 * MAXSLOTS + 8)
struct ctr {
	uint64_t total;
	uint64_t lastq[MAXSLOTS];
};

static void make_ctr(unsigned char *v, uint32_t k, const struct ctr *c)
{
	struct vhdr h = { MAGIC, K_CTR, k, CTR_LEN, 0 };
	uint64_t sum;

	memcpy(v, &h, sizeof(h));
	memcpy(v + sizeof(h), c, sizeof(*c));
	sum = tu_fnv64(v, CTR_LEN - 8);
	memcpy(v + CTR_LEN - 8, &sum, 8);
}

static int parse_ctr(const void *v, size_t len, uint32_t k, struct ctr *c)
{
	struct vhdr h;

	if (check_value(v, len, K_CTR, k, &h) || len != CTR_LEN)
		return -1;
	memcpy(c, (const char *)v + sizeof(h), sizeof(*c));
	return 0;
}

/* ---- reading stacks ----------------------------------------------------- */

struct stack_ctx {
	enum kind kind;
	uint32_t id;
	uint64_t ent[64];	/* newest first; 0 for a broken value */
	int n;
};

static int stack_fn(const void *key, size_t klen, const void *val,
		    size_t vlen, void *ctx)
{
	struct stack_ctx *s = ctx;
	struct vhdr h;

	(void)key;
	(void)klen;
	if (s->n == 64)
		return 1;
	if (check_value(val, vlen, s->kind, s->id, &h))
		s->ent[s->n++] = 0;
	else
		s->ent[s->n++] = ENT(h.seq, vlen);
	return 0;
}

/* The stack of an owned or shared key, newest first; <0 on error. */
static int read_stack(shmtab *t, enum kind kind, uint32_t id,
		      struct stack_ctx *s)
{
	char k[32];
	size_t kl = keyname(k, kind, id);
	int rc;

	s->kind = kind;
	s->id = id;
	s->n = 0;
	rc = shmtab_find_all(t, k, kl, stack_fn, s);
	return rc < 0 ? rc : 0;
}

static bool stack_equals(const struct stack_ctx *s, const struct model *m,
			 int tab, int k)
{
	uint32_t i, d = m->depth[tab][k];

	if ((uint32_t)s->n != d)
		return false;
	for (i = 0; i < d; i++)
		if (s->ent[i] != m->stack[tab][k][d - 1 - i])
			return false;
	return true;
}

static void apply(struct model *m, const struct intent *in)
{
	uint64_t *st = m->stack[in->tab][in->key];
	uint32_t *d = &m->depth[in->tab][in->key];
	uint32_t i;

	switch (in->op) {
	case OP_ADD:
		st[(*d)++] = in->ent;
		break;
	case OP_REPLACE:
	case OP_WBLOCKS:
		if (*d == 0)
			st[(*d)++] = in->ent;
		else
			st[*d - 1] = in->ent;
		break;
	case OP_REMOVE:
		if (*d)
			(*d)--;
		break;
	case OP_WBREMOVE: /* pos counts from the newest */
		if (in->pos < *d) {
			for (i = *d - 1 - in->pos; i + 1 < *d; i++)
				st[i] = st[i + 1];
			(*d)--;
		}
		break;
	case OP_GROUP:
		m->ctr_sum[in->tab][in->key] += in->inc;
		m->ctr_lastq[in->tab][in->key] = in->q;
		break;
	}
}

/* Commit the live intent into the slot's model: one store flips it. */
static void commit(struct slot *sl)
{
	uint32_t c = sl->cur;

	sl->m[1 - c] = sl->m[c];
	apply(&sl->m[1 - c], &sl->in);
	barrier();
	sl->cur = 1 - c;
	barrier();
	sl->active = 0;
	barrier();
}

static void begin(struct slot *sl, const struct intent *in)
{
	sl->in = *in;
	barrier();
	sl->active = 1;
	barrier();
}

static void print_stack(const char *what, const struct stack_ctx *s,
			const struct model *m, int tab, int k)
{
	int i;

	fprintf(stderr, "  %s: table %d key %d: actual", what, tab, k);
	for (i = 0; i < s->n; i++)
		fprintf(stderr, " %" PRIx64, s->ent[i]);
	fprintf(stderr, "; model (newest first)");
	for (i = (int)m->depth[tab][k] - 1; i >= 0; i--)
		fprintf(stderr, " %" PRIx64, m->stack[tab][k][i]);
	fputc('\n', stderr);
}

static int read_ctr(shmtab *t, uint32_t k, struct ctr *c)
{
	char key[32];
	size_t kl = keyname(key, K_CTR, k);
	void *v;
	size_t vl;
	int rc = shmtab_find(t, key, kl, &v, &vl);

	memset(c, 0, sizeof(*c));
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	rc = parse_ctr(v, vl, k, c) ? -EBADMSG : 0;
	free(v);
	return rc;
}

/*
 * Take over a slot whose worker died: resolve its live intent against the
 * table, then verify every owned key against the model.
 */
static void resolve(struct slot *sl, int slot, shmtab **t, bool repair)
{
	struct model *m = &sl->m[sl->cur];
	struct stack_ctx s;
	int tab, k, rc;

	if (sl->active) {
		struct intent in = sl->in;

		if (in.op == OP_GROUP) {
			struct ctr c;

			rc = read_ctr(t[in.tab], in.key, &c);
			if (rc < 0) {
				bad("slot %d: counter %u unreadable: %s", slot,
				    in.key, shmtab_strerror(rc));
			} else if (m->ctr_lastq[in.tab][in.key] == in.q) {
				sl->active = 0; /* committed already */
			} else if (c.lastq[slot] == in.q) {
				commit(sl);
			} else if (c.lastq[slot] ==
				   m->ctr_lastq[in.tab][in.key]) {
				sl->active = 0; /* did not land */
			} else {
				bad("slot %d: counter %u holds q %" PRIu64
				    ", model %" PRIu64 ", intent %" PRIu64,
				    slot, in.key, c.lastq[slot],
				    m->ctr_lastq[in.tab][in.key], in.q);
				sl->active = 0;
			}
		} else {
			struct model after = *m;

			apply(&after, &in);
			rc = read_stack(t[in.tab], K_OWNED,
					owned_id(slot, (int)in.tab, (int)in.key),
					&s);
			if (rc < 0) {
				bad("slot %d: find_all: %s", slot,
				    shmtab_strerror(rc));
				sl->active = 0;
			} else if (stack_equals(&s, m, (int)in.tab,
						(int)in.key)) {
				sl->active = 0;
			} else if (stack_equals(&s, &after, (int)in.tab,
						(int)in.key)) {
				commit(sl);
			} else if (in.op == OP_WBLOCKS && s.n > 0 &&
				   s.ent[0] == 0 && repair) {
				/* An in-place write cut by the kill: documented
				 * as not atomic.  Replace the torn value. */
				unsigned char *v = malloc(ENT_LEN(in.ent));
				char key[32];
				size_t kl = keyname(key, K_OWNED,
						    owned_id(slot, (int)in.tab,
							     (int)in.key));

				__atomic_fetch_add(&sh->torn, 1,
						   __ATOMIC_SEQ_CST);
				/* the intent stays, op and all: a kill during
				 * this replace leaves the torn value, which
				 * the next owner repairs again (as a
				 * replace's, it was an inconsistency) */
				make_value(v, K_OWNED,
					   owned_id(slot, (int)in.tab,
						    (int)in.key),
					   ENT_SEQ(in.ent), ENT_LEN(in.ent));
				rc = shmtab_replace(t[in.tab], key, kl, v,
						    ENT_LEN(in.ent));
				free(v);
				if (rc < 0)
					bad("slot %d: repair replace: %s", slot,
					    shmtab_strerror(rc));
				else
					commit(sl);
			} else {
				bad("slot %d: op %u on key %u: the stack is "
				    "neither the old nor the new one",
				    slot, in.op, in.key);
				print_stack("intent", &s, m, (int)in.tab,
					    (int)in.key);
				sl->active = 0;
			}
		}
	}
	m = &sl->m[sl->cur];
	for (tab = 0; tab < NTAB; tab++) {
		for (k = 0; k < NOWN; k++) {
			rc = read_stack(t[tab], K_OWNED,
					owned_id(slot, tab, k), &s);
			if (rc < 0)
				bad("slot %d: find_all: %s", slot,
				    shmtab_strerror(rc));
			else if (!stack_equals(&s, m, tab, k)) {
				bad("slot %d: acknowledged stack differs",
				    slot);
				print_stack("verify", &s, m, tab, k);
			}
		}
	}
}

/* ---- the worker ------------------------------------------------------ */

struct group_ctx {
	int slot;
	uint32_t k;
	uint64_t q, inc;
	int err;
};

static int group_fn(shmtab *t, void *arg)
{
	struct group_ctx *g = arg;
	unsigned char v[CTR_LEN];
	char key[32];
	size_t kl = keyname(key, K_CTR, g->k);
	struct ctr c;
	int rc = read_ctr(t, g->k, &c);

	if (rc < 0)
		return rc;
	c.total += g->inc;
	c.lastq[g->slot] = g->q;
	make_ctr(v, g->k, &c);
	return shmtab_replace(t, key, kl, v, CTR_LEN);
}

struct wb_ctx {
	unsigned char *nv;	/* the new value, same length */
	size_t off, len;
	int done;
	uint32_t pos, at;	/* for WBREMOVE: binding to drop */
	int remove;
};

static int wb_fn(void *block, size_t len, void *ctx)
{
	struct wb_ctx *w = ctx;

	if (!block)
		return SHMTAB_CONTINUE; /* the end */
	if (w->remove) {
		/* NEXT after each first slice: every call starts a binding */
		if (w->at++ == w->pos) {
			w->done = 1;
			return SHMTAB_REMOVE_BINDING;
		}
		return SHMTAB_NEXT;
	}
	if (w->off + len > w->len)
		return SHMTAB_BREAK; /* not the newest binding's slice */
	memcpy(block, w->nv + w->off, len);
	w->off += len;
	return w->off == w->len ? SHMTAB_BREAK : SHMTAB_CONTINUE;
}

struct rb_ctx {
	unsigned char *buf;
	size_t off, cap;
};

static int rb_fn(const void *block, size_t len, void *ctx)
{
	struct rb_ctx *r = ctx;

	if (!block)
		return SHMTAB_BREAK;
	if (r->off + len > r->cap)
		return 1;
	memcpy(r->buf + r->off, block, len);
	r->off += len;
	return SHMTAB_CONTINUE;
}

struct iter_ctx {
	long n;
};

static int iter_fn(const void *key, size_t klen, const void *val,
		   size_t vlen, void *ctx)
{
	struct iter_ctx *ic = ctx;
	char k[32];
	struct vhdr h;
	unsigned a, b;

	ic->n++;
	if (klen == 0 || klen >= sizeof(k)) {
		bad("iter: key of %zu bytes", klen);
		return 0;
	}
	memcpy(k, key, klen);
	k[klen] = 0;
	if (sscanf(k, "o%u-%u", &a, &b) == 2) {
		if (vlen < VOVERHEAD)
			goto broken;
		memcpy(&h, val, sizeof(h));
		/* the table is in the id; the key name lacks it */
		if (check_value(val, vlen, K_OWNED,
				(uint32_t)a << 16 | (h.keyid & 0xff00) | b, &h))
			goto broken;
	} else if (sscanf(k, "s-%u", &a) == 1) {
		if (check_value(val, vlen, K_SHARED, a, &h))
			goto broken;
	} else if (sscanf(k, "c-%u", &a) == 1) {
		struct ctr c;

		if (parse_ctr(val, vlen, a, &c))
			goto broken;
	} else {
		bad("iter: unexpected key %s", k);
	}
	return 0;
broken:
	/* an owned value may be torn by a killed in-place writer until the
	 * next owner repairs it; the final check catches what stays */
	if (k[0] != 'o')
		bad("iter: broken value under %s", k);
	return 0;
}

static void op_owned(struct slot *sl, int slot, shmtab **t)
{
	int tab = (int)(rnd() % NTAB), k = (int)(rnd() % NOWN);
	uint32_t id = owned_id(slot, tab, k);
	struct model *m = &sl->m[sl->cur];
	uint32_t d = m->depth[tab][k];
	char key[32];
	size_t kl = keyname(key, K_OWNED, id);
	struct intent in = { OP_NONE, (uint32_t)tab, (uint32_t)k, 0, 0, 0, 0 };
	uint32_t r = rnd() % 100, len;
	unsigned char *v = NULL;
	struct stack_ctx s;
	int rc = 0;

	if (r < 25 && d < MAXD)
		in.op = OP_ADD;
	else if (r < 40)
		in.op = OP_REPLACE;
	else if (r < 55)
		in.op = OP_REMOVE;
	else if (r < 62 && d > 0)
		in.op = OP_WBLOCKS;
	else if (r < 66 && d > 1)
		in.op = OP_WBREMOVE;

	if (in.op == OP_NONE) {
		/* read: find, find_all or read_blocks */
		r = rnd() % 3;
		if (r == 0) {
			void *val;
			size_t vl;

			rc = shmtab_find(t[tab], key, kl, &val, &vl);
			if (d == 0 && rc != -ENOENT)
				bad("find of empty owned key: %d", rc);
			if (d > 0) {
				struct vhdr h;

				if (rc < 0)
					bad("find: %s", shmtab_strerror(rc));
				else if (check_value(val, vl, K_OWNED, id, &h) ||
					 ENT(h.seq, vl) !=
						 m->stack[tab][k][d - 1])
					bad("find: wrong newest value");
			}
			if (rc == 0)
				free(val);
		} else if (r == 1) {
			rc = read_stack(t[tab], K_OWNED, id, &s);
			if (rc < 0)
				bad("find_all: %s", shmtab_strerror(rc));
			else if (!stack_equals(&s, m, tab, k)) {
				bad("find_all: stack differs from model");
				print_stack("find_all", &s, m, tab, k);
			}
		} else if (d > 0) {
			uint32_t l = ENT_LEN(m->stack[tab][k][d - 1]);
			struct rb_ctx rb = { malloc(l), 0, l };
			struct vhdr h;

			rc = shmtab_read_blocks(t[tab], key, kl, rb_fn, &rb);
			if (rc < 0 || rb.off != l ||
			    check_value(rb.buf, l, K_OWNED, id, &h) ||
			    ENT(h.seq, l) != m->stack[tab][k][d - 1])
				bad("read_blocks: rc %d, %zu of %u bytes", rc,
				    rb.off, l);
			free(rb.buf);
		}
		return;
	}

	in.q = sl->next_seq++;
	if (in.op == OP_WBLOCKS)
		len = ENT_LEN(m->stack[tab][k][d - 1]);
	else
		len = pick_len();
	in.ent = ENT(in.q, len);
	if (in.op == OP_WBREMOVE)
		in.pos = rnd() % d;
	if (in.op != OP_REMOVE && in.op != OP_WBREMOVE) {
		v = malloc(len);
		make_value(v, K_OWNED, id, in.q, len);
	}
	begin(sl, &in);
	switch (in.op) {
	case OP_ADD:
		rc = shmtab_add(t[tab], key, kl, v, len);
		break;
	case OP_REPLACE:
		rc = shmtab_replace(t[tab], key, kl, v, len);
		break;
	case OP_REMOVE:
		rc = shmtab_remove(t[tab], key, kl);
		break;
	case OP_WBLOCKS: {
		struct wb_ctx w = { v, 0, len, 0, 0, 0, 0 };

		rc = shmtab_write_blocks(t[tab], key, kl, wb_fn, &w);
		if (rc >= 0 && w.off != len) {
			bad("write_blocks wrote %zu of %u bytes", w.off, len);
			rc = -EIO;
		}
		break;
	}
	case OP_WBREMOVE: {
		struct wb_ctx w = { NULL, 0, 0, 0, in.pos, 0, 1 };

		rc = shmtab_write_blocks(t[tab], key, kl, wb_fn, &w);
		if (rc >= 0 && !w.done) {
			bad("write_blocks: binding %u of %u not reached",
			    in.pos, d);
			rc = -EIO;
		}
		break;
	}
	}
	free(v);
	if (rc < 0) {
		bad("owned op %u: %s", in.op, shmtab_strerror(rc));
		sl->active = 0;
		return;
	}
	commit(sl);
}

static int shared_stack_ok(shmtab *t, uint32_t id, struct stack_ctx *s)
{
	int rc = read_stack(t, K_SHARED, id, s), i;

	if (rc < 0) {
		bad("shared find_all: %s", shmtab_strerror(rc));
		return 0;
	}
	for (i = 0; i < s->n; i++)
		if (!s->ent[i]) {
			bad("shared key s-%u: broken value", id);
			return 0;
		}
	return 1;
}

static void op_shared(shmtab **t)
{
	int tab = (int)(rnd() % NTAB);
	uint32_t id = rnd() % NSHARED, r = rnd() % 100, len = pick_len();
	char key[32];
	size_t kl = keyname(key, K_SHARED, id);
	unsigned char *v;
	struct stack_ctx s;
	int rc = 0;

	if (r < 40) {
		if (!shared_stack_ok(t[tab], id, &s))
			return;
		if (s.n >= SHMAXD)
			rc = shmtab_remove(t[tab], key, kl);
		else {
			v = malloc(len);
			make_value(v, K_SHARED, id, rnd(), len);
			rc = r < 20 ? shmtab_add(t[tab], key, kl, v, len)
				    : shmtab_replace(t[tab], key, kl, v, len);
			free(v);
		}
	} else if (r < 55) {
		rc = shmtab_remove(t[tab], key, kl);
	} else if (r < 98) {
		void *val;
		size_t vl;
		struct vhdr h;

		rc = shmtab_find(t[tab], key, kl, &val, &vl);
		if (rc == 0) {
			if (check_value(val, vl, K_SHARED, id, &h))
				bad("shared find: broken value");
			free(val);
		} else if (rc == -ENOENT) {
			rc = 0;
		}
	} else {
		struct iter_ctx ic = { 0 };

		if (r & 1)
			rc = shmtab_iter(t[tab], iter_fn, &ic);
		else
			shared_stack_ok(t[tab], id, &s);
	}
	if (rc < 0)
		bad("shared op: %s", shmtab_strerror(rc));
}

static void op_group(struct slot *sl, int slot, shmtab **t)
{
	struct intent in = { OP_GROUP, rnd() % NTAB, rnd() % NCTR, 0, 0, 0, 0 };
	struct group_ctx g;
	int rc, tries = 0;

	in.q = sl->next_seq++;
	in.inc = 1 + rnd() % 1000;
	g.slot = slot;
	g.k = in.key;
	g.q = in.q;
	g.inc = in.inc;
	begin(sl, &in);
	while ((rc = shmtab_group(t[in.tab], group_fn, &g)) == -EDEADLK) {
		__atomic_fetch_add(&sh->deadlocks, 1, __ATOMIC_SEQ_CST);
		if (++tries == 20000) {
			bad("slot %d: group on table %u: -EDEADLK %d times in "
			    "a row", slot, in.tab, tries);
		}
		if (sh->stop && tries > 20000)
			break;
		usleep(rnd() % 500);
	}
	if (rc < 0) {
		bad("group: %s", shmtab_strerror(rc));
		sl->active = 0;
		return;
	}
	commit(sl);
}

static int open_tables(shmtab **t, int flags)
{
	int i, rc;

	for (i = 0; i < NTAB; i++) {
		rc = shmtab_open(names[i], flags, 0600, NULL, &t[i]);
		if (rc < 0) {
			bad("open %s: %s", names[i], shmtab_strerror(rc));
			while (i--)
				shmtab_close(t[i]);
			return rc;
		}
	}
	return 0;
}

static int worker(void *arg)
{
	int slot = (int)(intptr_t)arg;
	struct slot *sl = &sh->slot[slot];
	shmtab *t[NTAB];
	uint32_t r;
	int i;

	rnd_state = base_seed ^ (uint32_t)slot * 0x9e3779b9u ^
		    (uint32_t)sl->generation * 0x85ebca6bu;
	rnd();
	if (open_tables(t, O_RDWR))
		return 1;
	resolve(sl, slot, t, true);
	while (!sh->stop) {
		r = rnd() % 100;
		if (r < 55)
			op_owned(sl, slot, t);
		else if (r < 85)
			op_shared(t);
		else
			op_group(sl, slot, t);
		sl->ops++;
	}
	for (i = 0; i < NTAB; i++)
		shmtab_close(t[i]);
	return 0;
}

/* ---- the controller --------------------------------------------------- */

static pid_t start(int slot)
{
	pid_t pid;

	sh->slot[slot].generation++;
	if (!sh->slot[slot].next_seq)
		sh->slot[slot].next_seq = 1; /* q 0 means "none" */
	pid = tu_fork(worker, (void *)(intptr_t)slot);
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	return pid;
}

struct final_ctx {
	long bindings;
};

static int final_iter(const void *key, size_t klen, const void *val,
		      size_t vlen, void *ctx)
{
	struct final_ctx *f = ctx;
	char k[32];
	unsigned a, b;
	struct vhdr h;

	f->bindings++;
	if (klen == 0 || klen >= sizeof(k)) {
		bad("final: key of %zu bytes", klen);
		return 0;
	}
	memcpy(k, key, klen);
	k[klen] = 0;
	if (sscanf(k, "o%u-%u", &a, &b) == 2) {
		if (vlen < VOVERHEAD)
			bad("final: short value under %s", k);
		else {
			memcpy(&h, val, sizeof(h));
			if (check_value(val, vlen, K_OWNED,
					(uint32_t)a << 16 | (h.keyid & 0xff00) |
						b, &h))
				bad("final: broken value under %s", k);
		}
	} else if (sscanf(k, "s-%u", &a) == 1) {
		if (check_value(val, vlen, K_SHARED, a, &h))
			bad("final: broken value under %s", k);
	} else if (sscanf(k, "c-%u", &a) != 1) {
		bad("final: unexpected key %s", k);
	}
	return 0;
}

static void log_fn(int level, const char *msg, void *ctx)
{
	(void)ctx;
	if (getenv("SHMTAB_TORTURE_VERBOSE"))
		fprintf(stderr, "torture: log %d: %s\n", level, msg);
}

static void final_check(void)
{
	shmtab *t[NTAB];
	int tab, s, rc;

	if (open_tables(t, O_RDWR))
		return;
	/* settle the intents of the workers killed last */
	for (s = 0; s < nslots; s++)
		resolve(&sh->slot[s], s, t, true);
	for (tab = 0; tab < NTAB; tab++) {
		struct final_ctx f = { 0 };
		int c;

		rc = shmtab_check(t[tab]);
		if (rc)
			bad("check of table %d: %s", tab, shmtab_strerror(rc));
		rc = shmtab_iter(t[tab], final_iter, &f);
		if (rc < 0)
			bad("iter of table %d: %s", tab, shmtab_strerror(rc));
		if (f.bindings != shmtab_length(t[tab]))
			bad("table %d: iter saw %ld bindings, length %lld", tab,
			    f.bindings, shmtab_length(t[tab]));
		for (c = 0; c < NCTR; c++) {
			struct ctr ctr;
			uint64_t want = 0;

			rc = read_ctr(t[tab], (uint32_t)c, &ctr);
			if (rc < 0) {
				bad("counter %d: %s", c, shmtab_strerror(rc));
				continue;
			}
			for (s = 0; s < nslots; s++) {
				struct model *m =
					&sh->slot[s].m[sh->slot[s].cur];

				want += m->ctr_sum[tab][c];
				if (ctr.lastq[s] != m->ctr_lastq[tab][c])
					bad("counter %d/%d: slot %d last q "
					    "%" PRIu64 ", acknowledged %" PRIu64,
					    tab, c, s, ctr.lastq[s],
					    m->ctr_lastq[tab][c]);
			}
			if (ctr.total != want)
				bad("counter %d/%d: total %" PRIu64
				    ", acknowledged increments %" PRIu64,
				    tab, c, ctr.total, want);
		}
	}
	for (tab = 0; tab < NTAB; tab++)
		shmtab_close(t[tab]);
}

static long arg_or_env(int argc, char **argv, const char *opt,
		       const char *env, long def)
{
	const char *e = getenv(env);
	int i;

	for (i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], opt))
			return strtol(argv[i + 1], NULL, 0);
	return e && *e ? strtol(e, NULL, 0) : def;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: torture [--seconds N] [--workers 1..%d] "
		"[--seed N]\n",
		MAXSLOTS);
	return 2;
}

/* Every argument is one of the options, each followed by its value. */
static int args_check(int argc, char **argv)
{
	static const char *const known[] = { "--seconds", "--workers",
					     "--seed" };
	size_t j;
	int i;

	for (i = 1; i < argc; i += 2) {
		for (j = 0; j < sizeof(known) / sizeof(known[0]); j++)
			if (!strcmp(argv[i], known[j]))
				break;
		if (j == sizeof(known) / sizeof(known[0])) {
			fprintf(stderr, "torture: unknown option '%s'\n",
				argv[i]);
			return -1;
		}
		if (i + 1 == argc) {
			fprintf(stderr, "torture: option '%s' needs a value\n",
				argv[i]);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct shmtab_options opt[NTAB] = {
		{ 0, 0, SHMTAB_LOCK_BEST },
		{ 0, 0, SHMTAB_LOCK_RECORD },
	};
	pid_t pid[MAXSLOTS];
	double secs, t0, elapsed;
	long kills = 0, seed;
	uint64_t ops = 0;
	shmtab *t;
	int i, st;

	if (args_check(argc, argv) < 0)
		return usage();
	secs = (double)arg_or_env(argc, argv, "--seconds",
				  "SHMTAB_TORTURE_SECONDS", 20);
	nslots = (int)arg_or_env(argc, argv, "--workers",
				 "SHMTAB_TORTURE_WORKERS", 4);
	seed = arg_or_env(argc, argv, "--seed", "SHMTAB_TORTURE_SEED",
			  (long)time(NULL) ^ getpid());
	if (nslots < 1 || nslots > MAXSLOTS || secs < 0)
		return usage();
	base_seed = (uint32_t)seed;
	rnd_state = base_seed | 1;
	fprintf(stderr, "torture: seed %ld\n", seed);
	shmtab_set_log(log_fn, NULL);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	names[0] = tu_posix_name("torture-mutex");
	names[1] = tu_file_name("torture-record");
	for (i = 0; i < NTAB; i++) {
		int rc = tu_create(names[i], &opt[i], &t);

		if (rc < 0) {
			fprintf(stderr, "torture: create %s: %s\n", names[i],
				shmtab_strerror(rc));
			return 2;
		}
		shmtab_close(t);
	}

	t0 = tu_now();
	for (i = 0; i < nslots; i++)
		pid[i] = start(i);
	while (tu_now() - t0 < secs) {
		tu_sleep_ms(1 + (int)(rnd() % 40));
		i = (int)(rnd() % (uint32_t)nslots);
		kill(pid[i], SIGKILL);
		if (waitpid(pid[i], &st, 0) < 0) {
			perror("waitpid");
			return 2;
		}
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
			kills++;
		else
			bad("worker %d ended by itself: status %#x", i, st);
		pid[i] = start(i);
	}
	sh->stop = 1;
	for (i = 0; i < nslots; i++) {
		st = tu_wait(pid[i], 30);
		if (st != 0)
			bad("worker %d: exit %d", i, st);
	}
	elapsed = tu_now() - t0;
	final_check();
	for (i = 0; i < nslots; i++)
		ops += sh->slot[i].ops;
	for (i = 0; i < NTAB; i++) {
		tu_remove(names[i]);
		free(names[i]);
	}
	fprintf(stderr,
		"torture: %" PRIu64 " in-place writes cut by a kill "
		"(repaired), %" PRIu64 " group retries after -EDEADLK\n",
		sh->torn, sh->deadlocks);
	printf("torture: %.0f s, %d workers, %" PRIu64 " operations, %ld kills "
	       "survived, %" PRIu64 " inconsistencies\n",
	       elapsed, nslots, ops, kills, sh->inconsistencies);
	return sh->inconsistencies ? 1 : 0;
}
