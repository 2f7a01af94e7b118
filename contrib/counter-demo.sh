#!/bin/sh
# counter-demo.sh - one int64 counter, three writers in three languages:
# a C program through the library, a shell loop and a Python loop through a
# shmtabfs mount, all at once; the total must be exact.
#
#   contrib/counter-demo.sh [BUILDDIR [N]]     (defaults: build, 300)
#
# The table is created by the C program (shmtab_open_typed, string ->
# int64); through the mount the same is
#   mkdir MOUNT/counters
#   setfattr -n user.shmtab.key_type -v string MOUNT/counters
#   setfattr -n user.shmtab.value_type -v int64 MOUNT/counters
# Needs /dev/fuse and fusermount3; Python is optional.  Everything lives
# under one temporary directory, removed at the end.  Exit status 0 when
# no increment was lost.
set -eu
b=${1:-build}
n=${2:-300}
here=$(cd "$(dirname "$0")" && pwd)
shmtabfs=${SHMTABFS:-$b/src/shmtabfs}
counter="$b/contrib/shmtab-counter"
dir=$(mktemp -d "${TMPDIR:-/tmp}/shmtab-counter.XXXXXX")
mnt="$dir/mnt"
table="file:$dir/tables/counters"
mkdir "$dir/tables" "$mnt"
daemon=
cleanup()
{
	if mountpoint -q "$mnt" 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt"
	fi
	if [ -n "$daemon" ]; then
		i=0
		while kill -0 "$daemon" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill "$daemon" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$counter" create "$table"
"$shmtabfs" -f "$dir/tables" "$mnt" 2>"$dir/daemon.log" &
daemon=$!
i=0
until mountpoint -q "$mnt"; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$daemon" 2>/dev/null; then
		echo "counter-demo: the mount failed" >&2
		cat "$dir/daemon.log" >&2
		exit 1
	fi
	sleep 0.1
done

writers=2
"$counter" add "$table" hits "$n" 2000 &
c_pid=$!
sh "$here/counter.sh" "$mnt/counters/hits" "$n" &
sh_pid=$!
py_pid=
if command -v python3 >/dev/null 2>&1; then
	python3 "$here/counter.py" "$mnt/counters/hits" "$n" &
	py_pid=$!
	writers=3
fi
status=0
wait $c_pid || status=1
wait $sh_pid || status=1
if [ -n "$py_pid" ]; then
	wait $py_pid || status=1
fi

want=$((writers * n))
got=$(cat "$mnt/counters/hits")
lib=$("$counter" get "$table" hits)
echo "counter-demo: $writers writers x $n increments: $got through the mount, $lib through the library (want $want)"
if [ $status -ne 0 ] || [ "$got" != "$want" ] || [ "$lib" != "$want" ]; then
	echo "counter-demo: FAILED" >&2
	cat "$dir/daemon.log" >&2
	exit 1
fi
