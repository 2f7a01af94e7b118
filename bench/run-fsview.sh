#!/bin/sh
# run-fsview.sh - shmtabfs (strict and cached) against tmpfs, bindfs and
# the FUSE floor (issue 6, file-view part; the goals of issue 3)
#
#   bench/run-fsview.sh [-B BUILDDIR] [FSVIEW OPTIONS]
#
# Installs bindfs and fuse3 (with apt-get when run as root and they are
# missing), configures a build of this tree with FUSE in BUILDDIR (default
# ${TMPDIR:-/tmp}/shmtab-fsview-build, never the source tree; emptied when
# it was built from another tree), builds
# `make bench` (bench/fsview and bench/fuse-floor, the in-memory FUSE
# server with the strict mode's settings), src/shmtabfs and src/shmtab, and
# runs bench/fsview, which
# mounts every system itself (it needs /dev/fuse, and root for bindfs and
# fusermount3 to be at ease).  The tables go to standard output, every
# median is appended to bench/results-fsview.tsv in the source tree (-o PATH
# to change).  FSVIEW OPTIONS: -r ROUNDS (5), -n RUNS per round (3), -t
# SECONDS per loop (0.5), -b MIB of the big value (256), -c SECONDS of the
# cached mode (1), -s SYSTEM[,..] (e.g. -s tmpfs,fuse-floor,shmtabfs-strict),
# -w WORKLOAD[,..], -F SHMTABFS, -L FUSE-FLOOR, -A ARG
# (more arguments for shmtabfs, such as -A -s).  About
# 10-15 minutes on 2 busy cores with the defaults.
set -eu

case "${1-}" in -h | --help) # the comment above is the help
	sed -n '2,/^set -eu$/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

src=$(cd "$(dirname "$0")/.." && pwd)
build=${TMPDIR:-/tmp}/shmtab-fsview-build
if [ "${1-}" = -B ]; then
	build=$2
	shift 2
fi

if ! command -v bindfs >/dev/null || ! command -v fusermount3 >/dev/null ||
	! pkg-config --exists fuse3 2>/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends \
			build-essential autoconf automake libtool pkg-config \
			bindfs fuse3 libfuse3-dev >/dev/null
	else
		echo "run-fsview: not root: install bindfs fuse3 libfuse3-dev" >&2
	fi
fi

[ -x "$src/configure" ] || "$src/autogen.sh" >&2
# A build directory made from another tree depends on that tree's files.
if [ -f "$build/config.status" ] &&
	[ "$(cat "$build/.shmtab-src" 2>/dev/null)" != "$src" ]; then
	rm -rf "$build"
fi
mkdir -p "$build"
echo "$src" >"$build/.shmtab-src"
cd "$build"
"$src/configure" -q --disable-tests --enable-fuse CFLAGS="${CFLAGS:--O2 -g}"
# Standard output is for the tables.
make -s -j"$(nproc 2>/dev/null || echo 2)" bench src/shmtabfs src/shmtab >&2

case " $* " in
*" -o "*) exec bench/fsview -F "$build/src/shmtabfs" "$@" ;;
*) exec bench/fsview -F "$build/src/shmtabfs" \
	-o "$src/bench/results-fsview.tsv" "$@" ;;
esac
