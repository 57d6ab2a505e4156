#!/usr/bin/env python3
"""check_trace.py TRACE_DIR STEPS - check a trace written by dxt-ep-gpu through
the CUDA path: one file per rank, every step of both ops present (no drops),
cumulative waits never decreasing, tokens present, the GPU's name/UUID/clock
in the root attributes, and the per-row measured clock rate. Prints one line;
exit 1 on a failure. Used by tests/gpu/run.sh (h5py, numpy).

Owner: the GPU side of dxtrace.
"""
import glob
import os
import sys

import h5py
import numpy as np


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def check_file(path, steps, problems, rates):
    with h5py.File(path, "r") as f:
        a = f.attrs
        if not text(a.get("gpu_uuid", "")).startswith("GPU-") or not text(a.get("gpu_name", "")):
            problems.append("%s: gpu_name/gpu_uuid missing" % path)
        for op in ("dispatch", "combine"):
            g = f["ops"][op]
            w, s = g["wait"][()], g["step"][()]
            dropped = int(g.attrs.get("rows_dropped", 0))
            if w.shape[0] != steps or dropped:
                problems.append("%s %s: %d rows, %d dropped (want %d)" %
                                (path, op, w.shape[0], dropped, steps))
            if (np.diff(w, axis=0) < 0).any() or (np.diff(s) <= 0).any():
                problems.append("%s %s: wait decreases or steps out of order" % (path, op))
            if "tokens" not in g or (g["tokens"][()] < 0).any():
                problems.append("%s %s: tokens missing or unknown" % (path, op))
            if "clock_hz" in g:
                hz = g["clock_hz"][()]
                rates.extend(hz[np.isfinite(hz)].tolist())
        return float(a["clock_hz"]), text(a["gpu_name"])


def main():
    if len(sys.argv) != 3:
        print("usage: check_trace.py TRACE_DIR STEPS")
        return 2
    trace, steps = sys.argv[1], int(sys.argv[2])
    files = sorted(glob.glob(os.path.join(trace, "*.h5")))
    problems, rates = [], []
    peak, name = 0.0, "?"
    for p in files:
        peak, name = check_file(p, steps, problems, rates)
    if not files:
        problems.append("%s: no rank files" % trace)
    r = np.array(rates) if rates else np.array([np.nan])
    print("check_trace %s: %d files, %s, peak clock %.0f MHz, measured clock_hz rows %d: "
          "median %.0f MHz (min %.0f, max %.0f); %s" %
          (os.path.basename(trace), len(files), name, peak / 1e6, len(rates),
           np.median(r) / 1e6, r.min() / 1e6, r.max() / 1e6,
           "ok" if not problems else "PROBLEMS: " + "; ".join(problems[:5])))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
