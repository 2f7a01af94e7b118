/* SPDX-License-Identifier: MIT */
/*
 * mount-torture.c - random operations through a shmtabfs mount and through
 * the library at once, with unmounts, remounts and SIGKILLs between and
 * during rounds.
 *
 * One file-backed table, "tab", lives in a directory of its own; that
 * directory is mounted with the built shmtabfs ($SHMTABFS, -f, strict
 * mode: no -o cache).  The run is cut into rounds.  In each round
 *  - W file workers use only the mount: whole values written with
 *    open(O_CREAT|O_TRUNC)/write/close, read with open/read, unlink,
 *    stat and readdir;
 *  - L library workers use only libshmtab on the same table:
 *    shmtab_replace, shmtab_remove, shmtab_find;
 * and, in some rounds, the controller SIGKILLs a library worker mid-round
 * and starts a new one in its slot.  Between rounds the mount is, at
 * random, kept, unmounted cleanly (fusermount3 -u, then -uz if it stays
 * busy; the controller keeps it busy at some of them with an open
 * directory) or lost with its daemon (SIGKILL, then fusermount3 -uz), and
 * a new daemon is mounted.
 *
 * Keys:
 *  - "o<slot>-<k>": owned by one slot (file or library worker) and never
 *    written by another, so it holds at most one binding.  The slot's log
 *    of acknowledged writes, in shared anonymous memory, keeps the entry
 *    (seq, length) of the last acknowledged value of each key (0: no
 *    binding).  A write first records its intent (key, new entry), then
 *    calls, then stores the new entry (one 8-byte store) and clears the
 *    intent; so after a kill the key holds the acknowledged entry or the
 *    intended one, nothing else.  Every new worker of a slot (every
 *    round, and after a kill) resolves the intent against the table and
 *    checks each of its keys; file workers do it through the freshly
 *    (re)mounted file system, so a value written through an earlier
 *    daemon must be seen through the new one.
 *  - "s-<k>": shared by every worker of both kinds; only the values'
 *    integrity is checked.
 * Every read of any key (through the mount or the library) must give a
 * whole value: its key, its length and a 64-bit checksum are inside it.
 *
 * At the end: shmtab_check passes, every binding is whole, and every owned
 * key holds exactly its slot's last acknowledged value, through the
 * library and through the mount.  Prints
 *   mount-torture: S s, R rounds, W+L workers, M mount operations,
 *   B library operations, U remounts, K kills, I inconsistencies
 * and exits 1 when I is not 0, 77 (skip) without /dev/fuse, fusermount3
 * or $SHMTABFS.
 *
 * Options: -d SECONDS (or $SHMTAB_MOUNT_TORTURE_SECONDS, default 8),
 * -w FILE_WORKERS (default 3), -l LIBRARY_WORKERS (default 3), -s SEED.
 * Rounds last 0.3 to 1.3 s.  The mount and the daemon this program
 * started are taken down also when the watchdog fires.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmtab.h"
#include "mountutil.h"
#include "testutil.h"

#define MAXSLOTS 16
#define NOWN 10		/* owned keys per slot */
#define NSHARED 8	/* shared keys */
#define MAGIC 0x746e756du /* "mnut" */
#define MAXVAL 32768
#define SHARED_ID(k) (0x10000u | (uint32_t)(k))
#define WATCHDOG_EXTRA_S 180

/* Value layout: header, payload, fnv64 of everything before it. */
struct vhdr {
	uint32_t magic;
	uint32_t keyid;		/* slot << 8 | k, or SHARED_ID(k) */
	uint32_t len;		/* whole value */
	uint32_t pad;
	uint64_t seq;
};
#define VOVERHEAD (sizeof(struct vhdr) + 8)

/* A log entry: seq << 24 | len, one store; 0 means "no binding". */
#define ENT(seq, len) (((uint64_t)(seq) << 24) | (uint64_t)(len))
#define ENT_LEN(e) ((uint32_t)((e) & 0xffffff))
#define ENT_BROKEN UINT64_MAX	/* a read found no whole value */
#define ENT_ERROR (UINT64_MAX - 1)	/* a read failed */
#define ENT_EMPTY (UINT64_MAX - 2)	/* the empty value */

struct slot {
	volatile uint64_t ack[NOWN];	/* last acknowledged, per key */
	volatile uint64_t pend;		/* intent: new entry of pk */
	volatile uint32_t pk;
	volatile uint32_t active;	/* the intent is live */
	volatile uint64_t next_seq;
	volatile uint64_t ops;
	volatile uint32_t generation;
};

struct shared {
	volatile uint32_t stop;
	volatile uint64_t inconsistencies;
	volatile uint64_t empty;	/* O_CREAT's empty value seen */
	struct slot slot[MAXSLOTS];
};

static struct shared *sh;
static uint32_t base_seed;
static int nfile = 3, nlib = 3, nslots;
static const char *shmtabfs;
static char srcdir[PATH_MAX / 2], mntdir[PATH_MAX / 2], libname[PATH_MAX];
static char tabdir[PATH_MAX];	/* the table under the mount */
static volatile pid_t daemon_pid;
static volatile bool mounted;
static pid_t wpid[MAXSLOTS];
static int busy_fd = -1;	/* keeps the mount busy at an unmount */

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
	va_list ap;

	__atomic_fetch_add(&sh->inconsistencies, 1, __ATOMIC_SEQ_CST);
	va_start(ap, fmt);
	fprintf(stderr, "mount-torture[%d]: INCONSISTENCY: ", (int)getpid());
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

static bool is_file_slot(int slot)
{
	return slot < nfile;
}

static uint32_t owned_id(int slot, int k)
{
	return (uint32_t)slot << 8 | (uint32_t)k;
}

static size_t keyname(char *buf, uint32_t id)
{
	if (id & 0x10000u)
		return (size_t)sprintf(buf, "s-%u", id & 0xffff);
	return (size_t)sprintf(buf, "o%u-%u", id >> 8, id & 0xff);
}

/* The key's id from its name; 0 when the name is no key of this test. */
static bool parse_key(const char *k, size_t kl, uint32_t *id)
{
	char buf[32];
	unsigned a, b;
	char c;

	if (kl == 0 || kl >= sizeof(buf))
		return false;
	memcpy(buf, k, kl);
	buf[kl] = 0;
	if (sscanf(buf, "o%u-%u%c", &a, &b, &c) == 2 && a < (unsigned)nslots &&
	    b < NOWN) {
		*id = owned_id((int)a, (int)b);
		return true;
	}
	if (sscanf(buf, "s-%u%c", &a, &c) == 1 && a < NSHARED) {
		*id = SHARED_ID(a);
		return true;
	}
	return false;
}

static uint32_t pick_len(void)
{
	uint32_t r = rnd() % 100;

	if (r < 70)
		return VOVERHEAD + rnd() % 200;
	if (r < 97)
		return VOVERHEAD + rnd() % 3000;
	return VOVERHEAD + rnd() % (MAXVAL - VOVERHEAD);
}

static void make_value(unsigned char *v, uint32_t id, uint64_t seq,
		       uint32_t len)
{
	struct vhdr h = { MAGIC, id, len, 0, seq };
	uint64_t sum;

	memcpy(v, &h, sizeof(h));
	tu_fill(v + sizeof(h), len - VOVERHEAD,
		(uint32_t)(seq * 2654435761u) ^ id);
	sum = tu_fnv64(v, len - 8);
	memcpy(v + len - 8, &sum, 8);
}

/* The entry of v if it is a whole value of id, else ENT_BROKEN. */
static uint64_t value_ent(const void *v, size_t len, uint32_t id)
{
	struct vhdr h;
	uint64_t sum;

	if (len == 0)
		return ENT_EMPTY;
	if (len < VOVERHEAD)
		return ENT_BROKEN;
	memcpy(&h, v, sizeof(h));
	if (h.magic != MAGIC || h.keyid != id || h.len != len)
		return ENT_BROKEN;
	memcpy(&sum, (const char *)v + len - 8, 8);
	if (sum != tu_fnv64(v, len - 8))
		return ENT_BROKEN;
	return ENT(h.seq, len);
}

/* ---- the two ways in --------------------------------------------------- */

static char *kpath(char *buf, uint32_t id)
{
	char k[32];

	keyname(k, id);
	sprintf(buf, "%s/%s", tabdir, k);
	return buf;
}

/* The entry of key id through the mount: 0 when absent. */
static uint64_t mnt_read(uint32_t id)
{
	static unsigned char buf[MAXVAL + 1];
	char path[PATH_MAX + 48];
	size_t got = 0;
	ssize_t n = 0;
	int fd = open(kpath(path, id), O_RDONLY);

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		bad("open %s: %s", path, strerror(errno));
		return ENT_ERROR;
	}
	while (got < sizeof(buf) &&
	       (n = read(fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	if (n < 0)
		bad("read %s: %s", path, strerror(errno));
	if (close(fd) != 0)
		bad("close %s (read): %s", path, strerror(errno));
	if (n < 0)
		return ENT_ERROR;
	return value_ent(buf, got, id);
}

/* Write a whole value through the mount; 0 or -errno. */
static int mnt_write(uint32_t id, uint64_t seq, uint32_t len)
{
	unsigned char *v = malloc(len);
	char path[PATH_MAX + 48];
	size_t off = 0, chunk;
	int fd, err = 0;

	make_value(v, id, seq, len);
	fd = open(kpath(path, id), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		free(v);
		return -errno;
	}
	/* one to three writes: only the close publishes */
	chunk = len / (1 + rnd() % 3) + 1;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		ssize_t w = write(fd, v + off, n);

		if (w <= 0) {
			err = w < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)w;
	}
	if (close(fd) != 0 && !err)
		err = -errno;
	free(v);
	return err;
}

static int mnt_unlink(uint32_t id)
{
	char path[PATH_MAX + 48];

	return unlink(kpath(path, id)) == 0 ? 0 : -errno;
}

/* The entry of key id through the library: 0 when absent. */
static uint64_t lib_read(shmtab *t, uint32_t id)
{
	char k[32];
	size_t kl = keyname(k, id);
	uint64_t e;
	void *v;
	size_t vl;
	int rc = shmtab_find(t, k, kl, &v, &vl);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		bad("find %s: %s", k, shmtab_strerror(rc));
		return ENT_ERROR;
	}
	e = value_ent(v, vl, id);
	free(v);
	return e;
}

static int lib_write(shmtab *t, uint32_t id, uint64_t seq, uint32_t len)
{
	unsigned char *v = malloc(len);
	char k[32];
	size_t kl = keyname(k, id);
	int rc;

	make_value(v, id, seq, len);
	rc = shmtab_replace(t, k, kl, v, len);
	free(v);
	return rc;
}

static int lib_remove(shmtab *t, uint32_t id)
{
	char k[32];
	size_t kl = keyname(k, id);

	return shmtab_remove(t, k, kl);
}

/* The entry of id by the slot's own way in. */
static uint64_t read_ent(shmtab *t, uint32_t id)
{
	return t ? lib_read(t, id) : mnt_read(id);
}

/* ---- the workers -------------------------------------------------------- */

/*
 * A new worker of a slot: settle the intent of the one killed before it,
 * then every owned key must hold its acknowledged entry.
 */
static void resolve(int slot, shmtab *t, const char *who)
{
	struct slot *sl = &sh->slot[slot];
	uint64_t e;
	int k;

	if (sl->active) {
		e = read_ent(t, owned_id(slot, (int)sl->pk));
		if (e == sl->pend)
			sl->ack[sl->pk] = sl->pend;
		else if (e != sl->ack[sl->pk])
			bad("%s: slot %d key %u: entry %" PRIx64
			    " neither the acknowledged %" PRIx64
			    " nor the intended %" PRIx64,
			    who, slot, sl->pk, e, sl->ack[sl->pk], sl->pend);
		barrier();
		sl->active = 0;
		barrier();
	}
	for (k = 0; k < NOWN; k++) {
		e = read_ent(t, owned_id(slot, k));
		if (e != sl->ack[k])
			bad("%s: slot %d key %d: entry %" PRIx64
			    ", acknowledged %" PRIx64,
			    who, slot, k, e, sl->ack[k]);
	}
}

static void begin(struct slot *sl, int k, uint64_t ent)
{
	sl->pk = (uint32_t)k;
	sl->pend = ent;
	barrier();
	sl->active = 1;
	barrier();
}

static void commit(struct slot *sl)
{
	barrier();
	sl->ack[sl->pk] = sl->pend;
	barrier();
	sl->active = 0;
	barrier();
}

/*
 * Read another worker's key: a present value must be whole, or the empty
 * value of a key that a file worker is creating (shmtabfs(1): "A key
 * created by open(2) with O_CREAT exists, with an empty value, when open
 * returns"), which is counted.  The final check allows no empty value.
 */
static void read_any(shmtab *t, uint32_t id, bool final)
{
	uint64_t e = read_ent(t, id);
	char k[32];

	keyname(k, id);
	if (e == ENT_EMPTY && !final)
		__atomic_fetch_add(&sh->empty, 1, __ATOMIC_SEQ_CST);
	else if (e == ENT_BROKEN || e == ENT_EMPTY)
		bad("%s: %s: %s value", t ? "library" : "mount", k,
		    e == ENT_EMPTY ? "empty" : "broken");
}

static void op_owned(int slot, shmtab *t)
{
	struct slot *sl = &sh->slot[slot];
	int k = (int)(rnd() % NOWN);
	uint32_t id = owned_id(slot, k), r = rnd() % 100, len;
	uint64_t e, seq;
	int rc;

	if (r < 45) {
		seq = sl->next_seq++;
		len = pick_len();
		begin(sl, k, ENT(seq, len));
		rc = t ? lib_write(t, id, seq, len) : mnt_write(id, seq, len);
		if (rc < 0) {
			/* the intent stays live: the next worker settles it */
			bad("%s write o%d-%d: %s", t ? "library" : "mount",
			    slot, k, strerror(-rc));
			return;
		}
		commit(sl);
	} else if (r < 60) {
		begin(sl, k, 0);
		rc = t ? lib_remove(t, id) : mnt_unlink(id);
		if (rc == -ENOENT && sl->ack[k] == 0)
			rc = 0;
		if (rc < 0) {
			bad("%s remove o%d-%d: %s (acknowledged %" PRIx64 ")",
			    t ? "library" : "mount", slot, k, strerror(-rc),
			    sl->ack[k]);
			return;
		}
		commit(sl);
	} else if (r < 92 || t) {
		e = read_ent(t, id);
		if (e != sl->ack[k])
			bad("%s read o%d-%d: entry %" PRIx64
			    ", acknowledged %" PRIx64,
			    t ? "library" : "mount", slot, k, e, sl->ack[k]);
	} else {
		char path[PATH_MAX + 48];
		struct stat st;

		/* strict mode: the size is the acknowledged one at once */
		if (stat(kpath(path, id), &st) != 0) {
			if (errno != ENOENT || sl->ack[k] != 0)
				bad("stat %s: %s (acknowledged %" PRIx64 ")",
				    path, strerror(errno), sl->ack[k]);
		} else if (sl->ack[k] == 0 ||
			   (uint64_t)st.st_size != ENT_LEN(sl->ack[k])) {
			bad("stat %s: size %lld, acknowledged %" PRIx64, path,
			    (long long)st.st_size, sl->ack[k]);
		}
	}
}

static void op_shared(shmtab *t)
{
	uint32_t id = SHARED_ID(rnd() % NSHARED), r = rnd() % 100;
	int rc = 0;

	if (r < 35)
		rc = t ? lib_write(t, id, rnd(), pick_len())
		       : mnt_write(id, rnd(), pick_len());
	else if (r < 45)
		rc = t ? lib_remove(t, id) : mnt_unlink(id);
	else
		read_any(t, id, false);
	if (rc < 0 && rc != -ENOENT)
		bad("%s shared op: %s", t ? "library" : "mount",
		    strerror(-rc));
}

static void op_readdir(void)
{
	DIR *d = opendir(tabdir);
	struct dirent *de;
	uint32_t id;

	if (!d) {
		bad("opendir %s: %s", tabdir, strerror(errno));
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    !parse_key(de->d_name, strlen(de->d_name), &id))
			bad("readdir: unexpected name %s", de->d_name);
	closedir(d);
}

static int worker(void *arg)
{
	int slot = (int)(intptr_t)arg;
	struct slot *sl = &sh->slot[slot];
	bool file = is_file_slot(slot);
	shmtab *t = NULL;
	uint32_t r;
	int rc;

	rnd_state = base_seed ^ (uint32_t)slot * 0x9e3779b9u ^
		    (uint32_t)sl->generation * 0x85ebca6bu;
	rnd();
	if (!file) {
		rc = shmtab_open(libname, O_RDWR, 0, NULL, &t);
		if (rc < 0) {
			bad("open %s: %s", libname, shmtab_strerror(rc));
			return 1;
		}
	}
	resolve(slot, t, file ? "mount" : "library");
	while (!sh->stop) {
		r = rnd() % 100;
		if (r < 65)
			op_owned(slot, t);
		else if (r < 85)
			op_shared(t);
		else if (r < 97 || !file)
			read_any(t,
				 owned_id((int)(rnd() % (uint32_t)nslots),
					  (int)(rnd() % NOWN)),
				 false);
		else
			op_readdir();
		sl->ops++;
	}
	if (t)
		shmtab_close(t);
	return 0;
}

static pid_t start(int slot)
{
	pid_t pid;

	sh->slot[slot].generation++;
	if (!sh->slot[slot].next_seq)
		sh->slot[slot].next_seq = 1;
	pid = tu_fork(worker, (void *)(intptr_t)slot);
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	return pid;
}

/* ---- mounting ------------------------------------------------------------ */

static int mount_start(void)
{
	int i, status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execl(shmtabfs, "shmtabfs", "-f", srcdir, mntdir,
		      (char *)NULL);
		_exit(127);
	}
	daemon_pid = pid;
	mounted = true;
	for (i = 0; i < 200; i++) {
		if (tu_is_fuse_mount(mntdir))
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			mounted = false;
			return -ECHILD;
		}
		tu_sleep_ms(25);
	}
	return -ETIMEDOUT;
}

/* 0: clean unmount; 1: lazy after retries; 2: the daemon was killed. */
static int mount_stop(bool kill_daemon)
{
	char *argv[] = { "fusermount3", "-u", mntdir, NULL };
	char *lazy[] = { "fusermount3", "-uz", mntdir, NULL };
	int how = 0, i, st;

	if (!mounted)
		return 0;
	if (kill_daemon) {
		kill(daemon_pid, SIGKILL);
		how = 2;
	}
	for (i = 0; !kill_daemon && i < 5 && tu_is_fuse_mount(mntdir); i++) {
		if (tu_run(argv, 20, 1) == 0)
			break;
		tu_sleep_ms(10 << i);
	}
	/* a dead daemon's mount fails statfs (ENOTCONN): detach it anyway */
	if (kill_daemon || tu_is_fuse_mount(mntdir)) {
		if (!how)
			how = 1;
		tu_run(lazy, 20, 1);
	}
	/* the daemon of a lazily detached mount ends with the last user */
	if (busy_fd >= 0) {
		close(busy_fd);
		busy_fd = -1;
	}
	st = tu_wait(daemon_pid, 20);
	/* a lazily detached daemon gets no RELEASE for what was still open:
	 * it must free those handles itself (LeakSanitizer would end it
	 * with SIGABRT or exit code 23 otherwise) */
	if (!kill_daemon && st != 0)
		bad("shmtabfs exited with %d after the unmount", st);
	mounted = false;
	return how;
}

static void watchdog(int sig)
{
	int i;
	pid_t p;

	(void)sig;
	for (i = 0; i < nslots; i++)
		if (wpid[i] > 0)
			kill(wpid[i], SIGKILL);
	if (mounted) {
		p = fork();
		if (p == 0) {
			execlp("fusermount3", "fusermount3", "-uz", mntdir,
			       (char *)NULL);
			_exit(127);
		}
		if (p > 0)
			waitpid(p, NULL, 0);
		kill(daemon_pid, SIGKILL);
	}
	fprintf(stderr, "mount-torture: watchdog fired\n");
	_exit(99);
}

/* ---- the final check ------------------------------------------------ */

static int final_iter(const void *key, size_t klen, const void *val,
		      size_t vlen, void *ctx)
{
	long *n = ctx;
	uint32_t id;

	(*n)++;
	if (!parse_key(key, klen, &id))
		bad("final: unexpected key of %zu bytes", klen);
	else if (value_ent(val, vlen, id) >= ENT_EMPTY)
		bad("final: broken or empty value under %.*s", (int)klen,
		    (const char *)key);
	return 0;
}

static void final_check(void)
{
	shmtab *t;
	long n = 0;
	int rc, s, k;

	rc = shmtab_open(libname, O_RDWR, 0, NULL, &t);
	if (rc < 0) {
		bad("final open: %s", shmtab_strerror(rc));
		return;
	}
	/* the intents of workers killed last (none live: every round ends
	 * with workers that stopped by themselves) */
	for (s = 0; s < nslots; s++)
		resolve(s, t, "final");
	rc = shmtab_check(t);
	if (rc)
		bad("shmtab_check: %s", shmtab_strerror(rc));
	rc = shmtab_iter(t, final_iter, &n);
	if (rc < 0)
		bad("iter: %s", shmtab_strerror(rc));
	if (n != shmtab_length(t))
		bad("iter saw %ld bindings, length %lld", n, shmtab_length(t));
	for (s = 0; s < nslots; s++) {
		for (k = 0; k < NOWN; k++) {
			uint32_t id = owned_id(s, k);
			uint64_t e = mnt_read(id);

			if (e != sh->slot[s].ack[k])
				bad("final: o%d-%d through the mount: entry "
				    "%" PRIx64 ", acknowledged %" PRIx64,
				    s, k, e, sh->slot[s].ack[k]);
		}
	}
	for (k = 0; k < NSHARED; k++) {
		read_any(t, SHARED_ID(k), true);
		read_any(NULL, SHARED_ID(k), true);
	}
	shmtab_close(t);
}

static long arg_or_env(int argc, char **argv, const char *opt,
		       const char *env, long def)
{
	const char *e = env ? getenv(env) : NULL;
	int i;

	for (i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], opt))
			return strtol(argv[i + 1], NULL, 0);
	return e && *e ? strtol(e, NULL, 0) : def;
}

int main(int argc, char **argv)
{
	long seed, kills = 0, remounts = 0, lazies = 0, daemon_kills = 0;
	double secs, t0, elapsed;
	uint64_t mops = 0, lops = 0;
	int i, rounds = 0, rc, st = 0;
	shmtab *t;

	secs = (double)arg_or_env(argc, argv, "-d",
				  "SHMTAB_MOUNT_TORTURE_SECONDS", 8);
	nfile = (int)arg_or_env(argc, argv, "-w", NULL, 3);
	nlib = (int)arg_or_env(argc, argv, "-l", NULL, 3);
	seed = arg_or_env(argc, argv, "-s", "SHMTAB_MOUNT_TORTURE_SEED",
			  (long)time(NULL) ^ getpid());
	nslots = nfile + nlib;
	if (nfile < 1 || nlib < 1 || nslots > MAXSLOTS || secs < 0) {
		fprintf(stderr, "usage: mount-torture [-d SECONDS] [-w 1..] "
				"[-l 1..] [-s SEED] (at most %d workers)\n",
			MAXSLOTS);
		return 2;
	}

	rc = tu_mount_check();
	if (rc)
		return rc;
	shmtabfs = getenv("SHMTABFS");

	base_seed = (uint32_t)seed;
	rnd_state = base_seed | 1;
	fprintf(stderr, "mount-torture: seed %ld\n", seed);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	snprintf(srcdir, sizeof(srcdir), "%s/mt-%d-%lx-src", tu_tmpdir(),
		 (int)getpid(), (unsigned long)time(NULL));
	snprintf(mntdir, sizeof(mntdir), "%s/mt-%d-%lx-mnt", tu_tmpdir(),
		 (int)getpid(), (unsigned long)time(NULL));
	snprintf(libname, sizeof(libname), "file:%s/tab", srcdir);
	snprintf(tabdir, sizeof(tabdir), "%s/tab", mntdir);
	if (mkdir(srcdir, 0755) < 0 || mkdir(mntdir, 0755) < 0) {
		perror("mkdir");
		return 2;
	}
	rc = tu_create(libname, NULL, &t);
	if (rc < 0) {
		fprintf(stderr, "mount-torture: create %s: %s\n", libname,
			shmtab_strerror(rc));
		return 2;
	}
	shmtab_close(t);

	signal(SIGALRM, watchdog);
	alarm((unsigned)secs + WATCHDOG_EXTRA_S);
	t0 = tu_now();
	do {
		double rt = 0.3 + (rnd() % 1000) / 1000.0, r0;
		bool kill_one = rnd() % 2;

		if (!mounted) {
			rc = mount_start();
			if (rc < 0) {
				bad("mount: %s", strerror(-rc));
				break;
			}
			if (rounds)
				remounts++;
		}
		sh->stop = 0;
		barrier();
		for (i = 0; i < nslots; i++)
			wpid[i] = start(i);
		r0 = tu_now();
		if (kill_one) {
			tu_sleep_ms((int)(rt * 1000 * (rnd() % 90 + 5) / 100));
			i = nfile + (int)(rnd() % (uint32_t)nlib);
			kill(wpid[i], SIGKILL);
			if (waitpid(wpid[i], &st, 0) == wpid[i] &&
			    WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
				kills++;
			else
				bad("library worker %d ended by itself: "
				    "status %#x", i, st);
			wpid[i] = start(i);
		}
		while (tu_now() - r0 < rt)
			tu_sleep_ms(10);
		sh->stop = 1;
		barrier();
		for (i = 0; i < nslots; i++) {
			st = tu_wait(wpid[i], 60);
			if (st != 0)
				bad("worker %d: exit %d", i, st);
			wpid[i] = 0;
		}
		rounds++;
		/* keep the mount, unmount it, or lose it with its daemon */
		switch (rnd() % 4) {
		case 0:
			break;
		case 1:
			daemon_kills += mount_stop(true) == 2;
			break;
		case 2:
			/* busy: -u fails, -uz detaches it */
			busy_fd = open(tabdir, O_RDONLY | O_DIRECTORY);
			if (busy_fd < 0)
				bad("open %s: %s", tabdir, strerror(errno));
			lazies += mount_stop(false) == 1;
			break;
		default:
			lazies += mount_stop(false) == 1;
			break;
		}
	} while (tu_now() - t0 < secs || rounds < 3);
	if (!mounted) {
		rc = mount_start();
		if (rc < 0)
			bad("final mount: %s", strerror(-rc));
		else
			remounts++;
	}
	elapsed = tu_now() - t0;
	final_check();
	mount_stop(false);
	alarm(0);
	tu_remove(libname);
	rmdir(srcdir);
	rmdir(mntdir);
	for (i = 0; i < nslots; i++) {
		if (is_file_slot(i))
			mops += sh->slot[i].ops;
		else
			lops += sh->slot[i].ops;
	}
	fprintf(stderr, "mount-torture: %ld of the remounts after a SIGKILLed "
		"daemon, %ld after a lazy unmount; %" PRIu64
		" reads saw the empty value of a key being created with "
		"O_CREAT\n",
		daemon_kills, lazies, sh->empty);
	printf("mount-torture: %.0f s, %d rounds, %d+%d workers, %" PRIu64
	       " mount operations, %" PRIu64 " library operations, %ld "
	       "remounts, %ld kills, %" PRIu64 " inconsistencies\n",
	       elapsed, rounds, nfile, nlib, mops, lops, remounts, kills,
	       sh->inconsistencies);
	return sh->inconsistencies ? 1 : 0;
}
