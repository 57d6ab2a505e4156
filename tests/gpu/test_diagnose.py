#!/usr/bin/env python3
"""test_diagnose.py - dxtrace.diagnose on GPUs: one process per GPU (up to 4), NCCL,
the stats tensors on the GPU, filled each step by GPU adds as DeepEP's kernels would
(tests/test_live_diagnose.py's wait model, rank 2 slow from step 1300 when there are
4 ranks). Checks what the CPU test cannot:
- diagnose_ll_sync() never waits for the job's stream: called behind a 50 ms GPU sleep
  on a window boundary (a snapshot and a trace row), it returns in well under that;
  its host time per step is printed;
- the sync gather over NCCL returns results on rank 0 at each diagnosis (with 4 ranks,
  the slow rank after the onset), and the stats are never zeroed;
- the trace (attach + step, the CUDA path) has every step of every rank (h5py);
- async mode (side-stream reads, gloo rounds) logs rounds on rank 0 and stops cleanly.
Needs build/lib/libdxtrec.so with CUDA and libdxtanalysis.so (DXTANALYSIS_LIB).
Owner: the live-diagnosis engineer.
"""
import importlib.util
import json
import os
import socket
import sys
import tempfile
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))
os.environ.setdefault("DXTREC_LIB", os.path.join(REPO, "build", "lib", "libdxtrec.so"))
spec = importlib.util.spec_from_file_location("cpu_test", os.path.join(REPO, "tests",
                                                                        "test_live_diagnose.py"))
cpu_test = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cpu_test)

STEPS, ONSET = cpu_test.SYNC_STEPS, cpu_test.SYNC_ONSET


def waits_on_gpu(rank, n, slow):
    """Every step's (dispatch, combine) waits of rank, (STEPS, 2, n) int64 on its GPU."""
    cpu_test.N = n
    model = cpu_test.WaitModel(rank)
    rows = [np.stack(model.step_waits(slow and step >= ONSET)) for step in range(1, STEPS + 1)]
    return torch.from_numpy(np.stack(rows)).cuda()


def run_sync(rank, n, group, out):
    from dxtrace import diagnose as ds
    os.environ["DEEPEP_DIAGNOSE_LOG_PATH"] = os.path.join(out, "sync-log")
    diag = ds.Diagnose(group=group, trace_dir=os.path.join(out, "trace"), run_id="gpu-diag",
                       trace_every=1)  # every step: the test checks each row
    stats = diag.get_stats_ll_stats_tensor()
    assert all(t.is_cuda for t in stats)
    waits = waits_on_gpu(rank, n, n >= 4)
    results, host_us, behind_sleep_ms = {}, [], []
    for step in range(1, STEPS + 1):
        stats[0].add_(waits[step - 1, 0])   # DeepEP's kernels, on the current stream
        stats[1].add_(waits[step - 1, 1])
        if step == 600:                     # a window boundary: snapshot + trace row
            torch.cuda._sleep(100_000_000)  # ~50 ms of GPU work queued before the call
            t0 = time.perf_counter()
            diag.diagnose_ll_sync()
            behind_sleep_ms.append(1000 * (time.perf_counter() - t0))
            continue
        t0 = time.perf_counter()
        res = diag.diagnose_ll_sync()
        if res is None:
            host_us.append(1e6 * (time.perf_counter() - t0))
        else:
            results[step] = res
    torch.cuda.synchronize()
    assert torch.equal(torch.stack(stats), waits.sum(0)), "the stats were changed"
    diag.close()
    return {"results": results, "host_us_median": float(np.median(host_us)),
            "host_us_p99": float(np.percentile(host_us, 99)), "behind_sleep_ms": behind_sleep_ms}


def run_async(rank, n, group, out):
    from dxtrace import diagnose as ds
    os.environ["DEEPEP_DIAGNOSE_LOG_PATH"] = os.path.join(out, "async-log")
    os.environ["DEEPEP_DIAGNOSE_WARMING_TIME"] = "0.4"
    diag = ds.Diagnose(group=group, interval=0.2, enable_async=True)
    stats = diag.get_stats_ll_stats_tensor()
    waits = waits_on_gpu(rank, n, False)
    thread = diag.start_async_diagnose()
    end = time.monotonic() + 4.0
    step = 0
    while time.monotonic() < end:
        stats[0].add_(waits[step % STEPS, 0])
        stats[1].add_(waits[step % STEPS, 1])
        step += 1
        time.sleep(0.001)
    diag.stop_async_diagnose()
    thread.join(30)
    assert not thread.is_alive(), "the async thread did not stop"
    diag.close()


def worker(rank, n, port, out):
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method="tcp://127.0.0.1:%d" % port, rank=rank,
                            world_size=n)
    group = dist.new_group(list(range(n)))
    summary = run_sync(rank, n, group, out)
    run_async(rank, n, group, out)
    if rank == 0:
        with open(os.path.join(out, "rank0.json"), "w") as f:
            json.dump(summary, f)
    dist.barrier()
    dist.destroy_process_group()


def check_trace(trace, n):
    import h5py
    names = sorted(os.listdir(trace))
    assert names == ["rank-%05d.h5" % r for r in range(n)], names
    for name in names:
        with h5py.File(os.path.join(trace, name), "r") as f:
            for op in ("dispatch", "combine"):
                steps = f["ops/%s/step" % op][:]
                assert len(steps) == STEPS and steps[0] == 1 and steps[-1] == STEPS, \
                    (name, op, len(steps), steps[:3], steps[-3:])
    print("trace: %d files, %d steps of each op in each" % (n, STEPS))


def main():
    n = min(torch.cuda.device_count(), 4)
    if n < 2:
        print("SKIP test_diagnose: %d GPU(s); NCCL needs 2 or more" % n)
        return 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tempfile.mkdtemp(prefix="dxt-gpu-diag-")
    t0 = time.monotonic()
    mp.spawn(worker, args=(n, port, out), nprocs=n, join=True)
    print("%d ranks on GPUs: %.1f s" % (n, time.monotonic() - t0))
    with open(os.path.join(out, "rank0.json")) as f:
        summary = json.load(f)
    print("diagnose_ll_sync host time per step: median %.1f us, p99 %.1f us"
          % (summary["host_us_median"], summary["host_us_p99"]))
    print("behind 50 ms of GPU work, a snapshot step returned in %.2f ms"
          % summary["behind_sleep_ms"][0])
    assert summary["behind_sleep_ms"][0] < 10.0, "diagnose_ll_sync waited for the stream"
    for step, (dispatch, combine) in sorted(summary["results"].items(), key=lambda x: int(x[0])):
        print("step %s: dispatch cols %s rows %s points %s; findings %s" % (
            step, dispatch["abnormal_cols"], dispatch["abnormal_rows"],
            dispatch["abnormal_points"],
            [(f["kind"], f.get("rank"), f["first_step"]) for f in dispatch["findings"]]))
    assert sorted(int(s) for s in summary["results"]) == [580, 1160, 1740, 2320]
    if n >= 4:
        assert [c[0] for c in summary["results"]["2320"][0]["abnormal_cols"]] == [cpu_test.SLOW]
    check_trace(os.path.join(out, "trace"), n)
    cpu_test.N = n
    rounds = cpu_test.log_rounds(os.path.join(out, "async-log", "diagnose_rank0.log"))
    print("async: %d rounds logged on rank 0" % (len(rounds) // 2))
    assert len(rounds) >= 2 * 10
    print("test_diagnose: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
