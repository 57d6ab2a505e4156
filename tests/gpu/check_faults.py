#!/usr/bin/env python3
"""check_faults.py TRACE_DIR - on a GPU machine without dxt-analyze (no jansson
there), check that a dxt-ep-nccl trace shows what its truth.json says was
injected: rebuild M[i][j] = mean wait of rank i for rank j per step (us) before
and after the onset, for each op; a faulted cell must wait at least half the
injected delay more than the healthy cells (a slow destination: at least 0.9x
the delay, which overlaps the arrival, and a quarter of it more than the
others), and the other cells must stay near their healthy values (within
1.5x + 2 us). A healthy trace prints its
matrices only. Prints the matrices and one verdict line; exit 1 on a failure.

Owner: the multi-GPU (NCCL) side of dxtrace (tests/gpu/run_nccl.sh).
"""
import glob
import json
import os
import sys

import h5py
import numpy as np

OPS = ("dispatch", "combine")


def load(trace):
    """{op: (steps[T], wait[T][N][N] cumulative cycles)}, clock_hz, N."""
    files = sorted(glob.glob(os.path.join(trace, "rank-*.h5")))
    if not files:
        raise ValueError("%s: no rank files" % trace)
    rows, steps, hz = {op: [] for op in OPS}, {}, []
    for path in files:
        with h5py.File(path, "r") as f:
            hz.append(float(f.attrs["clock_hz"]))
            for op in OPS:
                rows[op].append(f["ops"][op]["wait"][()])
                steps[op] = f["ops"][op]["step"][()]
    n = len(files)
    out = {}
    for op in OPS:
        t = min(r.shape[0] for r in rows[op])
        out[op] = (steps[op][:t], np.stack([r[:t] for r in rows[op]], axis=1))  # T x N x N
        if out[op][1].shape[1:] != (n, n):
            raise ValueError("%s %s: want %d x %d matrices" % (trace, op, n, n))
    return out, float(np.median(hz)), n


def window(steps, wait, first, last, hz):
    """Mean wait per step (us) of each cell over steps [first, last)."""
    i0 = int(np.searchsorted(steps, first)) - 1
    i1 = int(np.searchsorted(steps, last)) - 1
    if i1 <= max(i0, 0):
        raise ValueError("window %d..%d has no steps" % (first, last))
    before = wait[i0] if i0 >= 0 else np.zeros_like(wait[0])
    span = (i1 - i0) if i0 >= 0 else (i1 + 1)
    return (wait[i1] - before).astype(np.float64) / span / hz * 1e6


def faulted_cells(fault, n, op):
    mask = np.zeros((n, n), dtype=bool)
    if op not in fault.get("ops", OPS):
        return mask
    kind = fault["kind"]
    if kind == "slow_source":
        mask[:, fault["rank"]] = True
    elif kind == "slow_destination":
        mask[fault["rank"], :] = True
    elif kind == "slow_path":
        mask[fault["dst"], fault["src"]] = True
    return mask


def show(name, m, mask):
    print("  %s:" % name)
    for i, row in enumerate(m):
        print("    " + " ".join("%7.2f%s" % (v, "*" if mask[i, j] else " ")
                                for j, v in enumerate(row)))


def check_op(op, steps, wait, truth, hz, n, problems):
    faults = truth.get("faults", [])
    last = int(steps[-1]) + 1
    if not faults:
        show("%s, all steps" % op, window(steps, wait, int(steps[0]), last, hz),
             np.zeros((n, n), dtype=bool))
        return
    f = faults[0]
    onset, delay_us = int(f["onset"]), float(f["delay_ns"]) / 1e3
    mask = faulted_cells(f, n, op)
    margin = max(2, (last - onset) // 10)
    healthy = window(steps, wait, int(steps[0]) + 2, onset, hz)
    faulty = window(steps, wait, onset + margin, last, hz)
    show("%s before step %d" % (op, onset), healthy, np.zeros((n, n), dtype=bool))
    show("%s from step %d" % (op, onset + margin), faulty, mask)
    if not mask.any():
        return
    base = np.median(faulty[~mask]) if (~mask).any() else np.median(healthy[mask])
    low = faulty[mask].min()
    # a late sender adds its delay to the wait; a slow destination starts looking
    # late, so its wait is the delay or the arrival, whichever is later
    want = (max(0.9 * delay_us, base + 0.25 * delay_us) if f["kind"] == "slow_destination"
            else base + 0.5 * delay_us)
    if low < want:
        problems.append("%s: a faulted cell waits %.2f us, want >= %.2f (others %.2f, delay "
                        "%.1f us)" % (op, low, want, base, delay_us))
    grown = (faulty > 1.5 * healthy + 2.0) & ~mask
    if grown.any():
        i, j = np.argwhere(grown)[0]
        problems.append("%s: %d cells outside the fault grew, e.g. (%d,%d) %.2f -> %.2f us" %
                        (op, int(grown.sum()), i, j, healthy[i, j], faulty[i, j]))


def main():
    if len(sys.argv) != 2:
        print("usage: check_faults.py TRACE_DIR")
        return 2
    trace = sys.argv[1]
    problems, truth = [], {}
    try:
        with open(os.path.join(trace, "truth.json")) as fh:
            truth = json.load(fh)
        data, hz, n = load(trace)
        for op in OPS:
            check_op(op, data[op][0], data[op][1], truth, hz, n, problems)
    except (OSError, ValueError, KeyError) as e:
        problems.append(str(e))
    kinds = [f.get("kind", "?") for f in truth.get("faults", [])]
    print("check_faults %s: %s; %s" % (os.path.basename(trace.rstrip("/")),
                                       ", ".join(kinds) or "healthy",
                                       "ok" if not problems else "PROBLEMS: " + "; ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
