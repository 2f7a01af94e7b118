#!/bin/sh
# read-table.sh - print every key of a mounted table and its value, with
# nothing but files: each key is a file holding its newest value.
#
#   contrib/read-table.sh MOUNTPOINT/TABLE
#
# File names are keys escaped as in shmtab(1): '%2F' is '/', '%25' is '%'.
set -eu
table=${1:?usage: read-table.sh MOUNTPOINT/TABLE}
for f in "$table"/* "$table"/.[!.]*; do
	[ -f "$f" ] || continue
	printf '%s\t' "${f##*/}"
	head -c 200 "$f" | tr '\n\t' '  '
	echo
done
