#!/usr/bin/env python3
"""LMDB (Debian's python3-lmdb) under pmemfs-crashtest.

  lmdb_workload.py run     commits transaction n (key n -> value fixed by n,
                           and a counter) in $PMEMFS_MNT/db, then prints n
  lmdb_workload.py check   opens the environment (LMDB recovers by itself),
                           checks every transaction up to the last number in
                           $PMEMFS_RUN_OUTPUT is there, whole
"""
import os
import sys

import lmdb

MNT = os.environ.get("PMEMFS_MNT", ".")


def value(n):
    return (f"value {n} ".encode() * 40)[: 100 + n % 900]


def env():
    # sync=True, metasync=True: LMDB's durable commits (the default).
    return lmdb.open(os.path.join(MNT, "db"), map_size=64 << 20, subdir=True)


def run():
    e = env()
    n = 1
    while True:
        with e.begin(write=True) as t:
            t.put(b"%08d" % n, value(n))
            t.put(b"last", b"%d" % n)
        print(n, flush=True)
        n += 1


def check():
    try:
        lines = [l for l in open(os.environ["PMEMFS_RUN_OUTPUT"]).read().split("\n")[:-1] if l]
    except FileNotFoundError:
        lines = []
    promised = int(lines[-1]) if lines else 0
    if not os.path.exists(os.path.join(MNT, "db")):
        if promised:
            print(f"{promised} transactions promised, the environment is gone")
            return 1
        return 0
    e = env()
    with e.begin() as t:
        last = int(t.get(b"last", b"0"))
        if last < promised:
            print(f"{promised} transactions promised, {last} survived")
            return 1
        if last > promised + 1:
            print(f"transaction {last} is there, but at most {promised + 1} began")
            return 1
        for n in range(1, last + 1):
            if t.get(b"%08d" % n) != value(n):
                print(f"transaction {n} is lost or damaged")
                return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["run"]:
        run()
    elif sys.argv[1:] == ["check"]:
        sys.exit(check())
    else:
        sys.exit(__doc__)
