#!/usr/bin/env python3
"""counter.py - the Python side of the shared-counter example: N
increments of a key of an int64 table, through a shmtabfs mount.

    contrib/counter.py MOUNTPOINT/TABLE/KEY N

Each increment opens the key's file for appending, writes "1\\n" and closes
it; shmtabfs adds what is appended to an integer atomically (shmtabfs(1),
TYPED TABLES), so no increment of any process is lost.  A text that is not
an integer fails the write (or the close) with EINVAL.
"""
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: counter.py MOUNTPOINT/TABLE/KEY N", file=sys.stderr)
        return 2
    path, n = sys.argv[1], int(sys.argv[2])
    for _ in range(n):
        with open(path, "a") as f:
            f.write("1\n")
    with open(path) as f:
        print(f"counter.py: {n} increments done, value now {f.read().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
