#!/bin/bash
# SPDX-License-Identifier: MIT
#
# t-mount.sh - shmtabfs on a real mount, driven by coreutils.
#
# Mounts a directory of table files (and, briefly, posix:PREFIX and a
# read-only mount) with the built shmtabfs ($SHMTABFS) in the foreground,
# then checks mkdir, ls, cat, echo >, echo >>, truncate, touch, rm, mv,
# rmdir ENOTEMPTY, rm -r, cp of 5 MB both ways, chmod/chown, escaped names,
# EROFS, EACCES and ENOSPC; typed tables made with mkdir and setfattr
# (counters, arrays) and contrib/counter-demo.sh.  Exits 77 when FUSE is
# not usable here.  Each mount is unmounted and each daemon stopped by its
# own pid on exit.

set -u
export LC_ALL=C

skip() { echo "SKIP: $*"; exit 77; }

SHMTABFS=${SHMTABFS:-src/shmtabfs}
[ -c /dev/fuse ] || skip "no /dev/fuse"
command -v fusermount3 >/dev/null || skip "no fusermount3"
[ -x "$SHMTABFS" ] || skip "no shmtabfs binary at '$SHMTABFS'"

base=${SHMTAB_TEST_TMPDIR:-${TMPDIR:-/tmp}}
mkdir -p "$base" || exit 99
tmp=$(mktemp -d "$base/t-mount.XXXXXX") || exit 99
chmod 755 "$tmp"	# other users must reach the mount point
prefix="shmtabfs-t-$$-$(date +%s%N | tail -c 7)-"
pids=()
mounts=()
failures=0
T=20	# seconds allowed for any one command

cleanup()
{
	local m p i

	for m in "${mounts[@]}"; do
		if mountpoint -q "$m"; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m"
		fi
	done
	for p in "${pids[@]}"; do
		for i in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.2
		done
		kill "$p" 2>/dev/null
	done
	for m in "${mounts[@]}"; do
		mountpoint -q "$m" && umount -l "$m" 2>/dev/null
	done
	if mountpoint -q "$tmp/small" 2>/dev/null; then
		umount "$tmp/small"
	fi
	rm -f /dev/shm/"$prefix"*
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# mount SOURCE MOUNTPOINT [options...]: start the daemon, wait for the mount
do_mount()
{
	local src=$1 mnt=$2 i
	shift 2

	mkdir -p "$mnt"
	# $daemon_wrap: a command the daemon runs under (setpriv), or empty
	${daemon_wrap:-} "$SHMTABFS" -f "$@" "$src" "$mnt" 2>>"$tmp/daemon.log" &
	pids+=($!)
	mounts+=("$mnt")
	for i in $(seq 100); do
		mountpoint -q "$mnt" && return 0
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "FATAL: mount of $src on $mnt failed"
	cat "$tmp/daemon.log"
	exit 99
}

# do_umount MOUNTPOINT: unmount, then wait for its daemon to exit
do_umount()
{
	local mnt=$1 i j

	timeout $T fusermount3 -u "$mnt" || fail "unmount $mnt"
	for i in "${!mounts[@]}"; do
		[ "${mounts[$i]}" == "$mnt" ] || continue
		for j in $(seq 100); do
			kill -0 "${pids[$i]}" 2>/dev/null || break
			sleep 0.1
		done
	done
}

ok() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }

# expect NAME EXPECTED COMMAND...: COMMAND's stdout must equal EXPECTED
expect()
{
	local name=$1 want=$2 got
	shift 2

	got=$(timeout $T "$@" 2>&1)
	if [ "$got" == "$want" ]; then
		ok "$name"
	else
		fail "$name: expected [$want], got [$got]"
	fi
}

# expect_err NAME MESSAGE COMMAND...: COMMAND must fail with MESSAGE on stderr
expect_err()
{
	local name=$1 want=$2 out
	shift 2

	if out=$(timeout $T "$@" 2>&1); then
		fail "$name: succeeded, expected '$want'"
	elif [[ "$out" == *"$want"* ]]; then
		ok "$name"
	else
		fail "$name: expected '$want', got [$out]"
	fi
}

src=$tmp/src
mnt=$tmp/mnt
mkdir -p "$src"
do_mount "$src" "$mnt" -o allow_other
t=$mnt/tab

# --- tables ---------------------------------------------------------------
expect "mkdir creates a table" "" mkdir "$t"
expect "the table file exists" "yes" \
	bash -c "[ -s '$src/tab' ] && echo yes"
expect "ls of the root" "tab" ls "$mnt"
expect "a non-table file in SOURCE is not shown" "tab" \
	bash -c "echo junk > '$src/junk'; ls '$mnt'"
expect_err "mkdir of an existing table" "File exists" mkdir "$t"
expect_err "mkdir inside a table" "Operation not permitted" mkdir "$t/d"
expect_err "mkfifo inside a table" "Operation not permitted" mkfifo "$t/p"
expect_err "ln -s inside a table" "Operation not permitted" ln -s k "$t/l"

# --- keys -----------------------------------------------------------------
expect "echo > then cat" "v1" bash -c "echo v1 > '$t/k' && cat '$t/k'"
expect "stat size is the value length" "3" stat -c %s "$t/k"
expect "echo >> appends" "v1
v2" bash -c "echo v2 >> '$t/k' && cat '$t/k'"
expect "echo > replaces" "new" bash -c "echo new > '$t/k' && cat '$t/k'"
expect "truncate shortens" "ne" bash -c "truncate -s 2 '$t/k' && cat '$t/k'"
expect "truncate extends with zeros" "6 6e6500000000" \
	bash -c "truncate -s 6 '$t/k' && printf '%s ' \$(stat -c %s '$t/k') && od -An -tx1 '$t/k' | tr -d ' \n'"
expect "touch creates an empty key" "0" \
	bash -c "touch '$t/empty' && stat -c %s '$t/empty'"
expect "ls lists the keys" "empty
k" ls "$t"
expect "ls -l shows regular files" "-rw-r--r--" \
	bash -c "ls -l '$t' | awk 'NR==2 {print \$1}'"
expect "mv renames within the table" "gone ne" \
	bash -c "echo ne > '$t/k' && mv '$t/k' '$t/k2' && { [ -e '$t/k' ] || printf 'gone '; } && cat '$t/k2'"
expect "mv -n keeps an existing target" "ne" \
	bash -c "mv -n '$t/empty' '$t/k2'; cat '$t/k2'"
expect "mv over an existing key replaces it" "x" \
	bash -c "echo x > '$t/m' && mv '$t/m' '$t/k2' && cat '$t/k2'"
expect "rm removes a key" "k2" bash -c "rm '$t/empty' && ls '$t'"
expect_err "cat of a removed key" "No such file or directory" cat "$t/empty"
expect_err "rmdir of a table with keys" "Directory not empty" rmdir "$t"

# --- names ------------------------------------------------------------------
expect "escaped name a%2Fb" "slash" \
	bash -c "echo slash > '$t/a%2Fb' && cat '$t/a%2Fb'"
expect "escaped name listed" "a%2Fb
k2" ls "$t"
expect "escaped %25" "pct" bash -c "echo pct > '$t/100%25' && cat '$t/100%25'"
expect_err "non-canonical name refused" "Invalid argument" \
	bash -c "echo x > '$t/%41'"
expect_err "lone %2 refused" "Invalid argument" bash -c "echo x > '$t/a%2'"
# keys whose escape is longer than 255 bytes: PREFIX%%DIGEST (shmtabfs(1))
lk=k$(printf '%0299d' 0 | tr 0 /)
lp=k$(printf '%073d' 0 | sed 's/0/%2F/g')
ln=$lp%%$(printf '%s' "$lk" | sha256sum | cut -c1-32)
if [ -x "${SHMTAB:-}" ]; then
	esc=$(printf '%s' "$lk" | sed 's|/|%2F|g')
	"$SHMTAB" set "file:$src/tab" "$esc" long1 &&
		"$SHMTAB" set "file:$src/tab" "${esc}x" long2 ||
		fail "shmtab set of two long keys"
	expect "a long key is listed under its long name" "yes" \
		bash -c "ls '$t' | grep -qxF -- '$ln' && echo yes"
	expect "both long keys are listed, 254 bytes each" "254 254" \
		bash -c "echo \$(ls '$t' | grep -F '%%' | awk '{print length(\$0)}')"
	expect "cat by the long name" "long1" cat "$t/$ln"
	# shmtabfs remembers the keys of long names (fs-longs.c), never past
	# a change made behind the mount
	ln3=$lp%%$(printf '%sy' "$lk" | sha256sum | cut -c1-32)
	expect_err "a long name of no key yet" "No such file or directory" \
		cat "$t/$ln3"
	"$SHMTAB" set "file:$src/tab" "${esc}y" long3 ||
		fail "shmtab set of a third long key"
	expect "a long key added after a miss is found by name" \
		"long3" cat "$t/$ln3"
	"$SHMTAB" rm "file:$src/tab" "${esc}y" || fail "shmtab rm of a long key"
	expect_err "a long key removed behind the mount is gone by name" \
		"No such file or directory" cat "$t/$ln3"
	expect_err "and its name cannot make it again" "File name too long" \
		bash -c "echo x > '$t/$ln3'"
	"$SHMTAB" set "file:$src/tab" "${esc}y" long3b ||
		fail "shmtab set of the third long key again"
	expect "set again behind the mount, it is back by name" "long3b" \
		cat "$t/$ln3"
	"$SHMTAB" rm "file:$src/tab" "${esc}y" || fail "shmtab rm of a long key"
	if command -v getfattr >/dev/null; then
		expect "user.shmtab.key holds the whole key" "$lk" \
			getfattr --absolute-names -n user.shmtab.key \
			--only-values "$t/$ln"
	fi
	expect "echo > by the long name replaces the key" "new long" \
		bash -c "echo new long > '$t/$ln' && '$SHMTAB' get 'file:$src/tab' '$esc'"
	expect "stat by the long name" "9" stat -c %s "$t/$ln"
	expect "rm by the long name removes the key" "gone long2" \
		bash -c "rm '$t/$ln' && { '$SHMTAB' get 'file:$src/tab' '$esc' 2>/dev/null || printf 'gone '; } && cat \$(ls -d '$t'/*%%*)"
	rm -f "$t"/*%%*
fi
expect_err "a long name no key has cannot create one" "File name too long" \
	bash -c "echo x > '$t/$lp%%0123456789abcdef0123456789abcdef'"
expect_err "a name over 255 bytes cannot create a key" "File name too long" \
	bash -c "echo x > '$t/k$(printf '%0299d' 0)'"
expect_err "nor be looked up" "File name too long" \
	stat "$t/k$(printf '%0299d' 0)"

# --- big values -------------------------------------------------------------
head -c 5000000 /dev/urandom >"$tmp/big.in"
expect "cp of 5 MB in" "" cp "$tmp/big.in" "$t/big"
expect "size of the 5 MB key" "5000000" stat -c %s "$t/big"
expect "cp of 5 MB out" "" cp "$t/big" "$tmp/big.out"
expect "5 MB byte-identical" "" cmp "$tmp/big.in" "$tmp/big.out"

# --- permissions --------------------------------------------------------------
expect "chmod of the table changes the object" "640 drwxr-x---" \
	bash -c "chmod 640 '$t' && echo \$(stat -c %a '$src/tab') \$(stat -c %A '$t')"
expect "keys follow the table's mode" "-rw-r-----" stat -c %A "$t/k2"
if [ "$(id -u)" = 0 ]; then
	expect "chown of the table changes the object" "1:2" \
		bash -c "chown 1:2 '$t' && stat -c %u:%g '$src/tab'"
	expect "chown back" "0:0" \
		bash -c "chown 0:0 '$t' && stat -c %u:%g '$src/tab'"
	if command -v setpriv >/dev/null; then
		chmod 600 "$t"
		expect_err "a 0600 table is closed to others (allow_other)" \
			"Permission denied" \
			setpriv --reuid=65534 --regid=65534 --clear-groups \
			cat "$t/k2"
		chmod 644 "$t"
		expect "a 0644 table is readable by others" "x" \
			setpriv --reuid=65534 --regid=65534 --clear-groups \
			cat "$t/k2"
		expect_err "and not writable by them" "Permission denied" \
			setpriv --reuid=65534 --regid=65534 --clear-groups \
			bash -c "echo y > '$t/k2'"
	fi
fi
expect_err "chmod of a key that takes bits away" "Operation not permitted" \
	chmod 600 "$t/k2"
expect "chmod of a key that adds bits succeeds, changes nothing" "same" \
	bash -c "a=\$(stat -c %A '$t/k2'); chmod a+rw '$t/k2' && [ \"\$(stat -c %A '$t/k2')\" = \"\$a\" ] && echo same"
if [ "$(id -u)" = 0 ]; then
	expect "chown of a key succeeds, changes nothing" "same" \
		bash -c "a=\$(stat -c %u:%g '$t/k2'); chown 1:2 '$t/k2' && [ \"\$(stat -c %u:%g '$t/k2')\" = \"\$a\" ] && echo same"
fi
# cp -a makes the table 0700, copies each key and gives it its mode, and
# the table's last; mv of a table is such a copy
mkdir "$tmp/cpa"
printf 1 >"$tmp/cpa/a"
printf 22 >"$tmp/cpa/b"
chmod 644 "$tmp/cpa/a" "$tmp/cpa/b"
chmod 755 "$tmp/cpa"
expect "cp -a of a directory makes a table, quietly" "755 1 22" \
	bash -c "cp -a '$tmp/cpa' '$mnt/cpa' && echo \$(stat -c %a '$mnt/cpa') \$(cat '$mnt/cpa/a') \$(cat '$mnt/cpa/b')"
expect "mv of a table copies it, quietly" "1 22" \
	bash -c "mv '$mnt/cpa' '$mnt/cpb' && echo \$(cat '$mnt/cpb/a') \$(cat '$mnt/cpb/b')"
expect "and the old one is gone" "gone" \
	bash -c "[ -e '$mnt/cpa' ] || echo gone"
rm -r "$mnt/cpb" "$tmp/cpa"

# --- rm -r, a second table ------------------------------------------------------
expect "mkdir of a second table" "" mkdir "$mnt/other"
expect "mv across tables copies (EXDEV) and removes" "x gone" \
	bash -c "mv '$t/k2' '$mnt/other/k2' && printf '%s ' \$(cat '$mnt/other/k2') && { [ -e '$t/k2' ] || echo gone; }"
expect "rm -r removes keys and table" "other" \
	bash -c "rm -r '$t' && ls '$mnt'"
expect "the table file is gone" "gone" \
	bash -c "[ -e '$src/tab' ] || echo gone"

# --- read-only mount --------------------------------------------------------------
do_mount "$src" "$tmp/ro" -o ro
expect "read-only mount reads" "x" cat "$tmp/ro/other/k2"
expect_err "read-only mount refuses writes" "Read-only file system" \
	bash -c "echo y > '$tmp/ro/other/k2'"
expect_err "read-only mount refuses mkdir" "Read-only file system" \
	mkdir "$tmp/ro/new"
do_umount "$tmp/ro"
expect "rmdir of an emptied table" "" \
	bash -c "rm '$mnt/other/k2' && rmdir '$mnt/other'"
do_umount "$mnt"

# --- posix:PREFIX ---------------------------------------------------------------------
do_mount "posix:$prefix" "$tmp/px"
expect "posix: mkdir creates /PREFIXNAME" "yes" \
	bash -c "mkdir '$tmp/px/p' && [ -s '/dev/shm/${prefix}p' ] && echo yes"
expect "posix: write and read" "pv" \
	bash -c "echo pv > '$tmp/px/p/k' && cat '$tmp/px/p/k'"
expect "posix: only the prefix's tables" "p" ls "$tmp/px"
expect "posix: rm -r" "gone" \
	bash -c "rm -r '$tmp/px/p' && { [ -e '/dev/shm/${prefix}p' ] || echo gone; }"
do_umount "$tmp/px"

# --- the cached mode: own writes read back at once, through the page cache -----------
mkdir -p "$tmp/csrc"
do_mount "$tmp/csrc" "$tmp/cm" -o cache=60
ct=$tmp/cm/c
mkdir "$ct" || fail "cached: mkdir"
bad=0
for i in $(seq 200); do
	v="value $i $(printf '%*s' $((i % 7 * 50)) '')."
	# cat twice first: the old value is in the kernel's page cache
	cat "$ct/k" >/dev/null 2>&1
	cat "$ct/k" >/dev/null 2>&1
	echo "$v" >"$ct/k"
	[ "$(cat "$ct/k")" == "$v" ] || bad=$((bad + 1))
	[ "$(cat "$ct/k")" == "$v" ] || bad=$((bad + 1))
done
if [ $bad -eq 0 ]; then
	ok "cached: echo v > k; cat k shows v at once, 200 times"
else
	fail "cached: $bad of 400 cats after echo > showed another value"
fi
expect "cached: echo >> then cat" "a
b" bash -c "echo a > '$ct/a' && cat '$ct/a' >/dev/null && echo b >> '$ct/a' && cat '$ct/a'"
expect "cached: truncate then cat" "a" \
	bash -c "cat '$ct/a' >/dev/null && truncate -s 2 '$ct/a' && cat '$ct/a'"
if [ -x "${SHMTAB:-}" ]; then
	bad=0
	for i in $(seq 100); do
		cat "$ct/k" >/dev/null
		"$SHMTAB" set "file:$tmp/csrc/c" k "lib $i" || bad=$((bad + 1))
		[ "$(cat "$ct/k")" == "lib $i" ] || bad=$((bad + 1))
	done
	if [ $bad -eq 0 ]; then
		ok "cached: shmtab set; cat shows the new value at once, 100 times"
	else
		fail "cached: $bad of 100 cats after shmtab set were stale"
	fi
fi
do_umount "$tmp/cm"

# --- tables changed behind the mount while the kernel keeps their names -------------
# (a table directory's name is kept for a second: shmtabfs(1), Coherence)
if [ -x "${SHMTAB:-}" ]; then
	mkdir -p "$tmp/rsrc"
	do_mount "$tmp/rsrc" "$tmp/rm" -o allow_other
	r=$tmp/rm/r
	rt=file:$tmp/rsrc/r
	mkdir "$r" && echo old >"$r/k"
	# each command first uses the table through the mount (the kernel
	# keeps its name), then changes it with shmtab(1)
	expect "a table recreated behind the mount shows its keys at once" \
		"k2 new" \
		bash -c "cat '$r/k' >/dev/null && '$SHMTAB' unlink '$rt' && '$SHMTAB' create '$rt' && '$SHMTAB' set '$rt' k2 new && echo \$(ls '$r') \$(cat '$r/k2')"
	expect "... a key of the old table is gone at once" "ENOENT new" \
		bash -c "cat '$r/k2' >/dev/null && '$SHMTAB' unlink '$rt' && '$SHMTAB' create '$rt' && '$SHMTAB' set '$rt' k4 new && { [ -e '$r/k2' ] && echo stale || printf 'ENOENT '; } && cat '$r/k4'"
	expect "... also seen from a shell inside it" "k3" \
		bash -c "cd '$r' && (cd / && '$SHMTAB' unlink '$rt' && '$SHMTAB' create '$rt' && '$SHMTAB' set '$rt' k3 v) && ls"
	expect_err "a table removed behind the mount is gone at once" \
		"No such file or directory" \
		bash -c "cat '$r/k3' >/dev/null && '$SHMTAB' unlink '$rt' && stat '$r'"
	expect "... its keys too, and mkdir makes it again" "ENOENT new" \
		bash -c "'$SHMTAB' create '$rt' && '$SHMTAB' set '$rt' k v && cat '$r/k' >/dev/null && '$SHMTAB' unlink '$rt' && { cat '$r/k' 2>/dev/null || printf 'ENOENT '; } && mkdir '$r' && echo new > '$r/k' && cat '$r/k'"
	expect "a table created behind the mount is found at once" "nv" \
		bash -c "stat '$tmp/rm/n' 2>/dev/null; '$SHMTAB' create 'file:$tmp/rsrc/n' && '$SHMTAB' set 'file:$tmp/rsrc/n' k nv && cat '$tmp/rm/n/k'"
	if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
		nobody() {
			setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
		}
		chmod 644 "$tmp/rsrc/r"
		expect_err "a chmod behind the mount is enforced at once" \
			"Permission denied" \
			bash -c "$(declare -f nobody); nobody cat '$r/k' >/dev/null && chmod 600 '$tmp/rsrc/r' && nobody cat '$r/k'"
		expect "... both ways" "new" \
			bash -c "$(declare -f nobody); nobody cat '$r/k' 2>/dev/null; chmod 644 '$tmp/rsrc/r' && nobody cat '$r/k'"
	fi
	do_umount "$tmp/rm"
fi

# --- a damaged table: EIO and a log line for it, the others still served ---------------
mkdir -p "$tmp/dsrc"
do_mount "$tmp/dsrc" "$tmp/dm"
mkdir "$tmp/dm/bad" "$tmp/dm/good"
echo v >"$tmp/dm/bad/k"
echo w >"$tmp/dm/good/k"
size=$(stat -c %s "$tmp/dsrc/bad")
# everything after the first 512 bytes (the header) becomes 0xff
head -c $((size - 512)) /dev/zero | tr '\0' '\377' |
	dd of="$tmp/dsrc/bad" bs=256 seek=2 conv=notrunc status=none
expect_err "a damaged table gives EIO" "Input/output error" cat "$tmp/dm/bad/k"
expect "the other table is still served" "w" cat "$tmp/dm/good/k"
expect "the log names the damaged table" "1" \
	bash -c "grep -c \"table 'bad' .* is damaged\" '$tmp/daemon.log'"
do_umount "$tmp/dm"
# a table whose header is damaged before the daemon first opens it: listed,
# EIO, one log line; a file that is no table stays hidden
if [ -x "${SHMTAB:-}" ]; then
	"$SHMTAB" create "file:$tmp/dsrc/hdr" >/dev/null &&
		"$SHMTAB" set "file:$tmp/dsrc/hdr" k v || fail "shmtab create hdr"
	# keep the magic (8 bytes), spoil the rest of the header
	head -c 120 /dev/zero | tr '\0' '\377' |
		dd of="$tmp/dsrc/hdr" bs=1 seek=8 conv=notrunc status=none
	echo junk >"$tmp/dsrc/junk"
	do_mount "$tmp/dsrc" "$tmp/dm"
	expect "a table that does not open is listed" "bad good hdr" \
		bash -c "echo \$(ls '$tmp/dm')"
	expect_err "... and its lookup gives EIO" "Input/output error" \
		stat "$tmp/dm/hdr"
	expect_err "... and so do its keys" "Input/output error" \
		cat "$tmp/dm/hdr/k"
	expect "... ls -l still lists every table" "bad good hdr" \
		bash -c "echo \$(ls -l '$tmp/dm' 2>/dev/null | awk 'NR > 1 {print \$NF}')"
	expect "the other tables are served" "w" cat "$tmp/dm/good/k"
	expect "one log line for it" "1" \
		bash -c "grep -c \"table 'hdr' .* is damaged\" '$tmp/daemon.log'"
	do_umount "$tmp/dm"
	# a table the daemon may not read (root without DAC override)
	if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
		"$SHMTAB" create "file:$tmp/dsrc/locked" >/dev/null
		chmod 000 "$tmp/dsrc/locked"
		daemon_wrap="setpriv --bounding-set -dac_override,-dac_read_search" \
			do_mount "$tmp/dsrc" "$tmp/dm"
		expect "an unreadable table is listed" "bad good hdr locked" \
			bash -c "echo \$(ls '$tmp/dm')"
		expect_err "... and gives EIO" "Input/output error" \
			ls "$tmp/dm/locked"
		expect "... with a log line" "1" \
			bash -c "grep -c \"table 'locked' .* cannot be opened: Permission denied\" '$tmp/daemon.log'"
		expect "the others are served" "w" cat "$tmp/dm/good/k"
		do_umount "$tmp/dm"
	fi
fi

# --- more tables than the soft limit of open files allows ------------------------------------
# each open table holds two descriptors: the daemon raises its soft limit
# to the hard one
mkdir -p "$tmp/nsrc"
for i in $(seq 40); do
	"$SHMTAB" create "file:$tmp/nsrc/t$i" >/dev/null &&
		"$SHMTAB" set "file:$tmp/nsrc/t$i" k "v$i" >/dev/null
done
daemon_wrap="prlimit --nofile=64:" do_mount "$tmp/nsrc" "$tmp/nm"
expect "40 tables served by a daemon started with 64 descriptors" "40" \
	bash -c "for i in \$(seq 40); do cat '$tmp/nm/t'\$i/k; echo; done | grep -c '^v[0-9]*\$'"
do_umount "$tmp/nm"

# --- unmount while readers and writers are busy --------------------------------------------
mkdir -p "$tmp/bsrc"
do_mount "$tmp/bsrc" "$tmp/bm"
mkdir "$tmp/bm/busy"
busy_pids=()
for w in 1 2; do
	( for i in $(seq 100000); do
		echo "writer $w value $i" >"$tmp/bm/busy/k$w" 2>/dev/null || exit 0
		cat "$tmp/bm/busy/k$w" >/dev/null 2>&1 || exit 0
	done ) &
	busy_pids+=($!)
done
sleep 1
for i in $(seq 50); do
	fusermount3 -u "$tmp/bm" 2>/dev/null && break
	sleep 0.1
done
mountpoint -q "$tmp/bm" && fusermount3 -uz "$tmp/bm"
for p in "${busy_pids[@]}"; do
	timeout $T tail --pid="$p" -f /dev/null || kill "$p"
done
expect "unmounted while busy" "no" \
	bash -c "mountpoint -q '$tmp/bm' && echo yes || echo no"
if [ -x "${SHMTAB:-}" ]; then
	expect "the table is intact after the unmount" \
		"file:$tmp/bsrc/busy: ok" "$SHMTAB" check "file:$tmp/bsrc/busy"
fi

# --- ENOSPC on a small tmpfs (root only) ------------------------------------------------
mkdir -p "$tmp/small"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1m none "$tmp/small" 2>/dev/null; then
	do_mount "$tmp/small" "$tmp/sm"
	mkdir "$tmp/sm/s"
	expect_err "a value larger than the file system" \
		"No space left on device" cp "$tmp/big.in" "$tmp/sm/s/big"
	expect "the table still works" "ok" \
		bash -c "echo ok > '$tmp/sm/s/k' && cat '$tmp/sm/s/k'"
	do_umount "$tmp/sm"
	umount "$tmp/small"
else
	echo "skip - ENOSPC test needs root and tmpfs"
fi

# --- an aborted connection (/sys/fs/fuse/connections/N/abort) ----------------
# The kernel ends the session: the daemon must exit 0.
ctl=/sys/fs/fuse/connections
ctl_mounted=
if [ "$(id -u)" = 0 ] && [ -d $ctl ] && ! mountpoint -q $ctl &&
	mount -t fusectl fusectl $ctl 2>/dev/null; then
	ctl_mounted=1
fi
if mountpoint -q $ctl 2>/dev/null; then
	mkdir -p "$tmp/asrc"
	do_mount "$tmp/asrc" "$tmp/am"
	apid=${pids[-1]}
	ls "$tmp/am" >/dev/null	# one request served before the abort
	# the connection's name is the kernel's dev_t: major << 20 | minor
	IFS=: read -r maj min < <(mountpoint -d "$tmp/am")
	st=
	if ! echo 1 2>/dev/null > "$ctl/$(( (maj << 20) | min ))/abort"; then
		echo "skip - cannot write to $ctl (a read-only /sys?)"
		do_umount "$tmp/am"
		st=skip
	fi
	for i in $(seq 100); do
		[ "$st" = skip ] && break
		if ! kill -0 "$apid" 2>/dev/null; then
			wait "$apid"
			st=$?
			break
		fi
		sleep 0.1
	done
	if [ "$st" = 0 ]; then
		ok "an aborted connection ends the daemon with 0"
	elif [ "$st" != skip ]; then
		fail "after an abort the daemon ${st:+exited with $st}${st:-still runs}"
	fi
	if [ "$st" != skip ]; then
		# as with every libfuse daemon, the dead mount stays until
		# it is unmounted
		expect_err "the aborted mount is not connected" \
			"Transport endpoint is not connected" ls "$tmp/am"
		timeout $T fusermount3 -u "$tmp/am" ||
			fail "unmount of the aborted mount"
	fi
else
	echo "skip - the abort test needs root and the fusectl file system"
fi
[ -n "$ctl_mounted" ] && umount $ctl

# --- typed tables (shmtabfs(1), TYPED TABLES) ------------------------------------------
mkdir -p "$tmp/tsrc"
do_mount "$tmp/tsrc" "$tmp/tm"
ty=$tmp/tm
if command -v setfattr >/dev/null && command -v getfattr >/dev/null; then
	expect "mkdir + setfattr make an int64 table" "int64" \
		bash -c "mkdir '$ty/c' && setfattr -n user.shmtab.value_type -v int64 '$ty/c' && getfattr --absolute-names -n user.shmtab.value_type --only-values '$ty/c'"
	expect "echo >> adds" "3" \
		bash -c "echo 1 >> '$ty/c/hits' && echo 2 >> '$ty/c/hits' && cat '$ty/c/hits'"
	expect "the size is the text's length" "2" stat -c %s "$ty/c/hits"
	expect "echo > sets" "-40" \
		bash -c "echo -40 > '$ty/c/hits' && cat '$ty/c/hits'"
	expect_err "a value that does not parse" "Invalid argument" \
		bash -c "echo forty > '$ty/c/hits'"
	expect_err "a delta that does not parse" "Invalid argument" \
		bash -c "echo one >> '$ty/c/hits'"
	expect "the old value is kept" "-40" cat "$ty/c/hits"
	expect "a failed write leaves no new key" "hits" \
		bash -c "{ echo x > '$ty/c/new'; } 2>/dev/null; ls '$ty/c'"
	expect_err "retyping a table with keys" "Directory not empty" \
		setfattr -n user.shmtab.value_type -v string "$ty/c"
	expect "an array of 12 lists 0..11 in order" \
		"0 1 2 3 4 5 6 7 8 9 10 11" \
		bash -c "mkdir '$ty/a' && setfattr -n user.shmtab.value_type -v int32 '$ty/a' && setfattr -n user.shmtab.array -v 12 '$ty/a' && echo \$(ls -U '$ty/a')"
	expect "an unset element reads as the default" "7" \
		bash -c "setfattr -n user.shmtab.default -v 7 '$ty/a' && cat '$ty/a/11'"
	expect "set, then rm unsets" "3 7" \
		bash -c "echo 3 > '$ty/a/4' && echo \$(cat '$ty/a/4') \$(rm '$ty/a/4' && cat '$ty/a/4')"
	expect_err "an index past the end" "No such file" cat "$ty/a/12"
	expect "shrink with setfattr" "0 1 2" \
		bash -c "setfattr -n user.shmtab.array -v 3 '$ty/a' && echo \$(ls -U '$ty/a')"
	expect "the length" "3" \
		getfattr --absolute-names -n user.shmtab.array --only-values "$ty/a"
	# mv(1) answers EXDEV with rm and open(O_EXCL), which an element
	# never allows: shmtabfs moves the value into the array itself
	expect "mv of a key onto an element of another table's array" \
		"5 gone" \
		bash -c "echo 5 > '$ty/c/m' && mv '$ty/c/m' '$ty/a/1' && echo \$(cat '$ty/a/1') \$([ -e '$ty/c/m' ] || echo gone)"
	expect "mv of an element onto an element of another array" \
		"5 7" \
		bash -c "mkdir '$ty/b' && setfattr -n user.shmtab.array -v 2 '$ty/b' && mv '$ty/a/1' '$ty/b/0' && echo \$(cat '$ty/b/0') \$(cat '$ty/a/1')"
	# EINVAL, which mv(1) words as "a subdirectory of itself"
	expect "mv of a text the array's type does not parse" "refused" \
		bash -c "echo five > '$ty/b/1' && { mv '$ty/b/1' '$ty/a/2' 2>/dev/null || echo refused; }"
	expect "the source is kept" "five 7" \
		bash -c "echo \$(cat '$ty/b/1') \$(cat '$ty/a/2')"
	expect "mv -n keeps the element" "7 five" \
		bash -c "mv -n '$ty/b/1' '$ty/a/2'; echo \$(cat '$ty/a/2') \$(cat '$ty/b/1')"
	expect "mv of an element out of an array copies and unsets" "9 7" \
		bash -c "echo 9 > '$ty/a/0' && mv '$ty/a/0' '$ty/c/n' && echo \$(cat '$ty/c/n') \$(cat '$ty/a/0')"
	expect "mv within an array moves and unsets" "9 7" \
		bash -c "echo 9 > '$ty/a/0' && mv '$ty/a/0' '$ty/a/2' && echo \$(cat '$ty/a/2') \$(cat '$ty/a/0')"
else
	echo "skip - typed tables through setfattr need the attr tools"
fi
# contrib/'s counter: C, shell and Python writers at once, no lost increment
if [ -x "${top_builddir:-.}/contrib/shmtab-counter" ]; then
	if TMPDIR=$tmp timeout 120 sh "${srcdir:-.}/contrib/counter-demo.sh" \
		"${top_builddir:-.}" 200 >"$tmp/counter.log" 2>&1; then
		ok "contrib/counter-demo.sh: $(tail -n 1 "$tmp/counter.log")"
	else
		fail "contrib/counter-demo.sh"
		cat "$tmp/counter.log"
	fi
fi
do_umount "$tmp/tm"

if grep -v "is damaged\|damaged table\|cannot be opened" "$tmp/daemon.log" |
	grep -q .; then
	echo "daemon log:"
	cat "$tmp/daemon.log"
fi
if [ $failures -ne 0 ]; then
	echo "$failures failure(s)"
	exit 1
fi
exit 0
