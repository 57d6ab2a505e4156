#!/usr/bin/env python3
"""observe.py CASE_DIR... - check that each injected fault shows in the recorded matrix
before it is trusted as truth, and say in truth.json what it shows.

For each expected finding of CASE_DIR/truth.json (kind, op, rank or src/dst), the wait
per step (us) of its pattern - the rank's column (what the others waited for it), its
row (what it waited for), or the cell dst <- src - is compared before the onset and while
the fault is on (warm-up steps left out). The entry gets `observed`: {before_us,
during_us, shift_us, noise_us, shows}, where noise_us is the standard deviation of the
pattern's 20-step means before the onset and `shows` is shift_us > max(1 us, 4 x noise).
A fault on from the first step has no healthy steps to compare with: its pattern is
compared with the same pattern of the other ranks instead (peers_us; shows: above them by
more than max(1 us, 4 x their spread, half their mean)). For a slow path, the sender's column in every op is also reported (`echo`): in a
synchronized exchange a late release makes the sender late in the next op.
`unplanned` lists ranks that were late although nothing was injected into them (see
unplanned_late_ranks). Exit 1 when a trace cannot be read. Needs h5py and numpy.

Owner: the DeepEP harness (samples/deepep/).
"""
import glob
import json
import os
import sys

import h5py
import numpy as np

WARMUP = 10       # steps left out at the start (DeepEP's first steps wait milliseconds)
BLOCK = 20        # steps per mean when estimating the noise
REGIME_BLOCKS = 3 # blocks in a row that make a late host's regime


def load(case_dir, op):
    """{rank: (steps, per-step wait in us, T-1 x N)} of op."""
    out = {}
    for path in sorted(glob.glob(os.path.join(case_dir, "rank-*.h5"))):
        with h5py.File(path, "r") as f:
            rank = int(f.attrs["rank"])
            g = f["ops"][op]
            wait = g["wait"][()].astype(np.float64)
            steps = g["step"][()]
            hz = g["clock_hz"][()] if "clock_hz" in g else None
            if hz is None or not np.isfinite(hz).all():
                hz = np.full(len(steps), float(f.attrs["clock_hz"]))
        delta = np.diff(wait, axis=0) / hz[1:, None] * 1e6
        out[rank] = (steps[1:], delta)
    return out


def matrix_series(ranks, n):
    """steps, M[t][i][j] (us) over the steps every rank holds."""
    common = None
    for steps, _ in ranks.values():
        common = set(steps.tolist()) if common is None else common & set(steps.tolist())
    steps = np.array(sorted(common))
    m = np.zeros((len(steps), n, n))
    for i, (s, d) in ranks.items():
        m[:, i, :] = d[np.isin(s, steps)]
    return steps, m


def pattern_series(m, e, n):
    """Per-step mean of the cells of e's pattern (diagonal left out)."""
    if e["pattern"] == "cell":
        return m[:, e["dst"], e["src"]]
    r = e["rank"]
    others = [k for k in range(n) if k != r]
    if e["pattern"] == "row":
        return m[:, r, others].mean(axis=1)
    return m[:, others, r].mean(axis=1)


def against_peers(m, e, n, steps, end):
    """A fault on from the first step: its pattern against the same pattern of every
    other rank over the same steps (peers_us: their mean, noise_us: their spread)."""
    keep = (steps >= WARMUP) & (steps <= end)
    own = float(pattern_series(m, e, n)[keep].mean())
    peers = [float(pattern_series(m, dict(e, rank=r), n)[keep].mean())
             for r in range(n) if r != e["rank"]]
    noise = float(np.std(peers)) if len(peers) > 1 else 0.0
    shift = own - float(np.mean(peers))
    return {"peers_us": round(float(np.mean(peers)), 3), "during_us": round(own, 3),
            "shift_us": round(shift, 3), "noise_us": round(noise, 3),
            "shows": bool(shift > max(1.0, 4 * noise, 0.5 * float(np.mean(peers))))}


def compare(series, steps, onset, end):
    before = series[(steps >= WARMUP) & (steps < onset)]
    during = series[(steps >= max(onset, WARMUP)) & (steps <= end)]
    if len(before) < BLOCK or len(during) == 0:
        return None
    blocks = before[: len(before) // BLOCK * BLOCK].reshape(-1, BLOCK).mean(axis=1)
    noise = float(np.std(blocks)) if len(blocks) > 1 else 0.0
    shift = float(np.mean(during) - np.mean(before))
    return {"before_us": round(float(np.mean(before)), 3), "during_us": round(float(np.mean(during)), 3),
            "shift_us": round(shift, 3), "noise_us": round(noise, 3),
            "shows": bool(shift > max(1.0, 4 * noise))}


def late_entry(op, r, run):
    """One regime: run holds (first step, last step, column, others' median) per block."""
    return {"kind": "slow_source", "op": op, "rank": int(r),
            "first_step": int(run[0][0]), "last_step": int(run[-1][1]),
            "column_us": round(float(np.mean([x[2] for x in run])), 3),
            "median_column_us": round(float(np.mean([x[3] for x in run])), 3),
            "cause": "not injected: this rank's host launched late"}


def block_columns(blk, ranks):
    """{r: mean wait of the other ranks of `ranks` for r} over one block of steps."""
    return {r: float(blk[:, [k for k in ranks if k != r], r].mean()) for r in ranks}


def late_regimes(op, steps, m, ranks):
    """Launch races come in regimes of tens to hundreds of steps. Per block of BLOCK
    steps, among `ranks` (their waits for each other only), rank r is late when its
    column is over twice the median of the others' columns and 5 us above it (the others'
    median, so that it holds at EP2); late in REGIME_BLOCKS or more blocks in a row is one
    entry over those steps."""
    if len(ranks) < 2:
        return []
    blocks = [(steps[b], steps[b + BLOCK - 1], block_columns(m[b:b + BLOCK], ranks))
              for b in range(0, len(steps) - BLOCK + 1, BLOCK)]
    found = []
    for r in ranks:
        run = []
        for first, last, cols in blocks + [(None, None, None)]:
            typical = np.median([c for k, c in cols.items() if k != r]) if cols else 0.0
            if cols and cols[r] > max(2 * typical, typical + 5.0):
                run.append((first, last, cols[r], float(typical)))
                continue
            if len(run) >= REGIME_BLOCKS:
                found.append(late_entry(op, r, run))
            run = []
    return found


def unplanned_late_ranks(series, truth, n):
    """Ranks that everyone waits for although no fault was injected into them: a host that
    launches late (Python launch races between the processes), each regime of
    late_regimes. Before the first onset (every step of a healthy case) among all ranks;
    from it on among the ranks no fault names (rank, src, dst). These are real slow
    sources, not injected ones."""
    first = min([f["onset"] for f in truth["faults"]] + [truth["steps"]])
    named = {f.get(k) for f in truth["faults"] for k in ("rank", "src", "dst")}
    clean = [r for r in range(n) if r not in named]
    found = []
    for op, (steps, m) in series.items():
        for keep, ranks in (((steps >= WARMUP) & (steps < first), list(range(n))),
                            ((steps >= max(first, WARMUP)), clean)):
            found += late_regimes(op, steps[keep], m[keep], ranks)
    return found


def observe(case_dir):
    path = os.path.join(case_dir, "truth.json")
    with open(path) as fh:
        truth = json.load(fh)
    n = truth["world_size"]
    series = {op: matrix_series(load(case_dir, op), n) for op in truth["ops"]}
    for e in truth["expected"]:
        steps, m = series[e["op"]]
        e["observed"] = compare(pattern_series(m, e, n), steps, e["onset"], e["end"])
        if e["observed"] is None and e["pattern"] != "cell":
            e["observed"] = against_peers(m, e, n, steps, e["end"])
        if e["observed"] is None:
            e["observed"] = {"shows": None, "why": "no healthy steps before the onset"}
    for f in truth["faults"]:
        if f["kind"] == "slow_path":
            f["echo"] = {op: compare(pattern_series(m, {"pattern": "column", "rank": f["src"]}, n),
                                     steps, f["onset"], f["end"]) or {"shows": None}
                         for op, (steps, m) in series.items()}
    truth["unplanned"] = unplanned_late_ranks(series, truth, n)
    with open(path, "w") as fh:
        json.dump(truth, fh, indent=1)
    shows = ["%s %s %s" % (e["kind"], e["op"], "shows" if e["observed"]["shows"] else
                           "does NOT show" if e["observed"]["shows"] is False else "untestable")
             for e in truth["expected"]]
    late = sorted({"%s %d" % (u["op"][:4], u["rank"]) for u in truth["unplanned"]})
    print("%-32s %s%s" % (os.path.basename(case_dir.rstrip("/")), "; ".join(shows) or "healthy",
                          "; late host (not injected): " + ", ".join(late) if late else ""))


def main(argv):
    if not argv:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    failed = 0
    for case_dir in argv:
        try:
            observe(case_dir)
        except (OSError, KeyError, ValueError) as e:
            print("FAIL %s: %s" % (case_dir, e))
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
