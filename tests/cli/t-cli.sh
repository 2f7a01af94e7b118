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
for c in create set add get rm incr resize keys dump load stat check repair \
	list unlink
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
has "^format version: 8$" "$dir/out" "stat: format version"
has "^bindings: 0$" "$dir/out" "stat: no bindings"
has "^holders: 0$" "$dir/out" "stat: holders"
has "^dead holders: 0$" "$dir/out" "stat: dead holders"
[ "$(stat -c %a "$F")" = 640 ] && ok "create --mode" ||
	fail "create --mode: mode $(stat -c %a "$F")"
expect 2 "create with a page size below 160" "$S" create --pagesize 100 "$dir/bad"
expect 2 "create with a page size not a multiple of 4" "$S" create --pagesize 162 "$dir/bad"
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

# a key whose escape is longer than a file name: shmtabfs names it by a
# prefix, "%%" and a digest (shmtab(1), ESCAPING); KEY arguments take it
LT=posix:/$P-long
lk=k$(printf '%0299d' 0 | tr 0 x)
ln=$(printf '%s' "$lk" | cut -c1-221)%%$(printf '%s' "$lk" | sha256sum | cut -c1-32)
expect 0 "create a table for a long key" "$S" create "$LT"
expect 0 "set a 300-byte key" "$S" set "$LT" "$lk" v1
expect 0 "a second long key with the same start" "$S" set "$LT" "${lk}y" v2
expect 0 "get by the long key's file name" "$S" get "$LT" "$ln"
printf 'v1' >"$dir/want"
same "$dir/out" "$dir/want" "the long name addresses its key"
expect 0 "set by the long name" "$S" set "$LT" "$ln" v3
expect 0 "get the key itself" "$S" get "$LT" "$lk"
printf 'v3' >"$dir/want"
same "$dir/out" "$dir/want" "set by the long name replaced its key"
expect 1 "a long name no key has" "$S" get "$LT" \
	"$(printf '%s' "$lk" | cut -c1-221)%%0123456789abcdef0123456789abcdef"
has "no key of '$LT' has the name" "$dir/err" "long name message"
expect 0 "rm by the long name" "$S" rm "$LT" "$ln"
expect 1 "the key is gone" "$S" get "$LT" "$lk"
expect 0 "the other long key stays" "$S" get "$LT" "${lk}y"

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
has "the header counted 255 binding(s), 247 more than could be read (lost, or a damaged count)" \
	"$dir/out" "repair reports the count that was wrong"
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
# a table file cut short: read from a copy made whole with zeros
"$S" create "$dir/cut"
for i in $(seq 1 400); do
	"$S" set "$dir/cut" "k$i" "value-$i-of-some-length" || break
done
truncate -s $(($(stat -c %s "$dir/cut") * 3 / 4)) "$dir/cut"
expect 3 "check a table cut short" "$S" check "$dir/cut"
expect 0 "repair a table cut short" "$S" repair "$dir/cut"
has "cut short at .* bytes: read as if the rest were zeros" "$dir/out" \
	"repair says the table was cut short"
expect 0 "check after repairing a cut table" "$S" check "$dir/cut"
expect 0 "keys after repairing a cut table" "$S" keys "$dir/cut"
kept=$(wc -l <"$dir/out")
[ "$kept" -gt 100 ] && [ "$kept" -lt 400 ] &&
	ok "repair kept what the cut left ($kept of 400)" ||
	fail "repair of a cut table kept $kept of 400 keys"
"$S" get "$dir/cut" "$(head -1 "$dir/out")" | grep -q '^value-[0-9]*-of-some-length$' &&
	ok "a kept key has its value" || fail "a kept key lost its value"
ls "$dir" | grep -q repair && fail "repair left a copy behind" ||
	ok "repair of a cut table leaves nothing behind"
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

# ---------------------------------------------------------------- typed tables
# want TEXT: printf TEXT (a format without arguments) into $dir/want
want()
{
	printf "$1" >"$dir/want"
}

H=posix:/$P-h			# string -> int64
expect 2 "create: bad key type" "$S" create --key-type int65 "$H"
has "bad key type 'int65'" "$dir/err" "create: bad type message"
expect 2 "create: bad value type" "$S" create --value-type 'pair(string)' "$H"
expect 2 "create: --default without --array" "$S" create --default 5 "$H"
has "default is for arrays" "$dir/err" "create: --default message"
expect 2 "create: --array with a string key" "$S" create --array 5 \
	--key-type string "$H"
has "keys of an array are int64 indexes" "$dir/err" "create: array key message"
expect 2 "create: negative array length" "$S" create --array -1 "$H"
expect 2 "create: default not of the type" "$S" create --array 3 \
	--value-type int32 --default x "$H"
has "bad default 'x': not a valid int32" "$dir/err" "create: bad default message"
expect 2 "create: default out of range" "$S" create --array 3 \
	--value-type int32 --default 2147483648 "$H"
[ ! -e "/dev/shm/$P-h" ] && ok "nothing created by refused typed creates" ||
	fail "a refused typed create left /dev/shm/$P-h"

expect 0 "create string -> int64" "$S" create --key-type string \
	--value-type int64 "$H"
expect 0 "stat a typed table" "$S" stat "$H"
has "^kind: hash$" "$dir/out" "stat: kind hash"
has "^key type: string$" "$dir/out" "stat: key type"
has "^value type: int64$" "$dir/out" "stat: value type"
grep -q '^length:\|^default:' "$dir/out" && fail "stat: length of a hash" ||
	ok "stat: no length or default for a hash table"
expect 0 "stat an untyped table" "$S" stat "$F"
has "^kind: hash$" "$dir/out" "stat untyped: kind"
has "^key type: bytes$" "$dir/out" "stat untyped: key type"
has "^value type: bytes$" "$dir/out" "stat untyped: value type"

for v in 0 -1 1 42 9223372036854775807 -9223372036854775808; do
	"$S" set "$H" n -- "$v" 2>"$dir/err" || fail "set int64 $v"
	"$S" get "$H" n >"$dir/out" 2>"$dir/err" || fail "get int64 $v"
	printf '%s\n' "$v" >"$dir/want"
	same "$dir/out" "$dir/want" "int64 $v: set, get with a newline"
done
expect 0 "set +7" "$S" set "$H" n +7
expect 0 "get +7" "$S" get "$H" n
want '7\n'
same "$dir/out" "$dir/want" "int64: a leading + is accepted"
expect 1 "set INT64_MAX + 1" "$S" set "$H" n 9223372036854775808
has "'9223372036854775808' is not a valid int64" "$dir/err" \
	"out of range message"
expect 1 "set INT64_MIN - 1" "$S" set "$H" n -- -9223372036854775809
for bad in 12x '' ' 5' '5 ' 0x10 --5 1e3 '5\n5' 'a\tb'; do
	printf "$bad" >"$dir/bad"
	expect 1 "refused int64 text '$bad'" "$S" set "$H" n -- "$(cat "$dir/bad")"
done
expect 0 "get after refused sets" "$S" get "$H" n
same "$dir/out" "$dir/want" "refused sets keep the value"
printf '17\n' | "$S" set "$H" n 2>"$dir/err" && ok "int64 from stdin" ||
	fail "int64 from stdin"
expect 0 "get the stdin value" "$S" get "$H" n
want '17\n'
same "$dir/out" "$dir/want" "stdin int64 with its newline"
printf '17\n\n' | "$S" set "$H" n 2>"$dir/err"
[ $? -eq 1 ] && ok "stdin with two newlines refused" ||
	fail "stdin with two newlines accepted"
has "standard input is not a valid int64" "$dir/err" "stdin refusal message"
expect 0 "add on a typed table" "$S" add "$H" s 1
expect 0 "add again" "$S" add "$H" s 2
expect 0 "rm the newest typed binding" "$S" rm "$H" s
expect 0 "get the older typed binding" "$S" get "$H" s
want '1\n'
same "$dir/out" "$dir/want" "typed add/rm stack"
expect 0 "string key with a slash" "$S" set "$H" 'a%2Fb' 3
expect 1 "get a missing typed key" "$S" get "$H" nope
has "no key 'nope'" "$dir/err" "missing typed key message"
expect 0 "keys of a string-keyed table" "$S" keys "$H"
want 'a%%2Fb\nn\ns\n'
same "$dir/out" "$dir/want" "keys: string keys escaped, sorted"

# incr
expect 0 "incr a new key" "$S" incr "$H" c1
want '1\n'
same "$dir/out" "$dir/want" "incr counts from 0"
expect 0 "incr by 41" "$S" incr "$H" c1 41
want '42\n'
same "$dir/out" "$dir/want" "incr by DELTA"
expect 0 "incr by a negative delta" "$S" incr "$H" c1 -- -50
want '%s\n' && printf -- '-8\n' >"$dir/want"
same "$dir/out" "$dir/want" "incr by -50"
expect 0 "get after incr" "$S" get "$H" c1
same "$dir/out" "$dir/want" "incr stored the sum"
expect 2 "incr with a bad delta" "$S" incr "$H" c1 ten
"$S" set "$H" big 9223372036854775807 || fail "set big"
expect 1 "incr past INT64_MAX" "$S" incr "$H" big
has "out of range" "$dir/err" "incr overflow message"
expect 0 "get after the overflow" "$S" get "$H" big
want '9223372036854775807\n'
same "$dir/out" "$dir/want" "incr overflow keeps the value"
expect 1 "incr on an untyped table" "$S" incr "$T-none2" k
"$S" create "$T-u" || fail "create $T-u"
expect 1 "incr on bytes values" "$S" incr "$T-u" k
has "its values are bytes, not int32, int64 or int" "$dir/err" \
	"incr on bytes message"

# concurrent incr: 4 processes x 200, no addition lost
pids=""
for w in 1 2 3 4; do
	(
		i=0
		while [ $i -lt 200 ]; do
			"$S" incr "$H" hits >/dev/null || exit 1
			i=$((i + 1))
		done
	) &
	pids="$pids $!"
done
bad=0
for p in $pids; do
	wait "$p" || bad=1
done
[ $bad -eq 0 ] && ok "4 concurrent incr loops" || fail "a concurrent incr failed"
expect 0 "get the concurrent total" "$S" get "$H" hits
want '800\n'
same "$dir/out" "$dir/want" "concurrent incr: exact total"

# int32 keys and values
I=posix:/$P-i
expect 0 "create int32 -> int32" "$S" create --key-type int32 \
	--value-type int32 "$I"
expect 0 "set a negative key" "$S" set "$I" -- -5 2147483647
expect 0 "get a negative key" "$S" get "$I" -- -5
want '2147483647\n'
same "$dir/out" "$dir/want" "int32 INT32_MAX under a negative key"
expect 0 "set INT32_MIN" "$S" set "$I" 10 -- -2147483648
expect 0 "get INT32_MIN" "$S" get "$I" 10
printf -- '-2147483648\n' >"$dir/want"
same "$dir/out" "$dir/want" "int32 INT32_MIN"
expect 1 "int32 value out of range" "$S" set "$I" 10 2147483648
expect 1 "int32 key out of range" "$S" set "$I" 2147483648 1
has "'2147483648' is not a valid int32 key" "$dir/err" "bad int32 key message"
expect 1 "a key that is no number" "$S" get "$I" abc
expect 0 "get INT32_MIN kept" "$S" get "$I" 10
same "$dir/out" "$dir/want" "refused int32 set keeps the value"
"$S" set "$I" 9 0 && "$S" set "$I" 100 0 || fail "set int32 keys"
expect 0 "keys of an int32 table" "$S" keys "$I"
printf -- '-5\n9\n10\n100\n' >"$dir/want"
same "$dir/out" "$dir/want" "int keys sorted by number"
expect 1 "incr past INT32_MAX" "$S" incr "$I" -- -5
expect 0 "incr an int32" "$S" incr "$I" 9 -- -3
want '%s' && printf -- '-3\n' >"$dir/want"
same "$dir/out" "$dir/want" "incr an int32 value"

# int64 -> pair(string,int64)
Q=posix:/$P-q
expect 0 "create int64 -> pair" "$S" create --key-type int64 \
	--value-type 'pair( string , int64 )' "$Q"
expect 0 "stat the pair table" "$S" stat "$Q"
has "^value type: pair(string,int64)$" "$dir/out" "stat: canonical pair type"
printf 'tab\\there/%%\t-9223372036854775808\n' >"$dir/pv"
"$S" set "$Q" 7 <"$dir/pv" 2>"$dir/err" && ok "set a pair from stdin" ||
	fail "set a pair from stdin"
expect 0 "get a pair" "$S" get "$Q" 7
same "$dir/out" "$dir/pv" "pair text round trip"
expect 0 "set a pair argument" "$S" set "$Q" 8 "$(printf '\t9223372036854775807')"
expect 0 "get the pair argument" "$S" get "$Q" 8
want '\t9223372036854775807\n'
same "$dir/out" "$dir/want" "pair with an empty string"
for bad in 'one' 'a\t1\t2' 'a\tx' 'a\\q\t1' 'a\t9223372036854775808' '\t'; do
	printf "$bad" >"$dir/bad"
	expect 1 "refused pair text '$bad'" "$S" set "$Q" 8 "$(cat "$dir/bad")"
done
has "is not a valid pair(string,int64)" "$dir/err" "bad pair message"
expect 0 "get after refused pairs" "$S" get "$Q" 8
same "$dir/out" "$dir/want" "refused pairs keep the value"
expect 1 "incr on pair values" "$S" incr "$Q" 7
expect 0 "keys of an int64-keyed table" "$S" keys "$Q"
want '7\n8\n'
same "$dir/out" "$dir/want" "int64 keys"

# pair keys: escaped text form, a raw tab, -x
K=posix:/$P-k
expect 0 "create pair -> string" "$S" create \
	--key-type 'pair(string,int64)' --value-type string "$K"
expect 0 "set an escaped pair key" "$S" set "$K" 'a%2Fb%095' v1
expect 0 "set a pair key with a raw tab" "$S" set "$K" \
	"$(printf 'a%%2Fb\t-3')" v2
expect 0 "set a pair key with -x" "$S" set -x "$K" "$(printf 'z/\t0')" v3
expect 0 "keys of a pair-keyed table" "$S" keys "$K"
want 'a%%2Fb%%09-3\na%%2Fb%%095\nz%%2F%%090\n'
same "$dir/out" "$dir/want" "pair keys: escaped text, sorted by value"
expect 0 "get by a raw-tab key" "$S" get "$K" "$(printf 'a%%2Fb\t5')"
want 'v1'
same "$dir/out" "$dir/want" "string value without a newline"
expect 0 "get by the listed key" "$S" get "$K" 'z%2F%090'
want 'v3'
same "$dir/out" "$dir/want" "keys output works as KEY"
expect 1 "a pair key with one field" "$S" get "$K" 'a%2Fb'
has "is not a valid pair(string,int64) key" "$dir/err" "bad pair key message"
expect 0 "rm a pair key" "$S" rm "$K" 'a%2Fb%09-3'
expect 1 "get the removed pair key" "$S" get "$K" 'a%2Fb%09-3'

# arrays
R=posix:/$P-r
expect 0 "create an array" "$S" create --array 10 --value-type string \
	--default 'no ne' "$R"
expect 0 "stat an array" "$S" stat "$R"
has "^kind: array$" "$dir/out" "stat: kind array"
has "^key type: int64$" "$dir/out" "stat: array key type"
has "^value type: string$" "$dir/out" "stat: array value type"
has "^length: 10$" "$dir/out" "stat: length"
has "^default: no ne$" "$dir/out" "stat: default"
expect 0 "get an unset element" "$S" get "$R" 3
want 'no ne'
same "$dir/out" "$dir/want" "unset element reads the default"
expect 0 "set an element" "$S" set "$R" 3 three
expect 0 "get the element" "$S" get "$R" 3
want 'three'
same "$dir/out" "$dir/want" "array set/get"
expect 0 "an index in any text the type reads" "$S" get "$R" 03
same "$dir/out" "$dir/want" "03 is index 3"
expect 0 "set the last element" "$S" set "$R" 9 nine
expect 0 "set element 0" "$S" set "$R" 0 ''
expect 1 "get past the end" "$S" get "$R" 10
has "index 10 is outside '$R' (length 10): Invalid argument" "$dir/err" \
	"out of bounds message"
expect 1 "get a negative index" "$S" get "$R" -- -1
expect 1 "set past the end" "$S" set "$R" 10 x
expect 1 "rm past the end" "$S" rm "$R" 10
expect 1 "add to an array" "$S" add "$R" 1 x
has "an array holds one value per index" "$dir/err" "add on an array message"
expect 1 "incr on a string array" "$S" incr "$R" 1
expect 1 "an index that is no number" "$S" get "$R" x
expect 0 "keys of an array" "$S" keys "$R"
want '0\n3\n9\n'
same "$dir/out" "$dir/want" "keys: set indexes in numeric order"
expect 0 "rm an element" "$S" rm "$R" 3
expect 0 "get the unset element" "$S" get "$R" 3
want 'no ne'
same "$dir/out" "$dir/want" "rm unsets to the default"
expect 0 "rm an unset element" "$S" rm "$R" 3
"$S" set "$R" 3 three || fail "set 3 again"
expect 0 "shrink the array" "$S" resize "$R" 5
expect 0 "stat after the shrink" "$S" stat "$R"
has "^length: 5$" "$dir/out" "stat: length after the shrink"
expect 1 "get past the new end" "$S" get "$R" 9
expect 0 "keys after the shrink" "$S" keys "$R"
want '0\n3\n'
same "$dir/out" "$dir/want" "shrink drops the elements past the end"
expect 0 "grow the array" "$S" resize "$R" 12
expect 0 "get an element dropped by the shrink" "$S" get "$R" 9
want 'no ne'
same "$dir/out" "$dir/want" "a dropped element reads the default after growing"
expect 0 "get a new element" "$S" get "$R" 11
same "$dir/out" "$dir/want" "a grown element reads the default"
expect 0 "get a kept element" "$S" get "$R" 3
want 'three'
same "$dir/out" "$dir/want" "resize keeps the elements below the length"
expect 2 "resize to a negative length" "$S" resize "$R" -- -1
expect 2 "resize to a bad length" "$S" resize "$R" many
expect 1 "resize a hash table" "$S" resize "$H" 5
has "is not an array" "$dir/err" "resize a hash table message"

N=posix:/$P-n
expect 0 "create an int64 array with a default" "$S" create --array 4 \
	--value-type int64 --default -7 "$N"
expect 0 "get an unset int element" "$S" get "$N" 2
printf -- '-7\n' >"$dir/want"
same "$dir/out" "$dir/want" "int array default"
expect 0 "incr an unset element" "$S" incr "$N" 2
printf -- '-6\n' >"$dir/want"
same "$dir/out" "$dir/want" "incr counts from the default"
expect 1 "incr past the end" "$S" incr "$N" 4
expect 0 "stat the int array" "$S" stat "$N"
has "^default: -7$" "$dir/out" "stat: default without its newline"
expect 0 "create an array of bytes" "$S" create --array 2 "$N-b"
expect 0 "get from the bytes array" "$S" get "$N-b" 1
[ ! -s "$dir/out" ] && ok "bytes array default is empty" ||
	fail "bytes array default"
expect 0 "stat the bytes array" "$S" stat "$N-b"
has "^value type: bytes$" "$dir/out" "bytes array value type"

# dump and load of typed tables
Q2=posix:/$P-q2
expect 0 "create a typed table to dump" "$S" create --lock record \
	--key-type int64 --value-type 'pair(string,int64)' "$Q2"
"$S" set "$Q2" 10 "$(printf 'ten\t10')" &&
	"$S" set "$Q2" -- -2 "$(printf 'a b\\tc\t-2')" &&
	"$S" add "$Q2" 3 "$(printf '\t3')" &&
	"$S" add "$Q2" 3 "$(printf 'three\t9223372036854775807')" ||
	fail "fill $Q2"
expect 0 "dump a typed table" "$S" dump "$Q2"
cp "$dir/out" "$dir/tdump"
cat >"$dir/want" <<'END'
shmtab-dump 1
pagesize 256
lock record
key-type int64
value-type pair(string,int64)
data
k -2
v a\20b\\tc\09-2
k 3
v \093
v three\099223372036854775807
k 10
v ten\0910
end 3 4
END
same "$dir/tdump" "$dir/want" "typed dump: schema header, text, sorted by value"
Q3=posix:/$P-q3
expect 0 "load a typed dump" "$S" load "$Q3" <"$dir/tdump"
expect 0 "stat the loaded typed table" "$S" stat "$Q3"
has "^value type: pair(string,int64)$" "$dir/out" "load created the schema"
has "^locking: record$" "$dir/out" "load kept the locking method"
expect 0 "dump the loaded typed table" "$S" dump "$Q3"
same "$dir/out" "$dir/tdump" "typed load then dump is byte-identical"
expect 0 "get a loaded typed value" "$S" get "$Q3" 3
want 'three\t9223372036854775807\n'
same "$dir/out" "$dir/want" "typed load keeps the newest on top"
expect 0 "load -t into the typed table" "$S" load -t "$Q3" <"$dir/tdump"
expect 0 "dump after load -t" "$S" dump "$Q3"
same "$dir/out" "$dir/tdump" "typed load -t replaces the contents"

sed 's/^v ten\\0910$/v ten\\09x/' "$dir/tdump" >"$dir/tbad"
expect 1 "load a malformed typed value" "$S" load "$Q3" <"$dir/tbad"
has "line 13: 'ten\\\\tx' is not a valid pair(string,int64) value" \
	"$dir/err" "malformed typed value message"
expect 0 "dump after the refused load" "$S" dump "$Q3"
same "$dir/out" "$dir/tdump" "a refused typed load changes nothing"
expect 1 "load a malformed typed value into a new table" \
	"$S" load "$Q3-new" <"$dir/tbad"
[ ! -e "/dev/shm/$P-q3-new" ] && ok "refused typed load creates nothing" ||
	fail "refused typed load created a table"
sed 's/^k 3$/k 3x/' "$dir/tdump" >"$dir/tbad"
expect 1 "load a malformed typed key" "$S" load "$Q3" <"$dir/tbad"
has "line 9: '3x' is not a valid int64 key" "$dir/err" "malformed key message"
sed 's/^key-type int64$/key-type int65/' "$dir/tdump" >"$dir/tbad"
expect 1 "load a bad key-type" "$S" load "$Q3-new" <"$dir/tbad"
has "line 4: bad key-type 'int65'" "$dir/err" "bad key-type message"
sed 's/^value-type .*/value-type string/' "$dir/tdump" >"$dir/tbad"
expect 1 "load into a table of other types" "$S" load "$Q3" <"$dir/tbad"
has "the table is int64 -> pair(string,int64), the dump int64 -> string" \
	"$dir/err" "schema mismatch message"
expect 1 "load -t into a table of other types" "$S" load -t "$Q3" <"$dir/tbad"
expect 0 "dump after the refused loads" "$S" dump "$Q3"
same "$dir/out" "$dir/tdump" "refused schema loads change nothing"
expect 1 "load an untyped dump into a typed table" "$S" load "$Q3" \
	<"$dir/dump1"
has "the dump untyped" "$dir/err" "untyped into typed message"
expect 1 "load a typed dump into an untyped table" "$S" load "$T-u" \
	<"$dir/tdump"

expect 0 "dump an array" "$S" dump "$R"
cp "$dir/out" "$dir/adump"
cat >"$dir/want" <<END
shmtab-dump 1
pagesize 256
lock $(sed -n 's/^lock //p' "$dir/adump")
array 12
value-type string
default no\\20ne
data
k 0
v
k 3
v three
end 2 2
END
same "$dir/adump" "$dir/want" "array dump: length, default, indexes"
R2=posix:/$P-r2
expect 0 "load an array dump" "$S" load "$R2" <"$dir/adump"
expect 0 "dump the loaded array" "$S" dump "$R2"
same "$dir/out" "$dir/adump" "array load then dump is byte-identical"
expect 0 "stat the loaded array" "$S" stat "$R2"
has "^length: 12$" "$dir/out" "load gives the array its length"
has "^default: no ne$" "$dir/out" "load gives the array its default"
expect 0 "shrink the loaded array" "$S" resize "$R2" 2
expect 0 "load into a shorter array" "$S" load "$R2" <"$dir/adump"
expect 0 "dump after growing by load" "$S" dump "$R2"
same "$dir/out" "$dir/adump" "load grows a shorter array"
expect 0 "grow the loaded array" "$S" resize "$R2" 20
expect 0 "load -t into the longer array" "$S" load -t "$R2" <"$dir/adump"
expect 0 "dump after load -t" "$S" dump "$R2"
same "$dir/out" "$dir/adump" "load -t gives the array the dump's length"
sed 's/^array 12$/array 3/' "$dir/adump" >"$dir/abad"
expect 1 "load an index past the length" "$S" load "$R2-new" <"$dir/abad"
has "index 3 is outside the array (length 3)" "$dir/err" \
	"index past the length message"
sed 's/^default no\\20ne$/default other/' "$dir/adump" >"$dir/abad"
expect 1 "load an array of another default" "$S" load "$R2" <"$dir/abad"
has "with another default" "$dir/err" "other default message"
printf 'v again\n' >"$dir/extra"
sed '/^v three$/r '"$dir/extra" "$dir/adump" | sed 's/^end 2 2$/end 2 3/' \
	>"$dir/abad"
expect 1 "load two values of one element" "$S" load "$R2" <"$dir/abad"
has "an array element has one value" "$dir/err" "one value message"

# repair keeps the types
"$S" load "$dir/tq" <"$dir/tdump" || fail "load $dir/tq"
expect 0 "repair a typed table" "$S" repair "$dir/tq"
expect 0 "dump the repaired typed table" "$S" dump "$dir/tq"
same "$dir/out" "$dir/tdump" "repair keeps the types and bindings"
"$S" load "$dir/ta" <"$dir/adump" || fail "load $dir/ta"
expect 0 "repair an array" "$S" repair "$dir/ta"
expect 0 "dump the repaired array" "$S" dump "$dir/ta"
same "$dir/out" "$dir/adump" "repair keeps the length, default and elements"

echo "1..$n"
exit $failed
