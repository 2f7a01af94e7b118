/* SPDX-License-Identifier: MIT */
/* error.c - shmtab_strerror and the log hook (silent unless set) */
#include <stdarg.h>
#include <stdio.h>

#include "shmtab-private.h"

static shmtab_log_fn *log_fn;
static void *log_ctx;

SHMTAB_EXPORT void shmtab_set_log(shmtab_log_fn *fn, void *ctx)
{
	log_fn = fn;
	log_ctx = ctx;
}

__attribute__((format(printf, 2, 0)))
static void vlog(int level, const char *fmt, va_list ap)
{
	char buf[512];

	if (!log_fn)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_fn(level, buf, log_ctx);
}

void shmtab__log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

/*
 * A message about table t, whose locks this thread may hold.  While the
 * hook runs, a call through another handle of t that would wait for them
 * gets -EBUSY (lock_user_push: self_holder finds t), and so does a write
 * through t itself, which would begin a step inside the one under way.
 */
void shmtab__tlog(struct shmtab *t, int level, const char *fmt, ...)
{
	va_list ap;

	if (!log_fn)
		return;
	lock_user_push(t);
	t->logging++;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
	t->logging--;
	lock_user_pop(t);
}

/* A damaged layout: say where, once per call, and give -EBADMSG. */
int shmtab__corrupt(struct shmtab *t, const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	if (!log_fn || (t && t->quiet))
		return -EBADMSG;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (t)
		shmtab__tlog(t, 3, "%s: damaged table: %s", t->name, buf);
	else
		shmtab__log(3, "?: damaged table: %s", buf);
	return -EBADMSG;
}

static const struct {
	int err;
	const char *msg;
} messages[] = {
	{ 0, "Success" },
	{ ENOENT, "No such key or table" },
	{ EEXIST, "Table already exists" },
	{ EBADMSG, "Not a valid table (damaged or foreign contents)" },
	{ EDEADLK, "Lock cycle with another process; retry the group" },
	{ EBUSY, "Table is held by a visitor or group of this thread" },
	{ EROFS, "Table handle is read-only" },
	{ EINVAL, "Invalid argument" },
	{ ENOSPC, "No space left to grow the table" },
	{ ENOMEM, "Out of memory" },
	{ EBADF, "Table handle is closed" },
	{ EOVERFLOW, "Change feed overflowed; assume everything changed" },
	{ ETIMEDOUT, "Timed out" },
	{ EAGAIN, "Table needs recovery by a read-write handle" },
};

SHMTAB_EXPORT const char *shmtab_strerror(int err)
{
	static __thread char buf[64];
	int e = err < 0 ? -err : err;

	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
		if (messages[i].err == e)
			return messages[i].msg;
	if (e > 0 && e < 4096)
		return strerror(e);
	snprintf(buf, sizeof(buf), "Unknown shmtab error %d", err);
	return buf;
}
