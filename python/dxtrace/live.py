"""dxtrace.live: the analyzer of dxt-analyze, fed window by window while a job runs.

A ctypes binding over libdxtanalysis (public header analyzer/dxtanalysis.h,
the dxt_live_* calls). Feed it the N x N wait matrices of successive windows
(M[i][j] = wait of rank i for rank j, summed over the window's steps) and ask
for the report at any time: the same calibrated findings as dxt-analyze gives
on a trace (report format v1, shared/contracts/report.md), over every window
fed so far, so onset, persistence, nodes and p-values come from the whole
history, not from the last window alone.

    from dxtrace import live
    lv = live.Live(world_size=16, ops=("dispatch", "combine"), unit="cycles")
    lv.add_window("dispatch", 1, 20, wait)          # numpy (16, 16), NAN = missing
    report = lv.report()                            # dict: "findings", ...
    lv.close()

The library is found through $DXTANALYSIS_LIB (a path), then build/lib of this
repository, then the system's libdxtanalysis.so.1.

Owner: the live-diagnosis engineer (python/dxtrace/live.py, diagnose.py).
Mirrors analyzer/dxtanalysis.h (owned by the analyzer engineer).
"""

import ctypes
import json
import math

import numpy as np

from . import _native

__all__ = ["Live", "LiveError", "load_analysis_library"]

REPORT_FORMATS = {"json": 0, "text": 1}
_ERR_LEN = 1024


class LiveError(RuntimeError):
    """The analysis library refused a call (or is missing); the message says why."""


def _signatures():
    c_int, c_char_p, c_size_t = ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t
    p_double, p_int64 = ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int64)
    sigs = {
        "dxt_live_new": (c_int, [c_char_p, c_int, ctypes.POINTER(c_int), c_int, c_int,
                                 ctypes.POINTER(c_char_p), c_char_p,
                                 ctypes.POINTER(ctypes.c_void_p), c_char_p, c_size_t]),
        "dxt_live_add_window": (c_int, [ctypes.c_void_p, c_int, ctypes.c_int64, ctypes.c_int64,
                                        p_double, p_double, p_int64, c_char_p, c_size_t]),
        "dxt_live_report": (c_int, [ctypes.c_void_p, c_int, ctypes.POINTER(ctypes.c_void_p),
                                    c_char_p, c_size_t]),
        "dxt_live_free_string": (None, [ctypes.c_void_p]),
        "dxt_live_free": (None, [ctypes.c_void_p]),
    }
    return sigs


def load_analysis_library():
    """The loaded libdxtanalysis (loaded once); LiveError when none is found."""
    return _native.load_once("DXTANALYSIS_LIB", "dxtanalysis", _signatures, LiveError,
                             "build it (make) or set DXTANALYSIS_LIB")


def _matrix(values, n, what):
    """values as a C-contiguous float64 (n, n) array (ValueError otherwise)."""
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.shape != (n, n):
        raise ValueError("%s: a %d x %d matrix expected (world size), got shape %s"
                         % (what, n, n, arr.shape))
    return arr


class Live(_native.Handle):
    """One live analysis: the windows of every op of one run, judged together.

    world_size: n ranks. ops: the op names (windows name an op by name or
    index). node_of: n node indices (ranks on one node share one), or None to
    group ranks by per_node (None or <= 0: 8, as dxt-analyze does). unit:
    "cycles" (DeepEP's clock64 stats) or "us". run_id: names the run in the
    report (None: "live")."""

    _closed_error = (LiveError, "this live analysis is closed")

    def __init__(self, world_size, ops=("dispatch", "combine"), run_id=None, node_of=None,
                 per_node=None, unit="cycles"):
        self._lib = load_analysis_library()
        self._handle = None
        self.world_size = int(world_size)
        self.ops = tuple(str(o) for o in ops)
        self._op_index = {name: k for k, name in enumerate(self.ops)}
        self._last_step = [None] * len(self.ops)
        ops_c = (ctypes.c_char_p * max(1, len(self.ops)))(*[o.encode() for o in self.ops])
        nodes_c = None
        if node_of is not None:
            if len(node_of) != self.world_size:
                raise ValueError("node_of: %d node indices expected (world size), got %d"
                                 % (self.world_size, len(node_of)))
            nodes_c = (ctypes.c_int * self.world_size)(*[int(x) for x in node_of])
        err = ctypes.create_string_buffer(_ERR_LEN)
        handle = ctypes.c_void_p()
        rc = self._lib.dxt_live_new(None if run_id is None else str(run_id).encode(),
                                    self.world_size, nodes_c, int(per_node or 0), len(self.ops),
                                    ops_c, unit.encode() if unit else None,
                                    ctypes.byref(handle), err, _ERR_LEN)
        if rc != 0 or not handle.value:
            raise LiveError("dxt_live_new: " + err.value.decode(errors="replace"))
        self._handle = handle

    def op_index(self, op):
        """The index of op (a name or an index); ValueError when unknown."""
        k = self._op_index.get(op) if isinstance(op, str) else int(op)
        if k is None or not 0 <= k < len(self.ops):
            raise ValueError("unknown op %r (ops: %s)" % (op, ", ".join(self.ops)))
        return k

    def add_window(self, op, first_step, last_step, wait, tokens=None, steps_per_rank=None):
        """Feed one window of op, steps first_step..last_step: wait (n x n,
        summed over the window's steps, NAN = missing), tokens (n x n or None),
        steps_per_rank (n rows each rank summed in, or None: all complete).
        Windows of one op must come in step order. LiveError when refused."""
        handle, k = self._live(), self.op_index(op)
        n = self.world_size
        w = _matrix(wait, n, "wait")
        t = None if tokens is None else _matrix(tokens, n, "tokens")
        rows = None
        if steps_per_rank is not None:
            rows = np.ascontiguousarray(steps_per_rank, dtype=np.int64).reshape(-1)
            if rows.size != n:
                raise ValueError("steps_per_rank: %d values expected, got %d" % (n, rows.size))
        p_double, p_int64 = ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int64)
        err = ctypes.create_string_buffer(_ERR_LEN)
        rc = self._lib.dxt_live_add_window(
            handle, k, int(first_step), int(last_step), w.ctypes.data_as(p_double),
            None if t is None else t.ctypes.data_as(p_double),
            None if rows is None else rows.ctypes.data_as(p_int64), err, _ERR_LEN)
        if rc != 0:
            raise LiveError("dxt_live_add_window(%s, steps %d-%d): %s"
                            % (self.ops[k], first_step, last_step,
                               err.value.decode(errors="replace")))
        self._last_step[k] = int(last_step)

    def last_step(self, op):
        """The last step of op's windows fed so far (None: none yet)."""
        return self._last_step[self.op_index(op)]

    def report(self, format="json"):
        """The report over every window fed so far: a dict (format "json",
        report format v1) or the text report (format "text")."""
        handle = self._live()
        if format not in REPORT_FORMATS:
            raise ValueError("format must be one of %s" % sorted(REPORT_FORMATS))
        out = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_ERR_LEN)
        rc = self._lib.dxt_live_report(handle, REPORT_FORMATS[format], ctypes.byref(out), err,
                                       _ERR_LEN)
        if rc != 0 or not out.value:
            raise LiveError("dxt_live_report: " + err.value.decode(errors="replace"))
        try:
            text = ctypes.string_at(out.value).decode(errors="replace")
        finally:
            self._lib.dxt_live_free_string(out)
        return json.loads(text, parse_constant=lambda c: math.nan) if format == "json" else text

    def close(self):
        """Free the analysis. Idempotent."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._lib.dxt_live_free(handle)
