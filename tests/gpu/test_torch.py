#!/usr/bin/env python3
"""test_torch.py - the dxtrace binding's device path with torch CUDA tensors
(GPU machine only; tests/gpu/run.sh runs it with the python3 that has torch).

Checks: rows recorded from CUDA tensors equal the counters as they stood
after the work queued before each record (the GPU is kept busy with
torch.cuda._sleep so the host runs ahead); tokens; CPU tensors and numpy on the
same recorder; the GPU's name, UUID and clock in the file and the per-row
measured clock rate; a record inside a CUDA graph capture is refused without
breaking the capture; the host cost of record() from Python.

Owner: the GPU side of dxtrace. Prints one line per check, exits non-zero on failure.
"""
import os
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
STEPS = 300
failures = []


def check(name, ok, detail=""):
    print("%-4s %s %s" % ("ok" if ok else "FAIL", name, detail))
    if not ok:
        failures.append(name)


def record_rows(rec, wait, tokens, incr):
    """STEPS steps: GPU busy, then the counters grow, then a device record."""
    for step in range(STEPS):
        torch.cuda._sleep(20000)  # ~10 us of GPU time: the host runs ahead
        wait += incr * (step + 1)
        tokens += 1
        res = rec.record("dispatch", step, wait, tokens)
        if res != dxtrace.Result.SUCCESS:
            return res
    return dxtrace.Result.SUCCESS


def host_cost_us(rec, wait, tokens, n=2000):
    costs = []
    for i in range(n):
        t0 = time.perf_counter()
        rec.record("combine", 10**6 + i, wait, tokens)
        costs.append((time.perf_counter() - t0) * 1e6)
    return float(np.median(costs)), float(np.percentile(costs, 99))


def graph_capture_refused(rec, wait):
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        with torch.cuda.graph(g, stream=s):
            wait.add_(1)
            res = rec.record("combine", 2 * 10**6, wait)
    torch.cuda.current_stream().wait_stream(s)
    g.replay()
    torch.cuda.synchronize()
    return res


def main():
    tmp = tempfile.mkdtemp(prefix="dxt-torch-")
    dev = torch.device("cuda", 0)
    torch.cuda.set_device(dev)
    wait = torch.zeros(N, dtype=torch.int64, device=dev)
    tokens = torch.zeros(N, dtype=torch.int64, device=dev)
    incr = torch.arange(1, N + 1, dtype=torch.int64, device=dev)
    rec = dxtrace.Recorder(tmp, 0, N, run_id="torch-test", record_tokens=True)
    res = record_rows(rec, wait, tokens, incr)
    check("record CUDA tensors", res == dxtrace.Result.SUCCESS, res.name)
    torch.cuda.synchronize()
    med, p99 = host_cost_us(rec, wait, tokens)
    check("record() host cost from Python", True, "median %.2f us, p99 %.2f us" % (med, p99))
    torch.cuda.synchronize()
    time.sleep(0.1)  # device rows still in flight would come after this host row: out of order
    cpu_res = rec.record("combine", 3 * 10**6, wait.cpu(), tokens.cpu().numpy())
    check("record CPU tensor + numpy", cpu_res == dxtrace.Result.SUCCESS, cpu_res.name)
    gres = graph_capture_refused(rec, wait)
    check("record in a graph capture refused", gres == dxtrace.Result.ERR_CUDA, gres.name)
    time.sleep(0.1)  # let the writer collect the last copies
    c = rec.counters
    check("counters", c.rows_dropped == 1 and c.rows_recorded == STEPS + 2001,
          repr(c))  # the refused capture is the one drop
    check("close", rec.close() == dxtrace.Result.SUCCESS)
    verify_file(os.path.join(tmp, "rank-00000.h5"))
    print("test_torch: %d failures" % len(failures))
    return 1 if failures else 0


def verify_file(path):
    with h5py.File(path, "r") as f:
        a = f.attrs
        name = a["gpu_name"].decode() if isinstance(a["gpu_name"], bytes) else str(a["gpu_name"])
        uuid = a["gpu_uuid"].decode() if isinstance(a["gpu_uuid"], bytes) else str(a["gpu_uuid"])
        check("gpu attributes", "NVIDIA" in name and uuid.startswith("GPU-"),
              "%s %s clock_hz %.0f" % (name, uuid, float(a["clock_hz"])))
        g = f["ops"]["dispatch"]
        w, t, steps = g["wait"][()], g["tokens"][()], g["step"][()]
        k = np.arange(1, STEPS + 1)
        expect = np.outer(np.cumsum(k), np.arange(1, N + 1))
        check("device rows = counters after the queued work",
              w.shape == (STEPS, N) and (w == expect).all() and (steps == np.arange(STEPS)).all(),
              "rows %d" % w.shape[0])
        check("device tokens", (t == np.outer(k, np.ones(N, dtype=np.int64))).all())
        hz = g["clock_hz"][()] if "clock_hz" in g else np.array([])
        good = hz[np.isfinite(hz)]
        check("per-row measured clock_hz", good.size > 0 and (good > 2e8).all() and
              (good < 4e9).all(), "finite %d/%d, median %.4g Hz" %
              (good.size, hz.size, float(np.median(good)) if good.size else float("nan")))


if __name__ == "__main__":
    sys.exit(main())
