#!/bin/sh
# mount-demo.sh - the main job: a table created, mounted, used with ls,
# cat and echo while a library process writes to it, then unmounted.
#
#   contrib/mount-demo.sh [BUILDDIR]      (default: build)
#
# Needs /dev/fuse and fusermount3 (Debian: fuse3).  Everything it creates
# lives under one temporary directory and is removed at the end.
set -eu
b=${1:-build}
shmtab="$b/src/shmtab"
shmtabfs="$b/src/shmtabfs"
dir=$(mktemp -d /tmp/shmtab-demo.XXXXXX)
mnt="$dir/mnt"
mkdir "$dir/tables" "$mnt"
cleanup()
{
	fusermount3 -u "$mnt" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
run()
{
	echo "\$ $*"
	sh -c "$*"
}

run "'$shmtab' create file:$dir/tables/cache"
run "'$shmtabfs' '$dir/tables' '$mnt'"
run "ls -l '$mnt'"
run "echo hello > '$mnt/cache/greeting'"
run "echo world >> '$mnt/cache/greeting'"
run "cat '$mnt/cache/greeting'"
run "'$shmtab' get file:$dir/tables/cache greeting"
run "'$shmtab' set file:$dir/tables/cache counter 42"
run "ls -l '$mnt/cache'"
run "cat '$mnt/cache/counter'; echo"
run "'$shmtab' add file:$dir/tables/cache counter 43"
run "cat '$mnt/cache/counter'; echo"
run "getfattr -n user.shmtab.bindings --only-values '$mnt/cache/counter' 2>/dev/null || cat '$mnt/cache/counter'; echo"
run "rm '$mnt/cache/greeting'"
run "ls '$mnt/cache'"
run "fusermount3 -u '$mnt'"
run "'$shmtab' dump file:$dir/tables/cache"
