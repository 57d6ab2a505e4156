#!/usr/bin/python3
"""test_peer_cases.py - dxt-analyze against the peer cases of DeepXTrace.

Every case of shared/peer-cases/deepxtrace-cases.json that has an `expect` is
written as a plain text matrix and analyzed with --format json --per-node 8:
the findings must be exactly the expected ones (kind + rank, or src/dst). The
ep16 case is also read straight from its DeepXTrace log. Cases without an
expectation must still be analyzed (exit 0, valid report).
Binary: $DXT_BUILD/bin/dxt-analyze (default build/).
Owner: the loader/report engineer (A2)."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("DXT_BUILD", "build")
ANALYZE = os.path.join(BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD),
                       "bin", "dxt-analyze")
PEER = os.environ.get("DXT_PEER_CASES", os.path.join(ROOT, "tests", "data", "peer-cases"))


def subject(f):
    """What identifies a finding: its kind and its rank, path or node."""
    if f["kind"] == "slow_path":
        return (f["kind"], f["src"], f["dst"])
    if f["kind"] == "slow_node":
        return (f["kind"], f["node"])
    return (f["kind"], f["rank"])


def analyze(path, op):
    run = subprocess.run([ANALYZE, path, "--format", "json", "--per-node", "8", "--op", op],
                         capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        raise AssertionError("exit %d: %s" % (run.returncode, run.stderr.strip()))
    report = json.loads(run.stdout)
    assert report["format"] == "dxtrace-report" and report["version"] == 1
    return report


def check(name, report, expect):
    if expect is None:
        return None
    got = sorted(subject(f) for f in report["findings"])
    want = sorted(subject(e) for e in expect)
    if got != want:
        return "%s: findings %s, expected %s" % (name, got, want)
    return None


def main():
    cases = json.load(open(os.path.join(PEER, "deepxtrace-cases.json")))["cases"]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            path = os.path.join(tmp, case["name"] + ".txt")
            with open(path, "w") as f:
                for row in case["matrix"]:
                    f.write(" ".join(str(v) for v in row) + "\n")
            try:
                report = analyze(path, case.get("op", "dispatch"))
                assert report["world_size"] == len(case["matrix"])
                problem = check(case["name"], report, case.get("expect"))
            except (AssertionError, ValueError, KeyError) as e:
                problem = "%s: %s" % (case["name"], e)
            print("%-4s %s" % ("FAIL" if problem else "ok", problem or case["name"]))
            if problem:
                failures.append(problem)
    ep16 = next(c for c in cases if c["name"] == "ep16_real_dispatch")
    try:
        report = analyze(os.path.join(PEER, "ep16-dispatch-deepxtrace.log"), "dispatch")
        assert report["input"] == "deepxtrace-log" and report["world_size"] == 16
        problem = check("ep16 log", report, ep16["expect"])
    except (AssertionError, ValueError, KeyError) as e:
        problem = "ep16 log: %s" % e
    print("%-4s %s" % ("FAIL" if problem else "ok", problem or "ep16 log"))
    if problem:
        failures.append(problem)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
