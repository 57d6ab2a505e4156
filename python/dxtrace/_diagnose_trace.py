"""The trace of dxtrace.diagnose: every step of the stats DeepEP fills, one
file per rank (dxtrace.Recorder, trace format v1), so the post-mortem exists
even when the job dies. dxt-analyze reads the directory.

CUDA stats are attached once and recorded by one small kernel per step on
the current stream (Recorder.step: never synchronizes); when the two modes
(LL and normal) are counted separately on CUDA, each op is recorded on its
own (Recorder.record, the device path). CPU stats go through the host path.
Any recorder error warns once and stops the trace; it never stops the job.

Owner: the live-diagnosis engineer (python/dxtrace/diagnose.py and its helpers).
"""

import warnings


class TraceWriter:
    """One rank's trace. modes: {mode: (op names, stats tensors)}; all_at_once:
    every record call covers every mode (async mode's step(), or one mode)."""

    def __init__(self, directory, rank, world_size, run_id, modes, all_at_once):
        from . import Recorder
        self.modes = {m: (tuple(ops), list(stats)) for m, (ops, stats) in modes.items()}
        ops = [op for names, _ in self.modes.values() for op in names]
        first = next(iter(self.modes.values()))[1][0]
        self.cuda = first.device.type == "cuda"
        self.attached = self.cuda and (all_at_once or len(self.modes) == 1)
        self.rec = None
        try:
            self.rec = Recorder(directory, rank, world_size, run_id=run_id, ops=ops,
                                unit="cycles", counting="cumulative")
            if self.attached:
                for names, stats in self.modes.values():
                    for op, t in zip(names, stats):
                        self.rec.attach(op, t)
        except Exception as e:  # no library, no CUDA in it, a bad directory: no trace
            self._give_up("cannot record the trace in %s: %s" % (directory, e))

    def _give_up(self, why):
        warnings.warn("dxtrace.diagnose: %s; diagnosing without a trace" % why, RuntimeWarning,
                      stacklevel=3)
        rec, self.rec = self.rec, None
        if rec is not None:
            try:
                rec.close()
            except Exception:
                pass

    def step(self, step, mode=None):
        """Record step of mode's ops (None: every mode), as the stats stand
        after the work queued so far."""
        if self.rec is None:
            return
        try:
            if self.attached:
                self.rec.step(int(step))
                return
            for m, (names, stats) in self.modes.items():
                if mode is None or m == mode:
                    for op, t in zip(names, stats):
                        self.rec.record(op, int(step), t)
        except Exception as e:
            self._give_up("recording step %d failed: %s" % (step, e))

    def record_host(self, step, values_by_mode):
        """Record step from host values: {mode: (nops, N) int64 array}."""
        if self.rec is None:
            return
        try:
            for m, values in values_by_mode.items():
                for op, row in zip(self.modes[m][0], values):
                    self.rec.record(op, int(step), row)
        except Exception as e:
            self._give_up("recording step %d failed: %s" % (step, e))

    def close(self):
        if self.rec is not None:
            rec, self.rec = self.rec, None
            rec.close()
