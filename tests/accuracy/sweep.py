#!/usr/bin/python3
"""sweep.py - dxt-analyze judged on dxt-synth traces whose noise model is drawn
at random from wide ranges (issue 11). Owner: the simulator engineer.

Two sweeps:
  healthy  N healthy traces; every finding is false. Prints the total and the
           worst traces (with the command line that rebuilds each).
  faults   every kind x magnitude (1.3, 1.5, 2, 4) x onset (step 0, or mid-run:
           anywhere from an eighth to seven eighths of the run, and then half
           of them end before the run does) x persistent / intermittent, N
           drawn in 8..256; prints detection rates, false findings and onset
           errors.

Each trace i draws everything (N, ranks per node, steps, window, every noise
knob, counting, unit, resets, dropped rows, the fault's place) from
random.Random(seed_base + i): a run is repeatable from its seed base.

Matching: a finding matches a truth.json "expected" entry when kind, op and
place (rank; src and dst; node) are equal; its onset is right when
|first_step - truth first_step| <= the report's window_steps. A finding that
matches no expected entry is false (an echo in another kind or place too). A
slow_source on a rank that truth.json's "static" lists with a launch skew (a
stable 2-10 us late launch in dispatch, as real DeepEP shows in healthy runs)
is false too, and counted apart so that the judge can see it.

Held-out seeds: seed bases 900000-999999 are kept for judging the classifier;
never run them while tuning (use the defaults: healthy 1000, faults 5000).

Only the Python standard library (runs on any machine with the two tools).
"""
import argparse
import concurrent.futures
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

KINDS = ["slow_source", "slow_destination", "slow_path", "slow_node", "load_imbalance"]
MAGNITUDES = [1.3, 1.5, 2.0, 4.0]
HELD_OUT = (900000, 999999)


def log_uniform(rng, lo, hi):
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def draw_noise(rng):
    """Every knob of dxt-synth --noise, from wide ranges (issue 11, lessons 7-11)."""
    skew_lo = rng.uniform(1000, 5000)
    return {
        "jitter": log_uniform(rng, 0.1, 3.0),
        "floor_ns": 0.0 if rng.random() < 0.5 else rng.uniform(0, 3000),
        "spike_prob": 0.0 if rng.random() < 0.1 else log_uniform(rng, 1e-5, 1e-2),
        "spike_min": rng.uniform(1.5, 5.0),
        "spike_alpha": rng.uniform(1.0, 3.0),
        "spike_max": rng.uniform(5.0, 20.0),
        "spike_mult": rng.random(),
        "pair_sigma": rng.uniform(0.0, 0.5),
        "nodepair_sigma": rng.uniform(0.0, 0.5),
        "noise": log_uniform(rng, 0.02, 0.4),
        "noise_spread": rng.uniform(0.0, 0.5),
        "speed_sigma": rng.uniform(0.0, 0.03),
        "compute_load": rng.random(),
        "load_sigma": rng.uniform(0.0, 0.3),
        "skew_ranks": 0.0 if rng.random() < 0.3 else rng.uniform(0.0, 0.25),
        "skew_min_ns": skew_lo,
        "skew_max_ns": skew_lo + rng.uniform(0, 8000),
        "diag": 0.0 if rng.random() < 0.2 else rng.uniform(0.1, 3.0),
        "warmup_steps": rng.choice([0, 1, 2, 3]),
        "warmup_min": 100.0,
        "warmup_max": 1000.0,
    }


def draw_stalls(seed):
    """Stalls of a rank's host (--stalls; drawn apart: the other draws stay the same)."""
    rng = random.Random(seed * 7919 + 17)
    return {
        "stall_prob": log_uniform(rng, 1e-4, 3e-3),
        "stall_steps": rng.randint(1, 30),
        "stall_min": rng.uniform(2.0, 20.0),
        "stall_alpha": rng.uniform(0.7, 2.0),
    }


def draw_trace(seed, small, nmin=8, nmax=256, stalls=False):
    """The shape of trace `seed`: world, per node, steps, window, recording options."""
    rng = random.Random(seed)
    hi = 32 if small else nmax
    world = int(round(log_uniform(rng, nmin, hi)))
    per_node = rng.choice([r for r in (1, 2, 4, 8) if r <= world // 2] or [1])
    if small:
        steps = rng.randint(150, 300)
    elif world > 96:
        steps = rng.randint(100, 300)
    else:
        steps = rng.randint(200, 1000)
    window = rng.choice([None, None, 5, 10, 20, 50]) if steps >= 200 else None
    opts = {
        "seed": seed, "world": world, "per_node": per_node, "steps": steps, "window": window,
        "counting": rng.choice(["cumulative", "delta"]),
        "unit": rng.choice(["cycles", "ns"]),
        "reset_at": rng.randint(1, steps - 1) if rng.random() < 0.2 else None,
        "drop_prob": rng.uniform(0.0, 0.02) if rng.random() < 0.2 else 0.0,
        "noise": draw_noise(rng),
    }
    if stalls:
        opts["noise"].update(draw_stalls(seed))
    return opts, rng


def draw_fault(rng, opts, kind, magnitude, onset_mid, intermittent):
    world, per_node, steps = opts["world"], opts["per_node"], opts["steps"]
    parts = [kind + ":"]
    if kind == "slow_path":
        src, dst = rng.sample(range(world), 2)
        parts.append("src=%d,dst=%d" % (src, dst))
    elif kind == "slow_node":
        parts.append("node=%d" % rng.randrange((world + per_node - 1) // per_node))
        parts.append(",as=" + rng.choice(["source", "destination"]))
    else:
        parts.append("rank=%d" % rng.randrange(world))
    op = "all" if kind == "load_imbalance" else rng.choice(["dispatch", "combine", "all"])
    # mid-run: on for 1/8 to 7/8 of the run (a fault on for most of it must
    # not become the level), and half of those that leave room end again
    onset = rng.randint(steps // 8, 7 * steps // 8) if onset_mid else 0
    parts.append(",op=%s,onset=%d,x=%g" % (op, onset, magnitude))
    if onset_mid and onset <= 3 * steps // 4 and rng.random() < 0.5:
        parts.append(",end=%d" % rng.randint(onset + steps // 8, steps - steps // 8))
    if intermittent:
        parts.append(",duty=%.2f" % rng.uniform(0.3, 0.6))
    return "".join(parts)


def synth_command(synth, out, opts, faults):
    cmd = [synth, "-q", "-o", out, "-n", str(opts["world"]), "-r", str(opts["per_node"]),
           "-t", str(opts["steps"]), "-s", str(opts["seed"]), "--counting", opts["counting"],
           "--unit", opts["unit"], "--compress", "0", "--flush", "0.05",
           "--noise", ",".join("%s=%.6g" % kv for kv in sorted(opts["noise"].items()))]
    if opts["reset_at"] is not None:
        cmd += ["--reset-at", str(opts["reset_at"])]
    if opts["drop_prob"] > 0:
        cmd += ["--drop-prob", "%.6g" % opts["drop_prob"]]
    for f in faults:
        cmd += ["--fault", f]
    return cmd


def place_of(entry):
    kind = entry["kind"]
    if kind == "slow_path":
        return ("path", entry.get("src"), entry.get("dst"))
    if kind == "slow_node":
        return ("node", entry.get("node"))
    return ("rank", entry.get("rank"))


def same_place(f, e):
    """f names e's subject; a slow node of one rank is that rank as well (the
    last node when per_node does not divide world, or every node at per_node
    1): its data are that rank's, slow as a source or as a destination."""
    if f["op"] != e["op"]:
        return False
    if f["kind"] == e["kind"] and place_of(f) == place_of(e):
        return True
    lone = e["kind"] == "slow_node" and len(e.get("ranks") or []) == 1
    as_kind = "slow_source" if e.get("as_source") else "slow_destination"
    return lone and f["kind"] == as_kind and f.get("rank") == e["ranks"][0]


def match(findings, expected, window):
    """-> (per expected entry: None or onset error, false findings)."""
    result = [None] * len(expected)
    false = []
    for f in findings:
        hit = None
        for k, e in enumerate(expected):
            if same_place(f, e):
                hit = k
                break
        if hit is None:
            false.append(f)
            continue
        err = f["first_step"] - expected[hit]["first_step"]
        if result[hit] is None or abs(err) < abs(result[hit]):
            result[hit] = err
    return result, false


def run_trace(args, opts, faults):
    work = tempfile.mkdtemp(prefix="dxt-sweep-", dir=args.tmp)
    out = os.path.join(work, "trace")
    cmd = synth_command(args.synth, out, opts, faults)
    res = {"opts": opts, "faults": faults,
           "synth": " ".join("TRACE" if a == out else a for a in cmd[1:])}
    try:
        t0 = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            res["error"] = "dxt-synth exit %d: %s" % (p.returncode, p.stderr.strip()[-300:])
            return res
        acmd = [args.analyze, out, "--format", "json"]
        if opts["window"]:
            acmd += ["--window", str(opts["window"])]
        t1 = time.time()
        p = subprocess.run(acmd, capture_output=True, text=True)
        res["analyze"] = " ".join(["TRACE"] + acmd[2:])
        res["seconds"] = [round(t1 - t0, 2), round(time.time() - t1, 2)]
        if p.returncode != 0:
            res["error"] = "dxt-analyze exit %d: %s" % (p.returncode, p.stderr.strip()[-300:])
            return res
        report = json.loads(p.stdout)
        with open(os.path.join(out, "truth.json")) as fh:
            truth = json.load(fh)
        window = report.get("window_steps") or 1
        found, false = match(report["findings"], truth["expected"], window)
        skewed = {(s["op"], s["rank"]) for s in truth.get("static", {}).get("launch_skew", [])}
        res.update(window=window, expected=truth["expected"], found=found, false=false,
                   nfindings=len(report["findings"]),
                   on_skew=sum(1 for f in false if f["kind"] == "slow_source" and
                               (f["op"], f.get("rank")) in skewed))
        return res
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def healthy_jobs(args):
    for i in range(args.count):
        opts, _ = draw_trace(args.seed_base + i, args.small, stalls=args.stalls)
        yield opts, []


def fault_jobs(args):
    i = 0
    for rep in range(args.reps):
        for kind in KINDS:
            for mag in MAGNITUDES:
                for onset_mid in (False, True):
                    for intermittent in (False, True):
                        opts, rng = draw_trace(args.seed_base + i, args.small, stalls=args.stalls)
                        i += 1
                        yield opts, [draw_fault(rng, opts, kind, mag, onset_mid, intermittent)]


def run_all(args, jobs):
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_trace, args, o, f) for o, f in jobs]
        for k, fut in enumerate(concurrent.futures.as_completed(futures)):
            r = fut.result()
            results.append(r)
            if args.progress:
                print("  [%d/%d] N=%d T=%d %s: %s" % (
                    k + 1, len(futures), r["opts"]["world"], r["opts"]["steps"],
                    r["faults"][0] if r["faults"] else "healthy",
                    r.get("error") or "%d findings, %d false" % (r["nfindings"], len(r["false"]))),
                    file=sys.stderr, flush=True)
    results.sort(key=lambda r: r["opts"]["seed"])
    return results


def describe(f):
    place = place_of(f)
    return "%s %s %s steps %s-%s" % (f["kind"], f["op"], "/".join(str(p) for p in place[1:]),
                                     f["first_step"], f["last_step"])


def report_healthy(results, worst):
    errors = [r for r in results if "error" in r]
    ok = [r for r in results if "error" not in r]
    total = sum(len(r["false"]) for r in ok)
    with_any = sum(1 for r in ok if r["false"])
    print("healthy sweep: %d traces (%d failed to run), %d findings in total (all false), "
          "%d traces with findings" % (len(results), len(errors), total, with_any))
    kinds = {}
    for r in ok:
        for f in r["false"]:
            kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    if kinds:
        print("  by kind: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
        print("  of which slow_source on a rank with a static launch skew (truth.json "
              "static): %d" % sum(r.get("on_skew", 0) for r in ok))
    for lo, hi in ((8, 16), (17, 64), (65, 256)):
        sub = [r for r in ok if lo <= r["opts"]["world"] <= hi]
        if sub:
            print("  N %3d-%-3d: %3d traces, %5d findings" % (
                lo, hi, len(sub), sum(len(r["false"]) for r in sub)))
    for r in sorted(ok, key=lambda r: -len(r["false"]))[:worst]:
        if not r["false"]:
            break
        print("  %4d findings  seed %d N=%d R=%d T=%d window %s: %s" % (
            len(r["false"]), r["opts"]["seed"], r["opts"]["world"], r["opts"]["per_node"],
            r["opts"]["steps"], r["window"], describe(r["false"][0])))
        print("      dxt-synth %s && dxt-analyze %s" % (r["synth"], r["analyze"]))
    for r in errors:
        print("  ERROR seed %d: %s" % (r["opts"]["seed"], r["error"]))
    return total + len(errors)


def report_faults(results):
    errors = [r for r in results if "error" in r]
    ok = [r for r in results if "error" not in r]
    rows = {}
    for r in ok:
        f = r["faults"][0]
        kind = f.split(":")[0]
        mag = float(f.split("x=")[1].split(",")[0])
        row = rows.setdefault((kind, mag), {"n": 0, "found": 0, "onset": 0, "errs": [],
                                            "false": 0, "traces": 0})
        row["traces"] += 1
        row["false"] += len(r["false"])
        for e, got in zip(r["expected"], r["found"]):
            row["n"] += 1
            if got is not None:
                row["found"] += 1
                row["errs"].append(abs(got))
                row["onset"] += abs(got) <= r["window"]
    print("fault sweep: %d traces (%d failed to run)" % (len(results), len(errors)))
    print("  %-17s %5s %8s %10s %10s %12s %8s" % ("kind", "x", "traces", "found", "onset ok",
                                                "|onset err|", "false"))
    for (kind, mag) in sorted(rows):
        row = rows[(kind, mag)]
        errs = sorted(row["errs"])
        med = errs[len(errs) // 2] if errs else float("nan")
        print("  %-17s %5.1f %8d %4d/%-5d %4d/%-5d %12s %8d" % (
            kind, mag, row["traces"], row["found"], row["n"], row["onset"], row["n"],
            "%g" % med if errs else "-", row["false"]))
    for label, pred in (("onset at step 0", lambda r: "onset=0," in r["faults"][0]),
                        ("onset mid-run", lambda r: "onset=0," not in r["faults"][0]),
                        ("  ends mid-run", lambda r: ",end=" in r["faults"][0]),
                        ("persistent", lambda r: "duty=" not in r["faults"][0]),
                        ("intermittent", lambda r: "duty=" in r["faults"][0]),
                        ("N 8-16", lambda r: r["opts"]["world"] <= 16),
                        ("N 17-64", lambda r: 16 < r["opts"]["world"] <= 64),
                        ("N 65-256", lambda r: r["opts"]["world"] > 64)):
        sub = [r for r in ok if pred(r)]
        n = sum(len(r["expected"]) for r in sub)
        found = sum(sum(g is not None for g in r["found"]) for r in sub)
        onset = sum(sum(g is not None and abs(g) <= r["window"] for g in r["found"]) for r in sub)
        print("  %-16s found %4d/%-4d onset ok %4d, false %5d in %d traces" % (
            label, found, n, onset, sum(len(r["false"]) for r in sub), len(sub)))
    for r in errors:
        print("  ERROR seed %d: %s" % (r["opts"]["seed"], r["error"]))
    return len(errors)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.environ.get("DXT_BUILD", os.path.join(here, "..", "..", "build"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep", choices=["healthy", "faults"])
    ap.add_argument("--count", type=int, default=200, help="healthy traces (default 200)")
    ap.add_argument("--reps", type=int, default=1, help="fault sweep repetitions (80 traces each)")
    ap.add_argument("--seed-base", type=int, default=None,
                    help="first seed (default healthy 1000, faults 5000)")
    ap.add_argument("--small", action="store_true", help="N 8..32, 150-300 steps (CI)")
    ap.add_argument("--stalls", action="store_true",
                    help="ranks' hosts stall too (stall_prob 1e-4..3e-3 a rank and step, 1-30 "
                         "steps, 2-20x the compute time, Pareto 0.7-2): their false alarms")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--worst", type=int, default=10, help="worst traces printed")
    ap.add_argument("--json", help="write every trace's result here")
    ap.add_argument("--keep", action="store_true", help="keep the traces (in --tmp)")
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--allow-held-out", action="store_true",
                    help="run a held-out seed base (judging only)")
    ap.add_argument("--synth", default=os.path.join(build, "bin", "dxt-synth"))
    ap.add_argument("--analyze", default=os.path.join(build, "bin", "dxt-analyze"))
    args = ap.parse_args()
    if args.seed_base is None:
        args.seed_base = 1000 if args.sweep == "healthy" else 5000
    last = args.seed_base + max(args.count, args.reps * 80)
    if args.seed_base <= HELD_OUT[1] and last >= HELD_OUT[0] and not args.allow_held_out:
        ap.error("seeds %d-%d are held out for judging (--allow-held-out)" % HELD_OUT)
    for tool in (args.synth, args.analyze):
        if not os.access(tool, os.X_OK):
            ap.error("%s not built (make)" % tool)
    jobs = healthy_jobs(args) if args.sweep == "healthy" else fault_jobs(args)
    start = time.time()
    results = run_all(args, list(jobs))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    if args.sweep == "healthy":
        bad = report_healthy(results, args.worst)
    else:
        bad = report_faults(results)
    print("  (%.0f s, seed base %d, %d jobs)" % (time.time() - start, args.seed_base, args.jobs))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
