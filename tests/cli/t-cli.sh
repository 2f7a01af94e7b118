#!/bin/sh
# SPDX-License-Identifier: MIT
#
# t-cli.sh - every shmtab subcommand and exit code, through the built binary
#
# Environment (from the makefile): SHMTAB, the binary; SHMTAB_TEST_TMPDIR,
# a scratch directory.  Every table and object is named after this
# process ($$) and removed on exit.  Exit 0 pass, 1 fail, 99 hard error.

set -u

S=${SHMTAB:-$(pwd)/src/shmtab}
if [ ! -x "$S" ]; then
	echo "t-cli: no shmtab binary at '$S' (set SHMTAB)" >&2
	exit 99
fi
base=${SHMTAB_TEST_TMPDIR:-${TMPDIR:-/tmp}}
mkdir -p "$base" || exit 99
dir=$(mktemp -d "$base/t-cli.XXXXXX") || exit 99
P=shmtab-cli-$$			# POSIX object names start with this
T=posix:/$P-t			# the main POSIX table
F=$dir/f			# a file table

cleanup()
{
	for o in "/dev/shm/$P"-*; do
		[ -e "$o" ] && rm -f "$o"
	done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

failed=0
n=0

fail()
{
	echo "FAIL: $*"
	failed=1
}

ok()
{
	n=$((n + 1))
	echo "ok $n - $*"
}

# expect CODE DESCRIPTION CMD ARGS...: run, stdout to $dir/out, stderr to
# $dir/err, and compare the exit code.
expect()
{
	want=$1
	what=$2
	shift 2
	"$@" >"$dir/out" 2>"$dir/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$what: exit $rc, expected $want: $*"
		sed 's/^/	stderr: /' "$dir/err"
		return 1
	fi
	ok "$what"
}

# same FILE-A FILE-B DESCRIPTION
same()
{
	if cmp -s "$1" "$2"; then
		ok "$3"
	else
		fail "$3: $1 and $2 differ"
		od -c "$1" | head -5 | sed 's/^/	got:  /'
		od -c "$2" | head -5 | sed 's/^/	want: /'
	fi
}

# has PATTERN FILE DESCRIPTION (grep -e)
has()
{
	if grep -q -e "$1" "$2"; then
		ok "$3"
	else
		fail "$3: no '$1' in $2"
		sed 's/^/	| /' "$2"
	fi
}

# ---------------------------------------------------------------- general
expect 0 "--help" "$S" --help
has "^usage: shmtab \[--help | --version\]" "$dir/out" "--help synopsis"
for c in create set add get rm keys dump load stat check repair list unlink
do
	grep -q "^       shmtab $c " "$dir/out" || fail "--help lacks $c"
done
# --help gives the man page's SYNOPSIS, line for line
man=${srcdir:-.}/doc/shmtab.1
if command -v mandoc >/dev/null 2>&1 && command -v col >/dev/null 2>&1 &&
	[ -f "$man" ]; then
	sed -n 's/^usage: //p; s/^       shmtab/shmtab/p' "$dir/out" >"$dir/want"
	mandoc -T ascii -O width=1000 "$man" | col -b |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' |
		sed -n 's/^ *\(shmtab.*\)/\1/p' >"$dir/synopsis"
	same "$dir/synopsis" "$dir/want" "--help matches SYNOPSIS of shmtab.1"
fi
expect 0 "--version" "$S" --version
has "^shmtab [0-9]" "$dir/out" "--version prints the version"
expect 2 "no arguments" "$S"
has "^usage: shmtab" "$dir/err" "no arguments: usage line"
expect 2 "unknown command" "$S" frobnicate
expect 2 "get without a key" "$S" get "$T"
has "^usage: shmtab get " "$dir/err" "usage line on stderr"
expect 2 "unknown option" "$S" rm --frob "$T" k
expect 2 "too many arguments" "$S" keys "$T" extra
expect 2 "missing option argument" "$S" create "$T" --pagesize
expect 2 "bad --lock" "$S" create --lock sometimes "$T"
expect 2 "bad --mode" "$S" create --mode 999 "$T"
expect 0 "command --help" "$S" set --help
has "^usage: shmtab set " "$dir/out" "command --help on stdout"

# ---------------------------------------------------------------- create
expect 1 "get from a missing table" "$S" get "$T" k
has "cannot open '$T'" "$dir/err" "missing table message"
expect 0 "create" "$S" create "$T"
expect 1 "create over an existing table" "$S" create "$T"
has "File exists" "$dir/err" "create: EEXIST message"
expect 0 "create a file table with options" "$S" create --pagesize 512 \
	--init 100 --lock record --mode 0640 "$F"
expect 0 "stat the file table" "$S" stat "$F"
has "^page size: 512$" "$dir/out" "stat: page size"
has "^locking: record$" "$dir/out" "stat: locking method"
has "^format version: 2$" "$dir/out" "stat: format version"
has "^bindings: 0$" "$dir/out" "stat: no bindings"
has "^holders: 0$" "$dir/out" "stat: holders"
has "^dead holders: 0$" "$dir/out" "stat: dead holders"
[ "$(stat -c %a "$F")" = 640 ] && ok "create --mode" ||
	fail "create --mode: mode $(stat -c %a "$F")"
expect 1 "create with a bad page size" "$S" create --pagesize 100 "$dir/bad"
[ ! -e "$dir/bad" ] && ok "no object left by a failed create" ||
	fail "a failed create left $dir/bad"

# ---------------------------------------------------------------- set, add, get, rm
expect 0 "set" "$S" set "$T" greeting hello
expect 0 "get" "$S" get "$T" greeting
printf 'hello' >"$dir/want"
same "$dir/out" "$dir/want" "get writes the raw value"
expect 0 "set replaces" "$S" set "$T" greeting bye
expect 0 "get after set" "$S" get "$T" greeting
printf 'bye' >"$dir/want"
same "$dir/out" "$dir/want" "set replaced the newest value"
expect 1 "get a missing key" "$S" get "$T" nokey
has "no key 'nokey' in '$T'" "$dir/err" "missing key message"

printf 'line1\nnul\000here\n\377' >"$dir/bin"
"$S" set "$T" 'a%2Fb%00c' <"$dir/bin"
[ $? -eq 0 ] && ok "set from stdin" || fail "set from stdin"
expect 0 "get a binary key" "$S" get "$T" 'a%2Fb%00c'
same "$dir/out" "$dir/bin" "stdin value is binary-safe"
expect 2 "a non-canonical key" "$S" get "$T" 'a%2fb'
has "not an escaped key" "$dir/err" "non-canonical key message"
expect 0 "set with -x" "$S" set -x "$T" '50%' half
expect 0 "get the raw key escaped" "$S" get "$T" '50%25'
printf 'half' >"$dir/want"
same "$dir/out" "$dir/want" "-x takes the key as it is"

expect 0 "add 1" "$S" add "$T" stack v1
expect 0 "add 2" "$S" add "$T" stack v2
expect 0 "add 3" "$S" add "$T" stack v3
expect 0 "get the newest" "$S" get "$T" stack
printf 'v3' >"$dir/want"
same "$dir/out" "$dir/want" "add hides the older binding"
expect 0 "rm the newest" "$S" rm "$T" stack
expect 0 "get after rm" "$S" get "$T" stack
printf 'v2' >"$dir/want"
same "$dir/out" "$dir/want" "rm restores the older binding"
expect 0 "rm --all" "$S" rm "$T" stack --all
expect 1 "get after rm --all" "$S" get "$T" stack
expect 1 "rm a missing key" "$S" rm "$T" stack
expect 0 "empty value" "$S" set "$T" empty ''
expect 0 "get an empty value" "$S" get "$T" empty
[ ! -s "$dir/out" ] && ok "empty value is empty" || fail "empty value"
expect 0 "the empty key" "$S" set "$T" % nothing
expect 0 "the key '.'" "$S" set "$T" %2E dot

# ---------------------------------------------------------------- keys
expect 0 "keys" "$S" keys "$T"
printf '%%\n%%2E\n50%%25\na%%2Fb%%00c\nempty\ngreeting\n' >"$dir/want"
same "$dir/out" "$dir/want" "keys: escaped, sorted, one a line"
expect 1 "keys of a missing table" "$S" keys "$T-none"

# ---------------------------------------------------------------- dump, load
D=posix:/$P-d
expect 0 "create the dump source" "$S" create "$D"
# several bindings per key, keys and values with NUL, newline, '/', '%',
# '\', space, high bytes
for v in one two three; do
	"$S" add "$D" 'k%0A%2F%25%00' "$v" || fail "add $v"
done
printf 'a\000b\nc/d%%e\\f g\200\377' | "$S" add "$D" '%00' || fail "add binary"
printf '' | "$S" add "$D" '%00' || fail "add empty"
printf 'x' | "$S" add "$D" '%' || fail "add under the empty key"
"$S" add -x "$D" 'sp ace\' 'b\\s' || fail "add backslash"
"$S" add "$D" "$(printf 'caf\303\251')" 'utf-8' || fail "add utf-8"
expect 0 "dump" "$S" dump "$D"
cp "$dir/out" "$dir/dump1"
has "^shmtab-dump 1$" "$dir/dump1" "dump: format line"
has "^end 5 8$" "$dir/dump1" "dump: counts"
has '^k \\00$' "$dir/dump1" "dump: NUL key escaped"
has '^v a\\00b\\0ac/d%e\\\\f\\20g\\80\\ff$' "$dir/dump1" "dump: value escaped"
grep -n '^v ' "$dir/dump1" | grep -A2 'one$' | tr -d '\n' |
	grep -q 'one.*two.*three' && ok "dump: bindings oldest first" ||
	fail "dump: binding order"
L=posix:/$P-l
expect 0 "load into a new table" "$S" load "$L" <"$dir/dump1"
expect 0 "dump the loaded table" "$S" dump "$L"
same "$dir/out" "$dir/dump1" "load then dump is byte-identical"
expect 0 "get after load" "$S" get "$L" 'k%0A%2F%25%00'
printf 'three' >"$dir/want"
same "$dir/out" "$dir/want" "load keeps the newest binding on top"
expect 0 "rm after load" "$S" rm "$L" 'k%0A%2F%25%00'
expect 0 "get the restored binding" "$S" get "$L" 'k%0A%2F%25%00'
printf 'two' >"$dir/want"
same "$dir/out" "$dir/want" "load keeps the older bindings in order"
expect 0 "load into a file table" "$S" load "$dir/loaded" <"$dir/dump1"
expect 0 "dump the file table" "$S" dump "$dir/loaded"
same "$dir/out" "$dir/dump1" "file table: byte-identical dump"
expect 0 "load -t into an existing table" "$S" load -t "$L" <"$dir/dump1"
expect 0 "dump after load -t" "$S" dump "$L"
same "$dir/out" "$dir/dump1" "load -t replaces the contents"
expect 0 "load adds to an existing table" "$S" load "$L" <"$dir/dump1"
expect 0 "stat after a second load" "$S" stat "$L"
has "^bindings: 16$" "$dir/out" "load adds the bindings on top"

# damaged input changes nothing and exits 1
B=posix:/$P-b
sed '$d' "$dir/dump1" >"$dir/trunc"
expect 1 "load a truncated dump" "$S" load "$B" <"$dir/trunc"
has "truncated" "$dir/err" "truncated dump message"
expect 1 "nothing created by a refused load" "$S" stat "$B"
sed 's/^end 5 8$/end 5 9/' "$dir/dump1" >"$dir/counts"
expect 1 "load with wrong counts" "$S" load "$B" <"$dir/counts"
has "line 18: 5 keys and 8 bindings, the end line says 5 and 9" "$dir/err" "counts message"
sed 's/^v one$/v on\\zz/' "$dir/dump1" >"$dir/esc"
expect 1 "load with a bad escape" "$S" load "$B" <"$dir/esc"
has "bad escape" "$dir/err" "bad escape message"
printf 'hello\n' | "$S" load "$B" 2>"$dir/err"
[ $? -eq 1 ] && ok "load of a non-dump" || fail "load of a non-dump"
has "not a shmtab dump" "$dir/err" "non-dump message"
printf 'shmtab-dump 2\ndata\nend 0 0\n' | "$S" load "$B" 2>"$dir/err"
[ $? -eq 1 ] && ok "load of a future format" || fail "future format"
expect 1 "still nothing created" "$S" stat "$B"
expect 0 "dump of an empty table" "$S" dump "$F"
printf 'shmtab-dump 1\npagesize 512\nlock record\ndata\nend 0 0\n' \
	>"$dir/want"
same "$dir/out" "$dir/want" "empty dump"

# ---------------------------------------------------------------- check, repair
"$S" load "$dir/c" <"$dir/dump1" || fail "load $dir/c"
expect 0 "check a sound table" "$S" check "$dir/c"
has ": ok$" "$dir/out" "check says ok"
cp "$dir/c" "$dir/broken"
# the first heap chunk (offset 32768, doc/FORMAT.md) gets a bad magic
printf 'XXXX' | dd of="$dir/broken" bs=1 seek=32768 conv=notrunc 2>/dev/null
expect 3 "check a damaged table" "$S" check "$dir/broken"
has "damaged table: " "$dir/err" "check says what is wrong"
has "is damaged" "$dir/err" "check names the table"
expect 3 "keys of a damaged table" "$S" keys "$dir/broken"
# the index is gone, the records are whole: repair finds them in the heap
expect 0 "repair a table whose index is damaged" "$S" repair "$dir/broken"
has "8 binding(s) found outside the index" "$dir/out" "repair reports orphans"
expect 0 "check after repairing the index" "$S" check "$dir/broken"
expect 0 "dump after repairing the index" "$S" dump "$dir/broken"
same "$dir/out" "$dir/dump1" "repair restores every binding from the heap"
cp "$dir/c" "$dir/counted"
# the header's binding count (offset 64): every binding is still readable
printf '\377' | dd of="$dir/counted" bs=1 seek=64 conv=notrunc 2>/dev/null
expect 3 "check a miscounted table" "$S" check "$dir/counted"
chmod 0604 "$dir/counted"
expect 0 "repair" "$S" repair "$dir/counted"
has "rebuilt with 8 binding(s) of 5 key(s)" "$dir/out" "repair reports"
expect 0 "check after repair" "$S" check "$dir/counted"
expect 0 "dump after repair" "$S" dump "$dir/counted"
same "$dir/out" "$dir/dump1" "repair keeps every binding in order"
[ "$(stat -c %a "$dir/counted")" = 604 ] && ok "repair keeps the mode" ||
	fail "repair mode: $(stat -c %a "$dir/counted")"
ls "$dir" | grep -q repair && fail "repair left a temporary table" ||
	ok "repair leaves nothing behind"
expect 0 "repair a POSIX table" "$S" repair "$L"
expect 0 "stat after repair" "$S" stat "$L"
has "^bindings: 16$" "$dir/out" "POSIX repair keeps the bindings"
expect 1 "repair a missing table" "$S" repair "$T-none"
printf 'not a table at all' >"$dir/junk"
expect 3 "check a foreign file" "$S" check "$dir/junk"
: >"$dir/zero"
expect 3 "check an empty file" "$S" check "$dir/zero"
[ ! -s "$dir/zero" ] && ok "check leaves an empty file empty" ||
	fail "check formatted an empty file"
rm -f "$dir/zero"

# every read command on tables with bytes scribbled at spread offsets
# (header, lock area, index, records): exit 0, 1 or 3, never a crash or
# a hang
size=$(stat -c %s "$dir/c")
to=""
command -v timeout >/dev/null 2>&1 && to="timeout 30"
bad=0
for off in 0 16 20 48 56 64 144 7104 32768 32784 33024 34000 \
	$((size - 8)); do
	cp "$dir/c" "$dir/s"
	printf '\377\377\377\177\001\000\000\200' |
		dd of="$dir/s" bs=1 seek="$off" conv=notrunc 2>/dev/null
	for c in check dump get repair; do
		if [ "$c" = get ]; then
			$to "$S" get "$dir/s" 'k%0A%2F%25%00' >/dev/null 2>&1
		else
			$to "$S" "$c" "$dir/s" >/dev/null 2>&1
		fi
		rc=$?
		case $rc in
		0 | 1 | 3) ;;
		*)
			fail "$c on a table scribbled at $off: exit $rc"
			bad=1 ;;
		esac
	done
	rm -f "$dir"/s "$dir"/s.repair-*
done
[ $bad -eq 0 ] && ok "scribbled tables: no crash, no hang"

# ---------------------------------------------------------------- list, unlink
: >"$dir/empty"
expect 0 "list DIR" "$S" list "$dir"
has "^file:$dir/c	table	bindings=8 keys=5 " "$dir/out" "list finds a table"
has "^file:$dir/junk	not-a-table	" "$dir/out" "list marks a foreign file"
has "^file:$dir/empty	empty	" "$dir/out" "list marks an empty object"
has "^file:$dir/broken	table	" "$dir/out" "list shows a table with damaged contents"
if [ -d /dev/shm ]; then
	printf 'leftover' >"/dev/shm/$P-junk"
	expect 0 "list posix:PREFIX" "$S" list "posix:/$P"
	has "^$T	table	bindings=" "$dir/out" "list posix: finds a table"
	has "^posix:/$P-junk	not-a-table	" "$dir/out" \
		"list posix: marks a leftover"
	grep -v "^posix:/$P-" "$dir/out" >"$dir/other"
	[ ! -s "$dir/other" ] && ok "list posix:PREFIX narrows" ||
		fail "list posix:PREFIX shows other objects"
	expect 0 "list (posix: by default)" "$S" list
	has "^posix:/$P-junk	not-a-table	" "$dir/out" "list defaults to posix:"
	expect 0 "unlink a leftover" "$S" unlink "posix:/$P-junk"
	[ ! -e "/dev/shm/$P-junk" ] && ok "leftover removed" ||
		fail "leftover still there"
fi
expect 1 "list a missing directory" "$S" list "$dir/none"
expect 0 "unlink" "$S" unlink "$T" "$D" "$L"
expect 1 "get from an unlinked table" "$S" get "$T" greeting
expect 1 "unlink a missing table" "$S" unlink "$T"
has "cannot unlink '$T'" "$dir/err" "unlink message"

echo "1..$n"
exit $failed
