/* SPDX-License-Identifier: MIT */
/*
 * demo.c - two unrelated processes share one table
 *
 *   shmtab-demo [NAME]      (default posix:/shmtab-demo)
 *
 * A writer process adds 1000 keys and replaces one of them while a reader
 * process, which opened the table before the writer grew it, waits for the
 * change feed and prints what it sees.  The table is removed at the end.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmtab.h>

static int die(const char *what, int err)
{
	fprintf(stderr, "shmtab-demo: %s: %s\n", what, shmtab_strerror(err));
	return 1;
}

static int writer(const char *name)
{
	char k[32], v[64];
	shmtab *t;
	int err = shmtab_open(name, O_RDWR, 0, NULL, &t);

	if (err < 0)
		return die("writer: open", err);
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "user:%04d", i);
		snprintf(v, sizeof(v), "visits=%d", i % 7);
		err = shmtab_add(t, k, strlen(k), v, strlen(v));
		if (err < 0)
			return die("writer: add", err);
	}
	err = shmtab_replace(t, "greeting", 8, "hello from the writer", 21);
	if (err < 0)
		return die("writer: replace", err);
	printf("writer (pid %d): added 1000 keys, replaced 'greeting'\n",
	       (int)getpid());
	fflush(stdout);
	shmtab_close(t);
	return 0;
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "posix:/shmtab-demo";
	struct shmtab_stat st;
	uint64_t since;
	size_t n;
	void *v;
	shmtab *t;
	pid_t pid;
	int err, status;

	err = shmtab_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, NULL, &t);
	if (err < 0)
		return die(name, err);
	shmtab_add(t, "greeting", 8, "hello", 5);
	shmtab_stat(t, &st);
	printf("reader (pid %d): created %s, %llu bytes, %lld binding\n",
	       (int)getpid(), shmtab_name(t), (unsigned long long)st.size,
	       shmtab_length(t));
	since = shmtab_counter(t);

	fflush(stdout);		/* or the child prints our buffer again */
	pid = fork();
	if (pid == 0)
		_exit(writer(name));	/* the child opens its own handle */

	/* the reader sleeps on the change feed until the writer is done */
	while (shmtab_counter(t) < since + 1001)
		shmtab_wait(t, shmtab_counter(t), 1000);
	waitpid(pid, &status, 0);

	err = shmtab_find(t, "greeting", 8, &v, &n);
	if (err < 0)
		return die("find", err);
	printf("reader: greeting = '%.*s'\n", (int)n, (char *)v);
	free(v);
	err = shmtab_find(t, "user:0999", 9, &v, &n);
	if (err < 0)
		return die("find", err);
	printf("reader: user:0999 = '%.*s'\n", (int)n, (char *)v);
	free(v);
	shmtab_stat(t, &st);
	printf("reader: %lld bindings, %llu keys, %llu bytes now, check %s\n",
	       shmtab_length(t), (unsigned long long)st.keys,
	       (unsigned long long)st.size,
	       shmtab_check(t) == 0 ? "passed" : "FAILED");
	shmtab_close(t);
	shmtab_unlink(name);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
