#!/bin/sh
# run-engine.sh - shmtab against TDB, LMDB, Kyoto Cabinet, one file per key
# and an in-process hash table (issue 6, engine part)
#
#   bench/run-engine.sh [-B BUILDDIR] [ENGINE OPTIONS]
#
# Installs the peers (libtdb-dev liblmdb-dev libkyotocabinet-dev, with
# apt-get when run as root; otherwise the peers it cannot find are left
# out), configures a build of this tree in BUILDDIR (default
# ${TMPDIR:-/tmp}/shmtab-bench-build, never the source tree; emptied when
# it was built from another tree), runs
# `make bench`, and runs bench/engine.  The tables go to standard output,
# every figure to bench/results-engine.tsv in the source tree (-o PATH to
# change).  ENGINE OPTIONS: -r ROUNDS (5), -n N[,N..] (100000,1000000),
# -t SECONDS per timed run (0.2), -s SYSTEM[,SYSTEM..], -L (no large
# values).  About 15 minutes on 2 cores with the defaults.
set -eu

case "${1-}" in -h | --help) # the comment above is the help
	sed -n '2,/^set -eu$/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

src=$(cd "$(dirname "$0")/.." && pwd)
build=${TMPDIR:-/tmp}/shmtab-bench-build
if [ "${1-}" = -B ]; then
	build=$2
	shift 2
fi

peers="libtdb-dev liblmdb-dev libkyotocabinet-dev"
if ! pkg-config --exists tdb lmdb kyotocabinet 2>/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends \
			build-essential autoconf automake libtool pkg-config \
			$peers >/dev/null
	else
		echo "run-engine: not root: install $peers for every peer" >&2
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
# Always reconfigure: peers installed since the last run are found.
"$src/configure" -q --disable-tests --disable-fuse CFLAGS="${CFLAGS:--O2 -g}"
# Standard output is for the tables.
make -s -j"$(nproc 2>/dev/null || echo 2)" bench >&2

case " $* " in
*" -o "*) exec bench/engine "$@" ;;
*) exec bench/engine -o "$src/bench/results-engine.tsv" "$@" ;;
esac
