/* SPDX-License-Identifier: MIT */
/*
 * mountutil.h - shmtabfs mounts for the shmtab test programs
 *
 * The built shmtabfs ($SHMTABFS) runs with -f, as a child of the test, so
 * that the test owns the daemon's pid: tu_mount_stop() unmounts only what
 * tu_mount_start() mounted and waits for (or kills) only that daemon.
 * Like testutil.h, nothing here calls cmocka.
 */
#ifndef SHMTAB_MOUNTUTIL_H
#define SHMTAB_MOUNTUTIL_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* One mount of this process; zero-initialised it is "not mounted". */
struct tu_mount {
	char dir[PATH_MAX];	/* the mount point */
	pid_t pid;		/* the shmtabfs daemon (our child) */
	int active;		/* started and not yet stopped */
	struct tu_mount *next;	/* the active mounts, for the watchdog */
};

/* 0 when shmtabfs mounts can be tested here: /dev/fuse is a character
 * device, $SHMTABFS names an executable and fusermount3 runs.  Otherwise
 * prints "SKIP: <why>" to stdout and returns TU_SKIP. */
int tu_mount_check(void);

/* Run $SHMTABFS -f [-o opt] source <tmpdir>/<stem>-<pid>-<tag> (an opt
 * that starts with '-', such as "-s", is passed as it is; the mount
 * point is made, mode 0755) and wait up to 10 s for the mount.  0; -ECHILD
 * when the daemon exited; -ETIMEDOUT when it did not mount in time (m is
 * still active: tu_mount_stop() it); another -errno when it could not
 * start. */
int tu_mount_start(struct tu_mount *m, const char *stem, const char *tag,
		   const char *source, const char *opt);
/* Unmount (fusermount3 -u, else -uz), wait up to 20 s for the daemon to
 * exit (then SIGKILL it) and remove the mount point.  Nothing when m is
 * not active. */
void tu_mount_stop(struct tu_mount *m);
/* For a caller that ended m's daemon itself (and reaped it): m is no
 * longer active, and no longer on the watchdog's list. */
void tu_mount_forget(struct tu_mount *m);
/* End m's daemon with SIGKILL, reap it, detach its mount (fusermount3
 * -uz) and remove the mount point: for a daemon that may no longer serve
 * requests, where tu_mount_stop() would leave its own look at the mount
 * point waiting in the kernel.  Nothing when m is not active. */
void tu_mount_kill(struct tu_mount *m);
/* Wait for m's daemon, told at t0 (tu_now()) to end, to exit: the seconds
 * from t0 until it did, its exit code in *code (100 when a signal ended
 * it, 101 when it exited and left its mount behind, which is then
 * detached), m forgotten and its mount point removed.  -1 when it did not
 * end within bound_s: then where each of its threads waits is printed and
 * it is killed (tu_mount_kill). */
double tu_mount_wait_end(struct tu_mount *m, double t0, double bound_s,
			 int *code);
/* On SIGALRM after seconds: lazily unmount every active mount, SIGKILL
 * its daemon and _exit(99).  0 cancels (alarm(0)). */
void tu_mount_watchdog(unsigned int seconds);

/* Run argv[0] (found in $PATH) with argv, its output to /dev/null when
 * quiet; its exit code as tu_wait() gives it. */
int tu_run(char *const argv[], int timeout_s, int quiet);
/* 1 when dir is the root of a FUSE mount, else 0. */
int tu_is_fuse_mount(const char *dir);

/* malloc'd "<m->dir>/table" or "<m->dir>/table/name" (name not NULL), or
 * NULL. */
char *tu_mount_path(const struct tu_mount *m, const char *table,
		    const char *name);
/* Read path whole (open, read to EOF or cap bytes, close) into buf: the
 * bytes read, or -errno. */
ssize_t tu_read_file(const char *path, void *buf, size_t cap);
/* Seconds until stat(path) shows st_size == size (size < 0: until it
 * fails with ENOENT), polling every ms; -1 when not within bound_s. */
double tu_wait_size(const char *path, long long size, double bound_s);

#endif /* SHMTAB_MOUNTUTIL_H */
