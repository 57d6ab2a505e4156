"""dxtrace.analysis: dxt-analyze's results in a notebook, as Python objects and numpy arrays.

The analysis itself is dxt-analyze's (the C tool, run as a child process), not
a Python re-implementation: the findings are the report's, field for field
(docs/report.schema.json), and the matrices are the ones it classified.

    from dxtrace import analysis
    report = analysis.analyze("trace")                 # dict: the JSON report
    for f in report["findings"]:
        print(f["kind"], f["op"], f.get("rank"), f["first_step"], f["severity"])
    m = analysis.matrices("trace", op="dispatch")      # Matrices: per window N x N
    m.wait[k]        # numpy (N, N): wait of rank i for rank j per step, window k (NAN: none)
    m.first_steps[k], m.last_steps[k]
    w = analysis.read_wait("trace/rank-00003.h5", "dispatch")   # (steps, T x N per-step waits)

dxt-analyze is found through $DXT_ANALYZE, then build/bin of this repository,
then PATH. Failures raise AnalysisError with dxt-analyze's message.

Owner: the users engineer (python/dxtrace/analysis.py).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["AnalysisError", "Matrices", "analyze", "matrices", "read_wait", "find_analyzer"]


class AnalysisError(RuntimeError):
    """dxt-analyze failed (no usable input, a bad option, ...); the message says why."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def find_analyzer() -> str:
    """The dxt-analyze program: $DXT_ANALYZE, build/bin of this repository, or PATH."""
    env = os.environ.get("DXT_ANALYZE")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    repo_tool = os.path.join(os.path.dirname(os.path.dirname(here)), "build", "bin", "dxt-analyze")
    if os.access(repo_tool, os.X_OK):
        return repo_tool
    found = shutil.which("dxt-analyze")
    if not found:
        raise AnalysisError("dxt-analyze not found: build it (make) or set $DXT_ANALYZE", 127)
    return found


def _options(window: Optional[int], first_step: Optional[int], last_step: Optional[int],
             ops: Sequence[str], extra: Sequence[str]) -> List[str]:
    args: List[str] = []
    if window is not None:
        args += ["--window", str(int(window))]
    if first_step is not None:
        args += ["--from", str(int(first_step))]
    if last_step is not None:
        args += ["--to", str(int(last_step))]
    for op in ops:
        args += ["--op", op]
    return args + list(extra)


def _run(trace: str, args: Sequence[str]) -> str:
    proc = subprocess.run([find_analyzer(), os.fspath(trace), *args], capture_output=True,
                          text=True)
    if proc.returncode not in (0, 4):  # 4: the report is there, a picture is not
        message = proc.stderr.strip() or "dxt-analyze exited %d" % proc.returncode
        raise AnalysisError(message, proc.returncode)
    return proc.stdout


def analyze(trace: str, *, window: Optional[int] = None, first_step: Optional[int] = None,
            last_step: Optional[int] = None, ops: Sequence[str] = (),
            extra_args: Sequence[str] = ()) -> Dict:
    """The JSON report of dxt-analyze on trace (a trace directory, a DeepXTrace
    log or a text matrix) as a dict: findings, ops, nodes, ... (every field:
    docs/report.schema.json). Options as dxt-analyze's --window, --from, --to,
    --op; extra_args are passed as they are (e.g. ["--per-node", "4"])."""
    text = _run(trace, ["--format", "json", *_options(window, first_step, last_step, ops,
                                                        extra_args)])
    return json.loads(text)


@dataclass
class Matrices:
    """One op's windows: wait[k] is window k's N x N matrix (wait of rank i for
    rank j per step of i: with step_every=K a row's counts cover K steps; NAN on the
    diagonal and where there is no value)."""
    op: str
    first_steps: np.ndarray  # (W,) int64
    last_steps: np.ndarray   # (W,) int64
    wait: np.ndarray         # (W, N, N) float64


def matrices(trace: str, op: str, *, window: Optional[int] = None,
             first_step: Optional[int] = None, last_step: Optional[int] = None,
             world_size: Optional[int] = None, extra_args: Sequence[str] = ()) -> Matrices:
    """The per-window matrices dxt-analyze classifies, for one op (dxt-analyze
    --format csv --matrices). world_size: N when known (else from the report)."""
    args = _options(window, first_step, last_step, [op], extra_args)
    if world_size is None:
        world_size = int(analyze(trace, window=window, first_step=first_step,
                                 last_step=last_step, ops=[op], extra_args=extra_args)["world_size"])
    text = _run(trace, ["--format", "csv", "--matrices", *args])
    windows: Dict[Tuple[int, int], np.ndarray] = {}
    for row in csv.DictReader(io.StringIO(text)):
        key = (int(row["first_step"]), int(row["last_step"]))
        m = windows.get(key)
        if m is None:
            m = windows[key] = np.full((world_size, world_size), np.nan)
        if row["wait_per_step"]:
            m[int(row["i"]), int(row["j"])] = float(row["wait_per_step"])
    keys = sorted(windows)
    wait = np.stack([windows[k] for k in keys]) if keys else np.empty((0, world_size, world_size))
    return Matrices(op, np.array([k[0] for k in keys], dtype=np.int64),
                    np.array([k[1] for k in keys], dtype=np.int64), wait)


def _text(value) -> str:
    """A string attribute: h5py gives fixed-length strings as bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)


def read_wait(path: str, op: str) -> Tuple[np.ndarray, np.ndarray]:
    """One rank file's op as (steps (T,), wait (T, N)) with the wait of each
    step (cumulative counters differenced: the first row is dropped), in the
    file's unit. Needs h5py (Debian's python3-h5py)."""
    import h5py  # only this function needs it

    with h5py.File(path, "r") as f:
        d = f["ops/%s/wait" % op]
        wait = d[:].astype(np.float64)
        steps = f["ops/%s/step" % op][:]
        if _text(d.attrs["counting"]) == "cumulative":
            wait = np.diff(wait, axis=0)
            steps = steps[1:]
    return steps, wait
