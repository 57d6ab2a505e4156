#!/bin/sh
# test_real_traces.sh - dxt-analyze on the real H100 traces of samples/traces/
# (recorded by dxt-ep-gpu through libdxtrec's CUDA path, see samples/README.md)
# must find exactly what truth.json says was injected: the same kind, the same
# rank (or src -> dst), in every faulty op, starting near the onset, and
# nothing else; a healthy trace gives no finding.
#
# Owner: the GPU side of dxtrace. Needs $DXT_BUILD/bin/dxt-analyze and
# /usr/bin/python3 (json only).
set -u
BUILD=${DXT_BUILD:-build}
ANALYZE="$BUILD/bin/dxt-analyze"
cd "$(dirname "$0")/.." || exit 1
if [ ! -x "$ANALYZE" ]; then
    echo "SKIP test_real_traces: $ANALYZE not built"
    exit 0
fi
failed=0
for dir in samples/traces/*/; do
    dir=${dir%/}
    [ -f "$dir/truth.json" ] || continue
    if ! "$ANALYZE" "$dir" --format json >"$BUILD/real-trace-report.json"; then
        echo "FAIL $dir: dxt-analyze exited $?"
        failed=$((failed + 1))
        continue
    fi
    /usr/bin/python3 - "$dir/truth.json" "$BUILD/real-trace-report.json" "$dir" <<'EOF' ||
import json, sys
truth = json.load(open(sys.argv[1]))
report = json.load(open(sys.argv[2]))
name = sys.argv[3]
findings = report["findings"]
problems = []
faults = truth["faults"]
if report["world_size"] != truth["ranks"]:
    problems.append("world_size %s, truth %s" % (report["world_size"], truth["ranks"]))
if not faults and findings:
    problems.append("healthy trace, but %d findings" % len(findings))
for f in faults:
    ops = set(f["ops"])
    hit = set()
    for g in findings:
        same = g["kind"] == f["kind"] and (
            (g.get("src"), g.get("dst")) == (f["src"], f["dst"]) if f["kind"] == "slow_path"
            else g.get("rank") == f["rank"])
        if not same or g["op"] not in ops:
            problems.append("unexpected finding %s" % json.dumps(g))
            continue
        if not f["onset"] - 20 <= g["first_step"] <= f["onset"] + 20:
            problems.append("%s starts at step %d, onset %d" % (g["op"], g["first_step"],
                                                               f["onset"]))
        hit.add(g["op"])
    for op in sorted(ops - hit):
        problems.append("%s not found in %s" % (f["kind"], op))
print("%s %s: %d findings%s" % ("ok  " if not problems else "FAIL", name, len(findings),
                                "" if not problems else ": " + "; ".join(problems)))
sys.exit(1 if problems else 0)
EOF
    failed=$((failed + 1))
done
[ "$failed" = 0 ]
