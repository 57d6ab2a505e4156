#!/usr/bin/env python3
"""bench_step.py - what recording costs per step, from Python, on one GPU. Run
from the repository root after `make NODEPS=1 gpu`:

    PYTHONPATH=python python3 tests/gpu/bench_step.py      # results in $OUT (default /tmp)
    python3 tests/gpu/bench_step.py --python-layer         # no GPU, no torch: see below

Prints and writes to $OUT/bench_step.json:
  host_step_us      host time of one rec.step() (all attached ops), median and p99
  host_step_c_us    of that, the library call alone (ctypes call with the stream
                    known: the capture check and the launch); the rest is Python
  host_skip_us      host time of a step() that step_every=10 skips (9 in 10)
  host_launch_us    a yardstick: host time of torch.cuda._sleep(0), one empty
                    kernel launched through torch's dispatcher
  host_record_us    host time of one rec.record(op, step, cuda_tensor) (the old path;
                    a DeepEP step made two of them)
  gpu_node_us       GPU time per step of graphs of 100 steps (stand-in kernels) without
                    and with rec.step() (now one root node per graph, whatever its
                    steps), and with an empty kernel (torch.cuda._sleep(0)) per step
                    instead: what a node on the critical path costs at least
  step_*            the method of issue 17 on a stand-in of a small LL step (~120 us
                    of GPU work: a sleeping kernel, then the stand-ins that add to the
                    counters): interleaved blocks of 200 steps with recording off and
                    on, medians of 9, in % of the step:
                      step_sync          eager, a synchronize per step, step() every step
                      step_sync_every10  the same, step_every=10
                      step_nosync_every10 eager, no synchronize, step_every=10
                      step_graph         the step captured once, replayed, a synchronize
                                         per replay; "on": rec.step() in the capture
                      step_graph_nosync  the same without the synchronize
                      step_graph_tail    for comparison: an empty kernel at the end of
                                         the captured step instead (what a node on the
                                         critical path, the old captured step, costs)
                      step_graph_every10 the graph without the recorder, rec.step()
                                         after each replay, step_every=10 (and
                                         step_graph_nosync_every10 without the sync)
                    BENCH_BLOCKS, BENCH_STEPS: blocks per mode (9), steps per block (200)
  host_replay_*_us  host time of one replay of the stand-in step's graph without and with
                    rec.step()'s node (a launch of CALLS replays, in batches)
Calls are timed in batches between synchronizations so that the launch queue
never fills (a full queue makes a launch wait for the GPU). Every step recorded
must be in the file (rows dropped: FAIL).

--python-layer times, without a GPU, the Python layer of rec.step() alone: the
closure attach() builds, with a stand-in for torch's stream getter (a C
builtin) and a NULL handle, so that the library returns at its first check;
and a step that step_every=10 skips.

Owner: the GPU side of dxtrace.
"""
import itertools
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))
sys.path.insert(0, os.path.join(REPO, "samples", "deepep"))

import numpy as np  # noqa: E402
import dxtrace  # noqa: E402
from ep_deepep import sleep_cycles_per_us  # noqa: E402  (the DeepEP harness's yardstick)

N = 8
CALLS = 20000
BATCH = 200
BLOCKS = int(os.environ.get("BENCH_BLOCKS", "9"))   # interleaved blocks per mode
STEPS = int(os.environ.get("BENCH_STEPS", "200"))   # steps per block
OUT = os.environ.get("OUT") or tempfile.mkdtemp(prefix="dxt-bench-")


def python_layer():
    """The Python layer of rec.step() alone, in ns per call (min of short batches:
    the machine may be shared)."""
    import ctypes
    tmp = tempfile.mkdtemp(prefix="dxt-bench-py-")
    rec = dxtrace.Recorder(os.path.join(tmp, "t"), 0, N, run_id="bench-py", quiet=True)
    null = ctypes.c_void_p(None)
    step = rec._make_step(0, raw=abs, handle=null)  # abs: a C builtin, as torch's getter
    fn = rec._lib.dxtrec_step_device
    pc = time.perf_counter_ns

    def best(call, n=1000, reps=2000):
        low = float("inf")
        for _ in range(reps):
            t0 = pc()
            for _ in range(n):
                call()
            low = min(low, (pc() - t0) / n)
        return low

    every = dxtrace.Recorder(os.path.join(tmp, "t10"), 0, N, run_id="bench-py", quiet=True,
                             step_every=10)
    skip = every._make_step(0, raw=abs, handle=null)
    empty = best(lambda: None)
    whole = best(lambda: step(5)) - empty
    bare = best(lambda: fn(null, 5, 0)) - empty
    skipped = best(lambda: skip(5)) - empty
    rec.close()
    every.close()
    print("python layer of rec.step(): %.0f ns per call (of which the ctypes call %.0f ns, "
          "the step() frame and stream lookup %.0f ns); a step that step_every=10 skips: "
          "%.0f ns" % (whole, bare, whole - bare, skipped))
    return 0


def host_cost(fn):
    """fn(i) timed CALLS times, in batches; (median, p99) in us."""
    import torch
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
    import torch
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


def interleaved(body_off, body_on, blocks=None, steps=None, sync_each=False):
    """Median host-loop time per step of body_off / body_on in interleaved blocks."""
    import torch
    blocks, steps = blocks or BLOCKS, steps or STEPS
    on, off = [], []

    def block(body):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(steps):
            body(i)
            if sync_each:
                torch.cuda.synchronize()
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) / steps * 1e6

    block(body_off), block(body_on)  # warm-up pair
    for _ in range(blocks):
        off.append(block(body_off))
        on.append(block(body_on))
    return float(np.median(off)), float(np.median(on))


def host_costs(results, rec, rec10, wait_d, dev):
    import torch
    med, p99 = host_cost(rec.step)  # looked up once, as a user's loop would
    results["host_step_us"] = {"median": med, "p99": p99}
    print("host cost of rec.step() (2 ops):        median %.2f us, p99 %.2f us" % (med, p99))
    fn, handle = rec._lib.dxtrec_step_device, rec._step_handle
    stream = torch.cuda.current_stream(dev).cuda_stream
    med, p99 = host_cost(lambda i: fn(handle, CALLS + i, stream))  # steps go on increasing
    results["host_step_c_us"] = {"median": med, "p99": p99}
    print("  of which the library call (ctypes):   median %.2f us, p99 %.2f us" % (med, p99))
    skip = rec10.step
    med, p99 = host_cost(lambda i: skip(10 * i))  # (10 i + 1) % 10 != 0: always skipped
    results["host_skip_us"] = {"median": med, "p99": p99}
    print("a step that step_every=10 skips:        median %.2f us, p99 %.2f us" % (med, p99))
    med, p99 = host_cost(lambda i: torch.cuda._sleep(0))
    results["host_launch_us"] = {"median": med, "p99": p99}
    print("yardstick: torch.cuda._sleep(0):        median %.2f us, p99 %.2f us" % (med, p99))
    tmp = tempfile.mkdtemp(prefix="dxt-bench-trace-")
    old = dxtrace.Recorder(os.path.join(tmp, "record"), 0, N, run_id="bench-record",
                           quiet=True, ring_capacity=1 << 16)
    med, p99 = host_cost(lambda i: old.record("dispatch", i, wait_d))
    results["host_record_us"] = {"median": med, "p99": p99}
    print("host cost of rec.record() (1 op, old):  median %.2f us, p99 %.2f us" % (med, p99))
    old.close()


def gpu_costs(results, rec, stand_ins):
    import torch
    base = graph_time_us(stand_ins)
    with_step = graph_time_us(lambda: (stand_ins(), rec.step()))
    with_empty = graph_time_us(lambda: (stand_ins(), torch.cuda._sleep(0)))
    results["gpu_node_us"] = {"graph_step_without": base, "graph_step_with": with_step,
                              "added": with_step - base, "empty_kernel_added": with_empty - base}
    print("GPU time per step, graph of 100 steps: %.2f us without, %.2f us with rec.step(): "
          "%+.2f us (an empty kernel per step: %+.2f us)"
          % (base, with_step, with_step - base, with_empty - base))


def capture(body):
    """body() captured into a CUDA graph (on a side stream, as torch wants)."""
    import torch
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    g = torch.cuda.CUDAGraph()
    with torch.cuda.stream(side):
        with torch.cuda.graph(g, stream=side):
            body()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    return g


def step_costs(results, rec, rec10, stand_ins):
    """Interleaved on/off blocks of a ~120 us stand-in step (issue 17's method)."""
    import torch
    cycles = int(120 * sleep_cycles_per_us())

    def work():
        torch.cuda._sleep(cycles)
        stand_ins()

    steps = itertools.count()  # rec10's steps increase across blocks

    variants = {
        "step_sync": (lambda i: work(), lambda i: (work(), rec.step()), True),
        "step_sync_every10": (lambda i: work(), lambda i: (work(), rec10.step(next(steps))),
                              True),
        "step_nosync_every10": (lambda i: work(), lambda i: (work(), rec10.step(next(steps))),
                                False),
    }
    g_off = capture(work)
    g_on = capture(lambda: (work(), rec.step()))
    g_tail = capture(lambda: (work(), torch.cuda._sleep(0)))
    for key, g in (("host_replay_off_us", g_off), ("host_replay_on_us", g_on)):
        med, p99 = host_cost(lambda i: g.replay())
        results[key] = {"median": med, "p99": p99}
    print("host cost of a replay: median %.2f us without, %.2f us with rec.step()'s node"
          % (results["host_replay_off_us"]["median"], results["host_replay_on_us"]["median"]))
    variants["step_graph"] = (lambda i: g_off.replay(), lambda i: g_on.replay(), True)
    variants["step_graph_nosync"] = (lambda i: g_off.replay(), lambda i: g_on.replay(), False)
    variants["step_graph_tail"] = (lambda i: g_off.replay(), lambda i: g_tail.replay(), True)
    # the graph without the recorder, rec.step() after the replay, one row in 10
    variants["step_graph_every10"] = (lambda i: g_off.replay(),
                                      lambda i: (g_off.replay(), rec10.step(next(steps))), True)
    variants["step_graph_nosync_every10"] = (
        lambda i: g_off.replay(), lambda i: (g_off.replay(), rec10.step(next(steps))), False)
    for key, (off, on, sync) in variants.items():
        lo, hi = interleaved(off, on, sync_each=sync)
        pct = (hi - lo) / lo * 100
        results[key] = {"off_us": lo, "on_us": hi, "overhead_pct": pct}
        print("%-20s %.2f us off, %.2f us on: %+.2f%%" % (key, lo, hi, pct))


def main():
    if "--python-layer" in sys.argv[1:]:
        return python_layer()
    import torch
    dev = torch.device("cuda", 0)
    torch.cuda.set_device(dev)
    tmp = tempfile.mkdtemp(prefix="dxt-bench-trace-")
    wait_d = torch.zeros(N, dtype=torch.int64, device=dev)
    wait_c = torch.zeros(N, dtype=torch.int64, device=dev)
    incr = torch.ones(N, dtype=torch.int64, device=dev)

    def stand_ins():
        wait_d.add_(incr)
        wait_c.add_(incr)
    recs = []
    for name, every in (("step", 1), ("step-every10", 10)):
        rec = dxtrace.Recorder(os.path.join(tmp, name), 0, N, run_id="bench-" + name,
                               quiet=True, ring_capacity=1 << 16, step_every=every)
        rec.attach("dispatch", wait_d)
        rec.attach("combine", wait_c)
        recs.append(rec)
    rec, rec10 = recs
    results = {"gpu": torch.cuda.get_device_name(dev), "torch": torch.__version__,
               "calls": CALLS}
    host_costs(results, rec, rec10, wait_d, dev)
    gpu_costs(results, rec, stand_ins)
    step_costs(results, rec, rec10, stand_ins)
    torch.cuda.synchronize()
    ok = True
    for r in recs:
        r.flush()
        c = r.counters
        results.setdefault("counters", []).append(
            {"recorded": c.rows_recorded, "written": c.rows_written, "dropped": c.rows_dropped})
        print("recorder: %r" % c)
        ok = ok and c.rows_dropped == 0
        r.close()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "bench_step.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("bench_step: %s" % ("ok" if ok else "FAIL: rows dropped"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
