#!/bin/sh
# counter.sh - the shell side of the shared-counter example: N increments
# of a key of an int64 table, through a shmtabfs mount.
#
#   contrib/counter.sh MOUNTPOINT/TABLE/KEY N
#
# Appending to an integer key adds what is appended (shmtabfs(1), TYPED
# TABLES), atomically, like shmtab_int_add() in a library process.
set -eu
file=${1:?usage: counter.sh MOUNTPOINT/TABLE/KEY N}
n=${2:?usage: counter.sh MOUNTPOINT/TABLE/KEY N}
i=0
while [ "$i" -lt "$n" ]; do
	echo 1 >>"$file"
	i=$((i + 1))
done
