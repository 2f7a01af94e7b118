#!/usr/bin/env python3
"""read-table.py - read a table mounted by shmtabfs with nothing but files.

    contrib/read-table.py MOUNTPOINT/TABLE

Each key is a file whose content is the key's newest value.  File names
are keys escaped as in shmtab(1) ('%XX' for '/', '%', control bytes; '%'
alone for the empty key; '%2E' and '%2E%2E' for '.' and '..'), undone here.
Hidden (older) bindings are extended attributes of the file:
user.shmtab.bindings is their number, user.shmtab.binding.N the Nth one
(0 = newest).  The table's statistics are user.shmtab.stat on its directory.
"""
import os
import sys


def unescape(name: str) -> bytes:
    if name == "%":
        return b""
    raw = os.fsencode(name)
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i] == 0x25:  # '%'
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    table = sys.argv[1]
    try:
        print(os.getxattr(table, "user.shmtab.stat").decode().rstrip())
    except OSError:
        pass
    for name in sorted(os.listdir(table)):
        path = os.path.join(table, name)
        with open(path, "rb") as f:
            value = f.read()
        try:
            n = int(os.getxattr(path, "user.shmtab.bindings"))
        except OSError:
            n = 1
        print(f"{unescape(name)!r} = {value!r}"
              + (f"  ({n} bindings)" if n > 1 else ""))
        for i in range(1, n):
            older = os.getxattr(path, f"user.shmtab.binding.{i}")
            print(f"    hidden {i}: {older!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
