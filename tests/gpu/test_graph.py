#!/usr/bin/env python3
"""test_graph.py - the capture-safe step path (Recorder.attach + Recorder.step)
with torch on one GPU. Run from the repository root after `make NODEPS=1 gpu`:

    PYTHONPATH=python python3 tests/gpu/test_graph.py      # results in $OUT (default /tmp)

A stand-in for DeepEP's LL kernels accumulates into int64 stats tensors
(wait += incr, tokens += 1, per op) the way DeepEP does; the recorder records
both ops with one rec.step() per step. A captured step() is one root node of
the graph, which records at the start of each replay the row the previous
replay left; the captured steps begin with a short sleeping kernel, as a real
LL step spends microseconds before its counters change. Checks:
  eager    S steps with the GPU kept busy (the host runs ahead): every row equals
           the counters after the work queued before its step, steps as given;
  graph    one torch.cuda.graph capture of (sleep, dispatch stand-in, combine
           stand-in, rec.step()) replayed R times without a sync: rows numbered
           last eager step + 1 on, in order, each equal to the counters of its
           replay; the last replay's row is taken by the next eager step (numbered
           on automatically), whose row holds its counts;
  multi    a graph of K steps (K step() calls) replayed KR times, then close: one
           row per replay, numbered K - 1, 2K - 1, ..., each the counters after
           its replay, the last one taken at close;
  overflow a tiny ring (ring_capacity 8) and eager steps back to back: the rows
           written and the rows dropped add up to every step, what is written
           is right and in order, the drops are counted in the file;
  capture  rec.step() inside a capture neither fails nor breaks the capture;
  wrap     a ring of 64 steps (mapped host memory, drained by the writer thread
           while the GPU writes it) wraps W times under a graph replayed with a
           paced step and under eager steps: every row written is right and in
           order, written + dropped = every step but the merged one (drops are
           said, not required).
Keeps the traces under $OUT/graph-traces/ (dxt-analyze reads them; also packed
into $OUT/graph-traces.tgz) and writes $OUT/test_graph.txt. Exits non-zero on
any failure.

Owner: the GPU side of dxtrace.
"""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import h5py  # noqa: E402
import dxtrace  # noqa: E402

N = 8
S = 200       # eager steps
R = 500       # graph replays
K = 64        # steps per replay in the multi-step graph
KR = 20       # its replays
LEAD = 20000  # cycles of torch.cuda._sleep that begin a captured step (~13 us)
OUT = os.environ.get("OUT") or tempfile.mkdtemp(prefix="dxt-graph-")
TRACES = os.path.join(OUT, "graph-traces")
lines = []
failures = []


def say(line):
    print(line, flush=True)
    lines.append(line)


def check(name, ok, detail=""):
    say("%-4s %s %s" % ("ok" if ok else "FAIL", name, detail))
    if not ok:
        failures.append(name)


class StandIn:
    """DeepEP's stats tensors and a kernel that accumulates into them."""

    def __init__(self, dev, scale):
        self.wait = torch.zeros(N, dtype=torch.int64, device=dev)
        self.tokens = torch.zeros(N, dtype=torch.int64, device=dev)
        self.incr = torch.arange(1, N + 1, dtype=torch.int64, device=dev) * scale

    def run(self):
        self.wait.add_(self.incr)
        self.tokens.add_(1)


def read(path, op):
    with h5py.File(path, "r") as f:
        g = f["ops"][op]
        out = {k: g[k][()] for k in ("wait", "step", "tokens", "time_ns") if k in g}
        out["rows_dropped"] = int(g.attrs.get("rows_dropped", 0))
        return out


def expect_rows(d, op, incr, k):
    """Rows k (the number of stand-in runs before each row) of op."""
    w = d[op]["wait"]
    return w.shape == (len(k), N) and (w == np.outer(k, incr)).all() and \
        (d[op]["tokens"] == np.outer(k, np.ones(N, dtype=np.int64))).all()


def eager_and_graph(dev):
    path_dir = os.path.join(TRACES, "eager-graph")
    rec = dxtrace.Recorder(path_dir, 0, N, run_id="graph-test", record_tokens=True)
    ops = {"dispatch": StandIn(dev, 1), "combine": StandIn(dev, 100)}
    for name, s in ops.items():
        rec.attach(name, s.wait, s.tokens)
    for step in range(S):  # eager: the GPU busy, the host ahead of it
        torch.cuda._sleep(20000)
        for s in ops.values():
            s.run()
        res = rec.step(step)
        if res != 0:
            check("eager step()", False, dxtrace.Result(res).name)
            break
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    g = torch.cuda.CUDAGraph()
    with torch.cuda.stream(side):
        with torch.cuda.graph(g, stream=side):
            torch.cuda._sleep(LEAD)
            for s in ops.values():
                s.run()
            cap_res = rec.step(10 ** 9)  # ignored while capturing: auto numbering
    torch.cuda.current_stream().wait_stream(side)
    check("step() during capture", cap_res == 0, dxtrace.Result(cap_res).name)
    t0 = time.perf_counter()
    for _ in range(R):
        g.replay()
    torch.cuda.synchronize()
    replay_us = (time.perf_counter() - t0) / R * 1e6
    for _ in range(10):  # eager again, automatic numbering
        for s in ops.values():
            s.run()
        rec.step()
    torch.cuda.synchronize()
    rec.flush()
    time.sleep(0.2)
    c = rec.counters
    # the last replay's step (S + R - 1) has no row: the first eager step took its place
    check("counters", c.rows_dropped == 0 and c.rows_recorded == 2 * (S + R - 1 + 10), repr(c))
    check("close", rec.close() == dxtrace.Result.SUCCESS)
    path = os.path.join(path_dir, "rank-00000.h5")
    d = {op: read(path, op) for op in ops}
    steps = np.concatenate([np.arange(S + R - 1), np.arange(S + R, S + R + 10)])
    k = steps + 1
    for op, s in ops.items():
        incr = s.incr.cpu().numpy()
        check("%s: every row in order" % op, (d[op]["step"] == steps).all() if
              d[op]["step"].shape == steps.shape else False,
              "rows %d of %d" % (d[op]["step"].shape[0], steps.shape[0]))
        check("%s: rows = counters of their step" % op, expect_rows(d, op, incr, k))
        t = d[op]["time_ns"]
        now = time.time_ns()
        check("%s: times on the Unix clock, in order" % op,
              t.shape == steps.shape and (np.diff(t) >= 0).all() and
              abs(int(t[-1]) - now) < 60 * 10 ** 9,
              "last row %.3f s before the check" % ((now - int(t[-1])) * 1e-9)
              if t.size else "no times")
    say("     graph replay: %.2f us per replay (stand-ins + step kernel, host loop)" % replay_us)


def multi(dev):
    """A graph of K steps, replayed KR times, then close: a row per replay."""
    path_dir = os.path.join(TRACES, "multi")
    rec = dxtrace.Recorder(path_dir, 0, N, run_id="graph-multi", quiet=True)
    s = StandIn(dev, 1)
    rec.attach("dispatch", s.wait)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    g = torch.cuda.CUDAGraph()
    with torch.cuda.stream(side):
        with torch.cuda.graph(g, stream=side):
            torch.cuda._sleep(LEAD)
            for _ in range(K):
                s.run()
                rec.step()
    torch.cuda.current_stream().wait_stream(side)
    for _ in range(KR):
        g.replay()
    torch.cuda.synchronize()
    check("multi: close", rec.close() == dxtrace.Result.SUCCESS)
    d = read(os.path.join(path_dir, "rank-00000.h5"), "dispatch")
    want = np.arange(1, KR + 1) * K - 1
    st = d["step"]
    check("multi: a row per replay, its last step", st.shape == want.shape and (st == want).all(),
          "steps %s" % st[:5])
    incr = s.incr.cpu().numpy()
    check("multi: rows = counters after their replay",
          d["wait"].shape == (KR, N) and (d["wait"] == np.outer(want + 1, incr)).all())


def overflow(dev):
    path_dir = os.path.join(TRACES, "overflow")
    rec = dxtrace.Recorder(path_dir, 0, N, run_id="graph-overflow", ring_capacity=8, quiet=True)
    s = StandIn(dev, 1)
    rec.attach("dispatch", s.wait)
    total = 2000
    for step in range(total):  # back to back: the GPU outruns the writer's polls
        s.run()
        rec.step(step)
    torch.cuda.synchronize()
    time.sleep(0.2)
    c = rec.counters
    rec.close()
    d = read(os.path.join(path_dir, "rank-00000.h5"), "dispatch")
    written, dropped = d["step"].shape[0], d["rows_dropped"]
    check("overflow: written + dropped = every step", written + dropped == total,
          "written %d dropped %d of %d; %r" % (written, dropped, total, c))
    check("overflow: drops happened (ring of 8, %d steps back to back)" % total, dropped > 0)
    incr = s.incr.cpu().numpy()
    st = d["step"]
    check("overflow: written rows in order and right",
          (np.diff(st) > 0).all() and (d["wait"] == np.outer(st + 1, incr)).all())


def wrap(dev):
    """The ring wraps many times while the writer drains it: the kernel reads the
    writer's position from host memory each time the ring looks full."""
    path_dir = os.path.join(TRACES, "wrap")
    ring, replays, eager = 64, 3000, 3000
    rec = dxtrace.Recorder(path_dir, 0, N, run_id="graph-wrap", ring_capacity=ring, quiet=True)
    s = StandIn(dev, 1)
    rec.attach("dispatch", s.wait)
    pace = int(30 * 1000 * 1.5)  # about 30 us of torch.cuda._sleep at 1.5 GHz
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    g = torch.cuda.CUDAGraph()
    with torch.cuda.stream(side):
        with torch.cuda.graph(g, stream=side):
            torch.cuda._sleep(pace)
            s.run()
            rec.step()
    torch.cuda.current_stream().wait_stream(side)
    for i in range(replays):
        g.replay()
        if i % 256 == 255:
            torch.cuda.synchronize()  # the launch queue never fills
    for i in range(eager):
        torch.cuda._sleep(pace)
        s.run()
        rec.step()
        if i % 256 == 255:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    time.sleep(0.2)
    c = rec.counters
    rec.close()
    d = read(os.path.join(path_dir, "rank-00000.h5"), "dispatch")
    total = replays + eager - 1  # the last replay's row: merged into the first eager step's
    st = d["step"]
    written, dropped = st.shape[0], d["rows_dropped"]
    check("wrap: written + dropped = every step but one (ring of %d, %d steps)" % (ring, total),
          written + dropped == total, "written %d dropped %d; %r" % (written, dropped, c))
    incr = s.incr.cpu().numpy()
    check("wrap: rows in order and right", written > 0 and (np.diff(st) > 0).all() and
          (d["wait"] == np.outer(st + 1, incr)).all())
    say("     wrap: %d of %d steps dropped (the writer polls at its adaptive sleep)"
        % (dropped, total))


def main():
    os.makedirs(TRACES, exist_ok=True)
    dev = torch.device("cuda", 0)
    torch.cuda.set_device(dev)
    say("test_graph: %s, torch %s, traces in %s" % (torch.cuda.get_device_name(dev),
                                                   torch.__version__, TRACES))
    for part in (eager_and_graph, multi, overflow, wrap):
        try:
            part(dev)
        except Exception as e:  # one part's crash must not hide the others
            check(part.__name__, False, "%s: %s" % (type(e).__name__, e))
    say("test_graph: %d failures" % len(failures))
    subprocess.call(["tar", "-C", OUT, "-czf", os.path.join(OUT, "graph-traces.tgz"),
                     "graph-traces"])
    with open(os.path.join(OUT, "test_graph.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
