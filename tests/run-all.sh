#!/bin/bash
# Run the whole test suite: a -Werror build with make check and make
# distcheck in build/, then an ASan+UBSan build with make check in
# build-asan/.  Both are VPATH builds of a clean source tree.  On failure
# the logs of the failed tests are printed.  JOBS sets make's -j (2).
set -euo pipefail

cd "$(dirname "$0")/.."
top=$(pwd)
jobs=${JOBS:-2}

show_failures()
{
	local trs log

	echo >&2
	echo "=== logs of failed tests ===" >&2
	for trs in $(find "$top/build" "$top/build-asan" -name '*.trs' \
			2>/dev/null | sort); do
		if grep -Eq '^:test-result: (FAIL|ERROR|XPASS)' "$trs"; then
			log=${trs%.trs}.log
			echo "--- $log" >&2
			cat "$log" >&2 || true
		fi
	done
	for log in $(find "$top/build" "$top/build-asan" \
			-name test-suite.log 2>/dev/null | sort); do
		echo "--- summary in $log" >&2
	done
}

trap 'rc=$?; if [ $rc -ne 0 ]; then show_failures; echo "tests/run-all.sh: FAILED" >&2; fi; exit $rc' EXIT

if [ -f config.status ]; then
	echo "tests/run-all.sh: the source tree is configured in place;" \
	     "run 'make distclean' there first" >&2
	exit 2
fi

./autogen.sh

mkdir -p build
(
	cd build
	../configure --enable-tests --enable-werror
	make -j"$jobs" check
	make -j"$jobs" distcheck
)

mkdir -p build-asan
(
	cd build-asan
	../configure --enable-tests --enable-asan --enable-ubsan
	make -j"$jobs" check
)

echo "tests/run-all.sh: all passed"
