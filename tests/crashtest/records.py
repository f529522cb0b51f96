#!/usr/bin/env python3
"""Sample programs for pmemfs-crashtest, one correct and two with the
classic mistakes, and their checker.

  records.py append [--no-fsync]   appends numbered records to $PMEMFS_MNT/log,
                                   fsyncs each (unless --no-fsync), then prints
                                   its number: printed = promised durable
  records.py replace [--fsync-data] writes version n to a temporary file and
                                   renames it over $PMEMFS_MNT/current (still
                                   open), then fsyncs the directory and prints
                                   n; without --fsync-data the data is never
                                   synced before the rename (the bug)
  records.py check-append | check-replace
                                   checks what survived against the last
                                   number in $PMEMFS_RUN_OUTPUT
"""
import os
import sys

MNT = os.environ.get("PMEMFS_MNT", ".")
RECORD = 200  # bytes per record, numbered and padded


def record(n):
    return (f"record {n:08d} ".ljust(RECORD - 1, "x") + "\n").encode()


def version(n):
    return (f"version {n}\n" * 300).encode()


def last_promised():
    try:
        with open(os.environ["PMEMFS_RUN_OUTPUT"]) as f:
            lines = [l for l in f.read().split("\n")[:-1] if l]  # complete lines only
    except FileNotFoundError:
        return 0
    return int(lines[-1]) if lines else 0


def append(fsync):
    fd = os.open(os.path.join(MNT, "log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    dfd = os.open(MNT, os.O_RDONLY)
    os.fsync(dfd)  # the name of the log
    n = 1
    while True:
        os.write(fd, record(n))
        if fsync:
            os.fsync(fd)
        print(n, flush=True)
        n += 1


def replace(fsync_data):
    dfd = os.open(MNT, os.O_RDONLY)
    n = 1
    while True:
        tmp = os.path.join(MNT, f"current.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, version(n))
        if fsync_data:
            os.fsync(fd)
        # Renamed while still open: a close would write the data back
        # (FUSE writes a file's dirty pages back on close), hiding the bug.
        os.rename(tmp, os.path.join(MNT, "current"))
        os.fsync(dfd)
        print(n, flush=True)
        os.close(fd)
        n += 1


def check_append():
    n = last_promised()
    try:
        data = open(os.path.join(MNT, "log"), "rb").read()
    except FileNotFoundError:
        data = b""
    whole = len(data) // RECORD
    for i in range(min(whole, n)):
        if data[i * RECORD:(i + 1) * RECORD] != record(i + 1):
            print(f"record {i + 1} is damaged")
            return 1
    if whole < n:
        print(f"{n} records were promised durable, {whole} survived")
        return 1
    return 0


def check_replace():
    n = last_promised()
    try:
        data = open(os.path.join(MNT, "current"), "rb").read()
    except FileNotFoundError:
        if n == 0:
            return 0
        print(f"version {n} was promised durable, and 'current' is gone")
        return 1
    for m in (n, n + 1):
        if data == version(m):
            return 0
    if n == 0 and data == b"":
        return 0
    print(f"version {n} was promised durable; 'current' holds {len(data)} bytes of something else")
    return 1


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    verb, flags = args[0], args[1:]
    if verb == "append":
        append("--no-fsync" not in flags)
    elif verb == "replace":
        replace("--fsync-data" in flags)
    elif verb == "check-append":
        sys.exit(check_append())
    elif verb == "check-replace":
        sys.exit(check_replace())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
