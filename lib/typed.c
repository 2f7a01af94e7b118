/* SPDX-License-Identifier: MIT */
/*
 * typed.c - type names, the value encoding and its text form (doc/FORMAT.md, "Typed values")
 *
 * A type is compiled to a code: one byte per node in prefix order (a pair's
 * byte is followed by its two parts), at most TYPE_MAX bytes.  That code is
 * what a table's header stores.
 *
 * Encoding.  Inside a pair every value is a whole number of little-endian
 * 32-bit words (the shape of netshm's Netshm_data):
 *   int32          1 word
 *   int64, int     2 words, low word first (the 8 bytes little-endian)
 *   string, bytes  the byte length L (< 2^31), then the bytes in ceil(L/4)
 *                  words, the padding zero
 *   pair(A,B)      the number of words of A's encoding, A's words, B's words
 * A whole value (a binding's key or value) is the same, except that a string
 * or bytes value is just its bytes: the binding knows its length.  Every
 * value has exactly one encoding (padding must be zero, lengths must agree),
 * so keys that are equal as values are equal as bytes.
 */
#include <limits.h>
#include <stdlib.h>

#include "shmtab-private.h"

#define STR_MAX 0x7fffffffu

/* --- type names -------------------------------------------------------- */

static const struct {
	const char *name;
	uint8_t code;
} type_names[] = {
	{ "bytes", SHMTAB_BYTES },   { "string", SHMTAB_STRING },
	{ "int32", SHMTAB_INT32 },   { "int64", SHMTAB_INT64 },
	{ "int", SHMTAB_INT },	     { "nativeint", SHMTAB_INT },
	{ "pair", SHMTAB_PAIR },
};

static void skip_blanks(const char **s)
{
	while (**s == ' ' || **s == '\t')
		(*s)++;
}

static int compile_at(const char **s, uint8_t *code, size_t *n, int depth)
{
	const char *p;
	size_t len;
	uint8_t c = 0;
	int err;

	if (depth > (int)TYPE_MAX)
		return -EINVAL;
	skip_blanks(s);
	p = *s;
	while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
		p++;
	len = (size_t)(p - *s);
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strlen(type_names[i].name) == len &&
		    !memcmp(type_names[i].name, *s, len))
			c = type_names[i].code;
	if (!c || *n >= TYPE_MAX)
		return -EINVAL;
	code[(*n)++] = c;
	*s = p;
	if (c != SHMTAB_PAIR)
		return 0;
	skip_blanks(s);
	if (*(*s)++ != '(')
		return -EINVAL;
	err = compile_at(s, code, n, depth + 1);
	if (err < 0)
		return err;
	skip_blanks(s);
	if (*(*s)++ != ',')
		return -EINVAL;
	err = compile_at(s, code, n, depth + 1);
	if (err < 0)
		return err;
	skip_blanks(s);
	if (*(*s)++ != ')')
		return -EINVAL;
	return 0;
}

int type_compile(const char *name, uint8_t *code, size_t *n)
{
	const char *s = name;
	int err;

	*n = 0;
	if (!name)
		return -EINVAL;
	err = compile_at(&s, code, n, 0);
	if (err < 0)
		return err;
	skip_blanks(&s);
	return *s ? -EINVAL : 0;
}

/* Length of the type starting at code[0] (within n bytes), or 0 if bad. */
size_t type_span(const uint8_t *code, size_t n)
{
	size_t a, b;

	if (!n || code[0] < SHMTAB_BYTES || code[0] > SHMTAB_PAIR)
		return 0;
	if (code[0] != SHMTAB_PAIR)
		return 1;
	a = type_span(code + 1, n - 1);
	if (!a)
		return 0;
	b = type_span(code + 1 + a, n - 1 - a);
	return b ? 1 + a + b : 0;
}

static const char *code_word(uint8_t c)
{
	switch (c) {
	case SHMTAB_BYTES: return "bytes";
	case SHMTAB_STRING: return "string";
	case SHMTAB_INT32: return "int32";
	case SHMTAB_INT64: return "int64";
	case SHMTAB_INT: return "int";
	default: return "pair";
	}
}

static size_t name_at(const uint8_t *code, char *buf, size_t cap, size_t pos,
		      size_t *used)
{
	const char *w = code_word(code[0]);
	size_t a, b;

	for (; *w; w++, pos++)
		if (pos < cap)
			buf[pos] = *w;
	if (code[0] != SHMTAB_PAIR) {
		*used = 1;
		return pos;
	}
	if (pos < cap)
		buf[pos] = '(';
	pos = name_at(code + 1, buf, cap, pos + 1, &a);
	if (pos < cap)
		buf[pos] = ',';
	pos = name_at(code + 1 + a, buf, cap, pos + 1, &b);
	if (pos < cap)
		buf[pos] = ')';
	*used = 1 + a + b;
	return pos + 1;
}

/* The canonical name of a valid code into buf; -ERANGE when cap is short. */
int type_name(const uint8_t *code, size_t n, char *buf, size_t cap)
{
	size_t used, len;

	if (!type_span(code, n))
		return -EINVAL;
	len = name_at(code, buf, cap, 0, &used);
	if (len >= cap)
		return -ERANGE;
	buf[len] = 0;
	return 0;
}

SHMTAB_EXPORT int shmtab_type_name(const char *type, char *buf, size_t cap)
{
	uint8_t code[TYPE_MAX];
	size_t n;
	int err = type_compile(type, code, &n);

	if (err < 0)
		return err;
	if (!buf && cap)
		return -EINVAL;
	return type_name(code, n, buf, cap);
}

/* --- growable buffer ---------------------------------------------------- */

void tbuf_free(struct tbuf *b)
{
	if (b->p != b->inl)
		free(b->p);
	b->p = b->inl;
	b->len = 0;
	b->cap = sizeof(b->inl);
}

void tbuf_init(struct tbuf *b)
{
	b->p = b->inl;
	b->len = 0;
	b->cap = sizeof(b->inl);
	b->err = 0;
}

static uint8_t *tbuf_room(struct tbuf *b, size_t n)
{
	if (b->err)
		return NULL;
	if (n > SHMTAB_VALUE_MAX - b->len) {
		b->err = -EFBIG;
		return NULL;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap * 2;
		uint8_t *p;

		while (cap < b->len + n)
			cap *= 2;
		p = b->p == b->inl ? malloc(cap) : realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return NULL;
		}
		if (b->p == b->inl)
			memcpy(p, b->inl, b->len);
		b->p = p;
		b->cap = cap;
	}
	b->len += n;
	return b->p + b->len - n;
}

static void tbuf_put(struct tbuf *b, const void *p, size_t n)
{
	uint8_t *d = tbuf_room(b, n);

	if (d && n)
		memcpy(d, p, n);
}

static void put32(struct tbuf *b, uint32_t v)
{
	uint8_t *d = tbuf_room(b, 4);

	if (d)
		memcpy(d, &v, 4);	/* little-endian host (format.h) */
}

static void put64(struct tbuf *b, uint64_t v)
{
	uint8_t *d = tbuf_room(b, 8);

	if (d)
		memcpy(d, &v, 8);
}

/* Hand the buffer's bytes to the caller as a malloc'd block. */
int tbuf_take(struct tbuf *b, void **out, size_t *len)
{
	if (b->err) {
		int err = b->err;

		tbuf_free(b);
		return err;
	}
	if (b->p == b->inl) {
		void *p = malloc(b->len ? b->len : 1);

		if (!p)
			return -ENOMEM;
		memcpy(p, b->inl, b->len);
		*out = p;
	} else {
		*out = b->p;
	}
	*len = b->len;
	b->p = b->inl;
	b->len = 0;
	b->cap = sizeof(b->inl);
	return 0;
}

/* --- encoding ---------------------------------------------------------- */

static const uint8_t bytes_code = SHMTAB_BYTES;

static int encode_at(const uint8_t *code, size_t n, const struct shmtab_value *v,
		     struct tbuf *b, bool top, size_t *used, int depth)
{
	size_t a, bb, mark;
	int err;

	if (!v || !n || depth > (int)TYPE_MAX || ++b->nodes > TYPE_MAX)
		return -EINVAL;		/* no type has more nodes */
	if (code && v->type != code[0])
		return -EINVAL;
	switch (v->type) {
	case SHMTAB_INT32:
		put32(b, (uint32_t)v->i32);
		*used = 1;
		return 0;
	case SHMTAB_INT64:
		put64(b, (uint64_t)v->i64);
		*used = 1;
		return 0;
	case SHMTAB_INT:
		put64(b, (uint64_t)(int64_t)v->n);
		*used = 1;
		return 0;
	case SHMTAB_STRING:
	case SHMTAB_BYTES:
		if (!v->s.p && v->s.len)
			return -EINVAL;
		*used = 1;
		if (top) {
			tbuf_put(b, v->s.p, v->s.len);
			return 0;
		}
		if (v->s.len > STR_MAX)
			return -EFBIG;
		put32(b, (uint32_t)v->s.len);
		tbuf_put(b, v->s.p, v->s.len);
		if (v->s.len % 4) {
			uint8_t *d = tbuf_room(b, 4 - v->s.len % 4);

			if (d)
				memset(d, 0, 4 - v->s.len % 4);
		}
		return 0;
	case SHMTAB_PAIR:
		mark = b->len;
		put32(b, 0);
		err = encode_at(code ? code + 1 : NULL, code ? n - 1 : TYPE_MAX,
				v->pair.a, b, false, &a, depth + 1);
		if (err < 0)
			return err;
		if (!b->err) {
			uint64_t words = (b->len - mark - 4) / 4;

			if (words > UINT32_MAX)
				return -EFBIG;
			uint32_t w = (uint32_t)words;
			memcpy(b->p + mark, &w, 4);
		}
		err = encode_at(code ? code + 1 + a : NULL,
				code ? n - 1 - a : TYPE_MAX, v->pair.b, b,
				false, &bb, depth + 1);
		*used = 1 + a + bb;
		return err;
	default:
		return -EINVAL;
	}
}

/* Encode v as type code (NULL: v's own type) into b. */
int type_encode(const uint8_t *code, size_t n, const struct shmtab_value *v,
		struct tbuf *b)
{
	size_t used;
	int err;

	if (code && !n)
		code = &bytes_code, n = 1;	/* untyped: bytes */
	b->nodes = 0;
	err = encode_at(code, code ? n : TYPE_MAX, v, b, true, &used, 0);

	if (err < 0)
		return err;
	return b->err;
}

SHMTAB_EXPORT int shmtab_encode(const struct shmtab_value *v, void **buf,
				size_t *len)
{
	struct tbuf b;
	int err;

	if (!v || !buf || !len)
		return -EINVAL;
	tbuf_init(&b);
	err = type_encode(NULL, 0, v, &b);
	if (err < 0) {
		tbuf_free(&b);
		return err;
	}
	return tbuf_take(&b, buf, len);
}

/* --- decoding ---------------------------------------------------------- */

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/*
 * Walk the encoding of code at p (avail bytes).  *took: bytes consumed;
 * *nodes and *strb count what decoding needs.  If out is non-NULL, fill it.
 */
struct dec {
	struct shmtab_value *nodes;	/* NULL: only count */
	size_t nnodes, node_cap;
	char *strs;
	size_t nstr, str_cap;		/* the fill pass never writes past the
					 * counts of the first pass, even when
					 * the bytes changed in between */
};

static int decode_at(const uint8_t *code, size_t n, const uint8_t *p,
		     size_t avail, bool top, size_t *took, size_t *used,
		     struct dec *d, struct shmtab_value **node)
{
	struct shmtab_value *v = d->nodes ? &d->nodes[d->nnodes] : NULL;
	size_t a, b, ta, tb;
	uint64_t u;
	uint32_t len;
	int err;

	if (!n || (d->nodes && d->nnodes >= d->node_cap))
		return -EBADMSG;
	d->nnodes++;
	if (node)
		*node = v;
	if (v)
		v->type = code[0];
	*used = 1;
	switch (code[0]) {
	case SHMTAB_INT32:
		if (avail < 4 || (top && avail != 4))
			return -EBADMSG;
		if (v)
			v->i32 = (int32_t)get32(p);
		*took = 4;
		return 0;
	case SHMTAB_INT64:
	case SHMTAB_INT:
		if (avail < 8 || (top && avail != 8))
			return -EBADMSG;
		memcpy(&u, p, 8);
		if (code[0] == SHMTAB_INT &&
		    ((int64_t)u < LONG_MIN || (int64_t)u > LONG_MAX))
			return -EBADMSG;
		if (v && code[0] == SHMTAB_INT)
			v->n = (long)(int64_t)u;
		else if (v)
			v->i64 = (int64_t)u;
		*took = 8;
		return 0;
	case SHMTAB_STRING:
	case SHMTAB_BYTES:
		if (top) {
			len = 0;
			*took = avail;
			if (v && avail >= d->str_cap - d->nstr)
				return -EBADMSG;
			if (v) {
				memcpy(d->strs + d->nstr, p, avail);
				v->s.p = d->strs + d->nstr;
				v->s.len = avail;
				d->strs[d->nstr + avail] = 0;
			}
			d->nstr += avail + 1;
			return 0;
		}
		if (avail < 4)
			return -EBADMSG;
		len = get32(p);
		if (len > STR_MAX || (avail - 4) / 4 < (len + 3u) / 4)
			return -EBADMSG;
		for (uint32_t i = len; i % 4; i++)
			if (p[4 + i])
				return -EBADMSG;	/* padding is zero */
		*took = 4 + ((size_t)len + 3) / 4 * 4;
		if (v && len >= d->str_cap - d->nstr)
			return -EBADMSG;
		if (v) {
			memcpy(d->strs + d->nstr, p + 4, len);
			v->s.p = d->strs + d->nstr;
			v->s.len = len;
			d->strs[d->nstr + len] = 0;
		}
		d->nstr += (size_t)len + 1;
		return 0;
	case SHMTAB_PAIR:
		if (avail < 4 || (top && avail % 4))
			return -EBADMSG;
		len = get32(p);
		err = decode_at(code + 1, n - 1, p + 4, avail - 4, false, &ta,
				&a, d, v ? (struct shmtab_value **)&v->pair.a
					 : NULL);
		if (err < 0)
			return err;
		if (ta != (size_t)len * 4)
			return -EBADMSG;
		err = decode_at(code + 1 + a, n - 1 - a, p + 4 + ta,
				avail - 4 - ta, false, &tb, &b, d,
				v ? (struct shmtab_value **)&v->pair.b : NULL);
		if (err < 0)
			return err;
		*took = 4 + ta + tb;
		*used = 1 + a + b;
		if (top && *took != avail)
			return -EBADMSG;
		return 0;
	default:
		return -EBADMSG;
	}
}

/* 0 when buf is a valid whole encoding of code, else -EBADMSG. */
int type_validate(const uint8_t *code, size_t n, const void *buf, size_t len)
{
	struct dec d = { 0 };
	size_t took, used;

	if (!n)
		return 0;			/* untyped: anything */
	if (code[0] == SHMTAB_BYTES || code[0] == SHMTAB_STRING)
		return 0;
	if (!buf && len)
		return -EBADMSG;
	return decode_at(code, n, buf, len, true, &took, &used, &d, NULL);
}

int type_decode(const uint8_t *code, size_t n, const void *buf, size_t len,
		struct shmtab_value **out)
{
	struct dec d = { 0 };
	size_t took, used, sz;
	void *blk;
	int err;

	if (!n) {
		code = &bytes_code;
		n = 1;
	}
	if (!buf && len)
		return -EBADMSG;
	err = decode_at(code, n, buf, len, true, &took, &used, &d, NULL);
	if (err < 0)
		return err;
	sz = d.nnodes * sizeof(struct shmtab_value);
	blk = malloc(sz + d.nstr + 1);
	if (!blk)
		return -ENOMEM;
	d.nodes = blk;
	d.node_cap = d.nnodes;
	d.strs = (char *)blk + sz;
	d.str_cap = d.nstr + 1;
	d.nnodes = d.nstr = 0;
	err = decode_at(code, n, buf, len, true, &took, &used, &d, NULL);
	if (err < 0) {
		free(blk);
		return err;
	}
	*out = blk;
	return 0;
}

SHMTAB_EXPORT int shmtab_decode(const char *type, const void *buf, size_t len,
				struct shmtab_value **out)
{
	uint8_t code[TYPE_MAX];
	size_t n;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	err = type_compile(type, code, &n);
	if (err < 0)
		return err;
	return type_decode(code, n, buf, len, out);
}

/* The zero value of a type: 0, "", pairs of those. */
int type_zero(const uint8_t *code, size_t n, struct tbuf *b)
{
	size_t a, bb;

	if (!n)
		return 0;
	switch (code[0]) {
	case SHMTAB_BYTES:
	case SHMTAB_STRING:
		return 0;
	case SHMTAB_INT32:
		put32(b, 0);
		return b->err;
	case SHMTAB_INT64:
	case SHMTAB_INT:
		put64(b, 0);
		return b->err;
	default:
		break;
	}
	/* a pair: nested zero values; strings are one 0 word */
	a = type_span(code + 1, n - 1);
	bb = type_span(code + 1 + a, n - 1 - a);
	if (!a || !bb)
		return -EINVAL;
	{
		size_t mark = b->len;
		int err;

		put32(b, 0);
		err = type_zero_nested(code + 1, a, b);
		if (!err && !b->err) {
			uint32_t w = (uint32_t)((b->len - mark - 4) / 4);

			memcpy(b->p + mark, &w, 4);
		}
		if (!err)
			err = type_zero_nested(code + 1 + a, bb, b);
		return err ? err : b->err;
	}
}

int type_zero_nested(const uint8_t *code, size_t n, struct tbuf *b)
{
	if (n && (code[0] == SHMTAB_BYTES || code[0] == SHMTAB_STRING)) {
		put32(b, 0);
		return b->err;
	}
	return type_zero(code, n, b);
}

/* --- text -------------------------------------------------------------- */

static void put_dec(struct tbuf *b, int64_t v)
{
	char tmp[24];
	int k = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[k++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[k++] = '-';
	while (k)
		tbuf_put(b, &tmp[--k], 1);
}

static void put_escaped(struct tbuf *b, const uint8_t *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		char e[4] = { '\\', 0, 0, 0 };
		size_t k = 2;

		if (c == '\\')
			e[1] = '\\';
		else if (c == '\t')
			e[1] = 't';
		else if (c == '\n')
			e[1] = 'n';
		else if (c == '\r')
			e[1] = 'r';
		else if (c < 0x20 || c == 0x7f) {
			e[1] = 'x';
			e[2] = hex[c >> 4];
			e[3] = hex[c & 15];
			k = 4;
		} else {
			tbuf_put(b, &c, 1);
			continue;
		}
		tbuf_put(b, e, k);
	}
}

static void put_hex(struct tbuf *b, const uint8_t *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		char e[2] = { hex[p[i] >> 4], hex[p[i] & 15] };

		tbuf_put(b, e, 2);
	}
}

static void format_at(const struct shmtab_value *v, struct tbuf *b, bool top)
{
	switch (v->type) {
	case SHMTAB_INT32:
		put_dec(b, v->i32);
		break;
	case SHMTAB_INT64:
		put_dec(b, v->i64);
		break;
	case SHMTAB_INT:
		put_dec(b, v->n);
		break;
	case SHMTAB_STRING:
		if (top)
			tbuf_put(b, v->s.p, v->s.len);
		else
			put_escaped(b, v->s.p, v->s.len);
		return;
	case SHMTAB_BYTES:
		if (top)
			tbuf_put(b, v->s.p, v->s.len);
		else
			put_hex(b, v->s.p, v->s.len);
		return;
	case SHMTAB_PAIR:
		format_at(v->pair.a, b, false);
		tbuf_put(b, "\t", 1);
		format_at(v->pair.b, b, false);
		break;
	}
	if (top)
		tbuf_put(b, "\n", 1);
}

int type_format(const uint8_t *code, size_t n, const void *buf, size_t len,
		struct tbuf *b)
{
	struct shmtab_value *v;
	int err = type_decode(code, n, buf, len, &v);

	if (err < 0)
		return err;
	format_at(v, b, true);
	free(v);
	return b->err;
}

SHMTAB_EXPORT int shmtab_format(const char *type, const void *buf, size_t len,
				char **text, size_t *tlen)
{
	uint8_t code[TYPE_MAX];
	struct tbuf b;
	size_t n, l;
	void *p;
	int err;

	if (!text)
		return -EINVAL;
	*text = NULL;
	err = type_compile(type, code, &n);
	if (err < 0)
		return err;
	tbuf_init(&b);
	err = type_format(code, n, buf, len, &b);
	if (!err)
		tbuf_put(&b, "", 1);	/* the NUL */
	if (err < 0 || (err = tbuf_take(&b, &p, &l)) < 0) {
		tbuf_free(&b);
		return err;
	}
	*text = p;
	if (tlen)
		*tlen = l - 1;
	return 0;
}

/* --- parsing ----------------------------------------------------------- */

static int parse_int(const char *s, size_t len, int64_t lo, int64_t hi,
		     int64_t *out)
{
	bool neg = false;
	uint64_t u = 0, lim;
	size_t i = 0;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	if (i == len)
		return -EINVAL;
	lim = neg ? (uint64_t)0 - (uint64_t)lo : (uint64_t)hi;
	for (; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return -EINVAL;
		if (u > (lim - d) / 10)
			return -EINVAL;		/* out of range */
		u = u * 10 + d;
	}
	*out = neg ? (int64_t)((uint64_t)0 - u) : (int64_t)u;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Unescape (string) or unhex (bytes) a field into b as a nested string. */
static int parse_field_str(bool hex, const char *s, size_t len, struct tbuf *b)
{
	size_t mark = b->len, n;

	put32(b, 0);
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)s[i];

		if (hex) {
			int h1, h2;

			if (i + 1 >= len)
				return -EINVAL;
			h1 = hexval(s[i]);
			h2 = hexval(s[i + 1]);
			if (h1 < 0 || h2 < 0)
				return -EINVAL;
			c = (uint8_t)(h1 << 4 | h2);
			i++;
		} else if (c == '\\') {
			if (++i >= len)
				return -EINVAL;
			switch (s[i]) {
			case '\\': c = '\\'; break;
			case 't': c = '\t'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 'x': {
				int h1, h2;

				if (i + 2 >= len)
					return -EINVAL;
				h1 = hexval(s[i + 1]);
				h2 = hexval(s[i + 2]);
				if (h1 < 0 || h2 < 0)
					return -EINVAL;
				c = (uint8_t)(h1 << 4 | h2);
				i += 2;
				break;
			}
			default:
				return -EINVAL;
			}
		}
		tbuf_put(b, &c, 1);
	}
	if (b->err)
		return b->err;
	n = b->len - mark - 4;
	if (n > STR_MAX)
		return -EINVAL;
	{
		uint32_t w = (uint32_t)n;

		memcpy(b->p + mark, &w, 4);
	}
	if (n % 4) {
		uint8_t *d = tbuf_room(b, 4 - n % 4);

		if (d)
			memset(d, 0, 4 - n % 4);
	}
	return b->err;
}

struct fields {
	const char *s;
	size_t len, pos;
};

/* The next tab-separated field; -EINVAL when there is none. */
static int next_field(struct fields *f, const char **p, size_t *len)
{
	const char *tab;

	if (f->pos > f->len)
		return -EINVAL;
	*p = f->s + f->pos;
	tab = memchr(*p, '\t', f->len - f->pos);
	*len = tab ? (size_t)(tab - *p) : f->len - f->pos;
	f->pos += *len + 1;		/* past the end when no tab */
	return 0;
}

static int parse_int_type(uint8_t c, const char *s, size_t len,
			  struct tbuf *b)
{
	int64_t v;
	int err;

	if (c == SHMTAB_INT32) {
		err = parse_int(s, len, INT32_MIN, INT32_MAX, &v);
		if (!err)
			put32(b, (uint32_t)(int32_t)v);
	} else {
		err = parse_int(s, len, c == SHMTAB_INT ? LONG_MIN : INT64_MIN,
				c == SHMTAB_INT ? LONG_MAX : INT64_MAX, &v);
		if (!err)
			put64(b, (uint64_t)v);
	}
	return err ? err : b->err;
}

static int parse_nested(const uint8_t *code, size_t n, struct fields *f,
			struct tbuf *b, size_t *used)
{
	const char *p;
	size_t len, a, bb, mark;
	int err;

	if (!n)
		return -EINVAL;
	*used = 1;
	if (code[0] == SHMTAB_PAIR) {
		mark = b->len;
		put32(b, 0);
		err = parse_nested(code + 1, n - 1, f, b, &a);
		if (err < 0)
			return err;
		if (!b->err) {
			uint32_t w = (uint32_t)((b->len - mark - 4) / 4);

			memcpy(b->p + mark, &w, 4);
		}
		err = parse_nested(code + 1 + a, n - 1 - a, f, b, &bb);
		*used = 1 + a + bb;
		return err;
	}
	err = next_field(f, &p, &len);
	if (err < 0)
		return err;
	if (code[0] == SHMTAB_STRING || code[0] == SHMTAB_BYTES)
		return parse_field_str(code[0] == SHMTAB_BYTES, p, len, b);
	return parse_int_type(code[0], p, len, b);
}

int type_parse(const uint8_t *code, size_t n, const char *text, size_t tlen,
	       struct tbuf *b)
{
	struct fields f;
	size_t used;
	int err;

	if (!text && tlen)
		return -EINVAL;
	if (!n || code[0] == SHMTAB_BYTES || code[0] == SHMTAB_STRING) {
		tbuf_put(b, text, tlen);
		return b->err;
	}
	if (tlen && text[tlen - 1] == '\n')
		tlen--;
	if (code[0] != SHMTAB_PAIR)
		return parse_int_type(code[0], text, tlen, b);
	f.s = text;
	f.len = tlen;
	f.pos = 0;
	err = parse_nested(code, n, &f, b, &used);
	if (err < 0)
		return err;
	if (f.pos <= f.len)
		return -EINVAL;			/* fields left over */
	return b->err;
}

SHMTAB_EXPORT int shmtab_parse(const char *type, const char *text, size_t tlen,
			       void **buf, size_t *len)
{
	uint8_t code[TYPE_MAX];
	struct tbuf b;
	size_t n;
	int err;

	if (!buf || !len)
		return -EINVAL;
	*buf = NULL;
	err = type_compile(type, code, &n);
	if (err < 0)
		return err;
	tbuf_init(&b);
	err = type_parse(code, n, text, tlen, &b);
	if (err < 0) {
		tbuf_free(&b);
		return err;
	}
	return tbuf_take(&b, buf, len);
}
