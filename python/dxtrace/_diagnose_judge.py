"""Rank 0's side of dxtrace.diagnose: the windows gathered from every rank
become live windows of the C analyzer (dxtrace.live), and its findings become
DeepXTrace's result dicts.

Input, per diagnosis: the windows since the last diagnosis as (first_step,
last_step) and their differences D[r, w, o, :] = rank r's stats of op o at the
end of window w minus at its start (int64; rank r's row of M: its wait for
each peer, summed over the window's steps). A negative difference means the
rank's counters were zeroed inside the window: its row of that window is
missing (NAN), and the next window is whole again.

Output, per op: {"abnormal_cols": [[rank, mean, severity]], "abnormal_rows":
[[rank, mean, severity]], "abnormal_points": [[dst, src, value, severity]],
"findings": [finding objects of the JSON report]}, from the findings active in
the windows just diagnosed: slow_source -> cols, slow_destination -> rows
(a slow_node lists each of its ranks there too), slow_path -> points. mean
and value are the wait per step of the column, row or cell over those windows.

Owner: the live-diagnosis engineer (python/dxtrace/diagnose.py and its helpers).
"""

import numpy as np

from . import live

KIND_KEYS = {"slow_source": "abnormal_cols", "slow_destination": "abnormal_rows"}


def window_matrix(diffs_rows):
    """One window of one op as the analyzer wants it: float (N, N) with NAN
    on the diagonal, where nothing was waited (0) and on rows of ranks whose
    counters went back (zeroed by the user)."""
    m = np.asarray(diffs_rows, dtype=np.float64).copy()
    m[(m < 0).any(axis=1)] = np.nan
    m[m == 0] = np.nan
    np.fill_diagonal(m, np.nan)
    return m


class WindowJudge:
    """One mode's (LL or normal) live analysis on rank 0, kept across diagnoses.

    ops: the op names of the mode, in the order of the gathered differences;
    node_of: each rank's node index, or None to group ranks by per_node.
    When libdxtanalysis cannot be loaded, fallback_reason says why and judge()
    applies DeepXTrace's rule (diagnose_rule) to the summed matrix instead."""

    def __init__(self, world_size, ops, run_id, node_of, per_node, diagnose_rule,
                 unit="cycles"):
        self.world_size = int(world_size)
        self.ops = tuple(ops)
        self.diagnose_rule = diagnose_rule
        self.fallback_reason = None
        self.last_sum = None  # (N, nops, N) int64: the waits of the last diagnosis
        try:
            self.live = live.Live(self.world_size, self.ops, run_id=run_id, node_of=node_of,
                                  per_node=per_node, unit=unit)
        except live.LiveError as e:
            self.live = None
            self.fallback_reason = str(e)

    def judge(self, windows, diffs):
        """Feed the windows (list of (first_step, last_step)) with their
        differences (R, W, nops, N) and return one result dict per op."""
        diffs = np.asarray(diffs, dtype=np.int64)
        mats = [[window_matrix(diffs[:, w, o, :]) for w in range(len(windows))]
                for o in range(len(self.ops))]
        self.last_sum = self._summed(diffs)
        if self.live is None:
            return [self._fallback(o) for o in range(len(self.ops))]
        fed = [False] * len(windows)
        for o, op in enumerate(self.ops):
            for w, (first, last) in enumerate(windows):
                if np.isnan(mats[o][w]).all():
                    continue  # nothing ran in it (an idle job): no evidence either way
                self.live.add_window(op, first, last, mats[o][w])
                fed[w] = True
        if not any(fed):
            return [self.empty_result() for _ in self.ops]
        report = self.live.report()
        span = (windows[0][0], windows[-1][1])
        steps = np.array([last - first + 1 for first, last in windows], dtype=np.float64)
        return [self._result(report, op, span, windows, mats[o], steps)
                for o, op in enumerate(self.ops)]

    def _summed(self, diffs):
        """The mode's waits since the last diagnosis (N, nops, N), windows whose
        row went back left out: what DeepXTrace would have gathered."""
        kept = np.where((diffs < 0).any(axis=3, keepdims=True), 0, diffs)
        return kept.sum(axis=1)

    @staticmethod
    def empty_result():
        return {"abnormal_cols": [], "abnormal_rows": [], "abnormal_points": [], "findings": []}

    def _fallback(self, o):
        res = self.diagnose_rule(self.last_sum[:, o, :])
        res["findings"] = []
        return res

    def _result(self, report, op, span, windows, mats, steps):
        res = self.empty_result()
        entries = {"abnormal_cols": {}, "abnormal_rows": {}, "abnormal_points": {}}
        for f in report.get("findings", []):
            if f.get("op") != op or f["last_step"] < span[0] or f["first_step"] > span[1]:
                continue
            res["findings"].append(f)
            active = [w for w, (first, last) in enumerate(windows)
                      if last >= f["first_step"] and first <= f["last_step"]]
            per_step = [mats[w] / steps[w] for w in active]
            for key, subject, mean in _entries(f, per_step):
                old = entries[key].get(subject)
                if old is None or f["severity"] > old[-1]:
                    entries[key][subject] = list(subject) + [mean, float(f["severity"])]
        for key, by_subject in entries.items():
            res[key] = [by_subject[s] for s in sorted(by_subject)]
        return res


def _nanmean(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def _entries(finding, per_step):
    """(result key, subject tuple, mean wait per step) of one finding: rank
    tuples for cols and rows, (dst, src) for points; none for other kinds."""
    kind = finding["kind"]
    if kind in KIND_KEYS:
        rank = int(finding["rank"])
        axis_values = [m[:, rank] if kind == "slow_source" else m[rank, :] for m in per_step]
        yield KIND_KEYS[kind], (rank,), _nanmean(axis_values)
    elif kind == "slow_path":
        dst, src = int(finding["dst"]), int(finding["src"])
        yield "abnormal_points", (dst, src), _nanmean([m[dst, src] for m in per_step])
    elif kind == "slow_node":
        as_source = finding.get("as") == "source"
        for rank in finding.get("ranks", []):
            values = [m[:, rank] if as_source else m[rank, :] for m in per_step]
            yield ("abnormal_cols" if as_source else "abnormal_rows"), (int(rank),), \
                _nanmean(values)
