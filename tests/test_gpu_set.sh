#!/bin/sh
# test_gpu_set.sh - what CI can check of tests/gpu/run_set.sh without a GPU: the dry
# run draws each trace and a healthy twin of each faulted one, and a set whose exchange
# is a stand-in (dxt-synth, 100 steps, the drawn fault at 4x from the same share of the
# run) is recorded, judged by dxt-analyze (and by it again as SET_ANALYZE_B), scored and
# summed up: every trace done, none failed, the twins clean, a fault found. The set on
# a GPU is run_set.sh itself (tests/gpu/).
#
# Owner: the GPU side of dxtrace.
set -u
BUILD=${DXT_BUILD:-build}
fail=0
tmp=$(mktemp -d /tmp/test_gpu_set.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
check() { # DESCRIPTION PATTERN FILE
    if grep -q -- "$2" "$3"; then echo "ok: $1"; else echo "FAIL: $1 ($2)"; sed 's/^/    /' "$3"; fail=1; fi
}

SET_DRY=1 tests/gpu/run_set.sh 100 3 >"$tmp/dry" 2>&1
check "dry run: 3 traces and their twins" "^dxt-ep-gpu -n 12 -s 483 --seed 102 .*--slow-rank 9 " "$tmp/dry"
[ "$(grep -c '# twin' "$tmp/dry")" = 3 ] || { echo "FAIL: dry run: 3 twins"; fail=1; }

# the stand-in: dxt-ep-gpu's command line, dxt-synth's trace, dxt-ep-gpu's truth.json
cat >"$tmp/ep" <<EOS
#!/usr/bin/python3
import json, subprocess, sys
a = dict(zip(sys.argv[1::2], sys.argv[2::2]))
steps, op = int(a.get("-s", 100)), a.get("--fault-op", "both")
fault, synth = {}, ["$BUILD/bin/dxt-synth", "-q", "-o", a["-o"], "-n", a["-n"], "-r", "4",
                     "-t", "100", "-s", "7"]
for flag, kind in (("--slow-rank", "slow_source"), ("--slow-dest", "slow_destination")):
    if flag in a:
        fault = {"kind": kind, "rank": int(a[flag])}
if "--slow-path" in a:
    src, dst = map(int, a["--slow-path"].split(":"))
    fault = {"kind": "slow_path", "src": src, "dst": dst}
if fault:
    place = ",".join("%s=%d" % (k, fault[k]) for k in ("rank", "src", "dst") if k in fault)
    synth += ["-f", "%s:%s,op=%s,x=4,onset=%d" % (fault["kind"], place,
              "all" if op == "both" else op, int(a.get("--onset", 0)) * 100 // steps)]
    fault.update(ops=["dispatch", "combine"] if op == "both" else [op],
                 delay_ns=int(a["--delay-ns"]))
subprocess.run(synth, check=True)
json.dump({"faults": [fault] if fault else []}, open(a["--truth"], "w"))
EOS
chmod +x "$tmp/ep"
OUT=$tmp/out SET_EP=$tmp/ep SET_ANALYZE=$BUILD/bin/dxt-analyze SET_ANALYZE_B=$BUILD/bin/dxt-analyze \
    tests/gpu/run_set.sh 100 3 \
    >"$tmp/set" 2>&1
check "a set through a stand-in: done and summed up" "^SET 3 traces: .*twins clean 3/3" "$tmp/set"
check "no errors" "errors 0" "$tmp/set"
check "the second build's summary" "^SET-B 3 traces" "$tmp/set"
check "a fault found" "found [1-3]/3" "$tmp/set"
exit $fail
