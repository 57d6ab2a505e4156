#!/usr/bin/python3
"""test_bad_inputs.py - dxt-analyze on the bad-input corpus (tests/bad/).

Owner: reliability. Writes the corpus with tests/bad/make_bad.py into a temp
directory, runs `timeout 20 dxt-analyze NAME [ARGS]` from inside it for every
case of tests/bad/expected.tsv (and every generated truncated_at_* case), and
checks: no crash (signal or sanitizer report), no hang, the documented exit
code, the message; for exit 0, that `--format json` is valid JSON and lists the
bad file under "skipped" when expected. Cases marked `bug` (known bugs) only
need no crash and no hang; they are listed at the end as XFAIL (XPASS when they
start giving the expected result: then mark them ok).
Env: DXT_BUILD (build dir, default build), DXT_BAD_KEEP=1 keeps the corpus.
"""
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "bad"))
import make_bad  # noqa: E402

TIMEOUT_S = 20
SANITIZER_MARKS = (b"runtime error:", b"AddressSanitizer", b"LeakSanitizer",
                   b"ThreadSanitizer", b"UndefinedBehaviorSanitizer")


def load_expected(path):
    cases = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            name, code, message, skipped, status = cols[:5]
            args = cols[5].split() if len(cols) > 5 and cols[5] else []
            cases.append({"name": name, "exit": int(code), "message": message,
                          "skipped": None if skipped == "-" else skipped, "status": status,
                          "args": args})
    return cases


def run(analyze, corpus, argv):
    try:
        r = subprocess.run(["timeout", "-s", "KILL", str(TIMEOUT_S), analyze] + argv,
                           cwd=corpus, capture_output=True)
    except OSError as e:
        return None, b"", str(e).encode()
    return r.returncode, r.stdout, r.stderr


def check_case(analyze, corpus, case):
    """A list of problems (empty: as expected) and whether it crashed or hung."""
    argv = [case["name"]] + case["args"]
    rc, out, err = run(analyze, corpus, argv)
    both = out + err
    if rc is None:
        return ["cannot run: %s" % err.decode()], True
    if rc == -9 or rc == 137:
        return ["HANG: still running after %d s" % TIMEOUT_S], True
    if rc < 0 or rc >= 128 or any(m in both for m in SANITIZER_MARKS):
        tail = err.decode(errors="replace")[-600:]
        return ["CRASH: exit %d: %s" % (rc, tail)], True
    problems = []
    if rc != case["exit"]:
        problems.append("exit %d, expected %d" % (rc, case["exit"]))
    if case["message"].encode() not in both:
        problems.append("message lacks %r; got: %s" % (
            case["message"], err.decode(errors="replace").strip()[:300]))
    if rc == 0:
        problems += check_json(analyze, corpus, argv, case)
    return problems, False


def check_json(analyze, corpus, argv, case):
    rc, out, err = run(analyze, corpus, argv + ["--format", "json"])
    if rc != 0:
        return ["--format json: exit %s" % rc]
    try:
        report = json.loads(out)
    except ValueError as e:
        return ["--format json: not JSON (%s)" % e]
    if report.get("format") != "dxtrace-report":
        return ["--format json: no dxtrace-report"]
    if case["skipped"]:
        files = [os.path.basename(s.get("file", "")) for s in report.get("skipped", [])]
        if case["skipped"] not in files:
            return ["--format json: 'skipped' lacks %s (has %s)" % (case["skipped"], files)]
    return []


def main():
    build = os.environ.get("DXT_BUILD", "build")
    analyze = os.path.abspath(os.path.join(build, "bin", "dxt-analyze"))
    synth = os.path.abspath(os.path.join(build, "bin", "dxt-synth"))
    corpus = tempfile.mkdtemp(prefix="dxt-bad-")
    try:
        names = make_bad.generate(corpus, synth if os.path.exists(synth) else None)
        cases = load_expected(os.path.join(HERE, "bad", "expected.tsv"))
        listed = {c["name"] for c in cases}
        for name in names:
            if name.startswith("truncated_at_"):
                cases.append({"name": name, "exit": 0, "message": name + "/rank-00003.h5",
                              "skipped": "rank-00003.h5", "status": "ok", "args": []})
            elif name not in listed:
                print("FAIL %s: generated but not in expected.tsv" % name)
                return 1
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda c: check_case(analyze, corpus, c), cases))
    finally:
        if os.environ.get("DXT_BAD_KEEP") == "1":
            print("corpus kept in %s" % corpus)
        else:
            shutil.rmtree(corpus, ignore_errors=True)
    failed, xfail, xpass = 0, [], []
    for case, (problems, fatal) in zip(cases, results):
        if case["status"] == "bug" and not fatal:
            (xfail if problems else xpass).append((case["name"], problems))
            continue
        if problems:
            failed += 1
            print("FAIL %-30s %s" % (case["name"], "; ".join(problems)))
    for name, problems in xfail:
        print("XFAIL %-30s (known bug) %s" % (name, "; ".join(problems)))
    for name, _ in xpass:
        print("XPASS %-30s behaves as expected now: mark it ok in expected.tsv" % name)
    print("bad inputs: %d cases, %d as expected, %d failed, %d known bugs (no crash, no hang)"
          % (len(cases), len(cases) - failed - len(xfail), failed, len(xfail)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
