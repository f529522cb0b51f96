#!/usr/bin/env python3
"""The table bench/run-fio.sh prints, from the results it left in a directory.

    fio_table.py [--rounds N] RESULTS "tmpfs null-fuse pmemfs-fuse null-io_uring ..." JOB ...

RESULTS holds, per job, target and round R (1..N; tmpfs runs in round 1
only), JOB.TARGET.rR.json (fio's JSON output) and, for pmemfs targets,
JOB.TARGET.rR.before/.after (pmemfs-ctl stats around the job). One row per
job section (a job file with several sections, e.g. create-stat, gives one
row each). Per transport: the null filesystem on it, pmemfs on it,
pmemfs/null (same transport, same round), and pmemfs's requests per I/O;
for io_uring also pmemfs over io_uring / null over /dev/fuse (how far above
the /dev/fuse ceiling the ring gets). With several rounds a figure is the
median over them and a ratio the median of the rounds' ratios, with their
range in brackets. Exit status 1 if any run failed.
"""
import json
import os
import statistics
import sys


def load(path):
    try:
        with open(path) as f:
            text = f.read()
        return json.loads(text[text.index("{"):])  # fio may print notes first
    except (OSError, ValueError):
        return None


def measure(data):
    """{section: (value, unit, ios)}: fio's figures per job section."""
    out = {}
    if data is None:
        return out
    for j in data["jobs"]:
        o = j["job options"]
        rw, bs = o.get("rw", ""), o.get("bs", "4k")
        sequential = rw in ("read", "write") and bs.lower() not in ("4k", "4096")
        value, ios = 0.0, 0
        for ddir in ("read", "write"):
            d = j[ddir]
            if d["total_ios"] == 0:
                continue
            value += d["bw_bytes"] / 1e6 if sequential else d["iops"]
            ios += d["total_ios"]
        out[j["jobname"]] = (value, "MB/s" if sequential else "IOPS", ios)
    return out


def requests(before, after):
    """{opcode: count} the daemon counted between the two stats reads (the
    GETXATTR that read `after` is not the job's)."""
    b, a = load(before), load(after)
    if not a or not b:
        return None
    d = {op: a["requests"][op]["count"] - b["requests"].get(op, {"count": 0})["count"]
         for op in a["requests"]}
    d["getxattr"] = d.get("getxattr", 0) - 1
    return {op: n for op, n in d.items() if n > 0}


def per_io(reqs, ios, sections):
    if reqs is None or not ios:
        return "-"
    if sections > 1:  # the stats cover every section of the file at once
        total = sum(reqs.values())
        return f"{total} requests for the whole file"
    top = sorted(reqs.items(), key=lambda kv: -kv[1])[:3]
    return f"{sum(reqs.values()) / ios:.2f}: " + ", ".join(f"{op} {n / ios:.2f}" for op, n in top)


def ratio_cell(pairs):
    """pairs: (numerator, denominator) of each round, None where one failed."""
    ratios = [a / b for a, b in pairs if a and b]
    if not ratios or len(ratios) < len(pairs):
        return "-"
    mid = f"{statistics.median(ratios):.2f}"
    return mid if len(ratios) == 1 else f"{mid} ({min(ratios):.2f}-{max(ratios):.2f})"


def main():
    args = sys.argv[1:]
    rounds = 1
    if args[:1] == ["--rounds"]:
        rounds, args = int(args[1]), args[2:]
    results, targets, names = args[0], args[1].split(), args[2:]
    transports = [t[len("pmemfs-"):] for t in targets if t.startswith("pmemfs-")]
    head = ["job", "tmpfs"]
    for tr in transports:
        head += [f"null {tr}", f"pmemfs {tr}", "/null", f"requests per I/O ({tr})"]
        if tr != "fuse" and "null-fuse" in targets:
            head += ["/null fuse"]
    rows, failed = [], False
    for name in names:
        # figures[target][round - 1]: {section: (value, unit, ios)}
        figures = {t: [measure(load(os.path.join(results, f"{name}.{t}.r{r}.json")))
                       for r in range(1, (1 if t == "tmpfs" else rounds) + 1)]
                   for t in targets}
        sections = sorted({s for f in figures.values() for per in f for s in per}) or [name]
        for s in sections:
            label = name if len(sections) == 1 else f"{name}:{s}"
            unit = next((per[s][1] for f in figures.values() for per in f if s in per), "")

            def values(t):
                return [per[s][0] if s in per else None for per in figures.get(t, [])]

            def cell(t):
                v = values(t)
                if not v or None in v:
                    return "failed"
                return f"{statistics.median(v):,.0f} {unit}"

            row = [label, cell("tmpfs")]
            failed |= None in values("tmpfs")
            for tr in transports:
                pm, null = f"pmemfs-{tr}", f"null-{tr}"
                first = figures[pm][0].get(s)
                reqs = requests(os.path.join(results, f"{name}.{pm}.r1.before"),
                                os.path.join(results, f"{name}.{pm}.r1.after"))
                row += [cell(null), cell(pm), ratio_cell(list(zip(values(pm), values(null)))),
                        per_io(reqs, first[2] if first else 0, len(sections))]
                if tr != "fuse" and "null-fuse" in targets:
                    row += [ratio_cell(list(zip(values(pm), values("null-fuse"))))]
                failed |= None in values(pm) or None in values(null)
            rows.append(row)

    w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def line(r):
        return " | ".join(f"{c:<{w[i]}}" if i == 0 or head[i].startswith("requests")
                          else f"{c:>{w[i]}}" for i, c in enumerate(r))

    print(line(head))
    print("-+-".join("-" * x for x in w))
    for r in rows:
        print(line(r))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
