/* SPDX-License-Identifier: MIT */
/*
 * cmd-create.c - shmtab create: a new, empty table (never an existing one),
 * untyped, typed or a sparse array
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#define TYPE_HINT "bytes, string, int32, int64, int or pair(A,B)"

/* A type option: its canonical name into buf, or a usage error. */
static int create_type(struct cmd_args *a, const char *what, const char *s,
		       char *buf, size_t cap)
{
	if (shmtab_type_name(s, buf, cap) < 0) {
		msg_error("create: bad %s type '%s' (%s)", what, s, TYPE_HINT);
		return cli_usage(a->cmd);
	}
	return 0;
}

/* Check every typed option into *sc before anything is created. */
static int create_schema(struct cmd_args *a, struct shmtab_schema *sc,
			 char *ktype, char *vtype, int64_t *len,
			 struct shmtab_value **dflt)
{
	void *enc = NULL;
	size_t elen;
	int rc, err;

	if (a->opt['k']) {
		rc = create_type(a, "key", a->opt['k'], ktype,
				 CLI_TYPE_NAME_MAX);
		if (rc)
			return rc;
		sc->key_type = ktype;
	}
	if (a->opt['v']) {
		rc = create_type(a, "value", a->opt['v'], vtype,
				 CLI_TYPE_NAME_MAX);
		if (rc)
			return rc;
		sc->value_type = vtype;
	}
	if (a->opt['d'] && !a->opt['a']) {
		msg_error("create: --default is for arrays (--array)");
		return cli_usage(a->cmd);
	}
	if (!a->opt['a'])
		return 0;
	sc->kind = SHMTAB_KIND_ARRAY;
	if (cli_parse_int64(a->opt['a'], len) < 0 || *len < 0) {
		msg_error("create: bad array length '%s'", a->opt['a']);
		return cli_usage(a->cmd);
	}
	if (sc->key_type && strcmp(ktype, "int64")) {
		msg_error("create: the keys of an array are int64 indexes, "
			  "not %s", ktype);
		return cli_usage(a->cmd);
	}
	sc->key_type = NULL;
	if (!a->opt['d'])
		return 0;
	err = shmtab_parse(sc->value_type ? vtype : "bytes", a->opt['d'],
			   strlen(a->opt['d']), &enc, &elen);
	if (!err && elen > SHMTAB_DEFAULT_MAX)
		err = -E2BIG;
	if (!err)
		err = shmtab_decode(sc->value_type ? vtype : "bytes", enc, elen,
				    dflt);
	if (err < 0) {
		char *show = cli_show(a->opt['d'], strlen(a->opt['d']));

		if (err == -E2BIG)
			msg_error("create: the default is longer than %d "
				  "bytes", SHMTAB_DEFAULT_MAX);
		else
			msg_error("create: bad default '%s': not a valid %s",
				  show, sc->value_type ? vtype : "bytes");
		free(show);
		free(enc);
		return cli_usage(a->cmd);
	}
	free(enc);
	sc->dflt = *dflt;
	return 0;
}

static int create_run(struct cmd_args *a)
{
	struct shmtab_options opt = { 0 };
	struct shmtab_schema sc = { 0 };
	struct shmtab_value *dflt = NULL;
	char ktype[CLI_TYPE_NAME_MAX], vtype[CLI_TYPE_NAME_MAX];
	mode_t mode = 0666;		/* less the umask, as for any file */
	const char *name = a->argv[0];
	bool typed = a->opt['k'] || a->opt['v'] || a->opt['a'];
	int64_t len = 0;
	shmtab *t;
	int rc, err;

	if (a->opt['p'] && (cli_parse_size(a->opt['p'], &opt.pagesize) < 0 ||
			    opt.pagesize < 160 || opt.pagesize > 1u << 20 ||
			    opt.pagesize % 4)) {
		msg_error("create: bad page size '%s' (from 160 to 1048576, "
			  "a multiple of 4)",
			  a->opt['p']);
		return cli_usage(a->cmd);
	}
	if (a->opt['i'] && cli_parse_size(a->opt['i'], &opt.init) < 0) {
		msg_error("create: bad binding count '%s'", a->opt['i']);
		return cli_usage(a->cmd);
	}
	if (a->opt['l'] && cli_parse_lock(a->opt['l'], &opt.lock) < 0) {
		msg_error("create: bad locking method '%s'", a->opt['l']);
		return cli_usage(a->cmd);
	}
	if (a->opt['m'] && cli_parse_mode(a->opt['m'], &mode) < 0) {
		msg_error("create: bad mode '%s'", a->opt['m']);
		return cli_usage(a->cmd);
	}
	rc = create_schema(a, &sc, ktype, vtype, &len, &dflt);
	if (rc)
		return rc;
	err = shmtab_open_typed(name, O_RDWR | O_CREAT | O_EXCL, mode, &opt,
				typed ? &sc : NULL, &t);
	free(dflt);
	if (err < 0)
		return msg_fail(err, "cannot create '%s'", name);
	if (len) {
		err = shmtab_array_resize(t, len);
		if (err < 0) {
			rc = msg_fail(err, "cannot give '%s' length %lld", name,
				      (long long)len);
			goto out_unlink;
		}
	}
	/* an explicit mode is meant as given, not less the umask */
	if (a->opt['m']) {
		err = shmtab_chmod(t, mode);
		if (err < 0) {
			rc = msg_fail(err, "cannot chmod '%s'", name);
			goto out_unlink;
		}
	}
	return cli_close(t);
out_unlink:
	shmtab_unlink(shmtab_name(t));
	shmtab_close(t);
	return rc;
}

static const struct option create_longopts[] = {
	{ "pagesize", required_argument, NULL, 'p' },
	{ "init", required_argument, NULL, 'i' },
	{ "lock", required_argument, NULL, 'l' },
	{ "mode", required_argument, NULL, 'm' },
	{ "key-type", required_argument, NULL, 'k' },
	{ "value-type", required_argument, NULL, 'v' },
	{ "array", required_argument, NULL, 'a' },
	{ "default", required_argument, NULL, 'd' },
	{ NULL, 0, NULL, 0 },
};

const struct shmtab_cmd cmd_create = {
	.name = "create",
	.usage = "[--pagesize N] [--init N] [--lock best|none|record|mutex] "
		 "[--mode OCTAL] [--key-type TYPE] [--value-type TYPE] "
		 "[--array LENGTH [--default VALUE]] NAME",
	.summary = "create a new, empty table, typed or an array",
	.optstring = "p:i:l:m:k:v:a:d:",
	.longopts = create_longopts,
	.min_args = 1,
	.max_args = 1,
	.run = create_run,
};
