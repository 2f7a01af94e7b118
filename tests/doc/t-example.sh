#!/bin/sh
# The EXAMPLE of libshmtab(3) compiles against the library and runs.
# Environment (from the makefile): srcdir, top_builddir, CC.
set -eu
page="$srcdir/doc/libshmtab.3"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -n '/^\.EX$/,/^\.EE$/p' "$page" | sed '1d;$d' | sed 's/\\e/\\/g' \
	> "$tmp/example.c"
test -s "$tmp/example.c" || { echo "no EXAMPLE in $page"; exit 1; }
lib="$top_builddir/lib/.libs"
${CC:-cc} ${EXAMPLE_FLAGS:-} -std=gnu11 -Wall -Wextra -Werror -I"$srcdir/lib" \
	-o "$tmp/example" "$tmp/example.c" "$lib/libshmtab-internal.a" -pthread
out=$("$tmp/example")
test "$out" = "new" || { echo "example printed '$out', not 'new'"; exit 1; }
echo "libshmtab(3) EXAMPLE: compiled and printed '$out'"
