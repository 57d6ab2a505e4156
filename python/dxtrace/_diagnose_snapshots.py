"""Every rank's side of dxtrace.diagnose: snapshots of DeepEP's cumulative
stats at window boundaries, taken without synchronizing the job's stream.

SyncSnapshots (sync mode): every window_steps steps, the stats tensors are
copied into the next slot of a preallocated buffer on their own device, a
copy queued on the current stream behind the kernels that wrote them (never
waited for). At a diagnosis the slots become the windows' differences, and
the last slot becomes the next period's start.

HostReader (async mode): the background thread reads the stats into host
memory on a side stream of its own (non-blocking: not ordered with the job's
streams, so it reads the counters as they stand), waiting for that copy only.

Owner: the live-diagnosis engineer (python/dxtrace/diagnose.py and its helpers).
"""

class SyncSnapshots:
    """One mode's window snapshots of stats (a list of int64 tensors of N).

    Steps are counted by the caller (1, 2, ...). The baseline is taken at the
    end of the first window (step window_steps): DeepEP's first steps hold
    milliseconds of warm-up wait (measured 3-44 ms in steps 1-3, against 15-90 us
    later), which would stand out as a fault; then a snapshot every window_steps
    steps and one at each diagnosis, so window k covers the steps after snapshot
    k-1 up to snapshot k."""

    def __init__(self, stats, window_steps, capacity):
        import torch
        self.stats = list(stats)
        self.window_steps = int(window_steps)
        self.buf = torch.empty((max(2, int(capacity)), len(self.stats), self.stats[0].numel()),
                               dtype=torch.int64, device=self.stats[0].device)
        self.steps = []  # the step of each filled slot

    def _take(self, step):
        import torch
        if len(self.steps) == self.buf.shape[0]:  # a longer period than planned: grow
            bigger = torch.empty((2 * self.buf.shape[0],) + tuple(self.buf.shape[1:]),
                                 dtype=self.buf.dtype, device=self.buf.device)
            bigger[:self.buf.shape[0]].copy_(self.buf)
            if self.buf.is_cuda:  # freed only once the copy above has run
                self.buf.record_stream(torch.cuda.current_stream(self.buf.device))
            self.buf = bigger
        slot = self.buf[len(self.steps)]
        for k, t in enumerate(self.stats):
            slot[k].copy_(t.reshape(-1))
        self.steps.append(int(step))

    def step(self, step):
        """Count step: take the baseline (the first window's end) or a window's end."""
        if not self.steps:
            if step % self.window_steps == 0:
                self._take(step)
        elif step % self.window_steps == 0 and step != self.steps[-1]:
            self._take(step)

    def close_period(self, step):
        """End the period at step: (windows, differences) where windows is a
        list of (first_step, last_step) and differences a (W, nops, N) int64
        tensor on the stats' device (W may be 0)."""
        if not self.steps:
            self._take(step)
        elif step != self.steps[-1]:
            self._take(step)
        n = len(self.steps)
        windows = [(self.steps[k - 1] + 1, self.steps[k]) for k in range(1, n)]
        diffs = self.buf[1:n] - self.buf[0:n - 1]
        if n > 1:
            self.buf[0].copy_(self.buf[n - 1])
        self.steps = self.steps[-1:]
        return windows, diffs


class HostReader:
    """Reads a list of int64 stats tensors (of N each) into one host int64
    numpy array (len(stats), N), without ordering itself after the job's
    work: a pinned buffer and a side stream for CUDA tensors."""

    def __init__(self, stats):
        import torch
        self.stats = list(stats)
        self.n = self.stats[0].numel()
        dev = self.stats[0].device
        self.cuda = dev.type == "cuda"
        self.device = dev
        self.side = torch.cuda.Stream(device=dev) if self.cuda else None
        self.host = torch.empty((len(self.stats), self.n), dtype=torch.int64,
                                pin_memory=self.cuda)

    def read(self):
        import torch
        if not self.cuda:
            for k, t in enumerate(self.stats):
                self.host[k].copy_(t.reshape(-1))
            return self.host.numpy().copy()
        with torch.cuda.device(self.device), torch.cuda.stream(self.side):
            for k, t in enumerate(self.stats):
                self.host[k].copy_(t.reshape(-1), non_blocking=True)
        self.side.synchronize()
        return self.host.numpy().copy()
