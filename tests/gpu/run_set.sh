#!/bin/bash
# run_set.sh - a held-out set of real-GPU traces, judged: our own exchange dxt-ep-gpu
# (V virtual ranks on one GPU) records random jobs, half of them with an injected
# fault, and dxt-analyze's findings at its default window are scored against what was
# injected. From the repository root on a GPU machine:
#   OUT=dir SET_BUDGET_S=480 tests/gpu/run_set.sh SEED_BASE COUNT
# Trace i is drawn from python's random.Random(SEED_BASE + i): V log-uniform in 8..128,
# 300..600 steps, jitter 0.02..0.3, compute 2..20 us, tokens/topk/experts; a quarter
# healthy, else a slow rank / slow destination / slow path (S != D) of 2..40 us
# (log-uniform) from step 0 (a quarter) or 1/8..7/8 of the run, in dispatch, combine or
# both; a faulted trace also runs as its healthy twin (same seed and knobs, no fault).
# Each trace is recorded, analyzed, scored and deleted. Scoring: a healthy trace or twin
# must have no finding; a fault is found by a finding of its kind and place (slow_source
# R, slow_destination R, slow_path S->D) in an op where it was injected; any other
# finding is false, except a slow path's ends as slow_source (an echo, counted apart).
# New traces stop after SET_BUDGET_S seconds (default 480, the build included).
# SET_DRY=1 prints the drawn commands only (no GPU, nothing built); SET_EP=CMD runs CMD
# instead of build/bin/dxt-ep-gpu (a stand-in, for testing this script without a GPU);
# SET_ANALYZE=PATH judges with that dxt-analyze (default: build/bin/dxt-analyze, built);
# SET_ANALYZE_B=PATH judges every trace with a second dxt-analyze too (another build,
# side by side: $OUT/set-traces-b.jsonl and a second summary, its last line SET-B).
# Writes $OUT/set.log (build, each run's output), $OUT/set-traces.jsonl (per trace: args,
# truth, findings, verdict) and $OUT/set-summary.txt; prints the summary last.
#
# Owner: the GPU side of dxtrace.
set -u
cd "$(dirname "$0")/../.." || exit 1
[ $# = 2 ] || { echo "usage: $0 SEED_BASE COUNT" >&2; exit 2; }
SEED_BASE=$1 COUNT=$2 BUDGET=${SET_BUDGET_S:-480}
. tests/gpu/lib.sh
PYSET=$(mktemp /tmp/dxt-set-XXXXXX.py)
cat >"$PYSET" <<'EOF'
import json, math, random, sys
KINDS = {"slow-rank": "slow_source", "slow-dest": "slow_destination", "slow-path": "slow_path"}
BUCKETS = ((2, 5), (5, 15), (15, 40))

def draw(base, count):  # one line a trace: index, seed, kind, the fault's args | the knobs
    for i in range(count):
        r = random.Random(base + i)
        v = min(128, max(8, int(round(math.exp(r.uniform(math.log(8), math.log(128)))))))
        steps = r.randint(300, 600)
        knobs = ["-n", v, "-s", steps, "--seed", base + i,
                 "--jitter", round(r.uniform(0.02, 0.3), 3), "--compute-ns", r.randint(2000, 20000),
                 "--tokens", int(round(math.exp(r.uniform(math.log(32), math.log(1024))))),
                 "--topk", r.randint(1, 16), "--experts-per-rank", r.randint(1, 4)]
        kind, fault = "healthy", []
        if r.random() >= 0.25:
            kind = r.choice(sorted(KINDS))
            if kind == "slow-path":
                fault = ["--slow-path", "%d:%d" % tuple(r.sample(range(v), 2))]
            else:
                fault = ["--" + kind, r.randrange(v)]
            onset = 0 if r.random() < 0.25 else r.randint(steps // 8, steps * 7 // 8)
            fault += ["--delay-ns", int(round(math.exp(r.uniform(math.log(2e3), math.log(4e4))))),
                      "--onset", onset, "--fault-op", r.choice(["dispatch", "combine", "both"])]
        print(i, base + i, kind, " ".join(map(str, fault)), "|", " ".join(map(str, knobs)))

def place(x):
    return (x.get("src"), x.get("dst")) if x["kind"] == "slow_path" else x.get("rank")

def score(i, variant, args, truth_path, report_path, secs, rc, out_line):
    rec = {"i": i, "variant": variant, "args": args, "rc": int(rc), "secs": float(secs)}
    try:
        truth, rep = json.load(open(truth_path)), json.load(open(report_path))
    except (OSError, ValueError) as e:
        rec["error"] = str(e)
    else:
        faults = truth.get("faults", [])
        rec["truth"] = faults[0] if faults else None
        keep = ("kind", "op", "rank", "src", "dst", "node", "ranks", "first_step", "last_step",
                "severity", "score", "p_value", "persistent", "windows_flagged", "windows_seen")
        rec["findings"] = [{k: g[k] for k in keep if k in g} for g in rep.get("findings", [])]
        rec["window_steps"] = rep.get("window_steps")
        rec["hits"], rec["echo"], rec["false"] = [], [], []
        for g in rec["findings"]:
            f = rec["truth"]
            if f and g["kind"] == f["kind"] and g["op"] in f["ops"] and place(g) == place(f):
                rec["hits"].append(g)
            elif f and f["kind"] == "slow_path" and g["kind"] == "slow_source" and \
                    g.get("rank") in (f["src"], f["dst"]):
                rec["echo"].append(g)
            else:
                rec["false"].append(g)
        rec["found"] = bool(rec["hits"]) if rec["truth"] else None
    with open(out_line, "a") as fh:
        fh.write(json.dumps(rec, separators=(",", ":")) + "\n")

def bucket(ns):
    us = ns / 1e3
    return next(("%d-%d us" % b for b in BUCKETS if us < b[1]), "%d-%d us" % BUCKETS[-1])

def summary(path, drawn, seconds):
    recs = [json.loads(l) for l in open(path)]
    done = sorted({r["i"] for r in recs})
    out = ["traces done: %d of %d drawn (%s s)" % (len(done), int(drawn), seconds)]
    bad = [r for r in recs if "error" in r]
    for v in ("healthy", "twin"):
        rs = [r for r in recs if r["variant"] == v and "error" not in r]
        out.append("%-8s clean %d / %d" % (v, sum(not r["false"] for r in rs), len(rs)))
    fr = [r for r in recs if r["variant"] == "fault" and "error" not in r]
    out.append("faulted  found %d / %d; false findings: %d (healthy %d, twins %d, faulted %d); "
               "echoes %d; errors %d" % (
        sum(r["found"] for r in fr), len(fr), sum(len(r["false"]) for r in recs if "false" in r),
        *(sum(len(r["false"]) for r in recs if r["variant"] == v and "false" in r)
          for v in ("healthy", "twin", "fault")), sum(len(r["echo"]) for r in fr), len(bad)))
    for k in sorted(KINDS.values()) + ["all"]:
        cells = []
        for b in BUCKETS:
            name = "%d-%d us" % b
            rs = [r for r in fr if k in ("all", r["truth"]["kind"]) and
                  bucket(r["truth"]["delay_ns"]) == name]
            cells.append("%s %d/%d" % (name, sum(r["found"] for r in rs), len(rs)))
        rs = [r for r in fr if k in ("all", r["truth"]["kind"])]
        out.append("  %-16s found %2d/%-2d  (%s)" % (k, sum(r["found"] for r in rs), len(rs),
                                                     ", ".join(cells)))
    for r in recs:
        for g in r.get("false", []):
            out.append("FALSE trace %d %s [%s]: %s" % (r["i"], r["variant"], r["args"],
                                                       json.dumps(g, separators=(",", ":"))))
    for r in fr:
        if not r["found"] and r["truth"]["delay_ns"] >= 15000:
            out.append("MISS  trace %d [%s]: %d findings %s" % (
                r["i"], r["args"], len(r["findings"]),
                json.dumps(r["findings"], separators=(",", ":"))))
    for r in bad:
        out.append("ERROR trace %d %s [%s]: rc %d, %s" % (r["i"], r["variant"], r["args"], r["rc"],
                                                          r["error"]))
    ok = [r for r in recs if "error" not in r]
    clean = ["%d/%d" % (sum(not r["false"] for r in rs), len(rs))
             for rs in ([r for r in ok if r["variant"] == v] for v in ("healthy", "twin"))]
    out.append("SET %s traces: healthy clean %s, twins clean %s, found %d/%d, false %d" % (
        len(done), clean[0], clean[1], sum(r["found"] for r in fr), len(fr),
        sum(len(r.get("false", [])) for r in recs)))
    print("\n".join(out))

if __name__ == "__main__":
    {"draw": lambda a: draw(int(a[0]), int(a[1])), "score": lambda a: score(int(a[0]), *a[1:]),
     "summary": lambda a: summary(*a)}[sys.argv[1]](sys.argv[2:])
EOF

if [ "${SET_DRY:-0}" = 1 ]; then
    python3 "$PYSET" draw "$SEED_BASE" "$COUNT" | while read -r i seed kind fault; do
        echo "dxt-ep-gpu ${fault#*| } ${fault%%|*}"
        [ "$kind" = healthy ] || echo "dxt-ep-gpu ${fault#*| }   # twin"
    done
    rm -f "$PYSET"
    exit 0
fi
if [ -n "${SET_EP:-}" ]; then # a stand-in exchange: no GPU needed
    OUT=${OUT:-/tmp/dxt-set-out} WORK=$(mktemp -d /tmp/dxt-set-XXXXXX) PY=python3
    mkdir -p "$OUT" && LOG=$OUT/set.log SUMMARY=$OUT/set-summary.txt && : >"$LOG" && : >"$SUMMARY"
else
    gpu_setup set || { rm -f "$PYSET"; exit 0; }
fi
EP=${SET_EP:-build/bin/dxt-ep-gpu} ANALYZE=${SET_ANALYZE:-build/bin/dxt-analyze}
JSONL=$OUT/set-traces.jsonl
: >"$JSONL"
[ -z "${SET_ANALYZE_B:-}" ] || : >"$OUT/set-traces-b.jsonl"

# one_trace I VARIANT ARGS...: record, analyze, score (a line of $JSONL), delete
one_trace() {
    local i=$1 variant=$2 t0=$SECONDS rc
    shift 2
    rm -rf "$WORK/trace" "$WORK/truth.json" "$WORK/report.json"
    echo "=== trace $i $variant: $*" >>"$LOG"
    timeout 180 $EP "$@" -o "$WORK/trace" --run-id "set-$i-$variant" --truth "$WORK/truth.json" \
        >>"$LOG" 2>&1 &&
        timeout 180 $ANALYZE "$WORK/trace" --format json -o "$WORK/report.json" \
            >>"$LOG" 2>&1
    rc=$?
    $PY "$PYSET" score "$i" "$variant" "$*" "$WORK/truth.json" "$WORK/report.json" \
        $((SECONDS - t0)) $rc "$JSONL" >>"$LOG" 2>&1
    if [ -n "${SET_ANALYZE_B:-}" ]; then # the same trace judged by a second build
        rm -f "$WORK/report.json"
        timeout 180 "$SET_ANALYZE_B" "$WORK/trace" --format json -o "$WORK/report.json" >>"$LOG" 2>&1
        $PY "$PYSET" score "$i" "$variant" "$*" "$WORK/truth.json" "$WORK/report.json" \
            $((SECONDS - t0)) $? "$OUT/set-traces-b.jsonl" >>"$LOG" 2>&1
    fi
    rm -rf "$WORK/trace"
}

main() {
    [ -n "${SET_EP:-}" ] || nvidia-smi -L 2>&1 | tee -a "$LOG"
    local jansson=
    [ -f /usr/include/jansson.h ] || jansson=JANSSON_DIR=.devcarry/jansson
    local targets=
    [ -n "${SET_EP:-}" ] || targets=build/bin/dxt-ep-gpu
    [ -n "${SET_ANALYZE:-}" ] || targets="$targets build/bin/dxt-analyze"
    [ -z "$targets" ] || step build 600 make NODEPS=1 -j16 $jansson $targets ||
        step build-no-werror 600 make NODEPS=1 -j16 $jansson $targets SANFLAGS=-Wno-error ||
        { note "build failed: see set.log"; return 1; }
    local i seed kind fault knobs n=0
    $PY "$PYSET" draw "$SEED_BASE" "$COUNT" >"$WORK/draws"
    while IFS='|' read -r head knobs; do
        if [ $SECONDS -ge "$BUDGET" ]; then
            note "budget of $BUDGET s spent: stopped after $n of $COUNT traces"
            break
        fi
        read -r i seed kind fault <<<"$head"
        one_trace "$i" "$([ "$kind" = healthy ] && echo healthy || echo fault)" $knobs $fault
        [ "$kind" = healthy ] || one_trace "$i" twin $knobs
        n=$((n + 1))
    done <"$WORK/draws"
    note "seed base $SEED_BASE, $n traces in $SECONDS s"
    $PY "$PYSET" summary "$JSONL" "$COUNT" "$SECONDS" >>"$SUMMARY" 2>&1
    if [ -n "${SET_ANALYZE_B:-}" ]; then
        note "the same traces judged by SET_ANALYZE_B=$SET_ANALYZE_B:"
        $PY "$PYSET" summary "$OUT/set-traces-b.jsonl" "$COUNT" "$SECONDS" | sed 's/^SET /SET-B /' >>"$SUMMARY" 2>&1
    fi
}

main
rm -f "$PYSET"
gpu_finish
