/* SPDX-License-Identifier: MIT */
/*
 * shmtabfs.c - mount shmtab tables: each table a directory, each key a file
 *
 *	shmtabfs [options] SOURCE MOUNTPOINT
 *
 * SOURCE is a directory of file-backed tables, or posix: / posix:PREFIX for
 * the POSIX tables /PREFIXNAME.  The behaviour is described in
 * shmtabfs(1); the design notes are at the top of each fs-*.c file.
 *
 * The default strict mode lets the kernel cache nothing; -o cache=SECONDS
 * lets it cache names and attributes and starts the watcher thread
 * (fs-watch.c) that invalidates them from the tables' change feeds.
 *
 * Tables are opened lazily, and the watcher started, after
 * fuse_daemonize(): neither a library handle nor a thread crosses fork().
 *
 * Ending on time.  libfuse's handlers of SIGTERM, SIGINT and SIGHUP, and
 * the end of the connection (an unmount), mark the session exited, and the
 * request loop ends once every request in progress has been answered.  A
 * request that waits for a table lock another process holds (a process
 * stopped in a group, say) would keep it, and the daemon, waiting for as
 * long as that process likes; fs_interrupted() makes the library give up
 * such waits (shmtab-hooks.h) once the session exited, so the request
 * fails with EINTR within a slice of the wait (10 ms) and the daemon ends.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"

struct cli {
	char *source;
	int nonopts;
	bool ro;
	char *cache;
};

enum {
	KEY_RO,
	KEY_RW,
};

static const struct fuse_opt cli_opts[] = {
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	{ "cache=%s", offsetof(struct cli, cache), 0 },
	FUSE_OPT_END
};

static int cli_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct cli *c = data;

	(void)outargs;
	switch (key) {
	case KEY_RO:
		c->ro = true;
		return 1;
	case KEY_RW:
		c->ro = false;
		return 1;
	case FUSE_OPT_KEY_NONOPT:
		if (c->nonopts++ == 0) {
			c->source = strdup(arg);
			return c->source ? 0 : -1;
		}
		return 1;
	default:
		return 1;
	}
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: shmtabfs [options] SOURCE MOUNTPOINT\n"
		"\n"
		"SOURCE is a directory of table files, or posix: or\n"
		"posix:PREFIX for the POSIX tables /PREFIXNAME.\n"
		"\n"
		"shmtabfs options:\n"
		"    -o ro             mount read-only\n"
		"    -o allow_other    let other users in (the tables' own\n"
		"                      permissions still apply)\n"
		"    -o cache=SECONDS  let the kernel cache names, sizes and\n"
		"                      values, invalidated as tables change\n"
		"                      (default 0: strict, every change seen\n"
		"                      at once)\n"
		"    default_permissions is always on.\n"
		"\n");
}

static int cache_init(struct fs *fs, const char *s)
{
	char *end;
	double v;

	if (!s)
		return 0;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0 && v <= 86400 * 365)) {
		fprintf(stderr, "shmtabfs: invalid cache time '%s'\n", s);
		return -1;
	}
	fs->cache = v;
	return 0;
}

/* The library's interrupt hook: true once the daemon is ending, or when
 * the request this thread serves was interrupted (fs-ops.c). */
static int fs_interrupted(void *ctx)
{
	struct fs *fs = ctx;

	/* fs->se is not looked at once the loop ended (it goes away) */
	return __atomic_load_n(&fs->stopping, __ATOMIC_ACQUIRE) ||
	       fuse_session_exited(fs->se) || fs_req_interrupted();
}

static int source_init(struct fs *fs, const char *source)
{
	char path[PATH_MAX];
	struct stat st;
	const char *p;

	if (!strncmp(source, "posix:", 6)) {
		p = source + 6;
		if (*p == '/')
			p++;
		if (strchr(p, '/') || strlen(p) > 200) {
			fprintf(stderr,
				"shmtabfs: invalid POSIX prefix '%s'\n", p);
			return -1;
		}
		fs->source = FS_SOURCE_POSIX;
		fs->prefix = strdup(p);
		fs->srcdir = strdup("/dev/shm");
	} else {
		if (!strncmp(source, "file:", 5))
			source += 5;
		if (!realpath(source, path) || stat(path, &st) < 0) {
			fprintf(stderr, "shmtabfs: cannot use '%s': %s\n",
				source, strerror(errno));
			return -1;
		}
		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "shmtabfs: cannot use '%s': %s\n",
				source, strerror(ENOTDIR));
			return -1;
		}
		fs->source = FS_SOURCE_DIR;
		fs->prefix = strdup("");
		fs->srcdir = strdup(path);
	}
	if (!fs->prefix || !fs->srcdir) {
		fprintf(stderr, "shmtabfs: %s\n", strerror(ENOMEM));
		return -1;
	}
	return 0;
}

/*
 * Every table the daemon has open holds two descriptors (its object, and
 * the one its slot's lock is held through: libshmtab(3)): as many tables
 * as the hard limit allows, not the soft one (often 1024).
 */
static void nofile_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct fs *fs = &fs_state;
	struct cli cli = { NULL, 0, false, NULL };
	char *fsname = NULL;
	int ret = 1;

	umask(0);	/* the kernel already applied the caller's umask */
	if (fuse_opt_parse(&args, &cli, cli_opts, cli_proc) != 0)
		return 2;
	if (fuse_parse_cmdline(&args, &opts) != 0)
		return 2;
	if (opts.show_help) {
		usage(stdout);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		printf("    (-o clone_fd and -o max_idle_threads have no effect:"
		       " shmtabfs runs\n     its own request loop, see "
		       "shmtabfs(1))\n");
		fuse_lowlevel_help();
		ret = 0;
		goto out_args;
	}
	if (opts.show_version) {
		printf("shmtabfs %s\n", PACKAGE_VERSION);
		fflush(stdout);	/* before fusermount3's line */
		fuse_lowlevel_version();
		ret = 0;
		goto out_args;
	}
	if (!cli.source || !*cli.source || !opts.mountpoint) {
		fprintf(stderr, "shmtabfs: %s\n",
			!cli.source || !*cli.source ?
				"missing SOURCE and MOUNTPOINT" :
				"missing MOUNTPOINT");
		usage(stderr);
		ret = 2;
		goto out_args;
	}
	if (source_init(fs, cli.source) < 0 || cache_init(fs, cli.cache) < 0) {
		ret = 2;
		goto out_args;
	}
	fs->ro = cli.ro;
	fs->foreground = opts.foreground;
	fs->debug = opts.debug;
	if (fs_nodes_init() < 0) {
		fprintf(stderr, "shmtabfs: %s\n", strerror(ENOMEM));
		goto out_args;
	}
	/* fsname shows SOURCE in mount(8) and df(1) unless it would need
	 * quoting in an option list */
	if (strcspn(cli.source, ",\\\"' \t") == strlen(cli.source) &&
	    asprintf(&fsname, "-ofsname=%s", cli.source) < 0)
		fsname = NULL;
	if (fuse_opt_add_arg(&args, "-odefault_permissions") != 0 ||
	    fuse_opt_add_arg(&args, "-osubtype=shmtabfs") != 0 ||
	    (fsname && fuse_opt_add_arg(&args, fsname) != 0))
		goto out_args;

	nofile_raise();
	fs->se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), NULL);
	if (!fs->se)
		goto out_args;
	shmtab__set_interrupt(fs_interrupted, fs);
	if (fuse_set_signal_handlers(fs->se) != 0)
		goto out_session;
	if (fuse_session_mount(fs->se, opts.mountpoint) != 0)
		goto out_handlers;
	if (!opts.foreground)
		openlog("shmtabfs", LOG_PID, LOG_DAEMON);
	fuse_daemonize(opts.foreground);
	shmtab_set_log(fs_lib_log, NULL);
	/* after fuse_daemonize(): threads do not cross fork() */
	if (fs->cache > 0 && fs_watch_start() < 0)
		goto out_unmount;

	if (opts.singlethread)
		ret = fuse_session_loop(fs->se);
	else
		ret = fs_loop_run(fs->se, opts.max_threads);
	__atomic_store_n(&fs->stopping, 1, __ATOMIC_RELEASE);
	/* The kernel ended the connection: an abort through
	 * /sys/fs/fuse/connections/N/abort or a request timeout, or, seen on
	 * some kernels, the end of a lazily detached mount.  Like an unmount,
	 * it is the end of the session, not an error of the daemon's. */
	if (ret == -ECONNABORTED) {
		fs_log(LOG_NOTICE, "the kernel aborted the connection");
		ret = 0;
	}
	if (ret < 0)
		fs_log(LOG_ERR, "session ended: %s", strerror(-ret));
	ret = ret < 0 ? 1 : 0;
	fs_watch_stop();
out_unmount:
	fuse_session_unmount(fs->se);
out_handlers:
	fuse_remove_signal_handlers(fs->se);
out_session:
	__atomic_store_n(&fs->stopping, 1, __ATOMIC_RELEASE);
	fuse_session_destroy(fs->se);
out_args:
	fs_files_free();
	fs_dirs_free();
	fs_tables_free();
	fs_nodes_free();
	free(fs->srcdir);
	free(fs->prefix);
	free(fsname);
	free(opts.mountpoint);
	free(cli.source);
	free(cli.cache);
	fuse_opt_free_args(&args);
	return ret;
}
