/* SPDX-License-Identifier: MIT */
/* testutil.c - helpers shared by the shmtab test programs (no cmocka here) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static unsigned long tu_counter;

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);
	size_t i;

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0777) < 0 && errno != EEXIST)
			return -errno;
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

const char *tu_tmpdir(void)
{
	static char dir[4096];
	const char *env;

	if (dir[0])
		return dir;
	env = getenv("SHMTAB_TEST_TMPDIR");
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	else
		snprintf(dir, sizeof(dir), "/tmp/shmtab-tests-%lu",
			 (unsigned long)getuid());
	mkdir_p(dir);
	return dir;
}

static char *xasprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

char *tu_posix_name(const char *tag)
{
	unsigned long n = __atomic_add_fetch(&tu_counter, 1, __ATOMIC_SEQ_CST);

	return xasprintf("posix:/shmtab-t-%ld-%lu-%s", (long)getpid(), n,
			 tag ? tag : "x");
}

char *tu_file_name(const char *tag)
{
	unsigned long n = __atomic_add_fetch(&tu_counter, 1, __ATOMIC_SEQ_CST);

	return xasprintf("file:%s/t-%ld-%lu-%s", tu_tmpdir(), (long)getpid(), n,
			 tag ? tag : "x");
}

void tu_remove(const char *name)
{
	if (name)
		(void)shmtab_unlink(name);
}

pid_t tu_fork(int (*fn)(void *arg), void *arg)
{
	static const int sigs[] = { SIGSEGV, SIGBUS,  SIGILL,  SIGFPE,
				    SIGABRT, SIGALRM, SIGTERM, SIGINT };
	pid_t pid;
	size_t i;

	fflush(NULL);
	pid = fork();
	if (pid != 0)
		return pid;
	/* cmocka's handlers would longjmp back into the parent's runner */
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	alarm(0);
	_exit(fn(arg) & 0xff);
}

int tu_wait(pid_t pid, int timeout_s)
{
	double end = tu_now() + timeout_s;
	int st;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1001;
		}
		if (tu_now() >= end) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			return TU_WAIT_TIMEOUT;
		}
		tu_sleep_ms(5);
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return -WTERMSIG(st);
	return -1001;
}

int tu_barrier_init(struct tu_barrier *b)
{
	if (pipe2(b->fd, O_CLOEXEC) < 0)
		return -errno;
	return 0;
}

void tu_barrier_post(struct tu_barrier *b)
{
	char c = 1;

	while (write(b->fd[1], &c, 1) < 0 && errno == EINTR)
		;
}

int tu_barrier_wait(struct tu_barrier *b, int timeout_ms)
{
	double end = tu_now() + timeout_ms / 1000.0;
	struct pollfd p = { .fd = b->fd[0], .events = POLLIN };
	char c;

	for (;;) {
		int left = (int)((end - tu_now()) * 1000.0);
		int r;

		if (left < 0)
			left = 0;
		r = poll(&p, 1, left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -ETIMEDOUT;
		r = (int)read(b->fd[0], &c, 1);
		if (r == 1)
			return 0;
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		return -ETIMEDOUT; /* writer end closed */
	}
}

void tu_barrier_destroy(struct tu_barrier *b)
{
	close(b->fd[0]);
	close(b->fd[1]);
	b->fd[0] = b->fd[1] = -1;
}

double tu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void tu_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

uint64_t tu_fnv64(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h;
}

uint32_t tu_xorshift32(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x ? x : 1;
}

void tu_fill(void *buf, size_t len, uint32_t seed)
{
	unsigned char *p = buf;
	uint32_t x = seed * 2654435761u + 0x9e3779b9u;
	size_t i;

	if (x == 0)
		x = 1;
	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)(x >> 11);
	}
}

char *tu_object_path(const char *name)
{
	if (strncmp(name, "posix:", 6) == 0)
		return xasprintf("/dev/shm%s", name + 6);
	if (strncmp(name, "file:", 5) == 0)
		return strdup(name + 5);
	if (name[0] == '/' && !strchr(name + 1, '/'))
		return xasprintf("/dev/shm%s", name);
	return strdup(name);
}

static int object_stat(const char *name, struct stat *st)
{
	char *path = tu_object_path(name);
	int r;

	if (!path)
		return -1;
	r = stat(path, st);
	free(path);
	return r;
}

long long tu_object_size(const char *name)
{
	struct stat st;

	if (object_stat(name, &st) < 0)
		return -1;
	return (long long)st.st_size;
}

int tu_object_exists(const char *name)
{
	struct stat st;

	return object_stat(name, &st) == 0;
}

uint64_t tu_object_word(const char *name, size_t off)
{
	char *path = tu_object_path(name);
	uint64_t v = UINT64_MAX;
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

	if (fd >= 0 && pread(fd, &v, sizeof(v), (off_t)off) != sizeof(v))
		v = UINT64_MAX;
	if (fd >= 0)
		close(fd);
	free(path);
	return v;
}

int tu_object_write(const char *name, size_t off, const void *buf, size_t len)
{
	char *path = tu_object_path(name);
	int fd = path ? open(path, O_RDWR | O_CLOEXEC) : -1;
	int err = 0;

	if (fd < 0)
		err = path ? -errno : -ENOMEM;
	else if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		err = -EIO;
	if (fd >= 0)
		close(fd);
	free(path);
	return err;
}

int tu_object_mode(const char *name)
{
	struct stat st;

	if (object_stat(name, &st) < 0)
		return -1;
	return (int)(st.st_mode & 07777);
}

void *tu_read_path(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return NULL;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*len = got;
	return buf;
}

void *tu_read_object(const char *name, size_t *len)
{
	char *path = tu_object_path(name);
	void *buf;

	if (!path)
		return NULL;
	buf = tu_read_path(path, len);
	free(path);
	return buf;
}

int tu_object_equals(const char *name, const void *buf, size_t len)
{
	size_t n;
	void *now = tu_read_object(name, &n);
	int eq;

	if (!now)
		return 0;
	eq = n == len && memcmp(now, buf, len) == 0;
	free(now);
	return eq;
}

int tu_create(const char *name, const struct shmtab_options *opt, shmtab **out)
{
	return shmtab_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, opt, out);
}

int tu_add_str(shmtab *t, const char *key, const char *val)
{
	return shmtab_add(t, key, strlen(key), val, strlen(val));
}

int tu_group_child(const char *name, int (*fn)(shmtab *t, void *ctx),
		   void *ctx)
{
	shmtab *t;
	int err;

	if (shmtab_open(name, O_RDWR, 0, NULL, &t) != 0)
		return 30;
	err = shmtab_group(t, fn, ctx);
	shmtab_close(t);
	return err == 0 ? 0 : 31;
}

struct strbuf {
	char *s;
	size_t len, cap;
	int oom;
};

static void sb_add(struct strbuf *b, const void *p, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *s;

		while (b->len + n + 1 > cap)
			cap *= 2;
		s = realloc(b->s, cap);
		if (!s) {
			b->oom = 1;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	if (n)
		memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static char *sb_finish(struct strbuf *b)
{
	if (b->oom) {
		free(b->s);
		return NULL;
	}
	if (!b->s)
		return strdup("");
	return b->s;
}

static void sb_hex(struct strbuf *b, const void *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++) {
		char two[2] = { hx[c[i] >> 4], hx[c[i] & 15] };

		sb_add(b, two, 2);
	}
}

struct joined {
	struct strbuf b;
	size_t n;
};

static int joined_fn(const void *key, size_t klen, const void *val, size_t vlen,
		     void *ctx)
{
	struct joined *j = ctx;

	(void)key;
	(void)klen;
	if (j->n++)
		sb_add(&j->b, ",", 1);
	sb_add(&j->b, val, vlen);
	return 0;
}

char *tu_find_all_joined(shmtab *t, const char *key, int *err)
{
	struct joined j = { { NULL, 0, 0, 0 }, 0 };
	int r = shmtab_find_all(t, key, strlen(key), joined_fn, &j);

	if (err)
		*err = r;
	if (r != 0) {
		free(j.b.s);
		return NULL;
	}
	return sb_finish(&j.b);
}

struct snap_ent {
	unsigned char *k, *v;
	size_t kl, vl, seq;
};

struct snap {
	struct snap_ent *e;
	size_t n, cap;
	int oom;
};

static int snap_fn(const void *key, size_t klen, const void *val, size_t vlen,
		   void *ctx)
{
	struct snap *s = ctx;
	struct snap_ent *e;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct snap_ent *ne = realloc(s->e, cap * sizeof(*ne));

		if (!ne) {
			s->oom = 1;
			return 1;
		}
		s->e = ne;
		s->cap = cap;
	}
	e = &s->e[s->n];
	e->k = malloc(klen + 1);
	e->v = malloc(vlen + 1);
	if (!e->k || !e->v) {
		free(e->k);
		free(e->v);
		s->oom = 1;
		return 1;
	}
	memcpy(e->k, key, klen);
	memcpy(e->v, val, vlen);
	e->kl = klen;
	e->vl = vlen;
	e->seq = s->n++;
	return 0;
}

static int snap_cmp(const void *a, const void *b)
{
	const struct snap_ent *x = a, *y = b;
	size_t m = x->kl < y->kl ? x->kl : y->kl;
	int c = memcmp(x->k, y->k, m);

	if (c)
		return c;
	if (x->kl != y->kl)
		return x->kl < y->kl ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

char *tu_snapshot(shmtab *t)
{
	struct snap s = { NULL, 0, 0, 0 };
	struct strbuf b = { NULL, 0, 0, 0 };
	size_t i;
	int r;

	r = shmtab_iter(t, snap_fn, &s);
	if (r == 0 && !s.oom) {
		qsort(s.e, s.n, sizeof(*s.e), snap_cmp);
		for (i = 0; i < s.n; i++) {
			int same = i > 0 && s.e[i - 1].kl == s.e[i].kl &&
				   memcmp(s.e[i - 1].k, s.e[i].k, s.e[i].kl) ==
					   0;

			if (same) {
				sb_add(&b, ",", 1);
			} else {
				if (i > 0)
					sb_add(&b, ";", 1);
				sb_hex(&b, s.e[i].k, s.e[i].kl);
				sb_add(&b, "=", 1);
			}
			sb_hex(&b, s.e[i].v, s.e[i].vl);
		}
		if (s.n)
			sb_add(&b, ";", 1);
	}
	for (i = 0; i < s.n; i++) {
		free(s.e[i].k);
		free(s.e[i].v);
	}
	free(s.e);
	if (r != 0 || s.oom) {
		free(b.s);
		return NULL;
	}
	return sb_finish(&b);
}

int tu_put_str(shmtab *t, const char *k, const char *v)
{
	return shmtab_replace(t, k, strlen(k), v, strlen(v));
}

int tu_find_is(shmtab *t, const char *k, const char *v)
{
	void *val = NULL;
	size_t vlen = 0;
	int rc = shmtab_find(t, k, strlen(k), &val, &vlen);

	if (rc != 0)
		return rc;
	rc = (vlen == strlen(v) && memcmp(val, v, vlen) == 0) ? 0 : -EPROTO;
	free(val);
	return rc;
}
