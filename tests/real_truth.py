#!/usr/bin/env python3
"""real_truth.py TRUTH.json REPORT.json NAME - judge a dxt-analyze JSON report of a real
trace against what was injected (samples/traces/*/truth.json). Prints one line
("ok" or "FAIL" with the reasons) and exits 1 on FAIL.

A fault is *required* where it showed in the recorded matrix (truth.json's
expected[].observed.shows, written by samples/deepep/observe.py; traces without
`expected` require every fault in every op of its `ops`). A finding is *right* when its
kind, op and place (rank, src/dst) are a required or shown entry's and it starts within
one window (or 20 steps) of the onset; *allowed* when it names what truth.json says may
be seen without being required: a fault that did not show in the matrix, a rank that
was late without an injection (`unplanned`: over at least half of the finding's
steps), or a slow path's ends as late sources in
the next op (`echo`); anything else is *false*.

Owner: the real-trace tests (tests/test_real_traces.sh). Needs python3 (json only).
"""
import json
import sys


def load_json(path):
    with open(path) as fh:
        return json.load(fh)


def place(x):
    if x.get("kind") == "slow_path":
        return ("path", x.get("src"), x.get("dst"))
    return ("rank", x.get("rank"))


def expected_entries(truth):
    """(entry, required) for every expected finding."""
    if "expected" in truth:
        for e in truth["expected"]:
            shows = e.get("observed", {}).get("shows")
            yield e, shows is True
        return
    for f in truth.get("faults", []):  # the H100 sample format: one fault, its ops
        for op in f["ops"]:
            e = dict(f, op=op, first_step=f["onset"])
            yield e, True


def allowed_entries(truth):
    for u in truth.get("unplanned", []):
        yield u
    for f in truth.get("faults", []):
        if f.get("kind") == "slow_path":
            for op in truth.get("ops", f.get("ops", [])):
                for r in (f["src"], f["dst"]):
                    yield {"kind": "slow_source", "op": op, "rank": r}


def is_allowed(g, truth):
    """An allowed entry of g's kind, op and place; entries with steps (a late host's
    regime) must hold at least half of g's steps."""
    same = [a for a in allowed_entries(truth)
            if (g["kind"], g["op"], place(g)) == (a["kind"], a["op"], place(a))]
    if any("first_step" not in a for a in same):
        return True
    first, last = g.get("first_step", 0), g.get("last_step", 0)
    inside = sum(1 for s in range(first, last + 1)
                 if any(a["first_step"] <= s <= a["last_step"] for a in same))
    return bool(same) and 2 * inside >= last - first + 1


def judge(truth, report, name):
    window = max(20, int(report.get("window_steps") or 0))
    findings = report.get("findings", [])
    problems, hit, used = [], set(), set()
    entries = list(expected_entries(truth))
    for k, g in enumerate(findings):
        for i, (e, required) in enumerate(entries):
            if (g["kind"], g["op"], place(g)) != (e["kind"], e["op"], place(e)):
                continue
            if required and abs(g["first_step"] - e.get("onset", 0)) > window:
                problems.append("%s %s starts at step %d, onset %d" % (g["kind"], g["op"],
                                                                      g["first_step"], e["onset"]))
            hit.add(i)
            used.add(k)
            break
    for k, g in enumerate(findings):
        if k in used or is_allowed(g, truth):
            continue
        problems.append("false finding %s %s %s steps %s-%s" % (
            g["kind"], g["op"], place(g)[1:], g.get("first_step"), g.get("last_step")))
    required = [i for i, (_, req) in enumerate(entries) if req]
    for i in required:
        if i not in hit:
            e = entries[i][0]
            problems.append("missed %s %s %s" % (e["kind"], e["op"], place(e)[1:]))
    found = len([i for i in required if i in hit])
    print("%s %s: %d findings, %d/%d required found%s" % (
        "ok  " if not problems else "FAIL", name, len(findings), found, len(required),
        "" if not problems else ": " + "; ".join(problems)))
    return not problems


def main(argv):
    if len(argv) != 3:
        print("usage: real_truth.py TRUTH.json REPORT.json NAME", file=sys.stderr)
        return 2
    truth, report = (load_json(p) for p in argv[:2])
    ws = truth.get("world_size", truth.get("ranks"))
    if report.get("world_size") != ws:
        print("FAIL %s: world_size %s, truth %s" % (argv[2], report.get("world_size"), ws))
        return 1
    return 0 if judge(truth, report, argv[2]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
