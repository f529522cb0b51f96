#!/usr/bin/env python3
"""A real program under power cuts: SQLite through Python's sqlite3.

  sqlite_workload.py run   DB wal|delete [exclusive]
  sqlite_workload.py check DB wal|delete [exclusive] LAST_COMMITTED

`run` fills a fresh database with 1,500 rows (about 13 MB, so that pmemfs
gives it 2 MiB extents), then commits one transaction after another with synchronous=FULL and prints
each transaction's counter once COMMIT has returned. Each transaction inserts
row n with a payload (2 to 16 KB, fixed by n) and empties the payload of row
n-1000, so pages are freed and the database shrinks and grows: with
auto_vacuum=FULL a rollback-journal commit truncates the file, and in WAL
mode each checkpoint (every 1000 pages, SQLite's default) writes pages back
into it, truncates it to size, then fsyncs it (what SQLite's checkpoint does, and what once lost data here).

`check` runs PRAGMA integrity_check and verifies that every transaction up to
LAST_COMMITTED (the last counter `run` printed) is there, whole: row n exists
with its own payload, or with an empty one exactly when transaction n+1000 is
there too. Exit 0 when all holds, 1 with one line per problem otherwise.
"""
import random
import sqlite3
import sys

SHRINK_LAG = 1000


def payload(n):
    rnd = random.Random(n)
    return rnd.randbytes(rnd.randint(2000, 16000))


def connect(path, journal, exclusive):
    con = sqlite3.connect(path, isolation_level=None)
    if exclusive:
        # cache=none has no shared mmap for the WAL index: keep it in memory.
        con.execute("PRAGMA locking_mode=EXCLUSIVE")
    con.execute("PRAGMA auto_vacuum=FULL")
    mode = con.execute(f"PRAGMA journal_mode={journal}").fetchone()[0]
    if mode.lower() != journal:
        sys.exit(f"journal_mode={journal} refused (got {mode})")
    con.execute("PRAGMA synchronous=FULL")
    return con


def run(con):
    con.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, payload BLOB)")
    n = (con.execute("SELECT max(n) FROM t").fetchone()[0] or 0) + 1
    if n == 1:
        # A database of some size first, written sequentially: pmemfs gives
        # it 2 MiB extents, and the end of the file lies inside one.
        con.execute("BEGIN")
        con.execute("CREATE TABLE fill (payload BLOB)")
        con.executemany("INSERT INTO fill VALUES (?)", ((payload(-i),) for i in range(1, 1500)))
        con.execute("COMMIT")
    while True:
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO t VALUES (?, ?)", (n, payload(n)))
        if n > SHRINK_LAG:
            con.execute("UPDATE t SET payload = x'' WHERE n = ?", (n - SHRINK_LAG,))
        con.execute("COMMIT")
        print(n, flush=True)
        n += 1


def check(con, last):
    problems = []
    verdict = [r[0] for r in con.execute("PRAGMA integrity_check")]
    if verdict != ["ok"]:
        problems.append("integrity_check: " + "; ".join(verdict[:5]))
    try:
        rows = dict(con.execute("SELECT n, payload FROM t"))
    except sqlite3.OperationalError as e:
        if "no such table" not in str(e):
            raise
        rows = {}  # the power went before the table was created
    top = max(rows, default=0)
    missing = [n for n in range(1, last + 1) if n not in rows]
    if missing:
        problems.append(f"{len(missing)} committed transactions lost, the first {missing[0]}")
    if top > last + 1:
        problems.append(f"transaction {top} is there but at most {last + 1} ever began")
    for n, p in sorted(rows.items()):
        shrunk = n + SHRINK_LAG <= top
        if p != (b"" if shrunk else payload(n)):
            problems.append(f"row {n} holds {len(p)} bytes of the wrong payload "
                            f"(shrunk by then: {shrunk})")
            break
    for p in problems:
        print(p)
    return 1 if problems else 0


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("run", "check"):
        sys.exit(__doc__)
    exclusive = "exclusive" in sys.argv[4:]
    con = connect(sys.argv[2], sys.argv[3], exclusive)
    if sys.argv[1] == "run":
        run(con)
    else:
        sys.exit(check(con, int(sys.argv[-1])))


if __name__ == "__main__":
    main()
