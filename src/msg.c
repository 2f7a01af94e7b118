/* SPDX-License-Identifier: MIT */
/* msg.c - diagnostics of the shmtab command */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <shmtab.h>

#include "msg.h"

static void msg_vprint(const char *fmt, va_list ap, int err)
	__attribute__((format(printf, 1, 0)));

static void msg_vprint(const char *fmt, va_list ap, int err)
{
	fflush(stdout);
	fputs("shmtab: ", stderr);
	vfprintf(stderr, fmt, ap);
	if (err)
		fprintf(stderr, ": %s", msg_strerror(err));
	fputc('\n', stderr);
}

void msg_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vprint(fmt, ap, 0);
	va_end(ap);
}

int msg_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vprint(fmt, ap, err);
	va_end(ap);
	return msg_exit_code(err);
}

int msg_exit_code(int err)
{
	return err == -EBADMSG ? EXIT_DAMAGED : EXIT_FAIL;
}

const char *msg_strerror(int err)
{
	switch (-err) {
	case EBADMSG:
	case EDEADLK:
	case EBUSY:
	case EROFS:
	case EOVERFLOW:
	case EAGAIN:
		return shmtab_strerror(err);
	default:
		return strerror(err < 0 ? -err : err);
	}
}

void msg_log_hook(int level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	fflush(stdout);
	fprintf(stderr, "shmtab: %s\n", msg);
}
