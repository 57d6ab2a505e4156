#!/bin/sh
# test_analyze.sh - dxt-analyze end to end: dxt-synth writes small traces with
# a known fault (cumulative and delta counting, cycles and ns, a counter reset,
# step gaps), dxt-analyze --format json must find it; a healthy trace gives no
# finding; a bad file is skipped and named; two runs are refused; the exit
# codes and --quiet. Needs $DXT_BUILD/bin/dxt-synth and dxt-analyze.
# Owner: the loader/report engineer (A2).
set -u
. tests/lib.sh
test_init test_analyze

# has_finding FILE KIND KEY VALUE: the JSON report in FILE holds that finding
has_finding() {
    $PY - "$@" <<'PYEOF'
import json, sys
path, kind, key, value = sys.argv[1:5]
report = json.load(open(path))
sys.exit(0 if any(f["kind"] == kind and str(f.get(key)) == value
                  for f in report["findings"]) else 1)
PYEOF
}

# json_expr FILE EXPR: python expression over `r` (the report) must be true
json_expr() {
    $PY -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"
}

synth() { # dir, options...
    d=$1; shift
    "$SYNTH" -q -o "$TMP/$d" -n 16 -t 400 --noise calm "$@" >"$TMP/$d.synth.log" 2>&1 ||
        { echo "dxt-synth $*:"; cat "$TMP/$d.synth.log"; return 1; }
}

analyze_json() { # dir, extra options...: report in $TMP/<dir>.json, exit code checked
    d=$1; shift
    "$ANALYZE" "$TMP/$d" --format json "$@" >"$TMP/$d.json" 2>"$TMP/$d.err" ||
        { echo "dxt-analyze $d exit $?:"; cat "$TMP/$d.err"; return 1; }
}

for tool in "$SYNTH" "$ANALYZE"; do
    [ -x "$tool" ] || { echo "FAIL missing $tool (build first)"; exit 1; }
done

# 1. slow source, cumulative cycles (DeepEP's counters)
synth src --fault slow_source:rank=5,onset=100,x=3 &&
    analyze_json src && check "slow_source cumulative cycles" has_finding "$TMP/src.json" slow_source rank 5
check "unit us from cycles + clock_hz" json_expr "$TMP/src.json" 'r["unit"] == "us" and r["world_size"] == 16 and r["steps"] == {"first": 0, "last": 399}'

# 2. slow destination, delta ns, with a gap every 7 steps
synth dst --counting delta --unit ns --gap-every 7 --fault slow_destination:rank=9,x=3 &&
    analyze_json dst && check "slow_destination delta ns gaps" has_finding "$TMP/dst.json" slow_destination rank 9

# 3. slow path with a counter reset in the middle
synth path --reset-at 200 --fault slow_path:src=3,dst=11,x=4 &&
    analyze_json path && check "slow_path with a counter reset" has_finding "$TMP/path.json" slow_path src 3

# 4. healthy: no finding
synth healthy && analyze_json healthy &&
    check "healthy trace: no finding" json_expr "$TMP/healthy.json" 'r["findings"] == []'

# 4b. a short fault in long windows: 100 steps of a 4x slow rank are 2 windows of
# --window 50, too few for any test over time; the tests also run in the default
# window (10 steps here), the report keeps the window asked for
synth short -t 800 --fault slow_source:rank=5,onset=433,end=535,x=4 &&
    analyze_json short --window 50 &&
    check "short fault in long windows: found" has_finding "$TMP/short.json" slow_source rank 5
check "short fault: window 50, tested in windows of 10" json_expr "$TMP/short.json" \
    'r["window_steps"] == 50 and r["test_window_steps"] == 10 and r["ops"][0]["windows"] == 80'
# --test-window: the short windows chosen (20), or none (the window's own size)
"$ANALYZE" "$TMP/short" --window 50 --test-window 20 --format json >"$TMP/short20.json" &&
    check "--test-window 20: tested in windows of 20" json_expr "$TMP/short20.json" \
        'r["window_steps"] == 50 and r["test_window_steps"] == 20'
"$ANALYZE" "$TMP/short" --window 50 --test-window 50 >"$TMP/short50.txt" &&
    check "--test-window 50: the long windows alone" sh -c 'grep -q "steps 0-799" "$1" && ! grep -q "tested in windows" "$1"' sh "$TMP/short50.txt"

# 4c. and a weak long one still in the long windows: a 1.25x slow receiver for 600 of
# 1000 steps (the default noise: in 10-step windows its combine row is within it; its
# rise reads 1.17x there, under the default --min-severity of 1.2)
"$SYNTH" -q -o "$TMP/weak" -n 16 -t 1000 --seed 6 \
    --fault slow_destination:rank=0,onset=200,end=799,x=1.25 >"$TMP/weak.synth.log" 2>&1 &&
    analyze_json weak --window 50 --min-severity 1.1 &&
    check "weak long fault in long windows: found" json_expr "$TMP/weak.json" \
        'any(f["kind"] == "slow_destination" and f["rank"] == 0 and f["op"] == "combine" for f in r["findings"])'
# ... and at the default window, by the tests' own long windows (at most 20 of them): a
# 2x slow receiver in combine for 230 of 293 steps, whose noise there (load: compute
# 0.43, load_sigma 0.28) puts it under 3 scales in the 5-step windows; --test-window
# leaves the long ones out
"$SYNTH" -q -o "$TMP/noisy" -n 26 -r 2 -t 293 -s 6026 --noise compute_load=0.431317,floor_ns=1936.12,jitter=0.178779,load_sigma=0.275701,nodepair_sigma=0.242426,noise=0.0375302,noise_spread=0.196393,pair_sigma=0.28879,speed_sigma=0.0159734,spike_prob=5.22183e-05 \
    --fault slow_destination:rank=9,op=combine,onset=67,x=2 >"$TMP/noisy.synth.log" 2>&1 &&
    analyze_json noisy &&
    check "weak long fault at the default window: found in windows of 20" json_expr "$TMP/noisy.json" \
        'r["window_steps"] == 5 and [(f["kind"], f["rank"], f["test_window_steps"]) for f in r["findings"]] == [("slow_destination", 9, 20)]'
"$ANALYZE" "$TMP/noisy" >"$TMP/noisy.txt" && "$ANALYZE" "$TMP/noisy" --test-window 5 >"$TMP/noisy5.txt" &&
    check "default window: tested in windows of 20 too, not with --test-window" sh -c \
        'grep -q "window 5 steps (tested in windows of 20 too)" "$1" && ! grep -q "tested in windows" "$2" && grep -q "no anomaly found" "$2"' sh "$TMP/noisy.txt" "$TMP/noisy5.txt"

# 4d. a fault from step 0 behind warm-up steps (3 of 100-1000x): the warm-up windows are
# left out of the tests, the finding still starts at step 0
"$SYNTH" -q -o "$TMP/warm" -n 16 -t 200 --seed 1 --noise warmup_steps=3,warmup_min=100,warmup_max=1000 \
    --fault slow_source:rank=5,onset=0,x=4 >"$TMP/warm.synth.log" 2>&1 &&
    analyze_json warm &&
    check "fault from step 0 after warm-up: onset 0" json_expr "$TMP/warm.json" \
        'any(f["kind"] == "slow_source" and f["rank"] == 5 and f["first_step"] == 0 for f in r["findings"])'

# 4e. a healthy node of two ranks late by their load in combine (compute 0.94, load
# sigma 0.23: its rows at 3-4 % of the others' wait, back to theirs in 19 of 82
# windows) is no slow receiver: a node's rows are its ranks' (dxt_early_node)
"$SYNTH" -q -o "$TMP/lateload" -n 162 -r 2 -t 165 -s 6028 --noise compute_load=0.93625,diag=1.81201,floor_ns=1121.98,jitter=0.834476,load_sigma=0.233511,nodepair_sigma=0.0554771,noise=0.0302919,noise_spread=0.234555,pair_sigma=0.0319641,skew_max_ns=7581,skew_min_ns=2571.27,skew_ranks=0.121938,speed_sigma=0.0293991,spike_alpha=2.08891,spike_max=18.8239,spike_min=2.9821,spike_mult=0.362413,spike_prob=0.00542565 \
    >"$TMP/lateload.synth.log" 2>&1 && analyze_json lateload --op combine &&
    check "a node late by its load: no slow receiver" json_expr "$TMP/lateload.json" 'r["findings"] == []'

# 5. a bad file among good ones: skipped, named, the analysis completes
cp -r "$TMP/src" "$TMP/badfile" && echo garbage >"$TMP/badfile/rank-00099.h5" &&
    analyze_json badfile &&
    check "bad file skipped and reported" json_expr "$TMP/badfile.json" \
        'len(r["skipped"]) == 1 and r["skipped"][0]["file"].endswith("rank-00099.h5") and any(f["rank"] == 5 for f in r["findings"] if "rank" in f)'
check "bad file named on stderr" grep -q "rank-00099.h5" "$TMP/badfile.err"

# 6. two runs: refused (exit 1, both named); --run picks one
synth run2 --run-id other-run -n 16 && cp "$TMP/run2/rank-00003.h5" "$TMP/badfile/rank-00003.x.h5"
"$ANALYZE" "$TMP/badfile" >/dev/null 2>"$TMP/two.err"
check "two runs refused with exit 1" [ $? -eq 1 ]
check "two runs named" grep -q "other-run" "$TMP/two.err"
"$ANALYZE" "$TMP/badfile" --run other-run --quiet >/dev/null 2>&1; check "--run picks one" [ $? -eq 0 ]

# 7. the command line
"$ANALYZE" >/dev/null 2>&1; check "no TRACE: exit 2" [ $? -eq 2 ]
"$ANALYZE" "$TMP/src" --window 0 >/dev/null 2>&1; check "--window 0: exit 2" [ $? -eq 2 ]
"$ANALYZE" "$TMP/nowhere" >/dev/null 2>&1; check "missing input: exit 1" [ $? -eq 1 ]
"$ANALYZE" "$TMP/src" --op nosuch >/dev/null 2>&1; check "unknown op: exit 1" [ $? -eq 1 ]
"$ANALYZE" --version | grep -q "^dxt-analyze (dxtrace) [0-9]"; check "--version" [ $? -eq 0 ]
"$ANALYZE" "$TMP/src" -q -o "$TMP/report.txt" >"$TMP/o.stdout"
check "-o FILE: exit 0" [ $? -eq 0 ]
check "-o FILE: the report in FILE, not on stdout" sh -c '[ -s "$1" ] && [ ! -s "$2" ]' sh \
    "$TMP/report.txt" "$TMP/o.stdout"
# CSV: pandas-free check with the csv module; full precision in JSON and CSV
"$ANALYZE" "$TMP/src" --format csv >"$TMP/f.csv"; check "--format csv: exit 0" [ $? -eq 0 ]
"$ANALYZE" "$TMP/src" --format csv --matrices >"$TMP/m.csv"; check "--matrices: exit 0" [ $? -eq 0 ]
"$ANALYZE" "$TMP/src" --format json >"$TMP/f.json"
check "CSV and JSON agree, full precision" $PY - "$TMP/f.csv" "$TMP/m.csv" "$TMP/f.json" <<'PYEOF'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
report = json.load(open(sys.argv[3]))
assert report["generator"].startswith("dxt-analyze ")
assert len(rows) == len(report["findings"]) > 0
for row, f in zip(rows, report["findings"]):
    assert row["kind"] == f["kind"] and row["op"] == f["op"]
    assert float(row["severity"]) == f["severity"], (row["severity"], f["severity"])
    assert len(repr(f["severity"])) > 8  # not rounded to 6 digits
cells = list(csv.DictReader(open(sys.argv[2])))
assert set(cells[0]) == {"op", "first_step", "last_step", "i", "j", "wait_per_step"}
assert all(c["i"] != c["j"] for c in cells)
PYEOF
"$ANALYZE" "$TMP/src" --matrices >/dev/null 2>&1; check "--matrices without csv: exit 2" [ $? -eq 2 ]
"$ANALYZE" --help | grep -q "Exit codes"; check "--help documents exit codes" [ $? -eq 0 ]
"$ANALYZE" "$TMP/src" --quiet --op dispatch >"$TMP/quiet.txt"
check "--quiet: findings only" sh -c "[ \$(wc -l <'$TMP/quiet.txt') -ge 1 ] && ! grep -q '^dxt-analyze\|Per op' '$TMP/quiet.txt'"
"$ANALYZE" "$TMP/src" --from 100 --to 299 --window 10 --format json >"$TMP/range.json"
check "--from/--to/--window" json_expr "$TMP/range.json" 'r["steps"] == {"first": 100, "last": 299} and r["window_steps"] == 10 and r["test_window_steps"] == 2 and r["ops"][0]["windows"] == 100'
"$ANALYZE" "$TMP/src" >"$TMP/src.txt"
check "text report header and finding" sh -c "grep -q 'unit us' '$TMP/src.txt' && grep -q 'slow_source.*rank 5' '$TMP/src.txt'"

echo "$fails failed"
[ "$fails" = 0 ]
