/* SPDX-License-Identifier: MIT */
/* mountutil.c - shmtabfs mounts for the test programs (no cmocka here) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mountutil.h"
#include "testutil.h"

#define FUSE_MAGIC 0x65735546

/* The active mounts, newest first (tu_mount_start/tu_mount_stop). */
static struct tu_mount *mounts;

static void mounts_remove(struct tu_mount *m)
{
	struct tu_mount **pp;

	for (pp = &mounts; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	m->next = NULL;
}

int tu_run(char *const argv[], int timeout_s, int quiet)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = quiet ? open("/dev/null", O_WRONLY) : -1;

		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return tu_wait(pid, timeout_s);
}

int tu_is_fuse_mount(const char *dir)
{
	struct statfs sf;

	return statfs(dir, &sf) == 0 && (unsigned long)sf.f_type == FUSE_MAGIC;
}

static int have_fusermount(void)
{
	char *argv[] = { "fusermount3", "-V", NULL };

	return tu_run(argv, 10, 1) == 0;
}

int tu_mount_check(void)
{
	const char *shmtabfs = getenv("SHMTABFS");
	struct stat st;

	if (stat("/dev/fuse", &st) != 0 || !S_ISCHR(st.st_mode)) {
		printf("SKIP: no /dev/fuse\n");
		return TU_SKIP;
	}
	if (!shmtabfs || access(shmtabfs, X_OK) != 0) {
		printf("SKIP: SHMTABFS does not name the built shmtabfs\n");
		return TU_SKIP;
	}
	if (!have_fusermount()) {
		printf("SKIP: no fusermount3\n");
		return TU_SKIP;
	}
	return 0;
}

int tu_mount_start(struct tu_mount *m, const char *stem, const char *tag,
		   const char *source, const char *opt)
{
	const char *shmtabfs = getenv("SHMTABFS");
	int i, status;

	snprintf(m->dir, sizeof(m->dir), "%s/%s-%d-%s", tu_tmpdir(), stem,
		 (int)getpid(), tag);
	if (mkdir(m->dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	m->pid = fork();
	if (m->pid < 0)
		return -errno;
	if (m->pid == 0) {
		sigset_t none;

		/* A daemon keeps what it inherits: a test run in the
		 * background of a shell without job control ignores SIGINT
		 * (and libfuse then installs no handler for it), but the
		 * tests stop daemons with signals. */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (opt && opt[0] == '-')
			execl(shmtabfs, "shmtabfs", "-f", opt, source, m->dir,
			      (char *)NULL);
		else if (opt)
			execl(shmtabfs, "shmtabfs", "-f", "-o", opt, source,
			      m->dir, (char *)NULL);
		else
			execl(shmtabfs, "shmtabfs", "-f", source, m->dir,
			      (char *)NULL);
		_exit(127);
	}
	mounts_remove(m);
	m->active = 1;
	m->next = mounts;
	mounts = m;
	for (i = 0; i < 200; i++) {
		if (tu_is_fuse_mount(m->dir))
			return 0;
		if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
			m->active = 0;
			mounts_remove(m);
			return -ECHILD;
		}
		tu_sleep_ms(50);
	}
	return -ETIMEDOUT;
}

void tu_mount_stop(struct tu_mount *m)
{
	char *argv[] = { "fusermount3", "-u", m->dir, NULL };
	char *lazy[] = { "fusermount3", "-uz", m->dir, NULL };

	if (!m->active)
		return;
	if (tu_is_fuse_mount(m->dir) && tu_run(argv, 20, 0) != 0)
		tu_run(lazy, 20, 0);
	/* the daemon exits once unmounted; tu_wait kills it if it hangs */
	tu_wait(m->pid, 20);
	m->active = 0;
	mounts_remove(m);
	rmdir(m->dir);
}

void tu_mount_forget(struct tu_mount *m)
{
	m->active = 0;
	mounts_remove(m);
}

void tu_mount_kill(struct tu_mount *m)
{
	char *lazy[] = { "fusermount3", "-uz", m->dir, NULL };

	if (!m->active)
		return;
	/* killing the daemon ends the connection, and every request
	 * waiting on it */
	kill(m->pid, SIGKILL);
	tu_wait(m->pid, 10);
	tu_run(lazy, 10, 1);
	tu_mount_forget(m);
	rmdir(m->dir);
}

/* Where each thread of pid waits (its state, kernel wait channel and
 * system call): what a daemon that did not end was doing. */
static void print_threads(pid_t pid)
{
	char path[320], line[256];
	struct dirent *e;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		static const char *const what[] = { "stat", "wchan", "syscall" };

		if (e->d_name[0] == '.')
			continue;
		printf("daemon thread %s:", e->d_name);
		for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
			snprintf(path, sizeof(path), "/proc/%d/task/%s/%s",
				 (int)pid, e->d_name, what[i]);
			f = fopen(path, "r");
			if (f && fgets(line, sizeof(line), f)) {
				char *st = strrchr(line, ')');

				line[strcspn(line, "\n")] = 0;
				if (i == 0 && st && st[1] && st[2])
					st[3] = 0;	/* "TID (comm) S" */
				printf(" %s=[%s]", what[i], line);
			}
			if (f)
				fclose(f);
		}
		printf("\n");
	}
	closedir(d);
	fflush(stdout);
}

double tu_mount_wait_end(struct tu_mount *m, double t0, double bound_s,
			 int *code)
{
	double t;
	int status;

	*code = -1;
	for (;;) {
		t = tu_now() - t0;
		if (waitpid(m->pid, &status, WNOHANG) == m->pid)
			break;
		if (t > bound_s) {
			print_threads(m->pid);
			tu_mount_kill(m);
			return -1;
		}
		tu_sleep_ms(5);
	}
	*code = WIFEXITED(status) ? WEXITSTATUS(status) : 100;
	tu_mount_forget(m);	/* reaped */
	if (tu_is_fuse_mount(m->dir)) {
		char *lazy[] = { "fusermount3", "-uz", m->dir, NULL };

		tu_run(lazy, 10, 0);
		*code = 101;	/* exited, and left the mount behind */
	}
	rmdir(m->dir);
	return t;
}

static void watchdog(int sig)
{
	struct tu_mount *m;
	pid_t p;

	(void)sig;
	for (m = mounts; m; m = m->next) {
		if (!m->active)
			continue;
		p = fork();
		if (p == 0) {
			execlp("fusermount3", "fusermount3", "-uz", m->dir,
			       (char *)NULL);
			_exit(127);
		}
		if (p > 0)
			waitpid(p, NULL, 0);
		kill(m->pid, SIGKILL);
	}
	_exit(99);
}

void tu_mount_watchdog(unsigned int seconds)
{
	if (seconds)
		signal(SIGALRM, watchdog);
	alarm(seconds);
}

char *tu_mount_path(const struct tu_mount *m, const char *table,
		    const char *name)
{
	char *s;

	if (asprintf(&s, "%s/%s%s%s", m->dir, table, name ? "/" : "",
		     name ? name : "") < 0)
		return NULL;
	return s;
}

ssize_t tu_read_file(const char *path, void *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	size_t got = 0;
	ssize_t n = 0;

	if (fd < 0)
		return -errno;
	while (got < cap && (n = read(fd, (char *)buf + got, cap - got)) > 0)
		got += (size_t)n;
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	return (ssize_t)got;
}

double tu_wait_size(const char *path, long long size, double bound_s)
{
	double t0 = tu_now(), t;
	struct stat st;
	int r;

	for (;;) {
		r = stat(path, &st);
		t = tu_now() - t0;
		if (size < 0 ? (r != 0 && errno == ENOENT) :
			       (r == 0 && st.st_size == size))
			return t;
		if (t > bound_s)
			return -1;
		tu_sleep_ms(1);
	}
}
