"""dxtrace.diagnose: a drop-in for DeepXTrace's diagnose module, answered by dxtrace's analyzer.

Switch by changing one import line:

    from deepxtrace import diagnose as ds      # before
    from dxtrace import diagnose as ds         # after

Everything DeepXTrace's users call is here with the same meaning: the class
Diagnose(group, interval=20, enable_ll_diagnose=True, enable_normal_diagnose=False,
enable_async=False), get_stats_ll_stats_tensor() / get_stats_normal_stats_tensor()
(int64 tensors of group.size() values to pass to DeepEP's kernels),
diagnose_ll_sync(diagnose_step=0) / diagnose_normal_sync(...), start_async_diagnose()
/ stop_async_diagnose(), the static diagnose_matrix() (DeepXTrace's rule, exactly),
the DEEPEP_DIAGNOSE_* environment variables with their defaults, the log file
DEEPEP_DIAGNOSE_LOG_PATH/diagnose_rank<r>.log and its line shape, and the results:
at a diagnosis step rank 0 gets [dispatch, combine], each {"abnormal_cols": [[j, mean,
ratio]], "abnormal_rows": [[i, mean, ratio]], "abnormal_points": [[i, j, value, ratio]]},
other ranks [] (as DeepXTrace), and every other step None.

What changes is where the answer comes from. M[i][j] is the wait of rank i for rank j
(rank i's stats entry j; DeepEP adds to it every step). Instead of one cumulative
matrix judged by fixed ratios, each rank snapshots its counters every window_steps
steps (a copy queued on the current stream, never waited for), rank 0 receives the
windows at each diagnosis and feeds their differences to dxtrace's analyzer
(libdxtanalysis, dxtrace.live), which keeps every window since the start. So:
- abnormal_cols are slow_source findings active in the windows just diagnosed,
  abnormal_rows slow_destination, abnormal_points slow_path ([dst, src, ...]); a
  slow_node lists its ranks in cols (as sources) or rows (as destinations). mean /
  value is the wait per step of that column, row or cell (stats unit, cycles) over the
  finding's windows in this diagnosis; ratio is its severity (observed over expected).
- every result also has "findings": the findings as objects of dxt-analyze's JSON
  report (kind, op, rank | src, dst | node, first_step, last_step, severity, score,
  share, persistent, p_value, ...): onset, persistence, nodes, calibrated p-values.
- a healthy run returns nothing abnormal: every finding is a test against the run's
  own noise (p < 0.01 over the whole run), not a fixed threshold.
- the classifier needs history: a few tens of windows before it calls anything. With
  the defaults (window_steps=20, DEEPEP_DIAGNOSE_SYNC_STEP=580) one diagnosis brings 29
  windows; something present from the very first step is judged by its structure
  (columns, rows, cells against the rest) once enough windows exist.
- async mode diagnoses every interval seconds after the warming time, over a gloo
  group, one window per interval (numbered by interval unless step() is called every
  step, a dxtrace extension): its answers need tens of intervals of history.
- without libdxtanalysis (only the Python package installed), results fall back to
  DeepXTrace's rule on the summed matrix, with a warning and a log line.

DeepEP's counters are never zeroed (DeepXTrace zeroes them at each diagnosis): the
windows are differences of snapshots, so zeroing is not needed, and not zeroing keeps
the recorded trace cumulative and whole. If the user zeroes them anyway, the window in
which it happened loses that rank's row (its differences go negative) and the next
windows are whole again.

dxtrace's own keyword arguments: trace_dir (None: $DXTRACE_DIR; unset: no trace):
every step is also recorded there, one file per rank (dxtrace.Recorder; no added
synchronization), so the post-mortem exists when the job dies (`dxt-analyze DIR`);
window_steps (20); run_id (None: "diagnose-<instance id>"); device (None: "cuda" when
available, else "cpu"); per_node (None: ranks are grouped into nodes by host name);
trace_every (None: window_steps): the trace gets a row every trace_every steps, one
small kernel each (the counters are cumulative: nothing but per-step detail is lost;
1 records every step, at about 4 us of launch and GPU time a step).

Environment (as DeepXTrace): DEEPEP_DIAGNOSE_ENABLE (1), DEEPEP_DIAGNOSE_INTERVAL (the
interval argument, seconds), DEEPEP_DIAGNOSE_WARMING_TIME (the interval),
DEEPEP_DIAGNOSE_SYNC_STEP (580), DEEPEP_DIAGNOSE_LOG_PATH ("."),
DEEPEP_DIAGNOSE_LOG_DETAILS (0: 1 logs the matrix as "rank=i [...]" lines, which
dxt-analyze reads), DEEPEP_DIAGNOSE_THRESHOLD_COL / _ROW / _POINT (3.0, 3.0, 5.0) and
DEEPEP_DIAGNOSE_EXCLUDING_ZEROS (0): the thresholds of diagnose_matrix and of the
fallback.

torch is imported by Diagnose only: diagnose_matrix needs numpy alone.

Owner: the live-diagnosis engineer (python/dxtrace/diagnose.py and its helpers
_diagnose_*.py; the analysis itself is libdxtanalysis, owned by the analyzer engineer).
"""

import logging
import math
import os
import socket
import threading
import uuid
import warnings
from logging.handlers import TimedRotatingFileHandler

import numpy as np

from ._diagnose_judge import WindowJudge

__all__ = ["Diagnose", "DEFAULT_WINDOW_STEPS"]

DEFAULT_WINDOW_STEPS = 20
MODE_OPS = {"ll": ("dispatch", "combine"), "normal": ("normal_dispatch", "normal_combine")}
LOG_OP_NAMES = ("Dispatch", "Combine")
_HOST_NAME_BYTES = 64


def _env_on(name, default):
    return os.getenv(name, default).lower() not in ("0", "false", "off")


def _global_rank(group, group_rank):
    """The global rank of group_rank in group (torch names this differently by version)."""
    import torch.distributed as dist
    fn = getattr(dist, "get_global_rank", None) or \
        getattr(dist.distributed_c10d, "_get_global_rank", None)
    try:
        return int(fn(group, group_rank))
    except Exception:  # the default group has no mapping in older torch: ranks are global
        return int(group_rank)


def _node_indices(host_names):
    """One node index per rank: ranks with one host name share one."""
    index = {}
    return [index.setdefault(h, len(index)) for h in host_names]


class _Mode:
    """One diagnosed mode (LL or normal): its ops, stats tensors and state."""

    def __init__(self, name, stats):
        self.name = name
        self.ops = MODE_OPS[name]
        self.stats = stats
        self.counter = 0        # calls of diagnose_<mode>_sync (DeepXTrace's step counter)
        self.snapshots = None   # SyncSnapshots (sync mode)
        self.judge = None       # WindowJudge (rank 0)


class Diagnose:
    """Diagnose slow ranks, receivers and links of DeepEP's dispatch and combine
    while the job runs (see the module's documentation). Arguments as DeepXTrace's;
    dxtrace's own are keyword-only: trace_dir, window_steps, run_id, device, per_node,
    trace_every.

    Attributes as DeepXTrace's: group, rank, group_size, interval, warm_time,
    sync_step, enable_ll_diagnose, enable_normal_diagnose, enable_async,
    stop_diagnose, instance_id, logger, the four *_wait_recv_cost_stats tensors,
    cpu_group (async mode), thres_col, thres_row, thres_point, excluding_zeros."""

    def __init__(self, group, interval=20, enable_ll_diagnose=True,
                 enable_normal_diagnose=False, enable_async=False, *, trace_dir=None,
                 window_steps=DEFAULT_WINDOW_STEPS, run_id=None, device=None, per_node=None,
                 trace_every=None):
        import torch
        assert group.size() != 0 and interval > 0, "invalid parameter for diagnose"
        if int(window_steps) < 1:
            raise ValueError("window_steps must be 1 or more, got %r" % (window_steps,))
        self._read_environment(interval)
        self.group, self.rank, self.group_size = group, group.rank(), group.size()
        enabled = _env_on("DEEPEP_DIAGNOSE_ENABLE", "1")
        self.enable_ll_diagnose = bool(enable_ll_diagnose) and enabled
        self.enable_normal_diagnose = bool(enable_normal_diagnose) and enabled
        self.enable_async = bool(enable_async)
        self.window_steps = int(window_steps)
        # the trace's rows: one every trace_every steps (default: a window's), one small
        # kernel each; the counters are cumulative, so only per-step detail is lost
        self.trace_every = int(trace_every) if trace_every else self.window_steps
        if self.trace_every < 1:
            raise ValueError("trace_every must be 1 or more, got %r" % (trace_every,))
        self.stop_diagnose = threading.Event()
        self.logger = self._setup_logger(self.rank)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.instance_id, self.run_id, self.cpu_group = None, None, None
        self.gather_tensor = None
        self._trace, self._thread, self._async_steps, self._step_called = None, None, 0, False
        self._modes = {}
        for name, on in (("ll", self.enable_ll_diagnose), ("normal", self.enable_normal_diagnose)):
            if not on:
                continue
            stats = [torch.zeros((self.group_size,), dtype=torch.int64, device=self.device)
                     for _ in MODE_OPS[name]]
            self._modes[name] = _Mode(name, stats)
            setattr(self, "%s_dispatch_wait_recv_cost_stats" % name, stats[0])
            setattr(self, "%s_combine_wait_recv_cost_stats" % name, stats[1])
        if self._modes:
            self._start(run_id, per_node, trace_dir)

    # ---- set-up ----

    def _read_environment(self, interval):
        self.enable_details = _env_on("DEEPEP_DIAGNOSE_LOG_DETAILS", "0")
        self.thres_col = float(os.getenv("DEEPEP_DIAGNOSE_THRESHOLD_COL", 3.0))
        self.thres_row = float(os.getenv("DEEPEP_DIAGNOSE_THRESHOLD_ROW", 3.0))
        self.thres_point = float(os.getenv("DEEPEP_DIAGNOSE_THRESHOLD_POINT", 5.0))
        self.excluding_zeros = int(os.getenv("DEEPEP_DIAGNOSE_EXCLUDING_ZEROS", 0))
        self.interval = float(os.getenv("DEEPEP_DIAGNOSE_INTERVAL", interval))
        self.warm_time = float(os.getenv("DEEPEP_DIAGNOSE_WARMING_TIME", self.interval))
        self.sync_step = int(os.getenv("DEEPEP_DIAGNOSE_SYNC_STEP", 580))
        if self.interval <= 0 or self.sync_step < 1:
            raise ValueError("DEEPEP_DIAGNOSE_INTERVAL must be > 0 and DEEPEP_DIAGNOSE_SYNC_STEP "
                             ">= 1, got %r and %r" % (self.interval, self.sync_step))

    def _start(self, run_id, per_node, trace_dir):
        import torch.distributed as dist
        from ._diagnose_snapshots import HostReader, SyncSnapshots
        self._root = _global_rank(self.group, 0)
        self._comm_device = "cuda" if dist.get_backend(self.group) == "nccl" else "cpu"
        host_names = self._exchange_identity()
        self.run_id = str(run_id) if run_id else "diagnose-%s" % self.instance_id
        node_of = None if per_node else _node_indices(host_names)
        capacity = math.ceil(self.sync_step / self.window_steps) + 2
        for mode in self._modes.values():
            if not self.enable_async:
                mode.snapshots = SyncSnapshots(mode.stats, self.window_steps, capacity)
            if self.rank == 0:
                mode.judge = WindowJudge(self.group_size, mode.ops, self.run_id, node_of,
                                         per_node, self._diagnose_rule)
                self._say_fallback(mode.judge)
        if self.enable_async:
            ranks = [_global_rank(self.group, r) for r in range(self.group_size)]
            self.cpu_group = dist.new_group(ranks=ranks, backend="gloo")
            self._reader = HostReader([t for m in self._modes.values() for t in m.stats])
        trace_dir = trace_dir if trace_dir is not None else os.environ.get("DXTRACE_DIR")
        if trace_dir:
            self._open_trace(trace_dir)

    def _exchange_identity(self):
        """One collective over the group (as DeepXTrace's broadcast of its instance
        id): rank 0's instance id to everyone, every rank's host name to everyone."""
        import torch
        import torch.distributed as dist
        mine = torch.zeros(16 + _HOST_NAME_BYTES, dtype=torch.uint8)
        if self.rank == 0:
            mine[:16] = torch.tensor(list(uuid.uuid4().bytes), dtype=torch.uint8)
        host = socket.gethostname().encode()[:_HOST_NAME_BYTES]
        mine[16:16 + len(host)] = torch.tensor(list(host), dtype=torch.uint8)
        mine = mine.to(self._comm_device)
        every = [torch.empty_like(mine) for _ in range(self.group_size)]
        dist.all_gather(every, mine, group=self.group)
        rows = torch.stack(every).cpu().numpy()
        self.instance_id = uuid.UUID(bytes=rows[0, :16].tobytes())
        return [r[16:].tobytes().rstrip(b"\0").decode(errors="replace") for r in rows]

    def _open_trace(self, trace_dir):
        from ._diagnose_trace import TraceWriter
        modes = {name: (m.ops, m.stats) for name, m in self._modes.items()}
        self._trace = TraceWriter(trace_dir, self.rank, self.group_size, self.run_id, modes,
                                  all_at_once=self.enable_async)
        if self._trace.rec is None:
            self._trace = None

    def _say_fallback(self, judge):
        if judge.fallback_reason:
            why = ("dxtrace.diagnose: %s; falling back to DeepXTrace's rule (diagnose_matrix)"
                   % judge.fallback_reason)
            warnings.warn(why, RuntimeWarning, stacklevel=4)
            self.logger.info("[Diagnose] InstanceID: %s EPSize: %d %s"
                             % (self.instance_id, self.group_size, why))

    # ---- DeepXTrace's accessors ----

    def get_stats_ll_stats_tensor(self):
        """(dispatch, combine): the LL stats tensors to pass to DeepEP's
        low_latency_dispatch / low_latency_combine (None when LL is off)."""
        return self._stats_of("ll")

    def get_stats_normal_stats_tensor(self):
        """(dispatch, combine): the normal-mode stats tensors (None when off)."""
        return self._stats_of("normal")

    def _stats_of(self, name):
        mode = self._modes.get(name)
        return (mode.stats[0], mode.stats[1]) if mode else (None, None)

    def get_all_stats_tensor(self):
        """Rank 0: the waits of the last diagnosis as numpy (ranks, 2, ranks):
        [r, 0 dispatch | 1 combine, j] = rank r's wait for rank j since the
        diagnosis before (what DeepXTrace gathers). None elsewhere or before."""
        if not self._modes or self.rank != 0:
            return None
        return self.gather_tensor

    def get_instance_id(self):
        return self.instance_id

    @property
    def sync_ll_step_counter(self):
        return self._modes["ll"].counter if "ll" in self._modes else 0

    @property
    def sync_normal_step_counter(self):
        return self._modes["normal"].counter if "normal" in self._modes else 0

    # ---- DeepXTrace's rule ----

    @staticmethod
    def diagnose_matrix(mat, thres_col=3.0, thres_row=3.0, thres_point=5.0,
                        suppress_points_in_strong_rowscols=True, excluding_zeros=0):
        """DeepXTrace's rule on one matrix (mat[i, j]: wait of i for j), unchanged.

        A column is abnormal when its mean over the mean of all column means
        exceeds thres_col ([j, mean, ratio]); a row likewise with thres_row; a
        cell when it over the matrix's mean (excluding_zeros=1: the mean of its
        nonzero cells) exceeds thres_point ([i, j, value, ratio]), and, with
        suppress_points_in_strong_rowscols, it lies in no abnormal row or
        column. Returns {"abnormal_cols", "abnormal_rows", "abnormal_points"}."""
        mat = np.asarray(mat)
        cols = _over_their_mean(mat.mean(axis=0), thres_col)
        rows = _over_their_mean(mat.mean(axis=1), thres_row)
        ratio = _cell_ratio(mat, excluding_zeros)
        points = [[i, j, mat[i, j], ratio[i, j]] for i, j in np.argwhere(ratio > thres_point)]
        if suppress_points_in_strong_rowscols:
            strong_rows = {r[0] for r in rows}
            strong_cols = {c[0] for c in cols}
            points = [p for p in points if p[0] not in strong_rows and p[1] not in strong_cols]
        return {"abnormal_cols": cols, "abnormal_rows": rows, "abnormal_points": points}

    def _diagnose_rule(self, mat):
        return Diagnose.diagnose_matrix(mat, thres_col=self.thres_col, thres_row=self.thres_row,
                                        thres_point=self.thres_point,
                                        excluding_zeros=self.excluding_zeros)

    # ---- sync mode ----

    def diagnose_ll_sync(self, diagnose_step=0):
        """Count one LL step; every diagnose_step steps (0: DEEPEP_DIAGNOSE_SYNC_STEP,
        580) diagnose the windows since the last diagnosis. Every rank of the group
        must call it at the same place each step (it gathers over the group at a
        diagnosis). Returns None between diagnoses; at one, rank 0 gets [dispatch,
        combine] results (see the module's documentation), other ranks []."""
        assert self.enable_async is False, \
            "diagnose_ll_sync() can only be called when 'self.enable_async' is False."
        if not self.enable_ll_diagnose:
            return None
        return self._sync_step(self._modes["ll"], diagnose_step)

    def diagnose_normal_sync(self, diagnose_step=0):
        """diagnose_ll_sync for DeepEP's normal mode."""
        assert self.enable_async is False, \
            "diagnose_normal_sync() can only be called when 'self.enable_async' is False."
        if not self.enable_normal_diagnose:
            return None
        return self._sync_step(self._modes["normal"], diagnose_step)

    def _sync_step(self, mode, diagnose_step):
        step_round = int(diagnose_step) if diagnose_step != 0 else self.sync_step
        mode.counter += 1
        step = mode.counter
        due = step % step_round == 0
        traced = self._trace is not None and (step % self.trace_every == 0 or step == 1)
        if not due and not traced and step % self.window_steps != 0 and step != 1:
            return None  # most steps: a count and three remainders, no torch call
        capturing = _capturing(mode.stats[0])
        if not capturing:  # a graph replays without us: nothing to count it by
            mode.snapshots.step(step)
            if traced:
                self._trace.step(step, mode.name)
        if not due:
            return None
        if capturing:
            return []
        windows, diffs = mode.snapshots.close_period(step)
        return self._gather_and_judge(mode, windows, diffs)

    def _gather_and_judge(self, mode, windows, diffs):
        """Gather every rank's window differences over the job's group to rank 0
        (as DeepXTrace gathers its matrix) and judge them there."""
        import torch
        import torch.distributed as dist
        if windows:
            payload = diffs.to(self._comm_device).contiguous()
            every = [torch.empty_like(payload) for _ in range(self.group_size)] \
                if self.rank == 0 else None
            dist.gather(payload, gather_list=every, dst=self._root, group=self.group)
        if self.rank != 0:
            return []
        if windows:
            gathered = torch.stack([t.cpu() for t in every]).numpy()
        else:
            gathered = np.zeros((self.group_size, 0, len(mode.ops), self.group_size), np.int64)
        return self._judge(mode, windows, gathered)

    def _judge(self, mode, windows, gathered):
        """Rank 0: results of one diagnosis (never raises: an analysis error is
        logged and gives empty results)."""
        try:
            results = mode.judge.judge(windows, gathered)
        except Exception as e:
            self.logger.info("[Diagnose] InstanceID: %s EPSize: %d analysis error: %s"
                             % (self.instance_id, self.group_size, e))
            results = [WindowJudge.empty_result() for _ in mode.ops]
        self.gather_tensor = mode.judge.last_sum
        self._log_results(results, mode.judge.last_sum)
        return results

    # ---- async mode ----

    def start_async_diagnose(self):
        """Start the background thread that diagnoses every interval seconds after
        the warming time (all ranks, over a gloo group; results in rank 0's log).
        Returns the thread (None when diagnosis is off)."""
        assert self.enable_async is True, \
            "start_async_diagnose() can only be called when 'self.enable_async' is True."
        if not self._modes:
            return None
        self._thread = threading.Thread(target=self._async_loop, daemon=True,
                                        name="dxtrace-diagnose")
        self._thread.start()
        return self._thread

    def stop_async_diagnose(self):
        """Ask the background thread to stop: every rank's thread ends after one
        more round (the ranks agree on it there, so none is left waiting)."""
        assert self.enable_async is True, \
            "stop_async_diagnose() can only be called when 'self.enable_async' is True."
        if not self._modes:
            return None
        self.stop_diagnose.set()

    def step(self):
        """(dxtrace extension, async mode) Count one step: call it once per step
        after DeepEP's kernels, from the first step on, to number async windows by
        steps and record every step to the trace (not only one row per interval)."""
        assert self.enable_async is True, \
            "step() is for async mode; diagnose_ll_sync() counts steps in sync mode."
        self._async_steps += 1
        self._step_called = True
        if self._trace is not None and self._modes and \
                not _capturing(next(iter(self._modes.values())).stats[0]):
            self._trace.step(self._async_steps)

    def _async_loop(self):
        from ._diagnose_async import AsyncRounds
        try:
            AsyncRounds(self).run()
        except Exception as e:
            self.logger.info("[Diagnose] InstanceID: %s EPSize: %d Rank: %d dist error: %s, "
                             "diagnose thread exit." % (self.instance_id, self.group_size,
                                                        self.rank, e))

    # ---- the end ----

    def close(self, timeout=None):
        """(dxtrace extension) Stop the async thread (waiting up to timeout s for
        it; None: two intervals), close the trace (flushed and compressed) and
        the analysis. The trace is readable without it too (flushed every second)."""
        if self._thread is not None and self._thread.is_alive():
            self.stop_diagnose.set()
            self._thread.join(2 * self.interval + 5 if timeout is None else timeout)
        if self._trace is not None:
            trace, self._trace = self._trace, None
            trace.close()
        for mode in self._modes.values():
            if mode.judge is not None and mode.judge.live is not None and \
                    (self._thread is None or not self._thread.is_alive()):
                mode.judge.live.close()

    # ---- the log ----

    @staticmethod
    def _setup_logger(rank):
        """rank's logger writing DEEPEP_DIAGNOSE_LOG_PATH/diagnose_rank<rank>.log
        (rotated at midnight, two kept), lines "[time.ms] message", as DeepXTrace."""
        logger = logging.getLogger("dxtrace.diagnose.rank%d" % rank)
        logger.propagate = False
        logger.setLevel(logging.INFO)
        log_dir = os.environ.get("DEEPEP_DIAGNOSE_LOG_PATH", ".")
        os.makedirs(log_dir, exist_ok=True)
        path = os.path.abspath(os.path.join(log_dir, "diagnose_rank%d.log" % rank))
        for old in list(logger.handlers):
            if getattr(old, "baseFilename", None) == path:
                return logger
            logger.removeHandler(old)  # a Diagnose made before, logging elsewhere
            old.close()
        handler = TimedRotatingFileHandler(path, when="midnight", interval=1, backupCount=2,
                                           encoding="utf-8")
        handler.setFormatter(logging.Formatter("[%(asctime)s.%(msecs)03d] %(message)s",
                                               datefmt="%Y-%m-%dT%H:%M:%S"))
        logger.addHandler(handler)
        return logger

    def _log_results(self, results, summed):
        for o, (res, name) in enumerate(zip(results, LOG_OP_NAMES)):
            self.logger.info("[Diagnose] InstanceID: %s EPSize: %d, diagnose: %s, %s Wait Recv "
                             "Cost Per Token Matrix[src_rank, dst_rank]"
                             % (self.instance_id, self.group_size, res, name))
            if self.enable_details and summed is not None:
                for idx, row in enumerate(summed[:, o, :]):
                    self.logger.info("rank=%d [%s]" % (idx, " ".join("%8d" % v for v in row)))


def _over_their_mean(means, threshold):
    """[[k, means[k], ratio[k]]] where ratio = means / (mean of means + 1e-8) > threshold."""
    ratio = means / (means.mean() + 1e-8)
    return [[k, means[k], ratio[k]] for k in np.flatnonzero(ratio > threshold)]


def _cell_ratio(mat, excluding_zeros):
    """Each cell over the matrix's mean, or over the mean of its nonzero cells
    (excluding_zeros=1; a matrix of zeros is returned as it is)."""
    if excluding_zeros == 0:
        return mat / (mat.mean() + 1e-8)
    if excluding_zeros == 1:
        nonzero = mat[mat != 0]
        return mat / (nonzero.mean() + 1e-8) if nonzero.size else mat
    raise ValueError("excluding_zeros must be 0 or 1, got %r" % (excluding_zeros,))


def _capturing(tensor):
    """Whether the current CUDA stream is being captured into a graph."""
    if tensor.device.type != "cuda":
        return False
    import torch
    return torch.cuda.is_current_stream_capturing()
