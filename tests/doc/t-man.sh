#!/bin/sh
# The manual pages: mandoc -T lint finds nothing at warning level or above,
# and every option shmtabfs --help lists of its own is in shmtabfs(1).
# (shmtab --help against shmtab(1)'s SYNOPSIS: tests/cli/t-cli.sh.)
# Environment (from the makefile): srcdir, SHMTABFS (may be unset).
set -eu
command -v mandoc >/dev/null 2>&1 || { echo "SKIP: no mandoc"; exit 77; }
fails=0
for page in "$srcdir"/doc/*.1 "$srcdir"/doc/*.3; do
	out=$(mandoc -T lint -W warning "$page" 2>&1) || true
	if [ -n "$out" ]; then
		echo "FAIL: mandoc -T lint $page:"
		echo "$out"
		fails=$((fails + 1))
	else
		echo "ok: $(basename "$page") is clean"
	fi
done
if [ -n "${SHMTABFS:-}" ] && [ -x "$SHMTABFS" ]; then
	page="$srcdir/doc/shmtabfs.1"
	text=$(mandoc -T ascii "$page" | sed 's/.\x08//g')
	# the options block before "FUSE options:"
	opts=$("$SHMTABFS" --help 2>&1 |
		sed -n '/^shmtabfs options:/,/^FUSE options:/p' |
		sed -n 's/^ *-o \([a-z_]*=\{0,1\}\).*/\1/p')
	test -n "$opts" || { echo "FAIL: shmtabfs --help lists no options"; exit 1; }
	for o in $opts; do
		if printf '%s\n' "$text" |
			grep -Eq -- "(^|[^a-z])-o $o([^a-z_]|\$)"; then
			echo "ok: -o $o is in shmtabfs(1)"
		else
			echo "FAIL: shmtabfs --help has -o $o, shmtabfs(1) has not"
			fails=$((fails + 1))
		fi
	done
fi
exit $((fails > 0))
