/* SPDX-License-Identifier: MIT */
/*
 * msg.h - diagnostics of the shmtab command and its exit codes
 *
 * Data goes to stdout, diagnostics to stderr, worded like git's: lower case,
 * no final period, the subject quoted, the error last.
 */
#ifndef SHMTAB_MSG_H
#define SHMTAB_MSG_H

/* Exit codes, as documented in shmtab(1), EXIT STATUS. */
enum msg_exit {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* not found (key, table), other error */
	EXIT_USAGE = 2,		/* bad usage; a usage line on stderr */
	EXIT_DAMAGED = 3,	/* the table is damaged */
};

/* "shmtab: " + the message + "\n" on stderr. */
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* msg_error() with ": " + the error's text appended; returns the exit code
 * for err (-EBADMSG: EXIT_DAMAGED, else EXIT_FAIL). */
int msg_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The exit code for a negative errno from the library. */
int msg_exit_code(int err);

/* Text for a negative errno: the library's for its own meanings (EBADMSG,
 * EDEADLK, ...), strerror() for system ones (ENOENT of a missing object). */
const char *msg_strerror(int err);

/* Library log hook: each message on stderr, prefixed "shmtab: ". */
void msg_log_hook(int level, const char *msg, void *ctx);

#endif /* SHMTAB_MSG_H */
