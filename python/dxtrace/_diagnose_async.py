"""The background thread of dxtrace.diagnose's async mode: after the warming
time, every interval seconds, each rank reads its stats (dxtrace's HostReader:
a side stream, never the job's), and sends rank 0 its differences since the
last round over the gloo group; rank 0 judges that one window and logs it.

Each round is one gather plus one broadcast from rank 0 of whether any rank
asked to stop, so every rank's thread ends after the same round and none is
left waiting in a collective.

Owner: the live-diagnosis engineer (python/dxtrace/diagnose.py and its helpers).
"""

import time

import numpy as np


class AsyncRounds:
    """The rounds of one Diagnose (its attributes are read, never replaced)."""

    def __init__(self, diagnose):
        self.d = diagnose
        self.modes = list(diagnose._modes.values())
        self.round = 0
        self.prev = None          # (nmodes * 2, N) cumulative stats of the last round
        self.prev_steps = 0       # steps counted by step() at the last round
        self.last_fed = 0         # the last step of the windows judged

    def run(self):
        d = self.d
        d.stop_diagnose.wait(d.warm_time)  # the job's warm-up (JIT, graphs) is left out
        self.prev = d._reader.read()
        self.prev_steps = d._async_steps
        self._record(0, self.prev)
        due = time.monotonic() + d.interval
        while True:
            d.stop_diagnose.wait(max(0.0, due - time.monotonic()))
            due = max(due + d.interval, time.monotonic())
            if self._round():
                return

    def _record(self, round_index, values):
        """One trace row per round, unless step() records every step."""
        trace = self.d._trace  # close() may drop it meanwhile
        if trace is None or self.d._step_called:
            return
        by_mode = {m.name: values[2 * k:2 * k + 2] for k, m in enumerate(self.modes)}
        trace.record_host(round_index, by_mode)

    def _round(self):
        """One round; True when every rank stops after it."""
        import torch
        import torch.distributed as dist
        d = self.d
        current, steps = d._reader.read(), d._async_steps
        self.round += 1
        self._record(self.round, current)
        diff, self.prev = current - self.prev, current
        header = [int(d.stop_diagnose.is_set()), steps]
        payload = torch.from_numpy(np.concatenate([header, diff.reshape(-1)]).astype(np.int64))
        every = [torch.empty_like(payload) for _ in range(d.group_size)] if d.rank == 0 else None
        dist.gather(payload, gather_list=every, dst=d._root, group=d.cpu_group)
        stop = torch.zeros(1, dtype=torch.int64)
        if d.rank == 0:
            stop[0] = int(any(int(t[0]) for t in every))
        dist.broadcast(stop, src=d._root, group=d.cpu_group)
        if d.rank == 0:
            self._judge(np.stack([t.numpy() for t in every]), steps)
        return bool(stop[0])

    def _window(self, steps):
        """This round's window as (first_step, last_step), or None when no step
        ran in it (counted by step()): by steps when step() is called, else the
        round's index."""
        if self.d._step_called:
            first, last = self.prev_steps + 1, steps
            self.prev_steps = steps
            if last < first:
                return None
        else:
            first = last = self.round
        first = max(first, self.last_fed + 1)  # windows of an op come in step order
        last = max(last, first)
        self.last_fed = last
        return first, last

    def _judge(self, gathered, steps):
        window = self._window(steps)
        n = self.d.group_size
        rows = gathered[:, 2:].reshape(n, 2 * len(self.modes), n)
        for k, mode in enumerate(self.modes):
            diffs = rows[:, None, 2 * k:2 * k + 2, :]  # (ranks, 1 window, 2 ops, N)
            if window is None:
                self.d._judge(mode, [], diffs[:, :0])
            else:
                self.d._judge(mode, [window], diffs)
