/* SPDX-License-Identifier: MIT */
/*
 * cmd-list.c - shmtab list: the tables of a directory or of the POSIX
 * namespace, and the objects there that are not (or no longer) tables
 *
 * POSIX objects are found in /dev/shm (Linux).  A candidate is read first:
 * only an object that starts with the table magic (doc/FORMAT.md) is opened
 * with the library, so foreign objects are neither locked nor mapped.
 * States: table, damaged (the magic, but not a valid table), not-a-table,
 * empty (size 0: a creation that never finished, or foreign), unreadable.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"

#define SHM_DIR "/dev/shm"

static int list_one(int dfd, const char *entry, const char *name)
{
	char magic[8];
	struct shmtab_stat st;
	struct stat sb;
	shmtab *t;
	ssize_t n;
	int fd, err;

	if (fstatat(dfd, entry, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;		/* gone meanwhile */
	if (!S_ISREG(sb.st_mode))
		return 0;
	if (sb.st_size == 0) {
		printf("%s\tempty\tsize=0\n", name);
		return 0;
	}
	fd = openat(dfd, entry, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		printf("%s\tunreadable\t%s\n", name, strerror(errno));
		return 0;
	}
	n = pread(fd, magic, sizeof(magic), 0);
	close(fd);
	if (n != (ssize_t)sizeof(magic) || memcmp(magic, TABLE_MAGIC, 8)) {
		printf("%s\tnot-a-table\tsize=%lld\n", name,
		       (long long)sb.st_size);
		return 0;
	}
	err = shmtab_open(name, O_RDONLY, 0, NULL, &t);
	if (err == -EBADMSG) {
		printf("%s\tdamaged\tsize=%lld\n", name, (long long)sb.st_size);
		return 0;
	}
	if (err < 0) {
		printf("%s\tunreadable\t%s\n", name, msg_strerror(err));
		return 0;
	}
	err = shmtab_stat(t, &st);
	shmtab_close(t);
	if (err < 0) {
		printf("%s\tunreadable\t%s\n", name, msg_strerror(err));
		return 0;
	}
	printf("%s\ttable\tbindings=%llu keys=%llu size=%llu holders=%u "
	       "dead=%u\n", name, (unsigned long long)st.bindings,
	       (unsigned long long)st.keys, (unsigned long long)st.size,
	       (unsigned)st.holders, (unsigned)st.dead_holders);
	return 0;
}

static int list_run(struct cmd_args *a)
{
	const char *where = a->argc ? a->argv[0] : "posix:";
	const char *dir = where, *prefix = "";
	struct dirent **ents;
	bool posix = false;
	int n, dfd;

	if (!strncmp(where, "posix:", 6)) {
		posix = true;
		dir = SHM_DIR;
		prefix = where + 6;
		if (*prefix == '/')
			prefix++;
	} else if (!strncmp(where, "file:", 5)) {
		dir = where + 5;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return msg_fail(-errno, "cannot open '%s'", dir);
	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0) {
		close(dfd);
		return msg_fail(-errno, "cannot read '%s'", dir);
	}
	for (int i = 0; i < n; i++) {
		const char *e = ents[i]->d_name;
		char *name;

		if (!strcmp(e, ".") || !strcmp(e, "..") ||
		    strncmp(e, prefix, strlen(prefix))) {
			free(ents[i]);
			continue;
		}
		name = cli_malloc(strlen(dir) + strlen(e) + 16);
		if (posix)
			sprintf(name, "posix:/%s", e);
		else
			sprintf(name, "file:%s%s%s", dir,
				dir[strlen(dir) - 1] == '/' ? "" : "/", e);
		list_one(dfd, e, name);
		free(name);
		free(ents[i]);
	}
	free(ents);
	close(dfd);
	return 0;
}

const struct shmtab_cmd cmd_list = {
	.name = "list",
	.usage = "[DIR | posix:[PREFIX]]",
	.summary = "list tables and leftover objects (default posix:)",
	.optstring = "",
	.min_args = 0,
	.max_args = 1,
	.run = list_run,
};
