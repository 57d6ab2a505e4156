#!/usr/bin/python3
"""test_report_schema.py - docs/report.schema.json describes the JSON reports
dxt-analyze really writes: reports of a synthetic trace with every kind of
finding, of a healthy trace, of a text matrix (--run, --unit) and of a trace
with a bad file (skipped) validate against it, and the schema forbids fields
it does not describe (additionalProperties false), so a new field fails here
until it is documented. Validation by Debian's python3-jsonschema.

Owner: the users engineer. Needs $DXT_BUILD/bin/dxt-synth and dxt-analyze.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.environ.get("DXT_BUILD", "build")
SYNTH = os.path.join(REPO, BUILD, "bin", "dxt-synth")
ANALYZE = os.path.join(REPO, BUILD, "bin", "dxt-analyze")

try:
    import jsonschema
except ImportError:
    print("FAIL: python3-jsonschema is missing (make deps)")
    sys.exit(1)


def run(*args):
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
    return r.stdout


def report(*args):
    return json.loads(run(ANALYZE, *args, "--format", "json"))


def main():
    schema = json.load(open(os.path.join(REPO, "docs", "report.schema.json")))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        faulty, healthy = os.path.join(tmp, "faulty"), os.path.join(tmp, "healthy")
        # the report's shape is tested here, not the classifier: a calm noise model
        run(SYNTH, "-q", "--noise", "calm", "-o", faulty, "-n", "32", "-t", "600",
            "--fault", "slow_source:rank=5,onset=250,x=3",
            "--fault", "slow_path:src=3,dst=20,x=4",
            "--fault", "slow_node:node=node-2,as=destination,x=2,onset=200",
            "--fault", "load_imbalance:rank=12,x=4")
        run(SYNTH, "-q", "-o", healthy, "-n", "16", "-t", "200")
        matrix = os.path.join(tmp, "m.txt")
        with open(matrix, "w") as f:
            for i in range(8):
                f.write(" ".join("0" if i == j else str(300 if j == 2 else 100) for j in range(8)))
                f.write("\n")
        with open(os.path.join(healthy, "rank-00099.h5"), "w") as f:
            f.write("not an HDF5 file\n")
        reports = {
            "faulty": report(faulty),
            "healthy, a bad file skipped": report(healthy),
            "text matrix": report(matrix, "--run", "job-7", "--unit", "us"),
        }
        kinds = {f["kind"] for f in reports["faulty"]["findings"]}
        for name, r in reports.items():
            errors = sorted(validator.iter_errors(r), key=lambda e: list(e.path))
            for e in errors:
                print("FAIL %s: %s at %s" % (name, e.message, "/".join(map(str, e.path))))
            failures += len(errors)
            print("%s %s: %d findings" % ("ok  " if not errors else "FAIL", name,
                                          len(r["findings"])))
        checks = [
            ("every kind but load_imbalance seen", {"slow_source", "slow_path", "slow_node"} <= kinds),
            ("the skipped file listed", any(s["file"].endswith("rank-00099.h5")
                                            for s in reports["healthy, a bad file skipped"]["skipped"])),
            ("--run and --unit name a text matrix",
             reports["text matrix"]["run_id"] == "job-7" and reports["text matrix"]["unit"] == "us"),
        ]
        for what, ok in checks:
            print("%s %s" % ("ok  " if ok else "FAIL", what))
            failures += not ok
    print("all passed" if failures == 0 else "%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
