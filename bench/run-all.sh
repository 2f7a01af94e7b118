#!/bin/sh
# run-all.sh - every benchmark of issue 6, one after the other
#
#   bench/run-all.sh
#
# As root on a fresh Debian 12 machine: bench/run-engine.sh (installs TDB,
# LMDB and Kyoto Cabinet, builds, runs bench/engine) and then
# bench/run-fsview.sh (installs bindfs and fuse3, builds, runs
# bench/fsview).  Each prints one table per workload, with every system's
# rate and its ratio to shmtab (engine) or its time ratio to tmpfs and
# bindfs (file view), then the issue's goals with their verdicts; the
# figures go to bench/results-engine.tsv and bench/results-fsview.tsv.
# About 30-40 minutes on 2 cores.  Run the two scripts on their own for
# their options (rounds, sizes, systems).
set -eu

case "${1-}" in -h | --help) # the comment above is the help
	sed -n '2,/^set -eu$/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
"$here/run-engine.sh"
echo
"$here/run-fsview.sh"
