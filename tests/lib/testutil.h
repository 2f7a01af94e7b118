/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - helpers shared by the shmtab test programs
 *
 * Nothing here calls cmocka: the helpers are safe in forked children.
 * Every name returned by tu_posix_name()/tu_file_name() is unique per call
 * (pid and a counter); remove what you create with tu_remove().
 */
#ifndef SHMTAB_TESTUTIL_H
#define SHMTAB_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmtab.h"

/* Exit code of a test that cannot run here (automake's SKIP). */
#define TU_SKIP 77

/* $SHMTAB_TEST_TMPDIR or /tmp/shmtab-tests-<uid>, created (mkdir -p). */
const char *tu_tmpdir(void);
/* malloc'd "posix:/shmtab-t-<pid>-<n>-<tag>", unique per call. */
char *tu_posix_name(const char *tag);
/* malloc'd "file:<tmpdir>/t-<pid>-<n>-<tag>", unique per call. */
char *tu_file_name(const char *tag);
/* shmtab_unlink(name), errors ignored; NULL is accepted. */
void tu_remove(const char *name);

/* Run fn(arg) in a child that then _exit()s with its value & 0xff.  The child
 * gets default handlers for the crash signals (no cmocka handler). Returns
 * the child's pid, or -1. */
pid_t tu_fork(int (*fn)(void *arg), void *arg);
/* Exit code 0..255; -SIGNAL if killed by a signal; on timeout the child gets
 * SIGKILL and the result is -1000.  -1001 when waitpid fails. */
int tu_wait(pid_t pid, int timeout_s);
#define TU_WAIT_TIMEOUT (-1000)

/* Pipe-based signalling between processes; create before fork.  Each post
 * wakes one wait.  The pipe is O_CLOEXEC: it crosses fork(), not exec(). */
struct tu_barrier {
	int fd[2];
};
int tu_barrier_init(struct tu_barrier *b); /* 0 or -errno */
void tu_barrier_post(struct tu_barrier *b); /* wakes one waiter */
int tu_barrier_wait(struct tu_barrier *b, int timeout_ms); /* 0, -ETIMEDOUT */
void tu_barrier_destroy(struct tu_barrier *b);

/* shmtab_replace() of the strings k and v. */
int tu_put_str(shmtab *t, const char *k, const char *v);
/* 0 when k's newest value is the string v, -EPROTO when it is another,
 * else find's error. */
int tu_find_is(shmtab *t, const char *k, const char *v);

/* CLOCK_MONOTONIC in seconds. */
double tu_now(void);
/* FNV-1a, 64 bits: the checksum the tortures put in their values. */
uint64_t tu_fnv64(const void *p, size_t n);
/* The next number of a xorshift32 sequence (a zero state becomes 1). */
uint32_t tu_xorshift32(uint32_t *state);
/* Deterministic pseudo-random bytes: same seed, same bytes. */
void tu_fill(void *buf, size_t len, uint32_t seed);
/* Sleep for ms milliseconds (restarts after signals). */
void tu_sleep_ms(int ms);

/*
 * Objects on disk.  tu_object_path() maps a shmtab name to the path of its
 * object ("posix:/N" and bare "/N" -> /dev/shm/N, "file:P" and other bare
 * names -> P); malloc'd.
 */
char *tu_object_path(const char *name);
/* st_size of the object, or -1 when it does not exist. */
long long tu_object_size(const char *name);
int tu_object_exists(const char *name); /* 1 or 0 */
/* st_mode & 07777 of the object, or -1. */
int tu_object_mode(const char *name);
/* Whole contents of a path (malloc'd, never NULL for an existing empty
 * file), or NULL; *len gets the length. */
void *tu_read_path(const char *path, size_t *len);
/* Contents of the object; NULL when it is missing. */
void *tu_read_object(const char *name, size_t *len);
/* 1 when the object's bytes equal buf[0..len), else 0. */
int tu_object_equals(const char *name, const void *buf, size_t len);
/* The 8 bytes of the object at off (a header word, read around the
 * library), or UINT64_MAX when they cannot be read. */
uint64_t tu_object_word(const char *name, size_t off);
/* Write buf[0..len) into the object at off, as a scribbler or a process
 * that died would leave it: 0 or -errno. */
int tu_object_write(const char *name, size_t off, const void *buf, size_t len);

/* shmtab_open(name, O_RDWR|O_CREAT|O_EXCL, 0600, opt, out). */
int tu_create(const char *name, const struct shmtab_options *opt, shmtab **out);
/* Add a NUL-terminated key/value pair (without the NULs). */
int tu_add_str(shmtab *t, const char *key, const char *val);
/* For a child process: open name read-write, run fn in a group, close.
 * An exit code: 0, 30 when the open failed, 31 when the group did. */
int tu_group_child(const char *name, int (*fn)(shmtab *t, void *ctx),
		   void *ctx);

/*
 * Views of a table as strings, for assert_string_equal.
 * tu_find_all_joined(): the values of key, newest first, joined with ','
 * ("" when unbound); malloc'd, NULL on an error (the errno in *err when
 * err is not NULL).
 * tu_snapshot(): every binding as "hex(key)=hex(v1),hex(v2),...;" per key,
 * keys sorted, values newest first; malloc'd, NULL on error.
 */
char *tu_find_all_joined(shmtab *t, const char *key, int *err);
char *tu_snapshot(shmtab *t);

#endif /* SHMTAB_TESTUTIL_H */
