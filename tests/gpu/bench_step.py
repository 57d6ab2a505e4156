#!/usr/bin/env python3
"""bench_step.py - what recording costs per step, from Python, on one GPU. Run
from the repository root after `make NODEPS=1 gpu`:

    PYTHONPATH=python python3 tests/gpu/bench_step.py      # results in $OUT (default /tmp)

Prints and writes to $OUT/bench_step.json:
  host_step_us      host time of one rec.step() (all attached ops), median and p99
  host_record_us    host time of one rec.record(op, step, cuda_tensor) (the old path;
                    a DeepEP step made two of them)
  gpu_step_us       GPU time one step kernel adds, from a graph of 100 steps
                    (stand-in kernel + step) against the same graph without the steps
  loop_overhead     a host loop of stand-in kernels with and without rec.step(), in
                    interleaved blocks (the method of issue 17), median per step
Calls are timed in batches between synchronizations so that the launch queue
never fills (a full queue makes a launch wait for the GPU).

Owner: the GPU side of dxtrace.
"""
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import dxtrace  # noqa: E402

N = 8
CALLS = 20000
BATCH = 200
OUT = os.environ.get("OUT") or tempfile.mkdtemp(prefix="dxt-bench-")


def host_cost(fn):
    """fn() timed CALLS times, in batches; (median, p99) in us."""
    perf = time.perf_counter
    costs = np.empty(CALLS)
    for b in range(0, CALLS, BATCH):
        torch.cuda.synchronize()
        for i in range(b, b + BATCH):
            t0 = perf()
            fn(i)
            costs[i] = perf() - t0
    torch.cuda.synchronize()
    costs *= 1e6
    return float(np.median(costs)), float(np.percentile(costs, 99))


def graph_time_us(body, steps=100, replays=50):
    """GPU time of one replay of a graph of `steps` x body(), per step."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    g = torch.cuda.CUDAGraph()
    with torch.cuda.stream(side):
        with torch.cuda.graph(g, stream=side):
            for _ in range(steps):
                body()
    torch.cuda.current_stream().wait_stream(side)
    g.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(replays):
        start.record()
        g.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3 / steps)
    return float(np.median(times))


def loop_overhead(rec, wait_d, wait_c, incr, blocks=9, steps=200):
    """Median host-loop time per step of (2 stand-ins [+ rec.step]) in interleaved blocks."""
    on, off = [], []

    def block(record):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            wait_d.add_(incr)
            wait_c.add_(incr)
            if record:
                rec.step()
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) / steps * 1e6

    for _ in range(blocks):
        off.append(block(False))
        on.append(block(True))
    return float(np.median(off)), float(np.median(on))


def main():
    dev = torch.device("cuda", 0)
    torch.cuda.set_device(dev)
    tmp = tempfile.mkdtemp(prefix="dxt-bench-trace-")
    wait_d = torch.zeros(N, dtype=torch.int64, device=dev)
    wait_c = torch.zeros(N, dtype=torch.int64, device=dev)
    incr = torch.ones(N, dtype=torch.int64, device=dev)
    rec = dxtrace.Recorder(os.path.join(tmp, "step"), 0, N, run_id="bench-step", quiet=True,
                           ring_capacity=1 << 16)
    rec.attach("dispatch", wait_d)
    rec.attach("combine", wait_c)
    results = {"gpu": torch.cuda.get_device_name(dev), "torch": torch.__version__,
               "calls": CALLS}
    med, p99 = host_cost(rec.step)  # looked up once, as a user's loop would
    results["host_step_us"] = {"median": med, "p99": p99}
    print("host cost of rec.step() (2 ops):        median %.2f us, p99 %.2f us" % (med, p99))

    old = dxtrace.Recorder(os.path.join(tmp, "record"), 0, N, run_id="bench-record",
                           quiet=True, ring_capacity=1 << 16)
    med, p99 = host_cost(lambda i: old.record("dispatch", i, wait_d))
    results["host_record_us"] = {"median": med, "p99": p99}
    print("host cost of rec.record() (1 op, old):  median %.2f us, p99 %.2f us" % (med, p99))
    old.close()

    base = graph_time_us(lambda: (wait_d.add_(incr), wait_c.add_(incr)))
    with_step = graph_time_us(lambda: (wait_d.add_(incr), wait_c.add_(incr), rec.step()))
    results["gpu_step_us"] = {"graph_step_without": base, "graph_step_with": with_step,
                              "added": with_step - base}
    print("GPU time per graph step: %.2f us without, %.2f us with rec.step(): +%.2f us"
          % (base, with_step, with_step - base))

    off, on = loop_overhead(rec, wait_d, wait_c, incr)
    results["loop_overhead"] = {"off_us": off, "on_us": on, "added_us": on - off}
    print("eager loop per step (2 stand-ins): %.2f us off, %.2f us on: +%.2f us"
          % (off, on, on - off))
    torch.cuda.synchronize()
    rec.flush()
    c = rec.counters
    results["counters"] = {"recorded": c.rows_recorded, "written": c.rows_written,
                           "dropped": c.rows_dropped}
    print("recorder: %r" % c)
    rec.close()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "bench_step.json"), "w") as f:
        json.dump(results, f, indent=1)
    ok = c.rows_dropped == 0
    print("bench_step: %s" % ("ok" if ok else "FAIL: rows dropped"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
