/* SPDX-License-Identifier: MIT */
/*
 * fsview.c - the file view: shmtabfs against tmpfs and bindfs
 *
 *   bench/run-fsview.sh [-B BUILDDIR] [OPTIONS]    (installs, builds, runs)
 *   bench/fsview [-r ROUNDS] [-n RUNS] [-t SECONDS] [-b MIB] [-c SECONDS]
 *                [-s SYS[,SYS..]] [-w WORKLOAD[,..]] [-F SHMTABFS] [-L FLOOR]
 *                [-A ARG]..
 *                [-o TSV]
 *
 * The same data, 1000 keys of 100 bytes (keys/k0000..k0999), an empty table
 * for creations (new/), one key for the loops (misc/one) and a 256 MiB value
 * (misc/big), is shown by each system:
 *  - tmpfs: plain files in a directory under /dev/shm;
 *  - bindfs over that directory, with its defaults, and with its caches off
 *    (zero timeouts, direct_io: the coherent peer); optionally (-s) with 60 s
 *    caches and kernel_cache, the peer fuse-notes compares the cached mode to;
 *  - shmtabfs over a directory of table files filled through libshmtab, in
 *    the strict (default) mode, and in the cached mode (-o cache=SECONDS) over
 *    its own copy of the tables (-A passes more arguments to shmtabfs, such
 *    as -A -s for one thread);
 *  - fuse-floor (bench/fuse-floor.c, -L or $FUSE_FLOOR, else next to this
 *    program): a minimal in-memory libfuse3 server holding a copy of the
 *    tmpfs data, with the strict mode's settings, one thread and nothing
 *    else: what FUSE itself costs for the strict mode's requests, the floor
 *    shmtabfs strict is also given as a ratio to ("x floor").  Its data is
 *    its own, so it sits out the coherent path; fuse-floor-noperm (not by
 *    default) is the same without default_permissions.
 * The bench mounts every daemon itself (-f, in the background, in a process
 * group of its own so that ^C reaches only us), waits for the mount in
 * /proc/self/mountinfo, checks the data through it, and unmounts it with
 * fusermount3 -u at the end, on error, on ^C and on a watchdog timeout.
 *
 * Workloads, as fuse-notes section 3 measured them, so that its goals apply:
 * the real ls -l, cat and stat (output to /dev/null; cat's to a memfd, which
 * is checked), bash's builtin echo in one bash, and C loops in this process.
 * The coherent path changes every key from a forked child first (untimed:
 * shmtab_replace for the tables, a write of each file in the tmpfs directory
 * otherwise), then times the cat or stat, and counts the keys that did not
 * show the new value or size ("stale"): none is allowed where the system
 * claims coherence (tmpfs, bindfs with caches off, shmtabfs strict).
 *
 * For each workload: one warm-up run per system, then ROUNDS rounds in which
 * every system runs in turn, the order rotating from round to round.  A
 * round's figure is the median of RUNS runs (one timed loop of SECONDS for
 * the loops); the table gives the median over the rounds and time ratios
 * (lower is better): to tmpfs, and for shmtabfs to the bindfs peers.  Then
 * the goals of issue 3 and fuse-notes section 8, and every median appended
 * to a TSV file (date, host, workload, system, unit, median, rounds,
 * ratio_tmpfs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
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

#include <shmtab.h>

#include "bench.h"

extern char **environ;

#define NKEYS 1000
#define VLEN 100
#define CHUNK ((size_t)1 << 20)	/* read and write size of the big value */
#define MAXROUNDS 64
#define MAXRUNS 64
#define WATCHDOG 120		/* seconds for one run before giving up */
#define MOUNT_WAIT 15.0		/* seconds for a mount to appear */

static const char *workdir_root = "/dev/shm";
static char workdir[PATH_MAX / 2];
static pid_t main_pid;
static volatile sig_atomic_t stop;	/* the signal that asks us to stop */
static pid_t running;			/* a child of a run, killed on stop */
static int nullfd = -1, outfd = -1;	/* /dev/null, cat's output (memfd) */
static char *outbuf;			/* what cat wrote */
static size_t outcap;
static char *chunk;			/* one CHUNK of the big value */
static size_t bigsize = (size_t)256 << 20;
static const char *shmtabfs_path;
static const char *floor_path;
static char *shmtabfs_args[8];		/* -A */
static int nargs;
static int cache_secs = 1;

/* --- utilities -------------------------------------------------------- */

static void cleanup(void);

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fsview: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (getpid() != main_pid)
		_exit(1);
	cleanup();
	exit(1);
}

static void check_stop(void)
{
	if (stop)
		die(stop == SIGALRM ? "a run took over %d s: giving up" :
				      "interrupted", WATCHDOG);
}

static void on_signal(int sig)
{
	stop = sig;
}

static void xwrite(int fd, const void *p, size_t n, const char *what)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR) {
			check_stop();
			continue;
		}
		if (w <= 0)
			die("write '%s': %s", what, w ? strerror(errno) : "0");
		c += w;
		n -= (size_t)w;
	}
}

/* Read a whole small file into buf; its length, or -errno. */
static long read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t r;

	if (fd < 0)
		return -errno;
	while (got < cap && (r = read(fd, buf + got, cap - got)) != 0) {
		if (r < 0) {
			int err = errno;

			if (err == EINTR && !stop)
				continue;
			close(fd);
			return -err;
		}
		got += (size_t)r;
	}
	close(fd);
	return (long)got;
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		die("cannot create '%s': %s", path, strerror(errno));
	xwrite(fd, p, n, path);
	if (close(fd) < 0)
		die("close '%s': %s", path, strerror(errno));
}

/* --- the data --------------------------------------------------------- */

/*
 * Every key holds either the value bash's echo writes (state -1: 99 'v' and
 * a newline) or the value of change number `state` (the key's name and the
 * number, 99 or 101 bytes so that a stale size shows too).
 */
static const char echo_text[] =
	"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
	"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv";
_Static_assert(sizeof(echo_text) == VLEN, "echo writes 99 bytes and a newline");

static size_t value_of(char *buf, int key, int state)
{
	size_t len = state < 0 ? VLEN : state & 1 ? VLEN + 1 : VLEN - 1;
	int n = 0;

	if (state < 0)
		memcpy(buf, echo_text, VLEN - 1);
	else
		n = snprintf(buf, len, "k%04d change %d ", key, state);
	if (state >= 0)
		memset(buf + n, 'c', len - 1 - (size_t)n);
	buf[len - 1] = '\n';
	return len;
}

/* Chunk j of the big value: random bytes, the first 8 the chunk's number. */
static void stamp(uint64_t j)
{
	memcpy(chunk, &j, sizeof(j));
}

static void chunk_init(void)
{
	uint64_t s = 0x5eed;

	chunk = malloc(CHUNK);
	if (!chunk)
		die("out of memory");
	for (size_t i = 0; i < CHUNK; i += 8) {
		uint64_t z = (s += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		memcpy(chunk + i, &z, 8);
	}
}

enum { D_FILES, D_STRICT, D_CACHED, ND };

struct data {
	const char *id;
	int tables;		/* libshmtab table files, else plain files */
	int used, made;
	char dir[PATH_MAX];
	int state;		/* what every key of keys/ holds, see value_of */
	int changes;		/* changes made so far */
};

static struct data datas[ND] = {
	[D_FILES] = { "files", 0 },
	[D_STRICT] = { "tables-strict", 1 },
	[D_CACHED] = { "tables-cached", 1 },
};

static void data_files(struct data *d)
{
	char p[PATH_MAX + 64], v[VLEN + 2];
	const char *sub[] = { "keys", "new", "misc" };
	size_t vl;
	int fd;

	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", d->dir, sub[i]);
		if (mkdir(p, 0755) < 0)
			die("mkdir '%s': %s", p, strerror(errno));
	}
	for (int i = 0; i < NKEYS; i++) {
		vl = value_of(v, i, -1);
		snprintf(p, sizeof(p), "%s/keys/k%04d", d->dir, i);
		write_file(p, v, vl);
	}
	snprintf(p, sizeof(p), "%s/misc/one", d->dir);
	write_file(p, v, value_of(v, 0, -1));
	snprintf(p, sizeof(p), "%s/misc/big", d->dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot create '%s': %s", p, strerror(errno));
	for (uint64_t j = 0; j * CHUNK < bigsize; j++) {
		stamp(j);
		xwrite(fd, chunk, CHUNK, p);
	}
	close(fd);
}

static shmtab *table_open(const struct data *d, const char *name, int oflags)
{
	struct shmtab_options opt = { .init = 2 * NKEYS };
	char p[PATH_MAX + 64];
	shmtab *t;
	int err;

	snprintf(p, sizeof(p), "file:%s/%s", d->dir, name);
	err = shmtab_open(p, oflags, 0644, &opt, &t);
	if (err < 0)
		die("cannot open '%s': %s", p, shmtab_strerror(err));
	return t;
}

static void table_put(shmtab *t, const char *key, const void *v, size_t vl)
{
	int err = shmtab_replace(t, key, strlen(key), v, vl);

	if (err < 0)
		die("replace '%s': %s", key, shmtab_strerror(err));
}

static void data_tables(struct data *d)
{
	shmtab *t = table_open(d, "keys", O_RDWR | O_CREAT | O_EXCL);
	char k[16], v[VLEN + 2], *big;

	for (int i = 0; i < NKEYS; i++) {
		snprintf(k, sizeof(k), "k%04d", i);
		table_put(t, k, v, value_of(v, i, -1));
	}
	shmtab_close(t);
	shmtab_close(table_open(d, "new", O_RDWR | O_CREAT | O_EXCL));
	t = table_open(d, "misc", O_RDWR | O_CREAT | O_EXCL);
	table_put(t, "one", v, value_of(v, 0, -1));
	big = malloc(bigsize);
	if (!big)
		die("out of memory for the big value");
	for (uint64_t j = 0; j * CHUNK < bigsize; j++) {
		stamp(j);
		memcpy(big + j * CHUNK, chunk, CHUNK);
	}
	table_put(t, "big", big, bigsize);
	free(big);
	shmtab_close(t);
}

static void data_make(struct data *d)
{
	snprintf(d->dir, sizeof(d->dir), "%s/%s", workdir, d->id);
	if (mkdir(d->dir, 0755) < 0)
		die("mkdir '%s': %s", d->dir, strerror(errno));
	d->made = 1;
	d->state = -1;
	if (d->tables)
		data_tables(d);
	else
		data_files(d);
}

static int wait_run(pid_t pid);

/*
 * The other process of the coherent path: gives every key of keys/ a new
 * value, through the library or by writing the files, and exits.
 */
static void data_change(struct data *d)
{
	int state = d->changes++;
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		char p[PATH_MAX + 64], k[16], v[VLEN + 2];
		shmtab *t = NULL;

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		if (d->tables)
			t = table_open(d, "keys", O_RDWR);
		for (int i = 0; i < NKEYS; i++) {
			size_t vl = value_of(v, i, state);

			snprintf(k, sizeof(k), "k%04d", i);
			if (t) {
				table_put(t, k, v, vl);
				continue;
			}
			snprintf(p, sizeof(p), "%s/keys/%s", d->dir, k);
			write_file(p, v, vl);
		}
		shmtab_close(t);
		_exit(0);
	}
	if (wait_run(pid))
		die("the process changing '%s' failed", d->dir);
	d->state = state;
}

/* Remove a data directory; never crosses into a mount (FTW_MOUNT). */
static int rm_one(const char *path, const struct stat *st, int type,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void data_remove(struct data *d)
{
	if (!d->made)
		return;
	nftw(d->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	d->made = 0;
}

/* --- the systems ------------------------------------------------------ */

enum kind { K_TMPFS, K_BINDFS, K_SHMTABFS, K_FLOOR };

enum { S_TMPFS, S_BDEF, S_BNOC, S_BCACHE, S_STRICT, S_CACHED, S_FLOOR,
       S_FLOORNP, NSYS };

struct sys {
	const char *id, *name;
	enum kind kind;
	const char *opts;	/* -o for the daemon */
	int data;
	int coherent;		/* claims every change is seen at once */
	int by_default;
	/* at run time */
	int on;
	char mnt[PATH_MAX];	/* mount point, for the daemons */
	const char *root;	/* where keys/, new/ and misc/ are */
	pid_t pid;		/* the daemon */
	char *keys[NKEYS], *news[NKEYS], *one, *big, *keydir;
};

static char cache_opt[32];

static struct sys systems[NSYS] = {
	[S_TMPFS] = { "tmpfs", "tmpfs", K_TMPFS, NULL, D_FILES, 1, 1 },
	[S_BDEF] = { "bindfs-default", "bindfs, defaults", K_BINDFS, NULL,
		     D_FILES, 0, 1 },
	[S_BNOC] = { "bindfs-nocache", "bindfs, caches off", K_BINDFS,
		     "entry_timeout=0,attr_timeout=0,negative_timeout=0,"
		     "direct_io", D_FILES, 1, 1 },
	[S_BCACHE] = { "bindfs-cache", "bindfs, 60 s caches", K_BINDFS,
		       "kernel_cache,entry_timeout=60,attr_timeout=60,"
		       "negative_timeout=60", D_FILES, 0, 0 },
	[S_STRICT] = { "shmtabfs-strict", "shmtabfs strict", K_SHMTABFS, NULL,
		       D_STRICT, 1, 1 },
	[S_CACHED] = { "shmtabfs-cached", "shmtabfs cached", K_SHMTABFS,
		       cache_opt, D_CACHED, 0, 1 },
	[S_FLOOR] = { "fuse-floor", "FUSE floor", K_FLOOR, NULL, D_FILES, 0,
		      1 },
	[S_FLOORNP] = { "fuse-floor-noperm", "FUSE floor, no "
			"default_permissions", K_FLOOR, NULL, D_FILES, 0, 0 },
};

static char *xstrdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		die("out of memory");
	va_end(ap);
	return s;
}

static void sys_paths(struct sys *s)
{
	for (int i = 0; i < NKEYS; i++) {
		s->keys[i] = xstrdup_printf("%s/keys/k%04d", s->root, i);
		s->news[i] = xstrdup_printf("%s/new/n%04d", s->root, i);
	}
	s->keydir = xstrdup_printf("%s/keys", s->root);
	s->one = xstrdup_printf("%s/misc/one", s->root);
	s->big = xstrdup_printf("%s/misc/big", s->root);
}

/* Is something mounted on path?  Field 5 of /proc/self/mountinfo. */
static int is_mounted(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mp[4096];
	int found = 0;

	if (!f)
		die("cannot read /proc/self/mountinfo: %s", strerror(errno));
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
		    !strcmp(mp, path))
			found = 1;
	fclose(f);
	return found;
}

/* Start argv with its standard output on fd (-1: ours); -1 if it cannot
 * be started (the message printed) when may_fail, else die. */
static pid_t spawn(char *const argv[], int fd, int own_group, int may_fail)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	pid_t pid;
	int err;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	if (fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, fd, 1);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);	/* we ignore it; they should not */
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF |
				 (own_group ? POSIX_SPAWN_SETPGROUP : 0));
	err = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (err && may_fail) {
		fprintf(stderr, "fsview: cannot run '%s': %s\n", argv[0],
			strerror(err));
		return -1;
	}
	if (err)
		die("cannot run '%s': %s", argv[0], strerror(err));
	return pid;
}

/* Wait for a child of a run; its exit status (or 128 + signal). */
static int wait_run(pid_t pid)
{
	int status;

	running = pid;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
		check_stop();
	}
	running = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) :
				   128 + WTERMSIG(status);
}

static void fusermount_u(const char *mnt, int lazy)
{
	char *argv[] = { "fusermount3", "-u", lazy ? "-z" : NULL, NULL, NULL };
	int status;
	pid_t pid;

	/* called from cleanup: must not die */
	argv[lazy ? 3 : 2] = (char *)mnt;
	pid = spawn(argv, -1, 0, 1);
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

static void sys_unmount(struct sys *s)
{
	int status, gone = 0;
	double t0;

	if (s->pid <= 0)
		goto out_rmdir;
	if (is_mounted(s->mnt))
		fusermount_u(s->mnt, 0);
	if (is_mounted(s->mnt)) {
		fprintf(stderr, "fsview: '%s' still mounted: lazy unmount\n",
			s->mnt);
		fusermount_u(s->mnt, 1);
	}
	for (t0 = now(); now() - t0 < 5;) {
		pid_t r = waitpid(s->pid, &status, WNOHANG);

		if (r == s->pid || (r < 0 && errno != EINTR)) {
			gone = 1;
			break;
		}
		usleep(10000);
	}
	if (!gone) {
		fprintf(stderr, "fsview: %s (pid %d) did not exit: SIGTERM\n",
			s->id, (int)s->pid);
		kill(s->pid, SIGTERM);
		sleep(2);
		if (waitpid(s->pid, &status, WNOHANG) != s->pid) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
		}
	}
	s->pid = 0;
out_rmdir:
	if (s->mnt[0] && !is_mounted(s->mnt) && rmdir(s->mnt) == 0)
		s->mnt[0] = 0;
}

static void sys_mount(struct sys *s)
{
	char *argv[16];
	int n = 0, status;
	double t0;

	snprintf(s->mnt, sizeof(s->mnt), "%s/mnt-%s", workdir, s->id);
	if (mkdir(s->mnt, 0755) < 0)
		die("mkdir '%s': %s", s->mnt, strerror(errno));
	argv[n++] = (char *)(s->kind == K_BINDFS ? "bindfs" :
			     s->kind == K_FLOOR	 ? floor_path :
						   shmtabfs_path);
	argv[n++] = "-f";
	if (s - systems == S_FLOORNP)
		argv[n++] = "--no-perm";
	for (int i = 0; s->kind == K_SHMTABFS && i < nargs; i++)
		argv[n++] = shmtabfs_args[i];
	if (s->opts) {
		argv[n++] = "-o";
		argv[n++] = (char *)s->opts;
	}
	argv[n++] = datas[s->data].dir;
	argv[n++] = s->mnt;
	argv[n] = NULL;
	s->pid = spawn(argv, -1, 1, 0);
	for (t0 = now(); !is_mounted(s->mnt); usleep(10000)) {
		pid_t r = waitpid(s->pid, &status, WNOHANG);

		check_stop();
		if (r == s->pid) {
			s->pid = 0;
			die("%s did not come up: '%s' exited with status %d",
			    s->id, argv[0], WIFEXITED(status) ?
			    WEXITSTATUS(status) : 128 + WTERMSIG(status));
		}
		if (now() - t0 > MOUNT_WAIT)
			die("%s did not come up: no mount on '%s' after %.0f s",
			    s->id, s->mnt, MOUNT_WAIT);
	}
}

/* Once per system, before any timing: is the data what it should be? */
static void sys_verify(struct sys *s)
{
	struct data *d = &datas[s->data];
	char v[VLEN + 2], buf[4096];
	struct dirent *e;
	struct stat st;
	size_t vl;
	long got;
	int n = 0, fd;
	DIR *dir;

	dir = opendir(s->keydir);
	if (!dir)
		die("%s: cannot list '%s': %s", s->id, s->keydir,
		    strerror(errno));
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	if (n != NKEYS)
		die("%s: '%s' lists %d keys, not %d", s->id, s->keydir, n,
		    NKEYS);
	for (int i = 0; i < NKEYS; i += NKEYS - 1) {
		vl = value_of(v, i, d->state);
		got = read_small(s->keys[i], buf, sizeof(buf));
		if (got != (long)vl || memcmp(buf, v, vl))
			die("%s: '%s' does not hold its value (%ld bytes read)",
			    s->id, s->keys[i], got);
	}
	vl = value_of(v, 0, -1);
	got = read_small(s->one, buf, sizeof(buf));
	if (got != VLEN || memcmp(buf, v, VLEN))
		die("%s: '%s' does not hold its value", s->id, s->one);
	if (stat(s->big, &st) < 0 || (size_t)st.st_size != bigsize)
		die("%s: '%s' is not %zu bytes", s->id, s->big, bigsize);
	fd = open(s->big, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s: cannot open '%s': %s", s->id, s->big, strerror(errno));
	for (uint64_t j = 0; j * CHUNK < bigsize; j++) {
		char *p = outbuf;
		size_t left = CHUNK;

		while (left) {
			ssize_t r = read(fd, p, left);

			if (r <= 0)
				die("%s: reading '%s': %s", s->id, s->big,
				    r ? strerror(errno) : "short");
			p += r;
			left -= (size_t)r;
		}
		stamp(j);
		if (memcmp(outbuf, chunk, CHUNK))
			die("%s: '%s' differs in MiB %llu", s->id, s->big,
			    (unsigned long long)j);
	}
	close(fd);
}

static void sys_start(struct sys *s)
{
	if (s->kind == K_TMPFS)
		s->root = datas[s->data].dir;
	else {
		sys_mount(s);
		s->root = s->mnt;
	}
	sys_paths(s);
	sys_verify(s);
	fprintf(stderr, "fsview: %s ready on '%s'\n", s->id, s->root);
}

static void cleanup(void)
{
	if (running > 0) {
		kill(running, SIGKILL);
		waitpid(running, NULL, 0);
		running = 0;
	}
	for (int s = NSYS - 1; s >= 0; s--)
		sys_unmount(&systems[s]);
	for (int d = 0; d < ND; d++)
		data_remove(&datas[d]);
	if (workdir[0] && rmdir(workdir) < 0 && errno != ENOENT)
		fprintf(stderr, "fsview: left behind: '%s': %s\n", workdir,
			strerror(errno));
	workdir[0] = 0;
}

/* --- the workloads ---------------------------------------------------- */

enum wl {
	W_LS,		/* ls -l of the table */
	W_CAT,		/* cat of every key, one process */
	W_STAT,		/* stat() of every key, C loop */
	W_STATCMD,	/* stat -c %s of every key, one process */
	W_ECHO,		/* echo v > key over every key, one bash */
	W_CREATE,	/* echo v > key creating 1000 keys */
	W_ORC,		/* open+read+close loop, one key */
	W_STATLOOP,	/* stat loop, one key */
	W_WLOOP,	/* open(O_TRUNC)+write 100 B+close loop, one key */
	W_SEQR,		/* sequential read of the big value */
	W_SEQW,		/* sequential write of the big value */
	W_CCAT,		/* cat of every key after a change elsewhere */
	W_CSTAT,	/* stat() of every key after a change elsewhere */
	NWL
};

enum unit { U_MS, U_OPS, U_GBS };

static const struct {
	const char *id, *name;
	enum unit unit;
	int checked;		/* counts stale keys */
} wls[NWL] = {
	[W_LS] = { "ls-l", "ls -l of the table (/bin/ls, 1000 keys)", U_MS },
	[W_CAT] = { "cat-all", "cat of every key, one process (/bin/cat)",
		    U_MS, 1 },
	[W_STAT] = { "stat-all", "stat() of every key, C loop in one process",
		     U_MS, 1 },
	[W_STATCMD] = { "stat-cmd", "stat -c %s of every key, one process",
			U_MS },
	[W_ECHO] = { "echo-over", "echo v > key over every key, one bash",
		     U_MS },
	[W_CREATE] = { "echo-create", "echo v > key creating 1000 keys, "
		       "one bash", U_MS },
	[W_ORC] = { "open-read-close", "open+read+close loop, one key",
		    U_OPS },
	[W_STATLOOP] = { "stat-loop", "stat loop, one key", U_OPS },
	[W_WLOOP] = { "trunc-write-loop", "open(O_TRUNC)+write 100 B+close "
		      "loop, one key", U_OPS },
	[W_SEQR] = { "seq-read", "sequential read of the big value, 1 MiB "
		     "reads", U_GBS },
	[W_SEQW] = { "seq-write", "sequential write of the big value "
		     "(O_TRUNC, 1 MiB writes, close)", U_GBS },
	[W_CCAT] = { "changed-cat", "cat of every key right after another "
		     "process changed every key", U_MS, 1 },
	[W_CSTAT] = { "changed-stat", "stat() of every key right after "
		      "another process changed every key", U_MS, 1 },
};

static const char *const unit_name[] = { "ms", "ops/s", "GB/s" };

static double loop_secs = 0.5;
static int nrounds = 5, nruns = 3;
static int wl_on[NWL];

/* Run a command of the bench; seconds, dies when it fails. */
static double timed_cmd(struct sys *s, char *const argv[], int fd)
{
	double t0 = now(), t;
	int rc = wait_run(spawn(argv, fd, 0, 0));

	t = now() - t0;
	if (rc)
		die("%s: '%s' failed (status %d)", s->id, argv[0], rc);
	return t;
}

static char **argv_keys(const char *a0, const char *a1, const char *a2,
			const char *a3, const char *a4, char *const *paths)
{
	static char *argv[NKEYS + 8];
	const char *head[] = { a0, a1, a2, a3, a4 };
	int n = 0;

	for (int i = 0; i < 5 && head[i]; i++)
		argv[n++] = (char *)head[i];
	for (int i = 0; i < NKEYS; i++)
		argv[n++] = paths[i];
	argv[n] = NULL;
	return argv;
}

/* cat's output against what the keys hold: the number of keys that differ. */
static int check_cat(const struct data *d)
{
	off_t len = lseek(outfd, 0, SEEK_END);
	char v[VLEN + 2], *p = outbuf, *end;
	int stale = 0;

	if (len < 0 || (size_t)len > outcap)
		return NKEYS;
	if (pread(outfd, outbuf, (size_t)len, 0) != len)
		die("cannot read cat's output: %s", strerror(errno));
	end = outbuf + len;
	for (int i = 0; i < NKEYS; i++) {
		size_t vl = value_of(v, i, d->state);

		if ((size_t)(end - p) >= vl && !memcmp(p, v, vl)) {
			p += vl;
			continue;
		}
		stale++;
		p = memchr(p, '\n', (size_t)(end - p));
		p = p ? p + 1 : end;
	}
	return stale + (p != end);
}

static double run_cat(struct sys *s, int *stale)
{
	static const char *const cat = "/bin/cat";
	double t;

	if (ftruncate(outfd, 0) < 0 || lseek(outfd, 0, SEEK_SET) < 0)
		die("memfd: %s", strerror(errno));
	t = timed_cmd(s, argv_keys(cat, NULL, NULL, NULL, NULL, s->keys),
		      outfd);
	*stale += check_cat(&datas[s->data]);
	return t;
}

static double run_stat_all(struct sys *s, int *stale)
{
	const struct data *d = &datas[s->data];
	off_t want = d->state < 0 ? VLEN : d->state & 1 ? VLEN + 1 : VLEN - 1;
	struct stat st;
	double t0 = now(), t;
	int bad = 0;

	for (int i = 0; i < NKEYS; i++) {
		if (stat(s->keys[i], &st) < 0)
			die("%s: stat '%s': %s", s->id, s->keys[i],
			    strerror(errno));
		bad += st.st_size != want;
	}
	t = now() - t0;
	*stale += bad;
	return t;
}

static double run_echo(struct sys *s, char *const *paths)
{
	static const char script[] =
		"v=$1; shift; for f; do echo \"$v\" > \"$f\" || exit 1; done";

	return timed_cmd(s, argv_keys("/bin/bash", "-c", script, "fsview",
				      echo_text, paths), nullfd);
}

/* A loop for secs; operations per second. */
static double run_loop(struct sys *s, int w, double secs)
{
	char buf[4096], v[VLEN + 2];
	double t0 = now(), t, deadline = t0 + secs;
	long ops = 0;
	struct stat st;
	int fd;

	value_of(v, 0, -1);
	errno = 0;
	do {
		for (int k = 0; k < 16; k++, ops++) {
			switch (w) {
			case W_ORC:
				fd = open(s->one, O_RDONLY);
				if (fd < 0 || read(fd, buf, sizeof(buf)) !=
						      VLEN)
					goto fail;
				close(fd);
				break;
			case W_STATLOOP:
				if (stat(s->one, &st) < 0 ||
				    st.st_size != VLEN)
					goto fail;
				break;
			default:
				fd = open(s->one,
					  O_WRONLY | O_CREAT | O_TRUNC, 0644);
				if (fd < 0 || write(fd, v, VLEN) != VLEN ||
				    close(fd) < 0)
					goto fail;
			}
		}
		check_stop();
	} while ((t = now()) < deadline);
	return ops / (t - t0);
fail:
	check_stop();
	die("%s: %s on '%s': %s", s->id, wls[w].id, s->one,
	    errno ? strerror(errno) : "wrong size");
	return 0;
}

/* From open to close: shmtabfs copies the value at open, commits at close. */
static double run_seq(struct sys *s, int w)
{
	double t0 = now();
	int fd = w == W_SEQR ? open(s->big, O_RDONLY | O_CLOEXEC) :
			       open(s->big, O_WRONLY | O_TRUNC | O_CLOEXEC);
	size_t total = 0;
	ssize_t r;

	if (fd < 0)
		die("%s: cannot open '%s': %s", s->id, s->big, strerror(errno));
	if (w == W_SEQR) {
		while ((r = read(fd, outbuf, CHUNK)) > 0)
			total += (size_t)r;
		if (r < 0)
			die("%s: read '%s': %s", s->id, s->big,
			    strerror(errno));
		if (total != bigsize)
			die("%s: read %zu bytes of '%s', not %zu", s->id, total,
			    s->big, bigsize);
	} else {
		for (uint64_t j = 0; j * CHUNK < bigsize; j++) {
			stamp(j);
			xwrite(fd, chunk, CHUNK, s->big);
		}
	}
	if (close(fd) < 0)
		die("%s: close '%s': %s", s->id, s->big, strerror(errno));
	return (double)bigsize / (now() - t0) / 1e9;
}

/* One run of workload w on system s, in the workload's unit; a loop runs
 * for secs. */
static double run_once(int w, struct sys *s, int *stale, double secs)
{
	struct data *d = &datas[s->data];
	double t;

	switch (w) {
	case W_LS:
		t = timed_cmd(s, (char *[]){ "/bin/ls", "-l", s->keydir, NULL },
			      nullfd);
		break;
	case W_CAT:
		t = run_cat(s, stale);
		break;
	case W_STAT:
		t = run_stat_all(s, stale);
		break;
	case W_STATCMD:
		t = timed_cmd(s, argv_keys("/usr/bin/stat", "-c", "%s", NULL,
					   NULL, s->keys), nullfd);
		break;
	case W_ECHO:
		t = run_echo(s, s->keys);
		d->state = -1;
		break;
	case W_CREATE:
		for (int i = 0; i < NKEYS; i++)
			if (unlink(s->news[i]) < 0 && errno != ENOENT)
				die("%s: unlink '%s': %s", s->id, s->news[i],
				    strerror(errno));
		t = run_echo(s, s->news);
		break;
	case W_ORC:
	case W_STATLOOP:
	case W_WLOOP:
		return run_loop(s, w, secs);
	case W_SEQR:
	case W_SEQW:
		return run_seq(s, w);
	case W_CCAT:
		data_change(d);
		t = run_cat(s, stale);
		break;
	default:
		data_change(d);
		t = run_stat_all(s, stale);
	}
	return t * 1e3;
}

/*
 * A round's figure: the median of nruns runs (one run of a loop).  The
 * warm-up is one run (a fifth of a loop).
 */
static double run_unit(int w, struct sys *s, int *stale, int warm_up)
{
	double v[MAXRUNS];
	int n = wls[w].unit == U_OPS || warm_up ? 1 : nruns;

	/* the floor's data is a copy: a change behind it would not show */
	if (s->kind == K_FLOOR && (w == W_CCAT || w == W_CSTAT))
		return NAN;

	for (int i = 0; i < n; i++) {
		alarm(WATCHDOG);
		v[i] = run_once(w, s, stale,
				warm_up ? loop_secs / 5 : loop_secs);
		alarm(0);
		check_stop();
	}
	return median(v, n, NULL, NULL);
}

/* --- results ---------------------------------------------------------- */

static double res[NWL][NSYS][MAXROUNDS];
static int stale[NWL][NSYS];
static double wl_secs[NWL];

static double med(int w, int s)
{
	return s < 0 || !systems[s].on ? NAN : median(res[w][s], nrounds,
						      NULL, NULL);
}

/* Time ratio of system a to system b on workload w (lower: a is faster). */
static double tratio(int w, int a, int b)
{
	double x = med(w, a), y = med(w, b);

	return wls[w].unit == U_MS ? x / y : y / x;
}

static const char *fmt_val(char *b, size_t sz, int w, double v)
{
	if (isnan(v))
		snprintf(b, sz, "-");
	else if (wls[w].unit == U_OPS)
		snprintf(b, sz, "%.0f", v);
	else
		snprintf(b, sz, "%.2f", v);
	return b;
}

static void print_tables(void)
{
	char a[32], b[32], c[32], e[32], f[32], g[32], h[32], k[32];
	int bc = systems[S_BCACHE].on, fl = systems[S_FLOOR].on;

	for (int w = 0; w < NWL; w++) {
		if (!wl_on[w])
			continue;
		printf("\n== %s (%s, median of %d rounds; x = time ratio, "
		       "lower is better) ==\n", wls[w].name,
		       unit_name[wls[w].unit], nrounds);
		printf("%-17s %10s %10s %10s %7s %9s %9s%s%s%s\n", "system",
		       "median", "min", "max", "x tmpfs", "x bfs-noc",
		       "x bfs-def", bc ? " x bfs-cache" : "",
		       fl ? " x floor" : "",
		       wls[w].checked ? "  stale keys" : "");
		for (int s = 0; s < NSYS; s++) {
			double lo, hi, m;
			int shm = systems[s].kind == K_SHMTABFS;

			if (!systems[s].on)
				continue;
			m = median(res[w][s], nrounds, &lo, &hi);
			if (isnan(m))
				continue;	/* the floor, coherent path */
			printf("%-17s %10s %10s %10s %7s %9s %9s",
			       systems[s].id, fmt_val(a, 32, w, m),
			       fmt_val(b, 32, w, lo), fmt_val(c, 32, w, hi),
			       fmt_ratio(e, 32, tratio(w, s, S_TMPFS)),
			       fmt_ratio(f, 32, shm ? tratio(w, s, S_BNOC) :
						      NAN),
			       fmt_ratio(g, 32, shm ? tratio(w, s, S_BDEF) :
						      NAN));
			if (bc)
				printf(" %11s",
				       fmt_ratio(h, 32, shm ? tratio(w, s,
								     S_BCACHE) :
							      NAN));
			if (fl)
				printf(" %8s",
				       fmt_ratio(k, 32, shm ? tratio(w, s,
								     S_FLOOR) :
							      NAN));
			if (wls[w].checked)
				printf("  %d of %d%s", stale[w][s],
				       nrounds * nruns * NKEYS,
				       stale[w][s] && systems[s].coherent ?
					       "  COHERENCE BROKEN" : "");
			printf("\n");
		}
	}
}

/*
 * fuse-notes section 8 (every cell) and issue 3 (the cells marked): time
 * ratios, upper bounds; NAN where there is no goal.  Columns: strict vs
 * tmpfs, vs bindfs caches off, vs bindfs defaults; cached vs tmpfs, vs
 * bindfs with 60 s caches.
 */
static const struct {
	int w;
	const char *what;
	double need[5];
	unsigned issue3;	/* bit per column */
} goals[] = {
	{ W_LS, "ls -l of the table", { 6, 0.35, 1.5, 1.5, 0.4 }, 0x0b },
	{ W_CAT, "cat of every key", { 5, 0.8, 2, 2, 1.2 }, 0x0b },
	{ W_STATCMD, "stat of every key", { 5.5, 0.5, 5, 1.5, 1.2 }, 0x0b },
	{ W_ECHO, "echo v > key over every key", { 7, 0.8, 1.1, 7, 1.0 },
	  0x0b },
	{ W_CREATE, "echo v > key creating 1000", { 8, 0.9, 1.3, 9, 1.3 }, 0 },
	{ W_ORC, "open+read+close loop", { 25, 0.7, 2.5, 14, 1.3 }, 0x0b },
	{ W_STATLOOP, "stat loop", { 45, 0.7, NAN, 1.5, 1.1 }, 0x0b },
	{ W_WLOOP, "O_TRUNC write loop", { 25, 0.7, 1.2, 20, 1.0 }, 0 },
	{ W_SEQR, "sequential read, big value", { 3, 0.7, 0.7, 1.5, 1.1 },
	  0x0b },
};

static const struct {
	int mine, peer;
	const char *what;
} cols[5] = {
	{ S_STRICT, S_TMPFS, "strict / tmpfs" },
	{ S_STRICT, S_BNOC, "strict / bindfs-nocache" },
	{ S_STRICT, S_BDEF, "strict / bindfs-default" },
	{ S_CACHED, S_TMPFS, "cached / tmpfs" },
	{ S_CACHED, S_BCACHE, "cached / bindfs-cache" },
};

/*
 * The strict mode's goals applied to the floor: a goal the floor misses is
 * bound by FUSE on this machine, not by shmtabfs.  And how far strict is
 * from the floor.
 */
static void print_floor(void)
{
	char a[32], b[32], c[32], l[64];

	if (!systems[S_FLOOR].on)
		return;
	printf("\n== the floor against the strict mode's goals (a goal the "
	       "floor misses\n   is bound by FUSE here) ==\n");
	printf("%-30s %-24s %7s %7s  %-11s %s\n", "operation", "comparison",
	       "ratio", "goal", "verdict", "strict/floor");
	for (size_t i = 0; i < sizeof(goals) / sizeof(goals[0]); i++)
		for (int col = 0; col < 2; col++) {
			double need = goals[i].need[col], r;
			int w = goals[i].w, peer = cols[col].peer;

			if (isnan(need) || !wl_on[w])
				continue;
			r = tratio(w, S_FLOOR, peer);
			snprintf(l, sizeof(l), "floor / %s", systems[peer].id);
			printf("%-30s %-24s %7s %7s  %-11s %s\n",
			       goals[i].what, l,
			       fmt_ratio(a, sizeof(a), r),
			       fmt_ratio(b, sizeof(b), need),
			       isnan(r)	    ? "n/a" :
			       r <= need    ? "met" :
					      "FUSE-BOUND",
			       col ? "" :
				     fmt_ratio(c, sizeof(c),
					       tratio(w, S_STRICT, S_FLOOR)));
		}
}

static void print_goals(void)
{
	int met = 0, missed = 0, na = 0;
	char a[32], b[32];

	printf("\n== goals: time ratios, lower is better (#3: issue 3, s8: "
	       "fuse-notes section 8) ==\n");
	printf("%-30s %-24s %7s %7s  %-7s %s\n", "operation", "comparison",
	       "ratio", "goal", "verdict", "from");
	for (size_t i = 0; i < sizeof(goals) / sizeof(goals[0]); i++)
		for (int c = 0; c < 5; c++) {
			double need = goals[i].need[c], r;
			int w = goals[i].w;

			if (isnan(need))
				continue;
			r = wl_on[w] ? tratio(w, cols[c].mine, cols[c].peer) :
				       NAN;
			printf("%-30s %-24s %7s %7s  %-7s %s\n",
			       goals[i].what, cols[c].what,
			       fmt_ratio(a, sizeof(a), r),
			       fmt_ratio(b, sizeof(b), need),
			       isnan(r) ? "n/a" : r <= need ? "met" :
							      "MISSED",
			       goals[i].issue3 >> c & 1 ? "#3 s8" : "s8");
			if (isnan(r))
				na++;
			else if (r <= need)
				met++;
			else
				missed++;
		}
	printf("%d met, %d MISSED, %d not measured%s\n", met, missed, na,
	       systems[S_BCACHE].on ? "" :
				      " (cached / bindfs-cache: add -s "
				      "...,bindfs-cache)");
	printf("stat of every key is judged on stat -c %%s (as fuse-notes "
	       "measured it);\nthe C loop's ratios (no process start) are in "
	       "its table above.\n");
	printf("\ncoherence (stale keys read right after another process "
	       "changed every key):\n");
	for (int s = 0; s < NSYS; s++) {
		int n = 0, of = 0;

		if (!systems[s].on)
			continue;
		for (int w = W_CCAT; w <= W_CSTAT; w++)
			if (wl_on[w]) {
				n += stale[w][s];
				of += nrounds * nruns * NKEYS;
			}
		if (!of)
			continue;
		printf("  %-16s %6d of %6d  %s\n", systems[s].id, n, of,
		       systems[s].coherent ? n ? "MISSED (claims coherence: "
						 "zero tolerance)" :
						 "met (zero tolerance)" :
					     "(not claimed coherent)");
	}
}

static void write_tsv(const char *path, const char *date)
{
	FILE *f = fopen(path, "a");
	char host[256] = "";

	if (!f)
		die("cannot open '%s': %s", path, strerror(errno));
	gethostname(host, sizeof(host) - 1);
	fseek(f, 0, SEEK_END);
	if (ftell(f) == 0)
		fprintf(f, "date\thost\tworkload\tsystem\tunit\tmedian\trounds"
			   "\tratio_tmpfs\n");
	for (int w = 0; w < NWL; w++)
		for (int s = 0; s < NSYS; s++)
			if (wl_on[w] && systems[s].on && !isnan(med(w, s)))
				fprintf(f, "%s\t%s\t%s\t%s\t%s\t%.6g\t%d\t%.4g\n",
					date, host, wls[w].id, systems[s].id,
					unit_name[wls[w].unit], med(w, s),
					nrounds, tratio(w, s, S_TMPFS));
	if (fclose(f))
		die("cannot write '%s': %s", path, strerror(errno));
}

/* --- main ------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: fsview [-r ROUNDS] [-n RUNS] [-t SECONDS] [-b MIB] "
		"[-c SECONDS]\n"
		"              [-s SYS[,SYS..]] [-w WORKLOAD[,..]] "
		"[-F SHMTABFS] [-L FLOOR] [-A ARG].. [-o TSV]\n"
		"  systems:");
	for (int s = 0; s < NSYS; s++)
		fprintf(stderr, " %s%s", systems[s].id,
			systems[s].by_default ? "" : " (not by default)");
	fprintf(stderr, "\n  workloads:");
	for (int w = 0; w < NWL; w++)
		fprintf(stderr, " %s", wls[w].id);
	fprintf(stderr, "\n");
	exit(2);
}

static int in_list(const char *list, const char *id)
{
	char l[1024], pat[64];

	snprintf(l, sizeof(l), ",%s,", list);
	snprintf(pat, sizeof(pat), ",%s,", id);
	return strstr(l, pat) != NULL;
}

/* $env, else rel (src/shmtabfs, bench/fuse-floor) of the build this
 * program is in. */
static const char *default_prog(const char *env, const char *rel)
{
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (getenv(env))
		return getenv(env);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return strrchr(rel, '/') + 1;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	*slash = 0;			/* .../bench or .../bench/.libs */
	slash = strrchr(exe, '/');
	if (slash && !strcmp(slash, "/.libs"))
		*slash = 0;
	return xstrdup_printf("%s/../%s", exe, rel);
}

static void loadavg(char *buf, size_t sz)
{
	FILE *f = fopen("/proc/loadavg", "re");

	buf[0] = 0;
	if (f) {
		if (!fgets(buf, (int)sz, f))
			buf[0] = 0;
		buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
}

/*
 * What a wake-up costs here: the mean round trip of a byte between two
 * processes over two pipes, 5,000 times, the parent on CPU a and the child
 * on CPU b.  A FUSE request of a serial stream waits for two wake-ups (the
 * daemon's, then the client's), across CPUs or not as the scheduler puts
 * them, so this bounds what every FUSE system here can do per request.
 */
static void pin_to(int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
}

static double wake_us(int a_cpu, int b_cpu)
{
	enum { TRIPS = 5000 };
	int a[2], b[2];
	cpu_set_t old;
	double t0, dt;
	pid_t pid;
	char c = 0;

	if (pipe(a) < 0 || pipe(b) < 0)
		return NAN;
	sched_getaffinity(0, sizeof(old), &old);
	pid = fork();
	if (pid == 0) {
		pin_to(b_cpu);
		for (int i = 0; i < TRIPS; i++)
			if (read(a[0], &c, 1) != 1 || write(b[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	pin_to(a_cpu);
	t0 = now();
	for (int i = 0; pid > 0 && i < TRIPS; i++)
		if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
			break;
	dt = now() - t0;
	if (pid > 0)
		waitpid(pid, NULL, 0);
	sched_setaffinity(0, sizeof(old), &old);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	return pid > 0 ? dt / TRIPS * 1e6 : NAN;
}

int main(int argc, char **argv)
{
	const char *tsv = "bench/results-fsview.tsv", *only = NULL,
		   *wonly = NULL;
	char date[32], load0[128], load1[128];
	double wake_two, wake_one;
	cpu_set_t cpus;
	struct sigaction sa = { .sa_handler = on_signal };
	time_t start = time(NULL);
	int opt, order[NSYS], nsys = 0;
	double t0;

	while ((opt = getopt(argc, argv, "r:n:t:b:c:s:w:F:L:A:o:h")) != -1) {
		switch (opt) {
		case 'r':
			nrounds = atoi(optarg);
			if (nrounds < 1 || nrounds > MAXROUNDS)
				usage();
			break;
		case 'n':
			nruns = atoi(optarg);
			if (nruns < 1 || nruns > MAXRUNS)
				usage();
			break;
		case 't':
			loop_secs = atof(optarg);
			if (!(loop_secs > 0))
				usage();
			break;
		case 'b':
			if (atol(optarg) < 1 || atol(optarg) > 65536)
				usage();
			bigsize = (size_t)atol(optarg) << 20;
			break;
		case 'c':
			cache_secs = atoi(optarg);
			if (cache_secs < 1)
				usage();
			break;
		case 's':
			only = optarg;
			break;
		case 'w':
			wonly = optarg;
			break;
		case 'F':
			shmtabfs_path = optarg;
			break;
		case 'L':
			floor_path = optarg;
			break;
		case 'A':
			if (nargs == 8)
				usage();
			shmtabfs_args[nargs++] = optarg;
			break;
		case 'o':
			tsv = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	main_pid = getpid();
	if (!shmtabfs_path)
		shmtabfs_path = default_prog("SHMTABFS", "src/shmtabfs");
	if (!floor_path)
		floor_path = default_prog("FUSE_FLOOR", "bench/fuse-floor");
	snprintf(cache_opt, sizeof(cache_opt), "cache=%d", cache_secs);
	for (int s = 0; s < NSYS; s++)
		systems[s].on = only ? in_list(only, systems[s].id) :
				       systems[s].by_default;
	systems[S_TMPFS].on = 1;	/* every ratio needs it */
	for (int w = 0; w < NWL; w++)
		wl_on[w] = !wonly || in_list(wonly, wls[w].id);
	for (int s = 0; s < NSYS; s++) {
		if (!systems[s].on)
			continue;
		if (systems[s].kind == K_SHMTABFS &&
		    access(shmtabfs_path, X_OK) < 0)
			die("cannot run '%s' (give -F PATH or $SHMTABFS)",
			    shmtabfs_path);
		if (systems[s].kind == K_FLOOR && access(floor_path, X_OK) < 0)
			die("cannot run '%s' (make bench; or give -L PATH or "
			    "$FUSE_FLOOR)", floor_path);
		datas[systems[s].data].used = 1;
		order[nsys++] = s;
	}
	if (access("/dev/fuse", R_OK | W_OK) < 0 && nsys > 1)
		die("cannot use /dev/fuse: %s", strerror(errno));

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setenv("LC_ALL", "C", 1);
	unsetenv("BASH_ENV");
	unsetenv("ENV");
	nullfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	outfd = memfd_create("fsview-cat", MFD_CLOEXEC);
	outcap = CHUNK;
	outbuf = malloc(outcap);
	if (nullfd < 0 || outfd < 0 || !outbuf)
		die("setup: %s", strerror(errno));
	chunk_init();

	snprintf(workdir, sizeof(workdir), "%s/shmtab-fsview-%d", workdir_root,
		 (int)main_pid);
	if (mkdir(workdir, 0755) < 0) {
		workdir[0] = 0;
		die("mkdir '%s/shmtab-fsview-%d': %s", workdir_root,
		    (int)main_pid, strerror(errno));
	}
	loadavg(load0, sizeof(load0));
	CPU_ZERO(&cpus);
	sched_getaffinity(0, sizeof(cpus), &cpus);
	wake_two = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? wake_us(0, 1) : NAN;
	wake_one = wake_us(0, 0);
	t0 = now();
	for (int d = 0; d < ND; d++)
		if (datas[d].used)
			data_make(&datas[d]);
	for (int i = 0; i < nsys; i++) {
		alarm(WATCHDOG);
		sys_start(&systems[order[i]]);
		alarm(0);
	}
	fprintf(stderr, "fsview: set up in %.1f s\n", now() - t0);

	for (int w = 0; w < NWL; w++) {
		double tw = now();
		int junk = 0;

		if (!wl_on[w])
			continue;
		for (int i = 0; i < nsys; i++)
			run_unit(w, &systems[order[i]], &junk, 1);
		for (int r = 0; r < nrounds; r++)
			for (int i = 0; i < nsys; i++) {
				int s = order[(i + r) % nsys];

				res[w][s][r] = run_unit(w, &systems[s],
							&stale[w][s], 0);
			}
		wl_secs[w] = now() - tw;
		fprintf(stderr, "fsview: %-16s %6.1f s\n", wls[w].id,
			wl_secs[w]);
	}
	loadavg(load1, sizeof(load1));
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&start));

	printf("shmtabfs file-view benchmark, %s: %d rounds of %d runs, %.2f s "
	       "loops, %d keys of %d bytes, a %zu MiB value, data on %s; "
	       "%.0f s in all\n", date, nrounds, nruns, loop_secs, NKEYS, VLEN,
	       bigsize >> 20, workdir_root, now() - t0);
	printf("load average (1, 5, 15 min, runnable/all, last pid) at "
	       "start: %s; at end: %s; %ld CPUs\n", load0, load1,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("wake-up (a pipe round trip between two processes, mean of "
	       "5000): %.1f us across two CPUs, %.1f us on one; a FUSE request "
	       "waits for two\n", wake_two, wake_one);
	if (CPU_COUNT(&cpus) == 1)
		printf("every process of this run on one CPU (taskset): "
		       "clients and servers wake each other there\n");
	else if (wake_two > 5 * wake_one)
		printf("waking the other CPU costs %.0fx waking this one here: "
		       "`taskset -c 0 bench/run-fsview.sh` measures every system "
		       "with its clients on one CPU too (README)\n",
		       wake_two / wake_one);
	printf("systems:");
	for (int i = 0; i < nsys; i++) {
		const struct sys *s = &systems[order[i]];

		printf(" %s%s%s%s", s->id, s->opts ? " (-o " : "",
		       s->opts ? s->opts : "", s->opts ? ")" : "");
		printf(i + 1 < nsys ? "," : "\n");
	}
	printf("shmtabfs: %s -f", shmtabfs_path);
	for (int i = 0; i < nargs; i++)
		printf(" %s", shmtabfs_args[i]);
	printf("\n");
	if (systems[S_FLOOR].on || systems[S_FLOORNP].on)
		printf("fuse-floor: %s -f\n", floor_path);
	print_tables();
	print_goals();
	print_floor();
	write_tsv(tsv, date);
	printf("\nTSV: %s\n", tsv);
	cleanup();
	return 0;
}
